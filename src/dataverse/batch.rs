//! `$batch`: many operations in one multipart request, with change sets that succeed or roll
//! back together.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::{Position, Url};
use uuid::Uuid;

use super::client::{Dataverse, SUPPRESS_FLOWS_HEADER, WriteOptions};
use super::key::{RecordKey, check_identifier};
use super::multipart::{boundary_of, split_head, split_parts};
use super::profile::DataverseProfile;
use super::table::id_from_entity_id;
use crate::error::{DecodeError, DecodeOrigin, Error, Result, body_excerpt, decode_json};
use crate::http::{AnswerKind, ServiceProfile};

/// The most operations one `$batch` may hold.
pub const MAX_BATCH_OPERATIONS: usize = 1000;

/// One operation of a batch.
///
/// ```
/// use cosell::dataverse::{BatchOperation, RecordKey};
///
/// let id: uuid::Uuid = "c0ffee00-3333-4a5e-8f00-0123456789ab".parse().unwrap();
/// let ops = [
///     BatchOperation::create("accounts", &serde_json::json!({"name": "Fabrikam"})).unwrap(),
///     BatchOperation::update("opportunities", id, &serde_json::json!({"closeprobability": 80})).unwrap(),
///     BatchOperation::delete("contacts", RecordKey::id(id)).unwrap(),
/// ];
/// # let _ = ops;
/// ```
#[derive(Debug, Clone)]
pub struct BatchOperation {
    method: Method,
    segment: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl BatchOperation {
    fn new(method: Method, segment: String) -> Self {
        BatchOperation {
            method,
            segment,
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        }
    }

    fn with_json<R: Serialize + ?Sized>(mut self, body: &R) -> Result<Self> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::validation(format!("the body could not be serialized: {e}")))?;
        self.body = Some(bytes);
        Ok(self)
    }

    fn row(method: Method, entity_set: &str, key: impl Into<RecordKey>) -> Result<Self> {
        Ok(BatchOperation::new(method, key.into().segment(entity_set)?))
    }

    /// Creates a row (`POST <entity_set>`).
    ///
    /// # Errors
    /// [`Error::Validation`] for a bad table name or a body that does not serialize.
    pub fn create<R: Serialize + ?Sized>(entity_set: &str, record: &R) -> Result<Self> {
        check_identifier(entity_set, "table")?;
        BatchOperation::new(Method::POST, entity_set.to_owned()).with_json(record)
    }

    /// Updates an existing row (`PATCH` with `If-Match: *`).
    ///
    /// # Errors
    /// As [`RecordKey::segment`].
    pub fn update<R: Serialize + ?Sized>(
        entity_set: &str,
        key: impl Into<RecordKey>,
        changes: &R,
    ) -> Result<Self> {
        Ok(BatchOperation::row(Method::PATCH, entity_set, key)?
            .with_json(changes)?
            .header("If-Match", "*"))
    }

    /// Updates a row only at version `etag`.
    ///
    /// # Errors
    /// As [`RecordKey::segment`].
    pub fn update_if_match<R: Serialize + ?Sized>(
        entity_set: &str,
        key: impl Into<RecordKey>,
        changes: &R,
        etag: &str,
    ) -> Result<Self> {
        Ok(BatchOperation::row(Method::PATCH, entity_set, key)?
            .with_json(changes)?
            .header("If-Match", etag))
    }

    /// Creates or updates a row (`PATCH` to the key URL).
    ///
    /// # Errors
    /// As [`RecordKey::segment`].
    pub fn upsert<R: Serialize + ?Sized>(
        entity_set: &str,
        key: impl Into<RecordKey>,
        record: &R,
    ) -> Result<Self> {
        BatchOperation::row(Method::PATCH, entity_set, key)?.with_json(record)
    }

    /// Deletes a row.
    ///
    /// # Errors
    /// As [`RecordKey::segment`].
    pub fn delete(entity_set: &str, key: impl Into<RecordKey>) -> Result<Self> {
        BatchOperation::row(Method::DELETE, entity_set, key)
    }

    /// Reads a row with the `select`ed columns (not allowed inside a change set).
    ///
    /// # Errors
    /// As [`RecordKey::segment`], and for a column that is not an identifier.
    pub fn retrieve(entity_set: &str, key: impl Into<RecordKey>, select: &[&str]) -> Result<Self> {
        let mut op = BatchOperation::row(Method::GET, entity_set, key)?;
        if !select.is_empty() {
            for column in select {
                check_identifier(column, "column")?;
            }
            op.query.push(("$select".to_owned(), select.join(",")));
        }
        Ok(op)
    }

    /// Calls an unbound action.
    ///
    /// # Errors
    /// [`Error::Validation`] for a bad action name.
    pub fn action<B: Serialize + ?Sized>(name: &str, parameters: &B) -> Result<Self> {
        check_identifier(name, "action")?;
        BatchOperation::new(Method::POST, name.to_owned()).with_json(parameters)
    }

    /// Adds a header to this operation (`Prefer: return=representation`, `If-None-Match: *`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn is_write(&self) -> bool {
        self.method != Method::GET
    }
}

