//! Operations on any table with any record type: create, retrieve, update, upsert,
//! create-only, delete, query. Each call on one row is a request builder ending in `send()`.

use std::marker::PhantomData;

use http::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::client::{Dataverse, WriteOptions};
use super::key::{RecordKey, check_identifier};
use super::query::{Query, Retrieve, check_columns};
use crate::error::Result;
use crate::http::{RequestBuilder, Response};
use crate::paging::Pager;

const RETURN_REPRESENTATION: &str = "return=representation";

/// Whether an upsert created or updated its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpsertKind {
    /// The row did not exist and was created (`201 Created`).
    Created,
    /// The row existed and was updated (`200 OK`).
    Updated,
    /// The service did not say (`204 No Content`, answered both ways without
    /// `return=representation`).
    Unknown,
}

/// The outcome of [`UpsertRow::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpsertOutcome {
    /// Created, updated, or not told.
    pub kind: UpsertKind,
    /// The `OData-EntityId` header: the row's URL (key-based when the key was alternate).
    pub entity_id: Option<String>,
    /// The row's GUID, when the `OData-EntityId` holds one.
    pub id: Option<Uuid>,
}

/// The outcome of [`UpsertRowReturning::send`]: what happened and the row as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Upserted<T> {
    /// Created or updated.
    pub kind: UpsertKind,
    /// The row, with the columns selected.
    pub record: T,
}

/// Operations on one table (by entity set name) with any `Serialize` / `DeserializeOwned`
/// record type. Borrowed from the client: [`Dataverse::table`], [`Dataverse::opportunities`].
///
/// Writes carry the client's origin marking; [`tag`](Self::tag), [`no_tag`](Self::no_tag) and
/// [`suppress_flows`](Self::suppress_flows) change it for calls made through the returned handle.
#[derive(Debug, Clone)]
pub struct Table<'a> {
    dataverse: &'a Dataverse,
    entity_set: String,
    write: WriteOptions,
}

impl<'a> Table<'a> {
    pub(crate) fn new(dataverse: &'a Dataverse, entity_set: String, write: WriteOptions) -> Self {
        Table {
            dataverse,
            entity_set,
            write,
        }
    }

    /// The entity set name.
    pub fn entity_set(&self) -> &str {
        &self.entity_set
    }

