//! Work done without a request: destroying keys whose waiting period has
//! ended, automatic rotation, and flushing last-use records.
//!
//! Time comes from the service's [`trent_core::Clock`], so tests move the
//! clock and call [`Kms::sweep`] instead of waiting. Every change is a
//! compare-and-swap on the key's revision: if two nodes (or a node and a
//! request) race, one wins and the other finds the key no longer due.

use crate::{InternalError, Kms, ServiceError};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use trent_store::StoreError;

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Keys destroyed.
    pub deleted: usize,
    /// Keys rotated.
    pub rotated: usize,
    /// Keys whose imported material expired (and was deleted).
    pub expired: usize,
    /// Keys that were due but could not be handled (logged one by one; tried
    /// again at the next sweep).
    pub failed: usize,
}

/// Keys handled per store query.
const BATCH: usize = 500;
/// Store queries per sweep at most (a backlog is finished next time).
const MAX_BATCHES: usize = 200;

/// What happened to one due key.
enum Outcome {
    Deleted,
    Rotated,
    Expired,
    /// An `Updating` key back in its state.
    Finished,
    /// Not due any more, gone, or changed by someone else meanwhile.
    Nothing,
}

impl Kms {
    /// Destroy every key whose deletion date has passed and rotate every key
    /// whose automatic rotation is due.
    ///
    /// A key that cannot be handled (a corrupt record, material that does
    /// not unwrap, a store error on that key) is logged, counted and skipped:
    /// one bad record must not hold back every other deletion and rotation.
    /// Only a failure to list the due keys ends the sweep with an error.
    ///
    /// Destroyed means gone from the store's files too: after a sweep that
    /// destroyed a key, and at the first sweep after a start (a crash may
    /// have come between a deletion and its purge), the store purges; a
    /// purge that fails is tried again at every sweep until it succeeds.
    pub async fn sweep(&self) -> Result<SweepReport, ServiceError> {
        let result = self.sweep_due().await;
        if self.purge_pending.load(Ordering::Acquire) {
            match self.store.purge().await {
                Ok(()) => self.purge_pending.store(false, Ordering::Release),
                Err(e) => {
                    tracing::error!(error = ?e, "purging deleted records from the store's files failed; trying again at the next sweep")
                }
            }
        }
        result
    }

    async fn sweep_due(&self) -> Result<SweepReport, ServiceError> {
        let now = self.clock.now();
        let mut report = SweepReport::default();
        if !self.trail.healthy() {
            // Nothing is changed that could not be recorded; due keys stay
            // due and are handled at a later sweep.
            tracing::warn!("audit trail not writable: deletions and rotations wait");
            return Ok(report);
        }
        let mut failed = std::collections::HashSet::new();
        for _ in 0..MAX_BATCHES {
            // Failed keys stay due, and due keys come oldest first: ask for
            // enough to see a full batch past them.
            let due = self.store.due_keys(now, BATCH + failed.len()).await?;
            let fresh: Vec<_> = due.iter().filter(|l| !failed.contains(*l)).collect();
            let mut progressed = 0;
            for loc in &fresh {
                match self.sweep_key(loc, now).await {
                    Ok(Outcome::Deleted) => {
                        self.purge_pending.store(true, Ordering::Release);
                        report.deleted += 1;
                        progressed += 1;
                    }
                    Ok(Outcome::Rotated) => {
                        report.rotated += 1;
                        progressed += 1;
                    }
                    Ok(Outcome::Finished) => progressed += 1,
                    Ok(Outcome::Expired) => {
                        // The old wrapped material leaves the store's files
                        // too (as for a deleted key).
                        self.purge_pending.store(true, Ordering::Release);
                        report.expired += 1;
                        progressed += 1;
                    }
                    Ok(Outcome::Nothing) => {}
                    Err(e) => {
                        tracing::error!(key = %loc.arn(), error = ?e, "background sweep could not handle a due key; skipping it");
                        report.failed += 1;
                        failed.insert((*loc).clone());
                    }
                }
            }
            if fresh.len() < BATCH || progressed == 0 {
                break;
            }
        }
        Ok(report)
    }

