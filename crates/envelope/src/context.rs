//! The encryption context: UTF-8 pairs, kept in the canonical order (by the
//! bytes of their keys) that the message format serializes them in.

use std::collections::BTreeMap;

use crate::wire::{put_short_bytes, ParseError, Reader};
use crate::Error;

/// The key under which a signing suite's verification key travels.
pub const PUBLIC_KEY_FIELD: &str = "aws-crypto-public-key";

/// Keys starting with this belong to the SDK.
pub(crate) const RESERVED_PREFIX: &str = "aws-crypto-";

/// Pairs of non-secret strings bound to a message: written in its header and
/// authenticated with it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add or replace a pair.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }

    /// The value of a key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Remove a key, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The pairs, in canonical order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The canonical serialization: a two-byte count, then each pair as
    /// length-prefixed key and value. Empty for an empty context (the form
    /// keyrings use as AAD).
    pub fn serialize(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        if self.0.is_empty() {
            return Ok(out);
        }
        let n = u16::try_from(self.0.len()).map_err(|_| Error::TooLong("encryption context"))?;
        out.extend_from_slice(&n.to_be_bytes());
        for (k, v) in &self.0 {
            put_short_bytes(&mut out, k.as_bytes(), "encryption context")?;
            put_short_bytes(&mut out, v.as_bytes(), "encryption context")?;
        }
        if out.len() > usize::from(u16::MAX) {
            return Err(Error::TooLong("encryption context"));
        }
        Ok(out)
    }

    /// The pairs whose keys are in `keys`.
    pub(crate) fn only(&self, keys: &[String]) -> EncryptionContext {
        EncryptionContext(
            self.0
                .iter()
                .filter(|(k, _)| keys.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// Parse the pairs of a header's AAD field (without its length prefix).
    pub(crate) fn parse(bytes: &[u8]) -> Result<EncryptionContext, ParseError> {
        let mut map = BTreeMap::new();
        if bytes.is_empty() {
            return Ok(EncryptionContext(map));
        }
        let bad = |what| ParseError::Bad(Error::Malformed(what));
        let mut r = Reader::new(bytes);
        let count = r
            .u16()
            .map_err(|_| bad("the encryption context is cut short"))?;
        if count == 0 {
            return Err(bad("the encryption context is present but has no pairs"));
        }
        for _ in 0..count {
            let k = r
                .short_bytes()
                .map_err(|_| bad("the encryption context is cut short"))?;
            let v = r
                .short_bytes()
                .map_err(|_| bad("the encryption context is cut short"))?;
            let k = std::str::from_utf8(k)
                .map_err(|_| bad("an encryption context key is not UTF-8"))?;
            let v = std::str::from_utf8(v)
                .map_err(|_| bad("an encryption context value is not UTF-8"))?;
            if map.insert(k.to_owned(), v.to_owned()).is_some() {
                return Err(bad("the encryption context has a duplicate key"));
            }
        }
        if r.pos() != bytes.len() {
            return Err(bad("the encryption context has bytes after its pairs"));
        }
        Ok(EncryptionContext(map))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for EncryptionContext {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        EncryptionContext(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_order_is_by_key_bytes() {
        let ec: EncryptionContext = [("b", "2"), ("a", "1"), ("B", "3")].into_iter().collect();
        let s = ec.serialize().unwrap();
        assert_eq!(
            s,
            b"\x00\x03\x00\x01B\x00\x013\x00\x01a\x00\x011\x00\x01b\x00\x012".to_vec()
        );
        assert_eq!(EncryptionContext::parse(&s).unwrap(), ec);
        assert!(EncryptionContext::new().serialize().unwrap().is_empty());
    }

    #[test]
    fn must_fail() {
        for (bytes, why) in [
            (&b"\x00\x00"[..], "zero pairs"),
            (b"\x00\x01\x00\x01a", "cut short"),
            (b"\x00\x02\x00\x01a\x00\x011\x00\x01a\x00\x012", "duplicate"),
            (b"\x00\x01\x00\x01\xff\x00\x011", "not UTF-8"),
            (b"\x00\x01\x00\x01a\x00\x011x", "trailing"),
        ] {
            assert!(EncryptionContext::parse(bytes).is_err(), "{why}");
        }
    }
}
