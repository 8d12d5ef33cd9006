//! Crash at every boundary: a create and an update in both directions, for both CRMs, each run
//! once per store operation (the store fails there and after, as a dead process's would) and
//! once per request to each service (the emulator applies it and loses the answer); then a
//! restarted worker runs the same sync. Every point is enumerated, none sampled: afterwards
//! there is no duplicate, no lost change, and a further sync writes nothing.

use std::sync::Arc;
use std::time::Duration;

use cosell::http::ManualClock;
use cosell::store::{MemoryStore, SyncStore};
use cosell_emulator::{EmulatedApi, Fault, FaultRule, Trigger};

use crate::crashing_store::CrashingStore;
use crate::harness::{Harness, Kind};
use crate::scenario::{Scenario, assert_settled, prepare, trigger};

#[derive(Debug, Clone, Copy)]
enum Crash {
    Store(usize),
    AnswerLost(EmulatedApi, usize),
    /// The process dies before its k-th request to the service reaches it: that request and
    /// every later one to the service fail unapplied.
    Died(EmulatedApi, usize),
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
            let (crashing, crashing_store) = CrashingStore::new(store.clone(), n);
            let doomed = h
                .builder_on(h.mapping(), crashing_store)
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
    assert_settled(&h, scenario, &restarted, &context).await;
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
