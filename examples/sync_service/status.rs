//! `/status`: per tenant, what an operator needs to know — pairs in sync, excluded, held,
//! failing; dead letters; unmapped values; the last sweep and poll; the webhook registration;
//! the Partner Center sign-in's health.
//!
//! Pair counts come from the store (`SyncStore::pair_counts`), exact and the same for every
//! process sharing it: links by state, and each pair's newest telling outcome in the audit
//! trail.

use std::collections::BTreeMap;
use std::time::Duration;

use cosell::store::PairCounts;
use cosell::sync::{SweepMode, SweepReport, SyncOutcome};
use jiff::Timestamp;
use serde::Serialize;

use crate::registration::Registration;
use crate::tenants::{Tenant, TokenHealth, lock};

/// How many dead letters are counted.
pub const DEAD_LETTER_COUNT_LIMIT: usize = 10_000;

/// A finished poll or inbox batch.
#[derive(Debug, Clone, Serialize)]
pub struct JobRun {
    /// When it started.
    pub at: Timestamp,
    /// `done` or `failed`.
    pub result: &'static str,
    /// Outcomes by name.
    pub outcomes: BTreeMap<&'static str, usize>,
    /// The error, when it failed.
    pub error: Option<String>,
}

fn count_outcomes(outcomes: &[SyncOutcome]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for outcome in outcomes {
        *counts.entry(outcome.kind.name()).or_default() += 1;
    }
    counts
}

impl JobRun {
    /// A job that ended with `outcomes`.
    pub fn done(at: Timestamp, outcomes: &[SyncOutcome]) -> Self {
        JobRun {
            at,
            result: "done",
            outcomes: count_outcomes(outcomes),
            error: None,
        }
    }

    /// A job that failed.
    pub fn failed(at: Timestamp, error: &cosell::Error) -> Self {
        JobRun {
            at,
            result: "failed",
            outcomes: BTreeMap::new(),
            error: Some(error.to_string()),
        }
    }
}

/// A finished sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepRun {
    /// `delta` or `full`.
    pub mode: &'static str,
    /// When it started.
    pub at: Timestamp,
    /// How long it took, in milliseconds.
    pub took_ms: u128,
    /// `done`, `paused` (budget, allowance), `skipped` (another process sweeps), `taken_over`,
    /// or `failed`.
    pub result: &'static str,
    /// Why it paused or failed.
    pub detail: Option<String>,
    /// Referrals the Partner Center listing returned.
    pub referrals_listed: usize,
    /// CRM records the CRM listing returned.
    pub crm_listed: usize,
    /// Pairs settled from the listings without a request.
    pub unchanged: usize,
    /// Pairs left for the next sweep (paused).
    pub left: usize,
    /// Outcomes by name.
    pub outcomes: BTreeMap<&'static str, usize>,
}

/// A sweep mode's name.
pub fn mode_name(mode: SweepMode) -> &'static str {
    match mode {
        SweepMode::Delta => "delta",
        SweepMode::Full => "full",
    }
}

impl SweepRun {
    /// The record of a sweep that ran from `at` for `took`.
    pub fn new(
        mode: SweepMode,
        at: Timestamp,
        took: Duration,
        result: &cosell::Result<SweepReport>,
    ) -> Self {
        let mut run = SweepRun {
            mode: mode_name(mode),
            at,
            took_ms: took.as_millis(),
            result: "done",
            detail: None,
            referrals_listed: 0,
            crm_listed: 0,
            unchanged: 0,
            left: 0,
            outcomes: BTreeMap::new(),
        };
        match result {
            Ok(report) => {
                run.result = if report.skipped {
                    "skipped"
                } else if report.taken_over {
                    "taken_over"
                } else if report.paused.is_some() {
                    "paused"
                } else {
                    "done"
                };
                run.detail = report.paused.as_ref().map(|pause| format!("{pause:?}"));
                run.referrals_listed = report.referrals_listed;
                run.crm_listed = report.crm_listed;
                run.unchanged = report.unchanged;
                run.left = report.left;
                run.outcomes = count_outcomes(&report.outcomes);
            }
            Err(error) => {
                run.result = "failed";
                run.detail = Some(error.to_string());
            }
        }
        run
    }
}

/// Pairs by where they stand (see [`PairCounts`]).
#[derive(Debug, Default, Serialize)]
pub struct Pairs {
    /// Linked pairs whose latest outcome is not one below.
    pub in_sync: usize,
    /// Linked pairs.
    pub linked: usize,
    /// Pairs whose other side is being created.
    pub pending: usize,
    /// Pairs no longer synced (a CRM record deleted or merged).
    pub unlinked: usize,
    /// Records last found out of scope or with the sync flag off.
    pub excluded: usize,
    /// Pairs whose latest sync held changes it cannot write.
    pub held: usize,
    /// Pairs whose latest sync left a conflict to a person.
    pub conflict: usize,
    /// Pairs whose latest sync failed or was rejected (see the dead letters).
    pub failing: usize,
}

