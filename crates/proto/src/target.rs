//! `X-Amz-Target: TrentService.<Operation>`.

macro_rules! operations {
    ($($variant:ident),+ $(,)?) => {
        /// Every operation of the KMS service model.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Operation { $($variant),+ }

        impl Operation {
            /// Every operation, in the service model's order.
            pub const ALL: &'static [Operation] = &[$(Operation::$variant),+];

            /// The operation name (`Encrypt`).
            pub fn name(self) -> &'static str {
                match self { $(Self::$variant => stringify!($variant)),+ }
            }
        }
    };
}

operations! {
    CancelKeyDeletion, ConnectCustomKeyStore, CreateAlias, CreateCustomKeyStore, CreateGrant,
    CreateKey, Decapsulate, Decrypt, DeleteAlias, DeleteCustomKeyStore, DeleteImportedKeyMaterial,
    DeriveSharedSecret, DescribeCustomKeyStores, DescribeKey, DisableKey, DisableKeyRotation,
    DisconnectCustomKeyStore, EnableKey, EnableKeyRotation, Encapsulate, Encrypt, GenerateDataKey,
    GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext, GenerateDataKeyWithoutPlaintext,
    GenerateMac, GenerateRandom, GetKeyLastUsage, GetKeyPolicy, GetKeyRotationStatus,
    GetParametersForImport, GetPublicKey, ImportKeyMaterial, ListAliases, ListGrants,
    ListKeyPolicies, ListKeyRotations, ListKeys, ListResourceTags, ListRetirableGrants,
    PutKeyPolicy, ReEncrypt, ReplicateKey, RetireGrant, RevokeGrant, RotateKeyOnDemand,
    ScheduleKeyDeletion, Sign, TagResource, UntagResource, UpdateAlias, UpdateCustomKeyStore,
    UpdateKeyDescription, UpdatePrimaryRegion, Verify, VerifyMac,
}

/// The service prefix of `X-Amz-Target`.
pub const TARGET_PREFIX: &str = "TrentService.";

impl Operation {
    /// Parse a full `X-Amz-Target` header value.
    pub fn from_target(target: &str) -> Option<Operation> {
        let name = target.strip_prefix(TARGET_PREFIX)?;
        Self::from_name(name)
    }

    /// Parse an operation name.
    pub fn from_name(name: &str) -> Option<Operation> {
        Operation::ALL.iter().copied().find(|op| op.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        assert_eq!(
            Operation::from_target("TrentService.Encrypt"),
            Some(Operation::Encrypt)
        );
        assert_eq!(Operation::from_target("TrentService.Nope"), None);
        assert_eq!(Operation::from_target("Encrypt"), None);
        assert_eq!(Operation::ALL.len(), 56);
    }
}
