//! A sync worker as a process of its own, and the small test runner of the test binaries that
//! start it: such a binary runs itself as a worker when `COSELL_STORE_WORKER` holds a
//! [`WorkerSpec`] (JSON), and runs its tests otherwise.
//!
//! A worker opens its store (a SQLite file, or a PostgreSQL schema), builds a synchronizer
//! against the emulated services the spec names, and runs the spec's steps. It can be told to
//! stop at one store operation, before it starts or after it answered: it prints
//! `stopped <n> <operation>` and waits there for the test to kill it (SIGKILL: no destructor,
//! no flush, nothing of the process runs again). With `announce` it prints `op <n> <operation>`
//! before each operation and goes on, so a test can kill it while the operation runs.

#![allow(dead_code)]

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cosell::http::TokioSleeper;
use cosell::store::{StoreResult, SyncStore};
use cosell::webhook::WebhookEvent;
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::fleet::{CrmKind, OffsetClock, Services};
use crate::observed::{ObservedStore, StoreHook};

/// The variable that makes a test binary a worker.
pub const WORKER_ENV: &str = "COSELL_STORE_WORKER";

/// The store a worker opens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum StoreSpec {
    Sqlite(PathBuf),
    Postgres { url: String, schema: String },
}

/// Whether a worker stops before a store operation starts or after it answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum When {
    Before,
    After,
}

/// Where a worker stops to be killed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopAt {
    /// Store operation `n` (from 0).
    Operation(usize, When),
    /// The `nth` (from 1) store operation named `op` (a `SyncStore` method).
    Named(String, usize, When),
}

/// One step of a worker's work.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Step {
    /// Syncs a referral.
    Referral(String),
    /// Syncs a CRM record.
    Crm(String),
    /// Syncs referrals, several at once.
    Referrals(Vec<String>),
    /// Puts events in the inbox (a webhook receiver's part).
    Enqueue(Vec<WebhookEvent>),
    /// Works the inbox, `max` events a claim, until nothing is left to claim.
    Inbox(usize),
    /// Claims up to `max` events once and works them.
    InboxOnce(usize),
    /// Polls the CRM once.
    Poll,
}

/// What a worker process does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerSpec {
    pub store: StoreSpec,
    pub services: Services,
    pub crm: CrmKind,
    /// Its name: the pair-lock owner and the caller in the emulator's journal.
    pub name: String,
    /// How far ahead of the system clock its clock runs, in seconds.
    pub clock_offset_secs: i64,
    pub stop: Option<StopAt>,
    pub announce: bool,
    pub steps: Vec<Step>,
}

impl WorkerSpec {
    pub fn new(store: StoreSpec, services: Services, crm: CrmKind, name: &str) -> WorkerSpec {
        WorkerSpec {
            store,
            services,
            crm,
            name: name.to_owned(),
            clock_offset_secs: 0,
            stop: None,
            announce: false,
            steps: Vec::new(),
        }
    }
}

