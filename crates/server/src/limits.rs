//! Bounds on what the server takes on at once, so that someone who can only
//! reach the port cannot exhaust its memory or its connection slots: a cap
//! on connections, a cap on request-body bytes buffered over all requests
//! (with a reserve for small bodies and a share per access key), and the
//! watchdog that closes connections that stop making progress.
//!
//! Past a cap, new work waits up to `overload_wait` for room, then is
//! refused with `ThrottlingException` (HTTP 400, "Rate exceeded"), as AWS
//! answers when it sheds load. Work that was admitted is never dropped
//! half-way: a permit is held until its request or connection is done.

use crate::config::Limits;
use foldhash::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections beyond the cap that are held briefly (and, if no room comes,
/// answered with `ThrottlingException`) rather than closed at once. Past
/// these too, a new connection is closed without a word.
const OVERFLOW_CONNECTIONS: usize = 256;

/// Bodies up to this size (every KMS request but the largest policies) may
/// also draw on a reserve that larger ones cannot touch, so that a flood of
/// large bodies does not starve ordinary requests.
pub const SMALL_BODY: usize = 64 * 1024;

/// A request without a declared length reserves this much at first, and
/// more as its body arrives.
const UNDECLARED_STEP: usize = 16 * 1024;

/// What to do with a new connection.
#[derive(Debug)]
pub enum Admission {
    /// Serve it.
    Serve(OwnedSemaphorePermit),
    /// Over the cap: wait for room, else answer `ThrottlingException`.
    Overflow(OwnedSemaphorePermit),
    /// Far over the cap: close it.
    Refuse,
}

/// The caps.
#[derive(Debug)]
pub struct Gate {
    connections: Arc<Semaphore>,
    overflow: Arc<Semaphore>,
    /// Seven eighths of the body budget, for any body.
    body_bytes: Arc<Semaphore>,
    /// One eighth, for bodies of at most [`SMALL_BODY`] only.
    small_reserve: Arc<Semaphore>,
    /// The most one semaphore acquisition may take.
    max_main: u32,
    /// Body bytes held per access key, and the most one key may hold: one
    /// access key id (which is not a secret) cannot take the whole budget.
    per_key: Arc<Mutex<HashMap<Arc<str>, usize>>>,
    per_key_cap: usize,
    limits: Limits,
}

/// Room for one request's body, released when dropped.
#[derive(Debug)]
pub struct BodyPermit {
    gate: Arc<GateShared>,
    key: Arc<str>,
    bytes: usize,
    permits: Vec<OwnedSemaphorePermit>,
}

/// What a [`BodyPermit`] needs of its gate after the request started.
#[derive(Debug)]
struct GateShared {
    body_bytes: Arc<Semaphore>,
    per_key: Arc<Mutex<HashMap<Arc<str>, usize>>>,
    per_key_cap: usize,
    max_main: u32,
    wait: Duration,
}

impl Gate {
    /// Caps from the configuration.
    pub fn new(limits: Limits) -> Gate {
        // Semaphores count in u32 per acquisition; 4 GiB of buffered bodies
        // is beyond any sensible setting.
        let total = limits.max_buffered_body_bytes.min(u32::MAX as usize);
        let reserve = total / 8;
        let main = total - reserve;
        Gate {
            connections: Arc::new(Semaphore::new(limits.max_connections)),
            overflow: Arc::new(Semaphore::new(OVERFLOW_CONNECTIONS)),
            body_bytes: Arc::new(Semaphore::new(main)),
            small_reserve: Arc::new(Semaphore::new(reserve)),
            max_main: u32::try_from(main.max(1)).unwrap_or(u32::MAX),
            per_key: Arc::default(),
            per_key_cap: (total / 4).max(limits.max_body_bytes),
            limits,
        }
    }

    /// The configured limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Decide on a new connection without waiting (the accept loop must not
    /// block).
    pub fn admit(&self) -> Admission {
        if let Ok(p) = self.connections.clone().try_acquire_owned() {
            return Admission::Serve(p);
        }
        match self.overflow.clone().try_acquire_owned() {
            Ok(p) => Admission::Overflow(p),
            Err(_) => Admission::Refuse,
        }
    }

    /// For an overflow connection: wait for a connection slot.
    pub async fn wait_for_connection(&self) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(
            self.limits.overload_wait,
            self.connections.clone().acquire_owned(),
        )
        .await
        .ok()?
        .ok()
    }

    fn shared(&self) -> Arc<GateShared> {
        Arc::new(GateShared {
            body_bytes: self.body_bytes.clone(),
            per_key: self.per_key.clone(),
            per_key_cap: self.per_key_cap,
            max_main: self.max_main,
            wait: self.limits.overload_wait,
        })
    }

    /// Room to buffer the body of a request signed with `access_key`:
    /// `declared` bytes when the request says how long its body is, else a
    /// first step that [`BodyPermit::grow`] extends as the body arrives.
    /// `None` when no room came within the wait.
    pub async fn body_budget(
        &self,
        access_key: &str,
        declared: Option<usize>,
    ) -> Option<BodyPermit> {
        let bytes = declared.unwrap_or(UNDECLARED_STEP).max(1);
        let mut permit = BodyPermit {
            gate: self.shared(),
            key: Arc::from(access_key),
            bytes: 0,
            permits: Vec::new(),
        };
        if !permit.take_key_share(bytes) {
            return None;
        }
        let n = u32::try_from(bytes).unwrap_or(u32::MAX).min(self.max_main);
        let p = match self.body_bytes.clone().try_acquire_many_owned(n) {
            Ok(p) => Some(p),
            Err(_) if declared.is_some_and(|d| d <= SMALL_BODY) => {
                self.small_reserve.clone().try_acquire_many_owned(n).ok()
            }
            Err(_) => None,
        };
        let p = match p {
            Some(p) => p,
            None => tokio::time::timeout(
                self.limits.overload_wait,
                self.body_bytes.clone().acquire_many_owned(n),
            )
            .await
            .ok()?
            .ok()?,
        };
        permit.permits.push(p);
        Some(permit)
    }

    /// Connections being served now.
    #[cfg(test)]
    pub fn connections_in_use(&self) -> usize {
        self.limits.max_connections - self.connections.available_permits()
    }
}

