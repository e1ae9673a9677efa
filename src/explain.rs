//! Dry runs: what the gateway would do with a token (or a sample claim
//! set) for a target, step by step: routing, each verification check, the
//! upstream claims, each rule and mapped claim, Zendesk's checks, and the
//! payload. Signs nothing unless asked. Used by `zenbridge explain` and
//! `POST /explain`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{SourceConfig, TargetConfig};
use crate::error::ErrorCode;
use crate::gateway::{RequestInfo, Route, Runtime};
use crate::mapping::{Origin, Step};
use crate::pipeline::{self, Observer, Via};
use crate::source::{self, TokenUse};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    pub target: String,
    pub token: Option<String>,
    pub source: Option<String>,
    pub claims: Option<Map<String, Value>>,
    #[serde(default)]
    pub sign: bool,
    /// When to verify as of: now, except on the command line. Not read
    /// from `POST /explain`.
    #[serde(skip)]
    pub at: At,
}

/// The clock a dry run verifies with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum At {
    #[default]
    Now,
    /// `--at`: this time (seconds since 1970).
    Time(i64),
    /// `--ignore-expiry`: the token's own `iat`.
    TokenIat,
}

#[derive(Debug, Serialize)]
pub struct Refusal {
    pub error_code: &'static str,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct RuleResult {
    pub rule: String,
    pub message: String,
    pub from: &'static str,
    pub passed: bool,
    pub error: Option<Refusal>,
}

#[derive(Debug, Serialize)]
pub struct ClaimResult {
    pub claim: String,
    pub expression: String,
    pub from: &'static str,
    pub value: Option<Value>,
    pub error: Option<Refusal>,
}

#[derive(Debug, Serialize, Default)]
pub struct Report {
    /// Set when the token was verified as of another time than now
    /// (`--at`, `--ignore-expiry`): what a sign-in then would have done.
    pub evaluated_at: Option<String>,
    pub target: String,
    pub target_kind: &'static str,
    pub source: Option<String>,
    pub routing: Option<String>,
    pub checks: Vec<String>,
    pub upstream_claims: Option<Map<String, Value>>,
    pub claims_verified: bool,
    pub rules: Vec<RuleResult>,
    pub claims: Vec<ClaimResult>,
    /// The trust model's checks that passed (see [`crate::trust`]).
    pub trust: Vec<String>,
    /// What the identity link step did or would do (`[target.link]`).
    pub link: Option<String>,
    pub zendesk: Vec<String>,
    pub payload: Option<Map<String, Value>>,
    pub jwt: Option<String>,
    pub refused: Option<Refusal>,
}

fn origin(o: Origin) -> &'static str {
    match o {
        Origin::Default => "default",
        Origin::Source => "source",
        Origin::Target => "target",
    }
}

impl Refusal {
    pub fn of(code: ErrorCode, message: String) -> Self {
        Self {
            error_code: code.as_str(),
            message,
        }
    }
}

/// The pipeline's observer that writes the report.
impl Observer for Report {
    const EVERY_STEP: bool = true;

    fn checks(&mut self) -> Option<&mut Vec<String>> {
        Some(&mut self.checks)
    }

    fn routed(&mut self, route: &Route) {
        let source = &route.source;
        self.source = Some(source.name().to_owned());
        if source.opaque.is_some() {
            // Each opaque source asked, in the target's order.
            let asked = format!(
                "source {:?} ({})",
                source.name(),
                source.config.kind.as_str()
            );
            match &mut self.routing {
                Some(r) => {
                    r.push_str(", then ");
                    r.push_str(&asked);
                }
                None => {
                    self.routing = Some(format!(
                        "not a JWT → the target's opaque sources in order: {asked}"
                    ));
                }
            }
            return;
        }
        self.routing.get_or_insert_with(|| {
            format!(
                "iss {:?} → source {:?} ({})",
                source.config.issuer,
                source.name(),
                source.config.kind.as_str()
            )
        });
    }

    fn upstream(&mut self, claims: &Map<String, Value>, verified: bool) {
        self.upstream_claims = Some(claims.clone());
        self.claims_verified = verified;
    }

    fn step(&mut self, step: &Step<'_>) {
        let refusal = |e: &crate::mapping::MappingError| Refusal::of(e.code(), e.to_string());
        match step {
            Step::Rule(rule, result) => {
                let error = result.as_ref().err().map(refusal);
                self.rules.push(RuleResult {
                    rule: rule.expr.text.clone(),
                    message: rule.message.clone(),
                    from: origin(rule.origin),
                    passed: error.is_none(),
                    error,
                });
            }
            Step::Claim(claim, result) => {
                let (value, error) = match result {
                    Ok(v) => (v.clone(), None),
                    Err(e) => (None, Some(refusal(e))),
                };
                self.claims.push(ClaimResult {
                    claim: claim.name.clone(),
                    expression: claim.expr.text.clone(),
                    from: origin(claim.origin),
                    value,
                    error,
                });
            }
        }
    }

