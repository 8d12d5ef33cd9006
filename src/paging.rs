//! One pager for every paged listing.
//!
//! A [`Pager`] fetches a listing page by page, following the server's opaque next link
//! (OData `@odata.nextLink`, Salesforce `nextRecordsUrl`; absolute or relative). Use it as a
//! stream of items ([`Pager::into_stream`]), page by page ([`Pager::next_page`]), or stop, save
//! the [`Continuation`] and resume later ([`Pager::resume_from`]). A next link that points to a
//! host other than the API's is refused: a server's answer never sends the token elsewhere.
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use cosell::http::Pipeline;
//! use cosell::paging::Pager;
//!
//! # async fn run(pipeline: Pipeline) -> cosell::Result<()> {
//! let mut pager: Pager<serde_json::Value> = Pager::odata(pipeline.get(["items"]));
//! let first = pager.next_page().await?.expect("a first page");
//! println!("{} items", first.items.len());
//! // Save where we are, and later continue from there.
//! if let Some(saved) = pager.continuation() {
//!     let rest: Vec<serde_json::Value> = Pager::odata(pipeline.get(["items"]))
//!         .resume_from(saved)
//!         .into_stream()
//!         .try_collect()
//!         .await?;
//!     println!("{} more", rest.len());
//! }
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt};
use http::{HeaderMap, Method};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::http::{AnswerKind, Pipeline, RequestBuilder, Response};

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items of this page, in server order.
    pub items: Vec<T>,
    /// The link to the next page, if there is one.
    pub next_link: Option<String>,
    /// The total count, when the server reports one (`@odata.count`, `totalSize`).
    pub total: Option<u64>,
}

/// Where a listing stopped: the link to its next page. Opaque; save it as text or with serde.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Continuation(String);

impl Continuation {
    /// A continuation from a saved next link.
    pub fn from_link(link: impl Into<String>) -> Self {
        Continuation(link.into())
    }

    /// The next link.
    pub fn as_link(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Continuation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads one page from a response.
pub type PageDecoder<T> = fn(&Response) -> Result<Page<T>>;

/// Sees every page's response before it is decoded (for example to read usage headers).
pub type ResponseObserver = Arc<dyn Fn(&Response) + Send + Sync>;

enum State {
    Start(Box<RequestBuilder>),
    Next(String),
    Done,
}

/// A listing, fetched lazily page by page.
pub struct Pager<T> {
    pipeline: Pipeline,
    state: State,
    page_headers: HeaderMap,
    decode: PageDecoder<T>,
    observer: Option<ResponseObserver>,
    operation: &'static str,
    max_answer: Option<u64>,
}

impl<T> fmt::Debug for Pager<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Start(_) => "not started",
            State::Next(_) => "more pages",
            State::Done => "done",
        };
        f.debug_struct("Pager")
            .field("state", &state)
            .field("operation", &self.operation)
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned + Send + 'static> Pager<T> {
    /// A pager that sends `first` for the first page and reads pages with `decode`. Every page
    /// is read with the size limit of a [`Listing`](AnswerKind::Listing), or the one `first`
    /// sets with [`max_answer_bytes`](RequestBuilder::max_answer_bytes).
    pub fn new(first: RequestBuilder, decode: PageDecoder<T>) -> Self {
        Pager {
            pipeline: first.pipeline.clone(),
            operation: first.operation,
            max_answer: first.max_answer,
            state: State::Start(Box::new(first.answer_kind(AnswerKind::Listing))),
            page_headers: HeaderMap::new(),
            decode,
            observer: None,
        }
    }

    /// A pager over an OData collection (`value`, `@odata.nextLink`, `@odata.count`).
    pub fn odata(first: RequestBuilder) -> Self {
        Self::new(first, odata_page::<T>)
    }

    /// Headers sent with every page, the first included (`Prefer: odata.maxpagesize=…`,
    /// `Sforce-Query-Options: batchSize=…`).
    pub fn page_headers(mut self, headers: HeaderMap) -> Self {
        self.page_headers = headers;
        self
    }

    /// Calls `observer` with every page's response, before it is decoded.
    pub fn on_response(mut self, observer: ResponseObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Continues a listing from a saved continuation instead of its first page.
    pub fn resume_from(mut self, continuation: Continuation) -> Self {
        self.state = State::Next(continuation.0);
        self
    }

    /// Where the listing stands: the link to the next page not yet fetched. `None` before the
    /// first page and after the last.
    pub fn continuation(&self) -> Option<Continuation> {
        match &self.state {
            State::Next(link) => Some(Continuation(link.clone())),
            _ => None,
        }
    }

    /// Whether the last page has been fetched.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Fetches the next page; `None` once the listing is exhausted.
    ///
    /// On an error the pager stays where it was, the first page included, so the same page can
    /// be asked for again.
    pub async fn next_page(&mut self) -> Result<Option<Page<T>>> {
        let request = match &self.state {
            State::Done => return Ok(None),
            // The first request is kept until its page arrives: a failure must not turn the
            // listing into an empty one.
            State::Start(first) => first.duplicate(),
            State::Next(link) => {
                let request = self
                    .pipeline
                    .link(Method::GET, link.clone())
                    .operation(self.operation)
                    .answer_kind(AnswerKind::Listing);
                match self.max_answer {
                    Some(bytes) => request.max_answer_bytes(bytes),
                    None => request,
                }
            }
        };
        let response = request.headers(&self.page_headers).send().await?;
        if let Some(observer) = &self.observer {
            observer(&response);
        }
        let page = (self.decode)(&response)?;
        self.state = match &page.next_link {
            Some(link) if !link.is_empty() => State::Next(link.clone()),
            _ => State::Done,
        };
        Ok(Some(page))
    }

    /// Every item of every remaining page, as a stream; fetches pages as they are needed.
    pub fn into_stream(self) -> BoxStream<'static, Result<T>> {
        stream::try_unfold(
            (self, VecDeque::new()),
            |(mut pager, mut buffer)| async move {
                loop {
                    if let Some(item) = buffer.pop_front() {
                        return Ok(Some((item, (pager, buffer))));
                    }
                    match pager.next_page().await? {
                        Some(page) => buffer.extend(page.items),
                        None => return Ok(None),
                    }
                }
            },
        )
        .boxed()
    }

    /// Every remaining item, collected.
    pub async fn collect_all(mut self) -> Result<Vec<T>> {
        let mut all = Vec::new();
        while let Some(page) = self.next_page().await? {
            all.extend(page.items);
        }
        Ok(all)
    }
}

#[derive(Deserialize)]
struct ODataCollection<T> {
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
    #[serde(rename = "@odata.count", default)]
    count: Option<u64>,
}

/// Reads an OData collection page.
pub fn odata_page<T: DeserializeOwned>(response: &Response) -> Result<Page<T>> {
    let collection: ODataCollection<T> = response.json()?;
    Ok(Page {
        items: collection.value,
        next_link: collection.next_link,
        total: collection.count,
    })
}
