//! The algorithm suites of the message format, and the commitment policy
//! that decides which of them a client may write and read.

use std::fmt;

use aws_lc_rs::aead;

/// One of the eleven ESDK algorithm suites. All use AES-GCM with a 12-byte
/// IV and a 16-byte tag; they differ in key length, key derivation, key
/// commitment and the signature in the footer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Suite {
    /// `ALG_AES_128_GCM_IV12_TAG16_NO_KDF` (0x0014)
    Aes128NoKdf,
    /// `ALG_AES_192_GCM_IV12_TAG16_NO_KDF` (0x0046)
    Aes192NoKdf,
    /// `ALG_AES_256_GCM_IV12_TAG16_NO_KDF` (0x0078)
    Aes256NoKdf,
    /// `ALG_AES_128_GCM_IV12_TAG16_HKDF_SHA256` (0x0114)
    Aes128HkdfSha256,
    /// `ALG_AES_192_GCM_IV12_TAG16_HKDF_SHA256` (0x0146)
    Aes192HkdfSha256,
    /// `ALG_AES_256_GCM_IV12_TAG16_HKDF_SHA256` (0x0178)
    Aes256HkdfSha256,
    /// `ALG_AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256` (0x0214)
    Aes128HkdfSha256EcdsaP256,
    /// `ALG_AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384` (0x0346)
    Aes192HkdfSha384EcdsaP384,
    /// `ALG_AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384` (0x0378)
    Aes256HkdfSha384EcdsaP384,
    /// `ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY` (0x0478)
    Aes256HkdfSha512Commit,
    /// `ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384` (0x0578), the
    /// default.
    Aes256HkdfSha512CommitEcdsaP384,
}

/// How the data key becomes the key that encrypts the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kdf {
    /// The data key is used as it is.
    Identity,
    /// HKDF with SHA-256.
    HkdfSha256,
    /// HKDF with SHA-384.
    HkdfSha384,
    /// HKDF with SHA-512.
    HkdfSha512,
}

/// The signature in the message footer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signature {
    /// ECDSA on P-256 with SHA-256.
    EcdsaP256Sha256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384Sha384,
}

use Suite::*;

const ALL: [Suite; 11] = [
    Aes128NoKdf,
    Aes192NoKdf,
    Aes256NoKdf,
    Aes128HkdfSha256,
    Aes192HkdfSha256,
    Aes256HkdfSha256,
    Aes128HkdfSha256EcdsaP256,
    Aes192HkdfSha384EcdsaP384,
    Aes256HkdfSha384EcdsaP384,
    Aes256HkdfSha512Commit,
    Aes256HkdfSha512CommitEcdsaP384,
];

impl Suite {
    /// Every suite, oldest first.
    pub fn all() -> &'static [Suite] {
        &ALL
    }

    /// The two-byte identifier written in the header.
    pub fn id(self) -> u16 {
        match self {
            Aes128NoKdf => 0x0014,
            Aes192NoKdf => 0x0046,
            Aes256NoKdf => 0x0078,
            Aes128HkdfSha256 => 0x0114,
            Aes192HkdfSha256 => 0x0146,
            Aes256HkdfSha256 => 0x0178,
            Aes128HkdfSha256EcdsaP256 => 0x0214,
            Aes192HkdfSha384EcdsaP384 => 0x0346,
            Aes256HkdfSha384EcdsaP384 => 0x0378,
            Aes256HkdfSha512Commit => 0x0478,
            Aes256HkdfSha512CommitEcdsaP384 => 0x0578,
        }
    }

    /// The suite with this identifier, if the ESDK has one.
    pub fn from_id(id: u16) -> Option<Suite> {
        ALL.into_iter().find(|s| s.id() == id)
    }

    /// The specification's name without its `ALG_` prefix, e.g.
    /// `AES_256_GCM_HKDF_SHA512_COMMIT_KEY`.
    pub fn name(self) -> &'static str {
        match self {
            Aes128NoKdf => "AES_128_GCM_IV12_TAG16_NO_KDF",
            Aes192NoKdf => "AES_192_GCM_IV12_TAG16_NO_KDF",
            Aes256NoKdf => "AES_256_GCM_IV12_TAG16_NO_KDF",
            Aes128HkdfSha256 => "AES_128_GCM_IV12_TAG16_HKDF_SHA256",
            Aes192HkdfSha256 => "AES_192_GCM_IV12_TAG16_HKDF_SHA256",
            Aes256HkdfSha256 => "AES_256_GCM_IV12_TAG16_HKDF_SHA256",
            Aes128HkdfSha256EcdsaP256 => "AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256",
            Aes192HkdfSha384EcdsaP384 => "AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
            Aes256HkdfSha384EcdsaP384 => "AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
            Aes256HkdfSha512Commit => "AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
            Aes256HkdfSha512CommitEcdsaP384 => "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384",
        }
    }

    /// The suite by name: the specification's (with or without `ALG_`), or
    /// the Python SDK's, which leaves `_NO_KDF` off (`AES_256_GCM_IV12_TAG16`),
    /// so a name that works with the official CLI works here.
    pub fn from_name(name: &str) -> Option<Suite> {
        let name = name.strip_prefix("ALG_").unwrap_or(name);
        ALL.into_iter().find(|s| {
            s.name() == name
                || s.name()
                    .strip_suffix("_NO_KDF")
                    .is_some_and(|short| short == name)
        })
    }

    /// The message format version this suite is written with.
    pub fn version(self) -> u8 {
        if self.committing() {
            2
        } else {
            1
        }
    }

    /// Whether the header commits to the data key.
    pub fn committing(self) -> bool {
        matches!(
            self,
            Aes256HkdfSha512Commit | Aes256HkdfSha512CommitEcdsaP384
        )
    }

    /// The length of the data key and of the derived key, in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Aes128NoKdf | Aes128HkdfSha256 | Aes128HkdfSha256EcdsaP256 => 16,
            Aes192NoKdf | Aes192HkdfSha256 | Aes192HkdfSha384EcdsaP384 => 24,
            _ => 32,
        }
    }

    /// The key derivation.
    pub fn kdf(self) -> Kdf {
        match self {
            Aes128NoKdf | Aes192NoKdf | Aes256NoKdf => Kdf::Identity,
            Aes128HkdfSha256 | Aes192HkdfSha256 | Aes256HkdfSha256 | Aes128HkdfSha256EcdsaP256 => {
                Kdf::HkdfSha256
            }
            Aes192HkdfSha384EcdsaP384 | Aes256HkdfSha384EcdsaP384 => Kdf::HkdfSha384,
            Aes256HkdfSha512Commit | Aes256HkdfSha512CommitEcdsaP384 => Kdf::HkdfSha512,
        }
    }

    /// The footer's signature, if the suite signs.
    pub fn signature(self) -> Option<Signature> {
        match self {
            Aes128HkdfSha256EcdsaP256 => Some(Signature::EcdsaP256Sha256),
            Aes192HkdfSha384EcdsaP384
            | Aes256HkdfSha384EcdsaP384
            | Aes256HkdfSha512CommitEcdsaP384 => Some(Signature::EcdsaP384Sha384),
            _ => None,
        }
    }

    /// The length of the message ID: 16 bytes in version 1, 32 in version 2.
    pub fn message_id_len(self) -> usize {
        if self.version() == 2 {
            32
        } else {
            16
        }
    }

    pub(crate) fn aead(self) -> &'static aead::Algorithm {
        match self.key_len() {
            16 => &aead::AES_128_GCM,
            24 => &aead::AES_192_GCM,
            _ => &aead::AES_256_GCM,
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which suites a client may encrypt with and decrypt, as the official SDKs
/// define it. The default requires key commitment both ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CommitmentPolicy {
    /// Encrypt without commitment; decrypt anything.
    ForbidEncryptAllowDecrypt,
    /// Encrypt with commitment; decrypt anything.
    RequireEncryptAllowDecrypt,
    /// Encrypt and decrypt only with commitment.
    #[default]
    RequireEncryptRequireDecrypt,
}

