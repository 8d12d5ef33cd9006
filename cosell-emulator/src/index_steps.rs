//! The random edits the index property tests of both CRMs replay: creates, renames and deletes
//! of one record type, with names that differ only in case (non-ASCII text included).

use proptest::prelude::*;

/// One edit. Rows are chosen modulo the number that exist.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// A record named `NAMES[.0]` with key number `.1`.
    Create(usize, usize),
    /// Row `.0` renamed to `NAMES[.1]`.
    Rename(usize, usize),
    /// Row `.0` deleted.
    Delete(usize),
}

pub(crate) const NAMES: [&str; 5] = ["Acme", "ACME", "acme", "Zeta", "Éclair"];

pub(crate) fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..NAMES.len(), 0..6usize).prop_map(|(n, k)| Step::Create(n, k)),
        2 => (0..16usize, 0..NAMES.len()).prop_map(|(r, n)| Step::Rename(r, n)),
        1 => (0..16usize).prop_map(Step::Delete),
    ]
}
