//! Dataverse emulator behaviour.
//!
//! The shared suite (`suite_*`) drives the crate's Dataverse client against a "backend" that is
//! either wiremock (scripted answers) or the emulator (seeded rows), with the same assertions.
//! The targeted tests after it check the emulator alone: the `$filter` grammar, ETags,
//! upsert keys, batches, actions, origin tags, the control API and request counts.

use std::sync::Arc;

use cosell::Order;
use cosell::auth::{ClientCredentials, EntraAuthority, StaticToken};
use cosell::dataverse::{
    Batch, BatchOperation, BatchOutcome, Dataverse, Filter, ODataValue, Opportunity,
    OpportunityClose, OpportunityState, OpportunityStatus, Query, RecordKey, UpsertKind,
};
use cosell::error::ApiErrorKind;
use cosell::http::{RecordingSleeper, RetryPolicy};
use cosell_emulator::{
    DATAVERSE_ORG_URL, DataverseWriteSource, EmulatedApi, Emulator, Fault, FaultRule, Trigger,
};
use jiff::civil::date;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const OPPORTUNITY_ID: &str = "c0ffee00-3333-4a5e-8f00-0123456789ab";

fn id(text: &str) -> Uuid {
    text.parse().unwrap()
}

fn fixture(name: &str, base: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/dataverse/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("{{BASE}}", base)
}

/// What the suite runs against.
enum Kind {
    Mock(MockServer),
    Emulated(Emulator),
}

struct Backend {
    kind: Kind,
    dataverse: Dataverse,
}

/// A client of the emulator, with a client-credentials token for the emulated organisation.
fn emulator_client(emulator: &Emulator, retry: RetryPolicy) -> Dataverse {
    let authority = EntraAuthority::new(&emulator.urls().entra_authority, "contoso").unwrap();
    let credentials = ClientCredentials::new(
        authority,
        "app",
        "secret".to_string().into(),
        format!("{DATAVERSE_ORG_URL}/.default"),
    )
    .unwrap();
    Dataverse::builder(credentials)
        .base_url(&emulator.urls().dataverse)
        .retry_policy(retry)
        .sleeper(Arc::new(RecordingSleeper::new()))
        .origin_tag("cosell")
        .suppress_flows(true)
        .build()
        .unwrap()
}

impl Backend {
    async fn mock() -> Self {
        let server = MockServer::start().await;
        let dataverse = Dataverse::builder(StaticToken::new("test-token"))
            .base_url(format!("{}/api/data/v9.2/", server.uri()))
            .retry_policy(RetryPolicy::none())
            .origin_tag("cosell")
            .suppress_flows(true)
            .build()
            .unwrap();
        Backend {
            kind: Kind::Mock(server),
            dataverse,
        }
    }

    async fn emulated() -> Self {
        let emulator = Emulator::start().await.unwrap();
        let dataverse = emulator_client(&emulator, RetryPolicy::none());
        Backend {
            kind: Kind::Emulated(emulator),
            dataverse,
        }
    }

    fn server(&self) -> Option<&MockServer> {
        match &self.kind {
            Kind::Mock(server) => Some(server),
            Kind::Emulated(_) => None,
        }
    }

    /// The Web API base URL, ending in `/`.
    fn base(&self) -> String {
        match &self.kind {
            Kind::Mock(server) => format!("{}/api/data/v9.2/", server.uri()),
            Kind::Emulated(emulator) => emulator.urls().dataverse.clone(),
        }
    }

    /// A seeded open opportunity (on wiremock: the scripted id).
    fn opportunity(&self, row: Value) -> Uuid {
        match &self.kind {
            Kind::Mock(_) => id(OPPORTUNITY_ID),
            Kind::Emulated(emulator) => emulator.dataverse().seed("opportunities", row).unwrap(),
        }
    }

    /// The client sent these requests, and no others: wiremock counts them all, the emulator
    /// counts them per operation.
    async fn assert_sent(&self, operations: &[(&str, usize)]) {
        let total: usize = operations.iter().map(|(_, n)| n).sum();
        match &self.kind {
            Kind::Mock(server) => {
                assert_eq!(server.received_requests().await.unwrap().len(), total);
            }
            Kind::Emulated(emulator) => {
                for (operation, expected) in operations {
                    assert_eq!(
                        emulator.count(EmulatedApi::Dataverse, operation),
                        *expected,
                        "{operation}"
                    );
                }
                assert_eq!(emulator.count_all(EmulatedApi::Dataverse), total);
            }
        }
    }

    async fn mount(&self, mock: Mock) {
        if let Some(server) = self.server() {
            mock.mount(server).await;
        }
    }
}

macro_rules! against_both {
    ($($suite:ident),* $(,)?) => {$(
        mod $suite {
            #[tokio::test]
            async fn against_wiremock() {
                super::$suite(&super::Backend::mock().await).await;
            }

            #[tokio::test]
            async fn against_the_emulator() {
                super::$suite(&super::Backend::emulated().await).await;
            }
        }
    )*};
}

against_both!(
    suite_create_then_retrieve,
    suite_update_with_an_etag_then_a_stale_one,
    suite_upsert_by_alternate_key_creates_then_updates,
    suite_create_only_conflicts_on_an_existing_row,
    suite_delete_then_retrieve_is_not_found,
    suite_query_filters_orders_and_pages,
    suite_batch_with_one_failure,
    suite_win_and_lose,
    suite_metadata,
);

// ---------------------------------------------------------------------------------------------
// The shared suite

