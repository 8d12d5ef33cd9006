//! Injected faults are observed by the crate's own clients exactly as configured.

use std::sync::Arc;
use std::time::Duration;

use cosell::Error;
use cosell::auth::{ClientCredentials, CustomCredentials, EntraAuthority, TokenProvider};
use cosell::http::{GenericProfile, Pipeline, RecordingSleeper, RetryPolicy, Timeouts};
use cosell_emulator::{EmulatedApi, Emulator, Fault, FaultRule, Trigger};
use secrecy::SecretString;

fn credentials(emulator: &Emulator, sleeper: Arc<RecordingSleeper>) -> ClientCredentials {
    let authority = EntraAuthority::new(&emulator.urls().entra_authority, "contoso")
        .unwrap()
        .sleeper(sleeper)
        .retry_policy(RetryPolicy::default().max_attempts(5));
    ClientCredentials::new(
        authority,
        "app",
        SecretString::from("secret"),
        "https://contoso.crm.dynamics.com/.default",
    )
    .unwrap()
}

fn salesforce_login(emulator: &Emulator, timeouts: Timeouts, retry: RetryPolicy) -> Pipeline {
    Pipeline::builder(GenericProfile)
        .base_url(&emulator.urls().salesforce)
        .unwrap()
        .timeouts(timeouts)
        .retry_policy(retry)
        .sleeper(Arc::new(RecordingSleeper::new()))
        .build()
        .unwrap()
}

async fn salesforce_token(pipeline: &Pipeline) -> cosell::Result<serde_json::Value> {
    pipeline
        .post(["services", "oauth2", "token"])
        .body(
            "grant_type=client_credentials&client_id=app&client_secret=s",
            "application/x-www-form-urlencoded",
        )
        .send_json()
        .await
}

#[tokio::test]
async fn three_429s_then_success_is_four_requests_with_the_asked_waits() {
    let emulator = Emulator::start().await.unwrap();
    emulator.faults().add(
        FaultRule::new(
            EmulatedApi::Entra,
            Fault::TooManyRequests {
                retry_after: Duration::from_secs(3),
            },
        )
        .operation("oauth.token")
        .trigger(Trigger::First(3)),
    );
    let sleeper = Arc::new(RecordingSleeper::new());
    credentials(&emulator, sleeper.clone())
        .token()
        .await
        .unwrap();
    assert_eq!(emulator.count(EmulatedApi::Entra, "oauth.token"), 4);
    assert_eq!(sleeper.sleeps(), vec![Duration::from_secs(3); 3]);
    let statuses: Vec<u16> = emulator
        .journal()
        .iter()
        .map(|e| e.status.as_u16())
        .collect();
    assert_eq!(statuses, [429, 429, 429, 200]);
}

#[tokio::test]
async fn a_persistent_503_exhausts_the_retries() {
    let emulator = Emulator::start().await.unwrap();
    emulator
        .faults()
        .add(FaultRule::new(EmulatedApi::Entra, Fault::Unavailable));
    let sleeper = Arc::new(RecordingSleeper::new());
    let err = credentials(&emulator, sleeper.clone())
        .token()
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(emulator.count_all(EmulatedApi::Entra), 5);
    assert_eq!(sleeper.sleeps().len(), 4);
}

#[tokio::test]
async fn a_forced_412_is_a_conflict_and_is_not_retried() {
    let emulator = Emulator::start().await.unwrap();
    emulator.faults().add(
        FaultRule::new(EmulatedApi::Salesforce, Fault::PreconditionFailed)
            .trigger(Trigger::First(1)),
    );
    let login = salesforce_login(&emulator, Timeouts::default(), RetryPolicy::default());
    let err = salesforce_token(&login).await.unwrap_err();
    assert!(err.is_conflict(), "{err:?}");
    assert_eq!(emulator.count_all(EmulatedApi::Salesforce), 1);
    // The rule fired once; the next call goes through.
    salesforce_token(&login).await.unwrap();
}

#[tokio::test]
async fn an_answer_slower_than_the_client_timeout_is_a_transport_time_out() {
    let emulator = Emulator::start().await.unwrap();
    emulator.faults().add(
        FaultRule::new(
            EmulatedApi::Salesforce,
            Fault::Latency(Duration::from_millis(1500)),
        )
        .trigger(Trigger::First(1)),
    );
    let timeouts = Timeouts {
        request: Duration::from_millis(200),
        ..Timeouts::default()
    };
    let login = salesforce_login(&emulator, timeouts, RetryPolicy::none());
    let err = salesforce_token(&login).await.unwrap_err();
    let Error::Transport(transport) = err.last() else {
        panic!("expected a transport error, got {err:?}")
    };
    assert!(transport.timed_out);
    assert!(transport.maybe_sent);
}

