//! The retry loop and everything around a single attempt.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use tracing::Instrument;
use url::Url;

use super::base_url::{BaseUrl, validate_base_url};
use super::clock::{Clock, Sleeper, SystemClock, TokioSleeper, lock};
use super::limits::{AnswerLimits, BodyEnd, read_capped};
use super::observer::{AttemptInfo, RequestObserver};
use super::profile::ServiceProfile;
use super::request::{RequestBuilder, Response, Target};
use super::retry::{RetryPolicy, parse_retry_after};
use crate::auth::{AccessToken, TokenProvider};
use crate::error::{
    AnswerTooLarge, ApiError, ApiErrorKind, Error, Result, TransportError, body_excerpt,
};

/// Connection and answer time limits of one attempt.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Time to establish a connection.
    pub connect: Duration,
    /// Longest silence while reading an answer.
    pub read: Duration,
    /// Longest time for one whole attempt.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(60),
            request: Duration::from_secs(120),
        }
    }
}

/// A handle on the request pipeline of one API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: reqwest::Client,
    base: BaseUrl,
    profile: Arc<dyn ServiceProfile>,
    auth: Option<Arc<dyn TokenProvider>>,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    rng: Mutex<fastrand::Rng>,
    default_headers: HeaderMap,
    limits: AnswerLimits,
    /// Attempts sent, retries included.
    sent: std::sync::atomic::AtomicU64,
    observer: Option<Arc<dyn RequestObserver>>,
}

/// Builds a [`Pipeline`].
#[derive(Debug)]
#[must_use]
pub struct PipelineBuilder {
    profile: Arc<dyn ServiceProfile>,
    base: Option<BaseUrl>,
    auth: Option<Arc<dyn TokenProvider>>,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    timeouts: Timeouts,
    client: Option<reqwest::Client>,
    default_headers: HeaderMap,
    limits: AnswerLimits,
    observer: Option<Arc<dyn RequestObserver>>,
    error: Option<Error>,
}

impl PipelineBuilder {
    /// The base URL every relative path joins below (see [`validate_base_url`]).
    pub fn base_url(mut self, url: &str) -> Result<Self> {
        self.base = Some(BaseUrl::Fixed(validate_base_url(url)?));
        Ok(self)
    }

    /// Sends to the `instance_url` of each token, below `path` (Salesforce).
    pub fn base_from_token(mut self, path: impl Into<String>) -> Self {
        self.base = Some(BaseUrl::FromToken { path: path.into() });
        self
    }

    /// The token provider; without one, requests carry no `Authorization` header.
    pub fn token_provider(mut self, provider: Arc<dyn TokenProvider>) -> Self {
        self.auth = Some(provider);
        self
    }

