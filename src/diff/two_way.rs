//! Two-way diff: which fields differ between two records.

use crate::mapping::{FieldId, Record, Schema, Value};

/// A field whose value differs between two records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDiff<'a> {
    /// The field.
    pub field: FieldId,
    /// Its value in the first (older) record.
    pub old: &'a Value,
    /// Its value in the second (newer) record.
    pub new: &'a Value,
}

/// The fields that differ between `old` and `new`, in schema order, as an iterator that borrows
/// both records and allocates nothing.
///
/// Values are compared as they are: normalize both records first
/// ([`Schema::normalize`]). [`Value::Absent`] differs from every other value here; the
/// three-way diff ([`three_way`](crate::diff::three_way)) is the one that reads it as "unknown".
pub fn changes<'a>(schema: &'a Schema, old: &'a Record, new: &'a Record) -> Changes<'a> {
    Changes {
        schema,
        old,
        new,
        next: 0,
    }
}

/// The fields that differ between `old` and `new`, with both values, in schema order. When
/// nothing differs this allocates nothing.
///
/// ```
/// use cosell::diff;
/// use cosell::mapping::{fields, Schema, Value};
///
/// let schema = Schema::cosell();
/// let before = schema.record().with(fields::DEAL_NAME, Value::text("Contoso"));
/// let after = before.clone().with(fields::DEAL_NAME, Value::text("Contoso – phase 2"));
///
/// let changed = diff::two_way(&schema, &before, &after);
/// assert_eq!(changed.len(), 1);
/// assert_eq!(changed[0].field, fields::DEAL_NAME);
/// assert_eq!(changed[0].new.as_text(), Some("Contoso – phase 2"));
/// assert!(diff::two_way(&schema, &after, &after).is_empty());
/// ```
pub fn two_way<'a>(schema: &'a Schema, old: &'a Record, new: &'a Record) -> Vec<FieldDiff<'a>> {
    changes(schema, old, new).collect()
}

/// Whether `a` and `b` hold the same value in every field of `schema`.
///
/// ```
/// use cosell::{diff, mapping::Schema};
/// let schema = Schema::cosell();
/// assert!(diff::is_same(&schema, &schema.record(), &schema.record()));
/// ```
pub fn is_same(schema: &Schema, a: &Record, b: &Record) -> bool {
    changes(schema, a, b).next().is_none()
}

/// Iterator over the fields that differ between two records; see [`changes`].
#[derive(Debug, Clone)]
pub struct Changes<'a> {
    schema: &'a Schema,
    old: &'a Record,
    new: &'a Record,
    next: usize,
}

impl<'a> Iterator for Changes<'a> {
    type Item = FieldDiff<'a>;

    fn next(&mut self) -> Option<FieldDiff<'a>> {
        while self.next < self.schema.len() {
            // The schema holds at most u16::MAX fields, so the index always fits.
            let field = FieldId::new(self.next as u16);
            self.next += 1;
            let old = self.old.get(field);
            let new = self.new.get(field);
            if old != new {
                return Some(FieldDiff { field, old, new });
            }
        }
        None
    }
}
