//! Describe an sObject (fields, types, lengths, picklist values) and list the org's
//! opportunity stages, so that a mapping can be checked at start-up.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::client::Salesforce;
use super::handle::SObject;
use super::sobject::sobject_name;
use super::soql::Soql;
use crate::error::Result;
use crate::http::AnswerKind;

/// A field's data type (`type` in a describe answer); open, so new types read as
/// [`Unknown`](Self::Unknown).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
#[non_exhaustive]
pub enum FieldType {
    /// `id`.
    Id,
    /// `string`.
    String,
    /// `textarea`.
    TextArea,
    /// `boolean`.
    Boolean,
    /// `int`.
    Int,
    /// `double`.
    Double,
    /// `currency`.
    Currency,
    /// `percent`.
    Percent,
    /// `date`.
    Date,
    /// `datetime`.
    DateTime,
    /// `picklist`.
    Picklist,
    /// `multipicklist`.
    MultiPicklist,
    /// `reference`.
    Reference,
    /// `url`.
    Url,
    /// `email`.
    Email,
    /// `phone`.
    Phone,
    /// Any other type, as sent.
    Unknown(String),
}

impl From<String> for FieldType {
    fn from(text: String) -> Self {
        match text.as_str() {
            "id" => FieldType::Id,
            "string" => FieldType::String,
            "textarea" => FieldType::TextArea,
            "boolean" => FieldType::Boolean,
            "int" => FieldType::Int,
            "double" => FieldType::Double,
            "currency" => FieldType::Currency,
            "percent" => FieldType::Percent,
            "date" => FieldType::Date,
            "datetime" => FieldType::DateTime,
            "picklist" => FieldType::Picklist,
            "multipicklist" => FieldType::MultiPicklist,
            "reference" => FieldType::Reference,
            "url" => FieldType::Url,
            "email" => FieldType::Email,
            "phone" => FieldType::Phone,
            _ => FieldType::Unknown(text),
        }
    }
}

impl From<FieldType> for String {
    fn from(t: FieldType) -> Self {
        t.to_string()
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FieldType::Id => "id",
            FieldType::String => "string",
            FieldType::TextArea => "textarea",
            FieldType::Boolean => "boolean",
            FieldType::Int => "int",
            FieldType::Double => "double",
            FieldType::Currency => "currency",
            FieldType::Percent => "percent",
            FieldType::Date => "date",
            FieldType::DateTime => "datetime",
            FieldType::Picklist => "picklist",
            FieldType::MultiPicklist => "multipicklist",
            FieldType::Reference => "reference",
            FieldType::Url => "url",
            FieldType::Email => "email",
            FieldType::Phone => "phone",
            FieldType::Unknown(other) => other,
        })
    }
}

/// One picklist value of a field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PicklistValue {
    /// The API name (what the API reads and writes).
    #[serde(default)]
    pub value: String,
    /// The label users see.
    #[serde(default)]
    pub label: Option<String>,
    /// Whether it can be chosen.
    #[serde(default)]
    pub active: Option<bool>,
    /// Whether it is the default.
    #[serde(rename = "defaultValue", default)]
    pub default_value: Option<bool>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One field of a describe answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FieldDescribe {
    /// The API name.
    pub name: String,
    /// The label.
    #[serde(default)]
    pub label: Option<String>,
    /// The data type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Maximum length in characters (text types).
    #[serde(default)]
    pub length: Option<u64>,
    /// Total digits (numbers).
    #[serde(default)]
    pub precision: Option<u32>,
    /// Digits after the point (numbers).
    #[serde(default)]
    pub scale: Option<u32>,
    /// Whether the field may be empty.
    #[serde(default)]
    pub nillable: Option<bool>,
    /// Whether it can be set on create.
    #[serde(default)]
    pub createable: Option<bool>,
    /// Whether it can be updated.
    #[serde(default)]
    pub updateable: Option<bool>,
    /// Whether it is an External ID (usable for upserts).
    #[serde(rename = "externalId", default)]
    pub external_id: Option<bool>,
    /// Whether values must be unique.
    #[serde(default)]
    pub unique: Option<bool>,
    /// Whether it is a custom field.
    #[serde(default)]
    pub custom: Option<bool>,
    /// Whether a restricted picklist refuses values it does not define.
    #[serde(rename = "restrictedPicklist", default)]
    pub restricted_picklist: Option<bool>,
    /// The picklist values (picklists and multi-select picklists).
    #[serde(rename = "picklistValues", default, deserialize_with = "null_as_empty")]
    pub picklist_values: Vec<PicklistValue>,
    /// The sObjects a reference field points to.
    #[serde(rename = "referenceTo", default, deserialize_with = "null_as_empty")]
    pub reference_to: Vec<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl FieldDescribe {
    /// Whether `value` is an active picklist API name of this field.
    pub fn has_picklist_value(&self, value: &str) -> bool {
        self.picklist_values
            .iter()
            .any(|p| p.value == value && p.active != Some(false))
    }
}

/// A describe answer: `GET sobjects/<sobject>/describe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SObjectDescribe {
    /// The API name.
    pub name: String,
    /// The label.
    #[serde(default)]
    pub label: Option<String>,
    /// Whether it is a custom object.
    #[serde(default)]
    pub custom: Option<bool>,
    /// The fields.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub fields: Vec<FieldDescribe>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SObjectDescribe {
    /// The field with this API name (case-insensitive, as Salesforce names are).
    pub fn field(&self, name: &str) -> Option<&FieldDescribe> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The names among `names` that this sObject does not have.
    pub fn missing_fields<'a>(&self, names: &[&'a str]) -> Vec<&'a str> {
        names
            .iter()
            .copied()
            .filter(|n| self.field(n).is_none())
            .collect()
    }
}

