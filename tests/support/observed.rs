//! A store that tells a hook about every operation before and after it runs: to count the
//! operations of a sync, to stop a process at one of them, or to make them fail from one on.

#![allow(dead_code)]

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cosell::store::*;
use jiff::Timestamp;
use secrecy::SecretString;

/// What an [`ObservedStore`] calls around each operation. Operations are numbered from 0 in
/// the order they start.
#[async_trait]
pub trait StoreHook: Send + Sync + Debug {
    /// Before operation `n` (named as the trait method): an error is its answer, and the inner
    /// store is not called.
    async fn before(&self, n: usize, op: &'static str) -> StoreResult<()>;

    /// After operation `n` answered.
    async fn after(&self, _n: usize, _op: &'static str) {}

    /// Before a lease named `name` is asked for (after [`before`](Self::before)).
    async fn before_lease(&self, _name: &str) {}

    /// Whether a write named `op` is to be answered `Ok` without reaching the inner store: a
    /// store that loses writes, to prove a test notices. Asked of `save_baseline` only.
    fn loses(&self, _op: &'static str) -> bool {
        false
    }
}

/// A [`SyncStore`] passing every operation to `inner`, with a [`StoreHook`] around it.
#[derive(Debug)]
pub struct ObservedStore {
    inner: Arc<dyn SyncStore>,
    hook: Arc<dyn StoreHook>,
    started: AtomicUsize,
}

impl ObservedStore {
    pub fn new(inner: Arc<dyn SyncStore>, hook: Arc<dyn StoreHook>) -> Self {
        ObservedStore {
            inner,
            hook,
            started: AtomicUsize::new(0),
        }
    }

    /// How many operations started.
    pub fn operations(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }
}

macro_rules! observed {
    ($self:ident, $op:literal, $call:expr) => {{
        let n = $self.started.fetch_add(1, Ordering::SeqCst);
        $self.hook.before(n, $op).await?;
        let answer = $call.await;
        $self.hook.after(n, $op).await;
        answer
    }};
}

#[async_trait]
impl SyncStore for ObservedStore {
    async fn lock_pair(
        &self,
        t: &TenantId,
        r: &[RecordRef],
        o: &str,
        ttl: Duration,
    ) -> StoreResult<Option<PairLock>> {
        observed!(self, "lock_pair", self.inner.lock_pair(t, r, o, ttl))
    }
    async fn extend_pair_lock(
        &self,
        l: &PairLock,
        r: &[RecordRef],
    ) -> StoreResult<Option<PairLock>> {
        observed!(self, "extend_pair_lock", self.inner.extend_pair_lock(l, r))
    }
    async fn renew_pair_lock(&self, l: &PairLock, ttl: Duration) -> StoreResult<PairLock> {
        observed!(self, "renew_pair_lock", self.inner.renew_pair_lock(l, ttl))
    }
    async fn unlock_pair(&self, l: &PairLock) -> StoreResult<()> {
        observed!(self, "unlock_pair", self.inner.unlock_pair(l))
    }
    async fn link_by_referral(&self, t: &TenantId, id: &str) -> StoreResult<Option<Link>> {
        observed!(self, "link_by_referral", self.inner.link_by_referral(t, id))
    }
    async fn link_by_crm(&self, t: &TenantId, id: &str) -> StoreResult<Option<Link>> {
        observed!(self, "link_by_crm", self.inner.link_by_crm(t, id))
    }
    async fn links(&self, t: &TenantId, s: LinkState) -> StoreResult<Vec<Link>> {
        observed!(self, "links", self.inner.links(t, s))
    }
    async fn save_link(&self, l: &PairLock, link: &Link) -> StoreResult<()> {
        observed!(self, "save_link", self.inner.save_link(l, link))
    }
    async fn baseline(&self, t: &TenantId, p: PairId) -> StoreResult<Option<Baseline>> {
        observed!(self, "baseline", self.inner.baseline(t, p))
    }
    async fn save_baseline(&self, l: &PairLock, p: PairId, b: &Baseline) -> StoreResult<()> {
        observed!(self, "save_baseline", async {
            if self.hook.loses("save_baseline") {
                Ok(())
            } else {
                self.inner.save_baseline(l, p, b).await
            }
        })
    }
    async fn mark_processed(&self, t: &TenantId, k: &str, e: Timestamp) -> StoreResult<bool> {
        observed!(self, "mark_processed", self.inner.mark_processed(t, k, e))
    }
    async fn is_processed(&self, t: &TenantId, k: &str) -> StoreResult<bool> {
        observed!(self, "is_processed", self.inner.is_processed(t, k))
    }
    async fn acquire_lease(
        &self,
        t: &TenantId,
        n: &str,
        o: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>> {
        observed!(self, "acquire_lease", async {
            self.hook.before_lease(n).await;
            self.inner.acquire_lease(t, n, o, ttl).await
        })
    }
    async fn release_lease(&self, l: &Lease) -> StoreResult<()> {
        observed!(self, "release_lease", self.inner.release_lease(l))
    }
    async fn checkpoint(&self, t: &TenantId, s: &str) -> StoreResult<Option<Checkpoint>> {
        observed!(self, "checkpoint", self.inner.checkpoint(t, s))
    }
    async fn save_checkpoint(&self, l: &Lease, s: &str, c: &Checkpoint) -> StoreResult<()> {
        observed!(self, "save_checkpoint", self.inner.save_checkpoint(l, s, c))
    }
    async fn enqueue(
        &self,
        t: &TenantId,
        k: &str,
        p: serde_json::Value,
    ) -> StoreResult<Option<InboxId>> {
        observed!(self, "enqueue", self.inner.enqueue(t, k, p))
    }
    async fn claim_events(
        &self,
        t: Option<&TenantId>,
        o: &str,
        ttl: Duration,
        max: usize,
    ) -> StoreResult<Vec<ClaimedEvent>> {
        observed!(
            self,
            "claim_events",
            self.inner.claim_events(t, o, ttl, max)
        )
    }
    async fn complete_event(&self, c: &ClaimedEvent) -> StoreResult<()> {
        observed!(self, "complete_event", self.inner.complete_event(c))
    }
    async fn retry_event(&self, c: &ClaimedEvent, n: Timestamp) -> StoreResult<()> {
        observed!(self, "retry_event", self.inner.retry_event(c, n))
    }
    async fn inbox_depth(&self, t: &TenantId) -> StoreResult<usize> {
        observed!(self, "inbox_depth", self.inner.inbox_depth(t))
    }
    async fn add_dead_letter(&self, l: DeadLetter) -> StoreResult<DeadLetterId> {
        observed!(self, "add_dead_letter", self.inner.add_dead_letter(l))
    }
    async fn dead_letters(&self, t: &TenantId, n: usize) -> StoreResult<Vec<DeadLetter>> {
        observed!(self, "dead_letters", self.inner.dead_letters(t, n))
    }
    async fn dead_letter(&self, t: &TenantId, id: DeadLetterId) -> StoreResult<Option<DeadLetter>> {
        observed!(self, "dead_letter", self.inner.dead_letter(t, id))
    }
    async fn take_dead_letter(
        &self,
        t: &TenantId,
        id: DeadLetterId,
    ) -> StoreResult<Option<DeadLetter>> {
        observed!(self, "take_dead_letter", self.inner.take_dead_letter(t, id))
    }
    async fn append_audit(&self, e: AuditEntry) -> StoreResult<()> {
        observed!(self, "append_audit", self.inner.append_audit(e))
    }
    async fn audit(
        &self,
        t: &TenantId,
        p: Option<PairId>,
        n: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        observed!(self, "audit", self.inner.audit(t, p, n))
    }
    async fn record_unmapped(&self, t: &TenantId, f: &str, v: &str) -> StoreResult<bool> {
        observed!(self, "record_unmapped", self.inner.record_unmapped(t, f, v))
    }
    async fn merge_dead_letter(&self, l: DeadLetter) -> StoreResult<DeadLetterId> {
        observed!(self, "merge_dead_letter", self.inner.merge_dead_letter(l))
    }
    async fn pair_counts(&self, t: &TenantId) -> StoreResult<cosell::store::PairCounts> {
        observed!(self, "pair_counts", self.inner.pair_counts(t))
    }
    async fn unmapped(&self, t: &TenantId) -> StoreResult<Vec<UnmappedValue>> {
        observed!(self, "unmapped", self.inner.unmapped(t))
    }
    async fn save_secret(&self, t: &TenantId, n: &str, s: &SecretString) -> StoreResult<()> {
        observed!(self, "save_secret", self.inner.save_secret(t, n, s))
    }
    async fn secret(&self, t: &TenantId, n: &str) -> StoreResult<Option<SecretString>> {
        observed!(self, "secret", self.inner.secret(t, n))
    }
    async fn purge(&self, c: &Retention) -> StoreResult<u64> {
        observed!(self, "purge", self.inner.purge(c))
    }
}
