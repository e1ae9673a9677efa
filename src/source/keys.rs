//! Key sets and the shared key cache.
//!
//! A [`KeySet`] holds the verification keys of one source, by `kid`. Keys
//! fetched over HTTP live in one [`moka`] cache shared by every source, with
//! an expiry per entry taken from the response's `Cache-Control: max-age`
//! (clamped to 1 minute – 1 day; 1 hour without the header). What the cache
//! promises, per source:
//! - concurrent misses are coalesced into one fetch (moka's `try_get_with`);
//! - an unknown `kid` forces at most one refetch per `key_refresh_interval`
//!   (default one minute); requests with unknown kids that arrive while it
//!   runs wait for it, requests with known kids never do (the current keys
//!   stay in the cache until the refetch has an answer);
//! - expired keys are refreshed in the background while the last good
//!   keys answer (stale-while-revalidate): a slow or hanging provider
//!   never delays a request whose key is known;
//! - when a fetch fails, the last good keys keep serving (re-inserted for
//!   one refresh interval, so a down provider is not hammered and requests
//!   are not slowed by failing fetches);
//! - when a fetch fails and there are no last good keys (a provider never
//!   reached), the failure is remembered for one refresh interval: requests
//!   in that time are refused with its reason and fetch nothing;
//! - [`Keys::status`] tells whether keys are at hand without fetching (for
//!   `/readyz`);
//! - logs name a source's keys by [`Keys::label`], whose URL is redacted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use tracing::Instrument;

mod key;
pub use key::{Family, Key};

/// The keys of one source.
#[derive(Debug, Default)]
pub struct KeySet {
    by_kid: HashMap<String, Arc<Key>>,
    /// Keys without a `kid` (a PEM file, a shared secret, a JWK without kid).
    unnamed: Vec<Arc<Key>>,
    /// How long a fetched set may be used before it is fetched again.
    pub max_age: Option<Duration>,
    /// Keys in the document that could not be used, for `check --online`.
    pub skipped: Vec<String>,
}

impl KeySet {
    pub fn len(&self) -> usize {
        self.by_kid.len() + self.unnamed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn kids(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.by_kid.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// The key for a token's `kid`. A token without `kid` matches only when
    /// the set has exactly one key; a set of unnamed keys (static keys)
    /// serves any `kid`.
    pub fn find(&self, kid: Option<&str>) -> Option<&Arc<Key>> {
        match kid {
            Some(k) => self.by_kid.get(k).or_else(|| self.only_unnamed()),
            None if self.len() == 1 => self.by_kid.values().next().or(self.unnamed.first()),
            None => self.only_unnamed(),
        }
    }

    fn only_unnamed(&self) -> Option<&Arc<Key>> {
        if self.by_kid.is_empty() && self.unnamed.len() == 1 {
            self.unnamed.first()
        } else {
            None
        }
    }

    pub fn insert(&mut self, key: Key) {
        let key = Arc::new(key);
        match &key.kid {
            Some(k) => {
                self.by_kid.insert(k.clone(), key);
            }
            None => self.unnamed.push(key),
        }
    }

    pub fn from_secret(secret: &[u8]) -> Self {
        let mut s = KeySet::default();
        s.insert(Key::new(
            None,
            DecodingKey::from_secret(secret),
            None,
            Family::Hmac,
        ));
        s
    }

    /// A JWKS document. Keys marked `"use": "enc"`, symmetric keys (`oct`)
    /// and key types we cannot verify with are skipped and listed in
    /// [`KeySet::skipped`]; a document with no usable key is an error.
    pub fn from_jwks_json(bytes: &[u8]) -> Result<Self, String> {
        let set: JwkSet =
            serde_json::from_slice(bytes).map_err(|e| format!("not a JWKS document ({e})"))?;
        let mut out = KeySet::default();
        for (i, jwk) in set.keys.iter().enumerate() {
            let label = jwk.common.key_id.clone().unwrap_or_else(|| format!("#{i}"));
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                out.skipped.push(format!("{label}: an encryption key"));
                continue;
            }
            let family = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Family::Rsa,
                AlgorithmParameters::EllipticCurve(_) => Family::Ec,
                AlgorithmParameters::OctetKeyPair(_) => Family::Ed,
                AlgorithmParameters::OctetKey(_) => {
                    out.skipped
                        .push(format!("{label}: a symmetric key in a public key set"));
                    continue;
                }
                _ => {
                    out.skipped
                        .push(format!("{label}: an unsupported key type"));
                    continue;
                }
            };
            let alg = match jwk.common.key_algorithm {
                None => None,
                Some(a) => match jws_alg(a) {
                    Some(a) => Some(a),
                    None => {
                        out.skipped.push(format!(
                            "{label}: algorithm {a:?} is not a signature algorithm"
                        ));
                        continue;
                    }
                },
            };
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => out.insert(Key::new(jwk.common.key_id.clone(), key, alg, family)),
                Err(e) => out.skipped.push(format!("{label}: {e}")),
            }
        }
        if out.is_empty() {
            return Err(format!(
                "the key set has no usable signing key ({})",
                out.skipped.join("; ")
            ));
        }
        Ok(out)
    }

    /// Firebase's certificate map `{ "kid": "-----BEGIN CERTIFICATE-----…" }`,
    /// or a JWKS document (the same keys at Google's JWKS URL).
    pub fn from_firebase_json(bytes: &[u8]) -> Result<Self, String> {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not JSON ({e})"))?;
        if v.get("keys").is_some_and(serde_json::Value::is_array) {
            return Self::from_jwks_json(bytes);
        }
        let serde_json::Value::Object(map) = v else {
            return Err("neither a certificate map nor a JWKS document".into());
        };
        let mut out = KeySet::default();
        for (kid, pem) in map {
            let Some(pem) = pem.as_str() else {
                out.skipped.push(format!("{kid}: not a PEM string"));
                continue;
            };
            match DecodingKey::from_rsa_pem(pem.as_bytes()) {
                Ok(key) => out.insert(Key::new(
                    Some(kid),
                    key,
                    Some(Algorithm::RS256),
                    Family::Rsa,
                )),
                Err(e) => out.skipped.push(format!("{kid}: {e}")),
            }
        }
        if out.is_empty() {
            return Err(format!(
                "the certificate map has no usable key ({})",
                out.skipped.join("; ")
            ));
        }
        Ok(out)
    }

    /// A PEM public key (RSA or EC, PKCS#1 or SPKI) or an X.509 certificate.
    pub fn from_pem(bytes: &[u8]) -> Result<Self, String> {
        let mut out = KeySet::default();
        let (key, family) = if let Ok(k) = DecodingKey::from_rsa_pem(bytes) {
            (k, Family::Rsa)
        } else if let Ok(k) = DecodingKey::from_ec_pem(bytes) {
            (k, Family::Ec)
        } else if let Ok(k) = DecodingKey::from_ed_pem(bytes) {
            (k, Family::Ed)
        } else {
            return Err("not a PEM RSA, EC or Ed25519 public key or certificate".into());
        };
        out.insert(Key::new(None, key, None, family));
        Ok(out)
    }
}

