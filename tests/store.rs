//! The in-memory store passes the store conformance suite.

use std::sync::Arc;

use cosell::http::{Clock, ManualClock};
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

#[tokio::test]
async fn the_sqlite_store_passes_the_conformance_suite() {
    let dir = tempdir();
    let clock = clock();
    let store =
        cosell::store::SqliteStore::open_with_clock(dir.path().join("sync.db"), clock.clone())
            .unwrap();
    conformance::run_all(&store, &clock).await;
}

#[tokio::test]
async fn the_sqlite_store_keeps_everything_when_reopened() {
    use cosell::store::{Link, LinkState, RecordRef, SqliteStore, SyncStore, TenantId};
    use std::time::Duration;

    let dir = tempdir();
    let path = dir.path().join("sync.db");
    let clock = clock();
    let tenant = TenantId::new("t").unwrap();
    let link = {
        let store = SqliteStore::open_with_clock(&path, clock.clone()).unwrap();
        let lock = store
            .lock_pair(
                &tenant,
                &[RecordRef::Crm("c".into())],
                "w",
                Duration::from_secs(30),
            )
            .await
            .unwrap()
            .unwrap();
        let link = Link::new(None, Some("c".into()), LinkState::Pending, clock.now());
        store.save_link(&lock, &link).await.unwrap();
        store
            .enqueue(&tenant, "k", serde_json::json!({"a": 1}))
            .await
            .unwrap();
        link
    };
    let reopened = SqliteStore::open_with_clock(&path, clock.clone()).unwrap();
    assert_eq!(
        reopened.link_by_crm(&tenant, "c").await.unwrap(),
        Some(link)
    );
    assert_eq!(reopened.inbox_depth(&tenant).await.unwrap(), 1);
    // The lock survived too: another owner cannot take the pair until it expires.
    assert!(
        reopened
            .lock_pair(
                &tenant,
                &[RecordRef::Crm("c".into())],
                "other",
                Duration::from_secs(30)
            )
            .await
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_store_written_by_a_newer_schema_is_refused() {
    let dir = tempdir();
    let path = dir.path().join("sync.db");
    drop(cosell::store::SqliteStore::open(&path).unwrap());
    set_user_version(&path, 99);
    let err = cosell::store::SqliteStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("newer"), "{err}");
}

/// Writes the file header's `user_version` (bytes 60..64, big-endian, in the SQLite file
/// format) as a newer build would have left it.
fn set_user_version(path: &std::path::Path, version: i64) {
    // The header's user_version lives at byte offset 60, big-endian (SQLite file format).
    use std::io::{Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.seek(SeekFrom::Start(60)).unwrap();
    file.write_all(&(version as u32).to_be_bytes()).unwrap();
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// The store holds refresh tokens and customer data: a new file is its owner's alone.
#[cfg(unix)]
#[tokio::test]
async fn a_new_sqlite_store_file_is_readable_by_its_owner_only() {
    use cosell::store::{SqliteStore, SyncStore};
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sync.db");
    let store = SqliteStore::open_with_clock(&path, clock()).unwrap();
    let tenant = cosell::store::TenantId::new("contoso").unwrap();
    store
        .save_secret(&tenant, "refresh", &"token".to_owned().into())
        .await
        .unwrap();
    for file in ["sync.db", "sync.db-wal"] {
        let path = dir.path().join(file);
        if let Ok(meta) = std::fs::metadata(&path) {
            assert_eq!(
                meta.permissions().mode() & 0o077,
                0,
                "{file}: {:o}",
                meta.permissions().mode()
            );
        } else {
            assert_ne!(file, "sync.db", "the store file exists");
        }
    }
}
