//! `trent-service`: the KMS operations.
//!
//! It owns: one module per group of operations, each doing, in order: resolve
//! the key, load it (through the hot-path [`cache`] where the operation is a
//! cryptographic one), authorize (in [`Kms::authorize`], the one place where
//! that decision is made), compute with `trent-core`'s pure functions, persist
//! with compare-and-swap, and answer. It also owns the background work:
//! deletion at the end of the waiting period, automatic rotation, and flushing
//! key-usage records.
//!
//! It refuses: HTTP, JSON bodies and SigV4; requests arrive as `trent-proto`
//! types with their wire constraints already checked, plus a [`Caller`].

pub mod audit;
mod authz;
pub mod background;
pub mod cache;
mod error;
pub mod identity;
mod ops;
mod pool;
pub mod sts;
mod usage;

pub use error::{InternalError, InvalidRequest, ServiceError, TagError, Unsupported};
pub use identity::{Directory, Identity};

use cache::{HotKey, HotVersion, KeyCache};
use std::sync::Arc;
use trent_core::ids::{Accepts, AccountId, KeyLocator, KeyRef, Region};
use trent_core::key::{KeyRecord, KeyVersion};
use trent_core::{Clock, CryptoProvider, Millis, RootKey, SecretBytes};
use trent_store::{KeyStore, StoreError};
use usage::UsageTracker;

/// Who is calling, established by the server (SigV4 and configuration).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The region of the request's credential scope.
    pub region: Region,
    /// The caller's account.
    pub account: AccountId,
    /// The caller's principal ARN.
    pub principal: Arc<str>,
    /// The access key id that signed the request.
    pub access_key_id: Arc<str>,
    /// The request id (`x-amzn-RequestId`).
    pub request_id: String,
    /// The principal and its policies, for authorization.
    pub identity: Arc<Identity>,
    /// `aws:SourceIp`.
    pub source_ip: Option<std::net::IpAddr>,
    /// `aws:SecureTransport`: the request came over TLS.
    pub secure_transport: bool,
    /// The request's audit event id (`eventID`; GetKeyLastUsage's
    /// `CloudTrailEventId`).
    pub event_id: String,
    /// What the service notes for the request's audit event.
    pub notes: Arc<AuditNotes>,
}

/// What the service learns while it handles a request and the request's
/// audit event records: the keys it acted on (`resources`). The HTTP layer
/// builds the event from these and what it knows itself, so no operation
/// builds an event.
#[derive(Debug, Default)]
pub struct AuditNotes {
    keys: std::sync::Mutex<Vec<Arc<str>>>,
    material: std::sync::Mutex<Option<Arc<str>>>,
}

