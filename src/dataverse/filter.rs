//! `$filter` expressions built with escaping, so a value can never change a query's shape.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::key::check_identifier;
use crate::error::{Error, Result};

/// A literal value in an OData expression.
///
/// Text becomes a quoted literal with `'` doubled; GUIDs, numbers, dates and instants are
/// written bare, as OData expects.
///
/// ```
/// use cosell::dataverse::ODataValue;
///
/// assert_eq!(ODataValue::from("O'Bryan").literal(), "'O''Bryan'");
/// assert_eq!(ODataValue::from(42).literal(), "42");
/// assert_eq!(ODataValue::Null.literal(), "null");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum ODataValue {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A decimal number.
    Decimal(Decimal),
    /// Text.
    Text(String),
    /// A GUID, written unquoted.
    Guid(Uuid),
    /// A date (`2025-09-30`).
    Date(Date),
    /// An instant, written in UTC (`2025-09-30T12:00:00Z`).
    Timestamp(Timestamp),
}

impl ODataValue {
    /// The literal as it appears in an expression.
    pub fn literal(&self) -> String {
        match self {
            ODataValue::Null => "null".to_owned(),
            ODataValue::Bool(b) => b.to_string(),
            ODataValue::Int(i) => i.to_string(),
            ODataValue::Decimal(d) => d.normalize().to_string(),
            ODataValue::Text(t) => quote(t),
            ODataValue::Guid(g) => g.to_string(),
            ODataValue::Date(d) => d.to_string(),
            ODataValue::Timestamp(t) => t.to_string(),
        }
    }

    /// The value as text for function parameters, which take every value quoted
    /// (`PropertyValues=['1','2']`).
    fn quoted(&self) -> String {
        match self {
            ODataValue::Text(_) => self.literal(),
            other => quote(&other.literal()),
        }
    }
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

macro_rules! odata_from {
    ($($t:ty => $variant:ident $(as $conv:ty)?),* $(,)?) => {$(
        impl From<$t> for ODataValue {
            fn from(v: $t) -> Self {
                ODataValue::$variant(v $(as $conv)? .into())
            }
        }
    )*};
}

odata_from! {
    bool => Bool,
    i32 => Int,
    i64 => Int,
    u32 => Int,
    Decimal => Decimal,
    String => Text,
    &str => Text,
    Uuid => Guid,
    Date => Date,
    Timestamp => Timestamp,
}

impl From<&String> for ODataValue {
    fn from(v: &String) -> Self {
        ODataValue::Text(v.clone())
    }
}

impl<T: Into<ODataValue>> From<Option<T>> for ODataValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(ODataValue::Null, Into::into)
    }
}

/// A `$filter` expression.
///
/// Built only from typed helpers: column names must be plain identifiers (or `nav/column`
/// paths), values are escaped literals, and `contains` / `startswith` / `endswith` escape the
/// wildcard characters `%`, `_` and `[`. A bad column name does not panic: the query that uses
/// the filter fails with [`Error::Validation`] before anything is sent.
///
/// ```
/// use cosell::dataverse::Filter;
///
/// let f = Filter::eq("statecode", 0)
///     .and(Filter::eq("cosell_syncwithpartnercenter", true))
///     .and(Filter::contains("name", "50%_off").or(Filter::eq("name", "O'Neil")));
/// assert_eq!(
///     f.to_string(),
///     "statecode eq 0 and cosell_syncwithpartnercenter eq true and \
///      (contains(name,'50[%][_]off') or name eq 'O''Neil')"
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    text: String,
    /// Whether the top-level operator is `or`/`and` (needs parentheses inside another
    /// operator) or the expression is atomic.
    precedence: Precedence,
    error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Precedence {
    Or,
    And,
    Atom,
}

impl Filter {
    fn atom(text: String) -> Self {
        Filter {
            text,
            precedence: Precedence::Atom,
            error: None,
        }
    }

    fn checked_column(column: &str) -> std::result::Result<(), String> {
        let plain = column
            .split('/')
            .all(|part| check_identifier(part, "column").is_ok());
        if plain {
            Ok(())
        } else {
            Err(format!(
                "`{column}` is not a column name or navigation path"
            ))
        }
    }

    fn comparison(column: &str, op: &str, value: ODataValue) -> Self {
        let mut f = Filter::atom(format!("{column} {op} {}", value.literal()));
        f.error = Filter::checked_column(column).err();
        f
    }

    fn function(name: &str, column: &str, pattern: String) -> Self {
        let mut f = Filter::atom(format!("{name}({column},{})", quote(&pattern)));
        f.error = Filter::checked_column(column).err();
        f
    }

    /// `column eq value`.
    pub fn eq(column: &str, value: impl Into<ODataValue>) -> Self {
        Filter::comparison(column, "eq", value.into())
    }

    /// `column ne value`.
    pub fn ne(column: &str, value: impl Into<ODataValue>) -> Self {
        Filter::comparison(column, "ne", value.into())
    }

    /// `column gt value`.
    pub fn gt(column: &str, value: impl Into<ODataValue>) -> Self {
        Filter::comparison(column, "gt", value.into())
    }

    /// `column ge value`.
    pub fn ge(column: &str, value: impl Into<ODataValue>) -> Self {
        Filter::comparison(column, "ge", value.into())
    }

    /// `column lt value`.
    pub fn lt(column: &str, value: impl Into<ODataValue>) -> Self {
        Filter::comparison(column, "lt", value.into())
    }

