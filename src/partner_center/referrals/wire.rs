//! Reading referral JSON tolerantly: date-times with any number of fractional digits (the
//! service sends seven), and field names in whatever casing the service used.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::model::Referral;
use crate::error::{DecodeError, DecodeOrigin, Error, Result, body_excerpt};
use crate::http::Response;
use crate::paging::RawPage;

/// Serde helpers for instants: RFC 3339 with up to nine fractional digits; a value without an
/// offset is read as UTC; `null` and `""` are null. Written as RFC 3339 in UTC.
pub(crate) mod timestamp {
    use jiff::Timestamp;
    use jiff::civil::DateTime;
    use jiff::tz::TimeZone;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::Nullable;

    pub(crate) fn serialize<S: Serializer>(
        value: &Nullable<Timestamp>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Nullable::Value(at) => serializer.collect_str(at),
            Nullable::Null | Nullable::Absent => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Nullable<Timestamp>, D::Error> {
        let Some(text) = Option::<String>::deserialize(deserializer)? else {
            return Ok(Nullable::Null);
        };
        let text = text.trim();
        if text.is_empty() {
            return Ok(Nullable::Null);
        }
        parse(text).map(Nullable::Value).ok_or_else(|| {
            serde::de::Error::custom(format!("`{text}` is not an RFC 3339 date-time"))
        })
    }

    pub(crate) fn parse(text: &str) -> Option<Timestamp> {
        if let Ok(at) = text.parse::<Timestamp>() {
            return Some(at);
        }
        // Some services leave the offset out of UTC values.
        let civil = text.parse::<DateTime>().ok()?;
        TimeZone::UTC.to_timestamp(civil).ok()
    }
}

/// The camelCase name of every field of the referral model. A key that matches one of these
/// case-insensitively is renamed to it before decoding, so `ConsentToToShareInfoWithOthers` or
/// `EngagementId` land in their typed fields.
const KNOWN_KEYS: &[&str] = &[
    // Referral
    "id",
    "engagementId",
    "name",
    "organizationId",
    "organizationName",
    "externalReferenceId",
    "createdDateTime",
    "updatedDateTime",
    "expirationDateTime",
    "acceptedDateTime",
    "closedDateTime",
    "status",
    "substatus",
    "statusReason",
    "type",
    "qualification",
    "direction",
    "referralSource",
    "callToAction",
    "customerMarketplaceIntent",
    "eTag",
    "target",
    "customerProfile",
    "consent",
    "details",
    "team",
    "inviteContext",
    "links",
    "trackingInfo",
    "registrations",
    "registrationStatus",
    "favorite",
    "campaignId",
    "salesStage",
    "quality",
    "isSpam",
    "mpnId",
    "referralProgram",
    "dealSensitivity",
    "createdVia",
    "lastModifiedVia",
    "lastRunId",
    "tags",
    // CustomerProfile, Address, CustomerProfileId
    "address",
    "size",
    "ids",
    "isMatchingComplete",
    "profileType",
    "addressLine1",
    "addressLine2",
    "city",
    "state",
    "postalCode",
    "country",
    "region",
    // Member, ContactPreference
    "firstName",
    "lastName",
    "phoneNumber",
    "email",
    "title",
    "contactPreference",
    "locale",
    "disableNotifications",
    "emailValidationStatus",
    "phoneValidationStatus",
    // Consent
    "consentToToShareInfoWithOthers",
    "consentToContact",
    "consentToMicrosoftToContactSpecificPartners",
    "consentToShareReferralWithMicrosoftSellers",
    // ReferralDetails, requirements, solution tags
    "notes",
    "dealValue",
    "currency",
    "closingDateTime",
    "requirements",
    "customerRequestedContact",
    "customerAction",
    "incentiveLevel",
    "industries",
    "products",
    "services",
    "solutions",
    "offers",
    "salesPlays",
    "additionalRequirements",
    "iot",
    "attributes",
    "customerLicenseAgreementNumber",
    "deviceCategory",
    "siliconType",
    "azureCertifiedDevice",
    "attachServices",
    "publisherName",
    "solutionType",
    "price",
    "quantity",
    // InviteContext, links, tracking
    "invitedBy",
    "assistanceRequestCode",
    "invitedMpnId",
    "relatedReferrals",
    "self",
    "uri",
    "method",
    "headers",
    "microsoftMsxId",
    "microsoftUSFedOpportunityId",
    "microsoftUSFedLeadId",
    "migratedPSCDealId",
    "migratedPSCPartnerDealId",
];

/// The known keys, for an exact lookup (the common case) ...
static EXACT_KEYS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| KNOWN_KEYS.iter().copied().collect());

/// ... and by their ASCII-lowercased form, for keys in another casing.
static FOLDED_KEYS: LazyLock<HashMap<String, &'static str>> = LazyLock::new(|| {
    KNOWN_KEYS
        .iter()
        .map(|key| (key.to_ascii_lowercase(), *key))
        .collect()
});

/// Renames keys that match a model field case-insensitively to the field's camelCase name.
/// Only known keys are descended into: the contents of unknown fields stay exactly as sent.
/// A key is not renamed when its canonical spelling is present too.
pub(crate) fn canonicalize_keys(value: &mut Value) {
    match value {
        Value::Object(map) => canonicalize_object(map),
        Value::Array(items) => items.iter_mut().for_each(canonicalize_keys),
        _ => {}
    }
}

