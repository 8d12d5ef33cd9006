//! The Partner Center referrals client: wire model round trips, every operation against a mock
//! server, paging, escaping, errors, and a decoder that never panics.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use cosell::Error;
use cosell::Nullable;
use cosell::Order;
use cosell::auth::StaticToken;
use cosell::error::{ApiErrorKind, Service};
use cosell::http::{ManualClock, RecordingSleeper, RetryPolicy};
use cosell::partner_center::referrals::{
    CustomerProfileIdType, CustomerProfileIds, CustomerSize, ReferralCategory, ReferralOrderField,
    ReferralPatch, SalesStage,
};
use cosell::partner_center::{
    Member, PartnerCenter, Referral, ReferralDirection, ReferralStatus, ReferralSubstatus,
    ReferralType,
};
use futures::TryStreamExt;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const FIXTURES: [&str; 4] = [
    "incoming_cosell",
    "outgoing_private_deal",
    "closed_won",
    "marketplace_lead",
];

fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/partner_center/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture(name: &str) -> Referral {
    Referral::from_json(&fixture_bytes(name)).unwrap()
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture_bytes(name)).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Wire model
// ---------------------------------------------------------------------------------------------

/// Asserts that `written` says the same as `original`: the same non-null fields (keys matched
/// case-insensitively, since input casing may vary), numbers equal as decimals whether sent as
/// numbers or strings, instants equal whatever their fractional digits.
fn assert_equivalent(original: &Value, written: &Value, at: &str) {
    match (original, written) {
        (Value::Object(a), Value::Object(b)) => {
            let a: Vec<_> = a.iter().filter(|(_, v)| !v.is_null()).collect();
            let b: Vec<_> = b.iter().filter(|(_, v)| !v.is_null()).collect();
            assert_eq!(
                a.len(),
                b.len(),
                "{at}: fields differ: {:?} vs {:?}",
                a.iter().map(|(k, _)| k).collect::<Vec<_>>(),
                b.iter().map(|(k, _)| k).collect::<Vec<_>>()
            );
            for (key, value) in a {
                let (_, other) = b
                    .iter()
                    .find(|(k, _)| *k == key)
                    .or_else(|| b.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))
                    .unwrap_or_else(|| panic!("{at}.{key} was lost"));
                assert_equivalent(value, other, &format!("{at}.{key}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{at}: array lengths differ");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_equivalent(x, y, &format!("{at}[{i}]"));
            }
        }
        (x, y) if x == y => {}
        (x, y) => {
            let text = |v: &Value| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let (x, y) = (text(x), text(y));
            let same_number = matches!(
                (Decimal::from_str(&x), Decimal::from_str(&y)),
                (Ok(a), Ok(b)) if a == b
            );
            let same_instant = matches!(
                (x.parse::<jiff::Timestamp>(), y.parse::<jiff::Timestamp>()),
                (Ok(a), Ok(b)) if a == b
            );
            assert!(same_number || same_instant, "{at}: {x} became {y}");
        }
    }
}

#[test]
fn every_fixture_round_trips_losslessly() {
    for name in FIXTURES {
        let first = fixture(name);
        let written = serde_json::to_value(&first).unwrap();
        let second: Referral = serde_json::from_value(written.clone()).unwrap();
        assert_eq!(first, second, "{name}: typed round trip");
        let again = Referral::from_json(&serde_json::to_vec(&second).unwrap()).unwrap();
        assert_eq!(first, again, "{name}: case-insensitive round trip");
        assert_equivalent(&fixture_json(name), &written, name);
    }
}

#[test]
fn unknown_fields_survive_at_every_level() {
    let incoming = fixture("incoming_cosell");
    assert_eq!(incoming.extra["partnerRole"]["id"], "ServicesPartner");
    assert!(incoming.extra.contains_key("@odata.context"));
    let details = incoming.details.value().unwrap();
    assert_eq!(
        details.extra["futureDetailsField"]["nested"],
        json!([1, 2, 3])
    );
    let written = serde_json::to_value(&incoming).unwrap();
    assert_eq!(written["details"]["futureDetailsField"]["nested"][2], 3);

    let closed = fixture("closed_won");
    assert_eq!(
        closed.tracking_info.into_value().unwrap().extra["regionalFlag"],
        "EMEA"
    );
    let outgoing = fixture("outgoing_private_deal");
    assert_eq!(outgoing.extra["solutionPlay"]["unknownToo"], true);
    assert_eq!(
        outgoing.team.into_value().unwrap()[0]
            .email_validation_status
            .as_deref(),
        Some("Valid")
    );
}

