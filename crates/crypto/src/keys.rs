//! The software key handles of every spec except `SYMMETRIC_DEFAULT` (which
//! lives in the crate root beside the blob format): HMAC, RSA, ECDSA/ECDH,
//! Ed25519, ML-DSA and ML-KEM, on aws-lc-rs.
//!
//! Stored material is what the library reads back without choices: PKCS#8
//! DER for private keys (ML-DSA in its seed form), the raw key for HMAC,
//! and the expanded decapsulation key of FIPS 203 for ML-KEM (aws-lc-rs
//! offers no seed form). Each handle parses
//! it once at load and keeps the library's key object, which frees its
//! secret cleared; the public key is encoded once as `SubjectPublicKeyInfo`.

use aws_lc_rs::agreement;
use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::hmac;
use aws_lc_rs::kem;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    KeyPair as RsaKeyPair, KeySize, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    PrivateDecryptingKey, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, PqdsaKeyPair, ML_DSA_44, ML_DSA_44_SIGNING,
    ML_DSA_65, ML_DSA_65_SIGNING, ML_DSA_87, ML_DSA_87_SIGNING,
};
use std::sync::Arc;
use trent_core::{CryptoError, KeyHandle, SecretBytes, SignInput};
use trent_proto::{EncryptionAlgorithmSpec, KeySpec, MacAlgorithmSpec, SigningAlgorithmSpec};
use zeroize::Zeroizing;

use SigningAlgorithmSpec as S;

/// A public key's DER bytes.
macro_rules! der {
    ($e:expr) => {
        $e.map(|d| d.as_ref().to_vec())
            .map_err(|_| CryptoError::InvalidKey)
    };
}

/// Fresh private key DER, as secret bytes.
macro_rules! secret_der {
    ($e:expr) => {
        $e.map(|d| SecretBytes::new(d.as_ref().to_vec()))
            .map_err(|_| CryptoError::Random)
    };
}

/// New material for an asymmetric or HMAC spec.
pub(crate) fn generate(spec: KeySpec, rng: &SystemRandom) -> Result<SecretBytes, CryptoError> {
    use aws_lc_rs::rand::SecureRandom;
    match spec {
        KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
            let len = trent_core::spec::hmac_key_len(spec).ok_or(CryptoError::InvalidKey)?;
            let mut v = Zeroizing::new(vec![0u8; len]);
            rng.fill(&mut v).map_err(|_| CryptoError::Random)?;
            Ok(SecretBytes(v))
        }
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
            let size = match spec {
                KeySpec::Rsa2048 => KeySize::Rsa2048,
                KeySpec::Rsa3072 => KeySize::Rsa3072,
                _ => KeySize::Rsa4096,
            };
            let pair = RsaKeyPair::generate(size).map_err(|_| CryptoError::Random)?;
            secret_der!(AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair))
        }
        KeySpec::EccNistP256
        | KeySpec::EccNistP384
        | KeySpec::EccNistP521
        | KeySpec::EccSecgP256k1 => {
            let alg = ecdsa_signing(spec).ok_or(CryptoError::InvalidKey)?;
            secret_der!(EcdsaKeyPair::generate_pkcs8(alg, rng))
        }
        KeySpec::EccNistEdwards25519 => secret_der!(Ed25519KeyPair::generate_pkcs8v1(rng)),
        KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => {
            let alg = ml_dsa_signing(spec).ok_or(CryptoError::InvalidKey)?;
            let pair = PqdsaKeyPair::generate(alg).map_err(|_| CryptoError::Random)?;
            secret_der!(pair.to_pkcs8v1())
        }
        KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024 => {
            let alg = ml_kem(spec).ok_or(CryptoError::InvalidKey)?;
            let dk = kem::DecapsulationKey::generate(alg).map_err(|_| CryptoError::Random)?;
            let bytes = dk.key_bytes().map_err(|_| CryptoError::Random)?;
            Ok(SecretBytes::new(bytes.as_ref().to_vec()))
        }
        _ => Err(CryptoError::Unsupported),
    }
}

