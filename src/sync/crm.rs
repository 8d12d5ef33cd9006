//! The CRM behind a [`Synchronizer`](super::Synchronizer): the few operations the sync needs,
//! implemented for Dataverse ([`DataverseCrm`](super::DataverseCrm)) and Salesforce
//! ([`SalesforceCrm`](super::SalesforceCrm)); a user can implement it for a third CRM.

use std::fmt;

use async_trait::async_trait;
use jiff::Timestamp;
use serde_json::Value as Json;

use super::setup::SetupProblem;
use crate::error::Result;
use crate::mapping::{
    ContactQuery, ContactResolver, CrmReadFields, CrmWrite, DeclarativeMapping, EmailContactMatch,
    Lookup, Resolution,
};

/// What the sync tells a [`Crm`] about the mapping it serves: which fields to read, which
/// column holds the referral id and the sync flag, and what records it creates carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncColumns {
    /// The fields the mapping reads (own columns and related records).
    pub read: CrmReadFields,
    /// The column holding the referral id (a Dataverse alternate key, a Salesforce External ID).
    pub referral_id: String,
    /// The "Sync with Partner Center" column, when the mapping has one.
    pub sync_flag: Option<String>,
    /// Values every record the sync creates carries (owner, record type).
    pub create: CreateDefaults,
}

/// What the records the sync creates in the CRM carry besides the mapped fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateDefaults {
    /// The owner: a Dataverse `systemuser` id (bound as `ownerid`) or a Salesforce user id
    /// (`OwnerId`). `None` leaves the CRM's default (the integration user).
    pub owner: Option<String>,
    /// The Salesforce record type id (`RecordTypeId`); ignored by Dataverse.
    pub record_type: Option<String>,
}

/// A CRM record as the sync reads it: its id, its JSON (with the related records the mapping
/// reads), and the version a conditional update names.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmRecord {
    /// The record's id, as the CRM spells it.
    pub id: String,
    /// The record as read, for [`FieldMapping::crm_to_canonical`](crate::mapping::FieldMapping::crm_to_canonical).
    pub body: Json,
    /// The version an update is conditional on: the Dataverse ETag, or the Salesforce
    /// `LastModifiedDate` as read.
    pub version: Option<String>,
    /// The server's last modification time (`modifiedon`, `LastModifiedDate`).
    pub modified: Option<Timestamp>,
}

/// The operations the synchronizer needs from a CRM.
///
/// Every write must carry the integration's origin mark (Dataverse `tag`, Salesforce
/// `Sforce-Call-Options`), which the crate's implementations take from their client's
/// configuration. Errors are the crate's: a `412` is [`Error::is_conflict`](crate::Error::is_conflict),
/// a lost answer [`Error::is_outcome_unknown`](crate::Error::is_outcome_unknown) — the sync
/// re-reads and decides again on both.
#[async_trait]
pub trait Crm: Send + Sync + fmt::Debug {
    /// A short name for outcomes and the audit trail (`dataverse`, `salesforce`).
    fn name(&self) -> &str;

    /// Requests the CRM's client has sent so far, retries included (for a sweep's report). An
    /// implementation that cannot count answers 0.
    fn requests_sent(&self) -> u64 {
        0
    }

    /// The CRM's API allowance as `(used, limit)`, where it reports one — Salesforce's rolling
    /// 24-hour allocation from the last `Sforce-Limit-Info` — for a sweep to stop within its
    /// [budget](super::SynchronizerBuilder::crm_api_budget).
    fn api_usage(&self) -> Option<(u64, u64)> {
        None
    }

    /// Checks that the CRM can hold what `mapping` maps (metadata, describe), returning every
    /// problem found; called once by [`SynchronizerBuilder::build`](super::SynchronizerBuilder::build).
    async fn check(
        &self,
        mapping: &DeclarativeMapping,
        columns: &SyncColumns,
    ) -> Result<Vec<SetupProblem>>;

    /// The record with this id, or `None` when it was deleted (or merged away).
    async fn get(&self, id: &str, columns: &SyncColumns) -> Result<Option<CrmRecord>>;

    /// The record whose referral-id column holds `referral_id`, if any.
    async fn find_by_referral(
        &self,
        referral_id: &str,
        columns: &SyncColumns,
    ) -> Result<Option<CrmRecord>>;

    /// Resolves the write's lookups (account, contact, currency) by exact match, creating the
    /// records that are missing; returns the lookups left unbound (ambiguous matches, unknown
    /// currencies), which the write is sent without.
    async fn resolve(&self, write: &mut CrmWrite) -> Result<Vec<(Lookup, Resolution)>>;

    /// Creates the record for a referral idempotently (an upsert keyed by the referral-id
    /// column: a replay after a lost answer finds the record the first attempt made), then makes
    /// the write's state change; returns the record's id.
    async fn create(
        &self,
        referral_id: &str,
        write: &CrmWrite,
        columns: &SyncColumns,
    ) -> Result<String>;

    /// Updates the record with the write's body, conditional on `record.version`, then makes
    /// its state change (won, lost, reopened) through the CRM's own means.
    async fn update(&self, record: &CrmRecord, write: &CrmWrite) -> Result<()>;

    /// The most updates [`update_many`](Self::update_many) sends in one request: 1 (the
    /// default) when the CRM has no batch write.
    fn write_batch_limit(&self) -> usize {
        1
    }

