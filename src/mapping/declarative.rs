//! Declarative mappings: per field, where it sits on each side and how it is transformed.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use jiff::tz::TimeZone;
use serde_json::{Map, Value as Json};

mod create;

use super::cosell::fields;
use super::error::{HoldReason, MappingError, MappingIssue};
use super::normalize::{DateRule, round_to_scale};
use super::patch::PatchTarget;
use super::path::{Segment, WirePath, wrap_items};
use super::plan::{
    CrmReadFields, CrmWrite, CrmWriteContext, FieldMapping, PartnerCenterCreate,
    PartnerCenterWrite, Projection, StateChange,
};
use super::policy::{Direction, Policy, Side};
use super::record::Record;
use super::resolve::{ContactQuery, CustomerQuery, Lookup, LookupTarget};
use super::schema::{FieldId, FieldSpec, Schema, SchemaBuilder};
use super::transform::{Decoded, Transform};
use super::value::Value;

/// Where a CRM value lives: on the opportunity itself, or on a record it points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CrmEntity {
    /// A column of the opportunity.
    #[default]
    Opportunity,
    /// A column of the customer account (read through the expanded relation, written on create
    /// through the account lookup).
    Account,
    /// A column of the customer contact.
    Contact,
    /// The currency's ISO code (read through the expanded relation, written through the currency
    /// lookup).
    Currency,
}

/// One field's mapping: its path and transform on each side, its default for creates and
/// whether it is required. Direction and policy live on the field's [`FieldSpec`].
///
/// ```
/// use cosell::mapping::{FieldRule, Transform, ValueMap};
///
/// let rule = FieldRule::new("industry")
///     .partner_center("details.requirements.industries[].id")
///     .crm("new_industry")
///     .crm_transform(Transform::Map(ValueMap::new().pair("Retail", 100_000_001)));
/// assert_eq!(rule.name(), "industry");
/// ```
#[derive(Debug, Clone)]
pub struct FieldRule {
    name: String,
    partner_center: Option<String>,
    partner_center_transform: Transform,
    crm: Option<String>,
    crm_transform: Transform,
    entity: CrmEntity,
    crm_read_only: bool,
    default: Option<Value>,
    required: bool,
}

impl FieldRule {
    /// A rule for the canonical field `name`, mapped nowhere yet.
    pub fn new(name: impl Into<String>) -> Self {
        FieldRule {
            name: name.into(),
            partner_center: None,
            partner_center_transform: Transform::Plain,
            crm: None,
            crm_transform: Transform::Plain,
            entity: CrmEntity::Opportunity,
            crm_read_only: false,
            default: None,
            required: false,
        }
    }

    /// The canonical field.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The path in the referral (see [`WirePath`]).
    pub fn partner_center(mut self, path: &str) -> Self {
        self.partner_center = Some(path.to_owned());
        self
    }

    /// Stop mapping the field on the Partner Center side.
    pub fn no_partner_center(mut self) -> Self {
        self.partner_center = None;
        self
    }

    /// The transform on the Partner Center side.
    pub fn partner_center_transform(mut self, transform: Transform) -> Self {
        self.partner_center_transform = transform;
        self
    }

    /// The column (or path) in the CRM record.
    pub fn crm(mut self, path: &str) -> Self {
        self.crm = Some(path.to_owned());
        self
    }

    /// Stop mapping the field on the CRM side.
    pub fn no_crm(mut self) -> Self {
        self.crm = None;
        self
    }

    /// The transform on the CRM side.
    pub fn crm_transform(mut self, transform: Transform) -> Self {
        self.crm_transform = transform;
        self
    }

    /// Where the CRM column lives.
    pub fn entity(mut self, entity: CrmEntity) -> Self {
        self.entity = entity;
        self
    }

    /// The CRM column is read but never written (the record id, read-only columns).
    pub fn crm_read_only(mut self) -> Self {
        self.crm_read_only = true;
        self
    }

    /// The value written on create when the source has none.
    pub fn default_on_create(mut self, value: Value) -> Self {
        self.default = Some(value);
        self
    }

    /// A create without a value for this field is an error.
    pub fn required(mut self, required: bool) -> Self {
        self.required = required;
        self
    }

    /// The CRM path as written.
    pub fn crm_path(&self) -> Option<&str> {
        self.crm.as_deref()
    }

    /// The Partner Center path as written.
    pub fn partner_center_path(&self) -> Option<&str> {
        self.partner_center.as_deref()
    }

    /// The CRM transform.
    pub fn crm_transform_ref(&self) -> &Transform {
        &self.crm_transform
    }

    /// Where the CRM column lives.
    pub fn crm_entity(&self) -> CrmEntity {
        self.entity
    }
}

#[derive(Debug, Clone)]
struct Compiled {
    rule: FieldRule,
    partner_center: Option<WirePath>,
    crm: Option<WirePath>,
}

/// A related record the opportunity points to: the expanded property it is read through, the
/// property its id is written to and how the id is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// The expanded navigation property read (`customerid_account`, `Account`).
    pub read: String,
    /// The property the id is written to (`customerid_account@odata.bind`, `AccountId`).
    pub property: String,
    /// `{}` stands for the id (`/accounts({})`, `{}`).
    pub reference: String,
}

impl Relation {
    /// A relation.
    pub fn new(read: &str, property: &str, reference: &str) -> Self {
        Relation {
            read: read.into(),
            property: property.into(),
            reference: reference.into(),
        }
    }
}

/// The canonical status codes the status rules use.
pub mod status {
    /// Not yet accepted (New / Pending or Received).
    pub const ON_HOLD: &str = "on_hold";
    /// Accepted and open.
    pub const ACTIVE: &str = "active";
    /// Closed as won.
    pub const WON: &str = "won";
    /// Closed as lost.
    pub const LOST: &str = "lost";
    /// Declined in Partner Center.
    pub const DECLINED: &str = "declined";
    /// Expired in Partner Center.
    pub const EXPIRED: &str = "expired";

