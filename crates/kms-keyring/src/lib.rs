//! The AWS KMS keyring of `trent encrypt` and `trent decrypt`: wraps and
//! unwraps ESDK data keys with GenerateDataKey, Encrypt and Decrypt on any
//! AWS-KMS-compatible endpoint (Trent, or AWS KMS itself).
//!
//! It owns the IO that `trent-envelope` refuses, through AWS's own SDK:
//! credentials, Region and endpoint are resolved as every AWS tool resolves
//! them (environment, shared config and credentials files, profiles,
//! `AWS_ENDPOINT_URL_KMS`, SSO, credential processes), requests are signed
//! with SigV4, and `AWS_CA_BUNDLE` names extra trusted CAs as in the AWS CLI.
//! Which wrapped keys to try, and under which key identifier, is decided by
//! the pure rules in `trent_envelope::kms`.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_kms::error::{DisplayErrorContext, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::Client;
use trent_envelope::kms::{
    discovery_candidates, region_of, strict_candidates, DiscoveryFilter, KmsArn, PROVIDER_ID,
};
use trent_envelope::{DataKey, DecryptRequest, EncryptedDataKey, EncryptionContext, Suite};

/// Why a KMS keyring could not wrap or unwrap.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KmsError {
    /// The endpoint could not be reached (connection refused, DNS, TLS).
    #[error("cannot reach the AWS KMS endpoint for {key_id}: {detail}")]
    Unreachable {
        /// The key the call was for.
        key_id: String,
        /// What the client reported.
        detail: String,
    },
    /// The service answered with an error.
    #[error("AWS KMS {operation} with {key_id} failed: {detail}")]
    Service {
        /// GenerateDataKey, Encrypt or Decrypt.
        operation: &'static str,
        /// The key the call was for.
        key_id: String,
        /// The error code and message.
        detail: String,
    },
    /// An answer that breaks the keyring's rules (another key, a data key
    /// of the wrong length).
    #[error("AWS KMS {operation} with {key_id} returned an unusable answer: {0}", .why)]
    BadAnswer {
        /// The operation.
        operation: &'static str,
        /// The key the call was for.
        key_id: String,
        /// What was wrong.
        why: &'static str,
    },
    /// No wrapped data key of the message could be unwrapped.
    #[error("no AWS KMS key could decrypt the message's data key{}", describe(.0))]
    NoDataKey(Vec<KmsError>),
    /// The configuration cannot work (e.g. a bad CA bundle).
    #[error("{0}")]
    Config(String),
}

fn describe(errors: &[KmsError]) -> String {
    if errors.is_empty() {
        " (none of its data keys is wrapped by a key this keyring may use)".to_owned()
    } else {
        let all: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        format!(": {}", all.join("; "))
    }
}

/// Where and as whom to call AWS KMS; unset fields follow the standard
/// environment and shared files.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// The endpoint (else `AWS_ENDPOINT_URL_KMS`, `AWS_ENDPOINT_URL`, the
    /// profile's, or AWS's).
    pub endpoint_url: Option<String>,
    /// The Region for key identifiers that are not ARNs.
    pub region: Option<String>,
    /// The shared-config profile.
    pub profile: Option<String>,
}

/// An AWS KMS client per Region, from one resolved configuration.
pub struct Kms {
    config: SdkConfig,
    clients: Mutex<HashMap<String, Client>>,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kms")
            .field("region", &self.config.region())
            .finish_non_exhaustive()
    }
}

fn context_map(ec: &EncryptionContext) -> Option<HashMap<String, String>> {
    (!ec.is_empty()).then(|| {
        ec.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    })
}