/// Load material of an asymmetric or HMAC spec.
pub(crate) fn load(
    spec: KeySpec,
    material: &SecretBytes,
    rng: &SystemRandom,
) -> Result<Arc<dyn KeyHandle>, CryptoError> {
    let m = material.expose();
    let bad = |_: aws_lc_rs::error::KeyRejected| CryptoError::InvalidKey;
    let unspecified = |_: aws_lc_rs::error::Unspecified| CryptoError::InvalidKey;
    Ok(match spec {
        KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
            if !trent_core::spec::hmac_key_range(spec).contains(&m.len()) {
                return Err(CryptoError::InvalidKey);
            }
            let (alg, name) = match spec {
                KeySpec::Hmac224 => (hmac::HMAC_SHA224, MacAlgorithmSpec::HmacSha224),
                KeySpec::Hmac256 => (hmac::HMAC_SHA256, MacAlgorithmSpec::HmacSha256),
                KeySpec::Hmac384 => (hmac::HMAC_SHA384, MacAlgorithmSpec::HmacSha384),
                _ => (hmac::HMAC_SHA512, MacAlgorithmSpec::HmacSha512),
            };
            Arc::new(SoftHmacKey {
                key: hmac::Key::new(alg, m),
                algorithm: name,
            })
        }
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
            let pair = RsaKeyPair::from_pkcs8(m).map_err(bad)?;
            let decrypting = PrivateDecryptingKey::from_pkcs8(m).map_err(bad)?;
            let public = der!(AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(
                pair.public_key(),
            ))?;
            if Some(pair.public_modulus_len()) != trent_core::spec::rsa_modulus_len(spec) {
                return Err(CryptoError::InvalidKey);
            }
            Arc::new(SoftRsaKey {
                encrypting: OaepPublicEncryptingKey::new(decrypting.public_key())
                    .map_err(unspecified)?,
                decrypting: OaepPrivateDecryptingKey::new(decrypting).map_err(unspecified)?,
                pair,
                public,
                rng: rng.clone(),
            })
        }
        KeySpec::EccNistP256
        | KeySpec::EccNistP384
        | KeySpec::EccNistP521
        | KeySpec::EccSecgP256k1 => {
            let alg = ecdsa_signing(spec).ok_or(CryptoError::InvalidKey)?;
            let pair = EcdsaKeyPair::from_pkcs8(alg, m).map_err(bad)?;
            let public = der!(pair.public_key().as_der())?;
            let agreement = ecdh(spec)
                .map(|a| agreement::PrivateKey::from_private_key_der(a, m))
                .transpose()
                .map_err(bad)?;
            let verifying = signature::UnparsedPublicKey::new(
                ecdsa_verification(spec).ok_or(CryptoError::InvalidKey)?,
                &public[..],
            )
            .parse()
            .map_err(bad)?;
            Arc::new(SoftEcKey {
                spec,
                pair,
                agreement,
                verifying,
                public,
                rng: rng.clone(),
            })
        }
        KeySpec::EccNistEdwards25519 => {
            use aws_lc_rs::encoding::AsBigEndian;
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(m).map_err(bad)?;
            let public = der!(pair.public_key().as_der())?;
            let seed = pair.seed().map_err(unspecified)?;
            let seed_bytes = seed.as_be_bytes().map_err(unspecified)?;
            let mut seed = Zeroizing::new([0u8; 32]);
            seed.copy_from_slice(seed_bytes.as_ref());
            drop(seed_bytes);
            let raw: [u8; 32] = pair
                .public_key()
                .as_ref()
                .try_into()
                .map_err(|_| CryptoError::InvalidKey)?;
            Arc::new(SoftEd25519Key {
                pair,
                seed,
                raw,
                public,
            })
        }
        KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => {
            let alg = ml_dsa_signing(spec).ok_or(CryptoError::InvalidKey)?;
            let pair = PqdsaKeyPair::from_pkcs8(alg, m).map_err(bad)?;
            let public = der!(pair.public_key().as_der())?;
            let mu = trent_ffi::MlDsaMuSigner::from_pkcs8(m).ok_or(CryptoError::InvalidKey)?;
            Arc::new(SoftMlDsaKey {
                spec,
                pair,
                mu,
                public,
            })
        }
        KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024 => {
            let alg = ml_kem(spec).ok_or(CryptoError::InvalidKey)?;
            let dk = kem::DecapsulationKey::new(alg, m).map_err(bad)?;
            let ek = ml_kem_encapsulation_key(spec, m).ok_or(CryptoError::InvalidKey)?;
            let public = ml_kem_spki(spec, ek).ok_or(CryptoError::InvalidKey)?;
            let ek = kem::EncapsulationKey::new(alg, ek).map_err(bad)?;
            Arc::new(SoftMlKemKey { dk, ek, public })
        }
        _ => return Err(CryptoError::Unsupported),
    })
}

fn ecdsa_signing(spec: KeySpec) -> Option<&'static signature::EcdsaSigningAlgorithm> {
    Some(match spec {
        KeySpec::EccNistP256 => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        KeySpec::EccNistP384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        KeySpec::EccNistP521 => &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
        KeySpec::EccSecgP256k1 => &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
        _ => return None,
    })
}

fn ecdsa_verification(spec: KeySpec) -> Option<&'static signature::EcdsaVerificationAlgorithm> {
    Some(match spec {
        KeySpec::EccNistP256 => &signature::ECDSA_P256_SHA256_ASN1,
        KeySpec::EccNistP384 => &signature::ECDSA_P384_SHA384_ASN1,
        KeySpec::EccNistP521 => &signature::ECDSA_P521_SHA512_ASN1,
        KeySpec::EccSecgP256k1 => &signature::ECDSA_P256K1_SHA256_ASN1,
        _ => return None,
    })
}

