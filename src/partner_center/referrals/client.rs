//! The [`PartnerCenter`] client and its referral operations.

use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use jiff::Timestamp;

use super::enums::{
    AssistanceRequestCode, ReferralDirection, ReferralStatus, ReferralSubstatus, ReferralType,
};
use super::model::Referral;
use super::patch::ReferralPatch;
use super::profile::{CORRELATION_ID_HEADER, ReferralsProfile};
use super::query::{ReferralOrderField, ReferralQuery};
use super::transition::check_transition;
use super::wire;
use crate::Nullable;
use crate::Order;
use crate::auth::env::COSELL_PARTNER_CENTER_URL;
use crate::auth::{DelegatedScope, Env, RefreshTokenProvider, TokenProvider, UserCredentials};
use crate::error::{Error, Result};
use crate::http::{
    AnswerLimits, ClientOptions, Clock, Pipeline, RequestBuilder, Response, RetryPolicy, Sleeper,
    Timeouts,
};
use crate::paging::Pager;

/// The base URL of the referrals API; referrals live below it at `referrals`.
pub const DEFAULT_BASE_URL: &str = "https://api.partner.microsoft.com/v1.0/engagements/";

/// The token audience (resource) of the referrals API. It takes only delegated (app + user)
/// tokens of a user with the Referral Admin or Referral User role.
pub const TOKEN_RESOURCE: &str = "https://api.partner.microsoft.com";

const REFERRALS: &str = "referrals";

/// A client of the Partner Center co-sell referrals API. Cheap to clone.
///
/// ```no_run
/// use cosell::auth::StaticToken;
/// use cosell::partner_center::{PartnerCenter, ReferralStatus};
///
/// # async fn run() -> cosell::Result<()> {
/// let client = PartnerCenter::builder(StaticToken::new("user-delegated-token")).build()?;
/// let active = client.referrals().list().status(ReferralStatus::Active).top(50).pager().collect_all().await?;
/// println!("{} active referrals", active.len());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PartnerCenter {
    pipeline: Pipeline,
    correlation_id: Option<String>,
}

/// Builds a [`PartnerCenter`] client.
#[derive(Debug)]
#[must_use]
pub struct PartnerCenterBuilder {
    base_url: String,
    token_provider: Arc<dyn TokenProvider>,
    options: ClientOptions,
    correlation_id: Option<String>,
}

impl PartnerCenterBuilder {
    /// Sends to another base URL (a test server, the crate's emulator); referrals are at
    /// `<base>/referrals`. `https`, or `http` to a loopback host.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// How failed calls are retried.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.options = self.options.retry_policy(policy);
        self
    }

    /// The clock for retry deadlines and `Retry-After` dates (tests inject a manual clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.options = self.options.clock(clock);
        self
    }

    /// What waits between retries (tests inject a recording sleeper).
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

    /// Sends this `MS-CorrelationId` on every call, instead of a fresh one per call.
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`Error::Config`] with an unusable base URL or correlation id.
    pub fn build(self) -> Result<PartnerCenter> {
        let provider = self.token_provider;
        if let Some(id) = &self.correlation_id {
            HeaderValue::try_from(id.as_str())
                .map_err(|_| Error::config("the correlation id is not a valid header value"))?;
        }
        let mut builder = Pipeline::builder(ReferralsProfile)
            .base_url(&self.base_url)?
            .token_provider(provider);
        builder = builder.options(self.options);
        Ok(PartnerCenter {
            pipeline: builder.build()?,
            correlation_id: self.correlation_id,
        })
    }
}

impl PartnerCenter {
    /// Starts building a client with the signed-in user's credentials from the environment
    /// ([`RefreshTokenProvider::builder_from_env`], cached), sending to
    /// [`COSELL_PARTNER_CENTER_URL`] when set.
    ///
    /// ```
    /// use cosell::auth::Env;
    /// use cosell::partner_center::PartnerCenter;
    ///
    /// let env = Env::from_pairs([
    ///     ("AZURE_TENANT_ID", "contoso.onmicrosoft.com"),
    ///     ("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001"),
    ///     ("COSELL_PARTNER_CENTER_REFRESH_TOKEN", "refresh-token"),
    /// ]);
    /// let pc = PartnerCenter::builder_from_env(&env)?.build()?;
    /// # let _ = pc;
    /// # Ok::<(), cosell::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Env`] naming a missing or malformed variable.
    pub fn builder_from_env(env: &Env) -> Result<PartnerCenterBuilder> {
        let provider =
            RefreshTokenProvider::builder_from_env(env, DelegatedScope::v1(TOKEN_RESOURCE))?
                .build()?;
        let builder = PartnerCenter::builder(provider);
        Ok(match env.optional_url(COSELL_PARTNER_CENTER_URL)? {
            Some(url) => builder.base_url(url),
            None => builder,
        })
    }

