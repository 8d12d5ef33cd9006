//! SOQL, built with every value escaped by construction.
//!
//! A query is assembled from validated identifiers (field and object names) and typed values;
//! values never become query text except through one of two escapers:
//!
//! - [`string_literal`] (and [`SoqlValue::to_literal`]) for literals: strings, dates,
//!   date-times, numbers, booleans, `null` and `IN` lists;
//! - [`like_literal`] for `LIKE` patterns, which also escapes `%` and `_` in the user's text,
//!   so only the wildcards the [`LikePattern`] itself asks for are wildcards.
//!
//! ```
//! use cosell::Order;
//! use cosell::salesforce::soql::{Soql, field, LikePattern};
//!
//! let query = Soql::select(["Id", "Name", "StageName"])
//!     .from("Opportunity")
//!     .filter(field("Referral_Id__c").eq("x' OR Name != '"))
//!     .filter(field("Name").like(LikePattern::contains("50%_off")))
//!     .order_by("CloseDate", Order::Descending)
//!     .limit(10)
//!     .build()
//!     .unwrap();
//! assert_eq!(
//!     query.as_str(),
//!     r"SELECT Id, Name, StageName FROM Opportunity WHERE Referral_Id__c = 'x\' OR Name != \'' AND Name LIKE '%50\%\_off%' ORDER BY CloseDate DESC LIMIT 10"
//! );
//! ```

use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;

use crate::Order;
use crate::error::{Error, Result};

/// Quotes `text` as a SOQL string literal: `'…'` with `\`, `'`, `"`, newline, carriage return,
/// tab, backspace and form feed escaped.
///
/// ```
/// assert_eq!(cosell::salesforce::soql::string_literal("O'Brien\n"), r"'O\'Brien\n'");
/// ```
pub fn string_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    escape_into(text, false, &mut out);
    out.push('\'');
    out
}

/// Quotes a [`LikePattern`] as a SOQL string literal for `LIKE`: the pattern's text is escaped
/// as in [`string_literal`] and, in addition, its `%` and `_` are escaped (`\%`, `\_`), so that
/// only the pattern's own wildcards match anything.
///
/// ```
/// use cosell::salesforce::soql::{LikePattern, like_literal};
/// assert_eq!(like_literal(&LikePattern::starts_with("100%_")), r"'100\%\_%'");
/// ```
pub fn like_literal(pattern: &LikePattern) -> String {
    let mut out = String::from("'");
    for part in &pattern.parts {
        match part {
            LikePart::Text(text) => escape_into(text, true, &mut out),
            LikePart::AnyChars => out.push('%'),
            LikePart::OneChar => out.push('_'),
        }
    }
    out.push('\'');
    out
}

fn escape_into(text: &str, like: bool, out: &mut String) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '\'' => out.push_str(r"\'"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str(r"\n"),
            '\r' => out.push_str(r"\r"),
            '\t' => out.push_str(r"\t"),
            '\u{8}' => out.push_str(r"\b"),
            '\u{c}' => out.push_str(r"\f"),
            '%' if like => out.push_str(r"\%"),
            '_' if like => out.push_str(r"\_"),
            other => out.push(other),
        }
    }
}

/// A value to compare a field with.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SoqlValue {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Integer(i64),
    /// A decimal number (currency, percent), written with its exact digits.
    Decimal(Decimal),
    /// A string, quoted and escaped.
    Text(String),
    /// A date literal, unquoted: `2025-09-30`.
    Date(Date),
    /// A date-time literal in UTC, to the second: `2025-01-01T00:00:00Z`.
    DateTime(Timestamp),
}

impl SoqlValue {
    /// The value as SOQL literal text; strings go through [`string_literal`].
    ///
    /// ```
    /// use cosell::salesforce::soql::SoqlValue;
    /// let date: jiff::civil::Date = "2025-09-30".parse().unwrap();
    /// assert_eq!(SoqlValue::from(date).to_literal(), "2025-09-30");
    /// assert_eq!(SoqlValue::from("it's").to_literal(), r"'it\'s'");
    /// ```
    pub fn to_literal(&self) -> String {
        match self {
            SoqlValue::Null => "null".to_owned(),
            SoqlValue::Bool(b) => b.to_string(),
            SoqlValue::Integer(i) => i.to_string(),
            SoqlValue::Decimal(d) => d.normalize().to_string(),
            SoqlValue::Text(t) => string_literal(t),
            SoqlValue::Date(d) => d.strftime("%Y-%m-%d").to_string(),
            SoqlValue::DateTime(ts) => ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }
    }
}

