//! The Partner Center emulator: one behaviour suite for the referrals and webhooks clients run
//! against wiremock scripts and against the emulator with the same assertions; then what only
//! the emulator does (signed deliveries, retries and parking, delivery faults, filter and
//! patch refusals, tokens).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cosell::Nullable;
use cosell::Order;
use cosell::auth::{
    CachedTokenProvider, ClientCredentials, CustomCredentials, EntraAuthority, StaticToken,
    TokenProvider,
};
use cosell::error::ApiErrorKind;
use cosell::http::{RecordingSleeper, RetryPolicy};
use cosell::partner_center::referrals::{ReferralOrderField, ReferralPatch};
use cosell::partner_center::webhooks::{
    Overwrite, RegisterError, RegistrationAction, WebhookRegistration, WebhooksClient,
};
use cosell::partner_center::{
    PartnerCenter, Referral, ReferralDirection, ReferralStatus, ReferralSubstatus,
};
use cosell::webhook::{EventName, TrustPolicy, WebhookVerifier};
use cosell_emulator::{
    DeliveryPolicy, DeliveryState, EmulatedApi, Emulator, Fault, FaultRule, PartnerCenterControl,
    Trigger,
};
use http::{HeaderMap, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const BASE: &str = "/v1.0/engagements/referrals";
const REGISTRATION: &str = "/webhooks/v1/registration";
const REFERRALS_SCOPE: &str = "https://api.partner.microsoft.com/.default";

// ---------------------------------------------------------------------------------------------
// The two backends
// ---------------------------------------------------------------------------------------------

enum Backend {
    /// Wiremock, scripted step by step with the answers the documented service gives.
    Mock(MockServer),
    /// The emulator; scripts are ignored, it answers from its own state.
    Emulator(Emulator),
}

struct Bench {
    backend: Backend,
    referrals: PartnerCenter,
    webhooks: WebhooksClient,
}

fn tokens(emulator: &Emulator, scope: &str) -> Arc<dyn TokenProvider> {
    let authority = EntraAuthority::new(&emulator.urls().entra_authority, "contoso").unwrap();
    let credentials =
        ClientCredentials::new(authority, "app", SecretString::from("secret"), scope).unwrap();
    Arc::new(CachedTokenProvider::new(credentials))
}

fn clients(
    referrals_base: String,
    webhooks_base: String,
    referrals_tokens: Arc<dyn TokenProvider>,
    webhooks_tokens: Arc<dyn TokenProvider>,
) -> (PartnerCenter, WebhooksClient) {
    let sleeper = Arc::new(RecordingSleeper::new());
    let referrals = PartnerCenter::builder(CustomCredentials::user(referrals_tokens))
        .base_url(referrals_base)
        .retry_policy(RetryPolicy::default().max_attempts(3))
        .sleeper(sleeper.clone())
        .build()
        .unwrap();
    let webhooks = WebhooksClient::builder(CustomCredentials::app_only(webhooks_tokens))
        .base_url(webhooks_base)
        .retry_policy(RetryPolicy::default().max_attempts(3))
        .sleeper(sleeper)
        .build()
        .unwrap();
    (referrals, webhooks)
}

impl Bench {
    async fn mock() -> Bench {
        let server = MockServer::start().await;
        let token: Arc<dyn TokenProvider> = Arc::new(StaticToken::new("token"));
        let (referrals, webhooks) = clients(
            format!("{}/v1.0/engagements/", server.uri()),
            format!("{}/webhooks/v1/", server.uri()),
            token.clone(),
            token,
        );
        Bench {
            backend: Backend::Mock(server),
            referrals,
            webhooks,
        }
    }

    async fn emulator() -> Bench {
        let emulator = Emulator::start().await.unwrap();
        let (referrals, webhooks) = clients(
            emulator.urls().partner_center_referrals.clone(),
            emulator.urls().partner_center_webhooks.clone(),
            tokens(&emulator, REFERRALS_SCOPE),
            tokens(&emulator, WebhooksClient::TOKEN_SCOPE),
        );
        Bench {
            backend: Backend::Emulator(emulator),
            referrals,
            webhooks,
        }
    }

    fn emulated(&self) -> Option<&Emulator> {
        match &self.backend {
            Backend::Emulator(emulator) => Some(emulator),
            Backend::Mock(_) => None,
        }
    }

    /// Mounts one scripted answer, used exactly once (wiremock only).
    async fn script(&self, mock: wiremock::MockBuilder, answer: ResponseTemplate) {
        if let Backend::Mock(server) = &self.backend {
            mock.respond_with(answer)
                .up_to_n_times(1)
                .expect(1)
                .mount(server)
                .await;
        }
    }

    /// A referral the service already holds, as the service returns it.
    async fn given_referral(&self, referral: &Referral, mock_id: &str) -> Referral {
        match &self.backend {
            Backend::Emulator(emulator) => emulator
                .partner_center()
                .typed()
                .seed_referral(referral)
                .unwrap(),
            Backend::Mock(_) => {
                let mut stored = referral.clone();
                stored.id = Nullable::Value(mock_id.into());
                stored.engagement_id = Nullable::Value(format!("eng-{mock_id}"));
                stored.e_tag = Nullable::Value("\"e0\"".into());
                stored.created_date_time = Nullable::Value("2026-03-01T12:00:00Z".parse().unwrap());
                stored.updated_date_time = stored.created_date_time;
                stored
            }
        }
    }

    /// Referrals the service already holds (the emulator stores them; the mock serves the
    /// listings scripted with [`serve_listing`]).
    fn given_referrals(&self, referrals: &[Referral]) {
        if let Some(emulator) = self.emulated() {
            for referral in referrals {
                emulator
                    .partner_center()
                    .typed()
                    .seed_referral(referral)
                    .unwrap();
            }
        }
    }

    /// Scripts a listing with these query parameters whose result is `expected`, in pages of
    /// 100 linked by `@odata.nextLink` (wiremock only).
    async fn serve_listing(&self, tag: &str, query: &[(&str, &str)], expected: &[Referral]) {
        let Backend::Mock(server) = &self.backend else {
            return;
        };
        let pages: Vec<&[Referral]> = if expected.is_empty() {
            vec![&[]]
        } else {
            expected.chunks(100).collect()
        };
        for (index, items) in pages.iter().enumerate() {
            let mut body = json!({"@odata.context": "x", "value": items});
            if index + 1 < pages.len() {
                body["@odata.nextLink"] =
                    format!("{}{BASE}?$skiptoken={tag}-{}", server.uri(), index + 1).into();
            }
            let mut mock = Mock::given(method("GET")).and(path(BASE));
            if index == 0 {
                for (name, value) in query {
                    mock = mock.and(query_param(*name, *value));
                }
            } else {
                mock = mock.and(query_param("$skiptoken", format!("{tag}-{index}")));
            }
            self.script(mock, ResponseTemplate::new(200).set_body_json(body))
                .await;
        }
    }

    /// How many requests the service got for an operation.
    async fn count(&self, operation: &str) -> usize {
        match &self.backend {
            Backend::Emulator(emulator) => {
                let api = if operation.starts_with("referrals.") {
                    EmulatedApi::PartnerCenterReferrals
                } else {
                    EmulatedApi::PartnerCenterWebhooks
                };
                emulator.count(api, operation)
            }
            Backend::Mock(server) => {
                let requests = server.received_requests().await.unwrap();
                requests
                    .iter()
                    .filter(|r| mock_operation(r) == operation)
                    .count()
            }
        }
    }
}

/// What the emulator would count a request to the mock as.
fn mock_operation(request: &Request) -> &'static str {
    let path = request.url.path();
    let m = request.method.as_str();
    match (m, path) {
        ("GET", BASE) => "referrals.list",
        ("POST", BASE) => "referrals.create",
        ("GET", p) if p.starts_with(BASE) => "referrals.get",
        ("PATCH", p) if p.starts_with(BASE) => "referrals.update",
        ("PUT", p) if p.starts_with(BASE) => "referrals.put",
        ("GET", REGISTRATION) => "webhooks.registration.get",
        ("POST", REGISTRATION) => "webhooks.registration.create",
        ("PUT", REGISTRATION) => "webhooks.registration.update",
        ("GET", "/webhooks/v1/registration/events") => "webhooks.events",
        _ => "other",
    }
}

