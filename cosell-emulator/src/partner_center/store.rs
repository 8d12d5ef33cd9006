//! The emulated referrals: stored as the JSON the service answers with, stamped with
//! server-set fields, and given a fresh ETag on every write.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::clock::EmulatorClock;

/// The organization the emulated partner tenant is.
pub(crate) const PARTNER_ORGANIZATION_ID: &str = "0d0c5e1a-0000-4000-8000-00000000e0e0";
/// The emulated partner's name.
pub(crate) const PARTNER_ORGANIZATION_NAME: &str = "Emulated Partner";

/// Fields only the service writes: a patch may not touch them, a PUT cannot change them.
pub(crate) const SERVER_FIELDS: &[&str] = &[
    "id",
    "engagementId",
    "eTag",
    "createdDateTime",
    "updatedDateTime",
    "organizationId",
    "organizationName",
    "links",
];

/// A referral as stored.
pub(crate) type Document = Map<String, Value>;

/// An instant as the service writes it: UTC with seven fractional digits.
pub(crate) fn wire_instant(at: Timestamp) -> String {
    format!(
        "{}.{:07}Z",
        at.strftime("%Y-%m-%dT%H:%M:%S"),
        at.subsec_nanosecond() / 100
    )
}

/// A text field of a document.
pub(crate) fn text<'a>(document: &'a Document, field: &str) -> Option<&'a str> {
    document.get(field).and_then(Value::as_str)
}

/// Who creates a referral: the partner through the API, or Microsoft (the control API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The partner's own outgoing referral.
    Partner,
    /// A referral Microsoft shares with the partner.
    Microsoft,
}

/// Every referral, in creation order.
#[derive(Debug)]
pub(crate) struct ReferralStore {
    referrals: Vec<Document>,
    /// Position of each referral by id (referrals are never removed).
    positions: HashMap<String, usize>,
    /// How many referrals each engagement has (a referral's engagement never changes).
    engagements: HashMap<String, usize>,
    /// Referrals whose latest writes the API does not show yet: the version reads still get
    /// (`None` for a referral whose creation is hidden).
    hidden: HashMap<String, Option<Document>>,
    writes: u64,
    base_url: String,
    clock: Arc<dyn EmulatorClock>,
}

impl ReferralStore {
    /// An empty store whose links point below `base_url` (the emulated
    /// `…/v1.0/engagements/`).
    pub(crate) fn new(base_url: String, clock: Arc<dyn EmulatorClock>) -> Self {
        ReferralStore {
            referrals: Vec::new(),
            positions: HashMap::new(),
            engagements: HashMap::new(),
            hidden: HashMap::new(),
            writes: 0,
            base_url,
            clock,
        }
    }

    /// Every referral, in creation order.
    pub(crate) fn all(&self) -> &[Document] {
        &self.referrals
    }

    /// One referral.
    pub(crate) fn get(&self, id: &str) -> Option<&Document> {
        self.positions.get(id).map(|&i| &self.referrals[i])
    }

    /// One referral as the API shows it: a hidden write shows its earlier version.
    pub(crate) fn visible(&self, id: &str) -> Option<&Document> {
        match self.hidden.get(id) {
            Some(before) => before.as_ref(),
            None => self.get(id),
        }
    }

    /// Every referral as the API shows it, in creation order.
    pub(crate) fn visible_all(&self) -> Vec<&Document> {
        self.referrals
            .iter()
            .filter_map(|r| match text(r, "id").and_then(|id| self.hidden.get(id)) {
                Some(before) => before.as_ref(),
                None => Some(r),
            })
            .collect()
    }

    /// Hides the latest write to `id` from the API; `before` is what reads show meanwhile. A
    /// referral already hidden keeps its earliest version.
    pub(crate) fn hide(&mut self, id: &str, before: Option<Document>) {
        self.hidden.entry(id.to_owned()).or_insert(before);
    }

    /// Shows every hidden write; returns how many referrals were hidden.
    pub(crate) fn reveal(&mut self) -> usize {
        let count = self.hidden.len();
        self.hidden.clear();
        count
    }

    /// A new ETag, different from every earlier one: the quoted form the service uses.
    fn next_etag(&mut self) -> String {
        self.writes += 1;
        format!(
            "\"{:08x}-0000-0100-0000-{:012x}\"",
            self.writes,
            fastrand::u64(..) & 0xffff_ffff_ffff
        )
    }

    /// Now, in the service's ticks of 100 ns. Two writes in one tick share a stamp, as on the
    /// service: `updatedDateTime` alone does not order writes.
    fn now(&self) -> Timestamp {
        let now = self.clock.now();
        let ticks = now.as_nanosecond() / 100 * 100;
        Timestamp::from_nanosecond(ticks).unwrap_or(now)
    }

    fn links(&self, id: &str, engagement_id: &str) -> Value {
        json!({
            "self": {"uri": format!("{}referrals/{id}", self.base_url), "method": "GET", "headers": []},
            "relatedReferrals": {
                "uri": format!("{}referrals?$filter=engagementId eq '{engagement_id}'", self.base_url),
                "method": "GET",
                "headers": []
            }
        })
    }

