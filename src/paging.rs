//! One pager for every paged listing.
//!
//! A [`Pager`] fetches a listing page by page, following the server's opaque next link
//! (OData `@odata.nextLink`, Salesforce `nextRecordsUrl`; absolute or relative). Use it as a
//! stream of items ([`Pager::into_stream`]), page by page ([`Pager::next_page`]), or stop, save
//! the [`Continuation`] and resume later ([`Pager::resume_from`]). A next link that points to a
//! host other than the API's is refused: a server's answer never sends the token elsewhere.
//!
//! A listing is strict by default: an item that does not decode fails its page. A sweep that
//! must not lose the readable items to one bad one asks for [`Pager::per_item`]: every item
//! then arrives as its own `Result`, an undecodable one as an [`ItemError`] naming its id and
//! JSON path, and the page goes on.
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
use serde_json::value::RawValue;

use crate::error::{DecodeError, DecodeOrigin, Error, Result, body_excerpt};
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

/// One page as it arrived, its items not decoded yet.
#[derive(Debug)]
pub struct RawPage {
    /// The items, each as the JSON text the server sent.
    pub items: Vec<Box<RawValue>>,
    /// The member of the answer that holds the items (`value`, `records`): the start of every
    /// item's JSON path.
    pub items_at: &'static str,
    /// The link to the next page, if there is one.
    pub next_link: Option<String>,
    /// The total count, when the server reports one.
    pub total: Option<u64>,
}

/// Splits a response into its raw items and its link to the next page.
pub type PageSplitter = fn(&Response) -> Result<RawPage>;

/// An item of a page that did not decode; the rest of the page did not fail with it.
///
/// Converts into [`Error::Decode`] (with `?`), its id in the message.
#[derive(Debug, Clone)]
pub struct ItemError {
    /// The item's id, when it could be read (`id`, `Id`, or the table's primary key).
    pub id: Option<String>,
    /// The item's position in its page, from 0.
    pub index: usize,
    /// The JSON path of the failure from the root of the answer
    /// (`value[3].customerProfile.team`).
    pub path: String,
    /// What was wrong there.
    pub message: String,
    /// The item as the server sent it, for a dead-letter queue.
    pub raw: Box<RawValue>,
    /// The server's id for the request.
    pub request_id: Option<String>,
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "item `{id}`")?,
            None => write!(f, "item {} of its page", self.index)?,
        }
        write!(
            f,
            " could not be decoded at `{}`: {}",
            self.path, self.message
        )
    }
}

impl std::error::Error for ItemError {}

impl From<ItemError> for Error {
    fn from(e: ItemError) -> Self {
        let message = match &e.id {
            Some(id) => format!("item `{id}`: {}", e.message),
            None => e.message,
        };
        Error::from(DecodeError {
            path: e.path,
            message,
            status: None,
            request_id: e.request_id,
            body_excerpt: body_excerpt(e.raw.get().as_bytes()),
            origin: DecodeOrigin::Response,
        })
    }
}

/// An item of a [`Pager::per_item`] listing: decoded, or why not.
pub type ItemResult<T> = std::result::Result<T, ItemError>;

/// Where an item sits and how to name it, for its decode error.
struct ItemContext<'a> {
    response: &'a Response,
    items_at: &'static str,
    index: usize,
    id_keys: &'a [String],
}

impl ItemContext<'_> {
    fn error(&self, raw: &RawValue, inner_path: &str, message: String) -> ItemError {
        let at = format!("{}[{}]", self.items_at, self.index);
        let path = match inner_path {
            "." => at,
            p if p.starts_with('[') => format!("{at}{p}"),
            p => format!("{at}.{p}"),
        };
        ItemError {
            id: read_id(raw, self.id_keys),
            index: self.index,
            path,
            message,
            raw: raw.to_owned(),
            request_id: self.response.request_id.clone(),
        }
    }
}

/// The first of `keys` that the item holds as a string or number.
fn read_id(raw: &RawValue, keys: &[String]) -> Option<String> {
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(raw.get()).ok()?;
    keys.iter().find_map(|key| match object.get(key)? {
        serde_json::Value::String(id) => Some(id.clone()),
        serde_json::Value::Number(id) => Some(id.to_string()),
        _ => None,
    })
}

