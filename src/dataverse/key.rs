//! Record keys in URLs: `table(<guid>)`, `table(key='value')`, `table(k1='a',k2=2)`.

use std::fmt;

use jiff::civil::Date;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::filter::ODataValue;
use crate::error::{Error, Result};

/// Characters Dataverse cannot take inside an alternate-key value in a URL.
const FORBIDDEN_IN_KEY: &[char] = &['/', '<', '>', '*', '%', '&', ':', '\\', '?', '+', '#'];

/// Which row an operation addresses: its primary key, or one or several alternate-key columns.
///
/// ```
/// use cosell::dataverse::RecordKey;
///
/// let id: uuid::Uuid = "c0ffee00-3333-4a5e-8f00-0123456789ab".parse().unwrap();
/// assert_eq!(RecordKey::id(id).segment("opportunities").unwrap(),
///            "opportunities(c0ffee00-3333-4a5e-8f00-0123456789ab)");
/// let key = RecordKey::alternate([("cosell_referralid", "O'Neil deal")]);
/// assert_eq!(key.segment("opportunities").unwrap(),
///            "opportunities(cosell_referralid='O''Neil deal')");
/// assert!(RecordKey::alternate([("cosell_referralid", "a/b")]).segment("opportunities").is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum RecordKey {
    /// The primary key (a GUID).
    Id(Uuid),
    /// Alternate-key columns and their values, in the key's column order.
    Alternate(Vec<(String, KeyValue)>),
}

/// A value of an alternate-key column.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyValue {
    /// Text, written as a quoted literal with `'` doubled.
    Text(String),
    /// A whole number.
    Int(i64),
    /// A decimal number.
    Decimal(Decimal),
    /// A GUID (lookup-based keys such as `_parentaccountid_value`).
    Guid(Uuid),
    /// A date.
    Date(Date),
    /// A yes/no value.
    Bool(bool),
}

impl From<&str> for KeyValue {
    fn from(v: &str) -> Self {
        KeyValue::Text(v.to_owned())
    }
}
impl From<String> for KeyValue {
    fn from(v: String) -> Self {
        KeyValue::Text(v)
    }
}
impl From<&String> for KeyValue {
    fn from(v: &String) -> Self {
        KeyValue::Text(v.clone())
    }
}
impl From<i64> for KeyValue {
    fn from(v: i64) -> Self {
        KeyValue::Int(v)
    }
}
impl From<i32> for KeyValue {
    fn from(v: i32) -> Self {
        KeyValue::Int(v.into())
    }
}
impl From<Decimal> for KeyValue {
    fn from(v: Decimal) -> Self {
        KeyValue::Decimal(v)
    }
}
impl From<Uuid> for KeyValue {
    fn from(v: Uuid) -> Self {
        KeyValue::Guid(v)
    }
}
impl From<Date> for KeyValue {
    fn from(v: Date) -> Self {
        KeyValue::Date(v)
    }
}
impl From<bool> for KeyValue {
    fn from(v: bool) -> Self {
        KeyValue::Bool(v)
    }
}

impl RecordKey {
    /// The primary key.
    pub fn id(id: Uuid) -> Self {
        RecordKey::Id(id)
    }

    /// An alternate key of one or several columns.
    pub fn alternate<I, C, V>(columns: I) -> Self
    where
        I: IntoIterator<Item = (C, V)>,
        C: Into<String>,
        V: Into<KeyValue>,
    {
        RecordKey::Alternate(
            columns
                .into_iter()
                .map(|(c, v)| (c.into(), v.into()))
                .collect(),
        )
    }

    /// The URL path segment addressing this row of `entity_set`.
    ///
    /// # Errors
    /// [`Error::Validation`] when the key has no column, a column name is not a plain
    /// identifier, or a text value holds a character Dataverse cannot take in a key URL
    /// (`/ < > * % & : \ ? + #`, control characters) or is empty.
    pub fn segment(&self, entity_set: &str) -> Result<String> {
        check_identifier(entity_set, "table")?;
        match self {
            RecordKey::Id(id) => Ok(format!("{entity_set}({id})")),
            RecordKey::Alternate(columns) => {
                if columns.is_empty() {
                    return Err(Error::validation(
                        "an alternate key needs at least one column",
                    ));
                }
                let mut parts = Vec::with_capacity(columns.len());
                for (column, value) in columns {
                    check_identifier(column, "key column")?;
                    parts.push(format!("{column}={}", key_literal(column, value)?));
                }
                Ok(format!("{entity_set}({})", parts.join(",")))
            }
        }
    }
}

