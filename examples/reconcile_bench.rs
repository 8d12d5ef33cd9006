//! A reconciliation sweep against a per-record sync shaped like the Power Automate connector,
//! on the emulator with every request delayed as a real service would be, measured side by
//! side in one run.
//!
//! ```text
//! cargo run --release --example reconcile_bench -- [--records 10000] [--changed-pct 1]
//!     [--latency-ms 20] [--concurrency 8] [--crm dataverse|salesforce] [--mode full|delta]
//!     [--sample 1000]
//! ```
//!
//! Set-up (not measured): `--records` referrals shared by Microsoft are synced into the CRM and
//! settled; then `--changed-pct` of them are edited in Partner Center. Measured:
//!
//! - **the sweep** (`reconcile`, full by default, on a SQLite store in a temporary directory):
//!   requests per service, the lower bound the APIs allow and the formula it used, wall time,
//!   pairs per second, and the peak memory the sweep allocated beyond what the process held
//!   when it started (the emulator runs on threads of its own, whose allocations are not
//!   counted);
//! - **the connector's shape** on a sample of `--sample` records at the same concurrency: for
//!   each record, get the referral, query the CRM for its opportunity, update it — then its
//!   figures extrapolated to `--records`, and the ratios.
//!
//! Prints one JSON line per measurement. With `COSELL_BENCH_CENSUS=1` it also prints, on
//! standard error, the bytes the sweep held at its peak by allocation size (in powers of two):
//! what holds the peak shows in its sizes (a decoded referral is 2.3 KB, a listing page's
//! buffers hundreds of KB).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use cosell::dataverse::{Filter, Query};
use cosell::salesforce::soql::{Soql, field};
use cosell::store::SqliteStore;
use cosell::sync::{SweepMode, Synchronizer};
use cosell_emulator::{EmulatedApi, Emulator};
use futures::StreamExt;
use serde_json::{Value, json};

#[path = "support/emulated.rs"]
mod emulated;
use emulated::{Clients, Result, referral, slow_down};

// --- memory: what the sweep allocates, the emulator's threads left out ----------------------

thread_local! {
    static UNCOUNTED: Cell<bool> = const { Cell::new(false) };
}

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
/// Live bytes per size class (allocations of 2^k up to 2^(k+1) bytes), and their copy at the
/// peak, for `COSELL_BENCH_CENSUS`.
static CLASSES: [AtomicIsize; 40] = [const { AtomicIsize::new(0) }; 40];
static AT_PEAK: [AtomicIsize; 40] = [const { AtomicIsize::new(0) }; 40];

fn class(size: usize) -> usize {
    (usize::BITS - size.max(1).leading_zeros() - 1) as usize
}

fn grew(size: usize, by: isize) {
    let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    CLASSES[class(size)].fetch_add(by, Ordering::Relaxed);
    if PEAK.fetch_max(live, Ordering::Relaxed) < live {
        for (at_peak, now) in AT_PEAK.iter().zip(&CLASSES) {
            at_peak.store(now.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }
}

struct Counting;

fn counted() -> bool {
    !UNCOUNTED.try_with(Cell::get).unwrap_or(true)
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are kept.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted() {
            grew(layout.size(), layout.size() as isize);
        }
        // SAFETY: as the caller's contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counted() {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
            CLASSES[class(layout.size())].fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: as the caller's contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counted() {
            CLASSES[class(layout.size())].fetch_sub(layout.size() as isize, Ordering::Relaxed);
            CLASSES[class(new_size)].fetch_add(layout.size() as isize, Ordering::Relaxed);
            grew(new_size, new_size as isize - layout.size() as isize);
        }
        // SAFETY: as the caller's contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The sweep's live bytes over time, sampled from a thread of its own (whose allocations are
/// not counted), for `COSELL_BENCH_CENSUS`: which phase of the sweep holds the peak.
struct Timeline {
    done: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<isize>>,
}

impl Timeline {
    fn start(base: isize) -> Self {
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = Arc::clone(&done);
        let thread = std::thread::spawn(move || {
            UNCOUNTED.with(|uncounted| uncounted.set(true));
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                samples.push(LIVE.load(Ordering::Relaxed) - base);
                std::thread::sleep(Duration::from_millis(2));
            }
            samples
        });
        Timeline { done, thread }
    }

    /// The most live at once in each tenth of the time sampled.
    fn finish(self) -> Vec<isize> {
        self.done.store(true, Ordering::Relaxed);
        let samples = self.thread.join().unwrap_or_default();
        let tenth = samples.len().div_ceil(10).max(1);
        samples
            .chunks(tenth)
            .map(|part| part.iter().copied().max().unwrap_or(0))
            .collect()
    }
}

/// Starts counting the peak from what is live now.
fn reset_peak() -> isize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

/// The live bytes per size class at the peak, less those live at `start`'s census.
fn census_since(start: &[isize; 40]) -> Vec<(usize, isize)> {
    AT_PEAK
        .iter()
        .zip(start)
        .enumerate()
        .map(|(k, (at_peak, start))| (1usize << k, at_peak.load(Ordering::Relaxed) - start))
        .filter(|(_, bytes)| *bytes > 16 * 1024)
        .collect()
}

fn census_now() -> [isize; 40] {
    std::array::from_fn(|k| CLASSES[k].load(Ordering::Relaxed))
}

fn peak_mb_since(start: isize) -> f64 {
    (PEAK.load(Ordering::Relaxed) - start) as f64 / (1024.0 * 1024.0)
}

// --- arguments ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crm {
    Dataverse,
    Salesforce,
}