    /// Whether the status is a closed one.
    pub fn is_closed(code: &str) -> bool {
        matches!(code, WON | LOST | DECLINED | EXPIRED)
    }
}

/// How the CRM holds the status.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatusRules {
    /// Dataverse `statecode` + `statuscode`: 0/2 on hold, 0/1 in progress, 1/3 won (through
    /// `WinOpportunity`), 2/5 out-sold for lost and 2/4 canceled for declined or expired
    /// (through `LoseOpportunity`).
    Dataverse,
    /// Salesforce `StageName` with configured stages (`IsWon` / `IsClosed` read when present).
    Stages {
        /// The stage of referrals not yet accepted.
        on_hold: String,
        /// The stage an accepted referral starts in.
        active: String,
        /// The won stage.
        won: String,
        /// The lost stage.
        lost: String,
    },
}

/// A mapping built from [`FieldRule`]s; implements [`FieldMapping`].
///
/// A value read that no value map holds is reported ([`MappingIssue::UnmappedValue`]) the
/// first time the mapping (or a clone of it) reads it, not on every record: a service that
/// keeps sending it would otherwise fill every projection with the same issue. Writes report
/// every value they leave out.
#[derive(Debug, Clone)]
pub struct DeclarativeMapping {
    schema: Schema,
    rules: Vec<Option<Compiled>>,
    status: Option<StatusRules>,
    account: Option<Relation>,
    contact: Option<Relation>,
    currency: Option<Relation>,
    single_currency: Option<String>,
    currency_scales: Vec<(String, u32)>,
    default_scale: u32,
    partner_center_modified: Option<String>,
    crm_modified: Option<String>,
    seller_time_zone: Option<TimeZone>,
    /// The unmapped values read so far, each reported once.
    unmapped_seen: Arc<Mutex<HashSet<(String, String)>>>,
}

/// What the CRM reads back of values it cannot hold as written, by the status rules: the
/// status it reads for declined and expired referrals (closed as lost), and, with a stage
/// picklist, the stage an open record without a sales stage shows (the active stage).
fn read_backs(schema: SchemaBuilder, rules: &StatusRules, fields: &[FieldRule]) -> SchemaBuilder {
    if !schema.has("status") {
        return schema;
    }
    let lost = Value::choice(status::LOST);
    let schema = schema.update("status", |field| {
        field
            .reads_back(Side::Crm, Value::choice(status::DECLINED), lost.clone())
            .reads_back(Side::Crm, Value::choice(status::EXPIRED), lost.clone())
    });
    let StatusRules::Stages { active, .. } = rules else {
        return schema;
    };
    if !schema.has("sales_stage") {
        return schema;
    }
    let active_stage = fields
        .iter()
        .find(|rule| rule.name == "sales_stage")
        .and_then(|rule| rule.crm_transform.value_map())
        .and_then(|map| map.to_code(&Json::from(active.as_str())))
        .map(Value::choice);
    match active_stage {
        Some(code) => schema.update("sales_stage", |field| {
            field.reads_back(Side::Crm, Value::Null, code)
        }),
        None => schema,
    }
}

/// How many distinct unmapped values a mapping remembers having reported.
const UNMAPPED_MEMORY: usize = 1024;

/// Builds a [`DeclarativeMapping`]; mistakes are collected and returned by
/// [`build`](Self::build).
///
/// ```
/// use cosell::mapping::{dynamics365, fields, Direction, StatusRules, Value};
///
/// let mapping = dynamics365()
///     .update("referral_id", |rule| rule.crm("contoso_referralid"))
///     .update("notes", |rule| rule.default_on_create(Value::text("From Partner Center")))
///     .direction("sales_stage", Direction::PartnerCenterToCrm)
///     .remove("microsoft_crm_id")
///     .currency_scale("CLF", 4)
///     .build()?;
/// assert_eq!(mapping.rule(fields::REFERRAL_ID).unwrap().crm_path(), Some("contoso_referralid"));
/// assert!(mapping.rule(fields::MICROSOFT_CRM_ID).is_none());
/// assert_eq!(mapping.status_rules(), Some(&StatusRules::Dataverse));
/// # Ok::<(), cosell::mapping::MappingError>(())
/// ```
#[derive(Debug, Clone)]
pub struct MappingBuilder {
    schema: SchemaBuilder,
    rules: Vec<FieldRule>,
    errors: Vec<MappingError>,
    status: Option<StatusRules>,
    account: Option<Relation>,
    contact: Option<Relation>,
    currency: Option<Relation>,
    single_currency: Option<String>,
    currency_scales: Vec<(String, u32)>,
    default_scale: u32,
    partner_center_modified: Option<String>,
    crm_modified: Option<String>,
    seller_time_zone: Option<TimeZone>,
}

/// ISO 4217 currencies without minor units.
const ZERO_DECIMAL: [&str; 17] = [
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
    "VUV", "XAF", "XOF", "XPF",
];
/// ISO 4217 currencies with three minor digits.
const THREE_DECIMAL: [&str; 7] = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