impl BodyPermit {
    /// Count `bytes` more against this permit's access key, if its share
    /// allows.
    fn take_key_share(&mut self, bytes: usize) -> bool {
        let mut shares = self.gate.per_key.lock().unwrap_or_else(|e| e.into_inner());
        let held = shares.entry(self.key.clone()).or_insert(0);
        if *held + bytes > self.gate.per_key_cap {
            if *held == 0 {
                shares.remove(&self.key);
            }
            return false;
        }
        *held += bytes;
        self.bytes += bytes;
        true
    }

    /// Make room for a body that has grown to `len` bytes (no declared
    /// length). `false` when no room came within the wait.
    pub async fn grow(&mut self, len: usize) -> bool {
        if len <= self.bytes {
            return true;
        }
        let more = (len - self.bytes).max(UNDECLARED_STEP);
        if !self.take_key_share(more) {
            return false;
        }
        let n = u32::try_from(more)
            .unwrap_or(u32::MAX)
            .min(self.gate.max_main);
        let got = match self.gate.body_bytes.clone().try_acquire_many_owned(n) {
            Ok(p) => Some(p),
            Err(_) => tokio::time::timeout(
                self.gate.wait,
                self.gate.body_bytes.clone().acquire_many_owned(n),
            )
            .await
            .ok()
            .and_then(Result::ok),
        };
        match got {
            Some(p) => {
                self.permits.push(p);
                true
            }
            None => false,
        }
    }
}

impl Drop for BodyPermit {
    fn drop(&mut self) {
        if self.bytes == 0 {
            return;
        }
        let mut shares = self.gate.per_key.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = shares.get_mut(&self.key) {
            *held = held.saturating_sub(self.bytes);
            if *held == 0 {
                shares.remove(&self.key);
            }
        }
    }
}

