//! Multi-select picklists: a list in Rust, `;`-joined text on the wire.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The values of a multi-select picklist, in the order Salesforce sent them.
///
/// On the wire it is one string of API names joined with `;` (`"Azure;Dynamics 365"`); `null`
/// and `""` both read as no values, and no values are written as `null` (Salesforce's empty
/// multi-select).
///
/// ```
/// use cosell::salesforce::MultiSelect;
///
/// let picked: MultiSelect = serde_json::from_str(r#""Azure;Dynamics 365""#).unwrap();
/// assert_eq!(picked.values(), ["Azure", "Dynamics 365"]);
/// assert_eq!(serde_json::to_string(&picked).unwrap(), r#""Azure;Dynamics 365""#);
/// let none: MultiSelect = serde_json::from_str("null").unwrap();
/// assert!(none.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct MultiSelect(Vec<String>);

impl MultiSelect {
    /// A selection of these values (each should be a picklist API name without `;`).
    pub fn new<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        MultiSelect(values.into_iter().map(Into::into).collect())
    }

    /// Reads the wire form: `;`-separated, blanks dropped, each value trimmed.
    pub fn from_wire(text: &str) -> Self {
        MultiSelect(
            text.split(';')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    /// The wire form (`None` when empty).
    pub fn to_wire(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.0.join(";"))
    }

    /// The selected values.
    pub fn values(&self) -> &[String] {
        &self.0
    }

    /// Whether nothing is selected.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `value` is selected.
    pub fn contains(&self, value: &str) -> bool {
        self.0.iter().any(|v| v == value)
    }

    /// The values, owned.
    pub fn into_values(self) -> Vec<String> {
        self.0
    }
}

impl fmt::Display for MultiSelect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(";"))
    }
}

impl<S: Into<String>> FromIterator<S> for MultiSelect {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        MultiSelect::new(iter)
    }
}

impl Serialize for MultiSelect {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.to_wire() {
            Some(text) => serializer.serialize_str(&text),
            None => serializer.serialize_none(),
        }
    }
}

impl<'de> Deserialize<'de> for MultiSelect {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?;
        Ok(text
            .as_deref()
            .map(MultiSelect::from_wire)
            .unwrap_or_default())
    }
}
