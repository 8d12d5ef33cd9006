//! The `FieldMapping` trait and the write plans it renders.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{Map, Value as Json};

use super::error::{MappingError, MappingIssue};
use super::record::Record;
use super::resolve::{
    AccountResolver, ContactResolver, CurrencyResolver, Lookup, LookupTarget, Resolution,
};
use super::schema::{FieldId, Schema};
use super::value::Value;
use crate::partner_center::ReferralPatch;

/// A record projected onto the canonical schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    /// The values normalized for comparison (trimmed, cut to length, at the currency's scale):
    /// give this to the diff engine.
    pub record: Record,
    /// The values as read, before normalization: what a create writes, so amounts keep every
    /// digit.
    pub raw: Record,
    /// Unmapped values and truncations, reported rather than dropped.
    pub issues: Vec<MappingIssue>,
}

impl Projection {
    /// Every value known in the raw record, as changes for creating the record on the other
    /// side.
    pub fn create_changes(&self) -> Vec<(FieldId, Value)> {
        self.raw
            .values()
            .iter()
            .enumerate()
            .filter(|(_, value)| !value.is_absent())
            .map(|(index, value)| (FieldId::new(index as u16), value.clone()))
            .collect()
    }
}

/// The changes of a diff for one side, as the mapping takes them.
///
/// ```
/// use cosell::diff;
/// use cosell::mapping::{changes_of, fields, Schema, Value};
///
/// let schema = Schema::cosell();
/// let base = schema.record().with(fields::DEAL_NAME, Value::text("a"));
/// let pc = base.clone().with(fields::DEAL_NAME, Value::text("b"));
/// let plan = diff::three_way(&schema, &base, &pc, &base);
/// assert_eq!(changes_of(plan.crm()), [(fields::DEAL_NAME, Value::text("b"))]);
/// ```
pub fn changes_of(side: &crate::diff::SideChanges) -> Vec<(FieldId, Value)> {
    side.iter()
        .map(|(field, value)| (field, value.clone()))
        .collect()
}

/// The Partner Center side of a write: a JSON Patch of `replace` and `add` operations (status
/// changes included), and what was held back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartnerCenterWrite {
    /// The patch to send.
    pub patch: ReferralPatch,
    /// Values not sent (status rules, irreversible flags, unmapped values).
    pub issues: Vec<MappingIssue>,
}

/// A state change the CRM makes through a dedicated call rather than the PATCH body: Dataverse
/// closes opportunities with `WinOpportunity` / `LoseOpportunity` (and reopens them) and never
/// takes `statecode` on create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// The canonical status to reach (`won`, `lost`, `declined`, `expired`, `active`).
    pub status: String,
    /// The target `statecode`.
    pub state_code: i32,
    /// The target `statuscode`.
    pub status_code: i32,
}

impl StateChange {
    /// Whether the change closes the record as won (`WinOpportunity`).
    pub fn is_win(&self) -> bool {
        self.state_code == 1
    }

    /// Whether the change closes the record as lost (`LoseOpportunity`).
    pub fn is_loss(&self) -> bool {
        self.state_code == 2
    }
}

/// The CRM side of a write: a PATCH body with only the changed columns, a state change made
/// through a dedicated call, and the lookups still to resolve.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CrmWrite {
    /// The PATCH (or create) body. Decimal columns appear here as JSON numbers, which hold
    /// about 15 significant digits unless the `arbitrary-precision` feature is on; their exact
    /// values are in [`decimals`](Self::decimals), and [`body_json`](Self::body_json) and the
    /// typed patches use those.
    pub body: Map<String, Json>,
    /// The exact value of every decimal column in the body.
    pub decimals: BTreeMap<String, Decimal>,
    /// A state change for a dedicated call, after the body is written.
    pub state: Option<StateChange>,
    /// Lookups to resolve and [`bind`](Self::bind) before sending.
    pub lookups: Vec<Lookup>,
    /// Values not sent, truncations.
    pub issues: Vec<MappingIssue>,
}

