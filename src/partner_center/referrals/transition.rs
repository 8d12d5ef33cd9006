//! The documented status and substatus transitions of a referral.
//!
//! | Status | May move to          | Allowed substatus             |
//! |--------|----------------------|-------------------------------|
//! | New    | New, Active, Closed  | Pending, Received             |
//! | Active | Active, Closed       | Accepted                      |
//! | Closed | (terminal)           | Won, Lost, Declined, Expired  |
//!
//! Values the crate does not know are not judged: the check only refuses what the table rules
//! out.

use super::enums::{ReferralStatus, ReferralSubstatus};
use super::patch::ReferralPatch;
use crate::error::{Error, Result};

/// The statuses a referral in `from` may be moved to; `None` when the table does not cover
/// `from`.
///
/// ```
/// use cosell::partner_center::ReferralStatus;
/// use cosell::partner_center::referrals::allowed_next_statuses;
///
/// assert_eq!(allowed_next_statuses(&ReferralStatus::Closed), Some(&[][..]));
/// ```
pub fn allowed_next_statuses(from: &ReferralStatus) -> Option<&'static [ReferralStatus]> {
    const FROM_NEW: &[ReferralStatus] = &[
        ReferralStatus::New,
        ReferralStatus::Active,
        ReferralStatus::Closed,
    ];
    const FROM_ACTIVE: &[ReferralStatus] = &[ReferralStatus::Active, ReferralStatus::Closed];
    match from {
        ReferralStatus::New => Some(FROM_NEW),
        ReferralStatus::Active => Some(FROM_ACTIVE),
        ReferralStatus::Closed => Some(&[]),
        _ => None,
    }
}

/// The substatuses allowed with `status`; `None` when the table does not cover it.
///
/// ```
/// use cosell::partner_center::{ReferralStatus, ReferralSubstatus};
/// use cosell::partner_center::referrals::allowed_substatuses;
///
/// assert!(allowed_substatuses(&ReferralStatus::Active).unwrap().contains(&ReferralSubstatus::Accepted));
/// ```
pub fn allowed_substatuses(status: &ReferralStatus) -> Option<&'static [ReferralSubstatus]> {
    const NEW: &[ReferralSubstatus] = &[ReferralSubstatus::Pending, ReferralSubstatus::Received];
    const ACTIVE: &[ReferralSubstatus] = &[ReferralSubstatus::Accepted];
    const CLOSED: &[ReferralSubstatus] = &[
        ReferralSubstatus::Won,
        ReferralSubstatus::Lost,
        ReferralSubstatus::Declined,
        ReferralSubstatus::Expired,
    ];
    match status {
        ReferralStatus::New => Some(NEW),
        ReferralStatus::Active => Some(ACTIVE),
        ReferralStatus::Closed => Some(CLOSED),
        _ => None,
    }
}

fn names<T: std::fmt::Display>(values: &[T]) -> String {
    values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks a patch against the transition table, given the referral's current status (and
/// substatus, when known).
///
/// A closed referral is terminal: any patch to it is refused. A status change must be allowed
/// from the current status and must come with a substatus allowed in the new status (unless
/// the current one already is). A substatus must be allowed in the resulting status.
///
/// ```
/// use cosell::partner_center::{ReferralStatus, ReferralSubstatus};
/// use cosell::partner_center::referrals::{ReferralPatch, check_transition};
///
/// let win = ReferralPatch::new().status(ReferralStatus::Closed).substatus(ReferralSubstatus::Won);
/// assert!(check_transition(&ReferralStatus::Active, None, &win).is_ok());
/// let reopen = ReferralPatch::new().status(ReferralStatus::Active);
/// assert!(check_transition(&ReferralStatus::Closed, None, &reopen).is_err());
/// ```
///
/// # Errors
/// [`Error::Validation`] naming the transition and what would be allowed.
pub fn check_transition(
    current_status: &ReferralStatus,
    current_substatus: Option<&ReferralSubstatus>,
    patch: &ReferralPatch,
) -> Result<()> {
    if patch.is_empty() {
        return Ok(());
    }
    if *current_status == ReferralStatus::Closed {
        return Err(Error::validation(
            "the referral is Closed, which is terminal: it cannot be changed \
             (skip the transition check to send the patch anyway)",
        ));
    }
    let target_status = patch.target_status();
    if let (Some(target), Some(allowed)) = (&target_status, allowed_next_statuses(current_status))
        && target.is_known()
        && !allowed.contains(target)
    {
        return Err(Error::validation(format!(
            "a referral cannot move from {current_status} to {target}; allowed: {}",
            names(allowed)
        )));
    }
    let resulting = target_status
        .clone()
        .unwrap_or_else(|| current_status.clone());
    let Some(allowed_sub) = allowed_substatuses(&resulting) else {
        return Ok(());
    };
    match patch.target_substatus() {
        Some(sub) if sub.is_known() && !allowed_sub.contains(&sub) => {
            Err(Error::validation(format!(
                "substatus {sub} is not allowed with status {resulting}; allowed: {}",
                names(allowed_sub)
            )))
        }
        Some(_) => Ok(()),
        None => {
            let changes_status = target_status.is_some_and(|t| t != *current_status);
            let current_fits = current_substatus.is_some_and(|s| allowed_sub.contains(s));
            if changes_status && !current_fits {
                Err(Error::validation(format!(
                    "moving from {current_status} to {resulting} needs a substatus: one of {}",
                    names(allowed_sub)
                )))
            } else {
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(status: Option<ReferralStatus>, sub: Option<ReferralSubstatus>) -> ReferralPatch {
        let mut patch = ReferralPatch::new();
        if let Some(status) = status {
            patch = patch.status(status);
        }
        if let Some(sub) = sub {
            patch = patch.substatus(sub);
        }
        patch
    }

    #[test]
    fn the_documented_table_is_enforced() {
        use ReferralStatus as S;
        use ReferralSubstatus as U;
        let ok =
            |from: S, cur: Option<U>, p: ReferralPatch| check_transition(&from, cur.as_ref(), &p);
        assert!(ok(S::New, None, patch(Some(S::Active), Some(U::Accepted))).is_ok());
        assert!(ok(S::New, None, patch(Some(S::Closed), Some(U::Declined))).is_ok());
        assert!(ok(S::Active, None, patch(Some(S::New), Some(U::Pending))).is_err());
        assert!(ok(S::Active, None, patch(Some(S::Closed), Some(U::Accepted))).is_err());
        assert!(ok(S::Active, None, patch(Some(S::Closed), None)).is_err());
        assert!(ok(S::Active, Some(U::Accepted), patch(None, Some(U::Won))).is_err());
        assert!(ok(S::Closed, Some(U::Won), ReferralPatch::new().notes("late")).is_err());
        assert!(ok(S::New, Some(U::Pending), ReferralPatch::new().notes("fine")).is_ok());
        assert!(
            ok(
                S::Unknown("Paused".into()),
                None,
                patch(Some(S::Active), Some(U::Accepted))
            )
            .is_ok()
        );
        assert!(
            ok(
                S::Active,
                None,
                patch(Some(S::Unknown("Later".into())), None)
            )
            .is_ok()
        );
    }
}
