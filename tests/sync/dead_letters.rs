//! Dead letters of a pair that keeps failing: one letter per pair and side, however many
//! events fail on it.

use cosell_emulator::{Fault, FaultRule};
use serde_json::json;

use crate::harness::{BOTH, Harness, referral_event, shared_referral};

#[tokio::test]
async fn a_refused_referral_is_one_dead_letter_however_many_of_its_events_fail() {
    for kind in BOTH {
        let h = Harness::new(kind).await;
        let sync = h.sync().await;
        let refused = h.share(shared_referral("Refused"));
        let other = h.share(shared_referral("Also Refused"));
        // The CRM refuses everything for now.
        h.emulator.faults().add(FaultRule::new(
            h.crm_api(),
            Fault::Answer {
                status: 400,
                content_type: "application/json".into(),
                body: json!({"error": {"code": "0x80040203", "message": "Refused."}})
                    .to_string()
                    .into_bytes(),
            },
        ));
        let mut letter_ids = Vec::new();
        for (n, name) in ["referral-created", "referral-updated", "referral-updated"]
            .into_iter()
            .enumerate()
        {
            let at = format!("2026-11-30T10:00:0{n}Z");
            let outcome = sync
                .handle_event(&referral_event(name, &refused, &at))
                .await;
            assert!(
                matches!(outcome.kind.name(), "failed" | "rejected"),
                "{kind:?}: {outcome:?}"
            );
            let letters = sync.dead_letters(100).await.unwrap();
            assert_eq!(letters.len(), 1, "{kind:?}: event {n}: {letters:#?}");
            letter_ids.push(letters[0].id);
        }
        assert!(
            letter_ids.iter().all(|id| *id == letter_ids[0]),
            "{kind:?}: one letter, updated: {letter_ids:?}"
        );
        let letter = sync.dead_letters(100).await.unwrap().remove(0);
        assert_eq!(letter.kind, "referral");
        assert_eq!(
            letter.records,
            [cosell::store::RecordRef::Referral(refused.clone())]
        );
        assert_eq!(
            letter.attempts % 3,
            0,
            "{kind:?}: each failure's attempts add up: {letter:?}"
        );
        assert!(letter.attempts >= 3, "{kind:?}: {letter:?}");
        // Each failure's audit entry names that one letter.
        let audit = sync.store().audit(sync.tenant(), None, 100).await.unwrap();
        let failures: Vec<_> = audit
            .iter()
            .filter(|entry| matches!(entry.outcome.as_str(), "failed" | "rejected"))
            .collect();
        assert_eq!(failures.len(), 3, "{kind:?}: {audit:#?}");
        for entry in &failures {
            assert!(
                entry
                    .detail
                    .as_deref()
                    .is_some_and(|detail| detail.contains(&format!("dead letter {}", letter.id.0))),
                "{kind:?}: {entry:?}"
            );
        }
        // Another referral refused is a letter of its own.
        sync.sync_referral(&other).await;
        assert_eq!(sync.dead_letters(100).await.unwrap().len(), 2, "{kind:?}");

        // The CRM takes them again: one retry each brings both pairs in.
        h.emulator.faults().clear();
        let retried = sync.retry_dead_letters(100).await.unwrap();
        assert_eq!(retried.retried.len(), 2, "{kind:?}: {retried:?}");
        assert!(
            retried
                .retried
                .iter()
                .all(|(_, outcome)| matches!(outcome.kind.name(), "created")),
            "{kind:?}: {retried:?}"
        );
        assert!(sync.dead_letters(100).await.unwrap().is_empty());
        assert_eq!(h.opportunities().len(), 2, "{kind:?}");
    }
}
