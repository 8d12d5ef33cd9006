//! The typed `Opportunity` and the patch that updates one.

use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::cosell_fields::{CoSellFieldNames, CoSellFields};
use super::sobject::SObjectAttributes;
use crate::FieldUpdate;
use crate::error::Result;

/// A Salesforce `Opportunity` as read from the API, with the standard fields typed and every
/// other field (custom `__c` fields, relationship objects, fields this type does not name) kept
/// in [`extra`](Self::extra).
///
/// Serializing writes what Salesforce accepts in a create or upsert body: the writable standard
/// fields that are set, then every entry of `extra` as it is. `Id`, `attributes` and the
/// read-only fields (`IsClosed`, `IsWon`, `LastModifiedDate`, `SystemModstamp`) are read but
/// never written. Remove read-only entries a query put into `extra` (`CreatedDate`, relationship
/// objects) before writing a record back.
///
/// ```
/// use cosell::salesforce::Opportunity;
///
/// let json = r#"{
///   "attributes": {"type": "Opportunity", "url": "/services/data/v62.0/sobjects/Opportunity/006A"},
///   "Id": "006A", "Name": "Fabrikam renewal", "StageName": "Prospecting",
///   "CloseDate": "2025-09-30", "Amount": 125000.5, "IsWon": false,
///   "LastModifiedDate": "2025-07-31T17:13:47.000+0000", "Referral_Id__c": "r-1"
/// }"#;
/// let opp: Opportunity = serde_json::from_str(json).unwrap();
/// assert_eq!(opp.close_date.unwrap().to_string(), "2025-09-30");
/// assert_eq!(opp.amount.unwrap().to_string(), "125000.5");
/// assert_eq!(opp.extra["Referral_Id__c"], "r-1");
/// let body = serde_json::to_value(&opp).unwrap();
/// assert!(body.get("Id").is_none() && body.get("IsWon").is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Opportunity {
    /// The record's type and URL, as Salesforce sends them on reads.
    #[serde(default, skip_serializing)]
    pub attributes: Option<SObjectAttributes>,
    /// `Id` (18 characters).
    #[serde(rename = "Id", default, skip_serializing)]
    pub id: Option<String>,
    /// `Name` (required, up to 120 characters).
    #[serde(rename = "Name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `AccountId`: the account the opportunity belongs to.
    #[serde(rename = "AccountId", default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// `StageName` (required; the org's stages are listed by
    /// [`Salesforce::opportunity_stages`](super::Salesforce::opportunity_stages)).
    #[serde(rename = "StageName", default, skip_serializing_if = "Option::is_none")]
    pub stage_name: Option<String>,
    /// `CloseDate` (required): a date, never shifted by a time zone.
    #[serde(rename = "CloseDate", default, skip_serializing_if = "Option::is_none")]
    pub close_date: Option<Date>,
    /// `Amount` (currency). Ignored by Salesforce on update when the opportunity has products.
    #[serde(
        rename = "Amount",
        default,
        with = "crate::money::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub amount: Option<Decimal>,
    /// `Probability` in percent.
    #[serde(
        rename = "Probability",
        default,
        with = "crate::money::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub probability: Option<Decimal>,
    /// `Description`.
    #[serde(
        rename = "Description",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    /// `CurrencyIsoCode` (multi-currency orgs only).
    #[serde(
        rename = "CurrencyIsoCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub currency_iso_code: Option<String>,
    /// `IsClosed` (read-only, from the stage).
    #[serde(rename = "IsClosed", default, skip_serializing)]
    pub is_closed: Option<bool>,
    /// `IsWon` (read-only, from the stage).
    #[serde(rename = "IsWon", default, skip_serializing)]
    pub is_won: Option<bool>,
    /// `ForecastCategoryName`.
    #[serde(
        rename = "ForecastCategoryName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub forecast_category_name: Option<String>,
    /// `LastModifiedDate` (read-only).
    #[serde(
        rename = "LastModifiedDate",
        default,
        with = "super::datetime::option",
        skip_serializing
    )]
    pub last_modified_date: Option<Timestamp>,
    /// `SystemModstamp` (read-only): changes on every save, also by the system.
    #[serde(
        rename = "SystemModstamp",
        default,
        with = "super::datetime::option",
        skip_serializing
    )]
    pub system_modstamp: Option<Timestamp>,
    /// Every other field, by API name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Opportunity {
    /// The standard fields this type names, for a `SELECT` or a retrieve field list.
    pub const STANDARD_FIELDS: &'static [&'static str] = &[
        "Id",
        "Name",
        "AccountId",
        "StageName",
        "CloseDate",
        "Amount",
        "Probability",
        "Description",
        "CurrencyIsoCode",
        "IsClosed",
        "IsWon",
        "ForecastCategoryName",
        "LastModifiedDate",
        "SystemModstamp",
    ];

    /// A new opportunity with the three required fields.
    ///
    /// ```
    /// let opp = cosell::salesforce::Opportunity::new(
    ///     "Fabrikam renewal", "Prospecting", "2025-09-30".parse().unwrap());
    /// assert_eq!(
    ///     serde_json::to_string(&opp).unwrap(),
    ///     r#"{"Name":"Fabrikam renewal","StageName":"Prospecting","CloseDate":"2025-09-30"}"#
    /// );
    /// ```
    pub fn new(name: impl Into<String>, stage_name: impl Into<String>, close_date: Date) -> Self {
        Opportunity {
            name: Some(name.into()),
            stage_name: Some(stage_name.into()),
            close_date: Some(close_date),
            ..Opportunity::default()
        }
    }

    /// The co-sell custom fields, read through `fields`.
    ///
    /// # Errors
    /// [`Error::Decode`](crate::Error::Decode) naming the field whose value has the wrong type.
    pub fn cosell(&self, fields: &CoSellFieldNames) -> Result<CoSellFields> {
        fields.read(&self.extra)
    }

    /// Writes the co-sell values that are set into [`extra`](Self::extra), under the names of
    /// `fields`.
    ///
    /// # Errors
    /// [`Error::Validation`](crate::Error::Validation) when a value is set for a field the field
    /// set leaves out.
    pub fn set_cosell(&mut self, fields: &CoSellFieldNames, values: &CoSellFields) -> Result<()> {
        fields.write(values, &mut self.extra)
    }
}

