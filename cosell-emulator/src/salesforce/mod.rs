//! Emulated Salesforce REST API (the login endpoint shares its host).
//!
//! Below `/services/data/vNN.N/`: sObject rows (create, retrieve, update, delete, upsert and
//! retrieve by external id), SOQL `query` / `queryAll` with `nextRecordsUrl` paging, sObject
//! Collections, describe and `limits`. Every answer carries `Sforce-Limit-Info`; every failure is
//! Salesforce's error array. `/services/oauth2/*` goes to the shared token endpoints.

mod collections;
mod composite;
mod control;
mod datetime;
mod describe;
mod field_type;
mod identity;
mod limits;
mod query;
mod records;
mod replication;
mod sobjects;
pub(crate) mod soql;
mod store;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use http::{Method, StatusCode};
use serde_json::json;

use super::frame::{EmulatedService, ServiceContext, ServiceReply, ServiceRequest};
use super::tokens::{SALESFORCE_AUDIENCE, TokenCheck, TokenStore};
use crate::lock;
use store::{Org, WriteError};

pub use control::{ApiUsage, SalesforceControl};
pub use field_type::FieldType;
pub(crate) use identity::identity_url;

/// The REST API version the emulator announces and serves by default (it answers any version
/// in `/services/data/vNN.N/`).
pub const API_VERSION: &str = "62.0";
pub use store::RecordedWrite;

/// One REST request, with the parts below `/services/data/vNN.N/`.
pub(crate) struct Call<'a> {
    pub(crate) request: &'a ServiceRequest,
    /// `62.0`.
    pub(crate) version: String,
    /// The decoded path segments after the version.
    pub(crate) rest: Vec<String>,
}

impl Call<'_> {
    fn rest(&self) -> Vec<&str> {
        self.rest.iter().map(String::as_str).collect()
    }

    /// The `Sforce-Call-Options` header.
    pub(crate) fn call_options(&self) -> Option<String> {
        self.request
            .header("sforce-call-options")
            .map(str::to_owned)
    }
}

/// The Salesforce service: login delegated, the REST API emulated on `org`.
struct SalesforceService {
    login: Arc<dyn EmulatedService>,
    tokens: Arc<TokenStore>,
    org: Arc<Mutex<Org>>,
}

fn is_login(request: &ServiceRequest) -> bool {
    request.path.starts_with("/services/oauth2/")
}

/// The REST call, if the path is below `/services/data/vNN.N/`.
fn call_of(request: &ServiceRequest) -> Option<Call<'_>> {
    let segments = request.segments();
    let mut parts = segments.into_iter();
    if parts.next()? != "services" || parts.next()? != "data" {
        return None;
    }
    let version = parts.next()?.strip_prefix('v')?.to_owned();
    let well_formed = version
        .split_once('.')
        .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok());
    well_formed.then(|| Call {
        request,
        version,
        rest: parts.collect(),
    })
}

/// The operation a REST request is counted as.
fn operation_of(call: &Call<'_>) -> &'static str {
    let method = &call.request.method;
    match (method.as_str(), call.rest().as_slice()) {
        ("GET", []) => "resources",
        ("GET", ["sobjects"]) => "describe.global",
        ("GET", ["sobjects", _]) => "sobject.info",
        ("POST", ["sobjects", _]) => "create",
        ("GET", ["sobjects", _, "describe"]) => "describe",
        ("GET", ["sobjects", _, "updated"]) => "replication.updated",
        ("GET", ["sobjects", _, "deleted"]) => "replication.deleted",
        ("GET", ["sobjects", _, _]) => "retrieve",
        ("PATCH", ["sobjects", _, _]) => "update",
        ("DELETE", ["sobjects", _, _]) => "delete",
        ("GET", ["sobjects", _, _, _]) => "retrieve_by_external_id",
        ("PATCH", ["sobjects", _, _, _]) => "upsert",
        ("GET", ["query"]) => "query",
        ("GET", ["query", _]) => "query.next",
        ("GET", ["queryAll"]) => "query_all",
        ("GET", ["queryAll", _]) => "query_all.next",
        ("POST", ["composite", "sobjects"]) => "collections.create",
        ("PATCH", ["composite", "sobjects"]) => "collections.update",
        ("DELETE", ["composite", "sobjects"]) => "collections.delete",
        ("PATCH", ["composite", "sobjects", _, _]) => "collections.upsert",
        ("GET" | "POST", ["composite", "sobjects", _]) => "collections.retrieve",
        ("POST", ["composite"]) => "composite",
        ("GET", ["limits"]) => "limits",
        (_, ["sobjects", ..] | ["query" | "queryAll" | "limits" | "composite", ..] | []) => {
            "method_not_allowed"
        }
        _ => "not_found",
    }
}

/// The methods a path takes, for the `Allow` header of a 405.
fn allowed(rest: &[&str]) -> &'static str {
    match rest {
        ["sobjects", _] => "GET, POST",
        ["sobjects", _, "describe" | "updated" | "deleted"] => "GET",
        ["sobjects", _, _] => "GET, PATCH, DELETE",
        ["sobjects", _, _, _] => "GET, PATCH",
        ["composite", "sobjects"] => "POST, PATCH, DELETE",
        ["composite", "sobjects", _] => "GET, POST",
        ["composite", "sobjects", _, _] => "PATCH",
        ["composite"] => "POST",
        _ => "GET",
    }
}