impl From<PairCounts> for Pairs {
    fn from(counts: PairCounts) -> Self {
        let size = |count: u64| usize::try_from(count).unwrap_or(usize::MAX);
        Pairs {
            in_sync: size(counts.in_sync),
            linked: size(counts.linked),
            pending: size(counts.pending),
            unlinked: size(counts.unlinked),
            excluded: size(counts.excluded),
            held: size(counts.held),
            conflict: size(counts.conflict),
            failing: size(counts.failing),
        }
    }
}

/// An unmapped value.
#[derive(Debug, Serialize)]
pub struct Unmapped {
    /// The canonical field.
    pub field: String,
    /// The value with no counterpart.
    pub value: String,
    /// How often it was met.
    pub count: u64,
    /// When it was last met.
    pub last_seen: Timestamp,
}

/// One tenant's status.
#[derive(Debug, Serialize)]
pub struct TenantStatus {
    /// The tenant.
    pub name: String,
    /// `dataverse` or `salesforce`.
    pub crm: crate::config::CrmKind,
    /// Whether an operator should look: the registration is not ours, the sign-in failed, or
    /// the store could not be read.
    pub flagged: bool,
    /// Why it is flagged.
    pub flags: Vec<String>,
    /// Pairs by where they stand.
    pub pairs: Pairs,
    /// Events waiting or claimed in the inbox.
    pub inbox_depth: Option<usize>,
    /// Dead letters kept (counted up to 10,000).
    pub dead_letters: Option<usize>,
    /// Values the mapping has no counterpart for.
    pub unmapped: Vec<Unmapped>,
    /// The last sweep.
    pub last_sweep: Option<SweepRun>,
    /// The last CRM poll.
    pub last_poll: Option<JobRun>,
    /// The webhook URL and its registration.
    pub webhook_url: String,
    /// Where the registration stands.
    pub registration: Registration,
    /// The Partner Center sign-in.
    pub token: TokenHealth,
}

/// The whole status.
#[derive(Debug, Serialize)]
pub struct Status {
    /// This process's worker name.
    pub worker: String,
    /// When it started.
    pub started_at: Timestamp,
    /// Each tenant, in configuration order.
    pub tenants: Vec<TenantStatus>,
}

/// Reads one tenant's status from its state and the store. A store read that fails leaves its
/// figure out and flags the tenant, rather than failing the whole page.
pub async fn tenant_status(tenant: &Tenant) -> TenantStatus {
    let store = tenant.sync.store();
    let id = &tenant.id;
    let state = lock(&tenant.state).clone();
    let token = lock(&tenant.token).clone();
    let mut flags = Vec::new();
    if state.registration.is_flagged() {
        flags.push(format!("webhook registration: {:?}", state.registration));
    }
    if let Some(problem) = &token.problem {
        flags.push(format!("partner center sign-in: {}", problem.kind));
    }
    if let Some(problem) = &token.store_problem {
        flags.push(format!("rotated refresh token not stored: {problem}"));
    }
    if let Some(error) = &state.inbox_error {
        flags.push(format!("inbox: {error}"));
    }
    let mut store_failed = |what: &str, error: &dyn std::fmt::Display| {
        flags.push(format!("store ({what}): {error}"));
    };

    let pairs = match store.pair_counts(id).await {
        Ok(counts) => Pairs::from(counts),
        Err(error) => {
            store_failed("pair counts", &error);
            Pairs::default()
        }
    };

    let inbox_depth = match store.inbox_depth(id).await {
        Ok(depth) => Some(depth),
        Err(error) => {
            store_failed("inbox", &error);
            None
        }
    };
    let dead_letters = match store.dead_letters(id, DEAD_LETTER_COUNT_LIMIT).await {
        Ok(letters) => Some(letters.len()),
        Err(error) => {
            store_failed("dead letters", &error);
            None
        }
    };
    let unmapped = match store.unmapped(id).await {
        Ok(values) => values
            .into_iter()
            .map(|value| Unmapped {
                field: value.field,
                value: value.value,
                count: value.count,
                last_seen: value.last_seen,
            })
            .collect(),
        Err(error) => {
            store_failed("unmapped values", &error);
            Vec::new()
        }
    };
    TenantStatus {
        name: tenant.name.clone(),
        crm: tenant.crm,
        flagged: !flags.is_empty(),
        flags,
        pairs,
        inbox_depth,
        dead_letters,
        unmapped,
        last_sweep: state.last_sweep,
        last_poll: state.last_poll,
        webhook_url: tenant.webhook_url.clone(),
        registration: state.registration,
        token,
    }
}