    /// This table with writes tagged `?tag=<tag>`.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.write = self.write.tag(tag);
        self
    }

    /// This table with untagged writes.
    pub fn no_tag(mut self) -> Self {
        self.write = self.write.no_tag();
        self
    }

    /// This table with flows suppressed on writes (or not).
    pub fn suppress_flows(mut self, suppress: bool) -> Self {
        self.write = self.write.suppress_flows(suppress);
        self
    }

    /// This table with the given write marking.
    pub fn write_options(mut self, options: WriteOptions) -> Self {
        self.write = options;
        self
    }

    fn collection(&self, method: Method) -> RequestBuilder {
        let mut request = self
            .dataverse
            .write_request(method, &self.entity_set, &self.write)
            .literal_path();
        if let Err(e) = check_identifier(&self.entity_set, "table") {
            request.error.get_or_insert(e);
        }
        request
    }

    fn row(&self, method: Method, key: &RecordKey, write: bool) -> RequestBuilder {
        let request = match key.segment(&self.entity_set) {
            Ok(segment) if write => self.dataverse.write_request(method, &segment, &self.write),
            Ok(segment) => self.dataverse.pipeline().request(method, [segment]),
            Err(e) => {
                let mut request = self.dataverse.pipeline().request(method, [""]);
                request.error = Some(e);
                request
            }
        };
        // Key values are customer data: traces show where they go, not what they are.
        request.path_template(format!("{}({{key}})", self.entity_set))
    }

    /// Creates a row: `POST` to the table; [`CreateRow::send`] answers the new row's GUID,
    /// [`returning`](CreateRow::returning) the row as stored.
    ///
    /// ```no_run
    /// # async fn run(dataverse: cosell::dataverse::Dataverse) -> cosell::Result<()> {
    /// let id = dataverse
    ///     .table("accounts")
    ///     .create(&serde_json::json!({"name": "Fabrikam"}))
    ///     .send()
    ///     .await?;
    /// println!("created {id}");
    /// # Ok(()) }
    /// ```
    pub fn create<R: Serialize + ?Sized>(&self, record: &R) -> CreateRow {
        CreateRow {
            request: self
                .collection(Method::POST)
                .operation("dataverse.create")
                .json(record),
        }
    }

    /// Reads one row, by its GUID or an alternate key; choose the columns on the returned
    /// [`RetrieveRow`], and read it only if it changed with
    /// [`if_none_match`](RetrieveRow::if_none_match).
    ///
    /// ```no_run
    /// use cosell::dataverse::RecordKey;
    ///
    /// # async fn run(dataverse: cosell::dataverse::Dataverse, id: uuid::Uuid) -> cosell::Result<()> {
    /// let account: serde_json::Value = dataverse
    ///     .table("accounts")
    ///     .retrieve(id)
    ///     .select(["name"])
    ///     .formatted_values()
    ///     .send()
    ///     .await?;
    /// let by_number: serde_json::Value = dataverse
    ///     .table("accounts")
    ///     .retrieve(RecordKey::alternate([("accountnumber", "ABC123")]))
    ///     .send()
    ///     .await?;
    /// # let _ = (account, by_number); Ok(()) }
    /// ```
    pub fn retrieve(&self, key: impl Into<RecordKey>) -> RetrieveRow {
        RetrieveRow {
            request: self
                .row(Method::GET, &key.into(), false)
                .operation("dataverse.retrieve"),
            options: Retrieve::new(),
        }
    }

    /// Updates an existing row with the columns in `changes`: `PATCH` with `If-Match: *`, so a
    /// missing row is a 404 and never created; [`if_match`](RowWrite::if_match) makes it
    /// conditional on the row's version.
    ///
    /// ```no_run
    /// use cosell::FieldUpdate;
    /// use cosell::dataverse::OpportunityPatch;
    ///
    /// # async fn run(dataverse: cosell::dataverse::Dataverse, id: uuid::Uuid) -> cosell::Result<()> {
    /// let changes = OpportunityPatch { description: FieldUpdate::Clear, ..Default::default() };
    /// dataverse.opportunities().update(id, &changes).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn update<R: Serialize + ?Sized>(
        &self,
        key: impl Into<RecordKey>,
        changes: &R,
    ) -> RowWrite {
        RowWrite {
            request: self
                .row(Method::PATCH, &key.into(), true)
                .operation("dataverse.update")
                .idempotent(true)
                .header("if-match", "*")
                .json(changes),
        }
    }

    /// Creates the row if no row has `key`, updates it otherwise (`PATCH` to the key URL);
    /// [`returning`](UpsertRow::returning) tells which and answers the row,
    /// [`create_only`](UpsertRow::create_only) never updates.
    ///
    /// Leave the key columns out of `record`: on create, body values win over the key.
    ///
    /// ```no_run
    /// use cosell::dataverse::RecordKey;
    ///
    /// # async fn run(dataverse: cosell::dataverse::Dataverse) -> cosell::Result<()> {
    /// let key = RecordKey::alternate([("cosell_referralid", "a1b2c3")]);
    /// let outcome = dataverse
    ///     .opportunities()
    ///     .upsert(key, &serde_json::json!({"name": "Contoso expansion"}))
    ///     .send()
    ///     .await?;
    /// println!("{:?}", outcome.entity_id);
    /// # Ok(()) }
    /// ```
    pub fn upsert<R: Serialize + ?Sized>(
        &self,
        key: impl Into<RecordKey>,
        record: &R,
    ) -> UpsertRow {
        UpsertRow {
            request: self
                .row(Method::PATCH, &key.into(), true)
                .operation("dataverse.upsert")
                .idempotent(true)
                .json(record),
        }
    }

    /// Deletes a row; [`if_match`](RowWrite::if_match) only if it is still at a version.
    ///
    /// ```no_run
    /// # async fn run(dataverse: cosell::dataverse::Dataverse, id: uuid::Uuid) -> cosell::Result<()> {
    /// dataverse.table("accounts").delete(id).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn delete(&self, key: impl Into<RecordKey>) -> RowWrite {
        RowWrite {
            request: self
                .row(Method::DELETE, &key.into(), true)
                .operation("dataverse.delete"),
        }
    }

    /// Queries the table; the [`Pager`] follows `@odata.nextLink` and re-sends the page size
    /// (`Prefer: odata.maxpagesize`) on every page.
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    /// use cosell::dataverse::{Filter, Opportunity, Query};
    ///
    /// # async fn run(dataverse: cosell::dataverse::Dataverse) -> cosell::Result<()> {
    /// let open: Vec<Opportunity> = dataverse
    ///     .opportunities()
    ///     .query(&Query::new().filter(Filter::eq("statecode", 0)).page_size(500))
    ///     .into_stream()
    ///     .try_collect()
    ///     .await?;
    /// # let _ = open; Ok(()) }
    /// ```
    pub fn query<T: DeserializeOwned + Send + 'static>(&self, query: &Query) -> Pager<T> {
        let mut first = self
            .dataverse
            .pipeline()
            .get([self.entity_set.as_str()])
            .literal_path()
            .operation("dataverse.query");
        if let Err(e) = check_identifier(&self.entity_set, "table") {
            first.error = Some(e);
        }
        Pager::odata(query.apply(first))
            .item_id_keys(primary_key_guesses(&self.entity_set))
            .page_headers(query.page_headers())
    }
}

