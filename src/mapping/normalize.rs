//! Normalization: values brought to the form the targets store, before they are compared or
//! hashed, so that a value a target stores differently never looks like a change.
//!
//! The free functions are the rules themselves; [`Normalization`] bundles the ones a field uses
//! and [`Schema::normalize`](crate::mapping::Schema::normalize) applies them to a whole record.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use rust_decimal::{Decimal, RoundingStrategy};

use super::value::{ChoiceSet, Value, ValueKind};

/// The normalization rules of one field. The default trims text and codes and keeps every other
/// value as it is.
///
/// ```
/// use cosell::mapping::{Normalization, Value, ValueKind};
///
/// let mut rules = Normalization::default();
/// rules.max_chars = Some(5);
/// rules.empty_is_null = true;
/// let normalized = rules.apply(ValueKind::Text, Value::text("  Contoso  ")).unwrap();
/// assert_eq!(normalized.value, Value::text("Conto"));
/// assert_eq!(normalized.truncated_from, Some(7));
/// assert_eq!(rules.apply(ValueKind::Text, Value::text("  ")).unwrap().value, Value::Null);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Normalization {
    /// Trim leading and trailing white space from text and codes.
    pub trim: bool,
    /// Treat empty text, an empty code, an empty set and an empty list as [`Value::Null`].
    pub empty_is_null: bool,
    /// Cut text longer than this many characters (Unicode scalar values); reported.
    pub max_chars: Option<usize>,
    /// Round decimals to this many decimal places (midpoint away from zero).
    pub decimal_scale: Option<u32>,
    /// Upper-case codes and text (ASCII only: ISO currency and country codes).
    pub upper_case: bool,
    /// How an instant becomes a date in a date field.
    pub date_rule: DateRule,
}

impl Default for Normalization {
    fn default() -> Self {
        Normalization {
            trim: true,
            empty_is_null: false,
            max_chars: None,
            decimal_scale: None,
            upper_case: false,
            date_rule: DateRule::NearestUtcMidnight,
        }
    }
}

/// How an instant ([`Value::DateTime`]) becomes a date ([`Value::Date`]), and a date the
/// instant written for it.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum DateRule {
    /// Round to the nearest UTC midnight ([`nearest_utc_midnight`]): recovers the date a seller
    /// picked when the service stored their local midnight as a UTC instant, for sellers from
    /// UTC−11:59 to UTC+12:00. East of that (New Zealand in summer, Samoa, Tonga: +13; Kiribati:
    /// +14) it gives the day before, since the instant alone cannot tell +13 from −11: set the
    /// seller's zone ([`InTimeZone`](Self::InTimeZone)) there. A date is written as its UTC
    /// midnight.
    #[default]
    NearestUtcMidnight,
    /// The calendar date in UTC; a date is written as its UTC midnight.
    UtcDate,
    /// The calendar date in a known time zone (the seller's); a date is written as its local
    /// midnight in that zone, in UTC.
    InTimeZone(TimeZone),
}

impl DateRule {
    /// The date of `instant` under this rule.
    ///
    /// ```
    /// use cosell::mapping::DateRule;
    /// let instant: jiff::Timestamp = "2022-03-24T18:30:00Z".parse().unwrap();
    /// assert_eq!(DateRule::NearestUtcMidnight.date_of(instant).to_string(), "2022-03-25");
    /// assert_eq!(DateRule::UtcDate.date_of(instant).to_string(), "2022-03-24");
    /// ```
    pub fn date_of(&self, instant: Timestamp) -> Date {
        match self {
            DateRule::NearestUtcMidnight => nearest_utc_midnight(instant),
            DateRule::UtcDate => instant.to_zoned_datetime(TimeZone::UTC).date(),
            DateRule::InTimeZone(zone) => instant.to_zoned_datetime(zone.clone()).date(),
        }
    }