impl Crm {
    fn name(self) -> &'static str {
        match self {
            Crm::Dataverse => "dataverse",
            Crm::Salesforce => "salesforce",
        }
    }

    fn api(self) -> EmulatedApi {
        match self {
            Crm::Dataverse => EmulatedApi::Dataverse,
            Crm::Salesforce => EmulatedApi::Salesforce,
        }
    }

    /// The most records one listing page holds, one batched write takes, and the referral-id
    /// and notes columns.
    fn page(self) -> usize {
        match self {
            Crm::Dataverse => 5000,
            Crm::Salesforce => 2000,
        }
    }

    fn batch(self) -> usize {
        match self {
            Crm::Dataverse => 1000,
            Crm::Salesforce => 25,
        }
    }

    fn referral_column(self) -> &'static str {
        match self {
            Crm::Dataverse => "cosell_referralid",
            Crm::Salesforce => "Referral_Id__c",
        }
    }

    /// Characters one id takes in a bulk read's `IN` list (quoted, with its comma).
    fn id_chars(self) -> usize {
        match self {
            Crm::Dataverse => 36 + 3,
            Crm::Salesforce => 18 + 3,
        }
    }
}

struct Args {
    records: usize,
    changed_pct: f64,
    latency: Duration,
    concurrency: usize,
    crm: Crm,
    mode: SweepMode,
    sample: usize,
}

fn args() -> Result<Args> {
    let mut parsed = Args {
        records: 10_000,
        changed_pct: 1.0,
        latency: Duration::from_millis(20),
        concurrency: 8,
        crm: Crm::Dataverse,
        mode: SweepMode::Full,
        sample: 1000,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(flag) = iter.next() {
        let value = iter.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--records" => parsed.records = value.parse()?,
            "--changed-pct" => parsed.changed_pct = value.parse()?,
            "--latency-ms" => parsed.latency = Duration::from_millis(value.parse()?),
            "--concurrency" => parsed.concurrency = value.parse()?,
            "--sample" => parsed.sample = value.parse()?,
            "--crm" => {
                parsed.crm = match value.as_str() {
                    "dataverse" => Crm::Dataverse,
                    "salesforce" => Crm::Salesforce,
                    other => return Err(format!("--crm {other}: dataverse or salesforce").into()),
                }
            }
            "--mode" => {
                parsed.mode = match value.as_str() {
                    "full" => SweepMode::Full,
                    "delta" => SweepMode::Delta,
                    other => return Err(format!("--mode {other}: full or delta").into()),
                }
            }
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if !(0.0..=100.0).contains(&parsed.changed_pct) || parsed.concurrency == 0 {
        return Err("--changed-pct takes 0 to 100 and --concurrency at least 1".into());
    }
    Ok(parsed)
}

// --- the emulator, on threads of its own ------------------------------------------------------

/// Starts the emulator on a runtime whose threads are not counted; it runs until the process
/// ends.
fn emulator() -> Result<Emulator> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        UNCOUNTED.with(|flag| flag.set(true));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .on_thread_start(|| UNCOUNTED.with(|flag| flag.set(true)))
            .enable_all()
            .build();
        let runtime = match runtime {
            Ok(runtime) => runtime,
            Err(error) => {
                let _ = sender.send(Err(error.to_string()));
                return;
            }
        };
        runtime.block_on(async move {
            let started = Emulator::start().await.map_err(|e| e.to_string());
            let _ = sender.send(started);
            std::future::pending::<()>().await;
        });
    });
    Ok(receiver.recv()??)
}

