//! Keyrings with a wrapping key held by the caller (from a file), for
//! offline use: the raw AES and raw RSA keyrings of the specification, byte
//! for byte, so their messages are readable by the official SDKs' raw
//! keyrings and the other way round.

use std::fmt;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_192_GCM, AES_256_GCM};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::{
    OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, Pkcs1PrivateDecryptingKey,
    Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1,
    OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384, OAEP_SHA512_MGF1SHA512,
};
use base64::Engine;
use zeroize::Zeroizing;

use crate::wire::Reader;
use crate::{DataKey, DecryptRequest, EncryptedDataKey, EncryptionContext, Error, Suite};

/// Wraps and unwraps data keys. Synchronous: the raw keyrings here; a KMS
/// keyring, which calls a server, drives the [`crate::Encryptor`] and
/// [`crate::Decryptor`] itself.
pub trait Keyring: Send + Sync {
    /// A wrapped copy of `key`, bound to `context`.
    fn wrap(
        &self,
        suite: Suite,
        context: &EncryptionContext,
        key: &DataKey,
    ) -> Result<EncryptedDataKey, Error>;

    /// The data key, if one of the request's wrapped keys is this keyring's
    /// and unwraps. Wrapped keys of other keyrings are skipped; one of this
    /// keyring's that fails to unwrap is skipped too, as the specification
    /// says, so a damaged copy does not hide a good one.
    fn unwrap(&self, request: &DecryptRequest<'_>) -> Option<DataKey>;
}

/// Try each keyring in turn, as the multi-keyring does.
pub fn unwrap_any(
    keyrings: &[&dyn Keyring],
    request: &DecryptRequest<'_>,
) -> Result<DataKey, Error> {
    keyrings
        .iter()
        .find_map(|k| k.unwrap(request))
        .ok_or(Error::NoDataKey(request.encrypted_data_keys.len()))
}

const GCM_IV_LEN: usize = 12;
const GCM_TAG_LEN: usize = 16;

/// The raw AES keyring: AES-GCM with a 128-, 192- or 256-bit wrapping key,
/// the serialized encryption context as AAD.
pub struct RawAesKeyring {
    namespace: String,
    name: String,
    key: LessSafeKey,
}

impl fmt::Debug for RawAesKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawAesKeyring")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl RawAesKeyring {
    /// A keyring from a key namespace (the provider ID), a key name, and
    /// the wrapping key's 16, 24 or 32 bytes.
    pub fn new(namespace: &str, name: &str, key: &[u8]) -> Result<Self, Error> {
        if namespace.starts_with("aws-kms") {
            return Err(Error::InvalidKey(
                "a raw keyring's namespace must not start with aws-kms",
            ));
        }
        let alg = match key.len() {
            16 => &AES_128_GCM,
            24 => &AES_192_GCM,
            32 => &AES_256_GCM,
            _ => {
                return Err(Error::InvalidKey(
                    "an AES wrapping key has 16, 24 or 32 bytes",
                ))
            }
        };
        let key = UnboundKey::new(alg, key).map_err(|_| Error::InvalidKey("AES wrapping key"))?;
        Ok(RawAesKeyring {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            key: LessSafeKey::new(key),
        })
    }
}

