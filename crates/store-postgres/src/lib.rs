//! `trent-store-postgres`: the store of several Trent nodes sharing one
//! PostgreSQL database (itself replicated for failover).
//!
//! It owns: the schema (SQL migrations in `migrations/`, applied at start
//! under an advisory lock so nodes starting together do not race), a pool of
//! connections (deadpool), every [`KeyStore`] operation as one transaction
//! with compare-and-swap on the key's revision, leases in a table on the
//! database's clock, and the change feed: triggers announce every committed
//! change on a channel, and one listening connection per node turns the
//! announcements into [`Change`]s for the service's cache ([`listen`]).
//!
//! It refuses: any domain decision (records arrive fully formed), and
//! waiting forever: every operation has a deadline, and a database that is
//! failing over or restarting is reported as [`StoreError::Unavailable`]
//! (retryable) instead of a hang.

mod listen;
mod migrate;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_postgres::error::SqlState;
use trent_core::alias::AliasRecord;
use trent_core::grant::GrantRecord;
use trent_core::ids::{AccountId, AliasName, KeyId, KeyLocator, Region};
use trent_core::key::KeyRecord;
use trent_core::Millis;
use trent_proto::{KeyLastUsageTrackingOperation, ModelEnum};
use trent_store::{Change, GrantInsert, KeyStore, KeyWrite, StoreError, UsageRecord};

pub use migrate::MIGRATIONS;

/// How to reach the database. `Debug` leaves out the password.
#[derive(Clone)]
pub struct PgOptions {
    /// A libpq-style connection string or URL; several hosts with
    /// `target_session_attrs=read-write` for failover.
    pub url: String,
    /// Connections in the pool (besides the one that listens for changes).
    pub pool_size: usize,
    /// Verify the server with these CA certificates (PEM) and require TLS;
    /// `None`: no TLS.
    pub tls_ca_file: Option<PathBuf>,
    /// The longest any one operation (waiting for a connection included)
    /// may take before it fails as unavailable.
    pub timeout: Duration,
    /// `application_name` of the connections (shows in `pg_stat_activity`).
    pub application_name: String,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &redacted(&self.url))
            .field("pool_size", &self.pool_size)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("timeout", &self.timeout)
            .field("application_name", &self.application_name)
            .finish()
    }
}

/// What a connection string says, without its password: user, hosts and
/// ports, database, and the session attributes asked for. Read from the
/// parsed configuration rather than by scanning the text, so no spelling of
/// a password (quoted, spaced, in a URL or a query parameter) slips through.
pub fn redacted(url: &str) -> String {
    let Ok(c) = url.parse::<tokio_postgres::Config>() else {
        return "<a connection string that does not parse>".into();
    };
    let ports = c.get_ports();
    let hosts: Vec<String> = c
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            format!("{host}:{port}")
        })
        .collect();
    format!(
        "user={} hosts={} dbname={} password={} target_session_attrs={:?}",
        c.get_user().unwrap_or("-"),
        hosts.join(","),
        c.get_dbname().unwrap_or("-"),
        if c.get_password().is_some() {
            "***"
        } else {
            "-"
        },
        c.get_target_session_attrs(),
    )
}

impl PgOptions {
    /// Options with the defaults for `url`.
    pub fn new(url: impl Into<String>) -> PgOptions {
        PgOptions {
            url: url.into(),
            pool_size: 16,
            tls_ca_file: None,
            timeout: Duration::from_secs(5),
            application_name: "trent".into(),
        }
    }
}

/// Why the store could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The connection string does not parse.
    #[error("the PostgreSQL connection string is not valid: {0}")]
    Url(#[source] tokio_postgres::Error),
    /// The CA file could not be read.
    #[error("cannot read the PostgreSQL CA file {path}: {reason}")]
    Ca {
        /// Path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The pool could not be built.
    #[error("cannot build the connection pool: {0}")]
    Pool(String),
}

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: Pool,
    timeout: Duration,
    changes: broadcast::Sender<Change>,
    /// A receiver subscribed before the listener started, for the first
    /// caller of `changes` (the service): nothing the listener sends, a
    /// `Lost` at start-up included, is missed.
    first: std::sync::Arc<std::sync::Mutex<Option<broadcast::Receiver<Change>>>>,
    /// The change listener runs while a clone of this exists.
    alive: std::sync::Arc<()>,
}

