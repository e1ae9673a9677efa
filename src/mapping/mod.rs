//! Claim mapping: CEL expressions, compiled when the config loads, that turn
//! verified upstream claims into Zendesk claims, and rules that refuse a
//! sign-in with a message.
//!
//! A [`Mapping`] is the effective mapping of one (source, target) pair: the
//! target's overrides, else the source's claims, else the defaults
//! (`email = claims.email`; `name = claims.name`, else the email's local
//! part). Evaluation runs every rule first (source rules, then target
//! rules), then every claim; a `null` result omits the claim.
//!
//! Failures are typed: reading an upstream claim the token lacks (without
//! `has()`) is [`MappingError::ClaimMissing`], a result of the wrong type is
//! [`MappingError::ClaimInvalid`], any other runtime error of an expression
//! is [`MappingError::Evaluation`]: the caller is told which claim, and the
//! reason, in words with types but no values, is logged for the operator
//! (the interpreter's own text embeds claim values). Nothing panics on
//! upstream data.
//!
//! The `cel` crate has no cost budget, so the claims are bounded before
//! anything is evaluated ([`bounds`]): at most
//! [`bounds::MAX_LIST_ITEMS`] (256) items in a list,
//! [`bounds::MAX_STRING_BYTES`] (8 KiB) in a string or key,
//! [`bounds::MAX_DEPTH`] (8) levels of nesting and [`bounds::MAX_VALUES`]
//! (1024) values in all; past one, [`MappingError::ClaimsTooLarge`] names
//! the claim and the limit. So an expression quadratic in a list costs at
//! most 65 536 steps.

pub mod bounds;
pub mod cel;
pub mod claims;
pub mod synthetic;

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use ::cel::{Context, ExecutionError, Value};

use crate::target::TargetKind;

pub use self::cel::Expression;
pub use self::claims::ClaimType;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum MappingError {
    #[error("claim `{claim}` needs the upstream claim `{upstream}`, which the token does not have")]
    ClaimMissing { claim: String, upstream: String },
    #[error("claim `{claim}` must be {expected}; the mapping produced {found}")]
    ClaimInvalid {
        claim: String,
        expected: String,
        found: String,
    },
    /// The expression failed on this token's claims for a reason other
    /// than a missing claim. The caller is told which claim; `reason` (in
    /// words, types but no values) is logged where it happens, for the
    /// operator: an interpreter's message embeds the claims' values.
    #[error(
        "claim `{claim}` could not be computed from this token's claims: its expression failed (zenbridge's log says why)"
    )]
    Evaluation { claim: String, reason: String },
    #[error("{message}")]
    RuleFailed { message: String },
    #[error("a rule could not be checked: {detail} (rule: {message})")]
    RuleError { message: String, detail: String },
    /// The upstream claims pass a limit of [`bounds`]; nothing was
    /// evaluated.
    #[error("the upstream claim `{claim}` {detail}")]
    ClaimsTooLarge { claim: String, detail: String },
}

/// Where a claim's expression came from, for `explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Default,
    Source,
    Target,
}

#[derive(Debug)]
pub struct MappedClaim {
    pub name: String,
    pub ty: ClaimType,
    pub expr: Arc<Expression>,
    pub origin: Origin,
}

#[derive(Debug)]
pub struct Rule {
    pub expr: Arc<Expression>,
    pub message: String,
    pub origin: Origin,
}

/// The effective mapping of one (source, target) pair.
#[derive(Debug, Default)]
pub struct Mapping {
    pub claims: Vec<MappedClaim>,
    pub rules: Vec<Rule>,
}

pub static DEFAULT_EMAIL: LazyLock<Arc<Expression>> = LazyLock::new(|| {
    Arc::new(
        Expression::compile("has(claims.email) ? claims.email : null").expect("default compiles"),
    )
});

pub static DEFAULT_NAME: LazyLock<Arc<Expression>> = LazyLock::new(|| {
    Arc::new(
        Expression::compile(
            "has(claims.name) && claims.name != '' ? claims.name \
             : has(claims.email) ? claims.email.split('@')[0] : null",
        )
        .expect("default compiles"),
    )
});

/// Upstream claims, as a token carries them.
type Claims = serde_json::Map<String, serde_json::Value>;

