//! The footer signature: ECDSA over the header and body, hashed as the bytes
//! stream past, so a message of any size is signed without being kept.

use aws_lc_rs::digest;
use aws_lc_rs::encoding::{AsBigEndian, EcPublicKeyCompressedBin};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;

use crate::{Error, Signature};

fn algorithms(
    sig: Signature,
) -> (
    &'static signature::EcdsaSigningAlgorithm,
    &'static signature::EcdsaVerificationAlgorithm,
    &'static digest::Algorithm,
) {
    match sig {
        Signature::EcdsaP256Sha256 => (
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &signature::ECDSA_P256_SHA256_ASN1,
            &digest::SHA256,
        ),
        Signature::EcdsaP384Sha384 => (
            &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            &signature::ECDSA_P384_SHA384_ASN1,
            &digest::SHA384,
        ),
    }
}

/// A fresh signing key for one message, and the hash of what it signs.
pub(crate) struct Signer {
    key: EcdsaKeyPair,
    hash: digest::Context,
}

impl Signer {
    /// A new key pair; also returns the public key as the encryption context
    /// carries it (base64 of the compressed point).
    pub fn generate(sig: Signature) -> Result<(Signer, String), Error> {
        let (signing, _, hash) = algorithms(sig);
        let key =
            EcdsaKeyPair::generate(signing).map_err(|_| Error::Crypto("ECDSA key generation"))?;
        let point: EcPublicKeyCompressedBin<'_> = key
            .public_key()
            .as_be_bytes()
            .map_err(|_| Error::Crypto("ECDSA public key"))?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(point.as_ref());
        Ok((
            Signer {
                key,
                hash: digest::Context::new(hash),
            },
            b64,
        ))
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.hash.update(bytes);
    }

    /// The footer: the DER signature with its two-byte length.
    pub fn footer(self) -> Result<Vec<u8>, Error> {
        let sig = self
            .key
            .sign_digest(&self.hash.finish())
            .map_err(|_| Error::Crypto("ECDSA signature"))?;
        let sig = sig.as_ref();
        let mut out = Vec::with_capacity(sig.len() + 2);
        out.extend_from_slice(&(sig.len() as u16).to_be_bytes());
        out.extend_from_slice(sig);
        Ok(out)
    }
}

/// The verification key from the encryption context, and the running hash.
pub(crate) struct Verifier {
    key: Vec<u8>,
    alg: &'static signature::EcdsaVerificationAlgorithm,
    hash: digest::Context,
}

impl Verifier {
    pub fn new(sig: Signature, public_key_b64: &str) -> Result<Verifier, Error> {
        let (_, alg, hash) = algorithms(sig);
        let key = base64::engine::general_purpose::STANDARD
            .decode(public_key_b64)
            .map_err(|_| Error::PublicKey("it is not base64"))?;
        Ok(Verifier {
            key,
            alg,
            hash: digest::Context::new(hash),
        })
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.hash.update(bytes);
    }

    pub fn verify(self, signature: &[u8]) -> Result<(), Error> {
        UnparsedPublicKey::new(self.alg, &self.key)
            .verify_digest(&self.hash.finish(), signature)
            .map_err(|_| Error::Signature)
    }
}
