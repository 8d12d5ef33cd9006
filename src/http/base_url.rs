//! Base URLs: `https` only, except on loopback.

use std::net::IpAddr;

use url::{Host, Url};

use crate::auth::AccessToken;
use crate::error::{Error, Result};

/// Whether `url` points at this machine (`localhost`, `127.0.0.0/8`, `::1`).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Checks that a base URL is usable: absolute, `https` (or `http` to a loopback host), without
/// user-info, query or fragment. Returns it with a trailing `/`, so that relative paths join
/// below it.
///
/// ```
/// use cosell::http::validate_base_url;
///
/// assert!(validate_base_url("https://api.partner.microsoft.com/v1.0/engagements").is_ok());
/// assert!(validate_base_url("http://127.0.0.1:8080/").is_ok());
/// assert!(validate_base_url("http://api.partner.microsoft.com/").is_err());
/// ```
pub fn validate_base_url(url: &str) -> Result<Url> {
    let mut parsed = Url::parse(url)
        .map_err(|e| Error::config(format!("base URL `{url}` is not a URL: {e}")))?;
    match parsed.scheme() {
        "https" => {}
        "http" if is_loopback(&parsed) => {}
        "http" => {
            return Err(Error::config(format!(
                "base URL `{url}` must use https (plain http is allowed only for loopback hosts)"
            )));
        }
        other => {
            return Err(Error::config(format!(
                "base URL `{url}` has scheme `{other}`; expected https"
            )));
        }
    }
    if parsed.host().is_none() {
        return Err(Error::config(format!("base URL `{url}` has no host")));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::config("a base URL must not carry user-info"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::config(format!(
            "base URL `{url}` must not have a query or fragment"
        )));
    }
    if !parsed.path().ends_with('/') {
        let path = format!("{}/", parsed.path());
        parsed.set_path(&path);
    }
    Ok(parsed)
}

/// Where a pipeline's requests go.
#[derive(Debug, Clone)]
pub enum BaseUrl {
    /// A fixed base URL.
    Fixed(Url),
    /// The token's `instance_url` (Salesforce) joined with a path such as
    /// `services/data/v62.0/`.
    FromToken {
        /// The path below the instance URL.
        path: String,
    },
}

impl BaseUrl {
    /// The base for a request sent with `token`.
    pub(crate) fn resolve(&self, token: Option<&AccessToken>) -> Result<Url> {
        match self {
            BaseUrl::Fixed(url) => Ok(url.clone()),
            BaseUrl::FromToken { path } => {
                let instance = token.and_then(AccessToken::instance_url).ok_or_else(|| {
                    Error::config("the token carries no instance_url to send requests to")
                })?;
                let base = validate_base_url(instance)?;
                base.join(path.trim_start_matches('/')).map_err(|e| {
                    Error::config(format!("cannot join `{path}` to `{instance}`: {e}"))
                })
            }
        }
    }
}
