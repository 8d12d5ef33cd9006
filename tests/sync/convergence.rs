//! Convergence: random referrals and random edit sequences on both sides, synced through the
//! real `Crm` implementations and the default mappings against the emulator. After the last
//! sync, another sync from either side writes nothing, and both sides hold the same deal name,
//! notes, value and close date — except fields the sync reported as a conflict left to a
//! person. The sides are read through the emulator's control API and compared here, without
//! the mapping.

use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::harness::{Harness, Kind, shared_referral};
use cosell::sync::OutcomeKind;

#[derive(Debug, Clone)]
enum Field {
    Name(String),
    Notes(String),
    /// In cents.
    Value(u32),
    /// Days after 2027-01-01.
    CloseDay(u16),
}

#[derive(Debug, Clone)]
enum Step {
    EditPartnerCenter(Field),
    EditCrm(Field),
    SyncReferral,
    SyncCrm,
}

fn text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9 ,.'é-]{0,24}"
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        "[A-Za-z][A-Za-z0-9 ,.'-]{0,20}".prop_map(Field::Name),
        text().prop_map(Field::Notes),
        (0u32..1_000_000_000).prop_map(Field::Value),
        (0u16..700).prop_map(Field::CloseDay),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => field().prop_map(Step::EditPartnerCenter),
        3 => field().prop_map(Step::EditCrm),
        2 => Just(Step::SyncReferral),
        2 => Just(Step::SyncCrm),
    ]
}

fn day(offset: u16) -> jiff::civil::Date {
    jiff::civil::date(2027, 1, 1)
        .checked_add(jiff::Span::new().days(i64::from(offset)))
        .unwrap()
}

fn cents(value: u32) -> Decimal {
    Decimal::new(i64::from(value), 2)
}

fn edit_partner_center(h: &Harness, id: &str, field: &Field) {
    let (path, value) = match field {
        Field::Name(name) => ("/name", json!(name)),
        Field::Notes(notes) => ("/details/notes", json!(notes)),
        Field::Value(value) => ("/details/dealValue", json!(cents(*value).to_string())),
        Field::CloseDay(offset) => (
            "/details/closingDateTime",
            json!(format!("{}T00:00:00Z", day(*offset))),
        ),
    };
    h.edit_referral(id, json!([{"op": "replace", "path": path, "value": value}]));
}

fn edit_crm(h: &Harness, id: &str, field: &Field) {
    let dataverse = h.kind == Kind::Dataverse;
    let (column, value) = match field {
        Field::Name(name) => (h.column("name"), json!(name)),
        Field::Notes(notes) => (h.column("notes"), json!(notes)),
        Field::Value(value) => (
            if dataverse {
                "estimatedvalue"
            } else {
                "Amount"
            },
            serde_json::from_str::<Value>(&cents(*value).to_string()).unwrap(),
        ),
        Field::CloseDay(offset) => (
            if dataverse {
                "estimatedclosedate"
            } else {
                "CloseDate"
            },
            json!(day(*offset).to_string()),
        ),
    };
    h.edit_opportunity(id, json!({ column: value }));
}

/// `(name, notes, value, close date)` as a person reads them on each side: text trimmed, empty
/// text as nothing, amounts to the cent, dates as dates.
type Deal = (
    Option<String>,
    Option<String>,
    Option<Decimal>,
    Option<String>,
);

fn trimmed(value: &Value) -> Option<String> {
    value
        .as_str()
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

fn amount(value: &Value) -> Option<Decimal> {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        _ => return None,
    };
    text.parse::<Decimal>()
        .ok()
        .map(|d| d.round_dp(2).normalize())
}

fn referral_deal(referral: &Value) -> Deal {
    let details = &referral["details"];
    (
        trimmed(&referral["name"]),
        trimmed(&details["notes"]),
        amount(&details["dealValue"]),
        details["closingDateTime"]
            .as_str()
            .map(|at| at.get(..10).unwrap_or(at).to_owned()),
    )
}

fn crm_deal(h: &Harness, row: &Value) -> Deal {
    let dataverse = h.kind == Kind::Dataverse;
    let value = &row[if dataverse {
        "estimatedvalue"
    } else {
        "Amount"
    }];
    let close = &row[if dataverse {
        "estimatedclosedate"
    } else {
        "CloseDate"
    }];
    (
        trimmed(&row[h.column("name")]),
        trimmed(&row[h.column("notes")]),
        amount(value),
        close
            .as_str()
            .map(|at| at.get(..10).unwrap_or(at).to_owned()),
    )
}

