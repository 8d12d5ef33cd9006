//! A full sweep's dry run: it plans, writes nothing anywhere, and the sweep then does what it
//! planned.

use cosell::store::{LinkState, SyncStore, TenantId};
use cosell::sync::{OutcomeKind, PlannedAction, SweepMode, SyncSide};
use serde_json::json;

use crate::harness::{BOTH, Harness, shared_referral};

/// Everything the store holds for a tenant that a sync writes: links in each state, each
/// pair's baseline, the sweep checkpoints, unmapped values, audit entries and dead letters.
async fn store_state(store: &dyn SyncStore, tenant: &TenantId) -> String {
    let mut state = Vec::new();
    for link_state in [LinkState::Pending, LinkState::Linked, LinkState::Unlinked] {
        let mut links = store.links(tenant, link_state).await.unwrap();
        links.sort_by_key(|link| link.pair.0);
        for link in links {
            let baseline = store.baseline(tenant, link.pair).await.unwrap();
            state.push(format!("{link:?} {baseline:?}"));
        }
    }
    for stream in ["sweep-partner-center", "sweep-crm"] {
        state.push(format!(
            "{:?}",
            store.checkpoint(tenant, stream).await.unwrap()
        ));
    }
    state.push(format!("{:?}", store.unmapped(tenant).await.unwrap()));
    state.push(format!(
        "{:?}",
        store.audit(tenant, None, 10_000).await.unwrap()
    ));
    state.push(format!(
        "{:?}",
        store.dead_letters(tenant, 10_000).await.unwrap()
    ));
    state.join("\n")
}

/// A token request: a dry run must still sign in.
fn is_token_request(entry: &cosell_emulator::JournalEntry) -> bool {
    entry.path.contains("/oauth2/")
}