/// The body of an `Opportunity` update: each field is left alone, cleared (`null`) or set.
///
/// ```
/// use cosell::FieldUpdate;
/// use cosell::salesforce::OpportunityPatch;
///
/// let patch = OpportunityPatch {
///     stage_name: FieldUpdate::Set("Closed Won".into()),
///     description: FieldUpdate::Clear,
///     ..Default::default()
/// };
/// assert_eq!(
///     serde_json::to_string(&patch).unwrap(),
///     r#"{"StageName":"Closed Won","Description":null}"#
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OpportunityPatch {
    /// `Name`.
    #[serde(rename = "Name", skip_serializing_if = "FieldUpdate::is_unchanged")]
    pub name: FieldUpdate<String>,
    /// `AccountId`.
    #[serde(
        rename = "AccountId",
        skip_serializing_if = "FieldUpdate::is_unchanged"
    )]
    pub account_id: FieldUpdate<String>,
    /// `StageName`.
    #[serde(
        rename = "StageName",
        skip_serializing_if = "FieldUpdate::is_unchanged"
    )]
    pub stage_name: FieldUpdate<String>,
    /// `CloseDate`.
    #[serde(
        rename = "CloseDate",
        skip_serializing_if = "FieldUpdate::is_unchanged"
    )]
    pub close_date: FieldUpdate<Date>,
    /// `Amount`.
    #[serde(
        rename = "Amount",
        serialize_with = "money_update",
        skip_serializing_if = "FieldUpdate::is_unchanged"
    )]
    pub amount: FieldUpdate<Decimal>,
    /// `Probability`.
    #[serde(
        rename = "Probability",
        serialize_with = "money_update",
        skip_serializing_if = "FieldUpdate::is_unchanged"
    )]
    pub probability: FieldUpdate<Decimal>,
    /// `Description`.
    #[serde(
        rename = "Description",
        skip_serializing_if = "FieldUpdate::is_unchanged"
    )]
    pub description: FieldUpdate<String>,
    /// `CurrencyIsoCode`.
    #[serde(
        rename = "CurrencyIsoCode",
        skip_serializing_if = "FieldUpdate::is_unchanged"
    )]
    pub currency_iso_code: FieldUpdate<String>,
    /// `ForecastCategoryName`.
    #[serde(
        rename = "ForecastCategoryName",
        skip_serializing_if = "FieldUpdate::is_unchanged"
    )]
    pub forecast_category_name: FieldUpdate<String>,
    /// Other fields by API name (`null` clears one).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl OpportunityPatch {
    /// An empty patch.
    pub fn new() -> Self {
        OpportunityPatch::default()
    }

    /// Adds the co-sell values that are set, under the names of `fields`.
    ///
    /// # Errors
    /// [`Error::Validation`](crate::Error::Validation) when a value is set for a field the field
    /// set leaves out.
    pub fn cosell(mut self, fields: &CoSellFieldNames, values: &CoSellFields) -> Result<Self> {
        fields.write(values, &mut self.extra)?;
        Ok(self)
    }
}

fn money_update<S: serde::Serializer>(
    value: &FieldUpdate<Decimal>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    crate::money::option::serialize(&value.as_set().copied(), serializer)
}