    fn trusted(
        &mut self,
        source: &SourceConfig,
        target: &TargetConfig,
        mapped: &Map<String, Value>,
    ) {
        self.trust = crate::trust::accepted(source, target, mapped);
    }

    fn linked(&mut self, what: &str) {
        self.link = Some(what.to_owned());
    }

    fn payload(&mut self, target: &TargetConfig, payload: &Map<String, Value>) {
        for c in target.kind.required_claims() {
            self.zendesk.push(format!("required claim `{c}`: present"));
        }
        self.zendesk.push("claim types and shapes: ok".into());
        self.payload = Some(payload.clone());
    }
}

impl Report {
    /// An empty report for `target`, to be filled by the pipeline.
    pub fn of(target: &crate::config::TargetConfig) -> Self {
        Self {
            target: target.name.clone(),
            target_kind: target.kind.as_str(),
            ..Self::default()
        }
    }
}

/// Runs the dry run: the gateway's own pipeline ([`crate::pipeline`]),
/// with the report as its observer. `Err` is a usage problem (unknown
/// target or source, sample claims asked to be signed).
pub async fn explain(rt: &Runtime, req: &ExplainRequest) -> Result<Report, String> {
    let target = rt
        .target(&req.target)
        .ok_or_else(|| format!("no target named {:?}", req.target))?
        .clone();
    let mut report = Report {
        target: target.name.clone(),
        target_kind: target.kind.as_str(),
        ..Report::default()
    };
    if req.sign && req.at != At::Now {
        return Err("a token explained as of another time is never signed".into());
    }
    let now = match (req.at, &req.token) {
        (At::Now, _) => source::now(),
        (At::Time(t), _) => t,
        (At::TokenIat, Some(token)) => {
            // Only the clock of the dry run: the signature is still checked.
            let iat = source::unverified_decode(token, rt.config.server.max_token_bytes)
                .ok()
                .and_then(|t| {
                    source::time_claim(&t.unverified_claims, "iat")
                        .ok()
                        .flatten()
                });
            iat.ok_or("--ignore-expiry needs a token with an iat")?
        }
        (At::TokenIat, None) => return Err("--ignore-expiry explains a --token".into()),
    };
    if req.at != At::Now {
        report.evaluated_at = Some(source::rfc3339(now));
    }
    let request = RequestInfo::default();
    let outcome = match (&req.token, &req.source, &req.claims) {
        (Some(token), named, None) => {
            // Along a named route: a `zendesk_jwt` token, which has no
            // `iss` to route by. A dry run uses up no `jti`, so what it
            // verified that way is never signed.
            let route = match named {
                None => None,
                Some(_) if req.sign => {
                    return Err(
                        "a token explained along --source is never signed: the dry run does not use up its jti"
                            .into(),
                    );
                }
                Some(name) => {
                    report.routing = Some(format!(
                        "source {name:?} given; the token is verified along it"
                    ));
                    Some(target.route_named(name).cloned().ok_or_else(|| {
                        format!("target {:?} does not accept source {name:?}", target.name)
                    })?)
                }
            };
            let via = route
                .as_ref()
                .map_or(Via::Issuer(TokenUse::IdToken), Via::Route);
            match pipeline::verify(rt, &target, token, via, now, &mut report).await {
                Err(refused) => Err(refused.error),
                Ok(v) if req.sign => {
                    pipeline::mint(rt, &target, &v.route, &v.claims, &request, now, &mut report)
                        .await
                        .map(|m| report.jwt = Some(m.jwt))
                }
                Ok(v) => pipeline::preview(
                    rt,
                    &target,
                    &v.route,
                    v.claims.claims(),
                    &request,
                    now,
                    &mut report,
                )
                .await
                .map(drop),
            }
        }
        (None, Some(name), Some(claims)) => {
            if rt.source(name).is_none() {
                return Err(format!("no source named {name:?}"));
            }
            let route = target.route_named(name).cloned().ok_or_else(|| {
                format!("target {:?} does not accept source {name:?}", target.name)
            })?;
            if req.sign {
                return Err(
                    "sample claims are never signed: give a token to sign (--token), or leave out --sign"
                        .into(),
                );
            }
            report.routing = Some(format!(
                "source {name:?} given; sample claims are not verified"
            ));
            report.routed(&route);
            report.upstream(claims, false);
            pipeline::preview(rt, &target, &route, claims, &request, now, &mut report)
                .await
                .map(drop)
        }
        _ => return Err("give either a token, or a source and a claim set".into()),
    };
    if let Err(e) = outcome {
        report.refused = Some(Refusal::of(e.code(), e.to_string()));
    }
    Ok(report)
}
