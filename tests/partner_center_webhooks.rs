//! Partner Center webhooks: the registration client (against wiremock), the overwrite rules,
//! and callback verification (signatures, certificate URLs, certificates, cache).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cosell::auth::StaticToken;
use cosell::http::{ManualClock, RecordingSleeper, RetryPolicy};
use cosell::partner_center::webhooks::{
    Overwrite, RegisterError, RegistrationAction, RegistrationHealth, ValidationState,
    WebhookRegistration, WebhooksClient,
};
use cosell::webhook::{
    CertificateFetchError, CertificateFetcher, ChainCheck, EventName, HttpCertificateFetcher,
    StaticCertificates, TEST_SIGNER_CERTIFICATE_DER, TEST_SIGNER_CERTIFICATE_PEM,
    TEST_SIGNER_KEY_PKCS8, TestSigner, TrustPolicy, UrlRefusal, WebhookError, WebhookEvent,
    WebhookVerifier,
};
use http::{HeaderMap, HeaderValue};
use serde_json::json;
use wiremock::matchers::{body_json, header, header_exists, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

// ---------------------------------------------------------------------------------------------
// Registration client
// ---------------------------------------------------------------------------------------------

const HOOK: &str = "https://hooks.contoso.example/pc/callback";
const OTHER_HOOK: &str = "https://prod-12.westus.logic.azure.com/workflows/abc/triggers/manual";

struct Api {
    server: MockServer,
    client: WebhooksClient,
    sleeper: Arc<RecordingSleeper>,
}

async fn api() -> Api {
    let server = MockServer::start().await;
    let clock = Arc::new(ManualClock::new("2026-03-01T12:00:00Z".parse().unwrap()));
    let sleeper = Arc::new(RecordingSleeper::with_clock(clock.clone()));
    let client = WebhooksClient::builder(Arc::new(StaticToken::new("pc-token")))
        .base_url(format!("{}/webhooks/v1/", server.uri()))
        .retry_policy(RetryPolicy::default().max_attempts(3).jitter_seed(7))
        .clock(clock)
        .sleeper(sleeper.clone())
        .build()
        .unwrap();
    Api {
        server,
        client,
        sleeper,
    }
}

fn registered(url: &str, events: &[&str]) -> serde_json::Value {
    json!({
        "SubscriberId": "3b2c6f0e-0000-4000-8000-000000000001",
        "WebhookUrl": url,
        "WebhookEvents": events,
        "SignatureTokenToMsSignatureHeader": false,
        "Properties": {"kept": true}
    })
}

fn header_of<'a>(request: &'a Request, name: &str) -> &'a str {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("request has no {name} header"))
}

#[tokio::test]
async fn lists_events_with_auth_and_tracking_headers() {
    let api = api().await;
    Mock::given(method("GET"))
        .and(path("/webhooks/v1/registration/events"))
        .and(header("authorization", "Bearer pc-token"))
        .and(header("accept", "application/json"))
        .and(header_exists("ms-correlationid"))
        .and(header_exists("ms-requestid"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            "referral-created",
            "referral-updated",
            "related-referral-created",
            "related-referral-updated",
            "test-created",
            "invoice-ready"
        ])))
        .expect(1)
        .mount(&api.server)
        .await;

    let events = api.client.events().await.unwrap();
    assert_eq!(&events[..4], &EventName::REFERRAL_EVENTS);
    assert_eq!(events[4], EventName::TestCreated);
    assert_eq!(events[5], EventName::Unknown("invoice-ready".into()));
}

#[tokio::test]
async fn reads_the_registration_in_either_casing() {
    let api = api().await;
    Mock::given(method("GET"))
        .and(path("/webhooks/v1/registration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "subscriberId": "sub-1",
            "webhookUrl": HOOK,
            "WEBHOOKEVENTS": ["referral-created"],
            "signatureTokenToMsSignatureHeader": true,
            "lastModifiedTimestamp": "2026-01-02T03:04:05Z",
            "properties": {"a": 1}
        })))
        .mount(&api.server)
        .await;

    let registration = api.client.registration().await.unwrap().unwrap();
    assert_eq!(registration.subscriber_id.as_deref(), Some("sub-1"));
    assert_eq!(registration.webhook_url.as_deref(), Some(HOOK));
    assert_eq!(
        registration.webhook_events,
        vec![EventName::ReferralCreated]
    );
    assert_eq!(
        registration.signature_token_to_ms_signature_header,
        Some(true)
    );
    assert_eq!(registration.extra["Properties"], json!({"a": 1}));
}

#[tokio::test]
async fn no_registration_reads_as_none() {
    let api = api().await;
    Mock::given(method("GET"))
        .and(path("/webhooks/v1/registration"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "code": "2100", "description": "registration not found"
        })))
        .mount(&api.server)
        .await;
    assert_eq!(api.client.registration().await.unwrap(), None);
}

#[tokio::test]
async fn api_errors_keep_code_and_description() {
    let api = api().await;
    Mock::given(method("GET"))
        .and(path("/webhooks/v1/registration/events"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "code": "600", "description": "insufficient role"
        })))
        .mount(&api.server)
        .await;
    let err = api.client.events().await.unwrap_err();
    assert_eq!(err.status(), Some(http::StatusCode::FORBIDDEN));
    assert_eq!(err.code(), Some("600"));
    assert!(err.to_string().contains("insufficient role"), "{err}");
}

