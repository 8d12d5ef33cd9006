//! The emulator on its own: Partner Center, Dataverse and Salesforce on fixed loopback ports,
//! with sample data, for any client (curl, another language, your own service) to talk to.
//!
//! ```text
//! cargo run --example emulator --features testkit
//! COSELL_EMULATOR_PORT=9100 cargo run --example emulator --features testkit   # ports 9100-9104
//! cargo run --example emulator --features testkit -- --check                   # start, print, exit
//! ```
//!
//! Every token endpoint accepts any client id and non-empty secret, and device codes are
//! approved on the first poll. Tokens are checked per service (their audience), and expire
//! after an hour.

use std::process::ExitCode;

use cosell::partner_center::Referral;
use cosell::testkit::{DATAVERSE_ORG_URL, Emulator, EmulatorPorts};

/// The first of the five ports when `COSELL_EMULATOR_PORT` is not set.
const DEFAULT_FIRST_PORT: u16 = 7801;

#[tokio::main]
async fn main() -> ExitCode {
    let first = match std::env::var("COSELL_EMULATOR_PORT") {
        Ok(text) => match text.parse::<u16>() {
            Ok(port) if port <= u16::MAX - 4 => port,
            _ => {
                eprintln!("COSELL_EMULATOR_PORT must be a port number below 65531, not `{text}`");
                return ExitCode::from(2);
            }
        },
        Err(_) => DEFAULT_FIRST_PORT,
    };
    let emulator = match start(ports_from(first)).await {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("the emulator did not start: {e}");
            eprintln!("(another program may hold the ports: set COSELL_EMULATOR_PORT)");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", describe(&emulator));
    if std::env::args().any(|a| a == "--check") {
        return ExitCode::SUCCESS;
    }
    println!("Serving until Ctrl-C.");
    match tokio::signal::ctrl_c().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot wait for Ctrl-C: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Five consecutive ports from `first` (0 for free ones).
pub fn ports_from(first: u16) -> EmulatorPorts {
    let at = |offset: u16| if first == 0 { 0 } else { first + offset };
    EmulatorPorts {
        entra: at(0),
        partner_center_referrals: at(1),
        partner_center_webhooks: at(2),
        dataverse: at(3),
        salesforce: at(4),
    }
}

/// Starts the emulator and seeds the sample data.
pub async fn start(ports: EmulatorPorts) -> cosell::Result<Emulator> {
    let emulator = Emulator::start_on(ports).await?;
    for (name, customer, status, substatus) in [
        (
            "Fabrikam: Azure migration",
            "Fabrikam Ltd",
            "New",
            "Pending",
        ),
        (
            "Contoso: data platform",
            "Contoso GmbH",
            "Active",
            "Accepted",
        ),
        ("Northwind: Copilot rollout", "Northwind", "Closed", "Won"),
    ] {
        let referral = Referral::from_json(
            serde_json::json!({
                "name": name,
                "type": "Shared",
                "direction": "Incoming",
                "status": status,
                "substatus": substatus,
                "qualification": "SalesQualified",
                "customerProfile": {"name": customer, "address": {"country": "GB"}},
                "details": {"dealValue": 50000, "currency": "USD"}
            })
            .to_string()
            .as_bytes(),
        )?;
        emulator.partner_center().seed_referral(&referral)?;
    }
    emulator.dataverse().seed_sample()?;
    let salesforce = emulator.salesforce();
    let account = salesforce.seed(
        "Account",
        serde_json::json!({"Name": "Fabrikam Ltd", "BillingCountry": "GB"}),
    )?;
    salesforce.seed(
        "Opportunity",
        serde_json::json!({
            "Name": "Fabrikam expansion", "StageName": "Prospecting", "CloseDate": "2027-01-31",
            "Amount": 80000, "AccountId": account, "Sync_With_Partner_Center__c": true
        }),
    )?;
    Ok(emulator)
}

/// The base URLs and ready-to-use credentials, as text.
pub fn describe(emulator: &Emulator) -> String {
    let urls = emulator.urls();
    let entra = urls.entra_authority.trim_end_matches('/');
    let salesforce = urls.salesforce.trim_end_matches('/');
    format!(
        "cosell emulator
  Entra ID authority        {entra}/  (tenant: any, e.g. contoso)
  Partner Center referrals  {referrals}
  Partner Center webhooks   {webhooks}
  Dataverse                 {dataverse}
  Salesforce (login + API)  {salesforce}/

Credentials: any client id with any non-empty secret.
  Referrals token:  curl -s {entra}/contoso/oauth2/v2.0/token -d grant_type=client_credentials \\
                      -d client_id=app -d client_secret=secret -d scope=https://api.partner.microsoft.com/.default
  Webhooks token:   the same with scope=https://api.partnercenter.microsoft.com/.default
  Dataverse token:  the same with scope={DATAVERSE_ORG_URL}/.default
  Salesforce token: curl -s {salesforce}/services/oauth2/token -d grant_type=client_credentials \\
                      -d client_id=app -d client_secret=secret
Then, for example:
  curl -s -H \"Authorization: Bearer $TOKEN\" '{referrals}referrals?$top=10'

Sample data: 3 referrals; Fabrikam and Contoso accounts, contacts and opportunities in
Dataverse; a Fabrikam account and opportunity in Salesforce.",
        referrals = urls.partner_center_referrals,
        webhooks = urls.partner_center_webhooks,
        dataverse = urls.dataverse,
    )
}
