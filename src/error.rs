//! The crate's one error type.
//!
//! The calls that reach a server return [`Result<T>`]. A few parts report their own, narrower
//! error type where a caller acts on its variants: webhook verification
//! ([`WebhookError`]), webhook registration
//! ([`RegisterError`](crate::partner_center::webhooks::RegisterError)), mapping
//! ([`MappingError`](crate::mapping::MappingError)), the sync stores
//! ([`StoreError`](crate::store::StoreError)). Each of them converts into [`Error`] with `?`,
//! keeping its variant, whether it is transient, its status and its source.
//!
//! An [`Error`] tells apart what the
//! server said ([`Error::Api`]), what went wrong on the way there ([`Error::Transport`]), an
//! answer that did not decode ([`Error::Decode`]) or was larger than its limit
//! ([`Error::AnswerTooLarge`]), a token that could not be had
//! ([`Error::Auth`]), bad configuration ([`Error::Config`]) and input refused before anything was
//! sent ([`Error::Validation`]).
//!
//! ```
//! use cosell::Error;
//!
//! fn describe(err: &Error) -> &'static str {
//!     if err.is_conflict() {
//!         "someone else changed the record: re-read and try again"
//!     } else if err.is_outcome_unknown() {
//!         "our write may or may not have landed: re-read before writing again"
//!     } else if err.is_retryable() {
//!         "transient: try again later"
//!     } else {
//!         "permanent"
//!     }
//! }
//! # let _ = describe;
//! ```

use std::fmt;
use std::time::Duration;

use http::StatusCode;

use crate::webhook::{CertificateFetchError, WebhookError};

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The largest part of a response body that an error keeps, in bytes.
pub const BODY_EXCERPT_LIMIT: usize = 2048;

/// Which remote API a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Service {
    /// The Partner Center co-sell referrals API (`api.partner.microsoft.com`).
    PartnerCenterReferrals,
    /// The Partner Center webhooks API (`api.partnercenter.microsoft.com/webhooks`).
    PartnerCenterWebhooks,
    /// The Dataverse Web API (Dynamics 365).
    Dataverse,
    /// The Salesforce REST API.
    Salesforce,
    /// An OAuth 2.0 token endpoint (Microsoft Entra ID or Salesforce).
    TokenEndpoint,
    /// Anything else sent through the pipeline (custom profiles, tests).
    Other,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::PartnerCenterReferrals => "Partner Center referrals",
            Service::PartnerCenterWebhooks => "Partner Center webhooks",
            Service::Dataverse => "Dataverse",
            Service::Salesforce => "Salesforce",
            Service::TokenEndpoint => "token endpoint",
            Service::Other => "HTTP service",
        })
    }
}

/// What a server answer means, as decided by the API's classifier.
///
/// Each API signals the same situation differently (Salesforce answers a rate limit with
/// 403 `REQUEST_LIMIT_EXCEEDED`, not 429), so the kind is decided per API, not from the status
/// alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// The request was malformed or failed validation (400, 422, …).
    BadRequest,
    /// The credentials were missing, expired or invalid (401).
    Unauthorized,
    /// The caller may not do this (403 other than a limit).
    Forbidden,
    /// The resource does not exist (404, 410).
    NotFound,
    /// The resource changed since it was read: a stale ETag or version (412 and the like).
    PreconditionFailed,
    /// The write conflicts with the current state of the resource (409, duplicates).
    Conflict,
    /// A usage limit was hit (429, or an API's own limit signal).
    RateLimited,
    /// The server failed or is unavailable (5xx).
    Server,
    /// The request timed out on the server side (408).
    Timeout,
    /// Any other non-success answer.
    Other,
}

/// A non-success answer from a server, with everything needed to act on it or report it.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The API that answered.
    pub service: Service,
    /// The HTTP status.
    pub status: StatusCode,
    /// What the answer means for this API.
    pub kind: ApiErrorKind,
    /// The API's own error code (`preconditionFailed`, `0x80060882`, `INVALID_SESSION_ID`, …).
    pub code: Option<String>,
    /// The API's own error message.
    pub message: Option<String>,
    /// The field or resource the API blamed, where it says (`target`, Salesforce `fields`).
    pub target: Option<String>,
    /// Further codes the API nested inside the first one (Partner Center `innerError`), outermost
    /// first.
    pub inner_codes: Vec<String>,
    /// The server's id for the request, from the response headers.
    pub request_id: Option<String>,
    /// The correlation id this crate sent with the request.
    pub correlation_id: Option<String>,
    /// How long the server asked the caller to wait, from `Retry-After`.
    pub retry_after: Option<Duration>,
    /// The start of the raw body (at most [`BODY_EXCERPT_LIMIT`] bytes, cut at a character
    /// boundary), also when the body is not JSON.
    pub body_excerpt: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} answered {}", self.service, self.status)?;
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

