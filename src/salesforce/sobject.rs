//! Operations on single records of any sObject, through its [`SObject`] handle: create,
//! retrieve, update (also conditional), delete, upsert by external id. Calls with options are
//! request builders ending in `send()`.

use http::{Method, StatusCode};
use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::handle::SObject;
use super::profile::{MULTIPLE_CHOICES, RECORD_MODIFIED};
use super::soql::check_identifier;
use crate::error::{ApiError, ApiErrorKind, Error, Result, Service, body_excerpt};
use crate::http::Response;

/// The `attributes` object Salesforce puts on every record it returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SObjectAttributes {
    /// The sObject type (`Opportunity`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub sobject_type: Option<String>,
    /// The record's URL below the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Anything else (`referenceId` in composite answers).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One record's outcome of a write: `{"id", "success", "errors", "created"}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SaveResult {
    /// The record id (absent when a create failed).
    #[serde(default)]
    pub id: Option<String>,
    /// Whether the write succeeded.
    #[serde(default)]
    pub success: bool,
    /// What went wrong, when it did.
    #[serde(default)]
    pub errors: Vec<SaveError>,
    /// For upserts: whether a record was created (`false`: updated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One error of a [`SaveResult`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SaveError {
    /// The error code (`DUPLICATE_VALUE`, `REQUIRED_FIELD_MISSING`, …), sent as `statusCode`
    /// in collections and `errorCode` elsewhere.
    #[serde(rename = "statusCode", alias = "errorCode", default)]
    pub status_code: Option<String>,
    /// The message.
    #[serde(default)]
    pub message: Option<String>,
    /// The fields involved.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What an upsert by external id did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpsertOutcome {
    /// No record had the external id: one was created (`201`).
    Created {
        /// The new record's id.
        id: String,
    },
    /// One record had it and was updated (`200` with a body, or `204` without one).
    Updated {
        /// The record's id, when the answer carried one.
        id: Option<String>,
    },
}

impl UpsertOutcome {
    /// Whether a record was created.
    pub fn created(&self) -> bool {
        matches!(self, UpsertOutcome::Created { .. })
    }

    /// The record id, when known.
    pub fn id(&self) -> Option<&str> {
        match self {
            UpsertOutcome::Created { id } => Some(id),
            UpsertOutcome::Updated { id } => id.as_deref(),
        }
    }
}

/// Whether `error` is an upsert refused because its external id matched several records
/// (`300 Multiple Choices`). Nothing was written; the matching record URLs are in
/// [`ApiError::target`], comma-separated.
pub fn is_multiple_matches(error: &Error) -> bool {
    error.code() == Some(MULTIPLE_CHOICES)
}

pub(crate) fn sobject_name(name: &str) -> Result<&str> {
    check_identifier(name).map_err(Error::validation)?;
    Ok(name)
}

fn record_id(id: &str) -> Result<&str> {
    if id.is_empty() {
        return Err(Error::validation("a record id must not be empty"));
    }
    Ok(id)
}

pub(crate) fn field_list(fields: &[&str]) -> Result<Option<String>> {
    if fields.is_empty() {
        return Ok(None);
    }
    for name in fields {
        check_identifier(name).map_err(Error::validation)?;
    }
    Ok(Some(fields.join(",")))
}