fn referral(name: &str, status: &str, substatus: &str, direction: &str) -> Referral {
    Referral::from_json(
        json!({
            "name": name,
            "type": "Shared",
            "status": status,
            "substatus": substatus,
            "direction": direction,
            "qualification": "SalesQualified",
            "customerProfile": {"name": format!("{name} Ltd"), "address": {"country": "GB"},
                                "team": [{"email": "buyer@fabrikam.example"}]},
            "consent": {"consentToToShareInfoWithOthers": true,
                        "consentToShareReferralWithMicrosoftSellers": false},
            "details": {"dealValue": 1000, "currency": "GBP", "notes": "first"},
            "team": [{"firstName": "Sam", "email": "seller@contoso.example"}],
            "futureField": {"kept": [1, 2]}
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap()
}

fn with_server_fields(mut referral: Referral, id: &str, etag: &str) -> Value {
    referral.id = Nullable::Value(id.into());
    referral.e_tag = Nullable::Value(etag.into());
    referral.engagement_id = Nullable::Value(format!("eng-{id}"));
    serde_json::to_value(referral).unwrap()
}

fn names(referrals: &[Referral]) -> Vec<String> {
    referrals
        .iter()
        .map(|r| r.name.clone().into_value().unwrap())
        .collect()
}

fn stale_etag_answer() -> ResponseTemplate {
    ResponseTemplate::new(412).set_body_json(json!({"error": {
        "code": "preconditionFailed",
        "message": "if-match header doesn't match",
        "target": "referral",
        "innerError": {"code": "resourceModified"}
    }}))
}

// ---------------------------------------------------------------------------------------------
// The shared behaviour suite
// ---------------------------------------------------------------------------------------------

async fn list_with_filters_and_paging(b: &Bench) {
    let all: Vec<Referral> = (0..160)
        .map(|i| match (i % 8, i % 16) {
            (1, _) => referral(&format!("new-{i:03}"), "New", "Pending", "Incoming"),
            (_, 3) => referral(&format!("out-{i:03}"), "Active", "Accepted", "Outgoing"),
            _ => referral(&format!("active-{i:03}"), "Active", "Accepted", "Incoming"),
        })
        .collect();
    b.given_referrals(&all);
    let active_incoming: Vec<Referral> = all
        .iter()
        .filter(|r| {
            r.status == Nullable::Value(ReferralStatus::Active)
                && r.direction == Nullable::Value(ReferralDirection::Incoming)
        })
        .cloned()
        .collect();
    assert!(active_incoming.len() > 100, "the listing needs two pages");

    b.serve_listing(
        "a",
        &[
            ("$filter", "status eq 'Active' and direction eq 'Incoming'"),
            ("$orderby", "createdDateTime asc"),
        ],
        &active_incoming,
    )
    .await;
    let listed = b
        .referrals
        .referrals()
        .list()
        .status(ReferralStatus::Active)
        .direction(ReferralDirection::Incoming)
        .order_by(ReferralOrderField::CreatedDateTime, Order::Ascending)
        .pager()
        .collect_all()
        .await
        .unwrap();
    assert_eq!(names(&listed), names(&active_incoming));
    assert_eq!(
        b.count("referrals.list").await,
        2,
        "two pages, two requests"
    );

    let new_pending: Vec<Referral> = all
        .iter()
        .filter(|r| r.status == Nullable::Value(ReferralStatus::New))
        .take(5)
        .cloned()
        .collect();
    b.serve_listing(
        "b",
        &[
            ("$filter", "(status eq 'New') and substatus eq 'Pending'"),
            ("$top", "5"),
        ],
        &new_pending,
    )
    .await;
    let listed = b
        .referrals
        .referrals()
        .list()
        .status_any_of([ReferralStatus::New])
        .substatus(ReferralSubstatus::Pending)
        .top(5)
        .pager()
        .collect_all()
        .await
        .unwrap();
    assert_eq!(names(&listed), names(&new_pending));
    assert!(
        listed
            .iter()
            .all(|r| r.substatus == Nullable::Value(ReferralSubstatus::Pending))
    );

    let newest: Vec<Referral> = all.iter().rev().take(3).cloned().collect();
    b.serve_listing(
        "c",
        &[("$orderby", "createdDateTime desc"), ("$top", "3")],
        &newest,
    )
    .await;
    let listed = b
        .referrals
        .referrals()
        .list()
        .order_by(ReferralOrderField::CreatedDateTime, Order::Descending)
        .top(3)
        .pager()
        .collect_all()
        .await
        .unwrap();
    assert_eq!(names(&listed), names(&newest));
    assert_eq!(b.count("referrals.list").await, 4);
}

async fn get_and_not_found(b: &Bench) {
    let stored = b
        .given_referral(
            &referral("Fabrikam", "New", "Pending", "Incoming"),
            "ref-get",
        )
        .await;
    let id = stored.id.clone().into_value().unwrap();
    b.script(
        Mock::given(method("GET")).and(path(format!("{BASE}/{id}"))),
        ResponseTemplate::new(200).set_body_json(&stored),
    )
    .await;
    let fetched = b.referrals.referrals().get(&id).await.unwrap();
    assert_eq!(fetched.id, stored.id);
    assert_eq!(fetched.e_tag, stored.e_tag);
    assert!(fetched.e_tag.value().is_some());
    assert_eq!(fetched.name.as_deref(), Some("Fabrikam"));
    assert_eq!(fetched.extra["futureField"], json!({"kept": [1, 2]}));

    b.script(
        Mock::given(method("GET")).and(path(format!("{BASE}/missing"))),
        ResponseTemplate::new(404).set_body_json(
            json!({"error": {"code": "itemNotFound", "message": "Referral missing was not found."}}),
        ),
    )
    .await;
    let err = b.referrals.referrals().get("missing").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.code(), Some("itemNotFound"));
    assert_eq!(b.count("referrals.get").await, 2);
}

async fn create(b: &Bench) {
    b.script(
        Mock::given(method("POST"))
            .and(path(BASE))
            .and(header("content-type", "application/json")),
        ResponseTemplate::new(200).set_body_json({
            let mut created = referral("Contoso", "Active", "Accepted", "Outgoing");
            created.created_date_time = Nullable::Value("2026-03-01T12:00:00Z".parse().unwrap());
            with_server_fields(created, "ref-new", "\"e0\"")
        }),
    )
    .await;
    let mut new = referral("Contoso", "", "", "");
    new.status = Nullable::Absent;
    new.substatus = Nullable::Absent;
    new.direction = Nullable::Absent;
    let created = b.referrals.referrals().create(&new).send().await.unwrap();
    assert!(created.id.as_deref().is_some_and(|id| !id.is_empty()));
    assert!(created.engagement_id.value().is_some());
    assert!(created.e_tag.value().is_some());
    assert!(created.created_date_time.value().is_some());
    assert_eq!(created.status, Nullable::Value(ReferralStatus::Active));
    assert_eq!(
        created.substatus,
        Nullable::Value(ReferralSubstatus::Accepted)
    );
    assert_eq!(
        created.direction,
        Nullable::Value(ReferralDirection::Outgoing)
    );
    assert_eq!(created.name.as_deref(), Some("Contoso"));
    assert_eq!(
        created.extra["futureField"],
        json!({"kept": [1, 2]}),
        "unknown fields are stored"
    );
    assert_eq!(b.count("referrals.create").await, 1);
}

async fn patch_put_and_stale_etags(b: &Bench) {
    let stored = b
        .given_referral(
            &referral("Tailspin", "New", "Pending", "Incoming"),
            "ref-upd",
        )
        .await;
    let id = stored.id.clone().into_value().unwrap();
    let e0 = stored.e_tag.clone().into_value().unwrap();

    // Accept it, asking for the result back.
    let mut accepted = stored.clone();
    accepted.status = Nullable::Value(ReferralStatus::Active);
    accepted.substatus = Nullable::Value(ReferralSubstatus::Accepted);
    accepted.e_tag = Nullable::Value("\"e1\"".into());
    b.script(
        Mock::given(method("PATCH"))
            .and(path(format!("{BASE}/{id}")))
            .and(header("if-match", e0.as_str()))
            .and(header("prefer", "return=representation")),
        ResponseTemplate::new(200).set_body_json(&accepted),
    )
    .await;
    let patch = ReferralPatch::new()
        .status(ReferralStatus::Active)
        .substatus(ReferralSubstatus::Accepted);
    let updated = b
        .referrals
        .referrals()
        .update_referral(&stored, patch)
        .return_representation()
        .send()
        .await
        .unwrap()
        .expect("a representation");
    assert_eq!(updated.status, Nullable::Value(ReferralStatus::Active));
    assert_eq!(
        updated.substatus,
        Nullable::Value(ReferralSubstatus::Accepted)
    );
    assert_eq!(updated.name.as_deref(), Some("Tailspin"));
    let e1 = updated.e_tag.clone().into_value().unwrap();
    assert_ne!(e1, e0, "every write changes the eTag");

    // A note, without a representation: 204.
    b.script(
        Mock::given(method("PATCH"))
            .and(path(format!("{BASE}/{id}")))
            .and(header("if-match", e1.as_str())),
        ResponseTemplate::new(204).insert_header("etag", "\"e2\""),
    )
    .await;
    let none = b
        .referrals
        .referrals()
        .update_referral(&updated, ReferralPatch::new().notes("called the buyer"))
        .send()
        .await
        .unwrap();
    assert!(none.is_none());

    // A PUT with the eTag read before the note: stale.
    b.script(
        Mock::given(method("PUT"))
            .and(path(format!("{BASE}/{id}")))
            .and(header("if-match", e1.as_str())),
        stale_etag_answer(),
    )
    .await;
    let err = b
        .referrals
        .referrals()
        .put_legacy(&updated)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err:?}");
    assert_eq!(err.kind(), Some(ApiErrorKind::PreconditionFailed));
    assert_eq!(err.code(), Some("preconditionFailed"));

    // Read again, PUT with the fresh eTag.
    let mut noted = accepted.clone();
    noted.e_tag = Nullable::Value("\"e2\"".into());
    noted.details.value_mut().unwrap().notes = Nullable::Value("called the buyer".into());
    b.script(
        Mock::given(method("GET")).and(path(format!("{BASE}/{id}"))),
        ResponseTemplate::new(200).set_body_json(&noted),
    )
    .await;
    let mut fresh = b.referrals.referrals().get(&id).await.unwrap();
    assert_eq!(
        fresh.details.value().unwrap().notes.as_deref(),
        Some("called the buyer")
    );
    let e2 = fresh.e_tag.clone().into_value().unwrap();
    assert_ne!(e2, e1);
    fresh.external_reference_id = Nullable::Value("crm-opp-42".into());
    let mut saved_answer = fresh.clone();
    saved_answer.e_tag = Nullable::Value("\"e3\"".into());
    b.script(
        Mock::given(method("PUT"))
            .and(path(format!("{BASE}/{id}")))
            .and(header("if-match", e2.as_str())),
        ResponseTemplate::new(200).set_body_json(&saved_answer),
    )
    .await;
    let saved = b
        .referrals
        .referrals()
        .put_legacy(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(saved.external_reference_id.as_deref(), Some("crm-opp-42"));
    assert_eq!(saved.extra["futureField"], json!({"kept": [1, 2]}));
    assert_ne!(saved.e_tag, Nullable::Value(e2));

    // The old eTag is stale for PATCH too.
    b.script(
        Mock::given(method("PATCH"))
            .and(path(format!("{BASE}/{id}")))
            .and(header("if-match", e0.as_str())),
        stale_etag_answer(),
    )
    .await;
    let err = b
        .referrals
        .referrals()
        .update(&id, ReferralPatch::new().notes("late"))
        .if_match(e0)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err:?}");

    assert_eq!(b.count("referrals.update").await, 3);
    assert_eq!(b.count("referrals.put").await, 2);
    assert_eq!(b.count("referrals.get").await, 1);
}

async fn registration_with_and_without_overwrite(b: &Bench) {
    const HOOK: &str = "https://hooks.contoso.example/pc";
    const OTHER: &str = "https://connector.example/triggers/manual";
    let registered = |url: &str| {
        json!({"SubscriberId": "sub-1", "WebhookUrl": url,
               "WebhookEvents": EventName::REFERRAL_EVENTS,
               "SignatureTokenToMsSignatureHeader": false})
    };
    let none = || {
        ResponseTemplate::new(404)
            .set_body_json(json!({"code": "registrationNotFound", "description": "none"}))
    };
    let get = || Mock::given(method("GET")).and(path(REGISTRATION));

    b.script(
        Mock::given(method("GET")).and(path("/webhooks/v1/registration/events")),
        ResponseTemplate::new(200).set_body_json(json!([
            "referral-created",
            "referral-updated",
            "related-referral-created",
            "related-referral-updated",
            "test-created"
        ])),
    )
    .await;
    let events = b.webhooks.events().await.unwrap();
    for event in EventName::REFERRAL_EVENTS
        .iter()
        .chain([&EventName::TestCreated])
    {
        assert!(events.contains(event), "{event}");
    }

    b.script(get(), none()).await;
    assert_eq!(b.webhooks.registration().await.unwrap(), None);

    b.script(get(), none()).await;
    b.script(
        Mock::given(method("POST")).and(path(REGISTRATION)),
        ResponseTemplate::new(200).set_body_json(registered(HOOK)),
    )
    .await;
    let outcome = b
        .webhooks
        .register(HOOK, &EventName::REFERRAL_EVENTS, Overwrite::Refuse)
        .await
        .unwrap();
    assert_eq!(outcome.action, RegistrationAction::Created);
    assert_eq!(outcome.after.webhook_url.as_deref(), Some(HOOK));
    assert!(outcome.after.subscriber_id.is_some());

    // One registration per tenant: a second create fails.
    b.script(
        Mock::given(method("POST")).and(path(REGISTRATION)),
        ResponseTemplate::new(409)
            .set_body_json(json!({"code": "registrationAlreadyExists", "description": "use PUT"})),
    )
    .await;
    let err = b
        .webhooks
        .create_registration(&WebhookRegistration::new(OTHER, EventName::REFERRAL_EVENTS))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err:?}");
    assert_eq!(err.status(), Some(StatusCode::CONFLICT));

    // Another URL without overwrite: refused, nothing written.
    b.script(
        get(),
        ResponseTemplate::new(200).set_body_json(registered(HOOK)),
    )
    .await;
    let err = b
        .webhooks
        .register(OTHER, &EventName::REFERRAL_EVENTS, Overwrite::Refuse)
        .await
        .unwrap_err();
    match err {
        RegisterError::HeldByAnotherUrl { current_url, .. } => {
            assert_eq!(current_url.as_deref(), Some(HOOK));
        }
        other => panic!("expected HeldByAnotherUrl, got {other:?}"),
    }

    // With overwrite: replaced.
    b.script(
        get(),
        ResponseTemplate::new(200).set_body_json(registered(HOOK)),
    )
    .await;
    b.script(
        Mock::given(method("PUT")).and(path(REGISTRATION)),
        ResponseTemplate::new(200).set_body_json(registered(OTHER)),
    )
    .await;
    let outcome = b
        .webhooks
        .register(OTHER, &EventName::REFERRAL_EVENTS, Overwrite::Replace)
        .await
        .unwrap();
    assert_eq!(outcome.action, RegistrationAction::Replaced);
    assert_eq!(outcome.after.webhook_url.as_deref(), Some(OTHER));

    b.script(
        get(),
        ResponseTemplate::new(200).set_body_json(registered(OTHER)),
    )
    .await;
    let now = b.webhooks.registration().await.unwrap().unwrap();
    assert_eq!(now.webhook_url.as_deref(), Some(OTHER));
    assert_eq!(now.webhook_events, EventName::REFERRAL_EVENTS);

    assert_eq!(b.count("webhooks.registration.get").await, 5);
    assert_eq!(b.count("webhooks.registration.create").await, 2);
    assert_eq!(b.count("webhooks.registration.update").await, 1);
    assert_eq!(b.count("webhooks.events").await, 1);
}

macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod on_wiremock {
            $(#[tokio::test] async fn $scenario() { super::$scenario(&super::Bench::mock().await).await; })*
        }
        mod on_the_emulator {
            $(#[tokio::test] async fn $scenario() { super::$scenario(&super::Bench::emulator().await).await; })*
        }
    };
}

on_both_backends!(
    list_with_filters_and_paging,
    get_and_not_found,
    create,
    patch_put_and_stale_etags,
    registration_with_and_without_overwrite,
);

// ---------------------------------------------------------------------------------------------
// Deliveries (emulator only)
// ---------------------------------------------------------------------------------------------

/// A webhook receiver on loopback that records what it gets and answers a fixed status.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(status: StatusCode) -> Receiver {
        let received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
        let sink = received.clone();
        let router = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push((headers, body));
                status
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Receiver {
            url,
            received,
            task,
        }
    }

    fn received(&self) -> Vec<(HeaderMap, Bytes)> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn register(b: &Bench, url: &str, events: &[EventName]) {
    b.webhooks
        .register(url, events, Overwrite::Refuse)
        .await
        .unwrap();
}

fn all_events() -> Vec<EventName> {
    let mut events = EventName::REFERRAL_EVENTS.to_vec();
    events.push(EventName::TestCreated);
    events
}

