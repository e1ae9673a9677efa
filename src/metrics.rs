//! Prometheus metrics through the `prometheus-client` crate (OpenMetrics
//! text): requests by route, target, source and outcome; refusals by error
//! code; latency histograms per route, whose buckets carry the trace id of
//! a sampled request as an exemplar when traces are on; and, read when
//! scraped, key fetches per source, readiness and the state store.
//!
//! Counting a request allocates nothing once its label set has been seen:
//! the counter of a label set is found through a key built in a reused
//! thread-local buffer, and routes and error codes are enums.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::error::ErrorCode;
use crate::gateway::Runtime;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// The `route` label of `zenbridge_requests_total`: one value per route
/// group that counts requests (docs/ARCHITECTURE.md#metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// An error code as a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Code(ErrorCode);

impl EncodeLabelValue for Code {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.0.as_str(), encoder)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: Route,
    target: String,
    source: String,
    outcome: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FailureLabels {
    error_code: Code,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    route: Route,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

/// An exemplar's labels: the trace of one sampled request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TraceLabels {
    trace_id: String,
}

type Latency = HistogramWithExemplars<TraceLabels>;

fn latency_histogram() -> Latency {
    HistogramWithExemplars::new(BUCKETS.into_iter())
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    /// The counter of each label set seen, keyed by `route \0 target \0
    /// source \0 outcome`: found without building a label set.
    request_counters: RwLock<HashMap<String, Counter>>,
    failures: Family<FailureLabels, Counter>,
    latency: Family<RouteLabels, Latency, fn() -> Latency>,
}

impl Default for Metrics {
    fn default() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let failures = Family::<FailureLabels, Counter>::default();
        let latency: Family<RouteLabels, Latency, fn() -> Latency> =
            Family::new_with_constructor(latency_histogram);
        let mut registry = Registry::default();
        // Counters are registered without `_total`: the encoder adds it.
        registry.register(
            "zenbridge_requests",
            "Token requests by route, target, source and outcome (ok or an error code)",
            requests.clone(),
        );
        registry.register(
            "zenbridge_verification_failures",
            "Refused tokens by error code",
            failures.clone(),
        );
        registry.register(
            "zenbridge_request_duration_seconds",
            "Time to answer a token request",
            latency.clone(),
        );
        Self {
            registry,
            requests,
            request_counters: RwLock::default(),
            failures,
            latency,
        }
    }
}

/// State store operations that failed, in this process
/// (`zenbridge_state_store_errors_total`).
static STATE_STORE_ERRORS: AtomicU64 = AtomicU64::new(0);

/// Counts a failed state store operation.
pub fn state_store_error() {
    STATE_STORE_ERRORS.fetch_add(1, Ordering::Relaxed);
}

thread_local! {
    static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

impl Metrics {
    /// Counts one answered request; its latency carries the request's
    /// trace id as an exemplar when the request is traced and sampled.
    pub fn request(&self, route: Route, target: &str, source: &str, outcome: &str, took: Duration) {
        let trace = crate::telemetry::outcome(route.as_str(), target, source, outcome);
        KEY.with_borrow_mut(|key| {
            key.clear();
            for (i, part) in [route.as_str(), target, source, outcome]
                .into_iter()
                .enumerate()
            {
                if i > 0 {
                    key.push('\0');
                }
                key.push_str(part);
            }
            if let Some(c) = self
                .request_counters
                .read()
                .expect("lock")
                .get(key.as_str())
            {
                c.inc();
                return;
            }
            let counter = self
                .requests
                .get_or_create(&RequestLabels {
                    route,
                    target: target.to_owned(),
                    source: source.to_owned(),
                    outcome: outcome.to_owned(),
                })
                .clone();
            counter.inc();
            self.request_counters
                .write()
                .expect("lock")
                .insert(key.clone(), counter);
        });
        let at = trace.map(|_| std::time::SystemTime::now());
        let exemplar = trace.map(|id| TraceLabels {
            trace_id: id.to_string(),
        });
        self.latency.get_or_create(&RouteLabels { route }).observe(
            took.as_secs_f64(),
            exemplar,
            at,
        );
    }

    /// Counts one refusal.
    pub fn failure(&self, code: ErrorCode) {
        crate::telemetry::error_code(code.as_str());
        self.failures
            .get_or_create(&FailureLabels {
                error_code: Code(code),
            })
            .inc();
    }

    /// The OpenMetrics text exposition; `ready` and `store_up` are the
    /// answers of the readiness checks, read by the caller.
    pub fn render(&self, rt: &Runtime, ready: bool, store_up: bool) -> String {
        let mut scraped = Registry::default();
        let fetches = Family::<SourceLabels, Counter>::default();
        let failing = Family::<SourceLabels, Gauge>::default();
        for s in &rt.sources {
            let source = SourceLabels {
                source: s.name().to_owned(),
            };
            fetches.get_or_create(&source).inc_by(s.keys.fetch_count());
            failing
                .get_or_create(&source)
                .set(i64::from(s.keys.last_error().is_some()));
        }
        scraped.register(
            "zenbridge_key_fetches",
            "Key fetches attempted per source",
            fetches,
        );
        scraped.register(
            "zenbridge_key_fetch_failing",
            "Whether the last key fetch of a source failed",
            failing,
        );
        let gauge = |on: bool| {
            let g = Gauge::<i64>::default();
            g.set(i64::from(on));
            g
        };
        scraped.register(
            "zenbridge_ready",
            "Whether this instance is ready (what /readyz answers: 1 = 200)",
            gauge(ready),
        );
        scraped.register(
            "zenbridge_state_store_up",
            "Whether the state store answered a ping at this scrape",
            gauge(store_up),
        );
        scraped.register(
            "zenbridge_state_store_errors",
            "State store operations that failed (replay checks, rate limits)",
            {
                let c = Counter::<u64>::default();
                c.inc_by(STATE_STORE_ERRORS.load(Ordering::Relaxed));
                c
            },
        );
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.registry);
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &scraped);
        let _ = prometheus_client::encoding::text::encode_eof(&mut out);
        out
    }
}
