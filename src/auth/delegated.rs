//! User-delegated tokens: device code to sign in once, refresh tokens from then on.
//!
//! The Partner Center referrals API accepts only tokens issued for a user (App+User). A
//! service signs a user in once with the [`DeviceCodeFlow`], stores the refresh token, and from
//! then on gets access tokens from a [`RefreshTokenProvider`]. Entra ID may rotate the refresh
//! token on each use; every new one is handed to a [`RefreshTokenSink`] so it can be stored.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::entra::EntraAuthority;
use super::env::{AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, COSELL_PARTNER_CENTER_REFRESH_TOKEN, Env};
use super::token_endpoint::{RotatingRefreshToken, TokenResponse, post_form};
use super::{AccessToken, TokenProvider};
use crate::error::{AuthError, Error, Result};
use crate::http::Pipeline;

/// Which form of token request the endpoint takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DelegatedScope {
    /// The v2 endpoint with a `scope` (for example
    /// `https://api.partner.microsoft.com/.default offline_access`).
    V2 {
        /// Space-separated scopes.
        scope: String,
    },
    /// The v1 endpoint with a `resource` (for example `https://api.partner.microsoft.com`), the
    /// form Partner Center's documentation shows.
    V1 {
        /// The resource URI.
        resource: String,
    },
}

impl DelegatedScope {
    /// The v2 form. `offline_access` is added when missing, so that a refresh token is issued.
    pub fn v2(scope: impl Into<String>) -> Self {
        let mut scope = scope.into();
        if !scope.split_whitespace().any(|s| s == "offline_access") {
            scope.push_str(" offline_access");
        }
        DelegatedScope::V2 { scope }
    }

    /// The v1 form.
    pub fn v1(resource: impl Into<String>) -> Self {
        DelegatedScope::V1 {
            resource: resource.into(),
        }
    }

    fn param(&self) -> (&'static str, &str) {
        match self {
            DelegatedScope::V2 { scope } => ("scope", scope),
            DelegatedScope::V1 { resource } => ("resource", resource),
        }
    }

    fn token_path<'a>(&self, tenant: &'a str) -> Vec<&'a str> {
        match self {
            DelegatedScope::V2 { .. } => vec![tenant, "oauth2", "v2.0", "token"],
            DelegatedScope::V1 { .. } => vec![tenant, "oauth2", "token"],
        }
    }
}

/// Receives each new refresh token, so it can be stored for the next start.
pub type RefreshTokenSink = Arc<dyn Fn(&SecretString) + Send + Sync>;

/// What a user must do to sign in: open `verification_uri` and enter `user_code`.
#[derive(Clone)]
pub struct DeviceCodePrompt {
    /// The code the user types.
    pub user_code: String,
    /// Where the user types it.
    pub verification_uri: String,
    /// The endpoint's ready-made instructions, when it sent some.
    pub message: Option<String>,
    /// How long the code stays valid.
    pub expires_in: Duration,
    /// How long to wait between polls.
    pub interval: Duration,
    device_code: SecretString,
}

impl fmt::Debug for DeviceCodePrompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCodePrompt")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// What a completed sign-in yields.
#[derive(Clone)]
pub struct DelegatedGrant {
    /// The first access token.
    pub access_token: AccessToken,
    /// The refresh token, to store and to build a [`RefreshTokenProvider`] from.
    pub refresh_token: Option<SecretString>,
}

impl fmt::Debug for DelegatedGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelegatedGrant")
            .field("access_token", &self.access_token)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

#[derive(Deserialize)]
struct DeviceCodeAnswer {
    device_code: SecretString,
    user_code: String,
    #[serde(alias = "verification_url")]
    verification_uri: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default, deserialize_with = "lenient_u64")]
    expires_in: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    interval: Option<u64>,
}

