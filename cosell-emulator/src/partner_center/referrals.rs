//! The referrals API: list, get, create, JSON Patch, legacy PUT.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::events::{self, Change};
use super::store::{Document, Origin, text};
use super::{PartnerCenterState, Tenant, patch, query, schema, transitions};
use crate::frame::{EmulatedService, ServiceReply, ServiceRequest};
use crate::lock;
use crate::tokens::TokenCheck;

/// The token audience of the referrals API.
pub(crate) const AUDIENCE: &str = "https://api.partner.microsoft.com";

/// Partner Center's error body: `{"error": {code, message, target, innerError}}`.
fn error(operation: &'static str, status: StatusCode, code: &str, message: &str) -> ServiceReply {
    ServiceReply::json(
        operation,
        status,
        &json!({"error": {"code": code, "message": message, "target": "referral"}}),
    )
}

/// A value of the wrong type: 400 naming the field, as the service's model binding does.
fn wrong_type(operation: &'static str, (target, message): schema::Refusal) -> ServiceReply {
    ServiceReply::json(
        operation,
        StatusCode::BAD_REQUEST,
        &json!({"error": {"code": "invalidRequest", "message": message, "target": target}}),
    )
}

fn bad_request(operation: &'static str, message: &str) -> ServiceReply {
    error(
        operation,
        StatusCode::BAD_REQUEST,
        "invalidRequest",
        message,
    )
}

fn not_found(operation: &'static str, id: &str) -> ServiceReply {
    error(
        operation,
        StatusCode::NOT_FOUND,
        "itemNotFound",
        &format!("Referral {id} was not found."),
    )
}

fn stale(operation: &'static str) -> ServiceReply {
    ServiceReply::json(
        operation,
        StatusCode::PRECONDITION_FAILED,
        &json!({"error": {
            "code": "preconditionFailed",
            "message": "if-match header doesn't match",
            "target": "referral",
            "innerError": {"code": "resourceModified",
                           "message": "The referral changed since it was read."}
        }}),
    )
}

fn transition_refused(operation: &'static str, message: &str) -> ServiceReply {
    ServiceReply::json(
        operation,
        StatusCode::BAD_REQUEST,
        &json!({"error": {
            "code": "invalidRequest",
            "message": message,
            "target": "status",
            "innerError": {"code": "invalidStatusTransition", "message": message}
        }}),
    )
}

/// A referral answer: the body with its `@odata.context` and the `ETag` header.
fn referral_reply(
    operation: &'static str,
    status: StatusCode,
    base: &str,
    document: &Document,
) -> ServiceReply {
    let mut body = document.clone();
    body.insert(
        "@odata.context".into(),
        format!("{base}$metadata#Referrals/$entity").into(),
    );
    let reply = ServiceReply::json(operation, status, &body);
    match text(document, "eTag") {
        Some(etag) => reply.with_header("etag", etag),
        None => reply,
    }
}

/// Whether an `If-Match` value names the stored eTag (`*` names any).
fn if_match_holds(if_match: &str, document: &Document) -> bool {
    let if_match = if_match.trim();
    if_match == "*" || text(document, "eTag").is_some_and(|etag| etag.trim() == if_match)
}

fn object_body(request: &ServiceRequest) -> Result<Document, String> {
    match request.json::<Value>() {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("the body must be a referral (a JSON object)".into()),
        Err(e) => Err(format!("the body is not JSON: {e}")),
    }
}

pub(crate) struct ReferralsService {
    state: Arc<PartnerCenterState>,
}

impl ReferralsService {
    pub(crate) fn new(state: Arc<PartnerCenterState>) -> Self {
        ReferralsService { state }
    }

    fn base(&self) -> &str {
        &self.state.urls.partner_center_referrals
    }