/// How long a connection may go without reading or writing a byte while it
/// is open (a client that stops reading its answers, or sends nothing).
pub const STALL_LIMIT: Duration = Duration::from_secs(60);
/// How long a connection may stay open with no request in flight.
pub const IDLE_LIMIT: Duration = Duration::from_secs(30);
/// How often the watchdog looks.
const WATCH_EVERY: Duration = Duration::from_secs(5);

/// What a connection has been doing, for its watchdog.
#[derive(Debug)]
pub struct Activity {
    start: Instant,
    /// Milliseconds since `start` of the last byte read or written.
    last_io: AtomicU64,
    /// Milliseconds since `start` of the last request's start or end.
    last_request: AtomicU64,
    in_flight: AtomicUsize,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            start: Instant::now(),
            last_io: AtomicU64::new(0),
            last_request: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }
}

/// What the watchdog decides about a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Leave it.
    Fine,
    /// No request for [`IDLE_LIMIT`]: finish gracefully.
    Idle,
    /// No byte moved for [`STALL_LIMIT`]: drop it.
    Stalled,
}

impl Activity {
    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A byte was read or written.
    pub fn io(&self) {
        self.last_io.store(self.now(), Ordering::Relaxed);
    }

    /// A request started; the guard marks its end.
    pub fn request(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.last_request.store(self.now(), Ordering::Relaxed);
        RequestGuard(self.clone())
    }

    /// Look at the connection now.
    pub fn verdict(&self) -> Verdict {
        let now = self.now();
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        if now.saturating_sub(self.last_io.load(Ordering::Relaxed)) > ms(STALL_LIMIT) {
            return Verdict::Stalled;
        }
        if self.in_flight.load(Ordering::Relaxed) == 0
            && now.saturating_sub(self.last_request.load(Ordering::Relaxed)) > ms(IDLE_LIMIT)
        {
            return Verdict::Idle;
        }
        Verdict::Fine
    }
}

/// Marks the end of a request when dropped (also when it is cancelled).
#[derive(Debug)]
pub struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.last_request.store(self.0.now(), Ordering::Relaxed);
    }
}

/// Drive a connection future, ending it gracefully (`shutdown`) when it has
/// been idle and dropping it when it has stalled.
pub async fn supervise<F, S>(conn: F, activity: Arc<Activity>, mut shutdown: S)
where
    F: std::future::Future,
    S: FnMut(std::pin::Pin<&mut F>),
{
    tokio::pin!(conn);
    let mut graceful = false;
    loop {
        tokio::select! {
            _ = &mut conn => return,
            _ = tokio::time::sleep(WATCH_EVERY) => match activity.verdict() {
                Verdict::Fine => {}
                Verdict::Idle if !graceful => {
                    graceful = true;
                    shutdown(conn.as_mut());
                }
                // Still open a period after a graceful end was asked for
                // (an HTTP/2 peer that never sent its preface): drop it.
                Verdict::Idle | Verdict::Stalled => return,
            },
        }
    }
}

