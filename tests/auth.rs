//! Token providers against a mocked token endpoint.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cosell::Error;
use cosell::auth::{
    CachedTokenProvider, ClientCredentials, DelegatedScope, DeviceCodeFlow, EntraAuthority,
    RefreshTokenProvider, TokenProvider,
};
use cosell::http::{ManualClock, RecordingSleeper, RetryPolicy};
use secrecy::{ExposeSecret, SecretString};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "s3cr3t-value-never-shown";

struct Entra {
    server: MockServer,
    clock: Arc<ManualClock>,
    sleeper: Arc<RecordingSleeper>,
    authority: EntraAuthority,
}

async fn entra() -> Entra {
    let server = MockServer::start().await;
    let clock = Arc::new(ManualClock::new("2026-05-01T08:00:00Z".parse().unwrap()));
    let sleeper = Arc::new(RecordingSleeper::with_clock(clock.clone()));
    let authority = EntraAuthority::new(&server.uri(), "contoso")
        .unwrap()
        .clock(clock.clone())
        .sleeper(sleeper.clone())
        .retry_policy(RetryPolicy::default().max_attempts(2));
    Entra {
        server,
        clock,
        sleeper,
        authority,
    }
}

fn token_json(token: &str, expires_in: u64) -> serde_json::Value {
    serde_json::json!({"token_type": "Bearer", "expires_in": expires_in, "access_token": token})
}

async fn token_calls(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

fn credentials(e: &Entra) -> ClientCredentials {
    ClientCredentials::new(
        e.authority.clone(),
        "app-1",
        SecretString::from(SECRET),
        "https://contoso.crm.dynamics.com/.default",
    )
    .unwrap()
}

#[tokio::test]
async fn client_credentials_posts_the_v2_form() {
    let e = entra().await;
    Mock::given(method("POST"))
        .and(path("/contoso/oauth2/v2.0/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-1", 3600)))
        .mount(&e.server)
        .await;
    let token = credentials(&e).token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "at-1");
    assert_eq!(
        token.expires_at().unwrap().to_string(),
        "2026-05-01T09:00:00Z"
    );
    let seen = &e.server.received_requests().await.unwrap()[0];
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&seen.body)
        .into_owned()
        .collect();
    assert!(form.contains(&("client_id".into(), "app-1".into())));
    assert!(form.contains(&("client_secret".into(), SECRET.into())));
    assert!(form.contains(&(
        "scope".into(),
        "https://contoso.crm.dynamics.com/.default".into()
    )));
    assert_eq!(
        seen.headers.get("content-type").unwrap(),
        "application/x-www-form-urlencoded"
    );
}

#[tokio::test]
async fn fifty_concurrent_requests_on_a_cold_cache_make_one_token_call() {
    let e = entra().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_json("at-1", 3600))
                .set_delay(Duration::from_millis(50)),
        )
        .mount(&e.server)
        .await;
    let cached = Arc::new(CachedTokenProvider::new(credentials(&e)).clock(e.clock.clone()));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let cached = cached.clone();
            tokio::spawn(async move { cached.token().await })
        })
        .collect();
    for task in tasks {
        let token = task.await.unwrap().unwrap();
        assert_eq!(token.secret().expose_secret(), "at-1");
    }
    assert_eq!(token_calls(&e.server).await, 1);
}

#[tokio::test]
async fn a_token_near_expiry_is_refreshed_and_an_invalidated_one_is_replaced() {
    let e = entra().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-1", 3600)))
        .up_to_n_times(1)
        .mount(&e.server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-2", 3600)))
        .up_to_n_times(1)
        .mount(&e.server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-3", 3600)))
        .mount(&e.server)
        .await;
    let cached = CachedTokenProvider::new(credentials(&e)).clock(e.clock.clone());
    let first = cached.token().await.unwrap();
    assert_eq!(first.secret().expose_secret(), "at-1");
    // 54 minutes later the token still has 6 minutes: reused.
    e.clock.advance(Duration::from_secs(54 * 60));
    assert_eq!(
        cached.token().await.unwrap().secret().expose_secret(),
        "at-1"
    );
    assert_eq!(token_calls(&e.server).await, 1);
    // 2 more minutes: within the 5-minute margin, so refreshed.
    e.clock.advance(Duration::from_secs(120));
    let second = cached.token().await.unwrap();
    assert_eq!(second.secret().expose_secret(), "at-2");
    // A rejected token is dropped at once.
    cached.invalidate(&second);
    assert_eq!(
        cached.token().await.unwrap().secret().expose_secret(),
        "at-3"
    );
    assert_eq!(token_calls(&e.server).await, 3);
}

#[tokio::test]
async fn a_token_endpoint_error_is_an_auth_error_without_secrets() {
    let e = entra().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided.",
            "error_codes": [7000215],
        })))
        .mount(&e.server)
        .await;
    let provider = credentials(&e);
    let err = provider.token().await.unwrap_err();
    let Error::Auth(auth) = &err else {
        panic!("expected an auth error, got {err:?}")
    };
    assert_eq!(auth.code.as_deref(), Some("invalid_client"));
    assert_eq!(auth.status.map(|s| s.as_u16()), Some(401));
    assert_eq!(err.code(), Some("invalid_client"));
    for text in [
        format!("{err}"),
        format!("{err:?}"),
        format!("{provider:?}"),
    ] {
        assert!(!text.contains(SECRET), "secret leaked in {text}");
    }
    // 401 from a token endpoint is final: one call.
    assert_eq!(token_calls(&e.server).await, 1);
}

