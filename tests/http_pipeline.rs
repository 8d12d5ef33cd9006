//! The request pipeline: retries, Retry-After, idempotency, classification, 401 replay.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cosell::Error;
use cosell::auth::{AccessToken, TokenProvider};
use cosell::error::{ApiErrorKind, Service};
use cosell::http::{
    GenericProfile, ManualClock, Pipeline, RecordingSleeper, RetryPolicy, ServiceProfile,
};
use http::HeaderName;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new("2026-03-01T12:00:00Z".parse().unwrap()))
}

struct Harness {
    server: MockServer,
    sleeper: Arc<RecordingSleeper>,
    pipeline: Pipeline,
}

async fn harness_with(profile: impl ServiceProfile, retry: RetryPolicy) -> Harness {
    let server = MockServer::start().await;
    let clock = clock();
    let sleeper = Arc::new(RecordingSleeper::with_clock(clock.clone()));
    let pipeline = Pipeline::builder(profile)
        .base_url(&format!("{}/api/", server.uri()))
        .unwrap()
        .retry_policy(retry)
        .clock(clock)
        .sleeper(sleeper.clone())
        .build()
        .unwrap();
    Harness {
        server,
        sleeper,
        pipeline,
    }
}

async fn harness() -> Harness {
    harness_with(
        GenericProfile,
        RetryPolicy::default().max_attempts(3).jitter_seed(1),
    )
    .await
}

#[tokio::test]
async fn retry_after_seconds_is_honoured() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "2"))
        .up_to_n_times(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": true})))
        .mount(&h.server)
        .await;
    let value: serde_json::Value = h.pipeline.get(["things"]).send_json().await.unwrap();
    assert_eq!(value["ok"], true);
    assert_eq!(h.server.received_requests().await.unwrap().len(), 2);
    let sleeps = h.sleeper.sleeps();
    assert_eq!(sleeps.len(), 1);
    assert!(sleeps[0] >= Duration::from_secs(2), "slept {:?}", sleeps[0]);
}
