//! A hook on the request pipeline: every attempt and every wait before a retry, as they happen,
//! for metrics (requests per service, throttling, latency) without parsing logs.

use std::fmt;
use std::time::Duration;

use http::{Method, StatusCode};

use crate::error::Service;

/// One attempt of a request, as a [`RequestObserver`] is told of it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AttemptInfo<'a> {
    /// The API.
    pub service: Service,
    /// The operation's name (`referrals.get`, `opportunities.update`, …).
    pub operation: &'a str,
    /// The method.
    pub method: &'a Method,
    /// The attempt's number within its call, from 1 (a replay with a fresh token keeps its
    /// number).
    pub attempt: u32,
    /// The status answered, or `None` when no answer came (a connection failure, an answer
    /// cut short).
    pub status: Option<StatusCode>,
    /// Whether the answer was the service's throttling signal (429, Salesforce's
    /// `REQUEST_LIMIT_EXCEEDED`).
    pub throttled: bool,
    /// From sending the request to its answer's end, on the machine's monotonic clock.
    pub latency: Duration,
}

/// Told of every attempt and every wait of the pipelines it is given to
/// ([`ClientOptions::observer`](super::ClientOptions::observer)). Calls are made inline on the
/// request's task: keep them cheap (increment counters, record a histogram sample).
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use cosell::http::{AttemptInfo, ClientOptions, RequestObserver};
///
/// #[derive(Debug, Default)]
/// struct Throttled(AtomicU64);
///
/// impl RequestObserver for Throttled {
///     fn attempt(&self, attempt: &AttemptInfo<'_>) {
///         if attempt.throttled {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let options = ClientOptions::default().observer(Arc::new(Throttled::default()));
/// # let _ = options;
/// ```
pub trait RequestObserver: Send + Sync + fmt::Debug {
    /// An attempt was answered, or failed without an answer.
    fn attempt(&self, attempt: &AttemptInfo<'_>);

    /// The pipeline waits `wait` before the next attempt of `operation` (`throttled`: because
    /// the service asked it to slow down).
    fn retry_wait(&self, _service: Service, _operation: &str, _wait: Duration, _throttled: bool) {}
}
