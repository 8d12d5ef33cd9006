//! The request pipeline: retries, Retry-After, idempotency, classification, 401 replay.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cosell::Error;
use cosell::auth::{AccessToken, TokenProvider};
use cosell::error::ApiErrorKind;
use cosell::http::{
    GenericProfile, ManualClock, Pipeline, RecordingSleeper, RetryPolicy, ServiceProfile,
};
use http::HeaderName;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const START: &str = "2026-03-01T12:00:00Z";

struct Harness {
    server: MockServer,
    sleeper: Arc<RecordingSleeper>,
    pipeline: Pipeline,
}

fn pipeline_for(
    base: &str,
    profile: impl ServiceProfile,
    retry: RetryPolicy,
    auth: Option<Arc<dyn TokenProvider>>,
) -> (Pipeline, Arc<RecordingSleeper>) {
    let clock = Arc::new(ManualClock::new(START.parse().unwrap()));
    let sleeper = Arc::new(RecordingSleeper::with_clock(clock.clone()));
    let mut builder = Pipeline::builder(profile)
        .base_url(base)
        .unwrap()
        .retry_policy(retry)
        .clock(clock)
        .sleeper(sleeper.clone());
    if let Some(auth) = auth {
        builder = builder.token_provider(auth);
    }
    (builder.build().unwrap(), sleeper)
}

async fn harness_with(
    profile: impl ServiceProfile,
    retry: RetryPolicy,
    auth: Option<Arc<dyn TokenProvider>>,
) -> Harness {
    let server = MockServer::start().await;
    let (pipeline, sleeper) = pipeline_for(&format!("{}/api/", server.uri()), profile, retry, auth);
    Harness {
        server,
        sleeper,
        pipeline,
    }
}

fn policy() -> RetryPolicy {
    RetryPolicy::default().max_attempts(3).jitter_seed(1)
}

async fn harness() -> Harness {
    harness_with(GenericProfile, policy(), None).await
}

async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap()
}

fn ok_json() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": true}))
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
        .respond_with(ok_json())
        .mount(&h.server)
        .await;
    let value: serde_json::Value = h.pipeline.get(["things"]).send_json().await.unwrap();
    assert_eq!(value["ok"], true);
    assert_eq!(requests(&h.server).await.len(), 2);
    let sleeps = h.sleeper.sleeps();
    assert_eq!(sleeps.len(), 1);
    assert!(sleeps[0] >= Duration::from_secs(2), "slept {:?}", sleeps[0]);
}

#[tokio::test]
async fn retry_after_http_date_is_measured_against_the_injected_clock() {
    let h = harness().await;
    // START + 45 s.
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("Retry-After", "Sun, 01 Mar 2026 12:00:45 GMT"),
        )
        .up_to_n_times(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ok_json())
        .mount(&h.server)
        .await;
    h.pipeline.get(["things"]).send().await.unwrap();
    assert_eq!(requests(&h.server).await.len(), 2);
    assert_eq!(h.sleeper.sleeps(), vec![Duration::from_secs(45)]);
}

#[tokio::test]
async fn retry_after_beyond_the_cap_is_not_waited_for() {
    let h = harness_with(
        GenericProfile,
        policy().max_retry_after(Duration::from_secs(10)),
        None,
    )
    .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "120"))
        .mount(&h.server)
        .await;
    let err = h.pipeline.get(["things"]).send().await.unwrap_err();
    assert_eq!(requests(&h.server).await.len(), 1);
    assert!(h.sleeper.sleeps().is_empty());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert!(err.is_rate_limited());
}

#[tokio::test]
async fn persistent_503_gives_up_after_the_configured_attempts_and_keeps_the_answer() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("request-id", "req-503")
                .set_body_string(
                    "{\"error\":{\"code\":\"serviceNotAvailable\",\"message\":\"down\"}}",
                ),
        )
        .mount(&h.server)
        .await;
    let err = h.pipeline.get(["things"]).send().await.unwrap_err();
    assert_eq!(requests(&h.server).await.len(), 3);
    assert_eq!(h.sleeper.sleeps().len(), 2);
    assert!(matches!(err, Error::RetriesExhausted { attempts: 3, .. }));
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(err.request_id(), Some("req-503"));
    assert_eq!(err.code(), Some("serviceNotAvailable"));
    assert!(err.api().unwrap().body_excerpt.contains("down"));
    assert!(err.is_retryable());
}

