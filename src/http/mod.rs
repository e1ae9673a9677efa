//! HTTP: one file per route group, all sharing [`AppState`]. `lib.rs`'s
//! `app()` builds the router from [`router`].
//!
//! Cross-cutting promises: every response has `Cache-Control: no-store`
//! (token responses must not be cached, RFC 6749 §5.1),
//! `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`;
//! every response carries the request's id (`X-Request-Id`), and its log
//! lines run in a span with the id, the method and the path only (never a
//! query string, which may hold an authorization code).

pub mod demo;
pub mod error;
pub mod ops;
pub mod outcome;
pub mod pages;
pub mod rate_limit;
pub mod request_id;
pub mod sandbox;
pub mod sso;
pub mod tokens;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Request, StatusCode, header};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::ErrorCode;
use crate::gateway::Runtime;
use crate::metrics::Metrics;
use crate::source::keys::KeyCache;
use crate::state::Store;
use error::{ApiError, Dialect};

/// The shortest request timeout applied, whatever `server.request_timeout`
/// says; [`spawn_timer_heartbeat`] ticks faster than this.
const MIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// Everything a handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    runtime: RwLock<Arc<Runtime>>,
    pub http: reqwest::Client,
    pub keys: KeyCache,
    pub store: Store,
    pub metrics: Metrics,
    /// For the OIDC token endpoint: follows no redirect.
    pub oidc_http: reqwest::Client,
}

impl AppState {
    pub fn new(runtime: Runtime, http: reqwest::Client, keys: KeyCache, store: Store) -> Self {
        Self(Arc::new(Shared {
            runtime: RwLock::new(Arc::new(runtime)),
            http,
            keys,
            store,
            metrics: Metrics::default(),
            oidc_http: crate::sso::code_flow::http_client(),
        }))
    }

    /// The current config and sources; a request keeps the one it started with.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.0.runtime.read().expect("lock").clone()
    }

    /// Swaps in a new runtime (config reload).
    pub fn replace_runtime(&self, runtime: Runtime) {
        *self.0.runtime.write().expect("lock") = Arc::new(runtime);
    }

    pub fn shared(&self) -> &Shared {
        &self.0
    }
}

/// The application's routes; `demo` adds the landing page of `zenbridge
/// demo` at `/`.
pub fn router(state: AppState, demo: bool) -> Router {
    let timeout = state.runtime().config.server.request_timeout;
    let mut routes =
        Router::new()
            .merge(tokens::router())
            .merge(ops::router())
            .merge(sso::router().merge(sandbox::router()).layer(
                axum::middleware::from_fn_with_state(state.clone(), outcome::record),
            ));
    if demo {
        routes = routes.merge(demo::router());
    }
    routes
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            pin_runtime,
        ))
        .with_state(state)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            timeout.max(MIN_REQUEST_TIMEOUT),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(axum::middleware::from_fn(request_id::request_id))
}

/// Starts a task that keeps one timer pending, never more than half a
/// second away, for as long as the tokio runtime runs.
///
/// Why: every request arms a timer (the request timeout). When tokio's
/// time driver has no timer pending, or the new one is due before the
/// driver means to wake up, registering it unparks the driver: an eventfd
/// `write` and, on the multi-threaded runtime, a futex wake-up of a parked
/// worker that finds nothing to do and parks again. Between requests no
/// timer was pending, so under load every request paid those two system
/// calls and a wake-up of the other core (4 system calls per request
/// instead of 2; see bench/NOTES.md). With this heartbeat the driver always
/// means to wake up within half a second, before any request's deadline
/// (the request timeout is at least a second), so arming a request's timer
/// never unparks it. Costs two wake-ups a second.
pub fn spawn_timer_heartbeat() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        let mut tick = tokio::time::interval(MIN_REQUEST_TIMEOUT / 2);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
        }
    })
}

/// Takes the current runtime once, when the request arrives, and pins it
/// to the request: every extractor and handler of the request reads that
/// one ([`Rt`]), so a reload while the request waits for its body cannot
/// give it half of another config.
async fn pin_runtime(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut req: Request<Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    req.extensions_mut().insert(Rt(state.runtime()));
    next.run(req).await
}

/// The runtime (config and sources) this request started with.
#[derive(Clone)]
pub struct Rt(pub Arc<Runtime>);

impl std::ops::Deref for Rt {
    type Target = Runtime;

    fn deref(&self) -> &Runtime {
        &self.0
    }
}

impl Rt {
    /// The runtime pinned to the request by [`pin_runtime`].
    pub fn of(parts: &Parts, state: &AppState) -> Self {
        parts
            .extensions
            .get::<Rt>()
            .cloned()
            // Only a router built without `pin_runtime` lacks it.
            .unwrap_or_else(|| Rt(state.runtime()))
    }
}

impl FromRequestParts<AppState> for Rt {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Rt::of(parts, state))
    }
}

/// The client's address: the socket peer, unless the peer is one of
/// `server.trusted_proxies`; then `X-Forwarded-For` is walked from the
/// right, past the trusted proxies, and the first other hop is the client
/// (the established model of reverse proxies: each proxy appends the
/// address it saw, so only the hops our own proxies added are facts, and
/// everything left of them is the client's word). A hop that cannot be
/// read stops the walk at the peer: the client's own entries are never
/// taken instead.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_canonical());
        let rt = Rt::of(parts, state);
        let Some(peer) = peer else {
            return Ok(ClientIp(None));
        };
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().unwrap_or("\u{0}"));
        Ok(ClientIp(Some(client_address(
            peer,
            forwarded,
            &rt.config.server.trusted_proxies,
        ))))
    }
}

