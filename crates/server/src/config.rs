//! Configuration: command-line overrides on top of an optional TOML file.
//!
//! Without a file Trent runs in development mode: loopback, embedded store in
//! `./trent-data`, any access key accepted (signatures cannot be verified
//! without the secret). With a file, only configured credentials are accepted
//! and every signature is verified. Every key is documented in
//! `docs/configuration.md`.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use trent_core::ids::AccountId;

/// The account of callers in development mode.
pub const DEFAULT_ACCOUNT: &str = "111122223333";
/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default data directory.
pub const DEFAULT_DATA_DIR: &str = "./trent-data";

/// The TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `listen = "127.0.0.1:8080"`.
    pub listen: Option<String>,
    /// `data_dir = "/var/lib/trent"`.
    pub data_dir: Option<PathBuf>,
    /// Allow a non-loopback listen address without TLS.
    #[serde(default)]
    pub allow_insecure_listen: bool,
    /// Seconds between background sweeps (deletions, rotations, usage flush).
    pub background_interval_secs: Option<u64>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: Option<usize>,
    /// Most connections served at once.
    pub max_connections: Option<usize>,
    /// Most request-body bytes buffered at once, over all requests.
    pub max_buffered_body_bytes: Option<usize>,
    /// How long new work waits for a connection slot or body budget before it
    /// is refused with `ThrottlingException`, in milliseconds.
    pub overload_wait_ms: Option<u64>,
    /// PEM certificate chain for HTTPS.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key for HTTPS.
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA certificates: when set, clients must present a certificate
    /// signed by one of them (mutual TLS).
    pub tls_client_ca_file: Option<PathBuf>,
    /// Where the root key comes from.
    pub root_key: Option<RootKeySource>,
    /// The credentials allowed to call.
    #[serde(default)]
    pub credentials: Vec<CredentialConfig>,
    /// IAM users and their identity policies.
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// IAM roles: trust policy, identity policies, session length.
    #[serde(default)]
    pub roles: Vec<RoleConfig>,
    /// The audit trail.
    #[serde(default)]
    pub audit: AuditFileConfig,
    /// The Regions this deployment serves (multi-Region keys replicate
    /// only into these). Default: any valid Region name.
    pub regions: Option<Vec<String>>,
    /// Where keys are kept.
    #[serde(default)]
    pub store: StoreFileConfig,
}

/// `[store]`. `Debug` shows the connection string without its password.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreFileConfig {
    /// `"sqlite"` (default: `<data_dir>/trent.db`) or `"postgres"`.
    pub backend: Option<String>,
    /// PostgreSQL connection string (URL or key=value form); several hosts
    /// with `target_session_attrs=read-write` for failover.
    pub url: Option<String>,
    /// PostgreSQL: connections per node (default 16).
    pub pool_size: Option<usize>,
    /// PostgreSQL: require TLS and verify the server with these CA
    /// certificates (PEM).
    pub tls_ca_file: Option<PathBuf>,
    /// PostgreSQL: the longest a request waits for the database, in
    /// milliseconds (default 5000), before it fails with a retryable error.
    pub timeout_ms: Option<u64>,
}

impl std::fmt::Debug for StoreFileConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreFileConfig")
            .field("backend", &self.backend)
            .field(
                "url",
                &self.url.as_deref().map(trent_store_postgres::redacted),
            )
            .field("pool_size", &self.pool_size)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// Which store `trent serve` runs on.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// The embedded SQLite file `<data_dir>/trent.db`.
    Sqlite,
    /// A PostgreSQL database shared with other nodes.
    Postgres(trent_store_postgres::PgOptions),
}

fn store_config(s: &StoreFileConfig, node: &str) -> Result<StoreConfig, ConfigError> {
    let bad = |m: &str| ConfigError::Invalid(ConfigProblem::Store(m.to_string()));
    match s.backend.as_deref().unwrap_or("sqlite") {
        "sqlite" => {
            if s.url.is_some()
                || s.pool_size.is_some()
                || s.tls_ca_file.is_some()
                || s.timeout_ms.is_some()
            {
                return Err(bad(
                    "url, pool_size, tls_ca_file and timeout_ms are for backend = \"postgres\"",
                ));
            }
            Ok(StoreConfig::Sqlite)
        }
        "postgres" => {
            let url = s
                .url
                .clone()
                .ok_or_else(|| bad("backend = \"postgres\" needs url"))?;
            let mut o = trent_store_postgres::PgOptions::new(url);
            if let Some(n) = s.pool_size {
                if n == 0 {
                    return Err(bad("pool_size must be at least 1"));
                }
                o.pool_size = n;
            }
            if let Some(ms) = s.timeout_ms {
                if ms < 100 {
                    return Err(bad("timeout_ms must be at least 100"));
                }
                o.timeout = std::time::Duration::from_millis(ms);
            }
            o.tls_ca_file = s.tls_ca_file.clone();
            o.application_name = format!("trent/{node}");
            Ok(StoreConfig::Postgres(o))
        }
        other => Err(bad(&format!(
            "backend {other:?} is not \"sqlite\" or \"postgres\""
        ))),
    }
}