/// A failure before a complete answer arrived.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    /// What happened, in words.
    pub message: String,
    /// Whether the request may have reached the server. `false` only when it provably did not
    /// (the connection was never established), which makes any request safe to retry.
    pub maybe_sent: bool,
    /// Whether the failure was a time-out.
    pub timed_out: bool,
    /// The underlying error.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// What a [`DecodeError`] was decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeOrigin {
    /// A server's answer.
    Response,
    /// JSON the caller passed in ([`Referral::from_json`](crate::partner_center::Referral::from_json),
    /// a webhook body, a record read elsewhere).
    Input,
}

/// JSON that could not be decoded into the expected type: a server's answer, or input the
/// caller passed in.
#[derive(Debug, Clone)]
pub struct DecodeError {
    /// The JSON path at which decoding failed (`.value[3].details.dealValue`), `.` for the root.
    pub path: String,
    /// What was wrong there.
    pub message: String,
    /// The HTTP status of the response, when it came from one.
    pub status: Option<StatusCode>,
    /// The server's id for the request.
    pub request_id: Option<String>,
    /// The start of the raw body.
    pub body_excerpt: String,
    /// What was being decoded.
    pub origin: DecodeOrigin,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.origin {
            DecodeOrigin::Response => "the response",
            DecodeOrigin::Input => "the given JSON",
        };
        write!(
            f,
            "could not decode {what} at `{}`: {}",
            self.path, self.message
        )?;
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

/// A success answer larger than its limit; nothing of it was kept.
#[derive(Debug, Clone)]
pub struct AnswerTooLarge {
    /// The API that answered.
    pub service: Service,
    /// The operation whose answer it was (`dataverse.query`).
    pub operation: &'static str,
    /// The limit, in bytes.
    pub limit: u64,
    /// The size the answer declared (`Content-Length`), when it declared one.
    pub declared: Option<u64>,
    /// The answer's status.
    pub status: StatusCode,
    /// The server's id for the request.
    pub request_id: Option<String>,
}

impl fmt::Display for AnswerTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the {} answer to `{}` is larger than its limit of {} bytes",
            self.service, self.operation, self.limit
        )?;
        if let Some(declared) = self.declared {
            write!(f, " (Content-Length {declared})")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

/// A token could not be obtained.
#[derive(Debug, Clone)]
pub struct AuthError {
    /// The OAuth error code (`invalid_client`, `invalid_grant`, `expired_token`, …), where the
    /// token endpoint gave one.
    pub code: Option<String>,
    /// The token endpoint's description, or what else went wrong.
    pub message: String,
    /// The HTTP status of the token endpoint's answer, where there was one.
    pub status: Option<StatusCode>,
    /// The server's id for the request.
    pub request_id: Option<String>,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("authentication failed")?;
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every way a `cosell` call can fail.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a non-success status.
    Api(Box<ApiError>),
    /// The request failed before a complete answer arrived (connect error, time-out, broken
    /// connection).
    Transport(TransportError),
    /// The answer arrived but did not decode.
    Decode(Box<DecodeError>),
    /// No token could be obtained.
    Auth(Box<AuthError>),
    /// The configuration is unusable (for example an `http` base URL to a remote host).
    Config(String),
    /// The input was refused before any request was sent.
    Validation(String),
    /// A success answer was larger than the limit for its operation
    /// ([`AnswerLimits`](crate::http::AnswerLimits)); it was not read further.
    AnswerTooLarge(Box<AnswerTooLarge>),
    /// Whether a conditional write took effect is unknown: an attempt may have reached the
    /// server with no answer coming back (or the server failed while handling it), and a
    /// replay then found its precondition failed — possibly because of that very attempt.
    /// Not a conflict: re-read the resource and decide again.
    OutcomeUnknown {
        /// How many attempts were made.
        attempts: u32,
        /// The failure of the attempt that may have taken effect.
        lost: Box<Error>,
        /// What the replay got (a precondition failure).
        replay: Box<Error>,
    },
    /// The retry deadline passed before the call could succeed; holds the last failure.
    RetriesExhausted {
        /// How many attempts were made.
        attempts: u32,
        /// The failure of the last attempt.
        last: Box<Error>,
    },
    /// The sync store refused or failed an operation (a lost lock, a broken rule, its backend).
    Store(crate::store::StoreError),
    /// A webhook callback failed verification or is not a valid event.
    Webhook(Box<crate::webhook::WebhookError>),
    /// A webhook certificate could not be fetched (or its fetcher not built).
    CertificateFetch(crate::webhook::CertificateFetchError),
    /// Another URL holds the tenant's webhook registration and overwriting was not asked for
    /// ([`RegisterError::HeldByAnotherUrl`](crate::partner_center::webhooks::RegisterError::HeldByAnotherUrl)).
    RegistrationHeld(Box<crate::partner_center::webhooks::RegisterError>),
    /// A mapping could not be applied, or its schema not built.
    Mapping(Box<crate::mapping::MappingError>),
    /// A convergence hash could not be parsed.
    InvalidHash(crate::diff::ParseHashError),
    /// An environment variable is missing or malformed ([`auth::env`](crate::auth::env)).
    Env(crate::auth::EnvError),
    /// A synchronizer cannot run against its CRM as configured; names every problem.
    Setup(Box<crate::sync::SetupError>),
    /// Writing to a local file or stream failed (an export's output).
    Io(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api(api) => api.fmt(f),
            Error::Transport(transport) => write!(f, "transport error: {transport}"),
            Error::Decode(decode) => decode.fmt(f),
            Error::Auth(auth) => auth.fmt(f),
            Error::Config(message) => write!(f, "invalid configuration: {message}"),
            Error::Validation(message) => write!(f, "invalid input: {message}"),
            Error::AnswerTooLarge(large) => large.fmt(f),
            Error::OutcomeUnknown {
                attempts,
                lost,
                replay,
            } => write!(
                f,
                "the outcome of the write is unknown after {attempts} attempt(s): an attempt may have taken effect ({lost}), then a replay failed its precondition ({replay}); re-read the resource"
            ),
            Error::RetriesExhausted { attempts, last } => {
                write!(f, "gave up after {attempts} attempt(s): {last}")
            }
            Error::Store(store) => store.fmt(f),
            Error::Webhook(webhook) => write!(f, "webhook callback refused: {webhook}"),
            Error::CertificateFetch(fetch) => write!(f, "webhook certificate: {fetch}"),
            Error::RegistrationHeld(held) => held.fmt(f),
            Error::Mapping(mapping) => write!(f, "mapping: {mapping}"),
            Error::InvalidHash(hash) => hash.fmt(f),
            Error::Env(env) => env.fmt(f),
            Error::Setup(setup) => setup.fmt(f),
            Error::Io(io) => write!(f, "i/o error: {io}"),
        }
    }
}

