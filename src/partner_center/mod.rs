//! Partner Center's two APIs, one client each, built alike (`X::builder(credentials)`):
//!
//! - [`referrals`]: the co-sell referrals API, [`PartnerCenter`];
//! - [`webhooks`]: the webhooks API, where the URL that receives events is registered,
//!   [`WebhooksClient`].
//!
//! Receiving those events (checking each callback's signature, reading it) is
//! [`cosell::webhook`](crate::webhook), outside this module since it calls no API.

pub mod referrals;
pub mod webhooks;

pub use referrals::{
    Address, Consent, CustomerProfile, Member, PartnerCenter, PartnerCenterBuilder, Referral,
    ReferralDetails, ReferralDirection, ReferralPatch, ReferralStatus, ReferralSubstatus,
    ReferralType,
};
pub use webhooks::{
    Overwrite, RegisterError, RegistrationAction, RegistrationHealth, RegistrationOutcome,
    WebhookRegistration, WebhooksClient,
};