    fn list(&self, tenant: &Tenant, request: &ServiceRequest) -> ServiceReply {
        const OP: &str = "referrals.list";
        let mut filter = None;
        let mut order = Vec::new();
        let mut top = None;
        let mut select: Option<Vec<String>> = None;
        let mut skip = 0usize;
        let mut skip_option = 0usize;
        let strict = self.state.strict.load(Ordering::Relaxed);
        let pairs = request.query_pairs();
        for (name, value) in &pairs {
            if strict && matches!(name.as_str(), "$skip" | "$count" | "$expand") {
                return bad_request(OP, &format!("The query option {name} is not supported"));
            }
            match name.as_str() {
                "$filter" => match query::parse_filter(value) {
                    Ok(parsed) => {
                        if strict
                            && let Some(field) = parsed
                                .fields()
                                .into_iter()
                                .find(|f| matches!(*f, "updatedDateTime" | "externalReferenceId"))
                        {
                            return bad_request(
                                OP,
                                &format!(
                                    "Invalid $filter `{value}`: `{field}` cannot be filtered on"
                                ),
                            );
                        }
                        filter = Some(parsed);
                    }
                    Err(message) => {
                        return bad_request(OP, &format!("Invalid $filter `{value}`: {message}"));
                    }
                },
                "$skip" => match value.parse::<usize>() {
                    Ok(n) => skip_option = n,
                    Err(_) => return bad_request(OP, &format!("Invalid $skip `{value}`")),
                },
                "$count" if !matches!(value.as_str(), "true" | "false") => {
                    return bad_request(OP, &format!("Invalid $count `{value}`"));
                }
                "$count" => {}
                // The referral has no navigation property to expand: the option changes nothing.
                "$expand" => {}
                "$orderby" => match query::parse_order_by(value) {
                    Ok(parsed) => order = parsed,
                    Err(message) => {
                        return bad_request(OP, &format!("Invalid $orderby `{value}`: {message}"));
                    }
                },
                "$top" => match value.parse::<usize>() {
                    Ok(n) if n > 0 => top = Some(n),
                    _ => return bad_request(OP, &format!("Invalid $top `{value}`")),
                },
                "$select" => {
                    select = Some(value.split(',').map(|f| f.trim().to_owned()).collect());
                }
                "$skiptoken" => match value.parse::<usize>() {
                    Ok(n) => skip = n,
                    Err(_) => return bad_request(OP, &format!("Invalid $skiptoken `{value}`")),
                },
                other if other.starts_with('$') => {
                    return bad_request(OP, &format!("The query option {other} is not supported"));
                }
                _ => {}
            }
        }
        let store = lock(&tenant.referrals);
        let mut matched: Vec<&Document> = store
            .visible_all()
            .into_iter()
            .filter(|r| filter.as_ref().is_none_or(|f| f.matches(r)))
            .collect();
        query::sort(&mut matched, &order);
        let count = matched.len();
        let matched: Vec<&Document> = matched.into_iter().skip(skip_option).collect();
        let total = top.map_or(matched.len(), |t| t.min(matched.len()));
        let page_size = self.state.page_size.load(Ordering::Relaxed);
        let start = skip.min(total);
        let end = start.saturating_add(page_size).min(total);
        let items: Vec<Value> = matched[start..end]
            .iter()
            .map(|r| {
                Value::Object(match &select {
                    Some(fields) => query::select(r, fields),
                    None => (*r).clone(),
                })
            })
            .collect();
        let mut body = json!({
            "@odata.context": format!("{}$metadata#Referrals", self.base()),
            "@odata.count": count,
            "value": items,
        });
        if end < total {
            let mut next = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in pairs.iter().filter(|(n, _)| n != "$skiptoken") {
                next.append_pair(name, value);
            }
            next.append_pair("$skiptoken", &end.to_string());
            // The link follows the scheme the client used: every port serves http and https.
            body["@odata.nextLink"] = format!(
                "{}/v1.0/engagements/referrals?{}",
                request.origin(),
                next.finish()
            )
            .into();
        }
        ServiceReply::json(OP, StatusCode::OK, &body)
    }

    fn get(&self, tenant: &Tenant, id: &str) -> ServiceReply {
        const OP: &str = "referrals.get";
        match lock(&tenant.referrals).visible(id) {
            Some(document) => referral_reply(OP, StatusCode::OK, self.base(), document),
            None => not_found(OP, id),
        }
    }

