//! One emulator, the real clients, a store and a synchronizer, for either CRM; and the
//! independent views of what each service holds (the emulator's control API and journal).

use std::sync::Arc;

use cosell::auth::{
    CachedTokenProvider, ClientCredentials, CustomCredentials, EntraAuthority, TokenProvider,
};
use cosell::http::RecordingSleeper;
use cosell::mapping::{DeclarativeMapping, dynamics365, salesforce};
use cosell::store::{MemoryStore, SyncStore, TenantId};
use cosell::sync::{DataverseCrm, SalesforceCrm, Synchronizer, SynchronizerBuilder};
use cosell_emulator::{EmulatedApi, Emulator, JournalEntry};
use secrecy::SecretString;
use serde_json::{Value, json};

/// Which CRM a scenario runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dataverse,
    Salesforce,
}

pub const BOTH: [Kind; 2] = [Kind::Dataverse, Kind::Salesforce];

/// Both CRMs, each with Partner Center in its normal and in its strict mode (which refuses what
/// the reference marks UNCONFIRMED: `$filter` on `externalReferenceId`, a PATCH of it, If-Match
/// on PATCH).
pub const MODES: [(Kind, bool); 4] = [
    (Kind::Dataverse, false),
    (Kind::Dataverse, true),
    (Kind::Salesforce, false),
    (Kind::Salesforce, true),
];

pub struct Harness {
    pub kind: Kind,
    pub emulator: Emulator,
    pub store: Arc<dyn SyncStore>,
    /// What every client and synchronizer of the harness waits on: nothing real, each wait
    /// recorded (a `Retry-After` honoured shows here).
    pub sleeper: Arc<RecordingSleeper>,
}

fn tokens(
    emulator: &Emulator,
    scope: &str,
    sleeper: &Arc<RecordingSleeper>,
) -> Arc<dyn TokenProvider> {
    // Token requests too wait on no real time.
    let authority = EntraAuthority::new(&emulator.urls().entra_authority, "contoso")
        .unwrap()
        .sleeper(sleeper.clone());
    let credentials =
        ClientCredentials::new(authority, "app", SecretString::from("secret"), scope).unwrap();
    Arc::new(CachedTokenProvider::new(credentials))
}

impl Harness {
    pub async fn new(kind: Kind) -> Harness {
        Harness::with_store(kind, Arc::new(MemoryStore::new())).await
    }

    /// A harness with Partner Center in strict mode or not.
    pub async fn mode(kind: Kind, strict: bool) -> Harness {
        let harness = Harness::new(kind).await;
        harness.emulator.partner_center().set_strict(strict);
        harness
    }

    /// An emulator whose services stamp every write with `clock`'s time.
    pub async fn with_clock(kind: Kind, clock: Arc<cosell_emulator::ManualClock>) -> Harness {
        let emulator = Emulator::builder().clock(clock).start().await.unwrap();
        Harness::on(kind, emulator, Arc::new(MemoryStore::new()))
    }

    pub async fn with_store(kind: Kind, store: Arc<dyn SyncStore>) -> Harness {
        let emulator = Emulator::start().await.unwrap();
        Harness::on(kind, emulator, store)
    }

    /// A harness on an emulator already started.
    pub fn on(kind: Kind, emulator: Emulator, store: Arc<dyn SyncStore>) -> Harness {
        Harness {
            kind,
            emulator,
            store,
            sleeper: Arc::new(RecordingSleeper::new()),
        }
    }

    pub fn mapping(&self) -> DeclarativeMapping {
        match self.kind {
            Kind::Dataverse => dynamics365().build().unwrap(),
            Kind::Salesforce => salesforce().build().unwrap(),
        }
    }

    pub fn partner_center(&self) -> cosell::partner_center::PartnerCenter {
        cosell::partner_center::PartnerCenter::builder(CustomCredentials::user(tokens(
            &self.emulator,
            "https://api.partner.microsoft.com/.default",
            &self.sleeper,
        )))
        .base_url(self.emulator.urls().partner_center_referrals.clone())
        .sleeper(self.sleeper.clone())
        .build()
        .unwrap()
    }

    pub fn dataverse(&self, tag: Option<&str>) -> cosell::dataverse::Dataverse {
        let mut builder =
            cosell::dataverse::Dataverse::builder(CustomCredentials::app_only(tokens(
                &self.emulator,
                &format!("{}/.default", cosell_emulator::DATAVERSE_ORG_URL),
                &self.sleeper,
            )))
            .base_url(&self.emulator.urls().dataverse)
            .sleeper(self.sleeper.clone());
        if let Some(tag) = tag {
            builder = builder.origin_tag(tag);
        }
        builder.build().unwrap()
    }

