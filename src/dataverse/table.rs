//! Operations on any table with any record type: create, retrieve, update, upsert,
//! create-only, delete, query.

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

/// The outcome of [`Table::upsert`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpsertOutcome {
    /// Created, updated, or not told.
    pub kind: UpsertKind,
    /// The `OData-EntityId` header: the row's URL (key-based when the key was alternate).
    pub entity_id: Option<String>,
    /// The row's GUID, when the `OData-EntityId` holds one.
    pub id: Option<Uuid>,
}

/// The outcome of [`Table::upsert_returning`]: what happened and the row as stored.
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

    /// Creates a row; answers its GUID, read from the `OData-EntityId` header of the
    /// `204 No Content`.
    ///
    /// ```no_run
    /// # async fn run(dataverse: cosell::dataverse::Dataverse) -> cosell::Result<()> {
    /// let id = dataverse
    ///     .table("accounts")
    ///     .create(&serde_json::json!({"name": "Fabrikam"}))
    ///     .await?;
    /// println!("created {id}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`](crate::Error::Api) for a refusal; [`Error::Decode`](crate::Error::Decode)
    /// when the answer names no GUID.
    pub async fn create<R: Serialize + ?Sized>(&self, record: &R) -> Result<Uuid> {
        let response = self
            .collection(Method::POST)
            .operation("dataverse.create")
            .json(record)
            .send()
            .await?;
        entity_id(&response)
            .and_then(|link| id_from_entity_id(&link))
            .ok_or_else(|| {
                response.decode_error("OData-EntityId", "no GUID in the OData-EntityId header")
            })
    }

    /// Creates a row and answers it as stored (`Prefer: return=representation`, `201 Created`),
    /// with the `select`ed columns (all when empty).
    ///
    /// ```no_run
    /// use cosell::dataverse::{Opportunity, OpportunityPatch};
    ///
    /// # async fn run(dataverse: cosell::dataverse::Dataverse) -> cosell::Result<()> {
    /// let new = OpportunityPatch { name: "Fabrikam renewal".to_string().into(), ..Default::default() };
    /// let created: Opportunity = dataverse
    ///     .opportunities()
    ///     .create_returning(&new, &["opportunityid", "name"])
    ///     .await?;
    /// # let _ = created; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`create`](Self::create), and a decode error when the row does not decode as `T`.
    pub async fn create_returning<R, T>(&self, record: &R, select: &[&str]) -> Result<T>
    where
        R: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        with_select(self.collection(Method::POST), select)
            .operation("dataverse.create")
            .header("prefer", RETURN_REPRESENTATION)
            .json(record)
            .send_json()
            .await
    }

    /// Reads one row.
    ///
    /// ```no_run
    /// use cosell::dataverse::{Retrieve, RecordKey};
    ///
    /// # async fn run(dataverse: cosell::dataverse::Dataverse, id: uuid::Uuid) -> cosell::Result<()> {
    /// let account: serde_json::Value = dataverse
    ///     .table("accounts")
    ///     .retrieve(id, &Retrieve::new().select(["name"]).formatted_values())
    ///     .await?;
    /// let by_number: serde_json::Value = dataverse
    ///     .table("accounts")
    ///     .retrieve(RecordKey::alternate([("accountnumber", "ABC123")]), &Retrieve::new())
    ///     .await?;
    /// # let _ = (account, by_number); Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A 404 is [`Error::is_not_found`](crate::Error::is_not_found); a bad key value is
    /// [`Error::Validation`](crate::Error::Validation), before anything is sent.
    pub async fn retrieve<T: DeserializeOwned>(
        &self,
        key: impl Into<RecordKey>,
        options: &Retrieve,
    ) -> Result<T> {
        options
            .apply(self.row(Method::GET, &key.into(), false))
            .operation("dataverse.retrieve")
            .send_json()
            .await
    }

    /// Reads one row only if it changed since version `etag` (`If-None-Match: <etag>`);
    /// `None` when the service answers `304 Not Modified`. The service never answers 304 to a
    /// request with `$expand` or annotations, nor for tables without optimistic concurrency.
    ///
    /// ```no_run
    /// use cosell::dataverse::{Opportunity, Retrieve};
    ///
    /// # async fn run(dataverse: cosell::dataverse::Dataverse, id: uuid::Uuid) -> cosell::Result<()> {
    /// let fresh: Option<Opportunity> = dataverse
    ///     .opportunities()
    ///     .retrieve_if_changed(id, &Retrieve::new(), "W/\"90210001\"")
    ///     .await?;
    /// if fresh.is_none() { println!("unchanged"); }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`retrieve`](Self::retrieve).
    pub async fn retrieve_if_changed<T: DeserializeOwned>(
        &self,
        key: impl Into<RecordKey>,
        options: &Retrieve,
        etag: &str,
    ) -> Result<Option<T>> {
        let response = options
            .apply(self.row(Method::GET, &key.into(), false))
            .operation("dataverse.retrieve")
            .header("if-none-match", etag)
            .accept_status(StatusCode::NOT_MODIFIED)
            .send()
            .await?;
        if response.status == StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        response.json().map(Some)
    }

    /// Updates an existing row with the columns in `changes` (`PATCH` with `If-Match: *`, so a
    /// missing row is a 404 and never created).
    ///
    /// ```no_run
    /// use cosell::FieldUpdate;
    /// use cosell::dataverse::OpportunityPatch;
    ///
    /// # async fn run(dataverse: cosell::dataverse::Dataverse, id: uuid::Uuid) -> cosell::Result<()> {
    /// let changes = OpportunityPatch { description: FieldUpdate::Clear, ..Default::default() };
    /// dataverse.opportunities().update(id, &changes).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// 404 when the row does not exist.
    pub async fn update<R: Serialize + ?Sized>(
        &self,
        key: impl Into<RecordKey>,
        changes: &R,
    ) -> Result<()> {
        self.patch(&key.into(), changes, "if-match", "*", "dataverse.update")
            .await
            .map(drop)
    }

    /// Updates a row only if it is still at version `etag` (its `@odata.etag`); a stale ETag is a
    /// `412`, [`Error::is_conflict`](crate::Error::is_conflict).
    ///
    /// ```no_run
    /// use cosell::dataverse::{Opportunity, OpportunityPatch, Retrieve};
    ///
    /// # async fn run(dataverse: cosell::dataverse::Dataverse, id: uuid::Uuid) -> cosell::Result<()> {
    /// let current: Opportunity = dataverse.opportunities().retrieve(id, &Retrieve::new()).await?;
    /// let changes = OpportunityPatch { close_probability: 80.into(), ..Default::default() };
    /// if let Some(etag) = &current.etag {
    ///     dataverse.opportunities().update_if_match(id, &changes, etag).await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// 412 when the row changed, 404 when it is gone;
    /// [`Error::OutcomeUnknown`](crate::Error::OutcomeUnknown) when an attempt may have been
    /// applied without an answer and the replay found the version moved (re-read the row).
    pub async fn update_if_match<R: Serialize + ?Sized>(
        &self,
        key: impl Into<RecordKey>,
        changes: &R,
        etag: &str,
    ) -> Result<()> {
        self.patch(&key.into(), changes, "if-match", etag, "dataverse.update")
            .await
            .map(drop)
    }

    /// Creates the row if no row has `key`, updates it otherwise (`PATCH` to the key URL). The
    /// service answers `204` either way, so the [`UpsertKind`] is `Unknown`; use
    /// [`upsert_returning`](Self::upsert_returning) to be told.
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
    ///     .await?;
    /// println!("{:?}", outcome.entity_id);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A key value the service cannot take in a URL is a validation error.
    pub async fn upsert<R: Serialize + ?Sized>(
        &self,
        key: impl Into<RecordKey>,
        record: &R,
    ) -> Result<UpsertOutcome> {
        let response = self
            .row(Method::PATCH, &key.into(), true)
            .operation("dataverse.upsert")
            .idempotent(true)
            .json(record)
            .send()
            .await?;
        let kind = match response.status {
            StatusCode::CREATED => UpsertKind::Created,
            StatusCode::OK => UpsertKind::Updated,
            _ => UpsertKind::Unknown,
        };
        let entity_id = entity_id(&response);
        let id = entity_id.as_deref().and_then(id_from_entity_id);
        Ok(UpsertOutcome {
            kind,
            entity_id,
            id,
        })
    }

    /// Upserts and answers whether the row was created (`201`) or updated (`200`), with the row
    /// as stored (`Prefer: return=representation`). Select only the primary key to keep it
    /// cheap.
    ///
    /// ```no_run
    /// use cosell::dataverse::{RecordKey, UpsertKind};
    ///
    /// # async fn run(dataverse: cosell::dataverse::Dataverse) -> cosell::Result<()> {
    /// let key = RecordKey::alternate([("cosell_referralid", "a1b2c3")]);
    /// let upserted = dataverse
    ///     .opportunities()
    ///     .upsert_returning::<_, serde_json::Value>(key, &serde_json::json!({"name": "X"}), &["opportunityid"])
    ///     .await?;
    /// if upserted.kind == UpsertKind::Created { println!("new row {}", upserted.record["opportunityid"]); }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`upsert`](Self::upsert); a decode error when no row came back.
    pub async fn upsert_returning<R, T>(
        &self,
        key: impl Into<RecordKey>,
        record: &R,
        select: &[&str],
    ) -> Result<Upserted<T>>
    where
        R: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let response = with_select(self.row(Method::PATCH, &key.into(), true), select)
            .operation("dataverse.upsert")
            .idempotent(true)
            .header("prefer", RETURN_REPRESENTATION)
            .json(record)
            .send()
            .await?;
        let kind = match response.status {
            StatusCode::CREATED => UpsertKind::Created,
            StatusCode::OK => UpsertKind::Updated,
            _ => {
                return Err(response.decode_error(
                    ".",
                    "the service did not return the row (return=representation was not honoured)",
                ));
            }
        };
        Ok(Upserted {
            kind,
            record: response.json()?,
        })
    }

    /// Creates the row with `key` only if none exists (`If-None-Match: *`); an existing row is
    /// a `412`, [`Error::is_conflict`](crate::Error::is_conflict).
    ///
    /// ```no_run
    /// # async fn run(dataverse: cosell::dataverse::Dataverse) -> cosell::Result<()> {
    /// let id = uuid::Uuid::new_v4();
    /// match dataverse.opportunities().create_only(id, &serde_json::json!({"name": "X"})).await {
    ///     Ok(()) => println!("created"),
    ///     Err(e) if e.is_conflict() => println!("already there"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// 412 when the row exists.
    pub async fn create_only<R: Serialize + ?Sized>(
        &self,
        key: impl Into<RecordKey>,
        record: &R,
    ) -> Result<()> {
        self.patch(
            &key.into(),
            record,
            "if-none-match",
            "*",
            "dataverse.create_only",
        )
        .await
        .map(drop)
    }

    async fn patch<R: Serialize + ?Sized>(
        &self,
        key: &RecordKey,
        body: &R,
        condition: &str,
        value: &str,
        operation: &'static str,
    ) -> Result<Response> {
        self.row(Method::PATCH, key, true)
            .operation(operation)
            .idempotent(condition == "if-match")
            .header(condition, value)
            .json(body)
            .send()
            .await
    }

    /// Deletes a row.
    ///
    /// ```no_run
    /// # async fn run(dataverse: cosell::dataverse::Dataverse, id: uuid::Uuid) -> cosell::Result<()> {
    /// dataverse.table("accounts").delete(id).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// 404 when the row does not exist.
    pub async fn delete(&self, key: impl Into<RecordKey>) -> Result<()> {
        self.row(Method::DELETE, &key.into(), true)
            .operation("dataverse.delete")
            .send()
            .await
            .map(drop)
    }

    /// Deletes a row only if it is still at version `etag`.
    ///
    /// ```no_run
    /// # async fn run(dataverse: cosell::dataverse::Dataverse, id: uuid::Uuid) -> cosell::Result<()> {
    /// dataverse.table("accounts").delete_if_match(id, "W/\"90210\"").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// 412 when the row changed.
    pub async fn delete_if_match(&self, key: impl Into<RecordKey>, etag: &str) -> Result<()> {
        self.row(Method::DELETE, &key.into(), true)
            .operation("dataverse.delete")
            .header("if-match", etag)
            .send()
            .await
            .map(drop)
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