/// A row being created; see [`Table::create`].
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct CreateRow {
    request: RequestBuilder,
}

impl CreateRow {
    /// Answers the row as stored (`Prefer: return=representation`, `201 Created`), with the
    /// `select`ed columns (all when empty).
    ///
    /// ```no_run
    /// use cosell::dataverse::{Opportunity, OpportunityPatch};
    ///
    /// # async fn run(dataverse: cosell::dataverse::Dataverse) -> cosell::Result<()> {
    /// let new = OpportunityPatch { name: "Fabrikam renewal".to_string().into(), ..Default::default() };
    /// let created: Opportunity = dataverse
    ///     .opportunities()
    ///     .create(&new)
    ///     .returning(&["opportunityid", "name"])
    ///     .send()
    ///     .await?;
    /// # let _ = created; Ok(()) }
    /// ```
    pub fn returning<T: DeserializeOwned>(self, select: &[&str]) -> CreateRowReturning<T> {
        CreateRowReturning {
            request: returning(self.request, select),
            row: PhantomData,
        }
    }

    /// Creates the row; answers its GUID, read from the `OData-EntityId` header of the
    /// `204 No Content`.
    ///
    /// # Errors
    /// [`Error::Api`](crate::Error::Api) for a refusal; [`Error::Decode`](crate::Error::Decode)
    /// when the answer names no GUID.
    pub async fn send(self) -> Result<Uuid> {
        let response = self.request.send().await?;
        entity_id(&response)
            .and_then(|link| id_from_entity_id(&link))
            .ok_or_else(|| {
                response.decode_error("OData-EntityId", "no GUID in the OData-EntityId header")
            })
    }
}

/// A row being created that answers the row as stored; see [`CreateRow::returning`].
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct CreateRowReturning<T> {
    request: RequestBuilder,
    row: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> CreateRowReturning<T> {
    /// Creates the row and answers it.
    ///
    /// # Errors
    /// As [`CreateRow::send`], and a decode error when the row does not decode as `T`.
    pub async fn send(self) -> Result<T> {
        self.request.send_json().await
    }
}

/// One row being read; see [`Table::retrieve`]. Every column unless
/// [`select`](Self::select) says otherwise, no annotations.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct RetrieveRow {
    request: RequestBuilder,
    options: Retrieve,
}

impl RetrieveRow {
    /// Adds columns to `$select`.
    pub fn select<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.options = self.options.select(columns);
        self
    }

    /// Adds an `$expand` item (`parentaccountid($select=name)`).
    pub fn expand(mut self, expand: impl Into<String>) -> Self {
        self.options = self.options.expand(expand);
        self
    }

    /// Asks for formatted values.
    pub fn formatted_values(mut self) -> Self {
        self.options = self.options.formatted_values();
        self
    }

    /// Asks for the annotations matching `pattern` (`*` for all).
    pub fn annotations(mut self, pattern: impl Into<String>) -> Self {
        self.options = self.options.annotations(pattern);
        self
    }

    /// Reads the row only if it changed since version `etag` (`If-None-Match: <etag>`); its
    /// [`send`](RetrieveRowIfChanged::send) answers `None` when the service says
    /// `304 Not Modified`. The service never answers 304 to a request with `$expand` or
    /// annotations, nor for tables without optimistic concurrency.
    ///
    /// ```no_run
    /// use cosell::dataverse::Opportunity;
    ///
    /// # async fn run(dataverse: cosell::dataverse::Dataverse, id: uuid::Uuid) -> cosell::Result<()> {
    /// let fresh: Option<Opportunity> = dataverse
    ///     .opportunities()
    ///     .retrieve(id)
    ///     .if_none_match("W/\"90210001\"")
    ///     .send()
    ///     .await?;
    /// if fresh.is_none() { println!("unchanged"); }
    /// # Ok(()) }
    /// ```
    pub fn if_none_match(self, etag: impl AsRef<str>) -> RetrieveRowIfChanged {
        RetrieveRowIfChanged {
            row: RetrieveRow {
                request: self
                    .request
                    .header("if-none-match", etag)
                    .accept_status(StatusCode::NOT_MODIFIED),
                options: self.options,
            },
        }
    }

    fn request(self) -> RequestBuilder {
        self.options.apply(self.request)
    }

    /// Reads the row.
    ///
    /// # Errors
    /// A 404 is [`Error::is_not_found`](crate::Error::is_not_found); a bad key value or column
    /// name is [`Error::Validation`](crate::Error::Validation), before anything is sent.
    pub async fn send<T: DeserializeOwned>(self) -> Result<T> {
        self.request().send_json().await
    }
}