async fn synchronizer(
    clients: &Clients,
    concurrency: usize,
    store: &std::path::Path,
) -> Result<Synchronizer> {
    let store = Arc::new(SqliteStore::open(store)?);
    Ok(clients
        .synchronizer(store)?
        .max_in_flight(concurrency)
        .crm_api_budget(1.0)
        .build()
        .await?)
}

/// Requests answered by Partner Center and the CRM since entry `from` of the journal.
fn spent(emulator: &Emulator, crm: Crm, from: usize) -> (u64, u64) {
    let journal = emulator.journal();
    let mut counts = (0, 0);
    for entry in journal.iter().skip(from) {
        if entry.api == EmulatedApi::PartnerCenterReferrals {
            counts.0 += 1;
        } else if entry.api == crm.api() {
            counts.1 += 1;
        }
    }
    counts
}

// --- the connector's shape ----------------------------------------------------------------------

/// For each referral: get it, query the CRM for its opportunity, update the opportunity's
/// notes from it — `concurrency` records at a time.
async fn connector(clients: &Clients, crm: Crm, ids: &[String], concurrency: usize) -> Result<()> {
    let results: Vec<Result<()>> = futures::stream::iter(ids)
        .map(|id| async move {
            let referral = clients.partner_center.referrals().get(id).await?;
            let notes = referral
                .details
                .value()
                .and_then(|details| details.notes.value().cloned())
                .unwrap_or_default();
            match (crm, &clients.dataverse, &clients.salesforce) {
                (Crm::Dataverse, Some(dataverse), _) => {
                    let rows: Vec<Value> = dataverse
                        .opportunities()
                        .query::<Value>(
                            &Query::new()
                                .select(["opportunityid"])
                                .filter(Filter::eq(crm.referral_column(), id.as_str())),
                        )
                        .collect_all()
                        .await?;
                    let opportunity = rows
                        .first()
                        .and_then(|row| row["opportunityid"].as_str())
                        .ok_or("no opportunity")?
                        .parse::<uuid::Uuid>()?;
                    dataverse
                        .opportunities()
                        .update(opportunity, &json!({"description": notes}))
                        .send()
                        .await?;
                }
                (Crm::Salesforce, _, Some(salesforce)) => {
                    let soql = Soql::select(["Id"])
                        .from("Opportunity")
                        .filter(field(crm.referral_column()).eq(id.as_str()))
                        .build()?;
                    let rows: Vec<Value> = salesforce.query(&soql).collect_all().await?;
                    let opportunity = rows
                        .first()
                        .and_then(|row| row["Id"].as_str())
                        .ok_or("no opportunity")?;
                    salesforce
                        .opportunities()
                        .update(opportunity, &json!({"Description": notes}))
                        .send()
                        .await?;
                }
                _ => return Err("no CRM client".into()),
            }
            Ok(())
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    results.into_iter().collect()
}

// --- the run ------------------------------------------------------------------------------------

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> Result<()> {
    let args = args()?;
    let crm = args.crm;
    let emulator = emulator()?;
    emulator.partner_center().set_own_write_events(false);
    emulator.salesforce().set_daily_api_limit(u64::MAX / 4);
    let clients = Clients::new(&emulator, crm.name())?;
    // The store a production service would use: SQLite on disk (its memory is its page cache).
    let directory = tempfile::tempdir()?;
    let sync = synchronizer(
        &clients,
        args.concurrency,
        &directory.path().join("sync.db"),
    )
    .await?;

    // Set-up: the pairs exist and are settled.
    let set_up = Instant::now();
    let ids: Vec<String> = (0..args.records)
        .map(|n| {
            emulator
                .partner_center()
                .share_referral(referral(n))
                .map(|shared| shared["id"].as_str().unwrap_or_default().to_owned())
        })
        .collect::<std::result::Result<_, _>>()?;
    let created = sync.reconcile(SweepMode::Full).await?;
    if created.count("created") != args.records {
        return Err(format!("set-up created {} pairs", created.count("created")).into());
    }
    // The second full sweep settles the creates' echoes; a delta sweep then starts from there.
    sync.reconcile(SweepMode::Full).await?;
    let changed = ((args.records as f64) * args.changed_pct / 100.0).round() as usize;
    // Edits one second later than the last settled change, so a delta sweep sees them.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for id in ids.iter().take(changed) {
        emulator.partner_center().update_referral(
            id,
            json!([{"op": "replace", "path": "/details/notes", "value": "Changed by Microsoft."}]),
        )?;
    }
    eprintln!(
        "set-up: {} pairs, {changed} changed, in {:.1} s",
        args.records,
        set_up.elapsed().as_secs_f64()
    );

    // The sweep.
    slow_down(&emulator, crm.name(), args.latency);
    let from = emulator.journal().len();
    let census_start = census_now();
    let memory_start = reset_peak();
    let census = std::env::var_os("COSELL_BENCH_CENSUS").is_some();
    let sampler = census.then(|| Timeline::start(memory_start));
    let started = Instant::now();
    let report = sync.reconcile(args.mode).await?;
    let wall = started.elapsed().as_secs_f64();
    let peak_mb = peak_mb_since(memory_start);
    if let Some(sampler) = sampler {
        for (tenth, bytes) in sampler.finish().into_iter().enumerate() {
            eprintln!(
                "timeline: {:>3}–{:>3} % of the sweep: at most {:>8.1} KB",
                tenth * 10,
                tenth * 10 + 10,
                bytes as f64 / 1024.0
            );
        }
    }
    if census {
        for (size, bytes) in census_since(&census_start) {
            eprintln!(
                "census: {size:>8} B and up: {:>8.1} KB",
                bytes as f64 / 1024.0
            );
        }
    }
    let (partner_center, crm_requests) = spent(&emulator, crm, from);
    if report.count("updated") != changed {
        return Err(format!(
            "the sweep updated {} pairs, not {changed}",
            report.count("updated")
        )
        .into());
    }
    let total = partner_center + crm_requests;
    let pc_pages = match args.mode {
        SweepMode::Full => args.records.div_ceil(100).max(1),
        SweepMode::Delta => changed.div_ceil(100).max(1),
    };
    let crm_listed = match args.mode {
        SweepMode::Full => args.records,
        SweepMode::Delta => 0,
    };
    let crm_pages = crm_listed.div_ceil(crm.page()).max(1);
    let bulk_reads = (changed * crm.id_chars()).div_ceil(6000);
    let writes = changed.div_ceil(crm.batch());
    let lower_bound = (pc_pages + crm_pages + bulk_reads + writes) as u64;
    println!(
        "{}",
        json!({
            "run": "sweep",
            "crm": crm.name(),
            "mode": format!("{:?}", args.mode).to_lowercase(),
            "records": args.records,
            "changed": changed,
            "latency_ms": args.latency.as_millis() as u64,
            "concurrency": args.concurrency,
            "requests": {"partner_center": partner_center, "crm": crm_requests, "total": total},
            "reported": {"partner_center": report.requests.partner_center, "crm": report.requests.crm},
            "lower_bound": lower_bound,
            "lower_bound_formula": format!(
                "Partner Center list pages ⌈{}/100⌉ = {pc_pages} + CRM list pages ⌈{crm_listed}/{}⌉ = {crm_pages} \
                 + bulk reads of the changed records ⌈{changed}×{}/6000⌉ = {bulk_reads} \
                 + batched conditional writes ⌈{changed}/{}⌉ = {writes}",
                if args.mode == SweepMode::Full { args.records } else { changed },
                crm.page(), crm.id_chars(), crm.batch()
            ),
            "requests_over_lower_bound": total as f64 / lower_bound as f64,
            "wall_s": wall,
            "pairs_per_s": args.records as f64 / wall,
            "peak_mb": peak_mb,
        })
    );

    // The connector's shape, on a sample.
    let sample: Vec<String> = ids
        .iter()
        .take(args.sample.min(ids.len()))
        .cloned()
        .collect();
    let from = emulator.journal().len();
    let started = Instant::now();
    connector(&clients, crm, &sample, args.concurrency).await?;
    let sample_wall = started.elapsed().as_secs_f64();
    let (pc_sample, crm_sample) = spent(&emulator, crm, from);
    let scale = args.records as f64 / sample.len().max(1) as f64;
    let extrapolated_requests = (pc_sample + crm_sample) as f64 * scale;
    let extrapolated_wall = sample_wall * scale;
    println!(
        "{}",
        json!({
            "run": "connector",
            "crm": crm.name(),
            "sample": sample.len(),
            "requests": {"partner_center": pc_sample, "crm": crm_sample, "total": pc_sample + crm_sample},
            "wall_s": sample_wall,
            "extrapolated_to_records": {"records": args.records, "requests": extrapolated_requests, "wall_s": extrapolated_wall},
        })
    );
    println!(
        "{}",
        json!({
            "run": "ratios",
            "crm": crm.name(),
            "records": args.records,
            "fewer_requests": extrapolated_requests / total as f64,
            "less_time": extrapolated_wall / wall,
            "requests_over_lower_bound": total as f64 / lower_bound as f64,
        })
    );
    Ok(())
}
