//! The one sort direction of every query builder: referral listings, Dataverse queries and SOQL.

/// Which way a listing is sorted by a field.
///
/// ```
/// use cosell::Order;
/// use cosell::dataverse::Query;
/// use cosell::partner_center::referrals::{ReferralOrderField, ReferralQuery};
/// use cosell::salesforce::soql::Soql;
///
/// let referrals = ReferralQuery::new().order_by(ReferralOrderField::UpdatedDateTime, Order::Descending);
/// let rows = Query::new().order_by("modifiedon", Order::Descending);
/// let soql = Soql::select(["Id"]).from("Opportunity").order_by("CloseDate", Order::Descending);
/// # let _ = (referrals, rows, soql);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Order {
    /// Smallest, oldest or first in the alphabet first.
    Ascending,
    /// Largest, newest or last in the alphabet first.
    Descending,
}
