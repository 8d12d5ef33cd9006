//! The referral resource and every object nested in it.
//!
//! Field names travel in camelCase. Every field is [`Nullable`]: absent, explicitly `null`, or a
//! value, so an explicit `null` (a field cleared in Partner Center) survives decoding and
//! encoding. Every struct keeps the fields it does not know in `extra`, so a referral read,
//! changed and written back (legacy PUT) loses nothing. Serde's derive reads the exact camelCase
//! names; [`Referral::from_json`] (used by the client) also reads other casings. Flags are read
//! from JSON booleans and from the strings `"true"` / `"false"`, as Microsoft's documentation
//! samples write them, and written as JSON booleans.

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::enums::{
    AssistanceRequestCode, CustomerMarketplaceIntent, CustomerProfileIdType, CustomerSize,
    ReferralDirection, ReferralQualification, ReferralStatus, ReferralSubstatus, ReferralType,
    SalesStage, SolutionTagType, TargetType,
};
use super::wire;
use crate::Nullable;
use crate::error::Result;

/// Fields the crate does not model, kept as they came.
pub type ExtraFields = Map<String, Value>;

/// A co-sell referral (lead or opportunity).
///
/// ```
/// use cosell::partner_center::{Referral, ReferralStatus};
///
/// let referral = Referral::from_json(br#"{
///     "id": "4f0c", "status": "Active", "eTag": "\"2500ec5a\"",
///     "details": {"dealValue": "75000.50", "currency": "EUR"},
///     "createdDateTime": "2018-10-30T21:03:42.4579542Z",
///     "futureField": {"kept": true}
/// }"#)?;
/// assert_eq!(referral.status.value(), Some(&ReferralStatus::Active));
/// assert_eq!(referral.deal_value().map(|v| v.to_string()).as_deref(), Some("75000.50"));
/// assert_eq!(referral.extra["futureField"]["kept"], true);
/// # Ok::<(), cosell::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Referral {
    /// The referral's id (a GUID).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub id: Nullable<String>,
    /// The engagement that links related referrals (both halves of a shared deal).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub engagement_id: Nullable<String>,
    /// The deal's name.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub name: Nullable<String>,
    /// The owning organization's id (`msft` for Microsoft).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub organization_id: Nullable<String>,
    /// The owning organization's name.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub organization_name: Nullable<String>,
    /// Your CRM's id for the lead or opportunity.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub external_reference_id: Nullable<String>,
    /// When the referral was created.
    #[serde(with = "wire::timestamp", skip_serializing_if = "Nullable::is_absent")]
    pub created_date_time: Nullable<Timestamp>,
    /// When the referral last changed.
    #[serde(with = "wire::timestamp", skip_serializing_if = "Nullable::is_absent")]
    pub updated_date_time: Nullable<Timestamp>,
    /// When the referral expires if not answered.
    #[serde(with = "wire::timestamp", skip_serializing_if = "Nullable::is_absent")]
    pub expiration_date_time: Nullable<Timestamp>,
    /// When the referral was accepted (the creation time for outgoing referrals).
    #[serde(with = "wire::timestamp", skip_serializing_if = "Nullable::is_absent")]
    pub accepted_date_time: Nullable<Timestamp>,
    /// When the referral was closed.
    #[serde(with = "wire::timestamp", skip_serializing_if = "Nullable::is_absent")]
    pub closed_date_time: Nullable<Timestamp>,
    /// Where the referral stands.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub status: Nullable<ReferralStatus>,
    /// The detail of the status.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub substatus: Nullable<ReferralSubstatus>,
    /// Why the referral is in its status (for example why it was lost).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub status_reason: Nullable<String>,
    /// Who sees the referral.
    #[serde(rename = "type", skip_serializing_if = "Nullable::is_absent")]
    pub referral_type: Nullable<ReferralType>,
    /// Where the qualification came from.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub qualification: Nullable<ReferralQualification>,
    /// Received or sent.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub direction: Nullable<ReferralDirection>,
    /// The source of a marketplace lead (values undocumented).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub referral_source: Nullable<String>,
    /// The call to action of a marketplace lead (values undocumented).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub call_to_action: Nullable<String>,
    /// Whether the customer means to buy through the marketplace.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub customer_marketplace_intent: Nullable<CustomerMarketplaceIntent>,
    /// The concurrency tag, quoted; send it back byte for byte as `If-Match`.
    #[serde(rename = "eTag", skip_serializing_if = "Nullable::is_absent")]
    pub e_tag: Nullable<String>,
    /// What the referral is aimed at.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub target: Nullable<Vec<Target>>,
    /// The customer.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub customer_profile: Nullable<CustomerProfile>,
    /// What the customer agreed to.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub consent: Nullable<Consent>,
    /// The deal: value, currency, closing date, requirements.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub details: Nullable<ReferralDetails>,
    /// The partner's team on the deal.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub team: Nullable<Vec<Member>>,
    /// Who invited the partner, and what help was asked for.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub invite_context: Nullable<InviteContext>,
    /// Read-only links; dropped before a legacy PUT.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub links: Nullable<ReferralLinks>,
    /// Microsoft-side identifiers of the deal.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub tracking_info: Nullable<TrackingInfo>,
    /// Registrations (shape undocumented).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub registrations: Nullable<Vec<Value>>,
    /// Registration status (seen: `None`, `ReviewPending`).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub registration_status: Nullable<String>,
    /// Whether the referral is marked as a favourite.
    #[serde(with = "wire::flag", skip_serializing_if = "Nullable::is_absent")]
    pub favorite: Nullable<bool>,
    /// The marketing campaign id.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub campaign_id: Nullable<String>,
    /// The sales stage.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub sales_stage: Nullable<SalesStage>,
    /// The lead quality (seen: `Unknown`).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub quality: Nullable<String>,
    /// Whether the referral was flagged as spam.
    #[serde(with = "wire::flag", skip_serializing_if = "Nullable::is_absent")]
    pub is_spam: Nullable<bool>,
    /// The partner's MPN id.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub mpn_id: Nullable<String>,
    /// The referral programme.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub referral_program: Nullable<String>,
    /// The deal's sensitivity (seen: `None`).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub deal_sensitivity: Nullable<String>,
    /// What created the referral (semantics undocumented).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub created_via: Nullable<String>,
    /// What last changed the referral (semantics undocumented).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub last_modified_via: Nullable<String>,
    /// The run that last changed the referral (semantics undocumented).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub last_run_id: Nullable<String>,
    /// Tags (shape undocumented).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub tags: Nullable<Vec<Value>>,
    /// Fields this crate does not model (`@odata.context` among them).
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// How a referral is classified, from its type, qualification and inviter (the rules of the
/// referrals API introduction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReferralCategory {
    /// A lead from the commercial marketplace (`Independent`, `Direct`, invited by `msft` or
    /// nobody).
    MarketplaceLead,
    /// A lead qualified by Microsoft (`Independent`, sales or marketing qualified, invited by
    /// `msft`).
    QualifiedLead,
    /// A co-sell opportunity (anything else with a known type).
    CoSellOpportunity,
    /// Not enough is known to say.
    Unclassified,
}

