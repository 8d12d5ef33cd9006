//! Reconciliation sweeps against the emulator, both CRMs.

use std::sync::Arc;

use cosell::sync::{OutcomeKind, SweepMode};
use serde_json::json;

use crate::harness::{BOTH, Harness, Kind, shared_referral};

#[tokio::test]
async fn a_delta_sweep_recovers_a_dropped_webhook_and_changes_made_while_down() {
    for kind in BOTH {
        let h = Harness::new(kind).await;
        let sync = h.sync().await;
        // Shared while nobody listened.
        let dropped = h.share(shared_referral("Dropped"));
        let report = sync.reconcile(SweepMode::Delta).await.unwrap();
        assert!(!report.skipped);
        assert_eq!(
            report.count("created"),
            1,
            "{kind:?}: {:?}",
            report.outcomes
        );
        assert_eq!(h.opportunities().len(), 1);
        let crm_id = h.id_of(&h.opportunities()[0]);
        assert!(report.partner_center_checkpoint.is_some());

        // Changed on both sides while the service was down.
        h.edit_referral(
            &dropped,
            json!([{"op": "replace", "path": "/details/notes", "value": "changed while down"}]),
        );
        let seller = h.seller_opportunity("Flagged While Down");
        let report = sync.reconcile(SweepMode::Delta).await.unwrap();
        assert_eq!(
            h.opportunity(&crm_id).unwrap()[h.column("notes")],
            json!("changed while down"),
            "{kind:?}: {:?}",
            report.outcomes
        );
        assert!(
            h.referrals().iter().any(|r| r["externalReferenceId"]
                .as_str()
                .map(cosell::sync::RecordId::new)
                == Some(cosell::sync::RecordId::new(&seller))),
            "{kind:?}: {:?}",
            report.outcomes
        );
        // Nothing new: a sweep writes nothing.
        let before = h.writes().len();
        let report = sync.reconcile(SweepMode::Delta).await.unwrap();
        assert!(
            report.outcomes.iter().all(|o| !o.kind.wrote()),
            "{kind:?}: {:?}",
            report.outcomes
        );
        assert_eq!(h.writes().len(), before);
    }
}

#[tokio::test]
async fn a_full_sweep_links_what_exists_and_unlinks_what_was_deleted() {
    for kind in BOTH {
        let h = Harness::new(kind).await;
        let sync = h.sync().await;
        // An opportunity created for a referral before the sync was configured (by hand, or by
        // Microsoft's connector), carrying the referral id.
        let id = h.share(shared_referral("Existing"));
        let existing = h.seller_opportunity("Existing");
        h.edit_opportunity(&existing, json!({ h.column("referral_id"): id }));
        // And a linked pair whose opportunity is then deleted.
        let doomed = h.share(shared_referral("Doomed"));
        let doomed_crm = sync.sync_referral(&doomed).await.crm_id.unwrap();
        h.delete_opportunity(&doomed_crm);

        let report = sync.reconcile(SweepMode::Full).await.unwrap();
        let opportunities = h.opportunities();
        assert_eq!(
            opportunities.len(),
            1,
            "{kind:?}: linked, not duplicated: {:?}",
            report.outcomes
        );
        assert_eq!(h.id_of(&opportunities[0]), existing);
        assert_eq!(
            h.referral(&id)["externalReferenceId"]
                .as_str()
                .map(cosell::sync::RecordId::new),
            Some(cosell::sync::RecordId::new(&existing)),
            "{kind:?}"
        );
        assert!(
            report
                .outcomes
                .iter()
                .any(|o| matches!(o.kind, OutcomeKind::Unlinked)),
            "{kind:?}: {:?}",
            report.outcomes
        );
        // A second full sweep neither recreates the deleted record nor writes anything.
        let before = h.writes().len();
        let report = sync.reconcile(SweepMode::Full).await.unwrap();
        assert!(
            report.outcomes.iter().all(|o| !o.kind.wrote()),
            "{kind:?}: {:?}",
            report.outcomes
        );
        assert_eq!(h.writes().len(), before);
        assert_eq!(h.opportunities().len(), 1);
    }
}

#[tokio::test]
async fn records_sharing_one_second_across_pages_are_neither_skipped_nor_synced_twice() {
    for kind in BOTH {
        let clock = Arc::new(cosell_emulator::ManualClock::new(
            "2026-11-30T09:00:00Z".parse().unwrap(),
        ));
        let h = Harness::with_clock(kind, clock.clone()).await;
        h.emulator.partner_center().set_page_size(40);
        let sync = h.builder().max_in_flight(8).build().await.unwrap();
        let count = 500;
        for n in 0..count {
            h.share(shared_referral(&format!("Tie {n}")));
        }
        let seen = std::sync::atomic::AtomicUsize::new(0);
        let report = sync
            .reconcile_with(SweepMode::Delta, |progress| {
                assert!(progress.done <= progress.total);
                seen.fetch_max(progress.done, std::sync::atomic::Ordering::Relaxed);
            })
            .await
            .unwrap();
        assert_eq!(seen.into_inner(), count, "progress reached every pair");
        assert_eq!(report.referrals_listed, count, "{kind:?}");
        assert_eq!(report.count("created"), count, "{kind:?}");
        let opportunities = h.opportunities();
        assert_eq!(opportunities.len(), count, "{kind:?}");
        let distinct: std::collections::HashSet<String> = opportunities
            .iter()
            .map(|row| row[h.column("referral_id")].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            distinct.len(),
            count,
            "{kind:?}: one opportunity per referral"
        );
        // Same second, nothing changed: the next sweep lists them again and writes nothing.
        let before = h.writes().len();
        let again = sync.reconcile(SweepMode::Delta).await.unwrap();
        assert_eq!(again.count("created"), 0, "{kind:?}");
        assert!(again.outcomes.iter().all(|o| !o.kind.wrote()), "{kind:?}");
        assert_eq!(h.writes().len(), before);
    }
}

#[tokio::test]
async fn one_sweep_per_tenant_at_a_time() {
    let h = Harness::new(Kind::Dataverse).await;
    let a = h.builder().worker("a").build().await.unwrap();
    let b = h.builder().worker("b").build().await.unwrap();
    h.share(shared_referral("Once"));
    let (x, y) = tokio::join!(a.reconcile(SweepMode::Delta), b.reconcile(SweepMode::Delta));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert!(
        x.skipped != y.skipped,
        "exactly one sweep ran: {} {}",
        x.skipped,
        y.skipped
    );
    assert_eq!(h.opportunities().len(), 1);
}
