//! The conformance suite every [`SyncStore`] must pass: call [`run_all`] from a test of your
//! store, built on the [`ManualClock`] you pass (the suite moves time to expire leases).
//!
//! Each check panics with a message naming the broken rule, as a test assertion does. The store
//! must be empty when the suite starts; it uses the tenants `conformance-a` and `conformance-b`.
//!
//! ```
//! use std::sync::Arc;
//! use cosell::http::ManualClock;
//! use cosell::store::{MemoryStore, conformance};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let clock = Arc::new(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
//! let store = MemoryStore::with_clock(clock.clone());
//! conformance::run_all(&store, &clock).await;
//! # });
//! ```

use std::time::Duration;

use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{
    AuditEntry, Baseline, Checkpoint, DeadLetter, DeadLetterId, Link, LinkState, PairCounts,
    PairId, RecordRef, Retention, Snapshot, StoreError, SyncStore, TenantId,
};
use crate::http::{Clock, ManualClock};

const TTL: Duration = Duration::from_secs(30);

fn tenant(name: &str) -> TenantId {
    TenantId::new(format!("conformance-{name}")).expect("a valid tenant id")
}

fn referral(id: &str) -> RecordRef {
    RecordRef::Referral(id.to_owned())
}

fn crm(id: &str) -> RecordRef {
    RecordRef::Crm(id.to_owned())
}

fn later(clock: &ManualClock, by: Duration) -> Timestamp {
    clock.advance(by);
    clock.now()
}

fn fenced<T: std::fmt::Debug>(result: Result<T, StoreError>, rule: &str) {
    match result {
        Err(StoreError::Fenced { .. }) => {}
        other => panic!("{rule}: expected a fenced refusal, got {other:?}"),
    }
}

/// Runs every check, in order.
pub async fn run_all(store: &dyn SyncStore, clock: &ManualClock) {
    pair_locks(store, clock).await;
    links_and_baselines(store, clock).await;
    processed_events(store, clock).await;
    leases_and_checkpoints(store, clock).await;
    inbox(store, clock).await;
    dead_letters_audit_unmapped_and_secrets(store, clock).await;
    pair_counts(store, clock).await;
    merged_dead_letters(store, clock).await;
    retention(store, clock).await;
}

/// Pair locks: all or none, exclusive per owner, expiring, fenced, extendable.
pub async fn pair_locks(store: &dyn SyncStore, clock: &ManualClock) {
    let t = tenant("a");
    let a = store
        .lock_pair(&t, &[crm("lk-1"), referral("lk-1")], "worker-a", TTL)
        .await
        .expect("lock_pair")
        .expect("a free pair can be locked");
    assert_eq!(
        a.records,
        vec![referral("lk-1"), crm("lk-1")],
        "lock records are sorted"
    );
    assert!(
        store
            .lock_pair(&t, &[referral("lk-1")], "worker-b", TTL)
            .await
            .expect("lock_pair")
            .is_none(),
        "a locked record cannot be locked by another owner"
    );
    assert!(
        store
            .lock_pair(&t, &[referral("lk-2"), crm("lk-1")], "worker-b", TTL)
            .await
            .expect("lock_pair")
            .is_none(),
        "a lock is all or none"
    );
    assert!(
        store
            .lock_pair(&t, &[referral("lk-2")], "worker-b", TTL)
            .await
            .expect("lock_pair")
            .is_some(),
        "the failed all-or-none attempt left no lock behind"
    );
    assert!(
        store
            .lock_pair(&tenant("b"), &[referral("lk-1")], "worker-b", TTL)
            .await
            .expect("lock_pair")
            .is_some(),
        "locks are per tenant"
    );

    // Extending: the new record joins the lock under the same token.
    let extended = store
        .extend_pair_lock(&a, &[crm("lk-1b")])
        .await
        .expect("extend")
        .expect("a free record can be added");
    assert_eq!(extended.token, a.token);
    assert!(extended.records.contains(&crm("lk-1b")));
    assert!(
        store
            .extend_pair_lock(&a, &[referral("lk-2")])
            .await
            .expect("extend")
            .is_none(),
        "a record locked by another owner cannot be added"
    );

    // Renewal keeps the lock past its first expiry.
    later(clock, Duration::from_secs(20));
    let renewed = store.renew_pair_lock(&extended, TTL).await.expect("renew");
    later(clock, Duration::from_secs(20));
    assert!(
        store
            .lock_pair(&t, &[referral("lk-1")], "worker-b", TTL)
            .await
            .expect("lock_pair")
            .is_none(),
        "a renewed lock holds"
    );

    // Expiry: another owner takes over with a larger token, and the old holder is fenced.
    later(clock, TTL);
    let b = store
        .lock_pair(&t, &[referral("lk-1")], "worker-b", TTL)
        .await
        .expect("lock_pair")
        .expect("an expired lock can be taken over");
    assert!(b.token > renewed.token, "fencing tokens grow");
    fenced(
        store.renew_pair_lock(&renewed, TTL).await,
        "a lock taken over cannot be renewed",
    );
    let link = Link::new(Some("lk-1".into()), None, LinkState::Pending, clock.now());
    fenced(
        store.save_link(&renewed, &link).await,
        "an update under a lost lock is refused",
    );

    // Unlocking frees only one's own lock.
    store.unlock_pair(&renewed).await.expect("unlock");
    assert!(
        store
            .lock_pair(&t, &[referral("lk-1")], "worker-c", TTL)
            .await
            .expect("lock_pair")
            .is_none(),
        "unlocking a lost lock does not free the new holder's"
    );
    store.unlock_pair(&b).await.expect("unlock");
    assert!(
        store
            .lock_pair(&t, &[referral("lk-1")], "worker-c", TTL)
            .await
            .expect("lock_pair")
            .is_some(),
        "an unlocked record can be locked"
    );
}

