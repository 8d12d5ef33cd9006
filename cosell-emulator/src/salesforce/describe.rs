//! Describe: the objects and fields of the emulated org, with types, lengths and picklist values.

use http::StatusCode;
use serde_json::{Value, json};

use super::FieldType;
use super::store::{self, FieldSchema, ObjectSchema, Org};
use super::{failure, soql};
use crate::ServiceReply;

/// The SOAP type describe reports for a field type.
fn soap_type(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Id | FieldType::Reference => "tns:ID",
        FieldType::Boolean => "xsd:boolean",
        FieldType::Int => "xsd:int",
        FieldType::Double | FieldType::Currency | FieldType::Percent => "xsd:double",
        FieldType::Date => "xsd:date",
        FieldType::DateTime => "xsd:dateTime",
        _ => "xsd:string",
    }
}

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
        "unique": field.unique,
        "custom": field.custom,
        "restrictedPicklist": field.restricted,
        "soapType": soap_type(field.kind),
        // The emulator filters and sorts on every field, so describe says so.
        "filterable": true,
        "sortable": true,
        "groupable": field.kind != FieldType::TextArea,
        "calculated": false,
        "defaultedOnCreate": matches!(field.name.as_str(), "Id" | "IsDeleted" | "CreatedDate" | "LastModifiedDate" | "SystemModstamp" | "CurrencyIsoCode")
            || field.kind == FieldType::Boolean,
        "nameField": field.name == "Name",
        "autoNumber": false,
        "caseSensitive": false,
        "permissionable": field.custom,
        "picklistValues": picklist,
        "referenceTo": field.reference_to.iter().collect::<Vec<_>>(),
        "relationshipName": soql::relationship_name(field),
    })
}

fn urls(schema: &ObjectSchema, version: &str) -> Value {
    let base = format!("/services/data/v{version}/sobjects/{}", schema.name);
    json!({
        "sobject": base,
        "describe": format!("{base}/describe"),
        "rowTemplate": format!("{base}/{{ID}}"),
    })
}

fn object_json(schema: &ObjectSchema, version: &str) -> Value {
    json!({
        "urls": urls(schema, version),
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
pub(crate) fn global(org: &Org, operation: &'static str, version: &str) -> ServiceReply {
    let objects: Vec<Value> = org
        .schemas
        .iter()
        .map(|s| object_json(s, version))
        .collect();
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
                &json!({ "objectDescribe": object_json(schema, version), "recentItems": recent }),
            )
        }
        None => failure(operation, &store::unknown_type(sobject)),
    }
}

/// `GET sobjects/<T>/describe`.
pub(crate) fn describe(
    org: &Org,
    operation: &'static str,
    sobject: &str,
    version: &str,
) -> ServiceReply {
    match org.schema(sobject) {
        Some(schema) => {
            let mut body = object_json(schema, version);
            body["fields"] = Value::Array(schema.fields.iter().map(field_json).collect());
            body["childRelationships"] = Value::Array(children(org, schema));
            body["recordTypeInfos"] = json!([{
                "active": true,
                "available": true,
                "defaultRecordTypeMapping": true,
                "developerName": "Master",
                "master": true,
                "name": "Master",
                "recordTypeId": "012000000000000AAA",
                "urls": {"layout": format!("/services/data/v{version}/sobjects/{}/describe/layouts/012000000000000AAA", schema.name)},
            }]);
            ServiceReply::json(operation, StatusCode::OK, &body)
        }
        None => failure(operation, &store::unknown_type(sobject)),
    }
}

/// The reference fields of other objects that point at `schema`.
fn children(org: &Org, schema: &ObjectSchema) -> Vec<Value> {
    org.schemas
        .iter()
        .flat_map(|child| {
            child
                .fields
                .iter()
                .filter(|f| f.reference_to.as_deref() == Some(schema.name.as_str()))
                .map(|f| {
                    json!({
                        "childSObject": child.name,
                        "field": f.name,
                        "relationshipName": format!("{}s", child.name),
                        "cascadeDelete": false,
                        "deprecatedAndHidden": false,
                        "restrictedDelete": false,
                    })
                })
        })
        .collect()
}