/// One row being read only if it changed; see [`RetrieveRow::if_none_match`].
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct RetrieveRowIfChanged {
    row: RetrieveRow,
}

impl RetrieveRowIfChanged {
    /// Reads the row; `None` when it is unchanged.
    ///
    /// # Errors
    /// As [`RetrieveRow::send`].
    pub async fn send<T: DeserializeOwned>(self) -> Result<Option<T>> {
        let response = self.row.request().send().await?;
        if response.status == StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        response.json().map(Some)
    }
}

/// An update or a delete of one row being described; see [`Table::update`] and
/// [`Table::delete`].
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct RowWrite {
    request: RequestBuilder,
}

impl RowWrite {
    /// Writes only if the row is still at version `etag` (its `@odata.etag`); a stale ETag is a
    /// `412`, [`Error::is_conflict`](crate::Error::is_conflict).
    ///
    /// ```no_run
    /// use cosell::dataverse::{Opportunity, OpportunityPatch};
    ///
    /// # async fn run(dataverse: cosell::dataverse::Dataverse, id: uuid::Uuid) -> cosell::Result<()> {
    /// let current: Opportunity = dataverse.opportunities().retrieve(id).send().await?;
    /// let changes = OpportunityPatch { close_probability: 80.into(), ..Default::default() };
    /// if let Some(etag) = &current.etag {
    ///     dataverse.opportunities().update(id, &changes).if_match(etag).send().await?;
    ///     dataverse.table("accounts").delete(id).if_match("W/\"90210\"").send().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn if_match(mut self, etag: impl AsRef<str>) -> Self {
        self.request = self.request.header("if-match", etag);
        self
    }

    /// Sends the write.
    ///
    /// # Errors
    /// 404 when the row does not exist; with [`if_match`](Self::if_match), 412 when it changed
    /// and [`Error::OutcomeUnknown`](crate::Error::OutcomeUnknown) when an attempt may have been
    /// applied without an answer and the replay found the version moved (re-read the row).
    pub async fn send(self) -> Result<()> {
        self.request.send().await.map(drop)
    }
}

/// A row being created or updated by its key; see [`Table::upsert`].
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct UpsertRow {
    request: RequestBuilder,
}

impl UpsertRow {
    /// Answers whether the row was created (`201`) or updated (`200`), with the row as stored
    /// (`Prefer: return=representation`). Select only the primary key to keep it cheap.
    ///
    /// ```no_run
    /// use cosell::dataverse::{RecordKey, UpsertKind, Upserted};
    ///
    /// # async fn run(dataverse: cosell::dataverse::Dataverse) -> cosell::Result<()> {
    /// let key = RecordKey::alternate([("cosell_referralid", "a1b2c3")]);
    /// let upserted: Upserted<serde_json::Value> = dataverse
    ///     .opportunities()
    ///     .upsert(key, &serde_json::json!({"name": "X"}))
    ///     .returning(&["opportunityid"])
    ///     .send()
    ///     .await?;
    /// if upserted.kind == UpsertKind::Created { println!("new row {}", upserted.record["opportunityid"]); }
    /// # Ok(()) }
    /// ```
    pub fn returning<T: DeserializeOwned>(self, select: &[&str]) -> UpsertRowReturning<T> {
        UpsertRowReturning {
            request: returning(self.request, select),
            row: PhantomData,
        }
    }

