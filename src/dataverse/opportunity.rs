//! The typed `opportunity` row and its PATCH body.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::cosell::{CoSellFieldNames, CoSellFields};
use super::key::EntityReference;
use super::query::FORMATTED_VALUE;
use crate::FieldUpdate;
use crate::error::Result;

/// The entity set of the `opportunity` table.
pub(crate) const OPPORTUNITY_ENTITY_SET: &str = "opportunities";

macro_rules! int_choice {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $value:literal),* $(,)? }) => {
        $(#[$doc])*
        ///
        /// Choice values are customizable per organisation, so any other value is kept as
        /// `Other`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// A value this crate does not name.
            Other(i32),
        }

        impl $name {
            /// The value on the wire.
            pub fn value(self) -> i32 {
                match self {
                    $($name::$variant => $value,)*
                    $name::Other(v) => v,
                }
            }
        }

        impl From<i32> for $name {
            fn from(v: i32) -> Self {
                match v {
                    $($value => $name::$variant,)*
                    other => $name::Other(other),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
                serializer.serialize_i32(self.value())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
                i32::deserialize(deserializer).map($name::from)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant => f.write_str(stringify!($variant)),)*
                    $name::Other(v) => write!(f, "{v}"),
                }
            }
        }
    };
}

int_choice! {
    /// `statecode` of an opportunity.
    OpportunityState {
        /// 0: open.
        Open = 0,
        /// 1: won.
        Won = 1,
        /// 2: lost.
        Lost = 2,
    }
}

int_choice! {
    /// `statuscode` of an opportunity (the reason within its state).
    OpportunityStatus {
        /// 1: in progress (open).
        InProgress = 1,
        /// 2: on hold (open).
        OnHold = 2,
        /// 3: won.
        Won = 3,
        /// 4: canceled (lost).
        Canceled = 4,
        /// 5: out-sold (lost).
        OutSold = 5,
    }
}

