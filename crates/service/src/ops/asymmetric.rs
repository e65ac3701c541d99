//! Sign, Verify, GetPublicKey, GenerateMac, VerifyMac, DeriveSharedSecret:
//! the operations of asymmetric and HMAC keys. Like the symmetric hot path
//! they read keys from the cache; operations that cost hundreds of
//! microseconds (RSA and ML-DSA signing, P-384/P-521 and secp256k1 curve
//! arithmetic) run on the crypto pool (see [`Kms::offload`]).
//!
//! The order of checks is AWS's: request validation, then the key's usage,
//! then its state, then the algorithm against the spec, then the message
//! type and digest length.

use super::keys::req;
use crate::authz::{request_alias as alias_of, Algorithms, Ask};
use crate::cache::HotKey;
use crate::{Caller, InvalidRequest, Kms, ServiceError, Unsupported};
use std::sync::Arc;
use trent_core::authz::Action;
use trent_core::ids::Accepts;
use trent_core::{spec, CryptoError, KeyHandle, SignInput};
use trent_proto::ops::*;
use trent_proto::*;

/// A Sign or Verify request's checked input.
struct Signing {
    algorithm: SigningAlgorithmSpec,
    kind: MessageType,
}

/// Check a signing algorithm and message type against a key: the
/// algorithm must be one the spec lists, the message type one the
/// algorithm takes, and a digest as long as the algorithm's hash.
fn check_signing(
    key: &HotKey,
    algorithm: Option<&WireEnum<SigningAlgorithmSpec>>,
    kind: Option<&WireEnum<MessageType>>,
    message: &[u8],
) -> Result<Signing, ServiceError> {
    // Validation has refused unknown values; absent means RAW.
    let algorithm = algorithm
        .and_then(|a| a.known())
        .ok_or(ServiceError::InvalidSignature)?;
    let kind = kind.and_then(|k| k.known()).unwrap_or(MessageType::Raw);
    let offered = spec::algorithms(key.spec, key.usage).signing.unwrap_or(&[]);
    if !offered.contains(&algorithm) {
        return Err(ServiceError::AlgorithmSpecMismatch {
            algorithm: algorithm.as_str(),
            spec: key.spec.as_str(),
        });
    }
    if !spec::accepts(algorithm, kind) {
        return Err(if algorithm == SigningAlgorithmSpec::MlDsaShake256 {
            InvalidRequest::MessageTypeForSpec {
                kind: kind.as_str(),
                spec: key.spec.as_str(),
            }
        } else {
            InvalidRequest::MessageTypeForAlgorithm {
                kind: kind.as_str(),
                algorithm: algorithm.as_str(),
            }
        }
        .into());
    }
    match kind {
        MessageType::Digest if Some(message.len()) != spec::digest_len(algorithm) => {
            Err(InvalidRequest::DigestLength(algorithm.as_str()).into())
        }
        MessageType::ExternalMu if message.len() != 64 => {
            Err(InvalidRequest::DigestLength(algorithm.as_str()).into())
        }
        _ => Ok(Signing { algorithm, kind }),
    }
}

/// `kms:MessageType`: absent is `RAW`.
fn message_type(kind: Option<&WireEnum<MessageType>>) -> &str {
    kind.map_or("RAW", |k| k.raw())
}

fn sign_input(kind: MessageType, message: &[u8]) -> SignInput<'_> {
    match kind {
        MessageType::Digest => SignInput::Digest(message),
        MessageType::ExternalMu => SignInput::ExternalMu(message),
        _ => SignInput::Raw(message),
    }
}

/// A MAC request's algorithm, checked against an HMAC key.
fn check_mac(
    key: &HotKey,
    algorithm: Option<&WireEnum<MacAlgorithmSpec>>,
) -> Result<MacAlgorithmSpec, ServiceError> {
    let algorithm = algorithm
        .and_then(|a| a.known())
        .ok_or(ServiceError::InvalidMac)?;
    let offered = spec::algorithms(key.spec, key.usage).mac.unwrap_or(&[]);
    if !offered.contains(&algorithm) {
        return Err(ServiceError::AlgorithmSpecMismatch {
            algorithm: algorithm.as_str(),
            spec: key.spec.as_str(),
        });
    }
    Ok(algorithm)
}

/// The current version's handle of a key.
fn handle(key: &HotKey) -> Result<Arc<dyn KeyHandle>, ServiceError> {
    key.current()
        .map(|v| v.key.clone())
        .ok_or_else(|| ServiceError::KeyNotFound {
            arn: key.arn.to_string(),
        })
}