// Written out rather than derived so that a boxed error is its own source: a caller downcasts
// the source to `MappingError`, not to `Box<MappingError>`.
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Transport(transport) => Some(transport),
            Error::Store(store) => Some(store),
            Error::Webhook(webhook) => Some(webhook.as_ref()),
            Error::CertificateFetch(fetch) => Some(fetch),
            Error::RegistrationHeld(held) => Some(held.as_ref()),
            Error::Mapping(mapping) => Some(mapping.as_ref()),
            Error::InvalidHash(hash) => Some(hash),
            Error::Env(env) => Some(env),
            Error::Setup(setup) => Some(setup.as_ref()),
            Error::Io(io) => Some(io),
            _ => None,
        }
    }
}

impl From<TransportError> for Error {
    fn from(e: TransportError) -> Self {
        Error::Transport(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(e: crate::store::StoreError) -> Self {
        Error::Store(e)
    }
}

impl From<CertificateFetchError> for Error {
    fn from(e: CertificateFetchError) -> Self {
        Error::CertificateFetch(e)
    }
}

impl From<crate::sync::SetupError> for Error {
    fn from(e: crate::sync::SetupError) -> Self {
        Error::Setup(Box::new(e))
    }
}

impl From<crate::auth::EnvError> for Error {
    fn from(e: crate::auth::EnvError) -> Self {
        Error::Env(e)
    }
}

impl From<crate::diff::ParseHashError> for Error {
    fn from(e: crate::diff::ParseHashError) -> Self {
        Error::InvalidHash(e)
    }
}

impl Error {
    /// A [`Error::Config`] with the given message.
    pub fn config(message: impl Into<String>) -> Self {
        Error::Config(message.into())
    }

    /// A [`Error::Validation`] with the given message.
    pub fn validation(message: impl Into<String>) -> Self {
        Error::Validation(message.into())
    }

    /// The innermost error: for [`Error::RetriesExhausted`] the last attempt's failure.
    pub fn last(&self) -> &Error {
        match self {
            Error::RetriesExhausted { last, .. } => last.last(),
            other => other,
        }
    }

    /// The server's answer, when the failure was one.
    pub fn api(&self) -> Option<&ApiError> {
        match self.last() {
            Error::Api(api) => Some(api),
            _ => None,
        }
    }

    /// The HTTP status of the server's answer, if there was one.
    pub fn status(&self) -> Option<StatusCode> {
        match self.last() {
            Error::Api(api) => Some(api.status),
            Error::AnswerTooLarge(large) => Some(large.status),
            Error::Decode(d) => d.status,
            Error::Auth(a) => a.status,
            Error::Webhook(webhook) => match webhook.as_ref() {
                WebhookError::CertificateFetch { error, .. } => fetch_status(error),
                _ => None,
            },
            Error::CertificateFetch(error) => fetch_status(error),
            _ => None,
        }
    }

    /// The server's request id, if the failure came with one.
    pub fn request_id(&self) -> Option<&str> {
        match self.last() {
            Error::Api(api) => api.request_id.as_deref(),
            Error::AnswerTooLarge(large) => large.request_id.as_deref(),
            Error::Decode(d) => d.request_id.as_deref(),
            Error::Auth(a) => a.request_id.as_deref(),
            _ => None,
        }
    }

    /// The API's own error code (or the OAuth error code), if there was one.
    pub fn code(&self) -> Option<&str> {
        match self.last() {
            Error::Api(api) => api.code.as_deref(),
            Error::Auth(a) => a.code.as_deref(),
            _ => None,
        }
    }

    /// How long the server asked the caller to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        self.api().and_then(|a| a.retry_after)
    }

    /// The classified kind of the server's answer.
    pub fn kind(&self) -> Option<ApiErrorKind> {
        self.api().map(|a| a.kind)
    }

    /// Whether trying the same call again later may succeed: rate limits, server failures,
    /// time-outs and transport failures.
    pub fn is_retryable(&self) -> bool {
        match self.last() {
            Error::Api(api) => matches!(
                api.kind,
                ApiErrorKind::RateLimited | ApiErrorKind::Server | ApiErrorKind::Timeout
            ),
            Error::Transport(_) => true,
            Error::Webhook(webhook) => webhook.is_transient(),
            Error::CertificateFetch(error) => error.is_transient(),
            _ => false,
        }
    }

    /// Whether the failure was a time-out: no answer in time (an attempt's time limit or the
    /// call's retry deadline), or the server's own 408.
    pub fn is_timeout(&self) -> bool {
        match self.last() {
            Error::Transport(transport) => transport.timed_out,
            Error::Api(api) => api.kind == ApiErrorKind::Timeout,
            _ => false,
        }
    }

    /// Whether a conditional write may or may not have taken effect ([`Error::OutcomeUnknown`]):
    /// re-read the resource before deciding what to write. Never a conflict. (A
    /// [`TransportError`] with `maybe_sent` on a write leaves the outcome unknown too.)
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, Error::OutcomeUnknown { .. })
    }

    /// Whether the write lost a race: a stale ETag (412) or a conflicting state (409).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self.kind(),
            Some(ApiErrorKind::PreconditionFailed | ApiErrorKind::Conflict)
        )
    }

    /// Whether the resource does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind() == Some(ApiErrorKind::NotFound)
    }

    /// Whether this is a limit that does not clear within seconds, so that retrying soon only
    /// spends attempts: Salesforce's exhausted daily API allocation (`403 REQUEST_LIMIT_EXCEEDED`
    /// with `TotalRequests`). Concurrency limits and `429`s are [rate
    /// limits](Self::is_rate_limited) that a back-off clears.
    pub fn is_allowance_exhausted(&self) -> bool {
        self.api().is_some_and(|error| {
            error.service == Service::Salesforce
                && error.kind == ApiErrorKind::RateLimited
                && crate::salesforce::daily_allocation_exhausted(error)
        })
    }

    /// Whether a usage limit was hit.
    pub fn is_rate_limited(&self) -> bool {
        self.kind() == Some(ApiErrorKind::RateLimited)
    }

    /// Whether the failure is about credentials: a token that could not be had, or a 401.
    pub fn is_auth(&self) -> bool {
        matches!(self.last(), Error::Auth(_)) || self.kind() == Some(ApiErrorKind::Unauthorized)
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error::Api(Box::new(e))
    }
}

