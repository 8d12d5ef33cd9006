//! Emulated Dataverse Web API (v9.2) of the organisation [`DATAVERSE_ORG_URL`].
//!
//! Speaks the service's wire format, so a Dataverse Web API client runs against it with only the
//! base URL changed:
//!
//! - any table ([`DataverseControl::add_table`]); seeded: `opportunities` (with the co-sell
//!   columns `cosell_*` and the alternate key `cosell_referralid`), `accounts` (key
//!   `accountnumber`), `contacts` (key `emailaddress1`), `transactioncurrencies` (USD, the base
//!   currency, and EUR; key `isocurrencycode`), `systemusers`, `opportunitycloses`;
//! - create (204 + `OData-EntityId`, or 201 with `Prefer: return=representation`), retrieve
//!   (with `ETag`, 304 on `If-None-Match`), update, upsert by primary or alternate key (204, or
//!   201/200 with the row), create-only (`If-None-Match: *`, 412 when the row exists), update-only
//!   (`If-Match: *`, 404 when missing), `If-Match` with an ETag (412 when stale), delete;
//! - `$filter` (the subset the crate's builder emits), `$select`, `$orderby`, `$top`, `$count`,
//!   paging with `@odata.nextLink` by `Prefer: odata.maxpagesize`, or by 5,000 without it;
//! - `$batch` with change sets (atomic) and `Prefer: odata.continue-on-error`;
//! - the `WinOpportunity` / `LoseOpportunity` actions; `WhoAmI`;
//! - table metadata (`EntityDefinitions(LogicalName='…')`, its attributes and choice options);
//! - `modifiedon`, `createdon`, `versionnumber`, `modifiedby` and ETags maintained on every write;
//!   the `tag` parameter recorded per write ([`DataverseControl::writes`]);
//! - bearer tokens issued by the emulated Entra ID for [`DATAVERSE_ORG_URL`] (scope
//!   `https://emulator.crm.dynamics.com/.default`), 401 otherwise;
//! - Dataverse's error body `{"error":{"code","message"}}` on every failure, injected faults
//!   included.
//!
//! `$expand` takes single-valued navigation properties with an optional `$select`. The bulk
//! messages `CreateMultiple`, `UpdateMultiple` and `UpsertMultiple` are all or nothing, as on
//! standard tables; `EntityDefinitions` can be filtered by name and `$metadata` is a CSDL of the
//! emulated tables. Not emulated: collection-valued `$expand` (answered 400), change tracking,
//! single-property PUT/DELETE, plug-ins.

mod actions;
mod batch;
mod bulk;
mod control;
mod error;
pub(crate) mod filter;
mod index;
mod key;
mod metadata;
mod multipart;
mod query;
mod schema;
mod store;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde_json::{Map, Value, json};

use super::frame::{EmulatedService, ServiceContext, ServiceReply, ServiceRequest};
use super::tokens::{TokenCheck, TokenStore};
use crate::lock;
use error::{BAD_PAYLOAD, DvError, DvResult, REQUEST_LIMIT, set_json_headers};
use key::{RowKey, parse_key_segment};
use query::{Preferences, QueryOptions};
use store::{State, WriteContext};

pub use control::{DataverseControl, DataverseSample};
pub use schema::ColumnKind;
pub use store::{DataverseWrite, DataverseWriteSource};

/// The emulated organisation: tokens must be issued for this audience (scope
/// `https://emulator.crm.dynamics.com/.default`), and it is the origin a real client would use.
pub const DATAVERSE_ORG_URL: &str = "https://emulator.crm.dynamics.com";

/// The path every Web API request starts with.
const API_PATH: &str = "/api/data/v9.2/";

/// What an entity URL escapes in key values.
const ENTITY_URL_ESCAPES: &percent_encoding::AsciiSet =
    &percent_encoding::CONTROLS.add(b' ').add(b'"').add(b'%');

/// The header that keeps a write from triggering flows.
const SUPPRESS_FLOWS: &str = "mscrm.suppresscallbackregistrationexpanderjob";

