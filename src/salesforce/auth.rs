//! Salesforce OAuth 2.0 server-to-server flows against `<login host>/services/oauth2/token`.
//!
//! Each flow is a [`TokenProvider`] that asks for a new token on every call: wrap it in a
//! [`CachedTokenProvider`]. Salesforce answers with no
//! `expires_in` (a session lasts as long as the org's session timeout says), so a cached token is
//! used until the API rejects it with `401 INVALID_SESSION_ID`; the request pipeline then drops
//! it, fetches one fresh token and replays the request once. [`SalesforceLogin::session_lifetime`]
//! can also give tokens a known lifetime, so they are replaced before they run out.
//!
//! The token answer's `instance_url` becomes the API host (see
//! [`AccessToken::instance_url`]); it is checked like any base URL (`https` only).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::auth::token_endpoint::{RotatingRefreshToken, TokenResponse, post_form, token_pipeline};
use crate::auth::{
    AccessToken, CachedTokenProvider, Credentials, RefreshTokenSink, SalesforceCredentials,
    TokenProvider,
};
use crate::error::{AuthError, Error, Result};
use crate::http::{ClientOptions, Clock, Pipeline, RetryPolicy, Sleeper, validate_base_url};

const TOKEN_PATH: [&str; 3] = ["services", "oauth2", "token"];
const PRODUCTION: &str = "https://login.salesforce.com/";
const SANDBOX: &str = "https://test.salesforce.com/";

/// Where Salesforce tokens come from: `login.salesforce.com`, `test.salesforce.com`, or the
/// org's My Domain (`https://MyDomainName.my.salesforce.com`, which the client-credentials flow
/// needs), plus the clock, retries and an optional session lifetime.
///
/// ```
/// use cosell::salesforce::SalesforceLogin;
///
/// let production = SalesforceLogin::production();
/// let my_domain = SalesforceLogin::new("https://contoso.my.salesforce.com").unwrap();
/// assert!(SalesforceLogin::new("http://contoso.my.salesforce.com").is_err());
/// # let _ = (production, my_domain);
/// ```
#[derive(Clone)]
pub struct SalesforceLogin {
    /// Checked by `validate_base_url` (or one of the two constants), with a trailing `/`.
    url: String,
    options: ClientOptions,
    session_lifetime: Option<Duration>,
}

impl fmt::Debug for SalesforceLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceLogin")
            .field("url", &self.url)
            .field("session_lifetime", &self.session_lifetime)
            .finish_non_exhaustive()
    }
}

impl SalesforceLogin {
    /// Production and Developer Edition orgs: `https://login.salesforce.com`.
    pub fn production() -> Self {
        Self::at(PRODUCTION)
    }

    /// Sandboxes: `https://test.salesforce.com`.
    pub fn sandbox() -> Self {
        Self::at(SANDBOX)
    }

    /// Another login host: the org's My Domain, an Experience Cloud site, or a test server.
    ///
    /// # Errors
    /// [`Error::Config`] when `url` is not an `https` URL (plain `http` only to loopback).
    pub fn new(url: &str) -> Result<Self> {
        let url = validate_base_url(url)?;
        Ok(SalesforceLogin {
            url: url.to_string(),
            ..Self::production()
        })
    }

    fn at(url: &'static str) -> Self {
        SalesforceLogin {
            url: url.to_owned(),
            options: ClientOptions::default(),
            session_lifetime: None,
        }
    }

