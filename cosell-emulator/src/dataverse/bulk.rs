//! The bulk messages bound to a table: `CreateMultiple`, `UpdateMultiple` and
//! `UpsertMultiple`, each taking `{"Targets": [rows]}`. On a standard table any failure rolls
//! the whole request back, as the service does.

use http::StatusCode;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::error::{DvError, DvResult, INVALID_ARGUMENT};
use super::filter::Literal;
use super::key::RowKey;
use super::store::{State, WriteContext};
use super::{Call, json_reply, merge};
use crate::frame::ServiceReply;

/// The most rows one request takes.
const MAX_TARGETS: usize = 1000;

/// The message a bound action segment names, if it is one of the three.
pub(crate) fn message(segment: &str) -> Option<&'static str> {
    match segment.strip_prefix("Microsoft.Dynamics.CRM.")? {
        "CreateMultiple" => Some("dataverse.create_multiple"),
        "UpdateMultiple" => Some("dataverse.update_multiple"),
        "UpsertMultiple" => Some("dataverse.upsert_multiple"),
        _ => None,
    }
}

/// The row a target names: its primary key, or every column of an alternate key.
fn existing(state: &State, set: &str, target: &Map<String, Value>) -> DvResult<Option<usize>> {
    let def = &state.require_table(set)?.def;
    if let Some(id) = target.get(&def.primary_id).and_then(Value::as_str) {
        let id = Uuid::parse_str(id).map_err(|_| {
            DvError::bad_request(INVALID_ARGUMENT, format!("'{id}' is not a valid id."))
        })?;
        return state.find(set, &RowKey::Id(id));
    }
    for key in &def.alternate_keys {
        let values: Option<Vec<(String, Literal)>> = key
            .iter()
            .map(|column| {
                let literal = match target.get(column)? {
                    Value::String(text) => Literal::Text(text.clone()),
                    Value::Number(n) => Literal::Int(n.as_i64()?),
                    _ => return None,
                };
                Some((column.clone(), literal))
            })
            .collect();
        if let Some(values) = values {
            return state.find(set, &RowKey::Alternate(values));
        }
    }
    Ok(None)
}

pub(crate) fn execute(
    state: &mut State,
    call: &Call,
    ctx: &WriteContext,
    operation: &'static str,
    base: &str,
) -> DvResult<ServiceReply> {
    let set = call.segments[0].clone();
    let def = state.require_table(&set)?.def.clone();
    let body = call.json_object()?;
    let Some(Value::Array(targets)) = body.get("Targets") else {
        return Err(DvError::bad_request(
            INVALID_ARGUMENT,
            "The parameter 'Targets' is required.",
        ));
    };
    if targets.is_empty() || targets.len() > MAX_TARGETS {
        return Err(DvError::bad_request(
            INVALID_ARGUMENT,
            format!(
                "Targets holds 1 to {MAX_TARGETS} rows, not {}.",
                targets.len()
            ),
        ));
    }
    let ctx = merge(ctx, call);
    let snapshot = state.clone();
    let mut outcomes = Vec::new();
    for target in targets {
        let Value::Object(target) = target else {
            *state = snapshot;
            return Err(DvError::bad_request(
                INVALID_ARGUMENT,
                "Each target is a row object.",
            ));
        };
        let mut row = target.clone();
        row.remove("@odata.type");
        let result = match (operation, existing(state, &set, &row)) {
            (_, Err(e)) => Err(e),
            ("dataverse.create_multiple", _) => {
                state.create(&set, &row, &ctx, false).map(|id| (id, true))
            }
            (_, Ok(Some(index))) => {
                let id = state.require_table(&set)?.rows()[index].id;
                row.remove(&def.primary_id);
                state.update(&set, index, &row, &ctx).map(|()| (id, false))
            }
            ("dataverse.update_multiple", Ok(None)) => Err(DvError::new(
                StatusCode::NOT_FOUND,
                super::error::OBJECT_DOES_NOT_EXIST,
                format!("{} with the given key does not exist.", def.logical_name),
            )),
            (_, Ok(None)) => state.create(&set, &row, &ctx, false).map(|id| (id, true)),
        };
        match result {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) => {
                *state = snapshot;
                return Err(e);
            }
        }
    }
    let context = |name: &str| format!("{base}$metadata#Microsoft.Dynamics.CRM.{name}");
    Ok(match operation {
        "dataverse.create_multiple" => json_reply(
            operation,
            StatusCode::OK,
            json!({
                "@odata.context": context("CreateMultipleResponse"),
                "Ids": outcomes.iter().map(|(id, _)| id.to_string()).collect::<Vec<_>>(),
            }),
        ),
        "dataverse.update_multiple" => ServiceReply::empty(operation, StatusCode::NO_CONTENT)
            .with_header("odata-version", "4.0"),
        _ => json_reply(
            operation,
            StatusCode::OK,
            json!({
                "@odata.context": context("UpsertMultipleResponse"),
                "Results": outcomes.iter().map(|(id, created)| json!({
                    "RecordCreated": created,
                    "Target": {
                        "@odata.type": format!("#Microsoft.Dynamics.CRM.{}", def.logical_name),
                        def.primary_id.clone(): id.to_string(),
                    },
                })).collect::<Vec<_>>(),
            }),
        ),
    })
}