fn call_error<E, R>(operation: &'static str, key_id: &str, e: SdkError<E, R>) -> KmsError
where
    E: std::error::Error + aws_sdk_kms::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match &e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            KmsError::Service {
                operation,
                key_id: key_id.to_owned(),
                detail: format!(
                    "{}: {}",
                    err.code().unwrap_or("error"),
                    err.message().unwrap_or("")
                ),
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => KmsError::Unreachable {
            key_id: key_id.to_owned(),
            detail: DisplayErrorContext(&e).to_string(),
        },
        _ => KmsError::Service {
            operation,
            key_id: key_id.to_owned(),
            detail: DisplayErrorContext(&e).to_string(),
        },
    }
}

fn bad_answer(operation: &'static str, key_id: &str, why: &'static str) -> KmsError {
    KmsError::BadAnswer {
        operation,
        key_id: key_id.to_owned(),
        why,
    }
}

/// The wrapped data key of a GenerateDataKey or Encrypt answer: it must
/// name a key ARN (the provider information that decrypt filters on).
fn wrapped(
    operation: &'static str,
    key_id: &str,
    arn: Option<&str>,
    ciphertext: Option<&Blob>,
) -> Result<EncryptedDataKey, KmsError> {
    let arn = arn
        .filter(|k| KmsArn::parse(k).is_some_and(|a| a.resource_type == "key"))
        .ok_or_else(|| bad_answer(operation, key_id, "no key ARN"))?;
    let ciphertext = ciphertext.ok_or_else(|| bad_answer(operation, key_id, "no ciphertext"))?;
    Ok(EncryptedDataKey {
        provider_id: PROVIDER_ID.into(),
        provider_info: arn.as_bytes().to_vec(),
        ciphertext: ciphertext.as_ref().to_vec(),
    })
}

