//! Keeping referrals and CRM opportunities in step: the pieces the synchronizer composes.
//!
//! - [`RecordId`]: ids compared as each service means them (Salesforce's 15- and 18-character
//!   forms, GUIDs with or without braces, in any case), so a link is found however a side
//!   spells the other's id.
//! - [`Scope`]: which referrals are synced — direction, kind of deal ([`ReferralKind`]: co-sell,
//!   marketplace lead, qualified lead, by Partner Center's documented classification), status,
//!   and an initial-load cut-off — with the [`Exclusion`] that names why one is left out.

mod ids;
mod scope;

pub use ids::RecordId;
pub use scope::{Exclusion, ReferralKind, Scope};
