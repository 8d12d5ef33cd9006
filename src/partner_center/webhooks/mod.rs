//! The Partner Center webhooks API (`https://api.partnercenter.microsoft.com/webhooks/v1`):
//! **registering** the URL Partner Center sends events to, with [`WebhooksClient`].
//!
//! Two modules deal with webhooks, one for each side of a callback:
//!
//! | module | what it does | main type |
//! |---|---|---|
//! | `cosell::partner_center::webhooks` (this one) | tells Partner Center where to send events: an API client, built like the others | [`WebhooksClient`] |
//! | [`cosell::webhook`](crate::webhook) | receives the events: checks each callback's signature and reads it | [`WebhookVerifier`](crate::webhook::WebhookVerifier) |
//!
//! Both name events with the same [`EventName`].
//!
//! A partner tenant has **one** registration, and each event goes to one URL only: whoever
//! registers last receives the events. [`WebhooksClient::register`] therefore reads the
//! current registration first and takes over another URL's registration only when asked
//! ([`Overwrite::Replace`]); [`WebhooksClient::check_registration`] tells whether someone else
//! has since taken it.
//!
//! Requests carry `MS-CorrelationId` and `MS-RequestId` (the same on every retry of one call,
//! which the API documents as its idempotency key). Bodies are written in PascalCase and read
//! ignoring key case.
//!
//! ```no_run
//! use cosell::auth::{ClientCredentials, EntraAuthority};
//! use cosell::partner_center::webhooks::{Overwrite, WebhooksClient};
//! use cosell::webhook::EventName;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let credentials = ClientCredentials::new(
//!     EntraAuthority::public_cloud("contoso.onmicrosoft.com"),
//!     "client-id",
//!     "client-secret".to_string().into(),
//!     WebhooksClient::TOKEN_SCOPE,
//! )?;
//! let client = WebhooksClient::builder(credentials).build()?;
//! let outcome = client
//!     .register("https://hooks.contoso.example/pc", &EventName::REFERRAL_EVENTS, Overwrite::Refuse)
//!     .await?;
//! println!("{:?}: {:?}", outcome.action, outcome.after.webhook_url);
//! # Ok(()) }
//! ```

mod model;
mod register;

use std::sync::Arc;

use http::{HeaderName, StatusCode};
use serde_json::Value;

use crate::auth::env::COSELL_PARTNER_CENTER_WEBHOOKS_URL;
use crate::auth::{ClientCredentials, EntraCredentials, Env};
use crate::error::{Result, Service};
use crate::http::{
    AnswerLimits, ClientOptions, Clock, ErrorDetails, Pipeline, PipelineBuilder, RetryPolicy,
    ServiceProfile, Sleeper, Timeouts, parse_error_body,
};
use crate::webhook::decode_ignoring_case;

pub use crate::webhook::EventName;
pub use model::{
    ValidationAttempt, ValidationEvent, ValidationState, ValidationStatus, WebhookRegistration,
};
pub use register::{
    Overwrite, RegisterError, RegistrationAction, RegistrationHealth, RegistrationOutcome,
};

use model::{REGISTRATION_KEYS, VALIDATION_KEYS};

/// What is particular to the webhooks API: its headers and its flat error body
/// (`{"code", "description", …}`).
#[derive(Debug, Clone, Copy, Default)]
struct WebhooksProfile;

impl ServiceProfile for WebhooksProfile {
    fn service(&self) -> Service {
        Service::PartnerCenterWebhooks
    }

    fn correlation_header(&self) -> Option<HeaderName> {
        Some(HeaderName::from_static("ms-correlationid"))
    }

    fn idempotency_header(&self) -> Option<HeaderName> {
        Some(HeaderName::from_static("ms-requestid"))
    }

    fn parse_error(&self, body: &[u8]) -> ErrorDetails {
        let mut details = parse_error_body(body);
        if details.message.is_none() {
            details.message = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
                ["description", "Description"]
                    .iter()
                    .find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_owned))
            });
        }
        details
    }
}

