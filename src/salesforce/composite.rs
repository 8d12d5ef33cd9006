//! Composite (`POST composite`): up to [`COMPOSITE_LIMIT`] subrequests in one call, each with
//! its own method, URL, body and headers — so each write can carry its own condition
//! (`If-Unmodified-Since`), which sObject Collections cannot. The call counts as one request
//! against the org's API allocation.

use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::client::Salesforce;
use super::profile::SalesforceProfile;
use crate::error::{Error, Result};

/// The most subrequests one composite call takes.
pub const COMPOSITE_LIMIT: usize = 25;

/// One subrequest of a [`composite`](Salesforce::composite) call.
///
/// ```
/// use cosell::salesforce::Subrequest;
/// let sub = Subrequest::patch("sobjects/Opportunity/006A0000001", "o1", &serde_json::json!({"Amount": 10}))?
///     .header("If-Unmodified-Since", "Tue, 01 Dec 2026 10:00:00 GMT");
/// # let _ = sub;
/// # Ok::<(), cosell::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Subrequest {
    method: Method,
    path: String,
    reference_id: String,
    body: Option<Value>,
    headers: Map<String, Value>,
}

impl Subrequest {
    /// A subrequest to `path`, below the client's versioned base (`sobjects/Opportunity/{id}`),
    /// named `reference_id` in the answer.
    ///
    /// # Errors
    /// [`Error::Validation`] for a reference id that is not 1–80 letters, digits or `_`
    /// starting with a letter, or a path that leaves the versioned base (`..`, a leading `/`,
    /// a scheme) or holds whitespace.
    pub fn new(method: Method, path: &str, reference_id: &str) -> Result<Self> {
        let reference_ok = reference_id.len() <= 80
            && reference_id
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
            && reference_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !reference_ok {
            return Err(Error::validation(format!(
                "the composite reference id {reference_id:?} is not 1 to 80 letters, digits or \
                 underscores starting with a letter"
            )));
        }
        let path_ok = !path.is_empty()
            && !path.starts_with('/')
            && !path.contains("..")
            && !path.contains("://")
            && !path.chars().any(|c| c.is_whitespace() || c.is_control());
        if !path_ok {
            return Err(Error::validation(format!(
                "the composite subrequest path {path:?} must stay below the versioned base"
            )));
        }
        Ok(Subrequest {
            method,
            path: path.to_owned(),
            reference_id: reference_id.to_owned(),
            body: None,
            headers: Map::new(),
        })
    }

    /// A `PATCH` of `path` with `body`.
    ///
    /// # Errors
    /// As [`new`](Self::new), and for a body that does not serialize.
    pub fn patch<T: Serialize + ?Sized>(path: &str, reference_id: &str, body: &T) -> Result<Self> {
        Subrequest::new(Method::PATCH, path, reference_id)?.body(body)
    }

    /// Sets the body.
    ///
    /// # Errors
    /// [`Error::Validation`] for a body that does not serialize.
    pub fn body<T: Serialize + ?Sized>(mut self, body: &T) -> Result<Self> {
        self.body = Some(serde_json::to_value(body).map_err(|e| {
            Error::validation(format!(
                "the body of subrequest `{}` could not be serialized: {e}",
                self.reference_id
            ))
        })?);
        Ok(self)
    }

    /// Adds a header of this subrequest only.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .insert(name.into(), Value::String(value.into()));
        self
    }

    /// The reference id.
    pub fn reference_id(&self) -> &str {
        &self.reference_id
    }

    fn to_json(&self, version: &str) -> Value {
        let mut sub = json!({
            "method": self.method.as_str(),
            "url": format!("/services/data/v{}/{}", version.trim_start_matches('v'), self.path),
            "referenceId": self.reference_id,
        });
        if let Some(body) = &self.body {
            sub["body"] = body.clone();
        }
        if !self.headers.is_empty() {
            sub["httpHeaders"] = Value::Object(self.headers.clone());
        }
        sub
    }
}