#[tokio::test]
async fn jittered_backoff_stays_within_its_ceilings() {
    let h = harness_with(
        GenericProfile,
        RetryPolicy::default()
            .max_attempts(4)
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(250)),
        None,
    )
    .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&h.server)
        .await;
    h.pipeline.get(["x"]).send().await.unwrap_err();
    let sleeps = h.sleeper.sleeps();
    assert_eq!(sleeps.len(), 3);
    let ceilings = [100, 200, 250];
    for (sleep, ceiling) in sleeps.iter().zip(ceilings) {
        assert!(
            *sleep <= Duration::from_millis(ceiling),
            "{sleep:?} > {ceiling} ms"
        );
    }
}

#[tokio::test]
async fn the_deadline_stops_retrying() {
    let h = harness_with(
        GenericProfile,
        RetryPolicy::default()
            .max_attempts(10)
            .deadline(Some(Duration::from_secs(5))),
        None,
    )
    .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "2"))
        .mount(&h.server)
        .await;
    let err = h.pipeline.get(["x"]).send().await.unwrap_err();
    // Waits of 2 s and 2 s fit in 5 s; a third would not.
    assert_eq!(h.sleeper.sleeps().len(), 2);
    assert_eq!(requests(&h.server).await.len(), 3);
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(400).set_body_string(
            r#"{"error":{"code":"invalidRequest","message":"bad filter","target":"$filter"}}"#,
        ))
        .mount(&h.server)
        .await;
    let err = h.pipeline.get(["x"]).send().await.unwrap_err();
    assert_eq!(requests(&h.server).await.len(), 1);
    let api = err.api().unwrap();
    assert_eq!(api.kind, ApiErrorKind::BadRequest);
    assert_eq!(api.code.as_deref(), Some("invalidRequest"));
    assert_eq!(api.target.as_deref(), Some("$filter"));
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn an_html_502_is_an_api_error_not_a_decode_error() {
    let h = harness_with(GenericProfile, RetryPolicy::none(), None).await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(502)
                .insert_header("content-type", "text/html")
                .set_body_string("<html><body>Bad Gateway</body></html>"),
        )
        .mount(&h.server)
        .await;
    let err = h
        .pipeline
        .get(["x"])
        .send_json::<serde_json::Value>()
        .await
        .unwrap_err();
    let Error::Api(api) = &err else {
        panic!("expected an API error, got {err:?}")
    };
    assert_eq!(api.status.as_u16(), 502);
    assert_eq!(api.kind, ApiErrorKind::Server);
    assert!(api.body_excerpt.contains("Bad Gateway"));
    assert_eq!(api.code, None);
}

#[tokio::test]
async fn malformed_json_is_a_decode_error_naming_the_path() {
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Item {
        id: String,
        amount: u32,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Listing {
        value: Vec<Item>,
    }
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("request-id", "req-1")
                .set_body_string(r#"{"value":[{"id":"a","amount":1},{"id":"b","amount":"two"}]}"#),
        )
        .mount(&h.server)
        .await;
    let err = h
        .pipeline
        .get(["x"])
        .send_json::<Listing>()
        .await
        .unwrap_err();
    let Error::Decode(decode) = &err else {
        panic!("expected a decode error, got {err:?}")
    };
    assert_eq!(decode.path, "value[1].amount");
    assert_eq!(decode.status.map(|s| s.as_u16()), Some(200));
    assert_eq!(decode.request_id.as_deref(), Some("req-1"));

    // A truncated body as well.
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"value":[{"id":"a","amo"#))
        .mount(&h.server)
        .await;
    let err = h
        .pipeline
        .get(["x"])
        .send_json::<Listing>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
}

#[tokio::test]
async fn a_post_that_got_a_500_is_not_retried_unless_marked_idempotent() {
    let h = harness().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&h.server)
        .await;
    let err = h
        .pipeline
        .post(["things"])
        .json(&serde_json::json!({"name": "x"}))
        .send()
        .await
        .unwrap_err();
    assert_eq!(requests(&h.server).await.len(), 1);
    assert_eq!(err.status().map(|s| s.as_u16()), Some(500));

    let h = harness().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&h.server)
        .await;
    h.pipeline
        .post(["things"])
        .idempotent(true)
        .json(&serde_json::json!({"name": "x"}))
        .send()
        .await
        .unwrap_err();
    assert_eq!(requests(&h.server).await.len(), 3);
}

#[tokio::test]
async fn a_post_refused_by_a_rate_limit_is_retried() {
    let h = harness().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&h.server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&h.server)
        .await;
    let response = h.pipeline.post(["things"]).send().await.unwrap();
    assert_eq!(response.status.as_u16(), 201);
    assert_eq!(requests(&h.server).await.len(), 2);
}