/// Links and baselines: unique per record, fenced, found by either id.
pub async fn links_and_baselines(store: &dyn SyncStore, clock: &ManualClock) {
    let t = tenant("a");
    let lock = store
        .lock_pair(&t, &[crm("ln-1")], "worker-a", TTL)
        .await
        .expect("lock_pair")
        .expect("free");
    // A pending link: the CRM record exists, the referral is being created.
    let mut link = Link::new(None, Some("ln-1".into()), LinkState::Pending, clock.now());
    store
        .save_link(&lock, &link)
        .await
        .expect("save a pending link");
    assert_eq!(
        store.links(&t, LinkState::Pending).await.expect("links"),
        vec![link.clone()]
    );
    assert!(
        store
            .link_by_referral(&t, "ln-1")
            .await
            .expect("link")
            .is_none(),
        "ids of the two sides are not confused"
    );

    // The referral id is learnt: it must be locked before the link can name it.
    link.referral_id = Some("ln-r1".into());
    link.state = LinkState::Linked;
    fenced(
        store.save_link(&lock, &link).await,
        "a link naming a record outside the lock is refused",
    );
    let lock = store
        .extend_pair_lock(&lock, &[referral("ln-r1")])
        .await
        .expect("extend")
        .expect("free");
    store
        .save_link(&lock, &link)
        .await
        .expect("save the linked pair");
    assert_eq!(
        store.link_by_referral(&t, "ln-r1").await.expect("link"),
        Some(link.clone())
    );
    assert_eq!(
        store.link_by_crm(&t, "ln-1").await.expect("link"),
        Some(link.clone())
    );
    assert!(
        store
            .links(&t, LinkState::Pending)
            .await
            .expect("links")
            .is_empty()
    );
    assert!(
        store
            .link_by_crm(&tenant("b"), "ln-1")
            .await
            .expect("link")
            .is_none(),
        "links are per tenant"
    );

    // A second pair may not claim a record that is already linked.
    let other = Link::new(
        Some("ln-r1".into()),
        Some("ln-2".into()),
        LinkState::Linked,
        clock.now(),
    );
    let lock2 = store
        .lock_pair(&t, &[crm("ln-2")], "worker-a", TTL)
        .await
        .expect("lock_pair")
        .expect("free");
    let lock2 = store
        .extend_pair_lock(&lock2, &[])
        .await
        .expect("extend")
        .expect("nothing to add");
    store.unlock_pair(&lock).await.expect("unlock");
    let lock2 = store
        .extend_pair_lock(&lock2, &[referral("ln-r1")])
        .await
        .expect("extend")
        .expect("free after unlock");
    match store.save_link(&lock2, &other).await {
        Err(StoreError::Refused(_)) => {}
        other => panic!("a record linked twice must be refused, got {other:?}"),
    }

    // Baselines belong to linked pairs and are fenced by their lock.
    let baseline = Baseline {
        snapshot: Snapshot::encode(&json!({"name": "Contoso", "amount": "100.00"}))
            .expect("encode"),
        hash: "h1".into(),
        referral_etag: Some("\"e1\"".into()),
        referral_modified: Some(clock.now()),
        crm_version: Some("W/\"7\"".into()),
        crm_modified: Some(clock.now()),
        held: None,
        updated_at: clock.now(),
    };
    let lock = store
        .lock_pair(&t, &[referral("ln-r1"), crm("ln-1")], "worker-b", TTL)
        .await
        .expect("lock_pair");
    assert!(lock.is_none(), "worker-a's second lock still holds ln-r1");
    store.unlock_pair(&lock2).await.expect("unlock");
    let lock = store
        .lock_pair(&t, &[referral("ln-r1"), crm("ln-1")], "worker-b", TTL)
        .await
        .expect("lock_pair")
        .expect("free");
    store
        .save_baseline(&lock, link.pair, &baseline)
        .await
        .expect("save baseline");
    assert_eq!(
        store.baseline(&t, link.pair).await.expect("baseline"),
        Some(baseline.clone())
    );
    let unknown = super::PairId::random();
    match store.save_baseline(&lock, unknown, &baseline).await {
        Err(StoreError::Refused(_)) => {}
        other => panic!("a baseline without a link must be refused, got {other:?}"),
    }
    later(clock, TTL);
    fenced(
        store.save_baseline(&lock, link.pair, &baseline).await,
        "a baseline under an expired lock is refused",
    );

    // Unlinking keeps the link, so that the pair is never recreated.
    let lock = store
        .lock_pair(&t, &[referral("ln-r1"), crm("ln-1")], "worker-b", TTL)
        .await
        .expect("lock_pair")
        .expect("free");
    link.state = LinkState::Unlinked;
    link.reason = Some("the CRM record was deleted".into());
    store.save_link(&lock, &link).await.expect("unlink");
    assert_eq!(
        store
            .link_by_crm(&t, "ln-1")
            .await
            .expect("link")
            .map(|l| l.state),
        Some(LinkState::Unlinked)
    );
    store.unlock_pair(&lock).await.expect("unlock");
}

