//! Where the root key comes from: a key file (generated into the data
//! directory in development), an environment variable, or a passphrase
//! stretched with Argon2id. The key itself never reaches a log line.

use crate::config::{RootKeySource, ServeConfig};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use trent_crypto::{stretch_passphrase, SoftRootKey, ROOT_KEY_LEN};
use trent_store::KeyStore;
use zeroize::Zeroizing;

/// The development root key's file name inside the data directory.
pub const DEV_KEY_FILE: &str = "root.key";
const SALT_META: &str = "root-passphrase-salt";

/// Why the root key could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RootKeyError {
    /// A file could not be read or written.
    #[error("root key file {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A key file that is not 32 bytes or 64 hex digits.
    #[error("root key file {0} must hold exactly 32 bytes or 64 hex digits")]
    FileFormat(PathBuf),
    /// The environment variable is not set.
    #[error("the root key environment variable {0} is not set")]
    EnvMissing(String),
    /// The environment variable does not hold a key.
    #[error(
        "the root key environment variable {0} must hold 64 hex digits or the base64 of 32 bytes"
    )]
    EnvFormat(String),
    /// An empty passphrase.
    #[error("the root key passphrase is empty")]
    EmptyPassphrase,
    /// The store failed while reading the passphrase salt.
    #[error("reading the passphrase salt failed")]
    Store(#[source] trent_store::StoreError),
    /// The key file is gone but the store was written with a root key.
    #[error("root key file {0} does not exist, but the store holds data written under a root key; restore the file (a new key cannot decrypt existing keys)")]
    Missing(PathBuf),
    /// Crypto failure.
    #[error("root key: {0}")]
    Crypto(#[source] trent_core::CryptoError),
}

fn decode_key(text: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if text.len() == ROOT_KEY_LEN {
        return Some(Zeroizing::new(text.to_vec()));
    }
    let trimmed = std::str::from_utf8(text).ok()?.trim();
    if trimmed.len() == 2 * ROOT_KEY_LEN {
        if let Ok(v) = hex::decode(trimmed) {
            return Some(Zeroizing::new(v));
        }
    }
    let v = Zeroizing::new(STANDARD.decode(trimmed).ok()?);
    (v.len() == ROOT_KEY_LEN).then_some(v)
}

fn key_file(path: &Path, may_create: bool) -> Result<SoftRootKey, RootKeyError> {
    let io = |source| RootKeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read(path) {
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            if let Ok(meta) = std::fs::metadata(path) {
                if meta.permissions().mode() & 0o077 != 0 {
                    tracing::warn!(path = %path.display(), "the root key file is readable by other users; chmod 600 it");
                }
            }
            let key =
                decode_key(&bytes).ok_or_else(|| RootKeyError::FileFormat(path.to_path_buf()))?;
            SoftRootKey::from_bytes(&key).map_err(RootKeyError::Crypto)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !may_create {
                return Err(RootKeyError::Missing(path.to_path_buf()));
            }
            let (key, bytes) = SoftRootKey::generate().map_err(RootKeyError::Crypto)?;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io)?;
            f.write_all(bytes.expose()).map_err(io)?;
            f.sync_all().map_err(io)?;
            if let Some(dir) = path.parent() {
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            tracing::info!(path = %path.display(), "generated a new root key (mode 0600)");
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

async fn passphrase_key(
    passphrase: Zeroizing<Vec<u8>>,
    store: &dyn KeyStore,
    fresh_store: bool,
) -> Result<SoftRootKey, RootKeyError> {
    let trimmed_len = passphrase
        .iter()
        .rposition(|b| *b != b'\n' && *b != b'\r')
        .map_or(0, |i| i + 1);
    if trimmed_len == 0 {
        return Err(RootKeyError::EmptyPassphrase);
    }
    let salt = match store
        .get_meta(SALT_META)
        .await
        .map_err(RootKeyError::Store)?
    {
        Some(salt) => salt,
        None => {
            let mut salt = [0u8; 16];
            trent_core::CryptoProvider::fill_random(
                &trent_crypto::SoftwareProvider::new(),
                &mut salt,
            )
            .map_err(RootKeyError::Crypto)?;
            if !fresh_store {
                // The store was written under another root key source: the
                // key derived here cannot match, and the start will be
                // refused. A refused start writes nothing, so this salt is
                // not stored.
                salt.to_vec()
            } else {
                store
                    .put_meta_if_absent(SALT_META, &salt)
                    .await
                    .map_err(RootKeyError::Store)?;
                store
                    .get_meta(SALT_META)
                    .await
                    .map_err(RootKeyError::Store)?
                    .unwrap_or_else(|| salt.to_vec())
            }
        }
    };
    let pass = Zeroizing::new(passphrase[..trimmed_len].to_vec());
    let key = tokio::task::spawn_blocking(move || stretch_passphrase(&pass, &salt))
        .await
        .map_err(|_| RootKeyError::Crypto(trent_core::CryptoError::InvalidKey))?
        .map_err(RootKeyError::Crypto)?;
    SoftRootKey::from_bytes(key.expose()).map_err(RootKeyError::Crypto)
}

/// Whether `path` is inside `dir`, comparing resolved paths (relative
/// paths, `..` and symbolic links do not hide it). `dir` exists here; the
/// file may not yet.
fn inside(path: &Path, dir: &Path) -> bool {
    let Ok(dir) = std::fs::canonicalize(dir) else {
        return false;
    };
    let resolved = std::fs::canonicalize(path).or_else(|_| {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::canonicalize(parent).map(|p| p.join(path.file_name().unwrap_or_default()))
    });
    resolved.is_ok_and(|p| p.starts_with(dir))
}

/// Load (or, for a key file that does not exist yet, create) the root key.
pub async fn load(cfg: &ServeConfig, store: &dyn KeyStore) -> Result<SoftRootKey, RootKeyError> {
    let dev = RootKeySource {
        file: Some(cfg.data_dir.join(DEV_KEY_FILE)),
        ..Default::default()
    };
    let src = cfg.root_key.as_ref().unwrap_or(&dev);
    // A key file may only be generated for a store that has never been used.
    let fresh_store = store
        .get_meta(trent_service::ROOT_CHECK_META)
        .await
        .map_err(RootKeyError::Store)?
        .is_none();
    if let Some(path) = &src.file {
        if cfg.root_key.is_some() && inside(path, &cfg.data_dir) {
            tracing::warn!(
                path = %path.display(),
                "the root key file is inside the data directory: a copy of that directory holds everything needed to read the keys; keep the root key elsewhere"
            );
        }
        return key_file(path, fresh_store);
    }
    if let Some(var) = &src.env {
        let value =
            Zeroizing::new(std::env::var(var).map_err(|_| RootKeyError::EnvMissing(var.clone()))?);
        let key = decode_key(value.as_bytes())
            .filter(|k| k.len() == ROOT_KEY_LEN && value.len() != ROOT_KEY_LEN)
            .ok_or_else(|| RootKeyError::EnvFormat(var.clone()))?;
        return SoftRootKey::from_bytes(&key).map_err(RootKeyError::Crypto);
    }
    if let Some(var) = &src.passphrase_env {
        let value =
            Zeroizing::new(std::env::var(var).map_err(|_| RootKeyError::EnvMissing(var.clone()))?);
        return passphrase_key(
            Zeroizing::new(value.as_bytes().to_vec()),
            store,
            fresh_store,
        )
        .await;
    }
    if let Some(path) = &src.passphrase_file {
        let bytes = std::fs::read(path).map_err(|source| RootKeyError::Io {
            path: path.clone(),
            source,
        })?;
        return passphrase_key(Zeroizing::new(bytes), store, fresh_store).await;
    }
    key_file(&cfg.data_dir.join(DEV_KEY_FILE), fresh_store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_key_inside_the_data_dir_is_noticed_however_it_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        assert!(inside(&data.join("root.key"), &data));
        assert!(inside(&dir.path().join("data/../data/root.key"), &data));
        assert!(!inside(&dir.path().join("root.key"), &data));
        std::os::unix::fs::symlink(&data, dir.path().join("link")).unwrap();
        assert!(inside(&dir.path().join("link/root.key"), &data));
    }

    #[test]
    fn key_encodings() {
        assert!(decode_key(&[7u8; 32]).is_some());
        assert!(decode_key("ab".repeat(32).as_bytes()).is_some());
        assert!(decode_key(format!("{}\n", "ab".repeat(32)).as_bytes()).is_some());
        assert!(decode_key(STANDARD.encode([1u8; 32]).as_bytes()).is_some());
        assert!(decode_key(b"short").is_none());
    }

    #[test]
    fn generated_key_file_is_private_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("root.key");
        assert!(matches!(key_file(&p, false), Err(RootKeyError::Missing(_))));
        key_file(&p, true).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        key_file(&p, false).unwrap();
        std::fs::write(&p, b"garbage").unwrap();
        assert!(matches!(
            key_file(&p, true),
            Err(RootKeyError::FileFormat(_))
        ));
    }
}
