//! The Dataverse client against wiremock: exact requests, typed results, typed errors.

use std::sync::Arc;
use std::time::Duration;

use cosell::auth::StaticToken;
use cosell::dataverse::{
    Batch, BatchOperation, BatchOutcome, CoSellFieldNames, CoSellUpdate, Dataverse,
    EntityReference, Filter, Opportunity, OpportunityClose, OpportunityPatch, OpportunityState,
    OpportunityStatus, Query, RecordKey, UpsertKind, read_batch_response,
};
use cosell::error::{ApiErrorKind, Service};
use cosell::http::{ManualClock, RecordingSleeper, RetryPolicy};
use cosell::{Error, FieldUpdate, Order};
use futures::TryStreamExt;
use jiff::civil::date;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const OPPORTUNITY_ID: &str = "c0ffee00-3333-4a5e-8f00-0123456789ab";
const ACCOUNT_ID: &str = "5a0c2f8e-1111-4b6e-9a1e-0123456789ab";
const CURRENCY_ID: &str = "7d9d8c3b-2222-4d9b-8a55-0123456789ab";

fn id(text: &str) -> Uuid {
    text.parse().unwrap()
}

fn fixture(name: &str, server: &MockServer) -> String {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/dataverse/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    text.replace("{{BASE}}", &server.uri())
}

fn fixture_json(name: &str, server: &MockServer) -> Value {
    serde_json::from_str(&fixture(name, server)).unwrap()
}

struct Harness {
    server: MockServer,
    sleeper: Arc<RecordingSleeper>,
    dataverse: Dataverse,
}

async fn harness_with(
    retry: RetryPolicy,
    configure: impl Fn(cosell::dataverse::DataverseBuilder) -> cosell::dataverse::DataverseBuilder,
) -> Harness {
    let server = MockServer::start().await;
    let clock = Arc::new(ManualClock::new("2026-03-01T12:00:00Z".parse().unwrap()));
    let sleeper = Arc::new(RecordingSleeper::with_clock(clock.clone()));
    let builder = Dataverse::builder(StaticToken::new("test-token"))
        .base_url(format!("{}/api/data/v9.2/", server.uri()))
        .retry_policy(retry)
        .clock(clock)
        .sleeper(sleeper.clone());
    let dataverse = configure(builder).build().unwrap();
    Harness {
        server,
        sleeper,
        dataverse,
    }
}

/// A client that tags writes `cosell` and suppresses flows, without retries.
async fn harness() -> Harness {
    harness_with(RetryPolicy::none(), |b| {
        b.origin_tag("cosell").suppress_flows(true)
    })
    .await
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap()
}

async fn only_request(server: &MockServer) -> Request {
    let mut all = requests(server).await;
    assert_eq!(all.len(), 1, "expected exactly one request");
    all.remove(0)
}

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

