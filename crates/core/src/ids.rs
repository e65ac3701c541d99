//! Identifiers: accounts, regions, key ids, ARNs, and the `KeyId` parameter
//! in all its forms (key id, key ARN, alias name, alias ARN).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// The AWS partition Trent's ARNs use.
pub const PARTITION: &str = "aws";

/// A 12-digit account id. Cheap to clone (shared string).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(Arc<str>);

impl AccountId {
    /// Parse 12 ASCII digits.
    pub fn parse(s: &str) -> Option<AccountId> {
        (s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())).then(|| AccountId(Arc::from(s)))
    }
    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// As a number (for the ciphertext header).
    pub fn as_u64(&self) -> u64 {
        self.0.parse().unwrap_or(0)
    }
    /// From the number in a ciphertext header.
    pub fn from_u64(n: u64) -> Option<AccountId> {
        (n <= 999_999_999_999).then(|| AccountId(Arc::from(format!("{n:012}"))))
    }
    /// The account root principal, `arn:aws:iam::ACCOUNT:root`.
    pub fn root_arn(&self) -> String {
        format!("arn:{PARTITION}:iam::{}:root", self.0)
    }
}

impl TryFrom<String> for AccountId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        AccountId::parse(&s).ok_or(s)
    }
}

impl From<AccountId> for String {
    fn from(a: AccountId) -> String {
        a.0.to_string()
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A region name such as `us-east-1` (`^([a-z]+-){2,3}\d+$`). Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(Arc<str>);

impl Region {
    /// Parse a region name.
    pub fn parse(s: &str) -> Option<Region> {
        let parts: Vec<&str> = s.split('-').collect();
        let n = parts.len();
        let ok = (3..=4).contains(&n)
            && parts[..n - 1]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
            && !parts[n - 1].is_empty()
            && parts[n - 1].bytes().all(|b| b.is_ascii_digit());
        ok.then(|| Region(Arc::from(s)))
    }
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Region {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Region::parse(&s).ok_or(s)
    }
}

impl From<Region> for String {
    fn from(r: Region) -> String {
        r.0.to_string()
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key id: a lowercase UUID, or `mrk-` and 32 hex digits for a
/// multi-Region key. Kept as its 16 bytes plus the kind.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId {
    multi_region: bool,
    bytes: [u8; 16],
}

impl KeyId {
    /// A single-Region key id from 16 random bytes (made a version-4 UUID).
    pub fn from_random(mut bytes: [u8; 16]) -> KeyId {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        KeyId {
            multi_region: false,
            bytes,
        }
    }

    /// From the ciphertext header's fields.
    pub fn from_parts(multi_region: bool, bytes: [u8; 16]) -> KeyId {
        KeyId {
            multi_region,
            bytes,
        }
    }

    /// Parse a key id (case-insensitive hex; Trent prints lowercase).
    pub fn parse(s: &str) -> Option<KeyId> {
        if let Some(hexpart) = s.strip_prefix("mrk-") {
            let mut bytes = [0u8; 16];
            if hexpart.len() != 32 || hex::decode_to_slice(hexpart, &mut bytes).is_err() {
                return None;
            }
            return Some(KeyId {
                multi_region: true,
                bytes,
            });
        }
        let b = s.as_bytes();
        if b.len() != 36
            || !s.is_ascii()
            || b[8] != b'-'
            || b[13] != b'-'
            || b[18] != b'-'
            || b[23] != b'-'
        {
            return None;
        }
        // Decode the five hex groups in place: no allocation on the hot path.
        let mut bytes = [0u8; 16];
        let mut at = 0;
        for (start, end) in [(0, 8), (9, 13), (14, 18), (19, 23), (24, 36)] {
            let n = (end - start) / 2;
            hex::decode_to_slice(&s[start..end], &mut bytes[at..at + n]).ok()?;
            at += n;
        }
        Some(KeyId {
            multi_region: false,
            bytes,
        })
    }

    /// Whether this is a multi-Region key id.
    pub fn is_multi_region(&self) -> bool {
        self.multi_region
    }

    /// The 16 bytes.
    pub fn bytes(&self) -> &[u8; 16] {
        &self.bytes
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = hex::encode(self.bytes);
        if self.multi_region {
            write!(f, "mrk-{h}")
        } else {
            write!(
                f,
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            )
        }
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl TryFrom<String> for KeyId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        KeyId::parse(&s).ok_or(s)
    }
}

impl From<KeyId> for String {
    fn from(k: KeyId) -> String {
        k.to_string()
    }
}

/// Where a key lives: region, account, id. The primary key of a key record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyLocator {
    /// Region.
    pub region: Region,
    /// Owning account.
    pub account: AccountId,
    /// Key id.
    pub key_id: KeyId,
}

impl KeyLocator {
    /// `arn:aws:kms:REGION:ACCOUNT:key/ID`.
    pub fn arn(&self) -> String {
        format!(
            "arn:{PARTITION}:kms:{}:{}:key/{}",
            self.region, self.account, self.key_id
        )
    }
}

/// An alias name, `alias/...` (checked against AWS's rules by
/// [`crate::alias::check_new_alias_name`] where one is created).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AliasName(pub String);

impl AliasName {
    /// `arn:aws:kms:REGION:ACCOUNT:alias/NAME`.
    pub fn arn(&self, region: &Region, account: &AccountId) -> String {
        format!("arn:{PARTITION}:kms:{region}:{account}:{}", self.0)
    }
}

impl fmt::Display for AliasName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a `KeyId` request parameter named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// A key, by id or ARN. `account` is the ARN's account, or the caller's.
    Key(KeyLocator),
    /// An alias, by name or ARN.
    Alias {
        /// The alias's account (the ARN's, or the caller's).
        account: AccountId,
        /// The alias name.
        name: AliasName,
    },
}

/// Why a `KeyId` parameter could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefError {
    /// Not a key id, ARN or alias (`NotFoundException`).
    #[error("Invalid keyId '{0}'")]
    InvalidKeyId(String),
    /// A KMS ARN of another region (`NotFoundException`).
    #[error("Invalid arn {0}")]
    WrongRegion(String),
    /// Something that starts like an ARN but is not a KMS key or alias ARN
    /// (`InvalidArnException`).
    #[error("Invalid arn {0}")]
    InvalidArn(String),
}

