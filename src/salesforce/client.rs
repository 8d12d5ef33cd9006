//! The `Salesforce` client and its builder.

use std::fmt;
use std::sync::{Arc, Mutex};

use http::Method;

use super::auth::{ClientCredentialsFlow, JwtBearerFlow, RefreshTokenFlow, SalesforceLogin};
use super::limits::LimitInfo;
use super::profile::SalesforceProfile;
use crate::auth::env::{
    SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET, SALESFORCE_INSTANCE_URL, SALESFORCE_LOGIN_URL,
    SALESFORCE_PRIVATE_KEY, SALESFORCE_REFRESH_TOKEN, SALESFORCE_USERNAME, malformed,
};
use crate::auth::{
    Credentials, CustomCredentials, Env, SalesforceCredentials, TokenProvider, token_kind,
};
use crate::error::{Error, Result};
use crate::http::{
    AnswerLimits, ClientOptions, Clock, Pipeline, RequestBuilder, Response, RetryPolicy, Sleeper,
    Timeouts, lock, validate_base_url,
};

/// The API version used unless [`SalesforceBuilder::api_version`] says otherwise.
pub const DEFAULT_API_VERSION: &str = "62.0";

const CALL_OPTIONS: &str = "Sforce-Call-Options";
const LIMIT_INFO: &str = "sforce-limit-info";

/// A client of the Salesforce REST API (`<instance_url>/services/data/vNN.0/`): any sObject,
/// the typed [`Opportunity`](super::Opportunity), SOQL queries, upserts by external id and
/// sObject Collections. Cheap to clone; clones share the connection pool and the last seen
/// [`LimitInfo`].
///
/// ```no_run
/// use cosell::salesforce::{JwtBearerFlow, Salesforce, SalesforceLogin};
///
/// # fn build(pem: String) -> cosell::Result<()> {
/// let flow = JwtBearerFlow::builder(
///     SalesforceLogin::production(),
///     "3MVG9…consumer-key",
///     "integration@contoso.com",
///     pem.into(),
/// )
/// .build()?;
/// let salesforce = Salesforce::builder(flow)
///     .api_version("62.0")
///     .origin_client_id("cosell-sync")
///     .build()?;
/// # let _ = salesforce; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Salesforce {
    inner: Arc<Inner>,
}

struct Inner {
    pipeline: Pipeline,
    api_version: String,
    call_options: Option<String>,
    limits: Mutex<Option<LimitInfo>>,
}

