//! The property the `dataverse_answer` fuzz target checks, shared with the corpus replay test on
//! stable (`tests/fuzz_corpus.rs`): any bytes, read as a Dataverse answer, give a value or a typed
//! error ([`cosell::Error::Decode`]), never a panic; and what decodes survives being written
//! again.
//!
//! - An input that starts with `multipart/` is a `$batch` answer: its first line is the
//!   `Content-Type`, the rest the body, read by [`read_batch_response`]. The parts it gives,
//!   written again as a multipart body, read back as the same parts.
//! - Any other input is read as a record ([`Opportunity`]: encoded and decoded again it is the
//!   same row), as a collection page ([`odata_page`], every item decoded as a record), and as
//!   an error body (the Dataverse profile's reader and classifier).

use bytes::Bytes;
use cosell::Error;
use cosell::dataverse::{
    BatchPart, BatchResponse, CoSellFieldNames, DataverseProfile, Opportunity, format_choices,
    parse_choices, read_batch_response,
};
use cosell::error::decode_json;
use cosell::http::{Response, ServiceProfile};
use cosell::paging::odata_page;
use http::{HeaderMap, StatusCode};
use rust_decimal::Decimal;

pub fn check(data: &[u8]) {
    if data.starts_with(b"multipart/") {
        batch(data);
        return;
    }
    record(data);
    collection(data);
    error_body(StatusCode::BAD_REQUEST, data);
    choices(&String::from_utf8_lossy(data));
}

/// Fails unless `result` is a value or a decode error.
fn typed<T>(what: &str, result: cosell::Result<T>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(Error::Decode(_)) => None,
        Err(other) => panic!("{what}: not a decode error: {other:?}"),
    }
}

/// Whether a money value is one the JSON number form keeps exactly: without the
/// `arbitrary-precision` feature numbers travel as `f64`, exact for up to 15 significant digits
/// (`cosell::money`).
fn exact_money(value: &Option<Decimal>) -> bool {
    value.is_none_or(|d| d.normalize().mantissa().unsigned_abs().to_string().len() <= 15)
}

fn record(data: &[u8]) {
    let Some(row) = typed("record", decode_json::<Opportunity>(data)) else {
        return;
    };
    check_row(&row);
}

fn check_row(row: &Opportunity) {
    // Reading the co-sell columns out of the row gives values or a decode error naming one.
    typed("co-sell columns", row.cosell(&CoSellFieldNames::default()));
    let _ = (row.formatted("statecode"), row.lookup_table("customerid"));
    let encoded = serde_json::to_vec(row).expect("a decoded row encodes");
    let money = [&row.estimated_value, &row.actual_value, &row.budget_amount];
    if !money.into_iter().all(exact_money) {
        return;
    }
    let again = match decode_json::<Opportunity>(&encoded) {
        Ok(again) => again,
        Err(e) => panic!(
            "an encoded row does not decode: {e}\n{}",
            String::from_utf8_lossy(&encoded)
        ),
    };
    assert_eq!(&again, row, "decode → encode → decode changed the row");
}

fn response(body: &[u8]) -> Response {
    Response {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        body: Bytes::copy_from_slice(body),
        complete: true,
        request_id: None,
        correlation_id: None,
        url: "https://contoso.crm.dynamics.com/api/data/v9.2/opportunities"
            .parse()
            .expect("a URL"),
    }
}

fn collection(data: &[u8]) {
    let Some(page) = typed("collection", odata_page(&response(data))) else {
        return;
    };
    assert_eq!(page.items_at, "value");
    for item in &page.items {
        if let Some(row) = typed("item", decode_json::<Opportunity>(item.get().as_bytes())) {
            check_row(&row);
        }
    }
}

fn error_body(status: StatusCode, body: &[u8]) {
    let details = DataverseProfile.parse_error(body);
    assert!(
        details.inner_codes.len() <= 16,
        "the inner error walk is bounded"
    );
    let _ = DataverseProfile.classify(status, &details);
}

