//! The string enums of the service model.
//!
//! In requests they are carried as [`WireEnum`], which accepts any string, so
//! that an unknown value becomes AWS's `Member must satisfy enum value set`
//! validation error rather than a deserialization failure.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string enum of the service model.
pub trait ModelEnum: Sized + Copy + 'static {
    /// Every value, in the order the service model lists them.
    const ALL: &'static [Self];
    /// The wire spelling.
    fn as_str(self) -> &'static str;
    /// Parse the wire spelling.
    fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == s)
    }
    /// `[A, B, C]` as AWS prints the set in validation messages.
    fn value_set() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
        format!("[{}]", names.join(", "))
    }
}

macro_rules! model_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name { $($variant),+ }

        impl ModelEnum for $name {
            const ALL: &'static [Self] = &[$(Self::$variant),+];
            fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire),+ }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                <$name as ModelEnum>::parse(&s).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "unknown {} value '{}'", stringify!($name), s
                    ))
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

model_enum!(KeyUsageType {
    SignVerify = "SIGN_VERIFY",
    EncryptDecrypt = "ENCRYPT_DECRYPT",
    GenerateVerifyMac = "GENERATE_VERIFY_MAC",
    KeyAgreement = "KEY_AGREEMENT",
    EncapsulateDecapsulate = "ENCAPSULATE_DECAPSULATE",
});

model_enum!(
    /// `KeySpec` (the current name) of the service model.
    KeySpec {
        Rsa2048 = "RSA_2048",
        Rsa3072 = "RSA_3072",
        Rsa4096 = "RSA_4096",
        EccNistP256 = "ECC_NIST_P256",
        EccNistP384 = "ECC_NIST_P384",
        EccNistP521 = "ECC_NIST_P521",
        EccSecgP256k1 = "ECC_SECG_P256K1",
        SymmetricDefault = "SYMMETRIC_DEFAULT",
        Hmac224 = "HMAC_224",
        Hmac256 = "HMAC_256",
        Hmac384 = "HMAC_384",
        Hmac512 = "HMAC_512",
        Sm2 = "SM2",
        MlDsa44 = "ML_DSA_44",
        MlDsa65 = "ML_DSA_65",
        MlDsa87 = "ML_DSA_87",
        EccNistEdwards25519 = "ECC_NIST_EDWARDS25519",
        MlKem512 = "ML_KEM_512",
        MlKem768 = "ML_KEM_768",
        MlKem1024 = "ML_KEM_1024",
    }
);

model_enum!(
    /// The deprecated `CustomerMasterKeySpec`, still accepted and returned.
    CustomerMasterKeySpec {
        Rsa2048 = "RSA_2048",
        Rsa3072 = "RSA_3072",
        Rsa4096 = "RSA_4096",
        EccNistP256 = "ECC_NIST_P256",
        EccNistP384 = "ECC_NIST_P384",
        EccNistP521 = "ECC_NIST_P521",
        EccSecgP256k1 = "ECC_SECG_P256K1",
        SymmetricDefault = "SYMMETRIC_DEFAULT",
        Hmac224 = "HMAC_224",
        Hmac256 = "HMAC_256",
        Hmac384 = "HMAC_384",
        Hmac512 = "HMAC_512",
        Sm2 = "SM2",
    }
);

model_enum!(OriginType {
    AwsKms = "AWS_KMS",
    External = "EXTERNAL",
    AwsCloudhsm = "AWS_CLOUDHSM",
    ExternalKeyStore = "EXTERNAL_KEY_STORE",
});

model_enum!(KeyState {
    Creating = "Creating",
    Enabled = "Enabled",
    Disabled = "Disabled",
    PendingDeletion = "PendingDeletion",
    PendingImport = "PendingImport",
    PendingReplicaDeletion = "PendingReplicaDeletion",
    Unavailable = "Unavailable",
    Updating = "Updating",
});

