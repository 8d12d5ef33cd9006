//! A sweep's linked pairs synced batched, counted in the emulator's journal: k referrals
//! changed in Partner Center cost one bulk read and ⌈k / 1000⌉ Dataverse `$batch` or
//! ⌈k / 25⌉ Salesforce `composite` writes — each write still conditional on its record's
//! version, a refused one retried on its own —; k opportunities changed in the CRM cost k
//! Partner Center PATCHes and no CRM write.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cosell::mapping::{CrmWrite, DeclarativeMapping, Lookup, Resolution};
use cosell::store::MemoryStore;
use cosell::sync::{
    Crm, CrmRecord, DataverseCrm, OutcomeKind, SalesforceCrm, SetupProblem, SweepMode, SweepReport,
    SyncColumns, Synchronizer,
};
use cosell_emulator::{
    EmulatedApi, Emulator, Fault, FaultRule, JournalEntry, ManualClock, Trigger,
};
use jiff::SignedDuration;
use serde_json::json;

use crate::harness::{Harness, Kind, MODES, shared_referral};

/// A harness on a manual clock, Partner Center strict or not.
async fn harness(kind: Kind, strict: bool) -> (Harness, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new("2026-11-30T09:00:00Z".parse().unwrap()));
    let emulator = Emulator::builder()
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    emulator.partner_center().set_strict(strict);
    (
        Harness::on(kind, emulator, Arc::new(MemoryStore::new())),
        clock,
    )
}

/// `k` linked pairs, settled and past the overlap window; their referral ids.
async fn linked_pairs(
    h: &Harness,
    clock: &ManualClock,
    sync: &Synchronizer,
    k: usize,
) -> Vec<String> {
    let ids: Vec<String> = (0..k)
        .map(|i| h.share(shared_referral(&format!("Batched {i}"))))
        .collect();
    // Accepted, so that the sellers' edits flow to Partner Center.
    for id in &ids {
        h.edit_referral(
            id,
            json!([{"op": "replace", "path": "/status", "value": "Active"},
                   {"op": "replace", "path": "/substatus", "value": "Accepted"}]),
        );
    }
    let first = sync.reconcile(SweepMode::Full).await.unwrap();
    assert_eq!(first.count("created"), k, "{:#?}", first.outcomes);
    // The echoes of the creates, then quiet.
    clock.advance(SignedDuration::from_secs(600));
    sync.reconcile(SweepMode::Delta).await.unwrap();
    clock.advance(SignedDuration::from_secs(600));
    ids
}

fn crm_writes(h: &Harness, spent: &[JournalEntry]) -> usize {
    spent
        .iter()
        .filter(|e| e.api == h.crm_api() && e.method != http::Method::GET)
        .count()
}

fn shown(spent: &[JournalEntry]) -> Vec<String> {
    spent
        .iter()
        .map(|e| format!("{} {} {}", e.method, e.operation, e.status))
        .collect()
}

fn opportunity_of(h: &Harness, referral_id: &str) -> serde_json::Value {
    h.opportunities()
        .into_iter()
        .find(|row| row[h.column("referral_id")] == json!(referral_id))
        .unwrap()
}

fn batch_limit(kind: Kind) -> usize {
    match kind {
        Kind::Dataverse => 1000,
        Kind::Salesforce => 25,
    }
}

fn updated(report: &SweepReport) -> usize {
    report.count("updated")
}

