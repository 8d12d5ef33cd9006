//! The Dataverse client against the in-process emulator: no credentials, no network.
//!
//! Seeds a sample organisation, reads the opportunities flagged for co-sell sync, updates one
//! with its ETag as `cosell` would, then plays a CRM user editing it, and prints what the
//! emulated organisation recorded.
//!
//! Run with `cargo run --example dataverse_emulator`.

use std::process::ExitCode;

use cosell::auth::{ClientCredentials, EntraAuthority};
use cosell::dataverse::{CoSellFieldNames, Dataverse, Filter, Opportunity, Query};
use cosell_emulator::{DATAVERSE_ORG_URL, EmulatedApi, Emulator};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let emulator = Emulator::start().await?;
    let control = emulator.dataverse();
    control.seed_sample()?;

    let authority = EntraAuthority::new(&emulator.urls().entra_authority, "contoso")?;
    let credentials = ClientCredentials::new(
        authority,
        "app",
        "secret".to_string().into(),
        format!("{DATAVERSE_ORG_URL}/.default"),
    )?;
    let dataverse = Dataverse::builder(credentials)
        .base_url(&emulator.urls().dataverse)
        .origin_tag("cosell")
        .suppress_flows(true)
        .build()?;

    let columns = CoSellFieldNames::default();
    let query = Query::new()
        .select(Opportunity::STANDARD_COLUMNS)
        .select(columns.names())
        .filter(
            Filter::eq("statecode", 0).and(Filter::eq(&columns.sync_with_partner_center, true)),
        );
    let flagged = dataverse
        .opportunities()
        .query::<Opportunity>(&query)
        .collect_all()
        .await?;
    for row in &flagged {
        let fields = row.cosell(&columns)?;
        println!(
            "{:?}: {:?}, referral {:?}, etag {:?}",
            row.name, row.estimated_value, fields.referral_id, row.etag
        );
        if let (Some(id), Some(etag)) = (row.id, row.etag.as_deref()) {
            dataverse
                .opportunities()
                .update(id, &serde_json::json!({"closeprobability": 70}))
                .if_match(etag)
                .send()
                .await?;
            control.edit(
                "opportunities",
                id,
                serde_json::json!({"description": "called the customer"}),
            )?;
        }
    }
    for write in control.writes() {
        println!(
            "{} {}({}) tag={:?} by {:?} -> version {}",
            write.operation, write.entity_set, write.id, write.tag, write.source, write.version
        );
    }
    println!(
        "requests: {} queries, {} updates",
        emulator.count(EmulatedApi::Dataverse, "dataverse.query"),
        emulator.count(EmulatedApi::Dataverse, "dataverse.update")
    );
    Ok(())
}
