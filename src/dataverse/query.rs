//! Query options: `$select`, `$filter`, `$orderby`, `$top`, `$expand`, page size and
//! annotations, for collections ([`Query`]) and single rows (`Retrieve`, set through
//! [`RetrieveRow`](super::RetrieveRow)).

use http::{HeaderMap, HeaderValue};

use super::filter::Filter;
use super::key::check_identifier;
use crate::Order;
use crate::error::{Error, Result};
use crate::http::RequestBuilder;

/// The annotation that carries formatted values (choice labels, lookup names, currency text).
pub const FORMATTED_VALUE: &str = "OData.Community.Display.V1.FormattedValue";

/// The largest page Dataverse serves.
pub const MAX_PAGE_SIZE: u32 = 5000;

/// A collection query.
///
/// ```
/// use cosell::Order;
/// use cosell::dataverse::{Filter, Query};
///
/// let query = Query::new()
///     .select(["name", "estimatedvalue"])
///     .filter(Filter::eq("statecode", 0))
///     .order_by("modifiedon", Order::Descending)
///     .page_size(500)
///     .formatted_values();
/// # let _ = query;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Query {
    select: Vec<String>,
    filter: Option<Filter>,
    order_by: Vec<String>,
    top: Option<u32>,
    expand: Vec<String>,
    count: bool,
    page_size: Option<u32>,
    annotations: Option<String>,
}

impl Query {
    /// A query of every column of every row.
    pub fn new() -> Self {
        Query::default()
    }

    /// Adds columns to `$select`.
    pub fn select<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.select
            .extend(columns.into_iter().map(|c| c.as_ref().to_owned()));
        self
    }

    /// Sets `$filter` (replacing an earlier one; combine with [`Filter::and`]).
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Adds a `$orderby` column, sorted ascending or descending.
    pub fn order_by(mut self, column: &str, order: Order) -> Self {
        let direction = match order {
            Order::Ascending => "asc",
            Order::Descending => "desc",
        };
        self.order_by.push(format!("{column} {direction}"));
        self
    }

    /// `$top`: at most this many rows in all. Dataverse ignores it when a page size is set.
    pub fn top(mut self, top: u32) -> Self {
        self.top = Some(top);
        self
    }

    /// Adds an `$expand` item, e.g. `parentaccountid($select=name)`.
    pub fn expand(mut self, expand: impl Into<String>) -> Self {
        self.expand.push(expand.into());
        self
    }

    /// `$count=true`: the total comes back in [`Page::total`](crate::paging::Page::total).
    pub fn count(mut self) -> Self {
        self.count = true;
        self
    }

    /// Rows per page, sent as `Prefer: odata.maxpagesize=N` on every page; clamped to
    /// 1..=[`MAX_PAGE_SIZE`].
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = Some(size.clamp(1, MAX_PAGE_SIZE));
        self
    }

    /// Asks for formatted values (`<column>@OData.Community.Display.V1.FormattedValue`).
    pub fn formatted_values(self) -> Self {
        self.annotations(FORMATTED_VALUE)
    }

    /// Asks for the annotations matching `pattern` (`*` for all).
    pub fn annotations(mut self, pattern: impl Into<String>) -> Self {
        self.annotations = Some(pattern.into());
        self
    }

    /// The `Prefer` header every page carries.
    pub(crate) fn page_headers(&self) -> HeaderMap {
        let mut prefer = Vec::new();
        if let Some(size) = self.page_size {
            prefer.push(format!("odata.maxpagesize={size}"));
        }
        if let Some(pattern) = &self.annotations {
            prefer.push(annotation_preference(pattern));
        }
        let mut headers = HeaderMap::new();
        if let Some(value) = join_preferences(&prefer) {
            headers.insert("prefer", value);
        }
        headers
    }

    /// Adds the query options to the first request.
    pub(crate) fn apply(&self, mut request: RequestBuilder) -> RequestBuilder {
        if let Err(e) = self.check() {
            request.error.get_or_insert(e);
            return request;
        }
        request = select_and_expand(request, &self.select, &self.expand);
        if let Some(filter) = &self.filter {
            match filter.render() {
                Ok(text) => request = request.query("$filter", text),
                Err(e) => {
                    request.error.get_or_insert(e);
                }
            }
        }
        if !self.order_by.is_empty() {
            request = request.query("$orderby", self.order_by.join(","));
        }
        if let Some(top) = self.top {
            request = request.query("$top", top.to_string());
        }
        if self.count {
            request = request.query("$count", "true");
        }
        request
    }

    fn check(&self) -> Result<()> {
        check_columns(&self.select)?;
        for order in &self.order_by {
            let column = order.rsplit_once(' ').map_or(order.as_str(), |(c, _)| c);
            check_path(column)?;
        }
        Ok(())
    }
}

/// Options of a single-row retrieve: `$select`, `$expand`, annotations (what
/// [`RetrieveRow`](super::RetrieveRow) sets).
#[derive(Debug, Clone, Default)]
pub(crate) struct Retrieve {
    select: Vec<String>,
    expand: Vec<String>,
    annotations: Option<String>,
}

impl Retrieve {
    /// Every column, no annotations.
    pub(crate) fn new() -> Self {
        Retrieve::default()
    }

    /// Adds columns to `$select`.
    pub(crate) fn select<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.select
            .extend(columns.into_iter().map(|c| c.as_ref().to_owned()));
        self
    }

    /// Adds an `$expand` item.
    pub(crate) fn expand(mut self, expand: impl Into<String>) -> Self {
        self.expand.push(expand.into());
        self
    }

    /// Asks for formatted values.
    pub(crate) fn formatted_values(self) -> Self {
        self.annotations(FORMATTED_VALUE)
    }

    /// Asks for the annotations matching `pattern` (`*` for all).
    pub(crate) fn annotations(mut self, pattern: impl Into<String>) -> Self {
        self.annotations = Some(pattern.into());
        self
    }

    pub(crate) fn apply(&self, mut request: RequestBuilder) -> RequestBuilder {
        if let Err(e) = check_columns(&self.select) {
            request.error.get_or_insert(e);
            return request;
        }
        request = select_and_expand(request, &self.select, &self.expand);
        if let Some(pattern) = &self.annotations {
            request = request.header("prefer", annotation_preference(pattern));
        }
        request
    }
}

fn select_and_expand(
    mut request: RequestBuilder,
    select: &[String],
    expand: &[String],
) -> RequestBuilder {
    if !select.is_empty() {
        request = request.query("$select", select.join(","));
    }
    if !expand.is_empty() {
        request = request.query("$expand", expand.join(","));
    }
    request
}

pub(crate) fn check_columns(columns: &[String]) -> Result<()> {
    columns
        .iter()
        .try_for_each(|c| check_identifier(c, "column"))
}

fn check_path(path: &str) -> Result<()> {
    path.split('/')
        .try_for_each(|part| check_identifier(part, "column"))
        .map_err(|_| Error::validation(format!("`{path}` is not a column name or path")))
}

/// `odata.include-annotations="<pattern>"`.
pub(crate) fn annotation_preference(pattern: &str) -> String {
    // A quote inside the pattern would end the quoted string early.
    format!("odata.include-annotations=\"{}\"", pattern.replace('"', ""))
}

/// Several preferences in one `Prefer` header, comma-separated (RFC 7240).
pub(crate) fn join_preferences(preferences: &[String]) -> Option<HeaderValue> {
    if preferences.is_empty() {
        return None;
    }
    HeaderValue::try_from(preferences.join(",")).ok()
}