impl From<Uuid> for RecordKey {
    fn from(id: Uuid) -> Self {
        RecordKey::Id(id)
    }
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordKey::Id(id) => write!(f, "{id}"),
            RecordKey::Alternate(columns) => {
                for (i, (column, value)) in columns.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{column}={}", value.to_odata().literal())?;
                }
                Ok(())
            }
        }
    }
}

impl KeyValue {
    fn to_odata(&self) -> ODataValue {
        match self {
            KeyValue::Text(v) => ODataValue::from(v.as_str()),
            KeyValue::Int(v) => ODataValue::from(*v),
            KeyValue::Decimal(v) => ODataValue::from(*v),
            KeyValue::Guid(v) => ODataValue::from(*v),
            KeyValue::Date(v) => ODataValue::from(*v),
            KeyValue::Bool(v) => ODataValue::from(*v),
        }
    }
}

fn key_literal(column: &str, value: &KeyValue) -> Result<String> {
    if let KeyValue::Text(text) = value {
        if text.is_empty() {
            return Err(Error::validation(format!(
                "key column `{column}` has an empty value"
            )));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| FORBIDDEN_IN_KEY.contains(c) || c.is_control())
        {
            return Err(Error::validation(format!(
                "key column `{column}`: the value contains {bad:?}, which Dataverse cannot \
                 take in a key URL; query by a filter instead"
            )));
        }
    }
    Ok(value.to_odata().literal())
}

/// Checks that a table, column or action name is a plain identifier, so it cannot change the
/// shape of a URL or a query.
pub(crate) fn check_identifier(name: &str, what: &str) -> Result<()> {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if plain {
        Ok(())
    } else {
        Err(Error::validation(format!(
            "{what} name `{name}` is not a plain identifier"
        )))
    }
}

/// A lookup target for `<navigation property>@odata.bind`: a row of another table.
///
/// ```
/// use cosell::dataverse::EntityReference;
///
/// let id: uuid::Uuid = "5a0c2f8e-1111-4b6e-9a1e-0123456789ab".parse().unwrap();
/// let account = EntityReference::new("accounts", id);
/// assert_eq!(account.bind_path().unwrap(), "/accounts(5a0c2f8e-1111-4b6e-9a1e-0123456789ab)");
/// let (name, value) = account.bind("parentaccountid").unwrap();
/// assert_eq!(name, "parentaccountid@odata.bind");
/// assert_eq!(value, serde_json::json!("/accounts(5a0c2f8e-1111-4b6e-9a1e-0123456789ab)"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct EntityReference {
    /// The entity set of the target table (`accounts`).
    pub entity_set: String,
    /// Which row of it.
    pub key: RecordKey,
}

impl EntityReference {
    /// A reference to the row `id` of `entity_set`.
    pub fn new(entity_set: impl Into<String>, id: Uuid) -> Self {
        EntityReference {
            entity_set: entity_set.into(),
            key: RecordKey::Id(id),
        }
    }

    /// A reference by alternate key.
    pub fn by_key(entity_set: impl Into<String>, key: RecordKey) -> Self {
        EntityReference {
            entity_set: entity_set.into(),
            key,
        }
    }

    /// The bind path, `/accounts(<guid>)`.
    ///
    /// # Errors
    /// As [`RecordKey::segment`].
    pub fn bind_path(&self) -> Result<String> {
        Ok(format!("/{}", self.key.segment(&self.entity_set)?))
    }

    /// The body property binding `navigation_property` to this row:
    /// (`"<nav>@odata.bind"`, `"/accounts(<guid>)"`).
    ///
    /// # Errors
    /// As [`RecordKey::segment`], and for a navigation property that is not an identifier.
    pub fn bind(&self, navigation_property: &str) -> Result<(String, serde_json::Value)> {
        check_identifier(navigation_property, "navigation property")?;
        Ok((
            bind_name(navigation_property),
            serde_json::Value::String(self.bind_path()?),
        ))
    }
}

/// The body property name that sets a lookup: `<navigation property>@odata.bind`.
pub fn bind_name(navigation_property: &str) -> String {
    format!("{navigation_property}@odata.bind")
}
