//! The schema's migrations: SQL files applied in order, each once, in one
//! transaction that holds an advisory lock, so that nodes starting at the
//! same time apply them once and in order (the second waits, then finds
//! them applied).

use crate::pg;
use trent_store::StoreError;

/// Every migration this build knows: (version, name, SQL).
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "schema", include_str!("../migrations/0001_schema.sql")),
    (2, "notify", include_str!("../migrations/0002_notify.sql")),
];

/// The advisory lock key of migrations (any constant shared by all nodes).
const LOCK: i64 = 0x7472_656e_745f_6d67; // "trent_mg"

/// The database's schema is newer than this build.
#[derive(Debug, thiserror::Error)]
#[error("the database schema is at version {found}, newer than this build knows ({known}); refusing to start")]
pub struct SchemaTooNew {
    found: i32,
    known: i32,
}

/// Apply what is missing.
pub(crate) async fn apply(c: &mut deadpool_postgres::Object) -> Result<(), StoreError> {
    let tx = c.transaction().await.map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
        .await
        .map_err(pg)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS trent_migrations (
             version    integer PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(pg)?;
    let found: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM trent_migrations",
            &[],
        )
        .await
        .map_err(pg)?
        .get(0);
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if found > known {
        return Err(StoreError::Backend(Box::new(SchemaTooNew { found, known })));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > found) {
        tx.batch_execute(sql).await.map_err(pg)?;
        tx.execute(
            "INSERT INTO trent_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await
        .map_err(pg)?;
        tracing::info!(version, name, "applied a database migration");
    }
    tx.commit().await.map_err(pg)
}
