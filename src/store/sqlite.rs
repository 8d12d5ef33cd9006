//! The SQLite store: one file, durable, for a sync on one machine (several processes may share
//! the file). WAL journal, synchronous commits, schema versioned in `user_version` and migrated
//! on open. Every read-modify-write runs in one `IMMEDIATE` transaction, so a process killed at
//! any point leaves either the whole update or none of it.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use secrecy::{ExposeSecret, SecretString};

use super::shared::{backend, instant, kind, micros, sorted, state_of, state_text, until};
use super::{
    AuditEntry, Baseline, Checkpoint, ClaimedEvent, DeadLetter, DeadLetterId, InboxEvent, InboxId,
    Lease, Link, LinkState, PairCounts, PairId, PairLock, RecordRef, Retention, StoreError,
    StoreResult, SyncStore, TenantId, UnmappedValue,
};
use crate::http::{Clock, SystemClock};

/// The schema version this build writes; older files are migrated on open.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA_V1: &str = "
CREATE TABLE fence (id INTEGER PRIMARY KEY CHECK (id = 1), token INTEGER NOT NULL);
INSERT INTO fence (id, token) VALUES (1, 0);
CREATE TABLE locks (
    tenant TEXT NOT NULL, kind TEXT NOT NULL, record TEXT NOT NULL,
    owner TEXT NOT NULL, token INTEGER NOT NULL, expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, kind, record));
CREATE TABLE leases (
    tenant TEXT NOT NULL, name TEXT NOT NULL,
    owner TEXT NOT NULL, token INTEGER NOT NULL, expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, name));
CREATE TABLE links (
    tenant TEXT NOT NULL, pair TEXT NOT NULL, referral_id TEXT, crm_id TEXT,
    state TEXT NOT NULL, reason TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, pair),
    UNIQUE (tenant, referral_id), UNIQUE (tenant, crm_id));
CREATE TABLE baselines (
    tenant TEXT NOT NULL, pair TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (tenant, pair));
CREATE TABLE processed (
    tenant TEXT NOT NULL, key TEXT NOT NULL, expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, key));
CREATE TABLE checkpoints (
    tenant TEXT NOT NULL, stream TEXT NOT NULL, at INTEGER NOT NULL, last_id TEXT,
    PRIMARY KEY (tenant, stream));
CREATE TABLE inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, dedupe_key TEXT NOT NULL,
    payload TEXT NOT NULL, received_at INTEGER NOT NULL, attempts INTEGER NOT NULL,
    not_before INTEGER NOT NULL, claim_owner TEXT, claim_token INTEGER, claim_expires INTEGER,
    UNIQUE (tenant, dedupe_key));
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, at INTEGER NOT NULL,
    body TEXT NOT NULL);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, pair TEXT, at INTEGER NOT NULL,
    body TEXT NOT NULL);
CREATE INDEX audit_by_pair ON audit (tenant, pair);
CREATE TABLE unmapped (
    tenant TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL,
    first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (tenant, field, value));
CREATE TABLE secrets (
    tenant TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (tenant, name));
";

/// A [`SyncStore`] in one SQLite file.
///
/// ```
/// use cosell::store::{SqliteStore, SyncStore, TenantId};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let dir = std::env::temp_dir().join(format!("cosell-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let store = SqliteStore::open(dir.join("sync.db"))?;
/// let tenant = TenantId::new("contoso")?;
/// assert!(store.enqueue(&tenant, "event-1", serde_json::json!({})).await?.is_some());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(backend)
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(backend)
}

fn next_token(tx: &Transaction<'_>) -> StoreResult<u64> {
    let token: i64 = tx
        .query_row(
            "UPDATE fence SET token = token + 1 WHERE id = 1 RETURNING token",
            [],
            |row| row.get(0),
        )
        .map_err(backend)?;
    u64::try_from(token).map_err(backend)
}

fn token_param(token: u64) -> StoreResult<i64> {
    i64::try_from(token).map_err(backend)
}

/// A record's lock row, if any: who holds it, with which token, until when.
struct Held {
    owner: String,
    token: i64,
    expires_at: i64,
}

fn held(tx: &Transaction<'_>, tenant: &TenantId, record: &RecordRef) -> StoreResult<Option<Held>> {
    let (kind, id) = kind(record);
    tx.query_row(
        "SELECT owner, token, expires_at FROM locks WHERE tenant = ?1 AND kind = ?2 AND record = ?3",
        params![tenant.as_str(), kind, id],
        |row| {
            Ok(Held {
                owner: row.get(0)?,
                token: row.get(1)?,
                expires_at: row.get(2)?,
            })
        },
    )
    .optional()
    .map_err(backend)
}

