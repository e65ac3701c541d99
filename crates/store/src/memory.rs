//! An in-memory store: the reference behaviour of the conformance suite, and
//! a fast store for unit tests. Not durable.

use crate::{GrantInsert, KeyStore, KeyWrite, StoreError, UsageRecord};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;
use trent_core::alias::AliasRecord;
use trent_core::grant::GrantRecord;
use trent_core::ids::{AccountId, AliasName, KeyId, KeyLocator, Region};
use trent_core::key::KeyRecord;
use trent_core::Millis;

type Scope = (String, String);

#[derive(Debug, Default)]
struct Inner {
    keys: BTreeMap<(Scope, String), KeyRecord>,
    aliases: BTreeMap<(Scope, String), AliasRecord>,
    usage: BTreeMap<(Scope, String), UsageRecord>,
    /// (scope, key id, grant id).
    grants: BTreeMap<(Scope, String, String), GrantRecord>,
    meta: BTreeMap<String, Vec<u8>>,
    /// Lease name -> (holder, until).
    leases: BTreeMap<String, (String, std::time::Instant)>,
}

/// The in-memory store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written record
        // (every update is a single insert), so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn scope(region: &Region, account: &AccountId) -> Scope {
    (region.as_str().to_string(), account.as_str().to_string())
}

