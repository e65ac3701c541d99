//! `trent-store`: the contract of where keys, aliases, grants and settings
//! are kept.
//!
//! It owns: the [`KeyStore`] trait, an in-memory store (the reference
//! behaviour, and fast unit tests), and the [`conformance`] suite that every
//! backend passes, one test per check ([`conformance_tests!`]). The backends
//! live in their own crates: `trent-store-sqlite` (embedded, the default) and
//! `trent-store-postgres` (several nodes on one database).
//!
//! It refuses: any domain decision. Records arrive fully formed from
//! `trent-core`'s pure transitions; the store only keeps them, atomically,
//! with compare-and-swap on the record's revision.

pub mod conformance;
mod memory;

pub use memory::MemoryStore;

use async_trait::async_trait;
use trent_core::alias::AliasRecord;
use trent_core::grant::GrantRecord;
use trent_core::ids::{AccountId, AliasName, KeyId, KeyLocator, Region};
use trent_core::key::KeyRecord;
use trent_core::Millis;
use trent_proto::KeyLastUsageTrackingOperation;

/// A store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The stored record's revision is not the one the update was based on.
    #[error("the record was changed by another request")]
    Conflict,
    /// A record with that identity exists already.
    #[error("the record exists already")]
    AlreadyExists,
    /// No record with that identity.
    #[error("no such record")]
    NotFound,
    /// A stored record could not be read back.
    #[error("a stored record is corrupt")]
    Corrupt(#[source] serde_json::Error),
    /// The backend failed (IO, database error).
    #[error("storage backend failure")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The backend could not be reached in time (a database failing over,
    /// restarting or unreachable). The change was not made, or its outcome
    /// is unknown; the caller may retry.
    #[error("storage backend unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Why a compare-and-swap matched nothing: the record exists but moved
    /// on (`Conflict`), or it is gone (`NotFound`).
    pub fn cas_miss(exists: bool) -> StoreError {
        if exists {
            StoreError::Conflict
        } else {
            StoreError::NotFound
        }
    }
}

/// A change committed to a store that several nodes share, as each node
/// hears of it (see [`KeyStore::changes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A key's record or its grants changed, or the key was deleted.
    Key(KeyLocator),
    /// An alias was created, retargeted or deleted.
    Alias {
        /// Region.
        region: Region,
        /// Account.
        account: AccountId,
        /// Alias name (`alias/...`).
        name: String,
    },
    /// Changes may go unheard from now on (the connection that hears them
    /// was lost): forget everything cached, and cache nothing until
    /// [`Change::Resumed`].
    Lost,
    /// Changes are heard again. What changed while they were not is unknown:
    /// forget everything cached once more, then cache again.
    Resumed,
}

/// The last successful cryptographic use of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    /// Which key.
    pub locator: KeyLocator,
    /// Which operation.
    pub operation: KeyLastUsageTrackingOperation,
    /// When.
    pub at: Millis,
    /// The request id of that request.
    pub request_id: String,
    /// Its audit event id (empty if none was recorded).
    pub event_id: String,
}

/// What [`KeyStore::insert_grant`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantInsert {
    /// The grant was stored.
    Inserted,
    /// A grant of the same name and parameters exists: this one (AWS
    /// answers with its id instead of making a second).
    Existing(Box<GrantRecord>),
    /// The key has its maximum number of grants.
    LimitReached,
}

/// One change in a [`KeyStore::write_keys`] batch.
#[derive(Debug, Clone)]
pub enum KeyWrite {
    /// Insert a new key (`AlreadyExists` if taken).
    Insert(KeyRecord),
    /// Replace a key whose stored revision is `revision - 1`.
    Update(KeyRecord),
    /// Delete a key at a revision, with its aliases, grants and usage.
    Delete(KeyLocator, u64),
}

/// Persistence of keys, aliases, grants, key usage and settings.
///
/// Every method is one atomic transaction; every method that returned `Ok` has
/// made its change durable.
#[async_trait]
pub trait KeyStore: Send + Sync + std::fmt::Debug {
    /// Insert a new key. `AlreadyExists` if the locator is taken.
    async fn insert_key(&self, record: &KeyRecord) -> Result<(), StoreError>;

    /// Read a key.
    async fn get_key(&self, locator: &KeyLocator) -> Result<Option<KeyRecord>, StoreError>;

    /// Replace a key whose stored revision is `record.revision - 1`;
    /// `Conflict` otherwise, `NotFound` if it is gone.
    async fn update_key(&self, record: &KeyRecord) -> Result<(), StoreError>;