impl<'a> SObject<'a> {
    /// Creates a record: `POST sobjects/<sobject>` → `201 {"id", "success", "errors"}`.
    /// Returns the new record's id.
    ///
    /// ```no_run
    /// # async fn run(sf: cosell::salesforce::Salesforce) -> cosell::Result<()> {
    /// use cosell::salesforce::Opportunity;
    /// let opp = Opportunity::new("Fabrikam renewal", "Prospecting", "2025-09-30".parse().unwrap());
    /// let id = sf.opportunities().create(&opp).await?;
    /// # let _ = id; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`] with Salesforce's code (`REQUIRED_FIELD_MISSING`, `DUPLICATE_VALUE` as a
    /// conflict, …); [`Error::Decode`] when the answer carries no id.
    pub async fn create<T: Serialize + ?Sized>(&self, record: &T) -> Result<String> {
        let request = self
            .client
            .write(Method::POST, ["sobjects", sobject_name(self.name)?])
            .literal_path()
            .operation("salesforce.create")
            .json(record);
        let response = self.client.send(request).await?;
        let result: SaveResult = response.json()?;
        result
            .id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| response.decode_error(".id", "the create answer carries no id"))
    }

    /// Reads a record: `GET sobjects/<sobject>/<id>?fields=…`, every field unless
    /// [`select`](RetrieveRecord::select) names some.
    ///
    /// ```no_run
    /// # async fn run(sf: cosell::salesforce::Salesforce) -> cosell::Result<()> {
    /// use cosell::salesforce::Opportunity;
    /// let opp: Opportunity = sf
    ///     .opportunities()
    ///     .retrieve("006A0000001")
    ///     .select(["Name", "StageName"])
    ///     .send()
    ///     .await?;
    /// # let _ = opp; Ok(()) }
    /// ```
    pub fn retrieve(&self, id: &str) -> RetrieveRecord<'a> {
        RetrieveRecord {
            object: *self,
            key: RecordRef::Id(id.to_owned()),
            fields: Vec::new(),
        }
    }

    /// Reads a record by an external id field: `GET sobjects/<sobject>/<field>/<value>?fields=…`.
    ///
    /// ```no_run
    /// # async fn run(sf: cosell::salesforce::Salesforce) -> cosell::Result<()> {
    /// let opp: serde_json::Value = sf
    ///     .opportunities()
    ///     .retrieve_by_external_id("Referral_Id__c", "r-42")
    ///     .send()
    ///     .await?;
    /// # let _ = opp; Ok(()) }
    /// ```
    pub fn retrieve_by_external_id(&self, field: &str, value: &str) -> RetrieveRecord<'a> {
        RetrieveRecord {
            object: *self,
            key: RecordRef::ExternalId {
                field: field.to_owned(),
                value: value.to_owned(),
            },
            fields: Vec::new(),
        }
    }

    /// Updates the fields in `patch`: `PATCH sobjects/<sobject>/<id>` → `204`;
    /// [`if_unmodified_since`](UpdateRecord::if_unmodified_since) only if the record is
    /// unchanged since it was read.
    ///
    /// ```no_run
    /// # async fn run(sf: cosell::salesforce::Salesforce) -> cosell::Result<()> {
    /// use cosell::FieldUpdate;
    /// use cosell::salesforce::OpportunityPatch;
    /// let patch = OpportunityPatch { stage_name: FieldUpdate::Set("Closed Won".into()), ..Default::default() };
    /// sf.opportunities().update("006A0000001", &patch).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn update<T: Serialize + ?Sized>(&self, id: &str, patch: &T) -> UpdateRecord<'a> {
        UpdateRecord {
            object: *self,
            id: id.to_owned(),
            patch: serde_json::value::to_raw_value(patch),
            unmodified_since: None,
        }
    }

    /// Deletes a record: `DELETE sobjects/<sobject>/<id>` → `204`.
    ///
    /// ```no_run
    /// # async fn run(sf: cosell::salesforce::Salesforce) -> cosell::Result<()> {
    /// sf.opportunities().delete("006A0000001").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`]; `ENTITY_IS_DELETED` and `NOT_FOUND` are not-found errors.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let request = self
            .client
            .write(
                Method::DELETE,
                ["sobjects", sobject_name(self.name)?, record_id(id)?],
            )
            .path_template(format!("sobjects/{}/{{id}}", self.name))
            .operation("salesforce.delete");
        self.client.send(request).await?;
        Ok(())
    }

    /// Creates or updates the record whose external id field `field` holds `value`:
    /// `PATCH sobjects/<sobject>/<field>/<value>`. Leave `field` out of `record`.
    ///
    /// ```no_run
    /// # async fn run(sf: cosell::salesforce::Salesforce) -> cosell::Result<()> {
    /// use cosell::salesforce::{Opportunity, is_multiple_matches};
    /// let opp = Opportunity::new("Fabrikam renewal", "Prospecting", "2025-09-30".parse().unwrap());
    /// match sf.opportunities().upsert("Referral_Id__c", "r-42", &opp).await {
    ///     Ok(outcome) => println!("created: {}", outcome.created()),
    ///     Err(e) if is_multiple_matches(&e) => println!("several records match: review them"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A `300 Multiple Choices` answer (several records hold the value; nothing was written) is
    /// an [`Error::Api`] of kind [`Conflict`](ApiErrorKind::Conflict) with code
    /// `MULTIPLE_CHOICES` (see [`is_multiple_matches`]); a wrong field name gives `404`
    /// `NOT_FOUND`.
    pub async fn upsert<T: Serialize + ?Sized>(
        &self,
        field: &str,
        value: &str,
        record: &T,
    ) -> Result<UpsertOutcome> {
        let request = self
            .client
            .write(
                Method::PATCH,
                [
                    "sobjects",
                    sobject_name(self.name)?,
                    sobject_name(field)?,
                    record_id(value)?,
                ],
            )
            .path_template(format!("sobjects/{}/{field}/{{value}}", self.name))
            .operation("salesforce.upsert")
            // Keyed by the external id: a replay updates what the first attempt created.
            .idempotent(true)
            .accept_status(StatusCode::MULTIPLE_CHOICES)
            .json(record);
        let response = self.client.send(request).await?;
        upsert_outcome(&response)
    }
}

