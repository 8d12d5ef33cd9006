//! One seeded run: the emulator, a store, a synchronizer that crashes and restarts, and a
//! schedule of rounds drawn from the seed. Each round has three phases:
//!
//! 1. **edits** — people edit both sides (Microsoft in Partner Center, sellers in the CRM), one
//!    second or more apart on the shared clock: deal fields (the same field on both sides too),
//!    sync-flag flips, acceptances, closures, deletions, new referrals, new flagged opportunities;
//! 2. **delivery** — under faults drawn for the round (429 with `Retry-After`, 503, forced 412s,
//!    writes applied with their answer lost, answers cut short, revoked tokens), the workers get
//!    the round's webhooks (dropped, duplicated, reordered; our own creates announced early),
//!    poll the CRM, sweep, sync single pairs, and crash at a random store operation, after which
//!    only the store survives (the memory store carried over, the SQLite file reopened);
//! 3. **settling** — faults off, a restarted worker works the inbox, retries dead letters and
//!    sweeps until a sweep writes nothing.
//!
//! Then both sides are read through the emulator's control API and journal, and compared with
//! the [`Oracle`], which saw only the edits.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cosell::http::{Clock, ManualClock};
use cosell::store::{
    MemoryStore, RecordRef, SqliteStore, StoreError, StoreResult, SyncStore, TenantId,
};
use cosell::sync::{OutcomeKind, RecordId, SweepMode, SyncOutcome, Synchronizer};
use cosell_emulator::{EmulatedApi, Emulator, EmulatorClock, Fault, FaultRule, Trigger};
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::harness::{Harness, Kind, MODES, referral_event, shared_referral};
use crate::observed::{ObservedStore, StoreHook};
use crate::oracle::{Deal, FIELDS, Field, Life, Oracle};

/// A defect put into the sync on purpose, to prove the simulation notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    None,
    /// The store answers `Ok` to every baseline write and keeps nothing.
    ForgetBaselines,
}

/// What one seed's run found: a failure names the round, the invariant and the schedule.
pub type Verdict = Result<Summary, String>;

/// What a passing run did, to show the schedule reached what it was meant to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    pub rounds: usize,
    pub pairs: usize,
    pub crashes: usize,
    pub faults_served: usize,
    /// How often each kind of step and outcome came up.
    pub counts: BTreeMap<String, usize>,
    /// Every request the services answered, in order (`api operation status`), and every
    /// outcome: two runs of one seed must agree on it.
    pub signature: Vec<String>,
}

/// The command that replays a seed.
pub fn replay_command(seed: u64, mutation: Mutation) -> String {
    let mutation = match mutation {
        Mutation::None => "",
        Mutation::ForgetBaselines => "COSELL_SIM_MUTATION=forget-baselines ",
    };
    format!(
        "COSELL_SIM_SEED={seed} {mutation}cargo test --test simulation replay_one_seed -- --nocapture"
    )
}

/// Runs one seed on its own current-thread runtime.
pub fn run(seed: u64, mutation: Mutation) -> Verdict {
    // A panic (the harness's own `unwrap`s, an assertion of the oracle) is a failure of this
    // seed like any other, reported with the command that replays it.
    std::panic::catch_unwind(|| play(seed, mutation)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("a panic without a message");
        Err(format!(
            "seed {seed} ({mutation:?}) panicked: {message}\nreplay: {}",
            replay_command(seed, mutation)
        ))
    })
}

fn play(seed: u64, mutation: Mutation) -> Verdict {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(async move {
            let mut world = World::new(seed, mutation).await;
            let verdict = world.play().await;
            verdict.map_err(|failure| world.report(&failure))
        })
}

#[derive(Debug)]
struct SharedClock(Arc<ManualClock>);

impl EmulatorClock for SharedClock {
    fn now(&self) -> Timestamp {
        self.0.now()
    }
}

/// The store's hook: crashes the worker from one operation on, and plays the mutation.
#[derive(Debug, Default)]
struct Hook {
    crash_from: AtomicUsize,
    crashed: AtomicBool,
    lose_baselines: bool,
}

#[async_trait]
impl StoreHook for Hook {
    async fn before(&self, n: usize, _op: &'static str) -> StoreResult<()> {
        if n >= self.crash_from.load(Ordering::SeqCst) {
            self.crashed.store(true, Ordering::SeqCst);
            return Err(StoreError::Backend("the worker crashed".into()));
        }
        Ok(())
    }

    fn loses(&self, op: &'static str) -> bool {
        self.lose_baselines && op == "save_baseline"
    }
}

/// A running worker: its synchronizer and the hook on its store.
struct Worker {
    sync: Synchronizer,
    hook: Arc<Hook>,
    store: Arc<ObservedStore>,
}

/// The ids one pair has on each side, once known.
#[derive(Debug, Clone, Default)]
struct Ids {
    referral: Option<String>,
    crm: Option<String>,
}

/// What the delivery phase does, one step at a time.
#[derive(Debug, Clone, Copy)]
enum Action {
    DeliverEvents,
    ProcessInbox,
    PollCrm,
    DeltaSweep,
    SyncOnePair,
    AnnounceOwnCreates,
    RevokeTokens,
    Crash,
}

