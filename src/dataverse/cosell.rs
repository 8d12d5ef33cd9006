//! The co-sell custom columns, whose names each organisation chooses.

use serde_json::{Map, Value};

use crate::FieldUpdate;
use crate::error::{DecodeError, DecodeOrigin, Error, Result, body_excerpt};

/// The names of the co-sell custom columns on the opportunity table.
///
/// Defaults use the publisher prefix `cosell`: `cosell_syncwithpartnercenter`,
/// `cosell_referralid`, `cosell_referrallink`, `cosell_howcanmicrosofthelp`, `cosell_solutions`,
/// `cosell_audit`. Use [`with_prefix`](Self::with_prefix) for another publisher prefix, or set
/// any name directly.
///
/// ```
/// use cosell::dataverse::{CoSellFieldNames, CoSellUpdate};
/// use cosell::FieldUpdate;
///
/// let columns = CoSellFieldNames::with_prefix("new").referral_id("new_pcreferral");
/// assert_eq!(columns.sync_with_partner_center, "new_syncwithpartnercenter");
///
/// let mut body = serde_json::Map::new();
/// columns.write(
///     &CoSellUpdate { help_requested: FieldUpdate::Set(vec![1, 9]), ..Default::default() },
///     &mut body,
/// );
/// assert_eq!(body["new_howcanmicrosofthelp"], "1,9");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoSellFieldNames {
    /// Two options: whether the row is kept in step with Partner Center.
    pub sync_with_partner_center: String,
    /// Text: the Partner Center referral id (a good alternate key).
    pub referral_id: String,
    /// Text: a link to the referral in Partner Center.
    pub referral_link: String,
    /// Choices (multi-select): how Microsoft can help; comma-separated integers on the wire.
    pub help_requested: String,
    /// Text: the solutions of the referral.
    pub solutions: String,
    /// Multi-line text: the sync audit trail.
    pub audit_trail: String,
}

impl Default for CoSellFieldNames {
    fn default() -> Self {
        CoSellFieldNames::with_prefix("cosell")
    }
}

impl CoSellFieldNames {
    /// The default column names under the publisher prefix `prefix`.
    pub fn with_prefix(prefix: &str) -> Self {
        let name = |suffix: &str| format!("{prefix}_{suffix}");
        CoSellFieldNames {
            sync_with_partner_center: name("syncwithpartnercenter"),
            referral_id: name("referralid"),
            referral_link: name("referrallink"),
            help_requested: name("howcanmicrosofthelp"),
            solutions: name("solutions"),
            audit_trail: name("audit"),
        }
    }

    /// Renames the sync flag column.
    pub fn sync_with_partner_center(mut self, name: impl Into<String>) -> Self {
        self.sync_with_partner_center = name.into();
        self
    }

    /// Renames the referral id column.
    pub fn referral_id(mut self, name: impl Into<String>) -> Self {
        self.referral_id = name.into();
        self
    }

    /// Renames the referral link column.
    pub fn referral_link(mut self, name: impl Into<String>) -> Self {
        self.referral_link = name.into();
        self
    }

    /// Renames the "how can Microsoft help" column.
    pub fn help_requested(mut self, name: impl Into<String>) -> Self {
        self.help_requested = name.into();
        self
    }

    /// Renames the solutions column.
    pub fn solutions(mut self, name: impl Into<String>) -> Self {
        self.solutions = name.into();
        self
    }

    /// Renames the audit column.
    pub fn audit_trail(mut self, name: impl Into<String>) -> Self {
        self.audit_trail = name.into();
        self
    }

    /// Every column name, for `$select` and metadata validation (as
    /// [`salesforce::CoSellFieldNames::names`](crate::salesforce::CoSellFieldNames::names)).
    pub fn names(&self) -> [&str; 6] {
        [
            &self.sync_with_partner_center,
            &self.referral_id,
            &self.referral_link,
            &self.help_requested,
            &self.solutions,
            &self.audit_trail,
        ]
    }

    /// Reads the co-sell columns from a row's properties. Missing and `null` columns read as
    /// `None`.
    ///
    /// # Errors
    /// A decode error naming the column when one holds the wrong type.
    pub fn read(&self, row: &Map<String, Value>) -> Result<CoSellFields> {
        Ok(CoSellFields {
            sync_with_partner_center: read_bool(row, &self.sync_with_partner_center)?,
            referral_id: read_text(row, &self.referral_id)?,
            referral_link: read_text(row, &self.referral_link)?,
            help_requested: read_choices(row, &self.help_requested)?,
            solutions: read_text(row, &self.solutions)?,
            audit_trail: read_text(row, &self.audit_trail)?,
        })
    }

