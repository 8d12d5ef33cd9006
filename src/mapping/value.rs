//! Canonical values: what one field of a canonical record holds.

use std::fmt;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The type a canonical field holds. [`Value::Null`] and [`Value::Absent`] fit every kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    /// Free text.
    Text,
    /// An exact decimal number (money, quantities).
    Decimal,
    /// A calendar date without a time or time zone.
    Date,
    /// An instant.
    DateTime,
    /// Yes or no.
    Bool,
    /// One code out of a set of codes (option set, picklist, status).
    Choice,
    /// A set of codes (multi-select).
    MultiChoice,
    /// An ordered list of values.
    List,
}

impl fmt::Display for ValueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueKind::Text => "text",
            ValueKind::Decimal => "decimal",
            ValueKind::Date => "date",
            ValueKind::DateTime => "date-time",
            ValueKind::Bool => "bool",
            ValueKind::Choice => "choice",
            ValueKind::MultiChoice => "multi-choice",
            ValueKind::List => "list",
        })
    }
}

/// The value of one canonical field. Text, codes, sets and lists are reference-counted, so
/// cloning a value never copies its contents.
///
/// *Absent* and *null* differ: `Absent` means the side did not read or does not map the field
/// (nothing is known, so nothing is compared, sent or cleared), while `Null` means the side holds
/// no value (clearing a field writes `Null`). An empty text is a third state, equal to `Null` only
/// where the field's [`Normalization`](crate::mapping::Normalization) says so.
///
/// ```
/// use cosell::mapping::Value;
/// use rust_decimal::Decimal;
///
/// let amount = Value::Decimal(Decimal::new(125_000, 2));
/// assert_eq!(amount, Value::Decimal(Decimal::new(1_250, 0))); // 1250.00 == 1250
/// assert_ne!(Value::Null, Value::Absent);
/// assert_ne!(Value::text(""), Value::Null);
/// assert!(Value::text("").is_blank());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    /// Not read or not mapped: nothing is known about the field on this side.
    #[default]
    Absent,
    /// The field holds no value.
    Null,
    /// Free text.
    Text(Arc<str>),
    /// An exact decimal; equality is numeric (`1.0 == 1.00`).
    Decimal(Decimal),
    /// A calendar date.
    Date(Date),
    /// An instant.
    DateTime(Timestamp),
    /// Yes or no.
    Bool(bool),
    /// One canonical code.
    Choice(Arc<str>),
    /// A set of canonical codes, kept sorted so that order never looks like a change.
    MultiChoice(ChoiceSet),
    /// An ordered list; order matters.
    List(Arc<[Value]>),
}

impl Value {
    /// A [`Value::Text`].
    ///
    /// ```
    /// assert_eq!(cosell::mapping::Value::text("Contoso").as_text(), Some("Contoso"));
    /// ```
    pub fn text(text: impl Into<String>) -> Self {
        Value::Text(text.into().into())
    }

    /// A [`Value::Choice`].
    pub fn choice(code: impl Into<String>) -> Self {
        Value::Choice(code.into().into())
    }

    /// A [`Value::MultiChoice`] of the given codes (sorted and de-duplicated).
    ///
    /// ```
    /// use cosell::mapping::Value;
    /// assert_eq!(Value::multi_choice(["b", "a", "b"]), Value::multi_choice(["a", "b"]));
    /// ```
    pub fn multi_choice<I, S>(codes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Value::MultiChoice(ChoiceSet::new(codes))
    }

    /// A [`Value::List`] of the given values, in order.
    pub fn list(values: impl IntoIterator<Item = Value>) -> Self {
        Value::List(values.into_iter().collect())
    }

    /// The kind of value held, or `None` for [`Value::Absent`] and [`Value::Null`].
    pub fn kind(&self) -> Option<ValueKind> {
        Some(match self {
            Value::Absent | Value::Null => return None,
            Value::Text(_) => ValueKind::Text,
            Value::Decimal(_) => ValueKind::Decimal,
            Value::Date(_) => ValueKind::Date,
            Value::DateTime(_) => ValueKind::DateTime,
            Value::Bool(_) => ValueKind::Bool,
            Value::Choice(_) => ValueKind::Choice,
            Value::MultiChoice(_) => ValueKind::MultiChoice,
            Value::List(_) => ValueKind::List,
        })
    }

