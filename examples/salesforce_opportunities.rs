//! Lists the Salesforce opportunities flagged for co-sell, then upserts one by its Partner
//! Center referral id.
//!
//! Configuration (environment variables):
//! - `SF_LOGIN_URL`: the org's My Domain, e.g. `https://contoso.my.salesforce.com`;
//! - `SF_CLIENT_ID`, `SF_CLIENT_SECRET`: a connected app with the client-credentials flow on;
//! - `SF_REFERRAL_ID` (optional): a referral id to upsert an opportunity for;
//! - `SF_ORIGIN` (optional): the `Sforce-Call-Options` client id, `cosell-example` by default.
//!
//! ```text
//! SF_LOGIN_URL=https://contoso.my.salesforce.com SF_CLIENT_ID=… SF_CLIENT_SECRET=… \
//!   cargo run --example salesforce_opportunities
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use cosell::auth::CachedTokenProvider;
use cosell::salesforce::soql::{Order, Soql, field};
use cosell::salesforce::{
    ClientCredentialsFlow, CoSellFieldSet, CoSellFields, Opportunity, QueryOptions, Salesforce,
    SalesforceLogin, UpsertOutcome, is_multiple_matches,
};
use futures::TryStreamExt;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let vars = ["SF_LOGIN_URL", "SF_CLIENT_ID", "SF_CLIENT_SECRET"];
    let missing: Vec<&str> = vars
        .iter()
        .copied()
        .filter(|name| std::env::var(name).map_or(true, |v| v.is_empty()))
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "missing environment variables: {}\n\
             set SF_LOGIN_URL to the org's My Domain and SF_CLIENT_ID / SF_CLIENT_SECRET to a \
             connected app with the client-credentials flow enabled",
            missing.join(", ")
        );
        return ExitCode::from(2);
    }
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

async fn run() -> cosell::Result<()> {
    let flow = ClientCredentialsFlow::new(
        SalesforceLogin::new(&env("SF_LOGIN_URL"))?,
        env("SF_CLIENT_ID"),
        env("SF_CLIENT_SECRET").into(),
    )?;
    let origin = std::env::var("SF_ORIGIN").unwrap_or_else(|_| "cosell-example".to_owned());
    let sf = Salesforce::builder(Arc::new(CachedTokenProvider::new(flow)))
        .origin_client_id(origin)
        .build()?;

    let co_sell = CoSellFieldSet::default();
    let sync_gate = co_sell
        .sync_with_partner_center
        .clone()
        .unwrap_or_else(|| "Sync_With_Partner_Center__c".to_owned());
    let mut fields: Vec<&str> = Opportunity::STANDARD_FIELDS.to_vec();
    fields.extend(co_sell.api_names());
    let soql = Soql::select(fields)
        .from("Opportunity")
        .filter(field(&sync_gate).eq(true))
        .order_by("CloseDate", Order::Asc)
        .build()?;
    let flagged: Vec<Opportunity> = sf
        .query_with(&soql, QueryOptions::new().batch_size(500))
        .into_stream()
        .try_collect()
        .await?;
    println!("{} opportunities flagged for co-sell", flagged.len());
    for opp in &flagged {
        let values = opp.co_sell(&co_sell)?;
        println!(
            "  {} {:?} stage={:?} close={:?} amount={:?} referral={:?}",
            opp.id.as_deref().unwrap_or("?"),
            opp.name.as_deref().unwrap_or(""),
            opp.stage_name,
            opp.close_date,
            opp.amount,
            values.referral_id,
        );
    }
    if let Some(usage) = sf.last_limit_info().and_then(|l| l.api_usage) {
        println!("API usage: {} of {}", usage.used, usage.limit);
    }

    let Ok(referral_id) = std::env::var("SF_REFERRAL_ID") else {
        println!("set SF_REFERRAL_ID to also upsert an opportunity for a referral");
        return Ok(());
    };
    let Some(key) = co_sell.referral_id.clone() else {
        return Err(cosell::Error::config(
            "the co-sell field set has no referral id field",
        ));
    };
    let mut opp = Opportunity::new(
        format!("Co-sell referral {referral_id}"),
        "Prospecting",
        jiff::Timestamp::now()
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .date()
            .saturating_add(jiff::Span::new().days(90)),
    );
    opp.set_co_sell(
        &co_sell,
        &CoSellFields {
            sync_with_partner_center: Some(true),
            ..CoSellFields::default()
        },
    )?;
    match sf.upsert("Opportunity", &key, &referral_id, &opp).await {
        Ok(UpsertOutcome::Created { id }) => println!("created opportunity {id}"),
        Ok(UpsertOutcome::Updated { id }) => println!("updated opportunity {id:?}"),
        Ok(other) => println!("upserted: {other:?}"),
        Err(e) if is_multiple_matches(&e) => {
            println!("several opportunities carry referral {referral_id}: review them by hand");
        }
        Err(e) => return Err(e),
    }
    Ok(())
}
