//! The crypto pool: a fixed set of threads, one per core, that run the
//! expensive private-key operations (RSA, ML-DSA: hundreds of microseconds
//! to milliseconds each) so that they never occupy the async workers that
//! answer the cheap requests.
//!
//! Why not `spawn_blocking` behind a semaphore (the first version): each
//! finished job then had to wake an async worker, which woke the next
//! waiting request, which handed its job to a blocking thread: a core sat
//! idle for each hand-off, and RSA-2048 Sign reached about half the raw
//! two-core rate. Here a thread that finishes takes the next queued job at
//! once; the async side only waits on a one-shot channel.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// Jobs admitted to the queue per thread. More requests than that wait
/// (as futures, dropped if their client goes away) rather than queueing
/// work nobody may collect.
const QUEUED_PER_THREAD: usize = 8;

/// The pool. Its threads end when it is dropped.
#[derive(Debug)]
pub(crate) struct CryptoPool {
    jobs: mpsc::Sender<Job>,
    admitted: tokio::sync::Semaphore,
}

/// The pool is gone or a job panicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the crypto pool could not run the job")]
pub struct PoolError;

impl CryptoPool {
    /// A pool of `threads` threads.
    pub(crate) fn new(threads: usize) -> CryptoPool {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("trent-crypto-{i}"))
                .spawn(move || loop {
                    // The lock is held only while waiting for the next job.
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match next {
                        // A panicking job loses its answer (the caller gets
                        // PoolError), not the thread.
                        Ok(job) => drop(catch_unwind(AssertUnwindSafe(job))),
                        Err(_) => return,
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a crypto pool thread");
            }
        }
        CryptoPool {
            jobs,
            admitted: tokio::sync::Semaphore::new(threads.max(1) * QUEUED_PER_THREAD),
        }
    }

    /// Run `f` on the pool and wait for its result without blocking the
    /// async worker.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        // Held until the answer is back (or the caller gone): at most
        // QUEUED_PER_THREAD jobs per thread are queued or running.
        let _permit = self.admitted.acquire().await.map_err(|_| PoolError)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                // The request was abandoned (client gone, future dropped)
                // while the job waited: do not spend the CPU.
                if tx.is_closed() {
                    return;
                }
                let _ = tx.send(f());
            }))
            .map_err(|_| PoolError)?;
        rx.await.map_err(|_| PoolError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_and_survives_a_panic() {
        let pool = CryptoPool::new(2);
        assert_eq!(pool.run(|| 6 * 7).await, Ok(42));
        assert_eq!(pool.run(|| -> u8 { panic!("boom") }).await, Err(PoolError));
        let name = pool
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("trent-crypto-"));
    }

    #[tokio::test]
    async fn an_abandoned_job_is_not_run() {
        let pool = CryptoPool::new(1);
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Occupy the only thread until told to go on.
        let busy = pool.run(move || hold_rx.recv().ok());
        let ran2 = ran.clone();
        let abandoned = pool.run(move || ran2.store(true, std::sync::atomic::Ordering::SeqCst));
        let (busy, ()) = tokio::join!(busy, async {
            // Queue the second job, then drop its future before the
            // thread is free.
            tokio::select! {
                _ = abandoned => unreachable!("the thread is busy"),
                _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
            }
            hold_tx.send(()).unwrap();
        });
        assert_eq!(busy, Ok(Some(())));
        // A job queued after the abandoned one runs: the thread went past it.
        assert_eq!(pool.run(|| 1).await, Ok(1));
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }
}
