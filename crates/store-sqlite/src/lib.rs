//! `trent-store-sqlite`: the embedded store, and Trent's default: one SQLite file, WAL journal, `synchronous = FULL`, so
//! a transaction that returned has reached the disk (survives a process kill
//! and a power cut).
//!
//! A key record is kept as JSON beside the columns that are searched
//! (identity, revision, due time). Calls run on tokio's blocking pool. One
//! connection serializes writers, which is what SQLite does anyway; reads
//! go to a few separate connections, which WAL lets proceed while a write
//! transaction is open, so loading a key into the cache never waits behind a
//! long write (a flush of last-use records, say). A read sees every
//! transaction committed before it started. The hot path never comes here:
//! keys are served from the service's cache.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use trent_core::grant::GrantRecord;
use trent_store::{GrantInsert, KeyStore, KeyWrite, StoreError, UsageRecord};

/// Read connections of a file database.
const READERS: usize = 4;
use trent_core::alias::AliasRecord;
use trent_core::ids::{AccountId, AliasName, KeyId, KeyLocator, Region};
use trent_core::key::KeyRecord;
use trent_core::Millis;
use trent_proto::{KeyLastUsageTrackingOperation, ModelEnum};

const SCHEMA_VERSION: i64 = 4;

// `keys` is a rowid table: its rows (a JSON record of about 1.5 KB, with the
// key policy) are larger than a twentieth of a page, where SQLite's
// WITHOUT ROWID layout wastes space (measured: 4.7 KB per key instead of
// about 1.7 KB). The small tables keep the clustered layout.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS keys (
    region   TEXT NOT NULL,
    account  TEXT NOT NULL,
    key_id   TEXT NOT NULL,
    revision INTEGER NOT NULL,
    due_at   INTEGER,
    record   TEXT NOT NULL,
    PRIMARY KEY (region, account, key_id)
);
CREATE INDEX IF NOT EXISTS keys_due ON keys (due_at) WHERE due_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS aliases (
    region     TEXT NOT NULL,
    account    TEXT NOT NULL,
    name       TEXT NOT NULL,
    target     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (region, account, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS aliases_target ON aliases (region, account, target);
CREATE TABLE IF NOT EXISTS key_usage (
    region     TEXT NOT NULL,
    account    TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    operation  TEXT NOT NULL,
    at         INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    event_id   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (region, account, key_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS grants (
    region   TEXT NOT NULL,
    account  TEXT NOT NULL,
    key_id   TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    retiring TEXT,
    record   TEXT NOT NULL,
    PRIMARY KEY (region, account, key_id, grant_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS grants_retiring ON grants (region, retiring, key_id, grant_id)
    WHERE retiring IS NOT NULL;
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  INTEGER NOT NULL
) WITHOUT ROWID;
";

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// Read-only connections (`query_only`); empty for an in-memory
    /// database, whose reads go to `conn`.
    readers: Arc<[Mutex<Connection>]>,
    next_reader: Arc<AtomicUsize>,
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// A checkpoint that could not finish because readers kept old pages.
#[derive(Debug, thiserror::Error)]
#[error("the WAL checkpoint stayed busy; deleted records may remain in the WAL until the next one")]
pub struct CheckpointBusy;

/// The schema of this file is newer than this binary understands.
#[derive(Debug, thiserror::Error)]
#[error("the database schema version {found} is newer than this build supports ({SCHEMA_VERSION})")]
pub struct SchemaTooNew {
    found: i64,
}

impl SqliteStore {
    /// Open (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        create_private(path)?;
        let conn = Connection::open(path).map_err(backend)?;
        Self::init(conn, "FULL")?.with_readers(path)
    }

    /// Open for bulk loading by an offline tool: commits are not flushed to
    /// disk one by one (`synchronous = OFF`); the tool must close the store
    /// (which checkpoints it) before anyone relies on the data. Never used
    /// by the server.
    pub fn open_for_bulk_load(path: &Path) -> Result<SqliteStore, StoreError> {
        create_private(path)?;
        let conn = Connection::open(path).map_err(backend)?;
        Self::init(conn, "OFF")
    }

    /// A private in-memory database (tests).
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        Self::init(Connection::open_in_memory().map_err(backend)?, "FULL")
    }

    fn init(conn: Connection, synchronous: &str) -> Result<SqliteStore, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        conn.pragma_update(None, "synchronous", synchronous)
            .map_err(backend)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(backend)?;
        // Deleted and overwritten rows are zeroed in the pages that held
        // them, so a destroyed key's wrapped material does not linger in free
        // space of the file (see `purge` for the WAL).
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(backend)?;
        // Room for every statement of this file (about 20).
        conn.set_prepared_statement_cache_capacity(64);
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(backend)?;
        if version > SCHEMA_VERSION {
            return Err(backend(SchemaTooNew { found: version }));
        }
        if version < SCHEMA_VERSION {
            // Only a new (or older) database is written to at open, so a
            // start that is refused later (say, for a wrong root key) leaves
            // the file exactly as it was.
            let tx = conn.unchecked_transaction().map_err(backend)?;
            tx.execute_batch(SCHEMA).map_err(backend)?;
            if (1..3).contains(&version) {
                // Version 3 keeps the audit event id of a key's last use.
                tx.execute_batch(
                    "ALTER TABLE key_usage ADD COLUMN event_id TEXT NOT NULL DEFAULT ''",
                )
                .map_err(backend)?;
            }
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
        }
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            readers: Arc::new([]),
            next_reader: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Open the read connections, after `init` has checked the schema.
    fn with_readers(mut self, path: &Path) -> Result<SqliteStore, StoreError> {
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let c = Connection::open(path).map_err(backend)?;
            c.pragma_update(None, "query_only", "ON").map_err(backend)?;
            c.busy_timeout(std::time::Duration::from_secs(10))
                .map_err(backend)?;
            c.set_prepared_statement_cache_capacity(64);
            readers.push(Mutex::new(c));
        }
        self.readers = readers.into();
        Ok(self)
    }

    /// Run a read-only `f` on a read connection (the first free one, else
    /// the next in turn).
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        if self.readers.is_empty() {
            return self.run(move |c| f(c)).await;
        }
        let (readers, next) = (self.readers.clone(), self.next_reader.clone());
        tokio::task::spawn_blocking(move || {
            let start = next.fetch_add(1, Ordering::Relaxed);
            let n = readers.len();
            for i in 0..n {
                if let Ok(guard) = readers[(start + i) % n].try_lock() {
                    return f(&guard);
                }
            }
            let guard = readers[start % n].lock().unwrap_or_else(|e| e.into_inner());
            f(&guard)
        })
        .await
        .map_err(backend)?
    }

    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(backend)?
    }
}

