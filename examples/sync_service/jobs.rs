//! A tenant's background jobs, each on its own cadence until shutdown: inbox workers, the CRM
//! poll, delta and full sweeps, and the registration check.
//!
//! The library's `Synchronizer::run` does the first three in one loop, but tells nothing of a
//! job until it returns; a service that shows the last sweep on `/status` and measures sweep
//! durations needs each job's result as it ends, so the jobs are driven here with the same
//! public calls (`process_inbox`, `poll_crm`, `reconcile`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cosell::sync::{OutcomeKind, SweepMode, SweepReport, SyncOutcome};
use jiff::Timestamp;
use tokio::sync::watch;

use crate::config::ScheduleConfig;
use crate::metrics::{Metrics, SweepLabels, TenantLabels};
use crate::registration;
use crate::status::{JobRun, SweepRun};
use crate::tenants::{Tenant, lock};

/// Waits `period`, or until shutdown is asked for; `true` when it is.
async fn pause(shutdown: &mut watch::Receiver<bool>, period: Duration) -> bool {
    tokio::select! {
        _ = shutdown.wait_for(|stop| *stop) => true,
        () = tokio::time::sleep(period) => false,
    }
}

fn stopping(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow()
}

/// Whether an outcome is a failure kept as a dead letter.
pub fn is_failure(outcome: &SyncOutcome) -> bool {
    matches!(
        outcome.kind,
        OutcomeKind::Failed(_) | OutcomeKind::Rejected { .. }
    )
}

/// Runs the tenant's jobs until `shutdown` turns true: `inbox_workers` inbox workers, the poll,
/// the sweeps and the registration check. A sweep in flight is then halted: it has `grace` to
/// finish its pairs in flight (starting no other) before it is dropped (its pair locks then
/// lapse; its checkpoints stay where its settled pairs put them).
pub async fn run(
    tenant: Arc<Tenant>,
    schedule: ScheduleConfig,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
    grace: Duration,
) {
    let inbox_workers =
        (0..schedule.inbox_workers).map(|_| inbox(&tenant, &schedule, &metrics, shutdown.clone()));
    tokio::join!(
        futures::future::join_all(inbox_workers),
        poll(&tenant, &schedule, &metrics, shutdown.clone()),
        sweeps(&tenant, &schedule, &metrics, shutdown.clone(), grace),
        registration_checks(&tenant, &schedule, shutdown),
    );
}

/// Works the inbox: a batch at a time while there is work, then waits for the receiver's wake-up
/// (or `idle_wait`, for events another process enqueued).
async fn inbox(
    tenant: &Tenant,
    schedule: &ScheduleConfig,
    metrics: &Metrics,
    mut shutdown: watch::Receiver<bool>,
) {
    let labels = TenantLabels {
        tenant: tenant.name.clone(),
    };
    while !stopping(&shutdown) {
        match tenant.sync.process_inbox(schedule.inbox_batch).await {
            Ok(outcomes) => {
                lock(&tenant.state).inbox_error = None;
                for outcome in &outcomes {
                    metrics.outcome(&tenant.name, "inbox", outcome);
                    metrics.events_processed.get_or_create(&labels).inc();
                    if is_failure(outcome) {
                        metrics.events_failed.get_or_create(&labels).inc();
                    }
                }
                if !outcomes.is_empty() {
                    continue;
                }
            }
            Err(error) => {
                tracing::warn!(tenant = %tenant.name, %error, "the inbox could not be claimed");
                lock(&tenant.state).inbox_error = Some(error.to_string());
            }
        }
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            () = tenant.wake.notified() => {}
            () = tokio::time::sleep(schedule.idle_wait) => {}
        }
    }
}