    async fn sweep_key(
        &self,
        loc: &trent_core::ids::KeyLocator,
        now: trent_core::Millis,
    ) -> Result<Outcome, ServiceError> {
        let Some(rec) = self.store.get_key(loc).await? else {
            return Ok(Outcome::Nothing);
        };
        if let Some(next) = rec.finish_updating() {
            return match self.store.update_key(&next).await {
                Ok(()) => {
                    self.cache.invalidate(loc);
                    Ok(Outcome::Finished)
                }
                Err(StoreError::Conflict | StoreError::NotFound) => Ok(Outcome::Nothing),
                Err(e) => Err(e.into()),
            };
        }
        if rec.deletion_due(now) && rec.has_replicas() {
            // Cannot happen through the API (such a key waits in
            // PendingReplicaDeletion); refuse rather than orphan replicas.
            tracing::error!(key = %loc.arn(), "a multi-Region primary key with replicas is due for deletion; not deleting it");
            return Ok(Outcome::Nothing);
        }
        if rec.deletion_due(now) {
            // A multi-Region key leaves its set: the other keys forget its
            // Region in the same transaction (and a primary waiting for its
            // last replica starts its own waiting period).
            let mut writes = vec![trent_store::KeyWrite::Delete(loc.clone(), rec.revision)];
            for other in rec.related() {
                if let Some(o) = self.store.get_key(&other).await? {
                    writes.push(trent_store::KeyWrite::Update(
                        o.without_replica(&loc.region, now),
                    ));
                }
            }
            let result = if writes.len() == 1 {
                self.store.delete_key(loc, rec.revision).await
            } else {
                self.store.write_keys(&writes).await
            };
            return match result {
                Ok(()) => {
                    for other in rec.related() {
                        self.cache.invalidate(&other);
                    }
                    self.cache.invalidate(loc);
                    self.cache.invalidate_aliases_of(loc);
                    tracing::info!(key = %loc.arn(), "key deleted at the end of its waiting period");
                    self.record_service_event(loc, "DeleteKey", None).await;
                    Ok(Outcome::Deleted)
                }
                Err(StoreError::Conflict | StoreError::NotFound) => Ok(Outcome::Nothing),
                Err(e) => Err(e.into()),
            };
        }
        if let Some((next, ids)) = rec.expire(now) {
            return match self.store.update_key(&next).await {
                Ok(()) => {
                    self.cache.invalidate(loc);
                    tracing::info!(key = %loc.arn(), materials = ?ids, "imported key material expired and was deleted");
                    for id in ids {
                        let details = serde_json::json!({ "keyMaterialId": id });
                        self.record_service_event(loc, "DeleteExpiredKeyMaterial", Some(details))
                            .await;
                    }
                    Ok(Outcome::Expired)
                }
                Err(StoreError::Conflict | StoreError::NotFound) => Ok(Outcome::Nothing),
                Err(e) => Err(e.into()),
            };
        }
        if !rec.rotation_due(now) {
            return Ok(Outcome::Nothing);
        }
        let Some(previous_material) = rec.current().map(|v| v.material_id.clone()) else {
            return Ok(Outcome::Nothing);
        };
        let (material_id, wrapped) = self.new_material(loc, rec.next_version_number())?;
        let next = rec.rotate(
            now,
            trent_proto::RotationType::Automatic,
            material_id,
            wrapped,
        )?;
        match self.commit(&rec, &next).await? {
            Ok(()) => {
                let current = next.current().map(|v| (v.number, v.material_id.clone()));
                tracing::info!(key = %loc.arn(), version = ?current.as_ref().map(|c| c.0), "key rotated automatically");
                let details = serde_json::json!({
                    "rotationType": "AUTOMATIC",
                    "keyOrigin": trent_proto::ModelEnum::as_str(next.origin),
                    "previousKeyMaterialId": previous_material,
                    "currentKeyMaterialId": current.map(|c| c.1),
                });
                self.record_service_event(loc, "RotateKey", Some(details))
                    .await;
                Ok(Outcome::Rotated)
            }
            Err(StoreError::Conflict | StoreError::NotFound) => Ok(Outcome::Nothing),
            Err(e) => Err(e.into()),
        }
    }