    /// The clock used for JWT expiry and token lifetimes.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.options = self.options.clock(clock);
        self
    }

    /// What waits between retries.
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

    /// Treats each token as expiring this long after its `issued_at` (the org's session
    /// timeout), so that a cache replaces it in time. Without it a token is kept until a 401.
    pub fn session_lifetime(mut self, lifetime: Duration) -> Self {
        self.session_lifetime = Some(lifetime);
        self
    }

    /// The login host URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn pipeline(&self) -> Result<Pipeline> {
        token_pipeline(&self.url, &self.options)
    }

    fn now(&self) -> Timestamp {
        self.options.clock_or_system().now()
    }

    /// The default JWT audience for this login host: the sandbox login for sandboxes, the
    /// production login otherwise.
    fn default_audience(&self) -> String {
        let host = url::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_default();
        if host == "test.salesforce.com" || host.ends_with(".sandbox.my.salesforce.com") {
            SANDBOX.trim_end_matches('/').to_owned()
        } else {
            PRODUCTION.trim_end_matches('/').to_owned()
        }
    }

    fn to_token(&self, response: &TokenResponse) -> Result<AccessToken> {
        let now = self.now();
        let mut token = response.to_access_token(now);
        if let Some(instance) = token.instance_url() {
            validate_base_url(instance)
                .map_err(|e| auth_error(format!("the token's instance_url is not usable: {e}")))?;
        }
        if token.expires_at().is_none()
            && let Some(lifetime) = self.session_lifetime
        {
            let issued = issued_at(&token).unwrap_or(now);
            let lifetime =
                jiff::SignedDuration::try_from(lifetime).unwrap_or(jiff::SignedDuration::MAX);
            if let Ok(at) = issued.checked_add(lifetime) {
                token = token.with_expiry(at);
            }
        }
        Ok(token)
    }
}

/// When Salesforce issued `token`, from its `issued_at` (a string of milliseconds since the
/// epoch, although documented as seconds: both are read).
///
/// ```
/// use cosell::auth::AccessToken;
/// let token = AccessToken::bearer("x").with_extra("issued_at", "1708058728442");
/// let at = cosell::salesforce::issued_at(&token).unwrap();
/// assert_eq!(at.to_string(), "2024-02-16T04:45:28.442Z");
/// ```
pub fn issued_at(token: &AccessToken) -> Option<Timestamp> {
    let text = token.extra("issued_at")?.trim();
    let number: i64 = text.parse().ok()?;
    // Ten digits of seconds reach the year 2286; anything longer is milliseconds.
    if text.trim_start_matches('-').len() > 11 {
        Timestamp::from_millisecond(number).ok()
    } else {
        Timestamp::from_second(number).ok()
    }
}

fn auth_error(message: String) -> Error {
    Error::from(AuthError {
        code: None,
        message,
        status: None,
        request_id: None,
    })
}

/// The client-credentials flow: a connected (or external client) app's key and secret, run as
/// the app's configured execution user. Send it to the org's My Domain.
///
/// ```no_run
/// use cosell::salesforce::{Salesforce, ClientCredentialsFlow, SalesforceLogin};
///
/// # fn build() -> cosell::Result<()> {
/// let flow = ClientCredentialsFlow::new(
///     SalesforceLogin::new("https://contoso.my.salesforce.com")?,
///     "3MVG9…consumer-key",
///     std::env::var("SALESFORCE_CLIENT_SECRET").unwrap_or_default().into(),
/// )?;
/// // The client caches the flow's tokens.
/// let sf = Salesforce::builder(flow).build()?;
/// # let _ = sf; Ok(()) }
/// ```
pub struct ClientCredentialsFlow {
    login: SalesforceLogin,
    pipeline: Pipeline,
    client_id: String,
    secret: SecretString,
}

impl fmt::Debug for ClientCredentialsFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentialsFlow")
            .field("login", &self.login)
            .field("client_id", &self.client_id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl ClientCredentialsFlow {
    /// The flow for the app with this consumer key and secret.
    pub fn new(
        login: SalesforceLogin,
        client_id: impl Into<String>,
        secret: SecretString,
    ) -> Result<Self> {
        Ok(ClientCredentialsFlow {
            pipeline: login.pipeline()?,
            login,
            client_id: client_id.into(),
            secret,
        })
    }
}

#[async_trait]
impl TokenProvider for ClientCredentialsFlow {
    async fn token(&self) -> Result<AccessToken> {
        let response: TokenResponse = post_form(
            &self.pipeline,
            &TOKEN_PATH,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &self.client_id),
                ("client_secret", self.secret.expose_secret()),
            ],
            true,
        )
        .await?;
        self.login.to_token(&response)
    }
}

#[derive(Serialize)]
struct JwtClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
}

