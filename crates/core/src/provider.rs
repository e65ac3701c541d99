//! The slots that crypto backends fill.
//!
//! [`CryptoProvider`] makes randomness and key material and prepares material
//! for use; [`SymmetricKey`] is prepared material that seals and opens
//! ciphertext blobs; [`RootKey`] wraps and unwraps key material for storage.
//! The software provider fills all three today; an HSM backend fills the same
//! slots later.

use std::sync::Arc;
use zeroize::Zeroizing;

/// Secret bytes: zeroized on drop, `Debug` prints nothing secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(pub Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wrap bytes.
    pub fn new(v: Vec<u8>) -> Self {
        SecretBytes(Zeroizing::new(v))
    }
    /// The bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes(<redacted {} bytes>)", self.0.len())
    }
}

/// A crypto failure. Deliberately uninformative: an authentication failure
/// must not say which byte was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// Authentication failed: wrong key, wrong data, or tampering.
    #[error("authentication failed")]
    Authentication,
    /// The system random number generator failed.
    #[error("random number generator failure")]
    Random,
    /// Key material of the wrong size or form.
    #[error("invalid key material")]
    InvalidKey,
}

/// Prepared symmetric key material (one key version), ready for many
/// operations. Implementations keep whatever precomputation makes the hot
/// path cheap.
pub trait SymmetricKey: Send + Sync + std::fmt::Debug {
    /// Encrypt `plaintext` for a blob whose header is `header`, authenticating
    /// `header || context` as well. Appends ciphertext and tag to `out`.
    fn seal(
        &self,
        header: &[u8],
        context: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CryptoError>;

    /// Decrypt `ciphertext_and_tag` of a blob whose header is `header`.
    fn open(
        &self,
        header: &[u8],
        context: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> Result<SecretBytes, CryptoError>;
}

/// A prepared private signing key: its private half stays with the
/// provider. The audit trail's digest key is one today (ECDSA P-256 with
/// SHA-256, signatures in ASN.1 DER); asymmetric KMS keys fill the same slot
/// later.
pub trait SigningKey: Send + Sync + std::fmt::Debug {
    /// The signature algorithm's name (`ECDSA_P256_SHA256`).
    fn algorithm(&self) -> &'static str;
    /// The public key, X.509 `SubjectPublicKeyInfo`, DER.
    fn public_key_der(&self) -> Vec<u8>;
    /// Sign `message`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError>;
}

/// The software (or hardware) crypto provider.
pub trait CryptoProvider: Send + Sync + std::fmt::Debug {
    /// Fill `out` with random bytes.
    fn fill_random(&self, out: &mut [u8]) -> Result<(), CryptoError>;

    /// New material for a `SYMMETRIC_DEFAULT` key (256 bits).
    fn generate_symmetric(&self) -> Result<SecretBytes, CryptoError> {
        let mut v = Zeroizing::new(vec![0u8; 32]);
        self.fill_random(&mut v)?;
        Ok(SecretBytes(v))
    }

    /// Prepare material for sealing and opening blobs.
    fn prepare_symmetric(
        &self,
        material: &SecretBytes,
    ) -> Result<Arc<dyn SymmetricKey>, CryptoError>;

    /// New ECDSA P-256 private key material (PKCS#8 DER), to be stored
    /// wrapped by the root key.
    fn generate_ecdsa_p256(&self) -> Result<SecretBytes, CryptoError>;

    /// Prepare ECDSA P-256 material (PKCS#8 DER) for signing with SHA-256.
    fn prepare_ecdsa_p256(&self, pkcs8: &SecretBytes) -> Result<Arc<dyn SigningKey>, CryptoError>;
}

/// The root of trust: key material is stored only wrapped by it.
pub trait RootKey: Send + Sync + std::fmt::Debug {
    /// Wrap material; `aad` binds the wrapped bytes to the key they belong to.
    fn wrap(&self, material: &SecretBytes, aad: &[u8]) -> Result<Vec<u8>, CryptoError>;
    /// Unwrap material wrapped with the same `aad`.
    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes, CryptoError>;
}