#[tokio::test]
async fn referrals_changed_in_partner_center_cost_one_bulk_read_and_a_write_per_batch() {
    const K: usize = 40;
    for (kind, strict) in MODES {
        let context = format!("{kind:?} strict={strict}");
        let (h, clock) = harness(kind, strict).await;
        let sync = h.sync().await;
        let ids = linked_pairs(&h, &clock, &sync, K).await;
        for (i, id) in ids.iter().enumerate() {
            h.edit_referral(id, json!([{"op": "replace", "path": "/details/notes", "value": format!("Microsoft's note {i}")}]));
        }
        clock.advance(SignedDuration::from_secs(5));

        let before = h.requests().len();
        let report = sync.reconcile(SweepMode::Delta).await.unwrap();
        let spent = h.requests()[before..].to_vec();
        assert_eq!(updated(&report), K, "{context}: {:#?}", report.outcomes);
        assert_eq!(
            crm_writes(&h, &spent),
            K.div_ceil(batch_limit(kind)),
            "{context}: {:#?}",
            shown(&spent)
        );
        // The referrals came with the listing; the opportunities in one bulk read.
        assert!(
            spent
                .iter()
                .filter(|e| e.api == EmulatedApi::PartnerCenterReferrals)
                .all(|e| e.method == http::Method::GET && e.operation.contains("list")),
            "{context}: {:#?}",
            shown(&spent)
        );
        let crm_reads = spent
            .iter()
            .filter(|e| e.api == h.crm_api() && e.method == http::Method::GET)
            .count();
        assert_eq!(
            crm_reads,
            2,
            "{context}: the listing and one bulk read: {:#?}",
            shown(&spent)
        );
        assert_eq!(report.requests.total(), spent.len() as u64, "{context}");
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(
                opportunity_of(&h, id)[h.column("notes")],
                json!(format!("Microsoft's note {i}")),
                "{context}"
            );
        }

        // Synced twice with no new edit: nothing written.
        clock.advance(SignedDuration::from_secs(5));
        let before = h.writes().len();
        let again = sync.reconcile(SweepMode::Delta).await.unwrap();
        assert!(
            again.outcomes.iter().all(|o| !o.kind.wrote()),
            "{context}: {:#?}",
            again.outcomes
        );
        assert_eq!(h.writes().len(), before, "{context}");

        // That sweep read the echoes of its own writes once; from then on, a sweep over the
        // pairs spends only its listings.
        for mode in [SweepMode::Delta, SweepMode::Full] {
            let before = h.requests().len();
            let quiet = sync.reconcile(mode).await.unwrap();
            let spent = h.requests()[before..].to_vec();
            assert!(
                quiet.outcomes.is_empty(),
                "{context} {mode:?}: {:#?}",
                quiet.outcomes
            );
            assert_eq!(quiet.unchanged, K, "{context} {mode:?}");
            assert!(
                spent.iter().all(|e| e.method == http::Method::GET
                    && (e.operation.contains("list") || e.operation.contains("query"))),
                "{context} {mode:?}: {:#?}",
                shown(&spent)
            );
        }
    }
}

#[tokio::test]
async fn opportunities_changed_in_the_crm_cost_one_partner_center_patch_each() {
    const K: usize = 30;
    for (kind, strict) in MODES {
        let context = format!("{kind:?} strict={strict}");
        let (h, clock) = harness(kind, strict).await;
        let sync = h.sync().await;
        let ids = linked_pairs(&h, &clock, &sync, K).await;
        for (i, id) in ids.iter().enumerate() {
            let crm_id = h.id_of(&opportunity_of(&h, id));
            h.edit_opportunity(
                &crm_id,
                json!({h.column("notes"): format!("Seller's note {i}")}),
            );
        }
        clock.advance(SignedDuration::from_secs(5));

        let before = h.requests().len();
        let report = sync.reconcile(SweepMode::Delta).await.unwrap();
        let spent = h.requests()[before..].to_vec();
        assert_eq!(updated(&report), K, "{context}: {:#?}", report.outcomes);
        let patches = spent
            .iter()
            .filter(|e| {
                e.api == EmulatedApi::PartnerCenterReferrals && e.method != http::Method::GET
            })
            .count();
        assert_eq!(patches, K, "{context}: {:#?}", shown(&spent));
        assert_eq!(crm_writes(&h, &spent), 0, "{context}: {:#?}", shown(&spent));
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(
                h.referral(id)["details"]["notes"],
                json!(format!("Seller's note {i}")),
                "{context}"
            );
        }
    }
}

