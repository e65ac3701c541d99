//! Record lines: each event is written as one line of JSON that names its
//! node, its sequence number in that node's chain, and the SHA-256 of the
//! line before it:
//!
//! ```text
//! {"trail":{"node":"node-1","seq":42,"prev":"<64 hex digits>"},"record":{...CloudTrail event...}}
//! ```
//!
//! A record's hash is the SHA-256 of its line's bytes, without the newline.
//! The first record of a chain has `prev` of 64 zeros. Changing, removing,
//! inserting or reordering a line breaks a link; the signed digests (see
//! [`crate::digest`]) anchor the chain, so rewriting every later line does
//! not hide a change either.

use aws_lc_rs::digest::{digest, SHA256};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::io::Write as _;

/// A SHA-256 value.
pub type Hash = [u8; 32];

/// `prev` of a chain's first record.
pub const GENESIS: Hash = [0u8; 32];

/// The hash of one line (without its newline).
pub fn hash(line: &[u8]) -> Hash {
    let d = digest(&SHA256, line);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Append one record line, with its newline, to `out`; returns the line's
/// hash. `record` is the event's JSON (one object, no newline).
pub fn write_line(node: &str, seq: u64, prev: &Hash, record: &[u8], out: &mut Vec<u8>) -> Hash {
    let start = out.len();
    out.extend_from_slice(b"{\"trail\":{\"node\":\"");
    out.extend_from_slice(node.as_bytes());
    out.extend_from_slice(b"\",\"seq\":");
    // Written in place: no allocation per record on the writer's path.
    let _ = write!(out, "{seq}");
    out.extend_from_slice(b",\"prev\":\"");
    let mut hex_prev = [0u8; 64];
    let _ = hex::encode_to_slice(prev, &mut hex_prev);
    out.extend_from_slice(&hex_prev);
    out.extend_from_slice(b"\"},\"record\":");
    out.extend_from_slice(record);
    out.push(b'}');
    let h = hash(&out[start..]);
    out.push(b'\n');
    h
}

/// A parsed record line.
#[derive(Debug)]
pub struct Line<'a> {
    /// The node whose chain it belongs to.
    pub node: String,
    /// Its position in that chain, from 1.
    pub seq: u64,
    /// The hash of the record before it.
    pub prev: Hash,
    /// The event, as written.
    pub record: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineDe<'a> {
    trail: TrailDe,
    #[serde(borrow)]
    record: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrailDe {
    node: String,
    seq: u64,
    prev: String,
}

/// Why a line is not a record line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Not JSON of the record-line shape.
    #[error("not a record line: {0}")]
    Shape(String),
    /// `prev` is not 64 hex digits.
    #[error("prev is not a SHA-256 value")]
    Prev,
}

/// Parse one line (without its newline).
pub fn parse_line(line: &[u8]) -> Result<Line<'_>, LineError> {
    let de: LineDe<'_> =
        serde_json::from_slice(line).map_err(|e| LineError::Shape(e.to_string()))?;
    let mut prev = [0u8; 32];
    hex::decode_to_slice(&de.trail.prev, &mut prev).map_err(|_| LineError::Prev)?;
    Ok(Line {
        node: de.trail.node,
        seq: de.trail.seq,
        prev,
        record: de.record,
    })
}

/// The complete lines of a segment's bytes and the offset where the
/// complete part ends: a crash can leave a last line without its newline
/// (written, never acknowledged); it is not part of the trail.
///
/// The records end at the first NUL byte: the open segment is written into
/// space zeroed ahead of time, and a record never holds a NUL (JSON escapes
/// control characters). Every acknowledged byte precedes the first NUL,
/// since batches are written in order and each is synced whole; pages of an
/// unsynced batch written back out of order after a crash lie beyond it.
pub fn complete_lines(bytes: &[u8]) -> (Vec<(usize, &[u8])>, usize) {
    let bytes = &bytes[..written_len(bytes)];
    let mut lines = Vec::new();
    let mut start = 0;
    while let Some(n) = bytes[start..].iter().position(|&b| b == b'\n') {
        lines.push((start, &bytes[start..start + n]));
        start += n + 1;
    }
    (lines, start)
}

/// Where a segment's written bytes end: at its first NUL byte, or its end.
pub fn written_len(bytes: &[u8]) -> usize {
    bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len())
}

/// Whether `bytes` are all zero (space reserved ahead of the records).
pub fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_round_trips_and_its_hash_is_over_its_bytes() {
        let mut out = Vec::new();
        let h = write_line(
            "node-1",
            7,
            &GENESIS,
            br#"{"eventName":"Encrypt"}"#,
            &mut out,
        );
        assert_eq!(out.last(), Some(&b'\n'));
        let body = &out[..out.len() - 1];
        assert_eq!(h, hash(body));
        let line = parse_line(body).unwrap();
        assert_eq!(
            (line.node.as_str(), line.seq, line.prev),
            ("node-1", 7, GENESIS)
        );
        assert_eq!(line.record.get(), r#"{"eventName":"Encrypt"}"#);
    }

    #[test]
    fn malformed_lines_are_refused() {
        for bad in [
            &b""[..],
            b"{}",
            b"{\"trail\":{\"node\":\"n\",\"seq\":1,\"prev\":\"00\"},\"record\":{}}",
            b"{\"trail\":{\"node\":\"n\",\"seq\":-1,\"prev\":\"\"},\"record\":{}}",
            b"{\"trail\":{\"node\":\"n\",\"seq\":1,\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\"},\"record\":{},\"extra\":1}",
            b"{\"trail\":{\"node\":\"n\",\"seq\":1,\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\"},\"record\":{",
        ] {
            assert!(parse_line(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_torn_last_line_is_not_complete() {
        let (lines, end) = complete_lines(b"{\"a\":1}\n{\"b\":2}\n{\"c\":");
        assert_eq!(lines.len(), 2);
        assert_eq!(end, 16);
        let (lines, end) = complete_lines(b"");
        assert!(lines.is_empty());
        assert_eq!(end, 0);
    }

    #[test]
    fn records_end_at_the_first_nul() {
        // Reserved space after the records.
        let (lines, end) = complete_lines(b"{\"a\":1}\n{\"b\":2}\n\0\0\0\0");
        assert_eq!((lines.len(), end), (2, 16));
        // A torn record, then reserved space.
        let (lines, end) = complete_lines(b"{\"a\":1}\n{\"b\0\0\0");
        assert_eq!((lines.len(), end), (1, 8));
        // A page of a later, never synced batch written back after a gap:
        // not a record, even though a newline follows.
        let (lines, end) = complete_lines(b"{\"a\":1}\n{\"b\0\0\0\":2}\n{\"c\":3}\n");
        assert_eq!((lines.len(), end), (1, 8));
        assert_eq!(written_len(b"abc"), 3);
        assert!(all_zero(b"\0\0") && all_zero(b"") && !all_zero(b"\0a"));
    }
}
