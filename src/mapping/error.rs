//! Mapping errors and the issues a mapping reports without failing.

use super::value::Value;

/// A mapping that could not be applied. Every variant names the canonical field and, where there
/// is one, the value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    /// A path could not be parsed.
    #[error("field `{field}`: bad path `{path}`: {reason}")]
    BadPath {
        /// The canonical field.
        field: String,
        /// The path as written.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A wire value has the wrong type for the field.
    #[error("field `{field}`: `{path}` holds {value}, which is not a {expected}")]
    WrongType {
        /// The canonical field.
        field: String,
        /// Where the value was read.
        path: String,
        /// The value found.
        value: serde_json::Value,
        /// What the field expects.
        expected: String,
    },
    /// A canonical value cannot be written by the field's transform.
    #[error("field `{field}`: cannot write {value:?}: {reason}")]
    Unwritable {
        /// The canonical field.
        field: String,
        /// The value.
        value: Value,
        /// Why.
        reason: String,
    },
    /// A required field has no value on create.
    #[error("field `{field}` is required and has no value")]
    MissingRequired {
        /// The canonical field.
        field: String,
    },
    /// A referral cannot be created: Partner Center would refuse it. Every missing or unfit
    /// value is listed.
    #[error("the referral cannot be created: {}", list(missing))]
    IncompleteReferral {
        /// What is missing, each naming its Partner Center path.
        missing: Vec<MissingValue>,
    },
    /// A field named in a builder call does not exist.
    #[error("no field named `{field}`")]
    UnknownField {
        /// The name given.
        field: String,
    },
    /// The schema could not be built.
    #[error(transparent)]
    Schema(#[from] super::schema::SchemaError),
    /// A record could not be normalized.
    #[error(transparent)]
    Normalize(#[from] super::schema::NormalizeError),
}

fn list(missing: &[MissingValue]) -> String {
    missing
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A value Partner Center needs to create a referral and the record does not give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}`{}: {reason}", field.as_ref().map(|field| format!(" (field `{field}`)")).unwrap_or_default())]
pub struct MissingValue {
    /// Where the referral needs it (`customerProfile.address.country`).
    pub path: String,
    /// The canonical field mapped there, if one is.
    pub field: Option<String>,
    /// What is wrong (`required`, `a two-letter ISO 3166 code`, …).
    pub reason: String,
}

/// Something a mapping noticed and did not fail on: reported so that nothing is dropped silently.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MappingIssue {
    /// A choice value has no entry in the field's value map; the field was left absent (read) or
    /// not written (write).
    UnmappedValue {
        /// The canonical field.
        field: String,
        /// The value as found (wire or canonical), as text.
        value: String,
    },
    /// Text was cut to the target's length limit.
    Truncated {
        /// The canonical field.
        field: String,
        /// The length before the cut, in characters.
        original_chars: usize,
        /// The limit.
        max_chars: usize,
    },
    /// A write was held back by a status rule or an irreversible field.
    Held {
        /// The canonical field.
        field: String,
        /// Why it was not sent.
        reason: HoldReason,
    },
    /// The record's currency differs from the only currency the target takes.
    CurrencyMismatch {
        /// The record's currency.
        found: String,
        /// The target's currency.
        expected: String,
    },
}

/// Why a write was held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HoldReason {
    /// The referral is closed: Partner Center takes no more edits (reported in the audit trail).
    ReferralClosed,
    /// The referral is not accepted yet: CRM edits stay local until the CRM record leaves
    /// on-hold.
    NotAccepted,
    /// The flag cannot be turned back to false in Partner Center.
    Irreversible,
    /// The target requires a value there and cannot be cleared (Dataverse's
    /// `transactioncurrencyid`).
    Required,
    /// The status rules stop the value flowing this way: declined and expired are Partner
    /// Center's alone, and a Salesforce sales stage is not written while the status holds the
    /// stage (on hold, won, lost).
    StatusOneWay,
}
