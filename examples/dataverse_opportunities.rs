//! Lists the open opportunities flagged "sync with Partner Center", page by page, and appends a
//! line to the co-sell audit column of the first one, guarded by its ETag.
//!
//! Needs a Dataverse application user for an Entra ID app registration; credentials come from
//! the environment (the table is in `docs/environment.md`):
//!
//! ```text
//! COSELL_DATAVERSE_URL=https://contoso.crm.dynamics.com
//! AZURE_TENANT_ID=contoso.onmicrosoft.com
//! AZURE_CLIENT_ID=…
//! AZURE_CLIENT_SECRET=…
//! COSELL_DATAVERSE_PREFIX=cosell   # optional: the publisher prefix of the co-sell columns
//! cargo run --example dataverse_opportunities
//! ```

use cosell::auth::Env;
use cosell::dataverse::{
    CoSellFieldNames, CoSellUpdate, Dataverse, Filter, Opportunity, OpportunityPatch,
    OpportunityState, Query,
};
use cosell::{FieldUpdate, Order};

#[tokio::main]
async fn main() -> cosell::Result<()> {
    let env = Env::process();
    let dataverse = Dataverse::builder_from_env(&env)?
        // Mark our writes so plug-ins and our own change feed can recognise them, and keep
        // them from triggering flows.
        .origin_tag("cosell")
        .suppress_flows(true)
        .build()?;

    let prefix = env
        .optional("COSELL_DATAVERSE_PREFIX")?
        .unwrap_or_else(|| "cosell".to_owned());
    let columns = CoSellFieldNames::with_prefix(&prefix);
    let query = Query::new()
        .select(Opportunity::STANDARD_COLUMNS)
        .select(columns.names())
        .filter(
            Filter::eq("statecode", OpportunityState::Open.value())
                .and(Filter::eq(&columns.sync_with_partner_center, true)),
        )
        .order_by("modifiedon", Order::Descending)
        .page_size(100)
        .formatted_values();

    let mut pager = dataverse.opportunities().query::<Opportunity>(&query);
    let mut first: Option<Opportunity> = None;
    let mut page_number = 0;
    while let Some(page) = pager.next_page().await? {
        page_number += 1;
        println!("page {page_number}: {} opportunities", page.items.len());
        for opportunity in page.items {
            let cosell = opportunity.cosell(&columns)?;
            println!(
                "  {} | {} | {} {} | closes {} | referral {}",
                opportunity.id.map(|id| id.to_string()).unwrap_or_default(),
                opportunity.name.as_deref().unwrap_or("(no name)"),
                opportunity
                    .estimated_value
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "-".into()),
                opportunity
                    .formatted("_transactioncurrencyid_value")
                    .unwrap_or(""),
                opportunity
                    .estimated_close_date
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "-".into()),
                cosell.referral_id.as_deref().unwrap_or("(none)"),
            );
            first.get_or_insert(opportunity);
        }
    }

    let Some(opportunity) = first else {
        println!("no open opportunity is flagged for sync");
        return Ok(());
    };
    let (Some(id), Some(etag)) = (opportunity.id, opportunity.etag.as_deref()) else {
        println!("the first opportunity came without an id or ETag");
        return Ok(());
    };
    let audit = opportunity
        .cosell(&columns)?
        .audit_trail
        .unwrap_or_default();
    let line = format!("{} checked by the cosell example", jiff::Timestamp::now());
    let mut changes = OpportunityPatch::default();
    columns.write(
        &CoSellUpdate {
            audit_trail: FieldUpdate::Set(if audit.is_empty() {
                line
            } else {
                format!("{audit}\n{line}")
            }),
            ..Default::default()
        },
        &mut changes.extra,
    );
    match dataverse
        .opportunities()
        .update(id, &changes)
        .if_match(etag)
        .send()
        .await
    {
        Ok(()) => println!("updated {id}"),
        Err(e) if e.is_conflict() => println!("{id} changed since it was read; re-read and retry"),
        Err(e) if e.is_outcome_unknown() => {
            println!("{id}: the update may or may not have landed; re-read before writing again")
        }
        Err(e) => return Err(e),
    }
    Ok(())
}
