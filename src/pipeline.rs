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
//!
//! Each stage runs in a span of [`crate::telemetry::SPAN_TARGET`] (`route`,
//! `verify`, `map`, `link`, `mint`) carrying target and source names only:
//! OpenTelemetry spans when traces are on, disabled callsites otherwise.

use std::sync::Arc;

use serde_json::{Map, Value};
use tracing::Instrument;

use crate::config::{SourceConfig, TargetConfig};
use crate::gateway::{GatewayError, RequestInfo, Route, Runtime, Target};
use crate::links::{self, LinkError, Resolved};
use crate::mapping::{MappingError, Step, Vars};
use crate::source::opaque::bearer_shaped;
use crate::source::unverified::is_jose;
use crate::source::{Source, TokenUse, VerifiedClaims, VerifyError, unverified_decode};
use crate::target::{self, Minted};
use crate::telemetry::SPAN_TARGET as SPAN;
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
    /// The identity link step: what it did, in words (`explain`).
    fn linked(&mut self, _what: &str) {}
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
            let _route =
                tracing::info_span!(target: SPAN, "route", target = %target.name).entered();
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
    let checked = route
        .source
        .verify(parsed, now, obs.checks())
        .instrument(tracing::info_span!(target: SPAN, "verify", source = %route.source.name()))
        .await;
    match checked {
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
        let checked = checker
            .check(token, now, obs.checks())
            .instrument(tracing::info_span!(target: SPAN, "verify", source = %route.source.name()))
            .await;
        match checked {
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

/// Maps verified claims, applies the trust model, keeps the person's
/// identity link (targets with `[target.link]`), applies Zendesk's rules,
/// and signs the target's token.
pub async fn mint<O: Observer>(
    rt: &Runtime,
    target: &Target,
    route: &Route,
    verified: &VerifiedClaims,
    req: &RequestInfo,
    now: i64,
    obs: &mut O,
) -> Result<Minted, GatewayError> {
    let (mut mapped, trusted) = mapped(target, route, verified.claims(), req, obs)?;
    if target.link.is_some() {
        let linking = Linking::Keep { now };
        link(
            rt,
            target,
            route,
            verified.claims(),
            trusted,
            req,
            &mut mapped,
            linking,
            obs,
        )
        .await?;
    }
    let minted = {
        let _mint = tracing::info_span!(target: SPAN, "mint", target = %target.name).entered();
        target::mint(target, mapped, now)?
    };
    obs.payload(target, &minted.payload);
    Ok(minted)
}

/// [`prepare`], then what the identity link step would do, without
/// recording anything (`explain`).
pub async fn preview<O: Observer>(
    rt: &Runtime,
    target: &Target,
    route: &Route,
    claims: &Map<String, Value>,
    req: &RequestInfo,
    now: i64,
    obs: &mut O,
) -> Result<Map<String, Value>, GatewayError> {
    let (mut mapped, trusted) = mapped(target, route, claims, req, obs)?;
    if target.link.is_some() {
        link(
            rt,
            target,
            route,
            claims,
            trusted,
            req,
            &mut mapped,
            Linking::Look,
            obs,
        )
        .await?;
    }
    let payload = target::prepare(target, mapped, now)?;
    obs.payload(target, &payload);
    Ok(payload)
}

/// Whether the link step records (a sign-in) or only looks (`explain`).
#[derive(Clone, Copy)]
enum Linking {
    Keep { now: i64 },
    Look,
}

/// The identity link step (`crate::links`): the person's key, then the
/// `external_id` linked to it, which replaces the mapped one.
#[allow(clippy::too_many_arguments)]
async fn link<O: Observer>(
    rt: &Runtime,
    target: &Target,
    route: &Route,
    claims: &Map<String, Value>,
    trusted: trust::Trusted,
    req: &RequestInfo,
    mapped: &mut Map<String, Value>,
    linking: Linking,
    obs: &mut O,
) -> Result<(), GatewayError> {
    let Some(rule) = &target.link else {
        return Ok(());
    };
    let key = match &rule.key {
        None if trusted.email_vouched => mapped
            .get("email")
            .and_then(Value::as_str)
            .map(links::normalize_email),
        None => None,
        Some(expr) => {
            let vars = vars(target, &route.source, req);
            crate::mapping::evaluate_key(expr, claims, &vars)?
        }
    };
    let Some(key) = key else {
        obs.linked(match rule.key {
            None => "no link: no verified email to key it (an unverified email never links)",
            Some(_) => "no link: the link key is null for this person",
        });
        return Ok(());
    };
    let store = rt.links.as_ref().ok_or_else(|| LinkError::Unavailable {
        detail: "no state.links_url".into(),
    })?;
    let mapped_id = mapped
        .get("external_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let source = route.source.name();
    match linking {
        Linking::Keep { now } => {
            let found = store
                .resolve(&target.name, &key, mapped_id.as_deref(), source, now)
                .instrument(tracing::info_span!(target: SPAN, "link", target = %target.name))
                .await
                .inspect_err(|e| {
                    if let LinkError::Unavailable { detail } = e {
                        tracing::warn!(target = %target.name, "identity links: {detail}");
                    }
                })?;
            if let Some((id, how)) = found {
                if O::EVERY_STEP {
                    obs.linked(&match how {
                        Resolved::Created => format!("linked: new link, external_id {id:?}"),
                        Resolved::Same => format!("linked: external_id {id:?}, as mapped"),
                        Resolved::Reused { .. } => format!(
                            "linked: external_id {id:?} (first sent for this person) replaces the mapped one"
                        ),
                    });
                }
                mapped.insert("external_id".into(), Value::String(id));
            }
        }
        Linking::Look => match store.find(&target.name, &key).await? {
            Some(l) => {
                obs.linked(&format!(
                    "link found: external_id {:?} (first through source {:?}, last through {:?}); the mapped one is replaced",
                    l.external_id, l.source, l.last_source
                ));
                mapped.insert("external_id".into(), Value::String(l.external_id));
            }
            None => obs
                .linked("no link yet: a sign-in would link this person to the mapped external_id"),
        },
    }
    Ok(())
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
    let (mapped, _) = mapped(target, route, claims, req, obs)?;
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
) -> Result<(Map<String, Value>, trust::Trusted), GatewayError> {
    let _map = tracing::info_span!(
        target: SPAN,
        "map",
        target = %target.name,
        source = %route.source.name()
    )
    .entered();
    let vars = vars(target, &route.source, req);
    let mut mapped = if O::EVERY_STEP {
        route
            .mapping
            .evaluate_steps(claims, &vars, |step| obs.step(step))?
    } else {
        map(route, claims, &vars)?
    };
    let trusted = trust::check(&route.source.config, target, claims, &mut mapped)?;
    obs.trusted(&route.source.config, target, &mapped);
    Ok((mapped, trusted))
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
