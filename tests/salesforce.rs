//! The Salesforce client against wiremock: every operation and token flow with its exact
//! request, the 401 re-authentication, SOQL escaping, paging, collections and error mapping.

use std::sync::Arc;
use std::time::Duration;

use cosell::Error;
use cosell::auth::{
    AccessToken, CachedTokenProvider, CustomCredentials, StaticToken, TokenProvider,
};
use cosell::error::ApiErrorKind;
use cosell::http::{ManualClock, RecordingSleeper, Response, RetryPolicy};
use cosell::salesforce::soql::{LikePattern, Soql, SoqlValue, field, like_literal, string_literal};
use cosell::salesforce::{
    Atomicity, ClientCredentialsFlow, CoSellFieldNames, CoSellFields, FieldType, JwtBearerFlow,
    MultiSelect, Opportunity, OpportunityPatch, QueryOptions, RefreshTokenFlow, SObjectDescribe,
    Salesforce, SalesforceLogin, SaveResult, UpsertOutcome, is_multiple_matches, query_page,
};
use cosell::{FieldUpdate, Order, salesforce};
use futures::TryStreamExt;
use proptest::prelude::*;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, body_string, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const API: &str = "/services/data/v62.0";
const NOW: &str = "2026-03-01T12:00:00Z";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/salesforce/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(NOW.parse().unwrap()))
}

struct Harness {
    server: MockServer,
    sleeper: Arc<RecordingSleeper>,
    sf: Salesforce,
}

/// A client whose static token names the mock server as its `instance_url`.
async fn harness() -> Harness {
    let server = MockServer::start().await;
    let token = AccessToken::bearer("session-token").with_extra("instance_url", server.uri());
    harness_with(server, Arc::new(StaticToken::from_token(token))).await
}

async fn harness_with(server: MockServer, provider: Arc<dyn TokenProvider>) -> Harness {
    let clock = clock();
    let sleeper = Arc::new(RecordingSleeper::with_clock(clock.clone()));
    let sf = Salesforce::builder(CustomCredentials::salesforce(provider))
        .origin_client_id("cosell-test")
        .retry_policy(RetryPolicy::default().max_attempts(3).jitter_seed(7))
        .clock(clock)
        .sleeper(sleeper.clone())
        .build()
        .unwrap();
    Harness {
        server,
        sleeper,
        sf,
    }
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap()
}

fn header_of<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

fn body_of(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

fn sf_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!([{ "message": message, "errorCode": code, "fields": [] }]))
}

// ---------------------------------------------------------------------------------------------
// sObject rows

#[tokio::test]
async fn create_posts_the_record_with_origin_marking_and_returns_the_id() {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path(format!("{API}/sobjects/Opportunity")))
        .and(header("authorization", "Bearer session-token"))
        .and(header("content-type", "application/json"))
        .and(header("sforce-call-options", "client=cosell-test"))
        .and(body_json(json!({
            "Name": "Fabrikam renewal 2025",
            "StageName": "Prospecting",
            "CloseDate": "2025-09-30",
            "Amount": 125000,
            "Referral_Id__c": "r-42",
        })))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": "006Dn00000A1b2CIAR", "success": true, "errors": []})),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    let mut opp = Opportunity::new(
        "Fabrikam renewal 2025",
        "Prospecting",
        "2025-09-30".parse().unwrap(),
    );
    opp.amount = Some("125000".parse().unwrap());
    opp.extra.insert("Referral_Id__c".into(), json!("r-42"));
    let id = h.sf.opportunities().create(&opp).await.unwrap();
    assert_eq!(id, "006Dn00000A1b2CIAR");
}

#[tokio::test]
async fn create_without_an_id_in_the_answer_is_a_decode_error() {
    let h = harness().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"success": true})))
        .mount(&h.server)
        .await;
    let err =
        h.sf.opportunities()
            .create(&json!({"Name": "x"}))
            .await
            .unwrap_err();
    assert!(
        matches!(&err, Error::Decode(d) if d.path == ".id"),
        "{err:?}"
    );
}

#[tokio::test]
async fn retrieve_sends_the_field_list_and_decodes_the_typed_opportunity() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "{API}/sobjects/Opportunity/006Dn00000A1b2CIAR"
        )))
        .and(query_param("fields", "Name,StageName,Referral_Id__c"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(fixture("opportunity.json"))
                .insert_header("Sforce-Limit-Info", "api-usage=18/15000"),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    assert!(h.sf.last_limit_info().is_none());
    let opp: Opportunity =
        h.sf.opportunities()
            .retrieve("006Dn00000A1b2CIAR")
            .select(["Name", "StageName", "Referral_Id__c"])
            .send()
            .await
            .unwrap();
    // Reads carry no origin marking.
    assert_eq!(
        header_of(&requests(&h.server).await[0], "sforce-call-options"),
        None
    );

    assert_eq!(opp.id.as_deref(), Some("006Dn00000A1b2CIAR"));
    let attributes = opp.attributes.as_ref().unwrap();
    assert_eq!(attributes.sobject_type.as_deref(), Some("Opportunity"));
    assert_eq!(opp.close_date.unwrap().to_string(), "2025-09-30");
    assert_eq!(opp.amount.unwrap().to_string(), "125000.55");
    assert_eq!(opp.probability.unwrap().to_string(), "10");
    assert_eq!(opp.description, None);
    assert_eq!(opp.is_won, Some(false));
    assert_eq!(opp.forecast_category_name.as_deref(), Some("Pipeline"));
    assert_eq!(
        opp.last_modified_date.unwrap().to_string(),
        "2025-07-31T17:13:47Z"
    );
    assert_eq!(
        opp.system_modstamp.unwrap().to_string(),
        "2025-07-31T17:13:48Z"
    );
    // Everything not named stays, relationship objects included.
    assert_eq!(opp.extra["Account"]["Name"], "Fabrikam");
    assert_eq!(opp.extra["CreatedDate"], "2025-07-01T08:00:00.000+0000");

    let co_sell = opp.cosell(&CoSellFieldNames::default()).unwrap();
    assert_eq!(
        co_sell.referral_id.as_deref(),
        Some("9f8e7d6c-0000-4000-8000-000000000001")
    );
    assert_eq!(co_sell.referral_link, None);
    assert_eq!(co_sell.sync_with_partner_center, Some(true));
    assert_eq!(co_sell.share_with_microsoft_sellers, Some(false));
    assert_eq!(
        co_sell.help_requested.unwrap().values(),
        ["Technical", "Deal_Acceleration"]
    );
    assert_eq!(co_sell.solutions.unwrap(), ["sol-1", "sol-2"]);
    assert_eq!(co_sell.microsoft_crm_id.as_deref(), Some("7-ABCDEF"));

    let limits = h.sf.last_limit_info().unwrap();
    assert_eq!(limits.api_usage.unwrap().remaining(), 14982);
}

#[tokio::test]
async fn co_sell_fields_follow_the_configured_names_and_types() {
    let fields = CoSellFieldNames {
        referral_id: Some("MSFT_Ref__c".into()),
        audit_trail: None,
        ..CoSellFieldNames::default()
    };
    let mut opp = Opportunity::default();
    let values = CoSellFields {
        referral_id: Some("r-1".into()),
        help_requested: Some(MultiSelect::new(["A", "B"])),
        solutions: Some(vec!["s1".into(), "s2".into()]),
        sync_with_partner_center: Some(true),
        ..CoSellFields::default()
    };
    opp.set_cosell(&fields, &values).unwrap();
    let body = serde_json::to_value(&opp).unwrap();
    assert_eq!(
        body,
        json!({
            "MSFT_Ref__c": "r-1",
            "Microsoft_Help_Requested__c": "A;B",
            "Microsoft_Solutions__c": "s1\ns2",
            "Sync_With_Partner_Center__c": true,
        })
    );
    assert_eq!(
        opp.cosell(&fields).unwrap().referral_id.as_deref(),
        Some("r-1")
    );

    let audit = CoSellFields {
        audit_trail: Some("x".into()),
        ..CoSellFields::default()
    };
    assert!(matches!(
        opp.set_cosell(&fields, &audit),
        Err(Error::Validation(_))
    ));

    opp.extra
        .insert("Sync_With_Partner_Center__c".into(), json!("yes"));
    let err = opp.cosell(&fields).unwrap_err();
    assert!(matches!(&err, Error::Decode(d) if d.path == ".Sync_With_Partner_Center__c"));
    assert!(
        CoSellFieldNames {
            solutions: Some("bad name".into()),
            ..CoSellFieldNames::default()
        }
        .validate()
        .is_err()
    );
}

#[tokio::test]
async fn retrieve_by_external_id_encodes_the_value_as_one_segment() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"Id": "006A"})))
        .mount(&h.server)
        .await;
    let row: Value =
        h.sf.opportunities()
            .retrieve_by_external_id("Referral_Id__c", "a/b c?d")
            .send()
            .await
            .unwrap();
    assert_eq!(row["Id"], "006A");
    let sent = &requests(&h.server).await[0];
    assert_eq!(
        sent.url.path(),
        format!("{API}/sobjects/Opportunity/Referral_Id__c/a%2Fb%20c%3Fd")
    );
    assert_eq!(sent.url.query(), None);
}

