//! Salesforce emulator behaviour.
