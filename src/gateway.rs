//! The pipeline, `token → source (verify) → mapping (CEL) → target (Zendesk
//! rules + sign)`, over one loaded config. A [`Runtime`] is immutable: a
//! reload builds a new one and swaps it in, so a request never sees half of
//! two configs.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::config::{Config, TargetConfig};
use crate::error::ErrorCode;
use crate::mapping::{MappingError, Vars};
use crate::source::keys::KeyCache;
use crate::source::{
    self, Source, UnverifiedToken, VerifiedClaims, VerifyError, unverified_decode,
};
use crate::target::{self, MintError, Minted};

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum GatewayError {
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Mapping(#[from] MappingError),
    #[error(transparent)]
    Mint(#[from] MintError),
}

impl GatewayError {
    pub fn code(&self) -> ErrorCode {
        match self {
            GatewayError::Verify(e) => e.code(),
            GatewayError::Mapping(e) => e.code(),
            GatewayError::Mint(e) => e.code(),
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

pub struct Runtime {
    pub config: Arc<Config>,
    /// Aligned with `config.sources`.
    pub sources: Vec<Arc<Source>>,
    by_issuer: HashMap<String, usize>,
    targets: HashMap<String, Arc<TargetConfig>>,
    /// Per target: issuer → source index, among the target's sources.
    routes: HashMap<String, HashMap<String, usize>>,
}

impl Runtime {
    pub fn new(config: Config, http: &reqwest::Client, cache: &KeyCache) -> Self {
        let sources: Vec<Arc<Source>> = config
            .sources
            .iter()
            .map(|s| Arc::new(source::build(s.clone(), http, cache)))
            .collect();
        let by_issuer = config
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| (s.issuer.clone(), i))
            .collect();
        let targets = config
            .targets
            .iter()
            .map(|t| (t.name.clone(), t.clone()))
            .collect();
        let routes = config
            .targets
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    t.sources
                        .iter()
                        .map(|&i| (config.sources[i].issuer.clone(), i))
                        .collect(),
                )
            })
            .collect();
        Self {
            config: Arc::new(config),
            sources,
            by_issuer,
            targets,
            routes,
        }
    }

    pub fn target(&self, name: &str) -> Option<&Arc<TargetConfig>> {
        self.targets.get(name)
    }

    pub fn source(&self, name: &str) -> Option<&Arc<Source>> {
        self.sources.iter().find(|s| s.name() == name)
    }

    /// Picks the source by the token's unverified `iss`, by map lookup
    /// among the target's sources (no trial of every key).
    pub fn route(
        &self,
        target: &TargetConfig,
        token: &UnverifiedToken<'_>,
    ) -> Result<&Arc<Source>, VerifyError> {
        let iss = token.unverified_issuer().unwrap_or_default();
        if let Some(&i) = self.routes.get(&target.name).and_then(|r| r.get(iss)) {
            return Ok(&self.sources[i]);
        }
        let expected = || {
            target
                .sources
                .iter()
                .map(|&i| self.config.sources[i].issuer.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self.by_issuer.get(iss) {
            Some(&i) => Err(VerifyError::IssuerNotAllowed {
                issuer: iss.to_owned(),
                source_name: self.config.sources[i].name.clone(),
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

    /// The whole pipeline for an app-presented token.
    pub async fn exchange(
        &self,
        target: &TargetConfig,
        token: &str,
        req: &RequestInfo,
    ) -> Result<Exchanged, (GatewayError, Option<Arc<Source>>)> {
        let now = source::now();
        let parsed = unverified_decode(token, self.config.server.max_token_bytes)
            .map_err(|e| (e.into(), None))?;
        let source = self
            .route(target, &parsed)
            .map_err(|e| (e.into(), None))?
            .clone();
        let verified = source
            .verify(parsed, now, None)
            .await
            .map_err(|e| (e.into(), Some(source.clone())))?;
        let minted = self
            .mint_for(target, &source, &verified, req, now)
            .map_err(|e| (e, Some(source.clone())))?;
        let subject = verified.subject().map(str::to_owned);
        Ok(Exchanged {
            minted,
            source,
            subject,
        })
    }

    /// Maps verified claims and mints the target's token.
    pub fn mint_for(
        &self,
        target: &TargetConfig,
        source: &Source,
        verified: &VerifiedClaims,
        req: &RequestInfo,
        now: i64,
    ) -> Result<Minted, GatewayError> {
        let mapped = self.map(target, source, verified.claims(), req)?;
        Ok(target::mint(target, mapped, now)?)
    }

    /// Evaluates the (source, target) mapping. `claims` are verified claims,
    /// or a sample (`check --claims`, `explain --claims`).
    pub fn map(
        &self,
        target: &TargetConfig,
        source: &Source,
        claims: &Map<String, Value>,
        req: &RequestInfo,
    ) -> Result<Map<String, Value>, MappingError> {
        let idx = self
            .sources
            .iter()
            .position(|s| std::ptr::eq(s.as_ref(), source))
            .expect("source of this runtime");
        let mapping = target
            .mappings
            .get(&idx)
            .expect("validated: every target source has a mapping");
        mapping.evaluate(claims, &vars(target, source, req))
    }
}

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

/// A short, non-reversible label for a token in logs: the first 12 hex
/// digits of its SHA-256.
pub fn token_hash(token: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    d.as_ref()[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// Caps an untrusted string echoed in a message.
pub fn shorten(s: &str) -> String {
    if s.chars().count() <= 100 {
        format!("{s:?}")
    } else {
        format!("{:?}…", s.chars().take(100).collect::<String>())
    }
}
