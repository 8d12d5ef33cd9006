//! Hostile input to every public decode path: truncated, oversized, deeply nested, wrongly
//! typed, invalid UTF-8, a UTF-8 byte order mark, a wrong charset. Each must end in the typed
//! error named here, never a panic, a hang or a silently changed value.
//!
//! The paths: referral JSON ([`Referral::from_json`] and the Partner Center client), webhook
//! callbacks ([`WebhookVerifier`], [`WebhookEvent::from_json`]), Dataverse answers (records,
//! pages, `$batch` through the client and [`read_batch_response`]), Salesforce answers (query
//! pages, describe, Collections), Salesforce date-times ([`datetime::parse`]).
//!
//! JSON is UTF-8 (RFC 8259 §8.1): a `charset` parameter is not consulted, a byte order mark is
//! refused like any other byte that cannot start a JSON text, and invalid UTF-8 is a decode
//! error rather than replaced.

use std::sync::Arc;

use cosell::Error;
use cosell::auth::{AccessToken, StaticToken};
use cosell::dataverse::{
    Batch, BatchOperation, BatchPart, Dataverse, Opportunity as DataverseOpportunity, Query,
    read_batch_response,
};
use cosell::error::{DecodeError, DecodeOrigin};
use cosell::http::{AnswerLimits, RetryPolicy};
use cosell::partner_center::{PartnerCenter, Referral};
use cosell::salesforce::soql::Soql;
use cosell::salesforce::{
    Atomicity, Opportunity as SalesforceOpportunity, SObjectDescribe, Salesforce, datetime,
};
use cosell::webhook::{TestSigner, TrustPolicy, WebhookError, WebhookEvent, WebhookVerifier};
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const MIB: usize = 1024 * 1024;
const BOM: &[u8] = b"\xEF\xBB\xBF";
/// Far deeper than any decoder may recurse.
const DEPTH: usize = 100_000;
const ROW_ID: &str = "c0ffee00-3333-4a5e-8f00-0123456789ab";

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// `[[[…]]]`, `depth` levels.
fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut text = "[".repeat(depth);
    text.push_str(&"]".repeat(depth));
    text.into_bytes()
}

/// A JSON object whose `key` holds `depth` nested arrays.
fn nested_under(key: &str, depth: usize) -> Vec<u8> {
    let mut text = format!("{{\"{key}\":").into_bytes();
    text.extend(nested_arrays(depth));
    text.push(b'}');
    text
}

fn with_bom(body: &[u8]) -> Vec<u8> {
    [BOM, body].concat()
}

/// `text` in UTF-16LE, as a server that honours `charset=utf-16` would send it.
fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A JSON text of about `bytes` bytes.
fn json_of_size(bytes: usize) -> Vec<u8> {
    format!("{{\"name\":\"{}\"}}", "x".repeat(bytes)).into_bytes()
}

/// The error must be [`Error::Decode`].
#[track_caller]
fn decode_error<T: std::fmt::Debug>(result: cosell::Result<T>) -> Box<DecodeError> {
    match result {
        Err(Error::Decode(decode)) => decode,
        other => panic!("expected Error::Decode, got {other:?}"),
    }
}

/// The decode error points at `what`: its JSON path or its message names it (types with a
/// flattened map of unknown fields report the failure at the enclosing object).
#[track_caller]
fn points_at(error: &DecodeError, what: &str) {
    assert!(
        error.path.contains(what) || error.message.contains(what),
        "`{what}` is neither in the path `{}` nor in the message `{}`",
        error.path,
        error.message
    );
}

