//! sObject Collections (`composite/sobjects`): up to 200 records per call, each with its own
//! save result, or all rolled back with `allOrNone`.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::sobjects::{external_field, record_write};
use super::store::{Org, WriteError, Writer};
use super::{Call, failure};
use crate::ServiceReply;

const LIMIT: usize = 200;

/// What one record's write gave: the id written and whether it was created.
type Outcome = Result<(String, Option<bool>), WriteError>;

fn too_many(count: usize) -> WriteError {
    WriteError::bad(
        "EXCEEDED_ID_LIMIT",
        format!(
            "record limit reached. cannot submit more than {LIMIT} records into this call ({count} given)"
        ),
    )
}

fn save_result(outcome: &Outcome) -> Value {
    match outcome {
        Ok((id, created)) => {
            let mut result = json!({ "id": id, "success": true, "errors": [] });
            if let Some(created) = created {
                result["created"] = Value::Bool(*created);
            }
            result
        }
        Err(error) => json!({ "success": false, "errors": [error.to_save_error()] }),
    }
}

/// A field of a record body, its name compared without regard to case as Salesforce does.
fn field<'a>(record: &'a Value, name: &str) -> Option<&'a Value> {
    record
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

fn type_of(record: &Value) -> Option<String> {
    field(field(record, "attributes")?, "type")?
        .as_str()
        .map(str::to_owned)
}

fn one(
    org: &mut Org,
    operation: &'static str,
    record: &Value,
    upsert: Option<(&str, &str)>,
) -> Outcome {
    let sobject = match upsert {
        Some((sobject, _)) => sobject.to_owned(),
        None => type_of(record).ok_or_else(|| {
            WriteError::bad(
                "INVALID_TYPE",
                "Must send a concrete entity type (attributes.type).",
            )
        })?,
    };
    let name = org
        .schema(&sobject)
        .map(|s| s.name.clone())
        .ok_or_else(|| {
            WriteError::bad(
                "INVALID_TYPE",
                format!("sObject type '{sobject}' is not supported."),
            )
        })?;
    match operation {
        "collections.create" => {
            if field(record, "Id").is_some_and(|id| !id.is_null()) {
                return Err(WriteError::bad(
                    "INVALID_FIELD",
                    "cannot specify Id in an insert call",
                )
                .on(vec!["Id".to_owned()]));
            }
            Ok((org.create(&name, record, Writer::Api)?, None))
        }
        "collections.update" => {
            let id = field(record, "Id").and_then(Value::as_str).ok_or_else(|| {
                WriteError::bad("MISSING_ARGUMENT", "Id not specified in an update call")
                    .on(vec!["Id".to_owned()])
            })?;
            let index = org.find(&name, id).ok_or_else(|| {
                WriteError::bad(
                    "INVALID_CROSS_REFERENCE_KEY",
                    format!("invalid cross reference id: {id}"),
                )
            })?;
            org.update(index, record, Writer::Api).map_err(|e| {
                if e.code == "ENTITY_IS_DELETED" {
                    WriteError::bad(e.code, e.message)
                } else {
                    e
                }
            })?;
            Ok((
                org.records
                    .get(index)
                    .map(|r| r.id.clone())
                    .unwrap_or_default(),
                None,
            ))
        }
        _ => {
            let (_, field) = upsert.unwrap_or_default();
            let field = external_field(org, &name, field)
                .map_err(|e| WriteError::bad(e.code, e.message))?;
            let key = record
                .as_object()
                .and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(&field)))
                .and_then(|(_, v)| match v {
                    Value::String(s) if !s.is_empty() => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .ok_or_else(|| {
                    WriteError::bad("MISSING_ARGUMENT", format!("{field} not specified"))
                        .on(vec![field.clone()])
                })?;
            let found = org.by_external_id(&name, &field, &key);
            match found.as_slice() {
                [] => Ok((org.create(&name, record, Writer::Api)?, Some(true))),
                [index] => {
                    let mut body = record.clone();
                    if let Value::Object(map) = &mut body {
                        map.retain(|k, _| !k.eq_ignore_ascii_case(&field));
                    }
                    org.update(*index, &body, Writer::Api)?;
                    Ok((
                        org.records
                            .get(*index)
                            .map(|r| r.id.clone())
                            .unwrap_or_default(),
                        Some(false),
                    ))
                }
                _ => Err(WriteError::bad(
                    "DUPLICATE_EXTERNAL_ID",
                    format!("Duplicate external id specified: {key}"),
                )
                .on(vec![field.clone()])),
            }
        }
    }
}

fn delete_one(org: &mut Org, id: &str) -> Outcome {
    let index = org.find_any(id).ok_or_else(|| {
        WriteError::bad(
            "INVALID_CROSS_REFERENCE_KEY",
            format!("invalid cross reference id: {id}"),
        )
    })?;
    org.delete(index)
        .map_err(|e| WriteError::bad(e.code, e.message))?;
    Ok((
        org.records
            .get(index)
            .map(|r| r.id.clone())
            .unwrap_or_default(),
        None,
    ))
}

