//! The conflict policies: the value a field settles on when a change cannot simply flow.

use std::borrow::Cow;

use jiff::Timestamp;

use crate::mapping::{ChoiceSet, Policy, Side, Value};

/// The modification times of both sides' records, for [`Policy::NewestWins`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Times {
    pub(super) partner_center: Option<Timestamp>,
    pub(super) crm: Option<Timestamp>,
}

/// The value `policy` settles on, or `None` when the conflict is left for a person.
pub(super) fn resolve<'a>(
    policy: Policy,
    base: &'a Value,
    partner_center: &'a Value,
    crm: &'a Value,
    times: Times,
) -> Option<Cow<'a, Value>> {
    let side_value = |side| match side {
        Side::PartnerCenter => partner_center,
        Side::Crm => crm,
    };
    match policy {
        Policy::PartnerCenterWins => Some(Cow::Borrowed(partner_center)),
        Policy::CrmWins => Some(Cow::Borrowed(crm)),
        Policy::PreferUnlessBlank(side) => {
            let preferred = side_value(side);
            Some(Cow::Borrowed(if preferred.is_blank() {
                side_value(side.other())
            } else {
                preferred
            }))
        }
        Policy::NewestWins => match (times.partner_center, times.crm) {
            (Some(pc), Some(crm_time)) if pc > crm_time => Some(Cow::Borrowed(partner_center)),
            (Some(pc), Some(crm_time)) if pc < crm_time => Some(Cow::Borrowed(crm)),
            _ => None,
        },
        Policy::Union => union(base, partner_center, crm).map(Cow::Owned),
        Policy::StickyTrue => Some(sticky(base, partner_center, crm).unwrap_or_else(|| {
            Cow::Borrowed(if partner_center.is_blank() {
                crm
            } else {
                partner_center
            })
        })),
        Policy::Manual => None,
    }
}

/// `true` when the flag is true on either side or in the baseline; `None` when it is true
/// nowhere (the ordinary rules then decide).
pub(super) fn sticky<'a>(
    base: &Value,
    partner_center: &Value,
    crm: &Value,
) -> Option<Cow<'a, Value>> {
    const TRUE: Value = Value::Bool(true);
    [base, partner_center, crm]
        .contains(&&TRUE)
        .then_some(Cow::Owned(TRUE))
}

/// Both sides' edits merged as sets: members added on either side kept, members removed on
/// either side dropped. Multi-choice sets stay sorted; lists keep Partner Center's order with the
/// CRM's additions after it. `None` when the values are not sets or lists of one kind.
fn union(base: &Value, partner_center: &Value, crm: &Value) -> Option<Value> {
    match (partner_center, crm) {
        (Value::MultiChoice(_) | Value::Null, Value::MultiChoice(_) | Value::Null) => {
            fn members(value: &Value) -> Vec<&str> {
                value
                    .as_choices()
                    .map(|set| set.iter().collect())
                    .unwrap_or_default()
            }
            let (base, pc, crm) = (members(base), members(partner_center), members(crm));
            let merged = merge(&base, &pc, &crm);
            Some(Value::MultiChoice(ChoiceSet::new(merged)))
        }
        (Value::List(_) | Value::Null, Value::List(_) | Value::Null) => {
            fn items(value: &Value) -> Vec<&Value> {
                value
                    .as_list()
                    .map(|items| items.iter().collect())
                    .unwrap_or_default()
            }
            let (base, pc, crm) = (items(base), items(partner_center), items(crm));
            let merged = merge(&base, &pc, &crm);
            Some(Value::list(merged.into_iter().cloned()))
        }
        _ => None,
    }
}

/// Partner Center's members not removed by the CRM, then the CRM's members not yet present and
/// not removed by Partner Center.
fn merge<T: PartialEq + Copy>(base: &[T], partner_center: &[T], crm: &[T]) -> Vec<T> {
    let removed_by = |side: &[T], member: &T| base.contains(member) && !side.contains(member);
    let mut merged: Vec<T> = partner_center
        .iter()
        .filter(|member| !removed_by(crm, member))
        .copied()
        .collect();
    for member in crm {
        if !merged.contains(member) && !removed_by(partner_center, member) {
            merged.push(*member);
        }
    }
    merged
}