/// A failure as Salesforce answers it.
pub(crate) fn failure(operation: &'static str, error: &WriteError) -> ServiceReply {
    ServiceReply::json(operation, error.status, &error.to_array())
}

impl SalesforceService {
    /// The identity URL and userinfo: GET, with a session.
    fn who(&self, request: &ServiceRequest, operation: &'static str) -> ServiceReply {
        if request.method != Method::GET {
            return failure(
                operation,
                &WriteError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "METHOD_NOT_ALLOWED",
                    format!(
                        "HTTP Method '{}' not allowed. Allowed are GET",
                        request.method
                    ),
                ),
            )
            .with_header("allow", "GET");
        }
        if self.tokens.check(request, SALESFORCE_AUDIENCE) != TokenCheck::Valid {
            return failure(
                operation,
                &WriteError::new(StatusCode::FORBIDDEN, "Bad_OAuth_Token", "Bad_OAuth_Token"),
            );
        }
        let origin = request.origin();
        let known = request.path == "/services/oauth2/userinfo"
            || identity::identity_url(&origin).ends_with(&request.path);
        match (operation, known) {
            ("userinfo", _) => identity::userinfo(operation, &origin),
            (_, true) => identity::identity(operation, &origin),
            _ => failure(operation, &store::not_found()),
        }
    }

    fn rest(&self, call: &Call<'_>, operation: &'static str) -> ServiceReply {
        let mut org = lock(&self.org);
        let check = self.tokens.check(call.request, SALESFORCE_AUDIENCE);
        let reply = if check != TokenCheck::Valid {
            failure(
                operation,
                &WriteError::new(
                    StatusCode::UNAUTHORIZED,
                    "INVALID_SESSION_ID",
                    "Session expired or invalid",
                ),
            )
        } else if let Some(refused) = limits::charge(&mut org, operation) {
            refused
        } else {
            let mut reply = route(&mut org, call, operation);
            reply.record = touched(&org, call, operation, &reply);
            reply
        };
        limits::with_usage(&org, reply)
    }
}

/// The record a request read or wrote, as `<sObject>/<id>`, for the journal.
fn touched(org: &Org, call: &Call<'_>, operation: &str, reply: &ServiceReply) -> Option<String> {
    let rest = call.rest();
    let sobject = org.schema(rest.get(1)?)?.name.clone();
    let id = match (operation, rest.as_slice()) {
        ("retrieve" | "update" | "delete", [_, _, id]) => (*id).to_owned(),
        ("create" | "upsert", _) => serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()?
            .get("id")?
            .as_str()?
            .to_owned(),
        ("retrieve_by_external_id", [_, _, field, value]) => format!("{field}/{value}"),
        _ => return None,
    };
    Some(format!("{sobject}/{id}"))
}