impl DeclarativeMapping {
    /// A builder over `schema` with no rules.
    ///
    /// ```
    /// use cosell::mapping::{DeclarativeMapping, Direction, FieldMapping, FieldRule, FieldSpec, Policy, Schema, ValueKind};
    ///
    /// let schema = Schema::builder("tiny/1").field(
    ///     FieldSpec::new("title", ValueKind::Text).direction(Direction::Both).policy(Policy::NewestWins),
    /// );
    /// let mapping = DeclarativeMapping::builder(schema)
    ///     .rule(FieldRule::new("title").partner_center("name").crm("Name"))
    ///     .build()?;
    /// let projected = mapping.referral_to_canonical(&serde_json::json!({"name": " Deal "}))?;
    /// assert_eq!(projected.record.values()[0].as_text(), Some("Deal"));
    /// # Ok::<(), cosell::mapping::MappingError>(())
    /// ```
    pub fn builder(schema: SchemaBuilder) -> MappingBuilder {
        MappingBuilder {
            schema,
            rules: Vec::new(),
            errors: Vec::new(),
            status: None,
            account: None,
            contact: None,
            currency: None,
            single_currency: None,
            currency_scales: Vec::new(),
            default_scale: 2,
            partner_center_modified: None,
            crm_modified: None,
            seller_time_zone: None,
        }
    }

    /// The rule of a field, if it is mapped.
    pub fn rule(&self, field: FieldId) -> Option<&FieldRule> {
        self.rules
            .get(field.index())
            .and_then(Option::as_ref)
            .map(|compiled| &compiled.rule)
    }

    /// The status rules, if the mapping has them.
    pub fn status_rules(&self) -> Option<&StatusRules> {
        self.status.as_ref()
    }

    /// The seller's time zone, when the mapping was given one
    /// ([`MappingBuilder::seller_time_zone`]).
    pub fn seller_time_zone(&self) -> Option<&TimeZone> {
        self.seller_time_zone.as_ref()
    }

    /// The scale a currency's amounts are compared at (2 unless ISO 4217 or the builder says
    /// otherwise).
    ///
    /// ```
    /// let mapping = cosell::mapping::dynamics365().build()?;
    /// assert_eq!(mapping.currency_scale("JPY"), 0);
    /// assert_eq!(mapping.currency_scale("EUR"), 2);
    /// assert_eq!(mapping.currency_scale("KWD"), 3);
    /// # Ok::<(), cosell::mapping::MappingError>(())
    /// ```
    pub fn currency_scale(&self, iso_code: &str) -> u32 {
        let code = iso_code.trim().to_ascii_uppercase();
        if let Some((_, scale)) = self.currency_scales.iter().find(|(c, _)| *c == code) {
            return *scale;
        }
        if ZERO_DECIMAL.contains(&code.as_str()) {
            0
        } else if THREE_DECIMAL.contains(&code.as_str()) {
            3
        } else {
            self.default_scale
        }
    }

    /// A builder holding this mapping's schema and rules, to change them.
    pub fn to_builder(&self) -> MappingBuilder {
        MappingBuilder {
            schema: self.schema.to_builder(),
            rules: self
                .rules
                .iter()
                .flatten()
                .map(|compiled| compiled.rule.clone())
                .collect(),
            errors: Vec::new(),
            status: self.status.clone(),
            account: self.account.clone(),
            contact: self.contact.clone(),
            currency: self.currency.clone(),
            single_currency: self.single_currency.clone(),
            currency_scales: self.currency_scales.clone(),
            default_scale: self.default_scale,
            partner_center_modified: self.partner_center_modified.clone(),
            crm_modified: self.crm_modified.clone(),
            seller_time_zone: self.seller_time_zone.clone(),
        }
    }

    fn compiled(&self, field: FieldId) -> Option<&Compiled> {
        self.rules.get(field.index()).and_then(Option::as_ref)
    }

    fn name(&self, field: FieldId) -> String {
        self.schema
            .field(field)
            .map(|spec| spec.name().to_owned())
            .unwrap_or_else(|| field.to_string())
    }

    fn project(&self, json: &Json, side: Side) -> Result<Projection, MappingError> {
        let mut record = self.schema.record();
        let mut issues = Vec::new();
        let status_stage = side == Side::Crm && self.shows_status_in_stage(json);
        for (id, spec) in self.schema.fields() {
            if id == fields::STATUS && self.status.is_some() {
                let (value, unmapped) = self.read_status(json, side);
                if let Some(unmapped) = unmapped {
                    self.report_unmapped(spec.name(), unmapped, &mut issues);
                }
                record.set(id, value);
                continue;
            }
            if id == fields::SALES_STAGE && status_stage {
                // The stage holds the status, and no sales stage: not read, not reported.
                record.set(id, Value::Absent);
                continue;
            }
            let Some(compiled) = self.compiled(id) else {
                continue;
            };
            let (path, transform) = match side {
                Side::PartnerCenter => (
                    compiled.partner_center.as_ref(),
                    &compiled.rule.partner_center_transform,
                ),
                Side::Crm => (compiled.crm.as_ref(), &compiled.rule.crm_transform),
            };
            let Some(path) = path else { continue };
            let wire = match (side, compiled.rule.entity) {
                (Side::Crm, CrmEntity::Account) => self
                    .account
                    .as_ref()
                    .and_then(|relation| json.get(&relation.read))
                    .and_then(|related| path.read(related)),
                (Side::Crm, CrmEntity::Contact) => self
                    .contact
                    .as_ref()
                    .and_then(|relation| json.get(&relation.read))
                    .and_then(|related| path.read(related)),
                _ => path.read(json),
            };
            let value = match wire {
                None => Value::Absent,
                Some(Json::Null) => Value::Null,
                Some(wire) => match transform.decode(spec.kind(), &wire) {
                    Decoded::Value(value) => value,
                    Decoded::Unmapped(text) => {
                        self.report_unmapped(spec.name(), text, &mut issues);
                        Value::Absent
                    }
                    Decoded::Unknown(text) => {
                        // The field only: the value is the customer's data.
                        let _ = text;
                        tracing::debug!(
                            field = spec.name(),
                            "a value the mapping declares unknown; the other side's value is kept"
                        );
                        Value::Absent
                    }
                    Decoded::WrongType(expected) => {
                        return Err(MappingError::WrongType {
                            field: spec.name().to_owned(),
                            path: path.to_string(),
                            value: wire,
                            expected: expected.to_owned(),
                        });
                    }
                },
            };
            record.set(id, value);
        }
        let modified_path = match side {
            Side::PartnerCenter => self.partner_center_modified.as_deref(),
            Side::Crm => self.crm_modified.as_deref(),
        };
        if let Some(modified) = modified_path
            .and_then(|path| json.get(path))
            .and_then(Json::as_str)
            .and_then(|text| text.parse().ok())
        {
            record.set_modified(Some(modified));
        }
        let raw = record.clone();
        for truncation in self.schema.normalize(&mut record)? {
            issues.push(MappingIssue::Truncated {
                field: self.name(truncation.field),
                original_chars: truncation.original_chars,
                max_chars: truncation.max_chars,
            });
        }
        self.round_amount(&mut record);
        Ok(Projection {
            record,
            raw,
            issues,
        })
    }

