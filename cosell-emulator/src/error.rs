//! The emulator's own errors: starting it, and control-API input it refuses.

/// What the emulator's start-up and control API can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A port could not be bound, or a listener failed.
    #[error("emulator: {0}")]
    Startup(String),
    /// Input to the control API that the emulated service would refuse: an unknown id, a
    /// body that is not the service's JSON shape, a transition its rules forbid.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn startup(message: impl Into<String>) -> Self {
        Error::Startup(message.into())
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(message.into())
    }
}

/// The emulator's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
