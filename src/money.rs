//! Money as [`Decimal`], written as a JSON number and read without losing digits.
//!
//! Use these with `#[serde(with = "cosell::money")]` (or `cosell::money::option` for optional
//! values) on `Decimal` fields.
//!
//! **Precision.** Writing is always exact for JSON: the number token is the decimal's own digits.
//! Reading depends on the crate feature `arbitrary-precision`:
//! - with it, a JSON number is read from its literal digits: every value a `Decimal` holds
//!   (28 significant digits) survives;
//! - without it, serde_json hands numbers over as `f64`, so a number with more than 15
//!   significant digits may come back rounded (`99999999999999.9999` → `100000000000000`).
//!   Numbers sent as JSON *strings* are always read exactly.
//!
//! ```
//! use rust_decimal::Decimal;
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Deal {
//!     #[serde(with = "cosell::money")]
//!     value: Decimal,
//! }
//!
//! let deal: Deal = serde_json::from_str(r#"{"value": 1234567.89}"#).unwrap();
//! assert_eq!(deal.value.to_string(), "1234567.89");
//! assert_eq!(serde_json::to_string(&deal).unwrap(), r#"{"value":1234567.89}"#);
//! let deal: Deal = serde_json::from_str(r#"{"value": "250000.5"}"#).unwrap();
//! assert_eq!(deal.value.to_string(), "250000.5");
//! ```

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;

/// Writes a decimal as a JSON number token with exactly its digits.
pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    number_token(value, serializer)
}

/// Reads a decimal from a JSON number or a numeric string.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    deserializer.deserialize_any(DecimalVisitor)
}

#[cfg(feature = "arbitrary-precision")]
fn number_token<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    use serde::Serialize;
    let number = serde_json::Number::from_str(&value.normalize().to_string())
        .map_err(serde::ser::Error::custom)?;
    number.serialize(serializer)
}

#[cfg(not(feature = "arbitrary-precision"))]
fn number_token<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    use serde::Serialize;
    // A raw token keeps every digit when the serializer is serde_json's.
    let raw = serde_json::value::RawValue::from_string(value.normalize().to_string())
        .map_err(serde::ser::Error::custom)?;
    raw.serialize(serializer)
}

struct DecimalVisitor;

impl<'de> Visitor<'de> for DecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a decimal number or a string holding one")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
        if !v.is_finite() {
            return Err(E::custom("not a finite number"));
        }
        // The shortest text that reads back as the same f64: exact for up to 15 digits.
        parse(&v.to_string())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        parse(v.trim())
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Decimal, A::Error> {
        // serde_json's `arbitrary_precision` hands a number over as a one-entry map.
        let Some((_, digits)) = map.next_entry::<String, String>()? else {
            return Err(de::Error::custom("empty number"));
        };
        parse(&digits)
    }
}

fn parse<E: de::Error>(text: &str) -> Result<Decimal, E> {
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .map_err(|_| E::custom(format!("`{text}` is not a decimal number in range")))
}

/// The same for `Option<Decimal>`: `null` or absent is `None`.
pub mod option {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `Some` as a JSON number, `None` as `null`.
    pub fn serialize<S: Serializer>(
        value: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => super::serialize(v, serializer),
            None => serializer.serialize_none(),
        }
    }

    /// Reads a number, a numeric string, or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Decimal>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super")] Decimal);
        Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|w| w.0))
    }
}
