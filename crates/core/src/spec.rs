//! What each key spec is: the usages it allows, the algorithms it offers
//! (the lists DescribeKey and GetPublicKey show), and its size limits.
//!
//! One table, read by CreateKey, by every cryptographic operation and by the
//! metadata responses, so that what a key advertises and what it accepts
//! cannot drift apart.

use trent_proto::{
    CustomerMasterKeySpec, EncapsulationAlgorithmSpec, EncryptionAlgorithmSpec,
    KeyAgreementAlgorithmSpec, KeySpec, KeyUsageType, MacAlgorithmSpec, MessageType, ModelEnum,
    SigningAlgorithmSpec,
};

use EncryptionAlgorithmSpec as E;
use KeySpec as K;
use KeyUsageType as U;
use SigningAlgorithmSpec as S;

/// The largest message Sign, Verify, GenerateMac and VerifyMac take.
pub const MAX_MESSAGE: usize = 4096;

/// The usages a spec allows, in AWS's order.
pub fn usages(spec: KeySpec) -> &'static [KeyUsageType] {
    match spec {
        K::SymmetricDefault => &[U::EncryptDecrypt],
        K::Rsa2048 | K::Rsa3072 | K::Rsa4096 => &[U::EncryptDecrypt, U::SignVerify],
        K::EccNistP256 | K::EccNistP384 | K::EccNistP521 => &[U::SignVerify, U::KeyAgreement],
        K::EccSecgP256k1 | K::EccNistEdwards25519 => &[U::SignVerify],
        K::MlDsa44 | K::MlDsa65 | K::MlDsa87 => &[U::SignVerify],
        K::MlKem512 | K::MlKem768 | K::MlKem1024 => &[U::EncapsulateDecapsulate],
        K::Hmac224 | K::Hmac256 | K::Hmac384 | K::Hmac512 => &[U::GenerateVerifyMac],
        // SM2 exists only in AWS's China Regions.
        K::Sm2 => &[U::EncryptDecrypt, U::SignVerify, U::KeyAgreement],
        // A spec the service model adds later: nothing until it is built.
        _ => &[],
    }
}

/// Whether Trent makes keys of this spec. SM2 is offered by AWS only in
/// its China Regions, and refused elsewhere as it is here.
pub fn offered(spec: KeySpec) -> bool {
    spec != K::Sm2
}

/// The algorithm lists a key shows in DescribeKey and GetPublicKey; a list
/// is `None` where AWS leaves the field out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Algorithms {
    /// `EncryptionAlgorithms`.
    pub encryption: Option<&'static [EncryptionAlgorithmSpec]>,
    /// `SigningAlgorithms`.
    pub signing: Option<&'static [SigningAlgorithmSpec]>,
    /// `MacAlgorithms`.
    pub mac: Option<&'static [MacAlgorithmSpec]>,
    /// `KeyAgreementAlgorithms`.
    pub key_agreement: Option<&'static [KeyAgreementAlgorithmSpec]>,
    /// `EncapsulationAlgorithms`.
    pub encapsulation: Option<&'static [EncapsulationAlgorithmSpec]>,
}

const RSA_SIGNING: &[SigningAlgorithmSpec] = &[
    S::RsassaPkcs1V15Sha256,
    S::RsassaPkcs1V15Sha384,
    S::RsassaPkcs1V15Sha512,
    S::RsassaPssSha256,
    S::RsassaPssSha384,
    S::RsassaPssSha512,
];
const RSA_ENCRYPTION: &[EncryptionAlgorithmSpec] = &[E::RsaesOaepSha1, E::RsaesOaepSha256];

