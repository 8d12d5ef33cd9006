//! Composite (`POST composite`): up to 25 subrequests in order, each with its own method, URL,
//! body and headers; later ones refer to earlier results as `@{referenceId.path}`. With
//! `allOrNone` a failure rolls every subrequest back. The whole call counts as one request
//! against the API allocation.

use std::collections::HashMap;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::{Value, json};

use super::store::{Org, WriteError};
use super::{Call, call_of, failure, operation_of, route};
use crate::{ServiceReply, ServiceRequest};

const LIMIT: usize = 25;

fn halted(message: &str) -> Value {
    json!([{ "errorCode": "PROCESSING_HALTED", "message": message }])
}

/// The value at `path` (`id`, `records[0].Id`) of an earlier subrequest's body.
fn lookup(body: &Value, path: &str) -> Option<Value> {
    let mut current = body;
    for part in path.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        if !name.is_empty() {
            current = current.get(name)?;
        }
        if let Some(index) = index {
            current = current.get(index)?;
        }
    }
    Some(current.clone())
}

/// Replaces every `@{ref.path}` in `text`; `Err` names a reference without a value.
fn substitute(text: &str, results: &HashMap<String, Value>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("@{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let reference = &rest[start + 2..start + end];
        let (id, path) = reference.split_once('.').unwrap_or((reference, ""));
        let value = results
            .get(id)
            .and_then(|body| lookup(body, path))
            .ok_or_else(|| reference.to_owned())?;
        match value {
            Value::String(s) => out.push_str(&s),
            other => out.push_str(&other.to_string()),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn substitute_json(value: &Value, results: &HashMap<String, Value>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => Value::String(substitute(s, results)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| substitute_json(v, results))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), substitute_json(v, results)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// The request a subrequest describes, carrying the parent's headers under its own.
fn subrequest(
    parent: &ServiceRequest,
    sub: &Value,
    results: &HashMap<String, Value>,
) -> Result<ServiceRequest, WriteError> {
    let bad = |message: String| WriteError::bad("INVALID_INPUT", message);
    let method = sub
        .get("method")
        .and_then(Value::as_str)
        .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
        .ok_or_else(|| bad("each subrequest needs a method".into()))?;
    let url = sub
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("each subrequest needs a url".into()))?;
    let url = substitute(url, results).map_err(|r| {
        bad(format!(
            "Invalid reference specified. No value for {r} found"
        ))
    })?;
    let (path, query) = match url.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (url, None),
    };
    let body = match sub.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(body) => {
            let body = substitute_json(body, results).map_err(|r| {
                bad(format!(
                    "Invalid reference specified. No value for {r} found"
                ))
            })?;
            Bytes::from(body.to_string())
        }
    };
    let mut headers: HeaderMap = parent.headers.clone();
    headers.remove(http::header::CONTENT_LENGTH);
    if let Some(Value::Object(own)) = sub.get("httpHeaders") {
        for (name, value) in own {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::try_from(name.as_str()),
                value.as_str().map(HeaderValue::try_from),
            ) {
                headers.insert(name, value);
            }
        }
    }
    Ok(ServiceRequest {
        method,
        path,
        query,
        headers,
        body,
        secure: parent.secure,
    })
}

/// `POST composite`.
pub(crate) fn handle(org: &mut Org, call: &Call<'_>, operation: &'static str) -> ServiceReply {
    let body: Value = match call.request.json() {
        Ok(body) => body,
        Err(e) => return failure(operation, &WriteError::bad("JSON_PARSER_ERROR", e)),
    };
    let Some(subs) = body.get("compositeRequest").and_then(Value::as_array) else {
        return failure(
            operation,
            &WriteError::bad("INVALID_INPUT", "compositeRequest is required"),
        );
    };
    if subs.is_empty() || subs.len() > LIMIT {
        return failure(
            operation,
            &WriteError::bad(
                "INVALID_INPUT",
                format!(
                    "A composite request takes 1 to {LIMIT} subrequests, not {}",
                    subs.len()
                ),
            ),
        );
    }
    let all_or_none = body
        .get("allOrNone")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let before = (org.records.clone(), org.writes.len(), org.next_id);
    let mut results: HashMap<String, Value> = HashMap::new();
    let mut answers: Vec<(String, u16, Value, Option<String>)> = Vec::new();
    let mut failed = false;
    for sub in subs {
        let reference = sub
            .get("referenceId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if failed && all_or_none {
            let halt = halted(
                "The transaction was rolled back since another operation in the same transaction failed.",
            );
            answers.push((reference, 400, halt, None));
            continue;
        }
        let request = subrequest(call.request, sub, &results);
        let path = request.as_ref().map(|r| r.path.clone()).unwrap_or_default();
        let reply = match request {
            Ok(request) => match call_of(&request) {
                Some(sub_call) => {
                    let sub_operation = operation_of(&sub_call);
                    if sub_operation == "composite" {
                        failure(
                            sub_operation,
                            &WriteError::bad(
                                "INVALID_INPUT",
                                "composite requests cannot be nested",
                            ),
                        )
                    } else {
                        route(org, &sub_call, sub_operation)
                    }
                }
                None => failure(operation, &super::store::not_found()),
            },
            Err(error) if error.message.starts_with("Invalid reference") => {
                ServiceReply::json(operation, StatusCode::BAD_REQUEST, &halted(&error.message))
            }
            Err(error) => failure(operation, &error),
        };
        let status = reply.status.as_u16();
        let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        if status >= 400 {
            failed = true;
        } else {
            results.insert(reference.clone(), body.clone());
        }
        let location = (status == 201)
            .then(|| body.get("id").and_then(Value::as_str))
            .flatten()
            .map(|id| format!("{}/{id}", path.trim_end_matches('/')));
        answers.push((reference, status, body, location));
    }
    if failed && all_or_none {
        (org.records, org.next_id) = (before.0, before.2);
        org.writes.truncate(before.1);
        let halt = "The transaction was rolled back since another operation in the same transaction failed.";
        for answer in &mut answers {
            if answer.1 < 400 {
                *answer = (answer.0.clone(), 400, halted(halt), None);
            }
        }
    }
    let composite: Vec<Value> = answers
        .into_iter()
        .map(|(reference, status, body, location)| {
            let headers = match location {
                Some(location) => json!({ "Location": location }),
                None => json!({}),
            };
            json!({ "body": body, "httpHeaders": headers, "httpStatusCode": status, "referenceId": reference })
        })
        .collect();
    ServiceReply::json(
        operation,
        StatusCode::OK,
        &json!({ "compositeResponse": composite }),
    )
}