#[tokio::test]
async fn update_patches_only_the_given_fields() {
    let h = harness().await;
    Mock::given(method("PATCH"))
        .and(path(format!("{API}/sobjects/Opportunity/006A")))
        .and(header("sforce-call-options", "client=cosell-test"))
        .and(body_json(json!({
            "StageName": "Closed Won",
            "Amount": 99.5,
            "Description": null,
            "Referral_Id__c": "r-9",
        })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&h.server)
        .await;
    let patch = OpportunityPatch {
        stage_name: FieldUpdate::Set("Closed Won".into()),
        amount: FieldUpdate::Set("99.5".parse().unwrap()),
        description: FieldUpdate::Clear,
        ..OpportunityPatch::new()
    }
    .cosell(
        &CoSellFieldNames::default(),
        &CoSellFields {
            referral_id: Some("r-9".into()),
            ..CoSellFields::default()
        },
    )
    .unwrap();
    h.sf.opportunities()
        .update("006A", &patch)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn delete_sends_delete_and_takes_204() {
    let h = harness().await;
    Mock::given(method("DELETE"))
        .and(path(format!("{API}/sobjects/Opportunity/006A")))
        .and(header("sforce-call-options", "client=cosell-test"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&h.server)
        .await;
    h.sf.opportunities().delete("006A").await.unwrap();
}

#[tokio::test]
async fn deleting_a_deleted_record_is_not_found() {
    let h = harness().await;
    Mock::given(method("DELETE"))
        .respond_with(sf_error(404, "ENTITY_IS_DELETED", "entity is deleted"))
        .mount(&h.server)
        .await;
    let err = h.sf.opportunities().delete("006A").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.code(), Some("ENTITY_IS_DELETED"));
    // Also when Salesforce answers it with 400.
    h.server.reset().await;
    Mock::given(method("PATCH"))
        .respond_with(sf_error(400, "ENTITY_IS_DELETED", "entity is deleted"))
        .mount(&h.server)
        .await;
    let err =
        h.sf.opportunities()
            .update("006A", &json!({}))
            .send()
            .await
            .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::NotFound));
}

#[tokio::test]
async fn upsert_reports_created_and_updated_in_every_shape() {
    let h = harness().await;
    let at = format!("{API}/sobjects/Opportunity/Referral_Id__c/r-1");
    Mock::given(method("PATCH"))
        .and(path(&at))
        .and(header("sforce-call-options", "client=cosell-test"))
        .and(body_json(json!({"Name": "A"})))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(
                json!({"id": "006NEW", "success": true, "errors": [], "created": true}),
            ),
        )
        .up_to_n_times(1)
        .mount(&h.server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(&at))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": "006OLD", "success": true, "errors": [], "created": false}),
        ))
        .up_to_n_times(1)
        .mount(&h.server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(&at))
        .respond_with(ResponseTemplate::new(204))
        .mount(&h.server)
        .await;
    let record = json!({"Name": "A"});
    let first =
        h.sf.opportunities()
            .upsert("Referral_Id__c", "r-1", &record)
            .await
            .unwrap();
    assert_eq!(
        first,
        UpsertOutcome::Created {
            id: "006NEW".into()
        }
    );
    assert!(first.created());
    let second =
        h.sf.opportunities()
            .upsert("Referral_Id__c", "r-1", &record)
            .await
            .unwrap();
    assert_eq!(
        second,
        UpsertOutcome::Updated {
            id: Some("006OLD".into())
        }
    );
    let third =
        h.sf.opportunities()
            .upsert("Referral_Id__c", "r-1", &record)
            .await
            .unwrap();
    assert_eq!(third, UpsertOutcome::Updated { id: None });
    assert_eq!(third.id(), None);
}

