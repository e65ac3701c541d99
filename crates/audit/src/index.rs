//! The search index: one fixed-size entry per record, in a file beside each
//! segment (`<segment>.idx`), written with the segment but not synced. It is
//! derived data: a missing or short index is rebuilt from its segment (at
//! start-up for the segment a crash interrupted, and by search whenever an
//! index does not match its segment).
//!
//! An entry holds the record's place in the segment, its time, flags, and
//! 64-bit FNV-1a hashes of the values `LookupEvents` and `trent audit
//! search` filter on. A hash match is confirmed against the record itself,
//! so a collision costs a read, never a wrong answer.

use crate::event::Facts;
use serde::Deserialize;

/// Bytes per entry.
pub const ENTRY_BYTES: usize = 104;

const READ_ONLY: u32 = 1;
const FAILED: u32 = 2;
const KMS_KEY: u32 = 4;
const IAM_ROLE: u32 = 8;

/// One decoded entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Index time: the event's time, never before the previous entry's
    /// (so entries are in time order even if the clock stepped back).
    pub time_ms: i64,
    /// The record's sequence number.
    pub seq: u64,
    /// Where its line starts in the segment.
    pub offset: u64,
    /// Its line's length, without the newline.
    pub len: u32,
    flags: u32,
    event_name: u64,
    username: u64,
    access_key_id: u64,
    event_id: u64,
    resource0: u64,
    resource1: u64,
    scope: u64,
    event_source: u64,
    principal: u64,
}

/// 64-bit FNV-1a; 0 stands for "no value".
pub fn fnv(s: &str) -> u64 {
    if s.is_empty() {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h.max(1)
}

/// The hash of an account and region pair.
pub fn scope(account: &str, region: &str) -> u64 {
    fnv(&format!("{account}\u{0}{region}"))
}

impl Entry {
    /// The entry for a record.
    pub fn new(facts: &Facts, time_ms: i64, seq: u64, offset: u64, len: u32) -> Entry {
        let mut flags = 0;
        if facts.read_only {
            flags |= READ_ONLY;
        }
        if facts.failed {
            flags |= FAILED;
        }
        for t in &facts.resource_types {
            match t.as_str() {
                "AWS::KMS::Key" => flags |= KMS_KEY,
                "AWS::IAM::Role" => flags |= IAM_ROLE,
                _ => {}
            }
        }
        let resource = |i: usize| facts.resource_names.get(i).map_or(0, |r| fnv(r));
        Entry {
            time_ms,
            seq,
            offset,
            len,
            flags,
            event_name: fnv(&facts.event_name),
            username: fnv(&facts.username),
            access_key_id: fnv(&facts.access_key_id),
            event_id: fnv(&facts.event_id),
            resource0: resource(0),
            resource1: resource(1),
            scope: scope(&facts.account, &facts.region),
            event_source: fnv(&facts.event_source),
            principal: fnv(&facts.principal_arn),
        }
    }

    /// Append the entry's bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.time_ms.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        for h in [
            self.event_name,
            self.username,
            self.access_key_id,
            self.event_id,
            self.resource0,
            self.resource1,
            self.scope,
            self.event_source,
            self.principal,
        ] {
            out.extend_from_slice(&h.to_le_bytes());
        }
    }

    /// Decode one entry of exactly [`ENTRY_BYTES`].
    pub fn decode(b: &[u8]) -> Entry {
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        let u32_at = |i: usize| {
            let mut a = [0u8; 4];
            a.copy_from_slice(&b[i..i + 4]);
            u32::from_le_bytes(a)
        };
        Entry {
            time_ms: u64_at(0) as i64,
            seq: u64_at(8),
            offset: u64_at(16),
            len: u32_at(24),
            flags: u32_at(28),
            event_name: u64_at(32),
            username: u64_at(40),
            access_key_id: u64_at(48),
            event_id: u64_at(56),
            resource0: u64_at(64),
            resource1: u64_at(72),
            scope: u64_at(80),
            event_source: u64_at(88),
            principal: u64_at(96),
        }
    }

    /// Whether the record is read-only.
    pub fn read_only(&self) -> bool {
        self.flags & READ_ONLY != 0
    }
    /// Whether the request failed.
    pub fn failed(&self) -> bool {
        self.flags & FAILED != 0
    }
    /// Whether it may match `attr` (confirm against the record).
    pub fn may_match(&self, attr: &crate::search::Attribute) -> bool {
        use crate::search::Attribute as A;
        match attr {
            A::EventId(v) => self.event_id == fnv(v),
            A::EventName(v) => self.event_name == fnv(v),
            A::ReadOnly(v) => self.read_only() == *v,
            A::Username(v) => self.username == fnv(v),
            A::ResourceType(v) => match v.as_str() {
                "AWS::KMS::Key" => self.flags & KMS_KEY != 0,
                "AWS::IAM::Role" => self.flags & IAM_ROLE != 0,
                _ => false,
            },
            A::ResourceName(v) => {
                let h = fnv(v);
                h != 0 && (self.resource0 == h || self.resource1 == h)
            }
            A::EventSource(v) => self.event_source == fnv(v),
            A::AccessKeyId(v) => self.access_key_id == fnv(v),
        }
    }
    /// Whether it is in the scope `h` (see [`scope`]).
    pub fn in_scope(&self, h: u64) -> bool {
        self.scope == h
    }
    /// Whether the caller's ARN may be `h` (see [`fnv`]).
    pub fn principal_may_be(&self, h: u64) -> bool {
        self.principal == h
    }
}

