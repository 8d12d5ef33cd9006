//! Microsoft Entra ID: the authority and the client-credentials (app-only) flow.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use super::token_endpoint::{TokenEndpointProfile, TokenResponse, post_form};
use super::{AccessToken, TokenProvider};
use crate::error::Result;
use crate::http::{Clock, Pipeline, RetryPolicy, Sleeper, SystemClock, TokioSleeper};

/// Where Entra ID tokens come from: the authority host (public cloud by default; sovereign
/// clouds and test servers by URL) and the tenant.
///
/// ```
/// use cosell::auth::EntraAuthority;
///
/// let public = EntraAuthority::public_cloud("contoso.onmicrosoft.com");
/// let us_gov = EntraAuthority::new("https://login.microsoftonline.us", "contoso.onmicrosoft.us").unwrap();
/// # let _ = (public, us_gov);
/// ```
#[derive(Clone)]
pub struct EntraAuthority {
    authority: String,
    tenant: String,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
}

impl fmt::Debug for EntraAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraAuthority")
            .field("authority", &self.authority)
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl EntraAuthority {
    /// The public cloud, `https://login.microsoftonline.com`.
    pub fn public_cloud(tenant: impl Into<String>) -> Self {
        EntraAuthority {
            authority: "https://login.microsoftonline.com/".to_owned(),
            tenant: tenant.into(),
            retry: RetryPolicy::default(),
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
        }
    }

    /// Another authority host (sovereign clouds, the emulator, test servers).
    pub fn new(authority: &str, tenant: impl Into<String>) -> Result<Self> {
        let url = crate::http::validate_base_url(authority)?;
        Ok(EntraAuthority {
            authority: url.to_string(),
            ..EntraAuthority::public_cloud(tenant)
        })
    }

    /// The clock used for token expiry.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// What waits between polls and retries.
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Retries of token requests.
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    pub(crate) fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }

    pub(crate) fn pipeline(&self) -> Result<Pipeline> {
        Pipeline::builder(TokenEndpointProfile)
            .base_url(&self.authority)?
            .retry_policy(self.retry.clone())
            .clock(self.clock.clone())
            .sleeper(self.sleeper.clone())
            .build()
    }

    pub(crate) fn sleeper_handle(&self) -> &Arc<dyn Sleeper> {
        &self.sleeper
    }
}

/// App-only tokens from Entra ID with a client secret (v2 endpoint, `<resource>/.default`).
///
/// Used for Dataverse and the Partner Center webhooks API. Wrap it in a
/// [`CachedTokenProvider`](super::CachedTokenProvider) so a token is reused until shortly before
/// it expires.
///
/// ```no_run
/// use cosell::auth::{CachedTokenProvider, ClientCredentials, EntraAuthority};
///
/// # fn build() -> cosell::Result<()> {
/// let credentials = ClientCredentials::new(
///     EntraAuthority::public_cloud("contoso.onmicrosoft.com"),
///     "00000000-0000-0000-0000-000000000001",
///     std::env::var("CLIENT_SECRET").unwrap_or_default().into(),
///     "https://contoso.crm.dynamics.com/.default",
/// )?;
/// let provider = CachedTokenProvider::new(credentials);
/// # let _ = provider; Ok(()) }
/// ```
pub struct ClientCredentials {
    authority: EntraAuthority,
    pipeline: Pipeline,
    client_id: String,
    secret: SecretString,
    scope: String,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("authority", &self.authority)
            .field("client_id", &self.client_id)
            .field("secret", &"[redacted]")
            .field("scope", &self.scope)
            .finish()
    }
}

impl ClientCredentials {
    /// Client credentials for `scope` (for example `https://contoso.crm.dynamics.com/.default`).
    pub fn new(
        authority: EntraAuthority,
        client_id: impl Into<String>,
        secret: SecretString,
        scope: impl Into<String>,
    ) -> Result<Self> {
        Ok(ClientCredentials {
            pipeline: authority.pipeline()?,
            authority,
            client_id: client_id.into(),
            secret,
            scope: scope.into(),
        })
    }
}

#[async_trait]
impl TokenProvider for ClientCredentials {
    async fn token(&self) -> Result<AccessToken> {
        let tenant = self.authority.tenant.clone();
        let response: TokenResponse = post_form(
            &self.pipeline,
            &[&tenant, "oauth2", "v2.0", "token"],
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &self.client_id),
                ("client_secret", self.secret.expose_secret()),
                ("scope", &self.scope),
            ],
            true,
        )
        .await?;
        Ok(response.to_access_token(self.authority.now()))
    }
}
