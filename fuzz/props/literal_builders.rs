//! The property the `literal_builders` fuzz target checks, shared with the corpus replay test on
//! stable (`tests/fuzz_corpus.rs`): any text or number the SDK builds into a Dataverse `$filter`
//! ([`cosell::dataverse::Filter`]) or a SOQL query ([`cosell::salesforce::soql`]) is read back
//! intact by the emulator's own parsers — the oracle, written apart from the SDK — and never
//! escapes its literal: the parsed query holds exactly the predicates that were built, and a
//! `LIKE` pattern matches the text literally, its `%` and `_` included.
//!
//! The input: `i` and an integer in decimal, `d` and a decimal number in text, `I` and eight
//! bytes (a little-endian `i64`), `D` and sixteen bytes (a decimal's mantissa, sign and scale);
//! anything else is the text itself (invalid UTF-8 replaced).

use std::str::FromStr;

use cosell::dataverse::{Filter, ODataValue};
use cosell::salesforce::soql::{LikePattern, Soql, SoqlValue, field};
use cosell_emulator::query_text::{
    ODataLiteral, ODataPredicate, SoqlLiteral, SoqlPredicate, parse_odata_filter, parse_soql,
};
use rust_decimal::Decimal;

enum Input {
    Text(String),
    Integer(i64),
    Decimal(Decimal),
}

fn input(data: &[u8]) -> Input {
    let text = || String::from_utf8_lossy(data).into_owned();
    let rest = data.get(1..).unwrap_or_default();
    let rest_text = std::str::from_utf8(rest).ok();
    match data.first() {
        Some(b'i') => rest_text
            .and_then(|t| t.parse().ok())
            .map_or_else(|| Input::Text(text()), Input::Integer),
        Some(b'd') => rest_text
            .and_then(|t| Decimal::from_str(t).ok())
            .map_or_else(|| Input::Text(text()), Input::Decimal),
        Some(b'I') if rest.len() == 8 => {
            Input::Integer(i64::from_le_bytes(rest.try_into().expect("eight bytes")))
        }
        Some(b'D') if rest.len() == 16 => {
            let word = |i: usize| u32::from_le_bytes(rest[i..i + 4].try_into().expect("four"));
            let flags = word(12);
            let scale = (flags & 0xff) % 29;
            let negative = flags & 0x100 != 0;
            Input::Decimal(Decimal::from_parts(
                word(0),
                word(4),
                word(8),
                negative,
                scale,
            ))
        }
        _ => Input::Text(text()),
    }
}

pub fn check(data: &[u8]) {
    match input(data) {
        Input::Text(text) => {
            odata_text(&text);
            soql_text(&text);
        }
        Input::Integer(n) => {
            odata_number(ODataValue::from(n), Decimal::from(n));
            soql_number(SoqlValue::from(n), Decimal::from(n));
        }
        Input::Decimal(d) => {
            odata_number(ODataValue::from(d), d);
            soql_number(SoqlValue::from(d), d);
        }
    }
}

/// The text with its LIKE wildcards replaced, when it has any: a value the text's pattern must
/// not match.
fn without_wildcards(text: &str) -> Option<String> {
    text.contains(['%', '_'])
        .then(|| text.replace(['%', '_'], "#"))
}

fn odata(filter: &Filter) -> Vec<ODataPredicate> {
    let rendered = filter.render().expect("plain column names render");
    match parse_odata_filter(rendered) {
        Ok(parsed) => parsed.predicates(),
        Err(e) => panic!("the emulator cannot read the filter {rendered:?}: {e}"),
    }
}

fn path(column: &str) -> Vec<String> {
    vec![column.to_owned()]
}

fn odata_text(text: &str) {
    let eq = Filter::eq("name", text);
    let rendered = eq.render().expect("renders");
    let parsed = parse_odata_filter(rendered)
        .unwrap_or_else(|e| panic!("the emulator cannot read {rendered:?}: {e}"));
    assert_eq!(
        parsed.single(),
        Some(ODataPredicate::Compare {
            path: path("name"),
            operator: "eq",
            value: ODataLiteral::Text(text.to_owned()),
        }),
        "{rendered:?}"
    );

    let compound = Filter::contains("name", text)
        .and(Filter::is_in("name", [text, "x"]))
        .and(Filter::ne("description", text).or(Filter::starts_with("name", text)))
        .and(Filter::ends_with("name", text).not());
    let predicates = odata(&compound);
    assert_eq!(predicates.len(), 5, "{compound}: {predicates:?}");
    assert_eq!(
        predicates[1],
        ODataPredicate::Function {
            function: "In".to_owned(),
            path: path("name"),
            values: vec![
                ODataLiteral::Text(text.to_owned()),
                ODataLiteral::Text("x".to_owned())
            ],
        },
        "{compound}"
    );
    assert_eq!(
        predicates[2],
        ODataPredicate::Compare {
            path: path("description"),
            operator: "ne",
            value: ODataLiteral::Text(text.to_owned()),
        },
        "{compound}"
    );
    let [contains, starts, ends] = [&predicates[0], &predicates[3], &predicates[4]];
    for (predicate, function) in [
        (contains, "contains"),
        (starts, "startswith"),
        (ends, "endswith"),
    ] {
        assert!(
            matches!(predicate, ODataPredicate::Like { function: f, path: p, .. } if *f == function && *p == path("name")),
            "{compound}: {predicate:?}"
        );
    }
    let matched = |p: &ODataPredicate, value: &str| p.like_matches(value) == Some(true);
    assert!(matched(contains, &format!("x{text}y")), "{compound}");
    assert!(matched(starts, &format!("{text}y")), "{compound}");
    assert!(matched(ends, &format!("x{text}")), "{compound}");
    if let Some(other) = without_wildcards(text) {
        assert!(!matched(contains, &format!("x{other}y")), "{compound}");
        assert!(!matched(starts, &format!("{other}y")), "{compound}");
        assert!(!matched(ends, &format!("x{other}")), "{compound}");
    }
}

