//! What the emulator received: a journal of requests and counts per operation.
//!
//! Each entry carries when the request arrived and when it was answered, both as clock time and
//! as a position in one sequence shared by every service: the clock may stand still in a test,
//! the sequence never does, so two entries overlapped exactly when their sequence spans do.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{Method, StatusCode};
use jiff::Timestamp;

use super::frame::EmulatedApi;
use crate::lock;

/// The request header a client sets to name itself in the journal (a worker id, a thread).
pub const CALLER_HEADER: &str = "x-emulator-caller";

/// One request the emulator answered.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JournalEntry {
    /// The service that answered.
    pub api: EmulatedApi,
    /// The operation it was counted as.
    pub operation: &'static str,
    /// The method.
    pub method: Method,
    /// The path as received.
    pub path: String,
    /// The raw query string.
    pub query: Option<String>,
    /// The status answered.
    pub status: StatusCode,
    /// When the request arrived, on the emulator's clock.
    pub started: Timestamp,
    /// When it was answered, on the emulator's clock.
    pub at: Timestamp,
    /// The request's arrival in the sequence every service shares.
    pub start_sequence: u64,
    /// The answer's place in that sequence (always after `start_sequence`).
    pub end_sequence: u64,
    /// The record the request read or wrote, when it names one: `referrals/<id>`,
    /// `opportunities(<guid>)`, `Opportunity/<id>`.
    pub record: Option<String>,
    /// The [`CALLER_HEADER`] the client sent.
    pub caller: Option<String>,
}

impl JournalEntry {
    /// Whether the two requests were in the emulator at the same time.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let emulator = cosell_emulator::Emulator::start().await.unwrap();
    /// let url = format!("{}contoso/oauth2/v2.0/token", emulator.urls().entra_authority);
    /// for _ in 0..2 {
    ///     reqwest::Client::new().post(&url).send().await.unwrap();
    /// }
    /// let journal = emulator.journal();
    /// assert!(!journal[0].overlaps(&journal[1]));
    /// # });
    /// ```
    pub fn overlaps(&self, other: &JournalEntry) -> bool {
        self.start_sequence < other.end_sequence && other.start_sequence < self.end_sequence
    }
}

/// A request on its way through: what the journal needs from its arrival.
pub(crate) struct Arrival {
    pub(crate) started: Timestamp,
    pub(crate) start_sequence: u64,
    pub(crate) caller: Option<String>,
}

/// What the journal needs from the answer.
pub(crate) struct Answered<'a> {
    pub(crate) api: EmulatedApi,
    pub(crate) operation: &'static str,
    pub(crate) method: &'a Method,
    pub(crate) path: &'a str,
    pub(crate) query: Option<String>,
    pub(crate) status: StatusCode,
    pub(crate) record: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Journal {
    entries: Mutex<Vec<JournalEntry>>,
    sequence: AtomicU64,
}

impl Journal {
    pub(crate) fn arrive(&self, now: Timestamp, caller: Option<String>) -> Arrival {
        Arrival {
            started: now,
            start_sequence: self.sequence.fetch_add(1, Ordering::SeqCst),
            caller,
        }
    }

    pub(crate) fn record(&self, arrival: Arrival, answered: Answered<'_>, now: Timestamp) {
        let end_sequence = self.sequence.fetch_add(1, Ordering::SeqCst);
        lock(&self.entries).push(JournalEntry {
            api: answered.api,
            operation: answered.operation,
            method: answered.method.clone(),
            path: answered.path.to_owned(),
            query: answered.query,
            status: answered.status,
            started: arrival.started,
            at: now,
            start_sequence: arrival.start_sequence,
            end_sequence,
            record: answered.record,
            caller: arrival.caller,
        });
    }

    pub(crate) fn entries(&self) -> Vec<JournalEntry> {
        lock(&self.entries).clone()
    }

    pub(crate) fn count(&self, api: EmulatedApi, operation: Option<&str>) -> usize {
        lock(&self.entries)
            .iter()
            .filter(|e| e.api == api && operation.is_none_or(|op| e.operation == op))
            .count()
    }
}
