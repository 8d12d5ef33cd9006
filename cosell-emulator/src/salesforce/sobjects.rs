//! sObject rows: create, retrieve, update, delete, and upsert / retrieve by external id.

use http::StatusCode;
use serde_json::{Value, json};

use super::datetime;
use super::store::{self, Org, RecordedWrite, WriteError, Writer};
use super::{Call, failure};
use crate::ServiceReply;

fn body_of(call: &Call<'_>) -> Result<Value, WriteError> {
    call.request.json::<Value>().map_err(|e| {
        WriteError::bad(
            "JSON_PARSER_ERROR",
            format!("The request body is not valid JSON: {e}"),
        )
    })
}

fn known_type<'o>(
    org: &'o Org,
    sobject: &str,
) -> Result<&'o super::store::ObjectSchema, WriteError> {
    org.schema(sobject)
        .ok_or_else(|| store::unknown_type(sobject))
}

pub(crate) fn record_write(
    org: &mut Org,
    call: &Call<'_>,
    operation: &'static str,
    sobject: &str,
    ids: Vec<String>,
) {
    org.writes.push(RecordedWrite {
        operation,
        sobject: sobject.to_owned(),
        ids,
        call_options: call.call_options(),
    });
}

fn answer(operation: &'static str, result: Result<ServiceReply, WriteError>) -> ServiceReply {
    result.unwrap_or_else(|error| failure(operation, &error))
}

/// `POST sobjects/<T>` → `201 {id, success, errors}`.
pub(crate) fn create(
    org: &mut Org,
    call: &Call<'_>,
    operation: &'static str,
    sobject: &str,
) -> ServiceReply {
    answer(
        operation,
        (|| {
            let name = known_type(org, sobject)?.name.clone();
            let body = body_of(call)?;
            let id = org.create(&name, &body, Writer::Api)?;
            record_write(org, call, operation, &name, vec![id.clone()]);
            Ok(ServiceReply::json(
                operation,
                StatusCode::CREATED,
                &json!({ "id": id, "success": true, "errors": [] }),
            ))
        })(),
    )
}