/// The answer to one subrequest.
#[derive(Debug, Clone, PartialEq)]
pub struct CompositeAnswer {
    /// The subrequest's reference id, as answered.
    pub reference_id: String,
    /// The subrequest's status.
    pub status: StatusCode,
    /// The subrequest's answer headers.
    pub headers: Map<String, Value>,
    /// The subrequest's body (`null` for `204`).
    pub body: Value,
}

impl CompositeAnswer {
    /// Whether the subrequest succeeded.
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// The subrequest's failure as the crate's error, classified as a request of its own would
    /// be (`412` is a conflict, `REQUEST_LIMIT_EXCEEDED` a rate limit); `None` on success.
    pub fn error(&self) -> Option<Error> {
        if self.is_success() {
            return None;
        }
        let body = serde_json::to_vec(&self.body).unwrap_or_default();
        Some(crate::http::part_error(
            &SalesforceProfile,
            self.status,
            &body,
            None,
        ))
    }
}

#[derive(Deserialize)]
struct Answers {
    #[serde(rename = "compositeResponse")]
    composite_response: Vec<RawAnswer>,
}

#[derive(Deserialize)]
struct RawAnswer {
    #[serde(rename = "referenceId", default)]
    reference_id: String,
    #[serde(rename = "httpStatusCode")]
    status: u16,
    #[serde(rename = "httpHeaders", default)]
    headers: Map<String, Value>,
    #[serde(default)]
    body: Value,
}

impl Salesforce {
    /// Sends up to [`COMPOSITE_LIMIT`] subrequests in one call (`POST composite`); one
    /// [`CompositeAnswer`] per subrequest, in the order given. With `all_or_none` a failure
    /// rolls every subrequest back; without, each stands on its own. The call carries the
    /// client's origin marking.
    ///
    /// ```no_run
    /// use cosell::salesforce::Subrequest;
    /// # async fn run(sf: cosell::salesforce::Salesforce) -> cosell::Result<()> {
    /// let subs = [
    ///     Subrequest::patch("sobjects/Opportunity/006A", "a", &serde_json::json!({"Amount": 1}))?,
    ///     Subrequest::patch("sobjects/Opportunity/006B", "b", &serde_json::json!({"Amount": 2}))?,
    /// ];
    /// for answer in sf.composite(&subs, false).await? {
    ///     if let Some(error) = answer.error() {
    ///         println!("{}: {error}", answer.reference_id);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Validation`] for no subrequest, more than [`COMPOSITE_LIMIT`], or two with one
    /// reference id; the service's refusal of the whole call; a decode error for an answer
    /// that is not one per subrequest.
    pub async fn composite(
        &self,
        subrequests: &[Subrequest],
        all_or_none: bool,
    ) -> Result<Vec<CompositeAnswer>> {
        if subrequests.is_empty() || subrequests.len() > COMPOSITE_LIMIT {
            return Err(Error::validation(format!(
                "a composite call takes 1 to {COMPOSITE_LIMIT} subrequests, not {}",
                subrequests.len()
            )));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(twice) = subrequests
            .iter()
            .find(|sub| !seen.insert(sub.reference_id.as_str()))
        {
            return Err(Error::validation(format!(
                "the composite reference id `{}` is used twice",
                twice.reference_id
            )));
        }
        let version = self.api_version().to_owned();
        let body = json!({
            "allOrNone": all_or_none,
            "compositeRequest": subrequests.iter().map(|sub| sub.to_json(&version)).collect::<Vec<_>>(),
        });
        // Not idempotent as a whole: a replay after a lost answer could apply a create twice.
        let request = self
            .write(Method::POST, ["composite"])
            .literal_path()
            .operation("salesforce.composite")
            .json(&body);
        let response = self.send(request).await?;
        let answers: Answers = response.json()?;
        if answers.composite_response.len() != subrequests.len() {
            return Err(response.decode_error(
                "compositeResponse",
                format!(
                    "{} answers for {} subrequests",
                    answers.composite_response.len(),
                    subrequests.len()
                ),
            ));
        }
        Ok(answers
            .composite_response
            .into_iter()
            .map(|raw| CompositeAnswer {
                reference_id: raw.reference_id,
                status: StatusCode::from_u16(raw.status)
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                headers: raw.headers,
                body: raw.body,
            })
            .collect())
    }
}
