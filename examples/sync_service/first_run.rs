//! `--full-sweep`: the first run's full sweep of every tenant — it links what already exists on
//! both sides (a CRM record holding a referral's id, a referral naming a CRM id) and syncs
//! it — with a terminal progress bar fed by the sweep's progress callback, and a summary table.
//! With `--dry-run`, each tenant's [`SweepPreview`] instead: what the sweep would create, update,
//! link and unlink, printed, with nothing written.

use std::fmt::Write as _;
use std::time::Instant;

use cosell::store::LinkState;
use cosell::sync::{OutcomeKind, PlannedAction, PlannedPair, SweepMode, SweepPreview, SyncSide};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::Timestamp;

use crate::jobs::record_sweep;
use crate::metrics::Metrics;
use crate::tenants::Tenant;

/// One tenant's line of the summary.
#[derive(Debug, Default, Clone)]
pub struct SweepSummary {
    /// The tenant.
    pub tenant: String,
    /// Referrals listed.
    pub referrals: usize,
    /// CRM records listed.
    pub crm_records: usize,
    /// Pairs linked after the sweep that were not before.
    pub newly_linked: usize,
    /// Opportunities created in the CRM.
    pub created_in_crm: usize,
    /// Referrals created in Partner Center.
    pub created_in_partner_center: usize,
    /// Pairs updated.
    pub updated: usize,
    /// Pairs unchanged (synced without a write, or settled from the listings).
    pub unchanged: usize,
    /// Pairs held, excluded or in conflict.
    pub not_written: usize,
    /// Pairs failed or rejected (see the dead letters).
    pub failed: usize,
    /// Pairs still busy (another process held them): the next sweep or poll syncs them.
    pub busy: usize,
    /// `done`, `paused`, `skipped`, `failed: …`.
    pub result: String,
    /// Seconds.
    pub seconds: f64,
}

fn progress_bar(tenant: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} pairs {msg} ({eta} left)")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(tenant.to_owned());
    bar
}

/// Runs a full sweep of `tenant` with a progress bar, and summarises it.
pub async fn full_sweep(tenant: &Tenant, metrics: &Metrics) -> SweepSummary {
    let store = tenant.sync.store();
    let linked = |links: Result<Vec<_>, _>| links.map_or(0, |links: Vec<_>| links.len());
    let before = linked(store.links(&tenant.id, LinkState::Linked).await);
    let bar = progress_bar(&tenant.name);
    let started = Timestamp::now();
    let clock = Instant::now();
    let result = tenant
        .sync
        .reconcile_with(SweepMode::Full, |progress| {
            bar.set_length(progress.total as u64);
            bar.set_position(progress.done as u64);
            bar.set_message(format!(
                "{} written, {} failed",
                progress.written, progress.failed
            ));
        })
        .await;
    bar.finish();
    let took = clock.elapsed();
    record_sweep(tenant, metrics, SweepMode::Full, started, took, &result);
    let after = linked(store.links(&tenant.id, LinkState::Linked).await);
    let mut summary = SweepSummary {
        tenant: tenant.name.clone(),
        newly_linked: after.saturating_sub(before),
        seconds: took.as_secs_f64(),
        ..SweepSummary::default()
    };
    match result {
        Ok(report) => {
            summary.referrals = report.referrals_listed;
            summary.crm_records = report.crm_listed;
            summary.unchanged = report.unchanged;
            summary.result = if report.skipped {
                "skipped (another process sweeps)".to_owned()
            } else if let Some(pause) = &report.paused {
                format!("paused ({pause:?}), {} left", report.left)
            } else {
                "done".to_owned()
            };
            for outcome in &report.outcomes {
                match &outcome.kind {
                    OutcomeKind::Created {
                        side: SyncSide::Crm,
                        ..
                    } => summary.created_in_crm += 1,
                    OutcomeKind::Created {
                        side: SyncSide::PartnerCenter,
                        ..
                    } => summary.created_in_partner_center += 1,
                    OutcomeKind::Updated { .. } => summary.updated += 1,
                    OutcomeKind::Unchanged | OutcomeKind::Echo => summary.unchanged += 1,
                    OutcomeKind::Failed(_) | OutcomeKind::Rejected { .. } => summary.failed += 1,
                    OutcomeKind::Busy => summary.busy += 1,
                    OutcomeKind::Held { .. }
                    | OutcomeKind::Excluded(_)
                    | OutcomeKind::Conflict { .. } => summary.not_written += 1,
                    _ => {}
                }
            }
        }
        Err(error) => summary.result = format!("failed: {error}"),
    }
    summary
}

