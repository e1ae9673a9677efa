//! Unit tests of the CEL environment: compile checks, functions, conversions.

use super::*;

#[test]
fn comprehension_variables_are_not_free() {
    Expression::compile("claims.groups.exists(g, g == 'support')").unwrap();
    Expression::compile("claims.groups.map(g, g.upperAscii())").unwrap();
}

#[test]
fn unknown_variables_are_refused_with_their_names() {
    let err = Expression::compile("user.email + claim.x")
        .unwrap_err()
        .to_string();
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
    assert!(err.message.contains("`strings`"), "{err}");
    let err = Expression::compile("user.quote(claims.name)").unwrap_err();
    assert!(err.message.contains("`user`"), "{err}");
    // No function `claims.name.quote`, and no method `quote`: the call
    // would fail on every token, so it is refused, naming the function.
    let err = Expression::compile("claims.name.quote()").unwrap_err();
    assert_eq!(
        err.suggestion.as_deref(),
        Some("did you mean `strings.quote(…)`?")
    );
}

#[test]
fn every_known_function_is_declared_as_a_function_or_a_method() {
    for name in KNOWN_FUNCTIONS {
        assert!(is_function(name) || is_method(name), "{name}");
    }
    for (from, to) in ALIASES {
        assert!(!is_function(from) && !is_method(from), "{from} is declared");
        assert!(KNOWN_FUNCTIONS.contains(to), "{to}");
    }
    assert!(!is_method("toLowerCase") && !is_function("nope"));
}

#[test]
fn unknown_methods_and_functions_are_refused_with_what_cel_calls_them() {
    let refused = |text: &str| Expression::compile(text).unwrap_err().to_string();
    assert_eq!(
        refused("claims.email.toLowerCase()"),
        "CEL expression calls the method `toLowerCase()`, which zenbridge's CEL does not have; did you mean `lowerAscii()`?"
    );
    // Close to a known name, in a comprehension, in a rule's operand.
    assert!(
        refused("claims.groups.exists(g, g.startswith('zd-'))")
            .ends_with("did you mean `startsWith()`?")
    );
    assert_eq!(
        refused("lowerAscii(claims.email)"),
        "CEL expression calls `lowerAscii(…)`: `lowerAscii` is a method, not a function; write x.lowerAscii() instead of lowerAscii(x)"
    );
    assert_eq!(
        refused("claims.level.int() > 2"),
        "CEL expression calls `int()`: `int` is a function, not a method; write int(x) instead of x.int()"
    );
    assert!(refused("claims.x.frobnicate()").contains("docs/configuration.md"));
    for fine in [
        "claims.email.lowerAscii().trim()",
        "size(claims.groups) > 0 && claims.groups.size() > 0",
        "int(claims.level) + 1",
        "'%s-%d'.format(['eu', 3])",
        "claims.?nickname.orValue(claims.sub)",
        "claims.groups.map(g, g.upperAscii()).join(',')",
    ] {
        Expression::compile(fine).unwrap_or_else(|e| panic!("{fine}: {e}"));
    }
}

#[test]
fn syntax_errors_are_refused() {
    let err = Expression::compile("claims.email +").unwrap_err();
    assert!(err.message.starts_with("CEL syntax error"), "{err}");
}
