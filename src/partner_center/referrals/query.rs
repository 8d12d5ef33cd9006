//! The OData query of a referral listing: `$filter`, `$orderby`, `$top`, `$select`.
//!
//! Typed conditions quote and escape their literals, so a value can never change the shape of
//! the filter; [`ReferralQuery::raw_filter`] is the escape hatch for anything else.

use jiff::Timestamp;

use super::enums::{ReferralDirection, ReferralStatus, ReferralSubstatus, ReferralType};
use crate::Order;
use crate::error::{Error, Result};

/// Quotes `value` as an OData string literal: `O'Brien` becomes `'O''Brien'`.
///
/// ```
/// assert_eq!(cosell::partner_center::referrals::odata_string("O'Brien"), "'O''Brien'");
/// ```
pub fn odata_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Writes an instant as an OData `DateTimeOffset` literal (unquoted, UTC).
fn odata_instant(at: Timestamp) -> String {
    at.to_string()
}

/// A field a listing can be ordered by (the service documents only these two).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReferralOrderField {
    /// `createdDateTime`.
    CreatedDateTime,
    /// `updatedDateTime`.
    UpdatedDateTime,
}

impl ReferralOrderField {
    fn as_str(self) -> &'static str {
        match self {
            ReferralOrderField::CreatedDateTime => "createdDateTime",
            ReferralOrderField::UpdatedDateTime => "updatedDateTime",
        }
    }
}

/// The query of a referral listing, built condition by condition; conditions are joined with
/// `and`.
///
/// ```
/// use cosell::Order;
/// use cosell::partner_center::referrals::{ReferralQuery, ReferralOrderField};
/// use cosell::partner_center::{ReferralDirection, ReferralStatus};
///
/// let query = ReferralQuery::new()
///     .status(ReferralStatus::Active)
///     .direction(ReferralDirection::Incoming)
///     .team_member_email("o'neil@contoso.example")
///     .order_by(ReferralOrderField::UpdatedDateTime, Order::Descending)
///     .top(50);
/// assert_eq!(
///     query.filter_expression().as_deref(),
///     Some("status eq 'Active' and direction eq 'Incoming' and team/any(t:t/email eq 'o''neil@contoso.example')"),
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct ReferralQuery {
    conditions: Vec<String>,
    order_by: Vec<(ReferralOrderField, Order)>,
    top: Option<u32>,
    select: Vec<String>,
}

impl ReferralQuery {
    /// An empty query: every referral, in the service's order.
    pub fn new() -> Self {
        Self::default()
    }

    fn condition(mut self, condition: String) -> Self {
        self.conditions.push(condition);
        self
    }

    fn equals(self, field: &str, value: &str) -> Self {
        let condition = format!("{field} eq {}", odata_string(value));
        self.condition(condition)
    }

    /// Only referrals with this status.
    pub fn status(self, status: ReferralStatus) -> Self {
        self.equals("status", status.as_str())
    }

    /// Only referrals with one of these statuses: `(status eq 'New' or status eq 'Active')`.
    /// An empty list adds no condition.
    pub fn status_any_of(self, statuses: impl IntoIterator<Item = ReferralStatus>) -> Self {
        let alternatives: Vec<String> = statuses
            .into_iter()
            .map(|s| format!("status eq {}", odata_string(s.as_str())))
            .collect();
        if alternatives.is_empty() {
            return self;
        }
        let condition = format!("({})", alternatives.join(" or "));
        self.condition(condition)
    }

    /// Only referrals with this substatus.
    pub fn substatus(self, substatus: ReferralSubstatus) -> Self {
        self.equals("substatus", substatus.as_str())
    }

    /// Only referrals of this type.
    pub fn referral_type(self, referral_type: ReferralType) -> Self {
        self.equals("type", referral_type.as_str())
    }

    /// Only incoming or only outgoing referrals.
    pub fn direction(self, direction: ReferralDirection) -> Self {
        self.equals("direction", direction.as_str())
    }

    /// Only the referrals of this engagement.
    pub fn engagement_id(self, engagement_id: &str) -> Self {
        self.equals("engagementId", engagement_id)
    }

    /// Only referrals with this external reference id (your CRM id). The service's support for
    /// this filter is unconfirmed.
    pub fn external_reference_id(self, external_reference_id: &str) -> Self {
        self.equals("externalReferenceId", external_reference_id)
    }

    /// Only referrals with a team member of this email address.
    pub fn team_member_email(self, email: &str) -> Self {
        let condition = format!("team/any(t:t/email eq {})", odata_string(email));
        self.condition(condition)
    }

