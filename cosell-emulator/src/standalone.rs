//! The emulator on its own, as the `cosell-emulator` binary runs it: fixed loopback ports,
//! sample data, and a description of the URLs and credentials for any client.

use crate::{DATAVERSE_ORG_URL, Emulator, EmulatorBuilder, EmulatorPorts, Result};

/// Five consecutive ports from `first` (0 for free ones), in the order of [`EmulatorPorts`]'s
/// fields.
///
/// ```
/// let ports = cosell_emulator::standalone::ports_from(7801);
/// assert_eq!((ports.entra, ports.salesforce), (7801, 7805));
/// ```
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

/// Starts the emulator on `ports` and seeds the sample data; see [`start_with`].
///
/// # Errors
/// [`Error::Startup`](crate::Error::Startup) when a port cannot be bound.
pub async fn start(ports: EmulatorPorts) -> Result<Emulator> {
    start_with(Emulator::builder().ports(ports)).await
}

/// Starts the emulator as `builder` says and seeds the sample data: three referrals (one new,
/// one active, one won), the Dataverse sample rows, and a Salesforce account with an
/// opportunity flagged for sync.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use cosell_emulator::{Emulator, standalone};
/// let emulator = standalone::start_with(Emulator::builder().strict(true)).await.unwrap();
/// assert_eq!(emulator.partner_center().referrals().len(), 3);
/// # });
/// ```
///
/// # Errors
/// [`Error::Startup`](crate::Error::Startup) when a port cannot be bound or the CA file cannot
/// be written.
pub async fn start_with(builder: EmulatorBuilder) -> Result<Emulator> {
    let emulator = builder.start().await?;
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
        emulator.partner_center().seed_referral(serde_json::json!({
                "name": name,
                "type": "Shared",
                "direction": "Incoming",
                "status": status,
                "substatus": substatus,
                "qualification": "SalesQualified",
                "customerProfile": {"name": customer, "address": {"country": "GB"}},
            "details": {"dealValue": 50000, "currency": "USD"}
        }))?;
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

Every port speaks HTTPS too (the same URLs with https://), with a certificate for 127.0.0.1
and localhost signed by the emulator's own CA (see the CA file below).
Dataverse tokens are accepted for {DATAVERSE_ORG_URL} and for the URL served (https://127.0.0.1:<port>).

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