fn query_of(request: &Request) -> Vec<(String, String)> {
    request
        .url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn body_json(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

/// The OData headers every request carries.
fn assert_odata_headers(request: &Request) {
    assert_eq!(header(request, "accept"), Some("application/json"));
    assert_eq!(header(request, "odata-maxversion"), Some("4.0"));
    assert_eq!(header(request, "odata-version"), Some("4.0"));
    assert_eq!(header(request, "authorization"), Some("Bearer test-token"));
}

/// A write marked with the client's origin defaults.
fn assert_marked(request: &Request) {
    assert!(
        query_of(request).contains(&("tag".into(), "cosell".into())),
        "no tag: {}",
        request.url
    );
    assert_eq!(
        header(request, "mscrm.suppresscallbackregistrationexpanderjob"),
        Some("true")
    );
}

fn entity_id(server: &MockServer, segment: &str) -> String {
    format!("{}/api/data/v9.2/{segment}", server.uri())
}

// ---------------------------------------------------------------------------------------------
// Client construction

#[test]
fn org_helpers_build_base_url_and_scope() {
    let dv = Dataverse::for_org("contoso", StaticToken::new("t"))
        .build()
        .unwrap();
    assert_eq!(
        dv.pipeline().base_url().unwrap().as_str(),
        "https://contoso.crm.dynamics.com/api/data/v9.2/"
    );
    assert_eq!(
        Dataverse::scope_for_org("contoso").unwrap(),
        "https://contoso.crm.dynamics.com/.default"
    );
    assert!(Dataverse::scope_for_org("contoso.evil.com").is_err());
    assert!(matches!(
        Dataverse::builder(StaticToken::new("t"))
            .base_url("http://contoso.crm.dynamics.com/api/data/v9.2/")
            .build(),
        Err(Error::Config(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Create

#[tokio::test]
async fn create_posts_the_changed_fields_and_reads_the_id_from_odata_entityid() {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path("/api/data/v9.2/opportunities"))
        .respond_with(ResponseTemplate::new(204).insert_header(
            "OData-EntityId",
            entity_id(&h.server, &format!("opportunities({OPPORTUNITY_ID})")).as_str(),
        ))
        .mount(&h.server)
        .await;

    let columns = CoSellFieldNames::default();
    let mut new = OpportunityPatch {
        name: FieldUpdate::Set("Fabrikam renewal 2025".into()),
        estimated_value: FieldUpdate::Set("125000.00".parse().unwrap()),
        estimated_close_date: FieldUpdate::Set(date(2025, 9, 30)),
        close_probability: FieldUpdate::Set(40),
        customer_account: FieldUpdate::Set(EntityReference::new("accounts", id(ACCOUNT_ID))),
        transaction_currency: FieldUpdate::Set(EntityReference::new(
            "transactioncurrencies",
            id(CURRENCY_ID),
        )),
        ..Default::default()
    };
    columns.write(
        &CoSellUpdate {
            sync_with_partner_center: FieldUpdate::Set(true),
            referral_id: FieldUpdate::Set("a1b2c3".into()),
            help_requested: FieldUpdate::Set(vec![1, 9]),
            ..Default::default()
        },
        &mut new.extra,
    );
    let created = h
        .dataverse
        .opportunities()
        .create(&new)
        .send()
        .await
        .unwrap();
    assert_eq!(created, id(OPPORTUNITY_ID));

    let request = only_request(&h.server).await;
    assert_eq!(request.method.as_str(), "POST");
    assert_odata_headers(&request);
    assert_marked(&request);
    assert_eq!(header(&request, "content-type"), Some("application/json"));
    assert_eq!(header(&request, "prefer"), None);
    assert_eq!(
        body_json(&request),
        json!({
            "name": "Fabrikam renewal 2025",
            "estimatedvalue": 125000,
            "estimatedclosedate": "2025-09-30",
            "closeprobability": 40,
            "customerid_account@odata.bind": format!("/accounts({ACCOUNT_ID})"),
            "transactioncurrencyid@odata.bind": format!("/transactioncurrencies({CURRENCY_ID})"),
            "cosell_syncwithpartnercenter": true,
            "cosell_referralid": "a1b2c3",
            "cosell_howcanmicrosofthelp": "1,9",
        })
    );
}

#[tokio::test]
async fn create_without_an_entity_id_is_a_decode_error() {
    let h = harness().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&h.server)
        .await;
    let err = h
        .dataverse
        .table("accounts")
        .create(&json!({"name": "x"}))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
}

#[tokio::test]
async fn create_returning_asks_for_the_representation_and_decodes_it() {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path("/api/data/v9.2/opportunities"))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("Preference-Applied", "return=representation")
                .set_body_json(fixture_json("opportunity.json", &h.server)),
        )
        .mount(&h.server)
        .await;
    let new = OpportunityPatch {
        name: FieldUpdate::Set("Fabrikam renewal 2025".into()),
        ..Default::default()
    };
    let created: Opportunity = h
        .dataverse
        .opportunities()
        .no_tag()
        .create(&new)
        .returning(&["opportunityid", "name", "estimatedvalue"])
        .send()
        .await
        .unwrap();
    assert_eq!(created.id, Some(id(OPPORTUNITY_ID)));
    assert_eq!(created.estimated_value, Some(Decimal::new(1250005, 1)));

    let request = only_request(&h.server).await;
    assert_eq!(header(&request, "prefer"), Some("return=representation"));
    assert_eq!(
        query_of(&request),
        vec![(
            "$select".to_string(),
            "opportunityid,name,estimatedvalue".to_string()
        )]
    );
    assert_eq!(
        body_json(&request),
        json!({"name": "Fabrikam renewal 2025"})
    );
}

// ---------------------------------------------------------------------------------------------
// Retrieve

#[tokio::test]
async fn retrieve_selects_expands_and_reads_a_typed_opportunity() {
    let h = harness().await;
    let segment = format!("opportunities({OPPORTUNITY_ID})");
    Mock::given(method("GET"))
        .and(path(format!("/api/data/v9.2/{segment}")))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-ms-service-request-id", "req-1")
                .set_body_json(fixture_json("opportunity.json", &h.server)),
        )
        .mount(&h.server)
        .await;
    let columns = CoSellFieldNames::default();
    let row: Opportunity = h
        .dataverse
        .opportunities()
        .retrieve(id(OPPORTUNITY_ID))
        .select(["name", "estimatedvalue"])
        .select(columns.names())
        .expand("parentaccountid($select=name)")
        .formatted_values()
        .send()
        .await
        .unwrap();

    let request = only_request(&h.server).await;
    assert_odata_headers(&request);
    assert_eq!(header(&request, "if-none-match"), Some("null"));
    assert_eq!(
        header(&request, "prefer"),
        Some("odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\"")
    );
    assert_eq!(
        query_of(&request),
        vec![
            (
                "$select".to_string(),
                "name,estimatedvalue,cosell_syncwithpartnercenter,cosell_referralid,\
                 cosell_referrallink,cosell_howcanmicrosofthelp,cosell_solutions,cosell_audit"
                    .to_string()
            ),
            (
                "$expand".to_string(),
                "parentaccountid($select=name)".to_string()
            ),
        ],
        "reads carry no origin tag"
    );
    assert_eq!(
        header(&request, "mscrm.suppresscallbackregistrationexpanderjob"),
        None
    );

    assert_eq!(row.etag.as_deref(), Some("W/\"90210001\""));
    assert_eq!(row.name.as_deref(), Some("Fabrikam renewal 2025"));
    assert_eq!(row.description, None);
    assert_eq!(row.estimated_value, Some(Decimal::new(1250005, 1)));
    assert_eq!(row.budget_amount, Some(Decimal::new(9999999, 2)));
    assert_eq!(row.estimated_close_date, Some(date(2025, 9, 30)));
    assert_eq!(row.state, Some(OpportunityState::Open));
    assert_eq!(row.status, Some(OpportunityStatus::Other(7)));
    assert_eq!(row.customer_id, Some(id(ACCOUNT_ID)));
    assert_eq!(row.transaction_currency_id, Some(id(CURRENCY_ID)));
    assert_eq!(row.version_number, Some(90210001));
    assert_eq!(
        row.modified_on,
        Some("2025-03-01T17:45:12Z".parse().unwrap())
    );
    assert_eq!(row.formatted("statecode"), Some("Open"));
    assert_eq!(row.extra["new_customcolumn"], json!({"nested": [1, 2, 3]}));

    let cosell = row.cosell(&columns).unwrap();
    assert_eq!(cosell.sync_with_partner_center, Some(true));
    assert_eq!(cosell.referral_id.as_deref(), Some("a1b2c3d4-referral"));
    assert_eq!(cosell.help_requested, Some(vec![1, 9]));
    assert_eq!(cosell.solutions.as_deref(), Some("Azure Migrate"));
    assert_eq!(cosell.audit_trail, None);

    // Read-modify-write keeps every property it did not type.
    let round_trip = serde_json::to_value(&row).unwrap();
    assert_eq!(round_trip["cosell_referralid"], "a1b2c3d4-referral");
    assert_eq!(
        round_trip["_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"],
        "account"
    );
}

#[tokio::test]
async fn a_custom_publisher_prefix_reads_its_own_columns() {
    let columns = CoSellFieldNames::with_prefix("new").help_requested("new_mshelp");
    let row: Opportunity = serde_json::from_value(json!({
        "new_syncwithpartnercenter": false,
        "new_mshelp": "2, 3,8",
        "cosell_referralid": "ignored"
    }))
    .unwrap();
    let fields = row.cosell(&columns).unwrap();
    assert_eq!(fields.sync_with_partner_center, Some(false));
    assert_eq!(fields.help_requested, Some(vec![2, 3, 8]));
    assert_eq!(fields.referral_id, None);

    let bad: Opportunity = serde_json::from_value(json!({"new_mshelp": "2;3"})).unwrap();
    let err = bad.cosell(&columns).unwrap_err();
    assert!(
        matches!(&err, Error::Decode(d) if d.path == ".new_mshelp"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_conditional_retrieve_answers_none_when_unchanged() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(wiremock::matchers::header("if-none-match", "W/\"1\""))
        .respond_with(ResponseTemplate::new(304))
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"@odata.etag": "W/\"2\"", "name": "Changed"})),
        )
        .mount(&h.server)
        .await;
    let table = h.dataverse.opportunities();
    let unchanged: Option<Opportunity> = table
        .retrieve(id(OPPORTUNITY_ID))
        .select(["name"])
        .if_none_match("W/\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged, None);
    let changed: Option<Opportunity> = table
        .retrieve(id(OPPORTUNITY_ID))
        .select(["name"])
        .if_none_match("W/\"0\"")
        .send()
        .await
        .unwrap();
    assert_eq!(changed.unwrap().name.as_deref(), Some("Changed"));
    let all = requests(&h.server).await;
    assert_eq!(header(&all[0], "if-none-match"), Some("W/\"1\""));
    assert_eq!(
        query_of(&all[0]),
        vec![("$select".to_string(), "name".to_string())]
    );
}

#[tokio::test]
async fn retrieve_of_a_missing_row_is_not_found() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(404)
                .insert_header("x-ms-service-request-id", "req-404")
                .set_body_json(json!({"error": {"code": "0x80040217", "message": "opportunity With Id = c0ffee00 Does Not Exist"}})),
        )
        .mount(&h.server)
        .await;
    let err = h
        .dataverse
        .opportunities()
        .retrieve(id(OPPORTUNITY_ID))
        .send::<Opportunity>()
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.kind(), Some(ApiErrorKind::NotFound));
    assert_eq!(err.code(), Some("0x80040217"));
    assert_eq!(err.request_id(), Some("req-404"));
    assert_eq!(err.api().unwrap().service, Service::Dataverse);
}

