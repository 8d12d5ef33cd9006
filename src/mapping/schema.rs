//! The schema: the canonical fields in a fixed order, each with its kind, direction, policy and
//! normalization.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::normalize::{DateRule, KindMismatch, Normalization};
use super::policy::{Direction, Policy, Side};
use super::record::Record;
use super::value::{Value, ValueKind};

/// The position of a field in a [`Schema`] and in every [`Record`] of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FieldId(u16);

impl FieldId {
    pub(crate) const fn new(index: u16) -> Self {
        FieldId(index)
    }

    /// The field's position, counting from zero.
    ///
    /// ```
    /// assert_eq!(cosell::mapping::fields::DEAL_NAME.index(), 0);
    /// ```
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for FieldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One canonical field: its name, kind, sync direction, conflict policy and normalization.
///
/// ```
/// use cosell::mapping::{Direction, FieldSpec, Policy, ValueKind};
///
/// let field = FieldSpec::new("industry", ValueKind::Choice)
///     .direction(Direction::Both)
///     .policy(Policy::CrmWins);
/// assert_eq!(field.name(), "industry");
/// ```
#[derive(Debug, Clone)]
pub struct FieldSpec {
    name: Box<str>,
    kind: ValueKind,
    direction: Direction,
    policy: Policy,
    normalization: Normalization,
    read_backs: Vec<ReadBack>,
}

/// A value a side cannot hold as written: writing `written` there reads back `read`.
#[derive(Debug, Clone, PartialEq)]
struct ReadBack {
    side: Side,
    written: Value,
    read: Value,
}

impl FieldSpec {
    /// A field that is not synced ([`Direction::None`], [`Policy::Manual`]) with the default
    /// normalization; set the rest with the methods below.
    pub fn new(name: impl Into<String>, kind: ValueKind) -> Self {
        FieldSpec {
            name: name.into().into_boxed_str(),
            kind,
            direction: Direction::None,
            policy: Policy::Manual,
            normalization: Normalization::default(),
            read_backs: Vec::new(),
        }
    }

    /// Writing `written` to `side` reads back `read`: the side cannot hold the distinction (a
    /// CRM that stores declined and lost alike, a picklist that must hold some stage). The diff
    /// engine then compares the field on that side as the side stores it, so reading back what
    /// a sync wrote is no change, while `written` is still what the sync writes.
    ///
    /// ```
    /// use cosell::diff;
    /// use cosell::mapping::{Direction, FieldSpec, Policy, Schema, Side, Value, ValueKind};
    ///
    /// let schema = Schema::builder("crm/1")
    ///     .field(FieldSpec::new("status", ValueKind::Choice)
    ///         .direction(Direction::Both)
    ///         .policy(Policy::CrmWins)
    ///         .reads_back(Side::Crm, Value::choice("declined"), Value::choice("lost")))
    ///     .build()?;
    /// let field = schema.id("status").unwrap();
    /// let written = schema.record().with(field, Value::choice("declined"));
    /// let read = schema.record().with(field, Value::choice("lost"));
    /// assert!(!diff::three_way(&schema, &written, &written, &read).has_writes());
    /// # Ok::<(), cosell::mapping::SchemaError>(())
    /// ```
    pub fn reads_back(mut self, side: Side, written: Value, read: Value) -> Self {
        self.read_backs
            .retain(|held| held.side != side || held.written != written);
        self.read_backs.push(ReadBack {
            side,
            written,
            read,
        });
        self
    }

    /// The value `side` holds once `value` is written to it ([`reads_back`](Self::reads_back)).
    pub fn read_back<'a>(&'a self, side: Side, value: &'a Value) -> &'a Value {
        self.read_backs
            .iter()
            .find(|held| held.side == side && held.written == *value)
            .map_or(value, |held| &held.read)
    }

    /// Whether `side` holds `a` and `b` alike: equal, or equal once read back.
    pub fn same_on(&self, side: Side, a: &Value, b: &Value) -> bool {
        a == b || self.read_back(side, a) == self.read_back(side, b)
    }

    /// Set the direction.
    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    /// Set the conflict policy.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Replace the normalization rules.
    pub fn normalization(mut self, normalization: Normalization) -> Self {
        self.normalization = normalization;
        self
    }

    /// Cut text to at most `max_chars` characters.
    pub fn max_chars(mut self, max_chars: usize) -> Self {
        self.normalization.max_chars = Some(max_chars);
        self
    }

    /// Round decimals to `scale` places.
    pub fn decimal_scale(mut self, scale: u32) -> Self {
        self.normalization.decimal_scale = Some(scale);
        self
    }

    /// Treat empty text, codes, sets and lists as null.
    pub fn empty_is_null(mut self, empty_is_null: bool) -> Self {
        self.normalization.empty_is_null = empty_is_null;
        self
    }