/// Fails unless `lock` holds every one of `records`, unexpired.
fn check_lock(
    tx: &Transaction<'_>,
    lock: &PairLock,
    records: &[RecordRef],
    now: Timestamp,
) -> StoreResult<()> {
    for record in records {
        let holds = held(tx, &lock.tenant, record)?
            .is_some_and(|h| h.token == lock.token as i64 && h.expires_at > micros(now));
        if !holds {
            return Err(StoreError::Fenced {
                what: format!("the lock on {record}"),
                token: lock.token,
            });
        }
    }
    Ok(())
}

/// Whether `records` are unlocked, expired, or `owner`'s own.
fn free_for(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    records: &[RecordRef],
    owner: &str,
    now: Timestamp,
) -> StoreResult<bool> {
    for record in records {
        if held(tx, tenant, record)?.is_some_and(|h| h.expires_at > micros(now) && h.owner != owner)
        {
            return Ok(false);
        }
    }
    Ok(true)
}

fn put_locks(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    records: &[RecordRef],
    owner: &str,
    token: u64,
    expires_at: Timestamp,
) -> StoreResult<()> {
    for record in records {
        let (kind, id) = kind(record);
        tx.execute(
            "INSERT OR REPLACE INTO locks (tenant, kind, record, owner, token, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                tenant.as_str(),
                kind,
                id,
                owner,
                token_param(token)?,
                micros(expires_at)
            ],
        )
        .map_err(backend)?;
    }
    Ok(())
}

fn check_lease(tx: &Transaction<'_>, lease: &Lease, now: Timestamp) -> StoreResult<()> {
    let held: Option<(i64, i64)> = tx
        .query_row(
            "SELECT token, expires_at FROM leases WHERE tenant = ?1 AND name = ?2",
            params![lease.tenant.as_str(), lease.name],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(backend)?;
    if held.is_some_and(|(token, expires)| token == lease.token as i64 && expires > micros(now)) {
        Ok(())
    } else {
        Err(StoreError::Fenced {
            what: format!("the lease {}", lease.name),
            token: lease.token,
        })
    }
}

fn check_claim(tx: &Transaction<'_>, claim: &ClaimedEvent, now: Timestamp) -> StoreResult<()> {
    let held: Option<(Option<i64>, Option<i64>)> = tx
        .query_row(
            "SELECT claim_token, claim_expires FROM inbox WHERE id = ?1",
            params![claim.event.id.0 as i64],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(backend)?;
    match held {
        Some((Some(token), Some(expires)))
            if token == claim.lease.token as i64 && expires > micros(now) =>
        {
            Ok(())
        }
        _ => Err(StoreError::Fenced {
            what: format!("the claim on inbox event {}", claim.event.id.0),
            token: claim.lease.token,
        }),
    }
}

const LINK_COLUMNS: &str = "pair, referral_id, crm_id, state, reason, created_at, updated_at";

type LinkRow = (
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    i64,
    i64,
);

fn link_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<LinkRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ))
}

fn link_of(row: LinkRow) -> StoreResult<Link> {
    let (pair, referral_id, crm_id, state, reason, created_at, updated_at) = row;
    Ok(Link {
        pair: PairId(pair.parse().map_err(backend)?),
        referral_id,
        crm_id,
        state: state_of(&state)?,
        reason,
        created_at: instant(created_at)?,
        updated_at: instant(updated_at)?,
    })
}

fn find_link(
    conn: &Connection,
    tenant: &TenantId,
    column: &str,
    value: &str,
) -> StoreResult<Option<Link>> {
    let sql = format!("SELECT {LINK_COLUMNS} FROM links WHERE tenant = ?1 AND {column} = ?2");
    conn.query_row(&sql, params![tenant.as_str(), value], link_from_row)
        .optional()
        .map_err(backend)?
        .map(link_of)
        .transpose()
}

type EventRow = (i64, String, String, String, i64, i64, i64);

fn event_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ))
}

fn event_of(row: EventRow) -> StoreResult<InboxEvent> {
    let (id, tenant, dedupe_key, payload, received_at, attempts, not_before) = row;
    Ok(InboxEvent {
        id: InboxId(u64::try_from(id).map_err(backend)?),
        tenant: TenantId::new(tenant).map_err(backend)?,
        dedupe_key,
        payload: from_json(&payload)?,
        received_at: instant(received_at)?,
        attempts: u32::try_from(attempts).map_err(backend)?,
        not_before: instant(not_before)?,
    })
}

/// Brings a file's schema up to [`SCHEMA_VERSION`].
fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(backend)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "the store's schema is version {version}, newer than this build's {SCHEMA_VERSION}: \
             upgrade cosell"
        )));
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Exclusive)
        .map_err(backend)?;
    // Read again inside the exclusive transaction: another process may have migrated meanwhile.
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(backend)?;
    if version < 1 {
        tx.execute_batch(SCHEMA_V1).map_err(backend)?;
    }
    tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
        .map_err(backend)?;
    tx.commit().map_err(backend)
}

