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
