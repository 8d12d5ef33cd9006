//! Verifying a callback: headers, certificate URL, certificate, signature, in that order, and
//! only then parsing.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use http::HeaderMap;

use super::cache::CertificateCache;
use super::error::{WebhookError, bounded};
use super::event::WebhookEvent;
use super::fetcher::{CertificateFetcher, HttpCertificateFetcher};
use super::policy::TrustPolicy;
use crate::http::{Clock, SystemClock};

/// The header naming the certificate that signed the callback.
pub const CERTIFICATE_URL_HEADER: &str = "x-ms-certificate-url";
/// The header naming the signature algorithm.
pub const SIGNATURE_ALGORITHM_HEADER: &str = "x-ms-signature-algorithm";
/// The header that carries the signature when the registration asked for it
/// (`SignatureTokenToMsSignatureHeader`).
pub const SIGNATURE_HEADER: &str = "x-ms-signature";
/// The only algorithm Partner Center uses.
pub const RSA_SHA256: &str = "rsa-sha256";

/// Base64 as .NET writes it, accepting missing padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A signature of an 8192-bit key is 1024 bytes, 1368 base64 characters; anything longer is
/// refused before decoding.
const SIGNATURE_TEXT_LIMIT: usize = 1400;

/// Verifies Partner Center callbacks. Cheap to clone; share one per process so the
/// certificate cache is shared.
///
/// ```no_run
/// use cosell::webhook::{TrustPolicy, WebhookVerifier};
///
/// # async fn handle(headers: http::HeaderMap, body: bytes::Bytes) -> Result<(), cosell::webhook::WebhookError> {
/// let verifier = WebhookVerifier::new(TrustPolicy::partner_center())?;
/// let event = verifier.verify_event(&headers, &body).await?;
/// if let Some(referral_id) = event.referral_id() {
///     println!("referral {referral_id} changed");
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WebhookVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    policy: TrustPolicy,
    fetcher: Arc<dyn CertificateFetcher>,
    clock: Arc<dyn Clock>,
    cache: CertificateCache,
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("policy", &self.inner.policy)
            .field("fetcher", &self.inner.fetcher)
            .finish_non_exhaustive()
    }
}

/// Builds a [`WebhookVerifier`] with another fetcher or clock.
#[derive(Debug)]
#[must_use]
pub struct WebhookVerifierBuilder {
    policy: TrustPolicy,
    fetcher: Option<Arc<dyn CertificateFetcher>>,
    clock: Arc<dyn Clock>,
}

impl WebhookVerifierBuilder {
    /// Gets certificates from `fetcher` instead of over HTTPS.
    pub fn fetcher(mut self, fetcher: Arc<dyn CertificateFetcher>) -> Self {
        self.fetcher = Some(fetcher);
        self
    }

    /// Checks certificate validity against `clock` instead of the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the verifier.
    ///
    /// # Errors
    /// [`WebhookError::CertificateFetch`] when the default HTTPS fetcher cannot be built.
    pub fn build(self) -> Result<WebhookVerifier, WebhookError> {
        let fetcher = match self.fetcher {
            Some(fetcher) => fetcher,
            None => Arc::new(HttpCertificateFetcher::new(self.policy.timeout()).map_err(
                |error| WebhookError::CertificateFetch {
                    url: String::new(),
                    error,
                },
            )?),
        };
        Ok(WebhookVerifier {
            inner: Arc::new(Inner {
                policy: self.policy,
                fetcher,
                clock: self.clock,
                cache: CertificateCache::default(),
            }),
        })
    }
}

/// Where the signature was found.
enum SignatureSource {
    Authorization,
    MsSignature,
}

impl WebhookVerifier {
    /// A verifier that fetches certificates over HTTPS and uses the system clock.
    ///
    /// # Errors
    /// [`WebhookError::CertificateFetch`] when the HTTPS client cannot be built.
    ///
    /// ```
    /// let verifier = cosell::webhook::WebhookVerifier::new(cosell::webhook::TrustPolicy::partner_center())?;
    /// # let _ = verifier;
    /// # Ok::<(), cosell::webhook::WebhookError>(())
    /// ```
    pub fn new(policy: TrustPolicy) -> Result<Self, WebhookError> {
        Self::builder(policy).build()
    }