    /// Writes the changed co-sell columns into a PATCH body; unchanged ones are left out, cleared
    /// ones are `null`.
    pub fn write(&self, update: &CoSellUpdate, body: &mut Map<String, Value>) {
        put(
            body,
            &self.sync_with_partner_center,
            &update.sync_with_partner_center,
            |v| Value::Bool(*v),
        );
        put(body, &self.referral_id, &update.referral_id, |v| {
            Value::String(v.clone())
        });
        put(body, &self.referral_link, &update.referral_link, |v| {
            Value::String(v.clone())
        });
        put(body, &self.help_requested, &update.help_requested, |v| {
            Value::String(format_choices(v))
        });
        put(body, &self.solutions, &update.solutions, |v| {
            Value::String(v.clone())
        });
        put(body, &self.audit_trail, &update.audit_trail, |v| {
            Value::String(v.clone())
        });
    }
}

/// The co-sell columns of a row, as read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CoSellFields {
    /// Whether the row is kept in step with Partner Center.
    pub sync_with_partner_center: Option<bool>,
    /// The Partner Center referral id.
    pub referral_id: Option<String>,
    /// The link to the referral.
    pub referral_link: Option<String>,
    /// The "how can Microsoft help" choice values, in the order stored.
    pub help_requested: Option<Vec<i32>>,
    /// The solutions.
    pub solutions: Option<String>,
    /// The audit trail.
    pub audit_trail: Option<String>,
}

/// Changes to the co-sell columns, for a PATCH body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CoSellUpdate {
    /// The sync flag.
    pub sync_with_partner_center: FieldUpdate<bool>,
    /// The referral id.
    pub referral_id: FieldUpdate<String>,
    /// The referral link.
    pub referral_link: FieldUpdate<String>,
    /// The "how can Microsoft help" choice values.
    pub help_requested: FieldUpdate<Vec<i32>>,
    /// The solutions.
    pub solutions: FieldUpdate<String>,
    /// The audit trail.
    pub audit_trail: FieldUpdate<String>,
}

fn put<T>(
    body: &mut Map<String, Value>,
    column: &str,
    update: &FieldUpdate<T>,
    to: impl Fn(&T) -> Value,
) {
    match update {
        FieldUpdate::Unchanged => {}
        FieldUpdate::Clear => {
            body.insert(column.to_owned(), Value::Null);
        }
        FieldUpdate::Set(v) => {
            body.insert(column.to_owned(), to(v));
        }
    }
}

/// A multi-select choice value on the wire: `"1,9"`.
pub fn format_choices(values: &[i32]) -> String {
    values
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads a multi-select choice value: `"1,9"`, `"1, 9"`, or `""`.
///
/// ```
/// assert_eq!(cosell::dataverse::parse_choices("2, 3,8").unwrap(), vec![2, 3, 8]);
/// assert!(cosell::dataverse::parse_choices("2;3").is_none());
/// ```
pub fn parse_choices(text: &str) -> Option<Vec<i32>> {
    if text.trim().is_empty() {
        return Some(Vec::new());
    }
    text.split(',').map(|v| v.trim().parse().ok()).collect()
}

fn wrong_type(column: &str, expected: &str, value: &Value) -> Error {
    Error::from(DecodeError {
        path: format!(".{column}"),
        message: format!("expected {expected}"),
        status: None,
        request_id: None,
        body_excerpt: body_excerpt(value.to_string().as_bytes()),
        origin: DecodeOrigin::Input,
    })
}

fn present<'a>(row: &'a Map<String, Value>, column: &str) -> Option<&'a Value> {
    row.get(column).filter(|v| !v.is_null())
}

fn read_bool(row: &Map<String, Value>, column: &str) -> Result<Option<bool>> {
    match present(row, column) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(wrong_type(column, "true or false", v)),
    }
}

fn read_text(row: &Map<String, Value>, column: &str) -> Result<Option<String>> {
    match present(row, column) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(wrong_type(column, "text", v)),
    }
}

fn read_choices(row: &Map<String, Value>, column: &str) -> Result<Option<Vec<i32>>> {
    match present(row, column) {
        None => Ok(None),
        Some(v @ Value::String(s)) => parse_choices(s)
            .map(Some)
            .ok_or_else(|| wrong_type(column, "comma-separated choice values", v)),
        Some(v) => Err(wrong_type(column, "comma-separated choice values", v)),
    }
}