async fn suite_create_then_retrieve(b: &Backend) {
    let base = b.base();
    b.mount(
        Mock::given(method("POST"))
            .and(path("/api/data/v9.2/opportunities"))
            .respond_with(ResponseTemplate::new(204).insert_header(
                "OData-EntityId",
                format!("{base}opportunities({OPPORTUNITY_ID})"),
            )),
    )
    .await;
    b.mount(
        Mock::given(method("GET"))
            .and(path(format!(
                "/api/data/v9.2/opportunities({OPPORTUNITY_ID})"
            )))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "@odata.etag": "W/\"1000001\"",
                "opportunityid": OPPORTUNITY_ID,
                "name": "Contoso expansion",
                "estimatedvalue": 50000.0,
                "estimatedclosedate": "2025-09-30",
                "statecode": 0,
                "statuscode": 1,
                "_transactioncurrencyid_value": "7d9d8c3b-0000-4d9b-8a55-000000000001",
            }))),
    )
    .await;
    let table = b.dataverse.opportunities();
    let id = table
        .create(&json!({
            "name": "Contoso expansion",
            "estimatedvalue": 50000,
            "estimatedclosedate": "2025-09-30",
        }))
        .send()
        .await
        .unwrap();
    let row: Opportunity = table
        .retrieve(id)
        .select([
            "name",
            "estimatedvalue",
            "estimatedclosedate",
            "statecode",
            "statuscode",
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(row.id, Some(id));
    assert_eq!(row.name.as_deref(), Some("Contoso expansion"));
    assert_eq!(row.estimated_value, Some(Decimal::from(50000)));
    assert_eq!(row.estimated_close_date, Some(date(2025, 9, 30)));
    assert_eq!(row.state, Some(OpportunityState::Open));
    assert_eq!(row.status, Some(OpportunityStatus::InProgress));
    // A money column brings its currency: the organisation's base currency (USD).
    assert!(row.transaction_currency_id.is_some());
    assert!(row.etag.as_deref().unwrap().starts_with("W/\""));
    b.assert_sent(&[("dataverse.create", 1), ("dataverse.retrieve", 1)])
        .await;
}

async fn suite_update_with_an_etag_then_a_stale_one(b: &Backend) {
    let id = b.opportunity(json!({"name": "Before"}));
    let get = || {
        Mock::given(method("GET")).and(path(format!(
            "/api/data/v9.2/opportunities({OPPORTUNITY_ID})"
        )))
    };
    b.mount(
        get()
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"@odata.etag": "W/\"1\"", "opportunityid": OPPORTUNITY_ID, "name": "Before"}),
            ))
            .up_to_n_times(1)
            .with_priority(1),
    )
    .await;
    b.mount(get().respond_with(ResponseTemplate::new(200).set_body_json(
        json!({"@odata.etag": "W/\"2\"", "opportunityid": OPPORTUNITY_ID, "name": "After"}),
    )))
    .await;
    b.mount(
        Mock::given(method("PATCH"))
            .and(header("if-match", "W/\"1\""))
            .respond_with(ResponseTemplate::new(204))
            .up_to_n_times(1)
            .with_priority(1),
    )
    .await;
    b.mount(Mock::given(method("PATCH")).respond_with(
        ResponseTemplate::new(412).set_body_json(json!({"error": {
            "code": "0x80060882",
            "message": "The version of the existing record doesn't match the RowVersion property provided.",
        }})),
    ))
    .await;
    let table = b.dataverse.opportunities();
    let before: Opportunity = table.retrieve(id).select(["name"]).send().await.unwrap();
    let etag = before.etag.clone().unwrap();
    table
        .update(id, &json!({"name": "After"}))
        .if_match(&etag)
        .send()
        .await
        .unwrap();
    let err = table
        .update(id, &json!({"name": "Again"}))
        .if_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::PreconditionFailed));
    assert!(err.is_conflict());
    assert_eq!(err.code(), Some("0x80060882"));
    let after: Opportunity = table.retrieve(id).select(["name"]).send().await.unwrap();
    assert_eq!(after.name.as_deref(), Some("After"));
    assert_ne!(after.etag, before.etag, "a write changes the ETag");
    b.assert_sent(&[("dataverse.retrieve", 2), ("dataverse.update", 2)])
        .await;
}

async fn suite_upsert_by_alternate_key_creates_then_updates(b: &Backend) {
    let patch = || {
        Mock::given(method("PATCH")).and(path(
            "/api/data/v9.2/opportunities(cosell_referralid='REF-1')",
        ))
    };
    let row = |name: &str| json!({"@odata.etag": "W/\"5\"", "opportunityid": OPPORTUNITY_ID, "name": name});
    b.mount(
        patch()
            .respond_with(ResponseTemplate::new(201).set_body_json(row("First")))
            .up_to_n_times(1)
            .with_priority(1),
    )
    .await;
    b.mount(patch().respond_with(ResponseTemplate::new(200).set_body_json(row("Second"))))
        .await;
    let table = b.dataverse.opportunities();
    let key = RecordKey::alternate([("cosell_referralid", "REF-1")]);
    let created = table
        .upsert(key.clone(), &json!({"name": "First"}))
        .returning::<Opportunity>(&["opportunityid", "name"])
        .send()
        .await
        .unwrap();
    assert_eq!(created.kind, UpsertKind::Created);
    assert_eq!(created.record.name.as_deref(), Some("First"));
    let updated = table
        .upsert(key, &json!({"name": "Second"}))
        .returning::<Opportunity>(&["name"])
        .send()
        .await
        .unwrap();
    assert_eq!(updated.kind, UpsertKind::Updated);
    assert_eq!(updated.record.name.as_deref(), Some("Second"));
    assert_eq!(updated.record.id, created.record.id, "the same row");
    b.assert_sent(&[("dataverse.upsert", 2)]).await;
}

async fn suite_create_only_conflicts_on_an_existing_row(b: &Backend) {
    let new_id = id("aaaaaaaa-0000-4000-8000-00000000abcd");
    b.mount(
        Mock::given(method("PATCH"))
            .respond_with(ResponseTemplate::new(204))
            .up_to_n_times(1)
            .with_priority(1),
    )
    .await;
    b.mount(Mock::given(method("PATCH")).respond_with(
        ResponseTemplate::new(412).set_body_json(
            json!({"error": {"code": "", "message": "A record with matching key values already exists."}}),
        ),
    ))
    .await;
    let table = b.dataverse.opportunities();
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
    assert!(err.to_string().contains("already exists"), "{err}");
    b.assert_sent(&[("dataverse.create_only", 2)]).await;
}

async fn suite_delete_then_retrieve_is_not_found(b: &Backend) {
    let id = b.opportunity(json!({"name": "Doomed"}));
    b.mount(Mock::given(method("DELETE")).respond_with(ResponseTemplate::new(204)))
        .await;
    b.mount(
        Mock::given(method("GET")).respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "error": {"code": "0x80040217", "message": format!("opportunity With Id = {OPPORTUNITY_ID} Does Not Exist")}
        }))),
    )
    .await;
    let table = b.dataverse.opportunities();
    table.delete(id).send().await.unwrap();
    let err = table.retrieve(id).send::<Opportunity>().await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.code(), Some("0x80040217"));
    b.assert_sent(&[("dataverse.delete", 1), ("dataverse.retrieve", 1)])
        .await;
}

#[derive(Debug, Deserialize)]
struct Named {
    name: Option<String>,
    estimatedvalue: Option<f64>,
}

