//! Signing callbacks exactly as Partner Center does, with a fixed test key, so that receivers
//! can be tested offline.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use http::{HeaderMap, HeaderValue};

use super::error::WebhookError;
use super::policy::{PARTNER_CENTER_CERTIFICATE_CN, PARTNER_CENTER_CERTIFICATE_HOST};
use super::verifier::{
    CERTIFICATE_URL_HEADER, RSA_SHA256, SIGNATURE_ALGORITHM_HEADER, SIGNATURE_HEADER,
};

/// The test signer's private key (RSA-2048, PKCS#8 DER). Public: trust it only in tests.
pub const TEST_SIGNER_KEY_PKCS8: &[u8] = include_bytes!("testdata/test_key.pk8");
/// The test signer's certificate (PEM), subject CN `pcnotifications-dispatch.microsoft.com`,
/// self-signed, valid 2020-01-01 to 2120-01-01.
pub const TEST_SIGNER_CERTIFICATE_PEM: &str = include_str!("testdata/test_cert.pem");
/// The same certificate, DER.
pub const TEST_SIGNER_CERTIFICATE_DER: &[u8] = include_bytes!("testdata/test_cert.der");

/// Signs callback bodies as Partner Center does: RSA PKCS#1 v1.5 SHA-256 over the raw body,
/// base64, in `Authorization: Signature …` (or `x-ms-signature`), with
/// `x-ms-signature-algorithm: rsa-sha256` and `x-ms-certificate-url`.
///
/// Pair it with a verifier that gets [`TEST_SIGNER_CERTIFICATE_PEM`] for the signer's
/// certificate URL, e.g. through [`StaticCertificates`](super::StaticCertificates):
///
/// ```
/// use std::sync::Arc;
/// use cosell::webhook::{StaticCertificates, TestSigner, TrustPolicy, WebhookVerifier};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let signer = TestSigner::new();
/// let verifier = WebhookVerifier::builder(TrustPolicy::partner_center())
///     .fetcher(Arc::new(signer.certificates()))
///     .build()?;
/// let body = br#"{"EventName":"test-created"}"#;
/// let event = verifier.verify_event(&signer.headers(body)?, body).await?;
/// assert_eq!(event.event_name.as_str(), "test-created");
/// # Ok::<(), cosell::webhook::WebhookError>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct TestSigner {
    key: RsaKeyPair,
    certificate: Vec<u8>,
    certificate_url: String,
}

impl Default for TestSigner {
    fn default() -> Self {
        Self::new()
    }
}

impl TestSigner {
    /// The certificate URL a signer uses unless told otherwise: the documented Partner Center
    /// location.
    pub fn default_certificate_url() -> String {
        format!(
            "https://{PARTNER_CENTER_CERTIFICATE_HOST}/cert/{PARTNER_CENTER_CERTIFICATE_CN}.cer"
        )
    }

    /// The signer with the fixed test key and certificate, naming the documented certificate
    /// URL.
    ///
    /// ```
    /// let signer = cosell::webhook::TestSigner::new();
    /// assert!(signer.certificate_url().starts_with("https://3psostorageacct.blob.core.windows.net/cert/"));
    /// ```
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        // The key is a constant of this crate, checked by its tests; it cannot fail to parse.
        Self::from_pkcs8(
            TEST_SIGNER_KEY_PKCS8,
            TEST_SIGNER_CERTIFICATE_PEM.as_bytes(),
        )
        .expect("the embedded test key is a valid RSA PKCS#8 key")
    }

    /// A signer with another RSA key (PKCS#8 DER) and its certificate (DER or PEM).
    ///
    /// # Errors
    /// [`WebhookError::UnsupportedKey`] when the key is not an RSA PKCS#8 key.
    ///
    /// ```
    /// let err = cosell::webhook::TestSigner::from_pkcs8(b"junk", b"").unwrap_err();
    /// assert!(matches!(err, cosell::webhook::WebhookError::UnsupportedKey(_)));
    /// ```
    pub fn from_pkcs8(key_pkcs8: &[u8], certificate: &[u8]) -> Result<Self, WebhookError> {
        let key = RsaKeyPair::from_pkcs8(key_pkcs8)
            .map_err(|e| WebhookError::UnsupportedKey(e.to_string()))?;
        Ok(TestSigner {
            key,
            certificate: certificate.to_vec(),
            certificate_url: Self::default_certificate_url(),
        })
    }

    /// Names another certificate URL in the headers (the emulator's loopback URL, or a
    /// forgery under test).
    pub fn with_certificate_url(mut self, url: impl Into<String>) -> Self {
        self.certificate_url = url.into();
        self
    }

    /// The certificate URL the headers name.
    pub fn certificate_url(&self) -> &str {
        &self.certificate_url
    }

    /// The signer's certificate, as given (PEM for [`TestSigner::new`]).
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }

    /// A fetcher that serves this signer's certificate at its certificate URL.
    pub fn certificates(&self) -> super::StaticCertificates {
        super::StaticCertificates::new().with(&self.certificate_url, self.certificate.clone())
    }

    /// The base64 RSA PKCS#1 v1.5 SHA-256 signature of `body`.
    ///
    /// # Errors
    /// [`WebhookError::UnsupportedKey`] if the key refuses to sign.
    pub fn sign(&self, body: &[u8]) -> Result<String, WebhookError> {
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                body,
                &mut signature,
            )
            .map_err(|e| WebhookError::UnsupportedKey(e.to_string()))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(signature))
    }

    /// The headers of a delivery of `body` with the signature in `Authorization`.
    ///
    /// # Errors
    /// As [`sign`](Self::sign); [`WebhookError::InvalidHeader`] if the certificate URL is not
    /// a valid header value.
    pub fn headers(&self, body: &[u8]) -> Result<HeaderMap, WebhookError> {
        self.headers_in(body, http::header::AUTHORIZATION.as_str())
    }

    /// The headers of a delivery of `body` with the signature in `x-ms-signature` (a
    /// registration with `SignatureTokenToMsSignatureHeader: true`).
    ///
    /// # Errors
    /// As [`headers`](Self::headers).
    pub fn ms_signature_headers(&self, body: &[u8]) -> Result<HeaderMap, WebhookError> {
        self.headers_in(body, SIGNATURE_HEADER)
    }

    fn headers_in(&self, body: &[u8], header: &'static str) -> Result<HeaderMap, WebhookError> {
        let signature = HeaderValue::try_from(format!("Signature {}", self.sign(body)?))
            .map_err(|_| WebhookError::InvalidHeader(header))?;
        let url = HeaderValue::try_from(self.certificate_url.as_str())
            .map_err(|_| WebhookError::InvalidHeader(CERTIFICATE_URL_HEADER))?;
        let mut headers = HeaderMap::new();
        headers.insert(header, signature);
        headers.insert(
            SIGNATURE_ALGORITHM_HEADER,
            HeaderValue::from_static(RSA_SHA256),
        );
        headers.insert(CERTIFICATE_URL_HEADER, url);
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(headers)
    }
}
