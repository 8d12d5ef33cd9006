//! Per-field sync direction and conflict policy.

use serde::{Deserialize, Serialize};

/// One of the two systems a sync keeps in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Partner Center (the referral).
    PartnerCenter,
    /// The CRM (Dynamics 365 or Salesforce opportunity).
    Crm,
}

impl Side {
    /// The other side.
    ///
    /// ```
    /// use cosell::mapping::Side;
    /// assert_eq!(Side::PartnerCenter.other(), Side::Crm);
    /// ```
    pub fn other(self) -> Side {
        match self {
            Side::PartnerCenter => Side::Crm,
            Side::Crm => Side::PartnerCenter,
        }
    }
}

/// Which way a field flows once both records exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Partner Center owns the field; the CRM receives it.
    PartnerCenterToCrm,
    /// The CRM owns the field; Partner Center receives it.
    CrmToPartnerCenter,
    /// Both sides edit the field; edits flow both ways.
    Both,
    /// Written only when the record is created on the other side, never updated afterwards
    /// (customer fields). The diff engine never writes it.
    CreateOnly,
    /// Read to decide whether to sync at all (the CRM's "sync with Partner Center" flag).
    /// The diff engine never writes it.
    Gate,
    /// Not synced.
    None,
}

impl Direction {
    /// Whether the diff engine may write the field to `side` on an update.
    ///
    /// ```
    /// use cosell::mapping::{Direction, Side};
    /// assert!(Direction::PartnerCenterToCrm.writes_to(Side::Crm));
    /// assert!(!Direction::PartnerCenterToCrm.writes_to(Side::PartnerCenter));
    /// assert!(!Direction::CreateOnly.writes_to(Side::Crm));
    /// ```
    pub fn writes_to(self, side: Side) -> bool {
        matches!(
            (self, side),
            (Direction::Both, _)
                | (Direction::PartnerCenterToCrm, Side::Crm)
                | (Direction::CrmToPartnerCenter, Side::PartnerCenter)
        )
    }

    /// Whether the diff engine compares the field at all (one-way or both ways).
    pub fn is_synced(self) -> bool {
        matches!(
            self,
            Direction::Both | Direction::PartnerCenterToCrm | Direction::CrmToPartnerCenter
        )
    }

    /// The side that owns a one-way field, or `None` for the other directions.
    pub fn source(self) -> Option<Side> {
        match self {
            Direction::PartnerCenterToCrm => Some(Side::PartnerCenter),
            Direction::CrmToPartnerCenter => Some(Side::Crm),
            _ => None,
        }
    }
}

/// How a field is resolved when the sides disagree and a one-sided change cannot simply flow:
/// both sides changed it since the last sync to different values, or the receiving side of a
/// one-way field edited it.
///
/// [`StickyTrue`](Policy::StickyTrue) also applies when only one side changed: a flag that was
/// true anywhere stays true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Partner Center's value wins.
    PartnerCenterWins,
    /// The CRM's value wins.
    CrmWins,
    /// The given side's value wins unless it is blank ([`Value::is_blank`]), then the other's.
    ///
    /// [`Value::is_blank`]: crate::mapping::Value::is_blank
    PreferUnlessBlank(Side),
    /// The value of the record modified last wins (the records' modification times). Equal or
    /// unknown times leave the conflict for manual resolution.
    NewestWins,
    /// Merge both sides' edits as sets (multi-choice or list fields only): members added on
    /// either side are kept, members removed on either side are dropped. Without a baseline this
    /// is the plain union of both sides.
    Union,
    /// A flag that is irreversible once set (bool fields only): true on either side, or in the
    /// baseline, stays true and is never sent as false.
    StickyTrue,
    /// Nothing is written; the conflict is reported for a person to resolve.
    Manual,
}