#[derive(Debug, Clone)]
enum BatchItem {
    Single(BatchOperation),
    ChangeSet(Vec<BatchOperation>),
}

/// A `$batch` request: operations and change sets, answered with one
/// [`BatchOutcome`] per operation, in order.
///
/// `Prefer: odata.continue-on-error` is sent by default, so one failure does not stop the
/// operations after it; operations the service never reached are
/// [`BatchOutcome::NotExecuted`].
///
/// ```no_run
/// use cosell::dataverse::{Batch, BatchOperation, BatchOutcome};
///
/// # async fn run(dataverse: cosell::dataverse::Dataverse, id: uuid::Uuid) -> cosell::Result<()> {
/// let batch = Batch::new()
///     .change_set([
///         BatchOperation::create("accounts", &serde_json::json!({"name": "Fabrikam"}))?,
///         BatchOperation::update("opportunities", id, &serde_json::json!({"closeprobability": 80}))?,
///     ])
///     .operation(BatchOperation::retrieve("opportunities", id, &["name"])?);
/// for outcome in dataverse.execute_batch(&batch).await? {
///     match outcome {
///         BatchOutcome::Succeeded(response) => println!("{}", response.status),
///         BatchOutcome::Failed(error) => println!("failed: {error}"),
///         other => println!("{other:?}"),
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Batch {
    items: Vec<BatchItem>,
    continue_on_error: bool,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            items: Vec::new(),
            continue_on_error: true,
        }
    }
}

impl Batch {
    /// An empty batch that continues on error.
    pub fn new() -> Self {
        Batch::default()
    }

    /// Adds an operation on its own.
    pub fn operation(mut self, operation: BatchOperation) -> Self {
        self.items.push(BatchItem::Single(operation));
        self
    }

    /// Adds a change set: its operations succeed or fail together. An empty change set is
    /// left out.
    pub fn change_set(mut self, operations: impl IntoIterator<Item = BatchOperation>) -> Self {
        let operations: Vec<BatchOperation> = operations.into_iter().collect();
        if !operations.is_empty() {
            self.items.push(BatchItem::ChangeSet(operations));
        }
        self
    }

    /// Whether the service goes on after a failed operation (default `true`).
    pub fn continue_on_error(mut self, continue_on_error: bool) -> Self {
        self.continue_on_error = continue_on_error;
        self
    }

    /// How many operations the batch holds.
    pub fn len(&self) -> usize {
        self.items
            .iter()
            .map(|item| match item {
                BatchItem::Single(_) => 1,
                BatchItem::ChangeSet(ops) => ops.len(),
            })
            .sum()
    }

