//! The Dataverse client, its builder, and per-client write defaults (origin marking).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use http::Method;
use uuid::Uuid;

use super::profile::DataverseProfile;
use super::table::Table;
use crate::auth::env::{COSELL_DATAVERSE_URL, malformed};
use crate::auth::{ClientCredentials, EntraCredentials, Env, TokenProvider};
use crate::error::{Error, Result};
use crate::http::{
    AnswerLimits, ClientOptions, Clock, Pipeline, RequestBuilder, RetryPolicy, Sleeper, Timeouts,
};

/// The header that keeps a write from triggering Power Automate flows.
pub const SUPPRESS_FLOWS_HEADER: &str = "MSCRM.SuppressCallbackRegistrationExpanderJob";

/// The Web API version this client speaks.
pub const API_VERSION: &str = "v9.2";

/// A client of one Dataverse environment's Web API. Cheap to clone.
///
/// Every request carries the OData headers (`Accept: application/json`, `OData-MaxVersion: 4.0`,
/// `OData-Version: 4.0`, `If-None-Match: null`); writes carry the origin marking configured with
/// [`DataverseBuilder::origin_tag`] and [`DataverseBuilder::suppress_flows`] unless a call says
/// otherwise ([`Table::tag`], [`Table::suppress_flows`]).
///
/// ```no_run
/// use cosell::auth::{ClientCredentials, EntraAuthority};
/// use cosell::dataverse::Dataverse;
///
/// # async fn run() -> cosell::Result<()> {
/// let credentials = ClientCredentials::new(
///     EntraAuthority::public_cloud("contoso.onmicrosoft.com"),
///     "client-id",
///     "client-secret".to_string().into(),
///     Dataverse::scope_for_org("contoso")?,
/// )?;
/// let dataverse = Dataverse::for_org("contoso", credentials)
///     .origin_tag("cosell")
///     .build()?;
/// let whoami: serde_json::Value = dataverse.pipeline().get(["WhoAmI"]).send_json().await?;
/// # let _ = whoami; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Dataverse {
    pipeline: Pipeline,
    defaults: WriteOptions,
    pub(crate) currencies: Arc<Mutex<HashMap<String, Uuid>>>,
}

/// How writes are marked: the origin `tag` query parameter (seen by plug-ins as
/// `SharedVariables["tag"]`) and whether Power Automate flows are suppressed.
///
/// ```
/// use cosell::dataverse::WriteOptions;
///
/// let options = WriteOptions::default().tag("cosell").suppress_flows(true);
/// assert_eq!(options.origin_tag(), Some("cosell"));
/// assert!(options.flows_suppressed());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    tag: Option<String>,
    suppress_flows: bool,
}

impl WriteOptions {
    /// Sends `?tag=<tag>` with every write.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// Sends no `tag`.
    pub fn no_tag(mut self) -> Self {
        self.tag = None;
        self
    }

    /// Sends `MSCRM.SuppressCallbackRegistrationExpanderJob: true` with every write, so the write
    /// does not trigger flows.
    pub fn suppress_flows(mut self, suppress: bool) -> Self {
        self.suppress_flows = suppress;
        self
    }

    /// The origin tag, if any.
    pub fn origin_tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// Whether flows are suppressed.
    pub fn flows_suppressed(&self) -> bool {
        self.suppress_flows
    }

    /// Adds the marking to a write request.
    pub(crate) fn apply(&self, mut request: RequestBuilder) -> RequestBuilder {
        if let Some(tag) = &self.tag {
            request = request.query("tag", tag.as_str());
        }
        if self.suppress_flows {
            request = request.header(SUPPRESS_FLOWS_HEADER, "true");
        }
        request
    }
}

/// Builds a [`Dataverse`] client; see [`Dataverse::builder`] and [`Dataverse::for_org`].
#[derive(Debug)]
#[must_use]
pub struct DataverseBuilder {
    base_url: Option<Result<String>>,
    token: Arc<dyn TokenProvider>,
    options: ClientOptions,
    defaults: WriteOptions,
}

