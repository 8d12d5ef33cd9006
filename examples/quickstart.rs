//! A day of co-sell against the built-in emulator: no credentials, no network, a few seconds.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! It starts the emulated Entra ID, Partner Center, Dataverse and Salesforce with two Partner
//! Center tenants — `contoso` synced with Dynamics 365 (Dataverse), `fabrikam` with Salesforce
//! (a referral carries one CRM link) — a [`Synchronizer`](cosell::sync::Synchronizer) per tenant
//! with its CRM's default mapping on one SQLite store in a temporary directory, and a webhook
//! route that verifies each callback's signature and puts the event in the tenant's inbox.
//! Then the day, each step printing what was synced which way, the outcomes, the store's
//! audit entries and the requests each service answered:
//!
//! 1. Microsoft shares referrals; the webhooks go through the inbox into each CRM;
//! 2. sellers raise a deal value and accept in the CRM; the CRM poll carries it to Partner Center;
//! 3. a seller flags an existing Dataverse opportunity "Sync with Partner Center": a referral;
//! 4. a webhook is lost (the emulator drops it); a delta sweep recovers its referral;
//! 5. deals are won, in Salesforce and in Partner Center, and synced;
//! 6. each tenant's status from the store: pairs, dead letters, inbox, unmapped values, sweep.
//!
//! The sync's own writes to Partner Center come back as webhooks too, and sync as `unchanged`.
//! `tour` starts an emulator and plays the day; `day` plays it on a given emulator and answers
//! the ids of what it made (its test looks them up in the emulator).
//!
//! Point the clients at the real services with real credentials (`docs/environment.md`) and the
//! same calls do the same job; `examples/sync_service` runs them on their intervals.

use std::collections::HashMap;
use std::fmt::Display;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use cosell::auth::{
    ClientCredentials, DelegatedScope, DeviceCodeFlow, EntraAuthority, RefreshTokenProvider,
};
use cosell::dataverse::Dataverse;
use cosell::mapping::{dynamics365, salesforce};
use cosell::partner_center::PartnerCenter;
use cosell::partner_center::referrals::TOKEN_RESOURCE;
use cosell::partner_center::webhooks::{Overwrite, WebhooksClient};
use cosell::salesforce::{ClientCredentialsFlow, Salesforce, SalesforceLogin};
use cosell::store::{SqliteStore, SyncStore, TenantId};
use cosell::sync::{
    DataverseCrm, OutcomeKind, SalesforceCrm, SweepMode, SweepReport, SyncOutcome, SyncSide,
    Synchronizer,
};
use cosell::webhook::{EventName, TrustPolicy, WebhookVerifier};
use cosell_emulator::{DATAVERSE_ORG_URL, EmulatedApi, Emulator, Fault, FaultRule, Trigger};
use serde_json::{Value, json};

/// What the tour fails with: an SDK, store or emulator error, or the tour's own complaint.
type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

const APP: &str = "quickstart-app";
const SECRET: &str = "quickstart-secret";
const STEPS: [&str; 6] = [
    "Microsoft shares a referral in each tenant; the webhooks go through the inbox",
    "Sellers raise the deal values and accept; the CRM poll carries it to Partner Center",
    "A seller flags an existing Dataverse opportunity \"Sync with Partner Center\"",
    "A webhook is lost; the delta sweep recovers the referral",
    "Deals are won: in Salesforce by a seller, in Partner Center by the partner",
    "Status of each tenant, from the store",
];
const APIS: [EmulatedApi; 5] = [
    EmulatedApi::Entra,
    EmulatedApi::PartnerCenterReferrals,
    EmulatedApi::PartnerCenterWebhooks,
    EmulatedApi::Dataverse,
    EmulatedApi::Salesforce,
];
/// The columns printed of an opportunity.
const DATAVERSE_SHOWN: &str = "name estimatedvalue statecode statuscode cosell_referralid";
const SALESFORCE_SHOWN: &str = "Name Amount StageName IsWon Referral_Id__c";
/// The tenants, by index.
const CONTOSO: usize = 0;
const FABRIKAM: usize = 1;

