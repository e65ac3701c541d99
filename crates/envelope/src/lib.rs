//! The AWS Encryption SDK message format, for client-side envelope
//! encryption: a file is encrypted under a fresh data key, the data key is
//! wrapped by one or more keyrings (KMS keys, a raw AES or RSA key), and the
//! server that holds the wrapping keys never sees the data.
//!
//! What this crate owns: the algorithm suites, the header (versions 1 and 2),
//! framed and non-framed bodies, key derivation and key commitment, the
//! ECDSA footer, the default and required-encryption-context materials
//! rules, the commitment policy, and the raw AES and raw RSA keyrings. It
//! follows the public specification (aws-encryption-sdk-specification), and
//! is checked against AWS's published decrypt vectors.
//!
//! What it refuses: any IO. [`Encryptor`] and [`Decryptor`] are sans-IO
//! state machines: bytes in, bytes out, and, between the header and the
//! body, a pause in which the caller unwraps the data key however it likes
//! (a blocking raw keyring, or an async call to a KMS endpoint). The frame
//! key ([`FrameKey`]) is `Sync`, so an adapter can seal or open frames on
//! several threads.
//!
//! It names aws-lc-rs directly, unlike the server's crates: it is a client,
//! with no key backend to plug in, and its crypto is the message format's.
#![forbid(unsafe_code)]

mod context;
mod decrypt;
mod encrypt;
mod error;
mod header;
mod keys;
pub mod kms;
pub mod raw;
mod sign;
pub mod stream;
mod suite;
mod wire;

pub use context::{EncryptionContext, PUBLIC_KEY_FIELD};
pub use decrypt::{DecryptConfig, DecryptRequest, Decryptor, Progress};
pub use encrypt::{EncryptConfig, Encryptor};
pub use error::Error;
pub use header::{ContentType, EncryptedDataKey, Header};
pub use keys::{DataKey, FrameKey};
pub use suite::{CommitmentPolicy, Kdf, Signature, Suite};

/// The frame length the official tools use when none is given.
pub const DEFAULT_FRAME_LENGTH: u32 = 4096;
