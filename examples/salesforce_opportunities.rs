//! Lists the Salesforce opportunities flagged for co-sell, then upserts one by its Partner
//! Center referral id.
//!
//! Credentials come from the environment (the table is in `docs/environment.md`), for example a
//! connected app with the client-credentials flow on; `COSELL_REFERRAL_ID` (optional) names a
//! referral to upsert an opportunity for.
//!
//! ```text
//! SALESFORCE_LOGIN_URL=https://contoso.my.salesforce.com \
//! SALESFORCE_CLIENT_ID=… SALESFORCE_CLIENT_SECRET=… \
//!   cargo run --example salesforce_opportunities
//! ```

use cosell::Order;
use cosell::auth::Env;
use cosell::salesforce::soql::{Soql, field};
use cosell::salesforce::{
    CoSellFieldNames, CoSellFields, Opportunity, QueryOptions, Salesforce, UpsertOutcome,
    is_multiple_matches,
};
use futures::TryStreamExt;

#[tokio::main(flavor = "current_thread")]
async fn main() -> cosell::Result<()> {
    let env = Env::process();
    let sf = Salesforce::builder_from_env(&env)?
        .origin_client_id("cosell-example")
        .build()?;

    let co_sell = CoSellFieldNames::default();
    let sync_gate = co_sell
        .sync_with_partner_center
        .clone()
        .unwrap_or_else(|| "Sync_With_Partner_Center__c".to_owned());
    let mut fields: Vec<&str> = Opportunity::STANDARD_FIELDS.to_vec();
    fields.extend(co_sell.names());
    let soql = Soql::select(fields)
        .from("Opportunity")
        .filter(field(&sync_gate).eq(true))
        .order_by("CloseDate", Order::Ascending)
        .build()?;
    let flagged: Vec<Opportunity> = sf
        .query_with(&soql, QueryOptions::new().page_size(500))
        .into_stream()
        .try_collect()
        .await?;
    println!("{} opportunities flagged for co-sell", flagged.len());
    for opp in &flagged {
        let values = opp.cosell(&co_sell)?;
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

    let Some(referral_id) = env.optional("COSELL_REFERRAL_ID")? else {
        println!("set COSELL_REFERRAL_ID to also upsert an opportunity for a referral");
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
    opp.set_cosell(
        &co_sell,
        &CoSellFields {
            sync_with_partner_center: Some(true),
            ..CoSellFields::default()
        },
    )?;
    match sf.opportunities().upsert(&key, &referral_id, &opp).await {
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
