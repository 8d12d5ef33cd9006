//! An injected clock: tokens expire, stamps and the journal read it, nothing waits.

mod common;

use std::sync::Arc;

use common::*;
use cosell_emulator::{Emulator, EmulatorClock, ManualClock};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

async fn manual() -> (Arc<ManualClock>, Emulator) {
    let clock = Arc::new(ManualClock::new(at("2026-05-04T10:00:00.25Z")));
    let emulator = Emulator::builder()
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    (clock, emulator)
}

#[tokio::test]
async fn tokens_expire_when_the_manual_clock_passes_their_lifetime() {
    let (clock, emulator) = manual().await;
    let token = entra_token(&emulator, REFERRALS).await;
    let list = format!("{}referrals", emulator.urls().partner_center_referrals);
    assert_eq!(get(&list, &token).await.0, 200);
    clock.advance(SignedDuration::from_secs(3599));
    assert_eq!(get(&list, &token).await.0, 200);
    clock.advance(SignedDuration::from_secs(1));
    let (status, body) = get(&list, &token).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn every_service_stamps_writes_with_the_injected_clock() {
    let (clock, emulator) = manual().await;
    let referral = emulator
        .partner_center()
        .share_referral(json!({"name": "n"}))
        .unwrap();
    assert_eq!(referral["updatedDateTime"], "2026-05-04T10:00:00.2500000Z");

    let dv = dataverse_token(&emulator).await;
    let (status, _) = send(
        "POST",
        &format!("{}accounts", emulator.urls().dataverse),
        &dv,
        &json!({"name": "Fabrikam"}),
    )
    .await;
    assert_eq!(status, 204);
    let (_, rows) = get(
        &format!(
            "{}accounts?$select=name,modifiedon",
            emulator.urls().dataverse
        ),
        &dv,
    )
    .await;
    assert_eq!(rows["value"][0]["modifiedon"], "2026-05-04T10:00:00Z");

    clock.set(at("2027-01-02T03:04:05Z"));
    let sf = salesforce_token(&emulator).await;
    let (status, created) = send(
        "POST",
        &format!("{}sobjects/Account", salesforce_api(&emulator)),
        &sf,
        &json!({"Name": "Contoso"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (_, record) = get(
        &format!(
            "{}sobjects/Account/{}",
            salesforce_api(&emulator),
            created["id"].as_str().unwrap()
        ),
        &sf,
    )
    .await;
    assert_eq!(record["SystemModstamp"], "2027-01-02T03:04:05.000+0000");

    let journal = emulator.journal();
    let last = journal.last().unwrap();
    assert_eq!(last.started, clock.now());
    assert_eq!(last.at, clock.now());
}

#[tokio::test]
async fn stamps_have_each_services_resolution_and_writes_in_one_tick_tie() {
    let (clock, emulator) = manual().await;
    // Dataverse and Salesforce keep whole seconds: two writes 400 ms apart share a stamp.
    let dv = dataverse_token(&emulator).await;
    let sf = salesforce_token(&emulator).await;
    let pc = entra_token(&emulator, REFERRALS).await;
    let referral = json!({"name": "r", "type": "Independent", "customerProfile": {"name": "c"},
                          "consent": {"consentToContact": true}, "details": {"dealValue": 1}});
    for _ in 0..2 {
        let urls = emulator.urls();
        let (status, _) = send(
            "POST",
            &format!("{}accounts", urls.dataverse),
            &dv,
            &json!({"name": "a"}),
        )
        .await;
        assert_eq!(status, 204);
        let (status, _) = send(
            "POST",
            &format!("{}sobjects/Account", salesforce_api(&emulator)),
            &sf,
            &json!({"Name": "a"}),
        )
        .await;
        assert_eq!(status, 201);
        let (status, body) = send(
            "POST",
            &format!("{}referrals", urls.partner_center_referrals),
            &pc,
            &referral,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        clock.advance(SignedDuration::from_millis(400));
    }
    let (_, rows) = get(
        &format!("{}accounts?$select=modifiedon", emulator.urls().dataverse),
        &dv,
    )
    .await;
    assert_eq!(
        rows["value"][0]["modifiedon"],
        rows["value"][1]["modifiedon"]
    );

    let soql = encode(
        "SELECT Id, SystemModstamp FROM Account WHERE SystemModstamp >= 2026-05-04T10:00:00Z",
    );
    let (_, found) = get(&format!("{}query?q={soql}", salesforce_api(&emulator)), &sf).await;
    assert_eq!(found["totalSize"], 2);
    assert_eq!(
        found["records"][0]["SystemModstamp"],
        found["records"][1]["SystemModstamp"]
    );
    assert_eq!(
        found["records"][0]["SystemModstamp"],
        "2026-05-04T10:00:00.000+0000"
    );

    // Partner Center keeps ticks of 100 ns: distinct here, equal when the clock stands still.
    let (_, listing) = get(
        &format!("{}referrals", emulator.urls().partner_center_referrals),
        &pc,
    )
    .await;
    let stamps: Vec<&str> = listing["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["updatedDateTime"].as_str().unwrap())
        .collect();
    assert_eq!(
        stamps,
        [
            "2026-05-04T10:00:00.2500000Z",
            "2026-05-04T10:00:00.6500000Z"
        ]
    );
    let same = emulator.partner_center();
    let a = same.share_referral(json!({})).unwrap();
    let b = same.share_referral(json!({})).unwrap();
    assert_eq!(a["updatedDateTime"], b["updatedDateTime"]);
}
