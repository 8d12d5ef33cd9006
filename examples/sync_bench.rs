//! The synchronizer's speed on the emulator, every request delayed as a real service would be:
//! webhook delivery → CRM write latency, and pairs synced per second at 8 and at 1 in flight,
//! measured side by side in one run.
//!
//! ```text
//! cargo run --release --example sync_bench -- [--crm dataverse|salesforce|both] [--latency-ms 20]
//!     [--events 40] [--pairs 200] [--in-flight 8]
//! ```
//!
//! Prints one JSON line per CRM: latency median / p90 / max in milliseconds (a referral shared
//! by Microsoft until its opportunity exists, through a verified callback handled inline), and
//! pairs per second creating `--pairs` pairs at `--in-flight` and at 1, and re-syncing them
//! unchanged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use cosell::store::MemoryStore;
use cosell::sync::{OutcomeKind, Synchronizer};
use cosell::webhook::{TrustPolicy, WebhookVerifier};
use cosell_emulator::Emulator;
use serde_json::json;
use tokio::sync::mpsc;

#[path = "support/emulated.rs"]
mod emulated;
use emulated::{Clients, Result, referral, slow_down};

/// A synchronizer on a memory store with `in_flight` pairs at once.
async fn synchronizer(emulator: &Emulator, crm: &str, in_flight: usize) -> Result<Synchronizer> {
    let builder = Clients::new(emulator, crm)?.synchronizer(Arc::new(MemoryStore::new()))?;
    Ok(builder.max_in_flight(in_flight).build().await?)
}

struct Args {
    crms: Vec<&'static str>,
    latency: Duration,
    events: usize,
    pairs: usize,
    in_flight: usize,
}

fn args() -> Result<Args> {
    let mut parsed = Args {
        crms: vec!["dataverse", "salesforce"],
        latency: Duration::from_millis(20),
        events: 40,
        pairs: 200,
        in_flight: 8,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(flag) = iter.next() {
        let value = iter.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--crm" => {
                parsed.crms = match value.as_str() {
                    "dataverse" => vec!["dataverse"],
                    "salesforce" => vec!["salesforce"],
                    "both" => vec!["dataverse", "salesforce"],
                    other => {
                        return Err(format!("--crm {other}: dataverse, salesforce or both").into());
                    }
                }
            }
            "--latency-ms" => parsed.latency = Duration::from_millis(value.parse()?),
            "--events" => parsed.events = value.parse()?,
            "--pairs" => parsed.pairs = value.parse()?,
            "--in-flight" => parsed.in_flight = value.parse()?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(parsed)
}

type Handled = (String, &'static str, Instant);

async fn receiver(
    certificate_url: &str,
    sync: Synchronizer,
) -> Result<(String, mpsc::UnboundedReceiver<Handled>)> {
    let verifier = WebhookVerifier::new(
        TrustPolicy::partner_center().allow_loopback_location(certificate_url)?,
    )?;
    let (sender, receiver) = mpsc::unbounded_channel();
    let app = axum::Router::new()
        .route("/webhook", axum::routing::post(callback))
        .with_state((verifier, sync, sender));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((format!("http://{address}/webhook"), receiver))
}

async fn callback(
    State((verifier, sync, sender)): State<(
        WebhookVerifier,
        Synchronizer,
        mpsc::UnboundedSender<Handled>,
    )>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let Ok(event) = verifier.verify_event(&headers, &body).await else {
        return StatusCode::UNAUTHORIZED;
    };
    let outcome = sync.handle_event(&event).await;
    let _ = sender.send((
        event.referral_id().unwrap_or_default(),
        outcome.kind.name(),
        Instant::now(),
    ));
    StatusCode::OK
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank]
}

async fn webhook_latency(crm: &str, args: &Args) -> Result<Vec<f64>> {
    let emulator = Emulator::start().await?;
    let sync = synchronizer(&emulator, crm, args.in_flight).await?;
    let (url, mut handled) = receiver(emulator.partner_center().certificate_url(), sync).await?;
    emulator.partner_center().set_registration(Some(&json!({
        "WebhookUrl": url,
        "WebhookEvents": ["referral-created", "referral-updated"],
    })))?;
    slow_down(&emulator, crm, args.latency);
    let mut latencies = Vec::new();
    for n in 0..args.events {
        let started = Instant::now();
        let shared = emulator.partner_center().share_referral(referral(n))?;
        let id = shared["id"].as_str().unwrap_or_default().to_owned();
        loop {
            let (referral_id, outcome, at) =
                tokio::time::timeout(Duration::from_secs(30), handled.recv())
                    .await?
                    .ok_or("the receiver stopped")?;
            if referral_id == id && outcome == "created" {
                latencies.push((at - started).as_secs_f64() * 1000.0);
                break;
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

/// Pairs per second creating `pairs` pairs at `in_flight`, then re-syncing them unchanged.
async fn throughput(crm: &str, args: &Args, in_flight: usize) -> Result<(f64, f64)> {
    let emulator = Emulator::start().await?;
    emulator.partner_center().set_own_write_events(false);
    let sync = synchronizer(&emulator, crm, in_flight).await?;
    let ids: Vec<String> = (0..args.pairs)
        .map(|n| {
            emulator
                .partner_center()
                .share_referral(referral(n))
                .map(|shared| shared["id"].as_str().unwrap_or_default().to_owned())
        })
        .collect::<std::result::Result<_, _>>()?;
    slow_down(&emulator, crm, args.latency);
    let started = Instant::now();
    let outcomes = sync.sync_referrals(&ids).await;
    let create = args.pairs as f64 / started.elapsed().as_secs_f64();
    let failed = outcomes
        .iter()
        .filter(|o| !matches!(o.kind, OutcomeKind::Created { .. }))
        .count();
    if failed > 0 {
        return Err(format!("{failed} pairs were not created").into());
    }
    let started = Instant::now();
    let outcomes = sync.sync_referrals(&ids).await;
    let unchanged = args.pairs as f64 / started.elapsed().as_secs_f64();
    if outcomes.iter().any(|o| o.kind.wrote()) {
        return Err("an unchanged pair was written".into());
    }
    Ok((create, unchanged))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = args()?;
    for crm in &args.crms {
        let latencies = webhook_latency(crm, &args).await?;
        let (create_n, unchanged_n) = throughput(crm, &args, args.in_flight).await?;
        let (create_1, unchanged_1) = throughput(crm, &args, 1).await?;
        let line = json!({
            "crm": crm,
            "latency_ms_per_request": args.latency.as_millis() as u64,
            "webhook_to_crm_write_ms": {
                "events": latencies.len(),
                "median": percentile(&latencies, 0.5),
                "p90": percentile(&latencies, 0.9),
                "max": latencies.last().copied().unwrap_or(f64::NAN),
            },
            "pairs": args.pairs,
            "pairs_per_s": {
                "create": {"in_flight": args.in_flight, "value": create_n, "at_1": create_1, "ratio": create_n / create_1},
                "unchanged": {"in_flight": args.in_flight, "value": unchanged_n, "at_1": unchanged_1, "ratio": unchanged_n / unchanged_1},
            },
        });
        println!("{line}");
    }
    Ok(())
}
