//! Request traces carry method, host, path, status and attempt, never tokens or query values.

use std::io::Write;
use std::sync::{Arc, Mutex};

use cosell::auth::StaticToken;
use cosell::http::{GenericProfile, Pipeline, RecordingSleeper, RetryPolicy};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn spans_name_the_request_but_never_secrets_or_query_values() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"secret_body\":1}"))
        .mount(&server)
        .await;
    let pipeline = Pipeline::builder(GenericProfile)
        .base_url(&server.uri())
        .unwrap()
        .token_provider(Arc::new(StaticToken::new("TOKEN-VALUE-XYZ")))
        .retry_policy(RetryPolicy::default().max_attempts(2))
        .sleeper(Arc::new(RecordingSleeper::new()))
        .build()
        .unwrap();
    pipeline
        .get(["referrals", "r-1"])
        .query("$filter", "name eq 'CONFIDENTIAL-CUSTOMER'")
        .operation("referrals.get")
        .send()
        .await
        .unwrap();

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("cosell.request"), "{text}");
    assert!(text.contains("referrals.get"));
    assert!(text.contains("/referrals/r-1"));
    assert!(text.contains("attempt=2"));
    assert!(text.contains("http.status=503"));
    for secret in ["TOKEN-VALUE-XYZ", "CONFIDENTIAL-CUSTOMER", "secret_body"] {
        assert!(
            !text.contains(secret),
            "{secret} leaked into traces:\n{text}"
        );
    }
}
