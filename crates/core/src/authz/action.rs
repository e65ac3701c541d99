//! The actions a policy can name, as a typed enum, and sets of them compiled
//! from `Action` / `NotAction` patterns into a bit set (matching a request's
//! action against a statement is one bit test).

use super::glob;

macro_rules! actions {
    ($($variant:ident = $service:literal),+ $(,)?) => {
        /// An action of KMS (or STS) as policies name it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action { $($variant),+ }

        impl Action {
            /// Every action.
            pub const ALL: &'static [Action] = &[$(Action::$variant),+];

            /// The action's name without its service (`Encrypt`).
            pub fn name(self) -> &'static str {
                match self { $(Action::$variant => stringify!($variant)),+ }
            }

            /// The service prefix (`kms`, `sts`).
            pub fn service(self) -> &'static str {
                match self { $(Action::$variant => $service),+ }
            }

            /// `kms:Encrypt`.
            pub fn iam_name(self) -> &'static str {
                match self { $(Action::$variant => concat!($service, ":", stringify!($variant))),+ }
            }
        }
    };
}

actions! {
    CancelKeyDeletion = "kms", ConnectCustomKeyStore = "kms", CreateAlias = "kms",
    CreateCustomKeyStore = "kms", CreateGrant = "kms", CreateKey = "kms", Decapsulate = "kms",
    Decrypt = "kms", DeleteAlias = "kms", DeleteCustomKeyStore = "kms",
    DeleteImportedKeyMaterial = "kms", DeriveSharedSecret = "kms",
    DescribeCustomKeyStores = "kms", DescribeKey = "kms", DisableKey = "kms",
    DisableKeyRotation = "kms", DisconnectCustomKeyStore = "kms", EnableKey = "kms",
    EnableKeyRotation = "kms", Encapsulate = "kms", Encrypt = "kms", GenerateDataKey = "kms",
    GenerateDataKeyPair = "kms", GenerateDataKeyPairWithoutPlaintext = "kms",
    GenerateDataKeyWithoutPlaintext = "kms", GenerateMac = "kms", GenerateRandom = "kms",
    GetKeyLastUsage = "kms", GetKeyPolicy = "kms", GetKeyRotationStatus = "kms",
    GetParametersForImport = "kms", GetPublicKey = "kms", ImportKeyMaterial = "kms",
    ListAliases = "kms", ListGrants = "kms", ListKeyPolicies = "kms", ListKeyRotations = "kms",
    ListKeys = "kms", ListResourceTags = "kms", ListRetirableGrants = "kms",
    PutKeyPolicy = "kms", ReEncryptFrom = "kms", ReEncryptTo = "kms", ReplicateKey = "kms",
    RetireGrant = "kms", RevokeGrant = "kms", RotateKeyOnDemand = "kms",
    ScheduleKeyDeletion = "kms", Sign = "kms", SynchronizeMultiRegionKey = "kms",
    TagResource = "kms", UntagResource = "kms", UpdateAlias = "kms",
    UpdateCustomKeyStore = "kms", UpdateKeyDescription = "kms", UpdatePrimaryRegion = "kms",
    Verify = "kms", VerifyMac = "kms",
    AssumeRole = "sts", GetCallerIdentity = "sts",
    LookupEvents = "cloudtrail",
}

impl Action {
    /// Parse `kms:Encrypt` (case-insensitive, as IAM reads action names).
    pub fn from_iam_name(s: &str) -> Option<Action> {
        Action::ALL
            .iter()
            .copied()
            .find(|a| a.iam_name().eq_ignore_ascii_case(s))
    }

    fn bit(self) -> u128 {
        1u128 << (self as u32)
    }

    /// Whether a grant may give this action (the service model's
    /// `GrantOperation`).
    pub fn grantable(self) -> bool {
        use Action as A;
        matches!(
            self,
            A::Decrypt
                | A::Encrypt
                | A::GenerateDataKey
                | A::GenerateDataKeyWithoutPlaintext
                | A::ReEncryptFrom
                | A::ReEncryptTo
                | A::Sign
                | A::Verify
                | A::GetPublicKey
                | A::CreateGrant
                | A::RetireGrant
                | A::DescribeKey
                | A::GenerateDataKeyPair
                | A::GenerateDataKeyPairWithoutPlaintext
                | A::GenerateMac
                | A::VerifyMac
                | A::DeriveSharedSecret
                | A::Encapsulate
                | A::Decapsulate
        )
    }

    /// Whether AWS KMS lets a principal of another account do this on a key
    /// (the API reference's "Cross-account use: Yes").
    pub fn cross_account(self) -> bool {
        use Action as A;
        matches!(
            self,
            A::CreateGrant
                | A::Decrypt
                | A::DescribeKey
                | A::Encrypt
                | A::GenerateDataKey
                | A::GenerateDataKeyPair
                | A::GenerateDataKeyPairWithoutPlaintext
                | A::GenerateDataKeyWithoutPlaintext
                | A::GenerateMac
                | A::GetKeyRotationStatus
                | A::GetPublicKey
                | A::ListGrants
                | A::ReEncryptFrom
                | A::ReEncryptTo
                | A::RetireGrant
                | A::RevokeGrant
                | A::Sign
                | A::Verify
                | A::VerifyMac
                | A::DeriveSharedSecret
                | A::Encapsulate
                | A::Decapsulate
        )
    }
}

// Every action must have a bit.
const _: () = assert!(Action::ALL.len() <= 128);

/// A set of actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActionSet(u128);

impl ActionSet {
    /// No action.
    pub const NONE: ActionSet = ActionSet(0);

    /// The actions matched by any of `patterns` (`kms:Encrypt`, `kms:Re*`,
    /// `*`); names of other services' actions match nothing here.
    pub fn from_patterns(patterns: &[String]) -> ActionSet {
        let mut bits = 0u128;
        for p in patterns {
            for a in Action::ALL {
                if p == "*" || glob::matches(p, a.iam_name(), true) {
                    bits |= a.bit();
                }
            }
        }
        ActionSet(bits)
    }

    /// Every action not in this set.
    pub fn complement(self) -> ActionSet {
        let all = Action::ALL.iter().fold(0u128, |b, a| b | a.bit());
        ActionSet(all & !self.0)
    }

    /// Whether `a` is in the set.
    pub fn contains(self, a: Action) -> bool {
        self.0 & a.bit() != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sets() {
        assert_eq!(Action::Encrypt.iam_name(), "kms:Encrypt");
        assert_eq!(Action::AssumeRole.iam_name(), "sts:AssumeRole");
        assert_eq!(Action::from_iam_name("KMS:encrypt"), Some(Action::Encrypt));
        let s = ActionSet::from_patterns(&["kms:Encrypt*".into(), "kms:ReEncrypt*".into()]);
        assert!(s.contains(Action::Encrypt));
        assert!(s.contains(Action::ReEncryptFrom) && s.contains(Action::ReEncryptTo));
        assert!(!s.contains(Action::Decrypt));
        let all = ActionSet::from_patterns(&["kms:*".into()]);
        assert!(all.contains(Action::PutKeyPolicy) && !all.contains(Action::AssumeRole));
        let star = ActionSet::from_patterns(&["*".into()]);
        assert!(star.contains(Action::AssumeRole));
        let not =
            ActionSet::from_patterns(&["kms:Delete*".into(), "kms:Schedule*".into()]).complement();
        assert!(not.contains(Action::Encrypt) && !not.contains(Action::ScheduleKeyDeletion));
        assert_eq!(
            ActionSet::from_patterns(&["s3:GetObject".into()]),
            ActionSet::NONE
        );
    }
}