/// Polls the CRM for flagged records changed since the last poll, every `poll_every`.
async fn poll(
    tenant: &Tenant,
    schedule: &ScheduleConfig,
    metrics: &Metrics,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let started = Timestamp::now();
        let result = tenant.sync.poll_crm().await;
        let run = match &result {
            Ok(outcomes) => {
                for outcome in outcomes {
                    metrics.outcome(&tenant.name, "poll", outcome);
                }
                JobRun::done(started, outcomes)
            }
            Err(error) => {
                tracing::warn!(tenant = %tenant.name, %error, "the CRM poll failed");
                JobRun::failed(started, error)
            }
        };
        lock(&tenant.state).last_poll = Some(run);
        if pause(&mut shutdown, schedule.poll_every).await {
            break;
        }
    }
}

/// Runs a delta sweep at start and every `delta_sweep_every`, and a full sweep every
/// `full_sweep_every` (the first one a period after start), one at a time.
async fn sweeps(
    tenant: &Tenant,
    schedule: &ScheduleConfig,
    metrics: &Metrics,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) {
    let start = Instant::now();
    let mut next_delta = start;
    let mut next_full = schedule.full_sweep_every.map(|period| start + period);
    loop {
        let now = Instant::now();
        let mode = match next_full {
            Some(due) if now >= due => {
                next_full = schedule.full_sweep_every.map(|period| now + period);
                Some(SweepMode::Full)
            }
            _ if now >= next_delta => {
                next_delta = now + schedule.delta_sweep_every;
                Some(SweepMode::Delta)
            }
            _ => None,
        };
        if let Some(mode) = mode {
            let started = Timestamp::now();
            let clock = Instant::now();
            // On shutdown the sweep is told to halt: its pairs in flight finish, no other
            // starts, and its checkpoints stay before the pairs it left.
            let halt = AtomicBool::new(false);
            let sweep = tenant.sync.reconcile_until(mode, |_| {}, &halt);
            tokio::pin!(sweep);
            let result = tokio::select! {
                result = &mut sweep => Some(result),
                _ = shutdown.wait_for(|stop| *stop) => None,
            };
            let result = match result {
                Some(result) => result,
                None => {
                    halt.store(true, Ordering::SeqCst);
                    match tokio::time::timeout(grace, &mut sweep).await {
                        Ok(result) => result,
                        Err(_) => {
                            tracing::warn!(tenant = %tenant.name, ?mode, "a halted sweep did not finish its pairs in flight within the shutdown grace; dropped");
                            return;
                        }
                    }
                }
            };
            record_sweep(tenant, metrics, mode, started, clock.elapsed(), &result);
        }
        if stopping(&shutdown) {
            break;
        }
        let now = Instant::now();
        let due = next_full.map_or(next_delta, |full| full.min(next_delta));
        if pause(&mut shutdown, due.saturating_duration_since(now)).await {
            break;
        }
    }
}

/// Records a finished sweep in the tenant's state and the metrics.
pub fn record_sweep(
    tenant: &Tenant,
    metrics: &Metrics,
    mode: SweepMode,
    started: Timestamp,
    took: Duration,
    result: &cosell::Result<SweepReport>,
) {
    if let Ok(report) = result {
        for outcome in &report.outcomes {
            metrics.outcome(&tenant.name, "sweep", outcome);
        }
    }
    if let Err(error) = result {
        tracing::warn!(tenant = %tenant.name, %error, "a sweep failed; it runs again at its next turn");
    }
    let run = SweepRun::new(mode, started, took, result);
    metrics
        .sweep_seconds
        .get_or_create(&SweepLabels {
            tenant: tenant.name.clone(),
            mode: run.mode.to_owned(),
            result: run.result.to_owned(),
        })
        .observe(took.as_secs_f64());
    lock(&tenant.state).last_sweep = Some(run);
}

/// Checks the webhook registration every `registration_check_every`.
async fn registration_checks(
    tenant: &Tenant,
    schedule: &ScheduleConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    while !pause(&mut shutdown, schedule.registration_check_every).await {
        registration::check(tenant).await;
    }
}