    /// Starts building a client for [`DEFAULT_BASE_URL`] that signs in with `credentials`:
    /// app + user credentials only, as the referrals API takes no app-only token (see
    /// [`UserCredentials`]); their tokens are cached.
    ///
    /// ```no_run
    /// use cosell::auth::StaticToken;
    /// use cosell::http::RetryPolicy;
    /// use cosell::partner_center::PartnerCenter;
    ///
    /// let client = PartnerCenter::builder(StaticToken::new("token"))
    ///     .base_url("http://127.0.0.1:8080/v1.0/engagements/")
    ///     .retry_policy(RetryPolicy::default().max_attempts(5))
    ///     .correlation_id("nightly-sweep-2026-03-01")
    ///     .build()?;
    /// # let _ = client; Ok::<(), cosell::Error>(())
    /// ```
    pub fn builder(credentials: impl UserCredentials) -> PartnerCenterBuilder {
        PartnerCenterBuilder {
            base_url: DEFAULT_BASE_URL.to_owned(),
            token_provider: credentials.into_token_provider(),
            options: ClientOptions::default(),
            correlation_id: None,
        }
    }

    /// The referral operations.
    pub fn referrals(&self) -> Referrals<'_> {
        Referrals { client: self }
    }

    /// The request pipeline, for calls this client does not wrap.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    fn request(
        &self,
        method: Method,
        id: Option<&str>,
        operation: &'static str,
        correlation_id: Option<&str>,
    ) -> RequestBuilder {
        let segments: Vec<&str> = std::iter::once(REFERRALS).chain(id).collect();
        let template = match id {
            Some(_) => format!("{REFERRALS}/{{id}}"),
            None => REFERRALS.to_owned(),
        };
        let request = self
            .pipeline
            .request(method, segments)
            .path_template(template)
            .operation(operation);
        match correlation_id.or(self.correlation_id.as_deref()) {
            Some(id) => request.correlation_id(id),
            None => request,
        }
    }
}

/// The referral operations of a [`PartnerCenter`] client.
#[derive(Debug, Clone, Copy)]
pub struct Referrals<'a> {
    client: &'a PartnerCenter,
}

fn require_id(id: &str) -> Result<()> {
    if id.trim().is_empty() {
        Err(Error::validation("a referral id must not be empty"))
    } else {
        Ok(())
    }
}

/// Decodes a referral answer; the `ETag` header fills a missing `eTag` field.
fn referral_from(response: &Response) -> Result<Referral> {
    let mut referral = wire::decode_referral(&response.body).map_err(|e| response.annotate(e))?;
    if referral.e_tag.value().is_none()
        && let Some(etag) = response.etag()
    {
        referral.e_tag = etag.to_owned().into();
    }
    Ok(referral)
}

/// The referral without its read-only parts (`links`, `@odata.*` annotations), as a write
/// body.
fn write_body(referral: &Referral) -> Referral {
    let mut body = referral.clone();
    body.links = Nullable::Absent;
    body.extra.retain(|key, _| !key.starts_with("@odata."));
    body
}

