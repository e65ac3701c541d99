//! `trent-ffi`: the only crate with `unsafe` code. It calls aws-lc, through
//! `aws-lc-sys` (the very library aws-lc-rs links), for two operations
//! aws-lc-rs's safe API does not offer:
//!
//! - Ed25519ph (RFC 8032 §5.1, HashEdDSA, empty context) over a SHA-512
//!   digest the caller computed: `ED25519ph_sign_digest` /
//!   `ED25519ph_verify_digest` of `<openssl/curve25519.h>`.
//! - ML-DSA over an external μ (FIPS 204 §6.2, the 64-byte message
//!   representative computed outside): aws-lc's `EVP_PKEY_sign` /
//!   `EVP_PKEY_verify` on an ML-DSA key, its "digest" path, which takes μ.
//!
//! It refuses everything else: no key generation, no parsing beyond
//! handing DER to aws-lc. Each wrapper checks lengths in Rust before the
//! call and the return code after; C objects are freed by `Drop`; secret
//! buffers are zeroized. Why FFI and not a pure-Rust crate: these keys
//! already live in aws-lc (PKCS#8 parsed by it, the same implementation
//! that signs `RAW` messages), so the prehash and external-μ paths use the
//! same, FIPS-validated code rather than a second implementation of the
//! same key.

use aws_lc_sys as sys;
use std::ptr::NonNull;
use zeroize::Zeroizing;

/// Length of an Ed25519 signature.
pub const ED25519_SIGNATURE_LEN: usize = 64;
/// Length of the SHA-512 digest Ed25519ph signs.
pub const ED25519_PH_DIGEST_LEN: usize = 64;
/// Length of ML-DSA's μ.
pub const ML_DSA_MU_LEN: usize = 64;
/// The largest ML-DSA signature (ML-DSA-87).
const ML_DSA_MAX_SIGNATURE: usize = 4627;

/// Ed25519ph signature of `digest` (SHA-512 of the message) with the
/// private key given as its 32-byte seed and 32-byte public key.
pub fn ed25519ph_sign_digest(
    seed: &[u8; 32],
    public: &[u8; 32],
    digest: &[u8; ED25519_PH_DIGEST_LEN],
) -> Option<[u8; ED25519_SIGNATURE_LEN]> {
    // aws-lc's private key form: seed || public key.
    let mut private = Zeroizing::new([0u8; 64]);
    private[..32].copy_from_slice(seed);
    private[32..].copy_from_slice(public);
    let mut sig = [0u8; ED25519_SIGNATURE_LEN];
    // SAFETY: every pointer is to a live array of the length the C
    // prototype fixes (64-byte signature, 64-byte digest, 64-byte private
    // key); the context pointer is null with length 0, which the function
    // documents as allowed.
    let ok = unsafe {
        sys::ED25519ph_sign_digest(
            sig.as_mut_ptr(),
            digest.as_ptr(),
            private.as_ptr(),
            std::ptr::null(),
            0,
        )
    };
    if ok != 1 {
        clear_errors();
        return None;
    }
    Some(sig)
}

/// Whether `signature` is an Ed25519ph signature of `digest` by `public`.
pub fn ed25519ph_verify_digest(
    public: &[u8; 32],
    digest: &[u8; ED25519_PH_DIGEST_LEN],
    signature: &[u8],
) -> bool {
    let Ok(sig) = <&[u8; ED25519_SIGNATURE_LEN]>::try_from(signature) else {
        return false;
    };
    // SAFETY: as in `ed25519ph_sign_digest`: fixed-length arrays the C
    // function only reads, and a null, zero-length context.
    let ok = unsafe {
        sys::ED25519ph_verify_digest(
            digest.as_ptr(),
            sig.as_ptr(),
            public.as_ptr(),
            std::ptr::null(),
            0,
        )
    };
    ok == 1
}

/// Forget what a failed call left on aws-lc's per-thread error queue.
fn clear_errors() {
    // SAFETY: ERR_clear_error takes no arguments and only touches the
    // calling thread's error queue.
    unsafe { sys::ERR_clear_error() }
}

/// An aws-lc `EVP_PKEY`, freed on drop.
struct Pkey(NonNull<sys::EVP_PKEY>);

// SAFETY: an EVP_PKEY is reference-counted and immutable after parsing;
// aws-lc documents keys as safe to use from several threads at once as
// long as each operation has its own EVP_PKEY_CTX, which `with_ctx` makes.
unsafe impl Send for Pkey {}
// SAFETY: see `Send`.
unsafe impl Sync for Pkey {}

impl Drop for Pkey {
    fn drop(&mut self) {
        // SAFETY: the pointer came from a successful EVP_parse_* call and
        // is freed exactly once, here.
        unsafe { sys::EVP_PKEY_free(self.0.as_ptr()) }
    }
}

