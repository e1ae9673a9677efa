//! A dry run of every expression when the config loads, against a
//! synthetic claim set, so that an expression that would fail on every
//! token (`'legacy|' + claims.iat`: a string plus an int) is a config
//! problem, not a `claim_invalid` on every request.
//!
//! The claim set holds the claims OpenID Connect providers send, with
//! their standard types ([`STANDARD`]: `sub`, `email`, `name` … strings,
//! `email_verified` a bool, `iat`, `exp` … ints, `groups`, `roles`, `amr`
//! lists of strings, `aud` a string or a list, `address` a map). Any other
//! claim an expression reads is *dynamic*: it is tried as a string, an
//! int, a double, a bool, a list of strings and a map, and the expression
//! is refused only when it fails whatever they are. Only failures of type
//! count (an operator or function that has no overload for these types, a
//! result of the wrong type): a missing key, an index out of range, a
//! function refusing a value (`int('en')`) depend on the token, and pass.
//! So the check never refuses an expression that works for some token of
//! these shapes; it can miss one that fails only on a branch a claim set
//! of these shapes does not take.

use cel::ExecutionError;
use cel::Value;
use cel::common::ast::{Expr, IdedExpr};
use serde_json::{Value as J, json};

use super::{ClaimType, Expression, Vars};

/// What the dry run found: the expression fails on every claim set tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub message: String,
    pub suggestion: Option<String>,
}

/// The standard claims and the shapes they are tried with: the first is
/// the one shown in messages.
pub const STANDARD: &[(&str, &[Shape])] = &[
    ("iss", &[Shape::Str("https://idp.example.com/")]),
    ("sub", &[Shape::Str("user-123")]),
    (
        "aud",
        &[Shape::Str("zenbridge"), Shape::StrList(&["zenbridge"])],
    ),
    ("azp", &[Shape::Str("zenbridge")]),
    ("nonce", &[Shape::Str("n-0S6_WzA2Mj")]),
    ("sid", &[Shape::Str("08a5019c")]),
    ("acr", &[Shape::Str("1")]),
    ("amr", &[Shape::StrList(&["pwd"])]),
    ("iat", &[Shape::Int(1_700_000_000)]),
    ("exp", &[Shape::Int(1_700_000_300)]),
    ("nbf", &[Shape::Int(1_700_000_000)]),
    ("auth_time", &[Shape::Int(1_699_999_990)]),
    ("updated_at", &[Shape::Int(1_690_000_000)]),
    ("email", &[Shape::Str("ann@example.com")]),
    ("email_verified", &[Shape::Bool(true)]),
    ("phone_number", &[Shape::Str("+15555550100")]),
    ("phone_number_verified", &[Shape::Bool(true)]),
    ("name", &[Shape::Str("Ann Example")]),
    ("given_name", &[Shape::Str("Ann")]),
    ("family_name", &[Shape::Str("Example")]),
    ("middle_name", &[Shape::Str("B")]),
    ("nickname", &[Shape::Str("ann")]),
    ("preferred_username", &[Shape::Str("ann")]),
    ("profile", &[Shape::Str("https://example.com/ann")]),
    ("picture", &[Shape::Str("https://example.com/ann.png")]),
    ("website", &[Shape::Str("https://example.com")]),
    ("gender", &[Shape::Str("female")]),
    ("birthdate", &[Shape::Str("1990-01-01")]),
    ("zoneinfo", &[Shape::Str("Europe/Paris")]),
    ("locale", &[Shape::Str("en-US")]),
    (
        "address",
        &[Shape::StrMap(&[
            ("formatted", "1 Main St, Springfield"),
            ("street_address", "1 Main St"),
            ("locality", "Springfield"),
            ("region", "IL"),
            ("postal_code", "62701"),
            ("country", "US"),
        ])],
    ),
    ("groups", &[Shape::StrList(&["staff", "support"])]),
    ("roles", &[Shape::StrList(&["agent"])]),
    // Firebase, Google and Microsoft Entra.
    ("user_id", &[Shape::Str("user-123")]),
    ("hd", &[Shape::Str("example.com")]),
    ("oid", &[Shape::Str("00000000-0000-0000-0000-000000000001")]),
    ("tid", &[Shape::Str("00000000-0000-0000-0000-000000000002")]),
    ("upn", &[Shape::Str("ann@example.com")]),
];