#[tokio::test]
async fn a_connection_closed_mid_answer_is_a_transport_error() {
    let emulator = Emulator::start().await.unwrap();
    emulator.faults().add(
        FaultRule::new(EmulatedApi::Salesforce, Fault::CloseMidAnswer).trigger(Trigger::First(1)),
    );
    let login = salesforce_login(&emulator, Timeouts::default(), RetryPolicy::none());
    let err = salesforce_token(&login).await.unwrap_err();
    let Error::Transport(transport) = err.last() else {
        panic!("expected a transport error, got {err:?}")
    };
    assert!(
        transport.maybe_sent,
        "the request was handled before the answer broke"
    );
    // A non-idempotent POST whose answer broke is not retried blindly.
    assert_eq!(emulator.count_all(EmulatedApi::Salesforce), 1);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults_to_a_client() {
    async fn run(seed: u64) -> Vec<u16> {
        let emulator = Emulator::start().await.unwrap();
        emulator.faults().seed(seed);
        emulator.faults().add(
            FaultRule::new(EmulatedApi::Salesforce, Fault::Unavailable).trigger(Trigger::Rate(0.5)),
        );
        let login = salesforce_login(&emulator, Timeouts::default(), RetryPolicy::none());
        for _ in 0..20 {
            let _ = salesforce_token(&login).await;
        }
        emulator
            .journal()
            .iter()
            .map(|e| e.status.as_u16())
            .collect()
    }
    let first = run(42).await;
    assert_eq!(first, run(42).await);
    assert!(first.contains(&503) && first.contains(&200), "{first:?}");
}

/// The README's run command: the quickstart tours every step against the emulator.
#[allow(dead_code)]
#[path = "../examples/quickstart.rs"]
mod quickstart;

#[tokio::test]
async fn the_quickstart_shows_every_step_of_the_tour() {
    let mut out = Vec::new();
    quickstart::tour(&mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    for step in [
        "== 0. Emulator started",
        "== 1. Signing in",
        "== 2. Webhook receiver listening",
        "== 3. Registered for 4 events",
        "verified callback `referral-created`",
        "== 5. 1 new incoming referral(s)",
        "now Active/Accepted",
        "== 6. Dataverse: created opportunity",
        "found 1 by referral id",
        "== 7. Salesforce: upsert by Referral_Id__c created it, found 1 by SOQL",
        "== 8. Requests answered by the emulator",
        "== Done",
    ] {
        assert!(text.contains(step), "missing `{step}` in:\n{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// Conditional writes whose answer was lost
// ---------------------------------------------------------------------------------------------

fn entra_tokens(emulator: &Emulator, scope: &str) -> Arc<dyn TokenProvider> {
    let authority = EntraAuthority::new(&emulator.urls().entra_authority, "contoso").unwrap();
    let credentials =
        ClientCredentials::new(authority, "app", SecretString::from("secret"), scope).unwrap();
    Arc::new(cosell::auth::CachedTokenProvider::new(credentials))
}

fn dataverse(emulator: &Emulator) -> cosell::dataverse::Dataverse {
    cosell::dataverse::Dataverse::builder(CustomCredentials::app_only(entra_tokens(
        emulator,
        &format!("{}/.default", cosell_emulator::DATAVERSE_ORG_URL),
    )))
    .base_url(&emulator.urls().dataverse)
    .sleeper(Arc::new(RecordingSleeper::new()))
    .build()
    .unwrap()
}

fn partner_center(emulator: &Emulator) -> cosell::partner_center::PartnerCenter {
    cosell::partner_center::PartnerCenter::builder(CustomCredentials::user(entra_tokens(
        emulator,
        "https://api.partner.microsoft.com/.default",
    )))
    .base_url(emulator.urls().partner_center_referrals.clone())
    .sleeper(Arc::new(RecordingSleeper::new()))
    .build()
    .unwrap()
}

fn salesforce(emulator: &Emulator) -> cosell::salesforce::Salesforce {
    let login = cosell::salesforce::SalesforceLogin::new(&emulator.urls().salesforce).unwrap();
    let flow =
        cosell::salesforce::ClientCredentialsFlow::new(login, "app", SecretString::from("secret"))
            .unwrap();
    cosell::salesforce::Salesforce::builder(Arc::new(cosell::auth::CachedTokenProvider::new(flow)))
        .sleeper(Arc::new(RecordingSleeper::new()))
        .build()
        .unwrap()
}

/// The next `operation` request to `api` is handled, and its answer never sent.
fn lose_next_answer(emulator: &Emulator, api: EmulatedApi, operation: &str) {
    emulator.faults().add(
        FaultRule::new(api, Fault::AnswerLost)
            .operation(operation)
            .trigger(Trigger::First(1)),
    );
}

fn assert_outcome_unknown(err: &Error) {
    assert!(err.is_outcome_unknown(), "{err:?}");
    assert!(!err.is_conflict(), "our own write is not a conflict: {err}");
    assert!(!err.is_retryable(), "{err}");
    let Error::OutcomeUnknown { lost, replay, .. } = err else {
        unreachable!()
    };
    assert!(
        matches!(lost.last(), Error::Transport(t) if t.maybe_sent),
        "{lost:?}"
    );
    assert_eq!(replay.status().map(|s| s.as_u16()), Some(412));
}

#[tokio::test]
async fn a_lost_answer_to_a_dataverse_update_if_match_is_outcome_unknown() {
    let emulator = Emulator::start().await.unwrap();
    let id = emulator
        .dataverse()
        .seed("opportunities", serde_json::json!({"name": "Deal"}))
        .unwrap();
    let client = dataverse(&emulator);
    let row: serde_json::Value = client.opportunities().retrieve(id).send().await.unwrap();
    let etag = row["@odata.etag"].as_str().unwrap();
    lose_next_answer(&emulator, EmulatedApi::Dataverse, "dataverse.update");

    let err = client
        .opportunities()
        .update(id, &serde_json::json!({"description": "ours"}))
        .if_match(etag)
        .send()
        .await
        .unwrap_err();
    assert_outcome_unknown(&err);
    // The first attempt took effect; the replay was refused.
    let stored = emulator.dataverse().record("opportunities", id).unwrap();
    assert_eq!(stored["description"], "ours");
    assert_eq!(
        emulator.count(EmulatedApi::Dataverse, "dataverse.update"),
        2
    );
}

#[tokio::test]
async fn a_lost_answer_to_a_referral_patch_with_if_match_is_outcome_unknown() {
    let emulator = Emulator::start().await.unwrap();
    let seeded = emulator
        .partner_center()
        .seed_referral(serde_json::json!({
            "name": "Deal", "status": "Active", "substatus": "Accepted",
            "details": {"notes": "theirs"}
        }))
        .unwrap();
    let id = seeded["id"].as_str().unwrap();
    let etag = seeded["eTag"].as_str().unwrap();
    lose_next_answer(
        &emulator,
        EmulatedApi::PartnerCenterReferrals,
        "referrals.update",
    );

    let err = partner_center(&emulator)
        .referrals()
        .update(
            id,
            cosell::partner_center::ReferralPatch::new().notes("ours"),
        )
        .if_match(etag)
        .send()
        .await
        .unwrap_err();
    assert_outcome_unknown(&err);
    let stored = emulator.partner_center().referral(id).unwrap();
    assert_eq!(stored["details"]["notes"], "ours");
    assert_eq!(
        emulator.count(EmulatedApi::PartnerCenterReferrals, "referrals.update"),
        2
    );
}

#[tokio::test]
async fn a_lost_answer_to_a_salesforce_update_if_unmodified_since_is_outcome_unknown() {
    let emulator = Emulator::start().await.unwrap();
    // Last modified long ago, so that our own write moves it past the read time.
    let id = emulator
        .salesforce()
        .seed(
            "Opportunity",
            serde_json::json!({
                "Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-06-30",
                "LastModifiedDate": "2020-01-01T00:00:00.000+0000"
            }),
        )
        .unwrap();
    lose_next_answer(&emulator, EmulatedApi::Salesforce, "update");

    let err = salesforce(&emulator)
        .opportunities()
        .update(&id, &serde_json::json!({"Description": "ours"}))
        .if_unmodified_since("2020-01-01T00:00:00Z".parse().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_outcome_unknown(&err);
    let stored = emulator.salesforce().record("Opportunity", &id).unwrap();
    assert_eq!(stored["Description"], "ours");
    assert_eq!(emulator.count(EmulatedApi::Salesforce, "update"), 2);
}
