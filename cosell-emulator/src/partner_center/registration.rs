//! The webhooks registration API: events, the tenant's one registration, validation events;
//! and the certificate download on the same port.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use http::{Method, StatusCode};
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::deliveries::DeliveryState;
use super::store::wire_instant;
use super::{PartnerCenterState, Tenant, certificate, events};
use crate::frame::{EmulatedService, ServiceReply, ServiceRequest};
use crate::lock;
use crate::tokens::TokenCheck;

/// The token audience of the webhooks API.
pub(crate) const AUDIENCE: &str = "https://api.partnercenter.microsoft.com";

/// The events a tenant may register.
pub(crate) const EVENTS: &[&str] = &[
    "referral-created",
    "referral-updated",
    "related-referral-created",
    "related-referral-updated",
    "test-created",
    "subscription-updated",
    "usagerecords-thresholdExceeded",
    "invoice-ready",
];

/// The tenant's registration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Registration {
    pub(crate) subscriber_id: String,
    pub(crate) url: String,
    pub(crate) events: Vec<String>,
    pub(crate) ms_signature_header: bool,
    pub(crate) last_modified: String,
    /// Fields the emulator does not interpret (`Properties`, …), kept as sent.
    pub(crate) extra: Map<String, Value>,
}

impl Registration {
    pub(crate) fn to_json(&self) -> Value {
        let mut body = self.extra.clone();
        body.insert("SubscriberId".into(), self.subscriber_id.clone().into());
        body.insert("WebhookUrl".into(), self.url.clone().into());
        body.insert("WebhookEvents".into(), json!(self.events));
        body.insert(
            "SignatureTokenToMsSignatureHeader".into(),
            self.ms_signature_header.into(),
        );
        body.insert(
            "LastModifiedTimestamp".into(),
            self.last_modified.clone().into(),
        );
        Value::Object(body)
    }

    /// Reads a registration body, matching keys ignoring case.
    pub(crate) fn from_body(
        body: &Value,
        subscriber_id: String,
        now: Timestamp,
    ) -> Result<Self, String> {
        let map = body.as_object().ok_or("the body must be a JSON object")?;
        let mut registration = Registration {
            subscriber_id,
            url: String::new(),
            events: Vec::new(),
            ms_signature_header: false,
            last_modified: wire_instant(now),
            extra: Map::new(),
        };
        for (key, value) in map {
            match key.to_ascii_lowercase().as_str() {
                "webhookurl" => {
                    registration.url = value.as_str().ok_or("WebhookUrl must be text")?.to_owned();
                }
                "webhookevents" => {
                    for event in value.as_array().ok_or("WebhookEvents must be a list")? {
                        let event = event.as_str().ok_or("an event name must be text")?;
                        let known = EVENTS
                            .iter()
                            .find(|e| e.eq_ignore_ascii_case(event))
                            .ok_or_else(|| format!("`{event}` is not an event of this tenant"))?;
                        if !registration.events.iter().any(|e| e == known) {
                            registration.events.push((*known).to_owned());
                        }
                    }
                }
                "signaturetokentomssignatureheader" => {
                    registration.ms_signature_header = value.as_bool().unwrap_or(false);
                }
                "subscriberid" | "lastmodifiedtimestamp" => {}
                _ => {
                    registration.extra.insert(key.clone(), value.clone());
                }
            }
        }
        let url = url::Url::parse(registration.url.trim())
            .map_err(|_| "WebhookUrl must be an absolute URL".to_owned())?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err("WebhookUrl must be an http(s) URL".into());
        }
        Ok(registration)
    }
}

/// The registration and the validation events sent.
#[derive(Debug, Default)]
pub(crate) struct WebhookState {
    pub(crate) registration: Option<Registration>,
    /// Validation events by correlation id: the callback URL and the delivery sent.
    pub(crate) validations: HashMap<String, (String, Option<usize>)>,
}