struct World {
    seed: u64,
    mutation: Mutation,
    kind: Kind,
    strict: bool,
    rng: fastrand::Rng,
    clock: Arc<ManualClock>,
    h: Harness,
    sqlite: Option<(tempfile::TempDir, PathBuf)>,
    store: Option<Arc<dyn SyncStore>>,
    workers_started: usize,
    crashes: usize,
    oracle: Oracle,
    ids: Vec<Ids>,
    /// The round's webhook events: name and referral id, in the order Partner Center sent them.
    events: Vec<(&'static str, String)>,
    /// Referrals already announced by an event (ours included).
    announced: std::collections::HashSet<String>,
    /// Outcomes from workers whose store was alive, with the round they came in.
    outcomes: Vec<SyncOutcome>,
    round: usize,
    trace: Vec<String>,
    signature: Vec<String>,
    journal_seen: usize,
    counts: BTreeMap<String, usize>,
}

const TENANT: &str = "contoso";

impl World {
    async fn new(seed: u64, mutation: Mutation) -> World {
        let mut rng = fastrand::Rng::with_seed(seed);
        let (kind, strict) = MODES[rng.usize(..MODES.len())];
        let clock = Arc::new(ManualClock::new(
            "2026-11-30T09:00:00Z".parse().expect("a time"),
        ));
        let emulator = Emulator::builder()
            .clock(Arc::new(SharedClock(clock.clone())))
            .start()
            .await
            .expect("the emulator starts");
        emulator.partner_center().set_strict(strict);
        emulator.faults().seed(rng.u64(..));
        let sqlite = rng.bool().then(|| {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let path = dir.path().join("sync.sqlite");
            (dir, path)
        });
        let h = Harness::on(kind, emulator, Arc::new(MemoryStore::new()));
        let mut world = World {
            seed,
            mutation,
            kind,
            strict,
            rng,
            clock,
            h,
            sqlite,
            store: None,
            workers_started: 0,
            crashes: 0,
            oracle: Oracle::default(),
            ids: Vec::new(),
            events: Vec::new(),
            announced: Default::default(),
            outcomes: Vec::new(),
            round: 0,
            trace: Vec::new(),
            signature: Vec::new(),
            journal_seen: 0,
            counts: BTreeMap::new(),
        };
        world.open_store();
        world
    }

    fn store_name(&self) -> &'static str {
        if self.sqlite.is_some() {
            "sqlite"
        } else {
            "memory"
        }
    }

    /// The store as a restarted process finds it: the memory store as it was, the SQLite store
    /// opened again from its file.
    fn open_store(&mut self) {
        match &self.sqlite {
            Some((_, path)) => {
                // Whatever held the previous handle is gone before this one opens.
                self.store = None;
                let store = SqliteStore::open_with_clock(path, self.clock.clone())
                    .expect("the SQLite store reopens");
                self.store = Some(Arc::new(store));
            }
            None => {
                if self.store.is_none() {
                    self.store = Some(Arc::new(MemoryStore::with_clock(self.clock.clone())));
                }
            }
        }
    }

    fn tenant() -> TenantId {
        TenantId::new(TENANT).expect("a tenant id")
    }

    fn count(&mut self, what: impl Into<String>) {
        *self.counts.entry(what.into()).or_default() += 1;
    }

    fn note(&mut self, line: String) {
        self.trace.push(format!("r{} {line}", self.round));
    }

    /// With `COSELL_SIM_VERBOSE` set, prints each outcome (for a seed being replayed).
    fn show(&self, outcomes: &[SyncOutcome]) {
        if std::env::var_os("COSELL_SIM_VERBOSE").is_none() {
            return;
        }
        for outcome in outcomes {
            let label = self
                .ids
                .iter()
                .position(|ids| {
                    (ids.referral.is_some() && ids.referral == outcome.referral_id)
                        || (ids.crm.is_some()
                            && ids.crm.as_deref().map(RecordId::new)
                                == outcome.crm_id.as_deref().map(RecordId::new))
                })
                .map_or_else(|| "?".to_owned(), |i| self.oracle.pairs[i].label.clone());
            eprintln!("    r{} {label}: {:?}", self.round, outcome.kind);
        }
    }

    /// With `COSELL_SIM_VERBOSE` set, prints the requests since the last call.
    fn show_requests(&self, from: usize) -> usize {
        let journal = self.h.emulator.journal();
        if std::env::var_os("COSELL_SIM_VERBOSE").is_some() {
            for entry in &journal[from.min(journal.len())..] {
                eprintln!(
                    "      {} {} {} {} {}",
                    entry.at,
                    entry.method,
                    entry.operation,
                    entry.record.as_deref().unwrap_or("-"),
                    entry.status.as_u16()
                );
            }
        }
        journal.len()
    }

    fn tick(&mut self, seconds: u64) -> i64 {
        self.clock.advance(Duration::from_secs(seconds));
        self.clock.now().as_second()
    }