/// Creates the store's file, when it does not exist yet, readable and writable by its owner
/// only (on Unix): it holds refresh tokens and customer data. SQLite gives its `-wal` and
/// `-shm` files the same permissions. An existing file keeps the permissions it has.
fn create_private(path: &Path) -> StoreResult<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(backend(error)),
    }
}

impl SqliteStore {
    /// Opens (or creates) the store in the file at `path`, migrating its schema, on the system
    /// clock. A new file is readable and writable by its owner only (Unix).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the file cannot be opened or migrated, or was written by a
    /// newer schema.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with_clock(path, Arc::new(SystemClock))
    }

    /// Opens the store judging expiries by `clock`.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with_clock(path: impl AsRef<Path>, clock: Arc<dyn Clock>) -> StoreResult<Self> {
        create_private(path.as_ref())?;
        let mut conn = Connection::open(path.as_ref()).map_err(backend)?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(backend)?;
        // WAL lets readers and one writer work at once; FULL makes every commit durable.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(backend)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(backend)?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            connection: Arc::new(Mutex::new(conn)),
            clock,
        })
    }

    /// Runs `work` on the connection off the async threads.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection, Timestamp) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let connection = self.connection.clone();
        let now = self.clock.now();
        tokio::task::spawn_blocking(move || {
            let mut conn = crate::http::lock(&connection);
            work(&mut conn, now)
        })
        .await
        .map_err(backend)?
    }

    /// Runs `work` in one `IMMEDIATE` transaction, committed when it returns `Ok`.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Transaction<'_>, Timestamp) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.run(move |conn, now| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let value = work(&tx, now)?;
            tx.commit().map_err(backend)?;
            Ok(value)
        })
        .await
    }
}

/// The dead letter `id` of `tenant` that `sql` (its parameters the id and the tenant)
/// answers with its body.
fn one_letter(
    conn: &Connection,
    sql: &str,
    tenant: &TenantId,
    id: DeadLetterId,
) -> StoreResult<Option<DeadLetter>> {
    let body: Option<String> = conn
        .query_row(sql, params![id.0 as i64, tenant.as_str()], |row| row.get(0))
        .optional()
        .map_err(backend)?;
    body.map(|b| {
        let mut letter: DeadLetter = from_json(&b)?;
        letter.id = id;
        Ok(letter)
    })
    .transpose()
}

