//! Record ids compared the way each service means them: a Salesforce id in its 15-character
//! (case-sensitive) or 18-character (case-safe) form names the same record; a GUID with or
//! without braces, in either case, names the same row or referral.

use std::fmt;

/// The suffix alphabet of 18-character Salesforce ids: a 5-bit number per 5-character chunk.
const SUFFIX: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// An id normalised for comparison and storage: GUIDs lower-case and hyphenated without braces,
/// Salesforce ids in their 18-character form, anything else trimmed.
///
/// ```
/// use cosell::sync::RecordId;
///
/// assert_eq!(
///     RecordId::new("{0E3A2B4C-1D2E-4F50-9A8B-7C6D5E4F3A2B}"),
///     RecordId::new("0e3a2b4c-1d2e-4f50-9a8b-7c6d5e4f3a2b"),
/// );
/// assert_eq!(RecordId::new("006Mk00000AbCdE"), RecordId::new("006Mk00000AbCdEIAV"));
/// assert_eq!(RecordId::new("006Mk00000AbCdE").as_str(), "006Mk00000AbCdEIAV");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId(String);

impl RecordId {
    /// The normalised form of `id`.
    pub fn new(id: &str) -> Self {
        let id = id.trim();
        if let Some(guid) = guid(id) {
            return RecordId(guid);
        }
        if let Some(long) = salesforce_18(id) {
            return RecordId(long);
        }
        RecordId(id.to_owned())
    }

    /// The normalised id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The normalised id, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A GUID in any of its usual spellings, lower-case hyphenated.
fn guid(id: &str) -> Option<String> {
    let inner = id
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or(id);
    // Only the hyphenated 36-character form (and its braced spelling): a 32-character hex
    // string could as well be some other system's id.
    if inner.len() != 36 {
        return None;
    }
    uuid::Uuid::try_parse(inner)
        .ok()
        .map(|guid| guid.hyphenated().to_string())
}

/// The 18-character form of a Salesforce id given in its 15- or 18-character form; `None` when
/// `id` is not one (not alphanumeric, or another length).
fn salesforce_18(id: &str) -> Option<String> {
    if !(id.len() == 15 || id.len() == 18) || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let base = &id[..15];
    let mut long = String::with_capacity(18);
    long.push_str(base);
    for chunk in base.as_bytes().chunks(5) {
        let bits = chunk
            .iter()
            .enumerate()
            .filter(|(_, b)| b.is_ascii_uppercase())
            .fold(0usize, |bits, (i, _)| bits | (1 << i));
        long.push(char::from(SUFFIX[bits]));
    }
    if id.len() == 18 && !id[15..].eq_ignore_ascii_case(&long[15..]) {
        // Not a Salesforce id after all (its suffix does not check out): keep it as given.
        return None;
    }
    Some(long)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salesforce_ids_gain_their_documented_suffix() {
        // Each chunk's uppercase letters, as bits from the right, index the suffix alphabet.
        assert_eq!(
            salesforce_18("001A0000006Vm9r").as_deref(),
            Some("001A0000006Vm9rIAC")
        );
        assert_eq!(
            salesforce_18("001000000000000").as_deref(),
            Some("001000000000000AAA")
        );
        assert_eq!(
            salesforce_18("A00000000000000").as_deref(),
            Some("A00000000000000BAA")
        );
        assert_eq!(
            salesforce_18("0000A0000000000").as_deref(),
            Some("0000A0000000000QAA")
        );
        assert_eq!(
            salesforce_18("AAAAAAAAAAAAAAA").as_deref(),
            Some("AAAAAAAAAAAAAAA555")
        );
        // An 18-character id keeps its base and takes the suffix in capitals.
        assert_eq!(
            salesforce_18("AAAAAAAAAAAAAAA555").as_deref(),
            Some("AAAAAAAAAAAAAAA555")
        );
        assert_eq!(
            salesforce_18("001000000000000aaa").as_deref(),
            Some("001000000000000AAA")
        );
        // A wrong suffix: not a Salesforce id.
        assert_eq!(salesforce_18("001000000000000ZZZ"), None);
        assert_eq!(salesforce_18("00100000000000"), None);
        assert_eq!(salesforce_18("00100000000000-"), None);
    }

    #[test]
    fn ids_that_differ_in_case_are_different_salesforce_records() {
        assert_ne!(
            RecordId::new("006Mk00000abcde"),
            RecordId::new("006Mk00000ABCDE")
        );
    }

    #[test]
    fn guids_and_other_ids() {
        let id = "0e3a2b4c-1d2e-4f50-9a8b-7c6d5e4f3a2b";
        assert_eq!(
            RecordId::new(&format!("  {{{}}} ", id.to_uppercase())).as_str(),
            id
        );
        assert_eq!(RecordId::new(" ref-42 ").as_str(), "ref-42");
        assert_eq!(
            RecordId::new("0e3a2b4c1d2e4f509a8b7c6d5e4f3a2b").as_str(),
            "0e3a2b4c1d2e4f509a8b7c6d5e4f3a2b",
            "an unhyphenated hex string is some other id"
        );
    }
}