    fn create(&self, tenant: &Tenant, request: &ServiceRequest) -> ServiceReply {
        const OP: &str = "referrals.create";
        let mut document = match object_body(request) {
            Ok(document) => document,
            Err(message) => return bad_request(OP, &message),
        };
        if let Err(refusal) = schema::normalize(&mut document) {
            return wrong_type(OP, refusal);
        }
        let missing: Vec<&str> = ["type", "customerProfile", "consent", "details"]
            .into_iter()
            .filter(|field| document.get(*field).is_none_or(Value::is_null))
            .collect();
        if !missing.is_empty() {
            return bad_request(
                OP,
                &format!("Required fields are missing: {}", missing.join(", ")),
            );
        }
        if let Err(message) = transitions::check_new(&document) {
            return transition_refused(OP, &message);
        }
        let mut store = lock(&tenant.referrals);
        let created = store.create(document, Origin::Partner);
        if self.state.own_write_events.load(Ordering::Relaxed) {
            events::publish(
                &self.state,
                tenant,
                &mut store,
                Change::Created,
                &created,
                None,
            );
        }
        referral_reply(OP, StatusCode::OK, self.base(), &created)
    }

    /// The shared part of PATCH and PUT: concurrency, transitions, the write, the events.
    fn write(
        &self,
        tenant: &Tenant,
        operation: &'static str,
        id: &str,
        if_match: Option<&str>,
        next: impl FnOnce(&Document) -> Result<Document, String>,
    ) -> Result<Document, Box<ServiceReply>> {
        let mut store = lock(&tenant.referrals);
        let current = store
            .get(id)
            .cloned()
            .ok_or_else(|| Box::new(not_found(operation, id)))?;
        if if_match.is_some_and(|m| !if_match_holds(m, &current)) {
            return Err(Box::new(stale(operation)));
        }
        let mut next =
            next(&current).map_err(|message| Box::new(bad_request(operation, &message)))?;
        schema::normalize(&mut next).map_err(|refusal| Box::new(wrong_type(operation, refusal)))?;
        transitions::check(&current, &next)
            .map_err(|message| Box::new(transition_refused(operation, &message)))?;
        let saved = store
            .replace(id, next)
            .ok_or_else(|| Box::new(not_found(operation, id)))?;
        if self.state.own_write_events.load(Ordering::Relaxed) {
            events::publish(
                &self.state,
                tenant,
                &mut store,
                Change::Updated,
                &saved,
                Some(current),
            );
        }
        Ok(saved)
    }

    fn patch(&self, tenant: &Tenant, id: &str, request: &ServiceRequest) -> ServiceReply {
        const OP: &str = "referrals.update";
        let operations: Value = match request.json() {
            Ok(operations) => operations,
            Err(e) => return bad_request(OP, &format!("the body is not JSON: {e}")),
        };
        let strict = self.state.strict.load(Ordering::Relaxed);
        let touches_reference = operations.as_array().is_some_and(|ops| {
            ops.iter()
                .any(|op| op.get("path").and_then(Value::as_str) == Some("/externalReferenceId"))
        });
        if strict && touches_reference {
            return bad_request(
                OP,
                "`/externalReferenceId` cannot be patched; update the referral with PUT",
            );
        }
        // Strict: whether PATCH enforces If-Match is unconfirmed, so it is not enforced.
        let if_match = request.header("if-match").filter(|_| !strict);
        let saved = match self.write(tenant, OP, id, if_match, |current| {
            patch::apply(current, &operations)
        }) {
            Ok(saved) => saved,
            Err(reply) => return *reply,
        };
        let representation = request
            .header("prefer")
            .is_some_and(|p| p.contains("return=representation"));
        if representation {
            referral_reply(OP, StatusCode::OK, self.base(), &saved)
        } else {
            let reply = ServiceReply::empty(OP, StatusCode::NO_CONTENT);
            match text(&saved, "eTag") {
                Some(etag) => reply.with_header("etag", etag),
                None => reply,
            }
        }
    }