#[tokio::test]
async fn upsert_with_several_matches_is_a_hard_typed_error() {
    let h = harness().await;
    Mock::given(method("PATCH"))
        .respond_with(
            ResponseTemplate::new(300).set_body_string(fixture("upsert_multiple_choices.json")),
        )
        .mount(&h.server)
        .await;
    let err =
        h.sf.opportunities()
            .upsert("Referral_Id__c", "dup", &json!({"Name": "A"}))
            .await
            .unwrap_err();
    assert!(is_multiple_matches(&err), "{err:?}");
    assert_eq!(err.code(), Some(salesforce::MULTIPLE_CHOICES));
    assert_eq!(err.kind(), Some(ApiErrorKind::Conflict));
    assert_eq!(err.status().map(|s| s.as_u16()), Some(300));
    assert!(!err.is_retryable());
    let api = err.api().unwrap();
    assert_eq!(
        api.target.as_deref(),
        Some(
            "/services/data/v62.0/sobjects/Opportunity/006Dn00000A1b2CIAR,\
             /services/data/v62.0/sobjects/Opportunity/006Dn00000A1b2DIAR"
        )
    );
    // Sent once: a 300 is never retried.
    assert_eq!(requests(&h.server).await.len(), 1);
}

#[tokio::test]
async fn upsert_to_a_wrong_external_id_field_is_not_found() {
    let h = harness().await;
    Mock::given(method("PATCH"))
        .respond_with(sf_error(
            404,
            "NOT_FOUND",
            "The requested resource does not exist",
        ))
        .mount(&h.server)
        .await;
    let err =
        h.sf.opportunities()
            .upsert("No_Such__c", "x", &json!({}))
            .await
            .unwrap_err();
    assert!(err.is_not_found());
    assert!(!is_multiple_matches(&err));
}

#[tokio::test]
async fn conditional_update_checks_last_modified_then_sends_if_unmodified_since() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/sobjects/Opportunity/006A")))
        .and(query_param("fields", "LastModifiedDate"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "attributes": {"type": "Opportunity"},
            "LastModifiedDate": "2025-07-31T17:13:47.000+0000"
        })))
        .mount(&h.server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{API}/sobjects/Opportunity/006A")))
        .and(header("sforce-call-options", "client=cosell-test"))
        .and(body_json(json!({"StageName": "Closed Won"})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&h.server)
        .await;
    let seen = "2025-07-31T17:13:47Z".parse().unwrap();
    h.sf.opportunities()
        .update("006A", &json!({"StageName": "Closed Won"}))
        .if_unmodified_since(seen)
        .send()
        .await
        .unwrap();
    // Checked here, not by a matcher: wiremock splits header values at commas.
    let sent = requests(&h.server).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(
        header_of(&sent[1], "if-unmodified-since"),
        Some("Thu, 31 Jul 2025 17:13:47 GMT")
    );
}

#[tokio::test]
async fn conditional_update_refuses_a_newer_record_without_writing() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"LastModifiedDate": "2025-08-01T09:00:00.000+0000"})),
        )
        .mount(&h.server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(204))
        .expect(0)
        .mount(&h.server)
        .await;
    let seen = "2025-07-31T17:13:47Z".parse().unwrap();
    let err =
        h.sf.opportunities()
            .update("006A", &json!({}))
            .if_unmodified_since(seen)
            .send()
            .await
            .unwrap_err();
    assert!(err.is_conflict());
    assert_eq!(err.code(), Some(salesforce::RECORD_MODIFIED));
    assert_eq!(err.kind(), Some(ApiErrorKind::PreconditionFailed));
}

#[tokio::test]
async fn conditional_update_maps_the_servers_412() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"LastModifiedDate": "2025-07-31T17:13:47.000+0000"})),
        )
        .mount(&h.server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(sf_error(412, "PRECONDITION_FAILED", "modified since"))
        .mount(&h.server)
        .await;
    let seen = "2025-07-31T17:13:47Z".parse().unwrap();
    let err =
        h.sf.opportunities()
            .update("006A", &json!({}))
            .if_unmodified_since(seen)
            .send()
            .await
            .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::PreconditionFailed));
    assert!(err.is_conflict());
}

#[tokio::test]
async fn names_that_are_not_identifiers_are_refused_before_sending() {
    let h = harness().await;
    let err =
        h.sf.sobject("Opportunity/../User")
            .create(&json!({}))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::Validation(_)));
    let err =
        h.sf.opportunities()
            .retrieve("006A")
            .select(["Name,Id"])
            .send::<Value>()
            .await
            .unwrap_err();
    assert!(matches!(err, Error::Validation(_)));
    let err = h.sf.opportunities().delete("").await.unwrap_err();
    assert!(matches!(err, Error::Validation(_)));
    assert!(requests(&h.server).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Errors

#[tokio::test]
async fn request_limit_exceeded_is_a_rate_limit_retried_with_back_off() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(sf_error(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "ConcurrentPerOrgLongTxn Limit exceeded.",
        ))
        .mount(&h.server)
        .await;
    let err =
        h.sf.opportunities()
            .retrieve("006A")
            .send::<Value>()
            .await
            .unwrap_err();
    assert!(err.is_rate_limited(), "{err:?}");
    assert!(err.is_retryable());
    assert!(!err.is_auth());
    assert_eq!(err.kind(), Some(ApiErrorKind::RateLimited));
    assert!(matches!(err, Error::RetriesExhausted { attempts: 3, .. }));
    assert_eq!(requests(&h.server).await.len(), 3);
    assert_eq!(h.sleeper.sleeps().len(), 2);
}

#[tokio::test]
async fn an_exhausted_daily_allocation_is_not_retried() {
    let h = harness().await;
    Mock::given(method("POST"))
        .respond_with(sf_error(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        ))
        .mount(&h.server)
        .await;
    let err = h.sf.opportunities().create(&json!({})).await.unwrap_err();
    assert!(err.is_rate_limited());
    assert_eq!(requests(&h.server).await.len(), 1);
    assert!(h.sleeper.sleeps().is_empty());
}

#[tokio::test]
async fn a_plain_403_stays_a_permission_error() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(sf_error(403, "INSUFFICIENT_ACCESS", "no"))
        .mount(&h.server)
        .await;
    let err = h.sf.opportunities().describe().await.unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::Forbidden));
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn duplicate_value_is_a_conflict_that_keeps_the_fields() {
    let h = harness().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!([{
            "message": "duplicate value found: Referral_Id__c duplicates value on record with id: 006A",
            "errorCode": "DUPLICATE_VALUE",
            "fields": ["Referral_Id__c"]
        }])))
        .mount(&h.server)
        .await;
    let err = h.sf.opportunities().create(&json!({})).await.unwrap_err();
    assert!(err.is_conflict());
    assert_eq!(err.code(), Some("DUPLICATE_VALUE"));
    assert_eq!(err.api().unwrap().target.as_deref(), Some("Referral_Id__c"));
    assert_eq!(requests(&h.server).await.len(), 1);
}