fn lenient_u64<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u64>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match value {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Signs a user in with the OAuth 2.0 device authorization grant.
///
/// ```no_run
/// use cosell::auth::{DelegatedScope, DeviceCodeFlow, EntraAuthority, RefreshTokenProvider};
///
/// # async fn sign_in() -> cosell::Result<()> {
/// let authority = EntraAuthority::public_cloud("contoso.onmicrosoft.com");
/// let scope = DelegatedScope::v1("https://api.partner.microsoft.com");
/// let flow = DeviceCodeFlow::new(authority.clone(), "app-client-id", scope.clone())?;
/// let grant = flow
///     .authorize(|prompt| println!("Open {} and enter {}", prompt.verification_uri, prompt.user_code))
///     .await?;
/// let provider =
///     RefreshTokenProvider::builder_from_grant(authority, "app-client-id", scope, &grant)?.build()?;
/// # let _ = provider; Ok(()) }
/// ```
#[derive(Debug)]
pub struct DeviceCodeFlow {
    authority: EntraAuthority,
    pipeline: Pipeline,
    client_id: String,
    scope: DelegatedScope,
}

impl DeviceCodeFlow {
    /// A device-code flow for a public client application.
    pub fn new(
        authority: EntraAuthority,
        client_id: impl Into<String>,
        scope: DelegatedScope,
    ) -> Result<Self> {
        Ok(DeviceCodeFlow {
            pipeline: authority.pipeline()?,
            authority,
            client_id: client_id.into(),
            scope,
        })
    }

    /// Asks for a device code; show the prompt to the user, then call [`wait`](Self::wait).
    pub async fn start(&self) -> Result<DeviceCodePrompt> {
        let tenant = self.authority.tenant().to_owned();
        let path: Vec<&str> = match self.scope {
            DelegatedScope::V2 { .. } => vec![&tenant, "oauth2", "v2.0", "devicecode"],
            DelegatedScope::V1 { .. } => vec![&tenant, "oauth2", "devicecode"],
        };
        let answer: DeviceCodeAnswer = post_form(
            &self.pipeline,
            &path,
            &[("client_id", &self.client_id), self.scope.param()],
            true,
        )
        .await?;
        Ok(DeviceCodePrompt {
            user_code: answer.user_code,
            verification_uri: answer.verification_uri,
            message: answer.message,
            expires_in: Duration::from_secs(answer.expires_in.unwrap_or(900)),
            interval: Duration::from_secs(answer.interval.unwrap_or(5).max(1)),
            device_code: answer.device_code,
        })
    }

    /// Polls the token endpoint until the user has signed in, declined, or the code expired.
    pub async fn wait(&self, prompt: &DeviceCodePrompt) -> Result<DelegatedGrant> {
        let tenant = self.authority.tenant().to_owned();
        let path = self.scope.token_path(&tenant);
        let (grant_type, code_param) = match self.scope {
            DelegatedScope::V2 { .. } => (
                "urn:ietf:params:oauth:grant-type:device_code",
                "device_code",
            ),
            DelegatedScope::V1 { .. } => ("device_code", "code"),
        };
        let started = self.authority.now();
        let expires =
            jiff::SignedDuration::try_from(prompt.expires_in).unwrap_or(jiff::SignedDuration::MAX);
        let mut interval = prompt.interval;
        loop {
            self.authority.sleeper_handle().sleep(interval).await;
            let result: Result<TokenResponse> = post_form(
                &self.pipeline,
                &path,
                &[
                    ("grant_type", grant_type),
                    ("client_id", &self.client_id),
                    (code_param, prompt.device_code.expose_secret()),
                ],
                true,
            )
            .await;
            match result {
                Ok(response) => {
                    return Ok(DelegatedGrant {
                        access_token: response.to_access_token(self.authority.now()),
                        refresh_token: response.refresh_token,
                    });
                }
                Err(error) => match error.code() {
                    Some("authorization_pending") => {}
                    Some("slow_down") => interval += Duration::from_secs(5),
                    _ => return Err(error),
                },
            }
            if self.authority.now().duration_since(started) >= expires {
                return Err(Error::from(AuthError {
                    code: Some("expired_token".to_owned()),
                    message: "the device code expired before the user signed in".to_owned(),
                    status: None,
                    request_id: None,
                }));
            }
        }
    }

    /// [`start`](Self::start), `show` the prompt, then [`wait`](Self::wait).
    pub async fn authorize(&self, show: impl FnOnce(&DeviceCodePrompt)) -> Result<DelegatedGrant> {
        let prompt = self.start().await?;
        show(&prompt);
        self.wait(&prompt).await
    }
}

/// Access tokens from a stored refresh token; rotated refresh tokens go to a sink. Built with
/// [`RefreshTokenProvider::builder`] (or [`builder_from_grant`](Self::builder_from_grant),
/// [`builder_from_env`](Self::builder_from_env)).
///
/// It fetches a token on every call; the client builders wrap it in a
/// [`CachedTokenProvider`](super::CachedTokenProvider).
///
/// ```no_run
/// use std::sync::Arc;
/// use cosell::auth::{DelegatedScope, EntraAuthority, RefreshTokenProvider};
/// use secrecy::ExposeSecret;
///
/// # fn build(stored: String) -> cosell::Result<()> {
/// let provider = RefreshTokenProvider::builder(
///     EntraAuthority::public_cloud("contoso.onmicrosoft.com"),
///     "app-client-id",
///     DelegatedScope::v1("https://api.partner.microsoft.com"),
///     stored.into(),
/// )
/// .on_rotate(Arc::new(|new_token| {
///     // Store it: the old one may stop working.
///     let _ = new_token.expose_secret();
/// }))
/// .build()?;
/// // The client caches the provider's tokens.
/// let pc = cosell::partner_center::PartnerCenter::builder(provider).build()?;
/// # let _ = pc; Ok(()) }
/// ```
pub struct RefreshTokenProvider {
    authority: EntraAuthority,
    pipeline: Pipeline,
    scope: DelegatedScope,
    refresh_token: RotatingRefreshToken,
}

impl fmt::Debug for RefreshTokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenProvider")
            .field("authority", &self.authority)
            .field("client_id", &self.refresh_token.client_id())
            .field("scope", &self.scope)
            .field("refresh_token", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Builds a [`RefreshTokenProvider`]; see [`RefreshTokenProvider::builder`].
#[derive(Debug)]
#[must_use]
pub struct RefreshTokenProviderBuilder {
    authority: EntraAuthority,
    scope: DelegatedScope,
    refresh_token: RotatingRefreshToken,
}

impl RefreshTokenProvider {
    /// Starts building a provider from a stored refresh token of the public or confidential
    /// client application `client_id`.
    pub fn builder(
        authority: EntraAuthority,
        client_id: impl Into<String>,
        scope: DelegatedScope,
        refresh_token: SecretString,
    ) -> RefreshTokenProviderBuilder {
        RefreshTokenProviderBuilder {
            authority,
            scope,
            refresh_token: RotatingRefreshToken::new(client_id.into(), refresh_token),
        }
    }

    /// Starts building a provider that continues from a completed sign-in.
    ///
    /// # Errors
    /// [`Error::Auth`] when the sign-in returned no refresh token.
    pub fn builder_from_grant(
        authority: EntraAuthority,
        client_id: impl Into<String>,
        scope: DelegatedScope,
        grant: &DelegatedGrant,
    ) -> Result<RefreshTokenProviderBuilder> {
        let refresh = grant.refresh_token.clone().ok_or_else(|| {
            Error::from(AuthError {
                code: None,
                message: "the sign-in returned no refresh token (is offline_access granted?)"
                    .to_owned(),
                status: None,
                request_id: None,
            })
        })?;
        Ok(Self::builder(authority, client_id, scope, refresh))
    }

    /// Starts building the provider for the Partner Center referrals API's user from
    /// [`AZURE_TENANT_ID`](super::env::AZURE_TENANT_ID), [`AZURE_CLIENT_ID`] and
    /// [`COSELL_PARTNER_CENTER_REFRESH_TOKEN`], with [`AZURE_CLIENT_SECRET`] when the app is
    /// confidential.
    ///
    /// ```
    /// use cosell::auth::{DelegatedScope, Env, RefreshTokenProvider};
    /// let env = Env::from_pairs([("AZURE_TENANT_ID", "contoso"), ("AZURE_CLIENT_ID", "app")]);
    /// let err = RefreshTokenProvider::builder_from_env(&env, DelegatedScope::v1("https://api.partner.microsoft.com"))
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("COSELL_PARTNER_CENTER_REFRESH_TOKEN"));
    /// ```
    ///
    /// # Errors
    /// [`Error::Env`] naming a missing or malformed variable.
    pub fn builder_from_env(
        env: &Env,
        scope: DelegatedScope,
    ) -> Result<RefreshTokenProviderBuilder> {
        let builder = RefreshTokenProvider::builder(
            EntraAuthority::from_env(env)?,
            env.required(AZURE_CLIENT_ID)?,
            scope,
            env.secret(COSELL_PARTNER_CENTER_REFRESH_TOKEN)?,
        );
        Ok(match env.optional(AZURE_CLIENT_SECRET)? {
            Some(secret) => builder.client_secret(secret.into()),
            None => builder,
        })
    }
}

impl RefreshTokenProviderBuilder {
    /// The client secret, for confidential client applications.
    pub fn client_secret(mut self, secret: SecretString) -> Self {
        self.refresh_token.set_client_secret(secret);
        self
    }

    /// Where rotated refresh tokens go (store them: the old one may stop working).
    pub fn on_rotate(mut self, sink: RefreshTokenSink) -> Self {
        self.refresh_token.set_sink(sink);
        self
    }

    /// Builds the provider.
    ///
    /// # Errors
    /// [`Error::Config`] if the HTTP client for the token endpoint cannot be built.
    pub fn build(self) -> Result<RefreshTokenProvider> {
        Ok(RefreshTokenProvider {
            pipeline: self.authority.pipeline()?,
            authority: self.authority,
            scope: self.scope,
            refresh_token: self.refresh_token,
        })
    }
}

#[async_trait]
impl TokenProvider for RefreshTokenProvider {
    async fn token(&self) -> Result<AccessToken> {
        let tenant = self.authority.tenant().to_owned();
        let response = self
            .refresh_token
            .redeem(
                &self.pipeline,
                &self.scope.token_path(&tenant),
                &[self.scope.param()],
            )
            .await?;
        Ok(response.to_access_token(self.authority.now()))
    }
}