async fn run(kind: Kind, accepted: bool, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let h = Harness::new(kind).await;
    let sync = h.sync().await;
    let mut shared = shared_referral("Convergent");
    if accepted {
        shared["status"] = json!("Active");
        shared["substatus"] = json!("Accepted");
    }
    let referral_id = h.share(shared);
    let created = sync.sync_referral(&referral_id).await;
    prop_assert!(created.kind.wrote(), "{created:?}");
    let crm_id = created.crm_id.clone().unwrap();
    for step in &steps {
        match step {
            Step::EditPartnerCenter(field) => edit_partner_center(&h, &referral_id, field),
            Step::EditCrm(field) => edit_crm(&h, &crm_id, field),
            Step::SyncReferral => {
                let outcome = sync.sync_referral(&referral_id).await;
                prop_assert!(
                    !matches!(
                        outcome.kind,
                        OutcomeKind::Failed(_) | OutcomeKind::Rejected { .. }
                    ),
                    "{outcome:?}"
                );
            }
            Step::SyncCrm => {
                let outcome = sync.sync_crm_record(&crm_id).await;
                prop_assert!(
                    !matches!(
                        outcome.kind,
                        OutcomeKind::Failed(_) | OutcomeKind::Rejected { .. }
                    ),
                    "{outcome:?}"
                );
            }
        }
    }
    // Settle: each side's changes reach the other.
    sync.sync_referral(&referral_id).await;
    sync.sync_crm_record(&crm_id).await;
    // Converged: nothing more to write, from either side.
    let before = h.writes().len();
    let again = [
        sync.sync_referral(&referral_id).await,
        sync.sync_crm_record(&crm_id).await,
    ];
    for outcome in &again {
        prop_assert!(!outcome.kind.wrote(), "{outcome:?}");
    }
    prop_assert_eq!(h.writes().len(), before);
    // Both sides hold the same deal, but for conflicts left to a person and CRM edits held
    // while the referral waits for acceptance.
    let left_to_a_person: Vec<String> = again
        .iter()
        .flat_map(|outcome| match &outcome.kind {
            OutcomeKind::Conflict { fields } => fields.clone(),
            _ => Vec::new(),
        })
        .collect();
    let pc = referral_deal(&h.referral(&referral_id));
    let crm = crm_deal(&h, &h.opportunity(&crm_id).unwrap());
    // No lost change: a field edited on one side only ends with that side's last edit on both.
    for slot in 0..4 {
        let pc_edits: Vec<&Field> = steps
            .iter()
            .filter_map(|step| match step {
                Step::EditPartnerCenter(field) if slot_of(field) == slot => Some(field),
                _ => None,
            })
            .collect();
        let crm_edits: Vec<&Field> = steps
            .iter()
            .filter_map(|step| match step {
                Step::EditCrm(field) if slot_of(field) == slot => Some(field),
                _ => None,
            })
            .collect();
        let last = match (pc_edits.last(), crm_edits.last()) {
            (Some(field), None) => field,
            (None, Some(field)) if accepted => field,
            _ => continue,
        };
        let expected = expected_deal(last);
        prop_assert_eq!(
            pick(&pc, slot),
            pick(&expected, slot),
            "Partner Center, after {:?}",
            last
        );
        prop_assert_eq!(
            pick(&crm, slot),
            pick(&expected, slot),
            "CRM, after {:?}",
            last
        );
    }
    if accepted {
        let skip = |name: &str| left_to_a_person.iter().any(|field| field == name);
        if !skip("deal_name") {
            prop_assert_eq!(&pc.0, &crm.0, "name");
        }
        if !skip("notes") {
            prop_assert_eq!(&pc.1, &crm.1, "notes");
        }
        if !skip("deal_value") {
            prop_assert_eq!(&pc.2, &crm.2, "value");
        }
        if !skip("close_date") {
            prop_assert_eq!(&pc.3, &crm.3, "close date");
        }
    }
    Ok(())
}

fn slot_of(field: &Field) -> usize {
    match field {
        Field::Name(_) => 0,
        Field::Notes(_) => 1,
        Field::Value(_) => 2,
        Field::CloseDay(_) => 3,
    }
}

/// The deal a person expects after `field` was set, in the slot it sets.
fn expected_deal(field: &Field) -> Deal {
    let mut deal: Deal = (None, None, None, None);
    match field {
        Field::Name(name) => deal.0 = trimmed(&json!(name)),
        Field::Notes(notes) => deal.1 = trimmed(&json!(notes)),
        Field::Value(value) => deal.2 = Some(cents(*value).normalize()),
        Field::CloseDay(offset) => deal.3 = Some(day(*offset).to_string()),
    }
    deal
}

fn pick(deal: &Deal, slot: usize) -> String {
    match slot {
        0 => format!("{:?}", deal.0),
        1 => format!("{:?}", deal.1),
        2 => format!("{:?}", deal.2),
        _ => format!("{:?}", deal.3),
    }
}

fn check(kind: Kind) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = ProptestConfig {
        // `COSELL_SYNC_CASES=500 cargo test --test sync converge` runs more.
        cases: std::env::var("COSELL_SYNC_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(24),
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(accepted in proptest::bool::weighted(0.75), steps in proptest::collection::vec(step(), 1..10))| {
        runtime.block_on(run(kind, accepted, steps))?;
    });
}

#[test]
fn dataverse_pairs_converge_after_any_edits() {
    check(Kind::Dataverse);
}

#[test]
fn salesforce_pairs_converge_after_any_edits() {
    check(Kind::Salesforce);
}
