//! The slots that crypto backends fill.
//!
//! [`CryptoProvider`] makes randomness and key material and loads it;
//! [`KeyHandle`] is one loaded key version, offering what its spec can do
//! (seal and open blobs, sign, MAC, decrypt, derive, decapsulate) and its
//! public key; [`RootKey`] wraps and unwraps key material for storage.
//! The software provider fills all three today; an HSM backend fills the same
//! slots later.

use std::sync::Arc;
use trent_proto::{EncryptionAlgorithmSpec, KeySpec, MacAlgorithmSpec, SigningAlgorithmSpec};
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
    /// The key cannot do this (a bug in the caller: the service checks the
    /// key's spec and usage first).
    #[error("operation not supported by this key")]
    Unsupported,
    /// A peer public key that is not a valid point of the key's curve, or not
    /// a `SubjectPublicKeyInfo`.
    #[error("invalid peer public key")]
    InvalidPeerKey,
}

/// What a signature covers (`MessageType`).
#[derive(Debug, Clone, Copy)]
pub enum SignInput<'a> {
    /// The message itself; the algorithm hashes it (or, for Ed25519 and
    /// ML-DSA, takes it whole).
    Raw(&'a [u8]),
    /// A digest the caller computed with the algorithm's hash.
    Digest(&'a [u8]),
    /// ML-DSA's 64-byte message representative μ (FIPS 204, external μ).
    ExternalMu(&'a [u8]),
}

/// One version of a KMS key, loaded and ready: the joint every key backend
/// fills. The software provider keeps the secret in private fields of its
/// handles; an HSM backend keeps only a session handle to a key that never
/// leaves the token. Each spec implements what its usage allows; the rest
/// answer [`CryptoError::Unsupported`] (the service checks usage and
/// algorithm against `spec` first, so that answer means a bug, not a
/// user's mistake).
pub trait KeyHandle: Send + Sync + std::fmt::Debug {
    /// Encrypt `plaintext` for a blob whose header is `header`, authenticating
    /// `header || context` as well. Appends ciphertext and tag to `out`.
    fn seal(
        &self,
        _header: &[u8],
        _context: &[u8],
        _plaintext: &[u8],
        _out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        Err(CryptoError::Unsupported)
    }

    /// Decrypt `ciphertext_and_tag` of a blob whose header is `header`.
    fn open(
        &self,
        _header: &[u8],
        _context: &[u8],
        _ciphertext_and_tag: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        Err(CryptoError::Unsupported)
    }

    /// The public key, X.509 `SubjectPublicKeyInfo` DER, for asymmetric keys.
    fn public_key(&self) -> Option<&[u8]> {
        None
    }

    /// Sign.
    fn sign(
        &self,
        _algorithm: SigningAlgorithmSpec,
        _input: SignInput<'_>,
    ) -> Result<Vec<u8>, CryptoError> {
        Err(CryptoError::Unsupported)
    }

    /// Verify: `Ok(false)` for a signature that does not verify, malformed
    /// ones included.
    fn verify(
        &self,
        _algorithm: SigningAlgorithmSpec,
        _input: SignInput<'_>,
        _signature: &[u8],
    ) -> Result<bool, CryptoError> {
        Err(CryptoError::Unsupported)
    }

    /// Compute a MAC.
    fn mac(&self, _algorithm: MacAlgorithmSpec, _message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        Err(CryptoError::Unsupported)
    }

    /// Check a MAC, in constant time.
    fn verify_mac(
        &self,
        _algorithm: MacAlgorithmSpec,
        _message: &[u8],
        _mac: &[u8],
    ) -> Result<bool, CryptoError> {
        Err(CryptoError::Unsupported)
    }

    /// Public-key encryption (RSAES-OAEP).
    fn encrypt(
        &self,
        _algorithm: EncryptionAlgorithmSpec,
        _plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        Err(CryptoError::Unsupported)
    }

    /// Private-key decryption (RSAES-OAEP): [`CryptoError::Authentication`]
    /// for a ciphertext that does not decrypt.
    fn decrypt(
        &self,
        _algorithm: EncryptionAlgorithmSpec,
        _ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        Err(CryptoError::Unsupported)
    }

    /// ECDH with a peer's `SubjectPublicKeyInfo`:
    /// [`CryptoError::InvalidPeerKey`] when it is not a point of this curve.
    fn derive_shared_secret(&self, _peer: &[u8]) -> Result<SecretBytes, CryptoError> {
        Err(CryptoError::Unsupported)
    }

    /// ML-KEM encapsulation to this key's public half: the ciphertext and
    /// the shared secret.
    fn encapsulate(&self) -> Result<(Vec<u8>, SecretBytes), CryptoError> {
        Err(CryptoError::Unsupported)
    }

    /// ML-KEM decapsulation (implicit rejection: a wrong ciphertext of the
    /// right length gives a pseudo-random secret, not an error).
    fn decapsulate(&self, _ciphertext: &[u8]) -> Result<SecretBytes, CryptoError> {
        Err(CryptoError::Unsupported)
    }

    /// Whether private-key operations cost so much (RSA, ML-DSA: hundreds of
    /// microseconds or more) that they belong off the async workers.
    fn expensive(&self) -> bool {
        false
    }
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

/// How imported key material is wrapped (`WrappingAlgorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportWrapping {
    /// `RSAES_OAEP_SHA_1`: the material itself, RSA-OAEP (SHA-1, MGF1-SHA-1).
    OaepSha1,
    /// `RSAES_OAEP_SHA_256`.
    OaepSha256,
    /// `RSA_AES_KEY_WRAP_SHA_1`: an AES-256 key under RSA-OAEP, then the
    /// material under that key with AES key wrap with padding (RFC 5649).
    AesKeyWrapSha1,
    /// `RSA_AES_KEY_WRAP_SHA_256`.
    AesKeyWrapSha256,
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

    /// New material for a key of `spec`, as it is stored (wrapped by the
    /// root key): 32 random bytes for `SYMMETRIC_DEFAULT`, the key length's
    /// worth for HMAC, PKCS#8 DER for private keys. An HSM backend returns a
    /// reference to a key made inside the token instead.
    fn generate_key(&self, spec: KeySpec) -> Result<SecretBytes, CryptoError>;

    /// Load a key version of `spec` from what [`CryptoProvider::generate_key`]
    /// made.
    fn load_key(
        &self,
        spec: KeySpec,
        material: &SecretBytes,
    ) -> Result<Arc<dyn KeyHandle>, CryptoError>;

    /// Unwrap key material that a customer encrypted for import under the
    /// public half of `wrapping_key` (material of an `RSA_*` spec made by
    /// [`CryptoProvider::generate_key`]). Any failure is
    /// [`CryptoError::Authentication`]: the caller answers
    /// `InvalidCiphertextException` without saying which step failed.
    fn unwrap_import(
        &self,
        wrapping_spec: KeySpec,
        wrapping_key: &SecretBytes,
        algorithm: ImportWrapping,
        encrypted: &[u8],
    ) -> Result<SecretBytes, CryptoError>;

    /// The `KeyMaterialId` of imported material: HMAC-SHA256 keyed by the
    /// material over the key id, so the same material in the same key (a
    /// re-import, or a multi-Region replica) gets the same id and nothing
    /// about the material can be learnt from it.
    fn imported_material_id(
        &self,
        material: &SecretBytes,
        key_id: &str,
    ) -> Result<[u8; 32], CryptoError>;

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