/// Which record a retrieve reads.
#[derive(Debug, Clone)]
enum RecordRef {
    Id(String),
    ExternalId { field: String, value: String },
}

/// A record being read; see [`SObject::retrieve`] and [`SObject::retrieve_by_external_id`].
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until it is sent"]
pub struct RetrieveRecord<'a> {
    object: SObject<'a>,
    key: RecordRef,
    fields: Vec<String>,
}

impl RetrieveRecord<'_> {
    /// Reads only these fields (`?fields=…`); every field when none are named.
    pub fn select<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.fields
            .extend(fields.into_iter().map(|f| f.as_ref().to_owned()));
        self
    }

    /// Reads the record.
    ///
    /// # Errors
    /// [`Error::Api`] (`NOT_FOUND`, `ENTITY_IS_DELETED` are not-found errors);
    /// [`Error::Validation`] for a name that is not one, before anything is sent.
    pub async fn send<T: DeserializeOwned>(self) -> Result<T> {
        let SObject { client, name } = self.object;
        let sobject = sobject_name(name)?;
        let request = match &self.key {
            RecordRef::Id(id) => client
                .read(["sobjects", sobject, record_id(id)?])
                .path_template(format!("sobjects/{sobject}/{{id}}"))
                .operation("salesforce.retrieve"),
            RecordRef::ExternalId { field, value } => client
                .read(["sobjects", sobject, sobject_name(field)?, record_id(value)?])
                .path_template(format!("sobjects/{sobject}/{field}/{{value}}"))
                .operation("salesforce.retrieve_by_external_id"),
        };
        let fields: Vec<&str> = self.fields.iter().map(String::as_str).collect();
        let request = match field_list(&fields)? {
            Some(list) => request.query("fields", list),
            None => request,
        };
        client.send(request).await?.json()
    }
}

/// A record being updated; see [`SObject::update`].
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct UpdateRecord<'a> {
    object: SObject<'a>,
    id: String,
    patch: serde_json::Result<Box<RawValue>>,
    unmodified_since: Option<Timestamp>,
}

impl UpdateRecord<'_> {
    /// Updates the record only if it has not changed since `last_modified` (its
    /// `LastModifiedDate` when it was read). **Best-effort**, since Salesforce has no ETags for
    /// most objects:
    ///
    /// 1. it reads the record's current `LastModifiedDate` and refuses if it is later;
    /// 2. it sends the update with `If-Unmodified-Since: <last_modified>`, which Salesforce
    ///    answers with `412` if the record changed in between (support for this header on
    ///    Opportunity is not confirmed by Salesforce's documentation).
    ///
    /// Both checks work to the second: two changes within the same second as the read are not
    /// told apart.
    ///
    /// ```no_run
    /// # async fn run(sf: cosell::salesforce::Salesforce, opp: cosell::salesforce::Opportunity) -> cosell::Result<()> {
    /// use cosell::salesforce::OpportunityPatch;
    /// let Some(seen) = opp.last_modified_date else { return Ok(()) }; // read it with the record
    /// let patch = OpportunityPatch::new();
    /// match sf.opportunities().update("006A0000001", &patch).if_unmodified_since(seen).send().await {
    ///     Err(e) if e.is_conflict() => { /* re-read, re-diff, try again */ }
    ///     other => other?,
    /// }
    /// # Ok(()) }
    /// ```
    pub fn if_unmodified_since(mut self, last_modified: Timestamp) -> Self {
        self.unmodified_since = Some(last_modified);
        self
    }

    /// Sends the update.
    ///
    /// # Errors
    /// [`Error::Api`] with Salesforce's code. With
    /// [`if_unmodified_since`](Self::if_unmodified_since): an [`Error::Api`] of kind
    /// [`PreconditionFailed`](ApiErrorKind::PreconditionFailed) (`is_conflict()`) when the
    /// record changed, code `RECORD_MODIFIED` when step 1 found it, Salesforce's own `412` when
    /// step 2 did; [`Error::OutcomeUnknown`] when an attempt of step 2 may have been applied
    /// without an answer and its replay got `412`: re-read the record.
    pub async fn send(self) -> Result<()> {
        #[derive(Deserialize)]
        struct Stamp {
            #[serde(rename = "LastModifiedDate", with = "super::datetime::option", default)]
            last_modified: Option<Timestamp>,
        }
        let SObject { client, name } = self.object;
        let patch = self.patch.map_err(|e| {
            Error::validation(format!("the request body could not be serialized: {e}"))
        })?;
        let sobject = sobject_name(name)?;
        let id = record_id(&self.id)?;
        let request = client
            .write(Method::PATCH, ["sobjects", sobject, id])
            .path_template(format!("sobjects/{sobject}/{{id}}"))
            // Setting fields to given values twice has the effect of setting them once.
            .idempotent(true)
            .json(&patch);
        let Some(last_modified) = self.unmodified_since else {
            client.send(request.operation("salesforce.update")).await?;
            return Ok(());
        };
        let check = client
            .read(["sobjects", sobject, id])
            .query("fields", "LastModifiedDate")
            .path_template(format!("sobjects/{sobject}/{{id}}"))
            .operation("salesforce.conditional_update.check");
        let response = client.send(check).await?;
        let stamp: Stamp = response.json()?;
        if let Some(current) = stamp.last_modified
            && current.as_second() > last_modified.as_second()
        {
            return Err(record_modified(&response, current, last_modified));
        }
        let request = request.operation("salesforce.conditional_update").header(
            "If-Unmodified-Since",
            last_modified
                .strftime("%a, %d %b %Y %H:%M:%S GMT")
                .to_string(),
        );
        client.send(request).await?;
        Ok(())
    }
}