impl<'a> Referrals<'a> {
    /// Lists referrals; add conditions, then take the [`Pager`].
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    /// use cosell::partner_center::{PartnerCenter, ReferralDirection, ReferralStatus};
    ///
    /// # async fn run(client: PartnerCenter) -> cosell::Result<()> {
    /// let since = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 7);
    /// let mut referrals = client
    ///     .referrals()
    ///     .list()
    ///     .status(ReferralStatus::Active)
    ///     .direction(ReferralDirection::Incoming)
    ///     .updated_since(since)
    ///     .top(50)
    ///     .pager()
    ///     .into_stream();
    /// while let Some(referral) = referrals.try_next().await? {
    ///     println!("{:?} {:?}", referral.id, referral.name);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list(&self) -> ListReferrals<'a> {
        ListReferrals {
            client: self.client,
            query: ReferralQuery::new(),
            correlation_id: None,
        }
    }

    /// The referrals that share an engagement (`engagementId eq '…'`): for example the
    /// partner's and Microsoft's halves of a shared deal.
    ///
    /// ```no_run
    /// # async fn run(client: cosell::partner_center::PartnerCenter) -> cosell::Result<()> {
    /// let related = client.referrals().related("2b4fd2c3-0000-0000-0000-000000000000").pager().collect_all().await?;
    /// # let _ = related; Ok(()) }
    /// ```
    pub fn related(&self, engagement_id: &str) -> ListReferrals<'a> {
        self.list().engagement_id(engagement_id)
    }

    /// Reads one referral. Its `eTag` (from the body, else the `ETag` header) is what an update
    /// sends as `If-Match`.
    ///
    /// ```no_run
    /// # async fn run(client: cosell::partner_center::PartnerCenter) -> cosell::Result<()> {
    /// let referral = client.referrals().get("4f0c5b1e-0000-0000-0000-0000000000e1").await?;
    /// println!("{:?} is {:?}", referral.name, referral.status);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Validation`] for an empty id; a not-found [`Error::Api`]
    /// ([`Error::is_not_found`]) when there is no such referral.
    pub async fn get(&self, id: &str) -> Result<Referral> {
        require_id(id)?;
        let response = self
            .client
            .request(Method::GET, Some(id), "referrals.get", None)
            .send()
            .await?;
        referral_from(&response)
    }

    /// Creates a referral and returns it as the service populated it (id, engagement id,
    /// eTag, status). The referral is checked before anything is sent (see
    /// [`CreateReferral::send`]).
    ///
    /// ```no_run
    /// use cosell::partner_center::*;
    ///
    /// # async fn run(client: PartnerCenter) -> cosell::Result<()> {
    /// let referral = Referral::new(
    ///     ReferralType::Independent,
    ///     CustomerProfile {
    ///         name: "Fabrikam Ltd".into(),
    ///         address: Address { country: "GB".into(), ..Default::default() }.into(),
    ///         ..Default::default()
    ///     },
    ///     Consent { consent_to_share_referral_with_microsoft_sellers: false.into(), ..Default::default() },
    ///     ReferralDetails { deal_value: rust_decimal::Decimal::from(75_000).into(), currency: "GBP".into(), ..Default::default() },
    /// );
    /// let created = client.referrals().create(&referral).send().await?;
    /// println!("created {:?}", created.id);
    /// # Ok(()) }
    /// ```
    pub fn create(&self, referral: &Referral) -> CreateReferral<'a> {
        CreateReferral {
            client: self.client,
            referral: write_body(referral),
            lenient: false,
            correlation_id: None,
        }
    }

    /// Updates a referral with a JSON Patch (`PATCH`, the current way).
    ///
    /// ```no_run
    /// use cosell::partner_center::{ReferralStatus, ReferralSubstatus};
    /// use cosell::partner_center::referrals::ReferralPatch;
    ///
    /// # async fn run(client: cosell::partner_center::PartnerCenter) -> cosell::Result<()> {
    /// let patch = ReferralPatch::new().status(ReferralStatus::Closed).substatus(ReferralSubstatus::Won);
    /// let updated = client
    ///     .referrals()
    ///     .update("4f0c5b1e-0000-0000-0000-0000000000e1", patch)
    ///     .current_status(ReferralStatus::Active, None)
    ///     .if_match("\"0a00bc12-0000-0100-0000-65f000000000\"")
    ///     .return_representation()
    ///     .send()
    ///     .await?;
    /// println!("{:?}", updated.and_then(|r| r.status.into_value()));
    /// # Ok(()) }
    /// ```
    pub fn update(&self, id: &str, patch: ReferralPatch) -> UpdateReferral<'a> {
        UpdateReferral {
            client: self.client,
            id: id.to_owned(),
            patch,
            if_match: None,
            return_representation: false,
            current: None,
            check_transition: true,
            correlation_id: None,
        }
    }

    /// Updates a referral that was read before: its id, its `eTag` as `If-Match`, and its
    /// status for the transition check all come from `current`.
    ///
    /// ```no_run
    /// use cosell::partner_center::referrals::ReferralPatch;
    ///
    /// # async fn run(client: cosell::partner_center::PartnerCenter) -> cosell::Result<()> {
    /// let current = client.referrals().get("4f0c5b1e-0000-0000-0000-0000000000e1").await?;
    /// client
    ///     .referrals()
    ///     .update_referral(&current, ReferralPatch::new().external_reference_id("crm-opp-000123"))
    ///     .send()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn update_referral(&self, current: &Referral, patch: ReferralPatch) -> UpdateReferral<'a> {
        let mut update = self.update(current.id.as_deref().unwrap_or_default(), patch);
        update.if_match = current.e_tag.value().cloned();
        update.current = current
            .status
            .value()
            .map(|status| (status.clone(), current.substatus.value().cloned()));
        update
    }

    /// Replaces a whole referral with the legacy (obsolete) `PUT`. The referral must carry its
    /// `id` and an `If-Match` (its `eTag` unless [`PutReferral::if_match`] gives one); `links`
    /// and `@odata.*` annotations are dropped before sending, everything else (unknown fields
    /// included) goes back as read.
    ///
    /// ```no_run
    /// # async fn run(client: cosell::partner_center::PartnerCenter) -> cosell::Result<()> {
    /// let mut referral = client.referrals().get("4f0c5b1e-0000-0000-0000-0000000000e1").await?;
    /// referral.external_reference_id = "crm-lead-42".to_owned().into();
    /// let saved = client.referrals().put_legacy(&referral).send().await?;
    /// # let _ = saved; Ok(()) }
    /// ```
    pub fn put_legacy(&self, referral: &Referral) -> PutReferral<'a> {
        PutReferral {
            client: self.client,
            if_match: referral.e_tag.value().cloned(),
            referral: write_body(referral),
            correlation_id: None,
        }
    }
}

