//! The convergence hash: a stable fingerprint of a canonical record.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::mapping::{FieldId, Record, Schema, Side, Value};

/// A SHA-256 fingerprint of a canonical record under a schema, so a caller can tell cheaply that
/// an incoming change only echoes what the sync last wrote: store the hash of the record as it is
/// after a write ([`SideChanges::apply_to`](crate::diff::SideChanges::apply_to)) and compare it
/// with the hash of the next incoming record.
///
/// The value depends only on the schema's version and field names and on the record's values,
/// through a fixed byte encoding, so it is the same on every process, platform and crate version
/// (a change to the encoding would change the domain tag below). The record's modification time
/// is not included. Normalize the record first ([`Schema::normalize`]) so that values the targets
/// store alike hash alike.
///
/// Encoding (all integers big-endian, strings as a `u32` byte length then UTF-8):
/// the tag `cosell.convergence.v1`; the schema version; the field count (`u32`); then per field
/// its name and its value as a tag byte and a body: `0` absent, `1` null, `2` text (string),
/// `3` decimal (the mantissa without trailing zeros as `i128`, then the scale as `u32`), `4`
/// date (year `i16`, month `i8`, day `i8`), `5` date-time (Unix seconds `i64`, nanoseconds
/// `i32`), `6` bool (`0`/`1`), `7` choice (string), `8` multi-choice (count `u32`, then each code
/// in sorted order), `9` list (count `u32`, then each value as above).
///
/// ```
/// use cosell::diff::ConvergenceHash;
/// use cosell::mapping::{fields, Schema, Value};
///
/// let schema = Schema::cosell();
/// let record = schema.record().with(fields::DEAL_NAME, Value::text("Contoso"));
/// let hash = ConvergenceHash::of(&schema, &record);
/// assert_eq!(hash, ConvergenceHash::of(&schema, &record.clone()));
/// assert_eq!(hash.to_string().len(), 64);
/// assert_eq!(hash.to_string().parse::<ConvergenceHash>().unwrap(), hash);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConvergenceHash([u8; 32]);

/// Names the encoding; part of every hash.
const DOMAIN_TAG: &[u8] = b"cosell.convergence.v1";

impl ConvergenceHash {
    /// The hash of `record` under `schema`. Allocates nothing.
    pub fn of(schema: &Schema, record: &Record) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(DOMAIN_TAG);
        put_str(&mut hasher, schema.version());
        hasher.update((schema.len() as u32).to_be_bytes());
        for (field, spec) in schema.fields() {
            put_str(&mut hasher, spec.name());
            put_value(&mut hasher, record.get(field));
        }
        ConvergenceHash(hasher.finalize().into())
    }

    /// The 32 bytes of the hash.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A hash from its 32 bytes (as stored).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        ConvergenceHash(bytes)
    }
}

/// Names the encoding of a held value's fingerprint.
const HELD_TAG: &[u8] = b"cosell.held.v1";

/// The fingerprint of a value held back from `side` in `field`, encoded as in
/// [`ConvergenceHash`] under its own tag (the field as its `u16` position).
pub(super) fn held_fingerprint(field: FieldId, side: Side, value: &Value) -> ConvergenceHash {
    let mut hasher = Sha256::new();
    hasher.update(HELD_TAG);
    hasher.update((field.index() as u16).to_be_bytes());
    hasher.update([match side {
        Side::PartnerCenter => 0,
        Side::Crm => 1,
    }]);
    put_value(&mut hasher, value);
    ConvergenceHash(hasher.finalize().into())
}

fn put_str(hasher: &mut Sha256, text: &str) {
    hasher.update((text.len() as u32).to_be_bytes());
    hasher.update(text.as_bytes());
}

fn put_value(hasher: &mut Sha256, value: &Value) {
    match value {
        Value::Absent => hasher.update([0]),
        Value::Null => hasher.update([1]),
        Value::Text(text) => {
            hasher.update([2]);
            put_str(hasher, text);
        }
        Value::Decimal(number) => {
            // Without trailing zeros, so numerically equal decimals (1.0, 1.00) hash alike.
            let number = number.normalize();
            hasher.update([3]);
            hasher.update(number.mantissa().to_be_bytes());
            hasher.update(number.scale().to_be_bytes());
        }
        Value::Date(date) => {
            hasher.update([4]);
            hasher.update(date.year().to_be_bytes());
            hasher.update(date.month().to_be_bytes());
            hasher.update(date.day().to_be_bytes());
        }
        Value::DateTime(instant) => {
            hasher.update([5]);
            hasher.update(instant.as_second().to_be_bytes());
            hasher.update(instant.subsec_nanosecond().to_be_bytes());
        }
        Value::Bool(flag) => hasher.update([6, u8::from(*flag)]),
        Value::Choice(code) => {
            hasher.update([7]);
            put_str(hasher, code);
        }
        Value::MultiChoice(set) => {
            hasher.update([8]);
            hasher.update((set.len() as u32).to_be_bytes());
            for code in set.iter() {
                put_str(hasher, code);
            }
        }
        Value::List(items) => {
            hasher.update([9]);
            hasher.update((items.len() as u32).to_be_bytes());
            for item in items.iter() {
                put_value(hasher, item);
            }
        }
    }
}

impl fmt::Display for ConvergenceHash {
    /// Lower-case hexadecimal, 64 characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ConvergenceHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConvergenceHash({self})")
    }
}

/// A string that is not 64 hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a convergence hash is 64 hexadecimal digits")]
pub struct ParseHashError;

impl FromStr for ConvergenceHash {
    type Err = ParseHashError;

    fn from_str(text: &str) -> Result<Self, ParseHashError> {
        let digits = text.as_bytes();
        if digits.len() != 64 {
            return Err(ParseHashError);
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let high = hex_digit(pair[0]).ok_or(ParseHashError)?;
            let low = hex_digit(pair[1]).ok_or(ParseHashError)?;
            *byte = high << 4 | low;
        }
        Ok(ConvergenceHash(bytes))
    }
}

fn hex_digit(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).map(|value| value as u8)
}

impl Serialize for ConvergenceHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ConvergenceHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