/// The shapes a claim outside [`STANDARD`] is tried with.
const DYNAMIC: &[Shape] = &[
    Shape::Str("value"),
    Shape::Int(7),
    Shape::Double(1.5),
    Shape::Bool(true),
    Shape::StrList(&["value"]),
    Shape::StrMap(&[]),
];

/// Past this many dynamic claims in one expression (6⁴ runs), the dry run
/// is skipped rather than slow.
const MAX_DYNAMIC: usize = 4;

/// One JSON shape of a claim.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    Str(&'static str),
    Int(i64),
    Double(f64),
    Bool(bool),
    StrList(&'static [&'static str]),
    StrMap(&'static [(&'static str, &'static str)]),
}

impl Shape {
    fn json(self) -> J {
        match self {
            Shape::Str(s) => json!(s),
            Shape::Int(i) => json!(i),
            Shape::Double(d) => json!(d),
            Shape::Bool(b) => json!(b),
            Shape::StrList(l) => json!(l),
            Shape::StrMap(m) => J::Object(m.iter().map(|(k, v)| ((*k).into(), json!(v))).collect()),
        }
    }

    fn type_name(self) -> &'static str {
        match self {
            Shape::Str(_) => "a string",
            Shape::Int(_) => "an int",
            Shape::Double(_) => "a double",
            Shape::Bool(_) => "a bool",
            Shape::StrList(_) => "a list of strings",
            Shape::StrMap(_) => "a map",
        }
    }
}

/// What an expression's result must be.
#[derive(Debug, Clone, Copy)]
enum Wanted {
    Claim(ClaimType),
    Rule,
}

/// Runs a claim's expression; `Err` when it fails on every claim set.
pub fn check_claim(expr: &Expression, ty: ClaimType) -> Result<(), Finding> {
    dry_run(expr, Wanted::Claim(ty))
}

/// Runs a rule's expression; `Err` when it fails on every claim set.
pub fn check_rule(expr: &Expression) -> Result<(), Finding> {
    dry_run(expr, Wanted::Rule)
}

fn dry_run(expr: &Expression, wanted: Wanted) -> Result<(), Finding> {
    let read = claims_read(expr.program.expression());
    // The claims whose shape varies: dynamic ones, and standard ones of
    // several shapes (`aud`).
    let varying: Vec<(&str, &[Shape])> = read
        .iter()
        .map(|name| {
            let shapes = STANDARD
                .iter()
                .find(|(n, _)| n == name)
                .map_or(DYNAMIC, |(_, s)| *s);
            (name.as_str(), shapes)
        })
        .filter(|(_, shapes)| shapes.len() > 1)
        .collect();
    let dynamic = varying.iter().filter(|(_, s)| *s == DYNAMIC).count();
    if dynamic > MAX_DYNAMIC {
        return Ok(());
    }
    let mut base: serde_json::Map<String, J> = STANDARD
        .iter()
        .map(|(n, shapes)| ((*n).to_owned(), shapes[0].json()))
        .collect();
    let vars = Vars {
        source_name: "source",
        source_kind: "oidc",
        source_issuer: Some("https://idp.example.com/"),
        target_name: "target",
        target_kind: "sso",
        request_ip: Some("192.0.2.1"),
        request_brand_id: Some("360000000001"),
        request_locale_id: Some("1"),
    };
    let mut first = None;
    // Every combination of shapes, the first shape of each first.
    let mut pick = vec![0usize; varying.len()];
    loop {
        for ((name, shapes), &i) in varying.iter().zip(&pick) {
            base.insert((*name).to_owned(), shapes[i].json());
        }
        match run(expr, wanted, &base, &vars, &read) {
            None => return Ok(()),
            Some(f) => {
                first.get_or_insert(f);
            }
        }
        // The next combination, as an odometer.
        let mut k = 0;
        loop {
            let Some((_, shapes)) = varying.get(k) else {
                let f = first.unwrap_or_else(|| Finding {
                    message: "fails on every token".into(),
                    suggestion: None,
                });
                return Err(with_assumptions(f, &read, &varying));
            };
            pick[k] += 1;
            if pick[k] < shapes.len() {
                break;
            }
            pick[k] = 0;
            k += 1;
        }
    }
}