model_enum!(EncryptionAlgorithmSpec {
    SymmetricDefault = "SYMMETRIC_DEFAULT",
    RsaesOaepSha1 = "RSAES_OAEP_SHA_1",
    RsaesOaepSha256 = "RSAES_OAEP_SHA_256",
    Sm2pke = "SM2PKE",
});

model_enum!(SigningAlgorithmSpec {
    RsassaPssSha256 = "RSASSA_PSS_SHA_256",
    RsassaPssSha384 = "RSASSA_PSS_SHA_384",
    RsassaPssSha512 = "RSASSA_PSS_SHA_512",
    RsassaPkcs1V15Sha256 = "RSASSA_PKCS1_V1_5_SHA_256",
    RsassaPkcs1V15Sha384 = "RSASSA_PKCS1_V1_5_SHA_384",
    RsassaPkcs1V15Sha512 = "RSASSA_PKCS1_V1_5_SHA_512",
    EcdsaSha256 = "ECDSA_SHA_256",
    EcdsaSha384 = "ECDSA_SHA_384",
    EcdsaSha512 = "ECDSA_SHA_512",
    Sm2dsa = "SM2DSA",
    MlDsaShake256 = "ML_DSA_SHAKE_256",
    Ed25519Sha512 = "ED25519_SHA_512",
    Ed25519PhSha512 = "ED25519_PH_SHA_512",
});

model_enum!(MacAlgorithmSpec {
    HmacSha224 = "HMAC_SHA_224",
    HmacSha256 = "HMAC_SHA_256",
    HmacSha384 = "HMAC_SHA_384",
    HmacSha512 = "HMAC_SHA_512",
});

model_enum!(KeyAgreementAlgorithmSpec { Ecdh = "ECDH" });

model_enum!(EncapsulationAlgorithmSpec { MlKem = "ML_KEM" });

model_enum!(MessageType {
    Raw = "RAW",
    Digest = "DIGEST",
    ExternalMu = "EXTERNAL_MU",
});

model_enum!(DataKeyPairSpec {
    Rsa2048 = "RSA_2048",
    Rsa3072 = "RSA_3072",
    Rsa4096 = "RSA_4096",
    EccNistP256 = "ECC_NIST_P256",
    EccNistP384 = "ECC_NIST_P384",
    EccNistP521 = "ECC_NIST_P521",
    EccSecgP256k1 = "ECC_SECG_P256K1",
    Sm2 = "SM2",
    EccNistEdwards25519 = "ECC_NIST_EDWARDS25519",
});

model_enum!(DataKeySpec {
    Aes256 = "AES_256",
    Aes128 = "AES_128",
});

model_enum!(IncludeKeyMaterial {
    AllKeyMaterial = "ALL_KEY_MATERIAL",
    RotationsOnly = "ROTATIONS_ONLY",
});

model_enum!(KeyMaterialState {
    NonCurrent = "NON_CURRENT",
    Current = "CURRENT",
    PendingRotation = "PENDING_ROTATION",
    PendingMultiRegionImportAndRotation = "PENDING_MULTI_REGION_IMPORT_AND_ROTATION",
});

model_enum!(RotationType {
    Automatic = "AUTOMATIC",
    OnDemand = "ON_DEMAND",
});

model_enum!(ExpirationModelType {
    KeyMaterialExpires = "KEY_MATERIAL_EXPIRES",
    KeyMaterialDoesNotExpire = "KEY_MATERIAL_DOES_NOT_EXPIRE",
});

model_enum!(KeyManagerType {
    Aws = "AWS",
    Customer = "CUSTOMER",
});

model_enum!(GrantOperation {
    Decrypt = "Decrypt",
    Encrypt = "Encrypt",
    GenerateDataKey = "GenerateDataKey",
    GenerateDataKeyWithoutPlaintext = "GenerateDataKeyWithoutPlaintext",
    ReEncryptFrom = "ReEncryptFrom",
    ReEncryptTo = "ReEncryptTo",
    Sign = "Sign",
    Verify = "Verify",
    GetPublicKey = "GetPublicKey",
    CreateGrant = "CreateGrant",
    RetireGrant = "RetireGrant",
    DescribeKey = "DescribeKey",
    GenerateDataKeyPair = "GenerateDataKeyPair",
    GenerateDataKeyPairWithoutPlaintext = "GenerateDataKeyPairWithoutPlaintext",
    GenerateMac = "GenerateMac",
    VerifyMac = "VerifyMac",
    DeriveSharedSecret = "DeriveSharedSecret",
    Encapsulate = "Encapsulate",
    Decapsulate = "Decapsulate",
});