impl Kms {
    /// Run `f` on a key handle: inline when the handle's operations are
    /// cheap, otherwise on the crypto pool (one thread per core), so that
    /// RSA or ML-DSA work at full load leaves the async workers free to
    /// answer symmetric requests.
    pub(crate) async fn offload<T, F>(
        &self,
        key: Arc<dyn KeyHandle>,
        f: F,
    ) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn KeyHandle) -> T + Send + 'static,
    {
        if !key.expensive() {
            return Ok(f(key.as_ref()));
        }
        self.heavy
            .run(move || f(key.as_ref()))
            .await
            .map_err(|e| ServiceError::Internal(crate::InternalError::Pool(e)))
    }

    /// The key an asymmetric or HMAC operation names: resolved, authorized,
    /// of the right usage and state.
    async fn key_for(
        &self,
        caller: &Caller,
        key_id: &str,
        (action, usage, operation): (Action, KeyUsageType, &'static str),
        grant_tokens: &[String],
        algorithms: Algorithms<'_>,
    ) -> Result<Arc<HotKey>, ServiceError> {
        Self::check_grant_tokens(grant_tokens)?;
        let loc = self.resolve(caller, key_id, Accepts::KeyOrAlias).await?;
        let key = self.hot_key(&loc).await?;
        let ask = Ask {
            request_alias: alias_of(key_id),
            grant_tokens,
            algorithms,
            ..Default::default()
        };
        self.authorize_key(caller, action, &key.view(), &ask)
            .await?;
        key.check_usable(usage, operation)?;
        caller.notes.key(&key.arn);
        Ok(key)
    }

    /// The key and checked input of a Sign or Verify request.
    async fn signing(
        &self,
        caller: &Caller,
        key_id: &Option<String>,
        (action, operation): (Action, &'static str),
        grant_tokens: &Option<Vec<String>>,
        (algorithm, kind): (
            Option<&WireEnum<SigningAlgorithmSpec>>,
            Option<&WireEnum<MessageType>>,
        ),
        message: &[u8],
    ) -> Result<(Arc<HotKey>, Signing), ServiceError> {
        let key = self
            .key_for(
                caller,
                req(key_id),
                (action, KeyUsageType::SignVerify, operation),
                grant_tokens.as_deref().unwrap_or_default(),
                Algorithms {
                    signing: algorithm.map(|a| a.raw()),
                    message_type: Some(message_type(kind)),
                    ..Default::default()
                },
            )
            .await?;
        let checked = check_signing(&key, algorithm, kind, message)?;
        Ok((key, checked))
    }

    /// Sign.
    pub async fn sign(
        &self,
        caller: &Caller,
        r: SignRequest,
    ) -> Result<SignResponse, ServiceError> {
        let message = r.message.unwrap_or_default().0;
        let (key, s) = self
            .signing(
                caller,
                &r.key_id,
                (Action::Sign, "Sign"),
                &r.grant_tokens,
                (r.signing_algorithm.as_ref(), r.message_type.as_ref()),
                &message,
            )
            .await?;
        if r.dry_run == Some(true) {
            return Err(ServiceError::DryRun);
        }
        let algorithm = s.algorithm;
        let signature = self
            .offload(handle(&key)?, move |k| {
                k.sign(algorithm, sign_input(s.kind, &message))
            })
            .await?
            .map_err(|e| unsupported_or_internal(e, "Sign with this algorithm and message type"))?;
        self.used(caller, &key, KeyLastUsageTrackingOperation::Sign);
        Ok(SignResponse {
            key_id: key.arn.clone(),
            signature: Blob(signature),
            signing_algorithm: algorithm,
        })
    }

    /// Verify.
    pub async fn verify(
        &self,
        caller: &Caller,
        r: VerifyRequest,
    ) -> Result<VerifyResponse, ServiceError> {
        let message = r.message.unwrap_or_default().0;
        let (key, s) = self
            .signing(
                caller,
                &r.key_id,
                (Action::Verify, "Verify"),
                &r.grant_tokens,
                (r.signing_algorithm.as_ref(), r.message_type.as_ref()),
                &message,
            )
            .await?;
        if r.dry_run == Some(true) {
            return Err(ServiceError::DryRun);
        }
        let signature = r.signature.unwrap_or_default().0;
        let algorithm = s.algorithm;
        // Public-key work, but P-384/P-521 and secp256k1 verification costs
        // hundreds of microseconds: the handle says where it runs.
        let valid = self
            .offload(handle(&key)?, move |k| {
                k.verify(algorithm, sign_input(s.kind, &message), &signature)
            })
            .await?
            .map_err(|e| {
                unsupported_or_internal(e, "Verify with this algorithm and message type")
            })?;
        if !valid {
            return Err(ServiceError::InvalidSignature);
        }
        self.used(caller, &key, KeyLastUsageTrackingOperation::Verify);
        Ok(VerifyResponse {
            key_id: key.arn.clone(),
            signature_valid: true,
            signing_algorithm: algorithm,
        })
    }

    /// GetPublicKey.
    pub async fn get_public_key(
        &self,
        caller: &Caller,
        r: GetPublicKeyRequest,
    ) -> Result<GetPublicKeyResponse, ServiceError> {
        let tokens = r.grant_tokens.as_deref().unwrap_or_default();
        Self::check_grant_tokens(tokens)?;
        let key_id = req(&r.key_id);
        let loc = self.resolve(caller, key_id, Accepts::KeyOrAlias).await?;
        let key = self.hot_key(&loc).await?;
        let ask = Ask {
            request_alias: alias_of(key_id),
            grant_tokens: tokens,
            ..Default::default()
        };
        self.authorize_key(caller, Action::GetPublicKey, &key.view(), &ask)
            .await?;
        caller.notes.key(&key.arn);
        // The key-state table of AWS's developer guide: GetPublicKey fails
        // on a disabled key (DisabledException) and on one pending deletion.
        key.check_usable(key.usage, "GetPublicKey")?;
        let public = handle(&key)?
            .public_key()
            .map(<[u8]>::to_vec)
            .ok_or(ServiceError::NotForThisKey)?;
        let a = spec::algorithms(key.spec, key.usage);
        Ok(GetPublicKeyResponse {
            key_id: key.arn.clone(),
            public_key: Blob(public),
            customer_master_key_spec: key.spec,
            key_spec: key.spec,
            key_usage: key.usage,
            encryption_algorithms: a.encryption.map(<[_]>::to_vec),
            signing_algorithms: a.signing.map(<[_]>::to_vec),
            key_agreement_algorithms: a.key_agreement.map(<[_]>::to_vec),
            encapsulation_algorithms: a.encapsulation.map(<[_]>::to_vec),
        })
    }

    /// The key and algorithm of a GenerateMac or VerifyMac request, checked
    /// (and the dry run answered).
    async fn mac_key(
        &self,
        caller: &Caller,
        (key_id, grant_tokens): (&Option<String>, &Option<Vec<String>>),
        (action, operation): (Action, &'static str),
        algorithm: Option<&WireEnum<MacAlgorithmSpec>>,
        dry_run: Option<bool>,
    ) -> Result<(Arc<HotKey>, MacAlgorithmSpec), ServiceError> {
        let key = self
            .key_for(
                caller,
                req(key_id),
                (action, KeyUsageType::GenerateVerifyMac, operation),
                grant_tokens.as_deref().unwrap_or_default(),
                Algorithms {
                    mac: algorithm.map(|a| a.raw()),
                    ..Default::default()
                },
            )
            .await?;
        let checked = check_mac(&key, algorithm)?;
        if dry_run == Some(true) {
            return Err(ServiceError::DryRun);
        }
        Ok((key, checked))
    }

    /// GenerateMac.
    pub async fn generate_mac(
        &self,
        caller: &Caller,
        r: GenerateMacRequest,
    ) -> Result<GenerateMacResponse, ServiceError> {
        let (key, algorithm) = self
            .mac_key(
                caller,
                (&r.key_id, &r.grant_tokens),
                (Action::GenerateMac, "GenerateMac"),
                r.mac_algorithm.as_ref(),
                r.dry_run,
            )
            .await?;
        let message = r.message.unwrap_or_default().0;
        let mac = handle(&key)?.mac(algorithm, &message)?;
        self.used(caller, &key, KeyLastUsageTrackingOperation::GenerateMac);
        Ok(GenerateMacResponse {
            mac: Blob(mac),
            mac_algorithm: algorithm,
            key_id: key.arn.clone(),
        })
    }

    /// VerifyMac.
    pub async fn verify_mac(
        &self,
        caller: &Caller,
        r: VerifyMacRequest,
    ) -> Result<VerifyMacResponse, ServiceError> {
        let (key, algorithm) = self
            .mac_key(
                caller,
                (&r.key_id, &r.grant_tokens),
                (Action::VerifyMac, "VerifyMac"),
                r.mac_algorithm.as_ref(),
                r.dry_run,
            )
            .await?;
        let message = r.message.unwrap_or_default().0;
        let mac = r.mac.unwrap_or_default().0;
        if !handle(&key)?.verify_mac(algorithm, &message, &mac)? {
            return Err(ServiceError::InvalidMac);
        }
        self.used(caller, &key, KeyLastUsageTrackingOperation::VerifyMac);
        Ok(VerifyMacResponse {
            key_id: key.arn.clone(),
            mac_valid: true,
            mac_algorithm: algorithm,
        })
    }

    /// DeriveSharedSecret.
    pub async fn derive_shared_secret(
        &self,
        caller: &Caller,
        r: DeriveSharedSecretRequest,
    ) -> Result<DeriveSharedSecretResponse, ServiceError> {
        if r.recipient.is_some() {
            return Err(Unsupported::Recipient.into());
        }
        let key = self
            .key_for(
                caller,
                req(&r.key_id),
                (
                    Action::DeriveSharedSecret,
                    KeyUsageType::KeyAgreement,
                    "DeriveSharedSecret",
                ),
                r.grant_tokens.as_deref().unwrap_or_default(),
                Algorithms {
                    key_agreement: r.key_agreement_algorithm.as_ref().map(|a| a.raw()),
                    ..Default::default()
                },
            )
            .await?;
        let algorithm = r
            .key_agreement_algorithm
            .as_ref()
            .and_then(|a| a.known())
            .unwrap_or(KeyAgreementAlgorithmSpec::Ecdh);
        if r.dry_run == Some(true) {
            return Err(ServiceError::DryRun);
        }
        let peer = r.public_key.unwrap_or_default().0;
        let secret = self
            .offload(handle(&key)?, move |k| k.derive_shared_secret(&peer))
            .await?
            .map_err(|e| match e {
                CryptoError::InvalidPeerKey => ServiceError::InvalidPublicKey,
                other => other.into(),
            })?;
        self.used(
            caller,
            &key,
            KeyLastUsageTrackingOperation::DeriveSharedSecret,
        );
        Ok(DeriveSharedSecretResponse {
            key_id: key.arn.clone(),
            shared_secret: SecretBlob(secret.0),
            key_agreement_algorithm: algorithm,
            key_origin: key.origin,
        })
    }

    /// The ML-KEM key an Encapsulate or Decapsulate request names, checked
    /// (and the dry run answered).
    async fn kem_key(
        &self,
        caller: &Caller,
        (key_id, grant_tokens): (&Option<String>, &Option<Vec<String>>),
        (action, operation): (Action, &'static str),
        dry_run: Option<bool>,
    ) -> Result<Arc<HotKey>, ServiceError> {
        let key = self
            .key_for(
                caller,
                req(key_id),
                (action, KeyUsageType::EncapsulateDecapsulate, operation),
                grant_tokens.as_deref().unwrap_or_default(),
                Algorithms::default(),
            )
            .await?;
        if dry_run == Some(true) {
            return Err(ServiceError::DryRun);
        }
        Ok(key)
    }

    /// Encapsulate: a fresh ML-KEM shared secret and its ciphertext, made
    /// with the key's public half.
    pub async fn encapsulate(
        &self,
        caller: &Caller,
        r: EncapsulateRequest,
    ) -> Result<EncapsulateResponse, ServiceError> {
        let key = self
            .kem_key(
                caller,
                (&r.key_id, &r.grant_tokens),
                (Action::Encapsulate, "Encapsulate"),
                r.dry_run,
            )
            .await?;
        let (ciphertext, secret) = handle(&key)?.encapsulate()?;
        self.used(caller, &key, KeyLastUsageTrackingOperation::Encapsulate);
        Ok(EncapsulateResponse {
            key_id: key.arn.clone(),
            shared_secret: SecretBlob(secret.0),
            shared_secret_ciphertext_blob: Blob(ciphertext),
            encapsulation_algorithm: EncapsulationAlgorithmSpec::MlKem,
        })
    }

    /// Decapsulate. A ciphertext of the right length that was not made for
    /// this key gives a pseudo-random secret (ML-KEM's implicit rejection);
    /// one of the wrong length is `InvalidCiphertextException`.
    pub async fn decapsulate(
        &self,
        caller: &Caller,
        r: DecapsulateRequest,
    ) -> Result<DecapsulateResponse, ServiceError> {
        let key = self
            .kem_key(
                caller,
                (&r.key_id, &r.grant_tokens),
                (Action::Decapsulate, "Decapsulate"),
                r.dry_run,
            )
            .await?;
        let ciphertext = r.shared_secret_ciphertext_blob.unwrap_or_default().0;
        let secret = handle(&key)?
            .decapsulate(&ciphertext)
            .map_err(|e| match e {
                CryptoError::InvalidPeerKey => ServiceError::InvalidCiphertext,
                other => other.into(),
            })?;
        self.used(caller, &key, KeyLastUsageTrackingOperation::Decapsulate);
        Ok(DecapsulateResponse {
            key_id: key.arn.clone(),
            shared_secret: SecretBlob(secret.0),
            encapsulation_algorithm: EncapsulationAlgorithmSpec::MlKem,
        })
    }
}

/// A handle's refusal of something the spec table allowed is a gap of the
/// backend (Ed25519ph, ML-DSA external μ in the software provider), said
/// as such; anything else is an internal error.
fn unsupported_or_internal(e: CryptoError, what: &'static str) -> ServiceError {
    match e {
        CryptoError::Unsupported => Unsupported::Operation(what).into(),
        other => other.into(),
    }
}