/// A client of the Partner Center webhooks registration API. Cheap to clone.
///
/// ```no_run
/// use cosell::auth::StaticToken;
/// use cosell::partner_center::webhooks::WebhooksClient;
///
/// # async fn run() -> cosell::Result<()> {
/// let client = WebhooksClient::builder(StaticToken::new("token")).build()?;
/// for event in client.events().await? {
///     println!("{event}");
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct WebhooksClient {
    pipeline: Pipeline,
}

/// Builds a [`WebhooksClient`]; see [`WebhooksClient::builder`].
#[derive(Debug)]
#[must_use]
pub struct WebhooksClientBuilder {
    pipeline: PipelineBuilder,
    base_url: String,
}

impl WebhooksClientBuilder {
    /// Sends to another base URL (an emulator, a sovereign cloud); `https`, or `http` on
    /// loopback.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// The retry policy.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.pipeline = self.pipeline.retry_policy(policy);
        self
    }

    /// The clock used for deadlines and `Retry-After` dates.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.pipeline = self.pipeline.clock(clock);
        self
    }

    /// What waits between attempts.
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.pipeline = self.pipeline.sleeper(sleeper);
        self
    }

    /// Tells `observer` of every request attempt and retry wait (for metrics).
    pub fn observer(mut self, observer: Arc<dyn crate::http::RequestObserver>) -> Self {
        self.pipeline = self.pipeline.observer(observer);
        self
    }

    /// Connection and answer time limits.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.pipeline = self.pipeline.timeouts(timeouts);
        self
    }

    /// Sends through this `reqwest` client (its redirect policy should be `none`).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.pipeline = self.pipeline.http_client(client);
        self
    }

    /// The largest answers read (see [`AnswerLimits`] for the defaults).
    pub fn answer_limits(mut self, limits: AnswerLimits) -> Self {
        self.pipeline = self.pipeline.answer_limits(limits);
        self
    }

    /// Every transport setting at once (shared by several clients).
    pub fn options(mut self, options: ClientOptions) -> Self {
        self.pipeline = self.pipeline.options(options);
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) for an unusable base URL.
    pub fn build(self) -> Result<WebhooksClient> {
        let pipeline = self.pipeline.base_url(&self.base_url)?.build()?;
        Ok(WebhooksClient { pipeline })
    }
}

impl WebhooksClient {
    /// The API's base URL.
    pub const DEFAULT_BASE_URL: &'static str =
        "https://api.partnercenter.microsoft.com/webhooks/v1/";
    /// The OAuth scope of an app-only token for this API.
    pub const TOKEN_SCOPE: &'static str = "https://api.partnercenter.microsoft.com/.default";