fn choices(text: &str) {
    if let Some(values) = parse_choices(text) {
        let written = format_choices(&values);
        assert_eq!(
            parse_choices(&written).as_ref(),
            Some(&values),
            "{written:?}"
        );
    }
}

fn batch(data: &[u8]) {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let content_type = String::from_utf8_lossy(&data[..split]);
    let body = data.get(split + 1..).unwrap_or_default();
    let Some(parts) = typed(
        "batch",
        read_batch_response(content_type.trim_end_matches('\r'), body),
    ) else {
        return;
    };
    for response in parts.iter().flat_map(responses) {
        typed("part body", response.json::<serde_json::Value>());
        let _ = response.id();
        if !response.status.is_success() {
            error_body(response.status, &response.body);
        }
    }
    let (boundary, written) = write_batch(&parts);
    let again = read_batch_response(&format!("multipart/mixed; boundary={boundary}"), &written)
        .unwrap_or_else(|e| {
            panic!(
                "a written batch answer does not read: {e:?}\n{}",
                String::from_utf8_lossy(&written)
            )
        });
    assert_eq!(
        summary(&again),
        summary(&parts),
        "read → write → read changed the batch answer:\n{}",
        String::from_utf8_lossy(&written)
    );
}

fn responses(part: &BatchPart) -> Vec<&BatchResponse> {
    match part {
        BatchPart::Response(response) => vec![response],
        BatchPart::ChangeSet(responses) => responses.iter().collect(),
    }
}

/// What a part holds, comparably (`BatchResponse` has no `PartialEq`).
type Summary = (StatusCode, HeaderMap, Bytes, Option<String>);

fn summary(parts: &[BatchPart]) -> Vec<(bool, Vec<Summary>)> {
    parts
        .iter()
        .map(|part| {
            (
                matches!(part, BatchPart::ChangeSet(_)),
                responses(part)
                    .into_iter()
                    .map(|r| {
                        (
                            r.status,
                            r.headers.clone(),
                            r.body.clone(),
                            r.content_id.clone(),
                        )
                    })
                    .collect(),
            )
        })
        .collect()
}

/// Writes parts as a `$batch` answer, with boundaries that occur nowhere in their content.
fn write_batch(parts: &[BatchPart]) -> (String, Vec<u8>) {
    let mut content = Vec::new();
    for response in parts.iter().flat_map(responses) {
        content.push(String::from_utf8_lossy(&response.body).into_owned());
        content.extend(response.content_id.clone());
        for value in response.headers.values() {
            content.push(String::from_utf8_lossy(value.as_bytes()).into_owned());
        }
    }
    let mut n = 0;
    let mut fresh = || loop {
        n += 1;
        let candidate = format!("rewritten_{n}");
        if !content.iter().any(|c| c.contains(&candidate)) {
            return candidate;
        }
    };
    let outer = fresh();
    let mut out = String::new();
    for part in parts {
        out.push_str(&format!("--{outer}\r\n"));
        match part {
            BatchPart::Response(response) => write_response(&mut out, response),
            BatchPart::ChangeSet(responses) => {
                let inner = fresh();
                out.push_str(&format!(
                    "Content-Type: multipart/mixed; boundary={inner}\r\n\r\n"
                ));
                for response in responses {
                    out.push_str(&format!("--{inner}\r\n"));
                    write_response(&mut out, response);
                    out.push_str("\r\n");
                }
                out.push_str(&format!("--{inner}--"));
            }
        }
        out.push_str("\r\n");
    }
    out.push_str(&format!("--{outer}--\r\n"));
    (outer, out.into_bytes())
}

fn write_response(out: &mut String, response: &BatchResponse) {
    out.push_str("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n");
    if let Some(id) = &response.content_id {
        out.push_str(&format!("Content-ID: {id}\r\n"));
    }
    out.push_str(&format!(
        "\r\nHTTP/1.1 {} Rewritten\r\n",
        response.status.as_u16()
    ));
    for (name, value) in &response.headers {
        out.push_str(&format!(
            "{name}: {}\r\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    out.push_str("\r\n");
    out.push_str(&String::from_utf8_lossy(&response.body));
}
