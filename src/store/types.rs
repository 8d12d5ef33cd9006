//! What a sync store keeps: the records of links, baselines, checkpoints, events, leases, dead
//! letters, audit entries and unmapped values.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A Partner Center tenant (the partner's Entra tenant id or any stable name): everything a store
/// keeps is keyed by it, so one store serves many tenants.
///
/// ```
/// let tenant = cosell::store::TenantId::new("contoso").unwrap();
/// assert_eq!(tenant.as_str(), "contoso");
/// assert!(cosell::store::TenantId::new("  ").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// A tenant id: any non-blank text of at most 200 characters, trimmed.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] for blank or longer text.
    pub fn new(id: impl Into<String>) -> crate::Result<Self> {
        let id = id.into();
        let trimmed = id.trim();
        if trimmed.is_empty() || trimmed.chars().count() > 200 {
            return Err(crate::Error::validation(
                "a tenant id must be non-blank text of at most 200 characters",
            ));
        }
        Ok(TenantId(trimmed.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = crate::Error;

    fn try_from(id: String) -> crate::Result<Self> {
        TenantId::new(id)
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> String {
        id.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One side's record of a pair: a Partner Center referral or a CRM record, by id. Ids are
/// compared as given: normalise them first (GUIDs lower-case without braces, Salesforce ids in
/// their 18-character form).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RecordRef {
    /// A referral, by its id.
    Referral(String),
    /// A CRM record (Dataverse opportunity, Salesforce Opportunity), by its id.
    Crm(String),
}

impl fmt::Display for RecordRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordRef::Referral(id) => write!(f, "referral {id}"),
            RecordRef::Crm(id) => write!(f, "CRM record {id}"),
        }
    }
}

/// The stable identity of a pair, given when its link is first stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PairId(pub uuid::Uuid);

impl PairId {
    /// A new, random pair id.
    pub fn random() -> Self {
        PairId(uuid::Uuid::new_v4())
    }
}

impl fmt::Display for PairId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum LinkState {
    /// One side is being created: the other side's id is not known yet (or its write-back has
    /// not landed). After a crash, look the missing side up before creating it again.
    Pending,
    /// Both sides exist and are kept in step.
    Linked,
    /// The pair is no longer synced (a CRM record deleted or merged); kept so that neither side is
    /// ever recreated for it.
    Unlinked,
}

/// The coupling of a referral and a CRM record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The pair's identity.
    pub pair: PairId,
    /// The referral's id, once known.
    pub referral_id: Option<String>,
    /// The CRM record's id, once known.
    pub crm_id: Option<String>,
    /// Where the link stands.
    pub state: LinkState,
    /// Why it was unlinked, when it was.
    pub reason: Option<String>,
    /// When the link was first stored.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl Link {
    /// A new link in `state` between the ids known so far.
    pub fn new(
        referral_id: Option<String>,
        crm_id: Option<String>,
        state: LinkState,
        now: Timestamp,
    ) -> Self {
        Link {
            pair: PairId::random(),
            referral_id,
            crm_id,
            state,
            reason: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// The records of the pair that are known.
    pub fn records(&self) -> Vec<RecordRef> {
        let mut records = Vec::new();
        if let Some(id) = &self.referral_id {
            records.push(RecordRef::Referral(id.clone()));
        }
        if let Some(id) = &self.crm_id {
            records.push(RecordRef::Crm(id.clone()));
        }
        records
    }
}

/// A canonical record as the mapping encodes it, held as its JSON text. A record of 40 fields
/// decoded into a [`serde_json::Value`] takes a map allocation per tagged field (about 26 KB);
/// as text it takes one allocation of 1–2 KB, which matters when a batched sweep holds hundreds
/// of pairs at once. Stored exactly as before: the text is the same JSON.
///
/// ```
/// use cosell::store::Snapshot;
///
/// let snapshot = Snapshot::encode(&serde_json::json!({"name": "Contoso"}))?;
/// assert_eq!(snapshot.as_json(), r#"{"name":"Contoso"}"#);
/// let back: serde_json::Value = snapshot.decode()?;
/// assert_eq!(back["name"], "Contoso");
/// // Equal as JSON, whatever the spacing.
/// let spaced: Snapshot = serde_json::from_str(r#"{ "name" : "Contoso" }"#)?;
/// assert_eq!(spaced, snapshot);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Snapshot(Box<serde_json::value::RawValue>);

impl Snapshot {
    /// `value` encoded as JSON.
    ///
    /// # Errors
    /// `value`'s serialization failed.
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Self> {
        serde_json::value::to_raw_value(value).map(Snapshot)
    }

    /// The JSON decoded as a `T`.
    ///
    /// # Errors
    /// The JSON is not a `T`.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(self.0.get())
    }

    /// The JSON text.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }
}

/// Snapshots are equal when their JSON is, whatever its spacing and key order (a PostgreSQL
/// `jsonb` column gives back its own).
impl PartialEq for Snapshot {
    fn eq(&self, other: &Self) -> bool {
        self.as_json() == other.as_json()
            || matches!(
                (
                    self.decode::<serde_json::Value>(),
                    other.decode::<serde_json::Value>()
                ),
                (Ok(a), Ok(b)) if a == b
            )
    }
}

/// What both sides agreed on after the last successful sync of a pair: the canonical snapshot
/// (as the mapping encodes it), its hash, and each side's version at that time. Stored only after
/// the writes it describes succeeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// The canonical record, encoded by the mapping.
    pub snapshot: Snapshot,
    /// The hash of the snapshot (the convergence hash), to recognise echoes cheaply.
    pub hash: String,
    /// The referral's `eTag` after the sync.
    pub referral_etag: Option<String>,
    /// The referral's `updatedDateTime` after the sync.
    pub referral_modified: Option<Timestamp>,
    /// The CRM record's version (Dataverse ETag, Salesforce `LastModifiedDate`) after the sync.
    pub crm_version: Option<String>,
    /// The CRM record's modification time after the sync.
    pub crm_modified: Option<Timestamp>,
    /// Changes the field policies held back, as already reported (so a held change is reported
    /// once, and again only when it changes).
    pub held: Option<serde_json::Value>,
    /// When it was stored.
    pub updated_at: Timestamp,
}