/// The error must be [`Error::AnswerTooLarge`] with this limit.
#[track_caller]
fn too_large<T: std::fmt::Debug>(result: cosell::Result<T>, limit: usize) {
    match result {
        Err(Error::AnswerTooLarge(large)) => assert_eq!(large.limit, limit as u64),
        other => panic!("expected Error::AnswerTooLarge, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Referral JSON

#[test]
fn every_truncation_of_a_referral_is_a_decode_error() {
    let full = fixture("partner_center/incoming_cosell.json");
    let end = full.trim_ascii_end().len();
    assert!(Referral::from_json(&full).is_ok());
    for cut in 0..end {
        let error = decode_error(Referral::from_json(&full[..cut]));
        assert_eq!(error.origin, DecodeOrigin::Input, "cut at {cut}");
    }
}

#[test]
fn deeply_nested_referral_json_is_a_decode_error_not_a_stack_overflow() {
    decode_error(Referral::from_json(&nested_arrays(DEPTH)));
    // Inside a field the model keeps as sent, and inside a known one.
    decode_error(Referral::from_json(&nested_under("customField", DEPTH)));
    decode_error(Referral::from_json(&nested_under("registrations", DEPTH)));
}

#[test]
fn wrongly_typed_referral_fields_are_decode_errors_naming_the_field() {
    // Enum values are read from text or numbers (`salesStage` has come as `100`), not objects.
    let error = decode_error(Referral::from_json(br#"{"status": {"value": "Active"}}"#));
    points_at(&error, "status");
    let error = decode_error(Referral::from_json(br#"{"createdDateTime": 1438362827}"#));
    points_at(&error, "createdDateTime");
    let error = decode_error(Referral::from_json(br#"{"details": {"dealValue": [1]}}"#));
    points_at(&error, "details");
    let error = decode_error(Referral::from_json(
        br#"{"consent": {"consentToContact": "yes"}}"#,
    ));
    points_at(&error, "yes");
    decode_error(Referral::from_json(b"[]"));
}

#[test]
fn invalid_utf8_a_bom_or_utf16_in_a_referral_is_a_decode_error() {
    decode_error(Referral::from_json(b"{\"name\": \"Z\xfcrich\"}"));
    decode_error(Referral::from_json(&with_bom(br#"{"name": "x"}"#)));
    decode_error(Referral::from_json(&utf16(r#"{"name": "x"}"#)));
}

fn partner_center(server: &MockServer, limits: Option<AnswerLimits>) -> PartnerCenter {
    let mut builder = PartnerCenter::builder(StaticToken::new("token"))
        .base_url(format!("{}/v1.0/engagements/", server.uri()))
        .retry_policy(RetryPolicy::none());
    if let Some(limits) = limits {
        builder = builder.answer_limits(limits);
    }
    builder.build().unwrap()
}

async fn serve(server: &MockServer, route: &str, status: u16, body: Vec<u8>, content_type: &str) {
    Mock::given(path(route))
        .respond_with(ResponseTemplate::new(status).set_body_raw(body, content_type))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_referral_answer_over_the_record_limit_is_answer_too_large() {
    let server = MockServer::start().await;
    serve(
        &server,
        "/v1.0/engagements/referrals/r1",
        200,
        json_of_size(9 * MIB),
        "application/json",
    )
    .await;
    let client = partner_center(&server, None);
    too_large(client.referrals().get("r1").await, 8 * MIB);
}

#[tokio::test]
async fn a_referral_answer_in_a_wrong_charset_is_a_decode_error_of_the_response() {
    let server = MockServer::start().await;
    serve(
        &server,
        "/v1.0/engagements/referrals/utf16",
        200,
        utf16(r#"{"id": "utf16", "name": "Zürich"}"#),
        "application/json; charset=utf-16",
    )
    .await;
    serve(
        &server,
        "/v1.0/engagements/referrals/latin1",
        200,
        b"{\"id\": \"latin1\", \"name\": \"Z\xfcrich\"}".to_vec(),
        "application/json; charset=iso-8859-1",
    )
    .await;
    // A label that is wrong the other way: the body is UTF-8, which JSON always is.
    serve(
        &server,
        "/v1.0/engagements/referrals/labelled",
        200,
        r#"{"id": "labelled", "name": "Zürich"}"#.as_bytes().to_vec(),
        "application/json; charset=utf-16",
    )
    .await;
    let client = partner_center(&server, None);
    for id in ["utf16", "latin1"] {
        let error = decode_error(client.referrals().get(id).await);
        assert_eq!(error.origin, DecodeOrigin::Response, "{id}");
        assert_eq!(error.status.map(|s| s.as_u16()), Some(200), "{id}");
    }
    let referral = client.referrals().get("labelled").await.unwrap();
    assert_eq!(referral.name.value().map(String::as_str), Some("Zürich"));
}

// ---------------------------------------------------------------------------------------------
// Webhook callbacks

fn verifier(signer: &TestSigner) -> WebhookVerifier {
    WebhookVerifier::builder(TrustPolicy::partner_center())
        .fetcher(Arc::new(signer.certificates()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_callback_over_the_body_limit_is_refused_before_its_signature_is_read() {
    let signer = TestSigner::new();
    let body = json_of_size(MIB + 1);
    let headers = signer.headers(&body).unwrap();
    let error = verifier(&signer).verify_event(&headers, &body).await;
    assert_eq!(
        error.unwrap_err(),
        WebhookError::BodyTooLarge {
            limit: MIB,
            actual: body.len()
        }
    );
}

#[tokio::test]
async fn a_signed_but_hostile_event_body_is_an_invalid_payload() {
    let signer = TestSigner::new();
    let verifier = verifier(&signer);
    let event = br#"{"EventName":"referral-updated","ResourceUri":"https://api.partnercenter.microsoft.com/engagements/v1/referrals/4f0c"}"#;
    let mut bodies: Vec<Vec<u8>> = (0..event.len()).map(|cut| event[..cut].to_vec()).collect();
    bodies.push(nested_arrays(DEPTH));
    bodies.push(nested_under("EventName", DEPTH));
    bodies.push(br#"{"EventName": 5}"#.to_vec());
    bodies.push(br#"{"EventName": "referral-updated", "ResourceChangeUtcDate": true}"#.to_vec());
    bodies.push(b"{\"EventName\": \"referral-updated\xff\"}".to_vec());
    bodies.push(with_bom(event));
    bodies.push(utf16(std::str::from_utf8(event).unwrap()));
    for body in bodies {
        let headers = signer.headers(&body).unwrap();
        let result = verifier.verify_event(&headers, &body).await;
        assert!(
            matches!(result, Err(WebhookError::InvalidPayload(_))),
            "{:?}: {result:?}",
            String::from_utf8_lossy(&body)
        );
        assert!(matches!(
            WebhookEvent::from_json(&body),
            Err(WebhookError::InvalidPayload(_))
        ));
    }
    // The intact event passes, so the refusals above are about the bodies.
    let headers = signer.headers(event).unwrap();
    assert!(verifier.verify_event(&headers, event).await.is_ok());
}

// ---------------------------------------------------------------------------------------------
// Dataverse answers

fn dataverse(server: &MockServer, limits: Option<AnswerLimits>) -> Dataverse {
    let mut builder = Dataverse::builder(StaticToken::new("token"))
        .base_url(format!("{}/api/data/v9.2/", server.uri()))
        .retry_policy(RetryPolicy::none());
    if let Some(limits) = limits {
        builder = builder.answer_limits(limits);
    }
    builder.build().unwrap()
}

async fn retrieve_answer(
    body: Vec<u8>,
    content_type: &str,
) -> cosell::Result<DataverseOpportunity> {
    let server = MockServer::start().await;
    serve(
        &server,
        &format!("/api/data/v9.2/opportunities({ROW_ID})"),
        200,
        body,
        content_type,
    )
    .await;
    let id: Uuid = ROW_ID.parse().unwrap();
    dataverse(&server, None)
        .opportunities()
        .retrieve(id)
        .send()
        .await
}

#[tokio::test]
async fn hostile_dataverse_records_are_decode_errors_of_the_response() {
    let row = fixture("dataverse/opportunity.json");
    let json = "application/json";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", row[..row.len() / 2].to_vec(), json),
        ("nested", nested_arrays(DEPTH), json),
        (
            "nested in a column",
            nested_under("cosell_audittrail", DEPTH),
            json,
        ),
        (
            "wrongly typed",
            br#"{"estimatedvalue": "lots"}"#.to_vec(),
            json,
        ),
        ("invalid UTF-8", b"{\"name\": \"Z\xfcrich\"}".to_vec(), json),
        ("byte order mark", with_bom(&row), json),
        (
            "UTF-16",
            utf16(&String::from_utf8(row.clone()).unwrap()),
            "application/json; charset=utf-16",
        ),
    ];
    for (what, body, content_type) in cases {
        let error = decode_error(retrieve_answer(body, content_type).await);
        assert_eq!(error.origin, DecodeOrigin::Response, "{what}");
        assert_eq!(error.status.map(|s| s.as_u16()), Some(200), "{what}");
        if what == "wrongly typed" {
            points_at(&error, "lots");
        }
    }
}

#[tokio::test]
async fn a_dataverse_record_over_the_record_limit_is_answer_too_large() {
    too_large(
        retrieve_answer(json_of_size(9 * MIB), "application/json").await,
        8 * MIB,
    );
}

#[tokio::test]
async fn a_dataverse_page_over_the_listing_limit_is_answer_too_large() {
    let server = MockServer::start().await;
    let rows: Vec<Value> = (0..3000)
        .map(|i| json!({"opportunityid": Uuid::new_v4(), "name": format!("{i:0>600}")}))
        .collect();
    let page = serde_json::to_vec(&json!({ "value": rows })).unwrap();
    assert!(page.len() > MIB);
    serve(
        &server,
        "/api/data/v9.2/opportunities",
        200,
        page,
        "application/json",
    )
    .await;
    let client = dataverse(&server, Some(AnswerLimits::default().listing(MIB as u64)));
    let result = client
        .opportunities()
        .query::<DataverseOpportunity>(&Query::new())
        .collect_all()
        .await;
    too_large(result, MIB);
}

fn one_create() -> Batch {
    Batch::new().operation(BatchOperation::create("accounts", &json!({"name": "A"})).unwrap())
}

const BATCH_ANSWER: &str = "--batchresponse_1\r\nContent-Type: application/http\r\n\
    Content-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 204 No Content\r\n\
    OData-EntityId: https://x/api/data/v9.2/accounts(c0ffee00-3333-4a5e-8f00-0123456789ab)\r\n\r\n\r\n\
    --batchresponse_1--\r\n";

#[tokio::test]
async fn a_batch_answer_over_the_listing_limit_is_answer_too_large() {
    let server = MockServer::start().await;
    let body = BATCH_ANSWER.replace("\r\n\r\n\r\n", &format!("\r\n\r\n{}\r\n", "x".repeat(MIB)));
    serve(
        &server,
        "/api/data/v9.2/$batch",
        200,
        body.into_bytes(),
        "multipart/mixed; boundary=batchresponse_1",
    )
    .await;
    let client = dataverse(&server, Some(AnswerLimits::default().listing(MIB as u64)));
    too_large(client.execute_batch(&one_create()).await, MIB);
}

#[tokio::test]
async fn a_truncated_batch_answer_from_the_service_is_a_decode_error() {
    let server = MockServer::start().await;
    serve(
        &server,
        "/api/data/v9.2/$batch",
        200,
        BATCH_ANSWER.as_bytes()[..BATCH_ANSWER.len() - 20].to_vec(),
        "multipart/mixed; boundary=batchresponse_1",
    )
    .await;
    let error = decode_error(dataverse(&server, None).execute_batch(&one_create()).await);
    assert_eq!(error.origin, DecodeOrigin::Response);
}

// ---------------------------------------------------------------------------------------------
// Multipart (`$batch`) reading

const BATCH_TYPE: &str = "multipart/mixed; boundary=batchresponse_7a3c";

/// The fixture with its URL placeholder filled in.
fn batch_fixture() -> Vec<u8> {
    String::from_utf8(fixture("dataverse/batch_mixed_response.txt"))
        .unwrap()
        .replace("{{BASE}}", "https://contoso.crm.dynamics.com")
        .into_bytes()
}

#[test]
fn every_truncation_of_a_batch_answer_before_its_closing_boundary_is_a_decode_error() {
    let full = batch_fixture();
    let closing = b"--batchresponse_7a3c--";
    let end = full
        .windows(closing.len())
        .rposition(|w| w == closing)
        .unwrap()
        + closing.len();
    assert_eq!(read_batch_response(BATCH_TYPE, &full).unwrap().len(), 3);
    for cut in 0..end {
        decode_error(read_batch_response(BATCH_TYPE, &full[..cut]));
    }
}

#[test]
fn a_batch_answer_without_a_boundary_or_with_nested_change_sets_is_a_decode_error() {
    let full = batch_fixture();
    decode_error(read_batch_response("multipart/mixed", &full));
    decode_error(read_batch_response("multipart/mixed; boundary=", &full));
    decode_error(read_batch_response(
        "application/json; charset=utf-8",
        &full,
    ));
    let nested = "--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n\
                  --c\r\nContent-Type: multipart/mixed; boundary=d\r\n\r\n\
                  --d\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n--d--\r\n\
                  --c--\r\n--b--\r\n";
    decode_error(read_batch_response(
        "multipart/mixed; boundary=b",
        nested.as_bytes(),
    ));
}

#[test]
fn a_batch_answer_of_a_hundred_thousand_parts_reads_every_part() {
    let part = "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n";
    let body = format!("{}--b--\r\n", part.repeat(DEPTH));
    let parts = read_batch_response("multipart/mixed; boundary=b", body.as_bytes()).unwrap();
    assert_eq!(parts.len(), DEPTH);
}

#[test]
fn invalid_utf8_in_a_batch_answer_is_a_decode_error_not_replaced() {
    let body = String::from_utf8(batch_fixture()).unwrap();
    let at = body.find("Fabrikam").unwrap();
    let mut bytes = body.into_bytes();
    // "Fabrikam" written in Latin-1 as "Fäbrikam": one byte that is not UTF-8.
    bytes[at + 1] = 0xe4;
    let error = decode_error(read_batch_response(BATCH_TYPE, &bytes));
    assert_eq!(error.path, "$batch");
}

#[test]
fn a_bom_before_a_batch_answer_is_preamble() {
    let parts = read_batch_response(BATCH_TYPE, &with_bom(&batch_fixture())).unwrap();
    assert_eq!(parts.len(), 3);
    let BatchPart::Response(get) = &parts[1] else {
        panic!("{parts:?}");
    };
    // A BOM inside a part's JSON body is the same decode error as anywhere else.
    let mut with_bom_body = get.clone();
    with_bom_body.body = with_bom(&get.body).into();
    decode_error(with_bom_body.json::<Value>());
    assert!(get.json::<Value>().is_ok());
}

// ---------------------------------------------------------------------------------------------
// Salesforce answers

fn salesforce(server: &MockServer, limits: Option<AnswerLimits>) -> Salesforce {
    let token = AccessToken::bearer("token").with_extra("instance_url", server.uri());
    let mut builder = Salesforce::builder(Arc::new(StaticToken::from_token(token)))
        .retry_policy(RetryPolicy::none());
    if let Some(limits) = limits {
        builder = builder.answer_limits(limits);
    }
    builder.build().unwrap()
}

const API: &str = "/services/data/v62.0";

async fn query_answer(body: Vec<u8>, content_type: &str) -> cosell::Result<Vec<Value>> {
    let server = MockServer::start().await;
    serve(&server, &format!("{API}/query"), 200, body, content_type).await;
    salesforce(&server, None)
        .query::<Value>(&Soql::trusted("SELECT Id FROM Opportunity"))
        .collect_all()
        .await
}

#[tokio::test]
async fn hostile_salesforce_query_pages_are_decode_errors_of_the_response() {
    let page = br#"{"totalSize":1,"done":true,"records":[{"attributes":{"type":"Opportunity"},"Id":"006A"}]}"#;
    let json = "application/json;charset=UTF-8";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", page[..page.len() - 3].to_vec(), json),
        ("nested", nested_arrays(DEPTH), json),
        ("nested in records", nested_under("records", DEPTH), json),
        (
            "wrongly typed",
            br#"{"done":true,"records":{"Id":"006A"}}"#.to_vec(),
            json,
        ),
        (
            "no records",
            br#"{"totalSize":0,"done":true}"#.to_vec(),
            json,
        ),
        (
            "invalid UTF-8",
            b"{\"done\":true,\"records\":[\"\xff\"]}".to_vec(),
            json,
        ),
        ("byte order mark", with_bom(page), json),
        (
            "UTF-16",
            utf16(std::str::from_utf8(page).unwrap()),
            "application/json;charset=UTF-16",
        ),
    ];
    for (what, body, content_type) in cases {
        let error = decode_error(query_answer(body, content_type).await);
        assert_eq!(error.origin, DecodeOrigin::Response, "{what}");
        if what == "wrongly typed" {
            points_at(&error, "records");
        }
    }
    assert_eq!(query_answer(page.to_vec(), json).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_salesforce_page_over_the_listing_limit_is_answer_too_large() {
    let records: Vec<Value> = (0..2000)
        .map(|i| json!({"attributes": {"type": "Opportunity"}, "Id": format!("{i:0>18}"), "Description": "d".repeat(600)}))
        .collect();
    let page =
        serde_json::to_vec(&json!({"totalSize": 2000, "done": true, "records": records})).unwrap();
    let server = MockServer::start().await;
    serve(
        &server,
        &format!("{API}/query"),
        200,
        page,
        "application/json",
    )
    .await;
    let result = salesforce(&server, Some(AnswerLimits::default().listing(MIB as u64)))
        .query::<Value>(&Soql::trusted("SELECT Id FROM Opportunity"))
        .collect_all()
        .await;
    too_large(result, MIB);
}

#[tokio::test]
async fn a_wrongly_typed_describe_and_a_short_collections_answer_are_decode_errors() {
    let server = MockServer::start().await;
    serve(
        &server,
        &format!("{API}/sobjects/Opportunity/describe"),
        200,
        br#"{"name":"Opportunity","fields":[{"name":"Amount","type":7}]}"#.to_vec(),
        "application/json",
    )
    .await;
    Mock::given(method("POST"))
        .and(path(format!("{API}/composite/sobjects")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([{"id": "006A", "success": true, "errors": []}])),
        )
        .mount(&server)
        .await;
    let sf = salesforce(&server, None);
    let error = decode_error::<SObjectDescribe>(sf.sobject("Opportunity").describe().await);
    points_at(&error, "fields[0]");
    let two = vec![json!({"Name": "A"}), json!({"Name": "B"})];
    let error = decode_error(
        sf.sobject("Opportunity")
            .create_many(&two, Atomicity::PerRecord)
            .await,
    );
    assert!(
        error.message.contains("1 results for 2 records"),
        "{error:?}"
    );
}

#[test]
fn hostile_salesforce_date_times_do_not_parse() {
    let good = "2015-07-31T17:13:47.000+0000";
    assert!(datetime::parse(good).is_some());
    for cut in 0..good.len() - 2 {
        assert_eq!(datetime::parse(&good[..cut]), None, "{:?}", &good[..cut]);
    }
    let long_digits = "9".repeat(MIB);
    let hostile = [
        "+0000",
        "-0000",
        "ü+0000",
        "2015-07-31T17:13:47.000+00ü00",
        "2015-07-31T17:13:47.000+ü000",
        "2015-13-31T17:13:47.000+0000",
        "2015-07-31T17:13:47.000+9999",
        "\u{feff}2015-07-31T17:13:47.000+0000",
        long_digits.as_str(),
    ];
    for text in hostile {
        assert_eq!(datetime::parse(text), None, "{:.40?}", text);
    }
    // In a record, the same text is a decode error naming the field.
    let error = decode_error(cosell::error::decode_json::<SalesforceOpportunity>(
        br#"{"LastModifiedDate": "2015-07-31T17:13:4"}"#,
    ));
    points_at(&error, "2015-07-31T17:13:4");
    let error = decode_error(cosell::error::decode_json::<SalesforceOpportunity>(
        br#"{"SystemModstamp": 1438362827000}"#,
    ));
    points_at(&error, "date-time");
}
