//! `trent-server`: the HTTP face of Trent.
//!
//! It owns: configuration ([`config`]), the root key's source ([`rootkey`]),
//! SigV4 authentication, routing on `X-Amz-Target`, the single table from
//! errors to the wire, and wiring the store, crypto provider and service
//! together ([`serve`]).
//!
//! It refuses: domain logic. Every operation is a call into `trent-service`.

mod audit;
mod auth;
pub mod cloudtrail;
pub mod config;
mod errors;
mod http;
mod limits;
mod rootkey;
pub mod speed;
pub mod sts;
mod tls;

pub use config::{ConfigError, Overrides, ServeConfig};
pub use http::run_operation;
pub use tls::TlsError;

use crate::http::{AppState, TestClock};
use crate::limits::{supervise, Activity, Admission, Gate, Watched};
use crate::tls::Tls;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use trent_core::{Clock, CryptoProvider, ManualClock, SystemClock};
use trent_crypto::SoftwareProvider;
use trent_service::{Kms, Settings};
use trent_store::KeyStore;
use trent_store_sqlite::SqliteStore;

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
    /// TLS.
    #[error(transparent)]
    Tls(#[from] TlsError),
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

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Request headers must arrive within this (also the idle limit of a
/// keep-alive HTTP/1.1 connection between requests).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Streams one HTTP/2 connection may run at once.
const H2_MAX_STREAMS: u32 = 128;
/// The most one connection buffers of what it reads, outside the body
/// budget: hyper's HTTP/1.1 read buffer grows to this (its default, 400 KB,
/// kept for the connection's life, made 1,500 idle connections cost 600 MB),
/// and HTTP/2's flow-control windows stop a peer from sending more.
const CONNECTION_READ_BUFFER: usize = 64 * 1024;

/// Run the server until SIGINT or SIGTERM.
pub async fn serve(cfg: ServeConfig) -> Result<(), ServeError> {
    // SIGHUP's default action ends the process: catch it before the slow
    // parts of the start (Argon2id, loading TLS files).
    let hangups = tls::hangup_signals();
    raise_open_file_limit(cfg.limits.max_connections);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&cfg.data_dir)
        .map_err(|source| ServeError::DataDir {
            path: cfg.data_dir.clone(),
            source,
        })?;
    let store = open_store(&cfg).await?;
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
            Settings {
                directory: cfg.directory.clone(),
                audit: cfg.audit.clone(),
                regions: cfg.regions.clone(),
                node: cfg.node.clone(),
                ..Settings::default()
            },
        )
        .await?,
    );
    let tls = match &cfg.tls {
        Some(t) => Some(Arc::new(Tls::load(t, &cfg.data_dir)?)),
        None => None,
    };
    let auth = match &cfg.credentials {
        Some(creds) => auth::Authenticator::verified(creds.clone(), &cfg.directory),
        None => auth::Authenticator::development(cfg.dev_account.clone()),
    };
    if !auth.verifies() {
        tracing::warn!(
            "DEVELOPMENT MODE: no --config given, so request signatures are NOT verified and any access key is accepted \
             (the server does not know the secrets). Callers act as account {} (or as the account named by a 12-digit access key id). \
             Development mode listens on loopback only. Start with --config FILE to verify signatures.",
            cfg.dev_account
        );
    }
    let test_clock = match test_clock {
        Some(clock) => {
            let token = hex::encode(random::<16>(provider.as_ref()));
            tracing::warn!(
                "UNSAFE TEST CLOCK: POST {} with header {}: {} moves the service clock; never use this outside tests",
                http::TEST_CLOCK_PATH,
                http::TEST_CLOCK_TOKEN_HEADER,
                token
            );
            Some(TestClock { clock, token })
        }
        None => None,
    };
    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: cfg.listen,
            source,
        })?;
    let local = listener.local_addr().unwrap_or(cfg.listen);
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        listen = %local,
        endpoint = %format!("{scheme}://{local}"),
        data_dir = %cfg.data_dir.display(),
        signatures = if auth.verifies() { "verified" } else { "not verified" },
        tls = tls.as_ref().map_or("off", |t| if t.requires_client_certificates() { "on, client certificates required" } else { "on" }),
        "trent is serving the AWS KMS API"
    );
    match &cfg.audit {
        Some(a) => tracing::info!(
            dir = %a.dir.join(&a.node).display(),
            node = %a.node,
            "audit trail on: every request is recorded durably before it is answered"
        ),
        None => {
            tracing::warn!("AUDIT TRAIL OFF ([audit] enabled = false): requests are not recorded")
        }
    }
    if tls.as_ref().is_some_and(|t| t.dev_ca().is_some()) && !cfg.listen.ip().is_loopback() {
        tracing::warn!("--dev-tls on a network address: its certificate names only localhost, 127.0.0.1 and ::1, so clients elsewhere cannot verify it; use tls_cert_file and tls_key_file for a certificate of your own");
    }
    if let Some(ca) = tls.as_ref().and_then(|t| t.dev_ca()) {
        let ca = std::fs::canonicalize(ca).unwrap_or_else(|_| ca.to_path_buf());
        tracing::info!(
            ca = %ca.display(),
            "development HTTPS: clients must trust this CA; use: export AWS_CA_BUNDLE={}",
            ca.display()
        );
    }
    let background = trent_service::background::spawn(
        kms.clone(),
        Duration::from_secs(cfg.background_interval_secs),
    );
    let reloader = tls::reload_on_sighup(hangups, tls.clone());
    let gate = Arc::new(Gate::new(cfg.limits));
    let state = Arc::new(AppState {
        kms: kms.clone(),
        auth,
        request_ids: http::RequestIds::new(provider.as_ref()),
        event_ids: http::RequestIds::new(provider.as_ref()),
        gate: gate.clone(),
        test_clock,
    });
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((s, _)) => s,
                    Err(e) => {
                        // Out of file descriptors, most likely: let
                        // connections finish before trying again.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let admission = gate.admit();
                if matches!(admission, Admission::Refuse) {
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let acceptor = tls.as_ref().map(|t| t.acceptor());
                tokio::spawn(connection(state.clone(), stream, acceptor, admission));
            }
            _ = &mut shutdown => break,
        }
    }
    tracing::info!("shutting down");
    background.abort();
    reloader.abort();
    if let Err(e) = kms.flush_usage().await {
        tracing::error!(error = ?e, "flushing key usage at shutdown failed");
    }
    // The last queued events, then the segment's closing digest. A request
    // still running after this is answered KMSInternalException, unrecorded
    // by nobody: its event fails, so its answer does too.
    let closing = kms.clone();
    let _ = tokio::task::spawn_blocking(move || closing.trail().close()).await;
    Ok(())
}

