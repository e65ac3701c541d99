//! Service behaviour on the in-memory store, with a clock the tests move.

use super::*;
use std::collections::BTreeMap;
use trent_core::{KeyError, ManualClock, DAY_MS};
use trent_crypto::{SoftRootKey, SoftwareProvider};
use trent_proto::ops::*;
use trent_proto::*;
use trent_store::{KeyStore, MemoryStore, StoreError};

struct Env {
    kms: Arc<Kms>,
    clock: Arc<ManualClock>,
    store: Arc<dyn KeyStore>,
}

async fn env() -> Env {
    env_on(Arc::new(MemoryStore::new())).await
}

async fn env_on(store: Arc<dyn KeyStore>) -> Env {
    let clock = Arc::new(ManualClock::new());
    let (root, _) = SoftRootKey::generate().unwrap();
    let kms = Kms::new(
        store.clone(),
        Arc::new(SoftwareProvider::new()),
        Arc::new(root),
        clock.clone(),
        Settings::default(),
    )
    .await
    .unwrap();
    Env {
        kms: Arc::new(kms),
        clock,
        store,
    }
}

fn caller_in(account: &str) -> Caller {
    Caller::new(
        Region::parse("us-east-1").unwrap(),
        Arc::new(Identity::root(&AccountId::parse(account).unwrap())),
        "AKIDTEST".into(),
        "req-1".into(),
    )
}

fn caller() -> Caller {
    caller_in("111122223333")
}

async fn new_key(kms: &Kms) -> String {
    kms.create_key(&caller(), CreateKeyRequest::default())
        .await
        .unwrap()
        .key_metadata
        .key_id
}

fn ctx(pairs: &[(&str, &str)]) -> Option<EncryptionContext> {
    Some(EncryptionContext(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    ))
}

