//! The canonical record: one row of typed values in schema order.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::schema::FieldId;
use super::value::Value;

/// One canonical record: a value per schema field, in schema order, and the time the source
/// record was last modified (used by [`Policy::NewestWins`](crate::mapping::Policy::NewestWins);
/// it is not part of the values, so it never makes two records differ in a diff or a hash).
///
/// A record shorter than its schema reads as [`Value::Absent`] past its end, so a baseline stored
/// before fields were appended to the schema still compares correctly. `==` compares the
/// modification time too; [`diff::is_same`](crate::diff::is_same) compares values only.
///
/// ```
/// use cosell::mapping::{fields, Schema, Value};
///
/// let schema = Schema::cosell();
/// let mut record = schema.record();
/// record.set(fields::DEAL_NAME, Value::text("Contoso – Azure migration"));
/// assert_eq!(record.get(fields::DEAL_NAME).as_text(), Some("Contoso – Azure migration"));
/// assert!(record.get(fields::NOTES).is_absent());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Record {
    values: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    modified: Option<Timestamp>,
}

static ABSENT: Value = Value::Absent;

impl Record {
    pub(crate) fn with_len(len: usize) -> Self {
        Record {
            values: vec![Value::Absent; len],
            modified: None,
        }
    }

    /// A record holding `values` in schema order.
    pub fn from_values(values: impl IntoIterator<Item = Value>) -> Self {
        Record {
            values: values.into_iter().collect(),
            modified: None,
        }
    }

    /// The value of `field`; [`Value::Absent`] past the end of the record.
    pub fn get(&self, field: FieldId) -> &Value {
        self.values.get(field.index()).unwrap_or(&ABSENT)
    }

    /// Set the value of `field` and return the previous one. The record grows (with absent
    /// values) when `field` lies past its end.
    pub fn set(&mut self, field: FieldId, value: Value) -> Value {
        let index = field.index();
        if index >= self.values.len() {
            self.values.resize(index + 1, Value::Absent);
        }
        std::mem::replace(&mut self.values[index], value)
    }

    /// This record with `field` set to `value`.
    ///
    /// ```
    /// use cosell::mapping::{fields, Schema, Value};
    /// let record = Schema::cosell().record().with(fields::VISIBLE_TO_MICROSOFT_SELLERS, Value::Bool(true));
    /// assert_eq!(record.get(fields::VISIBLE_TO_MICROSOFT_SELLERS).as_bool(), Some(true));
    /// ```
    pub fn with(mut self, field: FieldId, value: Value) -> Self {
        self.set(field, value);
        self
    }

    /// The values in schema order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// When the source record was last modified, if known.
    pub fn modified(&self) -> Option<Timestamp> {
        self.modified
    }

    /// Set when the source record was last modified.
    pub fn set_modified(&mut self, modified: Option<Timestamp>) {
        self.modified = modified;
    }

    /// This record with its modification time set.
    pub fn modified_at(mut self, modified: Timestamp) -> Self {
        self.modified = Some(modified);
        self
    }

    pub(crate) fn slot_mut(&mut self, field: FieldId) -> Option<&mut Value> {
        self.values.get_mut(field.index())
    }
}
