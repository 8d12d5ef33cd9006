//! Reconciliation sweeps: what webhooks and the CRM poll missed, found by listing each side.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use jiff::Timestamp;

use super::{Applied, Deferred, Inner, PackedWrite, PairRun, Synchronizer, Trigger, batching};
use crate::error::Result;
use crate::http::lock;
use crate::partner_center::referrals::ReferralOrderField;
use crate::store::{Checkpoint, LinkState};
use crate::sync::RecordId;
use crate::sync::batching::{Listed, ListedReferral};
use crate::sync::listing::{Cover, CrmListing, HandedOver, Paced, QuietSet};
use crate::sync::outcome::{OutcomeKind, SyncOutcome};

/// The most pairs of a chunk in flight at once (one wave, whose CRM reads go out as one bulk
/// read). Each holds its records, decoded, and its plan until it decides: 10–15 KB a pair.
/// A bulk read could take more ids (153 Dataverse GUIDs, 285 Salesforce ids in a URL), but
/// then the wave's memory, not the tenant's size, would set a sweep's peak; at 100 a chunk
/// of 1,000 changed pairs costs 10 bulk reads instead of 7 (Dataverse) or 4 (Salesforce),
/// against the hundreds of listing pages of a tenant that size.
const MAX_WAVE: usize = 100;

/// The fewest and most pairs of a batched chunk: a chunk's CRM reads go out as one bulk read
/// (chunked to the URL limit) and its writes in batches of the CRM's limit.
const MIN_CHUNK: usize = 200;
const MAX_CHUNK: usize = 1000;

/// A sweep's unit of work: a pair on its own, or a chunk of linked pairs (with the referrals
/// listed for them) synced batched.
enum Unit {
    One(usize, Trigger),
    Chunk(Vec<(usize, Trigger)>, Listed),
}

/// The lease one sweep per tenant holds.
const SWEEP: &str = "sweep";
/// The Partner Center listing's checkpoint.
const PARTNER_CENTER_STREAM: &str = "sweep-partner-center";
/// The CRM listing's checkpoint.
const CRM_STREAM: &str = "sweep-crm";

/// Which records a sweep looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepMode {
    /// Records changed on either side since the last sweep's checkpoints, minus the overlap
    /// window ([`poll_overlap`](super::SynchronizerBuilder::poll_overlap)).
    Delta,
    /// Every referral, every CRM record with the sync flag set, and every linked pair (a CRM
    /// record deleted since is found and unlinked).
    Full,
}

/// How far a sweep has come, given to the progress callback after each pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepProgress {
    /// Pairs to sync in this sweep.
    pub total: usize,
    /// Pairs synced so far (any outcome).
    pub done: usize,
    /// Of those, pairs written to.
    pub written: usize,
    /// Of those, pairs failed, rejected or busy.
    pub failed: usize,
    /// Time since the first pair started, on the synchronizer's clock.
    pub elapsed: std::time::Duration,
}

impl SweepProgress {
    /// Pairs per second so far (`None` before any time has passed).
    pub fn rate(&self) -> Option<f64> {
        let seconds = self.elapsed.as_secs_f64();
        #[allow(clippy::cast_precision_loss)]
        (seconds > 0.0).then(|| self.done as f64 / seconds)
    }

    /// The time the pairs left will take at the rate so far (`None` until there is a rate).
    ///
    /// ```
    /// use std::time::Duration;
    /// use cosell::sync::SweepProgress;
    ///
    /// let progress = SweepProgress {
    ///     total: 100,
    ///     done: 25,
    ///     written: 3,
    ///     failed: 0,
    ///     elapsed: Duration::from_secs(10),
    /// };
    /// assert_eq!(progress.rate(), Some(2.5));
    /// assert_eq!(progress.eta(), Some(Duration::from_secs(30)));
    /// ```
    pub fn eta(&self) -> Option<std::time::Duration> {
        let rate = self.rate().filter(|rate| *rate > 0.0)?;
        #[allow(clippy::cast_precision_loss)]
        let left = self.total.saturating_sub(self.done) as f64;
        std::time::Duration::try_from_secs_f64(left / rate).ok()
    }
}

