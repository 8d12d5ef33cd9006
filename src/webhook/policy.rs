//! Where certificates may come from and what they must say: the [`TrustPolicy`].

use std::time::Duration;

use url::Url;

use super::error::{UrlRefusal, WebhookError, bounded};

/// The host Partner Center documents for its signing certificate.
pub const PARTNER_CENTER_CERTIFICATE_HOST: &str = "3psostorageacct.blob.core.windows.net";
/// The path below which Partner Center's signing certificate is published.
pub const PARTNER_CENTER_CERTIFICATE_PATH: &str = "/cert/";
/// The subject common name of Partner Center's signing certificate.
pub const PARTNER_CENTER_CERTIFICATE_CN: &str = "pcnotifications-dispatch.microsoft.com";

/// An allowed certificate location: an exact host and a path prefix below it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedLocation {
    host: String,
    path_prefix: String,
}

/// Roots (and intermediates) for the optional chain check.
#[derive(Debug, Clone, Default)]
pub struct ChainCheck {
    pub(crate) roots: Vec<Vec<u8>>,
    pub(crate) intermediates: Vec<Vec<u8>>,
}

impl ChainCheck {
    /// A chain check against these DER-encoded root certificates.
    ///
    /// ```
    /// let roots: Vec<Vec<u8>> = Vec::new(); // load your trust anchors here
    /// let check = cosell::webhook::ChainCheck::with_roots(roots);
    /// # let _ = check;
    /// ```
    pub fn with_roots(roots: impl IntoIterator<Item = Vec<u8>>) -> Self {
        ChainCheck {
            roots: roots.into_iter().collect(),
            intermediates: Vec::new(),
        }
    }

    /// Adds DER-encoded intermediate certificates (the callback names only the leaf, and the
    /// check fetches nothing else).
    pub fn intermediates(mut self, intermediates: impl IntoIterator<Item = Vec<u8>>) -> Self {
        self.intermediates.extend(intermediates);
        self
    }
}

/// What a callback's certificate must satisfy before its key is trusted.
///
/// Trust comes from here, never from the message: anyone can write "Microsoft" into a
/// certificate's issuer, and anyone can host a blob under `blob.core.windows.net`. So the
/// certificate is fetched only from an allow-listed **exact host and path prefix**, over
/// `https` on the default port, with no user-info, query or fragment; its subject common name
/// must be the expected one and it must be valid now; optionally it must chain to configured
/// roots.
///
/// ```
/// use cosell::webhook::TrustPolicy;
///
/// // The documented Partner Center location, plus a second one of your own.
/// let policy = TrustPolicy::partner_center()
///     .allow_location("certs.contoso.example", "/partner-center/")?;
/// # let _ = policy;
/// # Ok::<(), cosell::webhook::WebhookError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    locations: Vec<AllowedLocation>,
    expected_subject_cn: String,
    max_certificate_bytes: usize,
    max_body_bytes: usize,
    cache_ttl: Duration,
    fetch_timeout: Duration,
    chain: Option<ChainCheck>,
    loopback: Vec<LoopbackLocation>,
}

/// A plain-`http` certificate location on this machine (a local emulator): exact host and
/// port, and a path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LoopbackLocation {
    host: String,
    port: Option<u16>,
    path_prefix: String,
}

impl Default for TrustPolicy {
    fn default() -> Self {
        Self::partner_center()
    }
}

impl TrustPolicy {
    /// The policy for real Partner Center deliveries: certificates only from
    /// `https://3psostorageacct.blob.core.windows.net/cert/…`, subject CN
    /// `pcnotifications-dispatch.microsoft.com`, at most 64 KiB per certificate and 1 MiB per
    /// body, cached at most 24 hours, fetched within 15 seconds.
    ///
    /// ```
    /// let policy = cosell::webhook::TrustPolicy::partner_center();
    /// assert!(policy.check_certificate_url(
    ///     "https://3psostorageacct.blob.core.windows.net/cert/pcnotifications-dispatch.microsoft.com.cer"
    /// ).is_ok());
    /// assert!(policy.check_certificate_url("https://evil.blob.core.windows.net/cert/x.cer").is_err());
    /// ```
    pub fn partner_center() -> Self {
        TrustPolicy {
            locations: vec![AllowedLocation {
                host: PARTNER_CENTER_CERTIFICATE_HOST.to_owned(),
                path_prefix: PARTNER_CENTER_CERTIFICATE_PATH.to_owned(),
            }],
            expected_subject_cn: PARTNER_CENTER_CERTIFICATE_CN.to_owned(),
            max_certificate_bytes: 64 * 1024,
            max_body_bytes: 1024 * 1024,
            cache_ttl: Duration::from_secs(24 * 60 * 60),
            fetch_timeout: Duration::from_secs(15),
            chain: None,
            loopback: Vec::new(),
        }
    }