impl Keyring for RawAesKeyring {
    fn wrap(
        &self,
        _suite: Suite,
        context: &EncryptionContext,
        key: &DataKey,
    ) -> Result<EncryptedDataKey, Error> {
        let aad = context.serialize()?;
        let mut iv = [0u8; GCM_IV_LEN];
        SystemRandom::new()
            .fill(&mut iv)
            .map_err(|_| Error::Crypto("random IV"))?;
        // Room for the tag up front: a reallocation would free a copy of
        // the plaintext key without zeroizing it.
        let mut ciphertext = Vec::with_capacity(key.expose().len() + GCM_TAG_LEN);
        ciphertext.extend_from_slice(key.expose());
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(iv),
                Aad::from(aad),
                &mut ciphertext,
            )
            .map_err(|_| Error::Crypto("AES key wrap"))?;
        let mut info = self.name.as_bytes().to_vec();
        info.extend_from_slice(&((GCM_TAG_LEN * 8) as u32).to_be_bytes());
        info.extend_from_slice(&(GCM_IV_LEN as u32).to_be_bytes());
        info.extend_from_slice(&iv);
        Ok(EncryptedDataKey {
            provider_id: self.namespace.clone(),
            provider_info: info,
            ciphertext,
        })
    }

    fn unwrap(&self, request: &DecryptRequest<'_>) -> Option<DataKey> {
        let aad = request.encryption_context.serialize().ok()?;
        let name = self.name.as_bytes();
        request.encrypted_data_keys.iter().find_map(|edk| {
            if edk.provider_id != self.namespace {
                return None;
            }
            let info = edk.provider_info.strip_prefix(name)?;
            let mut r = Reader::new(info);
            let tag_bits = r.u32().ok()?;
            let iv_len = r.u32().ok()?;
            if tag_bits as usize != GCM_TAG_LEN * 8 || iv_len as usize != GCM_IV_LEN {
                return None;
            }
            let iv: [u8; GCM_IV_LEN] = r.array().ok()?;
            if r.pos() != info.len()
                || edk.ciphertext.len() != request.suite.key_len() + GCM_TAG_LEN
            {
                return None;
            }
            let mut buf = Zeroizing::new(edk.ciphertext.clone());
            let plain = self
                .key
                .open_in_place(Nonce::assume_unique_for_key(iv), Aad::from(&aad), &mut buf)
                .ok()?;
            Some(DataKey::new(plain.to_vec()))
        })
    }
}

/// The RSA padding of a raw RSA keyring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RsaPadding {
    /// PKCS #1 v1.5 (legacy; decrypt-compatible with old messages).
    Pkcs1,
    /// OAEP with SHA-1 and MGF1 with SHA-1.
    OaepSha1,
    /// OAEP with SHA-256 and MGF1 with SHA-256.
    OaepSha256,
    /// OAEP with SHA-384 and MGF1 with SHA-384.
    OaepSha384,
    /// OAEP with SHA-512 and MGF1 with SHA-512.
    OaepSha512,
}

impl RsaPadding {
    fn oaep(self) -> Option<&'static OaepAlgorithm> {
        match self {
            RsaPadding::Pkcs1 => None,
            RsaPadding::OaepSha1 => Some(&OAEP_SHA1_MGF1SHA1),
            RsaPadding::OaepSha256 => Some(&OAEP_SHA256_MGF1SHA256),
            RsaPadding::OaepSha384 => Some(&OAEP_SHA384_MGF1SHA384),
            RsaPadding::OaepSha512 => Some(&OAEP_SHA512_MGF1SHA512),
        }
    }
}

/// The raw RSA keyring: the data key encrypted to an RSA public key, the
/// key name as provider information. Either half may be missing: a keyring
/// with only the public key can encrypt, not decrypt.
pub struct RawRsaKeyring {
    namespace: String,
    name: String,
    padding: RsaPadding,
    public: Option<PublicEncryptingKey>,
    private: Option<PrivateDecryptingKey>,
}

impl fmt::Debug for RawRsaKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawRsaKeyring")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("padding", &self.padding)
            .field("can_decrypt", &self.private.is_some())
            .finish_non_exhaustive()
    }
}

impl RawRsaKeyring {
    /// A keyring from a PEM or DER key: a PKCS #8 private key (which also
    /// gives the public key) or an X.509 SubjectPublicKeyInfo public key.
    pub fn new(
        namespace: &str,
        name: &str,
        padding: RsaPadding,
        key: &[u8],
    ) -> Result<Self, Error> {
        if namespace.starts_with("aws-kms") {
            return Err(Error::InvalidKey(
                "a raw keyring's namespace must not start with aws-kms",
            ));
        }
        let der = pem_to_der(key)?;
        let (public, private) = match PrivateDecryptingKey::from_pkcs8(&der) {
            Ok(private) => (Some(private.public_key()), Some(private)),
            Err(_) => match PublicEncryptingKey::from_der(&der) {
                Ok(public) => (Some(public), None),
                Err(_) => {
                    return Err(Error::InvalidKey(
                        "neither a PKCS #8 RSA private key nor an RSA public key",
                    ))
                }
            },
        };
        Ok(RawRsaKeyring {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            padding,
            public,
            private,
        })
    }

