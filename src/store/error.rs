//! What a store operation can fail with.

/// A store operation's failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The lease or pair lock named by the update is no longer held by its fencing token (it
    /// lapsed and someone else took it): the worker must stop and let the new holder work.
    #[error("{what} is no longer held by fencing token {token}")]
    Fenced {
        /// What the update was fenced by (a pair, a lease name).
        what: String,
        /// The token the update carried.
        token: u64,
    },
    /// The update would break the store's rules: two links for one record, an unknown id.
    #[error("refused by the store: {0}")]
    Refused(String),
    /// The storage behind the store failed (I/O, a database error); the update did not happen
    /// or its outcome is unknown, as the message says.
    #[error("store backend: {0}")]
    Backend(String),
}

impl StoreError {
    /// Whether the failure is a lost lease or lock.
    pub fn is_fenced(&self) -> bool {
        matches!(self, StoreError::Fenced { .. })
    }
}

/// The store's result type.
pub type StoreResult<T> = std::result::Result<T, StoreError>;