/// A referral listing being described; see [`Referrals::list`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ListReferrals<'a> {
    client: &'a PartnerCenter,
    query: ReferralQuery,
    correlation_id: Option<String>,
}

impl ListReferrals<'_> {
    fn with(mut self, change: impl FnOnce(ReferralQuery) -> ReferralQuery) -> Self {
        self.query = change(self.query);
        self
    }

    /// Replaces the whole query.
    pub fn query(self, query: ReferralQuery) -> Self {
        self.with(|_| query)
    }

    /// Only referrals with this status.
    pub fn status(self, status: ReferralStatus) -> Self {
        self.with(|q| q.status(status))
    }

    /// Only referrals with one of these statuses.
    pub fn status_any_of(self, statuses: impl IntoIterator<Item = ReferralStatus>) -> Self {
        self.with(|q| q.status_any_of(statuses))
    }

    /// Only referrals with this substatus.
    pub fn substatus(self, substatus: ReferralSubstatus) -> Self {
        self.with(|q| q.substatus(substatus))
    }

    /// Only referrals of this type.
    pub fn referral_type(self, referral_type: ReferralType) -> Self {
        self.with(|q| q.referral_type(referral_type))
    }

    /// Only incoming or only outgoing referrals.
    pub fn direction(self, direction: ReferralDirection) -> Self {
        self.with(|q| q.direction(direction))
    }

    /// Only the referrals of this engagement.
    pub fn engagement_id(self, engagement_id: &str) -> Self {
        self.with(|q| q.engagement_id(engagement_id))
    }

    /// Only referrals with this external reference id (support unconfirmed).
    pub fn external_reference_id(self, id: &str) -> Self {
        self.with(|q| q.external_reference_id(id))
    }

    /// Only referrals with a team member of this email address.
    pub fn team_member_email(self, email: &str) -> Self {
        self.with(|q| q.team_member_email(email))
    }

    /// Only referrals updated at or after `since`.
    pub fn updated_since(self, since: Timestamp) -> Self {
        self.with(|q| q.updated_since(since))
    }

    /// Only referrals updated before `before`.
    pub fn updated_before(self, before: Timestamp) -> Self {
        self.with(|q| q.updated_before(before))
    }

    /// Adds a raw, unescaped filter expression (see [`ReferralQuery::raw_filter`]).
    pub fn raw_filter(self, expression: impl Into<String>) -> Self {
        self.with(|q| q.raw_filter(expression))
    }

    /// Orders the listing.
    pub fn order_by(self, field: ReferralOrderField, order: Order) -> Self {
        self.with(|q| q.order_by(field, order))
    }

    /// Returns at most `count` referrals in all.
    pub fn top(self, count: u32) -> Self {
        self.with(|q| q.top(count))
    }

    /// Returns only these fields.
    pub fn select<I, S>(self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.with(|q| q.select(fields))
    }

    /// Sends this `MS-CorrelationId` with every page.
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// The pager over the listing: it follows `@odata.nextLink` (pages of at most 100) and
    /// refuses links to other hosts. A query that cannot be sent fails at the first page.
    pub fn pager(self) -> Pager<Referral> {
        let correlation_id = self
            .correlation_id
            .as_deref()
            .or(self.client.correlation_id.as_deref());
        let mut first = self
            .client
            .request(Method::GET, None, "referrals.list", correlation_id);
        match self.query.to_query_pairs() {
            Ok(pairs) => {
                for (name, value) in pairs {
                    first = first.query(name, value);
                }
            }
            Err(error) => first.error = Some(error),
        }
        let mut page_headers = HeaderMap::new();
        if let Some(value) = correlation_id.and_then(|id| HeaderValue::try_from(id).ok()) {
            page_headers.insert(HeaderName::from_static(CORRELATION_ID_HEADER), value);
        }
        Pager::new(first, wire::referral_page).page_headers(page_headers)
    }
}