impl From<AnswerTooLarge> for Error {
    fn from(e: AnswerTooLarge) -> Self {
        Error::AnswerTooLarge(Box::new(e))
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::Decode(Box::new(e))
    }
}

impl From<WebhookError> for Error {
    fn from(e: WebhookError) -> Self {
        Error::Webhook(Box::new(e))
    }
}

impl From<crate::mapping::MappingError> for Error {
    fn from(e: crate::mapping::MappingError) -> Self {
        Error::Mapping(Box::new(e))
    }
}

impl From<crate::mapping::SchemaError> for Error {
    fn from(e: crate::mapping::SchemaError) -> Self {
        crate::mapping::MappingError::from(e).into()
    }
}

impl From<crate::mapping::NormalizeError> for Error {
    fn from(e: crate::mapping::NormalizeError) -> Self {
        crate::mapping::MappingError::from(e).into()
    }
}

/// A failed request inside a registration is the request's own error, unwrapped, so that its
/// kind, status and retryability read as for any other call.
impl From<crate::partner_center::webhooks::RegisterError> for Error {
    fn from(e: crate::partner_center::webhooks::RegisterError) -> Self {
        match e {
            crate::partner_center::webhooks::RegisterError::Request(error) => error,
            held => Error::RegistrationHeld(Box::new(held)),
        }
    }
}