/// What a sweep did.
#[derive(Debug, Clone)]
pub struct SweepReport {
    /// The mode.
    pub mode: SweepMode,
    /// Whether another worker held the tenant's sweep, so nothing was done.
    pub skipped: bool,
    /// Why the sweep stopped before its last pair, if it did. Its checkpoints stay before the
    /// pairs it [left](Self::left), which the next sweep lists again.
    pub paused: Option<SweepPause>,
    /// Pairs listed but left unsynced because the sweep paused.
    pub left: usize,
    /// Pairs listed that had not changed since their last sync (the listed side still at the
    /// version the sync left, the other side not listed): settled without a request and
    /// without an outcome.
    pub unchanged: usize,
    /// Requests the clients sent while the sweep ran, retries included (other calls on the same
    /// clients in that time count too).
    pub requests: SweepRequests,
    /// Whether another worker took the sweep over while it ran (its lease lapsed unrenewed,
    /// e.g. a process paused for longer than the lock time): it stopped, and moved no
    /// checkpoint.
    pub taken_over: bool,
    /// Referrals the Partner Center listing returned.
    pub referrals_listed: usize,
    /// CRM records the CRM listing returned.
    pub crm_listed: usize,
    /// The outcome of each pair synced.
    pub outcomes: Vec<SyncOutcome>,
    /// Where the Partner Center checkpoint now stands.
    pub partner_center_checkpoint: Option<Timestamp>,
    /// Where the CRM checkpoint now stands.
    pub crm_checkpoint: Option<Timestamp>,
}

/// Why a sweep paused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SweepPause {
    /// The CRM's API usage reached the [budget](super::SynchronizerBuilder::crm_api_budget).
    Budget {
        /// Requests used in the CRM's window.
        used: u64,
        /// The CRM's allowance for the window.
        limit: u64,
    },
    /// The CRM refused a request because its allowance is used up (Salesforce's daily
    /// allocation): retrying would only spend attempts until the window moves on.
    AllowanceExhausted,
    /// The service is shutting down ([`run`](super::Synchronizer::run)'s shutdown): the pairs in
    /// flight finished, the others are left for the next sweep.
    ShuttingDown,
}

/// Requests a sweep spent, per service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepRequests {
    /// To Partner Center's referrals API.
    pub partner_center: u64,
    /// To the CRM.
    pub crm: u64,
}

impl SweepRequests {
    /// Both services together.
    pub fn total(&self) -> u64 {
        self.partner_center + self.crm
    }
}

impl SweepReport {
    /// How many outcomes are of the kind named (`created`, `updated`, `unchanged`, …).
    pub fn count(&self, kind: &str) -> usize {
        self.outcomes
            .iter()
            .filter(|outcome| outcome.kind.name() == kind)
            .count()
    }
}

fn unsettled(outcome: &SyncOutcome) -> bool {
    matches!(outcome.kind, OutcomeKind::Busy)
}

/// The trigger of a sweep's job that ended busy (a busy outcome names the id its job started
/// from: the referral's for a referral job, the record's for a CRM job).
fn busy_trigger(referral_job: bool, outcome: &SyncOutcome) -> Option<Trigger> {
    if !unsettled(outcome) {
        return None;
    }
    if referral_job {
        outcome.referral_id.clone().map(Trigger::Referral)
    } else {
        outcome.crm_id.clone().map(Trigger::Crm)
    }
}

/// The checkpoint after a listing: the newest server time seen, unless a pair could not be
/// settled (busy), when it stays just before the oldest of those so they are listed again.
/// Folded record by record, so a listing is never held whole for it.
#[derive(Debug, Clone, Copy)]
struct CheckpointFold {
    newest: Option<Timestamp>,
    oldest_unsettled: Option<Timestamp>,
}

impl CheckpointFold {
    fn from(previous: Option<Timestamp>) -> Self {
        CheckpointFold {
            newest: previous,
            oldest_unsettled: None,
        }
    }

    fn seen(&mut self, at: Option<Timestamp>, settled: bool) {
        let Some(at) = at else { return };
        if settled {
            self.newest = Some(self.newest.map_or(at, |n| n.max(at)));
        } else {
            self.oldest_unsettled = Some(self.oldest_unsettled.map_or(at, |o| o.min(at)));
        }
    }