impl Pkey {
    /// Parse DER with `parse` (EVP_parse_private_key or
    /// EVP_parse_public_key), insisting that it takes every byte.
    fn parse(
        der: &[u8],
        parse: unsafe extern "C" fn(*mut sys::CBS) -> *mut sys::EVP_PKEY,
    ) -> Option<Pkey> {
        let mut cbs = std::mem::MaybeUninit::<sys::CBS>::uninit();
        // SAFETY: CBS_init only writes the two fields of `cbs`; the data
        // pointer stays valid for the parse below, which is all that uses it.
        let pkey = unsafe {
            sys::CBS_init(cbs.as_mut_ptr(), der.as_ptr(), der.len());
            let p = parse(cbs.as_mut_ptr());
            NonNull::new(p).map(Pkey)
        }?;
        // SAFETY: `cbs` was initialized by CBS_init above.
        let rest = unsafe { sys::CBS_len(cbs.as_ptr()) };
        (rest == 0).then_some(pkey)
    }

    /// `parse`, forgetting aws-lc's errors when it fails.
    fn parse_or_clear(
        der: &[u8],
        parse: unsafe extern "C" fn(*mut sys::CBS) -> *mut sys::EVP_PKEY,
    ) -> Option<Pkey> {
        let key = Pkey::parse(der, parse);
        if key.is_none() {
            clear_errors();
        }
        key
    }

    /// Run `f` with a fresh operation context on this key.
    fn with_ctx<T>(&self, f: impl FnOnce(*mut sys::EVP_PKEY_CTX) -> Option<T>) -> Option<T> {
        // SAFETY: the key is live; a null engine is the documented default.
        let ctx =
            NonNull::new(unsafe { sys::EVP_PKEY_CTX_new(self.0.as_ptr(), std::ptr::null_mut()) })?;
        let out = f(ctx.as_ptr());
        // SAFETY: created above, freed once.
        unsafe { sys::EVP_PKEY_CTX_free(ctx.as_ptr()) };
        out
    }

    fn is(&self, nids: &[i32]) -> bool {
        // SAFETY: the key is live; EVP_PKEY_id only reads it.
        let id = unsafe { sys::EVP_PKEY_id(self.0.as_ptr()) };
        nids.contains(&id)
    }
}

const ML_DSA_NIDS: [i32; 1] = [sys::NID_PQDSA];

/// An ML-DSA private key that signs an external μ.
pub struct MlDsaMuSigner(Pkey);

impl std::fmt::Debug for MlDsaMuSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MlDsaMuSigner(<redacted>)")
    }
}

impl MlDsaMuSigner {
    /// From an ML-DSA private key in PKCS#8 DER (seed or expanded form).
    pub fn from_pkcs8(der: &[u8]) -> Option<MlDsaMuSigner> {
        let key = Pkey::parse_or_clear(der, sys::EVP_parse_private_key)?;
        key.is(&ML_DSA_NIDS).then_some(MlDsaMuSigner(key))
    }

    /// The signature of the message whose representative is `mu`.
    pub fn sign_mu(&self, mu: &[u8; ML_DSA_MU_LEN]) -> Option<Vec<u8>> {
        self.0.with_ctx(|ctx| {
            let mut sig = vec![0u8; ML_DSA_MAX_SIGNATURE];
            let mut len = sig.len();
            // SAFETY: `ctx` is live for this closure; `sig` has `len`
            // writable bytes, which aws-lc checks against the signature
            // size before writing and then sets to the length written;
            // `mu` is 64 readable bytes.
            let ok = unsafe {
                sys::EVP_PKEY_sign_init(ctx) == 1
                    && sys::EVP_PKEY_sign(ctx, sig.as_mut_ptr(), &mut len, mu.as_ptr(), mu.len())
                        == 1
            };
            if !(ok && len <= sig.len()) {
                clear_errors();
                return None;
            }
            sig.truncate(len);
            Some(sig)
        })
    }
}

