//! A worker process on a SQLite file, killed with SIGKILL at every store operation of a create
//! and an update in each direction (before the operation starts, after it answered, and while
//! it runs), then restarted on the same file: the file opens cleanly every time, with nothing
//! half-written, and the restarted worker finishes the sync — one record on each side, linked
//! both ways, the edit present — after which a further sync writes nothing.
//!
//! The test binary is its own worker program (`tests/support/worker.rs`): it runs itself with
//! the worker's spec in `COSELL_STORE_WORKER`, against an emulator started here.

#[path = "support/fleet.rs"]
mod fleet;
#[allow(dead_code)]
#[path = "sync/harness.rs"]
mod harness;
#[path = "support/observed.rs"]
mod observed;
#[allow(dead_code)]
#[path = "sync/scenario.rs"]
mod scenario;
#[path = "support/worker.rs"]
mod worker;

use std::path::Path;
use std::sync::Arc;

use cosell::store::{LinkState, SqliteStore, SyncStore, TenantId};
use futures::StreamExt;
use jiff::SignedDuration;

use fleet::{CrmKind, OffsetClock, Services};
use harness::{Harness, Kind};
use scenario::{Scenario, assert_settled, prepare};
use worker::{Ended, Step, StopAt, StoreSpec, When, WorkerSpec, run_worker};

fn main() {
    worker::main(&[(
        "a_sqlite_worker_killed_at_every_store_operation_resumes_and_converges",
        killed_at_every_store_operation,
    )]);
}

const SCENARIOS: [Scenario; 4] = [
    Scenario::CreateFromPartnerCenter,
    Scenario::UpdateFromPartnerCenter,
    Scenario::CreateFromCrm,
    Scenario::UpdateFromCrm,
];

/// Where the doomed worker dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    /// Stopped at the operation (before it started, or after it answered), then killed.
    Stopped(When),
    /// Killed as soon as it announces the operation, while it goes on running it.
    WhileRunning,
}

const KILLS: [Kill; 3] = [
    Kill::Stopped(When::Before),
    Kill::Stopped(When::After),
    Kill::WhileRunning,
];

fn crm_of(kind: Kind) -> CrmKind {
    match kind {
        Kind::Dataverse => CrmKind::Dataverse,
        Kind::Salesforce => CrmKind::Salesforce,
    }
}

/// An emulator, a SQLite file, and the scenario prepared on them (by a worker in this process,
/// which closes the file before any worker process opens it).
struct Setup {
    h: Harness,
    _dir: tempfile::TempDir,
    file: std::path::PathBuf,
    step: Step,
}

async fn setup(kind: Kind, scenario: Scenario) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.db");
    let store: Arc<dyn SyncStore> = Arc::new(SqliteStore::open(&file).unwrap());
    let mut h = Harness::with_store(kind, store).await;
    let target = prepare(&h, scenario).await;
    h.store = Arc::new(cosell::store::MemoryStore::new());
    let step = match (target.referral, target.crm) {
        (Some(referral), None) => Step::Referral(referral),
        (_, Some(crm)) => Step::Crm(crm),
        (None, None) => unreachable!(),
    };
    Setup {
        h,
        _dir: dir,
        file,
        step,
    }
}

impl Setup {
    /// A worker process's spec: its clock runs `offset` minutes ahead, so that the locks a
    /// worker killed before it held (60 s) have lapsed.
    fn worker(&self, name: &str, offset_minutes: i64) -> WorkerSpec {
        let mut spec = WorkerSpec::new(
            StoreSpec::Sqlite(self.file.clone()),
            Services::of(&self.h.emulator),
            crm_of(self.h.kind),
            name,
        );
        spec.clock_offset_secs = offset_minutes * 60;
        spec.steps = vec![self.step.clone()];
        spec
    }
}

