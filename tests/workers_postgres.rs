//! Workers sharing one PostgreSQL database (`COSELL_TEST_DATABASE_URL`, a schema of each test's
//! own, dropped afterwards; under CI a missing URL fails) and one emulator:
//!
//! - four synchronizers in this process, each with its own pool, working one stream of webhook
//!   events delivered several times by different workers while a CRM poll runs, one of them
//!   dropped mid-sync;
//! - four worker processes (this binary run as its own worker, `tests/support/worker.rs`), one
//!   of them killed with SIGKILL mid-sync.
//!
//! Both check that every event is worked once (one CRM record per referral, every dedupe key
//! kept, redeliveries answered as duplicates without a write) and, from the emulator's journal
//! (each worker's requests carry its name), that no two workers' read→write sequences on one
//! record interleaved.

#[path = "support/fleet.rs"]
mod fleet;
#[allow(dead_code)]
#[path = "sync/harness.rs"]
mod harness;
#[path = "support/observed.rs"]
mod observed;
#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/worker.rs"]
mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cosell::http::{ManualClock, RecordingSleeper};
use cosell::store::{PostgresStore, StoreResult, SyncStore, TenantId};
use cosell::sync::{OutcomeKind, SyncOutcome, Synchronizer};
use cosell::webhook::WebhookEvent;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use tokio::sync::Notify;

use fleet::{CrmKind, Interleaving, OffsetClock, Services, assert_no_interleaving};
use harness::{Harness, Kind, referral_event, shared_referral};
use observed::{ObservedStore, StoreHook};
use postgres::{Schema, database_url};
use worker::{Ended, Step, StopAt, StoreSpec, When, WorkerSpec, run_worker};

fn main() {
    worker::main(&[
        (
            "four_workers_in_one_process_work_each_event_once_without_interleaving",
            four_workers_in_one_process,
        ),
        (
            "four_worker_processes_work_each_event_once_without_interleaving",
            four_worker_processes,
        ),
    ]);
}

/// Runs `body` on the test database, or says why it cannot run here.
fn with_database(test: &str, body: impl AsyncFnOnce(String)) {
    if let Some(url) = database_url(test) {
        tokio::runtime::Runtime::new().unwrap().block_on(body(url));
    }
}

fn tenant() -> TenantId {
    TenantId::new("contoso").unwrap()
}

/// Referrals Microsoft shares, and an event for each.
fn shared(h: &Harness, count: usize) -> (Vec<String>, Vec<WebhookEvent>) {
    let ids: Vec<String> = (0..count)
        .map(|i| h.share(shared_referral(&format!("Fleet {i}"))))
        .collect();
    let events = ids
        .iter()
        .map(|id| referral_event("referral-created", id, "2026-11-30T10:00:00Z"))
        .collect();
    (ids, events)
}

/// Every referral has exactly one opportunity, which names it, and every seller's opportunity
/// has exactly one referral, which names it back.
fn assert_one_record_each(h: &Harness, referrals: &[String], sellers: &[String]) {
    let opportunities = h.opportunities();
    assert_eq!(
        opportunities.len(),
        referrals.len() + sellers.len(),
        "{opportunities:#?}"
    );
    let mut by_referral: HashMap<String, usize> = HashMap::new();
    for row in &opportunities {
        let referral = row[h.column("referral_id")].as_str().unwrap_or_default();
        *by_referral.entry(referral.to_owned()).or_default() += 1;
    }
    for id in referrals {
        assert_eq!(by_referral.get(id), Some(&1), "referral {id}");
    }
    let all = h.referrals();
    assert_eq!(all.len(), referrals.len() + sellers.len());
    for seller in sellers {
        let referral_id = h.opportunity(seller).unwrap()[h.column("referral_id")]
            .as_str()
            .unwrap_or_else(|| panic!("seller opportunity {seller} has no referral"))
            .to_owned();
        let named: Vec<&Value> = all
            .iter()
            .filter(|r| {
                r["externalReferenceId"]
                    .as_str()
                    .map(cosell::sync::RecordId::new)
                    == Some(cosell::sync::RecordId::new(seller))
            })
            .collect();
        assert_eq!(named.len(), 1, "{seller}: {named:#?}");
        assert_eq!(named[0]["id"], Value::from(referral_id));
    }
}

async fn assert_all_processed(store: &dyn SyncStore, events: &[WebhookEvent]) {
    let tenant = tenant();
    assert_eq!(store.inbox_depth(&tenant).await.unwrap(), 0);
    for event in events {
        assert!(
            store
                .is_processed(&tenant, event.dedupe_key().as_str())
                .await
                .unwrap(),
            "{event:?}"
        );
    }
    assert!(store.dead_letters(&tenant, 10).await.unwrap().is_empty());
}

fn assert_none_failed(outcomes: &[SyncOutcome]) {
    for outcome in outcomes {
        assert!(
            !matches!(
                outcome.kind,
                OutcomeKind::Failed(_) | OutcomeKind::Rejected { .. }
            ),
            "{outcome:?}"
        );
    }
}