    /// Delete a key at `revision`, with its aliases, grants and usage record.
    async fn delete_key(&self, locator: &KeyLocator, revision: u64) -> Result<(), StoreError>;

    /// Apply every write or none, in one transaction: the related keys of a
    /// multi-Region key (one record per Region) change together. Fails with
    /// the error of the first write that fails (`Conflict`, `NotFound`,
    /// `AlreadyExists`), and then nothing was written.
    async fn write_keys(&self, writes: &[KeyWrite]) -> Result<(), StoreError>;

    /// Key ids of an account in a region, in id order, after `after`.
    async fn list_keys(
        &self,
        region: &Region,
        account: &AccountId,
        after: Option<&KeyId>,
        limit: usize,
    ) -> Result<Vec<KeyId>, StoreError>;

    /// Keys whose `due_at` is at or before `now` (any region and account).
    async fn due_keys(&self, now: Millis, limit: usize) -> Result<Vec<KeyLocator>, StoreError>;

    /// Insert an alias. `AlreadyExists` if the name is taken.
    async fn insert_alias(&self, alias: &AliasRecord) -> Result<(), StoreError>;

    /// Read an alias.
    async fn get_alias(
        &self,
        region: &Region,
        account: &AccountId,
        name: &AliasName,
    ) -> Result<Option<AliasRecord>, StoreError>;

    /// Point an existing alias at `alias.target`, if it still points at
    /// `expected` (compare-and-swap: the caller was authorized on that
    /// target). `NotFound` if it does not exist, `Conflict` if it moved.
    async fn update_alias(&self, alias: &AliasRecord, expected: &KeyId) -> Result<(), StoreError>;

    /// Delete an alias. `NotFound` if it does not exist.
    async fn delete_alias(
        &self,
        region: &Region,
        account: &AccountId,
        name: &AliasName,
    ) -> Result<(), StoreError>;

    /// Aliases of an account in a region (optionally only those pointing at
    /// `target`), in name order, after `after`.
    async fn list_aliases(
        &self,
        region: &Region,
        account: &AccountId,
        target: Option<&KeyId>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AliasRecord>, StoreError>;

    /// Record the last use of keys (newer entries win).
    async fn record_usage(&self, usage: &[UsageRecord]) -> Result<(), StoreError>;

    /// The last recorded use of a key.
    async fn get_usage(&self, locator: &KeyLocator) -> Result<Option<UsageRecord>, StoreError>;

    /// A setting.
    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Set a setting unless it exists; returns whether it was set.
    async fn put_meta_if_absent(&self, name: &str, value: &[u8]) -> Result<bool, StoreError>;

    /// Store a grant, unless the key has `max_per_key` grants already, or a
    /// grant with the same `Name` and parameters exists (checked and
    /// written in one transaction).
    async fn insert_grant(
        &self,
        grant: &GrantRecord,
        max_per_key: usize,
    ) -> Result<GrantInsert, StoreError>;

    /// A grant of a key.
    async fn get_grant(
        &self,
        key: &KeyLocator,
        grant_id: &str,
    ) -> Result<Option<GrantRecord>, StoreError>;

    /// The grants of a key, in grant-id order, after `after`.
    async fn list_grants(
        &self,
        key: &KeyLocator,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GrantRecord>, StoreError>;

    /// Grants in a region whose retiring principal is `retiring`, in
    /// (key, grant id) order, after `after` (a key id and a grant id).
    async fn list_retirable_grants(
        &self,
        region: &Region,
        retiring: &str,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<GrantRecord>, StoreError>;

    /// Delete a grant. `NotFound` if it does not exist.
    async fn delete_grant(&self, key: &KeyLocator, grant_id: &str) -> Result<(), StoreError>;

    /// Changes committed by any node sharing this store (this one included),
    /// for a backend that other processes share; `None` for a store that
    /// only this process writes, where the service's own invalidations are
    /// the whole story. The receiver lags rather than blocks: a
    /// `RecvError::Lagged` means changes were missed (treat it as
    /// [`Change::Lost`] then [`Change::Resumed`]).
    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<Change>> {
        None
    }

    /// Take, or renew, the lease `name` for `holder` for `ttl` (on the
    /// store's clock). Returns whether `holder` holds it now: true if the
    /// lease was free, expired, or already `holder`'s. Background work that
    /// must run once across the nodes sharing a store runs only on the
    /// holder; a holder that dies stops renewing, and another node takes
    /// the lease when it expires.
    async fn lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError>;

    /// Make the records deleted so far unrecoverable from the store's own
    /// files (free space overwritten, journals truncated). Called after a
    /// key is destroyed. Backups and replicas are outside its reach.
    async fn purge(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
