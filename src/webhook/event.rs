//! What Partner Center POSTs: a pointer to a changed resource, never the resource itself.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The name of a Partner Center event (`{resource}-{action}`). Open: names this crate does not
/// know arrive as [`EventName::Unknown`] with the text as sent.
///
/// ```
/// use cosell::webhook::EventName;
///
/// assert_eq!(EventName::from("referral-updated"), EventName::ReferralUpdated);
/// assert_eq!(EventName::ReferralUpdated.as_str(), "referral-updated");
/// assert_eq!(EventName::from("invoice-ready"), EventName::Unknown("invoice-ready".into()));
/// assert!(EventName::RelatedReferralCreated.is_referral());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EventName {
    /// `referral-created`: a referral was created.
    ReferralCreated,
    /// `referral-updated`: a referral was updated.
    ReferralUpdated,
    /// `related-referral-created`: a referral of the same engagement was created.
    RelatedReferralCreated,
    /// `related-referral-updated`: a referral of the same engagement was updated.
    RelatedReferralUpdated,
    /// `test-created`: a validation event sent on request.
    TestCreated,
    /// Any other event name, as sent.
    Unknown(String),
}

impl EventName {
    /// The four referral events, which the co-sell connectors register.
    pub const REFERRAL_EVENTS: [EventName; 4] = [
        EventName::ReferralCreated,
        EventName::ReferralUpdated,
        EventName::RelatedReferralCreated,
        EventName::RelatedReferralUpdated,
    ];

    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            EventName::ReferralCreated => "referral-created",
            EventName::ReferralUpdated => "referral-updated",
            EventName::RelatedReferralCreated => "related-referral-created",
            EventName::RelatedReferralUpdated => "related-referral-updated",
            EventName::TestCreated => "test-created",
            EventName::Unknown(name) => name,
        }
    }

    /// Whether this is one of the four referral events.
    pub fn is_referral(&self) -> bool {
        Self::REFERRAL_EVENTS.contains(self)
    }
}

impl From<&str> for EventName {
    fn from(name: &str) -> Self {
        let known = [
            EventName::ReferralCreated,
            EventName::ReferralUpdated,
            EventName::RelatedReferralCreated,
            EventName::RelatedReferralUpdated,
            EventName::TestCreated,
        ];
        known
            .into_iter()
            .find(|event| event.as_str().eq_ignore_ascii_case(name.trim()))
            .unwrap_or_else(|| EventName::Unknown(name.to_owned()))
    }
}

impl From<String> for EventName {
    fn from(name: String) -> Self {
        EventName::from(name.as_str())
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(EventName::from(name.as_ref()))
    }
}

/// One Partner Center callback body, as sent (PascalCase). Only the name is always present.
///
/// Events are hints: fetch the resource's current state, never apply them as changes. Read
/// them with [`WebhookEvent::from_json`] (keys matched ignoring case) after verification.
///
/// ```
/// use cosell::webhook::{EventName, WebhookEvent};
///
/// let event = WebhookEvent::from_json(br#"{
///     "EventName": "referral-updated",
///     "ResourceUri": "https://api.partnercenter.microsoft.com/engagements/v1/referrals/4f0c31e1",
///     "ResourceName": "referral",
///     "AuditUri": null,
///     "ResourceChangeUtcDate": "2025-01-02T03:04:05.1234567+00:00"
/// }"#)?;
/// assert_eq!(event.event_name, EventName::ReferralUpdated);
/// assert_eq!(event.referral_id().as_deref(), Some("4f0c31e1"));
/// # Ok::<(), cosell::webhook::WebhookError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WebhookEvent {
    /// The event's name.
    pub event_name: EventName,
    /// The changed resource (for referrals `…/engagements/v1/referrals/{id}`).
    #[serde(default)]
    pub resource_uri: Option<String>,
    /// The resource kind (`referral`, `test`, …).
    #[serde(default)]
    pub resource_name: Option<String>,
    /// The audit record of the change, if any.
    #[serde(default, alias = "AuditUrl")]
    pub audit_uri: Option<String>,
    /// When the resource changed, as sent (see
    /// [`resource_change_time`](Self::resource_change_time)).
    #[serde(default)]
    pub resource_change_utc_date: Option<String>,
    /// Fields this crate does not model, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The model's key names, for case-insensitive reading.