    fn decrypt(&self, private: &PrivateDecryptingKey, ciphertext: &[u8]) -> Option<DataKey> {
        let mut out = Zeroizing::new(vec![0u8; private.key_size_bytes()]);
        let n = match self.padding.oaep() {
            Some(alg) => {
                let k = OaepPrivateDecryptingKey::new(private.clone()).ok()?;
                k.decrypt(alg, ciphertext, &mut out, None).ok()?.len()
            }
            None => {
                let k = Pkcs1PrivateDecryptingKey::new(private.clone()).ok()?;
                k.decrypt(ciphertext, &mut out).ok()?.len()
            }
        };
        Some(DataKey::new(out[..n].to_vec()))
    }
}

impl Keyring for RawRsaKeyring {
    fn wrap(
        &self,
        _suite: Suite,
        _context: &EncryptionContext,
        key: &DataKey,
    ) -> Result<EncryptedDataKey, Error> {
        let public = self
            .public
            .clone()
            .ok_or(Error::InvalidKey("no RSA public key"))?;
        let mut out = vec![0u8; public.key_size_bytes()];
        let n = match self.padding.oaep() {
            Some(alg) => {
                let k = OaepPublicEncryptingKey::new(public)
                    .map_err(|_| Error::InvalidKey("RSA public key"))?;
                k.encrypt(alg, key.expose(), &mut out, None)
                    .map_err(|_| Error::Crypto("RSA key wrap"))?
                    .len()
            }
            None => {
                let k = Pkcs1PublicEncryptingKey::new(public)
                    .map_err(|_| Error::InvalidKey("RSA public key"))?;
                k.encrypt(key.expose(), &mut out)
                    .map_err(|_| Error::Crypto("RSA key wrap"))?
                    .len()
            }
        };
        out.truncate(n);
        Ok(EncryptedDataKey {
            provider_id: self.namespace.clone(),
            provider_info: self.name.as_bytes().to_vec(),
            ciphertext: out,
        })
    }

    fn unwrap(&self, request: &DecryptRequest<'_>) -> Option<DataKey> {
        let private = self.private.as_ref()?;
        request.encrypted_data_keys.iter().find_map(|edk| {
            if edk.provider_id != self.namespace || edk.provider_info != self.name.as_bytes() {
                return None;
            }
            self.decrypt(private, &edk.ciphertext)
                .filter(|k| k.expose().len() == request.suite.key_len())
        })
    }
}

/// The DER inside a PEM file, or the bytes themselves if they are not PEM.
fn pem_to_der(bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(Zeroizing::new(bytes.to_vec()));
    };
    let Some(begin) = text.find("-----BEGIN ") else {
        return Ok(Zeroizing::new(bytes.to_vec()));
    };
    let body_start = text[begin..]
        .find('\n')
        .map(|i| begin + i + 1)
        .ok_or(Error::InvalidKey("a PEM block without a body"))?;
    let body_end = text[body_start..]
        .find("-----END ")
        .map(|i| body_start + i)
        .ok_or(Error::InvalidKey("a PEM block without its END line"))?;
    let body = &text[body_start..body_end];
    let mut b64 = Zeroizing::new(String::with_capacity(body.len()));
    b64.extend(body.chars().filter(|c| !c.is_ascii_whitespace()));
    base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| Error::InvalidKey("a PEM block that is not base64"))
}

/// Give an encryptor a fresh data key wrapped by every keyring.
pub fn wrap_all(enc: &mut crate::Encryptor, keyrings: &[&dyn Keyring]) -> Result<(), Error> {
    if keyrings.is_empty() {
        return Err(Error::Misuse("at least one keyring is needed"));
    }
    enc.set_data_key(DataKey::generate(enc.suite())?)?;
    for k in keyrings {
        let key = enc.data_key().ok_or(Error::Misuse("no data key"))?;
        let edk = k.wrap(enc.suite(), enc.encryption_context(), key)?;
        enc.add_encrypted_data_key(edk)?;
    }
    Ok(())
}
