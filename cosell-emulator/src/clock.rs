//! The emulator's sense of time: every stamp it hands out (`updatedDateTime`, `modifiedon`,
//! `SystemModstamp`), every token expiry and every journal time comes from one
//! [`EmulatorClock`], so a test can fix and move time instead of waiting for it.
//!
//! The emulator does not depend on any client, so the trait is its own; a test that drives a
//! client's clock too adapts one manual clock to both traits (each is one `now()` method).
//!
//! ```
//! use std::sync::Arc;
//! use cosell_emulator::{Emulator, EmulatorClock, ManualClock};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let clock = Arc::new(ManualClock::new("2026-03-01T09:00:00Z".parse().unwrap()));
//! let emulator = Emulator::builder().clock(clock.clone()).start().await.unwrap();
//! let referral = emulator.partner_center().share_referral(serde_json::json!({})).unwrap();
//! assert_eq!(referral["createdDateTime"], "2026-03-01T09:00:00.0000000Z");
//! clock.advance(jiff::SignedDuration::from_secs(90));
//! assert_eq!(clock.now().to_string(), "2026-03-01T09:01:30Z");
//! # });
//! ```

use std::fmt;
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

use crate::lock;

/// Where the emulator reads the current instant.
pub trait EmulatorClock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock: the default.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl EmulatorClock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that stands still until a test sets or advances it.
///
/// ```
/// use cosell_emulator::{EmulatorClock, ManualClock};
///
/// let clock = ManualClock::new(jiff::Timestamp::UNIX_EPOCH);
/// clock.advance(jiff::SignedDuration::from_secs(1));
/// assert_eq!(clock.now().as_second(), 1);
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    /// A clock reading `at`.
    pub fn new(at: Timestamp) -> Self {
        ManualClock {
            now: Mutex::new(at),
        }
    }

    /// Sets the clock (backwards too: a skewed clock is a scenario of its own).
    pub fn set(&self, at: Timestamp) {
        *lock(&self.now) = at;
    }

    /// Moves the clock by `by`, saturating at the ends of time.
    pub fn advance(&self, by: SignedDuration) {
        let mut now = lock(&self.now);
        *now = now.saturating_add(by).unwrap_or(*now);
    }
}

impl EmulatorClock for ManualClock {
    fn now(&self) -> Timestamp {
        *lock(&self.now)
    }
}
