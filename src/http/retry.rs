//! When and how long the pipeline waits before trying a request again.

use std::time::Duration;

use jiff::Timestamp;

/// How the pipeline retries.
///
/// Retried: connection failures, 408, 429, 500, 502, 503, 504, and whatever else an API's
/// profile classifies as transient (Salesforce's 403 `REQUEST_LIMIT_EXCEEDED`). A request that is
/// not idempotent is retried only when it provably never reached the server, or when the server
/// refused it before processing (a rate limit). A success answer whose body breaks off is not
/// sent again unless the request only reads: a write that was answered with success took
/// effect. When an attempt may have taken effect unanswered (no answer came back after sending,
/// or a server failure) and a replay then fails its precondition (412), the call fails with
/// [`Error::OutcomeUnknown`](crate::Error::OutcomeUnknown), never with a conflict.
///
/// The wait is the server's `Retry-After` (seconds or an HTTP date) when it sends one, and
/// otherwise full-jitter exponential back-off: a random delay between zero and
/// `min(max_backoff, initial_backoff × 2^(attempt-1))`. A `Retry-After` longer than
/// [`max_retry_after`](Self::max_retry_after) is not waited for: the call fails at once with the
/// server's answer, whose `retry_after` tells the caller when to come back.
///
/// ```
/// use std::time::Duration;
/// use cosell::http::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .max_attempts(6)
///     .deadline(Some(Duration::from_secs(120)));
/// assert_eq!(policy.attempts(), 6);
/// ```
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
    deadline: Option<Duration>,
    jitter_seed: Option<u64>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
            deadline: Some(Duration::from_secs(180)),
            jitter_seed: None,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        RetryPolicy::default().max_attempts(1)
    }

    /// Total attempts per call, the first included (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The back-off ceiling of the first retry; it doubles with each further retry.
    pub fn initial_backoff(mut self, delay: Duration) -> Self {
        self.initial_backoff = delay;
        self
    }

    /// The largest back-off ceiling.
    pub fn max_backoff(mut self, delay: Duration) -> Self {
        self.max_backoff = delay;
        self
    }

    /// The longest `Retry-After` the pipeline waits for.
    pub fn max_retry_after(mut self, delay: Duration) -> Self {
        self.max_retry_after = delay;
        self
    }

    /// The time a call may take, retries, waits and answers being read included; `None` for no
    /// limit. A retry whose wait would end past the deadline is not made (the call fails with
    /// the last failure), and an attempt still running at the deadline is abandoned: the call
    /// fails with a time-out ([`Error::is_timeout`](crate::Error::is_timeout)).
    pub fn deadline(mut self, deadline: Option<Duration>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Seeds the jitter, so that back-off delays repeat from run to run.
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }

    /// Total attempts per call.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    pub(crate) fn retry_after_cap(&self) -> Duration {
        self.max_retry_after
    }

    pub(crate) fn deadline_limit(&self) -> Option<Duration> {
        self.deadline
    }

    pub(crate) fn seed(&self) -> Option<u64> {
        self.jitter_seed
    }

    /// The full-jitter delay before retry number `retry` (1 for the first retry).
    pub(crate) fn backoff(&self, retry: u32, rng: &mut fastrand::Rng) -> Duration {
        let exp = retry.saturating_sub(1).min(31);
        let ceiling = self
            .initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.u64(0..=nanos))
    }
}

/// Reads a `Retry-After` value: delta seconds or an HTTP date, the latter measured against `now`.
/// A date in the past means "now".
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(u32::MAX as f64)));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = at.duration_since(now);
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 31 Dec 2025 23:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn backoff_stays_under_its_ceiling() {
        let policy = RetryPolicy::default()
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_secs(1));
        let mut rng = fastrand::Rng::with_seed(7);
        for retry in 1..40 {
            let ceiling =
                Duration::from_millis(100 * (1 << (retry - 1).min(20))).min(Duration::from_secs(1));
            assert!(policy.backoff(retry, &mut rng) <= ceiling);
        }
    }
}
