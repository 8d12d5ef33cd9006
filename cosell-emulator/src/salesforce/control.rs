//! The test's side of the emulated org: seed and read records, act as a CRM user, read the
//! `Sforce-Call-Options` of each write, and set the daily API limit.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::FieldType;
use super::store::{FieldSchema, Org, RecordedWrite, WriteError, Writer};
use crate::error::{Error, Result};
use crate::lock;

/// Salesforce's emulated state, and a CRM user's side of it.
///
/// The org holds `Opportunity` (with the co-sell custom fields `Referral_Id__c` — an External
/// ID —, `Referral_Link__c`, `Sync_With_Partner_Center__c` and the others of the default
/// Salesforce mapping), `Account`, `Contact` and
/// `OpportunityStage` (seeded with the standard stages). Records written here get ids and
/// `CreatedDate` / `LastModifiedDate` / `SystemModstamp` as the service gives them.
///
/// Requests to the REST API are counted (see [`Emulator::count`](crate::Emulator::count)
/// with [`EmulatedApi::Salesforce`](crate::EmulatedApi::Salesforce)) as `create`,
/// `retrieve`, `update`, `delete`, `upsert`, `retrieve_by_external_id`, `query`, `query.next`,
/// `query_all`, `query_all.next`, `collections.create`, `collections.update`,
/// `collections.upsert`, `collections.delete`, `collections.retrieve`, `composite`,
/// `replication.updated`, `replication.deleted`, `describe`, `describe.global`, `sobject.info`,
/// `limits`, `resources`, `versions`, `identity`, `userinfo`, `method_not_allowed` and
/// `not_found`; the login endpoint as `oauth.token`.
///
/// ```
/// use serde_json::json;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let emulator = cosell_emulator::Emulator::start().await.unwrap();
/// let org = emulator.salesforce();
/// let id = org
///     .seed("Opportunity", json!({"Name": "Fabrikam", "StageName": "Prospecting", "CloseDate": "2026-06-30"}))
///     .unwrap();
/// org.flag_for_sync(&id).unwrap();
/// let record = org.record("Opportunity", &id).unwrap();
/// assert_eq!(record["Sync_With_Partner_Center__c"], true);
/// assert_eq!(record["Probability"], 10);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct SalesforceControl {
    org: Arc<Mutex<Org>>,
}

fn refused(error: WriteError) -> Error {
    Error::invalid(format!("{}: {}", error.code, error.message))
}

impl SalesforceControl {
    pub(crate) fn new(org: Arc<Mutex<Org>>) -> Self {
        SalesforceControl { org }
    }

