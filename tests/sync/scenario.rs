//! The four scenarios a crash is tried in — a create and an update in each direction — and
//! what must hold once a restarted worker finished: one record on each side, linked both ways,
//! the edit present, and nothing more to write.

use cosell::sync::{OutcomeKind, RecordId, Synchronizer};
use serde_json::json;

use crate::harness::{Harness, shared_referral};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    CreateFromPartnerCenter,
    UpdateFromPartnerCenter,
    CreateFromCrm,
    UpdateFromCrm,
}

/// What a scenario syncs, and the ids it knows before the crashing run.
pub struct Target {
    pub referral: Option<String>,
    pub crm: Option<String>,
}

pub const EDITED: &str = "Edited before the crash.";

pub async fn prepare(h: &Harness, scenario: Scenario) -> Target {
    let setup = h.builder().worker("setup").build().await.unwrap();
    match scenario {
        Scenario::CreateFromPartnerCenter => Target {
            referral: Some(h.share(shared_referral("Crash PC"))),
            crm: None,
        },
        Scenario::UpdateFromPartnerCenter => {
            let id = h.share(shared_referral("Crash PC"));
            let outcome = setup.sync_referral(&id).await;
            assert!(outcome.kind.wrote(), "{outcome:?}");
            h.edit_referral(
                &id,
                json!([{"op": "replace", "path": "/details/notes", "value": EDITED}]),
            );
            Target {
                referral: Some(id),
                crm: outcome.crm_id,
            }
        }
        Scenario::CreateFromCrm => Target {
            referral: None,
            crm: Some(h.seller_opportunity("Crash CRM")),
        },
        Scenario::UpdateFromCrm => {
            let crm = h.seller_opportunity("Crash CRM");
            let outcome = setup.sync_crm_record(&crm).await;
            assert!(outcome.kind.wrote(), "{outcome:?}");
            h.edit_opportunity(&crm, json!({ h.column("notes"): EDITED }));
            Target {
                referral: outcome.referral_id,
                crm: Some(crm),
            }
        }
    }
}

pub async fn trigger(sync: &Synchronizer, target: &Target) {
    match (&target.referral, &target.crm) {
        (Some(referral), None) => {
            sync.sync_referral(referral).await;
        }
        (_, Some(crm)) => {
            sync.sync_crm_record(crm).await;
        }
        (None, None) => unreachable!(),
    }
}

/// What must hold after the scenario ran to its end, whatever happened on the way; `sync` syncs
/// both sides once more and must write nothing.
pub async fn assert_settled(h: &Harness, scenario: Scenario, sync: &Synchronizer, context: &str) {
    // No duplicate on either side, and the pair linked both ways.
    let opportunities = h.opportunities();
    let referrals = h.referrals();
    assert_eq!(opportunities.len(), 1, "{context}: {opportunities:#?}");
    assert_eq!(referrals.len(), 1, "{context}: {referrals:#?}");
    let opportunity = &opportunities[0];
    let referral = &referrals[0];
    let crm_id = h.id_of(opportunity);
    let referral_id = referral["id"].as_str().unwrap();
    assert_eq!(
        opportunity[h.column("referral_id")],
        json!(referral_id),
        "{context}"
    );
    assert_eq!(
        referral["externalReferenceId"].as_str().map(RecordId::new),
        Some(RecordId::new(&crm_id)),
        "{context}"
    );
    // No lost change.
    match scenario {
        Scenario::UpdateFromPartnerCenter => {
            assert_eq!(opportunity[h.column("notes")], json!(EDITED), "{context}");
        }
        Scenario::UpdateFromCrm => {
            assert_eq!(referral["details"]["notes"], json!(EDITED), "{context}");
        }
        _ => {}
    }
    // Converged: syncing from either side writes nothing more.
    let before = h.writes().len();
    for outcome in [
        sync.sync_referral(referral_id).await,
        sync.sync_crm_record(&crm_id).await,
    ] {
        assert!(!outcome.kind.wrote(), "{context}: {outcome:?}");
        assert!(
            !matches!(outcome.kind, OutcomeKind::Busy | OutcomeKind::Failed(_)),
            "{context}: the check itself must run: {outcome:?}"
        );
    }
    assert_eq!(
        h.writes().len(),
        before,
        "{context}: {:#?}",
        &h.writes()[before..]
    );
}
