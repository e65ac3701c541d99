//! Why a message could not be written or read. The messages name the part of
//! the message that failed, never a key or plaintext byte.

use crate::{CommitmentPolicy, Suite};

/// An encryption or decryption failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ended before the message did.
    #[error("the message is truncated: it ends before its {0}")]
    Truncated(&'static str),
    /// A field holds a value the format does not allow.
    #[error("the message is malformed: {0}")]
    Malformed(&'static str),
    /// The first byte is not a message format version this reader knows.
    #[error("unsupported message format version 0x{0:02x}")]
    UnsupportedVersion(u8),
    /// The header names a suite the ESDK does not define.
    #[error("unknown algorithm suite 0x{0:04x}")]
    UnknownSuite(u16),
    /// The suite is not allowed by the commitment policy.
    #[error("algorithm suite {suite} is not allowed by the commitment policy {policy:?}")]
    Policy {
        /// The suite of the message (or asked for).
        suite: Suite,
        /// The policy in force.
        policy: CommitmentPolicy,
    },
    /// More encrypted data keys than the configured maximum.
    #[error("the message has {count} encrypted data keys, more than the maximum of {max}")]
    TooManyEncryptedDataKeys {
        /// How many the header declares.
        count: u16,
        /// The configured maximum.
        max: u16,
    },
    /// None of the keyrings could decrypt any of the message's data keys.
    #[error("no keyring could decrypt any of the message's {0} encrypted data keys")]
    NoDataKey(usize),
    /// A data key of the wrong length for the suite.
    #[error("the data key has the wrong length for the algorithm suite")]
    DataKeyLength,
    /// The data key does not match the key commitment in the header.
    #[error(
        "key commitment validation failed: the data key does not match the header's commitment"
    )]
    Commitment,
    /// The header's authentication tag does not verify.
    #[error("header authentication failed")]
    HeaderAuthentication,
    /// The header's tag does not verify, and decrypt was given context
    /// pairs that the message does not store: most likely it was not
    /// encrypted with them.
    #[error("header authentication failed: the message does not store the encryption context key(s) {0:?} given to decrypt, so it was not encrypted with those pairs, or it is damaged")]
    UnstoredContext(Vec<String>),
    /// A frame's authentication tag does not verify.
    #[error("frame {0} failed authentication")]
    FrameAuthentication(u32),
    /// The non-framed body's authentication tag does not verify.
    #[error("the message body failed authentication")]
    BodyAuthentication,
    /// The footer's signature does not verify.
    #[error("the message signature does not verify")]
    Signature,
    /// Bytes follow the end of the message.
    #[error("bytes follow the end of the message")]
    TrailingBytes,
    /// A pair given to decrypt is not the one in the message.
    #[error("the encryption context given for key {0:?} does not match the message's")]
    ContextMismatch(String),
    /// The encryption context uses a key reserved for the SDK.
    #[error("encryption context key {0:?} is reserved (keys starting with aws-crypto- belong to the SDK)")]
    ReservedContextKey(String),
    /// A signing suite without its verification key, or a non-signing suite
    /// with one.
    #[error(
        "the encryption context's aws-crypto-public-key does not fit the algorithm suite: {0}"
    )]
    PublicKey(&'static str),
    /// A signed message where only unsigned ones are accepted.
    #[error("the message is signed ({0}), and only unsigned messages are accepted")]
    Signed(Suite),
    /// A field is longer than the format (or this reader) allows.
    #[error("the {0} is too long")]
    TooLong(&'static str),
    /// A frame (or non-framed body) longer than this reader accepts.
    #[error("the message's frames are {len} bytes long, more than the maximum of {max}")]
    FrameTooLong {
        /// The header's frame length.
        len: u64,
        /// The configured maximum.
        max: u64,
    },
    /// More plaintext than one message can hold.
    #[error("the plaintext is longer than one message can hold")]
    PlaintextTooLong,
    /// A key, or a key file, that cannot be used.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// The crypto library refused an operation that should not fail.
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
    /// A call out of order (e.g. input after the end of the message).
    #[error("{0}")]
    Misuse(&'static str),
}
