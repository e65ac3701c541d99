//! The software root key: AES-256-GCM key wrapping with a random nonce.
//!
//! Wrapped form: `0x01 || nonce (12) || ciphertext || tag (16)`.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use trent_core::{CryptoError, RootKey, SecretBytes};
use zeroize::Zeroizing;

/// Length of a root key.
pub const ROOT_KEY_LEN: usize = 32;

const WRAP_V1: u8 = 1;

/// A root key held in memory.
pub struct SoftRootKey {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for SoftRootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SoftRootKey(<redacted>)")
    }
}

impl SoftRootKey {
    /// From 32 secret bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<SoftRootKey, CryptoError> {
        if bytes.len() != ROOT_KEY_LEN {
            return Err(CryptoError::InvalidKey);
        }
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| CryptoError::InvalidKey)?;
        Ok(SoftRootKey {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        })
    }

    /// A fresh random root key and its bytes (to be saved by the caller).
    pub fn generate() -> Result<(SoftRootKey, SecretBytes), CryptoError> {
        let mut bytes = Zeroizing::new(vec![0u8; ROOT_KEY_LEN]);
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| CryptoError::Random)?;
        let key = SoftRootKey::from_bytes(&bytes)?;
        Ok((key, SecretBytes(bytes)))
    }
}

impl RootKey for SoftRootKey {
    fn wrap(&self, material: &SecretBytes, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| CryptoError::Random)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + material.expose().len() + 16);
        out.push(WRAP_V1);
        out.extend_from_slice(&nonce);
        let start = out.len();
        out.extend_from_slice(material.expose());
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out[start..],
            )
            .map_err(|_| CryptoError::Authentication)?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes, CryptoError> {
        if wrapped.len() < 1 + NONCE_LEN + 16 || wrapped[0] != WRAP_V1 {
            return Err(CryptoError::Authentication);
        }
        let nonce: [u8; NONCE_LEN] = wrapped[1..1 + NONCE_LEN]
            .try_into()
            .map_err(|_| CryptoError::Authentication)?;
        let mut buf = Zeroizing::new(wrapped[1 + NONCE_LEN..].to_vec());
        let len = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .map_err(|_| CryptoError::Authentication)?
            .len();
        buf.truncate(len);
        Ok(SecretBytes(buf))
    }
}

/// Stretch a passphrase into a root key with Argon2id (64 MiB, 3 passes, one
/// lane): memory-hard, so guessing passphrases offline is expensive.
pub fn stretch_passphrase(passphrase: &[u8], salt: &[u8]) -> Result<SecretBytes, CryptoError> {
    let params = argon2::Params::new(64 * 1024, 3, 1, Some(ROOT_KEY_LEN))
        .map_err(|_| CryptoError::InvalidKey)?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new(vec![0u8; ROOT_KEY_LEN]);
    argon
        .hash_password_into(passphrase, salt, &mut out)
        .map_err(|_| CryptoError::InvalidKey)?;
    Ok(SecretBytes(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap_binds_aad_and_key() {
        let (k, _) = SoftRootKey::generate().unwrap();
        let m = SecretBytes::new(vec![4; 32]);
        let w = k.wrap(&m, b"key-a/1").unwrap();
        assert_eq!(k.unwrap(&w, b"key-a/1").unwrap(), m);
        assert!(k.unwrap(&w, b"key-b/1").is_err());
        let (other, _) = SoftRootKey::generate().unwrap();
        assert!(other.unwrap(&w, b"key-a/1").is_err());
        assert!(format!("{k:?}").contains("redacted"));
    }

    #[test]
    fn passphrase_stretching_is_deterministic_per_salt() {
        let a = stretch_passphrase(b"correct horse", b"0123456789abcdef").unwrap();
        let b = stretch_passphrase(b"correct horse", b"0123456789abcdef").unwrap();
        let c = stretch_passphrase(b"correct horse", b"fedcba9876543210").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.expose().len(), 32);
    }
}