/// How far a listing of one side has been settled: the server modification time of the last
/// settled record and, for ties on that time, the greatest id settled at it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The server timestamp of the last settled record.
    pub at: Timestamp,
    /// Among records stamped `at`, the greatest id settled.
    pub last_id: Option<String>,
}

/// A time-limited exclusive claim on a name (a sweep, a webhook registration, an inbox event),
/// with a fencing token that grows with every grant: a store refuses an update fenced by a token
/// that is no longer the current holder's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The tenant.
    pub tenant: TenantId,
    /// What is claimed.
    pub name: String,
    /// Who holds it.
    pub owner: String,
    /// The fencing token: larger than every token granted before it by the same store.
    pub token: u64,
    /// When the claim lapses unless renewed.
    pub expires_at: Timestamp,
}

/// The lock on one pair: held by one worker at a time, over every known id of the pair, with a
/// fencing token checked by each store update of the pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairLock {
    /// The tenant.
    pub tenant: TenantId,
    /// The ids locked, sorted.
    pub records: Vec<RecordRef>,
    /// Who holds it.
    pub owner: String,
    /// The fencing token.
    pub token: u64,
    /// When the lock lapses unless renewed.
    pub expires_at: Timestamp,
}

/// The id of an inbox event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InboxId(pub u64);

/// A verified webhook event waiting to be processed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxEvent {
    /// Its id in the inbox.
    pub id: InboxId,
    /// The tenant it was delivered for.
    pub tenant: TenantId,
    /// Its deduplication key (the webhook event's `dedupe_key`).
    pub dedupe_key: String,
    /// The event, as received (after verification).
    pub payload: serde_json::Value,
    /// When it was stored.
    pub received_at: Timestamp,
    /// How many times it was claimed.
    pub attempts: u32,
    /// Not to be claimed before this time (after a failed attempt).
    pub not_before: Timestamp,
}

/// An inbox event claimed by a worker, with the lease that lets it complete the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimedEvent {
    /// The event.
    pub event: InboxEvent,
    /// The claim: complete or release the event with it before it expires.
    pub lease: Lease,
}

/// The id of a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeadLetterId(pub u64);

/// Work that failed after its retries, kept until someone retries or discards it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Its id.
    pub id: DeadLetterId,
    /// The tenant.
    pub tenant: TenantId,
    /// The records concerned.
    pub records: Vec<RecordRef>,
    /// What failed, in words (the typed error's message).
    pub error: String,
    /// What failed, for grouping and retrying: the synchronizer writes `referral` or `crm` (the
    /// record a failed pair sync started from) and `inbox` (an inbox event that is not an event).
    pub kind: String,
    /// What is needed to retry it (for example the event).
    pub payload: serde_json::Value,
    /// How many attempts were made.
    pub attempts: u32,
    /// When it was dead-lettered.
    pub at: Timestamp,
}

