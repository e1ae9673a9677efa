//! One loaded config with its sources built and its targets' routes
//! paired ([`Runtime`]), over which [`crate::pipeline`] runs `token → source
//! (verify) → mapping (CEL) → trust → target (Zendesk rules + sign)`. A
//! [`Runtime`] is immutable: a reload builds a new one and swaps it in, so a
//! request never sees half of two configs.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{Config, TargetConfig};
use crate::error::ErrorCode;
use crate::mapping::{Mapping, MappingError};
use crate::pipeline::{self, Quiet, Refused, Via};
use crate::source::keys::KeyCache;
use crate::source::{self, Source, UnverifiedToken, VerifyError};
use crate::target::{MintError, Minted};
use crate::trust::TrustError;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum GatewayError {
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Mapping(#[from] MappingError),
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error(transparent)]
    Mint(#[from] MintError),
    #[error(transparent)]
    Link(#[from] crate::links::LinkError),
}

impl GatewayError {
    pub fn code(&self) -> ErrorCode {
        match self {
            GatewayError::Verify(e) => e.code(),
            GatewayError::Mapping(e) => e.code(),
            GatewayError::Trust(e) => e.code(),
            GatewayError::Mint(e) => e.code(),
            GatewayError::Link(e) => e.code(),
        }
    }

    /// The sentence for whoever presented the token: the full message
    /// (logged, and shown by `explain`) less what only the operator needs
    /// — the issuers a target accepts, the names of its sources.
    pub fn public_message(&self) -> String {
        match self {
            GatewayError::Verify(e) => e.public_message(),
            other => other.to_string(),
        }
    }
}

/// What the request adds to the CEL variables.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    pub ip: Option<String>,
    pub brand_id: Option<String>,
    pub locale_id: Option<String>,
}

/// A successful exchange.
#[derive(Debug)]
pub struct Exchanged {
    pub minted: Minted,
    pub source: Arc<Source>,
    pub subject: Option<String>,
}

/// One source of a target with the mapping of the pair, built together
/// when the config loads: nothing can pair a source with another's
/// mapping, whatever a reload does meanwhile.
#[derive(Debug)]
pub struct Route {
    pub source: Arc<Source>,
    pub mapping: Arc<Mapping>,
}

/// A target of one runtime: its config and its routes.
#[derive(Debug)]
pub struct Target {
    pub config: Arc<TargetConfig>,
    /// In the order configured.
    pub routes: Vec<Arc<Route>>,
    /// By the issuer of the route's source (sources of JWTs only).
    by_issuer: HashMap<String, Arc<Route>>,
    /// The routes whose source checks tokens that are not JWTs
    /// ([`crate::source::opaque`]), in the order configured.
    pub opaque: Vec<Arc<Route>>,
}

impl std::ops::Deref for Target {
    type Target = TargetConfig;

    fn deref(&self) -> &TargetConfig {
        &self.config
    }
}

impl Target {
    /// The route of the source named `name`, if the target has it.
    pub fn route_named(&self, name: &str) -> Option<&Arc<Route>> {
        self.routes.iter().find(|r| r.source.name() == name)
    }
}

/// One loaded config with its sources built. Immutable: a reload builds
/// another, and a request keeps the one it started with.
pub struct Runtime {
    pub config: Arc<Config>,
    /// The keys and names of the browser sign-in's sealed cookies, derived
    /// from `server.cookie_key` (and `previous_cookie_key`) once per load.
    pub cookies: crate::sso::pending::CookieKeys,
    /// In the order configured.
    pub sources: Vec<Arc<Source>>,
    /// Where identity links live (`state.links_url`), when set.
    pub links: Option<Arc<crate::links::LinkStore>>,
    by_issuer: HashMap<String, Arc<Source>>,
    targets: HashMap<String, Arc<Target>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("sources", &self.sources.len())
            .field("targets", &self.targets.len())
            .finish_non_exhaustive()
    }
}

