//! # zenbridge
//!
//! An identity-provider bridge: it trusts upstream identity providers and
//! turns their ID tokens into the JWTs Zendesk accepts.
//!
//! A tour, in the order a token travels:
//! - [`config`]: the TOML file, parsed ([`config::raw`]) then validated into
//!   a [`config::Config`] with every reference resolved and every CEL
//!   expression compiled. Problems are reported all at once, with key paths.
//! - [`source`]: upstream kinds (`oidc`, `firebase`, `jwt`, `dev`,
//!   `zendesk_jwt`) behind one trait, the shared key cache
//!   ([`source::keys`]), and the only function that reads a token
//!   unverified ([`source::unverified`]).
//! - [`mapping`]: CEL expressions from upstream claims to Zendesk claims,
//!   typed per surface, and rules that refuse with a message.
//! - [`target`]: Zendesk surfaces (`sso`, `sdk`, `messaging`, `chat`), their
//!   required claims, and HS256 signing.
//! - [`trust`]: what a sign-in may assert (verified emails, email domains,
//!   roles) before anything is signed.
//! - [`gateway`]: one loaded config ([`gateway::Runtime`]), whose targets
//!   carry their (source, mapping) routes.
//! - [`pipeline`]: verify → map → trust → Zendesk's rules → sign, the one
//!   run every caller drives; `explain` watches it through an observer.
//! - [`sso`]: the browser sign-in of `sso` targets: the sealed pending-login
//!   cookie, `return_to` checks, the OIDC code flow, Zendesk's error
//!   catalog and the sandbox's checks.
//! - [`http`]: the routes; [`error`]: the stable `error_code`s.
//! - [`state`]: replay and rate-limit stores (memory, Redis).
//! - [`metrics`]: `/metrics` (OpenMetrics); [`telemetry`]: OpenTelemetry
//!   spans of each request and its steps, exported over OTLP when asked.
//! - [`explain`]: the dry run behind `zenbridge explain` and `POST /explain`.
//! - [`init`]: the commented starting config `zenbridge init` writes.
//! - [`upstream`]: what every fetch from an upstream server promises (a
//!   1 MiB cap read chunk by chunk, no redirect to plain http, URLs
//!   redacted in messages).

pub mod cli;
pub mod config;
pub mod error;
pub mod explain;
#[doc(hidden)]
pub mod fuzzing;
pub mod gateway;
pub mod http;
pub mod init;
pub mod links;
pub mod mapping;
pub mod metrics;
pub mod pipeline;
pub mod random;
pub mod source;
pub mod sso;
pub mod state;
pub mod target;
pub mod telemetry;
pub mod trust;
pub mod upstream;

use axum::Router;

pub use http::AppState;

/// The whole HTTP application over a state.
pub fn app(state: AppState) -> Router {
    http::router(state, false)
}

/// [`app`] with the landing page of `zenbridge demo` at `/`.
pub fn demo_app(state: AppState) -> Router {
    http::router(state, true)
}

/// The HTTP client for discovery and key fetches: rustls, short timeouts,
/// a few redirects and never one to plain http off loopback
/// ([`upstream::redirect_policy`]).
pub fn http_client() -> reqwest::Client {
    upstream::client(
        std::time::Duration::from_secs(5),
        upstream::redirect_policy(),
    )
}

/// Builds the state for a validated config: the store, the key cache, the
/// runtime.
pub async fn build_state(config: config::Config) -> Result<AppState, state::StateError> {
    let store = match &config.state.backend {
        config::StateBackend::Memory => state::Store::Memory(state::memory::MemoryStore::default()),
        config::StateBackend::Redis {
            url,
            key_prefix,
            tls,
            sentinel_password,
        } => state::Store::Redis(
            state::redis::RedisStore::connect(
                url.expose(),
                key_prefix,
                tls,
                sentinel_password.as_ref().map(config::Secret::expose),
            )
            .await?,
        ),
    };
    let http = http_client();
    let keys = source::keys::KeyCache::default();
    let runtime = gateway::Runtime::new(config, &http, &keys);
    if let Some(links) = &runtime.links
        && let Err(e) = links.migrate().await
    {
        // Sign-ins of targets with links are refused until it can be
        // reached; the migration is tried again then.
        tracing::error!("identity links: {e}: {}", e.detail());
    }
    Ok(AppState::new(runtime, http, keys, store))
}