/// The check of the journal, which must have had handovers to check.
fn assert_journal(h: &Harness) -> Interleaving {
    let seen = assert_no_interleaving(&h.emulator.journal());
    println!("journal: {seen:?}");
    assert!(seen.shared > 0 && seen.handovers > 0, "{seen:?}");
    seen
}

// --- four synchronizers in one process ------------------------------------------------------

/// Worker 4's store: once it answered its first claim the other workers may start; at its
/// first baseline its worker stops for good (the task is then aborted), holding a pair lock
/// and the rest of its claimed events.
#[derive(Debug, Default)]
struct Dropped {
    claimed: Notify,
    stopped: Notify,
    dead: AtomicBool,
}

#[async_trait]
impl StoreHook for Dropped {
    async fn before(&self, _n: usize, op: &'static str) -> StoreResult<()> {
        if op == "save_baseline" && !self.dead.swap(true, Ordering::SeqCst) {
            self.stopped.notify_one();
        }
        if self.dead.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        Ok(())
    }

    async fn after(&self, _n: usize, op: &'static str) {
        if op == "claim_events" {
            self.claimed.notify_one();
        }
    }
}

/// What a worker task does: delivers every event (starting at `first`), working the inbox
/// after every fourth, then works it until nothing is left to claim.
async fn deliver_and_work(
    sync: Synchronizer,
    events: Vec<WebhookEvent>,
    first: usize,
) -> (Vec<SyncOutcome>, usize) {
    let mut outcomes = Vec::new();
    let mut refused = 0;
    let count = events.len();
    for (i, event) in events.iter().cycle().skip(first).take(count).enumerate() {
        refused += usize::from(sync.enqueue(event).await.unwrap().is_none());
        if i % 4 == 3 {
            outcomes.extend(sync.process_inbox(8).await.unwrap());
        }
    }
    outcomes.extend(drain(&sync).await);
    (outcomes, refused)
}

async fn drain(sync: &Synchronizer) -> Vec<SyncOutcome> {
    let mut outcomes = Vec::new();
    loop {
        let batch = sync.process_inbox(8).await.unwrap();
        if batch.is_empty() {
            return outcomes;
        }
        outcomes.extend(batch);
    }
}

fn four_workers_in_one_process() {
    with_database("four_workers_in_one_process", async |url| {
        let schema = Schema::new(&url, "fleet");
        let h = Harness::new(Kind::Dataverse).await;
        let services = Services::of(&h.emulator);
        let clock = Arc::new(ManualClock::new(Timestamp::now()));
        let (referrals, events) = shared(&h, 24);
        let sellers: Vec<String> = (0..4)
            .map(|i| h.seller_opportunity(&format!("Seller {i}")))
            .collect();

        let dropped = Arc::new(Dropped::default());
        let mut syncs = Vec::new();
        for name in ["w1", "w2", "w3", "w4"] {
            let pool = PostgresStore::connect_with(&url, &schema.name, 4, clock.clone())
                .await
                .unwrap();
            let store: Arc<dyn SyncStore> = if name == "w4" {
                Arc::new(ObservedStore::new(Arc::new(pool), dropped.clone()))
            } else {
                Arc::new(pool)
            };
            let mut builder = fleet::worker(
                &services,
                CrmKind::Dataverse,
                name,
                store,
                Arc::new(RecordingSleeper::new()),
            )
            .clock(clock.clone());
            if name == "w4" {
                // One pair at a time: when it stops, none of its requests is in flight.
                builder = builder.max_in_flight(1);
            }
            syncs.push(builder.build().await.unwrap());
        }

        let w4 = tokio::spawn(deliver_and_work(syncs[3].clone(), events.clone(), 18));
        dropped.claimed.notified().await;
        let others: Vec<_> = (0..3)
            .map(|w| tokio::spawn(deliver_and_work(syncs[w].clone(), events.clone(), w * 6)))
            .collect();
        // The CRM poll and a delta sweep run while the events are worked.
        let poller = syncs[0].clone();
        let poll = tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for _ in 0..3 {
                outcomes.extend(poller.poll_crm().await.unwrap());
                let sweep = poller
                    .reconcile(cosell::sync::SweepMode::Delta)
                    .await
                    .unwrap();
                outcomes.extend(sweep.outcomes);
            }
            outcomes
        });
        dropped.stopped.notified().await;
        w4.abort();
        assert!(w4.await.unwrap_err().is_cancelled());

        let mut outcomes = Vec::new();
        let mut refused = 0;
        for task in others {
            let (done, not_queued) = task.await.unwrap();
            outcomes.extend(done);
            refused += not_queued;
        }
        outcomes.extend(poll.await.unwrap());
        // What the dropped worker held lapses; the others finish its work.
        let store = syncs[0].store().clone();
        let mut rounds = 0;
        while store.inbox_depth(&tenant()).await.unwrap() > 0 {
            rounds += 1;
            assert!(rounds < 10, "the inbox does not empty");
            clock.advance(Duration::from_secs(120));
            for batch in futures::future::join_all(syncs[..3].iter().map(drain)).await {
                outcomes.extend(batch);
            }
        }
        clock.advance(Duration::from_secs(120));
        outcomes.extend(syncs[1].poll_crm().await.unwrap());
        assert_none_failed(&outcomes);
        println!(
            "{} outcomes, {refused} deliveries refused as waiting, {rounds} rounds after the drop",
            outcomes.len()
        );
        assert!(rounds >= 1, "the dropped worker's claims were taken over");

        assert_one_record_each(&h, &referrals, &sellers);
        assert_all_processed(&*store, &events).await;
        // Delivered again: duplicates, nothing written; and every pair is in step.
        let before = h.writes().len();
        for event in &events {
            syncs[2].enqueue(event).await.unwrap();
        }
        let again = drain(&syncs[2]).await;
        assert_eq!(again.len(), events.len());
        assert!(
            again
                .iter()
                .all(|o| matches!(o.kind, OutcomeKind::Duplicate))
        );
        let mut sweep = syncs[1].sync_referrals(&referrals).await;
        sweep.extend(syncs[2].sync_crm_records(&sellers).await);
        for outcome in &sweep {
            assert!(
                matches!(outcome.kind, OutcomeKind::Unchanged | OutcomeKind::Echo),
                "{outcome:?}"
            );
        }
        assert_eq!(h.writes().len(), before, "{:#?}", &h.writes()[before..]);
        assert_journal(&h);
    });
}

