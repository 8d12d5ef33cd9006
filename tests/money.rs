//! Money as JSON numbers: exact writing, and reading precision with and without the
//! `arbitrary-precision` feature.

use std::str::FromStr;

use rust_decimal::Decimal;

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct Deal {
    #[serde(with = "cosell::money")]
    value: Decimal,
    #[serde(with = "cosell::money::option", default)]
    budget: Option<Decimal>,
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

#[test]
fn writes_a_json_number_with_exactly_the_decimal_digits() {
    let deal = Deal {
        value: dec("99999999999999.9999"),
        budget: Some(dec("0.3333333333333333333")),
    };
    let json = serde_json::to_string(&deal).unwrap();
    assert_eq!(
        json,
        r#"{"value":99999999999999.9999,"budget":0.3333333333333333333}"#
    );
    let none = Deal {
        value: dec("1"),
        budget: None,
    };
    assert_eq!(
        serde_json::to_string(&none).unwrap(),
        r#"{"value":1,"budget":null}"#
    );
}

#[test]
fn reads_numbers_and_strings_up_to_fifteen_digits_exactly() {
    for text in [
        "123.45",
        "1234567890.12345",
        "0.1",
        "250000",
        "-42.5",
        "1e3",
    ] {
        let deal: Deal = serde_json::from_str(&format!(r#"{{"value": {text}}}"#)).unwrap();
        assert_eq!(
            deal.value,
            Decimal::from_scientific(text).unwrap_or_else(|_| dec(text)),
            "{text}"
        );
    }
    let deal: Deal = serde_json::from_str(
        r#"{"value": "99999999999999.9999", "budget": "0.3333333333333333333"}"#,
    )
    .unwrap();
    assert_eq!(deal.value, dec("99999999999999.9999"));
    assert_eq!(deal.budget, Some(dec("0.3333333333333333333")));
}

#[cfg(not(feature = "arbitrary-precision"))]
#[test]
fn without_arbitrary_precision_long_numbers_round_as_documented() {
    let deal: Deal = serde_json::from_str(r#"{"value": 99999999999999.9999}"#).unwrap();
    assert_eq!(deal.value, dec("100000000000000"));
}

#[cfg(feature = "arbitrary-precision")]
#[test]
fn with_arbitrary_precision_long_numbers_are_exact() {
    let deal: Deal =
        serde_json::from_str(r#"{"value": 99999999999999.9999, "budget": 0.3333333333333333333}"#)
            .unwrap();
    assert_eq!(deal.value, dec("99999999999999.9999"));
    assert_eq!(deal.budget, Some(dec("0.3333333333333333333")));
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for body in [
        r#"{"value": "ten"}"#,
        r#"{"value": true}"#,
        r#"{"value": 1e400}"#,
        r#"{"value": "1e999"}"#,
        r#"{"value": [1]}"#,
    ] {
        assert!(serde_json::from_str::<Deal>(body).is_err(), "{body}");
    }
}

#[test]
fn round_trips_through_serde_json_value() {
    let deal = Deal {
        value: dec("1234.5"),
        budget: None,
    };
    let value = serde_json::to_value(&deal).unwrap();
    assert_eq!(value["value"], serde_json::json!(1234.5));
    let back: Deal = serde_json::from_value(value).unwrap();
    assert_eq!(back, deal);
}
