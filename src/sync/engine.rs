//! The synchronizer: one pair at a time, under the store's pair lock, converging by
//! construction.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value as Json, json};

use super::crm::{CreateDefaults, Crm, CrmRecord, SyncColumns};
use super::ids::RecordId;
use super::outcome::{OutcomeKind, SyncOutcome, SyncSide};
use super::scope::{Exclusion, Scope};
use super::setup::{SetupError, SetupProblem};
use crate::diff::{self, HeldLog, Resolution, WriteOutcome};
use crate::error::{Error, Result};
use crate::http::{Clock, Sleeper, SystemClock, TokioSleeper};
use crate::mapping::{
    CrmWrite, CrmWriteContext, DeclarativeMapping, FieldId, FieldMapping, MappingError,
    MappingIssue, PartnerCenterWrite, Projection, Record, Side, Value, audit_trail_with,
    changes_of, fields,
};
use crate::nullable::Nullable;
use crate::partner_center::referrals::{ReferralOrderField, ReferralPatch};
use crate::partner_center::{PartnerCenter, Referral};
use crate::store::{
    AuditEntry, Baseline, DeadLetter, DeadLetterId, InboxId, Link, LinkState, PairLock, RecordRef,
    Snapshot, StoreError, SyncStore, TenantId,
};
use crate::webhook::WebhookEvent;

#[path = "dead_letters.rs"]
mod dead_letters;
#[path = "preview.rs"]
mod preview;
#[path = "run.rs"]
mod run;
#[path = "sweep.rs"]
mod sweep;

use super::batching;
pub use dead_letters::DeadLetterRetries;
pub use preview::{PlannedAction, PlannedPair, SweepPreview};
pub use run::{RunReport, Schedule};
pub use sweep::{SweepMode, SweepPause, SweepProgress, SweepReport, SweepRequests};

/// The name of the CRM poll's checkpoint and lease.
const CRM_POLL: &str = "crm-poll";

/// A lease held for a job that may outlast `lock_ttl` (a sweep, a CRM poll): taken under a name
/// of its own, so that two jobs of one worker never share it, and renewed as the job goes.
struct JobLease {
    lease: crate::store::Lease,
    owner: String,
    renewed: Timestamp,
}

impl Inner {
    /// A name of its own for one pair sync or job of this worker: a store lets an owner take its
    /// own lock or lease over, which would let two syncs of one worker (its inbox and its poll)
    /// share one.
    fn owner_name(&self) -> String {
        let n = self
            .syncs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}#{n}", self.worker)
    }

    /// Takes the tenant's lease `name` for a job, or `None` while another job holds it.
    async fn take_lease(&self, name: &str) -> Result<Option<JobLease>> {
        let owner = self.owner_name();
        let lease = self
            .store
            .acquire_lease(&self.tenant, name, &owner, self.lock_ttl)
            .await?;
        Ok(lease.map(|lease| JobLease {
            lease,
            owner,
            renewed: self.clock.now(),
        }))
    }

    /// Renews a job's lease once a third of its time has passed. Answers `false` when another
    /// worker took it meanwhile: the job stops, and saves no checkpoint.
    async fn keep_lease(&self, job: &mut JobLease) -> Result<bool> {
        let now = self.clock.now();
        let third = SignedDuration::try_from(self.lock_ttl / 3).unwrap_or(SignedDuration::MAX);
        if now.duration_since(job.renewed) < third {
            return Ok(true);
        }
        match self
            .store
            .acquire_lease(&self.tenant, &job.lease.name, &job.owner, self.lock_ttl)
            .await?
        {
            Some(lease) => {
                job.lease = lease;
                job.renewed = now;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
/// How far back a fallback scan for a referral we created looks before its pending link.
const SCAN_MARGIN: SignedDuration = SignedDuration::from_secs(300);
/// The longest audit trail written into the CRM's audit column.
const AUDIT_CHARS: usize = 2000;

/// What triggered a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Trigger {
    Referral(String),
    Crm(String),
}

impl Trigger {
    fn record(&self) -> RecordRef {
        match self {
            Trigger::Referral(id) => RecordRef::Referral(id.clone()),
            Trigger::Crm(id) => RecordRef::Crm(RecordId::new(id).into_string()),
        }
    }
}

/// Keeps Partner Center referrals and one CRM's opportunities in step, both ways.
///
/// Built from a Partner Center client, a [`Crm`], a [`DeclarativeMapping`], a [`SyncStore`] and
/// a tenant ([`Synchronizer::builder`]). Each call syncs one pair under the store's pair lock and
/// answers a [`SyncOutcome`]; the store keeps the link, the baseline of the last sync, the audit
/// trail and the dead letters.
///
/// What a sync does, whichever side triggered it:
/// 1. lock the pair (both ids, in the store's fixed order); a pair another worker holds is
///    [`OutcomeKind::Busy`];
/// 2. read both sides fresh (a webhook is only a hint);
/// 3. link them: the store's link, else the CRM's referral-id column, else the CRM id in the
///    referral's `externalReferenceId` (ids compared as [`RecordId`]s);
/// 4. create the missing side (Partner Center → CRM by an upsert keyed on the referral id;
///    CRM → Partner Center after storing a pending link, so a lost answer is found again by
///    `externalReferenceId` before creating twice);
/// 5. three-way diff against the baseline, write only what changed (conditional writes; a
///    `412` or a lost answer re-reads and decides again), store the new baseline only after
///    the writes it describes succeeded.
///
/// "Newest wins" compares the server modification times both sides carry
/// (`updatedDateTime` against `modifiedon` / `LastModifiedDate`): the side that changed the
/// field later since the baseline wins.
#[derive(Debug, Clone)]
pub struct Synchronizer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    partner_center: PartnerCenter,
    crm: Arc<dyn Crm>,
    mapping: Arc<DeclarativeMapping>,
    store: Arc<dyn SyncStore>,
    tenant: TenantId,
    columns: SyncColumns,
    audit_column: Option<String>,
    scope: Scope,
    worker: String,
    lock_ttl: Duration,
    /// Numbers this worker's pair syncs and jobs (sweeps, polls), so that two of them never
    /// share a lock or a lease.
    syncs: std::sync::atomic::AtomicU64,
    attempts: u32,
    permits: tokio::sync::Semaphore,
    max_in_flight: usize,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    event_ttl: SignedDuration,
    poll_overlap: SignedDuration,
    audit_values: bool,
    /// The share of the CRM's API allowance a sweep stops at.
    crm_api_budget: f64,
}

/// Configures a [`Synchronizer`]; [`build`](Self::build) checks it against the CRM.
#[derive(Debug)]
pub struct SynchronizerBuilder {
    partner_center: PartnerCenter,
    crm: Arc<dyn Crm>,
    mapping: DeclarativeMapping,
    store: Arc<dyn SyncStore>,
    tenant: TenantId,
    scope: Scope,
    create: CreateDefaults,
    worker: String,
    lock_ttl: Duration,
    attempts: u32,
    max_in_flight: usize,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    event_ttl: Duration,
    poll_overlap: Duration,
    audit_values: bool,
    crm_api_budget: f64,
}

impl SynchronizerBuilder {
    /// Which referrals are synced (default: [`Scope::default`], co-sell opportunities in both
    /// directions, every status).
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    /// The owner of the records the sync creates in the CRM (a Dataverse `systemuser` id, a
    /// Salesforce user id).
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.create.owner = Some(owner.into());
        self
    }

    /// The Salesforce record type of the opportunities the sync creates.
    pub fn record_type(mut self, record_type: impl Into<String>) -> Self {
        self.create.record_type = Some(record_type.into());
        self
    }

    /// This worker's name in pair locks and leases (default: a random one).
    pub fn worker(mut self, name: impl Into<String>) -> Self {
        self.worker = name.into();
        self
    }

    /// How long a pair lock lasts before another worker may take the pair over (default 60 s).
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl;
        self
    }

    /// How many times a sync decides again after a `412` or a lost answer (default 4).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// How many pairs sync at once (default 8).
    pub fn max_in_flight(mut self, pairs: usize) -> Self {
        self.max_in_flight = pairs.max(1);
        self
    }

    /// The clock for the audit trail, links and event expiries (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// What waits between attempts to take over a pair's second id (default: tokio's timer).
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// How long an event's dedupe key is remembered (default 7 days: longer than Partner
    /// Center's redelivery window).
    pub fn event_ttl(mut self, ttl: Duration) -> Self {
        self.event_ttl = ttl;
        self
    }

    /// How far before its checkpoint the CRM poll looks again, for clocks that disagree and
    /// writes committed late (default 60 s).
    pub fn poll_overlap(mut self, overlap: Duration) -> Self {
        self.poll_overlap = overlap;
        self
    }

    /// The share of the CRM's API allowance past which a sweep stops (default 0.75): where the
    /// CRM reports one (Salesforce's rolling 24-hour allocation, shared with every other
    /// integration of the org), a sweep that finds usage at or above `fraction` of the limit
    /// syncs no further pair, keeps its checkpoints before the pairs it left, and says so in
    /// [`SweepReport::paused`](super::SweepReport::paused). Events and the CRM poll are not
    /// held back: they are the real-time path and cost a few requests each. Clamped to 0..=1.
    pub fn crm_api_budget(mut self, fraction: f64) -> Self {
        self.crm_api_budget = if fraction.is_nan() {
            1.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        self
    }

    /// Whether the store's audit trail keeps field values (default: off).
    ///
    /// Off, an [`AuditEntry`] holds the outcome, the records and the names of the fields
    /// concerned, and its detail says what happened in those terms; the message of a rejection
    /// or a failure, which may quote a value, is kept in the dead letter only (the detail names
    /// the letter). On, the detail also lists each written field's old and new value
    /// (`notes: "Move 40 VMs" → "Move 60 VMs" (CRM)`) and carries the full message. Values are
    /// customer data: turn this on only where the audit trail may hold them, and purge it
    /// ([`SyncStore::purge`] with a [`Retention`](crate::store::Retention) cut-off).
    pub fn audit_values(mut self, on: bool) -> Self {
        self.audit_values = on;
        self
    }

    /// Checks the configuration against the CRM (its metadata or describe: columns, option
    /// values, the referral-id key, the origin mark) and builds the synchronizer.
    ///
    /// # Errors
    /// [`Error::Setup`] naming every problem found; the CRM's errors when it cannot be read.
    pub async fn build(self) -> Result<Synchronizer> {
        let columns = self.columns()?;
        let problems = self.crm.check(&self.mapping, &columns).await?;
        if !problems.is_empty() {
            return Err(SetupError::new(self.crm.name(), problems).into());
        }
        Ok(self.finish(columns))
    }

    fn columns(&self) -> Result<SyncColumns> {
        let path = |field| {
            self.mapping
                .rule(field)
                .and_then(|rule| rule.crm_path())
                .map(str::to_owned)
        };
        let referral_id = path(fields::REFERRAL_ID).ok_or_else(|| {
            SetupError::new(
                self.crm.name(),
                vec![SetupProblem::Unmapped {
                    field: "referral_id",
                }],
            )
        })?;
        Ok(SyncColumns {
            read: self.mapping.crm_read_fields(),
            referral_id,
            sync_flag: path(fields::SYNC_WITH_PARTNER_CENTER),
            create: self.create.clone(),
        })
    }

    fn finish(self, columns: SyncColumns) -> Synchronizer {
        let audit_column = self
            .mapping
            .rule(fields::AUDIT_TRAIL)
            .and_then(|rule| rule.crm_path())
            .map(str::to_owned);
        let signed = |d: Duration| SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
        Synchronizer {
            inner: Arc::new(Inner {
                partner_center: self.partner_center,
                crm: self.crm,
                mapping: Arc::new(self.mapping),
                store: self.store,
                tenant: self.tenant,
                columns,
                audit_column,
                scope: self.scope,
                worker: self.worker,
                lock_ttl: self.lock_ttl,
                syncs: std::sync::atomic::AtomicU64::new(0),
                attempts: self.attempts,
                permits: tokio::sync::Semaphore::new(self.max_in_flight),
                max_in_flight: self.max_in_flight,
                clock: self.clock,
                sleeper: self.sleeper,
                event_ttl: signed(self.event_ttl),
                poll_overlap: signed(self.poll_overlap),
                audit_values: self.audit_values,
                crm_api_budget: self.crm_api_budget,
            }),
        }
    }
}