    /// The deal value as the CRM column stores it (a [`Transform::Scale`] on the CRM side), then
    /// at its currency's scale when that holds fewer places, so a target that stores fewer
    /// digits never looks changed. Rounding through the column's scale first makes a value read
    /// from Partner Center round exactly as the same value read back from the CRM: rounding
    /// straight to the currency's scale would differ on a double-rounding tie (JPY
    /// `…239.4950` is `…239` directly, but `…239.50` in the column and then `…240`).
    fn round_amount(&self, record: &mut Record) {
        let Some(amount) = record.get(fields::DEAL_VALUE).as_decimal() else {
            return;
        };
        if self.schema.field(fields::DEAL_VALUE).map(FieldSpec::name) != Some("deal_value") {
            return;
        }
        let currency = match record.get(fields::CURRENCY).as_choice() {
            Some(code) => self.currency_scale(code),
            None => self.default_scale,
        };
        let column = match self
            .compiled(fields::DEAL_VALUE)
            .map(|compiled| &compiled.rule.crm_transform)
        {
            Some(Transform::Scale(places)) => *places,
            _ => u32::MAX,
        };
        let stored = if column == u32::MAX {
            amount
        } else {
            round_to_scale(amount, column)
        };
        record.set(
            fields::DEAL_VALUE,
            Value::Decimal(round_to_scale(stored, currency.min(column))),
        );
    }

    /// Whether a Salesforce-style record's stage shows its status (on hold, won, lost) rather
    /// than a sales stage: read from the record itself, so it holds whether or not the mapping
    /// syncs the status.
    fn shows_status_in_stage(&self, json: &Json) -> bool {
        matches!(self.status, Some(StatusRules::Stages { .. }))
            && self
                .status_code(json, Side::Crm, &mut None)
                .as_choice()
                .is_some_and(|code| code != status::ACTIVE)
    }

    /// The canonical status of a record, with the unmapped status found, if any (reported by
    /// the projection, not by a write that only consults the status).
    fn read_status(&self, json: &Json, side: Side) -> (Value, Option<String>) {
        let mut unmapped = None;
        let value = self.status_code(json, side, &mut unmapped);
        (value, unmapped)
    }

    fn status_code(&self, json: &Json, side: Side, unmapped: &mut Option<String>) -> Value {
        let code = match side {
            Side::PartnerCenter => {
                let status = json.get("status").and_then(Json::as_str);
                let substatus = json.get("substatus").and_then(Json::as_str);
                match (status, substatus) {
                    (None, _) => return Value::Absent,
                    (Some("New"), _) => Some(status::ON_HOLD),
                    (Some("Active"), _) => Some(status::ACTIVE),
                    (Some("Closed"), Some("Won")) => Some(status::WON),
                    (Some("Closed"), Some("Lost")) => Some(status::LOST),
                    (Some("Closed"), Some("Declined")) => Some(status::DECLINED),
                    (Some("Closed"), Some("Expired")) => Some(status::EXPIRED),
                    (Some(status), substatus) => {
                        *unmapped = Some(format!("{status}/{}", substatus.unwrap_or("")));
                        None
                    }
                }
            }
            Side::Crm => match &self.status {
                Some(StatusRules::Dataverse) => {
                    let state = json.get("statecode").and_then(Json::as_i64);
                    let reason = json.get("statuscode").and_then(Json::as_i64);
                    match (state, reason) {
                        (None, None) => return Value::Absent,
                        (Some(1), _) => Some(status::WON),
                        (Some(2), _) => Some(status::LOST),
                        (_, Some(2)) => Some(status::ON_HOLD),
                        _ => Some(status::ACTIVE),
                    }
                }
                Some(StatusRules::Stages {
                    on_hold, won, lost, ..
                }) => {
                    if json.get("IsWon").and_then(Json::as_bool) == Some(true) {
                        Some(status::WON)
                    } else if json.get("IsClosed").and_then(Json::as_bool) == Some(true) {
                        Some(status::LOST)
                    } else {
                        match json.get("StageName").and_then(Json::as_str) {
                            None => return Value::Absent,
                            Some(stage) if stage == on_hold => Some(status::ON_HOLD),
                            Some(stage) if stage == won => Some(status::WON),
                            Some(stage) if stage == lost => Some(status::LOST),
                            Some(_) => Some(status::ACTIVE),
                        }
                    }
                }
                None => return Value::Absent,
            },
        };
        code.map(Value::choice).unwrap_or(Value::Absent)
    }

    /// Report a value read that the mapping cannot map, the first time this mapping sees it:
    /// a service that keeps sending it would otherwise fill every projection with the same
    /// issue. Once the memory is full, every sighting is reported again.
    fn report_unmapped(&self, field: &str, value: String, issues: &mut Vec<MappingIssue>) {
        let key = (field.to_owned(), value);
        let first = {
            let mut seen = self
                .unmapped_seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if seen.contains(&key) {
                false
            } else {
                if seen.len() < UNMAPPED_MEMORY {
                    seen.insert(key.clone());
                }
                true
            }
        };
        if first {
            issues.push(MappingIssue::UnmappedValue {
                field: key.0,
                value: key.1,
            });
        }
    }

