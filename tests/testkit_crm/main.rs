//! The Dataverse and Salesforce emulators, driven by the crate's own clients.
#![cfg(feature = "testkit")]

mod dataverse;
mod salesforce;