async fn suite_query_filters_orders_and_pages(b: &Backend) {
    for (name, value) in [
        ("Paging 1", 100),
        ("Paging 2", 200),
        ("Other 9", 900),
        ("Paging 3", 300),
        ("Paging 4", 400),
        ("Paging 5", 500),
    ] {
        b.opportunity(json!({"name": name, "estimatedvalue": value}));
    }
    let base = b.base();
    let page = |names: &[(&str, f64)], next: Option<String>| {
        let mut body = json!({
            "@odata.context": format!("{base}$metadata#opportunities(name,estimatedvalue)"),
            "value": names.iter().map(|(n, v)| json!({"@odata.etag": "W/\"1\"", "opportunityid": Uuid::new_v4(), "name": n, "estimatedvalue": v})).collect::<Vec<_>>(),
        });
        if let Some(next) = next {
            body["@odata.nextLink"] = json!(next);
        }
        ResponseTemplate::new(200).set_body_json(body)
    };
    let next = format!("{base}opportunities?$skiptoken=page2");
    b.mount(
        Mock::given(method("GET"))
            .and(wiremock::matchers::query_param("$skiptoken", "page2"))
            .respond_with(page(&[("Paging 3", 300.0), ("Paging 2", 200.0)], None))
            .with_priority(1),
    )
    .await;
    b.mount(Mock::given(method("GET")).respond_with(page(
        &[("Paging 5", 500.0), ("Paging 4", 400.0)],
        Some(next),
    )))
    .await;
    let query = Query::new()
        .select(["name", "estimatedvalue"])
        .filter(
            Filter::starts_with("name", "Paging ")
                .and(Filter::ge("estimatedvalue", 200))
                .and(Filter::eq("statecode", 0)),
        )
        .order_by("estimatedvalue", Order::Descending)
        .page_size(2);
    let mut pager = b.dataverse.opportunities().query::<Named>(&query);
    let mut pages = Vec::new();
    while let Some(page) = pager.next_page().await.unwrap() {
        pages.push(
            page.items
                .into_iter()
                .map(|r| (r.name.unwrap(), r.estimatedvalue.unwrap()))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(
        pages,
        vec![
            vec![
                ("Paging 5".to_string(), 500.0),
                ("Paging 4".to_string(), 400.0)
            ],
            vec![
                ("Paging 3".to_string(), 300.0),
                ("Paging 2".to_string(), 200.0)
            ],
        ]
    );
    b.assert_sent(&[("dataverse.query", 2)]).await;
}

async fn suite_batch_with_one_failure(b: &Backend) {
    let opportunity = b.opportunity(json!({"name": "Fabrikam"}));
    let server_base = b.base().trim_end_matches("/api/data/v9.2/").to_owned();
    b.mount(
        Mock::given(method("POST")).respond_with(ResponseTemplate::new(200).set_body_raw(
            fixture("batch_mixed_response.txt", &server_base),
            "multipart/mixed; boundary=batchresponse_7a3c",
        )),
    )
    .await;
    let missing = id("dddddddd-0000-4000-8000-000000000004");
    let batch = Batch::new()
        .change_set([
            BatchOperation::create("accounts", &json!({"name": "Fabrikam"})).unwrap(),
            BatchOperation::update(
                "opportunities",
                opportunity,
                &json!({"parentaccountid@odata.bind": "$1"}),
            )
            .unwrap(),
        ])
        .operation(BatchOperation::retrieve("opportunities", opportunity, &["name"]).unwrap())
        .operation(BatchOperation::delete("contacts", missing).unwrap());
    let outcomes = b.dataverse.execute_batch(&batch).await.unwrap();
    assert_eq!(outcomes.len(), 4);
    let account = match &outcomes[0] {
        BatchOutcome::Succeeded(r) => {
            assert_eq!(r.status.as_u16(), 204);
            assert_eq!(r.content_id.as_deref(), Some("1"));
            r.id().unwrap()
        }
        other => panic!("{other:?}"),
    };
    match &outcomes[1] {
        BatchOutcome::Succeeded(r) => assert_eq!(r.id(), Some(opportunity)),
        other => panic!("{other:?}"),
    }
    match &outcomes[2] {
        BatchOutcome::Succeeded(r) => {
            let row: Opportunity = r.json().unwrap();
            assert_eq!(row.name.as_deref(), Some("Fabrikam"));
            assert_eq!(row.id, Some(opportunity));
        }
        other => panic!("{other:?}"),
    }
    match &outcomes[3] {
        BatchOutcome::Failed(err) => {
            assert!(err.is_not_found());
            assert_eq!(err.code(), Some("0x80040217"));
        }
        other => panic!("{other:?}"),
    }
    assert_ne!(account, opportunity);
    // One request for the whole batch.
    b.assert_sent(&[("dataverse.batch", 1)]).await;
}

async fn suite_win_and_lose(b: &Backend) {
    let won = b.opportunity(json!({"name": "Win me", "estimatedvalue": 1000}));
    let lost = match &b.kind {
        Kind::Mock(_) => won,
        Kind::Emulated(e) => e
            .dataverse()
            .seed("opportunities", json!({"name": "Lose me"}))
            .unwrap(),
    };
    b.mount(Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)))
        .await;
    b.dataverse
        .win_opportunity(
            won,
            OpportunityStatus::Won,
            &OpportunityClose::new("Won via Partner Center")
                .actual_revenue("1250.00".parse().unwrap())
                .actual_end(date(2025, 9, 30)),
        )
        .await
        .unwrap();
    b.dataverse
        .lose_opportunity(
            lost,
            OpportunityStatus::OutSold,
            &OpportunityClose::new("Lost").description("competitor"),
        )
        .await
        .unwrap();
    b.assert_sent(&[("dataverse.action", 2)]).await;
    if let Kind::Emulated(emulator) = &b.kind {
        let control = emulator.dataverse();
        let won = control.record("opportunities", won).unwrap();
        assert_eq!(won["statecode"], 1);
        assert_eq!(won["statuscode"], 3);
        assert_eq!(won["actualvalue"].as_f64(), Some(1250.0));
        assert_eq!(won["actualclosedate"], "2025-09-30");
        let lost = control.record("opportunities", lost).unwrap();
        assert_eq!(
            (lost["statecode"].clone(), lost["statuscode"].clone()),
            (json!(2), json!(5))
        );
        let closes = control.records("opportunitycloses");
        assert_eq!(closes.len(), 2);
        assert_eq!(closes[1]["description"], "competitor");
    }
}

async fn suite_metadata(b: &Backend) {
    let base = b.base();
    let entity = "/api/data/v9.2/EntityDefinitions(LogicalName='opportunity')";
    let json_file = |name: &str| -> Value { serde_json::from_str(&fixture(name, &base)).unwrap() };
    b.mount(
        Mock::given(method("GET")).and(path(entity)).respond_with(
            ResponseTemplate::new(200).set_body_json(json_file("metadata_entity.json")),
        ),
    )
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
        b.mount(
            Mock::given(method("GET"))
                .and(path(format!(
                    "{entity}/Attributes/Microsoft.Dynamics.CRM.{cast}"
                )))
                .respond_with(ResponseTemplate::new(200).set_body_json(json_file(file))),
        )
        .await;
    }
    let table = b.dataverse.table_metadata("opportunity").await.unwrap();
    assert_eq!(table.entity_set_name.as_deref(), Some("opportunities"));
    assert_eq!(table.primary_id_attribute.as_deref(), Some("opportunityid"));
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
    assert!(help.has_option(9));
    let state = table.column("statecode").unwrap();
    assert_eq!(state.options.len(), 3);
    assert_eq!(state.options[1].label.as_deref(), Some("Won"));
    assert_eq!(state.valid_for_create, Some(false));
    b.assert_sent(&[("dataverse.metadata", 5)]).await;
}

// ---------------------------------------------------------------------------------------------
// The emulator alone

async fn emulated() -> (Emulator, Dataverse) {
    let emulator = Emulator::start().await.unwrap();
    let client = emulator_client(&emulator, RetryPolicy::none());
    (emulator, client)
}

#[derive(Debug, Deserialize)]
struct NameOnly {
    name: String,
}

