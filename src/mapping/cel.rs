//! The CEL environment zenbridge evaluates mappings in, and the conversions
//! between JSON claims and CEL values.
//!
//! The environment is the CEL standard library plus the Kubernetes-style
//! string extension (`split`, `lowerAscii`, `upperAscii`, `replace`, `trim`,
//! `join`, `indexOf`, `lastIndexOf`, `substring`, `charAt`, `format`,
//! `reverse`, and the namespaced `strings.quote`), which the `cel` crate
//! ships and we register.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock};

use cel::common::ast::{EntryExpr, Expr, IdedExpr};
use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt,
};
use cel::common::value::Val;
use cel::objects::Key;
use cel::{Env, Program, Value};

/// The only variables an expression may read.
pub const VARIABLES: [&str; 4] = ["claims", "source", "target", "request"];

pub static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    env.add_extension(cel::extensions::strings)
        .expect("the strings extension declares no conflicting overloads");
    Arc::new(env)
});

/// A compiled expression, kept with its text for messages.
pub struct Expression {
    pub text: String,
    pub program: Program,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Expression").field(&self.text).finish()
    }
}

impl Expression {
    /// Parses `text` and checks that it reads no variable besides
    /// [`VARIABLES`] (comprehension variables such as `g` in
    /// `claims.groups.exists(g, g == 'x')` are bound, so allowed).
    pub fn compile(text: &str) -> Result<Self, String> {
        let program = ENV
            .compile(text)
            .map_err(|e| format!("CEL syntax error: {}", e.to_string().trim()))?;
        let mut free = BTreeSet::new();
        free_variables(program.expression(), &mut Vec::new(), &mut free);
        let unknown: Vec<_> = free
            .into_iter()
            .filter(|v| !VARIABLES.contains(&v.as_str()))
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "CEL expression reads {}; only {} are defined",
                unknown
                    .iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                VARIABLES.join(", ")
            ));
        }
        Ok(Self {
            text: text.to_owned(),
            program,
        })
    }
}

/// Collects the identifiers an expression reads that no enclosing
/// comprehension binds.
fn free_variables(e: &IdedExpr, bound: &mut Vec<String>, out: &mut BTreeSet<String>) {
    match &e.expr {
        Expr::Ident(name) => {
            if !bound.iter().any(|b| b == name) {
                out.insert(name.clone());
            }
        }
        Expr::Call(call) => {
            // `strings.quote(x)` parses as a call of `quote` on the
            // identifier `strings`; the environment calls the function
            // `strings.quote` instead, so `strings` is a namespace there,
            // not a variable.
            if let Some(t) = &call.target
                && !names_function(t, &call.func_name)
            {
                free_variables(t, bound, out);
            }
            for a in &call.args {
                free_variables(a, bound, out);
            }
        }
        Expr::Comprehension(c) => {
            free_variables(&c.iter_range, bound, out);
            free_variables(&c.accu_init, bound, out);
            let before = bound.len();
            bound.push(c.iter_var.clone());
            if let Some(v) = &c.iter_var2 {
                bound.push(v.clone());
            }
            bound.push(c.accu_var.clone());
            free_variables(&c.loop_cond, bound, out);
            free_variables(&c.loop_step, bound, out);
            free_variables(&c.result, bound, out);
            bound.truncate(before);
        }
        Expr::List(l) => {
            for el in &l.elements {
                free_variables(el, bound, out);
            }
        }
        Expr::Map(m) => {
            for entry in &m.entries {
                if let EntryExpr::MapEntry(me) = &entry.expr {
                    free_variables(&me.key, bound, out);
                    free_variables(&me.value, bound, out);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &s.entries {
                match &entry.expr {
                    EntryExpr::StructField(f) => free_variables(&f.value, bound, out),
                    EntryExpr::MapEntry(me) => {
                        free_variables(&me.key, bound, out);
                        free_variables(&me.value, bound, out);
                    }
                }
            }
        }
        Expr::Select(s) => free_variables(&s.operand, bound, out),
        Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// Whether a call of `func` on `target` calls a namespaced function of
/// [`ENV`]: `target` spells a qualified name (`strings`, or `a.b`) that,
/// with `func`, names one (`strings.quote`). The `cel` crate decides so by
/// the name alone, before it looks for a variable, and so does this.
fn names_function(target: &IdedExpr, func: &str) -> bool {
    qualified_name(&target.expr).is_some_and(|ns| is_function(&format!("{ns}.{func}")))
}

/// The dotted name an identifier, or a chain of field selections on one,
/// spells; `None` for anything else (a `has()` test included), and for
/// names that are not plain identifiers.
fn qualified_name(e: &Expr) -> Option<String> {
    let plain = |s: &str| {
        s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    match e {
        Expr::Ident(name) if plain(name) => Some(name.clone()),
        Expr::Select(s) if !s.test && plain(&s.field) => {
            Some(format!("{}.{}", qualified_name(&s.operand.expr)?, s.field))
        }
        _ => None,
    }
}

/// Whether [`ENV`] declares a function named `name` (`strings.quote`).
/// The `cel` crate does not say so directly: the answer is read from a
/// call of it without arguments, evaluated with no variable. A declared
/// function runs, or refuses the arguments; an undeclared one leaves the
/// namespace to be read as a variable, which does not exist.
fn is_function(name: &str) -> bool {
    let Ok(program) = ENV.compile(&format!("{name}()")) else {
        return false;
    };
    let ctx = cel::Context::with_env(ENV.clone());
    !matches!(
        program.execute(&ctx),
        Err(cel::ExecutionError::UndeclaredReference(_))
    )
}

/// JSON → a CEL value that borrows the JSON's strings: no copy of the
/// claims per request, one allocation per map, list and node. Whole
/// numbers become `int` (or `uint` above `i64::MAX`), others `double`.
pub fn json_val<'v>(v: &'v serde_json::Value) -> Box<dyn Val + 'v> {
    match v {
        serde_json::Value::Null => Box::new(CelNull),
        serde_json::Value::Bool(b) => Box::new(CelBool::from(*b)),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Box::new(CelInt::from(i))
            } else if let Some(u) = n.as_u64() {
                Box::new(CelUInt::from(u))
            } else {
                Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN)))
            }
        }
        serde_json::Value::String(s) => Box::new(CelString::from(s.as_str())),
        serde_json::Value::Array(a) => {
            Box::new(CelList::from(a.iter().map(json_val).collect::<Vec<_>>()))
        }
        serde_json::Value::Object(o) => Box::new(map_val(o)),
    }
}

