//! Partner Center as its published schema says: types checked on write, coercions applied.

mod common;

use common::*;
use cosell_emulator::Emulator;
use serde_json::{Value, json};

fn referral(details: Value, extra: Value) -> Value {
    let mut body = json!({"name": "n", "type": "Independent", "customerProfile": {"name": "c"},
                          "consent": {"consentToContact": true}, "details": details});
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    body
}

#[tokio::test]
async fn wrong_types_are_refused_and_documented_coercions_applied() {
    let emulator = Emulator::start().await.unwrap();
    let token = entra_token(&emulator, REFERRALS).await;
    let list = format!("{}referrals", emulator.urls().partner_center_referrals);
    for (body, target) in [
        (
            referral(json!({"dealValue": "lots"}), json!({})),
            "details.dealValue",
        ),
        (
            referral(json!({"dealValue": 1}), json!({"favorite": "yes"})),
            "favorite",
        ),
        (
            referral(json!({"dealValue": 1}), json!({"name": 42})),
            "name",
        ),
    ] {
        let (status, error) = send("POST", &list, &token, &body).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(error["error"]["code"], "invalidRequest");
        assert_eq!(error["error"]["target"], target);
    }
    assert!(emulator.partner_center().referrals().is_empty());

    let (status, created) = send(
        "POST",
        &list,
        &token,
        &referral(json!({"dealValue": "10000"}), json!({"favorite": "true"})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["details"]["dealValue"], 10000);
    assert_eq!(created["favorite"], true);

    let url = format!("{list}/{}", created["id"].as_str().unwrap());
    for (patch, target) in [
        (
            json!([{"op": "replace", "path": "/details/dealValue", "value": "lots"}]),
            "details.dealValue",
        ),
        (
            json!([{"op": "replace", "path": "/favorite", "value": "yes"}]),
            "favorite",
        ),
    ] {
        let (status, error) = send("PATCH", &url, &token, &patch).await;
        assert_eq!(status, 400, "{patch}");
        assert_eq!(error["error"]["target"], target);
    }
    let (status, _) = send(
        "PATCH",
        &url,
        &token,
        &json!([{"op": "replace", "path": "/details/dealValue", "value": "2500.5"}]),
    )
    .await;
    assert_eq!(status, 204);
    let (_, stored) = get(&url, &token).await;
    assert_eq!(stored["details"]["dealValue"], 2500.5);
    assert_eq!(stored["favorite"], true);
}