/// Processed event keys: marked once until they expire.
pub async fn processed_events(store: &dyn SyncStore, clock: &ManualClock) {
    let t = tenant("a");
    let expires = clock.now() + jiff::SignedDuration::from_hours(1);
    assert!(
        store
            .mark_processed(&t, "ev-1", expires)
            .await
            .expect("mark")
    );
    assert!(
        !store
            .mark_processed(&t, "ev-1", expires)
            .await
            .expect("mark"),
        "marked once"
    );
    assert!(store.is_processed(&t, "ev-1").await.expect("is_processed"));
    assert!(
        store
            .mark_processed(&tenant("b"), "ev-1", expires)
            .await
            .expect("mark"),
        "keys are per tenant"
    );
    later(clock, Duration::from_secs(3601));
    assert!(
        !store.is_processed(&t, "ev-1").await.expect("is_processed"),
        "marks expire"
    );
    let again = clock.now() + jiff::SignedDuration::from_hours(1);
    assert!(
        store.mark_processed(&t, "ev-1", again).await.expect("mark"),
        "an expired key can be marked again"
    );
}

/// Leases fence checkpoints; checkpoints keep their tie-breaking id.
pub async fn leases_and_checkpoints(store: &dyn SyncStore, clock: &ManualClock) {
    let t = tenant("a");
    let sweep = store
        .acquire_lease(&t, "sweep/dataverse", "worker-a", TTL)
        .await
        .expect("lease")
        .expect("a free lease");
    assert!(
        store
            .acquire_lease(&t, "sweep/dataverse", "worker-b", TTL)
            .await
            .expect("lease")
            .is_none(),
        "one holder at a time"
    );
    assert!(
        store
            .acquire_lease(&t, "sweep/salesforce", "worker-b", TTL)
            .await
            .expect("lease")
            .is_some(),
        "leases are per name"
    );
    assert!(
        store
            .checkpoint(&t, "dataverse")
            .await
            .expect("checkpoint")
            .is_none()
    );
    let checkpoint = Checkpoint {
        at: "2026-01-01T10:00:00Z".parse().expect("a timestamp"),
        last_id: Some("id-500".into()),
    };
    store
        .save_checkpoint(&sweep, "dataverse", &checkpoint)
        .await
        .expect("save checkpoint");
    assert_eq!(
        store.checkpoint(&t, "dataverse").await.expect("checkpoint"),
        Some(checkpoint.clone())
    );
    later(clock, TTL);
    let taken = store
        .acquire_lease(&t, "sweep/dataverse", "worker-b", TTL)
        .await
        .expect("lease")
        .expect("an expired lease can be taken over");
    assert!(taken.token > sweep.token, "fencing tokens grow");
    fenced(
        store
            .save_checkpoint(
                &sweep,
                "dataverse",
                &Checkpoint {
                    at: clock.now(),
                    last_id: None,
                },
            )
            .await,
        "a checkpoint under a lost lease is refused",
    );
    assert_eq!(
        store.checkpoint(&t, "dataverse").await.expect("checkpoint"),
        Some(checkpoint),
        "the refused checkpoint changed nothing"
    );
    store.release_lease(&sweep).await.expect("release");
    assert!(
        store
            .acquire_lease(&t, "sweep/dataverse", "worker-c", TTL)
            .await
            .expect("lease")
            .is_none(),
        "releasing a lost lease does not free the new holder's"
    );
    store.release_lease(&taken).await.expect("release");
    assert!(
        store
            .acquire_lease(&t, "sweep/dataverse", "worker-c", TTL)
            .await
            .expect("lease")
            .is_some()
    );
}

