//! Three-state fields for PATCH bodies: leave alone, clear, or set.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A field of a PATCH body, which must tell *absent* (leave the stored value alone) from
/// *null* (clear it) from a value.
///
/// Put `#[serde(default, skip_serializing_if = "FieldUpdate::is_unchanged")]` on the field, so an
/// unchanged field is left out of the body.
///
/// ```
/// use cosell::FieldUpdate;
///
/// #[derive(serde::Serialize, Default)]
/// struct OpportunityPatch {
///     #[serde(default, skip_serializing_if = "FieldUpdate::is_unchanged")]
///     name: FieldUpdate<String>,
///     #[serde(default, skip_serializing_if = "FieldUpdate::is_unchanged")]
///     description: FieldUpdate<String>,
///     #[serde(default, skip_serializing_if = "FieldUpdate::is_unchanged")]
///     budget: FieldUpdate<u32>,
/// }
///
/// let patch = OpportunityPatch {
///     name: FieldUpdate::Set("Contoso renewal".into()),
///     description: FieldUpdate::Clear,
///     ..Default::default()
/// };
/// assert_eq!(
///     serde_json::to_string(&patch).unwrap(),
///     r#"{"name":"Contoso renewal","description":null}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum FieldUpdate<T> {
    /// Leave the stored value as it is (the field is left out of the body).
    #[default]
    Unchanged,
    /// Clear the stored value (`null`).
    Clear,
    /// Store this value.
    Set(T),
}

impl<T> FieldUpdate<T> {
    /// Whether the field is left out of the body.
    pub fn is_unchanged(&self) -> bool {
        matches!(self, FieldUpdate::Unchanged)
    }

    /// The value to store, if any.
    pub fn as_set(&self) -> Option<&T> {
        match self {
            FieldUpdate::Set(v) => Some(v),
            _ => None,
        }
    }

    /// `Set(v)` for `Some(v)`, `Clear` for `None`.
    pub fn from_option(value: Option<T>) -> Self {
        value.map_or(FieldUpdate::Clear, FieldUpdate::Set)
    }
}

impl<T> From<T> for FieldUpdate<T> {
    fn from(value: T) -> Self {
        FieldUpdate::Set(value)
    }
}

impl<T: Serialize> Serialize for FieldUpdate<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldUpdate::Set(v) => v.serialize(serializer),
            // `Unchanged` is normally skipped; if not, null is the only honest rendering.
            FieldUpdate::Clear | FieldUpdate::Unchanged => serializer.serialize_none(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for FieldUpdate<T> {
    /// A present field reads as `Set` or `Clear`; an absent one (with `#[serde(default)]`) as
    /// `Unchanged`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(FieldUpdate::from_option(Option::<T>::deserialize(
            deserializer,
        )?))
    }
}
