//! Salesforce emulator behaviour: the client's behaviour suite run against wiremock and against
//! the emulator with the same assertions, then the emulator's own semantics (SOQL grammar,
//! upsert keys, collections, sessions, limits, the control API) on targeted cases.

use std::sync::Arc;

use cosell::auth::CachedTokenProvider;
use cosell::error::ApiErrorKind;
use cosell::http::{RecordingSleeper, RetryPolicy};
use cosell::salesforce::soql::{LikePattern, Order, Soql, field};
use cosell::salesforce::{
    Atomicity, ClientCredentialsFlow, FieldType, MultiSelect, Opportunity, OpportunityPatch,
    QueryOptions, Salesforce, SalesforceLogin, UpsertOutcome, is_multiple_matches,
};
use cosell::testkit::{EmulatedApi, Emulator, Fault, FaultRule, Trigger};
use cosell::{Error, FieldUpdate};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const API: &str = "/services/data/v62.0";
const MOCK_TOKEN: &str = "mock-session";
const MOCK_ID: &str = "006Mk0000000001AAA";
const ORIGIN: &str = "cosell-suite";

// ---------------------------------------------------------------------------------------------
// The backend: wiremock scripted with what the service would answer, or the emulator seeded.
// ---------------------------------------------------------------------------------------------

enum Backend {
    Mock(MockServer),
    Emulator(Emulator),
}

fn opportunity(name: &str, stage: &str) -> Value {
    json!({ "Name": name, "StageName": stage, "CloseDate": "2026-06-30" })
}

/// A record as the API shows it, for scripted answers.
fn row(id: &str, fields: Value) -> Value {
    let mut record = json!({
        "attributes": {"type": "Opportunity", "url": format!("{API}/sobjects/Opportunity/{id}")},
        "Id": id,
        "IsDeleted": false,
        "LastModifiedDate": "2026-01-01T00:00:00.000+0000",
        "SystemModstamp": "2026-01-01T00:00:00.000+0000",
    });
    if let (Value::Object(out), Value::Object(extra)) = (&mut record, fields) {
        out.extend(extra);
    }
    record
}

fn sf_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!([{ "errorCode": code, "message": message, "fields": [] }]))
}

impl Backend {
    async fn mock() -> Backend {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/services/oauth2/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": MOCK_TOKEN,
                "instance_url": server.uri(),
                "id": format!("{}/id/00D/005", server.uri()),
                "token_type": "Bearer",
                "issued_at": "1767225600000",
                "signature": "c2ln",
            })))
            .mount(&server)
            .await;
        Backend::Mock(server)
    }

    async fn emulator() -> Backend {
        Backend::Emulator(Emulator::start().await.unwrap())
    }

    fn login_url(&self) -> String {
        match self {
            Backend::Mock(server) => server.uri(),
            Backend::Emulator(emulator) => emulator.urls().salesforce.clone(),
        }
    }

    /// A client with no fixed instance: it goes where the client-credentials token says.
    fn client(&self) -> Salesforce {
        let login = SalesforceLogin::new(&self.login_url()).unwrap();
        let flow =
            ClientCredentialsFlow::new(login, "suite-app", "suite-secret".to_string().into())
                .unwrap();
        Salesforce::builder(Arc::new(CachedTokenProvider::new(flow)))
            .origin_client_id(ORIGIN)
            .retry_policy(RetryPolicy::default().max_attempts(3).jitter_seed(7))
            .sleeper(Arc::new(RecordingSleeper::new()))
            .build()
            .unwrap()
    }

    /// Mounts an answer for `verb path`, with the session the token endpoint handed out.
    async fn answer(&self, verb: &str, at: &str, template: ResponseTemplate) {
        if let Backend::Mock(server) = self {
            Mock::given(method(verb))
                .and(path(at))
                .and(header("authorization", format!("Bearer {MOCK_TOKEN}")))
                .respond_with(template)
                .mount(server)
                .await;
        }
    }

    /// An opportunity the service holds; scripted ones get `MOCK_ID` (or `mock_id`).
    fn given(&self, fields: Value, mock_id: &str) -> String {
        match self {
            Backend::Mock(_) => mock_id.to_owned(),
            Backend::Emulator(emulator) => {
                emulator.salesforce().seed("Opportunity", fields).unwrap()
            }
        }
    }

    /// How many requests of an operation the service received; wiremock counts `verb` on paths
    /// matching `pattern`.
    async fn count(&self, operation: &str, verb: &str, pattern: &str) -> usize {
        match self {
            Backend::Emulator(emulator) => emulator.count(EmulatedApi::Salesforce, operation),
            Backend::Mock(server) => {
                let pattern = regex_lite(pattern);
                server
                    .received_requests()
                    .await
                    .unwrap()
                    .iter()
                    .filter(|r| r.method.as_str() == verb && pattern(r.url.path()))
                    .count()
            }
        }
    }

    /// The `Sforce-Call-Options` of every write received.
    async fn write_origins(&self) -> Vec<Option<String>> {
        match self {
            Backend::Emulator(emulator) => emulator
                .salesforce()
                .writes()
                .into_iter()
                .map(|w| w.client().map(str::to_owned))
                .collect(),
            Backend::Mock(server) => server
                .received_requests()
                .await
                .unwrap()
                .iter()
                .filter(|r| r.method.as_str() != "GET" && r.url.path().starts_with(API))
                .map(|r| {
                    r.headers
                        .get("sforce-call-options")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("client="))
                        .map(str::to_owned)
                })
                .collect(),
        }
    }
}