/// The inbox: deduplicated, claimed once, taken over when a claim lapses, retried later.
pub async fn inbox(store: &dyn SyncStore, clock: &ManualClock) {
    let t = tenant("a");
    let first = store
        .enqueue(&t, "key-1", json!({"EventName": "referral-created"}))
        .await
        .expect("enqueue")
        .expect("a new event");
    assert!(
        store
            .enqueue(&t, "key-1", json!({}))
            .await
            .expect("enqueue")
            .is_none(),
        "a redelivery of a waiting event is dropped"
    );
    later(clock, Duration::from_secs(1));
    store
        .enqueue(&t, "key-2", json!({"EventName": "referral-updated"}))
        .await
        .expect("enqueue")
        .expect("a new event");
    store
        .enqueue(&tenant("b"), "key-1", json!({}))
        .await
        .expect("enqueue")
        .expect("keys are per tenant");
    assert_eq!(store.inbox_depth(&t).await.expect("depth"), 2);

    let claimed = store
        .claim_events(Some(&t), "worker-a", TTL, 1)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].event.id, first, "oldest first");
    assert_eq!(claimed[0].event.attempts, 1);
    let others = store
        .claim_events(Some(&t), "worker-b", TTL, 10)
        .await
        .expect("claim");
    assert_eq!(others.len(), 1, "a claimed event is not claimed twice");
    assert_eq!(others[0].event.dedupe_key, "key-2");

    // worker-a dies: its claim lapses and worker-b takes the event over.
    later(clock, TTL);
    let taken = store
        .claim_events(Some(&t), "worker-b", TTL, 10)
        .await
        .expect("claim");
    let taken_first = taken
        .iter()
        .find(|c| c.event.id == first)
        .expect("taken over");
    assert_eq!(taken_first.event.attempts, 2);
    fenced(
        store.complete_event(&claimed[0]).await,
        "a lapsed claim cannot complete the event",
    );
    store.complete_event(taken_first).await.expect("complete");
    assert!(
        store
            .enqueue(&t, "key-1", json!({}))
            .await
            .expect("enqueue")
            .is_some(),
        "a completed event's key may arrive again (processed marks dedupe it)"
    );

    // Retry later: not claimable before its time.
    let key2 = taken
        .iter()
        .find(|c| c.event.dedupe_key == "key-2")
        .expect("key-2");
    let not_before = clock.now() + jiff::SignedDuration::from_mins(5);
    store.retry_event(key2, not_before).await.expect("retry");
    let now_ready = store
        .claim_events(Some(&t), "worker-c", TTL, 10)
        .await
        .expect("claim");
    assert!(
        now_ready.iter().all(|c| c.event.dedupe_key != "key-2"),
        "an event given back is not claimed before its time"
    );
    later(clock, Duration::from_secs(301));
    let ready = store
        .claim_events(None, "worker-c", TTL, 10)
        .await
        .expect("claim");
    assert!(ready.iter().any(|c| c.event.dedupe_key == "key-2"));
    assert!(
        ready.iter().any(|c| c.event.tenant == tenant("b")),
        "claiming without a tenant claims every tenant's events"
    );
    for claim in &ready {
        store.complete_event(claim).await.expect("complete");
    }
    for claim in &now_ready {
        store.complete_event(claim).await.ok();
    }
}

