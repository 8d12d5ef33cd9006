//! Receiving Partner Center webhook callbacks: verification and parsing.
//!
//! This is the receiving side. Telling Partner Center where to send the callbacks (registering
//! the URL, listing the event names, sending a test event) is the webhooks API's client,
//! [`WebhooksClient`](crate::partner_center::webhooks::WebhooksClient) in
//! [`partner_center::webhooks`](crate::partner_center::webhooks); both use the same
//! [`EventName`].
//!
//! A callback is a POST whose body points at a changed resource ([`WebhookEvent`]) and whose
//! headers carry an RSA-SHA256 signature of the raw body and the URL of the signing
//! certificate. [`WebhookVerifier`] checks all of it **before** the body is parsed:
//!
//! 1. the signature header (`Authorization: Signature <base64>` or `x-ms-signature`) and
//!    `x-ms-signature-algorithm: rsa-sha256`;
//! 2. the certificate URL against a [`TrustPolicy`] (exact host and path prefix, `https`,
//!    default port, no user-info or query) — a refused URL is never fetched;
//! 3. the certificate (fetched by a [`CertificateFetcher`] without redirects and with a size
//!    limit, cached per URL until its `notAfter` or a TTL, one fetch per URL at a time): its
//!    subject CN, validity now, and optionally its chain;
//! 4. RSA PKCS#1 v1.5 SHA-256 over the raw body (aws-lc-rs).
//!
//! Every failure is its own [`WebhookError`] variant. Partner Center sends no event id and no
//! timestamp in the signature, so deduplicate with [`WebhookEvent::dedupe_key`] and treat
//! events as hints: fetch the referral by [`WebhookEvent::referral_id`].
//!
//! For tests of your own receiver, [`TestSigner`] signs bodies as Partner Center does (with a
//! public test key), and [`TrustPolicy::allow_loopback_location`] trusts a certificate served
//! over plain `http` on this machine, such as a local emulator's.
//!
//! ```no_run
//! use cosell::webhook::{TrustPolicy, WebhookError, WebhookVerifier};
//!
//! # async fn receive(headers: http::HeaderMap, body: bytes::Bytes) -> Result<(), WebhookError> {
//! let verifier = WebhookVerifier::new(TrustPolicy::partner_center())?;
//! let event = verifier.verify_event(&headers, &body).await?;
//! println!("{} (dedupe key {})", event.event_name, event.dedupe_key());
//! # Ok(()) }
//! ```

mod cache;
mod certificate;
mod error;
mod event;
mod fetcher;
mod policy;
mod test_signer;
mod verifier;
mod wire_case;

mod body;

pub use body::read_body;
pub use certificate::TrustedCertificate;
pub use error::{CertificateFetchError, UrlRefusal, WebhookError};
pub use event::{DedupeKey, EventName, WebhookEvent};
pub use fetcher::{CertificateFetcher, HttpCertificateFetcher, StaticCertificates};
pub use policy::{
    ChainCheck, PARTNER_CENTER_CERTIFICATE_CN, PARTNER_CENTER_CERTIFICATE_HOST,
    PARTNER_CENTER_CERTIFICATE_PATH, TrustPolicy,
};
pub use test_signer::{
    TEST_SIGNER_CERTIFICATE_DER, TEST_SIGNER_CERTIFICATE_PEM, TEST_SIGNER_KEY_PKCS8, TestSigner,
};
pub use verifier::{
    CERTIFICATE_URL_HEADER, RSA_SHA256, SIGNATURE_ALGORITHM_HEADER, SIGNATURE_HEADER,
    WebhookVerifier, WebhookVerifierBuilder,
};

pub(crate) use event::parse_utc;
pub(crate) use wire_case::decode_ignoring_case;
