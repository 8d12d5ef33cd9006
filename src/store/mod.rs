//! Where a sync keeps what must survive a restart and be shared by its workers: links between
//! referrals and CRM records, baselines, processed event keys, listing checkpoints, an inbox of
//! verified webhook events, pair locks and leases with fencing tokens, dead letters, the audit
//! trail, unmapped option values and rotated refresh tokens — all keyed by tenant.
//!
//! [`SyncStore`] is the contract; [`MemoryStore`] keeps everything in memory (tests, single
//! processes that can afford to forget); `SqliteStore` (feature `sqlite`, on by default) keeps it
//! in one durable file; `PostgresStore` (feature `postgres`) in a database shared by workers on
//! many machines. Every implementation must pass the [`conformance`] suite.
//!
//! Locks and leases are time-limited and fenced: each grant carries a token larger than any
//! granted before, and each update made under a lock or lease names its token. A worker that
//! lost its lock (it paused past the expiry and another worker took the pair over) has its
//! updates refused with [`StoreError::Fenced`], so it can never overwrite the new holder's work.
//!
//! ```
//! use std::time::Duration;
//! use cosell::store::{Link, LinkState, MemoryStore, RecordRef, SyncStore, TenantId};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! let tenant = TenantId::new("contoso")?;
//! let records = [RecordRef::Referral("r-1".into()), RecordRef::Crm("opp-1".into())];
//! let lock = store
//!     .lock_pair(&tenant, &records, "worker-a", Duration::from_secs(30))
//!     .await?
//!     .expect("nobody else holds the pair");
//! let link = Link::new(Some("r-1".into()), Some("opp-1".into()), LinkState::Linked, jiff::Timestamp::now());
//! store.save_link(&lock, &link).await?;
//! assert_eq!(store.link_by_crm(&tenant, "opp-1").await?.unwrap().pair, link.pair);
//! store.unlock_pair(&lock).await?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

pub mod conformance;
mod error;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod shared;
#[cfg(feature = "sqlite")]
mod sqlite;
mod types;

use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use secrecy::SecretString;

pub use error::{StoreError, StoreResult};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteStore;
pub use types::{
    AuditEntry, Baseline, Checkpoint, ClaimedEvent, DeadLetter, DeadLetterId, InboxEvent, InboxId,
    Lease, Link, LinkState, PairCounts, PairId, PairLock, RecordRef, Retention, Snapshot, TenantId,
    UnmappedValue,
};

/// Everything the synchronizer and its service keep between runs and share between workers.
///
/// Times come from the store's own clock (injected at construction), so that leases and expiries
/// are judged by one clock however many workers there are.
#[async_trait]
pub trait SyncStore: Send + Sync + std::fmt::Debug {
    // --- pair locks -----------------------------------------------------------------------

