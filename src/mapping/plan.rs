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
use crate::partner_center::{Referral, ReferralPatch};

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

/// A referral to create in Partner Center from a CRM record (`POST`), and what was left out.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerCenterCreate {
    /// The referral to send with
    /// [`Referrals::create`](crate::partner_center::referrals::Referrals::create): of type
    /// `Independent` (change it before sending for the older two-step shared recipe), with the
    /// consent, customer and deal the record gives.
    pub referral: Referral,
    /// Values not sent (unmapped values).
    pub issues: Vec<MappingIssue>,
}

/// The CRM fields a mapping reads: the record's own columns and, per related record (an
/// expanded lookup, a Salesforce relationship), its columns. Query exactly these, so no mapped
/// field reads as absent because a hand-written list left it out.
///
/// ```
/// use cosell::mapping::CrmReadFields;
///
/// let fields = CrmReadFields::new()
///     .path("name")
///     .path("customerid_account.address1_country")
///     .path("customerid_account.name")
///     .path("name");
/// assert_eq!(fields.dataverse_select(), ["name"]);
/// assert_eq!(fields.dataverse_expand(), ["customerid_account($select=address1_country,name)"]);
/// assert_eq!(fields.soql_fields(), ["name", "customerid_account.address1_country", "customerid_account.name"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrmReadFields {
    columns: Vec<String>,
    relations: Vec<(String, CrmReadFields)>,
}

impl CrmReadFields {
    /// No fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a field by its path: `column`, or `relation.column` (any depth) for a column of a
    /// related record. A field already held is not added twice.
    pub fn path(mut self, path: &str) -> Self {
        let keys: Vec<&str> = path.split('.').filter(|key| !key.is_empty()).collect();
        self.add(&keys);
        self
    }

    fn add(&mut self, keys: &[&str]) {
        match keys {
            [] => {}
            [column] => {
                if !self.columns.iter().any(|held| held == column) {
                    self.columns.push((*column).to_owned());
                }
            }
            [relation, rest @ ..] => {
                let at = match self.relations.iter().position(|(name, _)| name == relation) {
                    Some(at) => at,
                    None => {
                        self.relations
                            .push(((*relation).to_owned(), CrmReadFields::new()));
                        self.relations.len() - 1
                    }
                };
                self.relations[at].1.add(rest);
            }
        }
    }

    /// The record's own columns, in the order added.
    pub fn columns(&self) -> impl Iterator<Item = &str> + '_ {
        self.columns.iter().map(String::as_str)
    }

    /// The related records read, each with its fields.
    pub fn relations(&self) -> impl Iterator<Item = (&str, &CrmReadFields)> + '_ {
        self.relations
            .iter()
            .map(|(name, fields)| (name.as_str(), fields))
    }

    /// Whether the field at `path` (`column` or `relation.column`) is read.
    pub fn contains(&self, path: &str) -> bool {
        match path.split_once('.') {
            None => self.columns.iter().any(|column| column == path),
            Some((relation, rest)) => self
                .relations
                .iter()
                .any(|(name, fields)| name == relation && fields.contains(rest)),
        }
    }

    /// Dataverse `$select`: the record's own columns.
    pub fn dataverse_select(&self) -> Vec<String> {
        self.columns.clone()
    }

    /// Dataverse `$expand` items, one per related record:
    /// `customerid_account($select=name,address1_country)`, nested for deeper paths.
    pub fn dataverse_expand(&self) -> Vec<String> {
        self.relations
            .iter()
            .map(|(name, fields)| {
                let mut options = Vec::new();
                if !fields.columns.is_empty() {
                    options.push(format!("$select={}", fields.columns.join(",")));
                }
                let nested = fields.dataverse_expand();
                if !nested.is_empty() {
                    options.push(format!("$expand={}", nested.join(",")));
                }
                if options.is_empty() {
                    name.clone()
                } else {
                    format!("{name}({})", options.join(";"))
                }
            })
            .collect()
    }

    /// The SOQL field list: the record's columns, then relationship paths (`Account.Name`).
    pub fn soql_fields(&self) -> Vec<String> {
        let mut fields = self.columns.clone();
        for (name, related) in &self.relations {
            fields.extend(
                related
                    .soql_fields()
                    .into_iter()
                    .map(|field| format!("{name}.{field}")),
            );
        }
        fields
    }
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
    /// The first resolver error stops the resolution and is returned; the lookups resolved
    /// before it stay bound.
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
    /// let left = futures::executor::block_on(write.resolve(
    ///     &ExactAccountMatch::default(),
    ///     &EmailContactMatch::default(),
    ///     &currencies,
    /// ))?;
    /// assert!(left.is_empty());
    /// assert_eq!(write.body["transactioncurrencyid@odata.bind"], "/transactioncurrencies(7d9d)");
    /// # Ok::<(), cosell::Error>(())
    /// ```
    pub async fn resolve(
        &mut self,
        accounts: &dyn AccountResolver,
        contacts: &dyn ContactResolver,
        currencies: &dyn CurrencyResolver,
    ) -> crate::Result<Vec<(Lookup, Resolution)>> {
        let mut left = Vec::new();
        for lookup in self.lookups.clone() {
            let resolution = match &lookup.target {
                LookupTarget::Account(customer) => accounts.resolve_account(customer).await?,
                LookupTarget::Contact(contact) => contacts.resolve_contact(contact).await?,
                LookupTarget::Currency(code) => match currencies.currency_id(code).await? {
                    Some(id) => Resolution::Existing(id),
                    None => Resolution::Ambiguous(Vec::new()),
                },
            };
            match resolution {
                Resolution::Existing(id) => self.bind(&lookup, &id),
                other => left.push((lookup, other)),
            }
        }
        Ok(left)
    }

    /// The body as JSON text, decimal columns written with every digit.
    ///
    /// ```
    /// use cosell::mapping::{dynamics365, fields, CrmWriteContext, FieldMapping, Value};
    ///
    /// // Written at the column's two places, every digit of them kept.
    /// let mapping = dynamics365().build()?;
    /// let amount = "98765432109876.5432".parse().unwrap();
    /// let write = mapping.crm_write(&[(fields::DEAL_VALUE, Value::Decimal(amount))], CrmWriteContext::default())?;
    /// assert_eq!(write.body_json(), r#"{"estimatedvalue":98765432109876.54}"#);
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
    /// The referral's canonical values, when known. A record whose stage showed its status
    /// (Salesforce) holds no sales stage; reopening or accepting it writes the referral's.
    pub partner_center: Option<&'a Record>,
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

    /// Render a CRM record's values (its [`Projection::create_changes`]) into a referral to
    /// create in Partner Center. A record that lacks what Partner Center requires is a
    /// [`MappingError::IncompleteReferral`] naming each missing value.
    fn partner_center_create(
        &self,
        values: &[(FieldId, Value)],
    ) -> Result<PartnerCenterCreate, MappingError>;

    /// The CRM fields [`crm_to_canonical`](Self::crm_to_canonical) reads, to query them.
    fn crm_read_fields(&self) -> CrmReadFields;
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