// ---------------------------------------------------------------------------------------------
// Update

#[tokio::test]
async fn update_sends_if_match_star_and_only_the_changed_fields() {
    let h = harness().await;
    let segment = format!("opportunities({OPPORTUNITY_ID})");
    Mock::given(method("PATCH"))
        .and(path(format!("/api/data/v9.2/{segment}")))
        .respond_with(ResponseTemplate::new(204))
        .mount(&h.server)
        .await;
    let mut changes = OpportunityPatch {
        description: FieldUpdate::Clear,
        estimated_value: FieldUpdate::Set("5000.50".parse().unwrap()),
        parent_account: FieldUpdate::Clear,
        ..Default::default()
    };
    CoSellFieldNames::default().write(
        &CoSellUpdate {
            audit_trail: FieldUpdate::Set("synced".into()),
            referral_link: FieldUpdate::Clear,
            ..Default::default()
        },
        &mut changes.extra,
    );
    h.dataverse
        .opportunities()
        .update(id(OPPORTUNITY_ID), &changes)
        .send()
        .await
        .unwrap();
    let request = only_request(&h.server).await;
    assert_eq!(request.method.as_str(), "PATCH");
    assert_eq!(header(&request, "if-match"), Some("*"));
    assert_marked(&request);
    assert_eq!(
        body_json(&request),
        json!({
            "description": null,
            "estimatedvalue": 5000.5,
            "parentaccountid@odata.bind": null,
            "cosell_audit": "synced",
            "cosell_referrallink": null,
        })
    );
}

#[tokio::test]
async fn update_with_a_stale_etag_is_a_precondition_failure() {
    let h = harness().await;
    Mock::given(method("PATCH"))
        .respond_with(
            ResponseTemplate::new(412)
                .insert_header("x-ms-service-request-id", "req-412")
                .set_body_json(json!({"error": {"code": "", "message": "The version of the existing record doesn't match the RowVersion property provided."}})),
        )
        .mount(&h.server)
        .await;
    let err = h
        .dataverse
        .opportunities()
        .suppress_flows(false)
        .update(
            id(OPPORTUNITY_ID),
            &OpportunityPatch {
                close_probability: FieldUpdate::Set(80),
                ..Default::default()
            },
        )
        .if_match("W/\"90210001\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::PreconditionFailed));
    assert!(err.is_conflict());
    assert_eq!(err.code(), None, "an empty code is no code");
    assert_eq!(err.request_id(), Some("req-412"));
    assert!(err.to_string().contains("RowVersion"));

    let request = only_request(&h.server).await;
    assert_eq!(header(&request, "if-match"), Some("W/\"90210001\""));
    assert_eq!(
        header(&request, "mscrm.suppresscallbackregistrationexpanderjob"),
        None,
        "the per-call option overrides the client default"
    );
    assert_eq!(body_json(&request), json!({"closeprobability": 80}));
}

// ---------------------------------------------------------------------------------------------
// Upsert and create-only

#[tokio::test]
async fn upsert_by_a_multi_column_alternate_key_reports_unknown_without_representation() {
    let h = harness().await;
    let key_url = "opportunities(cosell_referralid='O''Neil%20deal',cosell_tenant=42)";
    Mock::given(method("PATCH"))
        .and(path(format!("/api/data/v9.2/{key_url}")))
        .respond_with(
            ResponseTemplate::new(204)
                .insert_header("OData-EntityId", entity_id(&h.server, key_url).as_str()),
        )
        .mount(&h.server)
        .await;
    let key = RecordKey::Alternate(vec![
        ("cosell_referralid".into(), "O'Neil deal".into()),
        ("cosell_tenant".into(), 42.into()),
    ]);
    let outcome = h
        .dataverse
        .opportunities()
        .tag("sweep-7")
        .upsert(key, &json!({"name": "Contoso expansion"}))
        .send()
        .await
        .unwrap();
    assert_eq!(outcome.kind, UpsertKind::Unknown);
    assert_eq!(outcome.id, None, "a key-based entity id holds no GUID");
    assert_eq!(
        outcome.entity_id.as_deref(),
        Some(entity_id(&h.server, key_url).as_str())
    );

    let request = only_request(&h.server).await;
    assert_eq!(request.url.path(), format!("/api/data/v9.2/{key_url}"));
    assert_eq!(header(&request, "if-match"), None, "an upsert may create");
    assert_eq!(header(&request, "if-none-match"), Some("null"));
    assert_eq!(header(&request, "prefer"), None);
    assert_eq!(
        query_of(&request),
        vec![("tag".to_string(), "sweep-7".to_string())]
    );
    assert_eq!(body_json(&request), json!({"name": "Contoso expansion"}));
}

#[tokio::test]
async fn upsert_returning_tells_created_from_updated() {
    let h = harness().await;
    let key_url = "opportunities(cosell_referralid='r-1')";
    Mock::given(method("PATCH"))
        .and(path(format!("/api/data/v9.2/{key_url}")))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"@odata.etag": "W/\"1\"", "opportunityid": OPPORTUNITY_ID})),
        )
        .up_to_n_times(1)
        .mount(&h.server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("/api/data/v9.2/{key_url}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"@odata.etag": "W/\"2\"", "opportunityid": OPPORTUNITY_ID})),
        )
        .mount(&h.server)
        .await;
    let table = h.dataverse.opportunities();
    let key = RecordKey::alternate([("cosell_referralid", "r-1")]);
    let first = table
        .upsert(key.clone(), &json!({"name": "X"}))
        .returning::<Opportunity>(&["opportunityid"])
        .send()
        .await
        .unwrap();
    let second = table
        .upsert(key, &json!({"name": "X"}))
        .returning::<Opportunity>(&["opportunityid"])
        .send()
        .await
        .unwrap();
    assert_eq!(first.kind, UpsertKind::Created);
    assert_eq!(second.kind, UpsertKind::Updated);
    assert_eq!(second.record.id, Some(id(OPPORTUNITY_ID)));
    assert_eq!(second.record.etag.as_deref(), Some("W/\"2\""));

    let request = &requests(&h.server).await[0];
    assert_eq!(header(request, "prefer"), Some("return=representation"));
    let q = query_of(request);
    assert!(q.contains(&("$select".into(), "opportunityid".into())));
    assert!(q.contains(&("tag".into(), "cosell".into())));
}

