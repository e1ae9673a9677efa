//! In-process state: moka caches with a per-entry expiry.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Hit;

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
    cache: moka::future::Cache<String, Held>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            cache: moka::future::Cache::builder()
                .max_capacity(1_000_000)
                .expire_after(HeldExpiry)
                .build(),
        }
    }
}

impl MemoryStore {
    pub async fn first_use(&self, key: &str, ttl: Duration) -> bool {
        let entry = self
            .cache
            .entry(key.to_owned())
            .or_insert_with(async {
                Held {
                    ttl,
                    started: Instant::now(),
                    count: Arc::new(AtomicU64::new(1)),
                }
            })
            .await;
        entry.is_fresh()
    }

    pub async fn peek(&self, key: &str) -> u64 {
        self.cache
            .get(key)
            .await
            .map_or(0, |h| h.count.load(Ordering::Relaxed))
    }

    pub async fn hit(&self, key: &str, window: Duration) -> Hit {
        let entry = self
            .cache
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