#[tokio::test]
async fn every_error_of_the_array_is_kept() {
    let h = harness().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!([
            {"message": "Required fields are missing: [CloseDate]", "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["CloseDate"]},
            {"message": "bad value for restricted picklist field: Nope", "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "fields": ["StageName"]}
        ])))
        .mount(&h.server)
        .await;
    let err = h.sf.opportunities().create(&json!({})).await.unwrap_err();
    let api = err.api().unwrap();
    assert_eq!(api.kind, ApiErrorKind::BadRequest);
    assert_eq!(api.code.as_deref(), Some("REQUIRED_FIELD_MISSING"));
    assert_eq!(api.target.as_deref(), Some("CloseDate"));
    assert_eq!(api.inner_codes, ["INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"]);
}

#[tokio::test]
async fn malformed_json_is_a_decode_error_that_names_the_path() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/sobjects/Opportunity/006A")))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"Id": "006A", "CloseDate": "#))
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/sobjects/Opportunity/006B")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"Id": "006B", "Amount": "lots"})),
        )
        .mount(&h.server)
        .await;
    let err =
        h.sf.opportunities()
            .retrieve("006A")
            .send::<Opportunity>()
            .await
            .unwrap_err();
    assert!(matches!(&err, Error::Decode(d) if d.status.map(|s| s.as_u16()) == Some(200)));
    let err =
        h.sf.opportunities()
            .retrieve("006B")
            .send::<Opportunity>()
            .await
            .unwrap_err();
    assert!(
        matches!(&err, Error::Decode(d) if d.path.contains("Amount")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_html_error_page_keeps_its_excerpt() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_string("<html>Not here</html>"))
        .mount(&h.server)
        .await;
    let err = h.sf.opportunities().describe().await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.code(), None);
    assert!(err.api().unwrap().body_excerpt.contains("Not here"));
}

// ---------------------------------------------------------------------------------------------
// Tokens: the flows and the 401 replay

fn token_body(server: &MockServer, access_token: &str) -> Value {
    let mut body = fixture_json("token_response.json");
    body["access_token"] = json!(access_token);
    body["instance_url"] = json!(server.uri());
    body
}

fn login(server: &MockServer) -> SalesforceLogin {
    SalesforceLogin::new(&server.uri())
        .unwrap()
        .clock(clock())
        .sleeper(Arc::new(RecordingSleeper::new()))
        .retry_policy(RetryPolicy::default().max_attempts(1))
}

#[tokio::test]
async fn client_credentials_flow_posts_the_form_and_uses_the_instance_url() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string(
            "grant_type=client_credentials&client_id=consumer+key&client_secret=s%26cret",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(&server, "tok-1")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/sobjects/Opportunity/006A")))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"Id": "006A"})))
        .expect(2)
        .mount(&server)
        .await;
    let flow =
        ClientCredentialsFlow::new(login(&server), "consumer key", "s&cret".to_string().into())
            .unwrap();
    let token = flow.token().await.unwrap();
    // No expires_in: the token has no expiry; the cache keeps it until a 401.
    assert_eq!(token.expires_at(), None);
    assert_eq!(token.instance_url(), Some(server.uri().as_str()));
    assert_eq!(
        salesforce::issued_at(&token).unwrap().to_string(),
        "2024-02-16T04:45:28.442Z"
    );
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(&server, "tok-1")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/sobjects/Opportunity/006A")))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"Id": "006A"})))
        .expect(2)
        .mount(&server)
        .await;
    let h = harness_with(server, Arc::new(CachedTokenProvider::new(flow))).await;
    for _ in 0..2 {
        let row: Value = h.sf.opportunities().retrieve("006A").send().await.unwrap();
        assert_eq!(row["Id"], "006A");
    }
}

#[tokio::test]
async fn jwt_bearer_flow_signs_an_rs256_assertion_that_verifies() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(&server, "tok-jwt")))
        .expect(1)
        .mount(&server)
        .await;
    let flow = JwtBearerFlow::builder(
        login(&server),
        "3MVG9consumer",
        "integration@contoso.com",
        fixture("test_jwt_key.pem").into(),
    )
    .build()
    .unwrap();
    let token = flow.token().await.unwrap();
    assert_eq!(token.instance_url(), Some(server.uri().as_str()));

    let sent = &requests(&server).await[0];
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&sent.body)
        .into_owned()
        .collect();
    assert_eq!(form.len(), 2);
    assert_eq!(
        form[0],
        (
            "grant_type".into(),
            "urn:ietf:params:oauth:grant-type:jwt-bearer".into()
        )
    );
    assert_eq!(form[1].0, "assertion");

    let key = jsonwebtoken::DecodingKey::from_rsa_pem(fixture("test_jwt_key.pub.pem").as_bytes())
        .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["https://login.salesforce.com"]);
    validation.set_issuer(&["3MVG9consumer"]);
    // The injected clock is not the system's: check exp by hand.
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    let decoded = jsonwebtoken::decode::<Value>(&form[1].1, &key, &validation).unwrap();
    assert_eq!(decoded.header.alg, jsonwebtoken::Algorithm::RS256);
    let now: jiff::Timestamp = NOW.parse().unwrap();
    assert_eq!(decoded.claims["sub"], "integration@contoso.com");
    assert_eq!(decoded.claims["exp"], now.as_second() + 180);
}

#[tokio::test]
async fn jwt_bearer_flow_targets_the_sandbox_audience_and_refuses_a_bad_key() {
    let err = JwtBearerFlow::builder(
        SalesforceLogin::sandbox(),
        "k",
        "u",
        "not a key".to_string().into(),
    )
    .build()
    .unwrap_err();
    assert!(matches!(err, Error::Config(_)));
    let builder = JwtBearerFlow::builder(
        SalesforceLogin::sandbox(),
        "k",
        "u",
        fixture("test_jwt_key.pem").into(),
    );
    assert!(!format!("{builder:?}").contains("PRIVATE"));
    let flow = builder.build().unwrap();
    assert!(format!("{flow:?}").contains("https://test.salesforce.com"));
    assert!(!format!("{flow:?}").contains("PRIVATE"));
}

#[tokio::test]
async fn refresh_token_flow_posts_the_form_and_passes_on_a_rotated_token() {
    let server = MockServer::start().await;
    let mut body = token_body(&server, "tok-r");
    body["refresh_token"] = json!("rt-2");
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .and(body_string(
            "grant_type=refresh_token&refresh_token=rt-1&client_id=cid&client_secret=sec",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;
    let rotated = Arc::new(std::sync::Mutex::new(None::<String>));
    let sink = rotated.clone();
    let flow = RefreshTokenFlow::builder(login(&server), "cid", "rt-1".to_string().into())
        .client_secret("sec".to_string().into())
        .on_rotate(Arc::new(move |t| {
            use secrecy::ExposeSecret;
            *sink.lock().unwrap() = Some(t.expose_secret().to_owned());
        }))
        .build()
        .unwrap();
    let token = flow.token().await.unwrap();
    assert_eq!(token.token_type(), "Bearer");
    assert_eq!(rotated.lock().unwrap().as_deref(), Some("rt-2"));
}

#[tokio::test]
async fn token_endpoint_errors_are_auth_errors_with_the_oauth_code() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "user hasn't approved this consumer"
        })))
        .mount(&server)
        .await;
    let flow = JwtBearerFlow::builder(login(&server), "k", "u", fixture("test_jwt_key.pem").into())
        .build()
        .unwrap();
    let err = flow.token().await.unwrap_err();
    assert!(err.is_auth());
    assert_eq!(err.code(), Some("invalid_grant"));
}

