//! The referral resource and every object nested in it.
//!
//! Field names travel in camelCase. Everything the service may leave out is an `Option`, and
//! every struct keeps the fields it does not know in `extra`, so a referral read, changed and
//! written back (legacy PUT) loses nothing. Serde's derive reads the exact camelCase names;
//! [`Referral::from_json`] (used by the client) also reads other casings.

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
/// assert_eq!(referral.status, Some(ReferralStatus::Active));
/// assert_eq!(referral.deal_value().map(|v| v.to_string()).as_deref(), Some("75000.50"));
/// assert_eq!(referral.extra["futureField"]["kept"], true);
/// # Ok::<(), cosell::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Referral {
    /// The referral's id (a GUID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The engagement that links related referrals (both halves of a shared deal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engagement_id: Option<String>,
    /// The deal's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The owning organization's id (`msft` for Microsoft).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// The owning organization's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_name: Option<String>,
    /// Your CRM's id for the lead or opportunity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_reference_id: Option<String>,
    /// When the referral was created.
    #[serde(
        default,
        with = "wire::timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_date_time: Option<Timestamp>,
    /// When the referral last changed.
    #[serde(
        default,
        with = "wire::timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub updated_date_time: Option<Timestamp>,
    /// When the referral expires if not answered.
    #[serde(
        default,
        with = "wire::timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_date_time: Option<Timestamp>,
    /// When the referral was accepted (the creation time for outgoing referrals).
    #[serde(
        default,
        with = "wire::timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub accepted_date_time: Option<Timestamp>,
    /// When the referral was closed.
    #[serde(
        default,
        with = "wire::timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub closed_date_time: Option<Timestamp>,
    /// Where the referral stands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ReferralStatus>,
    /// The detail of the status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub substatus: Option<ReferralSubstatus>,
    /// Why the referral is in its status (for example why it was lost).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// Who sees the referral.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub referral_type: Option<ReferralType>,
    /// Where the qualification came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualification: Option<ReferralQualification>,
    /// Received or sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<ReferralDirection>,
    /// The source of a marketplace lead (values undocumented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referral_source: Option<String>,
    /// The call to action of a marketplace lead (values undocumented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_to_action: Option<String>,
    /// Whether the customer means to buy through the marketplace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_marketplace_intent: Option<CustomerMarketplaceIntent>,
    /// The concurrency tag, quoted; send it back byte for byte as `If-Match`.
    #[serde(rename = "eTag", skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
    /// What the referral is aimed at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Vec<Target>>,
    /// The customer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_profile: Option<CustomerProfile>,
    /// What the customer agreed to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<Consent>,
    /// The deal: value, currency, closing date, requirements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<ReferralDetails>,
    /// The partner's team on the deal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<Vec<Member>>,
    /// Who invited the partner, and what help was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_context: Option<InviteContext>,
    /// Read-only links; dropped before a legacy PUT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<ReferralLinks>,
    /// Microsoft-side identifiers of the deal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_info: Option<TrackingInfo>,
    /// Registrations (shape undocumented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registrations: Option<Vec<Value>>,
    /// Registration status (seen: `None`, `ReviewPending`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_status: Option<String>,
    /// Whether the referral is marked as a favourite.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub favorite: Option<bool>,
    /// The marketing campaign id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
    /// The sales stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sales_stage: Option<SalesStage>,
    /// The lead quality (seen: `Unknown`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<String>,
    /// Whether the referral was flagged as spam.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_spam: Option<bool>,
    /// The partner's MPN id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mpn_id: Option<String>,
    /// The referral programme.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referral_program: Option<String>,
    /// The deal's sensitivity (seen: `None`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deal_sensitivity: Option<String>,
    /// What created the referral (semantics undocumented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_via: Option<String>,
    /// What last changed the referral (semantics undocumented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified_via: Option<String>,
    /// The run that last changed the referral (semantics undocumented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run_id: Option<String>,
    /// Tags (shape undocumented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Value>>,
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
    ///     CustomerProfile { name: Some("Fabrikam".into()), ..Default::default() },
    ///     Consent { consent_to_share_referral_with_microsoft_sellers: Some(false), ..Default::default() },
    ///     ReferralDetails { currency: Some("GBP".into()), ..Default::default() },
    /// );
    /// assert!(referral.id.is_none());
    /// ```
    pub fn new(
        referral_type: ReferralType,
        customer_profile: CustomerProfile,
        consent: Consent,
        details: ReferralDetails,
    ) -> Self {
        Referral {
            referral_type: Some(referral_type),
            customer_profile: Some(customer_profile),
            consent: Some(consent),
            details: Some(details),
            ..Referral::default()
        }
    }

    /// Decodes a referral from JSON, reading field names case-insensitively (the service and
    /// its docs have used both camelCase and PascalCase). A failure names the JSON path.
    ///
    /// ```
    /// let referral = cosell::partner_center::Referral::from_json(
    ///     br#"{"Id": "1", "Consent": {"ConsentToToShareInfoWithOthers": true}}"#,
    /// )?;
    /// assert_eq!(referral.id.as_deref(), Some("1"));
    /// assert_eq!(referral.consent.unwrap().consent_to_to_share_info_with_others, Some(true));
    /// # Ok::<(), cosell::Error>(())
    /// ```
    pub fn from_json(body: &[u8]) -> Result<Referral> {
        wire::decode_referral(body)
    }

    /// The deal value (`details.dealValue`).
    pub fn deal_value(&self) -> Option<Decimal> {
        self.details.as_ref().and_then(|d| d.deal_value)
    }

    /// Whether the referral is closed (won, lost, declined or expired): the service treats it as
    /// read-only.
    pub fn is_closed(&self) -> bool {
        self.status == Some(ReferralStatus::Closed)
    }

    /// The referral's category (marketplace lead, qualified lead, co-sell opportunity).
    pub fn category(&self) -> ReferralCategory {
        let inviter = self
            .invite_context
            .as_ref()
            .and_then(|c| c.invited_by.as_ref())
            .and_then(|b| b.organization_id.as_deref());
        let by_microsoft = inviter.is_some_and(|id| id.eq_ignore_ascii_case("msft"));
        match (&self.referral_type, &self.qualification) {
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
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// The kind of target.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,
    /// The target's id (`msft` for Microsoft's business profile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// The customer of a referral (`customerProfile`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerProfile {
    /// The customer's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The customer's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// The customer's size (sometimes sent as `""`, kept as `Unknown("")`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<CustomerSize>,
    /// The customer's contacts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<Vec<Member>>,
    /// The customer's identifiers (an array today; an object in older payloads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ids: Option<CustomerProfileIds>,
    /// Whether customer matching has finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_matching_complete: Option<bool>,
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
                        profile_type: Some(CustomerProfileIdType::from_wire(kind)),
                        id: Some(id.to_owned()),
                        extra: ExtraFields::new(),
                    })
                })
                .collect(),
        }
    }
}