fn ecdh(spec: KeySpec) -> Option<&'static agreement::Algorithm> {
    Some(match spec {
        KeySpec::EccNistP256 => &agreement::ECDH_P256,
        KeySpec::EccNistP384 => &agreement::ECDH_P384,
        KeySpec::EccNistP521 => &agreement::ECDH_P521,
        _ => return None,
    })
}

fn ml_dsa_signing(spec: KeySpec) -> Option<&'static signature::PqdsaSigningAlgorithm> {
    Some(match spec {
        KeySpec::MlDsa44 => &ML_DSA_44_SIGNING,
        KeySpec::MlDsa65 => &ML_DSA_65_SIGNING,
        KeySpec::MlDsa87 => &ML_DSA_87_SIGNING,
        _ => return None,
    })
}

fn ml_kem(spec: KeySpec) -> Option<&'static kem::Algorithm> {
    Some(match spec {
        KeySpec::MlKem512 => &kem::ML_KEM_512,
        KeySpec::MlKem768 => &kem::ML_KEM_768,
        KeySpec::MlKem1024 => &kem::ML_KEM_1024,
        _ => return None,
    })
}

/// The encapsulation key inside an expanded ML-KEM decapsulation key
/// `dk_PKE || ek || H(ek) || z` (FIPS 203, Algorithm 16), checked against
/// the hash stored beside it.
fn ml_kem_encapsulation_key(spec: KeySpec, dk: &[u8]) -> Option<&[u8]> {
    let k = match spec {
        KeySpec::MlKem512 => 2,
        KeySpec::MlKem768 => 3,
        KeySpec::MlKem1024 => 4,
        _ => return None,
    };
    let ek = dk.get(384 * k..768 * k + 32)?;
    let h = dk.get(768 * k + 32..768 * k + 64)?;
    (digest::digest(&digest::SHA3_256, ek).as_ref() == h).then_some(ek)
}

/// `SubjectPublicKeyInfo` of an ML-KEM encapsulation key (the algorithm
/// identifiers of NIST's CSOR, `id-alg-ml-kem-*`, with absent parameters,
/// as the IETF LAMPS profile has it).
fn ml_kem_spki(spec: KeySpec, ek: &[u8]) -> Option<Vec<u8>> {
    let last = match spec {
        KeySpec::MlKem512 => 1,
        KeySpec::MlKem768 => 2,
        KeySpec::MlKem1024 => 3,
        _ => return None,
    };
    let oid = [
        0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, last,
    ];
    let mut alg = vec![0x30];
    der_len(&mut alg, oid.len());
    alg.extend_from_slice(&oid);
    let mut bits = vec![0x03];
    der_len(&mut bits, ek.len() + 1);
    bits.push(0);
    bits.extend_from_slice(ek);
    let mut out = vec![0x30];
    der_len(&mut out, alg.len() + bits.len());
    out.extend_from_slice(&alg);
    out.extend_from_slice(&bits);
    Some(out)
}

fn der_len(out: &mut Vec<u8>, len: usize) {
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend_from_slice(&[0x81, len as u8]),
        _ => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
    }
}

/// The digest algorithm of a hash-then-sign algorithm.
fn digest_of(algorithm: SigningAlgorithmSpec) -> Option<&'static digest::Algorithm> {
    Some(match algorithm {
        S::RsassaPssSha256 | S::RsassaPkcs1V15Sha256 | S::EcdsaSha256 => &digest::SHA256,
        S::RsassaPssSha384 | S::RsassaPkcs1V15Sha384 | S::EcdsaSha384 => &digest::SHA384,
        S::RsassaPssSha512 | S::RsassaPkcs1V15Sha512 | S::EcdsaSha512 | S::Ed25519PhSha512 => {
            &digest::SHA512
        }
        _ => return None,
    })
}

/// The digest a hash-then-sign algorithm signs: computed for `RAW`,
/// adopted for `DIGEST` (whose length the service has checked).
fn digest_input(
    algorithm: SigningAlgorithmSpec,
    input: SignInput<'_>,
) -> Result<digest::Digest, CryptoError> {
    let alg = digest_of(algorithm).ok_or(CryptoError::Unsupported)?;
    match input {
        SignInput::Raw(m) => Ok(digest::digest(alg, m)),
        SignInput::Digest(d) => {
            digest::Digest::import_less_safe(d, alg).map_err(|_| CryptoError::InvalidPeerKey)
        }
        SignInput::ExternalMu(_) => Err(CryptoError::Unsupported),
    }
}

struct SoftHmacKey {
    key: hmac::Key,
    algorithm: MacAlgorithmSpec,
}

