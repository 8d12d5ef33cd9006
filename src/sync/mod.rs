//! The synchronizer: co-sell referrals and CRM opportunities kept in step, both ways.
//!
//! - [`Synchronizer`]: built from a Partner Center client, a [`Crm`], a
//!   [`DeclarativeMapping`](crate::mapping::DeclarativeMapping), a
//!   [`SyncStore`](crate::store::SyncStore) and a tenant; syncs one pair per call (from a
//!   webhook event, a referral id or a CRM id), polls the CRM, and answers a [`SyncOutcome`]
//!   per pair.
//! - [`Crm`]: what the sync needs of a CRM, implemented by [`DataverseCrm`] and
//!   [`SalesforceCrm`].
//! - [`RecordId`]: ids compared as each service means them (Salesforce's 15- and 18-character
//!   forms, GUIDs with or without braces, in any case), so a link is found however a side
//!   spells the other's id.
//! - [`Scope`]: which referrals are synced — direction, kind of deal ([`ReferralKind`]: co-sell,
//!   marketplace lead, qualified lead, by Partner Center's documented classification), status,
//!   and an initial-load cut-off — with the [`Exclusion`] that names why one is left out.

mod batching;
mod crm;
mod dataverse;
mod engine;
mod ids;
mod listing;
mod outcome;
mod salesforce;
mod scope;
mod setup;

pub use crm::{CreateDefaults, Crm, CrmRecord, SyncColumns};
pub use dataverse::DataverseCrm;
pub use engine::{
    DeadLetterRetries, PlannedAction, PlannedPair, RunReport, Schedule, SweepMode, SweepPause,
    SweepPreview, SweepProgress, SweepReport, SweepRequests, Synchronizer, SynchronizerBuilder,
};
pub use ids::RecordId;
pub use outcome::{OutcomeKind, SyncOutcome, SyncSide};
pub use salesforce::SalesforceCrm;
pub use scope::{Exclusion, ReferralKind, Scope};
pub use setup::{SetupError, SetupProblem};
