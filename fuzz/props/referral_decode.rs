//! The property the `referral_decode` fuzz target checks, shared with the corpus replay test on
//! stable (`tests/fuzz_corpus.rs`): any bytes decode to a referral or a typed error, never a
//! panic; a referral that decodes encodes and decodes again to the same referral; and written
//! the way other sources write referrals — every key in another casing, every flag as a string
//! (`" TRUE "`, `"False"`) — it decodes to the same typed fields.

use cosell::Nullable;
use cosell::partner_center::Referral;
use cosell::partner_center::referrals::{
    CustomerProfileIds, Link, Member, ReferralDetails, ReferralRequirements,
};
use serde_json::{Map, Value};

pub fn check(data: &[u8]) {
    let referral = match Referral::from_json(data) {
        Ok(referral) => referral,
        Err(cosell::Error::Decode(_)) => return,
        Err(other) => panic!("not a decode error: {other:?}"),
    };
    let encoded = serde_json::to_vec(&referral).expect("a decoded referral encodes");
    let again = Referral::from_json(&encoded).expect("an encoded referral decodes");
    assert_eq!(
        again, referral,
        "decode → encode → decode changed the referral"
    );

    // Through a JSON value (numbers as `f64`), then once more with the keys and flags changed:
    // the typed fields must not tell the two apart.
    let value = serde_json::to_value(&referral).expect("a decoded referral encodes");
    // Two keys of one object that differ only in case leave the casing-tolerant reader a choice
    // (it keeps the canonical one typed and the other as sent): nothing to compare then.
    if has_case_twins(&value) {
        return;
    }
    let plain = serde_json::to_vec(&value).expect("JSON writes");
    // An amount beyond what an `f64` holds may not read back from a JSON value (`cosell::money`).
    let Ok(plain) = Referral::from_json(&plain) else {
        return;
    };
    let recased = serde_json::to_vec(&recase(&value)).expect("JSON writes");
    let tolerant = Referral::from_json(&recased).unwrap_or_else(|e| {
        panic!(
            "the referral written in another casing does not decode: {e}\n{}",
            String::from_utf8_lossy(&recased)
        )
    });
    assert_eq!(
        typed_fields(tolerant),
        typed_fields(plain),
        "another casing or string flags changed a typed field:\n{}",
        String::from_utf8_lossy(&recased)
    );
}

fn swap_case(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// Every key with its ASCII case swapped, every boolean as a padded string in another case.
fn recase(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, child)| (swap_case(key), recase(child)))
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(recase).collect()),
        Value::Bool(true) => Value::String(" TRUE ".to_owned()),
        Value::Bool(false) => Value::String("False".to_owned()),
        other => other.clone(),
    }
}

fn has_case_twins(value: &Value) -> bool {
    match value {
        Value::Object(map) => {
            let mut folded: Vec<String> = map.keys().map(|k| k.to_ascii_lowercase()).collect();
            folded.sort();
            folded.windows(2).any(|w| w[0] == w[1]) || map.values().any(has_case_twins)
        }
        Value::Array(items) => items.iter().any(has_case_twins),
        _ => false,
    }
}

/// Keeps presence, drops content: for fields the model keeps as raw JSON.
fn opaque<T: Default>(field: &mut Nullable<T>) {
    if let Some(value) = field.value_mut() {
        *value = T::default();
    }
}

fn each<T>(field: &mut Nullable<Vec<T>>, f: impl FnMut(&mut T)) {
    if let Some(items) = field.value_mut() {
        items.iter_mut().for_each(f);
    }
}

/// The referral's typed fields: every `extra` map emptied and raw JSON fields blanked, since
/// those are kept exactly as sent, in the casing they were sent in.
fn typed_fields(mut r: Referral) -> Referral {
    r.extra.clear();
    opaque(&mut r.registrations);
    opaque(&mut r.tags);
    each(&mut r.target, |t| t.extra.clear());
    if let Some(profile) = r.customer_profile.value_mut() {
        profile.extra.clear();
        if let Some(address) = profile.address.value_mut() {
            address.extra.clear();
        }
        each(&mut profile.team, member);
        match profile.ids.value_mut() {
            Some(CustomerProfileIds::List(ids)) => ids.iter_mut().for_each(|id| id.extra.clear()),
            Some(CustomerProfileIds::Object(map)) => map.clear(),
            _ => {}
        }
    }
    if let Some(consent) = r.consent.value_mut() {
        consent.extra.clear();
    }
    if let Some(d) = r.details.value_mut() {
        details(d);
    }
    each(&mut r.team, member);
    if let Some(context) = r.invite_context.value_mut() {
        context.extra.clear();
        if let Some(by) = context.invited_by.value_mut() {
            by.extra.clear();
        }
    }
    if let Some(links) = r.links.value_mut() {
        links.extra.clear();
        if let Some(l) = links.related_referrals.value_mut() {
            link(l);
        }
        if let Some(l) = links.self_link.value_mut() {
            link(l);
        }
    }
    if let Some(tracking) = r.tracking_info.value_mut() {
        tracking.extra.clear();
    }
    r
}

fn member(m: &mut Member) {
    m.extra.clear();
    if let Some(preference) = m.contact_preference.value_mut() {
        preference.extra.clear();
    }
}

fn link(l: &mut Link) {
    l.extra.clear();
    opaque(&mut l.headers);
}

fn details(d: &mut ReferralDetails) {
    d.extra.clear();
    opaque(&mut d.incentive_level);
    if let Some(r) = d.requirements.value_mut() {
        requirements(r);
    }
}

fn requirements(r: &mut ReferralRequirements) {
    r.extra.clear();
    each(&mut r.industries, |t| t.extra.clear());
    each(&mut r.products, |t| t.extra.clear());
    each(&mut r.services, |t| t.extra.clear());
    each(&mut r.solutions, |s| s.extra.clear());
    opaque(&mut r.offers);
    opaque(&mut r.sales_plays);
    if let Some(additional) = r.additional_requirements.value_mut() {
        additional.extra.clear();
        each(&mut additional.attributes, |a| a.extra.clear());
        if let Some(iot) = additional.iot.value_mut() {
            iot.extra.clear();
            opaque(&mut iot.customer_license_agreement_number);
            opaque(&mut iot.device_category);
            opaque(&mut iot.silicon_type);
            opaque(&mut iot.azure_certified_device);
            opaque(&mut iot.attach_services);
        }
    }
}
