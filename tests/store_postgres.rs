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
mod postgres {

    use std::collections::HashSet;
    use std::sync::Arc;
    use std::time::Duration;

    use cosell::http::{Clock, ManualClock};
    use cosell::store::{PostgresStore, RecordRef, SyncStore, TenantId, conformance};

    const VARIABLE: &str = "COSELL_TEST_DATABASE_URL";

    /// The database URL, or `None` (with a note) when the tests cannot run here.
    fn database_url(test: &str) -> Option<String> {
        match std::env::var(VARIABLE) {
            Ok(url) if !url.trim().is_empty() => Some(url),
            _ if std::env::var_os("CI").is_some() => {
                panic!("{VARIABLE} is not set: CI must run the PostgreSQL tests")
            }
            _ => {
                eprintln!("skipped {test}: set {VARIABLE} to run the PostgreSQL store tests");
                None
            }
        }
    }

    /// A schema of the test's own, dropped when the guard goes.
    struct Schema {
        url: String,
        name: String,
    }

    impl Schema {
        fn new(url: &str, test: &str) -> Schema {
            let name = format!("cosell_test_{}_{}", test, uuid::Uuid::new_v4().simple());
            Schema {
                url: url.to_owned(),
                name,
            }
        }
    }

    impl Drop for Schema {
        fn drop(&mut self) {
            let (url, name) = (self.url.clone(), self.name.clone());
            // Dropping runs on its own thread and runtime: the test's runtime may be gone.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(async {
                    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                        .await
                        .ok()?;
                    tokio::spawn(connection);
                    client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                        .await
                        .ok()
                })
            })
            .join();
        }
    }

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
}