fn decode_item<T: DeserializeOwned>(context: &ItemContext<'_>, raw: &RawValue) -> ItemResult<T> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    serde_path_to_error::deserialize(&mut de)
        .map_err(|e| context.error(raw, &e.path().to_string(), e.inner().to_string()))
}

fn strict<T: DeserializeOwned>(context: &ItemContext<'_>, raw: &RawValue) -> Result<T> {
    decode_item(context, raw).map_err(|e| context.response.annotate(Error::from(e)))
}

fn lenient<T: DeserializeOwned>(
    context: &ItemContext<'_>,
    raw: &RawValue,
) -> Result<ItemResult<T>> {
    Ok(decode_item(context, raw))
}

type ItemDecoder<T> = fn(&ItemContext<'_>, &RawValue) -> Result<T>;

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
    split: PageSplitter,
    decode: ItemDecoder<T>,
    id_keys: Vec<String>,
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
    /// A pager that sends `first` for the first page and splits pages with `split`. Every page
    /// is read with the size limit of a [`Listing`](AnswerKind::Listing), or the one `first`
    /// sets with [`max_answer_bytes`](RequestBuilder::max_answer_bytes).
    pub fn new(first: RequestBuilder, split: PageSplitter) -> Self {
        Pager {
            pipeline: first.pipeline.clone(),
            operation: first.operation,
            max_answer: first.max_answer,
            state: State::Start(Box::new(first.answer_kind(AnswerKind::Listing))),
            page_headers: HeaderMap::new(),
            split,
            decode: strict::<T>,
            id_keys: vec!["id".to_owned(), "Id".to_owned()],
            observer: None,
        }
    }

    /// A pager over an OData collection (`value`, `@odata.nextLink`, `@odata.count`).
    pub fn odata(first: RequestBuilder) -> Self {
        Self::new(first, odata_page)
    }

    /// The members an item's id is read from for an [`ItemError`], first found wins; `id` and
    /// `Id` unless set.
    pub fn item_id_keys<K: Into<String>>(mut self, keys: impl IntoIterator<Item = K>) -> Self {
        self.id_keys = keys.into_iter().map(Into::into).collect();
        self
    }

    /// The same listing, every item its own result: an item that does not decode arrives as an
    /// [`ItemError`] (its id, JSON path and raw JSON) and the rest of its page still arrives.
    /// A page that cannot be fetched or split still fails as a whole.
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    /// use cosell::paging::{ItemResult, Pager};
    ///
    /// # async fn run(pager: Pager<serde_json::Value>) -> cosell::Result<()> {
    /// let mut items = pager.per_item().into_stream();
    /// while let Some(item) = items.try_next().await? {
    ///     match item {
    ///         Ok(record) => println!("sync {record}"),
    ///         Err(bad) => eprintln!("dead-letter {:?} at {}", bad.id, bad.path),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn per_item(self) -> Pager<ItemResult<T>> {
        Pager {
            pipeline: self.pipeline,
            state: self.state,
            page_headers: self.page_headers,
            split: self.split,
            decode: lenient::<T>,
            id_keys: self.id_keys,
            observer: self.observer,
            operation: self.operation,
            max_answer: self.max_answer,
        }
    }
}

impl<T: Send + 'static> Pager<T> {
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
        let raw = (self.split)(&response)?;
        let items = raw
            .items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let context = ItemContext {
                    response: &response,
                    items_at: raw.items_at,
                    index,
                    id_keys: &self.id_keys,
                };
                (self.decode)(&context, item)
            })
            .collect::<Result<Vec<T>>>()?;
        self.state = match &raw.next_link {
            Some(link) if !link.is_empty() => State::Next(link.clone()),
            _ => State::Done,
        };
        Ok(Some(Page {
            items,
            next_link: raw.next_link,
            total: raw.total,
        }))
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
struct ODataCollection {
    value: Vec<Box<RawValue>>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
    #[serde(rename = "@odata.count", default)]
    count: Option<u64>,
}

/// Splits an OData collection page (`value`, `@odata.nextLink`, `@odata.count`).
pub fn odata_page(response: &Response) -> Result<RawPage> {
    let collection: ODataCollection = response.json()?;
    Ok(RawPage {
        items: collection.value,
        items_at: "value",
        next_link: collection.next_link,
        total: collection.count,
    })
}
