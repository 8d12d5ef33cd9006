//! Injected time: the wall clock and sleeping.
//!
//! The pipeline and the token cache never call the system clock or `tokio::time::sleep`
//! directly. Production code uses [`SystemClock`] and [`TokioSleeper`]; tests use
//! [`ManualClock`] and [`RecordingSleeper`], which returns at once and records the delay asked
//! for, so a test asserts the back-off instead of waiting for it.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use cosell::http::{Clock, ManualClock, RecordingSleeper, Sleeper};
//!
//! # tokio_test(async {
//! let clock = Arc::new(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
//! let sleeper = RecordingSleeper::with_clock(clock.clone());
//! sleeper.sleep(Duration::from_secs(2)).await;
//! assert_eq!(sleeper.sleeps(), vec![Duration::from_secs(2)]);
//! assert_eq!(clock.now().to_string(), "2026-01-01T00:00:02Z");
//! # });
//! # fn tokio_test(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// Something that waits.
#[async_trait]
pub trait Sleeper: Send + Sync + fmt::Debug {
    /// Waits for `duration`.
    async fn sleep(&self, duration: Duration);
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Sleeps on the tokio timer.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioSleeper;

#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = lock(&self.now);
        // A span too large for a timestamp saturates rather than panics.
        *now = now
            .checked_add(jiff::SignedDuration::try_from(by).unwrap_or(jiff::SignedDuration::MAX))
            .unwrap_or(Timestamp::MAX);
    }

    /// Sets the clock.
    pub fn set(&self, to: Timestamp) {
        *lock(&self.now) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *lock(&self.now)
    }
}

/// A sleeper that returns at once, records each delay, and moves a linked [`ManualClock`].
#[derive(Debug, Default)]
pub struct RecordingSleeper {
    sleeps: Mutex<Vec<Duration>>,
    clock: Option<Arc<ManualClock>>,
}

impl RecordingSleeper {
    /// A sleeper that only records.
    pub fn new() -> Self {
        Self::default()
    }

    /// A sleeper that records and advances `clock` by each delay.
    pub fn with_clock(clock: Arc<ManualClock>) -> Self {
        RecordingSleeper {
            sleeps: Mutex::default(),
            clock: Some(clock),
        }
    }

    /// Every delay asked for so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        lock(&self.sleeps).clone()
    }
}

#[async_trait]
impl Sleeper for RecordingSleeper {
    async fn sleep(&self, duration: Duration) {
        lock(&self.sleeps).push(duration);
        if let Some(clock) = &self.clock {
            clock.advance(duration);
        }
    }
}

/// Locks a mutex, recovering from poisoning: the data behind these locks is always consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