/// The algorithms of a key of `spec` made for `usage`.
pub fn algorithms(spec: KeySpec, usage: KeyUsageType) -> Algorithms {
    let none = Algorithms::default();
    match (spec, usage) {
        (K::SymmetricDefault, _) => Algorithms {
            encryption: Some(&[E::SymmetricDefault]),
            ..none
        },
        (K::Rsa2048 | K::Rsa3072 | K::Rsa4096, U::EncryptDecrypt) => Algorithms {
            encryption: Some(RSA_ENCRYPTION),
            ..none
        },
        (K::Rsa2048 | K::Rsa3072 | K::Rsa4096, _) => Algorithms {
            signing: Some(RSA_SIGNING),
            ..none
        },
        (K::EccNistP256 | K::EccNistP384 | K::EccNistP521 | K::Sm2, U::KeyAgreement) => {
            Algorithms {
                key_agreement: Some(&[KeyAgreementAlgorithmSpec::Ecdh]),
                ..none
            }
        }
        (K::EccNistP256 | K::EccSecgP256k1, _) => Algorithms {
            signing: Some(&[S::EcdsaSha256]),
            ..none
        },
        (K::EccNistP384, _) => Algorithms {
            signing: Some(&[S::EcdsaSha384]),
            ..none
        },
        (K::EccNistP521, _) => Algorithms {
            signing: Some(&[S::EcdsaSha512]),
            ..none
        },
        (K::EccNistEdwards25519, _) => Algorithms {
            signing: Some(&[S::Ed25519Sha512, S::Ed25519PhSha512]),
            ..none
        },
        (K::MlDsa44 | K::MlDsa65 | K::MlDsa87, _) => Algorithms {
            signing: Some(&[S::MlDsaShake256]),
            ..none
        },
        (K::MlKem512 | K::MlKem768 | K::MlKem1024, _) => Algorithms {
            encapsulation: Some(&[EncapsulationAlgorithmSpec::MlKem]),
            ..none
        },
        (K::Hmac224, _) => Algorithms {
            mac: Some(&[MacAlgorithmSpec::HmacSha224]),
            ..none
        },
        (K::Hmac256, _) => Algorithms {
            mac: Some(&[MacAlgorithmSpec::HmacSha256]),
            ..none
        },
        (K::Hmac384, _) => Algorithms {
            mac: Some(&[MacAlgorithmSpec::HmacSha384]),
            ..none
        },
        (K::Hmac512, _) => Algorithms {
            mac: Some(&[MacAlgorithmSpec::HmacSha512]),
            ..none
        },
        (K::Sm2, U::EncryptDecrypt) => Algorithms {
            encryption: Some(&[E::Sm2pke]),
            ..none
        },
        (K::Sm2, _) => Algorithms {
            signing: Some(&[S::Sm2dsa]),
            ..none
        },
        _ => none,
    }
}

/// The deprecated `CustomerMasterKeySpec`, for the specs it has a name for.
pub fn customer_master_key_spec(spec: KeySpec) -> Option<CustomerMasterKeySpec> {
    CustomerMasterKeySpec::parse(spec.as_str())
}

/// Whether the key's material can rotate (automatically or on demand):
/// AWS rotates only symmetric encryption keys.
pub fn rotates(spec: KeySpec) -> bool {
    spec == K::SymmetricDefault
}

/// The length in bytes of the digest a signing algorithm signs, which is
/// what a `DIGEST` message must be.
pub fn digest_len(algorithm: SigningAlgorithmSpec) -> Option<usize> {
    match algorithm {
        S::RsassaPssSha256 | S::RsassaPkcs1V15Sha256 | S::EcdsaSha256 | S::Sm2dsa => Some(32),
        S::RsassaPssSha384 | S::RsassaPkcs1V15Sha384 | S::EcdsaSha384 => Some(48),
        S::RsassaPssSha512 | S::RsassaPkcs1V15Sha512 | S::EcdsaSha512 => Some(64),
        S::Ed25519PhSha512 => Some(64),
        _ => None,
    }
}

/// Whether `algorithm` takes messages of `kind`: `RAW` everywhere but
/// Ed25519ph, `DIGEST` for the hash-then-sign algorithms and Ed25519ph,
/// `EXTERNAL_MU` (the 64-byte μ of FIPS 204) only for ML-DSA.
pub fn accepts(algorithm: SigningAlgorithmSpec, kind: MessageType) -> bool {
    match (algorithm, kind) {
        (S::Ed25519Sha512, MessageType::Raw) => true,
        (S::Ed25519Sha512, _) => false,
        (S::Ed25519PhSha512, MessageType::Digest) => true,
        (S::Ed25519PhSha512, _) => false,
        (S::MlDsaShake256, MessageType::Raw | MessageType::ExternalMu) => true,
        (S::MlDsaShake256, _) => false,
        (_, MessageType::ExternalMu) => false,
        _ => true,
    }
}

/// The modulus length in bytes of an RSA spec.
pub fn rsa_modulus_len(spec: KeySpec) -> Option<usize> {
    match spec {
        K::Rsa2048 => Some(256),
        K::Rsa3072 => Some(384),
        K::Rsa4096 => Some(512),
        _ => None,
    }
}