/// Microsoft's side of the emulated Partner Center in the SDK's types. The emulator's control
/// API speaks the service's JSON; the conversions here are the SDK's public serde and its
/// tolerant decoder, so a referral goes in and out exactly as the wire would carry it.
struct Microsoft<'a>(&'a PartnerCenterControl);

trait Typed {
    fn typed(&self) -> Microsoft<'_>;
}

impl Typed for PartnerCenterControl {
    fn typed(&self) -> Microsoft<'_> {
        Microsoft(self)
    }
}

impl std::ops::Deref for Microsoft<'_> {
    type Target = PartnerCenterControl;

    fn deref(&self) -> &PartnerCenterControl {
        self.0
    }
}

fn to_wire<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

fn from_wire(referral: Value) -> Referral {
    Referral::from_json(&serde_json::to_vec(&referral).unwrap()).unwrap()
}

impl Microsoft<'_> {
    fn share_referral(&self, referral: &Referral) -> cosell_emulator::Result<Referral> {
        self.0.share_referral(to_wire(referral)).map(from_wire)
    }

    fn seed_referral(&self, referral: &Referral) -> cosell_emulator::Result<Referral> {
        self.0.seed_referral(to_wire(referral)).map(from_wire)
    }

    fn update_referral(
        &self,
        id: &str,
        patch: &ReferralPatch,
    ) -> cosell_emulator::Result<Referral> {
        self.0.update_referral(id, to_wire(patch)).map(from_wire)
    }

    fn close_referral(
        &self,
        id: &str,
        substatus: ReferralSubstatus,
    ) -> cosell_emulator::Result<Referral> {
        self.0.close_referral(id, substatus.as_str()).map(from_wire)
    }

    fn referral(&self, id: &str) -> Option<Referral> {
        self.0.referral(id).map(from_wire)
    }
}