    /// Whether the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn check(&self) -> Result<()> {
        if self.is_empty() {
            return Err(Error::validation("a batch needs at least one operation"));
        }
        if self.len() > MAX_BATCH_OPERATIONS {
            return Err(Error::validation(format!(
                "a batch holds at most {MAX_BATCH_OPERATIONS} operations, not {}",
                self.len()
            )));
        }
        let get_in_change_set = self.items.iter().any(|item| match item {
            BatchItem::ChangeSet(ops) => ops.iter().any(|op| !op.is_write()),
            BatchItem::Single(_) => false,
        });
        if get_in_change_set {
            return Err(Error::validation("a change set cannot hold a GET"));
        }
        Ok(())
    }

    /// The multipart body and its boundary.
    fn encode(&self, base: &Url, marking: &WriteOptions) -> Result<(String, Vec<u8>)> {
        let boundary = format!("batch_{}", Uuid::new_v4());
        let mut out = String::new();
        let mut content_id = 0usize;
        for item in &self.items {
            out.push_str(&format!("--{boundary}\r\n"));
            match item {
                BatchItem::Single(op) => encode_operation(&mut out, op, None, base, marking)?,
                BatchItem::ChangeSet(ops) => {
                    let change_set = format!("changeset_{}", Uuid::new_v4());
                    out.push_str(&format!(
                        "Content-Type: multipart/mixed; boundary={change_set}\r\n\r\n"
                    ));
                    for op in ops {
                        content_id += 1;
                        out.push_str(&format!("--{change_set}\r\n"));
                        encode_operation(&mut out, op, Some(content_id), base, marking)?;
                    }
                    out.push_str(&format!("--{change_set}--\r\n"));
                }
            }
        }
        out.push_str(&format!("--{boundary}--\r\n"));
        // Grown by doubling: the room left over would be held as long as the request.
        out.shrink_to_fit();
        Ok((boundary, out.into_bytes()))
    }
}

fn encode_operation(
    out: &mut String,
    op: &BatchOperation,
    content_id: Option<usize>,
    base: &Url,
    marking: &WriteOptions,
) -> Result<()> {
    out.push_str("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n");
    if let Some(id) = content_id {
        out.push_str(&format!("Content-ID: {id}\r\n"));
    }
    out.push_str("\r\n");
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| Error::config("the base URL cannot take a path"))?
        .pop_if_empty()
        .push(&op.segment);
    let mut query = op.query.clone();
    if let Some(tag) = marking.origin_tag().filter(|_| op.is_write()) {
        query.push(("tag".to_owned(), tag.to_owned()));
    }
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(&query);
    }
    out.push_str(&format!(
        "{} {} HTTP/1.1\r\n",
        op.method,
        &url[Position::BeforePath..]
    ));
    out.push_str("Accept: application/json\r\n");
    for (name, value) in &op.headers {
        if name.contains(['\r', '\n', ':']) || value.contains(['\r', '\n']) {
            return Err(Error::validation(format!(
                "batch header `{name}` has an invalid name or value"
            )));
        }
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if op.is_write() && marking.flows_suppressed() {
        out.push_str(&format!("{SUPPRESS_FLOWS_HEADER}: true\r\n"));
    }
    match &op.body {
        Some(body) => {
            out.push_str("Content-Type: application/json; type=entry\r\n\r\n");
            // serde_json output is UTF-8.
            out.push_str(&String::from_utf8_lossy(body));
            out.push_str("\r\n");
        }
        None => out.push_str("\r\n"),
    }
    Ok(())
}

/// The answer to one operation of a batch.
#[derive(Debug, Clone)]
pub struct BatchResponse {
    /// The operation's status.
    pub status: StatusCode,
    /// The operation's response headers.
    pub headers: HeaderMap,
    /// The operation's response body.
    pub body: Bytes,
    /// The `Content-ID` of the part (operations in change sets).
    pub content_id: Option<String>,
}