#[test]
fn typed_fields_read_as_documented() {
    let incoming = fixture("incoming_cosell");
    assert_eq!(incoming.status, Nullable::Value(ReferralStatus::New));
    assert_eq!(
        incoming.substatus,
        Nullable::Value(ReferralSubstatus::Pending)
    );
    assert_eq!(
        incoming.referral_type,
        Nullable::Value(ReferralType::Shared)
    );
    assert_eq!(
        incoming.direction,
        Nullable::Value(ReferralDirection::Incoming)
    );
    assert_eq!(
        incoming.sales_stage,
        Nullable::Value(SalesStage::Unknown("100".into()))
    );
    assert_eq!(
        incoming
            .created_date_time
            .into_value()
            .unwrap()
            .subsec_nanosecond(),
        457_954_200,
        "seven fractional digits"
    );
    assert_eq!(
        incoming.e_tag.as_deref(),
        Some("\"2500ec5a-0000-0000-0000-5bf4967d0000\"")
    );
    assert_eq!(
        incoming.deal_value(),
        Some(Decimal::from_str("250000.75").unwrap())
    );
    let customer = incoming.customer_profile.value().unwrap();
    assert_eq!(
        customer.size,
        Nullable::Value(CustomerSize::From1001To5000Employees)
    );
    let ids = customer.ids.value().unwrap().to_list();
    assert_eq!(
        ids[0].profile_type,
        Nullable::Value(CustomerProfileIdType::Duns)
    );
    assert_eq!(incoming.category(), ReferralCategory::CoSellOpportunity);

    let closed = fixture("closed_won");
    assert_eq!(
        closed.deal_value(),
        Some(Decimal::from_str("1234567.89").unwrap())
    );
    assert!(closed.is_closed());
    assert_eq!(closed.sales_stage, Nullable::Value(SalesStage::Close));

    let outgoing = fixture("outgoing_private_deal");
    assert!(matches!(
        outgoing.customer_profile.into_value().unwrap().ids,
        Nullable::Value(CustomerProfileIds::Object(ref map)) if map.is_empty()
    ));

    let lead = fixture("marketplace_lead");
    assert_eq!(lead.category(), ReferralCategory::MarketplaceLead);
    assert_eq!(
        lead.consent
            .value()
            .unwrap()
            .consent_to_to_share_info_with_others,
        Nullable::Value(true),
        "PascalCase consent key read"
    );
    assert_eq!(lead.deal_value(), None);
    assert_eq!(
        lead.customer_profile.into_value().unwrap().size,
        Nullable::Value(CustomerSize::Unknown(String::new()))
    );
}

/// A field cleared in Partner Center (an explicit `null`) stays `null` through the typed model,
/// so the mapping sees "cleared", as it does from the raw JSON, and not "unknown".
#[test]
fn explicit_nulls_survive_decoding_and_encoding() {
    use cosell::mapping::{FieldMapping, dynamics365, fields, referral_json};

    let raw = json!({
        "id": "r-1", "name": "Deal", "externalReferenceId": null,
        "details": {"notes": null, "dealValue": null, "closingDateTime": null, "currency": "USD"},
        "trackingInfo": {"microsoftMsxId": null},
        "customerProfile": {
            "name": "Contoso",
            "address": {"city": null, "country": "US"},
            "team": [{"firstName": "Ana", "email": null}]
        },
        "inviteContext": null
    });
    let referral = Referral::from_json(&serde_json::to_vec(&raw).unwrap()).unwrap();
    let details = referral.details.value().unwrap();
    assert!(details.notes.is_null() && details.requirements.is_absent());
    assert!(referral.invite_context.is_null() && referral.status.is_absent());
    let encoded = serde_json::to_value(&referral).unwrap();
    for pointer in [
        "/externalReferenceId",
        "/details/notes",
        "/details/dealValue",
        "/details/closingDateTime",
        "/trackingInfo/microsoftMsxId",
        "/customerProfile/address/city",
        "/customerProfile/team/0/email",
        "/inviteContext",
    ] {
        assert_eq!(
            encoded.pointer(pointer),
            Some(&Value::Null),
            "{pointer} in {encoded}"
        );
    }
    // What was absent stays absent.
    assert!(encoded.get("status").is_none(), "{encoded}");
    assert!(
        encoded["details"].get("requirements").is_none(),
        "{encoded}"
    );

    let mapping = dynamics365().build().unwrap();
    let typed = mapping
        .referral_to_canonical(&referral_json(&referral))
        .unwrap();
    let untyped = mapping.referral_to_canonical(&raw).unwrap();
    assert_eq!(typed.raw, untyped.raw);
    for field in [
        fields::NOTES,
        fields::DEAL_VALUE,
        fields::CLOSE_DATE,
        fields::MICROSOFT_CRM_ID,
        fields::CRM_ID,
        fields::CUSTOMER_CITY,
        fields::CONTACT_EMAIL,
        fields::HELP_REQUESTED,
    ] {
        assert!(
            typed.raw.get(field).is_null(),
            "{field:?} is {:?}, not null",
            typed.raw.get(field)
        );
    }
    assert!(typed.raw.get(fields::SALES_STAGE).is_absent());
}

