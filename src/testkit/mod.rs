//! An in-process emulator of the services `cosell` talks to, for offline tests and demos.
//!
//! [`Emulator::start`] serves each API on its own loopback port and returns their base URLs;
//! the same client code that talks to the real services talks to it unchanged. Every request is
//! journalled and counted per service and operation, so tests can assert how many calls a flow
//! made. Dropping the emulator stops it.
//!
//! Available behind the cargo feature `testkit`.
//!
//! ```
//! use cosell::auth::{ClientCredentials, EntraAuthority, TokenProvider};
//! use cosell::testkit::{EmulatedApi, Emulator};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let emulator = Emulator::start().await.unwrap();
//! let authority = EntraAuthority::new(&emulator.urls().entra_authority, "contoso").unwrap();
//! let credentials = ClientCredentials::new(
//!     authority,
//!     "app",
//!     "secret".to_string().into(),
//!     "https://contoso.crm.dynamics.com/.default",
//! )
//! .unwrap();
//! credentials.token().await.unwrap();
//! assert_eq!(emulator.count(EmulatedApi::Entra, "oauth.token"), 1);
//! # });
//! ```

mod dataverse;
mod faults;
mod frame;
mod journal;
mod partner_center;
mod salesforce;
mod tokens;

pub use dataverse::{
    ColumnKind, DATAVERSE_ORG_URL, DataverseControl, DataverseSample, DataverseWrite,
    DataverseWriteSource,
};
pub use faults::{Fault, FaultPlan, FaultRule, Trigger};
pub use frame::{
    EmulatedApi, EmulatedService, Emulator, EmulatorPorts, EmulatorUrls, ServiceReply,
    ServiceRequest,
};
pub use journal::JournalEntry;
pub use partner_center::{
    Delivery, DeliveryAttempt, DeliveryPolicy, DeliveryState, PartnerCenterControl,
};
pub use salesforce::{RecordedWrite, SalesforceControl};
pub use tokens::{SALESFORCE_AUDIENCE, TokenCheck, TokenStore};
