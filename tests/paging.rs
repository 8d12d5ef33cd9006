//! The pager: linked pages, resumable continuations, foreign links refused.

use std::sync::Arc;

use cosell::Error;
use cosell::auth::StaticToken;
use cosell::http::{GenericProfile, Pipeline};
use cosell::paging::{Continuation, Pager};
use futures::TryStreamExt;
use http::{HeaderMap, HeaderValue};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Debug, serde::Deserialize, PartialEq)]
struct Item {
    id: u32,
}

async fn three_pages() -> (MockServer, Pipeline) {
    let server = MockServer::start().await;
    let base = server.uri();
    let page = |ids: &[u32], next: Option<String>| {
        let mut body = serde_json::json!({
            "value": ids.iter().map(|id| serde_json::json!({"id": id})).collect::<Vec<_>>()
        });
        if let Some(next) = next {
            body["@odata.nextLink"] = next.into();
        }
        ResponseTemplate::new(200).set_body_json(body)
    };
    Mock::given(method("GET"))
        .and(path("/api/items"))
        .and(query_param("$top", "2"))
        .respond_with(page(
            &[1, 2],
            Some(format!("{base}/api/items?$skiptoken=p2")),
        ))
        .mount(&server)
        .await;
    // A relative link on the second page.
    Mock::given(method("GET"))
        .and(path("/api/items"))
        .and(query_param("$skiptoken", "p2"))
        .respond_with(page(&[3, 4], Some("items?$skiptoken=p3".into())))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/items"))
        .and(query_param("$skiptoken", "p3"))
        .respond_with(page(&[5], None))
        .mount(&server)
        .await;
    let pipeline = Pipeline::builder(GenericProfile)
        .base_url(&format!("{base}/api/"))
        .unwrap()
        .token_provider(Arc::new(StaticToken::new("t")))
        .build()
        .unwrap();
    (server, pipeline)
}

fn first(pipeline: &Pipeline) -> Pager<Item> {
    let mut headers = HeaderMap::new();
    headers.insert("prefer", HeaderValue::from_static("odata.maxpagesize=2"));
    Pager::odata(pipeline.get(["items"]).query("$top", "2")).page_headers(headers)
}

#[tokio::test]
async fn a_stream_over_three_pages_yields_every_item_in_order() {
    let (server, pipeline) = three_pages().await;
    let items: Vec<Item> = first(&pipeline).into_stream().try_collect().await.unwrap();
    assert_eq!(
        items.iter().map(|i| i.id).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    let seen = server.received_requests().await.unwrap();
    assert_eq!(seen.len(), 3);
    for request in &seen {
        assert_eq!(
            request.headers.get("prefer").unwrap(),
            "odata.maxpagesize=2"
        );
        assert_eq!(request.headers.get("authorization").unwrap(), "Bearer t");
    }
}

#[tokio::test]
async fn a_saved_continuation_resumes_with_only_the_remaining_pages() {
    let (server, pipeline) = three_pages().await;
    let mut pager = first(&pipeline);
    assert!(pager.continuation().is_none());
    let page = pager.next_page().await.unwrap().unwrap();
    assert_eq!(page.items, vec![Item { id: 1 }, Item { id: 2 }]);
    let saved = serde_json::to_string(&pager.continuation().unwrap()).unwrap();
    drop(pager);

    let restored: Continuation = serde_json::from_str(&saved).unwrap();
    let rest = first(&pipeline)
        .resume_from(restored)
        .collect_all()
        .await
        .unwrap();
    assert_eq!(rest.iter().map(|i| i.id).collect::<Vec<_>>(), [3, 4, 5]);
    // One first page, then only pages two and three.
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_next_link_on_a_foreign_host_is_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "value": [{"id": 1}],
            "@odata.nextLink": "https://attacker.example/steal?$skiptoken=1"
        })))
        .mount(&server)
        .await;
    let pipeline = Pipeline::builder(GenericProfile)
        .base_url(&format!("{}/api/", server.uri()))
        .unwrap()
        .build()
        .unwrap();
    let mut pager: Pager<Item> = Pager::odata(pipeline.get(["items"]));
    assert_eq!(pager.next_page().await.unwrap().unwrap().items.len(), 1);
    let err = pager.next_page().await.unwrap_err();
    assert!(
        matches!(err, Error::Validation(ref m) if m.contains("attacker.example")),
        "{err:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);

    // The same for a continuation saved elsewhere, and for another port on the same host.
    for link in [
        "https://attacker.example/x".to_owned(),
        "http://127.0.0.1:1/api/items".to_owned(),
    ] {
        let err = Pager::<Item>::odata(pipeline.get(["items"]))
            .resume_from(Continuation::from_link(link))
            .collect_all()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Validation(_)), "{err:?}");
    }
}

