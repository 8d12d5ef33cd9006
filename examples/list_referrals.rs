//! Lists the open (New or Active) incoming co-sell referrals updated in the last 7 days.
//!
//! Credentials come from the environment (the table is in `docs/environment.md`). The
//! referrals API takes only user-delegated tokens: give a stored refresh token of a user with the
//! Referral Admin or Referral User role.
//!
//! ```text
//! AZURE_TENANT_ID=contoso.onmicrosoft.com \
//! AZURE_CLIENT_ID=00000000-0000-0000-0000-000000000000 \
//! COSELL_PARTNER_CENTER_REFRESH_TOKEN=0.AAAA... \
//! cargo run --example list_referrals
//! ```
//!
//! `AZURE_CLIENT_SECRET` (confidential apps) and `COSELL_PARTNER_CENTER_URL` (a test server or
//! the emulator) are optional.

use cosell::Order;
use cosell::auth::Env;
use cosell::partner_center::referrals::{ReferralCategory, ReferralOrderField};
use cosell::partner_center::{PartnerCenter, ReferralDirection, ReferralStatus};
use futures::TryStreamExt;

#[tokio::main]
async fn main() -> cosell::Result<()> {
    let client = PartnerCenter::builder_from_env(&Env::process())?.build()?;

    let since = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(7 * 24);
    let mut referrals = client
        .referrals()
        .list()
        .direction(ReferralDirection::Incoming)
        .status_any_of([ReferralStatus::New, ReferralStatus::Active])
        .updated_since(since)
        .order_by(ReferralOrderField::UpdatedDateTime, Order::Descending)
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