/// Runs the expression once: `None` when it passes or fails only in a
/// way that depends on the token's values.
fn run(
    expr: &Expression,
    wanted: Wanted,
    claims: &serde_json::Map<String, J>,
    vars: &Vars<'_>,
    read: &[String],
) -> Option<Finding> {
    let ctx = super::context(claims, vars);
    match expr.program.execute(&ctx) {
        Ok(v) => result_fits(wanted, &v),
        Err(e) if depends_on_values(&e) => None,
        Err(e) => {
            let (message, suggestion) = explain(&e, claims, read);
            Some(Finding {
                message,
                suggestion,
            })
        }
    }
}

/// `None` when a result of this type is right for `wanted`.
fn result_fits(wanted: Wanted, v: &Value) -> Option<Finding> {
    let fits = match (wanted, v) {
        (_, Value::Null) | (Wanted::Rule, Value::Bool(_)) => true,
        (Wanted::Rule, _) => false,
        (Wanted::Claim(ty), v) => match ty {
            ClaimType::String | ClaimType::Role => matches!(v, Value::String(_)),
            ClaimType::Integer => matches!(v, Value::Int(_) | Value::UInt(_) | Value::Float(_)),
            ClaimType::IntegerOrString => matches!(
                v,
                Value::Int(_) | Value::UInt(_) | Value::Float(_) | Value::String(_)
            ),
            ClaimType::StringList => {
                matches!(v, Value::List(l) if l.iter().all(|i| matches!(i, Value::String(_))))
            }
            ClaimType::Object => matches!(v, Value::Map(_)),
            ClaimType::Bool => matches!(v, Value::Bool(_)),
        },
    };
    if fits {
        return None;
    }
    let found = a(super::cel::type_name(v));
    Some(match wanted {
        Wanted::Rule => Finding {
            message: format!("the rule gives {found}"),
            suggestion: Some("a rule must give a bool: compare, e.g. claims.x == 'y'".into()),
        },
        Wanted::Claim(ty) => Finding {
            message: format!(
                "the expression gives {found}; the claim must be {}",
                ty.describe()
            ),
            suggestion: conversion(ty),
        },
    })
}

/// How to turn a value into `ty`, when a conversion does it.
fn conversion(ty: ClaimType) -> Option<String> {
    match ty {
        ClaimType::String | ClaimType::Role => Some("convert with string(…)".into()),
        ClaimType::Integer => Some("convert with int(…)".into()),
        _ => None,
    }
}

/// Errors that a claim set of other values could avoid: they say nothing
/// about the expression's types.
fn depends_on_values(e: &ExecutionError) -> bool {
    matches!(
        e,
        ExecutionError::NoSuchKey(_)
            | ExecutionError::IndexOutOfBounds(_)
            | ExecutionError::FunctionError { .. }
            | ExecutionError::DivisionByZero(_)
            | ExecutionError::RemainderByZero(_)
            | ExecutionError::Overflow(..)
            | ExecutionError::DuplicateKey(_)
            | ExecutionError::InternalError(_)
    )
}