#[tokio::test]
async fn more_than_a_thousand_changed_referrals_take_two_dataverse_batches() {
    const K: usize = 1030;
    let (h, clock) = harness(Kind::Dataverse, false).await;
    let sync = h.sync().await;
    let ids = linked_pairs(&h, &clock, &sync, K).await;
    for id in &ids {
        h.edit_referral(id, json!([{"op": "replace", "path": "/details/notes", "value": "Renewal moved up a quarter."}]));
    }
    clock.advance(SignedDuration::from_secs(5));
    let before = h.requests().len();
    let report = sync.reconcile(SweepMode::Delta).await.unwrap();
    let spent = h.requests()[before..].to_vec();
    assert_eq!(updated(&report), K);
    let batches: Vec<&JournalEntry> = spent
        .iter()
        .filter(|e| e.api == EmulatedApi::Dataverse && e.method != http::Method::GET)
        .collect();
    assert_eq!(batches.len(), 2, "{:#?}", shown(&spent));
    assert!(batches.iter().all(|e| e.operation == "dataverse.batch"));
    // Read in waves of at most 100 pairs (a URL could hold 153 GUIDs, but the pairs of a wave
    // are in flight together): the chunk of 1,000 in 10 bulk reads, the chunk of 30 in one.
    let bulk_reads: Vec<usize> = spent
        .iter()
        .filter(|e| e.api == EmulatedApi::Dataverse && e.method == http::Method::GET)
        .filter_map(|e| e.query.as_deref())
        .filter(|query| query.contains("Microsoft.Dynamics.CRM.In"))
        // Quoted: the column's name, then each id.
        .map(|query| (query.matches("%27").count() + query.matches('\'').count()) / 2 - 1)
        .collect();
    assert_eq!(bulk_reads.len(), 11, "{:#?}", shown(&spent));
    assert!(
        bulk_reads.iter().all(|ids| (1..=100).contains(ids)),
        "{bulk_reads:?}"
    );
    assert_eq!(bulk_reads.iter().sum::<usize>(), K, "{bulk_reads:?}");
    assert!(
        h.opportunities()
            .iter()
            .all(|row| row["description"] == json!("Renewal moved up a quarter."))
    );
}

type Edit = Box<dyn FnOnce() + Send>;

/// The CRM as the sync sees it, with a seller who edits one record the moment the first
/// batched write goes out — after the sync read it — or a batch that never reaches one of its
/// writes.
struct Meddled {
    crm: Box<dyn Crm>,
    edit: Mutex<Option<Edit>>,
    batches: Arc<Mutex<Vec<usize>>>,
    /// The write (by its place in the first batch) the service does not reach: not sent, and
    /// answered `None`.
    unanswered: Mutex<Option<usize>>,
}

