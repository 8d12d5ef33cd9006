//! Transaction currencies by ISO code, looked up once and cached.

use serde::Deserialize;
use uuid::Uuid;

use super::client::Dataverse;
use super::filter::Filter;
use super::query::Query;
use crate::error::{Error, Result};
use crate::http::lock;

#[derive(Deserialize)]
struct CurrencyRow {
    transactioncurrencyid: Uuid,
}

impl Dataverse {
    /// The `transactioncurrencyid` of the currency with ISO code `iso_code` (`USD`), or `None`
    /// when the organisation has no such currency. Found ids are cached for the client's
    /// lifetime (clones share the cache).
    ///
    /// ```no_run
    /// use cosell::FieldUpdate;
    /// use cosell::dataverse::{EntityReference, OpportunityPatch};
    ///
    /// # async fn run(dataverse: cosell::dataverse::Dataverse) -> cosell::Result<()> {
    /// if let Some(usd) = dataverse.currency_id("USD").await? {
    ///     let patch = OpportunityPatch {
    ///         transaction_currency: FieldUpdate::Set(EntityReference::new("transactioncurrencies", usd)),
    ///         ..Default::default()
    ///     };
    ///     # let _ = patch;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Validation`] when `iso_code` is not three letters; the service's refusal.
    pub async fn currency_id(&self, iso_code: &str) -> Result<Option<Uuid>> {
        if iso_code.len() != 3 || !iso_code.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(Error::validation(format!(
                "`{iso_code}` is not an ISO 4217 currency code"
            )));
        }
        let code = iso_code.to_ascii_uppercase();
        if let Some(id) = lock(&self.currencies).get(&code) {
            return Ok(Some(*id));
        }
        let query = Query::new()
            .select(["transactioncurrencyid", "isocurrencycode"])
            .filter(Filter::eq("isocurrencycode", code.as_str()))
            .top(1);
        let mut pager = self
            .table("transactioncurrencies")
            .query::<CurrencyRow>(&query);
        let found = pager
            .next_page()
            .await?
            .and_then(|page| page.items.into_iter().next())
            .map(|row| row.transactioncurrencyid);
        if let Some(id) = found {
            lock(&self.currencies).insert(code, id);
        }
        Ok(found)
    }
}
