//! `$batch`: a multipart request of operations and change sets, answered as a multipart
//! response in request order. A change set is atomic (a failure rolls its writes back and
//! answers only the failure); without `Prefer: odata.continue-on-error` processing stops at the
//! first failure and the batch takes its status.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use uuid::Uuid;

use super::error::{BAD_PAYLOAD, DvError};
use super::multipart::{self, head_and_body};
use super::store::{State, WriteContext};
use super::{API_PATH, Call, DataverseService};
use crate::frame::ServiceReply;

const OPERATION: &str = "dataverse.batch";

/// The most operations one batch may hold.
const MAX_OPERATIONS: usize = 1000;

/// One request inside a batch.
struct Part {
    content_id: Option<String>,
    call: Call,
}

enum Item {
    Single(Box<Part>),
    ChangeSet(Vec<Part>),
}

/// One answer inside the batch response.
struct Answer {
    content_id: Option<String>,
    reply: ServiceReply,
}

enum Answered {
    Single(Answer),
    ChangeSet(Vec<Answer>),
}

pub(crate) fn execute(service: &DataverseService, state: &mut State, call: &Call) -> ServiceReply {
    if call.method != Method::POST {
        return DvError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            super::error::ODATA_ERROR,
            "The HTTP method is not allowed for the segment '$batch'.",
        )
        .reply(OPERATION)
        .with_header("allow", "POST");
    }
    let items = match parse(call) {
        Ok(items) => items,
        Err(e) => return e.reply(OPERATION),
    };
    let continue_on_error = call.prefs().continue_on_error;
    let mut answered = Vec::new();
    let mut batch_status = StatusCode::OK;
    for item in items {
        let failed = match item {
            Item::Single(part) => {
                let reply = if part.call.segments.first().is_some_and(|s| s == "$batch") {
                    DvError::odata("Batches cannot be nested.").reply(OPERATION)
                } else {
                    service.execute(state, &part.call, &WriteContext::default())
                };
                let failed = !reply.status.is_success() && reply.status != StatusCode::NOT_MODIFIED;
                let status = reply.status;
                answered.push(Answered::Single(Answer {
                    content_id: part.content_id,
                    reply,
                }));
                failed.then_some(status)
            }
            Item::ChangeSet(parts) => {
                let (answers, failure) = change_set(service, state, parts);
                answered.push(Answered::ChangeSet(answers));
                failure
            }
        };
        if let Some(status) = failed
            && !continue_on_error
        {
            batch_status = status;
            break;
        }
    }
    let (content_type, body) = encode(&answered);
    let mut reply = ServiceReply::empty(OPERATION, batch_status)
        .with_header("odata-version", "4.0")
        .with_header("content-type", &content_type);
    if continue_on_error {
        reply = reply.with_header("preference-applied", "odata.continue-on-error");
    }
    reply.body = Bytes::from(body);
    reply
}

/// Runs a change set: all of it, or none of it.
fn change_set(
    service: &DataverseService,
    state: &mut State,
    parts: Vec<Part>,
) -> (Vec<Answer>, Option<StatusCode>) {
    let snapshot = state.clone();
    let mut ctx = WriteContext::default();
    let mut answers = Vec::new();
    for mut part in parts {
        let reply = if part.call.method == Method::GET {
            DvError::odata("A change set cannot contain a GET request.").reply(OPERATION)
        } else {
            match resolve_reference(&mut part.call, &ctx.content_ids) {
                Ok(()) => service.execute(state, &part.call, &ctx),
                Err(e) => e.reply(OPERATION),
            }
        };
        if !reply.status.is_success() {
            *state = snapshot;
            let status = reply.status;
            return (
                vec![Answer {
                    content_id: part.content_id,
                    reply,
                }],
                Some(status),
            );
        }
        if let Some(id) = &part.content_id {
            let entity = reply
                .headers
                .get("odata-entityid")
                .and_then(|v| v.to_str().ok())
                .and_then(|url| url.rsplit('/').next())
                .map(str::to_owned)
                .or_else(|| part.call.segments.first().cloned());
            if let Some(entity) = entity {
                ctx.content_ids.insert(id.clone(), entity);
            }
        }
        answers.push(Answer {
            content_id: part.content_id,
            reply,
        });
    }
    (answers, None)
}

/// Replaces a `$<content-id>` at the start of a URL with the row it created.
fn resolve_reference(
    call: &mut Call,
    content_ids: &BTreeMap<String, String>,
) -> Result<(), DvError> {
    let Some(first) = call.segments.first() else {
        return Ok(());
    };
    if let Some(id) = first.strip_prefix('$') {
        let entity = content_ids.get(id).ok_or_else(|| {
            DvError::odata(format!(
                "Content-ID reference '${id}' does not name an earlier request of the change set."
            ))
        })?;
        call.segments[0] = entity.clone();
    }
    Ok(())
}

/// The parts between `--boundary` lines, up to `--boundary--`; anything less is malformed.
fn split_parts<'a>(text: &'a str, boundary: &str) -> Result<Vec<&'a str>, DvError> {
    multipart::parts(text, boundary).ok_or_else(malformed)
}

fn malformed() -> DvError {
    DvError::bad_request(
        BAD_PAYLOAD,
        "The batch request body is not a well-formed multipart message.",
    )
}

fn headers_of(head: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in head.lines() {
        if let Some((name, value)) = line.split_once(':')
            && let (Ok(n), Ok(v)) = (
                HeaderName::try_from(name.trim()),
                HeaderValue::try_from(value.trim()),
            )
        {
            headers.append(n, v);
        }
    }
    headers
}

