//! `trent-server`: the HTTP face of Trent.
//!
//! It owns: configuration ([`config`]), the root key's source ([`rootkey`]),
//! SigV4 authentication, routing on `X-Amz-Target`, the single table from
//! errors to the wire, and wiring the store, crypto provider and service
//! together ([`serve`]).
//!
//! It refuses: domain logic. Every operation is a call into `trent-service`.

mod auth;
pub mod config;
mod errors;
mod http;
mod rootkey;

pub use config::{ConfigError, Overrides, ServeConfig};

use crate::http::AppState;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use trent_core::{Clock, CryptoProvider, ManualClock, SystemClock};
use trent_crypto::SoftwareProvider;
use trent_service::{Kms, Settings};
use trent_store::{KeyStore, SqliteStore};

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data directory.
    #[error("cannot create the data directory {path}")]
    DataDir {
        /// Path.
        path: std::path::PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The store.
    #[error("cannot open the store")]
    Store(#[source] trent_store::StoreError),
    /// The root key.
    #[error(transparent)]
    RootKey(#[from] rootkey::RootKeyError),
    /// The service.
    #[error(transparent)]
    Startup(#[from] trent_service::StartupError),
    /// Binding the listen address.
    #[error("cannot listen on {addr}")]
    Bind {
        /// Address.
        addr: std::net::SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// Run the server until SIGINT or SIGTERM.
pub async fn serve(cfg: ServeConfig) -> Result<(), ServeError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&cfg.data_dir)
        .map_err(|source| ServeError::DataDir {
            path: cfg.data_dir.clone(),
            source,
        })?;
    let store = SqliteStore::open(&cfg.data_dir.join("trent.db")).map_err(ServeError::Store)?;
    let store: Arc<dyn KeyStore> = Arc::new(store);
    let root = rootkey::load(&cfg, store.as_ref()).await?;
    let provider: Arc<dyn CryptoProvider> = Arc::new(SoftwareProvider::new());
    let test_clock = cfg.unsafe_test_clock.then(|| Arc::new(ManualClock::new()));
    let clock: Arc<dyn Clock> = match &test_clock {
        Some(c) => c.clone(),
        None => Arc::new(SystemClock),
    };
    let kms = Arc::new(
        Kms::new(
            store,
            provider.clone(),
            Arc::new(root),
            clock,
            Settings::default(),
        )
        .await?,
    );
    let auth = match &cfg.credentials {
        Some(creds) => auth::Authenticator::verified(creds.clone()),
        None => auth::Authenticator::development(cfg.dev_account.clone()),
    };
    if !auth.verifies() {
        tracing::warn!(
            "DEVELOPMENT MODE: no --config given, so request signatures are NOT verified and any access key is accepted \
             (the server does not know the secrets). Callers act as account {} (or as the account named by a 12-digit access key id). \
             Start with --config FILE to verify signatures.",
            cfg.dev_account
        );
    }
    if test_clock.is_some() {
        tracing::warn!(
            "UNSAFE TEST CLOCK: POST {} moves the service clock; never use this outside tests",
            http::TEST_CLOCK_PATH
        );
    }
    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: cfg.listen,
            source,
        })?;
    let local = listener.local_addr().unwrap_or(cfg.listen);
    tracing::info!(
        listen = %local,
        data_dir = %cfg.data_dir.display(),
        signatures = if auth.verifies() { "verified" } else { "not verified" },
        "trent is serving the AWS KMS API"
    );
    let background = trent_service::background::spawn(
        kms.clone(),
        Duration::from_secs(cfg.background_interval_secs),
    );
    let state = Arc::new(AppState {
        kms: kms.clone(),
        auth,
        request_ids: http::RequestIds::new(provider.as_ref()),
        max_body_bytes: cfg.max_body_bytes,
        test_clock,
    });
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| http::handle(state.clone(), req));
                    // Headers must arrive within 30 s (hyper's timer-driven
                    // limit), so idle half-open requests do not pile up.
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(30))
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
            _ = &mut shutdown => break,
        }
    }
    tracing::info!("shutting down");
    background.abort();
    if let Err(e) = kms.flush_usage().await {
        tracing::error!(error = ?e, "flushing key usage at shutdown failed");
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
}

/// Benchmark tool: create `count` keys in `region` for `account` in the data
/// directory of `cfg`, through the same service code as CreateKey, and write
/// their ids to `out`, one per line. The store is opened for bulk loading
/// (no fsync per key); the server must not be running on that directory.
pub async fn seed_keys(
    cfg: &ServeConfig,
    count: usize,
    region: &str,
    account: &str,
    out: &std::path::Path,
) -> Result<(), SeedError> {
    use trent_core::ids::{AccountId, Region};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&cfg.data_dir)
        .map_err(SeedError::Io)?;
    let store = SqliteStore::open_for_bulk_load(&cfg.data_dir.join("trent.db"))
        .map_err(|e| SeedError::Serve(ServeError::Store(e)))?;
    let store: Arc<dyn KeyStore> = Arc::new(store);
    let root = rootkey::load(cfg, store.as_ref())
        .await
        .map_err(|e| SeedError::Serve(e.into()))?;
    let provider: Arc<dyn CryptoProvider> = Arc::new(SoftwareProvider::new());
    let kms = Arc::new(
        Kms::new(
            store,
            provider,
            Arc::new(root),
            Arc::new(SystemClock),
            Settings::default(),
        )
        .await
        .map_err(|e| SeedError::Serve(e.into()))?,
    );
    let caller = trent_service::Caller {
        region: Region::parse(region).ok_or(SeedError::Region)?,
        account: AccountId::parse(account).ok_or(SeedError::Account)?,
        principal: format!("arn:aws:iam::{account}:root").into(),
        access_key_id: "seed".into(),
        request_id: "seed".into(),
    };
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        let md = kms
            .create_key(&caller, Default::default())
            .await
            .map_err(SeedError::Create)?;
        ids.push(md.key_metadata.key_id);
    }
    ids.push(String::new());
    std::fs::write(out, ids.join("\n")).map_err(SeedError::Io)?;
    Ok(())
}

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// Opening the store or the root key.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// A key could not be created.
    #[error("creating a key failed")]
    Create(#[source] trent_service::ServiceError),
    /// Writing the id file.
    #[error("writing the key id file failed")]
    Io(#[source] std::io::Error),
    /// A bad region.
    #[error("not a region name")]
    Region,
    /// A bad account.
    #[error("not a 12-digit account id")]
    Account,
}

/// A bare hyper server answering every request with a fixed small JSON body:
/// the baseline the benchmark compares Trent with (same runtime, same HTTP
/// stack, no work).
pub async fn serve_hello(addr: std::net::SocketAddr) -> std::io::Result<()> {
    use bytes::Bytes;
    use http_body_util::Full;
    let listener = TcpListener::bind(addr).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let svc = service_fn(|_req| async {
                Ok::<_, std::convert::Infallible>(::http::Response::new(Full::new(
                    Bytes::from_static(b"{\"hello\":\"world\"}"),
                )))
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