    fn held(&self, field: FieldId, reason: HoldReason) -> MappingIssue {
        MappingIssue::Held {
            field: self.name(field),
            reason,
        }
    }

    /// Normalize one value by its field's rules before it is written, reporting a cut.
    fn normalized(
        &self,
        field: FieldId,
        value: &Value,
        issues: &mut Vec<MappingIssue>,
    ) -> Result<Value, MappingError> {
        let Some(spec) = self.schema.field(field) else {
            return Ok(value.clone());
        };
        let rules = spec.normalization_rules();
        let normalized = rules.apply(spec.kind(), value.clone()).map_err(|source| {
            MappingError::Normalize(super::schema::NormalizeError::KindMismatch {
                field: spec.name().to_owned(),
                source,
            })
        })?;
        if let (Some(original_chars), Some(max_chars)) =
            (normalized.truncated_from, rules.max_chars)
        {
            issues.push(MappingIssue::Truncated {
                field: spec.name().to_owned(),
                original_chars,
                max_chars,
            });
        }
        Ok(normalized.value)
    }

    fn encode(
        &self,
        field: FieldId,
        transform: &Transform,
        value: &Value,
        issues: &mut Vec<MappingIssue>,
    ) -> Result<Option<Json>, MappingError> {
        match transform.encode(value) {
            Ok(json) => Ok(Some(json)),
            Err(reason) => {
                if transform.value_map().is_some() {
                    let text = match value {
                        Value::Choice(code) => code.to_string(),
                        other => format!("{other:?}"),
                    };
                    issues.push(MappingIssue::UnmappedValue {
                        field: self.name(field),
                        value: text,
                    });
                    Ok(None)
                } else {
                    Err(MappingError::Unwritable {
                        field: self.name(field),
                        value: value.clone(),
                        reason,
                    })
                }
            }
        }
    }

    /// The values a create writes: those given, and each rule's default where none is; with
    /// the required fields left without a value.
    fn with_create_defaults(
        &self,
        values: &[(FieldId, Value)],
    ) -> (Vec<(FieldId, Value)>, Vec<FieldId>) {
        let mut values: Vec<(FieldId, Value)> = values
            .iter()
            .filter(|(_, value)| !value.is_absent())
            .cloned()
            .collect();
        let mut unfilled = Vec::new();
        for (id, _) in self.schema.fields() {
            let Some(compiled) = self.compiled(id) else {
                continue;
            };
            let given = values
                .iter()
                .any(|(field, value)| *field == id && !value.is_null() && !value.is_blank());
            if !given {
                if let Some(default) = &compiled.rule.default {
                    values.retain(|(field, _)| *field != id);
                    values.push((id, default.clone()));
                } else if compiled.rule.required {
                    unfilled.push(id);
                }
            }
        }
        (values, unfilled)
    }

    fn partner_center_status(&self, code: &str) -> Option<(&'static str, &'static str)> {
        match code {
            status::ACTIVE => Some(("Active", "Accepted")),
            status::WON => Some(("Closed", "Won")),
            status::LOST => Some(("Closed", "Lost")),
            _ => None,
        }
    }

    fn write_crm_status(
        &self,
        code: &str,
        context: &CrmWriteContext<'_>,
        sales_stage: Option<&str>,
        write: &mut CrmWrite,
    ) {
        let current = context
            .current
            .and_then(|record| record.get(fields::STATUS).as_choice());
        match &self.status {
            Some(StatusRules::Dataverse) => {
                let (state, reason) = match code {
                    status::ON_HOLD => (0, 2),
                    status::ACTIVE => (0, 1),
                    status::WON => (1, 3),
                    status::LOST => (2, 5),
                    _ => (2, 4),
                };
                let was_closed = current.is_some_and(status::is_closed);
                if state == 0 && !was_closed {
                    write.body.insert("statuscode".into(), Json::from(reason));
                } else {
                    write.state = Some(StateChange {
                        status: code.to_owned(),
                        state_code: state,
                        status_code: reason,
                    });
                }
            }
            Some(StatusRules::Stages {
                on_hold,
                active,
                won,
                lost,
            }) => {
                let stage = match code {
                    status::ON_HOLD => on_hold.clone(),
                    status::ACTIVE => sales_stage.map(str::to_owned).unwrap_or(active.clone()),
                    status::WON => won.clone(),
                    _ => lost.clone(),
                };
                write.body.insert("StageName".into(), Json::String(stage));
            }
            None => {}
        }
    }
}

impl FieldMapping for DeclarativeMapping {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn referral_to_canonical(&self, referral: &Json) -> Result<Projection, MappingError> {
        self.project(referral, Side::PartnerCenter)
    }

    fn crm_to_canonical(&self, record: &Json) -> Result<Projection, MappingError> {
        self.project(record, Side::Crm)
    }