/// The TLS connector of every connection (pool and listener).
#[derive(Clone)]
enum Tls {
    Off(tokio_postgres::NoTls),
    On(tokio_postgres_rustls::MakeRustlsConnect),
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tls::Off(_) => "Tls::Off",
            Tls::On(_) => "Tls::On",
        })
    }
}

fn tls(o: &PgOptions) -> Result<Tls, SetupError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let Some(path) = &o.tls_ca_file else {
        return Ok(Tls::Off(tokio_postgres::NoTls));
    };
    let ca = |reason: String| SetupError::Ca {
        path: path.clone(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| ca(e.to_string()))? {
        roots
            .add(cert.map_err(|e| ca(e.to_string()))?)
            .map_err(|e| ca(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(ca("no CERTIFICATE block found".into()));
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ca(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Tls::On(tokio_postgres_rustls::MakeRustlsConnect::new(
        config,
    )))
}

/// The connection settings every connection gets.
fn pg_config(o: &PgOptions, tls: &Tls) -> Result<tokio_postgres::Config, SetupError> {
    let mut c: tokio_postgres::Config = o.url.parse().map_err(SetupError::Url)?;
    c.application_name(&o.application_name);
    if c.get_connect_timeout().is_none() {
        c.connect_timeout(o.timeout);
    }
    // A peer that vanished without a word (a host that died) is noticed.
    c.keepalives(true);
    c.keepalives_idle(Duration::from_secs(10));
    // Unacknowledged data (a server that vanished mid-query) ends the
    // connection after the deadline instead of TCP's 15 minutes.
    c.tcp_user_timeout(o.timeout);
    if matches!(tls, Tls::On(_)) {
        c.ssl_mode(tokio_postgres::config::SslMode::Require);
    }
    Ok(c)
}

/// Whether an error means the database is (for now) out of reach or not
/// the primary, so that the request may be retried: the connection broke,
/// the server is shutting down or starting, or it became read-only.
fn transient(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        // No SQLSTATE: the error came from the client side. Only a broken or
        // refused connection (an IO error underneath) is transient; a value
        // that does not encode is a bug, not a reason to retry.
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
        Some(code) => {
            code.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                    SqlState::READ_ONLY_SQL_TRANSACTION,
                    SqlState::T_R_SERIALIZATION_FAILURE,
                    SqlState::T_R_DEADLOCK_DETECTED,
                    SqlState::QUERY_CANCELED,
                ]
                .contains(code)
        }
    }
}

fn pg(e: tokio_postgres::Error) -> StoreError {
    if transient(&e) {
        StoreError::Unavailable(Box::new(e))
    } else {
        StoreError::Backend(Box::new(e))
    }
}

/// The operation's deadline passed.
#[derive(Debug, thiserror::Error)]
#[error("the database did not answer within {0:?}")]
pub struct DeadlineExceeded(Duration);

/// No connection could be had from the pool.
#[derive(Debug, thiserror::Error)]
#[error("no database connection: {0}")]
pub struct NoConnection(String);

type Work<'c, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'c>>;

impl PostgresStore {
    /// Connect, apply the migrations this build has that the database
    /// lacks (refusing a database whose schema is newer), and start
    /// listening for changes. Fails if the database cannot be reached.
    pub async fn connect(o: &PgOptions) -> Result<PostgresStore, StoreError> {
        let setup = |e: SetupError| StoreError::Backend(Box::new(e));
        let tls = tls(o).map_err(setup)?;
        let config = pg_config(o, &tls).map_err(setup)?;
        let mgr_config = ManagerConfig {
            // A connection is checked (not closed) when taken from the pool;
            // one that failed an operation as unavailable is thrown away.
            recycling_method: RecyclingMethod::Fast,
        };
        let mgr = match &tls {
            Tls::Off(t) => Manager::from_config(config.clone(), *t, mgr_config),
            Tls::On(t) => Manager::from_config(config.clone(), t.clone(), mgr_config),
        };
        let timeouts = deadpool_postgres::Timeouts {
            wait: Some(o.timeout),
            create: Some(o.timeout),
            recycle: Some(o.timeout),
        };
        let pool = Pool::builder(mgr)
            .max_size(o.pool_size.max(1))
            .timeouts(timeouts)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| setup(SetupError::Pool(e.to_string())))?;
        let (changes, first) = broadcast::channel(4096);
        let store = PostgresStore {
            pool,
            timeout: o.timeout,
            changes,
            first: std::sync::Arc::new(std::sync::Mutex::new(Some(first))),
            alive: std::sync::Arc::new(()),
        };
        store
            .run(|c| Box::pin(async move { migrate::apply(c).await }))
            .await?;
        listen::start(
            config,
            tls,
            store.changes.clone(),
            std::sync::Arc::downgrade(&store.alive),
        )
        .await?;
        Ok(store)
    }

    /// Take a connection and run `work` on it within the deadline. A
    /// connection whose work failed as unavailable (or timed out, leaving
    /// a query in flight) is closed, not returned to the pool.
    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send,
        F: for<'c> FnOnce(&'c mut Object) -> Work<'c, T> + Send,
    {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(Box::new(NoConnection(causes(&e)))))?;
        // Closed unless given back below: a request abandoned mid-query
        // (its client went away) must not hand the next one a connection
        // with a statement still running.
        let mut guard = CloseUnlessReturned(Some(client));
        let Some(client) = guard.0.as_mut() else {
            return Err(StoreError::Unavailable(Box::new(NoConnection(
                "no connection".into(),
            ))));
        };
        let outcome = tokio::time::timeout_at(deadline, work(client)).await;
        match outcome {
            Ok(Ok(v)) => {
                guard.give_back();
                Ok(v)
            }
            Ok(Err(e)) => {
                if !matches!(e, StoreError::Unavailable(_)) {
                    guard.give_back();
                }
                Err(e)
            }
            Err(_) => Err(StoreError::Unavailable(Box::new(DeadlineExceeded(
                self.timeout,
            )))),
        }
    }
}