impl std::fmt::Debug for SoftHmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SoftHmacKey({}, <redacted>)", self.algorithm)
    }
}

impl KeyHandle for SoftHmacKey {
    fn mac(&self, algorithm: MacAlgorithmSpec, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if algorithm != self.algorithm {
            return Err(CryptoError::Unsupported);
        }
        Ok(hmac::sign(&self.key, message).as_ref().to_vec())
    }

    fn verify_mac(
        &self,
        algorithm: MacAlgorithmSpec,
        message: &[u8],
        mac: &[u8],
    ) -> Result<bool, CryptoError> {
        if algorithm != self.algorithm {
            return Err(CryptoError::Unsupported);
        }
        // Constant time in the tag's contents (aws-lc's CRYPTO_memcmp).
        Ok(hmac::verify(&self.key, message, mac).is_ok())
    }
}

struct SoftRsaKey {
    pair: RsaKeyPair,
    decrypting: OaepPrivateDecryptingKey,
    encrypting: OaepPublicEncryptingKey,
    public: Vec<u8>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SoftRsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SoftRsaKey({} bits, <redacted>)",
            self.pair.public_modulus_len() * 8
        )
    }
}

fn rsa_encoding(algorithm: SigningAlgorithmSpec) -> Option<&'static dyn signature::RsaEncoding> {
    Some(match algorithm {
        S::RsassaPssSha256 => &signature::RSA_PSS_SHA256,
        S::RsassaPssSha384 => &signature::RSA_PSS_SHA384,
        S::RsassaPssSha512 => &signature::RSA_PSS_SHA512,
        S::RsassaPkcs1V15Sha256 => &signature::RSA_PKCS1_SHA256,
        S::RsassaPkcs1V15Sha384 => &signature::RSA_PKCS1_SHA384,
        S::RsassaPkcs1V15Sha512 => &signature::RSA_PKCS1_SHA512,
        _ => return None,
    })
}

fn rsa_parameters(algorithm: SigningAlgorithmSpec) -> Option<&'static signature::RsaParameters> {
    Some(match algorithm {
        S::RsassaPssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
        S::RsassaPssSha384 => &signature::RSA_PSS_2048_8192_SHA384,
        S::RsassaPssSha512 => &signature::RSA_PSS_2048_8192_SHA512,
        S::RsassaPkcs1V15Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        S::RsassaPkcs1V15Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        S::RsassaPkcs1V15Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        _ => return None,
    })
}

fn oaep(algorithm: EncryptionAlgorithmSpec) -> Option<&'static aws_lc_rs::rsa::OaepAlgorithm> {
    match algorithm {
        EncryptionAlgorithmSpec::RsaesOaepSha1 => Some(&OAEP_SHA1_MGF1SHA1),
        EncryptionAlgorithmSpec::RsaesOaepSha256 => Some(&OAEP_SHA256_MGF1SHA256),
        _ => None,
    }
}

impl KeyHandle for SoftRsaKey {
    fn public_key(&self) -> Option<&[u8]> {
        Some(&self.public)
    }

    fn sign(
        &self,
        algorithm: SigningAlgorithmSpec,
        input: SignInput<'_>,
    ) -> Result<Vec<u8>, CryptoError> {
        let encoding = rsa_encoding(algorithm).ok_or(CryptoError::Unsupported)?;
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        match input {
            SignInput::Raw(m) => self.pair.sign(encoding, &self.rng, m, &mut sig),
            SignInput::Digest(_) => {
                let d = digest_input(algorithm, input)?;
                self.pair.sign_digest(encoding, &d, &mut sig)
            }
            SignInput::ExternalMu(_) => return Err(CryptoError::Unsupported),
        }
        .map_err(|_| CryptoError::InvalidKey)?;
        Ok(sig)
    }

    fn verify(
        &self,
        algorithm: SigningAlgorithmSpec,
        input: SignInput<'_>,
        sig: &[u8],
    ) -> Result<bool, CryptoError> {
        let params = rsa_parameters(algorithm).ok_or(CryptoError::Unsupported)?;
        let key = signature::UnparsedPublicKey::new(params, &self.public[..]);
        Ok(match input {
            SignInput::Raw(m) => key.verify(m, sig).is_ok(),
            SignInput::Digest(_) => key
                .verify_digest(&digest_input(algorithm, input)?, sig)
                .is_ok(),
            SignInput::ExternalMu(_) => return Err(CryptoError::Unsupported),
        })
    }

    fn encrypt(
        &self,
        algorithm: EncryptionAlgorithmSpec,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let alg = oaep(algorithm).ok_or(CryptoError::Unsupported)?;
        let mut out = vec![0u8; self.encrypting.ciphertext_size()];
        let n = self
            .encrypting
            .encrypt(alg, plaintext, &mut out, None)
            .map_err(|_| CryptoError::InvalidKey)?
            .len();
        out.truncate(n);
        Ok(out)
    }