// --- four worker processes -------------------------------------------------------------------

fn four_worker_processes() {
    with_database("four_worker_processes", async |url| {
        let schema = Schema::new(&url, "processes");
        let h = Harness::new(Kind::Dataverse).await;
        let (referrals, events) = shared(&h, 32);
        let sellers: Vec<String> = (0..2)
            .map(|i| h.seller_opportunity(&format!("Seller {i}")))
            .collect();
        let spec = |name: &str, offset_minutes: i64, steps: Vec<Step>| {
            let mut spec = WorkerSpec::new(
                StoreSpec::Postgres {
                    url: url.clone(),
                    schema: schema.name.clone(),
                },
                Services::of(&h.emulator),
                CrmKind::Dataverse,
                name,
            );
            spec.clock_offset_secs = offset_minutes * 60;
            spec.steps = steps;
            spec
        };
        let deliver_and_work = vec![Step::Enqueue(events.clone()), Step::Inbox(8)];
        // Between claims the survivors sync every referral and poll the CRM, so that they
        // reach for the pairs the others are syncing.
        let deliver_work_and_poll = vec![
            Step::Enqueue(events.clone()),
            Step::InboxOnce(4),
            Step::Referrals(referrals.clone()),
            Step::Poll,
            Step::Inbox(4),
            Step::Poll,
        ];

        // Worker 4 delivers every event, claims, and is killed after its first baseline.
        let mut doomed = spec("w4", 0, deliver_and_work.clone());
        doomed.stop = Some(StopAt::Named("save_baseline".into(), 1, When::After));
        let ended = run_worker(&doomed, |_| false).await;
        assert!(
            matches!(&ended, Ended::Killed { line } if line.contains("save_baseline")),
            "{ended:?}"
        );
        // Three workers deliver the same events again, work the inbox and poll the CRM, side
        // by side; then again once what worker 4 held has lapsed.
        let clock =
            |offset_minutes: i64| Arc::new(OffsetClock(SignedDuration::from_mins(offset_minutes)));
        let mut outcomes = Vec::new();
        let mut round = 0;
        loop {
            let workers = ["w1", "w2", "w3"]
                .map(|name| spec(name, round * 10, deliver_work_and_poll.clone()));
            for ended in
                futures::future::join_all(workers.iter().map(|w| run_worker(w, |_| false))).await
            {
                match ended {
                    Ended::Finished { outcomes: done } => outcomes.extend(done),
                    other => panic!("{other:?}"),
                }
            }
            let store = PostgresStore::connect_with(&url, &schema.name, 1, clock(round * 10))
                .await
                .unwrap();
            if store.inbox_depth(&tenant()).await.unwrap() == 0 {
                break;
            }
            round += 1;
            assert!(round < 5, "the inbox does not empty");
        }
        println!("outcomes of the surviving workers ({round} rounds after the kill): {outcomes:?}");
        assert!(!outcomes.iter().any(|o| o == "failed" || o == "rejected"));
        assert_one_record_each(&h, &referrals, &sellers);
        let store = PostgresStore::connect_with(&url, &schema.name, 1, clock(round * 10))
            .await
            .unwrap();
        assert_all_processed(&store, &events).await;

        // A further round of every worker: each delivery is a duplicate, nothing is written.
        let before = h.writes().len();
        let workers = ["w1", "w2", "w3", "w4"]
            .map(|name| spec(name, (round + 1) * 10, deliver_and_work.clone()));
        for ended in
            futures::future::join_all(workers.iter().map(|w| run_worker(w, |_| false))).await
        {
            match ended {
                Ended::Finished { outcomes } => {
                    assert!(outcomes.iter().all(|o| o == "duplicate"), "{outcomes:?}")
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(h.writes().len(), before);
        assert_journal(&h);
    });
}
