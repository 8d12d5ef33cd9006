//! Request traces carry method, host, path template, status and attempt, never tokens, key
//! values in paths, or query values.

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
    // Callsites another test met first, with no subscriber, ask again.
    tracing::callsite::rebuild_interest_cache();

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
        .get(["referrals", "REFERRAL-ID-77"])
        .path_template("referrals/{id}")
        .query("$filter", "name eq 'CONFIDENTIAL-CUSTOMER'")
        .operation("referrals.get")
        .send()
        .await
        .unwrap();

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("cosell.request"), "{text}");
    assert!(text.contains("referrals.get"));
    assert!(text.contains(r#"url.template="/referrals/{id}""#), "{text}");
    assert!(text.contains("attempt=2"));
    assert!(text.contains("http.status=503"));
    for secret in [
        "TOKEN-VALUE-XYZ",
        "CONFIDENTIAL-CUSTOMER",
        "secret_body",
        "REFERRAL-ID-77",
    ] {
        assert!(
            !text.contains(secret),
            "{secret} leaked into traces:\n{text}"
        );
    }
}

fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    // Callsites another test met first, with no subscriber, ask again.
    tracing::callsite::rebuild_interest_cache();
    (captured, guard)
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Key values in paths are customer data: spans carry each operation's path template instead.
#[tokio::test]
async fn spans_carry_path_templates_never_key_values() {
    use cosell::dataverse::{Dataverse, RecordKey};
    use cosell::partner_center::PartnerCenter;
    use cosell::salesforce::Salesforce;

    let (captured, _guard) = capture();
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": "x"})))
        .mount(&server)
        .await;

    let dataverse = Dataverse::builder(StaticToken::new("t"))
        .base_url(format!("{}/api/data/v9.2/", server.uri()))
        .build()
        .unwrap();
    dataverse
        .opportunities()
        .update(
            RecordKey::alternate([("cosell_referralid", "DV-KEY-4711")]),
            &serde_json::json!({"name": "n"}),
        )
        .send()
        .await
        .unwrap();

    let token = cosell::auth::AccessToken::bearer("t").with_extra("instance_url", server.uri());
    let salesforce = Salesforce::builder(Arc::new(StaticToken::from_token(token)))
        .build()
        .unwrap();
    salesforce
        .opportunities()
        .upsert(
            "Referral_Id__c",
            "SF-EXTERNAL-0815",
            &serde_json::json!({"Name": "n"}),
        )
        .await
        .unwrap();

    let partner_center = PartnerCenter::builder(StaticToken::new("t"))
        .base_url(format!("{}/v1.0/engagements/", server.uri()))
        .build()
        .unwrap();
    partner_center
        .referrals()
        .get("PC-REFERRAL-2718")
        .await
        .unwrap();

    let text = captured.text();
    for template in [
        "/api/data/v9.2/opportunities({key})",
        "/services/data/v62.0/sobjects/Opportunity/Referral_Id__c/{value}",
        "/v1.0/engagements/referrals/{id}",
    ] {
        assert!(text.contains(template), "{template} missing from:\n{text}");
    }
    for value in ["DV-KEY-4711", "SF-EXTERNAL-0815", "PC-REFERRAL-2718"] {
        assert!(!text.contains(value), "{value} leaked into traces:\n{text}");
    }
}

/// A request that declares no template shows a placeholder for each path segment.
#[tokio::test]
async fn a_request_without_a_template_shows_no_segment_values() {
    let (captured, _guard) = capture();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .mount(&server)
        .await;
    let pipeline = Pipeline::builder(GenericProfile)
        .base_url(&format!("{}/v1/", server.uri()))
        .unwrap()
        .build()
        .unwrap();
    pipeline
        .get(["items", "ITEM-VALUE-31415"])
        .send()
        .await
        .unwrap();
    pipeline
        .get(["things", "THING-VALUE-2"])
        .path_template("things/{thing}")
        .send()
        .await
        .unwrap();
    let text = captured.text();
    assert!(text.contains(r#"url.template="/v1/{}/{}""#), "{text}");
    assert!(
        text.contains(r#"url.template="/v1/things/{thing}""#),
        "{text}"
    );
    for value in ["ITEM-VALUE-31415", "THING-VALUE-2"] {
        assert!(!text.contains(value), "{value} leaked into traces:\n{text}");
    }
}