/// One request to the Web API, from the wire or from inside a `$batch`.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: Method,
    /// Decoded path segments below the API path.
    pub(crate) segments: Vec<String>,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// The Web API base as the client addressed it (`https://127.0.0.1:<port>/api/data/v9.2/`):
    /// links in answers follow the scheme of the request.
    pub(crate) base: String,
}

impl Call {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn prefs(&self) -> Preferences {
        // Several `Prefer` headers count as one comma-separated list.
        let joined = self
            .headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        Preferences::parse(Some(&joined))
    }

    /// A conditional header, ignoring the `null` clients send to defeat caching.
    fn condition(&self, name: &str) -> Option<&str> {
        self.header(name).filter(|v| *v != "null")
    }

    fn write_context(&self) -> WriteContext {
        WriteContext {
            tag: self.param("tag").map(str::to_owned),
            flows_suppressed: self
                .header(SUPPRESS_FLOWS)
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            ..WriteContext::default()
        }
    }

    fn json_object(&self) -> DvResult<Map<String, Value>> {
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(DvError::bad_request(
                BAD_PAYLOAD,
                "The request body must be a JSON object.",
            )),
            Err(e) => Err(DvError::bad_request(
                BAD_PAYLOAD,
                format!("Error identified in Payload provided by the user: {e}"),
            )),
        }
    }
}

/// What a call is counted as.
fn classify(call: &Call, state: &State) -> &'static str {
    let Some(first) = call.segments.first() else {
        return "dataverse.service_document";
    };
    if call.segments.len() == 1 && first == "$batch" {
        return "dataverse.batch";
    }
    if first.starts_with("EntityDefinitions") {
        return "dataverse.metadata";
    }
    if call.segments.len() == 1 && first == "$metadata" && call.method == Method::GET {
        return "dataverse.csdl";
    }
    if let [set, action] = call.segments.as_slice()
        && call.method == Method::POST
        && state.table(set).is_some()
        && let Some(message) = bulk::message(action)
    {
        return message;
    }
    if call.segments.len() > 1 {
        return "dataverse.unsupported";
    }
    let keyed = first.contains('(');
    match call.method {
        Method::GET if first == "WhoAmI" => "dataverse.whoami",
        Method::GET if keyed => "dataverse.retrieve",
        Method::GET => "dataverse.query",
        Method::POST if !keyed && state.table(first).is_none() => "dataverse.action",
        Method::POST => "dataverse.create",
        Method::PATCH if call.condition("if-match").is_some() => "dataverse.update",
        Method::PATCH if call.condition("if-none-match") == Some("*") => "dataverse.create_only",
        Method::PATCH => "dataverse.upsert",
        Method::DELETE => "dataverse.delete",
        _ => "dataverse.unsupported",
    }
}

/// The emulated Web API.
struct DataverseService {
    state: Arc<Mutex<State>>,
    tokens: Arc<TokenStore>,
    /// The token audiences accepted: the emulated organisation, and the origins the emulator
    /// serves it on (a client asks a token for the org URL it talks to).
    audiences: Vec<String>,
}

impl DataverseService {
    fn call_of(request: &ServiceRequest) -> Option<Call> {
        let rest = request.path.strip_prefix(API_PATH)?;
        let segments = rest
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        Some(Call {
            method: request.method.clone(),
            segments,
            query: request.query_pairs(),
            headers: request.headers.clone(),
            body: request.body.clone(),
            base: format!("{}{API_PATH}", request.origin()),
        })
    }