#[tokio::test]
async fn a_dry_run_plans_each_pair_writes_nothing_and_the_sweep_then_does_what_it_planned() {
    for kind in BOTH {
        let h = Harness::new(kind).await;
        let sync = h.sync().await;
        // An unlinked referral: created in the CRM.
        let fresh = h.share(shared_referral("Fresh"));
        // An opportunity made before the sync, holding a referral's id: linked.
        let existing = h.share(shared_referral("Existing"));
        let existing_crm = h.seller_opportunity("Existing");
        h.edit_opportunity(&existing_crm, json!({ h.column("referral_id"): existing }));
        // A linked pair whose referral changed: the CRM's notes are updated.
        let changed = h.share(shared_referral("Changed"));
        let changed_crm = sync.sync_referral(&changed).await.crm_id.unwrap();
        h.edit_referral(
            &changed,
            json!([{"op": "replace", "path": "/details/notes", "value": "Now 60 VMs."}]),
        );
        // A seller's flagged opportunity: a referral is created.
        let seller = h.seller_opportunity("Seller Only");
        // A linked pair whose opportunity was deleted: unlinked.
        let doomed = h.share(shared_referral("Doomed"));
        let doomed_crm = sync.sync_referral(&doomed).await.crm_id.unwrap();
        h.delete_opportunity(&doomed_crm);

        let store_before = store_state(h.store.as_ref(), sync.tenant()).await;
        let journal_before = h.emulator.journal().len();
        let referrals_before = h.referrals();
        let opportunities_before = h.opportunities();

        let preview = sync.preview_full_sweep().await.unwrap();

        let sent: Vec<_> = h.emulator.journal().split_off(journal_before);
        assert!(!sent.is_empty(), "{kind:?}: the dry run read both sides");
        let written: Vec<_> = sent
            .iter()
            .filter(|entry| entry.method != http::Method::GET && !is_token_request(entry))
            .collect();
        assert!(written.is_empty(), "{kind:?}: {written:#?}");
        assert_eq!(
            store_state(h.store.as_ref(), sync.tenant()).await,
            store_before,
            "{kind:?}: the store is unchanged"
        );
        assert_eq!(h.referrals(), referrals_before, "{kind:?}");
        assert_eq!(h.opportunities(), opportunities_before, "{kind:?}");

        let plan = |what: &str, pair: Option<&cosell::sync::PlannedPair>| {
            pair.cloned()
                .unwrap_or_else(|| panic!("{kind:?}: no plan for {what}: {preview:#?}"))
        };
        let fresh_plan = plan("fresh", preview.for_referral(&fresh));
        assert!(
            matches!(&fresh_plan.actions[..], [PlannedAction::CreateCrmRecord { fields }] if fields.iter().any(|f| f == "deal_name")),
            "{kind:?}: {fresh_plan:?}"
        );
        let existing_plan = plan("existing", preview.for_referral(&existing));
        assert_eq!(
            existing_plan.actions.first(),
            Some(&PlannedAction::LinkExisting),
            "{kind:?}: {existing_plan:?}"
        );
        assert_eq!(
            existing_plan
                .crm_id
                .as_deref()
                .map(cosell::sync::RecordId::new),
            Some(cosell::sync::RecordId::new(&existing_crm)),
            "{kind:?}"
        );
        let changed_plan = plan("changed", preview.for_referral(&changed));
        assert_eq!(
            changed_plan.actions,
            [PlannedAction::UpdateCrm {
                fields: vec!["notes".to_owned()]
            }],
            "{kind:?}: {changed_plan:?}"
        );
        let seller_plan = plan("seller", preview.for_crm_record(&seller));
        assert!(
            matches!(&seller_plan.actions[..], [PlannedAction::CreateReferral { fields }] if fields.iter().any(|f| f == "deal_name")),
            "{kind:?}: {seller_plan:?}"
        );
        let doomed_plan = plan("doomed", preview.for_referral(&doomed));
        assert!(
            matches!(&doomed_plan.actions[..], [PlannedAction::Unlink { .. }]),
            "{kind:?}: {doomed_plan:?}"
        );
        assert!(
            preview.pairs.iter().all(|pair| pair.failure.is_none()),
            "{kind:?}: {preview:#?}"
        );

        // The sweep does what the dry run said.
        let report = sync.reconcile(SweepMode::Full).await.unwrap();
        let outcome = |referral: Option<&str>, crm: Option<&str>| {
            report
                .outcomes
                .iter()
                .find(|o| {
                    referral.is_some_and(|r| o.referral_id.as_deref() == Some(r))
                        || crm.is_some_and(|c| {
                            o.crm_id.as_deref().map(cosell::sync::RecordId::new)
                                == Some(cosell::sync::RecordId::new(c))
                        })
                })
                .unwrap_or_else(|| panic!("{kind:?}: {:#?}", report.outcomes))
                .kind
                .clone()
        };
        assert!(
            matches!(
                outcome(Some(&fresh), None),
                OutcomeKind::Created {
                    side: SyncSide::Crm,
                    ..
                }
            ),
            "{kind:?}"
        );
        assert!(
            matches!(
                outcome(None, Some(&seller)),
                OutcomeKind::Created {
                    side: SyncSide::PartnerCenter,
                    ..
                }
            ),
            "{kind:?}"
        );
        assert!(
            matches!(outcome(Some(&changed), None), OutcomeKind::Updated { crm, partner_center, .. } if crm == ["notes"] && partner_center.is_empty()),
            "{kind:?}: {:#?}",
            report.outcomes
        );
        assert!(
            matches!(outcome(Some(&doomed), None), OutcomeKind::Unlinked),
            "{kind:?}"
        );
        // Linked with the fields the plan named written (none when it named none).
        let existing_outcome = outcome(Some(&existing), None);
        let planned_crm = existing_plan.fields_written(SyncSide::Crm);
        let planned_pc = existing_plan.fields_written(SyncSide::PartnerCenter);
        match &existing_outcome {
            OutcomeKind::Updated {
                crm,
                partner_center,
                ..
            } => {
                assert_eq!(crm, &planned_crm, "{kind:?}");
                assert_eq!(partner_center, &planned_pc, "{kind:?}");
            }
            other => assert!(
                planned_crm.is_empty() && planned_pc.is_empty() && !other.wrote(),
                "{kind:?}: {other:?} {existing_plan:?}"
            ),
        }
        let link = h
            .store
            .link_by_referral(sync.tenant(), &existing)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(link.state, LinkState::Linked);
        assert_eq!(
            link.crm_id.as_deref().map(cosell::sync::RecordId::new),
            Some(cosell::sync::RecordId::new(&existing_crm))
        );
        assert_eq!(
            h.opportunity(&changed_crm).unwrap()[h.column("notes")],
            json!("Now 60 VMs.")
        );

        // After the sweep, a dry run plans nothing.
        let again = sync.preview_full_sweep().await.unwrap();
        assert!(
            again.pairs.iter().all(|pair| pair.is_nothing()),
            "{kind:?}: {again:#?}"
        );
    }
}
