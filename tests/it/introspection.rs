//! `introspection` sources: opaque access tokens of the reference OP
//! (oidc-provider, with its introspection and userinfo endpoints) turned
//! into Zendesk tokens on `/sdk`, `/exchange` and `/token`; the refusals
//! (inactive, expired, revoked, another client's, a JWT, the wrong declared
//! type); and hostile introspection endpoints (garbage, down, slow), which
//! are `upstream_unavailable`, never a 500. The hostile endpoints and the
//! call counters are small servers on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::common::{Gateway, gateway, now, serve, status_json};
use crate::support::{
    CLIENT_ID, CLIENT_SECRET, Op, OpOptions, POST_CLIENT_ID, POST_CLIENT_SECRET, assert_zendesk_ok,
    op_access_token, op_id_token, op_revoke, shared_op, start_op_with,
};

const SDK_SECRET: &str = "sdk-secret-0123456789abcdef0123456789";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";

/// One introspection source named `name` (more keys in `extra`).
fn source(name: &str, introspection_url: &str, extra: &str) -> String {
    format!(
        r#"
[[source]]
name = "{name}"
kind = "introspection"
introspection_url = "{introspection_url}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
allowed_clients = ["{CLIENT_ID}"]
{extra}
[source.claims]
external_id = "'op|' + claims.sub"
"#
    )
}

/// A gateway whose sdk target `mobile` (also on /exchange and /token)
/// takes the sources `sources` (names), defined by `defs`.
async fn gw(defs: &str, sources: &[&str]) -> Gateway {
    let list = sources
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    gateway(&format!(
        r#"
[server]
listen = "@LISTEN@"
public_url = "@URL@"
cookie_key = "test-cookie-key-0123456789abcdef0123456789"
rate_limit_per_minute = 0
{defs}
[[target]]
name = "mobile"
kind = "sdk"
secret = "{SDK_SECRET}"
sources = [{list}]
endpoints = ["sdk", "exchange", "token"]
"#
    ))
    .await
}

/// The reference OP's introspection source, with its userinfo.
fn op_source(op: &Op, extra: &str) -> String {
    source(
        "op-tokens",
        &op.url("/token/introspection"),
        &format!("userinfo_url = \"{}\"\n{extra}", op.url("/me")),
    )
}

async fn access_token(op: &Op, gw: &Gateway, who: &str) -> String {
    let token = op_access_token(
        op,
        CLIENT_ID,
        CLIENT_SECRET,
        &format!("{}/callback", gw.url),
        who,
    )
    .await
    .expect("code flow at the reference OP");
    assert!(!token.contains('.'), "an opaque access token: {token}");
    token
}

async fn token_endpoint(gw: &Gateway, token: &str, kind: &str) -> (StatusCode, Value) {
    gw.token("mobile", token, kind).await
}

