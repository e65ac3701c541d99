//! Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
//! GenerateDataKeyWithoutPlaintext, GenerateRandom: the hot path. Keys come
//! from the cache; nothing here touches the store in the common case.

use super::keys::req;
use crate::authz::{request_alias as alias_of, Ask};
use crate::cache::{HotKey, HotVersion};
use crate::{Caller, InvalidRequest, Kms, ServiceError, Unsupported};
use std::collections::BTreeMap;
use std::sync::Arc;
use trent_core::authz::Action;
use trent_core::blob::{self, Header, HEADER_LEN, TAG_LEN};
use trent_core::ids::{Accepts, KeyLocator};
use trent_core::{spec, CryptoError, SecretBytes};
use trent_proto::ops::*;
use trent_proto::*;
use zeroize::Zeroizing;

/// The encryption algorithm a request may use with `key`: `SYMMETRIC_DEFAULT`
/// (also when absent) for symmetric keys, one of the spec's RSAES
/// algorithms for RSA keys.
fn check_algorithm(
    key: &HotKey,
    algorithm: Option<&WireEnum<EncryptionAlgorithmSpec>>,
) -> Result<EncryptionAlgorithmSpec, ServiceError> {
    let asked = algorithm
        .and_then(|a| a.known())
        .unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault);
    if key.spec == KeySpec::SymmetricDefault {
        return match asked {
            EncryptionAlgorithmSpec::SymmetricDefault => Ok(asked),
            other => Err(ServiceError::IncompatibleAlgorithm {
                arn: key.arn.to_string(),
                algorithm: other.as_str(),
            }),
        };
    }
    let offered = spec::algorithms(key.spec, key.usage)
        .encryption
        .unwrap_or(&[]);
    if offered.contains(&asked) {
        Ok(asked)
    } else {
        Err(ServiceError::AlgorithmSpecMismatch {
            algorithm: asked.as_str(),
            spec: key.spec.as_str(),
        })
    }
}

/// The encryption context as authorization sees it: absent is empty (so a
/// grant constraint is not met by leaving the context out).
fn context_map(c: &Option<EncryptionContext>) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    c.as_ref().map_or(&EMPTY, |c| &c.0)
}

fn algorithm_name(a: Option<&WireEnum<EncryptionAlgorithmSpec>>) -> &'static str {
    a.and_then(|a| a.known())
        .unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault)
        .as_str()
}

/// What a cryptographic request asks of authorization.
#[derive(Clone, Copy)]
struct CryptoAsk<'a> {
    action: Action,
    operation: &'static str,
    context: &'a Option<EncryptionContext>,
    algorithm: Option<&'a WireEnum<EncryptionAlgorithmSpec>>,
    grant_tokens: &'a [String],
}

fn context_bytes(c: &Option<EncryptionContext>) -> Vec<u8> {
    match c {
        Some(c) => blob::encode_context(&c.0),
        None => blob::encode_context(&Default::default()),
    }
}

/// What opening a ciphertext gives.
struct Opened {
    key: Arc<HotKey>,
    /// `KeyMaterialId`, which AWS reports for symmetric keys only.
    material_id: Option<Arc<str>>,
    plaintext: SecretBytes,
    algorithm: EncryptionAlgorithmSpec,
}

/// A data key pair made under a symmetric key.
struct DataKeyPair {
    key: Arc<HotKey>,
    spec: DataKeyPairSpec,
    private: SecretBytes,
    blob: Vec<u8>,
    public: Vec<u8>,
    material_id: Arc<str>,
}

/// What encrypting under a key gives.
struct Sealed {
    ciphertext: Vec<u8>,
    material_id: Option<Arc<str>>,
    algorithm: EncryptionAlgorithmSpec,
}