fn jws_alg(a: KeyAlgorithm) -> Option<Algorithm> {
    Some(match a {
        KeyAlgorithm::HS256 => Algorithm::HS256,
        KeyAlgorithm::HS384 => Algorithm::HS384,
        KeyAlgorithm::HS512 => Algorithm::HS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// How a source gets its keys.
pub trait Fetch: Send + Sync {
    /// Fetches the current key set. The error is a sentence for logs and
    /// `check --online`; it never reaches a client.
    fn fetch(&self) -> futures_util::future::BoxFuture<'_, Result<KeySet, String>>;
}

/// Parses `Cache-Control: max-age=N` into a clamped duration.
pub fn max_age(headers: &reqwest::header::HeaderMap) -> Duration {
    let secs = headers
        .get_all(reqwest::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|d| {
            d.trim()
                .strip_prefix("max-age=")
                .and_then(|n| n.trim().parse::<u64>().ok())
        });
    Duration::from_secs(secs.unwrap_or(3600).clamp(60, 86_400))
}

#[derive(Clone)]
struct Entry {
    keys: Arc<KeySet>,
    ttl: Duration,
}

struct EntryExpiry;

impl moka::Expiry<Arc<str>, Entry> for EntryExpiry {
    fn expire_after_create(
        &self,
        _key: &Arc<str>,
        value: &Entry,
        _now: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The one key cache, shared by every source and kept across reloads.
#[derive(Clone)]
pub struct KeyCache {
    cache: moka::future::Cache<Arc<str>, Entry>,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self {
            cache: moka::future::Cache::builder()
                .max_capacity(10_000)
                .expire_after(EntryExpiry)
                .build(),
        }
    }
}

/// Why no keys could be had.
#[derive(Debug, Clone)]
pub struct Unavailable(pub String);

/// What a source's keys are like now, read without fetching (`/readyz`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStatus {
    /// Keys are at hand: static ones, or fetched ones whose last fetch
    /// succeeded.
    Ready,
    /// Keys are at hand, but they are the last good ones: the last fetch
    /// failed for this reason. Tokens signed with them keep verifying; a
    /// key the provider rotated in since is not found until it answers.
    Stale(String),
    /// No keys yet, and the last fetch failed for this reason.
    Failing(String),
    /// No fetch has finished yet.
    NotFetched,
}

/// The keys of one source: fetched ones through the shared cache, static
/// ones held directly.
pub struct Keys {
    /// Cache key: the source name and everything that decides its keys, so
    /// a reload that changes a source's URL does not reuse its old keys.
    /// It may hold credentials, so it is never printed: see `label`.
    id: Arc<str>,
    /// `id` with its URL redacted, for logs.
    label: Arc<str>,
    inner: KeysInner,
}

enum KeysInner {
    Static(Arc<KeySet>),
    Fetched(Arc<Fetched>),
}

struct Fetched {
    fetcher: Arc<dyn Fetch>,
    cache: KeyCache,
    refresh_interval: Duration,
    last_forced: Mutex<Option<Instant>>,
    /// Held while a refetch for an unknown `kid` runs: tokens with other
    /// unknown kids wait for it here, tokens with known kids never do.
    refreshing: tokio::sync::Mutex<()>,
    /// A background refresh of expired keys is running.
    revalidating: std::sync::atomic::AtomicBool,
    last_good: RwLock<Option<Arc<KeySet>>>,
    /// The last failed fetch (when, why); cleared by a good one.
    last_failure: RwLock<Option<(Instant, String)>>,
    fetches: AtomicU64,
}

impl Fetched {
    /// Fetches the keys now: a good answer becomes the last good keys; a
    /// failure is remembered, and the last good keys (if any) stand in for
    /// one refresh interval.
    async fn fetch_now(&self, label: &str) -> Result<Entry, String> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let fetched = self
            .fetcher
            .fetch()
            .instrument(tracing::info_span!(
                target: crate::telemetry::SPAN_TARGET,
                "key_fetch",
                keys = %label
            ))
            .await;
        match fetched {
            Ok(keys) => {
                let keys = Arc::new(keys);
                *self.last_good.write().expect("lock") = Some(keys.clone());
                *self.last_failure.write().expect("lock") = None;
                let ttl = keys.max_age.unwrap_or(Duration::from_secs(3600));
                Ok(Entry { keys, ttl })
            }
            Err(e) => {
                tracing::warn!(keys = %label, error = %e, "key fetch failed");
                *self.last_failure.write().expect("lock") = Some((Instant::now(), e.clone()));
                let last = self.last_good.read().expect("lock").clone();
                match last {
                    Some(keys) => Ok(Entry {
                        keys,
                        ttl: self.refresh_interval,
                    }),
                    None => Err(e),
                }
            }
        }
    }

    /// The failure to answer with instead of fetching: one within the last
    /// refresh interval, when there are no last good keys to serve.
    fn backing_off(&self) -> Option<String> {
        if self.last_good.read().expect("lock").is_some() {
            return None;
        }
        let failure = self.last_failure.read().expect("lock");
        let (at, why) = failure.as_ref()?;
        let ago = at.elapsed();
        let left = self.refresh_interval.checked_sub(ago)?;
        Some(format!(
            "{why} (the last fetch failed {} ago; the next is allowed in {})",
            humantime::format_duration(Duration::from_secs(ago.as_secs())),
            humantime::format_duration(Duration::from_secs(left.as_secs().max(1)))
        ))
    }
}

impl Keys {
    pub fn fixed(id: &str, keys: Arc<KeySet>) -> Self {
        Self {
            id: id.into(),
            label: id.into(),
            inner: KeysInner::Static(keys),
        }
    }

    /// Keys fetched from `url` by `fetcher`; `what` names the source
    /// (`firebase:app`), and with the URL makes the cache key.
    pub fn fetched(
        what: &str,
        url: &url::Url,
        fetcher: Arc<dyn Fetch>,
        cache: KeyCache,
        refresh_interval: Duration,
    ) -> Self {
        Self {
            id: format!("{what}:{url}").into(),
            label: format!("{what}:{}", crate::upstream::redact_url(url)).into(),
            inner: KeysInner::Fetched(Arc::new(Fetched {
                fetcher,
                cache,
                refresh_interval,
                last_forced: Mutex::new(None),
                refreshing: tokio::sync::Mutex::new(()),
                revalidating: std::sync::atomic::AtomicBool::new(false),
                last_good: RwLock::new(None),
                last_failure: RwLock::new(None),
                fetches: AtomicU64::new(0),
            })),
        }
    }

    /// What the keys are, for logs: the source and its URL, redacted.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Number of fetches attempted (for metrics and tests).
    pub fn fetch_count(&self) -> u64 {
        match &self.inner {
            KeysInner::Static(_) => 0,
            KeysInner::Fetched(f) => f.fetches.load(Ordering::Relaxed),
        }
    }

    /// Why the last fetch failed, if it did (URLs redacted).
    pub fn last_error(&self) -> Option<String> {
        match &self.inner {
            KeysInner::Static(_) => None,
            KeysInner::Fetched(f) => f
                .last_failure
                .read()
                .expect("lock")
                .as_ref()
                .map(|(_, why)| why.clone()),
        }
    }

    /// Whether keys are at hand, read from the cache's state: never
    /// fetches, never waits.
    pub fn status(&self) -> KeyStatus {
        let f = match &self.inner {
            KeysInner::Static(_) => return KeyStatus::Ready,
            KeysInner::Fetched(f) => f,
        };
        let at_hand =
            f.last_good.read().expect("lock").is_some() || f.cache.cache.contains_key(&self.id);
        let failure = f
            .last_failure
            .read()
            .expect("lock")
            .as_ref()
            .map(|(_, why)| why.clone());
        match (at_hand, failure) {
            (true, None) => KeyStatus::Ready,
            (true, Some(why)) => KeyStatus::Stale(why),
            (false, Some(why)) => KeyStatus::Failing(why),
            (false, None) => KeyStatus::NotFetched,
        }
    }

    /// The current keys: cached, or fetched now (coalesced with any fetch
    /// in flight), or the last good ones if the fetch fails. With no last
    /// good keys, a failed fetch is remembered for one refresh interval:
    /// requests in that time get its error without a new fetch.
    pub async fn get(&self) -> Result<Arc<KeySet>, Unavailable> {
        let f = match &self.inner {
            KeysInner::Static(k) => return Ok(k.clone()),
            KeysInner::Fetched(f) => f,
        };
        if let Some(e) = f.cache.cache.get(&self.id).await {
            return Ok(e.keys);
        }
        // Expired, with last good keys: they answer now, and the refresh
        // runs in the background, so no request waits for the provider —
        // not even one that hangs until the fetch times out.
        let stale = f.last_good.read().expect("lock").clone();
        if let Some(keys) = stale {
            self.revalidate(f);
            return Ok(keys);
        }
        let entry = f
            .cache
            .cache
            .try_get_with(self.id.clone(), async {
                // Checked here, by the one caller that would fetch, so
                // callers that queued behind a failed fetch do not fetch
                // again either.
                if let Some(why) = f.backing_off() {
                    return Err(why);
                }
                f.fetch_now(&self.label).await
            })
            .await
            .map_err(|e: Arc<String>| Unavailable(e.as_ref().clone()))?;
        Ok(entry.keys)
    }

    /// Refreshes expired keys in a background task, one at a time, coalesced
    /// with any fetch in flight.
    fn revalidate(&self, f: &Arc<Fetched>) {
        if f.revalidating.swap(true, Ordering::SeqCst) {
            return;
        }
        let (f, id, label) = (f.clone(), self.id.clone(), self.label.clone());
        tokio::spawn(async move {
            let _ = f
                .cache
                .cache
                .try_get_with(id, async { f.fetch_now(&label).await })
                .await;
            f.revalidating.store(false, Ordering::SeqCst);
        });
    }

    /// The key for a token's `kid`: from the current keys, else after one
    /// refetch for an unknown `kid` (coalesced, at most once per refresh
    /// interval). `Err(keys)` hands back the key set that lacks it, for
    /// the refusal's list of known kids.
    pub async fn find(
        &self,
        kid: Option<&str>,
    ) -> Result<Result<Arc<Key>, Arc<KeySet>>, Unavailable> {
        let keys = self.get().await?;
        if let Some(k) = keys.find(kid) {
            return Ok(Ok(k.clone()));
        }
        let keys = self.refresh_for_unknown_kid().await?;
        Ok(match keys.find(kid) {
            Some(k) => Ok(k.clone()),
            None => Err(keys),
        })
    }

    /// Called when a token names a `kid` the current keys lack: refetches,
    /// at most once per refresh interval, and returns the keys after that
    /// fetch (or the current ones when a refetch is not allowed yet).
    ///
    /// The current keys stay in the cache while the refetch runs, so
    /// tokens with known kids never wait for it — not even when the
    /// provider hangs until the fetch times out. Tokens with unknown kids
    /// that arrive meanwhile wait for it (a key rotated in is found by all
    /// of them) and do not fetch again.
    pub async fn refresh_for_unknown_kid(&self) -> Result<Arc<KeySet>, Unavailable> {
        let KeysInner::Fetched(f) = &self.inner else {
            return self.get().await;
        };
        let _gate = f.refreshing.lock().await;
        let allowed = {
            let mut last = f.last_forced.lock().expect("lock");
            match *last {
                Some(t) if t.elapsed() < f.refresh_interval => false,
                _ => {
                    *last = Some(Instant::now());
                    true
                }
            }
        };
        if allowed {
            match f.fetch_now(&self.label).await {
                Ok(entry) => {
                    let keys = entry.keys.clone();
                    f.cache.cache.insert(self.id.clone(), entry).await;
                    return Ok(keys);
                }
                Err(e) => return Err(Unavailable(e)),
            }
        }
        self.get().await
    }
}

#[cfg(test)]
mod tests;