    fn partner_center_write(
        &self,
        changes: &[(FieldId, Value)],
        referral: &Json,
    ) -> Result<PartnerCenterWrite, MappingError> {
        let mut write = PartnerCenterWrite::default();
        let mut target = PatchTarget::new(referral);
        let (current_status, _) = self.read_status(referral, Side::PartnerCenter);
        let current_status = current_status.as_choice();
        let accepts = changes.iter().any(|(field, value)| {
            *field == fields::STATUS
                && value
                    .as_choice()
                    .is_some_and(|code| code != status::ON_HOLD)
        });
        for (field, value) in changes {
            let (field, value) = (*field, value);
            if value.is_absent() {
                continue;
            }
            if self.status.is_some() {
                if current_status.is_some_and(status::is_closed) {
                    write
                        .issues
                        .push(self.held(field, HoldReason::ReferralClosed));
                    continue;
                }
                // The CRM id is the pair's coupling, not a seller's edit: it is written back
                // while the referral waits for acceptance, as Microsoft's own flow does.
                if current_status == Some(status::ON_HOLD) && !accepts && field != fields::CRM_ID {
                    write.issues.push(self.held(field, HoldReason::NotAccepted));
                    continue;
                }
            }
            let spec = self.schema.field(field);
            if spec.is_none_or(|spec| spec.sync_direction() == Direction::None) {
                continue;
            }
            let policy = spec.map(FieldSpec::conflict_policy);
            if policy == Some(Policy::StickyTrue) && value.as_bool() == Some(false) {
                write
                    .issues
                    .push(self.held(field, HoldReason::Irreversible));
                continue;
            }
            if field == fields::STATUS && self.status.is_some() {
                match value
                    .as_choice()
                    .and_then(|c| self.partner_center_status(c))
                {
                    Some((status, substatus)) => {
                        for (key, wire) in [("status", status), ("substatus", substatus)] {
                            target
                                .set(&[Segment::Key(key.into())], Json::from(wire))
                                .map_err(|reason| MappingError::Unwritable {
                                    field: self.name(field),
                                    value: value.clone(),
                                    reason,
                                })?;
                        }
                    }
                    None => write
                        .issues
                        .push(self.held(field, HoldReason::StatusOneWay)),
                }
                continue;
            }
            let Some(compiled) = self.compiled(field) else {
                continue;
            };
            let Some(path) = &compiled.partner_center else {
                continue;
            };
            let transform = &compiled.rule.partner_center_transform;
            if matches!(transform, Transform::Template(_)) {
                continue;
            }
            let value = self.normalized(field, value, &mut write.issues)?;
            let Some(json) = self.encode(field, transform, &value, &mut write.issues)? else {
                continue;
            };
            let (segments, each) = path.pointer_segments();
            let json = match each {
                Some(rest) => wrap_items(json, &rest),
                None => json,
            };
            target
                .set(&segments, json)
                .map_err(|reason| MappingError::Unwritable {
                    field: self.name(field),
                    value: value.clone(),
                    reason,
                })?;
        }
        write.patch = target.into_patch();
        Ok(write)
    }

    fn partner_center_create(
        &self,
        values: &[(FieldId, Value)],
    ) -> Result<PartnerCenterCreate, MappingError> {
        self.render_partner_center_create(values)
    }

    fn crm_read_fields(&self) -> CrmReadFields {
        let mut read = CrmReadFields::new();
        for (id, _) in self.schema.fields() {
            if id == fields::STATUS && self.status.is_some() {
                continue;
            }
            let Some(compiled) = self.compiled(id) else {
                continue;
            };
            let Some(path) = &compiled.crm else { continue };
            let relation = match compiled.rule.entity {
                CrmEntity::Account => self.account.as_ref().map(|relation| &relation.read),
                CrmEntity::Contact => self.contact.as_ref().map(|relation| &relation.read),
                CrmEntity::Opportunity | CrmEntity::Currency => None,
            };
            if matches!(
                compiled.rule.entity,
                CrmEntity::Account | CrmEntity::Contact
            ) && relation.is_none()
            {
                // Without the relation the projection reads nothing for the field.
                continue;
            }
            let keys: Vec<&str> = relation
                .map(String::as_str)
                .into_iter()
                .chain(path.keys())
                .collect();
            read = read.path(&keys.join("."));
        }
        let status_columns: &[&str] = match &self.status {
            Some(StatusRules::Dataverse) => &["statecode", "statuscode"],
            Some(StatusRules::Stages { .. }) => &["StageName", "IsWon", "IsClosed"],
            None => &[],
        };
        for column in status_columns {
            read = read.path(column);
        }
        if let Some(modified) = &self.crm_modified {
            read = read.path(modified);
        }
        read
    }