impl Dataverse {
    /// Starts building a client that signs in with `credentials` (app-only or app + user; their
    /// tokens are cached). Name the environment with [`base_url`](DataverseBuilder::base_url),
    /// which is required, or start from [`Dataverse::for_org`].
    ///
    /// ```
    /// use cosell::auth::StaticToken;
    /// use cosell::dataverse::Dataverse;
    ///
    /// let dataverse = Dataverse::builder(StaticToken::new("token"))
    ///     .base_url("https://contoso.crm4.dynamics.com")
    ///     .build()?;
    /// assert_eq!(
    ///     dataverse.pipeline().base_url().unwrap().as_str(),
    ///     "https://contoso.crm4.dynamics.com/api/data/v9.2/"
    /// );
    ///
    /// let err = Dataverse::builder(StaticToken::new("token")).build().unwrap_err();
    /// assert!(err.to_string().contains("base_url"), "{err}");
    /// # Ok::<(), cosell::Error>(())
    /// ```
    pub fn builder(credentials: impl EntraCredentials) -> DataverseBuilder {
        DataverseBuilder {
            base_url: None,
            token: credentials.into_token_provider(),
            options: ClientOptions::default(),
            defaults: WriteOptions::default(),
        }
    }

    /// Starts building a client for
    /// [`COSELL_DATAVERSE_URL`] (the environment's URL,
    /// or its Web API base URL) with app-only credentials from the environment
    /// ([`ClientCredentials::from_env`] for the environment's scope, cached).
    ///
    /// ```
    /// use cosell::auth::Env;
    /// use cosell::dataverse::Dataverse;
    ///
    /// let env = Env::from_pairs([
    ///     ("COSELL_DATAVERSE_URL", "https://contoso.crm4.dynamics.com"),
    ///     ("AZURE_TENANT_ID", "contoso.onmicrosoft.com"),
    ///     ("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001"),
    ///     ("AZURE_CLIENT_SECRET", "secret"),
    /// ]);
    /// let dataverse = Dataverse::builder_from_env(&env)?.build()?;
    /// assert_eq!(
    ///     dataverse.pipeline().base_url().unwrap().as_str(),
    ///     "https://contoso.crm4.dynamics.com/api/data/v9.2/"
    /// );
    /// # Ok::<(), cosell::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Env`] naming a missing or malformed variable.
    pub fn builder_from_env(env: &Env) -> Result<DataverseBuilder> {
        let base_url = web_api_url(env.required_url(COSELL_DATAVERSE_URL)?);
        let scope = Dataverse::scope_for_url(&base_url)
            .map_err(|e| malformed(COSELL_DATAVERSE_URL, &e.to_string()))?;
        let credentials = ClientCredentials::from_env(env, scope)?;
        Ok(Dataverse::builder(credentials).base_url(base_url))
    }

    /// Starts building a client for the North America environment `org`
    /// (`https://<org>.crm.dynamics.com`): [`Dataverse::builder`] with that
    /// [`base_url`](DataverseBuilder::base_url). Other regions name their URL.
    ///
    /// ```
    /// use cosell::auth::StaticToken;
    /// use cosell::dataverse::Dataverse;
    ///
    /// let token = StaticToken::new("token");
    /// let dataverse = Dataverse::for_org("contoso", token.clone()).build().unwrap();
    /// assert_eq!(
    ///     dataverse.pipeline().base_url().unwrap().as_str(),
    ///     "https://contoso.crm.dynamics.com/api/data/v9.2/"
    /// );
    /// assert!(Dataverse::for_org("evil.com/x", token).build().is_err());
    /// ```
    pub fn for_org(org: &str, credentials: impl EntraCredentials) -> DataverseBuilder {
        let mut builder = Dataverse::builder(credentials);
        builder.base_url =
            Some(check_org(org).map(|org| web_api_url(format!("https://{org}.crm.dynamics.com"))));
        builder
    }