/// Trusts the emulator's signing certificate where it serves it: public SDK API only.
fn emulator_policy(emulator: &Emulator) -> TrustPolicy {
    TrustPolicy::partner_center()
        .allow_loopback_location(emulator.partner_center().certificate_url())
        .unwrap()
}

#[tokio::test]
async fn deliveries_verify_with_the_sdk_verifier_and_name_the_changed_referral() {
    let b = Bench::emulator().await;
    let emulator = b.emulated().unwrap();
    let pc = emulator.partner_center().typed();
    let receiver = Receiver::start(StatusCode::OK).await;
    register(&b, &receiver.url, &all_events()).await;

    // Microsoft shares a referral; the partner accepts it through the API.
    let shared = pc
        .share_referral(&referral("Northwind", "New", "Pending", "Incoming"))
        .unwrap();
    let id = shared.id.clone().into_value().unwrap();
    b.referrals
        .referrals()
        .update_referral(
            &shared,
            ReferralPatch::new()
                .status(ReferralStatus::Active)
                .substatus(ReferralSubstatus::Accepted),
        )
        .send()
        .await
        .unwrap();
    // Microsoft closes it.
    pc.close_referral(&id, ReferralSubstatus::Won).unwrap();
    pc.wait_for_deliveries().await;

    let verifier = WebhookVerifier::new(emulator_policy(emulator)).unwrap();
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    let mut names = Vec::new();
    for (headers, body) in &received {
        assert!(
            headers["authorization"]
                .to_str()
                .unwrap()
                .starts_with("Signature ")
        );
        assert_eq!(headers["x-ms-signature-algorithm"], "rsa-sha256");
        assert_eq!(headers["x-ms-certificate-url"], pc.certificate_url());
        let event = verifier.verify_event(headers, body).await.unwrap();
        assert_eq!(event.referral_id().as_deref(), Some(id.as_str()));
        assert_eq!(event.resource_name.as_deref(), Some("referral"));
        assert!(event.resource_change_time().is_some());
        names.push(event.event_name);
    }
    assert_eq!(
        names,
        [
            EventName::ReferralCreated,
            EventName::ReferralUpdated,
            EventName::ReferralUpdated
        ]
    );
    // The verifier fetched the certificate from the emulator once, then cached it.
    assert_eq!(
        emulator.count(EmulatedApi::PartnerCenterWebhooks, "certificate"),
        1
    );
    assert!(pc.referral(&id).unwrap().is_closed());
    assert!(
        pc.deliveries()
            .iter()
            .all(|d| d.state == DeliveryState::Delivered && d.attempts.len() == 1)
    );

    // A related referral (same engagement) also sends the related event.
    let mut half = referral("Northwind (Microsoft)", "New", "Pending", "Incoming");
    half.engagement_id = shared.engagement_id.clone();
    pc.share_referral(&half).unwrap();
    pc.wait_for_deliveries().await;
    let names: Vec<String> = receiver.received()[3..]
        .iter()
        .map(|(_, body)| serde_json::from_slice::<Value>(body).unwrap()["EventName"].to_string())
        .collect();
    assert_eq!(
        names,
        ["\"referral-created\"", "\"related-referral-created\""]
    );
}

