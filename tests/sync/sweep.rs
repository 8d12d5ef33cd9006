//! Reconciliation sweeps against the emulator, both CRMs.

use std::sync::Arc;

use cosell::sync::{OutcomeKind, SweepMode};
use serde_json::json;

use crate::harness::{BOTH, Harness, Kind, shared_referral};

#[tokio::test]
async fn a_delta_sweep_recovers_a_dropped_webhook_and_changes_made_while_down() {
    for kind in BOTH {
        let h = Harness::new(kind).await;
        let sync = h.sync().await;
        // Shared while nobody listened.
        let dropped = h.share(shared_referral("Dropped"));
        let report = sync.reconcile(SweepMode::Delta).await.unwrap();
        assert!(!report.skipped);
        assert_eq!(
            report.count("created"),
            1,
            "{kind:?}: {:?}",
            report.outcomes
        );
        assert_eq!(h.opportunities().len(), 1);
        let crm_id = h.id_of(&h.opportunities()[0]);
        assert!(report.partner_center_checkpoint.is_some());

        // Changed on both sides while the service was down.
        h.edit_referral(
            &dropped,
            json!([{"op": "replace", "path": "/details/notes", "value": "changed while down"}]),
        );
        let seller = h.seller_opportunity("Flagged While Down");
        let report = sync.reconcile(SweepMode::Delta).await.unwrap();
        assert_eq!(
            h.opportunity(&crm_id).unwrap()[h.column("notes")],
            json!("changed while down"),
            "{kind:?}: {:?}",
            report.outcomes
        );
        assert!(
            h.referrals().iter().any(|r| r["externalReferenceId"]
                .as_str()
                .map(cosell::sync::RecordId::new)
                == Some(cosell::sync::RecordId::new(&seller))),
            "{kind:?}: {:?}",
            report.outcomes
        );
        // Nothing new: a sweep writes nothing.
        let before = h.writes().len();
        let report = sync.reconcile(SweepMode::Delta).await.unwrap();
        assert!(
            report.outcomes.iter().all(|o| !o.kind.wrote()),
            "{kind:?}: {:?}",
            report.outcomes
        );
        assert_eq!(h.writes().len(), before);
    }
}

#[tokio::test]
async fn a_full_sweep_links_what_exists_and_unlinks_what_was_deleted() {
    for kind in BOTH {
        let h = Harness::new(kind).await;
        let sync = h.sync().await;
        // An opportunity created for a referral before the sync was configured (by hand, or by
        // Microsoft's connector), carrying the referral id.
        let id = h.share(shared_referral("Existing"));
        let existing = h.seller_opportunity("Existing");
        h.edit_opportunity(&existing, json!({ h.column("referral_id"): id }));
        // And a linked pair whose opportunity is then deleted.
        let doomed = h.share(shared_referral("Doomed"));
        let doomed_crm = sync.sync_referral(&doomed).await.crm_id.unwrap();
        h.delete_opportunity(&doomed_crm);

        let report = sync.reconcile(SweepMode::Full).await.unwrap();
        let opportunities = h.opportunities();
        assert_eq!(
            opportunities.len(),
            1,
            "{kind:?}: linked, not duplicated: {:?}",
            report.outcomes
        );
        assert_eq!(h.id_of(&opportunities[0]), existing);
        assert_eq!(
            h.referral(&id)["externalReferenceId"]
                .as_str()
                .map(cosell::sync::RecordId::new),
            Some(cosell::sync::RecordId::new(&existing)),
            "{kind:?}"
        );
        assert!(
            report
                .outcomes
                .iter()
                .any(|o| matches!(o.kind, OutcomeKind::Unlinked)),
            "{kind:?}: {:?}",
            report.outcomes
        );
        // A second full sweep neither recreates the deleted record nor writes anything.
        let before = h.writes().len();
        let report = sync.reconcile(SweepMode::Full).await.unwrap();
        assert!(
            report.outcomes.iter().all(|o| !o.kind.wrote()),
            "{kind:?}: {:?}",
            report.outcomes
        );
        assert_eq!(h.writes().len(), before);
        assert_eq!(h.opportunities().len(), 1);
    }
}

