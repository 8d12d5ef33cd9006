//! # cosell
//!
//! Keep Microsoft Partner Center co-sell **referrals** and CRM **opportunities** (Dynamics 365
//! through Dataverse, and Salesforce) in step, in both directions.
//!
//! The crate is built in layers; each only uses the ones below it:
//!
//! - [`http`], [`auth`], [`paging`], [`error`]: the one request pipeline every client sends
//!   through (tokens, retries with `Retry-After`, typed errors, paging over next links).
//! - the API clients, each in its own module.
//!
//! Every call that reaches a server returns [`Result`], whose [`Error`] keeps what the server
//! said (status, the API's own code and message, request id, `Retry-After`, an excerpt of the
//! body). The few narrower error types (webhook verification and registration, mapping, stores)
//! convert into [`Error`] with `?` without losing their variant, transient flag or source.
//!
//! ```no_run
//! use std::sync::Arc;
//! use cosell::auth::{CachedTokenProvider, ClientCredentials, EntraAuthority};
//! use cosell::http::{GenericProfile, Pipeline};
//!
//! # async fn run() -> cosell::Result<()> {
//! let credentials = ClientCredentials::new(
//!     EntraAuthority::public_cloud("contoso.onmicrosoft.com"),
//!     "client-id",
//!     "client-secret".to_string().into(),
//!     "https://contoso.crm.dynamics.com/.default",
//! )?;
//! let pipeline = Pipeline::builder(GenericProfile)
//!     .base_url("https://contoso.crm.dynamics.com/api/data/v9.2/")?
//!     .token_provider(Arc::new(CachedTokenProvider::new(credentials)))
//!     .build()?;
//! let whoami: serde_json::Value = pipeline.get(["WhoAmI"]).send_json().await?;
//! # let _ = whoami; Ok(()) }
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
pub mod dataverse;
pub mod diff;
pub mod error;
mod field_update;
pub mod http;
pub mod mapping;
pub mod money;
mod nullable;
mod order;
pub mod paging;
pub mod partner_center;
pub mod salesforce;
pub mod store;
pub mod sync;
pub mod webhook;

pub use error::{Error, Result};

// Compiles the code of the API guide and the README as doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/api-guide.md")]
mod api_guide {}
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
pub use field_update::FieldUpdate;
pub use nullable::Nullable;
pub use order::Order;