impl AuditNotes {
    /// Note a key the request acted on (its ARN).
    pub fn key(&self, arn: &str) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if !keys.iter().any(|k| &**k == arn) {
            keys.push(arn.into());
        }
    }

    /// Note the key material a cryptographic operation used
    /// (`additionalEventData.keyMaterialId`).
    pub fn key_material(&self, id: &Arc<str>) {
        *self.material.lock().unwrap_or_else(|e| e.into_inner()) = Some(id.clone());
    }

    /// The key material noted.
    pub fn material(&self) -> Option<Arc<str>> {
        self.material
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The keys noted, in order.
    pub fn keys(&self) -> Vec<Arc<str>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Caller {
    /// A caller acting as `identity`, signed with `access_key_id`.
    pub fn new(
        region: Region,
        identity: Arc<Identity>,
        access_key_id: Arc<str>,
        request_id: String,
    ) -> Caller {
        Caller {
            region,
            account: identity.principal.account.clone(),
            principal: identity.principal.arn.clone(),
            access_key_id,
            request_id,
            identity,
            source_ip: None,
            secure_transport: false,
            event_id: String::new(),
            notes: Arc::default(),
        }
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// The root key is not the one the data was written with.
    #[error("the root key does not match the one this data directory was created with; refusing to start (no data was changed)")]
    WrongRootKey,
    /// The store failed.
    #[error("the store failed")]
    Store(#[source] StoreError),
    /// The crypto provider failed.
    #[error("the crypto provider failed")]
    Crypto(#[source] trent_core::CryptoError),
    /// The audit trail could not be opened.
    #[error(transparent)]
    Audit(trent_audit::AuditError),
}

/// Tunables and configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Most keys kept in the hot-path cache.
    pub cache_capacity: usize,
    /// The IAM users and roles (for AssumeRole and role sessions).
    pub directory: Arc<Directory>,
    /// Where this node writes its audit trail (`None`: audit off).
    pub audit: Option<trent_audit::TrailConfig>,
    /// The Regions this deployment serves (`None`: any valid name).
    pub regions: Option<Vec<Region>>,
    /// This node's name: the holder of the background lease is this name
    /// and a random suffix (a restarted node is a new holder).
    pub node: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            cache_capacity: 1_000_000,
            directory: Arc::default(),
            audit: None,
            regions: None,
            node: "node-1".into(),
        }
    }
}

/// The store setting that proves which root key the store was written with.
pub const ROOT_CHECK_META: &str = "root-key-check";
const ROOT_CHECK: &str = ROOT_CHECK_META;
const ROOT_CHECK_AAD: &[u8] = b"trent/v1/root-key-check";
const TRACKING_START: &str = "usage-tracking-start";

/// The key management service.
#[derive(Debug)]
pub struct Kms {
    store: Arc<dyn KeyStore>,
    provider: Arc<dyn CryptoProvider>,
    root: Arc<dyn RootKey>,
    clock: Arc<dyn Clock>,
    cache: Arc<KeyCache>,
    usage: Arc<UsageTracker>,
    /// This process as the holder of the background lease.
    holder: String,
    tracking_start: Millis,
    /// Seals and opens STS session tokens.
    session_key: Arc<dyn trent_core::KeyHandle>,
    /// IAM users and roles.
    directory: Arc<Directory>,
    /// Deleted records may still be in the store's files (see
    /// `background`). True at start: a crash may have come between a
    /// deletion and its purge.
    purge_pending: std::sync::atomic::AtomicBool,
    /// This node's audit trail.
    trail: Arc<trent_audit::Trail>,
    /// The audit signing key's public half (DER `SubjectPublicKeyInfo`).
    audit_public_key: Vec<u8>,
    /// Runs the expensive private-key operations (RSA, ML-DSA).
    heavy: pool::CryptoPool,
    /// The Regions served (`None`: any).
    regions: Option<Vec<Region>>,
}

/// How many times a compare-and-swap update is retried before giving up.
const CAS_ATTEMPTS: usize = 64;

impl Kms {
    /// Start the service on a store. Checks that `root` is the root key the
    /// store was created with (and records it, on a new store).
    pub async fn new(
        store: Arc<dyn KeyStore>,
        provider: Arc<dyn CryptoProvider>,
        root: Arc<dyn RootKey>,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Result<Kms, StartupError> {
        match store
            .get_meta(ROOT_CHECK)
            .await
            .map_err(StartupError::Store)?
        {
            Some(wrapped) => {
                root.unwrap(&wrapped, ROOT_CHECK_AAD)
                    .map_err(|_| StartupError::WrongRootKey)?;
            }
            None => {
                let mut probe = vec![0u8; 32];
                provider
                    .fill_random(&mut probe)
                    .map_err(StartupError::Crypto)?;
                let wrapped = root
                    .wrap(&SecretBytes::new(probe), ROOT_CHECK_AAD)
                    .map_err(StartupError::Crypto)?;
                if !store
                    .put_meta_if_absent(ROOT_CHECK, &wrapped)
                    .await
                    .map_err(StartupError::Store)?
                {
                    // Another node initialized the store first: check theirs.
                    let theirs = store
                        .get_meta(ROOT_CHECK)
                        .await
                        .map_err(StartupError::Store)?
                        .unwrap_or_default();
                    root.unwrap(&theirs, ROOT_CHECK_AAD)
                        .map_err(|_| StartupError::WrongRootKey)?;
                }
            }
        }
        let now = clock.now();
        store
            .put_meta_if_absent(TRACKING_START, &now.to_be_bytes())
            .await
            .map_err(StartupError::Store)?;
        let tracking_start = store
            .get_meta(TRACKING_START)
            .await
            .map_err(StartupError::Store)?
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map(i64::from_be_bytes)
            .unwrap_or(now);
        let session_key =
            Self::session_key(store.as_ref(), provider.as_ref(), root.as_ref()).await?;
        let signer = audit::signing_key(store.as_ref(), provider.as_ref(), root.as_ref()).await?;
        let audit_public_key = signer.public_key_der();
        let cache = Arc::new(KeyCache::new(settings.cache_capacity));
        if let Some(changes) = store.changes() {
            // Subscribed before anything is cached: no change is missed.
            tokio::spawn(cache::follow(cache.clone(), changes));
        }
        // Unique per process start (not secret; the provider's randomness
        // is left to keys, so deterministic test runs stay deterministic).
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let holder = format!("{}/{}-{started:x}", settings.node, std::process::id());
        let trail = match settings.audit.clone() {
            Some(cfg) => trent_audit::Trail::open(cfg, signer).map_err(StartupError::Audit)?,
            None => trent_audit::Trail::disabled(),
        };
        Ok(Kms {
            store,
            provider,
            root,
            clock,
            session_key,
            directory: settings.directory.clone(),
            cache,
            holder,
            usage: Arc::default(),
            tracking_start,
            purge_pending: std::sync::atomic::AtomicBool::new(true),
            trail: Arc::new(trail),
            audit_public_key,
            heavy: pool::CryptoPool::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            ),
            regions: settings.regions.clone(),
        })
    }

    /// This node's audit trail.
    pub fn trail(&self) -> &Arc<trent_audit::Trail> {
        &self.trail
    }

    /// The audit signing key's public half (DER `SubjectPublicKeyInfo`).
    pub fn audit_public_key(&self) -> &[u8] {
        &self.audit_public_key
    }

    /// The clock the service runs on.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The hot-path cache (for diagnostics and tests).
    pub fn cache(&self) -> &KeyCache {
        &self.cache
    }

    /// Resolve a `KeyId` parameter to a key locator (aliases through the
    /// cache, then the store).
    async fn resolve(
        &self,
        caller: &Caller,
        key_id: &str,
        accepts: Accepts,
    ) -> Result<KeyLocator, ServiceError> {
        match KeyRef::parse(key_id, &caller.region, &caller.account, accepts)? {
            KeyRef::Key(loc) => Ok(loc),
            KeyRef::Alias { account, name } => {
                if let Some(id) = self.cache.alias(&caller.region, &account, &name.0) {
                    return Ok(KeyLocator {
                        region: caller.region.clone(),
                        account,
                        key_id: id,
                    });
                }
                let epoch = self.cache.epoch();
                match self
                    .store
                    .get_alias(&caller.region, &account, &name)
                    .await?
                {
                    Some(a) => {
                        self.cache
                            .insert_alias(epoch, &caller.region, &account, &name.0, a.target);
                        Ok(KeyLocator {
                            region: caller.region.clone(),
                            account,
                            key_id: a.target,
                        })
                    }
                    None => Err(ServiceError::AliasNotFound {
                        alias_arn: name.arn(&caller.region, &account),
                    }),
                }
            }
        }
    }

    /// A key's record from the store.
    async fn record(&self, loc: &KeyLocator) -> Result<KeyRecord, ServiceError> {
        self.store
            .get_key(loc)
            .await?
            .ok_or_else(|| ServiceError::KeyNotFound { arn: loc.arn() })
    }

    /// A key ready for cryptography: from the cache, or loaded, unwrapped and
    /// prepared.
    async fn hot_key(&self, loc: &KeyLocator) -> Result<Arc<HotKey>, ServiceError> {
        if let Some(k) = self.cache.get(loc) {
            return Ok(k);
        }
        let epoch = self.cache.epoch();
        let record = self.record(loc).await?;
        let grants = self.all_grants(loc).await?;
        let hot = Arc::new(self.prepare(&record, grants)?);
        self.cache.insert(epoch, hot.clone());
        Ok(hot)
    }

    fn prepare(
        &self,
        record: &KeyRecord,
        grants: Vec<trent_core::grant::GrantRecord>,
    ) -> Result<HotKey, ServiceError> {
        let mut versions = Vec::with_capacity(record.versions.len());
        // Imported material that was deleted or expired is not loaded: a
        // ciphertext under it is refused as pending import (see HotKey).
        for v in record.versions.iter().filter(|v| v.present()) {
            let aad = KeyVersion::wrap_aad(&record.locator, v.number);
            let material = self.root.unwrap(&v.wrapped, &aad)?;
            versions.push(HotVersion {
                number: v.number,
                material_id: v.material_id.as_str().into(),
                key: self.provider.load_key(record.spec, &material)?,
            });
        }
        Ok(HotKey::new(record, versions, grants))
    }

    /// New key material, wrapped for version `number` of `loc`, with a fresh
    /// material id.
    fn new_material(
        &self,
        loc: &KeyLocator,
        number: u32,
    ) -> Result<(String, Vec<u8>), ServiceError> {
        let material = self.provider.generate_symmetric()?;
        self.wrap_material(loc, number, &material)
    }

    /// Wrap material for version `number` of `loc`, with a fresh material id.
    fn wrap_material(
        &self,
        loc: &KeyLocator,
        number: u32,
        material: &SecretBytes,
    ) -> Result<(String, Vec<u8>), ServiceError> {
        let wrapped = self
            .root
            .wrap(material, &KeyVersion::wrap_aad(loc, number))?;
        let mut id = [0u8; 32];
        self.provider.fill_random(&mut id)?;
        Ok((hex::encode(id), wrapped))
    }

    /// Apply a transition to a key with compare-and-swap, retrying on
    /// conflicts from concurrent writers, then invalidate the cache. The
    /// request is authorized on each record it is about to replace, inside
    /// the loop: a policy change that lands between a check and the write
    /// is seen, because the write is then a conflict and the check runs
    /// again on the new record.
    async fn update<F>(
        &self,
        caller: &Caller,
        loc: &KeyLocator,
        action: trent_core::authz::Action,
        ask: &authz::Ask<'_>,
        mut transition: F,
    ) -> Result<KeyRecord, ServiceError>
    where
        F: FnMut(&KeyRecord) -> Result<KeyRecord, ServiceError>,
    {
        let arn = loc.arn();
        for _ in 0..CAS_ATTEMPTS {
            let current = self.record(loc).await?;
            let policy = authz::compile_key_policy(&current);
            self.authorize_key(
                caller,
                action,
                &authz::KeyView::of_record(&current, &arn, &policy),
                ask,
            )
            .await?;
            let next = transition(&current)?;
            match self.commit(&current, &next).await? {
                Ok(()) => return Ok(next),
                Err(StoreError::Conflict) => tokio::task::yield_now().await,
                Err(StoreError::NotFound) => {
                    return Err(ServiceError::KeyNotFound { arn: loc.arn() })
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// Write `next`, made from `current`, and invalidate the cache. When
    /// `next` is a multi-Region primary whose shared properties changed (a
    /// rotation, rotation settings, the set of Regions), every replica is
    /// brought in line in the same transaction: new material versions,
    /// wrapped for each replica, and the rotation settings. The outer error
    /// is the service's; the inner one the store's (`Conflict`: read again).
    async fn commit(
        &self,
        current: &KeyRecord,
        next: &KeyRecord,
    ) -> Result<Result<(), StoreError>, ServiceError> {
        let shared =
            next.multi_region.is_some() && !next.is_replica() && current.shared_changed(next);
        if !shared {
            let r = self.store.update_key(next).await;
            if r.is_ok() {
                self.cache.invalidate(&next.locator);
            }
            return Ok(r);
        }
        let mut writes = vec![trent_store::KeyWrite::Update(next.clone())];
        for loc in next.related() {
            let Some(replica) = self.store.get_key(&loc).await? else {
                continue;
            };
            let have = replica.current().map_or(0, |v| v.number);
            let mut new_versions = Vec::new();
            for v in next.versions.iter().filter(|v| v.number > have) {
                let copy = if next.origin == trent_proto::OriginType::External {
                    // Imported material reaches a replica only by its own
                    // import: a rotation to new imported material needs it
                    // in every replica first (checked here, on the record
                    // this transaction writes).
                    match &replica.pending_material {
                        Some(own) if own.material_id == v.material_id && own.present() => {
                            KeyVersion {
                                rotation_type: v.rotation_type,
                                created_at: v.created_at,
                                ..own.clone()
                            }
                        }
                        _ => {
                            return Err(trent_core::KeyError::ReplicasPendingImport {
                                arn: next.arn(),
                            }
                            .into())
                        }
                    }
                } else {
                    self.rewrap_version(next, v, &loc)?
                };
                new_versions.push(copy);
            }
            let pending = replica.pending_for_replica(next.pending_material.as_ref());
            writes.push(trent_store::KeyWrite::Update(replica.synced_with(
                next,
                new_versions,
                pending,
            )));
        }
        let r = self.store.write_keys(&writes).await;
        if r.is_ok() {
            self.cache.invalidate(&next.locator);
            for loc in next.related() {
                self.cache.invalidate(&loc);
            }
        }
        Ok(r)
    }

    /// Version `v` of `from`, wrapped for the same version of the key at
    /// `to` (same material; the wrapping is bound to each key's ARN).
    /// Material that is not held stays absent.
    fn rewrap_version(
        &self,
        from: &KeyRecord,
        v: &KeyVersion,
        to: &KeyLocator,
    ) -> Result<KeyVersion, ServiceError> {
        let mut out = v.clone();
        if v.present() {
            let material = self
                .root
                .unwrap(&v.wrapped, &KeyVersion::wrap_aad(&from.locator, v.number))?;
            out.wrapped = self
                .root
                .wrap(&material, &KeyVersion::wrap_aad(to, v.number))?;
        }
        Ok(out)
    }

    fn random<const N: usize>(&self) -> Result<[u8; N], ServiceError> {
        let mut b = [0u8; N];
        self.provider.fill_random(&mut b)?;
        Ok(b)
    }
}

/// Opaque pagination markers: `NextMarker` values that only this server
/// makes, so a forged or foreign one is refused with `InvalidMarkerException`.
mod marker {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    /// Encode a marker of `kind` for position `value`.
    pub fn encode(kind: &str, value: &str) -> String {
        URL_SAFE_NO_PAD.encode(format!("{kind}:{value}"))
    }

    /// Decode a marker of `kind`.
    pub fn decode(kind: &str, marker: &str) -> Option<String> {
        let raw = URL_SAFE_NO_PAD.decode(marker).ok()?;
        let text = String::from_utf8(raw).ok()?;
        text.strip_prefix(kind)?
            .strip_prefix(':')
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests;
