//! How inbox throughput scales with workers on one PostgreSQL database: 1, 2 and 4
//! synchronizers (each with its own pool and `max_in_flight` 8) work the same stream of webhook
//! events for referrals Microsoft shared, against the emulator with 20 ms of latency on every
//! Partner Center and Dataverse request. Prints one JSON line per worker count: events per
//! second, the speed-up over one worker, store calls and service requests per event.
//!
//! ```text
//! COSELL_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo run --release --features postgres --example workers_bench [events]
//! ```
//!
//! Each run uses a fresh emulator and a schema of its own, dropped at the end.

#[path = "../tests/support/fleet.rs"]
mod fleet;
#[allow(dead_code)]
#[path = "../tests/sync/harness.rs"]
mod harness;
#[path = "../tests/support/observed.rs"]
mod observed;
#[path = "../tests/support/postgres.rs"]
mod postgres;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cosell::http::TokioSleeper;
use cosell::store::{PostgresStore, StoreResult, TenantId};
use cosell::sync::{OutcomeKind, Synchronizer};
use cosell_emulator::{EmulatedApi, Fault, FaultRule};
use serde_json::json;

use fleet::{CrmKind, Services};
use harness::{Harness, Kind, referral_event, shared_referral};
use observed::{ObservedStore, StoreHook};

const LATENCY: Duration = Duration::from_millis(20);
const IN_FLIGHT: usize = 8;

/// Counts store calls: each is at least one round trip to the database.
#[derive(Debug, Default)]
struct Calls(AtomicUsize);

#[async_trait]
impl StoreHook for Calls {
    async fn before(&self, _n: usize, _op: &'static str) -> StoreResult<()> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

struct Run {
    seconds: f64,
    store_calls: usize,
    requests: usize,
}

async fn run(url: &str, workers: usize, events: usize) -> Run {
    let schema = postgres::Schema::new(url, &format!("bench_{workers}"));
    let h = Harness::new(Kind::Dataverse).await;
    let services = Services::of(&h.emulator);
    let calls = Arc::new(Calls::default());
    let mut syncs: Vec<Synchronizer> = Vec::new();
    for w in 1..=workers {
        let pool = PostgresStore::connect_with(
            url,
            &schema.name,
            IN_FLIGHT,
            Arc::new(cosell::http::SystemClock),
        )
        .await
        .expect("the database");
        let store = Arc::new(ObservedStore::new(Arc::new(pool), calls.clone()));
        let sync = fleet::worker(
            &services,
            CrmKind::Dataverse,
            &format!("w{w}"),
            store,
            Arc::new(TokioSleeper),
        )
        .max_in_flight(IN_FLIGHT)
        .build()
        .await
        .expect("the synchronizer");
        syncs.push(sync);
    }
    for i in 0..events {
        let id = h.share(shared_referral(&format!("Bench {i}")));
        let event = referral_event("referral-created", &id, "2026-11-30T10:00:00Z");
        syncs[0].enqueue(&event).await.expect("enqueued");
    }
    for api in [EmulatedApi::PartnerCenterReferrals, EmulatedApi::Dataverse] {
        h.emulator
            .faults()
            .add(FaultRule::new(api, Fault::Latency(LATENCY)));
    }
    let calls_before = calls.0.load(Ordering::Relaxed);
    let requests_before = h.requests().len();

    let started = Instant::now();
    let tasks: Vec<_> = syncs
        .iter()
        .cloned()
        .map(|sync| {
            tokio::spawn(async move {
                let mut created = 0;
                loop {
                    let outcomes = sync.process_inbox(IN_FLIGHT).await.expect("the inbox");
                    if outcomes.is_empty() {
                        return created;
                    }
                    for outcome in outcomes {
                        match outcome.kind {
                            OutcomeKind::Created { .. } => created += 1,
                            other => panic!("{other:?}"),
                        }
                    }
                }
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        created += task.await.expect("a worker");
    }
    let seconds = started.elapsed().as_secs_f64();

    assert_eq!(created, events, "every event made one opportunity");
    assert_eq!(h.opportunities().len(), events);
    let tenant = TenantId::new("contoso").unwrap();
    assert_eq!(syncs[0].store().inbox_depth(&tenant).await.unwrap(), 0);
    Run {
        seconds,
        store_calls: calls.0.load(Ordering::Relaxed) - calls_before,
        requests: h.requests().len() - requests_before,
    }
}

#[tokio::main]
async fn main() {
    let Some(url) = std::env::var("COSELL_TEST_DATABASE_URL").ok() else {
        eprintln!("set COSELL_TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)");
        std::process::exit(2);
    };
    let events: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("a number of events"))
        .unwrap_or(240);
    let mut single = None;
    for workers in [1, 2, 4] {
        let run = run(&url, workers, events).await;
        let rate = events as f64 / run.seconds;
        let single = *single.get_or_insert(rate);
        println!(
            "{}",
            json!({
                "workers": workers,
                "events": events,
                "max_in_flight": IN_FLIGHT,
                "latency_ms": LATENCY.as_millis() as u64,
                "seconds": (run.seconds * 1000.0).round() / 1000.0,
                "events_per_second": (rate * 10.0).round() / 10.0,
                "speedup_over_one_worker": (rate / single * 100.0).round() / 100.0,
                "store_calls_per_event": run.store_calls as f64 / events as f64,
                "requests_per_event": run.requests as f64 / events as f64,
            })
        );
    }
}