#[test]
fn pascal_case_documents_are_read() {
    let referral = Referral::from_json(
        br#"{"Id":"1","EngagementId":"e","ExternalReferenceID":"crm-1","Status":"active",
            "CustomerProfile":{"Name":"Contoso","Address":{"Country":"US"}},
            "Details":{"DealValue":"10"}}"#,
    )
    .unwrap();
    assert_eq!(referral.engagement_id.as_deref(), Some("e"));
    assert_eq!(referral.external_reference_id.as_deref(), Some("crm-1"));
    assert_eq!(referral.status, Nullable::Value(ReferralStatus::Active));
    let address = referral
        .customer_profile
        .into_value()
        .unwrap()
        .address
        .into_value()
        .unwrap();
    assert_eq!(address.country.as_deref(), Some("US"));
    assert_eq!(
        referral.details.into_value().unwrap().deal_value,
        Nullable::Value(Decimal::from(10))
    );
}

/// The create sample of the reference (`reference/partner-center.md` §1.6) as Microsoft's
/// documentation writes such samples: PascalCase keys and booleans as strings.
#[test]
fn the_documentation_sample_with_string_booleans_is_read() {
    let referral = Referral::from_json(&fixture_bytes("docs_sample_pascal_case")).unwrap();
    let consent = referral.consent.value().unwrap();
    assert_eq!(
        consent.consent_to_to_share_info_with_others.value(),
        Some(&true)
    );
    assert_eq!(consent.consent_to_contact.value(), Some(&true));
    assert_eq!(
        consent
            .consent_to_microsoft_to_contact_specific_partners
            .value(),
        Some(&false)
    );
    assert_eq!(
        consent
            .consent_to_share_referral_with_microsoft_sellers
            .value(),
        Some(&false)
    );
    let details = referral.details.value().unwrap();
    assert_eq!(details.customer_requested_contact.value(), Some(&true));
    assert_eq!(details.deal_value.value(), Some(&Decimal::from(75_000)));
    assert_eq!(
        referral.external_reference_id.as_deref(),
        Some("crm-opp-000123")
    );
    let customer = referral.customer_profile.value().unwrap();
    assert_eq!(customer.name.as_deref(), Some("Fabrikam Ltd"));
    // Written back as the service's camelCase, with JSON booleans.
    let written = serde_json::to_value(&referral).unwrap();
    assert_eq!(written["consent"]["consentToContact"], Value::Bool(true));
    assert_eq!(
        written["consent"]["consentToShareReferralWithMicrosoftSellers"],
        Value::Bool(false)
    );

    let err = Referral::from_json(br#"{"consent": {"consentToContact": "perhaps"}}"#).unwrap_err();
    let Error::Decode(decode) = &err else {
        panic!("expected a decode error, got {err:?}");
    };
    assert!(decode.path.contains("consentToContact"), "{}", decode.path);
}

/// Bytes the caller passed in are not "a response": the error says what was decoded.
#[tokio::test]
async fn decode_errors_name_their_source() {
    let err = Referral::from_json(br#"{"createdDateTime": "yesterday"}"#).unwrap_err();
    let text = err.to_string();
    assert!(!text.contains("response"), "{text}");
    assert!(text.contains("createdDateTime"), "{text}");

    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"createdDateTime": "yesterday"})),
        )
        .mount(&h.server)
        .await;
    let err = h.client.referrals().get("r-1").await.unwrap_err();
    assert!(err.to_string().contains("response"), "{err}");
}