/// Dead letters, the audit trail, unmapped values and secrets.
pub async fn dead_letters_audit_unmapped_and_secrets(store: &dyn SyncStore, clock: &ManualClock) {
    let t = tenant("a");
    let letter = |error: &str| DeadLetter {
        id: DeadLetterId(0),
        tenant: t.clone(),
        records: vec![referral("dl-1")],
        error: error.to_owned(),
        kind: "throttled".into(),
        payload: json!({"referral": "dl-1"}),
        attempts: 5,
        at: clock.now(),
    };
    let one = store
        .add_dead_letter(letter("first"))
        .await
        .expect("dead letter");
    let two = store
        .add_dead_letter(letter("second"))
        .await
        .expect("dead letter");
    assert_ne!(one, two);
    let listed = store.dead_letters(&t, 10).await.expect("dead letters");
    assert_eq!(
        listed.iter().map(|l| l.error.as_str()).collect::<Vec<_>>(),
        ["first", "second"],
        "oldest first"
    );
    assert!(
        store
            .dead_letters(&tenant("b"), 10)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        store
            .dead_letter(&t, two)
            .await
            .expect("read")
            .map(|l| (l.id, l.error)),
        Some((two, "second".to_owned())),
        "read by id, with its id"
    );
    assert!(
        store
            .dead_letter(&tenant("b"), two)
            .await
            .expect("read")
            .is_none(),
        "another tenant cannot read it"
    );
    assert!(
        store
            .take_dead_letter(&tenant("b"), one)
            .await
            .expect("take")
            .is_none(),
        "another tenant cannot take it"
    );
    assert_eq!(
        store
            .take_dead_letter(&t, one)
            .await
            .expect("take")
            .map(|l| l.error),
        Some("first".into())
    );
    assert_eq!(store.dead_letters(&t, 10).await.expect("list").len(), 1);
    assert!(
        store.dead_letter(&t, one).await.expect("read").is_none(),
        "a letter taken is gone"
    );

    for outcome in ["created", "updated", "held"] {
        store
            .append_audit(AuditEntry {
                tenant: t.clone(),
                pair: None,
                records: vec![referral("au-1")],
                at: clock.now(),
                outcome: outcome.into(),
                fields: vec!["amount".into()],
                detail: None,
            })
            .await
            .expect("audit");
    }
    let audit = store.audit(&t, None, 2).await.expect("audit");
    assert_eq!(
        audit.iter().map(|e| e.outcome.as_str()).collect::<Vec<_>>(),
        ["held", "updated"],
        "newest first, at most the limit"
    );

    assert!(
        store
            .record_unmapped(&t, "helpCode", "NewCode")
            .await
            .expect("unmapped")
    );
    later(clock, Duration::from_secs(5));
    assert!(
        !store
            .record_unmapped(&t, "helpCode", "NewCode")
            .await
            .expect("unmapped")
    );
    let unmapped = store.unmapped(&t).await.expect("unmapped");
    assert_eq!(unmapped.len(), 1);
    assert_eq!(unmapped[0].count, 2);
    assert!(unmapped[0].last_seen > unmapped[0].first_seen);

    let token = SecretString::from("refresh-1");
    store
        .save_secret(&t, "partner-center", &token)
        .await
        .expect("secret");
    store
        .save_secret(&t, "partner-center", &SecretString::from("refresh-2"))
        .await
        .expect("secret");
    assert_eq!(
        store
            .secret(&t, "partner-center")
            .await
            .expect("secret")
            .map(|s| s.expose_secret().to_owned()),
        Some("refresh-2".into()),
        "the newest secret wins"
    );
    assert!(
        store
            .secret(&tenant("b"), "partner-center")
            .await
            .expect("secret")
            .is_none()
    );
}

