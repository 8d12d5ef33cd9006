//! The `WinOpportunity` and `LoseOpportunity` actions: close an open opportunity with an
//! `opportunityclose` activity.

use http::StatusCode;
use serde_json::{Map, Value};

use super::error::{DvError, DvResult, INVALID_ARGUMENT, INVALID_STATE};
use super::key::parse_key_segment;
use super::store::{State, WriteContext};
use super::{Call, merge};
use crate::frame::ServiceReply;

pub(crate) fn answer(
    state: &mut State,
    call: &Call,
    ctx: &WriteContext,
    operation: &'static str,
) -> DvResult<ServiceReply> {
    let name = call.segments[0].as_str();
    let (won, new_state) = match name {
        "WinOpportunity" => (true, 1),
        "LoseOpportunity" => (false, 2),
        other => return Err(DvError::no_segment(other)),
    };
    let body = call.json_object()?;
    let status = body.get("Status").and_then(Value::as_i64).ok_or_else(|| {
        DvError::bad_request(INVALID_ARGUMENT, "The parameter 'Status' is required.")
    })?;
    let Some(Value::Object(close)) = body.get("OpportunityClose") else {
        return Err(DvError::bad_request(
            INVALID_ARGUMENT,
            "The parameter 'OpportunityClose' is required.",
        ));
    };
    let bind = close
        .get("opportunityid@odata.bind")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            DvError::bad_request(
                INVALID_ARGUMENT,
                "The OpportunityClose must name its opportunity (opportunityid@odata.bind).",
            )
        })?;
    let segment = bind.rsplit('/').next().unwrap_or_default();
    let (set, key) = parse_key_segment(segment)
        .filter(|(set, _)| set == "opportunities")
        .ok_or_else(|| {
            DvError::bad_request(INVALID_ARGUMENT, format!("'{bind}' is not an opportunity."))
        })?;
    let index = state
        .find(&set, &key)?
        .ok_or_else(|| DvError::not_found("opportunity", &key))?;
    let row = state.require_table(&set)?.rows()[index].clone();
    if row.fields.get("statecode").and_then(Value::as_i64) != Some(0) {
        return Err(DvError::bad_request(
            INVALID_STATE,
            "The opportunity is already closed; reopen it before closing it again.",
        ));
    }
    let fits = match state
        .require_table(&set)?
        .def
        .column("statuscode")
        .map(|c| &c.kind)
    {
        Some(super::schema::ColumnKind::Status(statuses)) => statuses
            .iter()
            .any(|(v, _, s)| i64::from(*v) == status && *s == new_state),
        _ => false,
    };
    if !fits {
        return Err(DvError::bad_request(
            INVALID_ARGUMENT,
            format!(
                "{status} is not a valid status code for state code OpportunityState.{} on \
                 opportunity with Id {}.",
                if won { "Won" } else { "Lost" },
                row.id
            ),
        ));
    }
    let ctx = merge(ctx, call);
    // The close activity, completed.
    let mut activity: Map<String, Value> = close.clone();
    activity.insert("statecode".into(), 1.into());
    activity.insert("statuscode".into(), 2.into());
    state.create("opportunitycloses", &activity, &ctx, true)?;
    let today = jiff::tz::TimeZone::UTC
        .to_datetime(state.clock.now())
        .date()
        .to_string();
    let mut changes = Map::new();
    changes.insert("statecode".into(), new_state.into());
    changes.insert("statuscode".into(), status.into());
    let actual_end = close
        .get("actualend")
        .cloned()
        .filter(|v| !v.is_null())
        .unwrap_or_else(|| today.into());
    changes.insert("actualclosedate".into(), actual_end);
    let revenue = close
        .get("actualrevenue")
        .cloned()
        .filter(|v| !v.is_null())
        .or_else(|| {
            won.then(|| row.fields.get("estimatedvalue").cloned())
                .flatten()
        });
    if let Some(revenue) = revenue {
        changes.insert("actualvalue".into(), revenue);
    }
    let forecast = if won { 100_000_005 } else { 100_000_006 };
    changes.insert("msdyn_forecastcategory".into(), forecast.into());
    state.close(&set, index, changes, if won { "win" } else { "lose" }, &ctx);
    Ok(ServiceReply::empty(operation, StatusCode::NO_CONTENT).with_header("odata-version", "4.0"))
}