/// `[audit]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFileConfig {
    /// Record every request (default true). Off only to measure what the
    /// trail costs.
    pub enabled: Option<bool>,
    /// Where the trail is written (default `<data_dir>/audit`).
    pub dir: Option<PathBuf>,
    /// This node's name in file names and records (default `node-1`).
    pub node: Option<String>,
    /// Close a segment at this size (default 64 MiB).
    pub segment_max_bytes: Option<u64>,
    /// Close a segment at this age (default 3600).
    pub segment_max_seconds: Option<u64>,
    /// Sign a digest at least this often (default 3600).
    pub digest_interval_seconds: Option<u64>,
    /// Also write every event to standard output, one JSON line each.
    #[serde(default)]
    pub stdout: bool,
    /// Also send every event to syslog (RFC 5424): `unix:/dev/log`,
    /// `udp:IP:PORT` or `tcp:IP:PORT`.
    pub syslog: Option<String>,
}

/// One `[[users]]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// `arn:aws:iam::ACCOUNT:user/NAME`.
    pub arn: String,
    /// Identity policies, as JSON text.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Identity policies, from files.
    #[serde(default)]
    pub policy_files: Vec<PathBuf>,
    /// `aws:PrincipalTag/*`.
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
}

/// One `[[roles]]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// `arn:aws:iam::ACCOUNT:role/NAME`.
    pub arn: String,
    /// Who may assume the role.
    pub trust_policy: Option<String>,
    /// The trust policy, from a file.
    pub trust_policy_file: Option<PathBuf>,
    /// Identity policies, as JSON text.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Identity policies, from files.
    #[serde(default)]
    pub policy_files: Vec<PathBuf>,
    /// `MaxSessionDuration`: 3600 to 43200 seconds (default 3600).
    pub max_session_seconds: Option<u32>,
    /// `aws:PrincipalTag/*` of its sessions.
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
}

/// `[root_key]`: exactly one of the fields.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootKeySource {
    /// A file holding 32 raw bytes or 64 hex digits (created if absent).
    pub file: Option<PathBuf>,
    /// An environment variable holding 64 hex digits or base64 of 32 bytes.
    pub env: Option<String>,
    /// An environment variable holding a passphrase, stretched with Argon2id.
    pub passphrase_env: Option<String>,
    /// A file holding a passphrase (trailing newline ignored).
    pub passphrase_file: Option<PathBuf>,
}

/// One `[[credentials]]` entry.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key (zeroized on drop).
    pub secret_access_key: zeroize::Zeroizing<String>,
    /// The caller's account.
    pub account_id: String,
    /// The caller's principal ARN (default: the account root).
    pub principal: Option<String>,
}

impl std::fmt::Debug for CredentialConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialConfig")
            .field("access_key_id", &self.access_key_id)
            .field("account_id", &self.account_id)
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file {path}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("invalid configuration file {path}: {message}")]
    Parse {
        /// The path.
        path: PathBuf,
        /// Where and what, without the offending source line: toml's own
        /// rendering quotes the line, which may hold a secret.
        message: String,
    },
    /// A value is wrong.
    #[error("invalid configuration: {0}")]
    Invalid(ConfigProblem),
}