impl WebhookState {
    /// The URL to deliver `event` to, and whether the signature goes in `x-ms-signature`.
    pub(crate) fn subscriber_for(&self, event: &str) -> Option<(String, bool)> {
        let registration = self.registration.as_ref()?;
        registration
            .events
            .iter()
            .any(|e| e.eq_ignore_ascii_case(event))
            .then(|| (registration.url.clone(), registration.ms_signature_header))
    }
}

/// The webhooks API's error body (flat, not the referrals API's `{"error": …}`).
fn error(operation: &'static str, status: StatusCode, code: &str, message: &str) -> ServiceReply {
    ServiceReply::json(
        operation,
        status,
        &json!({"code": code, "description": message, "data": [], "source": "PartnerCenter"}),
    )
}

pub(crate) struct WebhooksService {
    state: Arc<PartnerCenterState>,
}

impl WebhooksService {
    pub(crate) fn new(state: Arc<PartnerCenterState>) -> Self {
        WebhooksService { state }
    }

    fn registration(
        &self,
        tenant: &Tenant,
        operation: &'static str,
        request: &ServiceRequest,
    ) -> ServiceReply {
        if request.method == Method::GET {
            return match &lock(&tenant.webhooks).registration {
                Some(registration) => {
                    ServiceReply::json(operation, StatusCode::OK, &registration.to_json())
                }
                None => error(
                    operation,
                    StatusCode::NOT_FOUND,
                    "registrationNotFound",
                    "No webhook registration exists for this tenant.",
                ),
            };
        }
        let body: Value = match request.json() {
            Ok(body) => body,
            Err(e) => {
                return error(
                    operation,
                    StatusCode::BAD_REQUEST,
                    "invalidRequest",
                    &format!("The body is not JSON: {e}"),
                );
            }
        };
        let mut webhooks = lock(&tenant.webhooks);
        if request.method == Method::POST && webhooks.registration.is_some() {
            return error(
                operation,
                StatusCode::CONFLICT,
                "registrationAlreadyExists",
                "A registration already exists for this tenant; use PUT to update it.",
            );
        }
        let subscriber_id = webhooks.registration.as_ref().map_or_else(
            || uuid::Uuid::new_v4().to_string(),
            |r| r.subscriber_id.clone(),
        );
        match Registration::from_body(&body, subscriber_id, self.state.clock.now()) {
            Ok(registration) => {
                let answer = registration.to_json();
                webhooks.registration = Some(registration);
                ServiceReply::json(operation, StatusCode::OK, &answer)
            }
            Err(message) => error(
                operation,
                StatusCode::BAD_REQUEST,
                "invalidRequest",
                &message,
            ),
        }
    }

    fn send_validation(&self, tenant: &Tenant, operation: &'static str) -> ServiceReply {
        let callback_url = match lock(&tenant.webhooks).subscriber_for("test-created") {
            Some((url, _)) => url,
            None => {
                return error(
                    operation,
                    StatusCode::BAD_REQUEST,
                    "invalidRequest",
                    "The registration does not include the test-created event.",
                );
            }
        };
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let resource_uri = format!(
            "{}webhooks/v1/registration/validationEvents/{correlation_id}",
            self.state.webhooks_origin()
        );
        let delivery = events::send(
            &self.state,
            tenant,
            "test-created",
            resource_uri,
            "test",
            None,
        )
        .first()
        .copied();
        lock(&tenant.webhooks)
            .validations
            .insert(correlation_id.clone(), (callback_url, delivery));
        ServiceReply::json(
            operation,
            StatusCode::OK,
            &json!({"correlationId": correlation_id}),
        )
    }