/// What a linked pair's sync writes, as [`Synchronizer::decide_pair`] decided it.
struct PairDecision {
    /// The last synced state (the stored baseline, or the other side when there is none).
    baseline: Record,
    /// The held changes and conflicts already recorded.
    held_log: HeldLog,
    /// The diff, with what a side cannot take held back.
    plan: diff::SyncPlan,
    /// The referral's write.
    pc_write: PartnerCenterWrite,
    /// The CRM record's write.
    crm_write: CrmWrite,
}

/// The mutable state of one sync of one pair.
struct Pass {
    lock: PairLock,
    link: Option<Link>,
    unmapped: Vec<String>,
    /// The values written, for the audit trail (kept only with `audit_values`).
    values: Vec<String>,
    /// The referral in hand is the copy a sweep listed, not one read under the lock: good for
    /// writing the CRM (conditionally), re-read before anything is written to Partner Center.
    listed: bool,
}

/// Why a pass could not go on: an error, another worker holding the pair's other id, or — in
/// a batched chunk — a decided CRM write that goes out with the rest of the chunk's.
enum Stop {
    Busy,
    Error(Error),
    Deferred(Box<DeferredWrite>),
}

/// What a pass of a batched chunk decided when its one write is to the CRM: the write, and
/// what to store and answer once it succeeds. The pass ends there, so a pair waiting for the
/// chunk's batched write holds this alone, not the state its decision took.
struct DeferredWrite {
    pair: crate::store::PairId,
    update: (CrmRecord, PackedWrite),
    /// The baseline to store once the write is made.
    save: Baseline,
    outcome: SyncOutcome,
}

/// A decided CRM write as a chunk holds it until its batch goes out: the body as JSON text,
/// and the rest of the write only when there is any. A body of one or two columns is a
/// `BTreeMap` node of 11 slots (about 630 bytes) decoded, its text about 170; a write is 128
/// bytes inline, mostly empty collections; a large sweep holds a thousand of them.
struct PackedWrite {
    body: Box<str>,
    /// The rest of the write (its body empty), when it is not empty too.
    rest: Option<Box<CrmWrite>>,
}

impl PackedWrite {
    fn pack(mut write: CrmWrite) -> Self {
        let body = Json::Object(std::mem::take(&mut write.body)).to_string();
        PackedWrite {
            body: body.into_boxed_str(),
            rest: (write != CrmWrite::default()).then(|| Box::new(write)),
        }
    }

    /// The write as decided (a JSON value's text reads back as that value).
    fn unpack(&self) -> Result<CrmWrite> {
        let mut write = self.rest.as_deref().cloned().unwrap_or_default();
        write.body = serde_json::from_str(&self.body)
            .map_err(|e| Error::validation(format!("a held CRM write could not be read: {e}")))?;
        Ok(write)
    }
}

/// A pair of a batched chunk whose decided CRM write waits for the chunk's batched write; it
/// keeps the pair's lock until [`Synchronizer::finish_deferred`] applies the write's answer.
struct Deferred {
    /// The record (its id and version, no body) and the write, conditional on that version.
    update: (CrmRecord, PackedWrite),
    then: AfterWrite,
}

/// What a deferred write's pair does once the write succeeded.
struct AfterWrite {
    trigger: Trigger,
    lock: PairLock,
    pair: crate::store::PairId,
    save: Baseline,
    outcome: SyncOutcome,
    values: Vec<String>,
}

/// The referral a pass syncs: read under the lock, or the copy a batched sweep listed, held
/// as its text until the pass needs it (a chunk's pairs wait for their bulk read and the
/// store together; a decoded `Referral` is 2.3 KB inline and more on the heap, its text about
/// 1.3 KB). Boxed when decoded, as is every referral a pass reads or writes.
enum ReferralCopy {
    Read(Box<Referral>),
    Listed(batching::ListedReferral),
}

impl ReferralCopy {
    /// The referral, decoding the listed copy on first use; `None` if that copy cannot be
    /// read (then the pass reads the referral itself).
    fn decoded(&mut self) -> Option<&mut Referral> {
        if let ReferralCopy::Listed(listed) = self {
            *self = ReferralCopy::Read(listed.decode()?);
        }
        match self {
            ReferralCopy::Read(referral) => Some(referral),
            ReferralCopy::Listed(_) => None,
        }
    }
}

/// How one pair sync of a batched chunk ended.
enum PairRun {
    Done(SyncOutcome),
    Deferred(Box<Deferred>),
}

/// A deferred write's pair, once the write's answer is applied.
enum Applied {
    Done(SyncOutcome),
    /// The write was refused as stale (or its answer lost, or the lock taken over): the pair
    /// decides again.
    Again(Trigger),
}

/// How one attempt at a pair ended.
enum Attempted {
    Done(SyncOutcome, Vec<String>),
    Deferred(Box<Deferred>),
}

impl<E: Into<Error>> From<E> for Stop {
    fn from(error: E) -> Self {
        Stop::Error(error.into())
    }
}

type Step<T> = std::result::Result<T, Stop>;

fn mapping_error(error: MappingError) -> Error {
    Error::Mapping(Box::new(error))
}

/// Whether deciding again may help: a version moved under a conditional write, an answer was
/// lost, or our lock was taken over.
fn worth_retrying(error: &Error) -> bool {
    error.is_conflict()
        || error.is_outcome_unknown()
        || matches!(error, Error::Store(StoreError::Fenced { .. }))
}

/// Whether the data itself was refused (kept as a dead letter, reported as rejected).
fn rejection(error: &Error) -> Option<String> {
    match error {
        Error::Mapping(mapping) => Some(mapping.to_string()),
        Error::Validation(text) => Some(text.clone()),
        Error::Api(api) if api.kind == crate::error::ApiErrorKind::BadRequest => {
            Some(error.to_string())
        }
        _ => None,
    }
}

impl Synchronizer {
    /// Starts configuring a synchronizer.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use cosell::mapping::dynamics365;
    /// use cosell::store::{MemoryStore, TenantId};
    /// use cosell::sync::{DataverseCrm, Synchronizer};
    ///
    /// # async fn run(partner_center: cosell::partner_center::PartnerCenter, dataverse: cosell::dataverse::Dataverse) -> cosell::Result<()> {
    /// let sync = Synchronizer::builder(
    ///     partner_center,
    ///     DataverseCrm::new(dataverse),
    ///     dynamics365().build()?,
    ///     Arc::new(MemoryStore::new()),
    ///     TenantId::new("contoso")?,
    /// )
    /// .build()
    /// .await?;
    /// let outcome = sync.sync_referral("4f0c5b1e-0000-0000-0000-0000000000e1").await;
    /// println!("{}", outcome.kind);
    /// # Ok(()) }
    /// ```
    pub fn builder(
        partner_center: PartnerCenter,
        crm: impl Crm + 'static,
        mapping: DeclarativeMapping,
        store: Arc<dyn SyncStore>,
        tenant: TenantId,
    ) -> SynchronizerBuilder {
        SynchronizerBuilder {
            partner_center,
            crm: Arc::new(crm),
            mapping,
            store,
            tenant,
            scope: Scope::default(),
            create: CreateDefaults::default(),
            worker: format!("worker-{}", uuid::Uuid::new_v4()),
            lock_ttl: Duration::from_secs(60),
            attempts: 4,
            max_in_flight: 8,
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
            event_ttl: Duration::from_secs(7 * 24 * 3600),
            poll_overlap: Duration::from_secs(60),
            audit_values: false,
            crm_api_budget: 0.75,
        }
    }