    /// Starts a verifier with a custom fetcher or clock.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use cosell::webhook::{StaticCertificates, TrustPolicy, WebhookVerifier};
    ///
    /// let verifier = WebhookVerifier::builder(TrustPolicy::partner_center())
    ///     .fetcher(Arc::new(StaticCertificates::new()))
    ///     .clock(Arc::new(cosell::http::SystemClock))
    ///     .build()?;
    /// # let _ = verifier;
    /// # Ok::<(), cosell::webhook::WebhookError>(())
    /// ```
    pub fn builder(policy: TrustPolicy) -> WebhookVerifierBuilder {
        WebhookVerifierBuilder {
            policy,
            fetcher: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &TrustPolicy {
        &self.inner.policy
    }

    /// Verifies that `body` (the raw bytes, before any parsing) was signed by a certificate the
    /// policy trusts.
    ///
    /// In order: body size; the signature header (`Authorization: Signature <base64>`, or
    /// `x-ms-signature`); `x-ms-signature-algorithm` is `rsa-sha256`; `x-ms-certificate-url`
    /// passes the policy (nothing is fetched otherwise); the signature decodes; the
    /// certificate (cached, fetched once per URL at a time) has the expected subject and is
    /// valid now; RSA PKCS#1 v1.5 SHA-256 over the body matches.
    ///
    /// # Errors
    /// The [`WebhookError`] of the first check that fails.
    ///
    /// ```no_run
    /// # async fn run(verifier: cosell::webhook::WebhookVerifier, headers: http::HeaderMap, body: Vec<u8>) {
    /// match verifier.verify(&headers, &body).await {
    ///     Ok(()) => { /* parse and process */ }
    ///     Err(e) if e.is_transient() => { /* answer 503: Partner Center will try again */ }
    ///     Err(_) => { /* answer 401 */ }
    /// }
    /// # }
    /// ```
    pub async fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), WebhookError> {
        let policy = &self.inner.policy;
        if body.len() > policy.body_limit() {
            return Err(WebhookError::BodyTooLarge {
                limit: policy.body_limit(),
                actual: body.len(),
            });
        }
        let signature_text = signature_text(headers)?;
        let algorithm = single_header(headers, SIGNATURE_ALGORITHM_HEADER)?
            .ok_or(WebhookError::MissingHeader(SIGNATURE_ALGORITHM_HEADER))?;
        if !algorithm.trim().eq_ignore_ascii_case(RSA_SHA256) {
            return Err(WebhookError::UnsupportedAlgorithm(bounded(algorithm)));
        }
        let certificate_url = single_header(headers, CERTIFICATE_URL_HEADER)?
            .ok_or(WebhookError::MissingHeader(CERTIFICATE_URL_HEADER))?;
        let url = policy.check_certificate_url(certificate_url.trim())?;
        if signature_text.len() > SIGNATURE_TEXT_LIMIT {
            return Err(WebhookError::MalformedSignatureHeader);
        }
        let signature = BASE64
            .decode(signature_text)
            .map_err(|_| WebhookError::BadBase64)?;

        let clock = &self.inner.clock;
        let certificate = self
            .inner
            .cache
            .get(&url, policy, self.inner.fetcher.as_ref(), || clock.now())
            .await?;
        certificate.check_valid_at(clock.now())?;
        certificate.verify_signature(body, &signature)
    }

    /// [`verify`](Self::verify)s the callback, then reads the event from the verified bytes.
    ///
    /// # Errors
    /// As [`verify`](Self::verify), and [`WebhookError::InvalidPayload`] when the verified
    /// body is not an event.
    ///
    /// ```no_run
    /// # async fn run(verifier: cosell::webhook::WebhookVerifier, headers: http::HeaderMap, body: Vec<u8>) -> Result<(), cosell::webhook::WebhookError> {
    /// let event = verifier.verify_event(&headers, &body).await?;
    /// println!("{} {:?}", event.event_name, event.referral_id());
    /// # Ok(()) }
    /// ```
    pub async fn verify_event(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<WebhookEvent, WebhookError> {
        self.verify(headers, body).await?;
        WebhookEvent::from_json(body)
    }
}

/// The value of a header that must appear at most once, as visible ASCII.
fn single_header<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<Option<&'h str>, WebhookError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(WebhookError::InvalidHeader(name));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| WebhookError::InvalidHeader(name))
}

/// The base64 signature, from `x-ms-signature` (`Signature <base64>` or bare) or else from
/// `Authorization: Signature <base64>`.
fn signature_text(headers: &HeaderMap) -> Result<&str, WebhookError> {
    let (source, value) = match single_header(headers, SIGNATURE_HEADER)? {
        Some(value) => (SignatureSource::MsSignature, value),
        None => match single_header(headers, http::header::AUTHORIZATION.as_str())? {
            Some(value) => (SignatureSource::Authorization, value),
            None => return Err(WebhookError::MissingSignature),
        },
    };
    let value = value.trim();
    let (scheme, parameter) = match value.split_once(' ') {
        Some((scheme, parameter)) => (Some(scheme), parameter.trim()),
        None => (None, value),
    };
    let signature = match (source, scheme) {
        (_, Some(scheme)) if scheme.eq_ignore_ascii_case("Signature") => parameter,
        // Any other Authorization scheme (a bearer token) is no signature at all.
        (SignatureSource::Authorization, Some(_)) => return Err(WebhookError::MissingSignature),
        (_, None) if value.eq_ignore_ascii_case("Signature") => {
            return Err(WebhookError::MalformedSignatureHeader);
        }
        (SignatureSource::Authorization, None) => return Err(WebhookError::MissingSignature),
        (SignatureSource::MsSignature, Some(_)) => {
            return Err(WebhookError::MalformedSignatureHeader);
        }
        (SignatureSource::MsSignature, None) => value,
    };
    if signature.is_empty() || signature.contains(' ') {
        return Err(WebhookError::MalformedSignatureHeader);
    }
    Ok(signature)
}