    /// Upper-case codes and text (ASCII).
    pub fn upper_case(mut self, upper_case: bool) -> Self {
        self.normalization.upper_case = upper_case;
        self
    }

    /// The canonical name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The kind of value the field holds.
    pub fn kind(&self) -> ValueKind {
        self.kind
    }

    /// The direction.
    pub fn sync_direction(&self) -> Direction {
        self.direction
    }

    /// The conflict policy.
    pub fn conflict_policy(&self) -> Policy {
        self.policy
    }

    /// The normalization rules.
    pub fn normalization_rules(&self) -> &Normalization {
        &self.normalization
    }

    fn check(&self) -> Result<(), SchemaError> {
        let fits = match self.policy {
            Policy::Union => matches!(self.kind, ValueKind::MultiChoice | ValueKind::List),
            Policy::StickyTrue => self.kind == ValueKind::Bool,
            _ => true,
        };
        if fits {
            Ok(())
        } else {
            Err(SchemaError::PolicyDoesNotFitKind {
                field: self.name.to_string(),
                policy: self.policy,
                kind: self.kind,
            })
        }
    }
}

/// A schema that could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// Two fields share a name.
    #[error("field `{0}` is declared twice")]
    DuplicateField(String),
    /// A field was named that the schema does not have.
    #[error("no field named `{0}`")]
    UnknownField(String),
    /// A field name is empty.
    #[error("a field has an empty name")]
    EmptyName,
    /// The policy needs another kind of value ([`Policy::Union`]: sets and lists;
    /// [`Policy::StickyTrue`]: bools).
    #[error("field `{field}`: policy {policy:?} does not apply to {kind} values")]
    PolicyDoesNotFitKind {
        /// The field.
        field: String,
        /// Its policy.
        policy: Policy,
        /// Its kind.
        kind: ValueKind,
    },
    /// More fields than a [`FieldId`] can number.
    #[error("a schema holds at most 65535 fields")]
    TooManyFields,
}

/// A record could not be normalized.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum NormalizeError {
    /// A value does not fit its field's kind.
    #[error("field `{field}`: {source}")]
    KindMismatch {
        /// The field.
        field: String,
        /// What was wrong.
        source: KindMismatch,
    },
}

/// Text cut to a field's length limit during normalization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// The field.
    pub field: FieldId,
    /// Its length in characters before the cut.
    pub original_chars: usize,
    /// The limit it was cut to.
    pub max_chars: usize,
}

/// The canonical fields in a fixed order, compiled once and shared by every record, mapping and
/// diff. Build one with [`Schema::builder`], or start from the co-sell default with
/// [`Schema::cosell_builder`].
///
/// The version names this exact set of fields and rules; it goes into every
/// [`ConvergenceHash`](crate::diff::ConvergenceHash), so bump it whenever a field or a rule
/// changes.
///
/// ```
/// use cosell::mapping::{Direction, FieldSpec, Policy, Schema, ValueKind};
///
/// let schema = Schema::builder("crm-lite/1")
///     .field(FieldSpec::new("title", ValueKind::Text).direction(Direction::Both).policy(Policy::NewestWins))
///     .field(FieldSpec::new("tags", ValueKind::MultiChoice).direction(Direction::Both).policy(Policy::Union))
///     .build()?;
/// assert_eq!(schema.len(), 2);
/// assert_eq!(schema.id("tags").map(|id| id.index()), Some(1));
/// # Ok::<(), cosell::mapping::SchemaError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Schema {
    version: Box<str>,
    fields: Box<[FieldSpec]>,
}

