//! Webhook scenarios a sync must survive: an event delivered before the write that caused it
//! is visible, and events about the partner's own writes.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use cosell_emulator::{EmulatedApi, Emulator, Fault, FaultRule, Trigger};
use serde_json::{Value, json};

/// What the receiver saw: the event name, and the referral as the API answered it then.
type Seen = Arc<Mutex<Vec<(String, u16, Value)>>>;

/// A receiver that, like a sync, fetches the referral an event names before answering.
async fn receiver(emulator: &Emulator) -> (String, Seen) {
    let token = entra_token(emulator, REFERRALS).await;
    let base = emulator.urls().partner_center_referrals.clone();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let (token, base, record) = (token.clone(), base.clone(), record.clone());
        async move {
            let event: Value = serde_json::from_slice(&body).unwrap();
            let id = event["ResourceUri"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned();
            let (status, referral) = get(&format!("{base}referrals/{id}"), &token).await;
            let name = event["EventName"].as_str().unwrap().to_owned();
            record.lock().unwrap().push((name, status, referral));
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    emulator
        .partner_center()
        .set_registration(Some(&json!({
            "WebhookUrl": url,
            "WebhookEvents": ["referral-created", "referral-updated"],
        })))
        .unwrap();
    (url, seen)
}

fn new_referral() -> Value {
    json!({"name": "Ours", "type": "Independent", "customerProfile": {"name": "c"},
           "consent": {"consentToContact": true}, "details": {"dealValue": 5}})
}

#[tokio::test]
async fn an_event_delivered_before_its_write_is_visible_finds_the_old_state() {
    let emulator = Emulator::start().await.unwrap();
    let (_, seen) = receiver(&emulator).await;
    let pc = emulator.partner_center();
    let shared = pc.share_referral(json!({"name": "before"})).unwrap();
    pc.wait_for_deliveries().await;
    let id = shared["id"].as_str().unwrap();
    emulator.faults().add(
        FaultRule::new(
            EmulatedApi::PartnerCenterWebhooks,
            Fault::DeliverBeforeVisible,
        )
        .trigger(Trigger::First(2)),
    );

    // Microsoft renames the referral: the event arrives, the API still shows the old name.
    pc.update_referral(
        id,
        json!([{"op": "replace", "path": "/name", "value": "after"}]),
    )
    .unwrap();
    // The partner creates one: the event arrives, the API does not know the referral yet.
    let token = entra_token(&emulator, REFERRALS).await;
    let referrals = format!("{}referrals", emulator.urls().partner_center_referrals);
    let (status, created) = send("POST", &referrals, &token, &new_referral()).await;
    assert_eq!(status, 200, "{created}");
    pc.wait_for_deliveries().await;

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[1].0, "referral-updated");
    assert_eq!((seen[1].1, &seen[1].2["name"]), (200, &json!("before")));
    assert_eq!(seen[2].0, "referral-created");
    assert_eq!(seen[2].1, 404, "{}", seen[2].2);
    assert!(pc.deliveries()[1].ahead_of_write);
    let (_, listing) = get(&referrals, &token).await;
    assert_eq!(listing["value"].as_array().unwrap().len(), 1);

    assert_eq!(pc.reveal_writes(), 2);
    let (_, now) = get(&format!("{referrals}/{id}"), &token).await;
    assert_eq!(now["name"], "after");
    let (_, listing) = get(&referrals, &token).await;
    assert_eq!(listing["@odata.count"], 2);
}

#[tokio::test]
async fn a_referral_our_own_client_created_comes_back_as_a_referral_created_event() {
    let emulator = Emulator::start().await.unwrap();
    let (_, seen) = receiver(&emulator).await;
    let token = entra_token(&emulator, REFERRALS).await;
    let referrals = format!("{}referrals", emulator.urls().partner_center_referrals);
    let (_, created) = send("POST", &referrals, &token, &new_referral()).await;
    emulator.partner_center().wait_for_deliveries().await;
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, "referral-created");
        assert_eq!(seen[0].2["id"], created["id"]);
        assert_eq!(seen[0].2["direction"], "Outgoing");
    }

    // Turned off, the partner's own writes are silent; Microsoft's are not.
    emulator.partner_center().set_own_write_events(false);
    send("POST", &referrals, &token, &new_referral()).await;
    emulator
        .partner_center()
        .share_referral(json!({"name": "from Microsoft"}))
        .unwrap();
    emulator.partner_center().wait_for_deliveries().await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].2["name"], "from Microsoft");
}
