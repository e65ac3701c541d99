//! Bounds on what the server takes on at once, so that someone who can only
//! reach the port cannot exhaust its memory: a cap on connections and a cap
//! on request-body bytes buffered over all requests.
//!
//! Past a cap, new work waits up to `overload_wait` for room, then is
//! refused with `ThrottlingException` (HTTP 400, "Rate exceeded"), as AWS
//! answers when it sheds load. Work that was admitted is never dropped
//! half-way: a permit is held until its request or connection is done.

use crate::config::Limits;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections beyond the cap that are held briefly (and, if no room comes,
/// answered with `ThrottlingException`) rather than closed at once. Past
/// these too, a new connection is closed without a word.
const OVERFLOW_CONNECTIONS: usize = 256;

/// Bodies up to this size (every KMS request but the largest policies) may
/// also draw on a reserve that larger ones cannot touch, so that a flood of
/// large bodies does not starve ordinary requests.
const SMALL_BODY: usize = 64 * 1024;

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
    body_bytes: Arc<Semaphore>,
    /// An eighth of the body budget, for small bodies only.
    small_reserve: Arc<Semaphore>,
    max_buffered: u32,
    limits: Limits,
}

impl Gate {
    /// Caps from the configuration.
    pub fn new(limits: Limits) -> Gate {
        // Semaphores count in u32 per acquisition; 4 GiB of buffered bodies
        // is beyond any sensible setting.
        let max_buffered = u32::try_from(limits.max_buffered_body_bytes).unwrap_or(u32::MAX);
        Gate {
            connections: Arc::new(Semaphore::new(limits.max_connections)),
            overflow: Arc::new(Semaphore::new(OVERFLOW_CONNECTIONS)),
            body_bytes: Arc::new(Semaphore::new(max_buffered as usize)),
            small_reserve: Arc::new(Semaphore::new((max_buffered as usize / 8).max(SMALL_BODY))),
            max_buffered,
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

    /// Room to buffer a body of `bytes` bytes, held until the permit is
    /// dropped. `None` when no room came within the wait.
    pub async fn body_budget(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        // A body larger than the whole budget may still be read, alone.
        let n = u32::try_from(bytes)
            .unwrap_or(u32::MAX)
            .clamp(1, self.max_buffered);
        if let Ok(p) = self.body_bytes.clone().try_acquire_many_owned(n) {
            return Some(p);
        }
        if bytes <= SMALL_BODY {
            if let Ok(p) = self.small_reserve.clone().try_acquire_many_owned(n) {
                return Some(p);
            }
        }
        tokio::time::timeout(
            self.limits.overload_wait,
            self.body_bytes.clone().acquire_many_owned(n),
        )
        .await
        .ok()?
        .ok()
    }

    /// Connections being served now.
    #[cfg(test)]
    pub fn connections_in_use(&self) -> usize {
        self.limits.max_connections - self.connections.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
    async fn body_budget_is_shared_and_released() {
        let mib = 1 << 20;
        let g = gate(10, 8 * mib);
        let held: Vec<_> = (0..7).map(|_| g.body_budget(mib)).collect();
        let mut held = futures_lite(held).await;
        assert!(held.iter().all(Option::is_some));
        let eighth = g.body_budget(mib).await.unwrap();
        assert!(
            g.body_budget(mib).await.is_none(),
            "large bodies: over budget"
        );
        // Small bodies still get through, from the reserve...
        let reserve: Vec<_> = (0..16).map(|_| g.body_budget(SMALL_BODY)).collect();
        let reserve = futures_lite(reserve).await;
        assert!(reserve.iter().all(Option::is_some));
        assert!(
            g.body_budget(SMALL_BODY).await.is_none(),
            "...until it is spent"
        );
        drop(reserve);
        drop(eighth);
        assert!(
            g.body_budget(mib).await.is_some(),
            "released budget is reused"
        );
        held.clear();
        // Larger than the whole budget: admitted alone.
        let huge = g.body_budget(100 * mib).await.unwrap();
        assert!(g.body_budget(mib).await.is_none());
        drop(huge);
        assert!(g.body_budget(mib).await.is_some());
    }

    async fn futures_lite<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
        let mut out = Vec::new();
        for f in fs {
            out.push(f.await);
        }
        out
    }
}
