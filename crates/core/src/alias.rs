//! Aliases: a friendly name that points at a key, per region and account.

use crate::clock::Millis;
use crate::ids::{AccountId, AliasName, KeyId, Region};
use serde::{Deserialize, Serialize};

/// The maximum number of aliases one key may have.
pub const MAX_ALIASES_PER_KEY: usize = 50;

/// A stored alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    /// Region.
    pub region: Region,
    /// Account.
    pub account: AccountId,
    /// `alias/...`.
    pub name: AliasName,
    /// The key it points at.
    pub target: KeyId,
    /// `CreationDate`.
    pub created_at: Millis,
    /// `LastUpdatedDate`.
    pub updated_at: Millis,
}

/// Why a name cannot be used for a new alias.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AliasNameError {
    /// `ValidationException`.
    #[error("Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")]
    MissingPrefix,
    /// `NotAuthorizedException` (AWS sends no message).
    #[error("")]
    Reserved,
}

/// Check a name for CreateAlias / UpdateAlias / DeleteAlias (the model's
/// length and pattern are checked by the wire layer).
pub fn check_alias_name(name: &str) -> Result<AliasName, AliasNameError> {
    if !name.starts_with("alias/") || name.len() == "alias/".len() {
        return Err(AliasNameError::MissingPrefix);
    }
    if name.starts_with("alias/aws/") {
        return Err(AliasNameError::Reserved);
    }
    Ok(AliasName(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_alias_name("alias/my-key").is_ok());
        assert_eq!(
            check_alias_name("my-key"),
            Err(AliasNameError::MissingPrefix)
        );
        assert_eq!(
            check_alias_name("alias/"),
            Err(AliasNameError::MissingPrefix)
        );
        assert_eq!(
            check_alias_name("alias/aws/s3"),
            Err(AliasNameError::Reserved)
        );
        assert!(check_alias_name("alias/awsome").is_ok());
    }
}
