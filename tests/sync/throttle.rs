//! Sweeps within the services' limits: throttled mid-sweep they slow down and finish; an
//! exhausted Salesforce allocation, or the budget kept for the org's other integrations, pauses
//! them with their checkpoints before what they left; and what they spend is counted.

use std::sync::Arc;
use std::time::Duration;

use cosell::sync::{OutcomeKind, SweepMode, SweepPause};
use cosell_emulator::{EmulatedApi, Fault, FaultRule, Trigger};
use serde_json::json;

use crate::harness::{Harness, Kind, MODES, shared_referral};

/// Every third request to `api` answered with its throttling signal.
fn throttle(h: &Harness, api: EmulatedApi, fault: Fault) {
    h.emulator.faults().add(
        FaultRule::new(api, fault)
            .trigger(Trigger::Schedule((0..600).map(|i| i % 3 == 1).collect())),
    );
}

/// Salesforce's answer when too many long requests run at once: the same code as an exhausted
/// allocation, another message.
fn concurrency_limit() -> Fault {
    Fault::Answer {
        status: 403,
        content_type: "application/json".into(),
        body: json!([{"message": "ConcurrentPerOrgLongTxn Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
            .to_string()
            .into_bytes(),
    }
}

#[tokio::test]
async fn a_throttled_sweep_waits_as_told_and_syncs_every_pair_once() {
    for (kind, strict) in MODES {
        let h = Harness::mode(kind, strict).await;
        let sync = h.sync().await;
        let shared: Vec<String> = (0..8)
            .map(|i| h.share(shared_referral(&format!("Throttled {i}"))))
            .collect();
        let flagged: Vec<String> = (0..3)
            .map(|i| h.seller_opportunity(&format!("Flagged {i}")))
            .collect();
        let retry_after = Duration::from_secs(7);
        throttle(
            &h,
            EmulatedApi::PartnerCenterReferrals,
            Fault::TooManyRequests { retry_after },
        );
        match kind {
            Kind::Dataverse => throttle(
                &h,
                EmulatedApi::Dataverse,
                Fault::TooManyRequests { retry_after },
            ),
            Kind::Salesforce => throttle(&h, EmulatedApi::Salesforce, concurrency_limit()),
        }
        let context = format!("{kind:?} strict={strict}");
        let report = sync.reconcile(SweepMode::Delta).await.unwrap();
        h.emulator.faults().clear();

        let throttled = h
            .requests()
            .iter()
            .filter(|e| e.status == 429 || e.status == 403)
            .count();
        assert!(throttled >= 10, "{context}: {throttled} throttled answers");
        assert!(
            h.sleeper.sleeps().contains(&retry_after),
            "{context}: Retry-After honoured: {:?}",
            h.sleeper.sleeps()
        );
        assert_eq!(report.paused, None, "{context}");
        assert_eq!(
            report.count("created"),
            shared.len() + flagged.len(),
            "{context}: {:#?}",
            report.outcomes
        );
        assert!(
            !report
                .outcomes
                .iter()
                .any(|o| matches!(o.kind, OutcomeKind::Failed(_) | OutcomeKind::Busy)),
            "{context}: {:#?}",
            report.outcomes
        );
        assert_eq!(
            h.opportunities().len(),
            shared.len() + flagged.len(),
            "{context}"
        );
        assert_eq!(
            h.referrals().len(),
            shared.len() + flagged.len(),
            "{context}"
        );
        assert!(report.partner_center_checkpoint.is_some(), "{context}");
        assert!(report.crm_checkpoint.is_some(), "{context}");

        // Its checkpoints are right: the next sweep finds nothing to write.
        let before = h.writes().len();
        let again = sync.reconcile(SweepMode::Delta).await.unwrap();
        assert!(again.outcomes.iter().all(|o| !o.kind.wrote()), "{context}");
        assert_eq!(h.writes().len(), before, "{context}");
    }
}

#[tokio::test]
async fn an_exhausted_salesforce_allocation_pauses_the_sweep_which_resumes_later() {
    for strict in [false, true] {
        let h = Harness::mode(Kind::Salesforce, strict).await;
        // The budget out of the way: the org's own limit stops this sweep. One pair at a time,
        // so that exactly one meets the refusal.
        let sync = h
            .builder()
            .crm_api_budget(1.0)
            .max_in_flight(1)
            .build()
            .await
            .unwrap();
        for i in 0..8 {
            h.share(shared_referral(&format!("Allocation {i}")));
        }
        let org = h.emulator.salesforce();
        org.set_daily_api_limit(org.api_usage().used + 12);
        let report = sync.reconcile(SweepMode::Delta).await.unwrap();
        let context = format!("strict={strict}: {:#?}", report.outcomes);
        assert_eq!(
            report.paused,
            Some(SweepPause::AllowanceExhausted),
            "{context}"
        );
        assert!(report.left > 0, "{context}");
        let created = report.count("created");
        assert!(created < 8, "{context}");
        assert_eq!(h.opportunities().len(), created, "{context}");
        // The refused requests were not retried: an allocation does not come back in seconds.
        let refused = h
            .requests()
            .iter()
            .filter(|e| e.api == EmulatedApi::Salesforce && e.status == 403)
            .count();
        assert_eq!(refused, 1, "strict={strict}: refused requests");

        // The window moves on: the next sweep lists what the first left, and syncs each once.
        org.set_daily_api_limit(1_000_000);
        let report = sync.reconcile(SweepMode::Delta).await.unwrap();
        assert_eq!(report.paused, None);
        assert_eq!(
            h.opportunities().len(),
            8,
            "strict={strict}: {:#?}",
            report.outcomes
        );
        let mut ids: Vec<String> = h
            .opportunities()
            .iter()
            .map(|o| o[h.column("referral_id")].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 8, "one opportunity per referral");
    }
}

#[tokio::test]
async fn a_sweep_stops_at_its_budget_of_the_salesforce_allocation() {
    let h = Harness::new(Kind::Salesforce).await;
    let sync = h
        .builder()
        .crm_api_budget(0.5)
        .max_in_flight(1)
        .build()
        .await
        .unwrap();
    for i in 0..8 {
        h.share(shared_referral(&format!("Budget {i}")));
    }
    let org = h.emulator.salesforce();
    // Half the allocation is reached after a dozen more requests.
    let limit = 2 * (org.api_usage().used + 12);
    org.set_daily_api_limit(limit);
    let report = sync.reconcile(SweepMode::Delta).await.unwrap();
    let Some(SweepPause::Budget { used, limit: seen }) = report.paused else {
        panic!("{:?}: {:#?}", report.paused, report.outcomes);
    };
    assert_eq!(seen, limit);
    assert!(used * 2 >= limit, "{used} of {limit}");
    assert!(report.left > 0);
    // Well within the org's allocation: nobody else was starved.
    assert!(org.api_usage().used < limit);
    assert!(
        h.requests().iter().all(|e| e.status != 403),
        "no request was refused"
    );

    // Still over budget: the next sweep spends its listings (which tell the usage afresh) and
    // syncs nothing.
    let before = h.requests().len();
    let report = sync.reconcile(SweepMode::Delta).await.unwrap();
    assert!(matches!(report.paused, Some(SweepPause::Budget { .. })));
    assert!(report.outcomes.is_empty(), "{:#?}", report.outcomes);
    let spent = &h.requests()[before..];
    assert!(
        spent.iter().all(|e| e.method == http::Method::GET),
        "listings only"
    );
    assert_eq!(report.requests.total(), spent.len() as u64);

    // A larger allocation: the rest is synced.
    org.set_daily_api_limit(1_000_000);
    let report = sync.reconcile(SweepMode::Delta).await.unwrap();
    assert_eq!(report.paused, None);
    assert_eq!(h.opportunities().len(), 8, "{:#?}", report.outcomes);
}

#[tokio::test]
async fn a_sweep_over_unchanged_pairs_spends_only_its_list_pages_and_reports_them() {
    for kind in [Kind::Dataverse, Kind::Salesforce] {
        let clock = Arc::new(cosell_emulator::ManualClock::new(
            "2026-11-30T09:00:00Z".parse().unwrap(),
        ));
        let h = Harness::with_clock(kind, clock.clone()).await;
        let sync = h.sync().await;
        for i in 0..30 {
            h.share(shared_referral(&format!("Unchanged {i}")));
        }
        let start = h.requests().len();
        let first = sync.reconcile(SweepMode::Full).await.unwrap();
        assert_eq!(first.count("created"), 30, "{kind:?}");
        // The requests it reports are those the services answered.
        let journal = h.requests()[start..].to_vec();
        let partner_center = journal
            .iter()
            .filter(|e| e.api == EmulatedApi::PartnerCenterReferrals)
            .count() as u64;
        assert_eq!(first.requests.partner_center, partner_center, "{kind:?}");
        assert_eq!(
            first.requests.crm,
            journal.len() as u64 - partner_center,
            "{kind:?}"
        );

        // Past the overlap window, nothing changed: only the listings.
        clock.advance(jiff::SignedDuration::from_secs(600));
        let before = h.requests().len();
        let report = sync.reconcile(SweepMode::Delta).await.unwrap();
        let spent = &h.requests()[before..];
        assert!(
            report.outcomes.is_empty(),
            "{kind:?}: {:#?}",
            report.outcomes
        );
        assert_eq!(report.requests.total(), spent.len() as u64, "{kind:?}");
        assert!(
            spent.iter().all(|e| e.method == http::Method::GET
                && (e.operation.contains("list") || e.operation.contains("query"))),
            "{kind:?}: {:#?}",
            spent
                .iter()
                .map(|e| format!("{} {}", e.method, e.operation))
                .collect::<Vec<_>>()
        );
        assert_eq!(report.requests.partner_center, 1, "{kind:?}: one page");
        assert_eq!(report.requests.crm, 1, "{kind:?}: one query");
    }
}
