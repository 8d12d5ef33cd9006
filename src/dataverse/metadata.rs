//! Table metadata (columns, types, lengths, choice values), to validate a mapping at start-up.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::client::Dataverse;
use super::key::check_identifier;
use crate::error::{Error, Result};
use crate::http::AnswerKind;

/// What a table looks like in this organisation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TableMetadata {
    /// The logical name (`opportunity`).
    pub logical_name: String,
    /// The entity set name (`opportunities`).
    pub entity_set_name: Option<String>,
    /// The primary key column.
    pub primary_id_attribute: Option<String>,
    /// The primary name column.
    pub primary_name_attribute: Option<String>,
    /// Whether `If-Match` with an ETag is honoured.
    pub optimistic_concurrency: Option<bool>,
    /// The columns, by logical name.
    pub columns: BTreeMap<String, ColumnMetadata>,
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ColumnMetadata {
    /// The logical name.
    pub logical_name: String,
    /// The type (`String`, `Money`, `Picklist`, `Virtual`, …), as the service names it.
    pub attribute_type: Option<String>,
    /// The finer type name (`MultiSelectPicklistType`, …).
    pub attribute_type_name: Option<String>,
    /// The longest text the column takes.
    pub max_length: Option<u32>,
    /// `None`, `SystemRequired`, `ApplicationRequired`, `Recommended`.
    pub required_level: Option<String>,
    /// Whether the column can be set on create.
    pub valid_for_create: Option<bool>,
    /// Whether the column can be set on update.
    pub valid_for_update: Option<bool>,
    /// The choice values (choice, choices, state and status columns).
    pub options: Vec<ChoiceOption>,
}

/// An alternate key of a table (`EntityKeyMetadata`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct AlternateKey {
    /// The key's logical name, when the service gives it.
    #[serde(rename = "LogicalName", default)]
    pub logical_name: Option<String>,
    /// The columns the key is made of.
    #[serde(rename = "KeyAttributes", default)]
    pub columns: Vec<String>,
    /// The state of the key's index: `Active` when usable; `Pending`, `InProgress` or
    /// `Failed` while (or after failing) building it. `None` when the service does not say.
    #[serde(rename = "EntityKeyIndexStatus", default)]
    pub index_status: Option<String>,
}

impl AlternateKey {
    /// Whether the key can be used: its index is `Active` (or its state is not reported).
    pub fn is_active(&self) -> bool {
        self.index_status
            .as_deref()
            .is_none_or(|status| status.eq_ignore_ascii_case("active"))
    }
}

#[derive(Deserialize)]
struct KeysWire {
    #[serde(rename = "Keys", default)]
    keys: Vec<AlternateKey>,
}

/// One value of a choice column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceOption {
    /// The value stored.
    pub value: i32,
    /// The label in the caller's language.
    pub label: Option<String>,
}

impl TableMetadata {
    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnMetadata> {
        self.columns.get(name)
    }

    /// Checks that every column in `names` exists.
    ///
    /// # Errors
    /// [`Error::Validation`] listing the missing columns.
    pub fn require_columns<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Result<()> {
        let missing: Vec<&str> = names
            .into_iter()
            .filter(|n| !self.columns.contains_key(*n))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Error::validation(format!(
                "table `{}` has no column {}",
                self.logical_name,
                missing.join(", ")
            )))
        }
    }
}

