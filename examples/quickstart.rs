//! A tour of cosell against the built-in emulator: no credentials, no network.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! It starts the emulated Partner Center, Dataverse and Salesforce on loopback ports, then:
//!
//! 1. signs in to Partner Center as a user (device code) and as an app;
//! 2. starts a webhook receiver that verifies every callback's signature;
//! 3. registers the receiver for the referral events, without taking them from anyone else;
//! 4. plays Microsoft sharing a referral, and receives the verified callback;
//! 5. lists the new incoming referrals and accepts the shared one with a JSON Patch;
//! 6. creates, queries and updates the matching opportunity in Dataverse;
//! 7. does the same in Salesforce, with an upsert keyed by the referral id;
//! 8. prints how many requests each service answered.
//!
//! Each step is plain client code: point the base URLs at the real services and give real
//! credentials, and the same calls work against Partner Center, Dataverse and Salesforce.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use cosell::FieldUpdate;
use cosell::auth::{
    ClientCredentials, DelegatedScope, DeviceCodeFlow, EntraAuthority, RefreshTokenProvider,
};
use cosell::dataverse::{self, CoSellUpdate, Dataverse, Filter, Opportunity, Query};
use cosell::partner_center::referrals::TOKEN_RESOURCE;
use cosell::partner_center::webhooks::{Overwrite, WebhooksClient};
use cosell::partner_center::{
    PartnerCenter, Referral, ReferralDirection, ReferralPatch, ReferralStatus, ReferralSubstatus,
};
use cosell::salesforce::soql::{Soql, field};
use cosell::salesforce::{
    ClientCredentialsFlow, CoSellFieldNames, CoSellFields, Opportunity as SalesforceOpportunity,
    Salesforce, SalesforceLogin,
};
use cosell::webhook::{EventName, TrustPolicy, WebhookVerifier};
use cosell_emulator::{DATAVERSE_ORG_URL, EmulatedApi, Emulator};
use tokio::sync::mpsc;

/// What the tour fails with: an SDK error, an emulator error, or the tour's own complaint.
type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