impl BatchResponse {
    /// Decodes the body as JSON.
    ///
    /// # Errors
    /// A decode error naming the JSON path.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        decode_json(&self.body).map_err(|e| match e {
            Error::Decode(mut d) => {
                d.status = Some(self.status);
                d.origin = DecodeOrigin::Response;
                Error::Decode(d)
            }
            other => other,
        })
    }

    /// The `OData-EntityId` (or `Location`) header: the URL of a created or updated row.
    pub fn entity_id(&self) -> Option<&str> {
        ["odata-entityid", "location"]
            .iter()
            .find_map(|name| self.headers.get(*name).and_then(|v| v.to_str().ok()))
    }

    /// The GUID in the `OData-EntityId`, when it holds one.
    pub fn id(&self) -> Option<Uuid> {
        self.entity_id().and_then(id_from_entity_id)
    }

    fn error(&self) -> Error {
        let profile = DataverseProfile;
        let request_id = profile
            .request_id_headers()
            .iter()
            .find_map(|name| self.headers.get(*name).and_then(|v| v.to_str().ok()))
            .map(str::to_owned);
        crate::http::part_error(&profile, self.status, &self.body, request_id)
    }
}

/// What became of one operation of a batch.
#[derive(Debug)]
pub enum BatchOutcome {
    /// It succeeded (and, in a change set, so did the rest of the set).
    Succeeded(BatchResponse),
    /// It failed with this error.
    Failed(Error),
    /// It was in a change set where another operation failed, so it was rolled back.
    RolledBack,
    /// The service stopped before reaching it (without continue-on-error).
    NotExecuted,
}

impl BatchOutcome {
    /// Whether the operation succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self, BatchOutcome::Succeeded(_))
    }
}

/// One top-level part of a batch answer.
#[derive(Debug, Clone)]
pub enum BatchPart {
    /// The answer to an operation on its own.
    Response(BatchResponse),
    /// The answers to the operations of a change set.
    ChangeSet(Vec<BatchResponse>),
}

/// Reads a `multipart/mixed` batch answer. Tolerant of `\n` line ends; anything that is not a
/// readable answer is a decode error, never a panic. The answer must be UTF-8, as the JSON
/// bodies of its parts are: bytes that are not are refused, not replaced.
///
/// ```
/// let body = "--b1\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n\
///             OData-EntityId: https://x/api/data/v9.2/accounts(c0ffee00-3333-4a5e-8f00-0123456789ab)\r\n\r\n\r\n--b1--\r\n";
/// let parts = cosell::dataverse::read_batch_response("multipart/mixed; boundary=b1", body.as_bytes()).unwrap();
/// assert_eq!(parts.len(), 1);
/// ```
///
/// # Errors
/// [`Error::Decode`] for a content type without a boundary, an answer that is not UTF-8 or
/// is cut off before its closing boundary, or a part that is not an HTTP answer.
pub fn read_batch_response(content_type: &str, body: &[u8]) -> Result<Vec<BatchPart>> {
    // Replacing bad bytes would change the customer data in the parts without a word.
    let text = std::str::from_utf8(body).map_err(|e| {
        let at = format!("the answer is not UTF-8 (byte {})", e.valid_up_to());
        decode_error("$batch", &at, body)
    })?;
    let boundary = boundary_of(content_type)
        .ok_or_else(|| decode_error("Content-Type", "no multipart boundary", body))?;
    // An answer cut off before its closing boundary would make operations that ran look as if
    // they never did: refuse it rather than guess.
    let cut_off = |what| decode_error("$batch", what, body);
    let outer = split_parts(text, &boundary);
    if !outer.complete {
        return Err(cut_off("the batch answer ends before its closing boundary"));
    }
    let mut parts = Vec::new();
    for part in outer.parts {
        let (headers, content) = split_head(part);
        let part_type = header_value(headers, "content-type").unwrap_or_default();
        if part_type
            .to_ascii_lowercase()
            .starts_with("multipart/mixed")
        {
            let inner = boundary_of(&part_type)
                .ok_or_else(|| decode_error("Content-Type", "no change set boundary", body))?;
            let change_set = split_parts(content, &inner);
            if !change_set.complete {
                return Err(cut_off("a change set ends before its closing boundary"));
            }
            let responses = change_set
                .parts
                .into_iter()
                .map(|p| read_http_part(p, body))
                .collect::<Result<Vec<_>>>()?;
            parts.push(BatchPart::ChangeSet(responses));
        } else {
            parts.push(BatchPart::Response(read_http_part(part, body)?));
        }
    }
    Ok(parts)
}