/// What an expression may read besides the claims.
#[derive(Debug, Clone, Default)]
pub struct Vars<'a> {
    pub source_name: &'a str,
    pub source_kind: &'a str,
    pub source_issuer: Option<&'a str>,
    pub target_name: &'a str,
    pub target_kind: &'a str,
    pub request_ip: Option<&'a str>,
    pub request_brand_id: Option<&'a str>,
    pub request_locale_id: Option<&'a str>,
}

/// One evaluated step, for `explain`.
#[derive(Debug)]
pub enum Step<'m> {
    Rule(&'m Rule, Result<(), MappingError>),
    Claim(
        &'m MappedClaim,
        Result<Option<serde_json::Value>, MappingError>,
    ),
}

impl Mapping {
    /// Evaluates every rule, then every claim; stops at the first failure.
    ///
    /// Claims that read one upstream claim as is (`claims.sub`) and the
    /// built-in defaults are computed straight from the JSON, with the same
    /// results as CEL (a test compares the two); the CEL context is built
    /// only when some expression needs it.
    pub fn evaluate<'v>(
        &self,
        claims: &'v serde_json::Map<String, serde_json::Value>,
        vars: &Vars<'v>,
    ) -> Result<serde_json::Map<String, serde_json::Value>, MappingError> {
        self.evaluate_with(claims, vars, true)
    }

    fn evaluate_with<'v>(
        &self,
        claims: &'v serde_json::Map<String, serde_json::Value>,
        vars: &Vars<'v>,
        shortcuts: bool,
    ) -> Result<serde_json::Map<String, serde_json::Value>, MappingError> {
        // Before anything, shortcut or CEL, so both refuse alike.
        bounds::check(claims)?;
        let mut ctx: Option<Context<'v, 'v>> = None;
        for rule in &self.rules {
            check_rule(
                ctx.get_or_insert_with(|| context(claims, vars)),
                rule,
                claims,
            )?;
        }
        let mut out = serde_json::Map::new();
        for claim in &self.claims {
            let direct = if shortcuts {
                shortcut(claim, claims)
            } else {
                None
            };
            let value = match direct {
                Some(result) => result?,
                None => eval_claim(
                    ctx.get_or_insert_with(|| context(claims, vars)),
                    claim,
                    claims,
                )?,
            };
            if let Some(v) = value {
                out.insert(claim.name.clone(), v);
            }
        }
        Ok(out)
    }

    /// Evaluates every rule and claim without stopping, handing each step
    /// to `on_step` (`explain` reports them all), with CEL for every
    /// expression; the result is [`Self::evaluate`]'s: the mapped claims or
    /// the first failure, rules first.
    pub fn evaluate_steps<'m, 'v>(
        &'m self,
        claims: &'v serde_json::Map<String, serde_json::Value>,
        vars: &Vars<'v>,
        mut on_step: impl FnMut(&Step<'m>),
    ) -> Result<serde_json::Map<String, serde_json::Value>, MappingError> {
        let steps: Vec<Step<'m>> = match bounds::check(claims) {
            Err(e) => {
                let rules = self.rules.iter().map(|r| Step::Rule(r, Err(e.clone())));
                let mapped = self.claims.iter().map(|c| Step::Claim(c, Err(e.clone())));
                rules.chain(mapped).collect()
            }
            Ok(()) => {
                let ctx = context(claims, vars);
                let rules = self
                    .rules
                    .iter()
                    .map(|r| Step::Rule(r, check_rule(&ctx, r, claims)));
                let mapped = self
                    .claims
                    .iter()
                    .map(|c| Step::Claim(c, eval_claim(&ctx, c, claims)));
                rules.chain(mapped).collect()
            }
        };
        let mut out = serde_json::Map::new();
        let mut first_error = None;
        for step in &steps {
            on_step(step);
            match step {
                Step::Rule(_, Err(e)) | Step::Claim(_, Err(e)) => {
                    first_error.get_or_insert_with(|| e.clone());
                }
                Step::Claim(c, Ok(Some(v))) => {
                    out.insert(c.name.clone(), v.clone());
                }
                Step::Rule(_, Ok(())) | Step::Claim(_, Ok(None)) => {}
            }
        }
        first_error.map_or(Ok(out), Err)
    }

    pub fn has_claim(&self, name: &str) -> bool {
        self.claims.iter().any(|c| c.name == name)
    }
}