/// One row of the `OpportunityStage` object: a stage the org defines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OpportunityStage {
    /// The value to write into `StageName`.
    #[serde(rename = "ApiName", default)]
    pub api_name: Option<String>,
    /// The label.
    #[serde(rename = "MasterLabel", default)]
    pub master_label: Option<String>,
    /// Whether it can be chosen.
    #[serde(rename = "IsActive", default)]
    pub is_active: Option<bool>,
    /// Whether it closes the opportunity.
    #[serde(rename = "IsClosed", default)]
    pub is_closed: Option<bool>,
    /// Whether it wins the opportunity.
    #[serde(rename = "IsWon", default)]
    pub is_won: Option<bool>,
    /// The probability it sets.
    #[serde(rename = "DefaultProbability", default, with = "crate::money::option")]
    pub default_probability: Option<Decimal>,
    /// The forecast category it sets.
    #[serde(rename = "ForecastCategoryName", default)]
    pub forecast_category_name: Option<String>,
    /// Its place in the sales process.
    #[serde(rename = "SortOrder", default)]
    pub sort_order: Option<i64>,
    /// Anything else (`attributes`, `Id`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl OpportunityStage {
    /// The value to write into `StageName`: the API name, or the label where the API version
    /// has no `ApiName`.
    pub fn stage_name(&self) -> Option<&str> {
        self.api_name.as_deref().or(self.master_label.as_deref())
    }
}

fn null_as_empty<'de, D, T>(deserializer: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

impl SObject<'_> {
    /// Describes the sObject type: `GET sobjects/<sobject>/describe`.
    ///
    /// ```no_run
    /// # async fn run(sf: cosell::salesforce::Salesforce) -> cosell::Result<()> {
    /// use cosell::salesforce::CoSellFieldNames;
    /// let describe = sf.opportunities().describe().await?;
    /// let co_sell = CoSellFieldNames::default();
    /// let missing = describe.missing_fields(&co_sell.names());
    /// assert!(missing.is_empty(), "the org lacks {missing:?}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`](crate::Error::Api) (`NOT_FOUND` for an unknown sObject).
    pub async fn describe(&self) -> Result<SObjectDescribe> {
        let request = self
            .client
            .read(["sobjects", sobject_name(self.name)?, "describe"])
            .literal_path()
            .answer_kind(AnswerKind::Listing)
            .operation("salesforce.describe");
        self.client.send(request).await?.json()
    }
}

impl Salesforce {
    /// The org's opportunity stages, in sales-process order (a SOQL query on
    /// `OpportunityStage`).
    ///
    /// ```no_run
    /// # async fn run(sf: cosell::salesforce::Salesforce) -> cosell::Result<()> {
    /// for stage in sf.opportunity_stages().await? {
    ///     println!("{:?} won={:?}", stage.stage_name(), stage.is_won);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`](crate::Error::Api) from the query.
    pub async fn opportunity_stages(&self) -> Result<Vec<OpportunityStage>> {
        let soql = Soql::trusted(
            "SELECT Id, ApiName, MasterLabel, IsActive, IsClosed, IsWon, DefaultProbability, \
             ForecastCategoryName, SortOrder FROM OpportunityStage ORDER BY SortOrder",
        );
        self.query(&soql).collect_all().await
    }
}
