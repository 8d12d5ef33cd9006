//! The clients' typed models as the JSON records a mapping reads, amounts kept exact.

use serde_json::{Map, Value as Json};

use crate::dataverse;
use crate::partner_center::Referral;
use crate::salesforce;

fn exact(object: &mut Map<String, Json>, key: &str, value: Option<rust_decimal::Decimal>) {
    if let Some(number) = value {
        // A string keeps every digit; the mapping reads numbers from strings too.
        object.insert(key.to_owned(), Json::String(number.to_string()));
    }
}

fn object(value: serde_json::Result<Json>) -> Map<String, Json> {
    match value {
        Ok(Json::Object(map)) => map,
        _ => Map::new(),
    }
}

/// A referral as the JSON record [`FieldMapping::referral_to_canonical`] reads.
///
/// [`FieldMapping::referral_to_canonical`]: crate::mapping::FieldMapping::referral_to_canonical
///
/// ```
/// use cosell::mapping::{dynamics365, fields, referral_json, FieldMapping};
/// use cosell::partner_center::Referral;
///
/// let referral = Referral::from_json(br#"{"id": "r-1", "name": "Deal", "details": {"dealValue": "98765432109876.5432"}}"#)?;
/// let projected = dynamics365().build().unwrap().referral_to_canonical(&referral_json(&referral)).unwrap();
/// assert_eq!(projected.raw.get(fields::DEAL_VALUE).as_decimal().unwrap().to_string(), "98765432109876.5432");
/// # Ok::<(), cosell::Error>(())
/// ```
pub fn referral_json(referral: &Referral) -> Json {
    let mut root = object(serde_json::to_value(referral));
    if let Some(Json::Object(details)) = root.get_mut("details") {
        exact(details, "dealValue", referral.deal_value());
    }
    Json::Object(root)
}

/// A Dataverse opportunity row (with any expanded relations in its `extra`) as the JSON record
/// [`FieldMapping::crm_to_canonical`](crate::mapping::FieldMapping::crm_to_canonical) reads.
///
/// ```
/// use cosell::mapping::dataverse_json;
/// let row: cosell::dataverse::Opportunity = serde_json::from_str(r#"{"opportunityid": "c0ffee00-3333-4a5e-8f00-0123456789ab", "statecode": 1}"#).unwrap();
/// assert_eq!(dataverse_json(&row)["statecode"], 1);
/// ```
pub fn dataverse_json(row: &dataverse::Opportunity) -> Json {
    let mut root = object(serde_json::to_value(row));
    exact(&mut root, "estimatedvalue", row.estimated_value);
    exact(&mut root, "budgetamount", row.budget_amount);
    Json::Object(root)
}

/// A Salesforce opportunity (with any related `Account` / `Contact` in its `extra`) as the JSON
/// record [`FieldMapping::crm_to_canonical`](crate::mapping::FieldMapping::crm_to_canonical)
/// reads, read-only fields (`Id`, `IsClosed`, `IsWon`, `LastModifiedDate`) included.
///
/// ```
/// use cosell::mapping::salesforce_json;
/// let record: cosell::salesforce::Opportunity = serde_json::from_str(r#"{"Id": "006A", "IsWon": true}"#).unwrap();
/// let json = salesforce_json(&record);
/// assert_eq!((json["Id"].as_str(), json["IsWon"].as_bool()), (Some("006A"), Some(true)));
/// ```
pub fn salesforce_json(record: &salesforce::Opportunity) -> Json {
    let mut root = object(serde_json::to_value(record));
    exact(&mut root, "Amount", record.amount);
    if let Some(id) = &record.id {
        root.insert("Id".into(), Json::String(id.clone()));
    }
    if let Some(closed) = record.is_closed {
        root.insert("IsClosed".into(), Json::Bool(closed));
    }
    if let Some(won) = record.is_won {
        root.insert("IsWon".into(), Json::Bool(won));
    }
    if let Some(modified) = record.last_modified_date {
        root.insert(
            "LastModifiedDate".into(),
            Json::String(modified.to_string()),
        );
    }
    Json::Object(root)
}
