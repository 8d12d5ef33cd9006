//! The synchronizer's service loop: events, the CRM poll and the sweeps, each on its cadence.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::Synchronizer;
use super::sweep::{SweepMode, SweepReport};

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
    /// Jobs that failed (the job and its error), each retried at its next turn; each is also
    /// logged (`warn`) when it happens.
    pub errors: Vec<String>,
    /// Sweeps that paused (at the CRM's budget, its exhausted allowance, or the shutdown), with
    /// the pairs they left for the next one.
    pub pauses: Vec<String>,
}

fn after(at: Timestamp, period: Duration) -> Timestamp {
    at.checked_add(SignedDuration::try_from(period).unwrap_or(SignedDuration::MAX))
        .unwrap_or(Timestamp::MAX)
}

/// A sweep running beside the rounds.
type RunningSweep<'a> =
    Pin<Box<dyn Future<Output = (SweepMode, crate::Result<SweepReport>)> + Send + 'a>>;

/// Drives `work` to its end while the sweep in flight, if any, goes on beside it; records the
/// sweep's result if it ends first.
async fn beside<F: Future>(
    work: F,
    sweep: &mut Option<RunningSweep<'_>>,
    report: &mut RunReport,
) -> F::Output {
    let mut work = std::pin::pin!(work);
    loop {
        let Some(running) = sweep.as_mut() else {
            return work.await;
        };
        tokio::select! {
            output = &mut work => return output,
            (mode, result) = running.as_mut() => {
                *sweep = None;
                report.record_sweep(mode, result);
            }
        }
    }
}

impl RunReport {
    fn record_sweep(&mut self, mode: SweepMode, result: crate::Result<SweepReport>) {
        let name = match mode {
            SweepMode::Delta => "delta sweep",
            SweepMode::Full => "full sweep",
        };
        match result {
            Ok(sweep) => {
                if let Some(pause) = sweep.paused {
                    let line = format!("{name}: {pause:?}, {} pairs left", sweep.left);
                    tracing::info!(pause = %line, "a sweep paused");
                    self.pauses.push(line);
                }
            }
            Err(error) => self.fail(format!("{name}: {error}")),
        }
    }

    /// Records a failed job, and logs it at once.
    fn fail(&mut self, line: String) {
        tracing::warn!(error = %line, "a sync job failed; it runs again at its next turn");
        self.errors.push(line);
    }
}

impl Synchronizer {
    /// Serves the tenant until `shutdown` completes: each round works a batch of the inbox and,
    /// when its period has passed, polls the CRM (the poll at once on start); the delta sweep
    /// and the full sweep start when theirs has passed (the delta sweep at once on start) and
    /// run beside the rounds, one at a time, so a long sweep never holds the inbox or the poll
    /// back. A job that fails is recorded and tried again at its next turn. Shutdown is
    /// graceful: it is looked at between rounds; the inbox batch and the poll in flight finish,
    /// a sweep in flight finishes its pairs in flight and starts no other
    /// ([`SweepPause::ShuttingDown`](super::SweepPause::ShuttingDown)), and every checkpoint is
    /// left where settled pairs put it. Time is the synchronizer's clock and sleeper, so a test
    /// can run a day in a moment.
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
        let halt = AtomicBool::new(false);
        let mut sweep: Option<RunningSweep<'_>> = None;
        loop {
            report.rounds += 1;
            let now = inner.clock.now();
            // A due sweep starts when none runs; a full sweep due with a delta one runs first.
            if sweep.is_none() {
                let mode = match next_full {
                    Some(due) if now >= due => {
                        next_full = schedule.full_sweep_every.map(|period| after(now, period));
                        report.full_sweeps += 1;
                        Some(SweepMode::Full)
                    }
                    _ if now >= next_delta => {
                        next_delta = after(now, schedule.delta_sweep_every);
                        report.delta_sweeps += 1;
                        Some(SweepMode::Delta)
                    }
                    _ => None,
                };
                if let Some(mode) = mode {
                    let halt = &halt;
                    sweep = Some(Box::pin(async move {
                        (mode, self.reconcile_until(mode, |_| {}, halt).await)
                    }));
                }
            }
            let inbox = self.process_inbox(schedule.inbox_batch.max(1));
            match beside(inbox, &mut sweep, &mut report).await {
                Ok(outcomes) => report.events += outcomes.len(),
                Err(error) => report.fail(format!("inbox: {error}")),
            }
            let now = inner.clock.now();
            if now >= next_poll {
                next_poll = after(now, schedule.poll_every);
                report.polls += 1;
                if let Err(error) = beside(self.poll_crm(), &mut sweep, &mut report).await {
                    report.fail(format!("poll: {error}"));
                }
            }
            let stop = beside(
                async {
                    tokio::select! {
                        biased;
                        () = &mut shutdown => true,
                        () = inner.sleeper.sleep(schedule.tick) => false,
                    }
                },
                &mut sweep,
                &mut report,
            )
            .await;
            if stop {
                break;
            }
        }
        if let Some(running) = sweep.take() {
            halt.store(true, Ordering::SeqCst);
            let (mode, result) = running.await;
            report.record_sweep(mode, result);
        }
        report
    }
}