    pub fn salesforce(&self, origin: Option<&str>) -> cosell::salesforce::Salesforce {
        let login = cosell::salesforce::SalesforceLogin::new(&self.emulator.urls().salesforce)
            .unwrap()
            .sleeper(self.sleeper.clone());
        let flow = cosell::salesforce::ClientCredentialsFlow::new(
            login,
            "app",
            SecretString::from("secret"),
        )
        .unwrap();
        let mut builder =
            cosell::salesforce::Salesforce::builder(Arc::new(CachedTokenProvider::new(flow)))
                .sleeper(self.sleeper.clone());
        if let Some(origin) = origin {
            builder = builder.origin_client_id(origin);
        }
        builder.build().unwrap()
    }

    pub fn builder(&self) -> SynchronizerBuilder {
        self.builder_with(self.mapping())
    }

    pub fn builder_with(&self, mapping: DeclarativeMapping) -> SynchronizerBuilder {
        self.builder_on(mapping, self.store.clone())
    }

    pub fn builder_on(
        &self,
        mapping: DeclarativeMapping,
        store: Arc<dyn SyncStore>,
    ) -> SynchronizerBuilder {
        let tenant = TenantId::new("contoso").unwrap();
        let pc = self.partner_center();
        let builder = match self.kind {
            Kind::Dataverse => Synchronizer::builder(
                pc,
                DataverseCrm::new(self.dataverse(Some("cosell-sync"))),
                mapping,
                store,
                tenant,
            ),
            Kind::Salesforce => Synchronizer::builder(
                pc,
                SalesforceCrm::new(self.salesforce(Some("cosell-sync"))),
                mapping,
                store,
                tenant,
            ),
        };
        builder.worker("test-worker").sleeper(self.sleeper.clone())
    }

    pub async fn sync(&self) -> Synchronizer {
        self.builder().build().await.unwrap()
    }

    // --- Partner Center, as Microsoft or a partner user sees it ---------------------------

    pub fn share(&self, referral: Value) -> String {
        let shared = self
            .emulator
            .partner_center()
            .share_referral(referral)
            .unwrap();
        shared["id"].as_str().unwrap().to_owned()
    }

    pub fn referral(&self, id: &str) -> Value {
        self.emulator.partner_center().referral(id).unwrap()
    }

    pub fn referrals(&self) -> Vec<Value> {
        self.emulator.partner_center().referrals()
    }

    pub fn edit_referral(&self, id: &str, patch: Value) {
        self.emulator
            .partner_center()
            .update_referral(id, patch)
            .unwrap();
    }

    // --- the CRM, as a seller sees it -----------------------------------------------------

    pub fn opportunities(&self) -> Vec<Value> {
        match self.kind {
            Kind::Dataverse => self.emulator.dataverse().records("opportunities"),
            Kind::Salesforce => self.emulator.salesforce().records("Opportunity"),
        }
    }

    pub fn opportunity(&self, id: &str) -> Option<Value> {
        match self.kind {
            Kind::Dataverse => self
                .emulator
                .dataverse()
                .record("opportunities", id.parse().unwrap()),
            Kind::Salesforce => self.emulator.salesforce().record("Opportunity", id),
        }
    }

    pub fn id_of(&self, row: &Value) -> String {
        let key = match self.kind {
            Kind::Dataverse => "opportunityid",
            Kind::Salesforce => "Id",
        };
        row[key].as_str().unwrap().to_owned()
    }