    /// The tenant this synchronizer serves.
    pub fn tenant(&self) -> &TenantId {
        &self.inner.tenant
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn SyncStore> {
        &self.inner.store
    }

    /// The CRM columns the sync reads and keys on.
    pub fn columns(&self) -> &SyncColumns {
        &self.inner.columns
    }

    /// Handles a verified webhook event: a redelivery (same dedupe key) is
    /// [`OutcomeKind::Duplicate`]; otherwise the referral it names is fetched and synced
    /// ([`sync_referral`](Self::sync_referral)). `related-referral-*` events name another
    /// referral of the same engagement: it is fetched and synced when it is in scope, like any
    /// other. The key is remembered once the sync settled (not when it was busy or failed).
    pub async fn handle_event(&self, event: &WebhookEvent) -> SyncOutcome {
        let key = event.dedupe_key();
        let store = &self.inner.store;
        match store.is_processed(&self.inner.tenant, key.as_str()).await {
            Ok(true) => {
                return SyncOutcome {
                    pair: None,
                    referral_id: event.referral_id(),
                    crm_id: None,
                    kind: OutcomeKind::Duplicate,
                    unmapped: Vec::new(),
                };
            }
            Ok(false) => {}
            Err(error) => return self.failed(None, Error::from(error)),
        }
        let Some(referral_id) = event.referral_id() else {
            return SyncOutcome {
                pair: None,
                referral_id: None,
                crm_id: None,
                kind: OutcomeKind::Excluded(Exclusion::NotFound),
                unmapped: Vec::new(),
            };
        };
        let outcome = self.sync_referral(&referral_id).await;
        if !matches!(outcome.kind, OutcomeKind::Busy | OutcomeKind::Failed(_)) {
            let expires = self.inner.clock.now() + self.inner.event_ttl;
            if let Err(error) = store
                .mark_processed(&self.inner.tenant, key.as_str(), expires)
                .await
            {
                tracing::warn!(%error, "the event's dedupe key could not be stored");
            }
        }
        outcome
    }

    /// Keeps a verified event in the store's inbox, for a worker to sync
    /// ([`process_inbox`](Self::process_inbox)): what a webhook receiver does before answering.
    /// `None` when the same event (its dedupe key) is already waiting.
    ///
    /// # Errors
    /// The store's.
    pub async fn enqueue(&self, event: &WebhookEvent) -> Result<Option<InboxId>> {
        let payload = serde_json::to_value(event).map_err(|e| Error::validation(e.to_string()))?;
        Ok(self
            .inner
            .store
            .enqueue(&self.inner.tenant, event.dedupe_key().as_str(), payload)
            .await?)
    }

    /// Claims up to `max` events of this tenant from the inbox and syncs each
    /// ([`handle_event`](Self::handle_event)). A pair another worker holds puts its event back
    /// for later; every other outcome completes the event (a failure is kept as a dead letter).
    /// An event this worker dies holding is claimed again once its lease lapses.
    ///
    /// # Errors
    /// The store's, when events cannot be claimed. An event whose payload is not an event is
    /// dead-lettered and completed.
    pub async fn process_inbox(&self, max: usize) -> Result<Vec<SyncOutcome>> {
        let inner = &self.inner;
        let claims = inner
            .store
            .claim_events(Some(&inner.tenant), &inner.worker, inner.lock_ttl, max)
            .await?;
        let outcomes = futures::stream::iter(claims)
            .map(|claim| async move {
                let event: Option<WebhookEvent> =
                    serde_json::from_value(claim.event.payload.clone()).ok();
                let outcome = match &event {
                    Some(event) => self.handle_event(event).await,
                    None => {
                        let error = Error::validation("an inbox payload is not a webhook event");
                        let outcome = self.failed(None, error);
                        let letter = DeadLetter {
                            id: DeadLetterId(0),
                            tenant: inner.tenant.clone(),
                            records: Vec::new(),
                            error: outcome.kind.to_string(),
                            kind: "inbox".into(),
                            payload: claim.event.payload.clone(),
                            attempts: claim.event.attempts,
                            at: inner.clock.now(),
                        };
                        if let Err(error) = inner.store.add_dead_letter(letter).await {
                            tracing::error!(%error, "a malformed inbox event could not be kept");
                        }
                        outcome
                    }
                };
                let settled = match outcome.kind {
                    OutcomeKind::Busy => {
                        let later = inner.clock.now() + SignedDuration::from_secs(5);
                        inner.store.retry_event(&claim, later).await
                    }
                    _ => inner.store.complete_event(&claim).await,
                };
                if let Err(error) = settled {
                    tracing::warn!(%error, "an inbox event could not be settled; it will be claimed again");
                }
                outcome
            })
            .buffered(inner.max_in_flight)
            .collect()
            .await;
        Ok(outcomes)
    }

    /// Syncs the pair of a referral (Partner Center → CRM, and whatever the CRM changed back).
    pub async fn sync_referral(&self, referral_id: &str) -> SyncOutcome {
        self.run_one(Trigger::Referral(referral_id.to_owned()))
            .await
    }

    /// Syncs the pair of a CRM record (CRM → Partner Center, and back), for callers with their
    /// own trigger (a plug-in, an Apex trigger, a queue).
    pub async fn sync_crm_record(&self, crm_id: &str) -> SyncOutcome {
        self.run_one(Trigger::Crm(crm_id.to_owned())).await
    }

    /// Syncs many referrals, at most [`max_in_flight`](SynchronizerBuilder::max_in_flight) at
    /// once; outcomes in the order of `ids`.
    pub async fn sync_referrals<I, S>(&self, ids: I) -> Vec<SyncOutcome>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.run_many(ids, Trigger::Referral).await
    }

