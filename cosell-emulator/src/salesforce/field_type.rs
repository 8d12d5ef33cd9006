//! The field types of the emulated objects, as describe names them.

use std::fmt;

/// The type of a field of an emulated sObject, as describe's `type` names it.
///
/// ```
/// assert_eq!(cosell_emulator::FieldType::MultiPicklist.to_string(), "multipicklist");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldType {
    /// `id`: the record id (18 characters).
    Id,
    /// `string`: text up to 255 characters.
    String,
    /// `textarea`: long text.
    TextArea,
    /// `boolean`: a checkbox, never null.
    Boolean,
    /// `int`.
    Int,
    /// `double`.
    Double,
    /// `currency`: an amount with two decimals.
    Currency,
    /// `percent`.
    Percent,
    /// `date`: a calendar date, `YYYY-MM-DD`.
    Date,
    /// `datetime`: an instant, written `2013-05-20T20:49:32.000+0000`.
    DateTime,
    /// `picklist`: one of a list of values.
    Picklist,
    /// `multipicklist`: values joined with `;`.
    MultiPicklist,
    /// `reference`: the id of another record.
    Reference,
    /// `url`.
    Url,
    /// `email`.
    Email,
    /// `phone`.
    Phone,
}

impl FieldType {
    /// The name describe gives the type.
    pub fn wire_name(self) -> &'static str {
        match self {
            FieldType::Id => "id",
            FieldType::String => "string",
            FieldType::TextArea => "textarea",
            FieldType::Boolean => "boolean",
            FieldType::Int => "int",
            FieldType::Double => "double",
            FieldType::Currency => "currency",
            FieldType::Percent => "percent",
            FieldType::Date => "date",
            FieldType::DateTime => "datetime",
            FieldType::Picklist => "picklist",
            FieldType::MultiPicklist => "multipicklist",
            FieldType::Reference => "reference",
            FieldType::Url => "url",
            FieldType::Email => "email",
            FieldType::Phone => "phone",
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire_name())
    }
}
