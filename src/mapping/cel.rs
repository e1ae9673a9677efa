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

/// Why an expression does not compile, and what to write instead when one
/// form would work (`did you mean `lowerAscii()`?`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub message: String,
    pub suggestion: Option<String>,
}

impl CompileError {
    fn new(message: String) -> Self {
        Self {
            message,
            suggestion: None,
        }
    }
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, "; {s}")?;
        }
        Ok(())
    }
}

/// The functions and methods users reach for, as [`ENV`] names them:
/// the candidates of a did-you-mean. A test checks that [`ENV`] declares
/// each (the `cel` crate cannot list what it declares).
pub const KNOWN_FUNCTIONS: &[&str] = &[
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "bool",
    "type",
    "dyn",
    "duration",
    "timestamp",
    "getFullYear",
    "getMonth",
    "getDayOfYear",
    "getDayOfMonth",
    "getDate",
    "getDayOfWeek",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
    "split",
    "lowerAscii",
    "upperAscii",
    "replace",
    "trim",
    "join",
    "indexOf",
    "lastIndexOf",
    "substring",
    "charAt",
    "format",
    "reverse",
    "orValue",
    "or",
    "value",
    "hasValue",
    "optional.of",
    "optional.none",
    "optional.ofNonZeroValue",
    "strings.quote",
];

/// Names from other languages, and what CEL calls them.
const ALIASES: &[(&str, &str)] = &[
    ("toLowerCase", "lowerAscii"),
    ("toLower", "lowerAscii"),
    ("lower", "lowerAscii"),
    ("lowercase", "lowerAscii"),
    ("downcase", "lowerAscii"),
    ("toUpperCase", "upperAscii"),
    ("toUpper", "upperAscii"),
    ("upper", "upperAscii"),
    ("uppercase", "upperAscii"),
    ("upcase", "upperAscii"),
    ("strip", "trim"),
    ("trimSpace", "trim"),
    ("length", "size"),
    ("len", "size"),
    ("count", "size"),
    ("includes", "contains"),
    ("hasPrefix", "startsWith"),
    ("hasSuffix", "endsWith"),
    ("substr", "substring"),
    ("slice", "substring"),
    ("toString", "string"),
    ("str", "string"),
    ("parseInt", "int"),
    ("toInt", "int"),
    ("find", "indexOf"),
    ("replaceAll", "replace"),
    ("match", "matches"),
    ("quote", "strings.quote"),
];