    /// Syncs many CRM records, at most [`max_in_flight`](SynchronizerBuilder::max_in_flight)
    /// at once; outcomes in the order of `ids`.
    pub async fn sync_crm_records<I, S>(&self, ids: I) -> Vec<SyncOutcome>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.run_many(ids, Trigger::Crm).await
    }

    async fn run_many<I, S>(&self, ids: I, trigger: fn(String) -> Trigger) -> Vec<SyncOutcome>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        // Owned triggers, so the future stays `Send`.
        let triggers: Vec<Trigger> = ids
            .into_iter()
            .map(|id| trigger(id.as_ref().to_owned()))
            .collect();
        futures::stream::iter(triggers)
            .map(|trigger| self.run_one(trigger))
            .buffered(self.inner.max_in_flight)
            .collect()
            .await
    }

    /// Polls the CRM for records with the sync flag set that changed since the last poll and
    /// syncs each (call it every 30 s or so; the connector asks sellers to wait 10 minutes).
    /// One worker per tenant polls at a time (a lease); another gets an empty list. The
    /// checkpoint is the CRM's own modification time of the newest settled record (never this
    /// machine's clock) and never moves past a busy one, which is polled again.
    ///
    /// # Errors
    /// The store's or the CRM's errors before any record was synced.
    pub async fn poll_crm(&self) -> Result<Vec<SyncOutcome>> {
        let inner = &self.inner;
        let Some(mut job) = inner.take_lease(CRM_POLL).await? else {
            return Ok(Vec::new());
        };
        let previous = inner
            .store
            .checkpoint(&inner.tenant, CRM_POLL)
            .await?
            .map(|checkpoint| checkpoint.at);
        let since = previous
            .map(|at| at - inner.poll_overlap)
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let changed = match inner.crm.changed_since(since, &inner.columns).await {
            Ok(changed) => changed,
            Err(error) => {
                let _ = inner.store.release_lease(&job.lease).await;
                return Err(error);
            }
        };
        let mut outcomes = Vec::with_capacity(changed.len());
        // Owned jobs, so the poll's future stays `Send`.
        let jobs: Vec<Trigger> = changed
            .iter()
            .map(|(id, _)| Trigger::Crm(id.clone()))
            .collect();
        let mut syncs = futures::stream::iter(jobs)
            .map(|trigger| self.run_one(trigger))
            .buffered(inner.max_in_flight);
        let mut kept = true;
        while let Some(outcome) = syncs.next().await {
            outcomes.push(outcome);
            if !inner.keep_lease(&mut job).await? {
                kept = false;
                break;
            }
        }
        drop(syncs);
        if !kept {
            tracing::warn!("another worker took the CRM poll over; this one stops");
            return Ok(outcomes);
        }
        // The CRM's own times of settled records, never this machine's clock.
        let next = sweep::next_checkpoint(
            previous,
            changed
                .iter()
                .zip(&outcomes)
                .map(|((_, modified), outcome)| {
                    (Some(*modified), !matches!(outcome.kind, OutcomeKind::Busy))
                }),
        );
        let Some(at) = next else {
            let _ = inner.store.release_lease(&job.lease).await;
            return Ok(outcomes);
        };
        let checkpoint = crate::store::Checkpoint { at, last_id: None };
        let saved = inner
            .store
            .save_checkpoint(&job.lease, CRM_POLL, &checkpoint)
            .await;
        let _ = inner.store.release_lease(&job.lease).await;
        saved?;
        Ok(outcomes)
    }

    // --- one pair ------------------------------------------------------------------------

    async fn run_one(&self, trigger: Trigger) -> SyncOutcome {
        let _permit = self.inner.permits.acquire().await;
        self.run_pair(trigger).await
    }

    /// [`run_one`](Self::run_one) without an in-flight permit.
    async fn run_pair(&self, trigger: Trigger) -> SyncOutcome {
        match self.run_pair_deferring(trigger).await {
            PairRun::Done(outcome) => outcome,
            // Only a batched chunk's pairs defer their writes; should one be handed back here,
            // it is written alone.
            PairRun::Deferred(deferred) => {
                let Deferred {
                    update: (record, write),
                    then,
                } = *deferred;
                let result = match write.unpack() {
                    Ok(write) => self.inner.crm.update(&record, &write).await,
                    Err(error) => Err(error),
                };
                match self.finish_deferred(then, result).await {
                    Applied::Done(outcome) => outcome,
                    Applied::Again(trigger) => Box::pin(self.run_pair(trigger)).await,
                }
            }
        }
    }

    /// A pair sync, which in a batched chunk (a sweep's, whose Partner Center requests take an
    /// in-flight permit each) may end with its CRM write decided but not sent.
    async fn run_pair_deferring(&self, trigger: Trigger) -> PairRun {
        let mut last = None;
        for _ in 0..self.inner.attempts {
            // Boxed: a pair's sync is a deep future, kept off the caller's stack so that many
            // can be joined.
            match Box::pin(self.attempt(&trigger)).await {
                Ok(Attempted::Done(outcome, values)) => {
                    self.audit(&trigger, &outcome, None, &values).await;
                    return PairRun::Done(outcome);
                }
                Ok(Attempted::Deferred(deferred)) => return PairRun::Deferred(deferred),
                Err(error) if worth_retrying(&error) => last = Some(error),
                Err(error) => {
                    last = Some(error);
                    break;
                }
            }
        }
        let error = last.unwrap_or_else(|| Error::validation("the sync made no attempt"));
        PairRun::Done(self.give_up(&trigger, error).await)
    }

    /// The outcome of a pair sync that failed for good: a dead letter where the error calls
    /// for one, and its audit entry.
    async fn give_up(&self, trigger: &Trigger, error: Error) -> SyncOutcome {
        let outcome = self.failed(Some(trigger), error);
        let letter = match &outcome.kind {
            OutcomeKind::Failed(error) => {
                self.dead_letter(trigger, error.to_string(), "failed").await
            }
            OutcomeKind::Rejected { reason } => {
                self.dead_letter(trigger, reason.clone(), "rejected").await
            }
            _ => None,
        };
        self.audit(trigger, &outcome, letter, &[]).await;
        outcome
    }

    /// Applies the answer to a deferred CRM write: on success, stores the pair's baseline and
    /// audits its outcome; a stale version, a lost answer or a lock taken over sends the pair
    /// round again; any other failure is final (dead-lettered as the pair's own would be). The
    /// pair's lock is released either way.
    async fn finish_deferred(&self, then: AfterWrite, result: Result<()>) -> Applied {
        let AfterWrite {
            trigger,
            lock,
            pair,
            mut save,
            outcome,
            values,
        } = then;
        let stored = match result {
            Ok(()) => {
                save.updated_at = self.inner.clock.now();
                self.inner
                    .store
                    .save_baseline(&lock, pair, &save)
                    .await
                    .map_err(Error::from)
            }
            Err(error) => Err(error),
        };
        let _ = self.inner.store.unlock_pair(&lock).await;
        match stored {
            Ok(()) => {
                self.audit(&trigger, &outcome, None, &values).await;
                Applied::Done(outcome)
            }
            Err(error) if worth_retrying(&error) => Applied::Again(trigger),
            Err(error) => Applied::Done(self.give_up(&trigger, error).await),
        }
    }

    fn failed(&self, trigger: Option<&Trigger>, error: Error) -> SyncOutcome {
        let (referral_id, crm_id) = match trigger {
            Some(Trigger::Referral(id)) => (Some(id.clone()), None),
            Some(Trigger::Crm(id)) => (None, Some(id.clone())),
            None => (None, None),
        };
        let kind = match rejection(&error) {
            Some(reason) => OutcomeKind::Rejected { reason },
            None => OutcomeKind::Failed(Arc::new(error)),
        };
        SyncOutcome {
            pair: None,
            referral_id,
            crm_id,
            kind,
            unmapped: Vec::new(),
        }
    }

    async fn dead_letter(
        &self,
        trigger: &Trigger,
        error: String,
        why: &str,
    ) -> Option<DeadLetterId> {
        let kind = match trigger {
            Trigger::Referral(_) => "referral",
            Trigger::Crm(_) => "crm",
        };
        let letter = DeadLetter {
            id: DeadLetterId(0),
            tenant: self.inner.tenant.clone(),
            records: vec![trigger.record()],
            error,
            kind: kind.into(),
            payload: json!({ "outcome": why }),
            attempts: self.inner.attempts,
            at: self.inner.clock.now(),
        };
        // One letter per pair and side that keeps failing, however many events fail on it.
        match self.inner.store.merge_dead_letter(letter).await {
            Ok(id) => Some(id),
            Err(error) => {
                tracing::error!(%error, "a failed sync could not be kept as a dead letter");
                None
            }
        }
    }

    async fn audit(
        &self,
        trigger: &Trigger,
        outcome: &SyncOutcome,
        letter: Option<DeadLetterId>,
        values: &[String],
    ) {
        let mut records = vec![trigger.record()];
        for record in [
            outcome.referral_id.clone().map(RecordRef::Referral),
            outcome.crm_id.clone().map(RecordRef::Crm),
        ]
        .into_iter()
        .flatten()
        {
            if !records.contains(&record) {
                records.push(record);
            }
        }
        let entry = AuditEntry {
            tenant: self.inner.tenant.clone(),
            pair: outcome.pair,
            records,
            at: self.inner.clock.now(),
            outcome: outcome.kind.name().into(),
            fields: outcome.kind.fields(),
            detail: Some(self.audit_detail(&outcome.kind, letter, values)),
        };
        if let Err(error) = self.inner.store.append_audit(entry).await {
            tracing::error!(%error, "the audit entry could not be stored");
        }
    }

    /// An audit entry's detail: the outcome in words, values only with `audit_values`.
    fn audit_detail(
        &self,
        kind: &OutcomeKind,
        letter: Option<DeadLetterId>,
        values: &[String],
    ) -> String {
        let mut detail = match kind {
            // A service's or the mapping's message may quote a value: the dead letter keeps it.
            OutcomeKind::Rejected { .. } | OutcomeKind::Failed(_) if !self.inner.audit_values => {
                kind.name().to_owned()
            }
            _ => kind.to_string(),
        };
        if let Some(letter) = letter {
            detail.push_str(&format!("; dead letter {}", letter.0));
        }
        if self.inner.audit_values && !values.is_empty() {
            detail.push_str(&format!("; values: {}", values.join("; ")));
        }
        detail
    }

    /// Keeps the values of a successful write for the audit trail, when it keeps values.
    fn note_values<'a>(
        &self,
        pass: &mut Pass,
        side: Side,
        changes: impl IntoIterator<Item = (FieldId, Option<&'a Value>, &'a Value)>,
    ) {
        if !self.inner.audit_values {
            return;
        }
        let side = match side {
            Side::PartnerCenter => "Partner Center",
            Side::Crm => "CRM",
        };
        for (field, old, new) in changes {
            let old = old.map_or_else(|| "∅".to_owned(), shown);
            pass.values.push(format!(
                "{}: {old} → {} ({side})",
                self.field_name(field),
                shown(new)
            ));
        }
    }

    /// The fields a plan writes to `side`, less those held back there.
    fn written_fields(&self, plan: &diff::SyncPlan, side: Side) -> Vec<String> {
        plan.changes_for(side)
            .iter()
            .filter(|(field, _)| {
                !plan
                    .held()
                    .iter()
                    .any(|held| held.side == side && held.field == *field)
            })
            .map(|(field, _)| self.field_name(field))
            .collect()
    }

    fn field_name(&self, field: FieldId) -> String {
        self.inner
            .mapping
            .schema()
            .field(field)
            .map_or_else(|| field.to_string(), |spec| spec.name().to_owned())
    }

    async fn attempt(&self, trigger: &Trigger) -> Result<Attempted> {
        let inner = &self.inner;
        let link = match trigger {
            Trigger::Referral(id) => inner.store.link_by_referral(&inner.tenant, id).await?,
            Trigger::Crm(id) => {
                let id = RecordId::new(id);
                inner.store.link_by_crm(&inner.tenant, id.as_str()).await?
            }
        };
        let owner = inner.owner_name();
        let mut records = vec![trigger.record()];
        if let Some(link) = &link {
            for record in link.records() {
                if !records.contains(&record) {
                    records.push(record);
                }
            }
        }
        let Some(lock) = inner
            .store
            .lock_pair(&inner.tenant, &records, &owner, inner.lock_ttl)
            .await?
        else {
            return Ok(Attempted::Done(
                self.busy(trigger, link.as_ref()),
                Vec::new(),
            ));
        };
        let mut pass = Pass {
            lock,
            link,
            unmapped: Vec::new(),
            values: Vec::new(),
            listed: false,
        };
        let result = match trigger {
            Trigger::Referral(id) => Box::pin(self.start_at_referral(&mut pass, id)).await,
            Trigger::Crm(id) => Box::pin(self.start_at_crm(&mut pass, &RecordId::new(id))).await,
        };
        // A deferred write keeps the pair locked until its answer is applied.
        if !matches!(result, Err(Stop::Deferred(_))) {
            let _ = inner.store.unlock_pair(&pass.lock).await;
        }
        match result {
            Ok(mut outcome) => {
                outcome.unmapped = std::mem::take(&mut pass.unmapped);
                Ok(Attempted::Done(outcome, pass.values))
            }
            Err(Stop::Busy) => Ok(Attempted::Done(
                self.busy(trigger, pass.link.as_ref()),
                Vec::new(),
            )),
            Err(Stop::Error(error)) => Err(error),
            Err(Stop::Deferred(deferred)) => {
                let DeferredWrite {
                    pair,
                    update,
                    save,
                    mut outcome,
                } = *deferred;
                outcome.unmapped = pass.unmapped;
                Ok(Attempted::Deferred(Box::new(Deferred {
                    update,
                    then: AfterWrite {
                        trigger: trigger.clone(),
                        lock: pass.lock,
                        pair,
                        save,
                        outcome,
                        values: pass.values,
                    },
                })))
            }
        }
    }

    fn busy(&self, trigger: &Trigger, link: Option<&Link>) -> SyncOutcome {
        let mut outcome = self.outcome(link, OutcomeKind::Busy);
        match trigger {
            Trigger::Referral(id) => outcome.referral_id = Some(id.clone()),
            Trigger::Crm(id) => outcome.crm_id = Some(id.clone()),
        }
        outcome
    }

    fn outcome(&self, link: Option<&Link>, kind: OutcomeKind) -> SyncOutcome {
        SyncOutcome {
            pair: link.map(|link| link.pair),
            referral_id: link.and_then(|link| link.referral_id.clone()),
            crm_id: link.and_then(|link| link.crm_id.clone()),
            kind,
            unmapped: Vec::new(),
        }
    }

    /// Makes the pass's lock cover `record` too, waiting a little for another worker that holds
    /// it; [`Stop::Busy`] when it stays held.
    async fn cover(&self, pass: &mut Pass, record: RecordRef) -> Step<()> {
        if pass.lock.records.contains(&record) {
            return Ok(());
        }
        for attempt in 0..5u32 {
            if let Some(lock) = self
                .inner
                .store
                .extend_pair_lock(&pass.lock, std::slice::from_ref(&record))
                .await?
            {
                pass.lock = lock;
                return Ok(());
            }
            self.inner
                .sleeper
                .sleep(Duration::from_millis(20 << attempt))
                .await;
        }
        Err(Stop::Busy)
    }

    async fn save_link(&self, pass: &mut Pass, link: Link) -> Step<Link> {
        for record in link.records() {
            self.cover(pass, record).await?;
        }
        self.inner.store.save_link(&pass.lock, &link).await?;
        pass.link = Some(link.clone());
        Ok(link)
    }

    async fn unlink(&self, pass: &mut Pass, reason: &str) -> Step<SyncOutcome> {
        let Some(mut link) = pass.link.clone() else {
            return Ok(self.outcome(None, OutcomeKind::Excluded(Exclusion::NotFound)));
        };
        link.state = LinkState::Unlinked;
        link.reason = Some(reason.to_owned());
        link.updated_at = self.inner.clock.now();
        let link = self.save_link(pass, link).await?;
        Ok(self.outcome(Some(&link), OutcomeKind::Unlinked))
    }

    /// Links the pair (a new link, or the pending one completed).
    async fn link(&self, pass: &mut Pass, referral_id: &str, crm_id: &str) -> Step<Link> {
        let now = self.inner.clock.now();
        let link = match pass.link.clone() {
            Some(mut link) => {
                if link.state == LinkState::Linked
                    && link.referral_id.as_deref() == Some(referral_id)
                    && link.crm_id.as_deref() == Some(crm_id)
                {
                    return Ok(link);
                }
                link.referral_id = Some(referral_id.to_owned());
                link.crm_id = Some(crm_id.to_owned());
                link.state = LinkState::Linked;
                link.updated_at = now;
                link
            }
            None => Link::new(
                Some(referral_id.to_owned()),
                Some(crm_id.to_owned()),
                LinkState::Linked,
                now,
            ),
        };
        self.save_link(pass, link).await
    }

    async fn get_referral(&self, id: &str) -> Result<Option<Referral>> {
        let _permit = self.batched_permit().await;
        // Boxed: the request's future is large, and a pair waiting in a batched chunk should
        // not carry it.
        match Box::pin(self.inner.partner_center.referrals().get(id)).await {
            // An answer about another referral (or none) is never synced as this one.
            Ok(referral) if referral.id.as_deref() != Some(id) => Err(Error::validation(format!(
                "Partner Center answered for referral `{id}` with a referral whose id is {:?}",
                referral.id.as_deref()
            ))),
            Ok(referral) => Ok(Some(referral)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// An in-flight permit for one Partner Center request of a batched sweep's pair (whose sync
    /// as a whole holds none); `None` elsewhere.
    async fn batched_permit(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        if batching::CHUNK.try_with(|_| ()).is_err() {
            return None;
        }
        self.inner.permits.acquire().await.ok()
    }

    async fn get_crm(&self, id: &str) -> Result<Option<CrmRecord>> {
        let record = match batching::CHUNK.try_with(Arc::clone) {
            Ok(chunk) => chunk.get(id).await?,
            Err(_) => self.inner.crm.get(id, &self.inner.columns).await?,
        };
        match record {
            // An answer about another record is never synced as this one.
            Some(record) if RecordId::new(&record.id) != RecordId::new(id) => {
                Err(Error::validation(format!(
                    "the CRM answered for record `{id}` with record `{}`",
                    record.id
                )))
            }
            other => Ok(other),
        }
    }

    /// Updates a CRM record: with the rest of its chunk in a batched sweep, else on its own.
    async fn update_crm(&self, record: &CrmRecord, write: &CrmWrite) -> Result<()> {
        match batching::CHUNK.try_with(Arc::clone) {
            Ok(chunk) => chunk.update(record, write).await,
            Err(_) => self.inner.crm.update(record, write).await,
        }
    }

    // --- Partner Center → CRM ------------------------------------------------------------

    async fn start_at_referral(&self, pass: &mut Pass, referral_id: &str) -> Step<SyncOutcome> {
        if pass
            .link
            .as_ref()
            .is_some_and(|link| link.state == LinkState::Unlinked)
        {
            return Ok(self.outcome(
                pass.link.as_ref(),
                OutcomeKind::Excluded(Exclusion::Unlinked),
            ));
        }
        // Read under the lock, unless a batched sweep listed a copy of a linked pair's referral:
        // `settle_pair` keeps it only if it is newer than the pair's baseline (a copy read
        // before the lock could be older than another worker's write, which the baseline would
        // then show), and never writes Partner Center from it.
        let linked = pass
            .link
            .as_ref()
            .is_some_and(|link| link.state == LinkState::Linked);
        let listed = batching::CHUNK
            .try_with(|chunk| chunk.take_listed(referral_id))
            .ok()
            .flatten()
            .filter(|_| linked);
        pass.listed = listed.is_some();
        let mut copy = match listed {
            Some(listed) => ReferralCopy::Listed(listed),
            None => match self.get_referral(referral_id).await?.map(Box::new) {
                Some(referral) => ReferralCopy::Read(referral),
                None => return Ok(self.not_found(pass)),
            },
        };
        let linked_crm = pass.link.as_ref().and_then(|link| link.crm_id.clone());
        let record = match linked_crm {
            Some(crm_id) => {
                self.cover(pass, RecordRef::Crm(crm_id.clone())).await?;
                match self.get_crm(&crm_id).await? {
                    Some(record) => Some(record),
                    None => return self.unlink(pass, "the CRM record was deleted").await,
                }
            }
            None => {
                let referral = self.decode_copy(pass, &mut copy, referral_id).await?;
                match referral {
                    Some(referral) => Box::pin(self.find_crm_record(pass, referral)).await?,
                    None => return Ok(self.not_found(pass)),
                }
            }
        };
        if pass
            .link
            .as_ref()
            .is_some_and(|link| link.state == LinkState::Unlinked)
        {
            return Ok(self.outcome(
                pass.link.as_ref(),
                OutcomeKind::Excluded(Exclusion::Unlinked),
            ));
        }
        match record {
            None => {
                let Some(referral) = self.decode_copy(pass, &mut copy, referral_id).await? else {
                    return Ok(self.not_found(pass));
                };
                if let Err(why) = self.inner.scope.admits(referral) {
                    return Ok(self.outcome(pass.link.as_ref(), OutcomeKind::Excluded(why)));
                }
                let referral = std::mem::take(referral);
                Box::pin(self.create_in_crm(pass, referral)).await
            }
            Some(record) => {
                let link = self.link(pass, referral_id, &record.id).await?;
                self.settle_pair(pass, link, copy, record, SyncSide::PartnerCenter)
                    .await
            }
        }
    }

    /// The pass's pair, excluded: one of its records is not found.
    fn not_found(&self, pass: &Pass) -> SyncOutcome {
        self.outcome(
            pass.link.as_ref(),
            OutcomeKind::Excluded(Exclusion::NotFound),
        )
    }

    /// The referral a pass holds, decoded now if it is the listed copy; read under the lock
    /// if that copy cannot be read. `None` when Partner Center has no such referral.
    async fn decode_copy<'c>(
        &self,
        pass: &mut Pass,
        copy: &'c mut ReferralCopy,
        referral_id: &str,
    ) -> Result<Option<&'c mut Referral>> {
        if copy.decoded().is_none() {
            pass.listed = false;
            match self.get_referral(referral_id).await? {
                Some(fresh) => *copy = ReferralCopy::Read(Box::new(fresh)),
                None => return Ok(None),
            }
        }
        Ok(copy.decoded())
    }

    /// The CRM record of an unlinked referral: by the referral-id column, then by the CRM id
    /// the referral names. Takes over the record's lock and any link the store has for it.
    async fn find_crm_record(
        &self,
        pass: &mut Pass,
        referral: &Referral,
    ) -> Step<Option<CrmRecord>> {
        let referral_id = referral.id.as_deref().unwrap_or_default();
        let mut found = self
            .inner
            .crm
            .find_by_referral(referral_id, &self.inner.columns)
            .await?;
        if found.is_none()
            && let Some(external) = referral.external_reference_id.as_deref()
            && !external.trim().is_empty()
        {
            found = self.get_crm(RecordId::new(external).as_str()).await?;
        }
        let Some(found) = found else {
            return Ok(None);
        };
        let crm_id = RecordId::new(&found.id).into_string();
        self.cover(pass, RecordRef::Crm(crm_id.clone())).await?;
        // Found before its lock was ours (another worker may have been writing it): what this
        // sync writes is decided from a read made under the lock.
        let Some(record) = self.get_crm(&crm_id).await? else {
            return Ok(None);
        };
        if let Some(link) = self
            .inner
            .store
            .link_by_crm(&self.inner.tenant, &crm_id)
            .await?
        {
            if let Some(other) = &link.referral_id
                && other != referral_id
                && link.state == LinkState::Linked
            {
                return Err(Stop::Error(Error::validation(format!(
                    "CRM record `{crm_id}` is linked to referral `{other}`, not `{referral_id}`"
                ))));
            }
            pass.link = Some(link);
        }
        Ok(Some(record))
    }

    async fn create_in_crm(&self, pass: &mut Pass, referral: Referral) -> Step<SyncOutcome> {
        let inner = &self.inner;
        let referral_id = referral.id.as_deref().unwrap_or_default().to_owned();
        let json = serde_json::to_value(&referral).map_err(|e| Error::validation(e.to_string()))?;
        let projection = inner
            .mapping
            .referral_to_canonical(&json)
            .map_err(mapping_error)?;
        self.note_unmapped(pass, &projection.issues).await?;
        let mut write = inner
            .mapping
            .crm_write(
                &projection.create_changes(),
                CrmWriteContext {
                    create: true,
                    current: None,
                    partner_center: Some(&projection.record),
                },
            )
            .map_err(mapping_error)?;
        let left = inner.crm.resolve(&mut write).await?;
        // An amount must never land in another currency than its own.
        if let Some(code) = left.iter().find_map(|(lookup, _)| match &lookup.target {
            crate::mapping::LookupTarget::Currency(code) => Some(code),
            _ => None,
        }) {
            return Err(Stop::Error(Error::validation(format!(
                "currency `{code}` is not enabled in the CRM"
            ))));
        }
        let mut line = format!("created from referral {referral_id}");
        for (lookup, resolution) in &left {
            line.push_str(&format!(
                "; {} left unset ({resolution:?})",
                lookup.property
            ));
        }
        self.add_audit_line(&mut write, None, &line);
        let crm_id = inner
            .crm
            .create(&referral_id, &write, &inner.columns)
            .await?;
        let created = projection.create_changes();
        self.note_values(pass, Side::Crm, created.iter().map(|(f, v)| (*f, None, v)));
        let crm_id = RecordId::new(&crm_id).into_string();
        let link = self.link(pass, &referral_id, &crm_id).await?;
        let mut baseline = projection.record.clone();
        self.read_whole(&mut baseline, Side::PartnerCenter);
        baseline.set_modified(None);
        self.save_baseline(
            pass,
            &link,
            &baseline,
            &HeldLog::default(),
            Some(&referral),
            None,
        )
        .await?;
        let Some(record) = self.get_crm(&crm_id).await? else {
            return self.unlink(pass, "the CRM record was deleted").await;
        };
        let after = self
            .settle_pair(
                pass,
                link,
                ReferralCopy::Read(Box::new(referral)),
                record,
                SyncSide::PartnerCenter,
            )
            .await?;
        Ok(SyncOutcome {
            kind: OutcomeKind::Created {
                side: SyncSide::Crm,
                written: after.kind.fields(),
            },
            ..after
        })
    }

    // --- CRM → Partner Center ------------------------------------------------------------

    async fn start_at_crm(&self, pass: &mut Pass, crm_id: &RecordId) -> Step<SyncOutcome> {
        let Some(record) = self.get_crm(crm_id.as_str()).await? else {
            return match &pass.link {
                Some(link) if link.state != LinkState::Unlinked => {
                    self.unlink(pass, "the CRM record was deleted").await
                }
                _ => Ok(self.not_found(pass)),
            };
        };
        if pass
            .link
            .as_ref()
            .is_some_and(|link| link.state == LinkState::Unlinked)
        {
            return Ok(self.outcome(
                pass.link.as_ref(),
                OutcomeKind::Excluded(Exclusion::Unlinked),
            ));
        }
        let projection = self
            .inner
            .mapping
            .crm_to_canonical(&record.body)
            .map_err(mapping_error)?;
        if projection
            .record
            .get(fields::SYNC_WITH_PARTNER_CENTER)
            .as_bool()
            == Some(false)
        {
            return Ok(self.outcome(
                pass.link.as_ref(),
                OutcomeKind::Excluded(Exclusion::SyncOff),
            ));
        }
        let known = known_referral(pass.link.as_ref(), &projection);
        if let Some(referral_id) = known {
            self.cover(pass, RecordRef::Referral(referral_id.clone()))
                .await?;
            if pass.link.is_none()
                && let Some(link) = self
                    .inner
                    .store
                    .link_by_referral(&self.inner.tenant, &referral_id)
                    .await?
            {
                if link.state == LinkState::Unlinked {
                    return Ok(
                        self.outcome(Some(&link), OutcomeKind::Excluded(Exclusion::Unlinked))
                    );
                }
                pass.link = Some(link);
            }
            let Some(referral) = self.get_referral(&referral_id).await?.map(Box::new) else {
                return Ok(self.not_found(pass));
            };
            let link = self.link(pass, &referral_id, crm_id.as_str()).await?;
            return self
                .settle_pair(
                    pass,
                    link,
                    ReferralCopy::Read(referral),
                    record,
                    SyncSide::Crm,
                )
                .await;
        }
        // No referral yet. A pending link means an earlier attempt may have created it.
        let pending = pass
            .link
            .clone()
            .filter(|link| link.state == LinkState::Pending);
        if let Some(pending) = &pending
            && let Some(found) = self
                .find_created_referral(crm_id, pending.created_at)
                .await?
        {
            let referral_id = found.id.as_deref().unwrap_or_default().to_owned();
            let link = self.link(pass, &referral_id, crm_id.as_str()).await?;
            // Found by a listing before its lock was ours: read it again under the lock.
            let referral = self.get_referral(&referral_id).await?.unwrap_or(found);
            return self
                .settle_pair(
                    pass,
                    link,
                    ReferralCopy::Read(Box::new(referral)),
                    record,
                    SyncSide::Crm,
                )
                .await;
        }
        self.create_in_partner_center(pass, crm_id, record, projection, pending)
            .await
    }

    async fn create_in_partner_center(
        &self,
        pass: &mut Pass,
        crm_id: &RecordId,
        record: CrmRecord,
        projection: Projection,
        pending: Option<Link>,
    ) -> Step<SyncOutcome> {
        let inner = &self.inner;
        self.note_unmapped(pass, &projection.issues).await?;
        let create = inner
            .mapping
            .partner_center_create(&projection.create_changes())
            .map_err(mapping_error)?;
        let pending = match pending {
            Some(link) => link,
            None => {
                let link = Link::new(
                    None,
                    Some(crm_id.as_str().to_owned()),
                    LinkState::Pending,
                    inner.clock.now(),
                );
                self.save_link(pass, link).await?
            }
        };
        let mut referral = create.referral;
        referral.external_reference_id = Nullable::Value(crm_id.as_str().to_owned());
        let created = match inner
            .partner_center
            .referrals()
            .create(&referral)
            .send()
            .await
        {
            Ok(created) => created,
            Err(error) if rejection(&error).is_none() => {
                // The create may have been applied without an answer: look before failing.
                match self
                    .find_created_referral(crm_id, pending.created_at)
                    .await?
                {
                    Some(found) => found,
                    None => return Err(Stop::Error(error)),
                }
            }
            Err(error) => return Err(Stop::Error(error)),
        };
        let referral_id = created
            .id
            .as_deref()
            .ok_or_else(|| Error::validation("the created referral has no id"))?
            .to_owned();
        let values = projection.create_changes();
        self.note_values(
            pass,
            Side::PartnerCenter,
            values.iter().map(|(f, v)| (*f, None, v)),
        );
        let link = self.link(pass, &referral_id, crm_id.as_str()).await?;
        let mut baseline = projection.record.clone();
        self.read_whole(&mut baseline, Side::Crm);
        baseline.set_modified(None);
        self.save_baseline(pass, &link, &baseline, &HeldLog::default(), None, None)
            .await?;
        // Read it back: the service fills in what the create left out.
        let referral = self.get_referral(&referral_id).await?.unwrap_or(created);
        let after = self
            .settle_pair(
                pass,
                link,
                ReferralCopy::Read(Box::new(referral)),
                record,
                SyncSide::Crm,
            )
            .await?;
        Ok(SyncOutcome {
            kind: OutcomeKind::Created {
                side: SyncSide::PartnerCenter,
                written: after.kind.fields(),
            },
            ..after
        })
    }

    /// The referral a create from `crm_id` made, if any: by `$filter=externalReferenceId`, or,
    /// where the service refuses that filter, by scanning the referrals created since shortly
    /// before `since` (newest first) and matching on our side.
    async fn find_created_referral(
        &self,
        crm_id: &RecordId,
        since: Timestamp,
    ) -> Result<Option<Referral>> {
        let referrals = self.inner.partner_center.referrals();
        let matches = |referral: &Referral| {
            referral
                .external_reference_id
                .as_deref()
                .is_some_and(|external| RecordId::new(external) == *crm_id)
        };
        match referrals
            .list()
            .external_reference_id(crm_id.as_str())
            .pager()
            .collect_all()
            .await
        {
            Ok(found) => return Ok(found.into_iter().find(matches)),
            Err(error) if error.status().is_some_and(|s| s.as_u16() == 400) => {}
            Err(error) => return Err(error),
        }
        let cutoff = since - SCAN_MARGIN;
        let mut pager = referrals
            .list()
            .order_by(
                ReferralOrderField::CreatedDateTime,
                crate::Order::Descending,
            )
            .pager();
        while let Some(page) = pager.next_page().await? {
            let mut older = false;
            for referral in page.items {
                if matches(&referral) {
                    return Ok(Some(referral));
                }
                if referral
                    .created_date_time
                    .value()
                    .is_some_and(|created| *created < cutoff)
                {
                    older = true;
                }
            }
            if older {
                break;
            }
        }
        Ok(None)
    }

    // --- both sides linked -----------------------------------------------------------------

    async fn note_unmapped(&self, pass: &mut Pass, issues: &[MappingIssue]) -> Result<()> {
        for issue in issues {
            if let MappingIssue::UnmappedValue { field, value } = issue {
                self.inner
                    .store
                    .record_unmapped(&self.inner.tenant, field, value)
                    .await?;
                let text = format!("{field}={value}");
                if !pass.unmapped.contains(&text) {
                    pass.unmapped.push(text);
                }
            }
        }
        Ok(())
    }

    /// A record read whole carries every field its side maps: a value the answer left out is
    /// null there (Partner Center omits empty properties), not "not carried".
    fn read_whole(&self, record: &mut Record, side: Side) {
        let mapping = &self.inner.mapping;
        for (field, _) in mapping.schema().fields() {
            let mapped = mapping.rule(field).is_some_and(|rule| match side {
                Side::PartnerCenter => rule.partner_center_path().is_some(),
                Side::Crm => rule.crm_path().is_some(),
            });
            if mapped && record.get(field).is_absent() {
                record.set(field, crate::mapping::Value::Null);
            }
        }
    }

    fn add_audit_line(&self, write: &mut CrmWrite, existing: Option<&str>, line: &str) {
        if let Some(column) = &self.inner.audit_column {
            let stamp = self.inner.clock.now().strftime("%Y-%m-%d %H:%M:%SZ");
            let trail = audit_trail_with(existing, &format!("{stamp} {line}"), AUDIT_CHARS);
            write.body.insert(column.clone(), Json::String(trail));
        }
    }

    async fn save_baseline(
        &self,
        pass: &Pass,
        link: &Link,
        record: &Record,
        held: &HeldLog,
        referral: Option<&Referral>,
        crm: Option<&CrmRecord>,
    ) -> Result<()> {
        let baseline = self.baseline_of(record, held, referral, crm)?;
        Ok(self
            .inner
            .store
            .save_baseline(&pass.lock, link.pair, &baseline)
            .await?)
    }

    /// The baseline that records `record` as the pair's last synced state, with the versions
    /// of the sides it was synced at.
    fn baseline_of(
        &self,
        record: &Record,
        held: &HeldLog,
        referral: Option<&Referral>,
        crm: Option<&CrmRecord>,
    ) -> Result<Baseline> {
        let schema = self.inner.mapping.schema();
        Ok(Baseline {
            snapshot: Snapshot::encode(record).map_err(|e| Error::validation(e.to_string()))?,
            hash: diff::ConvergenceHash::of(schema, record).to_string(),
            referral_etag: referral.and_then(|r| r.e_tag.value().cloned()),
            referral_modified: referral.and_then(|r| r.updated_date_time.value().copied()),
            crm_version: crm.and_then(|c| c.version.clone()),
            crm_modified: crm.and_then(|c| c.modified),
            held: if held.is_empty() {
                None
            } else {
                serde_json::to_value(held).ok()
            },
            updated_at: self.inner.clock.now(),
        })
    }

    /// Both sides of a pair on the canonical schema, each read whole: the referral as JSON
    /// (its write is rendered from it) and both projections.
    fn project_pair(
        &self,
        referral: &Referral,
        record: &CrmRecord,
    ) -> Result<(Json, Projection, Projection)> {
        let mapping = &self.inner.mapping;
        let referral_json =
            serde_json::to_value(referral).map_err(|e| Error::validation(e.to_string()))?;
        let mut pc = mapping
            .referral_to_canonical(&referral_json)
            .map_err(mapping_error)?;
        let mut crm = mapping
            .crm_to_canonical(&record.body)
            .map_err(mapping_error)?;
        self.read_whole(&mut pc.record, Side::PartnerCenter);
        self.read_whole(&mut crm.record, Side::Crm);
        Ok((referral_json, pc, crm))
    }

    /// What a linked pair's sync writes, decided from its projections and stored baseline
    /// alone (no request, no store write): the diff against the baseline, each side's write,
    /// and the changes a side cannot take held back. The sync and its preview both decide
    /// here.
    fn decide_pair(
        &self,
        stored: Option<&Baseline>,
        referral_json: &Json,
        pc: &Projection,
        crm: &Projection,
        source: SyncSide,
    ) -> Result<PairDecision> {
        let mapping = &self.inner.mapping;
        let schema = mapping.schema();
        let (baseline, held_log) = match stored {
            Some(stored) => (
                stored
                    .snapshot
                    .decode::<Record>()
                    .map_err(|e| Error::validation(format!("a stored baseline: {e}")))?,
                stored
                    .held
                    .clone()
                    .and_then(|held| serde_json::from_value(held).ok())
                    .unwrap_or_default(),
            ),
            // Linked without a baseline (an earlier attempt stopped between its write and
            // its baseline, or a pair found by id): the other side is taken as the last
            // synced state, so the triggering side's values flow.
            None => (
                match source {
                    SyncSide::PartnerCenter => crm.record.clone(),
                    SyncSide::Crm => pc.record.clone(),
                },
                HeldLog::default(),
            ),
        };
        let mut plan = diff::three_way(schema, &baseline, &pc.record, &crm.record);
        let pc_write = mapping
            .partner_center_write(&changes_of(plan.partner_center()), referral_json)
            .map_err(mapping_error)?;
        let crm_write = mapping
            .crm_write(
                &changes_of(plan.crm()),
                CrmWriteContext {
                    create: false,
                    current: Some(&crm.record),
                    partner_center: Some(&pc.record),
                },
            )
            .map_err(mapping_error)?;
        plan.hold_back(schema, Side::PartnerCenter, &pc_write.issues);
        plan.hold_back(schema, Side::Crm, &crm_write.issues);
        Ok(PairDecision {
            baseline,
            held_log,
            plan,
            pc_write,
            crm_write,
        })
    }

    /// Brings a linked pair in step: diff against the baseline, write what changed (CRM first,
    /// then Partner Center), store the baseline after each write. A version that moved or an
    /// answer that was lost re-reads that side and decides again.
    ///
    /// Its state lives in a box of its own, allocated only while it runs: the futures that call
    /// it stay small, and so does each pair a batched chunk holds while its writes wait.
    fn settle_pair<'a>(
        &'a self,
        pass: &'a mut Pass,
        link: Link,
        referral: ReferralCopy,
        record: CrmRecord,
        source: SyncSide,
    ) -> std::pin::Pin<Box<impl Future<Output = Step<SyncOutcome>> + Send + 'a>> {
        Box::pin(self.settle(pass, link, referral, record, source))
    }

    async fn settle(
        &self,
        pass: &mut Pass,
        link: Link,
        mut copy: ReferralCopy,
        mut record: CrmRecord,
        source: SyncSide,
    ) -> Step<SyncOutcome> {
        let inner = &self.inner;
        let schema = inner.mapping.schema();
        let mut last = None;
        let mut tries = 0;
        while tries < inner.attempts {
            tries += 1;
            let mut crm_written = false;
            // The store first: a batched chunk's pairs queue for it together, and each should
            // wait holding what it read, not the decoded sides as well.
            let stored = inner.store.baseline(&inner.tenant, link.pair).await?;
            // Decoded only now, so that a chunk's pairs wait for their read and the store
            // holding the listed text, not the decoded referral.
            let Some(referral) = copy.decoded() else {
                // The listed copy cannot be read: read the referral under the lock.
                pass.listed = false;
                tries -= 1;
                let id = link.referral_id.as_deref().unwrap_or_default();
                match self.get_referral(id).await? {
                    Some(fresh) => copy = ReferralCopy::Read(Box::new(fresh)),
                    None => {
                        return Ok(
                            self.outcome(Some(&link), OutcomeKind::Excluded(Exclusion::NotFound))
                        );
                    }
                }
                continue;
            };
            let (referral_json, pc, crm) = self.project_pair(referral, &record)?;
            self.note_unmapped(pass, &pc.issues).await?;
            self.note_unmapped(pass, &crm.issues).await?;
            if crm.record.get(fields::SYNC_WITH_PARTNER_CENTER).as_bool() == Some(false) {
                return Ok(self.outcome(Some(&link), OutcomeKind::Excluded(Exclusion::SyncOff)));
            }
            let PairDecision {
                mut baseline,
                mut held_log,
                plan,
                mut pc_write,
                mut crm_write,
            } = self.decide_pair(stored.as_ref(), &referral_json, &pc, &crm, source)?;
            // A listed copy stands for a read under the lock only when it is newer than the
            // baseline (nothing the store knows is newer), and only for the CRM's conditional
            // write: read the referral under the lock otherwise, or before writing to it.
            let newer = |stored: &Baseline| match (
                referral.updated_date_time.value(),
                stored.referral_modified,
            ) {
                (Some(listed), Some(synced)) => *listed > synced,
                _ => false,
            };
            if pass.listed && (!pc_write.patch.is_empty() || !stored.as_ref().is_some_and(newer)) {
                pass.listed = false;
                // Not an attempt: nothing was sent.
                tries -= 1;
                match self
                    .get_referral(referral.id.as_deref().unwrap_or_default())
                    .await?
                {
                    Some(fresh) => *referral = fresh,
                    None => {
                        return Ok(
                            self.outcome(Some(&link), OutcomeKind::Excluded(Exclusion::NotFound))
                        );
                    }
                }
                continue;
            }
            let name = |field| self.field_name(field);
            let new_held: Vec<String> = plan
                .report_held(&mut held_log)
                .into_iter()
                .map(|held| {
                    let side = match held.side {
                        Side::PartnerCenter => "Partner Center",
                        Side::Crm => "CRM",
                    };
                    format!("{} → {side}", name(held.field))
                })
                .collect();
            let new_conflicts: Vec<String> = plan
                .report_conflicts(&mut held_log)
                .into_iter()
                .filter(|conflict| conflict.resolution == Resolution::Manual)
                .map(|conflict| name(conflict.field))
                .collect();
            let (manual, settled): (Vec<_>, Vec<_>) = plan
                .conflicts()
                .iter()
                .partition(|conflict| conflict.resolution == Resolution::Manual);
            let manual: Vec<String> = manual.iter().map(|c| name(c.field)).collect();
            let settled: Vec<String> = settled.iter().map(|c| name(c.field)).collect();
            let crm_fields = if crm_write.is_empty() {
                Vec::new()
            } else {
                self.written_fields(&plan, Side::Crm)
            };
            let pc_fields = if pc_write.patch.is_empty() {
                Vec::new()
            } else {
                self.written_fields(&plan, Side::PartnerCenter)
            };
            let noteworthy = !new_held.is_empty() || !new_conflicts.is_empty();
            if !crm_write.is_empty() || noteworthy {
                let mut line = Vec::new();
                if !crm_fields.is_empty() {
                    line.push(format!("synced {}", crm_fields.join(", ")));
                }
                if !pc_fields.is_empty() {
                    line.push(format!("sent {}", pc_fields.join(", ")));
                }
                if !new_held.is_empty() {
                    line.push(format!("held {}", new_held.join(", ")));
                }
                if !new_conflicts.is_empty() {
                    line.push(format!("conflict on {}", new_conflicts.join(", ")));
                }
                let existing = crm.record.get(fields::AUDIT_TRAIL).as_text();
                self.add_audit_line(&mut crm_write, existing, &line.join("; "));
            }
            // What only the decision needed is let go before the writes: a pair of a batched
            // chunk holds the rest while its write waits for the others'.
            drop((referral_json, pc, crm));
            // In a batched chunk, a pass whose one write is to the CRM ends with that write
            // decided: it goes out with the chunk's others, and what follows a successful
            // write (the baselines, the outcome) is worked out now, as if it had succeeded.
            let deferring = !crm_write.is_empty()
                && pc_write.patch.is_empty()
                && batching::CHUNK.try_with(|_| ()).is_ok();
            let mut save = None;
            // The CRM side first: its write carries the audit line of this pass.
            if !crm_write.is_empty() {
                inner.crm.resolve(&mut crm_write).await?;
                if !deferring {
                    match self.update_crm(&record, &crm_write).await {
                        Ok(()) => {}
                        Err(error) if worth_retrying(&error) => {
                            last = Some(error);
                            if let Some(gone) = self.read_crm_again(pass, &mut record).await? {
                                return Ok(gone);
                            }
                            continue;
                        }
                        Err(error) => return Err(Stop::Error(error)),
                    }
                }
                self.note_values(pass, Side::Crm, written(plan.crm(), plan.held(), Side::Crm));
                plan.apply_to_baseline(&mut baseline, WriteOutcome::CRM_ONLY);
                if deferring {
                    save = Some(self.baseline_of(&baseline, &held_log, None, None)?);
                } else {
                    self.save_baseline(pass, &link, &baseline, &held_log, None, None)
                        .await?;
                }
                crm_written = true;
            }
            let mut written_referral = None;
            if !pc_write.patch.is_empty() {
                let patch = std::mem::take(&mut pc_write.patch);
                // Boxed at once: the answer is held while a failed write's pair reads again.
                let answer = Box::pin(self.write_referral(referral, patch))
                    .await
                    .map(Box::new);
                match answer {
                    Ok(saved) => {
                        let changes =
                            written(plan.partner_center(), plan.held(), Side::PartnerCenter);
                        self.note_values(pass, Side::PartnerCenter, changes);
                        written_referral = Some(saved);
                    }
                    Err(error) if worth_retrying(&error) => {
                        last = Some(error);
                        match self
                            .get_referral(referral.id.as_deref().unwrap_or_default())
                            .await?
                        {
                            Some(fresh) => *referral = fresh,
                            None => {
                                return Ok(self.outcome(
                                    Some(&link),
                                    OutcomeKind::Excluded(Exclusion::NotFound),
                                ));
                            }
                        }
                        // The baseline now holds what this pass wrote to the CRM: the next pass
                        // must see the CRM as written, or the old values it read before the
                        // write would look like a seller's edit and be sent back over Partner
                        // Center's newer ones.
                        if crm_written
                            && let Some(gone) = self.read_crm_again(pass, &mut record).await?
                        {
                            return Ok(gone);
                        }
                        continue;
                    }
                    Err(error) => return Err(Stop::Error(error)),
                }
            }
            plan.apply_to_baseline(&mut baseline, WriteOutcome::BOTH);
            baseline.set_modified(None);
            let hash = diff::ConvergenceHash::of(schema, &baseline).to_string();
            let held_json = (!held_log.is_empty())
                .then(|| serde_json::to_value(&held_log).ok())
                .flatten();
            let changed = stored
                .as_ref()
                .is_none_or(|stored| stored.hash != hash || stored.held != held_json);
            // Nothing mapped changed, but a side moved since the baseline (the echo of our own
            // write, an edit of unmapped fields): the versions read now go with the same
            // values, and storing them lets the next sweep settle the pair without a request.
            let moved = stored.as_ref().is_some_and(|stored| {
                stored.referral_etag.as_ref() != referral.e_tag.value()
                    || stored.crm_version != record.version
                    || stored.crm_modified != record.modified
            });
            if changed || written_referral.is_some() || moved {
                let referral = written_referral.as_deref().or(Some(&*referral));
                if deferring {
                    // It would be stored right after the first and replace it whole: it alone
                    // will do (a crash before it leaves the earlier baseline, as a crash right
                    // after the write would).
                    save = Some(self.baseline_of(&baseline, &held_log, referral, Some(&record))?);
                } else {
                    self.save_baseline(pass, &link, &baseline, &held_log, referral, Some(&record))
                        .await?;
                }
            }
            let kind = if !pc_fields.is_empty() || !crm_fields.is_empty() {
                OutcomeKind::Updated {
                    partner_center: pc_fields,
                    crm: crm_fields,
                    settled,
                }
            } else if !manual.is_empty() {
                OutcomeKind::Conflict { fields: manual }
            } else if !new_held.is_empty() {
                OutcomeKind::Held {
                    fields: new_held,
                    reason: held_reasons(&pc_write.issues, &crm_write.issues),
                }
            } else if self.moved_since(stored.as_ref(), referral, &record, source) {
                OutcomeKind::Echo
            } else {
                OutcomeKind::Unchanged
            };
            if deferring && let Some(save) = save {
                // The write needs the record's id and version, not the body it was read with.
                let target = CrmRecord {
                    body: Json::Null,
                    ..record
                };
                return Err(Stop::Deferred(Box::new(DeferredWrite {
                    pair: link.pair,
                    update: (target, PackedWrite::pack(crm_write)),
                    save,
                    outcome: self.outcome(Some(&link), kind),
                })));
            }
            return Ok(self.outcome(Some(&link), kind));
        }
        Err(Stop::Error(Error::RetriesExhausted {
            attempts: inner.attempts,
            last: Box::new(last.unwrap_or_else(|| Error::validation("the pair kept changing"))),
        }))
    }

    /// Reads the pair's CRM record again into `record`; when it was deleted, unlinks the pair
    /// and answers the outcome.
    async fn read_crm_again(
        &self,
        pass: &mut Pass,
        record: &mut CrmRecord,
    ) -> Step<Option<SyncOutcome>> {
        match self.get_crm(&record.id).await? {
            Some(fresh) => {
                *record = fresh;
                Ok(None)
            }
            None => self
                .unlink(pass, "the CRM record was deleted")
                .await
                .map(Some),
        }
    }

    /// Whether the triggering side was modified since the baseline was stored although nothing
    /// mapped changed: the echo of our own write (or an edit of unmapped fields).
    fn moved_since(
        &self,
        stored: Option<&Baseline>,
        referral: &Referral,
        record: &CrmRecord,
        source: SyncSide,
    ) -> bool {
        let Some(stored) = stored else {
            return false;
        };
        match source {
            SyncSide::PartnerCenter => {
                referral.e_tag.value().cloned() != stored.referral_etag
                    && stored.referral_etag.is_some()
            }
            SyncSide::Crm => record.version != stored.crm_version && stored.crm_version.is_some(),
        }
    }

    /// Sends a referral patch conditional on the referral's `eTag`. Where the service refuses
    /// to patch `externalReferenceId` (UNCONFIRMED), that one value goes by the legacy `PUT`.
    async fn write_referral(&self, current: &Referral, patch: ReferralPatch) -> Result<Referral> {
        let _permit = self.batched_permit().await;
        let referrals = self.inner.partner_center.referrals();
        let first = referrals
            .update_referral(current, patch.clone())
            .return_representation()
            .send()
            .await;
        let mut rest = patch;
        let external = rest.take_path("/externalReferenceId");
        match first {
            Ok(saved) => return Ok(saved.unwrap_or_else(|| current.clone())),
            Err(error)
                if external.is_empty()
                    || error.status().is_none_or(|status| status.as_u16() != 400) =>
            {
                return Err(error);
            }
            Err(_) => {}
        }
        let mut replaced = current.clone();
        if let Some(value) = external.last().and_then(|op| op.value.as_str()) {
            replaced.external_reference_id = Nullable::Value(value.to_owned());
        }
        let saved = referrals.put_legacy(&replaced).send().await?;
        if rest.is_empty() {
            return Ok(saved);
        }
        Ok(referrals
            .update_referral(&saved, rest)
            .return_representation()
            .send()
            .await?
            .unwrap_or(saved))
    }
}

