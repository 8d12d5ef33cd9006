//! sObject Collections (`composite/sobjects`): many records per call, in chunks of 200.

use http::Method;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::client::Salesforce;
use super::handle::SObject;
use super::sobject::{SaveResult, sobject_name};
use crate::error::{Error, Result};
use crate::http::Response;

/// The most records one Collections call takes.
pub const COLLECTION_LIMIT: usize = 200;

/// Whether the records of a Collections write stand or fall together.
///
/// Salesforce's `allOrNone` holds within one call only, and one call takes at most
/// [`COLLECTION_LIMIT`] records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Atomicity {
    /// Each record succeeds or fails on its own (`allOrNone: false`).
    #[default]
    PerRecord,
    /// All records or none (`allOrNone: true`); refused for more than 200 records, which
    /// would take several calls.
    AllOrNone,
    /// All or none within each chunk of up to 200 records: an earlier chunk stays written when
    /// a later one fails.
    AllOrNonePerChunk,
}

impl Atomicity {
    fn check(self, count: usize) -> Result<bool> {
        match self {
            Atomicity::PerRecord => Ok(false),
            Atomicity::AllOrNonePerChunk => Ok(true),
            Atomicity::AllOrNone if count <= COLLECTION_LIMIT => Ok(true),
            Atomicity::AllOrNone => Err(Error::validation(format!(
                "all-or-none holds for at most {COLLECTION_LIMIT} records per call, and {count} \
                 were given: split them, or accept Atomicity::AllOrNonePerChunk"
            ))),
        }
    }
}

fn typed_records<T: Serialize>(sobject: &str, records: &[T], needs_id: bool) -> Result<Vec<Value>> {
    records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let mut map = match serde_json::to_value(record) {
                Ok(Value::Object(map)) => map,
                Ok(_) => {
                    return Err(Error::validation(format!(
                        "record {index} is not a JSON object"
                    )));
                }
                Err(e) => {
                    return Err(Error::validation(format!(
                        "record {index} could not be serialized: {e}"
                    )));
                }
            };
            let has_id = matches!(map.get("Id"), Some(Value::String(id)) if !id.is_empty());
            if needs_id && !has_id {
                return Err(Error::validation(format!(
                    "record {index} has no Id to update"
                )));
            }
            let mut attributes = match map.remove("attributes") {
                Some(Value::Object(a)) => a,
                _ => Map::new(),
            };
            attributes.insert("type".to_owned(), Value::String(sobject.to_owned()));
            // `attributes` first, as Salesforce's own examples have it.
            let mut typed = Map::new();
            typed.insert("attributes".to_owned(), Value::Object(attributes));
            typed.extend(map);
            Ok(Value::Object(typed))
        })
        .collect()
}

/// One [`SaveResult`] for each of the `sent` records or ids of one call.
fn save_results(response: &Response, sent: usize, what: &str) -> Result<Vec<SaveResult>> {
    let results: Vec<SaveResult> = response.json()?;
    if results.len() != sent {
        return Err(
            response.decode_error(".", format!("{} results for {sent} {what}", results.len()))
        );
    }
    Ok(results)
}

impl Salesforce {
    /// Sends `records` in calls of at most [`COLLECTION_LIMIT`]; one result per record, in
    /// order. The first failed call ends it, the earlier ones staying written.
    async fn collection_calls(
        &self,
        method: Method,
        segments: &[&str],
        all_or_none: bool,
        records: &[Value],
        operation: &'static str,
        idempotent: bool,
    ) -> Result<Vec<SaveResult>> {
        let mut results = Vec::with_capacity(records.len());
        for chunk in records.chunks(COLLECTION_LIMIT) {
            let request = self
                .write(method.clone(), segments)
                .literal_path()
                .operation(operation)
                .idempotent(idempotent)
                .json(&json!({ "allOrNone": all_or_none, "records": chunk }));
            let response = self.send(request).await?;
            results.extend(save_results(&response, chunk.len(), "records")?);
        }
        Ok(results)
    }

