//! Search over a trail directory (every node's trail in it), newest event
//! first, through the per-segment indexes: what `LookupEvents` and `trent
//! audit search` run. Entries are filtered by their hashes and time, then
//! confirmed against the record they point to.

use crate::event::Facts;
use crate::index::{self, Entry};
use crate::writer::{list_segments, read_at};
use std::path::{Path, PathBuf};

/// A `LookupEvents` lookup attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// `EventId`.
    EventId(String),
    /// `EventName`.
    EventName(String),
    /// `ReadOnly`.
    ReadOnly(bool),
    /// `Username`.
    Username(String),
    /// `ResourceType`.
    ResourceType(String),
    /// `ResourceName`.
    ResourceName(String),
    /// `EventSource`.
    EventSource(String),
    /// `AccessKeyId`.
    AccessKeyId(String),
}

impl Attribute {
    fn confirm(&self, f: &Facts) -> bool {
        match self {
            Attribute::EventId(v) => &f.event_id == v,
            Attribute::EventName(v) => &f.event_name == v,
            Attribute::ReadOnly(v) => f.read_only == *v,
            Attribute::Username(v) => &f.username == v,
            Attribute::ResourceType(v) => f.resource_types.iter().any(|t| t == v),
            Attribute::ResourceName(v) => f.resource_names.iter().any(|t| t == v),
            Attribute::EventSource(v) => &f.event_source == v,
            Attribute::AccessKeyId(v) => &f.access_key_id == v,
        }
    }
}

/// A position in the newest-first order: results continue strictly after
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Index time of the last result.
    pub time_ms: i64,
    /// Its node.
    pub node: String,
    /// Its sequence number.
    pub seq: u64,
}

/// What to find.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Events at or after this time.
    pub start_ms: Option<i64>,
    /// Events at or before this time.
    pub end_ms: Option<i64>,
    /// Only events of this account and region.
    pub scope: Option<(String, String)>,
    /// A lookup attribute.
    pub attribute: Option<Attribute>,
    /// Only events by this caller ARN.
    pub principal: Option<String>,
    /// Only failed (`true`) or successful (`false`) requests.
    pub failed: Option<bool>,
    /// At most this many results.
    pub limit: usize,
    /// Continue after this position.
    pub after: Option<Cursor>,
}

/// One result.
#[derive(Debug, Clone)]
pub struct Found {
    /// Where it is in the order (the cursor to continue after it).
    pub cursor: Cursor,
    /// The CloudTrail record, as written.
    pub record: String,
    /// What the index knows of it.
    pub facts: Facts,
}

/// Results and where to continue, if the limit was reached.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Newest first.
    pub found: Vec<Found>,
    /// Set when `limit` results were found (there may be more).
    pub next: Option<Cursor>,
}

/// One node's entries, newest first, segment by segment.
struct NodeCursor {
    node: String,
    dir: PathBuf,
    /// Segments not yet loaded, oldest first (popped from the end).
    segments: Vec<String>,
    /// The loaded segment's name and entries (consumed from the end).
    current: Option<(String, Vec<Entry>)>,
    newest_segment: bool,
}

impl NodeCursor {
    fn peek(&mut self, q: &Query) -> std::io::Result<Option<Entry>> {
        loop {
            if let Some((_, entries)) = &mut self.current {
                if let Some(e) = entries.last() {
                    return Ok(Some(*e));
                }
            }
            let Some(name) = self.segments.pop() else {
                self.current = None;
                return Ok(None);
            };
            let newest = std::mem::replace(&mut self.newest_segment, false);
            let mut entries = load_entries(&self.dir, &name, newest)?;
            if let Some(end) = q.end_ms {
                let keep = entries.partition_point(|e| e.time_ms <= end);
                entries.truncate(keep);
            }
            if let Some(c) = &q.after {
                entries.retain(|e| before(e, &self.node, c));
            }
            if let Some(start) = q.start_ms {
                if entries.last().is_some_and(|e| e.time_ms < start) {
                    // Everything older is older still.
                    self.segments.clear();
                    self.current = None;
                    return Ok(None);
                }
            }
            self.current = Some((name, entries));
        }
    }

    fn pop(&mut self) {
        if let Some((_, entries)) = &mut self.current {
            entries.pop();
        }
    }
}

/// Whether `e` of `node` comes strictly after cursor `c` in newest-first
/// order (time descending, then node name descending, then sequence
/// descending).
fn before(e: &Entry, node: &str, c: &Cursor) -> bool {
    (e.time_ms, node, e.seq) < (c.time_ms, c.node.as_str(), c.seq)
}