/// The referral a CRM record's pair has: the link's, else the one the record names.
fn known_referral(link: Option<&Link>, projection: &Projection) -> Option<String> {
    link.and_then(|link| link.referral_id.clone()).or_else(|| {
        projection
            .record
            .get(fields::REFERRAL_ID)
            .as_text()
            .filter(|id| !id.trim().is_empty())
            .map(str::to_owned)
    })
}

fn held_reasons(partner_center: &[MappingIssue], crm: &[MappingIssue]) -> String {
    let mut reasons: Vec<String> = partner_center
        .iter()
        .chain(crm)
        .filter_map(|issue| match issue {
            MappingIssue::Held { reason, .. } => Some(format!("{reason:?}")),
            _ => None,
        })
        .collect();
    reasons.sort();
    reasons.dedup();
    if reasons.is_empty() {
        "not writable on the receiving side".into()
    } else {
        reasons.join(", ")
    }
}

/// The changes a write carried (those not held back), with their old values.
fn written<'a>(
    changes: &'a crate::diff::SideChanges,
    held: &'a [crate::diff::Held],
    side: Side,
) -> impl Iterator<Item = (FieldId, Option<&'a Value>, &'a Value)> + 'a {
    changes
        .changes()
        .iter()
        .filter(move |change| {
            !held
                .iter()
                .any(|h| h.side == side && h.field == change.field)
        })
        .map(|change| (change.field, Some(&change.old), &change.new))
}

