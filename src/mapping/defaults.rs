//! The default Dynamics 365 and Salesforce opportunity mappings (`DEFAULT-MAPPING.md`).

use super::declarative::{
    CrmEntity, DeclarativeMapping, FieldRule, MappingBuilder, Relation, StatusRules,
};
use super::normalize::{DateRule, Normalization};
use super::schema::{Schema, SchemaBuilder};
use super::transform::{Transform, ValueMap};
use super::value::Value;
use crate::{dataverse, salesforce};

/// The default link to a referral in Partner Center (UNCONFIRMED): `{}` stands for the referral
/// id. Override the `referral_link` rule's Partner Center transform to change it.
pub const REFERRAL_LINK_TEMPLATE: &str =
    "https://partner.microsoft.com/dashboard/referrals/v2/leads/{}/details";

/// Partner Center's sales stages, with the numeric strings also seen on the wire: `"0"` to
/// `"3"` as the enum's positions, any other number (real referrals carry `"100"`) as unknown.
fn partner_center_stages() -> ValueMap {
    ValueMap::new()
        .pair("Qualify", "Qualify")
        .pair("Develop", "Develop")
        .pair("Propose", "Propose")
        .pair("Close", "Close")
        .read_also("0", "Qualify")
        .read_also("1", "Develop")
        .read_also("2", "Propose")
        .read_also("3", "Close")
        .unknown_numbers()
}

/// Partner Center's help codes; `Unknown`, which real referrals carry, is no help requested.
fn partner_center_help() -> ValueMap {
    HELP_CODES
        .iter()
        .fold(ValueMap::new(), |map, code| map.pair(code, *code))
        .read_as_null("Unknown")
}

/// "How can Microsoft help?" codes, as Partner Center names them.
const HELP_CODES: [&str; 6] = [
    "GeneralOrOther",
    "CustomerTechnicalArchitecture",
    "ProofOfConceptOrDemo",
    "QuotesOrLicensing",
    "PostSalesCustomerSuccess",
    "WorkloadSpecificValueProposition",
];

/// The schema both defaults start from: the co-sell schema, with amounts compared at the
/// currency's scale by the mapping rather than at a fixed one, and empty text, codes and sets
/// alike with null, since both CRMs store an empty string as null.
fn base_schema(version: &str, name_limit: usize) -> SchemaBuilder {
    Schema::cosell_builder()
        .version(version)
        .update("deal_name", |field| field.max_chars(name_limit))
        .update("deal_value", |field| {
            field.normalization(Normalization {
                decimal_scale: None,
                ..Normalization::default()
            })
        })
        .update_all(|field| field.empty_is_null(true))
}

/// The decimal places both CRMs' amount columns hold (Dataverse `estimatedvalue` precision 2,
/// Salesforce `Amount` currency(18, 2)): amounts are written rounded to them, so the CRM
/// stores exactly what was written, and compared at them when the currency has more.
const CRM_AMOUNT_PLACES: u32 = 2;