fn canonicalize_object(map: &mut Map<String, Value>) {
    let renames: Vec<(String, &'static str)> = map
        .keys()
        .filter(|key| !EXACT_KEYS.contains(key.as_str()))
        .filter_map(|key| {
            FOLDED_KEYS
                .get(&key.to_ascii_lowercase())
                .map(|canonical| (key.clone(), *canonical))
        })
        .collect();
    for (from, to) in renames {
        if !map.contains_key(to)
            && let Some(moved) = map.remove(&from)
        {
            map.insert(to.to_owned(), moved);
        }
    }
    for (key, child) in map.iter_mut() {
        if EXACT_KEYS.contains(key.as_str()) {
            canonicalize_keys(child);
        }
    }
}

fn decode_error(body: &[u8], path: String, message: String) -> Error {
    Error::from(DecodeError {
        path,
        message,
        status: None,
        request_id: None,
        body_excerpt: body_excerpt(body),
        origin: DecodeOrigin::Input,
    })
}

/// Parses `body` as JSON, lets `canonicalize` rename keys where the model expects them, and
/// decodes, naming the JSON path of a failure.
fn decode_canonical<T: DeserializeOwned>(
    body: &[u8],
    canonicalize: impl FnOnce(&mut Value),
) -> Result<T> {
    let mut value: Value = crate::error::decode_json(body)?;
    canonicalize(&mut value);
    serde_path_to_error::deserialize(value)
        .map_err(|e| decode_error(body, e.path().to_string(), e.inner().to_string()))
}

/// Decodes one referral, reading field names case-insensitively.
pub(crate) fn decode_referral(body: &[u8]) -> Result<Referral> {
    decode_canonical(body, canonicalize_keys)
}

#[derive(Deserialize)]
struct Collection {
    value: Vec<Box<serde_json::value::RawValue>>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
    #[serde(rename = "@odata.count", default)]
    count: Option<u64>,
}

/// Splits one page of a referral listing (an OData collection), field names made canonical so
/// that every item decodes as [`decode_referral`] would decode it.
///
/// The page is split into each item's text first, and the items are made canonical one by
/// one: a page of 100 referrals as one `Value` tree is several times its text, and a sweep
/// lists a page at a time while it holds its other state.
pub(crate) fn referral_page(response: &Response) -> Result<RawPage> {
    let collection: Collection =
        crate::error::decode_json(&response.body).map_err(|e| response.annotate(e))?;
    let items = collection
        .value
        .into_iter()
        .enumerate()
        .map(|(index, raw)| {
            let mut item: Value = serde_json::from_str(raw.get())
                .map_err(|e| response.decode_error(&format!("value[{index}]"), e.to_string()))?;
            drop(raw);
            canonicalize_keys(&mut item);
            serde_json::value::to_raw_value(&item)
                .map_err(|e| response.decode_error(&format!("value[{index}]"), e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RawPage {
        items,
        items_at: "value",
        next_link: collection.next_link,
        total: collection.count,
    })
}

/// Serde helpers for an amount: read from a number or a numeric string, written as a JSON
/// number. Empty strings read as null, as the service uses them for "no value".
pub(crate) mod amount {
    use super::*;
    use crate::Nullable;
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        value: &Nullable<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        crate::money::option::serialize(&value.value().copied(), serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Nullable<Decimal>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Amount(#[serde(with = "crate::money")] Decimal),
            Blank(String),
        }
        match Option::<Raw>::deserialize(deserializer)? {
            None => Ok(Nullable::Null),
            Some(Raw::Amount(value)) => Ok(Nullable::Value(value)),
            Some(Raw::Blank(text)) if text.trim().is_empty() => Ok(Nullable::Null),
            Some(Raw::Blank(text)) => Err(serde::de::Error::custom(format!(
                "`{text}` is not a decimal number"
            ))),
        }
    }
}

/// Serde helpers for a flag: a JSON boolean, or the strings `"true"` / `"false"` (any case) as
/// Microsoft's documentation samples write them. Written as a JSON boolean.
pub(crate) mod flag {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::Nullable;

    pub(crate) fn serialize<S: Serializer>(
        value: &Nullable<bool>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Nullable<bool>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Text(String),
        }
        match Option::<Raw>::deserialize(deserializer)? {
            None => Ok(Nullable::Null),
            Some(Raw::Flag(flag)) => Ok(Nullable::Value(flag)),
            Some(Raw::Text(text)) => match text.trim() {
                t if t.eq_ignore_ascii_case("true") => Ok(Nullable::Value(true)),
                t if t.eq_ignore_ascii_case("false") => Ok(Nullable::Value(false)),
                _ => Err(serde::de::Error::custom(format!(
                    "`{text}` is not a boolean (true or false)"
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_canonicalized_only_along_known_fields() {
        let mut value = serde_json::json!({
            "Consent": {"ConsentToToShareInfoWithOthers": true},
            "EngagementId": "e",
            "Custom": {"Name": "kept as sent"},
            "name": "n", "NAME": "both present: left alone"
        });
        canonicalize_keys(&mut value);
        assert_eq!(value["consent"]["consentToToShareInfoWithOthers"], true);
        assert_eq!(value["engagementId"], "e");
        assert_eq!(value["Custom"]["Name"], "kept as sent");
        assert_eq!(value["NAME"], "both present: left alone");
    }

    #[test]
    fn seven_fractional_digits_and_missing_offsets_parse() {
        let at = timestamp::parse("2018-10-30T21:03:42.4579542Z").unwrap();
        assert_eq!(at.to_string(), "2018-10-30T21:03:42.4579542Z");
        let at = timestamp::parse("2018-10-30T21:03:42.4579542").unwrap();
        assert_eq!(at.to_string(), "2018-10-30T21:03:42.4579542Z");
        assert!(timestamp::parse("yesterday").is_none());
    }
}
