//! Listings that keep the good items: a page holding one item that does not decode still yields
//! the others, and the bad one as an error naming its id and JSON path. The strict form fails the
//! page.

use std::sync::Arc;

use cosell::Error;
use cosell::auth::StaticToken;
use cosell::dataverse::{Dataverse, Query};
use cosell::http::RetryPolicy;
use cosell::paging::ItemResult;
use cosell::partner_center::{PartnerCenter, Referral};
use cosell::salesforce::Salesforce;
use cosell::salesforce::soql::Soql;
use futures::TryStreamExt;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn referral(id: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/partner_center/incoming_cosell.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut referral: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    referral["id"] = id.into();
    referral
}

/// Seen in real data: the customer's team as an object where a list is expected.
fn referral_with_team_object(id: &str) -> Value {
    let mut bad = referral(id);
    bad["customerProfile"]["team"] = json!({"firstName": "Ana"});
    bad
}

async fn partner_center(server: &MockServer) -> PartnerCenter {
    PartnerCenter::builder(StaticToken::new("t"))
        .base_url(format!("{}/v1.0/engagements/", server.uri()))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap()
}

async fn referral_pages() -> MockServer {
    let server = MockServer::start().await;
    let next = format!("{}/v1.0/engagements/referrals?$skiptoken=p2", server.uri());
    Mock::given(method("GET"))
        .and(path("/v1.0/engagements/referrals"))
        .and(query_param("$skiptoken", "p2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [referral("r-4")]})))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/engagements/referrals"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [referral("r-1"), referral_with_team_object("r-2"), referral("r-3")],
            "@odata.nextLink": next,
        })))
        .with_priority(2)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_referral_listing_keeps_the_items_around_a_bad_one() {
    let server = referral_pages().await;
    let pc = partner_center(&server).await;
    let items: Vec<ItemResult<Referral>> = pc
        .referrals()
        .list()
        .pager()
        .per_item()
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(items.len(), 4);
    let good: Vec<&str> = items
        .iter()
        .filter_map(|item| item.as_ref().ok())
        .filter_map(|r| r.id.value().map(String::as_str))
        .collect();
    assert_eq!(good, ["r-1", "r-3", "r-4"]);
    let bad = items[1].as_ref().unwrap_err();
    assert_eq!(bad.id.as_deref(), Some("r-2"));
    assert_eq!(bad.index, 1);
    assert_eq!(bad.path, "value[1].customerProfile.team");
    assert!(bad.raw.get().contains("Ana"), "the raw item is kept");
}

#[tokio::test]
async fn the_strict_referral_listing_fails_the_page_naming_the_item() {
    let server = referral_pages().await;
    let pc = partner_center(&server).await;
    let err = pc
        .referrals()
        .list()
        .pager()
        .collect_all()
        .await
        .unwrap_err();
    let Error::Decode(decode) = &err else {
        panic!("not a decode error: {err:?}");
    };
    assert_eq!(decode.path, "value[1].customerProfile.team");
    assert!(decode.message.contains("r-2"), "{}", decode.message);
    assert_eq!(decode.status, Some(http::StatusCode::OK));
}

#[tokio::test]
async fn a_dataverse_query_keeps_the_rows_around_a_bad_one() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/data/v9.2/opportunities"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [
            {"opportunityid": "00000000-0000-4000-8000-000000000001", "name": "One"},
            {"opportunityid": "00000000-0000-4000-8000-000000000002", "name": ["not", "text"]},
            {"opportunityid": "00000000-0000-4000-8000-000000000003", "name": "Three"},
        ]})))
        .mount(&server)
        .await;
    let dataverse = Dataverse::builder(StaticToken::new("t"))
        .base_url(format!("{}/api/data/v9.2/", server.uri()))
        .build()
        .unwrap();
    let mut pager = dataverse
        .opportunities()
        .query::<cosell::dataverse::Opportunity>(&Query::new())
        .per_item();
    let page = pager.next_page().await.unwrap().expect("a page");
    let names: Vec<&str> = page
        .items
        .iter()
        .filter_map(|item| item.as_ref().ok()?.name.as_deref())
        .collect();
    assert_eq!(names, ["One", "Three"]);
    let bad = page.items[1].as_ref().unwrap_err();
    assert_eq!(
        bad.id.as_deref(),
        Some("00000000-0000-4000-8000-000000000002")
    );
    assert_eq!(bad.path, "value[1].name");
    assert!(pager.is_done());
}

#[tokio::test]
async fn a_salesforce_query_keeps_the_records_around_a_bad_one() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/services/data/v62.0/query"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "totalSize": 3,
            "done": true,
            "records": [
                {"attributes": {"type": "Opportunity"}, "Id": "006A", "Amount": 10},
                {"attributes": {"type": "Opportunity"}, "Id": "006B", "Amount": "ten"},
                {"attributes": {"type": "Opportunity"}, "Id": "006C", "Amount": 30},
            ],
        })))
        .mount(&server)
        .await;
    let sf = Salesforce::builder(Arc::new(StaticToken::new("t")))
        .instance_url(server.uri())
        .api_version("v62.0")
        .build()
        .unwrap();
    let soql = Soql::trusted("SELECT Id, Amount FROM Opportunity");
    let items: Vec<ItemResult<cosell::salesforce::Opportunity>> =
        sf.query(&soql).per_item().collect_all().await.unwrap();
    let ids: Vec<&str> = items
        .iter()
        .filter_map(|item| item.as_ref().ok()?.id.as_deref())
        .collect();
    assert_eq!(ids, ["006A", "006C"]);
    let bad = items[1].as_ref().unwrap_err();
    assert_eq!(bad.id.as_deref(), Some("006B"));
    assert_eq!(bad.path, "records[1].Amount");
    let err = Error::from(bad.clone());
    assert!(matches!(&err, Error::Decode(d) if d.path == "records[1].Amount"));

    let strict = sf
        .query::<cosell::salesforce::Opportunity>(&soql)
        .collect_all()
        .await
        .unwrap_err();
    assert!(
        matches!(&strict, Error::Decode(d) if d.path == "records[1].Amount"),
        "{strict:?}"
    );
}