impl std::fmt::Debug for Meddled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meddled")
            .field("crm", &self.crm)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Crm for Meddled {
    fn name(&self) -> &str {
        self.crm.name()
    }
    fn write_batch_limit(&self) -> usize {
        self.crm.write_batch_limit()
    }
    async fn check(
        &self,
        mapping: &DeclarativeMapping,
        columns: &SyncColumns,
    ) -> cosell::Result<Vec<SetupProblem>> {
        self.crm.check(mapping, columns).await
    }
    async fn get(&self, id: &str, columns: &SyncColumns) -> cosell::Result<Option<CrmRecord>> {
        self.crm.get(id, columns).await
    }
    async fn get_many(
        &self,
        ids: &[String],
        columns: &SyncColumns,
    ) -> cosell::Result<Vec<CrmRecord>> {
        self.crm.get_many(ids, columns).await
    }
    async fn find_by_referral(
        &self,
        referral_id: &str,
        columns: &SyncColumns,
    ) -> cosell::Result<Option<CrmRecord>> {
        self.crm.find_by_referral(referral_id, columns).await
    }
    async fn resolve(&self, write: &mut CrmWrite) -> cosell::Result<Vec<(Lookup, Resolution)>> {
        self.crm.resolve(write).await
    }
    async fn create(
        &self,
        referral_id: &str,
        write: &CrmWrite,
        columns: &SyncColumns,
    ) -> cosell::Result<String> {
        self.crm.create(referral_id, write, columns).await
    }
    async fn update(&self, record: &CrmRecord, write: &CrmWrite) -> cosell::Result<()> {
        self.crm.update(record, write).await
    }
    async fn update_many(
        &self,
        writes: Vec<(CrmRecord, CrmWrite)>,
    ) -> cosell::Result<Vec<Option<cosell::Result<()>>>> {
        self.batches.lock().unwrap().push(writes.len());
        let edit = self.edit.lock().unwrap().take();
        if let Some(edit) = edit {
            edit();
        }
        let unanswered = self.unanswered.lock().unwrap().take();
        match unanswered {
            Some(skip) if skip < writes.len() => {
                let mut writes = writes;
                writes.remove(skip);
                let mut answers = self.crm.update_many(writes).await?;
                answers.insert(skip, None);
                Ok(answers)
            }
            _ => self.crm.update_many(writes).await,
        }
    }

    async fn each_changed_since(
        &self,
        since: jiff::Timestamp,
        columns: &SyncColumns,
        each: &mut (dyn FnMut(String, jiff::Timestamp) + Send),
    ) -> cosell::Result<()> {
        self.crm.each_changed_since(since, columns, each).await
    }
}

/// A synchronizer whose CRM is [`Meddled`] with `edit` and `unanswered`, and the sizes of the
/// batched writes it is asked for.
async fn meddled_sync(
    h: &Harness,
    kind: Kind,
    edit: Option<Edit>,
    unanswered: Option<usize>,
) -> (Synchronizer, Arc<Mutex<Vec<usize>>>) {
    let crm: Box<dyn Crm> = match kind {
        Kind::Dataverse => Box::new(DataverseCrm::new(h.dataverse(Some("cosell-sync")))),
        Kind::Salesforce => Box::new(SalesforceCrm::new(h.salesforce(Some("cosell-sync")))),
    };
    let batches = Arc::new(Mutex::new(Vec::new()));
    let meddled = Meddled {
        crm,
        edit: Mutex::new(edit),
        batches: Arc::clone(&batches),
        unanswered: Mutex::new(unanswered),
    };
    let tenant = cosell::store::TenantId::new("contoso").unwrap();
    let sync = Synchronizer::builder(
        h.partner_center(),
        meddled,
        h.mapping(),
        h.store.clone(),
        tenant,
    )
    .worker("test-worker")
    .sleeper(h.sleeper.clone())
    .build()
    .await
    .unwrap();
    (sync, batches)
}

#[tokio::test]
async fn a_record_edited_after_its_bulk_read_is_refused_alone_and_synced_again() {
    const K: usize = 12;
    for kind in [Kind::Dataverse, Kind::Salesforce] {
        let (h, clock) = harness(kind, false).await;
        let sync = h.sync().await;
        let ids = linked_pairs(&h, &clock, &sync, K).await;
        let victim = h.id_of(&opportunity_of(&h, &ids[3]));
        for id in &ids {
            h.edit_referral(
                id,
                json!([{"op": "replace", "path": "/details/notes", "value": "Microsoft's update"}]),
            );
        }
        // The seller's edit lands a second later, between the sync's read and its write.
        clock.advance(SignedDuration::from_secs(5));
        let (dataverse, salesforce) = (
            h.emulator.dataverse().clone(),
            h.emulator.salesforce().clone(),
        );
        let (name_column, seller_clock) = (h.column("name"), clock.clone());
        let edit: Edit = Box::new(move || {
            seller_clock.advance(SignedDuration::from_secs(1));
            let changes = json!({name_column: "Renamed by the seller"});
            match kind {
                Kind::Dataverse => dataverse
                    .edit("opportunities", victim.parse().unwrap(), changes)
                    .unwrap(),
                Kind::Salesforce => salesforce.edit_opportunity(&victim, changes).unwrap(),
            }
        });
        let (sync, batches) = meddled_sync(&h, kind, Some(edit), None).await;
        let report = sync.reconcile(SweepMode::Delta).await.unwrap();
        assert_eq!(updated(&report), K, "{kind:?}: {:#?}", report.outcomes);
        let batches = batches.lock().unwrap().clone();
        // One batch of all K, then the refused record again on its own.
        assert_eq!(batches, vec![K, 1], "{kind:?}");
        let row = opportunity_of(&h, &ids[3]);
        assert_eq!(
            row[h.column("name")],
            json!("Renamed by the seller"),
            "{kind:?}"
        );
        assert_eq!(
            row[h.column("notes")],
            json!("Microsoft's update"),
            "{kind:?}"
        );
        for id in &ids {
            assert_eq!(
                opportunity_of(&h, id)[h.column("notes")],
                json!("Microsoft's update")
            );
        }
    }
}

