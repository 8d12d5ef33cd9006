//! The org's daily API allocation: counted per request, reported in `Sforce-Limit-Info`, and
//! refused with `403 REQUEST_LIMIT_EXCEEDED` once used up.

use http::StatusCode;
use serde_json::json;

use super::failure;
use super::store::{Org, WriteError};
use crate::ServiceReply;

/// Counts one request against the allocation, or refuses it when the allocation is used up.
pub(crate) fn charge(org: &mut Org, operation: &'static str) -> Option<ServiceReply> {
    if org.api_used >= org.api_limit {
        return Some(failure(
            operation,
            &WriteError::new(
                StatusCode::FORBIDDEN,
                "REQUEST_LIMIT_EXCEEDED",
                format!(
                    "TotalRequests Limit exceeded. ({} of {})",
                    org.api_used, org.api_limit
                ),
            ),
        ));
    }
    org.api_used += 1;
    None
}

/// Adds `Sforce-Limit-Info: api-usage=N/M`.
pub(crate) fn with_usage(org: &Org, reply: ServiceReply) -> ServiceReply {
    reply.with_header(
        "sforce-limit-info",
        &format!("api-usage={}/{}", org.api_used, org.api_limit),
    )
}

/// `GET limits`.
pub(crate) fn resource(org: &Org, operation: &'static str) -> ServiceReply {
    let remaining = org.api_limit.saturating_sub(org.api_used);
    ServiceReply::json(
        operation,
        StatusCode::OK,
        &json!({
            "DailyApiRequests": { "Max": org.api_limit, "Remaining": remaining },
        }),
    )
}