#[test]
fn decode_errors_name_the_path() {
    let err = Referral::from_json(br#"{"details":{"dealValue":"lots"}}"#).unwrap_err();
    match err {
        Error::Decode(d) => assert!(d.path.contains("details"), "path {}", d.path),
        other => panic!("expected a decode error, got {other:?}"),
    }
    let err = Referral::from_json(br#"{"createdDateTime":"yesterday"}"#).unwrap_err();
    assert!(matches!(err, Error::Decode(_)));
}

#[test]
fn truncated_fixtures_are_errors_not_panics() {
    let bytes = fixture_bytes("incoming_cosell");
    for cut in (0..bytes.len() - 1).step_by(7) {
        assert!(Referral::from_json(&bytes[..cut]).is_err(), "cut at {cut}");
    }
}

proptest::proptest! {
    #[test]
    fn the_decoder_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let _ = Referral::from_json(&bytes);
    }

    #[test]
    fn the_decoder_never_panics_on_json_shaped_text(text in r#"\{("[a-zA-Z@.]{0,12}":(null|true|-?[0-9.e]{1,8}|"[^"\\]{0,10}"|\[\]|\{\}),?){0,6}\}"#) {
        let _ = Referral::from_json(text.as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

struct Harness {
    server: MockServer,
    sleeper: Arc<RecordingSleeper>,
    client: PartnerCenter,
}

const TOKEN: &str = "test-token";
const BASE: &str = "/v1.0/engagements/referrals";

async fn harness_with(correlation_id: Option<&str>) -> Harness {
    let server = MockServer::start().await;
    let clock = Arc::new(ManualClock::new("2026-03-01T12:00:00Z".parse().unwrap()));
    let sleeper = Arc::new(RecordingSleeper::with_clock(clock.clone()));
    let mut builder = PartnerCenter::builder(StaticToken::new(TOKEN))
        .base_url(format!("{}/v1.0/engagements/", server.uri()))
        .retry_policy(RetryPolicy::default().max_attempts(3).jitter_seed(7))
        .clock(clock)
        .sleeper(sleeper.clone());
    if let Some(id) = correlation_id {
        builder = builder.correlation_id(id);
    }
    Harness {
        server,
        sleeper,
        client: builder.build().unwrap(),
    }
}

async fn harness() -> Harness {
    harness_with(None).await
}

impl Harness {
    async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap()
    }
}

fn header_of<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Every request carries the token, a correlation id and a client request id.
fn assert_standard_headers(request: &Request) {
    assert_eq!(
        header_of(request, "authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let correlation = header_of(request, "ms-correlationid").expect("MS-CorrelationId");
    assert!(!correlation.is_empty());
    let client_request_id = header_of(request, "client-request-id").expect("client-request-id");
    assert!(uuid::Uuid::parse_str(client_request_id).is_ok());
    assert!(header_of(request, "x-caller-id").is_none());
}

fn body_json(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

fn page(items: Vec<Value>, next: Option<String>) -> Value {
    let mut page = json!({"@odata.context": "x", "value": items});
    if let Some(next) = next {
        page["@odata.nextLink"] = Value::String(next);
    }
    page
}

#[tokio::test]
async fn list_sends_typed_filters_and_follows_next_links_over_three_pages() {
    let h = harness().await;
    let since: jiff::Timestamp = "2026-02-22T12:00:00Z".parse().unwrap();
    let filter = "status eq 'Active' and direction eq 'Incoming' and type eq 'Shared' \
                  and substatus eq 'Accepted' and updatedDateTime ge 2026-02-22T12:00:00Z";
    let second = format!("{}{BASE}?$skiptoken=page2", h.server.uri());
    Mock::given(method("GET"))
        .and(path(BASE))
        .and(query_param("$filter", filter))
        .and(query_param("$top", "250"))
        .and(query_param("$orderby", "updatedDateTime desc"))
        .and(query_param("$select", "id,status,customerProfile"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            vec![json!({"id": "1"}), json!({"id": "2"})],
            Some(second),
        )))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path(BASE))
        .and(query_param("$skiptoken", "page2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            vec![json!({"Id": "3"})],
            // A relative link resolves against the base URL.
            Some("referrals?$skiptoken=page3".into()),
        )))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path(BASE))
        .and(query_param("$skiptoken", "page3"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(page(vec![json!({"id": "4"})], None)),
        )
        .expect(1)
        .mount(&h.server)
        .await;

    let referrals: Vec<Referral> = h
        .client
        .referrals()
        .list()
        .status(ReferralStatus::Active)
        .direction(ReferralDirection::Incoming)
        .referral_type(ReferralType::Shared)
        .substatus(ReferralSubstatus::Accepted)
        .updated_since(since)
        .order_by(ReferralOrderField::UpdatedDateTime, Order::Descending)
        .select(["id", "status", "customerProfile"])
        .top(250)
        .pager()
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<_> = referrals.iter().map(|r| r.id.as_deref().unwrap()).collect();
    assert_eq!(ids, ["1", "2", "3", "4"]);

    let requests = h.requests().await;
    assert_eq!(requests.len(), 3);
    for request in &requests {
        assert_eq!(request.method.as_str(), "GET");
        assert_standard_headers(request);
    }
    // Each page is its own call: its own client request id.
    let ids: std::collections::HashSet<_> = requests
        .iter()
        .map(|r| header_of(r, "client-request-id").unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3);
}

#[tokio::test]
async fn a_quote_in_a_filter_value_is_escaped() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path(BASE))
        .and(query_param(
            "$filter",
            "engagementId eq 'x'' or ''1'' eq ''1' and team/any(t:t/email eq 'o''neil@contoso.example')",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(vec![], None)))
        .expect(1)
        .mount(&h.server)
        .await;
    let found = h
        .client
        .referrals()
        .list()
        .engagement_id("x' or '1' eq '1")
        .team_member_email("o'neil@contoso.example")
        .pager()
        .collect_all()
        .await
        .unwrap();
    assert!(found.is_empty());
    let url = h.requests().await[0].url.to_string();
    assert!(
        url.contains("%27%27"),
        "escaped quote travels encoded: {url}"
    );
}

#[tokio::test]
async fn raw_filter_is_sent_as_written_in_parentheses() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path(BASE))
        .and(query_param(
            "$filter",
            "direction eq 'Incoming' and (customerProfile/address/country eq 'US')",
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(page(vec![json!({"id": "9"})], None)),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    let found = h
        .client
        .referrals()
        .list()
        .direction(ReferralDirection::Incoming)
        .raw_filter("customerProfile/address/country eq 'US'")
        .pager()
        .collect_all()
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
}

#[tokio::test]
async fn related_referrals_filter_by_engagement() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path(BASE))
        .and(query_param("$filter", "engagementId eq 'eng-1'"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            vec![
                json!({"id": "a", "engagementId": "eng-1"}),
                json!({"id": "b", "engagementId": "eng-1"}),
            ],
            None,
        )))
        .expect(1)
        .mount(&h.server)
        .await;
    let related = h
        .client
        .referrals()
        .related("eng-1")
        .pager()
        .collect_all()
        .await
        .unwrap();
    assert_eq!(related.len(), 2);
    assert_standard_headers(&h.requests().await[0]);
}