#[tokio::main]
async fn main() -> ExitCode {
    match tour(&mut std::io::stdout()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("quickstart failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the emulator and plays the day on it, printing each step to `out`.
pub async fn tour(out: &mut (impl Write + Send)) -> Result<()> {
    let emulator = Emulator::start().await?;
    day(&emulator, out).await.map(|_| ())
}

/// The records the day made, for a caller to look up in the emulator.
#[derive(Debug, Clone)]
pub struct Day {
    /// Step 1: the referral shared in `contoso`, its Dataverse opportunity (won in step 5).
    pub contoso_referral: String,
    pub contoso_opportunity: String,
    /// Step 1: the referral shared in `fabrikam`, its Salesforce opportunity (won in step 5).
    pub fabrikam_referral: String,
    pub fabrikam_opportunity: String,
    /// Step 3: the Dataverse opportunity a seller flagged, and the referral created for it.
    pub flagged_opportunity: String,
    pub flagged_referral: String,
    /// Step 4: the referral whose webhook was lost, and the opportunity the sweep created.
    pub lost_referral: String,
    pub recovered_opportunity: String,
}

/// Plays the day on a running emulator, printing each step to `out`.
pub async fn day(emulator: &Emulator, out: &mut (impl Write + Send)) -> Result<Day> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn SyncStore> = Arc::new(SqliteStore::open(dir.path().join("sync.sqlite"))?);
    // Both sign in at once: each device-code flow waits the poll interval Entra ID asks for.
    let (contoso, fabrikam) = tokio::try_join!(
        Tenant::start(emulator, "contoso", Crm::Dataverse, store.clone()),
        Tenant::start(emulator, "fabrikam", Crm::Salesforce, store.clone()),
    )?;
    let tenants = vec![contoso, fabrikam];
    let mut t = Tour {
        emulator,
        out,
        tenants,
        counts: [0; 5],
    };
    let path = dir.path().display();
    t.say(format_args!("== 0. Emulator started; store in {path}"));
    let route = start_receiver(emulator, &t.tenants).await?;
    for i in [CONTOSO, FABRIKAM] {
        let (name, crm) = (t.tenants[i].name, t.tenants[i].crm);
        let url = format!("{route}/{name}");
        let events = &EventName::REFERRAL_EVENTS;
        let webhooks = &t.tenants[i].webhooks;
        let registered = webhooks.register(&url, events, Overwrite::Refuse).await?;
        let action = registered.action;
        t.say(format_args!(
            "   {name}: {crm:?}, webhooks {url} ({action:?})"
        ));
    }
    t.counts = APIS.map(|api| emulator.count_all(api));

    t.step(1);
    let contoso_referral = t.share(CONTOSO, "Contoso: Azure migration", 125_000)?;
    let fabrikam_referral = t.share(FABRIKAM, "Fabrikam: Teams rollout", 80_000)?;
    let mut created = Vec::new();
    for i in [CONTOSO, FABRIKAM] {
        let outcomes = t.work_inbox(i).await?;
        let crm_ids = outcomes
            .into_iter()
            .filter(|o| o.kind.wrote())
            .filter_map(|o| o.crm_id);
        created.extend(crm_ids);
        let row = t.crm_row(i, created.last().map_or("?", String::as_str));
        t.say(format_args!("   now in the CRM: {row}"));
    }
    let [contoso_opportunity, fabrikam_opportunity] = &created[..] else {
        return Err(format!("one opportunity in each CRM expected: {created:?}").into());
    };
    t.end_step().await?;

    t.step(2);
    let accept = [
        json!({"estimatedvalue": 140_000, "statuscode": 1}),
        json!({"Amount": 95_000, "StageName": "Qualification"}),
    ];
    let pairs = [
        (CONTOSO, contoso_opportunity, &contoso_referral),
        (FABRIKAM, fabrikam_opportunity, &fabrikam_referral),
    ];
    for ((i, opportunity, referral), edit) in pairs.into_iter().zip(accept) {
        t.seller_edit(i, opportunity, edit)?;
        let row = t.crm_row(i, opportunity);
        t.say(format_args!("   a seller edits {row}"));
        t.poll(i).await?;
        let row = t.referral_row(i, referral);
        t.say(format_args!("   now in Partner Center: {row}"));
    }
    t.end_step().await?;

    t.step(3);
    let flagged_opportunity = seller_opportunity(emulator)?;
    let row = t.crm_row(CONTOSO, &flagged_opportunity);
    t.say(format_args!("   a seller flags {row}"));
    emulator
        .dataverse()
        .flag_for_sync(flagged_opportunity.parse()?)?;
    let flagged_referral = t
        .poll(CONTOSO)
        .await?
        .into_iter()
        .find(|o| matches!(o.kind, OutcomeKind::Created { .. }))
        .and_then(|o| o.referral_id)
        .ok_or("the poll created no referral")?;
    let row = t.referral_row(CONTOSO, &flagged_referral);
    t.say(format_args!("   now in Partner Center: {row}"));
    t.end_step().await?;

    t.step(4);
    let drop_one = FaultRule::new(EmulatedApi::PartnerCenterWebhooks, Fault::DropDelivery);
    emulator.faults().add(drop_one.trigger(Trigger::First(1)));
    let lost_referral = t.share(FABRIKAM, "Fabrikam: Copilot pilot", 30_000)?;
    emulator.partner_center().wait_for_deliveries().await;
    let deliveries = t.tenants[FABRIKAM].partner_center.deliveries();
    let lost = deliveries
        .iter()
        .rfind(|d| d.referral_id == Some(lost_referral.clone()));
    let state = lost.map(|d| d.state);
    t.say(format_args!("   shared {lost_referral}: {state:?}"));
    let mut recovered = None;
    for i in [CONTOSO, FABRIKAM] {
        let report = t.tenants[i].sync.reconcile(SweepMode::Delta).await?;
        let (name, pc, crm) = (
            t.tenants[i].name,
            report.referrals_listed,
            report.crm_listed,
        );
        let requests = report.requests.total();
        let listed = format!("{pc} referral(s), {crm} CRM record(s)");
        let unchanged = report.unchanged;
        t.say(format_args!("   {name} delta sweep: listed {listed}"));
        t.say(format_args!(
            "     {unchanged} unchanged (no request); {requests} requests"
        ));
        t.show(&report.outcomes);
        let lost = |o: &&SyncOutcome| o.referral_id == Some(lost_referral.clone());
        let found = report.outcomes.iter().filter(lost).find(|o| o.kind.wrote());
        recovered = recovered.or_else(|| found.and_then(|o| o.crm_id.clone()));
        t.tenants[i].last_sweep = Some(report);
    }
    let recovered_opportunity = recovered.ok_or("the sweep did not recover the referral")?;
    let row = t.crm_row(FABRIKAM, &recovered_opportunity);
    t.say(format_args!("   now in the CRM: {row}"));
    t.end_step().await?;

    t.step(5);
    let won = json!({"StageName": "Closed Won"});
    t.seller_edit(FABRIKAM, fabrikam_opportunity, won)?;
    t.poll(FABRIKAM).await?;
    let row = t.referral_row(FABRIKAM, &fabrikam_referral);
    t.say(format_args!("   now in Partner Center: {row}"));
    let contoso_pc = &t.tenants[CONTOSO].partner_center;
    contoso_pc.close_referral(&contoso_referral, "Won")?;
    t.say(format_args!("   {contoso_referral} closed as won"));
    t.work_inbox(CONTOSO).await?;
    let row = t.crm_row(CONTOSO, contoso_opportunity);
    t.say(format_args!("   now in the CRM: {row}"));
    t.end_step().await?;

    t.step(6);
    let mut page = Vec::new();
    for tenant in &t.tenants {
        page.push(tenant.status().await?);
    }
    t.say(serde_json::to_string_pretty(&json!({ "tenants": page }))?);
    t.say("== Requests the emulator answered over the day");
    for api in APIS {
        let (name, count) = (api.name(), emulator.count_all(api));
        t.say(format_args!("   {name:<26} {count}"));
    }
    t.say("== Done");
    Ok(Day {
        contoso_referral,
        contoso_opportunity: contoso_opportunity.clone(),
        fabrikam_referral,
        fabrikam_opportunity: fabrikam_opportunity.clone(),
        flagged_opportunity,
        flagged_referral,
        lost_referral,
        recovered_opportunity,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crm {
    Dataverse,
    Salesforce,
}

/// One Partner Center tenant, its synchronizer, and what the tour has shown of it.
struct Tenant {
    name: &'static str,
    crm: Crm,
    sync: Synchronizer,
    /// The emulator's view of the tenant's Partner Center: what Microsoft and the partner do.
    partner_center: cosell_emulator::PartnerCenterControl,
    webhooks: WebhooksClient,
    last_sweep: Option<SweepReport>,
    audit_shown: usize,
}

impl Tenant {
    /// Signs in to the tenant and builds its clients and synchronizer (which checks the CRM's
    /// columns, keys and options).
    async fn start(
        emulator: &Emulator,
        name: &'static str,
        crm: Crm,
        store: Arc<dyn SyncStore>,
    ) -> Result<Tenant> {
        let urls = emulator.urls();
        let entra_tenant = format!("{name}.onmicrosoft.com");
        let authority = EntraAuthority::new(&urls.entra_authority, entra_tenant.clone())?;
        // The referrals API takes user-delegated tokens only: a device-code sign-in (the
        // emulator approves it at once), then refresh tokens (a service stores the rotated one).
        let scope = DelegatedScope::v1(TOKEN_RESOURCE);
        let sign_in = DeviceCodeFlow::new(authority.clone(), APP, scope.clone())?;
        let grant = sign_in.authorize(|_prompt| {}).await?;
        let user = RefreshTokenProvider::builder_from_grant(authority.clone(), APP, scope, &grant)?;
        let partner_center = PartnerCenter::builder(user.build()?)
            .base_url(&urls.partner_center_referrals)
            .build()?;
        // Dataverse, Salesforce and webhook registration take app tokens.
        let app = |scope: String| {
            ClientCredentials::new(authority.clone(), APP, SECRET.to_owned().into(), scope)
        };
        let id = TenantId::new(name)?;
        let builder = match crm {
            Crm::Dataverse => {
                let client = Dataverse::builder(app(format!("{DATAVERSE_ORG_URL}/.default"))?)
                    .base_url(&urls.dataverse)
                    .origin_tag("cosell-quickstart")
                    .build()?;
                let (crm, mapping) = (DataverseCrm::new(client), dynamics365().build()?);
                Synchronizer::builder(partner_center, crm, mapping, store, id)
            }
            Crm::Salesforce => {
                let login = SalesforceLogin::new(&urls.salesforce)?;
                let flow = ClientCredentialsFlow::new(login, APP, SECRET.to_owned().into())?;
                let client = Salesforce::builder(flow)
                    .origin_client_id("cosell-quickstart")
                    .build()?;
                let (crm, mapping) = (SalesforceCrm::new(client), salesforce().build()?);
                Synchronizer::builder(partner_center, crm, mapping, store, id)
            }
        };
        let webhooks = WebhooksClient::builder(app(WebhooksClient::TOKEN_SCOPE.to_owned())?)
            .base_url(&urls.partner_center_webhooks)
            .build()?;
        Ok(Tenant {
            name,
            crm,
            sync: builder.worker(format!("quickstart-{name}")).build().await?,
            partner_center: emulator.partner_center().tenant(&entra_tenant),
            webhooks,
            last_sweep: None,
            audit_shown: 0,
        })
    }

    /// The tenant's status, from the store: what `/status` of `examples/sync_service` shows.
    async fn status(&self) -> Result<Value> {
        let (store, id) = (self.sync.store(), self.sync.tenant());
        // Exact, from the links and each pair's newest telling audit entry.
        let pairs = store.pair_counts(id).await?;
        let unmapped = store.unmapped(id).await?.into_iter();
        let unmapped: Vec<_> = unmapped
            .map(|u| json!({"field": u.field, "value": u.value, "seen": u.count}))
            .collect();
        let sweep = self.last_sweep.as_ref().map(|report| {
            json!({
                "mode": format!("{:?}", report.mode).to_lowercase(),
                "synced": report.outcomes.len(),
                "unchanged": report.unchanged,
                "paused": report.paused.as_ref().map(|pause| format!("{pause:?}")),
                "partner_center_checkpoint": report.partner_center_checkpoint,
                "crm_checkpoint": report.crm_checkpoint,
            })
        });
        Ok(json!({
            "name": self.name,
            "crm": format!("{:?}", self.crm).to_lowercase(),
            "pairs": pairs,
            "dead_letters": store.dead_letters(id, 1000).await?.len(),
            "inbox_depth": store.inbox_depth(id).await?,
            "unmapped": unmapped,
            "last_sweep": sweep,
        }))
    }
}

/// The emulator, the output, the tenants and the request counts at the start of the step.
struct Tour<'a, W> {
    emulator: &'a Emulator,
    out: &'a mut W,
    tenants: Vec<Tenant>,
    counts: [usize; 5],
}

impl<W: Write> Tour<'_, W> {
    /// Prints one line; a closed stdout is not worth failing the tour for.
    fn say(&mut self, line: impl Display) {
        let _ = writeln!(self.out, "{line}");
    }

    fn step(&mut self, n: usize) {
        self.say(format_args!("== {n}. {}", STEPS[n - 1]));
    }

    /// Microsoft shares a referral in the tenant; answers its id.
    fn share(&self, i: usize, name: &str, value: u32) -> Result<String> {
        let customer = name.split(':').next().unwrap_or(name);
        let email = format!("ana@{}.example", self.tenants[i].name);
        let shared = self.tenants[i].partner_center.share_referral(json!({
            "name": name, "type": "Shared", "qualification": "SalesQualified",
            "customerProfile": {
                "name": customer,
                "address": {"city": "Leeds", "postalCode": "LS1 4AP", "country": "GB"},
                "team": [{"firstName": "Ana", "lastName": "Buyer", "email": email}]
            },
            "details": {"dealValue": value, "currency": "EUR", "notes": "Shared by Microsoft.",
                        "closingDateTime": "2027-06-30T00:00:00Z"}
        }))?;
        let id = shared["id"].as_str().ok_or("a shared referral has an id")?;
        Ok(id.to_owned())
    }

    /// Waits for the emulator's webhook deliveries, then works the tenant's inbox until it is
    /// empty (the sync's own writes to Partner Center come back as events too).
    async fn work_inbox(&mut self, i: usize) -> Result<Vec<SyncOutcome>> {
        let mut all = Vec::new();
        for _ in 0..5 {
            self.emulator.partner_center().wait_for_deliveries().await;
            let outcomes = self.tenants[i].sync.process_inbox(100).await?;
            if outcomes.is_empty() {
                break;
            }
            let name = self.tenants[i].name;
            self.say(format_args!("   {name} inbox: {} event(s)", outcomes.len()));
            self.show(&outcomes);
            all.extend(outcomes);
        }
        Ok(all)
    }

    /// Polls the tenant's CRM for flagged records changed since the last poll, and syncs them.
    async fn poll(&mut self, i: usize) -> Result<Vec<SyncOutcome>> {
        let outcomes = self.tenants[i].sync.poll_crm().await?;
        let (name, n) = (self.tenants[i].name, outcomes.len());
        self.say(format_args!("   {name} CRM poll: {n} record(s)"));
        self.show(&outcomes);
        Ok(outcomes)
    }

    /// Each outcome: which way it went, the pair, what happened.
    fn show(&mut self, outcomes: &[SyncOutcome]) {
        for outcome in outcomes {
            let way = match &outcome.kind {
                OutcomeKind::Created { side, .. } if *side == SyncSide::Crm => "PC → CRM",
                OutcomeKind::Created { .. } => "CRM → PC",
                OutcomeKind::Updated { crm, .. } if crm.is_empty() => "CRM → PC",
                OutcomeKind::Updated { partner_center, .. } if partner_center.is_empty() => {
                    "PC → CRM"
                }
                OutcomeKind::Updated { .. } => "both ways",
                _ => "no write",
            };
            let id = |id: &Option<String>| id.clone().unwrap_or_else(|| "?".into());
            let (referral, crm) = (id(&outcome.referral_id), id(&outcome.crm_id));
            let kind = &outcome.kind;
            self.say(format_args!("     {way:<9} {referral} ⇄ {crm}: {kind}"));
        }
    }

    /// Works the echoes of the step's writes, then prints the audit entries the step added
    /// and the requests each service answered during it.
    async fn end_step(&mut self) -> Result<()> {
        for i in [CONTOSO, FABRIKAM] {
            self.work_inbox(i).await?;
            let tenant = &mut self.tenants[i];
            let (store, id) = (tenant.sync.store(), tenant.sync.tenant());
            let entries = store.audit(id, None, 10_000).await?;
            let new = entries.len().saturating_sub(tenant.audit_shown);
            tenant.audit_shown = entries.len();
            let name = tenant.name;
            for entry in entries.iter().take(new).rev() {
                let at = entry.at.strftime("%H:%M:%S%.3f");
                let records: Vec<String> = entry.records.iter().map(|r| r.to_string()).collect();
                let detail = entry.detail.clone().filter(|d| *d != entry.outcome);
                let what = detail.unwrap_or_else(|| records.join(", "));
                let outcome = &entry.outcome;
                self.say(format_args!("   audit {name:<8} {at} {outcome:<9} {what}"));
            }
        }
        let now = APIS.map(|api| self.emulator.count_all(api));
        let spent = APIS.iter().zip(now.iter().zip(self.counts));
        let spent: Vec<String> = spent
            .map(|(api, (now, before))| format!("{} {}", api.name(), now - before))
            .collect();
        self.say(format_args!("   requests: {}", spent.join(", ")));
        self.counts = now;
        Ok(())
    }

    /// A seller's edit in the CRM's own app (not through the sync's clients).
    fn seller_edit(&self, i: usize, id: &str, changes: Value) -> Result<()> {
        let (dataverse, salesforce) = (self.emulator.dataverse(), self.emulator.salesforce());
        match self.tenants[i].crm {
            Crm::Dataverse => dataverse.edit("opportunities", id.parse()?, changes)?,
            Crm::Salesforce => salesforce.edit_opportunity(id, changes)?,
        }
        Ok(())
    }

    /// An opportunity in a line, as the tenant's CRM holds it.
    fn crm_row(&self, i: usize, id: &str) -> String {
        let (dataverse, salesforce) = (self.emulator.dataverse(), self.emulator.salesforce());
        let (row, fields) = match self.tenants[i].crm {
            Crm::Dataverse => {
                let row = id
                    .parse()
                    .ok()
                    .and_then(|id| dataverse.record("opportunities", id));
                (row, DATAVERSE_SHOWN)
            }
            Crm::Salesforce => (salesforce.record("Opportunity", id), SALESFORCE_SHOWN),
        };
        let row = row.unwrap_or_default();
        let shown: Vec<String> = fields
            .split(' ')
            .map(|f| format!("{f}={}", row[f]))
            .collect();
        format!("opportunity {id}: {}", shown.join(" "))
    }

    /// A referral in a line, as Partner Center holds it.
    fn referral_row(&self, i: usize, id: &str) -> String {
        let row = self.tenants[i].partner_center.referral(id);
        let row = row.unwrap_or_default();
        let (status, substatus) = (&row["status"], &row["substatus"]);
        let (value, crm) = (&row["details"]["dealValue"], &row["externalReferenceId"]);
        format!("referral {id}: {status}/{substatus} dealValue={value} CRM id={crm}")
    }
}

type Receiver = Arc<(WebhookVerifier, HashMap<String, Synchronizer>)>;

/// Starts the webhook receiver on a free loopback port: `POST /webhooks/{tenant}` verifies
/// the signature (trusting the emulator's certificate, served over plain http on loopback),
/// then stores the event in the tenant's inbox and answers. Answers the route's base URL.
async fn start_receiver(emulator: &Emulator, tenants: &[Tenant]) -> Result<String> {
    let certificate = emulator.partner_center().certificate_url().to_owned();
    let policy = TrustPolicy::partner_center().allow_loopback_location(&certificate)?;
    let syncs = tenants.iter().map(|t| (t.name.to_owned(), t.sync.clone()));
    let app = axum::Router::new()
        .route("/webhooks/{tenant}", axum::routing::post(callback))
        .with_state(Arc::new((WebhookVerifier::new(policy)?, syncs.collect())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{address}/webhooks"))
}

async fn callback(
    State(receiver): State<Receiver>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let (verifier, syncs) = &*receiver;
    let Some(sync) = syncs.get(&tenant) else {
        return StatusCode::NOT_FOUND;
    };
    match verifier.verify_event(&headers, &body).await {
        Ok(event) => match sync.enqueue(&event).await {
            Ok(_) => StatusCode::OK,
            Err(_) => StatusCode::SERVICE_UNAVAILABLE,
        },
        Err(_) => StatusCode::UNAUTHORIZED,
    }
}

/// An opportunity a seller made in Dataverse before co-sell, with its account and contact.
fn seller_opportunity(emulator: &Emulator) -> Result<String> {
    let dataverse = emulator.dataverse();
    let account = dataverse.seed(
        "accounts",
        json!({"name": "Northwind Traders", "address1_city": "Leeds",
               "address1_postalcode": "LS2 7HY", "address1_country": "GB"}),
    )?;
    let contact = dataverse.seed(
        "contacts",
        json!({"firstname": "Sam", "lastname": "Buyer", "emailaddress1": "sam@northwind.example"}),
    )?;
    let eur = dataverse.currency_id("EUR").ok_or("Dataverse has EUR")?;
    let id = dataverse.seed(
        "opportunities",
        json!({
            "name": "Northwind: data platform", "description": "Found by our own sellers.",
            "estimatedvalue": 60_000, "estimatedclosedate": "2027-04-30",
            "cosell_syncwithpartnercenter": false,
            "customerid_account@odata.bind": format!("/accounts({account})"),
            "parentcontactid@odata.bind": format!("/contacts({contact})"),
            "transactioncurrencyid@odata.bind": format!("/transactioncurrencies({eur})"),
        }),
    )?;
    Ok(id.to_string())
}
