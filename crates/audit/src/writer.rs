//! The writer: one thread per trail owns the segment file. Requests hand it
//! their serialized events and wait; it takes everything that has queued up,
//! chains and appends it with one `write`, makes it durable with one
//! `fdatasync`, and only then releases the waiting requests (group commit:
//! under load a batch holds as many events as requests arrived during the
//! previous sync, so durability costs one sync per batch, not per request).
//!
//! If a write or sync fails, every request of the batch gets an error (the
//! server answers `KMSInternalException`: nothing is answered unrecorded),
//! the segment is cut back to its last durable byte, the trail reports
//! itself unhealthy (the server then refuses changes before making them),
//! and the next batch tries again.

use crate::chain::{self, Hash, GENESIS};
use crate::digest::{self, DigestBody, SegmentDigest, Signer};
use crate::event::{Event, Facts};
use crate::index::{self, Entry};
use crate::sink::Sinks;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt as _, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Where and how a node writes its trail.
#[derive(Debug, Clone)]
pub struct TrailConfig {
    /// The audit directory; this node writes in `<dir>/<node>/`.
    pub dir: PathBuf,
    /// This node's name (see [`crate::valid_node_name`]).
    pub node: String,
    /// Close a segment at this size.
    pub segment_max_bytes: u64,
    /// Close a segment at this age.
    pub segment_max_age: Duration,
    /// Make a digest at least this often.
    pub digest_interval: Duration,
    /// Where committed events are copied as well (stdout, syslog).
    pub sinks: Vec<crate::sink::SinkConfig>,
}

/// Why the trail could not record.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    /// Writing or syncing failed (disk full, permissions, I/O error).
    #[error("the audit trail cannot be written ({path}): {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The trail was closed (the server is stopping).
    #[error("the audit trail is closed")]
    Closed,
    /// The last write failed; changes are refused until one succeeds.
    #[error("the audit trail's last write failed; changes are refused until it can write again")]
    Unavailable,
    /// The event could not be serialized.
    #[error("the audit event could not be serialized")]
    Serialize,
    /// The digest signing key failed.
    #[error(transparent)]
    Sign(#[from] digest::SignError),
    /// Another process holds this node's trail: two writers would fork its
    /// chain.
    #[error("the audit trail in {0} is being written by another process: give each server its own node name (audit.node) or its own audit directory")]
    InUse(PathBuf),
    /// What is on disk cannot be continued.
    #[error("the audit trail in {path} cannot be continued: {reason}")]
    Corrupt {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The node's lock file (in its directory; not a segment or digest name).
const LOCK_FILE: &str = ".lock";

fn io_error(path: &Path, e: std::io::Error) -> AuditError {
    AuditError::Io {
        path: path.to_path_buf(),
        source: Arc::new(e),
    }
}

/// The longest the writer waits for a batch to fill up to the last batch's
/// size before syncing (an adaptive `commit_delay`).
const GATHER_MAX_WAIT: Duration = Duration::from_micros(400);
/// From this last-batch size on, the writer gathers.
const GATHER_MIN_BATCH: usize = 4;
/// The open segment is zeroed this far ahead of its records. An fdatasync
/// after an append that grows a file must commit the new size and blocks to
/// the filesystem's journal; one after an overwrite of blocks already on
/// disk flushes only the data. On ext4 here that halves a sync's time and
/// cuts its CPU by a third: the space is reserved once per MiB (with the
/// batch that crosses into it, in the same sync) instead of on every batch.
/// The zeros are trimmed when the segment is closed; readers stop at the
/// first NUL (`chain::complete_lines`).
pub(crate) const RESERVE_BYTES: usize = 1 << 20;
/// After a reservation fails (a full disk), batches are written without one
/// for this long before the next try.
const RESERVE_RETRY: Duration = Duration::from_secs(1);

struct Pending {
    record: Vec<u8>,
    facts: Facts,
    done: oneshot::Sender<Result<(), AuditError>>,
}

#[derive(Default)]
struct Queue {
    pending: Vec<Pending>,
    shutdown: bool,
    /// The writer sleeps on the condition variable: only then does a new
    /// event wake it (a wake is a system call; under load the writer is
    /// busy syncing and finds the queue full when it looks).
    writer_waiting: bool,
    /// While gathering, wake the writer only once this many are pending.
    want: usize,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    healthy: AtomicBool,
    committed: AtomicU64,
}

/// A node's audit trail (or none: audit off).
pub struct Trail {
    shared: Option<Arc<Shared>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    node_dir: PathBuf,
    /// The node's lock, held until the trail is closed (released by the
    /// kernel when the process ends, however it ends).
    lock: Mutex<Option<File>>,
}

impl std::fmt::Debug for Trail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trail")
            .field("enabled", &self.shared.is_some())
            .field("node_dir", &self.node_dir)
            .finish()
    }
}