#[tokio::test]
async fn only_registered_events_are_delivered_and_ms_signature_header_is_honoured() {
    let b = Bench::emulator().await;
    let pc = b.emulated().unwrap().partner_center().typed();
    let receiver = Receiver::start(StatusCode::ACCEPTED).await;
    b.webhooks
        .create_registration(
            &WebhookRegistration::new(&receiver.url, [EventName::ReferralUpdated])
                .with_signature_in_ms_header(true),
        )
        .await
        .unwrap();
    let shared = pc
        .share_referral(&referral("A", "New", "Pending", "Incoming"))
        .unwrap();
    pc.update_referral(
        shared.id.as_deref().unwrap(),
        &ReferralPatch::new().notes("Microsoft added a note"),
    )
    .unwrap();
    pc.wait_for_deliveries().await;
    let received = receiver.received();
    assert_eq!(received.len(), 1, "referral-created is not registered");
    let (headers, body) = &received[0];
    assert!(headers.get("authorization").is_none());
    assert!(headers.contains_key("x-ms-signature"));
    let verifier = WebhookVerifier::new(emulator_policy(b.emulated().unwrap())).unwrap();
    let event = verifier.verify_event(headers, body).await.unwrap();
    assert_eq!(event.event_name, EventName::ReferralUpdated);
}

#[tokio::test]
async fn a_receiver_that_answers_500_gets_ten_attempts_then_the_event_is_parked() {
    let b = Bench::emulator().await;
    let pc = b.emulated().unwrap().partner_center().typed();
    pc.set_delivery_policy(DeliveryPolicy {
        retry_delay: Duration::from_millis(1),
        ..DeliveryPolicy::default()
    });
    let receiver = Receiver::start(StatusCode::INTERNAL_SERVER_ERROR).await;
    register(&b, &receiver.url, &EventName::REFERRAL_EVENTS).await;
    let shared = pc
        .share_referral(&referral("B", "New", "Pending", "Incoming"))
        .unwrap();
    pc.wait_for_deliveries().await;

    let received = receiver.received();
    assert_eq!(received.len(), 10, "the documented 10 attempts");
    assert!(
        received.iter().all(|(_, body)| body == &received[0].1),
        "the same event each time"
    );
    let parked = pc.parked();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].referral_id, shared.id.into_value());
    assert_eq!(parked[0].event_name, "referral-created");
    assert_eq!(parked[0].attempts.len(), 10);
    assert!(parked[0].attempts.iter().all(|a| a.status == Some(500)));

    // A parked event is never retried again.
    pc.wait_for_deliveries().await;
    assert_eq!(receiver.received().len(), 10);
}

#[tokio::test]
async fn an_unreachable_receiver_is_retried_then_parked() {
    let b = Bench::emulator().await;
    let pc = b.emulated().unwrap().partner_center().typed();
    pc.set_delivery_policy(DeliveryPolicy {
        max_attempts: 3,
        retry_delay: Duration::from_millis(1),
        timeout: Duration::from_secs(2),
    });
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", listener.local_addr().unwrap())
    };
    register(&b, &closed, &EventName::REFERRAL_EVENTS).await;
    pc.share_referral(&referral("C", "New", "Pending", "Incoming"))
        .unwrap();
    pc.wait_for_deliveries().await;
    let parked = pc.parked();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].attempts.len(), 3);
    assert!(
        parked[0]
            .attempts
            .iter()
            .all(|a| a.status.is_none() && a.error.is_some())
    );
}

#[tokio::test]
async fn delivery_faults_duplicate_reorder_and_drop_events() {
    let b = Bench::emulator().await;
    let emulator = b.emulated().unwrap();
    let pc = emulator.partner_center().typed();
    let receiver = Receiver::start(StatusCode::OK).await;
    register(&b, &receiver.url, &EventName::REFERRAL_EVENTS).await;
    // Rules are tried in order and the first that fires wins, so each fires once, in turn:
    // the first event is duplicated, the second held back, the third dropped.
    emulator.faults().add(
        FaultRule::new(EmulatedApi::PartnerCenterWebhooks, Fault::DuplicateDelivery)
            .trigger(Trigger::First(1)),
    );
    emulator.faults().add(
        FaultRule::new(EmulatedApi::PartnerCenterWebhooks, Fault::ReorderDelivery)
            .trigger(Trigger::First(1)),
    );
    emulator.faults().add(
        FaultRule::new(EmulatedApi::PartnerCenterWebhooks, Fault::DropDelivery)
            .trigger(Trigger::First(1)),
    );
    let share = |name: &str| {
        pc.share_referral(&referral(name, "New", "Pending", "Incoming"))
            .unwrap()
            .id
            .into_value()
            .unwrap()
    };
    let (first, second, third, fourth) = (share("1"), share("2"), share("3"), share("4"));
    pc.wait_for_deliveries().await;
    let ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|(_, body)| {
            cosell::webhook::WebhookEvent::from_json(body)
                .unwrap()
                .referral_id()
                .unwrap()
        })
        .collect();
    // 1 twice; 2 held back until 4 (3 is dropped) was delivered.
    assert_eq!(ids, [first.clone(), first, fourth, second]);
    let dropped: Vec<_> = pc
        .deliveries()
        .into_iter()
        .filter(|d| d.state == DeliveryState::Dropped)
        .collect();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].referral_id.as_deref(), Some(third.as_str()));
}