#[tokio::test]
async fn device_code_then_refresh_token_with_rotation() {
    let e = entra().await;
    Mock::given(method("POST"))
        .and(path("/contoso/oauth2/devicecode"))
        .and(body_string_contains(
            "resource=https%3A%2F%2Fapi.partner.microsoft.com",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "user_code": "ABCD-EFGH",
            "device_code": "dc-secret",
            "verification_url": "https://microsoft.com/devicelogin",
            "expires_in": "900",
            "interval": "5",
            "message": "To sign in, use a web browser..."
        })))
        .mount(&e.server)
        .await;
    // Pending twice, asked to slow down once, then signed in.
    for code in [
        "authorization_pending",
        "authorization_pending",
        "slow_down",
    ] {
        Mock::given(method("POST"))
            .and(path("/contoso/oauth2/token"))
            .and(body_string_contains("grant_type=device_code"))
            .respond_with(
                ResponseTemplate::new(400)
                    .set_body_json(serde_json::json!({"error": code, "error_description": "wait"})),
            )
            .up_to_n_times(1)
            .mount(&e.server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/contoso/oauth2/token"))
        .and(body_string_contains("grant_type=device_code"))
        .and(body_string_contains("code=dc-secret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "token_type": "Bearer", "expires_in": "3599", "expires_on": "1777629599",
            "resource": "https://api.partner.microsoft.com",
            "access_token": "at-user-1", "refresh_token": "rt-1"
        })))
        .mount(&e.server)
        .await;

    let scope = DelegatedScope::v1("https://api.partner.microsoft.com");
    let flow = DeviceCodeFlow::new(e.authority.clone(), "public-app", scope.clone()).unwrap();
    let shown = Mutex::new(None);
    let grant = flow
        .authorize(|prompt| *shown.lock().unwrap() = Some(prompt.user_code.clone()))
        .await
        .unwrap();
    assert_eq!(shown.lock().unwrap().as_deref(), Some("ABCD-EFGH"));
    assert_eq!(grant.access_token.secret().expose_secret(), "at-user-1");
    // 5 s, 5 s, 5 s, then 10 s after slow_down.
    assert_eq!(
        e.sleeper.sleeps(),
        [5, 5, 5, 10].map(Duration::from_secs).to_vec()
    );
    assert!(!format!("{grant:?}").contains("rt-1"));

    // Refreshing rotates the refresh token; the sink sees the new one, and the next refresh
    // sends it.
    Mock::given(method("POST"))
        .and(path("/contoso/oauth2/token"))
        .and(body_string_contains("refresh_token=rt-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "token_type": "Bearer", "expires_in": 3600,
            "access_token": "at-user-2", "refresh_token": "rt-2"
        })))
        .mount(&e.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/contoso/oauth2/token"))
        .and(body_string_contains("refresh_token=rt-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "token_type": "Bearer", "expires_in": 3600,
            "access_token": "at-user-3", "refresh_token": "rt-2"
        })))
        .mount(&e.server)
        .await;
    let stored = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = stored.clone();
    let provider =
        RefreshTokenProvider::builder_from_grant(e.authority.clone(), "public-app", scope, &grant)
            .unwrap()
            .on_rotate(Arc::new(move |t: &SecretString| {
                sink.lock().unwrap().push(t.expose_secret().to_owned())
            }))
            .build()
            .unwrap();
    assert_eq!(
        provider.token().await.unwrap().secret().expose_secret(),
        "at-user-2"
    );
    assert_eq!(
        provider.token().await.unwrap().secret().expose_secret(),
        "at-user-3"
    );
    assert_eq!(*stored.lock().unwrap(), vec!["rt-2".to_owned()]);
    assert!(!format!("{provider:?}").contains("rt-2"));
}

#[tokio::test]
async fn v2_device_code_uses_scope_and_offline_access_and_fails_on_decline() {
    let e = entra().await;
    Mock::given(method("POST"))
        .and(path("/contoso/oauth2/v2.0/devicecode"))
        .and(body_string_contains("offline_access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "user_code": "XYZ", "device_code": "dc", "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": 900, "interval": 1
        })))
        .mount(&e.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/contoso/oauth2/v2.0/token"))
        .and(body_string_contains("grant-type%3Adevice_code"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            serde_json::json!({"error": "authorization_declined", "error_description": "no"}),
        ))
        .mount(&e.server)
        .await;
    let flow = DeviceCodeFlow::new(
        e.authority.clone(),
        "public-app",
        DelegatedScope::v2("https://api.partner.microsoft.com/.default"),
    )
    .unwrap();
    let err = flow.authorize(|_| {}).await.unwrap_err();
    assert_eq!(err.code(), Some("authorization_declined"));
    assert!(err.is_auth());
}