    fn decrypt(
        &self,
        algorithm: EncryptionAlgorithmSpec,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        let alg = oaep(algorithm).ok_or(CryptoError::Unsupported)?;
        let mut out = Zeroizing::new(vec![0u8; self.decrypting.min_output_size()]);
        let n = self
            .decrypting
            .decrypt(alg, ciphertext, &mut out, None)
            .map_err(|_| CryptoError::Authentication)?
            .len();
        out.truncate(n);
        Ok(SecretBytes(out))
    }

    fn expensive(&self) -> bool {
        true
    }
}

/// Whether a peer key is an X.509 `SubjectPublicKeyInfo` (AWS takes only
/// that form; aws-lc-rs would also take a bare point).
fn spki_only(peer: &[u8]) -> bool {
    peer.first() == Some(&0x30)
}

struct SoftEcKey {
    spec: KeySpec,
    pair: EcdsaKeyPair,
    agreement: Option<agreement::PrivateKey>,
    /// The public key parsed once (checking the point costs about a third
    /// of a verification).
    verifying: signature::ParsedPublicKey,
    public: Vec<u8>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SoftEcKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SoftEcKey({}, <redacted>)", self.spec)
    }
}

impl SoftEcKey {
    fn signs(&self, algorithm: SigningAlgorithmSpec) -> bool {
        matches!(
            (self.spec, algorithm),
            (
                KeySpec::EccNistP256 | KeySpec::EccSecgP256k1,
                S::EcdsaSha256
            ) | (KeySpec::EccNistP384, S::EcdsaSha384)
                | (KeySpec::EccNistP521, S::EcdsaSha512)
        )
    }
}

impl KeyHandle for SoftEcKey {
    fn public_key(&self) -> Option<&[u8]> {
        Some(&self.public)
    }

    fn sign(
        &self,
        algorithm: SigningAlgorithmSpec,
        input: SignInput<'_>,
    ) -> Result<Vec<u8>, CryptoError> {
        if !self.signs(algorithm) {
            return Err(CryptoError::Unsupported);
        }
        let sig = match input {
            SignInput::Raw(m) => self.pair.sign(&self.rng, m),
            SignInput::Digest(_) => self.pair.sign_digest(&digest_input(algorithm, input)?),
            SignInput::ExternalMu(_) => return Err(CryptoError::Unsupported),
        }
        .map_err(|_| CryptoError::InvalidKey)?;
        Ok(sig.as_ref().to_vec())
    }

    fn verify(
        &self,
        algorithm: SigningAlgorithmSpec,
        input: SignInput<'_>,
        sig: &[u8],
    ) -> Result<bool, CryptoError> {
        if !self.signs(algorithm) {
            return Err(CryptoError::Unsupported);
        }
        let key = &self.verifying;
        Ok(match input {
            SignInput::Raw(m) => key.verify_sig(m, sig).is_ok(),
            SignInput::Digest(_) => key
                .verify_digest_sig(&digest_input(algorithm, input)?, sig)
                .is_ok(),
            SignInput::ExternalMu(_) => return Err(CryptoError::Unsupported),
        })
    }

    /// P-256 has aws-lc's fast, table-driven code (about 20 µs a
    /// signature); P-384, P-521 and secp256k1 cost several times more.
    fn expensive(&self) -> bool {
        self.spec != KeySpec::EccNistP256
    }

    fn derive_shared_secret(&self, peer: &[u8]) -> Result<SecretBytes, CryptoError> {
        let key = self.agreement.as_ref().ok_or(CryptoError::Unsupported)?;
        if !spki_only(peer) {
            return Err(CryptoError::InvalidPeerKey);
        }
        let peer = agreement::UnparsedPublicKey::new(key.algorithm(), peer);
        agreement::agree(key, peer, CryptoError::InvalidPeerKey, |z| {
            Ok(SecretBytes::new(z.to_vec()))
        })
    }
}

struct SoftEd25519Key {
    pair: Ed25519KeyPair,
    /// The private seed again, for Ed25519ph (see `trent-ffi`).
    seed: Zeroizing<[u8; 32]>,
    raw: [u8; 32],
    public: Vec<u8>,
}

impl std::fmt::Debug for SoftEd25519Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SoftEd25519Key(<redacted>)")
    }
}

impl KeyHandle for SoftEd25519Key {
    fn public_key(&self) -> Option<&[u8]> {
        Some(&self.public)
    }