/// The JWT bearer flow: an assertion signed (RS256) with the private key whose certificate is
/// uploaded to the connected app, for a user who has approved the app (or whose profile is
/// pre-authorized). No client secret, no refresh token.
///
/// The assertion's `exp` is three minutes after the clock's now (configurable).
///
/// ```no_run
/// use cosell::salesforce::{Salesforce, JwtBearerFlow, SalesforceLogin};
///
/// # fn build() -> cosell::Result<()> {
/// let pem = std::fs::read_to_string("server.key").unwrap_or_default();
/// let flow = JwtBearerFlow::builder(
///     SalesforceLogin::production(),
///     "3MVG9…consumer-key",
///     "integration@contoso.com",
///     pem.into(),
/// )
/// .build()?;
/// // The client caches the flow's tokens.
/// let sf = Salesforce::builder(flow).build()?;
/// # let _ = sf; Ok(()) }
/// ```
pub struct JwtBearerFlow {
    login: SalesforceLogin,
    pipeline: Pipeline,
    consumer_key: String,
    username: String,
    audience: String,
    assertion_lifetime: Duration,
    key: jsonwebtoken::EncodingKey,
}

impl fmt::Debug for JwtBearerFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtBearerFlow")
            .field("login", &self.login)
            .field("consumer_key", &self.consumer_key)
            .field("username", &self.username)
            .field("audience", &self.audience)
            .field("key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Builds a [`JwtBearerFlow`]; see [`JwtBearerFlow::builder`]. Its `Debug` shows no key.
#[derive(Debug)]
#[must_use]
pub struct JwtBearerFlowBuilder {
    login: SalesforceLogin,
    consumer_key: String,
    username: String,
    private_key_pem: SecretString,
    audience: Option<String>,
    assertion_lifetime: Duration,
}

impl JwtBearerFlow {
    /// Starts building the flow for `username` through the app with `consumer_key`, signing
    /// with the RSA private key in `private_key_pem` (PKCS#1 or PKCS#8 PEM).
    pub fn builder(
        login: SalesforceLogin,
        consumer_key: impl Into<String>,
        username: impl Into<String>,
        private_key_pem: SecretString,
    ) -> JwtBearerFlowBuilder {
        JwtBearerFlowBuilder {
            login,
            consumer_key: consumer_key.into(),
            username: username.into(),
            private_key_pem,
            audience: None,
            assertion_lifetime: Duration::from_secs(180),
        }
    }
}

impl JwtBearerFlowBuilder {
    /// The `aud` claim: by default `https://login.salesforce.com`, or
    /// `https://test.salesforce.com` for a sandbox login host; an Experience Cloud site URL for
    /// community users.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// How far ahead of now the assertion's `exp` lies (three minutes by default).
    pub fn assertion_lifetime(mut self, lifetime: Duration) -> Self {
        self.assertion_lifetime = lifetime;
        self
    }

    /// Builds the flow.
    ///
    /// # Errors
    /// [`Error::Config`] when the key is not an RSA private key in PEM form.
    pub fn build(self) -> Result<JwtBearerFlow> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(
            self.private_key_pem.expose_secret().as_bytes(),
        )
        .map_err(|_| Error::config("the JWT signing key is not an RSA private key in PEM form"))?;
        Ok(JwtBearerFlow {
            pipeline: self.login.pipeline()?,
            audience: self
                .audience
                .unwrap_or_else(|| self.login.default_audience()),
            login: self.login,
            consumer_key: self.consumer_key,
            username: self.username,
            assertion_lifetime: self.assertion_lifetime,
            key,
        })
    }
}

impl JwtBearerFlow {
    /// A signed assertion for now.
    fn assertion(&self) -> Result<String> {
        let lifetime = i64::try_from(self.assertion_lifetime.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = JwtClaims {
            iss: &self.consumer_key,
            sub: &self.username,
            aud: &self.audience,
            exp: self.login.now().as_second().saturating_add(lifetime),
        };
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| auth_error(format!("could not sign the JWT assertion: {e}")))
    }
}