#[tokio::test]
async fn a_validation_event_delivers_test_created_and_reports_each_attempt() {
    let b = Bench::emulator().await;
    let pc = b.emulated().unwrap().partner_center().typed();
    let receiver = Receiver::start(StatusCode::OK).await;

    // Without test-created in the registration, no validation event.
    register(&b, &receiver.url, &EventName::REFERRAL_EVENTS).await;
    let err = b.webhooks.send_validation_event().await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));

    register(&b, &receiver.url, &all_events()).await;
    let sent = b.webhooks.send_validation_event().await.unwrap();
    pc.wait_for_deliveries().await;
    let status = b
        .webhooks
        .validation_event(&sent.correlation_id)
        .await
        .unwrap();
    assert!(status.delivered());
    assert_eq!(status.results.len(), 1);
    assert_eq!(status.callback_url.as_deref(), Some(receiver.url.as_str()));
    let (headers, body) = &receiver.received()[0];
    let event = WebhookVerifier::new(emulator_policy(b.emulated().unwrap()))
        .unwrap()
        .verify_event(headers, body)
        .await
        .unwrap();
    assert_eq!(event.event_name, EventName::TestCreated);
    assert_eq!(event.resource_name.as_deref(), Some("test"));

    let err = b.webhooks.validation_event("unknown").await.unwrap_err();
    assert!(err.is_not_found());
}

// ---------------------------------------------------------------------------------------------
// What the service refuses (emulator only)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn filters_outside_the_builder_forms_are_refused_with_the_service_error_body() {
    let b = Bench::emulator().await;
    let err = b
        .referrals
        .referrals()
        .list()
        .raw_filter("customerProfile/address/country eq 'US'")
        .pager()
        .collect_all()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
    assert_eq!(err.code(), Some("invalidRequest"));
    assert!(err.to_string().contains("cannot be filtered on"), "{err}");

    // A raw filter in the builder's own forms is fine.
    let listed = b
        .referrals
        .referrals()
        .list()
        .raw_filter("status eq 'New' or status eq 'Active'")
        .pager()
        .collect_all()
        .await
        .unwrap();
    assert!(listed.is_empty());
}

#[tokio::test]
async fn updated_date_time_ranges_engagements_and_external_ids_filter() {
    let b = Bench::emulator().await;
    let pc = b.emulated().unwrap().partner_center().typed();
    let old = pc
        .seed_referral(&referral("old", "New", "Pending", "Incoming"))
        .unwrap();
    let mut recent = referral("recent", "New", "Pending", "Incoming");
    recent.external_reference_id = Nullable::Value("crm-7".into());
    let recent = pc.seed_referral(&recent).unwrap();
    let since = recent.updated_date_time.into_value().unwrap();
    let list = |query: cosell::partner_center::referrals::ReferralQuery| {
        b.referrals
            .referrals()
            .list()
            .query(query)
            .pager()
            .collect_all()
    };
    use cosell::partner_center::referrals::ReferralQuery;
    assert_eq!(
        names(
            &list(ReferralQuery::new().updated_since(since))
                .await
                .unwrap()
        ),
        ["recent"]
    );
    assert_eq!(
        names(
            &list(ReferralQuery::new().updated_before(since))
                .await
                .unwrap()
        ),
        ["old"]
    );
    assert_eq!(
        names(
            &list(ReferralQuery::new().engagement_id(old.engagement_id.as_deref().unwrap()))
                .await
                .unwrap()
        ),
        ["old"]
    );
    assert_eq!(
        names(
            &list(ReferralQuery::new().external_reference_id("crm-7"))
                .await
                .unwrap()
        ),
        ["recent"]
    );
    assert_eq!(
        names(
            &list(ReferralQuery::new().team_member_email("SELLER@contoso.example"))
                .await
                .unwrap()
        )
        .len(),
        2
    );
    let selected = list(ReferralQuery::new().select(["id", "name"]))
        .await
        .unwrap();
    assert!(
        selected
            .iter()
            .all(|r| r.id.value().is_some() && r.details.value().is_none())
    );
}