    /// The retry policy.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The clock used for deadlines and HTTP-date `Retry-After` values.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// What waits between attempts.
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Connection and answer time limits.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The largest answers read (see [`AnswerLimits`] for the defaults).
    pub fn answer_limits(mut self, limits: AnswerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Tells `observer` of every attempt and every retry wait.
    pub fn observer(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Sends through this `reqwest` client instead of a new one (timeouts then are the
    /// client's). Its redirect policy should be `none`.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// A header sent on every request of this pipeline.
    pub fn default_header(mut self, name: &'static str, value: &str) -> Self {
        match HeaderValue::try_from(value) {
            Ok(v) => {
                self.default_headers
                    .insert(HeaderName::from_static(name), v);
            }
            Err(_) => {
                self.error
                    .get_or_insert(Error::config(format!("invalid value for header `{name}`")));
            }
        }
        self
    }

    /// Builds the pipeline.
    pub fn build(self) -> Result<Pipeline> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let base = self
            .base
            .ok_or_else(|| Error::config("the pipeline needs a base URL"))?;
        let client = match self.client {
            Some(client) => client,
            None => reqwest::Client::builder()
                .user_agent(super::USER_AGENT)
                .connect_timeout(self.timeouts.connect)
                .read_timeout(self.timeouts.read)
                .timeout(self.timeouts.request)
                // Redirects would carry requests to hosts nobody configured.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| Error::config(format!("cannot build the HTTP client: {e}")))?,
        };
        let rng = match self.retry.seed() {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        Ok(Pipeline {
            inner: Arc::new(Inner {
                client,
                base,
                profile: self.profile,
                auth: self.auth,
                retry: self.retry,
                clock: self.clock,
                sleeper: self.sleeper,
                rng: Mutex::new(rng),
                default_headers: self.default_headers,
                limits: self.limits,
                sent: std::sync::atomic::AtomicU64::new(0),
                observer: self.observer,
            }),
        })
    }
}

/// How far a call got, kept outside its future so that a call cut off by the deadline can say.
#[derive(Debug, Default)]
struct Progress {
    attempts: u32,
    /// Whether any attempt was started: from then on the request may have reached the server.
    sent: bool,
}

impl Progress {
    fn deadline_passed(&self, deadline: Duration) -> Error {
        let error = Error::Transport(TransportError {
            message: format!(
                "no answer within the call's deadline of {} s",
                deadline.as_secs_f64()
            ),
            maybe_sent: self.sent,
            timed_out: true,
            source: None,
        });
        if self.attempts > 1 {
            Error::RetriesExhausted {
                attempts: self.attempts,
                last: Box::new(error),
            }
        } else {
            error
        }
    }
}

/// The outcome of one attempt.
enum Attempt {
    Done(Box<Response>),
    Failed {
        error: Error,
        /// Whether sending the request again is allowed and may succeed.
        retryable: bool,
        /// Whether the request may have taken effect although no answer said so: it may have
        /// reached the server (no answer came back) or the server failed while handling it.
        /// Kept apart from what the server said, to judge what a replay answers.
        maybe_applied: bool,
    },
    TokenRejected(Error),
}

impl Pipeline {
    /// How many requests this pipeline (and every clone of it, so every clone of its client) has
    /// sent, each retry counted: what the calls cost the service's limits. Token requests go
    /// through their own pipeline and are not counted here.
    pub fn requests_sent(&self) -> u64 {
        self.inner.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Starts building a pipeline for the API described by `profile`.
    pub fn builder(profile: impl ServiceProfile) -> PipelineBuilder {
        PipelineBuilder {
            profile: Arc::new(profile),
            base: None,
            auth: None,
            retry: RetryPolicy::default(),
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
            timeouts: Timeouts::default(),
            client: None,
            default_headers: HeaderMap::new(),
            limits: AnswerLimits::default(),
            observer: None,
            error: None,
        }
    }

    /// A request to the path made of `segments` below the base URL; each segment is
    /// percent-encoded, so a value can never add a path level or a query.
    pub fn request<I, S>(&self, method: Method, segments: I) -> RequestBuilder
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let segments = segments
            .into_iter()
            .map(|s| s.as_ref().to_owned())
            .collect();
        RequestBuilder::new(self.clone(), method, Target::Segments(segments))
    }

    /// A `GET` below the base URL.
    pub fn get<I: IntoIterator<Item = S>, S: AsRef<str>>(&self, segments: I) -> RequestBuilder {
        self.request(Method::GET, segments)
    }

    /// A `POST` below the base URL.
    pub fn post<I: IntoIterator<Item = S>, S: AsRef<str>>(&self, segments: I) -> RequestBuilder {
        self.request(Method::POST, segments)
    }

    /// A `PATCH` below the base URL.
    pub fn patch<I: IntoIterator<Item = S>, S: AsRef<str>>(&self, segments: I) -> RequestBuilder {
        self.request(Method::PATCH, segments)
    }

    /// A `PUT` below the base URL.
    pub fn put<I: IntoIterator<Item = S>, S: AsRef<str>>(&self, segments: I) -> RequestBuilder {
        self.request(Method::PUT, segments)
    }

    /// A `DELETE` below the base URL.
    pub fn delete<I: IntoIterator<Item = S>, S: AsRef<str>>(&self, segments: I) -> RequestBuilder {
        self.request(Method::DELETE, segments)
    }

    /// A request to a link the server gave (`@odata.nextLink`, `nextRecordsUrl`): absolute, or
    /// relative to the base URL. A link to another scheme, host or port is refused at `send`.
    pub fn link(&self, method: Method, link: impl Into<String>) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, Target::Link(link.into()))
    }

    /// The base URL, when it is fixed (not taken from each token).
    pub fn base_url(&self) -> Option<&Url> {
        match &self.inner.base {
            BaseUrl::Fixed(url) => Some(url),
            BaseUrl::FromToken { .. } => None,
        }
    }

    /// The injected clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The injected sleeper.
    pub fn sleeper(&self) -> &Arc<dyn Sleeper> {
        &self.inner.sleeper
    }

    /// The token provider, if any.
    pub fn token_provider(&self) -> Option<&Arc<dyn TokenProvider>> {
        self.inner.auth.as_ref()
    }

    pub(crate) async fn execute(&self, req: RequestBuilder) -> Result<Response> {
        let Some(deadline) = self.inner.retry.deadline_limit() else {
            return self.run(req, &mut Progress::default()).await;
        };
        // The deadline bounds the whole call: an attempt still waiting for (or reading) its
        // answer when it passes is abandoned, not only the waits between attempts.
        let mut progress = Progress::default();
        let outcome = tokio::time::timeout(deadline, self.run(req, &mut progress)).await;
        outcome.unwrap_or_else(|_| Err(progress.deadline_passed(deadline)))
    }

    async fn run(&self, mut req: RequestBuilder, progress: &mut Progress) -> Result<Response> {
        if let Some(error) = req.error.take() {
            return Err(error);
        }
        let inner = &self.inner;
        let profile = &inner.profile;
        // A correlation header set by hand (or as a page header of a pager) is the one sent, so
        // it is also the one errors report.
        let explicit = profile.correlation_header().and_then(|name| {
            req.headers
                .get(&name)
                .or_else(|| inner.default_headers.get(&name))
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
        let correlation_id = req
            .correlation_id
            .take()
            .or(explicit)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let idempotency = profile
            .idempotency_header()
            .map(|name| (name, uuid::Uuid::new_v4().to_string()));
        let started = inner.clock.now();
        let mut attempt: u32 = 0;
        let mut token_replayed = false;
        // The failure of the first attempt that may have taken effect unanswered.
        let mut lost: Option<Error> = None;

        loop {
            attempt += 1;
            progress.attempts = attempt;
            let token = match &inner.auth {
                Some(auth) => Some(auth.token().await?),
                None => None,
            };
            let (url, traced_path) = self.url_for(&req, token.as_ref())?;
            let span = tracing::debug_span!(
                "cosell.request",
                service = %profile.service(),
                operation = req.operation,
                http.method = %req.method,
                server.address = url.host_str().unwrap_or_default(),
                url.template = traced_path,
                attempt,
                http.status = tracing::field::Empty,
                latency_ms = tracing::field::Empty,
            );
            progress.sent = true;
            let sent_at = std::time::Instant::now();
            let outcome = self
                .attempt(
                    &req,
                    url,
                    token.as_ref(),
                    &correlation_id,
                    idempotency.as_ref(),
                )
                .instrument(span)
                .await;
            if let Some(observer) = &inner.observer {
                let (status, throttled) = match &outcome {
                    Attempt::Done(response) => (Some(response.status), false),
                    Attempt::TokenRejected(error) | Attempt::Failed { error, .. } => {
                        (error.status(), error.is_rate_limited())
                    }
                };
                observer.attempt(&AttemptInfo {
                    service: profile.service(),
                    operation: req.operation,
                    method: &req.method,
                    attempt,
                    status,
                    throttled,
                    latency: sent_at.elapsed(),
                });
            }
            let (error, retryable, maybe_applied) = match outcome {
                Attempt::Done(response) => return Ok(*response),
                Attempt::TokenRejected(error) => match (&inner.auth, &token) {
                    (Some(auth), Some(token)) if !token_replayed => {
                        // One fresh token and one replay; this does not use up a retry.
                        auth.invalidate(token);
                        token_replayed = true;
                        attempt -= 1;
                        continue;
                    }
                    _ => (error, false, false),
                },
                Attempt::Failed {
                    error,
                    retryable,
                    maybe_applied,
                } => {
                    // A precondition that fails on a replay may fail because of the earlier
                    // attempt itself: what became of the write is unknown, it is no conflict.
                    if error.kind() == Some(ApiErrorKind::PreconditionFailed)
                        && let Some(lost) = lost.take()
                    {
                        tracing::debug!(attempt, "precondition failed on a replay");
                        return Err(Error::OutcomeUnknown {
                            attempts: attempt,
                            lost: Box::new(lost),
                            replay: Box::new(error),
                        });
                    }
                    (error, retryable, maybe_applied)
                }
            };
            let exhausted = |error: Error| {
                if attempt > 1 {
                    Error::RetriesExhausted {
                        attempts: attempt,
                        last: Box::new(error),
                    }
                } else {
                    error
                }
            };
            if !retryable || attempt >= inner.retry.attempts() {
                return Err(exhausted(error));
            }
            let delay = match error.retry_after() {
                Some(wait) if wait > inner.retry.retry_after_cap() => {
                    return Err(exhausted(error));
                }
                Some(wait) => wait,
                None => inner.retry.backoff(attempt, &mut lock(&inner.rng)),
            };
            if let Some(deadline) = inner.retry.deadline_limit() {
                let elapsed = Duration::try_from(inner.clock.now().duration_since(started))
                    .unwrap_or(Duration::ZERO);
                if elapsed.saturating_add(delay) > deadline {
                    return Err(exhausted(error));
                }
            }
            let error_was_throttle = error.is_rate_limited();
            if maybe_applied && lost.is_none() {
                lost = Some(error);
            }
            tracing::debug!(attempt, delay_ms = delay.as_millis() as u64, "retrying");
            if let Some(observer) = &inner.observer {
                observer.retry_wait(profile.service(), req.operation, delay, error_was_throttle);
            }
            inner.sleeper.sleep(delay).await;
        }
    }

    /// The URL to send to, and its path as traces show it.
    fn url_for(&self, req: &RequestBuilder, token: Option<&AccessToken>) -> Result<(Url, String)> {
        let base = self.inner.base.resolve(token)?;
        let traced_path = req.traced_path(&base);
        let mut url = match &req.target {
            Target::Segments(segments) => {
                let mut url = base.clone();
                {
                    let mut path = url
                        .path_segments_mut()
                        .map_err(|()| Error::config("the base URL cannot take a path"))?;
                    path.pop_if_empty();
                    path.extend(segments);
                }
                url
            }
            Target::Link(link) => {
                let url = base
                    .join(link)
                    .map_err(|e| Error::validation(format!("invalid link `{link}`: {e}")))?;
                if url.origin() != base.origin() {
                    return Err(Error::validation(format!(
                        "refused a link to {}, which is not the API's host {}",
                        url.origin().ascii_serialization(),
                        base.origin().ascii_serialization()
                    )));
                }
                url
            }
        };
        if !req.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&req.query);
        }
        Ok((url, traced_path))
    }

    async fn attempt(
        &self,
        req: &RequestBuilder,
        url: Url,
        token: Option<&AccessToken>,
        correlation_id: &str,
        idempotency: Option<&(HeaderName, String)>,
    ) -> Attempt {
        let inner = &self.inner;
        let profile = &inner.profile;
        let mut headers = inner.default_headers.clone();
        for (name, value) in &req.headers {
            headers.insert(name.clone(), value.clone());
        }
        if let Some(token) = token {
            match HeaderValue::try_from(token.authorization()) {
                Ok(mut value) => {
                    value.set_sensitive(true);
                    headers.insert(http::header::AUTHORIZATION, value);
                }
                Err(_) => {
                    return Attempt::Failed {
                        error: Error::config("the access token is not a valid header value"),
                        retryable: false,
                        maybe_applied: false,
                    };
                }
            }
        }
        if let Some(name) = profile.correlation_header()
            && let Ok(value) = HeaderValue::try_from(correlation_id)
        {
            headers.entry(name).or_insert(value);
        }
        if let Some((name, key)) = idempotency
            && let Ok(value) = HeaderValue::try_from(key.as_str())
        {
            headers.entry(name.clone()).or_insert(value);
        }
        if !headers.contains_key(http::header::ACCEPT) {
            headers.insert(
                http::header::ACCEPT,
                HeaderValue::from_static("application/json"),
            );
        }

        let mut request = inner
            .client
            .request(req.method.clone(), url.clone())
            .headers(headers);
        if let Some(body) = &req.body {
            request = request.body(body.clone());
        }
        let sent_at = std::time::Instant::now();
        inner
            .sent
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let result = request.send().await;
        let span = tracing::Span::current();
        let response = match result {
            Ok(response) => response,
            Err(e) => {
                let maybe_sent = !e.is_connect();
                tracing::debug!(maybe_sent, "transport failure");
                return Attempt::Failed {
                    retryable: !maybe_sent || req.idempotent,
                    error: Error::Transport(transport_error(e, maybe_sent)),
                    maybe_applied: maybe_sent,
                };
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let request_id = profile
            .request_id_headers()
            .iter()
            .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
            .map(str::to_owned);
        let success = status.is_success() || req.accept.contains(&status);
        // An error answer is read only as far as its code and excerpt need.
        let limit = if success {
            req.max_answer
                .unwrap_or_else(|| inner.limits.for_kind(req.answer_kind))
        } else {
            inner.limits.error_limit()
        };
        let too_large = |declared| {
            tracing::debug!(limit, ?declared, "answer over its size limit");
            Attempt::Failed {
                error: Error::from(AnswerTooLarge {
                    service: profile.service(),
                    operation: req.operation,
                    limit,
                    declared,
                    status,
                    request_id: request_id.clone(),
                }),
                retryable: false,
                maybe_applied: false,
            }
        };
        let declared = response.content_length();
        if success && declared.is_some_and(|length| length > limit) {
            return too_large(declared);
        }
        let (body, end) = read_capped(response, limit).await;
        // Whether the body arrived whole, for a success answer; an error answer is judged by
        // its status, whatever part of its body arrived.
        let complete = match end {
            BodyEnd::Cut if success => return too_large(declared),
            BodyEnd::Broken(e) if success => {
                // Reading again is harmless; a write that answered with success took effect,
                // and a replay could only repeat it or fail its own precondition.
                if is_safe(&req.method) {
                    return Attempt::Failed {
                        retryable: req.idempotent,
                        error: Error::Transport(transport_error(e, true)),
                        maybe_applied: false,
                    };
                }
                tracing::debug!("the answer to a write broke off after its success status");
                false
            }
            BodyEnd::Whole | BodyEnd::Cut | BodyEnd::Broken(_) => true,
        };
        span.record("http.status", status.as_u16());
        span.record("latency_ms", sent_at.elapsed().as_millis() as u64);

        if success {
            return Attempt::Done(Box::new(Response {
                status,
                headers,
                body: if complete { body } else { Bytes::new() },
                complete,
                request_id,
                correlation_id: Some(correlation_id.to_owned()),
                url,
            }));
        }

        let details = profile.parse_error(&body);
        let kind = profile.classify(status, &details);
        let retry_after = headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, inner.clock.now()));
        let api = ApiError {
            service: profile.service(),
            status,
            kind,
            code: details.code,
            message: details.message,
            target: details.target,
            inner_codes: details.inner_codes,
            request_id,
            correlation_id: Some(correlation_id.to_owned()),
            retry_after,
            body_excerpt: body_excerpt(&body),
        };
        tracing::debug!(status = status.as_u16(), ?kind, "non-success answer");
        if profile.rejects_token(&api) {
            return Attempt::TokenRejected(api.into());
        }
        let refused = profile.refused_before_processing(&api);
        let retryable = profile.is_transient(&api) && (req.idempotent || refused);
        // A server failure does not say the request was left undone.
        let maybe_applied = api.kind == ApiErrorKind::Server && !refused;
        Attempt::Failed {
            error: api.into(),
            retryable,
            maybe_applied,
        }
    }
}

/// Whether a method only reads (RFC 9110 "safe"): sending it again changes nothing.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn transport_error(e: reqwest::Error, maybe_sent: bool) -> TransportError {
    // reqwest's message may include the URL with its query: keep only the kind of failure.
    let what = if e.is_connect() {
        "could not connect"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else {
        "the request failed"
    };
    TransportError {
        message: what.to_owned(),
        maybe_sent,
        timed_out: e.is_timeout(),
        source: Some(Box::new(e.without_url())),
    }
}