impl Kms {
    /// Seal `plaintext` under the key's current version.
    fn seal<'k>(
        &self,
        key: &'k HotKey,
        context: &Option<EncryptionContext>,
        plaintext: &[u8],
    ) -> Result<(Vec<u8>, &'k HotVersion), ServiceError> {
        let version = key.current().ok_or_else(|| ServiceError::KeyNotFound {
            arn: key.arn.to_string(),
        })?;
        let header = Header {
            account: key.locator.account.clone(),
            key_id: key.locator.key_id,
            version: version.number,
            nonce: self.random::<32>()?,
        }
        .encode();
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&header);
        version
            .key
            .seal(&header, &context_bytes(context), plaintext, &mut out)?;
        Ok((out, version))
    }

    /// Encrypt under `key` with a checked `algorithm`: a blob for symmetric
    /// keys, RSAES-OAEP for RSA keys (within the padding's size limit).
    fn encrypt_under(
        &self,
        key: &HotKey,
        algorithm: EncryptionAlgorithmSpec,
        context: &Option<EncryptionContext>,
        plaintext: &[u8],
    ) -> Result<Sealed, ServiceError> {
        if algorithm == EncryptionAlgorithmSpec::SymmetricDefault {
            let (ciphertext, version) = self.seal(key, context, plaintext)?;
            return Ok(Sealed {
                ciphertext,
                material_id: Some(version.material_id.clone()),
                algorithm,
            });
        }
        if context.as_ref().is_some_and(|c| !c.0.is_empty()) {
            return Err(InvalidRequest::ContextWithAsymmetricKey.into());
        }
        let max = spec::rsa_max_plaintext(key.spec, algorithm).unwrap_or(0);
        if plaintext.len() > max {
            return Err(InvalidRequest::RsaPlaintextTooLong {
                algorithm: algorithm.as_str(),
                spec: key.spec.as_str(),
                max,
            }
            .into());
        }
        let version = key.current().ok_or_else(|| ServiceError::KeyNotFound {
            arn: key.arn.to_string(),
        })?;
        // A public-key operation: cheap enough for the async worker.
        let ciphertext = version.key.encrypt(algorithm, plaintext)?;
        Ok(Sealed {
            ciphertext,
            material_id: None,
            algorithm,
        })
    }

    /// Decrypt an RSA ciphertext with the key the request named (a raw RSA
    /// ciphertext names no key): authorize, check usage and state, and
    /// decrypt on the crypto pool. A ciphertext that does not decrypt with
    /// the algorithm asked for (or none asked for) is
    /// `InvalidCiphertextException`, as AWS answers.
    async fn open_asymmetric(
        &self,
        caller: &Caller,
        key: Arc<HotKey>,
        key_id: &str,
        ciphertext: &[u8],
        ask: CryptoAsk<'_>,
        dry_run: bool,
    ) -> Result<Opened, ServiceError> {
        self.authorize_crypto(caller, &key, alias_of(key_id), ask)
            .await?;
        key.check_usable(KeyUsageType::EncryptDecrypt, ask.operation)?;
        let algorithm = match ask.algorithm.and_then(|a| a.known()) {
            None | Some(EncryptionAlgorithmSpec::SymmetricDefault) => {
                return Err(ServiceError::InvalidCiphertext)
            }
            Some(_) => check_algorithm(&key, ask.algorithm)?,
        };
        if ask.context.as_ref().is_some_and(|c| !c.0.is_empty()) {
            return Err(InvalidRequest::ContextWithAsymmetricKey.into());
        }
        if dry_run {
            return Err(ServiceError::DryRun);
        }
        let handle = key
            .current()
            .map(|v| v.key.clone())
            .ok_or(ServiceError::InvalidCiphertext)?;
        let ciphertext = ciphertext.to_vec();
        let plaintext = self
            .offload(handle, move |k| k.decrypt(algorithm, &ciphertext))
            .await?
            .map_err(|e| match e {
                CryptoError::Authentication => ServiceError::InvalidCiphertext,
                other => other.into(),
            })?;
        Ok(Opened {
            key,
            material_id: None,
            plaintext,
            algorithm,
        })
    }

    /// Open any ciphertext: with a named asymmetric key, RSA; otherwise a
    /// blob, which names its key itself.
    async fn open_any(
        &self,
        caller: &Caller,
        ciphertext: &[u8],
        key_id: Option<&str>,
        ask: CryptoAsk<'_>,
        dry_run: bool,
    ) -> Result<Opened, ServiceError> {
        let named = match key_id {
            Some(id) => {
                let loc = self.resolve(caller, id, Accepts::KeyOrAlias).await?;
                let key = self.hot_key(&loc).await?;
                if key.spec != KeySpec::SymmetricDefault {
                    return self
                        .open_asymmetric(caller, key, id, ciphertext, ask, dry_run)
                        .await;
                }
                Some((id, key))
            }
            None => None,
        };
        let opened = self.open(caller, ciphertext, named, ask).await?;
        if dry_run {
            return Err(ServiceError::DryRun);
        }
        Ok(opened)
    }

    /// Find the key of a blob (checking it against the key the request
    /// named, already resolved and loaded, if any), authorize, check its
    /// state, and open the blob.
    async fn open(
        &self,
        caller: &Caller,
        ciphertext: &[u8],
        named: Option<(&str, Arc<HotKey>)>,
        ask: CryptoAsk<'_>,
    ) -> Result<Opened, ServiceError> {
        let parsed = blob::parse(ciphertext).map_err(|_| ServiceError::InvalidCiphertext)?;
        let key_id = named.as_ref().map(|(id, _)| *id);
        let loaded = match named {
            Some((_, key))
                if key.locator.region == caller.region
                    && key.locator.account == parsed.header.account
                    && key.locator.key_id == parsed.header.key_id =>
            {
                Ok(key)
            }
            Some(_) => return Err(ServiceError::IncorrectKey),
            None => {
                let loc = KeyLocator {
                    region: caller.region.clone(),
                    account: parsed.header.account.clone(),
                    key_id: parsed.header.key_id,
                };
                self.hot_key(&loc).await
            }
        };
        let found = match loaded {
            Ok(key) => self
                .authorize_crypto(caller, &key, key_id.and_then(alias_of), ask)
                .await
                .map(|()| key),
            Err(e) => Err(e),
        };
        let key = match found {
            Ok(key) => key,
            // Named by the blob alone: the same answer whether the key does
            // not exist here or the caller may not use it.
            Err(ServiceError::KeyNotFound { .. } | ServiceError::AccessDenied { .. })
                if key_id.is_none() =>
            {
                return Err(ServiceError::CiphertextKeyUnavailable)
            }
            Err(e) => return Err(e),
        };
        key.check_usable(KeyUsageType::EncryptDecrypt, ask.operation)?;
        check_algorithm(&key, ask.algorithm)?;
        let version = key.version(parsed.header.version).ok_or_else(|| {
            if key.is_absent(parsed.header.version) {
                ServiceError::Key(trent_core::KeyError::PendingImport {
                    arn: key.arn.to_string(),
                })
            } else {
                ServiceError::InvalidCiphertext
            }
        })?;
        let plaintext = version
            .key
            .open(
                parsed.header_bytes,
                &context_bytes(ask.context),
                parsed.sealed,
            )
            .map_err(|_| ServiceError::InvalidCiphertext)?;
        let material_id = Some(version.material_id.clone());
        Ok(Opened {
            key,
            material_id,
            plaintext,
            algorithm: EncryptionAlgorithmSpec::SymmetricDefault,
        })
    }

    /// Authorize a cryptographic operation on a cached key.
    async fn authorize_crypto(
        &self,
        caller: &Caller,
        key: &HotKey,
        request_alias: Option<&str>,
        ask: CryptoAsk<'_>,
    ) -> Result<(), ServiceError> {
        self.authorize_key(
            caller,
            ask.action,
            &key.view(),
            &Ask {
                encryption_context: Some(context_map(ask.context)),
                encryption_algorithm: Some(algorithm_name(ask.algorithm)),
                request_alias,
                grant_tokens: ask.grant_tokens,
                ..Default::default()
            },
        )
        .await?;
        Ok(())
    }

    /// The key for an operation that encrypts: resolved, authorized, usable.
    async fn encrypting_key(
        &self,
        caller: &Caller,
        key_id: &str,
        ask: CryptoAsk<'_>,
    ) -> Result<Arc<HotKey>, ServiceError> {
        Self::check_grant_tokens(ask.grant_tokens)?;
        let loc = self.resolve(caller, key_id, Accepts::KeyOrAlias).await?;
        let key = self.hot_key(&loc).await?;
        self.authorize_crypto(caller, &key, alias_of(key_id), ask)
            .await?;
        key.check_usable(KeyUsageType::EncryptDecrypt, ask.operation)?;
        Ok(key)
    }

    pub(crate) fn used(&self, caller: &Caller, key: &HotKey, op: KeyLastUsageTrackingOperation) {
        self.usage.record(
            &key.locator,
            op,
            self.clock.now(),
            &caller.request_id,
            &caller.event_id,
        );
    }

    /// Encrypt.
    pub async fn encrypt(
        &self,
        caller: &Caller,
        r: EncryptRequest,
    ) -> Result<EncryptResponse, ServiceError> {
        let ask = CryptoAsk {
            action: Action::Encrypt,
            operation: "Encrypt",
            context: &r.encryption_context,
            algorithm: r.encryption_algorithm.as_ref(),
            grant_tokens: r.grant_tokens.as_deref().unwrap_or_default(),
        };
        let key = self.encrypting_key(caller, req(&r.key_id), ask).await?;
        let algorithm = check_algorithm(&key, r.encryption_algorithm.as_ref())?;
        if r.dry_run == Some(true) {
            return Err(ServiceError::DryRun);
        }
        let plaintext = r.plaintext.unwrap_or_default();
        let sealed = self.encrypt_under(&key, algorithm, &r.encryption_context, &plaintext.0)?;
        if let Some(id) = &sealed.material_id {
            caller.notes.key_material(id);
        }
        self.used(caller, &key, KeyLastUsageTrackingOperation::Encrypt);
        Ok(EncryptResponse {
            ciphertext_blob: Blob(sealed.ciphertext),
            key_id: key.arn.clone(),
            encryption_algorithm: sealed.algorithm,
        })
    }

    /// `DryRun` with `IGNORE_CIPHERTEXT`: check the named key (found, allowed,
    /// usable, algorithm) without opening the blob, and answer
    /// `DryRunOperationException`. `Ok(())` when that modifier is not set.
    async fn dry_run_ignoring_ciphertext(
        &self,
        caller: &Caller,
        dry_run: Option<bool>,
        modifiers: Option<&[WireEnum<DryRunModifierType>]>,
        key_id: Result<&str, InvalidRequest>,
        ask: CryptoAsk<'_>,
    ) -> Result<(), ServiceError> {
        if !trent_proto::ops::ignores_ciphertext(dry_run, modifiers) {
            return Ok(());
        }
        let key = self.encrypting_key(caller, key_id?, ask).await?;
        check_algorithm(&key, ask.algorithm)?;
        Err(ServiceError::DryRun)
    }

    /// Decrypt.
    pub async fn decrypt(
        &self,
        caller: &Caller,
        r: DecryptRequest,
    ) -> Result<DecryptResponse, ServiceError> {
        if r.recipient.is_some() {
            return Err(Unsupported::Recipient.into());
        }
        let tokens = r.grant_tokens.as_deref().unwrap_or_default();
        Self::check_grant_tokens(tokens)?;
        let ask = CryptoAsk {
            action: Action::Decrypt,
            operation: "Decrypt",
            context: &r.encryption_context,
            algorithm: r.encryption_algorithm.as_ref(),
            grant_tokens: tokens,
        };
        self.dry_run_ignoring_ciphertext(
            caller,
            r.dry_run,
            r.dry_run_modifiers.as_deref(),
            r.key_id
                .as_deref()
                .ok_or(InvalidRequest::IgnoreCiphertextNeedsKeyId),
            ask,
        )
        .await?;
        let ciphertext = r
            .ciphertext_blob
            .as_ref()
            .map(|b| &b.0[..])
            .unwrap_or_default();
        let opened = self
            .open_any(
                caller,
                ciphertext,
                r.key_id.as_deref(),
                ask,
                r.dry_run == Some(true),
            )
            .await?;
        if let Some(id) = &opened.material_id {
            caller.notes.key_material(id);
        }
        self.used(caller, &opened.key, KeyLastUsageTrackingOperation::Decrypt);
        Ok(DecryptResponse {
            key_id: opened.key.arn.clone(),
            plaintext: SecretBlob(opened.plaintext.0),
            encryption_algorithm: opened.algorithm,
            key_material_id: opened.material_id,
        })
    }

    /// ReEncrypt.
    pub async fn re_encrypt(
        &self,
        caller: &Caller,
        r: ReEncryptRequest,
    ) -> Result<ReEncryptResponse, ServiceError> {
        let tokens = r.grant_tokens.as_deref().unwrap_or_default();
        let to = CryptoAsk {
            action: Action::ReEncryptTo,
            operation: "ReEncrypt",
            context: &r.destination_encryption_context,
            algorithm: r.destination_encryption_algorithm.as_ref(),
            grant_tokens: tokens,
        };
        let from = CryptoAsk {
            action: Action::ReEncryptFrom,
            operation: "ReEncrypt",
            context: &r.source_encryption_context,
            algorithm: r.source_encryption_algorithm.as_ref(),
            grant_tokens: tokens,
        };
        let destination = self
            .encrypting_key(caller, req(&r.destination_key_id), to)
            .await?;
        let destination_algorithm =
            check_algorithm(&destination, r.destination_encryption_algorithm.as_ref())?;
        self.dry_run_ignoring_ciphertext(
            caller,
            r.dry_run,
            r.dry_run_modifiers.as_deref(),
            r.source_key_id
                .as_deref()
                .ok_or(InvalidRequest::IgnoreCiphertextNeedsSourceKeyId),
            from,
        )
        .await?;
        let ciphertext = r
            .ciphertext_blob
            .as_ref()
            .map(|b| &b.0[..])
            .unwrap_or_default();
        let opened = self
            .open_any(
                caller,
                ciphertext,
                r.source_key_id.as_deref(),
                from,
                r.dry_run == Some(true),
            )
            .await?;
        let sealed = self.encrypt_under(
            &destination,
            destination_algorithm,
            &r.destination_encryption_context,
            opened.plaintext.expose(),
        )?;
        self.used(
            caller,
            &opened.key,
            KeyLastUsageTrackingOperation::ReEncrypt,
        );
        self.used(
            caller,
            &destination,
            KeyLastUsageTrackingOperation::ReEncrypt,
        );
        Ok(ReEncryptResponse {
            ciphertext_blob: Blob(sealed.ciphertext),
            source_key_id: opened.key.arn.clone(),
            key_id: destination.arn.clone(),
            source_encryption_algorithm: opened.algorithm,
            destination_encryption_algorithm: sealed.algorithm,
            source_key_material_id: opened.material_id,
            destination_key_material_id: sealed.material_id,
        })
    }

    /// The symmetric key a GenerateDataKey* or GenerateDataKeyPair* request
    /// names: resolved, authorized, usable, and not asymmetric.
    async fn data_key_target(
        &self,
        caller: &Caller,
        (key_id, context, grant_tokens): (
            &Option<String>,
            &Option<EncryptionContext>,
            &Option<Vec<String>>,
        ),
        recipient: bool,
        (action, operation): (Action, &'static str),
    ) -> Result<Arc<HotKey>, ServiceError> {
        if recipient {
            return Err(Unsupported::Recipient.into());
        }
        let ask = CryptoAsk {
            action,
            operation,
            context,
            algorithm: None,
            grant_tokens: grant_tokens.as_deref().unwrap_or_default(),
        };
        let key = self.encrypting_key(caller, req(key_id), ask).await?;
        if key.spec != KeySpec::SymmetricDefault {
            return Err(ServiceError::AsymmetricDataKey);
        }
        Ok(key)
    }

    /// The shared part of GenerateDataKey and GenerateDataKeyWithoutPlaintext.
    async fn data_key(
        &self,
        caller: &Caller,
        r: &GenerateDataKeyRequest,
        action: Action,
        operation: &'static str,
    ) -> Result<(Arc<HotKey>, Zeroizing<Vec<u8>>, Vec<u8>, Arc<str>), ServiceError> {
        let key = self
            .data_key_target(
                caller,
                (&r.key_id, &r.encryption_context, &r.grant_tokens),
                r.recipient.is_some(),
                (action, operation),
            )
            .await?;
        let size = match (
            r.key_spec.as_ref().and_then(|s| s.known()),
            r.number_of_bytes,
        ) {
            (Some(DataKeySpec::Aes256), None) => 32,
            (Some(DataKeySpec::Aes128), None) => 16,
            (None, Some(n)) => usize::try_from(n).map_err(|_| InvalidRequest::DataKeySize)?,
            _ => return Err(InvalidRequest::DataKeySize.into()),
        };
        if r.dry_run == Some(true) {
            return Err(ServiceError::DryRun);
        }
        let mut data_key = Zeroizing::new(vec![0u8; size]);
        self.provider.fill_random(&mut data_key)?;
        let (blob, version) = self.seal(&key, &r.encryption_context, &data_key)?;
        let material_id = version.material_id.clone();
        caller.notes.key_material(&material_id);
        Ok((key, data_key, blob, material_id))
    }

    /// GenerateDataKey.
    pub async fn generate_data_key(
        &self,
        caller: &Caller,
        r: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse, ServiceError> {
        let (key, plaintext, blob, material_id) = self
            .data_key(caller, &r, Action::GenerateDataKey, "GenerateDataKey")
            .await?;
        self.used(caller, &key, KeyLastUsageTrackingOperation::GenerateDataKey);
        Ok(GenerateDataKeyResponse {
            ciphertext_blob: Blob(blob),
            plaintext: SecretBlob(plaintext),
            key_id: key.arn.clone(),
            key_material_id: material_id,
        })
    }

    /// GenerateDataKeyWithoutPlaintext.
    pub async fn generate_data_key_without_plaintext(
        &self,
        caller: &Caller,
        r: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyWithoutPlaintextResponse, ServiceError> {
        let (key, _plaintext, blob, material_id) = self
            .data_key(
                caller,
                &r,
                Action::GenerateDataKeyWithoutPlaintext,
                "GenerateDataKeyWithoutPlaintext",
            )
            .await?;
        self.used(
            caller,
            &key,
            KeyLastUsageTrackingOperation::GenerateDataKeyWithoutPlaintext,
        );
        Ok(GenerateDataKeyWithoutPlaintextResponse {
            ciphertext_blob: Blob(blob),
            key_id: key.arn.clone(),
            key_material_id: material_id,
        })
    }

    /// The shared part of GenerateDataKeyPair and
    /// GenerateDataKeyPairWithoutPlaintext: a fresh key pair, its private
    /// key (PKCS#8 DER) sealed under a symmetric key, its public key (SPKI).
    async fn data_key_pair(
        &self,
        caller: &Caller,
        r: &GenerateDataKeyPairRequest,
        action: Action,
        operation: &'static str,
    ) -> Result<DataKeyPair, ServiceError> {
        let key = self
            .data_key_target(
                caller,
                (&r.key_id, &r.encryption_context, &r.grant_tokens),
                r.recipient.is_some(),
                (action, operation),
            )
            .await?;
        let pair_spec = r
            .key_pair_spec
            .as_ref()
            .and_then(|s| s.known())
            .unwrap_or(DataKeyPairSpec::EccNistP256);
        let spec = KeySpec::parse(pair_spec.as_str()).unwrap_or(KeySpec::Sm2);
        if !spec::offered(spec) {
            return Err(Unsupported::RegionSpec(pair_spec.as_str()).into());
        }
        if r.dry_run == Some(true) {
            return Err(ServiceError::DryRun);
        }
        // RSA key generation takes up to seconds: on the crypto pool, with
        // the other expensive work, never more than one job per core.
        let provider = self.provider.clone();
        let (private, public) = self
            .heavy
            .run(move || {
                let private = provider.generate_key(spec)?;
                let public = provider
                    .load_key(spec, &private)?
                    .public_key()
                    .map(<[u8]>::to_vec)
                    .ok_or(CryptoError::InvalidKey)?;
                Ok::<_, CryptoError>((private, public))
            })
            .await
            .map_err(|e| ServiceError::Internal(crate::InternalError::Pool(e)))??;
        let (blob, version) = self.seal(&key, &r.encryption_context, private.expose())?;
        let material_id = version.material_id.clone();
        caller.notes.key_material(&material_id);
        Ok(DataKeyPair {
            key,
            spec: pair_spec,
            private,
            blob,
            public,
            material_id,
        })
    }

    /// GenerateDataKeyPair.
    pub async fn generate_data_key_pair(
        &self,
        caller: &Caller,
        r: GenerateDataKeyPairRequest,
    ) -> Result<GenerateDataKeyPairResponse, ServiceError> {
        let p = self
            .data_key_pair(
                caller,
                &r,
                Action::GenerateDataKeyPair,
                "GenerateDataKeyPair",
            )
            .await?;
        self.used(
            caller,
            &p.key,
            KeyLastUsageTrackingOperation::GenerateDataKeyPair,
        );
        Ok(GenerateDataKeyPairResponse {
            private_key_ciphertext_blob: Blob(p.blob),
            private_key_plaintext: SecretBlob(p.private.0),
            public_key: Blob(p.public),
            key_id: p.key.arn.clone(),
            key_pair_spec: p.spec,
            key_material_id: p.material_id,
        })
    }

    /// GenerateDataKeyPairWithoutPlaintext.
    pub async fn generate_data_key_pair_without_plaintext(
        &self,
        caller: &Caller,
        r: GenerateDataKeyPairRequest,
    ) -> Result<GenerateDataKeyPairWithoutPlaintextResponse, ServiceError> {
        let p = self
            .data_key_pair(
                caller,
                &r,
                Action::GenerateDataKeyPairWithoutPlaintext,
                "GenerateDataKeyPairWithoutPlaintext",
            )
            .await?;
        self.used(
            caller,
            &p.key,
            KeyLastUsageTrackingOperation::GenerateDataKeyPairWithoutPlaintext,
        );
        Ok(GenerateDataKeyPairWithoutPlaintextResponse {
            private_key_ciphertext_blob: Blob(p.blob),
            public_key: Blob(p.public),
            key_id: p.key.arn.clone(),
            key_pair_spec: p.spec,
            key_material_id: p.material_id,
        })
    }

    /// GenerateRandom.
    pub async fn generate_random(
        &self,
        caller: &Caller,
        r: GenerateRandomRequest,
    ) -> Result<GenerateRandomResponse, ServiceError> {
        self.authorize_identity(caller, Action::GenerateRandom, "*", &Ask::default())?;
        if r.recipient.is_some() {
            return Err(Unsupported::Recipient.into());
        }
        if let Some(id) = r.custom_key_store_id {
            return Err(ServiceError::CustomKeyStoreNotFound(id));
        }
        let n = r
            .number_of_bytes
            .ok_or(InvalidRequest::NumberOfBytesRequired)?;
        let mut out = Zeroizing::new(vec![0u8; usize::try_from(n).unwrap_or(0)]);
        self.provider.fill_random(&mut out)?;
        Ok(GenerateRandomResponse {
            plaintext: SecretBlob(out),
        })
    }
}
