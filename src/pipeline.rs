//! The one pipeline every caller drives: `token → route → source (verify)
//! → mapping (CEL) → trust model → Zendesk's rules → sign`.
//!
//! - `/sdk`, `/exchange`, `/token` ([`crate::gateway::Runtime::exchange`])
//!   run it whole, routing a JWT by its issuer, and a token that is not one
//!   along the target's opaque sources in order ([`crate::source::opaque`]).
//! - The browser sign-in ([`crate::sso::finish`]) runs it with the route
//!   its pending login names, and checks the `nonce` between [`verify`] and
//!   [`mint`].
//! - `explain` runs the same stages with an [`Observer`] that records each
//!   step for its report; `check --claims` runs [`prepare`] over a sample.
//!
//! An observer sees the pipeline; it cannot change what it decides. The hot
//! path uses [`Quiet`], whose methods are empty and inlined away: no
//! verification line is formatted and the mapping takes its fast path.
//!
//! Sample claims (`--claims`, `"claims"`) reach [`prepare`] only: [`mint`]
//! takes [`VerifiedClaims`], so nothing unverified is ever signed.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::config::{SourceConfig, TargetConfig};
use crate::gateway::{GatewayError, RequestInfo, Route, Runtime, Target};
use crate::mapping::{MappingError, Step, Vars};
use crate::source::opaque::bearer_shaped;
use crate::source::unverified::is_jose;
use crate::source::{Source, TokenUse, VerifiedClaims, VerifyError, unverified_decode};
use crate::target::{self, Minted};
use crate::trust;

/// What watches a run. Every method has an empty default.
pub trait Observer {
    /// Whether the mapping evaluates every rule and claim, reporting each
    /// (`explain`), instead of stopping at the first failure.
    const EVERY_STEP: bool = false;

