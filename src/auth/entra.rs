//! Microsoft Entra ID: the authority and the client-credentials (app-only) flow.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use super::env::{
    AZURE_AUTHORITY_HOST, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_TENANT_ID, Env,
};
use super::token_endpoint::{TokenResponse, post_form, token_pipeline};
use super::{AccessToken, TokenProvider};
use crate::error::Result;
use crate::http::{ClientOptions, Clock, Pipeline, RetryPolicy, Sleeper};

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
    options: ClientOptions,
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
            options: ClientOptions::default(),
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
        self.options = self.options.clock(clock);
        self
    }

    /// What waits between polls and retries.
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.options = self.options.sleeper(sleeper);
        self
    }

    /// Retries of token requests.
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.options = self.options.retry_policy(retry);
        self
    }

    /// Every transport setting of token requests at once.
    pub fn options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// The tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    pub(crate) fn now(&self) -> jiff::Timestamp {
        self.options.clock_or_system().now()
    }

    pub(crate) fn pipeline(&self) -> Result<Pipeline> {
        token_pipeline(&self.authority, &self.options)
    }

    pub(crate) fn sleeper_handle(&self) -> Arc<dyn Sleeper> {
        self.options.sleeper_or_tokio()
    }
}

/// App-only tokens from Entra ID with a client secret (v2 endpoint, `<resource>/.default`).
///
/// Used for Dataverse and the Partner Center webhooks API, whose builders take it and cache its
/// tokens until shortly before they expire.
///
/// ```no_run
/// use cosell::auth::{ClientCredentials, EntraAuthority};
///
/// # fn build() -> cosell::Result<()> {
/// let credentials = ClientCredentials::new(
///     EntraAuthority::public_cloud("contoso.onmicrosoft.com"),
///     "00000000-0000-0000-0000-000000000001",
///     std::env::var("CLIENT_SECRET").unwrap_or_default().into(),
///     "https://contoso.crm.dynamics.com/.default",
/// )?;
/// // The client caches the credentials' tokens.
/// let dataverse = cosell::dataverse::Dataverse::for_org("contoso", credentials).build()?;
/// # let _ = dataverse; Ok(()) }
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

impl EntraAuthority {
    /// The authority for [`AZURE_TENANT_ID`], at
    /// [`AZURE_AUTHORITY_HOST`] when it is set.
    ///
    /// ```
    /// use cosell::auth::{EntraAuthority, Env};
    /// let authority = EntraAuthority::from_env(&Env::from_pairs([("AZURE_TENANT_ID", "contoso")]))?;
    /// assert_eq!(authority.tenant(), "contoso");
    /// # Ok::<(), cosell::Error>(())
    /// ```
    pub fn from_env(env: &Env) -> Result<Self> {
        let tenant = env.required(AZURE_TENANT_ID)?;
        match env.optional_url(AZURE_AUTHORITY_HOST)? {
            Some(host) => EntraAuthority::new(&host, tenant),
            None => Ok(EntraAuthority::public_cloud(tenant)),
        }
    }
}

impl ClientCredentials {
    /// App-only credentials for `scope` from [`AZURE_TENANT_ID`], [`AZURE_CLIENT_ID`] and
    /// [`AZURE_CLIENT_SECRET`] (and [`AZURE_AUTHORITY_HOST`]).
    ///
    /// ```
    /// use cosell::auth::{ClientCredentials, Env};
    /// let env = Env::from_pairs([("AZURE_TENANT_ID", "contoso"), ("AZURE_CLIENT_ID", "app")]);
    /// let err = ClientCredentials::from_env(&env, "https://contoso.crm.dynamics.com/.default")
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("AZURE_CLIENT_SECRET"));
    /// ```
    pub fn from_env(env: &Env, scope: impl Into<String>) -> Result<Self> {
        ClientCredentials::new(
            EntraAuthority::from_env(env)?,
            env.required(AZURE_CLIENT_ID)?,
            env.secret(AZURE_CLIENT_SECRET)?,
            scope,
        )
    }

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