/// A canonical value as the audit trail shows it.
fn shown(value: &Value) -> String {
    match value {
        Value::Absent | Value::Null => "∅".to_owned(),
        Value::Text(text) => format!("{text:?}"),
        Value::Decimal(number) => number.to_string(),
        Value::Date(date) => date.to_string(),
        Value::DateTime(at) => at.to_string(),
        Value::Bool(yes) => yes.to_string(),
        Value::Choice(code) => code.to_string(),
        Value::MultiChoice(codes) => format!("[{}]", codes.iter().collect::<Vec<_>>().join(", ")),
        Value::List(items) => format!(
            "[{}]",
            items.iter().map(shown).collect::<Vec<_>>().join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn json() -> impl Strategy<Value = Json> {
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            any::<i64>().prop_map(Json::from),
            any::<u64>().prop_map(Json::from),
            any::<f64>()
                .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
                .prop_map(Json::from),
            ".*".prop_map(Json::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
                proptest::collection::btree_map(".*", inner, 0..4)
                    .prop_map(|map| Json::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// A write held packed while its chunk's batch is gathered is sent as it was decided.
        #[test]
        fn a_packed_write_unpacks_as_decided(
            body in proptest::collection::btree_map("[a-z_@.]{1,24}", json(), 0..6),
            state in proptest::option::of((0i32..3, 0i32..10)),
        ) {
            let write = CrmWrite {
                body: body.into_iter().collect(),
                state: state.map(|(state_code, status_code)| crate::mapping::StateChange {
                    status: "won".into(),
                    state_code,
                    status_code,
                }),
                ..CrmWrite::default()
            };
            let unpacked = PackedWrite::pack(write.clone()).unpack().unwrap();
            prop_assert_eq!(unpacked, write);
        }
    }
}
