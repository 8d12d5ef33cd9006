//! Dataverse emulator behaviour.