/// Decode an index file's bytes (a partial last entry is ignored).
pub fn decode_all(bytes: &[u8]) -> Vec<Entry> {
    bytes.chunks_exact(ENTRY_BYTES).map(Entry::decode).collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordDe {
    #[serde(default)]
    event_name: String,
    #[serde(default)]
    event_source: String,
    #[serde(default)]
    event_time: String,
    #[serde(rename = "eventID", default)]
    event_id: String,
    #[serde(default)]
    aws_region: String,
    #[serde(default)]
    recipient_account_id: String,
    #[serde(default)]
    read_only: bool,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    resources: Vec<ResourceDe>,
    #[serde(default)]
    user_identity: IdentityDe,
}

#[derive(Deserialize)]
struct ResourceDe {
    #[serde(rename = "ARN", default)]
    arn: String,
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct IdentityDe {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    arn: String,
    #[serde(default)]
    access_key_id: String,
    #[serde(default)]
    user_name: String,
}

/// What the index keeps of a record, read back from its JSON (to rebuild an
/// index, and to confirm a hash match).
pub fn facts_from_record(json: &str) -> Option<Facts> {
    let r: RecordDe = serde_json::from_str(json).ok()?;
    let time_ms = time::OffsetDateTime::parse(
        &r.event_time,
        &time::format_description::well_known::Rfc3339,
    )
    .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
    .unwrap_or(0);
    let username = if !r.user_identity.user_name.is_empty() {
        r.user_identity.user_name.clone()
    } else {
        match r.user_identity.kind.as_str() {
            "Root" => "root".to_string(),
            "AssumedRole" => r
                .user_identity
                .arn
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string(),
            _ => String::new(),
        }
    };
    Some(Facts {
        time_ms,
        event_name: r.event_name,
        username,
        access_key_id: r.user_identity.access_key_id,
        event_id: r.event_id,
        event_source: r.event_source,
        resource_names: r.resources.iter().map(|x| x.arn.clone()).collect(),
        resource_types: r.resources.into_iter().map(|x| x.kind).collect(),
        account: r.recipient_account_id,
        region: r.aws_region,
        read_only: r.read_only,
        failed: r.error_code.is_some(),
        principal_arn: r.user_identity.arn,
    })
}

/// Rebuild the index of a segment's bytes: one entry per complete line.
pub fn rebuild(segment: &[u8]) -> Vec<u8> {
    let (lines, _) = crate::chain::complete_lines(segment);
    let mut out = Vec::with_capacity(lines.len() * ENTRY_BYTES);
    let mut last_time = i64::MIN;
    for (offset, line) in lines {
        let Ok(parsed) = crate::chain::parse_line(line) else {
            continue;
        };
        let facts = facts_from_record(parsed.record.get()).unwrap_or_default();
        last_time = last_time.max(facts.time_ms);
        Entry::new(
            &facts,
            last_time,
            parsed.seq,
            offset as u64,
            line.len() as u32,
        )
        .encode(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::Attribute;

    #[test]
    fn entries_round_trip_and_match_what_they_were_made_from() {
        let facts = Facts {
            time_ms: 1_700_000_000_000,
            event_name: "Encrypt".into(),
            username: "alice".into(),
            access_key_id: "AKIAEXAMPLE".into(),
            event_id: "e-1".into(),
            event_source: "kms.amazonaws.com".into(),
            resource_names: vec!["arn:aws:kms:us-east-1:111122223333:key/k".into()],
            resource_types: vec!["AWS::KMS::Key".into()],
            account: "111122223333".into(),
            region: "us-east-1".into(),
            read_only: true,
            failed: false,
            principal_arn: "arn:aws:iam::111122223333:user/alice".into(),
        };
        let e = Entry::new(&facts, facts.time_ms, 9, 1234, 567);
        let mut b = Vec::new();
        e.encode(&mut b);
        assert_eq!(b.len(), ENTRY_BYTES);
        let d = Entry::decode(&b);
        assert_eq!(d, e);
        assert!(d.may_match(&Attribute::EventName("Encrypt".into())));
        assert!(!d.may_match(&Attribute::EventName("Decrypt".into())));
        assert!(d.may_match(&Attribute::ReadOnly(true)));
        assert!(!d.may_match(&Attribute::ReadOnly(false)));
        assert!(d.may_match(&Attribute::ResourceType("AWS::KMS::Key".into())));
        assert!(d.may_match(&Attribute::ResourceName(
            "arn:aws:kms:us-east-1:111122223333:key/k".into()
        )));
        assert!(!d.may_match(&Attribute::ResourceName(String::new())));
        assert!(d.in_scope(scope("111122223333", "us-east-1")));
        assert!(!d.in_scope(scope("111122223333", "eu-west-1")));
    }
}
