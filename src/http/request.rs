//! One call: what to send, and what came back.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::limits::AnswerKind;
use super::pipeline::Pipeline;
use crate::error::{
    DecodeError, DecodeOrigin, Error, Result, TransportError, body_excerpt, decode_json,
};

/// Where a request goes, relative to the pipeline's base URL.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// Path segments below the base, each percent-encoded as a segment.
    Segments(Vec<String>),
    /// A link the server gave (absolute, or relative to the base): must stay on the base's
    /// origin.
    Link(String),
}

/// A request being described; finish it with [`send`](Self::send) or
/// [`send_json`](Self::send_json).
///
/// Idempotency defaults by method: `GET`, `HEAD`, `PUT`, `DELETE` and `OPTIONS` are idempotent,
/// `POST` and `PATCH` are not unless [`idempotent(true)`](Self::idempotent) says so. A request
/// that is not idempotent is retried only when it provably never reached the server.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    pub(crate) pipeline: Pipeline,
    pub(crate) method: Method,
    pub(crate) target: Target,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Bytes>,
    pub(crate) idempotent: bool,
    pub(crate) operation: &'static str,
    pub(crate) template: Option<String>,
    pub(crate) answer_kind: AnswerKind,
    pub(crate) max_answer: Option<u64>,
    pub(crate) accept: Vec<StatusCode>,
    pub(crate) correlation_id: Option<String>,
    pub(crate) error: Option<Error>,
}

impl RequestBuilder {
    pub(crate) fn new(pipeline: Pipeline, method: Method, target: Target) -> Self {
        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        );
        RequestBuilder {
            pipeline,
            method,
            target,
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: None,
            idempotent,
            operation: "request",
            template: None,
            answer_kind: AnswerKind::Record,
            max_answer: None,
            accept: Vec::new(),
            correlation_id: None,
            error: None,
        }
    }

    /// Appends a query parameter (form-encoded). Its value never reaches traces.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Sets a header. A name or value that is not valid in HTTP fails the call at `send`.
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        let name = name.as_ref();
        match (
            HeaderName::try_from(name),
            HeaderValue::try_from(value.as_ref()),
        ) {
            (Ok(n), Ok(v)) => {
                self.headers.insert(n, v);
            }
            _ => self.fail(Error::validation(format!(
                "header `{name}` has an invalid name or value"
            ))),
        }
        self
    }

    /// Sets several headers, replacing those of the same name.
    pub fn headers(mut self, headers: &HeaderMap) -> Self {
        for (name, value) in headers {
            self.headers.insert(name.clone(), value.clone());
        }
        self
    }

    /// Sends `body` as JSON.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => {
                self.body = Some(Bytes::from(bytes));
                self.headers.insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
            }
            Err(e) => self.fail(Error::validation(format!(
                "the request body could not be serialized: {e}"
            ))),
        }
        self
    }

    /// Sends raw bytes with the given content type.
    pub fn body(mut self, body: impl Into<Bytes>, content_type: &str) -> Self {
        self.body = Some(body.into());
        match HeaderValue::try_from(content_type) {
            Ok(v) => {
                self.headers.insert(http::header::CONTENT_TYPE, v);
            }
            Err(_) => self.fail(Error::validation("invalid content type")),
        }
        self
    }

    /// Declares whether sending this request twice has the same effect as sending it once.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// Names the operation for traces and request counts (`referrals.list`).
    pub fn operation(mut self, name: &'static str) -> Self {
        self.operation = name;
        self
    }

    /// How traces show the path below the base URL: the path with each value replaced by a
    /// `{name}` placeholder (`opportunities({key})`, `sobjects/Opportunity/{id}`). Key values
    /// and record ids are customer data, so a request that declares no template shows `{}` for
    /// each path segment (and `{link}` for a server's link).
    ///
    /// ```no_run
    /// # async fn run(pipeline: cosell::http::Pipeline, id: &str) -> cosell::Result<()> {
    /// let item: serde_json::Value = pipeline
    ///     .get(["items", id])
    ///     .path_template("items/{id}")
    ///     .send_json()
    ///     .await?;
    /// # let _ = item; Ok(()) }
    /// ```
    pub fn path_template(mut self, template: impl Into<String>) -> Self {
        self.template = Some(template.into());
        self
    }

    /// Declares that the path holds no values (only names of tables, resources and the like),
    /// so traces may show it as it is.
    pub(crate) fn literal_path(self) -> Self {
        match &self.target {
            Target::Segments(segments) => {
                let template = segments.join("/");
                self.path_template(template)
            }
            Target::Link(_) => self,
        }
    }

    /// The path as traces show it, below the base path `base`.
    pub(crate) fn traced_path(&self, base: &Url) -> String {
        match (&self.target, &self.template) {
            (Target::Link(_), None) => "{link}".to_owned(),
            (Target::Link(_), Some(template)) => template.clone(),
            (Target::Segments(segments), template) => {
                let below = template
                    .clone()
                    .unwrap_or_else(|| vec!["{}"; segments.len()].join("/"));
                format!("{}/{below}", base.path().trim_end_matches('/'))
            }
        }
    }

    /// What the answer holds, which picks its size limit from the pipeline's
    /// [`AnswerLimits`](super::AnswerLimits) (a record unless said otherwise).
    pub fn answer_kind(mut self, kind: AnswerKind) -> Self {
        self.answer_kind = kind;
        self
    }

    /// The largest success answer this request reads, in bytes, instead of the pipeline's
    /// limit for its [`AnswerKind`]; a larger one fails with
    /// [`Error::AnswerTooLarge`](crate::Error::AnswerTooLarge).
    pub fn max_answer_bytes(mut self, bytes: u64) -> Self {
        self.max_answer = Some(bytes);
        self
    }

    /// Treats `status` as success although it is not 2xx (Salesforce's 300 on upsert, 304).
    pub fn accept_status(mut self, status: StatusCode) -> Self {
        self.accept.push(status);
        self
    }

    /// Uses this correlation id instead of a fresh one.
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    fn fail(&mut self, error: Error) {
        self.error.get_or_insert(error);
    }

    /// A copy to send again (the first page of a pager, after a failure). A builder error is
    /// copied as its message, with its kind where it has one.
    pub(crate) fn duplicate(&self) -> RequestBuilder {
        RequestBuilder {
            pipeline: self.pipeline.clone(),
            method: self.method.clone(),
            target: self.target.clone(),
            query: self.query.clone(),
            headers: self.headers.clone(),
            body: self.body.clone(),
            idempotent: self.idempotent,
            operation: self.operation,
            template: self.template.clone(),
            answer_kind: self.answer_kind,
            max_answer: self.max_answer,
            accept: self.accept.clone(),
            correlation_id: self.correlation_id.clone(),
            error: self.error.as_ref().map(|error| match error {
                Error::Config(message) => Error::Config(message.clone()),
                Error::Validation(message) => Error::Validation(message.clone()),
                other => Error::Validation(other.to_string()),
            }),
        }
    }

    /// Sends the request (with retries) and returns the answer.
    ///
    /// # Errors
    /// [`Error::Api`] for a non-success status, [`Error::Transport`] when no answer arrived,
    /// [`Error::Auth`] when no token could be had, [`Error::RetriesExhausted`] when the retries
    /// ran out.
    pub async fn send(self) -> Result<Response> {
        let pipeline = self.pipeline.clone();
        pipeline.execute(self).await
    }

    /// Sends the request and decodes the JSON answer.
    pub async fn send_json<T: DeserializeOwned>(self) -> Result<T> {
        self.send().await?.json()
    }
}

