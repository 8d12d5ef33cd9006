//! The PostgreSQL store: one database shared by worker processes on many machines. The
//! database does the coordinating: pair locks and leases are rows updated in the same
//! transaction as the fenced update they guard, inbox events are claimed with
//! `FOR UPDATE SKIP LOCKED`, and fencing tokens come from one sequence. Nothing holds a
//! database lock across an HTTP call.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, Pool};
use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::{NoTls, Row, Transaction};

use super::shared::{instant, kind, micros, sorted, state_of, state_text, until};
use super::{
    AuditEntry, Baseline, Checkpoint, ClaimedEvent, DeadLetter, DeadLetterId, InboxEvent, InboxId,
    Lease, Link, LinkState, PairCounts, PairId, PairLock, RecordRef, Retention, StoreError,
    StoreResult, SyncStore, TenantId, UnmappedValue,
};
use crate::http::{Clock, SystemClock};

/// The schema version this build writes; older schemas are migrated on connect.
const SCHEMA_VERSION: i32 = 1;

/// The first schema; `{s}` stands for the store's schema name.
const SCHEMA_V1: &str = "
CREATE SEQUENCE {s}.fence_tokens;
CREATE TABLE {s}.locks (
    tenant TEXT NOT NULL, kind TEXT NOT NULL, record TEXT NOT NULL,
    owner TEXT NOT NULL, token BIGINT NOT NULL, expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, kind, record));
CREATE TABLE {s}.leases (
    tenant TEXT NOT NULL, name TEXT NOT NULL,
    owner TEXT NOT NULL, token BIGINT NOT NULL, expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, name));
CREATE TABLE {s}.links (
    tenant TEXT NOT NULL, pair UUID NOT NULL, referral_id TEXT, crm_id TEXT,
    state TEXT NOT NULL, reason TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, pair),
    UNIQUE (tenant, referral_id), UNIQUE (tenant, crm_id));
CREATE TABLE {s}.baselines (
    tenant TEXT NOT NULL, pair UUID NOT NULL, body JSONB NOT NULL,
    PRIMARY KEY (tenant, pair));
CREATE TABLE {s}.processed (
    tenant TEXT NOT NULL, key TEXT NOT NULL, expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, key));
CREATE TABLE {s}.checkpoints (
    tenant TEXT NOT NULL, stream TEXT NOT NULL, at BIGINT NOT NULL, last_id TEXT,
    PRIMARY KEY (tenant, stream));
CREATE TABLE {s}.inbox (
    id BIGSERIAL PRIMARY KEY, tenant TEXT NOT NULL, dedupe_key TEXT NOT NULL,
    payload JSONB NOT NULL, received_at BIGINT NOT NULL, attempts INT NOT NULL,
    not_before BIGINT NOT NULL, claim_owner TEXT, claim_token BIGINT, claim_expires BIGINT,
    UNIQUE (tenant, dedupe_key));
CREATE INDEX inbox_ready ON {s}.inbox (not_before, id);
CREATE TABLE {s}.dead_letters (
    id BIGSERIAL PRIMARY KEY, tenant TEXT NOT NULL, at BIGINT NOT NULL, body JSONB NOT NULL);
CREATE TABLE {s}.audit (
    id BIGSERIAL PRIMARY KEY, tenant TEXT NOT NULL, pair UUID, at BIGINT NOT NULL,
    body JSONB NOT NULL);
CREATE INDEX audit_by_pair ON {s}.audit (tenant, pair);
CREATE TABLE {s}.unmapped (
    tenant TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL,
    first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL, count BIGINT NOT NULL,
    PRIMARY KEY (tenant, field, value));
CREATE TABLE {s}.secrets (
    tenant TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (tenant, name));
";

/// A [`SyncStore`] in a PostgreSQL database, for many workers.
///
/// ```no_run
/// use cosell::store::{PostgresStore, SyncStore, TenantId};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = PostgresStore::connect("postgres://sync@db.internal/cosell", "cosell").await?;
/// let tenant = TenantId::new("contoso")?;
/// println!("{} events waiting", store.inbox_depth(&tenant).await?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    schema: Arc<str>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// A backend failure with its causes: a database error says only `db error` at the top, the
/// server's message (and SQLSTATE) is its source.
fn backend(error: impl std::error::Error) -> StoreError {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    StoreError::Backend(text)
}

fn token_of(value: i64) -> StoreResult<u64> {
    u64::try_from(value).map_err(backend)
}

fn token_param(token: u64) -> StoreResult<i64> {
    i64::try_from(token).map_err(backend)
}

