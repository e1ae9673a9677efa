//! HTTP: one file per route group, all sharing [`AppState`]. `lib.rs`'s
//! `app()` builds the router from [`router`].
//!
//! Cross-cutting promises: every response has `Cache-Control: no-store`
//! (token responses must not be cached, RFC 6749 §5.1),
//! `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`;
//! request spans record the method and path only (never a query string,
//! which may hold an authorization code).

pub mod demo;
pub mod error;
pub mod ops;
pub mod pages;
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
use tower_http::trace::TraceLayer;

use crate::error::ErrorCode;
use crate::gateway::Runtime;
use crate::metrics::Metrics;
use crate::source::keys::KeyCache;
use crate::state::Store;
use error::{ApiError, Dialect};

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
    let mut routes = Router::new()
        .merge(tokens::router(&state))
        .merge(ops::router())
        .merge(sso::router())
        .merge(sandbox::router());
    if demo {
        routes = routes.merge(demo::router());
    }
    routes
        .with_state(state)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, timeout.max(Duration::from_secs(1))))
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
            tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
        }))
}

/// The client's address: the socket peer, or with
/// `server.trust_forwarded_for` the last `X-Forwarded-For` hop (the one
/// our own proxy added; earlier hops are the client's word).
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
            .map(|c| c.0.ip());
        if state.runtime().config.server.trust_forwarded_for
            && let Some(last) = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|s| s.trim().parse::<IpAddr>().ok())
                .next_back()
        {
            return Ok(ClientIp(Some(last)));
        }
        Ok(ClientIp(peer))
    }
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
