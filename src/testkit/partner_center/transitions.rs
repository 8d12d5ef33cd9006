//! The documented status / substatus transitions, enforced on every write (the crate's own
//! table, so that the emulator and the client check the same rules).

use crate::partner_center::referrals::{ReferralPatch, check_transition};
use crate::partner_center::{ReferralStatus, ReferralSubstatus};

use super::store::{Document, SERVER_FIELDS, text};

/// A referral without what the service sets, for "did the caller change anything".
fn comparable(document: &Document) -> Document {
    let mut document = document.clone();
    document.retain(|key, _| !key.starts_with("@odata.") && !SERVER_FIELDS.contains(&key.as_str()));
    document
}

/// Checks that `next` may follow `current`: a Closed referral is terminal, a status may move
/// only as the table allows, and the substatus must fit the resulting status.
pub(crate) fn check(current: &Document, next: &Document) -> Result<(), String> {
    let status = text(current, "status").map(ReferralStatus::from_wire);
    let Some(status) = status else {
        return Ok(());
    };
    let substatus = text(current, "substatus").map(ReferralSubstatus::from_wire);
    let mut change = ReferralPatch::new();
    let next_status = text(next, "status");
    let next_substatus = text(next, "substatus");
    if next_status != text(current, "status") {
        change = change.status(
            next_status
                .map(ReferralStatus::from_wire)
                .unwrap_or_else(|| ReferralStatus::Unknown(String::new())),
        );
    }
    if next_substatus != text(current, "substatus") {
        change = change.substatus(
            next_substatus
                .map(ReferralSubstatus::from_wire)
                .unwrap_or_else(|| ReferralSubstatus::Unknown(String::new())),
        );
    }
    if status == ReferralStatus::Closed {
        // Terminal: nothing may change, not only the status.
        return if comparable(current) == comparable(next) {
            Ok(())
        } else {
            Err("the referral is Closed, which is terminal: it cannot be changed".into())
        };
    }
    check_transition(&status, substatus.as_ref(), &change).map_err(|e| match e {
        crate::Error::Validation(message) => message,
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(status: &str, substatus: &str) -> Document {
        json!({"status": status, "substatus": substatus, "name": "n"})
            .as_object()
            .cloned()
            .unwrap()
    }

    #[test]
    fn the_table_is_enforced() {
        assert!(check(&doc("New", "Pending"), &doc("Active", "Accepted")).is_ok());
        assert!(check(&doc("Active", "Accepted"), &doc("Closed", "Won")).is_ok());
        assert!(check(&doc("Active", "Accepted"), &doc("New", "Pending")).is_err());
        assert!(check(&doc("Active", "Accepted"), &doc("Closed", "Accepted")).is_err());
        assert!(check(&doc("Closed", "Won"), &doc("Closed", "Lost")).is_err());
        let mut renamed = doc("Closed", "Won");
        renamed.insert("name".into(), "other".into());
        assert!(check(&doc("Closed", "Won"), &renamed).is_err());
        assert!(check(&doc("Closed", "Won"), &doc("Closed", "Won")).is_ok());
    }
}
