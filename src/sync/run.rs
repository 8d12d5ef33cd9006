//! The synchronizer's service loop: events, the CRM poll and the sweeps, each on its cadence.

use std::future::Future;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::Synchronizer;
use super::sweep::SweepMode;

/// How often [`Synchronizer::run`] does each of its jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The wait between two rounds (default 1 s): each round works the inbox.
    pub tick: Duration,
    /// Events claimed from the inbox per round (default 32).
    pub inbox_batch: usize,
    /// The CRM poll's period (default 30 s).
    pub poll_every: Duration,
    /// The delta sweep's period (default 15 min).
    pub delta_sweep_every: Duration,
    /// The full sweep's period (default a day); `None` runs none (call
    /// [`reconcile`](Synchronizer::reconcile) on demand).
    pub full_sweep_every: Option<Duration>,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            tick: Duration::from_secs(1),
            inbox_batch: 32,
            poll_every: Duration::from_secs(30),
            delta_sweep_every: Duration::from_secs(15 * 60),
            full_sweep_every: Some(Duration::from_secs(24 * 3600)),
        }
    }
}

/// What [`Synchronizer::run`] did before it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Rounds run.
    pub rounds: u64,
    /// Inbox events worked.
    pub events: usize,
    /// CRM polls run.
    pub polls: usize,
    /// Delta sweeps run.
    pub delta_sweeps: usize,
    /// Full sweeps run.
    pub full_sweeps: usize,
    /// Jobs that failed (the job and its error), each retried at its next turn.
    pub errors: Vec<String>,
}

fn after(at: Timestamp, period: Duration) -> Timestamp {
    at.checked_add(SignedDuration::try_from(period).unwrap_or(SignedDuration::MAX))
        .unwrap_or(Timestamp::MAX)
}

impl Synchronizer {
    /// Serves the tenant until `shutdown` completes: each round works a batch of the inbox, and
    /// the CRM poll, the delta sweep and the full sweep run when their period has passed (the
    /// poll and the delta sweep at once on start). A job that fails is recorded and tried again
    /// at its next turn. Shutdown is graceful: it is looked at only between rounds, so the
    /// pairs in flight finish and every checkpoint is left where a settled job put it. Time is
    /// the synchronizer's clock and sleeper, so a test can run a day in a moment.
    ///
    /// ```no_run
    /// use cosell::sync::Schedule;
    ///
    /// # async fn serve(sync: cosell::sync::Synchronizer) {
    /// let report = sync.run(&Schedule::default(), async {
    ///     let _ = tokio::signal::ctrl_c().await;
    /// }).await;
    /// println!("{} events, {} sweeps", report.events, report.delta_sweeps);
    /// # }
    /// ```
    pub async fn run(&self, schedule: &Schedule, shutdown: impl Future<Output = ()>) -> RunReport {
        let inner = &self.inner;
        let mut shutdown = std::pin::pin!(shutdown);
        let mut report = RunReport::default();
        let start = inner.clock.now();
        let mut next_poll = start;
        let mut next_delta = start;
        let mut next_full = schedule.full_sweep_every.map(|period| after(start, period));
        loop {
            report.rounds += 1;
            match self.process_inbox(schedule.inbox_batch.max(1)).await {
                Ok(outcomes) => report.events += outcomes.len(),
                Err(error) => report.errors.push(format!("inbox: {error}")),
            }
            let now = inner.clock.now();
            if now >= next_poll {
                next_poll = after(now, schedule.poll_every);
                report.polls += 1;
                if let Err(error) = self.poll_crm().await {
                    report.errors.push(format!("poll: {error}"));
                }
            }
            if now >= next_delta {
                next_delta = after(now, schedule.delta_sweep_every);
                report.delta_sweeps += 1;
                if let Err(error) = self.reconcile(SweepMode::Delta).await {
                    report.errors.push(format!("delta sweep: {error}"));
                }
            }
            if let Some(due) = next_full
                && now >= due
            {
                next_full = schedule.full_sweep_every.map(|period| after(now, period));
                report.full_sweeps += 1;
                if let Err(error) = self.reconcile(SweepMode::Full).await {
                    report.errors.push(format!("full sweep: {error}"));
                }
            }
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = inner.sleeper.sleep(schedule.tick) => {}
            }
        }
        for error in &report.errors {
            tracing::warn!(%error, "a sync job failed");
        }
        report
    }
}