#[tokio::test]
async fn key_values_the_service_cannot_take_are_refused_before_sending() {
    let h = harness().await;
    for bad in [
        "a/b",
        "50%",
        "x?y",
        "a&b",
        "",
        "line\nbreak",
        "c:d",
        "a+b",
        "a#b",
    ] {
        let err = h
            .dataverse
            .opportunities()
            .upsert(
                RecordKey::alternate([("cosell_referralid", bad)]),
                &json!({}),
            )
            .send()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Validation(_)), "{bad:?}: {err:?}");
    }
    let err = h
        .dataverse
        .opportunities()
        .delete(RecordKey::alternate([("bad column", "x")]))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation(_)));
    let err = h
        .dataverse
        .table("accounts?$x")
        .create(&json!({}))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation(_)));
    assert!(requests(&h.server).await.is_empty());
}

#[tokio::test]
async fn create_only_sends_if_none_match_star_and_an_existing_row_is_a_conflict() {
    let h = harness().await;
    let new_id = id("aaaaaaaa-0000-4000-8000-00000000abcd");
    Mock::given(method("PATCH"))
        .and(path(format!("/api/data/v9.2/opportunities({new_id})")))
        .respond_with(ResponseTemplate::new(204))
        .up_to_n_times(1)
        .mount(&h.server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(412).set_body_json(
            json!({"error": {"code": "", "message": "A record with matching key values already exists."}}),
        ))
        .mount(&h.server)
        .await;
    let table = h.dataverse.opportunities();
    table
        .upsert(new_id, &json!({"name": "New"}))
        .create_only()
        .send()
        .await
        .unwrap();
    let err = table
        .upsert(new_id, &json!({"name": "New"}))
        .create_only()
        .send()
        .await
        .unwrap_err();
    assert!(err.is_conflict());
    assert_eq!(err.status().map(|s| s.as_u16()), Some(412));

    let all = requests(&h.server).await;
    assert_eq!(all.len(), 2, "a 412 is not retried");
    assert_eq!(header(&all[0], "if-none-match"), Some("*"));
    assert_eq!(header(&all[0], "if-match"), None);
    assert_eq!(body_json(&all[0]), json!({"name": "New"}));
}

// ---------------------------------------------------------------------------------------------
// Delete

#[tokio::test]
async fn delete_addresses_the_row_and_honours_an_etag() {
    let h = harness().await;
    Mock::given(method("DELETE"))
        .and(path(format!(
            "/api/data/v9.2/opportunities({OPPORTUNITY_ID})"
        )))
        .respond_with(ResponseTemplate::new(204))
        .mount(&h.server)
        .await;
    let table = h.dataverse.opportunities();
    table.delete(id(OPPORTUNITY_ID)).send().await.unwrap();
    table
        .delete(id(OPPORTUNITY_ID))
        .if_match("W/\"5\"")
        .send()
        .await
        .unwrap();
    let all = requests(&h.server).await;
    assert_eq!(all.len(), 2);
    assert!(
        all.iter()
            .all(|r| r.method.as_str() == "DELETE" && r.body.is_empty())
    );
    assert_eq!(header(&all[0], "if-match"), None);
    assert_eq!(header(&all[1], "if-match"), Some("W/\"5\""));
    assert_marked(&all[0]);
}

// ---------------------------------------------------------------------------------------------
// Query

