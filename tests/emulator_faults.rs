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

/// The README's run command: the quickstart plays a day of co-sell against the emulator.
#[allow(dead_code)]
#[path = "../examples/quickstart.rs"]
mod quickstart;

/// Every step is printed, and the emulator ends the day in the state the steps describe: each
/// tenant's referrals and opportunities linked in its own CRM only, the sellers' values and
/// acceptance in Partner Center, a referral created for the flagged opportunity, the referral
/// whose webhook was dropped recovered by the sweep, both deals won on both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_shows_every_step_of_the_tour() {
    use serde_json::{Value, json};

    let emulator = Emulator::start().await.unwrap();
    let mut out = Vec::new();
    let day = quickstart::day(&emulator, &mut out).await;
    let text = String::from_utf8(out).unwrap();
    let day = day.unwrap_or_else(|error| panic!("{error}\n{text}"));
    for step in [
        "== 0. Emulator started",
        "contoso: Dataverse, webhooks",
        "fabrikam: Salesforce, webhooks",
        "== 1. Microsoft shares",
        "PC → CRM",
        "created in the CRM",
        "== 2. Sellers raise",
        "updated Partner Center: deal_value, status",
        "\"Active\"/\"Accepted\" dealValue=140000",
        "\"Active\"/\"Accepted\" dealValue=95000",
        "== 3. A seller flags",
        "CRM → PC",
        "created in Partner Center",
        "== 4. A webhook is lost",
        ": Some(Dropped)",
        "fabrikam delta sweep",
        "== 5. Deals are won",
        "\"Closed\"/\"Won\"",
        "updated CRM: status",
        "audit contoso",
        "audit fabrikam",
        "requests: entra",
        "== 6. Status of each tenant",
        "\"linked\": 2",
        "\"inbox_depth\": 0",
        "\"dead_letters\": 0",
        "== Done",
    ] {
        assert!(text.contains(step), "missing `{step}` in:\n{text}");
    }
    // Each tenant's two pairs in sync, and no value left unmapped by the default mappings.
    for (shown, times) in [
        ("\"in_sync\": 2", 2),
        ("\"failing\": 0", 2),
        ("\"unmapped\": []", 2),
    ] {
        assert_eq!(text.matches(shown).count(), times, "`{shown}` in:\n{text}");
    }

    let contoso = emulator.partner_center().tenant("contoso.onmicrosoft.com");
    let fabrikam = emulator.partner_center().tenant("fabrikam.onmicrosoft.com");
    let referral = |control: &cosell_emulator::PartnerCenterControl, id: &str| {
        control
            .referral(id)
            .unwrap_or_else(|| panic!("referral {id} in its tenant\n{text}"))
    };
    let number = |value: &Value| {
        value
            .as_f64()
            .unwrap_or_else(|| panic!("a number: {value}"))
    };
    let dataverse = emulator.dataverse().records("opportunities");
    let salesforce = emulator.salesforce().records("Opportunity");
    let row = |rows: &[Value], key: &str, id: &str| -> Value {
        let found: Vec<&Value> = rows.iter().filter(|r| r[key] == json!(id)).collect();
        assert_eq!(found.len(), 1, "one record with {key} = {id}: {rows:#?}");
        found[0].clone()
    };

    // Each CRM holds its own tenant's two opportunities, nothing of the other tenant's.
    assert_eq!(dataverse.len(), 2, "{dataverse:#?}");
    assert_eq!(salesforce.len(), 2, "{salesforce:#?}");
    assert_eq!(contoso.referrals().len(), 2, "{:#?}", contoso.referrals());
    assert_eq!(fabrikam.referrals().len(), 2, "{:#?}", fabrikam.referrals());
    assert!(contoso.referral(&day.fabrikam_referral).is_none());
    assert!(fabrikam.referral(&day.contoso_referral).is_none());

    // Steps 1, 2 and 5 in Dataverse: accepted at 140,000 in the CRM, won in Partner Center.
    let won = row(&dataverse, "opportunityid", &day.contoso_opportunity);
    assert_eq!(won["cosell_referralid"], json!(day.contoso_referral));
    assert_eq!(number(&won["estimatedvalue"]), 140_000.0);
    assert_eq!(
        (won["statecode"].clone(), won["statuscode"].clone()),
        (json!(1), json!(3))
    );
    let pc = referral(&contoso, &day.contoso_referral);
    assert_eq!(
        (pc["status"].clone(), pc["substatus"].clone()),
        (json!("Closed"), json!("Won"))
    );
    assert_eq!(number(&pc["details"]["dealValue"]), 140_000.0);
    assert_eq!(pc["externalReferenceId"], json!(day.contoso_opportunity));

    // Steps 1, 2 and 5 in Salesforce: accepted at 95,000, won by the seller, won in Partner Center.
    let won = row(&salesforce, "Id", &day.fabrikam_opportunity);
    assert_eq!(won["Referral_Id__c"], json!(day.fabrikam_referral));
    assert_eq!(number(&won["Amount"]), 95_000.0);
    assert_eq!(
        (won["StageName"].clone(), won["IsWon"].clone()),
        (json!("Closed Won"), json!(true))
    );
    let pc = referral(&fabrikam, &day.fabrikam_referral);
    assert_eq!(
        (pc["status"].clone(), pc["substatus"].clone()),
        (json!("Closed"), json!("Won"))
    );
    assert_eq!(number(&pc["details"]["dealValue"]), 95_000.0);
    assert_eq!(pc["externalReferenceId"], json!(day.fabrikam_opportunity));

    // Step 3: the flagged opportunity got a referral in its tenant, linked both ways.
    let flagged = row(&dataverse, "opportunityid", &day.flagged_opportunity);
    assert_eq!(flagged["cosell_syncwithpartnercenter"], json!(true));
    assert_eq!(flagged["cosell_referralid"], json!(day.flagged_referral));
    let pc = referral(&contoso, &day.flagged_referral);
    assert_eq!(pc["name"], json!("Northwind: data platform"));
    assert_eq!(number(&pc["details"]["dealValue"]), 60_000.0);
    assert_eq!(pc["externalReferenceId"], json!(day.flagged_opportunity));

    // Step 4: the referral's webhook was never delivered, and the sweep created its opportunity.
    let delivery = fabrikam
        .deliveries()
        .into_iter()
        .find(|d| d.referral_id.as_deref() == Some(day.lost_referral.as_str()))
        .expect("a delivery for the lost referral");
    assert_eq!(delivery.state, cosell_emulator::DeliveryState::Dropped);
    assert_eq!(delivery.event_name, "referral-created");
    let recovered = row(&salesforce, "Id", &day.recovered_opportunity);
    assert_eq!(recovered["Referral_Id__c"], json!(day.lost_referral));
    assert_eq!(recovered["Name"], json!("Fabrikam: Copilot pilot"));
    let pc = referral(&fabrikam, &day.lost_referral);
    assert_eq!(pc["externalReferenceId"], json!(day.recovered_opportunity));

    // Every CRM write by the sync carries its origin mark; the sellers' edits carry none.
    let writes = emulator.dataverse().writes();
    let tagged = writes
        .iter()
        .filter(|w| w.tag.as_deref() == Some("cosell-quickstart"));
    assert!(tagged.count() >= 3, "{writes:#?}");
    assert!(
        writes
            .iter()
            .all(|w| w.tag.is_none() || w.tag.as_deref() == Some("cosell-quickstart")),
        "{writes:#?}"
    );
    // Each service answered requests, and no request failed on the server's side.
    let journal = emulator.journal();
    for api in [
        EmulatedApi::Entra,
        EmulatedApi::PartnerCenterReferrals,
        EmulatedApi::PartnerCenterWebhooks,
        EmulatedApi::Dataverse,
        EmulatedApi::Salesforce,
    ] {
        assert!(emulator.count_all(api) > 0, "{api:?}");
    }
    assert!(
        journal.iter().all(|e| !e.status.is_server_error()),
        "{journal:#?}"
    );
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
