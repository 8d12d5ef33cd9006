//! The emulator's token endpoints serve the crate's own token providers.

use std::sync::{Arc, Mutex};

use cosell::auth::{
    CachedTokenProvider, ClientCredentials, DelegatedScope, DeviceCodeFlow, EntraAuthority,
    RefreshTokenProvider, TokenProvider,
};
use cosell::http::{GenericProfile, Pipeline, RecordingSleeper};
use cosell_emulator::{EmulatedApi, Emulator, ServiceRequest, TokenCheck};
use secrecy::{ExposeSecret, SecretString};

fn authority(emulator: &Emulator) -> EntraAuthority {
    EntraAuthority::new(&emulator.urls().entra_authority, "contoso")
        .unwrap()
        .sleeper(Arc::new(RecordingSleeper::new()))
}

fn request_with(token: &str) -> ServiceRequest {
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    ServiceRequest {
        method: http::Method::GET,
        path: "/".into(),
        query: None,
        headers,
        body: Default::default(),
        secure: false,
    }
}

#[tokio::test]
async fn client_credentials_tokens_are_issued_for_the_scope_audience_and_can_be_revoked() {
    let emulator = Emulator::start().await.unwrap();
    let provider = ClientCredentials::new(
        authority(&emulator),
        "app",
        SecretString::from("secret"),
        "https://contoso.crm.dynamics.com/.default",
    )
    .unwrap();
    let token = provider.token().await.unwrap();
    assert!(token.expires_at().is_some());
    let request = request_with(token.secret().expose_secret());
    let tokens = emulator.tokens();
    assert_eq!(
        tokens.check(&request, "https://contoso.crm.dynamics.com"),
        TokenCheck::Valid
    );
    assert_eq!(
        tokens.check(&request, "https://api.partner.microsoft.com"),
        TokenCheck::Invalid
    );
    tokens.revoke_all();
    assert_eq!(
        tokens.check(&request, "https://contoso.crm.dynamics.com"),
        TokenCheck::Invalid
    );
    assert_eq!(emulator.count(EmulatedApi::Entra, "oauth.token"), 1);
}

#[tokio::test]
async fn a_registered_client_with_a_wrong_secret_is_refused() {
    let emulator = Emulator::start().await.unwrap();
    emulator.tokens().register_client("app", "right");
    let provider = ClientCredentials::new(
        authority(&emulator),
        "app",
        SecretString::from("wrong"),
        "https://contoso.crm.dynamics.com/.default",
    )
    .unwrap();
    let err = provider.token().await.unwrap_err();
    assert_eq!(err.code(), Some("invalid_client"));
}

#[tokio::test]
async fn device_code_sign_in_then_rotating_refresh_tokens() {
    let emulator = Emulator::start().await.unwrap();
    emulator.tokens().auto_approve_device_codes(false);
    let scope = DelegatedScope::v1("https://api.partner.microsoft.com");
    let flow = DeviceCodeFlow::new(authority(&emulator), "public-app", scope.clone()).unwrap();
    let prompt = flow.start().await.unwrap();
    assert!(emulator.tokens().approve_device_code(&prompt.user_code));
    let grant = flow.wait(&prompt).await.unwrap();

    let rotated = Arc::new(Mutex::new(Vec::new()));
    let sink = rotated.clone();
    let provider = CachedTokenProvider::new(
        RefreshTokenProvider::builder_from_grant(authority(&emulator), "public-app", scope, &grant)
            .unwrap()
            .on_rotate(Arc::new(move |t: &SecretString| {
                sink.lock().unwrap().push(t.expose_secret().to_owned())
            }))
            .build()
            .unwrap(),
    );
    let token = provider.token().await.unwrap();
    assert_eq!(
        emulator.tokens().check(
            &request_with(token.secret().expose_secret()),
            "https://api.partner.microsoft.com"
        ),
        TokenCheck::Valid
    );
    provider.invalidate(&token);
    provider.token().await.unwrap();
    // Each refresh rotated the refresh token, and the old one no longer works.
    assert_eq!(rotated.lock().unwrap().len(), 2);
    assert_eq!(emulator.tokens().issued_count(), 3);
}

#[tokio::test]
async fn the_salesforce_login_endpoint_returns_the_instance_url() {
    let emulator = Emulator::start().await.unwrap();
    let login = Pipeline::builder(GenericProfile)
        .base_url(&emulator.urls().salesforce)
        .unwrap()
        .build()
        .unwrap();
    let answer: serde_json::Value = login
        .post(["services", "oauth2", "token"])
        .body(
            "grant_type=client_credentials&client_id=app&client_secret=s",
            "application/x-www-form-urlencoded",
        )
        .send_json()
        .await
        .unwrap();
    assert_eq!(
        answer["instance_url"].as_str().unwrap(),
        emulator.urls().salesforce.trim_end_matches('/')
    );
    assert_eq!(emulator.count(EmulatedApi::Salesforce, "oauth.token"), 1);
}