    /// Deletes records by id (`DELETE composite/sobjects?ids=…&allOrNone=…`), 200 per call;
    /// one [`SaveResult`] per id.
    ///
    /// ```no_run
    /// # async fn run(sf: cosell::salesforce::Salesforce) -> cosell::Result<()> {
    /// use cosell::salesforce::Atomicity;
    /// sf.delete_many(&["006A", "006B"], Atomicity::PerRecord).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`SObject::create_many`], and [`Error::Validation`] for an id that is not
    /// alphanumeric.
    pub async fn delete_many<S: AsRef<str>>(
        &self,
        ids: &[S],
        atomicity: Atomicity,
    ) -> Result<Vec<SaveResult>> {
        let all_or_none = atomicity.check(ids.len())?;
        let ids: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
        if let Some(bad) = ids
            .iter()
            .find(|id| id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return Err(Error::validation(format!("`{bad}` is not a record id")));
        }
        let mut results = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(COLLECTION_LIMIT) {
            let request = self
                .write(Method::DELETE, ["composite", "sobjects"])
                .literal_path()
                .operation("salesforce.collections.delete")
                .query("ids", chunk.join(","))
                .query("allOrNone", all_or_none.to_string());
            let response = self.send(request).await?;
            results.extend(save_results(&response, chunk.len(), "ids")?);
        }
        Ok(results)
    }
}

impl SObject<'_> {
    /// Creates records (`POST composite/sobjects`), 200 per call; one [`SaveResult`] per
    /// record, in input order.
    ///
    /// ```no_run
    /// # async fn run(sf: cosell::salesforce::Salesforce) -> cosell::Result<()> {
    /// use cosell::salesforce::{Atomicity, Opportunity};
    /// let new = vec![Opportunity::new("A", "Prospecting", "2025-09-30".parse().unwrap())];
    /// let results = sf.opportunities().create_many(&new, Atomicity::PerRecord).await?;
    /// for (record, result) in new.iter().zip(&results) {
    ///     if !result.success { println!("{:?}: {:?}", record.name, result.errors); }
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Validation`] before anything is sent (a record that is not an object, or
    /// [`Atomicity::AllOrNone`] over more than 200 records); the first failed call's error
    /// otherwise, after which the earlier chunks stay written.
    pub async fn create_many<T: Serialize>(
        &self,
        records: &[T],
        atomicity: Atomicity,
    ) -> Result<Vec<SaveResult>> {
        let all_or_none = atomicity.check(records.len())?;
        let typed = typed_records(sobject_name(self.name)?, records, false)?;
        self.client
            .collection_calls(
                Method::POST,
                &["composite", "sobjects"],
                all_or_none,
                &typed,
                "salesforce.collections.create",
                false,
            )
            .await
    }

    /// Updates records (`PATCH composite/sobjects`), each carrying its `Id`; 200 per call, one
    /// [`SaveResult`] per record.
    ///
    /// ```no_run
    /// # async fn run(sf: cosell::salesforce::Salesforce) -> cosell::Result<()> {
    /// use cosell::salesforce::Atomicity;
    /// let changes = vec![serde_json::json!({"Id": "006A", "StageName": "Closed Won"})];
    /// sf.opportunities().update_many(&changes, Atomicity::PerRecord).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`create_many`](Self::create_many), and [`Error::Validation`] for a record without
    /// `Id`.
    pub async fn update_many<T: Serialize>(
        &self,
        records: &[T],
        atomicity: Atomicity,
    ) -> Result<Vec<SaveResult>> {
        let all_or_none = atomicity.check(records.len())?;
        let typed = typed_records(sobject_name(self.name)?, records, true)?;
        self.client
            .collection_calls(
                Method::PATCH,
                &["composite", "sobjects"],
                all_or_none,
                &typed,
                "salesforce.collections.update",
                true,
            )
            .await
    }

    /// Creates or updates records by an external id field
    /// (`PATCH composite/sobjects/<sobject>/<field>`), each carrying its value of `field`;
    /// 200 per call, one [`SaveResult`] (with `created`) per record.
    ///
    /// ```no_run
    /// # async fn run(sf: cosell::salesforce::Salesforce) -> cosell::Result<()> {
    /// use cosell::salesforce::Atomicity;
    /// let rows = vec![serde_json::json!({"Referral_Id__c": "r-1", "Name": "A",
    ///     "StageName": "Prospecting", "CloseDate": "2025-09-30"})];
    /// sf.opportunities().upsert_many("Referral_Id__c", &rows, Atomicity::PerRecord).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`create_many`](Self::create_many).
    pub async fn upsert_many<T: Serialize>(
        &self,
        field: &str,
        records: &[T],
        atomicity: Atomicity,
    ) -> Result<Vec<SaveResult>> {
        let all_or_none = atomicity.check(records.len())?;
        let sobject = sobject_name(self.name)?;
        let field = sobject_name(field)?;
        let typed = typed_records(sobject, records, false)?;
        self.client
            .collection_calls(
                Method::PATCH,
                &["composite", "sobjects", sobject, field],
                all_or_none,
                &typed,
                "salesforce.collections.upsert",
                true,
            )
            .await
    }
}
