//! Wire models of the webhooks API: the registration and validation events.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::webhook::EventName;

/// The tenant's webhook registration (one per partner tenant). Written in PascalCase as
/// documented; read with keys matched ignoring case, since the service answers in either
/// casing.
///
/// ```
/// use cosell::partner_center::webhooks::WebhookRegistration;
/// use cosell::webhook::EventName;
///
/// let registration = WebhookRegistration::new(
///     "https://hooks.contoso.example/partner-center",
///     EventName::REFERRAL_EVENTS,
/// );
/// assert_eq!(registration.webhook_events.len(), 4);
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WebhookRegistration {
    /// Server-assigned id of the subscriber (returned by POST and PUT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber_id: Option<String>,
    /// The callback URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// The events delivered to the URL.
    #[serde(default, deserialize_with = "events_or_null")]
    pub webhook_events: Vec<EventName>,
    /// When `true`, the signature arrives in `x-ms-signature` instead of `Authorization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_token_to_ms_signature_header: Option<bool>,
    /// When the server last changed the registration, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_timestamp: Option<String>,
    /// Fields this crate does not model (`Properties`, …), sent back unchanged on update.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn events_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<EventName>, D::Error> {
    Ok(Option::<Vec<EventName>>::deserialize(d)?.unwrap_or_default())
}

/// The registration's key names, for case-insensitive reading.
pub(crate) const REGISTRATION_KEYS: &[&str] = &[
    "SubscriberId",
    "WebhookUrl",
    "WebhookEvents",
    "SignatureTokenToMsSignatureHeader",
    "LastModifiedTimestamp",
    "Properties",
];

impl WebhookRegistration {
    /// A registration of `events` to `webhook_url`.
    pub fn new(
        webhook_url: impl Into<String>,
        events: impl IntoIterator<Item = EventName>,
    ) -> Self {
        WebhookRegistration {
            webhook_url: Some(webhook_url.into()),
            webhook_events: events.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Delivers the signature in `x-ms-signature` instead of `Authorization`.
    pub fn with_signature_in_ms_header(mut self, enabled: bool) -> Self {
        self.signature_token_to_ms_signature_header = Some(enabled);
        self
    }

    /// Whether the answer describes no registration at all (no URL and no events).
    pub(crate) fn is_empty(&self) -> bool {
        self.webhook_url
            .as_deref()
            .is_none_or(|u| u.trim().is_empty())
            && self.webhook_events.is_empty()
    }

    /// The body written on create and update: what the caller controls, without the
    /// server-set `SubscriberId` and `LastModifiedTimestamp`.
    pub(crate) fn write_body(&self) -> RegistrationWrite<'_> {
        RegistrationWrite {
            webhook_url: self.webhook_url.as_deref(),
            webhook_events: &self.webhook_events,
            signature_token_to_ms_signature_header: self.signature_token_to_ms_signature_header,
            extra: &self.extra,
        }
    }
}

/// The PascalCase body of POST and PUT `/registration`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RegistrationWrite<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_url: Option<&'a str>,
    webhook_events: &'a [EventName],
    #[serde(skip_serializing_if = "Option::is_none")]
    signature_token_to_ms_signature_header: Option<bool>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

/// The answer to sending a validation event: the id to read its status with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationEvent {
    /// The id of the validation event (its status is kept for 7 days).
    pub correlation_id: String,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

pub(crate) const VALIDATION_KEYS: &[&str] = &[
    "correlationId",
    "partnerId",
    "status",
    "callbackUrl",
    "results",
    "responseCode",
    "responseMessage",
    "systemError",
    "dateTimeUtc",
];

/// The state of a validation event. Only `completed` is documented.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValidationState {
    /// `completed`: delivery attempts are over (see the results for their outcome).
    Completed,
    /// Any other state, as sent.
    Unknown(String),
}

impl ValidationState {
    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            ValidationState::Completed => "completed",
            ValidationState::Unknown(state) => state,
        }
    }
}

impl Serialize for ValidationState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ValidationState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let state = String::deserialize(d)?;
        Ok(if state.eq_ignore_ascii_case("completed") {
            ValidationState::Completed
        } else {
            ValidationState::Unknown(state)
        })
    }
}

/// The status of a validation event: one result per delivery attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationStatus {
    /// The validation event's id.
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// The partner tenant.
    #[serde(default)]
    pub partner_id: Option<String>,
    /// The state of the validation event.
    #[serde(default)]
    pub status: Option<ValidationState>,
    /// The URL the event was delivered to.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// One entry per delivery attempt.
    #[serde(default, deserialize_with = "results_or_null")]
    pub results: Vec<ValidationAttempt>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn results_or_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<ValidationAttempt>, D::Error> {
    Ok(Option::<Vec<ValidationAttempt>>::deserialize(d)?.unwrap_or_default())
}

impl ValidationStatus {
    /// Whether any attempt reached the callback and got `OK` (200) back.
    pub fn delivered(&self) -> bool {
        self.results.iter().any(ValidationAttempt::succeeded)
    }
}

/// One delivery attempt of a validation event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationAttempt {
    /// The callback's answer (`OK`, or a status code), as sent.
    #[serde(default)]
    pub response_code: Option<String>,
    /// The callback's answer text.
    #[serde(default)]
    pub response_message: Option<String>,
    /// Whether the failure was on Partner Center's side.
    #[serde(default)]
    pub system_error: Option<bool>,
    /// When the attempt was made, as sent (often without an offset: UTC).
    #[serde(default)]
    pub date_time_utc: Option<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ValidationAttempt {
    /// When the attempt was made; a value without an offset is read as UTC.
    pub fn time(&self) -> Option<Timestamp> {
        crate::webhook::parse_utc(self.date_time_utc.as_deref()?)
    }

    /// Whether the callback answered `OK` / `200` and the attempt had no system error.
    pub fn succeeded(&self) -> bool {
        self.system_error != Some(true)
            && self
                .response_code
                .as_deref()
                .is_some_and(|code| code.eq_ignore_ascii_case("ok") || code == "200")
    }
}
