//! Transforms between wire values and canonical values.

use std::str::FromStr;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde_json::Value as Json;

use super::normalize::{DateRule, round_to_scale};
use super::value::{ChoiceSet, Value, ValueKind};

/// A two-way map between canonical codes and wire values (choice, option set and picklist
/// values). Extra wire values may be read as a code without being written (many-to-one maps).
///
/// ```
/// use cosell::mapping::ValueMap;
///
/// let stages = ValueMap::new().pair("Qualify", 0).pair("Develop", 1).read_also("1", "Develop");
/// assert_eq!(stages.to_code(&serde_json::json!(1)), Some("Develop"));
/// assert_eq!(stages.to_code(&serde_json::json!("1")), Some("Develop"));
/// assert_eq!(stages.to_wire("Qualify"), Some(&serde_json::json!(0)));
/// assert_eq!(stages.to_code(&serde_json::json!(7)), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValueMap {
    pairs: Vec<(Arc<str>, Json)>,
    read_only: Vec<(Json, Arc<str>)>,
    read_as_null: Vec<Json>,
    numbers_unknown: bool,
}

impl ValueMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Map `code` to `wire` both ways. The first pair for a code is the one written.
    pub fn pair(mut self, code: &str, wire: impl Into<Json>) -> Self {
        self.pairs.push((code.into(), wire.into()));
        self
    }

    /// Read `wire` as `code`, without ever writing it.
    pub fn read_also(mut self, wire: impl Into<Json>, code: &str) -> Self {
        self.read_only.push((wire.into(), code.into()));
        self
    }

    /// Read `wire` as no value (null), without ever writing it: a service's own placeholder,
    /// such as Partner Center's `Unknown` help request.
    ///
    /// ```
    /// use cosell::mapping::ValueMap;
    /// let help = ValueMap::new().pair("QuotesOrLicensing", 4).read_as_null("Unknown");
    /// assert!(help.is_null(&serde_json::json!("Unknown")));
    /// assert_eq!(help.to_code(&serde_json::json!("Unknown")), None);
    /// ```
    pub fn read_as_null(mut self, wire: impl Into<Json>) -> Self {
        self.read_as_null.push(wire.into());
        self
    }

    /// Read a number (or text of digits) the map does not hold as unknown: the field is left
    /// absent and the value traced at debug level, not reported as unmapped. For services that
    /// send internal numbers where the documentation names values (Partner Center's
    /// `salesStage` `"100"`).
    ///
    /// ```
    /// use cosell::mapping::ValueMap;
    /// let stages = ValueMap::new().pair("Qualify", "Qualify").unknown_numbers();
    /// assert!(stages.is_unknown(&serde_json::json!("100")));
    /// assert!(!stages.is_unknown(&serde_json::json!("Negotiate")));
    /// ```
    pub fn unknown_numbers(mut self) -> Self {
        self.numbers_unknown = true;
        self
    }

    /// Whether `wire` is read as null ([`read_as_null`](Self::read_as_null)).
    pub fn is_null(&self, wire: &Json) -> bool {
        self.read_as_null.contains(wire)
    }

    /// Whether `wire` is read as unknown ([`unknown_numbers`](Self::unknown_numbers)) rather
    /// than reported: a number the map does not hold.
    pub fn is_unknown(&self, wire: &Json) -> bool {
        self.numbers_unknown
            && self.to_code(wire).is_none()
            && match wire {
                Json::Number(_) => true,
                Json::String(text) => {
                    let digits = text.trim();
                    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
                }
                _ => false,
            }
    }

    /// The code of a wire value.
    pub fn to_code(&self, wire: &Json) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(_, candidate)| candidate == wire)
            .map(|(code, _)| &**code)
            .or_else(|| {
                self.read_only
                    .iter()
                    .find(|(candidate, _)| candidate == wire)
                    .map(|(_, code)| &**code)
            })
    }

    /// The wire value written for a code.
    pub fn to_wire(&self, code: &str) -> Option<&Json> {
        self.pairs
            .iter()
            .find(|(candidate, _)| &**candidate == code)
            .map(|(_, wire)| wire)
    }

    /// The wire values written, in order.
    pub fn wire_values(&self) -> impl Iterator<Item = &Json> + '_ {
        self.pairs.iter().map(|(_, wire)| wire)
    }

    /// The codes, in order.
    pub fn codes(&self) -> impl Iterator<Item = &str> + '_ {
        self.pairs.iter().map(|(code, _)| &**code)
    }
}