impl DeadLetter {
    /// Whether `other` is failed work of the same kind on the same records (of one tenant):
    /// the letter [`merge_dead_letter`](super::SyncStore::merge_dead_letter) updates.
    pub(super) fn same_work(&self, other: &DeadLetter) -> bool {
        self.tenant == other.tenant && self.kind == other.kind && self.records == other.records
    }

    /// Takes `newer`'s error, payload and time, adding up the attempts.
    pub(super) fn merge(&mut self, newer: DeadLetter) {
        self.error = newer.error;
        self.payload = newer.payload;
        self.at = newer.at;
        self.attempts = self.attempts.saturating_add(newer.attempts);
    }
}

/// One line of the audit trail: what the sync did to a pair, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The tenant.
    pub tenant: TenantId,
    /// The pair, when it has one.
    pub pair: Option<PairId>,
    /// The records concerned.
    pub records: Vec<RecordRef>,
    /// When.
    pub at: Timestamp,
    /// The outcome (`created`, `updated`, `held`, `conflict`, …).
    pub outcome: String,
    /// The canonical fields concerned.
    pub fields: Vec<String>,
    /// More detail: a reason, an error, or field values when the retention settings allow them.
    pub detail: Option<String>,
}

/// An option value the mapping could not map, recorded once per distinct value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmappedValue {
    /// The canonical field.
    pub field: String,
    /// The value as the source sent it.
    pub value: String,
    /// When it was first seen.
    pub first_seen: Timestamp,
    /// When it was last seen.
    pub last_seen: Timestamp,
    /// How many times it was seen.
    pub count: u64,
}

/// A tenant's pairs counted by where they stand ([`SyncStore::pair_counts`](super::SyncStore::pair_counts)),
/// exactly, over the whole audit trail the store keeps.
///
/// The last four count *subjects*: a pair, or a record whose sync never made a link (a
/// referral out of scope, a rejected create). A subject counts under the outcome of its newest
/// audit entry that tells where it stands (`busy` and `duplicate` tell nothing); an entry
/// without a pair counts for the pair of a link holding one of its records, else for its first
/// record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PairCounts {
    /// Linked pairs whose newest telling outcome is none of `excluded`, `held`, `conflict`,
    /// `failed` or `rejected`.
    pub in_sync: u64,
    /// Linked pairs.
    pub linked: u64,
    /// Pairs whose other side is being created.
    pub pending: u64,
    /// Pairs no longer synced.
    pub unlinked: u64,
    /// Subjects last excluded (out of scope, sync flag off, not found, unlinked).
    pub excluded: u64,
    /// Subjects whose last sync held changes it cannot write.
    pub held: u64,
    /// Subjects whose last sync left a conflict to a person.
    pub conflict: u64,
    /// Subjects whose last sync failed or was rejected.
    pub failing: u64,
}

impl PairCounts {
    /// Counts a link state's links.
    pub(super) fn add_links(&mut self, state: LinkState, count: u64) {
        match state {
            LinkState::Linked => self.linked += count,
            LinkState::Pending => self.pending += count,
            LinkState::Unlinked => self.unlinked += count,
        }
    }

    /// Counts `count` subjects whose newest telling outcome is `outcome`, of which those that
    /// are linked pairs are `linked`; [`in_sync`](Self::in_sync) is what is left of the linked
    /// pairs once every outcome is counted.
    pub(super) fn add_outcome(&mut self, outcome: &str, linked: bool, count: u64) {
        let slot = match outcome {
            "excluded" => &mut self.excluded,
            "held" => &mut self.held,
            "conflict" => &mut self.conflict,
            "failed" | "rejected" => &mut self.failing,
            _ => return,
        };
        *slot += count;
        if linked {
            self.in_sync = self.in_sync.saturating_add(count);
        }
    }

    /// Turns the linked pairs counted as not in sync (kept in `in_sync` while counting) into
    /// the pairs in sync.
    pub(super) fn finish(mut self) -> Self {
        self.in_sync = self.linked.saturating_sub(self.in_sync);
        self
    }
}

/// The audit outcomes that say nothing of where a pair stands.
pub(super) const UNTELLING_OUTCOMES: [&str; 2] = ["busy", "duplicate"];

/// What [`SyncStore::purge`](super::SyncStore::purge) removes besides expired event marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention {
    /// Audit entries older than this go (`None`: kept).
    pub audit_before: Option<Timestamp>,
    /// Dead letters older than this go (`None`: kept).
    pub dead_letters_before: Option<Timestamp>,
}
