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
    /// Where the root key comes from.
    pub root_key: Option<RootKeySource>,
    /// The credentials allowed to call.
    #[serde(default)]
    pub credentials: Vec<CredentialConfig>,
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
    /// The secret access key.
    pub secret_access_key: String,
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
    /// Non-loopback without TLS.
    #[error("refusing to listen on {0} without TLS: only loopback addresses are allowed unless allow_insecure_listen = true (or --allow-insecure-listen)")]
    InsecureListen(SocketAddr),
    /// The test clock on a non-loopback address.
    #[error("refusing to serve the test clock endpoint on {0}: --unsafe-test-clock needs a loopback address")]
    TestClockListen(SocketAddr),
    /// A bad account id.
    #[error("account id '{0}' is not 12 digits")]
    Account(String),
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
    /// A config file without credentials.
    #[error("a configuration file must list at least one [[credentials]] entry")]
    NoCredentials,
}

/// Everything `trent serve` runs with.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Root key source (`None`: the development key file in the data dir).
    pub root_key: Option<RootKeySource>,
    /// `None` in development mode (signatures not verified).
    pub credentials: Option<Vec<Credential>>,
    /// The account of development-mode callers.
    pub dev_account: AccountId,
    /// Seconds between background sweeps.
    pub background_interval_secs: u64,
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// Expose the test-only clock endpoint.
    pub unsafe_test_clock: bool,
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
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
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
        if !(listen.ip().is_loopback() || o.allow_insecure_listen || f.allow_insecure_listen) {
            return Err(invalid(ConfigProblem::InsecureListen(listen)));
        }
        // The test clock's endpoint answers before authentication and can
        // end every deletion window at once: loopback only, always.
        if o.unsafe_test_clock && !listen.ip().is_loopback() {
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
            if f.credentials.is_empty() {
                return Err(invalid(ConfigProblem::NoCredentials));
            }
            let mut out: Vec<Credential> = Vec::new();
            for c in &f.credentials {
                if c.access_key_id.is_empty() || c.secret_access_key.is_empty() {
                    return Err(invalid(ConfigProblem::EmptyCredential));
                }
                if out.iter().any(|x| x.access_key_id == c.access_key_id) {
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
                    secret: zeroize::Zeroizing::new(c.secret_access_key.clone()),
                    account,
                    principal,
                });
            }
            Some(out)
        } else {
            None
        };
        Ok(ServeConfig {
            listen,
            data_dir: o
                .data_dir
                .clone()
                .or(f.data_dir)
                .unwrap_or_else(|| Path::new(DEFAULT_DATA_DIR).to_path_buf()),
            root_key: f.root_key,
            credentials,
            dev_account,
            background_interval_secs: f.background_interval_secs.unwrap_or(10).max(1),
            max_body_bytes: f.max_body_bytes.unwrap_or(1024 * 1024),
            unsafe_test_clock: o.unsafe_test_clock,
        })
    }
}

/// `line L, column C: message` of a TOML error, never quoting the file.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message();
    let Some(span) = e.span() else {
        return msg.to_string();
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("line {line}, column {column}: {msg}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ServeConfig, ConfigError> {
        let f: FileConfig = toml::from_str(text).unwrap();
        ServeConfig::from_parts(&Overrides::default(), Some(f))
    }

    #[test]
    fn development_defaults() {
        let c = ServeConfig::from_parts(&Overrides::default(), None).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert!(c.credentials.is_none());
        assert_eq!(c.dev_account.as_str(), "111122223333");
    }

    #[test]
    fn credentials_are_checked() {
        let ok = parse(
            r#"
            [[credentials]]
            access_key_id = "AKIA1"
            secret_access_key = "s"
            account_id = "111122223333"
            principal = "arn:aws:iam::111122223333:role/app"
            "#,
        )
        .unwrap();
        let creds = ok.credentials.unwrap();
        assert_eq!(creds[0].principal, "arn:aws:iam::111122223333:role/app");
        assert!(!format!("{creds:?}").contains("\"s\""));
        assert!(parse("").is_err(), "a file needs credentials");
        assert!(parse(
            "[[credentials]]\naccess_key_id='a'\nsecret_access_key='s'\naccount_id='12'\n"
        )
        .is_err());
        assert!(parse(
            "[[credentials]]\naccess_key_id='a'\nsecret_access_key='s'\naccount_id='111122223333'\nprincipal='arn:aws:iam::444455556666:root'\n"
        )
        .is_err());
        assert!(toml::from_str::<FileConfig>("bogus = 1").is_err());
    }

    #[test]
    fn non_loopback_needs_opt_in() {
        let o = Overrides {
            listen: Some("0.0.0.0:8080".into()),
            ..Default::default()
        };
        assert!(ServeConfig::from_parts(&o, None).is_err());
        let o = Overrides {
            allow_insecure_listen: true,
            ..o
        };
        assert!(ServeConfig::from_parts(&o, None).is_ok());
    }

    #[test]
    fn test_clock_is_loopback_only() {
        let o = Overrides {
            listen: Some("0.0.0.0:8080".into()),
            allow_insecure_listen: true,
            unsafe_test_clock: true,
            ..Default::default()
        };
        assert!(ServeConfig::from_parts(&o, None).is_err());
        let o = Overrides {
            listen: Some("127.0.0.1:8080".into()),
            ..o
        };
        assert!(ServeConfig::from_parts(&o, None).is_ok());
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
    fn root_key_source_must_be_single() {
        let base = "[[credentials]]\naccess_key_id='a'\nsecret_access_key='s'\naccount_id='111122223333'\n";
        assert!(parse(&format!("{base}[root_key]\nfile='k'\nenv='E'\n")).is_err());
        assert!(parse(&format!("{base}[root_key]\nenv='E'\n")).is_ok());
    }
}
