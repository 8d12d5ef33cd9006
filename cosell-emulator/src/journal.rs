//! What the emulator received: a journal of requests and counts per operation.

use std::sync::Mutex;

use http::{Method, StatusCode};
use jiff::Timestamp;

use super::frame::EmulatedApi;
use crate::lock;

/// One request the emulator answered.
#[derive(Debug, Clone)]
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
    /// When it was answered.
    pub at: Timestamp,
}

#[derive(Debug, Default)]
pub(crate) struct Journal {
    entries: Mutex<Vec<JournalEntry>>,
}

impl Journal {
    pub(crate) fn record(
        &self,
        api: EmulatedApi,
        operation: &'static str,
        method: &Method,
        path: &str,
        query: Option<String>,
        status: StatusCode,
    ) {
        lock(&self.entries).push(JournalEntry {
            api,
            operation,
            method: method.clone(),
            path: path.to_owned(),
            query,
            status,
            at: Timestamp::now(),
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
