//! The contract every [`KeyStore`] backend must meet: one public async
//! function per check, each given an empty store. A backend's crate runs
//! them all with [`conformance_tests!`](crate::conformance_tests), which
//! makes one test per check.

use crate::{GrantInsert, KeyStore, KeyWrite, StoreError, UsageRecord};
use std::sync::Arc;
use trent_core::alias::AliasRecord;
use trent_core::ids::{AccountId, AliasName, KeyId, KeyLocator, Region};
use trent_core::key::{KeyRecord, KeyVersion};
use trent_core::DAY_MS;
use trent_proto::{KeyLastUsageTrackingOperation, RotationType};

fn region(s: &str) -> Region {
    Region::parse(s).expect("valid region")
}

fn account(s: &str) -> AccountId {
    AccountId::parse(s).expect("valid account")
}

/// A key record for tests: key id bytes all `n`, in us-east-1 / 111122223333.
pub fn sample_key(n: u8) -> KeyRecord {
    sample_key_in(n, "us-east-1", "111122223333")
}

/// A key record for tests in a given region and account.
pub fn sample_key_in(n: u8, r: &str, a: &str) -> KeyRecord {
    let locator = KeyLocator {
        region: region(r),
        account: account(a),
        key_id: KeyId::from_random([n; 16]),
    };
    KeyRecord::new_symmetric(
        locator,
        1_700_000_000_000,
        format!("key {n}"),
        "{}".into(),
        vec![("team".into(), "a".into())],
        KeyVersion {
            number: 1,
            material_id: format!("{n:064x}"),
            created_at: 1_700_000_000_000,
            rotation_type: None,
            wrapped: vec![n; 61],
            import: None,
        },
    )
}

fn alias(name: &str, target: &KeyRecord) -> AliasRecord {
    AliasRecord {
        region: target.locator.region.clone(),
        account: target.locator.account.clone(),
        name: AliasName(name.into()),
        target: target.locator.key_id,
        created_at: 1,
        updated_at: 1,
    }
}

/// One `#[tokio::test]` per check of the contract, each on a fresh store
/// from `$make` (an expression of type `async fn() -> impl KeyStore`, or a
/// closure returning such a future), so a failure names the check. Every
/// backend's crate calls it once:
///
/// ```ignore
/// trent_store::conformance_tests!(|| async { MyStore::new() });
/// ```
///
/// The calling crate needs `tokio` (with `macros` and `rt-multi-thread`)
/// among its dev-dependencies.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@each $make; keys_round_trip, compare_and_swap, concurrent_rotations_lose_no_version, delete_cascades, listing_is_scoped_and_paged, due_keys, aliases, usage, meta, grants, grant_limit_and_names, batch_writes_are_atomic, imported_and_multi_region_keys_round_trip, leases_have_one_holder, leases_expire, grant_limit_holds_under_concurrent_inserts);
    };
    (@each $make:expr; $($check:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let store = ($make)().await;
                $crate::conformance::$check(::std::sync::Arc::new(store)).await;
            }
        )*
    };
}

/// A grant of key `key` with id byte `n`.
pub fn sample_grant(key: &KeyRecord, n: u8) -> trent_core::grant::GrantRecord {
    trent_core::grant::GrantRecord {
        key: key.locator.clone(),
        grant_id: format!("{n:02x}").repeat(32),
        name: None,
        grantee: "arn:aws:iam::111122223333:role/app".into(),
        retiring: Some("arn:aws:iam::111122223333:role/retirer".into()),
        operations: vec!["Encrypt".into(), "Decrypt".into()],
        constraints: None,
        issuing_account: "arn:aws:iam::111122223333:root".into(),
        created_at: 1_700_000_000_000,
    }
}