#[tokio::test]
async fn a_fixed_correlation_id_goes_on_every_page_and_into_errors() {
    let h = harness_with(Some("sweep-42")).await;
    let next = format!("{}{BASE}?$skiptoken=p2", h.server.uri());
    Mock::given(method("GET"))
        .and(path(BASE))
        .and(query_param("$skiptoken", "p2"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"error": {"code": "itemNotFound", "message": "gone"}})),
        )
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path(BASE))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(page(vec![json!({"id": "1"})], Some(next))),
        )
        .mount(&h.server)
        .await;
    let err = h
        .client
        .referrals()
        .list()
        .pager()
        .collect_all()
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(
        err.api().unwrap().correlation_id.as_deref(),
        Some("sweep-42")
    );
    for request in h.requests().await {
        assert_eq!(header_of(&request, "ms-correlationid"), Some("sweep-42"));
    }
}

#[tokio::test]
async fn a_next_link_to_another_host_is_refused() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path(BASE))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            vec![json!({"id": "1"})],
            Some("https://evil.example/v1.0/engagements/referrals?$skiptoken=x".into()),
        )))
        .mount(&h.server)
        .await;
    let mut pager = h.client.referrals().list().pager();
    assert_eq!(pager.next_page().await.unwrap().unwrap().items.len(), 1);
    let err = pager.next_page().await.unwrap_err();
    assert!(matches!(err, Error::Validation(_)), "{err:?}");
    assert_eq!(h.requests().await.len(), 1);
}

#[tokio::test]
async fn an_invalid_select_fails_before_sending() {
    let h = harness().await;
    let err = h
        .client
        .referrals()
        .list()
        .select(["id,status"])
        .pager()
        .collect_all()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation(_)));
    assert!(h.requests().await.is_empty());
}

#[tokio::test]
async fn get_reads_one_referral() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path(format!("{BASE}/a4b2c9d0-1111-4e2a-9c3b-5d6e7f800001")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture_bytes("incoming_cosell"), "application/json"),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    let referral = h
        .client
        .referrals()
        .get("a4b2c9d0-1111-4e2a-9c3b-5d6e7f800001")
        .await
        .unwrap();
    assert_eq!(referral, fixture("incoming_cosell"));
    let request = &h.requests().await[0];
    assert_eq!(request.method.as_str(), "GET");
    assert!(request.url.query().is_none());
    assert_standard_headers(request);
}

#[tokio::test]
async fn get_takes_the_etag_header_when_the_body_has_none() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path(format!("{BASE}/r%2F1")))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("ETag", "\"from-header\"")
                .set_body_json(json!({"id": "r/1"})),
        )
        .mount(&h.server)
        .await;
    // The id is one path segment, escaped: it cannot reach another path.
    let referral = h.client.referrals().get("r/1").await.unwrap();
    assert_eq!(referral.e_tag.as_deref(), Some("\"from-header\""));
    let err = h.client.referrals().get(" ").await.unwrap_err();
    assert!(matches!(err, Error::Validation(_)));
}

fn new_referral() -> Referral {
    let mut referral = fixture("outgoing_private_deal");
    for field in ["id", "engagementId", "eTag", "createdDateTime"] {
        referral.extra.remove(field);
    }
    referral.id = Nullable::Absent;
    referral.engagement_id = Nullable::Absent;
    referral.e_tag = Nullable::Absent;
    referral.status = Nullable::Absent;
    referral.substatus = Nullable::Absent;
    referral
}