    /// Starts building a client of the public API (another with
    /// [`base_url`](WebhooksClientBuilder::base_url)) that signs in with `credentials`,
    /// app-only or app + user (see [`EntraCredentials`]); their tokens are cached.
    ///
    /// ```
    /// use cosell::partner_center::webhooks::WebhooksClient;
    ///
    /// let client = WebhooksClient::builder(cosell::auth::StaticToken::new("token"))
    ///     .base_url("http://127.0.0.1:8080/webhooks/v1/")
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), cosell::Error>(())
    /// ```
    pub fn builder(credentials: impl EntraCredentials) -> WebhooksClientBuilder {
        WebhooksClientBuilder {
            pipeline: Pipeline::builder(WebhooksProfile)
                .token_provider(credentials.into_token_provider()),
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
        }
    }

    /// Starts building a client with app-only credentials from the environment
    /// ([`ClientCredentials::from_env`] for [`TOKEN_SCOPE`](Self::TOKEN_SCOPE), cached), sending
    /// to [`COSELL_PARTNER_CENTER_WEBHOOKS_URL`]
    /// when set.
    ///
    /// ```
    /// use cosell::auth::Env;
    /// use cosell::partner_center::webhooks::WebhooksClient;
    ///
    /// let env = Env::from_pairs([
    ///     ("AZURE_TENANT_ID", "contoso.onmicrosoft.com"),
    ///     ("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001"),
    ///     ("AZURE_CLIENT_SECRET", "secret"),
    /// ]);
    /// let client = WebhooksClient::builder_from_env(&env)?.build()?;
    /// # let _ = client;
    /// # Ok::<(), cosell::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Env`](crate::Error::Env) naming a missing or malformed variable.
    pub fn builder_from_env(env: &Env) -> Result<WebhooksClientBuilder> {
        let credentials = ClientCredentials::from_env(env, Self::TOKEN_SCOPE)?;
        let builder = Self::builder(credentials);
        Ok(
            match env.optional_url(COSELL_PARTNER_CENTER_WEBHOOKS_URL)? {
                Some(url) => builder.base_url(url),
                None => builder,
            },
        )
    }

    /// The event names the tenant may register (`GET /registration/events`).
    ///
    /// # Errors
    /// [`Error::Api`](crate::Error::Api) for a non-success answer,
    /// [`Error::Decode`](crate::Error::Decode) if the answer is not a list of names.
    ///
    /// ```no_run
    /// # async fn run(client: cosell::partner_center::webhooks::WebhooksClient) -> cosell::Result<()> {
    /// let events = client.events().await?;
    /// assert!(events.iter().any(|e| e.is_referral()));
    /// # Ok(()) }
    /// ```
    pub async fn events(&self) -> Result<Vec<EventName>> {
        let response = self
            .pipeline
            .get(["registration", "events"])
            .literal_path()
            .operation("webhooks.events")
            .send()
            .await?;
        // Documented as a bare array; a `{"value": [...]}` envelope is read too.
        let value: Value = response.json()?;
        let list = match &value {
            Value::Object(map) => map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("value") || k.eq_ignore_ascii_case("items"))
                .map_or(&Value::Null, |(_, v)| v),
            other => other,
        };
        serde_json::from_value(list.clone())
            .map_err(|e| response.decode_error(".", format!("expected a list of event names: {e}")))
    }

    /// The tenant's registration (`GET /registration`), or `None` when there is none.
    ///
    /// # Errors
    /// [`Error::Api`](crate::Error::Api) for a non-success answer other than 404,
    /// [`Error::Decode`](crate::Error::Decode) for an answer that is not a registration.
    ///
    /// ```no_run
    /// # async fn run(client: cosell::partner_center::webhooks::WebhooksClient) -> cosell::Result<()> {
    /// match client.registration().await? {
    ///     Some(r) => println!("{:?} gets {:?}", r.webhook_url, r.webhook_events),
    ///     None => println!("nothing registered"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn registration(&self) -> Result<Option<WebhookRegistration>> {
        let response = match self
            .pipeline
            .get(["registration"])
            .literal_path()
            .operation("webhooks.registration.get")
            .accept_status(StatusCode::NO_CONTENT)
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let body = response.body.trim_ascii();
        if body.is_empty() || body == b"null" {
            return Ok(None);
        }
        let registration: WebhookRegistration =
            decode_ignoring_case(body, REGISTRATION_KEYS).map_err(|e| response.annotate(e))?;
        Ok((!registration.is_empty()).then_some(registration))
    }

    /// Creates the tenant's registration (`POST /registration`). Fails when one exists: use
    /// [`update_registration`](Self::update_registration) or [`register`](Self::register).
    ///
    /// # Errors
    /// [`Error::Api`](crate::Error::Api) (a conflict when a registration exists).
    ///
    /// ```no_run
    /// use cosell::partner_center::webhooks::WebhookRegistration;
    /// use cosell::webhook::EventName;
    /// # async fn run(client: cosell::partner_center::webhooks::WebhooksClient) -> cosell::Result<()> {
    /// let created = client
    ///     .create_registration(&WebhookRegistration::new("https://hooks.contoso.example/pc", EventName::REFERRAL_EVENTS))
    ///     .await?;
    /// println!("subscriber {:?}", created.subscriber_id);
    /// # Ok(()) }
    /// ```
    pub async fn create_registration(
        &self,
        registration: &WebhookRegistration,
    ) -> Result<WebhookRegistration> {
        let request = self
            .pipeline
            .post(["registration"])
            .literal_path()
            .operation("webhooks.registration.create")
            .json(&registration.write_body())
            // MS-RequestId, the same on every attempt, is the API's idempotency key.
            .idempotent(true);
        self.send_registration(request).await
    }

    /// Replaces the tenant's registration (`PUT /registration`). Fields this crate does not
    /// model are sent back as read.
    ///
    /// # Errors
    /// [`Error::Api`](crate::Error::Api) for a non-success answer.
    ///
    /// ```no_run
    /// use cosell::webhook::EventName;
    /// # async fn run(client: cosell::partner_center::webhooks::WebhooksClient) -> cosell::Result<()> {
    /// if let Some(mut current) = client.registration().await? {
    ///     current.webhook_events.push(EventName::TestCreated);
    ///     client.update_registration(&current).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn update_registration(
        &self,
        registration: &WebhookRegistration,
    ) -> Result<WebhookRegistration> {
        let request = self
            .pipeline
            .put(["registration"])
            .literal_path()
            .operation("webhooks.registration.update")
            .json(&registration.write_body());
        self.send_registration(request).await
    }

    async fn send_registration(
        &self,
        request: crate::http::RequestBuilder,
    ) -> Result<WebhookRegistration> {
        let response = request.send().await?;
        decode_ignoring_case(&response.body, REGISTRATION_KEYS).map_err(|e| response.annotate(e))
    }

    /// Asks Partner Center to deliver a `test-created` event to the registered URL
    /// (`POST /registration/validationEvents`). The registration must include
    /// `test-created`; the API allows two of these a minute.
    ///
    /// # Errors
    /// [`Error::Api`](crate::Error::Api) for a non-success answer (rate limited beyond two a
    /// minute), [`Error::Decode`](crate::Error::Decode) without a correlation id.
    ///
    /// ```no_run
    /// # async fn run(client: cosell::partner_center::webhooks::WebhooksClient) -> cosell::Result<()> {
    /// let sent = client.send_validation_event().await?;
    /// let status = client.validation_event(&sent.correlation_id).await?;
    /// println!("delivered: {}", status.delivered());
    /// # Ok(()) }
    /// ```
    pub async fn send_validation_event(&self) -> Result<ValidationEvent> {
        let response = self
            .pipeline
            .post(["registration", "validationEvents"])
            .literal_path()
            .operation("webhooks.validation.send")
            // No body, but a length: front ends answer a POST without one with 411.
            .header("content-length", "0")
            // MS-RequestId makes a retried send the same send.
            .idempotent(true)
            .send()
            .await?;
        decode_ignoring_case(&response.body, VALIDATION_KEYS).map_err(|e| response.annotate(e))
    }

    /// The status of a validation event, one result per delivery attempt
    /// (`GET /registration/validationEvents/{correlationId}`).
    ///
    /// # Errors
    /// [`Error::Api`](crate::Error::Api) (not found after 7 days),
    /// [`Error::Decode`](crate::Error::Decode).
    ///
    /// ```no_run
    /// # async fn run(client: cosell::partner_center::webhooks::WebhooksClient) -> cosell::Result<()> {
    /// let status = client.validation_event("9d0c4b8e-0000-0000-0000-000000000000").await?;
    /// for attempt in &status.results {
    ///     println!("{:?} {:?}", attempt.response_code, attempt.time());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn validation_event(&self, correlation_id: &str) -> Result<ValidationStatus> {
        let response = self
            .pipeline
            .get(["registration", "validationEvents", correlation_id])
            .path_template("registration/validationEvents/{correlation_id}")
            .operation("webhooks.validation.get")
            .send()
            .await?;
        decode_ignoring_case(&response.body, VALIDATION_KEYS).map_err(|e| response.annotate(e))
    }
}