/// The evaluation context: the claims and the other variables are
/// borrowed, never copied, for the life of one evaluation.
/// A link key (`[target.link] key`): `expr` over the verified claims, as
/// a string; a number is written in decimal, `null` means "no key".
pub fn evaluate_key(
    expr: &Expression,
    claims: &serde_json::Map<String, serde_json::Value>,
    vars: &Vars<'_>,
) -> Result<Option<String>, MappingError> {
    bounds::check(claims)?;
    let ctx = context(claims, vars);
    let claim = "link key";
    match expr.program.execute(&ctx) {
        Ok(Value::Null) => Ok(None),
        Ok(Value::String(s)) if s.is_empty() => Ok(None),
        Ok(Value::String(s)) => Ok(Some(s.as_ref().clone())),
        Ok(Value::Int(i)) => Ok(Some(i.to_string())),
        Ok(Value::UInt(u)) => Ok(Some(u.to_string())),
        Ok(other) => Err(MappingError::ClaimInvalid {
            claim: claim.into(),
            expected: "a string, a whole number or null".into(),
            found: self::cel::type_name(&other).into(),
        }),
        Err(ExecutionError::NoSuchKey(key)) => Err(MappingError::ClaimMissing {
            claim: claim.into(),
            upstream: key.as_ref().clone(),
        }),
        Err(e) => Err(MappingError::Evaluation {
            claim: claim.into(),
            reason: log_failure("link key", claim, expr, &e, claims),
        }),
    }
}

fn context<'v>(
    claims: &'v serde_json::Map<String, serde_json::Value>,
    vars: &Vars<'v>,
) -> Context<'v, 'v> {
    let mut ctx = Context::with_env(self::cel::ENV.clone());
    ctx.add_variable_as_val("claims", Box::new(self::cel::map_val(claims)));
    ctx.add_variable_as_val(
        "source",
        Box::new(self::cel::string_map_val(&[
            ("name", Some(vars.source_name)),
            ("kind", Some(vars.source_kind)),
            ("issuer", vars.source_issuer),
        ])),
    );
    ctx.add_variable_as_val(
        "target",
        Box::new(self::cel::string_map_val(&[
            ("name", Some(vars.target_name)),
            ("kind", Some(vars.target_kind)),
        ])),
    );
    ctx.add_variable_as_val(
        "request",
        Box::new(self::cel::string_map_val(&[
            ("ip", vars.request_ip),
            ("brand_id", vars.request_brand_id),
            ("locale_id", vars.request_locale_id),
        ])),
    );
    ctx
}

fn check_rule(ctx: &Context<'_, '_>, rule: &Rule, claims: &Claims) -> Result<(), MappingError> {
    match rule.expr.program.execute(ctx) {
        Ok(Value::Bool(true)) => Ok(()),
        Ok(Value::Bool(false)) => Err(MappingError::RuleFailed {
            message: rule.message.clone(),
        }),
        Ok(other) => Err(MappingError::RuleError {
            message: rule.message.clone(),
            detail: format!(
                "the rule gave {} instead of a bool",
                self::cel::type_name(&other)
            ),
        }),
        Err(ExecutionError::NoSuchKey(key)) => Err(MappingError::RuleError {
            message: rule.message.clone(),
            detail: format!("the token has no claim `{key}` (use has() to test for it)"),
        }),
        Err(e) => {
            log_failure("rule", &rule.message, &rule.expr, &e, claims);
            Err(MappingError::RuleError {
                message: rule.message.clone(),
                detail: "its expression failed (zenbridge's log says why)".into(),
            })
        }
    }
}

/// Logs why an expression failed, for the operator: what failed in words,
/// with types but no values (no claim reaches the log), and the
/// expression, which is config; a suggestion may name a claim of the
/// token (`string(claims.num)`), never its value. Returns the reason.
fn log_failure(
    what: &str,
    name: &str,
    expr: &Expression,
    e: &ExecutionError,
    claims: &Claims,
) -> String {
    let read = synthetic::claims_read(expr.program.expression());
    let (reason, fix) = synthetic::explain(e, claims, &read);
    let fix = fix.map(|f| format!("; {f}")).unwrap_or_default();
    tracing::warn!(
        expression = %expr.text,
        "{what} `{name}`: the mapping's expression failed on this token: {reason}{fix}"
    );
    reason
}