/// Names of the opportunities a filter selects, in name order.
async fn names(client: &Dataverse, filter: Filter) -> cosell::Result<Vec<String>> {
    let query = Query::new()
        .select(["name"])
        .filter(filter)
        .order_by("name", Order::Ascending);
    let rows = client
        .opportunities()
        .query::<NameOnly>(&query)
        .collect_all()
        .await?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

#[tokio::test]
async fn every_filter_form_the_builder_emits_is_evaluated_on_seeded_rows() {
    let (emulator, client) = emulated().await;
    let control = emulator.dataverse();
    let fabrikam = control
        .seed(
            "accounts",
            json!({"name": "Fabrikam", "accountnumber": "F-1"}),
        )
        .unwrap();
    let contoso = control
        .seed(
            "accounts",
            json!({"name": "Contoso", "accountnumber": "C-1"}),
        )
        .unwrap();
    let seed = |row: Value| control.seed("opportunities", row).unwrap();
    seed(json!({
        "name": "50% off", "estimatedvalue": 100, "closeprobability": 10,
        "estimatedclosedate": "2025-01-15", "cosell_syncwithpartnercenter": true,
        "parentaccountid@odata.bind": format!("/accounts({fabrikam})"),
        "cosell_howcanmicrosofthelp": "1,9",
    }));
    seed(json!({
        "name": "500 off", "estimatedvalue": 250.5, "closeprobability": 50,
        "estimatedclosedate": "2025-06-30", "cosell_syncwithpartnercenter": false,
        "parentaccountid@odata.bind": format!("/accounts({contoso})"),
        "description": "has a description",
    }));
    seed(json!({
        "name": "a_b", "estimatedvalue": 900, "closeprobability": 90,
        "estimatedclosedate": "2026-03-01", "statuscode": 2,
        "cosell_howcanmicrosofthelp": "2",
    }));
    seed(json!({"name": "axb", "statecode": 2, "statuscode": 5}));
    seed(json!({"name": "O'Neil [deal]", "estimatedvalue": 300, "cosell_referralid": "R-9"}));

    let n = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let cases: Vec<(Filter, Vec<String>)> = vec![
        (Filter::eq("name", "50% OFF"), n(&["50% off"])),
        (Filter::ne("statecode", 0), n(&["axb"])),
        (
            Filter::gt("estimatedvalue", 250),
            n(&["500 off", "a_b", "O'Neil [deal]"]),
        ),
        (
            Filter::ge("estimatedvalue", Decimal::new(2505, 1)),
            n(&["500 off", "a_b", "O'Neil [deal]"]),
        ),
        (Filter::lt("closeprobability", 50), n(&["50% off"])),
        (
            Filter::le("closeprobability", 50),
            n(&["50% off", "500 off"]),
        ),
        (Filter::contains("name", "0%"), n(&["50% off"])),
        (Filter::contains("name", "_"), n(&["a_b"])),
        (Filter::contains("name", "[deal]"), n(&["O'Neil [deal]"])),
        (
            Filter::starts_with("name", "50"),
            n(&["50% off", "500 off"]),
        ),
        (Filter::ends_with("name", "B"), n(&["a_b", "axb"])),
        (Filter::eq("name", "O'Neil [deal]"), n(&["O'Neil [deal]"])),
        (Filter::is_in("statuscode", [2, 5]), n(&["a_b", "axb"])),
        (
            Filter::is_in("name", ["axb", "a_b", "nothing"]),
            n(&["a_b", "axb"]),
        ),
        (Filter::is_in("name", Vec::<&str>::new()), n(&[])),
        (
            Filter::eq("_parentaccountid_value", fabrikam),
            n(&["50% off"]),
        ),
        (
            Filter::eq("parentaccountid/name", "Contoso"),
            n(&["500 off"]),
        ),
        (
            Filter::is_null("_parentaccountid_value"),
            n(&["a_b", "axb", "O'Neil [deal]"]),
        ),
        (Filter::ne("description", ODataValue::Null), n(&["500 off"])),
        (
            Filter::eq("cosell_syncwithpartnercenter", true),
            n(&["50% off"]),
        ),
        (
            Filter::ge("estimatedclosedate", date(2025, 6, 30)),
            n(&["500 off", "a_b"]),
        ),
        (
            Filter::lt(
                "createdon",
                "2000-01-01T00:00:00Z".parse::<jiff::Timestamp>().unwrap(),
            ),
            n(&[]),
        ),
        (
            Filter::gt(
                "modifiedon",
                "2000-01-01T00:00:00Z".parse::<jiff::Timestamp>().unwrap(),
            )
            .and(Filter::eq("cosell_referralid", "R-9")),
            n(&["O'Neil [deal]"]),
        ),
        (
            Filter::eq("statecode", 0)
                .and(Filter::gt("estimatedvalue", 200).or(Filter::eq("name", "50% off"))),
            n(&["50% off", "500 off", "a_b", "O'Neil [deal]"]),
        ),
        (
            Filter::eq("statecode", 0).and(Filter::contains("name", "off").not()),
            n(&["a_b", "O'Neil [deal]"]),
        ),
        (
            Filter::crm_function(
                "Between",
                "estimatedvalue",
                &[ODataValue::from(100), ODataValue::from(300)],
            ),
            n(&["50% off", "500 off", "O'Neil [deal]"]),
        ),
        (
            Filter::crm_function(
                "ContainValues",
                "cosell_howcanmicrosofthelp",
                &[ODataValue::from(9)],
            ),
            n(&["50% off"]),
        ),
        (
            Filter::crm_function(
                "On",
                "estimatedclosedate",
                &[ODataValue::from(date(2025, 1, 15))],
            ),
            n(&["50% off"]),
        ),
        (
            Filter::crm_function(
                "OnOrAfter",
                "estimatedclosedate",
                &[ODataValue::from(date(2025, 6, 30))],
            ),
            n(&["500 off", "a_b"]),
        ),
        (
            Filter::crm_function("LastXDays", "createdon", &[ODataValue::from(1)])
                .and(Filter::crm_function("Today", "modifiedon", &[])),
            n(&["50% off", "500 off", "a_b", "axb", "O'Neil [deal]"]),
        ),
        (
            Filter::crm_function("OlderThanXDays", "modifiedon", &[ODataValue::from(1)]),
            n(&[]),
        ),
        (
            Filter::crm_function("NextXDays", "createdon", &[ODataValue::from(1)]),
            n(&["50% off", "500 off", "a_b", "axb", "O'Neil [deal]"]),
        ),
        (
            // Seeded by the CRM user, queried as the application user.
            Filter::crm_function("EqualUserId", "createdby", &[]),
            n(&[]),
        ),
        (
            Filter::crm_function("NotEqualUserId", "ownerid", &[]),
            n(&["50% off", "500 off", "a_b", "axb", "O'Neil [deal]"]),
        ),
        (
            Filter::crm_function("NotNull", "cosell_referralid", &[]),
            n(&["O'Neil [deal]"]),
        ),
    ];
    for (filter, expected) in cases {
        let text = filter.to_string();
        let got = names(&client, filter)
            .await
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(got, expected, "{text}");
    }
}

#[tokio::test]
async fn a_filter_outside_the_subset_is_a_400_as_for_a_malformed_query() {
    let (_emulator, client) = emulated().await;
    for filter in [
        "substringof('x',name)",
        "name eqq 'x'",
        "name eq 'unterminated",
        "nosuchcolumn eq 1",
        "statecode eq 'open'",
        "contains(statecode,'1')",
        "Microsoft.Dynamics.CRM.Above(PropertyName='parentaccountid',PropertyValue='x')",
        "Microsoft.Dynamics.CRM.LastXDays(PropertyName='name',PropertyValue='3')",
        "Microsoft.Dynamics.CRM.On(PropertyName='createdon',PropertyValue='not a date')",
    ] {
        let err = client
            .pipeline()
            .get(["opportunities"])
            .query("$filter", filter)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), Some(ApiErrorKind::BadRequest), "{filter}");
        assert_eq!(err.code(), Some("0x80060888"), "{filter}");
    }
    // The typed builder's unsupported function gets the same answer.
    let err = names(
        &client,
        Filter::crm_function("UnderOrEqual", "parentaccountid", &[ODataValue::from(3)]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::BadRequest));
    for (name, value) in [("$skip", "1"), ("$top", "x"), ("$select", "nosuch")] {
        let err = client
            .pipeline()
            .get(["opportunities"])
            .query(name, value)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), Some(ApiErrorKind::BadRequest), "{name}");
    }
}

