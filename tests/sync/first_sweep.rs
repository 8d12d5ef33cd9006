//! A first full sweep over records that already belong together: the referral and the CRM
//! record holding its id are both listed, their two jobs meet on one pair, and the sweep's
//! busy retry links them once.

use cosell::store::LinkState;
use cosell::sync::{OutcomeKind, RecordId, SweepMode};
use serde_json::json;

use crate::harness::{BOTH, Harness, shared_referral};

#[tokio::test]
async fn a_first_full_sweep_links_a_listed_referral_and_the_record_holding_its_id_once() {
    for kind in BOTH {
        let h = Harness::new(kind).await;
        // Both jobs of the pair in flight at once.
        let sync = h.builder().max_in_flight(8).build().await.unwrap();
        let referral_id = h.share(shared_referral("Already Paired"));
        let crm_id = h.seller_opportunity("Already Paired");
        h.edit_opportunity(&crm_id, json!({ h.column("referral_id"): referral_id }));

        let report = sync.reconcile(SweepMode::Full).await.unwrap();
        // The two jobs met: one found the pair busy (the audit keeps it) ...
        let audit = sync.store().audit(sync.tenant(), None, 100).await.unwrap();
        assert!(
            audit.iter().any(|entry| entry.outcome == "busy"),
            "{kind:?}: the referral's and the record's jobs met: {audit:#?}"
        );

        // ... and the sweep synced it once more: no outcome is left busy.
        assert!(
            !report
                .outcomes
                .iter()
                .any(|o| matches!(o.kind, OutcomeKind::Busy)),
            "{kind:?}: no pair is left busy: {:#?}",
            report.outcomes
        );
        let links = h
            .store
            .links(sync.tenant(), LinkState::Linked)
            .await
            .unwrap();
        assert_eq!(links.len(), 1, "{kind:?}: one link: {links:#?}");
        assert_eq!(links[0].referral_id.as_deref(), Some(referral_id.as_str()));
        assert_eq!(
            links[0].crm_id.as_deref().map(RecordId::new),
            Some(RecordId::new(&crm_id))
        );
        assert!(
            h.store
                .links(sync.tenant(), LinkState::Pending)
                .await
                .unwrap()
                .is_empty(),
            "{kind:?}"
        );
        // Linked, neither side duplicated: no referral created from the record, no record
        // created from the referral; the referral names the record.
        assert_eq!(h.referrals().len(), 1, "{kind:?}");
        assert_eq!(h.opportunities().len(), 1, "{kind:?}");
        assert_eq!(
            h.referral(&referral_id)["externalReferenceId"]
                .as_str()
                .map(RecordId::new),
            Some(RecordId::new(&crm_id)),
            "{kind:?}"
        );
        let created = report
            .outcomes
            .iter()
            .filter(|o| matches!(o.kind, OutcomeKind::Created { .. }))
            .count();
        assert_eq!(created, 0, "{kind:?}: {:#?}", report.outcomes);

        // The next full sweep finds the pair settled and writes nothing.
        let before = h.writes().len();
        let again = sync.reconcile(SweepMode::Full).await.unwrap();
        assert!(
            again.outcomes.iter().all(|o| !o.kind.wrote()),
            "{kind:?}: {:#?}",
            again.outcomes
        );
        assert_eq!(h.writes().len(), before, "{kind:?}");
    }
}