    /// Whether this value may sit in a field of kind `kind` ([`Value::Absent`] and
    /// [`Value::Null`] fit every kind).
    ///
    /// ```
    /// use cosell::mapping::{Value, ValueKind};
    /// assert!(Value::Null.fits(ValueKind::Date));
    /// assert!(!Value::Bool(true).fits(ValueKind::Text));
    /// ```
    pub fn fits(&self, kind: ValueKind) -> bool {
        self.kind().is_none_or(|own| own == kind)
    }

    /// Whether the side did not read or does not map the field.
    pub fn is_absent(&self) -> bool {
        matches!(self, Value::Absent)
    }

    /// Whether the field holds no value.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Whether the value says nothing: absent, null, empty or whitespace-only text, an empty
    /// choice, an empty set or an empty list. Used by
    /// [`Policy::PreferUnlessBlank`](crate::mapping::Policy::PreferUnlessBlank).
    pub fn is_blank(&self) -> bool {
        match self {
            Value::Absent | Value::Null => true,
            Value::Text(text) | Value::Choice(text) => text.trim().is_empty(),
            Value::MultiChoice(set) => set.is_empty(),
            Value::List(items) => items.is_empty(),
            Value::Decimal(_) | Value::Date(_) | Value::DateTime(_) | Value::Bool(_) => false,
        }
    }

    /// The text, if this is [`Value::Text`].
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The code, if this is [`Value::Choice`].
    pub fn as_choice(&self) -> Option<&str> {
        match self {
            Value::Choice(code) => Some(code),
            _ => None,
        }
    }

    /// The codes, if this is [`Value::MultiChoice`].
    pub fn as_choices(&self) -> Option<&ChoiceSet> {
        match self {
            Value::MultiChoice(set) => Some(set),
            _ => None,
        }
    }

    /// The number, if this is [`Value::Decimal`].
    pub fn as_decimal(&self) -> Option<Decimal> {
        match self {
            Value::Decimal(number) => Some(*number),
            _ => None,
        }
    }

    /// The date, if this is [`Value::Date`].
    pub fn as_date(&self) -> Option<Date> {
        match self {
            Value::Date(date) => Some(*date),
            _ => None,
        }
    }

    /// The instant, if this is [`Value::DateTime`].
    pub fn as_timestamp(&self) -> Option<Timestamp> {
        match self {
            Value::DateTime(instant) => Some(*instant),
            _ => None,
        }
    }

    /// The flag, if this is [`Value::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(flag) => Some(*flag),
            _ => None,
        }
    }

    /// The items, if this is [`Value::List`].
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Self {
        Value::Bool(flag)
    }
}

impl From<Decimal> for Value {
    fn from(number: Decimal) -> Self {
        Value::Decimal(number)
    }
}

impl From<Date> for Value {
    fn from(date: Date) -> Self {
        Value::Date(date)
    }
}

impl From<Timestamp> for Value {
    fn from(instant: Timestamp) -> Self {
        Value::DateTime(instant)
    }
}

impl From<ChoiceSet> for Value {
    fn from(set: ChoiceSet) -> Self {
        Value::MultiChoice(set)
    }
}

/// A set of choice codes, sorted (by byte order) and without duplicates, so two sets with the
/// same members are equal whatever order the source listed them in.
///
/// ```
/// use cosell::mapping::ChoiceSet;
///
/// let set = ChoiceSet::new(["Propose", "Close", "Propose"]);
/// assert_eq!(set.iter().collect::<Vec<_>>(), ["Close", "Propose"]);
/// assert!(set.contains("Close"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
pub struct ChoiceSet(Arc<[Box<str>]>);

impl ChoiceSet {
    /// A set of the given codes.
    pub fn new<I, S>(codes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut codes: Vec<Box<str>> = codes
            .into_iter()
            .map(|code| code.into().into_boxed_str())
            .collect();
        codes.sort_unstable();
        codes.dedup();
        ChoiceSet(codes.into())
    }

    /// The codes, in sorted order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.0.iter().map(|code| &**code)
    }

    /// Whether the set holds `code`.
    pub fn contains(&self, code: &str) -> bool {
        self.0.binary_search_by(|held| (**held).cmp(code)).is_ok()
    }

    /// How many codes the set holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<S: Into<String>> FromIterator<S> for ChoiceSet {
    fn from_iter<I: IntoIterator<Item = S>>(codes: I) -> Self {
        ChoiceSet::new(codes)
    }
}

impl From<Vec<String>> for ChoiceSet {
    fn from(codes: Vec<String>) -> Self {
        ChoiceSet::new(codes)
    }
}

impl From<ChoiceSet> for Vec<String> {
    fn from(set: ChoiceSet) -> Self {
        set.iter().map(str::to_owned).collect()
    }
}
