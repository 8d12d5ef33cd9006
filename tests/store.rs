//! The in-memory store passes the store conformance suite.

use std::sync::Arc;

use cosell::http::ManualClock;
use cosell::store::{MemoryStore, conformance};

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()))
}

#[tokio::test]
async fn the_memory_store_passes_the_conformance_suite() {
    let clock = clock();
    let store = MemoryStore::with_clock(clock.clone());
    conformance::run_all(&store, &clock).await;
}

#[tokio::test]
async fn a_clone_shares_the_store() {
    use cosell::store::{SyncStore, TenantId};
    let store = MemoryStore::with_clock(clock());
    let copy = store.clone();
    let tenant = TenantId::new("t").unwrap();
    copy.enqueue(&tenant, "k", serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(store.inbox_depth(&tenant).await.unwrap(), 1);
}
