//! GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial.
//!
//! The import token is stateless: the wrapping key pair's private half, the
//! wrapping algorithm, the token's id and its expiry, wrapped by the root key
//! with the key ARN as additional data. A token therefore works only for the
//! key it was issued for (anything else fails to unwrap), cannot be read or
//! forged without the root key, and needs no table of pending imports. It is
//! single-use: its id is recorded in the key record by the same
//! compare-and-swap that commits the material (see [`KeyRecord::import`]).
//! The format is in `docs/formats.md`.

use crate::{Caller, InvalidRequest, Kms, ServiceError, Unsupported};
use trent_core::authz::Action;
use trent_core::clock::DAY_MS;
use trent_core::ids::{Accepts, KeyLocator};
use trent_core::key::{Import, ImportKind, KeyRecord, KeyVersion, SpentToken};
use trent_core::{ImportWrapping, Millis, SecretBytes};
use trent_proto::ops::*;
use trent_proto::*;
use zeroize::Zeroizing;

/// How long a public key and import token are valid.
const TOKEN_LIFETIME_MS: Millis = DAY_MS;
/// `ValidTo` must be in the future, and at most this far.
const MAX_VALID_MS: Millis = 365 * DAY_MS;
/// Version of the token payload.
const TOKEN_V1: u8 = 1;
/// Bytes before the wrapping key in the payload: version, id, expiry,
/// algorithm, wrapping key spec.
const TOKEN_HEADER: usize = 1 + 16 + 8 + 1 + 1;

fn token_aad(loc: &KeyLocator) -> Vec<u8> {
    format!("trent/v1/import-token/{}", loc.arn()).into_bytes()
}

/// The wrapping algorithms Trent offers, with their byte in the token.
const WRAPPINGS: [(AlgorithmSpec, ImportWrapping, u8); 4] = [
    (AlgorithmSpec::RsaesOaepSha1, ImportWrapping::OaepSha1, 1),
    (
        AlgorithmSpec::RsaesOaepSha256,
        ImportWrapping::OaepSha256,
        2,
    ),
    (
        AlgorithmSpec::RsaAesKeyWrapSha1,
        ImportWrapping::AesKeyWrapSha1,
        3,
    ),
    (
        AlgorithmSpec::RsaAesKeyWrapSha256,
        ImportWrapping::AesKeyWrapSha256,
        4,
    ),
];

/// The wrapping key specs Trent offers, with their byte in the token.
const WRAPPING_SPECS: [(WrappingKeySpec, KeySpec, u8); 3] = [
    (WrappingKeySpec::Rsa2048, KeySpec::Rsa2048, 1),
    (WrappingKeySpec::Rsa3072, KeySpec::Rsa3072, 2),
    (WrappingKeySpec::Rsa4096, KeySpec::Rsa4096, 3),
];

