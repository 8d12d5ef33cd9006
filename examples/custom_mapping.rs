//! Start from the default Dynamics 365 mapping, rename two custom columns, map one more option
//! set through a value map, and print the write the sync would send for a sample referral.
//!
//! No network: run with `cargo run --example custom_mapping`.

use std::collections::HashMap;
use std::process::ExitCode;

use cosell::mapping::{
    CrmWriteContext, Direction, EmailContactMatch, ExactAccountMatch, FieldMapping, FieldRule,
    FieldSpec, Policy, Transform, ValueKind, ValueMap, dynamics365,
};

const SAMPLE_REFERRAL: &str = r#"{
  "id": "a4b2c9d0-1111-4e2a-9c3b-5d6e7f800001",
  "name": "Contoso Retail - Azure data platform",
  "status": "Active", "substatus": "Accepted",
  "salesStage": "Develop",
  "customerProfile": {
    "name": "Contoso Retail",
    "address": {"addressLine1": "1 Microsoft Way", "city": "Redmond", "state": "WA", "postalCode": "98052", "country": "us"},
    "team": [{"firstName": "Ana", "lastName": "O'Neil", "email": "ana@contoso-retail.example", "phoneNumber": "0100"}]
  },
  "consent": {"consentToShareReferralWithMicrosoftSellers": true},
  "details": {
    "notes": "Consolidate three warehouses.",
    "dealValue": "250000.7500",
    "currency": "usd",
    "closingDateTime": "2026-03-24T18:30:00Z",
    "requirements": {"industries": [{"id": "Retail"}], "solutions": [{"id": "SOL-15974-MQF"}]}
  },
  "inviteContext": {"assistanceRequestCode": "CustomerTechnicalArchitecture"},
  "trackingInfo": {"microsoftMsxId": "7-ABCDEF123"}
}"#;

fn main() -> ExitCode {
    // The resolvers are async (a real one queries the CRM); these answer from memory, so a
    // plain executor is enough.
    match futures::executor::block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let industries = ValueMap::new()
        .pair("Retail", 100_000_001)
        .pair("Manufacturing", 100_000_002)
        .pair("Healthcare", 100_000_003);
    let mapping = dynamics365()
        // Two custom columns under this organisation's own names.
        .update("referral_id", |rule| rule.crm("contoso_pcreferralid"))
        .update("solutions", |rule| rule.crm("contoso_solutionids"))
        // One more option set, Partner Center → CRM.
        .field(
            FieldSpec::new("industry", ValueKind::Choice)
                .direction(Direction::PartnerCenterToCrm)
                .policy(Policy::PartnerCenterWins),
            FieldRule::new("industry")
                .partner_center("details.requirements.industries[0].id")
                .crm("contoso_industry")
                .crm_transform(Transform::Map(industries)),
        )
        .build()?;

    let referral: serde_json::Value = serde_json::from_str(SAMPLE_REFERRAL)?;
    let projected = mapping.referral_to_canonical(&referral)?;
    let context = CrmWriteContext {
        create: true,
        current: None,
        partner_center: None,
    };
    let mut write = mapping.crm_write(&projected.create_changes(), context)?;

    // The sync would look these up; here they come from fixed answers.
    let currencies = HashMap::from([(
        "USD".to_owned(),
        "7d9d8c3b-2222-4d9b-8a55-0123456789ab".to_owned(),
    )]);
    let left = write
        .resolve(
            &ExactAccountMatch::default(),
            &EmailContactMatch::default(),
            &currencies,
        )
        .await?;

    // Query exactly what the mapping reads when fetching opportunities back.
    let read = mapping.crm_read_fields();
    println!(
        "GET /api/data/v9.2/opportunities?$select={}&$expand={}",
        read.dataverse_select().join(","),
        read.dataverse_expand().join(",")
    );
    println!("POST /api/data/v9.2/opportunities");
    println!("{}", write.body_json());
    for (lookup, resolution) in &left {
        println!(
            "lookup {} still to resolve ({resolution:?}), create body: {}",
            lookup.property,
            serde_json::Value::Object(lookup.create_body.clone())
        );
    }
    if let Some(state) = &write.state {
        println!(
            "then change state to {}/{} ({})",
            state.state_code, state.status_code, state.status
        );
    }
    for issue in projected.issues.iter().chain(&write.issues) {
        println!("note: {issue:?}");
    }
    Ok(())
}
