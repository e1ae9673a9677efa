//! In-process state: moka caches with a per-entry expiry. One-time
//! records and rate-limit counters are kept apart: counters are bounded
//! (a flood of client addresses evicts counters, never a record), and the
//! records begin when the process starts; anything issued before is
//! [`FirstUse::Forgotten`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{FirstUse, Hit};

#[derive(Clone)]
struct Held {
    ttl: Duration,
    /// When the entry (a rate-limit window) started.
    started: Instant,
    count: Arc<AtomicU64>,
}

struct HeldExpiry;

impl moka::Expiry<String, Held> for HeldExpiry {
    fn expire_after_create(&self, _k: &String, v: &Held, _now: Instant) -> Option<Duration> {
        Some(v.ttl)
    }
}

#[derive(Clone)]
pub struct MemoryStore {
    /// One-time records: unbounded, as only a verified token or a sealed
    /// sign-in makes one, each for its TTL.
    once: moka::future::Cache<String, Held>,
    /// Rate-limit counters, bounded.
    counters: moka::future::Cache<String, Held>,
    /// When the records begin (Unix seconds).
    began: i64,
}

impl Default for MemoryStore {
    /// Records that begin now.
    fn default() -> Self {
        Self::since(crate::source::now())
    }
}

impl MemoryStore {
    /// A store whose records begin at `began` (Unix seconds).
    pub fn since(began: i64) -> Self {
        Self {
            once: moka::future::Cache::builder()
                .expire_after(HeldExpiry)
                .build(),
            counters: moka::future::Cache::builder()
                .max_capacity(1_000_000)
                .expire_after(HeldExpiry)
                .build(),
            began,
        }
    }

    pub async fn first_use(&self, key: &str, ttl: Duration, issued_at: i64) -> FirstUse {
        if issued_at < self.began {
            return FirstUse::Forgotten;
        }
        let entry = self
            .once
            .entry(key.to_owned())
            .or_insert_with(async {
                Held {
                    ttl,
                    started: Instant::now(),
                    count: Arc::new(AtomicU64::new(1)),
                }
            })
            .await;
        if entry.is_fresh() {
            FirstUse::Yes
        } else {
            FirstUse::Again
        }
    }

    pub async fn peek(&self, key: &str) -> u64 {
        self.counters
            .get(key)
            .await
            .map_or(0, |h| h.count.load(Ordering::Relaxed))
    }

    pub async fn hit(&self, key: &str, window: Duration) -> Hit {
        let entry = self
            .counters
            .entry(key.to_owned())
            .or_insert_with(async {
                Held {
                    ttl: window,
                    started: Instant::now(),
                    count: Arc::new(AtomicU64::new(0)),
                }
            })
            .await;
        let held = entry.value();
        Hit {
            count: held.count.fetch_add(1, Ordering::Relaxed) + 1,
            resets_in: held.ttl.saturating_sub(held.started.elapsed()),
        }
    }
}