/// The largest plaintext RSAES-OAEP encrypts under a key of `spec`:
/// `k - 2·hLen - 2` (RFC 8017 §7.1.1); 214/342/470 bytes with SHA-1 and
/// 190/318/446 with SHA-256, as AWS lists them.
pub fn rsa_max_plaintext(spec: KeySpec, algorithm: EncryptionAlgorithmSpec) -> Option<usize> {
    let h = match algorithm {
        E::RsaesOaepSha1 => 20,
        E::RsaesOaepSha256 => 32,
        _ => return None,
    };
    rsa_modulus_len(spec).map(|k| k - 2 * h - 2)
}

/// The lengths of HMAC key material a key of `spec` takes, as AWS allows
/// them for imported material (generated material has
/// [`hmac_key_len`] bytes). Empty for other specs.
pub fn hmac_key_range(spec: KeySpec) -> std::ops::RangeInclusive<usize> {
    match spec {
        K::Hmac224 => 28..=64,
        K::Hmac256 => 32..=64,
        K::Hmac384 => 48..=128,
        K::Hmac512 => 64..=128,
        #[allow(clippy::reversed_empty_ranges)]
        _ => 1..=0,
    }
}

/// Which key specs take imported material. AWS imports symmetric, HMAC,
/// RSA and ECC key material (and SM2 in China); the post-quantum and
/// Edwards specs are generated inside KMS only.
pub fn importable(spec: KeySpec) -> bool {
    !matches!(
        spec,
        K::MlDsa44
            | K::MlDsa65
            | K::MlDsa87
            | K::MlKem512
            | K::MlKem768
            | K::MlKem1024
            | K::EccNistEdwards25519
            | K::Sm2
    )
}

/// The key length in bytes of an HMAC spec.
pub fn hmac_key_len(spec: KeySpec) -> Option<usize> {
    match spec {
        K::Hmac224 => Some(28),
        K::Hmac256 => Some(32),
        K::Hmac384 => Some(48),
        K::Hmac512 => Some(64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_usage_shows_exactly_one_algorithm_list() {
        for &spec in KeySpec::ALL {
            for &usage in usages(spec) {
                let a = algorithms(spec, usage);
                let lists = [
                    a.encryption.is_some(),
                    a.signing.is_some(),
                    a.mac.is_some(),
                    a.key_agreement.is_some(),
                    a.encapsulation.is_some(),
                ];
                // Exactly one list, chosen by the usage, as AWS shows them.
                assert_eq!(lists.iter().filter(|l| **l).count(), 1, "{spec} {usage}");
            }
        }
    }

    #[test]
    fn oaep_limits_are_awss() {
        let f = |s, a| rsa_max_plaintext(s, a).unwrap();
        assert_eq!(f(K::Rsa2048, E::RsaesOaepSha1), 214);
        assert_eq!(f(K::Rsa3072, E::RsaesOaepSha1), 342);
        assert_eq!(f(K::Rsa4096, E::RsaesOaepSha1), 470);
        assert_eq!(f(K::Rsa2048, E::RsaesOaepSha256), 190);
        assert_eq!(f(K::Rsa3072, E::RsaesOaepSha256), 318);
        assert_eq!(f(K::Rsa4096, E::RsaesOaepSha256), 446);
        assert_eq!(rsa_max_plaintext(K::EccNistP256, E::RsaesOaepSha1), None);
    }

    #[test]
    fn new_specs_have_no_legacy_name() {
        assert_eq!(customer_master_key_spec(K::MlDsa65), None);
        assert_eq!(customer_master_key_spec(K::EccNistEdwards25519), None);
        assert_eq!(
            customer_master_key_spec(K::Rsa2048),
            Some(CustomerMasterKeySpec::Rsa2048)
        );
    }

    #[test]
    fn message_kinds() {
        assert!(accepts(S::EcdsaSha256, MessageType::Digest));
        assert!(!accepts(S::EcdsaSha256, MessageType::ExternalMu));
        assert!(!accepts(S::Ed25519Sha512, MessageType::Digest));
        assert!(!accepts(S::Ed25519PhSha512, MessageType::Raw));
        assert!(accepts(S::MlDsaShake256, MessageType::ExternalMu));
        assert!(!accepts(S::MlDsaShake256, MessageType::Digest));
    }
}