#[tokio::test]
async fn a_write_its_batch_did_not_reach_is_sent_alone_not_taken_as_made() {
    const K: usize = 6;
    for kind in [Kind::Dataverse, Kind::Salesforce] {
        let (h, clock) = harness(kind, false).await;
        let sync = h.sync().await;
        let ids = linked_pairs(&h, &clock, &sync, K).await;
        for id in &ids {
            h.edit_referral(
                id,
                json!([{"op": "replace", "path": "/details/notes", "value": "Reached at last"}]),
            );
        }
        clock.advance(SignedDuration::from_secs(5));
        let (sync, batches) = meddled_sync(&h, kind, None, Some(2)).await;
        let before = h.requests().len();
        let report = sync.reconcile(SweepMode::Delta).await.unwrap();
        let spent = h.requests()[before..].to_vec();
        assert_eq!(updated(&report), K, "{kind:?}: {:#?}", report.outcomes);
        // One batch of all K (one write of it never made), then that write on its own: two
        // CRM writes, and no pair went round again.
        assert_eq!(batches.lock().unwrap().clone(), vec![K], "{kind:?}");
        assert_eq!(crm_writes(&h, &spent), 2, "{kind:?}: {:#?}", shown(&spent));
        for id in &ids {
            assert_eq!(
                opportunity_of(&h, id)[h.column("notes")],
                json!("Reached at last"),
                "{kind:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_throttled_batch_waits_as_told_and_writes_every_record_once() {
    for kind in [Kind::Dataverse, Kind::Salesforce] {
        let (h, clock) = harness(kind, false).await;
        let sync = h.sync().await;
        let ids = linked_pairs(&h, &clock, &sync, 30).await;
        for id in &ids {
            h.edit_referral(
                id,
                json!([{"op": "replace", "path": "/details/notes", "value": "Throttled update"}]),
            );
        }
        clock.advance(SignedDuration::from_secs(5));
        let retry_after = std::time::Duration::from_secs(9);
        let operation = match kind {
            Kind::Dataverse => "dataverse.batch",
            Kind::Salesforce => "composite",
        };
        h.emulator.faults().add(
            FaultRule::new(h.crm_api(), Fault::TooManyRequests { retry_after })
                .operation(operation)
                .trigger(Trigger::First(1)),
        );
        let report = sync.reconcile(SweepMode::Delta).await.unwrap();
        assert_eq!(updated(&report), 30, "{kind:?}: {:#?}", report.outcomes);
        assert!(h.sleeper.sleeps().contains(&retry_after), "{kind:?}");
        assert!(
            !report
                .outcomes
                .iter()
                .any(|o| matches!(o.kind, OutcomeKind::Failed(_))),
            "{kind:?}"
        );
        assert!(report.partner_center_checkpoint.is_some(), "{kind:?}");
        assert!(
            h.opportunities()
                .iter()
                .all(|row| row[h.column("notes")] == json!("Throttled update"))
        );
    }
}