    /// Only referrals updated at or after `since` (`updatedDateTime ge …`).
    pub fn updated_since(self, since: Timestamp) -> Self {
        let condition = format!("updatedDateTime ge {}", odata_instant(since));
        self.condition(condition)
    }

    /// Only referrals updated strictly before `before` (`updatedDateTime lt …`).
    pub fn updated_before(self, before: Timestamp) -> Self {
        let condition = format!("updatedDateTime lt {}", odata_instant(before));
        self.condition(condition)
    }

    /// Adds a filter expression as written, in parentheses. **Not escaped**: quote literals
    /// with [`odata_string`].
    pub fn raw_filter(self, expression: impl Into<String>) -> Self {
        let condition = format!("({})", expression.into());
        self.condition(condition)
    }

    /// Orders by `field` (may be called again for a secondary order).
    pub fn order_by(mut self, field: ReferralOrderField, order: Order) -> Self {
        self.order_by.push((field, order));
        self
    }

    /// Returns at most `count` referrals in all (`$top`); the service still pages by at most
    /// 100.
    pub fn top(mut self, count: u32) -> Self {
        self.top = Some(count);
        self
    }

    /// Returns only these fields (`$select`), for example `["id", "status", "customerProfile"]`.
    pub fn select<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.select.extend(fields.into_iter().map(Into::into));
        self
    }

    /// The `$filter` expression, if any condition was given.
    pub fn filter_expression(&self) -> Option<String> {
        (!self.conditions.is_empty()).then(|| self.conditions.join(" and "))
    }

    /// The query parameters to send, in a stable order.
    ///
    /// # Errors
    /// [`Error::Validation`] for a `$select` field that is not a plain (slash-separated) name or
    /// a `$top` of zero.
    pub fn to_query_pairs(&self) -> Result<Vec<(&'static str, String)>> {
        let mut pairs = Vec::new();
        if let Some(filter) = self.filter_expression() {
            pairs.push(("$filter", filter));
        }
        if !self.order_by.is_empty() {
            let order = self
                .order_by
                .iter()
                .map(|(field, order)| {
                    let direction = match order {
                        Order::Ascending => "asc",
                        Order::Descending => "desc",
                    };
                    format!("{} {direction}", field.as_str())
                })
                .collect::<Vec<_>>()
                .join(",");
            pairs.push(("$orderby", order));
        }
        if let Some(top) = self.top {
            if top == 0 {
                return Err(Error::validation("$top must be at least 1"));
            }
            pairs.push(("$top", top.to_string()));
        }
        if !self.select.is_empty() {
            if let Some(bad) = self.select.iter().find(|f| !is_field_path(f)) {
                return Err(Error::validation(format!(
                    "`{bad}` is not a field name that $select accepts"
                )));
            }
            pairs.push(("$select", self.select.join(",")));
        }
        Ok(pairs)
    }
}

fn is_field_path(field: &str) -> bool {
    !field.is_empty()
        && field.split('/').all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_is_escaped_and_joined() {
        let since: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let query = ReferralQuery::new()
            .engagement_id("x' or '1' eq '1")
            .substatus(ReferralSubstatus::Unknown("it's".into()))
            .updated_since(since)
            .updated_before(since)
            .status_any_of([ReferralStatus::New, ReferralStatus::Active])
            .raw_filter("customerProfile/address/country eq 'US'");
        assert_eq!(
            query.filter_expression().unwrap(),
            "engagementId eq 'x'' or ''1'' eq ''1' and substatus eq 'it''s' and \
             updatedDateTime ge 2026-01-01T00:00:00Z and updatedDateTime lt 2026-01-01T00:00:00Z \
             and (status eq 'New' or status eq 'Active') and (customerProfile/address/country eq 'US')"
        );
    }

    #[test]
    fn bad_select_and_top_are_refused() {
        assert!(
            ReferralQuery::new()
                .select(["id,status"])
                .to_query_pairs()
                .is_err()
        );
        assert!(ReferralQuery::new().top(0).to_query_pairs().is_err());
        let pairs = ReferralQuery::new()
            .select(["id", "customerProfile/name"])
            .order_by(ReferralOrderField::CreatedDateTime, Order::Ascending)
            .to_query_pairs()
            .unwrap();
        assert_eq!(
            pairs,
            vec![
                ("$orderby", "createdDateTime asc".to_string()),
                ("$select", "id,customerProfile/name".to_string())
            ]
        );
    }
}
