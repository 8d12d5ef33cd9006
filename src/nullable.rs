//! Three-state fields of wire models: absent, null, or a value.

use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A field of a wire model that tells *absent* (the key was not there) from *null* (the key was
/// there, with `null`) from a value, so that a record decoded and encoded again keeps its
/// explicit nulls: a field cleared on the server reads as cleared, not as unknown.
///
/// Where [`FieldUpdate`](crate::FieldUpdate) says what a PATCH body does to a field, `Nullable`
/// says what a record holds. Put `#[serde(default, skip_serializing_if = "Nullable::is_absent")]`
/// on the field (or `default` on the whole struct).
///
/// ```
/// use cosell::Nullable;
///
/// #[derive(serde::Serialize, serde::Deserialize, Default)]
/// #[serde(default)]
/// struct Deal {
///     #[serde(skip_serializing_if = "Nullable::is_absent")]
///     notes: Nullable<String>,
///     #[serde(skip_serializing_if = "Nullable::is_absent")]
///     name: Nullable<String>,
/// }
///
/// let deal: Deal = serde_json::from_str(r#"{"notes": null}"#).unwrap();
/// assert!(deal.notes.is_null() && deal.name.is_absent());
/// assert_eq!(serde_json::to_string(&deal).unwrap(), r#"{"notes":null}"#);
///
/// let mut deal = deal;
/// deal.name = "Contoso".into(); // a value; `Nullable::Null` to clear it
/// assert_eq!(deal.name.as_deref(), Some("Contoso"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Nullable<T> {
    /// The key was not there: nothing is known (and nothing is written).
    #[default]
    Absent,
    /// The key was there with `null`: the field holds no value (and `null` is written).
    Null,
    /// The field's value.
    Value(T),
}

impl<T> Nullable<T> {
    /// Whether the key was not there.
    pub fn is_absent(&self) -> bool {
        matches!(self, Nullable::Absent)
    }

    /// Whether the key was there with `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Nullable::Null)
    }

    /// The value, if there is one.
    pub fn value(&self) -> Option<&T> {
        match self {
            Nullable::Value(value) => Some(value),
            Nullable::Absent | Nullable::Null => None,
        }
    }

    /// The value, mutably, if there is one.
    pub fn value_mut(&mut self) -> Option<&mut T> {
        match self {
            Nullable::Value(value) => Some(value),
            Nullable::Absent | Nullable::Null => None,
        }
    }

    /// The value, if there is one, taken out.
    pub fn into_value(self) -> Option<T> {
        match self {
            Nullable::Value(value) => Some(value),
            Nullable::Absent | Nullable::Null => None,
        }
    }

    /// The value, dereferenced (`Option<&str>` for a `Nullable<String>`).
    pub fn as_deref(&self) -> Option<&T::Target>
    where
        T: Deref,
    {
        self.value().map(Deref::deref)
    }

    /// The value, after storing `make()` when there is none.
    ///
    /// ```
    /// let mut notes = cosell::Nullable::<String>::Null;
    /// notes.get_or_insert_with(String::new).push_str("called the buyer");
    /// assert_eq!(notes.as_deref(), Some("called the buyer"));
    /// ```
    pub fn get_or_insert_with(&mut self, make: impl FnOnce() -> T) -> &mut T {
        if !matches!(self, Nullable::Value(_)) {
            *self = Nullable::Value(make());
        }
        match self {
            Nullable::Value(value) => value,
            // Just stored above.
            Nullable::Absent | Nullable::Null => unreachable!("a value was just stored"),
        }
    }

    /// The value mapped by `f`; absent and null stay as they are.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Nullable<U> {
        match self {
            Nullable::Value(value) => Nullable::Value(f(value)),
            Nullable::Null => Nullable::Null,
            Nullable::Absent => Nullable::Absent,
        }
    }
}

impl<T> From<T> for Nullable<T> {
    fn from(value: T) -> Self {
        Nullable::Value(value)
    }
}

impl From<&str> for Nullable<String> {
    fn from(value: &str) -> Self {
        Nullable::Value(value.to_owned())
    }
}

impl<T: Serialize> Serialize for Nullable<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Nullable::Value(value) => value.serialize(serializer),
            // `Absent` is normally skipped; if not, null is the only honest rendering.
            Nullable::Null | Nullable::Absent => serializer.serialize_none(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Nullable<T> {
    /// A present key reads as `Value` or `Null`; an absent one (with `#[serde(default)]`) as
    /// `Absent`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            Some(value) => Nullable::Value(value),
            None => Nullable::Null,
        })
    }
}
