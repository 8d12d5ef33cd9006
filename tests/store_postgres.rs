//! The PostgreSQL store, against the server named by `COSELL_TEST_DATABASE_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/test`). Each test works in a schema of its own, dropped
//! afterwards. Without the variable the tests say so and pass, except under CI (`CI` set), where
//! they must run. Built without the `postgres` feature, the file holds one ignored test that says
//! how to run them.

#[cfg(not(feature = "postgres"))]
#[test]
#[ignore = "the PostgreSQL store tests need `--features postgres` and COSELL_TEST_DATABASE_URL"]
fn postgres_store_tests() {}

#[cfg(feature = "postgres")]
#[path = "support/postgres.rs"]
mod support;

#[cfg(feature = "postgres")]
mod postgres {

    use std::collections::HashSet;
    use std::sync::Arc;
    use std::time::Duration;

    use cosell::http::{Clock, ManualClock};
    use cosell::store::{PostgresStore, RecordRef, SyncStore, TenantId, conformance};

    use crate::support::{Schema, database_url};

    fn clock() -> Arc<ManualClock> {
        Arc::new(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()))
    }

    #[tokio::test]
    async fn the_postgres_store_passes_the_conformance_suite() {
        let Some(url) = database_url("the_postgres_store_passes_the_conformance_suite") else {
            return;
        };
        let schema = Schema::new(&url, "conformance");
        let clock = clock();
        let store = PostgresStore::connect_with(&url, &schema.name, 4, clock.clone())
            .await
            .unwrap();
        conformance::run_all(&store, &clock).await;
    }

    #[tokio::test]
    async fn connecting_twice_migrates_once_and_bad_schema_names_are_refused() {
        let Some(url) = database_url("connecting_twice_migrates_once") else {
            return;
        };
        let schema = Schema::new(&url, "migrate");
        let (a, b) = tokio::join!(
            PostgresStore::connect(&url, &schema.name),
            PostgresStore::connect(&url, &schema.name)
        );
        a.unwrap();
        b.unwrap();
        for bad in ["", "Upper", "semi;colon", "1starts_with_digit", "a-b"] {
            let err = PostgresStore::connect(&url, bad).await.unwrap_err();
            assert!(err.to_string().contains("schema name"), "{bad}: {err}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn four_workers_with_their_own_pools_claim_each_event_once() {
        let Some(url) = database_url("four_workers_claim_each_event_once") else {
            return;
        };
        let schema = Schema::new(&url, "claims");
        let clock = clock();
        let tenant = TenantId::new("t").unwrap();
        let first = PostgresStore::connect_with(&url, &schema.name, 2, clock.clone())
            .await
            .unwrap();
        for n in 0..200 {
            first
                .enqueue(&tenant, &format!("event-{n}"), serde_json::json!({"n": n}))
                .await
                .unwrap()
                .unwrap();
        }
        let mut workers = Vec::new();
        for w in 0..4 {
            let store =
                PostgresStore::connect_with(&url, &schema.name, 2, clock.clone() as Arc<dyn Clock>)
                    .await
                    .unwrap();
            let tenant = tenant.clone();
            workers.push(tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let claimed = store
                        .claim_events(
                            Some(&tenant),
                            &format!("worker-{w}"),
                            Duration::from_secs(60),
                            7,
                        )
                        .await
                        .unwrap();
                    if claimed.is_empty() {
                        return done;
                    }
                    for claim in claimed {
                        store.complete_event(&claim).await.unwrap();
                        done.push(claim.event.dedupe_key);
                    }
                }
            }));
        }
        let mut seen = HashSet::new();
        let mut total = 0;
        for worker in workers {
            for key in worker.await.unwrap() {
                total += 1;
                assert!(seen.insert(key.clone()), "{key} was processed twice");
            }
        }
        assert_eq!(total, 200);
        assert_eq!(first.inbox_depth(&tenant).await.unwrap(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_workers_lock_a_pair_one_at_a_time() {
        let Some(url) = database_url("racing_workers_lock_a_pair") else {
            return;
        };
        let schema = Schema::new(&url, "locks");
        let clock = clock();
        let tenant = TenantId::new("t").unwrap();
        let mut stores = Vec::new();
        for _ in 0..4 {
            stores.push(
                PostgresStore::connect_with(&url, &schema.name, 2, clock.clone())
                    .await
                    .unwrap(),
            );
        }
        for round in 0..20 {
            let records = [
                RecordRef::Referral(format!("r-{round}")),
                RecordRef::Crm(format!("c-{round}")),
            ];
            let attempts = stores.iter().enumerate().map(|(w, store)| {
                let (tenant, records) = (tenant.clone(), records.clone());
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .lock_pair(
                            &tenant,
                            &records,
                            &format!("worker-{w}"),
                            Duration::from_secs(60),
                        )
                        .await
                        .unwrap()
                })
            });
            let mut winners = 0;
            for attempt in attempts.collect::<Vec<_>>() {
                winners += usize::from(attempt.await.unwrap().is_some());
            }
            assert_eq!(
                winners, 1,
                "round {round}: exactly one worker holds the pair"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn workers_extending_towards_each_others_records_wait_rather_than_deadlock() {
        let Some(url) = database_url("crossing_extensions") else {
            return;
        };
        let schema = Schema::new(&url, "crossing");
        let clock = clock();
        let tenant = TenantId::new("t").unwrap();
        let a = PostgresStore::connect_with(&url, &schema.name, 2, clock.clone())
            .await
            .unwrap();
        let b = PostgresStore::connect_with(&url, &schema.name, 2, clock.clone())
            .await
            .unwrap();
        let ttl = Duration::from_secs(60);
        for round in 0..100 {
            let referral = RecordRef::Referral(format!("r-{round}"));
            let crm = RecordRef::Crm(format!("c-{round}"));
            // A pair's referral side locked by one worker, its CRM side by another, and each
            // reaching for the other's record at the same moment.
            let held_a = a
                .lock_pair(&tenant, std::slice::from_ref(&referral), "a", ttl)
                .await
                .unwrap()
                .unwrap();
            let held_b = b
                .lock_pair(&tenant, std::slice::from_ref(&crm), "b", ttl)
                .await
                .unwrap()
                .unwrap();
            let (to_crm, to_referral) = tokio::join!(
                a.extend_pair_lock(&held_a, std::slice::from_ref(&crm)),
                b.extend_pair_lock(&held_b, std::slice::from_ref(&referral)),
            );
            assert_eq!(
                to_crm.unwrap(),
                None,
                "round {round}: b holds the CRM record"
            );
            assert_eq!(
                to_referral.unwrap(),
                None,
                "round {round}: a holds the referral"
            );
        }
    }
}
