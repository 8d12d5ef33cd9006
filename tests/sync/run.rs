//! The service loop on simulated time: a sleeper that advances the synchronizer's clock, so
//! a quarter of an hour passes in a moment; the emulator keeps its own clock.

use std::sync::Arc;
use std::time::Duration;

use cosell::http::{Clock, ManualClock, RecordingSleeper};
use cosell::sync::Schedule;
use serde_json::json;

use crate::harness::{BOTH, Harness, shared_referral};

#[tokio::test]
async fn the_loop_works_events_polls_the_crm_and_sweeps_until_shut_down() {
    for kind in BOTH {
        let h = Harness::new(kind).await;
        let clock = Arc::new(ManualClock::new("2026-11-30T09:00:00Z".parse().unwrap()));
        let sleeper = Arc::new(RecordingSleeper::with_clock(clock.clone()));
        let sync = h
            .builder()
            .clock(clock.clone())
            .sleeper(sleeper.clone())
            .build()
            .await
            .unwrap();
        // Waiting in the inbox, flagged in the CRM, and shared with its webhook lost.
        let queued = h.share(shared_referral("Queued"));
        let event = cosell::webhook::WebhookEvent::from_json(
            json!({"EventName": "referral-created", "ResourceUri": format!("https://api.partnercenter.microsoft.com/engagements/v1/referrals/{queued}"), "ResourceChangeUtcDate": "2026-11-30T09:00:00Z"}).to_string().as_bytes(),
        )
        .unwrap();
        sync.enqueue(&event).await.unwrap();
        let flagged = h.seller_opportunity("Flagged");
        let schedule = Schedule {
            full_sweep_every: Some(Duration::from_secs(3600)),
            ..Schedule::default()
        };
        let start = clock.now();
        let stop_at = start + jiff::SignedDuration::from_secs(3700);
        let shutdown = {
            let clock = clock.clone();
            async move {
                while clock.now() < stop_at {
                    tokio::task::yield_now().await;
                }
            }
        };
        let report = sync.run(&schedule, shutdown).await;
        assert!(report.errors.is_empty(), "{kind:?}: {:?}", report.errors);
        assert_eq!(report.events, 1, "{kind:?}");
        // Polled every 30 s and swept every 15 min over the hour and a bit, plus at start.
        assert_eq!(report.polls, 3700 / 30 + 1, "{kind:?}: {report:?}");
        assert_eq!(report.delta_sweeps, 3700 / 900 + 1, "{kind:?}: {report:?}");
        assert_eq!(report.full_sweeps, 1, "{kind:?}: {report:?}");
        assert!(
            sleeper
                .sleeps()
                .iter()
                .all(|wait| *wait == Duration::from_secs(1))
        );
        // Every record made it across, once.
        assert_eq!(h.opportunities().len(), 2, "{kind:?}");
        assert_eq!(h.referrals().len(), 2, "{kind:?}");
        assert!(
            h.opportunities()
                .iter()
                .any(|row| row[h.column("referral_id")] == json!(queued))
        );
        assert!(h.opportunity(&flagged).unwrap()[h.column("referral_id")].is_string());
    }
}

/// Holds the first sweep at its lease until released, and says when it holds it.
#[derive(Debug, Default)]
struct HoldSweep {
    holding: std::sync::atomic::AtomicBool,
    release: tokio::sync::Notify,
}

#[async_trait::async_trait]
impl crate::observed::StoreHook for HoldSweep {
    async fn before(&self, _n: usize, _op: &'static str) -> cosell::store::StoreResult<()> {
        Ok(())
    }

    async fn before_lease(&self, name: &str) {
        if name == "sweep" && !self.holding.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.release.notified().await;
        }
    }
}

/// A sweep that takes long (held here at its lease) runs beside the rounds: an event arriving
/// meanwhile is worked at once, and the shutdown lets the sweep finish what it started.
#[tokio::test]
async fn a_long_sweep_holds_neither_the_inbox_nor_the_shutdown_back() {
    let h = Harness::new(crate::harness::Kind::Dataverse).await;
    let clock = Arc::new(ManualClock::new("2026-11-30T09:00:00Z".parse().unwrap()));
    let hook = Arc::new(HoldSweep::default());
    let store = Arc::new(crate::observed::ObservedStore::new(
        Arc::new(cosell::store::MemoryStore::with_clock(clock.clone())),
        hook.clone(),
    ));
    let sync = h
        .builder_on(h.mapping(), store)
        .clock(clock.clone())
        .sleeper(Arc::new(RecordingSleeper::with_clock(clock.clone())))
        .build()
        .await
        .unwrap();
    let swept = h.share(shared_referral("Swept"));
    let shutdown = async {
        // The sweep is held at its lease; an event arrives and must be worked meanwhile.
        while !hook.holding.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
        let arrived = h.share(shared_referral("Arrived"));
        let event = cosell::webhook::WebhookEvent::from_json(
            json!({"EventName": "referral-created", "ResourceUri": format!("https://api.partnercenter.microsoft.com/engagements/v1/referrals/{arrived}"), "ResourceChangeUtcDate": "2026-11-30T09:00:00Z"}).to_string().as_bytes(),
        )
        .unwrap();
        sync.enqueue(&event).await.unwrap();
        while !h
            .opportunities()
            .iter()
            .any(|row| row[h.column("referral_id")] == json!(arrived))
        {
            tokio::task::yield_now().await;
        }
        // Worked while the sweep was still held; now the sweep may go on, and the service
        // stops.
        assert!(
            h.opportunities().len() == 1,
            "the held sweep synced nothing yet"
        );
        hook.release.notify_one();
    };
    let report = tokio::time::timeout(
        Duration::from_secs(120),
        sync.run(&Schedule::default(), shutdown),
    )
    .await
    .expect("the loop worked the inbox beside the held sweep");
    assert!(report.errors.is_empty(), "{report:?}");
    assert!(report.events >= 1, "{report:?}");
    assert_eq!(report.delta_sweeps, 1, "{report:?}");
    // The sweep, released at shutdown, finished: the referral it listed has its opportunity,
    // or was left for the next sweep with the shutdown recorded.
    let synced = h
        .opportunities()
        .iter()
        .any(|row| row[h.column("referral_id")] == json!(swept));
    assert!(
        synced || report.pauses.iter().any(|p| p.contains("ShuttingDown")),
        "{report:?}"
    );
}