#[tokio::test]
async fn a_connect_failure_is_retried_even_for_a_post() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (pipeline, sleeper) = pipeline_for(
        &format!("http://127.0.0.1:{port}/"),
        GenericProfile,
        policy(),
        None,
    );
    let err = pipeline.post(["things"]).send().await.unwrap_err();
    assert_eq!(sleeper.sleeps().len(), 2, "three attempts, two waits");
    let Error::Transport(transport) = err.last() else {
        panic!("expected a transport error, got {err:?}")
    };
    assert!(!transport.maybe_sent);
    assert!(err.is_retryable());
}

#[derive(Debug)]
struct IdempotentApi;

impl ServiceProfile for IdempotentApi {
    fn correlation_header(&self) -> Option<HeaderName> {
        Some(HeaderName::from_static("ms-correlationid"))
    }
    fn idempotency_header(&self) -> Option<HeaderName> {
        Some(HeaderName::from_static("ms-requestid"))
    }
}

#[tokio::test]
async fn the_idempotency_key_and_correlation_id_are_the_same_on_every_attempt() {
    let h = harness_with(IdempotentApi, policy(), None).await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .mount(&h.server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&h.server)
        .await;
    h.pipeline.put(["things", "1"]).send().await.unwrap();
    let seen = requests(&h.server).await;
    assert_eq!(seen.len(), 3);
    let keys: Vec<_> = seen
        .iter()
        .map(|r| r.headers.get("ms-requestid").cloned())
        .collect();
    assert!(keys[0].is_some());
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
    let correlation: Vec<_> = seen
        .iter()
        .map(|r| r.headers.get("ms-correlationid").cloned())
        .collect();
    assert!(correlation[0].is_some());
    assert!(correlation.iter().all(|c| *c == correlation[0]));
    let agent = seen[0].headers.get("user-agent").unwrap().to_str().unwrap();
    assert!(agent.starts_with("cosell/"), "{agent}");

    // A second call gets a new key.
    h.pipeline.put(["things", "1"]).send().await.unwrap();
    let seen = requests(&h.server).await;
    assert_ne!(seen[3].headers.get("ms-requestid").cloned(), keys[0]);
}

/// Hands out token-1, then token-2 after being invalidated.
#[derive(Debug, Default)]
struct RotatingTokens {
    issued: AtomicUsize,
    invalidated: Mutex<Vec<String>>,
}

#[async_trait]
impl TokenProvider for RotatingTokens {
    async fn token(&self) -> cosell::Result<AccessToken> {
        let generation = self.invalidated.lock().unwrap().len() + 1;
        self.issued.fetch_add(1, Ordering::SeqCst);
        Ok(AccessToken::bearer(format!("token-{generation}")))
    }

    fn invalidate(&self, rejected: &AccessToken) {
        use secrecy::ExposeSecret;
        self.invalidated
            .lock()
            .unwrap()
            .push(rejected.secret().expose_secret().to_owned());
    }
}

#[tokio::test]
async fn a_401_invalidates_the_token_and_replays_once() {
    let tokens = Arc::new(RotatingTokens::default());
    let h = harness_with(GenericProfile, policy(), Some(tokens.clone())).await;
    Mock::given(header("authorization", "Bearer token-1"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&h.server)
        .await;
    Mock::given(header("authorization", "Bearer token-2"))
        .respond_with(ok_json())
        .mount(&h.server)
        .await;
    // A POST too: a rejected token means nothing was processed.
    h.pipeline.post(["things"]).send().await.unwrap();
    assert_eq!(requests(&h.server).await.len(), 2);
    assert_eq!(
        *tokens.invalidated.lock().unwrap(),
        vec!["token-1".to_owned()]
    );
    assert_eq!(tokens.issued.load(Ordering::SeqCst), 2);
    assert!(h.sleeper.sleeps().is_empty());
}

#[tokio::test]
async fn a_second_401_is_an_error() {
    let tokens = Arc::new(RotatingTokens::default());
    let h = harness_with(GenericProfile, policy(), Some(tokens.clone())).await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401).set_body_string(
                r#"{"error":{"code":"unauthenticated","message":"token expired"}}"#,
            ),
        )
        .mount(&h.server)
        .await;
    let err = h.pipeline.get(["things"]).send().await.unwrap_err();
    assert_eq!(requests(&h.server).await.len(), 2);
    assert!(err.is_auth());
    assert_eq!(err.code(), Some("unauthenticated"));
    assert_eq!(tokens.invalidated.lock().unwrap().len(), 1);
}