impl ColumnMetadata {
    /// Whether `value` is one of the column's choice values.
    pub fn has_option(&self, value: i32) -> bool {
        self.options.iter().any(|o| o.value == value)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EntityWire {
    #[serde(default)]
    logical_name: Option<String>,
    #[serde(default)]
    entity_set_name: Option<String>,
    #[serde(default)]
    primary_id_attribute: Option<String>,
    #[serde(default)]
    primary_name_attribute: Option<String>,
    #[serde(default)]
    is_optimistic_concurrency_enabled: Option<bool>,
    #[serde(default)]
    attributes: Vec<AttributeWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttributeWire {
    logical_name: String,
    #[serde(default)]
    attribute_type: Option<String>,
    #[serde(default)]
    attribute_type_name: Option<ValueWrapper>,
    #[serde(default)]
    max_length: Option<u32>,
    #[serde(default)]
    required_level: Option<ValueWrapper>,
    #[serde(default)]
    is_valid_for_create: Option<bool>,
    #[serde(default)]
    is_valid_for_update: Option<bool>,
}

/// `{"Value": "…"}`, the shape of managed properties and type names.
#[derive(Deserialize)]
struct ValueWrapper {
    #[serde(rename = "Value", default)]
    value: Option<Value>,
}

impl ValueWrapper {
    fn text(self) -> Option<String> {
        match self.value? {
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        }
    }
}

#[derive(Deserialize)]
struct ChoiceAttributesWire {
    value: Vec<ChoiceAttributeWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChoiceAttributeWire {
    logical_name: String,
    #[serde(default)]
    option_set: Option<OptionSetWire>,
    #[serde(default)]
    global_option_set: Option<OptionSetWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OptionSetWire {
    #[serde(default)]
    options: Vec<OptionWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OptionWire {
    value: i32,
    #[serde(default)]
    label: Option<LabelWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LabelWire {
    #[serde(default)]
    user_localized_label: Option<LocalizedLabelWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LocalizedLabelWire {
    #[serde(default)]
    label: Option<String>,
}

/// The attribute metadata types whose choice values are read.
const CHOICE_TYPES: [(&str, bool); 4] = [
    ("Microsoft.Dynamics.CRM.PicklistAttributeMetadata", true),
    (
        "Microsoft.Dynamics.CRM.MultiSelectPicklistAttributeMetadata",
        true,
    ),
    ("Microsoft.Dynamics.CRM.StateAttributeMetadata", false),
    ("Microsoft.Dynamics.CRM.StatusAttributeMetadata", false),
];

impl Dataverse {
    /// Reads a table's metadata: its columns with types, lengths and requirement levels, and the
    /// values of its choice, choices, state and status columns (five requests).
    ///
    /// ```no_run
    /// use cosell::dataverse::CoSellFieldNames;
    ///
    /// # async fn run(dataverse: cosell::dataverse::Dataverse) -> cosell::Result<()> {
    /// let table = dataverse.table_metadata("opportunity").await?;
    /// table.require_columns(CoSellFieldNames::default().names())?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Validation`] for a name that is not an identifier; 404 for an unknown table.
    pub async fn table_metadata(&self, logical_name: &str) -> Result<TableMetadata> {
        self.table_columns(logical_name).await
    }

    /// Reads a table's alternate keys (`$expand=Keys`), with the state of each key's index.
    ///
    /// ```no_run
    /// # async fn run(dataverse: cosell::dataverse::Dataverse) -> cosell::Result<()> {
    /// let keys = dataverse.alternate_keys("opportunity").await?;
    /// let usable = keys.iter().any(|k| k.columns == ["cosell_referralid"] && k.is_active());
    /// # let _ = usable; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Validation`] for a name that is not an identifier; 404 for an unknown table.
    pub async fn alternate_keys(&self, logical_name: &str) -> Result<Vec<AlternateKey>> {
        check_identifier(logical_name, "table")?;
        let entity = format!("EntityDefinitions(LogicalName='{logical_name}')");
        let wire: KeysWire = self
            .pipeline()
            .get([entity.as_str()])
            .literal_path()
            .answer_kind(AnswerKind::Listing)
            .operation("dataverse.metadata")
            .query("$expand", "Keys")
            .send_json()
            .await?;
        Ok(wire.keys)
    }

    async fn table_columns(&self, logical_name: &str) -> Result<TableMetadata> {
        check_identifier(logical_name, "table")?;
        let entity = format!("EntityDefinitions(LogicalName='{logical_name}')");
        let wire: EntityWire = self
            .pipeline()
            .get([entity.as_str()])
            .literal_path()
            .answer_kind(AnswerKind::Listing)
            .operation("dataverse.metadata")
            .query(
                "$select",
                "LogicalName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute,IsOptimisticConcurrencyEnabled",
            )
            .query("$expand", "Attributes")
            .send_json()
            .await?;
        let mut table = TableMetadata {
            logical_name: wire.logical_name.unwrap_or_else(|| logical_name.to_owned()),
            entity_set_name: wire.entity_set_name,
            primary_id_attribute: wire.primary_id_attribute,
            primary_name_attribute: wire.primary_name_attribute,
            optimistic_concurrency: wire.is_optimistic_concurrency_enabled,
            columns: BTreeMap::new(),
        };
        for a in wire.attributes {
            let column = ColumnMetadata {
                logical_name: a.logical_name.clone(),
                attribute_type: a.attribute_type,
                attribute_type_name: a.attribute_type_name.and_then(ValueWrapper::text),
                max_length: a.max_length,
                required_level: a.required_level.and_then(ValueWrapper::text),
                valid_for_create: a.is_valid_for_create,
                valid_for_update: a.is_valid_for_update,
                options: Vec::new(),
            };
            table.columns.insert(a.logical_name, column);
        }
        let requests = CHOICE_TYPES.map(|(cast, has_global)| {
            let expand = if has_global {
                "OptionSet($select=Options),GlobalOptionSet($select=Options)"
            } else {
                "OptionSet($select=Options)"
            };
            self.pipeline()
                .get([entity.as_str(), "Attributes", cast])
                .literal_path()
                .answer_kind(AnswerKind::Listing)
                .operation("dataverse.metadata")
                .query("$select", "LogicalName")
                .query("$expand", expand)
                .send_json::<ChoiceAttributesWire>()
        });
        for choices in futures::future::try_join_all(requests).await? {
            for attribute in choices.value {
                let options = attribute
                    .option_set
                    .into_iter()
                    .chain(attribute.global_option_set)
                    .flat_map(|set| set.options)
                    .map(|o| ChoiceOption {
                        value: o.value,
                        label: o
                            .label
                            .and_then(|l| l.user_localized_label)
                            .and_then(|l| l.label),
                    });
                let column = table
                    .columns
                    .entry(attribute.logical_name.clone())
                    .or_insert_with(|| ColumnMetadata {
                        logical_name: attribute.logical_name,
                        ..ColumnMetadata::default()
                    });
                for option in options {
                    if !column.has_option(option.value) {
                        column.options.push(option);
                    }
                }
            }
        }
        Ok(table)
    }
}
