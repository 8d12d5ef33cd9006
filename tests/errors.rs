//! Every error type of the crate converts into `cosell::Error` with `?`, keeping its variant,
//! whether it is transient, its status and its source chain.

use std::error::Error as _;

use cosell::diff::{ConvergenceHash, ParseHashError};
use cosell::error::{ApiError, ApiErrorKind, AuthError, Service};
use cosell::mapping::{MappingError, SchemaError};
use cosell::partner_center::webhooks::RegisterError;
use cosell::store::StoreError;
use cosell::webhook::{CertificateFetchError, EventName, WebhookError};
use cosell::{Error, Result};
use http::StatusCode;

/// Converts with `?`, as user code does.
fn lift<E: Into<Error>>(error: E) -> Result<()> {
    Err(error.into())?;
    Ok(())
}

fn api_error(status: u16, kind: ApiErrorKind) -> ApiError {
    ApiError {
        service: Service::PartnerCenterWebhooks,
        status: StatusCode::from_u16(status).unwrap(),
        kind,
        code: Some("serviceUnavailable".into()),
        message: None,
        target: None,
        inner_codes: Vec::new(),
        request_id: Some("req-1".into()),
        correlation_id: None,
        retry_after: None,
        body_excerpt: String::new(),
    }
}

#[test]
fn a_transient_webhook_error_stays_transient_with_its_status_and_source() {
    let webhook = WebhookError::CertificateFetch {
        url: "https://cert.example/c.cer".into(),
        error: CertificateFetchError::Status { status: 503 },
    };
    assert!(webhook.is_transient());
    let err = lift(webhook.clone()).unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    let Error::Webhook(inner) = &err else {
        panic!("not a webhook error: {err:?}");
    };
    assert_eq!(**inner, webhook);
    let source = err.source().expect("a source");
    assert_eq!(source.downcast_ref::<WebhookError>(), Some(&webhook));
    let fetch = source.source().expect("the fetch failure");
    assert_eq!(
        fetch.downcast_ref::<CertificateFetchError>(),
        Some(&CertificateFetchError::Status { status: 503 })
    );
}

#[test]
fn a_forged_callback_stays_permanent_and_keeps_its_variant() {
    let err = lift(WebhookError::SignatureMismatch).unwrap_err();
    assert!(!err.is_retryable());
    assert!(matches!(&err, Error::Webhook(w) if **w == WebhookError::SignatureMismatch));
    assert!(!matches!(err, Error::Validation(_)));
}

#[test]
fn a_certificate_fetch_error_keeps_its_transient_flag() {
    let transient = lift(CertificateFetchError::Transport("reset".into())).unwrap_err();
    assert!(transient.is_retryable());
    let redirect = lift(CertificateFetchError::Redirected { status: 302 }).unwrap_err();
    assert!(!redirect.is_retryable());
    assert_eq!(redirect.status(), Some(StatusCode::FOUND));
}

#[test]
fn a_mapping_error_keeps_its_variant_and_source() {
    let mapping = MappingError::MissingRequired {
        field: "title".into(),
    };
    let err = lift(mapping.clone()).unwrap_err();
    assert!(!err.is_retryable());
    assert!(matches!(&err, Error::Mapping(m) if **m == mapping));
    assert_eq!(
        err.source().and_then(|s| s.downcast_ref::<MappingError>()),
        Some(&mapping)
    );
}

#[test]
fn a_schema_error_arrives_as_a_mapping_error() {
    let err = lift(SchemaError::DuplicateField("title".into())).unwrap_err();
    assert!(matches!(
        &err,
        Error::Mapping(m) if matches!(**m, MappingError::Schema(SchemaError::DuplicateField(ref f)) if f == "title")
    ));
}

#[test]
fn a_failed_registration_request_is_the_request_error_itself() {
    let request = Error::from(api_error(503, ApiErrorKind::Server));
    let err = lift(RegisterError::Request(request)).unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(err.kind(), Some(ApiErrorKind::Server));
    assert_eq!(err.request_id(), Some("req-1"));
}

#[test]
fn a_registration_held_by_another_url_names_it() {
    let err = lift(RegisterError::HeldByAnotherUrl {
        current_url: Some("https://other.example/hook".into()),
        current_events: vec![EventName::ReferralCreated],
    })
    .unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.to_string().contains("https://other.example/hook"),
        "{err}"
    );
    let held = err
        .source()
        .and_then(|s| s.downcast_ref::<RegisterError>())
        .expect("the registration error as source");
    assert!(matches!(
        held,
        RegisterError::HeldByAnotherUrl { current_events, .. } if current_events == &[EventName::ReferralCreated]
    ));
}

#[test]
fn a_store_error_keeps_its_variant() {
    let err = lift(StoreError::Fenced {
        what: "pair".into(),
        token: 7,
    })
    .unwrap_err();
    assert!(matches!(&err, Error::Store(s) if s.is_fenced()));
    assert!(
        err.source()
            .and_then(|s| s.downcast_ref::<StoreError>())
            .is_some()
    );
}

#[test]
fn an_auth_error_keeps_its_code_and_status() {
    let err = lift(AuthError {
        code: Some("invalid_grant".into()),
        message: "expired".into(),
        status: Some(StatusCode::BAD_REQUEST),
        request_id: Some("req-2".into()),
    })
    .unwrap_err();
    assert!(err.is_auth());
    assert_eq!(err.code(), Some("invalid_grant"));
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
    assert_eq!(err.request_id(), Some("req-2"));
}

#[test]
fn a_bad_convergence_hash_converts() {
    fn parse(text: &str) -> Result<ConvergenceHash> {
        Ok(text.parse::<ConvergenceHash>()?)
    }
    let err = parse("not-a-hash").unwrap_err();
    assert!(matches!(err, Error::InvalidHash(ParseHashError)));
}
