//! Browser sign-in to Zendesk (targets of kind `sso`): everything behind
//! `/sso/{target}/…`, `/callback` and `/sandbox/…` that is not HTTP.
//!
//! - [`pending`]: the sealed pending-login cookie (one per sign-in).
//! - [`return_to`]: which `return_to` values are passed on.
//! - [`code_flow`]: the OpenID Connect code flow (PKCE S256, `nonce`).
//! - [`catalog`]: Zendesk's known failure messages in plain words.
//! - [`sandbox`]: the stand-in for Zendesk's `/access/jwt` checks.
//! - [`signin`]: each source's browser sign-in as one typed value, with
//!   `start` and `finish`, called without knowing the source's kind.
//! - [`flow`]: the steps of a sign-in (login URL, start, callback, user
//!   form, logout), each returning what the browser is shown next; the
//!   HTTP handlers read the request, call one, and render its answer.
//!
//! A sign-in ends in [`finish`], the same for every source kind: the
//! upstream ID token (from the provider's token endpoint, minted by a
//! `dev` source for its login form, or sent by a legacy app to its
//! `…/access/jwt`) goes through the source's own [`Source::verify`], is
//! tied to this sign-in ([`Proof`]: its `nonce` is the pending login's, or
//! its `jti` is used once in the state store), and the target's JWT is
//! minted by the gateway's mapping.

pub mod catalog;
pub mod code_flow;
pub mod flow;
pub mod pending;
pub mod return_to;
pub mod sandbox;
pub mod signin;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::gateway::{GatewayError, RequestInfo, Route, Runtime, Target};
use crate::pipeline::{self, Observer, Via};
use crate::source::SignIn;
use crate::source::VerifyError;
use crate::state::{FirstUse, Store};
use crate::target::{Minted, TargetKind};
pub use code_flow::FlowError;
pub use pending::PendingLogin;
use signin::Upstream;

/// Why a browser sign-in stopped. Each variant has its `error_code`
/// (`crate::error`); the message is what the page shows.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum LoginError {
    #[error("no sso target is named {0}")]
    TargetUnknown(String),
    #[error("{0}")]
    SourceUnknown(String),
    #[error(
        "no sign-in is in progress in this browser: it took more than 10 minutes, was already finished, or the browser did not keep its cookie; start again from the sign-in link"
    )]
    NoneInProgress,
    #[error(
        "the callback's state matches none of the sign-ins started in this browser; start again from the sign-in link"
    )]
    StateMismatch,
    #[error("this sign-in was started more than 10 minutes ago; start again from the sign-in link")]
    Expired,
    #[error(
        "this sign-in was already finished (the page was reloaded or opened twice); start again from the sign-in link"
    )]
    Replayed,
    #[error("the ID token was not issued for the sign-in started in this browser: its nonce {0}")]
    NonceMismatch(&'static str),
    #[error("the ID token's audience must include the client id {client_id:?}; it has [{found}]")]
    NotForClient { client_id: String, found: String },
    #[error("the identity provider did not sign you in: {error}{description}")]
    Provider { error: String, description: String },
    #[error("the request is incomplete: {0}")]
    Incomplete(&'static str),
    #[error("source {source_name:?} has no user {user}")]
    UnknownUser { source_name: String, user: String },
    #[error(transparent)]
    Flow(#[from] FlowError),
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// RFC 9207: the authorization response is not from the issuer the
    /// sign-in was started with.
    #[error(
        "this answer does not come from the identity provider the sign-in was started with: {0}; start again from the sign-in link"
    )]
    IssuerMismatch(&'static str),
    /// The target's guard refused this route or client.
    #[error("{0}")]
    NotAllowed(String, crate::error::ErrorCode),
    /// The state store failed; the reason is logged where it happens.
    #[error("the state store is unavailable; try again in a moment")]
    StateUnavailable,
    /// A sign-in started, or an unsolicited token issued, before the
    /// state store's records begin (`state::FirstUse::Forgotten`): whether
    /// it was already used cannot be told. What to do is the argument.
    #[error(
        "this sign-in began before the state store's records do (they were lost since: a restart), so whether it was already used cannot be told; {0}"
    )]
    BeforeRecords(&'static str),
    /// An unsolicited token whose `jti` was seen before.
    #[error(
        "this sign-in token was already used (its jti was seen before): each token signs in once; sign in again from the application"
    )]
    TokenReused,
}

impl From<VerifyError> for LoginError {
    fn from(e: VerifyError) -> Self {
        LoginError::Gateway(e.into())
    }
}

/// The `sso` target named `name`.
pub fn sso_target(rt: &Runtime, name: &str) -> Result<Arc<Target>, LoginError> {
    rt.target(name)
        .filter(|t| t.kind == TargetKind::Sso)
        .cloned()
        .ok_or_else(|| LoginError::TargetUnknown(crate::gateway::shorten(name)))
}

/// The target's routes a person sent with `brand_id` can sign in with in
/// a browser, in the order configured: every browser source, or with
/// `[[target.brands]]` the brand's.
pub fn browser_sources(target: &Target, brand_id: Option<&str>) -> Vec<Arc<Route>> {
    target
        .routes
        .iter()
        .filter(|r| signin::SignIn::of(&r.source).is_some())
        .filter(|r| target.brand_allows(brand_id, r.source.name()))
        .cloned()
        .collect()
}