impl Trail {
    /// No trail: every event is dropped. Only for measuring what the trail
    /// costs (`[audit] enabled = false`).
    pub fn disabled() -> Trail {
        Trail {
            shared: None,
            thread: Mutex::new(None),
            node_dir: PathBuf::new(),
            lock: Mutex::new(None),
        }
    }

    /// Open (or create) this node's trail and start its writer: a torn last
    /// record left by a crash is cut off (it was never acknowledged), the
    /// chain continues from the last complete record in a new segment, and
    /// records that no digest covers yet get one now.
    pub fn open(cfg: TrailConfig, signer: Arc<dyn Signer>) -> Result<Trail, AuditError> {
        if !crate::valid_node_name(&cfg.node) {
            return Err(AuditError::Corrupt {
                path: cfg.dir.clone(),
                reason: format!("node name {:?} is not 1 to 64 of [A-Za-z0-9._-]", cfg.node),
            });
        }
        let node_dir = cfg.dir.join(&cfg.node);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(node_dir.join(crate::DIGEST_DIR))
            .map_err(|e| io_error(&node_dir, e))?;
        // One writer per node: a second process (or a second server on the
        // same directory with the same node name) is refused before it
        // touches a file, instead of interleaving two chains.
        let lock_path = node_dir.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_error(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(AuditError::InUse(node_dir)),
            Err(std::fs::TryLockError::Error(e)) => return Err(io_error(&lock_path, e)),
        }
        let mut writer = Writer::recover(cfg, node_dir.clone(), signer)?;
        writer.digest_if_new()?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            healthy: AtomicBool::new(true),
            committed: AtomicU64::new(writer.seq),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer.run(&s))
            .map_err(|e| io_error(&node_dir, e))?;
        Ok(Trail {
            shared: Some(shared),
            thread: Mutex::new(Some(thread)),
            node_dir,
            lock: Mutex::new(Some(lock)),
        })
    }

    /// Whether audit is on.
    pub fn enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// Whether the last write succeeded. While it is false the server
    /// refuses requests that would change something, before changing it.
    pub fn healthy(&self) -> bool {
        self.shared
            .as_ref()
            .is_none_or(|s| s.healthy.load(Ordering::SeqCst))
    }

    /// The node's directory.
    pub fn node_dir(&self) -> &Path {
        &self.node_dir
    }

    /// The audit directory (every node's trail; what search reads), if the
    /// trail is on.
    pub fn root_dir(&self) -> Option<&Path> {
        self.shared.as_ref()?;
        self.node_dir.parent()
    }

    /// The sequence number of the last durable record.
    pub fn committed(&self) -> u64 {
        self.shared
            .as_ref()
            .map_or(0, |s| s.committed.load(Ordering::Acquire))
    }

    /// Record `event`; returns once it is on stable storage.
    pub async fn record(&self, event: &Event) -> Result<(), AuditError> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        // A KMS event is about a kilobyte: one allocation instead of a
        // doubling series.
        let mut record = Vec::with_capacity(1536);
        serde_json::to_writer(&mut record, event).map_err(|_| AuditError::Serialize)?;
        let (done, wait) = oneshot::channel();
        let wake = {
            let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            if q.shutdown {
                return Err(AuditError::Closed);
            }
            q.pending.push(Pending {
                record,
                facts: event.facts(),
                done,
            });
            let wake = q.writer_waiting && q.pending.len() >= q.want;
            if wake {
                q.writer_waiting = false;
            }
            wake
        };
        if wake {
            shared.wake.notify_one();
        }
        wait.await.unwrap_or(Err(AuditError::Closed))
    }

    /// Stop the writer after the events already queued, closing the
    /// segment with a final digest.
    pub fn close(&self) {
        if let Some(shared) = &self.shared {
            shared
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .shutdown = true;
            shared.wake.notify_one();
        }
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
        // The writer is done with the files: another may take the node.
        self.lock.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

impl Drop for Trail {
    fn drop(&mut self) {
        self.close();
    }
}

/// The segment being appended to.
struct Open {
    name: String,
    path: PathBuf,
    file: File,
    idx: Option<File>,
    len: u64,
    /// The file's length: `len` plus zeros reserved after the records.
    reserved: u64,
    first_seq: u64,
    last_seq: u64,
    opened: Instant,
}

struct Writer {
    cfg: TrailConfig,
    node_dir: PathBuf,
    signer: Arc<dyn Signer>,
    public_key: Vec<u8>,
    /// The last durable record.
    seq: u64,
    prev: Hash,
    /// The last index time (index times never go back).
    last_time: i64,
    open: Option<Open>,
    /// Segments that received records since the last digest and are
    /// closed (the open one is added when a digest is made).
    closed_since_digest: Vec<SegmentDigest>,
    digest_number: u64,
    digested_seq: u64,
    previous_digest: Option<(String, String, String)>,
    last_digest: Instant,
    /// Cut back a segment after a failed write before the next one.
    needs_repair: bool,
    sinks: Sinks,
    /// The batch's lines and index entries (reused).
    buf: Vec<u8>,
    idx: Vec<u8>,
    /// `RESERVE_BYTES` of zeros (untouched pages: no memory until read).
    zeros: Vec<u8>,
    /// When a reservation last failed.
    reserve_failed: Option<Instant>,
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The segments of `node` in `dir`, by first sequence number.
pub(crate) fn list_segments(dir: &Path, node: &str) -> std::io::Result<Vec<(u64, String)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(seq) = segment_first_seq(node, &name) {
            out.push((seq, name));
        }
    }
    out.sort();
    Ok(out)
}