const EVENT_KEYS: &[&str] = &[
    "EventName",
    "ResourceUri",
    "ResourceName",
    "AuditUri",
    "ResourceChangeUtcDate",
];

/// The longest resource id [`WebhookEvent::resource_id`] returns.
const RESOURCE_ID_LIMIT: usize = 128;

impl WebhookEvent {
    /// Reads an event from JSON, matching keys ignoring case. Call it only on verified bytes
    /// (or use [`WebhookVerifier::verify_event`](super::WebhookVerifier::verify_event)).
    ///
    /// # Errors
    /// [`WebhookError::InvalidPayload`](super::WebhookError::InvalidPayload) naming the JSON
    /// path that failed.
    pub fn from_json(body: &[u8]) -> Result<Self, super::WebhookError> {
        super::wire_case::decode_ignoring_case(body, EVENT_KEYS)
            .map_err(|e| super::WebhookError::InvalidPayload(e.to_string()))
    }

    /// The last non-empty path segment of `ResourceUri`, percent-decoded: the id of the
    /// changed resource. `None` when there is no URI, or the segment is empty, longer than
    /// 128 bytes or holds control characters.
    pub fn resource_id(&self) -> Option<String> {
        let uri = self.resource_uri.as_deref()?.trim();
        let path = match url::Url::parse(uri) {
            Ok(url) => url.path().to_owned(),
            // A relative URI: drop any query or fragment by hand.
            Err(_) => uri.split(['?', '#']).next().unwrap_or_default().to_owned(),
        };
        let segment = path.split('/').rev().find(|s| !s.is_empty())?;
        let decoded = percent_decode(segment)?;
        (!decoded.is_empty()
            && decoded.len() <= RESOURCE_ID_LIMIT
            && !decoded.chars().any(|c| c.is_control() || c == '/'))
        .then_some(decoded)
    }

    /// The referral id, for referral events (or events whose `ResourceName` is `referral`):
    /// the last path segment of `ResourceUri`. Fetch the referral by this id from the
    /// referrals API; do not follow `ResourceUri` itself.
    pub fn referral_id(&self) -> Option<String> {
        let is_referral = self.event_name.is_referral()
            || self
                .resource_name
                .as_deref()
                .is_some_and(|name| name.eq_ignore_ascii_case("referral"));
        if is_referral {
            self.resource_id()
        } else {
            None
        }
    }

    /// `ResourceChangeUtcDate` as an instant; a value without an offset is read as UTC.
    pub fn resource_change_time(&self) -> Option<Timestamp> {
        parse_utc(self.resource_change_utc_date.as_deref()?)
    }

    /// A key that is the same for every delivery of the same event (Partner Center retries
    /// deliveries and sends no event id): event name, resource URI and change date.
    ///
    /// ```
    /// let a = cosell::webhook::WebhookEvent::from_json(br#"{"EventName":"referral-updated","ResourceUri":"u","ResourceChangeUtcDate":"d"}"#)?;
    /// let b = cosell::webhook::WebhookEvent::from_json(br#"{"eventName":"REFERRAL-UPDATED","resourceUri":"u","resourceChangeUtcDate":"d"}"#)?;
    /// assert_eq!(a.dedupe_key(), b.dedupe_key());
    /// # Ok::<(), cosell::webhook::WebhookError>(())
    /// ```
    pub fn dedupe_key(&self) -> DedupeKey {
        let parts = [
            self.event_name.as_str(),
            self.resource_uri.as_deref().unwrap_or_default(),
            self.resource_change_utc_date.as_deref().unwrap_or_default(),
        ];
        // Length-prefixed parts, so that no choice of values makes two events collide.
        let mut key = String::new();
        for part in parts {
            key.push_str(&part.len().to_string());
            key.push(':');
            key.push_str(part);
            key.push('|');
        }
        DedupeKey(key)
    }
}

/// Identifies one event across repeated deliveries; see [`WebhookEvent::dedupe_key`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DedupeKey(String);

impl DedupeKey {
    /// The key as text (stable across versions of this crate, fit for a store).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DedupeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads an instant with an offset, or a civil date-time without one as UTC (Partner Center
/// sends both).
pub(crate) fn parse_utc(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    text.parse::<Timestamp>().ok().or_else(|| {
        text.parse::<jiff::civil::DateTime>()
            .ok()
            .and_then(|dt| jiff::tz::TimeZone::UTC.to_timestamp(dt).ok())
    })
}

fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let text = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(text, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