#[tokio::test]
async fn create_posts_the_referral_and_returns_the_populated_one() {
    for status in [201, 200] {
        let h = harness().await;
        Mock::given(method("POST"))
            .and(path(BASE))
            .and(header("content-type", "application/json"))
            .respond_with(
                ResponseTemplate::new(status)
                    .set_body_raw(fixture_bytes("outgoing_private_deal"), "application/json"),
            )
            .expect(1)
            .mount(&h.server)
            .await;
        let mut to_create = new_referral();
        to_create
            .extra
            .insert("@odata.context".into(), json!("ignored"));
        to_create.links = fixture("incoming_cosell").links;
        let created = h
            .client
            .referrals()
            .create(&to_create)
            .send()
            .await
            .unwrap();
        assert_eq!(
            created.id.as_deref(),
            Some("b5c3d0e1-3333-4f3b-8d4c-6e7f8a900002")
        );
        assert_eq!(created.status, Nullable::Value(ReferralStatus::Active));

        let request = &h.requests().await[0];
        assert_standard_headers(request);
        let body = body_json(request);
        assert!(body.get("links").is_none(), "read-only links are not sent");
        assert!(body.get("@odata.context").is_none());
        assert!(body.get("id").is_none());
        assert_eq!(body["type"], "Independent");
        assert_eq!(body["details"]["dealValue"], json!(75000));
        assert_eq!(
            body["consent"]["consentToToShareInfoWithOthers"], true,
            "the doubled To is kept"
        );
        assert_eq!(
            body["solutionArea"], "AI Business Solutions",
            "unknown fields are sent"
        );
    }
}

#[tokio::test]
async fn create_refuses_an_incomplete_referral_before_sending() {
    let h = harness().await;
    let err = h
        .client
        .referrals()
        .create(&Referral::default())
        .send()
        .await
        .unwrap_err();
    let Error::Validation(message) = err else {
        panic!("expected a validation error");
    };
    for part in ["`type`", "`consent`", "`details`", "`customerProfile`"] {
        assert!(message.contains(part), "{message}");
    }

    let mut shared = new_referral();
    shared
        .consent
        .value_mut()
        .unwrap()
        .consent_to_share_referral_with_microsoft_sellers = Nullable::Value(true);
    shared.details.value_mut().unwrap().requirements = Nullable::Absent;
    shared
        .customer_profile
        .value_mut()
        .unwrap()
        .address
        .value_mut()
        .unwrap()
        .country = Nullable::Value("GBR".into());
    let err = h
        .client
        .referrals()
        .create(&shared)
        .send()
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("two-letter"), "{message}");
    assert!(message.contains("solution"), "{message}");
    assert!(h.requests().await.is_empty(), "nothing was sent");
}

#[tokio::test]
async fn update_sends_a_json_patch_with_if_match_and_prefer() {
    let h = harness().await;
    Mock::given(method("PATCH"))
        .and(path(format!("{BASE}/ref-1")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture_bytes("closed_won"), "application/json"),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    let patch = ReferralPatch::new()
        .status(ReferralStatus::Closed)
        .substatus(ReferralSubstatus::Won)
        .deal_value(Decimal::from_str("10000.50").unwrap())
        .add_team_member(&Member {
            first_name: Nullable::Value("Jo".into()),
            email: Nullable::Value("jo@contoso.example".into()),
            ..Member::default()
        });
    let updated = h
        .client
        .referrals()
        .update("ref-1", patch)
        .current_status(ReferralStatus::Active, Some(ReferralSubstatus::Accepted))
        .if_match("\"0a00bc12-0000-0100-0000-65f000000000\"")
        .return_representation()
        .send()
        .await
        .unwrap()
        .expect("a representation");
    assert_eq!(updated.substatus, Nullable::Value(ReferralSubstatus::Won));

    let request = &h.requests().await[0];
    assert_eq!(request.method.as_str(), "PATCH");
    assert_standard_headers(request);
    assert_eq!(header_of(request, "content-type"), Some("application/json"));
    assert_eq!(
        header_of(request, "if-match"),
        Some("\"0a00bc12-0000-0100-0000-65f000000000\"")
    );
    assert_eq!(header_of(request, "prefer"), Some("return=representation"));
    assert_eq!(
        body_json(request),
        json!([
            {"op": "replace", "path": "/status", "value": "Closed"},
            {"op": "replace", "path": "/substatus", "value": "Won"},
            {"op": "replace", "path": "/details/dealValue", "value": "10000.5"},
            {"op": "add", "path": "/team/-", "value": {"firstName": "Jo", "email": "jo@contoso.example"}}
        ])
    );
}

#[tokio::test]
async fn update_without_prefer_accepts_204_and_sends_no_optional_headers() {
    let h = harness().await;
    Mock::given(method("PATCH"))
        .and(path(format!("{BASE}/ref-1")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&h.server)
        .await;
    let outcome = h
        .client
        .referrals()
        .update("ref-1", ReferralPatch::new().notes("call back in May"))
        .send()
        .await
        .unwrap();
    assert!(outcome.is_none());
    let request = &h.requests().await[0];
    assert!(header_of(request, "if-match").is_none());
    assert!(header_of(request, "prefer").is_none());
    assert_eq!(
        body_json(request),
        json!([{"op": "replace", "path": "/details/notes", "value": "call back in May"}])
    );
}

#[tokio::test]
async fn update_referral_takes_id_etag_and_status_from_the_read_referral() {
    let h = harness().await;
    Mock::given(method("PATCH"))
        .and(path(format!("{BASE}/b5c3d0e1-3333-4f3b-8d4c-6e7f8a900002")))
        .and(header(
            "if-match",
            "\"0a00bc12-0000-0100-0000-65f000000000\"",
        ))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&h.server)
        .await;
    let current = fixture("outgoing_private_deal");
    // Active → New is not in the table: refused before sending.
    let err = h
        .client
        .referrals()
        .update_referral(&current, ReferralPatch::new().status(ReferralStatus::New))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation(_)), "{err:?}");
    assert!(h.requests().await.is_empty());

    h.client
        .referrals()
        .update_referral(
            &current,
            ReferralPatch::new().external_reference_id("crm-9"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(h.requests().await.len(), 1);
}

#[tokio::test]
async fn a_closed_referral_is_read_only_unless_the_check_is_skipped() {
    let h = harness().await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&h.server)
        .await;
    let closed = fixture("closed_won");
    let reopen = ReferralPatch::new()
        .status(ReferralStatus::Active)
        .substatus(ReferralSubstatus::Accepted);
    let err = h
        .client
        .referrals()
        .update_referral(&closed, reopen.clone())
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("terminal"), "{err}");
    assert!(h.requests().await.is_empty());

    h.client
        .referrals()
        .update_referral(&closed, reopen)
        .skip_transition_check()
        .send()
        .await
        .unwrap();
    assert_eq!(h.requests().await.len(), 1);
}

