//! Several Partner Center tenants, each with its own referrals, registration and credentials.

mod common;

use std::time::Duration;

use common::*;
use cosell_emulator::{DeliveryPolicy, Emulator};
use serde_json::json;

async fn token_with(
    emulator: &Emulator,
    tenant: &str,
    client: &str,
    secret: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!(
            "{}{tenant}/oauth2/v2.0/token",
            emulator.urls().entra_authority
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&client_id={client}&client_secret={secret}&scope={}",
            encode(REFERRALS)
        ))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn each_tenant_has_its_own_referrals_registration_and_credentials() {
    let emulator = Emulator::start().await.unwrap();
    let pc = emulator.partner_center();
    let fabrikam = pc.tenant("Fabrikam.onmicrosoft.com");
    let contoso = pc.tenant("contoso.onmicrosoft.com");
    emulator
        .tokens()
        .register_tenant_client("fabrikam.onmicrosoft.com", "fab-app", "fab-secret");
    fabrikam.seed_referral(json!({"name": "F1"})).unwrap();
    fabrikam.seed_referral(json!({"name": "F2"})).unwrap();
    contoso.seed_referral(json!({"name": "C1"})).unwrap();
    pc.seed_referral(json!({"name": "default"})).unwrap();

    // Fabrikam's credentials work at Fabrikam's authority only; other tenants keep any secret.
    let refused = token_with(&emulator, "fabrikam.onmicrosoft.com", "app", "secret").await;
    assert_eq!(refused.status(), 401);
    let fab = json(
        token_with(
            &emulator,
            "fabrikam.onmicrosoft.com",
            "fab-app",
            "fab-secret",
        )
        .await,
    )
    .await;
    let fab = fab["access_token"].as_str().unwrap().to_owned();
    let con = entra_token_in(&emulator, "contoso.onmicrosoft.com", REFERRALS).await;
    let other = entra_token_in(&emulator, "someone-else", REFERRALS).await;

    let list = format!("{}referrals", emulator.urls().partner_center_referrals);
    let names = |body: serde_json::Value| -> Vec<String> {
        body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(get(&list, &fab).await.1), ["F1", "F2"]);
    assert_eq!(names(get(&list, &con).await.1), ["C1"]);
    assert_eq!(names(get(&list, &other).await.1), ["default"]);
    let f1 = fabrikam.referrals()[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(get(&format!("{list}/{f1}"), &con).await.0, 404);
    assert_eq!(get(&format!("{list}/{f1}"), &fab).await.0, 200);

    // One registration per tenant: Contoso registering does not conflict with Fabrikam's.
    let registration = format!("{}registration", emulator.urls().partner_center_webhooks);
    let con_hooks = entra_token_in(&emulator, "contoso.onmicrosoft.com", WEBHOOKS).await;
    let hook = |url: &str| json!({"WebhookUrl": url, "WebhookEvents": ["referral-created"]});
    fabrikam
        .set_registration(Some(&hook("http://127.0.0.1:9/fabrikam")))
        .unwrap();
    let (status, body) = send(
        "POST",
        &registration,
        &con_hooks,
        &hook("http://127.0.0.1:9/contoso"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        contoso.registration().unwrap()["WebhookUrl"],
        "http://127.0.0.1:9/contoso"
    );
    assert_eq!(
        fabrikam.registration().unwrap()["WebhookUrl"],
        "http://127.0.0.1:9/fabrikam"
    );
    assert!(pc.registration().is_none());

    // A referral shared with Fabrikam goes to Fabrikam's registration only.
    pc.set_delivery_policy(DeliveryPolicy {
        max_attempts: 1,
        retry_delay: Duration::ZERO,
        timeout: Duration::from_secs(2),
    });
    fabrikam.share_referral(json!({"name": "F3"})).unwrap();
    pc.wait_for_deliveries().await;
    let delivered = fabrikam.deliveries();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].url, "http://127.0.0.1:9/fabrikam");
    assert_eq!(
        delivered[0].tenant.as_deref(),
        Some("fabrikam.onmicrosoft.com")
    );
    assert!(contoso.deliveries().is_empty());
    assert_eq!(fabrikam.tenant_name(), Some("fabrikam.onmicrosoft.com"));
}
