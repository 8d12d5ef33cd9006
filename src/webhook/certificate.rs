//! A fetched signing certificate: parsed once, checked against the policy, its key kept ready.

use std::fmt;

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use jiff::Timestamp;
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION;
use x509_parser::prelude::FromDer;

use super::error::WebhookError;
use super::policy::{ChainCheck, TrustPolicy};

/// A certificate that passed the policy: its RSA key, ready to verify signatures, and the
/// validity window that is re-checked on every use.
pub struct TrustedCertificate {
    key: ParsedPublicKey,
    subject_cn: String,
    not_before: Timestamp,
    not_after: Timestamp,
}

impl fmt::Debug for TrustedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedCertificate")
            .field("subject_cn", &self.subject_cn)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl TrustedCertificate {
    /// Parses `bytes` (DER, or PEM with a `CERTIFICATE` block) and checks it against `policy`
    /// at `now`: subject CN, validity window, the optional chain, and an RSA key of 2048 to
    /// 8192 bits.
    ///
    /// # Errors
    /// The [`WebhookError`] of the first check that fails.
    ///
    /// ```
    /// use cosell::webhook::{TrustPolicy, TrustedCertificate};
    ///
    /// let err = TrustedCertificate::from_bytes(b"not a certificate", &TrustPolicy::partner_center(), jiff::Timestamp::now())
    ///     .unwrap_err();
    /// assert!(matches!(err, cosell::webhook::WebhookError::CertificateMalformed(_)));
    /// ```
    pub fn from_bytes(
        bytes: &[u8],
        policy: &TrustPolicy,
        now: Timestamp,
    ) -> Result<Self, WebhookError> {
        let der = to_der(bytes)?;
        let (rest, cert) = X509Certificate::from_der(&der)
            .map_err(|e| WebhookError::CertificateMalformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(WebhookError::CertificateMalformed(
                "trailing bytes after the certificate".to_owned(),
            ));
        }

        let names: Vec<String> = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
            .collect();
        // Exactly one CN, and it is the expected one: a second CN could be read by another
        // consumer as "the" name.
        let subject_cn = match names.as_slice() {
            [only] if only.eq_ignore_ascii_case(policy.subject_cn()) => only.clone(),
            _ => {
                return Err(WebhookError::CertificateSubjectMismatch {
                    expected: policy.subject_cn().to_owned(),
                    found: names,
                });
            }
        };

        let validity = cert.validity();
        let not_before = timestamp(validity.not_before.timestamp())?;
        let not_after = timestamp(validity.not_after.timestamp())?;
        check_window(not_before, not_after, now)?;

        if let Some(chain) = policy.chain() {
            check_chain(&der, chain, now)?;
        }

        let spki = cert.public_key();
        if spki.algorithm.algorithm != OID_PKCS1_RSAENCRYPTION {
            return Err(WebhookError::UnsupportedKey(format!(
                "key algorithm {} is not rsaEncryption",
                spki.algorithm.algorithm
            )));
        }
        let key = ParsedPublicKey::new(
            &RSA_PKCS1_2048_8192_SHA256,
            spki.subject_public_key.data.as_ref(),
        )
        .map_err(|e| WebhookError::UnsupportedKey(e.to_string()))?;

        Ok(TrustedCertificate {
            key,
            subject_cn,
            not_before,
            not_after,
        })
    }

    /// The subject common name.
    pub fn subject_cn(&self) -> &str {
        &self.subject_cn
    }

    /// The start of the validity period.
    pub fn not_before(&self) -> Timestamp {
        self.not_before
    }

    /// The end of the validity period.
    pub fn not_after(&self) -> Timestamp {
        self.not_after
    }

    /// Checks that the certificate is valid at `now`.
    ///
    /// # Errors
    /// [`WebhookError::CertificateExpired`] or [`WebhookError::CertificateNotYetValid`].
    pub fn check_valid_at(&self, now: Timestamp) -> Result<(), WebhookError> {
        check_window(self.not_before, self.not_after, now)
    }

    /// Verifies an RSA PKCS#1 v1.5 SHA-256 `signature` over `message`.
    ///
    /// # Errors
    /// [`WebhookError::SignatureMismatch`].
    pub fn verify_signature(&self, message: &[u8], signature: &[u8]) -> Result<(), WebhookError> {
        self.key
            .verify_sig(message, signature)
            .map_err(|_| WebhookError::SignatureMismatch)
    }
}

fn check_window(
    not_before: Timestamp,
    not_after: Timestamp,
    now: Timestamp,
) -> Result<(), WebhookError> {
    if now < not_before {
        return Err(WebhookError::CertificateNotYetValid { not_before, now });
    }
    if now > not_after {
        return Err(WebhookError::CertificateExpired { not_after, now });
    }
    Ok(())
}

fn timestamp(seconds: i64) -> Result<Timestamp, WebhookError> {
    Timestamp::from_second(seconds)
        .map_err(|e| WebhookError::CertificateMalformed(format!("validity date out of range: {e}")))
}

/// DER as is; PEM decoded (only a `CERTIFICATE` block).
fn to_der(bytes: &[u8]) -> Result<Vec<u8>, WebhookError> {
    let trimmed = bytes.trim_ascii_start();
    if !trimmed.starts_with(b"-----BEGIN") {
        return Ok(bytes.to_vec());
    }
    let (_, pem) = x509_parser::pem::parse_x509_pem(trimmed)
        .map_err(|e| WebhookError::CertificateMalformed(format!("bad PEM: {e}")))?;
    if pem.label != "CERTIFICATE" {
        return Err(WebhookError::CertificateMalformed(format!(
            "PEM block is `{}`, not `CERTIFICATE`",
            super::error::bounded(&pem.label)
        )));
    }
    Ok(pem.contents)
}

/// The optional full chain check with rustls-webpki against the configured roots.
fn check_chain(leaf_der: &[u8], chain: &ChainCheck, now: Timestamp) -> Result<(), WebhookError> {
    use rustls_pki_types::{CertificateDer, UnixTime};

    let untrusted = |e: &dyn fmt::Display| WebhookError::CertificateUntrusted(e.to_string());
    let roots_der: Vec<CertificateDer<'_>> = chain
        .roots
        .iter()
        .map(|r| CertificateDer::from(r.as_slice()))
        .collect();
    let anchors = roots_der
        .iter()
        .map(|r| webpki::anchor_from_trusted_cert(r).map_err(|e| untrusted(&e)))
        .collect::<Result<Vec<_>, _>>()?;
    let intermediates: Vec<CertificateDer<'_>> = chain
        .intermediates
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let leaf = CertificateDer::from(leaf_der);
    let end_entity = webpki::EndEntityCert::try_from(&leaf).map_err(|e| untrusted(&e))?;
    let seconds = u64::try_from(now.as_second()).unwrap_or(0);
    end_entity
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &intermediates,
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(seconds)),
            AnyExtendedKeyUsage,
            None,
            None,
        )
        .map(|_| ())
        .map_err(|e| untrusted(&e))
}

/// Partner Center does not document the signing certificate's extended key usage, so the
/// chain check accepts any (the subject CN and the URL allow-list carry the name binding).
struct AnyExtendedKeyUsage;

impl webpki::ExtendedKeyUsageValidator for AnyExtendedKeyUsage {
    fn validate(&self, iter: webpki::KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        for id in iter {
            id?;
        }
        Ok(())
    }
}