fn random<const N: usize>(provider: &dyn CryptoProvider) -> [u8; N] {
    let mut b = [0u8; N];
    if provider.fill_random(&mut b).is_err() {
        // Only the test clock's token comes from here; without randomness
        // the service itself cannot run anyway.
        tracing::error!("the random number generator failed");
    }
    b
}

/// Serve one connection: TLS handshake if configured, then HTTP/1.1 (or
/// HTTP/2 when ALPN chose it). A connection admitted past the cap waits for
/// a slot, and if none comes in time, is answered `ThrottlingException`.
/// A watchdog ends connections that sit idle or stop moving bytes.
async fn connection(
    state: Arc<AppState>,
    stream: TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    admission: Admission,
) {
    let (_permit, throttle) = match admission {
        Admission::Serve(p) => (p, false),
        Admission::Overflow(o) => match state.gate.wait_for_connection().await {
            Some(p) => (p, false),
            None => (o, true),
        },
        Admission::Refuse => return,
    };
    let activity = Arc::new(Activity::default());
    let conn = http::ConnInfo {
        peer: stream.peer_addr().ok().map(|a| a.ip()),
        tls: tls.is_some(),
    };
    let stream = Watched::new(stream, activity.clone());
    match tls {
        None => serve_http1(state, TokioIo::new(stream), throttle, activity, conn).await,
        Some(acceptor) => {
            let stream =
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            if h2 {
                serve_http2(state, TokioIo::new(stream), throttle, activity, conn).await;
            } else {
                serve_http1(state, TokioIo::new(stream), throttle, activity, conn).await;
            }
        }
    }
}