/// Rules shared by both defaults: the Partner Center side of every field.
fn partner_center_rules(builder: MappingBuilder) -> MappingBuilder {
    let pc = |name: &str, path: &str| FieldRule::new(name).partner_center(path);
    builder
        .rule(pc("deal_name", "name").required(true))
        .rule(pc("notes", "details.notes"))
        .rule(
            pc("deal_value", "details.dealValue").partner_center_transform(Transform::DecimalText),
        )
        .rule(pc("currency", "details.currency").partner_center_transform(Transform::IsoCode))
        .rule(
            pc("close_date", "details.closingDateTime")
                .partner_center_transform(Transform::InstantToDate(DateRule::NearestUtcMidnight)),
        )
        .rule(
            pc("sales_stage", "salesStage")
                .partner_center_transform(Transform::Map(partner_center_stages())),
        )
        .rule(
            pc("help_requested", "inviteContext.assistanceRequestCode")
                .partner_center_transform(Transform::Map(partner_center_help())),
        )
        .rule(pc(
            "visible_to_microsoft_sellers",
            "consent.consentToShareReferralWithMicrosoftSellers",
        ))
        .rule(pc("solutions", "details.requirements.solutions[].id"))
        .rule(pc("microsoft_crm_id", "trackingInfo.microsoftMsxId"))
        .rule(pc("customer_name", "customerProfile.name"))
        .rule(pc(
            "customer_address_line1",
            "customerProfile.address.addressLine1",
        ))
        .rule(pc("customer_city", "customerProfile.address.city"))
        .rule(pc("customer_state", "customerProfile.address.state"))
        .rule(pc(
            "customer_postal_code",
            "customerProfile.address.postalCode",
        ))
        .rule(
            pc("customer_country", "customerProfile.address.country")
                .partner_center_transform(Transform::IsoCode),
        )
        .rule(pc(
            "contact_first_name",
            "customerProfile.team[0].firstName",
        ))
        .rule(pc("contact_last_name", "customerProfile.team[0].lastName"))
        .rule(pc("contact_email", "customerProfile.team[0].email"))
        .rule(pc("contact_phone", "customerProfile.team[0].phoneNumber"))
        .rule(pc("referral_id", "id"))
        .rule(
            pc("referral_link", "id")
                .partner_center_transform(Transform::Template(REFERRAL_LINK_TEMPLATE.into())),
        )
        .rule(pc("crm_id", "externalReferenceId"))
        .rule(FieldRule::new("sync_with_partner_center").default_on_create(Value::Bool(true)))
        .rule(FieldRule::new("audit_trail"))
}

/// The default Dynamics 365 `opportunity` mapping with the default column names
/// ([`dataverse::CoSellFieldNames::default`], publisher prefix `cosell`).
///
/// ```
/// use cosell::mapping::{dynamics365, fields, FieldMapping};
///
/// let mapping = dynamics365().build()?;
/// assert_eq!(mapping.rule(fields::DEAL_VALUE).unwrap().crm_path(), Some("estimatedvalue"));
/// assert_eq!(mapping.schema().field(fields::DEAL_NAME).unwrap().normalization_rules().max_chars, Some(300));
/// # Ok::<(), cosell::mapping::MappingError>(())
/// ```
pub fn dynamics365() -> MappingBuilder {
    dynamics365_with(&dataverse::CoSellFieldNames::default())
}

