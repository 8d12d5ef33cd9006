//! Partner Center: the co-sell referrals API and the webhook registration API.

pub mod referrals;

pub use referrals::{
    Address, Consent, CustomerProfile, Member, PartnerCenter, PartnerCenterBuilder, Referral,
    ReferralDetails, ReferralDirection, ReferralPatch, ReferralStatus, ReferralSubstatus,
    ReferralType,
};
