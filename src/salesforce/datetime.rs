//! Salesforce date-times: `2015-07-31T17:13:47.000+0000`, an offset without a colon that strict
//! RFC 3339 parsers refuse.
//!
//! Use [`datetime`](self) with `#[serde(with = "cosell::salesforce::datetime")]` on a
//! [`Timestamp`] field, or [`datetime::option`](option) on an `Option<Timestamp>`.
//!
//! ```
//! use jiff::Timestamp;
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Row {
//!     #[serde(rename = "LastModifiedDate", with = "cosell::salesforce::datetime")]
//!     last_modified: Timestamp,
//! }
//!
//! let row: Row = serde_json::from_str(r#"{"LastModifiedDate":"2015-07-31T17:13:47.000+0000"}"#).unwrap();
//! assert_eq!(row.last_modified.to_string(), "2015-07-31T17:13:47Z");
//! assert_eq!(
//!     serde_json::to_string(&row).unwrap(),
//!     r#"{"LastModifiedDate":"2015-07-31T17:13:47.000+0000"}"#
//! );
//! ```

use std::fmt;

use jiff::Timestamp;
use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;

/// Parses a Salesforce date-time: RFC 3339 (`Z`, `+02:00`) or Salesforce's `+0000` form, with
/// or without fractional seconds.
///
/// ```
/// let a = cosell::salesforce::datetime::parse("2013-05-20T20:49:32.000+0000").unwrap();
/// let b = cosell::salesforce::datetime::parse("2013-05-20T22:49:32+02:00").unwrap();
/// assert_eq!(a, b);
/// assert!(cosell::salesforce::datetime::parse("yesterday").is_none());
/// ```
pub fn parse(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Some(ts);
    }
    // `±HHMM` at the end: put the colon in that RFC 3339 wants.
    let bytes = text.as_bytes();
    let n = bytes.len();
    if n >= 5
        && matches!(bytes[n - 5], b'+' | b'-')
        && bytes[n - 4..].iter().all(u8::is_ascii_digit)
    {
        let fixed = format!("{}:{}", &text[..n - 2], &text[n - 2..]);
        return fixed.parse().ok();
    }
    None
}

/// Formats an instant the way Salesforce writes date-times: UTC, milliseconds, `+0000`.
///
/// A year outside `0000`–`9999` (which Salesforce does not store) is written in the expanded
/// form with a sign and six digits, so that [`parse`] reads back every instant it writes.
///
/// ```
/// let ts: jiff::Timestamp = "2025-01-02T03:04:05.678901Z".parse().unwrap();
/// assert_eq!(cosell::salesforce::datetime::format(ts), "2025-01-02T03:04:05.678+0000");
/// let early: jiff::Timestamp = "0000-01-01T00:00:00+01:00".parse().unwrap();
/// assert_eq!(cosell::salesforce::datetime::format(early), "-000001-12-31T23:00:00.000+0000");
/// ```
pub fn format(ts: Timestamp) -> String {
    // Through the civil date-time: a timestamp's own sub-second part is negative before 1970.
    let utc = jiff::tz::TimeZone::UTC.to_datetime(ts);
    let year = utc.year();
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else {
        format!("{year:+07}")
    };
    format!(
        "{year}-{}.{:03}+0000",
        utc.strftime("%m-%dT%H:%M:%S"),
        utc.millisecond()
    )
}

/// Writes a timestamp in Salesforce form.
pub fn serialize<S: Serializer>(value: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*value))
}

/// Reads a timestamp in any form [`parse`] accepts.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
    deserializer.deserialize_str(TimestampVisitor)
}

struct TimestampVisitor;

impl Visitor<'_> for TimestampVisitor {
    type Value = Timestamp;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Salesforce date-time such as 2015-07-31T17:13:47.000+0000")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
        parse(v).ok_or_else(|| E::custom(format!("`{v}` is not a date-time")))
    }
}

/// The same for `Option<Timestamp>`: `null` or absent is `None`.
pub mod option {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `Some` in Salesforce form, `None` as `null`.
    pub fn serialize<S: Serializer>(
        value: &Option<Timestamp>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(ts) => super::serialize(ts, serializer),
            None => serializer.serialize_none(),
        }
    }

    /// Reads a date-time or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Timestamp>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super")] Timestamp);
        Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|w| w.0))
    }
}