/// Create the database file readable by its owner only, if it does not exist
/// (SQLite gives its `-wal` and `-shm` files the same mode). It holds wrapped
/// key material and, with a passphrase root key, the salt and check value an
/// offline guesser would need.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    match o.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(backend(e)),
    }
}

/// Run a statement through the connection's prepared-statement cache, so a
/// hot statement (a key load, a usage upsert) is parsed once, not per call.
fn exec(c: &Connection, sql: &str, p: impl rusqlite::Params) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(p)
}

/// `query_row` through the prepared-statement cache.
fn query_row<T>(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    c.prepare_cached(sql)?.query_row(p, f)
}

/// Why a compare-and-swap on a key row matched nothing: the row moved on
/// (`Conflict`) or is gone (`NotFound`).
fn cas_miss(c: &Connection, region: &str, account: &str, key_id: &str) -> StoreError {
    let found = query_row(
        c,
        "SELECT 1 FROM keys WHERE region = ?1 AND account = ?2 AND key_id = ?3",
        params![region, account, key_id],
        |_| Ok(()),
    )
    .optional();
    match found {
        Ok(found) => StoreError::cas_miss(found.is_some()),
        Err(e) => backend(e),
    }
}

fn encode(record: &KeyRecord) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(StoreError::Corrupt)
}