impl Referral {
    /// A referral to create, with the parts the service requires: its type, the customer, the
    /// customer's consent and the deal details.
    ///
    /// ```
    /// use cosell::partner_center::{Consent, CustomerProfile, Referral, ReferralDetails, ReferralType};
    ///
    /// let referral = Referral::new(
    ///     ReferralType::Independent,
    ///     CustomerProfile { name: "Fabrikam".into(), ..Default::default() },
    ///     Consent { consent_to_share_referral_with_microsoft_sellers: false.into(), ..Default::default() },
    ///     ReferralDetails { currency: "GBP".into(), ..Default::default() },
    /// );
    /// assert!(referral.id.is_absent());
    /// ```
    pub fn new(
        referral_type: ReferralType,
        customer_profile: CustomerProfile,
        consent: Consent,
        details: ReferralDetails,
    ) -> Self {
        Referral {
            referral_type: referral_type.into(),
            customer_profile: customer_profile.into(),
            consent: consent.into(),
            details: details.into(),
            ..Referral::default()
        }
    }

    /// Decodes a referral from JSON, reading field names case-insensitively (the service and
    /// its docs have used both camelCase and PascalCase) and flags from booleans or `"true"` /
    /// `"false"`. A failure is an [`Error::Decode`](crate::Error::Decode) naming the JSON path,
    /// of origin [`DecodeOrigin::Input`](crate::error::DecodeOrigin::Input).
    ///
    /// ```
    /// let referral = cosell::partner_center::Referral::from_json(
    ///     br#"{"Id": "1", "Consent": {"ConsentToToShareInfoWithOthers": true}}"#,
    /// )?;
    /// assert_eq!(referral.id.as_deref(), Some("1"));
    /// let consent = referral.consent.value().unwrap();
    /// assert_eq!(consent.consent_to_to_share_info_with_others, cosell::Nullable::Value(true));
    /// # Ok::<(), cosell::Error>(())
    /// ```
    pub fn from_json(body: &[u8]) -> Result<Referral> {
        wire::decode_referral(body)
    }