#[tokio::test]
async fn creates_with_a_pascal_case_body() {
    let api = api().await;
    Mock::given(method("POST"))
        .and(path("/webhooks/v1/registration"))
        .and(header("content-type", "application/json"))
        .and(header_exists("ms-requestid"))
        .and(body_json(json!({
            "WebhookUrl": HOOK,
            "WebhookEvents": ["referral-created", "test-created"],
            "SignatureTokenToMsSignatureHeader": true
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(registered(HOOK, &["referral-created", "test-created"])),
        )
        .expect(1)
        .mount(&api.server)
        .await;

    let request =
        WebhookRegistration::new(HOOK, [EventName::ReferralCreated, EventName::TestCreated])
            .with_signature_in_ms_header(true);
    let created = api.client.create_registration(&request).await.unwrap();
    assert_eq!(
        created.subscriber_id.as_deref(),
        Some("3b2c6f0e-0000-4000-8000-000000000001")
    );
}

#[tokio::test]
async fn updates_with_a_put_that_keeps_unknown_fields_and_drops_server_fields() {
    let api = api().await;
    Mock::given(method("PUT"))
        .and(path("/webhooks/v1/registration"))
        .and(body_json(json!({
            "WebhookUrl": HOOK,
            "WebhookEvents": ["referral-updated"],
            "SignatureTokenToMsSignatureHeader": false,
            "Properties": {"kept": true}
        })))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(registered(HOOK, &["referral-updated"])),
        )
        .expect(1)
        .mount(&api.server)
        .await;

    let mut current: WebhookRegistration =
        serde_json::from_value(registered(OTHER_HOOK, &["referral-created"])).unwrap();
    current.webhook_url = Some(HOOK.into());
    current.webhook_events = vec![EventName::ReferralUpdated];
    let updated = api.client.update_registration(&current).await.unwrap();
    assert_eq!(updated.webhook_events, vec![EventName::ReferralUpdated]);
}

#[tokio::test]
async fn retries_resend_the_same_correlation_and_request_ids() {
    let api = api().await;
    Mock::given(method("PUT"))
        .and(path("/webhooks/v1/registration"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&api.server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/webhooks/v1/registration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(registered(HOOK, &["test-created"])))
        .mount(&api.server)
        .await;

    api.client
        .update_registration(&WebhookRegistration::new(HOOK, [EventName::TestCreated]))
        .await
        .unwrap();
    let requests = api.server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert_eq!(api.sleeper.sleeps().len(), 1);
    for name in ["ms-correlationid", "ms-requestid"] {
        assert_eq!(
            header_of(&requests[0], name),
            header_of(&requests[1], name),
            "{name}"
        );
        assert!(uuid::Uuid::parse_str(header_of(&requests[0], name)).is_ok());
    }

    // A new call gets a new request id.
    api.client
        .update_registration(&WebhookRegistration::new(HOOK, [EventName::TestCreated]))
        .await
        .unwrap();
    let requests = api.server.received_requests().await.unwrap();
    assert_ne!(
        header_of(&requests[1], "ms-requestid"),
        header_of(&requests[2], "ms-requestid")
    );
}

#[tokio::test]
async fn sends_a_validation_event_and_reads_its_status() {
    let api = api().await;
    Mock::given(method("POST"))
        .and(path("/webhooks/v1/registration/validationEvents"))
        .and(header("content-length", "0"))
        .and(header_exists("ms-requestid"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"CorrelationId": "9d0c-corr"})),
        )
        .expect(1)
        .mount(&api.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/webhooks/v1/registration/validationEvents/9d0c-corr"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "correlationId": "9d0c-corr",
            "partnerId": "1b2c",
            "status": "completed",
            "callbackUrl": HOOK,
            "results": [
                {"responseCode": "InternalServerError", "responseMessage": "boom", "systemError": false,
                 "dateTimeUtc": "2025-01-02T03:04:05.1234567"},
                {"ResponseCode": "OK", "responseMessage": "", "systemError": false,
                 "dateTimeUtc": "2025-01-02T03:05:05.1234567"}
            ]
        })))
        .expect(1)
        .mount(&api.server)
        .await;

    let sent = api.client.send_validation_event().await.unwrap();
    assert_eq!(sent.correlation_id, "9d0c-corr");
    let status = api
        .client
        .validation_event(&sent.correlation_id)
        .await
        .unwrap();
    assert_eq!(status.status, Some(ValidationState::Completed));
    assert_eq!(status.results.len(), 2);
    assert!(!status.results[0].succeeded());
    assert!(status.delivered());
    assert_eq!(
        status.results[0].time().unwrap().to_string(),
        "2025-01-02T03:04:05.1234567Z"
    );
}

#[tokio::test]
async fn a_validation_status_without_a_correlation_id_is_a_decode_error() {
    let api = api().await;
    Mock::given(method("POST"))
        .and(path("/webhooks/v1/registration/validationEvents"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"id\": 3}"))
        .mount(&api.server)
        .await;
    let err = api.client.send_validation_event().await.unwrap_err();
    assert!(matches!(err, cosell::Error::Decode(_)), "{err:?}");
    assert_eq!(err.status(), Some(http::StatusCode::OK));
}

// --- register with an explicit overwrite choice ----------------------------------------------

async fn mount_current(api: &Api, current: Option<serde_json::Value>) {
    let response = match current {
        Some(body) => ResponseTemplate::new(200).set_body_json(body),
        None => ResponseTemplate::new(404),
    };
    Mock::given(method("GET"))
        .and(path("/webhooks/v1/registration"))
        .respond_with(response)
        .expect(1)
        .mount(&api.server)
        .await;
}