impl CrmWrite {
    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.body.is_empty() && self.state.is_none() && self.lookups.is_empty()
    }

    /// Put `id` into the body for `lookup`, and drop it from the pending lookups.
    pub fn bind(&mut self, lookup: &Lookup, id: &str) {
        self.body.insert(
            lookup.property.clone(),
            Json::String(lookup.reference.replace("{}", id)),
        );
        self.lookups.retain(|pending| pending != lookup);
    }

    /// Resolve the pending lookups with the given resolvers: matches are bound, and the lookups
    /// left (to create, ambiguous, or an unknown currency) are returned with their resolution.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use cosell::mapping::{CrmWrite, EmailContactMatch, ExactAccountMatch, Lookup, LookupTarget, Resolution};
    ///
    /// let mut write = CrmWrite::default();
    /// write.lookups.push(Lookup {
    ///     target: LookupTarget::Currency("EUR".into()),
    ///     property: "transactioncurrencyid@odata.bind".into(),
    ///     reference: "/transactioncurrencies({})".into(),
    ///     create_body: Default::default(),
    /// });
    /// let currencies = HashMap::from([("EUR".to_string(), "7d9d".to_string())]);
    /// let left = write.resolve(&ExactAccountMatch::default(), &EmailContactMatch::default(), &currencies);
    /// assert!(left.is_empty());
    /// assert_eq!(write.body["transactioncurrencyid@odata.bind"], "/transactioncurrencies(7d9d)");
    /// ```
    pub fn resolve(
        &mut self,
        accounts: &dyn AccountResolver,
        contacts: &dyn ContactResolver,
        currencies: &dyn CurrencyResolver,
    ) -> Vec<(Lookup, Resolution)> {
        let mut left = Vec::new();
        for lookup in self.lookups.clone() {
            let resolution = match &lookup.target {
                LookupTarget::Account(customer) => accounts.resolve_account(customer),
                LookupTarget::Contact(contact) => contacts.resolve_contact(contact),
                LookupTarget::Currency(code) => match currencies.currency_id(code) {
                    Some(id) => Resolution::Existing(id),
                    None => Resolution::Ambiguous(Vec::new()),
                },
            };
            match resolution {
                Resolution::Existing(id) => self.bind(&lookup, &id),
                other => left.push((lookup, other)),
            }
        }
        left
    }

    /// The body as JSON text, decimal columns written with every digit.
    ///
    /// ```
    /// use cosell::mapping::{dynamics365, fields, CrmWriteContext, FieldMapping, Value};
    ///
    /// let mapping = dynamics365().build()?;
    /// let amount = "98765432109876.5432".parse().unwrap();
    /// let write = mapping.crm_write(&[(fields::DEAL_VALUE, Value::Decimal(amount))], CrmWriteContext::default())?;
    /// assert_eq!(write.body_json(), r#"{"estimatedvalue":98765432109876.5432}"#);
    /// # Ok::<(), cosell::mapping::MappingError>(())
    /// ```
    pub fn body_json(&self) -> String {
        let mut text = String::from("{");
        for (index, (key, value)) in self.body.iter().enumerate() {
            if index > 0 {
                text.push(',');
            }
            text.push_str(&Json::String(key.clone()).to_string());
            text.push(':');
            match (self.decimals.get(key), value) {
                (Some(exact), Json::Number(_)) => text.push_str(&exact.normalize().to_string()),
                _ => text.push_str(&value.to_string()),
            }
        }
        text.push('}');
        text
    }

    fn exact(&self, column: &str) -> crate::FieldUpdate<Decimal> {
        match (self.decimals.get(column), self.body.get(column)) {
            (Some(exact), Some(Json::Number(_))) => crate::FieldUpdate::Set(*exact),
            _ => crate::FieldUpdate::Unchanged,
        }
    }

    /// The body as a Dataverse PATCH body (`estimatedvalue` and `budgetamount` typed, so they
    /// keep every digit; lookups bound; the state change is not part of it).
    pub fn to_dataverse_patch(&self) -> crate::dataverse::OpportunityPatch {
        let mut extra = self.body.clone();
        let estimated_value = self.exact("estimatedvalue");
        let budget_amount = self.exact("budgetamount");
        for (column, update) in [
            ("estimatedvalue", &estimated_value),
            ("budgetamount", &budget_amount),
        ] {
            if !update.is_unchanged() {
                extra.remove(column);
            }
        }
        crate::dataverse::OpportunityPatch {
            estimated_value,
            budget_amount,
            extra,
            ..Default::default()
        }
    }

    /// The body as a Salesforce PATCH body (`Amount` typed, so it keeps every digit).
    pub fn to_salesforce_patch(&self) -> crate::salesforce::OpportunityPatch {
        let mut extra = self.body.clone();
        let amount = self.exact("Amount");
        if !amount.is_unchanged() {
            extra.remove("Amount");
        }
        crate::salesforce::OpportunityPatch {
            amount,
            extra,
            ..Default::default()
        }
    }
}