#[tokio::main]
async fn main() -> ExitCode {
    let mut out = std::io::stdout();
    match tour(&mut out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("quickstart failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Prints one line of the tour; a closed stdout is not worth failing the tour for.
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {
        let _ = writeln!($out, $($arg)*);
    };
}

/// Runs the whole tour, printing what happens at each step to `out`.
pub async fn tour(out: &mut (impl Write + Send)) -> Result<()> {
    let emulator = Emulator::start().await?;
    let urls = emulator.urls().clone();
    say!(out, "== 0. Emulator started");
    say!(out, "   Entra ID           {}", urls.entra_authority);
    say!(
        out,
        "   referrals API      {}",
        urls.partner_center_referrals
    );
    say!(
        out,
        "   webhooks API       {}",
        urls.partner_center_webhooks
    );
    say!(out, "   Dataverse          {}", urls.dataverse);
    say!(out, "   Salesforce         {}", urls.salesforce);

    // 1. Tokens. The referrals API takes only user-delegated tokens: sign in once with a device
    //    code, then refresh. The webhooks API takes app-only tokens.
    let authority = EntraAuthority::new(&urls.entra_authority, "contoso.onmicrosoft.com")?;
    let scope = DelegatedScope::v1(TOKEN_RESOURCE);
    let sign_in = DeviceCodeFlow::new(authority.clone(), "quickstart-app", scope.clone())?;
    let grant = sign_in
        .authorize(|prompt| {
            say!(
                out,
                "== 1. Signing in: open {} and enter {}",
                prompt.verification_uri,
                prompt.user_code
            );
        })
        .await?;
    // The clients cache the tokens of the credentials they are given.
    let user_tokens = RefreshTokenProvider::builder_from_grant(
        authority.clone(),
        "quickstart-app",
        scope,
        &grant,
    )?
    .on_rotate(Arc::new(|_| {
        // A real service stores the rotated refresh token here.
    }))
    .build()?;
    let app_tokens = ClientCredentials::new(
        authority.clone(),
        "quickstart-app",
        "quickstart-secret".to_owned().into(),
        WebhooksClient::TOKEN_SCOPE,
    )?;
    say!(
        out,
        "   signed in as a user (referrals) and as an app (webhooks)"
    );

    // 2. A webhook receiver that verifies each callback before reading it.
    let (receiver_url, mut callbacks) =
        start_receiver(emulator.partner_center().certificate_url()).await?;
    say!(out, "== 2. Webhook receiver listening on {receiver_url}");

    // 3. Register it, refusing to take the events over from another integration.
    let webhooks = WebhooksClient::builder(app_tokens)
        .base_url(&urls.partner_center_webhooks)
        .build()?;
    let outcome = webhooks
        .register(
            &receiver_url,
            &EventName::REFERRAL_EVENTS,
            Overwrite::Refuse,
        )
        .await?;
    say!(
        out,
        "== 3. Registered for {} events ({:?})",
        EventName::REFERRAL_EVENTS.len(),
        outcome.action
    );

    // 4. Microsoft shares a referral; the emulator delivers a signed callback.
    let shared = emulator
        .partner_center()
        .share_referral(sample_referral())?;
    let shared_id = shared["id"].as_str().unwrap_or_default().to_owned();
    let (event, referral_id) = tokio::time::timeout(Duration::from_secs(10), callbacks.recv())
        .await
        .ok()
        .flatten()
        .ok_or("no verified callback arrived")?;
    say!(
        out,
        "== 4. Microsoft shared referral {shared_id}; verified callback `{event}` for {referral_id}"
    );

    // 5. List new incoming referrals and accept the shared one.
    let partner_center = PartnerCenter::builder(user_tokens)
        .base_url(&urls.partner_center_referrals)
        .build()?;
    let new_incoming = partner_center
        .referrals()
        .list()
        .direction(ReferralDirection::Incoming)
        .status(ReferralStatus::New)
        .pager()
        .collect_all()
        .await?;
    say!(
        out,
        "== 5. {} new incoming referral(s); accepting {}",
        new_incoming.len(),
        referral_id
    );
    let current = partner_center.referrals().get(&referral_id).await?;
    let accepted = partner_center
        .referrals()
        .update_referral(
            &current,
            ReferralPatch::new()
                .status(ReferralStatus::Active)
                .substatus(ReferralSubstatus::Accepted),
        )
        .return_representation()
        .send()
        .await?
        .ok_or_else(|| cosell::Error::validation("the update returned no referral"))?;
    say!(
        out,
        "   now {}/{} (eTag {})",
        accepted.status.value().map(|s| s.as_str()).unwrap_or("?"),
        accepted
            .substatus
            .value()
            .map(|s| s.as_str())
            .unwrap_or("?"),
        accepted.e_tag.as_deref().unwrap_or("?")
    );

    // 6. Dataverse: create the opportunity, find it by referral id, update it with its ETag.
    let dataverse = Dataverse::builder(ClientCredentials::new(
        authority.clone(),
        "quickstart-app",
        "quickstart-secret".to_owned().into(),
        format!("{DATAVERSE_ORG_URL}/.default"),
    )?)
    .base_url(&urls.dataverse)
    .origin_tag("cosell-quickstart")
    .build()?;
    let columns = dataverse::CoSellFieldNames::default();
    let mut record = serde_json::json!({
        "name": referral_name(&accepted),
        "estimatedvalue": 125000,
        "estimatedclosedate": "2027-03-31",
    });
    if let Some(map) = record.as_object_mut() {
        columns.write(
            &CoSellUpdate {
                referral_id: FieldUpdate::Set(referral_id.clone()),
                sync_with_partner_center: FieldUpdate::Set(true),
                ..Default::default()
            },
            map,
        );
    }
    let id = dataverse.opportunities().create(&record).send().await?;
    let found = dataverse
        .opportunities()
        .query::<Opportunity>(
            &Query::new()
                .select(Opportunity::STANDARD_COLUMNS)
                .select(columns.names())
                .filter(Filter::eq(&columns.referral_id, referral_id.as_str())),
        )
        .collect_all()
        .await?;
    let etag = found
        .first()
        .and_then(|o| o.etag.clone())
        .ok_or_else(|| cosell::Error::validation("the opportunity was not found"))?;
    dataverse
        .opportunities()
        .update(id, &serde_json::json!({"closeprobability": 60}))
        .if_match(&etag)
        .send()
        .await?;
    say!(
        out,
        "== 6. Dataverse: created opportunity {id}, found {} by referral id, updated it with ETag {etag}",
        found.len()
    );

    // 7. Salesforce: create by upsert on the referral id, query it, update it.
    let login = SalesforceLogin::new(&urls.salesforce)?;
    let salesforce = Salesforce::builder(ClientCredentialsFlow::new(
        login,
        "quickstart-app",
        "quickstart-secret".to_owned().into(),
    )?)
    .origin_client_id("cosell-quickstart")
    .build()?;
    let co_sell = CoSellFieldNames::default();
    let key = co_sell
        .referral_id
        .clone()
        .ok_or_else(|| cosell::Error::config("no referral id field"))?;
    let close = jiff::civil::date(2027, 3, 31);
    let mut opportunity =
        SalesforceOpportunity::new(referral_name(&accepted), "Prospecting", close);
    opportunity.set_cosell(
        &co_sell,
        &CoSellFields {
            sync_with_partner_center: Some(true),
            ..CoSellFields::default()
        },
    )?;
    let upserted = salesforce
        .opportunities()
        .upsert(&key, &referral_id, &opportunity)
        .await?;
    let soql = Soql::select(["Id", "Name", "StageName", "CloseDate"])
        .from("Opportunity")
        .filter(field(&key).eq(referral_id.as_str()))
        .build()?;
    let rows: Vec<SalesforceOpportunity> = salesforce.query(&soql).collect_all().await?;
    let sf_id = rows
        .first()
        .and_then(|o| o.id.clone())
        .ok_or_else(|| cosell::Error::validation("the opportunity was not found"))?;
    salesforce
        .opportunities()
        .update(&sf_id, &serde_json::json!({"StageName": "Qualification"}))
        .send()
        .await?;
    say!(
        out,
        "== 7. Salesforce: upsert by {key} {}, found {} by SOQL, moved {sf_id} to Qualification",
        if upserted.created() {
            "created it"
        } else {
            "updated it"
        },
        rows.len()
    );

    // 8. What each service saw.
    say!(out, "== 8. Requests answered by the emulator");
    for api in [
        EmulatedApi::Entra,
        EmulatedApi::PartnerCenterReferrals,
        EmulatedApi::PartnerCenterWebhooks,
        EmulatedApi::Dataverse,
        EmulatedApi::Salesforce,
    ] {
        say!(out, "   {:<26} {}", api.name(), emulator.count_all(api));
    }
    say!(out, "== Done");
    Ok(())
}

fn referral_name(referral: &Referral) -> String {
    referral
        .name
        .as_deref()
        .unwrap_or("Co-sell opportunity")
        .to_owned()
}

/// What Microsoft shares in step 4, as the service's JSON.
fn sample_referral() -> serde_json::Value {
    serde_json::json!({
        "name": "Fabrikam: Azure migration",
        "type": "Shared",
        "qualification": "SalesQualified",
        "customerProfile": {
            "name": "Fabrikam Ltd",
            "address": {"city": "Leeds", "postalCode": "LS1 4AP", "country": "GB"},
            "team": [{"firstName": "Ana", "lastName": "Buyer", "email": "ana@fabrikam.example"}]
        },
        "consent": {"consentToToShareInfoWithOthers": true, "consentToShareReferralWithMicrosoftSellers": true},
        "details": {"dealValue": 125000, "currency": "GBP", "notes": "Move 40 VMs before the lease ends."}
    })
}

/// Starts an axum receiver on a free loopback port that trusts the emulator's signing
/// certificate (served over plain http at `certificate_url`, on loopback); each verified
/// callback's event name and referral id arrive on the returned channel.
async fn start_receiver(
    certificate_url: &str,
) -> Result<(String, mpsc::Receiver<(String, String)>)> {
    let policy = TrustPolicy::partner_center().allow_loopback_location(certificate_url)?;
    let verifier = WebhookVerifier::new(policy)?;
    let (sender, receiver) = mpsc::channel(16);
    let app = axum::Router::new()
        .route("/webhook", axum::routing::post(callback))
        .with_state((verifier, sender));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((format!("http://{address}/webhook"), receiver))
}

type Receiver = (WebhookVerifier, mpsc::Sender<(String, String)>);

async fn callback(
    State((verifier, sender)): State<Receiver>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    match verifier.verify_event(&headers, &body).await {
        Ok(event) => {
            if let Some(id) = event.referral_id() {
                let _ = sender.try_send((event.event_name.to_string(), id));
            }
            StatusCode::OK
        }
        Err(_) => StatusCode::UNAUTHORIZED,
    }
}
