//! The property the `salesforce_answer` fuzz target checks, shared with the corpus replay test on
//! stable (`tests/fuzz_corpus.rs`): any bytes, read as a Salesforce answer, give a value or a
//! typed error ([`cosell::Error::Decode`]), never a panic; and what decodes survives being
//! written again.
//!
//! Every input is read as each answer the client reads: a query page ([`query_page`], its
//! records decoded as [`Opportunity`]), a record, a describe ([`SObjectDescribe`]), a
//! Collections answer (`[SaveResult]`), the `limits` resource, the opportunity stages, and an
//! error body; its text also as a date-time ([`datetime::parse`]), a `Sforce-Limit-Info`
//! header ([`LimitInfo`]) and a multi-select picklist value ([`MultiSelect`]).

use std::collections::BTreeMap;
use std::fmt::Debug;

use bytes::Bytes;
use cosell::Error;
use cosell::error::decode_json;
use cosell::http::{Response, parse_error_body};
use cosell::salesforce::{
    LimitInfo, MultiSelect, Opportunity, OpportunityStage, OrgLimit, SObjectDescribe, SaveResult,
    datetime, query_page,
};
use http::{HeaderMap, StatusCode};
use rust_decimal::Decimal;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub fn check(data: &[u8]) {
    page(data);
    if let Some(row) = typed("record", decode_json::<Opportunity>(data)) {
        check_opportunity(&row);
    }
    round_trip::<SObjectDescribe>("describe", data, |_| true);
    round_trip::<Vec<SaveResult>>("collections answer", data, |_| true);
    round_trip::<BTreeMap<String, OrgLimit>>("limits", data, |_| true);
    round_trip::<Vec<OpportunityStage>>("stages", data, |stages| {
        stages.iter().all(|s| exact_money(&s.default_probability))
    });
    let _ = parse_error_body(data);
    let text = String::from_utf8_lossy(data);
    date_time(&text);
    limit_info(&text);
    multi_select(&text);
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

/// Decodes `data` as `T`; a value that decodes (and that `exact` says the JSON form keeps)
/// encodes and decodes again to itself.
fn round_trip<T>(what: &str, data: &[u8], exact: impl Fn(&T) -> bool)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let Some(value) = typed(what, decode_json::<T>(data)) else {
        return;
    };
    let encoded = serde_json::to_vec(&value).expect("a decoded value encodes");
    if !exact(&value) {
        return;
    }
    let again = decode_json::<T>(&encoded).unwrap_or_else(|e| {
        panic!(
            "{what}: an encoded value does not decode: {e}\n{}",
            String::from_utf8_lossy(&encoded)
        )
    });
    assert_eq!(again, value, "{what}: decode → encode → decode changed it");
}

fn page(data: &[u8]) {
    let response = Response {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        body: Bytes::copy_from_slice(data),
        complete: true,
        request_id: None,
        correlation_id: None,
        url: "https://contoso.my.salesforce.com/services/data/v62.0/query?q=SELECT+Id+FROM+Opportunity"
            .parse()
            .expect("a URL"),
    };
    let Some(page) = typed("query page", query_page(&response)) else {
        return;
    };
    assert_eq!(page.items_at, "records");
    for item in &page.items {
        if let Some(row) = typed("record", decode_json::<Opportunity>(item.get().as_bytes())) {
            check_opportunity(&row);
        }
    }
}

/// An opportunity writes only what Salesforce accepts in a create or upsert body: read back,
/// it is the same record without its read-only fields.
fn check_opportunity(row: &Opportunity) {
    typed(
        "co-sell fields",
        row.cosell(&cosell::salesforce::CoSellFieldNames::default()),
    );
    let encoded = serde_json::to_vec(row).expect("a decoded record encodes");
    if !exact_money(&row.amount) || !exact_money(&row.probability) {
        return;
    }
    let again = decode_json::<Opportunity>(&encoded).unwrap_or_else(|e| {
        panic!(
            "an encoded record does not decode: {e}\n{}",
            String::from_utf8_lossy(&encoded)
        )
    });
    let expected = Opportunity {
        attributes: None,
        id: None,
        is_closed: None,
        is_won: None,
        last_modified_date: None,
        system_modstamp: None,
        ..row.clone()
    };
    assert_eq!(
        again, expected,
        "decode → encode → decode changed the record"
    );
}

/// A date-time that parses is written in Salesforce's form (to the millisecond) and reads back
/// as the same instant, cut to the millisecond.
fn date_time(text: &str) {
    let Some(at) = datetime::parse(text) else {
        return;
    };
    let written = datetime::format(at);
    let again = datetime::parse(&written)
        .unwrap_or_else(|| panic!("{text:?} parsed, but its written form {written:?} does not"));
    let lost = at.duration_since(again);
    assert!(
        !lost.is_negative() && lost.as_millis() < 1,
        "{text:?} → {written:?} moved the instant by {lost:?}"
    );
    assert_eq!(datetime::format(again), written, "{text:?}");
}

/// Every entry the header reader keeps is one of the header's own entries.
fn limit_info(text: &str) {
    let info = LimitInfo::parse(text);
    assert_eq!(info.raw, text);
    let entries = text.split(',').count();
    let kept = usize::from(info.api_usage.is_some()) + info.per_app.len() + info.other.len();
    assert!(kept <= entries, "{text:?}: {kept} entries of {entries}");
    for usage in info
        .api_usage
        .iter()
        .chain(info.per_app.iter().map(|a| &a.usage))
    {
        assert!(usage.remaining() <= usage.limit);
        assert!(usage.fraction_used() >= 0.0);
    }
}

/// A multi-select value read from the wire is written and read back the same.
fn multi_select(text: &str) {
    let picked = MultiSelect::from_wire(text);
    match picked.to_wire() {
        Some(wire) => assert_eq!(MultiSelect::from_wire(&wire), picked, "{wire:?}"),
        None => assert!(picked.is_empty()),
    }
}