model_enum!(ResourceOwnerType {
    SelfOwned = "SELF",
    OtherAccountsViaRam = "OTHER_ACCOUNTS_VIA_RAM",
});

model_enum!(DryRunModifierType {
    IgnoreCiphertext = "IGNORE_CIPHERTEXT",
});

model_enum!(KeyEncryptionMechanism {
    RsaesOaepSha256 = "RSAES_OAEP_SHA_256",
});

model_enum!(KeyLastUsageTrackingOperation {
    Decrypt = "Decrypt",
    DeriveSharedSecret = "DeriveSharedSecret",
    Encrypt = "Encrypt",
    GenerateDataKey = "GenerateDataKey",
    GenerateDataKeyPair = "GenerateDataKeyPair",
    GenerateDataKeyPairWithoutPlaintext = "GenerateDataKeyPairWithoutPlaintext",
    GenerateDataKeyWithoutPlaintext = "GenerateDataKeyWithoutPlaintext",
    GenerateMac = "GenerateMac",
    ReEncrypt = "ReEncrypt",
    Sign = "Sign",
    Verify = "Verify",
    VerifyMac = "VerifyMac",
    Encapsulate = "Encapsulate",
    Decapsulate = "Decapsulate",
});

/// A request member typed by a model enum: the raw string is kept until
/// validation, so an unknown value is reported the way AWS reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum WireEnum<T> {
    /// A value of the set.
    Known(T),
    /// Anything else, kept for the error message.
    Unknown(String),
}

impl<T: ModelEnum> WireEnum<T> {
    /// The value, if it is one of the set.
    pub fn known(&self) -> Option<T> {
        match self {
            WireEnum::Known(v) => Some(*v),
            WireEnum::Unknown(_) => None,
        }
    }

    /// The string as it was sent.
    pub fn raw(&self) -> &str {
        match self {
            WireEnum::Known(v) => v.as_str(),
            WireEnum::Unknown(s) => s,
        }
    }
}

/// As it was sent (the audit trail records request parameters).
impl<T: ModelEnum> serde::Serialize for WireEnum<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.raw())
    }
}

impl<'de, T: ModelEnum> Deserialize<'de> for WireEnum<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(match T::parse(&s) {
            Some(v) => WireEnum::Known(v),
            None => WireEnum::Unknown(s.into_owned()),
        })
    }
}

model_enum!(
    /// `AlgorithmSpec`: how imported key material is wrapped.
    AlgorithmSpec {
        RsaesPkcs1V15 = "RSAES_PKCS1_V1_5",
        RsaesOaepSha1 = "RSAES_OAEP_SHA_1",
        RsaesOaepSha256 = "RSAES_OAEP_SHA_256",
        RsaAesKeyWrapSha1 = "RSA_AES_KEY_WRAP_SHA_1",
        RsaAesKeyWrapSha256 = "RSA_AES_KEY_WRAP_SHA_256",
        Sm2pke = "SM2PKE",
    }
);

model_enum!(
    /// `WrappingKeySpec`.
    WrappingKeySpec {
        Rsa2048 = "RSA_2048",
        Rsa3072 = "RSA_3072",
        Rsa4096 = "RSA_4096",
        Sm2 = "SM2",
    }
);

model_enum!(
    /// `ImportType`.
    ImportType {
        NewKeyMaterial = "NEW_KEY_MATERIAL",
        ExistingKeyMaterial = "EXISTING_KEY_MATERIAL",
    }
);

model_enum!(
    /// `ImportState`.
    ImportState {
        Imported = "IMPORTED",
        PendingImport = "PENDING_IMPORT",
    }
);