/// How a field's wire value becomes its canonical value and back.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Transform {
    /// By the canonical kind: text, numbers (decimals written as JSON numbers), dates
    /// (`YYYY-MM-DD`), instants, booleans, codes, arrays of codes.
    #[default]
    Plain,
    /// Choice codes through a value map; unmapped values are reported.
    Map(ValueMap),
    /// A multi-select held as one joined string (Salesforce `a;b`, Dataverse `1,9`, ids one per
    /// line), each item through the value map when there is one. Written in the map's order (or
    /// sorted), so the same set always gives the same text.
    Joined {
        /// The separator.
        separator: String,
        /// The value map for each item.
        map: Option<ValueMap>,
    },
    /// A single canonical choice read from a multi-select: the first item that maps; written as
    /// a one-item multi-select.
    FirstOf {
        /// The separator.
        separator: String,
        /// The value map for each item.
        map: ValueMap,
    },
    /// An ISO code (ISO 4217 currency, ISO 3166 country): upper-cased.
    IsoCode,
    /// A wire instant held as a canonical date by the rule; a date is written as the instant of
    /// its midnight under the rule ([`DateRule::instant_of`]).
    InstantToDate(DateRule),
    /// A decimal rounded to this many places on write.
    Scale(u32),
    /// A decimal written as a JSON string (Partner Center's `dealValue`).
    DecimalText,
    /// Text built from the source value with a template: `{}` stands for the value. Read only.
    Template(String),
}

