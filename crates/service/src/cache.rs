//! The hot-path cache: keys with their material unwrapped and prepared, and
//! alias targets. Encrypt, Decrypt, ReEncrypt and GenerateDataKey read only
//! from here in the common case.
//!
//! Coherence: every committed change to a key or alias invalidates its entry
//! (and bumps an epoch), so the next request reloads it from the store. A
//! loader that read the store before an invalidation does not insert what it
//! read: it checks that the epoch did not move, under the write lock.
//!
//! Several nodes on one database: changes committed by any node arrive as
//! [`trent_store::Change`]s ([`follow`]) and invalidate the same way. While
//! the node cannot hear them (its listening connection is lost) the cache is
//! suspended: emptied, and nothing is cached or served from it until
//! changes are heard again, when it is emptied once more.

use foldhash::HashMap;
use foldhash::HashMapExt as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use trent_core::authz::CompiledPolicy;
use trent_core::grant::GrantRecord;
use trent_core::ids::{AccountId, KeyId, KeyLocator, Region};
use trent_core::key::KeyRecord;
use trent_core::{KeyError, KeyHandle};
use trent_proto::{KeySpec, KeyState, KeyUsageType, ModelEnum, OriginType};

/// One key version, ready to use.
#[derive(Debug)]
pub struct HotVersion {
    /// Version number.
    pub number: u32,
    /// `KeyMaterialId`.
    pub material_id: Arc<str>,
    /// Prepared material.
    pub key: Arc<dyn KeyHandle>,
}

/// What the hot path needs of a key.
#[derive(Debug)]
pub struct HotKey {
    /// Region, account, id.
    pub locator: KeyLocator,
    /// Key ARN, formatted once.
    pub arn: Arc<str>,
    /// The revision this entry was built from.
    pub revision: u64,
    /// State.
    pub state: KeyState,
    /// Usage.
    pub usage: KeyUsageType,
    /// Spec.
    pub spec: KeySpec,
    /// Origin.
    pub origin: OriginType,
    /// Tags (`aws:ResourceTag/*`).
    pub tags: Vec<(String, String)>,
    /// The key policy, compiled once per revision.
    pub policy: Arc<CompiledPolicy>,
    /// The key's grants.
    pub grants: Arc<[GrantRecord]>,
    /// Versions, oldest first; the last is current. Versions whose
    /// imported material is deleted or expired are left out.
    pub versions: Vec<HotVersion>,
    /// The numbers of the versions left out.
    pub absent: Vec<u32>,
}

impl HotKey {
    /// Build from a record, its prepared versions and its grants.
    pub fn new(record: &KeyRecord, versions: Vec<HotVersion>, grants: Vec<GrantRecord>) -> HotKey {
        HotKey {
            locator: record.locator.clone(),
            arn: record.arn().into(),
            revision: record.revision,
            // Cryptography goes by the state an `Updating` key returns to.
            state: record.effective_state(),
            usage: record.usage,
            spec: record.spec,
            origin: record.origin,
            tags: record.tags.clone(),
            policy: crate::authz::compile_key_policy(record),
            grants: grants.into(),
            versions,
            absent: record
                .versions
                .iter()
                .filter(|v| !v.present())
                .map(|v| v.number)
                .collect(),
        }
    }

    /// What authorization needs of this key.
    pub(crate) fn view(&self) -> crate::authz::KeyView<'_> {
        crate::authz::KeyView {
            locator: &self.locator,
            arn: &self.arn,
            policy: &self.policy,
            spec: self.spec.as_str(),
            usage: self.usage.as_str(),
            origin: self.origin.as_str(),
            tags: &self.tags,
            grants: Some(&self.grants),
        }
    }

    /// The usage/state rule of cryptographic operations.
    pub fn check_usable(
        &self,
        usage: KeyUsageType,
        operation: &'static str,
    ) -> Result<(), KeyError> {
        trent_core::key::check_usable(self.state, self.usage, usage, operation, || {
            self.arn.to_string()
        })
    }

    /// The current version (`None` while its imported material is
    /// deleted: the key is then PendingImport and refused before this).
    pub fn current(&self) -> Option<&HotVersion> {
        self.versions
            .last()
            .filter(|_| self.absent.is_empty() || self.current_present())
    }

    fn current_present(&self) -> bool {
        let last = self.versions.last().map_or(0, |v| v.number);
        self.absent.iter().all(|&n| n < last)
    }

    /// A version by number.
    pub fn version(&self, number: u32) -> Option<&HotVersion> {
        // Versions are numbered 1, 2, 3, ... in order, unless some imported
        // material is absent.
        let i = usize::try_from(number).ok()?.checked_sub(1)?;
        self.versions
            .get(i)
            .filter(|v| v.number == number)
            .or_else(|| self.versions.iter().find(|v| v.number == number))
    }

    /// Whether version `number` exists but its imported material is absent.
    pub fn is_absent(&self, number: u32) -> bool {
        self.absent.contains(&number)
    }
}