    /// Where the source's verification writes its checks, one line each;
    /// `None`: nobody reads them, so they are not formatted.
    fn checks(&mut self) -> Option<&mut Vec<String>> {
        None
    }
    /// The route the token was sent along.
    fn routed(&mut self, _route: &Route) {}
    /// The upstream claims: verified, or (`verified` false) read from a
    /// token that was then refused, or a sample.
    fn upstream(&mut self, _claims: &Map<String, Value>, _verified: bool) {}
    /// One rule or mapped claim, evaluated (only when [`Self::EVERY_STEP`]).
    fn step(&mut self, _step: &Step<'_>) {}
    /// The trust model passed the mapped claims.
    fn trusted(
        &mut self,
        _source: &SourceConfig,
        _target: &TargetConfig,
        _mapped: &Map<String, Value>,
    ) {
    }
    /// Zendesk's rules passed; this is the payload (signed when minting).
    fn payload(&mut self, _target: &TargetConfig, _payload: &Map<String, Value>) {}
}

/// The observer of the hot path: sees nothing.
pub struct Quiet;

impl Observer for Quiet {}

/// Which route a token takes.
#[derive(Clone, Copy)]
pub enum Via<'r> {
    /// A JWT by its unverified `iss` among the target's sources, presented
    /// as `wanted` (an ID token unless `/token` was told otherwise); a
    /// token that is not a JWT along the target's opaque sources, in order.
    Issuer(TokenUse),
    /// As [`Via::Issuer`], but the caller declared a JWT (`/token` with
    /// `subject_token_type` `id_token` or `jwt`): a token that is not one
    /// is refused, never sent to an opaque source.
    Jws(TokenUse),
    /// Along this route (the browser sign-in: the pending login names it).
    Route(&'r Arc<Route>),
}

/// A token that verified, with the route it took.
pub struct Verified {
    pub route: Arc<Route>,
    pub claims: VerifiedClaims,
}

/// A refusal, with the source when the token got as far as one.
#[derive(Debug)]
pub struct Refused {
    pub error: GatewayError,
    pub source: Option<Arc<Source>>,
}

impl Refused {
    fn at(error: impl Into<GatewayError>, source: Option<&Arc<Source>>) -> Self {
        Self {
            error: error.into(),
            source: source.cloned(),
        }
    }
}

/// Decodes `token`, picks its route and verifies it with the route's
/// source.
pub async fn verify<O: Observer>(
    rt: &Runtime,
    target: &Target,
    token: &str,
    via: Via<'_>,
    now: i64,
    obs: &mut O,
) -> Result<Verified, Refused> {
    let parsed = match unverified_decode(token, rt.config.server.max_token_bytes) {
        Ok(parsed) => parsed,
        // Off the hot path: only a token that is not a compact JWS.
        Err(e) => return opaque(target, token, via, e, now, obs).await,
    };
    let (route, parsed) = match via {
        Via::Issuer(wanted) | Via::Jws(wanted) => {
            let parsed = parsed.presented_as(wanted);
            match rt.route(target, &parsed) {
                Ok(r) => (r.clone(), parsed),
                Err(e) => {
                    obs.upstream(&parsed.unverified_claims, false);
                    return Err(Refused::at(e, None));
                }
            }
        }
        Via::Route(r) => (r.clone(), parsed),
    };
    obs.routed(&route);
    // Kept only for the report of a refused token.
    let unverified = O::EVERY_STEP.then(|| parsed.unverified_claims.clone());
    match route.source.verify(parsed, now, obs.checks()).await {
        Ok(claims) => {
            obs.upstream(claims.claims(), true);
            Ok(Verified { route, claims })
        }
        Err(e) => {
            if let Some(c) = &unverified {
                obs.upstream(c, false);
            }
            Err(Refused::at(e, Some(&route.source)))
        }
    }
}

/// A token that is not a compact JWS (`not_jws` says why): checked by the
/// opaque sources `via` allows, in the target's order, one call each at
/// most, the first that vouches for it winning. A JOSE token (a broken JWS,
/// a JWE) or one too large keeps its decode error and is sent nowhere.
async fn opaque<O: Observer>(
    target: &Target,
    token: &str,
    via: Via<'_>,
    not_jws: VerifyError,
    now: i64,
    obs: &mut O,
) -> Result<Verified, Refused> {
    if matches!(not_jws, VerifyError::TooLarge { .. }) || is_jose(token) {
        return Err(Refused::at(not_jws, None));
    }
    let routes: &[Arc<Route>] = match via {
        Via::Issuer(_) => &target.opaque,
        Via::Route(r) if r.source.opaque.is_some() => std::slice::from_ref(r),
        Via::Route(_) => &[],
        // Without opaque sources, a token that is not a JWT is just that.
        Via::Jws(_) if target.opaque.is_empty() => &[],
        Via::Jws(_) => {
            let e = VerifyError::TokenTypeMismatch {
                expected: "a JWT (the declared subject_token_type)".into(),
                found: "a token that is not a JWT (for an opaque access token, declare urn:ietf:params:oauth:token-type:access_token)".into(),
            };
            return Err(Refused::at(e, None));
        }
    };
    if routes.is_empty() {
        return Err(Refused::at(not_jws, None));
    }
    let token = token.trim();
    if !bearer_shaped(token) {
        return Err(Refused::at(
            VerifyError::Malformed(
                "a token that is not a JWT must be an RFC 6750 bearer token (letters, digits, -._~+/ and = padding); this one has other characters".into(),
            ),
            None,
        ));
    }
    let mut inactive: Vec<(VerifyError, &Arc<Route>)> = Vec::new();
    let mut unavailable: Option<(VerifyError, &Arc<Route>)> = None;
    for route in routes {
        let Some(checker) = &route.source.opaque else {
            continue;
        };
        obs.routed(route);
        match checker.check(token, now, obs.checks()).await {
            Ok(claims) => {
                obs.upstream(claims.claims(), true);
                return Ok(Verified {
                    route: route.clone(),
                    claims,
                });
            }
            Err(e @ VerifyError::Inactive { .. }) => inactive.push((e, route)),
            Err(
                e
                @ (VerifyError::UpstreamUnavailable { .. } | VerifyError::CheckUnavailable { .. }),
            ) => {
                unavailable.get_or_insert((e, route));
            }
            // The source knows the token and refuses it: final.
            Err(e) => return Err(Refused::at(e, Some(&route.source))),
        }
    }
    // A source that could not answer may know the token: try again later.
    if let Some((e, route)) = unavailable {
        return Err(Refused::at(e, Some(&route.source)));
    }
    if inactive.len() > 1 {
        let names: Vec<String> = inactive
            .iter()
            .map(|(_, r)| format!("{:?}", r.source.name()))
            .collect();
        let e = VerifyError::Inactive {
            sources: format!("sources {}", names.join(", ")),
            detail: String::new(),
        };
        return Err(Refused::at(e, None));
    }
    match inactive.pop() {
        Some((e, route)) => Err(Refused::at(e, Some(&route.source))),
        // No route had a checker (it cannot happen: `target.opaque` holds
        // only those): the decode error stands.
        None => Err(Refused::at(not_jws, None)),
    }
}

/// Maps verified claims, applies the trust model and Zendesk's rules, and
/// signs the target's token.
pub fn mint<O: Observer>(
    target: &Target,
    route: &Route,
    verified: &VerifiedClaims,
    req: &RequestInfo,
    now: i64,
    obs: &mut O,
) -> Result<Minted, GatewayError> {
    let mapped = mapped(target, route, verified.claims(), req, obs)?;
    let minted = target::mint(target, mapped, now)?;
    obs.payload(target, &minted.payload);
    Ok(minted)
}

/// [`mint`] without the signature, for any claims — verified or a sample
/// (`check --claims`, `explain --claims`): the payload Zendesk would get.
pub fn prepare<O: Observer>(
    target: &Target,
    route: &Route,
    claims: &Map<String, Value>,
    req: &RequestInfo,
    now: i64,
    obs: &mut O,
) -> Result<Map<String, Value>, GatewayError> {
    let mapped = mapped(target, route, claims, req, obs)?;
    let payload = target::prepare(target, mapped, now)?;
    obs.payload(target, &payload);
    Ok(payload)
}

/// The route's mapping, then the trust model.
fn mapped<O: Observer>(
    target: &Target,
    route: &Route,
    claims: &Map<String, Value>,
    req: &RequestInfo,
    obs: &mut O,
) -> Result<Map<String, Value>, GatewayError> {
    let vars = vars(target, &route.source, req);
    let mut mapped = if O::EVERY_STEP {
        route
            .mapping
            .evaluate_steps(claims, &vars, |step| obs.step(step))?
    } else {
        map(route, claims, &vars)?
    };
    trust::check(&route.source.config, target, claims, &mut mapped)?;
    obs.trusted(&route.source.config, target, &mapped);
    Ok(mapped)
}

fn map(
    route: &Route,
    claims: &Map<String, Value>,
    vars: &Vars<'_>,
) -> Result<Map<String, Value>, MappingError> {
    route.mapping.evaluate(claims, vars)
}

/// What an expression may read besides the claims.
pub fn vars<'a>(target: &'a TargetConfig, source: &'a Source, req: &'a RequestInfo) -> Vars<'a> {
    Vars {
        source_name: &source.config.name,
        source_kind: source.config.kind.as_str(),
        source_issuer: Some(&source.config.issuer),
        target_name: &target.name,
        target_kind: target.kind.as_str(),
        request_ip: req.ip.as_deref(),
        request_brand_id: req.brand_id.as_deref(),
        request_locale_id: req.locale_id.as_deref(),
    }
}