fn link_of(row: &Row) -> StoreResult<Link> {
    let state: String = row.try_get("state").map_err(backend)?;
    Ok(Link {
        pair: PairId(row.try_get("pair").map_err(backend)?),
        referral_id: row.try_get("referral_id").map_err(backend)?,
        crm_id: row.try_get("crm_id").map_err(backend)?,
        state: state_of(&state)?,
        reason: row.try_get("reason").map_err(backend)?,
        created_at: instant(row.try_get("created_at").map_err(backend)?)?,
        updated_at: instant(row.try_get("updated_at").map_err(backend)?)?,
    })
}

fn event_of(row: &Row) -> StoreResult<InboxEvent> {
    let id: i64 = row.try_get("id").map_err(backend)?;
    let tenant: String = row.try_get("tenant").map_err(backend)?;
    let attempts: i32 = row.try_get("attempts").map_err(backend)?;
    Ok(InboxEvent {
        id: InboxId(token_of(id)?),
        tenant: TenantId::new(tenant).map_err(backend)?,
        dedupe_key: row.try_get("dedupe_key").map_err(backend)?,
        payload: row.try_get("payload").map_err(backend)?,
        received_at: instant(row.try_get("received_at").map_err(backend)?)?,
        attempts: u32::try_from(attempts).map_err(backend)?,
        not_before: instant(row.try_get("not_before").map_err(backend)?)?,
    })
}

/// A schema name the store can put in SQL unquoted: lower-case letters, digits and `_`.
fn checked_schema(schema: &str) -> StoreResult<String> {
    let valid = !schema.is_empty()
        && schema.len() <= 63
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !schema.as_bytes()[0].is_ascii_digit();
    if valid {
        Ok(schema.to_owned())
    } else {
        Err(StoreError::Refused(format!(
            "schema name {schema:?}: use 1 to 63 lower-case letters, digits and `_`, not starting \
             with a digit"
        )))
    }
}

impl PostgresStore {
    /// The dead letter `id` of `tenant` that `sql` (`{s}` the schema, `$1` the id, `$2` the
    /// tenant) answers with its body.
    async fn one_letter(
        &self,
        sql: &str,
        tenant: &TenantId,
        id: DeadLetterId,
    ) -> StoreResult<Option<DeadLetter>> {
        let client = self.client().await?;
        let row = client
            .query_opt(&self.sql(sql), &[&(id.0 as i64), &tenant.as_str()])
            .await
            .map_err(backend)?;
        row.map(|row| {
            let mut letter: DeadLetter = serde_json::from_value(row.get(0)).map_err(backend)?;
            letter.id = id;
            Ok(letter)
        })
        .transpose()
    }

    /// Connects to the database at `url` (`postgres://user:password@host:port/database`), keeps
    /// the store's tables in `schema` (created if missing), migrates it, on the system clock.
    ///
    /// # Errors
    /// [`StoreError::Refused`] for a malformed URL or schema name; [`StoreError::Backend`] when
    /// the database cannot be reached or migrated, or its schema is newer than this build's.
    pub async fn connect(url: &str, schema: &str) -> StoreResult<Self> {
        Self::connect_with(url, schema, 16, Arc::new(SystemClock)).await
    }

