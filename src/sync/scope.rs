//! Which referrals a sync takes care of: by direction, type of deal, status and age.

use std::collections::BTreeSet;

use jiff::Timestamp;

use crate::partner_center::referrals::ReferralQualification;
use crate::partner_center::{Referral, ReferralDirection, ReferralStatus, ReferralType};

/// The kinds of referral Partner Center tells apart (by `type`, `qualification` and who invited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ReferralKind {
    /// A co-sell opportunity: shared with Microsoft or another partner, or invited by a partner.
    CoSell,
    /// A marketplace lead: independent, customer-created (`Direct`), from Microsoft or nobody.
    MarketplaceLead,
    /// A qualified lead: independent, qualified by Microsoft's marketing or sellers.
    QualifiedLead,
}

impl ReferralKind {
    /// The kind of `referral`, by the documented classification: `Independent` + `Direct` from
    /// `msft` (or nobody) is a marketplace lead; `Independent` + sales- or marketing-qualified
    /// from `msft` a qualified lead; anything else a co-sell opportunity.
    ///
    /// ```
    /// use cosell::partner_center::Referral;
    /// use cosell::sync::ReferralKind;
    ///
    /// let lead = Referral::from_json(br#"{"type":"Independent","qualification":"Direct"}"#)?;
    /// assert_eq!(ReferralKind::of(&lead), ReferralKind::MarketplaceLead);
    /// let deal = Referral::from_json(br#"{"type":"Shared","qualification":"SalesQualified"}"#)?;
    /// assert_eq!(ReferralKind::of(&deal), ReferralKind::CoSell);
    /// # Ok::<(), cosell::Error>(())
    /// ```
    pub fn of(referral: &Referral) -> Self {
        let independent = matches!(
            referral.referral_type.value(),
            Some(ReferralType::Independent)
        );
        let invited_by = referral
            .invite_context
            .value()
            .and_then(|context| context.invited_by.value())
            .and_then(|by| by.organization_id.as_deref());
        let by_microsoft = invited_by.is_none_or(|org| org.eq_ignore_ascii_case("msft"));
        match referral.qualification.value() {
            Some(ReferralQualification::Direct) if independent && by_microsoft => {
                ReferralKind::MarketplaceLead
            }
            Some(
                ReferralQualification::SalesQualified | ReferralQualification::MarketingQualified,
            ) if independent && invited_by.is_some_and(|org| org.eq_ignore_ascii_case("msft")) => {
                ReferralKind::QualifiedLead
            }
            _ => ReferralKind::CoSell,
        }
    }
}

/// Which referrals are synced. The default: co-sell opportunities in both directions, in every
/// status, whenever created.
///
/// ```
/// use cosell::partner_center::{Referral, ReferralStatus};
/// use cosell::sync::{Exclusion, Scope};
///
/// let scope = Scope::default().statuses([ReferralStatus::New, ReferralStatus::Active]);
/// let closed = Referral::from_json(br#"{"type":"Shared","status":"Closed"}"#)?;
/// assert!(matches!(scope.admits(&closed), Err(Exclusion::Status(_))));
/// # Ok::<(), cosell::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    directions: BTreeSet<Direction>,
    kinds: BTreeSet<ReferralKind>,
    statuses: Option<Vec<ReferralStatus>>,
    created_since: Option<Timestamp>,
}

/// A referral's direction, as a scope names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Direction {
    Incoming,
    Outgoing,
}

impl Default for Scope {
    fn default() -> Self {
        Scope {
            directions: [Direction::Incoming, Direction::Outgoing].into(),
            kinds: [ReferralKind::CoSell].into(),
            statuses: None,
            created_since: None,
        }
    }
}

/// Why a referral is outside a [`Scope`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exclusion {
    /// Its direction is not synced.
    Direction(String),
    /// Its kind is not synced.
    Kind(ReferralKind),
    /// Its status is not synced.
    Status(String),
    /// It was created before the initial-load cut-off.
    CreatedBefore(Timestamp),
    /// The CRM record's "Sync with Partner Center" flag is off: nothing is written either way.
    SyncOff,
    /// The pair was unlinked (its CRM record was deleted or merged) and is never recreated.
    Unlinked,
    /// The record does not exist (any more) on the side that triggered the sync.
    NotFound,
}

impl std::fmt::Display for Exclusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exclusion::Direction(d) => write!(f, "direction {d} is not synced"),
            Exclusion::Kind(k) => write!(f, "{k:?} referrals are not synced"),
            Exclusion::Status(s) => write!(f, "status {s} is not synced"),
            Exclusion::CreatedBefore(t) => write!(f, "created before the cut-off {t}"),
            Exclusion::SyncOff => f.write_str("the CRM record's sync flag is off"),
            Exclusion::Unlinked => f.write_str("the pair was unlinked"),
            Exclusion::NotFound => f.write_str("the record was not found"),
        }
    }
}

impl Scope {
    /// Only incoming referrals (shared with the partner).
    pub fn incoming_only(mut self) -> Self {
        self.directions = [Direction::Incoming].into();
        self
    }