/// Pair counts: links by state, and each subject's newest telling audit outcome (a pair, the
/// link of an entry's record, or the record itself), per tenant.
pub async fn pair_counts(store: &dyn SyncStore, clock: &ManualClock) {
    let t = tenant("counts");
    let other = tenant("counts-other");
    assert_eq!(
        store.pair_counts(&t).await.expect("pair_counts"),
        PairCounts::default(),
        "an empty tenant"
    );
    let link = |t: &TenantId, referral_id: Option<&str>, crm_id: &str, state: LinkState| {
        let (t, referral_id, crm_id) =
            (t.clone(), referral_id.map(str::to_owned), crm_id.to_owned());
        async move {
            let link = Link::new(referral_id, Some(crm_id), state, clock.now());
            let lock = store
                .lock_pair(&t, &link.records(), "worker-counts", TTL)
                .await
                .expect("lock_pair")
                .expect("free");
            store.save_link(&lock, &link).await.expect("save_link");
            store.unlock_pair(&lock).await.expect("unlock_pair");
            link.pair
        }
    };
    let held = link(&t, Some("pc-r1"), "pc-c1", LinkState::Linked).await;
    let in_sync = link(&t, Some("pc-r2"), "pc-c2", LinkState::Linked).await;
    link(&t, Some("pc-r3"), "pc-c3", LinkState::Linked).await;
    link(&t, None, "pc-c4", LinkState::Pending).await;
    let unlinked = link(&t, Some("pc-r5"), "pc-c5", LinkState::Unlinked).await;
    let foreign = link(&other, Some("pc-r1"), "pc-c1", LinkState::Linked).await;
    let audit = |t: &TenantId, pair: Option<PairId>, record: RecordRef, outcome: &str| {
        let entry = AuditEntry {
            tenant: t.clone(),
            pair,
            records: vec![record],
            at: later(clock, Duration::from_secs(1)),
            outcome: outcome.into(),
            fields: Vec::new(),
            detail: None,
        };
        async move { store.append_audit(entry).await.expect("audit") }
    };
    // Held last: busy says nothing of where a pair stands.
    audit(&t, Some(held), referral("pc-r1"), "created").await;
    audit(&t, Some(held), referral("pc-r1"), "held").await;
    audit(&t, Some(held), referral("pc-r1"), "busy").await;
    // Failed, then synced: in sync.
    audit(&t, Some(in_sync), crm("pc-c2"), "failed").await;
    audit(&t, Some(in_sync), crm("pc-c2"), "updated").await;
    // An entry without a pair counts for the link holding its record.
    audit(&t, None, crm("pc-c3"), "conflict").await;
    // Records never linked count on their own.
    audit(&t, None, referral("pc-r9"), "excluded").await;
    audit(&t, None, referral("pc-r9"), "duplicate").await;
    audit(&t, None, referral("pc-r10"), "failed").await;
    audit(&t, None, referral("pc-r10"), "rejected").await;
    audit(&t, Some(unlinked), referral("pc-r5"), "excluded").await;
    // Another tenant's entries count for that tenant only.
    audit(&other, Some(foreign), referral("pc-r1"), "failed").await;
    audit(&other, None, referral("pc-r1"), "conflict").await;

    let expected = PairCounts {
        in_sync: 1,
        linked: 3,
        pending: 1,
        unlinked: 1,
        excluded: 2,
        held: 1,
        conflict: 1,
        failing: 1,
    };
    assert_eq!(store.pair_counts(&t).await.expect("pair_counts"), expected);
    let expected = PairCounts {
        linked: 1,
        conflict: 1,
        ..PairCounts::default()
    };
    assert_eq!(
        store.pair_counts(&other).await.expect("pair_counts"),
        expected,
        "the last telling entry of the other tenant's pair (by its record) is a conflict"
    );
}

