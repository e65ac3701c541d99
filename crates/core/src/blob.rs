//! The ciphertext blob format (version 1), documented in `docs/ciphertext-format.md`.
//!
//! ```text
//! offset size field
//!  0     2    magic "TK" (0x54 0x4B)
//!  2     1    format version: 1
//!  3     1    suite: 1 = AES-256-GCM, per-blob key from an SP 800-108 KDF
//!  4     8    account id (u64, big-endian)
//! 12     1    key id kind: 0 = UUID, 1 = multi-Region (mrk-)
//! 13    16    key id
//! 29     4    key material version (u32, big-endian)
//! 33    32    nonce: random, the KDF's context
//! 65     n    ciphertext (n = plaintext length)
//! 65+n  16    GCM tag
//! ```
//!
//! The 65-byte header identifies the key and version, so Decrypt needs no
//! `KeyId`. The header and the encoded encryption context are authenticated
//! together; the header is also the KDF's context, so each blob is sealed
//! under its own key.

use crate::ids::{AccountId, KeyId};
use std::collections::BTreeMap;

/// Header magic.
pub const MAGIC: [u8; 2] = *b"TK";
/// Format version written today.
pub const FORMAT_V1: u8 = 1;
/// AES-256-GCM with a per-blob key derived by SP 800-108 (HMAC-SHA256).
pub const SUITE_AES256_GCM_KDF: u8 = 1;
/// Header length.
pub const HEADER_LEN: usize = 65;
/// GCM tag length.
pub const TAG_LEN: usize = 16;
/// Nonce length.
pub const NONCE_LEN: usize = 32;
/// Bytes a blob adds to its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// The parsed header of a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The owning account of the key.
    pub account: AccountId,
    /// The key.
    pub key_id: KeyId,
    /// The key material version.
    pub version: u32,
    /// The per-blob nonce.
    pub nonce: [u8; NONCE_LEN],
}

impl Header {
    /// The 65 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..2].copy_from_slice(&MAGIC);
        h[2] = FORMAT_V1;
        h[3] = SUITE_AES256_GCM_KDF;
        h[4..12].copy_from_slice(&self.account.as_u64().to_be_bytes());
        h[12] = u8::from(self.key_id.is_multi_region());
        h[13..29].copy_from_slice(self.key_id.bytes());
        h[29..33].copy_from_slice(&self.version.to_be_bytes());
        h[33..65].copy_from_slice(&self.nonce);
        h
    }
}

/// Why a blob is not one of ours. Every case is reported to the client as
/// `InvalidCiphertextException`, without saying which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// Too short, wrong magic, unknown version or suite, bad fields.
    #[error("not a Trent ciphertext blob")]
    Malformed,
}

/// A parsed blob: its header and where the sealed part starts.
#[derive(Debug)]
pub struct Parsed<'a> {
    /// The header.
    pub header: Header,
    /// The header bytes as received.
    pub header_bytes: &'a [u8],
    /// Ciphertext and tag.
    pub sealed: &'a [u8],
}

/// Parse a blob's header without decrypting anything.
pub fn parse(blob: &[u8]) -> Result<Parsed<'_>, BlobError> {
    if blob.len() < OVERHEAD + 1
        || blob[0..2] != MAGIC
        || blob[2] != FORMAT_V1
        || blob[3] != SUITE_AES256_GCM_KDF
        || blob[12] > 1
    {
        return Err(BlobError::Malformed);
    }
    let account = u64::from_be_bytes(blob[4..12].try_into().map_err(|_| BlobError::Malformed)?);
    let account = AccountId::from_u64(account).ok_or(BlobError::Malformed)?;
    let id: [u8; 16] = blob[13..29].try_into().map_err(|_| BlobError::Malformed)?;
    let version = u32::from_be_bytes(blob[29..33].try_into().map_err(|_| BlobError::Malformed)?);
    let nonce: [u8; NONCE_LEN] = blob[33..65].try_into().map_err(|_| BlobError::Malformed)?;
    Ok(Parsed {
        header: Header {
            account,
            key_id: KeyId::from_parts(blob[12] == 1, id),
            version,
            nonce,
        },
        header_bytes: &blob[..HEADER_LEN],
        sealed: &blob[HEADER_LEN..],
    })
}

/// The canonical encoding of an encryption context, authenticated with the
/// header: a count, then each pair sorted by key (byte order), every string
/// prefixed by its length (u32, big-endian). Length prefixes make the
/// encoding injective: `{"ab":"c"}` and `{"a":"bc"}` encode differently.
pub fn encode_context(context: &BTreeMap<String, String>) -> Vec<u8> {
    let size: usize = context.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
    let mut out = Vec::with_capacity(4 + size);
    out.extend_from_slice(&(context.len() as u32).to_be_bytes());
    // BTreeMap<String, _> iterates in byte order of the keys.
    for (k, v) in context {
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            account: AccountId::parse("111122223333").unwrap(),
            key_id: KeyId::from_random([3; 16]),
            version: 7,
            nonce: [9; 32],
        }
    }

    #[test]
    fn header_round_trips() {
        let h = header();
        let mut blob = h.encode().to_vec();
        blob.extend_from_slice(&[0u8; 17]);
        let p = parse(&blob).unwrap();
        assert_eq!(p.header, h);
        assert_eq!(p.sealed.len(), 17);
    }

    #[test]
    fn foreign_blobs_are_malformed() {
        // An AWS Encryption SDK v2 message starts with 0x02 0x05.
        let mut esdk = vec![0x02, 0x05, 0x78];
        esdk.resize(300, 0);
        assert_eq!(parse(&esdk).unwrap_err(), BlobError::Malformed);
        // An AWS KMS blob starts with 0x01 0x02 0x02 0x00.
        let mut aws = vec![0x01, 0x02, 0x02, 0x00];
        aws.resize(200, 1);
        assert!(parse(&aws).is_err());
        assert!(parse(b"TK").is_err());
        let mut short = header().encode().to_vec();
        short.extend_from_slice(&[0u8; 16]);
        assert!(
            parse(&short).is_err(),
            "no room for even one byte of plaintext"
        );
        let mut bad_version = header().encode().to_vec();
        bad_version[2] = 2;
        bad_version.resize(100, 0);
        assert!(parse(&bad_version).is_err());
    }

    #[test]
    fn context_encoding_is_injective() {
        let a: BTreeMap<String, String> = [("ab".into(), "c".into())].into();
        let b: BTreeMap<String, String> = [("a".into(), "bc".into())].into();
        assert_ne!(encode_context(&a), encode_context(&b));
        let c: BTreeMap<String, String> =
            [("a".into(), "b".into()), ("c".into(), "d".into())].into();
        let d: BTreeMap<String, String> = [("a".into(), "b\u{0}c".into())].into();
        assert_ne!(encode_context(&c), encode_context(&d));
        assert_eq!(encode_context(&BTreeMap::new()), vec![0, 0, 0, 0]);
    }

    #[test]
    fn context_order_does_not_matter() {
        let mut x = BTreeMap::new();
        x.insert("z".to_string(), "1".to_string());
        x.insert("a".to_string(), "2".to_string());
        let mut y = BTreeMap::new();
        y.insert("a".to_string(), "2".to_string());
        y.insert("z".to_string(), "1".to_string());
        assert_eq!(encode_context(&x), encode_context(&y));
    }
}