/// Which forms a parameter accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepts {
    /// Key id or key ARN only.
    KeyOnly,
    /// Key id, key ARN, alias name or alias ARN.
    KeyOrAlias,
}

impl KeyRef {
    /// Read a `KeyId` parameter for a caller in `region` and `account`.
    pub fn parse(
        s: &str,
        region: &Region,
        account: &AccountId,
        accepts: Accepts,
    ) -> Result<KeyRef, KeyRefError> {
        if let Some(rest) = s.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            if parts.len() != 5 || parts[0] != PARTITION || parts[1] != "kms" {
                return Err(KeyRefError::InvalidArn(s.to_string()));
            }
            let arn_region = parts[2];
            let Some(arn_account) = AccountId::parse(parts[3]) else {
                return Err(KeyRefError::InvalidArn(s.to_string()));
            };
            let resource = parts[4];
            if Region::parse(arn_region).is_none() {
                return Err(KeyRefError::InvalidArn(s.to_string()));
            }
            if arn_region != region.as_str() {
                return Err(KeyRefError::WrongRegion(arn_region.to_string()));
            }
            if let Some(id) = resource.strip_prefix("key/") {
                let key_id = KeyId::parse(id).ok_or_else(|| KeyRefError::InvalidKeyId(s.into()))?;
                return Ok(KeyRef::Key(KeyLocator {
                    region: region.clone(),
                    account: arn_account,
                    key_id,
                }));
            }
            if resource.starts_with("alias/") && accepts == Accepts::KeyOrAlias {
                return Ok(KeyRef::Alias {
                    account: arn_account,
                    name: AliasName(resource.to_string()),
                });
            }
            return Err(KeyRefError::InvalidArn(s.to_string()));
        }
        if s.starts_with("alias/") && accepts == Accepts::KeyOrAlias {
            return Ok(KeyRef::Alias {
                account: account.clone(),
                name: AliasName(s.to_string()),
            });
        }
        let key_id = KeyId::parse(s).ok_or_else(|| KeyRefError::InvalidKeyId(s.to_string()))?;
        Ok(KeyRef::Key(KeyLocator {
            region: region.clone(),
            account: account.clone(),
            key_id,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> (Region, AccountId) {
        (
            Region::parse("us-east-1").unwrap(),
            AccountId::parse("111122223333").unwrap(),
        )
    }

    #[test]
    fn key_ids_round_trip() {
        let id = KeyId::parse("1234abcd-12ab-34cd-56ef-1234567890ab").unwrap();
        assert_eq!(id.to_string(), "1234abcd-12ab-34cd-56ef-1234567890ab");
        let mrk = KeyId::parse("mrk-1234abcd12ab34cd56ef1234567890ab").unwrap();
        assert!(mrk.is_multi_region());
        assert_eq!(mrk.to_string(), "mrk-1234abcd12ab34cd56ef1234567890ab");
        assert!(KeyId::parse("1234abcd12ab34cd56ef1234567890ab").is_none());
        assert!(KeyId::parse("fake-key-id").is_none());
        // 36 bytes with dashes in place but a multi-byte character: no panic.
        assert!(KeyId::parse("1234abc\u{e9}-2ab-34cd-56ef-1234567890ab").is_none());
        assert!(KeyId::parse("1234ABCD-12AB-34CD-56EF-1234567890AB").is_some());
        let random = KeyId::from_random([0xff; 16]);
        assert_eq!(&random.to_string()[14..15], "4");
    }

    #[test]
    fn key_refs() {
        let (r, a) = ctx();
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let arn = format!("arn:aws:kms:us-east-1:444455556666:key/{id}");
        match KeyRef::parse(&arn, &r, &a, Accepts::KeyOnly).unwrap() {
            KeyRef::Key(l) => assert_eq!(l.account.as_str(), "444455556666"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            KeyRef::parse("alias/x", &r, &a, Accepts::KeyOnly),
            Err(KeyRefError::InvalidKeyId("alias/x".into()))
        );
        assert!(matches!(
            KeyRef::parse("alias/x", &r, &a, Accepts::KeyOrAlias),
            Ok(KeyRef::Alias { .. })
        ));
        let other_region = format!("arn:aws:kms:ap-southeast-1:111122223333:key/{id}");
        assert_eq!(
            KeyRef::parse(&other_region, &r, &a, Accepts::KeyOnly)
                .unwrap_err()
                .to_string(),
            "Invalid arn ap-southeast-1"
        );
        assert!(matches!(
            KeyRef::parse("arn:aws:kms:xx", &r, &a, Accepts::KeyOnly),
            Err(KeyRefError::InvalidArn(_))
        ));
    }

    #[test]
    fn regions_and_accounts() {
        assert!(Region::parse("us-gov-west-1").is_some());
        assert!(Region::parse("Mars").is_none());
        assert!(AccountId::parse("12345678901").is_none());
        let a = AccountId::parse("000000000042").unwrap();
        assert_eq!(AccountId::from_u64(a.as_u64()).unwrap(), a);
    }
}
