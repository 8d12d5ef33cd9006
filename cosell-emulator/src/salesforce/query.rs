//! `query` and `queryAll`: run the SOQL, answer the first batch, keep the rest behind a
//! `nextRecordsUrl` locator.

use http::StatusCode;
use serde_json::{Value, json};

use super::FieldType;
use super::soql::Count;
use super::store::{Org, WriteError};
use super::{Call, failure, soql};
use crate::ServiceReply;

/// The rest of a query's records, fetched page by page.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    records: Vec<Value>,
    batch: usize,
    resource: &'static str,
}

const DEFAULT_BATCH: usize = 2000;

/// `Sforce-Query-Options: batchSize=N`, brought into 200..=2000 as Salesforce does.
fn batch_size(call: &Call<'_>) -> Option<usize> {
    let header = call.request.header("sforce-query-options")?;
    header.split(',').find_map(|part| {
        let (name, value) = part.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("batchSize") {
            return None;
        }
        value
            .trim()
            .parse::<usize>()
            .ok()
            .map(|n| n.clamp(200, 2000))
    })
}

fn malformed(message: impl Into<String>) -> WriteError {
    WriteError::bad("MALFORMED_QUERY", message)
}

/// What a query answers: records, or a bare `COUNT()`'s total (no records).
pub(crate) enum Answer {
    Records(Vec<Value>),
    Count(usize),
}

/// Runs a query and returns the records as the API shows them.
pub(crate) fn run(
    org: &Org,
    text: &str,
    version: &str,
    include_deleted: bool,
) -> Result<Answer, WriteError> {
    let parsed = soql::parse(text).map_err(malformed)?;
    let schema = org.schema(&parsed.object).ok_or_else(|| {
        WriteError::bad(
            "INVALID_TYPE",
            format!("sObject type '{}' is not supported.", parsed.object),
        )
    })?;
    let query = parsed.resolve(org, schema)?;
    let kind = |name: &str| query.kinds.get(name).copied().unwrap_or(FieldType::String);
    let candidates = query
        .filter
        .as_ref()
        .and_then(|condition| org.records.candidates(condition, &kind));
    let looked_at: Box<dyn Iterator<Item = &super::store::Record>> = match candidates {
        Some(positions) => Box::new(positions.into_iter().map(|i| &org.records[i])),
        None => Box::new(org.records.iter()),
    };
    let mut rows: Vec<&super::store::Record> = looked_at
        .filter(|r| r.sobject == query.object && (include_deleted || !r.deleted))
        .filter(|r| {
            query
                .filter
                .as_ref()
                .is_none_or(|c| soql::matches(c, &|path| org.path_value(r, path), &query.kinds))
        })
        .collect();
    if !query.order.is_empty() {
        rows.sort_by(|a, b| {
            soql::order(&query.order, &|path| org.path_value(a, path), &|path| {
                org.path_value(b, path)
            })
        });
    }
    let offset = query.offset.unwrap_or(0);
    let limit = query.limit.unwrap_or(usize::MAX);
    let rows = rows.into_iter().skip(offset).take(limit);
    Ok(match &query.count {
        None => Answer::Records(
            rows.map(|r| org.view(r, Some(&query.fields), version))
                .collect(),
        ),
        Some(Count { field: None, .. }) => Answer::Count(rows.count()),
        Some(Count {
            field: Some(field),
            alias,
        }) => {
            let counted = rows.filter(|r| !org.path_value(r, field).is_null()).count();
            let name = alias.clone().unwrap_or_else(|| "expr0".to_owned());
            let mut row = serde_json::Map::new();
            row.insert("attributes".into(), json!({"type": "AggregateResult"}));
            row.insert(name, counted.into());
            Answer::Records(vec![Value::Object(row)])
        }
    })
}

/// Answers the records of `cursor` from `start`, keeping the cursor for the next page when
/// more remain (under `locator` if it already has one).
fn page(
    org: &mut Org,
    call: &Call<'_>,
    operation: &'static str,
    locator: Option<String>,
    cursor: Cursor,
    start: usize,
) -> ServiceReply {
    let total = cursor.records.len();
    let end = start.saturating_add(cursor.batch).min(total);
    let batch_records: Vec<Value> = cursor.records.get(start..end).unwrap_or_default().to_vec();
    let done = end >= total;
    let mut body = json!({ "totalSize": total, "done": done, "records": batch_records });
    if !done {
        let resource = cursor.resource;
        let locator = locator.unwrap_or_else(|| {
            let n = org.next_cursor;
            org.next_cursor += 1;
            let locator = format!("01gEm{n:010}");
            org.cursors.insert(locator.clone(), cursor);
            locator
        });
        body["nextRecordsUrl"] = Value::String(format!(
            "/services/data/v{}/{resource}/{locator}-{end}",
            call.version
        ));
    }
    ServiceReply::json(operation, StatusCode::OK, &body)
}

/// `GET query?q=…` / `GET queryAll?q=…`.
pub(crate) fn first_page(org: &mut Org, call: &Call<'_>, operation: &'static str) -> ServiceReply {
    let include_deleted = operation == "query_all";
    let resource = if include_deleted { "queryAll" } else { "query" };
    let Some(text) = call
        .request
        .query_param("q")
        .filter(|q| !q.trim().is_empty())
    else {
        return failure(operation, &malformed("A query string has to be specified"));
    };
    match run(org, &text, &call.version, include_deleted) {
        Ok(Answer::Count(total)) => ServiceReply::json(
            operation,
            StatusCode::OK,
            &json!({ "totalSize": total, "done": true, "records": [] }),
        ),
        Ok(Answer::Records(records)) => {
            let cursor = Cursor {
                records,
                batch: batch_size(call).unwrap_or(DEFAULT_BATCH),
                resource,
            };
            page(org, call, operation, None, cursor, 0)
        }
        Err(error) => failure(operation, &error),
    }
}

/// `GET query/<locator>-<offset>`.
pub(crate) fn next_page(
    org: &mut Org,
    call: &Call<'_>,
    operation: &'static str,
    locator: &str,
) -> ServiceReply {
    let parsed = locator
        .rsplit_once('-')
        .and_then(|(id, offset)| Some((id.to_owned(), offset.parse::<usize>().ok()?)));
    let Some((id, offset)) = parsed else {
        return failure(operation, &invalid_locator());
    };
    let Some(cursor) = org.cursors.get(&id).cloned() else {
        return failure(operation, &invalid_locator());
    };
    if offset > cursor.records.len() {
        return failure(operation, &invalid_locator());
    }
    let cursor = Cursor {
        batch: batch_size(call).unwrap_or(cursor.batch),
        ..cursor
    };
    page(org, call, operation, Some(id), cursor, offset)
}

fn invalid_locator() -> WriteError {
    WriteError::bad("INVALID_QUERY_LOCATOR", "invalid query locator")
}