/// What an import token carries.
struct Token {
    id: [u8; 16],
    expires_at: Millis,
    algorithm: ImportWrapping,
    spec: KeySpec,
    key: SecretBytes,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("id", &hex::encode(self.id))
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Token {
    fn encode(&self) -> SecretBytes {
        let algorithm = WRAPPINGS
            .iter()
            .find(|w| w.1 == self.algorithm)
            .map_or(0, |w| w.2);
        let spec = WRAPPING_SPECS
            .iter()
            .find(|w| w.1 == self.spec)
            .map_or(0, |w| w.2);
        let mut p = Zeroizing::new(Vec::with_capacity(TOKEN_HEADER + self.key.expose().len()));
        p.push(TOKEN_V1);
        p.extend_from_slice(&self.id);
        p.extend_from_slice(&self.expires_at.to_be_bytes());
        p.push(algorithm);
        p.push(spec);
        p.extend_from_slice(self.key.expose());
        SecretBytes(p)
    }

    fn decode(p: &SecretBytes) -> Option<Token> {
        let p = p.expose();
        if p.len() <= TOKEN_HEADER || p[0] != TOKEN_V1 {
            return None;
        }
        Some(Token {
            id: p[1..17].try_into().ok()?,
            expires_at: i64::from_be_bytes(p[17..25].try_into().ok()?),
            algorithm: WRAPPINGS.iter().find(|w| w.2 == p[25])?.1,
            spec: WRAPPING_SPECS.iter().find(|w| w.2 == p[26])?.1,
            key: SecretBytes::new(p[TOKEN_HEADER..].to_vec()),
        })
    }
}

fn require_external(rec: &KeyRecord) -> Result<(), ServiceError> {
    if rec.origin != OriginType::External {
        return Err(Unsupported::NotExternal {
            arn: rec.arn(),
            origin: rec.origin.as_str(),
        }
        .into());
    }
    Ok(())
}

impl Kms {
    /// GetParametersForImport: a fresh RSA wrapping key pair (made on the
    /// crypto pool: RSA-4096 takes up to seconds) and its token.
    pub async fn get_parameters_for_import(
        &self,
        caller: &Caller,
        r: GetParametersForImportRequest,
    ) -> Result<GetParametersForImportResponse, ServiceError> {
        let algorithm = r
            .wrapping_algorithm
            .as_ref()
            .and_then(|a| a.known())
            .unwrap_or(AlgorithmSpec::RsaesOaepSha256);
        let key_spec = r
            .wrapping_key_spec
            .as_ref()
            .and_then(|a| a.known())
            .unwrap_or(WrappingKeySpec::Rsa2048);
        let ask = crate::authz::Ask {
            key_set: trent_core::authz::KeySetFacts {
                wrapping_algorithm: Some(algorithm.as_str()),
                wrapping_key_spec: Some(key_spec.as_str()),
                ..Default::default()
            },
            ..Default::default()
        };
        let rec = self
            .managed_with(
                caller,
                &r.key_id,
                Accepts::KeyOnly,
                Action::GetParametersForImport,
                ask,
            )
            .await?;
        require_external(&rec)?;
        if matches!(
            rec.state,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        ) {
            return Err(trent_core::KeyError::PendingDeletion { arn: rec.arn() }.into());
        }
        let wrap_algorithm = WRAPPINGS
            .iter()
            .find(|w| w.0 == algorithm)
            .ok_or(Unsupported::Wrapping(algorithm.as_str()))?
            .1;
        let spec = WRAPPING_SPECS
            .iter()
            .find(|w| w.0 == key_spec)
            .ok_or(Unsupported::Wrapping(key_spec.as_str()))?
            .1;
        let oaep_only = matches!(
            algorithm,
            AlgorithmSpec::RsaesOaepSha1 | AlgorithmSpec::RsaesOaepSha256
        );
        if oaep_only && trent_core::spec::rsa_modulus_len(rec.spec).is_some() {
            return Err(Unsupported::WrappingForSpec {
                algorithm: algorithm.as_str(),
                spec: rec.spec.as_str(),
            }
            .into());
        }
        let provider = self.provider.clone();
        let key = self
            .heavy
            .run(move || -> Result<_, ServiceError> {
                let material = provider.generate_key(spec)?;
                let public = provider
                    .load_key(spec, &material)?
                    .public_key()
                    .map(<[u8]>::to_vec)
                    .ok_or(trent_core::CryptoError::InvalidKey)?;
                Ok((material, public))
            })
            .await
            .map_err(|e| ServiceError::Internal(crate::InternalError::Pool(e)))??;
        let (material, public) = key;
        let now = self.clock.now();
        let token = Token {
            id: self.random::<16>()?,
            expires_at: now + TOKEN_LIFETIME_MS,
            algorithm: wrap_algorithm,
            spec,
            key: material,
        };
        let sealed = self.root.wrap(&token.encode(), &token_aad(&rec.locator))?;
        caller.notes.key(&rec.arn());
        Ok(GetParametersForImportResponse {
            key_id: rec.arn(),
            import_token: Blob(sealed),
            public_key: Blob(public),
            parameters_valid_to: Timestamp::from_millis(token.expires_at),
        })
    }

