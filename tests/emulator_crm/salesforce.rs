//! Salesforce emulator behaviour: the client's behaviour suite run against wiremock and against
//! the emulator with the same assertions, then the emulator's own semantics (SOQL grammar,
//! upsert keys, collections, sessions, limits, the control API) on targeted cases.

use std::sync::Arc;

use cosell::Order;
use cosell::auth::{CachedTokenProvider, CustomCredentials};
use cosell::error::ApiErrorKind;
use cosell::http::{RecordingSleeper, RetryPolicy};
use cosell::salesforce::soql::{LikePattern, Soql, field};
use cosell::salesforce::{
    Atomicity, ClientCredentialsFlow, FieldType, MultiSelect, Opportunity, OpportunityPatch,
    QueryOptions, Salesforce, SalesforceLogin, UpsertOutcome, is_multiple_matches,
};
use cosell::{Error, FieldUpdate};
use cosell_emulator::{
    EmulatedApi, Emulator, Fault, FaultRule, FieldType as EmulatedFieldType, Trigger,
};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
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

/// Reads `fields` of the opportunity `id` (every field when none are named).
async fn read_opportunity<T: serde::de::DeserializeOwned>(
    sf: &Salesforce,
    id: &str,
    fields: &[&str],
) -> cosell::Result<T> {
    sf.opportunities().retrieve(id).select(fields).send().await
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
    let id = sf.opportunities().create(&opp).await.unwrap();
    assert_eq!(id.len(), 18, "{id}");
    assert!(id.starts_with("006"), "{id}");
    let usage = sf.last_limit_info().unwrap().api_usage.unwrap();
    assert!(usage.used >= 1 && usage.limit == 100_000, "{usage:?}");

    let read: Opportunity = read_opportunity(&sf, &id, Opportunity::STANDARD_FIELDS)
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
    sf.opportunities().update(&id, &patch).send().await.unwrap();
    let read: Opportunity =
        read_opportunity(&sf, &id, &["StageName", "IsClosed", "IsWon", "Probability"])
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
    sf.opportunities().delete(&id).await.unwrap();
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
    let gone = read_opportunity::<Opportunity>(&sf, &id, &[])
        .await
        .unwrap_err();
    assert!(gone.is_not_found(), "{gone:?}");
    let again = sf.opportunities().delete(&id).await.unwrap_err();
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
        .opportunities()
        .upsert("Referral_Id__c", "r-new", &record)
        .await
        .unwrap();
    assert!(created.created());
    assert!(created.id().unwrap().starts_with("006"));
    let updated = sf
        .opportunities()
        .upsert("Referral_Id__c", "r-one", &record)
        .await
        .unwrap();
    assert_eq!(updated, UpsertOutcome::Updated { id: Some(one) });
    let several = sf
        .opportunities()
        .upsert("Referral_Id__c", "r-dup", &record)
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
        .order_by("Name", Order::Ascending)
        .build()
        .unwrap();
    let mut pager = sf.query_with::<Value>(&soql, QueryOptions::new().page_size(200));
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
        .order_by("Name", Order::Descending)
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
        .opportunities()
        .create_many(&records, Atomicity::AllOrNone)
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
        .opportunities()
        .create_many(&records, Atomicity::PerRecord)
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
    let describe = sf.opportunities().describe().await.unwrap();
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
    let err = read_opportunity::<Opportunity>(&sf, &id, &[])
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
                        assert_eq!(emulator.count(cosell_emulator::EmulatedApi::Salesforce, "oauth.token"), 1);
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

// ---------------------------------------------------------------------------------------------
// The emulator's own semantics, on targeted cases.
// ---------------------------------------------------------------------------------------------

async fn emulated() -> (Emulator, Salesforce) {
    let backend = Backend::emulator().await;
    let sf = backend.client();
    match backend {
        Backend::Emulator(emulator) => (emulator, sf),
        Backend::Mock(_) => unreachable!(),
    }
}

const HOSTILE: &str = "O'Brien \\ \"quoted\"\n\tx' OR Name != '";

async fn names(sf: &Salesforce, condition: cosell::salesforce::soql::Condition) -> Vec<String> {
    let soql = Soql::select(["Name"])
        .from("Opportunity")
        .filter(condition)
        .order_by("Name", Order::Ascending)
        .build()
        .unwrap();
    let rows: Vec<Value> = sf.query(&soql).collect_all().await.unwrap();
    rows.iter()
        .map(|r| r["Name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_form_the_builder_emits_is_evaluated_on_seeded_data() {
    let (emulator, sf) = emulated().await;
    let org = emulator.salesforce();
    let before: jiff::Timestamp = "2020-01-01T00:00:00Z".parse().unwrap();
    for seed in [
        json!({"Name": HOSTILE, "StageName": "Prospecting", "CloseDate": "2026-01-15", "Amount": 100,
               "Microsoft_Help_Requested__c": "Pricing;Workshop"}),
        json!({"Name": "50%_off deal", "StageName": "Closed Won", "CloseDate": "2026-03-01", "Amount": 250.5,
               "Microsoft_Help_Requested__c": "Architecture"}),
        json!({"Name": "500 off deal", "StageName": "Closed Lost", "CloseDate": "2026-12-31"}),
        json!({"Name": "Contoso", "StageName": "Negotiation/Review", "CloseDate": "2025-12-31", "Amount": 1000,
               "Sync_With_Partner_Center__c": true}),
    ] {
        org.seed("Opportunity", seed).unwrap();
    }
    let (a, b, c, d) = (HOSTILE, "50%_off deal", "500 off deal", "Contoso");
    let amount = |text: &str| text.parse::<rust_decimal::Decimal>().unwrap();
    let date = |text: &str| text.parse::<jiff::civil::Date>().unwrap();
    let cases: Vec<(cosell::salesforce::soql::Condition, Vec<&str>)> = vec![
        (field("Name").eq(HOSTILE), vec![a]),
        (field("Name").ne(HOSTILE), vec![b, c, d]),
        (field("Name").eq("contoso"), vec![d]),
        (
            field("Name").like(LikePattern::contains("50%_off")),
            vec![b],
        ),
        (field("Name").like(LikePattern::starts_with("500")), vec![c]),
        (
            field("Name").like(LikePattern::ends_with("DEAL")),
            vec![b, c],
        ),
        (
            field("Name").like(LikePattern::new().text("50").one_char().any_chars()),
            vec![b, c],
        ),
        (
            field("Name").like(LikePattern::contains("\\ \"quoted\"\n")),
            vec![a],
        ),
        (field("Amount").gt(100), vec![b, d]),
        (field("Amount").le(amount("250.5")), vec![a, b]),
        (field("Amount").is_null(), vec![c]),
        (field("Amount").is_not_null(), vec![a, b, d]),
        (
            field("CloseDate")
                .ge(date("2026-01-01"))
                .and(field("CloseDate").lt(date("2026-12-31"))),
            vec![a, b],
        ),
        (field("IsWon").eq(true), vec![b]),
        (field("IsClosed").eq(false), vec![a, d]),
        (field("Sync_With_Partner_Center__c").eq(true), vec![d]),
        (
            field("StageName").is_in(["Closed Won", "Closed Lost"]),
            vec![b, c],
        ),
        (
            field("StageName").not_in(["Closed Won", "Closed Lost"]),
            vec![a, d],
        ),
        (
            field("Microsoft_Help_Requested__c").includes(["Pricing;Workshop"]),
            vec![a],
        ),
        (
            field("Microsoft_Help_Requested__c").includes(["Architecture", "Workshop"]),
            vec![a, b],
        ),
        (
            field("Microsoft_Help_Requested__c").eq("Workshop;Pricing"),
            vec![a],
        ),
        (
            field("Microsoft_Help_Requested__c").excludes(["Pricing"]),
            vec![b, c, d],
        ),
        (field("IsWon").eq(true).not(), vec![a, c, d]),
        (
            field("Name").eq("Contoso").or(field("IsWon").eq(true)),
            vec![b, d],
        ),
        (field("LastModifiedDate").gt(before), vec![a, b, c, d]),
        (field("CreatedDate").lt(before), vec![]),
    ];
    for (condition, expected) in cases {
        let text = condition.to_string();
        let mut expected: Vec<String> = expected.into_iter().map(str::to_owned).collect();
        expected.sort();
        assert_eq!(names(&sf, condition).await, expected, "{text}");
    }
    let ordered = |order: Order, limit: u32, offset: u32| {
        Soql::select(["Name", "Amount"])
            .from("Opportunity")
            .order_by("Amount", order)
            .limit(limit)
            .offset(offset)
            .build()
            .unwrap()
    };
    let run = |soql: Soql| {
        let sf = sf.clone();
        async move {
            let rows: Vec<Value> = sf.query(&soql).collect_all().await.unwrap();
            rows.iter()
                .map(|r| r["Name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(run(ordered(Order::Descending, 2, 0)).await, [d, b]);
    assert_eq!(run(ordered(Order::Ascending, 4, 0)).await, [c, a, b, d]);
    assert_eq!(run(ordered(Order::Ascending, 2, 1)).await, [a, b]);
    // Every query above was one request: no paging below 2,000 records.
    assert_eq!(emulator.count(EmulatedApi::Salesforce, "query"), 29);
    assert_eq!(emulator.count(EmulatedApi::Salesforce, "query.next"), 0);
}

#[tokio::test]
async fn forms_outside_the_subset_are_malformed_queries() {
    let (_emulator, sf) = emulated().await;
    let refused = |text: &'static str| {
        let sf = sf.clone();
        async move {
            sf.query::<Value>(&Soql::trusted(text))
                .collect_all()
                .await
                .unwrap_err()
        }
    };
    for text in [
        "SELECT Name, COUNT(Id) FROM Opportunity",
        "SELECT Id FROM Opportunity WHERE Name = 'a' AND Amount > 1 OR Name = 'b'",
        "SELECT Id FROM Opportunity WHERE CloseDate = TODAY",
        "SELECT Id FROM Opportunity WHERE CloseDate > LAST_N_DAYS:7",
        "SELECT Id FROM Opportunity GROUP BY Name",
        "SELECT Id FROM Opportunity WHERE Name = 'unterminated",
        r"SELECT Id FROM Opportunity WHERE Name = 'bad \q escape'",
        "SELECT Id FROM Opportunity LIMIT -1",
        "SELECT Id, (SELECT Id FROM OpportunityLineItems) FROM Opportunity",
        "",
    ] {
        let err = refused(text).await;
        assert_eq!(err.code(), Some("MALFORMED_QUERY"), "{text}: {err:?}");
        assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
        assert_eq!(err.kind(), Some(ApiErrorKind::BadRequest));
    }
    let err = refused("SELECT Nope__c FROM Opportunity").await;
    assert_eq!(err.code(), Some("INVALID_FIELD"));
    let err = refused("SELECT Id FROM Opportunity WHERE CloseDate = '2026-01-01'").await;
    assert_eq!(err.code(), Some("INVALID_FIELD"));
    let err = refused("SELECT Id FROM Opportunity WHERE Name LIKE 5").await;
    assert_eq!(err.code(), Some("MALFORMED_QUERY"));
    let err = refused("SELECT Id FROM Opportunityy").await;
    assert_eq!(err.code(), Some("INVALID_TYPE"));
}

#[tokio::test]
async fn upsert_keys_match_without_case_and_refuse_what_the_service_refuses() {
    let (emulator, sf) = emulated().await;
    let org = emulator.salesforce();
    let mut seeded = opportunity("Keyed", "Prospecting");
    seeded["Referral_Id__c"] = json!("R-Case");
    let id = org.seed("Opportunity", seeded).unwrap();
    let patch = json!({"Description": "via upsert"});
    let outcome = sf
        .opportunities()
        .upsert("Referral_Id__c", "r-case", &patch)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        UpsertOutcome::Updated {
            id: Some(id.clone())
        }
    );
    assert_eq!(
        org.record("Opportunity", &id).unwrap()["Description"],
        "via upsert"
    );
    let found: Value = sf
        .opportunities()
        .retrieve_by_external_id("Referral_Id__c", "R-CASE")
        .select(["Name"])
        .send()
        .await
        .unwrap();
    assert_eq!(found["Name"], "Keyed");

    // The key in the body must agree with the URL.
    let err = sf
        .opportunities()
        .upsert(
            "Referral_Id__c",
            "r-case",
            &json!({"Referral_Id__c": "other"}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("INVALID_FIELD_FOR_INSERT_UPDATE"));
    // A field that does not exist is 404; one that is not an external id is 400.
    let err = sf
        .opportunities()
        .upsert("Nope__c", "x", &patch)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let err = sf
        .opportunities()
        .upsert("Name", "Keyed", &patch)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("INVALID_FIELD"));
    // Creating through an upsert checks the required fields; nothing is written.
    let err = sf
        .opportunities()
        .upsert("Referral_Id__c", "r-fresh", &patch)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("REQUIRED_FIELD_MISSING"));
    assert_eq!(org.records("Opportunity").len(), 1);
    // Before API v46 an update answers an empty 204.
    let old = Salesforce::builder(CustomCredentials::salesforce(
        sf.pipeline().token_provider().unwrap().clone(),
    ))
    .api_version("45.0")
    .build()
    .unwrap();
    let outcome = old
        .opportunities()
        .upsert("Referral_Id__c", "R-Case", &patch)
        .await
        .unwrap();
    assert_eq!(outcome, UpsertOutcome::Updated { id: None });
    // Duplicates: 300 from both the upsert and the retrieve, and nothing written.
    org.seed("Opportunity", {
        let mut twin = opportunity("Twin", "Prospecting");
        twin["Referral_Id__c"] = json!("r-case");
        twin
    })
    .unwrap();
    let err = sf
        .opportunities()
        .upsert("Referral_Id__c", "r-case", &json!({"Description": "lost"}))
        .await
        .unwrap_err();
    assert!(is_multiple_matches(&err));
    let err = sf
        .opportunities()
        .retrieve_by_external_id("Referral_Id__c", "r-case")
        .send::<Value>()
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(300));
    assert!(err.is_conflict(), "{err:?}");
    assert!(
        org.records("Opportunity")
            .iter()
            .all(|r| r["Description"] != "lost")
    );
    assert_eq!(emulator.count(EmulatedApi::Salesforce, "upsert"), 7);
}

#[tokio::test]
async fn collections_update_upsert_and_delete_per_record_and_all_or_none() {
    let (emulator, sf) = emulated().await;
    let org = emulator.salesforce();
    let live = org
        .seed("Opportunity", opportunity("Live", "Prospecting"))
        .unwrap();
    let gone = org
        .seed("Opportunity", opportunity("Gone", "Prospecting"))
        .unwrap();
    org.delete("Opportunity", &gone).unwrap();

    let updates = [
        json!({"Id": live, "StageName": "Qualification"}),
        json!({"Id": gone, "StageName": "Qualification"}),
    ];
    let results = sf
        .opportunities()
        .update_many(&updates, Atomicity::PerRecord)
        .await
        .unwrap();
    assert!(results[0].success);
    assert_eq!(
        results[1].errors[0].status_code.as_deref(),
        Some("ENTITY_IS_DELETED")
    );
    assert_eq!(
        org.record("Opportunity", &live).unwrap()["StageName"],
        "Qualification"
    );

    let upserts = [
        json!({"Referral_Id__c": "u-1", "Name": "U1", "StageName": "Prospecting", "CloseDate": "2026-05-01"}),
        json!({"Referral_Id__c": "u-1", "Name": "U1 again"}),
    ];
    let results = sf
        .opportunities()
        .upsert_many("Referral_Id__c", &upserts, Atomicity::PerRecord)
        .await
        .unwrap();
    assert_eq!(results[0].created, Some(true));
    assert_eq!(results[1].created, Some(false));
    assert_eq!(results[0].id, results[1].id);

    // All or none: an unknown id fails, and the live record stays.
    let results = sf
        .delete_many(&[live.as_str(), "006Em9999999999AAA"], Atomicity::AllOrNone)
        .await
        .unwrap();
    assert!(results.iter().all(|r| !r.success));
    assert_eq!(
        results[0].errors[0].status_code.as_deref(),
        Some("ALL_OR_NONE_OPERATION_ROLLED_BACK")
    );
    assert_eq!(
        org.record("Opportunity", &live).unwrap()["IsDeleted"],
        false
    );
    let results = sf
        .delete_many(&[live.as_str()], Atomicity::AllOrNone)
        .await
        .unwrap();
    assert!(results[0].success);
    assert_eq!(org.record("Opportunity", &live).unwrap()["IsDeleted"], true);

    // More than 200 records in one call is refused whole.
    let records: Vec<Value> = (0..201)
        .map(|i| {
            let mut r = opportunity(&format!("Bulk {i}"), "Prospecting");
            r["attributes"] = json!({"type": "Opportunity"});
            r
        })
        .collect();
    let response = sf
        .pipeline()
        .post(["composite", "sobjects"])
        .json(&json!({"allOrNone": false, "records": records}))
        .send()
        .await
        .unwrap_err();
    assert_eq!(response.code(), Some("EXCEEDED_ID_LIMIT"));
    // The client splits them into chunks of 200 itself.
    let results = sf
        .opportunities()
        .create_many(&records, Atomicity::PerRecord)
        .await
        .unwrap();
    assert_eq!(results.iter().filter(|r| r.success).count(), 201);
    assert_eq!(
        emulator.count(EmulatedApi::Salesforce, "collections.create"),
        3
    );
    assert_eq!(
        emulator.count(EmulatedApi::Salesforce, "collections.delete"),
        2
    );
    // Every write carried the origin; the rolled-back delete recorded none.
    let writes = org.writes();
    assert!(writes.iter().all(|w| w.client() == Some(ORIGIN)));
    assert_eq!(
        writes
            .iter()
            .filter(|w| w.operation == "collections.delete")
            .count(),
        1
    );
}

#[tokio::test]
async fn sessions_limits_and_faults_answer_in_salesforce_terms() {
    let (emulator, sf) = emulated().await;
    let org = emulator.salesforce();
    let id = org
        .seed("Opportunity", opportunity("Session", "Prospecting"))
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!(
        "{}services/data/v62.0/sobjects/Opportunity/{id}",
        emulator.urls().salesforce
    );
    for token in [None, Some("forged")] {
        let mut request = http.get(&url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401);
        assert!(response.headers().get("sforce-limit-info").is_some());
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(body[0]["errorCode"], "INVALID_SESSION_ID");
    }
    // A revoked session: the client fetches a new token and replays once.
    let _: Value = read_opportunity(&sf, &id, &["Name"]).await.unwrap();
    emulator.tokens().revoke_all();
    let read: Value = read_opportunity(&sf, &id, &["Name"]).await.unwrap();
    assert_eq!(read["Name"], "Session");
    assert_eq!(emulator.count(EmulatedApi::Salesforce, "oauth.token"), 2);
    assert_eq!(emulator.count(EmulatedApi::Salesforce, "retrieve"), 5);

    // Usage counts every authenticated request and is reported on each answer.
    let before = org.api_usage();
    let _: Value = read_opportunity(&sf, &id, &["Name"]).await.unwrap();
    let after = sf.last_limit_info().unwrap().api_usage.unwrap();
    assert_eq!(after.used, before.used + 1);
    let limits = sf.limits().await.unwrap();
    assert_eq!(limits["DailyApiRequests"].max, Some(100_000));

    // Injected faults use the error array, and the client's retry gets through.
    emulator.faults().add(
        FaultRule::new(EmulatedApi::Salesforce, Fault::Unavailable)
            .operation("retrieve")
            .trigger(Trigger::First(1)),
    );
    let read: Value = read_opportunity(&sf, &id, &["Name"]).await.unwrap();
    assert_eq!(read["Name"], "Session");
    emulator.faults().add(
        FaultRule::new(EmulatedApi::Salesforce, Fault::Unavailable)
            .operation("delete")
            .trigger(Trigger::Always),
    );
    let err = sf.opportunities().delete(&id).await.unwrap_err();
    let Error::RetriesExhausted { last, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(last.code(), Some("SERVER_UNAVAILABLE"));
}

#[tokio::test]
async fn a_crm_user_edits_move_the_stamps_and_carry_no_origin() {
    let (emulator, sf) = emulated().await;
    let org = emulator.salesforce();
    let id = org
        .seed("Opportunity", {
            let mut r = opportunity("Stamped", "Prospecting");
            r["LastModifiedDate"] = json!("2026-01-01T00:00:00.000+0000");
            r
        })
        .unwrap();
    let seeded = org.record("Opportunity", &id).unwrap();
    assert_eq!(seeded["LastModifiedDate"], "2026-01-01T00:00:00.000+0000");
    let read: Opportunity = read_opportunity(&sf, &id, Opportunity::STANDARD_FIELDS)
        .await
        .unwrap();
    let seen = read.last_modified_date.unwrap();

    org.flag_for_sync(&id).unwrap();
    org.edit_opportunity(&id, json!({"Amount": 42})).unwrap();
    let edited = org.record("Opportunity", &id).unwrap();
    let stamp = edited["LastModifiedDate"].as_str().unwrap();
    assert!(stamp > "2026-01-01T00:00:00.000+0000", "{stamp}");
    assert_eq!(edited["SystemModstamp"], edited["LastModifiedDate"]);
    assert_eq!(stamp.len(), "2026-01-01T00:00:00.000+0000".len());
    assert!(stamp.ends_with("+0000"));
    assert_eq!(edited["Sync_With_Partner_Center__c"], true);
    assert!(org.writes().is_empty());
    assert!(org.edit_opportunity(&id, json!({"IsWon": true})).is_err());

    // The sync's conditional update sees the user's edit.
    let err = sf
        .opportunities()
        .update(&id, &json!({"Amount": 1}))
        .if_unmodified_since(seen)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err:?}");
    let fresh: Opportunity = read_opportunity(&sf, &id, &["LastModifiedDate"])
        .await
        .unwrap();
    sf.opportunities()
        .update(&id, &json!({"Amount": 1}))
        .if_unmodified_since(fresh.last_modified_date.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(org.record("Opportunity", &id).unwrap()["Amount"], 1);
    assert_eq!(
        org.call_options_for(&id),
        [Some(format!("client={ORIGIN}"))]
    );
    let help = MultiSelect::new(["Pricing", "Workshop"]);
    sf.opportunities()
        .update(&id, &json!({"Microsoft_Help_Requested__c": help}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        org.record("Opportunity", &id).unwrap()["Microsoft_Help_Requested__c"],
        "Pricing;Workshop"
    );
    // A stage that the org does not define is refused.
    let err = sf
        .opportunities()
        .update(&id, &json!({"StageName": "Sold"}))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"));
    // Custom fields can be added for other co-sell field names.
    org.add_custom_field(
        "Opportunity",
        "Partner_Ref__c",
        EmulatedFieldType::String,
        true,
    )
    .unwrap();
    let outcome = sf
        .opportunities()
        .upsert(
            "Partner_Ref__c",
            "p-1",
            &opportunity("Custom", "Prospecting"),
        )
        .await
        .unwrap();
    assert!(outcome.created());
}

#[tokio::test]
async fn opportunity_stages_are_seeded_with_their_flags() {
    let (_emulator, sf) = emulated().await;
    let stages = sf.opportunity_stages().await.unwrap();
    assert_eq!(stages.len(), 10);
    assert_eq!(stages[0].stage_name(), Some("Prospecting"));
    let won = stages
        .iter()
        .find(|s| s.stage_name() == Some("Closed Won"))
        .unwrap();
    assert_eq!((won.is_closed, won.is_won), (Some(true), Some(true)));
    let lost = stages
        .iter()
        .find(|s| s.stage_name() == Some("Closed Lost"))
        .unwrap();
    assert_eq!((lost.is_closed, lost.is_won), (Some(true), Some(false)));
    assert!(stages.iter().all(|s| s.is_active == Some(true)));
    let describe = sf.sobject("OpportunityStage").describe().await.unwrap();
    assert!(describe.field("IsWon").is_some());
    for object in ["Account", "Contact"] {
        let describe = sf.sobject(object).describe().await.unwrap();
        assert!(describe.field("Name").is_some(), "{object}");
    }
    let err = sf.sobject("Nope").describe().await.unwrap_err();
    assert!(err.is_not_found());
}

#[tokio::test]
async fn relationship_paths_and_short_ids_are_followed() {
    let (emulator, sf) = emulated().await;
    let org = emulator.salesforce();
    let account = org
        .seed(
            "Account",
            json!({"Name": "Contoso Ltd", "Industry": "Retail"}),
        )
        .unwrap();
    let mut with_account = opportunity("Linked", "Prospecting");
    with_account["AccountId"] = json!(account);
    let linked = org.seed("Opportunity", with_account).unwrap();
    org.seed("Opportunity", opportunity("Alone", "Prospecting"))
        .unwrap();
    let soql = Soql::select(["Name", "Account.Name", "account.industry"])
        .from("Opportunity")
        .order_by("Account.Name", Order::Descending)
        .build()
        .unwrap();
    let rows: Vec<Value> = sf.query(&soql).collect_all().await.unwrap();
    assert_eq!(rows[0]["Name"], "Linked");
    assert_eq!(rows[0]["Account"]["Name"], "Contoso Ltd");
    assert_eq!(rows[0]["Account"]["Industry"], "Retail");
    assert_eq!(rows[0]["Account"]["attributes"]["type"], "Account");
    assert_eq!(rows[1]["Account"], Value::Null);
    let by_account = Soql::select(["Id"])
        .from("Opportunity")
        .filter(field("Account.Name").like(LikePattern::starts_with("contoso")))
        .build()
        .unwrap();
    let rows: Vec<Value> = sf.query(&by_account).collect_all().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["Id"], linked.as_str());
    // The 15-character form of an id names the same record.
    for id in [&linked[..15], linked.as_str()] {
        let soql = Soql::select(["Name"])
            .from("Opportunity")
            .filter(field("Id").eq(id))
            .build()
            .unwrap();
        let rows: Vec<Value> = sf.query(&soql).collect_all().await.unwrap();
        assert_eq!(rows.len(), 1, "{id}");
    }
    let err = sf
        .query::<Value>(&Soql::trusted("SELECT Owner.Name FROM Opportunity"))
        .collect_all()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("INVALID_FIELD"));
    // A reference to a record that does not exist is refused.
    let err = sf
        .opportunities()
        .update(&linked, &json!({"AccountId": "001Em9999999999AAA"}))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("INVALID_CROSS_REFERENCE_KEY"));
}

#[tokio::test]
async fn the_jwt_bearer_flow_reaches_the_instance_it_names() {
    let emulator = Emulator::start().await.unwrap();
    let pem = std::fs::read_to_string(format!(
        "{}/tests/fixtures/salesforce/test_jwt_key.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let flow = cosell::salesforce::JwtBearerFlow::builder(
        SalesforceLogin::new(&emulator.urls().salesforce).unwrap(),
        "consumer-key",
        "integration@example.com",
        pem.into(),
    )
    .build()
    .unwrap();
    let sf = Salesforce::builder(flow).build().unwrap();
    let id = sf
        .sobject("Account")
        .create(&json!({"Name": "Through JWT"}))
        .await
        .unwrap();
    assert!(id.starts_with("001"));
    let writes = emulator.salesforce().writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].call_options, None);
    assert_eq!(emulator.count(EmulatedApi::Salesforce, "oauth.token"), 1);
    assert_eq!(emulator.count(EmulatedApi::Salesforce, "create"), 1);
}

#[tokio::test]
async fn the_service_directory_and_wrong_methods_answer_as_salesforce_does() {
    let emulator = Emulator::start().await.unwrap();
    let base = emulator.urls().salesforce.clone();
    let http = reqwest::Client::new();
    let versions = http
        .get(format!("{base}services/data"))
        .send()
        .await
        .unwrap();
    assert_eq!(versions.status().as_u16(), 200);
    let token: Value = serde_json::from_slice(
        &http
            .post(format!("{base}services/oauth2/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&client_id=a&client_secret=b")
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let bearer = token["access_token"].as_str().unwrap();
    let resources = http
        .get(format!("{base}services/data/v62.0"))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(resources.status().as_u16(), 200);
    assert_eq!(
        resources.headers()["sforce-limit-info"].to_str().unwrap(),
        "api-usage=1/100000"
    );
    let wrong = http
        .put(format!("{base}services/data/v62.0/sobjects/Opportunity"))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 405);
    let body: Value = serde_json::from_slice(&wrong.bytes().await.unwrap()).unwrap();
    assert_eq!(body[0]["errorCode"], "METHOD_NOT_ALLOWED");
    let stale = http
        .get(format!(
            "{base}services/data/v62.0/query/01gEm0000000042-200"
        ))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status().as_u16(), 400);
    let body: Value = serde_json::from_slice(&stale.bytes().await.unwrap()).unwrap();
    assert_eq!(body[0]["errorCode"], "INVALID_QUERY_LOCATOR");
    assert_eq!(emulator.count(EmulatedApi::Salesforce, "versions"), 1);
    assert_eq!(
        emulator.count(EmulatedApi::Salesforce, "method_not_allowed"),
        1
    );
    assert_eq!(emulator.salesforce().api_usage().used, 3);
}