#[tokio::test]
async fn top_count_and_page_size_shape_the_answer() {
    let (emulator, client) = emulated().await;
    for i in 0..7 {
        emulator
            .dataverse()
            .seed("accounts", json!({"name": format!("Account {i}")}))
            .unwrap();
    }
    let top: Value = client
        .pipeline()
        .get(["accounts"])
        .query("$select", "name")
        .query("$top", "3")
        .query("$count", "true")
        .send_json()
        .await
        .unwrap();
    assert_eq!(top["value"].as_array().unwrap().len(), 3);
    assert_eq!(top["@odata.count"], 7);
    assert!(top.get("@odata.nextLink").is_none());
    let first = client
        .pipeline()
        .get(["accounts"])
        .header("prefer", "odata.maxpagesize=5")
        .send()
        .await
        .unwrap();
    assert_eq!(
        first.header("preference-applied"),
        Some("odata.maxpagesize=5")
    );
    let body: Value = first.json().unwrap();
    let next = body["@odata.nextLink"].as_str().unwrap();
    assert!(next.starts_with(&emulator.urls().dataverse), "{next}");
    assert!(next.contains("%24skiptoken="), "{next}");
    let rows = client
        .table("accounts")
        .query::<NameOnly>(&Query::new().select(["name"]).page_size(5))
        .collect_all()
        .await
        .unwrap();
    assert_eq!(rows.len(), 7);
    // Two single requests, then two pages.
    assert_eq!(emulator.count(EmulatedApi::Dataverse, "dataverse.query"), 4);
}

#[tokio::test]
async fn etags_change_on_every_write_and_conditions_are_honoured() {
    let (emulator, client) = emulated().await;
    let control = emulator.dataverse();
    let table = client.opportunities();
    let id = table.create(&json!({"name": "ETag"})).send().await.unwrap();
    let select = ["name", "modifiedon", "versionnumber"];
    let first: Opportunity = table.retrieve(id).select(select).send().await.unwrap();
    let etag = first.etag.clone().unwrap();
    assert_eq!(etag, format!("W/\"{}\"", first.version_number.unwrap()));
    assert!(first.modified_on.is_some());
    // Unchanged: a conditional retrieve answers 304.
    let unchanged = table
        .retrieve(id)
        .select(select)
        .if_none_match(&etag)
        .send::<Opportunity>()
        .await
        .unwrap();
    assert!(unchanged.is_none());
    // A CRM user's edit changes the ETag.
    control
        .edit(
            "opportunities",
            id,
            json!({"description": "edited in the app"}),
        )
        .unwrap();
    let changed = table
        .retrieve(id)
        .select(select)
        .if_none_match(&etag)
        .send::<Opportunity>()
        .await
        .unwrap()
        .unwrap();
    let second = changed.etag.clone().unwrap();
    assert_ne!(second, etag);
    assert!(changed.version_number > first.version_number);
    // Stale If-Match on update and delete: 412; the row is untouched.
    for err in [
        table
            .update(id, &json!({"name": "x"}))
            .if_match(&etag)
            .send()
            .await
            .unwrap_err(),
        table.delete(id).if_match(&etag).send().await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), Some(ApiErrorKind::PreconditionFailed));
        assert_eq!(err.code(), Some("0x80060882"));
    }
    table.delete(id).if_match(&second).send().await.unwrap();
    assert!(control.record("opportunities", id).is_none());
    // Update-only (`If-Match: *`) of a missing row is a 404, not a create.
    let err = table
        .update(id, &json!({"name": "ghost"}))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert!(control.record("opportunities", id).is_none());
}

#[tokio::test]
async fn upsert_keys_create_update_and_refuse_as_the_service_does() {
    let (emulator, client) = emulated().await;
    let control = emulator.dataverse();
    let table = client.opportunities();
    let key = RecordKey::alternate([("cosell_referralid", "O'Neil-1")]);
    // Without a representation: 204 both ways, the entity id echoes the key, not a GUID.
    let created = table
        .upsert(key.clone(), &json!({"name": "Via key"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.kind, UpsertKind::Unknown);
    assert_eq!(created.id, None);
    assert!(
        created
            .entity_id
            .as_deref()
            .unwrap()
            .ends_with("opportunities(cosell_referralid='O''Neil-1')"),
        "{:?}",
        created.entity_id
    );
    table
        .upsert(key.clone(), &json!({"name": "Renamed"}))
        .send()
        .await
        .unwrap();
    let rows = control.records("opportunities");
    assert_eq!(rows.len(), 1, "one row for one key");
    assert_eq!(
        control
            .tags(
                "opportunities",
                rows[0]["opportunityid"].as_str().unwrap().parse().unwrap()
            )
            .len(),
        2
    );
    assert_eq!(rows[0]["name"], "Renamed");
    assert_eq!(rows[0]["cosell_referralid"], "O'Neil-1");
    // A key value outside ASCII comes back percent-encoded in the entity id.
    let accented = table
        .upsert(
            RecordKey::alternate([("cosell_referralid", "Müller 1")]),
            &json!({"name": "Accented"}),
        )
        .send()
        .await
        .unwrap();
    assert!(
        accented
            .entity_id
            .as_deref()
            .unwrap()
            .ends_with("(cosell_referralid='M%C3%BCller%201')"),
        "{:?}",
        accented.entity_id
    );
    // Upsert by primary key creates the row with the caller's GUID.
    let chosen = Uuid::new_v4();
    let by_id = table
        .upsert(chosen, &json!({"name": "Chosen id"}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_id.id, Some(chosen));
    assert!(control.record("opportunities", chosen).is_some());
    // A column that is not a key.
    let err = table
        .upsert(RecordKey::alternate([("name", "Renamed")]), &json!({}))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::BadRequest));
    assert!(err.to_string().contains("key in the request URI"), "{err}");
    // A second row with the same alternate key value.
    let err = table
        .create(&json!({"name": "Clash", "cosell_referralid": "o'neil-1"}))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_conflict());
    // A key added by customisation works for lookups by key.
    control
        .add_alternate_key("opportunities", &["name", "_parentaccountid_value"])
        .unwrap();
    let account = control.seed("accounts", json!({"name": "Keyed"})).unwrap();
    let composite = RecordKey::alternate([
        ("name", cosell::dataverse::KeyValue::from("Two part")),
        (
            "_parentaccountid_value",
            cosell::dataverse::KeyValue::from(account),
        ),
    ]);
    let err = table
        .upsert(composite.clone(), &json!({"description": "d"}))
        .send()
        .await;
    assert!(err.is_ok(), "{err:?}");
    let made = control
        .records("opportunities")
        .into_iter()
        .find(|r| r["name"] == "Two part")
        .unwrap();
    assert_eq!(made["_parentaccountid_value"], account.to_string());
}