/// A row of the `opportunity` table, as read.
///
/// The standard columns are typed; every other property (the co-sell custom columns, formatted
/// value annotations, base-currency amounts, …) is kept in [`extra`](Self::extra), so writing the
/// row back loses nothing. Lookups read as their `_<column>_value` GUIDs.
///
/// This is the shape rows are *read* in; to write, send an [`OpportunityPatch`] with only the
/// changed columns (lookups are written through `@odata.bind`, never as `_<column>_value`).
///
/// ```
/// use cosell::dataverse::{Opportunity, OpportunityState};
///
/// let row: Opportunity = serde_json::from_str(r#"{
///     "@odata.etag": "W/\"90210001\"",
///     "opportunityid": "c0ffee00-3333-4a5e-8f00-0123456789ab",
///     "name": "Fabrikam renewal",
///     "estimatedvalue": 125000.0000,
///     "estimatedclosedate": "2025-09-30",
///     "statecode": 0,
///     "cosell_referralid": "a1b2c3"
/// }"#).unwrap();
/// assert_eq!(row.estimated_value, Some("125000".parse().unwrap()));
/// assert_eq!(row.state, Some(OpportunityState::Open));
/// assert_eq!(row.extra["cosell_referralid"], "a1b2c3");
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Opportunity {
    /// The row version (`@odata.etag`), for [`if_match`](super::RowWrite::if_match).
    #[serde(
        rename = "@odata.etag",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub etag: Option<String>,
    /// `opportunityid`: the primary key.
    #[serde(
        rename = "opportunityid",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<Uuid>,
    /// `name` ("Topic").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `description`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `estimatedvalue` ("Est. Revenue"), in the row's transaction currency.
    #[serde(
        rename = "estimatedvalue",
        default,
        with = "crate::money::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub estimated_value: Option<Decimal>,
    /// `estimatedclosedate`: date only, never shifted by a time zone.
    #[serde(
        rename = "estimatedclosedate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub estimated_close_date: Option<Date>,
    /// `actualvalue`, set when the opportunity closes.
    #[serde(
        rename = "actualvalue",
        default,
        with = "crate::money::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub actual_value: Option<Decimal>,
    /// `actualclosedate`: date only.
    #[serde(
        rename = "actualclosedate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub actual_close_date: Option<Date>,
    /// `closeprobability`, 0 to 100.
    #[serde(
        rename = "closeprobability",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub close_probability: Option<i32>,
    /// `budgetamount`.
    #[serde(
        rename = "budgetamount",
        default,
        with = "crate::money::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub budget_amount: Option<Decimal>,
    /// `isrevenuesystemcalculated`: whether the estimated value is computed from products.
    #[serde(
        rename = "isrevenuesystemcalculated",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub is_revenue_system_calculated: Option<bool>,
    /// `statecode`: open, won or lost (closing goes through the Win/Lose actions).
    #[serde(rename = "statecode", default, skip_serializing_if = "Option::is_none")]
    pub state: Option<OpportunityState>,
    /// `statuscode`.
    #[serde(
        rename = "statuscode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<OpportunityStatus>,
    /// `salesstage` (choice: 0 Qualify, 1 Develop, 2 Propose, 3 Close in a stock organisation).
    #[serde(
        rename = "salesstage",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sales_stage: Option<i32>,
    /// `salesstagecode` (choice).
    #[serde(
        rename = "salesstagecode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sales_stage_code: Option<i32>,
    /// `stepname` ("Pipeline Phase").
    #[serde(rename = "stepname", default, skip_serializing_if = "Option::is_none")]
    pub step_name: Option<String>,
    /// `opportunityratingcode` (choice: 1 Hot, 2 Warm, 3 Cold).
    #[serde(
        rename = "opportunityratingcode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rating: Option<i32>,
    /// `msdyn_forecastcategory` (choice, Forecasting solution).
    #[serde(
        rename = "msdyn_forecastcategory",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub forecast_category: Option<i32>,
    /// `_customerid_value`: the customer (an account or a contact).
    #[serde(
        rename = "_customerid_value",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub customer_id: Option<Uuid>,
    /// `_parentaccountid_value`.
    #[serde(
        rename = "_parentaccountid_value",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub parent_account_id: Option<Uuid>,
    /// `_parentcontactid_value`.
    #[serde(
        rename = "_parentcontactid_value",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub parent_contact_id: Option<Uuid>,
    /// `_transactioncurrencyid_value`: the currency of every money column of the row.
    #[serde(
        rename = "_transactioncurrencyid_value",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub transaction_currency_id: Option<Uuid>,
    /// `_ownerid_value` (a user or a team).
    #[serde(
        rename = "_ownerid_value",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub owner_id: Option<Uuid>,
    /// `createdon`.
    #[serde(rename = "createdon", default, skip_serializing_if = "Option::is_none")]
    pub created_on: Option<Timestamp>,
    /// `modifiedon`.
    #[serde(
        rename = "modifiedon",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub modified_on: Option<Timestamp>,
    /// `versionnumber`.
    #[serde(
        rename = "versionnumber",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub version_number: Option<i64>,
    /// Every other property, as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Opportunity {
    /// The entity set name, `opportunities`.
    pub const ENTITY_SET: &'static str = OPPORTUNITY_ENTITY_SET;

    /// The table's logical name, `opportunity`.
    pub const LOGICAL_NAME: &'static str = "opportunity";

    /// The standard columns this type reads, for `$select`.
    pub const STANDARD_COLUMNS: &'static [&'static str] = &[
        "opportunityid",
        "name",
        "description",
        "estimatedvalue",
        "estimatedclosedate",
        "actualvalue",
        "actualclosedate",
        "closeprobability",
        "budgetamount",
        "isrevenuesystemcalculated",
        "statecode",
        "statuscode",
        "salesstage",
        "salesstagecode",
        "stepname",
        "opportunityratingcode",
        "_customerid_value",
        "_parentaccountid_value",
        "_parentcontactid_value",
        "_transactioncurrencyid_value",
        "_ownerid_value",
        "createdon",
        "modifiedon",
        "versionnumber",
    ];

    /// The formatted value of `column` (choice label, lookup name, currency text), when the
    /// row was read with formatted values requested.
    ///
    /// ```
    /// let row: cosell::dataverse::Opportunity = serde_json::from_str(
    ///     r#"{"statecode": 0, "statecode@OData.Community.Display.V1.FormattedValue": "Open"}"#,
    /// ).unwrap();
    /// assert_eq!(row.formatted("statecode"), Some("Open"));
    /// ```
    pub fn formatted(&self, column: &str) -> Option<&str> {
        self.extra
            .get(&format!("{column}@{FORMATTED_VALUE}"))
            .and_then(Value::as_str)
    }

    /// The table a lookup points at (`account` or `contact` for `customerid`), when the row was
    /// read with the `Microsoft.Dynamics.CRM.lookuplogicalname` annotation (or `*`).
    ///
    /// ```
    /// let row: cosell::dataverse::Opportunity = serde_json::from_str(
    ///     r#"{"_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "contact"}"#,
    /// ).unwrap();
    /// assert_eq!(row.lookup_table("customerid"), Some("contact"));
    /// ```
    pub fn lookup_table(&self, lookup: &str) -> Option<&str> {
        self.extra
            .get(&format!(
                "_{lookup}_value@Microsoft.Dynamics.CRM.lookuplogicalname"
            ))
            .and_then(Value::as_str)
    }

    /// The co-sell columns of this row, read through `columns`.
    ///
    /// # Errors
    /// A decode error naming the column when a co-sell column holds the wrong type.
    pub fn cosell(&self, columns: &CoSellFieldNames) -> Result<CoSellFields> {
        columns.read(&self.extra)
    }
}