    /// Also allows certificates served over plain `http` from a loopback host (`127.0.0.0/8`,
    /// `::1`, `localhost`): a local emulator's certificate URL in tests. The location allowed is
    /// that URL's exact host and port and its folder (the path up to its last `/`); every other
    /// rule still applies. A URL that is not `http` on a loopback host is refused, so no remote
    /// server can be trusted this way.
    ///
    /// ```
    /// use cosell::webhook::TrustPolicy;
    ///
    /// let policy = TrustPolicy::partner_center()
    ///     .allow_loopback_location("http://127.0.0.1:7803/cert/signing.cer")?;
    /// assert!(policy.check_certificate_url("http://127.0.0.1:7803/cert/other.cer").is_ok());
    /// assert!(policy.check_certificate_url("http://127.0.0.1:9999/cert/signing.cer").is_err());
    /// assert!(TrustPolicy::partner_center().allow_loopback_location("http://10.0.0.1/cert/x.cer").is_err());
    /// # Ok::<(), cosell::webhook::WebhookError>(())
    /// ```
    ///
    /// # Errors
    /// [`WebhookError::CertificateUrlNotAllowed`] when the URL is not `http`, not on a loopback
    /// host, or carries user-info, a query or a fragment.
    pub fn allow_loopback_location(mut self, certificate_url: &str) -> Result<Self, WebhookError> {
        let refuse = |reason| WebhookError::CertificateUrlNotAllowed {
            url: bounded(certificate_url),
            reason,
        };
        let parsed = Url::parse(certificate_url).map_err(|_| refuse(UrlRefusal::NotAUrl))?;
        if parsed.scheme() != "http" {
            return Err(refuse(UrlRefusal::InsecureScheme));
        }
        if !crate::http::is_loopback(&parsed) {
            return Err(refuse(UrlRefusal::HostNotAllowed));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(refuse(UrlRefusal::UserInfo));
        }
        if parsed.query().is_some() {
            return Err(refuse(UrlRefusal::Query));
        }
        if parsed.fragment().is_some() {
            return Err(refuse(UrlRefusal::Fragment));
        }
        let path = parsed.path();
        let folder = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        self.loopback.push(LoopbackLocation {
            host: parsed.host_str().unwrap_or_default().to_ascii_lowercase(),
            port: parsed.port(),
            path_prefix: folder.to_owned(),
        });
        Ok(self)
    }

    /// Adds an allowed certificate location: `host` must match exactly (no suffix matching),
    /// and the path must start with `path_prefix`, which must start and end with `/`.
    ///
    /// # Errors
    /// [`WebhookError::CertificateUrlNotAllowed`] when the host is empty or has a port, or the
    /// prefix does not start and end with `/`.
    pub fn allow_location(mut self, host: &str, path_prefix: &str) -> Result<Self, WebhookError> {
        let host = host.trim().to_ascii_lowercase();
        let refuse = |reason| WebhookError::CertificateUrlNotAllowed {
            url: bounded(&format!("{host}{path_prefix}")),
            reason,
        };
        if host.is_empty() || host.contains([':', '/', '@', '?', '#']) {
            return Err(refuse(UrlRefusal::HostNotAllowed));
        }
        if !path_prefix.starts_with('/') || !path_prefix.ends_with('/') {
            return Err(refuse(UrlRefusal::PathNotAllowed));
        }
        self.locations.push(AllowedLocation {
            host,
            path_prefix: path_prefix.to_owned(),
        });
        Ok(self)
    }

    /// Removes every allowed location (then add your own with
    /// [`allow_location`](Self::allow_location)).
    pub fn clear_locations(mut self) -> Self {
        self.locations.clear();
        self
    }