impl Schema {
    /// An empty builder for a schema of the given version.
    pub fn builder(version: impl Into<String>) -> SchemaBuilder {
        SchemaBuilder {
            version: version.into(),
            fields: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// The version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The id of the field called `name`.
    pub fn id(&self, name: &str) -> Option<FieldId> {
        self.fields
            .iter()
            .position(|field| &*field.name == name)
            .map(|index| FieldId::new(index as u16))
    }

    /// The field with id `id`.
    pub fn field(&self, id: FieldId) -> Option<&FieldSpec> {
        self.fields.get(id.index())
    }

    /// Every field with its id, in schema order.
    pub fn fields(&self) -> impl ExactSizeIterator<Item = (FieldId, &FieldSpec)> + '_ {
        self.fields
            .iter()
            .enumerate()
            .map(|(index, field)| (FieldId::new(index as u16), field))
    }

    /// A record of this schema with every field [`Value::Absent`](super::Value::Absent).
    pub fn record(&self) -> Record {
        Record::with_len(self.fields.len())
    }

    /// Normalize every value of `record` in place by its field's rules, and report the texts
    /// that were cut to a length limit. Values past the end of the schema are left alone.
    ///
    /// ```
    /// use cosell::mapping::{fields, Schema, Value};
    ///
    /// let schema = Schema::cosell();
    /// let mut record = schema.record();
    /// record.set(fields::CURRENCY, Value::choice(" usd "));
    /// schema.normalize(&mut record)?;
    /// assert_eq!(record.get(fields::CURRENCY), &Value::choice("USD"));
    /// # Ok::<(), cosell::mapping::NormalizeError>(())
    /// ```
    pub fn normalize(&self, record: &mut Record) -> Result<Vec<Truncation>, NormalizeError> {
        let mut truncations = Vec::new();
        for (id, field) in self.fields() {
            let Some(slot) = record.slot_mut(id) else {
                break;
            };
            let value = std::mem::take(slot);
            let normalized = field
                .normalization
                .apply(field.kind, value)
                .map_err(|source| NormalizeError::KindMismatch {
                    field: field.name.to_string(),
                    source,
                })?;
            *slot = normalized.value;
            if let (Some(original_chars), Some(max_chars)) =
                (normalized.truncated_from, field.normalization.max_chars)
            {
                truncations.push(Truncation {
                    field: id,
                    original_chars,
                    max_chars,
                });
            }
        }
        Ok(truncations)
    }

    /// A builder holding this schema's fields, to change or extend it.
    pub fn to_builder(&self) -> SchemaBuilder {
        SchemaBuilder {
            version: self.version.to_string(),
            fields: self.fields.to_vec(),
            errors: Vec::new(),
        }
    }
}

/// Builds a [`Schema`]. Mistakes (unknown or duplicate names, a policy that does not fit the
/// kind) are collected and returned by [`build`](Self::build), so calls chain.
///
/// Fields are only ever appended, so the ids of existing fields never move: to stop syncing a
/// field, set its direction to [`Direction::None`].
///
/// ```
/// use cosell::mapping::{fields, Direction, FieldSpec, Policy, Schema, Side, ValueKind};
///
/// let schema = Schema::cosell_builder()
///     .version("contoso-dynamics/3")
///     .update("deal_name", |field| field.max_chars(300))
///     .update("notes", |field| field.policy(Policy::PreferUnlessBlank(Side::Crm)))
///     .update("sales_stage", |field| field.direction(Direction::None))
///     .field(FieldSpec::new("industry", ValueKind::Choice).direction(Direction::Both).policy(Policy::CrmWins))
///     .build()?;
/// assert_eq!(schema.id("deal_name"), Some(fields::DEAL_NAME));
/// assert!(schema.id("industry").is_some());
/// # Ok::<(), cosell::mapping::SchemaError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SchemaBuilder {
    version: String,
    fields: Vec<FieldSpec>,
    errors: Vec<SchemaError>,
}

impl SchemaBuilder {
    /// Set the version (see [`Schema`]).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Append a field.
    pub fn field(mut self, field: FieldSpec) -> Self {
        self.fields.push(field);
        self
    }

    /// Change the field called `name`.
    pub fn update(mut self, name: &str, change: impl FnOnce(FieldSpec) -> FieldSpec) -> Self {
        match self.fields.iter().position(|field| &*field.name == name) {
            Some(index) => {
                let field = self.fields[index].clone();
                self.fields[index] = change(field);
            }
            None => self.errors.push(SchemaError::UnknownField(name.to_owned())),
        }
        self
    }

    /// Turn every instant that lands in a date field into a date by `rule`.
    pub(super) fn date_rule(self, rule: &DateRule) -> Self {
        self.update_all(|mut field| {
            if field.kind == ValueKind::Date {
                field.normalization.date_rule = rule.clone();
            }
            field
        })
    }

    /// Whether the builder holds a field called `name`.
    pub(super) fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|field| &*field.name == name)
    }

    /// Change every field.
    pub(super) fn update_all(mut self, change: impl Fn(FieldSpec) -> FieldSpec) -> Self {
        self.fields = self.fields.into_iter().map(change).collect();
        self
    }

    /// The schema without the checks of [`build`](Self::build), for field sets known to pass them.
    pub(super) fn build_unchecked(self) -> Schema {
        Schema {
            version: self.version.into_boxed_str(),
            fields: self.fields.into_boxed_slice(),
        }
    }

    /// The schema, or the first mistake made while building it.
    pub fn build(self) -> Result<Schema, SchemaError> {
        if let Some(error) = self.errors.first() {
            return Err(error.clone());
        }
        if self.fields.len() > usize::from(u16::MAX) {
            return Err(SchemaError::TooManyFields);
        }
        for (index, field) in self.fields.iter().enumerate() {
            if field.name.is_empty() {
                return Err(SchemaError::EmptyName);
            }
            if self.fields[..index]
                .iter()
                .any(|seen| seen.name == field.name)
            {
                return Err(SchemaError::DuplicateField(field.name.to_string()));
            }
            field.check()?;
        }
        Ok(self.build_unchecked())
    }
}