/// What is wrong with a configuration value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// `listen` is not `host:port`.
    #[error("listen address '{0}' is not an IP address and port such as 127.0.0.1:8080")]
    Listen(String),
    /// Development mode on a non-loopback address.
    #[error("refusing to listen on {0} in development mode: without --config any signature is accepted, so development mode listens on loopback only (127.0.0.1 or ::1) whatever the flags. To listen on a network, start with --config FILE listing [[credentials]] and TLS (see docs/configuration.md)")]
    DevelopmentListen(SocketAddr),
    /// Non-loopback without TLS.
    #[error("refusing to listen on {0} without TLS: set tls_cert_file and tls_key_file, or allow_insecure_listen = true (or --allow-insecure-listen) to serve plain HTTP beyond loopback")]
    InsecureListen(SocketAddr),
    /// The test clock on a non-loopback address.
    #[error("refusing to serve the test clock endpoint on {0}: --unsafe-test-clock needs a loopback address")]
    TestClockListen(SocketAddr),
    /// A bad `[audit]` setting.
    #[error("[audit] {0}")]
    Audit(String),
    /// A bad account id.
    #[error("account id '{0}' is not 12 digits")]
    Account(String),
    /// A bad `[store]` setting.
    #[error("[store] {0}")]
    Store(String),
    /// A `regions` entry that is not a Region name.
    #[error("regions: '{0}' is not a Region name such as us-east-1")]
    Region(String),
    /// A bad principal.
    #[error("principal '{0}' is not an IAM ARN of its account (arn:aws:iam::ACCOUNT:root|user/...|role/..., or arn:aws:sts::ACCOUNT:assumed-role/...)")]
    Principal(String),
    /// Two entries with one access key id.
    #[error("access key id '{0}' is configured twice")]
    DuplicateAccessKey(String),
    /// An empty access key or secret.
    #[error("credentials need a non-empty access_key_id and secret_access_key")]
    EmptyCredential,
    /// `[root_key]` must name exactly one source.
    #[error("[root_key] must set exactly one of file, env, passphrase_env, passphrase_file")]
    RootKeySource,
    /// Credentials without a root key source.
    #[error("a configuration with [[credentials]] must say where the root key comes from: add a [root_key] section with one of file = \"/path/outside/the/data/dir\", env = \"VARIABLE\", passphrase_env = \"VARIABLE\" or passphrase_file = \"/path\" (see docs/configuration.md). Trent does not fall back to a generated root.key inside the data directory here, because a copy of that directory would then hold both the wrapped keys and the key that unwraps them")]
    RootKeyRequired,
    /// A config file without credentials.
    #[error("a configuration file must list at least one [[credentials]] entry")]
    NoCredentials,
    /// Only one of the certificate and its key.
    #[error("tls_cert_file and tls_key_file must be set together")]
    TlsPair,
    /// A client CA without a server certificate.
    #[error("tls_client_ca_file needs tls_cert_file and tls_key_file (mutual TLS is TLS)")]
    ClientCaWithoutTls,
    /// `--dev-tls` and configured certificate files.
    #[error("--dev-tls generates its own certificate: do not combine it with tls_cert_file / tls_key_file")]
    DevTlsWithFiles,
    /// A limit of zero.
    #[error("{0} must be at least 1")]
    ZeroLimit(&'static str),
    /// A user or role ARN that is not one.
    #[error("'{0}' is not an IAM {1} ARN (arn:aws:iam::ACCOUNT:{1}/NAME)")]
    PrincipalArn(String, &'static str),
    /// The same user or role twice.
    #[error("{0} is configured twice")]
    DuplicatePrincipal(String),
    /// A policy that does not parse.
    #[error("policy {which} of {principal}: {reason}")]
    Policy {
        /// The user or role.
        principal: String,
        /// Which policy.
        which: String,
        /// Why (never the policy text).
        reason: String,
    },
    /// A role without a trust policy.
    #[error("role {0} needs a trust_policy (or trust_policy_file)")]
    TrustPolicyRequired(String),
    /// A session length outside AWS's range.
    #[error("max_session_seconds of {0} must be between 3600 and 43200")]
    MaxSession(String),
}

/// Where HTTPS gets its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// PEM files named by the configuration.
    Files {
        /// Certificate chain, leaf first.
        cert: PathBuf,
        /// Private key (PKCS#8, SEC1 or PKCS#1).
        key: PathBuf,
    },
    /// `--dev-tls`: a CA and a localhost certificate generated into
    /// `DATA_DIR/tls/` on first start and reused after.
    Development,
}

/// TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The server certificate.
    pub source: TlsSource,
    /// CA certificates for client certificates (mutual TLS), if required.
    pub client_ca: Option<PathBuf>,
}

/// Bounds on the work the server takes on at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Most connections served at once.
    pub max_connections: usize,
    /// Most body bytes buffered at once over all requests.
    pub max_buffered_body_bytes: usize,
    /// How long new work waits for room before `ThrottlingException`.
    pub overload_wait: std::time::Duration,
}

/// Default [`Limits::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Default [`Limits::max_body_bytes`].
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default [`Limits::max_buffered_body_bytes`].
pub const DEFAULT_MAX_BUFFERED_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Default [`Limits::overload_wait`], in milliseconds.
pub const DEFAULT_OVERLOAD_WAIT_MS: u64 = 1000;

/// Everything `trent serve` runs with.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Root key source (`None`: the development key file in the data dir,
    /// which only development mode may use).
    pub root_key: Option<RootKeySource>,
    /// `None` in development mode (signatures not verified).
    pub credentials: Option<Vec<Credential>>,
    /// The account of development-mode callers.
    pub dev_account: AccountId,
    /// Seconds between background sweeps.
    pub background_interval_secs: u64,
    /// Work bounds.
    pub limits: Limits,
    /// HTTPS, when configured.
    pub tls: Option<TlsConfig>,
    /// IAM users and roles.
    pub directory: std::sync::Arc<trent_service::Directory>,
    /// Expose the test-only clock endpoint.
    pub unsafe_test_clock: bool,
    /// The audit trail (`None`: off).
    pub audit: Option<trent_audit::TrailConfig>,
    /// The Regions served (`None`: any).
    pub regions: Option<Vec<trent_core::ids::Region>>,
    /// The store.
    pub store: StoreConfig,
    /// This node's name (`[audit] node`; the background lease and the
    /// database connections are named after it).
    pub node: String,
}