    fn sign(
        &self,
        algorithm: SigningAlgorithmSpec,
        input: SignInput<'_>,
    ) -> Result<Vec<u8>, CryptoError> {
        match (algorithm, input) {
            (S::Ed25519Sha512, SignInput::Raw(m)) => Ok(self.pair.sign(m).as_ref().to_vec()),
            // Ed25519ph (RFC 8032 §5.1) is not in aws-lc-rs's safe API:
            // aws-lc's own, through `trent-ffi`.
            (S::Ed25519PhSha512, SignInput::Digest(d)) => {
                let d = d.try_into().map_err(|_| CryptoError::InvalidPeerKey)?;
                trent_ffi::ed25519ph_sign_digest(&self.seed, &self.raw, d)
                    .map(|s| s.to_vec())
                    .ok_or(CryptoError::InvalidKey)
            }
            _ => Err(CryptoError::Unsupported),
        }
    }

    fn verify(
        &self,
        algorithm: SigningAlgorithmSpec,
        input: SignInput<'_>,
        sig: &[u8],
    ) -> Result<bool, CryptoError> {
        match (algorithm, input) {
            (S::Ed25519Sha512, SignInput::Raw(m)) => {
                let key =
                    signature::UnparsedPublicKey::new(&signature::ED25519, self.pair.public_key());
                Ok(key.verify(m, sig).is_ok())
            }
            (S::Ed25519PhSha512, SignInput::Digest(d)) => {
                let d = d.try_into().map_err(|_| CryptoError::InvalidPeerKey)?;
                Ok(trent_ffi::ed25519ph_verify_digest(&self.raw, d, sig))
            }
            _ => Err(CryptoError::Unsupported),
        }
    }
}

struct SoftMlDsaKey {
    spec: KeySpec,
    pair: PqdsaKeyPair,
    /// The same key in aws-lc, for external μ (see `trent-ffi`).
    mu: trent_ffi::MlDsaMuSigner,
    public: Vec<u8>,
}

impl std::fmt::Debug for SoftMlDsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SoftMlDsaKey({}, <redacted>)", self.spec)
    }
}

impl KeyHandle for SoftMlDsaKey {
    fn public_key(&self) -> Option<&[u8]> {
        Some(&self.public)
    }

    fn sign(
        &self,
        algorithm: SigningAlgorithmSpec,
        input: SignInput<'_>,
    ) -> Result<Vec<u8>, CryptoError> {
        match (algorithm, input) {
            (S::MlDsaShake256, SignInput::Raw(m)) => {
                let mut sig = vec![0u8; self.pair.algorithm().signature_len()];
                let n = self
                    .pair
                    .sign(m, &mut sig)
                    .map_err(|_| CryptoError::InvalidKey)?;
                sig.truncate(n);
                Ok(sig)
            }
            // External μ is not in aws-lc-rs's safe API: aws-lc's own,
            // through `trent-ffi`.
            (S::MlDsaShake256, SignInput::ExternalMu(mu)) => {
                let mu = mu.try_into().map_err(|_| CryptoError::InvalidPeerKey)?;
                self.mu.sign_mu(mu).ok_or(CryptoError::InvalidKey)
            }
            _ => Err(CryptoError::Unsupported),
        }
    }

    fn verify(
        &self,
        algorithm: SigningAlgorithmSpec,
        input: SignInput<'_>,
        sig: &[u8],
    ) -> Result<bool, CryptoError> {
        let alg = match self.spec {
            KeySpec::MlDsa44 => &ML_DSA_44,
            KeySpec::MlDsa65 => &ML_DSA_65,
            _ => &ML_DSA_87,
        };
        match (algorithm, input) {
            (S::MlDsaShake256, SignInput::Raw(m)) => {
                let key = signature::UnparsedPublicKey::new(alg, &self.public[..]);
                Ok(key.verify(m, sig).is_ok())
            }
            (S::MlDsaShake256, SignInput::ExternalMu(mu)) => {
                let mu = mu.try_into().map_err(|_| CryptoError::InvalidPeerKey)?;
                Ok(trent_ffi::ml_dsa_verify_mu(&self.public, mu, sig))
            }
            _ => Err(CryptoError::Unsupported),
        }
    }

    fn expensive(&self) -> bool {
        true
    }
}

struct SoftMlKemKey {
    dk: kem::DecapsulationKey,
    ek: kem::EncapsulationKey,
    public: Vec<u8>,
}

impl std::fmt::Debug for SoftMlKemKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SoftMlKemKey(<redacted>)")
    }
}

impl KeyHandle for SoftMlKemKey {
    fn public_key(&self) -> Option<&[u8]> {
        Some(&self.public)
    }

    fn encapsulate(&self) -> Result<(Vec<u8>, SecretBytes), CryptoError> {
        let (ct, secret) = self.ek.encapsulate().map_err(|_| CryptoError::Random)?;
        Ok((
            ct.as_ref().to_vec(),
            SecretBytes::new(secret.as_ref().to_vec()),
        ))
    }

