//! What the benchmarks share: clients of the emulator's services, a synchronizer over them, and
//! the referral Microsoft shares.

use std::sync::Arc;

use cosell::auth::{
    CachedTokenProvider, ClientCredentials, CustomCredentials, EntraAuthority, TokenProvider,
};
use cosell::dataverse::Dataverse;
use cosell::mapping::{dynamics365, salesforce};
use cosell::partner_center::PartnerCenter;
use cosell::salesforce::Salesforce;
use cosell::store::{SyncStore, TenantId};
use cosell::sync::{DataverseCrm, SalesforceCrm, Synchronizer, SynchronizerBuilder};
use cosell_emulator::{EmulatedApi, Emulator, Fault, FaultRule};
use secrecy::SecretString;
use serde_json::{Value, json};

pub type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

fn tokens(emulator: &Emulator, scope: &str) -> Result<Arc<dyn TokenProvider>> {
    let authority = EntraAuthority::new(&emulator.urls().entra_authority, "contoso")?;
    let credentials =
        ClientCredentials::new(authority, "bench", SecretString::from("secret"), scope)?;
    Ok(Arc::new(CachedTokenProvider::new(credentials)))
}

/// Clients of Partner Center and of one CRM (`dataverse` or `salesforce`).
pub struct Clients {
    pub partner_center: PartnerCenter,
    pub dataverse: Option<Dataverse>,
    pub salesforce: Option<Salesforce>,
}

impl Clients {
    pub fn new(emulator: &Emulator, crm: &str) -> Result<Clients> {
        let urls = emulator.urls();
        let partner_center = PartnerCenter::builder(CustomCredentials::user(tokens(
            emulator,
            "https://api.partner.microsoft.com/.default",
        )?))
        .base_url(urls.partner_center_referrals.clone())
        .build()?;
        let (dataverse, salesforce) = if crm == "dataverse" {
            let client = Dataverse::builder(CustomCredentials::app_only(tokens(
                emulator,
                &format!("{}/.default", cosell_emulator::DATAVERSE_ORG_URL),
            )?))
            .base_url(&urls.dataverse)
            .origin_tag("cosell-bench")
            .build()?;
            (Some(client), None)
        } else {
            let login = cosell::salesforce::SalesforceLogin::new(&urls.salesforce)?;
            let flow = cosell::salesforce::ClientCredentialsFlow::new(
                login,
                "bench",
                SecretString::from("secret"),
            )?;
            let client = Salesforce::builder(Arc::new(CachedTokenProvider::new(flow)))
                .origin_client_id("cosell-bench")
                .build()?;
            (None, Some(client))
        };
        Ok(Clients {
            partner_center,
            dataverse,
            salesforce,
        })
    }

    /// A synchronizer of tenant `contoso` over these clients and the CRM's default mapping.
    pub fn synchronizer(&self, store: Arc<dyn SyncStore>) -> Result<SynchronizerBuilder> {
        let tenant = TenantId::new("contoso")?;
        let pc = self.partner_center.clone();
        Ok(match (&self.dataverse, &self.salesforce) {
            (Some(client), _) => Synchronizer::builder(
                pc,
                DataverseCrm::new(client.clone()),
                dynamics365().build()?,
                store,
                tenant,
            ),
            (None, Some(client)) => Synchronizer::builder(
                pc,
                SalesforceCrm::new(client.clone()),
                salesforce().build()?,
                store,
                tenant,
            ),
            (None, None) => return Err("no CRM client".into()),
        })
    }
}

/// The `n`th referral Microsoft shares.
pub fn referral(n: usize) -> Value {
    json!({
        "name": format!("Bench deal {n}"),
        "type": "Shared",
        "qualification": "SalesQualified",
        "customerProfile": {
            "name": format!("Bench customer {n}"),
            "address": {"city": "Leeds", "postalCode": "LS1 4AP", "country": "GB"},
            "team": [{"firstName": "Ana", "lastName": "Buyer", "email": format!("ana{n}@bench.example")}]
        },
        "details": {"dealValue": 1000 + n, "currency": "EUR", "notes": "Benchmark referral.",
                    "closingDateTime": "2027-06-30T00:00:00Z"}
    })
}

/// Every request to Partner Center and to the CRM (`dataverse` or `salesforce`) answered
/// `latency` late.
pub fn slow_down(emulator: &Emulator, crm: &str, latency: std::time::Duration) {
    let api = if crm == "dataverse" {
        EmulatedApi::Dataverse
    } else {
        EmulatedApi::Salesforce
    };
    for api in [EmulatedApi::PartnerCenterReferrals, api] {
        emulator
            .faults()
            .add(FaultRule::new(api, Fault::Latency(latency)));
    }
}
