//! `trent-core`: the domain of a key management service, pure and synchronous.
//!
//! It owns: identifiers and ARNs ([`ids`]), the key record with its state
//! machine and key versions ([`key`]), aliases, the ciphertext blob format and
//! the encryption context's canonical encoding ([`blob`]), key policy
//! documents ([`policy`]), and the traits through which the outside world
//! comes in: [`Clock`], [`CryptoProvider`] and [`RootKey`].
//!
//! It refuses: IO of any kind, async, and naming a crypto library. Every
//! transition is a function from a record to a new record (or a typed error),
//! so callers can write the result back with a compare-and-swap.

pub mod alias;
pub mod authz;
pub mod blob;
pub mod clock;
pub mod error;
pub mod grant;
pub mod ids;
pub mod key;
pub mod policy;
pub mod provider;
pub mod spec;

pub use clock::{Clock, ManualClock, Millis, SystemClock, DAY_MS};
pub use error::KeyError;
pub use provider::{
    CryptoError, CryptoProvider, ImportWrapping, KeyHandle, RootKey, SecretBytes, SignInput,
    SigningKey,
};
