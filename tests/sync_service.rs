//! The `sync_service` example end to end against the emulator: two Partner Center tenants in
//! one process, one synced with Dataverse and one with Salesforce, webhooks delivered by the
//! emulator to the service's own route, and the emulator's state, the store and `/status`
//! checked — across a restart on the same SQLite file, a registration held by another URL,
//! a forged callback and a dead letter retried through the admin route.
//!
//! The example's modules are compiled into this test as they are (`#[path]`), so the test
//! drives exactly the code integrators copy; only `main.rs` (the command line) is left out.

#![allow(dead_code)]

#[path = "../examples/sync_service/admin.rs"]
mod admin;
#[path = "../examples/sync_service/config.rs"]
mod config;
#[path = "../examples/sync_service/first_run.rs"]
mod first_run;
#[path = "../examples/sync_service/jobs.rs"]
mod jobs;
#[path = "../examples/sync_service/login.rs"]
mod login;
#[path = "../examples/sync_service/metrics.rs"]
mod metrics;
#[cfg(feature = "postgres")]
#[path = "support/postgres.rs"]
mod postgres;
#[path = "../examples/sync_service/registration.rs"]
mod registration;
#[path = "../examples/sync_service/server.rs"]
mod server;
#[path = "../examples/sync_service/service.rs"]
mod service;
#[path = "../examples/sync_service/status.rs"]
mod status;
#[path = "../examples/sync_service/store.rs"]
mod store;
#[path = "../examples/sync_service/tenants.rs"]
mod tenants;

use std::path::{Path, PathBuf};
use std::time::Duration;

use cosell::store::{SqliteStore, SyncStore, TenantId};
use cosell_emulator::{DATAVERSE_ORG_URL, EmulatedApi, Emulator, Fault, FaultRule};
use serde_json::{Value, json};

use config::{Config, Environment};
use service::{Options, RunningService};

const CONTOSO: &str = "contoso.onmicrosoft.com";
const FABRIKAM: &str = "fabrikam.onmicrosoft.com";
const ADMIN_TOKEN: &str = "admin-token-for-tests";

/// How long a test waits for the service to reach a state before it fails.
const DEADLINE: Duration = Duration::from_secs(30);

/// The emulator, a SQLite file and the port the service listens on (kept across restarts:
/// the registered webhook URLs name it).
struct World {
    emulator: Emulator,
    _dir: tempfile::TempDir,
    sqlite: PathBuf,
    port: u16,
    /// The PostgreSQL URL and schema of the store, instead of the SQLite file.
    postgres: Option<(String, String)>,
}

impl World {
    async fn new() -> World {
        let emulator = Emulator::start().await.expect("the emulator starts");
        // Both Partner Center tenants exist, each with its own referrals and registration.
        emulator.partner_center().tenant(CONTOSO);
        emulator.partner_center().tenant(FABRIKAM);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let sqlite = dir.path().join("sync.sqlite");
        World {
            emulator,
            _dir: dir,
            sqlite,
            port: free_port(),
            postgres: None,
        }
    }

    /// A world whose store is the PostgreSQL schema `schema` at `url`.
    #[cfg(feature = "postgres")]
    async fn on_postgres(url: &str, schema: &str) -> World {
        World {
            postgres: Some((url.to_owned(), schema.to_owned())),
            ..World::new().await
        }
    }

    fn contoso(&self) -> cosell_emulator::PartnerCenterControl {
        self.emulator.partner_center().tenant(CONTOSO)
    }

    fn fabrikam(&self) -> cosell_emulator::PartnerCenterControl {
        self.emulator.partner_center().tenant(FABRIKAM)
    }

    fn webhook_url(&self, tenant: &str) -> String {
        webhook_url(self.port, tenant)
    }

    /// The configuration an integrator would write for the emulator, for a process listening
    /// on `port` as `worker`.
    fn config_text(&self, port: u16, worker: &str) -> String {
        let store = match &self.postgres {
            Some((_, schema)) => format!("kind = \"postgres\"\nschema = \"{schema}\""),
            None => format!("kind = \"sqlite\"\npath = \"{}\"", self.sqlite.display()),
        };
        let urls = self.emulator.urls();
        let pc = |entra: &str, client: &str| {
            format!(
                "[tenant.partner_center]\nentra_tenant = \"{entra}\"\nclient_id = \"{client}\"\n\
                 authority_host = \"{}\"\nreferrals_url = \"{}\"\nwebhooks_url = \"{}\"\n",
                urls.entra_authority, urls.partner_center_referrals, urls.partner_center_webhooks
            )
        };
        format!(
            r#"
[service]
bind = "127.0.0.1:{port}"
worker = "{worker}"
shutdown_grace_secs = 5

[store]
{store}

[schedule]
inbox_workers = 2
idle_wait_ms = 50
poll_every_secs = 3600
delta_sweep_every_secs = 3600
full_sweep_every_secs = 0
registration_check_every_secs = 3600

[webhooks]
loopback_certificate_url = "{certificate}"

[[tenant]]
name = "contoso"
crm = "dataverse"
webhook_url = "{contoso_url}"
{contoso_pc}
[tenant.dataverse]
environment_url = "{dataverse_org}"
api_url = "{dataverse}"

[[tenant]]
name = "fabrikam"
crm = "salesforce"
webhook_url = "{fabrikam_url}"
{fabrikam_pc}
[tenant.salesforce]
login_url = "{salesforce}"
client_id = "fabrikam-connected-app"
"#,
            certificate = self.emulator.partner_center().certificate_url(),
            contoso_url = webhook_url(port, "contoso"),
            contoso_pc = pc(CONTOSO, "contoso-app"),
            dataverse_org = DATAVERSE_ORG_URL,
            dataverse = urls.dataverse,
            fabrikam_url = webhook_url(port, "fabrikam"),
            fabrikam_pc = pc(FABRIKAM, "fabrikam-app"),
            salesforce = urls.salesforce,
        )
    }

