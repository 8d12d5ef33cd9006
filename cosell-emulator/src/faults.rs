//! Fault injection: make an emulated service misbehave on purpose, reproducibly.
//!
//! A [`FaultRule`] names a service, optionally one operation, a [`Fault`] and a [`Trigger`]
//! (always, the first *n* matching requests, an explicit schedule, or a seeded rate). The same
//! seed and the same sequence of requests give the same faults.
//!
//! ```
//! use std::time::Duration;
//! use cosell_emulator::{EmulatedApi, Fault, FaultRule, Trigger};
//!
//! // Three 429s with `Retry-After: 1`, then normal answers.
//! let rule = FaultRule::new(EmulatedApi::Entra, Fault::TooManyRequests { retry_after: Duration::from_secs(1) })
//!     .operation("oauth.token")
//!     .trigger(Trigger::First(3));
//! # let _ = rule;
//! ```

use std::sync::Mutex;
use std::time::Duration;

use super::frame::EmulatedApi;
use crate::lock;

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer 429 with `Retry-After` (whole seconds), in the service's error format.
    TooManyRequests {
        /// The wait the answer asks for.
        retry_after: Duration,
    },
    /// Answer 503 in the service's error format.
    Unavailable,
    /// Answer 412 in the service's error format, as if the record had changed meanwhile.
    PreconditionFailed,
    /// Wait this long, then answer normally (longer than the client's timeout to make it time
    /// out).
    Latency(Duration),
    /// Handle the request, then send the status and part of the body and close the connection.
    CloseMidAnswer,
    /// Answer this instead, without handling the request (nothing is written): a malformed,
    /// oversized or wrongly encoded answer, as a broken proxy or a service bug might send.
    Answer {
        /// The status.
        status: u16,
        /// The `Content-Type` header.
        content_type: String,
        /// The body, as bytes (need not be UTF-8).
        body: Vec<u8>,
    },
    /// Handle the request (a write is applied), then close the connection before sending any
    /// byte of the answer: the client cannot know whether its request took effect.
    AnswerLost,
    /// Deliver a webhook event twice.
    DuplicateDelivery,
    /// Hold a webhook event back and deliver it after the next one.
    ReorderDelivery,
    /// Never deliver a webhook event.
    DropDelivery,
    /// Deliver a referral's webhook event at once, but keep the write that caused it invisible
    /// to the referrals API (reads answer the version before it; a created referral is not
    /// found) until [`PartnerCenterControl::reveal_writes`](crate::PartnerCenterControl::reveal_writes):
    /// a receiver that fetches on the event sees stale data.
    DeliverBeforeVisible,
}

impl Fault {
    /// Whether the fault applies to webhook deliveries rather than to requests.
    pub fn is_delivery_fault(&self) -> bool {
        matches!(
            self,
            Fault::DuplicateDelivery
                | Fault::ReorderDelivery
                | Fault::DropDelivery
                | Fault::DeliverBeforeVisible
        )
    }
}

/// When a rule fires, counted over the requests it matches.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Trigger {
    /// Every matching request.
    Always,
    /// The first `n` matching requests.
    First(usize),
    /// Matching request number *i* (from 0) fires when `schedule[i]` is true; past the end, no.
    Schedule(Vec<bool>),
    /// Each matching request fires with this probability, drawn from the plan's seeded
    /// generator.
    Rate(f64),
}

/// One fault and where it applies.
#[derive(Debug, Clone)]
pub struct FaultRule {
    api: EmulatedApi,
    operation: Option<String>,
    fault: Fault,
    trigger: Trigger,
}

impl FaultRule {
    /// `fault` on every request to `api`.
    pub fn new(api: EmulatedApi, fault: Fault) -> Self {
        FaultRule {
            api,
            operation: None,
            fault,
            trigger: Trigger::Always,
        }
    }

    /// Only requests counted as `operation` (as in the journal).
    pub fn operation(mut self, operation: impl Into<String>) -> Self {
        self.operation = Some(operation.into());
        self
    }

    /// When it fires.
    pub fn trigger(mut self, trigger: Trigger) -> Self {
        self.trigger = trigger;
        self
    }
}

