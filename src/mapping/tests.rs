//! Unit tests of evaluation: defaults, shortcuts against CEL, rules, bounds.

use super::*;
use serde_json::json;

fn claim(name: &str, ty: ClaimType, text: &str) -> MappedClaim {
    MappedClaim {
        name: name.into(),
        ty,
        expr: Arc::new(Expression::compile(text).unwrap()),
        origin: Origin::Source,
    }
}

/// The built-in email and name defaults, as the config adds them.
fn defaults() -> [MappedClaim; 2] {
    [("email", &DEFAULT_EMAIL), ("name", &DEFAULT_NAME)].map(|(name, expr)| MappedClaim {
        name: name.into(),
        ty: ClaimType::String,
        expr: Arc::clone(expr),
        origin: Origin::Default,
    })
}

fn obj(v: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn defaults_take_the_email_local_part_when_name_is_missing() {
    let m = Mapping {
        claims: defaults().into(),
        rules: vec![],
    };
    let out = m
        .evaluate(&obj(&json!({"email": "carol@acme.com"})), &Vars::default())
        .unwrap();
    assert_eq!(out.get("name"), Some(&json!("carol")));
    let out = m
        .evaluate(&obj(&json!({"sub": "x"})), &Vars::default())
        .unwrap();
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn reading_an_absent_claim_is_claim_missing_not_a_panic() {
    let m = Mapping {
        claims: vec![claim("external_id", ClaimType::String, "'a|' + claims.sub")],
        rules: vec![],
    };
    let err = m.evaluate(&obj(&json!({})), &Vars::default()).unwrap_err();
    assert_eq!(
        err,
        MappingError::ClaimMissing {
            claim: "external_id".into(),
            upstream: "sub".into()
        }
    );
}

#[test]
fn runtime_errors_are_evaluation_errors() {
    let m = Mapping {
        claims: vec![claim(
            "name",
            ClaimType::String,
            "claims.email.split('@')[5]",
        )],
        rules: vec![],
    };
    let err = m
        .evaluate(&obj(&json!({"email": "a@b"})), &Vars::default())
        .unwrap_err();
    assert!(matches!(err, MappingError::Evaluation { .. }), "{err:?}");
}

#[test]
fn a_runtime_error_tells_the_caller_the_claim_not_the_interpreters_text() {
    let m = Mapping {
        claims: vec![claim(
            "external_id",
            ClaimType::String,
            "'legacy|' + claims.num",
        )],
        rules: vec![Rule {
            expr: Arc::new(Expression::compile("claims.num + 'x' == 'y'").unwrap()),
            message: "num is fine".into(),
            origin: Origin::Source,
        }],
    };
    let claims = obj(&json!({"num": 7, "email": "secret-person@acme.com"}));
    let err = m.evaluate(&claims, &Vars::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a rule could not be checked: its expression failed (zenbridge's log says why) (rule: num is fine)"
    );
    let m = Mapping { rules: vec![], ..m };
    let err = m.evaluate(&claims, &Vars::default()).unwrap_err();
    assert_eq!(err.code(), crate::error::ErrorCode::ClaimInvalid);
    assert_eq!(
        err.to_string(),
        "claim `external_id` could not be computed from this token's claims: its expression failed (zenbridge's log says why)"
    );
    let MappingError::Evaluation { reason, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(reason, "`+` cannot combine a string and an int");
}

#[test]
fn string_extension_and_membership_work() {
    let m = Mapping {
        claims: vec![
            claim(
                "role",
                ClaimType::Role,
                "'support' in claims.groups ? 'agent' : 'end_user'",
            ),
            claim(
                "email",
                ClaimType::String,
                "claims.email.lowerAscii().trim()",
            ),
            claim(
                "tags",
                ClaimType::StringList,
                "claims.groups.map(g, 'grp_' + g.replace('-', '_'))",
            ),
            claim("custom_role_id", ClaimType::Integer, "claims.role_id"),
        ],
        rules: vec![],
    };
    let out = m
        .evaluate(&obj(&json!({"email": " Alice@ACME.com ", "groups": ["support", "x-y"], "role_id": 360_000_000_000_u64})), &Vars::default())
        .unwrap();
    assert_eq!(
        serde_json::Value::Object(out),
        json!({"role": "agent", "email": "alice@acme.com", "tags": ["grp_support", "grp_x_y"], "custom_role_id": 360_000_000_000_u64})
    );
}

#[test]
fn shortcuts_give_what_cel_gives() {
    let m = Mapping {
        claims: defaults()
            .into_iter()
            .chain([
                claim("external_id", ClaimType::String, "claims.sub"),
                claim("custom_role_id", ClaimType::Integer, "claims.role_id"),
            ])
            .collect(),
        rules: vec![],
    };
    let samples = [
        json!({"sub": "a", "email": "a@b.co", "name": "A", "role_id": 3}),
        json!({"sub": "a", "email": "a@b.co", "name": ""}),
        json!({"sub": "a", "email": "no-at-sign"}),
        json!({"sub": "a", "email": "x@y@z"}),
        json!({"sub": "a"}),
        json!({"sub": "a", "name": "N"}),
        json!({"sub": "a", "name": null, "email": "a@b.co"}),
        json!({"sub": "a", "name": 7, "email": "a@b.co"}),
        json!({"sub": "a", "email": 5}),
        json!({"sub": "a", "email": null}),
        json!({"sub": 12, "email": "a@b.co"}),
        json!({"sub": ["x"], "email": "a@b.co"}),
        json!({"sub": "a", "role_id": 2.0}),
        json!({"sub": "a", "role_id": 2.5}),
        json!({"sub": "a", "role_id": "3"}),
        json!({"sub": "a", "role_id": 18_446_744_073_709_551_615u64}),
        json!({"email": "a@b.co"}),
    ];
    for sample in &samples {
        let claims = obj(sample);
        let fast = m.evaluate_with(&claims, &Vars::default(), true);
        let slow = m.evaluate_with(&claims, &Vars::default(), false);
        assert_eq!(fast, slow, "{sample}");
        // `explain`'s every-step evaluation decides the same.
        let every = m.evaluate_steps(&claims, &Vars::default(), |_| {});
        assert_eq!(fast, every, "{sample}");
    }
}

#[test]
fn failing_rule_refuses_with_its_message() {
    let m = Mapping {
        claims: vec![],
        rules: vec![Rule {
            expr: Arc::new(Expression::compile("claims.email_verified == true").unwrap()),
            message: "the email address is not verified".into(),
            origin: Origin::Source,
        }],
    };
    let err = m
        .evaluate(&obj(&json!({"email_verified": false})), &Vars::default())
        .unwrap_err();
    assert_eq!(
        err,
        MappingError::RuleFailed {
            message: "the email address is not verified".into()
        }
    );
    let err = m.evaluate(&obj(&json!({})), &Vars::default()).unwrap_err();
    assert!(matches!(err, MappingError::RuleError { .. }), "{err:?}");
}

#[test]
fn a_quadratic_rule_over_ten_thousand_groups_is_refused_before_cel_runs() {
    // Unbounded, this rule makes 10⁸ CEL steps: seconds per request.
    let quadratic = "claims.groups.all(g, claims.groups.exists(h, h == g))";
    let m = Mapping {
        claims: defaults().into(),
        rules: vec![Rule {
            expr: Arc::new(Expression::compile(quadratic).unwrap()),
            message: "groups are consistent".into(),
            origin: Origin::Target,
        }],
    };
    let hostile: Vec<String> = (0..10_000).map(|i| format!("group-{i}")).collect();
    let claims = obj(&json!({"sub": "x", "email": "a@b.co", "groups": hostile}));
    let err = m.evaluate(&claims, &Vars::default()).unwrap_err();
    assert_eq!(err.code(), crate::error::ErrorCode::ClaimInvalid, "{err}");
    assert_eq!(
        err.to_string(),
        "the upstream claim `groups` is a list of 10000 items; a list may have at most 256"
    );
    // `explain` shows the same refusal on every step.
    let mut steps = 0;
    let every = m.evaluate_steps(&claims, &Vars::default(), |step| {
        let refused = match step {
            Step::Rule(_, r) => r.as_ref().err(),
            Step::Claim(_, r) => r.as_ref().err(),
        };
        assert_eq!(refused, Some(&err), "{step:?}");
        steps += 1;
    });
    assert_eq!(steps, m.rules.len() + m.claims.len());
    assert_eq!(every, Err(err.clone()));
    // The same rule over an honest list is evaluated as before.
    let honest: Vec<String> = (0..bounds::MAX_LIST_ITEMS)
        .map(|i| format!("group-{i}"))
        .collect();
    let claims = obj(&json!({"sub": "x", "email": "a@b.co", "groups": honest}));
    let out = m.evaluate(&claims, &Vars::default()).unwrap();
    assert_eq!(out.get("email"), Some(&json!("a@b.co")));
}
