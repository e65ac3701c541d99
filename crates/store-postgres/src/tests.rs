//! Against a real PostgreSQL: `TRENT_TEST_PG_URL` names it (the test
//! command, `scripts/test.sh`, starts one on loopback and sets it). Each
//! test gets a schema of its own in that database.

use crate::{PgOptions, PostgresStore};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use trent_store::conformance::{sample_grant, sample_key};
use trent_store::{Change, KeyStore};

fn url() -> String {
    std::env::var("TRENT_TEST_PG_URL").expect(
        "TRENT_TEST_PG_URL is not set: run the tests with scripts/test.sh, which starts PostgreSQL",
    )
}

/// A connection string to a new, empty schema.
async fn fresh_schema() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let schema = format!(
        "t_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    );
    let (client, conn) = tokio_postgres::connect(&url(), tokio_postgres::NoTls)
        .await
        .expect("connect to TRENT_TEST_PG_URL");
    let task = tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .expect("create schema");
    drop(client);
    let _ = task.await;
    let sep = if url().contains('?') { '&' } else { '?' };
    format!("{}{sep}options=-c%20search_path%3D{schema}", url())
}

fn options(url: String) -> PgOptions {
    PgOptions {
        pool_size: 4,
        ..PgOptions::new(url)
    }
}

async fn store() -> PostgresStore {
    PostgresStore::connect(&options(fresh_schema().await))
        .await
        .expect("connect")
}

mod conformance {
    trent_store::conformance_tests!(super::store);
}

/// Receive changes until `want` arrives, within a second.
async fn hear(rx: &mut tokio::sync::broadcast::Receiver<Change>, want: &Change) {
    tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            if &rx.recv().await.expect("feed open") == want {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{want:?} not heard within a second"));
}

/// What one node commits, another node (its own store on the same schema)
/// hears within a second: keys, grants, aliases, deletions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_committed_change_is_heard_by_other_nodes() {
    let url = fresh_schema().await;
    let a = PostgresStore::connect(&options(url.clone())).await.unwrap();
    let b = PostgresStore::connect(&options(url)).await.unwrap();
    let mut feed = b.changes().expect("a shared store has a feed");
    let k = sample_key(1);
    let key = Change::Key(k.locator.clone());
    a.insert_key(&k).await.unwrap();
    hear(&mut feed, &key).await;
    let mut next = k.clone();
    next.revision += 1;
    next.description = "changed".into();
    a.update_key(&next).await.unwrap();
    hear(&mut feed, &key).await;
    let g = sample_grant(&k, 3);
    a.insert_grant(&g, 10).await.unwrap();
    hear(&mut feed, &key).await;
    a.delete_grant(&k.locator, &g.grant_id).await.unwrap();
    hear(&mut feed, &key).await;
    let alias = trent_core::alias::AliasRecord {
        region: k.locator.region.clone(),
        account: k.locator.account.clone(),
        name: trent_core::ids::AliasName("alias/app".into()),
        target: k.locator.key_id,
        created_at: 1,
        updated_at: 1,
    };
    a.insert_alias(&alias).await.unwrap();
    let alias_change = Change::Alias {
        region: alias.region.clone(),
        account: alias.account.clone(),
        name: "alias/app".into(),
    };
    hear(&mut feed, &alias_change).await;
    a.delete_key(&k.locator, next.revision).await.unwrap();
    hear(&mut feed, &key).await;
    // A failed compare-and-swap announces nothing (rolled back).
    let k2 = sample_key(2);
    a.insert_key(&k2).await.unwrap();
    hear(&mut feed, &Change::Key(k2.locator.clone())).await;
    let mut stale = k2.clone();
    stale.revision += 5;
    assert!(a.update_key(&stale).await.is_err());
    let quiet = tokio::time::timeout(Duration::from_millis(300), feed.recv()).await;
    assert!(
        quiet.is_err(),
        "a rolled-back change was announced: {quiet:?}"
    );
}

