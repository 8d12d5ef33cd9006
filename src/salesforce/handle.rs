//! The borrowed handle on one sObject type, so that every client addresses a resource the same
//! way (`pc.referrals()`, `dv.table(..)`, `sf.sobject(..)`).

use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::Salesforce;
use super::describe::SObjectDescribe;
use super::sobject::UpsertOutcome;
use crate::error::Result;

/// Operations on one sObject type with any `Serialize` / `DeserializeOwned` record type.
/// Borrowed from the client: [`Salesforce::sobject`], [`Salesforce::opportunities`].
///
/// ```no_run
/// # async fn run(sf: cosell::salesforce::Salesforce) -> cosell::Result<()> {
/// use cosell::salesforce::Opportunity;
/// let opp: Opportunity = sf.opportunities().retrieve("006A0000001", &["Name", "StageName"]).await?;
/// let account: serde_json::Value = sf.sobject("Account").retrieve("001A0000001", &[]).await?;
/// # let _ = (opp, account); Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SObject<'a> {
    client: &'a Salesforce,
    name: &'a str,
}

impl Salesforce {
    /// The handle on the sObject type `name` (`Account`, `Referral__c`); the name is checked
    /// when a call is made.
    pub fn sobject<'a>(&'a self, name: &'a str) -> SObject<'a> {
        SObject { client: self, name }
    }

    /// The handle on `Opportunity`.
    pub fn opportunities(&self) -> SObject<'_> {
        self.sobject("Opportunity")
    }
}

impl SObject<'_> {
    /// The sObject type's API name.
    pub fn name(&self) -> &str {
        self.name
    }

    /// Creates a record; see [`Salesforce::create`].
    pub async fn create<T: Serialize + ?Sized>(&self, record: &T) -> Result<String> {
        self.client.create(self.name, record).await
    }

    /// Reads a record by id, only `fields` when given; see [`Salesforce::retrieve`].
    pub async fn retrieve<T: DeserializeOwned>(&self, id: &str, fields: &[&str]) -> Result<T> {
        self.client.retrieve(self.name, id, fields).await
    }

    /// Reads a record by an external id field; see [`Salesforce::retrieve_by_external_id`].
    pub async fn retrieve_by_external_id<T: DeserializeOwned>(
        &self,
        external_id_field: &str,
        value: &str,
        fields: &[&str],
    ) -> Result<T> {
        self.client
            .retrieve_by_external_id(self.name, external_id_field, value, fields)
            .await
    }

    /// Updates a record unconditionally; see [`Salesforce::update`].
    pub async fn update<T: Serialize + ?Sized>(&self, id: &str, patch: &T) -> Result<()> {
        self.client.update(self.name, id, patch).await
    }

    /// Updates a record only if it is unchanged since `last_modified`; see
    /// [`Salesforce::update_if_unmodified_since`].
    pub async fn update_if_unmodified_since<T: Serialize + ?Sized>(
        &self,
        id: &str,
        patch: &T,
        last_modified: Timestamp,
    ) -> Result<()> {
        self.client
            .update_if_unmodified_since(self.name, id, patch, last_modified)
            .await
    }

    /// Deletes a record; see [`Salesforce::delete`].
    pub async fn delete(&self, id: &str) -> Result<()> {
        self.client.delete(self.name, id).await
    }

    /// Creates or updates the record whose external id field holds `value`; see
    /// [`Salesforce::upsert`].
    pub async fn upsert<T: Serialize + ?Sized>(
        &self,
        external_id_field: &str,
        value: &str,
        record: &T,
    ) -> Result<UpsertOutcome> {
        self.client
            .upsert(self.name, external_id_field, value, record)
            .await
    }

    /// The sObject type's fields and picklists; see [`Salesforce::describe`].
    pub async fn describe(&self) -> Result<SObjectDescribe> {
        self.client.describe(self.name).await
    }
}