/// A byte stream that tells its [`Activity`] when bytes move.
#[derive(Debug)]
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    /// Watch `inner`.
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Watched { inner, activity }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Watched<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.io();
        }
        r
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.activity.io();
        }
        r
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.activity.io();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(connections: usize, body: usize) -> Gate {
        Gate::new(Limits {
            max_body_bytes: 1 << 20,
            max_connections: connections,
            max_buffered_body_bytes: body,
            overload_wait: Duration::from_millis(50),
        })
    }

    #[tokio::test]
    async fn connections_past_the_cap_overflow_then_are_refused() {
        let g = gate(2, 100);
        let a = g.admit();
        let _b = g.admit();
        assert!(matches!(a, Admission::Serve(_)));
        assert_eq!(g.connections_in_use(), 2);
        let mut overflow = Vec::new();
        for _ in 0..OVERFLOW_CONNECTIONS {
            let o = g.admit();
            assert!(matches!(o, Admission::Overflow(_)));
            overflow.push(o);
        }
        assert!(matches!(g.admit(), Admission::Refuse));
        // An overflow connection gets the slot a finished one frees...
        assert!(g.wait_for_connection().await.is_none(), "no room yet");
        drop(a);
        assert!(g.wait_for_connection().await.is_some());
    }

    #[tokio::test]
    async fn body_budget_is_shared_reserved_and_released() {
        let mib = 1 << 20;
        // 8 MiB: 7 MiB for anything, 1 MiB for small bodies only.
        let g = gate(10, 8 * mib);
        let keys = ["k1", "k2", "k3", "k4", "k5", "k6", "k7"];
        let mut held = Vec::new();
        for k in keys {
            held.push(g.body_budget(k, Some(mib)).await.unwrap());
        }
        assert!(
            g.body_budget("k8", Some(mib)).await.is_none(),
            "large bodies: over budget"
        );
        // Small bodies still get through, from the reserve, which is inside
        // the configured total...
        let mut reserve = Vec::new();
        for i in 0..16 {
            reserve.push(
                g.body_budget(&format!("s{i}"), Some(SMALL_BODY))
                    .await
                    .unwrap(),
            );
        }
        assert!(
            g.body_budget("s99", Some(SMALL_BODY)).await.is_none(),
            "...until it is spent"
        );
        drop(reserve);
        held.pop();
        assert!(
            g.body_budget("k8", Some(mib)).await.is_some(),
            "released budget is reused"
        );
        held.clear();
        // Larger than the whole budget: admitted alone.
        let huge = g.body_budget("h", Some(100 * mib)).await;
        assert!(huge.is_none(), "over one key's share");
    }

    #[tokio::test]
    async fn one_access_key_cannot_take_the_whole_budget() {
        let mib = 1 << 20;
        let g = gate(10, 16 * mib);
        // A quarter of 16 MiB per key.
        let mut mine = Vec::new();
        for _ in 0..4 {
            mine.push(g.body_budget("known-key-id", Some(mib)).await.unwrap());
        }
        assert!(g.body_budget("known-key-id", Some(mib)).await.is_none());
        assert!(
            g.body_budget("known-key-id", Some(10)).await.is_none(),
            "small ones too"
        );
        assert!(g.body_budget("someone-else", Some(mib)).await.is_some());
        mine.pop();
        assert!(
            g.body_budget("known-key-id", Some(mib)).await.is_some(),
            "share released"
        );
    }

    #[tokio::test]
    async fn undeclared_bodies_reserve_as_they_grow() {
        let g = gate(10, 8 * UNDECLARED_STEP);
        let mut p = g.body_budget("k", None).await.unwrap();
        assert!(p.grow(UNDECLARED_STEP).await, "within the first step");
        assert!(p.grow(2 * UNDECLARED_STEP).await);
        let mut other = g.body_budget("k2", None).await.unwrap();
        // 7 steps in the main pool: 3 taken by p... grow p until it fails.
        let mut len = 2 * UNDECLARED_STEP;
        while p.grow(len + 1).await {
            len = p.bytes;
        }
        assert!(!other.grow(2 * UNDECLARED_STEP).await, "no room left");
        drop(p);
        assert!(other.grow(2 * UNDECLARED_STEP).await);
    }

    #[test]
    fn watchdog_verdicts() {
        let a = Arc::new(Activity::default());
        assert_eq!(a.verdict(), Verdict::Fine);
        // Pretend the connection started long ago.
        let old = Activity {
            start: Instant::now() - Duration::from_secs(100),
            last_io: AtomicU64::new(0),
            last_request: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        };
        assert_eq!(old.verdict(), Verdict::Stalled);
        old.io();
        assert_eq!(old.verdict(), Verdict::Idle, "bytes moved, but no request");
        let old = Arc::new(old);
        let guard = old.request();
        assert_eq!(old.verdict(), Verdict::Fine);
        drop(guard);
        assert_eq!(old.verdict(), Verdict::Fine, "a request just ended");
    }
}