fn eval_claim(
    ctx: &Context<'_, '_>,
    claim: &MappedClaim,
    claims: &Claims,
) -> Result<Option<serde_json::Value>, MappingError> {
    match claim.expr.program.execute(ctx) {
        Ok(v) => claims::coerce(&claim.name, claim.ty, &v),
        Err(ExecutionError::NoSuchKey(key)) => Err(MappingError::ClaimMissing {
            claim: claim.name.clone(),
            upstream: key.as_ref().clone(),
        }),
        Err(e) => Err(MappingError::Evaluation {
            claim: claim.name.clone(),
            reason: log_failure("claim", &claim.name, &claim.expr, &e, claims),
        }),
    }
}

/// The result of a claim computed without CEL, or `None` when CEL must
/// run. Only shapes whose CEL result is plain are taken: a bare
/// `claims.<name>`, and the defaults when the claims they read are absent
/// or strings (anything odder goes to CEL, so the answers stay the same).
fn shortcut(
    claim: &MappedClaim,
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Option<Result<Option<serde_json::Value>, MappingError>> {
    use serde_json::Value as J;
    let coerce = |v: &J| json_scalar(v).map(|cv| claims::coerce(&claim.name, claim.ty, &cv));
    if Arc::ptr_eq(&claim.expr, &DEFAULT_EMAIL) {
        return match claims.get("email") {
            None => Some(Ok(None)),
            Some(v @ J::String(_)) => coerce(v),
            Some(_) => None,
        };
    }
    if Arc::ptr_eq(&claim.expr, &DEFAULT_NAME) {
        return match (claims.get("name"), claims.get("email")) {
            (Some(v @ J::String(n)), _) if !n.is_empty() => coerce(v),
            (None | Some(J::String(_)), None) => Some(Ok(None)),
            (None | Some(J::String(_)), Some(J::String(e))) => {
                let local = e.split('@').next().unwrap_or_default();
                coerce(&J::String(local.to_owned()))
            }
            _ => None,
        };
    }
    let ::cel::common::ast::Expr::Select(select) = &claim.expr.program.expression().expr else {
        return None;
    };
    if select.test
        || !matches!(&select.operand.expr, ::cel::common::ast::Expr::Ident(n) if n == "claims")
    {
        return None;
    }
    match claims.get(&select.field) {
        None => Some(Err(MappingError::ClaimMissing {
            claim: claim.name.clone(),
            upstream: select.field.clone(),
        })),
        Some(v) => coerce(v),
    }
}

/// A JSON value as the CEL value `claims.x` would give, for the values a
/// shortcut passes on (lists and maps go to CEL).
fn json_scalar(v: &serde_json::Value) -> Option<Value> {
    Some(match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::UInt(u),
            _ => Value::Float(n.as_f64()?),
        },
        serde_json::Value::String(s) => Value::String(Arc::new(s.clone())),
        serde_json::Value::Array(_) | serde_json::Value::Object(_) => return None,
    })
}

/// A source's or a target's own claims (by Zendesk claim name) and rules
/// (expression, message), as the config holds them.
pub type Part<'a> = (
    &'a BTreeMap<String, Arc<Expression>>,
    &'a [(Arc<Expression>, String)],
);

impl Mapping {
    /// The mapping of a (source, target) pair: for each claim the
    /// target's surface reads, the target's expression, else the source's,
    /// else the default (email and name). Source claims the surface does
    /// not read are dropped (a source can feed several surfaces). Rules:
    /// the source's, then the target's.
    pub fn effective(kind: TargetKind, source: Part<'_>, target: Part<'_>) -> Mapping {
        let mut claims = Vec::new();
        for &(name, ty) in kind.catalog() {
            let (expr, origin) = if let Some(e) = target.0.get(name) {
                (e.clone(), Origin::Target)
            } else if let Some(e) = source.0.get(name) {
                (e.clone(), Origin::Source)
            } else if name == "email" {
                (DEFAULT_EMAIL.clone(), Origin::Default)
            } else if name == "name" {
                (DEFAULT_NAME.clone(), Origin::Default)
            } else {
                continue;
            };
            claims.push(MappedClaim {
                name: name.to_owned(),
                ty,
                expr,
                origin,
            });
        }
        let rules = source
            .1
            .iter()
            .map(|(e, m)| (e, m, Origin::Source))
            .chain(target.1.iter().map(|(e, m)| (e, m, Origin::Target)))
            .map(|(e, m, origin)| Rule {
                expr: e.clone(),
                message: m.clone(),
                origin,
            })
            .collect();
        Mapping { claims, rules }
    }
}

#[cfg(test)]
mod tests;
