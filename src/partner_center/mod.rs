//! Partner Center: the co-sell referrals API and the webhook registration API.

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