/// The default Dynamics 365 mapping with the given custom column names. The columns the
/// Dataverse client does not name (visibility to Microsoft sellers, Microsoft CRM id) take the
/// publisher prefix of `columns.referral_id`.
pub fn dynamics365_with(columns: &dataverse::CoSellFieldNames) -> MappingBuilder {
    let prefix = columns
        .referral_id
        .split_once('_')
        .map(|(prefix, _)| prefix)
        .unwrap_or("cosell");
    let help = HELP_CODES
        .iter()
        .enumerate()
        .fold(ValueMap::new(), |map, (index, code)| {
            map.pair(code, index as i64 + 1)
        });
    let builder = DeclarativeMapping::builder(base_schema("cosell-dynamics365/2", 300))
        .status_rules(StatusRules::Dataverse)
        .account_relation(Relation::new(
            "customerid_account",
            "customerid_account@odata.bind",
            "/accounts({})",
        ))
        .contact_relation(Relation::new(
            "parentcontactid",
            "parentcontactid@odata.bind",
            "/contacts({})",
        ))
        .currency_relation(Relation::new(
            "transactioncurrencyid",
            "transactioncurrencyid@odata.bind",
            "/transactioncurrencies({})",
        ));
    let builder = partner_center_rules(builder).modified_at("updatedDateTime", "modifiedon");
    let dataverse_stages = ValueMap::new()
        .pair("Qualify", 0)
        .pair("Develop", 1)
        .pair("Propose", 2)
        .pair("Close", 3);
    builder
        .update("deal_name", |rule| rule.crm("name"))
        .update("notes", |rule| rule.crm("description"))
        .update("deal_value", |rule| {
            rule.crm("estimatedvalue")
                .crm_transform(Transform::Scale(CRM_AMOUNT_PLACES))
        })
        .update("currency", |rule| {
            rule.crm("transactioncurrencyid.isocurrencycode")
                .entity(CrmEntity::Currency)
                .crm_transform(Transform::IsoCode)
        })
        .update("close_date", |rule| rule.crm("estimatedclosedate"))
        .update("sales_stage", |rule| {
            rule.crm("salesstage")
                .crm_transform(Transform::Map(dataverse_stages))
        })
        .update("help_requested", |rule| {
            rule.crm(&columns.help_requested)
                .crm_transform(Transform::FirstOf {
                    separator: ",".into(),
                    map: help,
                })
        })
        .update("visible_to_microsoft_sellers", |rule| {
            rule.crm(&format!("{prefix}_sharewithmicrosoftsellers"))
        })
        .update("solutions", |rule| {
            rule.crm(&columns.solutions)
                .crm_transform(Transform::Joined {
                    separator: "\n".into(),
                    map: None,
                })
        })
        .update("microsoft_crm_id", |rule| {
            rule.crm(&format!("{prefix}_microsoftcrmid"))
        })
        .update("customer_name", |rule| {
            rule.crm("name").entity(CrmEntity::Account)
        })
        .update("customer_address_line1", |rule| {
            rule.crm("address1_line1").entity(CrmEntity::Account)
        })
        .update("customer_city", |rule| {
            rule.crm("address1_city").entity(CrmEntity::Account)
        })
        .update("customer_state", |rule| {
            rule.crm("address1_stateorprovince")
                .entity(CrmEntity::Account)
        })
        .update("customer_postal_code", |rule| {
            rule.crm("address1_postalcode").entity(CrmEntity::Account)
        })
        .update("customer_country", |rule| {
            rule.crm("address1_country")
                .entity(CrmEntity::Account)
                .crm_transform(Transform::IsoCode)
        })
        .update("contact_first_name", |rule| {
            rule.crm("firstname").entity(CrmEntity::Contact)
        })
        .update("contact_last_name", |rule| {
            rule.crm("lastname").entity(CrmEntity::Contact)
        })
        .update("contact_email", |rule| {
            rule.crm("emailaddress1").entity(CrmEntity::Contact)
        })
        .update("contact_phone", |rule| {
            rule.crm("telephone1").entity(CrmEntity::Contact)
        })
        .update("referral_id", |rule| rule.crm(&columns.referral_id))
        .update("referral_link", |rule| rule.crm(&columns.referral_link))
        .update("crm_id", |rule| rule.crm("opportunityid").crm_read_only())
        .update("sync_with_partner_center", |rule| {
            rule.crm(&columns.sync_with_partner_center)
        })
        .update("audit_trail", |rule| rule.crm(&columns.audit_trail))
}

/// The default Salesforce stages (`StatusRules::Stages`): on hold `Prospecting` (UNCONFIRMED),
/// active `Qualification`, won `Closed Won`, lost `Closed Lost`.
pub fn salesforce_stages() -> StatusRules {
    StatusRules::Stages {
        on_hold: "Prospecting".into(),
        active: "Qualification".into(),
        won: "Closed Won".into(),
        lost: "Closed Lost".into(),
    }
}

/// The default Salesforce `Opportunity` mapping with the default field names
/// ([`salesforce::CoSellFieldNames::default`]) and stages ([`salesforce_stages`]).
///
/// ```
/// use cosell::mapping::{fields, salesforce, FieldMapping};
///
/// let mapping = salesforce().build()?;
/// assert_eq!(mapping.rule(fields::CLOSE_DATE).unwrap().crm_path(), Some("CloseDate"));
/// assert_eq!(mapping.schema().field(fields::DEAL_NAME).unwrap().normalization_rules().max_chars, Some(120));
/// # Ok::<(), cosell::mapping::MappingError>(())
/// ```
pub fn salesforce() -> MappingBuilder {
    salesforce_with(&salesforce::CoSellFieldNames::default())
}