    fn finish(self) -> Option<Timestamp> {
        match self.oldest_unsettled {
            Some(oldest) => Some(
                oldest
                    .checked_sub(jiff::SignedDuration::from_nanos(1))
                    .unwrap_or(oldest),
            ),
            None => self.newest,
        }
    }
}

/// [`CheckpointFold`] over a whole listing.
pub(super) fn next_checkpoint(
    previous: Option<Timestamp>,
    seen: impl Iterator<Item = (Option<Timestamp>, bool)>,
) -> Option<Timestamp> {
    let mut fold = CheckpointFold::from(previous);
    for (at, settled) in seen {
        fold.seen(at, settled);
    }
    fold.finish()
}

impl Inner {
    /// Whether the CRM record `id`, listed with the modification time `at`, is linked and still
    /// at the version its pair's last sync left.
    async fn crm_side_unchanged(&self, id: &str, at: Timestamp) -> Result<bool> {
        let Some(link) = self.store.link_by_crm(&self.tenant, id).await? else {
            return Ok(false);
        };
        if link.state != LinkState::Linked || link.referral_id.is_none() {
            return Ok(false);
        }
        Ok(self
            .store
            .baseline(&self.tenant, link.pair)
            .await?
            .is_some_and(|baseline| baseline.crm_modified == Some(at)))
    }
}

impl Synchronizer {
    /// Sweeps the tenant: lists what changed on either side (or everything, [`SweepMode::Full`])
    /// and syncs each pair, at most [`max_in_flight`](super::SynchronizerBuilder::max_in_flight)
    /// at once — recovering webhooks Partner Center gave up on and changes made while the
    /// service was down. One sweep per tenant runs at a time (a store lease); another worker's
    /// call answers a report with `skipped`. Checkpoints are the services' own modification
    /// times, moved only past settled pairs; records sharing one timestamp are listed again
    /// (the overlap), never skipped. A pair the listings show unchanged since its last sync is
    /// settled without a request ([`SweepReport::unchanged`]). The sweep pauses at the CRM's
    /// [budget](super::SynchronizerBuilder::crm_api_budget) or exhausted allowance
    /// ([`SweepReport::paused`]), and reports the requests it spent per service
    /// ([`SweepReport::requests`]).
    ///
    /// # Errors
    /// The store's, or a listing's, before any checkpoint moved.
    pub async fn reconcile(&self, mode: SweepMode) -> Result<SweepReport> {
        self.reconcile_with(mode, |_| {}).await
    }

    /// [`reconcile`](Self::reconcile), calling `progress` after each pair.
    ///
    /// # Errors
    /// As [`reconcile`](Self::reconcile).
    pub async fn reconcile_with(
        &self,
        mode: SweepMode,
        progress: impl Fn(&SweepProgress) + Send + Sync,
    ) -> Result<SweepReport> {
        self.reconcile_until(mode, progress, &AtomicBool::new(false))
            .await
    }

    /// [`reconcile_with`](Self::reconcile_with), stopping as a paused sweep does once `halt` is
    /// set: the pairs in flight finish, no other starts, and the checkpoints stay before the
    /// pairs left ([`SweepPause::ShuttingDown`]). A service sets `halt` on shutdown and waits
    /// for the report, instead of dropping the sweep (whose pair locks would then have to
    /// lapse).
    ///
    /// ```no_run
    /// # async fn demo(sync: &cosell::sync::Synchronizer) -> cosell::Result<()> {
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use cosell::sync::SweepMode;
    ///
    /// let halt = AtomicBool::new(false);
    /// // Elsewhere, on SIGTERM: halt.store(true, Ordering::SeqCst);
    /// let report = sync.reconcile_until(SweepMode::Delta, |_| {}, &halt).await?;
    /// if report.paused.is_some() {
    ///     println!("{} pairs left for the next sweep", report.left);
    /// }
    /// # let _ = Ordering::SeqCst; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`reconcile`](Self::reconcile).
    pub async fn reconcile_until(
        &self,
        mode: SweepMode,
        progress: impl Fn(&SweepProgress) + Send + Sync,
        halt: &AtomicBool,
    ) -> Result<SweepReport> {
        let inner: &Inner = &self.inner;
        let mut report = SweepReport {
            mode,
            skipped: false,
            taken_over: false,
            paused: None,
            left: 0,
            unchanged: 0,
            requests: SweepRequests::default(),
            referrals_listed: 0,
            crm_listed: 0,
            outcomes: Vec::new(),
            partner_center_checkpoint: None,
            crm_checkpoint: None,
        };
        let Some(mut job) = inner.take_lease(SWEEP).await? else {
            report.skipped = true;
            return Ok(report);
        };
        let sent = |inner: &Inner| SweepRequests {
            partner_center: inner.partner_center.pipeline().requests_sent(),
            crm: inner.crm.requests_sent(),
        };
        let before = sent(inner);
        let result = self
            .sweep(mode, &progress, &mut report, &mut job, halt)
            .await;
        let after = sent(inner);
        report.requests = SweepRequests {
            partner_center: after.partner_center - before.partner_center,
            crm: after.crm - before.crm,
        };
        let saved = match result {
            Ok(true) => self.save_checkpoints(&job.lease, &report).await,
            Ok(false) => {
                tracing::warn!("another worker took the sweep over; this one stops");
                report.taken_over = true;
                Ok(())
            }
            Err(error) => Err(error),
        };
        let _ = inner.store.release_lease(&job.lease).await;
        saved.map(|()| report)
    }

