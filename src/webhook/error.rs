//! Every way a callback can fail verification, each its own variant.

use jiff::Timestamp;

/// Why a certificate URL was refused before any connection was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UrlRefusal {
    /// The header is not an absolute URL.
    NotAUrl,
    /// The scheme is not `https` (plain `http` only for a loopback location the policy names).
    InsecureScheme,
    /// The URL names a port other than the scheme's default.
    NonDefaultPort,
    /// The URL carries a user name or password.
    UserInfo,
    /// The URL carries a query.
    Query,
    /// The URL carries a fragment.
    Fragment,
    /// The host is not one of the allowed hosts.
    HostNotAllowed,
    /// The host is allowed but the path is not below an allowed prefix, or has suspicious
    /// segments.
    PathNotAllowed,
}

impl std::fmt::Display for UrlRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UrlRefusal::NotAUrl => "it is not an absolute URL",
            UrlRefusal::InsecureScheme => "it does not use https",
            UrlRefusal::NonDefaultPort => "it names a non-default port",
            UrlRefusal::UserInfo => "it carries user-info",
            UrlRefusal::Query => "it carries a query",
            UrlRefusal::Fragment => "it carries a fragment",
            UrlRefusal::HostNotAllowed => "its host is not allow-listed",
            UrlRefusal::PathNotAllowed => "its path is not below an allow-listed prefix",
        })
    }
}

/// Why a certificate could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateFetchError {
    /// The server answered with a redirect, which is never followed.
    #[error("the server answered {status} with a redirect, which is refused")]
    Redirected {
        /// The HTTP status.
        status: u16,
    },
    /// The server answered with another non-success status.
    #[error("the server answered {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// The certificate is larger than the policy's limit.
    #[error("the certificate is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// No answer arrived (connect failure, time-out, broken connection).
    #[error("transport failure: {0}")]
    Transport(String),
    /// No certificate is known for this URL (fixed fetchers).
    #[error("no certificate is known for this URL")]
    Unknown,
}

/// A callback that failed verification, or a verified body that is not a valid event.
///
/// Answer `401`/`403` for every variant except [`WebhookError::CertificateFetch`], which may be
/// transient (answering `5xx` lets Partner Center deliver again).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The body is larger than the policy's limit.
    #[error("the body has {actual} bytes, more than the limit of {limit}")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
        /// The body's size in bytes.
        actual: usize,
    },
    /// The body did not arrive within the time allowed ([`read_body`](super::read_body)): a
    /// slow sender holding the receiver.
    #[error("the body did not arrive within {} ms", .within.as_millis())]
    BodyTooSlow {
        /// The time allowed.
        within: std::time::Duration,
    },
    /// The body could not be read (the connection broke).
    #[error("the body could not be read: {0}")]
    BodyUnreadable(String),
    /// Neither `Authorization: Signature …` nor `x-ms-signature` is present.
    #[error("the callback carries no signature (`Authorization: Signature …` or `x-ms-signature`)")]
    MissingSignature,
    /// A required header is missing.
    #[error("the callback has no `{0}` header")]
    MissingHeader(&'static str),
    /// A header is present more than once, or is not visible ASCII.
    #[error("the `{0}` header is repeated or not visible ASCII")]
    InvalidHeader(&'static str),
    /// The signature header is not `Signature <base64>`.
    #[error("the signature header is not of the form `Signature <base64>`")]
    MalformedSignatureHeader,
    /// The signature is not valid base64.
    #[error("the signature is not valid base64")]
    BadBase64,
    /// `x-ms-signature-algorithm` names something other than `rsa-sha256`.
    #[error("signature algorithm `{0}` is not supported (only rsa-sha256 is)")]
    UnsupportedAlgorithm(String),
    /// The certificate URL is refused by the trust policy; nothing was fetched.
    #[error("certificate URL `{url}` refused: {reason}")]
    CertificateUrlNotAllowed {
        /// The URL as sent (shortened to 200 characters).
        url: String,
        /// Which rule refused it.
        reason: UrlRefusal,
    },
    /// The certificate could not be fetched.
    #[error("could not fetch the certificate from `{url}`: {error}")]
    CertificateFetch {
        /// The certificate URL.
        url: String,
        /// What went wrong.
        #[source]
        error: CertificateFetchError,
    },
    /// The fetched bytes are not a DER or PEM X.509 certificate.
    #[error("the certificate is not a DER or PEM X.509 certificate: {0}")]
    CertificateMalformed(String),
    /// The certificate's `notAfter` has passed.
    #[error("the certificate expired at {not_after} (now {now})")]
    CertificateExpired {
        /// The end of the validity period.
        not_after: Timestamp,
        /// The verifier's clock.
        now: Timestamp,
    },
    /// The certificate's `notBefore` has not come yet.
    #[error("the certificate is valid only from {not_before} (now {now})")]
    CertificateNotYetValid {
        /// The start of the validity period.
        not_before: Timestamp,
        /// The verifier's clock.
        now: Timestamp,
    },
    /// The certificate's subject common name is not the expected one.
    #[error("the certificate subject CN is {found:?}, expected `{expected}`")]
    CertificateSubjectMismatch {
        /// The expected common name.
        expected: String,
        /// The common names found (empty when none).
        found: Vec<String>,
    },
    /// The optional chain check failed: the certificate does not chain to a configured root.
    #[error("the certificate does not chain to a trusted root: {0}")]
    CertificateUntrusted(String),
    /// The certificate's key is not an RSA key of 2048 to 8192 bits.
    #[error("the certificate's public key is not usable for rsa-sha256: {0}")]
    UnsupportedKey(String),
    /// The signature does not match the body under the certificate's key.
    #[error("the signature does not match the body")]
    SignatureMismatch,
    /// The body was verified but is not a Partner Center event.
    #[error("the verified body is not a valid event: {0}")]
    InvalidPayload(String),
}

impl WebhookError {
    /// Whether the failure may go away on a later delivery (the certificate could not be
    /// fetched). Everything else is a forgery or a misconfiguration.
    ///
    /// ```
    /// use cosell::webhook::WebhookError;
    /// assert!(!WebhookError::SignatureMismatch.is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        matches!(self, WebhookError::CertificateFetch { error, .. } if error.is_transient())
    }
}

impl CertificateFetchError {
    /// Whether a later attempt may succeed: no answer arrived, or the server answered with a
    /// status other than a redirect.
    ///
    /// ```
    /// use cosell::webhook::CertificateFetchError;
    /// assert!(CertificateFetchError::Transport("reset".into()).is_transient());
    /// assert!(!CertificateFetchError::Redirected { status: 302 }.is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CertificateFetchError::Transport(_) | CertificateFetchError::Status { .. }
        )
    }
}

/// Shortens attacker-controlled text kept in an error.
pub(crate) fn bounded(text: &str) -> String {
    const LIMIT: usize = 200;
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::bounded;

    #[test]
    fn attacker_text_kept_in_an_error_is_cut_to_200_characters() {
        let long = "é\n".repeat(5_000);
        let kept = bounded(&long);
        assert_eq!(kept.chars().count(), 201, "200 characters and the ellipsis");
        assert!(kept.ends_with('…'));
        assert_eq!(bounded("short"), "short");
    }
}
