//! Crash at every boundary: a create and an update in both directions, for both CRMs, each run
//! once per store operation (the store fails there and after, as a dead process's would) and
//! once per request to each service (the emulator applies it and loses the answer); then a
//! restarted worker runs the same sync. Every point is enumerated, none sampled: afterwards
//! there is no duplicate, no lost change, and a further sync writes nothing.

use std::sync::Arc;
use std::time::Duration;

use cosell::http::ManualClock;
use cosell::store::{MemoryStore, SyncStore};
use cosell::sync::RecordId;
use cosell_emulator::{EmulatedApi, Fault, FaultRule, Trigger};
use serde_json::json;

use crate::crashing_store::CrashingStore;
use crate::harness::{Harness, Kind, shared_referral};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    CreateFromPartnerCenter,
    UpdateFromPartnerCenter,
    CreateFromCrm,
    UpdateFromCrm,
}

#[derive(Debug, Clone, Copy)]
enum Crash {
    Store(usize),
    AnswerLost(EmulatedApi, usize),
    /// The process dies before its k-th request to the service reaches it: that request and
    /// every later one to the service fail unapplied.
    Died(EmulatedApi, usize),
}

/// What a scenario syncs, and the ids it knows before the crashing run.
struct Target {
    referral: Option<String>,
    crm: Option<String>,
}

const EDITED: &str = "Edited before the crash.";

async fn prepare(h: &Harness, scenario: Scenario) -> Target {
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

async fn trigger(sync: &cosell::sync::Synchronizer, target: &Target) {
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

/// Runs one crash case; answers whether the crash point was reached.
async fn case(kind: Kind, strict: bool, scenario: Scenario, crash: Crash) -> bool {
    let clock = Arc::new(ManualClock::new("2026-11-30T09:00:00Z".parse().unwrap()));
    let store: Arc<dyn SyncStore> = Arc::new(MemoryStore::with_clock(clock.clone()));
    let h = Harness::with_store(kind, store.clone()).await;
    h.emulator.partner_center().set_strict(strict);
    let target = prepare(&h, scenario).await;

    let reached = match crash {
        Crash::Store(n) => {
            let crashing = Arc::new(CrashingStore::new(store.clone(), n));
            let doomed = h
                .builder_on(h.mapping(), crashing.clone())
                .worker("doomed")
                .build()
                .await
                .unwrap();
            trigger(&doomed, &target).await;
            crashing.crashed()
        }
        Crash::AnswerLost(api, k) | Crash::Died(api, k) => {
            let doomed = h.builder().worker("doomed").build().await.unwrap();
            let before = h.emulator.count_all(api);
            let mut schedule = vec![false; k];
            let fault = if let Crash::AnswerLost(..) = crash {
                schedule.push(true);
                Fault::AnswerLost
            } else {
                schedule.extend([true; 100]);
                Fault::Unavailable
            };
            h.emulator
                .faults()
                .add(FaultRule::new(api, fault).trigger(Trigger::Schedule(schedule)));
            trigger(&doomed, &target).await;
            h.emulator.faults().clear();
            h.emulator.count_all(api) - before > k
        }
    };

    // The dead worker's lock lapses; a new one runs the same sync.
    clock.advance(Duration::from_secs(600));
    let restarted = h.builder().worker("restarted").build().await.unwrap();
    trigger(&restarted, &target).await;

    let context = format!("{kind:?} strict={strict} {scenario:?} {crash:?}");
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
        restarted.sync_referral(referral_id).await,
        restarted.sync_crm_record(&crm_id).await,
    ] {
        assert!(!outcome.kind.wrote(), "{context}: {outcome:?}");
    }
    assert_eq!(
        h.writes().len(),
        before,
        "{context}: {:#?}",
        &h.writes()[before..]
    );
    reached
}

async fn every_store_operation(kind: Kind, strict: bool, scenario: Scenario) -> usize {
    let mut n = 0;
    while case(kind, strict, scenario, Crash::Store(n)).await {
        n += 1;
        assert!(n < 500, "the sync never finished");
    }
    n
}

async fn every_lost_answer(kind: Kind, strict: bool, scenario: Scenario) -> usize {
    let crm = match kind {
        Kind::Dataverse => EmulatedApi::Dataverse,
        Kind::Salesforce => EmulatedApi::Salesforce,
    };
    let mut cases = 0;
    for api in [EmulatedApi::PartnerCenterReferrals, crm] {
        for crash in [Crash::AnswerLost, Crash::Died] {
            let mut k = 0;
            while case(kind, strict, scenario, crash(api, k)).await {
                k += 1;
                cases += 1;
                assert!(k < 200, "the sync never finished");
            }
        }
    }
    cases
}

macro_rules! crash_tests {
    ($($name:ident: $kind:expr, $strict:expr, $scenario:expr;)*) => {$(
        #[tokio::test]
        async fn $name() {
            let store_points = every_store_operation($kind, $strict, $scenario).await;
            let requests = every_lost_answer($kind, $strict, $scenario).await;
            println!("{:?} strict={} {:?}: {store_points} store operations, {requests} request faults", $kind, $strict, $scenario);
            // Both enumerations reached real points of the sync.
            assert!(store_points >= 4, "{store_points} store operations");
            assert!(requests >= 2, "{requests} requests");
        }
    )*};
}

crash_tests! {
    crash_dataverse_create_from_partner_center: Kind::Dataverse, false, Scenario::CreateFromPartnerCenter;
    crash_dataverse_create_from_partner_center_strict: Kind::Dataverse, true, Scenario::CreateFromPartnerCenter;
    crash_dataverse_update_from_partner_center: Kind::Dataverse, false, Scenario::UpdateFromPartnerCenter;
    crash_dataverse_create_from_crm: Kind::Dataverse, false, Scenario::CreateFromCrm;
    crash_dataverse_create_from_crm_strict: Kind::Dataverse, true, Scenario::CreateFromCrm;
    crash_dataverse_update_from_crm: Kind::Dataverse, false, Scenario::UpdateFromCrm;
    crash_salesforce_create_from_partner_center: Kind::Salesforce, false, Scenario::CreateFromPartnerCenter;
    crash_salesforce_create_from_partner_center_strict: Kind::Salesforce, true, Scenario::CreateFromPartnerCenter;
    crash_salesforce_update_from_partner_center: Kind::Salesforce, false, Scenario::UpdateFromPartnerCenter;
    crash_salesforce_create_from_crm: Kind::Salesforce, false, Scenario::CreateFromCrm;
    crash_salesforce_create_from_crm_strict: Kind::Salesforce, true, Scenario::CreateFromCrm;
    crash_salesforce_update_from_crm: Kind::Salesforce, false, Scenario::UpdateFromCrm;
}