    async fn start_worker(&mut self) -> Worker {
        self.workers_started += 1;
        let hook = Arc::new(Hook {
            crash_from: AtomicUsize::new(usize::MAX),
            crashed: AtomicBool::new(false),
            lose_baselines: self.mutation == Mutation::ForgetBaselines,
        });
        let store = Arc::new(ObservedStore::new(
            self.store.clone().expect("an open store"),
            hook.clone(),
        ));
        let name = format!("worker-{}", self.workers_started);
        // Start-up reads the CRM's metadata; a fault there is retried as a service would.
        for _ in 0..50 {
            let built = self
                .h
                .builder_on(self.h.mapping(), store.clone())
                .worker(name.clone())
                .clock(self.clock.clone())
                .max_in_flight(1)
                .build()
                .await;
            if let Ok(sync) = built {
                return Worker { sync, hook, store };
            }
        }
        panic!("seed {}: a worker never started", self.seed)
    }

    // --- the schedule ------------------------------------------------------------------------

    async fn play(&mut self) -> Result<Summary, String> {
        let rounds = 3 + self.rng.usize(..3);
        let mut worker = self.start_worker().await;
        for round in 0..=rounds {
            self.round = round;
            self.tick(120);
            if round == 0 {
                for _ in 0..2 + self.rng.usize(..3) {
                    self.share();
                }
                for _ in 0..1 + self.rng.usize(..3) {
                    self.seller_creates();
                }
            } else {
                for _ in 0..2 + self.rng.usize(..6) {
                    self.edit();
                }
            }
            self.tick(1);
            let delivery_start = self.h.emulator.journal().len();
            worker = self.deliver(worker).await;
            worker = self.settle(worker).await?;
            self.oracle.settle();
            self.learn_ids();
            self.sign();
            self.check(&worker, delivery_start).await?;
        }
        self.counts.insert(
            "fields both sides changed, newest record won".into(),
            self.oracle.newest_wins,
        );
        Ok(Summary {
            rounds,
            pairs: self.oracle.pairs.len(),
            crashes: self.crashes,
            faults_served: self
                .h
                .emulator
                .journal()
                .iter()
                .filter(|e| !e.status.is_success())
                .count(),
            counts: std::mem::take(&mut self.counts),
            signature: std::mem::take(&mut self.signature),
        })
    }

    fn deal(&mut self) -> Deal {
        Deal {
            name: self.name(),
            notes: self.notes(),
            cents: self.cents(),
            close: self.close_date(),
        }
    }

    fn name(&mut self) -> String {
        const WORDS: [&str; 8] = [
            "Fabrikam",
            "Contoso",
            "Adatum",
            "Litware",
            "Tailspin",
            "Northwind",
            "Wingtip",
            "Zava",
        ];
        format!(
            "{} {}",
            WORDS[self.rng.usize(..WORDS.len())],
            self.rng.u32(1..10_000)
        )
    }

