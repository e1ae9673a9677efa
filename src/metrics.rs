//! Prometheus metrics, kept in atomics: requests by route, target, source
//! and outcome; verification failures by error code; key fetches (read from
//! the key stores when scraped); latency histograms per route.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::ErrorCode;
use crate::gateway::Runtime;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

#[derive(Default)]
pub struct Metrics {
    /// Keyed by `route \0 target \0 source \0 outcome`, so a lookup needs no
    /// allocation (the key is built in a reused thread-local buffer).
    /// Keyed by `route \0 target \0 source \0 outcome`: a lookup builds the
    /// key in a reused thread-local buffer, so counting allocates nothing.
    requests: RwLock<HashMap<String, AtomicU64>>,
    failures: RwLock<HashMap<ErrorCode, AtomicU64>>,
    latency: RwLock<HashMap<String, Histogram>>,
}

fn bump<K, Q>(map: &RwLock<HashMap<K, AtomicU64>>, key: &Q)
where
    K: std::hash::Hash + Eq + std::borrow::Borrow<Q>,
    Q: std::hash::Hash + Eq + ToOwned<Owned = K> + ?Sized,
{
    if let Some(c) = map.read().expect("lock").get(key) {
        c.fetch_add(1, Ordering::Relaxed);
        return;
    }
    map.write()
        .expect("lock")
        .entry(key.to_owned())
        .or_default()
        .fetch_add(1, Ordering::Relaxed);
}

thread_local! {
    static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The `route` label of `zenbridge_requests_total`: one value per route
/// group that counts requests (docs/ARCHITECTURE.md#metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Sdk,
    Exchange,
    Token,
    SsoLogin,
    SsoCallback,
    SsoDevLogin,
    SsoJwt,
    SsoLogout,
    Sandbox,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Sdk => "sdk",
            Route::Exchange => "exchange",
            Route::Token => "token",
            Route::SsoLogin => "sso_login",
            Route::SsoCallback => "sso_callback",
            Route::SsoDevLogin => "sso_dev_login",
            Route::SsoJwt => "sso_jwt",
            Route::SsoLogout => "sso_logout",
            Route::Sandbox => "sandbox",
        }
    }
}

impl Metrics {
    pub fn request(&self, route: Route, target: &str, source: &str, outcome: &str, took: Duration) {
        let route = route.as_str();
        KEY.with_borrow_mut(|key| {
            key.clear();
            for (i, part) in [route, target, source, outcome].into_iter().enumerate() {
                if i > 0 {
                    key.push('\0');
                }
                key.push_str(part);
            }
            bump(&self.requests, key.as_str());
        });
        let record = |h: &Histogram| {
            let secs = took.as_secs_f64();
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    h.buckets[i].fetch_add(1, Ordering::Relaxed);
                }
            }
            h.count.fetch_add(1, Ordering::Relaxed);
            h.sum_micros.fetch_add(
                u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        };
        if let Some(h) = self.latency.read().expect("lock").get(route) {
            record(h);
            return;
        }
        let mut w = self.latency.write().expect("lock");
        record(w.entry(route.to_owned()).or_default());
    }

    pub fn failure(&self, code: ErrorCode) {
        bump(&self.failures, &code);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, rt: &Runtime) -> String {
        let mut out = String::new();
        out.push_str("# HELP zenbridge_requests_total Token requests by route, target, source and outcome (ok or an error code).\n# TYPE zenbridge_requests_total counter\n");
        let mut rows: Vec<_> = self
            .requests
            .read()
            .expect("lock")
            .iter()
            .map(|(k, v)| (k.clone(), v.load(Ordering::Relaxed)))
            .collect();
        rows.sort();
        for (key, n) in rows {
            let mut parts = key.split('\0');
            let mut next = || parts.next().unwrap_or_default();
            let (route, target, source, outcome) = (next(), next(), next(), next());
            let _ = writeln!(
                out,
                "zenbridge_requests_total{{route=\"{}\",target=\"{}\",source=\"{}\",outcome=\"{}\"}} {n}",
                esc(route),
                esc(target),
                esc(source),
                esc(outcome)
            );
        }
        out.push_str("# HELP zenbridge_verification_failures_total Refused tokens by error code.\n# TYPE zenbridge_verification_failures_total counter\n");
        let mut rows: Vec<_> = self
            .failures
            .read()
            .expect("lock")
            .iter()
            .map(|(k, v)| (k.as_str(), v.load(Ordering::Relaxed)))
            .collect();
        rows.sort_unstable();
        for (code, n) in rows {
            let _ = writeln!(
                out,
                "zenbridge_verification_failures_total{{error_code=\"{code}\"}} {n}"
            );
        }
        out.push_str("# HELP zenbridge_key_fetches_total Key fetches attempted per source.\n# TYPE zenbridge_key_fetches_total counter\n");
        for s in &rt.sources {
            let _ = writeln!(
                out,
                "zenbridge_key_fetches_total{{source=\"{}\"}} {}",
                esc(s.name()),
                s.keys.fetch_count()
            );
        }
        out.push_str("# HELP zenbridge_key_fetch_failing Whether the last key fetch of a source failed.\n# TYPE zenbridge_key_fetch_failing gauge\n");
        for s in &rt.sources {
            let _ = writeln!(
                out,
                "zenbridge_key_fetch_failing{{source=\"{}\"}} {}",
                esc(s.name()),
                u8::from(s.keys.last_error().is_some())
            );
        }
        out.push_str("# HELP zenbridge_request_duration_seconds Time to answer a token request.\n# TYPE zenbridge_request_duration_seconds histogram\n");
        let lat = self.latency.read().expect("lock");
        let mut routes: Vec<_> = lat.keys().collect();
        routes.sort();
        for route in routes {
            let h = &lat[route];
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "zenbridge_request_duration_seconds_bucket{{route=\"{}\",le=\"{b}\"}} {}",
                    esc(route),
                    h.buckets[i].load(Ordering::Relaxed)
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "zenbridge_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {count}",
                esc(route)
            );
            #[allow(clippy::cast_precision_loss)]
            let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "zenbridge_request_duration_seconds_sum{{route=\"{}\"}} {sum}",
                esc(route)
            );
            let _ = writeln!(
                out,
                "zenbridge_request_duration_seconds_count{{route=\"{}\"}} {count}",
                esc(route)
            );
        }
        out
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