/// Any Collections call; `upsert` names the object and external id field of an upsert.
pub(crate) fn handle(
    org: &mut Org,
    call: &Call<'_>,
    operation: &'static str,
    upsert: Option<(&str, &str)>,
) -> ServiceReply {
    let (all_or_none, inputs): (bool, Vec<Value>) = if call.request.method == Method::DELETE {
        let ids = call.request.query_param("ids").unwrap_or_default();
        let ids: Vec<Value> = ids
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Value::String(s.to_owned()))
            .collect();
        let all = call
            .request
            .query_param("allOrNone")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        (all, ids)
    } else {
        let body: Value = match call.request.json() {
            Ok(body) => body,
            Err(e) => {
                return failure(operation, &WriteError::bad("JSON_PARSER_ERROR", e));
            }
        };
        let all = body
            .get("allOrNone")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        match body.get("records") {
            Some(Value::Array(records)) => (all, records.clone()),
            _ => {
                return failure(
                    operation,
                    &WriteError::bad("INVALID_FIELD", "The request needs a records array"),
                );
            }
        }
    };
    if inputs.is_empty() {
        return failure(
            operation,
            &WriteError::bad("MISSING_ARGUMENT", "no records or ids given"),
        );
    }
    if inputs.len() > LIMIT {
        return failure(operation, &too_many(inputs.len()));
    }
    let before = (org.records.clone(), org.writes.len());
    let outcomes: Vec<Outcome> = inputs
        .iter()
        .map(|input| match input {
            Value::String(id) if call.request.method == Method::DELETE => delete_one(org, id),
            record => one(org, operation, record, upsert),
        })
        .collect();
    let failed = outcomes.iter().any(Result::is_err);
    let results: Vec<Value> = if all_or_none && failed {
        // Nothing is kept: the failures keep their errors, the others report the roll-back.
        org.records = before.0;
        org.writes.truncate(before.1);
        outcomes
            .iter()
            .map(|outcome| match outcome {
                Err(_) => save_result(outcome),
                Ok(_) => json!({
                    "success": false,
                    "errors": [{
                        "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                        "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
                        "fields": [],
                    }],
                }),
            })
            .collect()
    } else {
        // One recorded write per object type written (a create may mix types).
        let mut written: Vec<(String, Vec<String>)> = Vec::new();
        for (id, _) in outcomes.iter().filter_map(|o| o.as_ref().ok()) {
            let sobject = org
                .find_any(id)
                .and_then(|i| org.records.get(i))
                .map(|r| r.sobject.clone())
                .unwrap_or_default();
            match written.iter_mut().find(|(s, _)| *s == sobject) {
                Some((_, ids)) => ids.push(id.clone()),
                None => written.push((sobject, vec![id.clone()])),
            }
        }
        for (sobject, ids) in written {
            record_write(org, call, operation, &sobject, ids);
        }
        outcomes.iter().map(save_result).collect()
    };
    ServiceReply::json(operation, StatusCode::OK, &results)
}

/// `GET composite/sobjects/{T}?ids=…&fields=…` or `POST` with `{"ids": […], "fields": […]}`:
/// the records in the order asked, `null` for an id not found.
pub(crate) fn retrieve(
    org: &Org,
    call: &Call<'_>,
    operation: &'static str,
    sobject: &str,
) -> ServiceReply {
    let split = |text: String| -> Vec<String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let strings = |value: Option<&Value>| -> Option<Vec<String>> {
        value?
            .as_array()?
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let (ids, fields) = if call.request.method == Method::GET {
        (
            call.request.query_param("ids").map(split),
            call.request.query_param("fields").map(split),
        )
    } else {
        match call.request.json::<Value>() {
            Ok(body) => (
                strings(field(&body, "ids")),
                strings(field(&body, "fields")),
            ),
            Err(e) => return failure(operation, &WriteError::bad("JSON_PARSER_ERROR", e)),
        }
    };
    let Some(schema) = org.schema(sobject) else {
        return failure(operation, &super::store::unknown_type(sobject));
    };
    let (Some(ids), Some(fields)) = (
        ids.filter(|i| !i.is_empty()),
        fields.filter(|f| !f.is_empty()),
    ) else {
        return failure(
            operation,
            &WriteError::bad("MISSING_ARGUMENT", "ids and fields are required"),
        );
    };
    if ids.len() > 2000 {
        return failure(operation, &too_many(ids.len()));
    }
    let mut canonical = Vec::new();
    for name in &fields {
        match schema.field(name) {
            Some(f) => canonical.push(f.name.clone()),
            None => {
                return failure(
                    operation,
                    &WriteError::bad(
                        "INVALID_FIELD",
                        format!("No such column '{name}' on entity '{}'", schema.name),
                    ),
                );
            }
        }
    }
    let records: Vec<Value> = ids
        .iter()
        .map(|id| {
            org.find(&schema.name, id)
                .and_then(|i| org.records.get(i))
                .filter(|r| !r.deleted)
                .map_or(Value::Null, |r| {
                    org.view(r, Some(&canonical), &call.version)
                })
        })
        .collect();
    ServiceReply::json(operation, StatusCode::OK, &records)
}
