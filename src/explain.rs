//! Dry runs: what the gateway would do with a token (or a sample claim
//! set) for a target, step by step: routing, each verification check, the
//! upstream claims, each rule and mapped claim, Zendesk's checks, and the
//! payload. Signs nothing unless asked. Used by `zenbridge explain` and
//! `POST /explain`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::gateway::{RequestInfo, Runtime, vars};
use crate::mapping::{Origin, Step};
use crate::source::{self, unverified_decode};
use crate::target;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    pub target: String,
    pub token: Option<String>,
    pub source: Option<String>,
    pub claims: Option<Map<String, Value>>,
    #[serde(default)]
    pub sign: bool,
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

/// Runs the dry run. `Err` is a usage problem (unknown target or source).
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
    let now = source::now();
    let (route, claims) = match (&req.token, &req.source, &req.claims) {
        (Some(token), None, None) => {
            let parsed = match unverified_decode(token, rt.config.server.max_token_bytes) {
                Ok(p) => p,
                Err(e) => {
                    report.refused = Some(Refusal {
                        error_code: e.code().as_str(),
                        message: e.to_string(),
                    });
                    return Ok(report);
                }
            };
            let unverified = parsed.unverified_claims.clone();
            let route = match rt.route(&target, &parsed) {
                Ok(r) => r.clone(),
                Err(e) => {
                    report.refused = Some(Refusal {
                        error_code: e.code().as_str(),
                        message: e.to_string(),
                    });
                    report.upstream_claims = Some(unverified);
                    return Ok(report);
                }
            };
            let source = &route.source;
            report.source = Some(source.name().to_owned());
            report.routing = Some(format!(
                "iss {:?} → source {:?} ({})",
                source.config.issuer,
                source.name(),
                source.config.kind.as_str()
            ));
            match source.verify(parsed, now, Some(&mut report.checks)).await {
                Ok(v) => {
                    report.claims_verified = true;
                    (route, v.claims().clone())
                }
                Err(e) => {
                    report.refused = Some(Refusal {
                        error_code: e.code().as_str(),
                        message: e.to_string(),
                    });
                    report.upstream_claims = Some(unverified);
                    return Ok(report);
                }
            }
        }
        (None, Some(name), Some(claims)) => {
            if rt.source(name).is_none() {
                return Err(format!("no source named {name:?}"));
            }
            let route = target.route_named(name).cloned().ok_or_else(|| {
                format!("target {:?} does not accept source {name:?}", target.name)
            })?;
            report.source = Some(name.clone());
            report.routing = Some(format!(
                "source {name:?} given; sample claims are not verified"
            ));
            (route, claims.clone())
        }
        _ => return Err("give either a token, or a source and a claim set".into()),
    };
    report.upstream_claims = Some(claims.clone());
    let request = RequestInfo::default();
    let mut mapped = Map::new();
    let mut first_error = None;
    for step in route
        .mapping
        .evaluate_all(&claims, &vars(&target, &route.source, &request))
    {
        match step {
            Step::Rule(rule, result) => {
                let error = result.err().map(|e| Refusal {
                    error_code: e.code().as_str(),
                    message: e.to_string(),
                });
                report.rules.push(RuleResult {
                    rule: rule.expr.text.clone(),
                    message: rule.message.clone(),
                    from: origin(rule.origin),
                    passed: error.is_none(),
                    error,
                });
            }
            Step::Claim(claim, result) => {
                let (value, error) = match result {
                    Ok(v) => (v, None),
                    Err(e) => (
                        None,
                        Some(Refusal {
                            error_code: e.code().as_str(),
                            message: e.to_string(),
                        }),
                    ),
                };
                if let Some(v) = &value {
                    mapped.insert(claim.name.clone(), v.clone());
                }
                report.claims.push(ClaimResult {
                    claim: claim.name.clone(),
                    expression: claim.expr.text.clone(),
                    from: origin(claim.origin),
                    value,
                    error,
                });
            }
        }
    }
    for r in &report.rules {
        if first_error.is_none()
            && let Some(e) = &r.error
        {
            first_error = Some(Refusal {
                error_code: e.error_code,
                message: e.message.clone(),
            });
        }
    }
    for c in &report.claims {
        if first_error.is_none()
            && let Some(e) = &c.error
        {
            first_error = Some(Refusal {
                error_code: e.error_code,
                message: e.message.clone(),
            });
        }
    }
    if let Some(e) = first_error {
        report.refused = Some(e);
        return Ok(report);
    }
    let source = &route.source.config;
    match crate::trust::check(source, &target, &claims, &mut mapped) {
        Ok(()) => {
            if mapped.contains_key("email") {
                report.trust.push(format!(
                    "email: accepted (source {:?} trusts {})",
                    source.name,
                    source.email_trust.as_str()
                ));
                if !source.email_domains.is_empty() {
                    report.trust.push(format!(
                        "email domain: in [{}]",
                        source.email_domains.join(", ")
                    ));
                }
            }
            if let Some(role) = mapped.get("role") {
                report.trust.push(format!(
                    "role {role}: in allowed_roles [{}]",
                    target.allowed_roles.join(", ")
                ));
            }
        }
        Err(e) => {
            report.refused = Some(Refusal {
                error_code: e.code().as_str(),
                message: e.to_string(),
            });
            return Ok(report);
        }
    }
    match target::prepare(&target, mapped.clone(), now) {
        Ok(payload) => {
            for c in target.kind.required_claims() {
                report
                    .zendesk
                    .push(format!("required claim `{c}`: present"));
            }
            report.zendesk.push("claim types and shapes: ok".into());
            if req.sign {
                match target::mint(&target, mapped, now) {
                    Ok(m) => {
                        report.payload = Some(m.payload);
                        report.jwt = Some(m.jwt);
                    }
                    Err(e) => {
                        report.refused = Some(Refusal {
                            error_code: e.code().as_str(),
                            message: e.to_string(),
                        });
                    }
                }
            } else {
                report.payload = Some(payload);
            }
        }
        Err(e) => {
            report.refused = Some(Refusal {
                error_code: e.code().as_str(),
                message: e.to_string(),
            });
        }
    }
    Ok(report)
}