#[tokio::test]
async fn a_patch_that_appends_is_not_retried_but_one_that_replaces_is() {
    let h = harness().await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&h.server)
        .await;
    let append = ReferralPatch::new().add_team_member(&Member::default());
    let err = h
        .client
        .referrals()
        .update("ref-1", append)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(
        h.requests().await.len(),
        1,
        "an append is never sent twice blindly"
    );

    let replace = ReferralPatch::new().notes("idempotent");
    let err = h
        .client
        .referrals()
        .update("ref-1", replace)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::RetriesExhausted { attempts: 3, .. }),
        "{err:?}"
    );
    assert_eq!(h.requests().await.len(), 4);
}

#[tokio::test]
async fn a_stale_if_match_is_a_typed_conflict_with_the_service_error_parsed() {
    let h = harness().await;
    Mock::given(method("PATCH"))
        .respond_with(
            ResponseTemplate::new(412)
                .insert_header("request-id", "req-412")
                .set_body_json(json!({"error": {
                    "code": "preconditionFailed",
                    "message": "if-match header doesn't match",
                    "target": "referral",
                    "innerError": {"code": "resourceModified", "innerError": {"code": "eTagMismatch"}}
                }})),
        )
        .mount(&h.server)
        .await;
    let err = h
        .client
        .referrals()
        .update("ref-1", ReferralPatch::new().notes("x"))
        .if_match("\"stale\"")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_conflict());
    assert_eq!(err.kind(), Some(ApiErrorKind::PreconditionFailed));
    assert_eq!(err.code(), Some("preconditionFailed"));
    assert_eq!(err.request_id(), Some("req-412"));
    let api = err.api().unwrap();
    assert_eq!(api.service, Service::PartnerCenterReferrals);
    assert_eq!(api.target.as_deref(), Some("referral"));
    assert_eq!(api.inner_codes, ["resourceModified", "eTagMismatch"]);
    assert_eq!(
        api.message.as_deref(),
        Some("if-match header doesn't match")
    );
    assert_eq!(h.requests().await.len(), 1, "a conflict is not retried");
}

#[tokio::test]
async fn a_409_is_a_conflict_too() {
    let h = harness().await;
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(409)
                .set_body_json(json!({"error": {"code": "conflict", "message": "state changed"}})),
        )
        .mount(&h.server)
        .await;
    let err = h
        .client
        .referrals()
        .put_legacy(&fixture("outgoing_private_deal"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_conflict());
    assert_eq!(err.kind(), Some(ApiErrorKind::Conflict));
}

