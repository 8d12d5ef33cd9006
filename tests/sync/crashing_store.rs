//! A store that fails on its n-th operation: a process that died there. Every operation after
//! the failure fails too, as nothing of a dead process reaches its store.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use cosell::store::{StoreError, StoreResult, SyncStore};

use crate::observed::{ObservedStore, StoreHook};

#[derive(Debug)]
struct CrashAt {
    at: usize,
    reached: AtomicBool,
}

#[async_trait]
impl StoreHook for CrashAt {
    async fn before(&self, n: usize, _op: &'static str) -> StoreResult<()> {
        if n < self.at {
            return Ok(());
        }
        self.reached.store(true, Ordering::SeqCst);
        Err(StoreError::Backend(format!(
            "crashed at store operation {n}"
        )))
    }
}

/// The crashing store, and whether its crash point was reached.
pub struct CrashingStore {
    hook: Arc<CrashAt>,
}

impl CrashingStore {
    /// Fails operation number `crash_at` (from 0) and every one after it.
    pub fn new(inner: Arc<dyn SyncStore>, crash_at: usize) -> (Self, Arc<dyn SyncStore>) {
        let hook = Arc::new(CrashAt {
            at: crash_at,
            reached: AtomicBool::new(false),
        });
        let store = Arc::new(ObservedStore::new(inner, hook.clone()));
        (CrashingStore { hook }, store)
    }

    /// Whether the crash point was reached.
    pub fn crashed(&self) -> bool {
        self.hook.reached.load(Ordering::SeqCst)
    }
}