    /// The deal value (`details.dealValue`).
    pub fn deal_value(&self) -> Option<Decimal> {
        self.details
            .value()
            .and_then(|d| d.deal_value.value().copied())
    }

    /// Whether the referral is closed (won, lost, declined or expired): the service treats it as
    /// read-only.
    pub fn is_closed(&self) -> bool {
        self.status.value() == Some(&ReferralStatus::Closed)
    }

    /// The referral's category (marketplace lead, qualified lead, co-sell opportunity).
    pub fn category(&self) -> ReferralCategory {
        let inviter = self
            .invite_context
            .value()
            .and_then(|c| c.invited_by.value())
            .and_then(|b| b.organization_id.as_deref());
        let by_microsoft = inviter.is_some_and(|id| id.eq_ignore_ascii_case("msft"));
        match (self.referral_type.value(), self.qualification.value()) {
            (Some(ReferralType::Independent), Some(ReferralQualification::Direct))
                if inviter.is_none() || by_microsoft =>
            {
                ReferralCategory::MarketplaceLead
            }
            (
                Some(ReferralType::Independent),
                Some(
                    ReferralQualification::SalesQualified
                    | ReferralQualification::MarketingQualified,
                ),
            ) if by_microsoft => ReferralCategory::QualifiedLead,
            (Some(ReferralType::Independent | ReferralType::Shared), _) => {
                ReferralCategory::CoSellOpportunity
            }
            _ => ReferralCategory::Unclassified,
        }
    }
}

/// What a referral is aimed at (`target[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Target {
    /// The kind of target.
    #[serde(rename = "type", skip_serializing_if = "Nullable::is_absent")]
    pub target_type: Nullable<TargetType>,
    /// The target's id (`msft` for Microsoft's business profile).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub id: Nullable<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// The customer of a referral (`customerProfile`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CustomerProfile {
    /// The customer's name.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub name: Nullable<String>,
    /// The customer's address.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub address: Nullable<Address>,
    /// The customer's size (sometimes sent as `""`, kept as `Unknown("")`).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub size: Nullable<CustomerSize>,
    /// The customer's contacts.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub team: Nullable<Vec<Member>>,
    /// The customer's identifiers (an array today; an object in older payloads).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub ids: Nullable<CustomerProfileIds>,
    /// Whether customer matching has finished.
    #[serde(with = "wire::flag", skip_serializing_if = "Nullable::is_absent")]
    pub is_matching_complete: Nullable<bool>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// The customer's identifiers, in either of the shapes the service has used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CustomerProfileIds {
    /// The current shape: `[{"profileType": "Duns", "id": "…"}]`.
    List(Vec<CustomerProfileId>),
    /// The older shape: an object (often `{}`), kept as sent.
    Object(Map<String, Value>),
}

impl CustomerProfileIds {
    /// The identifiers as a list, whichever shape they came in (an object's string entries
    /// become `profileType: key, id: value`).
    pub fn to_list(&self) -> Vec<CustomerProfileId> {
        match self {
            CustomerProfileIds::List(ids) => ids.clone(),
            CustomerProfileIds::Object(map) => map
                .iter()
                .filter_map(|(kind, id)| {
                    id.as_str().map(|id| CustomerProfileId {
                        profile_type: CustomerProfileIdType::from_wire(kind).into(),
                        id: id.to_owned().into(),
                        extra: ExtraFields::new(),
                    })
                })
                .collect(),
        }
    }
}