/// A lost listening connection is reported (the cache stops trusting
/// itself), and the store listens again by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listener_is_reported_and_comes_back() {
    let url = fresh_schema().await;
    let mut o = options(url.clone());
    o.application_name = format!("trent-listener-test-{}", std::process::id());
    let store = PostgresStore::connect(&o).await.unwrap();
    let mut feed = store.changes().unwrap();
    let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let killed = admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = $1 AND query ILIKE 'LISTEN%' OR (application_name = $1 AND query = 'SELECT 1')",
            &[&o.application_name],
        )
        .await
        .unwrap();
    assert!(killed >= 1, "the listening connection was not found");
    hear(&mut feed, &Change::Lost).await;
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if feed.recv().await.unwrap() == Change::Resumed {
                return;
            }
        }
    })
    .await
    .expect("listening again within 5 s");
    // And changes are heard again.
    let k = sample_key(4);
    store.insert_key(&k).await.unwrap();
    hear(&mut feed, &Change::Key(k.locator.clone())).await;
}

/// Nodes that start at once on an empty database apply each migration
/// once, and all start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_when_nodes_start_together() {
    let url = fresh_schema().await;
    let mut starts = Vec::new();
    for _ in 0..4 {
        let o = options(url.clone());
        starts.push(tokio::spawn(
            async move { PostgresStore::connect(&o).await },
        ));
    }
    for s in starts {
        s.await.unwrap().expect("every node starts");
    }
    let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let rows = admin
        .query("SELECT version FROM trent_migrations ORDER BY version", &[])
        .await
        .unwrap();
    let versions: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    let known: Vec<i32> = crate::MIGRATIONS.iter().map(|m| m.0).collect();
    assert_eq!(versions, known);
}

/// A database migrated by a newer build is refused, and left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let url = fresh_schema().await;
    PostgresStore::connect(&options(url.clone())).await.unwrap();
    let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    admin
        .execute(
            "INSERT INTO trent_migrations (version, name) VALUES (999, 'future')",
            &[],
        )
        .await
        .unwrap();
    let e = PostgresStore::connect(&options(url)).await.unwrap_err();
    assert!(
        format!("{:?}", e).contains("999"),
        "unexpected error: {e:?}"
    );
}

/// An unreachable database fails fast and retryably, not with a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_unavailable_not_a_hang() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut o = PgOptions::new(format!("postgres://nobody:x@127.0.0.1:{port}/none"));
    o.timeout = Duration::from_millis(500);
    let started = std::time::Instant::now();
    let e = PostgresStore::connect(&o).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        matches!(e, trent_store::StoreError::Unavailable(_)),
        "{e:?}"
    );
}

#[test]
fn announcements_parse() {
    use crate::listen::parse;
    let k = sample_key(7);
    let payload = format!(
        "k {} {} {}",
        k.locator.region.as_str(),
        k.locator.account.as_str(),
        k.locator.key_id
    );
    assert_eq!(parse(&payload), Some(Change::Key(k.locator.clone())));
    assert_eq!(
        parse("a us-east-1 111122223333 alias/x"),
        Some(Change::Alias {
            region: k.locator.region.clone(),
            account: k.locator.account.clone(),
            name: "alias/x".into()
        })
    );
    for bad in [
        "",
        "k",
        "k us-east-1 111122223333",
        "x us-east-1 111122223333 y",
        "k nowhere 111122223333 abc",
        "k us-east-1 12 abc",
        "k us-east-1 111122223333 not-a-key",
    ] {
        assert_eq!(parse(bad), None, "{bad:?}");
    }
}

#[test]
fn debug_never_shows_the_password() {
    for url in [
        "postgres://trent:s3cret-pw@127.0.0.1:5432/trent",
        "postgres://trent:s3cret-pw@a:1,b:2/trent?target_session_attrs=read-write",
        "host=a user=trent password=s3cret-pw dbname=trent",
        "postgres://trent@a/trent?password=s3cret-pw&sslmode=disable",
        "host=a user=trent password = s3cret-pw dbname=trent",
        "host=a user=trent password='s3cret-pw and more' dbname=trent",
        "host=a user=trent password=s3cret-pw&cd dbname=trent",
    ] {
        let shown = format!("{:?}", PgOptions::new(url));
        assert!(!shown.contains("s3cret-pw"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
    }
    assert_eq!(
        crate::redacted("postgres://u:p@h1:1,h2:2/d?target_session_attrs=read-write"),
        "user=u hosts=h1:1,h2:2 dbname=d password=*** target_session_attrs=ReadWrite"
    );
    assert!(!crate::redacted("not a url ' = ").contains("not a url"));
}
