//! How the referrals API differs from a plain JSON API: its headers and its error codes.

use http::{HeaderName, StatusCode};

use crate::error::{ApiErrorKind, Service};
use crate::http::{ErrorDetails, ServiceProfile, classify_status};

/// The `MS-CorrelationId` header: ties the calls of one piece of work together.
pub const CORRELATION_ID_HEADER: &str = "ms-correlationid";
/// The `client-request-id` header: a fresh id per call, kept across its retries.
pub const CLIENT_REQUEST_ID_HEADER: &str = "client-request-id";

/// The [`ServiceProfile`] of the Partner Center referrals API.
///
/// Error codes decide over the bare status where the service says more than the status does:
/// `preconditionFailed` and `resourceModified` are a lost race (also when nested in
/// `innerError`), `itemNotFound` a missing referral.
///
/// ```
/// use cosell::error::ApiErrorKind;
/// use cosell::http::{ErrorDetails, ServiceProfile};
/// use cosell::partner_center::referrals::ReferralsProfile;
/// use http::StatusCode;
///
/// let details = ErrorDetails { code: Some("resourceModified".into()), ..Default::default() };
/// assert_eq!(ReferralsProfile.classify(StatusCode::CONFLICT, &details), ApiErrorKind::PreconditionFailed);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ReferralsProfile;

impl ServiceProfile for ReferralsProfile {
    fn service(&self) -> Service {
        Service::PartnerCenterReferrals
    }

    fn correlation_header(&self) -> Option<HeaderName> {
        Some(HeaderName::from_static(CORRELATION_ID_HEADER))
    }

    /// The docs ask for a new `client-request-id` per call, for tracing; the pipeline's
    /// per-call key (the same on every retry of the call) is exactly that.
    fn idempotency_header(&self) -> Option<HeaderName> {
        Some(HeaderName::from_static(CLIENT_REQUEST_ID_HEADER))
    }

    fn classify(&self, status: StatusCode, details: &ErrorDetails) -> ApiErrorKind {
        if !status.is_client_error() {
            return classify_status(status);
        }
        let codes = || details.code.iter().chain(details.inner_codes.iter());
        let has = |wanted: &str| codes().any(|c| c.eq_ignore_ascii_case(wanted));
        if status == StatusCode::PRECONDITION_FAILED
            || has("preconditionFailed")
            || has("resourceModified")
        {
            ApiErrorKind::PreconditionFailed
        } else if status == StatusCode::CONFLICT {
            ApiErrorKind::Conflict
        } else if status == StatusCode::TOO_MANY_REQUESTS {
            ApiErrorKind::RateLimited
        } else if has("itemNotFound") {
            ApiErrorKind::NotFound
        } else if has("unauthenticated") {
            ApiErrorKind::Unauthorized
        } else if has("accessDenied") {
            ApiErrorKind::Forbidden
        } else {
            classify_status(status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_refine_statuses() {
        let with = |code: &str| ErrorDetails {
            code: Some(code.into()),
            ..Default::default()
        };
        let p = ReferralsProfile;
        assert_eq!(
            p.classify(StatusCode::BAD_REQUEST, &with("preconditionFailed")),
            ApiErrorKind::PreconditionFailed
        );
        assert_eq!(
            p.classify(StatusCode::CONFLICT, &with("x")),
            ApiErrorKind::Conflict
        );
        assert_eq!(
            p.classify(StatusCode::BAD_REQUEST, &with("itemNotFound")),
            ApiErrorKind::NotFound
        );
        assert_eq!(
            p.classify(StatusCode::SERVICE_UNAVAILABLE, &with("preconditionFailed")),
            ApiErrorKind::Server
        );
    }
}