    /// The subject common name the certificate must carry.
    pub fn expected_subject_cn(mut self, common_name: impl Into<String>) -> Self {
        self.expected_subject_cn = common_name.into();
        self
    }

    /// The largest certificate that is read, in bytes.
    pub fn max_certificate_bytes(mut self, limit: usize) -> Self {
        self.max_certificate_bytes = limit;
        self
    }

    /// The largest callback body that is verified, in bytes.
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// How long a fetched certificate is trusted before it is fetched again (never past its
    /// `notAfter`).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How long a certificate fetch may take.
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// Also requires the certificate to chain to one of the given roots.
    pub fn require_chain(mut self, chain: ChainCheck) -> Self {
        self.chain = Some(chain);
        self
    }

    /// The expected subject common name.
    pub fn subject_cn(&self) -> &str {
        &self.expected_subject_cn
    }

    /// The certificate size limit in bytes.
    pub fn certificate_limit(&self) -> usize {
        self.max_certificate_bytes
    }

    /// The body size limit in bytes.
    pub fn body_limit(&self) -> usize {
        self.max_body_bytes
    }

    /// The longest time a certificate stays cached.
    pub fn ttl(&self) -> Duration {
        self.cache_ttl
    }

    /// The certificate fetch time limit.
    pub fn timeout(&self) -> Duration {
        self.fetch_timeout
    }

    pub(crate) fn chain(&self) -> Option<&ChainCheck> {
        self.chain.as_ref()
    }

    /// Checks a certificate URL against the policy without fetching anything.
    ///
    /// # Errors
    /// [`WebhookError::CertificateUrlNotAllowed`] naming the rule that refused it.
    pub fn check_certificate_url(&self, url: &str) -> Result<Url, WebhookError> {
        let refuse = |reason| WebhookError::CertificateUrlNotAllowed {
            url: bounded(url),
            reason,
        };
        let parsed = Url::parse(url).map_err(|_| refuse(UrlRefusal::NotAUrl))?;
        let loopback = (parsed.scheme() == "http" && crate::http::is_loopback(&parsed))
            .then(|| {
                let host = parsed.host_str().unwrap_or_default();
                self.loopback
                    .iter()
                    .find(|l| l.host == host && l.port == parsed.port())
            })
            .flatten();
        let plain_loopback = loopback.is_some();
        match parsed.scheme() {
            "https" => {}
            "http" if plain_loopback => {}
            _ => return Err(refuse(UrlRefusal::InsecureScheme)),
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(refuse(UrlRefusal::UserInfo));
        }
        // `Url` drops a port equal to the scheme's default, so any port left is another one.
        if parsed.port().is_some() && !plain_loopback {
            return Err(refuse(UrlRefusal::NonDefaultPort));
        }
        if parsed.query().is_some() {
            return Err(refuse(UrlRefusal::Query));
        }
        if parsed.fragment().is_some() {
            return Err(refuse(UrlRefusal::Fragment));
        }
        let path = parsed.path();
        if let Some(location) = loopback {
            return if path_below(path, &location.path_prefix) {
                Ok(parsed)
            } else {
                Err(refuse(UrlRefusal::PathNotAllowed))
            };
        }
        let host = match parsed.host() {
            Some(url::Host::Domain(host)) => host,
            _ => return Err(refuse(UrlRefusal::HostNotAllowed)),
        };
        let mut host_known = false;
        for location in &self.locations {
            if location.host == host {
                host_known = true;
                if path_below(path, &location.path_prefix) {
                    return Ok(parsed);
                }
            }
        }
        Err(refuse(if host_known {
            UrlRefusal::PathNotAllowed
        } else {
            UrlRefusal::HostNotAllowed
        }))
    }
}

/// Whether `path` lies strictly below `prefix` and the rest is plain file-name characters in
/// non-empty segments (no `.`/`..`, no encoded separators), so that no server-side path
/// normalisation can move it out of the prefix.
fn path_below(path: &str, prefix: &str) -> bool {
    let Some(rest) = path.strip_prefix(prefix) else {
        return false;
    };
    !rest.is_empty()
        && rest.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~'))
        })
}