impl From<&str> for SoqlValue {
    fn from(v: &str) -> Self {
        SoqlValue::Text(v.to_owned())
    }
}
impl From<String> for SoqlValue {
    fn from(v: String) -> Self {
        SoqlValue::Text(v)
    }
}
impl From<&String> for SoqlValue {
    fn from(v: &String) -> Self {
        SoqlValue::Text(v.clone())
    }
}
impl From<bool> for SoqlValue {
    fn from(v: bool) -> Self {
        SoqlValue::Bool(v)
    }
}
impl From<i64> for SoqlValue {
    fn from(v: i64) -> Self {
        SoqlValue::Integer(v)
    }
}
impl From<i32> for SoqlValue {
    fn from(v: i32) -> Self {
        SoqlValue::Integer(i64::from(v))
    }
}
impl From<u32> for SoqlValue {
    fn from(v: u32) -> Self {
        SoqlValue::Integer(i64::from(v))
    }
}
impl From<Decimal> for SoqlValue {
    fn from(v: Decimal) -> Self {
        SoqlValue::Decimal(v)
    }
}
impl From<Date> for SoqlValue {
    fn from(v: Date) -> Self {
        SoqlValue::Date(v)
    }
}
impl From<Timestamp> for SoqlValue {
    fn from(v: Timestamp) -> Self {
        SoqlValue::DateTime(v)
    }
}
impl<T: Into<SoqlValue>> From<Option<T>> for SoqlValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(SoqlValue::Null, Into::into)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LikePart {
    Text(String),
    AnyChars,
    OneChar,
}

/// A `LIKE` pattern: literal text (whose `%` and `_` match only themselves) and the wildcards
/// you add on purpose.
///
/// ```
/// use cosell::salesforce::soql::{LikePattern, like_literal};
/// let pattern = LikePattern::new().text("FY").one_char().text("_Q1").any_chars();
/// assert_eq!(like_literal(&pattern), r"'FY_\_Q1%'");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LikePattern {
    parts: Vec<LikePart>,
}

impl LikePattern {
    /// An empty pattern, to be built with [`text`](Self::text) and the wildcards.
    pub fn new() -> Self {
        LikePattern::default()
    }

    /// Values equal to `text` (no wildcards).
    pub fn exact(text: impl Into<String>) -> Self {
        LikePattern::new().text(text)
    }

    /// Values starting with `text`.
    pub fn starts_with(text: impl Into<String>) -> Self {
        LikePattern::new().text(text).any_chars()
    }

    /// Values ending with `text`.
    pub fn ends_with(text: impl Into<String>) -> Self {
        LikePattern::new().any_chars().text(text)
    }

    /// Values containing `text`.
    pub fn contains(text: impl Into<String>) -> Self {
        LikePattern::new().any_chars().text(text).any_chars()
    }

    /// Appends literal text.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.parts.push(LikePart::Text(text.into()));
        self
    }

    /// Appends `%`: any run of characters.
    pub fn any_chars(mut self) -> Self {
        self.parts.push(LikePart::AnyChars);
        self
    }

    /// Appends `_`: exactly one character.
    pub fn one_char(mut self) -> Self {
        self.parts.push(LikePart::OneChar);
        self
    }
}

/// A field (or relationship path such as `Account.Name`) to build a condition on.
///
/// ```
/// use cosell::salesforce::soql::field;
/// assert_eq!(field("Amount").gt(1000).to_string(), "Amount > 1000");
/// ```
pub fn field(name: impl Into<String>) -> Field {
    Field(name.into())
}

/// A field name in a condition; see [`field`].
#[derive(Debug, Clone)]
pub struct Field(String);

impl Field {
    fn compare(&self, op: &str, value: SoqlValue) -> Condition {
        Condition::leaf(&self.0, |name| {
            format!("{name} {op} {}", value.to_literal())
        })
    }

    /// `field = value`.
    pub fn eq(&self, value: impl Into<SoqlValue>) -> Condition {
        self.compare("=", value.into())
    }

    /// `field != value`.
    pub fn ne(&self, value: impl Into<SoqlValue>) -> Condition {
        self.compare("!=", value.into())
    }

    /// `field < value`.
    pub fn lt(&self, value: impl Into<SoqlValue>) -> Condition {
        self.compare("<", value.into())
    }

    /// `field <= value`.
    pub fn le(&self, value: impl Into<SoqlValue>) -> Condition {
        self.compare("<=", value.into())
    }