fn decode_error(path: &str, message: &str, body: &[u8]) -> Error {
    Error::from(DecodeError {
        path: path.to_owned(),
        message: message.to_owned(),
        status: None,
        request_id: None,
        body_excerpt: body_excerpt(body),
        origin: DecodeOrigin::Input,
    })
}

fn header_lines(head: &str) -> impl Iterator<Item = (&str, &str)> {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim(), v.trim()))
}

fn header_value(head: &str, name: &str) -> Option<String> {
    header_lines(head)
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.to_owned())
}

fn read_http_part(part: &str, whole: &[u8]) -> Result<BatchResponse> {
    let (mime_head, http) = split_head(part);
    let content_id = header_value(mime_head, "content-id");
    let (head, body) = split_head(http);
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .filter(|_| status_line.starts_with("HTTP/"))
        .ok_or_else(|| decode_error("$batch", "a part is not an HTTP answer", whole))?;
    let mut headers = HeaderMap::new();
    for (name, value) in header_lines(lines.collect::<Vec<_>>().join("\n").as_str()) {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.append(n, v);
        }
    }
    let body = body
        .strip_suffix("\r\n")
        .or_else(|| body.strip_suffix('\n'))
        .unwrap_or(body);
    Ok(BatchResponse {
        status,
        headers,
        body: Bytes::copy_from_slice(body.trim().as_bytes()),
        content_id,
    })
}

fn outcome(response: BatchResponse) -> BatchOutcome {
    if response.status.is_success() {
        BatchOutcome::Succeeded(response)
    } else {
        BatchOutcome::Failed(response.error())
    }
}

impl Dataverse {
    /// Sends a `$batch` and answers one [`BatchOutcome`] per operation, in the order added.
    /// Writes carry the client's origin marking.
    ///
    /// ```no_run
    /// use cosell::dataverse::{Batch, BatchOperation};
    ///
    /// # async fn run(dataverse: cosell::dataverse::Dataverse) -> cosell::Result<()> {
    /// let batch = Batch::new().operation(BatchOperation::create("accounts", &serde_json::json!({"name": "A"}))?);
    /// let outcomes = dataverse.execute_batch(&batch).await?;
    /// assert_eq!(outcomes.len(), 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Validation`] for an empty batch, more than [`MAX_BATCH_OPERATIONS`] operations,
    /// or a GET in a change set; the service's refusal of the whole batch; a decode error for an
    /// unreadable answer.
    pub async fn execute_batch(&self, batch: &Batch) -> Result<Vec<BatchOutcome>> {
        let (boundary, body) = self.encode_batch(batch)?;
        self.send_batch(
            boundary,
            body,
            &shape(&batch.items),
            batch.continue_on_error,
        )
        .await
    }

    /// [`execute_batch`](Self::execute_batch), taking the batch: its operations are let go once
    /// encoded, so a large batch is held once (as the request) while it is sent, not twice.
    ///
    /// # Errors
    /// As [`execute_batch`](Self::execute_batch).
    pub async fn execute_batch_owned(&self, batch: Batch) -> Result<Vec<BatchOutcome>> {
        let (boundary, body) = self.encode_batch(&batch)?;
        let shape = shape(&batch.items);
        let continue_on_error = batch.continue_on_error;
        drop(batch);
        self.send_batch(boundary, body, &shape, continue_on_error)
            .await
    }

    fn encode_batch(&self, batch: &Batch) -> Result<(String, Vec<u8>)> {
        batch.check()?;
        let base = self
            .pipeline()
            .base_url()
            .ok_or_else(|| Error::config("a batch needs a fixed base URL"))?;
        batch.encode(base, self.write_defaults())
    }

