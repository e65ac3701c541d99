//! `trent-audit`: the audit trail.
//!
//! It owns: the audit event (CloudTrail's record shape), the record line
//! that chains each event to the one before it by SHA-256, the writer that
//! makes a batch of events durable with one `fdatasync` before any of their
//! requests is answered (group commit), segment files and their rotation,
//! signed digest files, offline verification of all of it, and the search
//! index behind CloudTrail's `LookupEvents` and `trent audit search`.
//!
//! It refuses: building events from requests (the server does that, in one
//! place, from the request context), any network protocol, and holding key
//! material (the digest signer is a [`trent_core`]-style signing key object
//! handed in by the caller; this crate only sees its public half when
//! verifying).
//!
//! Formats are documented in `docs/audit.md`. Hashing uses aws-lc-rs
//! directly: hashing and verifying public records is not a key-management
//! operation, so it does not go through the crypto provider (the same
//! choice as `trent-sigv4`).

#![forbid(unsafe_code)]

pub mod chain;
pub mod digest;
pub mod event;
pub mod index;
pub mod search;
pub mod sink;
pub mod verify;
mod writer;

pub use digest::Signer;
pub use event::{Event, Resource, SessionContext, UserIdentity};
pub use writer::{AuditError, Trail, TrailConfig};

/// File names: `<node>.<first seq, 20 digits>.<UTC time>.jsonl`.
pub const SEGMENT_SUFFIX: &str = ".jsonl";
/// Index files sit beside their segment: `<segment>.idx`.
pub const INDEX_SUFFIX: &str = ".idx";
/// Digests live in `<node dir>/digests/`.
pub const DIGEST_DIR: &str = "digests";

/// Whether `name` is a usable node name: it appears in file names and in
/// every record, so it is kept to `[A-Za-z0-9._-]`, 1 to 64 characters.
pub fn valid_node_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// `2026-12-02T19:00:00Z` for milliseconds since the epoch (CloudTrail's
/// `eventTime` has whole seconds).
pub fn iso_seconds(ms: i64) -> String {
    // Every event formats its time; under load thousands share a second.
    thread_local! {
        static LAST: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let second = ms.div_euclid(1000);
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != second {
            *last = (second, trent_core::clock::iso8601_seconds(second * 1000));
        }
        last.1.clone()
    })
}

/// Whether `s` is a time as [`compact_time`] writes it.
pub(crate) fn is_compact_time(s: &str) -> bool {
    s.len() == 16
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 => b == b'T',
            15 => b == b'Z',
            _ => b.is_ascii_digit(),
        })
}

/// `20261202T190000Z`, for file names.
pub fn compact_time(ms: i64) -> String {
    iso_seconds(ms).replace(['-', ':'], "")
}

/// Milliseconds since the epoch, by the system clock.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_times_are_formatted_per_second_whatever_the_cache_holds() {
        for (ms, want) in [
            (1_796_212_800_000, "2026-12-02T12:00:00Z"),
            (1_796_212_800_999, "2026-12-02T12:00:00Z"),
            (1_796_212_801_000, "2026-12-02T12:00:01Z"),
            (1_796_212_800_500, "2026-12-02T12:00:00Z"),
            (-1, "1969-12-31T23:59:59Z"),
            (0, "1970-01-01T00:00:00Z"),
        ] {
            assert_eq!(super::iso_seconds(ms), want, "{ms}");
        }
        assert_eq!(super::compact_time(1_796_212_801_000), "20261202T120001Z");
        assert!(super::is_compact_time("20261202T120001Z"));
        for bad in [
            "20261202T12000Z",
            "20261202X120001Z",
            "2026120\u{1b}T120001Z",
            "20261202T120001Z0",
        ] {
            assert!(!super::is_compact_time(bad), "{bad:?}");
        }
    }
}