    /// Answers one call against `state`.
    fn execute(&self, state: &mut State, call: &Call, ctx: &WriteContext) -> ServiceReply {
        let operation = classify(call, state);
        let result = match operation {
            "dataverse.batch" => return batch::execute(self, state, call),
            "dataverse.metadata" => metadata::answer(state, call, operation, &call.base),
            "dataverse.csdl" => Ok(metadata::csdl(state, operation)),
            "dataverse.action" => actions::answer(state, call, ctx, operation),
            "dataverse.whoami" => Ok(json_reply(
                operation,
                StatusCode::OK,
                json!({
                    "@odata.context": format!("{}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse", call.base),
                    "BusinessUnitId": store::BUSINESS_UNIT,
                    "UserId": store::APPLICATION_USER,
                    "OrganizationId": store::ORGANIZATION,
                }),
            )),
            "dataverse.query" => self.query(state, call, operation),
            "dataverse.retrieve" => self.retrieve(state, call, operation),
            "dataverse.create" => self.create(state, call, ctx, operation),
            "dataverse.update" | "dataverse.create_only" | "dataverse.upsert" => {
                self.patch(state, call, ctx, operation)
            }
            "dataverse.delete" => self.delete(state, call, ctx, operation),
            "dataverse.create_multiple"
            | "dataverse.update_multiple"
            | "dataverse.upsert_multiple" => bulk::execute(state, call, ctx, operation, &call.base),
            _ => Err(match call.segments.first() {
                Some(segment) if call.segments.len() == 1 => DvError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    error::ODATA_ERROR,
                    format!(
                        "The HTTP method '{}' is not allowed for the segment '{segment}'.",
                        call.method
                    ),
                ),
                Some(_) => DvError::odata(format!(
                    "The emulator does not serve '{}'.",
                    call.segments.join("/")
                )),
                None => DvError::no_segment(""),
            }),
        };
        let reply = result.unwrap_or_else(|e| e.reply(operation));
        if reply.status != StatusCode::METHOD_NOT_ALLOWED {
            return reply;
        }
        let allow = match call.segments.first() {
            Some(segment) if segment.contains('(') => "GET, PATCH, DELETE",
            Some(segment) if segment == "$batch" => "POST",
            _ => "GET, POST",
        };
        reply.with_header("allow", allow)
    }

    /// The table and key a keyed segment (`opportunities(<key>)`) names.
    fn keyed<'a>(&self, state: &'a State, segment: &str) -> DvResult<(&'a store::Table, RowKey)> {
        let (set, key) = parse_key_segment(segment).ok_or_else(|| {
            let set = segment.split('(').next().unwrap_or_default();
            match state.table(set) {
                Some(table) => store::invalid_key(&table.def),
                None => DvError::no_segment(segment),
            }
        })?;
        let table = state.require_table(&set)?;
        Ok((table, key))
    }

    fn query(&self, state: &State, call: &Call, operation: &'static str) -> DvResult<ServiceReply> {
        let set = &call.segments[0];
        let table = state.require_table(set)?;
        let options = QueryOptions::parse(&call.query, &table.def, state)?;
        let prefs = call.prefs();
        let rows = query::select_rows(table, &options, state);
        let total = rows.len();
        // Without `odata.maxpagesize` the service still pages, by 5,000, unless `$top` caps
        // the answer.
        let page_size = prefs.max_page_size.or(match options.top {
            Some(_) => None,
            None => Some(query::MAX_PAGE_SIZE),
        });
        let (page_rows, next) = match page_size {
            // `$top` is ignored with a page size.
            Some(size) => {
                let start = options.page * size;
                let page: Vec<_> = rows.iter().skip(start).take(size).copied().collect();
                let more = start + size < total;
                (page, more.then_some(options.page + 2))
            }
            None => {
                let limit = options
                    .top
                    .unwrap_or(query::MAX_PAGE_SIZE)
                    .min(query::MAX_PAGE_SIZE);
                (rows.iter().take(limit).copied().collect(), None)
            }
        };
        let select = options.select.as_deref();
        let values: Vec<Value> = page_rows
            .iter()
            .map(|row| {
                let mut out = query::render(&table.def, row, select, &prefs, state);
                query::expand_into(&mut out, row, &options.expand, &prefs, state);
                Value::Object(out)
            })
            .collect();
        let mut body = Map::new();
        body.insert(
            "@odata.context".into(),
            query::context(&call.base, &table.def, select, false).into(),
        );
        if options.count {
            body.insert(
                "@odata.count".into(),
                total.min(query::MAX_PAGE_SIZE).into(),
            );
        }
        body.insert("value".into(), values.into());
        if let Some(page) = next {
            let mut url = url::Url::parse(&entity_url(&call.base, set))
                .map_err(|e| DvError::odata(e.to_string()))?;
            {
                let mut pairs = url.query_pairs_mut();
                for (k, v) in call.query.iter().filter(|(k, _)| k != "$skiptoken") {
                    pairs.append_pair(k, v);
                }
                pairs.append_pair("$skiptoken", &query::skip_token(page));
            }
            body.insert("@odata.nextLink".into(), url.to_string().into());
        }
        let mut reply = json_reply(operation, StatusCode::OK, Value::Object(body));
        let mut applied = Vec::new();
        if let Some(size) = prefs.max_page_size {
            applied.push(format!("odata.maxpagesize={size}"));
        }
        if let Some(pattern) = &prefs.annotations {
            applied.push(format!("odata.include-annotations=\"{pattern}\""));
        }
        if !applied.is_empty() {
            reply = reply.with_header("preference-applied", &applied.join(","));
        }
        Ok(reply)
    }

    fn retrieve(
        &self,
        state: &State,
        call: &Call,
        operation: &'static str,
    ) -> DvResult<ServiceReply> {
        let (table, key) = self.keyed(state, &call.segments[0])?;
        let options = QueryOptions::parse(&call.query, &table.def, state)?;
        let row = state
            .find(&table.def.entity_set, &key)?
            .and_then(|i| table.rows().get(i))
            .ok_or_else(|| DvError::not_found(&table.def.logical_name, &key))?;
        let prefs = call.prefs();
        // Never 304 with `$expand` or annotations.
        if let Some(etag) = call.condition("if-none-match")
            && prefs.annotations.is_none()
            && options.expand.is_empty()
            && (etag == "*" || etag == row.etag())
        {
            return Ok(ServiceReply::empty(operation, StatusCode::NOT_MODIFIED)
                .with_header("etag", &row.etag()));
        }
        Ok(self.row_reply(
            call,
            state,
            &table.def,
            row,
            &options,
            &prefs,
            operation,
            StatusCode::OK,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn row_reply(
        &self,
        call: &Call,
        state: &State,
        def: &schema::TableDef,
        row: &store::Row,
        options: &QueryOptions,
        prefs: &Preferences,
        operation: &'static str,
        status: StatusCode,
    ) -> ServiceReply {
        let select = options.select.as_deref();
        let mut body = Map::new();
        body.insert(
            "@odata.context".into(),
            query::context(&call.base, def, select, true).into(),
        );
        body.extend(query::render(def, row, select, prefs, state));
        query::expand_into(&mut body, row, &options.expand, prefs, state);
        json_reply(operation, status, Value::Object(body)).with_header("etag", &row.etag())
    }

    fn create(
        &self,
        state: &mut State,
        call: &Call,
        ctx: &WriteContext,
        operation: &'static str,
    ) -> DvResult<ServiceReply> {
        let set = call.segments[0].clone();
        let def = state.require_table(&set)?.def.clone();
        let options = QueryOptions::parse(&call.query, &def, state)?;
        let body = call.json_object()?;
        let id = state.create(&set, &body, &merge(ctx, call), false)?;
        let prefs = call.prefs();
        if prefs.return_representation {
            let table = state.require_table(&set)?;
            if let Some(row) = table.row(id) {
                return Ok(self
                    .row_reply(
                        call,
                        state,
                        &def,
                        row,
                        &options,
                        &prefs,
                        operation,
                        StatusCode::CREATED,
                    )
                    .with_header("preference-applied", "return=representation"));
            }
        }
        Ok(ServiceReply::empty(operation, StatusCode::NO_CONTENT)
            .with_header("odata-version", "4.0")
            .with_header(
                "odata-entityid",
                &entity_url(&call.base, &format!("{set}({id})")),
            ))
    }

    fn patch(
        &self,
        state: &mut State,
        call: &Call,
        ctx: &WriteContext,
        operation: &'static str,
    ) -> DvResult<ServiceReply> {
        let segment = call.segments[0].clone();
        let (table, key) = self.keyed(state, &segment)?;
        let def = table.def.clone();
        let mut options = QueryOptions::parse(&call.query, &def, state)?;
        // `$expand` is ignored on PATCH.
        options.expand.clear();
        let mut body = call.json_object()?;
        let index = state.find(&def.entity_set, &key)?;
        let current_etag = index
            .and_then(|i| table.rows().get(i))
            .map(store::Row::etag);
        let ctx = merge(ctx, call);
        let if_match = call.condition("if-match");
        let if_none_match = call.condition("if-none-match");
        let (index, created) = match index {
            Some(index) => {
                if if_none_match == Some("*") {
                    return Err(DvError::already_exists());
                }
                if let Some(etag) = if_match
                    && etag != "*"
                    && current_etag.as_deref() != Some(etag)
                {
                    return Err(DvError::version_mismatch());
                }
                // Key columns in the body of an update are ignored.
                if let RowKey::Alternate(columns) = &key {
                    for (column, _) in columns {
                        body.remove(column);
                    }
                }
                state.update(&def.entity_set, index, &body, &ctx)?;
                (index, false)
            }
            None => {
                if if_match.is_some() {
                    return Err(DvError::not_found(&def.logical_name, &key));
                }
                // The key's values, unless the body gives them.
                match &key {
                    RowKey::Id(id) => {
                        body.insert(def.primary_id.clone(), id.to_string().into());
                    }
                    RowKey::Alternate(columns) => {
                        for (column, literal) in columns {
                            // A lookup key column is set through its navigation property.
                            let target = match def.by_property(column).map(|c| &c.kind) {
                                Some(schema::ColumnKind::Lookup(targets)) => targets.first(),
                                _ => None,
                            };
                            match (target, literal) {
                                (Some((nav, set)), filter::Literal::Guid(id)) => {
                                    let bind = format!("{nav}@odata.bind");
                                    if !body.contains_key(&bind) {
                                        body.insert(bind, format!("/{set}({id})").into());
                                    }
                                }
                                _ if !body.contains_key(column) => {
                                    body.insert(column.clone(), literal_json(literal));
                                }
                                _ => {}
                            }
                        }
                    }
                }
                let id = state.create(&def.entity_set, &body, &ctx, false)?;
                let index = state
                    .require_table(&def.entity_set)?
                    .position(id)
                    .unwrap_or_default();
                (index, true)
            }
        };
        let prefs = call.prefs();
        let table = state.require_table(&def.entity_set)?;
        if prefs.return_representation
            && let Some(row) = table.rows().get(index)
        {
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            return Ok(self
                .row_reply(call, state, &def, row, &options, &prefs, operation, status)
                .with_header("preference-applied", "return=representation"));
        }
        Ok(ServiceReply::empty(operation, StatusCode::NO_CONTENT)
            .with_header("odata-version", "4.0")
            .with_header("odata-entityid", &entity_url(&call.base, &segment)))
    }

    fn delete(
        &self,
        state: &mut State,
        call: &Call,
        ctx: &WriteContext,
        operation: &'static str,
    ) -> DvResult<ServiceReply> {
        let (table, key) = self.keyed(state, &call.segments[0])?;
        let def = table.def.clone();
        let index = state
            .find(&def.entity_set, &key)?
            .ok_or_else(|| DvError::not_found(&def.logical_name, &key))?;
        if let Some(etag) = call.condition("if-match")
            && etag != "*"
            && table.rows().get(index).is_some_and(|r| r.etag() != etag)
        {
            return Err(DvError::version_mismatch());
        }
        state.delete(&def.entity_set, index, &merge(ctx, call));
        Ok(ServiceReply::empty(operation, StatusCode::NO_CONTENT)
            .with_header("odata-version", "4.0"))
    }
}

/// The absolute URL of a row below `base`; key values outside printable ASCII are
/// percent-encoded.
fn entity_url(base: &str, segment: &str) -> String {
    format!(
        "{base}{}",
        percent_encoding::utf8_percent_encode(segment, ENTITY_URL_ESCAPES)
    )
}

/// The write marking of a call, with the Content-IDs of its change set.
fn merge(ctx: &WriteContext, call: &Call) -> WriteContext {
    WriteContext {
        content_ids: ctx.content_ids.clone(),
        ..call.write_context()
    }
}

fn literal_json(literal: &filter::Literal) -> Value {
    use filter::Literal as L;
    match literal {
        L::Null => Value::Null,
        L::Bool(b) => (*b).into(),
        L::Int(i) => (*i).into(),
        L::Decimal(d) => serde_json::from_str(&d.to_string()).unwrap_or(Value::Null),
        L::Text(t) => t.clone().into(),
        L::Guid(g) => g.to_string().into(),
        L::Date(d) => d.to_string().into(),
        L::Timestamp(t) => t.to_string().into(),
    }
}

/// A JSON answer with Dataverse's headers.
pub(crate) fn json_reply(operation: &'static str, status: StatusCode, body: Value) -> ServiceReply {
    let mut reply = ServiceReply::json(operation, status, &body);
    set_json_headers(&mut reply);
    reply
}

#[async_trait]
impl EmulatedService for DataverseService {
    fn operation(&self, request: &ServiceRequest) -> &'static str {
        match Self::call_of(request) {
            Some(call) => classify(&call, &lock(&self.state)),
            None => "dataverse.not_found",
        }
    }

    async fn handle(&self, request: ServiceRequest) -> ServiceReply {
        let Some(call) = Self::call_of(&request) else {
            return DvError::no_segment(request.path.trim_start_matches('/'))
                .reply("dataverse.not_found");
        };
        let mut state = lock(&self.state);
        let operation = classify(&call, &state);
        let audiences: Vec<&str> = self.audiences.iter().map(String::as_str).collect();
        let check = self.tokens.check_any(&request, &audiences);
        if check != TokenCheck::Valid {
            let message = match check {
                TokenCheck::Missing => "Bearer token is missing.",
                TokenCheck::Expired => "The token is expired.",
                _ => "The token is not valid for this organization.",
            };
            return DvError::new(StatusCode::UNAUTHORIZED, "", message)
                .reply(operation)
                .with_header(
                    "www-authenticate",
                    &format!(
                        "Bearer authorization_uri=https://login.microsoftonline.com/common/oauth2/authorize, resource_id={DATAVERSE_ORG_URL}/"
                    ),
                );
        }
        let mut reply = self.execute(&mut state, &call, &WriteContext::default());
        let created = reply
            .headers
            .get("odata-entityid")
            .and_then(|v| v.to_str().ok())
            .and_then(|url| url.rsplit('/').next())
            .map(|segment| {
                percent_encoding::percent_decode_str(segment)
                    .decode_utf8_lossy()
                    .into_owned()
            });
        let keyed = match call.segments.as_slice() {
            [segment] if segment.contains('(') && !segment.starts_with("EntityDefinitions") => {
                Some(segment.clone())
            }
            _ => None,
        };
        reply.record = keyed.or(created);
        reply
    }

    fn error_reply(
        &self,
        operation: &'static str,
        status: StatusCode,
        message: &str,
    ) -> ServiceReply {
        let error = match status {
            StatusCode::TOO_MANY_REQUESTS => DvError::new(
                status,
                REQUEST_LIMIT,
                "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
            ),
            StatusCode::PRECONDITION_FAILED => DvError::version_mismatch(),
            _ => DvError::new(status, "", message),
        };
        error.reply(operation)
    }
}

/// [`DATAVERSE_ORG_URL`], and `http(s)://127.0.0.1:<port>` and `http(s)://localhost:<port>` of
/// the port serving `base`.
fn audiences(base: &str) -> Vec<String> {
    let mut audiences = vec![DATAVERSE_ORG_URL.to_owned()];
    if let Some(port) = url::Url::parse(base).ok().and_then(|u| u.port()) {
        for scheme in ["https", "http"] {
            for host in ["127.0.0.1", "localhost"] {
                audiences.push(format!("{scheme}://{host}:{port}"));
            }
        }
    }
    audiences
}

pub(crate) fn start(context: &ServiceContext) -> (DataverseControl, Arc<dyn EmulatedService>) {
    let state = Arc::new(Mutex::new(State::seeded(context.clock.clone())));
    let service = DataverseService {
        state: state.clone(),
        tokens: context.tokens.clone(),
        audiences: audiences(&context.urls.dataverse),
    };
    (
        DataverseControl::new(state, context.urls.dataverse.clone()),
        Arc::new(service),
    )
}