impl fmt::Debug for Salesforce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Salesforce")
            .field("api_version", &self.inner.api_version)
            .field(
                "base_url",
                &self.inner.pipeline.base_url().map(|u| u.as_str()),
            )
            .field("call_options", &self.inner.call_options)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Salesforce`] client; see [`Salesforce::builder`].
#[must_use]
pub struct SalesforceBuilder {
    provider: Arc<dyn TokenProvider>,
    instance_url: Option<String>,
    api_version: String,
    origin_client_id: Option<String>,
    options: ClientOptions,
}

impl fmt::Debug for SalesforceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceBuilder")
            .field("instance_url", &self.instance_url)
            .field("api_version", &self.api_version)
            .field("origin_client_id", &self.origin_client_id)
            .finish_non_exhaustive()
    }
}

impl Salesforce {
    /// Starts building a client that signs in with `credentials` (a Salesforce flow, see
    /// [`SalesforceCredentials`]); their tokens are cached. By default requests go to each
    /// token's `instance_url`.
    pub fn builder(credentials: impl SalesforceCredentials) -> SalesforceBuilder {
        SalesforceBuilder {
            provider: credentials.into_token_provider(),
            instance_url: None,
            api_version: DEFAULT_API_VERSION.to_owned(),
            origin_client_id: None,
            options: ClientOptions::default(),
        }
    }

    /// Starts building a client with credentials from the environment, cached: the login host
    /// [`SALESFORCE_LOGIN_URL`] (production when unset)
    /// and the consumer key `SALESFORCE_CLIENT_ID`, then the first flow whose variables are set:
    /// JWT bearer (`SALESFORCE_PRIVATE_KEY`, `SALESFORCE_USERNAME`), refresh token
    /// (`SALESFORCE_REFRESH_TOKEN`, with `SALESFORCE_CLIENT_SECRET` when set), or client
    /// credentials (`SALESFORCE_CLIENT_SECRET`). Requests go to `SALESFORCE_INSTANCE_URL` when
    /// set, else to each token's instance.
    ///
    /// ```
    /// use cosell::auth::Env;
    /// use cosell::salesforce::Salesforce;
    ///
    /// let env = Env::from_pairs([
    ///     ("SALESFORCE_LOGIN_URL", "https://contoso.my.salesforce.com"),
    ///     ("SALESFORCE_CLIENT_ID", "consumer-key"),
    ///     ("SALESFORCE_CLIENT_SECRET", "consumer-secret"),
    /// ]);
    /// let sf = Salesforce::builder_from_env(&env)?.build()?;
    /// # let _ = sf;
    /// # Ok::<(), cosell::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Env`] naming a missing or malformed variable.
    pub fn builder_from_env(env: &Env) -> Result<SalesforceBuilder> {
        let login = match env.optional_url(SALESFORCE_LOGIN_URL)? {
            Some(url) => SalesforceLogin::new(&url)?,
            None => SalesforceLogin::production(),
        };
        let client_id = env.required(SALESFORCE_CLIENT_ID)?;
        let provider: Arc<dyn TokenProvider> =
            if let Some(key) = env.optional(SALESFORCE_PRIVATE_KEY)? {
                let username = env.required(SALESFORCE_USERNAME)?;
                let flow = JwtBearerFlow::builder(login, client_id, username, key.into())
                    .build()
                    .map_err(|_| {
                        malformed(SALESFORCE_PRIVATE_KEY, "it is not a PEM RSA private key")
                    })?;
                flow.into_token_provider()
            } else if let Some(refresh) = env.optional(SALESFORCE_REFRESH_TOKEN)? {
                let mut flow = RefreshTokenFlow::builder(login, client_id, refresh.into());
                if let Some(secret) = env.optional(SALESFORCE_CLIENT_SECRET)? {
                    flow = flow.client_secret(secret.into());
                }
                flow.build()?.into_token_provider()
            } else {
                let secret = env.secret(SALESFORCE_CLIENT_SECRET)?;
                ClientCredentialsFlow::new(login, client_id, secret)?.into_token_provider()
            };
        let builder = Salesforce::builder(CustomCredentials::<token_kind::Salesforce>::shared(
            provider,
        ));
        Ok(match env.optional_url(SALESFORCE_INSTANCE_URL)? {
            Some(url) => builder.instance_url(url),
            None => builder,
        })
    }

    /// The origin client id every write is marked with (`Sforce-Call-Options: client=…`), when
    /// one is configured.
    pub fn origin_client_id(&self) -> Option<&str> {
        self.inner
            .call_options
            .as_deref()
            .and_then(|options| options.strip_prefix("client="))
    }

    /// The API version, such as `62.0`.
    pub fn api_version(&self) -> &str {
        &self.inner.api_version
    }

    /// The request pipeline, for calls this client does not wrap (paths are below
    /// `services/data/vNN.0/`).
    pub fn pipeline(&self) -> &Pipeline {
        &self.inner.pipeline
    }

    /// The `Sforce-Limit-Info` of the last answer that carried one (query pages included): the
    /// org's API usage.
    pub fn last_limit_info(&self) -> Option<LimitInfo> {
        lock(&self.inner.limits).clone()
    }

    /// A read request below the versioned base.
    pub(crate) fn read<I, S>(&self, segments: I) -> RequestBuilder
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.inner.pipeline.get(segments)
    }

    /// A write request, marked with the origin client id when one is configured.
    pub(crate) fn write<I, S>(&self, method: Method, segments: I) -> RequestBuilder
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let request = self.inner.pipeline.request(method, segments);
        match &self.inner.call_options {
            Some(value) => request.header(CALL_OPTIONS, value),
            None => request,
        }
    }

    /// Sends and records the answer's limit information.
    pub(crate) async fn send(&self, request: RequestBuilder) -> Result<Response> {
        let response = request.send().await?;
        self.observe(&response);
        Ok(response)
    }

    pub(crate) fn observe(&self, response: &Response) {
        if let Some(header) = response.header(LIMIT_INFO) {
            *lock(&self.inner.limits) = Some(LimitInfo::parse(header));
        }
    }
}