/// Whether `signature` is an ML-DSA signature of the message whose
/// representative is `mu`, by the key of `spki` (DER
/// `SubjectPublicKeyInfo`).
pub fn ml_dsa_verify_mu(spki: &[u8], mu: &[u8; ML_DSA_MU_LEN], signature: &[u8]) -> bool {
    let Some(key) = Pkey::parse_or_clear(spki, sys::EVP_parse_public_key) else {
        return false;
    };
    if !key.is(&ML_DSA_NIDS) {
        return false;
    }
    key.with_ctx(|ctx| {
        // SAFETY: `ctx` is live for this closure; both buffers are read
        // only, with their true lengths.
        let ok = unsafe {
            sys::EVP_PKEY_verify_init(ctx) == 1
                && sys::EVP_PKEY_verify(
                    ctx,
                    signature.as_ptr(),
                    signature.len(),
                    mu.as_ptr(),
                    mu.len(),
                ) == 1
        };
        if !ok {
            clear_errors();
        }
        Some(ok)
    })
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::digest;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{
        KeyPair, PqdsaKeyPair, UnparsedPublicKey, ML_DSA_65, ML_DSA_65_SIGNING,
    };

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// RFC 8032 §7.3, the Ed25519ph test vector ("abc"), and must-fail
    /// variants of it.
    #[test]
    fn ed25519ph_matches_rfc8032() {
        let seed: [u8; 32] = h("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
            .try_into()
            .unwrap();
        let public: [u8; 32] =
            h("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")
                .try_into()
                .unwrap();
        let want = h("98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406");
        let d: [u8; 64] = digest::digest(&digest::SHA512, b"abc")
            .as_ref()
            .try_into()
            .unwrap();
        let sig = ed25519ph_sign_digest(&seed, &public, &d).unwrap();
        assert_eq!(sig.to_vec(), want);
        assert!(ed25519ph_verify_digest(&public, &d, &sig));
        let mut bad = sig;
        bad[10] ^= 1;
        assert!(!ed25519ph_verify_digest(&public, &d, &bad));
        assert!(!ed25519ph_verify_digest(&public, &d, &sig[..63]));
        let other: [u8; 64] = digest::digest(&digest::SHA512, b"abd")
            .as_ref()
            .try_into()
            .unwrap();
        assert!(!ed25519ph_verify_digest(&public, &other, &sig));
    }

    /// μ = SHAKE256(SHAKE256(pk, 64) || 0 || 0 || M, 64) for pure ML-DSA
    /// with an empty context (FIPS 204 Algorithm 2 and 7): a signature of
    /// μ is a signature of M, which aws-lc-rs's safe API verifies.
    #[test]
    fn ml_dsa_signature_of_mu_verifies_as_one_of_the_message() {
        let pair = PqdsaKeyPair::generate(&ML_DSA_65_SIGNING).unwrap();
        let pkcs8 = pair.to_pkcs8v1().unwrap();
        let signer = MlDsaMuSigner::from_pkcs8(pkcs8.as_ref()).unwrap();
        let spki = pair.public_key().as_der().unwrap();
        let raw_pk = pair.public_key().as_ref().to_vec();
        let message = b"firmware image 7";
        let mu = mu_of(&raw_pk, message);
        let sig = signer.sign_mu(&mu).unwrap();
        assert_eq!(sig.len(), 3309);
        UnparsedPublicKey::new(&ML_DSA_65, &raw_pk)
            .verify(message, &sig)
            .unwrap();
        assert!(ml_dsa_verify_mu(spki.as_ref(), &mu, &sig));
        let mut other = mu;
        other[0] ^= 1;
        assert!(!ml_dsa_verify_mu(spki.as_ref(), &other, &sig));
        assert!(!ml_dsa_verify_mu(spki.as_ref(), &mu, &sig[1..]));
        assert!(!ml_dsa_verify_mu(b"not a key", &mu, &sig));
        assert!(MlDsaMuSigner::from_pkcs8(b"\x30\x00").is_none());
        // An Ed25519 key is not an ML-DSA key.
        let ed = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8v1(
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .unwrap();
        assert!(MlDsaMuSigner::from_pkcs8(ed.as_ref()).is_none());
    }

    /// FIPS 204's μ, with SHAKE256 from aws-lc's own XOF (not through this
    /// crate's code).
    fn mu_of(raw_pk: &[u8], message: &[u8]) -> [u8; 64] {
        let tr = shake256(&[raw_pk], 64);
        let m = shake256(&[&tr, &[0, 0], message], 64);
        m.try_into().unwrap()
    }

    fn shake256(parts: &[&[u8]], len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        // SAFETY: (test only) a digest context made, fed the parts with
        // their lengths, finished into `out` of `len` bytes, and freed.
        unsafe {
            let ctx = sys::EVP_MD_CTX_new();
            assert!(!ctx.is_null());
            assert_eq!(
                sys::EVP_DigestInit_ex(ctx, sys::EVP_shake256(), std::ptr::null_mut()),
                1
            );
            for p in parts {
                assert_eq!(sys::EVP_DigestUpdate(ctx, p.as_ptr().cast(), p.len()), 1);
            }
            assert_eq!(sys::EVP_DigestFinalXOF(ctx, out.as_mut_ptr(), len), 1);
            sys::EVP_MD_CTX_free(ctx);
        }
        out
    }
}
