//! What [`SynchronizerBuilder::build`](super::SynchronizerBuilder::build) checks, and the one
//! error naming every problem it found.

use std::fmt;

use crate::mapping::ValidationProblem;

/// One reason a synchronizer cannot run against a CRM as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetupProblem {
    /// The mapping does not fit the CRM's columns (missing column, wrong type, option value
    /// without a counterpart).
    Mapping(ValidationProblem),
    /// The mapping names no CRM column for a field the sync needs (`referral_id`).
    Unmapped {
        /// The canonical field.
        field: &'static str,
    },
    /// Dataverse: no alternate key on exactly the referral-id column, so creates cannot be
    /// made idempotent.
    MissingAlternateKey {
        /// The table.
        table: String,
        /// The referral-id column.
        column: String,
    },
    /// Dataverse: the alternate key exists but its index is not active (still building, or
    /// failed).
    InactiveAlternateKey {
        /// The referral-id column.
        column: String,
        /// The key's `EntityKeyIndexStatus`.
        status: String,
    },
    /// Salesforce: the referral-id field is not marked External ID, so upserts cannot key on it.
    NotExternalId {
        /// The field.
        field: String,
    },
    /// Salesforce: the referral-id field is not Unique, so two records could claim one referral.
    NotUnique {
        /// The field.
        field: String,
    },
    /// Another problem, in words.
    Other(String),
}

impl fmt::Display for SetupProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupProblem::Mapping(problem) => problem.fmt(f),
            SetupProblem::Unmapped { field } => {
                write!(f, "the mapping names no CRM column for `{field}`")
            }
            SetupProblem::MissingAlternateKey { table, column } => write!(
                f,
                "table `{table}` has no alternate key on `{column}` (create one, so creates are idempotent)"
            ),
            SetupProblem::InactiveAlternateKey { column, status } => write!(
                f,
                "the alternate key on `{column}` is not active (EntityKeyIndexStatus `{status}`)"
            ),
            SetupProblem::NotExternalId { field } => {
                write!(f, "field `{field}` is not marked External ID")
            }
            SetupProblem::NotUnique { field } => write!(f, "field `{field}` is not Unique"),
            SetupProblem::Other(text) => f.write_str(text),
        }
    }
}

/// Whether a mapping problem stops the sync from starting. A CRM option value the value map
/// lacks does not: a record holding it is synced without that field, and the value is recorded
/// as unmapped (store and outcome) each time it is met. Everything else does: a missing
/// column, a column of the wrong type, a value the mapping would write that the CRM lacks.
pub(crate) fn blocks_sync(problem: &ValidationProblem) -> bool {
    !matches!(
        problem,
        ValidationProblem::UnmappedChoice {
            problem: "not in the value map",
            ..
        }
    )
}

/// Every problem [`SynchronizerBuilder::build`](super::SynchronizerBuilder::build) found, in
/// one error ([`Error::Setup`](crate::Error::Setup)).
///
/// ```
/// use cosell::sync::{SetupError, SetupProblem};
///
/// let error = SetupError::new("dataverse", vec![SetupProblem::NotUnique { field: "Referral_Id__c".into() }]);
/// assert_eq!(error.to_string(), "dataverse cannot be synced as configured: field `Referral_Id__c` is not Unique");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupError {
    crm: String,
    problems: Vec<SetupProblem>,
}

impl SetupError {
    /// An error for `crm` with its problems.
    pub fn new(crm: impl Into<String>, problems: Vec<SetupProblem>) -> Self {
        SetupError {
            crm: crm.into(),
            problems,
        }
    }

    /// Every problem found.
    pub fn problems(&self) -> &[SetupProblem] {
        &self.problems
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} cannot be synced as configured: ", self.crm)?;
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            problem.fmt(f)?;
        }
        Ok(())
    }
}

impl std::error::Error for SetupError {}