/// A successful answer, body read whole.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// Whether the body arrived whole. `false` only when the answer to a write broke off after
    /// its success status: the write took effect, but its result was lost. `body` is then
    /// empty, and decoding it ([`json`](Self::json), [`annotate`](Self::annotate),
    /// [`decode_error`](Self::decode_error)) gives a transport error that says so.
    pub complete: bool,
    /// The server's request id.
    pub request_id: Option<String>,
    /// The correlation id that was sent.
    pub correlation_id: Option<String>,
    /// The final URL of the request.
    pub url: Url,
}

impl Response {
    /// Decodes the body as JSON; a failure names the JSON path and keeps the status and request
    /// id.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        if !self.complete {
            return Err(self.broken_off());
        }
        decode_json(&self.body).map_err(|e| self.annotate(e))
    }

    /// What decoding a body that broke off gives: the request took effect, its result is lost.
    fn broken_off(&self) -> Error {
        Error::Transport(TransportError {
            message: format!(
                "the answer broke off after its success status {}: the request took effect, \
                 but its result was not received",
                self.status.as_u16()
            ),
            maybe_sent: true,
            timed_out: false,
            source: None,
        })
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `ETag` header.
    pub fn etag(&self) -> Option<&str> {
        self.header("etag")
    }

    /// Adds this response's status, request id and body excerpt to a decode error.
    pub fn annotate(&self, error: Error) -> Error {
        if !self.complete {
            return self.broken_off();
        }
        match error {
            Error::Decode(mut d) => {
                d.status = Some(self.status);
                d.origin = DecodeOrigin::Response;
                d.request_id.clone_from(&self.request_id);
                if d.body_excerpt.is_empty() {
                    d.body_excerpt = body_excerpt(&self.body);
                }
                Error::Decode(d)
            }
            other => other,
        }
    }

    /// A decode error about this response, for answers that are JSON but not of the expected
    /// shape.
    pub fn decode_error(&self, path: &str, message: impl Into<String>) -> Error {
        if !self.complete {
            return self.broken_off();
        }
        Error::from(DecodeError {
            path: path.to_owned(),
            message: message.into(),
            status: Some(self.status),
            request_id: self.request_id.clone(),
            body_excerpt: body_excerpt(&self.body),
            origin: DecodeOrigin::Response,
        })
    }
}