    fn decapsulate(&self, ciphertext: &[u8]) -> Result<SecretBytes, CryptoError> {
        let secret = self
            .dk
            .decapsulate(kem::Ciphertext::from(ciphertext))
            .map_err(|_| CryptoError::InvalidPeerKey)?;
        Ok(SecretBytes::new(secret.as_ref().to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trent_core::spec;

    fn handle(spec: KeySpec) -> Arc<dyn KeyHandle> {
        let rng = SystemRandom::new();
        load(spec, &generate(spec, &rng).unwrap(), &rng).unwrap()
    }

    #[test]
    fn every_signing_spec_signs_and_verifies_and_refuses_tampering() {
        for spec in [
            KeySpec::Rsa2048,
            KeySpec::EccNistP256,
            KeySpec::EccNistP384,
            KeySpec::EccNistP521,
            KeySpec::EccSecgP256k1,
            KeySpec::EccNistEdwards25519,
            KeySpec::MlDsa44,
            KeySpec::MlDsa65,
            KeySpec::MlDsa87,
        ] {
            let key = handle(spec);
            let algs = spec::algorithms(spec, trent_proto::KeyUsageType::SignVerify);
            for &alg in algs.signing.unwrap() {
                let (input, other) = match alg {
                    S::Ed25519PhSha512 => continue, // DIGEST only: below
                    _ => (SignInput::Raw(b"message"), SignInput::Raw(b"messagf")),
                };
                let sig = key.sign(alg, input).unwrap();
                assert!(key.verify(alg, input, &sig).unwrap(), "{spec} {alg}");
                assert!(!key.verify(alg, other, &sig).unwrap(), "{spec} {alg}");
                assert!(!key.verify(alg, input, &sig[..sig.len() - 1]).unwrap());
                if let Some(len) = spec::digest_len(alg) {
                    let d = digest::digest(digest_of(alg).unwrap(), b"message");
                    assert_eq!(d.as_ref().len(), len);
                    let dsig = key.sign(alg, SignInput::Digest(d.as_ref())).unwrap();
                    // A signature of the digest verifies as one of the message.
                    assert!(key.verify(alg, input, &dsig).unwrap(), "{spec} {alg}");
                    assert!(key
                        .verify(alg, SignInput::Digest(d.as_ref()), &sig)
                        .unwrap());
                }
            }
            // Another key of the same spec does not verify it.
            let alg = algs.signing.unwrap()[0];
            let sig = key.sign(alg, SignInput::Raw(b"m")).unwrap();
            assert!(!handle(spec)
                .verify(alg, SignInput::Raw(b"m"), &sig)
                .unwrap());
        }
    }

    #[test]
    fn ed25519ph_and_external_mu_sign_and_verify() {
        let ed = handle(KeySpec::EccNistEdwards25519);
        let d = digest::digest(&digest::SHA512, b"m");
        let sig = ed
            .sign(S::Ed25519PhSha512, SignInput::Digest(d.as_ref()))
            .unwrap();
        assert!(ed
            .verify(S::Ed25519PhSha512, SignInput::Digest(d.as_ref()), &sig)
            .unwrap());
        // Ed25519ph is not Ed25519: the signature does not verify as pure.
        assert!(!ed
            .verify(S::Ed25519Sha512, SignInput::Raw(b"m"), &sig)
            .unwrap());
        let other = digest::digest(&digest::SHA512, b"n");
        assert!(!ed
            .verify(S::Ed25519PhSha512, SignInput::Digest(other.as_ref()), &sig)
            .unwrap());
        let dsa = handle(KeySpec::MlDsa44);
        let mu = [7u8; 64];
        let sig = dsa
            .sign(S::MlDsaShake256, SignInput::ExternalMu(&mu))
            .unwrap();
        assert_eq!(sig.len(), 2420);
        assert!(dsa
            .verify(S::MlDsaShake256, SignInput::ExternalMu(&mu), &sig)
            .unwrap());
        assert!(!dsa
            .verify(S::MlDsaShake256, SignInput::ExternalMu(&[8u8; 64]), &sig)
            .unwrap());
    }

    #[test]
    fn hmac_matches_an_independent_computation_and_refuses_a_wrong_tag() {
        let rng = SystemRandom::new();
        let m = generate(KeySpec::Hmac384, &rng).unwrap();
        assert_eq!(m.expose().len(), 48);
        let key = load(KeySpec::Hmac384, &m, &rng).unwrap();
        let tag = key.mac(MacAlgorithmSpec::HmacSha384, b"hello").unwrap();
        let direct = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA384, m.expose()), b"hello");
        assert_eq!(tag, direct.as_ref());
        assert!(key
            .verify_mac(MacAlgorithmSpec::HmacSha384, b"hello", &tag)
            .unwrap());
        let mut bad = tag.clone();
        bad[0] ^= 1;
        assert!(!key
            .verify_mac(MacAlgorithmSpec::HmacSha384, b"hello", &bad)
            .unwrap());
        assert!(key.mac(MacAlgorithmSpec::HmacSha256, b"hello").is_err());
    }

    #[test]
    fn rsa_oaep_round_trip_and_algorithm_must_match() {
        let key = handle(KeySpec::Rsa2048);
        for alg in [
            EncryptionAlgorithmSpec::RsaesOaepSha1,
            EncryptionAlgorithmSpec::RsaesOaepSha256,
        ] {
            let max = spec::rsa_max_plaintext(KeySpec::Rsa2048, alg).unwrap();
            let ct = key.encrypt(alg, &vec![7u8; max]).unwrap();
            assert_eq!(key.decrypt(alg, &ct).unwrap().expose(), &vec![7u8; max][..]);
            assert!(key.encrypt(alg, &vec![7u8; max + 1]).is_err());
        }
        let ct = key
            .encrypt(EncryptionAlgorithmSpec::RsaesOaepSha1, b"x")
            .unwrap();
        assert_eq!(
            key.decrypt(EncryptionAlgorithmSpec::RsaesOaepSha256, &ct)
                .unwrap_err(),
            CryptoError::Authentication
        );
    }

    #[test]
    fn ecdh_agrees_and_refuses_another_curve() {
        let a = handle(KeySpec::EccNistP384);
        let b = handle(KeySpec::EccNistP384);
        let ab = a.derive_shared_secret(b.public_key().unwrap()).unwrap();
        let ba = b.derive_shared_secret(a.public_key().unwrap()).unwrap();
        assert_eq!(ab, ba);
        assert_eq!(ab.expose().len(), 48);
        let p256 = handle(KeySpec::EccNistP256);
        assert_eq!(
            a.derive_shared_secret(p256.public_key().unwrap())
                .unwrap_err(),
            CryptoError::InvalidPeerKey
        );
        assert!(handle(KeySpec::EccSecgP256k1)
            .derive_shared_secret(b"\x30")
            .is_err());
    }

    #[test]
    fn ml_kem_decapsulates_what_the_public_key_encapsulates() {
        let key = handle(KeySpec::MlKem768);
        let spki = key.public_key().unwrap();
        let raw = &spki[spki.len() - 1184..];
        let ek = kem::EncapsulationKey::new(&kem::ML_KEM_768, raw).unwrap();
        let (ct, ss) = ek.encapsulate().unwrap();
        assert_eq!(key.decapsulate(ct.as_ref()).unwrap().expose(), ss.as_ref());
        // Implicit rejection: a wrong ciphertext of the right length gives
        // another secret, not an error.
        let (ct2, ss2) = key.encapsulate().unwrap();
        assert_eq!(key.decapsulate(&ct2).unwrap(), ss2);
        let mut wrong = ct.as_ref().to_vec();
        wrong[0] ^= 1;
        let other = key.decapsulate(&wrong).unwrap();
        assert_ne!(other.expose(), ss.as_ref());
        assert!(key.decapsulate(&wrong[1..]).is_err());
    }

    /// The ML-KEM formats: the SubjectPublicKeyInfo's fixed prefix
    /// (`id-alg-ml-kem-768`, 2.16.840.1.101.3.4.4.2, no parameters), and
    /// stored material whose encapsulation key does not match the hash
    /// stored beside it refused at load.
    #[test]
    fn ml_kem_spki_prefix_and_tampered_material() {
        let rng = SystemRandom::new();
        let m = generate(KeySpec::MlKem768, &rng).unwrap();
        assert_eq!(m.expose().len(), 2400);
        let key = load(KeySpec::MlKem768, &m, &rng).unwrap();
        let spki = key.public_key().unwrap();
        let prefix = [
            0x30, 0x82, 0x04, 0xb2, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
            0x04, 0x04, 0x02, 0x03, 0x82, 0x04, 0xa1, 0x00,
        ];
        assert_eq!(&spki[..prefix.len()], &prefix[..]);
        assert_eq!(spki.len(), prefix.len() + 1184);
        let mut tampered = m.expose().to_vec();
        tampered[384 * 3 + 5] ^= 1; // inside ek
        assert_eq!(
            load(KeySpec::MlKem768, &SecretBytes::new(tampered), &rng).unwrap_err(),
            CryptoError::InvalidKey
        );
        assert!(load(KeySpec::MlKem768, &SecretBytes::new(vec![0; 2399]), &rng).is_err());
        assert!(load(KeySpec::MlKem512, &m, &rng).is_err());
    }

    #[test]
    fn debug_prints_no_secret() {
        let rng = SystemRandom::new();
        let m = generate(KeySpec::Hmac256, &rng).unwrap();
        let key = load(KeySpec::Hmac256, &m, &rng).unwrap();
        let printed = format!("{key:?}");
        assert!(!printed.contains(&format!("{:?}", m.expose())));
        assert!(printed.contains("redacted"));
    }
}
