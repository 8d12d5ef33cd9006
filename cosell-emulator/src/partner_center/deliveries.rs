//! Webhook deliveries: signed POSTs from a background task, retried, then parked.
//!
//! Partner Center documents 10 delivery attempts, after which an event goes to an offline
//! queue and is not retried again; the interval is not documented. The emulator makes the
//! attempts [`DeliveryPolicy::retry_delay`] apart (short by default, so tests stay fast) and
//! then marks the delivery [`DeliveryState::Parked`]. Delivery faults from the fault plan
//! (duplicate, reorder, drop) are drawn once per event.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use jiff::Timestamp;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::clock::EmulatorClock;
use crate::faults::{Fault, FaultPlan};
use crate::frame::EmulatedApi;
use crate::lock;

/// How deliveries are attempted.
///
/// ```
/// use std::time::Duration;
/// use cosell_emulator::DeliveryPolicy;
///
/// let policy = DeliveryPolicy { retry_delay: Duration::from_millis(1), ..DeliveryPolicy::default() };
/// assert_eq!(policy.max_attempts, 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Attempts before an event is parked (Partner Center documents 10).
    pub max_attempts: usize,
    /// The wait between two attempts of one event (default 20 ms).
    pub retry_delay: Duration,
    /// How long the receiver may take to answer one attempt (default 5 s).
    pub timeout: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            max_attempts: 10,
            retry_delay: Duration::from_millis(20),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryState {
    /// Waiting for its first or next attempt.
    Pending,
    /// Held back by a reorder fault until the next event is delivered.
    HeldBack,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed: moved to the offline queue, never retried.
    Parked,
    /// Never sent (a drop fault).
    Dropped,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryAttempt {
    /// The receiver's status, if it answered.
    pub status: Option<u16>,
    /// The transport error, if it did not.
    pub error: Option<String>,
    /// When the attempt was made.
    pub at: Timestamp,
}

impl DeliveryAttempt {
    /// Whether the receiver answered 2xx.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// One event sent (or to be sent) to the registered URL.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Delivery {
    /// The delivery's number, from 0, in dispatch order.
    pub id: usize,
    /// The tenant whose registration it goes to (`None` for the default tenant).
    pub tenant: Option<String>,
    /// The event name (`referral-updated`).
    pub event_name: String,
    /// The referral the event is about, if any.
    pub referral_id: Option<String>,
    /// The URL it goes to.
    pub url: String,
    /// The exact body sent (signed as is).
    pub body: Bytes,
    /// The headers sent, signature included.
    pub headers: HeaderMap,
    /// Where it stands.
    pub state: DeliveryState,
    /// Every attempt so far.
    pub attempts: Vec<DeliveryAttempt>,
    /// Sent before the write that caused it was visible ([`Fault::DeliverBeforeVisible`]).
    pub ahead_of_write: bool,
}

/// An event ready to send.
pub(crate) struct Outgoing {
    pub(crate) tenant: Option<String>,
    pub(crate) event_name: String,
    pub(crate) referral_id: Option<String>,
    pub(crate) url: String,
    pub(crate) body: Bytes,
    pub(crate) headers: HeaderMap,
}

enum Command {
    Deliver(usize),
    Hold(usize),
    Flush,
}

/// The delivery records, the queue to the background sender, and the count of deliveries
/// not yet settled.
pub(crate) struct Deliveries {
    records: Arc<Mutex<Vec<Delivery>>>,
    policy: Arc<Mutex<DeliveryPolicy>>,
    sender: mpsc::UnboundedSender<Command>,
    unsettled: Arc<watch::Sender<usize>>,
    faults: Arc<FaultPlan>,
    worker: JoinHandle<()>,
}

impl Deliveries {
    /// Starts the background sender (on the current tokio runtime).
    pub(crate) fn start(faults: Arc<FaultPlan>, clock: Arc<dyn EmulatorClock>) -> Self {
        let records = Arc::new(Mutex::new(Vec::new()));
        let policy = Arc::new(Mutex::new(DeliveryPolicy::default()));
        let (sender, receiver) = mpsc::unbounded_channel();
        let unsettled = Arc::new(watch::Sender::new(0));
        let worker = Worker {
            records: records.clone(),
            policy: policy.clone(),
            unsettled: unsettled.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            retries: VecDeque::new(),
            held: None,
            clock,
        };
        Deliveries {
            records,
            policy,
            sender,
            unsettled,
            faults,
            worker: tokio::spawn(worker.run(receiver)),
        }
    }

    /// Queues an event, applying any delivery fault; returns the ids of its delivery records.
    pub(crate) fn dispatch(&self, outgoing: Outgoing) -> Vec<usize> {
        let fault = self
            .faults
            .delivery_fault(EmulatedApi::PartnerCenterWebhooks);
        let copies = if fault == Some(Fault::DuplicateDelivery) {
            2
        } else {
            1
        };
        let mut ids = Vec::new();
        for _ in 0..copies {
            let state = match fault {
                Some(Fault::DropDelivery) => DeliveryState::Dropped,
                Some(Fault::ReorderDelivery) => DeliveryState::HeldBack,
                _ => DeliveryState::Pending,
            };
            let id = {
                let mut records = lock(&self.records);
                let id = records.len();
                records.push(Delivery {
                    id,
                    tenant: outgoing.tenant.clone(),
                    event_name: outgoing.event_name.clone(),
                    referral_id: outgoing.referral_id.clone(),
                    url: outgoing.url.clone(),
                    body: outgoing.body.clone(),
                    headers: outgoing.headers.clone(),
                    state,
                    attempts: Vec::new(),
                    ahead_of_write: fault == Some(Fault::DeliverBeforeVisible),
                });
                id
            };
            ids.push(id);
            let command = match state {
                DeliveryState::Dropped => continue,
                DeliveryState::HeldBack => Command::Hold(id),
                _ => Command::Deliver(id),
            };
            self.unsettled.send_modify(|n| *n += 1);
            if self.sender.send(command).is_err() {
                // The sender is gone only when the emulator is shutting down.
                self.unsettled.send_modify(|n| *n -= 1);
            }
        }
        ids
    }

    pub(crate) fn records(&self) -> Vec<Delivery> {
        lock(&self.records).clone()
    }

    pub(crate) fn record(&self, id: usize) -> Option<Delivery> {
        lock(&self.records).get(id).cloned()
    }

    pub(crate) fn set_policy(&self, policy: DeliveryPolicy) {
        *lock(&self.policy) = policy;
    }

    /// Releases any held-back event, then waits until every delivery is delivered or parked.
    pub(crate) async fn settle(&self) {
        if self.sender.send(Command::Flush).is_err() {
            return;
        }
        let mut unsettled = self.unsettled.subscribe();
        // Fails only if the sender is dropped, i.e. the emulator is gone: nothing to wait for.
        let _ = unsettled.wait_for(|n| *n == 0).await;
    }

    pub(crate) fn shutdown(&self) {
        self.worker.abort();
    }
}

struct Worker {
    records: Arc<Mutex<Vec<Delivery>>>,
    policy: Arc<Mutex<DeliveryPolicy>>,
    unsettled: Arc<watch::Sender<usize>>,
    client: reqwest::Client,
    /// Failed deliveries waiting for their next attempt, in due order.
    retries: VecDeque<(Instant, usize)>,
    held: Option<usize>,
    clock: Arc<dyn EmulatorClock>,
}

impl Worker {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            let due = self.retries.front().map(|(due, _)| *due);
            tokio::select! {
                command = commands.recv() => match command {
                    None => return,
                    Some(Command::Deliver(id)) => {
                        self.attempt(id).await;
                        if let Some(held) = self.held.take() {
                            self.attempt(held).await;
                        }
                    }
                    Some(Command::Hold(id)) => {
                        if let Some(previous) = self.held.replace(id) {
                            self.attempt(previous).await;
                        }
                    }
                    Some(Command::Flush) => {
                        if let Some(held) = self.held.take() {
                            self.attempt(held).await;
                        }
                    }
                },
                () = sleep_until(due), if due.is_some() => {
                    if let Some((_, id)) = self.retries.pop_front() {
                        self.attempt(id).await;
                    }
                }
            }
        }
    }

    async fn attempt(&mut self, id: usize) {
        let Some((url, body, headers)) = lock(&self.records)
            .get(id)
            .map(|d| (d.url.clone(), d.body.clone(), d.headers.clone()))
        else {
            return;
        };
        let policy = *lock(&self.policy);
        let answer = self
            .client
            .post(&url)
            .headers(headers)
            .body(body)
            .timeout(policy.timeout)
            .send()
            .await;
        let attempt = match answer {
            Ok(response) => DeliveryAttempt {
                status: Some(response.status().as_u16()),
                error: None,
                at: self.clock.now(),
            },
            Err(e) => DeliveryAttempt {
                status: None,
                error: Some(e.without_url().to_string()),
                at: self.clock.now(),
            },
        };
        let succeeded = attempt.succeeded();
        let settled = {
            let mut records = lock(&self.records);
            let Some(delivery) = records.get_mut(id) else {
                return;
            };
            delivery.attempts.push(attempt);
            if succeeded {
                delivery.state = DeliveryState::Delivered;
            } else if delivery.attempts.len() >= policy.max_attempts {
                delivery.state = DeliveryState::Parked;
            } else {
                delivery.state = DeliveryState::Pending;
            }
            delivery.state != DeliveryState::Pending
        };
        if settled {
            self.unsettled.send_modify(|n| *n = n.saturating_sub(1));
        } else {
            self.retries
                .push_back((Instant::now() + policy.retry_delay, id));
        }
    }
}

async fn sleep_until(due: Option<Instant>) {
    if let Some(due) = due {
        tokio::time::sleep_until(due).await;
    }
}
