//! What the store implementations share: times as stored, record keys, link states.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::{LinkState, RecordRef, StoreError, StoreResult};

/// A backend failure, with the backend's own message.
pub(super) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// An instant as the database stores it: microseconds since the Unix epoch.
pub(super) fn micros(ts: Timestamp) -> i64 {
    ts.as_microsecond()
}

/// An instant read back from [`micros`].
pub(super) fn instant(micros: i64) -> StoreResult<Timestamp> {
    Timestamp::from_microsecond(micros).map_err(backend)
}

/// When a claim of `ttl` made at `now` lapses (saturating rather than overflowing).
pub(super) fn until(now: Timestamp, ttl: Duration) -> Timestamp {
    now.checked_add(SignedDuration::try_from(ttl).unwrap_or(SignedDuration::MAX))
        .unwrap_or(Timestamp::MAX)
}

/// A record as the stores key it: its side and its id.
pub(super) fn kind(record: &RecordRef) -> (&'static str, &str) {
    match record {
        RecordRef::Referral(id) => ("referral", id),
        RecordRef::Crm(id) => ("crm", id),
    }
}

/// Records in the one order every lock takes them in, without repeats.
pub(super) fn sorted(records: &[RecordRef]) -> Vec<RecordRef> {
    let mut records = records.to_vec();
    records.sort();
    records.dedup();
    records
}

/// A link state as stored.
pub(super) fn state_text(state: LinkState) -> &'static str {
    match state {
        LinkState::Pending => "pending",
        LinkState::Linked => "linked",
        LinkState::Unlinked => "unlinked",
    }
}

/// A link state read back from [`state_text`].
pub(super) fn state_of(text: &str) -> StoreResult<LinkState> {
    match text {
        "pending" => Ok(LinkState::Pending),
        "linked" => Ok(LinkState::Linked),
        "unlinked" => Ok(LinkState::Unlinked),
        other => Err(backend(format!(
            "unknown link state {other:?} in the store"
        ))),
    }
}