    /// Connects with a pool of at most `max_connections`, judging expiries by `clock`.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_with(
        url: &str,
        schema: &str,
        max_connections: usize,
        clock: Arc<dyn Clock>,
    ) -> StoreResult<Self> {
        let schema = checked_schema(schema)?;
        let config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::Refused(format!("the database URL is not usable: {e}")))?;
        let pool = Pool::builder(Manager::new(config, NoTls))
            .max_size(max_connections.max(1))
            .build()
            .map_err(backend)?;
        let store = PostgresStore {
            pool,
            schema: schema.into(),
            clock,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// `template` with `{s}` replaced by the schema name.
    fn sql(&self, template: &str) -> String {
        template.replace("{s}", &self.schema)
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.pool.get().await.map_err(backend)
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // Many workers start at once: one migrates, the others wait for it here.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('cosell-store-migrate:' || $1))",
            &[&&*self.schema],
        )
        .await
        .map_err(backend)?;
        tx.batch_execute(&self.sql(
            "CREATE SCHEMA IF NOT EXISTS {s};
             CREATE TABLE IF NOT EXISTS {s}.schema_version (version INT NOT NULL);",
        ))
        .await
        .map_err(backend)?;
        let version: i32 = tx
            .query_opt(&self.sql("SELECT version FROM {s}.schema_version"), &[])
            .await
            .map_err(backend)?
            .map(|row| row.get(0))
            .unwrap_or(0);
        if version > SCHEMA_VERSION {
            return Err(StoreError::Backend(format!(
                "the store's schema is version {version}, newer than this build's \
                 {SCHEMA_VERSION}: upgrade cosell"
            )));
        }
        if version < 1 {
            tx.batch_execute(&self.sql(SCHEMA_V1))
                .await
                .map_err(backend)?;
        }
        tx.execute(&self.sql("DELETE FROM {s}.schema_version"), &[])
            .await
            .map_err(backend)?;
        tx.execute(
            &self.sql("INSERT INTO {s}.schema_version (version) VALUES ($1)"),
            &[&SCHEMA_VERSION],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn next_token(&self, tx: &Transaction<'_>) -> StoreResult<u64> {
        let row = tx
            .query_one(&self.sql("SELECT nextval('{s}.fence_tokens')"), &[])
            .await
            .map_err(backend)?;
        token_of(row.get(0))
    }

    /// Fails unless `lock` holds every one of `records`; the lock rows stay locked until the
    /// transaction ends, so no takeover can slip in before the fenced update commits.
    async fn check_lock(
        &self,
        tx: &Transaction<'_>,
        lock: &PairLock,
        records: &[RecordRef],
        now: Timestamp,
    ) -> StoreResult<()> {
        let sql = self.sql(
            "SELECT token, expires_at FROM {s}.locks
             WHERE tenant = $1 AND kind = $2 AND record = $3 FOR UPDATE",
        );
        for record in sorted(records) {
            let (kind, id) = kind(&record);
            let row = tx
                .query_opt(&sql, &[&lock.tenant.as_str(), &kind, &id])
                .await
                .map_err(backend)?;
            let holds = row.is_some_and(|row| {
                row.get::<_, i64>(0) == lock.token as i64 && row.get::<_, i64>(1) > micros(now)
            });
            if !holds {
                return Err(StoreError::Fenced {
                    what: format!("the lock on {record}"),
                    token: lock.token,
                });
            }
        }
        Ok(())
    }

    /// Takes `records` for `lock` (its owner, token and expiry) unless another owner's unexpired
    /// lock holds one: `false` then (the caller rolls back).
    async fn take_locks(
        &self,
        tx: &Transaction<'_>,
        lock: &PairLock,
        records: &[RecordRef],
        now: Timestamp,
    ) -> StoreResult<bool> {
        let sql = self.sql(
            "INSERT INTO {s}.locks AS l (tenant, kind, record, owner, token, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (tenant, kind, record) DO UPDATE
             SET owner = EXCLUDED.owner, token = EXCLUDED.token, expires_at = EXCLUDED.expires_at
             WHERE l.expires_at <= $7 OR l.owner = EXCLUDED.owner",
        );
        for record in records {
            let (kind, id) = kind(record);
            let changed = tx
                .execute(
                    &sql,
                    &[
                        &lock.tenant.as_str(),
                        &kind,
                        &id,
                        &lock.owner,
                        &token_param(lock.token)?,
                        &micros(lock.expires_at),
                        &micros(now),
                    ],
                )
                .await
                .map_err(backend)?;
            if changed == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn check_lease(
        &self,
        tx: &Transaction<'_>,
        lease: &Lease,
        now: Timestamp,
    ) -> StoreResult<()> {
        let row = tx
            .query_opt(
                &self.sql(
                    "SELECT token, expires_at FROM {s}.leases WHERE tenant = $1 AND name = $2
                     FOR UPDATE",
                ),
                &[&lease.tenant.as_str(), &lease.name],
            )
            .await
            .map_err(backend)?;
        if row.is_some_and(|row| {
            row.get::<_, i64>(0) == lease.token as i64 && row.get::<_, i64>(1) > micros(now)
        }) {
            Ok(())
        } else {
            Err(StoreError::Fenced {
                what: format!("the lease {}", lease.name),
                token: lease.token,
            })
        }
    }

    async fn check_claim(
        &self,
        tx: &Transaction<'_>,
        claim: &ClaimedEvent,
        now: Timestamp,
    ) -> StoreResult<()> {
        let row = tx
            .query_opt(
                &self.sql(
                    "SELECT claim_token, claim_expires FROM {s}.inbox WHERE id = $1 FOR UPDATE",
                ),
                &[&(claim.event.id.0 as i64)],
            )
            .await
            .map_err(backend)?;
        let holds = row.is_some_and(|row| {
            row.get::<_, Option<i64>>(0) == Some(claim.lease.token as i64)
                && row
                    .get::<_, Option<i64>>(1)
                    .is_some_and(|e| e > micros(now))
        });
        if holds {
            Ok(())
        } else {
            Err(StoreError::Fenced {
                what: format!("the claim on inbox event {}", claim.event.id.0),
                token: claim.lease.token,
            })
        }
    }

    async fn find_link(
        &self,
        tenant: &TenantId,
        column: &str,
        value: &str,
    ) -> StoreResult<Option<Link>> {
        let client = self.client().await?;
        let sql = self.sql(&format!(
            "SELECT * FROM {{s}}.links WHERE tenant = $1 AND {column} = $2"
        ));
        client
            .query_opt(&sql, &[&tenant.as_str(), &value])
            .await
            .map_err(backend)?
            .as_ref()
            .map(link_of)
            .transpose()
    }
}

#[async_trait]
impl SyncStore for PostgresStore {
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
        let now = self.clock.now();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let lock = PairLock {
            tenant: tenant.clone(),
            records,
            owner: owner.to_owned(),
            token: self.next_token(&tx).await?,
            expires_at: until(now, ttl),
        };
        if !self.take_locks(&tx, &lock, &lock.records, now).await? {
            tx.rollback().await.map_err(backend)?;
            return Ok(None);
        }
        tx.commit().await.map_err(backend)?;
        Ok(Some(lock))
    }

    async fn extend_pair_lock(
        &self,
        lock: &PairLock,
        records: &[RecordRef],
    ) -> StoreResult<Option<PairLock>> {
        let now = self.clock.now();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let added: Vec<RecordRef> = sorted(records)
            .into_iter()
            .filter(|r| !lock.records.contains(r))
            .collect();
        // The rows in the one order every lock takes them (checking those held, taking those
        // added): two workers extending towards each other's records then wait for one
        // another in turn instead of deadlocking.
        for record in sorted(&[lock.records.clone(), added.clone()].concat()) {
            let record = std::slice::from_ref(&record);
            if lock.records.contains(&record[0]) {
                self.check_lock(&tx, lock, record, now).await?;
            } else if !self.take_locks(&tx, lock, record, now).await? {
                tx.rollback().await.map_err(backend)?;
                return Ok(None);
            }
        }
        tx.commit().await.map_err(backend)?;
        let mut extended = lock.clone();
        extended.records = sorted(&[lock.records.clone(), added].concat());
        Ok(Some(extended))
    }

    async fn renew_pair_lock(&self, lock: &PairLock, ttl: Duration) -> StoreResult<PairLock> {
        let now = self.clock.now();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        self.check_lock(&tx, lock, &lock.records, now).await?;
        let expires_at = until(now, ttl);
        let sql = self.sql(
            "UPDATE {s}.locks SET expires_at = $5
             WHERE tenant = $1 AND kind = $2 AND record = $3 AND token = $4",
        );
        for record in &lock.records {
            let (kind, id) = kind(record);
            tx.execute(
                &sql,
                &[
                    &lock.tenant.as_str(),
                    &kind,
                    &id,
                    &token_param(lock.token)?,
                    &micros(expires_at),
                ],
            )
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        let mut renewed = lock.clone();
        renewed.expires_at = expires_at;
        Ok(renewed)
    }

    async fn unlock_pair(&self, lock: &PairLock) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let sql = self.sql(
            "DELETE FROM {s}.locks WHERE tenant = $1 AND kind = $2 AND record = $3 AND token = $4",
        );
        for record in &lock.records {
            let (kind, id) = kind(record);
            tx.execute(
                &sql,
                &[&lock.tenant.as_str(), &kind, &id, &token_param(lock.token)?],
            )
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn link_by_referral(
        &self,
        tenant: &TenantId,
        referral_id: &str,
    ) -> StoreResult<Option<Link>> {
        self.find_link(tenant, "referral_id", referral_id).await
    }

    async fn link_by_crm(&self, tenant: &TenantId, crm_id: &str) -> StoreResult<Option<Link>> {
        self.find_link(tenant, "crm_id", crm_id).await
    }

    async fn links(&self, tenant: &TenantId, state: LinkState) -> StoreResult<Vec<Link>> {
        let client = self.client().await?;
        client
            .query(
                &self.sql(
                    "SELECT * FROM {s}.links WHERE tenant = $1 AND state = $2
                     ORDER BY created_at, pair",
                ),
                &[&tenant.as_str(), &state_text(state)],
            )
            .await
            .map_err(backend)?
            .iter()
            .map(link_of)
            .collect()
    }

    async fn save_link(&self, lock: &PairLock, link: &Link) -> StoreResult<()> {
        let now = self.clock.now();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        self.check_lock(&tx, lock, &link.records(), now).await?;
        let clash = tx
            .query_opt(
                &self.sql(
                    "SELECT pair FROM {s}.links WHERE tenant = $1 AND pair <> $2
                     AND (($3::text IS NOT NULL AND referral_id = $3)
                       OR ($4::text IS NOT NULL AND crm_id = $4))",
                ),
                &[
                    &lock.tenant.as_str(),
                    &link.pair.0,
                    &link.referral_id,
                    &link.crm_id,
                ],
            )
            .await
            .map_err(backend)?;
        if let Some(row) = clash {
            let other: uuid::Uuid = row.get(0);
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
            &self.sql(
                "INSERT INTO {s}.links
                 (tenant, pair, referral_id, crm_id, state, reason, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (tenant, pair) DO UPDATE SET referral_id = EXCLUDED.referral_id,
                   crm_id = EXCLUDED.crm_id, state = EXCLUDED.state, reason = EXCLUDED.reason,
                   updated_at = EXCLUDED.updated_at",
            ),
            &[
                &lock.tenant.as_str(),
                &link.pair.0,
                &link.referral_id,
                &link.crm_id,
                &state_text(link.state),
                &link.reason,
                &micros(link.created_at),
                &micros(link.updated_at),
            ],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn baseline(&self, tenant: &TenantId, pair: PairId) -> StoreResult<Option<Baseline>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &self.sql("SELECT body::text FROM {s}.baselines WHERE tenant = $1 AND pair = $2"),
                &[&tenant.as_str(), &pair.0],
            )
            .await
            .map_err(backend)?;
        // As text: the snapshot is kept as JSON text, which a `Value` cannot be decoded into.
        row.map(|row| serde_json::from_str(row.get::<_, &str>(0)).map_err(backend))
            .transpose()
    }

    async fn save_baseline(
        &self,
        lock: &PairLock,
        pair: PairId,
        baseline: &Baseline,
    ) -> StoreResult<()> {
        let now = self.clock.now();
        let body = serde_json::to_value(baseline).map_err(backend)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let link = tx
            .query_opt(
                &self.sql("SELECT * FROM {s}.links WHERE tenant = $1 AND pair = $2"),
                &[&lock.tenant.as_str(), &pair.0],
            )
            .await
            .map_err(backend)?
            .as_ref()
            .map(link_of)
            .transpose()?
            .ok_or_else(|| StoreError::Refused(format!("pair {pair} has no link")))?;
        self.check_lock(&tx, lock, &link.records(), now).await?;
        tx.execute(
            &self.sql(
                "INSERT INTO {s}.baselines (tenant, pair, body) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant, pair) DO UPDATE SET body = EXCLUDED.body",
            ),
            &[&lock.tenant.as_str(), &pair.0, &body],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn mark_processed(
        &self,
        tenant: &TenantId,
        key: &str,
        expires_at: Timestamp,
    ) -> StoreResult<bool> {
        let now = self.clock.now();
        let client = self.client().await?;
        // Inserted, or an expired mark replaced: either way this caller is the first.
        let changed = client
            .execute(
                &self.sql(
                    "INSERT INTO {s}.processed AS p (tenant, key, expires_at) VALUES ($1, $2, $3)
                     ON CONFLICT (tenant, key) DO UPDATE SET expires_at = EXCLUDED.expires_at
                     WHERE p.expires_at <= $4",
                ),
                &[&tenant.as_str(), &key, &micros(expires_at), &micros(now)],
            )
            .await
            .map_err(backend)?;
        Ok(changed > 0)
    }

    async fn is_processed(&self, tenant: &TenantId, key: &str) -> StoreResult<bool> {
        let now = self.clock.now();
        let client = self.client().await?;
        let row = client
            .query_opt(
                &self.sql("SELECT expires_at FROM {s}.processed WHERE tenant = $1 AND key = $2"),
                &[&tenant.as_str(), &key],
            )
            .await
            .map_err(backend)?;
        Ok(row.is_some_and(|row| row.get::<_, i64>(0) > micros(now)))
    }

    async fn acquire_lease(
        &self,
        tenant: &TenantId,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>> {
        let now = self.clock.now();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let token = self.next_token(&tx).await?;
        let expires_at = until(now, ttl);
        let changed = tx
            .execute(
                &self.sql(
                    "INSERT INTO {s}.leases AS l (tenant, name, owner, token, expires_at)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (tenant, name) DO UPDATE
                     SET owner = EXCLUDED.owner, token = EXCLUDED.token,
                         expires_at = EXCLUDED.expires_at
                     WHERE l.expires_at <= $6 OR l.owner = EXCLUDED.owner",
                ),
                &[
                    &tenant.as_str(),
                    &name,
                    &owner,
                    &token_param(token)?,
                    &micros(expires_at),
                    &micros(now),
                ],
            )
            .await
            .map_err(backend)?;
        if changed == 0 {
            tx.rollback().await.map_err(backend)?;
            return Ok(None);
        }
        tx.commit().await.map_err(backend)?;
        Ok(Some(Lease {
            tenant: tenant.clone(),
            name: name.to_owned(),
            owner: owner.to_owned(),
            token,
            expires_at,
        }))
    }

    async fn release_lease(&self, lease: &Lease) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                &self.sql("DELETE FROM {s}.leases WHERE tenant = $1 AND name = $2 AND token = $3"),
                &[
                    &lease.tenant.as_str(),
                    &lease.name,
                    &token_param(lease.token)?,
                ],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn checkpoint(&self, tenant: &TenantId, stream: &str) -> StoreResult<Option<Checkpoint>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &self.sql(
                    "SELECT at, last_id FROM {s}.checkpoints WHERE tenant = $1 AND stream = $2",
                ),
                &[&tenant.as_str(), &stream],
            )
            .await
            .map_err(backend)?;
        row.map(|row| {
            Ok(Checkpoint {
                at: instant(row.get(0))?,
                last_id: row.get(1),
            })
        })
        .transpose()
    }

    async fn save_checkpoint(
        &self,
        lease: &Lease,
        stream: &str,
        checkpoint: &Checkpoint,
    ) -> StoreResult<()> {
        let now = self.clock.now();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        self.check_lease(&tx, lease, now).await?;
        tx.execute(
            &self.sql(
                "INSERT INTO {s}.checkpoints (tenant, stream, at, last_id) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant, stream) DO UPDATE SET at = EXCLUDED.at,
                   last_id = EXCLUDED.last_id",
            ),
            &[
                &lease.tenant.as_str(),
                &stream,
                &micros(checkpoint.at),
                &checkpoint.last_id,
            ],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn enqueue(
        &self,
        tenant: &TenantId,
        dedupe_key: &str,
        payload: serde_json::Value,
    ) -> StoreResult<Option<InboxId>> {
        let now = self.clock.now();
        let client = self.client().await?;
        let row = client
            .query_opt(
                &self.sql(
                    "INSERT INTO {s}.inbox (tenant, dedupe_key, payload, received_at, attempts,
                                            not_before)
                     VALUES ($1, $2, $3, $4, 0, $4)
                     ON CONFLICT (tenant, dedupe_key) DO NOTHING RETURNING id",
                ),
                &[&tenant.as_str(), &dedupe_key, &payload, &micros(now)],
            )
            .await
            .map_err(backend)?;
        row.map(|row| Ok(InboxId(token_of(row.get(0))?)))
            .transpose()
    }

    async fn claim_events(
        &self,
        tenant: Option<&TenantId>,
        owner: &str,
        ttl: Duration,
        max: usize,
    ) -> StoreResult<Vec<ClaimedEvent>> {
        let now = self.clock.now();
        let expires_at = until(now, ttl);
        let client = self.client().await?;
        // Other workers skip the rows this statement locks instead of waiting for them.
        let rows = client
            .query(
                &self.sql(
                    "UPDATE {s}.inbox SET attempts = attempts + 1, claim_owner = $1,
                            claim_token = nextval('{s}.fence_tokens'), claim_expires = $2
                     WHERE id IN (
                         SELECT id FROM {s}.inbox
                         WHERE ($3::text IS NULL OR tenant = $3) AND not_before <= $4
                           AND (claim_expires IS NULL OR claim_expires <= $4)
                         ORDER BY id LIMIT $5 FOR UPDATE SKIP LOCKED)
                     RETURNING *",
                ),
                &[
                    &owner,
                    &micros(expires_at),
                    &tenant.map(TenantId::as_str),
                    &micros(now),
                    &i64::try_from(max).unwrap_or(i64::MAX),
                ],
            )
            .await
            .map_err(backend)?;
        let mut claimed = rows
            .iter()
            .map(|row| {
                let event = event_of(row)?;
                let token: i64 = row.try_get("claim_token").map_err(backend)?;
                Ok(ClaimedEvent {
                    lease: Lease {
                        tenant: event.tenant.clone(),
                        name: format!("inbox/{}", event.id.0),
                        owner: owner.to_owned(),
                        token: token_of(token)?,
                        expires_at,
                    },
                    event,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        claimed.sort_by_key(|c| c.event.id);
        Ok(claimed)
    }

    async fn complete_event(&self, claim: &ClaimedEvent) -> StoreResult<()> {
        let now = self.clock.now();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        self.check_claim(&tx, claim, now).await?;
        tx.execute(
            &self.sql("DELETE FROM {s}.inbox WHERE id = $1"),
            &[&(claim.event.id.0 as i64)],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn retry_event(&self, claim: &ClaimedEvent, not_before: Timestamp) -> StoreResult<()> {
        let now = self.clock.now();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        self.check_claim(&tx, claim, now).await?;
        tx.execute(
            &self.sql(
                "UPDATE {s}.inbox SET claim_owner = NULL, claim_token = NULL,
                        claim_expires = NULL, not_before = $2
                 WHERE id = $1",
            ),
            &[&(claim.event.id.0 as i64), &micros(not_before)],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn inbox_depth(&self, tenant: &TenantId) -> StoreResult<usize> {
        let client = self.client().await?;
        let row = client
            .query_one(
                &self.sql("SELECT COUNT(*) FROM {s}.inbox WHERE tenant = $1"),
                &[&tenant.as_str()],
            )
            .await
            .map_err(backend)?;
        usize::try_from(row.get::<_, i64>(0)).map_err(backend)
    }

    async fn add_dead_letter(&self, letter: DeadLetter) -> StoreResult<DeadLetterId> {
        let body = serde_json::to_value(&letter).map_err(backend)?;
        let client = self.client().await?;
        let row = client
            .query_one(
                &self.sql(
                    "INSERT INTO {s}.dead_letters (tenant, at, body) VALUES ($1, $2, $3)
                     RETURNING id",
                ),
                &[&letter.tenant.as_str(), &micros(letter.at), &body],
            )
            .await
            .map_err(backend)?;
        Ok(DeadLetterId(token_of(row.get(0))?))
    }

    async fn merge_dead_letter(&self, letter: DeadLetter) -> StoreResult<DeadLetterId> {
        let records = serde_json::to_value(&letter.records).map_err(backend)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // Two workers merging the same work wait for each other: the second finds the first's.
        let key = serde_json::json!(["dead-letter", letter.tenant.as_str(), letter.kind, records])
            .to_string();
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&key],
        )
        .await
        .map_err(backend)?;
        let existing = tx
            .query_opt(
                &self.sql(
                    "SELECT id, body FROM {s}.dead_letters WHERE tenant = $1
                     AND body->>'kind' = $2 AND body->'records' = $3
                     ORDER BY id LIMIT 1",
                ),
                &[&letter.tenant.as_str(), &letter.kind, &records],
            )
            .await
            .map_err(backend)?;
        let id = match existing {
            Some(row) => {
                let id: i64 = row.get(0);
                let mut merged: DeadLetter =
                    serde_json::from_value(row.get::<_, serde_json::Value>(1)).map_err(backend)?;
                merged.merge(letter);
                let body = serde_json::to_value(&merged).map_err(backend)?;
                tx.execute(
                    &self.sql("UPDATE {s}.dead_letters SET at = $2, body = $3 WHERE id = $1"),
                    &[&id, &micros(merged.at), &body],
                )
                .await
                .map_err(backend)?;
                id
            }
            None => {
                let body = serde_json::to_value(&letter).map_err(backend)?;
                tx.query_one(
                    &self.sql(
                        "INSERT INTO {s}.dead_letters (tenant, at, body) VALUES ($1, $2, $3)
                         RETURNING id",
                    ),
                    &[&letter.tenant.as_str(), &micros(letter.at), &body],
                )
                .await
                .map_err(backend)?
                .get(0)
            }
        };
        tx.commit().await.map_err(backend)?;
        Ok(DeadLetterId(token_of(id)?))
    }

    async fn dead_letters(&self, tenant: &TenantId, limit: usize) -> StoreResult<Vec<DeadLetter>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &self.sql(
                    "SELECT id, body FROM {s}.dead_letters WHERE tenant = $1 ORDER BY id LIMIT $2",
                ),
                &[&tenant.as_str(), &i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                let mut letter: DeadLetter = serde_json::from_value(row.get(1)).map_err(backend)?;
                letter.id = DeadLetterId(token_of(row.get(0))?);
                Ok(letter)
            })
            .collect()
    }

    async fn dead_letter(
        &self,
        tenant: &TenantId,
        id: DeadLetterId,
    ) -> StoreResult<Option<DeadLetter>> {
        self.one_letter(
            "SELECT body FROM {s}.dead_letters WHERE id = $1 AND tenant = $2",
            tenant,
            id,
        )
        .await
    }

    async fn take_dead_letter(
        &self,
        tenant: &TenantId,
        id: DeadLetterId,
    ) -> StoreResult<Option<DeadLetter>> {
        self.one_letter(
            "DELETE FROM {s}.dead_letters WHERE id = $1 AND tenant = $2 RETURNING body",
            tenant,
            id,
        )
        .await
    }

    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<()> {
        let body = serde_json::to_value(&entry).map_err(backend)?;
        let client = self.client().await?;
        client
            .execute(
                &self.sql("INSERT INTO {s}.audit (tenant, pair, at, body) VALUES ($1, $2, $3, $4)"),
                &[
                    &entry.tenant.as_str(),
                    &entry.pair.map(|p| p.0),
                    &micros(entry.at),
                    &body,
                ],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn audit(
        &self,
        tenant: &TenantId,
        pair: Option<PairId>,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &self.sql(
                    "SELECT body FROM {s}.audit WHERE tenant = $1 AND ($2::uuid IS NULL OR pair = $2)
                     ORDER BY id DESC LIMIT $3",
                ),
                &[
                    &tenant.as_str(),
                    &pair.map(|p| p.0),
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| serde_json::from_value(row.get(0)).map_err(backend))
            .collect()
    }

    async fn record_unmapped(
        &self,
        tenant: &TenantId,
        field: &str,
        value: &str,
    ) -> StoreResult<bool> {
        let now = self.clock.now();
        let client = self.client().await?;
        let row = client
            .query_one(
                &self.sql(
                    "INSERT INTO {s}.unmapped AS u (tenant, field, value, first_seen, last_seen, count)
                     VALUES ($1, $2, $3, $4, $4, 1)
                     ON CONFLICT (tenant, field, value) DO UPDATE
                     SET count = u.count + 1, last_seen = EXCLUDED.last_seen
                     RETURNING count",
                ),
                &[&tenant.as_str(), &field, &value, &micros(now)],
            )
            .await
            .map_err(backend)?;
        Ok(row.get::<_, i64>(0) == 1)
    }

    async fn pair_counts(&self, tenant: &TenantId) -> StoreResult<PairCounts> {
        let client = self.client().await?;
        let mut counts = PairCounts::default();
        let rows = client
            .query(
                &self.sql("SELECT state, COUNT(*) FROM {s}.links WHERE tenant = $1 GROUP BY state"),
                &[&tenant.as_str()],
            )
            .await
            .map_err(backend)?;
        for row in &rows {
            let state: String = row.get(0);
            let count: i64 = row.get(1);
            counts.add_links(state_of(&state)?, u64::try_from(count).unwrap_or(0));
        }
        // Each subject's newest telling entry (highest id), grouped by its outcome and by
        // whether the subject is a linked pair.
        let [busy, duplicate] = super::types::UNTELLING_OUTCOMES;
        let rows = client
            .query(
                &self.sql(
                    "WITH telling AS (
                        SELECT a.id, a.body->>'outcome' AS outcome,
                            COALESCE(a.pair::text,
                                (SELECT l.pair::text FROM jsonb_array_elements(a.body->'records') r
                                 JOIN {s}.links l ON l.tenant = a.tenant
                                  AND (l.referral_id = r->>'Referral' OR l.crm_id = r->>'Crm')
                                 LIMIT 1),
                                (a.body->'records'->0)::text) AS subject
                        FROM {s}.audit a
                        WHERE a.tenant = $1 AND a.body->>'outcome' NOT IN ($2, $3)),
                     latest AS (
                        SELECT subject, outcome,
                            ROW_NUMBER() OVER (PARTITION BY subject ORDER BY id DESC) AS n
                        FROM telling WHERE subject IS NOT NULL)
                     SELECT outcome,
                        EXISTS (SELECT 1 FROM {s}.links l WHERE l.tenant = $1
                                AND l.pair::text = latest.subject AND l.state = $4) AS linked,
                        COUNT(*)
                     FROM latest WHERE n = 1 GROUP BY 1, 2",
                ),
                &[
                    &tenant.as_str(),
                    &busy,
                    &duplicate,
                    &state_text(LinkState::Linked),
                ],
            )
            .await
            .map_err(backend)?;
        for row in &rows {
            let outcome: Option<String> = row.get(0);
            let linked: bool = row.get(1);
            let count: i64 = row.get(2);
            if let Some(outcome) = outcome {
                counts.add_outcome(&outcome, linked, u64::try_from(count).unwrap_or(0));
            }
        }
        Ok(counts.finish())
    }

    async fn unmapped(&self, tenant: &TenantId) -> StoreResult<Vec<UnmappedValue>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &self.sql(
                    "SELECT field, value, first_seen, last_seen, count FROM {s}.unmapped
                     WHERE tenant = $1 ORDER BY field, value",
                ),
                &[&tenant.as_str()],
            )
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(UnmappedValue {
                    field: row.get(0),
                    value: row.get(1),
                    first_seen: instant(row.get(2))?,
                    last_seen: instant(row.get(3))?,
                    count: token_of(row.get(4))?,
                })
            })
            .collect()
    }

    async fn save_secret(
        &self,
        tenant: &TenantId,
        name: &str,
        secret: &SecretString,
    ) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                &self.sql(
                    "INSERT INTO {s}.secrets (tenant, name, value) VALUES ($1, $2, $3)
                     ON CONFLICT (tenant, name) DO UPDATE SET value = EXCLUDED.value",
                ),
                &[&tenant.as_str(), &name, &secret.expose_secret()],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn secret(&self, tenant: &TenantId, name: &str) -> StoreResult<Option<SecretString>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &self.sql("SELECT value FROM {s}.secrets WHERE tenant = $1 AND name = $2"),
                &[&tenant.as_str(), &name],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|row| SecretString::from(row.get::<_, String>(0))))
    }

    async fn purge(&self, cutoffs: &Retention) -> StoreResult<u64> {
        let now = self.clock.now();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let mut removed = tx
            .execute(
                &self.sql("DELETE FROM {s}.processed WHERE expires_at <= $1"),
                &[&micros(now)],
            )
            .await
            .map_err(backend)?;
        if let Some(cutoff) = cutoffs.audit_before {
            removed += tx
                .execute(
                    &self.sql("DELETE FROM {s}.audit WHERE at < $1"),
                    &[&micros(cutoff)],
                )
                .await
                .map_err(backend)?;
        }
        if let Some(cutoff) = cutoffs.dead_letters_before {
            removed += tx
                .execute(
                    &self.sql("DELETE FROM {s}.dead_letters WHERE at < $1"),
                    &[&micros(cutoff)],
                )
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(removed)
    }
}