fn fetch_status(error: &CertificateFetchError) -> Option<StatusCode> {
    match error {
        CertificateFetchError::Redirected { status } | CertificateFetchError::Status { status } => {
            StatusCode::from_u16(*status).ok()
        }
        _ => None,
    }
}

impl From<AuthError> for Error {
    fn from(e: AuthError) -> Self {
        Error::Auth(Box::new(e))
    }
}

/// The start of `body` as text, at most [`BODY_EXCERPT_LIMIT`] bytes, cut at a character
/// boundary; invalid UTF-8 is replaced.
pub fn body_excerpt(body: &[u8]) -> String {
    let cut = &body[..body.len().min(BODY_EXCERPT_LIMIT)];
    let mut text = String::from_utf8_lossy(cut).into_owned();
    if body.len() > BODY_EXCERPT_LIMIT {
        // A multi-byte character cut in half shows as U+FFFD at the end: drop it.
        if text.ends_with('\u{FFFD}') {
            text.pop();
        }
        text.push('…');
    }
    text
}

/// Decodes JSON, naming the failing path in the error (of origin [`DecodeOrigin::Input`];
/// [`Response::json`](crate::http::Response::json) reports its failures as the response's).
///
/// ```
/// #[derive(serde::Deserialize, Debug)]
/// struct Deal { value: u32 }
///
/// let err = cosell::error::decode_json::<Deal>(br#"{"value": "ten"}"#).unwrap_err();
/// assert!(err.to_string().contains("value"));
/// ```
pub fn decode_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    let fail = |path: String, message: String| {
        Error::from(DecodeError {
            path,
            message,
            status: None,
            request_id: None,
            body_excerpt: body_excerpt(body),
            origin: DecodeOrigin::Input,
        })
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| fail(e.path().to_string(), e.inner().to_string()))?;
    de.end().map_err(|e| fail(".".to_owned(), e.to_string()))?;
    Ok(value)
}