/// A referral creation being described; see [`Referrals::create`].
#[derive(Debug, Clone)]
#[must_use]
pub struct CreateReferral<'a> {
    client: &'a PartnerCenter,
    referral: Referral,
    lenient: bool,
    correlation_id: Option<String>,
}

impl CreateReferral<'_> {
    /// Checks only the parts the API documents as required (type, customer profile, consent,
    /// details), not the rules the co-sell connectors learned in practice.
    pub fn lenient(mut self) -> Self {
        self.lenient = true;
        self
    }

    /// Sends this `MS-CorrelationId`.
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Checks the referral, then sends it (`POST`); a 200 or a 201 both return the created
    /// referral.
    ///
    /// Always required: `type`, `customerProfile`, `consent`, `details`. Unless
    /// [`lenient`](Self::lenient): a customer name, a two-letter country, at least one
    /// solution id when the deal is shared with Microsoft sellers, and a customer contact when
    /// Microsoft's help is requested.
    ///
    /// # Errors
    /// [`Error::Validation`] listing every missing part, before anything is sent.
    pub async fn send(self) -> Result<Referral> {
        validate_new_referral(&self.referral, self.lenient)?;
        let response = self
            .client
            .request(
                Method::POST,
                None,
                "referrals.create",
                self.correlation_id.as_deref(),
            )
            .json(&self.referral)
            .send()
            .await?;
        referral_from(&response)
    }
}

fn validate_new_referral(referral: &Referral, lenient: bool) -> Result<()> {
    let mut problems = Vec::new();
    if referral.referral_type.value().is_none() {
        problems.push("`type` is required".to_owned());
    }
    if referral.consent.value().is_none() {
        problems.push("`consent` is required".to_owned());
    }
    if referral.details.value().is_none() {
        problems.push("`details` is required".to_owned());
    }
    match referral.customer_profile.value() {
        None => problems.push("`customerProfile` is required".to_owned()),
        Some(customer) if !lenient => {
            if customer.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
                problems.push("`customerProfile.name` is required".to_owned());
            }
            let country = customer.address.value().and_then(|a| a.country.as_deref());
            if !country
                .is_some_and(|c| c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()))
            {
                problems.push(
                    "`customerProfile.address.country` must be a two-letter ISO 3166 code"
                        .to_owned(),
                );
            }
            let helped = referral
                .invite_context
                .value()
                .and_then(|c| c.assistance_request_code.value())
                .is_some_and(|code| *code != AssistanceRequestCode::NotSpecified);
            let has_contact = customer.team.value().is_some_and(|team| {
                team.iter()
                    .any(|m| m.email.value().is_some() || m.phone_number.value().is_some())
            });
            if helped && !has_contact {
                problems.push(
                    "a customer contact (`customerProfile.team`) is required when Microsoft's \
                     help is requested"
                        .to_owned(),
                );
            }
        }
        Some(_) => {}
    }
    let shared = referral
        .consent
        .value()
        .and_then(|c| c.consent_to_share_referral_with_microsoft_sellers.value())
        == Some(&true);
    let has_solution = referral
        .details
        .value()
        .and_then(|d| d.requirements.value())
        .and_then(|r| r.solutions.value())
        .is_some_and(|s| {
            s.iter()
                .any(|tag| tag.id.as_deref().is_some_and(|id| !id.is_empty()))
        });
    if !lenient && shared && !has_solution {
        problems.push(
            "at least one solution id (`details.requirements.solutions`) is required to share \
             with Microsoft sellers"
                .to_owned(),
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::validation(format!(
            "the referral cannot be created: {}",
            problems.join("; ")
        )))
    }
}