/// The first sequence number in a segment file name of `node`.
pub(crate) fn segment_first_seq(node: &str, name: &str) -> Option<u64> {
    let rest = name.strip_prefix(node)?.strip_prefix('.')?;
    let rest = rest.strip_suffix(crate::SEGMENT_SUFFIX)?;
    let (seq, time) = rest.split_once('.')?;
    // Names are printed by verify: nothing but the time Trent writes.
    let time_ok = crate::is_compact_time(time);
    if seq.len() != 20 || !time_ok || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    seq.parse().ok()
}

/// Cut the zeros after a closed segment's last record, if it has any (its
/// trim at close failed or a crash lost it). Reads one byte when there are
/// none. Leaves anything else alone: verify reports it.
fn trim_zero_tail(path: &Path) -> std::io::Result<()> {
    let f = OpenOptions::new().read(true).write(true).open(path)?;
    let len = f.metadata()?.len();
    let mut byte = [0u8; 1];
    if len == 0 {
        return Ok(());
    }
    f.read_exact_at(&mut byte, len - 1)?;
    if byte[0] != 0 {
        return Ok(());
    }
    // Back to the last non-zero byte.
    let mut chunk = vec![0u8; 64 * 1024];
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let buf = &mut chunk[..(end - start) as usize];
        f.read_exact_at(buf, start)?;
        if let Some(i) = buf.iter().rposition(|&b| b != 0) {
            let last = start + i as u64;
            f.read_exact_at(&mut byte, last)?;
            if byte[0] == b'\n' {
                f.set_len(last + 1)?;
                f.sync_all()?;
                tracing::info!(file = %path.display(), bytes = len - last - 1, "audit: trimmed the zeros after a closed segment's records");
            }
            return Ok(());
        }
        end = start;
    }
    Ok(())
}

/// The digests of `node` in `dir`, by number.
pub(crate) fn list_digests(dir: &Path, node: &str) -> std::io::Result<Vec<(u64, String)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(n) = digest::number_of(node, &name) {
            out.push((n, name));
        }
    }
    out.sort();
    Ok(out)
}

