//! The pure half of the AWS KMS keyrings: which wrapped data keys a keyring
//! may try and under which key identifier, following the specification's
//! MRK-aware strict and discovery keyrings. The calls themselves
//! (GenerateDataKey, Encrypt, Decrypt) are the caller's IO.

use crate::EncryptedDataKey;

/// The provider ID of data keys wrapped by AWS KMS.
pub const PROVIDER_ID: &str = "aws-kms";

/// An AWS KMS key or alias ARN, in parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsArn {
    /// `aws`, `aws-cn`, ...
    pub partition: String,
    /// The Region.
    pub region: String,
    /// The account.
    pub account: String,
    /// `key` or `alias`.
    pub resource_type: String,
    /// The key ID or alias name.
    pub resource_id: String,
}

impl KmsArn {
    /// Parse `arn:PARTITION:kms:REGION:ACCOUNT:key/ID` (or `alias/NAME`).
    pub fn parse(s: &str) -> Option<KmsArn> {
        let mut p = s.splitn(6, ':');
        let (arn, partition, service, region, account, resource) = (
            p.next()?,
            p.next()?,
            p.next()?,
            p.next()?,
            p.next()?,
            p.next()?,
        );
        if arn != "arn"
            || service != "kms"
            || [partition, region, account].iter().any(|s| s.is_empty())
        {
            return None;
        }
        let (resource_type, resource_id) = resource.split_once('/')?;
        if !matches!(resource_type, "key" | "alias") || resource_id.is_empty() {
            return None;
        }
        Some(KmsArn {
            partition: partition.into(),
            region: region.into(),
            account: account.into(),
            resource_type: resource_type.into(),
            resource_id: resource_id.into(),
        })
    }

    /// Whether this is a multi-Region key (`key/mrk-...`).
    pub fn is_mrk(&self) -> bool {
        self.resource_type == "key" && self.resource_id.starts_with("mrk-")
    }

    /// The ARN with another Region.
    pub fn in_region(&self, region: &str) -> String {
        format!(
            "arn:{}:kms:{}:{}:{}/{}",
            self.partition, region, self.account, self.resource_type, self.resource_id
        )
    }
}

/// The Region of a key identifier, if it is an ARN.
pub fn region_of(key_id: &str) -> Option<String> {
    KmsArn::parse(key_id).map(|a| a.region)
}

/// Whether a configured key identifier may decrypt a data key wrapped under
/// `wrapped_by`: the same identifier, or two multi-Region keys that differ
/// only by Region (replicas of one another).
pub fn mrk_match(configured: &str, wrapped_by: &str) -> bool {
    if configured == wrapped_by {
        return true;
    }
    match (KmsArn::parse(configured), KmsArn::parse(wrapped_by)) {
        (Some(a), Some(b)) if a.is_mrk() && b.is_mrk() => {
            a.partition == b.partition
                && a.account == b.account
                && a.resource_type == b.resource_type
                && a.resource_id == b.resource_id
        }
        _ => false,
    }
}

/// The ARN a KMS data key names in its provider information, if it is a
/// valid key ARN.
fn wrapping_arn(edk: &EncryptedDataKey) -> Option<(String, KmsArn)> {
    if edk.provider_id != PROVIDER_ID {
        return None;
    }
    let s = std::str::from_utf8(&edk.provider_info).ok()?;
    let arn = KmsArn::parse(s).filter(|a| a.resource_type == "key")?;
    Some((s.to_owned(), arn))
}

/// The data keys a strict keyring with these key identifiers may try, each
/// with the identifier to call Decrypt with (the configured one: a replica
/// in this Region decrypts for a multi-Region key of another).
pub fn strict_candidates(edks: &[EncryptedDataKey], key_ids: &[String]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, edk) in edks.iter().enumerate() {
        let Some((arn, _)) = wrapping_arn(edk) else {
            continue;
        };
        if let Some(k) = key_ids.iter().find(|k| mrk_match(k, &arn)) {
            out.push((i, k.clone()));
        }
    }
    out
}