/// An error and its causes on one line ("error performing TLS handshake:
/// invalid peer certificate: UnknownIssuer"): the pool's error is kept as
/// text, and its causes are what tells an operator what to fix.
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = c.source();
    }
    text
}

/// A pooled connection that is closed when dropped, unless given back.
struct CloseUnlessReturned(Option<Object>);

impl CloseUnlessReturned {
    fn give_back(&mut self) {
        drop(self.0.take());
    }
}

impl Drop for CloseUnlessReturned {
    fn drop(&mut self) {
        if let Some(o) = self.0.take() {
            drop(Object::take(o));
        }
    }
}

fn encode<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(StoreError::Corrupt)
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(StoreError::Corrupt)
}

fn rev(r: u64) -> i64 {
    i64::try_from(r).unwrap_or(i64::MAX)
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A key record ready to be written: its columns, encoded once.
struct KeyRow {
    region: String,
    account: String,
    key_id: String,
    revision: i64,
    due: Option<Millis>,
    json: String,
}

impl KeyRow {
    fn of(r: &KeyRecord) -> Result<KeyRow, StoreError> {
        Ok(KeyRow {
            region: r.locator.region.as_str().to_string(),
            account: r.locator.account.as_str().to_string(),
            key_id: r.locator.key_id.to_string(),
            revision: rev(r.revision),
            due: r.due_at(),
            json: encode(r)?,
        })
    }

    async fn insert(&self, c: &impl deadpool_postgres::GenericClient) -> Result<(), StoreError> {
        let n = c
            .execute(
                "INSERT INTO keys (region, account, key_id, revision, due_at, record)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                &[
                    &self.region,
                    &self.account,
                    &self.key_id,
                    &self.revision,
                    &self.due,
                    &self.json,
                ],
            )
            .await
            .map_err(pg)?;
        if n == 0 {
            return Err(StoreError::AlreadyExists);
        }
        Ok(())
    }

    async fn update(&self, c: &impl deadpool_postgres::GenericClient) -> Result<(), StoreError> {
        let n = c
            .execute(
                "UPDATE keys SET revision = $4, due_at = $5, record = $6
                 WHERE region = $1 AND account = $2 AND key_id = $3 AND revision = $4::bigint - 1",
                &[
                    &self.region,
                    &self.account,
                    &self.key_id,
                    &self.revision,
                    &self.due,
                    &self.json,
                ],
            )
            .await
            .map_err(pg)?;
        if n == 1 {
            return Ok(());
        }
        cas_miss(c, &self.region, &self.account, &self.key_id).await
    }
}