#[tokio::test]
async fn create_refuses_statecode_and_closing_needs_the_actions() {
    let (emulator, client) = emulated().await;
    let table = client.opportunities();
    let err = table
        .create(&json!({"name": "Born won", "statecode": 1}))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::BadRequest));
    assert!(err.to_string().contains("statecode"), "{err}");
    let id = table.create(&json!({"name": "Open"})).send().await.unwrap();
    let err = table
        .update(id, &json!({"statecode": 1, "statuscode": 3}))
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("WinOpportunity"), "{err}");
    // A status of the wrong state, then a second close.
    let err = client
        .win_opportunity(id, OpportunityStatus::OutSold, &OpportunityClose::new("x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::BadRequest));
    client
        .win_opportunity(id, OpportunityStatus::Won, &OpportunityClose::new("Won"))
        .await
        .unwrap();
    let err = client
        .lose_opportunity(id, OpportunityStatus::Canceled, &OpportunityClose::new("x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::BadRequest));
    let err = client
        .win_opportunity(
            Uuid::new_v4(),
            OpportunityStatus::Won,
            &OpportunityClose::new("x"),
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    // Reopening by PATCH is allowed and takes the open state's default status.
    table
        .update(id, &json!({"statecode": 0}))
        .send()
        .await
        .unwrap();
    let row = emulator.dataverse().record("opportunities", id).unwrap();
    assert_eq!(
        (row["statecode"].clone(), row["statuscode"].clone()),
        (json!(0), json!(1))
    );
    assert_eq!(
        emulator.count(EmulatedApi::Dataverse, "dataverse.action"),
        4
    );
}

#[tokio::test]
async fn a_failed_change_set_rolls_back_and_a_stopped_batch_skips_the_rest() {
    let (emulator, client) = emulated().await;
    let control = emulator.dataverse();
    let opportunity = control
        .seed("opportunities", json!({"name": "Target"}))
        .unwrap();
    let batch = Batch::new()
        .continue_on_error(false)
        .change_set([
            BatchOperation::create("accounts", &json!({"name": "Rolled back"})).unwrap(),
            BatchOperation::update_if_match(
                "opportunities",
                opportunity,
                &json!({"name": "B"}),
                "W/\"1\"",
            )
            .unwrap(),
        ])
        .operation(BatchOperation::create("accounts", &json!({"name": "Never run"})).unwrap());
    let outcomes = client.execute_batch(&batch).await.unwrap();
    assert!(
        matches!(outcomes[0], BatchOutcome::RolledBack),
        "{outcomes:?}"
    );
    match &outcomes[1] {
        BatchOutcome::Failed(err) => assert_eq!(err.kind(), Some(ApiErrorKind::PreconditionFailed)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(outcomes[2], BatchOutcome::NotExecuted));
    assert!(control.records("accounts").is_empty(), "nothing was kept");
    assert_eq!(
        control.record("opportunities", opportunity).unwrap()["name"],
        "Target"
    );
    assert_eq!(
        control.writes().len(),
        1,
        "only the seed: rolled-back writes leave no trace"
    );

    // With continue-on-error, later operations run after a failure.
    let batch = Batch::new()
        .operation(BatchOperation::delete("contacts", Uuid::new_v4()).unwrap())
        .change_set([
            BatchOperation::create("accounts", &json!({"name": "Kept"})).unwrap(),
            BatchOperation::update(
                "opportunities",
                opportunity,
                &json!({"parentaccountid@odata.bind": "$1"}),
            )
            .unwrap(),
        ]);
    let outcomes = client.execute_batch(&batch).await.unwrap();
    assert!(matches!(outcomes[0], BatchOutcome::Failed(_)));
    let account = match &outcomes[1] {
        BatchOutcome::Succeeded(r) => r.id().unwrap(),
        other => panic!("{other:?}"),
    };
    assert!(outcomes[2].is_success());
    let row = control.record("opportunities", opportunity).unwrap();
    assert_eq!(row["_parentaccountid_value"], account.to_string());
    // Batched writes are tagged like single ones.
    assert!(
        control
            .writes()
            .iter()
            .filter(|w| w.source == DataverseWriteSource::Api)
            .all(|w| w.tag.as_deref() == Some("cosell") && w.flows_suppressed)
    );
    assert_eq!(emulator.count(EmulatedApi::Dataverse, "dataverse.batch"), 2);
}

#[tokio::test]
async fn every_write_records_its_tag_and_who_made_it() {
    let (emulator, client) = emulated().await;
    let control = emulator.dataverse();
    let id = client
        .opportunities()
        .create(&json!({"name": "Tagged"}))
        .send()
        .await
        .unwrap();
    client
        .opportunities()
        .tag("other-origin")
        .suppress_flows(false)
        .update(id, &json!({"name": "Retagged"}))
        .send()
        .await
        .unwrap();
    client
        .opportunities()
        .no_tag()
        .update(id, &json!({"name": "Untagged"}))
        .send()
        .await
        .unwrap();
    control.flag_for_sync(id).unwrap();
    assert_eq!(
        control.tags("opportunities", id),
        vec![
            Some("cosell".to_string()),
            Some("other-origin".to_string()),
            None,
            None
        ]
    );
    let writes = control.writes();
    assert!(writes[0].flows_suppressed);
    assert!(!writes[1].flows_suppressed);
    assert_eq!(writes[0].source, DataverseWriteSource::Api);
    assert_eq!(writes[3].source, DataverseWriteSource::CrmUser);
    assert!(writes.windows(2).all(|w| w[0].version < w[1].version));
    let row = control.record("opportunities", id).unwrap();
    assert_eq!(row["_modifiedby_value"], control.crm_user_id().to_string());
    assert_eq!(
        row["_createdby_value"],
        control.application_user_id().to_string()
    );
    assert_eq!(row["cosell_syncwithpartnercenter"], true);
    // The client sees the CRM user's flag.
    let flagged = client
        .opportunities()
        .query::<NameOnly>(
            &Query::new()
                .select(["name"])
                .filter(Filter::eq("cosell_syncwithpartnercenter", true)),
        )
        .collect_all()
        .await
        .unwrap();
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0].name, "Untagged");
}

#[tokio::test]
async fn currencies_lookups_and_annotations_are_seeded_and_answered() {
    let (emulator, client) = emulated().await;
    let control = emulator.dataverse();
    let eur = client.currency_id("eur").await.unwrap();
    assert_eq!(eur, control.currency_id("EUR"));
    assert!(eur.is_some());
    assert_ne!(control.currency_id("USD"), eur);
    assert_eq!(client.currency_id("JPY").await.unwrap(), None);
    let account = control
        .seed("accounts", json!({"name": "Northwind"}))
        .unwrap();
    let opportunity = client
        .opportunities()
        .create(&json!({
            "name": "Bound",
            "estimatedvalue": 10,
            "customerid_account@odata.bind": format!("/accounts({account})"),
            "transactioncurrencyid@odata.bind": format!("/transactioncurrencies({})", eur.unwrap()),
        }))
        .send()
        .await
        .unwrap();
    let row: Value = client
        .opportunities()
        .retrieve(opportunity)
        .select(["_customerid_value", "statecode"])
        .annotations("*")
        .send()
        .await
        .unwrap();
    assert_eq!(row["_customerid_value"], account.to_string());
    assert_eq!(
        row["_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"],
        "account"
    );
    assert_eq!(
        row["_customerid_value@OData.Community.Display.V1.FormattedValue"],
        "Northwind"
    );
    assert_eq!(
        row["statecode@OData.Community.Display.V1.FormattedValue"],
        "Open"
    );
    let stored = control.record("opportunities", opportunity).unwrap();
    assert_eq!(
        stored["_transactioncurrencyid_value"],
        eur.unwrap().to_string()
    );
    // A bind to a missing row, and to a table the lookup does not target.
    let err = client
        .opportunities()
        .create(&json!({"name": "x", "parentaccountid@odata.bind": format!("/accounts({})", Uuid::new_v4())})).send()
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    let err = client
        .opportunities()
        .create(&json!({"name": "x", "parentaccountid@odata.bind": format!("/contacts({})", Uuid::new_v4())})).send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::BadRequest));
    // Unknown columns and wrong types are refused.
    for body in [
        json!({"nosuch": 1}),
        json!({"estimatedvalue": "ten"}),
        json!({"name": "x".repeat(301)}),
    ] {
        let err = client
            .opportunities()
            .create(&body)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), Some(ApiErrorKind::BadRequest), "{body}");
    }
}