    /// `field > value`.
    pub fn gt(&self, value: impl Into<SoqlValue>) -> Condition {
        self.compare(">", value.into())
    }

    /// `field >= value`.
    pub fn ge(&self, value: impl Into<SoqlValue>) -> Condition {
        self.compare(">=", value.into())
    }

    /// `field = null`.
    pub fn is_null(&self) -> Condition {
        self.compare("=", SoqlValue::Null)
    }

    /// `field != null`.
    pub fn is_not_null(&self) -> Condition {
        self.compare("!=", SoqlValue::Null)
    }

    /// `field LIKE 'pattern'`, escaped with [`like_literal`].
    pub fn like(&self, pattern: LikePattern) -> Condition {
        Condition::leaf(&self.0, |name| {
            format!("{name} LIKE {}", like_literal(&pattern))
        })
    }

    /// `field IN (…)`. An empty list is refused when the query is built.
    pub fn is_in<I, V>(&self, values: I) -> Condition
    where
        I: IntoIterator<Item = V>,
        V: Into<SoqlValue>,
    {
        self.list("IN", values.into_iter().map(|v| v.into().to_literal()))
    }

    /// `field NOT IN (…)`. An empty list is refused when the query is built.
    pub fn not_in<I, V>(&self, values: I) -> Condition
    where
        I: IntoIterator<Item = V>,
        V: Into<SoqlValue>,
    {
        self.list("NOT IN", values.into_iter().map(|v| v.into().to_literal()))
    }

    /// Multi-select picklist `includes ('a', 'b;c')`: any one of the arguments matches; an
    /// argument with `;` needs all its values. Each argument is a string literal.
    pub fn includes<I, S>(&self, values: I) -> Condition
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.list(
            "includes",
            values.into_iter().map(|v| string_literal(v.as_ref())),
        )
    }

    /// Multi-select picklist `excludes (…)`.
    pub fn excludes<I, S>(&self, values: I) -> Condition
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.list(
            "excludes",
            values.into_iter().map(|v| string_literal(v.as_ref())),
        )
    }

    fn list(&self, op: &str, literals: impl Iterator<Item = String>) -> Condition {
        let literals: Vec<String> = literals.collect();
        if literals.is_empty() {
            return Condition::invalid(format!("`{} {op}` needs at least one value", self.0));
        }
        Condition::leaf(&self.0, |name| {
            format!("{name} {op} ({})", literals.join(", "))
        })
    }
}

/// A `WHERE` condition; made only from [`field`] comparisons and combined with
/// [`and`](Self::and), [`or`](Self::or) and [`not`](Self::not), so its text never holds an
/// unescaped value.
#[derive(Debug, Clone)]
pub struct Condition {
    text: String,
    error: Option<String>,
    /// Whether the text joins conditions with `AND` / `OR`, and so needs parentheses beside
    /// another condition.
    compound: bool,
}

impl Condition {
    fn leaf(name: &str, render: impl FnOnce(&str) -> String) -> Self {
        match check_identifier(name) {
            Ok(()) => Condition {
                text: render(name),
                error: None,
                compound: false,
            },
            Err(message) => Condition::invalid(message),
        }
    }

    fn invalid(message: String) -> Self {
        Condition {
            text: String::new(),
            error: Some(message),
            compound: false,
        }
    }

    fn combine(self, op: &str, other: Condition) -> Self {
        Condition {
            text: format!("({}) {op} ({})", self.text, other.text),
            error: self.error.or(other.error),
            compound: true,
        }
    }

    /// Both conditions.
    pub fn and(self, other: Condition) -> Self {
        self.combine("AND", other)
    }

    /// Either condition.
    pub fn or(self, other: Condition) -> Self {
        self.combine("OR", other)
    }

