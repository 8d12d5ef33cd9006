//! Answer size limits: a success answer over its limit is a typed error, read no further than
//! the limit; an error answer is read only as far as its code and excerpt need.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cosell::Error;
use cosell::http::{AnswerLimits, GenericProfile, Pipeline, RecordingSleeper, RetryPolicy};
use cosell::paging::Pager;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const MIB: u64 = 1024 * 1024;

fn pipeline(base: &str, limits: Option<AnswerLimits>) -> Pipeline {
    let mut builder = Pipeline::builder(GenericProfile)
        .base_url(base)
        .unwrap()
        .retry_policy(RetryPolicy::default().max_attempts(3).jitter_seed(1))
        .sleeper(Arc::new(RecordingSleeper::new()));
    if let Some(limits) = limits {
        builder = builder.answer_limits(limits);
    }
    builder.build().unwrap()
}

fn json_of_size(bytes: usize) -> String {
    let filler = bytes.saturating_sub(r#"{"blob":""}"#.len());
    format!("{{\"blob\":\"{}\"}}", "x".repeat(filler))
}

fn too_large(err: &Error) -> &cosell::error::AnswerTooLarge {
    match err {
        Error::AnswerTooLarge(large) => large,
        other => panic!("expected AnswerTooLarge, got {other}"),
    }
}

/// A record answer beyond the default record limit (8 MiB) is refused from its Content-Length.
#[tokio::test]
async fn an_oversized_record_answer_is_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(json_of_size(9 * MIB as usize), "application/json"),
        )
        .mount(&server)
        .await;
    let err = pipeline(&server.uri(), None)
        .get(["items", "1"])
        .operation("items.get")
        .send()
        .await
        .unwrap_err();
    let large = too_large(&err);
    assert_eq!((large.operation, large.limit), ("items.get", 8 * MIB));
    assert_eq!(large.declared, Some(9 * MIB));
    assert_eq!(large.status.as_u16(), 200);
    let text = err.to_string();
    assert!(
        text.contains("items.get") && text.contains(&(8 * MIB).to_string()),
        "{text}"
    );
    // Not retried: the same answer would come back.
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

/// The limit is set through the options (here 1 MiB for records) and per request.
#[tokio::test]
async fn an_8_mib_answer_over_a_1_mib_limit_is_refused_and_a_request_may_raise_it() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(json_of_size(8 * MIB as usize), "application/json"),
        )
        .mount(&server)
        .await;
    let options =
        cosell::http::ClientOptions::default().answer_limits(AnswerLimits::default().record(MIB));
    let pipeline = Pipeline::builder(GenericProfile)
        .base_url(&server.uri())
        .unwrap()
        .options(options)
        .build()
        .unwrap();
    let err = pipeline.get(["big"]).send().await.unwrap_err();
    assert_eq!(too_large(&err).limit, MIB);

    let response = pipeline
        .get(["big"])
        .max_answer_bytes(9 * MIB)
        .send()
        .await
        .unwrap();
    assert_eq!(response.body.len() as u64, 8 * MIB);
}

/// Serves every connection with `head` and then `body_bytes` of filler (endless when `None`),
/// chunked, counting what it managed to write.
async fn raw_server(head: &'static str, body_bytes: Option<u64>) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let written = Arc::new(AtomicU64::new(0));
    let counter = written.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut request = vec![0u8; 8192];
                let _ = socket.read(&mut request).await;
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'x'; 64 * 1024];
                let frame = [
                    format!("{:x}\r\n", chunk.len()).into_bytes(),
                    chunk,
                    b"\r\n".to_vec(),
                ]
                .concat();
                let mut sent = 0u64;
                while body_bytes.is_none_or(|total| sent < total) {
                    if socket.write_all(&frame).await.is_err() {
                        return;
                    }
                    sent += 64 * 1024;
                    counter.fetch_add(64 * 1024, Ordering::SeqCst);
                }
                let _ = socket.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    (format!("http://{address}"), written)
}

/// An endless answer with no Content-Length is read only up to its limit.
#[tokio::test]
async fn an_endless_answer_is_cut_at_the_limit() {
    let (base, written) = raw_server(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
        None,
    )
    .await;
    let err = pipeline(&base, Some(AnswerLimits::default().record(MIB)))
        .get(["stream"])
        .operation("stream.get")
        .send()
        .await
        .unwrap_err();
    let large = too_large(&err);
    assert_eq!((large.limit, large.declared), (MIB, None));
    // What the server got to write is bounded by the limit plus the sockets' buffers.
    assert!(written.load(Ordering::SeqCst) < 64 * MIB);
}

/// A 5xx answer with a huge body keeps its status and a bounded excerpt, and each attempt reads
/// only the start of the body.
#[tokio::test]
async fn a_huge_error_body_is_read_only_as_far_as_needed_on_every_attempt() {
    let total = 64 * MIB;
    let (base, written) = raw_server(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n",
        Some(total),
    )
    .await;
    let err = pipeline(&base, None)
        .get(["down"])
        .send()
        .await
        .unwrap_err();
    let Error::RetriesExhausted { attempts, .. } = &err else {
        panic!("expected the retries to run out, got {err:?}");
    };
    assert_eq!(*attempts, 3);
    let api = err.api().expect("the server's answer");
    assert_eq!(api.status.as_u16(), 503);
    assert!(api.body_excerpt.len() <= cosell::error::BODY_EXCERPT_LIMIT + '…'.len_utf8());
    // Three attempts, none of which read its 64 MiB body.
    assert!(
        written.load(Ordering::SeqCst) < 3 * total / 2,
        "{} bytes were written",
        written.load(Ordering::SeqCst)
    );
}

/// Pages of a listing take the listing limit, not the record limit.
#[tokio::test]
async fn pages_are_read_with_the_listing_limit() {
    let server = MockServer::start().await;
    let items: Vec<_> = (0..200)
        .map(|id| serde_json::json!({"id": id, "text": "y".repeat(100)}))
        .collect();
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"value": items})))
        .mount(&server)
        .await;
    let pipeline = pipeline(
        &server.uri(),
        Some(AnswerLimits::default().record(1024).listing(MIB)),
    );
    let err = pipeline.get(["items"]).send().await.unwrap_err();
    assert_eq!(too_large(&err).limit, 1024);
    let all: Vec<serde_json::Value> = Pager::odata(pipeline.get(["items"]))
        .collect_all()
        .await
        .unwrap();
    assert_eq!(all.len(), 200);
}
