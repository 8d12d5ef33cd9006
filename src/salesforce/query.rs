//! SOQL `query` and `queryAll`, paged over `nextRecordsUrl`.

use http::{HeaderMap, HeaderValue};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;

use super::client::Salesforce;
use super::soql::Soql;
use crate::error::Result;
use crate::http::Response;
use crate::paging::{Pager, RawPage};
use serde_json::value::RawValue;

/// How a query is run.
///
/// ```
/// let options = cosell::salesforce::QueryOptions::new().page_size(500).include_deleted(true);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use]
pub struct QueryOptions {
    page_size: Option<u16>,
    include_deleted: bool,
}

impl QueryOptions {
    /// The defaults: Salesforce's batch size (up to 2,000), live records only.
    pub fn new() -> Self {
        QueryOptions::default()
    }

    /// Records per page, sent as `Sforce-Query-Options: batchSize=N` with every page. Salesforce
    /// takes 200 to 2,000 (values outside are brought into that range) and treats it as a hint.
    pub fn page_size(mut self, size: u16) -> Self {
        self.page_size = Some(size.clamp(200, 2000));
        self
    }

    /// Also returns deleted (recycle bin) and archived records, through `queryAll`.
    pub fn include_deleted(mut self, include: bool) -> Self {
        self.include_deleted = include;
        self
    }
}

#[derive(Deserialize)]
struct QueryResult {
    #[serde(rename = "totalSize", default)]
    total_size: Option<u64>,
    #[serde(default)]
    done: Option<bool>,
    #[serde(rename = "nextRecordsUrl", default)]
    next_records_url: Option<String>,
    records: Vec<Box<RawValue>>,
}

/// Splits one page of a query answer: `records`, `totalSize`, and `nextRecordsUrl` until
/// `done`.
pub fn query_page(response: &Response) -> Result<RawPage> {
    let result: QueryResult = response.json()?;
    let next_link = match result.done {
        Some(true) => None,
        _ => result.next_records_url.filter(|link| !link.is_empty()),
    };
    Ok(RawPage {
        items: result.records,
        items_at: "records",
        next_link,
        total: result.total_size,
    })
}

impl Salesforce {
    /// Runs a SOQL query (`GET query?q=…`) and pages through the records (`nextRecordsUrl`).
    ///
    /// ```no_run
    /// # async fn run(sf: cosell::salesforce::Salesforce) -> cosell::Result<()> {
    /// use futures::TryStreamExt;
    /// use cosell::salesforce::Opportunity;
    /// use cosell::salesforce::soql::{Soql, field};
    ///
    /// let soql = Soql::select(Opportunity::STANDARD_FIELDS.iter().copied())
    ///     .from("Opportunity")
    ///     .filter(field("Sync_With_Partner_Center__c").eq(true))
    ///     .build()?;
    /// let opportunities: Vec<Opportunity> = sf.query(&soql).into_stream().try_collect().await?;
    /// # let _ = opportunities; Ok(()) }
    /// ```
    pub fn query<T: DeserializeOwned + Send + 'static>(&self, soql: &Soql) -> Pager<T> {
        self.query_with(soql, QueryOptions::new())
    }

    /// Runs a SOQL query through `queryAll`, which also returns deleted and archived records.
    ///
    /// ```no_run
    /// # async fn run(sf: cosell::salesforce::Salesforce) -> cosell::Result<()> {
    /// use cosell::salesforce::soql::Soql;
    /// let soql = Soql::trusted("SELECT Id, IsDeleted FROM Opportunity");
    /// let rows: Vec<serde_json::Value> = sf.query_all(&soql).collect_all().await?;
    /// # let _ = rows; Ok(()) }
    /// ```
    pub fn query_all<T: DeserializeOwned + Send + 'static>(&self, soql: &Soql) -> Pager<T> {
        self.query_with(soql, QueryOptions::new().include_deleted(true))
    }

    /// Runs a SOQL query with options (batch size, deleted records).
    ///
    /// ```no_run
    /// # async fn run(sf: cosell::salesforce::Salesforce) -> cosell::Result<()> {
    /// use cosell::salesforce::QueryOptions;
    /// use cosell::salesforce::soql::Soql;
    /// let soql = Soql::trusted("SELECT Id FROM Opportunity");
    /// let mut pager = sf.query_with::<serde_json::Value>(&soql, QueryOptions::new().page_size(500));
    /// while let Some(page) = pager.next_page().await? {
    ///     println!("{} records", page.items.len());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn query_with<T: DeserializeOwned + Send + 'static>(
        &self,
        soql: &Soql,
        options: QueryOptions,
    ) -> Pager<T> {
        let (resource, operation) = if options.include_deleted {
            ("queryAll", "salesforce.query_all")
        } else {
            ("query", "salesforce.query")
        };
        let first = self
            .read([resource])
            .literal_path()
            .query("q", soql.as_str())
            .operation(operation);
        let mut headers = HeaderMap::new();
        if let Some(size) = options.page_size
            && let Ok(value) = HeaderValue::try_from(format!("batchSize={size}"))
        {
            headers.insert("sforce-query-options", value);
        }
        let client = self.clone();
        Pager::new(first, query_page)
            .item_id_keys(["Id"])
            .page_headers(headers)
            .on_response(Arc::new(move |response| client.observe(response)))
    }
}