/// A checked credential.
#[derive(Clone)]
pub struct Credential {
    /// Access key id.
    pub access_key_id: String,
    /// Secret (zeroized on drop).
    pub secret: zeroize::Zeroizing<String>,
    /// Account.
    pub account: AccountId,
    /// Principal ARN.
    pub principal: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("access_key_id", &self.access_key_id)
            .field("account", &self.account)
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

/// Command-line options that override the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--listen ADDR`.
    pub listen: Option<String>,
    /// `--data-dir DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--account-id ID`.
    pub account_id: Option<String>,
    /// `--allow-insecure-listen`.
    pub allow_insecure_listen: bool,
    /// `--tls-cert-file FILE`.
    pub tls_cert_file: Option<PathBuf>,
    /// `--tls-key-file FILE`.
    pub tls_key_file: Option<PathBuf>,
    /// `--tls-client-ca-file FILE`.
    pub tls_client_ca_file: Option<PathBuf>,
    /// `--dev-tls`.
    pub dev_tls: bool,
    /// `--unsafe-test-clock`.
    pub unsafe_test_clock: bool,
}

fn valid_principal(p: &str, account: &AccountId) -> bool {
    let root = account.root_arn();
    if p == root {
        return true;
    }
    let iam = format!("arn:aws:iam::{account}:");
    let sts = format!("arn:aws:sts::{account}:assumed-role/");
    if let Some(rest) = p.strip_prefix(&iam) {
        return ["user/", "role/"]
            .iter()
            .any(|pre| rest.len() > pre.len() && rest.starts_with(pre));
    }
    p.strip_prefix(&sts)
        .is_some_and(|r| r.contains('/') && !r.ends_with('/'))
}