impl Writer {
    fn recover(
        cfg: TrailConfig,
        node_dir: PathBuf,
        signer: Arc<dyn Signer>,
    ) -> Result<Writer, AuditError> {
        let corrupt = |path: &Path, reason: String| AuditError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let mut segments =
            list_segments(&node_dir, &cfg.node).map_err(|e| io_error(&node_dir, e))?;
        // The last digest first: nothing a digest signed is ever cut.
        let digest_dir = node_dir.join(crate::DIGEST_DIR);
        let digests = list_digests(&digest_dir, &cfg.node).map_err(|e| io_error(&digest_dir, e))?;
        let last_digest = match digests.last() {
            Some((n, name)) => {
                let path = digest_dir.join(name);
                let bytes = std::fs::read(&path).map_err(|e| io_error(&path, e))?;
                let parsed = digest::parse(&bytes).map_err(|e| corrupt(&path, e.to_string()))?;
                Some((*n, name.clone(), bytes, parsed))
            }
            None => None,
        };
        let signed_up_to = last_digest.as_ref().map_or(0, |d| d.3.body.last_seq);
        // Closed segments end with their last record; one whose trim at
        // close failed or was lost keeps zeros, trimmed here.
        if let Some((_, older)) = segments.split_last() {
            for (_, name) in older {
                let path = node_dir.join(name);
                if let Err(e) = trim_zero_tail(&path) {
                    tracing::warn!(error = %e, file = %path.display(), "audit: could not trim the zeros after a closed segment's records");
                }
            }
        }
        let mut seq = 0;
        let mut prev = GENESIS;
        let mut last_time = i64::MIN;
        // The newest segment with a complete record; a torn tail is cut off.
        while let Some((first, name)) = segments.last().cloned() {
            let path = node_dir.join(&name);
            let bytes = std::fs::read(&path).map_err(|e| io_error(&path, e))?;
            let (lines, end) = chain::complete_lines(&bytes);
            // What this segment ends at once cut; below a digest, the
            // bytes past `end` were acknowledged: refuse, change nothing.
            let ends_at = match lines.last() {
                Some((_, last)) => chain::parse_line(last).map_or(u64::MAX, |l| l.seq),
                None => first.saturating_sub(1),
            };
            if ends_at < signed_up_to {
                return Err(corrupt(
                    &path,
                    format!(
                        "its records end at {ends_at} but a digest signed records up to {signed_up_to}: \
                         records were removed or overwritten (run `trent audit verify`); nothing was changed"
                    ),
                ));
            }
            if end < bytes.len() {
                let tail = &bytes[end..];
                if chain::all_zero(tail) {
                    tracing::info!(
                        file = %path.display(),
                        bytes = tail.len(),
                        "audit: trimming the space reserved after the records of the segment open when the server stopped"
                    );
                } else {
                    // Never acknowledged (a batch being written when the
                    // server stopped), but kept aside rather than
                    // destroyed: if anything else put them there, they are
                    // evidence.
                    let kept = node_dir.join(format!(
                        "{name}.cut.{}",
                        crate::compact_time(crate::now_ms())
                    ));
                    let keep = &tail[..tail.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1)];
                    std::fs::write(&kept, keep)
                        .and_then(|()| File::open(&kept)?.sync_all())
                        .and_then(|()| sync_dir(&node_dir))
                        .map_err(|e| io_error(&kept, e))?;
                    tracing::warn!(
                        file = %path.display(),
                        bytes = tail.len(),
                        kept = %kept.display(),
                        "audit: cutting off the bytes after the last complete record (written when the server stopped, never acknowledged); they are kept in the file named"
                    );
                }
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| io_error(&path, e))?;
                f.set_len(end as u64).map_err(|e| io_error(&path, e))?;
                f.sync_all().map_err(|e| io_error(&path, e))?;
            }
            let Some((_, last)) = lines.last() else {
                std::fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
                let _ =
                    std::fs::remove_file(node_dir.join(format!("{name}{}", crate::INDEX_SUFFIX)));
                segments.pop();
                continue;
            };
            let parsed = chain::parse_line(last)
                .map_err(|e| corrupt(&path, format!("its last record does not parse: {e}")))?;
            if parsed.node != cfg.node {
                return Err(corrupt(
                    &path,
                    format!("its last record names node {:?}", parsed.node),
                ));
            }
            seq = parsed.seq;
            prev = chain::hash(last);
            // The index of the segment a crash interrupted may be short.
            let idx = index::rebuild(&bytes[..end]);
            if let Some(e) = idx.chunks_exact(index::ENTRY_BYTES).last() {
                last_time = Entry::decode(e).time_ms;
            }
            let idx_path = node_dir.join(format!("{name}{}", crate::INDEX_SUFFIX));
            std::fs::write(&idx_path, idx).map_err(|e| io_error(&idx_path, e))?;
            break;
        }
        // The records after the last digest must follow the record it
        // signed, link by link: this start's digest signs them, and must
        // not sign records altered while the server was stopped.
        if let Some((_, dname, _, parsed)) = &last_digest {
            let signed = parsed.body.last_seq;
            if seq > signed {
                let mut expect_prev = [0u8; 32];
                hex::decode_to_slice(&parsed.body.last_record_hash, &mut expect_prev).map_err(
                    |_| {
                        corrupt(
                            &digest_dir.join(dname),
                            "its lastRecordHash is not hex".into(),
                        )
                    },
                )?;
                let mut expect_seq = signed + 1;
                for (i, (_, name)) in segments.iter().enumerate() {
                    let last_here = segments
                        .get(i + 1)
                        .map_or(seq, |(n, _)| n.saturating_sub(1));
                    if last_here <= signed {
                        continue;
                    }
                    let path = node_dir.join(name);
                    let bytes = std::fs::read(&path).map_err(|e| io_error(&path, e))?;
                    for (_, line) in chain::complete_lines(&bytes).0 {
                        let l = chain::parse_line(line)
                            .map_err(|e| corrupt(&path, format!("a record does not parse: {e}")))?;
                        if l.seq <= signed {
                            continue;
                        }
                        if l.seq != expect_seq || l.prev != expect_prev {
                            return Err(corrupt(
                                &path,
                                format!(
                                    "record {} does not follow record {} (signed by digest {dname}): \
                                     records after the last digest were altered or inserted (run \
                                     `trent audit verify`); the chain cannot continue",
                                    l.seq,
                                    expect_seq - 1
                                ),
                            ));
                        }
                        expect_prev = chain::hash(line);
                        expect_seq += 1;
                    }
                }
            }
        }
        // The digest chain.
        let mut digest_number = 0;
        let mut digested_seq = 0;
        let mut previous_digest = None;
        if let Some((n, name, bytes, parsed)) = last_digest {
            if parsed.body.last_seq > seq {
                return Err(corrupt(
                    &node_dir,
                    format!(
                        "digest {name} covers records up to {} but the trail ends at {seq}; \
                         records were removed (run `trent audit verify`) and the chain cannot continue",
                        parsed.body.last_seq
                    ),
                ));
            }
            use base64::Engine;
            digest_number = n;
            digested_seq = parsed.body.last_seq;
            previous_digest = Some((
                name,
                digest::sha256_hex(&bytes),
                base64::engine::general_purpose::STANDARD.encode(&parsed.signature),
            ));
        }
        // Segments written since the last digest (by an earlier run): they
        // are closed now, since this run starts a new one.
        let mut closed_since_digest = Vec::new();
        for (i, (first, name)) in segments.iter().enumerate() {
            let last_of_this = segments
                .get(i + 1)
                .map_or(seq, |(next, _)| next.saturating_sub(1));
            if last_of_this <= digested_seq || last_of_this < *first {
                continue;
            }
            let path = node_dir.join(name);
            let bytes = std::fs::read(&path).map_err(|e| io_error(&path, e))?;
            let (lines, end) = chain::complete_lines(&bytes);
            let Some((_, last)) = lines.last() else {
                continue;
            };
            closed_since_digest.push(SegmentDigest {
                file: name.clone(),
                first_seq: *first,
                last_seq: last_of_this,
                bytes: end as u64,
                last_record_hash: hex::encode(chain::hash(last)),
                closed: true,
            });
        }
        let public_key = signer.public_key_der();
        let sinks = Sinks::start(&cfg.sinks);
        Ok(Writer {
            cfg,
            node_dir,
            signer,
            public_key,
            seq,
            prev,
            last_time,
            open: None,
            closed_since_digest,
            digest_number,
            digested_seq,
            previous_digest,
            last_digest: Instant::now(),
            needs_repair: false,
            sinks,
            buf: Vec::new(),
            idx: Vec::new(),
            zeros: vec![0; RESERVE_BYTES],
            reserve_failed: None,
        })
    }

    fn run(mut self, shared: &Shared) {
        let mut last_batch = 0usize;
        loop {
            let (batch, shutdown) = {
                let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if !q.pending.is_empty() || q.shutdown {
                        break;
                    }
                    let wait = self
                        .cfg
                        .digest_interval
                        .saturating_sub(self.last_digest.elapsed())
                        .max(Duration::from_millis(10));
                    q.writer_waiting = true;
                    let (guard, timeout) = shared
                        .wake
                        .wait_timeout(q, wait)
                        .unwrap_or_else(|e| e.into_inner());
                    q = guard;
                    q.writer_waiting = false;
                    if timeout.timed_out() {
                        break;
                    }
                }
                // Gather: the last batch showed this many concurrent
                // requests; give as many a moment to join this sync. An
                // fdatasync costs about 100 µs of CPU on the reference
                // machine whatever it writes: batches of 5 cost 20 µs per
                // request, batches of 50 cost 2 µs. A lone client is never
                // kept waiting.
                if last_batch >= GATHER_MIN_BATCH && !q.pending.is_empty() {
                    let deadline = Instant::now() + GATHER_MAX_WAIT;
                    q.want = last_batch;
                    while q.pending.len() < last_batch && !q.shutdown {
                        let now = Instant::now();
                        if now >= deadline {
                            break;
                        }
                        q.writer_waiting = true;
                        let (guard, _) = shared
                            .wake
                            .wait_timeout(q, deadline - now)
                            .unwrap_or_else(|e| e.into_inner());
                        q = guard;
                        q.writer_waiting = false;
                    }
                    q.want = 0;
                }
                (std::mem::take(&mut q.pending), q.shutdown)
            };
            last_batch = batch.len();
            if !batch.is_empty() {
                self.commit(batch, &shared.healthy);
                shared.committed.store(self.seq, Ordering::Release);
            }
            if shutdown {
                self.close_segment();
                if let Err(e) = self.make_digest() {
                    tracing::error!(error = %e, "audit: the final digest could not be written");
                }
                return;
            }
            if self.last_digest.elapsed() >= self.cfg.digest_interval {
                if let Err(e) = self.make_digest() {
                    tracing::error!(error = %e, "audit: the periodic digest could not be written");
                }
            }
        }
    }

    /// Append and sync one batch, note whether that worked in `healthy`,
    /// then answer its requests: a request that learns of a failure must
    /// find the trail unhealthy when it (or its client's next request)
    /// checks before changing something.
    fn commit(&mut self, batch: Vec<Pending>, healthy: &AtomicBool) {
        match self.write_batch(&batch) {
            Ok(()) => {
                healthy.store(true, Ordering::SeqCst);
                let copy = self.sinks.active();
                for p in batch {
                    let _ = p.done.send(Ok(()));
                    if copy {
                        self.sinks.send(p.record);
                    }
                }
                if let Some(open) = &self.open {
                    let too_big = open.len >= self.cfg.segment_max_bytes;
                    let too_old = open.opened.elapsed() >= self.cfg.segment_max_age;
                    if too_big || too_old {
                        self.close_segment();
                        if let Err(e) = self.make_digest() {
                            tracing::error!(error = %e, "audit: the digest at rotation could not be written");
                        }
                    }
                }
            }
            Err(e) => {
                healthy.store(false, Ordering::SeqCst);
                tracing::error!(
                    error = %e,
                    requests = batch.len(),
                    "audit: cannot write the trail; the requests of this batch fail with KMSInternalException, and changes are refused until a write succeeds"
                );
                for p in batch {
                    let _ = p.done.send(Err(e.clone()));
                }
            }
        }
    }

    fn write_batch(&mut self, batch: &[Pending]) -> Result<(), AuditError> {
        if self.needs_repair {
            self.repair()?;
        }
        if self.open.is_none() {
            self.open_segment()?;
        }
        let node = self.cfg.node.clone();
        let open = self.open.as_mut().ok_or(AuditError::Closed)?;
        // The buffers are kept from batch to batch: a fresh one would be
        // fresh pages, faulted in on every batch.
        let (buf, idx) = (&mut self.buf, &mut self.idx);
        buf.clear();
        idx.clear();
        let (mut seq, mut prev, mut last_time) = (self.seq, self.prev, self.last_time);
        for p in batch {
            let start = buf.len();
            seq += 1;
            prev = chain::write_line(&node, seq, &prev, &p.record, buf);
            last_time = last_time.max(p.facts.time_ms);
            let line_len = (buf.len() - start - 1) as u32;
            Entry::new(&p.facts, last_time, seq, open.len + start as u64, line_len).encode(idx);
        }
        let end = open.len + buf.len() as u64;
        let mut written = open.file.write_all_at(buf, open.len);
        if written.is_ok() && end > open.reserved {
            // Crossing into new space: reserve the next stretch with this
            // batch, in its sync. Best effort: on a nearly full disk the
            // records alone are written, and the zeros are taken back.
            let retry = self
                .reserve_failed
                .is_none_or(|t| t.elapsed() >= RESERVE_RETRY);
            open.reserved = end;
            if retry {
                match open.file.write_all_at(&self.zeros, end) {
                    Ok(()) => {
                        open.reserved = end + self.zeros.len() as u64;
                        self.reserve_failed = None;
                    }
                    Err(_) => {
                        self.reserve_failed = Some(Instant::now());
                        written = open.file.set_len(end);
                    }
                }
            }
        }
        if let Err(e) = written.and_then(|()| open.file.sync_data()) {
            let err = io_error(&open.path, e);
            // Cut back now if possible; otherwise before the next batch.
            self.needs_repair = self.repair().is_err();
            return Err(err);
        }
        open.len += buf.len() as u64;
        open.last_seq = seq;
        self.seq = seq;
        self.prev = prev;
        self.last_time = last_time;
        if let Some(f) = &mut open.idx {
            if let Err(e) = f.write_all(idx) {
                // The index is derived data: search rebuilds what it lacks.
                tracing::warn!(error = %e, file = %open.name, "audit: index write failed; the index of this segment will be rebuilt when searched");
                open.idx = None;
            }
        }
        Ok(())
    }

    /// Cut the open segment back to its last durable byte after a failed
    /// write; if that fails too, leave the segment (its torn tail is never
    /// acknowledged) and start a new one.
    fn repair(&mut self) -> Result<(), AuditError> {
        if let Some(open) = &mut self.open {
            // Cut back; if the file cannot be cut (the disk that refused
            // the write may refuse this too), a NUL at the last durable
            // byte ends the records there, in space already allocated.
            let r = match open.file.set_len(open.len) {
                Ok(()) => {
                    open.reserved = open.len;
                    Ok(())
                }
                Err(_) => open
                    .file
                    .write_all_at(&[0], open.len)
                    .and_then(|()| open.file.sync_data()),
            };
            if let Err(e) = r {
                let err = io_error(&open.path, e);
                self.close_segment();
                return Err(err);
            }
        }
        self.needs_repair = false;
        Ok(())
    }

    fn open_segment(&mut self) -> Result<(), AuditError> {
        let first_seq = self.seq + 1;
        let name = format!(
            "{}.{first_seq:020}.{}{}",
            self.cfg.node,
            crate::compact_time(crate::now_ms()),
            crate::SEGMENT_SUFFIX
        );
        let path = self.node_dir.join(&name);
        let file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .read(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        let idx = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(self.node_dir.join(format!("{name}{}", crate::INDEX_SUFFIX)))
            .ok();
        sync_dir(&self.node_dir).map_err(|e| io_error(&self.node_dir, e))?;
        self.open = Some(Open {
            name,
            path,
            file,
            idx,
            len: 0,
            reserved: 0,
            first_seq,
            last_seq: first_seq - 1,
            opened: Instant::now(),
        });
        Ok(())
    }

    /// The open segment as a digest sees it.
    fn open_summary(&self, closed: bool) -> Option<SegmentDigest> {
        let open = self.open.as_ref()?;
        if open.last_seq < open.first_seq {
            return None;
        }
        Some(SegmentDigest {
            file: open.name.clone(),
            first_seq: open.first_seq,
            last_seq: open.last_seq,
            bytes: open.len,
            last_record_hash: hex::encode(self.prev),
            closed,
        })
    }

    fn close_segment(&mut self) {
        if let Some(s) = self.open_summary(true) {
            if s.last_seq > self.digested_seq {
                self.closed_since_digest.push(s);
            }
        }
        if let Some(open) = self.open.take() {
            if open.reserved > open.len {
                // Trim the reserved zeros: a closed segment ends with its
                // last record. Synced before the next segment exists, so
                // only the newest segment can have a reserved tail.
                if let Err(e) = open
                    .file
                    .set_len(open.len)
                    .and_then(|()| open.file.sync_all())
                {
                    tracing::warn!(error = %e, file = %open.name, "audit: could not trim the space reserved after a closed segment's records (readers stop at it)");
                }
            }
            if open.last_seq < open.first_seq {
                // Nothing was ever written to it.
                let _ = std::fs::remove_file(&open.path);
                let _ = std::fs::remove_file(self.node_dir.join(format!(
                    "{}{}",
                    open.name,
                    crate::INDEX_SUFFIX
                )));
            }
        }
    }

    /// A digest, if records were written since the last one (at start-up).
    fn digest_if_new(&mut self) -> Result<(), AuditError> {
        if self.seq > self.digested_seq || self.digest_number == 0 {
            self.make_digest()?;
        }
        Ok(())
    }

    fn make_digest(&mut self) -> Result<(), AuditError> {
        use base64::Engine;
        let now = crate::now_ms();
        let mut segments = std::mem::take(&mut self.closed_since_digest);
        if let Some(s) = self.open_summary(false) {
            if s.last_seq > self.digested_seq {
                segments.push(s);
            }
        }
        let number = self.digest_number + 1;
        let (previous_file, previous_hash, previous_signature) = match &self.previous_digest {
            Some((f, h, s)) => (Some(f.clone()), Some(h.clone()), Some(s.clone())),
            None => (None, None, None),
        };
        let body = DigestBody {
            digest_version: digest::DIGEST_VERSION,
            node: self.cfg.node.clone(),
            digest_number: number,
            digest_time: crate::iso_seconds(now),
            signature_algorithm: self.signer.algorithm().to_string(),
            public_key: base64::engine::general_purpose::STANDARD.encode(&self.public_key),
            public_key_fingerprint: digest::sha256_hex(&self.public_key),
            previous_digest_file: previous_file,
            previous_digest_hash: previous_hash,
            previous_digest_signature: previous_signature,
            first_seq: self.digested_seq + 1,
            last_seq: self.seq,
            last_record_hash: hex::encode(self.prev),
            segments: segments.clone(),
        };
        let bytes = digest::render(&body, self.signer.as_ref())?;
        let dir = self.node_dir.join(crate::DIGEST_DIR);
        let name = digest::file_name(&self.cfg.node, number, now);
        let tmp = dir.join(format!(".{name}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut f = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, dir.join(&name))?;
            sync_dir(&dir)
        };
        if let Err(e) = write() {
            // Keep the segments for the next attempt.
            self.closed_since_digest = segments.into_iter().filter(|s| s.closed).collect();
            let _ = std::fs::remove_file(&tmp);
            return Err(io_error(&dir.join(&name), e));
        }
        let signature = digest::parse(&bytes)
            .map(|p| base64::engine::general_purpose::STANDARD.encode(p.signature))
            .unwrap_or_default();
        self.previous_digest = Some((name, digest::sha256_hex(&bytes), signature));
        self.digest_number = number;
        self.digested_seq = self.seq;
        self.last_digest = Instant::now();
        Ok(())
    }
}

/// Read a segment's bytes `[offset, offset + len)`.
pub(crate) fn read_at(file: &mut File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(&mut buf)?;
    Ok(buf)
}