/// One customer identifier (`customerProfile.ids[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CustomerProfileId {
    /// The kind of identifier.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub profile_type: Nullable<CustomerProfileIdType>,
    /// The identifier.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub id: Nullable<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A postal address. `country` is a two-letter ISO 3166 code (`US`, `GB`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Address {
    /// First line.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub address_line1: Nullable<String>,
    /// Second line.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub address_line2: Nullable<String>,
    /// City.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub city: Nullable<String>,
    /// State or province.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub state: Nullable<String>,
    /// Postal code.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub postal_code: Nullable<String>,
    /// Two-letter ISO 3166 country code.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub country: Nullable<String>,
    /// Region.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub region: Nullable<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A person: a customer contact or a member of the partner's team.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Member {
    /// First name.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub first_name: Nullable<String>,
    /// Last name.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub last_name: Nullable<String>,
    /// Phone number.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub phone_number: Nullable<String>,
    /// Email address.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub email: Nullable<String>,
    /// Job title.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub title: Nullable<String>,
    /// How the person wants to be contacted.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub contact_preference: Nullable<ContactPreference>,
    /// Email validation status (undocumented).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub email_validation_status: Nullable<String>,
    /// Phone validation status (undocumented).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub phone_validation_status: Nullable<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A member's contact preference.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContactPreference {
    /// Preferred locale (`en-US`).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub locale: Nullable<String>,
    /// Whether notifications are off.
    #[serde(with = "wire::flag", skip_serializing_if = "Nullable::is_absent")]
    pub disable_notifications: Nullable<bool>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// What the customer agreed to (`consent`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Consent {
    /// Consent to share the customer's information with others. The wire key really is
    /// `consentToToShareInfoWithOthers`, with the doubled "To".
    #[serde(with = "wire::flag", skip_serializing_if = "Nullable::is_absent")]
    pub consent_to_to_share_info_with_others: Nullable<bool>,
    /// Consent to be contacted.
    #[serde(with = "wire::flag", skip_serializing_if = "Nullable::is_absent")]
    pub consent_to_contact: Nullable<bool>,
    /// Consent for Microsoft to contact specific partners.
    #[serde(with = "wire::flag", skip_serializing_if = "Nullable::is_absent")]
    pub consent_to_microsoft_to_contact_specific_partners: Nullable<bool>,
    /// Share the referral with Microsoft sellers: `false` makes a private deal.
    #[serde(with = "wire::flag", skip_serializing_if = "Nullable::is_absent")]
    pub consent_to_share_referral_with_microsoft_sellers: Nullable<bool>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// The deal (`details`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ReferralDetails {
    /// Notes.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub notes: Nullable<String>,
    /// The deal value, read from a number or a string, written as a number.
    #[serde(with = "wire::amount", skip_serializing_if = "Nullable::is_absent")]
    pub deal_value: Nullable<Decimal>,
    /// ISO 4217 currency code of the deal value.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub currency: Nullable<String>,
    /// The expected closing date: a local midnight stored as a UTC instant, so its UTC calendar
    /// date may be a day off.
    #[serde(with = "wire::timestamp", skip_serializing_if = "Nullable::is_absent")]
    pub closing_date_time: Nullable<Timestamp>,
    /// What the customer needs.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub requirements: Nullable<ReferralRequirements>,
    /// Whether the customer asked to be contacted.
    #[serde(with = "wire::flag", skip_serializing_if = "Nullable::is_absent")]
    pub customer_requested_contact: Nullable<bool>,
    /// What the customer did (marketplace leads).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub customer_action: Nullable<String>,
    /// Incentive level (shape undocumented).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub incentive_level: Nullable<Value>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// What the customer needs (`details.requirements`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ReferralRequirements {
    /// Industries (legacy vocabulary, free strings).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub industries: Nullable<Vec<TagRef>>,
    /// Products (legacy vocabulary).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub products: Nullable<Vec<TagRef>>,
    /// Services (legacy vocabulary).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub services: Nullable<Vec<TagRef>>,
    /// Solutions; at least one is needed before sharing with Microsoft.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub solutions: Nullable<Vec<SolutionTag>>,
    /// Offers (shape undocumented).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub offers: Nullable<Vec<Value>>,
    /// Sales plays (shape undocumented).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub sales_plays: Nullable<Vec<Value>>,
    /// Further requirements: IoT details and typed attributes.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub additional_requirements: Nullable<AdditionalRequirements>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A tag that is only an id (`{"id": "Azure"}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TagRef {
    /// The tag's id.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub id: Nullable<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A solution on a referral.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SolutionTag {
    /// The solution id (`SOL-15974-MQF`) or a legacy category id.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub id: Nullable<String>,
    /// The solution's name.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub name: Nullable<String>,
    /// The kind of tag.
    #[serde(rename = "type", skip_serializing_if = "Nullable::is_absent")]
    pub tag_type: Nullable<SolutionTagType>,
    /// The publisher's name.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub publisher_name: Nullable<String>,
    /// First- or third-party (`"3P"`).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub solution_type: Nullable<String>,
    /// The price.
    #[serde(with = "wire::amount", skip_serializing_if = "Nullable::is_absent")]
    pub price: Nullable<Decimal>,
    /// The quantity.
    #[serde(with = "wire::amount", skip_serializing_if = "Nullable::is_absent")]
    pub quantity: Nullable<Decimal>,
    /// ISO 4217 currency of the price.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub currency: Nullable<String>,
    /// Expected closing date of this solution's part of the deal.
    #[serde(with = "wire::timestamp", skip_serializing_if = "Nullable::is_absent")]
    pub closing_date_time: Nullable<Timestamp>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// Further requirements (`details.requirements.additionalRequirements`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AdditionalRequirements {
    /// IoT deal details.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub iot: Nullable<IotRequirements>,
    /// Typed attributes (`{"type": "CustomerMarketplaceIntent", "id": "HaveNotDecided"}`).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub attributes: Nullable<Vec<RequirementAttribute>>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// IoT deal details. Their value types are undocumented, so they are kept as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IotRequirements {
    /// The customer's license agreement number.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub customer_license_agreement_number: Nullable<Value>,
    /// Device category.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub device_category: Nullable<Value>,
    /// Silicon type.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub silicon_type: Nullable<Value>,
    /// Whether the device is Azure certified.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub azure_certified_device: Nullable<Value>,
    /// Attached services.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub attach_services: Nullable<Value>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A typed attribute of a referral's requirements.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RequirementAttribute {
    /// What the attribute is (`CustomerMarketplaceIntent`).
    #[serde(rename = "type", skip_serializing_if = "Nullable::is_absent")]
    pub attribute_type: Nullable<String>,
    /// Its value (`HaveNotDecided`).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub id: Nullable<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// Who invited the partner, and what help was asked for (`inviteContext`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct InviteContext {
    /// The inviter's notes.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub notes: Nullable<String>,
    /// The inviting organization.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub invited_by: Nullable<InvitedBy>,
    /// The help asked of Microsoft.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub assistance_request_code: Nullable<AssistanceRequestCode>,
    /// The invited partner's MPN id.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub invited_mpn_id: Nullable<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// The inviting organization.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct InvitedBy {
    /// Its id (`msft` for Microsoft).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub organization_id: Nullable<String>,
    /// Its name.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub organization_name: Nullable<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A referral's read-only links.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ReferralLinks {
    /// The related referrals of the same engagement.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub related_referrals: Nullable<Link>,
    /// The referral itself.
    #[serde(rename = "self", skip_serializing_if = "Nullable::is_absent")]
    pub self_link: Nullable<Link>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A link with its method.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Link {
    /// The URI (the doc samples misspell `engagements`; treat it as opaque).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub uri: Nullable<String>,
    /// The HTTP method.
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub method: Nullable<String>,
    /// Headers (older payloads; always empty in samples).
    #[serde(skip_serializing_if = "Nullable::is_absent")]
    pub headers: Nullable<Vec<Value>>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// Microsoft-side identifiers of a deal (`trackingInfo`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrackingInfo {
    /// Microsoft's CRM (MSX) id, once Microsoft accepted a co-sell referral.
    #[serde(rename = "microsoftMsxId", skip_serializing_if = "Nullable::is_absent")]
    pub microsoft_msx_id: Nullable<String>,
    /// US Federal opportunity id.
    #[serde(
        rename = "microsoftUSFedOpportunityId",
        skip_serializing_if = "Nullable::is_absent"
    )]
    pub microsoft_us_fed_opportunity_id: Nullable<String>,
    /// US Federal lead id.
    #[serde(
        rename = "microsoftUSFedLeadId",
        skip_serializing_if = "Nullable::is_absent"
    )]
    pub microsoft_us_fed_lead_id: Nullable<String>,
    /// Id of a deal migrated from the former partner sales connect.
    #[serde(
        rename = "migratedPSCDealId",
        skip_serializing_if = "Nullable::is_absent"
    )]
    pub migrated_psc_deal_id: Nullable<String>,
    /// Partner-side id of a migrated deal.
    #[serde(
        rename = "migratedPSCPartnerDealId",
        skip_serializing_if = "Nullable::is_absent"
    )]
    pub migrated_psc_partner_deal_id: Nullable<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}