#[tokio::test]
async fn a_failed_page_can_be_asked_for_again() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(query_param("$skiptoken", "p2"))
        .respond_with(ResponseTemplate::new(400))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(query_param("$skiptoken", "p2"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"value": [{"id": 2}]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "value": [{"id": 1}], "@odata.nextLink": format!("{base}/api/items?$skiptoken=p2")
        })))
        .mount(&server)
        .await;
    let pipeline = Pipeline::builder(GenericProfile)
        .base_url(&format!("{base}/api/"))
        .unwrap()
        .build()
        .unwrap();
    let mut pager: Pager<Item> = Pager::odata(pipeline.get(["items"]));
    pager.next_page().await.unwrap();
    assert!(pager.next_page().await.is_err());
    assert!(
        pager.continuation().is_some(),
        "the position is kept after a failure"
    );
    assert_eq!(
        pager.next_page().await.unwrap().unwrap().items,
        vec![Item { id: 2 }]
    );
    assert!(pager.next_page().await.unwrap().is_none());
    assert!(pager.is_done());
}

#[tokio::test]
async fn a_failed_first_page_can_be_asked_for_again() {
    let server = MockServer::start().await;
    let base = server.uri();
    // The first page fails once with a transient answer, then with a permanent one, then works.
    Mock::given(method("GET"))
        .and(query_param("$top", "1"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(query_param("$top", "1"))
        .respond_with(ResponseTemplate::new(400))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(query_param("$top", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "value": [{"id": 1}], "@odata.nextLink": format!("{base}/api/items?$skiptoken=p2")
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(query_param("$skiptoken", "p2"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"value": [{"id": 2}]})),
        )
        .mount(&server)
        .await;
    let pipeline = Pipeline::builder(GenericProfile)
        .base_url(&format!("{base}/api/"))
        .unwrap()
        .retry_policy(cosell::http::RetryPolicy::none())
        .build()
        .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("prefer", HeaderValue::from_static("odata.maxpagesize=1"));
    let mut pager: Pager<Item> =
        Pager::odata(pipeline.get(["items"]).query("$top", "1")).page_headers(headers);

    let first = pager.next_page().await.unwrap_err();
    assert_eq!(first.status().map(|s| s.as_u16()), Some(503));
    assert!(
        !pager.is_done(),
        "a failed first page does not end the listing"
    );
    let second = pager.next_page().await.unwrap_err();
    assert_eq!(second.status().map(|s| s.as_u16()), Some(400));
    assert_eq!(
        pager.next_page().await.unwrap().unwrap().items,
        vec![Item { id: 1 }]
    );
    assert_eq!(
        pager.next_page().await.unwrap().unwrap().items,
        vec![Item { id: 2 }]
    );
    assert!(pager.next_page().await.unwrap().is_none());

    // Every attempt at the first page was the same request, page headers included.
    let seen = server.received_requests().await.unwrap();
    assert_eq!(seen.len(), 4);
    for request in &seen[..3] {
        assert_eq!(request.url.query(), Some("%24top=1"));
        assert_eq!(
            request.headers.get("prefer").unwrap(),
            "odata.maxpagesize=1"
        );
    }
}

#[tokio::test]
async fn a_first_request_that_cannot_be_built_fails_every_time() {
    let pipeline = Pipeline::builder(GenericProfile)
        .base_url("http://127.0.0.1:1/api/")
        .unwrap()
        .build()
        .unwrap();
    let mut pager: Pager<Item> = Pager::odata(pipeline.get(["items"]).header("bad\nname", "x"));
    for _ in 0..2 {
        let err = pager.next_page().await.unwrap_err();
        assert!(matches!(err, Error::Validation(_)), "{err:?}");
    }
    assert!(!pager.is_done());
}