fn route(org: &mut Org, call: &Call<'_>, operation: &'static str) -> ServiceReply {
    let rest = call.rest();
    match (operation, rest.as_slice()) {
        ("resources", _) => {
            let base = format!("/services/data/v{}", call.version);
            let identity = identity::identity_url(&call.request.origin());
            ServiceReply::json(
                operation,
                StatusCode::OK,
                &json!({
                    "sobjects": format!("{base}/sobjects"),
                    "query": format!("{base}/query"),
                    "queryAll": format!("{base}/queryAll"),
                    "composite": format!("{base}/composite"),
                    "limits": format!("{base}/limits"),
                    "identity": identity,
                }),
            )
        }
        ("describe.global", _) => describe::global(org, operation, &call.version),
        ("sobject.info", [_, sobject]) => describe::info(org, operation, sobject, &call.version),
        ("describe", [_, sobject, _]) => describe::describe(org, operation, sobject, &call.version),
        ("create", [_, sobject]) => sobjects::create(org, call, operation, sobject),
        ("retrieve", [_, sobject, id]) => sobjects::retrieve(org, call, operation, sobject, id),
        ("update", [_, sobject, id]) => sobjects::update(org, call, operation, sobject, id),
        ("delete", [_, sobject, id]) => sobjects::delete(org, call, operation, sobject, id),
        ("retrieve_by_external_id", [_, sobject, field, value]) => {
            sobjects::retrieve_by_external_id(org, call, operation, sobject, field, value)
        }
        ("upsert", [_, sobject, field, value]) => {
            sobjects::upsert(org, call, operation, sobject, field, value)
        }
        ("query" | "query_all", _) => query::first_page(org, call, operation),
        ("query.next" | "query_all.next", [_, locator]) => {
            query::next_page(org, call, operation, locator)
        }
        ("collections.create" | "collections.update" | "collections.delete", _) => {
            collections::handle(org, call, operation, None)
        }
        ("collections.upsert", [_, _, sobject, field]) => {
            collections::handle(org, call, operation, Some((sobject, field)))
        }
        ("collections.retrieve", [_, _, sobject]) => {
            collections::retrieve(org, call, operation, sobject)
        }
        ("replication.updated", [_, sobject, _]) => {
            replication::updated(org, call, operation, sobject)
        }
        ("replication.deleted", [_, sobject, _]) => {
            replication::deleted(org, call, operation, sobject)
        }
        ("composite", _) => composite::handle(org, call, operation),
        ("limits", _) => limits::resource(org, operation),
        ("method_not_allowed", _) => failure(
            operation,
            &WriteError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                format!(
                    "HTTP Method '{}' not allowed. Allowed are {}",
                    call.request.method,
                    allowed(&rest)
                ),
            ),
        )
        .with_header("allow", allowed(&rest)),
        _ => failure(operation, &store::not_found()),
    }
}

#[async_trait]
impl EmulatedService for SalesforceService {
    fn operation(&self, request: &ServiceRequest) -> &'static str {
        if request.path.starts_with("/id/") {
            return "identity";
        }
        if request.path == "/services/oauth2/userinfo" {
            return "userinfo";
        }
        if is_login(request) {
            return self.login.operation(request);
        }
        match call_of(request) {
            Some(call) => operation_of(&call),
            None if request.method == Method::GET
                && request.path.trim_end_matches('/') == "/services/data" =>
            {
                "versions"
            }
            None => "not_found",
        }
    }

    async fn handle(&self, request: ServiceRequest) -> ServiceReply {
        let operation = self.operation(&request);
        if matches!(operation, "identity" | "userinfo") {
            return self.who(&request, operation);
        }
        if is_login(&request) {
            return self.login.handle(request).await;
        }
        let reply = match call_of(&request) {
            Some(call) => return self.rest(&call, operation),
            // The versions list needs no session and is not counted against the limits.
            None if operation == "versions" => ServiceReply::json(
                operation,
                StatusCode::OK,
                &json!([{
                    "label": "Winter '25",
                    "url": format!("/services/data/v{}", API_VERSION),
                    "version": API_VERSION,
                }]),
            ),
            None => failure(operation, &store::not_found()),
        };
        limits::with_usage(&lock(&self.org), reply)
    }

    fn error_reply(
        &self,
        operation: &'static str,
        status: StatusCode,
        message: &str,
    ) -> ServiceReply {
        let code = match status {
            StatusCode::PRECONDITION_FAILED => "PRECONDITION_FAILED",
            StatusCode::SERVICE_UNAVAILABLE => "SERVER_UNAVAILABLE",
            StatusCode::TOO_MANY_REQUESTS => "REQUEST_LIMIT_EXCEEDED",
            _ => "UNKNOWN_EXCEPTION",
        };
        let reply = failure(operation, &WriteError::new(status, code, message));
        limits::with_usage(&lock(&self.org), reply)
    }
}

pub(crate) fn start(
    context: &ServiceContext,
    login: Arc<dyn EmulatedService>,
) -> (SalesforceControl, Arc<dyn EmulatedService>) {
    let org = Arc::new(Mutex::new(Org::new(context.clock.clone())));
    let service = SalesforceService {
        login,
        tokens: context.tokens.clone(),
        org: org.clone(),
    };
    (SalesforceControl::new(org), Arc::new(service))
}