/// The outcome of decoding one wire value.
pub(crate) enum Decoded {
    Value(Value),
    Unmapped(String),
    /// A value the map declares unknown: left absent, not reported.
    Unknown(String),
    WrongType(&'static str),
}

fn text_of(wire: &Json) -> Option<String> {
    match wire {
        Json::String(text) => Some(text.clone()),
        Json::Number(number) => Some(number.to_string()),
        Json::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn split<'a>(text: &'a str, separator: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.split(separator)
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

fn wire_item(item: &str) -> Json {
    match item.parse::<i64>() {
        Ok(number) => Json::from(number),
        Err(_) => Json::String(item.to_owned()),
    }
}

fn decimal_of(wire: &Json) -> Option<Decimal> {
    let text = match wire {
        Json::Number(number) => number.to_string(),
        Json::String(text) => text.trim().to_owned(),
        _ => return None,
    };
    Decimal::from_str_exact(&text)
        .or_else(|_| Decimal::from_str(&text))
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
}

fn date_of(wire: &Json) -> Option<Date> {
    let text = wire.as_str()?;
    text.parse::<Date>().ok().or_else(|| {
        text.parse::<Timestamp>()
            .ok()
            .map(|instant| instant.to_zoned_datetime(jiff::tz::TimeZone::UTC).date())
    })
}

impl Transform {
    /// Decode a wire value (never null: the caller handles null) into a field of `kind`.
    pub(crate) fn decode(&self, kind: ValueKind, wire: &Json) -> Decoded {
        use Decoded::{Unmapped, WrongType};
        let ok = Decoded::Value;
        match self {
            Transform::Map(map) => match wire {
                Json::Array(items) => {
                    let mut codes = Vec::new();
                    for item in items {
                        match map.to_code(item) {
                            Some(code) => codes.push(code.to_owned()),
                            None => return Unmapped(text_of(item).unwrap_or_default()),
                        }
                    }
                    ok(Value::multi_choice(codes))
                }
                _ => match map.to_code(wire) {
                    Some(code) => ok(Value::choice(code)),
                    None if map.is_null(wire) => ok(Value::Null),
                    None => {
                        let text = text_of(wire).unwrap_or_else(|| wire.to_string());
                        if map.is_unknown(wire) {
                            Decoded::Unknown(text)
                        } else {
                            Unmapped(text)
                        }
                    }
                },
            },
            Transform::Joined { separator, map } => {
                let Some(text) = wire.as_str() else {
                    return WrongType("joined multi-select text");
                };
                let mut codes = Vec::new();
                for item in split(text, separator) {
                    match map {
                        Some(map) => match map
                            .to_code(&wire_item(item))
                            .or_else(|| map.to_code(&Json::String(item.to_owned())))
                        {
                            Some(code) => codes.push(code.to_owned()),
                            None => return Unmapped(item.to_owned()),
                        },
                        None => codes.push(item.to_owned()),
                    }
                }
                match kind {
                    ValueKind::List => ok(Value::list(codes.into_iter().map(Value::text))),
                    _ => ok(Value::multi_choice(codes)),
                }
            }
            Transform::FirstOf { separator, map } => {
                let Some(text) = wire.as_str() else {
                    return WrongType("joined multi-select text");
                };
                let mut first_unmapped = None;
                for item in split(text, separator) {
                    match map
                        .to_code(&wire_item(item))
                        .or_else(|| map.to_code(&Json::String(item.to_owned())))
                    {
                        Some(code) => return ok(Value::choice(code)),
                        None => {
                            first_unmapped.get_or_insert_with(|| item.to_owned());
                        }
                    }
                }
                match first_unmapped {
                    Some(item) => Unmapped(item),
                    None => ok(Value::Null),
                }
            }
            Transform::IsoCode => match wire.as_str() {
                Some(code) => ok(Value::choice(code.trim().to_ascii_uppercase())),
                None => WrongType("ISO code"),
            },
            Transform::InstantToDate(rule) => match wire.as_str() {
                Some(text) => match text.parse::<Timestamp>() {
                    Ok(instant) => ok(Value::Date(rule.date_of(instant))),
                    Err(_) => match text.parse::<Date>() {
                        Ok(date) => ok(Value::Date(date)),
                        Err(_) => WrongType("instant"),
                    },
                },
                None => WrongType("instant"),
            },
            Transform::Template(template) => match text_of(wire) {
                Some(text) => ok(Value::text(template.replace("{}", &text))),
                None => WrongType("text"),
            },
            Transform::Scale(_) | Transform::DecimalText | Transform::Plain => plain(kind, wire),
        }
    }

    /// Encode a canonical value (never absent) for the wire.
    pub(crate) fn encode(&self, value: &Value) -> Result<Json, String> {
        if value.is_null() {
            return Ok(Json::Null);
        }
        match (self, value) {
            (Transform::Map(map), Value::Choice(code)) => map
                .to_wire(code)
                .cloned()
                .ok_or_else(|| format!("no wire value for `{code}`")),
            (Transform::Map(map), Value::MultiChoice(set)) => set
                .iter()
                .map(|code| {
                    map.to_wire(code)
                        .cloned()
                        .ok_or_else(|| format!("no wire value for `{code}`"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Json::Array),
            (Transform::Joined { separator, map }, Value::MultiChoice(set)) => {
                let items = ordered_items(set, map.as_ref())?;
                Ok(Json::String(items.join(separator)))
            }
            (Transform::Joined { separator, .. }, Value::List(items)) => Ok(Json::String(
                items
                    .iter()
                    .filter_map(|item| item.as_text().or_else(|| item.as_choice()))
                    .collect::<Vec<_>>()
                    .join(separator),
            )),
            (Transform::FirstOf { map, .. }, Value::Choice(code)) => map
                .to_wire(code)
                .map(|wire| Json::String(text_of(wire).unwrap_or_default()))
                .ok_or_else(|| format!("no wire value for `{code}`")),
            (Transform::IsoCode, Value::Choice(code) | Value::Text(code)) => {
                let code = code.trim().to_ascii_uppercase();
                if code.len() >= 2 && code.chars().all(|c| c.is_ascii_alphabetic()) {
                    Ok(Json::String(code))
                } else {
                    Err(format!("`{code}` is not an ISO code"))
                }
            }
            (Transform::InstantToDate(rule), Value::Date(date)) => rule
                .instant_of(*date)
                .map(|instant| Json::String(instant.to_string()))
                .ok_or_else(|| format!("{date} has no midnight under {rule:?}")),
            (Transform::Scale(scale), Value::Decimal(number)) => {
                Ok(decimal_json(round_to_scale(*number, *scale)))
            }
            (Transform::DecimalText, Value::Decimal(number)) => {
                Ok(Json::String(number.normalize().to_string()))
            }
            (Transform::Template(_), _) => Err("a template field is read only".into()),
            (Transform::Plain, value) => plain_json(value),
            (_, value) => Err(format!("the transform does not take {value:?}")),
        }
    }

    /// The value map, if the transform has one.
    pub fn value_map(&self) -> Option<&ValueMap> {
        match self {
            Transform::Map(map) | Transform::FirstOf { map, .. } => Some(map),
            Transform::Joined { map, .. } => map.as_ref(),
            _ => None,
        }
    }
}

fn ordered_items(set: &ChoiceSet, map: Option<&ValueMap>) -> Result<Vec<String>, String> {
    match map {
        None => Ok(set.iter().map(str::to_owned).collect()),
        Some(map) => {
            let mut items = Vec::with_capacity(set.len());
            for code in set.iter() {
                if map.to_wire(code).is_none() {
                    return Err(format!("no wire value for `{code}`"));
                }
            }
            // Map order, so the joined text is stable whatever the set's order.
            for code in map.codes() {
                if set.contains(code)
                    && let Some(wire) = map.to_wire(code)
                {
                    items.push(text_of(wire).unwrap_or_default());
                }
            }
            items.dedup();
            Ok(items)
        }
    }
}

/// A decimal as a JSON number with exactly its digits.
pub(crate) fn decimal_json(number: Decimal) -> Json {
    crate::money::serialize(&number, serde_json::value::Serializer)
        .unwrap_or_else(|_| Json::String(number.to_string()))
}

fn plain(kind: ValueKind, wire: &Json) -> Decoded {
    use Decoded::{Value as V, WrongType};
    match kind {
        ValueKind::Text => match text_of(wire) {
            Some(text) => V(Value::text(text)),
            None => WrongType("text"),
        },
        ValueKind::Choice => match text_of(wire) {
            Some(text) => V(Value::choice(text)),
            None => WrongType("code"),
        },
        ValueKind::Decimal => match decimal_of(wire) {
            Some(number) => V(Value::Decimal(number)),
            None => WrongType("decimal"),
        },
        ValueKind::Date => match date_of(wire) {
            Some(date) => V(Value::Date(date)),
            None => WrongType("date"),
        },
        ValueKind::DateTime => match wire.as_str().and_then(|text| text.parse().ok()) {
            Some(instant) => V(Value::DateTime(instant)),
            None => WrongType("instant"),
        },
        ValueKind::Bool => match wire {
            Json::Bool(flag) => V(Value::Bool(*flag)),
            Json::String(text) if text.eq_ignore_ascii_case("true") => V(Value::Bool(true)),
            Json::String(text) if text.eq_ignore_ascii_case("false") => V(Value::Bool(false)),
            _ => WrongType("bool"),
        },
        ValueKind::MultiChoice => match wire {
            Json::Array(items) => match items.iter().map(text_of).collect::<Option<Vec<_>>>() {
                Some(codes) => V(Value::multi_choice(codes)),
                None => WrongType("array of codes"),
            },
            _ => WrongType("array of codes"),
        },
        ValueKind::List => match wire {
            Json::Array(items) => match items.iter().map(text_of).collect::<Option<Vec<_>>>() {
                Some(texts) => V(Value::list(texts.into_iter().map(Value::text))),
                None => WrongType("array"),
            },
            _ => WrongType("array"),
        },
    }
}

fn plain_json(value: &Value) -> Result<Json, String> {
    Ok(match value {
        Value::Absent | Value::Null => Json::Null,
        Value::Text(text) | Value::Choice(text) => Json::String(text.to_string()),
        Value::Decimal(number) => decimal_json(*number),
        Value::Date(date) => Json::String(date.to_string()),
        Value::DateTime(instant) => Json::String(instant.to_string()),
        Value::Bool(flag) => Json::Bool(*flag),
        Value::MultiChoice(set) => Json::Array(set.iter().map(Json::from).collect()),
        Value::List(items) => Json::Array(
            items
                .iter()
                .map(plain_json)
                .collect::<Result<Vec<_>, _>>()?,
        ),
    })
}
