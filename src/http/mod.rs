//! The one request pipeline every client sends through:
//! token → request → classify → retry → decode.
//!
//! A [`Pipeline`] is built once per API with that API's [`ServiceProfile`] and shared (it is a
//! cheap handle). Each call is described with a [`RequestBuilder`] and ends in
//! [`RequestBuilder::send`] (a raw [`Response`]) or [`RequestBuilder::send_json`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use cosell::auth::StaticToken;
//! use cosell::http::{GenericProfile, Pipeline};
//!
//! # async fn run() -> cosell::Result<()> {
//! let pipeline = Pipeline::builder(GenericProfile)
//!     .base_url("https://api.example.com/v1/")?
//!     .token_provider(Arc::new(StaticToken::new("token")))
//!     .build()?;
//! let items: serde_json::Value = pipeline
//!     .get(["items", "42"])
//!     .query("$select", "name")
//!     .send_json()
//!     .await?;
//! # let _ = items; Ok(()) }
//! ```

mod base_url;
mod clock;
mod limits;
mod observer;
mod options;
mod pipeline;
mod profile;
mod request;
mod retry;

pub use base_url::{BaseUrl, is_loopback, validate_base_url};
pub(crate) use clock::lock;
pub use clock::{Clock, ManualClock, RecordingSleeper, Sleeper, SystemClock, TokioSleeper};
pub use limits::{AnswerKind, AnswerLimits};
pub use observer::{AttemptInfo, RequestObserver};
pub use options::ClientOptions;
pub use pipeline::{Pipeline, PipelineBuilder, Timeouts};
pub(crate) use profile::part_error;
pub use profile::{
    ErrorDetails, GenericProfile, ServiceProfile, classify_status, parse_error_body,
};
pub use request::{RequestBuilder, Response};
pub use retry::{RetryPolicy, parse_retry_after};

/// The `User-Agent` every request carries.
pub const USER_AGENT: &str = concat!("cosell/", env!("CARGO_PKG_VERSION"));