/// Runs the binary's tests (those whose name contains one of the command line's words, or
/// all), or, in a worker process, the worker. A failed test fails the binary.
pub fn main(tests: &[(&str, fn())]) {
    if let Ok(spec) = std::env::var(WORKER_ENV) {
        let spec: WorkerSpec = serde_json::from_str(&spec).expect("a worker spec");
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(work(spec));
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--list") {
        for (name, _) in tests {
            println!("{name}: test");
        }
        return;
    }
    let words: Vec<&String> = args.iter().filter(|arg| !arg.starts_with('-')).collect();
    let chosen: Vec<_> = tests
        .iter()
        .filter(|(name, _)| words.is_empty() || words.iter().any(|w| name.contains(w.as_str())))
        .collect();
    println!("\nrunning {} tests", chosen.len());
    let started = std::time::Instant::now();
    let mut failed = Vec::new();
    for (name, test) in chosen {
        println!("test {name} ...");
        match std::panic::catch_unwind(test) {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    let took = started.elapsed().as_secs_f64();
    if failed.is_empty() {
        println!("\ntest result: ok; finished in {took:.2}s");
    } else {
        println!("\ntest result: FAILED: {failed:?}; finished in {took:.2}s");
        std::process::exit(101);
    }
}

#[derive(Debug)]
struct Stopper {
    stop: Option<StopAt>,
    announce: bool,
    seen: Mutex<HashMap<&'static str, usize>>,
    target: Mutex<Option<usize>>,
}

impl Stopper {
    /// Prints where the worker stopped and waits to be killed.
    fn stop_here(n: usize, op: &str) -> ! {
        use std::io::Write;
        println!("stopped {n} {op}");
        let _ = std::io::stdout().flush();
        loop {
            std::thread::park();
        }
    }
}

#[async_trait]
impl StoreHook for Stopper {
    async fn before(&self, n: usize, op: &'static str) -> StoreResult<()> {
        let nth = {
            let mut seen = self.seen.lock().unwrap();
            let count = seen.entry(op).or_default();
            *count += 1;
            *count
        };
        if self.announce {
            println!("op {n} {op}");
        }
        let when = match &self.stop {
            Some(StopAt::Operation(at, when)) if *at == n => Some(*when),
            Some(StopAt::Named(name, at, when)) if name == op && *at == nth => Some(*when),
            _ => None,
        };
        match when {
            Some(When::Before) => Self::stop_here(n, op),
            Some(When::After) => *self.target.lock().unwrap() = Some(n),
            None => {}
        }
        Ok(())
    }

    async fn after(&self, n: usize, op: &'static str) {
        if *self.target.lock().unwrap() == Some(n) {
            Self::stop_here(n, op);
        }
    }
}

async fn open(spec: &StoreSpec, clock: Arc<OffsetClock>) -> Arc<dyn SyncStore> {
    match spec {
        StoreSpec::Sqlite(path) => {
            Arc::new(cosell::store::SqliteStore::open_with_clock(path, clock).unwrap())
        }
        #[cfg(feature = "postgres")]
        StoreSpec::Postgres { url, schema } => Arc::new(
            cosell::store::PostgresStore::connect_with(url, schema, 4, clock)
                .await
                .unwrap(),
        ),
        #[cfg(not(feature = "postgres"))]
        StoreSpec::Postgres { .. } => panic!("built without the `postgres` feature"),
    }
}

/// The worker process.
async fn work(spec: WorkerSpec) {
    let clock = Arc::new(OffsetClock(SignedDuration::from_secs(
        spec.clock_offset_secs,
    )));
    let stopper = Arc::new(Stopper {
        stop: spec.stop.clone(),
        announce: spec.announce,
        seen: Mutex::default(),
        target: Mutex::default(),
    });
    let store = Arc::new(ObservedStore::new(
        open(&spec.store, clock.clone()).await,
        stopper,
    ));
    let sync = crate::fleet::worker(
        &spec.services,
        spec.crm,
        &spec.name,
        store,
        Arc::new(TokioSleeper),
    )
    .clock(clock)
    .build()
    .await
    .unwrap();
    for step in &spec.steps {
        let outcomes = match step {
            Step::Referral(id) => vec![sync.sync_referral(id).await],
            Step::Crm(id) => vec![sync.sync_crm_record(id).await],
            Step::Referrals(ids) => sync.sync_referrals(ids).await,
            Step::Enqueue(events) => {
                for event in events {
                    let queued = sync.enqueue(event).await.unwrap();
                    println!("enqueued {}", queued.is_some());
                }
                Vec::new()
            }
            Step::Inbox(max) => {
                let mut all = Vec::new();
                loop {
                    let outcomes = sync.process_inbox(*max).await.unwrap();
                    if outcomes.is_empty() {
                        break all;
                    }
                    all.extend(outcomes);
                }
            }
            Step::InboxOnce(max) => sync.process_inbox(*max).await.unwrap(),
            Step::Poll => sync.poll_crm().await.unwrap(),
        };
        for outcome in outcomes {
            if matches!(outcome.kind.name(), "failed" | "rejected") {
                eprintln!("{}: {outcome:?}", spec.name);
            }
            println!("outcome {}", outcome.kind.name());
        }
    }
    println!("done");
}

/// How a worker process ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Killed (SIGKILL) at the line that asked for it; `line` is that line.
    Killed { line: String },
    /// Ran to its end; `outcomes` are the outcome names it printed.
    Finished { outcomes: Vec<String> },
}

/// Starts a worker process and reads its lines until it ends: it is killed with SIGKILL when
/// it stops at its stop point or when `kill_at` accepts one of its lines.
pub async fn run_worker(spec: &WorkerSpec, kill_at: impl Fn(&str) -> bool) -> Ended {
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .env(WORKER_ENV, serde_json::to_string(spec).unwrap())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the worker starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut outcomes = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        if line.starts_with("stopped ") || kill_at(&line) {
            child.start_kill().unwrap();
            let status = child.wait().await.unwrap();
            // Killed by the signal; or, killed while it announced and went on, it may have
            // ended on its own just before the signal.
            let stopped = line.starts_with("stopped ");
            assert!(
                status.signal() == Some(9) || (!stopped && status.success()),
                "{}: {status:?}",
                spec.name
            );
            return Ended::Killed { line };
        }
        if let Some(outcome) = line.strip_prefix("outcome ") {
            outcomes.push(outcome.to_owned());
        }
    }
    let status = child.wait().await.unwrap();
    assert!(status.success(), "worker {} failed: {status:?}", spec.name);
    Ended::Finished { outcomes }
}