/// Merged dead letters: the same kind of work on the same records of one tenant is one letter,
/// updated in place; anything else is a letter of its own.
pub async fn merged_dead_letters(store: &dyn SyncStore, clock: &ManualClock) {
    let t = tenant("merge");
    let letter = |t: &TenantId, kind: &str, records: Vec<RecordRef>, error: &str| DeadLetter {
        id: DeadLetterId(0),
        tenant: t.clone(),
        records,
        error: error.to_owned(),
        kind: kind.into(),
        payload: json!({ "error": error }),
        attempts: 3,
        at: later(clock, Duration::from_secs(1)),
    };
    let first = store
        .merge_dead_letter(letter(&t, "referral", vec![referral("mg-1")], "first"))
        .await
        .expect("merge_dead_letter");
    let again = letter(&t, "referral", vec![referral("mg-1")], "second");
    let again_at = again.at;
    assert_eq!(
        store.merge_dead_letter(again).await.expect("merge"),
        first,
        "the same work is the same letter"
    );
    let listed = store.dead_letters(&t, 10).await.expect("dead letters");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].id, first);
    assert_eq!(listed[0].error, "second", "the newest error");
    assert_eq!(listed[0].payload, json!({"error": "second"}));
    assert_eq!(listed[0].attempts, 6, "the attempts add up");
    assert_eq!(listed[0].at, again_at, "the newest failure's time");
    // Another kind, other records, another tenant: letters of their own.
    let others = [
        letter(&t, "crm", vec![referral("mg-1")], "kind"),
        letter(&t, "referral", vec![referral("mg-2")], "records"),
        letter(
            &t,
            "referral",
            vec![referral("mg-1"), crm("mg-c1")],
            "more records",
        ),
        letter(
            &tenant("merge-other"),
            "referral",
            vec![referral("mg-1")],
            "tenant",
        ),
    ];
    let mut ids = vec![first];
    for other in others {
        let id = store.merge_dead_letter(other).await.expect("merge");
        assert!(!ids.contains(&id), "{id:?} in {ids:?}");
        ids.push(id);
    }
    assert_eq!(store.dead_letters(&t, 10).await.expect("list").len(), 4);
    // Workers merging the same failure at once make one letter, every attempt counted.
    let busy = tenant("merge-at-once");
    let merges = (0..8).map(|n| {
        store.merge_dead_letter(letter(
            &busy,
            "referral",
            vec![referral("mg-9")],
            &format!("worker {n}"),
        ))
    });
    let merged = futures::future::try_join_all(merges).await.expect("merges");
    assert!(merged.iter().all(|id| *id == merged[0]), "{merged:?}");
    let listed = store.dead_letters(&busy, 10).await.expect("list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].attempts, 24, "8 merges of 3 attempts");
    // A letter taken off the list is not merged into: the next failure is a new letter.
    store
        .take_dead_letter(&t, first)
        .await
        .expect("take")
        .expect("the letter");
    let after = store
        .merge_dead_letter(letter(&t, "referral", vec![referral("mg-1")], "after"))
        .await
        .expect("merge");
    assert_ne!(after, first);
    let letter = store
        .dead_letter(&t, after)
        .await
        .expect("dead_letter")
        .expect("the new letter");
    assert_eq!((letter.error.as_str(), letter.attempts), ("after", 3));
}