#[test]
fn http_base_urls_are_refused_except_on_loopback() {
    let refused = Pipeline::builder(GenericProfile).base_url("http://api.partner.microsoft.com/");
    assert!(matches!(refused, Err(Error::Config(_))));
    let refused = Pipeline::builder(GenericProfile).base_url("http://10.0.0.8/");
    assert!(matches!(refused, Err(Error::Config(_))));
    let refused = Pipeline::builder(GenericProfile).base_url("ftp://example.com/");
    assert!(matches!(refused, Err(Error::Config(_))));
    let refused = Pipeline::builder(GenericProfile).base_url("https://user:pw@example.com/");
    assert!(matches!(refused, Err(Error::Config(_))));
    for ok in [
        "https://api.partner.microsoft.com/v1.0/engagements",
        "http://127.0.0.1:9000/",
        "http://localhost:9000/x",
        "http://[::1]:9000/",
    ] {
        assert!(
            Pipeline::builder(GenericProfile).base_url(ok).is_ok(),
            "{ok}"
        );
    }
}

#[tokio::test]
async fn path_segments_are_escaped() {
    let h = harness().await;
    Mock::given(method("GET"))
        .respond_with(ok_json())
        .mount(&h.server)
        .await;
    h.pipeline
        .get(["things", "a/b?c=d#e f"])
        .query("$filter", "name eq 'x&y'")
        .send()
        .await
        .unwrap();
    let seen = requests(&h.server).await;
    assert_eq!(seen[0].url.path(), "/api/things/a%2Fb%3Fc=d%23e%20f");
    let pairs: Vec<_> = seen[0].url.query_pairs().collect();
    assert_eq!(pairs.len(), 1);
    assert_eq!(pairs[0].1, "name eq 'x&y'");
}

/// A slowly dripping answer is cut off at the retry deadline: the deadline bounds the whole
/// call, attempts in flight included. The tokio clock is paused, so no time really passes.
#[tokio::test(start_paused = true)]
async fn the_deadline_bounds_the_whole_call_an_answer_in_flight_included() {
    use cosell::http::Timeouts;

    let server = MockServer::start().await;
    // Longer than the whole test's virtual time: the server never answers in time.
    Mock::given(method("GET"))
        .respond_with(ok_json().set_delay(Duration::from_secs(3600)))
        .mount(&server)
        .await;
    // The system clock and the tokio timer, as in production; each attempt may run 120 s.
    let pipeline = Pipeline::builder(GenericProfile)
        .base_url(&server.uri())
        .unwrap()
        .timeouts(Timeouts {
            connect: Duration::from_secs(600),
            read: Duration::from_secs(600),
            request: Duration::from_secs(120),
        })
        .retry_policy(
            RetryPolicy::default()
                .initial_backoff(Duration::from_millis(100))
                .jitter_seed(3)
                .deadline(Some(Duration::from_secs(180))),
        )
        .build()
        .unwrap();

    let started = tokio::time::Instant::now();
    let err = pipeline.get(["slow"]).send().await.unwrap_err();
    let took = started.elapsed();
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.to_string().contains("180"), "{err}");
    assert!(
        (Duration::from_secs(180)..=Duration::from_millis(180_010)).contains(&took),
        "the call took {took:?} of virtual time"
    );
}