    /// Only outgoing referrals (created by the partner).
    pub fn outgoing_only(mut self) -> Self {
        self.directions = [Direction::Outgoing].into();
        self
    }

    /// The kinds of referral synced (default: co-sell opportunities only).
    pub fn kinds(mut self, kinds: impl IntoIterator<Item = ReferralKind>) -> Self {
        self.kinds = kinds.into_iter().collect();
        self
    }

    /// Only referrals in these statuses (default: every status).
    pub fn statuses(mut self, statuses: impl IntoIterator<Item = ReferralStatus>) -> Self {
        self.statuses = Some(statuses.into_iter().collect());
        self
    }

    /// The initial-load cut-off: referrals created before it are left alone.
    pub fn created_since(mut self, cutoff: Timestamp) -> Self {
        self.created_since = Some(cutoff);
        self
    }

    /// Whether `referral` is synced, or why not. A referral that does not say its direction,
    /// status or creation time is not excluded for it.
    ///
    /// # Errors
    /// The [`Exclusion`] that leaves it out.
    pub fn admits(&self, referral: &Referral) -> Result<(), Exclusion> {
        match referral.direction.value() {
            Some(ReferralDirection::Incoming)
                if !self.directions.contains(&Direction::Incoming) =>
            {
                return Err(Exclusion::Direction("Incoming".into()));
            }
            Some(ReferralDirection::Outgoing)
                if !self.directions.contains(&Direction::Outgoing) =>
            {
                return Err(Exclusion::Direction("Outgoing".into()));
            }
            _ => {}
        }
        let kind = ReferralKind::of(referral);
        if !self.kinds.contains(&kind) {
            return Err(Exclusion::Kind(kind));
        }
        if let (Some(allowed), Some(status)) = (&self.statuses, referral.status.value())
            && !allowed.contains(status)
        {
            return Err(Exclusion::Status(status.to_string()));
        }
        if let (Some(cutoff), Some(created)) =
            (self.created_since, referral.created_date_time.value())
            && created < &cutoff
        {
            return Err(Exclusion::CreatedBefore(cutoff));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn referral(json: &str) -> Referral {
        Referral::from_json(json.as_bytes()).unwrap()
    }

    #[test]
    fn the_documented_classification() {
        let cases = [
            (
                r#"{"type":"Independent","qualification":"Direct"}"#,
                ReferralKind::MarketplaceLead,
            ),
            (
                r#"{"type":"Independent","qualification":"Direct","inviteContext":{"invitedBy":{"organizationId":"msft"}}}"#,
                ReferralKind::MarketplaceLead,
            ),
            (
                r#"{"type":"Independent","qualification":"SalesQualified","inviteContext":{"invitedBy":{"organizationId":"MSFT"}}}"#,
                ReferralKind::QualifiedLead,
            ),
            (
                r#"{"type":"Independent","qualification":"MarketingQualified","inviteContext":{"invitedBy":{"organizationId":"msft"}}}"#,
                ReferralKind::QualifiedLead,
            ),
            (
                r#"{"type":"Independent","qualification":"SalesQualified","inviteContext":{"invitedBy":{"organizationId":"partner-7"}}}"#,
                ReferralKind::CoSell,
            ),
            (
                r#"{"type":"Shared","qualification":"SalesQualified"}"#,
                ReferralKind::CoSell,
            ),
            (
                r#"{"type":"Shared","qualification":"Direct"}"#,
                ReferralKind::CoSell,
            ),
            (r#"{}"#, ReferralKind::CoSell),
        ];
        for (json, kind) in cases {
            assert_eq!(ReferralKind::of(&referral(json)), kind, "{json}");
        }
    }

    #[test]
    fn a_scope_excludes_by_direction_kind_status_and_age() {
        let scope = Scope::default()
            .incoming_only()
            .statuses([ReferralStatus::New, ReferralStatus::Active])
            .created_since("2026-01-01T00:00:00Z".parse().unwrap());
        let ok = r#"{"type":"Shared","direction":"Incoming","status":"New","createdDateTime":"2026-02-01T00:00:00Z"}"#;
        assert_eq!(scope.admits(&referral(ok)), Ok(()));
        assert!(matches!(
            scope.admits(&referral(&ok.replace("Incoming", "Outgoing"))),
            Err(Exclusion::Direction(_))
        ));
        assert!(matches!(
            scope.admits(&referral(&ok.replace("\"New\"", "\"Closed\""))),
            Err(Exclusion::Status(_))
        ));
        assert!(matches!(
            scope.admits(&referral(&ok.replace("2026-02-01", "2025-12-31"))),
            Err(Exclusion::CreatedBefore(_))
        ));
        let lead = r#"{"type":"Independent","qualification":"Direct","direction":"Incoming"}"#;
        assert_eq!(
            scope.admits(&referral(lead)),
            Err(Exclusion::Kind(ReferralKind::MarketplaceLead))
        );
        let leads_too =
            Scope::default().kinds([ReferralKind::CoSell, ReferralKind::MarketplaceLead]);
        assert_eq!(leads_too.admits(&referral(lead)), Ok(()));
    }
}