#[tokio::test]
async fn an_instance_url_that_is_not_https_is_refused() {
    let server = MockServer::start().await;
    let mut body = token_body(&server, "tok");
    body["instance_url"] = json!("http://evil.example.com");
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    let flow = ClientCredentialsFlow::new(login(&server), "k", "s".to_string().into()).unwrap();
    let err = flow.token().await.unwrap_err();
    assert!(matches!(err, Error::Auth(_)), "{err:?}");
}

#[tokio::test]
async fn a_session_lifetime_gives_tokens_an_expiry_from_issued_at() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(&server, "tok")))
        .mount(&server)
        .await;
    let flow = ClientCredentialsFlow::new(
        login(&server).session_lifetime(Duration::from_secs(7200)),
        "k",
        "s".to_string().into(),
    )
    .unwrap();
    let token = flow.token().await.unwrap();
    assert_eq!(
        token.expires_at().unwrap().to_string(),
        "2024-02-16T06:45:28.442Z"
    );
}

/// Token endpoint hands out `tok-1`, `tok-2`, … in turn.
async fn numbered_tokens(server: &MockServer) {
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let uri = server.uri();
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .respond_with(move |_: &Request| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let mut body = fixture_json("token_response.json");
            body["access_token"] = json!(format!("tok-{n}"));
            body["instance_url"] = json!(uri);
            ResponseTemplate::new(200).set_body_json(body)
        })
        .mount(server)
        .await;
}

fn token_requests(all: &[Request]) -> usize {
    all.iter()
        .filter(|r| r.url.path() == "/services/oauth2/token")
        .count()
}

#[tokio::test]
async fn invalid_session_triggers_one_refresh_and_one_replay() {
    let server = MockServer::start().await;
    numbered_tokens(&server).await;
    Mock::given(method("PATCH"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(sf_error(
            401,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        ))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(header("authorization", "Bearer tok-2"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let flow = ClientCredentialsFlow::new(login(&server), "k", "s".to_string().into()).unwrap();
    let h = harness_with(server, Arc::new(CachedTokenProvider::new(flow))).await;
    h.sf.opportunities()
        .update("006A", &json!({"Name": "B"}))
        .send()
        .await
        .unwrap();
    let all = requests(&h.server).await;
    assert_eq!(token_requests(&all), 2);
    let patches: Vec<&Request> = all
        .iter()
        .filter(|r| r.method.as_str() == "PATCH")
        .collect();
    assert_eq!(patches.len(), 2);
    // The replay is the same request with the new token.
    assert_eq!(patches[0].body, patches[1].body);
    assert_eq!(header_of(patches[1], "authorization"), Some("Bearer tok-2"));
    assert!(h.sleeper.sleeps().is_empty());
}

#[tokio::test]
async fn a_second_invalid_session_is_an_auth_error() {
    let server = MockServer::start().await;
    numbered_tokens(&server).await;
    Mock::given(method("GET"))
        .respond_with(sf_error(
            401,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        ))
        .mount(&server)
        .await;
    let flow = ClientCredentialsFlow::new(login(&server), "k", "s".to_string().into()).unwrap();
    let h = harness_with(server, Arc::new(CachedTokenProvider::new(flow))).await;
    let err =
        h.sf.opportunities()
            .retrieve("006A")
            .send::<Value>()
            .await
            .unwrap_err();
    assert!(err.is_auth(), "{err:?}");
    assert_eq!(err.code(), Some(salesforce::INVALID_SESSION_ID));
    let all = requests(&h.server).await;
    assert_eq!(token_requests(&all), 2);
    assert_eq!(all.len() - token_requests(&all), 2);
}

#[tokio::test]
async fn a_fixed_instance_url_and_api_version_are_honoured() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/services/data/v60.0/limits"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "DailyApiRequests": {"Max": 15000, "Remaining": 14998, "Sync": {"Max": 100, "Remaining": 99}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let sf = Salesforce::builder(Arc::new(StaticToken::new("t")))
        .instance_url(server.uri())
        .api_version("v60.0")
        .build()
        .unwrap();
    assert_eq!(sf.api_version(), "60.0");
    let limits = sf.limits().await.unwrap();
    assert_eq!(limits["DailyApiRequests"].remaining, Some(14998));
    assert!(limits["DailyApiRequests"].extra.contains_key("Sync"));

    for bad in ["62", "v.1", "62.x"] {
        let built = Salesforce::builder(Arc::new(StaticToken::new("t")))
            .api_version(bad)
            .build();
        assert!(matches!(built, Err(Error::Config(_))), "{bad}");
    }
    let built = Salesforce::builder(Arc::new(StaticToken::new("t")))
        .instance_url("http://contoso.my.salesforce.com")
        .build();
    assert!(matches!(built, Err(Error::Config(_))));
    let built = Salesforce::builder(Arc::new(StaticToken::new("t")))
        .origin_client_id("a,b")
        .build();
    assert!(matches!(built, Err(Error::Config(_))));
}

// ---------------------------------------------------------------------------------------------
// Queries

fn page(ids: std::ops::Range<usize>, next: Option<&str>, total: usize) -> Value {
    let records: Vec<Value> = ids
        .map(|i| {
            json!({
                "attributes": {"type": "Opportunity", "url": format!("{API}/sobjects/Opportunity/006{i:015}")},
                "Id": format!("006{i:015}"),
                "Name": format!("Deal {i}"),
                "CloseDate": "2025-09-30"
            })
        })
        .collect();
    match next {
        Some(link) => {
            json!({"totalSize": total, "done": false, "nextRecordsUrl": link, "records": records})
        }
        None => json!({"totalSize": total, "done": true, "records": records}),
    }
}

#[tokio::test]
async fn query_follows_next_records_url_and_resends_the_batch_size() {
    let h = harness().await;
    let soql = Soql::select(["Id", "Name", "CloseDate"])
        .from("Opportunity")
        .filter(field("Sync_With_Partner_Center__c").eq(true))
        .order_by("CloseDate", Order::Ascending)
        .build()
        .unwrap();
    Mock::given(method("GET"))
        .and(path(format!("{API}/query")))
        .and(query_param("q", soql.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            0..3,
            Some(&format!("{API}/query/01gRO0000016PIAYA2-3")),
            7,
        )))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/query/01gRO0000016PIAYA2-3")))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            3..6,
            Some(&format!("{API}/query/01gRO0000016PIAYA2-6")),
            7,
        )))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/query/01gRO0000016PIAYA2-6")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page(6..7, None, 7))
                .insert_header("Sforce-Limit-Info", "api-usage=42/15000"),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    let mut pager =
        h.sf.query_with::<Opportunity>(&soql, QueryOptions::new().page_size(200));
    let first = pager.next_page().await.unwrap().unwrap();
    assert_eq!(first.items.len(), 3);
    assert_eq!(first.total, Some(7));
    assert_eq!(
        pager.continuation().unwrap().as_link(),
        format!("{API}/query/01gRO0000016PIAYA2-3")
    );
    let rest: Vec<Opportunity> = pager.into_stream().try_collect().await.unwrap();
    assert_eq!(rest.len(), 4);
    // The last page's usage header reached the client.
    let usage = h.sf.last_limit_info().unwrap().api_usage.unwrap();
    assert_eq!((usage.used, usage.limit), (42, 15000));
    assert_eq!(rest[3].name.as_deref(), Some("Deal 6"));
    assert_eq!(
        rest[0].attributes.as_ref().unwrap().sobject_type.as_deref(),
        Some("Opportunity")
    );

    let sent = requests(&h.server).await;
    assert_eq!(sent.len(), 3);
    for request in &sent {
        assert_eq!(
            header_of(request, "sforce-query-options"),
            Some("batchSize=200")
        );
        assert_eq!(
            header_of(request, "authorization"),
            Some("Bearer session-token")
        );
    }
    // Next pages are fetched exactly as given: no extra parameters.
    assert_eq!(sent[1].url.query(), None);
}

