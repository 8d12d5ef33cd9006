//! A store that fails on its n-th operation: a process that died there. Every operation after
//! the failure fails too, as nothing of a dead process reaches its store.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cosell::store::*;
use jiff::Timestamp;
use secrecy::SecretString;

#[derive(Debug)]
pub struct CrashingStore {
    inner: Arc<dyn SyncStore>,
    crash_at: usize,
    done: AtomicUsize,
}

impl CrashingStore {
    /// Fails operation number `crash_at` (from 0) and every one after it.
    pub fn new(inner: Arc<dyn SyncStore>, crash_at: usize) -> Self {
        CrashingStore {
            inner,
            crash_at,
            done: AtomicUsize::new(0),
        }
    }

    /// Whether the crash point was reached.
    pub fn crashed(&self) -> bool {
        self.done.load(Ordering::SeqCst) > self.crash_at
    }

    fn tick(&self) -> StoreResult<()> {
        let n = self.done.fetch_add(1, Ordering::SeqCst);
        if n >= self.crash_at {
            Err(StoreError::Backend(format!(
                "crashed at store operation {n}"
            )))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl SyncStore for CrashingStore {
    async fn lock_pair(
        &self,
        t: &TenantId,
        r: &[RecordRef],
        o: &str,
        ttl: Duration,
    ) -> StoreResult<Option<PairLock>> {
        self.tick()?;
        self.inner.lock_pair(t, r, o, ttl).await
    }
    async fn extend_pair_lock(
        &self,
        l: &PairLock,
        r: &[RecordRef],
    ) -> StoreResult<Option<PairLock>> {
        self.tick()?;
        self.inner.extend_pair_lock(l, r).await
    }
    async fn renew_pair_lock(&self, l: &PairLock, ttl: Duration) -> StoreResult<PairLock> {
        self.tick()?;
        self.inner.renew_pair_lock(l, ttl).await
    }
    async fn unlock_pair(&self, l: &PairLock) -> StoreResult<()> {
        self.tick()?;
        self.inner.unlock_pair(l).await
    }
    async fn link_by_referral(&self, t: &TenantId, id: &str) -> StoreResult<Option<Link>> {
        self.tick()?;
        self.inner.link_by_referral(t, id).await
    }
    async fn link_by_crm(&self, t: &TenantId, id: &str) -> StoreResult<Option<Link>> {
        self.tick()?;
        self.inner.link_by_crm(t, id).await
    }
    async fn links(&self, t: &TenantId, s: LinkState) -> StoreResult<Vec<Link>> {
        self.tick()?;
        self.inner.links(t, s).await
    }
    async fn save_link(&self, l: &PairLock, link: &Link) -> StoreResult<()> {
        self.tick()?;
        self.inner.save_link(l, link).await
    }
    async fn baseline(&self, t: &TenantId, p: PairId) -> StoreResult<Option<Baseline>> {
        self.tick()?;
        self.inner.baseline(t, p).await
    }
    async fn save_baseline(&self, l: &PairLock, p: PairId, b: &Baseline) -> StoreResult<()> {
        self.tick()?;
        self.inner.save_baseline(l, p, b).await
    }
    async fn mark_processed(&self, t: &TenantId, k: &str, e: Timestamp) -> StoreResult<bool> {
        self.tick()?;
        self.inner.mark_processed(t, k, e).await
    }
    async fn is_processed(&self, t: &TenantId, k: &str) -> StoreResult<bool> {
        self.tick()?;
        self.inner.is_processed(t, k).await
    }
    async fn acquire_lease(
        &self,
        t: &TenantId,
        n: &str,
        o: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>> {
        self.tick()?;
        self.inner.acquire_lease(t, n, o, ttl).await
    }
    async fn release_lease(&self, l: &Lease) -> StoreResult<()> {
        self.tick()?;
        self.inner.release_lease(l).await
    }
    async fn checkpoint(&self, t: &TenantId, s: &str) -> StoreResult<Option<Checkpoint>> {
        self.tick()?;
        self.inner.checkpoint(t, s).await
    }
    async fn save_checkpoint(&self, l: &Lease, s: &str, c: &Checkpoint) -> StoreResult<()> {
        self.tick()?;
        self.inner.save_checkpoint(l, s, c).await
    }
    async fn enqueue(
        &self,
        t: &TenantId,
        k: &str,
        p: serde_json::Value,
    ) -> StoreResult<Option<InboxId>> {
        self.tick()?;
        self.inner.enqueue(t, k, p).await
    }
    async fn claim_events(
        &self,
        t: Option<&TenantId>,
        o: &str,
        ttl: Duration,
        max: usize,
    ) -> StoreResult<Vec<ClaimedEvent>> {
        self.tick()?;
        self.inner.claim_events(t, o, ttl, max).await
    }
    async fn complete_event(&self, c: &ClaimedEvent) -> StoreResult<()> {
        self.tick()?;
        self.inner.complete_event(c).await
    }
    async fn retry_event(&self, c: &ClaimedEvent, n: Timestamp) -> StoreResult<()> {
        self.tick()?;
        self.inner.retry_event(c, n).await
    }
    async fn inbox_depth(&self, t: &TenantId) -> StoreResult<usize> {
        self.tick()?;
        self.inner.inbox_depth(t).await
    }
    async fn add_dead_letter(&self, l: DeadLetter) -> StoreResult<DeadLetterId> {
        self.tick()?;
        self.inner.add_dead_letter(l).await
    }
    async fn dead_letters(&self, t: &TenantId, n: usize) -> StoreResult<Vec<DeadLetter>> {
        self.tick()?;
        self.inner.dead_letters(t, n).await
    }
    async fn take_dead_letter(
        &self,
        t: &TenantId,
        id: DeadLetterId,
    ) -> StoreResult<Option<DeadLetter>> {
        self.tick()?;
        self.inner.take_dead_letter(t, id).await
    }
    async fn append_audit(&self, e: AuditEntry) -> StoreResult<()> {
        self.tick()?;
        self.inner.append_audit(e).await
    }
    async fn audit(
        &self,
        t: &TenantId,
        p: Option<PairId>,
        n: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        self.tick()?;
        self.inner.audit(t, p, n).await
    }
    async fn record_unmapped(&self, t: &TenantId, f: &str, v: &str) -> StoreResult<bool> {
        self.tick()?;
        self.inner.record_unmapped(t, f, v).await
    }
    async fn unmapped(&self, t: &TenantId) -> StoreResult<Vec<UnmappedValue>> {
        self.tick()?;
        self.inner.unmapped(t).await
    }
    async fn save_secret(&self, t: &TenantId, n: &str, s: &SecretString) -> StoreResult<()> {
        self.tick()?;
        self.inner.save_secret(t, n, s).await
    }
    async fn secret(&self, t: &TenantId, n: &str) -> StoreResult<Option<SecretString>> {
        self.tick()?;
        self.inner.secret(t, n).await
    }
    async fn purge(&self, c: &Retention) -> StoreResult<u64> {
        self.tick()?;
        self.inner.purge(c).await
    }
}
