//! An emulator of the services a co-sell integration talks to — Microsoft Entra ID, the Partner
//! Center referrals and webhooks APIs, the Dataverse Web API and the Salesforce REST API — for
//! offline tests and demos, in Rust or in any other language.
//!
//! [`Emulator::start`] serves each API on its own loopback port and returns their base URLs;
//! client code that talks to the real services talks to it unchanged. Every request is journalled
//! and counted per service and operation, so tests can assert how many calls a flow made.
//! Dropping the emulator stops it. The `cosell-emulator` binary runs it on its own, on fixed
//! ports with sample data.
//!
//! The emulator is written from the services' documentation and shares no code with any client:
//! it is the oracle clients are tested against. Its control API works on JSON values, as the
//! services' wire formats do.
//!
//! ```
//! use cosell_emulator::{EmulatedApi, Emulator};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let emulator = Emulator::start().await.unwrap();
//! let token_url = format!("{}contoso/oauth2/v2.0/token", emulator.urls().entra_authority);
//! let answer = reqwest::Client::new()
//!     .post(token_url)
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .body("grant_type=client_credentials&client_id=app&client_secret=secret\
//!            &scope=https%3A%2F%2Fcontoso.crm.dynamics.com%2F.default")
//!     .send()
//!     .await
//!     .unwrap();
//! assert!(answer.status().is_success());
//! assert_eq!(emulator.count(EmulatedApi::Entra, "oauth.token"), 1);
//! # });
//! ```

#![warn(missing_docs)]

mod clock;
mod connection;
mod dataverse;
mod discovery;
mod error;
mod faults;
mod frame;
#[cfg(test)]
mod index_steps;
mod journal;
mod partner_center;
pub mod query_text;
mod salesforce;
pub mod standalone;
mod tls;
mod tokens;

pub use clock::{EmulatorClock, ManualClock, SystemClock};
pub use dataverse::{
    ColumnKind, DATAVERSE_ORG_URL, DataverseControl, DataverseSample, DataverseWrite,
    DataverseWriteSource,
};
pub use error::{Error, Result};
pub use faults::{Fault, FaultPlan, FaultRule, Trigger};
pub use frame::{
    EmulatedApi, EmulatedService, Emulator, EmulatorBuilder, EmulatorPorts, EmulatorUrls,
    ServiceReply, ServiceRequest,
};
pub use journal::{CALLER_HEADER, JournalEntry};
pub use partner_center::{
    Delivery, DeliveryAttempt, DeliveryPolicy, DeliveryState, PartnerCenterControl,
};
pub use partner_center::{SIGNING_CERTIFICATE_DER, SIGNING_CERTIFICATE_PEM};
pub use salesforce::{
    API_VERSION as SALESFORCE_API_VERSION, ApiUsage, FieldType, RecordedWrite, SalesforceControl,
};
pub use tokens::{SALESFORCE_AUDIENCE, TokenCheck, TokenStore};

/// Locks a mutex, recovering from poisoning: the emulator's state is consistent after every
/// statement that holds one of its locks.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