/// A server that answers every request with `answer` and then closes the connection, counting
/// the requests.
async fn closing_server(answer: &'static str) -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            let mut request = vec![0u8; 16 * 1024];
            let _ = socket.read(&mut request).await;
            let _ = socket.write_all(answer.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    (format!("http://{address}/api/"), count)
}

/// The status line and half a body, then the connection closes.
const BROKEN_SUCCESS: &str =
    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{\"id\":\"par";

/// A write answered with success took effect even when its body broke off: it is not replayed
/// (a conditional replay would fail its own precondition), and only decoding its result fails.
#[tokio::test]
async fn a_write_whose_success_answer_broke_off_is_a_success_and_is_not_replayed() {
    let (base, count) = closing_server(BROKEN_SUCCESS).await;
    let (pipeline, _) = pipeline_for(&base, GenericProfile, policy(), None);
    let response = pipeline
        .patch(["items", "1"])
        .header("if-match", "\"7\"")
        .idempotent(true)
        .json(&serde_json::json!({"name": "n"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status.as_u16(), 200);
    assert!(!response.complete);
    assert!(response.body.is_empty());
    let err = response.json::<serde_json::Value>().unwrap_err();
    let Error::Transport(transport) = &err else {
        panic!("expected a transport error, got {err:?}");
    };
    assert!(
        transport.maybe_sent && transport.message.contains("took effect"),
        "{err}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

/// A read whose answer broke off is simply read again.
#[tokio::test]
async fn a_read_whose_answer_broke_off_is_retried() {
    let (base, count) = closing_server(BROKEN_SUCCESS).await;
    let (pipeline, _) = pipeline_for(&base, GenericProfile, policy(), None);
    let err = pipeline.get(["items", "1"]).send().await.unwrap_err();
    assert!(matches!(err.last(), Error::Transport(_)), "{err:?}");
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

/// After a server failure the write may have taken effect, so a 412 on the replay is "outcome
/// unknown"; after a rate limit (refused before processing) or on a first attempt, a 412 is a
/// conflict.
#[tokio::test]
async fn a_412_on_a_replay_is_outcome_unknown_only_after_an_attempt_that_may_have_taken_effect() {
    for (first, expect_unknown) in [(Some(500), true), (Some(429), false), (None, false)] {
        let h = harness().await;
        if let Some(status) = first {
            Mock::given(method("PATCH"))
                .respond_with(ResponseTemplate::new(status))
                .up_to_n_times(1)
                .mount(&h.server)
                .await;
        }
        Mock::given(method("PATCH"))
            .respond_with(ResponseTemplate::new(412))
            .mount(&h.server)
            .await;
        let err = h
            .pipeline
            .patch(["items", "1"])
            .header("if-match", "\"7\"")
            .idempotent(true)
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            err.is_outcome_unknown(),
            expect_unknown,
            "after {first:?}: {err:?}"
        );
        assert_eq!(
            err.is_conflict(),
            !expect_unknown,
            "after {first:?}: {err:?}"
        );
    }
}

/// Records what the pipeline tells its observer.
#[derive(Debug, Default)]
struct Recorder {
    attempts: Mutex<Vec<(u32, Option<u16>, bool)>>,
    waits: Mutex<Vec<(Duration, bool)>>,
}

impl cosell::http::RequestObserver for Recorder {
    fn attempt(&self, attempt: &cosell::http::AttemptInfo<'_>) {
        self.attempts.lock().unwrap().push((
            attempt.attempt,
            attempt.status.map(|s| s.as_u16()),
            attempt.throttled,
        ));
    }

    fn retry_wait(
        &self,
        _service: cosell::error::Service,
        _operation: &str,
        wait: Duration,
        throttled: bool,
    ) {
        self.waits.lock().unwrap().push((wait, throttled));
    }
}

#[tokio::test]
async fn the_observer_is_told_of_every_attempt_and_wait_and_the_pipeline_counts_them() {
    let server = MockServer::start().await;
    let recorder = Arc::new(Recorder::default());
    let pipeline = Pipeline::builder(GenericProfile)
        .base_url(&format!("{}/api/", server.uri()))
        .unwrap()
        .retry_policy(policy())
        .sleeper(Arc::new(RecordingSleeper::new()))
        .observer(recorder.clone())
        .build()
        .unwrap();
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "2"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .respond_with(ok_json())
        .mount(&server)
        .await;
    let _: serde_json::Value = pipeline.get(["things"]).send_json().await.unwrap();
    assert_eq!(
        *recorder.attempts.lock().unwrap(),
        [(1, Some(429), true), (2, Some(200), false)]
    );
    assert_eq!(
        *recorder.waits.lock().unwrap(),
        [(Duration::from_secs(2), true)]
    );
    assert_eq!(pipeline.requests_sent(), 2);
    assert_eq!(
        pipeline.clone().requests_sent(),
        2,
        "clones share the count"
    );
}