/// A segment's entries: its index file, or rebuilt from the segment when
/// the index does not match it. The newest segment of a running node may
/// have a few records more than its index (the index is written just after
/// them); they are found by the next search.
fn load_entries(dir: &Path, name: &str, newest: bool) -> std::io::Result<Vec<Entry>> {
    let idx_path = dir.join(format!("{name}{}", crate::INDEX_SUFFIX));
    let seg_len = std::fs::metadata(dir.join(name))?.len();
    if let Ok(bytes) = std::fs::read(&idx_path) {
        let entries = index::decode_all(&bytes);
        let covered = entries
            .last()
            .map_or(0, |e| e.offset + u64::from(e.len) + 1);
        if covered == seg_len || (newest && covered <= seg_len) {
            return Ok(entries);
        }
    }
    let bytes = std::fs::read(dir.join(name))?;
    Ok(index::decode_all(&index::rebuild(&bytes)))
}

/// The node directories in `root`, or `root` itself if it is one.
pub fn node_dirs(root: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_dir() && crate::valid_node_name(&name) && name != crate::DIGEST_DIR
        {
            out.push((name, entry.path()));
        }
    }
    if out.is_empty() {
        if let Some(name) = root.file_name().map(|n| n.to_string_lossy().into_owned()) {
            if root.join(crate::DIGEST_DIR).is_dir() {
                out.push((name, root.to_path_buf()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Run `q` over every node's trail in `root`.
pub fn search(root: &Path, q: &Query) -> std::io::Result<Page> {
    let mut nodes = Vec::new();
    for (node, dir) in node_dirs(root)? {
        let segments = list_segments(&dir, &node)?
            .into_iter()
            .map(|(_, name)| name)
            .collect();
        nodes.push(NodeCursor {
            node,
            dir,
            segments,
            current: None,
            newest_segment: true,
        });
    }
    let scope = q.scope.as_ref().map(|(a, r)| index::scope(a, r));
    let principal = q.principal.as_deref().map(index::fnv);
    let mut page = Page::default();
    let mut files: std::collections::HashMap<PathBuf, std::fs::File> = Default::default();
    loop {
        // The newest entry among the nodes.
        let mut best: Option<(usize, Entry)> = None;
        for i in 0..nodes.len() {
            let Some(e) = nodes[i].peek(q)? else { continue };
            let newer = best.as_ref().is_none_or(|(j, b)| {
                (e.time_ms, nodes[i].node.as_str(), e.seq)
                    > (b.time_ms, nodes[*j].node.as_str(), b.seq)
            });
            if newer {
                best = Some((i, e));
            }
        }
        let Some((i, e)) = best else {
            return Ok(page);
        };
        nodes[i].pop();
        if q.start_ms.is_some_and(|s| e.time_ms < s) {
            // This node has nothing newer left in range.
            nodes[i].segments.clear();
            nodes[i].current = None;
            continue;
        }
        if scope.is_some_and(|s| !e.in_scope(s))
            || principal.is_some_and(|p| !e.principal_may_be(p))
            || q.failed.is_some_and(|f| e.failed() != f)
            || q.attribute.as_ref().is_some_and(|a| !e.may_match(a))
        {
            continue;
        }
        let n = &nodes[i];
        let Some((seg, _)) = &n.current else { continue };
        let path = n.dir.join(seg);
        let file = match files.entry(path.clone()) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(std::fs::File::open(&path)?),
        };
        let line = read_at(file, e.offset, e.len as usize)?;
        let Ok(parsed) = crate::chain::parse_line(&line) else {
            continue;
        };
        let record = parsed.record.get().to_string();
        let Some(facts) = index::facts_from_record(&record) else {
            continue;
        };
        let confirmed = q
            .scope
            .as_ref()
            .is_none_or(|(a, r)| &facts.account == a && &facts.region == r)
            && q.principal
                .as_ref()
                .is_none_or(|p| &facts.principal_arn == p)
            && q.attribute.as_ref().is_none_or(|a| a.confirm(&facts));
        if !confirmed {
            continue;
        }
        let cursor = Cursor {
            time_ms: e.time_ms,
            node: n.node.clone(),
            seq: e.seq,
        };
        page.found.push(Found {
            cursor: cursor.clone(),
            record,
            facts,
        });
        if page.found.len() >= q.limit {
            page.next = Some(cursor);
            return Ok(page);
        }
    }
}