    /// The Entra ID scope for the North America environment `org`:
    /// `https://<org>.crm.dynamics.com/.default`.
    ///
    /// ```
    /// assert_eq!(
    ///     cosell::dataverse::Dataverse::scope_for_org("contoso").unwrap(),
    ///     "https://contoso.crm.dynamics.com/.default"
    /// );
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] when `org` is not a host name label.
    pub fn scope_for_org(org: &str) -> Result<String> {
        check_org(org).map(|org| format!("https://{org}.crm.dynamics.com/.default"))
    }

    /// The Entra ID scope for the environment serving `base_url`: its origin followed by
    /// `/.default`.
    ///
    /// ```
    /// assert_eq!(
    ///     cosell::dataverse::Dataverse::scope_for_url("https://contoso.crm4.dynamics.com/api/data/v9.2/").unwrap(),
    ///     "https://contoso.crm4.dynamics.com/.default"
    /// );
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] when `base_url` is not a usable URL.
    pub fn scope_for_url(base_url: &str) -> Result<String> {
        let url = crate::http::validate_base_url(base_url)?;
        Ok(format!("{}/.default", url.origin().ascii_serialization()))
    }

    /// The request pipeline, for calls this client does not wrap.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The write marking every call starts from.
    pub fn write_defaults(&self) -> &WriteOptions {
        &self.defaults
    }

    /// Operations on any table, addressed by its entity set name (`accounts`,
    /// `cosell_auditentries`).
    ///
    /// ```no_run
    /// # async fn run(dataverse: cosell::dataverse::Dataverse) -> cosell::Result<()> {
    /// let id = dataverse
    ///     .table("accounts")
    ///     .create(&serde_json::json!({"name": "Fabrikam"}))
    ///     .send()
    ///     .await?;
    /// # let _ = id; Ok(()) }
    /// ```
    pub fn table(&self, entity_set: impl Into<String>) -> Table<'_> {
        Table::new(self, entity_set.into(), self.defaults.clone())
    }

    /// Operations on the `opportunities` table; use them with
    /// [`Opportunity`](super::Opportunity) and [`OpportunityPatch`](super::OpportunityPatch).
    ///
    /// ```no_run
    /// use cosell::dataverse::Opportunity;
    ///
    /// # async fn run(dataverse: cosell::dataverse::Dataverse, id: uuid::Uuid) -> cosell::Result<()> {
    /// let opportunity: Opportunity = dataverse
    ///     .opportunities()
    ///     .retrieve(id)
    ///     .select(Opportunity::STANDARD_COLUMNS)
    ///     .send()
    ///     .await?;
    /// println!("{:?} {:?}", opportunity.name, opportunity.estimated_value);
    /// # Ok(()) }
    /// ```
    pub fn opportunities(&self) -> Table<'_> {
        self.table(super::opportunity::OPPORTUNITY_ENTITY_SET)
    }

    /// A request to `segment` below the base URL with the write marking applied.
    pub(crate) fn write_request(
        &self,
        method: Method,
        segment: &str,
        options: &WriteOptions,
    ) -> RequestBuilder {
        options.apply(self.pipeline.request(method, [segment]))
    }
}

/// The Web API base URL of an environment given by its URL or by that base URL.
fn web_api_url(url: String) -> String {
    if url.contains("/api/data/") {
        url
    } else {
        format!("{}/api/data/{API_VERSION}/", url.trim_end_matches('/'))
    }
}

fn check_org(org: &str) -> Result<&str> {
    let label = !org.is_empty()
        && org.len() <= 63
        && org.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !org.starts_with('-')
        && !org.ends_with('-');
    if label {
        Ok(org)
    } else {
        Err(Error::config(format!(
            "`{org}` is not a Dataverse environment name (one host name label)"
        )))
    }
}

impl DataverseBuilder {
    /// The environment: its URL (`https://contoso.crm4.dynamics.com`) or its Web API base URL
    /// (`https://contoso.crm4.dynamics.com/api/data/v9.2/`, as shown in Power Apps > Developer
    /// resources); `https`, or `http` on loopback. Required.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(Ok(web_api_url(url.into())));
        self
    }

    /// The retry policy (429 with `Retry-After`, 5xx, connection failures).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.options = self.options.retry_policy(policy);
        self
    }

    /// The clock (tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.options = self.options.clock(clock);
        self
    }

    /// What waits between attempts (tests: [`RecordingSleeper`](crate::http::RecordingSleeper)).
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

    /// Sends through this `reqwest` client.
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

    /// Marks every write with `?tag=<tag>` unless a call says otherwise.
    pub fn origin_tag(mut self, tag: impl Into<String>) -> Self {
        self.defaults = self.defaults.tag(tag);
        self
    }

    /// Suppresses Power Automate flows on every write unless a call says otherwise.
    pub fn suppress_flows(mut self, suppress: bool) -> Self {
        self.defaults = self.defaults.suppress_flows(suppress);
        self
    }

    /// The whole write marking at once.
    pub fn write_defaults(mut self, defaults: WriteOptions) -> Self {
        self.defaults = defaults;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`Error::Config`] for a missing or unusable base URL or environment name.
    pub fn build(self) -> Result<Dataverse> {
        let base_url = self.base_url.unwrap_or_else(|| {
            Err(Error::config(
                "the Dataverse client needs its environment: call `base_url(..)` on the builder \
                 (or start from `Dataverse::for_org`)",
            ))
        })?;
        let mut builder = Pipeline::builder(DataverseProfile)
            .base_url(&base_url)?
            .default_header("accept", "application/json")
            .default_header("odata-maxversion", "4.0")
            .default_header("odata-version", "4.0")
            // Defeats cached results of collection-valued expands.
            .default_header("if-none-match", "null");
        builder = builder.token_provider(self.token).options(self.options);
        Ok(Dataverse {
            pipeline: builder.build()?,
            defaults: self.defaults,
            currencies: Arc::default(),
        })
    }
}