#[tokio::test]
async fn tokens_must_be_issued_for_the_emulated_organisation() {
    let emulator = Emulator::start().await.unwrap();
    let unknown = Dataverse::builder(StaticToken::new("forged"))
        .base_url(&emulator.urls().dataverse)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let err = unknown.currency_id("USD").await.unwrap_err();
    assert!(err.is_auth(), "{err}");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
    // A token for another organisation.
    let authority = EntraAuthority::new(&emulator.urls().entra_authority, "contoso").unwrap();
    let other = ClientCredentials::new(
        authority,
        "app",
        "secret".to_string().into(),
        "https://contoso.crm.dynamics.com/.default",
    )
    .unwrap();
    let client = Dataverse::builder(other)
        .base_url(&emulator.urls().dataverse)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    assert!(client.currency_id("USD").await.unwrap_err().is_auth());
    let good = emulator_client(&emulator, RetryPolicy::none());
    assert!(good.currency_id("USD").await.unwrap().is_some());
    // A revoked token is refused once; the client fetches a new one and replays.
    emulator.tokens().revoke_all();
    assert!(good.currency_id("EUR").await.unwrap().is_some());
    let statuses: Vec<u16> = emulator
        .journal()
        .iter()
        .filter(|e| e.api == EmulatedApi::Dataverse)
        .map(|e| e.status.as_u16())
        .collect();
    assert_eq!(statuses[statuses.len() - 2..], [401, 200]);
}

#[tokio::test]
async fn injected_faults_use_the_dataverse_error_body() {
    let (emulator, _) = emulated().await;
    let client = emulator_client(&emulator, RetryPolicy::default().max_attempts(3));
    emulator.faults().add(
        FaultRule::new(EmulatedApi::Dataverse, Fault::PreconditionFailed)
            .operation("dataverse.update")
            .trigger(Trigger::First(1)),
    );
    emulator.faults().add(
        FaultRule::new(
            EmulatedApi::Dataverse,
            Fault::TooManyRequests {
                retry_after: std::time::Duration::from_secs(2),
            },
        )
        .operation("dataverse.query")
        .trigger(Trigger::First(1)),
    );
    let id = emulator
        .dataverse()
        .seed("opportunities", json!({"name": "Faulty"}))
        .unwrap();
    let err = client
        .opportunities()
        .update(id, &json!({"name": "x"}))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("0x80060882"));
    assert_eq!(err.kind(), Some(ApiErrorKind::PreconditionFailed));
    // The 429 carries the service-protection code and is retried after Retry-After.
    assert!(client.currency_id("USD").await.unwrap().is_some());
    let statuses: Vec<u16> = emulator
        .journal()
        .iter()
        .filter(|e| e.operation == "dataverse.query")
        .map(|e| e.status.as_u16())
        .collect();
    assert_eq!(statuses, [429, 200]);
}

#[tokio::test]
async fn counts_per_operation_match_what_the_client_sent() {
    let (emulator, client) = emulated().await;
    let table = client.opportunities();
    let a = table.create(&json!({"name": "A"})).send().await.unwrap();
    let _: Opportunity = table
        .create(&json!({"name": "B"}))
        .returning(&["opportunityid"])
        .send()
        .await
        .unwrap();
    table
        .update(a, &json!({"name": "A2"}))
        .send()
        .await
        .unwrap();
    table
        .upsert(
            RecordKey::alternate([("cosell_referralid", "K")]),
            &json!({"name": "C"}),
        )
        .send()
        .await
        .unwrap();
    table
        .upsert(Uuid::new_v4(), &json!({"name": "D"}))
        .create_only()
        .send()
        .await
        .unwrap();
    let _: Opportunity = table.retrieve(a).send().await.unwrap();
    table.delete(a).send().await.unwrap();
    let _ = client.table_metadata("account").await.unwrap();
    let whoami: Value = client.pipeline().get(["WhoAmI"]).send_json().await.unwrap();
    assert_eq!(
        whoami["UserId"],
        emulator.dataverse().application_user_id().to_string()
    );
    for (operation, expected) in [
        ("dataverse.create", 2),
        ("dataverse.update", 1),
        ("dataverse.upsert", 1),
        ("dataverse.create_only", 1),
        ("dataverse.retrieve", 1),
        ("dataverse.delete", 1),
        ("dataverse.metadata", 5),
        ("dataverse.whoami", 1),
    ] {
        assert_eq!(
            emulator.count(EmulatedApi::Dataverse, operation),
            expected,
            "{operation}"
        );
    }
    assert_eq!(emulator.count_all(EmulatedApi::Dataverse), 13);
    assert_eq!(emulator.dataverse().records("opportunities").len(), 3);
    // An unknown table is the service's "resource not found".
    let err = client
        .table("nosuchtables")
        .create(&json!({}))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_not_found());
}

