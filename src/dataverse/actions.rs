//! Actions: `WinOpportunity`, `LoseOpportunity` (the only way to close an opportunity), and any
//! other unbound action.

use http::{Method, StatusCode};
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::client::Dataverse;
use super::key::{EntityReference, check_identifier};
use super::opportunity::{OPPORTUNITY_ENTITY_SET, OpportunityStatus};
use crate::error::{Error, Result};

/// The `opportunityclose` activity that records why an opportunity closed.
///
/// ```
/// use cosell::dataverse::OpportunityClose;
///
/// let close = OpportunityClose::new("Won via Partner Center")
///     .actual_revenue("125000".parse().unwrap())
///     .actual_end("2025-09-30".parse().unwrap());
/// # let _ = close;
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct OpportunityClose {
    /// `subject`.
    pub subject: String,
    /// `description`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `actualrevenue`.
    #[serde(
        rename = "actualrevenue",
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_money"
    )]
    pub actual_revenue: Option<Decimal>,
    /// `actualend`: the close date.
    #[serde(rename = "actualend", skip_serializing_if = "Option::is_none")]
    pub actual_end: Option<Date>,
    /// Any other `opportunityclose` columns.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl OpportunityClose {
    /// A close record with a subject.
    pub fn new(subject: impl Into<String>) -> Self {
        OpportunityClose {
            subject: subject.into(),
            ..OpportunityClose::default()
        }
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the actual revenue.
    pub fn actual_revenue(mut self, revenue: Decimal) -> Self {
        self.actual_revenue = Some(revenue);
        self
    }

    /// Sets the close date.
    pub fn actual_end(mut self, date: Date) -> Self {
        self.actual_end = Some(date);
        self
    }
}

fn optional_money<S: Serializer>(
    value: &Option<Decimal>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    crate::money::option::serialize(value, serializer)
}

impl Dataverse {
    /// Closes an opportunity as won (`WinOpportunity`); `status` is the won status reason
    /// (usually [`OpportunityStatus::Won`]).
    ///
    /// ```no_run
    /// use cosell::dataverse::{OpportunityClose, OpportunityStatus};
    ///
    /// # async fn run(dataverse: cosell::dataverse::Dataverse, id: uuid::Uuid) -> cosell::Result<()> {
    /// dataverse
    ///     .win_opportunity(id, OpportunityStatus::Won, &OpportunityClose::new("Won"))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The service's refusal (already closed, wrong status for the state, …).
    pub async fn win_opportunity(
        &self,
        opportunity: Uuid,
        status: OpportunityStatus,
        close: &OpportunityClose,
    ) -> Result<()> {
        self.close_opportunity("WinOpportunity", opportunity, status, close)
            .await
    }

    /// Closes an opportunity as lost (`LoseOpportunity`); `status` is the lost status reason
    /// ([`OpportunityStatus::Canceled`] or [`OpportunityStatus::OutSold`]).
    ///
    /// ```no_run
    /// use cosell::dataverse::{OpportunityClose, OpportunityStatus};
    ///
    /// # async fn run(dataverse: cosell::dataverse::Dataverse, id: uuid::Uuid) -> cosell::Result<()> {
    /// dataverse
    ///     .lose_opportunity(id, OpportunityStatus::OutSold, &OpportunityClose::new("Lost to a competitor"))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The service's refusal.
    pub async fn lose_opportunity(
        &self,
        opportunity: Uuid,
        status: OpportunityStatus,
        close: &OpportunityClose,
    ) -> Result<()> {
        self.close_opportunity("LoseOpportunity", opportunity, status, close)
            .await
    }

    async fn close_opportunity(
        &self,
        action: &str,
        opportunity: Uuid,
        status: OpportunityStatus,
        close: &OpportunityClose,
    ) -> Result<()> {
        let mut close_body = match serde_json::to_value(close) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(Error::validation(
                    "the OpportunityClose could not be serialized",
                ));
            }
        };
        let (name, value) =
            EntityReference::new(OPPORTUNITY_ENTITY_SET, opportunity).bind("opportunityid")?;
        close_body.insert(name, value);
        let body = json!({ "Status": status.value(), "OpportunityClose": close_body });
        self.call_action::<_, Value>(action, &body).await.map(drop)
    }

    /// Calls an unbound action (`POST <base>/<name>`) with `parameters` as its JSON body;
    /// answers its JSON result, or `None` for `204 No Content`. Writes are marked with the
    /// client's origin defaults.
    ///
    /// ```no_run
    /// # async fn run(dataverse: cosell::dataverse::Dataverse) -> cosell::Result<()> {
    /// let result: Option<serde_json::Value> = dataverse
    ///     .call_action("cosell_RecalculateScore", &serde_json::json!({"Target": "x"}))
    ///     .await?;
    /// # let _ = result; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Validation`] for an action name that is not an identifier; the service's
    /// refusal.
    pub async fn call_action<B, T>(&self, name: &str, parameters: &B) -> Result<Option<T>>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        check_identifier(name, "action")?;
        let response = self
            .write_request(Method::POST, name, self.write_defaults())
            .literal_path()
            .operation("dataverse.action")
            .json(parameters)
            .send()
            .await?;
        if response.status == StatusCode::NO_CONTENT || response.body.is_empty() {
            return Ok(None);
        }
        response.json().map(Some)
    }
}