    /// ImportKeyMaterial.
    pub async fn import_key_material(
        &self,
        caller: &Caller,
        r: ImportKeyMaterialRequest,
    ) -> Result<ImportKeyMaterialResponse, ServiceError> {
        let now = self.clock.now();
        let model = r.expiration_model.as_ref().and_then(|m| m.known());
        // AWS's default model is KEY_MATERIAL_EXPIRES, which needs ValidTo.
        let valid_to = match (model, r.valid_to) {
            (Some(ExpirationModelType::KeyMaterialDoesNotExpire), Some(_)) => {
                return Err(InvalidRequest::ValidToNotAllowed.into())
            }
            (Some(ExpirationModelType::KeyMaterialDoesNotExpire), None) => None,
            (_, None) => return Err(InvalidRequest::ValidToRequired.into()),
            (_, Some(t)) => {
                let t = t.to_millis();
                if t <= now || t > now + MAX_VALID_MS {
                    return Err(InvalidRequest::ValidToRange.into());
                }
                Some(t)
            }
        };
        let kind = r
            .import_type
            .as_ref()
            .and_then(|t| t.known())
            .map(|t| match t {
                ImportType::NewKeyMaterial => ImportKind::New,
                _ => ImportKind::Existing,
            });
        if kind == Some(ImportKind::New) && r.key_material_id.is_some() {
            return Err(InvalidRequest::MaterialIdWithNewMaterial.into());
        }
        let model_name = if valid_to.is_some() {
            ExpirationModelType::KeyMaterialExpires
        } else {
            ExpirationModelType::KeyMaterialDoesNotExpire
        };
        let ask = crate::authz::Ask {
            key_set: trent_core::authz::KeySetFacts {
                expiration_model: Some(model_name.as_str()),
                valid_to: valid_to.map(|t| t.div_euclid(1000)),
                ..Default::default()
            },
            ..Default::default()
        };
        let rec = self
            .managed_with(
                caller,
                &r.key_id,
                Accepts::KeyOnly,
                Action::ImportKeyMaterial,
                ask,
            )
            .await?;
        require_external(&rec)?;
        if r.key_material_id.is_some() && rec.spec != KeySpec::SymmetricDefault {
            return Err(InvalidRequest::MaterialIdNotSymmetric.into());
        }
        let loc = rec.locator.clone();
        let token_bytes = r.import_token.map(|b| b.0).unwrap_or_default();
        let token = self
            .root
            .unwrap(&token_bytes, &token_aad(&loc))
            .ok()
            .and_then(|p| Token::decode(&p))
            .ok_or(ServiceError::InvalidImportToken)?;
        if token.expires_at <= now {
            return Err(ServiceError::ExpiredImportToken);
        }
        let algorithm = token.algorithm;
        let encrypted = r.encrypted_key_material.map(|b| b.0).unwrap_or_default();
        let provider = self.provider.clone();
        let (wrap_spec, wrap_key) = (token.spec, token.key);
        let material = self
            .heavy
            .run(move || provider.unwrap_import(wrap_spec, &wrap_key, algorithm, &encrypted))
            .await
            .map_err(|e| ServiceError::Internal(crate::InternalError::Pool(e)))?
            .map_err(|_| ServiceError::InvalidCiphertext)?;
        // Material of the key's spec: exactly 256 bits for symmetric keys,
        // AWS's lengths for HMAC keys, a private key of the right kind and
        // size (PKCS#8) for the others.
        self.provider
            .load_key(rec.spec, &material)
            .map_err(|_| ServiceError::IncorrectKeyMaterial(rec.spec.as_str()))?;
        let material_id = hex::encode(
            self.provider
                .imported_material_id(&material, &loc.key_id.to_string())?,
        );
        let imp = Import {
            material_id: &material_id,
            kind,
            requested_id: r.key_material_id.as_deref(),
            valid_to,
            description: r.key_material_description.as_deref(),
            token: SpentToken {
                id: hex::encode(token.id),
                expires_at: token.expires_at,
            },
        };
        let next = self
            .update(caller, &loc, Action::ImportKeyMaterial, &ask, |k| {
                require_external(k)?;
                // The clock again: the unwrapping may have waited in the
                // pool, and a token must not outlive its expiry there (nor
                // be forgotten as spent while one still uses it).
                let now = self.clock.now();
                if token.expires_at <= now {
                    return Err(ServiceError::ExpiredImportToken);
                }
                k.import(now, &imp, |number| {
                    self.root
                        .wrap(&material, &KeyVersion::wrap_aad(&loc, number))
                        .map_err(ServiceError::from)
                })
            })
            .await?;
        caller.notes.key_material(&material_id.as_str().into());
        Ok(ImportKeyMaterialResponse {
            key_id: next.arn(),
            key_material_id: material_id,
        })
    }

