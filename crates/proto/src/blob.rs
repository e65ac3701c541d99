//! Binary members, carried as standard base64 strings in JSON.

use base64_simd::STANDARD;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use zeroize::Zeroizing;

/// A non-secret binary member (a ciphertext blob).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Blob(pub Vec<u8>);

/// A secret binary member (plaintext, a data key). Zeroized on drop; its
/// `Debug` prints the length only.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretBlob(pub Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl std::fmt::Debug for SecretBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBlob(<redacted {} bytes>)", self.0.len())
    }
}

impl SecretBlob {
    /// Wrap bytes that are already zeroizing.
    pub fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        SecretBlob(bytes)
    }
}

struct B64Visitor;

impl Visitor<'_> for B64Visitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a base64-encoded string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
        STANDARD
            .decode_to_vec(v)
            .map_err(|_| E::custom("Invalid base64 in a binary member"))
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(B64Visitor).map(Blob)
    }
}

/// Decodes into a buffer that is zeroized whatever happens: a string that
/// turns out not to be base64 half-way leaves no decoded part behind.
struct SecretB64Visitor;

impl Visitor<'_> for SecretB64Visitor {
    type Value = Zeroizing<Vec<u8>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a base64-encoded string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Zeroizing<Vec<u8>>, E> {
        let invalid = || E::custom("Invalid base64 in a binary member");
        let len = STANDARD
            .decoded_length(v.as_bytes())
            .map_err(|_| invalid())?;
        let mut out = Zeroizing::new(vec![0u8; len]);
        let n = STANDARD
            .decode(v.as_bytes(), base64_simd::Out::from_slice(&mut out[..]))
            .map_err(|_| invalid())?
            .len();
        out.truncate(n);
        Ok(out)
    }
}

impl<'de> Deserialize<'de> for SecretBlob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(SecretB64Visitor).map(SecretBlob)
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode_to_string(&self.0))
    }
}

impl Serialize for SecretBlob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The encoded copy of a secret is zeroized too.
        let encoded = Zeroizing::new(STANDARD.encode_to_string(&self.0[..]));
        s.serialize_str(&encoded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_redacted_debug() {
        let b: SecretBlob = serde_json::from_str("\"aGVsbG8=\"").unwrap();
        assert_eq!(&b.0[..], b"hello");
        assert_eq!(format!("{b:?}"), "SecretBlob(<redacted 5 bytes>)");
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"aGVsbG8=\"");
    }

    #[test]
    fn secret_blobs_decode_like_blobs() {
        for text in ["\"\"", "\"aGVsbG8=\"", "\"AAEC\"", "\"aGk=\""] {
            let b: Blob = serde_json::from_str(text).unwrap();
            let s: SecretBlob = serde_json::from_str(text).unwrap();
            assert_eq!(&s.0[..], &b.0[..], "{text}");
        }
        for bad in ["\"!!!\"", "\"aGVsbG8\"", "\"aGVsbG8==\"", "\"aGV sbG8=\""] {
            assert!(serde_json::from_str::<SecretBlob>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn invalid_base64_is_an_error() {
        for bad in [
            "\"!!!\"",
            "12",
            "\"aGVsbG8\"",
            "\"aGVsbG8==\"",
            "\"aGV sbG8=\"",
        ] {
            assert!(serde_json::from_str::<Blob>(bad).is_err(), "{bad}");
        }
        let empty: Blob = serde_json::from_str("\"\"").unwrap();
        assert!(empty.0.is_empty());
    }

    #[test]
    fn long_blobs_round_trip() {
        let data: Vec<u8> = (0..6144u32).map(|i| (i * 7) as u8).collect();
        let json = serde_json::to_string(&Blob(data.clone())).unwrap();
        let back: Blob = serde_json::from_str(&json).unwrap();
        assert_eq!(back.0, data);
    }
}