    /// `column le value`.
    pub fn le(column: &str, value: impl Into<ODataValue>) -> Self {
        Filter::comparison(column, "le", value.into())
    }

    /// `contains(column,'text')`, with the wildcards in `text` escaped so they match literally.
    pub fn contains(column: &str, text: &str) -> Self {
        Filter::function("contains", column, escape_wildcards(text))
    }

    /// `startswith(column,'text')`, wildcards escaped.
    pub fn starts_with(column: &str, text: &str) -> Self {
        Filter::function("startswith", column, escape_wildcards(text))
    }

    /// `endswith(column,'text')`, wildcards escaped.
    pub fn ends_with(column: &str, text: &str) -> Self {
        Filter::function("endswith", column, escape_wildcards(text))
    }

    /// Membership: `Microsoft.Dynamics.CRM.In(PropertyName='column',PropertyValues=['a','b'])`.
    ///
    /// An empty list matches nothing; Dataverse refuses an empty `In`, so it is rendered as
    /// `false`.
    pub fn is_in<I, V>(column: &str, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<ODataValue>,
    {
        let values: Vec<ODataValue> = values.into_iter().map(Into::into).collect();
        if values.is_empty() {
            let mut f = Filter::atom("false".to_owned());
            f.error = Filter::checked_column(column).err();
            return f;
        }
        // `In` takes a list even for one value.
        let list = values
            .iter()
            .map(ODataValue::quoted)
            .collect::<Vec<_>>()
            .join(",");
        Filter::crm_call("In", column, format!(",PropertyValues=[{list}]"))
    }

    /// One of Dataverse's query functions, `Microsoft.Dynamics.CRM.<function>`, on `column`:
    /// with no value `(PropertyName='column')`, with one `PropertyValue='v'`, with several
    /// `PropertyValues=['a','b']`. Every value is quoted and escaped.
    ///
    /// ```
    /// use cosell::dataverse::{Filter, ODataValue};
    ///
    /// assert_eq!(
    ///     Filter::crm_function("LastXDays", "modifiedon", &[ODataValue::from(7)]).to_string(),
    ///     "Microsoft.Dynamics.CRM.LastXDays(PropertyName='modifiedon',PropertyValue='7')"
    /// );
    /// assert_eq!(
    ///     Filter::crm_function("ThisMonth", "estimatedclosedate", &[]).to_string(),
    ///     "Microsoft.Dynamics.CRM.ThisMonth(PropertyName='estimatedclosedate')"
    /// );
    /// ```
    pub fn crm_function(function: &str, column: &str, values: &[ODataValue]) -> Self {
        let arguments = match values {
            [] => String::new(),
            [one] => format!(",PropertyValue={}", one.quoted()),
            many => format!(
                ",PropertyValues=[{}]",
                many.iter()
                    .map(ODataValue::quoted)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        };
        Filter::crm_call(function, column, arguments)
    }

    fn crm_call(function: &str, column: &str, arguments: String) -> Self {
        let mut f = Filter::atom(format!(
            "Microsoft.Dynamics.CRM.{function}(PropertyName={}{arguments})",
            quote(column)
        ));
        f.error = Filter::checked_column(column).err().or_else(|| {
            check_identifier(function, "function")
                .err()
                .map(|e| e.to_string())
        });
        f
    }

    /// `column eq null`.
    pub fn is_null(column: &str) -> Self {
        Filter::eq(column, ODataValue::Null)
    }

    /// Both: `self and other`.
    pub fn and(self, other: Filter) -> Self {
        Filter::join(self, other, Precedence::And, "and")
    }

    /// Either: `self or other`.
    pub fn or(self, other: Filter) -> Self {
        Filter::join(self, other, Precedence::Or, "or")
    }

    /// Negation: `not (self)`.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Self {
        Filter {
            text: format!("not ({})", self.text),
            precedence: Precedence::Atom,
            error: self.error,
        }
    }

    /// All of the filters joined with `and`; `None` when there are none.
    pub fn all(filters: impl IntoIterator<Item = Filter>) -> Option<Self> {
        filters.into_iter().reduce(Filter::and)
    }

    /// Any of the filters joined with `or`; `None` when there are none.
    pub fn any(filters: impl IntoIterator<Item = Filter>) -> Option<Self> {
        filters.into_iter().reduce(Filter::or)
    }

    fn join(left: Filter, right: Filter, precedence: Precedence, op: &str) -> Self {
        let wrap = |f: &Filter| {
            if f.precedence.rank() < precedence.rank() {
                format!("({})", f.text)
            } else {
                f.text.clone()
            }
        };
        Filter {
            text: format!("{} {op} {}", wrap(&left), wrap(&right)),
            precedence,
            error: left.error.or(right.error),
        }
    }

    /// The expression, or the reason it is invalid.
    ///
    /// # Errors
    /// [`Error::Validation`] when a column name was not an identifier.
    pub fn render(&self) -> Result<&str> {
        match &self.error {
            Some(e) => Err(Error::validation(e.clone())),
            None => Ok(&self.text),
        }
    }
}

impl Precedence {
    fn rank(self) -> u8 {
        match self {
            Precedence::Or => 0,
            Precedence::And => 1,
            Precedence::Atom => 2,
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Escapes the LIKE wildcards Dataverse applies inside `contains`, `startswith` and `endswith`.
fn escape_wildcards(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("[%]"),
            '_' => out.push_str("[_]"),
            '[' => out.push_str("[[]"),
            other => out.push(other),
        }
    }
    out
}
