//! Polling replication: `sobjects/{T}/updated` and `sobjects/{T}/deleted` over a window of
//! `SystemModstamp` (`start` and `end`, ISO 8601 date-times).

use http::StatusCode;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::store::{self, Org, WriteError};
use super::{Call, datetime, failure};
use crate::ServiceReply;

fn window(call: &Call<'_>) -> Result<(Timestamp, Timestamp), WriteError> {
    let bound = |name: &str| {
        let text = call.request.query_param(name).ok_or_else(|| {
            WriteError::bad("MISSING_ARGUMENT", format!("{name} parameter is required"))
        })?;
        datetime::parse(&text).ok_or_else(|| {
            WriteError::bad(
                "INVALID_REPLICATION_DATE",
                format!("{name}: `{text}` is not a date-time"),
            )
        })
    };
    let (start, end) = (bound("start")?, bound("end")?);
    if end < start {
        return Err(WriteError::bad(
            "INVALID_REPLICATION_DATE",
            "end date is before start date",
        ));
    }
    Ok((start, end))
}

/// The records of `sobject` whose `SystemModstamp` falls in the window, deleted or not.
fn in_window<'o>(
    org: &'o Org,
    sobject: &str,
    (start, end): (Timestamp, Timestamp),
    deleted: bool,
) -> impl Iterator<Item = (&'o store::Record, Timestamp)> {
    org.records.iter().filter_map(move |r| {
        let stamp = r
            .fields
            .get("SystemModstamp")
            .and_then(Value::as_str)
            .and_then(datetime::parse)?;
        (r.sobject == sobject && r.deleted == deleted && start <= stamp && stamp <= end)
            .then_some((r, stamp))
    })
}

/// `GET sobjects/{T}/updated?start=…&end=…`.
pub(crate) fn updated(
    org: &Org,
    call: &Call<'_>,
    operation: &'static str,
    sobject: &str,
) -> ServiceReply {
    let answer = (|| {
        let name = org
            .schema(sobject)
            .ok_or_else(|| store::unknown_type(sobject))?
            .name
            .clone();
        let window = window(call)?;
        let ids: Vec<&str> = in_window(org, &name, window, false)
            .map(|(r, _)| r.id.as_str())
            .collect();
        Ok(json!({ "ids": ids, "latestDateCovered": datetime::format(window.1) }))
    })();
    match answer {
        Ok(body) => ServiceReply::json(operation, StatusCode::OK, &body),
        Err(error) => failure(operation, &error),
    }
}

/// `GET sobjects/{T}/deleted?start=…&end=…`.
pub(crate) fn deleted(
    org: &Org,
    call: &Call<'_>,
    operation: &'static str,
    sobject: &str,
) -> ServiceReply {
    let answer = (|| {
        let name = org
            .schema(sobject)
            .ok_or_else(|| store::unknown_type(sobject))?
            .name
            .clone();
        let window = window(call)?;
        let records: Vec<Value> = in_window(org, &name, window, true)
            .map(|(r, at)| json!({ "id": r.id, "deletedDate": datetime::format(at) }))
            .collect();
        Ok(json!({
            "deletedRecords": records,
            "earliestDateAvailable": datetime::format(org.created_at),
            "latestDateCovered": datetime::format(window.1),
        }))
    })();
    match answer {
        Ok(body) => ServiceReply::json(operation, StatusCode::OK, &body),
        Err(error) => failure(operation, &error),
    }
}
