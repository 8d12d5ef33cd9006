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
