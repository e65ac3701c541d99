//! Last-use tracking (GetKeyLastUsage) kept off the hot path: uses are noted
//! in memory and flushed to the store by the background task, so Encrypt
//! does not write to the database. A crash loses at most one flush interval
//! of last-use times, never a key or a ciphertext.

use foldhash::HashMap;
use std::sync::Mutex;
use trent_core::ids::KeyLocator;
use trent_core::Millis;
use trent_proto::KeyLastUsageTrackingOperation;
use trent_store::UsageRecord;

/// Pending last-use records.
#[derive(Debug, Default)]
pub struct UsageTracker {
    pending: Mutex<HashMap<KeyLocator, UsageRecord>>,
}

impl UsageTracker {
    /// Note a successful use.
    pub fn record(
        &self,
        loc: &KeyLocator,
        operation: KeyLastUsageTrackingOperation,
        at: Millis,
        request_id: &str,
        event_id: &str,
    ) {
        let mut g = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match g.get_mut(loc) {
            Some(u) if u.at <= at => {
                u.operation = operation;
                u.at = at;
                u.request_id.clear();
                u.request_id.push_str(request_id);
                u.event_id.clear();
                u.event_id.push_str(event_id);
            }
            Some(_) => {}
            None => {
                g.insert(
                    loc.clone(),
                    UsageRecord {
                        locator: loc.clone(),
                        operation,
                        at,
                        request_id: request_id.to_string(),
                        event_id: event_id.to_string(),
                    },
                );
            }
        }
    }

    /// The pending record of a key, if any.
    pub fn peek(&self, loc: &KeyLocator) -> Option<UsageRecord> {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(loc)
            .cloned()
    }

    /// Take everything pending.
    pub fn drain(&self) -> Vec<UsageRecord> {
        let mut g = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        g.drain().map(|(_, v)| v).collect()
    }

    /// Put back records whose flush failed (newer ones win).
    pub fn restore(&self, records: Vec<UsageRecord>) {
        for r in records {
            self.record(&r.locator, r.operation, r.at, &r.request_id, &r.event_id);
        }
    }
}
