//! Offline verification of a trail directory (`trent audit verify`): it
//! needs the files only, never the server or its keys.
//!
//! For every node directory it checks
//! - the record chain: every complete line parses, names its node, has the
//!   next sequence number (from 1) and the hash of the line before it, and a
//!   segment's first record has the number its file name says;
//! - the digest chain: digests are numbered from 1 without a gap, each names
//!   the previous digest's file, SHA-256 and signature as they are, covers
//!   the records from where the previous one stopped, and is signed by the
//!   key it names; with `--public-key` that key must be the given one (a
//!   digest's own key proves nothing against someone who can rewrite the
//!   directory: the exported public key, kept elsewhere, does);
//! - digests against records: the hash of each digest's last record, and
//!   for every segment a digest lists, that the file exists, that its first
//!   `bytes` bytes have the digested SHA-256 and end on its digested last
//!   record, and that nothing was appended to a segment digested as closed.
//!
//! A last line without its newline at the end of the newest segment was
//! written when the server stopped and never acknowledged: it is reported,
//! not counted as tampering. Records written after the last digest are
//! chained but not yet signed: reported as such.
//!
//! What it cannot see alone: removal of the newest segments together with
//! every digest that covers them leaves a shorter trail that is consistent.
//! Compare the last digest's number and hash with a copy kept elsewhere (the
//! stdout or syslog copy of the trail, or an earlier `verify` output).

use crate::chain::{self, Hash, GENESIS};
use crate::digest::{self, Parsed};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

/// What was found about one node's trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeReport {
    /// The node's name (its directory).
    pub node: String,
    /// Complete records in sequence.
    pub records: u64,
    /// Segment files.
    pub segments: usize,
    /// Digest files.
    pub digests: usize,
    /// The last digest's number, file SHA-256 and last record (to keep
    /// elsewhere as an anchor).
    pub last_digest: Option<(u64, String, u64)>,
    /// Records after the last digest (chained, not yet signed).
    pub undigested: u64,
    /// Public key fingerprints (SHA-256 of the DER) the digests name.
    pub key_fingerprints: Vec<String>,
}

/// The result of verifying a trail directory.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Per node.
    pub nodes: Vec<NodeReport>,
    /// Evidence of alteration, loss or corruption: the trail does not verify.
    pub problems: Vec<String>,
    /// Facts worth knowing that are not alteration (a torn last record, a
    /// digest signature checked without an outside public key).
    pub notes: Vec<String>,
}

impl Report {
    /// Whether the trail verified.
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && !self.nodes.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for n in &self.nodes {
            write!(
                f,
                "node {}: {} records in {} segments, {} digests",
                n.node, n.records, n.segments, n.digests
            )?;
            if let Some((number, hash, last)) = &n.last_digest {
                write!(
                    f,
                    "; last digest {number} (sha256 {hash}) covers records 1-{last}"
                )?;
            }
            if n.undigested > 0 {
                write!(f, "; {} records after it not yet signed", n.undigested)?;
            }
            writeln!(f)?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        for p in &self.problems {
            writeln!(f, "PROBLEM: {p}")?;
        }
        if self.nodes.is_empty() {
            writeln!(f, "PROBLEM: no node trail found")?;
        }
        writeln!(
            f,
            "{}",
            if self.ok() {
                "trail verified"
            } else {
                "trail NOT verified"
            }
        )
    }
}

/// Verify the trail under `dir` (the audit directory, holding one directory
/// per node, or one node's directory). `public_key` is the DER
/// `SubjectPublicKeyInfo` exported with `trent audit public-key`.
pub fn verify_dir(dir: &Path, public_key: Option<&[u8]>) -> std::io::Result<Report> {
    let mut report = Report::default();
    let mut node_dirs = Vec::new();
    if is_node_dir(dir) {
        node_dirs.push(dir.to_path_buf());
    } else {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() && is_node_dir(&path) {
                node_dirs.push(path);
            }
        }
    }
    node_dirs.sort();
    if public_key.is_none() && !node_dirs.is_empty() {
        report.notes.push(
            "digest signatures were checked against the key each digest names; give \
             --public-key (from `trent audit public-key`) to prove they are Trent's"
                .into(),
        );
    }
    for node_dir in node_dirs {
        let node = node_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut v = NodeVerifier {
            node: node.clone(),
            problems: Vec::new(),
            notes: Vec::new(),
        };
        let r = v.run(&node_dir, public_key)?;
        report.nodes.push(r);
        report
            .problems
            .extend(v.problems.into_iter().map(|p| format!("node {node}: {p}")));
        report
            .notes
            .extend(v.notes.into_iter().map(|p| format!("node {node}: {p}")));
    }
    Ok(report)
}