async fn encrypt(kms: &Kms, key: &str, pt: &[u8], c: Option<EncryptionContext>) -> Vec<u8> {
    kms.encrypt(
        &caller(),
        EncryptRequest {
            key_id: Some(key.into()),
            plaintext: Some(SecretBlob::new(pt.to_vec().into())),
            encryption_context: c,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .ciphertext_blob
    .0
}

async fn decrypt(
    kms: &Kms,
    blob: &[u8],
    key: Option<&str>,
    c: Option<EncryptionContext>,
) -> Result<DecryptResponse, ServiceError> {
    kms.decrypt(
        &caller(),
        DecryptRequest {
            ciphertext_blob: Some(Blob(blob.to_vec())),
            key_id: key.map(str::to_string),
            encryption_context: c,
            ..Default::default()
        },
    )
    .await
}

#[tokio::test]
async fn encrypt_decrypt_round_trip_with_context() {
    let e = env().await;
    let key = new_key(&e.kms).await;
    let blob = encrypt(&e.kms, &key, b"secret", ctx(&[("app", "x")])).await;
    let out = decrypt(&e.kms, &blob, None, ctx(&[("app", "x")]))
        .await
        .unwrap();
    assert_eq!(&out.plaintext.0[..], b"secret");
    assert!(out.key_id.ends_with(&key));
    assert_eq!(out.key_material_id.as_deref().map(str::len), Some(64));
    // Missing, different, or extra context fails.
    for c in [None, ctx(&[("app", "y")]), ctx(&[("app", "x"), ("b", "c")])] {
        assert!(matches!(
            decrypt(&e.kms, &blob, None, c).await,
            Err(ServiceError::InvalidCiphertext)
        ));
    }
}

#[tokio::test]
async fn context_encoding_is_unambiguous() {
    let e = env().await;
    let key = new_key(&e.kms).await;
    let blob = encrypt(&e.kms, &key, b"x", ctx(&[("ab", "c")])).await;
    assert!(matches!(
        decrypt(&e.kms, &blob, None, ctx(&[("a", "bc")])).await,
        Err(ServiceError::InvalidCiphertext)
    ));
}

#[tokio::test]
async fn every_changed_byte_is_refused() {
    let e = env().await;
    let key = new_key(&e.kms).await;
    let blob = encrypt(&e.kms, &key, b"0123456789", None).await;
    for i in 0..blob.len() {
        let mut b = blob.clone();
        b[i] ^= 0x01;
        match decrypt(&e.kms, &b, None, None).await {
            Err(ServiceError::InvalidCiphertext) => {}
            // A changed key id or account names a key that does not exist
            // here or belongs to another account: one answer for both.
            Err(ServiceError::CiphertextKeyUnavailable) if (4..29).contains(&i) => {}
            other => panic!("byte {i}: {other:?}"),
        }
    }
    assert!(matches!(
        decrypt(&e.kms, &blob[..blob.len() - 1], None, None).await,
        Err(ServiceError::InvalidCiphertext)
    ));
}

#[tokio::test]
async fn decrypt_checks_the_given_key_id() {
    let e = env().await;
    let k1 = new_key(&e.kms).await;
    let k2 = new_key(&e.kms).await;
    let blob = encrypt(&e.kms, &k1, b"x", None).await;
    assert!(decrypt(&e.kms, &blob, Some(&k1), None).await.is_ok());
    assert!(matches!(
        decrypt(&e.kms, &blob, Some(&k2), None).await,
        Err(ServiceError::IncorrectKey)
    ));
}

#[tokio::test]
async fn disable_is_seen_by_the_next_request() {
    let e = env().await;
    let key = new_key(&e.kms).await;
    let blob = encrypt(&e.kms, &key, b"x", None).await;
    let req = |k: &str| KeyIdRequest {
        key_id: Some(k.into()),
    };
    e.kms.disable_key(&caller(), req(&key)).await.unwrap();
    assert!(matches!(
        decrypt(&e.kms, &blob, None, None).await,
        Err(ServiceError::Key(KeyError::Disabled { .. }))
    ));
    e.kms.enable_key(&caller(), req(&key)).await.unwrap();
    assert!(decrypt(&e.kms, &blob, None, None).await.is_ok());
}

#[tokio::test]
async fn rotation_keeps_old_versions_and_uses_the_newest() {
    let e = env().await;
    let key = new_key(&e.kms).await;
    let old = encrypt(&e.kms, &key, b"old", None).await;
    let before = decrypt(&e.kms, &old, None, None)
        .await
        .unwrap()
        .key_material_id;
    e.kms
        .rotate_key_on_demand(
            &caller(),
            KeyIdRequest {
                key_id: Some(key.clone()),
            },
        )
        .await
        .unwrap();
    let new = encrypt(&e.kms, &key, b"new", None).await;
    assert_eq!(&new[29..33], &2u32.to_be_bytes(), "new blobs use version 2");
    let after = decrypt(&e.kms, &new, None, None)
        .await
        .unwrap()
        .key_material_id;
    assert_ne!(before, after);
    assert_eq!(
        &decrypt(&e.kms, &old, None, None).await.unwrap().plaintext.0[..],
        b"old"
    );
    let list = e
        .kms
        .list_key_rotations(
            &caller(),
            ListKeyRotationsRequest {
                key_id: Some(key.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(list.rotations.len(), 1);
    assert_eq!(
        list.rotations[0].rotation_type,
        Some(RotationType::OnDemand)
    );
}

/// A store that pauses between a read and the write that follows it, so
/// that concurrent requests really interleave (an in-memory store never
/// yields, and on a current-thread runtime nothing would race), and that
/// can be told to fail reads of one key.
#[derive(Debug, Default)]
struct InterleavingStore {
    inner: MemoryStore,
    pause: std::time::Duration,
    broken: std::sync::Mutex<Option<KeyLocator>>,
    purges: std::sync::atomic::AtomicUsize,
    purge_fails: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl KeyStore for InterleavingStore {
    async fn insert_key(&self, r: &trent_core::key::KeyRecord) -> Result<(), StoreError> {
        self.inner.insert_key(r).await
    }
    async fn get_key(
        &self,
        l: &KeyLocator,
    ) -> Result<Option<trent_core::key::KeyRecord>, StoreError> {
        if self.broken.lock().unwrap().as_ref() == Some(l) {
            return Err(StoreError::Backend("injected failure".into()));
        }
        let r = self.inner.get_key(l).await;
        tokio::time::sleep(self.pause).await;
        r
    }
    async fn update_key(&self, r: &trent_core::key::KeyRecord) -> Result<(), StoreError> {
        tokio::time::sleep(self.pause).await;
        self.inner.update_key(r).await
    }
    async fn delete_key(&self, l: &KeyLocator, rev: u64) -> Result<(), StoreError> {
        self.inner.delete_key(l, rev).await
    }
    async fn write_keys(&self, w: &[trent_store::KeyWrite]) -> Result<(), StoreError> {
        tokio::time::sleep(self.pause).await;
        self.inner.write_keys(w).await
    }
    async fn list_keys(
        &self,
        r: &Region,
        a: &AccountId,
        after: Option<&trent_core::ids::KeyId>,
        limit: usize,
    ) -> Result<Vec<trent_core::ids::KeyId>, StoreError> {
        self.inner.list_keys(r, a, after, limit).await
    }
    async fn due_keys(&self, now: i64, limit: usize) -> Result<Vec<KeyLocator>, StoreError> {
        self.inner.due_keys(now, limit).await
    }
    async fn insert_alias(&self, a: &trent_core::alias::AliasRecord) -> Result<(), StoreError> {
        self.inner.insert_alias(a).await
    }
    async fn get_alias(
        &self,
        r: &Region,
        a: &AccountId,
        n: &trent_core::ids::AliasName,
    ) -> Result<Option<trent_core::alias::AliasRecord>, StoreError> {
        self.inner.get_alias(r, a, n).await
    }
    async fn update_alias(
        &self,
        a: &trent_core::alias::AliasRecord,
        expected: &trent_core::ids::KeyId,
    ) -> Result<(), StoreError> {
        self.inner.update_alias(a, expected).await
    }
    async fn delete_alias(
        &self,
        r: &Region,
        a: &AccountId,
        n: &trent_core::ids::AliasName,
    ) -> Result<(), StoreError> {
        self.inner.delete_alias(r, a, n).await
    }
    async fn list_aliases(
        &self,
        r: &Region,
        a: &AccountId,
        t: Option<&trent_core::ids::KeyId>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<trent_core::alias::AliasRecord>, StoreError> {
        self.inner.list_aliases(r, a, t, after, limit).await
    }
    async fn record_usage(&self, u: &[trent_store::UsageRecord]) -> Result<(), StoreError> {
        self.inner.record_usage(u).await
    }
    async fn get_usage(
        &self,
        l: &KeyLocator,
    ) -> Result<Option<trent_store::UsageRecord>, StoreError> {
        self.inner.get_usage(l).await
    }
    async fn get_meta(&self, n: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get_meta(n).await
    }
    async fn put_meta_if_absent(&self, n: &str, v: &[u8]) -> Result<bool, StoreError> {
        self.inner.put_meta_if_absent(n, v).await
    }
    async fn lease(&self, n: &str, h: &str, ttl: std::time::Duration) -> Result<bool, StoreError> {
        self.inner.lease(n, h, ttl).await
    }
    async fn insert_grant(
        &self,
        g: &trent_core::grant::GrantRecord,
        max: usize,
    ) -> Result<trent_store::GrantInsert, StoreError> {
        self.inner.insert_grant(g, max).await
    }
    async fn get_grant(
        &self,
        k: &KeyLocator,
        id: &str,
    ) -> Result<Option<trent_core::grant::GrantRecord>, StoreError> {
        self.inner.get_grant(k, id).await
    }
    async fn list_grants(
        &self,
        k: &KeyLocator,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<trent_core::grant::GrantRecord>, StoreError> {
        self.inner.list_grants(k, after, limit).await
    }
    async fn list_retirable_grants(
        &self,
        r: &Region,
        retiring: &str,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<trent_core::grant::GrantRecord>, StoreError> {
        self.inner
            .list_retirable_grants(r, retiring, after, limit)
            .await
    }
    async fn delete_grant(&self, k: &KeyLocator, id: &str) -> Result<(), StoreError> {
        self.inner.delete_grant(k, id).await
    }
    async fn purge(&self) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering;
        self.purges.fetch_add(1, Ordering::SeqCst);
        if self.purge_fails.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("injected purge failure".into()));
        }
        Ok(())
    }
}

fn locator(key: &str) -> KeyLocator {
    KeyLocator {
        region: caller().region,
        account: caller().account,
        key_id: trent_core::ids::KeyId::parse(key).unwrap(),
    }
}

/// Ten on-demand rotations at once, on two worker threads, over a store
/// that pauses between each read and write: they conflict, and the
/// compare-and-swap retry in `Kms::update` must turn every conflict into a
/// retry. With the retry removed (one attempt), most of them fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_on_demand_rotations_lose_no_version() {
    let store = Arc::new(InterleavingStore {
        pause: std::time::Duration::from_millis(2),
        ..Default::default()
    });
    let e = env_on(store.clone()).await;
    let key = new_key(&e.kms).await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let kms = e.kms.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            kms.rotate_key_on_demand(&caller(), KeyIdRequest { key_id: Some(key) })
                .await
        }));
    }
    let mut failures = Vec::new();
    for t in tasks {
        if let Err(err) = t.await.unwrap() {
            failures.push(err);
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
    let rec = e.store.get_key(&locator(&key)).await.unwrap().unwrap();
    assert_eq!(rec.versions.len(), 11);
    assert_eq!(rec.revision, 11, "every rotation wrote on top of the last");
}

/// Ten on-demand rotations of a multi-Region primary at once, while a
/// second replica is being made, over a store that pauses between reads and
/// writes: every version reaches every replica, with the same material
/// (a ciphertext made by the primary after the last rotation decrypts in
/// both replica Regions). Writing the replicas outside the primary's
/// compare-and-swap transaction loses versions here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rotations_reach_every_replica() {
    let store = Arc::new(InterleavingStore {
        pause: std::time::Duration::from_millis(2),
        ..Default::default()
    });
    let e = env_on(store.clone()).await;
    let key = e
        .kms
        .create_key(
            &caller(),
            CreateKeyRequest {
                multi_region: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .key_metadata
        .key_id;
    let replicate = |region: &str| ReplicateKeyRequest {
        key_id: Some(key.clone()),
        replica_region: Some(region.into()),
        ..Default::default()
    };
    e.kms
        .replicate_key(&caller(), replicate("eu-west-1"))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let kms = e.kms.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            kms.rotate_key_on_demand(&caller(), KeyIdRequest { key_id: Some(key) })
                .await
                .map(|_| ())
        }));
    }
    let kms = e.kms.clone();
    let second = replicate("ap-south-1");
    tasks.push(tokio::spawn(async move {
        kms.replicate_key(&caller(), second).await.map(|_| ())
    }));
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let primary = e.store.get_key(&locator(&key)).await.unwrap().unwrap();
    assert_eq!(primary.versions.len(), 11);
    let ids = |r: &trent_core::key::KeyRecord| {
        r.versions
            .iter()
            .map(|v| v.material_id.clone())
            .collect::<Vec<_>>()
    };
    let blob = e
        .kms
        .encrypt(
            &caller(),
            EncryptRequest {
                key_id: Some(key.clone()),
                plaintext: Some(SecretBlob(zeroize::Zeroizing::new(b"everywhere".to_vec()))),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .ciphertext_blob;
    for region in ["eu-west-1", "ap-south-1"] {
        let loc = KeyLocator {
            region: Region::parse(region).unwrap(),
            ..locator(&key)
        };
        let replica = e.store.get_key(&loc).await.unwrap().unwrap();
        assert_eq!(ids(&replica), ids(&primary), "{region}");
        let mut there = caller();
        there.region = loc.region.clone();
        let out = e
            .kms
            .decrypt(
                &there,
                DecryptRequest {
                    ciphertext_blob: Some(blob.clone()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(&out.plaintext.0[..], b"everywhere");
        assert_eq!(
            replica.multi_region.as_ref().unwrap().replicas,
            primary.multi_region.as_ref().unwrap().replicas
        );
    }
}

/// One key whose record cannot be read does not stop the sweep: the other
/// due keys are rotated and deleted, and the bad one is counted.
#[tokio::test]
async fn sweep_goes_on_past_a_key_it_cannot_process() {
    let store = Arc::new(InterleavingStore::default());
    let e = env_on(store.clone()).await;
    let mut keys = Vec::new();
    for _ in 0..3 {
        let key = new_key(&e.kms).await;
        e.kms
            .enable_key_rotation(
                &caller(),
                EnableKeyRotationRequest {
                    key_id: Some(key.clone()),
                    rotation_period_in_days: Some(90),
                },
            )
            .await
            .unwrap();
        keys.push(key);
    }
    let doomed = new_key(&e.kms).await;
    e.kms
        .schedule_key_deletion(
            &caller(),
            ScheduleKeyDeletionRequest {
                key_id: Some(doomed.clone()),
                pending_window_in_days: Some(7),
            },
        )
        .await
        .unwrap();
    // The first key due (all are due at once; order is by due time, then
    // identity) is broken.
    let mut due = e.store.due_keys(i64::MAX, 10).await.unwrap();
    let broken = due.remove(0);
    *store.broken.lock().unwrap() = Some(broken.clone());
    e.clock.advance(91 * DAY_MS);
    let report = e.kms.sweep().await.unwrap();
    assert_eq!(report.failed, 1);
    assert_eq!(report.rotated + report.deleted, 3);
    *store.broken.lock().unwrap() = None;
    let report = e.kms.sweep().await.unwrap();
    assert_eq!((report.failed, report.rotated + report.deleted), (0, 1));
}

/// The store is purged at the first sweep after a start (a crash may have
/// come between a deletion and its purge), after a sweep that destroyed a
/// key, and again at every sweep until a failed purge succeeds.
#[tokio::test]
async fn deleted_records_are_purged_until_it_succeeds() {
    use std::sync::atomic::Ordering;
    let store = Arc::new(InterleavingStore::default());
    let e = env_on(store.clone()).await;
    e.kms.sweep().await.unwrap();
    assert_eq!(store.purges.load(Ordering::SeqCst), 1, "after start");
    e.kms.sweep().await.unwrap();
    assert_eq!(store.purges.load(Ordering::SeqCst), 1, "nothing to purge");
    let key = new_key(&e.kms).await;
    e.kms
        .schedule_key_deletion(
            &caller(),
            ScheduleKeyDeletionRequest {
                key_id: Some(key),
                pending_window_in_days: Some(7),
            },
        )
        .await
        .unwrap();
    store.purge_fails.store(true, Ordering::SeqCst);
    e.clock.advance(8 * DAY_MS);
    assert_eq!(e.kms.sweep().await.unwrap().deleted, 1);
    assert_eq!(store.purges.load(Ordering::SeqCst), 2);
    e.kms.sweep().await.unwrap();
    assert_eq!(store.purges.load(Ordering::SeqCst), 3, "retried");
    store.purge_fails.store(false, Ordering::SeqCst);
    e.kms.sweep().await.unwrap();
    e.kms.sweep().await.unwrap();
    assert_eq!(
        store.purges.load(Ordering::SeqCst),
        4,
        "done once it succeeded"
    );
}

#[test]
fn tag_lists_are_checked_count_first_and_in_linear_time() {
    let tag = |k: String| Tag {
        tag_key: Some(k),
        tag_value: Some("v".into()),
    };
    // A huge list (the body cap allows tens of thousands) is refused by its
    // count before anything is done per tag.
    let huge: Vec<Tag> = (0..200_000).map(|i| tag(format!("k{}", i % 10))).collect();
    let started = std::time::Instant::now();
    assert!(matches!(
        crate::ops::check_tags(&huge),
        Err(ServiceError::Tag(TagError::TooMany))
    ));
    assert!(started.elapsed() < std::time::Duration::from_millis(50));
    let mut fifty: Vec<Tag> = (0..50).map(|i| tag(format!("k{i}"))).collect();
    assert!(crate::ops::check_tags(&fifty).is_ok());
    fifty[49] = tag("k0".into());
    assert!(matches!(
        crate::ops::check_tags(&fifty),
        Err(ServiceError::Tag(TagError::Duplicate))
    ));
    fifty[49] = tag("AWS:x".into());
    assert!(matches!(
        crate::ops::check_tags(&fifty),
        Err(ServiceError::Tag(TagError::Reserved))
    ));
}

#[tokio::test]
async fn automatic_rotation_happens_when_the_clock_says_so() {
    let e = env().await;
    let key = new_key(&e.kms).await;
    e.kms
        .enable_key_rotation(
            &caller(),
            EnableKeyRotationRequest {
                key_id: Some(key.clone()),
                rotation_period_in_days: Some(90),
            },
        )
        .await
        .unwrap();
    let blob = encrypt(&e.kms, &key, b"x", None).await;
    assert_eq!(e.kms.sweep().await.unwrap().rotated, 0);
    e.clock.advance(89 * DAY_MS);
    assert_eq!(e.kms.sweep().await.unwrap().rotated, 0);
    e.clock.advance(DAY_MS + 1);
    assert_eq!(e.kms.sweep().await.unwrap().rotated, 1);
    assert_eq!(e.kms.sweep().await.unwrap().rotated, 0, "not due again");
    let status = e
        .kms
        .get_key_rotation_status(
            &caller(),
            KeyIdRequest {
                key_id: Some(key.clone()),
            },
        )
        .await
        .unwrap();
    assert!(status.key_rotation_enabled);
    assert_eq!(status.rotation_period_in_days, Some(90));
    assert!(decrypt(&e.kms, &blob, None, None).await.is_ok());
    let new = encrypt(&e.kms, &key, b"x", None).await;
    assert_eq!(&new[29..33], &2u32.to_be_bytes());
}

#[tokio::test]
async fn deletion_after_the_window_destroys_key_and_aliases() {
    let e = env().await;
    let key = new_key(&e.kms).await;
    e.kms
        .create_alias(
            &caller(),
            AliasRequest {
                alias_name: Some("alias/doomed".into()),
                target_key_id: Some(key.clone()),
            },
        )
        .await
        .unwrap();
    let blob = encrypt(&e.kms, &key, b"x", None).await;
    let sched = e
        .kms
        .schedule_key_deletion(
            &caller(),
            ScheduleKeyDeletionRequest {
                key_id: Some(key.clone()),
                pending_window_in_days: Some(7),
            },
        )
        .await
        .unwrap();
    assert_eq!(sched.pending_window_in_days, 7);
    assert!(matches!(
        decrypt(&e.kms, &blob, None, None).await,
        Err(ServiceError::Key(KeyError::PendingDeletion { .. }))
    ));
    e.clock.advance(7 * DAY_MS - 1000);
    assert_eq!(e.kms.sweep().await.unwrap().deleted, 0);
    e.clock.advance(2000);
    assert_eq!(e.kms.sweep().await.unwrap().deleted, 1);
    assert!(matches!(
        decrypt(&e.kms, &blob, None, None).await,
        Err(ServiceError::CiphertextKeyUnavailable)
    ));
    assert!(matches!(
        decrypt(&e.kms, &blob, Some(&key), None).await,
        Err(ServiceError::KeyNotFound { .. })
    ));
    let aliases = e
        .kms
        .list_aliases(&caller(), ListAliasesRequest::default())
        .await
        .unwrap();
    assert!(aliases.aliases.is_empty());
}

#[tokio::test]
async fn cancel_deletion_leaves_the_key_disabled() {
    let e = env().await;
    let key = new_key(&e.kms).await;
    let id = || KeyIdRequest {
        key_id: Some(key.clone()),
    };
    assert!(matches!(
        e.kms.cancel_key_deletion(&caller(), id()).await,
        Err(ServiceError::Key(KeyError::NotPendingDeletion { .. }))
    ));
    e.kms
        .schedule_key_deletion(
            &caller(),
            ScheduleKeyDeletionRequest {
                key_id: Some(key.clone()),
                pending_window_in_days: None,
            },
        )
        .await
        .unwrap();
    e.kms.cancel_key_deletion(&caller(), id()).await.unwrap();
    let d = e
        .kms
        .describe_key(
            &caller(),
            DescribeKeyRequest {
                key_id: Some(key.clone()),
                grant_tokens: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(d.key_metadata.key_state, KeyState::Disabled);
    assert!(d.key_metadata.deletion_date.is_none());
}

#[tokio::test]
async fn aliases_resolve_and_move() {
    let e = env().await;
    let k1 = new_key(&e.kms).await;
    let k2 = new_key(&e.kms).await;
    let alias = |t: &str| AliasRequest {
        alias_name: Some("alias/app".into()),
        target_key_id: Some(t.into()),
    };
    e.kms.create_alias(&caller(), alias(&k1)).await.unwrap();
    assert!(matches!(
        e.kms.create_alias(&caller(), alias(&k2)).await,
        Err(ServiceError::AliasExists { .. })
    ));
    let b1 = encrypt(&e.kms, "alias/app", b"x", None).await;
    assert!(decrypt(&e.kms, &b1, Some(&k1), None).await.is_ok());
    e.kms.update_alias(&caller(), alias(&k2)).await.unwrap();
    let b2 = encrypt(&e.kms, "alias/app", b"x", None).await;
    assert!(decrypt(&e.kms, &b2, Some(&k2), None).await.is_ok());
    assert!(matches!(
        e.kms
            .create_alias(
                &caller(),
                AliasRequest {
                    alias_name: Some("alias/aws/x".into()),
                    target_key_id: Some(k1.clone())
                }
            )
            .await,
        Err(ServiceError::ReservedAlias)
    ));
}

#[tokio::test]
async fn other_accounts_are_denied() {
    let e = env().await;
    let key = new_key(&e.kms).await;
    let arn = format!("arn:aws:kms:us-east-1:111122223333:key/{key}");
    let r = e
        .kms
        .encrypt(
            &caller_in("444455556666"),
            EncryptRequest {
                key_id: Some(arn),
                plaintext: Some(SecretBlob::new(b"x".to_vec().into())),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(r, Err(ServiceError::AccessDenied { .. })));
}

#[tokio::test]
async fn wrong_root_key_refuses_to_start() {
    let e = env().await;
    let (other, _) = SoftRootKey::generate().unwrap();
    let r = Kms::new(
        e.store.clone(),
        Arc::new(SoftwareProvider::new()),
        Arc::new(other),
        e.clock.clone(),
        Settings::default(),
    )
    .await;
    assert!(matches!(r, Err(StartupError::WrongRootKey)));
}

#[tokio::test]
async fn last_usage_is_tracked_and_flushed() {
    let e = env().await;
    let key = new_key(&e.kms).await;
    let me = caller();
    let get = || {
        e.kms.get_key_last_usage(
            &me,
            KeyIdRequest {
                key_id: Some(key.clone()),
            },
        )
    };
    assert!(get().await.unwrap().key_last_usage.operation.is_none());
    encrypt(&e.kms, &key, b"x", None).await;
    let u = get().await.unwrap().key_last_usage;
    assert_eq!(u.operation, Some(KeyLastUsageTrackingOperation::Encrypt));
    e.kms.flush_usage().await.unwrap();
    let u = get().await.unwrap().key_last_usage;
    assert_eq!(u.kms_request_id.as_deref(), Some("req-1"));
}

#[tokio::test]
async fn list_keys_pages() {
    let e = env().await;
    for _ in 0..5 {
        new_key(&e.kms).await;
    }
    let mut marker = None;
    let mut seen = 0;
    loop {
        let page = e
            .kms
            .list_keys(
                &caller(),
                ListKeysRequest {
                    limit: Some(2),
                    marker: marker.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        seen += page.keys.len();
        assert_eq!(page.truncated, page.next_marker.is_some());
        if !page.truncated {
            break;
        }
        marker = page.next_marker;
    }
    assert_eq!(seen, 5);
    assert!(matches!(
        e.kms
            .list_keys(
                &caller(),
                ListKeysRequest {
                    limit: None,
                    marker: Some("garbage".into()),
                    ..Default::default()
                }
            )
            .await,
        Err(ServiceError::InvalidMarker)
    ));
}
