//! Partner Center's strict mode: what the reference marks UNCONFIRMED is served by default and
//! refused (or not enforced) in strict mode.

mod common;

use common::*;
use cosell_emulator::Emulator;
use serde_json::json;

async fn started(strict: bool) -> (Emulator, String, String) {
    let emulator = Emulator::builder().strict(strict).start().await.unwrap();
    for name in ["a", "b", "c"] {
        emulator
            .partner_center()
            .seed_referral(json!({"name": name, "externalReferenceId": format!("crm-{name}")}))
            .unwrap();
    }
    let token = entra_token(&emulator, REFERRALS).await;
    let base = format!("{}referrals", emulator.urls().partner_center_referrals);
    (emulator, token, base)
}

#[tokio::test]
async fn unconfirmed_listing_options_are_served_by_default_and_refused_when_strict() {
    let options = [
        "$filter=updatedDateTime ge 2020-01-01T00:00:00Z",
        "$filter=externalReferenceId eq 'crm-b'",
        "$filter=(status eq 'New' or externalReferenceId eq 'crm-b')",
        "$skip=1",
        "$count=true",
        "$expand=team",
    ];
    for strict in [false, true] {
        let (_emulator, token, base) = started(strict).await;
        for option in options {
            let (status, body) = get(&format!("{base}?{option}"), &token).await;
            if strict {
                assert_eq!(status, 400, "{option}: {body}");
                assert_eq!(body["error"]["code"], "invalidRequest", "{option}");
            } else {
                assert_eq!(status, 200, "{option}: {body}");
            }
        }
        // What stays documented works in both modes.
        let (status, body) = get(
            &format!("{base}?$filter=status eq 'New'&$orderby=updatedDateTime desc&$top=1"),
            &token,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["value"].as_array().unwrap().len(), 1);
        assert_eq!(body["@odata.count"], 3, "counts every match, not $top");
    }
    let (_emulator, token, base) = started(false).await;
    let (_, skipped) = get(&format!("{base}?$skip=1&$top=1"), &token).await;
    assert_eq!(skipped["value"][0]["name"], "b");
    assert_eq!(skipped["@odata.count"], 3);
    let (_, found) = get(
        &format!("{base}?$filter=externalReferenceId eq 'crm-b'"),
        &token,
    )
    .await;
    assert_eq!(found["value"][0]["name"], "b");
}

#[tokio::test]
async fn strict_patch_ignores_if_match_and_refuses_external_reference_id() {
    for strict in [false, true] {
        let (emulator, token, base) = started(strict).await;
        let referral = &emulator.partner_center().referrals()[0];
        let url = format!("{base}/{}", referral["id"].as_str().unwrap());
        let stale = reqwest::Client::new()
            .patch(&url)
            .bearer_auth(&token)
            .header("if-match", "\"stale\"")
            .header("content-type", "application/json")
            .body(json!([{"op": "replace", "path": "/name", "value": "x"}]).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), if strict { 204 } else { 412 });

        let (status, body) = send(
            "PATCH",
            &url,
            &token,
            &json!([{"op": "replace", "path": "/externalReferenceId", "value": "crm-z"}]),
        )
        .await;
        assert_eq!(status, if strict { 400 } else { 204 }, "{body}");

        // The documented way, PUT with If-Match, writes it in both modes.
        let current = emulator.partner_center().referrals()[0].clone();
        let mut next = current.clone();
        next["externalReferenceId"] = json!("crm-put");
        let answer = reqwest::Client::new()
            .put(&url)
            .bearer_auth(&token)
            .header("if-match", current["eTag"].as_str().unwrap())
            .header("content-type", "application/json")
            .body(next.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(
            emulator.partner_center().referrals()[0]["externalReferenceId"],
            "crm-put"
        );
    }
}