#[tokio::test]
async fn query_follows_next_links_and_sends_the_page_size_on_every_page() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/data/v9.2/opportunities"))
        .and(wiremock::matchers::query_param_is_missing("$skiptoken"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture_json("page1.json", &h.server)),
        )
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/data/v9.2/opportunities"))
        .and(wiremock::matchers::query_param(
            "$skiptoken",
            "<cookie pagenumber=\"2\" />",
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture_json("page2.json", &h.server)),
        )
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/data/v9.2/opportunities"))
        .and(wiremock::matchers::query_param(
            "$skiptoken",
            "<cookie pagenumber=\"3\" />",
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture_json("page3.json", &h.server)),
        )
        .mount(&h.server)
        .await;

    let columns = CoSellFieldNames::default();
    let query = Query::new()
        .select(["name", "estimatedvalue"])
        .filter(Filter::eq("statecode", 0).and(Filter::eq(&columns.sync_with_partner_center, true)))
        .order_by("name", Order::Ascending)
        .order_by("modifiedon", Order::Descending)
        .expand("parentaccountid($select=name)")
        .page_size(2)
        .formatted_values();
    let rows: Vec<Opportunity> = h
        .dataverse
        .opportunities()
        .query(&query)
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    let names: Vec<_> = rows.iter().map(|r| r.name.clone().unwrap()).collect();
    assert_eq!(names, ["One", "Two", "Three", "Four"]);
    assert_eq!(rows[1].estimated_value, Some(Decimal::new(2025, 2)));

    let all = requests(&h.server).await;
    assert_eq!(all.len(), 3);
    for request in &all {
        assert_odata_headers(request);
        assert_eq!(
            header(request, "prefer"),
            Some(
                "odata.maxpagesize=2,odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\""
            ),
            "page {}",
            request.url
        );
        assert!(
            !query_of(request).iter().any(|(k, _)| k == "tag"),
            "reads are not tagged"
        );
    }
    assert_eq!(
        query_of(&all[0]),
        vec![
            ("$select".to_string(), "name,estimatedvalue".to_string()),
            (
                "$expand".to_string(),
                "parentaccountid($select=name)".to_string()
            ),
            (
                "$filter".to_string(),
                "statecode eq 0 and cosell_syncwithpartnercenter eq true".to_string()
            ),
            (
                "$orderby".to_string(),
                "name asc,modifiedon desc".to_string()
            ),
        ]
    );
    // Next links are followed verbatim: no option is added or re-encoded.
    assert_eq!(
        all[1].url.query(),
        Some("$select=name&$skiptoken=%3Ccookie%20pagenumber=%222%22%20/%3E")
    );
}

#[tokio::test]
async fn a_filter_value_with_odata_special_characters_cannot_change_the_query() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .mount(&h.server)
        .await;
    let hostile = "x' or name ne 'y&$top=1#%2F+;(')";
    let query = Query::new().filter(
        Filter::eq("name", hostile)
            .or(Filter::contains("description", "50%_[off]"))
            .and(Filter::is_in("cosell_referralid", ["a'b", "c"]))
            .and(Filter::eq("_parentaccountid_value", id(ACCOUNT_ID)).not())
            .and(Filter::ge("estimatedclosedate", date(2025, 1, 31)))
            .and(Filter::is_in("statuscode", [1])),
    );
    let rows: Vec<Value> = h
        .dataverse
        .opportunities()
        .query(&query)
        .collect_all()
        .await
        .unwrap();
    assert!(rows.is_empty());
    let request = only_request(&h.server).await;
    let q = query_of(&request);
    assert_eq!(q.len(), 1, "the value added no query option: {q:?}");
    assert_eq!(q[0].0, "$filter");
    assert_eq!(
        q[0].1,
        format!(
            "(name eq 'x'' or name ne ''y&$top=1#%2F+;('')' or contains(description,'50[%][_][[]off]')) \
             and Microsoft.Dynamics.CRM.In(PropertyName='cosell_referralid',PropertyValues=['a''b','c']) \
             and not (_parentaccountid_value eq {ACCOUNT_ID}) and estimatedclosedate ge 2025-01-31 \
             and Microsoft.Dynamics.CRM.In(PropertyName='statuscode',PropertyValues=['1'])"
        )
    );
}