    /// How many records one [`get_many`](Self::get_many) request reads (its URL's share of ids):
    /// a batched sweep starts that many pairs at a time, so that each group's reads go out as
    /// one request while few pairs are in flight. By default 100.
    fn read_batch_limit(&self) -> usize {
        100
    }

    /// The records with these ids, in as few requests as the API allows (the crate's
    /// implementations: Dataverse `Microsoft.Dynamics.CRM.In`, SOQL `IN`, chunked to keep each
    /// URL short); a record that is gone is absent from the answer. By default one
    /// [`get`](Self::get) per id.
    async fn get_many(&self, ids: &[String], columns: &SyncColumns) -> Result<Vec<CrmRecord>> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(record) = self.get(id, columns).await? {
                found.push(record);
            }
        }
        Ok(found)
    }

    /// Makes each [`update`](Self::update), each still conditional on its record's version,
    /// in as few requests as the API allows (Dataverse `$batch` with continue-on-error,
    /// Salesforce `composite`). The writes are taken by value so that each can be let go once
    /// it is encoded: a full batch is never held decoded beside its request and answer.
    ///
    /// One answer per write, in order: `Some` with the write's own result (each fails on its
    /// own), `None` for a write the service did not reach, which the caller sends again on its
    /// own. `Err` when the whole request failed (nothing is known of any write). By default
    /// one [`update`](Self::update) per write.
    async fn update_many(
        &self,
        writes: Vec<(CrmRecord, CrmWrite)>,
    ) -> Result<Vec<Option<Result<()>>>> {
        let mut results = Vec::with_capacity(writes.len());
        for (record, write) in writes {
            results.push(Some(self.update(&record, &write).await));
        }
        Ok(results)
    }

    /// Lists the records with the sync flag set that changed at or after `since`, oldest change
    /// first, handing each id and modification time to `each` as its page arrives, so that a
    /// listing of every record is never held whole. A sweep polls the listing only while
    /// nothing it was handed waits to be matched against the store: an implementation that
    /// hands over a page's records before it asks for the next page is never more than a page
    /// ahead.
    async fn each_changed_since(
        &self,
        since: Timestamp,
        columns: &SyncColumns,
        each: &mut (dyn FnMut(String, Timestamp) + Send),
    ) -> Result<()>;

    /// The ids of the records with the sync flag set that changed at or after `since`, oldest
    /// change first, with their modification times: the CRM poll.
    async fn changed_since(
        &self,
        since: Timestamp,
        columns: &SyncColumns,
    ) -> Result<Vec<(String, Timestamp)>> {
        let mut changed = Vec::new();
        self.each_changed_since(since, columns, &mut |id, at| changed.push((id, at)))
            .await?;
        Ok(changed)
    }
}

/// The contact for `query` among the CRM's contacts with its e-mail, as `(email, id)`: several
/// are ambiguous (a person decides); otherwise the default e-mail rule.
pub(super) async fn match_contact(
    query: &ContactQuery,
    found: &[(String, String)],
) -> Result<Resolution> {
    if found.len() > 1 {
        return Ok(Resolution::Ambiguous(
            found.iter().map(|(_, id)| id.clone()).collect(),
        ));
    }
    EmailContactMatch::new(
        found
            .iter()
            .map(|(email, id)| (email.as_str(), id.as_str())),
    )
    .resolve_contact(query)
    .await
}

/// A text column of a CRM row, when it holds one.
pub(super) fn text(row: &serde_json::Value, column: &str) -> Option<String> {
    row.get(column)
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

/// The most characters of quoted ids one bulk read puts in its URL: well under the URL limits
/// of Dataverse and Salesforce (about 16 KB for either once encoded).
pub(super) const BULK_READ_CHARS: usize = 6000;

/// `ids` in chunks whose quoted, comma-separated list stays within [`BULK_READ_CHARS`].
pub(super) fn url_chunks(ids: &[String]) -> Vec<&[String]> {
    let mut chunks = Vec::new();
    let (mut start, mut chars) = (0, 0);
    for (i, id) in ids.iter().enumerate() {
        let cost = id.len() + 3;
        if i > start && chars + cost > BULK_READ_CHARS {
            chunks.push(&ids[start..i]);
            (start, chars) = (i, 0);
        }
        chars += cost;
    }
    if start < ids.len() {
        chunks.push(&ids[start..]);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::{BULK_READ_CHARS, url_chunks};

    #[test]
    fn ids_are_chunked_to_the_url_budget_without_losing_or_repeating_one() {
        let ids: Vec<String> = (0..1000).map(|i| format!("{i:036}")).collect();
        let chunks = url_chunks(&ids);
        assert_eq!(
            chunks.len(),
            (1000 * 39usize).div_ceil(BULK_READ_CHARS - BULK_READ_CHARS % 39)
        );
        assert!(
            chunks
                .iter()
                .all(|c| c.iter().map(|id| id.len() + 3).sum::<usize>() <= BULK_READ_CHARS)
        );
        let joined: Vec<&String> = chunks.iter().flat_map(|c| c.iter()).collect();
        assert_eq!(joined, ids.iter().collect::<Vec<_>>());
        assert!(url_chunks(&[]).is_empty());
        let huge = vec!["x".repeat(BULK_READ_CHARS * 2)];
        assert_eq!(
            url_chunks(&huge).len(),
            1,
            "an id longer than the budget goes alone"
        );
    }
}