    /// Answers whether the sweep ran to its end (`false`: its lease was taken over).
    async fn sweep(
        &self,
        mode: SweepMode,
        progress: &(impl Fn(&SweepProgress) + Send + Sync),
        report: &mut SweepReport,
        job: &mut super::JobLease,
        halt: &AtomicBool,
    ) -> Result<bool> {
        let inner: &Inner = &self.inner;
        let stored = |stream| async move {
            match mode {
                SweepMode::Delta => Ok::<_, crate::Error>(
                    inner
                        .store
                        .checkpoint(&inner.tenant, stream)
                        .await?
                        .map(|checkpoint| checkpoint.at),
                ),
                SweepMode::Full => Ok(None),
            }
        };
        let pc_checkpoint = stored(PARTNER_CENTER_STREAM).await?;
        let crm_checkpoint = stored(CRM_STREAM).await?;

        // The CRM first, matched against the store page by page: a record at the version its
        // pair's last sync left is settled here (its CRM side did not change) and only
        // remembered as listed; the others are kept, with their times, for Partner Center's
        // listing to be matched against.
        let crm_since = crm_checkpoint
            .map(|at| at - inner.poll_overlap)
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let mut crm_fold = CheckpointFold::from(crm_checkpoint);
        let mut crm_open = CrmListing::new();
        let mut crm_quiet = QuietSet::new();
        let page = HandedOver::default();
        let mut hand_over = |id, at| lock(&page).push((id, at));
        let listing = std::pin::pin!(inner.crm.each_changed_since(
            crm_since,
            &inner.columns,
            &mut hand_over
        ));
        let mut listing = Paced::new(listing, &page);
        while let Some(records) = listing.next().await? {
            for (id, at) in records {
                report.crm_listed += 1;
                let id = RecordId::new(&id);
                if inner.crm_side_unchanged(id.as_str(), at).await? {
                    report.unchanged += 1;
                    crm_fold.seen(Some(at), true);
                    crm_quiet.insert(&id);
                } else {
                    crm_open.push(id.as_str(), at);
                }
            }
            // The listings of a large tenant can outlast the lease: it is renewed as they go.
            if !inner.keep_lease(job).await? {
                return Ok(false);
            }
        }
        crm_open.seal();
        crm_quiet.seal();

        // Partner Center, newest change first, down to the checkpoint minus the overlap, page
        // by page: a pair that did not change since its last sync — listed only because it
        // falls in the overlap window, or because a full sweep lists everything — is settled
        // here without a request, and its referral not kept.
        let pc_since = pc_checkpoint.map(|at| at - inner.poll_overlap);
        let mut pc_fold = CheckpointFold::from(pc_checkpoint);
        // The referrals to sync (id, modification time) and, of linked pairs, the referral as
        // listed: those are synced in batched chunks.
        let mut referral_jobs: Vec<(String, Option<Timestamp>)> = Vec::new();
        let mut listed: Listed = HashMap::new();
        let mut pager = inner
            .partner_center
            .referrals()
            .list()
            .order_by(
                ReferralOrderField::UpdatedDateTime,
                crate::Order::Descending,
            )
            .pager();
        'pages: while let Some(page) = pager.next_page().await? {
            if !inner.keep_lease(job).await? {
                return Ok(false);
            }
            for referral in page.items {
                if let (Some(since), Some(updated)) = (pc_since, referral.updated_date_time.value())
                    && *updated < since
                {
                    break 'pages;
                }
                report.referrals_listed += 1;
                let Some(id) = referral.id.as_deref() else {
                    continue;
                };
                let updated = referral.updated_date_time.value().copied();
                let Some(link) = inner.store.link_by_referral(&inner.tenant, id).await? else {
                    referral_jobs.push((id.to_owned(), updated));
                    continue;
                };
                let Some(crm) = link.crm_id.as_deref().map(RecordId::new) else {
                    referral_jobs.push((id.to_owned(), updated));
                    continue;
                };
                // Where the pair's CRM side stands: changed (listed, and not at the version the
                // sync left), or unchanged — listed at that version, or, in a delta sweep, not
                // listed at all. (A full sweep lists every flagged record: one not listed may
                // be gone, and is looked at.)
                let entry = crm_open.find(&crm);
                // Counted unchanged when it was listed (a record changed while it was being
                // listed can come twice: at the old version, and changed).
                let counted = crm_quiet.contains(&crm);
                let crm_unchanged = entry.is_none() && (counted || mode == SweepMode::Delta);
                let quiet = crm_unchanged
                    && link.state == LinkState::Linked
                    && referral.e_tag.value().is_some()
                    && inner
                        .store
                        .baseline(&inner.tenant, link.pair)
                        .await?
                        .is_some_and(|baseline| {
                            baseline.referral_etag.as_ref() == referral.e_tag.value()
                        });
                if let Some(slot) = entry {
                    crm_open.cover(slot, Cover::Job);
                }
                if quiet {
                    // Counted once per pair: with its CRM record, when that was listed.
                    if !counted {
                        report.unchanged += 1;
                    }
                    pc_fold.seen(updated, true);
                    continue;
                }
                if counted {
                    // Its CRM record was counted unchanged, but the pair is synced.
                    report.unchanged = report.unchanged.saturating_sub(1);
                }
                referral_jobs.push((id.to_owned(), updated));
                if link.state == LinkState::Linked
                    && let Some(referral) = ListedReferral::new(&referral)
                {
                    listed.insert(id.to_owned(), referral);
                }
            }
        }