type AliasKey = (Region, AccountId, String);

/// The cache.
#[derive(Debug)]
pub struct KeyCache {
    keys: RwLock<HashMap<KeyLocator, Arc<HotKey>>>,
    aliases: RwLock<HashMap<AliasKey, KeyId>>,
    epoch: AtomicU64,
    capacity: usize,
    /// Changes by other nodes may go unheard: serve nothing from here.
    suspended: std::sync::atomic::AtomicBool,
}

impl KeyCache {
    /// A cache of at most `capacity` keys (and as many aliases).
    pub fn new(capacity: usize) -> Self {
        KeyCache {
            keys: RwLock::new(HashMap::new()),
            aliases: RwLock::new(HashMap::new()),
            epoch: AtomicU64::new(0),
            capacity: capacity.max(1),
            suspended: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Forget everything; with `suspend`, also stop caching until
    /// [`KeyCache::clear`] is called with `false`.
    pub fn clear(&self, suspend: bool) {
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        let mut aliases = self.aliases.write().unwrap_or_else(|e| e.into_inner());
        self.suspended.store(suspend, Ordering::Release);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        keys.clear();
        aliases.clear();
    }

    /// Whether the cache is suspended (changes by other nodes may be
    /// going unheard).
    pub fn suspended(&self) -> bool {
        self.suspended.load(Ordering::Acquire)
    }

    /// The current epoch, to be read before loading from the store.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// A cached key.
    pub fn get(&self, loc: &KeyLocator) -> Option<Arc<HotKey>> {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(loc)
            .cloned()
    }

    /// Cache a key loaded at `epoch`, unless something was invalidated since.
    pub fn insert(&self, epoch: u64, key: Arc<HotKey>) {
        let mut g = self.keys.write().unwrap_or_else(|e| e.into_inner());
        if self.epoch.load(Ordering::Acquire) != epoch || self.suspended() {
            return;
        }
        if g.len() >= self.capacity && !g.contains_key(&key.locator) {
            // Evict an arbitrary entry; HashMap iteration order is random
            // enough for a cache that normally holds every key.
            if let Some(victim) = g.keys().next().cloned() {
                g.remove(&victim);
            }
        }
        g.insert(key.locator.clone(), key);
    }

    /// Forget a key after a committed change.
    pub fn invalidate(&self, loc: &KeyLocator) {
        let mut g = self.keys.write().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        g.remove(loc);
    }

    /// A cached alias target.
    pub fn alias(&self, region: &Region, account: &AccountId, name: &str) -> Option<KeyId> {
        self.aliases
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(region.clone(), account.clone(), name.to_string()))
            .copied()
    }

    /// Cache an alias target loaded at `epoch`.
    pub fn insert_alias(
        &self,
        epoch: u64,
        region: &Region,
        account: &AccountId,
        name: &str,
        target: KeyId,
    ) {
        let mut g = self.aliases.write().unwrap_or_else(|e| e.into_inner());
        if self.epoch.load(Ordering::Acquire) != epoch || self.suspended() {
            return;
        }
        if g.len() >= self.capacity {
            if let Some(victim) = g.keys().next().cloned() {
                g.remove(&victim);
            }
        }
        g.insert((region.clone(), account.clone(), name.to_string()), target);
    }

    /// Forget an alias after a committed change.
    pub fn invalidate_alias(&self, region: &Region, account: &AccountId, name: &str) {
        let mut g = self.aliases.write().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        g.remove(&(region.clone(), account.clone(), name.to_string()));
    }

    /// Forget every alias that points at `key` (the key was deleted).
    pub fn invalidate_aliases_of(&self, key: &KeyLocator) {
        let mut g = self.aliases.write().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        g.retain(|(r, a, _), target| {
            !(r == &key.region && a == &key.account && *target == key.key_id)
        });
    }

    /// Number of cached keys.
    pub fn len(&self) -> usize {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no key is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Apply the changes other nodes commit (and this node's own, which cost
/// one extra reload) to `cache`, until the store's feed ends.
pub async fn follow(
    cache: Arc<KeyCache>,
    mut changes: tokio::sync::broadcast::Receiver<trent_store::Change>,
) {
    use tokio::sync::broadcast::error::RecvError;
    use trent_store::Change;
    loop {
        match changes.recv().await {
            Ok(Change::Key(loc)) => cache.invalidate(&loc),
            Ok(Change::Alias {
                region,
                account,
                name,
            }) => cache.invalidate_alias(&region, &account, &name),
            Ok(Change::Lost) => cache.clear(true),
            Ok(Change::Resumed) => cache.clear(false),
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "the cache fell behind the changes of other nodes; starting it afresh"
                );
                cache.clear(false);
            }
            Err(RecvError::Closed) => return,
        }
    }
}
