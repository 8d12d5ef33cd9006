//! Reconciliation sweeps: what webhooks and the CRM poll missed, found by listing each side.

use std::collections::HashSet;

use futures::StreamExt;
use jiff::Timestamp;

use super::{Inner, Synchronizer, Trigger};
use crate::error::Result;
use crate::partner_center::Referral;
use crate::partner_center::referrals::ReferralOrderField;
use crate::store::{Checkpoint, LinkState};
use crate::sync::RecordId;
use crate::sync::outcome::{OutcomeKind, SyncOutcome};

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
}

/// What a sweep did.
#[derive(Debug, Clone)]
pub struct SweepReport {
    /// The mode.
    pub mode: SweepMode,
    /// Whether another worker held the tenant's sweep, so nothing was done.
    pub skipped: bool,
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

/// The checkpoint after a listing: the newest server time seen, unless a pair could not be
/// settled (busy), when it stays just before the oldest of those so they are listed again.
pub(super) fn next_checkpoint(
    previous: Option<Timestamp>,
    seen: impl Iterator<Item = (Option<Timestamp>, bool)>,
) -> Option<Timestamp> {
    let mut newest = previous;
    let mut oldest_unsettled: Option<Timestamp> = None;
    for (at, settled) in seen {
        let Some(at) = at else { continue };
        if settled {
            newest = Some(newest.map_or(at, |n| n.max(at)));
        } else {
            oldest_unsettled = Some(oldest_unsettled.map_or(at, |o| o.min(at)));
        }
    }
    match oldest_unsettled {
        Some(oldest) => Some(
            oldest
                .checked_sub(jiff::SignedDuration::from_nanos(1))
                .unwrap_or(oldest),
        ),
        None => newest,
    }
}

impl Synchronizer {
    /// Sweeps the tenant: lists what changed on either side (or everything, [`SweepMode::Full`])
    /// and syncs each pair, at most [`max_in_flight`](super::SynchronizerBuilder::max_in_flight)
    /// at once — recovering webhooks Partner Center gave up on and changes made while the
    /// service was down. One sweep per tenant runs at a time (a store lease); another worker's
    /// call answers a report with `skipped`. Checkpoints are the services' own modification
    /// times, moved only past settled pairs; records sharing one timestamp are listed again
    /// (the overlap), never skipped.
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
        let inner: &Inner = &self.inner;
        let mut report = SweepReport {
            mode,
            skipped: false,
            referrals_listed: 0,
            crm_listed: 0,
            outcomes: Vec::new(),
            partner_center_checkpoint: None,
            crm_checkpoint: None,
        };
        let Some(lease) = inner
            .store
            .acquire_lease(&inner.tenant, SWEEP, &inner.worker, inner.lock_ttl)
            .await?
        else {
            report.skipped = true;
            return Ok(report);
        };
        let result = self.sweep(mode, &progress, &mut report).await;
        let saved = match result {
            Ok(()) => self.save_checkpoints(&lease, &report).await,
            Err(error) => Err(error),
        };
        let _ = inner.store.release_lease(&lease).await;
        saved.map(|()| report)
    }

    async fn sweep(
        &self,
        mode: SweepMode,
        progress: &(impl Fn(&SweepProgress) + Send + Sync),
        report: &mut SweepReport,
    ) -> Result<()> {
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

        // Partner Center, newest change first, down to the checkpoint minus the overlap.
        let pc_since = pc_checkpoint.map(|at| at - inner.poll_overlap);
        let mut referrals: Vec<Referral> = Vec::new();
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
            for referral in page.items {
                if let (Some(since), Some(updated)) = (pc_since, referral.updated_date_time.value())
                    && *updated < since
                {
                    break 'pages;
                }
                referrals.push(referral);
            }
        }
        report.referrals_listed = referrals.len();

        // The CRM, since its checkpoint minus the overlap (everything with the flag when full).
        let crm_since = crm_checkpoint
            .map(|at| at - inner.poll_overlap)
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let changed = inner.crm.changed_since(crm_since, &inner.columns).await?;
        report.crm_listed = changed.len();

        // A CRM record whose referral is synced in this sweep is synced with it.
        let mut covered: HashSet<RecordId> = HashSet::new();
        for referral in &referrals {
            let Some(id) = referral.id.as_deref() else {
                continue;
            };
            if let Some(link) = inner.store.link_by_referral(&inner.tenant, id).await?
                && let Some(crm) = link.crm_id
            {
                covered.insert(RecordId::new(&crm));
            }
        }
        let mut crm_ids: Vec<String> = changed
            .iter()
            .map(|(id, _)| id.clone())
            .filter(|id| !covered.contains(&RecordId::new(id)))
            .collect();
        if mode == SweepMode::Full {
            // Linked pairs neither listing returned: their CRM record may be gone.
            let listed: HashSet<RecordId> =
                changed.iter().map(|(id, _)| RecordId::new(id)).collect();
            for link in inner.store.links(&inner.tenant, LinkState::Linked).await? {
                if let Some(crm) = link.crm_id
                    && !listed.contains(&RecordId::new(&crm))
                    && !covered.contains(&RecordId::new(&crm))
                {
                    crm_ids.push(crm);
                }
            }
        }

        let total = referrals.len() + crm_ids.len();
        let mut state = SweepProgress {
            total,
            done: 0,
            written: 0,
            failed: 0,
        };
        let referral_times: Vec<Option<Timestamp>> = referrals
            .iter()
            .map(|referral| referral.updated_date_time.value().copied())
            .collect();
        // Owned jobs, so the sweep's future stays `Send` (it can be spawned). Each pair is read
        // again under its lock: the listing only says which pairs to look at.
        let mut jobs: Vec<Trigger> = referrals
            .iter()
            .map(|referral| {
                Trigger::Referral(referral.id.as_deref().unwrap_or_default().to_owned())
            })
            .collect();
        jobs.extend(crm_ids.iter().map(|id| Trigger::Crm(id.clone())));
        let mut outcomes = futures::stream::iter(jobs)
            .map(|trigger| self.run_one(trigger))
            .buffered(inner.max_in_flight);
        while let Some(outcome) = outcomes.next().await {
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
            progress(&state);
            report.outcomes.push(outcome);
        }
        tracing::info!(
            total = state.total,
            written = state.written,
            failed = state.failed,
            "sweep done"
        );

        let pc_count = referral_times.len();
        report.partner_center_checkpoint = next_checkpoint(
            pc_checkpoint,
            referral_times
                .into_iter()
                .zip(&report.outcomes[..pc_count])
                .map(|(at, outcome)| (at, !unsettled(outcome))),
        );
        let crm_times: std::collections::HashMap<RecordId, Timestamp> = changed
            .iter()
            .map(|(id, at)| (RecordId::new(id), *at))
            .collect();
        let covered_times = changed
            .iter()
            .filter(|(id, _)| covered.contains(&RecordId::new(id)))
            .map(|(_, at)| (Some(*at), true));
        let crm_seen = crm_ids
            .iter()
            .zip(&report.outcomes[pc_count..])
            .map(|(id, outcome)| {
                (
                    crm_times.get(&RecordId::new(id)).copied(),
                    !unsettled(outcome),
                )
            });
        report.crm_checkpoint = next_checkpoint(crm_checkpoint, crm_seen.chain(covered_times));
        Ok(())
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