#[tokio::test]
async fn a_bad_column_name_in_a_query_fails_before_sending() {
    let h = harness().await;
    let mut pager = h
        .dataverse
        .opportunities()
        .query::<Value>(&Query::new().filter(Filter::eq("name eq 'x' or 1", 1)));
    assert!(matches!(pager.next_page().await, Err(Error::Validation(_))));
    let mut pager = h
        .dataverse
        .opportunities()
        .query::<Value>(&Query::new().select(["name,statecode"]));
    assert!(matches!(pager.next_page().await, Err(Error::Validation(_))));
    assert!(requests(&h.server).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Batch

fn boundary_of(request: &Request) -> String {
    let content_type = header(request, "content-type").unwrap();
    let (kind, boundary) = content_type.split_once("; boundary=").unwrap();
    assert_eq!(kind, "multipart/mixed");
    boundary.to_string()
}

/// The row [`mixed_batch`] deletes, which is missing.
const MISSING_CONTACT: &str = "dddddddd-0000-4000-8000-000000000004";

/// A change set (create, then an update bound to it), a read, and a delete of a missing row:
/// the batch `batch_mixed_response.txt` answers.
fn mixed_batch() -> Batch {
    Batch::new()
        .change_set([
            BatchOperation::create("accounts", &json!({"name": "Fabrikam"})).unwrap(),
            BatchOperation::update(
                "opportunities",
                id(OPPORTUNITY_ID),
                &json!({"parentaccountid@odata.bind": "$1"}),
            )
            .unwrap(),
        ])
        .operation(
            BatchOperation::retrieve("opportunities", id(OPPORTUNITY_ID), &["name"]).unwrap(),
        )
        .operation(BatchOperation::delete("contacts", id(MISSING_CONTACT)).unwrap())
}

/// A harness whose service answers every `$batch` with the multipart fixture `name`, whose
/// parts are separated by `boundary`.
async fn batches_answered_with(name: &str, boundary: &str) -> Harness {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path("/api/data/v9.2/$batch"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            fixture(name, &h.server),
            &format!("multipart/mixed; boundary={boundary}"),
        ))
        .mount(&h.server)
        .await;
    h
}

/// A harness whose service answers [`mixed_batch`] with `batch_mixed_response.txt`, and the batch.
async fn mixed_batch_answered() -> (Harness, Batch) {
    let h = batches_answered_with("batch_mixed_response.txt", "batchresponse_7a3c").await;
    (h, mixed_batch())
}

#[tokio::test]
async fn a_batch_of_mixed_operations_with_one_failure_returns_each_outcome() {
    let (h, batch) = mixed_batch_answered().await;
    assert_eq!(batch.len(), 4);
    let outcomes = h.dataverse.execute_batch(&batch).await.unwrap();
    assert_eq!(outcomes.len(), 4, "one outcome per operation");

    match &outcomes[0] {
        BatchOutcome::Succeeded(r) => {
            assert_eq!(r.status.as_u16(), 204);
            assert_eq!(r.id(), Some(id("aaaaaaaa-0000-4000-8000-000000000001")));
            assert_eq!(r.content_id.as_deref(), Some("1"));
        }
        other => panic!("{other:?}"),
    }
    match &outcomes[1] {
        BatchOutcome::Succeeded(r) => assert_eq!(r.id(), Some(id(OPPORTUNITY_ID))),
        other => panic!("{other:?}"),
    }
    match &outcomes[2] {
        BatchOutcome::Succeeded(r) => {
            let row: Opportunity = r.json().unwrap();
            assert_eq!(row.name.as_deref(), Some("Fabrikam"));
            assert_eq!(row.etag.as_deref(), Some("W/\"77\""));
        }
        other => panic!("{other:?}"),
    }
    match &outcomes[3] {
        BatchOutcome::Failed(err) => {
            assert!(err.is_not_found());
            assert_eq!(err.code(), Some("0x80040217"));
            assert_eq!(
                err.request_id(),
                Some("5e1f00d5-aaaa-bbbb-cccc-000000000404")
            );
        }
        other => panic!("{other:?}"),
    }

    let request = only_request(&h.server).await;
    assert_odata_headers(&request);
    assert_eq!(header(&request, "prefer"), Some("odata.continue-on-error"));
    let boundary = boundary_of(&request);
    let body = String::from_utf8(request.body.clone()).unwrap();
    let base_path = "/api/data/v9.2";
    assert!(body.starts_with(&format!(
        "--{boundary}\r\nContent-Type: multipart/mixed; boundary=changeset_"
    )));
    assert!(body.ends_with(&format!("--{boundary}--\r\n")));
    for expected in [
        format!("Content-ID: 1\r\n\r\nPOST {base_path}/accounts?tag=cosell HTTP/1.1\r\n"),
        format!(
            "Content-ID: 2\r\n\r\nPATCH {base_path}/opportunities({OPPORTUNITY_ID})?tag=cosell HTTP/1.1\r\n\
             Accept: application/json\r\nIf-Match: *\r\n\
             MSCRM.SuppressCallbackRegistrationExpanderJob: true\r\n\
             Content-Type: application/json; type=entry\r\n\r\n{{\"parentaccountid@odata.bind\":\"$1\"}}\r\n"
        ),
        format!(
            "GET {base_path}/opportunities({OPPORTUNITY_ID})?%24select=name HTTP/1.1\r\nAccept: application/json\r\n\r\n"
        ),
        format!("DELETE {base_path}/contacts({MISSING_CONTACT})?tag=cosell HTTP/1.1\r\n"),
        "{\"name\":\"Fabrikam\"}".to_string(),
    ] {
        assert!(body.contains(&expected), "missing {expected:?} in\n{body}");
    }
    assert_eq!(
        body.matches("Content-Type: application/http\r\n").count(),
        4
    );
}

#[tokio::test]
async fn a_failed_change_set_rolls_back_its_other_operations() {
    let h = batches_answered_with("batch_changeset_failure.txt", "batchresponse_f00d").await;
    let batch = Batch::new().continue_on_error(false).change_set([
        BatchOperation::create("accounts", &json!({"name": "A"})).unwrap(),
        BatchOperation::update_if_match(
            "opportunities",
            id(OPPORTUNITY_ID),
            &json!({"name": "B"}),
            "W/\"1\"",
        )
        .unwrap(),
        BatchOperation::upsert(
            "opportunities",
            RecordKey::alternate([("cosell_referralid", "r")]),
            &json!({}),
        )
        .unwrap(),
    ]);
    let outcomes = h.dataverse.execute_batch(&batch).await.unwrap();
    assert_eq!(outcomes.len(), 3);
    assert!(matches!(outcomes[0], BatchOutcome::RolledBack));
    match &outcomes[1] {
        BatchOutcome::Failed(err) => assert_eq!(err.kind(), Some(ApiErrorKind::PreconditionFailed)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(outcomes[2], BatchOutcome::RolledBack));
    let request = only_request(&h.server).await;
    assert_eq!(header(&request, "prefer"), None);
    let body = String::from_utf8(request.body.clone()).unwrap();
    assert!(body.contains("If-Match: W/\"1\"\r\n"));
    assert!(
        body.contains(
            "PATCH /api/data/v9.2/opportunities(cosell_referralid='r')?tag=cosell HTTP/1.1"
        )
    );
}

#[tokio::test]
async fn a_batch_given_away_is_sent_and_answered_as_one_lent() {
    let (h, batch) = mixed_batch_answered().await;
    let summary = |outcomes: &[BatchOutcome]| -> Vec<String> {
        outcomes
            .iter()
            .map(|outcome| match outcome {
                BatchOutcome::Succeeded(r) => format!("{} {:?}", r.status, r.content_id),
                BatchOutcome::Failed(error) => format!("failed {:?}", error.code()),
                other => format!("{other:?}"),
            })
            .collect()
    };
    let lent = h.dataverse.execute_batch(&batch).await.unwrap();
    let given = h.dataverse.execute_batch_owned(batch).await.unwrap();
    assert_eq!(summary(&given), summary(&lent));
    assert_eq!(
        summary(&given),
        [
            "204 No Content Some(\"1\")",
            "204 No Content Some(\"2\")",
            "200 OK None",
            "failed Some(\"0x80040217\")"
        ]
    );
    // The same request, but for the boundaries' random names.
    let requests = h.server.received_requests().await.unwrap();
    let bodies: Vec<String> = requests
        .iter()
        .map(|request| {
            let body = String::from_utf8(request.body.clone()).unwrap();
            body.split("\r\n")
                .filter(|line| !line.contains("batch_") && !line.contains("changeset_"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0], bodies[1]);
    assert!(bodies[1].contains("DELETE"), "{}", bodies[1]);
}

#[tokio::test]
async fn a_batch_answer_cut_off_before_its_closing_boundary_is_a_decode_error() {
    let h = harness().await;
    let whole = fixture("batch_mixed_response.txt", &h.server);
    let cut = whole[..whole.len() * 2 / 3].to_owned();
    Mock::given(method("POST"))
        .and(path("/api/data/v9.2/$batch"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(cut, "multipart/mixed; boundary=batchresponse_7a3c"),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    let batch = Batch::new()
        .operation(BatchOperation::create("accounts", &json!({"name": "Fabrikam"})).unwrap());
    let err = h.dataverse.execute_batch(&batch).await.unwrap_err();
    let Error::Decode(decode) = &err else {
        panic!("expected a decode error, got {err:?}")
    };
    assert_eq!(decode.path, "$batch");
    assert!(
        decode.message.contains("closing boundary"),
        "{}",
        decode.message
    );
}

#[tokio::test]
async fn a_batch_stopped_early_reports_the_rest_as_not_executed() {
    let h = harness().await;
    let body = "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 400 Bad Request\r\n\
                Content-Type: application/json\r\n\r\n{\"error\":{\"code\":\"0x80044331\",\"message\":\"too long\"}}\r\n--b--\r\n";
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(body, "multipart/mixed; boundary=b"))
        .mount(&h.server)
        .await;
    let batch = Batch::new()
        .continue_on_error(false)
        .operation(BatchOperation::create("accounts", &json!({"name": "A"})).unwrap())
        .operation(BatchOperation::create("accounts", &json!({"name": "B"})).unwrap());
    let outcomes = h.dataverse.execute_batch(&batch).await.unwrap();
    assert_eq!(outcomes.len(), 2);
    match &outcomes[0] {
        BatchOutcome::Failed(err) => {
            assert_eq!(err.kind(), Some(ApiErrorKind::BadRequest));
            assert_eq!(err.code(), Some("0x80044331"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(outcomes[1], BatchOutcome::NotExecuted));
}

#[tokio::test]
async fn batches_are_checked_before_sending() {
    let h = harness().await;
    let empty = h.dataverse.execute_batch(&Batch::new()).await.unwrap_err();
    assert!(matches!(empty, Error::Validation(_)));
    let op = BatchOperation::delete("accounts", id(ACCOUNT_ID)).unwrap();
    let too_many = (0..1001).fold(Batch::new(), |b, _| b.operation(op.clone()));
    assert!(matches!(
        h.dataverse.execute_batch(&too_many).await,
        Err(Error::Validation(_))
    ));
    let get_in_change_set =
        Batch::new()
            .change_set([BatchOperation::retrieve("accounts", id(ACCOUNT_ID), &[]).unwrap()]);
    assert!(matches!(
        h.dataverse.execute_batch(&get_in_change_set).await,
        Err(Error::Validation(_))
    ));
    assert!(requests(&h.server).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Actions

#[tokio::test]
async fn win_and_lose_opportunity_post_the_close_activity() {
    let h = harness().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&h.server)
        .await;
    h.dataverse
        .win_opportunity(
            id(OPPORTUNITY_ID),
            OpportunityStatus::Won,
            &OpportunityClose::new("Won via Partner Center")
                .actual_revenue("125000.00".parse().unwrap())
                .actual_end(date(2025, 9, 30)),
        )
        .await
        .unwrap();
    h.dataverse
        .lose_opportunity(
            id(OPPORTUNITY_ID),
            OpportunityStatus::OutSold,
            &OpportunityClose::new("Lost").description("competitor"),
        )
        .await
        .unwrap();
    let all = requests(&h.server).await;
    assert_eq!(all[0].url.path(), "/api/data/v9.2/WinOpportunity");
    assert_marked(&all[0]);
    assert_eq!(
        body_json(&all[0]),
        json!({
            "Status": 3,
            "OpportunityClose": {
                "subject": "Won via Partner Center",
                "actualrevenue": 125000,
                "actualend": "2025-09-30",
                "opportunityid@odata.bind": format!("/opportunities({OPPORTUNITY_ID})"),
            }
        })
    );
    assert_eq!(all[1].url.path(), "/api/data/v9.2/LoseOpportunity");
    assert_eq!(
        body_json(&all[1]),
        json!({
            "Status": 5,
            "OpportunityClose": {
                "subject": "Lost",
                "description": "competitor",
                "opportunityid@odata.bind": format!("/opportunities({OPPORTUNITY_ID})"),
            }
        })
    );
}

#[tokio::test]
async fn a_generic_action_returns_its_result() {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path("/api/data/v9.2/cosell_Score"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"Score": 42})))
        .mount(&h.server)
        .await;
    let result: Option<Value> = h
        .dataverse
        .call_action("cosell_Score", &json!({"Input": "x"}))
        .await
        .unwrap();
    assert_eq!(result, Some(json!({"Score": 42})));
    let request = only_request(&h.server).await;
    assert_eq!(body_json(&request), json!({"Input": "x"}));
    assert!(matches!(
        h.dataverse.call_action::<_, Value>("a/b", &json!({})).await,
        Err(Error::Validation(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Currency and metadata

#[tokio::test]
async fn currency_lookup_is_cached_by_iso_code() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/data/v9.2/transactioncurrencies"))
        .and(wiremock::matchers::query_param(
            "$filter",
            "isocurrencycode eq 'USD'",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [{"transactioncurrencyid": CURRENCY_ID, "isocurrencycode": "USD"}]
        })))
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/data/v9.2/transactioncurrencies"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .mount(&h.server)
        .await;
    assert_eq!(
        h.dataverse.currency_id("USD").await.unwrap(),
        Some(id(CURRENCY_ID))
    );
    assert_eq!(
        h.dataverse.currency_id("usd").await.unwrap(),
        Some(id(CURRENCY_ID))
    );
    assert_eq!(
        h.dataverse.clone().currency_id("USD").await.unwrap(),
        Some(id(CURRENCY_ID))
    );
    assert_eq!(h.dataverse.currency_id("XTS").await.unwrap(), None);
    assert!(matches!(
        h.dataverse.currency_id("US'D").await,
        Err(Error::Validation(_))
    ));
    let all = requests(&h.server).await;
    assert_eq!(all.len(), 2, "USD was fetched once");
    assert!(query_of(&all[0]).contains(&(
        "$select".into(),
        "transactioncurrencyid,isocurrencycode".into()
    )));
    assert!(query_of(&all[0]).contains(&("$top".into(), "1".into())));
}

#[tokio::test]
async fn table_metadata_reads_columns_lengths_and_choice_values() {
    let h = harness().await;
    let entity = "/api/data/v9.2/EntityDefinitions(LogicalName='opportunity')";
    Mock::given(method("GET"))
        .and(path(entity))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fixture_json("metadata_entity.json", &h.server)),
        )
        .mount(&h.server)
        .await;
    for (cast, file) in [
        ("PicklistAttributeMetadata", "metadata_empty.json"),
        (
            "MultiSelectPicklistAttributeMetadata",
            "metadata_multiselect.json",
        ),
        ("StateAttributeMetadata", "metadata_state.json"),
        ("StatusAttributeMetadata", "metadata_empty.json"),
    ] {
        Mock::given(method("GET"))
            .and(path(format!(
                "{entity}/Attributes/Microsoft.Dynamics.CRM.{cast}"
            )))
            .respond_with(ResponseTemplate::new(200).set_body_json(fixture_json(file, &h.server)))
            .mount(&h.server)
            .await;
    }
    let table = h.dataverse.table_metadata("opportunity").await.unwrap();
    assert_eq!(table.entity_set_name.as_deref(), Some("opportunities"));
    assert_eq!(table.optimistic_concurrency, Some(true));
    let name = table.column("name").unwrap();
    assert_eq!(name.max_length, Some(300));
    assert_eq!(name.attribute_type.as_deref(), Some("String"));
    assert_eq!(name.required_level.as_deref(), Some("ApplicationRequired"));
    assert_eq!(
        table.column("cosell_referralid").unwrap().max_length,
        Some(100)
    );
    let help = table.column("cosell_howcanmicrosofthelp").unwrap();
    assert_eq!(
        help.attribute_type_name.as_deref(),
        Some("MultiSelectPicklistType")
    );
    assert!(help.has_option(9) && !help.has_option(2));
    let state = table.column("statecode").unwrap();
    assert_eq!(state.options.len(), 3);
    assert_eq!(state.options[1].label.as_deref(), Some("Won"));
    assert_eq!(state.options[2].label, None);
    assert_eq!(state.valid_for_create, Some(false));

    table
        .require_columns(["name", "cosell_referralid"])
        .unwrap();
    let missing = table
        .require_columns(CoSellFieldNames::default().names())
        .unwrap_err();
    assert!(
        missing.to_string().contains("cosell_syncwithpartnercenter"),
        "{missing}"
    );

    let all = requests(&h.server).await;
    assert_eq!(all.len(), 5);
    assert!(query_of(&all[0]).contains(&("$expand".into(), "Attributes".into())));
}

// ---------------------------------------------------------------------------------------------
// Errors through the pipeline

#[tokio::test]
async fn a_429_waits_for_retry_after_then_succeeds() {
    let h = harness_with(RetryPolicy::default().max_attempts(3).jitter_seed(7), |b| b).await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "7")
                .set_body_json(json!({"error": {"code": "0x80072322", "message": "Number of requests exceeded the limit of 6000 over time window of 300 seconds."}})),
        )
        .up_to_n_times(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"opportunityid": OPPORTUNITY_ID})),
        )
        .mount(&h.server)
        .await;
    let row: Opportunity = h
        .dataverse
        .opportunities()
        .retrieve(id(OPPORTUNITY_ID))
        .send()
        .await
        .unwrap();
    assert_eq!(row.id, Some(id(OPPORTUNITY_ID)));
    assert_eq!(h.sleeper.sleeps(), vec![Duration::from_secs(7)]);
    assert_eq!(requests(&h.server).await.len(), 2);
}

#[tokio::test]
async fn a_429_that_persists_is_a_rate_limit_error_with_its_retry_after() {
    let h = harness_with(RetryPolicy::default().max_attempts(2).jitter_seed(7), |b| b).await;
    Mock::given(method("PATCH"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "3")
                .set_body_json(json!({"error": {"code": "0x80072326", "message": "Number of concurrent requests exceeded the limit of 52."}})),
        )
        .mount(&h.server)
        .await;
    let err = h
        .dataverse
        .opportunities()
        .update(id(OPPORTUNITY_ID), &json!({"name": "x"}))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_rate_limited());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
    assert_eq!(err.code(), Some("0x80072326"));
    assert!(matches!(err, Error::RetriesExhausted { attempts: 2, .. }));
    assert_eq!(h.sleeper.sleeps(), vec![Duration::from_secs(3)]);
}