impl CommitmentPolicy {
    /// The policy by its official name, in either of the official spellings
    /// (`REQUIRE_ENCRYPT_ALLOW_DECRYPT` or `require-encrypt-allow-decrypt`).
    pub fn from_name(name: &str) -> Option<CommitmentPolicy> {
        match name.to_ascii_lowercase().replace('_', "-").as_str() {
            "forbid-encrypt-allow-decrypt" => Some(CommitmentPolicy::ForbidEncryptAllowDecrypt),
            "require-encrypt-allow-decrypt" => Some(CommitmentPolicy::RequireEncryptAllowDecrypt),
            "require-encrypt-require-decrypt" => {
                Some(CommitmentPolicy::RequireEncryptRequireDecrypt)
            }
            _ => None,
        }
    }

    /// Whether a message may be written with `suite`.
    pub fn allows_encrypt(self, suite: Suite) -> bool {
        match self {
            CommitmentPolicy::ForbidEncryptAllowDecrypt => !suite.committing(),
            _ => suite.committing(),
        }
    }

    /// Whether a message written with `suite` may be read.
    pub fn allows_decrypt(self, suite: Suite) -> bool {
        self != CommitmentPolicy::RequireEncryptRequireDecrypt || suite.committing()
    }

    /// The suite to encrypt with when none is named.
    pub fn default_suite(self) -> Suite {
        match self {
            CommitmentPolicy::ForbidEncryptAllowDecrypt => Aes256HkdfSha384EcdsaP384,
            _ => Aes256HkdfSha512CommitEcdsaP384,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_round_trip() {
        for s in Suite::all() {
            assert_eq!(Suite::from_id(s.id()), Some(*s));
            assert_eq!(Suite::from_name(s.name()), Some(*s));
            assert_eq!(Suite::from_name(&format!("ALG_{}", s.name())), Some(*s));
        }
        assert_eq!(
            Suite::from_name("AES_256_GCM_IV12_TAG16"),
            Some(Aes256NoKdf)
        );
        assert_eq!(Suite::from_id(0x0000), None);
        assert_eq!(
            Suite::from_id(0x0070),
            None,
            "an S3EC suite is not an ESDK suite"
        );
        assert_eq!(Suite::from_name("AES_256_GCM"), None);
    }

    #[test]
    fn policy() {
        let p = CommitmentPolicy::default();
        assert!(!p.allows_decrypt(Aes256HkdfSha384EcdsaP384));
        assert!(p.allows_decrypt(Aes256HkdfSha512Commit));
        assert!(!CommitmentPolicy::ForbidEncryptAllowDecrypt.allows_encrypt(Aes256HkdfSha512Commit));
        assert!(CommitmentPolicy::RequireEncryptAllowDecrypt.allows_decrypt(Aes128NoKdf));
        assert_eq!(
            CommitmentPolicy::from_name("REQUIRE_ENCRYPT_ALLOW_DECRYPT"),
            Some(CommitmentPolicy::RequireEncryptAllowDecrypt)
        );
        assert_eq!(CommitmentPolicy::from_name("require-encrypt"), None);
    }
}