/// CEL's macros: expanded when parsed, so a call of one by its name was
/// written with the wrong arguments.
const MACROS: &[(&str, &str)] = &[
    ("has", "has(claims.x), a field selection"),
    ("all", "list.all(x, condition)"),
    ("exists", "list.exists(x, condition)"),
    ("exists_one", "list.exists_one(x, condition)"),
    ("map", "list.map(x, expression)"),
    ("filter", "list.filter(x, condition)"),
];

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
    ///
    /// Every function and method it calls must be declared by [`ENV`]: a
    /// call of one that is not (`claims.email.toLowerCase()`) would fail
    /// on every token, so it is refused here, with the name CEL has for it
    /// when there is one.
    pub fn compile(text: &str) -> Result<Self, CompileError> {
        let program = ENV.compile(text).map_err(|e| {
            CompileError::new(format!("CEL syntax error: {}", e.to_string().trim()))
        })?;
        let mut free = BTreeSet::new();
        free_variables(program.expression(), &mut Vec::new(), &mut free);
        let unknown: Vec<_> = free
            .into_iter()
            .filter(|v| !VARIABLES.contains(&v.as_str()))
            .collect();
        if !unknown.is_empty() {
            return Err(CompileError::new(format!(
                "CEL expression reads {}; only {} are defined",
                unknown
                    .iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                VARIABLES.join(", ")
            )));
        }
        if let Some(e) = undeclared_call(program.expression()) {
            return Err(e);
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

/// The first call, in the order written, of a function or method [`ENV`]
/// does not declare, as the problem to report. Operators (`_+_`, `@in`)
/// are the parser's own and always declared.
fn undeclared_call(e: &IdedExpr) -> Option<CompileError> {
    let mut found = None;
    visit(e, &mut |e| {
        let Expr::Call(call) = &e.expr else {
            return;
        };
        if found.is_some()
            || !call
                .func_name
                .starts_with(|c: char| c.is_ascii_alphabetic())
        {
            return;
        }
        let name = call.func_name.as_str();
        found = match &call.target {
            Some(t) if names_function(t, name) => None,
            Some(_) => undeclared(name, true),
            None => undeclared(name, false),
        };
    });
    found
}

/// Calls `f` on `e` and on every expression inside it.
pub(crate) fn visit(e: &IdedExpr, f: &mut impl FnMut(&IdedExpr)) {
    f(e);
    match &e.expr {
        Expr::Call(call) => {
            if let Some(t) = &call.target {
                visit(t, f);
            }
            call.args.iter().for_each(|a| visit(a, f));
        }
        Expr::Comprehension(c) => {
            for part in [
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ] {
                visit(part, f);
            }
        }
        Expr::List(l) => l.elements.iter().for_each(|el| visit(el, f)),
        Expr::Map(m) => {
            for entry in &m.entries {
                if let EntryExpr::MapEntry(me) = &entry.expr {
                    visit(&me.key, f);
                    visit(&me.value, f);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &s.entries {
                match &entry.expr {
                    EntryExpr::StructField(field) => visit(&field.value, f),
                    EntryExpr::MapEntry(me) => {
                        visit(&me.key, f);
                        visit(&me.value, f);
                    }
                }
            }
        }
        Expr::Select(s) => visit(&s.operand, f),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// The problem with a call of `name` (as a method when `method`), or
/// `None` when [`ENV`] declares it so.
fn undeclared(name: &str, method: bool) -> Option<CompileError> {
    let (declared, other_way) = if method {
        (is_method(name), is_function(name))
    } else {
        (is_function(name), is_method(name))
    };
    if declared {
        return None;
    }
    let shown = |n: &str| {
        if method && !n.contains('.') {
            format!("`{n}()`")
        } else {
            format!("`{n}(…)`")
        }
    };
    if let Some((_, form)) = MACROS.iter().find(|(m, _)| *m == name) {
        return Some(CompileError {
            message: format!("CEL expression calls the macro `{name}` with the wrong arguments"),
            suggestion: Some(format!("write {form}")),
        });
    }
    if other_way {
        let (message, fix) = if method {
            (
                format!("`{name}` is a function, not a method"),
                format!("write {name}(x) instead of x.{name}()"),
            )
        } else {
            (
                format!("`{name}` is a method, not a function"),
                format!("write x.{name}() instead of {name}(x)"),
            )
        };
        return Some(CompileError {
            message: format!("CEL expression calls {}: {message}", shown(name)),
            suggestion: Some(fix),
        });
    }
    let what = if method { "method" } else { "function" };
    let alias = ALIASES
        .iter()
        .find(|(from, _)| from.eq_ignore_ascii_case(name))
        .map(|(_, to)| *to);
    let close = || crate::config::sift::suggest(name, KNOWN_FUNCTIONS);
    let suggestion = alias.or_else(close).map(|n| {
        if n.contains('.') || !method {
            format!("did you mean `{n}(…)`?")
        } else {
            format!("did you mean `{n}()`?")
        }
    });
    Some(CompileError {
        message: format!(
            "CEL expression calls the {what} {}, which zenbridge's CEL does not have{}",
            shown(name),
            if suggestion.is_some() {
                ""
            } else {
                " (its functions are listed in docs/configuration.md, CEL)"
            }
        ),
        suggestion,
    })
}

/// Whether [`ENV`] declares a method named `name`: read, as for
/// [`is_function`], from a call of it on `null` without arguments. A
/// declared method runs or refuses the arguments; an undeclared one is
/// an undeclared reference to its name.
fn is_method(name: &str) -> bool {
    let Ok(program) = ENV.compile(&format!("null.{name}()")) else {
        return false;
    };
    let ctx = cel::Context::with_env(ENV.clone());
    !matches!(
        program.execute(&ctx),
        Err(cel::ExecutionError::UndeclaredReference(n)) if n.as_str() == name
    )
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
mod tests;
