//! How a client sends, shared by every client builder.

use std::fmt;
use std::sync::Arc;

use super::clock::{Clock, Sleeper};
use super::limits::AnswerLimits;
use super::observer::RequestObserver;
use super::pipeline::{PipelineBuilder, Timeouts};
use super::retry::RetryPolicy;

/// Retries, time limits, answer size limits, the HTTP client, and injected time: the settings
/// every client takes.
///
/// Each client builder has a setter for each of these; build one `ClientOptions` to give
/// several clients the same settings.
///
/// ```
/// use std::time::Duration;
/// use cosell::http::{ClientOptions, RetryPolicy, Timeouts};
///
/// let options = ClientOptions::default()
///     .retry_policy(RetryPolicy::default().max_attempts(6))
///     .timeouts(Timeouts { request: Duration::from_secs(30), ..Timeouts::default() });
/// # let _ = options;
/// ```
#[derive(Clone, Default)]
pub struct ClientOptions {
    retry: Option<RetryPolicy>,
    clock: Option<Arc<dyn Clock>>,
    sleeper: Option<Arc<dyn Sleeper>>,
    timeouts: Option<Timeouts>,
    http_client: Option<reqwest::Client>,
    answer_limits: Option<AnswerLimits>,
    observer: Option<Arc<dyn RequestObserver>>,
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("retry", &self.retry)
            .field("clock", &self.clock)
            .field("sleeper", &self.sleeper)
            .field("timeouts", &self.timeouts)
            .field("http_client", &self.http_client.is_some())
            .field("answer_limits", &self.answer_limits)
            .field("observer", &self.observer)
            .finish()
    }
}

impl ClientOptions {
    /// How failed calls are retried.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// The clock for retry deadlines and HTTP-date `Retry-After` values (tests inject a
    /// [`ManualClock`](super::ManualClock)).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// What waits between attempts (tests inject a [`RecordingSleeper`](super::RecordingSleeper)).
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = Some(sleeper);
        self
    }

    /// Connection and answer time limits.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = Some(timeouts);
        self
    }

    /// Sends through this `reqwest` client (its redirect policy should be `none`).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// The largest answers read (see [`AnswerLimits`] for the defaults).
    pub fn answer_limits(mut self, limits: AnswerLimits) -> Self {
        self.answer_limits = Some(limits);
        self
    }

    /// The clock set, or the system clock.
    /// Tells `observer` of every attempt and every retry wait (for metrics).
    pub fn observer(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    pub(crate) fn clock_or_system(&self) -> Arc<dyn Clock> {
        self.clock
            .clone()
            .unwrap_or_else(|| Arc::new(super::SystemClock))
    }

    /// The sleeper set, or the tokio timer.
    pub(crate) fn sleeper_or_tokio(&self) -> Arc<dyn Sleeper> {
        self.sleeper
            .clone()
            .unwrap_or_else(|| Arc::new(super::TokioSleeper))
    }

    /// Applies every setting that was made to a pipeline builder.
    pub(crate) fn apply(self, mut builder: PipelineBuilder) -> PipelineBuilder {
        if let Some(retry) = self.retry {
            builder = builder.retry_policy(retry);
        }
        if let Some(clock) = self.clock {
            builder = builder.clock(clock);
        }
        if let Some(sleeper) = self.sleeper {
            builder = builder.sleeper(sleeper);
        }
        if let Some(timeouts) = self.timeouts {
            builder = builder.timeouts(timeouts);
        }
        if let Some(client) = self.http_client {
            builder = builder.http_client(client);
        }
        if let Some(limits) = self.answer_limits {
            builder = builder.answer_limits(limits);
        }
        if let Some(observer) = self.observer {
            builder = builder.observer(observer);
        }
        builder
    }
}

impl PipelineBuilder {
    /// Applies a client's [`ClientOptions`].
    pub fn options(self, options: ClientOptions) -> Self {
        options.apply(self)
    }
}
