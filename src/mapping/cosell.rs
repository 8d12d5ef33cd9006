//! The default co-sell schema (`DEFAULT-MAPPING.md`): deal, customer, link and bookkeeping
//! fields with the directions and policies the crate ships.

use super::policy::{Direction, Policy};
use super::schema::{FieldId, FieldSpec, Schema, SchemaBuilder};
use super::value::ValueKind;

/// The ids of the fields of [`Schema::cosell`], in schema order. They stay valid for schemas
/// built from [`Schema::cosell_builder`], since builders only append fields.
pub mod fields {
    use super::FieldId;

    /// Deal name (text; both ways; newest wins).
    pub const DEAL_NAME: FieldId = FieldId::new(0);
    /// Notes (text; both ways; newest wins; empty is null).
    pub const NOTES: FieldId = FieldId::new(1);
    /// Deal value (decimal at scale 2; both ways; newest wins).
    pub const DEAL_VALUE: FieldId = FieldId::new(2);
    /// Currency, an upper-case ISO 4217 code (choice; both ways; Partner Center wins).
    pub const CURRENCY: FieldId = FieldId::new(3);
    /// Close date (date; both ways; newest wins). Instants become dates by the nearest UTC
    /// midnight.
    pub const CLOSE_DATE: FieldId = FieldId::new(4);
    /// Status (choice of canonical codes such as `on_hold`, `active`, `won`, `lost`,
    /// `declined`, `expired`, set by the mapping's status rules; both ways; CRM wins).
    pub const STATUS: FieldId = FieldId::new(5);
    /// Sales stage (choice: `Qualify`, `Develop`, `Propose`, `Close`; both ways; newest wins).
    pub const SALES_STAGE: FieldId = FieldId::new(6);
    /// "How can Microsoft help?" (choice; CRM → Partner Center; CRM wins).
    pub const HELP_REQUESTED: FieldId = FieldId::new(7);
    /// Visible to Microsoft sellers (bool; CRM → Partner Center; sticky once true).
    pub const VISIBLE_TO_MICROSOFT_SELLERS: FieldId = FieldId::new(8);
    /// Solution ids (multi-choice; CRM → Partner Center; union).
    pub const SOLUTIONS: FieldId = FieldId::new(9);
    /// Microsoft CRM id (text; Partner Center → CRM; Partner Center wins).
    pub const MICROSOFT_CRM_ID: FieldId = FieldId::new(10);
    /// Customer name (text; on create).
    pub const CUSTOMER_NAME: FieldId = FieldId::new(11);
    /// Customer address line 1 (text; on create).
    pub const CUSTOMER_ADDRESS_LINE1: FieldId = FieldId::new(12);
    /// Customer city (text; on create).
    pub const CUSTOMER_CITY: FieldId = FieldId::new(13);
    /// Customer state or province (text; on create).
    pub const CUSTOMER_STATE: FieldId = FieldId::new(14);
    /// Customer postal code (text; on create).
    pub const CUSTOMER_POSTAL_CODE: FieldId = FieldId::new(15);
    /// Customer country, an upper-case ISO 3166 two-letter code (choice; on create).
    pub const CUSTOMER_COUNTRY: FieldId = FieldId::new(16);
    /// Customer contact first name (text; on create).
    pub const CONTACT_FIRST_NAME: FieldId = FieldId::new(17);
    /// Customer contact last name (text; on create).
    pub const CONTACT_LAST_NAME: FieldId = FieldId::new(18);
    /// Customer contact e-mail (text; on create).
    pub const CONTACT_EMAIL: FieldId = FieldId::new(19);
    /// Customer contact phone (text; on create).
    pub const CONTACT_PHONE: FieldId = FieldId::new(20);
    /// Referral id, the idempotency key on the CRM side (text; Partner Center → CRM).
    pub const REFERRAL_ID: FieldId = FieldId::new(21);
    /// Link to the referral (text; Partner Center → CRM).
    pub const REFERRAL_LINK: FieldId = FieldId::new(22);
    /// CRM record id, Partner Center's `externalReferenceId` (text; CRM → Partner Center).
    pub const CRM_ID: FieldId = FieldId::new(23);
    /// The CRM's "sync with Partner Center" flag (bool; gate).
    pub const SYNC_WITH_PARTNER_CENTER: FieldId = FieldId::new(24);
    /// Audit trail, written by the sync itself (text; not diffed).
    pub const AUDIT_TRAIL: FieldId = FieldId::new(25);
}