    fn validation_status(
        &self,
        tenant: &Tenant,
        operation: &'static str,
        correlation_id: &str,
    ) -> ServiceReply {
        let Some((callback_url, delivery)) = lock(&tenant.webhooks)
            .validations
            .get(correlation_id)
            .cloned()
        else {
            return error(
                operation,
                StatusCode::NOT_FOUND,
                "validationEventNotFound",
                "No validation event has this correlation id.",
            );
        };
        let delivery = delivery.and_then(|id| self.state.deliveries.record(id));
        let (status, results) = match &delivery {
            None => ("completed", Vec::new()),
            Some(delivery) => {
                let settled = !matches!(
                    delivery.state,
                    DeliveryState::Pending | DeliveryState::HeldBack
                );
                let results = delivery
                    .attempts
                    .iter()
                    .map(|attempt| {
                        let code = match attempt.status.map(StatusCode::from_u16) {
                            Some(Ok(status)) if status.is_success() => "OK".to_owned(),
                            Some(Ok(status)) => status.canonical_reason().map_or_else(
                                || status.as_u16().to_string(),
                                |r| r.replace(' ', ""),
                            ),
                            _ => "ServiceUnavailable".to_owned(),
                        };
                        let at = wire_instant(attempt.at);
                        json!({
                            "responseCode": code,
                            "responseMessage": attempt.error.clone().unwrap_or_default(),
                            "systemError": attempt.status.is_none(),
                            "dateTimeUtc": at.trim_end_matches('Z'),
                        })
                    })
                    .collect();
                (if settled { "completed" } else { "inProgress" }, results)
            }
        };
        ServiceReply::json(
            operation,
            StatusCode::OK,
            &json!({
                "correlationId": correlation_id,
                "partnerId": super::store::PARTNER_ORGANIZATION_ID,
                "status": status,
                "callbackUrl": callback_url,
                "results": results,
            }),
        )
    }
}

#[async_trait]
impl EmulatedService for WebhooksService {
    fn operation(&self, request: &ServiceRequest) -> &'static str {
        let segments = request.segments();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match (&request.method, segments.as_slice()) {
            (&Method::GET, ["cert", _]) => certificate::OPERATION,
            (&Method::GET, ["webhooks", "v1", "registration", "events"]) => "webhooks.events",
            (&Method::GET, ["webhooks", "v1", "registration"]) => "webhooks.registration.get",
            (&Method::POST, ["webhooks", "v1", "registration"]) => "webhooks.registration.create",
            (&Method::PUT, ["webhooks", "v1", "registration"]) => "webhooks.registration.update",
            (&Method::POST, ["webhooks", "v1", "registration", "validationEvents"]) => {
                "webhooks.validation.send"
            }
            (&Method::GET, ["webhooks", "v1", "registration", "validationEvents", _]) => {
                "webhooks.validation.get"
            }
            _ => "webhooks.unknown",
        }
    }

    fn error_reply(
        &self,
        operation: &'static str,
        status: StatusCode,
        message: &str,
    ) -> ServiceReply {
        error(operation, status, &status.as_u16().to_string(), message)
    }

    async fn handle(&self, request: ServiceRequest) -> ServiceReply {
        let operation = self.operation(&request);
        let segments = request.segments();
        if operation == certificate::OPERATION {
            return certificate::serve(segments.get(1).map_or("", String::as_str));
        }
        if operation == "webhooks.unknown" {
            return error(
                operation,
                StatusCode::NOT_FOUND,
                "notFound",
                &format!(
                    "{} {} is not an operation of this API",
                    request.method, request.path
                ),
            );
        }
        match self.state.tokens.check(&request, AUDIENCE) {
            TokenCheck::Valid => {}
            check => {
                return error(
                    operation,
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    &format!("The bearer token is not accepted ({check:?})."),
                )
                .with_header("www-authenticate", "Bearer");
            }
        }
        let tenant = self.state.tenant_of(&request);
        let reply = match operation {
            "webhooks.events" => ServiceReply::json(operation, StatusCode::OK, &EVENTS),
            "webhooks.validation.send" => self.send_validation(&tenant, operation),
            "webhooks.validation.get" => self.validation_status(
                &tenant,
                operation,
                segments.get(4).map_or("", String::as_str),
            ),
            _ => self.registration(&tenant, operation, &request),
        };
        let request_id = request
            .header("ms-requestid")
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let reply = reply.with_header("ms-requestid", &request_id);
        match request.header("ms-correlationid") {
            Some(id) => reply.with_header("ms-correlationid", id),
            None => reply,
        }
    }
}
