//! How fast the `sync_service` example answers Partner Center: the time from sending a signed
//! callback to `POST /webhooks/{tenant}` to its answer (verify, store in the SQLite inbox,
//! answer), over many callbacks, while the service's workers sync the events they name.
//!
//! ```text
//! cargo run --release --example sync_service_webhook_bench -- [--callbacks 10000] [--referrals 100]
//! ```
//!
//! Starts the emulator and the service (one Dataverse tenant, SQLite in a temporary
//! directory), shares `--referrals` referrals, then sends `--callbacks` callbacks one after
//! another, each a distinct `referral-updated` event of one of them, signed with the SDK's test
//! key (its certificate served on loopback). Prints one JSON line: p50 / p99 / max in
//! milliseconds and callbacks answered per second.

#![allow(dead_code)]

#[path = "sync_service/admin.rs"]
mod admin;
#[path = "sync_service/config.rs"]
mod config;
#[path = "sync_service/first_run.rs"]
mod first_run;
#[path = "sync_service/jobs.rs"]
mod jobs;
#[path = "sync_service/login.rs"]
mod login;
#[path = "sync_service/metrics.rs"]
mod metrics;
#[path = "sync_service/registration.rs"]
mod registration;
#[path = "sync_service/server.rs"]
mod server;
#[path = "sync_service/service.rs"]
mod service;
#[path = "sync_service/status.rs"]
mod status;
#[path = "sync_service/store.rs"]
mod store;
#[path = "sync_service/tenants.rs"]
mod tenants;

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use axum::routing::get;
use cosell::webhook::{TEST_SIGNER_CERTIFICATE_PEM, TestSigner};
use cosell_emulator::{DATAVERSE_ORG_URL, Emulator};
use serde_json::json;

use config::{Config, Environment};

type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

/// The `n`th number after `flag` on the command line, or `default`.
fn arg(flag: &str, default: usize) -> Result<usize> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == flag) {
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or_else(|| format!("{flag} needs a number"))?
            .parse()?),
        None => Ok(default),
    }
}

/// The value at quantile `q` of sorted `samples`.
fn quantile(samples: &[Duration], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((samples.len() - 1) as f64 * q).round() as usize;
    samples[index.min(samples.len() - 1)].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("bench failed: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<serde_json::Value> {
    let callbacks = arg("--callbacks", 10_000)?;
    let referrals = arg("--referrals", 100)?.max(1);
    let emulator = Emulator::start().await?;
    let urls = emulator.urls().clone();
    let dir = tempfile::tempdir()?;

    // The test signer's certificate, served on loopback for the service's verifier.
    let certificates = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let certificate_url = format!("http://{}/cert/test.cer", certificates.local_addr()?);
    let router = axum::Router::new().route(
        "/cert/test.cer",
        get(|| async { TEST_SIGNER_CERTIFICATE_PEM }),
    );
    tokio::spawn(async move { axum::serve(certificates, router).await });

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let text = format!(
        r#"
[store]
path = "{sqlite}"
[schedule]
delta_sweep_every_secs = 3600
full_sweep_every_secs = 0
[webhooks]
loopback_certificate_url = "{certificate_url}"
[[tenant]]
name = "contoso"
crm = "dataverse"
webhook_url = "http://{address}/webhooks/contoso"
[tenant.partner_center]
entra_tenant = "contoso"
client_id = "bench"
authority_host = "{entra}"
referrals_url = "{referrals}"
webhooks_url = "{webhooks}"
[tenant.dataverse]
environment_url = "{DATAVERSE_ORG_URL}"
api_url = "{dataverse}"
"#,
        sqlite = dir.path().join("bench.sqlite").display(),
        entra = urls.entra_authority,
        referrals = urls.partner_center_referrals,
        webhooks = urls.partner_center_webhooks,
        dataverse = urls.dataverse,
    );
    let env = Environment::from_pairs([("AZURE_CLIENT_SECRET", "secret")]);
    let config = Config::parse(&text, Path::new("bench.toml"), &env)?;
    let store = store::open(&config.store).await?;
    login::login(&config.tenants[0], store.as_ref(), |_| {}).await?;
    let running = service::start(&config, service::Options::default(), Some(listener)).await?;

    let ids: Vec<String> = (0..referrals)
        .map(|n| {
            let shared = emulator
                .partner_center()
                .seed_referral(json!({"name": format!("Bench {n}")}))?;
            Ok(shared["id"].as_str().unwrap_or_default().to_owned())
        })
        .collect::<Result<_>>()?;
    let signer = TestSigner::new().with_certificate_url(certificate_url);
    let client = reqwest::Client::new();
    let endpoint = format!("http://{address}/webhooks/contoso");
    let mut samples = Vec::with_capacity(callbacks);
    let start = Instant::now();
    let base = jiff::Timestamp::now();
    for n in 0..callbacks {
        // A distinct change time makes each a distinct event (its own dedupe key).
        let at = base + jiff::SignedDuration::from_millis(i64::try_from(n)?);
        let body = serde_json::to_vec(&json!({
            "EventName": "referral-updated",
            "ResourceUri": format!(
                "https://api.partnercenter.microsoft.com/engagements/v1/referrals/{}",
                ids[n % ids.len()]
            ),
            "ResourceName": "referral",
            "ResourceChangeUtcDate": at.to_string(),
        }))?;
        let headers = signer.headers(&body)?;
        let sent = Instant::now();
        let answer = client
            .post(&endpoint)
            .headers(headers)
            .body(body)
            .send()
            .await?;
        samples.push(sent.elapsed());
        if !answer.status().is_success() {
            return Err(format!("callback {n} answered {}", answer.status()).into());
        }
    }
    let elapsed = start.elapsed();
    running.stop().await;
    samples.sort();
    #[allow(clippy::cast_precision_loss)]
    let per_second = callbacks as f64 / elapsed.as_secs_f64();
    Ok(json!({
        "callbacks": callbacks,
        "p50_ms": quantile(&samples, 0.50),
        "p99_ms": quantile(&samples, 0.99),
        "max_ms": quantile(&samples, 1.0),
        "per_second": per_second.round(),
    }))
}
