//! Describe: the objects and fields of the emulated org, with types, lengths and picklist values.

use http::StatusCode;
use serde_json::{Value, json};

use super::FieldType;
use super::store::{self, FieldSchema, ObjectSchema, Org};
use super::{failure, soql};
use crate::ServiceReply;

fn field_json(field: &FieldSchema) -> Value {
    let picklist: Vec<Value> = field
        .picklist
        .iter()
        .enumerate()
        .map(|(i, value)| {
            json!({ "value": value, "label": value, "active": true, "defaultValue": i == 0 && field.name == "CurrencyIsoCode" })
        })
        .collect();
    json!({
        "name": field.name,
        "label": field.label,
        "type": field.kind.to_string(),
        "length": field.length.unwrap_or(0),
        "precision": field.precision.unwrap_or(0),
        "scale": field.scale.unwrap_or(0),
        "nillable": !field.required && field.kind != FieldType::Boolean && field.createable,
        "createable": field.createable,
        "updateable": field.updateable,
        "externalId": field.external_id,
        "idLookup": field.external_id || field.name == "Id",
        "unique": false,
        "custom": field.custom,
        "restrictedPicklist": false,
        "picklistValues": picklist,
        "referenceTo": field.reference_to.iter().collect::<Vec<_>>(),
        "relationshipName": soql::relationship_name(field),
    })
}

fn object_json(schema: &ObjectSchema) -> Value {
    json!({
        "name": schema.name,
        "label": schema.label,
        "keyPrefix": schema.key_prefix,
        "custom": false,
        "createable": schema.name != "OpportunityStage",
        "updateable": schema.name != "OpportunityStage",
        "deletable": schema.name != "OpportunityStage",
        "queryable": true,
    })
}

/// `GET sobjects`.
pub(crate) fn global(org: &Org, operation: &'static str) -> ServiceReply {
    let objects: Vec<Value> = org.schemas.iter().map(object_json).collect();
    ServiceReply::json(
        operation,
        StatusCode::OK,
        &json!({ "encoding": "UTF-8", "maxBatchSize": 200, "sobjects": objects }),
    )
}

/// `GET sobjects/<T>`: the object's basic information.
pub(crate) fn info(
    org: &Org,
    operation: &'static str,
    sobject: &str,
    version: &str,
) -> ServiceReply {
    match org.schema(sobject) {
        Some(schema) => {
            let recent: Vec<Value> = org
                .records
                .iter()
                .rev()
                .filter(|r| r.sobject == schema.name && !r.deleted)
                .take(5)
                .map(|r| org.view(r, Some(&["Id".to_owned()]), version))
                .collect();
            ServiceReply::json(
                operation,
                StatusCode::OK,
                &json!({ "objectDescribe": object_json(schema), "recentItems": recent }),
            )
        }
        None => failure(operation, &store::unknown_type(sobject)),
    }
}

/// `GET sobjects/<T>/describe`.
pub(crate) fn describe(org: &Org, operation: &'static str, sobject: &str) -> ServiceReply {
    match org.schema(sobject) {
        Some(schema) => {
            let mut body = object_json(schema);
            body["fields"] = Value::Array(schema.fields.iter().map(field_json).collect());
            ServiceReply::json(operation, StatusCode::OK, &body)
        }
        None => failure(operation, &store::unknown_type(sobject)),
    }
}