#[tokio::test]
async fn query_all_uses_the_query_all_resource() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/queryAll")))
        .and(query_param("q", "SELECT Id, IsDeleted FROM Opportunity"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(0..2, None, 2)))
        .expect(1)
        .mount(&h.server)
        .await;
    let rows: Vec<Value> =
        h.sf.query_all(&Soql::trusted("SELECT Id, IsDeleted FROM Opportunity"))
            .collect_all()
            .await
            .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        header_of(&requests(&h.server).await[0], "sforce-query-options"),
        None
    );
}

#[tokio::test]
async fn a_next_records_url_on_another_host_is_refused() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            0..1,
            Some("https://evil.example.com/services/data/v62.0/query/01g-1"),
            2,
        )))
        .mount(&h.server)
        .await;
    let result: Result<Vec<Value>, Error> =
        h.sf.query(&Soql::trusted("SELECT Id FROM Opportunity"))
            .collect_all()
            .await;
    assert!(matches!(result, Err(Error::Validation(_))));
    assert_eq!(requests(&h.server).await.len(), 1);
}

#[tokio::test]
async fn a_malformed_query_is_a_bad_request() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(sf_error(400, "MALFORMED_QUERY", "unexpected token"))
        .mount(&h.server)
        .await;
    let err =
        h.sf.query::<Value>(&Soql::trusted("SELEC"))
            .collect_all()
            .await
            .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::BadRequest));
    assert_eq!(err.code(), Some("MALFORMED_QUERY"));
}

// ---------------------------------------------------------------------------------------------
// Collections

fn echo_results(request: &Request) -> ResponseTemplate {
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    let results: Vec<Value> = body["records"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, _)| json!({"id": format!("006{i:015}"), "success": true, "errors": []}))
        .collect();
    ResponseTemplate::new(200).set_body_json(results)
}

#[tokio::test]
async fn collections_split_450_records_into_3_calls() {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path(format!("{API}/composite/sobjects")))
        .and(header("sforce-call-options", "client=cosell-test"))
        .respond_with(echo_results)
        .expect(3)
        .mount(&h.server)
        .await;
    let records: Vec<Opportunity> = (0..450)
        .map(|i| {
            Opportunity::new(
                format!("Deal {i}"),
                "Prospecting",
                "2025-09-30".parse().unwrap(),
            )
        })
        .collect();
    let results =
        h.sf.opportunities()
            .create_many(&records, Atomicity::PerRecord)
            .await
            .unwrap();
    assert_eq!(results.len(), 450);
    assert!(results.iter().all(|r| r.success));
    let sent = requests(&h.server).await;
    let sizes: Vec<usize> = sent
        .iter()
        .map(|r| body_of(r)["records"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [200, 200, 50]);
    let first = body_of(&sent[0]);
    assert_eq!(first["allOrNone"], false);
    assert_eq!(
        first["records"][0],
        json!({"attributes": {"type": "Opportunity"}, "Name": "Deal 0", "StageName": "Prospecting", "CloseDate": "2025-09-30"})
    );
    assert_eq!(body_of(&sent[2])["records"][49]["Name"], "Deal 449");
}

#[tokio::test]
async fn all_or_none_over_200_records_is_refused_unless_per_chunk() {
    let h = harness().await;
    Mock::given(method("PATCH"))
        .and(path(format!(
            "{API}/composite/sobjects/Opportunity/Referral_Id__c"
        )))
        .respond_with(echo_results)
        .mount(&h.server)
        .await;
    let records: Vec<Value> = (0..201)
        .map(|i| json!({"Referral_Id__c": format!("r-{i}"), "Name": "x"}))
        .collect();
    let err =
        h.sf.opportunities()
            .upsert_many("Referral_Id__c", &records, Atomicity::AllOrNone)
            .await
            .unwrap_err();
    assert!(matches!(err, Error::Validation(_)));
    assert!(requests(&h.server).await.is_empty());

    let results =
        h.sf.opportunities()
            .upsert_many("Referral_Id__c", &records, Atomicity::AllOrNonePerChunk)
            .await
            .unwrap();
    assert_eq!(results.len(), 201);
    let sent = requests(&h.server).await;
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|r| body_of(r)["allOrNone"] == true));

    // Up to 200, all-or-none is honoured as asked.
    h.server.reset().await;
    Mock::given(method("PATCH"))
        .respond_with(echo_results)
        .mount(&h.server)
        .await;
    h.sf.opportunities()
        .upsert_many("Referral_Id__c", &records[..200], Atomicity::AllOrNone)
        .await
        .unwrap();
    assert_eq!(body_of(&requests(&h.server).await[0])["allOrNone"], true);
}

