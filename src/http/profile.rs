//! What differs between the APIs the pipeline talks to: header names, error bodies, and which
//! answers mean what.

use std::fmt;

use http::{HeaderName, StatusCode};
use serde_json::Value;

use crate::error::{ApiError, ApiErrorKind, Service};

/// The parts of an error body that every API has in some form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorDetails {
    /// The API's own error code.
    pub code: Option<String>,
    /// The API's own message.
    pub message: Option<String>,
    /// The field or resource blamed.
    pub target: Option<String>,
    /// Nested codes (Partner Center `innerError`), outermost first.
    pub inner_codes: Vec<String>,
}

/// The per-API plug-in of the request pipeline.
///
/// Every method has a default that suits a plain JSON API; an API overrides what it does
/// differently. The crate ships a profile for each API it speaks.
///
/// ```
/// use cosell::error::{ApiError, ApiErrorKind, Service};
/// use cosell::http::{ErrorDetails, ServiceProfile};
/// use http::StatusCode;
///
/// /// An API that reports rate limits as 403 with code `SLOW_DOWN`.
/// #[derive(Debug)]
/// struct MyApi;
///
/// impl ServiceProfile for MyApi {
///     fn classify(&self, status: StatusCode, details: &ErrorDetails) -> ApiErrorKind {
///         if status == StatusCode::FORBIDDEN && details.code.as_deref() == Some("SLOW_DOWN") {
///             return ApiErrorKind::RateLimited;
///         }
///         cosell::http::classify_status(status)
///     }
/// }
/// assert_eq!(
///     MyApi.classify(StatusCode::FORBIDDEN, &ErrorDetails { code: Some("SLOW_DOWN".into()), ..Default::default() }),
///     ApiErrorKind::RateLimited,
/// );
/// ```
pub trait ServiceProfile: Send + Sync + fmt::Debug + 'static {
    /// Which API this is, for errors and traces.
    fn service(&self) -> Service {
        Service::Other
    }

    /// The header that carries the crate's correlation id (a fresh UUID per call).
    fn correlation_header(&self) -> Option<HeaderName> {
        None
    }

    /// The header that carries an idempotency key, the same on every attempt of one call.
    fn idempotency_header(&self) -> Option<HeaderName> {
        None
    }

    /// Response headers that may hold the server's request id, in order of preference.
    fn request_id_headers(&self) -> &[&'static str] {
        &[
            "request-id",
            "x-ms-request-id",
            "ms-requestid",
            "x-ms-service-request-id",
            "req_id",
            "x-request-id",
        ]
    }

    /// Extracts code, message and target from an error body.
    fn parse_error(&self, body: &[u8]) -> ErrorDetails {
        parse_error_body(body)
    }

    /// Decides what a non-success answer means.
    fn classify(&self, status: StatusCode, details: &ErrorDetails) -> ApiErrorKind {
        let _ = details;
        classify_status(status)
    }

    /// Whether trying again may succeed.
    fn is_transient(&self, error: &ApiError) -> bool {
        matches!(
            error.kind,
            ApiErrorKind::RateLimited | ApiErrorKind::Server | ApiErrorKind::Timeout
        ) && !matches!(error.status.as_u16(), 501 | 505..=599)
    }

    /// Whether the server refused the request before doing anything with it, which makes even a
    /// non-idempotent request safe to send again. By default: rate limits.
    fn refused_before_processing(&self, error: &ApiError) -> bool {
        error.kind == ApiErrorKind::RateLimited
    }

    /// Whether the answer rejects the access token, so that a fresh token and one replay may
    /// succeed.
    fn rejects_token(&self, error: &ApiError) -> bool {
        error.status == StatusCode::UNAUTHORIZED
    }
}

/// A profile for an API with no particulars.
#[derive(Debug, Clone, Copy, Default)]
pub struct GenericProfile;

impl ServiceProfile for GenericProfile {}

/// The usual meaning of an HTTP status.
pub fn classify_status(status: StatusCode) -> ApiErrorKind {
    match status.as_u16() {
        401 => ApiErrorKind::Unauthorized,
        403 => ApiErrorKind::Forbidden,
        404 | 410 => ApiErrorKind::NotFound,
        408 => ApiErrorKind::Timeout,
        409 => ApiErrorKind::Conflict,
        412 => ApiErrorKind::PreconditionFailed,
        429 => ApiErrorKind::RateLimited,
        400..=499 => ApiErrorKind::BadRequest,
        500..=599 => ApiErrorKind::Server,
        _ => ApiErrorKind::Other,
    }
}