    async fn send_batch(
        &self,
        boundary: String,
        body: Vec<u8>,
        shape: &[Shape],
        continue_on_error: bool,
    ) -> Result<Vec<BatchOutcome>> {
        let mut request = self
            .pipeline()
            .post(["$batch"])
            .literal_path()
            .answer_kind(AnswerKind::Listing)
            .operation("dataverse.batch")
            .body(body, &format!("multipart/mixed; boundary={boundary}"));
        if continue_on_error {
            request = request.header("prefer", "odata.continue-on-error");
        }
        // Without continue-on-error the batch's own status is the first failure's; its body is
        // still the multipart answer.
        // 401 and 429 stay errors, so the pipeline can refresh the token or wait and retry.
        for status in [400, 403, 404, 405, 409, 412, 413] {
            if let Ok(status) = StatusCode::from_u16(status) {
                request = request.accept_status(status);
            }
        }
        let response = request.send().await?;
        let content_type = response.header("content-type").unwrap_or_default();
        if !content_type.to_ascii_lowercase().starts_with("multipart/") {
            if response.status.is_success() {
                return Err(response.decode_error("$batch", "the answer is not multipart"));
            }
            return Err(BatchResponse {
                status: response.status,
                headers: response.headers.clone(),
                body: response.body.clone(),
                content_id: None,
            }
            .error());
        }
        let parts =
            read_batch_response(content_type, &response.body).map_err(|e| response.annotate(e))?;
        Ok(match_outcomes(shape, parts))
    }
}

/// What a batch's answer is matched against: each item a single operation or a change set of
/// so many.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Single,
    ChangeSet(usize),
}

fn shape(items: &[BatchItem]) -> Vec<Shape> {
    items
        .iter()
        .map(|item| match item {
            BatchItem::Single(_) => Shape::Single,
            BatchItem::ChangeSet(ops) => Shape::ChangeSet(ops.len()),
        })
        .collect()
}

/// Pairs answers with operations: one outcome per operation, in order.
fn match_outcomes(shape: &[Shape], parts: Vec<BatchPart>) -> Vec<BatchOutcome> {
    let mut parts = parts.into_iter();
    let mut outcomes = Vec::new();
    let mut content_id = 0usize;
    for item in shape {
        match *item {
            Shape::Single => outcomes.push(match parts.next() {
                Some(BatchPart::Response(response)) => outcome(response),
                Some(BatchPart::ChangeSet(mut responses)) if responses.len() == 1 => {
                    outcome(responses.remove(0))
                }
                _ => BatchOutcome::NotExecuted,
            }),
            Shape::ChangeSet(ops) => {
                let first_id = content_id + 1;
                content_id += ops;
                let responses = match parts.next() {
                    Some(BatchPart::ChangeSet(responses)) => responses,
                    Some(BatchPart::Response(response)) => vec![response],
                    None => Vec::new(),
                };
                outcomes.extend(change_set_outcomes(ops, first_id, responses));
            }
        }
    }
    outcomes
}

fn change_set_outcomes(
    count: usize,
    first_id: usize,
    responses: Vec<BatchResponse>,
) -> Vec<BatchOutcome> {
    if responses.is_empty() {
        return (0..count).map(|_| BatchOutcome::NotExecuted).collect();
    }
    let failed = responses.iter().any(|r| !r.status.is_success());
    let mut slots: Vec<Option<BatchResponse>> = (0..count).map(|_| None).collect();
    let mut unplaced = Vec::new();
    for response in responses {
        let slot = response
            .content_id
            .as_deref()
            .and_then(|id| id.trim().parse::<usize>().ok())
            .and_then(|id| id.checked_sub(first_id))
            .filter(|i| *i < count && slots[*i].is_none());
        match slot {
            Some(i) => slots[i] = Some(response),
            None => unplaced.push(response),
        }
    }
    // Answers without a usable Content-ID fill the remaining slots in order.
    let mut unplaced = unplaced.into_iter();
    for slot in slots.iter_mut().filter(|s| s.is_none()) {
        *slot = unplaced.next();
    }
    slots
        .into_iter()
        .map(|slot| match slot {
            Some(response) if !response.status.is_success() => {
                BatchOutcome::Failed(response.error())
            }
            Some(response) if !failed => BatchOutcome::Succeeded(response),
            _ if failed => BatchOutcome::RolledBack,
            _ => BatchOutcome::NotExecuted,
        })
        .collect()
}