#[tokio::test]
async fn legacy_put_requires_if_match_and_drops_links() {
    let h = harness().await;
    Mock::given(method("PUT"))
        .and(path(format!("{BASE}/a4b2c9d0-1111-4e2a-9c3b-5d6e7f800001")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture_bytes("incoming_cosell"), "application/json"),
        )
        .mount(&h.server)
        .await;
    let mut referral = fixture("incoming_cosell");
    referral.external_reference_id = Nullable::Value("crm-lead-42".into());
    let saved = h
        .client
        .referrals()
        .put_legacy(&referral)
        .send()
        .await
        .unwrap();
    assert_eq!(saved.id, referral.id);

    let request = &h.requests().await[0];
    assert_eq!(request.method.as_str(), "PUT");
    assert_standard_headers(request);
    assert_eq!(header_of(request, "content-type"), Some("application/json"));
    assert_eq!(
        header_of(request, "if-match"),
        Some("\"2500ec5a-0000-0000-0000-5bf4967d0000\"")
    );
    let body = body_json(request);
    assert!(body.get("links").is_none());
    assert!(body.get("@odata.context").is_none());
    assert_eq!(body["externalReferenceId"], "crm-lead-42");
    assert_eq!(body["eTag"], "\"2500ec5a-0000-0000-0000-5bf4967d0000\"");
    assert_eq!(
        body["partnerRole"]["id"], "ServicesPartner",
        "unknown fields go back"
    );
    assert_eq!(
        body["details"]["futureDetailsField"]["nested"],
        json!([1, 2, 3])
    );

    // No eTag and no explicit If-Match: refused before sending.
    referral.e_tag = Nullable::Absent;
    let err = h
        .client
        .referrals()
        .put_legacy(&referral)
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("If-Match"), "{err}");
    h.client
        .referrals()
        .put_legacy(&referral)
        .if_match("\"explicit\"")
        .send()
        .await
        .unwrap();
    let mut requests = h.requests().await;
    assert_eq!(requests.len(), 2, "the refused PUT was never sent");
    let last = requests.pop().unwrap();
    assert_eq!(header_of(&last, "if-match"), Some("\"explicit\""));
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn not_found_is_typed() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"error": {"code": "itemNotFound", "message": "no such referral"}}),
        ))
        .mount(&h.server)
        .await;
    let err = h.client.referrals().get("missing").await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.code(), Some("itemNotFound"));
    assert!(!err.is_retryable());
    assert_eq!(h.requests().await.len(), 1);
}

#[tokio::test]
async fn unauthorized_is_typed_after_one_replay_with_a_fresh_token() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": {"code": "unauthenticated", "message": "token expired"}}),
        ))
        .mount(&h.server)
        .await;
    let err = h.client.referrals().get("r1").await.unwrap_err();
    assert!(err.is_auth());
    assert_eq!(err.kind(), Some(ApiErrorKind::Unauthorized));
    assert_eq!(err.code(), Some("unauthenticated"));
    assert_eq!(h.requests().await.len(), 2);
    assert!(h.sleeper.sleeps().is_empty());
}

#[tokio::test]
async fn too_many_requests_waits_for_retry_after_then_succeeds() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "7")
                .set_body_json(json!({"statusCode": 429, "message": "Rate limit is exceeded. Try again in 7 seconds."})),
        )
        .up_to_n_times(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "r1"})))
        .mount(&h.server)
        .await;
    let referral = h.client.referrals().get("r1").await.unwrap();
    assert_eq!(referral.id.as_deref(), Some("r1"));
    assert_eq!(h.sleeper.sleeps(), [Duration::from_secs(7)]);
}

#[tokio::test]
async fn too_many_requests_that_persist_end_as_rate_limited() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3"))
        .mount(&h.server)
        .await;
    let err = h.client.referrals().get("r1").await.unwrap_err();
    assert!(err.is_rate_limited());
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
    assert_eq!(h.sleeper.sleeps(), [Duration::from_secs(3); 2]);
    assert!(matches!(err, Error::RetriesExhausted { attempts: 3, .. }));
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"error": {"code": "generalException", "message": "boom"}})),
        )
        .mount(&h.server)
        .await;
    let err = h.client.referrals().get("r1").await.unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::Server));
    assert_eq!(err.code(), Some("generalException"));
    assert_eq!(err.status().map(|s| s.as_u16()), Some(500));
    assert_eq!(h.requests().await.len(), 3);
    assert_eq!(h.sleeper.sleeps().len(), 2);
}

#[tokio::test]
async fn a_non_json_bad_gateway_keeps_its_body() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(502)
                .set_body_raw("<html><body>Bad Gateway</body></html>", "text/html"),
        )
        .mount(&h.server)
        .await;
    let err = h.client.referrals().get("r1").await.unwrap_err();
    let api = err.api().expect("an API error");
    assert_eq!(api.status.as_u16(), 502);
    assert_eq!(api.kind, ApiErrorKind::Server);
    assert_eq!(api.code, None);
    assert!(api.body_excerpt.contains("Bad Gateway"));
}

#[tokio::test]
async fn a_malformed_success_body_is_a_decode_error() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("request-id", "req-bad")
                .set_body_raw(
                    r#"{"id": "r1", "details": {"dealValue": "#,
                    "application/json",
                ),
        )
        .mount(&h.server)
        .await;
    let err = h.client.referrals().get("r1").await.unwrap_err();
    let Error::Decode(decode) = err else {
        panic!("expected a decode error");
    };
    assert_eq!(decode.status.map(|s| s.as_u16()), Some(200));
    assert_eq!(decode.request_id.as_deref(), Some("req-bad"));
}

/// A client without credentials does not compile, nor one with app-only credentials (see the
/// `compile_fail` example of `cosell::auth::Credentials`); a plain-http base URL fails at build.
#[test]
fn a_plain_http_base_url_is_refused_at_build() {
    let err = PartnerCenter::builder(StaticToken::new("t"))
        .base_url("http://partner.example/")
        .build()
        .unwrap_err();
    assert!(
        matches!(err, Error::Config(_)),
        "plain http only on loopback"
    );
}