#[tokio::test]
async fn patches_with_other_operations_and_forbidden_transitions_are_refused() {
    let b = Bench::emulator().await;
    let pc = b.emulated().unwrap().partner_center().typed();
    let shared = pc
        .share_referral(&referral("D", "New", "Pending", "Incoming"))
        .unwrap();
    let id = shared.id.clone().into_value().unwrap();

    let err = b
        .referrals
        .pipeline()
        .patch(["referrals", id.as_str()])
        .json(&json!([{"op": "remove", "path": "/details/notes"}]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
    assert_eq!(err.code(), Some("invalidRequest"));
    assert!(
        err.to_string().contains("only `replace` and `add`"),
        "{err}"
    );

    let closed = pc.close_referral(&id, ReferralSubstatus::Lost).unwrap();
    let err = b
        .referrals
        .referrals()
        .update(&id, ReferralPatch::new().status(ReferralStatus::Active))
        .skip_transition_check()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
    assert_eq!(err.api().unwrap().inner_codes, ["invalidStatusTransition"]);
    assert_eq!(
        pc.referral(&id).unwrap().e_tag,
        closed.e_tag,
        "nothing was written"
    );

    // Control API: Microsoft cannot break the table either.
    assert!(pc.close_referral(&id, ReferralSubstatus::Won).is_err());
    let other = pc
        .share_referral(&referral("E", "New", "Pending", "Incoming"))
        .unwrap();
    assert!(
        pc.close_referral(other.id.as_deref().unwrap(), ReferralSubstatus::Accepted)
            .is_err()
    );
}

#[tokio::test]
async fn tokens_for_another_audience_or_none_are_401_in_the_service_error_format() {
    let emulator = Emulator::start().await.unwrap();
    let (wrong_audience, _) = clients(
        emulator.urls().partner_center_referrals.clone(),
        emulator.urls().partner_center_webhooks.clone(),
        tokens(&emulator, WebhooksClient::TOKEN_SCOPE),
        tokens(&emulator, WebhooksClient::TOKEN_SCOPE),
    );
    let err = wrong_audience.referrals().get("x").await.unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::Unauthorized));
    assert_eq!(err.code(), Some("unauthenticated"));

    let (_, unknown_token) = clients(
        emulator.urls().partner_center_referrals.clone(),
        emulator.urls().partner_center_webhooks.clone(),
        Arc::new(StaticToken::new("forged")),
        Arc::new(StaticToken::new("forged")),
    );
    let err = unknown_token.registration().await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
    // Every 401 was journalled; nothing else reached the services.
    let statuses: Vec<u16> = emulator
        .journal()
        .iter()
        .filter(|e| e.api != EmulatedApi::Entra)
        .map(|e| e.status.as_u16())
        .collect();
    assert!(
        !statuses.is_empty() && statuses.iter().all(|s| *s == 401),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn the_emulator_serves_only_its_certificate() {
    let emulator = Emulator::start().await.unwrap();
    let url = emulator.partner_center().certificate_url().to_owned();
    assert!(
        emulator_policy(&emulator)
            .check_certificate_url(&url)
            .is_ok()
    );
    let certificate = reqwest::get(&url).await.unwrap();
    assert_eq!(certificate.status(), 200);
    let served = certificate.bytes().await.unwrap();
    assert_eq!(served.as_ref(), cosell_emulator::SIGNING_CERTIFICATE_DER);
    // The emulator signs with a key of its own, not the SDK's test signer's.
    assert_ne!(
        served.as_ref(),
        cosell::webhook::TEST_SIGNER_CERTIFICATE_DER
    );
    let other = url.replace("pcnotifications", "other");
    assert_eq!(reqwest::get(&other).await.unwrap().status(), 404);
}

#[tokio::test]
async fn small_pages_resume_with_the_same_query_and_respect_top() {
    let b = Bench::emulator().await;
    let pc = b.emulated().unwrap().partner_center().typed();
    pc.set_page_size(2);
    for i in 0..5 {
        pc.seed_referral(&referral(&format!("r{i}"), "New", "Pending", "Incoming"))
            .unwrap();
    }
    let listed = b
        .referrals
        .referrals()
        .list()
        .status(ReferralStatus::New)
        .order_by(ReferralOrderField::UpdatedDateTime, Order::Descending)
        .top(4)
        .pager()
        .collect_all()
        .await
        .unwrap();
    assert_eq!(names(&listed), ["r4", "r3", "r2", "r1"]);
    let emulator = b.emulated().unwrap();
    assert_eq!(
        emulator.count(EmulatedApi::PartnerCenterReferrals, "referrals.list"),
        2
    );
    let second = emulator.journal().pop().unwrap();
    let query = second.query.unwrap();
    assert!(query.contains("%24skiptoken=2"), "{query}");
    assert!(query.contains("%24filter=status+eq+%27New%27"), "{query}");
}

#[tokio::test]
async fn the_api_answers_before_the_delivery_is_made() {
    let b = Bench::emulator().await;
    let pc = b.emulated().unwrap().partner_center().typed();
    let release = Arc::new(tokio::sync::Notify::new());
    let gate = release.clone();
    let router = axum::Router::new().fallback(move || {
        let gate = gate.clone();
        async move {
            gate.notified().await;
            StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    register(&b, &url, &EventName::REFERRAL_EVENTS).await;

    let created = b
        .referrals
        .referrals()
        .create(&referral("F", "Active", "Accepted", "Outgoing"))
        .send()
        .await
        .unwrap();
    // The receiver has not answered yet, and the create already has.
    let pending = pc.deliveries();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].state, DeliveryState::Pending);
    assert_eq!(pending[0].referral_id, created.id.into_value());
    release.notify_one();
    pc.wait_for_deliveries().await;
    assert_eq!(pc.deliveries()[0].state, DeliveryState::Delivered);
    server.abort();
}

#[tokio::test]
async fn any_body_the_emulator_signs_verifies_and_a_changed_one_does_not() {
    let emulator = Emulator::start().await.unwrap();
    let verifier = WebhookVerifier::new(emulator_policy(&emulator)).unwrap();
    let body: &[u8] = b"\xff\x00 not JSON, not an event";
    let headers = emulator.partner_center().sign_callback(body).unwrap();
    verifier.verify(&headers, body).await.unwrap();
    // Signed, yet not an event: refused as a payload, not as a signature.
    let error = verifier.verify_event(&headers, body).await.unwrap_err();
    assert!(
        matches!(error, cosell::webhook::WebhookError::InvalidPayload(_)),
        "{error:?}"
    );
    // One byte changed: the signature no longer holds.
    let mut changed = body.to_vec();
    changed[0] ^= 1;
    let error = verifier.verify(&headers, &changed).await.unwrap_err();
    assert!(
        !matches!(error, cosell::webhook::WebhookError::InvalidPayload(_)) && !error.is_transient(),
        "{error:?}"
    );
}