        // The changed or unlinked CRM records no listed referral covers are synced on their
        // own. (A linked record at its pair's version needs no look even when a full sweep did
        // not list its referral: Partner Center never deletes a referral.)
        let mut crm_ids: Vec<String> = Vec::new();
        let mut crm_times: Vec<Timestamp> = Vec::new();
        let mut linked_crm: HashSet<String> = HashSet::new();
        for (id, at, cover) in crm_open.entries() {
            if !inner.keep_lease(job).await? {
                return Ok(false);
            }
            if cover != Cover::Open {
                crm_fold.seen(Some(at), true);
                continue;
            }
            if crm_quiet.contains(&id) {
                report.unchanged = report.unchanged.saturating_sub(1);
            }
            let link = inner.store.link_by_crm(&inner.tenant, id.as_str()).await?;
            if link
                .as_ref()
                .is_some_and(|link| link.state == LinkState::Linked && link.referral_id.is_some())
            {
                linked_crm.insert(id.as_str().to_owned());
            }
            crm_ids.push(id.as_str().to_owned());
            crm_times.push(at);
        }
        drop((crm_open, crm_quiet));

        let total = referral_jobs.len() + crm_ids.len();
        let mut state = SweepProgress {
            total,
            done: 0,
            written: 0,
            failed: 0,
            elapsed: std::time::Duration::ZERO,
        };
        let started = inner.clock.now();
        // Owned jobs, so the sweep's future stays `Send` (it can be spawned). Each pair is read
        // again under its lock: the listing only says which pairs to look at (a listed referral
        // newer than its pair's baseline stands for that read, see `batching`).
        let (referral_ids, referral_times): (Vec<String>, Vec<Option<Timestamp>>) =
            referral_jobs.into_iter().unzip();
        let jobs: Vec<Trigger> = referral_ids
            .into_iter()
            .map(Trigger::Referral)
            .chain(crm_ids.into_iter().map(Trigger::Crm))
            .collect();
        let units = self.units(jobs, listed, &linked_crm);
        // Once paused, the jobs not yet started are left for the next sweep; those in flight
        // finish. The listings told the CRM's usage afresh: a sweep over budget syncs nothing.
        report.paused = self.over_budget();
        if let Some(pause) = &report.paused {
            tracing::warn!(?pause, "over budget: the sweep syncs no pair");
        }
        let stop = AtomicBool::new(report.paused.is_some());
        // One chunk at a time: a chunk already has hundreds of pairs in flight.
        let one_chunk = tokio::sync::Semaphore::new(1);
        let mut outcomes = futures::stream::iter(units)
            .map(|unit| {
                let (stop, one_chunk) = (&stop, &one_chunk);
                async move {
                    match unit {
                        Unit::One(index, trigger) => {
                            let outcome =
                                if stop.load(Ordering::SeqCst) || halt.load(Ordering::SeqCst) {
                                    None
                                } else {
                                    Some(self.run_one(trigger).await)
                                };
                            vec![(index, outcome)]
                        }
                        Unit::Chunk(jobs, listed) => {
                            let _turn = one_chunk.acquire().await;
                            self.run_chunk(jobs, listed, stop, halt).await
                        }
                    }
                }
            })
            .buffered(inner.max_in_flight);
        // Per job, in listing order: whether its pair is settled (a checkpoint may pass it).
        let mut settled: Vec<bool> = vec![false; total];
        let pc_count = referral_times.len();
        // The jobs found busy: (job, place in the report, trigger).
        let mut busy: Vec<(usize, usize, Trigger)> = Vec::new();
        while let Some(unit) = outcomes.next().await {
            for (index, outcome) in unit {
                let Some(outcome) = outcome else {
                    report.left += 1;
                    continue;
                };
                state.done += 1;
                if outcome.kind.wrote() {
                    state.written += 1;
                }
                if matches!(
                    outcome.kind,
                    OutcomeKind::Failed(_) | OutcomeKind::Rejected { .. } | OutcomeKind::Busy
                ) {
                    state.failed += 1;
                }
                let exhausted = matches!(&outcome.kind, OutcomeKind::Failed(error) if error.is_allowance_exhausted());
                settled[index] = !unsettled(&outcome) && !exhausted;
                state.elapsed =
                    std::time::Duration::try_from(inner.clock.now().duration_since(started))
                        .unwrap_or_default();
                tracing::debug!(
                    done = state.done,
                    total = state.total,
                    written = state.written,
                    failed = state.failed,
                    "sweep progress"
                );
                progress(&state);
                if let Some(trigger) = busy_trigger(index < pc_count, &outcome) {
                    busy.push((index, report.outcomes.len(), trigger));
                }
                report.outcomes.push(outcome);
                if report.paused.is_none() {
                    report.paused = if exhausted {
                        Some(SweepPause::AllowanceExhausted)
                    } else {
                        self.over_budget()
                    };
                    if let Some(pause) = &report.paused {
                        tracing::warn!(
                            ?pause,
                            "the sweep pauses; its checkpoints stay before the pairs it left"
                        );
                        stop.store(true, Ordering::SeqCst);
                    }
                }
            }
            if !inner.keep_lease(job).await? {
                return Ok(false);
            }
        }
        drop(outcomes);
        // Two jobs of one sweep can be the same unlinked pair seen from both sides (a referral,
        // and the CRM record that already holds its id): each locks its own record, waits for
        // the other's, and both end busy. Each busy job is synced once more, one at a time,
        // once the others are done: the first links the pair, the second finds it linked.
        for (index, place, trigger) in busy {
            if stop.load(Ordering::SeqCst) || halt.load(Ordering::SeqCst) {
                break;
            }
            let outcome = self.run_one(trigger).await;
            if !unsettled(&outcome) {
                state.failed = state.failed.saturating_sub(1);
                if outcome.kind.wrote() {
                    state.written += 1;
                }
                progress(&state);
            }
            let exhausted = matches!(&outcome.kind, OutcomeKind::Failed(error) if error.is_allowance_exhausted());
            settled[index] = !unsettled(&outcome) && !exhausted;
            report.outcomes[place] = outcome;
        }
        // A halt stops the jobs that had not started (they count in `left`).
        if report.paused.is_none() && report.left > 0 && halt.load(Ordering::SeqCst) {
            report.paused = Some(SweepPause::ShuttingDown);
        }
        tracing::info!(
            total = state.total,
            written = state.written,
            failed = state.failed,
            left = report.left,
            "sweep done"
        );