/// Why a compare-and-swap on a key row matched nothing.
async fn cas_miss(
    c: &impl deadpool_postgres::GenericClient,
    region: &str,
    account: &str,
    key_id: &str,
) -> Result<(), StoreError> {
    let found = c
        .query_opt(
            "SELECT 1 FROM keys WHERE region = $1 AND account = $2 AND key_id = $3",
            &[&region, &account, &key_id],
        )
        .await
        .map_err(pg)?;
    Err(StoreError::cas_miss(found.is_some()))
}

/// Delete a key at `revision` with its aliases, usage and grants, inside
/// the caller's transaction.
async fn delete_in(
    tx: &impl deadpool_postgres::GenericClient,
    l: &KeyLocator,
    revision: u64,
) -> Result<(), StoreError> {
    let (region, account, id) = (l.region.as_str(), l.account.as_str(), l.key_id.to_string());
    let n = tx
        .execute(
            "DELETE FROM keys WHERE region = $1 AND account = $2 AND key_id = $3 AND revision = $4",
            &[&region, &account, &id, &rev(revision)],
        )
        .await
        .map_err(pg)?;
    if n == 0 {
        return cas_miss(tx, region, account, &id).await;
    }
    for sql in [
        "DELETE FROM aliases WHERE region = $1 AND account = $2 AND target = $3",
        "DELETE FROM key_usage WHERE region = $1 AND account = $2 AND key_id = $3",
        "DELETE FROM grants WHERE region = $1 AND account = $2 AND key_id = $3",
    ] {
        tx.execute(sql, &[&region, &account, &id])
            .await
            .map_err(pg)?;
    }
    Ok(())
}

fn alias_of(
    region: &Region,
    account: &AccountId,
    r: &tokio_postgres::Row,
) -> Result<AliasRecord, StoreError> {
    let target: String = r.get(1);
    Ok(AliasRecord {
        region: region.clone(),
        account: account.clone(),
        name: AliasName(r.get(0)),
        target: KeyId::parse(&target).ok_or_else(|| {
            StoreError::Backend(format!("alias target {target:?} is not a key id").into())
        })?,
        created_at: r.get(2),
        updated_at: r.get(3),
    })
}

/// Serializes the grant inserts of one key across nodes (the limit and the
/// same-name check are decided on what the insert commits against).
const GRANT_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtextextended('trent-grants/' || $1 || '/' || $2 || '/' || $3, 0))";

#[async_trait]
impl KeyStore for PostgresStore {
    fn changes(&self) -> Option<broadcast::Receiver<Change>> {
        let first = self.first.lock().unwrap_or_else(|e| e.into_inner()).take();
        Some(first.unwrap_or_else(|| self.changes.subscribe()))
    }