    /// Creates the row only if none has the key (`If-None-Match: *`), never updating one; an
    /// existing row is a `412`, [`Error::is_conflict`](crate::Error::is_conflict).
    ///
    /// ```no_run
    /// # async fn run(dataverse: cosell::dataverse::Dataverse) -> cosell::Result<()> {
    /// let id = uuid::Uuid::new_v4();
    /// let row = serde_json::json!({"name": "X"});
    /// match dataverse.opportunities().upsert(id, &row).create_only().send().await {
    ///     Ok(()) => println!("created"),
    ///     Err(e) if e.is_conflict() => println!("already there"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn create_only(self) -> CreateOnlyRow {
        CreateOnlyRow {
            request: self
                .request
                .operation("dataverse.create_only")
                .idempotent(false)
                .header("if-none-match", "*"),
        }
    }

    /// Upserts the row. The service answers `204` either way, so the [`UpsertKind`] is
    /// `Unknown`; use [`returning`](Self::returning) to be told.
    ///
    /// # Errors
    /// A key value the service cannot take in a URL is a validation error.
    pub async fn send(self) -> Result<UpsertOutcome> {
        let response = self.request.send().await?;
        let kind = upsert_kind(response.status);
        let entity_id = entity_id(&response);
        let id = entity_id.as_deref().and_then(id_from_entity_id);
        Ok(UpsertOutcome {
            kind,
            entity_id,
            id,
        })
    }
}

/// An upsert that answers the row as stored; see [`UpsertRow::returning`].
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct UpsertRowReturning<T> {
    request: RequestBuilder,
    row: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> UpsertRowReturning<T> {
    /// Upserts the row and answers what happened with the row.
    ///
    /// # Errors
    /// As [`UpsertRow::send`]; a decode error when no row came back.
    pub async fn send(self) -> Result<Upserted<T>> {
        let response = self.request.send().await?;
        let kind = upsert_kind(response.status);
        if kind == UpsertKind::Unknown {
            return Err(response.decode_error(
                ".",
                "the service did not return the row (return=representation was not honoured)",
            ));
        }
        Ok(Upserted {
            kind,
            record: response.json()?,
        })
    }
}

/// A row being created only if its key is free; see [`UpsertRow::create_only`].
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct CreateOnlyRow {
    request: RequestBuilder,
}

impl CreateOnlyRow {
    /// Creates the row.
    ///
    /// # Errors
    /// 412 when the row exists.
    pub async fn send(self) -> Result<()> {
        self.request.send().await.map(drop)
    }
}

/// What an upsert's status says it did.
fn upsert_kind(status: StatusCode) -> UpsertKind {
    match status {
        StatusCode::CREATED => UpsertKind::Created,
        StatusCode::OK => UpsertKind::Updated,
        _ => UpsertKind::Unknown,
    }
}

/// `request` asking for the row as stored, with the `select`ed columns.
fn returning(request: RequestBuilder, select: &[&str]) -> RequestBuilder {
    with_select(request, select).header("prefer", RETURN_REPRESENTATION)
}

/// The primary key a table's items most likely carry: the singular of the entity set name plus
/// `id` (`opportunities` → `opportunityid`, `accounts` → `accountid`). Only used to name an item
/// that did not decode, so every plausible singular is tried against the item's members.
fn primary_key_guesses(entity_set: &str) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(stem) = entity_set.strip_suffix("ies") {
        keys.push(format!("{stem}yid"));
    }
    if let Some(stem) = entity_set.strip_suffix("es") {
        keys.push(format!("{stem}id"));
    }
    if let Some(stem) = entity_set.strip_suffix('s') {
        keys.push(format!("{stem}id"));
    }
    keys.push(format!("{entity_set}id"));
    keys
}

fn with_select(mut request: RequestBuilder, select: &[&str]) -> RequestBuilder {
    if select.is_empty() {
        return request;
    }
    let columns: Vec<String> = select.iter().map(|c| (*c).to_owned()).collect();
    if let Err(e) = check_columns(&columns) {
        request.error.get_or_insert(e);
        return request;
    }
    request.query("$select", columns.join(","))
}

fn entity_id(response: &Response) -> Option<String> {
    response
        .header("odata-entityid")
        .or_else(|| response.header("location"))
        .map(str::to_owned)
}

/// The GUID inside the last parentheses of an entity URL, `…/opportunities(<guid>)`.
pub(crate) fn id_from_entity_id(link: &str) -> Option<Uuid> {
    let open = link.rfind('(')?;
    let inner = link.get(open + 1..)?.strip_suffix(')')?;
    Uuid::parse_str(inner).ok()
}