/// The claims an expression reads by name: `claims.x`, `has(claims.x)`,
/// `claims['x']`, `claims.?x`, `'x' in claims`.
pub(crate) fn claims_read(e: &IdedExpr) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let is_claims = |e: &IdedExpr| matches!(&e.expr, Expr::Ident(n) if n == "claims");
    let literal = |e: &IdedExpr| match &e.expr {
        Expr::Literal(cel::common::ast::LiteralValue::String(s)) => Some(s.inner().to_owned()),
        _ => None,
    };
    super::cel::visit(e, &mut |e| {
        let name = match &e.expr {
            Expr::Select(s) if is_claims(&s.operand) => Some(s.field.clone()),
            Expr::Call(c) if c.target.is_none() && c.args.len() == 2 => {
                match (c.func_name.as_str(), c.args.first(), c.args.get(1)) {
                    ("@in", Some(key), Some(map)) if is_claims(map) => literal(key),
                    (_, Some(map), Some(key)) if is_claims(map) => literal(key),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(n) = name
            && !out.contains(&n)
        {
            out.push(n);
        }
    });
    out
}

/// Says which shapes the claims read were given.
fn with_assumptions(mut f: Finding, read: &[String], varying: &[(&str, &[Shape])]) -> Finding {
    let shown: Vec<String> = read
        .iter()
        .map(|name| match varying.iter().find(|(n, _)| n == name) {
            Some((_, shapes)) if *shapes == DYNAMIC => format!("{name} of any type"),
            Some((_, shapes)) => format!(
                "{name} {}",
                shapes
                    .iter()
                    .map(|s| s.type_name())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            None => {
                let ty = STANDARD
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or("", |(_, s)| s[0].type_name());
                format!("{name} {ty}")
            }
        })
        .collect();
    f.message = if shown.is_empty() {
        format!("fails on every token: {}", f.message)
    } else {
        format!(
            "fails on every token: {} (tried with claims as providers send them: {})",
            f.message,
            shown.join(", ")
        )
    };
    f
}

/// "a string", "an int".
fn a(t: &str) -> String {
    let t = match t {
        "null_type" => "null",
        "list_type" => "list",
        "map_type" => "map",
        other => other,
    };
    if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {t}")
    } else {
        format!("a {t}")
    }
}

/// An operator as written, from the name the parser gives it.
fn operator(name: &str) -> Option<&'static str> {
    Some(match name {
        "add" | "_+_" => "+",
        "sub" | "_-_" => "-",
        "mul" | "_*_" => "*",
        "div" | "_/_" => "/",
        "rem" | "_%_" => "%",
        "_<_" => "<",
        "_<=_" => "<=",
        "_>_" => ">",
        "_>=_" => ">=",
        "_==_" => "==",
        "_!=_" => "!=",
        "_&&_" => "&&",
        "_||_" => "||",
        "!_" => "!",
        "-_" => "unary -",
        "@in" => "in",
        "_[_]" => "[…]",
        _ => return None,
    })
}

fn is_number(t: &str) -> bool {
    matches!(t, "int" | "uint" | "double")
}

/// A CEL runtime error in words: what failed, with types but never
/// values (the values are a token's claims), and what to write instead
/// when a conversion would do. `claims` names, in a suggestion, a claim
/// of the type to convert (`string(claims.iat)`).
pub fn explain(
    e: &ExecutionError,
    claims: &serde_json::Map<String, J>,
    read: &[String],
) -> (String, Option<String>) {
    let typed = |v: &Value| super::cel::type_name(v).to_owned();
    let (op, types, member) = match e {
        ExecutionError::UnsupportedBinaryOperator(op, l, r) => {
            (Some((*op).to_owned()), vec![typed(l), typed(r)], false)
        }
        ExecutionError::NoSuchOverload(o) => (
            Some(o.function().to_owned()),
            o.argument_types().to_vec(),
            o.is_member_function(),
        ),
        _ => (None, Vec::new(), false),
    };
    if let Some(op) = op {
        return overload(&op, &types, member, claims, read);
    }
    let s = |m: String| (m, None);
    match e {
        ExecutionError::UnexpectedType { got, want } if want == "bool" => (
            format!("a condition is {}; it must be a bool", a(got)),
            Some("compare, e.g. claims.x == 'y'".into()),
        ),
        ExecutionError::UnexpectedType { got, want } => {
            s(format!("found {} where {} is needed", a(got), a(want)))
        }
        ExecutionError::ValuesNotComparable(l, r) => s(format!(
            "{} cannot be compared with {}",
            a(&typed(l)),
            a(&typed(r))
        )),
        ExecutionError::UnsupportedIndex(i, v) => s(format!(
            "{} cannot be indexed with {}",
            a(&typed(v)),
            a(&typed(i))
        )),
        ExecutionError::UnsupportedKeyType(v) => s(format!("{} cannot be a map key", a(&typed(v)))),
        ExecutionError::UnsupportedTargetType { target } => {
            s(format!("a function cannot take {}", a(&typed(target))))
        }
        ExecutionError::NotSupportedAsMethod { method, target } => s(format!(
            "`{method}()` cannot be called on {}",
            a(&typed(target))
        )),
        ExecutionError::InvalidArgumentCount { expected, actual } => s(format!(
            "a function is called with {actual} arguments; it takes {expected}"
        )),
        ExecutionError::UndeclaredReference(n) => s(format!("`{n}` is not defined")),
        ExecutionError::NoSuchKey(k) => s(format!("the token has no claim `{k}`")),
        ExecutionError::IndexOutOfBounds(_) => s("an index is out of range".into()),
        ExecutionError::DivisionByZero(_) | ExecutionError::RemainderByZero(_) => {
            s("a division by zero".into())
        }
        ExecutionError::Overflow(op, ..) => {
            s(format!("`{}` overflowed", operator(op).unwrap_or(op)))
        }
        ExecutionError::FunctionError { function, message } => {
            s(format!("`{function}` failed: {}", shorten(message)))
        }
        ExecutionError::DuplicateKey(_) => s("a map repeats a key".into()),
        _ => s("the expression failed".into()),
    }
}

/// No overload of `op` for `types` (the target first for a method).
fn overload(
    op: &str,
    types: &[String],
    member: bool,
    claims: &serde_json::Map<String, J>,
    read: &[String],
) -> (String, Option<String>) {
    let shown: Vec<String> = types.iter().map(|t| a(t)).collect();
    let (l, r) = (
        types.first().map_or("", String::as_str),
        types.get(1).map_or("", String::as_str),
    );
    let Some(sym) = operator(op) else {
        let message = if member {
            format!(
                "`{op}()` cannot be called on {}{}",
                shown.first().map_or("this", String::as_str),
                if shown.len() > 1 {
                    format!(" with {}", shown[1..].join(", "))
                } else {
                    String::new()
                }
            )
        } else {
            format!("`{op}(…)` cannot take {}", shown.join(", "))
        };
        return (message, None);
    };
    let message = match sym {
        "!" | "unary -" => format!("`{sym}` cannot take {}", shown.join("")),
        "[…]" => format!("{} cannot be indexed with {}", a(l), a(r)),
        "in" => format!("`in` cannot look for {} in {}", a(l), a(r)),
        "+" | "-" | "*" | "/" | "%" => format!("`{sym}` cannot combine {} and {}", a(l), a(r)),
        _ => format!("`{sym}` cannot compare {} and {}", a(l), a(r)),
    };
    let other = if l == "string" { r } else { l };
    let suggestion = match sym {
        "+" if (l == "string") != (r == "string") && (is_number(other) || other == "bool") => {
            Some(match claim_of_type(claims, read, other) {
                Some(c) => format!("convert the {other} with string(…), e.g. string(claims.{c})"),
                None => format!("convert the {other} with string(…)"),
            })
        }
        "+" if l == "list" => Some("to add an item to a list, write list + [item]".into()),
        "<" | "<=" | ">" | ">=" | "==" | "!=" if l == "string" || r == "string" => {
            Some("convert one side: int(…) or string(…)".into())
        }
        _ if is_number(l) && is_number(r) => Some(
            "CEL does not mix int, uint and double: convert one side with int(…), uint(…) or double(…)"
                .into(),
        ),
        "&&" | "||" | "!" => Some("a condition must be a bool: compare, e.g. claims.x == 'y'".into()),
        "[…]" if l == "string" => Some("use charAt(i) or substring(from, to)".into()),
        "in" => Some("`in` needs a list or a map on its right".into()),
        _ => None,
    };
    (message, suggestion)
}

/// A claim the expression reads whose value has the CEL type `t`, for a
/// suggestion.
fn claim_of_type<'r>(
    claims: &serde_json::Map<String, J>,
    read: &'r [String],
    t: &str,
) -> Option<&'r str> {
    let wanted = |v: &J| match t {
        "int" => v.is_i64(),
        "uint" => v.is_u64() && !v.is_i64(),
        "double" => v.is_f64(),
        "bool" => v.is_boolean(),
        _ => false,
    };
    read.iter()
        .find(|name| claims.get(name.as_str()).is_some_and(wanted))
        .map(String::as_str)
}

fn shorten(s: &str) -> String {
    let first = s.lines().next().unwrap_or_default();
    if first.chars().count() > 120 {
        format!("{}…", first.chars().take(120).collect::<String>())
    } else {
        first.to_owned()
    }
}
