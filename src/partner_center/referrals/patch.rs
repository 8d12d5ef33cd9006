//! JSON Patch documents for referral updates.
//!
//! The service accepts only `replace` and `add` (RFC 6902), so [`PatchOp`] has exactly those two
//! values: `remove`, `move`, `copy` and `test` cannot be written, nor read back.

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::enums::{ReferralStatus, ReferralSubstatus};
use super::model::Member;

/// The operations the referrals service accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchOp {
    /// Sets the value at a path.
    Replace,
    /// Adds a value (appends to an array with the path segment `-`). Not idempotent.
    Add,
}

/// One operation of a patch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchOperation {
    /// What to do.
    pub op: PatchOp,
    /// Where: a JSON Pointer such as `/details/dealValue`.
    pub path: String,
    /// The value.
    pub value: Value,
}

/// A JSON Patch document for a referral: `replace` and `add` operations in order.
///
/// ```
/// use cosell::partner_center::referrals::ReferralPatch;
/// use cosell::partner_center::{Member, ReferralStatus, ReferralSubstatus};
/// use rust_decimal::Decimal;
///
/// let patch = ReferralPatch::new()
///     .status(ReferralStatus::Closed)
///     .substatus(ReferralSubstatus::Won)
///     .deal_value(Decimal::new(10_000, 0))
///     .add_team_member(&Member { email: "jo@contoso.example".into(), ..Default::default() });
/// assert!(!patch.is_idempotent());
/// assert_eq!(
///     serde_json::to_value(&patch).unwrap()[2],
///     serde_json::json!({"op": "replace", "path": "/details/dealValue", "value": "10000"}),
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
#[must_use]
pub struct ReferralPatch {
    operations: Vec<PatchOperation>,
}

/// Joins path segments into a JSON Pointer, escaping `~` and `/` inside a segment.
fn pointer<'a>(segments: impl IntoIterator<Item = &'a str>) -> String {
    segments
        .into_iter()
        .map(|segment| format!("/{}", segment.replace('~', "~0").replace('/', "~1")))
        .collect()
}

impl ReferralPatch {
    /// An empty patch.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(mut self, op: PatchOp, path: String, value: Value) -> Self {
        self.operations.push(PatchOperation { op, path, value });
        self
    }

    /// Replaces the value at the path made of `segments` (each escaped as a JSON Pointer
    /// segment): `replace(["details", "notes"], "…")`.
    pub fn replace<'a>(
        self,
        segments: impl IntoIterator<Item = &'a str>,
        value: impl Into<Value>,
    ) -> Self {
        self.push(PatchOp::Replace, pointer(segments), value.into())
    }

    /// Adds a value at the path made of `segments`; `["team", "-"]` appends to the team.
    pub fn add<'a>(
        self,
        segments: impl IntoIterator<Item = &'a str>,
        value: impl Into<Value>,
    ) -> Self {
        self.push(PatchOp::Add, pointer(segments), value.into())
    }

    /// Sets `status`; checked against the transition table when the update knows the current
    /// status.
    pub fn status(self, status: ReferralStatus) -> Self {
        self.replace(["status"], status.as_str())
    }

    /// Sets `substatus`.
    pub fn substatus(self, substatus: ReferralSubstatus) -> Self {
        self.replace(["substatus"], substatus.as_str())
    }

    /// Sets `statusReason`.
    pub fn status_reason(self, reason: &str) -> Self {
        self.replace(["statusReason"], reason)
    }

    /// Sets `details.dealValue`. Sent as a string, as the service's own samples do.
    pub fn deal_value(self, value: Decimal) -> Self {
        self.replace(["details", "dealValue"], value.normalize().to_string())
    }

    /// Sets `details.currency` (ISO 4217).
    pub fn currency(self, currency: &str) -> Self {
        self.replace(["details", "currency"], currency)
    }

    /// Sets `details.notes`.
    pub fn notes(self, notes: &str) -> Self {
        self.replace(["details", "notes"], notes)
    }

    /// Sets `details.closingDateTime`. Send a date-only value as midnight UTC of that date.
    pub fn closing_date_time(self, at: Timestamp) -> Self {
        self.replace(["details", "closingDateTime"], at.to_string())
    }

    /// Sets `externalReferenceId` (your CRM id).
    pub fn external_reference_id(self, id: &str) -> Self {
        self.replace(["externalReferenceId"], id)
    }

    /// Sets `name`.
    pub fn name(self, name: &str) -> Self {
        self.replace(["name"], name)
    }

    /// Appends a member to the partner's `team`. Makes the patch non-idempotent.
    pub fn add_team_member(self, member: &Member) -> Self {
        // A Member has only string keys and plain values, so this cannot fail; `Null` would
        // only ever stand in for a serializer bug.
        let value = serde_json::to_value(member).unwrap_or(Value::Null);
        self.add(["team", "-"], value)
    }

    /// Removes and returns the operations whose path is `path` (a JSON Pointer such as
    /// `/externalReferenceId`), keeping the others in order.
    ///
    /// ```
    /// use cosell::partner_center::referrals::ReferralPatch;
    ///
    /// let mut patch = ReferralPatch::new().name("Contoso").external_reference_id("006A");
    /// let taken = patch.take_path("/externalReferenceId");
    /// assert_eq!(taken.len(), 1);
    /// assert_eq!(patch.operations().len(), 1);
    /// ```
    pub fn take_path(&mut self, path: &str) -> Vec<PatchOperation> {
        let (taken, kept) = std::mem::take(&mut self.operations)
            .into_iter()
            .partition(|operation| operation.path == path);
        self.operations = kept;
        taken
    }

    /// The operations, in order.
    pub fn operations(&self) -> &[PatchOperation] {
        &self.operations
    }

    /// Whether the patch has no operation.
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }

    /// Whether sending the patch twice has the same effect as once: true when it only
    /// replaces. A patch with `add` may append twice, so it is never retried blindly.
    pub fn is_idempotent(&self) -> bool {
        self.operations.iter().all(|o| o.op == PatchOp::Replace)
    }

    fn last_text(&self, path: &str) -> Option<&str> {
        self.operations
            .iter()
            .rev()
            .find(|o| o.path == path)
            .and_then(|o| o.value.as_str())
    }

    /// The status the patch sets, if it sets one.
    pub fn target_status(&self) -> Option<ReferralStatus> {
        self.last_text("/status").map(ReferralStatus::from_wire)
    }

    /// The substatus the patch sets, if it sets one.
    pub fn target_substatus(&self) -> Option<ReferralSubstatus> {
        self.last_text("/substatus")
            .map(ReferralSubstatus::from_wire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_segments_are_escaped() {
        let patch = ReferralPatch::new().replace(["a/b", "c~d"], 1);
        assert_eq!(patch.operations()[0].path, "/a~1b/c~0d");
    }

    #[test]
    fn other_operations_cannot_be_read() {
        let err = serde_json::from_str::<ReferralPatch>(
            r#"[{"op":"remove","path":"/name","value":null}]"#,
        );
        assert!(err.is_err());
        let ok: ReferralPatch =
            serde_json::from_str(r#"[{"op":"replace","path":"/status","value":"Active"}]"#)
                .unwrap();
        assert_eq!(ok.target_status(), Some(ReferralStatus::Active));
        assert!(ok.is_idempotent());
    }
}