/// Reads the error body shapes of every API this crate speaks, tolerantly:
///
/// - OData and Partner Center: `{"error": {"code", "message", "target", "innerError": {…}}}`;
/// - OAuth 2.0: `{"error": "invalid_client", "error_description": "…"}`;
/// - Salesforce: `[{"message", "errorCode", "fields": [...]}]`;
/// - flat: `{"code" | "errorCode" | "statusCode", "message"}`.
///
/// Anything else (HTML, truncated JSON) gives empty details; the raw excerpt stays in the error.
///
/// ```
/// let d = cosell::http::parse_error_body(br#"{"error":{"code":"preconditionFailed","message":"stale","innerError":{"code":"resourceModified"}}}"#);
/// assert_eq!(d.code.as_deref(), Some("preconditionFailed"));
/// assert_eq!(d.inner_codes, vec!["resourceModified".to_string()]);
/// ```
pub fn parse_error_body(body: &[u8]) -> ErrorDetails {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return ErrorDetails::default();
    };
    match &value {
        Value::Array(items) => items.first().map(flat_details).unwrap_or_default(),
        Value::Object(map) => match map.get("error") {
            Some(Value::Object(_)) => nested_details(&value["error"]),
            Some(Value::String(code)) => ErrorDetails {
                code: Some(code.clone()),
                message: text(map.get("error_description")),
                ..ErrorDetails::default()
            },
            _ => flat_details(&value),
        },
        _ => ErrorDetails::default(),
    }
}

fn nested_details(error: &Value) -> ErrorDetails {
    let mut details = ErrorDetails {
        code: text(field(error, &["code"])).filter(|c| !c.is_empty()),
        message: text(field(error, &["message"])),
        target: text(field(error, &["target"])),
        inner_codes: Vec::new(),
    };
    let mut inner = field(error, &["innerError", "innererror"]);
    // Bounded walk: a hostile body cannot make this loop long.
    while let Some(level) = inner.filter(|_| details.inner_codes.len() < 16) {
        if let Some(code) = text(field(level, &["code"])) {
            details.inner_codes.push(code);
        }
        inner = field(level, &["innerError", "innererror"]);
    }
    details
}

fn flat_details(value: &Value) -> ErrorDetails {
    let target = match field(value, &["fields"]) {
        Some(Value::Array(fields)) if !fields.is_empty() => Some(
            fields
                .iter()
                .filter_map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => text(field(value, &["target"])),
    };
    ErrorDetails {
        code: text(field(value, &["errorCode", "code", "statusCode"])),
        message: text(field(value, &["message", "Message"])),
        target,
        inner_codes: Vec::new(),
    }
}

fn field<'a>(value: &'a Value, names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|n| value.get(*n))
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The error of one part of a batched answer (a Dataverse `$batch` part, a Salesforce
/// `composite` subrequest), read and classified by `profile` as an answer of its own would be.
pub(crate) fn part_error(
    profile: &dyn ServiceProfile,
    status: StatusCode,
    body: &[u8],
    request_id: Option<String>,
) -> crate::error::Error {
    let details = profile.parse_error(body);
    crate::error::Error::from(ApiError {
        service: profile.service(),
        status,
        kind: profile.classify(status, &details),
        code: details.code,
        message: details.message,
        target: details.target,
        inner_codes: details.inner_codes,
        request_id,
        correlation_id: None,
        retry_after: None,
        body_excerpt: crate::error::body_excerpt(body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_shape() {
        let oauth =
            parse_error_body(br#"{"error":"invalid_client","error_description":"bad secret"}"#);
        assert_eq!(oauth.code.as_deref(), Some("invalid_client"));
        assert_eq!(oauth.message.as_deref(), Some("bad secret"));

        let sf = parse_error_body(
            br#"[{"message":"dup","errorCode":"DUPLICATE_VALUE","fields":["Referral_Id__c"]}]"#,
        );
        assert_eq!(sf.code.as_deref(), Some("DUPLICATE_VALUE"));
        assert_eq!(sf.target.as_deref(), Some("Referral_Id__c"));

        let dv = parse_error_body(br#"{"error":{"code":"","message":"not found"}}"#);
        assert_eq!(dv.code, None);
        assert_eq!(dv.message.as_deref(), Some("not found"));

        let throttle =
            parse_error_body(br#"{"statusCode":429,"message":"Rate limit is exceeded."}"#);
        assert_eq!(throttle.code.as_deref(), Some("429"));

        assert_eq!(
            parse_error_body(b"<html>bad gateway</html>"),
            ErrorDetails::default()
        );
    }
}