#[tokio::test]
async fn the_sample_organisation_reads_through_the_client_with_expanded_lookups() {
    let (emulator, client) = emulated().await;
    let sample = emulator.dataverse().seed_sample().unwrap();
    let flagged: Vec<Value> = client
        .opportunities()
        .query::<Value>(
            &Query::new()
                .select(["name", "estimatedvalue"])
                .filter(
                    Filter::eq("statecode", 0)
                        .and(Filter::eq("cosell_syncwithpartnercenter", true)),
                )
                .expand("customerid_account($select=name,accountnumber)")
                .expand("parentcontactid"),
        )
        .collect_all()
        .await
        .unwrap();
    assert_eq!(flagged.len(), 1);
    let row = &flagged[0];
    assert_eq!(row["opportunityid"], sample.opportunities[0].to_string());
    assert_eq!(row["customerid_account"]["name"], "Fabrikam");
    assert_eq!(row["customerid_account"]["accountnumber"], "F-1000");
    assert!(row["customerid_account"].get("revenue").is_none());
    assert_eq!(row["parentcontactid"]["fullname"], "Dana Reyes");
    // A polymorphic lookup set to an account expands to null through the contact side.
    let single: Value = client
        .opportunities()
        .retrieve(sample.opportunities[1])
        .select(["name"])
        .expand("customerid_contact")
        .expand("customerid_account($select=name)")
        .send()
        .await
        .unwrap();
    assert_eq!(single["customerid_contact"], Value::Null);
    assert_eq!(single["customerid_account"]["name"], "Contoso");
    // Only single-valued navigation properties, and only $select inside.
    for expand in ["opportunity_customer_accounts", "parentaccountid($top=1)"] {
        let err = client
            .opportunities()
            .retrieve(sample.opportunities[0])
            .expand(expand)
            .send::<Value>()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), Some(ApiErrorKind::BadRequest), "{expand}");
    }
    let lost: Opportunity = client
        .opportunities()
        .retrieve(sample.opportunities[2])
        .send()
        .await
        .unwrap();
    assert_eq!(lost.state, Some(OpportunityState::Lost));
    assert_eq!(lost.status, Some(OpportunityStatus::OutSold));
    assert!(
        emulator.dataverse().seed_sample().is_err(),
        "keys stay unique"
    );
    // The crate's typed read of flagged opportunities, as in the module example.
    let columns = cosell::dataverse::CoSellFieldNames::default();
    let typed = client
        .opportunities()
        .query::<Opportunity>(
            &Query::new()
                .select(Opportunity::STANDARD_COLUMNS)
                .select(columns.names())
                .filter(
                    Filter::eq("statecode", 0)
                        .and(Filter::eq(&columns.sync_with_partner_center, true)),
                )
                .page_size(200),
        )
        .collect_all()
        .await
        .unwrap();
    assert_eq!(typed.len(), 1);
    let fields = typed[0].cosell(&columns).unwrap();
    assert_eq!(fields.referral_id.as_deref(), Some("REF-0001"));
    assert_eq!(fields.help_requested, Some(vec![1, 9]));
    assert_eq!(typed[0].customer_id, Some(sample.accounts[0]));
    assert_eq!(typed[0].parent_contact_id, Some(sample.contacts[0]));
    assert_eq!(
        typed[0].transaction_currency_id,
        emulator.dataverse().currency_id("USD")
    );
}

#[tokio::test]
async fn an_added_table_and_column_take_the_same_operations() {
    let (emulator, client) = emulated().await;
    let control = emulator.dataverse();
    control
        .add_table(
            "cosell_auditentry",
            "cosell_auditentries",
            "cosell_name",
            [
                (
                    "cosell_attempts".to_string(),
                    cosell_emulator::ColumnKind::Integer,
                ),
                (
                    "cosell_opportunityid".to_string(),
                    cosell_emulator::ColumnKind::Lookup(vec![(
                        "cosell_opportunityid".to_string(),
                        "opportunities".to_string(),
                    )]),
                ),
            ],
        )
        .unwrap();
    control
        .add_column(
            "opportunities",
            "new_externalid",
            cosell_emulator::ColumnKind::Text { max_length: 50 },
        )
        .unwrap();
    control
        .add_alternate_key("opportunities", &["new_externalid"])
        .unwrap();
    let opportunity = client
        .opportunities()
        .upsert(
            RecordKey::alternate([("new_externalid", "SF-006")]),
            &json!({"name": "From Salesforce"}),
        )
        .send()
        .await
        .unwrap();
    assert!(opportunity.id.is_none());
    let opportunity = control.records("opportunities")[0]["opportunityid"]
        .as_str()
        .unwrap()
        .parse::<Uuid>()
        .unwrap();
    let audit = client.table("cosell_auditentries");
    let entry = audit
        .create(&json!({
            "cosell_name": "pushed",
            "cosell_attempts": 1,
            "cosell_opportunityid@odata.bind": format!("/opportunities({opportunity})"),
        }))
        .send()
        .await
        .unwrap();
    audit
        .update(entry, &json!({"cosell_attempts": 2}))
        .send()
        .await
        .unwrap();
    let rows: Vec<Value> = audit
        .query(&Query::new().filter(Filter::eq("_cosell_opportunityid_value", opportunity)))
        .collect_all()
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["cosell_attempts"], 2);
    let metadata = client.table_metadata("cosell_auditentry").await.unwrap();
    assert_eq!(
        metadata.entity_set_name.as_deref(),
        Some("cosell_auditentries")
    );
    assert_eq!(
        metadata
            .column("cosell_opportunityid")
            .unwrap()
            .attribute_type
            .as_deref(),
        Some("Lookup")
    );
    audit.delete(entry).send().await.unwrap();
    assert!(control.records("cosell_auditentries").is_empty());
    assert!(control.add_table("account", "others", "name", []).is_err());
}

#[tokio::test]
async fn malformed_and_oversized_batches_are_refused_whole() {
    let (emulator, client) = emulated().await;
    let post = |body: String, content_type: &str| {
        client
            .pipeline()
            .post(["$batch"])
            .body(body, content_type)
            .send()
    };
    let err = post("not multipart".into(), "multipart/mixed; boundary=b")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::BadRequest));
    let err = post("{}".into(), "application/json").await.unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::BadRequest));
    let part = "--b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
                GET /api/data/v9.2/WhoAmI HTTP/1.1\r\nAccept: application/json\r\n\r\n";
    let err = post(
        format!("{}--b--\r\n", part.repeat(1001)),
        "multipart/mixed; boundary=b",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("1000"), "{err}");
    // At the limit, every part is answered.
    let response = post(
        format!("{}--b--\r\n", part.repeat(1000)),
        "multipart/mixed; boundary=b",
    )
    .await
    .unwrap();
    let parts = cosell::dataverse::read_batch_response(
        response.header("content-type").unwrap(),
        &response.body,
    )
    .unwrap();
    assert_eq!(parts.len(), 1000);
    assert!(emulator.dataverse().writes().is_empty());
}
