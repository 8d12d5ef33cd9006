//! An axum receiver for Partner Center callbacks: verifies each one before reading it, answers
//! at once, drops redeliveries, and hands referral ids to a processing task.
//!
//! ```text
//! cargo run --example webhook_receiver                      # listens on 127.0.0.1:3000
//! COSELL_WEBHOOK_BIND=0.0.0.0:8080 cargo run --example webhook_receiver
//! # trust certificates from another location too (exact host + path prefix):
//! COSELL_WEBHOOK_CERT_LOCATIONS=certs.contoso.example/pc/ cargo run --example webhook_receiver
//! # verify a local emulator's deliveries (its certificate URL, plain http on loopback):
//! COSELL_WEBHOOK_LOOPBACK_CERT_URL=http://127.0.0.1:7803/cert/pcnotifications-dispatch.microsoft.com.cer \
//!     cargo run --example webhook_receiver
//! # sign, deliver and verify a few callbacks locally, then exit:
//! cargo run --example webhook_receiver -- --self-test
//! ```
//!
//! Put the receiver behind TLS (Partner Center delivers only to https URLs) and register its
//! URL with the `register_webhook` example.

use std::collections::{HashSet, VecDeque};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use cosell::auth::{Env, EnvError, EnvProblem};
use cosell::webhook::{DedupeKey, TrustPolicy, WebhookError, WebhookVerifier, read_body};
use std::time::Duration;
use tokio::sync::mpsc;

/// How many recent events are remembered for deduplication.
const REMEMBERED_EVENTS: usize = 10_000;

#[derive(Clone)]
struct Receiver {
    verifier: WebhookVerifier,
    seen: Arc<Mutex<RecentKeys>>,
    work: mpsc::Sender<String>,
}

/// Recently seen dedupe keys, oldest dropped first. A durable receiver keeps them in its store.
#[derive(Default)]
struct RecentKeys {
    keys: HashSet<DedupeKey>,
    order: VecDeque<DedupeKey>,
}

impl RecentKeys {
    /// Remembers `key`; false if it was already there.
    fn insert(&mut self, key: DedupeKey) -> bool {
        if !self.keys.insert(key.clone()) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > REMEMBERED_EVENTS
            && let Some(old) = self.order.pop_front()
        {
            self.keys.remove(&old);
        }
        true
    }

    fn forget(&mut self, key: &DedupeKey) {
        self.keys.remove(key);
        self.order.retain(|k| k != key);
    }
}

