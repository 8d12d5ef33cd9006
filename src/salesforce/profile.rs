//! How the Salesforce REST API signals what went wrong.

use http::StatusCode;

use crate::error::{ApiError, ApiErrorKind, Service};
use serde_json::Value;

use crate::http::{ErrorDetails, ServiceProfile, classify_status, parse_error_body};

/// The error code Salesforce sends when an API limit is hit (daily allocation or concurrent
/// long-running requests), with status 403.
pub const REQUEST_LIMIT_EXCEEDED: &str = "REQUEST_LIMIT_EXCEEDED";

/// The error code of a rejected or expired session (status 401).
pub const INVALID_SESSION_ID: &str = "INVALID_SESSION_ID";

/// The code this crate gives an upsert whose external id matched several records
/// (`300 Multiple Choices`); nothing was written.
pub const MULTIPLE_CHOICES: &str = "MULTIPLE_CHOICES";

/// The code this crate gives a conditional update refused because the record changed after the
/// expected `LastModifiedDate`.
pub const RECORD_MODIFIED: &str = "RECORD_MODIFIED";

/// The pipeline profile of the Salesforce REST API.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SalesforceProfile;

impl ServiceProfile for SalesforceProfile {
    fn service(&self) -> Service {
        Service::Salesforce
    }

    fn request_id_headers(&self) -> &[&'static str] {
        // Salesforce documents no request id header; these are the ones seen in the wild.
        &["sforce-request-id", "x-request-id", "x-sfdc-request-id"]
    }

    fn parse_error(&self, body: &[u8]) -> ErrorDetails {
        let mut details = parse_error_body(body);
        // Salesforce sends an array of errors; the first decides, the others' codes are kept.
        if let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(body) {
            details.inner_codes.extend(
                items
                    .iter()
                    .skip(1)
                    .take(16)
                    .filter_map(|item| item.get("errorCode").and_then(Value::as_str))
                    .map(str::to_owned),
            );
        }
        details
    }

    fn classify(&self, status: StatusCode, details: &ErrorDetails) -> ApiErrorKind {
        classify(status, details.code.as_deref())
    }

    fn is_transient(&self, error: &ApiError) -> bool {
        match error.kind {
            // The daily allocation is a rolling 24-hour pool: retrying within seconds only burns
            // attempts. Concurrency limits clear quickly, so those are worth a back-off.
            ApiErrorKind::RateLimited => !daily_allocation_exhausted(error),
            ApiErrorKind::Server | ApiErrorKind::Timeout => {
                !matches!(error.status.as_u16(), 501 | 505..=599)
            }
            _ => false,
        }
    }

    fn rejects_token(&self, error: &ApiError) -> bool {
        error.status == StatusCode::UNAUTHORIZED
    }
}

/// What a Salesforce answer means: the error code first, the status second.
pub(crate) fn classify(status: StatusCode, code: Option<&str>) -> ApiErrorKind {
    match code {
        Some(REQUEST_LIMIT_EXCEEDED) => ApiErrorKind::RateLimited,
        Some(INVALID_SESSION_ID) => ApiErrorKind::Unauthorized,
        Some("DUPLICATE_VALUE" | "DUPLICATES_DETECTED" | "DUPLICATE_EXTERNAL_ID") => {
            ApiErrorKind::Conflict
        }
        Some("UNABLE_TO_LOCK_ROW") => ApiErrorKind::Conflict,
        Some("ENTITY_IS_DELETED" | "NOT_FOUND") => ApiErrorKind::NotFound,
        Some(
            "INSUFFICIENT_ACCESS_OR_READONLY" | "INSUFFICIENT_ACCESS" | "API_DISABLED_FOR_ORG",
        ) => ApiErrorKind::Forbidden,
        Some("SERVER_UNAVAILABLE") => ApiErrorKind::Server,
        _ => match status.as_u16() {
            // 300 arrives only from an upsert whose external id matched several records.
            300 => ApiErrorKind::Conflict,
            _ => classify_status(status),
        },
    }
}

/// Whether a limit error is about the org's daily allocation (message `TotalRequests Limit
/// exceeded.`) rather than concurrent requests. The message text is not a documented contract:
/// anything else counts as a concurrency limit, which is the safer guess for a back-off.
pub(crate) fn daily_allocation_exhausted(error: &ApiError) -> bool {
    error
        .message
        .as_deref()
        .is_some_and(|m| m.contains("TotalRequests"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_decide_before_statuses() {
        let forbidden = StatusCode::FORBIDDEN;
        assert_eq!(
            classify(forbidden, Some(REQUEST_LIMIT_EXCEEDED)),
            ApiErrorKind::RateLimited
        );
        assert_eq!(classify(forbidden, None), ApiErrorKind::Forbidden);
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, Some("DUPLICATE_VALUE")),
            ApiErrorKind::Conflict
        );
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, Some("ENTITY_IS_DELETED")),
            ApiErrorKind::NotFound
        );
        assert_eq!(
            classify(StatusCode::MULTIPLE_CHOICES, None),
            ApiErrorKind::Conflict
        );
    }
}
