//! The diff engine: compares canonical records ([`crate::mapping::Record`]) field by field.
//!
//! - [`two_way`] / [`changes`] / [`is_same`]: which fields differ between two records.
//! - [`three_way`]: both sides against the last synced baseline, with each field's direction and
//!   conflict policy, giving a [`SyncPlan`]: the writes for each side, the conflicts and how each
//!   was settled, and the baseline to store after each side's write succeeds.
//! - [`ConvergenceHash`]: a stable SHA-256 fingerprint of a record, to drop echoes of our own
//!   writes cheaply.
//! - [`HeldLog`]: the held values already reported for a pair, so [`SyncPlan::report_held`]
//!   names each held value once.
//!
//! The engine does no I/O and knows nothing of the wire formats: a mapping renders each side's
//! `(field, new value)` list into that side's write. Nothing is allocated when nothing changed.
//!
//! ```
//! use cosell::diff;
//! use cosell::mapping::{fields, Schema, Value};
//!
//! let schema = Schema::cosell();
//! let baseline = schema.record().with(fields::DEAL_NAME, Value::text("Contoso"));
//! let plan = diff::three_way(&schema, &baseline, &baseline, &baseline);
//! assert!(plan.is_empty());
//! ```

mod hash;
mod resolve;
mod three_way;
mod two_way;

pub use hash::{ConvergenceHash, ParseHashError};
pub use three_way::{
    BaselineUpdate, Commit, Conflict, FieldChange, Held, HeldLog, HeldReason, Resolution,
    SideChanges, SyncPlan, WriteOutcome, three_way,
};
pub use two_way::{Changes, FieldDiff, changes, is_same, two_way};