    fn config(&self) -> Config {
        self.config_for(self.port, "test-worker")
    }

    fn config_for(&self, port: u16, worker: &str) -> Config {
        let mut env = vec![
            (
                "COSELL_TENANT_CONTOSO_AZURE_CLIENT_SECRET",
                "contoso-secret",
            ),
            (
                "COSELL_TENANT_FABRIKAM_AZURE_CLIENT_SECRET",
                "fabrikam-secret",
            ),
            (
                "COSELL_TENANT_FABRIKAM_SALESFORCE_CLIENT_SECRET",
                "salesforce-secret",
            ),
            ("COSELL_ADMIN_TOKEN", ADMIN_TOKEN),
        ];
        if let Some((url, _)) = &self.postgres {
            env.push(("COSELL_DATABASE_URL", url));
        }
        let env = Environment::from_pairs(env);
        Config::parse(
            &self.config_text(port, worker),
            Path::new("test.toml"),
            &env,
        )
        .unwrap_or_else(|error| panic!("the configuration is valid: {error}"))
    }

    /// `sync_service login` for both tenants: the emulator approves device codes at once.
    async fn login(&self) {
        let config = self.config();
        let store = store::open(&config.store).await.expect("the store opens");
        for tenant in &config.tenants {
            login::login(tenant, store.as_ref(), |_| {})
                .await
                .unwrap_or_else(|error| panic!("{}: {error}", tenant.name));
        }
    }

    async fn start(&self, options: Options) -> RunningService {
        self.start_on(self.port, "test-worker", options).await
    }

    /// Starts a service process listening on `port` as `worker`.
    async fn start_on(&self, port: u16, worker: &str, options: Options) -> RunningService {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("the service's port is free");
        service::start(&self.config_for(port, worker), options, Some(listener))
            .await
            .unwrap_or_else(|error| panic!("the service starts: {error}"))
    }

    fn opportunities(&self) -> Vec<Value> {
        self.emulator.dataverse().records("opportunities")
    }

    fn salesforce_opportunities(&self) -> Vec<Value> {
        self.emulator.salesforce().records("Opportunity")
    }
}

fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    probe.local_addr().expect("its address").port()
}

fn webhook_url(port: u16, tenant: &str) -> String {
    format!("http://127.0.0.1:{port}/webhooks/{tenant}")
}

fn referral(name: &str) -> Value {
    json!({
        "name": name,
        "type": "Shared",
        "qualification": "SalesQualified",
        "customerProfile": {
            "name": format!("{name} Ltd"),
            "address": {"city": "Leeds", "postalCode": "LS1 4AP", "country": "GB"},
            "team": [{"firstName": "Ana", "lastName": "Buyer", "email": "ana@customer.example"}]
        },
        "details": {"dealValue": 125000, "currency": "EUR", "notes": "First notes.",
                    "closingDateTime": "2027-06-30T00:00:00Z"}
    })
}

fn id_of(shared: &Value) -> String {
    shared["id"]
        .as_str()
        .expect("a shared referral has an id")
        .to_owned()
}

/// Polls `check` until it answers, or fails the test after [`DEADLINE`].
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the Salesforce opportunity of `referral_id` has `text` as its description.
async fn salesforce_description(world: &World, referral_id: &str, text: &str) {
    eventually(&format!("the description {text:?} in Salesforce"), || {
        with(
            &world.salesforce_opportunities(),
            "Referral_Id__c",
            referral_id,
        )
        .first()
        .filter(|row| row["Description"] == json!(text))
        .map(|_| ())
    })
    .await;
}

/// The records of `rows` whose `column` holds `value`.
fn with<'a>(rows: &'a [Value], column: &str, value: &str) -> Vec<&'a Value> {
    rows.iter()
        .filter(|row| row[column] == json!(value))
        .collect()
}