    /// Record a service event for work already done: a failure cannot undo
    /// it, so it is logged (with what the event would have said) and the
    /// trail reports itself unhealthy, which refuses further changes until
    /// it can write again.
    async fn record_service_event(
        &self,
        loc: &trent_core::ids::KeyLocator,
        name: &str,
        details: Option<serde_json::Value>,
    ) {
        if let Err(e) = self.service_event(loc, name, details).await {
            tracing::error!(key = %loc.arn(), event = name, error = %e, "audit: the service event could not be recorded");
        }
    }

    /// Write pending last-use records to the store, in key order and in
    /// chunks: each chunk is one transaction, so the store's connection is
    /// never held for long (a key load waits at most one chunk), and only a
    /// chunk at a time is copied.
    pub async fn flush_usage(&self) -> Result<(), ServiceError> {
        const CHUNK: usize = 2048;
        let started = std::time::Instant::now();
        let usage = self.usage.clone();
        // Draining and sorting 100,000 records takes tens of milliseconds:
        // not on a request worker.
        let mut pending = tokio::task::spawn_blocking(move || {
            let mut pending = usage.drain();
            pending.sort_unstable_by(|a, b| a.locator.cmp(&b.locator));
            pending
        })
        .await
        .map_err(|e| ServiceError::Internal(InternalError::Task(e)))?;
        if pending.is_empty() {
            return Ok(());
        }
        let total = pending.len();
        let mut written = 0;
        while written < total {
            let end = (written + CHUNK).min(total);
            if let Err(e) = self.store.record_usage(&pending[written..end]).await {
                self.usage.restore(pending.split_off(written));
                return Err(e.into());
            }
            written = end;
        }
        tracing::debug!(
            records = total,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "last-use records flushed"
        );
        Ok(())
    }
}

/// The lease of the background work that runs once across the nodes
/// sharing a store.
pub const LEASE: &str = "background-sweep";

/// Run [`Kms::sweep`] and [`Kms::flush_usage`] every `interval` until the
/// returned handle is aborted.
///
/// The sweep (deletions, rotations, expiry of imported material, the end of
/// `Updating`) runs once across the nodes sharing a store: only on the
/// holder of [`LEASE`], which it renews at each tick for three intervals.
/// When the holder dies, another node takes the lease within three
/// intervals. Two sweeps at once would still be safe (every change is a
/// compare-and-swap), only wasteful. Each node flushes its own last-use
/// records.
pub fn spawn(kms: Arc<Kms>, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut held = false;
        loop {
            tick.tick().await;
            match kms.store.lease(LEASE, &kms.holder, interval * 3).await {
                Ok(true) => {
                    if !held {
                        tracing::info!(holder = %kms.holder, "this node holds the background lease: it runs the deletions, rotations and expiries of every node");
                    }
                    held = true;
                    match kms.sweep().await {
                        Ok(r) if r != SweepReport::default() => tracing::info!(
                            deleted = r.deleted,
                            rotated = r.rotated,
                            expired = r.expired,
                            failed = r.failed,
                            "background sweep"
                        ),
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = ?e, "background sweep failed"),
                    }
                }
                Ok(false) => {
                    if held {
                        tracing::warn!(holder = %kms.holder, "another node holds the background lease now");
                    }
                    held = false;
                }
                Err(e) => {
                    held = false;
                    tracing::error!(error = ?e, "cannot take or renew the background lease; skipping this sweep");
                }
            }
            if let Err(e) = kms.flush_usage().await {
                tracing::error!(error = ?e, "flushing key usage failed");
            }
        }
    })
}
