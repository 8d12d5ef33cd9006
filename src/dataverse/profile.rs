//! How the Dataverse Web API reports errors and request ids.

use http::StatusCode;

use crate::error::{ApiErrorKind, Service};
use crate::http::{ErrorDetails, ServiceProfile, classify_status};

/// Error codes of Dataverse's service protection limits (requests, execution time, concurrency).
const SERVICE_PROTECTION_CODES: [&str; 3] = ["0x80072322", "0x80072321", "0x80072326"];

/// `ConcurrencyVersionMismatch`: the row version sent in `If-Match` is stale.
const CONCURRENCY_VERSION_MISMATCH: &str = "0x80060882";

/// `DuplicateRecord` (third-party code, kept tolerant).
const DUPLICATE_RECORD: &str = "0x80040237";

/// The [`ServiceProfile`] of the Dataverse Web API.
///
/// - Errors are `{"error":{"code":"0x…","message":"…"}}`, with a code that is often empty.
/// - `412` (stale `If-Match`, or `If-None-Match: *` on an existing row) is
///   [`ApiErrorKind::PreconditionFailed`]; so is the concurrency code `0x80060882` whatever the
///   status.
/// - Service protection codes are [`ApiErrorKind::RateLimited`]; `429` honours `Retry-After`
///   through the pipeline.
/// - The request id is read from `x-ms-service-request-id`, then `REQ_ID` (batch parts), then
///   `x-ms-request-id`.
///
/// ```
/// use cosell::dataverse::DataverseProfile;
/// use cosell::error::ApiErrorKind;
/// use cosell::http::{ErrorDetails, ServiceProfile};
/// use http::StatusCode;
///
/// let kind = DataverseProfile.classify(StatusCode::PRECONDITION_FAILED, &ErrorDetails::default());
/// assert_eq!(kind, ApiErrorKind::PreconditionFailed);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DataverseProfile;

impl ServiceProfile for DataverseProfile {
    fn service(&self) -> Service {
        Service::Dataverse
    }

    fn request_id_headers(&self) -> &[&'static str] {
        &[
            "x-ms-service-request-id",
            "req_id",
            "x-ms-request-id",
            "request-id",
        ]
    }

    fn classify(&self, status: StatusCode, details: &ErrorDetails) -> ApiErrorKind {
        let code = details.code.as_deref().map(str::to_ascii_lowercase);
        match code.as_deref() {
            Some(c) if SERVICE_PROTECTION_CODES.contains(&c) => ApiErrorKind::RateLimited,
            Some(CONCURRENCY_VERSION_MISMATCH) => ApiErrorKind::PreconditionFailed,
            Some(DUPLICATE_RECORD) if status != StatusCode::PRECONDITION_FAILED => {
                ApiErrorKind::Conflict
            }
            _ => classify_status(status),
        }
    }
}
