//! Signing deliveries as Partner Center does (RSA PKCS#1 v1.5 SHA-256 over the raw body,
//! base64, in `Authorization: Signature …` or `x-ms-signature`), with the emulator's own public
//! test key. Written from the service's documentation of its callbacks.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use http::{HeaderMap, HeaderValue};

/// The emulator's signing key (RSA-2048, PKCS#8 DER). Public: trust it only in tests.
const KEY_PKCS8: &[u8] = include_bytes!("../../keys/key.pk8");
/// The certificate of the signing key, PEM: self-signed, subject CN
/// `pcnotifications-dispatch.microsoft.com`, valid 2020-01-01 to 2120-01-01.
pub const SIGNING_CERTIFICATE_PEM: &str = include_str!("../../keys/cert.pem");
/// The same certificate, DER (what the certificate URL serves).
pub const SIGNING_CERTIFICATE_DER: &[u8] = include_bytes!("../../keys/cert.der");

/// The common name of Partner Center's signing certificate, which the emulator's carries too.
pub(crate) const CERTIFICATE_CN: &str = "pcnotifications-dispatch.microsoft.com";

pub(crate) struct Signer {
    key: RsaKeyPair,
    certificate_url: String,
}

impl Signer {
    /// The signer with the emulator's key, naming `certificate_url` in its headers.
    #[allow(clippy::expect_used)]
    pub(crate) fn new(certificate_url: String) -> Self {
        // The key is a constant of this crate, checked by its tests; it cannot fail to parse.
        let key = RsaKeyPair::from_pkcs8(KEY_PKCS8).expect("the emulator's key is RSA PKCS#8");
        Signer {
            key,
            certificate_url,
        }
    }

    pub(crate) fn certificate_url(&self) -> &str {
        &self.certificate_url
    }

    fn sign(&self, body: &[u8]) -> Option<String> {
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                body,
                &mut signature,
            )
            .ok()?;
        Some(base64::engine::general_purpose::STANDARD.encode(signature))
    }

    /// The headers of a delivery of `body`: the signature in `Authorization`, or in
    /// `x-ms-signature` when the registration asked for it. `None` if signing failed, in which
    /// case nothing is sent (Partner Center never sends an unsigned callback).
    pub(crate) fn headers(&self, body: &[u8], in_ms_signature: bool) -> Option<HeaderMap> {
        let signature = HeaderValue::try_from(format!("Signature {}", self.sign(body)?)).ok()?;
        let mut headers = HeaderMap::new();
        let name = if in_ms_signature {
            "x-ms-signature"
        } else {
            "authorization"
        };
        headers.insert(name, signature);
        headers.insert(
            "x-ms-signature-algorithm",
            HeaderValue::from_static("rsa-sha256"),
        );
        headers.insert(
            "x-ms-certificate-url",
            HeaderValue::try_from(self.certificate_url.as_str()).ok()?,
        );
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        Some(headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    #[test]
    fn signatures_verify_with_the_key() {
        let signer = Signer::new("http://127.0.0.1:1/cert/x.cer".into());
        let body = br#"{"EventName":"referral-created"}"#;
        let headers = signer.headers(body, false).unwrap();
        let value = headers["authorization"].to_str().unwrap();
        let encoded = value.strip_prefix("Signature ").unwrap();
        let signature = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        let public = signer.key.public_key().as_ref().to_vec();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public)
            .verify(body, &signature)
            .unwrap();
        assert!(
            signer
                .headers(body, true)
                .unwrap()
                .contains_key("x-ms-signature")
        );
        assert!(SIGNING_CERTIFICATE_PEM.contains("BEGIN CERTIFICATE"));
    }
}