impl ServeConfig {
    /// Build the configuration from the command line and the file it names.
    pub fn load(o: &Overrides) -> Result<ServeConfig, ConfigError> {
        let file = match &o.config {
            None => None,
            Some(path) => {
                // The text holds secret access keys: zeroized once parsed.
                let text =
                    zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
                        ConfigError::Read {
                            path: path.clone(),
                            source,
                        }
                    })?);
                Some(
                    toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::Parse {
                        path: path.clone(),
                        message: describe_toml_error(&text, &e),
                    })?,
                )
            }
        };
        Self::from_parts(o, file)
    }

    /// Build from overrides and an already parsed file.
    pub fn from_parts(o: &Overrides, file: Option<FileConfig>) -> Result<ServeConfig, ConfigError> {
        let invalid = ConfigError::Invalid;
        let has_file = file.is_some();
        let f = file.unwrap_or_default();
        let listen_text = o
            .listen
            .clone()
            .or(f.listen.clone())
            .unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen: SocketAddr = listen_text
            .parse()
            .map_err(|_| invalid(ConfigProblem::Listen(listen_text.clone())))?;
        let tls = tls_config(o, &f)?;
        let loopback = listen.ip().is_loopback();
        // Development mode accepts any signature and lets a 12-digit access
        // key id choose the account: nobody beyond this host may reach it,
        // whatever else is set.
        if !has_file && !loopback {
            return Err(invalid(ConfigProblem::DevelopmentListen(listen)));
        }
        if !(loopback || tls.is_some() || o.allow_insecure_listen || f.allow_insecure_listen) {
            return Err(invalid(ConfigProblem::InsecureListen(listen)));
        }
        // The test clock's endpoint can end every deletion window at once:
        // loopback only, always.
        if o.unsafe_test_clock && !loopback {
            return Err(invalid(ConfigProblem::TestClockListen(listen)));
        }
        let account_text = o
            .account_id
            .clone()
            .unwrap_or_else(|| DEFAULT_ACCOUNT.into());
        let dev_account = AccountId::parse(&account_text)
            .ok_or_else(|| invalid(ConfigProblem::Account(account_text.clone())))?;
        if let Some(r) = &f.root_key {
            let n = [
                r.file.is_some(),
                r.env.is_some(),
                r.passphrase_env.is_some(),
                r.passphrase_file.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if n != 1 {
                return Err(invalid(ConfigProblem::RootKeySource));
            }
        }
        let credentials = if has_file {
            Some(credentials(&f.credentials)?)
        } else {
            None
        };
        if credentials.is_some() && f.root_key.is_none() {
            return Err(invalid(ConfigProblem::RootKeyRequired));
        }
        let limits = Limits {
            max_body_bytes: positive("max_body_bytes", f.max_body_bytes, DEFAULT_MAX_BODY_BYTES)?,
            max_connections: positive(
                "max_connections",
                f.max_connections,
                DEFAULT_MAX_CONNECTIONS,
            )?,
            max_buffered_body_bytes: positive(
                "max_buffered_body_bytes",
                f.max_buffered_body_bytes,
                DEFAULT_MAX_BUFFERED_BODY_BYTES,
            )?,
            overload_wait: std::time::Duration::from_millis(
                f.overload_wait_ms.unwrap_or(DEFAULT_OVERLOAD_WAIT_MS),
            ),
        };
        let directory = std::sync::Arc::new(directory(&f.users, &f.roles)?);
        let data_dir = o
            .data_dir
            .clone()
            .or(f.data_dir)
            .unwrap_or_else(|| Path::new(DEFAULT_DATA_DIR).to_path_buf());
        let audit = audit_config(&f.audit, &data_dir)?;
        let node = f.audit.node.clone().unwrap_or_else(|| "node-1".into());
        let store = store_config(&f.store, &node)?;
        let regions = f
            .regions
            .as_ref()
            .map(|names| {
                names
                    .iter()
                    .map(|n| {
                        trent_core::ids::Region::parse(n)
                            .ok_or_else(|| invalid(ConfigProblem::Region(n.clone())))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        Ok(ServeConfig {
            regions,
            listen,
            data_dir,
            root_key: f.root_key,
            credentials,
            dev_account,
            background_interval_secs: f.background_interval_secs.unwrap_or(10).max(1),
            limits,
            tls,
            directory,
            unsafe_test_clock: o.unsafe_test_clock,
            audit,
            store,
            node,
        })
    }
}

/// Default `[audit] segment_max_bytes`.
pub const DEFAULT_SEGMENT_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Default `[audit] segment_max_seconds` and `digest_interval_seconds`.
pub const DEFAULT_AUDIT_INTERVAL_SECONDS: u64 = 3600;

fn audit_config(
    a: &AuditFileConfig,
    data_dir: &Path,
) -> Result<Option<trent_audit::TrailConfig>, ConfigError> {
    let bad = |m: String| ConfigError::Invalid(ConfigProblem::Audit(m));
    if a.enabled == Some(false) {
        return Ok(None);
    }
    let node = a.node.clone().unwrap_or_else(|| "node-1".into());
    if !trent_audit::valid_node_name(&node) {
        return Err(bad(format!(
            "node {node:?} must be 1 to 64 letters, digits, '.', '_' or '-'"
        )));
    }
    let mut sinks = Vec::new();
    if a.stdout {
        sinks.push(trent_audit::sink::SinkConfig::Stdout);
    }
    if let Some(s) = &a.syslog {
        sinks.push(trent_audit::sink::SinkConfig::Syslog(
            s.parse().map_err(|e: String| bad(format!("syslog {e}")))?,
        ));
    }
    let seconds = |name: &str, v: Option<u64>| match v {
        Some(0) => Err(bad(format!("{name} must be at least 1"))),
        v => Ok(std::time::Duration::from_secs(
            v.unwrap_or(DEFAULT_AUDIT_INTERVAL_SECONDS),
        )),
    };
    let segment_max_bytes = a.segment_max_bytes.unwrap_or(DEFAULT_SEGMENT_MAX_BYTES);
    if segment_max_bytes < 4096 {
        return Err(bad("segment_max_bytes must be at least 4096".into()));
    }
    Ok(Some(trent_audit::TrailConfig {
        dir: a.dir.clone().unwrap_or_else(|| data_dir.join("audit")),
        node,
        segment_max_bytes,
        segment_max_age: seconds("segment_max_seconds", a.segment_max_seconds)?,
        digest_interval: seconds("digest_interval_seconds", a.digest_interval_seconds)?,
        sinks,
    }))
}

/// `arn:aws:iam::ACCOUNT:KIND/NAME` (a path is allowed before the name).
fn iam_arn(arn: &str, kind: &'static str) -> Result<AccountId, ConfigError> {
    let bad = || ConfigError::Invalid(ConfigProblem::PrincipalArn(arn.to_string(), kind));
    let rest = arn.strip_prefix("arn:aws:iam::").ok_or_else(bad)?;
    let (account, resource) = rest.split_once(':').ok_or_else(bad)?;
    let account = AccountId::parse(account).ok_or_else(bad)?;
    let name = resource
        .strip_prefix(kind)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(bad)?;
    if name.is_empty() || name.ends_with('/') {
        return Err(bad());
    }
    Ok(account)
}

/// The policies of a user or role: inline texts, then files.
fn policies(
    principal: &str,
    texts: &[String],
    files: &[PathBuf],
    kind: trent_core::authz::PolicyKind,
) -> Result<Vec<std::sync::Arc<trent_core::authz::CompiledPolicy>>, ConfigError> {
    let compile = |text: &str, which: String| {
        trent_core::authz::CompiledPolicy::parse(text, kind)
            .map(std::sync::Arc::new)
            .map_err(|e| {
                ConfigError::Invalid(ConfigProblem::Policy {
                    principal: principal.to_string(),
                    which,
                    reason: e.to_string(),
                })
            })
    };
    let mut out = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        out.push(compile(t, format!("#{}", i + 1))?);
    }
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|source| ConfigError::Read {
            path: f.clone(),
            source,
        })?;
        out.push(compile(&text, f.display().to_string())?);
    }
    Ok(out)
}

fn directory(
    users: &[UserConfig],
    roles: &[RoleConfig],
) -> Result<trent_service::Directory, ConfigError> {
    use trent_core::authz::PolicyKind;
    let mut seen = std::collections::HashSet::new();
    let mut out_users = Vec::new();
    for u in users {
        iam_arn(&u.arn, "user")?;
        if !seen.insert(u.arn.clone()) {
            return Err(ConfigError::Invalid(ConfigProblem::DuplicatePrincipal(
                u.arn.clone(),
            )));
        }
        out_users.push(trent_service::identity::User {
            arn: u.arn.clone(),
            policies: policies(&u.arn, &u.policies, &u.policy_files, PolicyKind::Identity)?,
            tags: u.tags.clone(),
        });
    }
    let mut out_roles = Vec::new();
    for r in roles {
        iam_arn(&r.arn, "role")?;
        if !seen.insert(r.arn.clone()) {
            return Err(ConfigError::Invalid(ConfigProblem::DuplicatePrincipal(
                r.arn.clone(),
            )));
        }
        let trust_texts: Vec<String> = r.trust_policy.iter().cloned().collect();
        let trust_files: Vec<PathBuf> = r.trust_policy_file.iter().cloned().collect();
        let mut trust = policies(&r.arn, &trust_texts, &trust_files, PolicyKind::Resource)?;
        if trust.len() != 1 {
            return Err(ConfigError::Invalid(ConfigProblem::TrustPolicyRequired(
                r.arn.clone(),
            )));
        }
        let max = r.max_session_seconds.unwrap_or(3600);
        if !(3600..=43_200).contains(&max) {
            return Err(ConfigError::Invalid(ConfigProblem::MaxSession(
                r.arn.clone(),
            )));
        }
        out_roles.push(trent_service::identity::Role {
            arn: r.arn.clone(),
            trust_policy: trust.remove(0),
            policies: policies(&r.arn, &r.policies, &r.policy_files, PolicyKind::Identity)?,
            max_session_seconds: max,
            tags: r.tags.clone(),
        });
    }
    Ok(trent_service::Directory::new(out_users, out_roles))
}

fn positive(
    name: &'static str,
    value: Option<usize>,
    default: usize,
) -> Result<usize, ConfigError> {
    match value {
        Some(0) => Err(ConfigError::Invalid(ConfigProblem::ZeroLimit(name))),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

fn tls_config(o: &Overrides, f: &FileConfig) -> Result<Option<TlsConfig>, ConfigError> {
    let invalid = ConfigError::Invalid;
    let cert = o.tls_cert_file.clone().or(f.tls_cert_file.clone());
    let key = o.tls_key_file.clone().or(f.tls_key_file.clone());
    let client_ca = o
        .tls_client_ca_file
        .clone()
        .or(f.tls_client_ca_file.clone());
    let source = match (cert, key, o.dev_tls) {
        (Some(_), _, true) | (_, Some(_), true) => {
            return Err(invalid(ConfigProblem::DevTlsWithFiles))
        }
        (Some(cert), Some(key), false) => TlsSource::Files { cert, key },
        (None, None, true) => TlsSource::Development,
        (None, None, false) => {
            if client_ca.is_some() {
                return Err(invalid(ConfigProblem::ClientCaWithoutTls));
            }
            return Ok(None);
        }
        _ => return Err(invalid(ConfigProblem::TlsPair)),
    };
    Ok(Some(TlsConfig { source, client_ca }))
}

fn credentials(entries: &[CredentialConfig]) -> Result<Vec<Credential>, ConfigError> {
    let invalid = ConfigError::Invalid;
    if entries.is_empty() {
        return Err(invalid(ConfigProblem::NoCredentials));
    }
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<Credential> = Vec::with_capacity(entries.len());
    for c in entries {
        if c.access_key_id.is_empty() || c.secret_access_key.is_empty() {
            return Err(invalid(ConfigProblem::EmptyCredential));
        }
        if !seen.insert(c.access_key_id.as_str()) {
            return Err(invalid(ConfigProblem::DuplicateAccessKey(
                c.access_key_id.clone(),
            )));
        }
        let account = AccountId::parse(&c.account_id)
            .ok_or_else(|| invalid(ConfigProblem::Account(c.account_id.clone())))?;
        let principal = c.principal.clone().unwrap_or_else(|| account.root_arn());
        if !valid_principal(&principal, &account) {
            return Err(invalid(ConfigProblem::Principal(principal)));
        }
        out.push(Credential {
            access_key_id: c.access_key_id.clone(),
            secret: c.secret_access_key.clone(),
            account,
            principal,
        });
    }
    Ok(out)
}

/// `line L, column C: message` of a TOML error, never quoting the file, nor
/// a value: a type error's message would quote the string it got
/// (`invalid type: string "..."`), which may be a secret put in the wrong
/// place.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = redact_quoted(e.message());
    let Some(span) = e.span() else {
        return msg;
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("line {line}, column {column}: {msg}")
}

/// Replace every double-quoted part of a message with `"..."`.
fn redact_quoted(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut inside = false;
    for c in msg.chars() {
        match (c, inside) {
            ('"', false) => {
                inside = true;
                out.push_str("\"...");
            }
            ('"', true) => {
                inside = false;
                out.push('"');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDS: &str = "[root_key]\nenv='TRENT_ROOT'\n[[credentials]]\naccess_key_id='a'\nsecret_access_key='s'\naccount_id='111122223333'\n";

    fn parse(text: &str) -> Result<ServeConfig, ConfigError> {
        parse_with(text, &Overrides::default())
    }

    fn parse_with(text: &str, o: &Overrides) -> Result<ServeConfig, ConfigError> {
        let f: FileConfig = toml::from_str(text).unwrap();
        ServeConfig::from_parts(o, Some(f))
    }

    fn problem(r: Result<ServeConfig, ConfigError>) -> ConfigProblem {
        match r {
            Err(ConfigError::Invalid(p)) => p,
            other => panic!("expected an invalid configuration, got {other:?}"),
        }
    }

    fn listen(addr: &str) -> Overrides {
        Overrides {
            listen: Some(addr.into()),
            ..Default::default()
        }
    }

    #[test]
    fn development_defaults() {
        let c = ServeConfig::from_parts(&Overrides::default(), None).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert!(c.credentials.is_none());
        assert!(c.tls.is_none());
        assert_eq!(c.dev_account.as_str(), "111122223333");
        assert_eq!(c.limits.max_connections, DEFAULT_MAX_CONNECTIONS);
    }

    #[test]
    fn credentials_are_checked() {
        let ok = parse(&format!(
            "{CREDS}[[credentials]]\naccess_key_id='b'\nsecret_access_key='s'\naccount_id='111122223333'\nprincipal='arn:aws:iam::111122223333:role/app'\n"
        ))
        .unwrap();
        let creds = ok.credentials.unwrap();
        assert_eq!(creds[1].principal, "arn:aws:iam::111122223333:role/app");
        assert!(!format!("{creds:?}").contains("\"s\""));
        assert!(matches!(
            problem(parse("[root_key]\nenv='E'\n")),
            ConfigProblem::NoCredentials
        ));
        assert!(matches!(
            problem(parse(&CREDS.replace("111122223333", "12"))),
            ConfigProblem::Account(_)
        ));
        assert!(matches!(
            problem(parse(&format!(
                "{CREDS}principal='arn:aws:iam::444455556666:root'\n"
            ))),
            ConfigProblem::Principal(_)
        ));
        assert!(matches!(
            problem(parse(&format!("{CREDS}[[credentials]]\naccess_key_id='a'\nsecret_access_key='t'\naccount_id='111122223333'\n"))),
            ConfigProblem::DuplicateAccessKey(_)
        ));
        assert!(toml::from_str::<FileConfig>("bogus = 1").is_err());
    }

    /// Development mode is loopback only, whatever the flags: it accepts any
    /// signature.
    #[test]
    fn development_mode_never_leaves_loopback() {
        for addr in ["0.0.0.0:8080", "192.0.2.1:8080", "[::]:8080"] {
            let o = Overrides {
                allow_insecure_listen: true,
                dev_tls: true,
                ..listen(addr)
            };
            assert!(matches!(
                problem(ServeConfig::from_parts(&o, None)),
                ConfigProblem::DevelopmentListen(_)
            ));
        }
        for addr in ["127.0.0.1:0", "[::1]:0", "127.0.0.2:9"] {
            assert!(
                ServeConfig::from_parts(&listen(addr), None).is_ok(),
                "{addr}"
            );
        }
    }

    /// Beyond loopback: credentials, and TLS unless explicitly waived.
    #[test]
    fn network_listen_needs_tls_or_an_explicit_waiver() {
        let o = listen("0.0.0.0:8443");
        assert!(matches!(
            problem(parse_with(CREDS, &o)),
            ConfigProblem::InsecureListen(_)
        ));
        let tls = format!("tls_cert_file='c.pem'\ntls_key_file='k.pem'\n{CREDS}");
        let c = parse_with(&tls, &o).unwrap();
        assert_eq!(
            c.tls.unwrap().source,
            TlsSource::Files {
                cert: "c.pem".into(),
                key: "k.pem".into()
            }
        );
        assert!(parse_with(&format!("allow_insecure_listen = true\n{CREDS}"), &o).is_ok());
        let waived = Overrides {
            allow_insecure_listen: true,
            ..o.clone()
        };
        assert!(parse_with(CREDS, &waived).is_ok());
    }

    #[test]
    fn tls_settings_are_consistent() {
        assert!(matches!(
            problem(parse(&format!("tls_cert_file='c.pem'\n{CREDS}"))),
            ConfigProblem::TlsPair
        ));
        assert!(matches!(
            problem(parse(&format!("tls_client_ca_file='ca.pem'\n{CREDS}"))),
            ConfigProblem::ClientCaWithoutTls
        ));
        let dev = Overrides {
            dev_tls: true,
            ..Default::default()
        };
        assert!(matches!(
            problem(parse_with(
                &format!("tls_cert_file='c'\ntls_key_file='k'\n{CREDS}"),
                &dev
            )),
            ConfigProblem::DevTlsWithFiles
        ));
        let c = ServeConfig::from_parts(&dev, None).unwrap();
        assert_eq!(c.tls.unwrap().source, TlsSource::Development);
    }

    #[test]
    fn credentials_need_a_root_key_source() {
        let no_root = CREDS.replace("[root_key]\nenv='TRENT_ROOT'\n", "");
        let p = problem(parse(&no_root));
        assert!(matches!(p, ConfigProblem::RootKeyRequired));
        let text = p.to_string();
        for option in ["file", "env", "passphrase_env", "passphrase_file"] {
            assert!(text.contains(option), "{text}");
        }
    }

    #[test]
    fn test_clock_is_loopback_only() {
        let o = Overrides {
            allow_insecure_listen: true,
            unsafe_test_clock: true,
            ..listen("0.0.0.0:8080")
        };
        assert!(matches!(
            problem(parse_with(CREDS, &o)),
            ConfigProblem::TestClockListen(_)
        ));
        let o = Overrides {
            listen: Some("127.0.0.1:8080".into()),
            ..o
        };
        assert!(ServeConfig::from_parts(&o, None).is_ok());
    }

    #[test]
    fn limits_are_read_and_zero_is_refused() {
        let c = parse(&format!(
            "max_connections = 10\nmax_buffered_body_bytes = 2048\noverload_wait_ms = 5\n{CREDS}"
        ))
        .unwrap();
        assert_eq!(c.limits.max_connections, 10);
        assert_eq!(c.limits.max_buffered_body_bytes, 2048);
        assert_eq!(c.limits.overload_wait.as_millis(), 5);
        assert!(matches!(
            problem(parse(&format!("max_connections = 0\n{CREDS}"))),
            ConfigProblem::ZeroLimit("max_connections")
        ));
    }

    #[test]
    fn parse_errors_do_not_quote_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(
            &path,
            "[[credentials]]\naccess_key_id = 'a'\nsecret_access_key = 'hunter2-secret' oops\n",
        )
        .unwrap();
        let o = Overrides {
            config: Some(path),
            ..Default::default()
        };
        let text = ServeConfig::load(&o).unwrap_err().to_string();
        assert!(text.contains("line 3"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn type_errors_do_not_quote_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        let secret = "ab".repeat(32);
        std::fs::write(&path, format!("root_key = \"{secret}\"\n")).unwrap();
        let o = Overrides {
            config: Some(path),
            ..Default::default()
        };
        let text = ServeConfig::load(&o).unwrap_err().to_string();
        assert!(text.contains("line 1"), "{text}");
        assert!(!text.contains(&secret[..16]), "{text}");
        assert_eq!(
            redact_quoted(r#"invalid type: string "s3cr3t", expected x"#),
            r#"invalid type: string "...", expected x"#
        );
    }

    #[test]
    fn root_key_source_must_be_single() {
        assert!(matches!(
            problem(parse(
                &CREDS.replace("env='TRENT_ROOT'", "file='k'\nenv='E'")
            )),
            ConfigProblem::RootKeySource
        ));
        assert!(parse(CREDS).is_ok());
    }
}