#[async_trait]
impl TokenProvider for JwtBearerFlow {
    async fn token(&self) -> Result<AccessToken> {
        let assertion = self.assertion()?;
        let response: TokenResponse = post_form(
            &self.pipeline,
            &TOKEN_PATH,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &assertion),
            ],
            true,
        )
        .await?;
        self.login.to_token(&response)
    }
}

/// The refresh-token flow: a refresh token from an interactive sign-in (web server or
/// user-agent flow) exchanged for access tokens. A rotated refresh token goes to the sink set
/// with [`on_rotate`](RefreshTokenFlowBuilder::on_rotate).
///
/// ```no_run
/// use cosell::salesforce::{Salesforce, RefreshTokenFlow, SalesforceLogin};
///
/// # fn build(stored: String) -> cosell::Result<()> {
/// let flow = RefreshTokenFlow::builder(SalesforceLogin::production(), "3MVG9…consumer-key", stored.into())
///     .client_secret(std::env::var("SALESFORCE_CLIENT_SECRET").unwrap_or_default().into())
///     .build()?;
/// // The client caches the flow's tokens.
/// let sf = Salesforce::builder(flow).build()?;
/// # let _ = sf; Ok(()) }
/// ```
pub struct RefreshTokenFlow {
    login: SalesforceLogin,
    pipeline: Pipeline,
    refresh_token: RotatingRefreshToken,
}

impl fmt::Debug for RefreshTokenFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenFlow")
            .field("login", &self.login)
            .field("client_id", &self.refresh_token.client_id())
            .field("refresh_token", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Builds a [`RefreshTokenFlow`]; see [`RefreshTokenFlow::builder`].
#[derive(Debug)]
#[must_use]
pub struct RefreshTokenFlowBuilder {
    login: SalesforceLogin,
    refresh_token: RotatingRefreshToken,
}

impl RefreshTokenFlow {
    /// Starts building the flow from a stored refresh token of the app with `client_id`.
    pub fn builder(
        login: SalesforceLogin,
        client_id: impl Into<String>,
        refresh_token: SecretString,
    ) -> RefreshTokenFlowBuilder {
        RefreshTokenFlowBuilder {
            login,
            refresh_token: RotatingRefreshToken::new(client_id.into(), refresh_token),
        }
    }
}

impl RefreshTokenFlowBuilder {
    /// The consumer secret, for apps that require it with refresh tokens.
    pub fn client_secret(mut self, secret: SecretString) -> Self {
        self.refresh_token.set_client_secret(secret);
        self
    }

    /// Where a rotated refresh token goes (store it: the old one may stop working).
    pub fn on_rotate(mut self, sink: RefreshTokenSink) -> Self {
        self.refresh_token.set_sink(sink);
        self
    }

    /// Builds the flow.
    ///
    /// # Errors
    /// [`Error::Config`] if the HTTP client for the token endpoint cannot be built.
    pub fn build(self) -> Result<RefreshTokenFlow> {
        Ok(RefreshTokenFlow {
            pipeline: self.login.pipeline()?,
            login: self.login,
            refresh_token: self.refresh_token,
        })
    }
}

#[async_trait]
impl TokenProvider for RefreshTokenFlow {
    async fn token(&self) -> Result<AccessToken> {
        let response = self
            .refresh_token
            .redeem(&self.pipeline, &TOKEN_PATH, &[])
            .await?;
        self.login.to_token(&response)
    }
}

impl Credentials for ClientCredentialsFlow {
    fn into_token_provider(self) -> Arc<dyn TokenProvider> {
        Arc::new(CachedTokenProvider::new(self))
    }
}

impl Credentials for JwtBearerFlow {
    fn into_token_provider(self) -> Arc<dyn TokenProvider> {
        Arc::new(CachedTokenProvider::new(self))
    }
}

impl Credentials for RefreshTokenFlow {
    fn into_token_provider(self) -> Arc<dyn TokenProvider> {
        Arc::new(CachedTokenProvider::new(self))
    }
}

impl SalesforceCredentials for ClientCredentialsFlow {}
impl SalesforceCredentials for JwtBearerFlow {}
impl SalesforceCredentials for RefreshTokenFlow {}