    /// DeleteImportedKeyMaterial.
    pub async fn delete_imported_key_material(
        &self,
        caller: &Caller,
        r: DeleteImportedKeyMaterialRequest,
    ) -> Result<DeleteImportedKeyMaterialResponse, ServiceError> {
        let loc = self.locate(caller, &r.key_id).await?;
        let mut deleted = None;
        let next = self
            .update(
                caller,
                &loc,
                Action::DeleteImportedKeyMaterial,
                &crate::authz::Ask::default(),
                |k| {
                    require_external(k)?;
                    let (next, id) = k.delete_imported(r.key_material_id.as_deref())?;
                    deleted = id;
                    Ok(next)
                },
            )
            .await?;
        if let Some(id) = &deleted {
            caller.notes.key_material(&id.as_str().into());
            // The next sweep purges the old wrapped material from the
            // store's files (SQLite: secure_delete and a WAL checkpoint).
            self.purge_pending
                .store(true, std::sync::atomic::Ordering::Release);
        }
        Ok(DeleteImportedKeyMaterialResponse {
            key_id: next.arn(),
            key_material_id: deleted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Token {
        Token {
            id: [0xab; 16],
            expires_at: 0x0102_0304_0506_0708,
            algorithm: ImportWrapping::AesKeyWrapSha256,
            spec: KeySpec::Rsa3072,
            key: SecretBytes::new(vec![0x30, 0x82]),
        }
    }

    /// The payload layout of docs/formats.md, byte for byte.
    #[test]
    fn token_payload_golden() {
        let p = token().encode();
        assert_eq!(
            hex::encode(p.expose()),
            format!("01{}0102030405060708040230 82", "ab".repeat(16)).replace(' ', "")
        );
        let back = Token::decode(&p).unwrap();
        assert_eq!(back.id, [0xab; 16]);
        assert_eq!(back.expires_at, 0x0102_0304_0506_0708);
        assert_eq!(back.algorithm, ImportWrapping::AesKeyWrapSha256);
        assert_eq!(back.spec, KeySpec::Rsa3072);
        assert_eq!(back.key.expose(), &[0x30, 0x82]);
    }

    #[test]
    fn token_payload_must_fail() {
        let good = token().encode().expose().to_vec();
        let decode = |b: Vec<u8>| Token::decode(&SecretBytes::new(b)).is_some();
        assert!(decode(good.clone()));
        let with = |i: usize, v: u8| {
            let mut b = good.clone();
            b[i] = v;
            b
        };
        assert!(!decode(with(0, 2)), "unknown version");
        assert!(!decode(with(25, 0)), "no algorithm");
        assert!(!decode(with(25, 5)), "unknown algorithm");
        assert!(!decode(with(26, 4)), "unknown key spec");
        assert!(!decode(good[..TOKEN_HEADER].to_vec()), "no wrapping key");
        assert!(!decode(Vec::new()), "empty");
    }
}