pub async fn grants(s: Arc<dyn KeyStore>) {
    let k = sample_key(1);
    let other = sample_key(2);
    s.insert_key(&k).await.expect("insert");
    s.insert_key(&other).await.expect("insert");
    for n in [3u8, 1, 2] {
        assert_eq!(
            s.insert_grant(&sample_grant(&k, n), 100)
                .await
                .expect("grant"),
            GrantInsert::Inserted
        );
    }
    s.insert_grant(&sample_grant(&other, 9), 100)
        .await
        .expect("grant");
    assert!(matches!(
        s.insert_grant(&sample_grant(&k, 1), 100).await,
        Err(StoreError::AlreadyExists)
    ));
    let g1 = sample_grant(&k, 1);
    assert_eq!(
        s.get_grant(&k.locator, &g1.grant_id).await.expect("get"),
        Some(g1.clone())
    );
    assert_eq!(
        s.get_grant(&other.locator, &g1.grant_id)
            .await
            .expect("get"),
        None
    );
    let all = s.list_grants(&k.locator, None, 10).await.expect("list");
    let ids: Vec<&str> = all.iter().map(|g| &g.grant_id[..2]).collect();
    assert_eq!(
        ids,
        ["01", "02", "03"],
        "in grant id order, of this key only"
    );
    let page = s
        .list_grants(&k.locator, Some(&all[0].grant_id), 1)
        .await
        .expect("page");
    assert_eq!(page, vec![all[1].clone()]);
    let retirable = s
        .list_retirable_grants(
            &region("us-east-1"),
            "arn:aws:iam::111122223333:role/retirer",
            None,
            10,
        )
        .await
        .expect("retirable");
    assert_eq!(retirable.len(), 4, "across keys");
    let next = s
        .list_retirable_grants(
            &region("us-east-1"),
            "arn:aws:iam::111122223333:role/retirer",
            Some((&retirable[0].key.key_id.to_string(), &retirable[0].grant_id)),
            10,
        )
        .await
        .expect("retirable page");
    assert_eq!(next, retirable[1..].to_vec());
    assert!(s
        .list_retirable_grants(
            &region("eu-west-1"),
            "arn:aws:iam::111122223333:role/retirer",
            None,
            10
        )
        .await
        .expect("other region")
        .is_empty());
    s.delete_grant(&k.locator, &g1.grant_id)
        .await
        .expect("delete");
    assert!(matches!(
        s.delete_grant(&k.locator, &g1.grant_id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        s.list_grants(&k.locator, None, 10)
            .await
            .expect("list")
            .len(),
        2
    );
    // Deleting the key deletes its grants.
    s.delete_key(&k.locator, k.revision)
        .await
        .expect("delete key");
    assert!(s
        .list_grants(&k.locator, None, 10)
        .await
        .expect("list")
        .is_empty());
    assert_eq!(
        s.list_grants(&other.locator, None, 10)
            .await
            .expect("list")
            .len(),
        1
    );
}

pub async fn grant_limit_and_names(s: Arc<dyn KeyStore>) {
    let k = sample_key(1);
    s.insert_key(&k).await.expect("insert");
    let mut named = sample_grant(&k, 1);
    named.name = Some("deploy".into());
    assert_eq!(
        s.insert_grant(&named, 2).await.expect("grant"),
        GrantInsert::Inserted
    );
    // The same name and parameters: the existing grant, not a second one.
    let mut again = named.clone();
    again.grant_id = "ee".repeat(32);
    assert_eq!(
        s.insert_grant(&again, 2).await.expect("grant"),
        GrantInsert::Existing(Box::new(named.clone()))
    );
    // The same name with other parameters is another grant.
    let mut different = again.clone();
    different.operations = vec!["Decrypt".into()];
    assert_eq!(
        s.insert_grant(&different, 2).await.expect("grant"),
        GrantInsert::Inserted
    );
    assert_eq!(
        s.insert_grant(&sample_grant(&k, 7), 2)
            .await
            .expect("grant"),
        GrantInsert::LimitReached
    );
    assert_eq!(
        s.list_grants(&k.locator, None, 10)
            .await
            .expect("list")
            .len(),
        2
    );
}

pub async fn keys_round_trip(s: Arc<dyn KeyStore>) {
    let k = sample_key(1);
    s.insert_key(&k).await.expect("insert");
    assert_eq!(s.get_key(&k.locator).await.expect("get"), Some(k.clone()));
    assert!(matches!(
        s.insert_key(&k).await,
        Err(StoreError::AlreadyExists)
    ));
    let other = sample_key(2);
    assert_eq!(s.get_key(&other.locator).await.expect("get"), None);
    // The same id in another region or account is another key.
    let elsewhere = sample_key_in(1, "eu-west-1", "111122223333");
    assert_eq!(s.get_key(&elsewhere.locator).await.expect("get"), None);
    s.insert_key(&elsewhere).await.expect("insert elsewhere");
}

pub async fn compare_and_swap(s: Arc<dyn KeyStore>) {
    let k = sample_key(1);
    s.insert_key(&k).await.expect("insert");
    let d = k.disable().expect("disable");
    s.update_key(&d)
        .await
        .expect("update at the right revision");
    // An update computed from the old record loses.
    let stale = k.with_description("stale".into()).expect("describe");
    assert!(matches!(
        s.update_key(&stale).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(s.get_key(&k.locator).await.expect("get"), Some(d.clone()));
    // Replaying the same update loses too.
    assert!(matches!(s.update_key(&d).await, Err(StoreError::Conflict)));
    let missing = sample_key(9).disable().expect("disable");
    assert!(matches!(
        s.update_key(&missing).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn concurrent_rotations_lose_no_version(s: Arc<dyn KeyStore>) {
    let k = sample_key(3);
    s.insert_key(&k).await.expect("insert");
    let n = 8;
    let mut tasks = Vec::new();
    for i in 0..n {
        let s = s.clone();
        let loc = k.locator.clone();
        tasks.push(tokio::spawn(async move {
            for _attempt in 0..1000 {
                let cur = s.get_key(&loc).await.expect("get").expect("exists");
                let next = cur
                    .rotate(
                        i,
                        RotationType::OnDemand,
                        format!("{i:064x}"),
                        vec![i as u8],
                    )
                    .expect("rotate");
                match s.update_key(&next).await {
                    Ok(()) => return,
                    Err(StoreError::Conflict) => tokio::task::yield_now().await,
                    Err(e) => panic!("{e}"),
                }
            }
            panic!("rotation never won the race");
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let end = s.get_key(&k.locator).await.expect("get").expect("exists");
    assert_eq!(end.versions.len(), 1 + n as usize);
    let numbers: Vec<u32> = end.versions.iter().map(|v| v.number).collect();
    assert_eq!(numbers, (1..=1 + n as u32).collect::<Vec<_>>());
    let mut ids: Vec<&str> = end.versions[1..]
        .iter()
        .map(|v| v.material_id.as_str())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n as usize, "every racer's version is kept");
}

pub async fn delete_cascades(s: Arc<dyn KeyStore>) {
    let k = sample_key(4);
    let keep = sample_key(5);
    s.insert_key(&k).await.expect("insert");
    s.insert_key(&keep).await.expect("insert");
    s.insert_alias(&alias("alias/a", &k)).await.expect("alias");
    s.insert_alias(&alias("alias/b", &keep))
        .await
        .expect("alias");
    s.record_usage(&[UsageRecord {
        locator: k.locator.clone(),
        operation: KeyLastUsageTrackingOperation::Encrypt,
        at: 5,
        request_id: "r".into(),
        event_id: String::new(),
    }])
    .await
    .expect("usage");
    assert!(matches!(
        s.delete_key(&k.locator, 99).await,
        Err(StoreError::Conflict)
    ));
    s.delete_key(&k.locator, k.revision).await.expect("delete");
    assert_eq!(s.get_key(&k.locator).await.expect("get"), None);
    assert_eq!(s.get_usage(&k.locator).await.expect("usage"), None);
    let (r, a) = (&k.locator.region, &k.locator.account);
    assert_eq!(
        s.get_alias(r, a, &AliasName("alias/a".into()))
            .await
            .expect("get"),
        None
    );
    assert!(s
        .get_alias(r, a, &AliasName("alias/b".into()))
        .await
        .expect("get")
        .is_some());
    assert!(matches!(
        s.delete_key(&k.locator, 1).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn listing_is_scoped_and_paged(s: Arc<dyn KeyStore>) {
    for n in 10..20 {
        s.insert_key(&sample_key(n)).await.expect("insert");
    }
    s.insert_key(&sample_key_in(30, "eu-west-1", "111122223333"))
        .await
        .expect("insert");
    s.insert_key(&sample_key_in(31, "us-east-1", "444455556666"))
        .await
        .expect("insert");
    let (r, a) = (region("us-east-1"), account("111122223333"));
    let mut all = Vec::new();
    let mut after: Option<KeyId> = None;
    loop {
        let page = s.list_keys(&r, &a, after.as_ref(), 3).await.expect("list");
        assert!(page.len() <= 3);
        if page.is_empty() {
            break;
        }
        after = page.last().copied();
        all.extend(page);
    }
    assert_eq!(all.len(), 10);
    let mut sorted = all.clone();
    sorted.sort_by_key(|k| k.to_string());
    assert_eq!(all, sorted, "listed in id order");
    let other = s
        .list_keys(&region("us-east-1"), &account("444455556666"), None, 100)
        .await
        .expect("list");
    assert_eq!(other.len(), 1);
}

pub async fn due_keys(s: Arc<dyn KeyStore>) {
    let now = 1_700_000_000_000;
    let idle = sample_key(1);
    let rotating = sample_key(2).enable_rotation(now, 90).expect("rotation");
    let deleting = sample_key(3).schedule_deletion(now, 7).expect("schedule");
    for k in [&idle, &rotating, &deleting] {
        s.insert_key(k).await.expect("insert");
    }
    assert!(s.due_keys(now, 10).await.expect("due").is_empty());
    let due = s.due_keys(now + 7 * DAY_MS, 10).await.expect("due");
    assert_eq!(due, vec![deleting.locator.clone()]);
    let mut due = s.due_keys(now + 90 * DAY_MS, 10).await.expect("due");
    due.sort();
    let mut want = vec![deleting.locator.clone(), rotating.locator.clone()];
    want.sort();
    assert_eq!(due, want);
    // Once rotated, the key is no longer due.
    let rotated = rotating
        .rotate(
            now + 90 * DAY_MS,
            RotationType::Automatic,
            "m".into(),
            vec![],
        )
        .expect("rotate");
    s.update_key(&rotated).await.expect("update");
    assert_eq!(
        s.due_keys(now + 90 * DAY_MS, 10).await.expect("due"),
        vec![deleting.locator.clone()]
    );
}

pub async fn aliases(s: Arc<dyn KeyStore>) {
    let k1 = sample_key(1);
    let k2 = sample_key(2);
    s.insert_key(&k1).await.expect("insert");
    s.insert_key(&k2).await.expect("insert");
    let (r, a) = (k1.locator.region.clone(), k1.locator.account.clone());
    for name in ["alias/c", "alias/a", "alias/b"] {
        s.insert_alias(&alias(name, &k1)).await.expect("alias");
    }
    assert!(matches!(
        s.insert_alias(&alias("alias/a", &k2)).await,
        Err(StoreError::AlreadyExists)
    ));
    let mut moved = alias("alias/b", &k2);
    moved.updated_at = 9;
    // Based on a stale target: refused, nothing changed.
    assert!(matches!(
        s.update_alias(&moved, &k2.locator.key_id).await,
        Err(StoreError::Conflict)
    ));
    let unchanged = s
        .get_alias(&r, &a, &AliasName("alias/b".into()))
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(unchanged.target, k1.locator.key_id);
    s.update_alias(&moved, &k1.locator.key_id)
        .await
        .expect("update");
    let got = s
        .get_alias(&r, &a, &AliasName("alias/b".into()))
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got.target, k2.locator.key_id);
    assert_eq!((got.created_at, got.updated_at), (1, 9));
    assert!(matches!(
        s.update_alias(&alias("alias/zzz", &k2), &k1.locator.key_id)
            .await,
        Err(StoreError::NotFound)
    ));
    let all = s.list_aliases(&r, &a, None, None, 100).await.expect("list");
    let names: Vec<&str> = all.iter().map(|x| x.name.0.as_str()).collect();
    assert_eq!(names, ["alias/a", "alias/b", "alias/c"]);
    let page = s
        .list_aliases(&r, &a, None, Some("alias/a"), 1)
        .await
        .expect("list");
    assert_eq!(page[0].name.0, "alias/b");
    let of_k1 = s
        .list_aliases(&r, &a, Some(&k1.locator.key_id), None, 100)
        .await
        .expect("list");
    assert_eq!(of_k1.len(), 2);
    s.delete_alias(&r, &a, &AliasName("alias/a".into()))
        .await
        .expect("delete");
    assert!(matches!(
        s.delete_alias(&r, &a, &AliasName("alias/a".into())).await,
        Err(StoreError::NotFound)
    ));
    // Aliases are per region.
    let eu = region("eu-west-1");
    assert!(s
        .list_aliases(&eu, &a, None, None, 100)
        .await
        .expect("list")
        .is_empty());
}

pub async fn usage(s: Arc<dyn KeyStore>) {
    let k = sample_key(1);
    s.insert_key(&k).await.expect("insert");
    let u = |at, op| UsageRecord {
        locator: k.locator.clone(),
        operation: op,
        at,
        request_id: format!("req-{at}"),
        event_id: format!("evt-{at}"),
    };
    s.record_usage(&[u(10, KeyLastUsageTrackingOperation::Encrypt)])
        .await
        .expect("usage");
    s.record_usage(&[u(5, KeyLastUsageTrackingOperation::Decrypt)])
        .await
        .expect("usage");
    assert_eq!(
        s.get_usage(&k.locator).await.expect("get"),
        Some(u(10, KeyLastUsageTrackingOperation::Encrypt)),
        "an older use does not replace a newer one"
    );
    s.record_usage(&[u(20, KeyLastUsageTrackingOperation::GenerateDataKey)])
        .await
        .expect("usage");
    assert_eq!(
        s.get_usage(&k.locator)
            .await
            .expect("get")
            .expect("some")
            .at,
        20
    );
    // Usage of a key that does not exist (deleted meanwhile) is dropped.
    let gone = sample_key(7);
    s.record_usage(&[UsageRecord {
        locator: gone.locator.clone(),
        operation: KeyLastUsageTrackingOperation::Encrypt,
        at: 1,
        request_id: "x".into(),
        event_id: String::new(),
    }])
    .await
    .expect("usage");
    assert_eq!(s.get_usage(&gone.locator).await.expect("get"), None);
}

pub async fn meta(s: Arc<dyn KeyStore>) {
    assert_eq!(s.get_meta("root-check").await.expect("get"), None);
    assert!(s
        .put_meta_if_absent("root-check", b"one")
        .await
        .expect("put"));
    assert!(!s
        .put_meta_if_absent("root-check", b"two")
        .await
        .expect("put"));
    assert_eq!(
        s.get_meta("root-check").await.expect("get"),
        Some(b"one".to_vec())
    );
}

pub async fn batch_writes_are_atomic(s: Arc<dyn KeyStore>) {
    let a = sample_key(1);
    let b = sample_key_in(1, "eu-west-1", "111122223333");
    let c = sample_key(3);
    s.insert_key(&a).await.expect("insert a");
    s.insert_key(&c).await.expect("insert c");
    // One stale update spoils the batch: the insert and the deletion in it
    // are not applied either.
    let stale = a.with_description("stale".into()).expect("describe");
    s.update_key(&a.disable().expect("disable"))
        .await
        .expect("update a");
    let batch = [
        KeyWrite::Insert(b.clone()),
        KeyWrite::Delete(c.locator.clone(), c.revision),
        KeyWrite::Update(stale),
    ];
    assert!(matches!(
        s.write_keys(&batch).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(s.get_key(&b.locator).await.expect("get"), None);
    assert!(s.get_key(&c.locator).await.expect("get").is_some());
    // An insert of a taken locator spoils it too.
    let current = s.get_key(&a.locator).await.expect("get").expect("a");
    let renamed = current.with_description("new".into()).expect("describe");
    let batch = [
        KeyWrite::Update(renamed.clone()),
        KeyWrite::Insert(c.clone()),
    ];
    assert!(matches!(
        s.write_keys(&batch).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(s.get_key(&a.locator).await.expect("get"), Some(current));
    // A good batch applies every write.
    let batch = [
        KeyWrite::Update(renamed.clone()),
        KeyWrite::Insert(b.clone()),
        KeyWrite::Delete(c.locator.clone(), c.revision),
    ];
    s.write_keys(&batch).await.expect("batch");
    assert_eq!(s.get_key(&a.locator).await.expect("get"), Some(renamed));
    assert_eq!(s.get_key(&b.locator).await.expect("get"), Some(b));
    assert_eq!(s.get_key(&c.locator).await.expect("get"), None);
}

pub async fn imported_and_multi_region_keys_round_trip(s: Arc<dyn KeyStore>) {
    use trent_core::key::{Import, MultiRegion, SpentToken};
    let base = sample_key(5);
    let mut k = KeyRecord::new_external(
        base.locator.clone(),
        base.created_at,
        (base.spec, base.usage),
        String::new(),
        "{}".into(),
        vec![],
    );
    k.multi_region = Some(MultiRegion {
        primary: region("us-east-1"),
        replicas: vec![region("eu-west-1")],
    });
    s.insert_key(&k).await.expect("insert");
    let expires = base.created_at + DAY_MS;
    let imp = Import {
        material_id: &"ab".repeat(32),
        kind: None,
        requested_id: None,
        valid_to: Some(expires),
        description: Some("from the HSM"),
        token: SpentToken {
            id: "00".repeat(16),
            expires_at: expires,
        },
    };
    let imported = k
        .import(base.created_at, &imp, |_| {
            Ok::<_, trent_core::KeyError>(vec![9; 60])
        })
        .expect("import");
    s.update_key(&imported).await.expect("update");
    assert_eq!(
        s.get_key(&k.locator).await.expect("get"),
        Some(imported.clone())
    );
    // The material's expiry makes the key due.
    assert!(s.due_keys(expires - 1, 10).await.expect("due").is_empty());
    assert_eq!(
        s.due_keys(expires, 10).await.expect("due"),
        vec![k.locator.clone()]
    );
}

/// A lease has one holder at a time; the holder renews it; other names are
/// independent.
pub async fn leases_have_one_holder(s: Arc<dyn KeyStore>) {
    let ttl = std::time::Duration::from_secs(30);
    assert!(s.lease("sweep", "node-a", ttl).await.expect("lease"));
    assert!(!s.lease("sweep", "node-b", ttl).await.expect("lease"));
    assert!(s.lease("sweep", "node-a", ttl).await.expect("renew"));
    assert!(!s.lease("sweep", "node-b", ttl).await.expect("lease"));
    assert!(s.lease("other", "node-b", ttl).await.expect("lease"));
    // Racing takers: exactly one wins a free lease.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.lease("race", &format!("node-{i}"), ttl)
                .await
                .expect("lease")
        }));
    }
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.expect("task"));
    }
    assert_eq!(winners, 1, "one holder of a contended lease");
}

/// A lease that is not renewed expires, and another holder takes it (a
/// node that died stops holding the background work).
pub async fn leases_expire(s: Arc<dyn KeyStore>) {
    let short = std::time::Duration::from_millis(300);
    assert!(s.lease("sweep", "node-a", short).await.expect("lease"));
    assert!(!s.lease("sweep", "node-b", short).await.expect("lease"));
    tokio::time::sleep(std::time::Duration::from_millis(450)).await;
    assert!(s.lease("sweep", "node-b", short).await.expect("takeover"));
    assert!(!s.lease("sweep", "node-a", short).await.expect("lease"));
}

/// The per-key grant limit holds when grants are created at once (by
/// several nodes): the count and the insert are one decision.
pub async fn grant_limit_holds_under_concurrent_inserts(s: Arc<dyn KeyStore>) {
    // Several keys, many racers each: one round rarely shows a gap.
    for key in 0..16u8 {
        let k = sample_key(100 + key);
        s.insert_key(&k).await.expect("insert");
        let mut tasks = Vec::new();
        for n in 0..16u8 {
            let (s, g) = (s.clone(), sample_grant(&k, n + 1));
            tasks.push(tokio::spawn(async move {
                s.insert_grant(&g, 3).await.expect("grant")
            }));
        }
        let mut inserted = 0;
        for t in tasks {
            if t.await.expect("task") == GrantInsert::Inserted {
                inserted += 1;
            }
        }
        assert_eq!(inserted, 3, "key {key}");
        let stored = s.list_grants(&k.locator, None, 100).await.expect("list");
        assert_eq!(stored.len(), 3, "key {key}");
    }
}