    fn put(&self, tenant: &Tenant, id: &str, request: &ServiceRequest) -> ServiceReply {
        const OP: &str = "referrals.put";
        let Some(if_match) = request.header("if-match") else {
            return error(
                OP,
                StatusCode::BAD_REQUEST,
                "invalidRequest",
                "The If-Match header is required to update a referral with PUT.",
            );
        };
        let body = match object_body(request) {
            Ok(body) => body,
            Err(message) => return bad_request(OP, &message),
        };
        if text(&body, "id").is_some_and(|body_id| body_id != id) {
            return bad_request(OP, "The id in the body is not the id in the URL.");
        }
        match self.write(tenant, OP, id, Some(if_match), |_| Ok(body)) {
            Ok(saved) => referral_reply(OP, StatusCode::OK, self.base(), &saved),
            Err(reply) => *reply,
        }
    }
}

#[async_trait]
impl EmulatedService for ReferralsService {
    fn operation(&self, request: &ServiceRequest) -> &'static str {
        let segments = request.segments();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match (&request.method, segments.as_slice()) {
            (&Method::GET, ["v1.0", "engagements", "referrals"]) => "referrals.list",
            (&Method::POST, ["v1.0", "engagements", "referrals"]) => "referrals.create",
            (&Method::GET, ["v1.0", "engagements", "referrals", _]) => "referrals.get",
            (&Method::PATCH, ["v1.0", "engagements", "referrals", _]) => "referrals.update",
            (&Method::PUT, ["v1.0", "engagements", "referrals", _]) => "referrals.put",
            (_, ["v1.0", "engagements", "referrals", ..]) => "referrals.unsupported",
            _ => "referrals.unknown",
        }
    }

    fn error_reply(
        &self,
        operation: &'static str,
        status: StatusCode,
        message: &str,
    ) -> ServiceReply {
        let code = match status {
            StatusCode::PRECONDITION_FAILED => "preconditionFailed",
            StatusCode::TOO_MANY_REQUESTS => "tooManyRequests",
            StatusCode::SERVICE_UNAVAILABLE => "serviceNotAvailable",
            _ => "generalException",
        };
        error(operation, status, code, message)
    }

    async fn handle(&self, request: ServiceRequest) -> ServiceReply {
        let operation = self.operation(&request);
        let mut reply = self.answer(operation, &request);
        let touched = match operation {
            "referrals.create" => serde_json::from_slice::<Value>(&reply.body)
                .ok()
                .and_then(|body| body.get("id")?.as_str().map(str::to_owned)),
            "referrals.get" | "referrals.update" | "referrals.put" => {
                request.segments().get(3).cloned()
            }
            _ => None,
        };
        reply.record = touched.map(|id| format!("referrals/{id}"));
        let request_id = uuid::Uuid::new_v4().to_string();
        let reply = reply.with_header("request-id", &request_id);
        match request.header("client-request-id") {
            Some(id) => reply.with_header("client-request-id", id),
            None => reply,
        }
    }
}

impl ReferralsService {
    fn answer(&self, operation: &'static str, request: &ServiceRequest) -> ServiceReply {
        match operation {
            "referrals.unknown" => {
                return error(
                    operation,
                    StatusCode::NOT_FOUND,
                    "itemNotFound",
                    &format!("{} is not a resource of this API", request.path),
                );
            }
            "referrals.unsupported" => {
                let allow = if request.segments().len() == 3 {
                    "GET, POST"
                } else {
                    "GET, PATCH, PUT"
                };
                return error(
                    operation,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "invalidRequest",
                    &format!("{} is not supported here", request.method),
                )
                .with_header("allow", allow);
            }
            _ => {}
        }
        match self.state.tokens.check(request, AUDIENCE) {
            TokenCheck::Valid => {}
            check => {
                return error(
                    operation,
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    &format!("The bearer token is not accepted ({check:?})."),
                )
                .with_header("www-authenticate", "Bearer");
            }
        }
        let segments = request.segments();
        let id = segments.get(3).map_or("", String::as_str);
        let tenant = self.state.tenant_of(request);
        match operation {
            "referrals.list" => self.list(&tenant, request),
            "referrals.create" => self.create(&tenant, request),
            "referrals.get" => self.get(&tenant, id),
            "referrals.update" => self.patch(&tenant, id, request),
            _ => self.put(&tenant, id, request),
        }
    }
}
