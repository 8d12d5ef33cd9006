//! The Dataverse and Salesforce emulators, driven by the crate's own clients.

mod dataverse;
mod salesforce;