/// Which accounts of which partition a discovery keyring trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryFilter {
    /// The partition, e.g. `aws`.
    pub partition: String,
    /// The accounts.
    pub accounts: Vec<String>,
}

/// The data keys a discovery keyring in `region` may try: any key ARN the
/// filter allows; a multi-Region key is asked of its replica in `region`,
/// a single-Region key only if it is in `region`.
pub fn discovery_candidates(
    edks: &[EncryptedDataKey],
    filter: Option<&DiscoveryFilter>,
    region: &str,
) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, edk) in edks.iter().enumerate() {
        let Some((s, arn)) = wrapping_arn(edk) else {
            continue;
        };
        if let Some(f) = filter {
            if f.partition != arn.partition || !f.accounts.contains(&arn.account) {
                continue;
            }
        }
        if arn.is_mrk() {
            out.push((i, arn.in_region(region)));
        } else if arn.region == region {
            out.push((i, s));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edk(info: &str) -> EncryptedDataKey {
        EncryptedDataKey {
            provider_id: PROVIDER_ID.into(),
            provider_info: info.as_bytes().to_vec(),
            ciphertext: vec![1],
        }
    }

    const MRK_EAST: &str = "arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd";
    const MRK_WEST: &str = "arn:aws:kms:us-west-2:111122223333:key/mrk-1234abcd";
    const KEY_EAST: &str =
        "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn arns() {
        let a = KmsArn::parse(MRK_EAST).unwrap();
        assert!(a.is_mrk());
        assert_eq!(a.in_region("us-west-2"), MRK_WEST);
        assert!(!KmsArn::parse(KEY_EAST).unwrap().is_mrk());
        for bad in [
            "arn:aws:s3:us-east-1:1:key/x",
            "arn:aws:kms:us-east-1:1:key/",
            "arn:aws:kms::1:key/x",
            "mrk-1",
            "arn:aws:kms:us-east-1:1:user/x",
        ] {
            assert!(KmsArn::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn mrk_matching() {
        assert!(mrk_match(MRK_WEST, MRK_EAST));
        assert!(mrk_match(KEY_EAST, KEY_EAST));
        let key_west = KEY_EAST.replace("us-east-1", "us-west-2");
        assert!(
            !mrk_match(&key_west, KEY_EAST),
            "single-Region keys never match across Regions"
        );
        assert!(!mrk_match(
            &MRK_WEST.replace("111122223333", "444455556666"),
            MRK_EAST
        ));
        assert!(!mrk_match("mrk-1234abcd", MRK_EAST));
    }

    #[test]
    fn candidates() {
        let edks = vec![
            EncryptedDataKey {
                provider_id: "raw".into(),
                provider_info: b"x".to_vec(),
                ciphertext: vec![],
            },
            edk(MRK_EAST),
            edk(KEY_EAST),
            edk("not an arn"),
        ];
        assert_eq!(
            strict_candidates(&edks, &[MRK_WEST.into()]),
            vec![(1, MRK_WEST.to_owned())]
        );
        assert_eq!(
            strict_candidates(&edks, &[KEY_EAST.into()]),
            vec![(2, KEY_EAST.to_owned())]
        );
        assert_eq!(
            discovery_candidates(&edks, None, "us-west-2"),
            vec![(1, MRK_WEST.to_owned())]
        );
        assert_eq!(
            discovery_candidates(&edks, None, "us-east-1"),
            vec![(1, MRK_EAST.to_owned()), (2, KEY_EAST.to_owned())]
        );
        let other = DiscoveryFilter {
            partition: "aws".into(),
            accounts: vec!["444455556666".into()],
        };
        assert!(discovery_candidates(&edks, Some(&other), "us-east-1").is_empty());
        let cn = DiscoveryFilter {
            partition: "aws-cn".into(),
            accounts: vec!["111122223333".into()],
        };
        assert!(discovery_candidates(&edks, Some(&cn), "us-east-1").is_empty());
    }
}