/// Retention: expired event marks go and unexpired ones stay; audit entries and dead letters
/// go when older than their cut-off (one stamped at the cut-off stays), and without a cut-off
/// they stay; purging again removes nothing more.
pub async fn retention(store: &dyn SyncStore, clock: &ManualClock) {
    let t = tenant("b");
    let entry = |outcome: &str, at: Timestamp| AuditEntry {
        tenant: t.clone(),
        pair: None,
        records: vec![referral("kept-or-not")],
        at,
        outcome: outcome.into(),
        fields: vec!["notes".into()],
        detail: None,
    };
    let letter = |error: &str, at: Timestamp| DeadLetter {
        id: DeadLetterId(0),
        tenant: t.clone(),
        records: vec![referral("kept-or-not")],
        error: error.into(),
        kind: "failed".into(),
        payload: json!({}),
        attempts: 1,
        at,
    };
    let old = clock.now();
    store.append_audit(entry("old", old)).await.expect("audit");
    store
        .add_dead_letter(letter("old", old))
        .await
        .expect("dead letter");
    let soon = old + jiff::SignedDuration::from_secs(10);
    store
        .mark_processed(&t, "short-lived", soon)
        .await
        .expect("mark");
    let cutoff = later(clock, Duration::from_secs(60));
    store
        .append_audit(entry("new", cutoff))
        .await
        .expect("audit");
    store
        .add_dead_letter(letter("new", cutoff))
        .await
        .expect("dead letter");
    let long = cutoff + jiff::SignedDuration::from_hours(1);
    store
        .mark_processed(&t, "long-lived", long)
        .await
        .expect("mark");
    later(clock, Duration::from_secs(1));

    let outcomes = |entries: Vec<AuditEntry>| -> Vec<String> {
        entries.into_iter().map(|e| e.outcome).collect()
    };
    let errors = |letters: Vec<DeadLetter>| -> Vec<String> {
        letters.into_iter().map(|l| l.error).collect()
    };
    let removed = store.purge(&Retention::default()).await.expect("purge");
    assert!(removed >= 1, "the expired mark goes");
    assert_eq!(
        store.purge(&Retention::default()).await.expect("purge"),
        0,
        "purging again removes nothing"
    );
    assert_eq!(
        outcomes(store.audit(&t, None, 10).await.expect("audit")),
        ["new", "old"],
        "without a cut-off the audit trail stays"
    );
    assert_eq!(
        errors(store.dead_letters(&t, 10).await.expect("list")),
        ["old", "new"],
        "without a cut-off dead letters stay"
    );

    let cutoffs = Retention {
        audit_before: Some(cutoff),
        dead_letters_before: Some(cutoff),
    };
    let removed = store.purge(&cutoffs).await.expect("purge");
    assert!(
        removed >= 2,
        "the old entry and the old letter go: {removed}"
    );
    assert_eq!(store.purge(&cutoffs).await.expect("purge"), 0);
    assert_eq!(
        outcomes(store.audit(&t, None, 10).await.expect("audit")),
        ["new"],
        "only entries older than the cut-off go"
    );
    assert_eq!(
        errors(store.dead_letters(&t, 10).await.expect("list")),
        ["new"],
        "only letters older than the cut-off go"
    );
    assert!(
        store.is_processed(&t, "long-lived").await.expect("read"),
        "an unexpired mark stays"
    );
    assert!(
        !store
            .mark_processed(&t, "long-lived", long)
            .await
            .expect("mark"),
        "an unexpired mark stays"
    );
    assert!(
        store
            .mark_processed(&t, "short-lived", long)
            .await
            .expect("mark"),
        "an expired key can be marked again"
    );
    // The cut-offs apply to every tenant: what the earlier checks left, all older, went too.
    assert!(
        store
            .audit(&tenant("a"), None, 100)
            .await
            .expect("audit")
            .iter()
            .all(|e| e.at >= cutoff)
    );
}