    /// The CRM's column for a co-sell field.
    pub fn column(&self, field: &str) -> &'static str {
        match (self.kind, field) {
            (Kind::Dataverse, "referral_id") => "cosell_referralid",
            (Kind::Dataverse, "referral_link") => "cosell_referrallink",
            (Kind::Dataverse, "sync") => "cosell_syncwithpartnercenter",
            (Kind::Dataverse, "name") => "name",
            (Kind::Dataverse, "notes") => "description",
            (Kind::Dataverse, "audit") => "cosell_audit",
            (Kind::Salesforce, "referral_id") => "Referral_Id__c",
            (Kind::Salesforce, "referral_link") => "Referral_Link__c",
            (Kind::Salesforce, "sync") => "Sync_With_Partner_Center__c",
            (Kind::Salesforce, "name") => "Name",
            (Kind::Salesforce, "notes") => "Description",
            (Kind::Salesforce, "audit") => "Co_Sell_Audit__c",
            _ => panic!("no column for {field}"),
        }
    }

    /// Edits an opportunity as a seller would in the CRM's own UI.
    pub fn edit_opportunity(&self, id: &str, changes: Value) {
        match self.kind {
            Kind::Dataverse => self
                .emulator
                .dataverse()
                .edit("opportunities", id.parse().unwrap(), changes)
                .unwrap(),
            Kind::Salesforce => self
                .emulator
                .salesforce()
                .edit_opportunity(id, changes)
                .unwrap(),
        }
    }

    pub fn delete_opportunity(&self, id: &str) {
        match self.kind {
            Kind::Dataverse => {
                assert!(
                    self.emulator
                        .dataverse()
                        .delete("opportunities", id.parse().unwrap())
                );
            }
            Kind::Salesforce => self
                .emulator
                .salesforce()
                .delete("Opportunity", id)
                .unwrap(),
        }
    }

    /// A seller's new opportunity with the sync flag set (customer account and contact
    /// included), as the CRM's UI would create it; returns its id.
    pub fn seller_opportunity(&self, name: &str) -> String {
        match self.kind {
            Kind::Dataverse => {
                let dv = self.emulator.dataverse();
                let account = dv
                    .seed(
                        "accounts",
                        json!({"name": format!("{name} Ltd"), "address1_country": "GB", "address1_city": "Leeds"}),
                    )
                    .unwrap();
                let contact = dv
                    .seed(
                        "contacts",
                        json!({"firstname": "Ana", "lastname": "Buyer", "emailaddress1": format!("ana@{}.example", name.to_lowercase().replace(' ', "-"))}),
                    )
                    .unwrap();
                let gbp = dv.currency_id("EUR").unwrap();
                dv.seed(
                    "opportunities",
                    json!({
                        "name": name,
                        "description": "Move 40 VMs",
                        "estimatedvalue": 125000,
                        "estimatedclosedate": "2027-03-31",
                        "cosell_syncwithpartnercenter": true,
                        "customerid_account@odata.bind": format!("/accounts({account})"),
                        "parentcontactid@odata.bind": format!("/contacts({contact})"),
                        "transactioncurrencyid@odata.bind": format!("/transactioncurrencies({gbp})"),
                    }),
                )
                .unwrap()
                .to_string()
            }
            Kind::Salesforce => {
                let sf = self.emulator.salesforce();
                let account = sf
                    .seed(
                        "Account",
                        json!({"Name": format!("{name} Ltd"), "BillingCountry": "GB", "BillingCity": "Leeds"}),
                    )
                    .unwrap();
                let contact = sf
                    .seed(
                        "Contact",
                        json!({"FirstName": "Ana", "LastName": "Buyer", "Email": format!("ana@{}.example", name.to_lowercase().replace(' ', "-"))}),
                    )
                    .unwrap();
                sf.seed(
                    "Opportunity",
                    json!({
                        "Name": name,
                        "Description": "Move 40 VMs",
                        "Amount": 125000,
                        "CloseDate": "2027-03-31",
                        "StageName": "Qualification",
                        "CurrencyIsoCode": "EUR",
                        "Sync_With_Partner_Center__c": true,
                        "AccountId": account,
                        "ContactId": contact,
                    }),
                )
                .unwrap()
            }
        }
    }

    // --- the journal ------------------------------------------------------------------------

    pub fn crm_api(&self) -> EmulatedApi {
        match self.kind {
            Kind::Dataverse => EmulatedApi::Dataverse,
            Kind::Salesforce => EmulatedApi::Salesforce,
        }
    }

    /// Requests to Partner Center and the CRM (token requests left out).
    pub fn requests(&self) -> Vec<JournalEntry> {
        self.emulator
            .journal()
            .into_iter()
            .filter(|entry| {
                entry.api == EmulatedApi::PartnerCenterReferrals || entry.api == self.crm_api()
            })
            .collect()
    }

    /// Writes to Partner Center and the CRM (anything but GET, and not a SOQL or metadata read).
    pub fn writes(&self) -> Vec<JournalEntry> {
        self.requests()
            .into_iter()
            .filter(|entry| entry.method != http::Method::GET)
            .collect()
    }
}

/// A referral Microsoft shares: a co-sell opportunity with a customer and a contact.
pub fn shared_referral(name: &str) -> Value {
    json!({
        "name": name,
        "type": "Shared",
        "qualification": "SalesQualified",
        "customerProfile": {
            "name": format!("{name} Ltd"),
            "address": {"city": "Leeds", "postalCode": "LS1 4AP", "country": "GB"},
            "team": [{"firstName": "Ana", "lastName": "Buyer", "email": format!("ana@{}.example", name.to_lowercase().replace(' ', "-"))}]
        },
        "consent": {"consentToShareReferralWithMicrosoftSellers": true},
        "details": {"dealValue": 125000, "currency": "EUR", "notes": "Move 40 VMs before the lease ends.",
                    "closingDateTime": "2027-03-31T00:00:00Z"}
    })
}

/// A verified Partner Center webhook event about a referral.
pub fn referral_event(name: &str, referral_id: &str, at: &str) -> cosell::webhook::WebhookEvent {
    let body = json!({
        "EventName": name,
        "ResourceUri": format!("https://api.partnercenter.microsoft.com/engagements/v1/referrals/{referral_id}"),
        "ResourceName": "referral",
        "AuditUri": null,
        "ResourceChangeUtcDate": at,
    });
    cosell::webhook::WebhookEvent::from_json(body.to_string().as_bytes()).unwrap()
}
