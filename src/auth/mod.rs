//! Access tokens and where they come from.
//!
//! Every client's builder takes its credentials (see [`Credentials`] for which flows each API
//! accepts) and caches their tokens. The pipeline asks it for a token before each
//! attempt and, when the server rejects the token (401), tells it so through
//! [`TokenProvider::invalidate`], fetches one fresh token and replays the request once.
//!
//! Providers here:
//! - [`StaticToken`]: a token you already have.
//! - [`ClientCredentials`]: Microsoft Entra ID app-only tokens (Dataverse, the Partner Center
//!   webhooks API).
//! - [`DeviceCodeFlow`] and [`RefreshTokenProvider`]: user-delegated tokens, which the Partner
//!   Center referrals API requires.
//! - [`CachedTokenProvider`]: wraps any provider, refreshes five minutes before expiry and lets
//!   only one refresh run at a time.
//! - [`CustomCredentials`]: a provider of your own, with the kind of token it gives named
//!   (`CustomCredentials::user(provider)`), so a client takes it.
//!
//! Every client also reads its credentials from the environment by one convention: see
//! [`env`](mod@env).
//!
//! Secrets are [`secrecy`] types: no `Debug`, `Display`, log line or error shows them.

mod cache;
mod credentials;
mod delegated;
mod entra;
pub mod env;
pub(crate) mod token_endpoint;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};

use crate::error::Result;

pub use cache::CachedTokenProvider;
pub use credentials::{
    Credentials, CustomCredentials, EntraCredentials, SalesforceCredentials, UserCredentials,
    token_kind,
};
pub use delegated::{
    DelegatedGrant, DelegatedScope, DeviceCodeFlow, DeviceCodePrompt, RefreshTokenProvider,
    RefreshTokenProviderBuilder, RefreshTokenSink,
};
pub use entra::{ClientCredentials, EntraAuthority};
pub use env::{Env, EnvError, EnvProblem};
pub use token_endpoint::TokenResponse;

/// An access token and what is known about it.
#[derive(Clone)]
pub struct AccessToken {
    secret: SecretString,
    token_type: String,
    expires_at: Option<Timestamp>,
    extra: BTreeMap<String, String>,
}

impl AccessToken {
    /// A bearer token with no known expiry.
    ///
    /// ```
    /// let token = cosell::auth::AccessToken::bearer("eyJ0eXAi...");
    /// assert!(!format!("{token:?}").contains("eyJ0"));
    /// ```
    pub fn bearer(secret: impl Into<String>) -> Self {
        AccessToken {
            secret: SecretString::from(secret.into()),
            token_type: "Bearer".to_owned(),
            expires_at: None,
            extra: BTreeMap::new(),
        }
    }

    /// Sets when the token expires.
    pub fn with_expiry(mut self, expires_at: Timestamp) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// Sets the token type (`Bearer` unless the server says otherwise).
    pub fn with_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.token_type = token_type.into();
        self
    }

    /// Adds a value the token endpoint returned beside the token (Salesforce `instance_url`).
    pub fn with_extra(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// The secret value.
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    /// The token type, usually `Bearer`.
    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    /// When the token expires, if known.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.expires_at
    }

    /// A value the token endpoint returned beside the token.
    pub fn extra(&self, key: &str) -> Option<&str> {
        self.extra.get(key).map(String::as_str)
    }

    /// Salesforce's `instance_url`: the host to send API calls to.
    pub fn instance_url(&self) -> Option<&str> {
        self.extra("instance_url")
    }

    /// Whether the token is expired at `now`, or will be within `margin`.
    pub fn expires_within(&self, now: Timestamp, margin: std::time::Duration) -> bool {
        match self.expires_at {
            None => false,
            Some(at) => {
                let margin =
                    jiff::SignedDuration::try_from(margin).unwrap_or(jiff::SignedDuration::MAX);
                now.checked_add(margin).map(|t| t >= at).unwrap_or(true)
            }
        }
    }

    /// The `Authorization` header value.
    pub(crate) fn authorization(&self) -> String {
        format!("{} {}", self.token_type, self.secret.expose_secret())
    }

    /// Whether two tokens carry the same secret.
    pub(crate) fn same_secret(&self, other: &AccessToken) -> bool {
        self.secret.expose_secret() == other.secret.expose_secret()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("extra", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A source of access tokens.
///
/// ```
/// use async_trait::async_trait;
/// use cosell::auth::{AccessToken, TokenProvider};
///
/// /// Reads the token from a vault on each call.
/// #[derive(Debug)]
/// struct FromVault;
///
/// #[async_trait]
/// impl TokenProvider for FromVault {
///     async fn token(&self) -> cosell::Result<AccessToken> {
///         Ok(AccessToken::bearer("token-from-vault"))
///     }
/// }
/// ```
#[async_trait]
pub trait TokenProvider: Send + Sync + fmt::Debug {
    /// A token to send now.
    async fn token(&self) -> Result<AccessToken>;

    /// The server rejected `rejected`: do not hand it out again.
    fn invalidate(&self, rejected: &AccessToken) {
        let _ = rejected;
    }
}

#[async_trait]
impl<P: TokenProvider + ?Sized> TokenProvider for Arc<P> {
    async fn token(&self) -> Result<AccessToken> {
        (**self).token().await
    }

    fn invalidate(&self, rejected: &AccessToken) {
        (**self).invalidate(rejected)
    }
}

/// A token that never changes: for tests, and for tokens obtained elsewhere.
///
/// ```
/// use cosell::auth::{StaticToken, TokenProvider};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let provider = StaticToken::new("abc");
/// let token = provider.token().await.unwrap();
/// assert_eq!(token.token_type(), "Bearer");
/// # });
/// ```
#[derive(Clone)]
pub struct StaticToken(AccessToken);

impl StaticToken {
    /// A bearer token.
    pub fn new(secret: impl Into<String>) -> Self {
        StaticToken(AccessToken::bearer(secret))
    }

    /// Any prepared token (for example one that carries an `instance_url`).
    pub fn from_token(token: AccessToken) -> Self {
        StaticToken(token)
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StaticToken").field(&self.0).finish()
    }
}

#[async_trait]
impl TokenProvider for StaticToken {
    async fn token(&self) -> Result<AccessToken> {
        Ok(self.0.clone())
    }
}