/// How many store operations the scenario's sync makes when nothing dies.
async fn operations(kind: Kind, scenario: Scenario) -> usize {
    let s = setup(kind, scenario).await;
    let mut spec = s.worker("counted", 10);
    spec.announce = true;
    let counted = std::cell::Cell::new(0);
    let ended = run_worker(&spec, |line| {
        counted.set(counted.get() + usize::from(line.starts_with("op ")));
        false
    })
    .await;
    assert!(matches!(ended, Ended::Finished { .. }), "{ended:?}");
    counted.get()
}

/// The store opens, its file is intact, and what it holds reads back whole and consistent:
/// no baseline without its link, no linked pair missing a side.
async fn assert_opens_cleanly(file: &Path, context: &str) {
    let store = SqliteStore::open(file).unwrap_or_else(|e| panic!("{context}: reopening: {e}"));
    let tenant = TenantId::new("contoso").unwrap();
    for state in [LinkState::Pending, LinkState::Linked, LinkState::Unlinked] {
        for link in store.links(&tenant, state).await.unwrap() {
            if state == LinkState::Linked {
                assert!(
                    link.referral_id.is_some() && link.crm_id.is_some(),
                    "{context}: {link:?}"
                );
            }
            store.baseline(&tenant, link.pair).await.unwrap();
        }
    }
    drop(store);
    let db = rusqlite::Connection::open(file).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok", "{context}");
    let orphans: i64 = db
        .query_row(
            "SELECT count(*) FROM baselines WHERE pair NOT IN (SELECT pair FROM links)",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0, "{context}: baselines without a link");
}

/// Kills a worker at store operation `n` of the scenario's sync, restarts it, and checks.
async fn case(kind: Kind, scenario: Scenario, n: usize, kill: Kill) {
    let s = setup(kind, scenario).await;
    let mut doomed = s.worker("doomed", 10);
    match kill {
        Kill::Stopped(when) => doomed.stop = Some(StopAt::Operation(n, when)),
        Kill::WhileRunning => doomed.announce = true,
    }
    let announced = format!("op {n} ");
    let ended = run_worker(&doomed, |line| {
        kill == Kill::WhileRunning && line.starts_with(&announced)
    })
    .await;
    let context = format!("{kind:?} {scenario:?}, operation {n}, {kill:?}: {ended:?}");
    assert!(matches!(ended, Ended::Killed { .. }), "{context}");
    assert_opens_cleanly(&s.file, &context).await;

    let ended = run_worker(&s.worker("restarted", 20), |_| false).await;
    assert!(matches!(ended, Ended::Finished { .. }), "{context}");
    assert_opens_cleanly(&s.file, &context).await;

    let later = Arc::new(OffsetClock(SignedDuration::from_mins(30)));
    let store = SqliteStore::open_with_clock(&s.file, later.clone()).unwrap();
    let checker =
        s.h.builder_on(s.h.mapping(), Arc::new(store))
            .worker("checker")
            .clock(later)
            .build()
            .await
            .unwrap();
    assert_settled(&s.h, scenario, &checker, &context).await;
}

fn killed_at_every_store_operation() {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut cases = Vec::new();
        for kind in [Kind::Dataverse, Kind::Salesforce] {
            for scenario in SCENARIOS {
                let count = operations(kind, scenario).await;
                println!("{kind:?} {scenario:?}: {count} store operations");
                assert!(
                    count >= 4,
                    "{kind:?} {scenario:?}: {count} store operations"
                );
                // Killing while an operation runs lands at no fixed point: one CRM is enough.
                for kill in KILLS {
                    if kill == Kill::WhileRunning && kind == Kind::Salesforce {
                        continue;
                    }
                    cases.extend((0..count).map(|n| (kind, scenario, n, kill)));
                }
            }
        }
        let points = cases.len();
        futures::stream::iter(cases)
            .for_each_concurrent(2, |(kind, scenario, n, kill)| case(kind, scenario, n, kill))
            .await;
        println!("{points} kill points, each followed by a restart on the same file");
        assert!(points >= 50, "{points} kill points");
    });
}