/// A PATCH (or create) body for an opportunity: only the fields not
/// [`Unchanged`](FieldUpdate::Unchanged) are sent, and [`Clear`](FieldUpdate::Clear) sends
/// `null`. Lookups are set through `<navigation property>@odata.bind`. Add co-sell columns (or
/// any other) with [`CoSellFieldNames::write`] into [`extra`](Self::extra).
///
/// ```
/// use cosell::FieldUpdate;
/// use cosell::dataverse::{EntityReference, OpportunityPatch};
///
/// let account: uuid::Uuid = "5a0c2f8e-1111-4b6e-9a1e-0123456789ab".parse().unwrap();
/// let patch = OpportunityPatch {
///     name: FieldUpdate::Set("Fabrikam renewal".into()),
///     description: FieldUpdate::Clear,
///     estimated_value: FieldUpdate::Set("125000.50".parse().unwrap()),
///     customer_account: FieldUpdate::Set(EntityReference::new("accounts", account)),
///     ..Default::default()
/// };
/// assert_eq!(
///     serde_json::to_string(&patch).unwrap(),
///     r#"{"name":"Fabrikam renewal","description":null,"estimatedvalue":125000.5,"customerid_account@odata.bind":"/accounts(5a0c2f8e-1111-4b6e-9a1e-0123456789ab)"}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct OpportunityPatch {
    /// `name`.
    #[serde(skip_serializing_if = "FieldUpdate::is_unchanged")]
    pub name: FieldUpdate<String>,
    /// `description`.
    #[serde(skip_serializing_if = "FieldUpdate::is_unchanged")]
    pub description: FieldUpdate<String>,
    /// `estimatedvalue`.
    #[serde(
        rename = "estimatedvalue",
        skip_serializing_if = "FieldUpdate::is_unchanged",
        serialize_with = "money_update"
    )]
    pub estimated_value: FieldUpdate<Decimal>,
    /// `estimatedclosedate`.
    #[serde(
        rename = "estimatedclosedate",
        skip_serializing_if = "FieldUpdate::is_unchanged"
    )]
    pub estimated_close_date: FieldUpdate<Date>,
    /// `closeprobability`.
    #[serde(
        rename = "closeprobability",
        skip_serializing_if = "FieldUpdate::is_unchanged"
    )]
    pub close_probability: FieldUpdate<i32>,
    /// `budgetamount`.
    #[serde(
        rename = "budgetamount",
        skip_serializing_if = "FieldUpdate::is_unchanged",
        serialize_with = "money_update"
    )]
    pub budget_amount: FieldUpdate<Decimal>,
    /// `isrevenuesystemcalculated`.
    #[serde(
        rename = "isrevenuesystemcalculated",
        skip_serializing_if = "FieldUpdate::is_unchanged"
    )]
    pub is_revenue_system_calculated: FieldUpdate<bool>,
    /// `salesstage`.
    #[serde(
        rename = "salesstage",
        skip_serializing_if = "FieldUpdate::is_unchanged"
    )]
    pub sales_stage: FieldUpdate<i32>,
    /// `stepname`.
    #[serde(rename = "stepname", skip_serializing_if = "FieldUpdate::is_unchanged")]
    pub step_name: FieldUpdate<String>,
    /// `statuscode` (within the open state; close with the Win/Lose actions).
    #[serde(
        rename = "statuscode",
        skip_serializing_if = "FieldUpdate::is_unchanged"
    )]
    pub status: FieldUpdate<OpportunityStatus>,
    /// `customerid_account@odata.bind`: the customer, an account.
    #[serde(
        rename = "customerid_account@odata.bind",
        skip_serializing_if = "FieldUpdate::is_unchanged"
    )]
    pub customer_account: FieldUpdate<EntityReference>,
    /// `customerid_contact@odata.bind`: the customer, a contact.
    #[serde(
        rename = "customerid_contact@odata.bind",
        skip_serializing_if = "FieldUpdate::is_unchanged"
    )]
    pub customer_contact: FieldUpdate<EntityReference>,
    /// `parentaccountid@odata.bind`.
    #[serde(
        rename = "parentaccountid@odata.bind",
        skip_serializing_if = "FieldUpdate::is_unchanged"
    )]
    pub parent_account: FieldUpdate<EntityReference>,
    /// `parentcontactid@odata.bind`.
    #[serde(
        rename = "parentcontactid@odata.bind",
        skip_serializing_if = "FieldUpdate::is_unchanged"
    )]
    pub parent_contact: FieldUpdate<EntityReference>,
    /// `transactioncurrencyid@odata.bind` (see
    /// [`Dataverse::currency_id`](super::Dataverse::currency_id)).
    #[serde(
        rename = "transactioncurrencyid@odata.bind",
        skip_serializing_if = "FieldUpdate::is_unchanged"
    )]
    pub transaction_currency: FieldUpdate<EntityReference>,
    /// Any other columns, sent as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl OpportunityPatch {
    /// Whether the body would change nothing.
    pub fn is_empty(&self) -> bool {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_object().map(Map::is_empty))
            .unwrap_or(false)
    }
}

impl Serialize for EntityReference {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let path = self.bind_path().map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&path)
    }
}

fn money_update<S: Serializer>(
    value: &FieldUpdate<Decimal>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    match value {
        FieldUpdate::Set(v) => crate::money::serialize(v, serializer),
        FieldUpdate::Clear | FieldUpdate::Unchanged => serializer.serialize_none(),
    }
}