fn parse(call: &Call) -> Result<Vec<Item>, DvError> {
    let content_type = call.header("content-type").unwrap_or_default();
    if !content_type
        .to_ascii_lowercase()
        .starts_with("multipart/mixed")
    {
        return Err(DvError::bad_request(
            BAD_PAYLOAD,
            "The content type of a batch request must be multipart/mixed.",
        ));
    }
    let boundary = multipart::boundary(content_type).ok_or_else(malformed)?;
    let text = std::str::from_utf8(&call.body).map_err(|_| malformed())?;
    let mut items = Vec::new();
    for part in split_parts(text, &boundary)? {
        let (head, content) = head_and_body(part);
        let headers = headers_of(head);
        let part_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if part_type
            .to_ascii_lowercase()
            .starts_with("multipart/mixed")
        {
            let inner = multipart::boundary(part_type).ok_or_else(malformed)?;
            let parts = split_parts(content, &inner)?
                .into_iter()
                .map(|part| parse_request(part, &call.base))
                .collect::<Result<Vec<_>, _>>()?;
            items.push(Item::ChangeSet(parts));
        } else {
            items.push(Item::Single(Box::new(parse_request(part, &call.base)?)));
        }
    }
    if items.is_empty() {
        return Err(malformed());
    }
    let operations: usize = items
        .iter()
        .map(|item| match item {
            Item::Single(_) => 1,
            Item::ChangeSet(parts) => parts.len(),
        })
        .sum();
    if operations > MAX_OPERATIONS {
        return Err(DvError::bad_request(
            super::error::INVALID_ARGUMENT,
            format!(
                "The number of requests in a batch ({operations}) exceeds the maximum of \
                 {MAX_OPERATIONS}."
            ),
        ));
    }
    Ok(items)
}

/// One `application/http` part: MIME headers, then a raw HTTP request.
fn parse_request(part: &str, base: &str) -> Result<Part, DvError> {
    let (mime_head, http) = head_and_body(part);
    let content_id = headers_of(mime_head)
        .get("content-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (head, body) = head_and_body(http);
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut words = request_line.split_whitespace();
    let (Some(method), Some(target)) = (words.next(), words.next()) else {
        return Err(malformed());
    };
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| malformed())?;
    let headers = headers_of(&lines.collect::<Vec<_>>().join("\n"));
    // Absolute URL, absolute path, path relative to the API, or a Content-ID reference.
    let path = match target.find("://") {
        Some(i) => target[i + 3..]
            .find('/')
            .map_or("/", |p| &target[i + 3 + p..]),
        None => target,
    };
    let path = path
        .strip_prefix(API_PATH)
        .unwrap_or(path.trim_start_matches('/'));
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let segments = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let query = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let body = body
        .strip_suffix("\r\n")
        .or_else(|| body.strip_suffix('\n'))
        .unwrap_or(body)
        .trim();
    Ok(Part {
        content_id,
        call: Call {
            method,
            segments,
            query,
            headers,
            body: Bytes::copy_from_slice(body.as_bytes()),
            base: base.to_owned(),
        },
    })
}

fn encode(answered: &[Answered]) -> (String, Vec<u8>) {
    let boundary = format!("batchresponse_{}", Uuid::new_v4());
    let mut out = String::new();
    for item in answered {
        out.push_str(&format!("--{boundary}\r\n"));
        match item {
            Answered::Single(answer) => encode_answer(&mut out, answer),
            Answered::ChangeSet(answers) => {
                let change_set = format!("changesetresponse_{}", Uuid::new_v4());
                out.push_str(&format!(
                    "Content-Type: multipart/mixed; boundary={change_set}\r\n\r\n"
                ));
                for answer in answers {
                    out.push_str(&format!("--{change_set}\r\n"));
                    encode_answer(&mut out, answer);
                }
                out.push_str(&format!("--{change_set}--\r\n"));
            }
        }
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    (
        format!("multipart/mixed; boundary={boundary}"),
        out.into_bytes(),
    )
}

fn encode_answer(out: &mut String, answer: &Answer) {
    out.push_str("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n");
    if let Some(id) = &answer.content_id {
        out.push_str(&format!("Content-ID: {id}\r\n"));
    }
    let reply = &answer.reply;
    out.push_str(&format!(
        "\r\nHTTP/1.1 {} {}\r\n",
        reply.status.as_u16(),
        reply.status.canonical_reason().unwrap_or_default()
    ));
    for (name, value) in &reply.headers {
        if let Ok(value) = value.to_str() {
            out.push_str(&format!("{}: {value}\r\n", canonical(name.as_str())));
        }
    }
    if let Some(entity) = reply
        .headers
        .get("odata-entityid")
        .and_then(|v| v.to_str().ok())
    {
        out.push_str(&format!("Location: {entity}\r\n"));
    }
    out.push_str("\r\n");
    if !reply.body.is_empty() {
        out.push_str(&String::from_utf8_lossy(&reply.body));
        out.push_str("\r\n");
    }
}

/// `odata-entityid` → `OData-EntityId`, as the service spells its headers.
fn canonical(name: &str) -> String {
    match name {
        "odata-entityid" => "OData-EntityId".to_owned(),
        "odata-version" => "OData-Version".to_owned(),
        "etag" => "ETag".to_owned(),
        other => other
            .split('-')
            .map(|w| {
                let mut chars = w.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("-"),
    }
}
