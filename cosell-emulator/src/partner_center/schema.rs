//! The referral's published field types, checked on every write: a value of the wrong type is
//! refused (400) rather than stored, and what the service coerces is coerced — a numeric
//! string `dealValue` (its own samples send `"10000"`) and the string booleans `"true"` /
//! `"false"`. Every field is nullable; fields outside the table are kept as sent.

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::store::Document;

/// The type of one field.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Bool,
    Number,
    Instant,
    Object(&'static [(&'static str, Kind)]),
    List(&'static Kind),
    /// An array of objects, or (in older payloads) an object.
    ListOrObject,
}

const ADDRESS: &[(&str, Kind)] = &[
    ("addressLine1", Kind::Text),
    ("addressLine2", Kind::Text),
    ("city", Kind::Text),
    ("state", Kind::Text),
    ("postalCode", Kind::Text),
    ("country", Kind::Text),
    ("region", Kind::Text),
];

const MEMBER: &[(&str, Kind)] = &[
    ("firstName", Kind::Text),
    ("lastName", Kind::Text),
    ("phoneNumber", Kind::Text),
    ("email", Kind::Text),
    ("title", Kind::Text),
];

const CUSTOMER: &[(&str, Kind)] = &[
    ("name", Kind::Text),
    ("address", Kind::Object(ADDRESS)),
    ("size", Kind::Text),
    ("team", Kind::List(&Kind::Object(MEMBER))),
    ("ids", Kind::ListOrObject),
    ("isMatchingComplete", Kind::Bool),
];

const CONSENT: &[(&str, Kind)] = &[
    ("consentToToShareInfoWithOthers", Kind::Bool),
    ("consentToContact", Kind::Bool),
    ("consentToMicrosoftToContactSpecificPartners", Kind::Bool),
    ("consentToShareReferralWithMicrosoftSellers", Kind::Bool),
];

const DETAILS: &[(&str, Kind)] = &[
    ("notes", Kind::Text),
    ("dealValue", Kind::Number),
    ("currency", Kind::Text),
    ("closingDateTime", Kind::Instant),
    ("requirements", Kind::Object(&[])),
    ("customerRequestedContact", Kind::Bool),
    ("customerAction", Kind::Text),
];

const REFERRAL: &[(&str, Kind)] = &[
    ("name", Kind::Text),
    ("externalReferenceId", Kind::Text),
    ("status", Kind::Text),
    ("substatus", Kind::Text),
    ("statusReason", Kind::Text),
    ("type", Kind::Text),
    ("qualification", Kind::Text),
    ("direction", Kind::Text),
    ("expirationDateTime", Kind::Instant),
    ("closedDateTime", Kind::Instant),
    ("customerProfile", Kind::Object(CUSTOMER)),
    ("consent", Kind::Object(CONSENT)),
    ("details", Kind::Object(DETAILS)),
    ("team", Kind::List(&Kind::Object(MEMBER))),
    ("target", Kind::List(&Kind::Object(&[]))),
    ("inviteContext", Kind::Object(&[])),
    ("favorite", Kind::Bool),
    ("isSpam", Kind::Bool),
    ("tags", Kind::List(&Kind::Text)),
];

/// A refused value: the dotted path of the field, and why.
pub(crate) type Refusal = (String, String);

/// Checks a referral's fields against their types, coercing what the service coerces.
pub(crate) fn normalize(document: &mut Document) -> Result<(), Refusal> {
    normalize_fields(document, REFERRAL, "")
}

fn normalize_fields(
    object: &mut Map<String, Value>,
    fields: &[(&str, Kind)],
    prefix: &str,
) -> Result<(), Refusal> {
    for (name, kind) in fields {
        if let Some(value) = object.get_mut(*name) {
            let path = format!("{prefix}{name}");
            normalize_value(value, *kind, &path)?;
        }
    }
    Ok(())
}

fn normalize_value(value: &mut Value, kind: Kind, path: &str) -> Result<(), Refusal> {
    if value.is_null() {
        return Ok(());
    }
    let refuse = |wanted: &str, value: &Value| {
        Err((
            path.to_owned(),
            format!("`{value}` is not a valid value for `{path}`: expected {wanted}"),
        ))
    };
    match kind {
        Kind::Text if value.is_string() => Ok(()),
        Kind::Text => refuse("a string", value),
        Kind::Bool => match value {
            Value::Bool(_) => Ok(()),
            Value::String(text) if text.eq_ignore_ascii_case("true") => {
                *value = Value::Bool(true);
                Ok(())
            }
            Value::String(text) if text.eq_ignore_ascii_case("false") => {
                *value = Value::Bool(false);
                Ok(())
            }
            other => refuse("a boolean", other),
        },
        Kind::Number => match value {
            Value::Number(_) => Ok(()),
            Value::String(text) => {
                let text = text.trim();
                let number = rust_decimal::Decimal::from_str_exact(text)
                    .ok()
                    .and_then(|_| serde_json::from_str::<serde_json::Number>(text).ok());
                match number {
                    Some(number) => {
                        *value = Value::Number(number);
                        Ok(())
                    }
                    None => refuse("a number", value),
                }
            }
            other => refuse("a number", other),
        },
        Kind::Instant => match value.as_str().map(str::parse::<Timestamp>) {
            Some(Ok(_)) => Ok(()),
            _ => refuse("a UTC date-time", value),
        },
        Kind::Object(fields) => match value {
            Value::Object(map) => normalize_fields(map, fields, &format!("{path}.")),
            other => refuse("an object", other),
        },
        Kind::List(item) => match value {
            Value::Array(items) => {
                for (index, element) in items.iter_mut().enumerate() {
                    normalize_value(element, *item, &format!("{path}[{index}]"))?;
                }
                Ok(())
            }
            other => refuse("an array", other),
        },
        Kind::ListOrObject if value.is_array() || value.is_object() => Ok(()),
        Kind::ListOrObject => refuse("an array", value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(value: Value) -> Document {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn coerces_what_the_service_coerces_and_refuses_the_rest() {
        let mut ok = doc(json!({
            "favorite": "True",
            "isSpam": "FALSE",
            "details": {"dealValue": "10000.50", "closingDateTime": "2026-03-31T00:00:00Z"},
            "consent": {"consentToContact": "true"},
            "team": [{"email": "a@b.example"}],
            "unknownField": {"kept": 1},
        }));
        normalize(&mut ok).unwrap();
        assert_eq!(
            (ok["favorite"].clone(), ok["isSpam"].clone()),
            (json!(true), json!(false))
        );
        assert_eq!(ok["details"]["dealValue"], json!(10000.50));
        assert_eq!(ok["consent"]["consentToContact"], true);
        for (bad, path) in [
            (
                json!({"details": {"dealValue": "lots"}}),
                "details.dealValue",
            ),
            (json!({"favorite": "yes"}), "favorite"),
            (json!({"name": 5}), "name"),
            (json!({"team": [{"email": 1}]}), "team[0].email"),
            (json!({"customerProfile": "x"}), "customerProfile"),
            (
                json!({"details": {"closingDateTime": "soon"}}),
                "details.closingDateTime",
            ),
        ] {
            let refused = normalize(&mut doc(bad.clone())).unwrap_err();
            assert_eq!(refused.0, path, "{bad}");
        }
    }
}