/// The request handler, counting requests for the connection's watchdog.
async fn watched_handle(
    state: Arc<AppState>,
    activity: Arc<Activity>,
    throttle: bool,
    conn: http::ConnInfo,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<http::ResponseBody>, std::convert::Infallible> {
    let _guard = activity.request();
    // The request runs in its own task: hyper drops this future when the
    // client closes the connection or resets the stream, and a dropped
    // handler would stop between a change made (store writes finish on
    // their blocking threads regardless) and its audit event. A task runs
    // to its event whatever the connection does.
    let task = tokio::spawn(async move {
        if throttle {
            http::throttled(state, conn, req).await
        } else {
            http::handle(state, conn, req).await
        }
    });
    match task.await {
        Ok(response) => response,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: the runtime is shutting down; no answer reaches anyone.
        Err(_) => Ok(http::error_body(500, "KMSInternalException", None, "")),
    }
}

async fn serve_http1<I>(
    state: Arc<AppState>,
    io: I,
    throttle: bool,
    activity: Arc<Activity>,
    conn: http::ConnInfo,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .keep_alive(!throttle)
        .max_buf_size(CONNECTION_READ_BUFFER)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let a = activity.clone();
    let connection = builder.serve_connection(
        io,
        service_fn(move |r| watched_handle(state.clone(), a.clone(), throttle, conn, r)),
    );
    supervise(connection, activity, |c| c.graceful_shutdown()).await;
}

async fn serve_http2<I>(
    state: Arc<AppState>,
    io: I,
    throttle: bool,
    activity: Arc<Activity>,
    conn: http::ConnInfo,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(if throttle { 1 } else { H2_MAX_STREAMS })
        .initial_stream_window_size(CONNECTION_READ_BUFFER as u32)
        .initial_connection_window_size(2 * CONNECTION_READ_BUFFER as u32)
        .max_header_list_size(CONNECTION_READ_BUFFER as u32)
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10));
    let a = activity.clone();
    let connection = builder.serve_connection(
        io,
        service_fn(move |r| watched_handle(state.clone(), a.clone(), throttle, conn, r)),
    );
    supervise(connection, activity, |c| c.graceful_shutdown()).await;
}

/// Each connection is a file descriptor: raise the soft limit toward the
/// hard one so that `max_connections` can be reached, and say so when it
/// cannot.
fn raise_open_file_limit(max_connections: usize) {
    let want = (max_connections as u64).saturating_add(256);
    match rlimit::increase_nofile_limit(want) {
        Ok(got) if got < want => tracing::warn!(
            open_files = got,
            max_connections,
            "the open-file limit is below max_connections; raise it (ulimit -n) or lower max_connections"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read or raise the open-file limit"),
    }
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
    let account = AccountId::parse(account).ok_or(SeedError::Account)?;
    let caller = trent_service::Caller::new(
        Region::parse(region).ok_or(SeedError::Region)?,
        Arc::new(trent_service::Identity::root(&account)),
        "seed".into(),
        "seed".into(),
    );
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

/// The audit signing key's public half (DER `SubjectPublicKeyInfo`), for
/// `trent audit public-key`: read from the store with the root key, as the
/// server does (made on the spot if the server never ran on this store).
pub async fn audit_public_key(cfg: &ServeConfig) -> Result<Vec<u8>, ServeError> {
    let path = cfg.data_dir.join("trent.db");
    if matches!(cfg.store, config::StoreConfig::Sqlite) && !path.exists() {
        return Err(ServeError::DataDir {
            path,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no store here"),
        });
    }
    let store = open_store(cfg).await?;
    let root = rootkey::load(cfg, store.as_ref()).await?;
    let key =
        trent_service::audit::signing_key(store.as_ref(), &SoftwareProvider::new(), &root).await?;
    Ok(key.public_key_der())
}

/// The store the configuration names: the SQLite file in the data
/// directory, or the shared PostgreSQL database (migrated, listening for
/// changes) — refusing to start if it cannot be reached.
async fn open_store(cfg: &ServeConfig) -> Result<Arc<dyn KeyStore>, ServeError> {
    Ok(match &cfg.store {
        config::StoreConfig::Sqlite => {
            Arc::new(SqliteStore::open(&cfg.data_dir.join("trent.db")).map_err(ServeError::Store)?)
        }
        config::StoreConfig::Postgres(o) => {
            let store = trent_store_postgres::PostgresStore::connect(o)
                .await
                .map_err(ServeError::Store)?;
            tracing::info!(
                url = %trent_store_postgres::redacted(&o.url),
                pool_size = o.pool_size,
                tls = o.tls_ca_file.is_some(),
                "store: PostgreSQL, shared with the other nodes; changes they make reach this node's cache through LISTEN/NOTIFY"
            );
            Arc::new(store)
        }
    })
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
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