fn key_of(l: &KeyLocator) -> (Scope, String) {
    (scope(&l.region, &l.account), l.key_id.to_string())
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn insert_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let mut g = self.lock();
        let k = key_of(&record.locator);
        if g.keys.contains_key(&k) {
            return Err(StoreError::AlreadyExists);
        }
        g.keys.insert(k, record.clone());
        Ok(())
    }

    async fn get_key(&self, locator: &KeyLocator) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.lock().keys.get(&key_of(locator)).cloned())
    }

    async fn update_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let mut g = self.lock();
        let k = key_of(&record.locator);
        match g.keys.get(&k) {
            None => Err(StoreError::NotFound),
            Some(old) if old.revision + 1 != record.revision => Err(StoreError::Conflict),
            Some(_) => {
                g.keys.insert(k, record.clone());
                Ok(())
            }
        }
    }

    async fn delete_key(&self, locator: &KeyLocator, revision: u64) -> Result<(), StoreError> {
        let mut g = self.lock();
        let k = key_of(locator);
        match g.keys.get(&k) {
            None => return Err(StoreError::NotFound),
            Some(old) if old.revision != revision => return Err(StoreError::Conflict),
            Some(_) => {}
        }
        g.keys.remove(&k);
        g.usage.remove(&k);
        g.grants
            .retain(|(sc, id, _), _| !(sc == &k.0 && id == &k.1));
        let target = locator.key_id;
        g.aliases
            .retain(|(s, _), a| !(s == &k.0 && a.target == target));
        Ok(())
    }

    async fn write_keys(&self, writes: &[KeyWrite]) -> Result<(), StoreError> {
        let mut g = self.lock();
        // Check every write against the state before any is applied.
        for w in writes {
            match w {
                KeyWrite::Insert(r) => {
                    if g.keys.contains_key(&key_of(&r.locator)) {
                        return Err(StoreError::AlreadyExists);
                    }
                }
                KeyWrite::Update(r) => match g.keys.get(&key_of(&r.locator)) {
                    None => return Err(StoreError::NotFound),
                    Some(old) if old.revision + 1 != r.revision => {
                        return Err(StoreError::Conflict)
                    }
                    Some(_) => {}
                },
                KeyWrite::Delete(l, revision) => match g.keys.get(&key_of(l)) {
                    None => return Err(StoreError::NotFound),
                    Some(old) if old.revision != *revision => return Err(StoreError::Conflict),
                    Some(_) => {}
                },
            }
        }
        for w in writes {
            match w {
                KeyWrite::Insert(r) | KeyWrite::Update(r) => {
                    g.keys.insert(key_of(&r.locator), r.clone());
                }
                KeyWrite::Delete(l, _) => {
                    let k = key_of(l);
                    g.keys.remove(&k);
                    g.usage.remove(&k);
                    g.grants
                        .retain(|(sc, id, _), _| !(sc == &k.0 && id == &k.1));
                    let target = l.key_id;
                    g.aliases
                        .retain(|(s, _), a| !(s == &k.0 && a.target == target));
                }
            }
        }
        Ok(())
    }

    async fn list_keys(
        &self,
        region: &Region,
        account: &AccountId,
        after: Option<&KeyId>,
        limit: usize,
    ) -> Result<Vec<KeyId>, StoreError> {
        let g = self.lock();
        let s = scope(region, account);
        let after = after.map(|a| a.to_string());
        Ok(g.keys
            .iter()
            .filter(|((sc, id), _)| sc == &s && after.as_ref().is_none_or(|a| id > a))
            .take(limit)
            .map(|(_, r)| r.locator.key_id)
            .collect())
    }

    async fn due_keys(&self, now: Millis, limit: usize) -> Result<Vec<KeyLocator>, StoreError> {
        let g = self.lock();
        Ok(g.keys
            .values()
            .filter(|r| r.due_at().is_some_and(|t| t <= now))
            .take(limit)
            .map(|r| r.locator.clone())
            .collect())
    }

    async fn insert_alias(&self, alias: &AliasRecord) -> Result<(), StoreError> {
        let mut g = self.lock();
        let k = (scope(&alias.region, &alias.account), alias.name.0.clone());
        if g.aliases.contains_key(&k) {
            return Err(StoreError::AlreadyExists);
        }
        g.aliases.insert(k, alias.clone());
        Ok(())
    }

    async fn get_alias(
        &self,
        region: &Region,
        account: &AccountId,
        name: &AliasName,
    ) -> Result<Option<AliasRecord>, StoreError> {
        Ok(self
            .lock()
            .aliases
            .get(&(scope(region, account), name.0.clone()))
            .cloned())
    }

    async fn update_alias(&self, alias: &AliasRecord, expected: &KeyId) -> Result<(), StoreError> {
        let mut g = self.lock();
        let k = (scope(&alias.region, &alias.account), alias.name.0.clone());
        match g.aliases.get_mut(&k) {
            None => Err(StoreError::NotFound),
            Some(slot) if slot.target != *expected => Err(StoreError::Conflict),
            Some(slot) => {
                *slot = alias.clone();
                Ok(())
            }
        }
    }

    async fn delete_alias(
        &self,
        region: &Region,
        account: &AccountId,
        name: &AliasName,
    ) -> Result<(), StoreError> {
        let mut g = self.lock();
        match g.aliases.remove(&(scope(region, account), name.0.clone())) {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound),
        }
    }

    async fn list_aliases(
        &self,
        region: &Region,
        account: &AccountId,
        target: Option<&KeyId>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        let g = self.lock();
        let s = scope(region, account);
        Ok(g.aliases
            .iter()
            .filter(|((sc, name), a)| {
                sc == &s
                    && after.is_none_or(|af| name.as_str() > af)
                    && target.is_none_or(|t| &a.target == t)
            })
            .take(limit)
            .map(|(_, a)| a.clone())
            .collect())
    }

    async fn record_usage(&self, usage: &[UsageRecord]) -> Result<(), StoreError> {
        let mut g = self.lock();
        for u in usage {
            let k = key_of(&u.locator);
            if !g.keys.contains_key(&k) {
                continue;
            }
            let newer = g.usage.get(&k).is_none_or(|old| old.at <= u.at);
            if newer {
                g.usage.insert(k, u.clone());
            }
        }
        Ok(())
    }

    async fn get_usage(&self, locator: &KeyLocator) -> Result<Option<UsageRecord>, StoreError> {
        Ok(self.lock().usage.get(&key_of(locator)).cloned())
    }

    async fn insert_grant(
        &self,
        grant: &GrantRecord,
        max_per_key: usize,
    ) -> Result<GrantInsert, StoreError> {
        let mut g = self.lock();
        let (sc, id) = key_of(&grant.key);
        let of_key: Vec<&GrantRecord> = g
            .grants
            .range((sc.clone(), id.clone(), String::new())..)
            .take_while(|((s, k, _), _)| s == &sc && k == &id)
            .map(|(_, r)| r)
            .collect();
        if grant.name.is_some() {
            if let Some(same) = of_key.iter().find(|r| r.same_request(grant)) {
                return Ok(GrantInsert::Existing(Box::new((*same).clone())));
            }
        }
        if of_key.len() >= max_per_key {
            return Ok(GrantInsert::LimitReached);
        }
        let k = (sc, id, grant.grant_id.clone());
        if g.grants.contains_key(&k) {
            return Err(StoreError::AlreadyExists);
        }
        g.grants.insert(k, grant.clone());
        Ok(GrantInsert::Inserted)
    }

    async fn get_grant(
        &self,
        key: &KeyLocator,
        grant_id: &str,
    ) -> Result<Option<GrantRecord>, StoreError> {
        let (sc, id) = key_of(key);
        Ok(self
            .lock()
            .grants
            .get(&(sc, id, grant_id.to_string()))
            .cloned())
    }

    async fn list_grants(
        &self,
        key: &KeyLocator,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        let (sc, id) = key_of(key);
        let g = self.lock();
        Ok(g.grants
            .range(
                (
                    sc.clone(),
                    id.clone(),
                    after.unwrap_or_default().to_string(),
                )..,
            )
            .take_while(|((s, k, _), _)| s == &sc && k == &id)
            .filter(|((_, _, gid), _)| after.is_none_or(|a| gid.as_str() > a))
            .take(limit)
            .map(|(_, r)| r.clone())
            .collect())
    }

    async fn list_retirable_grants(
        &self,
        region: &Region,
        retiring: &str,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        let g = self.lock();
        let mut out: Vec<&GrantRecord> = g
            .grants
            .values()
            .filter(|r| r.key.region == *region && r.retiring.as_deref() == Some(retiring))
            .collect();
        out.sort_by(|a, b| {
            (a.key.key_id.to_string(), &a.grant_id).cmp(&(b.key.key_id.to_string(), &b.grant_id))
        });
        Ok(out
            .into_iter()
            .filter(|r| {
                after.is_none_or(|(k, gid)| {
                    (r.key.key_id.to_string().as_str(), r.grant_id.as_str()) > (k, gid)
                })
            })
            .take(limit)
            .cloned()
            .collect())
    }

    async fn delete_grant(&self, key: &KeyLocator, grant_id: &str) -> Result<(), StoreError> {
        let (sc, id) = key_of(key);
        match self.lock().grants.remove(&(sc, id, grant_id.to_string())) {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound),
        }
    }

    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().meta.get(name).cloned())
    }

    async fn put_meta_if_absent(&self, name: &str, value: &[u8]) -> Result<bool, StoreError> {
        let mut g = self.lock();
        if g.meta.contains_key(name) {
            return Ok(false);
        }
        g.meta.insert(name.to_string(), value.to_vec());
        Ok(true)
    }

    async fn lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let now = std::time::Instant::now();
        let mut g = self.lock();
        match g.leases.get(name) {
            Some((h, until)) if h != holder && *until > now => Ok(false),
            _ => {
                g.leases
                    .insert(name.to_string(), (holder.to_string(), now + ttl));
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod conformance {
    crate::conformance_tests!(|| async { crate::MemoryStore::new() });
}