impl Runtime {
    pub fn new(config: Config, http: &reqwest::Client, cache: &KeyCache) -> Self {
        let sources: Vec<Arc<Source>> = config
            .sources
            .iter()
            .map(|s| Arc::new(source::build(s.clone(), http, cache)))
            .collect();
        let built = |cfg: &Arc<crate::config::SourceConfig>| {
            sources
                .iter()
                .find(|s| Arc::ptr_eq(&s.config, cfg))
                .cloned()
        };
        // A source of opaque tokens is never picked by a JWT's `iss`.
        let by_issuer = sources
            .iter()
            .filter(|s| s.config.routed_by_issuer())
            .map(|s| (s.config.issuer.clone(), s.clone()))
            .collect();
        let targets = config
            .targets
            .iter()
            .map(|t| {
                let routes: Vec<Arc<Route>> = t
                    .sources
                    .iter()
                    .filter_map(|ts| {
                        Some(Arc::new(Route {
                            source: built(&ts.source)?,
                            mapping: ts.mapping.clone(),
                        }))
                    })
                    .collect();
                let by_issuer = routes
                    .iter()
                    .filter(|r| r.source.config.routed_by_issuer())
                    .map(|r| (r.source.config.issuer.clone(), r.clone()))
                    .collect();
                let opaque = routes
                    .iter()
                    .filter(|r| r.source.opaque.is_some())
                    .cloned()
                    .collect();
                let target = Target {
                    config: t.clone(),
                    routes,
                    by_issuer,
                    opaque,
                };
                (t.name.clone(), Arc::new(target))
            })
            .collect();
        let cookies = crate::sso::pending::CookieKeys::new(
            &config.server.cookie_key,
            config.server.previous_cookie_key.as_ref(),
            config.server.is_https(),
        );
        // The URL was checked when the config loaded.
        let links = config.state.links_url.as_ref().and_then(|u| {
            crate::links::LinkStore::connect_lazy(u.expose())
                .ok()
                .map(Arc::new)
        });
        Self {
            config: Arc::new(config),
            cookies,
            sources,
            links,
            by_issuer,
            targets,
        }
    }

    pub fn target(&self, name: &str) -> Option<&Arc<Target>> {
        self.targets.get(name)
    }

    pub fn source(&self, name: &str) -> Option<&Arc<Source>> {
        self.sources.iter().find(|s| s.name() == name)
    }

    /// Picks the route by the token's unverified `iss`, by map lookup
    /// among the target's sources (no trial of every key).
    pub fn route<'t>(
        &self,
        target: &'t Target,
        token: &UnverifiedToken<'_>,
    ) -> Result<&'t Arc<Route>, VerifyError> {
        let iss = token.unverified_issuer().unwrap_or_default();
        if let Some(route) = target.by_issuer.get(iss) {
            return Ok(route);
        }
        // A multi-tenant Entra source's issuer is a template: one scan of
        // the target's few routes, when the map has no exact issuer.
        let templated = |s: &Source| s.config.tenants.as_ref().is_some_and(|t| t.matches(iss));
        if let Some(route) = target.routes.iter().find(|r| templated(&r.source)) {
            return Ok(route);
        }
        let expected = || {
            target
                .routes
                .iter()
                .filter(|r| r.source.opaque.is_none())
                .map(|r| r.source.config.issuer.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let known = self
            .by_issuer
            .get(iss)
            .or_else(|| self.sources.iter().find(|s| templated(s)));
        match known {
            Some(s) => Err(VerifyError::IssuerNotAllowed {
                issuer: shorten(iss),
                source_name: s.name().to_owned(),
                target: target.name.clone(),
                expected: expected(),
            }),
            None => Err(VerifyError::IssuerUnknown {
                expected: expected(),
                found: if iss.is_empty() {
                    "no iss claim".into()
                } else {
                    shorten(iss)
                },
            }),
        }
    }

    /// The whole pipeline ([`crate::pipeline`]) for an app-presented
    /// token, routed `via` ([`Via::Issuer`], or [`Via::Jws`] when `/token`
    /// was told the token is a JWT).
    pub async fn exchange(
        &self,
        target: &Target,
        token: &str,
        via: Via<'_>,
        req: &RequestInfo,
    ) -> Result<Exchanged, Refused> {
        let now = source::now();
        let quiet = &mut Quiet;
        let verified = pipeline::verify(self, target, token, via, now, quiet).await?;
        let source = &verified.route.source;
        let minted = pipeline::mint(
            self,
            target,
            &verified.route,
            &verified.claims,
            req,
            now,
            quiet,
        )
        .await
        .map_err(|error| Refused {
            error,
            source: Some(source.clone()),
        })?;
        Ok(Exchanged {
            minted,
            source: source.clone(),
            subject: verified.claims.subject().map(str::to_owned),
        })
    }
}

/// A short, non-reversible label for a token in logs: the first 12 hex
/// digits of its SHA-256.
pub fn token_hash(token: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    hex(&d.as_ref()[..6])
}

/// Lower-case hex, high digit first (as a trace id or a digest is
/// written), in one string.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 * bytes.len());
    for &b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
        }
    }
    out
}

/// A short, non-reversible label for an upstream subject in logs (the
/// first 12 hex digits of a SHA-256 under a label of its own): the same
/// person's lines can be found without their identifier in the log.
pub fn subject_hash(sub: &str) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(b"zenbridge subject\0");
    ctx.update(sub.as_bytes());
    hex(&ctx.finish().as_ref()[..6])
}

/// Caps an untrusted string echoed in a message.
pub fn shorten(s: &str) -> String {
    format!("{:?}", source::clip(s, source::ECHO_VALUE_CHARS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_what_format_writes_for_every_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff, 0x10]), "000fa5ff10");
        let all: Vec<u8> = (0..=255).collect();
        let expected: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&all), expected);
        assert_eq!(subject_hash("ana").len(), 12);
        assert_eq!(token_hash("t").len(), 12);
    }
}