impl SalesforceBuilder {
    /// Sends every request to this instance instead of each token's `instance_url`
    /// (`https://contoso.my.salesforce.com`; plain `http` only to loopback, for tests).
    pub fn instance_url(mut self, url: impl Into<String>) -> Self {
        self.instance_url = Some(url.into());
        self
    }

    /// The REST API version (`62.0`, or `v62.0`).
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    /// Marks every write with `Sforce-Call-Options: client=<id>`, which Change Data Capture
    /// reports back in `changeOrigin`, so a sync can recognise its own changes.
    pub fn origin_client_id(mut self, id: impl Into<String>) -> Self {
        self.origin_client_id = Some(id.into());
        self
    }

    /// The retry policy (`REQUEST_LIMIT_EXCEEDED` for concurrent requests, 5xx, connect errors).
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.options = self.options.retry_policy(retry);
        self
    }

    /// The clock (tests inject a manual one).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.options = self.options.clock(clock);
        self
    }

    /// What waits between retries (tests inject a recording one).
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.options = self.options.sleeper(sleeper);
        self
    }

    /// Tells `observer` of every request attempt and retry wait (for metrics).
    pub fn observer(mut self, observer: Arc<dyn crate::http::RequestObserver>) -> Self {
        self.options = self.options.observer(observer);
        self
    }

    /// Connection and answer time limits.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.options = self.options.timeouts(timeouts);
        self
    }

    /// Sends through this `reqwest` client (its redirect policy should be `none`).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.options = self.options.http_client(client);
        self
    }

    /// The largest answers read (see [`AnswerLimits`] for the defaults).
    pub fn answer_limits(mut self, limits: AnswerLimits) -> Self {
        self.options = self.options.answer_limits(limits);
        self
    }

    /// Every transport setting at once (shared by several clients).
    pub fn options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`Error::Config`] for an API version that is not `NN.N`, an unusable instance URL, or an
    /// origin client id that cannot be a header value.
    pub fn build(self) -> Result<Salesforce> {
        let version = self
            .api_version
            .trim()
            .trim_start_matches(['v', 'V'])
            .to_owned();
        let well_formed = version.split_once('.').is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.bytes().all(|b| b.is_ascii_digit())
                && minor.bytes().all(|b| b.is_ascii_digit())
        });
        if !well_formed {
            return Err(Error::config(format!(
                "API version `{}` is not of the form 62.0",
                self.api_version
            )));
        }
        let path = format!("services/data/v{version}/");
        let mut builder = Pipeline::builder(SalesforceProfile).token_provider(self.provider);
        builder = match &self.instance_url {
            Some(instance) => {
                let base = validate_base_url(instance)?;
                let url = base
                    .join(&path)
                    .map_err(|e| Error::config(format!("cannot join the API path: {e}")))?;
                builder.base_url(url.as_str())?
            }
            None => builder.base_from_token(path),
        };
        builder = builder.options(self.options);
        let call_options = match self.origin_client_id {
            Some(id) => {
                let value = format!("client={id}");
                let valid = !id.is_empty()
                    && !id.contains([',', ';', '='])
                    && http::HeaderValue::try_from(value.as_str()).is_ok();
                if !valid {
                    return Err(Error::config(format!(
                        "origin client id `{id}` cannot go into Sforce-Call-Options"
                    )));
                }
                Some(value)
            }
            None => None,
        };
        Ok(Salesforce {
            inner: Arc::new(Inner {
                pipeline: builder.build()?,
                api_version: version,
                call_options,
                limits: Mutex::new(None),
            }),
        })
    }
}