#[tokio::test]
async fn records_sharing_one_second_across_pages_are_neither_skipped_nor_synced_twice() {
    for kind in BOTH {
        let clock = Arc::new(cosell_emulator::ManualClock::new(
            "2026-11-30T09:00:00Z".parse().unwrap(),
        ));
        let h = Harness::with_clock(kind, clock.clone()).await;
        h.emulator.partner_center().set_page_size(40);
        let sync = h.builder().max_in_flight(8).build().await.unwrap();
        let count = 500;
        for n in 0..count {
            h.share(shared_referral(&format!("Tie {n}")));
        }
        let seen = std::sync::atomic::AtomicUsize::new(0);
        let report = sync
            .reconcile_with(SweepMode::Delta, |progress| {
                assert!(progress.done <= progress.total);
                seen.fetch_max(progress.done, std::sync::atomic::Ordering::Relaxed);
            })
            .await
            .unwrap();
        assert_eq!(seen.into_inner(), count, "progress reached every pair");
        assert_eq!(report.referrals_listed, count, "{kind:?}");
        assert_eq!(report.count("created"), count, "{kind:?}");
        let opportunities = h.opportunities();
        assert_eq!(opportunities.len(), count, "{kind:?}");
        let distinct: std::collections::HashSet<String> = opportunities
            .iter()
            .map(|row| row[h.column("referral_id")].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            distinct.len(),
            count,
            "{kind:?}: one opportunity per referral"
        );
        // Same second, nothing changed: the next sweep lists them again and writes nothing.
        let before = h.writes().len();
        let again = sync.reconcile(SweepMode::Delta).await.unwrap();
        assert_eq!(again.count("created"), 0, "{kind:?}");
        assert!(again.outcomes.iter().all(|o| !o.kind.wrote()), "{kind:?}");
        assert_eq!(h.writes().len(), before);
    }
}

#[tokio::test]
async fn one_sweep_per_tenant_at_a_time() {
    let h = Harness::new(Kind::Dataverse).await;
    let a = h.builder().worker("a").build().await.unwrap();
    let b = h.builder().worker("b").build().await.unwrap();
    h.share(shared_referral("Once"));
    let (x, y) = tokio::join!(a.reconcile(SweepMode::Delta), b.reconcile(SweepMode::Delta));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert!(
        x.skipped != y.skipped,
        "exactly one sweep ran: {} {}",
        x.skipped,
        y.skipped
    );
    assert_eq!(h.opportunities().len(), 1);
}

/// A sweep whose pairs take longer than the lock time in all (the clock moves 30 s per pair, the
/// lock time is 60 s) renews its lease as it goes: a second worker asking halfway is turned away,
/// and the sweep saves its checkpoints at the end.
#[tokio::test]
async fn a_sweep_longer_than_the_lock_time_keeps_its_lease() {
    let clock = Arc::new(cosell::http::ManualClock::new(
        "2026-11-30T09:00:00Z".parse().unwrap(),
    ));
    let store = Arc::new(cosell::store::MemoryStore::with_clock(clock.clone()));
    let h = Harness::with_store(Kind::Dataverse, store.clone()).await;
    let first = h
        .builder()
        .clock(clock.clone())
        .worker("first")
        .build()
        .await
        .unwrap();
    let second = h
        .builder()
        .clock(clock.clone())
        .worker("second")
        .build()
        .await
        .unwrap();
    for i in 0..6 {
        h.share(shared_referral(&format!("Long {i}")));
    }
    let (halfway, mut reached) = tokio::sync::mpsc::unbounded_channel();
    let long = first.reconcile_with(SweepMode::Delta, |progress| {
        clock.advance(std::time::Duration::from_secs(30));
        if progress.done == 4 {
            let _ = halfway.send(());
        }
    });
    let meanwhile = async {
        reached.recv().await;
        second.reconcile(SweepMode::Delta).await.unwrap()
    };
    let (long, meanwhile) = tokio::join!(long, meanwhile);
    let long = long.unwrap();
    assert!(
        meanwhile.skipped,
        "120 s in, the sweep's lease was still held"
    );
    assert!(!long.taken_over);
    assert_eq!(long.outcomes.len(), 6);
    let tenant = first.tenant().clone();
    let saved = cosell::store::SyncStore::checkpoint(&*store, &tenant, "sweep-partner-center")
        .await
        .unwrap();
    assert!(
        saved.is_some(),
        "the checkpoint was saved under the renewed lease"
    );
}