    /// Adds a record as data already in the org and returns its id. Any field may be given,
    /// read-only ones and modification stamps included (those not given are set to now).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let emulator = cosell_emulator::Emulator::start().await.unwrap();
    /// let id = emulator.salesforce().seed("Account", serde_json::json!({"Name": "Contoso"})).unwrap();
    /// assert!(id.starts_with("001") && id.len() == 18);
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`Error::Invalid`] with Salesforce's code for an unknown object or field, a value of
    /// the wrong type, or a required field missing.
    pub fn seed(&self, sobject: &str, fields: Value) -> Result<String> {
        lock(&self.org)
            .create(sobject, &fields, Writer::Seed)
            .map_err(refused)
    }

    /// A record as the REST API shows it (every field), deleted ones included (`IsDeleted`).
    pub fn record(&self, sobject: &str, id: &str) -> Option<Value> {
        let org = lock(&self.org);
        let index = org.find(sobject, id)?;
        let record = org.records.get(index)?;
        Some(org.view(record, None, super::API_VERSION))
    }

    /// The live records of `sobject`, oldest first.
    pub fn records(&self, sobject: &str) -> Vec<Value> {
        let org = lock(&self.org);
        org.records
            .iter()
            .filter(|r| r.sobject.eq_ignore_ascii_case(sobject) && !r.deleted)
            .map(|r| org.view(r, None, super::API_VERSION))
            .collect()
    }

    /// Edits a record as a CRM user in the browser would: the fields change,
    /// `LastModifiedDate` and `SystemModstamp` move on, and no `Sforce-Call-Options` is recorded.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an unknown or deleted record, or a field the write refuses.
    pub fn edit(&self, sobject: &str, id: &str, fields: Value) -> Result<()> {
        let mut org = lock(&self.org);
        let index = org
            .find(sobject, id)
            .ok_or_else(|| Error::invalid(format!("no {sobject} record {id}")))?;
        org.update(index, &fields, Writer::Api).map_err(refused)
    }

    /// Edits an opportunity as a CRM user; see [`edit`](Self::edit).
    ///
    /// ```
    /// use serde_json::json;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let emulator = cosell_emulator::Emulator::start().await.unwrap();
    /// let org = emulator.salesforce();
    /// let id = org
    ///     .seed("Opportunity", json!({"Name": "Fabrikam", "StageName": "Prospecting", "CloseDate": "2026-06-30"}))
    ///     .unwrap();
    /// org.edit_opportunity(&id, json!({"StageName": "Closed Won"})).unwrap();
    /// assert_eq!(org.record("Opportunity", &id).unwrap()["IsWon"], true);
    /// # });
    /// ```
    ///
    /// # Errors
    /// As [`edit`](Self::edit).
    pub fn edit_opportunity(&self, id: &str, fields: Value) -> Result<()> {
        self.edit("Opportunity", id, fields)
    }

    /// Ticks the opportunity's `Sync_With_Partner_Center__c` box, as a seller asking for co-sell.
    ///
    /// # Errors
    /// As [`edit`](Self::edit).
    pub fn flag_for_sync(&self, id: &str) -> Result<()> {
        self.edit_opportunity(id, json!({ "Sync_With_Partner_Center__c": true }))
    }

    /// Deletes a record as a CRM user (to the recycle bin: `queryAll` still finds it).
    ///
    /// # Errors
    /// [`Error::Invalid`] for an unknown or already deleted record.
    pub fn delete(&self, sobject: &str, id: &str) -> Result<()> {
        let mut org = lock(&self.org);
        let index = org
            .find(sobject, id)
            .ok_or_else(|| Error::invalid(format!("no {sobject} record {id}")))?;
        org.delete(index).map_err(refused)
    }

    /// Adds a custom field (`Partner_Ref__c`) to an object, optionally marked External ID.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an unknown object or a name already taken.
    pub fn add_custom_field(
        &self,
        sobject: &str,
        name: &str,
        field_type: FieldType,
        external_id: bool,
    ) -> Result<()> {
        let mut org = lock(&self.org);
        let schema = org
            .schemas
            .iter_mut()
            .find(|s| s.name.eq_ignore_ascii_case(sobject))
            .ok_or_else(|| Error::invalid(format!("no object {sobject}")))?;
        if schema.field(name).is_some() {
            return Err(Error::invalid(format!(
                "{sobject} already has a field {name}"
            )));
        }
        schema
            .fields
            .push(FieldSchema::custom(name, field_type, external_id));
        let field = name.to_owned();
        let sobject = schema.name.clone();
        let positions: Vec<usize> = (0..org.records.len())
            .filter(|&i| org.records[i].sobject == sobject)
            .collect();
        for position in positions {
            org.records.change(position, |record| {
                record.fields.insert(field.clone(), Value::Null);
            });
        }
        Ok(())
    }

    /// Every write received through the REST API, in order, with its `Sforce-Call-Options`.
    pub fn writes(&self) -> Vec<RecordedWrite> {
        lock(&self.org).writes.clone()
    }

    /// The `Sforce-Call-Options` of each API write that touched record `id`, in order.
    pub fn call_options_for(&self, id: &str) -> Vec<Option<String>> {
        lock(&self.org)
            .writes
            .iter()
            .filter(|w| w.ids.iter().any(|i| super::store::same_id(i, id)))
            .map(|w| w.call_options.clone())
            .collect()
    }

    /// Sets the daily API allocation; requests beyond it get `403 REQUEST_LIMIT_EXCEEDED`.
    pub fn set_daily_api_limit(&self, limit: u64) {
        lock(&self.org).api_limit = limit;
    }

    /// The API requests counted so far, and the allocation.
    pub fn api_usage(&self) -> ApiUsage {
        let org = lock(&self.org);
        ApiUsage {
            used: org.api_used,
            limit: org.api_limit,
        }
    }
}

/// The org's daily API request count and allocation, as `Sforce-Limit-Info: api-usage=used/limit`
/// reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiUsage {
    /// Requests counted so far.
    pub used: u64,
    /// Requests allowed.
    pub limit: u64,
}