/// One of the target's browser routes for `brand_id`, by its source's
/// name.
pub fn browser_source(
    target: &Target,
    name: &str,
    brand_id: Option<&str>,
) -> Result<Arc<Route>, LoginError> {
    let routes = browser_sources(target, brand_id);
    if let Some(r) = routes.iter().find(|r| r.source.name() == name) {
        return Ok(r.clone());
    }
    let known: Vec<&str> = routes.iter().map(|r| r.source.name()).collect();
    Err(LoginError::SourceUnknown(format!(
        "target {:?} has no browser sign-in source named {} (it has: {})",
        target.name,
        crate::gateway::shorten(name),
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        }
    )))
}

/// Home-realm discovery: the first source whose `domains` hold the domain
/// of the `login_hint` email (or a parent domain of it).
pub fn by_login_hint(routes: &[Arc<Route>], hint: &str) -> Option<Arc<Route>> {
    let domain = hint.rsplit_once('@')?.1.trim().to_ascii_lowercase();
    if domain.is_empty() {
        return None;
    }
    routes
        .iter()
        .find(|r| {
            r.source.config.domains.iter().any(|d| {
                domain == *d
                    || domain
                        .strip_suffix(d.as_str())
                        .is_some_and(|rest| rest.ends_with('.'))
            })
        })
        .cloned()
}

/// What ties an upstream token to this sign-in.
pub enum Proof<'a> {
    /// The pending login this browser started: the token carries its
    /// `nonce`.
    Pending(&'a PendingLogin),
    /// None was started: the token arrived unsolicited (a legacy app's
    /// Zendesk JWT), and its `jti` is used once, in the shared store, for
    /// `window`.
    OneTime { store: &'a Store, window: Duration },
}

/// Verifies the upstream token of a sign-in along `route`, checks it
/// belongs to this sign-in ([`Proof`]), its audience our client (when the
/// sign-in has one), and mints the target's JWT; claims a source's own
/// check vouched for (`session`, whose proof is the pending login) go
/// straight to the mapping. Returns the token and the
/// upstream subject (for logs).
pub async fn finish<O: Observer>(
    rt: &Runtime,
    target: &Target,
    route: &Arc<Route>,
    proof: &Proof<'_>,
    upstream: Upstream,
    req: &RequestInfo,
    obs: &mut O,
) -> Result<(Minted, Option<String>), LoginError> {
    let now = crate::source::now();
    let id_token = match upstream {
        Upstream::IdToken(t) => t,
        Upstream::Checked(verified) => {
            obs.routed(route);
            obs.upstream(verified.claims(), true);
            let minted = pipeline::mint(rt, target, route, &verified, req, now, obs).await?;
            return Ok((minted, verified.subject().map(str::to_owned)));
        }
    };
    let verified = pipeline::verify(rt, target, &id_token, Via::Route(route), now, obs)
        .await
        .map_err(|r| r.error)?
        .claims;
    match proof {
        Proof::Pending(login) => match verified.claims().get("nonce") {
            Some(Value::String(n))
                if pending::constant_time_eq(n.as_bytes(), login.nonce.as_bytes()) => {}
            Some(_) => return Err(LoginError::NonceMismatch("differs")),
            None => return Err(LoginError::NonceMismatch("is missing")),
        },
        Proof::OneTime { store, window } => {
            let jti = verified
                .claims()
                .get("jti")
                .and_then(Value::as_str)
                .filter(|j| !j.is_empty())
                .ok_or_else(|| VerifyError::ClaimMissing {
                    claim: "jti".into(),
                    why: "a token that arrives unsolicited is used once, by its jti".into(),
                })?;
            // Zendesk's tokens carry `iat` (the source checks it); one
            // without is taken as old as the window allows.
            let window_secs = i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
            let issued_at = crate::source::time_claim(verified.claims(), "iat")
                .ok()
                .flatten()
                .unwrap_or_else(|| crate::source::now().saturating_sub(window_secs));
            once(store, route.source.name(), jti, *window, issued_at).await?;
        }
    }
    if let Some(client_id) = route.source.sign_in.as_ref().and_then(SignIn::client_id) {
        let aud: Vec<&str> = match verified.claims().get("aud") {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !aud.contains(&client_id) {
            return Err(LoginError::NotForClient {
                client_id: client_id.to_owned(),
                found: aud.join(", "),
            });
        }
    }
    let minted = pipeline::mint(rt, target, route, &verified, req, now, obs).await?;
    Ok((minted, verified.subject().map(str::to_owned)))
}

/// Marks `jti` of `source` as used: `jti:<source>:<SHA-256 of the jti>`
/// (a fixed-length key whatever the token says), for `window`, on every
/// replica that shares the store. Only a verified token gets here, so
/// nobody without the source's secret can use up another's `jti`.
async fn once(
    store: &Store,
    source: &str,
    jti: &str,
    window: Duration,
    issued_at: i64,
) -> Result<(), LoginError> {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, jti.as_bytes());
    let hex = crate::gateway::hex(&digest.as_ref()[..16]);
    match store
        .first_use(&format!("jti:{source}:{hex}"), window, issued_at)
        .await
    {
        Ok(FirstUse::Yes) => Ok(()),
        Ok(FirstUse::Again) => Err(LoginError::TokenReused),
        Ok(FirstUse::Forgotten) => Err(LoginError::BeforeRecords(
            "sign in again from the application",
        )),
        Err(e) => {
            tracing::warn!(error = %e, "state store unavailable: sign-in not finished");
            Err(LoginError::StateUnavailable)
        }
    }
}
