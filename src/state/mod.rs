//! Shared state: one-time use (replay protection) and request counting
//! (rate limits). `memory` keeps it in this process; `redis` shares it
//! between replicas. Both have the same semantics, checked by the same
//! tests against each backend.
//!
//! Each operation runs in a `state_store` span (its `op` only, never a
//! key: keys hold `jti`s and addresses), and a failure is counted in
//! `zenbridge_state_store_errors_total`.

pub mod memory;
pub mod redis;

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("the state store is unavailable: {0}")]
pub struct StateError(pub String);

/// What [`Store::first_use`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstUse {
    /// Not used before: recorded now.
    Yes,
    /// Recorded as used: a second use.
    Again,
    /// Issued before the store's records begin: they were lost since (a
    /// restart of the `memory` store's process; a Redis restarted without
    /// its append-only file, flushed, or evicting), so whether it was
    /// used cannot be told. Refused like a second use.
    Forgotten,
}

/// A hit counted in a window: the count so far, and how long until the
/// window ends (a new one starts with the next hit after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub count: u64,
    pub resets_in: Duration,
}

/// Counts a failed operation (`zenbridge_state_store_errors_total`).
fn counted<T>(result: Result<T, StateError>) -> Result<T, StateError> {
    if result.is_err() {
        crate::metrics::state_store_error();
    }
    result
}

#[derive(Clone)]
pub enum Store {
    Memory(memory::MemoryStore),
    Redis(redis::RedisStore),
}

impl Store {
    /// Records `key`, issued at `issued_at` (Unix seconds), for `ttl`:
    /// [`FirstUse::Yes`] the first time, [`FirstUse::Again`] while it is
    /// held, [`FirstUse::Forgotten`] when it was issued before the store's
    /// records begin (to the second).
    #[tracing::instrument(
        target = "zenbridge::span",
        name = "state_store",
        skip_all,
        fields(op = "first_use")
    )]
    pub async fn first_use(
        &self,
        key: &str,
        ttl: Duration,
        issued_at: i64,
    ) -> Result<FirstUse, StateError> {
        match self {
            Store::Memory(m) => Ok(m.first_use(key, ttl, issued_at).await),
            Store::Redis(r) => counted(r.first_use(key, ttl, issued_at).await),
        }
    }

    /// Counts a hit in the fixed window that started with the first hit;
    /// returns the count so far and the time left in the window.
    #[tracing::instrument(
        target = "zenbridge::span",
        name = "state_store",
        skip_all,
        fields(op = "hit")
    )]
    pub async fn hit(&self, key: &str, window: Duration) -> Result<Hit, StateError> {
        match self {
            Store::Memory(m) => Ok(m.hit(key, window).await),
            Store::Redis(r) => counted(r.hit(key, window).await),
        }
    }

    /// The count of a window [`Store::hit`] keeps, without counting; 0
    /// when there is none.
    #[tracing::instrument(
        target = "zenbridge::span",
        name = "state_store",
        skip_all,
        fields(op = "peek")
    )]
    pub async fn peek(&self, key: &str) -> Result<u64, StateError> {
        match self {
            Store::Memory(m) => Ok(m.peek(key).await),
            Store::Redis(r) => counted(r.peek(key).await),
        }
    }

    #[tracing::instrument(
        target = "zenbridge::span",
        name = "state_store",
        skip_all,
        fields(op = "ping")
    )]
    pub async fn ping(&self) -> Result<(), StateError> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::Redis(r) => counted(r.ping().await),
        }
    }
}