    /// The instant written for `date` under this rule: its UTC midnight, or its local midnight
    /// in the rule's zone. Where a zone skips midnight (a transition at 00:00), the instant is
    /// the local time just after the gap, still on `date`. `None` only for dates at the very
    /// edge of the representable range.
    ///
    /// ```
    /// use cosell::mapping::DateRule;
    /// use jiff::civil::date;
    /// let kiribati = DateRule::InTimeZone(jiff::tz::TimeZone::get("Pacific/Kiritimati").unwrap());
    /// let instant = kiribati.instant_of(date(2026, 3, 31)).unwrap();
    /// assert_eq!(instant.to_string(), "2026-03-30T10:00:00Z");
    /// assert_eq!(kiribati.date_of(instant), date(2026, 3, 31));
    /// assert_eq!(DateRule::NearestUtcMidnight.instant_of(date(2026, 3, 31)).unwrap().to_string(), "2026-03-31T00:00:00Z");
    /// ```
    pub fn instant_of(&self, date: Date) -> Option<Timestamp> {
        match self {
            DateRule::NearestUtcMidnight | DateRule::UtcDate => utc_midnight(date),
            DateRule::InTimeZone(zone) => date
                .to_zoned_datetime(zone.clone())
                .ok()
                .map(|zoned| zoned.timestamp()),
        }
    }
}

/// A normalized value, and the length of the text before it was cut, if it was.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// The value as the targets store it.
    pub value: Value,
    /// The text's length in characters before truncation, when it was truncated.
    pub truncated_from: Option<usize>,
}

/// A value whose kind does not fit the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("a {expected} field cannot hold {found:?}")]
pub struct KindMismatch {
    /// The field's kind.
    pub expected: ValueKind,
    /// The value given.
    pub found: Value,
}

impl Normalization {
    /// Normalize `value` for a field of kind `kind`.
    ///
    /// Besides the rules above, an instant given to a date field becomes a date by
    /// [`date_rule`](Self::date_rule), and a date given to a date-time field becomes that date's
    /// UTC midnight. Any other kind that does not fit the field is an error.
    pub fn apply(&self, kind: ValueKind, value: Value) -> Result<Normalized, KindMismatch> {
        let mut truncated_from = None;
        let value = match (kind, value) {
            (_, value @ (Value::Absent | Value::Null)) => value,
            (ValueKind::Text, Value::Text(text)) => {
                let (text, cut) = self.text(&text);
                truncated_from = cut;
                let empty = text.is_empty();
                self.empty_to_null(Value::Text(text.into()), empty)
            }
            (ValueKind::Choice, Value::Choice(code)) => {
                let code = self.code(&code);
                let empty = code.is_empty();
                self.empty_to_null(Value::Choice(code.into()), empty)
            }
            (ValueKind::MultiChoice, Value::MultiChoice(set)) => {
                let set: ChoiceSet = set
                    .iter()
                    .map(|code| self.code(code))
                    .filter(|code| !code.is_empty())
                    .collect();
                let empty = set.is_empty();
                self.empty_to_null(Value::MultiChoice(set), empty)
            }
            (ValueKind::Decimal, Value::Decimal(number)) => {
                Value::Decimal(match self.decimal_scale {
                    Some(scale) => round_to_scale(number, scale),
                    None => number,
                })
            }
            (ValueKind::Date, Value::Date(date)) => Value::Date(date),
            (ValueKind::Date, Value::DateTime(instant)) => {
                Value::Date(self.date_rule.date_of(instant))
            }
            (ValueKind::DateTime, Value::DateTime(instant)) => Value::DateTime(instant),
            (ValueKind::DateTime, Value::Date(date)) => match utc_midnight(date) {
                Some(instant) => Value::DateTime(instant),
                None => {
                    return Err(KindMismatch {
                        expected: kind,
                        found: Value::Date(date),
                    });
                }
            },
            (ValueKind::Bool, Value::Bool(flag)) => Value::Bool(flag),
            (ValueKind::List, Value::List(items)) => {
                let mut normalized = Vec::with_capacity(items.len());
                for item in items.iter().cloned() {
                    let item_kind = item.kind();
                    let item = match item_kind {
                        Some(item_kind) if item_kind != ValueKind::List => {
                            self.apply(item_kind, item)?.value
                        }
                        _ => item,
                    };
                    normalized.push(item);
                }
                let empty = normalized.is_empty();
                self.empty_to_null(Value::List(normalized.into()), empty)
            }
            (expected, found) => return Err(KindMismatch { expected, found }),
        };
        Ok(Normalized {
            value,
            truncated_from,
        })
    }

