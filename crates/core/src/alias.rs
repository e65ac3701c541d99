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
    /// `ValidationException`: only letters, digits, `/`, `_` and `-` may
    /// follow the prefix (the service model's pattern also admits `:`, which
    /// KMS refuses).
    #[error("{0} contains invalid characters for an alias")]
    InvalidCharacters(String),
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

/// Check the name of an alias being created or re-pointed: as
/// [`check_alias_name`], and only letters, digits, `/`, `_` and `-` (the
/// service model's pattern also admits `:`, which KMS refuses for new names).
pub fn check_new_alias_name(name: &str) -> Result<AliasName, AliasNameError> {
    let checked = check_alias_name(name)?;
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
    {
        return Err(AliasNameError::InvalidCharacters(name.to_string()));
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_alias_name("alias/my-key").is_ok());
        assert!(check_alias_name("alias/Team_1/app-key").is_ok());
        assert!(
            check_alias_name("alias/my:alias").is_ok(),
            "DeleteAlias looks it up"
        );
        for bad in ["alias/my:alias", "alias/a b", "alias/é", "alias/a.b"] {
            let e = check_new_alias_name(bad).unwrap_err();
            assert_eq!(e, AliasNameError::InvalidCharacters(bad.into()));
            assert_eq!(
                e.to_string(),
                format!("{bad} contains invalid characters for an alias")
            );
        }
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