/// One customer identifier (`customerProfile.ids[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerProfileId {
    /// The kind of identifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_type: Option<CustomerProfileIdType>,
    /// The identifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A postal address. `country` is a two-letter ISO 3166 code (`US`, `GB`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// First line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_line1: Option<String>,
    /// Second line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_line2: Option<String>,
    /// City.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State or province.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Postal code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Two-letter ISO 3166 country code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A person: a customer contact or a member of the partner's team.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// First name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Email address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Job title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// How the person wants to be contacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_preference: Option<ContactPreference>,
    /// Email validation status (undocumented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_validation_status: Option<String>,
    /// Phone validation status (undocumented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_validation_status: Option<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A member's contact preference.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactPreference {
    /// Preferred locale (`en-US`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Whether notifications are off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_notifications: Option<bool>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// What the customer agreed to (`consent`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Consent {
    /// Consent to share the customer's information with others. The wire key really is
    /// `consentToToShareInfoWithOthers`, with the doubled "To".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_to_to_share_info_with_others: Option<bool>,
    /// Consent to be contacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_to_contact: Option<bool>,
    /// Consent for Microsoft to contact specific partners.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_to_microsoft_to_contact_specific_partners: Option<bool>,
    /// Share the referral with Microsoft sellers: `false` makes a private deal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_to_share_referral_with_microsoft_sellers: Option<bool>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// The deal (`details`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferralDetails {
    /// Notes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The deal value, read from a number or a string, written as a number.
    #[serde(
        default,
        with = "wire::amount",
        skip_serializing_if = "Option::is_none"
    )]
    pub deal_value: Option<Decimal>,
    /// ISO 4217 currency code of the deal value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The expected closing date: a local midnight stored as a UTC instant, so its UTC calendar
    /// date may be a day off.
    #[serde(
        default,
        with = "wire::timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub closing_date_time: Option<Timestamp>,
    /// What the customer needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requirements: Option<ReferralRequirements>,
    /// Whether the customer asked to be contacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_requested_contact: Option<bool>,
    /// What the customer did (marketplace leads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_action: Option<String>,
    /// Incentive level (shape undocumented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incentive_level: Option<Value>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// What the customer needs (`details.requirements`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferralRequirements {
    /// Industries (legacy vocabulary, free strings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub industries: Option<Vec<TagRef>>,
    /// Products (legacy vocabulary).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub products: Option<Vec<TagRef>>,
    /// Services (legacy vocabulary).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<TagRef>>,
    /// Solutions; at least one is needed before sharing with Microsoft.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub solutions: Option<Vec<SolutionTag>>,
    /// Offers (shape undocumented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offers: Option<Vec<Value>>,
    /// Sales plays (shape undocumented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sales_plays: Option<Vec<Value>>,
    /// Further requirements: IoT details and typed attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_requirements: Option<AdditionalRequirements>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A tag that is only an id (`{"id": "Azure"}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagRef {
    /// The tag's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A solution on a referral.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SolutionTag {
    /// The solution id (`SOL-15974-MQF`) or a legacy category id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The solution's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The kind of tag.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub tag_type: Option<SolutionTagType>,
    /// The publisher's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publisher_name: Option<String>,
    /// First- or third-party (`"3P"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub solution_type: Option<String>,
    /// The price.
    #[serde(
        default,
        with = "wire::amount",
        skip_serializing_if = "Option::is_none"
    )]
    pub price: Option<Decimal>,
    /// The quantity.
    #[serde(
        default,
        with = "wire::amount",
        skip_serializing_if = "Option::is_none"
    )]
    pub quantity: Option<Decimal>,
    /// ISO 4217 currency of the price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Expected closing date of this solution's part of the deal.
    #[serde(
        default,
        with = "wire::timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub closing_date_time: Option<Timestamp>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// Further requirements (`details.requirements.additionalRequirements`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdditionalRequirements {
    /// IoT deal details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iot: Option<IotRequirements>,
    /// Typed attributes (`{"type": "CustomerMarketplaceIntent", "id": "HaveNotDecided"}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<RequirementAttribute>>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// IoT deal details. Their value types are undocumented, so they are kept as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IotRequirements {
    /// The customer's license agreement number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_license_agreement_number: Option<Value>,
    /// Device category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_category: Option<Value>,
    /// Silicon type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub silicon_type: Option<Value>,
    /// Whether the device is Azure certified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_certified_device: Option<Value>,
    /// Attached services.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attach_services: Option<Value>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A typed attribute of a referral's requirements.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequirementAttribute {
    /// What the attribute is (`CustomerMarketplaceIntent`).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub attribute_type: Option<String>,
    /// Its value (`HaveNotDecided`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// Who invited the partner, and what help was asked for (`inviteContext`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InviteContext {
    /// The inviter's notes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The inviting organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invited_by: Option<InvitedBy>,
    /// The help asked of Microsoft.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assistance_request_code: Option<AssistanceRequestCode>,
    /// The invited partner's MPN id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invited_mpn_id: Option<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// The inviting organization.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvitedBy {
    /// Its id (`msft` for Microsoft).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// Its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_name: Option<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A referral's read-only links.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferralLinks {
    /// The related referrals of the same engagement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_referrals: Option<Link>,
    /// The referral itself.
    #[serde(rename = "self", skip_serializing_if = "Option::is_none")]
    pub self_link: Option<Link>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A link with its method.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    /// The URI (the doc samples misspell `engagements`; treat it as opaque).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The HTTP method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Headers (older payloads; always empty in samples).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<Value>>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// Microsoft-side identifiers of a deal (`trackingInfo`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackingInfo {
    /// Microsoft's CRM (MSX) id, once Microsoft accepted a co-sell referral.
    #[serde(rename = "microsoftMsxId", skip_serializing_if = "Option::is_none")]
    pub microsoft_msx_id: Option<String>,
    /// US Federal opportunity id.
    #[serde(
        rename = "microsoftUSFedOpportunityId",
        skip_serializing_if = "Option::is_none"
    )]
    pub microsoft_us_fed_opportunity_id: Option<String>,
    /// US Federal lead id.
    #[serde(
        rename = "microsoftUSFedLeadId",
        skip_serializing_if = "Option::is_none"
    )]
    pub microsoft_us_fed_lead_id: Option<String>,
    /// Id of a deal migrated from the former partner sales connect.
    #[serde(rename = "migratedPSCDealId", skip_serializing_if = "Option::is_none")]
    pub migrated_psc_deal_id: Option<String>,
    /// Partner-side id of a migrated deal.
    #[serde(
        rename = "migratedPSCPartnerDealId",
        skip_serializing_if = "Option::is_none"
    )]
    pub migrated_psc_partner_deal_id: Option<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: ExtraFields,
}