    fn crm_write(
        &self,
        changes: &[(FieldId, Value)],
        context: CrmWriteContext<'_>,
    ) -> Result<CrmWrite, MappingError> {
        let mut write = CrmWrite::default();
        let values = if context.create {
            let (values, unfilled) = self.with_create_defaults(changes);
            if let Some(field) = unfilled.first() {
                return Err(MappingError::MissingRequired {
                    field: self.name(*field),
                });
            }
            values
        } else {
            changes
                .iter()
                .filter(|(_, value)| !value.is_absent())
                .cloned()
                .collect()
        };
        let mut account = Map::new();
        let mut contact = Map::new();
        let mut status_code = None;
        let mut sales_stage_wire = None;
        for (field, value) in &values {
            let field = *field;
            let direction = self
                .schema
                .field(field)
                .map(FieldSpec::sync_direction)
                .unwrap_or(Direction::None);
            // A field that is not synced is not written, not even on create.
            if direction == Direction::None {
                continue;
            }
            if field == fields::STATUS && self.status.is_some() {
                status_code = value.as_choice().map(str::to_owned);
                continue;
            }
            let Some(compiled) = self.compiled(field) else {
                continue;
            };
            let Some(path) = &compiled.crm else { continue };
            if compiled.rule.crm_read_only {
                continue;
            }
            let entity = compiled.rule.entity;
            if !context.create && matches!(entity, CrmEntity::Account | CrmEntity::Contact) {
                continue;
            }
            let value = self.normalized(field, value, &mut write.issues)?;
            if entity == CrmEntity::Currency {
                if value.is_null() {
                    write.issues.push(self.held(field, HoldReason::Required));
                }
                if let Some(code) = value.as_choice() {
                    match (&self.single_currency, &self.currency) {
                        (Some(only), _) => {
                            if !only.eq_ignore_ascii_case(code) {
                                write.issues.push(MappingIssue::CurrencyMismatch {
                                    found: code.to_owned(),
                                    expected: only.clone(),
                                });
                            }
                        }
                        (None, Some(relation)) => write.lookups.push(Lookup {
                            target: LookupTarget::Currency(code.to_owned()),
                            property: relation.property.clone(),
                            reference: relation.reference.clone(),
                            create_body: Map::new(),
                        }),
                        (None, None) => {}
                    }
                }
                continue;
            }
            if entity == CrmEntity::Opportunity
                && let Some(only) = &self.single_currency
                && field == fields::CURRENCY
            {
                if let Some(code) = value.as_choice()
                    && !only.eq_ignore_ascii_case(code)
                {
                    write.issues.push(MappingIssue::CurrencyMismatch {
                        found: code.to_owned(),
                        expected: only.clone(),
                    });
                }
                continue;
            }
            let Some(json) = self.encode(
                field,
                &compiled.rule.crm_transform,
                &value,
                &mut write.issues,
            )?
            else {
                continue;
            };
            if field == fields::SALES_STAGE
                && matches!(self.status, Some(StatusRules::Stages { .. }))
            {
                sales_stage_wire = json.as_str().map(str::to_owned);
            }
            if entity == CrmEntity::Opportunity
                && path.is_single_key()
                && let (Some(number), Json::Number(_)) = (value.as_decimal(), &json)
            {
                let exact = match &compiled.rule.crm_transform {
                    Transform::Scale(scale) => round_to_scale(number, *scale),
                    _ => number,
                };
                write.decimals.insert(path.head().to_owned(), exact);
            }
            match entity {
                CrmEntity::Account => path.write(&mut account, json),
                CrmEntity::Contact => path.write(&mut contact, json),
                _ => path.write(&mut write.body, json),
            }
        }
        // Salesforce keeps status and sales stage in one picklist: a closed or on-hold status
        // decides the stage; an open one takes the sales stage.
        let current_status = context
            .current
            .and_then(|record| record.get(fields::STATUS).as_choice())
            .map(str::to_owned);
        match (&status_code, &self.status) {
            (Some(code), _) => {
                // Reopening or accepting keeps the record's own sales stage when it has one, else
                // takes the referral's: a stage that showed the status held none.
                let stage_of = |record: Option<&Record>| {
                    let stage = record?.get(fields::SALES_STAGE);
                    let compiled = self.compiled(fields::SALES_STAGE)?;
                    let wire = compiled.rule.crm_transform.encode(stage).ok()?;
                    wire.as_str().map(str::to_owned)
                };
                let sales_stage = sales_stage_wire
                    .or_else(|| stage_of(context.current))
                    .or_else(|| stage_of(context.partner_center));
                self.write_crm_status(code, &context, sales_stage.as_deref(), &mut write)
            }
            (None, Some(StatusRules::Stages { .. })) => {
                if let Some(current) = current_status.as_deref()
                    && current != status::ACTIVE
                    && write.body.contains_key("StageName")
                {
                    write.body.remove("StageName");
                    write
                        .issues
                        .push(self.held(fields::SALES_STAGE, HoldReason::StatusOneWay));
                }
            }
            _ => {}
        }
        if context.create {
            let text = |record: &[(FieldId, Value)], id: FieldId| {
                record
                    .iter()
                    .find(|(field, _)| *field == id)
                    .and_then(|(_, value)| match value {
                        Value::Text(text) | Value::Choice(text) => Some(text.trim().to_owned()),
                        _ => None,
                    })
            };
            if let Some(relation) = &self.account
                && !account.is_empty()
            {
                write.lookups.push(Lookup {
                    target: LookupTarget::Account(CustomerQuery {
                        name: text(&values, fields::CUSTOMER_NAME),
                        address_line1: text(&values, fields::CUSTOMER_ADDRESS_LINE1),
                        city: text(&values, fields::CUSTOMER_CITY),
                        state: text(&values, fields::CUSTOMER_STATE),
                        postal_code: text(&values, fields::CUSTOMER_POSTAL_CODE),
                        country: text(&values, fields::CUSTOMER_COUNTRY),
                    }),
                    property: relation.property.clone(),
                    reference: relation.reference.clone(),
                    create_body: account,
                });
            }
            if let Some(relation) = &self.contact
                && !contact.is_empty()
            {
                write.lookups.push(Lookup {
                    target: LookupTarget::Contact(ContactQuery {
                        first_name: text(&values, fields::CONTACT_FIRST_NAME),
                        last_name: text(&values, fields::CONTACT_LAST_NAME),
                        email: text(&values, fields::CONTACT_EMAIL),
                        phone: text(&values, fields::CONTACT_PHONE),
                    }),
                    property: relation.property.clone(),
                    reference: relation.reference.clone(),
                    create_body: contact,
                });
            }
        }
        Ok(write)
    }
}

impl MappingBuilder {
    /// Add (or replace) the rule of a field of the schema.
    pub fn rule(mut self, rule: FieldRule) -> Self {
        self.rules.retain(|held| held.name != rule.name);
        self.rules.push(rule);
        self
    }

    /// Add a new canonical field with its rule.
    pub fn field(mut self, spec: FieldSpec, rule: FieldRule) -> Self {
        self.schema = self.schema.field(spec);
        self.rule(rule)
    }

    /// Change the rule of the field called `name`.
    pub fn update(mut self, name: &str, change: impl FnOnce(FieldRule) -> FieldRule) -> Self {
        match self.rules.iter().position(|rule| rule.name == name) {
            Some(index) => {
                let rule = self.rules[index].clone();
                self.rules[index] = change(rule);
            }
            None => self.errors.push(MappingError::UnknownField {
                field: name.to_owned(),
            }),
        }
        self
    }

