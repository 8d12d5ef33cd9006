//! A store that keeps everything in memory: for tests, and for processes that may forget on
//! restart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};

use super::shared::{sorted, until};
use super::{
    AuditEntry, Baseline, Checkpoint, ClaimedEvent, DeadLetter, DeadLetterId, InboxEvent, InboxId,
    Lease, Link, LinkState, PairCounts, PairId, PairLock, RecordRef, Retention, StoreError,
    StoreResult, SyncStore, TenantId, UnmappedValue,
};
use crate::http::{Clock, SystemClock};

/// A [`SyncStore`] in memory, behind one mutex. Cloning shares the store.
///
/// ```
/// use std::sync::Arc;
/// use cosell::http::ManualClock;
/// use cosell::store::MemoryStore;
///
/// let clock = Arc::new(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
/// let store = MemoryStore::with_clock(clock);
/// # let _ = store;
/// ```
#[derive(Clone, Debug)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, Default)]
struct State {
    /// The last fencing token granted, by any lock or lease.
    token: u64,
    locks: HashMap<(TenantId, RecordRef), Held>,
    leases: HashMap<(TenantId, String), Lease>,
    links: HashMap<(TenantId, PairId), Link>,
    baselines: HashMap<(TenantId, PairId), Baseline>,
    processed: HashMap<(TenantId, String), Timestamp>,
    checkpoints: HashMap<(TenantId, String), Checkpoint>,
    next_inbox: u64,
    inbox: BTreeMap<InboxId, Waiting>,
    next_letter: u64,
    dead_letters: BTreeMap<DeadLetterId, DeadLetter>,
    audit: Vec<AuditEntry>,
    unmapped: BTreeMap<(TenantId, String, String), UnmappedValue>,
    secrets: HashMap<(TenantId, String), SecretString>,
}

#[derive(Debug, Clone)]
struct Held {
    owner: String,
    token: u64,
    expires_at: Timestamp,
}

#[derive(Debug)]
struct Waiting {
    event: InboxEvent,
    claim: Option<Lease>,
}

impl State {
    fn next_token(&mut self) -> u64 {
        self.token += 1;
        self.token
    }

    /// Whether `lock` still holds every one of `records`.
    fn holds(&self, lock: &PairLock, records: &[RecordRef], now: Timestamp) -> bool {
        records.iter().all(|record| {
            self.locks
                .get(&(lock.tenant.clone(), record.clone()))
                .is_some_and(|held| held.token == lock.token && held.expires_at > now)
        })
    }