#[tokio::test]
async fn a_5xx_with_a_non_json_body_keeps_the_excerpt() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(502)
                .set_body_raw("<html><body>Bad Gateway</body></html>", "text/html"),
        )
        .mount(&h.server)
        .await;
    let err = h
        .dataverse
        .opportunities()
        .retrieve(id(OPPORTUNITY_ID))
        .send::<Opportunity>()
        .await
        .unwrap_err();
    let api = err.api().expect("an API error");
    assert_eq!(api.kind, ApiErrorKind::Server);
    assert_eq!(api.status.as_u16(), 502);
    assert_eq!(api.code, None);
    assert!(api.body_excerpt.contains("Bad Gateway"));
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_success_with_a_broken_body_is_a_decode_error_naming_the_path() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"opportunityid": "c0ffee00-3333-4a5e-8f00-0123456789ab", "estimatedclosedate": "30/09/2025"}"#,
            "application/json",
        ))
        .mount(&h.server)
        .await;
    let err = h
        .dataverse
        .opportunities()
        .retrieve(id(OPPORTUNITY_ID))
        .send::<Opportunity>()
        .await
        .unwrap_err();
    match err {
        Error::Decode(d) => assert_eq!(d.status.map(|s| s.as_u16()), Some(200)),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding arbitrary input never panics

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = cosell::error::decode_json::<Opportunity>(&bytes);
            let _ = read_batch_response("multipart/mixed; boundary=b", &bytes);
            let _ = cosell::dataverse::parse_choices(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn reading_multipart_like_text(
            parts in proptest::collection::vec("(--b|--c|\r\n|\n|HTTP/1.1 [0-9]{1,4} X|Content-Type: multipart/mixed; boundary=c|Content-ID: [0-9]{1,3}|[a-z{}:\" ]{0,8})", 0..40)
        ) {
            let text = parts.concat();
            let _ = read_batch_response("multipart/mixed; boundary=b", text.as_bytes());
        }

        #[test]
        fn key_segments_refuse_or_round_trip(value in any::<String>()) {
            let key = RecordKey::alternate([("cosell_referralid", value.as_str())]);
            if let Ok(segment) = key.segment("opportunities") {
                let literal = segment
                    .strip_prefix("opportunities(cosell_referralid='")
                    .and_then(|r| r.strip_suffix("')"))
                    .unwrap();
                prop_assert_eq!(literal.replace("''", "'"), value.clone());
                prop_assert!(!literal.contains(['/', '?', '#', '%', '&']));
            }
        }

        #[test]
        fn string_literals_round_trip(value in any::<String>()) {
            let rendered = Filter::eq("name", value.as_str()).to_string();
            let literal = rendered.strip_prefix("name eq '").and_then(|r| r.strip_suffix('\'')).unwrap();
            // Inside the literal every quote is doubled, so none can end it early.
            prop_assert_eq!(literal.replace("''", "'"), value.clone());
            prop_assert!(!literal.replace("''", "").contains('\''));
        }
    }
}