/// The `fields` parameter, checked against the schema and in canonical case.
fn field_list(
    org: &Org,
    call: &Call<'_>,
    sobject: &str,
) -> Result<Option<Vec<String>>, WriteError> {
    let Some(list) = call.request.query_param("fields") else {
        return Ok(None);
    };
    let schema = known_type(org, sobject)?;
    list.split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|name| {
            schema.field(name).map(|f| f.name.clone()).ok_or_else(|| {
                WriteError::bad(
                    "INVALID_FIELD",
                    format!("No such column '{name}' on entity '{}'", schema.name),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn live(org: &Org, sobject: &str, id: &str) -> Result<usize, WriteError> {
    known_type(org, sobject)?;
    match org.find(sobject, id) {
        Some(index) if org.records.get(index).is_some_and(|r| !r.deleted) => Ok(index),
        _ => Err(store::not_found()),
    }
}

/// `GET sobjects/<T>/<id>[?fields=…]`.
pub(crate) fn retrieve(
    org: &mut Org,
    call: &Call<'_>,
    operation: &'static str,
    sobject: &str,
    id: &str,
) -> ServiceReply {
    answer(
        operation,
        (|| {
            let index = live(org, sobject, id)?;
            let fields = field_list(org, call, sobject)?;
            let record = org.records.get(index).ok_or_else(store::not_found)?;
            let view = org.view(record, fields.as_deref(), &call.version);
            Ok(ServiceReply::json(operation, StatusCode::OK, &view))
        })(),
    )
}

/// `PATCH sobjects/<T>/<id>` → `204`; honours `If-Unmodified-Since` (to the second).
pub(crate) fn update(
    org: &mut Org,
    call: &Call<'_>,
    operation: &'static str,
    sobject: &str,
    id: &str,
) -> ServiceReply {
    answer(
        operation,
        (|| {
            known_type(org, sobject)?;
            let index = org.find(sobject, id).ok_or_else(store::not_found)?;
            let body = body_of(call)?;
            if let Some(since) = call.request.header("if-unmodified-since") {
                let since = jiff::fmt::strtime::parse("%a, %d %b %Y %H:%M:%S GMT", since)
                    .and_then(|t| t.to_datetime())
                    .and_then(|dt| jiff::tz::TimeZone::UTC.to_timestamp(dt))
                    .map_err(|_| {
                        WriteError::bad(
                            "INVALID_HEADER_VALUE",
                            "If-Unmodified-Since is not an HTTP date",
                        )
                    })?;
                let modified = org
                    .records
                    .get(index)
                    .and_then(|r| r.fields.get("LastModifiedDate"))
                    .and_then(Value::as_str)
                    .and_then(datetime::parse);
                if modified.is_some_and(|m| m.as_second() > since.as_second()) {
                    return Err(WriteError::new(
                        StatusCode::PRECONDITION_FAILED,
                        "PRECONDITION_FAILED",
                        "The requested resource has been modified since the If-Unmodified-Since date",
                    ));
                }
            }
            org.update(index, &body, Writer::Api)?;
            let (name, id) = org
                .records
                .get(index)
                .map(|r| (r.sobject.clone(), r.id.clone()))
                .unwrap_or_default();
            record_write(org, call, operation, &name, vec![id]);
            Ok(ServiceReply::empty(operation, StatusCode::NO_CONTENT))
        })(),
    )
}

/// `DELETE sobjects/<T>/<id>` → `204`.
pub(crate) fn delete(
    org: &mut Org,
    call: &Call<'_>,
    operation: &'static str,
    sobject: &str,
    id: &str,
) -> ServiceReply {
    answer(
        operation,
        (|| {
            known_type(org, sobject)?;
            let index = org.find(sobject, id).ok_or_else(store::not_found)?;
            org.delete(index)?;
            let (name, id) = org
                .records
                .get(index)
                .map(|r| (r.sobject.clone(), r.id.clone()))
                .unwrap_or_default();
            record_write(org, call, operation, &name, vec![id]);
            Ok(ServiceReply::empty(operation, StatusCode::NO_CONTENT))
        })(),
    )
}

/// The external id field `field` of `sobject`, in canonical case (`Id` included).
pub(crate) fn external_field(org: &Org, sobject: &str, field: &str) -> Result<String, WriteError> {
    let schema = known_type(org, sobject)?;
    match schema.field(field) {
        Some(f) if f.external_id || f.name == "Id" => Ok(f.name.clone()),
        Some(f) => Err(WriteError::bad(
            "INVALID_FIELD",
            format!(
                "Field {} is not an external id field on {}",
                f.name, schema.name
            ),
        )),
        None => Err(WriteError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("Provided external ID field does not exist or is not accessible: {field}"),
        )),
    }
}

fn matching(org: &Org, sobject: &str, field: &str, value: &str) -> Vec<usize> {
    if field == "Id" {
        return org
            .find(sobject, value)
            .filter(|i| org.records.get(*i).is_some_and(|r| !r.deleted))
            .into_iter()
            .collect();
    }
    org.by_external_id(sobject, field, value)
}

/// `300 Multiple Choices` with the matching records' URLs.
fn several(org: &Org, call: &Call<'_>, operation: &'static str, found: &[usize]) -> ServiceReply {
    let urls: Vec<String> = found
        .iter()
        .filter_map(|i| org.records.get(*i))
        .map(|r| {
            format!(
                "/services/data/v{}/sobjects/{}/{}",
                call.version, r.sobject, r.id
            )
        })
        .collect();
    ServiceReply::json(operation, StatusCode::MULTIPLE_CHOICES, &urls)
}

/// `GET sobjects/<T>/<field>/<value>`.
pub(crate) fn retrieve_by_external_id(
    org: &mut Org,
    call: &Call<'_>,
    operation: &'static str,
    sobject: &str,
    field: &str,
    value: &str,
) -> ServiceReply {
    answer(
        operation,
        (|| {
            let field = external_field(org, sobject, field)?;
            let fields = field_list(org, call, sobject)?;
            let found = matching(org, sobject, &field, value);
            match found.as_slice() {
                [] => Err(store::not_found()),
                [one] => {
                    let record = org.records.get(*one).ok_or_else(store::not_found)?;
                    let view = org.view(record, fields.as_deref(), &call.version);
                    Ok(ServiceReply::json(operation, StatusCode::OK, &view))
                }
                _ => Ok(several(org, call, operation, &found)),
            }
        })(),
    )
}

/// Whether the API version reports upsert updates as `200` with a body (46.0 and later) rather
/// than an empty `204`.
fn reports_created(version: &str) -> bool {
    version
        .split('.')
        .next()
        .and_then(|major| major.parse::<u32>().ok())
        .is_some_and(|major| major >= 46)
}

/// `PATCH sobjects/<T>/<field>/<value>`: `201` created, `200` (or `204` before v46) updated,
/// `300` when several records match (nothing written).
pub(crate) fn upsert(
    org: &mut Org,
    call: &Call<'_>,
    operation: &'static str,
    sobject: &str,
    field: &str,
    value: &str,
) -> ServiceReply {
    answer(
        operation,
        (|| {
            let field = external_field(org, sobject, field)?;
            let name = known_type(org, sobject)?.name.clone();
            let mut body = body_of(call)?;
            let found = matching(org, &name, &field, value);
            if found.len() > 1 {
                return Ok(several(org, call, operation, &found));
            }
            if let Value::Object(map) = &mut body {
                let key = map.keys().find(|k| k.eq_ignore_ascii_case(&field)).cloned();
                if let Some(key) = key {
                    let same = map
                        .get(&key)
                        .and_then(Value::as_str)
                        .is_some_and(|v| v.eq_ignore_ascii_case(value));
                    if !same {
                        return Err(WriteError::bad(
                            "INVALID_FIELD_FOR_INSERT_UPDATE",
                            format!(
                                "The external id field {field} in the body differs from the URL"
                            ),
                        )
                        .on(vec![field.clone()]));
                    }
                    map.remove(&key);
                }
            }
            if let [index] = found.as_slice() {
                org.update(*index, &body, Writer::Api)?;
                let id = org
                    .records
                    .get(*index)
                    .map(|r| r.id.clone())
                    .unwrap_or_default();
                record_write(org, call, operation, &name, vec![id.clone()]);
                return Ok(if reports_created(&call.version) {
                    ServiceReply::json(
                        operation,
                        StatusCode::OK,
                        &json!({ "id": id, "success": true, "errors": [], "created": false }),
                    )
                } else {
                    ServiceReply::empty(operation, StatusCode::NO_CONTENT)
                });
            }
            if field == "Id" {
                return Err(store::not_found());
            }
            if let Value::Object(map) = &mut body {
                map.insert(field.clone(), Value::String(value.to_owned()));
            }
            let id = org.create(&name, &body, Writer::Api)?;
            record_write(org, call, operation, &name, vec![id.clone()]);
            let mut created = json!({ "id": id, "success": true, "errors": [] });
            if reports_created(&call.version) {
                created["created"] = Value::Bool(true);
            }
            Ok(ServiceReply::json(operation, StatusCode::CREATED, &created))
        })(),
    )
}