impl Kms {
    /// Resolve credentials, Region and endpoint as the AWS tools do.
    pub async fn load(settings: &Settings) -> Result<Kms, KmsError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(p) = &settings.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &settings.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(u) = &settings.endpoint_url {
            loader = loader.endpoint_url(u);
        }
        if let Some(path) = std::env::var_os("AWS_CA_BUNDLE").filter(|p| !p.is_empty()) {
            use aws_smithy_http_client::tls;
            let pem = std::fs::read(&path).map_err(|e| {
                KmsError::Config(format!(
                    "cannot read AWS_CA_BUNDLE {}: {e}",
                    path.to_string_lossy()
                ))
            })?;
            let ctx = tls::TlsContext::builder()
                .with_trust_store(tls::TrustStore::default().with_pem_certificate(pem))
                .build()
                .map_err(|e| {
                    KmsError::Config(format!("AWS_CA_BUNDLE {}: {e}", path.to_string_lossy()))
                })?;
            let client = aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::AwsLc,
                ))
                .tls_context(ctx)
                .build_https();
            loader = loader.http_client(client);
        }
        Ok(Kms {
            config: loader.load().await,
            clients: Mutex::new(HashMap::new()),
        })
    }

    /// The Region calls go to for identifiers that are not ARNs.
    pub fn region(&self) -> Option<String> {
        self.config.region().map(|r| r.to_string())
    }

    /// The client for a key: the Region of its ARN, else the configured one.
    fn client(&self, key_id: &str) -> Client {
        let region = region_of(key_id)
            .or_else(|| self.region())
            .unwrap_or_default();
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients
            .entry(region.clone())
            .or_insert_with(|| {
                let mut b = aws_sdk_kms::config::Builder::from(&self.config);
                if !region.is_empty() {
                    b = b.region(Region::new(region.clone()));
                }
                Client::from_conf(b.build())
            })
            .clone()
    }

    /// A fresh data key from `key_id` (GenerateDataKey), and its wrapped
    /// copy.
    pub async fn generate(
        &self,
        key_id: &str,
        suite: Suite,
        ec: &EncryptionContext,
    ) -> Result<(DataKey, EncryptedDataKey), KmsError> {
        const OP: &str = "GenerateDataKey";
        let out = self
            .client(key_id)
            .generate_data_key()
            .key_id(key_id)
            .number_of_bytes(suite.key_len() as i32)
            .set_encryption_context(context_map(ec))
            .send()
            .await
            .map_err(|e| call_error(OP, key_id, e))?;
        let edk = wrapped(OP, key_id, out.key_id(), out.ciphertext_blob())?;
        let plaintext = out
            .plaintext
            .ok_or_else(|| bad_answer(OP, key_id, "no plaintext"))?
            .into_inner();
        let key = DataKey::new(plaintext);
        if key.expose().len() != suite.key_len() {
            return Err(bad_answer(OP, key_id, "a data key of the wrong length"));
        }
        Ok((key, edk))
    }

    /// Another wrapped copy of `key` under `key_id` (Encrypt).
    pub async fn wrap(
        &self,
        key_id: &str,
        key: &DataKey,
        ec: &EncryptionContext,
    ) -> Result<EncryptedDataKey, KmsError> {
        const OP: &str = "Encrypt";
        let out = self
            .client(key_id)
            .encrypt()
            .key_id(key_id)
            .plaintext(Blob::new(key.expose().to_vec()))
            .set_encryption_context(context_map(ec))
            .send()
            .await
            .map_err(|e| call_error(OP, key_id, e))?;
        wrapped(OP, key_id, out.key_id(), out.ciphertext_blob())
    }

    /// Unwrap with one of `key_ids` (a strict, multi-Region-aware keyring).
    pub async fn unwrap_strict(
        &self,
        key_ids: &[String],
        request: &DecryptRequest<'_>,
    ) -> Result<DataKey, KmsError> {
        self.try_all(
            strict_candidates(request.encrypted_data_keys, key_ids),
            request,
        )
        .await
    }

    /// Unwrap with whatever key wrapped the data key, if the filter trusts
    /// its account and partition (a multi-Region-aware discovery keyring).
    pub async fn unwrap_discovery(
        &self,
        filter: Option<&DiscoveryFilter>,
        request: &DecryptRequest<'_>,
    ) -> Result<DataKey, KmsError> {
        // A discovery keyring is bound to one Region: single-Region keys of
        // other Regions are not tried, multi-Region keys are asked of their
        // replica here.
        let region = self.region().ok_or_else(|| {
            KmsError::Config(
                "discovery needs a Region (--region, AWS_REGION or the profile's region)".into(),
            )
        })?;
        self.try_all(
            discovery_candidates(request.encrypted_data_keys, filter, &region),
            request,
        )
        .await
    }

    async fn try_all(
        &self,
        candidates: Vec<(usize, String)>,
        request: &DecryptRequest<'_>,
    ) -> Result<DataKey, KmsError> {
        let mut errors = Vec::new();
        for (i, key_id) in candidates {
            match self
                .decrypt(&key_id, &request.encrypted_data_keys[i], request)
                .await
            {
                Ok(k) => return Ok(k),
                Err(e) => errors.push(e),
            }
        }
        Err(KmsError::NoDataKey(errors))
    }

    async fn decrypt(
        &self,
        key_id: &str,
        edk: &EncryptedDataKey,
        request: &DecryptRequest<'_>,
    ) -> Result<DataKey, KmsError> {
        const OP: &str = "Decrypt";
        let out = self
            .client(key_id)
            .decrypt()
            .key_id(key_id)
            .ciphertext_blob(Blob::new(edk.ciphertext.clone()))
            .set_encryption_context(context_map(request.encryption_context))
            .send()
            .await
            .map_err(|e| call_error(OP, key_id, e))?;
        let bad = |why| bad_answer(OP, key_id, why);
        if out.key_id() != Some(key_id) {
            return Err(bad("the answer names another key"));
        }
        let key = DataKey::new(
            out.plaintext
                .ok_or_else(|| bad("no plaintext"))?
                .into_inner(),
        );
        if key.expose().len() != request.suite.key_len() {
            return Err(bad("a data key of the wrong length"));
        }
        Ok(key)
    }
}
