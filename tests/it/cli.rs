//! The command line, on the real binary: `demo` with `dev-token`, `check`
//! (problems with key paths, `--claims`, `--online`), `explain`, and
//! `serve` reloading its config on SIGHUP, and a description in `--help`
//! for every command and argument.

use crate::common::{
    hs256, now, run_binary, run_binary_with_env, start_binary, start_binary_logging,
};
use crate::support::{assert_zendesk_ok, free_port};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub(crate) const LEGACY_SECRET: &str = "legacy-shared-secret-0123456789abcdef";

pub(crate) fn legacy_config(port: u16, extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
cookie_key = "test-cookie-key-0123456789abcdef0123456789"

[[source]]
name = "legacy"
kind = "jwt"
issuer = "https://legacy.acme.test"
secret = "{LEGACY_SECRET}"
audiences = ["zendesk"]
[source.claims]
external_id = "'legacy|' + claims.sub"

[[target]]
name = "mobile"
kind = "sdk"
secret = "mobile-sdk-secret-0123456789"
sources = ["legacy"]
{extra}"#
    )
}

pub(crate) fn legacy_token(claims: &Value) -> String {
    let t = now();
    let mut c = json!({"iss": "https://legacy.acme.test", "aud": "zendesk", "sub": "u1", "email": "u1@acme.com", "name": "U One", "iat": t, "exp": t + 300});
    for (k, v) in claims.as_object().unwrap() {
        c[k] = v.clone();
    }
    hs256(LEGACY_SECRET, &c)
}