    /// Stores a new referral: the server assigns its id, engagement (unless it joins one),
    /// eTag, timestamps, owner and links, and the default status of its origin.
    pub(crate) fn create(&mut self, mut document: Document, origin: Origin) -> Document {
        document.retain(|key, _| !key.starts_with("@odata.") && key != "links");
        let id = uuid::Uuid::new_v4().to_string();
        let engagement_id = text(&document, "engagementId")
            .filter(|e| !e.trim().is_empty())
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let now = wire_instant(self.now());
        let set = |document: &mut Document, key: &str, value: Value| {
            document.insert(key.to_owned(), value);
        };
        let default = |document: &mut Document, key: &str, value: &str| {
            if document.get(key).is_none_or(Value::is_null) {
                document.insert(key.to_owned(), Value::String(value.to_owned()));
            }
        };
        set(&mut document, "id", id.clone().into());
        set(&mut document, "engagementId", engagement_id.clone().into());
        set(
            &mut document,
            "organizationId",
            PARTNER_ORGANIZATION_ID.into(),
        );
        set(
            &mut document,
            "organizationName",
            PARTNER_ORGANIZATION_NAME.into(),
        );
        set(&mut document, "createdDateTime", now.clone().into());
        set(&mut document, "updatedDateTime", now.clone().into());
        match origin {
            Origin::Partner => {
                set(&mut document, "direction", "Outgoing".into());
                default(&mut document, "status", "Active");
                default(&mut document, "substatus", "Accepted");
                set(&mut document, "acceptedDateTime", now.into());
            }
            Origin::Microsoft => {
                default(&mut document, "direction", "Incoming");
                default(&mut document, "status", "New");
                default(&mut document, "substatus", "Pending");
                default(&mut document, "type", "Shared");
                default(&mut document, "qualification", "SalesQualified");
                if document.get("inviteContext").is_none_or(Value::is_null) {
                    set(
                        &mut document,
                        "inviteContext",
                        json!({"invitedBy": {"organizationId": "msft", "organizationName": "Microsoft"}}),
                    );
                }
            }
        }
        let etag = self.next_etag();
        set(&mut document, "eTag", etag.into());
        let links = self.links(&id, &engagement_id);
        set(&mut document, "links", links);
        self.positions.insert(id, self.referrals.len());
        *self.engagements.entry(engagement_id).or_default() += 1;
        self.referrals.push(document.clone());
        document
    }

    /// Replaces a stored referral with `next`, keeping its server fields and giving it a new
    /// eTag and `updatedDateTime`. Returns the stored result, or `None` without such a
    /// referral.
    pub(crate) fn replace(&mut self, id: &str, mut next: Document) -> Option<Document> {
        let now = self.now();
        let etag = self.next_etag();
        let position = *self.positions.get(id)?;
        let stored = &mut self.referrals[position];
        next.retain(|key, _| !key.starts_with("@odata."));
        for field in SERVER_FIELDS {
            match stored.get(*field) {
                Some(value) => next.insert((*field).to_owned(), value.clone()),
                None => next.remove(*field),
            };
        }
        let closed = text(&next, "status") == Some("Closed");
        if closed && text(stored, "status") != Some("Closed") {
            next.insert("closedDateTime".into(), wire_instant(now).into());
        }
        next.insert("updatedDateTime".into(), wire_instant(now).into());
        next.insert("eTag".into(), etag.into());
        *stored = next.clone();
        Some(next)
    }

    /// Whether another referral shares `document`'s engagement.
    pub(crate) fn has_related(&self, document: &Document) -> bool {
        let (Some(id), Some(engagement)) = (text(document, "id"), text(document, "engagementId"))
        else {
            return false;
        };
        let all = self.engagements.get(engagement).copied().unwrap_or(0);
        let itself = self
            .get(id)
            .is_some_and(|r| text(r, "engagementId") == Some(engagement));
        all > usize::from(itself)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_write_changes_the_etag_and_keeps_server_fields() {
        let clock = Arc::new(crate::ManualClock::new(Timestamp::UNIX_EPOCH));
        let mut store =
            ReferralStore::new("http://127.0.0.1:1/v1.0/engagements/".into(), clock.clone());
        let created = store.create(
            json!({"name": "a", "id": "mine", "links": {}})
                .as_object()
                .cloned()
                .unwrap(),
            Origin::Partner,
        );
        let id = text(&created, "id").unwrap().to_owned();
        assert_ne!(id, "mine");
        assert_eq!(text(&created, "status"), Some("Active"));
        let mut next = created.clone();
        next.insert("name".into(), "b".into());
        next.insert("id".into(), "forged".into());
        clock.advance(jiff::SignedDuration::from_nanos(150));
        let saved = store.replace(&id, next).unwrap();
        assert_eq!(text(&saved, "id"), Some(id.as_str()));
        assert_eq!(text(&saved, "name"), Some("b"));
        assert_ne!(saved["eTag"], created["eTag"]);
        assert_eq!(
            text(&saved, "updatedDateTime"),
            Some("1970-01-01T00:00:00.0000001Z"),
            "the clock, in ticks of 100 ns"
        );
        assert_eq!(
            wire_instant(Timestamp::UNIX_EPOCH),
            "1970-01-01T00:00:00.0000000Z"
        );
    }
}