/// Matches a path ending: `suffix` or, with a trailing `*`, a prefix.
fn regex_lite(pattern: &str) -> impl Fn(&str) -> bool + '_ {
    move |p: &str| match pattern.strip_suffix('*') {
        Some(prefix) => p.starts_with(&format!("{API}{prefix}")),
        None => p == format!("{API}{pattern}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The shared behaviour suite.
// ---------------------------------------------------------------------------------------------

async fn create_and_retrieve(b: &Backend) {
    let derived = json!({
        "Name": "Fabrikam renewal", "StageName": "Prospecting", "CloseDate": "2026-06-30",
        "Amount": 125000, "Probability": 10, "IsClosed": false, "IsWon": false,
        "ForecastCategoryName": "Pipeline", "CurrencyIsoCode": "USD",
    });
    b.answer(
        "POST",
        &format!("{API}/sobjects/Opportunity"),
        ResponseTemplate::new(201)
            .set_body_json(json!({"id": MOCK_ID, "success": true, "errors": []}))
            .insert_header("sforce-limit-info", "api-usage=2/100000"),
    )
    .await;
    b.answer(
        "GET",
        &format!("{API}/sobjects/Opportunity/{MOCK_ID}"),
        ResponseTemplate::new(200).set_body_json(row(MOCK_ID, derived)),
    )
    .await;
    let sf = b.client();
    let mut opp = Opportunity::new(
        "Fabrikam renewal",
        "Prospecting",
        "2026-06-30".parse().unwrap(),
    );
    opp.amount = Some("125000".parse().unwrap());
    let id = sf.create("Opportunity", &opp).await.unwrap();
    assert_eq!(id.len(), 18, "{id}");
    assert!(id.starts_with("006"), "{id}");
    let usage = sf.last_limit_info().unwrap().api_usage.unwrap();
    assert!(usage.used >= 1 && usage.limit == 100_000, "{usage:?}");

    let read: Opportunity = sf
        .retrieve("Opportunity", &id, Opportunity::STANDARD_FIELDS)
        .await
        .unwrap();
    assert_eq!(read.id.as_deref(), Some(id.as_str()));
    assert_eq!(read.name.as_deref(), Some("Fabrikam renewal"));
    assert_eq!(read.amount.unwrap().to_string(), "125000");
    assert_eq!(read.probability.unwrap().to_string(), "10");
    assert_eq!(read.is_closed, Some(false));
    assert_eq!(read.forecast_category_name.as_deref(), Some("Pipeline"));
    assert!(read.last_modified_date.is_some());

    assert_eq!(b.count("create", "POST", "/sobjects/Opportunity").await, 1);
    assert_eq!(
        b.count("retrieve", "GET", "/sobjects/Opportunity/*").await,
        1
    );
    assert_eq!(b.write_origins().await, vec![Some(ORIGIN.to_owned())]);
}

async fn update_and_delete(b: &Backend) {
    let id = b.given(opportunity("Contoso expansion", "Prospecting"), MOCK_ID);
    let record = format!("{API}/sobjects/Opportunity/{id}");
    b.answer("PATCH", &record, ResponseTemplate::new(204)).await;
    b.answer(
        "GET",
        &record,
        ResponseTemplate::new(200).set_body_json(row(
            &id,
            json!({"StageName": "Closed Won", "IsClosed": true, "IsWon": true, "Probability": 100}),
        )),
    )
    .await;
    let sf = b.client();
    let patch = OpportunityPatch {
        stage_name: FieldUpdate::Set("Closed Won".into()),
        ..OpportunityPatch::default()
    };
    sf.update("Opportunity", &id, &patch).await.unwrap();
    let read: Opportunity = sf
        .retrieve(
            "Opportunity",
            &id,
            &["StageName", "IsClosed", "IsWon", "Probability"],
        )
        .await
        .unwrap();
    assert_eq!(read.is_won, Some(true));
    assert_eq!(read.is_closed, Some(true));
    assert_eq!(read.probability.unwrap().to_string(), "100");

    b.answer(
        "DELETE",
        &record,
        ResponseTemplate::new(204).set_body_string(""),
    )
    .await;
    sf.delete("Opportunity", &id).await.unwrap();
    if let Backend::Mock(server) = b {
        server.reset().await;
    }
    b.answer(
        "GET",
        &record,
        sf_error(404, "NOT_FOUND", "The requested resource does not exist"),
    )
    .await;
    b.answer(
        "DELETE",
        &record,
        sf_error(404, "ENTITY_IS_DELETED", "entity is deleted"),
    )
    .await;
    let gone = sf
        .retrieve::<Opportunity>("Opportunity", &id, &[])
        .await
        .unwrap_err();
    assert!(gone.is_not_found(), "{gone:?}");
    let again = sf.delete("Opportunity", &id).await.unwrap_err();
    assert_eq!(again.code(), Some("ENTITY_IS_DELETED"));
    assert!(again.is_not_found());
}

async fn upsert_outcomes(b: &Backend) {
    let one = b.given(
        json!({"Name": "One", "StageName": "Prospecting", "CloseDate": "2026-06-30", "Referral_Id__c": "r-one"}),
        MOCK_ID,
    );
    for name in ["Dup A", "Dup B"] {
        b.given(
            json!({"Name": name, "StageName": "Prospecting", "CloseDate": "2026-06-30", "Referral_Id__c": "r-dup"}),
            MOCK_ID,
        );
    }
    let base = format!("{API}/sobjects/Opportunity/Referral_Id__c");
    b.answer(
        "PATCH",
        &format!("{base}/r-new"),
        ResponseTemplate::new(201).set_body_json(
            json!({"id": "006Mk0000000002AAA", "success": true, "errors": [], "created": true}),
        ),
    )
    .await;
    b.answer(
        "PATCH",
        &format!("{base}/r-one"),
        ResponseTemplate::new(200)
            .set_body_json(json!({"id": one, "success": true, "errors": [], "created": false})),
    )
    .await;
    b.answer(
        "PATCH",
        &format!("{base}/r-dup"),
        ResponseTemplate::new(300).set_body_json(json!([
            format!("{API}/sobjects/Opportunity/006Mk0000000003AAA"),
            format!("{API}/sobjects/Opportunity/006Mk0000000004AAA"),
        ])),
    )
    .await;
    let sf = b.client();
    let record = Opportunity::new("Upserted", "Qualification", "2026-07-31".parse().unwrap());
    let created = sf
        .upsert("Opportunity", "Referral_Id__c", "r-new", &record)
        .await
        .unwrap();
    assert!(created.created());
    assert!(created.id().unwrap().starts_with("006"));
    let updated = sf
        .upsert("Opportunity", "Referral_Id__c", "r-one", &record)
        .await
        .unwrap();
    assert_eq!(updated, UpsertOutcome::Updated { id: Some(one) });
    let several = sf
        .upsert("Opportunity", "Referral_Id__c", "r-dup", &record)
        .await
        .unwrap_err();
    assert!(is_multiple_matches(&several), "{several:?}");
    assert_eq!(
        several
            .api()
            .unwrap()
            .target
            .as_deref()
            .unwrap()
            .split(',')
            .count(),
        2
    );
    assert_eq!(
        b.count("upsert", "PATCH", "/sobjects/Opportunity/Referral_Id__c/*")
            .await,
        3
    );
}

fn page_rows(from: usize, to: usize) -> Vec<Value> {
    (from..to)
        .map(|i| {
            row(
                &format!("006Mk{i:010}AAA"),
                json!({"Name": format!("Flagged {i:04}"), "Amount": i}),
            )
        })
        .collect()
}

async fn query_with_paging(b: &Backend) {
    if let Backend::Emulator(emulator) = b {
        for i in 0..450 {
            let mut fields = opportunity(&format!("Flagged {i:04}"), "Prospecting");
            fields["Amount"] = json!(i);
            fields["Sync_With_Partner_Center__c"] = json!(true);
            emulator.salesforce().seed("Opportunity", fields).unwrap();
        }
        emulator
            .salesforce()
            .seed("Opportunity", opportunity("Not flagged", "Prospecting"))
            .unwrap();
    }
    let next = |end: usize| format!("{API}/query/01gMk0000000001-{end}");
    let page = |from, to, total: usize, next_end: Option<usize>| {
        let mut body =
            json!({"totalSize": total, "done": next_end.is_none(), "records": page_rows(from, to)});
        if let Some(end) = next_end {
            body["nextRecordsUrl"] = json!(next(end));
        }
        ResponseTemplate::new(200).set_body_json(body)
    };
    b.answer("GET", &format!("{API}/query"), page(0, 200, 450, Some(200)))
        .await;
    b.answer("GET", &next(200), page(200, 400, 450, Some(400)))
        .await;
    b.answer("GET", &next(400), page(400, 450, 450, None)).await;
    let sf = b.client();
    let soql = Soql::select(["Id", "Name", "Amount"])
        .from("Opportunity")
        .filter(field("Sync_With_Partner_Center__c").eq(true))
        .order_by("Name", Order::Asc)
        .build()
        .unwrap();
    let mut pager = sf.query_with::<Value>(&soql, QueryOptions::new().batch_size(200));
    let mut sizes = Vec::new();
    let mut names = Vec::new();
    while let Some(page) = pager.next_page().await.unwrap() {
        assert_eq!(page.total, Some(450));
        sizes.push(page.items.len());
        names.extend(
            page.items
                .iter()
                .map(|r| r["Name"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(sizes, [200, 200, 50]);
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted);
    assert_eq!(names.first().map(String::as_str), Some("Flagged 0000"));
    assert_eq!(b.count("query", "GET", "/query").await, 1);
    assert_eq!(b.count("query.next", "GET", "/query/*").await, 2);
    if let Backend::Mock(server) = b {
        let requests = server.received_requests().await.unwrap();
        let pages: Vec<_> = requests
            .iter()
            .filter(|r| r.url.path().starts_with(&format!("{API}/query")))
            .collect();
        assert!(
            pages
                .iter()
                .all(|r| r.headers.get("sforce-query-options").unwrap() == "batchSize=200")
        );
    }
}

async fn query_all_includes_deleted(b: &Backend) {
    if let Backend::Emulator(emulator) = b {
        let org = emulator.salesforce();
        let mut kept = opportunity("Kept", "Prospecting");
        kept["Referral_Id__c"] = json!("qa-1");
        org.seed("Opportunity", kept).unwrap();
        let mut gone = opportunity("Gone", "Prospecting");
        gone["Referral_Id__c"] = json!("qa-2");
        let gone = org.seed("Opportunity", gone).unwrap();
        org.delete("Opportunity", &gone).unwrap();
    }
    let rows = |deleted: bool| {
        let mut records = vec![row(MOCK_ID, json!({"Name": "Kept", "IsDeleted": false}))];
        if deleted {
            records.push(row(
                "006Mk0000000009AAA",
                json!({"Name": "Gone", "IsDeleted": true}),
            ));
        }
        ResponseTemplate::new(200)
            .set_body_json(json!({"totalSize": records.len(), "done": true, "records": records}))
    };
    b.answer("GET", &format!("{API}/queryAll"), rows(true))
        .await;
    b.answer("GET", &format!("{API}/query"), rows(false)).await;
    let sf = b.client();
    let soql = Soql::select(["Id", "Name", "IsDeleted"])
        .from("Opportunity")
        .filter(field("Referral_Id__c").like(LikePattern::starts_with("qa-")))
        .order_by("Name", Order::Desc)
        .build()
        .unwrap();
    let all: Vec<Value> = sf.query_all(&soql).collect_all().await.unwrap();
    let flags: Vec<(&str, bool)> = all
        .iter()
        .map(|r| {
            (
                r["Name"].as_str().unwrap(),
                r["IsDeleted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(flags, [("Kept", false), ("Gone", true)]);
    let live: Vec<Value> = sf.query(&soql).collect_all().await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(b.count("query_all", "GET", "/queryAll").await, 1);
}

async fn collections_all_or_none(b: &Backend) {
    let rolled_back = json!({"success": false, "errors": [{"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "Record rolled back", "fields": []}]});
    let missing = json!({"success": false, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [Name]", "fields": ["Name"]}]});
    if let Backend::Mock(server) = b {
        Mock::given(method("POST"))
            .and(path(format!("{API}/composite/sobjects")))
            .and(body_partial_json(json!({"allOrNone": true})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                rolled_back,
                missing,
                rolled_back
            ])))
            .mount(server)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("{API}/composite/sobjects")))
            .and(body_partial_json(json!({"allOrNone": false})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                {"id": "006Mk0000000011AAA", "success": true, "errors": []},
                missing,
                {"id": "006Mk0000000012AAA", "success": true, "errors": []},
            ])))
            .mount(server)
            .await;
    }
    let sf = b.client();
    let records = vec![
        opportunity("Batch A", "Prospecting"),
        json!({"StageName": "Prospecting", "CloseDate": "2026-06-30"}),
        opportunity("Batch C", "Prospecting"),
    ];
    let all = sf
        .create_many("Opportunity", &records, Atomicity::AllOrNone)
        .await
        .unwrap();
    assert!(all.iter().all(|r| !r.success));
    let codes: Vec<&str> = all
        .iter()
        .map(|r| r.errors[0].status_code.as_deref().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "ALL_OR_NONE_OPERATION_ROLLED_BACK",
            "REQUIRED_FIELD_MISSING",
            "ALL_OR_NONE_OPERATION_ROLLED_BACK"
        ]
    );
    assert_eq!(all[1].errors[0].fields, ["Name"]);
    if let Backend::Emulator(emulator) = b {
        assert!(emulator.salesforce().records("Opportunity").is_empty());
    }
    let each = sf
        .create_many("Opportunity", &records, Atomicity::PerRecord)
        .await
        .unwrap();
    let successes: Vec<bool> = each.iter().map(|r| r.success).collect();
    assert_eq!(successes, [true, false, true]);
    assert!(each[0].id.as_deref().unwrap().starts_with("006"));
    assert_eq!(
        b.count("collections.create", "POST", "/composite/sobjects")
            .await,
        2
    );
}

async fn describe_opportunity(b: &Backend) {
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/tests/fixtures/salesforce/describe_opportunity.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    b.answer(
        "GET",
        &format!("{API}/sobjects/Opportunity/describe"),
        ResponseTemplate::new(200).set_body_json(fixture),
    )
    .await;
    let sf = b.client();
    let describe = sf.describe("Opportunity").await.unwrap();
    assert_eq!(describe.name, "Opportunity");
    let stage = describe.field("StageName").unwrap();
    assert_eq!(stage.field_type, FieldType::Picklist);
    assert!(stage.has_picklist_value("Closed Won"));
    assert!(!stage.has_picklist_value("Sold"));
    assert_eq!(describe.field("Name").unwrap().length, Some(120));
    let amount = describe.field("Amount").unwrap();
    assert_eq!(
        (amount.field_type.clone(), amount.precision, amount.scale),
        (FieldType::Currency, Some(18), Some(2))
    );
    assert_eq!(
        describe.field("AccountId").unwrap().reference_to,
        ["Account"]
    );
    assert_eq!(
        describe
            .field("Microsoft_Help_Requested__c")
            .unwrap()
            .field_type,
        FieldType::MultiPicklist
    );
    assert!(describe.missing_fields(&["Referral_Id__c", "Nope__c"]) == ["Nope__c"]);
}

async fn daily_limit_exceeded(b: &Backend) {
    let id = b.given(opportunity("Limited", "Prospecting"), MOCK_ID);
    if let Backend::Emulator(emulator) = b {
        let used = emulator.salesforce().api_usage().used;
        emulator.salesforce().set_daily_api_limit(used);
    }
    b.answer(
        "GET",
        &format!("{API}/sobjects/Opportunity/{id}"),
        sf_error(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        )
        .insert_header("sforce-limit-info", "api-usage=5/5"),
    )
    .await;
    let sf = b.client();
    let err = sf
        .retrieve::<Opportunity>("Opportunity", &id, &[])
        .await
        .unwrap_err();
    assert!(err.is_rate_limited(), "{err:?}");
    assert_eq!(err.code(), Some("REQUEST_LIMIT_EXCEEDED"));
    assert_eq!(err.status().map(|s| s.as_u16()), Some(403));
    // An exhausted daily allocation is not retried.
    assert_eq!(
        b.count("retrieve", "GET", "/sobjects/Opportunity/*").await,
        1
    );
}

macro_rules! suite {
    ($($scenario:ident),* $(,)?) => {
        mod against_wiremock {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(&super::Backend::mock().await).await;
                }
            )*
        }
        mod against_the_emulator {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let backend = super::Backend::emulator().await;
                    super::$scenario(&backend).await;
                    if let super::Backend::Emulator(emulator) = &backend {
                        // One token for the whole scenario: the session was reused.
                        assert_eq!(emulator.count(cosell::testkit::EmulatedApi::Salesforce, "oauth.token"), 1);
                    }
                }
            )*
        }
    };
}

suite!(
    create_and_retrieve,
    update_and_delete,
    upsert_outcomes,
    query_with_paging,
    query_all_includes_deleted,
    collections_all_or_none,
    describe_opportunity,
    daily_limit_exceeded,
);