async fn get(service: &RunningService, path: &str, token: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(format!("http://{}{path}", service.address));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the service answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

async fn status(service: &RunningService) -> Value {
    let (code, body) = get(service, "/status", None).await;
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("/status is JSON")
}

/// The tenant `name` in a `/status` document.
fn tenant<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["tenants"]
        .as_array()
        .and_then(|tenants| tenants.iter().find(|t| t["name"] == json!(name)))
        .unwrap_or_else(|| panic!("{name} in {status:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_sync_through_webhooks_and_a_restart_duplicates_nothing() {
    let world = World::new().await;
    world.login().await;
    let service = world.start(Options::default()).await;

    // Registered at start, each tenant to its own route.
    for (control, name) in [(world.contoso(), "contoso"), (world.fabrikam(), "fabrikam")] {
        let registration = control.registration().expect("registered");
        assert_eq!(registration["WebhookUrl"], json!(world.webhook_url(name)));
    }

    // Microsoft shares one referral in each tenant; the webhook reaches the service's route.
    let contoso_id = id_of(&world.contoso().share_referral(referral("Contoso")).unwrap());
    let fabrikam_id = id_of(
        &world
            .fabrikam()
            .share_referral(referral("Fabrikam"))
            .unwrap(),
    );
    let dataverse_row = eventually("the Dataverse opportunity", || {
        with(&world.opportunities(), "cosell_referralid", &contoso_id)
            .first()
            .map(|row| (*row).clone())
    })
    .await;
    assert_eq!(dataverse_row["name"], json!("Contoso"));
    assert_eq!(dataverse_row["cosell_syncwithpartnercenter"], json!(true));
    let salesforce_row = eventually("the Salesforce opportunity", || {
        with(
            &world.salesforce_opportunities(),
            "Referral_Id__c",
            &fabrikam_id,
        )
        .first()
        .map(|row| (*row).clone())
    })
    .await;
    assert_eq!(salesforce_row["Name"], json!("Fabrikam"));
    // Each tenant's referral went only to its own CRM.
    assert!(with(&world.opportunities(), "cosell_referralid", &fabrikam_id).is_empty());
    assert!(
        with(
            &world.salesforce_opportunities(),
            "Referral_Id__c",
            &contoso_id
        )
        .is_empty()
    );
    // The CRM ids went back into each tenant's referral.
    eventually("the Dataverse id in the referral", || {
        world
            .contoso()
            .referral(&contoso_id)
            .filter(|r| r["externalReferenceId"].is_string())
    })
    .await;

    // Once the echoes of the sync's own writes are worked too.
    let page = eventually_status(&service, |page| {
        ["contoso", "fabrikam"]
            .iter()
            .all(|name| tenant(page, name)["inbox_depth"] == json!(0))
    })
    .await;
    for (name, crm) in [("contoso", "dataverse"), ("fabrikam", "salesforce")] {
        let t = tenant(&page, name);
        assert_eq!(t["crm"], json!(crm), "{t:#}");
        assert_eq!(t["flagged"], json!(false), "{t:#}");
        assert_eq!(t["pairs"]["linked"], json!(1), "{t:#}");
        assert_eq!(t["pairs"]["in_sync"], json!(1), "{t:#}");
        assert_eq!(t["pairs"]["failing"], json!(0), "{t:#}");
        assert_eq!(t["dead_letters"], json!(0), "{t:#}");
        assert_eq!(t["inbox_depth"], json!(0), "{t:#}");
        assert_eq!(t["registration"]["state"], json!("registered"), "{t:#}");
        assert_eq!(t["registration"]["action"], json!("created"), "{t:#}");
        assert!(t["token"]["last_refresh"].is_string(), "{t:#}");
        assert!(t["token"]["problem"].is_null(), "{t:#}");
        assert_eq!(t["last_sweep"]["mode"], json!("delta"), "{t:#}");
        assert_eq!(t["last_sweep"]["result"], json!("done"), "{t:#}");
    }

    let (code, metrics) = get(&service, "/metrics", None).await;
    assert_eq!(code, 200);
    for line in [
        r#"cosell_webhook_events_received_total{tenant="contoso",result="enqueued"}"#,
        r#"cosell_webhook_events_received_total{tenant="fabrikam",result="enqueued"}"#,
        r#"cosell_writes_total{tenant="contoso",service="dataverse"}"#,
        r#"cosell_writes_total{tenant="fabrikam",service="salesforce"}"#,
        r#"cosell_inbox_depth{tenant="contoso"} 0"#,
        r#"cosell_sweep_duration_seconds_count{tenant="contoso",mode="delta",result="done"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    let (code, health) = get(&service, "/healthz", None).await;
    assert_eq!((code, health.as_str()), (200, "ok"));

    // Stop; while the service is down, Microsoft edits both referrals and shares one more;
    // the emulator's deliveries to the stopped service fail.
    service.stop().await;
    let notes = json!([{"op": "replace", "path": "/details/notes", "value": "Edited while down."}]);
    world
        .contoso()
        .update_referral(&contoso_id, notes.clone())
        .unwrap();
    world
        .fabrikam()
        .update_referral(&fabrikam_id, notes)
        .unwrap();
    let later_id = id_of(
        &world
            .contoso()
            .share_referral(referral("Contoso later"))
            .unwrap(),
    );
    world.emulator.partner_center().wait_for_deliveries().await;

    // Restarted on the same SQLite file: the delta sweep at start (and any redelivery) brings
    // the CRMs up to date, without a second record for any referral.
    let service = world.start(Options::default()).await;
    eventually("the edit in Dataverse and the later referral", || {
        let rows = world.opportunities();
        let edited = with(&rows, "cosell_referralid", &contoso_id)
            .first()
            .is_some_and(|row| row["description"] == json!("Edited while down."));
        (edited && with(&rows, "cosell_referralid", &later_id).len() == 1).then_some(())
    })
    .await;
    salesforce_description(&world, &fabrikam_id, "Edited while down.").await;

    // A webhook after the restart: one more edit, through the route.
    let again = json!([{"op": "replace", "path": "/details/notes", "value": "After the restart."}]);
    world
        .fabrikam()
        .update_referral(&fabrikam_id, again)
        .unwrap();
    salesforce_description(&world, &fabrikam_id, "After the restart.").await;

    let rows = world.opportunities();
    assert_eq!(
        rows.len(),
        2,
        "one Dataverse opportunity per referral: {rows:#?}"
    );
    for id in [&contoso_id, &later_id] {
        assert_eq!(with(&rows, "cosell_referralid", id).len(), 1, "{id}");
    }
    let rows = world.salesforce_opportunities();
    assert_eq!(rows.len(), 1, "one Salesforce opportunity: {rows:#?}");
    // The emulators' write logs: each opportunity created once, across both runs, every
    // write marked as the sync's.
    let dataverse_writes: Vec<_> = world
        .emulator
        .dataverse()
        .writes()
        .into_iter()
        .filter(|w| w.entity_set == "opportunities")
        .collect();
    let created = dataverse_writes
        .iter()
        .filter(|w| w.operation == "create")
        .count();
    assert_eq!(created, 2, "{dataverse_writes:#?}");
    assert!(
        dataverse_writes
            .iter()
            .all(|w| w.tag.as_deref() == Some("cosell-sync")),
        "{dataverse_writes:#?}"
    );
    let salesforce_id = rows[0]["Id"].as_str().expect("an Id").to_owned();
    let salesforce_writes: Vec<_> = world
        .emulator
        .salesforce()
        .writes()
        .into_iter()
        .filter(|w| w.sobject == "Opportunity")
        .collect();
    assert!(
        salesforce_writes
            .iter()
            .all(|w| w.ids == [salesforce_id.clone()] && w.client() == Some("cosell-sync")),
        "one Salesforce opportunity ever written: {salesforce_writes:#?}"
    );
    assert_eq!(
        world.contoso().referrals().len(),
        2,
        "no referral created back"
    );
    assert_eq!(
        world.fabrikam().referrals().len(),
        1,
        "no referral created back"
    );

    let page = status(&service).await;
    assert_eq!(
        tenant(&page, "contoso")["pairs"]["linked"],
        json!(2),
        "{page:#}"
    );
    assert_eq!(
        tenant(&page, "contoso")["pairs"]["in_sync"],
        json!(2),
        "{page:#}"
    );
    assert_eq!(
        tenant(&page, "fabrikam")["pairs"]["linked"],
        json!(1),
        "{page:#}"
    );
    // The restart found its registration in place.
    assert_eq!(
        tenant(&page, "contoso")["registration"]["action"],
        json!("unchanged"),
        "{page:#}"
    );
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_held_by_another_url_is_flagged_until_overwrite() {
    let world = World::new().await;
    world.login().await;
    let connector = json!({
        "WebhookUrl": "https://connector.example/co-sell",
        "WebhookEvents": ["referral-created", "referral-updated"]
    });
    world.fabrikam().set_registration(Some(&connector)).unwrap();

    let service = world.start(Options::default()).await;
    let page = status(&service).await;
    let fabrikam = tenant(&page, "fabrikam");
    assert_eq!(fabrikam["flagged"], json!(true), "{fabrikam:#}");
    assert_eq!(
        fabrikam["registration"],
        json!({"state": "held_by_another_url", "url": "https://connector.example/co-sell"})
    );
    assert_eq!(
        tenant(&page, "contoso")["flagged"],
        json!(false),
        "{page:#}"
    );
    // Left alone.
    assert_eq!(
        world.fabrikam().registration().unwrap()["WebhookUrl"],
        json!("https://connector.example/co-sell")
    );
    service.stop().await;

    // Another process holds the registration lease: this one does not register.
    let store = SqliteStore::open(&world.sqlite).unwrap();
    let fabrikam_id = TenantId::new("fabrikam").unwrap();
    let lease = store
        .acquire_lease(
            &fabrikam_id,
            "webhook-registration",
            "other-worker",
            DEADLINE,
        )
        .await
        .unwrap()
        .expect("the lease is free");
    let service = world
        .start(Options {
            overwrite: true,
            ..Options::default()
        })
        .await;
    let page = status(&service).await;
    assert_eq!(
        tenant(&page, "fabrikam")["registration"]["state"],
        json!("other_worker_registers"),
        "{page:#}"
    );
    assert_eq!(
        world.fabrikam().registration().unwrap()["WebhookUrl"],
        json!("https://connector.example/co-sell")
    );
    service.stop().await;
    store.release_lease(&lease).await.unwrap();

    // With --overwrite and the lease free, the registration is taken over.
    let service = world
        .start(Options {
            overwrite: true,
            ..Options::default()
        })
        .await;
    let page = status(&service).await;
    let fabrikam = tenant(&page, "fabrikam");
    assert_eq!(fabrikam["flagged"], json!(false), "{fabrikam:#}");
    assert_eq!(fabrikam["registration"]["action"], json!("replaced"));
    assert_eq!(
        world.fabrikam().registration().unwrap()["WebhookUrl"],
        json!(world.webhook_url("fabrikam"))
    );
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_that_does_not_verify_is_refused_and_never_enqueued() {
    let world = World::new().await;
    world.login().await;
    let service = world.start(Options::default()).await;
    let body = r#"{"EventName":"referral-created","ResourceUri":"https://api.partnercenter.microsoft.com/engagements/v1/referrals/r-1","ResourceName":"referral","ResourceChangeUtcDate":"2026-01-02T03:04:05Z"}"#;
    let client = reqwest::Client::new();
    let post = |path: &str| {
        client
            .post(format!("http://{}{path}", service.address))
            .header("Authorization", "Signature Zm9yZ2Vk")
            .header("x-ms-certificate-url", "https://evil.example/cert.cer")
            .header("x-ms-signature-algorithm", "rsa-sha256")
            .body(body)
            .send()
    };
    assert_eq!(
        post("/webhooks/contoso").await.unwrap().status().as_u16(),
        401
    );
    assert_eq!(
        post("/webhooks/nobody").await.unwrap().status().as_u16(),
        404
    );
    let store = SqliteStore::open(&world.sqlite).unwrap();
    let contoso = TenantId::new("contoso").unwrap();
    assert_eq!(store.inbox_depth(&contoso).await.unwrap(), 0);
    let (_, metrics) = get(&service, "/metrics", None).await;
    assert!(
        metrics.contains(
            r#"cosell_webhook_events_received_total{tenant="contoso",result="refused"} 1"#
        ),
        "{metrics}"
    );
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_callback_that_is_not_an_event_is_kept_as_a_dead_letter_and_a_forged_one_is_not() {
    let world = World::new().await;
    world.login().await;
    let service = world.start(Options::default()).await;
    let store = SqliteStore::open(&world.sqlite).unwrap();
    let contoso = TenantId::new("contoso").unwrap();
    let letters_before = store.dead_letters(&contoso, 100).await.unwrap().len();
    let client = reqwest::Client::new();
    let post = |body: &'static [u8], headers: http::HeaderMap| {
        client
            .post(format!("http://{}/webhooks/contoso", service.address))
            .headers(headers)
            .body(body)
            .send()
    };
    // Signed by Partner Center's key, but not an event (and not UTF-8 either).
    let garbage: &[u8] = b"{\"EventName\": 42, \xff}";
    let signed = world.contoso().sign_callback(garbage).unwrap();
    let answer = post(garbage, signed.clone()).await.unwrap();
    assert_eq!(
        answer.status().as_u16(),
        200,
        "answered: Partner Center stops retrying"
    );
    let letters = store.dead_letters(&contoso, 100).await.unwrap();
    assert_eq!(letters.len(), letters_before + 1, "{letters:#?}");
    let letter = letters.last().unwrap();
    assert_eq!(letter.kind, "inbox");
    assert!(letter.records.is_empty());
    assert!(letter.error.contains("not a webhook event"), "{letter:?}");
    use base64::Engine as _;
    let kept = base64::engine::general_purpose::STANDARD
        .decode(letter.payload["raw_body_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(kept, garbage, "the raw body is kept whole");
    assert_eq!(
        store.inbox_depth(&contoso).await.unwrap(),
        0,
        "nothing enqueued"
    );
    // Text that is not an event is kept as text.
    let text: &[u8] = br#"{"hello":"world"}"#;
    let answer = post(text, world.contoso().sign_callback(text).unwrap())
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let letters = store.dead_letters(&contoso, 100).await.unwrap();
    assert_eq!(
        letters.last().unwrap().payload,
        json!({"raw_body": r#"{"hello":"world"}"#})
    );
    // It cannot be retried: it stays on the list.
    let id = letters.last().unwrap().id;
    assert!(
        tenants_sync(&service, "contoso")
            .retry_dead_letter(id)
            .await
            .is_err()
    );
    assert_eq!(
        store.dead_letters(&contoso, 100).await.unwrap().len(),
        letters_before + 2
    );

    // The same garbage with the signature of other bytes: refused, not kept.
    let forged = world.contoso().sign_callback(b"other bytes").unwrap();
    let answer = post(garbage, forged).await.unwrap();
    assert_eq!(answer.status().as_u16(), 401);
    assert_eq!(
        store.dead_letters(&contoso, 100).await.unwrap().len(),
        letters_before + 2,
        "no dead letter for a forged callback"
    );
    assert_eq!(store.inbox_depth(&contoso).await.unwrap(), 0);
    let (_, metrics) = get(&service, "/metrics", None).await;
    assert!(
        metrics.contains(
            r#"cosell_webhook_events_received_total{tenant="contoso",result="dead_lettered"} 2"#
        ),
        "{metrics}"
    );
    service.stop().await;
}

/// The synchronizer of the running service's tenant `name`.
fn tenants_sync<'a>(service: &'a RunningService, name: &str) -> &'a cosell::sync::Synchronizer {
    &service
        .state
        .tenant(name)
        .unwrap_or_else(|| panic!("no tenant {name}"))
        .sync
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_shows_on_status_and_is_retried_through_the_admin_route() {
    let world = World::new().await;
    world.login().await;
    let service = world.start(Options::default()).await;
    // Dataverse refuses every upsert of an opportunity: the pair is rejected, a dead letter.
    let refusal = br#"{"error":{"code":"0x80040203","message":"Refused for the test."}}"#;
    world.emulator.faults().add(
        FaultRule::new(
            EmulatedApi::Dataverse,
            Fault::Answer {
                status: 400,
                content_type: "application/json".into(),
                body: refusal.to_vec(),
            },
        )
        .operation("dataverse.upsert"),
    );
    let id = id_of(&world.contoso().share_referral(referral("Refused")).unwrap());
    // The referral whose sync was refused is one dead letter, however many of its events fail.
    let page = eventually_status(&service, |page| {
        let contoso = tenant(page, "contoso");
        contoso["dead_letters"].as_u64().is_some_and(|n| n >= 1)
            && contoso["inbox_depth"] == json!(0)
    })
    .await;
    let contoso = tenant(&page, "contoso");
    assert_eq!(contoso["pairs"]["failing"], json!(1), "{contoso:#}");
    assert!(contoso["flagged"] == json!(false), "{contoso:#}");
    assert!(with(&world.opportunities(), "cosell_referralid", &id).is_empty());

    // The admin routes need the token.
    let (code, _) = get(&service, "/admin/contoso/dead-letters", None).await;
    assert_eq!(code, 401);
    let (code, body) = get(&service, "/admin/contoso/dead-letters", Some(ADMIN_TOKEN)).await;
    assert_eq!(code, 200, "{body}");
    let letters: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert!(!letters.is_empty(), "{body}");
    assert!(
        letters
            .iter()
            .all(|letter| letter["records"] == json!([{"Referral": id}])),
        "{body}"
    );
    let (code, export) = get(
        &service,
        "/admin/contoso/dead-letters/export",
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(export.lines().count(), letters.len(), "{export}");
    let first = letters[0]["id"].as_u64().expect("a numeric id");

    // Dataverse accepts again: retrying the first letter creates the opportunity; retrying
    // the rest writes nothing more; the list is empty.
    world.emulator.faults().clear();
    let admin = reqwest::Client::new();
    let post = |path: String| {
        admin
            .post(format!("http://{}{path}", service.address))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    let response = post(format!("/admin/contoso/dead-letters/{first}/retry"))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let retried: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(retried["outcome"], json!("created"), "{retried:#}");
    let response = post("/admin/contoso/dead-letters/retry".to_owned())
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let rest: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(
        rest["retried"].as_array().map(Vec::len),
        Some(letters.len() - 1),
        "{rest:#}"
    );
    assert!(
        rest["retried"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|r| r["outcome"] != json!("failed") && r["outcome"] != json!("rejected")),
        "{rest:#}"
    );
    assert_eq!(
        with(&world.opportunities(), "cosell_referralid", &id).len(),
        1
    );
    let page = status(&service).await;
    assert_eq!(
        tenant(&page, "contoso")["dead_letters"],
        json!(0),
        "{page:#}"
    );
    assert_eq!(
        tenant(&page, "contoso")["pairs"]["failing"],
        json!(0),
        "{page:#}"
    );
    service.stop().await;
}

/// Before the service ever ran: a contoso referral already has its opportunity (made by hand,
/// carrying the referral id), and another has none. Answers both referral ids.
fn existing_and_missing(world: &World) -> (String, String) {
    let existing = id_of(&world.contoso().seed_referral(referral("Existing")).unwrap());
    let missing = id_of(&world.contoso().seed_referral(referral("Missing")).unwrap());
    world
        .emulator
        .dataverse()
        .seed(
            "opportunities",
            json!({"name": "Existing", "cosell_referralid": existing,
                   "cosell_syncwithpartnercenter": true}),
        )
        .unwrap();
    (existing, missing)
}

/// Starts the service with `--full-sweep`; answers it and contoso's line of the summary.
async fn start_with_full_sweep(world: &World) -> (RunningService, first_run::SweepSummary) {
    let service = world
        .start(Options {
            full_sweep: true,
            ..Options::default()
        })
        .await;
    let contoso = service
        .first_sweep
        .iter()
        .find(|row| row.tenant == "contoso")
        .cloned()
        .unwrap_or_else(|| panic!("a contoso line: {:?}", service.first_sweep));
    (service, contoso)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_full_sweep_links_what_exists_on_both_sides() {
    let world = World::new().await;
    world.login().await;
    let (existing, missing) = existing_and_missing(&world);

    let (service, contoso) = start_with_full_sweep(&world).await;
    assert_eq!(contoso.result, "done", "{contoso:?}");
    assert_eq!(contoso.newly_linked, 2, "{contoso:?}");
    assert_eq!(contoso.created_in_crm, 1, "{contoso:?}");
    assert!(first_run::table(&service.first_sweep).contains("contoso"));
    let rows = world.opportunities();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    for id in [&existing, &missing] {
        assert_eq!(with(&rows, "cosell_referralid", id).len(), 1, "{id}");
    }
    service.stop().await;
}

/// Each tenant's links (with their baselines) and sweep checkpoints, as the store holds them.
async fn sync_state(world: &World) -> String {
    let store = store::open(&world.config().store)
        .await
        .expect("the store opens");
    let mut state = Vec::new();
    for name in ["contoso", "fabrikam"] {
        let tenant = TenantId::new(name).unwrap();
        for link_state in [
            cosell::store::LinkState::Pending,
            cosell::store::LinkState::Linked,
            cosell::store::LinkState::Unlinked,
        ] {
            for link in store.links(&tenant, link_state).await.unwrap() {
                let baseline = store.baseline(&tenant, link.pair).await.unwrap();
                state.push(format!("{link:?} {baseline:?}"));
            }
        }
        for stream in ["sweep-partner-center", "sweep-crm"] {
            let checkpoint = store.checkpoint(&tenant, stream).await.unwrap();
            state.push(format!("{name} {stream} {checkpoint:?}"));
        }
    }
    state.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_prints_the_plan_writes_nothing_and_the_full_sweep_then_does_it() {
    let world = World::new().await;
    world.login().await;
    let (existing, missing) = existing_and_missing(&world);
    let before = sync_state(&world).await;
    let journal = world.emulator.journal().len();

    let runs = service::dry_run(&world.config())
        .await
        .unwrap_or_else(|error| panic!("the dry run starts: {error}"));

    let sent = world.emulator.journal().split_off(journal);
    let written: Vec<_> = sent
        .iter()
        .filter(|e| e.method != http::Method::GET && e.api != EmulatedApi::Entra)
        .filter(|e| !e.path.contains("/oauth2/"))
        .collect();
    assert!(written.is_empty(), "{written:#?}");
    assert!(
        !sent
            .iter()
            .any(|e| e.api == EmulatedApi::PartnerCenterWebhooks),
        "no registration: {sent:#?}"
    );
    assert_eq!(sync_state(&world).await, before, "the store is unchanged");
    assert!(world.opportunities().len() == 1);

    let contoso = runs
        .iter()
        .find(|run| run.tenant == "contoso")
        .and_then(|run| run.preview.as_ref().ok())
        .unwrap_or_else(|| panic!("{runs:?}"));
    let planned = |id: &str| {
        contoso
            .for_referral(id)
            .map(|pair| pair.actions.clone())
            .unwrap_or_else(|| panic!("{id}: {contoso:#?}"))
    };
    assert!(
        matches!(
            planned(&missing)[..],
            [cosell::sync::PlannedAction::CreateCrmRecord { .. }]
        ),
        "{contoso:#?}"
    );
    assert_eq!(
        planned(&existing).first(),
        Some(&cosell::sync::PlannedAction::LinkExisting),
        "{contoso:#?}"
    );
    let text = first_run::render_dry_run(&runs);
    assert!(
        text.contains("contoso: 2 referrals and 1 CRM records listed; would create 1 in the CRM and 0 in Partner Center, link 1"),
        "{text}"
    );
    assert!(
        text.contains(&format!("referral {missing}: create the CRM record (")),
        "{text}"
    );
    assert!(text.ends_with("dry run: nothing was written\n"), "{text}");

    // The full sweep then does what was planned.
    let (service, row) = start_with_full_sweep(&world).await;
    assert_eq!(row.created_in_crm, 1, "{row:?}");
    assert_eq!(row.newly_linked, 2, "{row:?}");
    assert_eq!(world.opportunities().len(), 2);
    service.stop().await;
}

/// Refresh tokens are single-use: once another worker rotated the one this process held, only
/// the store's newest works — and the service reads it before refreshing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_another_worker_rotated_is_picked_up_while_running() {
    let world = World::new().await;
    world.login().await;
    let service = world.start(Options::default()).await;
    // The sweep at start signed in (the login's token rotated into the store).
    eventually_status(&service, |page| {
        tenant(page, "contoso")["last_sweep"]["result"] == json!("done")
    })
    .await;
    let config = world.config();
    let store = store::open(&config.store).await.expect("the store opens");
    let contoso = TenantId::new("contoso").unwrap();
    let stored = |store: std::sync::Arc<dyn SyncStore>| {
        let contoso = contoso.clone();
        async move {
            use secrecy::ExposeSecret;
            store
                .secret(&contoso, tenants::REFRESH_TOKEN_SECRET)
                .await
                .unwrap()
                .map(|token| token.expose_secret().to_owned())
        }
    };
    let held = stored(store.clone()).await.expect("a stored refresh token");

    // Another worker starts from the stored token and signs in: it rotates (and so uses up)
    // the token this process holds, and stores the new one.
    let metrics = std::sync::Arc::new(metrics::Metrics::new());
    let other = tenants::Tenant::start(&config.tenants[0], store.clone(), &metrics, "other")
        .await
        .unwrap_or_else(|error| panic!("the other worker starts: {error}"));
    assert_eq!(other.name, "contoso");
    other.sync.preview_full_sweep().await.unwrap();
    let newest = stored(store.clone()).await.expect("a stored refresh token");
    assert_ne!(newest, held, "the other worker rotated the token");

    // Every access token is revoked: the service must refresh, and only the newest works.
    world.emulator.tokens().revoke_all();
    let id = id_of(
        &world
            .contoso()
            .share_referral(referral("After Rotation"))
            .unwrap(),
    );
    eventually(
        "the opportunity of the referral shared after the rotation",
        || (!with(&world.opportunities(), "cosell_referralid", &id).is_empty()).then_some(()),
    )
    .await;
    let page = status(&service).await;
    let contoso_status = tenant(&page, "contoso");
    assert!(
        contoso_status["token"]["problem"].is_null(),
        "{contoso_status:#}"
    );
    assert_ne!(
        stored(store.clone()).await.expect("a stored refresh token"),
        newest,
        "the service rotated the newest in turn, and stored it"
    );
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_refresh_token_is_named_on_status() {
    let world = World::new().await;
    world.login().await;
    // The stored refresh token of one tenant was revoked (or never valid).
    let store = SqliteStore::open(&world.sqlite).unwrap();
    let contoso = TenantId::new("contoso").unwrap();
    store
        .save_secret(
            &contoso,
            tenants::REFRESH_TOKEN_SECRET,
            &secrecy::SecretString::from("revoked-refresh-token".to_owned()),
        )
        .await
        .unwrap();
    let service = world.start(Options::default()).await;
    // The sweep at start needs Partner Center: its sign-in fails, named.
    let page = eventually_status(&service, |page| {
        tenant(page, "contoso")["token"]["problem"].is_object()
    })
    .await;
    let contoso = tenant(&page, "contoso");
    assert_eq!(
        contoso["token"]["problem"]["kind"],
        json!("invalid_grant"),
        "{contoso:#}"
    );
    assert_eq!(
        contoso["token"]["problem"]["code"],
        json!("invalid_grant"),
        "{contoso:#}"
    );
    assert!(contoso["token"]["last_refresh"].is_null(), "{contoso:#}");
    assert_eq!(contoso["flagged"], json!(true), "{contoso:#}");
    // The other tenant is not affected.
    let page = eventually_status(&service, |page| {
        tenant(page, "fabrikam")["last_sweep"]["result"] == json!("done")
    })
    .await;
    let fabrikam = tenant(&page, "fabrikam");
    assert_eq!(fabrikam["flagged"], json!(false), "{fabrikam:#}");
    assert!(
        fabrikam["token"]["last_refresh"].is_string(),
        "{fabrikam:#}"
    );
    service.stop().await;
}

/// Two processes on one PostgreSQL store (`--features postgres` and
/// `COSELL_TEST_DATABASE_URL`; skipped otherwise): the first registers, the second finds the
/// registration held by the first's URL and leaves it (flagged); events delivered to the first
/// are worked by the inbox workers of both, each referral synced once.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_postgresql_share_the_registration_and_the_inbox() {
    let Some(url) = postgres::database_url("sync_service") else {
        return;
    };
    let schema = postgres::Schema::new(&url, "sync_service");
    let world = World::on_postgres(&url, &schema.name).await;
    world.login().await;
    let first = world
        .start_on(world.port, "worker-a", Options::default())
        .await;
    let second_port = free_port();
    let second = world
        .start_on(second_port, "worker-b", Options::default())
        .await;
    let page = status(&second).await;
    for name in ["contoso", "fabrikam"] {
        let t = tenant(&page, name);
        assert_eq!(
            t["registration"]["state"],
            json!("held_by_another_url"),
            "{t:#}"
        );
        assert_eq!(
            t["registration"]["url"],
            json!(world.webhook_url(name)),
            "{t:#}"
        );
    }
    assert_eq!(
        world.contoso().registration().unwrap()["WebhookUrl"],
        json!(world.webhook_url("contoso"))
    );

    let contoso: Vec<String> = (0..4)
        .map(|n| {
            id_of(
                &world
                    .contoso()
                    .share_referral(referral(&format!("Contoso {n}")))
                    .unwrap(),
            )
        })
        .collect();
    let fabrikam: Vec<String> = (0..4)
        .map(|n| {
            id_of(
                &world
                    .fabrikam()
                    .share_referral(referral(&format!("Fabrikam {n}")))
                    .unwrap(),
            )
        })
        .collect();
    eventually("every referral in its CRM", || {
        let dataverse = world.opportunities();
        let salesforce = world.salesforce_opportunities();
        (contoso
            .iter()
            .all(|id| !with(&dataverse, "cosell_referralid", id).is_empty())
            && fabrikam
                .iter()
                .all(|id| !with(&salesforce, "Referral_Id__c", id).is_empty()))
        .then_some(())
    })
    .await;
    // Both processes read the one store: the same pairs.
    for service in [&first, &second] {
        let page = eventually_status(service, |page| {
            ["contoso", "fabrikam"]
                .iter()
                .all(|name| tenant(page, name)["inbox_depth"] == json!(0))
        })
        .await;
        for name in ["contoso", "fabrikam"] {
            assert_eq!(tenant(&page, name)["pairs"]["linked"], json!(4), "{page:#}");
        }
    }
    first.stop().await;
    second.stop().await;
    let dataverse = world.opportunities();
    assert_eq!(dataverse.len(), 4, "{dataverse:#?}");
    let salesforce = world.salesforce_opportunities();
    assert_eq!(salesforce.len(), 4, "{salesforce:#?}");
}

/// Polls `/status` until `check` holds, or fails after [`DEADLINE`].
async fn eventually_status(service: &RunningService, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let page = status(service).await;
        if check(&page) {
            return page;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out; last status {page:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