/// What a CRM write is for.
#[derive(Debug, Clone, Copy, Default)]
pub struct CrmWriteContext<'a> {
    /// The record is being created: create-only fields, defaults and lookups are written, and
    /// required fields are checked.
    pub create: bool,
    /// The CRM record's current canonical values, when it exists.
    pub current: Option<&'a Record>,
}

/// Maps one CRM entity to the canonical co-sell record and back. Implement it by hand for any
/// entity, or build one with [`DeclarativeMapping::builder`](crate::mapping::DeclarativeMapping::builder).
/// Mapping does no I/O.
///
/// ```
/// use cosell::diff;
/// use cosell::mapping::{changes_of, dynamics365, CrmWriteContext, FieldMapping};
/// use serde_json::json;
///
/// let mapping = dynamics365().build()?;
/// let referral = json!({"name": "Contoso", "status": "Active", "substatus": "Accepted",
///     "details": {"dealValue": "1200.50", "currency": "EUR"}});
/// let row = json!({"name": "Contoso", "statecode": 1, "statuscode": 3, "estimatedvalue": 1200.5,
///     "transactioncurrencyid": {"isocurrencycode": "EUR"}});
/// let pc = mapping.referral_to_canonical(&referral)?;
/// let crm = mapping.crm_to_canonical(&row)?;
///
/// // The CRM record was won since the last sync (the baseline is the referral as it was).
/// let plan = diff::three_way(mapping.schema(), &pc.record, &pc.record, &crm.record);
/// let write = mapping.partner_center_write(&changes_of(plan.partner_center()), &referral)?;
/// assert_eq!(
///     serde_json::to_value(&write.patch).unwrap(),
///     json!([{"op": "replace", "path": "/status", "value": "Closed"},
///            {"op": "replace", "path": "/substatus", "value": "Won"}]),
/// );
/// let write = mapping.crm_write(&changes_of(plan.crm()), CrmWriteContext::default())?;
/// assert!(write.is_empty());
/// # Ok::<(), cosell::mapping::MappingError>(())
/// ```
pub trait FieldMapping {
    /// The canonical schema the mapping fills (directions, policies, normalization).
    fn schema(&self) -> &Schema;

    /// Project a referral (its JSON, as read from Partner Center) onto a canonical record.
    fn referral_to_canonical(&self, referral: &Json) -> Result<Projection, MappingError>;

    /// Project a CRM record (its JSON, with expanded account, contact and currency where
    /// mapped) onto a canonical record.
    fn crm_to_canonical(&self, record: &Json) -> Result<Projection, MappingError>;

    /// Render changes into a Partner Center patch. `referral` is the referral as read (its
    /// JSON): status rules read it (closed referrals are read only, unaccepted ones take only
    /// the acceptance), and the patch is shaped to apply to it (a value below an object the
    /// referral lacks is sent inside an `add` of that object).
    fn partner_center_write(
        &self,
        changes: &[(FieldId, Value)],
        referral: &Json,
    ) -> Result<PartnerCenterWrite, MappingError>;

    /// Render changes into a CRM write.
    fn crm_write(
        &self,
        changes: &[(FieldId, Value)],
        context: CrmWriteContext<'_>,
    ) -> Result<CrmWrite, MappingError>;
}

/// The audit trail with `entry` put first (newest first), cut to `max_chars` characters by
/// dropping the oldest lines.
///
/// ```
/// use cosell::mapping::audit_trail_with;
///
/// let trail = audit_trail_with(Some("2025-01-01 created"), "2025-01-02 closed referral: edit not sent", 60);
/// assert_eq!(trail, "2025-01-02 closed referral: edit not sent\n2025-01-01 created");
/// let cut = audit_trail_with(Some(&trail), "2025-01-03 synced", 45);
/// assert_eq!(cut, "2025-01-03 synced");
/// ```
pub fn audit_trail_with(existing: Option<&str>, entry: &str, max_chars: usize) -> String {
    let mut trail = super::normalize::truncate_chars(entry.trim(), max_chars)
        .0
        .to_owned();
    let mut used = trail.chars().count();
    for line in existing
        .unwrap_or("")
        .lines()
        .filter(|line| !line.trim().is_empty())
    {
        let needed = line.chars().count() + 1;
        if used + needed > max_chars {
            break;
        }
        trail.push('\n');
        trail.push_str(line);
        used += needed;
    }
    trail
}
