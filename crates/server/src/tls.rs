//! HTTPS: rustls on the aws-lc-rs provider (the crypto library the rest of
//! Trent uses, so the binary carries one), TLS 1.2 and 1.3, ALPN `h2` and
//! `http/1.1`, optional client certificates, reload on SIGHUP, and the
//! `--dev-tls` certificate authority.
//!
//! A reload builds a complete new `ServerConfig` from the files and swaps it
//! in for new connections; open connections keep the session they have. A
//! reload that fails (a missing file, a key that does not match) keeps the
//! previous configuration and says why in the log.

use crate::config::{TlsConfig, TlsSource};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio_rustls::TlsAcceptor;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("TLS file {path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong (never the file's contents).
        reason: String,
    },
    /// rustls refused the certificate or key (for example, they do not
    /// belong together).
    #[error("TLS certificate {cert} with key {key}: {source}")]
    Certificate {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// The cause.
        #[source]
        source: rustls::Error,
    },
    /// The client CA file cannot verify client certificates.
    #[error("TLS client CA file {path}: {reason}")]
    ClientCa {
        /// The file.
        path: PathBuf,
        /// The cause.
        reason: String,
    },
    /// The development certificate could not be made or written.
    #[error("generating the development TLS certificate in {dir}: {reason}")]
    DevCertificate {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        reason: String,
    },
}

/// The files a TLS configuration is built from.
#[derive(Debug, Clone)]
struct Files {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
}

/// The live TLS configuration.
#[derive(Debug)]
pub struct Tls {
    files: Files,
    current: RwLock<Arc<ServerConfig>>,
    /// The CA file to trust, for `--dev-tls`.
    dev_ca: Option<PathBuf>,
}

impl Tls {
    /// Load the configured files (generating the development ones first if
    /// asked to).
    pub fn load(cfg: &TlsConfig, data_dir: &Path) -> Result<Tls, TlsError> {
        let (cert, key, dev_ca) = match &cfg.source {
            TlsSource::Files { cert, key } => (cert.clone(), key.clone(), None),
            TlsSource::Development => {
                let dev = dev_certificate(&data_dir.join(DEV_TLS_DIR))?;
                (dev.cert, dev.key, Some(dev.ca))
            }
        };
        let files = Files {
            cert,
            key,
            client_ca: cfg.client_ca.clone(),
        };
        let config = build(&files)?;
        Ok(Tls {
            files,
            current: RwLock::new(config),
            dev_ca,
        })
    }

    /// An acceptor for the next connection.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }

    /// Read the files again; on failure keep the current configuration.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = build(&self.files)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = config;
        Ok(())
    }

    /// The CA certificate of `--dev-tls`, which clients must trust.
    pub fn dev_ca(&self) -> Option<&Path> {
        self.dev_ca.as_deref()
    }

    /// Whether clients must present a certificate.
    pub fn requires_client_certificates(&self) -> bool {
        self.files.client_ca.is_some()
    }
}