    /// The opposite condition.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Self {
        Condition {
            text: format!("NOT ({})", self.text),
            error: self.error,
            compound: false,
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A SOQL query ready to send.
///
/// Build one with [`Soql::select`]; a query written by hand (with no user input in it) can be
/// wrapped with [`Soql::trusted`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Soql(String);

impl Soql {
    /// Starts a `SELECT` of these fields (names or relationship paths like `Account.Name`).
    pub fn select<I, S>(fields: I) -> SoqlBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        SoqlBuilder {
            fields: fields.into_iter().map(Into::into).collect(),
            from: String::new(),
            conditions: Vec::new(),
            order: Vec::new(),
            limit: None,
            offset: None,
        }
    }

    /// A query written by hand. It is sent as it is: never put user input in it; use the
    /// builder for that.
    ///
    /// ```
    /// let q = cosell::salesforce::soql::Soql::trusted("SELECT Id FROM OpportunityStage");
    /// assert_eq!(q.as_str(), "SELECT Id FROM OpportunityStage");
    /// ```
    pub fn trusted(text: impl Into<String>) -> Self {
        Soql(text.into())
    }

    /// The query text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Soql {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Builds a [`Soql`] query; see [`Soql::select`].
#[derive(Debug, Clone)]
#[must_use]
pub struct SoqlBuilder {
    fields: Vec<String>,
    from: String,
    conditions: Vec<Condition>,
    order: Vec<(String, Order)>,
    limit: Option<u32>,
    offset: Option<u32>,
}

impl SoqlBuilder {
    /// The sObject to query.
    pub fn from(mut self, sobject: impl Into<String>) -> Self {
        self.from = sobject.into();
        self
    }

    /// Adds a condition; several are joined with `AND`.
    pub fn filter(mut self, condition: Condition) -> Self {
        self.conditions.push(condition);
        self
    }

    /// Adds a sort key.
    pub fn order_by(mut self, field: impl Into<String>, order: Order) -> Self {
        self.order.push((field.into(), order));
        self
    }

    /// At most this many rows.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Skips this many rows.
    pub fn offset(mut self, offset: u32) -> Self {
        self.offset = Some(offset);
        self
    }

    /// The query.
    ///
    /// # Errors
    /// [`Error::Validation`] for a field or object name that is not a SOQL identifier, no
    /// fields, no object, or an empty `IN` list.
    pub fn build(self) -> Result<Soql> {
        if self.fields.is_empty() {
            return Err(Error::validation("a SOQL query needs at least one field"));
        }
        for name in self.fields.iter().chain(self.order.iter().map(|(f, _)| f)) {
            check_identifier(name).map_err(Error::validation)?;
        }
        check_identifier(&self.from).map_err(Error::validation)?;
        let mut text = format!("SELECT {} FROM {}", self.fields.join(", "), self.from);
        if let Some(error) = self.conditions.iter().find_map(|c| c.error.clone()) {
            return Err(Error::validation(error));
        }
        match self.conditions.as_slice() {
            [] => {}
            [one] => text.push_str(&format!(" WHERE {}", one.text)),
            many => {
                let joined: Vec<String> = many
                    .iter()
                    .map(|c| {
                        if c.compound {
                            format!("({})", c.text)
                        } else {
                            c.text.clone()
                        }
                    })
                    .collect();
                text.push_str(&format!(" WHERE {}", joined.join(" AND ")));
            }
        }
        if !self.order.is_empty() {
            let keys: Vec<String> = self
                .order
                .iter()
                .map(|(f, o)| match o {
                    Order::Ascending => format!("{f} ASC"),
                    Order::Descending => format!("{f} DESC"),
                })
                .collect();
            text.push_str(&format!(" ORDER BY {}", keys.join(", ")));
        }
        if let Some(limit) = self.limit {
            text.push_str(&format!(" LIMIT {limit}"));
        }
        if let Some(offset) = self.offset {
            text.push_str(&format!(" OFFSET {offset}"));
        }
        Ok(Soql(text))
    }
}

/// Whether `name` is a SOQL identifier or a dotted path of them (`Account.Owner.Name`,
/// `Referral_Id__c`, `ns__Field__c`).
pub(crate) fn check_identifier(name: &str) -> std::result::Result<(), String> {
    let valid = !name.is_empty()
        && name.split('.').all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if valid {
        Ok(())
    } else {
        Err(format!("`{name}` is not a Salesforce field or object name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_nest_and_refuse_bad_names() {
        let c = field("A").eq(1).or(field("B").ne("x")).not();
        assert_eq!(c.to_string(), "NOT ((A = 1) OR (B != 'x'))");
        let bad = Soql::select(["Id"])
            .from("Opportunity")
            .filter(field("Name) OR (1").eq(1))
            .build();
        assert!(matches!(bad, Err(Error::Validation(_))));
        let empty = Soql::select(["Id"])
            .from("Opportunity")
            .filter(field("Id").is_in(Vec::<String>::new()))
            .build();
        assert!(matches!(empty, Err(Error::Validation(_))));
        assert!(Soql::select(["Id"]).from("Opp ortunity").build().is_err());
    }
}