        for (at, settled) in referral_times.into_iter().zip(&settled[..pc_count]) {
            pc_fold.seen(at, *settled);
        }
        for (at, settled) in crm_times.into_iter().zip(&settled[pc_count..]) {
            crm_fold.seen(Some(at), *settled);
        }
        report.partner_center_checkpoint = pc_fold.finish();
        report.crm_checkpoint = crm_fold.finish();
        // Renewed once more if due, so the checkpoints are saved under a live lease.
        inner.keep_lease(job).await
    }

    /// The sweep's jobs as units of work: the linked pairs in chunks synced batched (where the
    /// CRM batches its writes), every other pair on its own.
    fn units(
        &self,
        jobs: Vec<Trigger>,
        mut listed: Listed,
        linked_crm: &HashSet<String>,
    ) -> Vec<Unit> {
        let limit = self.inner.crm.write_batch_limit();
        let size = limit.clamp(MIN_CHUNK, MAX_CHUNK);
        let mut units = Vec::new();
        let mut chunk: Vec<(usize, Trigger)> = Vec::new();
        let mut chunk_listed: Listed = HashMap::new();
        for (index, trigger) in jobs.into_iter().enumerate() {
            let batched = limit > 1
                && match &trigger {
                    Trigger::Referral(id) => listed.contains_key(id),
                    Trigger::Crm(id) => linked_crm.contains(id),
                };
            if !batched {
                units.push(Unit::One(index, trigger));
                continue;
            }
            if let Trigger::Referral(id) = &trigger
                && let Some(referral) = listed.remove(id)
            {
                chunk_listed.insert(id.clone(), referral);
            }
            chunk.push((index, trigger));
            if chunk.len() == size {
                units.push(Unit::Chunk(
                    std::mem::take(&mut chunk),
                    std::mem::take(&mut chunk_listed),
                ));
            }
        }
        if !chunk.is_empty() {
            units.push(Unit::Chunk(chunk, chunk_listed));
        }
        units
    }

    /// Syncs a chunk's pairs, their CRM reads and writes batched. The pairs start in waves of
    /// one bulk read each; a pair whose one write is to the CRM hands that write back decided
    /// and lets go of the rest, so the chunk holds a wave of passes and its decided writes, not
    /// a pass per pair. The writes then go out in batches; a pair whose write was refused as
    /// stale decides again with the others refused (batched again, up to the attempts a pair
    /// has, then alone).
    async fn run_chunk(
        &self,
        mut jobs: Vec<(usize, Trigger)>,
        mut listed: Listed,
        stop: &AtomicBool,
        halt: &AtomicBool,
    ) -> Vec<(usize, Option<SyncOutcome>)> {
        let mut done = Vec::with_capacity(jobs.len());
        for round in 1.. {
            let deferred = self.run_waves(jobs, listed, stop, halt, &mut done).await;
            // Each write is unpacked as its batch is sent and let go once encoded; one that
            // cannot be is that pair's failure.
            let (updates, then): (Vec<_>, Vec<_>) = deferred
                .into_iter()
                .map(|(index, deferred)| {
                    let Deferred { update, then } = *deferred;
                    (update, (index, then))
                })
                .unzip();
            let results =
                batching::update_all(&*self.inner.crm, &updates, PackedWrite::unpack).await;
            drop(updates);
            let mut again = Vec::new();
            for ((index, then), result) in then.into_iter().zip(results) {
                match self.finish_deferred(then, result).await {
                    Applied::Done(outcome) => done.push((index, Some(outcome))),
                    Applied::Again(trigger) => again.push((index, trigger)),
                }
            }
            if again.is_empty() {
                break;
            }
            if round >= self.inner.attempts {
                for (index, trigger) in again {
                    done.push((index, Some(self.run_one(trigger).await)));
                }
                break;
            }
            jobs = again;
            listed = Listed::new();
        }
        done
    }

    /// Runs `jobs` in waves of one bulk read, each wave's pairs side by side; gives back the
    /// writes they deferred, and adds the other pairs' outcomes to `done`.
    async fn run_waves(
        &self,
        jobs: Vec<(usize, Trigger)>,
        mut listed: Listed,
        stop: &AtomicBool,
        halt: &AtomicBool,
        done: &mut Vec<(usize, Option<SyncOutcome>)>,
    ) -> Vec<(usize, Box<Deferred>)> {
        let wave = self.inner.crm.read_batch_limit().clamp(1, MAX_WAVE);
        let mut deferred = Vec::new();
        let mut jobs = jobs.into_iter().peekable();
        while jobs.peek().is_some() {
            let jobs: Vec<(usize, Trigger)> = jobs.by_ref().take(wave).collect();
            let wave_listed: Listed = jobs
                .iter()
                .filter_map(|(_, trigger)| match trigger {
                    Trigger::Referral(id) => listed.remove_entry(id),
                    Trigger::Crm(_) => None,
                })
                .collect();
            let chunk = Arc::new(batching::Chunk::new(
                Arc::clone(&self.inner.crm),
                self.inner.columns.clone(),
                jobs.len(),
                wave_listed,
            ));
            let pairs = jobs.into_iter().map(|(index, trigger)| {
                let chunk = Arc::clone(&chunk);
                batching::CHUNK.scope(Arc::clone(&chunk), async move {
                    let run = if stop.load(Ordering::SeqCst) || halt.load(Ordering::SeqCst) {
                        None
                    } else {
                        Some(self.run_pair_deferring(trigger).await)
                    };
                    chunk.leave().await;
                    (index, run)
                })
            });
            for (index, run) in futures::future::join_all(pairs).await {
                match run {
                    None => done.push((index, None)),
                    Some(PairRun::Done(outcome)) => done.push((index, Some(outcome))),
                    Some(PairRun::Deferred(write)) => deferred.push((index, write)),
                }
            }
        }
        deferred
    }

    /// The pause the CRM's API usage calls for, if it is at or past the budget.
    fn over_budget(&self) -> Option<SweepPause> {
        let (used, limit) = self.inner.crm.api_usage()?;
        #[allow(clippy::cast_precision_loss)]
        let over = limit > 0 && used as f64 >= self.inner.crm_api_budget * limit as f64;
        over.then_some(SweepPause::Budget { used, limit })
    }

    async fn save_checkpoints(
        &self,
        lease: &crate::store::Lease,
        report: &SweepReport,
    ) -> Result<()> {
        for (stream, at) in [
            (PARTNER_CENTER_STREAM, report.partner_center_checkpoint),
            (CRM_STREAM, report.crm_checkpoint),
        ] {
            if let Some(at) = at {
                self.inner
                    .store
                    .save_checkpoint(lease, stream, &Checkpoint { at, last_id: None })
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::next_checkpoint;
    use jiff::Timestamp;

    fn at(text: &str) -> Option<Timestamp> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn a_checkpoint_moves_to_the_newest_settled_record_and_stops_before_an_unsettled_one() {
        let seen = [
            (at("2026-01-01T00:00:05Z"), true),
            (at("2026-01-01T00:00:09Z"), true),
        ];
        assert_eq!(
            next_checkpoint(None, seen.into_iter()),
            at("2026-01-01T00:00:09Z")
        );
        let seen = [
            (at("2026-01-01T00:00:05Z"), true),
            (at("2026-01-01T00:00:07Z"), false),
            (at("2026-01-01T00:00:09Z"), true),
        ];
        let next = next_checkpoint(at("2026-01-01T00:00:01Z"), seen.into_iter()).unwrap();
        assert!(next < "2026-01-01T00:00:07Z".parse().unwrap());
        assert!(next > "2026-01-01T00:00:06Z".parse().unwrap());
        // Nothing seen: the checkpoint stays.
        assert_eq!(
            next_checkpoint(at("2026-01-01T00:00:01Z"), std::iter::empty()),
            at("2026-01-01T00:00:01Z")
        );
    }
}