#[tokio::test]
async fn collection_update_needs_ids_and_reports_each_record() {
    let h = harness().await;
    Mock::given(method("PATCH"))
        .and(path(format!("{API}/composite/sobjects")))
        .and(body_json(json!({
            "allOrNone": false,
            "records": [
                {"attributes": {"type": "Opportunity"}, "Id": "006A", "StageName": "Closed Won"},
                {"attributes": {"type": "Opportunity"}, "Id": "006B", "StageName": "Closed Won"}
            ]
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": "006A", "success": true, "errors": []},
            {"id": "006B", "success": false, "errors": [
                {"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}
            ]}
        ])))
        .expect(1)
        .mount(&h.server)
        .await;
    let err =
        h.sf.opportunities()
            .update_many(&[json!({"StageName": "x"})], Atomicity::PerRecord)
            .await
            .unwrap_err();
    assert!(matches!(err, Error::Validation(_)));
    let results =
        h.sf.opportunities()
            .update_many(
                &[
                    json!({"Id": "006A", "StageName": "Closed Won"}),
                    json!({"Id": "006B", "StageName": "Closed Won"}),
                ],
                Atomicity::PerRecord,
            )
            .await
            .unwrap();
    assert!(results[0].success);
    assert_eq!(
        results[1].errors[0].status_code.as_deref(),
        Some("ENTITY_IS_DELETED")
    );
}

#[tokio::test]
async fn collection_delete_sends_ids_and_checks_the_result_count() {
    let h = harness().await;
    Mock::given(method("DELETE"))
        .and(path(format!("{API}/composite/sobjects")))
        .and(query_param("ids", "006A,006B"))
        .and(query_param("allOrNone", "true"))
        .and(header("sforce-call-options", "client=cosell-test"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": "006A", "success": true, "errors": []},
            {"id": "006B", "success": true, "errors": []}
        ])))
        .expect(1)
        .mount(&h.server)
        .await;
    let results =
        h.sf.delete_many(&["006A", "006B"], Atomicity::AllOrNone)
            .await
            .unwrap();
    assert_eq!(results.len(), 2);
    let err =
        h.sf.delete_many(&["006A&allOrNone=false"], Atomicity::PerRecord)
            .await
            .unwrap_err();
    assert!(matches!(err, Error::Validation(_)));

    h.server.reset().await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&h.server)
        .await;
    let err =
        h.sf.delete_many(&["006A"], Atomicity::PerRecord)
            .await
            .unwrap_err();
    assert!(matches!(err, Error::Decode(_)));
}

// ---------------------------------------------------------------------------------------------
// Describe and stages

#[tokio::test]
async fn describe_reads_types_lengths_and_picklists() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/sobjects/Opportunity/describe")))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(fixture("describe_opportunity.json")),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    let describe: SObjectDescribe = h.sf.opportunities().describe().await.unwrap();
    assert_eq!(describe.name, "Opportunity");
    let name = describe.field("name").unwrap();
    assert_eq!(
        (name.field_type.clone(), name.length),
        (FieldType::String, Some(120))
    );
    let stage = describe.field("StageName").unwrap();
    assert_eq!(stage.field_type, FieldType::Picklist);
    assert!(stage.has_picklist_value("Closed Won"));
    assert!(!stage.has_picklist_value("Retired"));
    let amount = describe.field("Amount").unwrap();
    assert_eq!((amount.precision, amount.scale), (Some(18), Some(2)));
    assert_eq!(
        describe.field("AccountId").unwrap().reference_to,
        ["Account"]
    );
    assert_eq!(
        describe.field("Referral_Id__c").unwrap().external_id,
        Some(true)
    );
    assert_eq!(
        describe.field("Geo__c").unwrap().field_type,
        FieldType::Unknown("location".into())
    );
    assert_eq!(
        describe
            .field("Microsoft_Help_Requested__c")
            .unwrap()
            .field_type,
        FieldType::MultiPicklist
    );
    let co_sell = CoSellFieldNames::default();
    let names = co_sell.names();
    let missing = describe.missing_fields(&names);
    assert_eq!(
        missing,
        [
            "Referral_Link__c",
            "Sync_With_Partner_Center__c",
            "Share_With_Microsoft_Sellers__c",
            "Microsoft_Solutions__c",
            "Microsoft_CRM_Id__c",
            "Co_Sell_Audit__c"
        ]
    );
}

#[tokio::test]
async fn opportunity_stages_come_from_a_query() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/query")))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(fixture("opportunity_stages.json")),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    let stages = h.sf.opportunity_stages().await.unwrap();
    assert_eq!(stages.len(), 3);
    assert_eq!(stages[1].stage_name(), Some("Closed Won"));
    assert_eq!(stages[1].is_won, Some(true));
    assert_eq!(stages[1].default_probability.unwrap().to_string(), "100");
    // Without ApiName (older versions) the label stands in.
    assert_eq!(stages[2].stage_name(), Some("Closed Lost"));
    let q = requests(&h.server).await[0]
        .url
        .query_pairs()
        .find(|(k, _)| k == "q")
        .unwrap()
        .1
        .into_owned();
    assert!(
        q.starts_with("SELECT Id, ApiName, MasterLabel")
            && q.ends_with("FROM OpportunityStage ORDER BY SortOrder")
    );
}

// ---------------------------------------------------------------------------------------------
// SOQL escaping

/// One token of a decoded SOQL string literal.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lexed {
    Char(char),
    /// An unescaped `%` (LIKE only).
    AnyChars,
    /// An unescaped `_` (LIKE only).
    OneChar,
}

/// A SOQL string-literal lexer: reads one `'…'` literal from the start of `input` and returns
/// its decoded content and the rest of the input after the closing quote. In LIKE mode, `\%`
/// and `\_` are literal and bare `%` / `_` are wildcards.
fn lex_literal(input: &str, like: bool) -> Result<(Vec<Lexed>, &str), String> {
    let mut chars = input.char_indices();
    if chars.next().map(|(_, c)| c) != Some('\'') {
        return Err("no opening quote".into());
    }
    let mut out = Vec::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' => return Ok((out, &input[i + 1..])),
            '\\' => {
                let (_, escaped) = chars.next().ok_or("dangling backslash")?;
                out.push(Lexed::Char(match escaped {
                    'n' | 'N' => '\n',
                    'r' | 'R' => '\r',
                    't' | 'T' => '\t',
                    'b' | 'B' => '\u{8}',
                    'f' | 'F' => '\u{c}',
                    '"' => '"',
                    '\'' => '\'',
                    '\\' => '\\',
                    '%' if like => '%',
                    '_' if like => '_',
                    other => return Err(format!("unknown escape \\{other}")),
                }));
            }
            '%' if like => out.push(Lexed::AnyChars),
            '_' if like => out.push(Lexed::OneChar),
            other => out.push(Lexed::Char(other)),
        }
    }
    Err("no closing quote".into())
}

fn chars(text: &str) -> Vec<Lexed> {
    text.chars().map(Lexed::Char).collect()
}