    fn notes(&mut self) -> String {
        const WORDS: [&str; 8] = [
            "migrate", "forty", "VMs", "before", "the", "lease", "ends", "déjà",
        ];
        (0..1 + self.rng.usize(..6))
            .map(|_| WORDS[self.rng.usize(..WORDS.len())])
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn cents(&mut self) -> i64 {
        self.rng.i64(0..1_000_000_000)
    }

    fn close_date(&mut self) -> String {
        jiff::civil::date(2027, 1, 1)
            .checked_add(jiff::Span::new().days(self.rng.i64(0..700)))
            .expect("a date")
            .to_string()
    }

    fn share(&mut self) {
        let deal = self.deal();
        let mut referral = shared_referral(&deal.name);
        referral["details"]["notes"] = json!(deal.notes);
        referral["details"]["dealValue"] = json!(money(deal.cents));
        referral["details"]["closingDateTime"] = json!(format!("{}T00:00:00Z", deal.close));
        let id = self.h.share(referral);
        let pair = self.oracle.microsoft_shares(deal.clone(), self.round);
        self.ids.push(Ids {
            referral: Some(id.clone()),
            crm: None,
        });
        self.events.push(("referral-created", id));
        let label = self.oracle.pairs[pair].label.clone();
        self.count("edit: Microsoft shares a referral");
        self.note(format!("Microsoft shares {label} {deal}"));
    }

    fn seller_creates(&mut self) {
        // Unique: the harness's seller makes a contact whose e-mail comes from the name.
        let name = format!("{} {}", self.name(), self.oracle.pairs.len());
        let crm = self.h.seller_opportunity(&name);
        // The values the harness's seller gives every new opportunity.
        let deal = Deal {
            name,
            notes: "Move 40 VMs".into(),
            cents: 12_500_000,
            close: "2027-03-31".into(),
        };
        let pair = self.oracle.seller_creates(deal.clone(), self.round);
        self.ids.push(Ids {
            referral: None,
            crm: Some(crm),
        });
        let label = self.oracle.pairs[pair].label.clone();
        self.count("edit: a seller flags an opportunity");
        self.note(format!("a seller flags {label} {deal}"));
    }

    /// Pairs that existed on both sides before this round and are in `lives`.
    fn eligible(&self, test: impl Fn(&crate::oracle::Pair, &Ids) -> bool) -> Vec<usize> {
        (0..self.oracle.pairs.len())
            .filter(|&i| {
                let pair = &self.oracle.pairs[i];
                pair.since_round < self.round && test(pair, &self.ids[i])
            })
            .collect()
    }

    fn pick(&mut self, from: Vec<usize>) -> Option<usize> {
        (!from.is_empty()).then(|| from[self.rng.usize(..from.len())])
    }

    fn edit(&mut self) {
        let pause = 1 + self.rng.u64(..3);
        let at = self.tick(pause);
        match self.rng.u32(..100) {
            0..30 => {
                let open = self.eligible(|p, ids| {
                    matches!(p.life, Life::Active | Life::Deleted) && ids.referral.is_some()
                });
                let Some(pair) = self.pick(open) else { return };
                let field = FIELDS[self.rng.usize(..FIELDS.len())];
                let value = self.value(field);
                self.edit_partner_center(pair, field, &value);
                self.oracle.edit_partner_center(pair, field, &value, at);
            }
            30..60 => {
                let live = self.eligible(|p, ids| {
                    matches!(p.life, Life::Active | Life::Closed) && ids.crm.is_some()
                });
                let Some(pair) = self.pick(live) else { return };
                let field = FIELDS[self.rng.usize(..FIELDS.len())];
                let value = self.value(field);
                self.edit_crm(pair, field, &value);
                self.oracle.edit_crm(pair, field, &value, at);
            }
            60..70 => {
                let active = self.eligible(|p, ids| p.life == Life::Active && ids.crm.is_some());
                let Some(pair) = self.pick(active) else {
                    return;
                };
                let on = !self.oracle.pairs[pair].sync_on;
                let crm = self.ids[pair].crm.clone().expect("a CRM id");
                self.h
                    .edit_opportunity(&crm, json!({ self.h.column("sync"): on }));
                self.oracle.flip_sync_flag(pair, at);
                let label = self.oracle.pairs[pair].label.clone();
                self.count("edit: sync flag flipped");
                self.note(format!("a seller sets the sync flag of {label} to {on}"));
            }
            70..75 => {
                let settled = self.eligible(|p, ids| {
                    p.life == Life::Active
                        && p.sync_on
                        && p.partner_center_at.is_none()
                        && p.crm_at.is_none()
                        && ids.referral.is_some()
                });
                let Some(pair) = self.pick(settled) else {
                    return;
                };
                let id = self.ids[pair].referral.clone().expect("a referral id");
                self.h
                    .emulator
                    .partner_center()
                    .close_referral(&id, "Won")
                    .expect("the referral closes");
                self.oracle.close(pair);
                self.events.push(("referral-updated", id));
                let label = self.oracle.pairs[pair].label.clone();
                self.count("edit: referral closed");
                self.note(format!("Microsoft closes {label} as won"));
            }
            75..80 => {
                let active = self.eligible(|p, ids| p.life == Life::Active && ids.crm.is_some());
                let Some(pair) = self.pick(active) else {
                    return;
                };
                let crm = self.ids[pair].crm.clone().expect("a CRM id");
                self.h.delete_opportunity(&crm);
                self.oracle.delete(pair, self.round);
                let label = self.oracle.pairs[pair].label.clone();
                self.count("edit: opportunity deleted");
                self.note(format!("a seller deletes the opportunity of {label}"));
            }
            80..88 => {
                let pending = self.eligible(|p, _| p.life == Life::Pending);
                let Some(pair) = self.pick(pending) else {
                    return self.share();
                };
                let id = self.ids[pair].referral.clone().expect("a referral id");
                self.h.edit_referral(
                    &id,
                    json!([{"op": "replace", "path": "/status", "value": "Active"},
                           {"op": "replace", "path": "/substatus", "value": "Accepted"}]),
                );
                self.oracle.accept(pair, at);
                self.events.push(("referral-updated", id));
                let label = self.oracle.pairs[pair].label.clone();
                self.count("edit: referral accepted");
                self.note(format!("the partner accepts {label}"));
            }
            88..94 => self.share(),
            _ => self.seller_creates(),
        }
    }

    fn value(&mut self, field: Field) -> String {
        match field {
            Field::Name => self.name(),
            Field::Notes => self.notes(),
            Field::Value => self.cents().to_string(),
            Field::Close => self.close_date(),
        }
    }

    fn edit_partner_center(&mut self, pair: usize, field: Field, value: &str) {
        let (path, wire) = match field {
            Field::Name => ("/name", json!(value)),
            Field::Notes => ("/details/notes", json!(value)),
            Field::Value => (
                "/details/dealValue",
                json!(money(value.parse().expect("cents"))),
            ),
            Field::Close => (
                "/details/closingDateTime",
                json!(format!("{value}T00:00:00Z")),
            ),
        };
        let id = self.ids[pair].referral.clone().expect("a referral id");
        self.h
            .edit_referral(&id, json!([{"op": "replace", "path": path, "value": wire}]));
        self.events.push(("referral-updated", id));
        let label = self.oracle.pairs[pair].label.clone();
        self.count("edit: Partner Center field");
        self.note(format!("Microsoft sets {field:?} of {label} to {value:?}"));
    }

    fn edit_crm(&mut self, pair: usize, field: Field, value: &str) {
        let dataverse = self.kind == Kind::Dataverse;
        let (column, wire) = match field {
            Field::Name => (self.h.column("name"), json!(value)),
            Field::Notes => (self.h.column("notes"), json!(value)),
            Field::Value => (
                if dataverse {
                    "estimatedvalue"
                } else {
                    "Amount"
                },
                serde_json::from_str::<Value>(&money(value.parse().expect("cents")))
                    .expect("a number"),
            ),
            Field::Close => (
                if dataverse {
                    "estimatedclosedate"
                } else {
                    "CloseDate"
                },
                json!(value),
            ),
        };
        let crm = self.ids[pair].crm.clone().expect("a CRM id");
        self.h.edit_opportunity(&crm, json!({ column: wire }));
        let label = self.oracle.pairs[pair].label.clone();
        self.count("edit: CRM field");
        self.note(format!("a seller sets {field:?} of {label} to {value:?}"));
    }

    // --- delivery under faults ---------------------------------------------------------------

    fn draw_faults(&mut self) {
        let crm = self.h.crm_api();
        let (update, create) = match self.kind {
            Kind::Dataverse => ("dataverse.update", "dataverse.upsert"),
            Kind::Salesforce => ("update", "upsert"),
        };
        let faults = self.h.emulator.faults();
        let mut notes = Vec::new();
        for (api, update) in [
            (EmulatedApi::PartnerCenterReferrals, "referrals.update"),
            (crm, update),
        ] {
            let mut drawn = Vec::new();
            if self.rng.u32(..100) < 50 {
                let retry_after = Duration::from_secs(1 + self.rng.u64(..4));
                faults.add(
                    FaultRule::new(api, Fault::TooManyRequests { retry_after })
                        .trigger(Trigger::Rate(0.08)),
                );
                drawn.push(format!("429 Retry-After {}s", retry_after.as_secs()));
            }
            if self.rng.u32(..100) < 40 {
                faults.add(FaultRule::new(api, Fault::Unavailable).trigger(Trigger::Rate(0.05)));
                drawn.push("503".to_owned());
            }
            if self.rng.u32(..100) < 40 {
                faults.add(FaultRule::new(api, Fault::AnswerLost).trigger(Trigger::Rate(0.06)));
                drawn.push("answer lost".to_owned());
            }
            if self.rng.u32(..100) < 20 {
                faults.add(FaultRule::new(api, Fault::CloseMidAnswer).trigger(Trigger::Rate(0.03)));
                drawn.push("answer cut short".to_owned());
            }
            if self.rng.u32(..100) < 25 {
                // The round's first create is applied but its answer lost: the ids are not
                // written back when Partner Center announces the new referral.
                let create = if api == EmulatedApi::PartnerCenterReferrals {
                    "referrals.create"
                } else {
                    create
                };
                faults.add(
                    FaultRule::new(api, Fault::AnswerLost)
                        .operation(create)
                        .trigger(Trigger::First(1)),
                );
                drawn.push("first create's answer lost".to_owned());
            }
            if self.rng.u32(..100) < 30 {
                faults.add(
                    FaultRule::new(api, Fault::PreconditionFailed)
                        .operation(update)
                        .trigger(Trigger::Rate(0.3)),
                );
                drawn.push("forced 412".to_owned());
            }
            if !drawn.is_empty() {
                notes.push(format!("faults on {api:?}: {}", drawn.join(", ")));
            }
        }
        for note in notes {
            self.note(note);
        }
    }

    async fn deliver(&mut self, mut worker: Worker) -> Worker {
        self.draw_faults();
        let steps = 3 + self.rng.usize(..5);
        for _ in 0..steps {
            let action = match self.rng.u32(..100) {
                0..30 => Action::DeliverEvents,
                30..42 => Action::ProcessInbox,
                42..54 => Action::PollCrm,
                54..64 => Action::DeltaSweep,
                64..76 => Action::SyncOnePair,
                76..84 => Action::AnnounceOwnCreates,
                84..90 => Action::RevokeTokens,
                _ => Action::Crash,
            };
            if let Action::Crash = action {
                worker = self.crash(worker).await;
            } else {
                self.act(&worker, action, true).await;
            }
        }
        worker
    }

    /// One step of the delivery phase; `alive` says whether the worker's outcomes count (a
    /// worker about to crash reports nothing anyone keeps).
    async fn act(&mut self, worker: &Worker, action: Action, alive: bool) {
        let sync = &worker.sync;
        self.note(format!("{action:?}"));
        self.count(format!("step {action:?}"));
        let journal_from = self.h.emulator.journal().len();
        let mut outcomes = Vec::new();
        match action {
            Action::DeliverEvents => {
                let mut events = std::mem::take(&mut self.events);
                // Partner Center drops, repeats and reorders deliveries.
                let mut delivered = Vec::new();
                for event in events.drain(..) {
                    match self.rng.u32(..100) {
                        0..15 => {
                            self.count("webhook dropped");
                            self.note(format!("  {} dropped", event.0));
                        }
                        15..30 => {
                            self.count("webhook duplicated");
                            delivered.push(event.clone());
                            delivered.push(event);
                        }
                        _ => delivered.push(event),
                    }
                }
                if delivered.len() > 1 && self.rng.bool() {
                    self.count("webhooks reordered");
                    self.rng.shuffle(&mut delivered);
                }
                for (name, id) in delivered {
                    self.announced.insert(id.clone());
                    let at = self.clock.now().to_string();
                    let event = referral_event(name, &id, &at);
                    if self.rng.bool() {
                        outcomes.push(sync.handle_event(&event).await);
                    } else {
                        // Stored in the inbox, worked by a later step or the settling.
                        let _ = sync.enqueue(&event).await;
                    }
                }
            }
            Action::ProcessInbox => {
                if let Ok(done) = sync.process_inbox(100).await {
                    outcomes.extend(done);
                }
            }
            Action::PollCrm => {
                if let Ok(done) = sync.poll_crm().await {
                    outcomes.extend(done);
                }
            }
            Action::DeltaSweep => {
                if let Ok(report) = sync.reconcile(SweepMode::Delta).await {
                    outcomes.extend(report.outcomes);
                }
            }
            Action::SyncOnePair => {
                let known: Vec<Ids> = self.ids.clone();
                if let Some(i) = self.pick((0..known.len()).collect()) {
                    let ids = &known[i];
                    let outcome = match (&ids.referral, &ids.crm, self.rng.bool()) {
                        (Some(referral), _, true) | (Some(referral), None, _) => {
                            sync.sync_referral(referral).await
                        }
                        (_, Some(crm), _) => sync.sync_crm_record(crm).await,
                        (None, None, _) => return,
                    };
                    outcomes.push(outcome);
                }
            }
            Action::AnnounceOwnCreates => {
                // Referrals the sync created: Partner Center announces them, maybe before the
                // sync has written their ids back.
                let ours: Vec<String> = self
                    .h
                    .referrals()
                    .iter()
                    .filter_map(|r| r["id"].as_str().map(str::to_owned))
                    .filter(|id| !self.announced.contains(id))
                    .collect();
                for id in ours {
                    self.announced.insert(id.clone());
                    let at = self.clock.now().to_string();
                    outcomes.push(
                        sync.handle_event(&referral_event("referral-created", &id, &at))
                            .await,
                    );
                }
            }
            Action::RevokeTokens => self.h.emulator.tokens().revoke_all(),
            Action::Crash => unreachable!("handled by crash()"),
        }
        self.tick(1);
        self.show_requests(journal_from);
        self.show(&outcomes);
        if alive && !worker.hook.crashed.load(Ordering::SeqCst) {
            self.outcomes.extend(outcomes);
        }
    }

    /// The worker dies at a random store operation during a step or two: everything but the
    /// store is dropped, and a new process starts once the dead one's locks have lapsed.
    async fn crash(&mut self, worker: Worker) -> Worker {
        let at = worker.store.operations() + self.rng.usize(..40);
        worker.hook.crash_from.store(at, Ordering::SeqCst);
        self.note(format!("the worker will crash at store operation {at}"));
        for _ in 0..1 + self.rng.usize(..2) {
            let action = match self.rng.u32(..5) {
                0 => Action::DeliverEvents,
                1 => Action::ProcessInbox,
                2 => Action::PollCrm,
                3 => Action::DeltaSweep,
                _ => Action::SyncOnePair,
            };
            self.act(&worker, action, false).await;
        }
        let crashed = worker.hook.crashed.load(Ordering::SeqCst);
        if crashed {
            self.crashes += 1;
            self.count("step Crash");
        }
        drop(worker);
        self.note(format!("restart (crashed: {crashed})"));
        self.tick(90);
        self.open_store();
        self.start_worker().await
    }

    // --- settling -----------------------------------------------------------------------------

    async fn settle(&mut self, worker: Worker) -> Result<Worker, String> {
        self.h.emulator.faults().clear();
        drop(worker);
        self.tick(120);
        self.open_store();
        let worker = self.start_worker().await;
        let sync = &worker.sync;
        for _ in 0..4 {
            let before = self.h.writes().len();
            let mut outcomes = sync
                .process_inbox(10_000)
                .await
                .map_err(|e| format!("the inbox could not be worked: {e}"))?;
            let letters = sync
                .dead_letters(10_000)
                .await
                .map_err(|e| format!("dead letters could not be listed: {e}"))?;
            for letter in letters {
                if let Ok(Some(outcome)) = sync.retry_dead_letter(letter.id).await {
                    outcomes.push(outcome);
                }
            }
            let report = sync
                .reconcile(SweepMode::Full)
                .await
                .map_err(|e| format!("the full sweep failed: {e}"))?;
            outcomes.extend(report.outcomes);
            outcomes.extend(
                sync.poll_crm()
                    .await
                    .map_err(|e| format!("the CRM poll failed: {e}"))?,
            );
            self.show(&outcomes);
            self.outcomes.extend(outcomes);
            if self.h.writes().len() == before {
                return Ok(worker);
            }
            self.tick(1);
        }
        Err(format!(
            "not settled: four quiet passes still wrote: {:?}",
            self.h.writes()[self.h.writes().len().saturating_sub(6)..]
                .iter()
                .map(|e| format!("{} {} {}", e.method, e.operation, e.status))
                .collect::<Vec<_>>()
        ))
    }

    /// Ids the settling made: the opportunity made from a shared referral, the referral made
    /// from a flagged opportunity.
    fn learn_ids(&mut self) {
        let opportunities = self.h.opportunities();
        let referrals = self.h.referrals();
        let referral_column = self.h.column("referral_id");
        for (i, pair) in self.oracle.pairs.iter().enumerate() {
            let ids = &mut self.ids[i];
            if ids.crm.is_none() && pair.life != Life::Deleted {
                let referral = ids.referral.as_deref();
                ids.crm = opportunities
                    .iter()
                    .find(|o| o[referral_column].as_str() == referral)
                    .map(|o| self.h.id_of(o));
            }
            if ids.referral.is_none()
                && let Some(crm) = &ids.crm
            {
                let crm = RecordId::new(crm);
                ids.referral = referrals
                    .iter()
                    .find(|r| {
                        r["externalReferenceId"].as_str().map(RecordId::new) == Some(crm.clone())
                    })
                    .and_then(|r| r["id"].as_str().map(str::to_owned));
            }
        }
    }

    fn sign(&mut self) {
        let journal = self.h.emulator.journal();
        for entry in &journal[self.journal_seen..] {
            self.signature.push(format!(
                "{:?} {} {}",
                entry.api,
                entry.operation,
                entry.status.as_u16()
            ));
        }
        self.journal_seen = journal.len();
        let outcomes: Vec<String> = self
            .outcomes
            .iter()
            .map(|o| o.kind.name().to_owned())
            .collect();
        for outcome in &outcomes {
            self.count(format!("outcome {outcome}"));
        }
        self.signature.push(outcomes.join(","));
    }

    // --- the invariants ------------------------------------------------------------------------

    async fn check(&mut self, worker: &Worker, delivery_start: usize) -> Result<(), String> {
        self.no_duplicates()?;
        self.no_lost_change()?;
        self.nothing_written_where_forbidden(delivery_start)?;
        self.every_failure_visible(worker).await?;
        self.outcomes.clear();
        Ok(())
    }

    fn no_duplicates(&self) -> Result<(), String> {
        let opportunities = self.h.opportunities();
        let referrals = self.h.referrals();
        let column = self.h.column("referral_id");
        let mut per_referral: BTreeMap<String, usize> = BTreeMap::new();
        for opportunity in &opportunities {
            if let Some(id) = opportunity[column].as_str() {
                *per_referral.entry(id.to_owned()).or_default() += 1;
            }
        }
        let mut per_crm: BTreeMap<RecordId, usize> = BTreeMap::new();
        for referral in &referrals {
            if let Some(id) = referral["externalReferenceId"].as_str() {
                *per_crm.entry(RecordId::new(id)).or_default() += 1;
            }
        }
        for (i, pair) in self.oracle.pairs.iter().enumerate() {
            let ids = &self.ids[i];
            let label = &pair.label;
            let Some(referral) = &ids.referral else {
                return Err(format!("{label}: the flagged opportunity has no referral"));
            };
            let count = per_referral.get(referral).copied().unwrap_or(0);
            let expected = usize::from(pair.life != Life::Deleted);
            if count != expected {
                return Err(format!(
                    "{label}: {count} opportunities carry its referral id, {expected} expected"
                ));
            }
            if let Some(crm) = &ids.crm {
                let count = per_crm.get(&RecordId::new(crm)).copied().unwrap_or(0);
                if count > 1 {
                    return Err(format!("{label}: {count} referrals carry its CRM id"));
                }
            }
        }
        let live = self
            .oracle
            .pairs
            .iter()
            .filter(|p| p.life != Life::Deleted)
            .count();
        if opportunities.len() != live || referrals.len() != self.oracle.pairs.len() {
            return Err(format!(
                "{} opportunities and {} referrals, {live} and {} expected",
                opportunities.len(),
                referrals.len(),
                self.oracle.pairs.len()
            ));
        }
        Ok(())
    }

    fn no_lost_change(&self) -> Result<(), String> {
        for (i, pair) in self.oracle.pairs.iter().enumerate() {
            let ids = &self.ids[i];
            let label = &pair.label;
            let referral = ids
                .referral
                .as_deref()
                .map(|id| self.h.referral(id))
                .ok_or_else(|| format!("{label}: no referral"))?;
            let held = partner_center_deal(&referral);
            if held != pair.partner_center {
                return Err(format!(
                    "{label} ({:?}, {:?}, sync {}): Partner Center holds {held}, the oracle {}",
                    pair.origin, pair.life, pair.sync_on, pair.partner_center
                ));
            }
            if pair.life == Life::Deleted {
                continue;
            }
            let crm = ids
                .crm
                .as_deref()
                .and_then(|id| self.h.opportunity(id))
                .ok_or_else(|| format!("{label}: no opportunity"))?;
            let held = self.crm_deal(&crm);
            if held != pair.crm {
                return Err(format!(
                    "{label} ({:?}, {:?}, sync {}): the CRM holds {held}, the oracle {}",
                    pair.origin, pair.life, pair.sync_on, pair.crm
                ));
            }
            if pair.life == Life::Closed && !self.closed_won(&crm) {
                return Err(format!("{label}: won in Partner Center, open in the CRM"));
            }
        }
        Ok(())
    }

    fn closed_won(&self, row: &Value) -> bool {
        match self.kind {
            Kind::Dataverse => row["statecode"] == json!(1),
            Kind::Salesforce => row["StageName"] == json!("Closed Won"),
        }
    }

    fn crm_deal(&self, row: &Value) -> Deal {
        let (value, close) = match self.kind {
            Kind::Dataverse => ("estimatedvalue", "estimatedclosedate"),
            Kind::Salesforce => ("Amount", "CloseDate"),
        };
        Deal {
            name: text(&row[self.h.column("name")]),
            notes: text(&row[self.h.column("notes")]),
            cents: cents(&row[value]),
            close: date(&row[close]),
        }
    }

    /// No write reached a pair whose sync flag was off for the whole delivery and settling, nor
    /// a referral closed before it.
    fn nothing_written_where_forbidden(&self, delivery_start: usize) -> Result<(), String> {
        let journal = self.h.emulator.journal();
        let writes: Vec<_> = journal[delivery_start..]
            .iter()
            .filter(|e| e.method != http::Method::GET && e.status.is_success())
            .filter_map(|e| e.record.clone())
            .collect();
        for (i, pair) in self.oracle.pairs.iter().enumerate() {
            let ids = &self.ids[i];
            let mut forbidden = Vec::new();
            if !pair.sync_on {
                forbidden.extend(ids.referral.as_deref().map(|id| format!("referrals/{id}")));
                forbidden.extend(ids.crm.as_deref().map(|id| self.record_key(id)));
            }
            if pair.life == Life::Closed {
                forbidden.extend(ids.referral.as_deref().map(|id| format!("referrals/{id}")));
            }
            if let Some(hit) = writes.iter().find(|record| forbidden.contains(record)) {
                return Err(format!(
                    "{} ({:?}, sync {}): written to {hit}",
                    pair.label, pair.life, pair.sync_on
                ));
            }
        }
        Ok(())
    }

    fn record_key(&self, crm: &str) -> String {
        match self.kind {
            Kind::Dataverse => format!("opportunities({crm})"),
            Kind::Salesforce => format!("Opportunity/{crm}"),
        }
    }

    /// Every failure a live worker answered left an audit entry or a dead letter behind.
    async fn every_failure_visible(&self, worker: &Worker) -> Result<(), String> {
        let store = worker.sync.store();
        let tenant = World::tenant();
        for outcome in &self.outcomes {
            if !matches!(
                outcome.kind,
                OutcomeKind::Failed(_) | OutcomeKind::Rejected { .. }
            ) {
                continue;
            }
            let audit = store
                .audit(&tenant, outcome.pair, 10_000)
                .await
                .map_err(|e| format!("the audit trail could not be read: {e}"))?;
            let name = outcome.kind.name();
            let audited = audit.iter().any(|entry| {
                entry.outcome == name
                    && (outcome.pair.is_some()
                        || entry.records.iter().any(|r| match r {
                            RecordRef::Referral(id) => Some(id) == outcome.referral_id.as_ref(),
                            RecordRef::Crm(id) => Some(id) == outcome.crm_id.as_ref(),
                        }))
            });
            if !audited {
                return Err(format!(
                    "a {name} outcome left no audit entry: {:?}",
                    outcome.kind
                ));
            }
        }
        Ok(())
    }

    fn report(&self, failure: &str) -> String {
        format!(
            "seed {} ({:?}, strict {}, {} store, {:?}) failed in round {}: {failure}\n\
             replay: {}\nschedule:\n  {}",
            self.seed,
            self.kind,
            self.strict,
            self.store_name(),
            self.mutation,
            self.round,
            replay_command(self.seed, self.mutation),
            self.trace.join("\n  ")
        )
    }
}

/// Cents as the services' decimal text.
fn money(cents: i64) -> String {
    Decimal::new(cents, 2).to_string()
}

fn text(value: &Value) -> String {
    value.as_str().map(str::trim).unwrap_or_default().to_owned()
}

fn cents(value: &Value) -> i64 {
    let decimal: Option<Decimal> = match value {
        Value::Number(n) => n.to_string().parse().ok(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    decimal
        .and_then(|d| (d * Decimal::ONE_HUNDRED).round().try_into().ok())
        .unwrap_or(-1)
}

fn date(value: &Value) -> String {
    value
        .as_str()
        .map(|s| s.get(..10).unwrap_or(s).to_owned())
        .unwrap_or_default()
}

fn partner_center_deal(referral: &Value) -> Deal {
    Deal {
        name: text(&referral["name"]),
        notes: text(&referral["details"]["notes"]),
        cents: cents(&referral["details"]["dealValue"]),
        close: date(&referral["details"]["closingDateTime"]),
    }
}