    fn empty_to_null(&self, value: Value, empty: bool) -> Value {
        if empty && self.empty_is_null {
            Value::Null
        } else {
            value
        }
    }

    fn text(&self, text: &str) -> (String, Option<usize>) {
        let text = if self.trim { text.trim() } else { text };
        let (kept, cut) = match self.max_chars {
            Some(max) => truncate_chars(text, max),
            None => (text, false),
        };
        let kept = if self.trim { kept.trim_end() } else { kept };
        let kept = if self.upper_case {
            kept.to_ascii_uppercase()
        } else {
            kept.to_owned()
        };
        (kept, cut.then(|| text.chars().count()))
    }

    fn code(&self, code: &str) -> String {
        let code = if self.trim { code.trim() } else { code };
        if self.upper_case {
            code.to_ascii_uppercase()
        } else {
            code.to_owned()
        }
    }
}

/// The first `max_chars` characters of `text`, and whether anything was cut.
///
/// ```
/// assert_eq!(cosell::mapping::truncate_chars("Zürich", 2), ("Zü", true));
/// assert_eq!(cosell::mapping::truncate_chars("Oslo", 10), ("Oslo", false));
/// ```
pub fn truncate_chars(text: &str, max_chars: usize) -> (&str, bool) {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => (&text[..end], true),
        None => (text, false),
    }
}

/// `number` rounded to `scale` decimal places (midpoint away from zero) and written with exactly
/// that many places, so `100` and `100.00` and `99.999` (at scale 2) all become `100.00`.
///
/// ```
/// use rust_decimal::Decimal;
/// let rounded = cosell::mapping::round_to_scale(Decimal::new(99_999, 3), 2);
/// assert_eq!(rounded.to_string(), "100.00");
/// ```
pub fn round_to_scale(number: Decimal, scale: u32) -> Decimal {
    let mut rounded = number.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(scale);
    rounded
}

/// The date whose UTC midnight is nearest to `instant`.
///
/// Partner Center stores the close date a seller picked as their local midnight in UTC
/// (`2022-03-24T18:30:00Z` for 25 March in UTC+05:30). Rounding to the nearest UTC midnight
/// recovers the picked date for every offset from UTC−11:59 to UTC+12:00; taking the UTC date
/// would shift every seller east of Greenwich by a day.
///
/// ```
/// use cosell::mapping::nearest_utc_midnight;
/// let date = |s: &str| nearest_utc_midnight(s.parse().unwrap()).to_string();
/// assert_eq!(date("2022-03-24T18:30:00Z"), "2022-03-25"); // UTC+05:30
/// assert_eq!(date("2022-06-29T23:00:00Z"), "2022-06-30"); // UTC+01:00
/// assert_eq!(date("2022-06-30T05:00:00Z"), "2022-06-30"); // UTC-05:00
/// ```
pub fn nearest_utc_midnight(instant: Timestamp) -> Date {
    let shifted = instant
        .checked_add(SignedDuration::from_hours(12))
        .unwrap_or(instant);
    shifted.to_zoned_datetime(TimeZone::UTC).date()
}

/// The instant of `date`'s UTC midnight (`YYYY-MM-DDT00:00:00Z`), the form Partner Center takes
/// a CRM's date-only close date in; `None` only for dates at the very edge of the representable
/// range.
///
/// ```
/// use jiff::civil::date;
/// let instant = cosell::mapping::utc_midnight(date(2022, 3, 25)).unwrap();
/// assert_eq!(instant.to_string(), "2022-03-25T00:00:00Z");
/// ```
pub fn utc_midnight(date: Date) -> Option<Timestamp> {
    date.to_zoned_datetime(TimeZone::UTC)
        .ok()
        .map(|zoned| zoned.timestamp())
}