fn is_node_dir(path: &Path) -> bool {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return false;
    };
    crate::valid_node_name(&name)
        && (path.join(crate::DIGEST_DIR).is_dir()
            || crate::writer::list_segments(path, &name).is_ok_and(|s| !s.is_empty()))
}

/// One segment claim made by a digest.
struct Claim {
    digest: u64,
    first_seq: u64,
    last_seq: u64,
    bytes: u64,
    last_record_hash: String,
    closed: bool,
}

struct NodeVerifier {
    node: String,
    problems: Vec<String>,
    notes: Vec<String>,
}

impl NodeVerifier {
    fn run(&mut self, node_dir: &Path, public_key: Option<&[u8]>) -> std::io::Result<NodeReport> {
        let mut report = NodeReport {
            node: self.node.clone(),
            ..NodeReport::default()
        };
        // Digests first: they say what the segments must hold.
        let digest_dir = node_dir.join(crate::DIGEST_DIR);
        let digests = if digest_dir.is_dir() {
            crate::writer::list_digests(&digest_dir, &self.node)?
        } else {
            Vec::new()
        };
        report.digests = digests.len();
        let mut claims: HashMap<String, Vec<Claim>> = HashMap::new();
        let mut record_hashes: BTreeMap<u64, (u64, String)> = BTreeMap::new();
        let mut covered = 0u64;
        let mut previous: Option<(String, String, Parsed)> = None;
        let mut expected = 1u64;
        for (i, (number, name)) in digests.iter().enumerate() {
            if *number < expected {
                // A second file with a number already seen: not part of
                // the chain, and not Trent's.
                self.problems.push(format!(
                    "digest {name} is an extra digest: number {number} was already used"
                ));
                continue;
            }
            if *number > expected {
                self.problems.push(format!(
                    "digest {expected} is missing (the next digest file is number {number}, {name})"
                ));
            }
            expected = number + 1;
            let path = digest_dir.join(name);
            let bytes = std::fs::read(&path)?;
            let parsed = match digest::parse(&bytes) {
                Ok(p) => p,
                Err(e) => {
                    self.problems.push(format!("digest {name}: {e}"));
                    previous = None;
                    continue;
                }
            };
            let body = &parsed.body;
            if body.node != self.node || body.digest_number != *number {
                self.problems.push(format!(
                    "digest {name} says it is digest {} of node {:?}",
                    body.digest_number, body.node
                ));
            }
            self.check_signature(name, &parsed, public_key, &mut report);
            match &previous {
                None if i == 0 && (body.previous_digest_file.is_some() || body.first_seq != 1) => {
                    self.problems.push(format!(
                        "digest {name} is the first digest found but names a previous digest \
                         or starts at record {}: earlier digests were removed",
                        body.first_seq
                    ));
                }
                None => {}
                Some((prev_name, prev_hash, prev)) => {
                    use base64::Engine;
                    let prev_sig =
                        base64::engine::general_purpose::STANDARD.encode(&prev.signature);
                    if body.previous_digest_file.as_deref() != Some(prev_name.as_str())
                        || body.previous_digest_hash.as_deref() != Some(prev_hash.as_str())
                        || body.previous_digest_signature.as_deref() != Some(prev_sig.as_str())
                    {
                        self.problems.push(format!(
                            "digest {name} does not name {prev_name} as it is: the previous \
                             digest was altered or replaced"
                        ));
                    }
                    if body.first_seq != prev.body.last_seq + 1 {
                        self.problems.push(format!(
                            "digest {name} starts at record {} but the previous one ended at {}",
                            body.first_seq, prev.body.last_seq
                        ));
                    }
                }
            }
            if body.last_seq > 0 {
                record_hashes.insert(body.last_seq, (*number, body.last_record_hash.clone()));
            }
            covered = covered.max(body.last_seq);
            for s in &body.segments {
                claims.entry(s.file.clone()).or_default().push(Claim {
                    digest: *number,
                    first_seq: s.first_seq,
                    last_seq: s.last_seq,
                    bytes: s.bytes,
                    last_record_hash: s.last_record_hash.clone(),
                    closed: s.closed,
                });
            }
            let hash = digest::sha256_hex(&bytes);
            report.last_digest = Some((*number, hash.clone(), body.last_seq));
            previous = Some((name.clone(), hash, parsed));
        }

        // Then the record chain, segment by segment.
        let segments = crate::writer::list_segments(node_dir, &self.node)?;
        // Bytes a start-up cut off after a crash, kept aside.
        let mut cut: Vec<String> = std::fs::read_dir(node_dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&format!("{}.", self.node)) && n.contains(".jsonl.cut."))
            // Printed below: only names Trent could have made.
            .filter(|n| {
                n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            })
            .collect();
        cut.sort();
        for name in cut {
            self.notes.push(format!(
                "{name} holds bytes a start-up cut off after the last complete record of a \
                 segment (never acknowledged when a crash left them; read them if no crash did)"
            ));
        }
        report.segments = segments.len();
        let mut seq = 0u64;
        let mut prev: Hash = GENESIS;
        for (i, (first, name)) in segments.iter().enumerate() {
            let newest = i + 1 == segments.len();
            let bytes = std::fs::read(node_dir.join(name))?;
            let (lines, end) = chain::complete_lines(&bytes);
            if *first != seq + 1 {
                if *first > seq + 1 {
                    self.problems.push(format!(
                        "records {}-{} are missing (before segment {name})",
                        seq + 1,
                        first - 1
                    ));
                } else {
                    self.problems.push(format!(
                        "segment {name} starts at record {first}, which an earlier segment already holds"
                    ));
                }
            }
            // Where each record ends in this file, and its hash, by
            // sequence number.
            let mut ends: HashMap<u64, (usize, Hash)> = HashMap::new();
            for (n, (offset, line)) in lines.iter().enumerate() {
                let at = format!("{name} line {}", n + 1);
                let parsed = match chain::parse_line(line) {
                    Ok(p) => p,
                    Err(e) => {
                        self.problems.push(format!("{at}: {e}"));
                        continue;
                    }
                };
                if parsed.node != self.node {
                    self.problems
                        .push(format!("{at} names node {:?}", parsed.node));
                }
                if n == 0 && parsed.seq != *first {
                    self.problems.push(format!(
                        "{at} is record {} but the file name says {first}",
                        parsed.seq
                    ));
                }
                if parsed.seq != seq + 1 {
                    self.problems.push(format!(
                        "{at} is record {} where record {} was expected (records removed, \
                         inserted or reordered)",
                        parsed.seq,
                        seq + 1
                    ));
                } else if parsed.prev != prev {
                    self.problems.push(format!(
                        "{at} (record {}) does not chain to the record before it: that \
                         record or this one was altered",
                        parsed.seq
                    ));
                }
                if !parsed.record.get().starts_with('{') {
                    self.problems
                        .push(format!("{at}: the record is not a JSON object"));
                }
                seq = parsed.seq;
                prev = chain::hash(line);
                ends.insert(seq, (offset + line.len() + 1, prev));
                if let Some((digest, expected)) = record_hashes.get(&seq) {
                    if *expected != hex::encode(prev) {
                        self.problems.push(format!(
                            "{at} (record {seq}) is not the record digest {digest} signed"
                        ));
                    }
                }
                report.records += 1;
            }
            let written = chain::written_len(&bytes);
            if end < written {
                // No newline: the write of this batch failed or the server
                // stopped during it; none of it was acknowledged, and the
                // next segment's first record chains past it.
                self.notes.push(format!(
                    "{name} ends with a torn record of {} bytes (never acknowledged; the \
                     server cuts it off at its next start)",
                    written - end
                ));
            }
            if written < bytes.len() && !newest {
                // A closed segment was trimmed to its last record before
                // the next one was made; only the newest can have had a
                // batch in flight when its server stopped.
                let tail = &bytes[written..];
                if chain::all_zero(tail) {
                    self.notes.push(format!(
                        "{name} has {} zero bytes after its records (its trim when it was \
                         closed failed or was lost; the server trims it at its next start)",
                        tail.len()
                    ));
                } else {
                    self.problems.push(format!(
                        "{name} has {} bytes after a NUL at byte {written}, in a closed segment: \
                         not written there by Trent (records hidden or added after the fact)",
                        tail.len()
                    ));
                }
            } else if written < bytes.len() {
                // Space zeroed ahead of the records (the open segment, or
                // one whose server stopped before trimming it); bytes in it
                // are from a batch that was never synced, so never answered.
                let tail = &bytes[written..];
                self.notes.push(if chain::all_zero(tail) {
                    format!(
                        "{name} has {} bytes of space reserved after its records (an open \
                         segment; trimmed when it is closed)",
                        tail.len()
                    )
                } else {
                    format!(
                        "{name} has {} bytes after its records that were written but never \
                         synced, so never acknowledged (the server cuts them off at its next start)",
                        tail.len()
                    )
                });
            }
            for c in claims.remove(name).unwrap_or_default() {
                self.check_claim(name, &bytes, &ends, &c);
            }
        }
        for (name, cs) in claims {
            if let Some(c) = cs.first() {
                self.problems.push(format!(
                    "segment {name} (records {}-{}, in digest {}) is missing",
                    c.first_seq, c.last_seq, c.digest
                ));
            }
        }
        if covered > seq {
            self.problems.push(format!(
                "the digests cover records up to {covered} but the trail ends at {seq}: \
                 records were removed"
            ));
        }
        if seq > 0 && digests.is_empty() {
            // Trent signs a digest at every start, before any request.
            self.problems.push(format!(
                "records 1-{seq} are in the trail but there is no digest: Trent signs one at \
                 every start, so the digests were removed and nothing here is signed"
            ));
        }
        report.undigested = seq.saturating_sub(covered);
        Ok(report)
    }

    fn check_signature(
        &mut self,
        name: &str,
        parsed: &Parsed,
        public_key: Option<&[u8]>,
        report: &mut NodeReport,
    ) {
        use base64::Engine;
        let body = &parsed.body;
        let Ok(named) = base64::engine::general_purpose::STANDARD.decode(&body.public_key) else {
            self.problems
                .push(format!("digest {name}: its public key is not base64"));
            return;
        };
        let fingerprint = digest::sha256_hex(&named);
        if !report.key_fingerprints.contains(&fingerprint) {
            if !report.key_fingerprints.is_empty() {
                self.problems.push(format!(
                    "digest {name} is signed by another key ({fingerprint}) than the digests before it"
                ));
            }
            report.key_fingerprints.push(fingerprint);
        }
        let key = public_key.unwrap_or(&named);
        if public_key.is_some_and(|k| k != named.as_slice()) {
            self.problems.push(format!(
                "digest {name} names a public key that is not the one given"
            ));
        }
        if body.signature_algorithm != digest::ECDSA_P256_SHA256
            || !digest::signature_valid(key, &parsed.signed, &parsed.signature)
        {
            self.problems
                .push(format!("digest {name}: the signature is not valid"));
        }
    }

    fn check_claim(
        &mut self,
        name: &str,
        bytes: &[u8],
        ends: &HashMap<u64, (usize, Hash)>,
        c: &Claim,
    ) {
        let d = c.digest;
        let Ok(len) = usize::try_from(c.bytes) else {
            self.problems
                .push(format!("digest {d}: segment {name} length is out of range"));
            return;
        };
        if bytes.len() < len {
            self.problems.push(format!(
                "segment {name} is {} bytes, shorter than the {len} digest {d} signed: records were removed",
                bytes.len()
            ));
            return;
        }
        match ends.get(&c.last_seq) {
            Some((_, hash)) if hex::encode(hash) != c.last_record_hash => {
                self.problems.push(format!(
                    "segment {name}: record {} is not the one digest {d} signed: records up to it were altered",
                    c.last_seq
                ));
            }
            _ => {}
        }
        if ends.get(&c.last_seq).map(|(end, _)| *end) != Some(len) {
            self.problems.push(format!(
                "segment {name}: digest {d} says record {} ends at byte {len}, and it does not",
                c.last_seq
            ));
        }
        if c.closed && bytes.len() > len {
            let tail = &bytes[len..];
            if tail.contains(&b'\n') {
                self.problems.push(format!(
                    "segment {name} was closed at {len} bytes (digest {d}) but has {} more: \
                     records were appended",
                    bytes.len() - len
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Signer;
    use crate::{Event, Trail, TrailConfig};
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::Duration;

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn signer() -> Arc<dyn Signer> {
        crate::digest::tests::test_signer()
    }

    fn config(dir: &Path, segment_max_bytes: u64) -> TrailConfig {
        TrailConfig {
            dir: dir.to_path_buf(),
            node: "node-1".into(),
            segment_max_bytes,
            segment_max_age: Duration::from_secs(3600),
            digest_interval: Duration::from_secs(3600),
            sinks: vec![],
        }
    }

    /// A trail of `runs` server runs of `per_run` events each, small
    /// segments so that there are several.
    fn trail(name: &str, signer: &Arc<dyn Signer>, runs: usize, per_run: usize) -> Dir {
        let dir = std::env::temp_dir().join(format!("trent-verify-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for run in 0..runs {
            let t = Trail::open(config(&dir, 2_000), signer.clone()).unwrap();
            rt.block_on(async {
                for i in 0..per_run {
                    let e = Event::api_call(
                        "kms.amazonaws.com",
                        "Encrypt",
                        "us-east-1",
                        format!("id-{run}-{i}"),
                        1_796_212_800_000 + i as i64,
                    );
                    t.record(&e).await.unwrap();
                }
            });
            t.close();
        }
        Dir(dir)
    }

    fn node_dir(d: &Dir) -> PathBuf {
        d.0.join("node-1")
    }

    fn files(d: &Dir, digests: bool) -> Vec<PathBuf> {
        let dir = if digests {
            node_dir(d).join("digests")
        } else {
            node_dir(d)
        };
        let suffix = if digests { ".json" } else { ".jsonl" };
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(suffix))
            .collect();
        v.sort();
        v
    }

    fn check(d: &Dir, key: Option<&[u8]>) -> Report {
        verify_dir(&d.0, key).unwrap()
    }

    fn assert_problem(r: &Report, words: &str) {
        assert!(!r.ok(), "verified although altered:\n{r}");
        assert!(
            r.problems.iter().any(|p| p.contains(words)),
            "no problem mentions {words:?}:\n{r}"
        );
    }

    #[test]
    fn an_untouched_trail_verifies_with_its_key() {
        let s = signer();
        let d = trail("clean", &s, 2, 40);
        let r = check(&d, Some(&s.public_key_der()));
        assert!(r.ok(), "{r}");
        assert_eq!(r.nodes[0].records, 80);
        assert!(r.nodes[0].segments > 2, "{r}");
        assert_eq!(r.nodes[0].undigested, 0);
        assert!(r.notes.is_empty(), "{r}");
        // Without the key it verifies, and says what that does not prove.
        let r = check(&d, None);
        assert!(r.ok() && !r.notes.is_empty(), "{r}");
    }

    #[test]
    fn another_key_does_not_verify() {
        let s = signer();
        let d = trail("key", &s, 1, 5);
        assert_problem(
            &check(&d, Some(&signer().public_key_der())),
            "not the one given",
        );
    }

    fn edit_segment(d: &Dir, n: usize, f: impl FnOnce(&mut Vec<Vec<u8>>)) {
        let path = &files(d, false)[n];
        let text = std::fs::read(path).unwrap();
        let mut lines: Vec<Vec<u8>> = text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        f(&mut lines);
        let mut out = lines.join(&b'\n');
        out.push(b'\n');
        std::fs::write(path, out).unwrap();
    }

    #[test]
    fn a_changed_record_is_found() {
        let s = signer();
        let d = trail("changed", &s, 1, 30);
        edit_segment(&d, 1, |lines| {
            let l = String::from_utf8(lines[1].clone()).unwrap();
            lines[1] = l.replace("\"Encrypt\"", "\"Decrypt\"").into_bytes();
        });
        assert_problem(&check(&d, Some(&s.public_key_der())), "does not chain");
    }

    #[test]
    fn a_changed_last_record_is_found_by_the_digest() {
        // The last record has no successor whose link would break.
        let s = signer();
        let d = trail("last", &s, 1, 30);
        let n = files(&d, false).len() - 1;
        edit_segment(&d, n, |lines| {
            let last = lines.len() - 1;
            let l = String::from_utf8(lines[last].clone()).unwrap();
            lines[last] = l.replace("\"Encrypt\"", "\"Decrypt\"").into_bytes();
        });
        assert_problem(&check(&d, None), "not the record digest");
    }

    #[test]
    fn removed_inserted_and_reordered_records_are_found() {
        let s = signer();
        for (name, f) in [
            (
                "removed",
                (|l: &mut Vec<Vec<u8>>| drop(l.remove(2))) as fn(&mut Vec<Vec<u8>>),
            ),
            ("swapped", |l: &mut Vec<Vec<u8>>| l.swap(1, 2)),
            ("duplicated", |l: &mut Vec<Vec<u8>>| {
                let x = l[1].clone();
                l.insert(2, x)
            }),
        ] {
            let d = trail(name, &s, 1, 30);
            edit_segment(&d, 0, f);
            let r = check(&d, Some(&s.public_key_der()));
            assert_problem(&r, "expected");
        }
    }

    #[test]
    fn a_removed_segment_is_found() {
        let s = signer();
        let d = trail("segment", &s, 1, 40);
        std::fs::remove_file(&files(&d, false)[1]).unwrap();
        let r = check(&d, None);
        assert_problem(&r, "missing");
    }

    #[test]
    fn removed_newest_records_are_found_while_a_digest_covers_them() {
        let s = signer();
        let d = trail("truncated", &s, 1, 40);
        let all = files(&d, false);
        std::fs::remove_file(all.last().unwrap()).unwrap();
        assert_problem(&check(&d, None), "records were removed");
        // Cut inside a segment instead.
        let d = trail("truncated2", &s, 1, 40);
        edit_segment(&d, files(&d, false).len() - 1, |l| drop(l.pop()));
        assert_problem(&check(&d, None), "records were removed");
    }

    #[test]
    fn removed_or_altered_digests_are_found() {
        let s = signer();
        let d = trail("digest-removed", &s, 3, 5);
        assert!(files(&d, true).len() >= 3);
        std::fs::remove_file(&files(&d, true)[1]).unwrap();
        assert_problem(&check(&d, None), "is missing");

        let d = trail("digest-first-removed", &s, 3, 5);
        std::fs::remove_file(&files(&d, true)[0]).unwrap();
        assert_problem(&check(&d, None), "earlier digests were removed");

        let d = trail("digest-altered", &s, 2, 5);
        let path = &files(&d, true)[0];
        let text = std::fs::read_to_string(path).unwrap();
        std::fs::write(path, text.replacen("\"lastSeq\":", "\"lastSeq\":1", 1)).unwrap();
        let r = check(&d, None);
        assert_problem(&r, "signature is not valid");
        assert_problem(&r, "altered or replaced");

        // Re-signed by someone else's key: valid alone, not with Trent's.
        let d = trail("digest-resigned", &s, 1, 5);
        let path = &files(&d, true)[0];
        let parsed = digest::parse(&std::fs::read(path).unwrap()).unwrap();
        let other = signer();
        let mut body = parsed.body.clone();
        use base64::Engine;
        body.public_key = base64::engine::general_purpose::STANDARD.encode(other.public_key_der());
        std::fs::write(path, digest::render(&body, other.as_ref()).unwrap()).unwrap();
        assert_problem(&check(&d, Some(&s.public_key_der())), "not the one given");
    }

    #[test]
    fn a_trail_without_digests_is_not_verified() {
        let s = signer();
        let d = trail("no-digests", &s, 1, 10);
        std::fs::remove_dir_all(node_dir(&d).join("digests")).unwrap();
        assert_problem(&check(&d, Some(&s.public_key_der())), "no digest");
        let d = trail("empty-digests", &s, 1, 10);
        for f in files(&d, true) {
            std::fs::remove_file(f).unwrap();
        }
        assert_problem(&check(&d, None), "no digest");
    }

    #[test]
    fn extra_segments_and_digests_are_found() {
        let s = signer();
        let d = trail("extra-segment", &s, 1, 40);
        let all = files(&d, false);
        let name = all[1].file_name().unwrap().to_string_lossy().into_owned();
        // The same records again under a later first number.
        let copy = name.replacen("000000", "000009", 1);
        assert_ne!(copy, name);
        std::fs::copy(&all[1], node_dir(&d).join(copy)).unwrap();
        assert_problem(&check(&d, Some(&s.public_key_der())), "segment");

        let d = trail("extra-digest", &s, 2, 5);
        let digests = files(&d, true);
        let first = digests[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        // The same number, another (valid) time.
        let twin = format!("{}20991231T235959Z.json", &first[..first.len() - 21]);
        assert_ne!(twin, first);
        std::fs::copy(&digests[0], node_dir(&d).join("digests").join(&twin)).unwrap();
        assert_problem(&check(&d, None), "extra digest");
    }

    #[test]
    fn appending_to_a_closed_segment_is_found_and_a_torn_tail_is_only_noted() {
        let s = signer();
        let d = trail("appended", &s, 1, 40);
        edit_segment(&d, 0, |l| {
            let x = l[0].clone();
            l.push(x)
        });
        assert_problem(&check(&d, None), "appended");

        let d = trail("torn", &s, 1, 10);
        let last = files(&d, false).pop().unwrap();
        let mut f = std::fs::OpenOptions::new().append(true).open(last).unwrap();
        std::io::Write::write_all(&mut f, b"{\"trail\":{\"node\":\"node-1\",\"se").unwrap();
        let r = check(&d, Some(&s.public_key_der()));
        assert!(r.ok(), "{r}");
        assert!(r.notes.iter().any(|n| n.contains("torn")), "{r}");
    }

    /// Two writers on one node would fork its chain: the second is refused
    /// before it touches a file, and may take the node once the first has
    /// closed.
    #[test]
    fn one_writer_per_node() {
        let s = signer();
        let d = trail("one-writer", &s, 1, 3);
        let first = open_trail(&d, &s, 1 << 30);
        let before = files(&d, false);
        match Trail::open(config(&d.0, 1 << 30), s.clone()) {
            Err(crate::AuditError::InUse(p)) => assert_eq!(p, node_dir(&d)),
            other => panic!("a second writer was not refused: {other:?}"),
        }
        assert_eq!(
            files(&d, false),
            before,
            "the refused writer changed nothing"
        );
        first.close();
        let second = open_trail(&d, &s, 1 << 30);
        second.close();
        assert!(check(&d, Some(&s.public_key_der())).ok());
    }

    fn open_trail(d: &Dir, s: &Arc<dyn Signer>, segment_max_bytes: u64) -> Trail {
        Trail::open(config(&d.0, segment_max_bytes), s.clone()).unwrap()
    }

    /// Events `req-0`, `req-1`, … recorded in a trail opened on `d`; the
    /// files copied to `crashed` while it is open (as a crash leaves them,
    /// none of these events digested yet); then it is closed.
    fn crash_copy(d: &Dir, crashed: &Dir, s: &Arc<dyn Signer>, events: usize) {
        let t = open_trail(d, s, 1 << 30);
        record(&t, "req", events);
        copy_dir(&d.0, &crashed.0);
        t.close();
    }

    fn record(t: &Trail, prefix: &str, n: usize) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            for i in 0..n {
                let e = Event::api_call(
                    "kms.amazonaws.com",
                    "Encrypt",
                    "us-east-1",
                    format!("{prefix}-{i}"),
                    0,
                );
                t.record(&e).await.unwrap();
            }
        });
    }

    /// Where line `n` (from 0) of `bytes` starts.
    fn line_start(bytes: &[u8], n: usize) -> usize {
        bytes
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .nth(n.wrapping_sub(1))
            .map_or(0, |(i, _)| i + 1)
    }

    fn put_nul(path: &Path, at: usize) {
        let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&f, &[0], at as u64).unwrap();
    }

    #[test]
    fn recovery_keeps_what_it_cuts_and_never_cuts_what_a_digest_signed() {
        let s = signer();
        let d = trail("nul-open", &s, 0, 0);
        let crashed = trail("nul-crashed", &s, 0, 0);
        crash_copy(&d, &crashed, &s, 10);
        // A NUL inside record 6 of the segment a crash left open (no digest
        // covers records 1-10 yet): the next start cuts from there, and
        // keeps what it cut.
        let seg = files(&crashed, false).pop().unwrap();
        let bytes = std::fs::read(&seg).unwrap();
        put_nul(&seg, line_start(&bytes, 5) + 10);
        let t = open_trail(&crashed, &s, 1 << 30);
        t.close();
        let kept: Vec<_> = std::fs::read_dir(node_dir(&crashed))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(".jsonl.cut."))
            .collect();
        assert_eq!(kept.len(), 1, "{kept:?}");
        let cut = std::fs::read(&kept[0]).unwrap();
        assert!(String::from_utf8_lossy(&cut).contains("req-9"));
        assert!(!cut.ends_with(&[0]));
        let r = check(&crashed, Some(&s.public_key_der()));
        assert!(
            r.ok() && r.notes.iter().any(|n| n.contains("cut off")),
            "{r}"
        );
        assert_eq!(r.nodes[0].records, 5);

        // The same, where a digest signed the records: start-up refuses
        // and changes nothing.
        let d = trail("nul-signed", &s, 1, 10);
        let seg = files(&d, false).pop().unwrap();
        let bytes = std::fs::read(&seg).unwrap();
        put_nul(&seg, line_start(&bytes, 1) + 10);
        let before = std::fs::read(&seg).unwrap();
        let refused = Trail::open(config(&d.0, 2_000), s.clone());
        assert!(
            matches!(refused, Err(crate::AuditError::Corrupt { .. })),
            "{refused:?}"
        );
        assert_eq!(std::fs::read(&seg).unwrap(), before);
        assert_problem(&check(&d, None), "");
    }

    #[test]
    fn a_start_does_not_sign_records_altered_after_the_last_digest() {
        let s = signer();
        let d = trail("altered-open", &s, 0, 0);
        let crashed = trail("altered-crashed", &s, 0, 0);
        crash_copy(&d, &crashed, &s, 10);
        // While stopped, record 4 is changed (same length).
        let seg = files(&crashed, false).pop().unwrap();
        let bytes = std::fs::read(&seg).unwrap();
        let at = line_start(&bytes, 3);
        let line_end = at + bytes[at..].iter().position(|&b| b == b'\n').unwrap();
        let text = String::from_utf8(bytes[at..line_end].to_vec()).unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
        std::os::unix::fs::FileExt::write_all_at(
            &f,
            text.replace("req-3", "req-X").as_bytes(),
            at as u64,
        )
        .unwrap();
        drop(f);
        let refused = Trail::open(config(&crashed.0, 1 << 30), s.clone());
        assert!(
            matches!(refused, Err(crate::AuditError::Corrupt { .. })),
            "{refused:?}"
        );
        // Unaltered, the same start is fine.
        let t = open_trail(&d, &s, 1 << 30);
        t.close();
    }

    #[test]
    fn a_nul_or_zeros_in_a_closed_segment_are_reported_and_zeros_trimmed() {
        let s = signer();
        let d = trail("nul-closed", &s, 1, 40);
        let first = files(&d, false).remove(0);
        let bytes = std::fs::read(&first).unwrap();
        put_nul(&first, line_start(&bytes, 2) + 3);
        assert_problem(&check(&d, None), "after a NUL");

        let d = trail("zeros-closed", &s, 1, 40);
        let first = files(&d, false).remove(0);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&first)
            .unwrap();
        std::io::Write::write_all(&mut f, &[0u8; 100_000]).unwrap();
        drop(f);
        let r = check(&d, Some(&s.public_key_der()));
        assert!(
            r.ok() && r.notes.iter().any(|n| n.contains("trim when it was")),
            "{r}"
        );
        open_trail(&d, &s, 2_000).close();
        let bytes = std::fs::read(&first).unwrap();
        assert_eq!(bytes.last(), Some(&b'\n'));
        let r = check(&d, Some(&s.public_key_der()));
        assert!(r.ok() && r.notes.is_empty(), "{r}");
    }

    #[test]
    fn reserved_space_is_trimmed_at_close_and_after_a_crash() {
        let s = signer();
        let d = trail("reserved", &s, 0, 0);
        let crashed = trail("reserved-crash", &s, 0, 0);
        let t = open_trail(&d, &s, 1 << 30);
        record(&t, "r", 10);
        // Open: zeros reserved after the records, and the trail verifies.
        let seg = files(&d, false).pop().unwrap();
        let bytes = std::fs::read(&seg).unwrap();
        let written = chain::written_len(&bytes);
        assert!(
            bytes.len() - written > crate::writer::RESERVE_BYTES / 2,
            "{} bytes, {written} written",
            bytes.len()
        );
        assert!(chain::all_zero(&bytes[written..]));
        let r = check(&d, None);
        assert!(
            r.ok() && r.notes.iter().any(|n| n.contains("reserved")),
            "{r}"
        );
        // The files as a crash at this moment leaves them, plus a page of
        // a batch that was never synced, written back after a gap.
        copy_dir(&d.0, &crashed.0);
        let crashed_seg = files(&crashed, false).pop().unwrap();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&crashed_seg)
            .unwrap();
        std::os::unix::fs::FileExt::write_all_at(&f, b"\"record\":{}}\n", written as u64 + 5000)
            .unwrap();
        drop(f);
        // Closed: trimmed to the last record.
        t.close();
        let bytes = std::fs::read(&seg).unwrap();
        assert_eq!(chain::written_len(&bytes), bytes.len());
        assert_eq!(bytes.last(), Some(&b'\n'));

        let r = check(&crashed, None);
        assert!(
            r.ok() && r.notes.iter().any(|n| n.contains("never synced")),
            "{r}"
        );
        // The next start trims it all and continues the chain.
        let t = open_trail(&crashed, &s, 1 << 30);
        record(&t, "r", 1);
        t.close();
        let r = check(&crashed, Some(&s.public_key_der()));
        // Only the note on the bytes kept aside.
        assert!(
            r.ok() && r.notes.len() == 1 && r.notes[0].contains("cut off"),
            "{r}"
        );
        assert_eq!(r.nodes[0].records, 11);
        let first = std::fs::read(&crashed_seg).unwrap();
        assert_eq!(chain::written_len(&first), first.len());
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                copy_dir(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }

    #[test]
    fn a_restart_continues_the_chain_after_a_torn_tail() {
        let s = signer();
        let d = trail("restart", &s, 1, 10);
        let last = files(&d, false).pop().unwrap();
        let mut f = std::fs::OpenOptions::new().append(true).open(last).unwrap();
        std::io::Write::write_all(&mut f, b"{\"trail\":{\"node\":\"node-1\",\"se").unwrap();
        drop(f);
        // A second run on the same directory cuts the tail and continues.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let t = open_trail(&d, &s, 2_000);
        rt.block_on(async {
            let e = Event::api_call("kms.amazonaws.com", "Decrypt", "us-east-1", "x".into(), 0);
            t.record(&e).await.unwrap();
        });
        t.close();
        let r = check(&d, Some(&s.public_key_der()));
        assert!(
            r.ok() && r.notes.len() == 1 && r.notes[0].contains("cut off"),
            "{r}"
        );
        assert_eq!(r.nodes[0].records, 11);
    }
}
