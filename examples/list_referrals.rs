//! Lists the open (New or Active) incoming co-sell referrals updated in the last 7 days.
//!
//! Credentials come from the environment. The referrals API takes only user-delegated tokens,
//! so give either a ready access token:
//!
//! ```text
//! PARTNER_CENTER_ACCESS_TOKEN=eyJ0eXAi... cargo run --example list_referrals
//! ```
//!
//! or a stored refresh token of a user with the Referral Admin or Referral User role:
//!
//! ```text
//! PARTNER_CENTER_TENANT=contoso.onmicrosoft.com \
//! PARTNER_CENTER_CLIENT_ID=00000000-0000-0000-0000-000000000000 \
//! PARTNER_CENTER_REFRESH_TOKEN=0.AAAA... \
//! cargo run --example list_referrals
//! ```
//!
//! `PARTNER_CENTER_CLIENT_SECRET` (confidential apps) and `PARTNER_CENTER_BASE_URL` (a test
//! server or the emulator) are optional.

use std::process::ExitCode;
use std::sync::Arc;

use cosell::auth::{
    CachedTokenProvider, DelegatedScope, EntraAuthority, RefreshTokenProvider, StaticToken,
    TokenProvider,
};
use cosell::partner_center::referrals::{
    ReferralCategory, ReferralOrderField, SortOrder, TOKEN_RESOURCE,
};
use cosell::partner_center::{PartnerCenter, ReferralDirection, ReferralStatus};
use futures::TryStreamExt;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The token provider the environment describes, or the names of what is missing.
fn token_provider() -> Result<Arc<dyn TokenProvider>, String> {
    if let Some(token) = var("PARTNER_CENTER_ACCESS_TOKEN") {
        return Ok(Arc::new(StaticToken::new(token)));
    }
    let wanted = [
        "PARTNER_CENTER_TENANT",
        "PARTNER_CENTER_CLIENT_ID",
        "PARTNER_CENTER_REFRESH_TOKEN",
    ];
    let missing: Vec<&str> = wanted.into_iter().filter(|n| var(n).is_none()).collect();
    let (Some(tenant), Some(client_id), Some(refresh)) =
        (var(wanted[0]), var(wanted[1]), var(wanted[2]))
    else {
        return Err(format!(
            "set PARTNER_CENTER_ACCESS_TOKEN, or all of {} (missing: {})",
            wanted.join(", "),
            missing.join(", ")
        ));
    };
    let mut provider = RefreshTokenProvider::new(
        EntraAuthority::public_cloud(tenant),
        client_id,
        DelegatedScope::v1(TOKEN_RESOURCE),
        refresh.into(),
    )
    .map_err(|e| e.to_string())?;
    if let Some(secret) = var("PARTNER_CENTER_CLIENT_SECRET") {
        provider = provider.client_secret(secret.into());
    }
    Ok(Arc::new(CachedTokenProvider::new(provider)))
}

async fn run(provider: Arc<dyn TokenProvider>) -> cosell::Result<()> {
    let mut builder = PartnerCenter::builder().token_provider(provider);
    if let Some(base) = var("PARTNER_CENTER_BASE_URL") {
        builder = builder.base_url(base);
    }
    let client = builder.build()?;

    let since = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(7 * 24);
    let mut referrals = client
        .referrals()
        .list()
        .direction(ReferralDirection::Incoming)
        .status_any_of([ReferralStatus::New, ReferralStatus::Active])
        .updated_since(since)
        .order_by(ReferralOrderField::UpdatedDateTime, SortOrder::Descending)
        .pager()
        .into_stream();

    let mut shown = 0;
    while let Some(referral) = referrals.try_next().await? {
        if referral.category() != ReferralCategory::CoSellOpportunity {
            continue;
        }
        shown += 1;
        let customer = referral
            .customer_profile
            .value()
            .and_then(|c| c.name.as_deref())
            .unwrap_or("?");
        let value = referral
            .details
            .value()
            .map(|d| {
                format!(
                    "{} {}",
                    d.deal_value
                        .value()
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                    d.currency.as_deref().unwrap_or_default()
                )
            })
            .unwrap_or_default();
        println!(
            "{id}  {status}/{substatus}  {customer}  {value}  updated {updated}",
            id = referral.id.as_deref().unwrap_or("?"),
            status = referral.status.value().map(|s| s.as_str()).unwrap_or("?"),
            substatus = referral
                .substatus
                .value()
                .map(|s| s.as_str())
                .unwrap_or("?"),
            updated = referral
                .updated_date_time
                .value()
                .map(|t| t.to_string())
                .unwrap_or_default(),
        );
    }
    println!("{shown} open incoming co-sell referral(s) updated since {since}");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let provider = match token_provider() {
        Ok(provider) => provider,
        Err(missing) => {
            eprintln!("list_referrals: no credentials: {missing}");
            return ExitCode::from(2);
        }
    };
    match run(provider).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("list_referrals: {e}");
            ExitCode::FAILURE
        }
    }
}
