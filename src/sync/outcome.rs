//! What one sync of one pair did.

use std::fmt;
use std::sync::Arc;

use super::scope::Exclusion;
use crate::store::PairId;

/// The side a write went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncSide {
    /// Partner Center (the referral).
    PartnerCenter,
    /// The CRM (the opportunity).
    Crm,
}

/// What a sync of one pair did. Every sync call answers one, and the store's audit trail gets
/// one entry per outcome.
#[derive(Debug, Clone)]
pub struct SyncOutcome {
    /// The pair, once linked.
    pub pair: Option<PairId>,
    /// The referral's id, when known.
    pub referral_id: Option<String>,
    /// The CRM record's id, when known.
    pub crm_id: Option<String>,
    /// What happened.
    pub kind: OutcomeKind,
    /// Values found with no counterpart in the mapping (recorded in the store too).
    pub unmapped: Vec<String>,
}

/// What happened to a pair.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum OutcomeKind {
    /// The record was created on `side` (and the pair linked); `written` lists the canonical
    /// fields updated on the other side afterwards (ids written back).
    Created {
        /// The side the record was created on.
        side: SyncSide,
        /// Fields written to the other side in the same sync.
        written: Vec<String>,
    },
    /// Changed fields were written.
    Updated {
        /// Fields written to Partner Center.
        partner_center: Vec<String>,
        /// Fields written to the CRM.
        crm: Vec<String>,
        /// Conflicts settled by their field's policy.
        settled: Vec<String>,
    },
    /// Nothing changed since the last sync.
    Unchanged,
    /// The triggering side changed, but only by our own last write: nothing to do.
    Echo,
    /// Changes that cannot be written (a closed referral, a direction, a mapping rule); each
    /// is recorded once.
    Held {
        /// `field → side` of each held value.
        fields: Vec<String>,
        /// Why, in words.
        reason: String,
    },
    /// The pair is not synced: out of scope, sync flag off, or unlinked.
    Excluded(Exclusion),
    /// Both sides changed a field and its policy leaves it to a person; nothing was written
    /// for those fields.
    Conflict {
        /// The fields in conflict.
        fields: Vec<String>,
    },
    /// A service refused the data (validation), with its reason; kept as a dead letter.
    Rejected {
        /// The service's reason.
        reason: String,
    },
    /// The CRM record was deleted or merged: the pair was unlinked and is never recreated.
    Unlinked,
    /// Another worker holds the pair; try again later.
    Busy,
    /// The event was already processed (a redelivery).
    Duplicate,
    /// The sync failed after its retries; kept as a dead letter.
    Failed(Arc<crate::Error>),
}

impl OutcomeKind {
    /// The outcome's name in the audit trail (`created`, `updated`, `unchanged`, `echo`,
    /// `held`, `excluded`, `conflict`, `rejected`, `unlinked`, `busy`, `duplicate`, `failed`).
    pub fn name(&self) -> &'static str {
        match self {
            OutcomeKind::Created { .. } => "created",
            OutcomeKind::Updated { .. } => "updated",
            OutcomeKind::Unchanged => "unchanged",
            OutcomeKind::Echo => "echo",
            OutcomeKind::Held { .. } => "held",
            OutcomeKind::Excluded(_) => "excluded",
            OutcomeKind::Conflict { .. } => "conflict",
            OutcomeKind::Rejected { .. } => "rejected",
            OutcomeKind::Unlinked => "unlinked",
            OutcomeKind::Busy => "busy",
            OutcomeKind::Duplicate => "duplicate",
            OutcomeKind::Failed(_) => "failed",
        }
    }

    /// Whether the sync wrote to either side.
    pub fn wrote(&self) -> bool {
        matches!(
            self,
            OutcomeKind::Created { .. } | OutcomeKind::Updated { .. }
        )
    }

    /// The fields the outcome names (written, held or in conflict).
    pub fn fields(&self) -> Vec<String> {
        match self {
            OutcomeKind::Created { written, .. } => written.clone(),
            OutcomeKind::Updated {
                partner_center,
                crm,
                ..
            } => partner_center.iter().chain(crm).cloned().collect(),
            OutcomeKind::Held { fields, .. } | OutcomeKind::Conflict { fields } => fields.clone(),
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutcomeKind::Created { side, written } => {
                let side = match side {
                    SyncSide::PartnerCenter => "Partner Center",
                    SyncSide::Crm => "the CRM",
                };
                write!(f, "created in {side}")?;
                if !written.is_empty() {
                    write!(f, "; wrote back {}", written.join(", "))?;
                }
                Ok(())
            }
            OutcomeKind::Updated {
                partner_center,
                crm,
                settled,
            } => {
                write!(f, "updated")?;
                if !partner_center.is_empty() {
                    write!(f, " Partner Center: {}", partner_center.join(", "))?;
                }
                if !crm.is_empty() {
                    write!(f, " CRM: {}", crm.join(", "))?;
                }
                if !settled.is_empty() {
                    write!(f, " (conflicts settled: {})", settled.join(", "))?;
                }
                Ok(())
            }
            OutcomeKind::Held { fields, reason } => {
                write!(f, "held {}: {reason}", fields.join(", "))
            }
            OutcomeKind::Excluded(why) => write!(f, "excluded: {why}"),
            OutcomeKind::Conflict { fields } => write!(f, "conflict on {}", fields.join(", ")),
            OutcomeKind::Rejected { reason } => write!(f, "rejected: {reason}"),
            OutcomeKind::Failed(error) => write!(f, "failed: {error}"),
            other => f.write_str(other.name()),
        }
    }
}