#[tokio::test]
async fn register_creates_when_there_is_no_registration() {
    let api = api().await;
    mount_current(&api, None).await;
    Mock::given(method("POST"))
        .and(path("/webhooks/v1/registration"))
        .and(body_json(json!({
            "WebhookUrl": HOOK,
            "WebhookEvents": ["referral-created", "referral-updated", "related-referral-created", "related-referral-updated"]
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(registered(
            HOOK,
            &["referral-created", "referral-updated", "related-referral-created", "related-referral-updated"],
        )))
        .expect(1)
        .mount(&api.server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&api.server)
        .await;

    let outcome = api
        .client
        .register(HOOK, &EventName::REFERRAL_EVENTS, Overwrite::Refuse)
        .await
        .unwrap();
    assert_eq!(outcome.action, RegistrationAction::Created);
    assert_eq!(outcome.before, None);
    assert_eq!(outcome.after.webhook_events.len(), 4);
}

#[tokio::test]
async fn register_merges_events_on_the_same_url_with_one_put() {
    let api = api().await;
    mount_current(
        &api,
        Some(registered(HOOK, &["referral-created", "test-created"])),
    )
    .await;
    Mock::given(method("PUT"))
        .and(path("/webhooks/v1/registration"))
        .and(body_json(json!({
            "WebhookUrl": HOOK,
            "WebhookEvents": ["referral-created", "test-created", "referral-updated"],
            "SignatureTokenToMsSignatureHeader": false,
            "Properties": {"kept": true}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(registered(
            HOOK,
            &["referral-created", "test-created", "referral-updated"],
        )))
        .expect(1)
        .mount(&api.server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&api.server)
        .await;

    let outcome = api
        .client
        .register(
            HOOK,
            &[EventName::ReferralCreated, EventName::ReferralUpdated],
            Overwrite::Refuse,
        )
        .await
        .unwrap();
    assert_eq!(outcome.action, RegistrationAction::Merged);
    assert_eq!(outcome.before.unwrap().webhook_events.len(), 2);
    assert_eq!(outcome.after.webhook_events.len(), 3);
}

#[tokio::test]
async fn register_writes_nothing_when_the_same_url_has_every_event() {
    let api = api().await;
    mount_current(&api, Some(registered(HOOK, &["referral-created"]))).await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&api.server)
        .await;
    let outcome = api
        .client
        .register(HOOK, &[EventName::ReferralCreated], Overwrite::Refuse)
        .await
        .unwrap();
    assert_eq!(outcome.action, RegistrationAction::Unchanged);
}

#[tokio::test]
async fn register_refuses_another_url_without_overwrite_and_writes_nothing() {
    let api = api().await;
    mount_current(
        &api,
        Some(registered(
            OTHER_HOOK,
            &["referral-created", "referral-updated"],
        )),
    )
    .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&api.server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&api.server)
        .await;

    let err = api
        .client
        .register(HOOK, &EventName::REFERRAL_EVENTS, Overwrite::Refuse)
        .await
        .unwrap_err();
    match &err {
        RegisterError::HeldByAnotherUrl {
            current_url,
            current_events,
        } => {
            assert_eq!(current_url.as_deref(), Some(OTHER_HOOK));
            assert_eq!(
                current_events,
                &vec![EventName::ReferralCreated, EventName::ReferralUpdated]
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(OTHER_HOOK) && text.contains("referral-updated"),
        "{text}"
    );
}

#[tokio::test]
async fn register_replaces_another_url_with_overwrite() {
    let api = api().await;
    mount_current(
        &api,
        Some(registered(
            OTHER_HOOK,
            &["referral-created", "invoice-ready"],
        )),
    )
    .await;
    Mock::given(method("PUT"))
        .and(path("/webhooks/v1/registration"))
        .and(body_json(json!({
            "WebhookUrl": HOOK,
            "WebhookEvents": ["referral-created", "referral-updated"]
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(registered(HOOK, &["referral-created", "referral-updated"])),
        )
        .expect(1)
        .mount(&api.server)
        .await;

    let outcome = api
        .client
        .register(
            HOOK,
            &[EventName::ReferralCreated, EventName::ReferralUpdated],
            Overwrite::Replace,
        )
        .await
        .unwrap();
    assert_eq!(outcome.action, RegistrationAction::Replaced);
    assert_eq!(
        outcome.before.unwrap().webhook_url.as_deref(),
        Some(OTHER_HOOK)
    );
    assert_eq!(outcome.after.webhook_url.as_deref(), Some(HOOK));
}

#[tokio::test]
async fn register_refuses_plain_http_urls_before_any_request() {
    let api = api().await;
    for url in ["http://hooks.contoso.example/pc", "ftp://x/y", "not a url"] {
        let err = api
            .client
            .register(url, &EventName::REFERRAL_EVENTS, Overwrite::Replace)
            .await
            .unwrap_err();
        assert!(
            matches!(err, RegisterError::Request(cosell::Error::Validation(_))),
            "{url}: {err:?}"
        );
    }
    let err = api
        .client
        .register(HOOK, &[], Overwrite::Replace)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        RegisterError::Request(cosell::Error::Validation(_))
    ));
    assert!(api.server.received_requests().await.unwrap().is_empty());

    // Loopback http is allowed, for tests and the emulator.
    mount_current(
        &api,
        Some(registered("http://127.0.0.1:9000/hook", &["test-created"])),
    )
    .await;
    let outcome = api
        .client
        .register(
            "http://127.0.0.1:9000/hook",
            &[EventName::TestCreated],
            Overwrite::Refuse,
        )
        .await
        .unwrap();
    assert_eq!(outcome.action, RegistrationAction::Unchanged);
}

#[tokio::test]
async fn health_check_reports_each_state() {
    type Expectation = fn(&RegistrationHealth) -> bool;
    let cases: Vec<(Option<serde_json::Value>, Expectation)> = vec![
        (None, |h| matches!(h, RegistrationHealth::NotRegistered)),
        (
            Some(registered(
                HOOK,
                &[
                    "referral-created",
                    "referral-updated",
                    "related-referral-created",
                    "related-referral-updated",
                    "test-created",
                ],
            )),
            |h| h.is_healthy(),
        ),
        (
            Some(registered(OTHER_HOOK, &["referral-created"])),
            |h| matches!(h, RegistrationHealth::OtherUrl(r) if r.webhook_url.as_deref() == Some(OTHER_HOOK)),
        ),
        (
            Some(registered(HOOK, &["referral-created", "referral-updated"])),
            |h| {
                matches!(h, RegistrationHealth::MissingEvents { missing, .. }
                if missing == &vec![EventName::RelatedReferralCreated, EventName::RelatedReferralUpdated])
            },
        ),
    ];
    for (current, expected) in cases {
        let api = api().await;
        mount_current(&api, current).await;
        let health = api
            .client
            .check_registration(HOOK, &EventName::REFERRAL_EVENTS)
            .await
            .unwrap();
        assert!(expected(&health), "{health:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Event model
// ---------------------------------------------------------------------------------------------

#[test]
fn event_fields_are_optional_and_read_ignoring_case() {
    let event =
        WebhookEvent::from_json(br#"{"eventname":"related-referral-created","future":1}"#).unwrap();
    assert_eq!(event.event_name, EventName::RelatedReferralCreated);
    assert_eq!(event.resource_uri, None);
    assert_eq!(event.referral_id(), None);
    assert_eq!(event.extra["future"], json!(1));

    let err = WebhookEvent::from_json(br#"{"ResourceUri":"x"}"#).unwrap_err();
    assert!(matches!(err, WebhookError::InvalidPayload(_)));
    assert!(matches!(
        WebhookEvent::from_json(b"{not json").unwrap_err(),
        WebhookError::InvalidPayload(_)
    ));
}

#[test]
fn referral_id_is_the_last_path_segment() {
    let parse = |uri: &str, name: &str| {
        WebhookEvent::from_json(
            json!({"EventName": name, "ResourceUri": uri})
                .to_string()
                .as_bytes(),
        )
        .unwrap()
    };
    let id = "4f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
    let docs = format!("https://api.partnercenter.microsoft.com/engagements/v1/referrals/{id}");
    assert_eq!(
        parse(&docs, "referral-created").referral_id().as_deref(),
        Some(id)
    );
    let other_host =
        format!("https://api.partner.microsoft.com/v1.0/engagements/referrals/{id}/?x=1#f");
    assert_eq!(
        parse(&other_host, "referral-updated")
            .referral_id()
            .as_deref(),
        Some(id)
    );
    assert_eq!(
        parse(
            &format!("/engagements/v1/referrals/{id}"),
            "related-referral-updated"
        )
        .referral_id()
        .as_deref(),
        Some(id)
    );
    assert_eq!(
        parse("https://h/referrals/a%20b", "referral-updated")
            .referral_id()
            .as_deref(),
        Some("a b")
    );
    // Not a referral event: no referral id (the resource id is still there).
    let test = parse("https://h/webhooks/v1/test/abc", "test-created");
    assert_eq!(test.referral_id(), None);
    assert_eq!(test.resource_id().as_deref(), Some("abc"));
    // Hostile ids are refused.
    assert_eq!(
        parse("https://h/referrals/a%2Fb", "referral-updated").referral_id(),
        None
    );
    assert_eq!(
        parse("https://h/referrals/%0a", "referral-updated").referral_id(),
        None
    );
    assert_eq!(parse("https://h/", "referral-updated").referral_id(), None);
}

#[test]
fn dedupe_key_identifies_redeliveries_only() {
    let make = |name: &str, uri: &str, date: &str| {
        WebhookEvent::from_json(
            json!({"EventName": name, "ResourceUri": uri, "ResourceChangeUtcDate": date})
                .to_string()
                .as_bytes(),
        )
        .unwrap()
    };
    let a = make(
        "referral-updated",
        "https://h/referrals/1",
        "2025-01-02T03:04:05.1234567+00:00",
    );
    let again = make(
        "referral-updated",
        "https://h/referrals/1",
        "2025-01-02T03:04:05.1234567+00:00",
    );
    assert_eq!(a.dedupe_key(), again.dedupe_key());
    assert_ne!(
        a.dedupe_key(),
        make(
            "referral-created",
            "https://h/referrals/1",
            "2025-01-02T03:04:05.1234567+00:00"
        )
        .dedupe_key()
    );
    assert_ne!(
        a.dedupe_key(),
        make(
            "referral-updated",
            "https://h/referrals/1",
            "2025-01-02T03:04:06+00:00"
        )
        .dedupe_key()
    );
    // Separators inside values cannot make two events collide.
    assert_ne!(
        make("a", "b|c", "d").dedupe_key(),
        make("a", "b", "c|d").dedupe_key()
    );
    assert_eq!(
        a.resource_change_time().unwrap().to_string(),
        "2025-01-02T03:04:05.1234567Z"
    );
}

// ---------------------------------------------------------------------------------------------
// Callback verification
// ---------------------------------------------------------------------------------------------

const BODY: &[u8] = br#"{"EventName":"referral-updated","ResourceUri":"https://api.partnercenter.microsoft.com/engagements/v1/referrals/4f0c31e1","ResourceName":"referral","AuditUri":null,"ResourceChangeUtcDate":"2025-01-02T03:04:05.1234567+00:00"}"#;
const CERT_URL: &str =
    "https://3psostorageacct.blob.core.windows.net/cert/pcnotifications-dispatch.microsoft.com.cer";

/// Serves certificates and counts every fetch, so a test can prove none was attempted.
#[derive(Debug)]
struct CountingFetcher {
    inner: StaticCertificates,
    fetches: AtomicUsize,
}

impl CountingFetcher {
    fn serving(certificate: impl Into<Bytes>) -> Arc<Self> {
        Arc::new(CountingFetcher {
            inner: StaticCertificates::new().with(CERT_URL, certificate),
            fetches: AtomicUsize::new(0),
        })
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl CertificateFetcher for CountingFetcher {
    async fn fetch(
        &self,
        url: &url::Url,
        max_bytes: usize,
    ) -> Result<Bytes, CertificateFetchError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        // Give other callers the chance to run while this fetch is "in flight".
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
        self.inner.fetch(url, max_bytes).await
    }
}

fn now() -> Arc<ManualClock> {
    Arc::new(ManualClock::new("2026-06-01T00:00:00Z".parse().unwrap()))
}

fn verifier_with(
    policy: TrustPolicy,
    fetcher: Arc<CountingFetcher>,
    clock: Arc<ManualClock>,
) -> WebhookVerifier {
    WebhookVerifier::builder(policy)
        .fetcher(fetcher)
        .clock(clock)
        .build()
        .unwrap()
}

fn verifier(fetcher: Arc<CountingFetcher>) -> WebhookVerifier {
    verifier_with(TrustPolicy::partner_center(), fetcher, now())
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/webhook/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    x509_parser::pem::parse_x509_pem(pem).unwrap().1.contents
}

#[tokio::test]
async fn accepts_a_signature_in_authorization() {
    let fetcher = CountingFetcher::serving(TEST_SIGNER_CERTIFICATE_PEM);
    let verifier = verifier(fetcher.clone());
    let signer = TestSigner::new();
    let headers = signer.headers(BODY).unwrap();
    assert!(
        headers["authorization"]
            .to_str()
            .unwrap()
            .starts_with("Signature ")
    );
    let event = verifier.verify_event(&headers, BODY).await.unwrap();
    assert_eq!(event.referral_id().as_deref(), Some("4f0c31e1"));
    assert_eq!(fetcher.fetches(), 1);
}

#[tokio::test]
async fn accepts_a_signature_in_x_ms_signature_and_a_der_certificate() {
    let fetcher = CountingFetcher::serving(TEST_SIGNER_CERTIFICATE_DER);
    let verifier = verifier(fetcher.clone());
    let signer = TestSigner::new();
    let mut headers = signer.ms_signature_headers(BODY).unwrap();
    assert!(!headers.contains_key("authorization"));
    verifier.verify(&headers, BODY).await.unwrap();

    // The bare base64 form, and an unrelated bearer token in Authorization, are fine too.
    let bare = signer.sign(BODY).unwrap();
    headers.insert("x-ms-signature", HeaderValue::from_str(&bare).unwrap());
    headers.insert(
        "authorization",
        HeaderValue::from_static("Bearer something"),
    );
    verifier.verify(&headers, BODY).await.unwrap();
    assert_eq!(fetcher.fetches(), 1, "the certificate is cached");
}

#[tokio::test]
async fn rejects_a_flipped_body_byte() {
    let verifier = verifier(CountingFetcher::serving(TEST_SIGNER_CERTIFICATE_PEM));
    let headers = TestSigner::new().headers(BODY).unwrap();
    let mut tampered = BODY.to_vec();
    tampered[20] ^= 0x01;
    assert_eq!(
        verifier.verify(&headers, &tampered).await.unwrap_err(),
        WebhookError::SignatureMismatch
    );
}

#[tokio::test]
async fn rejects_a_signature_from_another_key() {
    let verifier = verifier(CountingFetcher::serving(TEST_SIGNER_CERTIFICATE_PEM));
    let forger = TestSigner::from_pkcs8(&fixture("other_key.pk8"), b"").unwrap();
    let headers = forger.headers(BODY).unwrap();
    assert_eq!(
        verifier.verify(&headers, BODY).await.unwrap_err(),
        WebhookError::SignatureMismatch
    );
}

#[tokio::test]
async fn rejects_other_algorithms_without_fetching() {
    let fetcher = CountingFetcher::serving(TEST_SIGNER_CERTIFICATE_PEM);
    let verifier = verifier(fetcher.clone());
    let mut headers = TestSigner::new().headers(BODY).unwrap();
    headers.insert(
        "x-ms-signature-algorithm",
        HeaderValue::from_static("rsa-sha1"),
    );
    assert_eq!(
        verifier.verify(&headers, BODY).await.unwrap_err(),
        WebhookError::UnsupportedAlgorithm("rsa-sha1".into())
    );
    assert_eq!(fetcher.fetches(), 0);
}

#[tokio::test]
async fn refused_certificate_urls_are_never_fetched() {
    let cases = [
        (
            "https://evil.example.com/cert/pcnotifications-dispatch.microsoft.com.cer",
            UrlRefusal::HostNotAllowed,
        ),
        (
            "https://attacker.blob.core.windows.net/cert/pcnotifications-dispatch.microsoft.com.cer",
            UrlRefusal::HostNotAllowed,
        ),
        (
            "https://3psostorageacct.blob.core.windows.net.evil.com/cert/x.cer",
            UrlRefusal::HostNotAllowed,
        ),
        (
            "https://3psostorageacct.blob.core.windows.net./cert/x.cer",
            UrlRefusal::HostNotAllowed,
        ),
        (
            "https://3psostorageacct.blob.core.windows.net/public/x.cer",
            UrlRefusal::PathNotAllowed,
        ),
        (
            "https://3psostorageacct.blob.core.windows.net/certificates/x.cer",
            UrlRefusal::PathNotAllowed,
        ),
        (
            "https://3psostorageacct.blob.core.windows.net/cert/",
            UrlRefusal::PathNotAllowed,
        ),
        (
            "https://3psostorageacct.blob.core.windows.net/cert/../public/x.cer",
            UrlRefusal::PathNotAllowed,
        ),
        (
            "https://3psostorageacct.blob.core.windows.net/cert/%2e%2e/public/x.cer",
            UrlRefusal::PathNotAllowed,
        ),
        (
            "https://3psostorageacct.blob.core.windows.net/cert/..%2Fpublic%2Fx.cer",
            UrlRefusal::PathNotAllowed,
        ),
        (
            "https://user:pw@3psostorageacct.blob.core.windows.net/cert/x.cer",
            UrlRefusal::UserInfo,
        ),
        (
            "https://3psostorageacct.blob.core.windows.net/cert/x.cer?sv=2020",
            UrlRefusal::Query,
        ),
        (
            "https://3psostorageacct.blob.core.windows.net/cert/x.cer#frag",
            UrlRefusal::Fragment,
        ),
        (
            "https://3psostorageacct.blob.core.windows.net:8443/cert/x.cer",
            UrlRefusal::NonDefaultPort,
        ),
        (
            "http://3psostorageacct.blob.core.windows.net/cert/x.cer",
            UrlRefusal::InsecureScheme,
        ),
        (
            "http://127.0.0.1:8080/cert/x.cer",
            UrlRefusal::InsecureScheme,
        ),
        ("file:///etc/passwd", UrlRefusal::InsecureScheme),
        ("https://20.60.0.1/cert/x.cer", UrlRefusal::HostNotAllowed),
        ("/cert/x.cer", UrlRefusal::NotAUrl),
    ];
    let fetcher = CountingFetcher::serving(TEST_SIGNER_CERTIFICATE_PEM);
    let verifier = verifier(fetcher.clone());
    for (url, reason) in cases {
        let headers = TestSigner::new()
            .with_certificate_url(url)
            .headers(BODY)
            .unwrap();
        match verifier.verify(&headers, BODY).await {
            Err(WebhookError::CertificateUrlNotAllowed { reason: got, .. }) => {
                assert_eq!(got, reason, "{url}");
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    assert_eq!(fetcher.fetches(), 0, "no refused URL may be fetched");

    // The explicit default port is the default port.
    let headers = TestSigner::new()
        .with_certificate_url("https://3psostorageacct.blob.core.windows.net:443/cert/pcnotifications-dispatch.microsoft.com.cer")
        .headers(BODY)
        .unwrap();
    verifier.verify(&headers, BODY).await.unwrap();
}

#[tokio::test]
async fn configured_locations_are_exact_host_and_prefix() {
    let url = "https://certs.contoso.example/pc/dispatch.cer";
    let fetcher = Arc::new(CountingFetcher {
        inner: StaticCertificates::new().with(url, TEST_SIGNER_CERTIFICATE_PEM),
        fetches: AtomicUsize::new(0),
    });
    let policy = TrustPolicy::partner_center()
        .clear_locations()
        .allow_location("certs.contoso.example", "/pc/")
        .unwrap();
    let verifier = verifier_with(policy.clone(), fetcher, now());
    let signer = TestSigner::new().with_certificate_url(url);
    verifier
        .verify(&signer.headers(BODY).unwrap(), BODY)
        .await
        .unwrap();
    // The default location is gone.
    let default = TestSigner::new().headers(BODY).unwrap();
    assert!(matches!(
        verifier.verify(&default, BODY).await,
        Err(WebhookError::CertificateUrlNotAllowed {
            reason: UrlRefusal::HostNotAllowed,
            ..
        })
    ));
    assert!(
        policy
            .check_certificate_url("https://x.certs.contoso.example/pc/a.cer")
            .is_err()
    );
    assert!(
        TrustPolicy::partner_center()
            .allow_location("h.example", "no-slash")
            .is_err()
    );
    assert!(
        TrustPolicy::partner_center()
            .allow_location("h.example:444", "/a/")
            .is_err()
    );
}

#[tokio::test]
async fn rejects_missing_and_malformed_headers() {
    let fetcher = CountingFetcher::serving(TEST_SIGNER_CERTIFICATE_PEM);
    let verifier = verifier(fetcher.clone());
    let good = TestSigner::new().headers(BODY).unwrap();

    let without = |name: &str| {
        let mut h = good.clone();
        h.remove(name);
        h
    };
    let with = |name: &'static str, value: &'static str| {
        let mut h = good.clone();
        h.insert(name, HeaderValue::from_static(value));
        h
    };
    let cases: Vec<(HeaderMap, WebhookError)> = vec![
        (without("authorization"), WebhookError::MissingSignature),
        (
            without("x-ms-signature-algorithm"),
            WebhookError::MissingHeader("x-ms-signature-algorithm"),
        ),
        (
            without("x-ms-certificate-url"),
            WebhookError::MissingHeader("x-ms-certificate-url"),
        ),
        (HeaderMap::new(), WebhookError::MissingSignature),
        (
            with("authorization", "Bearer abc"),
            WebhookError::MissingSignature,
        ),
        (
            with("authorization", "Signature"),
            WebhookError::MalformedSignatureHeader,
        ),
        (
            with("authorization", "Signature a b"),
            WebhookError::MalformedSignatureHeader,
        ),
        (
            with("authorization", "Signature !!!notbase64!!!"),
            WebhookError::BadBase64,
        ),
        (
            with("x-ms-signature", "Other abc"),
            WebhookError::MalformedSignatureHeader,
        ),
    ];
    for (headers, expected) in cases {
        assert_eq!(verifier.verify(&headers, BODY).await.unwrap_err(), expected);
    }
    let mut twice = good.clone();
    twice.append("x-ms-certificate-url", HeaderValue::from_static(CERT_URL));
    assert_eq!(
        verifier.verify(&twice, BODY).await.unwrap_err(),
        WebhookError::InvalidHeader("x-ms-certificate-url")
    );
    let mut binary = good.clone();
    binary.insert(
        "x-ms-signature-algorithm",
        HeaderValue::from_bytes(b"rsa-\xffsha256").unwrap(),
    );
    assert_eq!(
        verifier.verify(&binary, BODY).await.unwrap_err(),
        WebhookError::InvalidHeader("x-ms-signature-algorithm")
    );
    assert_eq!(fetcher.fetches(), 0);
}

#[tokio::test]
async fn rejects_oversized_bodies_before_anything_else() {
    let fetcher = CountingFetcher::serving(TEST_SIGNER_CERTIFICATE_PEM);
    let verifier = verifier_with(
        TrustPolicy::partner_center().max_body_bytes(16),
        fetcher.clone(),
        now(),
    );
    let headers = TestSigner::new().headers(BODY).unwrap();
    assert_eq!(
        verifier.verify(&headers, BODY).await.unwrap_err(),
        WebhookError::BodyTooLarge {
            limit: 16,
            actual: BODY.len()
        }
    );
    assert_eq!(fetcher.fetches(), 0);
}

#[tokio::test]
async fn rejects_a_wrong_subject_cn() {
    let verifier = verifier(CountingFetcher::serving(fixture("wrong_cn.pem")));
    let headers = TestSigner::new().headers(BODY).unwrap();
    match verifier.verify(&headers, BODY).await.unwrap_err() {
        WebhookError::CertificateSubjectMismatch { expected, found } => {
            assert_eq!(expected, "pcnotifications-dispatch.microsoft.com");
            assert_eq!(
                found,
                vec!["pcnotifications-dispatch.example.net".to_owned()]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rejects_an_expired_certificate() {
    let verifier = verifier(CountingFetcher::serving(fixture("expired.pem")));
    let headers = TestSigner::new().headers(BODY).unwrap();
    assert!(matches!(
        verifier.verify(&headers, BODY).await.unwrap_err(),
        WebhookError::CertificateExpired { .. }
    ));
}

#[tokio::test]
async fn rejects_a_certificate_not_yet_valid_and_junk_certificates() {
    let clock = Arc::new(ManualClock::new("2019-06-01T00:00:00Z".parse().unwrap()));
    let early = verifier_with(
        TrustPolicy::partner_center(),
        CountingFetcher::serving(TEST_SIGNER_CERTIFICATE_PEM),
        clock,
    );
    let headers = TestSigner::new().headers(BODY).unwrap();
    assert!(matches!(
        early.verify(&headers, BODY).await.unwrap_err(),
        WebhookError::CertificateNotYetValid { .. }
    ));

    for junk in [
        &b"garbage"[..],
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ] {
        let verifier = verifier(CountingFetcher::serving(junk.to_vec()));
        assert!(matches!(
            verifier.verify(&headers, BODY).await.unwrap_err(),
            WebhookError::CertificateMalformed(_)
        ));
    }
}

#[tokio::test]
async fn a_cached_certificate_expires_with_its_not_after_and_ttl() {
    let clock = now();
    let fetcher = CountingFetcher::serving(TEST_SIGNER_CERTIFICATE_PEM);
    let verifier = verifier_with(
        TrustPolicy::partner_center().cache_ttl(Duration::from_secs(3600)),
        fetcher.clone(),
        clock.clone(),
    );
    let headers = TestSigner::new().headers(BODY).unwrap();
    verifier.verify(&headers, BODY).await.unwrap();
    clock.advance(Duration::from_secs(1800));
    verifier.verify(&headers, BODY).await.unwrap();
    assert_eq!(fetcher.fetches(), 1);
    clock.advance(Duration::from_secs(1801));
    verifier.verify(&headers, BODY).await.unwrap();
    assert_eq!(fetcher.fetches(), 2, "fetched again after the TTL");

    // Cached until notAfter at most: the expired certificate is never served from cache.
    let clock = Arc::new(ManualClock::new("2020-12-31T23:00:00Z".parse().unwrap()));
    let fetcher = CountingFetcher::serving(fixture("expired.pem"));
    let verifier = verifier_with(
        TrustPolicy::partner_center(),
        fetcher.clone(),
        clock.clone(),
    );
    verifier.verify(&headers, BODY).await.unwrap();
    clock.advance(Duration::from_secs(7200));
    assert!(matches!(
        verifier.verify(&headers, BODY).await.unwrap_err(),
        WebhookError::CertificateExpired { .. }
    ));
    assert_eq!(fetcher.fetches(), 2);
}

#[tokio::test]
async fn concurrent_callbacks_share_one_fetch() {
    let fetcher = CountingFetcher::serving(TEST_SIGNER_CERTIFICATE_PEM);
    let verifier = verifier(fetcher.clone());
    let headers = TestSigner::new().headers(BODY).unwrap();
    let results = futures::future::join_all((0..16).map(|_| verifier.verify(&headers, BODY))).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(fetcher.fetches(), 1);
}

#[tokio::test]
async fn failed_fetches_are_not_cached() {
    let fetcher = Arc::new(CountingFetcher {
        inner: StaticCertificates::new(),
        fetches: AtomicUsize::new(0),
    });
    let verifier = verifier(fetcher.clone());
    let headers = TestSigner::new().headers(BODY).unwrap();
    for _ in 0..2 {
        assert!(matches!(
            verifier.verify(&headers, BODY).await.unwrap_err(),
            WebhookError::CertificateFetch {
                error: CertificateFetchError::Unknown,
                ..
            }
        ));
    }
    assert_eq!(fetcher.fetches(), 2);
}

#[tokio::test]
async fn optional_chain_check_against_configured_roots() {
    let root = pem_to_der(&fixture("root.pem"));
    let policy = TrustPolicy::partner_center().require_chain(ChainCheck::with_roots([root]));
    let headers = TestSigner::new().headers(BODY).unwrap();

    let chained = verifier_with(
        policy.clone(),
        CountingFetcher::serving(fixture("chained.pem")),
        now(),
    );
    chained.verify(&headers, BODY).await.unwrap();

    let self_signed = verifier_with(
        policy,
        CountingFetcher::serving(TEST_SIGNER_CERTIFICATE_PEM),
        now(),
    );
    assert!(matches!(
        self_signed.verify(&headers, BODY).await.unwrap_err(),
        WebhookError::CertificateUntrusted(_)
    ));
}

// --- the real HTTP fetcher, against a loopback server the policy names ------------------------

fn http_verifier(server: &MockServer) -> (WebhookVerifier, TestSigner) {
    let policy = TrustPolicy::partner_center()
        .allow_loopback_location(&format!("{}/cert/dispatch.cer", server.uri()))
        .unwrap();
    let verifier = WebhookVerifier::builder(policy)
        .fetcher(Arc::new(
            HttpCertificateFetcher::new(Duration::from_secs(5)).unwrap(),
        ))
        .clock(now())
        .build()
        .unwrap();
    let signer =
        TestSigner::new().with_certificate_url(format!("{}/cert/dispatch.cer", server.uri()));
    (verifier, signer)
}

#[tokio::test]
async fn the_http_fetcher_fetches_once_and_caches() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cert/dispatch.cer"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(TEST_SIGNER_CERTIFICATE_DER))
        .expect(1)
        .mount(&server)
        .await;
    let (verifier, signer) = http_verifier(&server);
    for _ in 0..3 {
        verifier
            .verify(&signer.headers(BODY).unwrap(), BODY)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_http_fetcher_refuses_redirects() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cert/dispatch.cer"))
        .respond_with(ResponseTemplate::new(302).insert_header(
            "location",
            format!("{}/cert/elsewhere.cer", server.uri()).as_str(),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/cert/elsewhere.cer"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(TEST_SIGNER_CERTIFICATE_DER))
        .expect(0)
        .mount(&server)
        .await;
    let (verifier, signer) = http_verifier(&server);
    let err = verifier
        .verify(&signer.headers(BODY).unwrap(), BODY)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            WebhookError::CertificateFetch {
                error: CertificateFetchError::Redirected { status: 302 },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_transient());
}

#[tokio::test]
async fn the_http_fetcher_enforces_the_size_limit() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cert/dispatch.cer"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'A'; 100 * 1024]))
        .mount(&server)
        .await;
    let (verifier, signer) = http_verifier(&server);
    let err = verifier
        .verify(&signer.headers(BODY).unwrap(), BODY)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            WebhookError::CertificateFetch {
                error: CertificateFetchError::TooLarge { limit: 65536 },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_loopback_location_allows_only_its_own_host_port_and_folder() {
    let policy = TrustPolicy::partner_center()
        .allow_loopback_location("http://127.0.0.1:1234/cert/a.cer")
        .unwrap()
        .allow_loopback_location("http://[::1]:1234/cert/a.cer")
        .unwrap()
        .allow_loopback_location("http://localhost:1234/cert/a.cer")
        .unwrap();
    for allowed in [
        "http://127.0.0.1:1234/cert/a.cer",
        "http://127.0.0.1:1234/cert/b.cer",
        "http://[::1]:1234/cert/a.cer",
        "http://localhost:1234/cert/a.cer",
        CERT_URL,
    ] {
        assert!(policy.check_certificate_url(allowed).is_ok(), "{allowed}");
    }
    for refused in [
        "http://localhost:1234/other/a.cer",
        "http://127.0.0.1:1235/cert/a.cer",
        "http://127.0.0.2:1234/cert/a.cer",
        "http://127.0.0.1:1234/cert/../a.cer",
        "http://127.0.0.1:1234/cert/a.cer?x=1",
        "http://u:p@127.0.0.1:1234/cert/a.cer",
        "http://10.1.2.3/cert/a.cer",
        "http://3psostorageacct.blob.core.windows.net/cert/a.cer",
    ] {
        assert!(policy.check_certificate_url(refused).is_err(), "{refused}");
    }
    // Only loopback, only plain http: nothing remote can be trusted this way.
    for bad in [
        "http://10.1.2.3/cert/a.cer",
        "http://evil.example/cert/a.cer",
        "https://127.0.0.1/cert/a.cer",
        "http://127.0.0.1:1234/cert/a.cer#x",
        "not a url",
    ] {
        assert!(
            matches!(
                TrustPolicy::partner_center().allow_loopback_location(bad),
                Err(WebhookError::CertificateUrlNotAllowed { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn the_test_signer_key_matches_its_certificate() {
    let signer =
        TestSigner::from_pkcs8(TEST_SIGNER_KEY_PKCS8, TEST_SIGNER_CERTIFICATE_DER).unwrap();
    let certificate = cosell::webhook::TrustedCertificate::from_bytes(
        signer.certificate(),
        &TrustPolicy::partner_center(),
        "2026-06-01T00:00:00Z".parse().unwrap(),
    )
    .unwrap();
    let signature = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        signer.sign(b"abc").unwrap(),
    )
    .unwrap();
    certificate.verify_signature(b"abc", &signature).unwrap();
    assert_eq!(
        certificate.subject_cn(),
        "pcnotifications-dispatch.microsoft.com"
    );
}

// --- no input makes verification panic --------------------------------------------------------

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn header_name() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "authorization",
            "x-ms-signature",
            "x-ms-signature-algorithm",
            "x-ms-certificate-url",
            "content-type",
        ])
    }

    fn header_value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            Just(b"rsa-sha256".to_vec()),
            Just(CERT_URL.as_bytes().to_vec()),
            "Signature [A-Za-z0-9+/=]{0,400}".prop_map(String::into_bytes),
            "https://3psostorageacct\\.blob\\.core\\.windows\\.net/cert/[a-z%./]{0,20}"
                .prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn verify_returns_a_result_for_any_input(
            headers in prop::collection::vec((header_name(), header_value()), 0..6),
            body in prop::collection::vec(any::<u8>(), 0..512),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let verifier = super::verifier(CountingFetcher::serving(TEST_SIGNER_CERTIFICATE_PEM));
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                if let Ok(value) = HeaderValue::from_bytes(&value) {
                    map.append(name, value);
                }
            }
            let result = runtime.block_on(verifier.verify_event(&map, &body));
            // Random input never carries a valid signature.
            prop_assert!(result.is_err());
        }

        #[test]
        fn signed_arbitrary_bodies_verify_and_parse_without_panicking(
            body in prop::collection::vec(any::<u8>(), 0..512),
            flip in any::<prop::sample::Index>(),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let verifier = super::verifier(CountingFetcher::serving(TEST_SIGNER_CERTIFICATE_PEM));
            let headers = TestSigner::new().headers(&body).unwrap();
            prop_assert!(runtime.block_on(verifier.verify(&headers, &body)).is_ok());
            let _ = runtime.block_on(verifier.verify_event(&headers, &body));
            if !body.is_empty() {
                let mut tampered = body.clone();
                tampered[flip.index(body.len())] ^= 0x80;
                prop_assert_eq!(
                    runtime.block_on(verifier.verify(&headers, &tampered)).unwrap_err(),
                    WebhookError::SignatureMismatch
                );
            }
        }

        #[test]
        fn url_policy_and_event_parsing_take_any_text(text in ".{0,200}", bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = TrustPolicy::partner_center().check_certificate_url(&text);
            if let Ok(event) = WebhookEvent::from_json(&bytes) {
                let _ = (event.referral_id(), event.dedupe_key(), event.resource_change_time());
            }
            let json = serde_json::json!({"EventName": "referral-updated", "ResourceUri": text, "ResourceChangeUtcDate": text});
            let event = WebhookEvent::from_json(json.to_string().as_bytes()).unwrap();
            let _ = (event.referral_id(), event.dedupe_key(), event.resource_change_time());
        }
    }
}