/// The version of [`Schema::cosell`].
pub const COSELL_SCHEMA_VERSION: &str = "cosell-default/1";

impl Schema {
    /// The default co-sell schema. Text limits are not set here: a CRM mapping sets its target's
    /// (Salesforce `Name` 120 characters, Dynamics `name` 300) with
    /// [`cosell_builder`](Self::cosell_builder).
    ///
    /// ```
    /// use cosell::mapping::{fields, Direction, Policy, Schema};
    ///
    /// let schema = Schema::cosell();
    /// let solutions = schema.field(fields::SOLUTIONS).unwrap();
    /// assert_eq!(solutions.sync_direction(), Direction::CrmToPartnerCenter);
    /// assert_eq!(solutions.conflict_policy(), Policy::Union);
    /// ```
    pub fn cosell() -> Schema {
        // The default fields pass the builder's checks (a test builds them through `build`), so
        // they are compiled without re-checking and this constructor cannot fail.
        Schema::cosell_builder().build_unchecked()
    }

    /// A builder holding the default co-sell fields, to change or extend them.
    pub fn cosell_builder() -> SchemaBuilder {
        use Direction::{Both, CreateOnly, CrmToPartnerCenter, Gate, PartnerCenterToCrm};
        use ValueKind::{Bool, Choice, Date, Decimal, MultiChoice, Text};

        let synced = |name: &str, kind, direction, policy| {
            FieldSpec::new(name, kind)
                .direction(direction)
                .policy(policy)
        };
        let on_create = |name: &str, kind| FieldSpec::new(name, kind).direction(CreateOnly);

        Schema::builder(COSELL_SCHEMA_VERSION)
            .field(synced("deal_name", Text, Both, Policy::NewestWins))
            .field(synced("notes", Text, Both, Policy::NewestWins).empty_is_null(true))
            .field(synced("deal_value", Decimal, Both, Policy::NewestWins).decimal_scale(2))
            .field(synced("currency", Choice, Both, Policy::PartnerCenterWins).upper_case(true))
            .field(synced("close_date", Date, Both, Policy::NewestWins))
            .field(synced("status", Choice, Both, Policy::CrmWins))
            .field(synced("sales_stage", Choice, Both, Policy::NewestWins))
            .field(synced(
                "help_requested",
                Choice,
                CrmToPartnerCenter,
                Policy::CrmWins,
            ))
            .field(synced(
                "visible_to_microsoft_sellers",
                Bool,
                CrmToPartnerCenter,
                Policy::StickyTrue,
            ))
            .field(synced(
                "solutions",
                MultiChoice,
                CrmToPartnerCenter,
                Policy::Union,
            ))
            .field(synced(
                "microsoft_crm_id",
                Text,
                PartnerCenterToCrm,
                Policy::PartnerCenterWins,
            ))
            .field(on_create("customer_name", Text))
            .field(on_create("customer_address_line1", Text))
            .field(on_create("customer_city", Text))
            .field(on_create("customer_state", Text))
            .field(on_create("customer_postal_code", Text))
            .field(on_create("customer_country", Choice).upper_case(true))
            .field(on_create("contact_first_name", Text))
            .field(on_create("contact_last_name", Text))
            .field(on_create("contact_email", Text))
            .field(on_create("contact_phone", Text))
            .field(synced(
                "referral_id",
                Text,
                PartnerCenterToCrm,
                Policy::PartnerCenterWins,
            ))
            .field(synced(
                "referral_link",
                Text,
                PartnerCenterToCrm,
                Policy::PartnerCenterWins,
            ))
            .field(synced("crm_id", Text, CrmToPartnerCenter, Policy::CrmWins))
            .field(FieldSpec::new("sync_with_partner_center", Bool).direction(Gate))
            .field(FieldSpec::new("audit_trail", Text))
    }
}