fn pem_error(path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::Pem {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if certs.is_empty() {
        return Err(pem_error(path, "no CERTIFICATE block found"));
    }
    Ok(certs)
}

fn build(files: &Files) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = read_certs(&files.cert)?;
    // The key file's text is read into a buffer that is cleared after use;
    // the DER copy handed to rustls is rustls's (see docs/security.md).
    let pem =
        zeroize::Zeroizing::new(std::fs::read(&files.key).map_err(|e| pem_error(&files.key, e))?);
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        pem_error(
            &files.key,
            format!("no usable private key (PKCS#8, SEC1 or PKCS#1 PEM): {e}"),
        )
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|source| TlsError::Certificate {
            cert: files.cert.clone(),
            key: files.key.clone(),
            source,
        })?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for ca in read_certs(path)? {
                roots.add(ca).map_err(|e| TlsError::ClientCa {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::ClientCa {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config =
        builder
            .with_single_cert(certs, key)
            .map_err(|source| TlsError::Certificate {
                cert: files.cert.clone(),
                key: files.key.clone(),
                source,
            })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Where `--dev-tls` keeps its files, inside the data directory.
pub const DEV_TLS_DIR: &str = "tls";

/// The files of the development certificate authority.
#[derive(Debug)]
struct DevFiles {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// The development CA and a certificate for `localhost`, `127.0.0.1` and
/// `::1` signed by it: generated on first start, reused afterwards (so a
/// client configured once keeps working). Delete the directory to make new
/// ones. The CA's own key is not kept: nothing else is ever signed with it.
fn dev_certificate(dir: &Path) -> Result<DevFiles, TlsError> {
    let files = DevFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    if files.ca.exists() && files.cert.exists() && files.key.exists() {
        return Ok(files);
    }
    let fail = |reason: String| TlsError::DevCertificate {
        dir: dir.to_path_buf(),
        reason,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| fail(e.to_string()))?;
    let (ca_pem, cert_pem, key_pem) = generate_dev_pems().map_err(|e| fail(e.to_string()))?;
    // The key first and the CA last: a start interrupted half-way finds a
    // file missing and generates the set again.
    write_private(&files.key, key_pem.as_bytes()).map_err(|e| fail(e.to_string()))?;
    write_private(&files.cert, cert_pem.as_bytes()).map_err(|e| fail(e.to_string()))?;
    write_private(&files.ca, ca_pem.as_bytes()).map_err(|e| fail(e.to_string()))?;
    tracing::info!(dir = %dir.display(), "generated a development certificate authority and a localhost certificate");
    Ok(files)
}

fn generate_dev_pems() -> Result<(String, String, zeroize::Zeroizing<String>), rcgen::Error> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let now = time::OffsetDateTime::now_utc();
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "Trent development CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = now - time::Duration::days(1);
    ca.not_after = now + time::Duration::days(3650);
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])?;
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = now - time::Duration::days(1);
    // Under the 825 days that some TLS clients accept at most.
    leaf.not_after = now + time::Duration::days(800);
    let cert = leaf.signed_by(&key, &issuer)?;
    Ok((
        ca_cert.pem(),
        cert.pem(),
        zeroize::Zeroizing::new(key.serialize_pem()),
    ))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Start catching SIGHUP (its default action ends the process).
pub fn hangup_signals() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; TLS files will not be reloaded");
            None
        }
    }
}

/// Reload the TLS files on every SIGHUP, for as long as the server runs.
pub fn reload_on_sighup(
    hangups: Option<tokio::signal::unix::Signal>,
    tls: Option<Arc<Tls>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Some(mut hup) = hangups else {
            return;
        };
        while hup.recv().await.is_some() {
            match &tls {
                None => tracing::info!("SIGHUP: no TLS configured, nothing to reload"),
                Some(tls) => match tls.reload() {
                    Ok(()) => tracing::info!("SIGHUP: TLS certificate and key reloaded"),
                    Err(e) => tracing::error!(
                        error = %e,
                        "SIGHUP: TLS reload failed; still serving the previous certificate"
                    ),
                },
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Files {
        let dev = dev_certificate(dir).unwrap();
        Files {
            cert: dev.cert,
            key: dev.key,
            client_ca: None,
        }
    }

    #[test]
    fn development_certificate_is_generated_once_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("tls");
        let f = files(&d);
        build(&f).unwrap();
        let first = std::fs::read(&f.cert).unwrap();
        assert_eq!(
            std::fs::metadata(&f.key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let again = files(&d);
        assert_eq!(std::fs::read(again.cert).unwrap(), first, "reused");
        assert!(!d.join("ca.key").exists(), "the CA key is not kept");
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let fa = files(a.path());
        let fb = files(b.path());
        let mixed = Files {
            cert: fa.cert,
            key: fb.key,
            client_ca: None,
        };
        assert!(matches!(build(&mixed), Err(TlsError::Certificate { .. })));
    }

    #[test]
    fn reload_keeps_the_old_configuration_on_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TlsConfig {
            source: TlsSource::Development,
            client_ca: None,
        };
        let tls = Tls::load(&cfg, dir.path()).unwrap();
        let before = Arc::as_ptr(&tls.current.read().unwrap().clone());
        let key = dir.path().join(DEV_TLS_DIR).join("server.key");
        std::fs::write(&key, b"not a key").unwrap();
        let e = tls.reload().unwrap_err();
        assert!(!e.to_string().contains("not a key"), "{e}");
        assert_eq!(Arc::as_ptr(&tls.current.read().unwrap().clone()), before);
        std::fs::remove_dir_all(dir.path().join(DEV_TLS_DIR)).unwrap();
        dev_certificate(&dir.path().join(DEV_TLS_DIR)).unwrap();
        tls.reload().unwrap();
        assert_ne!(Arc::as_ptr(&tls.current.read().unwrap().clone()), before);
    }

    #[test]
    fn missing_files_are_named() {
        let f = Files {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
            client_ca: None,
        };
        let e = build(&f).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/cert.pem"), "{e}");
    }
}
