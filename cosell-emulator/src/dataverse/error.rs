//! Dataverse's error answers: `{"error":{"code":"0x…","message":"…"}}` with the service's
//! status, codes and messages.

use http::StatusCode;

use super::super::frame::ServiceReply;

/// `ObjectDoesNotExist`.
pub(crate) const OBJECT_DOES_NOT_EXIST: &str = "0x80040217";
/// `ConcurrencyVersionMismatch`.
pub(crate) const CONCURRENCY_VERSION_MISMATCH: &str = "0x80060882";
/// OData URI or query errors (bad segment, bad `$filter`, unknown property).
pub(crate) const ODATA_ERROR: &str = "0x80060888";
/// `InvalidArgument`.
pub(crate) const INVALID_ARGUMENT: &str = "0x80040203";
/// A string longer than its column allows.
pub(crate) const STRING_TOO_LONG: &str = "0x80044331";
/// A payload the service cannot read.
pub(crate) const BAD_PAYLOAD: &str = "0x80048d19";
/// `DuplicateRecord` (the code is third-party knowledge; documented 412s often leave it empty).
pub(crate) const DUPLICATE_RECORD: &str = "0x80040237";
/// Service protection: number of requests.
pub(crate) const REQUEST_LIMIT: &str = "0x80072322";
/// An action that cannot run in the row's state.
pub(crate) const INVALID_STATE: &str = "0x80040225";

/// A failure, answered in Dataverse's error format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DvError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl DvError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        DvError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        DvError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn odata(message: impl Into<String>) -> Self {
        DvError::bad_request(ODATA_ERROR, message)
    }

    pub(crate) fn not_found(logical_name: &str, id: impl std::fmt::Display) -> Self {
        DvError::new(
            StatusCode::NOT_FOUND,
            OBJECT_DOES_NOT_EXIST,
            format!("{logical_name} With Id = {id} Does Not Exist"),
        )
    }

    pub(crate) fn no_segment(segment: &str) -> Self {
        DvError::new(
            StatusCode::NOT_FOUND,
            ODATA_ERROR,
            format!("Resource not found for the segment '{segment}'."),
        )
    }

    pub(crate) fn unknown_property(property: &str, logical_name: &str) -> Self {
        DvError::odata(format!(
            "Could not find a property named '{property}' on type 'Microsoft.Dynamics.CRM.{logical_name}'."
        ))
    }

    pub(crate) fn version_mismatch() -> Self {
        DvError::new(
            StatusCode::PRECONDITION_FAILED,
            CONCURRENCY_VERSION_MISMATCH,
            "The version of the existing record doesn't match the RowVersion property provided.",
        )
    }

    pub(crate) fn already_exists() -> Self {
        // The documented answer carries an empty code.
        DvError::new(
            StatusCode::PRECONDITION_FAILED,
            "",
            "A record with matching key values already exists.",
        )
    }

    pub(crate) fn duplicate_key(logical_name: &str) -> Self {
        DvError::new(
            StatusCode::PRECONDITION_FAILED,
            DUPLICATE_RECORD,
            format!(
                "A record that has the attribute values {logical_name} key already exists. The \
                 entity key requires that this set of attributes contains unique values."
            ),
        )
    }

    pub(crate) fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": {"code": self.code, "message": self.message}})
    }

    pub(crate) fn reply(&self, operation: &'static str) -> ServiceReply {
        let mut reply = ServiceReply::json(operation, self.status, &self.body());
        set_json_headers(&mut reply);
        reply
    }
}

/// The headers of every Dataverse answer with a JSON body.
pub(crate) fn set_json_headers(reply: &mut ServiceReply) {
    reply.headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; odata.metadata=minimal"),
    );
    reply.headers.insert(
        http::HeaderName::from_static("odata-version"),
        http::HeaderValue::from_static("4.0"),
    );
}

pub(crate) type DvResult<T> = std::result::Result<T, DvError>;