    /// Locks every record of a pair for `owner` for `ttl`, all or none: `None` when another
    /// owner holds an unexpired lock on any of them. A lock of the same owner on the same records
    /// is taken over with a new token.
    async fn lock_pair(
        &self,
        tenant: &TenantId,
        records: &[RecordRef],
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<Option<PairLock>>;

    /// Adds records to a held lock (an id learnt while syncing), keeping its token: `None` when
    /// another owner holds one of them.
    ///
    /// # Errors
    /// [`StoreError::Fenced`] when the lock was lost.
    async fn extend_pair_lock(
        &self,
        lock: &PairLock,
        records: &[RecordRef],
    ) -> StoreResult<Option<PairLock>>;

    /// Extends a held lock by `ttl` from now.
    ///
    /// # Errors
    /// [`StoreError::Fenced`] when the lock was lost.
    async fn renew_pair_lock(&self, lock: &PairLock, ttl: Duration) -> StoreResult<PairLock>;

    /// Releases a lock (nothing happens if it was already lost).
    async fn unlock_pair(&self, lock: &PairLock) -> StoreResult<()>;

    // --- links and baselines (updates fenced by the pair lock) ------------------------------

    /// The link of a referral, in any state.
    async fn link_by_referral(
        &self,
        tenant: &TenantId,
        referral_id: &str,
    ) -> StoreResult<Option<Link>>;

    /// The link of a CRM record, in any state.
    async fn link_by_crm(&self, tenant: &TenantId, crm_id: &str) -> StoreResult<Option<Link>>;

    /// Every link of the tenant in `state`.
    async fn links(&self, tenant: &TenantId, state: LinkState) -> StoreResult<Vec<Link>>;

    /// Stores a link (new, or replacing the one with the same [`PairId`]). Every id the link
    /// names must be covered by `lock`.
    ///
    /// # Errors
    /// [`StoreError::Fenced`] when the lock was lost or does not cover the link's ids;
    /// [`StoreError::Refused`] when another pair already links one of its ids.
    async fn save_link(&self, lock: &PairLock, link: &Link) -> StoreResult<()>;

    /// The baseline of a pair.
    async fn baseline(&self, tenant: &TenantId, pair: PairId) -> StoreResult<Option<Baseline>>;

    /// Stores the baseline of a linked pair (after the writes it describes succeeded).
    ///
    /// # Errors
    /// [`StoreError::Fenced`] when the lock was lost or does not cover the pair;
    /// [`StoreError::Refused`] when the pair has no link.
    async fn save_baseline(
        &self,
        lock: &PairLock,
        pair: PairId,
        baseline: &Baseline,
    ) -> StoreResult<()>;

    // --- processed events -----------------------------------------------------------------

    /// Marks an event key as processed until `expires_at`: `true` the first time, `false` when
    /// the key is already marked and unexpired.
    async fn mark_processed(
        &self,
        tenant: &TenantId,
        key: &str,
        expires_at: Timestamp,
    ) -> StoreResult<bool>;

    /// Whether an event key is marked and unexpired.
    async fn is_processed(&self, tenant: &TenantId, key: &str) -> StoreResult<bool>;

    // --- leases and checkpoints -----------------------------------------------------------

    /// Claims `name` (a sweep, a webhook registration) for `owner` for `ttl`: `None` while
    /// another owner's claim is unexpired. The same owner renews its claim with a new token.
    async fn acquire_lease(
        &self,
        tenant: &TenantId,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>>;

    /// Releases a lease (nothing happens if it was already lost).
    async fn release_lease(&self, lease: &Lease) -> StoreResult<()>;

    /// A listing's checkpoint.
    async fn checkpoint(&self, tenant: &TenantId, stream: &str) -> StoreResult<Option<Checkpoint>>;

    /// Moves a listing's checkpoint, under the lease of the sweep that settled it.
    ///
    /// # Errors
    /// [`StoreError::Fenced`] when the lease was lost.
    async fn save_checkpoint(
        &self,
        lease: &Lease,
        stream: &str,
        checkpoint: &Checkpoint,
    ) -> StoreResult<()>;

    // --- inbox ----------------------------------------------------------------------------

    /// Stores a verified event: `None` when an event with the same dedupe key is already waiting
    /// (a redelivery), otherwise its id.
    async fn enqueue(
        &self,
        tenant: &TenantId,
        dedupe_key: &str,
        payload: serde_json::Value,
    ) -> StoreResult<Option<InboxId>>;

    /// Claims up to `max` waiting events (of one tenant, or of all) for `ttl`, oldest first.
    /// An event whose claim lapsed (its worker died) can be claimed again.
    async fn claim_events(
        &self,
        tenant: Option<&TenantId>,
        owner: &str,
        ttl: Duration,
        max: usize,
    ) -> StoreResult<Vec<ClaimedEvent>>;

    /// Removes a processed event.
    ///
    /// # Errors
    /// [`StoreError::Fenced`] when the claim lapsed and another worker took the event.
    async fn complete_event(&self, claim: &ClaimedEvent) -> StoreResult<()>;

    /// Gives an event back to be claimed again, not before `not_before`.
    ///
    /// # Errors
    /// [`StoreError::Fenced`] when the claim lapsed and another worker took the event.
    async fn retry_event(&self, claim: &ClaimedEvent, not_before: Timestamp) -> StoreResult<()>;

    /// How many events are waiting or claimed.
    async fn inbox_depth(&self, tenant: &TenantId) -> StoreResult<usize>;

    // --- dead letters, audit, unmapped values, secrets ------------------------------------

    /// Keeps failed work (the id in `letter` is ignored; the stored one is returned).
    async fn add_dead_letter(&self, letter: DeadLetter) -> StoreResult<DeadLetterId>;

    /// Keeps failed work as [`add_dead_letter`](Self::add_dead_letter) does, unless the tenant
    /// already has a letter of the same kind for the same records: that one is updated in
    /// place — its error, payload and time become the new letter's, its attempts add up — and
    /// its id answered, so a pair that keeps failing is one letter, not one per event. Two
    /// workers merging the same letter at once make one letter.
    async fn merge_dead_letter(&self, letter: DeadLetter) -> StoreResult<DeadLetterId>;

    /// The tenant's dead letters, oldest first, at most `limit`.
    async fn dead_letters(&self, tenant: &TenantId, limit: usize) -> StoreResult<Vec<DeadLetter>>;

    /// One dead letter of the tenant, left where it is.
    async fn dead_letter(
        &self,
        tenant: &TenantId,
        id: DeadLetterId,
    ) -> StoreResult<Option<DeadLetter>>;

    /// Removes a dead letter and returns it (to retry it, or to discard it).
    async fn take_dead_letter(
        &self,
        tenant: &TenantId,
        id: DeadLetterId,
    ) -> StoreResult<Option<DeadLetter>>;

    /// Appends to the audit trail.
    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<()>;

    /// The latest audit entries of a tenant (of one pair, or of all), newest first.
    async fn audit(
        &self,
        tenant: &TenantId,
        pair: Option<PairId>,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>>;

    /// Records an unmapped option value: `true` the first time this field / value is seen.
    async fn record_unmapped(
        &self,
        tenant: &TenantId,
        field: &str,
        value: &str,
    ) -> StoreResult<bool>;

    /// A tenant's pairs counted by where they stand — links by state, and each pair's newest
    /// telling audit outcome — exactly, in the store (see [`PairCounts`]).
    async fn pair_counts(&self, tenant: &TenantId) -> StoreResult<PairCounts>;

    /// Every unmapped value recorded for a tenant.
    async fn unmapped(&self, tenant: &TenantId) -> StoreResult<Vec<UnmappedValue>>;

    /// Keeps a secret (a rotated refresh token) under a name.
    async fn save_secret(
        &self,
        tenant: &TenantId,
        name: &str,
        secret: &SecretString,
    ) -> StoreResult<()>;

    /// A kept secret.
    async fn secret(&self, tenant: &TenantId, name: &str) -> StoreResult<Option<SecretString>>;

    // --- retention ------------------------------------------------------------------------

    /// Removes processed-event marks that expired, and audit entries and dead letters older than
    /// the cut-offs; returns how many records went.
    async fn purge(&self, cutoffs: &Retention) -> StoreResult<u64>;
}
