//! `trent-proto`: the AWS JSON 1.1 wire model of the KMS API (`TrentService`).
//!
//! It owns: one request and one response struct per operation, the enums of the
//! service model, base64 blobs, the `X-Amz-Target` name of every operation, the
//! catalogue of error codes with their HTTP status, and input validation that
//! produces AWS's `ValidationException` messages.
//!
//! It refuses: any domain logic (key states, ARNs, crypto) and any IO. Requests
//! keep every field optional so that a missing required member becomes AWS's
//! `Value null at 'keyId' failed to satisfy constraint: Member must not be null`
//! instead of a serde error.

mod blob;
mod context;
mod enums;
mod error;
pub mod json;
pub mod ops;
mod target;
mod validate;

pub use blob::{Blob, SecretBlob};
pub use context::EncryptionContext;
pub use enums::*;
pub use error::ErrorCode;
pub use target::Operation;
pub use validate::{Validate, ValidationErrors, Validator};

/// A point in time as the JSON protocol carries it: seconds since the epoch,
/// with a fractional part (botocore parses the number into a datetime).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timestamp(pub f64);

impl Timestamp {
    /// From milliseconds since the epoch (the unit Trent keeps internally).
    pub fn from_millis(ms: i64) -> Self {
        Timestamp(ms as f64 / 1000.0)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    /// A request timestamp: seconds since the epoch, as the AWS JSON
    /// protocol sends it (a number, possibly fractional).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if !v.is_finite() {
            return Err(serde::de::Error::custom("timestamp is not a finite number"));
        }
        Ok(Timestamp(v))
    }
}

impl Timestamp {
    /// Milliseconds since the epoch, saturating.
    pub fn to_millis(self) -> i64 {
        (self.0 * 1000.0) as i64
    }
}

/// Decode a request body into an operation's input type.
///
/// An empty body is read as `{}`, as AWS does. Errors are serde errors; the
/// caller maps them to `SerializationException`.
pub fn decode<'de, T: serde::Deserialize<'de>>(body: &'de [u8]) -> Result<T, serde_json::Error> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return serde_json::from_slice(b"{}");
    }
    serde_json::from_slice(body)
}