fn decode(text: &str) -> Result<KeyRecord, StoreError> {
    serde_json::from_str(text).map_err(StoreError::Corrupt)
}

fn revision_i64(r: u64) -> i64 {
    i64::try_from(r).unwrap_or(i64::MAX)
}

fn alias_from_row(
    region: &Region,
    account: &AccountId,
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<AliasRecord> {
    let target: String = r.get(1)?;
    Ok(AliasRecord {
        region: region.clone(),
        account: account.clone(),
        name: AliasName(r.get(0)?),
        target: KeyId::parse(&target).ok_or(rusqlite::Error::InvalidColumnType(
            1,
            "target".into(),
            rusqlite::types::Type::Text,
        ))?,
        created_at: r.get(2)?,
        updated_at: r.get(3)?,
    })
}

/// A key record ready to be written: its columns, encoded once.
struct KeyRow {
    locator: KeyLocator,
    revision: i64,
    due: Option<Millis>,
    json: String,
}

impl KeyRow {
    fn of(record: &KeyRecord) -> Result<KeyRow, StoreError> {
        Ok(KeyRow {
            locator: record.locator.clone(),
            revision: revision_i64(record.revision),
            due: record.due_at(),
            json: encode(record)?,
        })
    }

    fn insert(&self, c: &Connection) -> Result<(), StoreError> {
        let l = &self.locator;
        let n = exec(
            c,
            "INSERT INTO keys (region, account, key_id, revision, due_at, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            params![
                l.region.as_str(),
                l.account.as_str(),
                l.key_id.to_string(),
                self.revision,
                self.due,
                self.json
            ],
        )
        .map_err(backend)?;
        if n == 0 {
            return Err(StoreError::AlreadyExists);
        }
        Ok(())
    }

    fn update(&self, c: &Connection) -> Result<(), StoreError> {
        let l = &self.locator;
        let n = exec(
            c,
            "UPDATE keys SET revision = ?4, due_at = ?5, record = ?6
                 WHERE region = ?1 AND account = ?2 AND key_id = ?3 AND revision = ?4 - 1",
            params![
                l.region.as_str(),
                l.account.as_str(),
                l.key_id.to_string(),
                self.revision,
                self.due,
                self.json
            ],
        )
        .map_err(backend)?;
        if n == 1 {
            return Ok(());
        }
        Err(cas_miss(
            c,
            l.region.as_str(),
            l.account.as_str(),
            &l.key_id.to_string(),
        ))
    }
}

/// Delete a key at `revision` with its aliases, usage and grants, inside
/// the caller's transaction.
fn delete_in(tx: &Connection, l: &KeyLocator, revision: u64) -> Result<(), StoreError> {
    let rev = revision_i64(revision);
    let (region, account, id) = (l.region.as_str(), l.account.as_str(), l.key_id.to_string());
    let n = exec(
        tx,
        "DELETE FROM keys WHERE region = ?1 AND account = ?2 AND key_id = ?3 AND revision = ?4",
        params![region, account, id, rev],
    )
    .map_err(backend)?;
    if n == 0 {
        return Err(cas_miss(tx, region, account, &id));
    }
    for sql in [
        "DELETE FROM aliases WHERE region = ?1 AND account = ?2 AND target = ?3",
        "DELETE FROM key_usage WHERE region = ?1 AND account = ?2 AND key_id = ?3",
        "DELETE FROM grants WHERE region = ?1 AND account = ?2 AND key_id = ?3",
    ] {
        exec(tx, sql, params![region, account, id]).map_err(backend)?;
    }
    Ok(())
}