/// A hook that moves the clock on by 30 s at each look-up of a referral's link, once ticking:
/// a listing that takes that long.
#[derive(Debug, Default)]
struct SlowListing {
    clock: Option<Arc<cosell::http::ManualClock>>,
    ticking: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl crate::observed::StoreHook for SlowListing {
    async fn before(&self, _n: usize, op: &'static str) -> cosell::store::StoreResult<()> {
        if op == "link_by_referral"
            && self.ticking.load(std::sync::atomic::Ordering::SeqCst)
            && let Some(clock) = &self.clock
        {
            clock.advance(std::time::Duration::from_secs(30));
        }
        Ok(())
    }
}

/// A full sweep over settled pairs syncs none, so its only work is the listings; when they take
/// longer than the lock time (30 s a referral, 60 s lock time), the sweep renews its lease as it
/// lists and saves its checkpoints, rather than losing the lease and failing at the end.
#[tokio::test]
async fn a_sweep_whose_listings_outlast_the_lock_time_keeps_its_lease() {
    for kind in BOTH {
        let clock = Arc::new(cosell::http::ManualClock::new(
            "2026-11-30T09:00:00Z".parse().unwrap(),
        ));
        let store: Arc<dyn cosell::store::SyncStore> =
            Arc::new(cosell::store::MemoryStore::with_clock(clock.clone()));
        let h = Harness::with_store(kind, store.clone()).await;
        let hook = Arc::new(SlowListing {
            clock: Some(clock.clone()),
            ..SlowListing::default()
        });
        let observed = Arc::new(crate::observed::ObservedStore::new(
            store.clone(),
            hook.clone(),
        ));
        let sync = h
            .builder_on(h.mapping(), observed)
            .clock(clock.clone())
            .build()
            .await
            .unwrap();
        for i in 0..6 {
            h.share(shared_referral(&format!("Listed {i}")));
        }
        let first = sync.reconcile(SweepMode::Full).await.unwrap();
        assert_eq!(first.count("created"), 6, "{kind:?}: {:?}", first.outcomes);

        hook.ticking
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let started = cosell::http::Clock::now(&*clock);
        let report = sync.reconcile(SweepMode::Full).await.unwrap();
        assert!(
            cosell::http::Clock::now(&*clock).duration_since(started)
                >= jiff::SignedDuration::from_secs(180),
            "{kind:?}: the listing took three lock times"
        );
        assert!(!report.taken_over, "{kind:?}");
        assert_eq!(report.referrals_listed, 6, "{kind:?}");
        assert_eq!(report.unchanged, 6, "{kind:?}: {:?}", report.outcomes);
        let saved = store
            .checkpoint(sync.tenant(), "sweep-partner-center")
            .await
            .unwrap();
        assert_eq!(
            saved.map(|checkpoint| checkpoint.at),
            report.partner_center_checkpoint,
            "{kind:?}: the checkpoint was saved under the renewed lease"
        );
    }
}

/// A hook that plays another worker taking the sweep over once the first one's lease lapsed
/// (the first process was paused): at the first one's renewal, time jumps and the intruder
/// takes the lease.
#[derive(Debug)]
struct Intruder {
    store: Arc<dyn cosell::store::SyncStore>,
    clock: Arc<cosell::http::ManualClock>,
    leases: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl crate::observed::StoreHook for Intruder {
    async fn before(&self, _n: usize, op: &'static str) -> cosell::store::StoreResult<()> {
        if op == "acquire_lease"
            && self
                .leases
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                == 1
        {
            self.clock.advance(std::time::Duration::from_secs(600));
            let tenant = cosell::store::TenantId::new("contoso").unwrap();
            let taken = self
                .store
                .acquire_lease(
                    &tenant,
                    "sweep",
                    "intruder",
                    std::time::Duration::from_secs(60),
                )
                .await?;
            assert!(taken.is_some());
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_sweep_whose_lease_was_taken_over_stops_and_moves_no_checkpoint() {
    let clock = Arc::new(cosell::http::ManualClock::new(
        "2026-11-30T09:00:00Z".parse().unwrap(),
    ));
    let store: Arc<dyn cosell::store::SyncStore> =
        Arc::new(cosell::store::MemoryStore::with_clock(clock.clone()));
    let h = Harness::with_store(Kind::Dataverse, store.clone()).await;
    let hook = Arc::new(Intruder {
        store: store.clone(),
        clock: clock.clone(),
        leases: Default::default(),
    });
    let observed = Arc::new(crate::observed::ObservedStore::new(store.clone(), hook));
    let paused = h
        .builder_on(h.mapping(), observed)
        .clock(clock.clone())
        .worker("paused")
        .build()
        .await
        .unwrap();
    for i in 0..4 {
        h.share(shared_referral(&format!("Taken {i}")));
    }
    let report = paused
        .reconcile_with(SweepMode::Delta, |_| {
            clock.advance(std::time::Duration::from_secs(30))
        })
        .await
        .unwrap();
    assert!(report.taken_over, "{report:?}");
    assert!(
        report.outcomes.len() < 4,
        "it stopped: {} pairs",
        report.outcomes.len()
    );
    let tenant = paused.tenant().clone();
    for stream in ["sweep-partner-center", "sweep-crm"] {
        assert!(store.checkpoint(&tenant, stream).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn the_crm_poll_reads_every_page_of_a_long_listing() {
    use cosell::sync::Crm;
    for kind in [Kind::Dataverse, Kind::Salesforce] {
        let h = Harness::new(kind).await;
        let sync = h.sync().await;
        // One more than the largest page either CRM answers (Dataverse 5,000, Salesforce 2,000).
        let count = 5001;
        for i in 0..count {
            let name = format!("Listed {i}");
            match kind {
                Kind::Dataverse => {
                    h.emulator
                        .dataverse()
                        .seed(
                            "opportunities",
                            json!({"name": name, "cosell_syncwithpartnercenter": true}),
                        )
                        .unwrap();
                }
                Kind::Salesforce => {
                    h.emulator
                        .salesforce()
                        .seed(
                            "Opportunity",
                            json!({"Name": name, "StageName": "Prospecting", "CloseDate": "2027-03-31",
                                   "Sync_With_Partner_Center__c": true}),
                        )
                        .unwrap();
                }
            }
        }
        let crm: Box<dyn Crm> = match kind {
            Kind::Dataverse => Box::new(cosell::sync::DataverseCrm::new(h.dataverse(Some("t")))),
            Kind::Salesforce => Box::new(cosell::sync::SalesforceCrm::new(h.salesforce(Some("t")))),
        };
        let listed = crm
            .changed_since(jiff::Timestamp::UNIX_EPOCH, sync.columns())
            .await
            .unwrap();
        let distinct: std::collections::HashSet<&String> =
            listed.iter().map(|(id, _)| id).collect();
        assert_eq!(listed.len(), count, "{kind:?}");
        assert_eq!(distinct.len(), count, "{kind:?}");
    }
}
