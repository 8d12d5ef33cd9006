//! The status / substatus rules of the referrals API, written from the service's documented
//! transition table (the emulator's own copy: it judges clients, so it shares none of their code).
//!
//! | Status | May move to          | Allowed substatus             |
//! |--------|----------------------|-------------------------------|
//! | New    | New, Active, Closed  | Pending, Received             |
//! | Active | Active, Closed       | Accepted                      |
//! | Closed | Closed (terminal)    | Won, Lost, Declined, Expired  |

use super::store::{Document, SERVER_FIELDS, text};

/// The statuses a referral in `status` may move to; `None` for a status outside the table.
fn next_statuses(status: &str) -> Option<&'static [&'static str]> {
    match status {
        "New" => Some(&["New", "Active", "Closed"]),
        "Active" => Some(&["Active", "Closed"]),
        "Closed" => Some(&["Closed"]),
        _ => None,
    }
}

/// The substatuses a referral in `status` may carry; `None` for a status outside the table.
pub(crate) fn substatuses(status: &str) -> Option<&'static [&'static str]> {
    match status {
        "New" => Some(&["Pending", "Received"]),
        "Active" => Some(&["Accepted"]),
        "Closed" => Some(&["Won", "Lost", "Declined", "Expired"]),
        _ => None,
    }
}

/// Checks a status / substatus pair written on create.
pub(crate) fn check_new(document: &Document) -> Result<(), String> {
    let (Some(status), Some(substatus)) = (text(document, "status"), text(document, "substatus"))
    else {
        return Ok(());
    };
    match substatuses(status) {
        Some(allowed) if !allowed.contains(&substatus) => Err(format!(
            "substatus {substatus} is not allowed with status {status}; allowed: {}",
            allowed.join(", ")
        )),
        _ => Ok(()),
    }
}

/// A referral without what the service sets, for "did the caller change anything".
fn comparable(document: &Document) -> Document {
    let mut document = document.clone();
    document.retain(|key, _| !key.starts_with("@odata.") && !SERVER_FIELDS.contains(&key.as_str()));
    document
}

/// Checks that `next` may follow `current`: a Closed referral is terminal, a status moves only
/// as the table allows, and the resulting substatus must fit the resulting status.
pub(crate) fn check(current: &Document, next: &Document) -> Result<(), String> {
    let Some(status) = text(current, "status") else {
        return Ok(());
    };
    if status == "Closed" {
        return if comparable(current) == comparable(next) {
            Ok(())
        } else {
            Err("the referral is Closed, which is terminal: it cannot be changed".into())
        };
    }
    let next_status = text(next, "status").unwrap_or(status);
    let next_substatus = text(next, "substatus");
    if next_status == status && next_substatus == text(current, "substatus") {
        return Ok(());
    }
    if let Some(allowed) = next_statuses(status)
        && !allowed.contains(&next_status)
    {
        return Err(format!(
            "a referral cannot move from {status} to {next_status}; allowed: {}",
            allowed.join(", ")
        ));
    }
    let Some(allowed) = substatuses(next_status) else {
        return Ok(());
    };
    match next_substatus {
        Some(sub) if allowed.contains(&sub) => Ok(()),
        Some(sub) => Err(format!(
            "substatus {sub} is not allowed with status {next_status}; allowed: {}",
            allowed.join(", ")
        )),
        None => Err(format!(
            "status {next_status} needs a substatus: one of {}",
            allowed.join(", ")
        )),
    }
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
        assert!(check(&doc("New", "Pending"), &doc("New", "Received")).is_ok());
        assert!(check(&doc("Active", "Accepted"), &doc("Closed", "Won")).is_ok());
        assert!(check(&doc("Active", "Accepted"), &doc("New", "Pending")).is_err());
        assert!(check(&doc("Active", "Accepted"), &doc("Closed", "Accepted")).is_err());
        assert!(check(&doc("New", "Pending"), &doc("Active", "Pending")).is_err());
        assert!(check(&doc("Closed", "Won"), &doc("Closed", "Lost")).is_err());
        let mut renamed = doc("Closed", "Won");
        renamed.insert("name".into(), "other".into());
        assert!(check(&doc("Closed", "Won"), &renamed).is_err());
        assert!(check(&doc("Closed", "Won"), &doc("Closed", "Won")).is_ok());
        assert!(check_new(&doc("New", "Won")).is_err());
        assert!(check_new(&doc("Closed", "Lost")).is_ok());
    }
}