#[tokio::test]
async fn opaque_access_token_becomes_a_zendesk_jwt_on_sdk_exchange_and_token() {
    let op = shared_op().await;
    let gw = gw(&op_source(&op, ""), &["op-tokens"]).await;
    let token = access_token(&op, &gw, "alice@acme.com").await;

    let (status, body) = gw.sdk("mobile", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let p = assert_zendesk_ok(body["jwt"].as_str().unwrap(), SDK_SECRET, "sdk", None);
    // email and name come from the userinfo; sub from the introspection.
    assert_eq!(p["email"], "alice@acme.com");
    assert_eq!(p["name"], "Alice Liddell");
    assert_eq!(p["external_id"], "op|alice");

    let (status, body) = gw.exchange("mobile", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = token_endpoint(&gw, &token, ACCESS_TOKEN).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_zendesk_ok(
        body["access_token"].as_str().unwrap(),
        SDK_SECRET,
        "sdk",
        None,
    );
}

#[tokio::test]
async fn opaque_token_declared_an_id_token_is_token_type_mismatch() {
    let op = shared_op().await;
    let with_opaque = gw(&op_source(&op, ""), &["op-tokens"]).await;
    let token = access_token(&op, &with_opaque, "alice@acme.com").await;
    let (status, body) = token_endpoint(&with_opaque, &token, ID_TOKEN).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error_code"], "token_type_mismatch", "{body}");
    // A target without opaque sources: it is just not a JWT.
    let jwt_only = r#"
[[source]]
name = "legacy"
kind = "jwt"
issuer = "https://legacy.test"
secret = "legacy-secret-0123456789abcdef0123"
audiences = ["zendesk"]
"#;
    let plain = gw(jwt_only, &["legacy"]).await;
    let (_, body) = token_endpoint(&plain, &token, ID_TOKEN).await;
    assert_eq!(body["error_code"], "token_malformed", "{body}");
    let (_, body) = token_endpoint(&plain, &token, ACCESS_TOKEN).await;
    assert_eq!(body["error_code"], "token_malformed", "{body}");
}

#[tokio::test]
async fn revoked_or_unknown_opaque_token_is_token_inactive() {
    let op = shared_op().await;
    let gw = gw(&op_source(&op, ""), &["op-tokens"]).await;
    let token = access_token(&op, &gw, "alice@acme.com").await;
    op_revoke(&op, CLIENT_ID, CLIENT_SECRET, &token).await;
    let (status, body) = gw.sdk("mobile", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error_code"], "token_inactive", "{body}");
    let (_, body) = gw.sdk("mobile", "not-a-token-anyone-issued").await;
    assert_eq!(body["error_code"], "token_inactive", "{body}");
}

#[tokio::test]
async fn expired_opaque_token_is_refused_even_when_its_answer_was_cached() {
    let op = start_op_with(OpOptions {
        access_token_ttl: Some(3),
        ..OpOptions::default()
    })
    .await;
    let gw = gw(
        &op_source(&op, "cache_max = \"1h\"\nleeway = \"0s\""),
        &["op-tokens"],
    )
    .await;
    let token = access_token(&op, &gw, "alice@acme.com").await;
    let (status, body) = gw.sdk("mobile", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (status, body) = gw.sdk("mobile", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        ["token_inactive", "token_expired"].contains(&body["error_code"].as_str().unwrap()),
        "{body}"
    );
}

#[tokio::test]
async fn opaque_token_of_a_client_not_allowed_is_client_not_allowed() {
    let op = shared_op().await;
    let gw = gw(&op_source(&op, ""), &["op-tokens"]).await;
    let token = op_access_token(
        &op,
        POST_CLIENT_ID,
        POST_CLIENT_SECRET,
        &format!("{}/callback", gw.url),
        "alice@acme.com",
    )
    .await
    .unwrap();
    let (status, body) = gw.sdk("mobile", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error_code"], "client_not_allowed", "{body}");
}

#[tokio::test]
async fn unverified_userinfo_email_is_email_unverified() {
    let op = shared_op().await;
    let gw = gw(&op_source(&op, ""), &["op-tokens"]).await;
    let token = access_token(&op, &gw, "bob@example.org").await;
    let (status, body) = gw.sdk("mobile", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error_code"], "email_unverified", "{body}");
}

/// An introspection endpoint that counts its calls and answers `answer`
/// (a status and a body) after `delay`; `/me` answers `userinfo`.
async fn fake_endpoint(
    answer: (u16, String),
    userinfo: Value,
    delay: Duration,
) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let app = Router::new()
        .route(
            "/introspect",
            post(move || {
                let counted = counted.clone();
                let (status, body) = answer.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    (
                        StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/json")],
                        body,
                    )
                }
            }),
        )
        .route(
            "/me",
            get(move || {
                let u = userinfo.clone();
                async move { axum::Json(u) }
            }),
        );
    (serve(app).await, calls)
}

#[tokio::test]
async fn introspection_endpoint_answering_garbage_down_or_slow_is_upstream_unavailable() {
    let mut defs = String::new();
    let mut names = Vec::new();
    // Over the 64 KiB cap, however well formed.
    let huge = json!({"active": true, "sub": "alice", "pad": "x".repeat(70_000)}).to_string();
    let cases: [(&str, u16, &str, Duration); 6] = [
        ("not-json", 200, "<html>hello</html>", Duration::ZERO),
        (
            "string-true",
            200,
            r#"{"active":"true","sub":"alice"}"#,
            Duration::ZERO,
        ),
        ("no-active", 200, r#"{"sub":"alice"}"#, Duration::ZERO),
        ("server-error", 500, r#"{"active":true}"#, Duration::ZERO),
        ("slow", 200, r#"{"active":false}"#, Duration::from_secs(5)),
        ("huge", 200, &huge, Duration::ZERO),
    ];
    for (name, status, body, delay) in cases {
        let (url, _) = fake_endpoint((status, body.to_owned()), json!({}), delay).await;
        defs.push_str(&source(
            name,
            &format!("{url}/introspect"),
            "timeout = \"500ms\"",
        ));
        names.push(name);
    }
    // Nothing listens there.
    let closed = crate::support::free_port();
    defs.push_str(&source(
        "down",
        &format!("http://127.0.0.1:{closed}/introspect"),
        "",
    ));
    names.push("down");
    for name in names {
        let gw = gw(&defs, &[name]).await;
        let started = std::time::Instant::now();
        let (status, body) = gw.sdk("mobile", "opaque-token-123").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{name}: {body}");
        assert_eq!(body["error_code"], "upstream_unavailable", "{name}: {body}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{name}: bounded by the timeout"
        );
    }
}

#[tokio::test]
async fn a_jwt_is_never_sent_to_an_introspection_endpoint() {
    let op = shared_op().await;
    let (url, calls) = fake_endpoint(
        (
            200,
            r#"{"active":true,"sub":"alice","client_id":"zenbridge"}"#.into(),
        ),
        json!({}),
        Duration::ZERO,
    )
    .await;
    let gw = gw(&source("spy", &format!("{url}/introspect"), ""), &["spy"]).await;
    let id_token = op_id_token(
        &op,
        CLIENT_ID,
        CLIENT_SECRET,
        &format!("{}/callback", gw.url),
        "alice@acme.com",
        "n-1",
    )
    .await
    .unwrap();
    let (status, body) = gw.sdk("mobile", &id_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error_code"], "issuer_unknown", "{body}");
    // A broken JWS (its header is JSON) is not an opaque token either.
    let broken = format!("{}.!!", id_token.split('.').next().unwrap());
    let (_, body) = gw.sdk("mobile", &broken).await;
    assert_eq!(body["error_code"], "token_malformed", "{body}");
    // Nor a token with characters a bearer token cannot have.
    let (_, body) = gw.sdk("mobile", "abc def\"").await;
    assert_eq!(body["error_code"], "token_malformed", "{body}");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the spy saw a token");
}

#[tokio::test]
async fn opaque_sources_are_tried_in_order_one_call_each() {
    let op = shared_op().await;
    let (url, calls) = fake_endpoint(
        (200, r#"{"active":false}"#.into()),
        json!({}),
        Duration::ZERO,
    )
    .await;
    let defs = format!(
        "{}{}",
        source("first", &format!("{url}/introspect"), "cache_max = \"0s\""),
        op_source(&op, "cache_max = \"0s\"")
    );
    let gw = gw(&defs, &["first", "op-tokens"]).await;
    let token = access_token(&op, &gw, "alice@acme.com").await;
    let (status, body) = gw.sdk("mobile", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let (status, body) = gw.sdk("mobile", "unknown-to-both").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error_code"], "token_inactive", "{body}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one call per source per token"
    );
}

#[tokio::test]
async fn an_active_answer_is_cached_and_coalesced() {
    let exp = now() + 600;
    let (url, calls) = fake_endpoint(
        (
            200,
            json!({"active": true, "sub": "alice", "client_id": CLIENT_ID, "exp": exp, "email": "alice@acme.com", "email_verified": true}).to_string(),
        ),
        json!({}),
        Duration::from_millis(200),
    )
    .await;
    let gw = gw(
        &source("cached", &format!("{url}/introspect"), ""),
        &["cached"],
    )
    .await;
    let (a, b) = tokio::join!(gw.sdk("mobile", "token-abc"), gw.sdk("mobile", "token-abc"));
    assert_eq!(a.0, StatusCode::OK, "{}", a.1);
    assert_eq!(b.0, StatusCode::OK, "{}", b.1);
    let (status, _) = gw.sdk("mobile", "token-abc").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one call for three uses");
}

/// What `/sdk` answers (status and body) for a token whose introspection
/// answer is `answer` and whose userinfo (when `with_userinfo`) is
/// `userinfo`.
async fn sdk_with_answer(
    answer: Value,
    userinfo: Value,
    with_userinfo: bool,
) -> (StatusCode, Value) {
    let (url, _) = fake_endpoint((200, answer.to_string()), userinfo, Duration::ZERO).await;
    let extra = if with_userinfo {
        format!("userinfo_url = \"{url}/me\"")
    } else {
        String::new()
    };
    let gw = gw(
        &source("fake", &format!("{url}/introspect"), &extra),
        &["fake"],
    )
    .await;
    gw.sdk("mobile", "opaque-token-xyz").await
}

#[tokio::test]
async fn userinfo_of_another_subject_is_refused() {
    let (status, body) = sdk_with_answer(
        json!({"active": true, "sub": "alice", "client_id": CLIENT_ID, "exp": now() + 600}),
        json!({"sub": "mallory", "email": "mallory@acme.com", "email_verified": true}),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error_code"], "claim_invalid", "{body}");
}

#[tokio::test]
async fn sender_constrained_token_is_refused_without_its_proof() {
    let (status, body) = sdk_with_answer(
        json!({"active": true, "sub": "alice", "client_id": CLIENT_ID, "exp": now() + 600,
               "cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}),
        json!({}),
        false,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error_code"], "claim_invalid", "{body}");
}

#[tokio::test]
async fn token_without_a_subject_is_claim_missing() {
    let (_, body) = sdk_with_answer(
        json!({"active": true, "client_id": CLIENT_ID, "exp": now() + 600}),
        json!({}),
        false,
    )
    .await;
    assert_eq!(body["error_code"], "claim_missing", "{body}");
}

#[tokio::test]
async fn readyz_counts_an_introspection_source_ready_without_keys() {
    let op = shared_op().await;
    let gw = gw(&op_source(&op, ""), &["op-tokens"]).await;
    let resp = gw
        .client
        .get(format!("{}/readyz", gw.url))
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A config file for the binary with the reference OP's introspection
/// source, authenticating with `secret`.
fn config_file(op: &Op, secret: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("z.toml");
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"
public_url = "http://127.0.0.1:8080"
cookie_key = "test-cookie-key-0123456789abcdef0123456789"
{}
[[target]]
name = "mobile"
kind = "sdk"
secret = "{SDK_SECRET}"
sources = ["op-tokens"]
"#,
        op_source(op, "").replace(CLIENT_SECRET, secret)
    );
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

#[tokio::test]
async fn check_online_probes_the_introspection_endpoint_with_the_clients_credentials() {
    let op = shared_op().await;
    let (_dir, good) = config_file(&op, CLIENT_SECRET);
    let (_dir2, bad) = config_file(&op, "not-the-client-secret-0123");
    let (ok, refused) = tokio::task::spawn_blocking(move || {
        let run = |f: &std::path::Path| {
            crate::common::run_binary(&["check", "--config", f.to_str().unwrap(), "--online"])
        };
        (run(&good), run(&bad))
    })
    .await
    .unwrap();
    assert_eq!(ok.0, 0, "{}{}", ok.1, ok.2);
    assert!(
        ok.1.contains("source op-tokens: ") && ok.1.contains("answers and accepts client"),
        "{}",
        ok.1
    );
    assert_eq!(refused.0, 1, "{}{}", refused.1, refused.2);
    assert!(
        refused.1.contains("source op-tokens: unavailable:") && refused.1.contains("client_secret"),
        "{}",
        refused.1
    );
    assert!(
        !refused.1.contains("not-the-client-secret"),
        "{}",
        refused.1
    );
    assert!(
        refused.1.trim_end().ends_with(
            "FAILED: 1 source of opaque tokens cannot check them (the config itself is valid: 1 source, 1 target)"
        ),
        "{}",
        refused.1
    );
}

fn problems(text: &str) -> Vec<String> {
    match zenbridge::config::load_str(text, None) {
        Ok(_) => panic!("the config is valid:\n{text}"),
        Err(p) => p.0.iter().map(ToString::to_string).collect(),
    }
}

fn minimal(source_keys: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
public_url = "http://127.0.0.1:8080"
cookie_key = "test-cookie-key-0123456789abcdef0123456789"

[[source]]
name = "tokens"
kind = "introspection"
introspection_url = "https://idp.example.com/introspect"
client_id = "zenbridge"
client_secret = "client-secret-0123456789"
{source_keys}

[[target]]
name = "mobile"
kind = "sdk"
secret = "{SDK_SECRET}"
sources = ["tokens"]
"#
    )
}

#[test]
fn introspection_source_needs_allowed_clients_and_refuses_keys_of_other_kinds() {
    let p = problems(&minimal(""));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].starts_with("source[0].allowed_clients: is required"),
        "{p:#?}"
    );
    let p = problems(&minimal(
        "allowed_clients = [\"app\", \"*\"]\njwks_url = \"https://x.example/jwks\"\ncache_max = \"2h\"\nclient_auth_method = \"private_key_jwt\"",
    ));
    let all = p.join("\n");
    for expected in [
        "source[0].allowed_clients: \"*\" (any client) stands alone",
        "source[0].jwks_url: not a key of a source of kind introspection",
        "source[0].cache_max: must be from 0s to 1h",
        "source[0].client_auth_method: must be client_secret_basic or client_secret_post",
    ] {
        assert!(all.contains(expected), "{expected}\n{all}");
    }
    let cfg = zenbridge::config::load_str(&minimal("allowed_clients = [\"*\"]"), None).unwrap();
    assert!(
        cfg.warnings.iter().any(|w| w
            .to_string()
            .starts_with("source[0].allowed_clients: accepts the access tokens of every client")),
        "{:#?}",
        cfg.warnings
    );
}

#[tokio::test]
async fn explain_shows_the_opaque_sources_asked_in_order_and_their_checks() {
    let op = shared_op().await;
    let (url, _) = fake_endpoint(
        (200, r#"{"active":false}"#.into()),
        json!({}),
        Duration::ZERO,
    )
    .await;
    let gw = gw(&op_source(&op, ""), &["op-tokens"]).await;
    let token = access_token(&op, &gw, "alice@acme.com").await;
    let (_dir, file) = config_file(&op, CLIENT_SECRET);
    // A first source that does not know the token, then the OP's.
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace(
            "[[target]]",
            &format!(
                "{}\n[[target]]",
                source("first", &format!("{url}/introspect"), "")
            ),
        )
        .replace(
            "sources = [\"op-tokens\"]",
            "sources = [\"first\", \"op-tokens\"]",
        );
    std::fs::write(&file, text).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        crate::common::run_binary(&[
            "explain",
            "--config",
            file.to_str().unwrap(),
            "--target",
            "mobile",
            "--token",
            &token,
        ])
    })
    .await
    .unwrap();
    assert_eq!(out.0, 0, "{}{}", out.1, out.2);
    for expected in [
        "not a JWT → the target's opaque sources in order: source \"first\" (introspection), then source \"op-tokens\" (introspection)",
        "✓ introspection: active, client_id zenbridge",
        "claim  external_id      = \"op|alice\"",
        "ACCEPTED",
    ] {
        assert!(
            out.1.contains(expected),
            "missing {expected:?} in:\n{}",
            out.1
        );
    }
}

#[test]
fn an_oidc_and_an_introspection_source_of_one_issuer_may_share_external_ids() {
    let oidc = r#"
[[source]]
name = "idp"
kind = "oidc"
issuer = "https://idp.example.com"
client_id = "app"
[source.claims]
external_id = "'idp|' + claims.sub"
"#;
    let shared = |issuer: &str| {
        minimal(&format!(
            "allowed_clients = [\"app\"]\n{issuer}\n[source.claims]\nexternal_id = \"'idp|' + claims.sub\"\n{oidc}"
        ))
        .replace("sources = [\"tokens\"]", "sources = [\"tokens\", \"idp\"]")
    };
    let namespaced = |text: &str| {
        zenbridge::config::load_str(text, None)
            .unwrap_or_else(|p| panic!("{p}"))
            .warnings
            .iter()
            .any(|w| w.to_string().contains("without distinct prefixes"))
    };
    assert!(!namespaced(&shared("issuer = \"https://idp.example.com\"")));
    // Without the issuer the answers' iss is not checked: another provider.
    assert!(namespaced(&shared("")));
}

#[tokio::test]
async fn client_secret_post_authenticates_at_the_introspection_endpoint() {
    let op = shared_op().await;
    let as_post = |method: &str| {
        op_source(&op, &format!("client_auth_method = \"{method}\""))
            .replace(
                &format!("client_id = \"{CLIENT_ID}\"\n"),
                &format!("client_id = \"{POST_CLIENT_ID}\"\n"),
            )
            .replace(CLIENT_SECRET, POST_CLIENT_SECRET)
    };
    let gw_post = gw(&as_post("client_secret_post"), &["op-tokens"]).await;
    let token = access_token(&op, &gw_post, "alice@acme.com").await;
    let (status, body) = gw_post.sdk("mobile", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