/// A JSON Patch update being described; see [`Referrals::update`].
#[derive(Debug, Clone)]
#[must_use]
pub struct UpdateReferral<'a> {
    client: &'a PartnerCenter,
    id: String,
    patch: ReferralPatch,
    if_match: Option<String>,
    return_representation: bool,
    current: Option<(ReferralStatus, Option<ReferralSubstatus>)>,
    check_transition: bool,
    correlation_id: Option<String>,
}

impl UpdateReferral<'_> {
    /// Sends `If-Match` with this eTag (byte for byte as read): a stale one fails with a
    /// conflict ([`Error::is_conflict`]).
    pub fn if_match(mut self, etag: impl Into<String>) -> Self {
        self.if_match = Some(etag.into());
        self
    }

    /// Asks for the updated referral back (`Prefer: return=representation`); without it the
    /// service answers 204 and [`send`](Self::send) returns `None`.
    pub fn return_representation(mut self) -> Self {
        self.return_representation = true;
        self
    }

    /// The referral's current status (and substatus, if known), so that the patch is checked
    /// against the transition table before it is sent.
    pub fn current_status(
        mut self,
        status: ReferralStatus,
        substatus: Option<ReferralSubstatus>,
    ) -> Self {
        self.current = Some((status, substatus));
        self
    }

    /// Sends the patch without checking it against the transition table.
    pub fn skip_transition_check(mut self) -> Self {
        self.check_transition = false;
        self
    }

    /// Sends this `MS-CorrelationId`.
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Sends the patch (`Content-Type: application/json`, as the service's docs do). A patch
    /// that only replaces is retried like any idempotent call; one with `add` is retried only
    /// when it provably never reached the server.
    ///
    /// `None` without [`return_representation`](Self::return_representation), and also when
    /// the update was answered with success but the answer broke off before the referral
    /// arrived (the update took effect).
    ///
    /// # Errors
    /// [`Error::Validation`] for an empty id or patch, or a transition the table rules out;
    /// a conflict [`Error::Api`] ([`Error::is_conflict`]) for a stale `If-Match`;
    /// [`Error::OutcomeUnknown`] when an attempt may have been applied without an answer and
    /// its replay found the eTag moved (re-read the referral).
    pub async fn send(self) -> Result<Option<Referral>> {
        require_id(&self.id)?;
        if self.patch.is_empty() {
            return Err(Error::validation("the patch has no operation"));
        }
        if let (true, Some((status, substatus))) = (self.check_transition, &self.current) {
            check_transition(status, substatus.as_ref(), &self.patch)?;
        }
        let mut request = self
            .client
            .request(
                Method::PATCH,
                Some(&self.id),
                "referrals.update",
                self.correlation_id.as_deref(),
            )
            .json(&self.patch)
            .idempotent(self.patch.is_idempotent());
        if let Some(etag) = &self.if_match {
            request = request.header("if-match", etag);
        }
        if self.return_representation {
            request = request.header("prefer", "return=representation");
        }
        let response = request.send().await?;
        if response.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        referral_from(&response).map(Some)
    }
}

/// A legacy full update being described; see [`Referrals::put_legacy`].
#[derive(Debug, Clone)]
#[must_use]
pub struct PutReferral<'a> {
    client: &'a PartnerCenter,
    referral: Referral,
    if_match: Option<String>,
    correlation_id: Option<String>,
}

impl PutReferral<'_> {
    /// Sends this eTag as `If-Match` instead of the referral's own `eTag`.
    pub fn if_match(mut self, etag: impl Into<String>) -> Self {
        self.if_match = Some(etag.into());
        self
    }

    /// Sends this `MS-CorrelationId`.
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Sends the referral (`PUT`) and returns it as saved.
    ///
    /// # Errors
    /// [`Error::Validation`] when the referral has no id or there is no eTag for `If-Match`;
    /// a conflict [`Error::Api`] ([`Error::is_conflict`]) when the eTag is stale.
    pub async fn send(self) -> Result<Referral> {
        let id = self
            .referral
            .id
            .as_deref()
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| Error::validation("a legacy PUT needs the referral's `id`"))?;
        let etag = self.if_match.as_deref().ok_or_else(|| {
            Error::validation("a legacy PUT needs an If-Match eTag (the referral's `eTag`)")
        })?;
        let response = self
            .client
            .request(
                Method::PUT,
                Some(id),
                "referrals.put",
                self.correlation_id.as_deref(),
            )
            .header("if-match", etag)
            .json(&self.referral)
            .send()
            .await?;
        referral_from(&response)
    }
}