#[derive(Debug)]
struct ActiveRule {
    rule: FaultRule,
    matched: usize,
}

#[derive(Debug)]
struct Plan {
    rules: Vec<ActiveRule>,
    rng: fastrand::Rng,
}

/// The faults in force on a running emulator.
#[derive(Debug)]
pub struct FaultPlan {
    plan: Mutex<Plan>,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            plan: Mutex::new(Plan {
                rules: Vec::new(),
                rng: fastrand::Rng::with_seed(0),
            }),
        }
    }
}

impl FaultPlan {
    /// Adds a rule; rules are tried in the order added and the first that fires wins.
    pub fn add(&self, rule: FaultRule) {
        lock(&self.plan).rules.push(ActiveRule { rule, matched: 0 });
    }

    /// Reseeds the generator behind [`Trigger::Rate`].
    pub fn seed(&self, seed: u64) {
        lock(&self.plan).rng = fastrand::Rng::with_seed(seed);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        lock(&self.plan).rules.clear();
    }

    /// The request fault, if any, for one request to `api` counted as `operation`.
    pub(crate) fn request_fault(&self, api: EmulatedApi, operation: &str) -> Option<Fault> {
        self.draw(api, Some(operation), false)
    }

    /// The delivery fault, if any, for one webhook delivery sent by `api`.
    pub fn delivery_fault(&self, api: EmulatedApi) -> Option<Fault> {
        self.draw(api, None, true)
    }

    fn draw(&self, api: EmulatedApi, operation: Option<&str>, delivery: bool) -> Option<Fault> {
        let mut plan = lock(&self.plan);
        let Plan { rules, rng } = &mut *plan;
        for active in rules.iter_mut() {
            let rule = &active.rule;
            if rule.api != api || rule.fault.is_delivery_fault() != delivery {
                continue;
            }
            if let (Some(wanted), Some(op)) = (&rule.operation, operation)
                && wanted != op
            {
                continue;
            }
            let index = active.matched;
            active.matched += 1;
            let fires = match &rule.trigger {
                Trigger::Always => true,
                Trigger::First(n) => index < *n,
                Trigger::Schedule(schedule) => schedule.get(index).copied().unwrap_or(false),
                Trigger::Rate(p) => rng.f64() < *p,
            };
            if fires {
                return Some(rule.fault.clone());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        let draws = |seed| {
            let plan = FaultPlan::default();
            plan.seed(seed);
            plan.add(
                FaultRule::new(EmulatedApi::Entra, Fault::Unavailable).trigger(Trigger::Rate(0.3)),
            );
            (0..200)
                .map(|_| {
                    plan.request_fault(EmulatedApi::Entra, "oauth.token")
                        .is_some()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
        let fired = draws(7).iter().filter(|f| **f).count();
        assert!((30..90).contains(&fired), "{fired} of 200 at rate 0.3");
    }

    #[test]
    fn first_and_schedule_triggers_count_only_matching_requests() {
        let plan = FaultPlan::default();
        plan.add(
            FaultRule::new(EmulatedApi::Salesforce, Fault::Unavailable)
                .operation("query")
                .trigger(Trigger::First(2)),
        );
        plan.add(
            FaultRule::new(EmulatedApi::Salesforce, Fault::PreconditionFailed)
                .trigger(Trigger::Schedule(vec![false, true])),
        );
        assert_eq!(plan.request_fault(EmulatedApi::Salesforce, "create"), None);
        assert_eq!(
            plan.request_fault(EmulatedApi::Salesforce, "query"),
            Some(Fault::Unavailable)
        );
        assert_eq!(
            plan.request_fault(EmulatedApi::Salesforce, "update"),
            Some(Fault::PreconditionFailed)
        );
        assert_eq!(
            plan.request_fault(EmulatedApi::Salesforce, "query"),
            Some(Fault::Unavailable)
        );
        assert_eq!(plan.request_fault(EmulatedApi::Salesforce, "query"), None);
        assert_eq!(plan.request_fault(EmulatedApi::Entra, "query"), None);
        assert_eq!(plan.delivery_fault(EmulatedApi::Salesforce), None);
    }
}