    async fn insert_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let row = KeyRow::of(record)?;
        self.run(|c| Box::pin(async move { row.insert(&*c).await }))
            .await
    }

    async fn get_key(&self, locator: &KeyLocator) -> Result<Option<KeyRecord>, StoreError> {
        let (region, account, id) = (
            locator.region.as_str().to_string(),
            locator.account.as_str().to_string(),
            locator.key_id.to_string(),
        );
        let text: Option<String> = self
            .run(|c| {
                Box::pin(async move {
                    let st = c
                        .prepare_cached(
                            "SELECT record FROM keys WHERE region = $1 AND account = $2 AND key_id = $3",
                        )
                        .await
                        .map_err(pg)?;
                    let row = c
                        .query_opt(&st, &[&region, &account, &id])
                        .await
                        .map_err(pg)?;
                    Ok(row.map(|r| r.get(0)))
                })
            })
            .await?;
        text.as_deref().map(decode).transpose()
    }

    async fn update_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let row = KeyRow::of(record)?;
        self.run(|c| Box::pin(async move { row.update(&*c).await }))
            .await
    }

    async fn delete_key(&self, locator: &KeyLocator, revision: u64) -> Result<(), StoreError> {
        let l = locator.clone();
        self.run(|c| {
            Box::pin(async move {
                let tx = c.transaction().await.map_err(pg)?;
                delete_in(&tx, &l, revision).await?;
                tx.commit().await.map_err(pg)
            })
        })
        .await
    }

    async fn write_keys(&self, writes: &[KeyWrite]) -> Result<(), StoreError> {
        enum Op {
            Insert(KeyRow),
            Update(KeyRow),
            Delete(KeyLocator, u64),
        }
        // In key order: two nodes writing overlapping sets (a rotation
        // syncing replicas, a sweep deleting one of them) lock rows in the
        // same order, so they cannot deadlock. Each write is its own
        // compare-and-swap, so the order does not change the outcome.
        let mut writes: Vec<&KeyWrite> = writes.iter().collect();
        writes.sort_by(|a, b| {
            let loc = |w: &KeyWrite| match w {
                KeyWrite::Insert(r) | KeyWrite::Update(r) => r.locator.clone(),
                KeyWrite::Delete(l, _) => l.clone(),
            };
            loc(a).cmp(&loc(b))
        });
        let ops = writes
            .into_iter()
            .map(|w| {
                Ok(match w {
                    KeyWrite::Insert(r) => Op::Insert(KeyRow::of(r)?),
                    KeyWrite::Update(r) => Op::Update(KeyRow::of(r)?),
                    KeyWrite::Delete(l, rev) => Op::Delete(l.clone(), *rev),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.run(|c| {
            Box::pin(async move {
                // Dropping the transaction on an error rolls every write back.
                let tx = c.transaction().await.map_err(pg)?;
                for op in &ops {
                    match op {
                        Op::Insert(row) => row.insert(&tx).await?,
                        Op::Update(row) => row.update(&tx).await?,
                        Op::Delete(l, rev) => delete_in(&tx, l, *rev).await?,
                    }
                }
                tx.commit().await.map_err(pg)
            })
        })
        .await
    }

    async fn list_keys(
        &self,
        region: &Region,
        account: &AccountId,
        after: Option<&KeyId>,
        max: usize,
    ) -> Result<Vec<KeyId>, StoreError> {
        let (region, account) = (region.as_str().to_string(), account.as_str().to_string());
        let after = after.map(|a| a.to_string()).unwrap_or_default();
        let ids: Vec<String> = self
            .run(|c| {
                Box::pin(async move {
                    let rows = c
                        .query(
                            "SELECT key_id FROM keys WHERE region = $1 AND account = $2 AND key_id > $3
                             ORDER BY key_id LIMIT $4",
                            &[&region, &account, &after, &limit(max)],
                        )
                        .await
                        .map_err(pg)?;
                    Ok(rows.iter().map(|r| r.get(0)).collect())
                })
            })
            .await?;
        Ok(ids.iter().filter_map(|s| KeyId::parse(s)).collect())
    }

    async fn due_keys(&self, now: Millis, max: usize) -> Result<Vec<KeyLocator>, StoreError> {
        let rows: Vec<(String, String, String)> = self
            .run(|c| {
                Box::pin(async move {
                    let rows = c
                        .query(
                            "SELECT region, account, key_id FROM keys
                             WHERE due_at IS NOT NULL AND due_at <= $1 ORDER BY due_at LIMIT $2",
                            &[&now, &limit(max)],
                        )
                        .await
                        .map_err(pg)?;
                    Ok(rows
                        .iter()
                        .map(|r| (r.get(0), r.get(1), r.get(2)))
                        .collect())
                })
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
        self.run(|c| {
            Box::pin(async move {
                let n = c
                    .execute(
                        "INSERT INTO aliases (region, account, name, target, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                        &[
                            &a.region.as_str(),
                            &a.account.as_str(),
                            &a.name.0,
                            &a.target.to_string(),
                            &a.created_at,
                            &a.updated_at,
                        ],
                    )
                    .await
                    .map_err(pg)?;
                if n == 0 {
                    return Err(StoreError::AlreadyExists);
                }
                Ok(())
            })
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
        self.run(|c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT name, target, created_at, updated_at FROM aliases
                         WHERE region = $1 AND account = $2 AND name = $3",
                        &[&region.as_str(), &account.as_str(), &name.0],
                    )
                    .await
                    .map_err(pg)?;
                row.map(|r| alias_of(&region, &account, &r)).transpose()
            })
        })
        .await
    }

    async fn update_alias(&self, alias: &AliasRecord, expected: &KeyId) -> Result<(), StoreError> {
        let (a, expected) = (alias.clone(), expected.to_string());
        self.run(|c| {
            Box::pin(async move {
                let n = c
                    .execute(
                        "UPDATE aliases SET target = $4, updated_at = $5
                         WHERE region = $1 AND account = $2 AND name = $3 AND target = $6",
                        &[
                            &a.region.as_str(),
                            &a.account.as_str(),
                            &a.name.0,
                            &a.target.to_string(),
                            &a.updated_at,
                            &expected,
                        ],
                    )
                    .await
                    .map_err(pg)?;
                if n == 1 {
                    return Ok(());
                }
                let exists = c
                    .query_opt(
                        "SELECT 1 FROM aliases WHERE region = $1 AND account = $2 AND name = $3",
                        &[&a.region.as_str(), &a.account.as_str(), &a.name.0],
                    )
                    .await
                    .map_err(pg)?;
                Err(StoreError::cas_miss(exists.is_some()))
            })
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
        self.run(|c| {
            Box::pin(async move {
                let n = c
                    .execute(
                        "DELETE FROM aliases WHERE region = $1 AND account = $2 AND name = $3",
                        &[&region.as_str(), &account.as_str(), &name.0],
                    )
                    .await
                    .map_err(pg)?;
                if n == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            })
        })
        .await
    }

    async fn list_aliases(
        &self,
        region: &Region,
        account: &AccountId,
        target: Option<&KeyId>,
        after: Option<&str>,
        max: usize,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        let (region, account) = (region.clone(), account.clone());
        let target = target.map(|t| t.to_string());
        let after = after.unwrap_or("").to_string();
        self.run(|c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT name, target, created_at, updated_at FROM aliases
                         WHERE region = $1 AND account = $2 AND name > $3
                           AND ($4::text IS NULL OR target = $4)
                         ORDER BY name LIMIT $5",
                        &[
                            &region.as_str(),
                            &account.as_str(),
                            &after,
                            &target,
                            &limit(max),
                        ],
                    )
                    .await
                    .map_err(pg)?;
                rows.iter()
                    .map(|r| alias_of(&region, &account, r))
                    .collect()
            })
        })
        .await
    }

    async fn record_usage(&self, usage: &[UsageRecord]) -> Result<(), StoreError> {
        if usage.is_empty() {
            return Ok(());
        }
        // One row per key (the newest use), in key order: one statement may
        // not upsert a row twice, and a common order keeps two nodes'
        // flushes from deadlocking.
        let mut newest: std::collections::BTreeMap<&KeyLocator, &UsageRecord> =
            std::collections::BTreeMap::new();
        for u in usage {
            let e = newest.entry(&u.locator).or_insert(u);
            if u.at >= e.at {
                *e = u;
            }
        }
        let mut cols: [Vec<String>; 6] = Default::default();
        let mut at: Vec<i64> = Vec::with_capacity(newest.len());
        for (l, u) in newest {
            cols[0].push(l.region.as_str().to_string());
            cols[1].push(l.account.as_str().to_string());
            cols[2].push(l.key_id.to_string());
            cols[3].push(u.operation.as_str().to_string());
            cols[4].push(u.request_id.clone());
            cols[5].push(u.event_id.clone());
            at.push(u.at);
        }
        self.run(|c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO key_usage (region, account, key_id, operation, at, request_id, event_id)
                     SELECT u.region, u.account, u.key_id, u.operation, u.at, u.request_id, u.event_id
                     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[])
                          AS u(region, account, key_id, operation, at, request_id, event_id)
                     WHERE EXISTS (SELECT 1 FROM keys k
                                   WHERE k.region = u.region AND k.account = u.account AND k.key_id = u.key_id
                                   FOR KEY SHARE)
                     ON CONFLICT (region, account, key_id) DO UPDATE
                     SET operation = excluded.operation, at = excluded.at,
                         request_id = excluded.request_id, event_id = excluded.event_id
                     WHERE excluded.at >= key_usage.at",
                    &[&cols[0], &cols[1], &cols[2], &cols[3], &at, &cols[4], &cols[5]],
                )
                .await
                .map_err(pg)?;
                Ok(())
            })
        })
        .await
    }

    async fn get_usage(&self, locator: &KeyLocator) -> Result<Option<UsageRecord>, StoreError> {
        let l = locator.clone();
        self.run(|c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT operation, at, request_id, event_id FROM key_usage
                         WHERE region = $1 AND account = $2 AND key_id = $3",
                        &[
                            &l.region.as_str(),
                            &l.account.as_str(),
                            &l.key_id.to_string(),
                        ],
                    )
                    .await
                    .map_err(pg)?;
                Ok(row.and_then(|r| {
                    Some(UsageRecord {
                        locator: l.clone(),
                        operation: KeyLastUsageTrackingOperation::parse(r.get(0))?,
                        at: r.get(1),
                        request_id: r.get(2),
                        event_id: r.get(3),
                    })
                }))
            })
        })
        .await
    }

    async fn insert_grant(
        &self,
        grant: &GrantRecord,
        max_per_key: usize,
    ) -> Result<GrantInsert, StoreError> {
        let json = encode(grant)?;
        let g = grant.clone();
        self.run(|c| {
            Box::pin(async move {
                let tx = c.transaction().await.map_err(pg)?;
                let (region, account, id) = (
                    g.key.region.as_str(),
                    g.key.account.as_str(),
                    g.key.key_id.to_string(),
                );
                tx.execute(GRANT_LOCK, &[&region, &account, &id])
                    .await
                    .map_err(pg)?;
                if g.name.is_some() {
                    let rows = tx
                        .query(
                            "SELECT record FROM grants WHERE region = $1 AND account = $2 AND key_id = $3",
                            &[&region, &account, &id],
                        )
                        .await
                        .map_err(pg)?;
                    for row in rows {
                        let existing: GrantRecord = decode(row.get(0))?;
                        if existing.same_request(&g) {
                            return Ok(GrantInsert::Existing(Box::new(existing)));
                        }
                    }
                }
                let count: i64 = tx
                    .query_one(
                        "SELECT COUNT(*) FROM grants WHERE region = $1 AND account = $2 AND key_id = $3",
                        &[&region, &account, &id],
                    )
                    .await
                    .map_err(pg)?
                    .get(0);
                if usize::try_from(count).unwrap_or(usize::MAX) >= max_per_key {
                    return Ok(GrantInsert::LimitReached);
                }
                let n = tx
                    .execute(
                        "INSERT INTO grants (region, account, key_id, grant_id, retiring, record)
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                        &[&region, &account, &id, &g.grant_id, &g.retiring, &json],
                    )
                    .await
                    .map_err(pg)?;
                if n == 0 {
                    return Err(StoreError::AlreadyExists);
                }
                tx.commit().await.map_err(pg)?;
                Ok(GrantInsert::Inserted)
            })
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
            .run(|c| {
                Box::pin(async move {
                    let row = c
                        .query_opt(
                            "SELECT record FROM grants
                             WHERE region = $1 AND account = $2 AND key_id = $3 AND grant_id = $4",
                            &[
                                &l.region.as_str(),
                                &l.account.as_str(),
                                &l.key_id.to_string(),
                                &gid,
                            ],
                        )
                        .await
                        .map_err(pg)?;
                    Ok(row.map(|r| r.get(0)))
                })
            })
            .await?;
        text.as_deref().map(decode).transpose()
    }

    async fn list_grants(
        &self,
        key: &KeyLocator,
        after: Option<&str>,
        max: usize,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        let l = key.clone();
        let after = after.unwrap_or_default().to_string();
        let rows: Vec<String> = self
            .run(|c| {
                Box::pin(async move {
                    let rows = c
                        .query(
                            "SELECT record FROM grants WHERE region = $1 AND account = $2 AND key_id = $3
                             AND grant_id > $4 ORDER BY grant_id LIMIT $5",
                            &[
                                &l.region.as_str(),
                                &l.account.as_str(),
                                &l.key_id.to_string(),
                                &after,
                                &limit(max),
                            ],
                        )
                        .await
                        .map_err(pg)?;
                    Ok(rows.iter().map(|r| r.get(0)).collect())
                })
            })
            .await?;
        rows.iter().map(|t| decode(t)).collect()
    }

    async fn list_retirable_grants(
        &self,
        region: &Region,
        retiring: &str,
        after: Option<(&str, &str)>,
        max: usize,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        let (region, retiring) = (region.as_str().to_string(), retiring.to_string());
        let (after_key, after_grant) = after
            .map(|(k, g)| (k.to_string(), g.to_string()))
            .unwrap_or_default();
        let rows: Vec<String> = self
            .run(|c| {
                Box::pin(async move {
                    let rows = c
                        .query(
                            "SELECT record FROM grants WHERE region = $1 AND retiring = $2
                             AND (key_id, grant_id) > ($3, $4) ORDER BY key_id, grant_id LIMIT $5",
                            &[&region, &retiring, &after_key, &after_grant, &limit(max)],
                        )
                        .await
                        .map_err(pg)?;
                    Ok(rows.iter().map(|r| r.get(0)).collect())
                })
            })
            .await?;
        rows.iter().map(|t| decode(t)).collect()
    }

    async fn delete_grant(&self, key: &KeyLocator, grant_id: &str) -> Result<(), StoreError> {
        let (l, gid) = (key.clone(), grant_id.to_string());
        self.run(|c| {
            Box::pin(async move {
                let n = c
                    .execute(
                        "DELETE FROM grants
                         WHERE region = $1 AND account = $2 AND key_id = $3 AND grant_id = $4",
                        &[
                            &l.region.as_str(),
                            &l.account.as_str(),
                            &l.key_id.to_string(),
                            &gid,
                        ],
                    )
                    .await
                    .map_err(pg)?;
                if n == 0 {
                    Err(StoreError::NotFound)
                } else {
                    Ok(())
                }
            })
        })
        .await
    }

    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let name = name.to_string();
        self.run(|c| {
            Box::pin(async move {
                let row = c
                    .query_opt("SELECT value FROM meta WHERE name = $1", &[&name])
                    .await
                    .map_err(pg)?;
                Ok(row.map(|r| r.get(0)))
            })
        })
        .await
    }

    async fn put_meta_if_absent(&self, name: &str, value: &[u8]) -> Result<bool, StoreError> {
        let (name, value) = (name.to_string(), value.to_vec());
        self.run(|c| {
            Box::pin(async move {
                let n = c
                    .execute(
                        "INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        &[&name, &value],
                    )
                    .await
                    .map_err(pg)?;
                Ok(n == 1)
            })
        })
        .await
    }

    /// On the database's clock, so nodes whose clocks disagree still agree
    /// on who holds the lease.
    async fn lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let (name, holder) = (name.to_string(), holder.to_string());
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        self.run(|c| {
            Box::pin(async move {
                let n = c
                    .execute(
                        "INSERT INTO leases (name, holder, until)
                         VALUES ($1, $2, clock_timestamp() + $3::bigint * interval '1 millisecond')
                         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
                         WHERE leases.holder = excluded.holder OR leases.until <= clock_timestamp()",
                        &[&name, &holder, &ttl_ms],
                    )
                    .await
                    .map_err(pg)?;
                Ok(n == 1)
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests;