    fn check_lock(
        &self,
        lock: &PairLock,
        records: &[RecordRef],
        now: Timestamp,
    ) -> StoreResult<()> {
        if self.holds(lock, records, now) {
            Ok(())
        } else {
            Err(StoreError::Fenced {
                what: format!(
                    "the lock on {}",
                    records
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                token: lock.token,
            })
        }
    }

    /// Whether `records` are free for `owner` (unlocked, expired, or the owner's own).
    fn free_for(
        &self,
        tenant: &TenantId,
        records: &[RecordRef],
        owner: &str,
        now: Timestamp,
    ) -> bool {
        records.iter().all(|record| {
            self.locks
                .get(&(tenant.clone(), record.clone()))
                .is_none_or(|held| held.expires_at <= now || held.owner == owner)
        })
    }

    fn check_lease(&self, lease: &Lease, now: Timestamp) -> StoreResult<()> {
        match self.leases.get(&(lease.tenant.clone(), lease.name.clone())) {
            Some(current) if current.token == lease.token && current.expires_at > now => Ok(()),
            _ => Err(StoreError::Fenced {
                what: format!("the lease {}", lease.name),
                token: lease.token,
            }),
        }
    }
}

impl MemoryStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty store judging expiries by `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemoryStore {
            state: Arc::new(Mutex::new(State::default())),
            clock,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        crate::http::lock(&self.state)
    }
}

#[async_trait]
impl SyncStore for MemoryStore {
    async fn lock_pair(
        &self,
        tenant: &TenantId,
        records: &[RecordRef],
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<Option<PairLock>> {
        let now = self.clock.now();
        let records = sorted(records);
        if records.is_empty() {
            return Err(StoreError::Refused(
                "a pair lock needs at least one record".into(),
            ));
        }
        let mut state = self.state();
        if !state.free_for(tenant, &records, owner, now) {
            return Ok(None);
        }
        let token = state.next_token();
        let expires_at = until(now, ttl);
        for record in &records {
            state.locks.insert(
                (tenant.clone(), record.clone()),
                Held {
                    owner: owner.to_owned(),
                    token,
                    expires_at,
                },
            );
        }
        Ok(Some(PairLock {
            tenant: tenant.clone(),
            records,
            owner: owner.to_owned(),
            token,
            expires_at,
        }))
    }

    async fn extend_pair_lock(
        &self,
        lock: &PairLock,
        records: &[RecordRef],
    ) -> StoreResult<Option<PairLock>> {
        let now = self.clock.now();
        let mut state = self.state();
        state.check_lock(lock, &lock.records, now)?;
        let added: Vec<RecordRef> = sorted(records)
            .into_iter()
            .filter(|r| !lock.records.contains(r))
            .collect();
        if !state.free_for(&lock.tenant, &added, &lock.owner, now) {
            return Ok(None);
        }
        for record in &added {
            state.locks.insert(
                (lock.tenant.clone(), record.clone()),
                Held {
                    owner: lock.owner.clone(),
                    token: lock.token,
                    expires_at: lock.expires_at,
                },
            );
        }
        let mut extended = lock.clone();
        extended.records = sorted(&[lock.records.clone(), added].concat());
        Ok(Some(extended))
    }

    async fn renew_pair_lock(&self, lock: &PairLock, ttl: Duration) -> StoreResult<PairLock> {
        let now = self.clock.now();
        let mut state = self.state();
        state.check_lock(lock, &lock.records, now)?;
        let expires_at = until(now, ttl);
        for record in &lock.records {
            if let Some(held) = state.locks.get_mut(&(lock.tenant.clone(), record.clone())) {
                held.expires_at = expires_at;
            }
        }
        let mut renewed = lock.clone();
        renewed.expires_at = expires_at;
        Ok(renewed)
    }

    async fn unlock_pair(&self, lock: &PairLock) -> StoreResult<()> {
        let mut state = self.state();
        for record in &lock.records {
            let key = (lock.tenant.clone(), record.clone());
            if state
                .locks
                .get(&key)
                .is_some_and(|held| held.token == lock.token)
            {
                state.locks.remove(&key);
            }
        }
        Ok(())
    }

    async fn link_by_referral(
        &self,
        tenant: &TenantId,
        referral_id: &str,
    ) -> StoreResult<Option<Link>> {
        Ok(self
            .state()
            .links
            .iter()
            .find(|((t, _), link)| t == tenant && link.referral_id.as_deref() == Some(referral_id))
            .map(|(_, link)| link.clone()))
    }

    async fn link_by_crm(&self, tenant: &TenantId, crm_id: &str) -> StoreResult<Option<Link>> {
        Ok(self
            .state()
            .links
            .iter()
            .find(|((t, _), link)| t == tenant && link.crm_id.as_deref() == Some(crm_id))
            .map(|(_, link)| link.clone()))
    }

    async fn links(&self, tenant: &TenantId, state: LinkState) -> StoreResult<Vec<Link>> {
        let mut links: Vec<Link> = self
            .state()
            .links
            .iter()
            .filter(|((t, _), link)| t == tenant && link.state == state)
            .map(|(_, link)| link.clone())
            .collect();
        links.sort_by_key(|link| (link.created_at, link.pair));
        Ok(links)
    }

    async fn save_link(&self, lock: &PairLock, link: &Link) -> StoreResult<()> {
        let now = self.clock.now();
        let mut state = self.state();
        state.check_lock(lock, &link.records(), now)?;
        let clash = state.links.iter().find(|((t, pair), other)| {
            *t == lock.tenant
                && *pair != link.pair
                && ((link.referral_id.is_some() && other.referral_id == link.referral_id)
                    || (link.crm_id.is_some() && other.crm_id == link.crm_id))
        });
        if let Some((_, other)) = clash {
            return Err(StoreError::Refused(format!(
                "pair {} already links {}",
                other.pair,
                link.records()
                    .iter()
                    .find(|r| other.records().contains(r))
                    .map_or_else(String::new, ToString::to_string)
            )));
        }
        state
            .links
            .insert((lock.tenant.clone(), link.pair), link.clone());
        Ok(())
    }

    async fn baseline(&self, tenant: &TenantId, pair: PairId) -> StoreResult<Option<Baseline>> {
        Ok(self.state().baselines.get(&(tenant.clone(), pair)).cloned())
    }

    async fn save_baseline(
        &self,
        lock: &PairLock,
        pair: PairId,
        baseline: &Baseline,
    ) -> StoreResult<()> {
        let now = self.clock.now();
        let mut state = self.state();
        let link = state
            .links
            .get(&(lock.tenant.clone(), pair))
            .cloned()
            .ok_or_else(|| StoreError::Refused(format!("pair {pair} has no link")))?;
        state.check_lock(lock, &link.records(), now)?;
        state
            .baselines
            .insert((lock.tenant.clone(), pair), baseline.clone());
        Ok(())
    }

    async fn mark_processed(
        &self,
        tenant: &TenantId,
        key: &str,
        expires_at: Timestamp,
    ) -> StoreResult<bool> {
        let now = self.clock.now();
        let mut state = self.state();
        let entry = (tenant.clone(), key.to_owned());
        if state
            .processed
            .get(&entry)
            .is_some_and(|until| *until > now)
        {
            return Ok(false);
        }
        state.processed.insert(entry, expires_at);
        Ok(true)
    }

    async fn is_processed(&self, tenant: &TenantId, key: &str) -> StoreResult<bool> {
        let now = self.clock.now();
        Ok(self
            .state()
            .processed
            .get(&(tenant.clone(), key.to_owned()))
            .is_some_and(|until| *until > now))
    }

    async fn acquire_lease(
        &self,
        tenant: &TenantId,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>> {
        let now = self.clock.now();
        let mut state = self.state();
        let key = (tenant.clone(), name.to_owned());
        if state
            .leases
            .get(&key)
            .is_some_and(|current| current.expires_at > now && current.owner != owner)
        {
            return Ok(None);
        }
        let lease = Lease {
            tenant: tenant.clone(),
            name: name.to_owned(),
            owner: owner.to_owned(),
            token: state.next_token(),
            expires_at: until(now, ttl),
        };
        state.leases.insert(key, lease.clone());
        Ok(Some(lease))
    }

    async fn release_lease(&self, lease: &Lease) -> StoreResult<()> {
        let mut state = self.state();
        let key = (lease.tenant.clone(), lease.name.clone());
        if state
            .leases
            .get(&key)
            .is_some_and(|l| l.token == lease.token)
        {
            state.leases.remove(&key);
        }
        Ok(())
    }

    async fn checkpoint(&self, tenant: &TenantId, stream: &str) -> StoreResult<Option<Checkpoint>> {
        Ok(self
            .state()
            .checkpoints
            .get(&(tenant.clone(), stream.to_owned()))
            .cloned())
    }

    async fn save_checkpoint(
        &self,
        lease: &Lease,
        stream: &str,
        checkpoint: &Checkpoint,
    ) -> StoreResult<()> {
        let now = self.clock.now();
        let mut state = self.state();
        state.check_lease(lease, now)?;
        state.checkpoints.insert(
            (lease.tenant.clone(), stream.to_owned()),
            checkpoint.clone(),
        );
        Ok(())
    }

    async fn enqueue(
        &self,
        tenant: &TenantId,
        dedupe_key: &str,
        payload: serde_json::Value,
    ) -> StoreResult<Option<InboxId>> {
        let now = self.clock.now();
        let mut state = self.state();
        if state
            .inbox
            .values()
            .any(|w| w.event.tenant == *tenant && w.event.dedupe_key == dedupe_key)
        {
            return Ok(None);
        }
        state.next_inbox += 1;
        let id = InboxId(state.next_inbox);
        state.inbox.insert(
            id,
            Waiting {
                event: InboxEvent {
                    id,
                    tenant: tenant.clone(),
                    dedupe_key: dedupe_key.to_owned(),
                    payload,
                    received_at: now,
                    attempts: 0,
                    not_before: now,
                },
                claim: None,
            },
        );
        Ok(Some(id))
    }

    async fn claim_events(
        &self,
        tenant: Option<&TenantId>,
        owner: &str,
        ttl: Duration,
        max: usize,
    ) -> StoreResult<Vec<ClaimedEvent>> {
        let now = self.clock.now();
        let mut state = self.state();
        let ready: Vec<InboxId> = state
            .inbox
            .values()
            .filter(|w| tenant.is_none_or(|t| w.event.tenant == *t))
            .filter(|w| w.event.not_before <= now)
            .filter(|w| w.claim.as_ref().is_none_or(|c| c.expires_at <= now))
            .map(|w| w.event.id)
            .take(max)
            .collect();
        let mut claimed = Vec::with_capacity(ready.len());
        for id in ready {
            let token = state.next_token();
            let Some(waiting) = state.inbox.get_mut(&id) else {
                continue;
            };
            waiting.event.attempts += 1;
            let lease = Lease {
                tenant: waiting.event.tenant.clone(),
                name: format!("inbox/{}", id.0),
                owner: owner.to_owned(),
                token,
                expires_at: until(now, ttl),
            };
            waiting.claim = Some(lease.clone());
            claimed.push(ClaimedEvent {
                event: waiting.event.clone(),
                lease,
            });
        }
        Ok(claimed)
    }

    async fn complete_event(&self, claim: &ClaimedEvent) -> StoreResult<()> {
        let now = self.clock.now();
        let mut state = self.state();
        check_claim(&state, claim, now)?;
        state.inbox.remove(&claim.event.id);
        Ok(())
    }

    async fn retry_event(&self, claim: &ClaimedEvent, not_before: Timestamp) -> StoreResult<()> {
        let now = self.clock.now();
        let mut state = self.state();
        check_claim(&state, claim, now)?;
        if let Some(waiting) = state.inbox.get_mut(&claim.event.id) {
            waiting.claim = None;
            waiting.event.not_before = not_before;
        }
        Ok(())
    }

    async fn inbox_depth(&self, tenant: &TenantId) -> StoreResult<usize> {
        Ok(self
            .state()
            .inbox
            .values()
            .filter(|w| w.event.tenant == *tenant)
            .count())
    }

    async fn add_dead_letter(&self, mut letter: DeadLetter) -> StoreResult<DeadLetterId> {
        let mut state = self.state();
        state.next_letter += 1;
        let id = DeadLetterId(state.next_letter);
        letter.id = id;
        state.dead_letters.insert(id, letter);
        Ok(id)
    }

    async fn merge_dead_letter(&self, letter: DeadLetter) -> StoreResult<DeadLetterId> {
        let mut state = self.state();
        if let Some(existing) = state
            .dead_letters
            .values_mut()
            .find(|existing| existing.same_work(&letter))
        {
            existing.merge(letter);
            return Ok(existing.id);
        }
        state.next_letter += 1;
        let id = DeadLetterId(state.next_letter);
        let mut letter = letter;
        letter.id = id;
        state.dead_letters.insert(id, letter);
        Ok(id)
    }

    async fn dead_letters(&self, tenant: &TenantId, limit: usize) -> StoreResult<Vec<DeadLetter>> {
        Ok(self
            .state()
            .dead_letters
            .values()
            .filter(|l| l.tenant == *tenant)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn dead_letter(
        &self,
        tenant: &TenantId,
        id: DeadLetterId,
    ) -> StoreResult<Option<DeadLetter>> {
        Ok(self
            .state()
            .dead_letters
            .get(&id)
            .filter(|l| l.tenant == *tenant)
            .cloned())
    }

    async fn take_dead_letter(
        &self,
        tenant: &TenantId,
        id: DeadLetterId,
    ) -> StoreResult<Option<DeadLetter>> {
        let mut state = self.state();
        if state
            .dead_letters
            .get(&id)
            .is_some_and(|l| l.tenant == *tenant)
        {
            Ok(state.dead_letters.remove(&id))
        } else {
            Ok(None)
        }
    }

    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<()> {
        self.state().audit.push(entry);
        Ok(())
    }

    async fn pair_counts(&self, tenant: &TenantId) -> StoreResult<PairCounts> {
        let state = self.state();
        let mut counts = PairCounts::default();
        let links: Vec<&Link> = state
            .links
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|(_, link)| link)
            .collect();
        for link in &links {
            counts.add_links(link.state, 1);
        }
        // Each subject's newest telling outcome: the audit is kept in insertion order.
        let mut seen: HashSet<String> = HashSet::new();
        for entry in state.audit.iter().rev().filter(|e| e.tenant == *tenant) {
            if super::types::UNTELLING_OUTCOMES.contains(&entry.outcome.as_str()) {
                continue;
            }
            let pair = entry.pair.or_else(|| {
                entry.records.iter().find_map(|record| {
                    links
                        .iter()
                        .find(|link| link.records().contains(record))
                        .map(|link| link.pair)
                })
            });
            let subject = match (pair, entry.records.first()) {
                (Some(pair), _) => pair.0.to_string(),
                (None, Some(record)) => format!("{record:?}"),
                (None, None) => continue,
            };
            if seen.insert(subject) {
                let linked = pair.is_some_and(|pair| {
                    links
                        .iter()
                        .any(|link| link.pair == pair && link.state == LinkState::Linked)
                });
                counts.add_outcome(&entry.outcome, linked, 1);
            }
        }
        Ok(counts.finish())
    }

    async fn audit(
        &self,
        tenant: &TenantId,
        pair: Option<PairId>,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        Ok(self
            .state()
            .audit
            .iter()
            .rev()
            .filter(|e| e.tenant == *tenant && pair.is_none_or(|p| e.pair == Some(p)))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn record_unmapped(
        &self,
        tenant: &TenantId,
        field: &str,
        value: &str,
    ) -> StoreResult<bool> {
        let now = self.clock.now();
        let mut state = self.state();
        let key = (tenant.clone(), field.to_owned(), value.to_owned());
        if let Some(seen) = state.unmapped.get_mut(&key) {
            seen.count += 1;
            seen.last_seen = now;
            return Ok(false);
        }
        state.unmapped.insert(
            key,
            UnmappedValue {
                field: field.to_owned(),
                value: value.to_owned(),
                first_seen: now,
                last_seen: now,
                count: 1,
            },
        );
        Ok(true)
    }

    async fn unmapped(&self, tenant: &TenantId) -> StoreResult<Vec<UnmappedValue>> {
        Ok(self
            .state()
            .unmapped
            .iter()
            .filter(|((t, _, _), _)| t == tenant)
            .map(|(_, v)| v.clone())
            .collect())
    }

    async fn save_secret(
        &self,
        tenant: &TenantId,
        name: &str,
        secret: &SecretString,
    ) -> StoreResult<()> {
        self.state().secrets.insert(
            (tenant.clone(), name.to_owned()),
            SecretString::from(secret.expose_secret()),
        );
        Ok(())
    }

    async fn secret(&self, tenant: &TenantId, name: &str) -> StoreResult<Option<SecretString>> {
        Ok(self
            .state()
            .secrets
            .get(&(tenant.clone(), name.to_owned()))
            .map(|s| SecretString::from(s.expose_secret())))
    }

    async fn purge(&self, cutoffs: &Retention) -> StoreResult<u64> {
        let now = self.clock.now();
        let mut state = self.state();
        let before = state.processed.len() + state.audit.len() + state.dead_letters.len();
        state.processed.retain(|_, until| *until > now);
        if let Some(cutoff) = cutoffs.audit_before {
            state.audit.retain(|e| e.at >= cutoff);
        }
        if let Some(cutoff) = cutoffs.dead_letters_before {
            state.dead_letters.retain(|_, l| l.at >= cutoff);
        }
        let after = state.processed.len() + state.audit.len() + state.dead_letters.len();
        Ok((before - after) as u64)
    }
}

fn check_claim(state: &State, claim: &ClaimedEvent, now: Timestamp) -> StoreResult<()> {
    let current = state
        .inbox
        .get(&claim.event.id)
        .and_then(|w| w.claim.as_ref());
    match current {
        Some(lease) if lease.token == claim.lease.token && lease.expires_at > now => Ok(()),
        _ => Err(StoreError::Fenced {
            what: format!("the claim on inbox event {}", claim.event.id.0),
            token: claim.lease.token,
        }),
    }
}