/// The default Salesforce mapping with the given custom field names (a field set to `None` is
/// not mapped).
pub fn salesforce_with(names: &salesforce::CoSellFieldNames) -> MappingBuilder {
    let help = HELP_CODES
        .iter()
        .fold(ValueMap::new(), |map, code| map.pair(code, *code));
    let stages = ValueMap::new()
        .pair("Qualify", "Qualification")
        .pair("Develop", "Needs Analysis")
        .pair("Propose", "Proposal/Price Quote")
        .pair("Close", "Negotiation/Review")
        .read_also("Value Proposition", "Develop")
        .read_also("Id. Decision Makers", "Develop")
        .read_also("Perception Analysis", "Develop");
    let builder = DeclarativeMapping::builder(base_schema("cosell-salesforce/2", 120))
        .status_rules(salesforce_stages())
        .account_relation(Relation::new("Account", "AccountId", "{}"))
        .contact_relation(Relation::new("Contact", "ContactId", "{}"));
    let builder = partner_center_rules(builder).modified_at("updatedDateTime", "LastModifiedDate");
    let custom =
        |builder: MappingBuilder, field: &str, name: &Option<String>, transform: Transform| {
            match name {
                Some(name) => builder.update(field, |rule| rule.crm(name).crm_transform(transform)),
                None => builder.remove(field),
            }
        };
    let builder = builder
        .update("deal_name", |rule| rule.crm("Name"))
        .update("notes", |rule| rule.crm("Description"))
        .update("deal_value", |rule| {
            rule.crm("Amount")
                .crm_transform(Transform::Scale(CRM_AMOUNT_PLACES))
        })
        .update("currency", |rule| {
            rule.crm("CurrencyIsoCode")
                .crm_transform(Transform::IsoCode)
        })
        .update("close_date", |rule| rule.crm("CloseDate"))
        .update("sales_stage", |rule| {
            rule.crm("StageName").crm_transform(Transform::Map(stages))
        })
        .update("customer_name", |rule| {
            rule.crm("Name").entity(CrmEntity::Account)
        })
        .update("customer_address_line1", |rule| {
            rule.crm("BillingStreet").entity(CrmEntity::Account)
        })
        .update("customer_city", |rule| {
            rule.crm("BillingCity").entity(CrmEntity::Account)
        })
        .update("customer_state", |rule| {
            rule.crm("BillingState").entity(CrmEntity::Account)
        })
        .update("customer_postal_code", |rule| {
            rule.crm("BillingPostalCode").entity(CrmEntity::Account)
        })
        .update("customer_country", |rule| {
            rule.crm("BillingCountry")
                .entity(CrmEntity::Account)
                .crm_transform(Transform::IsoCode)
        })
        .update("contact_first_name", |rule| {
            rule.crm("FirstName").entity(CrmEntity::Contact)
        })
        .update("contact_last_name", |rule| {
            rule.crm("LastName").entity(CrmEntity::Contact)
        })
        .update("contact_email", |rule| {
            rule.crm("Email").entity(CrmEntity::Contact)
        })
        .update("contact_phone", |rule| {
            rule.crm("Phone").entity(CrmEntity::Contact)
        })
        .update("crm_id", |rule| rule.crm("Id").crm_read_only());
    let builder = custom(
        builder,
        "help_requested",
        &names.help_requested,
        Transform::FirstOf {
            separator: ";".into(),
            map: help,
        },
    );
    let builder = custom(
        builder,
        "visible_to_microsoft_sellers",
        &names.share_with_microsoft_sellers,
        Transform::Plain,
    );
    let builder = custom(
        builder,
        "solutions",
        &names.solutions,
        Transform::Joined {
            separator: "\n".into(),
            map: None,
        },
    );
    let builder = custom(
        builder,
        "microsoft_crm_id",
        &names.microsoft_crm_id,
        Transform::Plain,
    );
    let builder = custom(builder, "referral_id", &names.referral_id, Transform::Plain);
    let builder = custom(
        builder,
        "referral_link",
        &names.referral_link,
        Transform::Plain,
    );
    let builder = custom(
        builder,
        "sync_with_partner_center",
        &names.sync_with_partner_center,
        Transform::Plain,
    );
    custom(builder, "audit_trail", &names.audit_trail, Transform::Plain)
}