    /// Change the canonical field called `name` (direction, policy, normalization).
    pub fn update_field(mut self, name: &str, change: impl FnOnce(FieldSpec) -> FieldSpec) -> Self {
        self.schema = self.schema.update(name, change);
        self
    }

    /// Set the direction of the field called `name`.
    pub fn direction(self, name: &str, direction: Direction) -> Self {
        self.update_field(name, |field| field.direction(direction))
    }

    /// Stop mapping the field called `name`: its rule goes and it is no longer synced (the field
    /// stays in the schema, so field ids never move).
    pub fn remove(mut self, name: &str) -> Self {
        self.rules.retain(|rule| rule.name != name);
        self.update_field(name, |field| field.direction(Direction::None))
    }

    /// Set the status rules.
    pub fn status_rules(mut self, rules: StatusRules) -> Self {
        self.status = Some(rules);
        self
    }

    /// Set the customer account relation.
    pub fn account_relation(mut self, relation: Relation) -> Self {
        self.account = Some(relation);
        self
    }

    /// Set the customer contact relation.
    pub fn contact_relation(mut self, relation: Relation) -> Self {
        self.contact = Some(relation);
        self
    }

    /// Set the currency relation.
    pub fn currency_relation(mut self, relation: Relation) -> Self {
        self.currency = Some(relation);
        self
    }

    /// The target takes only this currency (a Salesforce org without multi-currency): the
    /// currency is not written and a record in another currency is reported.
    pub fn single_currency(mut self, iso_code: &str) -> Self {
        self.single_currency = Some(iso_code.to_ascii_uppercase());
        self
    }

    /// Compare amounts in `iso_code` at `scale` decimal places.
    pub fn currency_scale(mut self, iso_code: &str, scale: u32) -> Self {
        self.currency_scales
            .push((iso_code.to_ascii_uppercase(), scale));
        self
    }

    /// The properties holding each side's last modification time (`updatedDateTime`,
    /// `modifiedon`, `LastModifiedDate`).
    pub fn modified_at(mut self, partner_center: &str, crm: &str) -> Self {
        self.partner_center_modified = Some(partner_center.to_owned());
        self.crm_modified = Some(crm.to_owned());
        self
    }

    /// The seller's time zone (an IANA zone such as `Pacific/Auckland`): every instant ↔ date
    /// conversion of the mapping (Partner Center's `closingDateTime` and the CRM's date-only
    /// close date) uses it. An instant becomes its calendar date in the zone, and a date is
    /// written as its local midnight in the zone, in UTC. Without it, instants are rounded to
    /// the nearest UTC midnight, which is right only for sellers from UTC−11:59 to UTC+12:00
    /// ([`DateRule::NearestUtcMidnight`]).
    ///
    /// ```
    /// use cosell::mapping::{dynamics365, fields, FieldMapping, Value};
    /// use jiff::civil::date;
    ///
    /// let tonga = jiff::tz::TimeZone::get("Pacific/Tongatapu").unwrap();
    /// let mapping = dynamics365().seller_time_zone(tonga).build()?;
    /// let referral = serde_json::json!({"details": {"closingDateTime": "2026-03-30T11:00:00Z"}});
    /// let projected = mapping.referral_to_canonical(&referral)?;
    /// assert_eq!(projected.record.get(fields::CLOSE_DATE), &Value::Date(date(2026, 3, 31)));
    /// # Ok::<(), cosell::mapping::MappingError>(())
    /// ```
    pub fn seller_time_zone(mut self, zone: TimeZone) -> Self {
        self.seller_time_zone = Some(zone);
        self
    }

    /// The mapping, or the first mistake made while building it.
    pub fn build(self) -> Result<DeclarativeMapping, MappingError> {
        if let Some(error) = self.errors.into_iter().next() {
            return Err(error);
        }
        let mut schema = self.schema;
        let mut rules = self.rules;
        if let Some(status_rules) = &self.status {
            schema = read_backs(schema, status_rules, &rules);
        }
        if let Some(zone) = &self.seller_time_zone {
            let rule = DateRule::InTimeZone(zone.clone());
            schema = schema.date_rule(&rule);
            for field in &mut rules {
                for transform in [
                    &mut field.partner_center_transform,
                    &mut field.crm_transform,
                ] {
                    if let Transform::InstantToDate(held) = transform {
                        *held = rule.clone();
                    }
                }
            }
        }
        let schema = schema.build()?;
        let mut compiled: Vec<Option<Compiled>> = vec![None; schema.len()];
        for rule in rules {
            let Some(id) = schema.id(&rule.name) else {
                return Err(MappingError::UnknownField { field: rule.name });
            };
            let parse = |path: &Option<String>| -> Result<Option<WirePath>, MappingError> {
                path.as_deref()
                    .map(|text| {
                        WirePath::parse(text).map_err(|reason| MappingError::BadPath {
                            field: rule.name.clone(),
                            path: text.to_owned(),
                            reason,
                        })
                    })
                    .transpose()
            };
            let partner_center = parse(&rule.partner_center)?;
            let crm = parse(&rule.crm)?;
            compiled[id.index()] = Some(Compiled {
                rule,
                partner_center,
                crm,
            });
        }
        Ok(DeclarativeMapping {
            schema,
            rules: compiled,
            status: self.status,
            account: self.account,
            contact: self.contact,
            currency: self.currency,
            single_currency: self.single_currency,
            currency_scales: self.currency_scales,
            default_scale: self.default_scale,
            partner_center_modified: self.partner_center_modified,
            crm_modified: self.crm_modified,
            seller_time_zone: self.seller_time_zone,
            unmapped_seen: Arc::default(),
        })
    }
}