async fn callback(State(receiver): State<Receiver>, headers: HeaderMap, body: Body) -> StatusCode {
    // Bounded in size and in time: a sender trickling bytes cannot hold the receiver.
    let body = match read_body(body.into_data_stream(), 1 << 20, Duration::from_secs(10)).await {
        Ok(body) => body,
        Err(e) => {
            eprintln!("callback body refused: {e}");
            return StatusCode::PAYLOAD_TOO_LARGE;
        }
    };
    let event = match receiver.verifier.verify_event(&headers, &body).await {
        Ok(event) => event,
        // The certificate could not be fetched: ask Partner Center to deliver again.
        Err(e) if e.is_transient() => {
            eprintln!("callback not verified yet: {e}");
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        // Genuinely signed, but not an event this receiver understands.
        Err(e @ WebhookError::InvalidPayload(_)) => {
            eprintln!("signed callback not understood: {e}");
            return StatusCode::BAD_REQUEST;
        }
        Err(e) => {
            eprintln!("callback refused: {e}");
            return StatusCode::UNAUTHORIZED;
        }
    };
    let key = event.dedupe_key();
    let first_time = receiver
        .seen
        .lock()
        .map(|mut seen| seen.insert(key.clone()))
        .unwrap_or(true);
    if !first_time {
        println!("duplicate delivery of {} ignored", event.event_name);
        return StatusCode::OK;
    }
    let Some(referral_id) = event.referral_id() else {
        println!("{} received (no referral to process)", event.event_name);
        return StatusCode::OK;
    };
    // Never do the work inside the request: Partner Center expects a quick answer.
    if receiver.work.try_send(referral_id).is_err() {
        // Queue full: forget the event so that Partner Center's redelivery is processed.
        if let Ok(mut seen) = receiver.seen.lock() {
            seen.forget(&key);
        }
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    StatusCode::OK
}

/// Processes referral ids one by one. Events are hints: a real receiver fetches the referral's
/// current state here (the referrals API) and syncs it; this one only prints the id.
async fn process(mut ids: mpsc::Receiver<String>, done: Option<mpsc::Sender<String>>) {
    while let Some(referral_id) = ids.recv().await {
        println!("processing referral {referral_id}");
        if let Some(done) = &done {
            let _ = done.send(referral_id).await;
        }
    }
}

fn trust_policy(env: &Env) -> cosell::Result<TrustPolicy> {
    let mut policy = TrustPolicy::partner_center();
    if let Some(url) = env.optional("COSELL_WEBHOOK_LOOPBACK_CERT_URL")? {
        policy = policy.allow_loopback_location(&url)?;
    }
    if let Some(locations) = env.optional("COSELL_WEBHOOK_CERT_LOCATIONS")? {
        for location in locations
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            let Some(slash) = location.find('/') else {
                return Err(EnvError {
                    variable: "COSELL_WEBHOOK_CERT_LOCATIONS",
                    problem: EnvProblem::Malformed(format!(
                        "entry `{location}` must be host/path/prefix/"
                    )),
                }
                .into());
            };
            policy = policy.allow_location(&location[..slash], &location[slash..])?;
        }
    }
    Ok(policy)
}

fn app(verifier: WebhookVerifier, work: mpsc::Sender<String>) -> Router {
    let limit = verifier.policy().body_limit();
    Router::new()
        .route("/webhook", post(callback))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(Receiver {
            verifier,
            seen: Arc::default(),
            work,
        })
}

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--self-test") {
        return self_test().await;
    }
    let env = Env::process();
    let policy = match trust_policy(&env) {
        Ok(policy) => policy,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let verifier = match WebhookVerifier::new(policy) {
        Ok(verifier) => verifier,
        Err(e) => {
            eprintln!("cannot build the verifier: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bind = match env.optional("COSELL_WEBHOOK_BIND") {
        Ok(bind) => bind.unwrap_or_else(|| "127.0.0.1:3000".to_owned()),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(&bind).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("cannot listen on {bind} (set COSELL_WEBHOOK_BIND): {e}");
            return ExitCode::FAILURE;
        }
    };
    let (work, ids) = mpsc::channel(1024);
    tokio::spawn(process(ids, None));
    println!("listening on http://{bind}/webhook (needs no credentials; Ctrl-C to stop)");
    match axum::serve(listener, app(verifier, work)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Serves the test certificate on loopback, delivers a signed event twice and a forged one,
/// and checks the answers: 200, 200 (duplicate, not processed again), 401.
async fn self_test() -> ExitCode {
    use axum::routing::get;
    use cosell::webhook::{TEST_SIGNER_CERTIFICATE_PEM, TestSigner};

    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("cannot listen on loopback: {e}");
            return ExitCode::FAILURE;
        }
    };
    let address = match listener.local_addr() {
        Ok(address) => address,
        Err(e) => {
            eprintln!("no local address: {e}");
            return ExitCode::FAILURE;
        }
    };
    let certificate_url = format!("http://{address}/cert/test.cer");
    let policy = TrustPolicy::partner_center().allow_loopback_location(&certificate_url);
    let verifier = match policy.and_then(WebhookVerifier::new) {
        Ok(verifier) => verifier,
        Err(e) => {
            eprintln!("cannot build the verifier: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (work, ids) = mpsc::channel(16);
    let (done, mut processed) = mpsc::channel(16);
    tokio::spawn(process(ids, Some(done)));
    let router = app(verifier, work).route(
        "/cert/test.cer",
        get(|| async { TEST_SIGNER_CERTIFICATE_PEM }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });

    let signer = TestSigner::new().with_certificate_url(certificate_url);
    let body = br#"{"EventName":"referral-updated","ResourceUri":"https://api.partnercenter.microsoft.com/engagements/v1/referrals/4f0c31e1","ResourceName":"referral","ResourceChangeUtcDate":"2025-01-02T03:04:05Z"}"#;
    let mut forged = body.to_vec();
    forged[30] ^= 1;
    let http = reqwest::Client::new();
    let mut answers = Vec::new();
    for payload in [&body[..], &body[..], &forged[..]] {
        let headers = match signer.headers(body) {
            Ok(headers) => headers,
            Err(e) => {
                eprintln!("cannot sign: {e}");
                return ExitCode::FAILURE;
            }
        };
        let sent = http
            .post(format!("http://{address}/webhook"))
            .headers(headers)
            .body(payload.to_vec())
            .send()
            .await;
        match sent {
            Ok(response) => answers.push(response.status().as_u16()),
            Err(e) => {
                eprintln!("delivery failed: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let first = processed.recv().await;
    println!("answers: {answers:?}; processed: {first:?}");
    if answers == [200, 200, 401]
        && first.as_deref() == Some("4f0c31e1")
        && processed.try_recv().is_err()
    {
        println!("self-test passed");
        ExitCode::SUCCESS
    } else {
        eprintln!("self-test failed");
        ExitCode::FAILURE
    }
}