/// A JSON object as a borrowed CEL map (see [`json_val`]).
pub fn map_val(o: &serde_json::Map<String, serde_json::Value>) -> CelMap<'_> {
    CelMap::from(
        o.iter()
            .map(|(k, v)| (CelMapKey::from(k.as_str()), json_val(v)))
            .collect::<HashMap<_, _>>(),
    )
}

/// A borrowed CEL map of strings, for `source`, `target` and `request`.
pub fn string_map_val<'v>(pairs: &[(&'v str, Option<&'v str>)]) -> CelMap<'v> {
    CelMap::from(
        pairs
            .iter()
            .filter_map(|(k, v)| {
                v.map(|v| {
                    (
                        CelMapKey::from(*k),
                        Box::new(CelString::from(v)) as Box<dyn Val + 'v>,
                    )
                })
            })
            .collect::<HashMap<_, _>>(),
    )
}

/// The CEL type name of a value, for messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::List(_) => "list",
        Value::Map(_) => "map",
        Value::Function(..) => "function",
        Value::Int(_) => "int",
        Value::UInt(_) => "uint",
        Value::Float(_) => "double",
        Value::String(_) => "string",
        Value::Bytes(_) => "bytes",
        Value::Bool(_) => "bool",
        Value::Duration(_) => "duration",
        Value::Timestamp(_) => "timestamp",
        Value::Opaque(_) => "opaque",
        Value::Struct(_) => "struct",
        Value::Null => "null",
    }
}

/// CEL → JSON, for values whose target type is an object (`user_fields`).
/// Durations, timestamps and other non-JSON values are refused.
pub fn to_json(v: &Value) -> Result<serde_json::Value, &'static str> {
    Ok(match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::UInt(u) => serde_json::Value::from(*u),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .ok_or("a non-finite number")?,
        Value::String(s) => serde_json::Value::String(s.as_ref().clone()),
        Value::List(l) => {
            serde_json::Value::Array(l.iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Value::Map(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m.map.iter() {
                let key = match k {
                    Key::String(s) => s.as_ref().clone(),
                    Key::Int(i) => i.to_string(),
                    Key::Uint(u) => u.to_string(),
                    Key::Bool(b) => b.to_string(),
                };
                out.insert(key, to_json(v)?);
            }
            serde_json::Value::Object(out)
        }
        other => return Err(type_name(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comprehension_variables_are_not_free() {
        Expression::compile("claims.groups.exists(g, g == 'support')").unwrap();
        Expression::compile("claims.groups.map(g, g.upperAscii())").unwrap();
    }

    #[test]
    fn unknown_variables_are_refused_with_their_names() {
        let err = Expression::compile("user.email + claim.x").unwrap_err();
        assert!(err.contains("`claim`") && err.contains("`user`"), "{err}");
    }

    #[test]
    fn a_namespaced_function_is_not_a_variable() {
        let e = Expression::compile("strings.quote(claims.name)").unwrap();
        let claims = serde_json::json!({"name": "Ada \"the\" Countess"});
        let mut ctx = cel::Context::with_env(ENV.clone());
        ctx.add_variable_as_val("claims", Box::new(map_val(claims.as_object().unwrap())));
        assert_eq!(
            e.program.execute(&ctx).unwrap(),
            Value::String(Arc::new(r#""Ada \"the\" Countess""#.to_owned()))
        );
        Expression::compile("optional.of(claims.name).orValue('x')").unwrap();
    }

    #[test]
    fn an_unknown_function_on_a_namespace_leaves_it_a_variable() {
        assert!(is_function("strings.quote"));
        assert!(!is_function("strings.nope"));
        assert!(!is_function("user.quote"));
        let err = Expression::compile("strings.nope(claims.name)").unwrap_err();
        assert!(err.contains("`strings`"), "{err}");
        let err = Expression::compile("user.quote(claims.name)").unwrap_err();
        assert!(err.contains("`user`"), "{err}");
        // No function `claims.name.quote`: a call of `quote` on a claim,
        // which compiles (`claims` is a variable) and fails when run.
        Expression::compile("claims.name.quote()").unwrap();
    }

    #[test]
    fn syntax_errors_are_refused() {
        let err = Expression::compile("claims.email +").unwrap_err();
        assert!(err.starts_with("CEL syntax error"), "{err}");
    }
}