/// [`ClientIp`]'s walk: `forwarded` are the `X-Forwarded-For` header
/// values in the order received.
pub fn client_address<'h>(
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'h str>,
    trusted: &[ipnet::IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            // Not understood: never guess past it.
            tracing::debug!("X-Forwarded-For hop not understood; using the proxy's address");
            return peer;
        };
        client = ip;
        if !is_trusted(&ip) {
            return ip;
        }
    }
    // Every hop is a trusted proxy: the left-most is the client.
    client
}

/// One `X-Forwarded-For` hop: `203.0.113.5`, `203.0.113.5:4711`,
/// `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let port_ok = |p: &str| p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok();
    let ip = if let Some(rest) = hop.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(port_ok)) {
            return None;
        }
        IpAddr::V6(inside.parse().ok()?)
    } else if let Ok(ip) = hop.parse::<IpAddr>() {
        ip
    } else {
        let (host, port) = hop.split_once(':')?;
        if !port_ok(port) {
            return None;
        }
        IpAddr::V4(host.parse().ok()?)
    };
    Some(ip.to_canonical())
}

/// Reads a body up to `limit` bytes; a larger one is `body_too_large`.
pub async fn read_body(
    body: Body,
    limit: usize,
    dialect: Dialect,
) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("the request body must be at most {limit} bytes"),
            dialect,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::client_address;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    /// (peer, X-Forwarded-For values, trusted proxies, client)
    #[test]
    fn forwarded_for_is_walked_from_the_right_past_trusted_proxies_only() {
        let proxies: Vec<ipnet::IpNet> = ["10.0.0.0/8", "2001:db8:ffff::/48"]
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        let cases: &[(&str, &[&str], &str)] = &[
            // Not from a proxy: the header is the client's word.
            ("198.51.100.9", &["203.0.113.5"], "198.51.100.9"),
            // From a proxy: the hop it added.
            ("10.0.0.2", &["203.0.113.5"], "203.0.113.5"),
            ("10.0.0.2", &["1.1.1.1, 203.0.113.5"], "203.0.113.5"),
            ("10.0.0.2", &["1.1.1.1", "203.0.113.5"], "203.0.113.5"),
            // Past a chain of our proxies.
            (
                "10.0.0.2",
                &["203.0.113.5, 10.1.1.1, 10.2.2.2"],
                "203.0.113.5",
            ),
            // Ports and brackets are understood.
            ("10.0.0.2", &["1.1.1.1, 203.0.113.5:4711"], "203.0.113.5"),
            ("10.0.0.2", &["1.1.1.1, [2001:db8::1]:443"], "2001:db8::1"),
            ("10.0.0.2", &["1.1.1.1, [2001:db8::1]"], "2001:db8::1"),
            ("10.0.0.2", &["1.1.1.1, 2001:db8::1"], "2001:db8::1"),
            // Unreadable hops stop the walk at the peer, never at the
            // client's own entry left of them.
            ("10.0.0.2", &["203.0.113.5, unknown"], "10.0.0.2"),
            ("10.0.0.2", &["203.0.113.5, "], "10.0.0.2"),
            ("10.0.0.2", &["203.0.113.5, 1.2.3.4:99999999"], "10.0.0.2"),
            ("10.0.0.2", &["203.0.113.5, [2001:db8::1]:x"], "10.0.0.2"),
            ("10.0.0.2", &["203.0.113.5, \u{0}"], "10.0.0.2"),
            ("10.0.0.2", &["203.0.113.5, _obfuscated"], "10.0.0.2"),
            // Only proxies: the left-most is the client.
            ("10.0.0.2", &["10.9.9.9, 10.1.1.1"], "10.9.9.9"),
            // No header from a proxy: the proxy itself.
            ("10.0.0.2", &[], "10.0.0.2"),
            // IPv4-mapped IPv6 is the IPv4 address.
            ("10.0.0.2", &["::ffff:203.0.113.5"], "203.0.113.5"),
        ];
        for (peer, xff, want) in cases {
            let got = client_address(ip(peer), xff.iter().copied(), &proxies);
            assert_eq!(got, ip(want), "peer {peer}, X-Forwarded-For {xff:?}");
        }
    }

    /// A hop with a port no TCP connection can have (`:99999`) was taken
    /// as understood; no proxy writes one, so it stops the walk.
    #[test]
    fn forwarded_hop_with_an_impossible_port_stops_the_walk_attack() {
        let proxies: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        for hop in [
            "203.0.113.5:99999",
            "203.0.113.5:65536",
            "[2001:db8::1]:70000",
        ] {
            let xff = format!("198.51.100.7, {hop}");
            let got = client_address(ip("10.0.0.2"), std::iter::once(xff.as_str()), &proxies);
            assert_eq!(got, ip("10.0.0.2"), "{hop}");
        }
        let got = client_address(
            ip("10.0.0.2"),
            std::iter::once("198.51.100.7, 203.0.113.5:65535"),
            &proxies,
        );
        assert_eq!(got, ip("203.0.113.5"));
    }
}