#[async_trait]
impl SyncStore for SqliteStore {
    async fn lock_pair(
        &self,
        tenant: &TenantId,
        records: &[RecordRef],
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<Option<PairLock>> {
        let records = sorted(records);
        if records.is_empty() {
            return Err(StoreError::Refused(
                "a pair lock needs at least one record".into(),
            ));
        }
        let (tenant, owner) = (tenant.clone(), owner.to_owned());
        self.write(move |tx, now| {
            if !free_for(tx, &tenant, &records, &owner, now)? {
                return Ok(None);
            }
            let token = next_token(tx)?;
            let expires_at = until(now, ttl);
            put_locks(tx, &tenant, &records, &owner, token, expires_at)?;
            Ok(Some(PairLock {
                tenant,
                records,
                owner,
                token,
                expires_at,
            }))
        })
        .await
    }

    async fn extend_pair_lock(
        &self,
        lock: &PairLock,
        records: &[RecordRef],
    ) -> StoreResult<Option<PairLock>> {
        let (lock, records) = (lock.clone(), records.to_vec());
        self.write(move |tx, now| {
            check_lock(tx, &lock, &lock.records, now)?;
            let added: Vec<RecordRef> = sorted(&records)
                .into_iter()
                .filter(|r| !lock.records.contains(r))
                .collect();
            if !free_for(tx, &lock.tenant, &added, &lock.owner, now)? {
                return Ok(None);
            }
            put_locks(
                tx,
                &lock.tenant,
                &added,
                &lock.owner,
                lock.token,
                lock.expires_at,
            )?;
            let mut extended = lock.clone();
            extended.records = sorted(&[lock.records.clone(), added].concat());
            Ok(Some(extended))
        })
        .await
    }

    async fn renew_pair_lock(&self, lock: &PairLock, ttl: Duration) -> StoreResult<PairLock> {
        let lock = lock.clone();
        self.write(move |tx, now| {
            check_lock(tx, &lock, &lock.records, now)?;
            let expires_at = until(now, ttl);
            put_locks(
                tx,
                &lock.tenant,
                &lock.records,
                &lock.owner,
                lock.token,
                expires_at,
            )?;
            let mut renewed = lock;
            renewed.expires_at = expires_at;
            Ok(renewed)
        })
        .await
    }

    async fn unlock_pair(&self, lock: &PairLock) -> StoreResult<()> {
        let lock = lock.clone();
        self.write(move |tx, _| {
            for record in &lock.records {
                let (kind, id) = kind(record);
                tx.execute(
                    "DELETE FROM locks WHERE tenant = ?1 AND kind = ?2 AND record = ?3 AND token = ?4",
                    params![lock.tenant.as_str(), kind, id, token_param(lock.token)?],
                )
                .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn link_by_referral(
        &self,
        tenant: &TenantId,
        referral_id: &str,
    ) -> StoreResult<Option<Link>> {
        let (tenant, id) = (tenant.clone(), referral_id.to_owned());
        self.run(move |conn, _| find_link(conn, &tenant, "referral_id", &id))
            .await
    }

    async fn link_by_crm(&self, tenant: &TenantId, crm_id: &str) -> StoreResult<Option<Link>> {
        let (tenant, id) = (tenant.clone(), crm_id.to_owned());
        self.run(move |conn, _| find_link(conn, &tenant, "crm_id", &id))
            .await
    }

    async fn links(&self, tenant: &TenantId, state: LinkState) -> StoreResult<Vec<Link>> {
        let tenant = tenant.clone();
        self.run(move |conn, _| {
            let sql = format!(
                "SELECT {LINK_COLUMNS} FROM links WHERE tenant = ?1 AND state = ?2
                 ORDER BY created_at, pair"
            );
            let mut statement = conn.prepare(&sql).map_err(backend)?;
            let rows = statement
                .query_map(params![tenant.as_str(), state_text(state)], link_from_row)
                .map_err(backend)?;
            rows.map(|row| link_of(row.map_err(backend)?)).collect()
        })
        .await
    }

    async fn save_link(&self, lock: &PairLock, link: &Link) -> StoreResult<()> {
        let (lock, link) = (lock.clone(), link.clone());
        self.write(move |tx, now| {
            check_lock(tx, &lock, &link.records(), now)?;
            let pair = link.pair.to_string();
            let clash: Option<String> = tx
                .query_row(
                    "SELECT pair FROM links WHERE tenant = ?1 AND pair <> ?2
                     AND ((?3 IS NOT NULL AND referral_id = ?3) OR (?4 IS NOT NULL AND crm_id = ?4))",
                    params![lock.tenant.as_str(), pair, link.referral_id, link.crm_id],
                    |row| row.get(0),
                )
                .optional()
                .map_err(backend)?;
            if let Some(other) = clash {
                return Err(StoreError::Refused(format!(
                    "pair {other} already links one of {}",
                    link.records()
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            tx.execute(
                "INSERT OR REPLACE INTO links
                 (tenant, pair, referral_id, crm_id, state, reason, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    lock.tenant.as_str(),
                    pair,
                    link.referral_id,
                    link.crm_id,
                    state_text(link.state),
                    link.reason,
                    micros(link.created_at),
                    micros(link.updated_at)
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn baseline(&self, tenant: &TenantId, pair: PairId) -> StoreResult<Option<Baseline>> {
        let tenant = tenant.clone();
        self.run(move |conn, _| {
            let body: Option<String> = conn
                .query_row(
                    "SELECT body FROM baselines WHERE tenant = ?1 AND pair = ?2",
                    params![tenant.as_str(), pair.to_string()],
                    |row| row.get(0),
                )
                .optional()
                .map_err(backend)?;
            body.map(|b| from_json(&b)).transpose()
        })
        .await
    }

    async fn save_baseline(
        &self,
        lock: &PairLock,
        pair: PairId,
        baseline: &Baseline,
    ) -> StoreResult<()> {
        let lock = lock.clone();
        let body = to_json(baseline)?;
        self.write(move |tx, now| {
            let sql = format!("SELECT {LINK_COLUMNS} FROM links WHERE tenant = ?1 AND pair = ?2");
            let link = tx
                .query_row(
                    &sql,
                    params![lock.tenant.as_str(), pair.to_string()],
                    link_from_row,
                )
                .optional()
                .map_err(backend)?
                .map(link_of)
                .transpose()?
                .ok_or_else(|| StoreError::Refused(format!("pair {pair} has no link")))?;
            check_lock(tx, &lock, &link.records(), now)?;
            tx.execute(
                "INSERT OR REPLACE INTO baselines (tenant, pair, body) VALUES (?1, ?2, ?3)",
                params![lock.tenant.as_str(), pair.to_string(), body],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn mark_processed(
        &self,
        tenant: &TenantId,
        key: &str,
        expires_at: Timestamp,
    ) -> StoreResult<bool> {
        let (tenant, key) = (tenant.clone(), key.to_owned());
        self.write(move |tx, now| {
            let current: Option<i64> = tx
                .query_row(
                    "SELECT expires_at FROM processed WHERE tenant = ?1 AND key = ?2",
                    params![tenant.as_str(), key],
                    |row| row.get(0),
                )
                .optional()
                .map_err(backend)?;
            if current.is_some_and(|until| until > micros(now)) {
                return Ok(false);
            }
            tx.execute(
                "INSERT OR REPLACE INTO processed (tenant, key, expires_at) VALUES (?1, ?2, ?3)",
                params![tenant.as_str(), key, micros(expires_at)],
            )
            .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn is_processed(&self, tenant: &TenantId, key: &str) -> StoreResult<bool> {
        let (tenant, key) = (tenant.clone(), key.to_owned());
        self.run(move |conn, now| {
            let current: Option<i64> = conn
                .query_row(
                    "SELECT expires_at FROM processed WHERE tenant = ?1 AND key = ?2",
                    params![tenant.as_str(), key],
                    |row| row.get(0),
                )
                .optional()
                .map_err(backend)?;
            Ok(current.is_some_and(|until| until > micros(now)))
        })
        .await
    }

    async fn acquire_lease(
        &self,
        tenant: &TenantId,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>> {
        let (tenant, name, owner) = (tenant.clone(), name.to_owned(), owner.to_owned());
        self.write(move |tx, now| {
            let current: Option<(String, i64)> = tx
                .query_row(
                    "SELECT owner, expires_at FROM leases WHERE tenant = ?1 AND name = ?2",
                    params![tenant.as_str(), name],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(backend)?;
            if current.is_some_and(|(held_by, expires)| expires > micros(now) && held_by != owner) {
                return Ok(None);
            }
            let token = next_token(tx)?;
            let expires_at = until(now, ttl);
            tx.execute(
                "INSERT OR REPLACE INTO leases (tenant, name, owner, token, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    tenant.as_str(),
                    name,
                    owner,
                    token_param(token)?,
                    micros(expires_at)
                ],
            )
            .map_err(backend)?;
            Ok(Some(Lease {
                tenant,
                name,
                owner,
                token,
                expires_at,
            }))
        })
        .await
    }

    async fn release_lease(&self, lease: &Lease) -> StoreResult<()> {
        let lease = lease.clone();
        self.write(move |tx, _| {
            tx.execute(
                "DELETE FROM leases WHERE tenant = ?1 AND name = ?2 AND token = ?3",
                params![lease.tenant.as_str(), lease.name, token_param(lease.token)?],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn checkpoint(&self, tenant: &TenantId, stream: &str) -> StoreResult<Option<Checkpoint>> {
        let (tenant, stream) = (tenant.clone(), stream.to_owned());
        self.run(move |conn, _| {
            let row: Option<(i64, Option<String>)> = conn
                .query_row(
                    "SELECT at, last_id FROM checkpoints WHERE tenant = ?1 AND stream = ?2",
                    params![tenant.as_str(), stream],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(backend)?;
            row.map(|(at, last_id)| {
                Ok(Checkpoint {
                    at: instant(at)?,
                    last_id,
                })
            })
            .transpose()
        })
        .await
    }

    async fn save_checkpoint(
        &self,
        lease: &Lease,
        stream: &str,
        checkpoint: &Checkpoint,
    ) -> StoreResult<()> {
        let (lease, stream, checkpoint) = (lease.clone(), stream.to_owned(), checkpoint.clone());
        self.write(move |tx, now| {
            check_lease(tx, &lease, now)?;
            tx.execute(
                "INSERT OR REPLACE INTO checkpoints (tenant, stream, at, last_id)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    lease.tenant.as_str(),
                    stream,
                    micros(checkpoint.at),
                    checkpoint.last_id
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn enqueue(
        &self,
        tenant: &TenantId,
        dedupe_key: &str,
        payload: serde_json::Value,
    ) -> StoreResult<Option<InboxId>> {
        let (tenant, key) = (tenant.clone(), dedupe_key.to_owned());
        let payload = to_json(&payload)?;
        self.write(move |tx, now| {
            let inserted = tx
                .execute(
                    "INSERT OR IGNORE INTO inbox
                     (tenant, dedupe_key, payload, received_at, attempts, not_before)
                     VALUES (?1, ?2, ?3, ?4, 0, ?4)",
                    params![tenant.as_str(), key, payload, micros(now)],
                )
                .map_err(backend)?;
            if inserted == 0 {
                return Ok(None);
            }
            Ok(Some(InboxId(
                u64::try_from(tx.last_insert_rowid()).map_err(backend)?,
            )))
        })
        .await
    }

    async fn claim_events(
        &self,
        tenant: Option<&TenantId>,
        owner: &str,
        ttl: Duration,
        max: usize,
    ) -> StoreResult<Vec<ClaimedEvent>> {
        let (tenant, owner) = (tenant.cloned(), owner.to_owned());
        self.write(move |tx, now| {
            let ids: Vec<i64> = {
                let mut statement = tx
                    .prepare(
                        "SELECT id FROM inbox
                         WHERE (?1 IS NULL OR tenant = ?1) AND not_before <= ?2
                           AND (claim_expires IS NULL OR claim_expires <= ?2)
                         ORDER BY id LIMIT ?3",
                    )
                    .map_err(backend)?;
                let rows = statement
                    .query_map(
                        params![
                            tenant.as_ref().map(TenantId::as_str),
                            micros(now),
                            i64::try_from(max).unwrap_or(i64::MAX)
                        ],
                        |row| row.get(0),
                    )
                    .map_err(backend)?;
                rows.collect::<Result<_, _>>().map_err(backend)?
            };
            let expires_at = until(now, ttl);
            let mut claimed = Vec::with_capacity(ids.len());
            for id in ids {
                let token = next_token(tx)?;
                let row = tx
                    .query_row(
                        "UPDATE inbox SET attempts = attempts + 1, claim_owner = ?2,
                                claim_token = ?3, claim_expires = ?4
                         WHERE id = ?1
                         RETURNING id, tenant, dedupe_key, payload, received_at, attempts, not_before",
                        params![id, owner, token_param(token)?, micros(expires_at)],
                        event_from_row,
                    )
                    .map_err(backend)?;
                let event = event_of(row)?;
                claimed.push(ClaimedEvent {
                    lease: Lease {
                        tenant: event.tenant.clone(),
                        name: format!("inbox/{id}"),
                        owner: owner.clone(),
                        token,
                        expires_at,
                    },
                    event,
                });
            }
            Ok(claimed)
        })
        .await
    }

    async fn complete_event(&self, claim: &ClaimedEvent) -> StoreResult<()> {
        let claim = claim.clone();
        self.write(move |tx, now| {
            check_claim(tx, &claim, now)?;
            tx.execute(
                "DELETE FROM inbox WHERE id = ?1",
                params![claim.event.id.0 as i64],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn retry_event(&self, claim: &ClaimedEvent, not_before: Timestamp) -> StoreResult<()> {
        let claim = claim.clone();
        self.write(move |tx, now| {
            check_claim(tx, &claim, now)?;
            tx.execute(
                "UPDATE inbox SET claim_owner = NULL, claim_token = NULL, claim_expires = NULL,
                        not_before = ?2
                 WHERE id = ?1",
                params![claim.event.id.0 as i64, micros(not_before)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn inbox_depth(&self, tenant: &TenantId) -> StoreResult<usize> {
        let tenant = tenant.clone();
        self.run(move |conn, _| {
            let count: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM inbox WHERE tenant = ?1",
                    params![tenant.as_str()],
                    |row| row.get(0),
                )
                .map_err(backend)?;
            usize::try_from(count).map_err(backend)
        })
        .await
    }

    async fn add_dead_letter(&self, letter: DeadLetter) -> StoreResult<DeadLetterId> {
        let body = to_json(&letter)?;
        self.write(move |tx, _| {
            tx.execute(
                "INSERT INTO dead_letters (tenant, at, body) VALUES (?1, ?2, ?3)",
                params![letter.tenant.as_str(), micros(letter.at), body],
            )
            .map_err(backend)?;
            Ok(DeadLetterId(
                u64::try_from(tx.last_insert_rowid()).map_err(backend)?,
            ))
        })
        .await
    }

    async fn merge_dead_letter(&self, letter: DeadLetter) -> StoreResult<DeadLetterId> {
        let records = to_json(&letter.records)?;
        self.write(move |tx, _| {
            let existing: Option<(i64, String)> = tx
                .query_row(
                    "SELECT id, body FROM dead_letters WHERE tenant = ?1
                     AND json_extract(body, '$.kind') = ?2
                     AND json_extract(body, '$.records') = json(?3)
                     ORDER BY id LIMIT 1",
                    params![letter.tenant.as_str(), letter.kind, records],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(backend)?;
            let Some((id, body)) = existing else {
                tx.execute(
                    "INSERT INTO dead_letters (tenant, at, body) VALUES (?1, ?2, ?3)",
                    params![letter.tenant.as_str(), micros(letter.at), to_json(&letter)?],
                )
                .map_err(backend)?;
                return Ok(DeadLetterId(
                    u64::try_from(tx.last_insert_rowid()).map_err(backend)?,
                ));
            };
            let mut merged: DeadLetter = from_json(&body)?;
            merged.merge(letter);
            tx.execute(
                "UPDATE dead_letters SET at = ?2, body = ?3 WHERE id = ?1",
                params![id, micros(merged.at), to_json(&merged)?],
            )
            .map_err(backend)?;
            Ok(DeadLetterId(u64::try_from(id).map_err(backend)?))
        })
        .await
    }

    async fn dead_letters(&self, tenant: &TenantId, limit: usize) -> StoreResult<Vec<DeadLetter>> {
        let tenant = tenant.clone();
        self.run(move |conn, _| {
            let mut statement = conn
                .prepare("SELECT id, body FROM dead_letters WHERE tenant = ?1 ORDER BY id LIMIT ?2")
                .map_err(backend)?;
            let rows = statement
                .query_map(
                    params![tenant.as_str(), i64::try_from(limit).unwrap_or(i64::MAX)],
                    |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)),
                )
                .map_err(backend)?;
            rows.map(|row| {
                let (id, body) = row.map_err(backend)?;
                let mut letter: DeadLetter = from_json(&body)?;
                letter.id = DeadLetterId(u64::try_from(id).map_err(backend)?);
                Ok(letter)
            })
            .collect()
        })
        .await
    }

    async fn dead_letter(
        &self,
        tenant: &TenantId,
        id: DeadLetterId,
    ) -> StoreResult<Option<DeadLetter>> {
        let tenant = tenant.clone();
        self.run(move |conn, _| {
            one_letter(
                conn,
                "SELECT body FROM dead_letters WHERE id = ?1 AND tenant = ?2",
                &tenant,
                id,
            )
        })
        .await
    }

    async fn take_dead_letter(
        &self,
        tenant: &TenantId,
        id: DeadLetterId,
    ) -> StoreResult<Option<DeadLetter>> {
        let tenant = tenant.clone();
        self.write(move |tx, _| {
            one_letter(
                tx,
                "DELETE FROM dead_letters WHERE id = ?1 AND tenant = ?2 RETURNING body",
                &tenant,
                id,
            )
        })
        .await
    }

    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<()> {
        let body = to_json(&entry)?;
        self.write(move |tx, _| {
            tx.execute(
                "INSERT INTO audit (tenant, pair, at, body) VALUES (?1, ?2, ?3, ?4)",
                params![
                    entry.tenant.as_str(),
                    entry.pair.map(|p| p.to_string()),
                    micros(entry.at),
                    body
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn pair_counts(&self, tenant: &TenantId) -> StoreResult<PairCounts> {
        let tenant = tenant.clone();
        self.run(move |conn, _| {
            let mut counts = PairCounts::default();
            let mut statement = conn
                .prepare("SELECT state, COUNT(*) FROM links WHERE tenant = ?1 GROUP BY state")
                .map_err(backend)?;
            let rows = statement
                .query_map(params![tenant.as_str()], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })
                .map_err(backend)?;
            for row in rows {
                let (state, count) = row.map_err(backend)?;
                counts.add_links(state_of(&state)?, u64::try_from(count).unwrap_or(0));
            }
            // Each subject's newest telling entry (highest id), grouped by its outcome and by
            // whether the subject is a linked pair.
            let mut statement = conn
                .prepare(
                    "WITH telling AS (
                        SELECT a.id, json_extract(a.body, '$.outcome') AS outcome,
                            COALESCE(a.pair,
                                (SELECT l.pair FROM json_each(a.body, '$.records') r
                                 JOIN links l ON l.tenant = a.tenant
                                  AND (l.referral_id = json_extract(r.value, '$.Referral')
                                       OR l.crm_id = json_extract(r.value, '$.Crm'))
                                 LIMIT 1),
                                json_extract(a.body, '$.records[0]')) AS subject
                        FROM audit a
                        WHERE a.tenant = ?1
                          AND json_extract(a.body, '$.outcome') NOT IN (?2, ?3)),
                     latest AS (
                        SELECT subject, outcome,
                            ROW_NUMBER() OVER (PARTITION BY subject ORDER BY id DESC) AS n
                        FROM telling WHERE subject IS NOT NULL)
                     SELECT outcome,
                        EXISTS (SELECT 1 FROM links l WHERE l.tenant = ?1
                                AND l.pair = latest.subject AND l.state = ?4) AS linked,
                        COUNT(*)
                     FROM latest WHERE n = 1 GROUP BY 1, 2",
                )
                .map_err(backend)?;
            let [busy, duplicate] = super::types::UNTELLING_OUTCOMES;
            let rows = statement
                .query_map(
                    params![
                        tenant.as_str(),
                        busy,
                        duplicate,
                        state_text(LinkState::Linked)
                    ],
                    |row| {
                        Ok((
                            row.get::<_, Option<String>>(0)?,
                            row.get::<_, bool>(1)?,
                            row.get::<_, i64>(2)?,
                        ))
                    },
                )
                .map_err(backend)?;
            for row in rows {
                let (outcome, linked, count) = row.map_err(backend)?;
                if let Some(outcome) = outcome {
                    counts.add_outcome(&outcome, linked, u64::try_from(count).unwrap_or(0));
                }
            }
            Ok(counts.finish())
        })
        .await
    }

    async fn audit(
        &self,
        tenant: &TenantId,
        pair: Option<PairId>,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        let tenant = tenant.clone();
        self.run(move |conn, _| {
            let mut statement = conn
                .prepare(
                    "SELECT body FROM audit WHERE tenant = ?1 AND (?2 IS NULL OR pair = ?2)
                     ORDER BY id DESC LIMIT ?3",
                )
                .map_err(backend)?;
            let rows = statement
                .query_map(
                    params![
                        tenant.as_str(),
                        pair.map(|p| p.to_string()),
                        i64::try_from(limit).unwrap_or(i64::MAX)
                    ],
                    |row| row.get::<_, String>(0),
                )
                .map_err(backend)?;
            rows.map(|row| from_json(&row.map_err(backend)?)).collect()
        })
        .await
    }

    async fn record_unmapped(
        &self,
        tenant: &TenantId,
        field: &str,
        value: &str,
    ) -> StoreResult<bool> {
        let (tenant, field, value) = (tenant.clone(), field.to_owned(), value.to_owned());
        self.write(move |tx, now| {
            let updated = tx
                .execute(
                    "UPDATE unmapped SET count = count + 1, last_seen = ?4
                     WHERE tenant = ?1 AND field = ?2 AND value = ?3",
                    params![tenant.as_str(), field, value, micros(now)],
                )
                .map_err(backend)?;
            if updated > 0 {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO unmapped (tenant, field, value, first_seen, last_seen, count)
                 VALUES (?1, ?2, ?3, ?4, ?4, 1)",
                params![tenant.as_str(), field, value, micros(now)],
            )
            .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn unmapped(&self, tenant: &TenantId) -> StoreResult<Vec<UnmappedValue>> {
        let tenant = tenant.clone();
        self.run(move |conn, _| {
            let mut statement = conn
                .prepare(
                    "SELECT field, value, first_seen, last_seen, count FROM unmapped
                     WHERE tenant = ?1 ORDER BY field, value",
                )
                .map_err(backend)?;
            let rows = statement
                .query_map(params![tenant.as_str()], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, i64>(3)?,
                        row.get::<_, i64>(4)?,
                    ))
                })
                .map_err(backend)?;
            rows.map(|row| {
                let (field, value, first, last, count) = row.map_err(backend)?;
                Ok(UnmappedValue {
                    field,
                    value,
                    first_seen: instant(first)?,
                    last_seen: instant(last)?,
                    count: u64::try_from(count).map_err(backend)?,
                })
            })
            .collect()
        })
        .await
    }

    async fn save_secret(
        &self,
        tenant: &TenantId,
        name: &str,
        secret: &SecretString,
    ) -> StoreResult<()> {
        let (tenant, name) = (tenant.clone(), name.to_owned());
        let value = secret.expose_secret().to_owned();
        self.write(move |tx, _| {
            tx.execute(
                "INSERT OR REPLACE INTO secrets (tenant, name, value) VALUES (?1, ?2, ?3)",
                params![tenant.as_str(), name, value],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn secret(&self, tenant: &TenantId, name: &str) -> StoreResult<Option<SecretString>> {
        let (tenant, name) = (tenant.clone(), name.to_owned());
        self.run(move |conn, _| {
            let value: Option<String> = conn
                .query_row(
                    "SELECT value FROM secrets WHERE tenant = ?1 AND name = ?2",
                    params![tenant.as_str(), name],
                    |row| row.get(0),
                )
                .optional()
                .map_err(backend)?;
            Ok(value.map(SecretString::from))
        })
        .await
    }

    async fn purge(&self, cutoffs: &Retention) -> StoreResult<u64> {
        let cutoffs = *cutoffs;
        self.write(move |tx, now| {
            let mut removed = tx
                .execute(
                    "DELETE FROM processed WHERE expires_at <= ?1",
                    params![micros(now)],
                )
                .map_err(backend)?;
            if let Some(cutoff) = cutoffs.audit_before {
                removed += tx
                    .execute("DELETE FROM audit WHERE at < ?1", params![micros(cutoff)])
                    .map_err(backend)?;
            }
            if let Some(cutoff) = cutoffs.dead_letters_before {
                removed += tx
                    .execute(
                        "DELETE FROM dead_letters WHERE at < ?1",
                        params![micros(cutoff)],
                    )
                    .map_err(backend)?;
            }
            Ok(removed as u64)
        })
        .await
    }
}