#[tokio::test]
async fn demo_serves_and_its_dev_token_is_exchanged_at_the_sdk_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let demo = start_binary(&["demo", "--listen", &listen], port, dir.path()).await;
    let (code, token, err) =
        run_binary(&["dev-token", "--demo", "--source", "demo", "--user", "ada"]);
    assert_eq!(code, 0, "{err}");
    let resp = reqwest::Client::new()
        .post(format!("{}/sdk/mobile/jwt", demo.url))
        .form(&[("user_token", token.trim())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    let p = assert_zendesk_ok(
        body["jwt"].as_str().unwrap(),
        "demo-sdk-secret-public-by-design",
        "sdk",
        None,
    );
    assert_eq!(p["email"], "ada@example.com");
    assert_eq!(p["external_id"], "demo|ada");
    assert!(
        p.get("role").is_none(),
        "the mobile target drops the role: {p}"
    );
    let (code, _, err) = run_binary(&[
        "dev-token",
        "--demo",
        "--source",
        "demo",
        "--user",
        "mallory",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no user \"mallory\" (users: ada, grace)"),
        "{err}"
    );
}

/// Every subcommand and every argument of every subcommand (at any
/// depth) has a description in `--help`.
#[test]
fn every_command_and_argument_has_help() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        if cmd.get_about().is_none() {
            missing.push(format!("{path} (the command)"));
        }
        for arg in cmd.get_arguments() {
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{path} --{}", arg.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut cmd = <zenbridge::cli::Cli as clap::CommandFactory>::command();
    // Built, so clap's own arguments and subcommands (--help, --version,
    // `help`) are there too.
    cmd.build();
    let mut missing = Vec::new();
    walk(&cmd, "zenbridge", &mut missing);
    assert!(
        cmd.get_subcommands().count() >= 5,
        "the walk sees the subcommands"
    );
    assert!(missing.is_empty(), "no --help text for: {missing:#?}");
}

#[test]
fn check_reports_every_problem_with_its_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        r#"
[server]
public_url = "http://127.0.0.1:1"
cookie_key = "short"

[[source]]
name = "legacy"
kind = "jwt"
issuer = "https://legacy.acme.test"
secret = "123456789"
audiences = ["zendesk"]
isuer = "typo"

[[source]]
name = "idp"
kind = "oidc"
issuer = "https://idp.test"
client_id = "abc"
[source.claims]
name = "claims.name +"
external_id = "user.id"
jti = "'x'"
favourite_colour = "'blue'"

[[target]]
name = "mobile"
kind = "messaging"
secret = "a-long-enough-secret"
sources = ["auth00", "idp"]
ttl = "5 parsecs"
"#,
    )
    .unwrap();
    let (code, _, err) = run_binary(&["check", "--config", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    for expected in [
        "server.cookie_key: secret must be at least 10 characters; it has 5",
        "source[0].isuer: unknown key; did you mean `issuer`?",
        "source[0].secret: secret must be at least 10 characters; it has 9",
        "source[1].claims.name: CEL syntax error",
        "source[1].claims.external_id: CEL expression reads `user`; only claims, source, target, request are defined",
        "source[1].claims.jti: `jti` is set by zenbridge and cannot be mapped",
        "source[1].claims.favourite_colour: no Zendesk surface reads a claim named `favourite_colour`",
        "target[0].sources[0]: no source named \"auth00\"",
        "target[0].key_id: is required",
        "target[0].ttl: not a duration",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
}

#[test]
fn check_evaluates_a_sample_claim_set() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("z.toml");
    std::fs::write(&file, legacy_config(1, "")).unwrap();
    let good = dir.path().join("good.json");
    std::fs::write(&good, r#"{"sub": "u1", "email": "u1@acme.com"}"#).unwrap();
    let (code, out, err) = run_binary(&[
        "check",
        "--config",
        file.to_str().unwrap(),
        "--source",
        "legacy",
        "--claims",
        good.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(r#""external_id":"legacy|u1""#) && out.contains(r#""name":"u1""#),
        "{out}"
    );
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"sub": "u1"}"#).unwrap();
    let (code, out, _) = run_binary(&[
        "check",
        "--config",
        file.to_str().unwrap(),
        "--source",
        "legacy",
        "--claims",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("[claim_missing]"), "{out}");
}

#[test]
fn check_online_fails_when_keys_cannot_be_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("z.toml");
    let port = free_port();
    let text = legacy_config(1, "").replace(
        &format!("secret = \"{LEGACY_SECRET}\""),
        &format!("jwks_url = \"http://127.0.0.1:{port}/jwks\""),
    );
    std::fs::write(&file, text).unwrap();
    let (code, out, _) = run_binary(&["check", "--config", file.to_str().unwrap(), "--online"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("source legacy: keys unavailable"), "{out}");
    // The verdict comes last, and says failed: never "ok" before a failure.
    assert!(!out.contains(": ok ("), "{out}");
    let last = out.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!(
            "{}: FAILED: keys unavailable for 1 source (the config itself is valid: 1 source, 1 target)",
            file.display()
        )
    );

    // The same as JSON, for CI: one document on stdout, the same exit code.
    let (code, out, err) = run_binary(&[
        "check",
        "--config",
        file.to_str().unwrap(),
        "--online",
        "--json",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(report["verdict"], "failed");
    assert_eq!(report["config"], file.to_str().unwrap());
    assert_eq!(report["problems"], json!([]));
    assert_eq!(report["sources"][0]["source"], "legacy");
    assert!(report["sources"][0]["error"].is_string(), "{report}");
    let warned: Vec<&str> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        warned,
        ["server.cookie_key", "target[0].secret"],
        "{report}"
    );
}

#[test]
fn check_json_lists_problems_with_path_message_and_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("z.toml");
    let text = legacy_config(1, "")
        .replace("'legacy|' + claims.sub", "claims.sub.toLowerCase()")
        .replace("audiences = [", "audiense = [");
    std::fs::write(&file, text).unwrap();
    let (code, out, err) = run_binary(&["check", "--config", file.to_str().unwrap(), "--json"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.is_empty(), "JSON mode writes only stdout: {err}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(report["verdict"], "failed");
    assert_eq!(
        report["problems"],
        json!([
            {"path": "source[0].audiense", "message": "unknown key", "suggestion": "did you mean `audiences`?"},
            {"path": "source[0].audiences", "message": "is required: the `aud` values this source's tokens carry for us", "suggestion": null},
            {"path": "source[0].claims.external_id", "message": "CEL expression calls the method `toLowerCase()`, which zenbridge's CEL does not have", "suggestion": "did you mean `lowerAscii()`?"},
        ])
    );
    // A valid config: verdict ok, exit 0.
    std::fs::write(&file, legacy_config(1, "")).unwrap();
    let (code, out, _) = run_binary(&["check", "--config", file.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["verdict"], "ok");
    assert!(report["notes"][0]["message"].is_string(), "{report}");
}

#[test]
fn explain_shows_each_step_and_signs_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("z.toml");
    std::fs::write(&file, legacy_config(1, "")).unwrap();
    let cfg = file.to_str().unwrap();
    let token = legacy_token(&json!({}));
    let (code, out, err) = run_binary(&[
        "explain", "--config", cfg, "--target", "mobile", "--token", &token,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    for expected in [
        "routing    iss \"https://legacy.acme.test\" → source \"legacy\" (jwt)",
        "✓ signature: valid (HS256)",
        "✓ audience: [zendesk] accepted",
        "claim  external_id      = \"legacy|u1\"",
        "ACCEPTED",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(!out.contains("\njwt\n"), "no --sign, no token: {out}");
    let (code, out, _) = run_binary(&[
        "explain", "--config", cfg, "--target", "mobile", "--token", &token, "--sign", "--json",
    ]);
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_zendesk_ok(
        report["jwt"].as_str().unwrap(),
        "mobile-sdk-secret-0123456789",
        "sdk",
        None,
    );
    let expired = legacy_token(&json!({"exp": now() - 3600}));
    let (code, out, _) = run_binary(&[
        "explain", "--config", cfg, "--target", "mobile", "--token", &expired,
    ]);
    assert_eq!(code, 1);
    assert!(
        out.contains("REFUSED") && out.contains("(token_expired)"),
        "{out}"
    );
}

/// `explain` runs the gateway's own pipeline, whose signing step takes
/// verified claims only: sample claims are shown, never signed, whether
/// over HTTP or on the command line.
#[test]
fn explain_signs_no_sample_claims_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("z.toml");
    std::fs::write(&file, legacy_config(1, "")).unwrap();
    let sample = dir.path().join("ceo.json");
    std::fs::write(&sample, r#"{"sub": "ceo", "email": "ceo@acme.com"}"#).unwrap();
    let args = [
        "explain",
        "--config",
        file.to_str().unwrap(),
        "--target",
        "mobile",
        "--source",
        "legacy",
        "--claims",
        sample.to_str().unwrap(),
    ];
    let (code, out, err) = run_binary(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("upstream claims (NOT verified)") && out.contains("ACCEPTED"),
        "{out}"
    );
    let (code, out, err) = run_binary(&[&args[..], &["--sign"]].concat());
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("sample claims are never signed"), "{err}");
    assert!(!out.contains("eyJ"), "{out}");
}

#[tokio::test]
async fn sighup_reloads_the_config_and_a_broken_one_keeps_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("z.toml");
    let port = free_port();
    std::fs::write(&file, legacy_config(port, "")).unwrap();
    let gw = start_binary(
        &["serve", "--config", file.to_str().unwrap()],
        port,
        dir.path(),
    )
    .await;
    let client = reqwest::Client::new();
    let post = |target: &'static str| {
        client
            .post(format!("{}/sdk/{target}/jwt", gw.url))
            .form(&[("user_token", legacy_token(&json!({})))])
            .send()
    };
    assert_eq!(post("mobile").await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        post("second").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    let second = "\n[[target]]\nname = \"second\"\nkind = \"sdk\"\nsecret = \"second-secret-0123456789\"\nsources = [\"legacy\"]\n";
    std::fs::write(&file, legacy_config(port, second)).unwrap();
    let hup = |pid: u32| {
        std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
    };
    assert!(hup(gw.pid()).success());
    gw.wait_for_log("config reloaded").await;
    assert_eq!(post("second").await.unwrap().status(), StatusCode::OK);

    std::fs::write(
        &file,
        legacy_config(port, second).replace("kind = \"sdk\"", "kind = \"sdkk\""),
    )
    .unwrap();
    assert!(hup(gw.pid()).success());
    gw.wait_for_log("config reload refused").await;
    assert_eq!(
        post("second").await.unwrap().status(),
        StatusCode::OK,
        "the old config keeps serving"
    );
    assert_eq!(post("mobile").await.unwrap().status(), StatusCode::OK);
    assert!(
        !gw.log_text().contains(LEGACY_SECRET),
        "no secret in the logs"
    );
}

#[tokio::test]
async fn logs_hold_no_token_and_no_claim_set() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("z.toml");
    let port = free_port();
    std::fs::write(&file, legacy_config(port, "")).unwrap();
    // Debug level: every exchange is logged, and still no token.
    let gw = start_binary_logging(
        &["serve", "--config", file.to_str().unwrap()],
        port,
        dir.path(),
        "debug",
    )
    .await;
    let client = reqwest::Client::new();
    let good = legacy_token(&json!({"email": "secret-person@acme.com"}));
    let expired = legacy_token(&json!({"exp": now() - 3600, "email": "other-person@acme.com"}));
    for t in [&good, &expired] {
        client
            .post(format!("{}/sdk/mobile/jwt", gw.url))
            .form(&[("user_token", t.as_str())])
            .send()
            .await
            .unwrap();
    }
    gw.wait_for_log("token refused").await;
    let log = gw.log_text();
    assert!(
        log.contains("token exchanged") && log.contains("code=token_expired"),
        "{log}"
    );
    for secret in [
        good.as_str(),
        expired.as_str(),
        "secret-person@acme.com",
        "other-person@acme.com",
        "mobile-sdk-secret-0123456789",
    ] {
        assert!(!log.contains(secret), "the log holds {secret:?}:\n{log}");
    }
    let sig = good.rsplit('.').next().unwrap();
    assert!(!log.contains(sig));
}

/// The environment variables an `init` config's header lists, each with
/// a value of the length its secret needs.
fn init_env(config: &str) -> Vec<(String, String)> {
    let listed = config
        .lines()
        .skip_while(|l| !l.starts_with("# Environment variables it needs:"))
        .skip(1)
        .take_while(|l| l.starts_with("#   "));
    listed
        .filter_map(|l| l.trim_start_matches('#').split_whitespace().next())
        .map(|name| (name.to_owned(), "s".repeat(64)))
        .collect()
}

/// `zenbridge init` writes, for every source kind and target kind that can
/// work together, a config that `check` passes without a warning once the
/// variables its header lists are set — and refuses the others, saying
/// what would work.
#[test]
fn init_writes_a_config_check_passes_for_every_combination() {
    let dir = tempfile::tempdir().unwrap();
    let mut written = 0;
    for source in ["oidc", "firebase", "jwt", "dev", "introspection"] {
        for target in ["sso", "sdk", "messaging", "chat"] {
            for sandbox in [false, true] {
                let mut args = vec![
                    "init", "--source", source, "--target", target, "--output", "-",
                ];
                if sandbox {
                    args.push("--sandbox");
                }
                let (code, out, err) = run_binary(&args);
                let browser_source = matches!(source, "oidc" | "dev");
                if (target == "sso" && !browser_source) || (sandbox && target != "sso") {
                    assert_eq!(code, 2, "{args:?}: {out}{err}");
                    assert!(
                        err.contains("--target") || err.contains("--sandbox"),
                        "{err}"
                    );
                    continue;
                }
                assert_eq!(code, 0, "{args:?}: {err}");
                let file = dir.path().join(format!("{source}-{target}-{sandbox}.toml"));
                std::fs::write(&file, &out).unwrap();
                let env = init_env(&out);
                assert!(
                    env.iter().any(|(k, _)| k == "ZENBRIDGE_COOKIE_KEY"),
                    "{out}"
                );
                let env: Vec<(&str, &str)> =
                    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let cfg = file.to_str().unwrap();
                let (code, cout, cerr) = run_binary_with_env(&["check", "--config", cfg], &env);
                assert_eq!(code, 0, "{args:?}:\n{out}\n{cout}{cerr}");
                // A dev source is always warned about (it has no passwords);
                // nothing else is.
                let warnings: Vec<&str> = cout
                    .lines()
                    .chain(cerr.lines())
                    .filter(|l| l.contains("warning"))
                    .filter(|l| !(source == "dev" && l.contains("a dev source signs in anyone")))
                    .collect();
                assert!(warnings.is_empty(), "{args:?}: {warnings:?}");
                // Without its secrets it fails, naming the variables.
                let (code, cout, cerr) = run_binary(&["check", "--config", cfg]);
                assert_eq!(code, 1, "{cout}{cerr}");
                assert!(
                    format!("{cout}{cerr}").contains("ZENBRIDGE_COOKIE_KEY"),
                    "{cout}{cerr}"
                );
                written += 1;
            }
        }
    }
    // sso with oidc or dev, with or without the sandbox (4); every source
    // with sdk, messaging and chat (15).
    assert_eq!(written, 19, "every workable combination was tried");
}

#[test]
fn init_never_overwrites_a_file_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zenbridge.toml");
    std::fs::write(&file, "# mine").unwrap();
    let out = file.to_str().unwrap();
    let args = [
        "init", "--source", "dev", "--target", "sso", "--output", out,
    ];
    let (code, _, err) = run_binary(&args);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "# mine");
    let (code, _, err) = run_binary(&[&args[..], &["--force"]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("kind = \"dev\"")
    );
}

#[tokio::test]
async fn a_failing_expression_names_the_claim_to_the_client_and_the_reason_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("z.toml");
    let port = free_port();
    // `num` is no standard claim: as a string it works, so check passes.
    let extra = "[target.claims]\norganization = \"'legacy|' + claims.num\"\n";
    std::fs::write(&file, legacy_config(port, extra)).unwrap();
    let gw = start_binary(
        &["serve", "--config", file.to_str().unwrap()],
        port,
        dir.path(),
    )
    .await;
    let token = legacy_token(&json!({"num": 7, "email": "secret-person@acme.com"}));
    let resp = reqwest::Client::new()
        .post(format!("{}/sdk/mobile/jwt", gw.url))
        .form(&[("user_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error_code"], "claim_invalid");
    assert_eq!(
        body["error_description"],
        "claim `organization` could not be computed from this token's claims: its expression failed (zenbridge's log says why)"
    );
    gw.wait_for_log("token refused").await;
    let log = gw.log_text();
    assert!(
        log.contains("claim `organization`: the mapping's expression failed on this token: `+` cannot combine a string and an int; convert the int with string(…), e.g. string(claims.num)"),
        "{log}"
    );
    for leaked in [
        "Unsupported binary operator",
        "Int(7)",
        "secret-person@acme.com",
    ] {
        assert!(!log.contains(leaked), "the log holds {leaked:?}:\n{log}");
    }
}

/// `explain` needs only the secrets explaining uses: not the cookie key,
/// nor (without --sign) the target's secret. It explains an expired token
/// as of another time, clearly marked, and never signs one so.
#[test]
fn explain_needs_no_unused_secret_and_explains_an_expired_token_as_of_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("z.toml");
    let text = legacy_config(1, "")
        .replacen(
            "cookie_key = \"test-cookie-key-0123456789abcdef0123456789\"",
            "cookie_key = { env = \"UNSET_COOKIE_KEY_FOR_EXPLAIN\" }",
            1,
        )
        .replace(
            "secret = \"mobile-sdk-secret-0123456789\"",
            "secret = { env = \"UNSET_SDK_SECRET_FOR_EXPLAIN\" }",
        );
    assert!(
        text.contains("UNSET_COOKIE_KEY_FOR_EXPLAIN")
            && text.contains("UNSET_SDK_SECRET_FOR_EXPLAIN"),
        "{text}"
    );
    std::fs::write(&file, &text).unwrap();
    let cfg = file.to_str().unwrap();
    // serve/check need every secret …
    let (code, out, _) = run_binary(&["check", "--config", cfg]);
    assert_eq!(code, 1, "{out}");
    // … explain does not.
    let issued = now() - 7200;
    let expired = legacy_token(&json!({"iat": issued, "exp": issued + 300}));
    let args = [
        "explain", "--config", cfg, "--target", "mobile", "--token", &expired,
    ];
    let (code, out, err) = run_binary(&args);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("(token_expired)"), "{out}");
    assert!(
        err.contains("note: server.cookie_key:") && err.contains("a random value stands in"),
        "{err}"
    );
    let (code, out, err) = run_binary(&[&args[..], &["--ignore-expiry"]].concat());
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("AS OF      ") && out.contains("ACCEPTED"),
        "{out}"
    );
    let at = (issued + 60).to_string();
    let (code, out, err) = run_binary(&[&args[..], &["--at", &at]].concat());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("not now"), "{out}");
    // Never signed so; and signing needs the target's secret.
    let (code, _, err) = run_binary(&[&args[..], &["--ignore-expiry", "--sign"]].concat());
    assert_eq!(code, 2, "{err}");
    let fresh = legacy_token(&json!({}));
    let (code, out, err) = run_binary(&[
        "explain", "--config", cfg, "--target", "mobile", "--token", &fresh, "--sign",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("UNSET_SDK_SECRET_FOR_EXPLAIN"),
        "{out}{err}"
    );
}

/// `explain --demo` explains a token from `dev-token --demo` against the
/// built-in demo config, with no file.
#[test]
fn explain_demo_explains_a_demo_token() {
    let (code, token, err) =
        run_binary(&["dev-token", "--demo", "--source", "demo", "--user", "ada"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run_binary(&[
        "explain",
        "--demo",
        "--target",
        "mobile",
        "--token",
        token.trim(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("ACCEPTED") && out.contains("(verified)"),
        "{out}"
    );
}

/// `serve` logs at start-up what to enter in Zendesk and at the provider,
/// built from `public_url`; `demo --public-url` builds every URL from the
/// address browsers use.
#[tokio::test]
async fn serve_logs_the_urls_to_enter_and_demo_takes_a_public_url() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let public = format!("http://localhost:{port}");
    let listen = format!("127.0.0.1:{port}");
    let gw = start_binary(
        &["demo", "--listen", &listen, "--public-url", &public],
        port,
        dir.path(),
    )
    .await;
    let log = std::fs::read_to_string(&gw.log).unwrap();
    assert!(
        log.contains(&format!(
            "target helpcenter (sso, sandbox): try {public}/sso/helpcenter/login"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "target mobile (sdk): in the Mobile SDK app, JWT endpoint URL {public}/sdk/mobile/jwt"
        )),
        "{log}"
    );
    let start = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/sso/helpcenter/login", gw.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        start.contains(&format!("{public}/sso/helpcenter/login/")),
        "{start}"
    );
    // A config with an oidc source: its redirect URI to register.
    let file = dir.path().join("z.toml");
    let (code, _, err) = run_binary(&[
        "init",
        "--source",
        "oidc",
        "--target",
        "sso",
        "--issuer",
        "https://idp.acme.test/",
        "--client-id",
        "zb-client",
        "--public-url",
        "https://sso.acme.test",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let config = zenbridge::config::load_str(
        &std::fs::read_to_string(&file)
            .unwrap()
            .replace(
                "{ env = \"ZENBRIDGE_COOKIE_KEY\" }",
                "\"cookie-key-0123456789abcdef0123456789\"",
            )
            .replace(
                "{ env = \"OIDC_CLIENT_SECRET\" }",
                "\"client-secret-0123456789\"",
            )
            .replace(
                "{ env = \"ZENDESK_SSO_SECRET\" }",
                "\"sso-secret-0123456789\"",
            ),
        None,
    )
    .unwrap();
    let lines = config.setup_lines();
    assert!(lines.contains(&"target helpcenter (sso): in Zendesk's JWT SSO configuration, remote login URL https://sso.acme.test/sso/helpcenter/login, remote logout URL https://sso.acme.test/sso/helpcenter/logout".to_owned()), "{lines:?}");
    assert!(lines.contains(&"source idp (oidc): at the provider, client zb-client needs the redirect URI https://sso.acme.test/callback".to_owned()), "{lines:?}");
}

/// "Why did this person's sign-in fail?": every response carries a request
/// id (the caller's `X-Request-Id` or `traceparent` when sane), the log
/// lines of that request carry it, a refusal's line has the sentence, the
/// target and source, and a success is one INFO line with a subject hash,
/// never the subject.
#[tokio::test]
async fn request_ids_tie_a_response_to_its_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("z.toml");
    let port = free_port();
    std::fs::write(&file, legacy_config(port, "")).unwrap();
    let gw = start_binary(
        &["serve", "--config", file.to_str().unwrap()],
        port,
        dir.path(),
    )
    .await;
    let client = reqwest::Client::new();
    let post = |token: String, headers: &[(&str, &str)]| {
        let mut req = client
            .post(format!("{}/sdk/mobile/jwt", gw.url))
            .form(&[("user_token", token)]);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
    };
    let id_of = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    // Ours: 32 hex digits, a new one each time.
    let ok = post(legacy_token(&json!({"sub": "person-42"})), &[])
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let generated = id_of(&ok);
    assert_eq!(generated.len(), 32, "{generated}");
    // The caller's, when it is a plain short token.
    let refused = post(
        legacy_token(&json!({"sub": "person-43", "exp": now() - 3600})),
        &[("x-request-id", "lb-7f3a.91")],
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(id_of(&refused), "lb-7f3a.91");
    // A traceparent's trace id; a forged line is not kept.
    let traced = post(
        legacy_token(&json!({})),
        &[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )],
    )
    .await
    .unwrap();
    assert_eq!(id_of(&traced), "4bf92f3577b34da6a3ce929d0e0e4736");
    let forged = post(legacy_token(&json!({})), &[("x-request-id", "a b\tc")])
        .await
        .unwrap();
    assert_ne!(id_of(&forged), "a b\tc");
    assert_eq!(id_of(&forged).len(), 32);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let log = std::fs::read_to_string(&gw.log).unwrap();
    let line = |needle: &str| {
        log.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?}:\n{log}"))
            .to_owned()
    };
    let success = line(&generated);
    assert!(
        success.contains("INFO") && success.contains("token exchanged"),
        "{success}"
    );
    assert!(
        success.contains("target=mobile") && success.contains("source=legacy"),
        "{success}"
    );
    assert!(success.contains("latency_us="), "{success}");
    let subject = zenbridge::gateway::subject_hash("person-42");
    assert!(success.contains(&format!("subject={subject}")), "{success}");
    assert!(!log.contains("person-42"), "a subject in the log:\n{log}");
    let refusal = line("lb-7f3a.91");
    assert!(
        refusal.contains("token refused: the token expired at"),
        "{refusal}"
    );
    assert!(
        refusal.contains("code=token_expired") && refusal.contains("target=mobile"),
        "{refusal}"
    );
    assert!(!log.contains("ERROR"), "{log}");
}

/// Readiness probes every few seconds do not fill the log: losing
/// readiness is one WARN (with the reason), probes after it are DEBUG,
/// and no 503 is an ERROR line.
#[tokio::test]
async fn readiness_probes_log_a_change_once_and_never_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("z.toml");
    let port = free_port();
    let keys_port = free_port();
    let text = legacy_config(port, "").replace(
        &format!("secret = \"{LEGACY_SECRET}\""),
        &format!("jwks_url = \"http://127.0.0.1:{keys_port}/jwks\""),
    );
    std::fs::write(&file, text).unwrap();
    let log = dir.path().join("serve.log");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_zenbridge"))
        .args(["serve", "--config", file.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let mut answered = 0;
    for _ in 0..100 {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
        {
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
            answered += 1;
            if answered == 5 {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(answered, 5);
    let _ = child.kill().await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("ERROR"), "{text}");
    let warns: Vec<&str> = text.lines().filter(|l| l.contains(" not ready")).collect();
    assert_eq!(warns.len(), 1, "{text}");
    assert!(
        warns[0].contains("WARN") && warns[0].contains("source legacy: no keys"),
        "{text}"
    );
}

/// With `ZENBRIDGE_LOG_FORMAT=json` every line is a JSON object, start-up
/// problems included, and a field holds its text, not a quoted string.
#[test]
fn json_logs_are_json_from_the_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("z.toml");
    std::fs::write(
        &file,
        legacy_config(1, "").replace("issuer = \"https://legacy.acme.test\"", ""),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zenbridge"))
        .args(["serve", "--config", file.to_str().unwrap()])
        .env("ZENBRIDGE_LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let problem = lines
        .iter()
        .find(|l| l["fields"]["key"] == "source[0].issuer")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(problem["level"], "ERROR");
    assert_eq!(problem["fields"]["message"], "is required");
}

/// An opaque token may start with "-" (base64url): `--token -abc` is the
/// token, not an unknown option.
#[test]
fn explain_takes_a_token_that_starts_with_a_hyphen() {
    let (code, out, err) = run_binary(&[
        "explain",
        "--demo",
        "--target",
        "mobile",
        "--token",
        "-3xYzOpaqueLooking",
    ]);
    assert!(!err.contains("unexpected argument"), "{err}");
    assert_eq!(code, 1, "{out}{err}");
}