/// The summary as a table, one line per tenant.
pub fn table(rows: &[SweepSummary]) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{:<16} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8} {:>9} {:>9} {:>7} {:>5} {:>8}  result",
        "tenant",
        "referrals",
        "crm",
        "linked",
        "new crm",
        "new pc",
        "updated",
        "unchanged",
        "not wrtn",
        "failed",
        "busy",
        "seconds"
    );
    for row in rows {
        let _ = writeln!(
            text,
            "{:<16} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8} {:>9} {:>9} {:>7} {:>5} {:>8.1}  {}",
            row.tenant,
            row.referrals,
            row.crm_records,
            row.newly_linked,
            row.created_in_crm,
            row.created_in_partner_center,
            row.updated,
            row.unchanged,
            row.not_written,
            row.failed,
            row.busy,
            row.seconds,
            row.result
        );
    }
    text
}

/// One tenant's dry run of the full sweep.
#[derive(Debug)]
pub struct DryRun {
    /// The tenant.
    pub tenant: String,
    /// What the sweep would do, or why it could not be planned.
    pub preview: Result<SweepPreview, String>,
}

/// Plans `tenant`'s full sweep without writing anything.
pub async fn dry_run(tenant: &Tenant) -> DryRun {
    DryRun {
        tenant: tenant.name.clone(),
        preview: tenant
            .sync
            .preview_full_sweep()
            .await
            .map_err(|error| error.to_string()),
    }
}

fn action_text(action: &PlannedAction) -> String {
    match action {
        PlannedAction::CreateCrmRecord { fields } => {
            format!("create the CRM record ({})", fields.join(", "))
        }
        PlannedAction::CreateReferral { fields } => {
            format!("create the referral ({})", fields.join(", "))
        }
        PlannedAction::LinkExisting => "link the existing records".to_owned(),
        PlannedAction::UpdateCrm { fields } => format!("update the CRM: {}", fields.join(", ")),
        PlannedAction::UpdateReferral { fields } => {
            format!("update the referral: {}", fields.join(", "))
        }
        PlannedAction::Unlink { reason } => format!("unlink ({reason})"),
        other => format!("{other:?}"),
    }
}

fn pair_text(pair: &PlannedPair) -> String {
    let side = |name: &str, id: &Option<String>| id.as_deref().map(|id| format!("{name} {id}"));
    let names: Vec<String> = [
        side("referral", &pair.referral_id),
        side("CRM", &pair.crm_id),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut text = names.join(" / ");
    let actions: Vec<String> = pair.actions.iter().map(action_text).collect();
    let _ = write!(text, ": {}", actions.join("; then "));
    if !pair.held.is_empty() {
        let _ = write!(text, "; held: {}", pair.held.join(", "));
    }
    if !pair.conflicts.is_empty() {
        let _ = write!(text, "; conflicts: {}", pair.conflicts.join(", "));
    }
    text
}

/// The dry runs, readable: per tenant a count of each kind of action, then each pair that
/// would be written, and the pairs that could not be planned.
pub fn render_dry_run(runs: &[DryRun]) -> String {
    let mut text = String::new();
    for run in runs {
        let preview = match &run.preview {
            Ok(preview) => preview,
            Err(error) => {
                let _ = writeln!(text, "{}: cannot plan the sweep: {error}", run.tenant);
                continue;
            }
        };
        let count = |which: fn(&PlannedAction) -> bool| preview.count(which);
        let _ = writeln!(
            text,
            "{}: {} referrals and {} CRM records listed; would create {} in the CRM and {} in Partner Center, link {}, update {}, unlink {}",
            run.tenant,
            preview.referrals_listed,
            preview.crm_listed,
            count(|a| matches!(a, PlannedAction::CreateCrmRecord { .. })),
            count(|a| matches!(a, PlannedAction::CreateReferral { .. })),
            count(|a| matches!(a, PlannedAction::LinkExisting)),
            count(|a| {
                matches!(
                    a,
                    PlannedAction::UpdateCrm { .. } | PlannedAction::UpdateReferral { .. }
                )
            }),
            count(|a| matches!(a, PlannedAction::Unlink { .. })),
        );
        for pair in preview.pairs.iter().filter(|pair| !pair.is_nothing()) {
            let _ = writeln!(text, "  {}", pair_text(pair));
        }
        for pair in &preview.pairs {
            if let Some(failure) = &pair.failure {
                let names = [&pair.referral_id, &pair.crm_id]
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" / ");
                let _ = writeln!(text, "  {names}: cannot plan: {failure}");
            }
        }
    }
    text.push_str("dry run: nothing was written\n");
    text
}