fn upsert_outcome(response: &Response) -> Result<UpsertOutcome> {
    match response.status {
        StatusCode::MULTIPLE_CHOICES => Err(multiple_matches(response)),
        StatusCode::NO_CONTENT => Ok(UpsertOutcome::Updated { id: None }),
        status => {
            if response.body.iter().all(u8::is_ascii_whitespace) {
                return if status == StatusCode::CREATED {
                    Err(response.decode_error(".", "the upsert created a record but sent no id"))
                } else {
                    Ok(UpsertOutcome::Updated { id: None })
                };
            }
            let result: SaveResult = response.json()?;
            let created = result.created.unwrap_or(status == StatusCode::CREATED);
            match (created, result.id) {
                (true, Some(id)) => Ok(UpsertOutcome::Created { id }),
                (true, None) => Err(response.decode_error(".id", "the created record has no id")),
                (false, id) => Ok(UpsertOutcome::Updated { id }),
            }
        }
    }
}

fn multiple_matches(response: &Response) -> Error {
    // The body lists the matching records' URLs; older versions wrap them differently, so
    // collect every string found.
    let mut urls = Vec::new();
    if let Ok(value) = serde_json::from_slice::<Value>(&response.body) {
        collect_strings(&value, &mut urls, 0);
    }
    let message = if urls.is_empty() {
        "the external id matches several records; nothing was written".to_owned()
    } else {
        format!(
            "the external id matches {} records; nothing was written",
            urls.len()
        )
    };
    Error::from(ApiError {
        service: Service::Salesforce,
        status: response.status,
        kind: ApiErrorKind::Conflict,
        code: Some(MULTIPLE_CHOICES.to_owned()),
        message: Some(message),
        target: (!urls.is_empty()).then(|| urls.join(",")),
        inner_codes: Vec::new(),
        request_id: response.request_id.clone(),
        correlation_id: response.correlation_id.clone(),
        retry_after: None,
        body_excerpt: body_excerpt(&response.body),
    })
}

fn collect_strings(value: &Value, out: &mut Vec<String>, depth: usize) {
    // Bounded: a hostile body cannot make this deep or long.
    if depth > 4 || out.len() >= 200 {
        return;
    }
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items
            .iter()
            .for_each(|v| collect_strings(v, out, depth + 1)),
        Value::Object(map) => map
            .values()
            .for_each(|v| collect_strings(v, out, depth + 1)),
        _ => {}
    }
}

fn record_modified(response: &Response, current: Timestamp, expected: Timestamp) -> Error {
    Error::from(ApiError {
        service: Service::Salesforce,
        status: StatusCode::PRECONDITION_FAILED,
        kind: ApiErrorKind::PreconditionFailed,
        code: Some(RECORD_MODIFIED.to_owned()),
        message: Some(format!(
            "the record was modified at {current}, after {expected}; nothing was written"
        )),
        target: None,
        inner_codes: Vec::new(),
        request_id: response.request_id.clone(),
        correlation_id: response.correlation_id.clone(),
        retry_after: None,
        body_excerpt: body_excerpt(&response.body),
    })
}
