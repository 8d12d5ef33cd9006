//! The Partner Center co-sell referrals API (`api.partner.microsoft.com/v1.0/engagements/referrals`).
//!
//! - [`PartnerCenter`]: the client; [`PartnerCenter::referrals`] has every operation: list
//!   (typed, escaped filters and paging), get, related referrals, create, JSON Patch update
//!   with status-transition checks, and the legacy PUT.
//! - [`Referral`] and its nested objects: the whole resource, with open enums and unknown
//!   fields kept, so a read-modify-write loses nothing.
//! - [`ReferralPatch`]: a JSON Patch that can only hold `replace` and `add`.
//!
//! A stale `If-Match` (412 `preconditionFailed` / `resourceModified`) or a 409 is a conflict:
//! match it with [`Error::is_conflict`](crate::Error::is_conflict), or on
//! [`ApiErrorKind::PreconditionFailed`](crate::error::ApiErrorKind::PreconditionFailed) /
//! [`ApiErrorKind::Conflict`](crate::error::ApiErrorKind::Conflict) via
//! [`Error::kind`](crate::Error::kind); the service's `code` and nested `innerError` codes are in
//! [`ApiError`](crate::error::ApiError). A 412 on the replay of an update whose first attempt
//! may have been applied unanswered is not a conflict but
//! [`Error::OutcomeUnknown`](crate::Error::OutcomeUnknown): re-read the referral.
//!
//! ```no_run
//! use cosell::auth::StaticToken;
//! use cosell::partner_center::{PartnerCenter, ReferralStatus, ReferralSubstatus};
//! use cosell::partner_center::referrals::ReferralPatch;
//!
//! # async fn run() -> cosell::Result<()> {
//! let client = PartnerCenter::builder(StaticToken::new("user-delegated-token")).build()?;
//! let referral = client.referrals().get("4f0c5b1e-0000-0000-0000-0000000000e1").await?;
//! let patch = ReferralPatch::new().status(ReferralStatus::Closed).substatus(ReferralSubstatus::Won);
//! match client.referrals().update_referral(&referral, patch).send().await {
//!     Err(e) if e.is_conflict() => println!("changed meanwhile: re-read and try again"),
//!     other => { other?; }
//! }
//! # Ok(()) }
//! ```

mod client;
mod enums;
mod model;
mod patch;
mod profile;
mod query;
mod transition;
mod wire;

pub use client::{
    CreateReferral, DEFAULT_BASE_URL, ListReferrals, PartnerCenter, PartnerCenterBuilder,
    PutReferral, Referrals, TOKEN_RESOURCE, UpdateReferral,
};
pub use enums::{
    AssistanceRequestCode, CustomerMarketplaceIntent, CustomerProfileIdType, CustomerSize,
    ReferralDirection, ReferralQualification, ReferralStatus, ReferralSubstatus, ReferralType,
    SalesStage, SolutionTagType, TargetType,
};
pub use model::{
    AdditionalRequirements, Address, Consent, ContactPreference, CustomerProfile,
    CustomerProfileId, CustomerProfileIds, ExtraFields, InviteContext, InvitedBy, IotRequirements,
    Link, Member, Referral, ReferralCategory, ReferralDetails, ReferralLinks, ReferralRequirements,
    RequirementAttribute, SolutionTag, TagRef, Target, TrackingInfo,
};
pub use patch::{PatchOp, PatchOperation, ReferralPatch};
pub use profile::{CLIENT_REQUEST_ID_HEADER, CORRELATION_ID_HEADER, ReferralsProfile};
pub use query::{ReferralOrderField, ReferralQuery, odata_string};
pub use transition::{allowed_next_statuses, allowed_substatuses, check_transition};