#[test]
fn injection_attempts_stay_inside_the_literal() {
    let attacks = [
        "x' OR Name != '",
        "x\\' OR Id != null OR Name = '",
        "x\\",
        "line\nbreak\r\t",
        "\" OR \"\"=\"",
        "'; DELETE FROM Opportunity",
    ];
    for attack in attacks {
        let condition = field("Name").eq(attack).to_string();
        let literal = condition.strip_prefix("Name = ").unwrap();
        let (decoded, rest) = lex_literal(literal, false).unwrap();
        assert_eq!(decoded, chars(attack), "{attack:?}");
        assert_eq!(rest, "", "{attack:?} escaped the literal");
        assert!(!literal.contains('\n'));
    }
    assert_eq!(string_literal("a'b\\c\nd"), r"'a\'b\\c\nd'");
    assert_eq!(
        field("Name")
            .like(LikePattern::contains("50%_off"))
            .to_string(),
        r"Name LIKE '%50\%\_off%'"
    );
    assert_eq!(
        field("Name").like(LikePattern::exact("100%")).to_string(),
        r"Name LIKE '100\%'"
    );
    // IN lists escape every member.
    assert_eq!(
        field("StageName").is_in(["a'", "b"]).to_string(),
        r"StageName IN ('a\'', 'b')"
    );
    assert_eq!(
        field("Tags__c").includes(["x'y;z"]).to_string(),
        r"Tags__c includes ('x\'y;z')"
    );
}

#[test]
fn literals_of_every_type() {
    let date: jiff::civil::Date = "2025-09-30".parse().unwrap();
    let ts: jiff::Timestamp = "2025-01-02T03:04:05.9Z".parse().unwrap();
    let amount: rust_decimal::Decimal = "-1250.500".parse().unwrap();
    assert_eq!(SoqlValue::from(date).to_literal(), "2025-09-30");
    assert_eq!(SoqlValue::from(ts).to_literal(), "2025-01-02T03:04:05Z");
    assert_eq!(SoqlValue::from(amount).to_literal(), "-1250.5");
    assert_eq!(SoqlValue::from(true).to_literal(), "true");
    assert_eq!(SoqlValue::from(-7i64).to_literal(), "-7");
    assert_eq!(SoqlValue::from(None::<String>).to_literal(), "null");
    let soql = Soql::select(["Id"])
        .from("Opportunity")
        .filter(field("CloseDate").ge(date))
        .filter(
            field("LastModifiedDate")
                .gt(ts)
                .or(field("Amount").lt(amount)),
        )
        .filter(field("Referral_Id__c").is_not_null())
        .limit(5)
        .offset(10)
        .build()
        .unwrap();
    assert_eq!(
        soql.as_str(),
        "SELECT Id FROM Opportunity WHERE CloseDate >= 2025-09-30 AND \
         ((LastModifiedDate > 2025-01-02T03:04:05Z) OR (Amount < -1250.5)) AND \
         Referral_Id__c != null LIMIT 5 OFFSET 10"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_string_round_trips_through_the_literal_escaper(text in any::<String>()) {
        let literal = string_literal(&text);
        let (decoded, rest) = lex_literal(&literal, false).unwrap();
        prop_assert_eq!(decoded, chars(&text));
        prop_assert_eq!(rest, "");
    }

    #[test]
    fn any_string_round_trips_through_the_like_escaper(text in any::<String>()) {
        let literal = like_literal(&LikePattern::exact(text.clone()));
        let (decoded, rest) = lex_literal(&literal, true).unwrap();
        prop_assert_eq!(decoded, chars(&text));
        prop_assert_eq!(rest, "");
        let literal = like_literal(&LikePattern::contains(text.clone()));
        let (decoded, rest) = lex_literal(&literal, true).unwrap();
        let mut expected = vec![Lexed::AnyChars];
        expected.extend(chars(&text));
        expected.push(Lexed::AnyChars);
        prop_assert_eq!(decoded, expected);
        prop_assert_eq!(rest, "");
    }

    #[test]
    fn soql_like_strings_cannot_change_the_query(text in "[ -~\n\\\\'%_\"]{0,40}") {
        let built = Soql::select(["Id"])
            .from("Opportunity")
            .filter(field("Name").eq(text.as_str()))
            .build()
            .unwrap();
        let literal = built.as_str().strip_prefix("SELECT Id FROM Opportunity WHERE Name = ").unwrap();
        let (decoded, rest) = lex_literal(literal, false).unwrap();
        prop_assert_eq!(decoded, chars(&text));
        prop_assert_eq!(rest, "");
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let response = Response {
            status: http::StatusCode::OK,
            headers: http::HeaderMap::new(),
            body: bytes.clone().into(),
            complete: true,
            request_id: None,
            correlation_id: None,
            url: "https://x.my.salesforce.com/services/data/v62.0/query".parse().unwrap(),
        };
        if let Ok(page) = query_page(&response) {
            for item in &page.items {
                let _ = serde_json::from_str::<Opportunity>(item.get());
            }
        }
        let _ = serde_json::from_slice::<Opportunity>(&bytes);
        let _ = serde_json::from_slice::<SaveResult>(&bytes);
        let _ = serde_json::from_slice::<Vec<SaveResult>>(&bytes);
        let _ = serde_json::from_slice::<SObjectDescribe>(&bytes);
        let _ = serde_json::from_slice::<MultiSelect>(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        let _ = salesforce::LimitInfo::parse(&text);
        let _ = salesforce::datetime::parse(&text);
        let _ = cosell::http::parse_error_body(&bytes);
    }

    #[test]
    fn decoding_arbitrary_json_shapes_never_panics(value in arbitrary_json()) {
        let text = value.to_string();
        let _ = serde_json::from_str::<Opportunity>(&text);
        let _ = serde_json::from_str::<SObjectDescribe>(&text);
        let _ = serde_json::from_str::<Vec<SaveResult>>(&text);
        if let Value::Object(map) = &value {
            let _ = CoSellFieldNames::default().read(map);
        }
    }

    #[test]
    fn salesforce_timestamps_round_trip(seconds in -2_000_000_000i64..4_000_000_000, millis in 0i64..1000) {
        let ts = jiff::Timestamp::from_millisecond(seconds * 1000 + millis).unwrap();
        let text = salesforce::datetime::format(ts);
        prop_assert!(text.ends_with("+0000"));
        prop_assert_eq!(salesforce::datetime::parse(&text), Some(ts));
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-zA-Z0-9:;.+ -]{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        let keys = prop_oneof![
            Just("Id".to_string()),
            Just("Amount".to_string()),
            Just("CloseDate".to_string()),
            Just("LastModifiedDate".to_string()),
            Just("attributes".to_string()),
            Just("fields".to_string()),
            Just("type".to_string()),
            Just("name".to_string()),
            Just("Referral_Id__c".to_string()),
            Just("Microsoft_Help_Requested__c".to_string()),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(keys, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
