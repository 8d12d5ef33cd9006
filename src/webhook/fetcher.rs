//! Getting certificate bytes: the [`CertificateFetcher`] trait and its implementations.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use url::Url;

use super::error::CertificateFetchError;

/// Gets the bytes of a certificate from a URL the [`TrustPolicy`](super::TrustPolicy) has
/// already allowed.
///
/// The verifier calls it only for allowed URLs, at most once at a time per URL, and caches
/// what it returns. Implement it to serve certificates from elsewhere (a file, a test).
///
/// ```
/// use async_trait::async_trait;
/// use bytes::Bytes;
/// use cosell::webhook::{CertificateFetchError, CertificateFetcher};
///
/// #[derive(Debug)]
/// struct FromDisk;
///
/// #[async_trait]
/// impl CertificateFetcher for FromDisk {
///     async fn fetch(&self, _url: &url::Url, _max_bytes: usize) -> Result<Bytes, CertificateFetchError> {
///         std::fs::read("/etc/partner-center/dispatch.cer")
///             .map(Bytes::from)
///             .map_err(|e| CertificateFetchError::Transport(e.to_string()))
///     }
/// }
/// ```
#[async_trait]
pub trait CertificateFetcher: Send + Sync + fmt::Debug {
    /// Returns the certificate at `url` (DER or PEM), at most `max_bytes` long.
    async fn fetch(&self, url: &Url, max_bytes: usize) -> Result<Bytes, CertificateFetchError>;
}

/// Fetches certificates over HTTPS with its own `reqwest` client: redirects are never
/// followed, the size is capped while reading, and the whole fetch has a time limit.
///
/// This deliberately does not go through the crate's [`Pipeline`](crate::http::Pipeline): it
/// fetches a public file without credentials from a URL the policy allowed, and must neither
/// retry nor send tokens or correlation headers to it.
#[derive(Debug, Clone)]
pub struct HttpCertificateFetcher {
    client: reqwest::Client,
}

impl HttpCertificateFetcher {
    /// A fetcher whose every fetch must finish within `timeout`.
    ///
    /// # Errors
    /// [`CertificateFetchError::Transport`] when the HTTP client cannot be built.
    ///
    /// ```
    /// let fetcher = cosell::webhook::HttpCertificateFetcher::new(std::time::Duration::from_secs(15))?;
    /// # let _ = fetcher;
    /// # Ok::<(), cosell::webhook::CertificateFetchError>(())
    /// ```
    pub fn new(timeout: Duration) -> Result<Self, CertificateFetchError> {
        let client = reqwest::Client::builder()
            .user_agent(crate::http::USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()
            .map_err(|e| CertificateFetchError::Transport(e.without_url().to_string()))?;
        Ok(HttpCertificateFetcher { client })
    }
}

#[async_trait]
impl CertificateFetcher for HttpCertificateFetcher {
    async fn fetch(&self, url: &Url, max_bytes: usize) -> Result<Bytes, CertificateFetchError> {
        let transport =
            |e: reqwest::Error| CertificateFetchError::Transport(e.without_url().to_string());
        let mut response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if status.is_redirection() {
            return Err(CertificateFetchError::Redirected {
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            return Err(CertificateFetchError::Status {
                status: status.as_u16(),
            });
        }
        let too_large = CertificateFetchError::TooLarge { limit: max_bytes };
        if response
            .content_length()
            .is_some_and(|length| length > max_bytes as u64)
        {
            return Err(too_large);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > max_bytes {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(body))
    }
}

/// Serves fixed certificates by URL: for tests, and for deployments that pin the certificate.
///
/// ```
/// use cosell::webhook::StaticCertificates;
///
/// let pem = std::fs::read("dispatch.cer").unwrap_or_default();
/// let fetcher = StaticCertificates::new().with(
///     "https://3psostorageacct.blob.core.windows.net/cert/pcnotifications-dispatch.microsoft.com.cer",
///     pem,
/// );
/// # let _ = fetcher;
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticCertificates {
    certificates: HashMap<String, Bytes>,
}

impl StaticCertificates {
    /// No certificates.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `certificate` for `url` (compared after URL normalisation).
    pub fn with(mut self, url: &str, certificate: impl Into<Bytes>) -> Self {
        let key = Url::parse(url).map_or_else(|_| url.to_owned(), String::from);
        self.certificates.insert(key, certificate.into());
        self
    }
}

#[async_trait]
impl CertificateFetcher for StaticCertificates {
    async fn fetch(&self, url: &Url, max_bytes: usize) -> Result<Bytes, CertificateFetchError> {
        let certificate = self
            .certificates
            .get(url.as_str())
            .ok_or(CertificateFetchError::Unknown)?;
        if certificate.len() > max_bytes {
            return Err(CertificateFetchError::TooLarge { limit: max_bytes });
        }
        Ok(certificate.clone())
    }
}
