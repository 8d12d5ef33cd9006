//! HTTPS beside HTTP on every port, with the CA generated at start; tokens for the served URL;
//! Entra's discovery documents; an answer lost over TLS.

mod common;

use common::*;
use cosell_emulator::{EmulatedApi, Emulator, Fault, FaultRule, Trigger};
use serde_json::{Value, json};

fn trusting(emulator: &Emulator) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(emulator.ca_certificate_pem().as_bytes()).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap()
}

async fn body(answer: reqwest::Response) -> Value {
    json(answer).await
}

#[tokio::test]
async fn https_and_http_share_each_port_and_links_follow_the_scheme() {
    let ca_file =
        std::env::temp_dir().join(format!("cosell-emulator-test-{}.pem", std::process::id()));
    let emulator = Emulator::builder().ca_file(&ca_file).start().await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&ca_file).unwrap(),
        emulator.ca_certificate_pem()
    );
    std::fs::remove_file(&ca_file).unwrap();
    let https = emulator.https_urls();
    let client = trusting(&emulator);

    // A token for the org URL actually served, over HTTPS.
    let dataverse_origin = https
        .dataverse
        .trim_end_matches("api/data/v9.2/")
        .trim_end_matches('/');
    let token = body(
        client
            .post(format!(
                "{}contoso/oauth2/v2.0/token",
                https.entra_authority
            ))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&client_id=app&client_secret=secret&scope={}",
                encode(&format!("{dataverse_origin}/.default"))
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let token = token["access_token"].as_str().unwrap().to_owned();
    let created = client
        .post(format!("{}accounts", https.dataverse))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"name":"over TLS"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 204);
    let entity = created.headers()["odata-entityid"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(entity.starts_with(&https.dataverse), "{entity}");
    let row = body(
        client
            .get(&entity)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(row["name"], "over TLS");

    // The same port still speaks plain HTTP, and a client that does not trust the CA fails.
    let (status, _) = get(&format!("{}accounts", emulator.urls().dataverse), &token).await;
    assert_eq!(status, 200);
    assert!(reqwest::Client::new().get(&entity).send().await.is_err());

    // The other services too.
    let sf = body(
        client
            .post(format!("{}services/oauth2/token", https.salesforce))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&client_id=app&client_secret=secret")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(sf["access_token"].is_string());
    let instance = sf["instance_url"].as_str().unwrap();
    assert_eq!(
        instance,
        https.salesforce.trim_end_matches('/'),
        "the scheme of the login"
    );
}

#[tokio::test]
async fn identity_libraries_find_the_tenant_through_discovery() {
    let emulator = Emulator::start().await.unwrap();
    let https = emulator.https_urls();
    let client = trusting(&emulator);
    let configuration = body(
        client
            .get(format!(
                "{}contoso/v2.0/.well-known/openid-configuration",
                https.entra_authority
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let token_endpoint = configuration["token_endpoint"].as_str().unwrap();
    assert_eq!(
        token_endpoint,
        format!("{}contoso/oauth2/v2.0/token", https.entra_authority)
    );
    let instance = body(
        client
            .get(format!(
                "{}common/discovery/instance?api-version=1.1&authorization_endpoint={}",
                https.entra_authority,
                encode(configuration["authorization_endpoint"].as_str().unwrap())
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        instance["tenant_discovery_endpoint"]
            .as_str()
            .unwrap()
            .ends_with("/.well-known/openid-configuration")
    );
    let token = body(
        client
            .post(token_endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&client_id=a&client_secret=s&scope={}",
                encode(REFERRALS)
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(token["access_token"].is_string());
    let refused = client
        .post(format!(
            "{}contoso/v2.0/.well-known/openid-configuration",
            https.entra_authority
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 405);
    assert_eq!(refused.headers()["allow"], "GET");
}

#[tokio::test]
async fn an_answer_lost_over_https_applies_the_write_and_sends_no_answer() {
    let emulator = Emulator::start().await.unwrap();
    let token = dataverse_token(&emulator).await;
    emulator.faults().add(
        FaultRule::new(EmulatedApi::Dataverse, Fault::AnswerLost)
            .operation("dataverse.create")
            .trigger(Trigger::First(1)),
    );
    let client = trusting(&emulator);
    let lost = client
        .post(format!("{}accounts", emulator.https_urls().dataverse))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(json!({"name": "Lost over TLS"}).to_string())
        .send()
        .await;
    assert!(lost.is_err(), "{lost:?}");
    let rows = emulator.dataverse().records("accounts");
    assert!(
        rows.iter().any(|r| r["name"] == "Lost over TLS"),
        "{rows:?}"
    );
}