#[async_trait]
impl KeyStore for SqliteStore {
    /// Copy every committed page into the database file (where
    /// `secure_delete` has zeroed deleted rows) and truncate the WAL to zero
    /// bytes: old page images in the WAL would otherwise keep a destroyed
    /// key's record until they happen to be overwritten.
    async fn purge(&self) -> Result<(), StoreError> {
        self.run(|c| {
            for _ in 0..100 {
                let busy: i64 = c
                    .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
                    .map_err(backend)?;
                if busy == 0 {
                    return Ok(());
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(backend(CheckpointBusy))
        })
        .await
    }

    async fn insert_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let row = KeyRow::of(record)?;
        self.run(move |c| row.insert(c)).await
    }

    async fn get_key(&self, locator: &KeyLocator) -> Result<Option<KeyRecord>, StoreError> {
        let l = locator.clone();
        let text: Option<String> = self
            .read(move |c| {
                query_row(
                    c,
                    "SELECT record FROM keys WHERE region = ?1 AND account = ?2 AND key_id = ?3",
                    params![l.region.as_str(), l.account.as_str(), l.key_id.to_string()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)
            })
            .await?;
        text.as_deref().map(decode).transpose()
    }

    async fn update_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let row = KeyRow::of(record)?;
        self.run(move |c| row.update(c)).await
    }

    async fn delete_key(&self, locator: &KeyLocator, revision: u64) -> Result<(), StoreError> {
        let l = locator.clone();
        self.run(move |c| {
            let tx = c.transaction().map_err(backend)?;
            delete_in(&tx, &l, revision)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn write_keys(&self, writes: &[KeyWrite]) -> Result<(), StoreError> {
        enum Op {
            Insert(KeyRow),
            Update(KeyRow),
            Delete(KeyLocator, u64),
        }
        let ops = writes
            .iter()
            .map(|w| {
                Ok(match w {
                    KeyWrite::Insert(r) => Op::Insert(KeyRow::of(r)?),
                    KeyWrite::Update(r) => Op::Update(KeyRow::of(r)?),
                    KeyWrite::Delete(l, rev) => Op::Delete(l.clone(), *rev),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.run(move |c| {
            // Dropping the transaction on an error rolls every write back.
            let tx = c.transaction().map_err(backend)?;
            for op in &ops {
                match op {
                    Op::Insert(row) => row.insert(&tx)?,
                    Op::Update(row) => row.update(&tx)?,
                    Op::Delete(l, rev) => delete_in(&tx, l, *rev)?,
                }
            }
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn list_keys(
        &self,
        region: &Region,
        account: &AccountId,
        after: Option<&KeyId>,
        limit: usize,
    ) -> Result<Vec<KeyId>, StoreError> {
        let (region, account) = (region.clone(), account.clone());
        let after = after.map(|a| a.to_string()).unwrap_or_default();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let ids: Vec<String> = self
            .read(move |c| {
                let mut st = c
                    .prepare_cached(
                        "SELECT key_id FROM keys WHERE region = ?1 AND account = ?2 AND key_id > ?3
                         ORDER BY key_id LIMIT ?4",
                    )
                    .map_err(backend)?;
                let rows = st
                    .query_map(
                        params![region.as_str(), account.as_str(), after, limit],
                        |r| r.get(0),
                    )
                    .map_err(backend)?;
                rows.collect::<Result<Vec<String>, _>>().map_err(backend)
            })
            .await?;
        Ok(ids.iter().filter_map(|s| KeyId::parse(s)).collect())
    }

    async fn due_keys(&self, now: Millis, limit: usize) -> Result<Vec<KeyLocator>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(String, String, String)> = self
            .read(move |c| {
                let mut st = c
                    .prepare_cached(
                        "SELECT region, account, key_id FROM keys
                         WHERE due_at IS NOT NULL AND due_at <= ?1 ORDER BY due_at LIMIT ?2",
                    )
                    .map_err(backend)?;
                let rows = st
                    .query_map(params![now, limit], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .map_err(backend)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(backend)
            })
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(r, a, k)| {
                Some(KeyLocator {
                    region: Region::parse(&r)?,
                    account: AccountId::parse(&a)?,
                    key_id: KeyId::parse(&k)?,
                })
            })
            .collect())
    }

    async fn insert_alias(&self, alias: &AliasRecord) -> Result<(), StoreError> {
        let a = alias.clone();
        self.run(move |c| {
            let n = exec(
                c,
                "INSERT INTO aliases (region, account, name, target, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                params![
                    a.region.as_str(),
                    a.account.as_str(),
                    a.name.0,
                    a.target.to_string(),
                    a.created_at,
                    a.updated_at
                ],
            )
            .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::AlreadyExists);
            }
            Ok(())
        })
        .await
    }

    async fn get_alias(
        &self,
        region: &Region,
        account: &AccountId,
        name: &AliasName,
    ) -> Result<Option<AliasRecord>, StoreError> {
        let (region, account, name) = (region.clone(), account.clone(), name.clone());
        self.read(move |c| {
            query_row(
                c,
                "SELECT name, target, created_at, updated_at FROM aliases
                 WHERE region = ?1 AND account = ?2 AND name = ?3",
                params![region.as_str(), account.as_str(), name.0],
                |r| alias_from_row(&region, &account, r),
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn update_alias(&self, alias: &AliasRecord, expected: &KeyId) -> Result<(), StoreError> {
        let (a, expected) = (alias.clone(), expected.to_string());
        self.run(move |c| {
            let n = exec(
                c,
                "UPDATE aliases SET target = ?4, updated_at = ?5
                     WHERE region = ?1 AND account = ?2 AND name = ?3 AND target = ?6",
                params![
                    a.region.as_str(),
                    a.account.as_str(),
                    a.name.0,
                    a.target.to_string(),
                    a.updated_at,
                    expected
                ],
            )
            .map_err(backend)?;
            if n == 1 {
                return Ok(());
            }
            let exists = query_row(
                c,
                "SELECT 1 FROM aliases WHERE region = ?1 AND account = ?2 AND name = ?3",
                params![a.region.as_str(), a.account.as_str(), a.name.0],
                |_| Ok(()),
            )
            .optional()
            .map_err(backend)?;
            Err(StoreError::cas_miss(exists.is_some()))
        })
        .await
    }

    async fn delete_alias(
        &self,
        region: &Region,
        account: &AccountId,
        name: &AliasName,
    ) -> Result<(), StoreError> {
        let (region, account, name) = (region.clone(), account.clone(), name.clone());
        self.run(move |c| {
            let n = exec(
                c,
                "DELETE FROM aliases WHERE region = ?1 AND account = ?2 AND name = ?3",
                params![region.as_str(), account.as_str(), name.0],
            )
            .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }

    async fn list_aliases(
        &self,
        region: &Region,
        account: &AccountId,
        target: Option<&KeyId>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        let (region, account) = (region.clone(), account.clone());
        let target = target.map(|t| t.to_string());
        let after = after.unwrap_or("").to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT name, target, created_at, updated_at FROM aliases
                     WHERE region = ?1 AND account = ?2 AND name > ?3
                       AND (?4 IS NULL OR target = ?4)
                     ORDER BY name LIMIT ?5",
                )
                .map_err(backend)?;
            let rows = st
                .query_map(
                    params![region.as_str(), account.as_str(), after, target, limit],
                    |r| alias_from_row(&region, &account, r),
                )
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }

    async fn record_usage(&self, usage: &[UsageRecord]) -> Result<(), StoreError> {
        if usage.is_empty() {
            return Ok(());
        }
        // In index order, so the upserts (and the key-existence checks) walk
        // the B-trees sequentially instead of touching a random page per row
        // (measured for 100,000 rows: 2.1 s in random order, 0.6 s sorted).
        // `KeyLocator`'s order is the text order of (region, account, key_id).
        let mut rows = usage.to_vec();
        rows.sort_unstable_by(|a, b| a.locator.cmp(&b.locator));
        self.run(move |c| {
            let tx = c.transaction().map_err(backend)?;
            for u in &rows {
                let l = &u.locator;
                exec(
                    &tx,
                    "INSERT INTO key_usage (region, account, key_id, operation, at, request_id, event_id)
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
                     WHERE EXISTS (SELECT 1 FROM keys WHERE region = ?1 AND account = ?2 AND key_id = ?3)
                     ON CONFLICT (region, account, key_id) DO UPDATE
                     SET operation = excluded.operation, at = excluded.at,
                         request_id = excluded.request_id, event_id = excluded.event_id
                     WHERE excluded.at >= key_usage.at",
                    params![
                        l.region.as_str(),
                        l.account.as_str(),
                        l.key_id.to_string(),
                        u.operation.as_str(),
                        u.at,
                        u.request_id,
                        u.event_id
                    ],
                )
                .map_err(backend)?;
            }
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn get_usage(&self, locator: &KeyLocator) -> Result<Option<UsageRecord>, StoreError> {
        let l = locator.clone();
        self.read(move |c| {
            let row: Option<(String, i64, String, String)> = query_row(
                c,
                "SELECT operation, at, request_id, event_id FROM key_usage
                     WHERE region = ?1 AND account = ?2 AND key_id = ?3",
                params![l.region.as_str(), l.account.as_str(), l.key_id.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(backend)?;
            Ok(row.and_then(|(op, at, request_id, event_id)| {
                Some(UsageRecord {
                    locator: l.clone(),
                    operation: KeyLastUsageTrackingOperation::parse(&op)?,
                    at,
                    request_id,
                    event_id,
                })
            }))
        })
        .await
    }

    async fn insert_grant(
        &self,
        grant: &GrantRecord,
        max_per_key: usize,
    ) -> Result<GrantInsert, StoreError> {
        let json = serde_json::to_string(grant).map_err(StoreError::Corrupt)?;
        let g = grant.clone();
        self.run(move |c| {
            let tx = c.transaction().map_err(backend)?;
            let (region, account, id) = (
                g.key.region.as_str(),
                g.key.account.as_str(),
                g.key.key_id.to_string(),
            );
            if g.name.is_some() {
                let mut st = tx
                    .prepare_cached(
                        "SELECT record FROM grants WHERE region = ?1 AND account = ?2 AND key_id = ?3",
                    )
                    .map_err(backend)?;
                let rows = st
                    .query_map(params![region, account, id], |r| r.get::<_, String>(0))
                    .map_err(backend)?;
                for row in rows {
                    let existing: GrantRecord = serde_json::from_str(&row.map_err(backend)?)
                        .map_err(StoreError::Corrupt)?;
                    if existing.same_request(&g) {
                        return Ok(GrantInsert::Existing(Box::new(existing)));
                    }
                }
            }
            let count: i64 = query_row(
                &tx,
                "SELECT COUNT(*) FROM grants WHERE region = ?1 AND account = ?2 AND key_id = ?3",
                params![region, account, id],
                |r| r.get(0),
            )
            .map_err(backend)?;
            if usize::try_from(count).unwrap_or(usize::MAX) >= max_per_key {
                return Ok(GrantInsert::LimitReached);
            }
            let n = exec(
                &tx,
                "INSERT INTO grants (region, account, key_id, grant_id, retiring, record)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                params![region, account, id, g.grant_id, g.retiring, json],
            )
            .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::AlreadyExists);
            }
            tx.commit().map_err(backend)?;
            Ok(GrantInsert::Inserted)
        })
        .await
    }

    async fn get_grant(
        &self,
        key: &KeyLocator,
        grant_id: &str,
    ) -> Result<Option<GrantRecord>, StoreError> {
        let (l, gid) = (key.clone(), grant_id.to_string());
        let text: Option<String> = self
            .read(move |c| {
                query_row(
                    c,
                    "SELECT record FROM grants WHERE region = ?1 AND account = ?2 AND key_id = ?3 AND grant_id = ?4",
                    params![l.region.as_str(), l.account.as_str(), l.key_id.to_string(), gid],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)
            })
            .await?;
        text.map(|t| serde_json::from_str(&t).map_err(StoreError::Corrupt))
            .transpose()
    }

    async fn list_grants(
        &self,
        key: &KeyLocator,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        let l = key.clone();
        let after = after.unwrap_or_default().to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<String> = self
            .read(move |c| {
                let mut st = c
                    .prepare_cached(
                        "SELECT record FROM grants WHERE region = ?1 AND account = ?2 AND key_id = ?3
                         AND grant_id > ?4 ORDER BY grant_id LIMIT ?5",
                    )
                    .map_err(backend)?;
                let rows = st
                    .query_map(
                        params![l.region.as_str(), l.account.as_str(), l.key_id.to_string(), after, limit],
                        |r| r.get(0),
                    )
                    .map_err(backend)?;
                rows.collect::<Result<Vec<String>, _>>().map_err(backend)
            })
            .await?;
        rows.iter()
            .map(|t| serde_json::from_str(t).map_err(StoreError::Corrupt))
            .collect()
    }

    async fn list_retirable_grants(
        &self,
        region: &Region,
        retiring: &str,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        let (region, retiring) = (region.clone(), retiring.to_string());
        let (after_key, after_grant) = after
            .map(|(k, g)| (k.to_string(), g.to_string()))
            .unwrap_or_default();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<String> = self
            .read(move |c| {
                let mut st = c
                    .prepare_cached(
                        "SELECT record FROM grants WHERE region = ?1 AND retiring = ?2
                         AND (key_id, grant_id) > (?3, ?4) ORDER BY key_id, grant_id LIMIT ?5",
                    )
                    .map_err(backend)?;
                let rows = st
                    .query_map(
                        params![region.as_str(), retiring, after_key, after_grant, limit],
                        |r| r.get(0),
                    )
                    .map_err(backend)?;
                rows.collect::<Result<Vec<String>, _>>().map_err(backend)
            })
            .await?;
        rows.iter()
            .map(|t| serde_json::from_str(t).map_err(StoreError::Corrupt))
            .collect()
    }

    async fn delete_grant(&self, key: &KeyLocator, grant_id: &str) -> Result<(), StoreError> {
        let (l, gid) = (key.clone(), grant_id.to_string());
        self.run(move |c| {
            let n = exec(
                c,
                "DELETE FROM grants WHERE region = ?1 AND account = ?2 AND key_id = ?3 AND grant_id = ?4",
                params![l.region.as_str(), l.account.as_str(), l.key_id.to_string(), gid],
            )
            .map_err(backend)?;
            if n == 0 {
                Err(StoreError::NotFound)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let name = name.to_string();
        self.read(move |c| {
            query_row(
                c,
                "SELECT value FROM meta WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn put_meta_if_absent(&self, name: &str, value: &[u8]) -> Result<bool, StoreError> {
        let (name, value) = (name.to_string(), value.to_vec());
        self.run(move |c| {
            let n = exec(
                c,
                "INSERT INTO meta (name, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![name, value],
            )
            .map_err(backend)?;
            Ok(n == 1)
        })
        .await
    }

    /// One process uses a SQLite file, so the lease is uncontended in
    /// practice; it is kept anyway so the store meets the whole contract.
    async fn lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let (name, holder) = (name.to_string(), holder.to_string());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let until = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        self.run(move |c| {
            let n = exec(
                c,
                "INSERT INTO leases (name, holder, until) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
                 WHERE leases.holder = excluded.holder OR leases.until <= ?4",
                params![name, holder, until, now],
            )
            .map_err(backend)?;
            Ok(n == 1)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of the store directory, concatenated.
    fn all_bytes(dir: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            out.extend(std::fs::read(e.unwrap().path()).unwrap());
        }
        out
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    /// A destroyed key leaves nothing behind: not in the database file's
    /// free pages (secure_delete), not in old WAL frames (purge truncates
    /// the WAL). Fails with either measure removed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn purge_leaves_no_trace_of_a_deleted_key() {
        use base64::Engine;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("trent.db")).unwrap();
        let keep = trent_store::conformance::sample_key(1);
        store.insert_key(&keep).await.unwrap();
        let mut doomed = trent_store::conformance::sample_key(2);
        doomed.versions[0].wrapped = b"DOOMED-WRAPPED-MATERIAL-0123456789abcdef".to_vec();
        store.insert_key(&doomed).await.unwrap();
        // Older revisions of the row must go too.
        for i in 0..3 {
            let mut next = doomed.clone();
            next.revision += 1;
            next.description = format!("revision {i}");
            store.update_key(&next).await.unwrap();
            doomed = next;
        }
        let wrapped_b64 =
            base64::engine::general_purpose::STANDARD.encode(&doomed.versions[0].wrapped);
        let id = doomed.locator.key_id.to_string();
        assert!(contains(&all_bytes(dir.path()), wrapped_b64.as_bytes()));
        store
            .delete_key(&doomed.locator, doomed.revision)
            .await
            .unwrap();
        store.purge().await.unwrap();
        let bytes = all_bytes(dir.path());
        assert!(
            !contains(&bytes, wrapped_b64.as_bytes()),
            "wrapped material left behind"
        );
        assert!(!contains(&bytes, id.as_bytes()), "key id left behind");
        assert!(contains(&bytes, keep.locator.key_id.to_string().as_bytes()));
        drop(store);
        let store = SqliteStore::open(&dir.path().join("trent.db")).unwrap();
        assert!(store.get_key(&doomed.locator).await.unwrap().is_none());
        assert!(store.get_key(&keep.locator).await.unwrap().is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn committed_records_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trent.db");
        let store = SqliteStore::open(&path).unwrap();
        let rec = trent_store::conformance::sample_key(77);
        store.insert_key(&rec).await.unwrap();
        drop(store);
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.get_key(&rec.locator).await.unwrap(), Some(rec));
    }

    /// A key load is not held up by an open write transaction (a long
    /// last-use flush), and sees what was committed before it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_do_not_wait_for_an_open_write_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("trent.db")).unwrap();
        let rec = trent_store::conformance::sample_key(7);
        store.insert_key(&rec).await.unwrap();
        let writer = store.conn.clone();
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let mut c = writer.lock().unwrap();
            let tx = c.transaction().unwrap();
            tx.execute("DELETE FROM keys", []).unwrap();
            held_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            // Rolled back on drop.
        });
        held_rx.recv().unwrap();
        let got = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            store.get_key(&rec.locator),
        )
        .await
        .expect("the read waited for the writer")
        .unwrap();
        assert_eq!(got, Some(rec));
        release_tx.send(()).unwrap();
        holder.join().unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn database_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trent.db");
        let _store = SqliteStore::open(&path).unwrap();
        for name in ["trent.db", "trent.db-wal", "trent.db-shm"] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{name} is {mode:o}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trent.db");
        {
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "user_version", 99).unwrap();
        }
        assert!(SqliteStore::open(&path).is_err());
    }
}

/// The contract on an in-memory database.
#[cfg(test)]
mod conformance_in_memory {
    trent_store::conformance_tests!(|| async { crate::SqliteStore::open_in_memory().unwrap() });
}

/// The contract on a file (its own directory per check, kept until the
/// process ends so the store outlives the closure).
#[cfg(test)]
mod conformance_on_disk {
    trent_store::conformance_tests!(|| async {
        let dir = tempfile::tempdir().unwrap().keep();
        crate::SqliteStore::open(&dir.join("trent.db")).unwrap()
    });
}