/// A number the emulator read, as a decimal.
fn odata_number_of(literal: &ODataLiteral) -> Option<Decimal> {
    match literal {
        ODataLiteral::Int(i) => Some(Decimal::from(*i)),
        ODataLiteral::Decimal(d) => Some(*d),
        _ => None,
    }
}

fn odata_number(value: ODataValue, number: Decimal) {
    let filter = Filter::gt("estimatedvalue", value.clone()).and(Filter::is_in(
        "statuscode",
        [value.clone(), ODataValue::from(1)],
    ));
    let predicates = odata(&filter);
    assert_eq!(predicates.len(), 2, "{filter}: {predicates:?}");
    match &predicates[0] {
        ODataPredicate::Compare {
            path: p,
            operator: "gt",
            value: literal,
        } if *p == path("estimatedvalue") => assert_eq!(
            odata_number_of(literal),
            Some(number),
            "{filter}: {literal:?}"
        ),
        other => panic!("{filter}: {other:?}"),
    }
    // Function parameters take every value quoted.
    match &predicates[1] {
        ODataPredicate::Function {
            function,
            path: p,
            values,
        } if function == "In" && *p == path("statuscode") => {
            let [ODataLiteral::Text(first), ODataLiteral::Text(second)] = values.as_slice() else {
                panic!("{filter}: {values:?}");
            };
            assert_eq!(Decimal::from_str(first).ok(), Some(number), "{filter}");
            assert_eq!(second, "1", "{filter}");
        }
        other => panic!("{filter}: {other:?}"),
    }
}

fn soql(query: &Soql) -> cosell_emulator::query_text::SoqlQuery {
    parse_soql(query.as_str())
        .unwrap_or_else(|e| panic!("the emulator cannot read {:?}: {e}", query.as_str()))
}

fn soql_text(text: &str) {
    let exact = Soql::select(["Id"])
        .from("Opportunity")
        .filter(field("Name").eq(text))
        .build()
        .expect("builds");
    let parsed = soql(&exact);
    assert_eq!(parsed.object(), "Opportunity", "{exact}");
    assert_eq!(parsed.fields(), ["Id"], "{exact}");
    assert_eq!(
        parsed.single(),
        Some(SoqlPredicate::Compare {
            field: "Name".to_owned(),
            operator: "=",
            value: SoqlLiteral::Text(text.to_owned()),
        }),
        "{exact}"
    );

    let compound = Soql::select(["Id", "Name"])
        .from("Opportunity")
        .filter(field("Name").like(LikePattern::contains(text)))
        .filter(
            field("Name")
                .is_in([text, "x"])
                .or(field("Description").ne(text)),
        )
        .filter(field("Microsoft_Help_Requested__c").includes([text]))
        .order_by("Name", cosell::Order::Ascending)
        .limit(7)
        .build()
        .expect("builds");
    let parsed = soql(&compound);
    assert_eq!(parsed.limit(), Some(7), "{compound}");
    assert_eq!(parsed.offset(), None, "{compound}");
    assert_eq!(parsed.order_keys(), 1, "{compound}");
    let predicates = parsed.predicates();
    assert_eq!(predicates.len(), 4, "{compound}: {predicates:?}");
    assert_eq!(
        predicates[1],
        SoqlPredicate::In {
            field: "Name".to_owned(),
            negated: false,
            values: vec![
                SoqlLiteral::Text(text.to_owned()),
                SoqlLiteral::Text("x".to_owned())
            ],
        },
        "{compound}"
    );
    assert_eq!(
        predicates[2],
        SoqlPredicate::Compare {
            field: "Description".to_owned(),
            operator: "!=",
            value: SoqlLiteral::Text(text.to_owned()),
        },
        "{compound}"
    );
    assert_eq!(
        predicates[3],
        SoqlPredicate::Includes {
            field: "Microsoft_Help_Requested__c".to_owned(),
            excludes: false,
            values: vec![text.to_owned()],
        },
        "{compound}"
    );
    let SoqlPredicate::Like { field: f, pattern } = &predicates[0] else {
        panic!("{compound}: {:?}", predicates[0]);
    };
    assert_eq!(f, "Name", "{compound}");
    assert_eq!(pattern.wildcards(), 2, "{compound}");
    assert!(pattern.matches(&format!("x{text}y")), "{compound}");
    if let Some(other) = without_wildcards(text) {
        assert!(!pattern.matches(&format!("x{other}y")), "{compound}");
    }
}

fn soql_number(value: SoqlValue, number: Decimal) {
    let query = Soql::select(["Id"])
        .from("Opportunity")
        .filter(field("Amount").ge(value.clone()))
        .filter(field("Probability").not_in([value, SoqlValue::from(0)]))
        .build()
        .expect("builds");
    let predicates = soql(&query).predicates();
    assert_eq!(
        predicates,
        [
            SoqlPredicate::Compare {
                field: "Amount".to_owned(),
                operator: ">=",
                value: SoqlLiteral::Number(number),
            },
            SoqlPredicate::In {
                field: "Probability".to_owned(),
                negated: true,
                values: vec![
                    SoqlLiteral::Number(number),
                    SoqlLiteral::Number(Decimal::ZERO)
                ],
            },
        ],
        "{query}"
    );
}
