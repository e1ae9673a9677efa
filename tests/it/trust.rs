//! The trust model, tried as an attacker would: each test is named after
//! an attack that yielded a Zendesk token for someone else, and shows it
//! refused with its documented `error_code` (docs/security.md lists them).
//! Real peers: the reference OpenID Provider for upstream ID tokens, the
//! gateway on a loopback socket, raw TCP for a request that straddles a
//! reload.

use std::time::Duration;

use crate::common::{Gateway, gateway, hs256, now, run_binary};
use crate::support::{CLIENT_ID, CLIENT_SECRET, decode_jwt, op_id_token, shared_op};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LEGACY_SECRET: &str = "legacy-shared-secret-0123456789abcdef";
const PARTNER_SECRET: &str = "partner-shared-secret-0123456789abcdef";
const LEGACY_ISS: &str = "https://legacy.acme.test";
const PARTNER_ISS: &str = "https://partner.acme.test";
const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef0123456789abcdef";

fn config(op: &str, legacy_first: bool, legacy_prefix: &str) -> String {
    let legacy = format!(
        r#"
[[source]]
name = "legacy"
kind = "jwt"
issuer = "{LEGACY_ISS}"
secret = "{LEGACY_SECRET}"
audiences = ["zendesk"]
email_domains = ["acme.com", "*.acme.org"]
[source.claims]
external_id = "'{legacy_prefix}' + claims.sub"
"#
    );
    let partner = format!(
        r#"
[[source]]
name = "partner"
kind = "jwt"
issuer = "{PARTNER_ISS}"
secret = "{PARTNER_SECRET}"
audiences = ["zendesk"]
trust_unverified_email = true
[source.claims]
external_id = "'partner|' + claims.sub"
role = "has(claims.role) ? claims.role : null"
"#
    );
    let sources = if legacy_first {
        format!("{legacy}{partner}")
    } else {
        format!("{partner}{legacy}")
    };
    format!(
        r#"
[server]
listen = "@LISTEN@"
public_url = "@URL@"
cookie_key = "test-cookie-key-0123456789abcdef0123456789"
admin_token = "{ADMIN_TOKEN}"
trusted_proxies = ["127.0.0.1"]

[[source]]
name = "op"
kind = "oidc"
issuer = "{op}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
scopes = ["openid", "email", "profile"]
[source.claims]
external_id = "'op|' + claims.sub"
{sources}
[[target]]
name = "helpcenter"
kind = "sso"
sandbox = true
secret = "helpcenter-sso-secret-0123456789"
sources = ["op"]

[[target]]
name = "mobile"
kind = "sdk"
secret = "mobile-sdk-secret-0123456789"
sources = ["op", "legacy", "partner"]

[[target]]
name = "staff"
kind = "sdk"
secret = "staff-sdk-secret-0123456789"
sources = ["partner"]
allowed_roles = ["end_user", "agent", "admin"]

[[target]]
name = "messaging"
kind = "messaging"
key_id = "app_0123456789"
secret = "messaging-secret-0123456789"
sources = ["legacy", "partner"]

[[target]]
name = "locked"
kind = "sdk"
secret = "locked-sdk-secret-0123456789"
sources = ["legacy"]
endpoints = ["sdk", "exchange", "token"]
allowed_ips = ["203.0.113.0/24"]
"#
    )
}

async fn world() -> (crate::support::Op, Gateway) {
    let op = shared_op().await;
    let gw = gateway(&config(&op.issuer, true, "legacy|")).await;
    (op, gw)
}

fn legacy_token(overrides: &Value) -> String {
    signed(LEGACY_SECRET, LEGACY_ISS, overrides)
}

fn partner_token(overrides: &Value) -> String {
    signed(PARTNER_SECRET, PARTNER_ISS, overrides)
}

fn signed(secret: &str, iss: &str, overrides: &Value) -> String {
    let t = now();
    let mut claims = json!({
        "iss": iss, "aud": "zendesk", "sub": "u-1", "email": "dana@acme.com",
        "name": "Dana Scully", "iat": t, "exp": t + 600,
    });
    for (k, v) in overrides.as_object().into_iter().flatten() {
        if v.is_null() {
            claims.as_object_mut().map(|m| m.remove(k));
        } else {
            claims[k] = v.clone();
        }
    }
    hs256(secret, &claims)
}

async fn op_token(op: &crate::support::Op, gw: &Gateway, who: &str) -> String {
    op_id_token(
        op,
        CLIENT_ID,
        CLIENT_SECRET,
        &format!("{}/callback", gw.url),
        who,
        "n-1",
    )
    .await
    .expect("code flow at the reference OP")
}

fn assert_refused(got: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error_code"], code, "{}", got.1);
    assert!(
        !got.1["error_description"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "a refusal says why: {}",
        got.1
    );
}

async fn token_endpoint(gw: &Gateway, audience: &str, token: &str) -> (StatusCode, Value) {
    gw.token(audience, token, "urn:ietf:params:oauth:token-type:id_token")
        .await
}

async fn sdk_from(gw: &Gateway, target: &str, token: &str, xff: &str) -> (StatusCode, Value) {
    let resp = gw
        .client
        .post(format!("{}/sdk/{target}/jwt", gw.url))
        .header("x-forwarded-for", xff)
        .form(&[("user_token", token)])
        .send()
        .await
        .expect("POST /sdk");
    crate::common::status_json(resp).await
}

// ------------------------------------------------------ 1. unverified email

#[tokio::test]
async fn unverified_email_from_the_provider_gets_no_zendesk_token() {
    let (op, gw) = world().await;
    // bob@example.org is email_verified: false at the reference OP: anyone
    // can sign up there with someone else's address.
    let bob = op_token(&op, &gw, "bob@example.org").await;
    let got = gw.sdk("mobile", &bob).await;
    assert_refused(&got, StatusCode::UNAUTHORIZED, "email_unverified");
    assert!(
        got.1["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("email_verified"),
        "the sentence names the claim: {}",
        got.1
    );
    // The same provider's verified user goes through.
    let alice = op_token(&op, &gw, "alice@acme.com").await;
    let (status, body) = gw.sdk("mobile", &alice).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn legacy_token_marked_unverified_gets_no_zendesk_token() {
    let (_op, gw) = world().await;
    let marked = legacy_token(&json!({"email_verified": false}));
    let got = gw.sdk("mobile", &marked).await;
    assert_refused(&got, StatusCode::UNAUTHORIZED, "email_unverified");
    // A legacy app vouches for its own users when it says nothing.
    let (status, body) = gw.sdk("mobile", &legacy_token(&json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn messaging_token_says_email_verified_only_when_the_source_vouches() {
    let (_op, gw) = world().await;
    let (status, body) = gw.exchange("messaging", &legacy_token(&json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, p) = decode_jwt(body["jwt"].as_str().unwrap_or_default());
    assert_eq!(p["email"], "dana@acme.com");
    assert_eq!(p["email_verified"], true, "{p}");
    // partner trusts unverified emails: they pass, but are never called
    // verified in front of Zendesk.
    let (status, body) = gw
        .exchange(
            "messaging",
            &partner_token(&json!({"email_verified": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, p) = decode_jwt(body["jwt"].as_str().unwrap_or_default());
    assert_eq!(p["email"], "dana@acme.com");
    assert!(p.get("email_verified").is_none(), "{p}");
}

#[test]
fn mapping_email_verified_is_a_config_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("z.toml");
    let text = config("http://127.0.0.1:9", true, "legacy|")
        .replace("@LISTEN@", "127.0.0.1:0")
        .replace("@URL@", "http://127.0.0.1:8080")
        .replace(
            "external_id = \"'partner|' + claims.sub\"",
            "external_id = \"'partner|' + claims.sub\"\nemail_verified = \"true\"",
        );
    std::fs::write(&file, text).expect("write config");
    let (code, _, err) = run_binary(&["check", "--config", file.to_str().unwrap_or_default()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("claims.email_verified"), "{err}");
}

// ---------------------------------------------- 2. any endpoint, any target

#[tokio::test]
async fn bearer_token_for_a_browser_only_sso_target_is_refused() {
    let (op, gw) = world().await;
    let alice = op_token(&op, &gw, "alice@acme.com").await;
    let got = gw.exchange("helpcenter", &alice).await;
    assert_refused(&got, StatusCode::FORBIDDEN, "endpoint_not_allowed");
    let got = token_endpoint(&gw, "helpcenter", &alice).await;
    assert_refused(&got, StatusCode::BAD_REQUEST, "endpoint_not_allowed");
    assert_eq!(got.1["error"], "invalid_target", "{}", got.1);
    let got = gw.sdk("helpcenter", &alice).await;
    assert_refused(&got, StatusCode::FORBIDDEN, "endpoint_not_allowed");
}

#[tokio::test]
async fn sdk_token_is_not_handed_out_by_exchange_or_token() {
    let (_op, gw) = world().await;
    let t = legacy_token(&json!({}));
    let got = gw.exchange("mobile", &t).await;
    assert_refused(&got, StatusCode::FORBIDDEN, "endpoint_not_allowed");
    let got = token_endpoint(&gw, "mobile", &t).await;
    assert_refused(&got, StatusCode::BAD_REQUEST, "endpoint_not_allowed");
    // …nor does the SDK endpoint mint messaging tokens.
    let got = gw.sdk("messaging", &t).await;
    assert_refused(&got, StatusCode::FORBIDDEN, "endpoint_not_allowed");
}

#[tokio::test]
async fn allowed_ips_hold_on_every_endpoint_that_mints() {
    let (_op, gw) = world().await;
    let t = legacy_token(&json!({}));
    // The test client is 127.0.0.1, outside 203.0.113.0/24.
    let got = gw.sdk("locked", &t).await;
    assert_refused(&got, StatusCode::FORBIDDEN, "ip_not_allowed");
    let got = gw.exchange("locked", &t).await;
    assert_refused(&got, StatusCode::FORBIDDEN, "ip_not_allowed");
    let got = token_endpoint(&gw, "locked", &t).await;
    assert_eq!(got.0, StatusCode::FORBIDDEN, "{}", got.1);
    assert_eq!(got.1["error_code"], "ip_not_allowed", "{}", got.1);
}

// ------------------------------------------------ 4. X-Forwarded-For spoofing

#[tokio::test]
async fn spoofed_forwarded_address_does_not_pass_allowed_ips() {
    let (_op, gw) = world().await;
    let t = legacy_token(&json!({}));
    // 127.0.0.1 (the peer) is a trusted proxy; what it forwarded is read
    // from the right. A client that writes the allowed address itself is
    // left of the hop the proxy added, or behind a hop nobody can read.
    for spoof in [
        "203.0.113.5, 198.51.100.7",
        "203.0.113.5, unknown",
        "203.0.113.5, 198.51.100.7:4711",
        "203.0.113.5, [2001:db8::1]:443",
        "203.0.113.5, not-an-address",
        "203.0.113.5,",
    ] {
        let got = sdk_from(&gw, "locked", &t, spoof).await;
        assert_refused(&got, StatusCode::FORBIDDEN, "ip_not_allowed");
    }
    // What the proxy really saw, in each spelling, is the client.
    for honest in [
        "198.51.100.7, 203.0.113.5",
        "203.0.113.5:4711",
        "127.0.0.1, 203.0.113.5",
    ] {
        let (status, body) = sdk_from(&gw, "locked", &t, honest).await;
        assert_eq!(status, StatusCode::OK, "{honest}: {body}");
    }
}

// ---------------------------------------------------------- 5. explain

async fn explain(gw: &Gateway, auth: &str, body: &Value) -> (StatusCode, Value) {
    let resp = gw
        .client
        .post(format!("{}/explain", gw.url))
        .bearer_auth(auth)
        .json(body)
        .send()
        .await
        .expect("POST /explain");
    crate::common::status_json(resp).await
}

#[tokio::test]
async fn explain_over_http_signs_no_sample_claims() {
    let (_op, gw) = world().await;
    let forged = json!({
        "target": "mobile", "source": "legacy", "sign": true,
        "claims": {"sub": "victim", "email": "ceo@acme.com", "name": "The CEO"},
    });
    let got = explain(&gw, ADMIN_TOKEN, &forged).await;
    assert_refused(&got, StatusCode::BAD_REQUEST, "request_invalid");
    assert!(got.1.get("jwt").is_none(), "{}", got.1);
    // Without sign, the dry run of sample claims still works.
    let mut dry = forged.clone();
    dry["sign"] = json!(false);
    let (status, body) = explain(&gw, ADMIN_TOKEN, &dry).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["jwt"].is_null(), "{body}");
    // A presented token that verifies may be signed.
    let real = json!({"target": "mobile", "token": legacy_token(&json!({})), "sign": true});
    let (status, body) = explain(&gw, ADMIN_TOKEN, &real).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["jwt"].is_string(), "{body}");
}

#[tokio::test]
async fn guessing_the_admin_token_is_rate_limited() {
    let (_op, gw) = world().await;
    let body = json!({"target": "mobile", "token": "x.y.z"});
    for _ in 0..10 {
        let got = explain(&gw, "wrong-token", &body).await;
        assert_refused(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let got = explain(&gw, "wrong-token", &body).await;
    assert_refused(&got, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // Even the right token waits out the minute from that address.
    let got = explain(&gw, ADMIN_TOKEN, &body).await;
    assert_refused(&got, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

// ------------------------------------------------ 7. the weakest source

#[tokio::test]
async fn email_outside_the_sources_domains_is_refused() {
    let (_op, gw) = world().await;
    for (email, ok) in [
        ("dana@acme.com", true),
        ("dana@eu.acme.org", true),
        ("dana@acme.org", false),
        ("ceo@victim.com", false),
        ("dana@evilacme.com", false),
    ] {
        let got = gw
            .sdk("mobile", &legacy_token(&json!({"email": email})))
            .await;
        if ok {
            assert_eq!(got.0, StatusCode::OK, "{email}: {}", got.1);
        } else {
            assert_refused(&got, StatusCode::UNAUTHORIZED, "email_domain_not_allowed");
        }
    }
}

#[tokio::test]
async fn admin_role_is_refused_unless_the_target_allows_it() {
    let (_op, gw) = world().await;
    let admin = partner_token(&json!({"role": "admin"}));
    let got = gw.sdk("mobile", &admin).await;
    assert_refused(&got, StatusCode::UNAUTHORIZED, "role_not_allowed");
    let (status, body) = gw.sdk("staff", &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, p) = decode_jwt(body["jwt"].as_str().unwrap_or_default());
    assert_eq!(p["role"], "admin");
    let agent = partner_token(&json!({"role": "agent"}));
    assert_eq!(gw.sdk("mobile", &agent).await.0, StatusCode::OK);
}

// ------------------------------------------------ 3. reload mid-request

/// POSTs `body` to `path` in two halves, calling `between` after the first
/// half has reached the server. Returns the status and the JSON body.
async fn post_in_two_halves<F, Fut>(url: &str, path: &str, body: &str, between: F) -> Value
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let addr = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (first, second) = body.split_at(body.len() / 2);
    s.write_all(head.as_bytes()).await.expect("write head");
    s.write_all(first.as_bytes()).await.expect("write half");
    s.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(300)).await;
    between().await;
    s.write_all(second.as_bytes()).await.expect("write rest");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read answer");
    let json = out.split("\r\n\r\n").nth(1).unwrap_or_default();
    // The answer is `Connection: close` and not chunked for a small JSON.
    serde_json::from_str(json.trim()).unwrap_or_else(|_| json!({"raw": out}))
}

#[tokio::test]
async fn reload_mid_request_keeps_the_requests_own_source_mapping() {
    let (op, gw) = world().await;
    let token = legacy_token(&json!({}));
    let body = format!(
        "user_token={}",
        url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
    );
    let state = gw.state.clone();
    let url = gw.url.clone();
    let reordered = config(&op.issuer, false, "reloaded|")
        .replace("@URL@", &url)
        .replace("@LISTEN@", url.trim_start_matches("http://"));
    let answer = post_in_two_halves(&url, "/sdk/mobile/jwt", &body, || async {
        // The sources change places and the legacy source's namespace
        // changes while the request waits for the rest of its body.
        let cfg = zenbridge::config::load_str(&reordered, None).expect("reordered config");
        let rt = zenbridge::gateway::Runtime::new(cfg, &state.shared().http, &state.shared().keys);
        state.replace_runtime(rt);
    })
    .await;
    let jwt = answer["jwt"].as_str().unwrap_or_else(|| panic!("{answer}"));
    let (_, p) = decode_jwt(jwt);
    assert_eq!(p["external_id"], "legacy|u-1", "{p}");
    // A request that starts after the reload gets the new mapping.
    let (status, body) = gw.sdk("mobile", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, p) = decode_jwt(body["jwt"].as_str().unwrap_or_default());
    assert_eq!(p["external_id"], "reloaded|u-1", "{p}");
}

// ------------------------------------------------ error answers

#[tokio::test]
async fn refusals_name_no_configured_issuer_or_source_to_the_caller() {
    let (op, gw) = world().await;
    let stranger = signed(LEGACY_SECRET, "https://stranger.test", &json!({}));
    let got = gw.sdk("mobile", &stranger).await;
    assert_refused(&got, StatusCode::UNAUTHORIZED, "issuer_unknown");
    let text = got.1.to_string();
    for secret_ish in [
        LEGACY_ISS,
        PARTNER_ISS,
        op.issuer.as_str(),
        "legacy",
        "partner",
    ] {
        assert!(!text.contains(secret_ish), "{secret_ish} in {text}");
    }
    let wrong_sig = signed(
        "another-secret-0123456789abcdef0123456",
        LEGACY_ISS,
        &json!({}),
    );
    let got = gw.sdk("mobile", &wrong_sig).await;
    assert_refused(&got, StatusCode::UNAUTHORIZED, "signature_invalid");
    assert!(!got.1.to_string().contains("legacy"), "{}", got.1);
}

// ------------------------------------------------ the binary itself

/// The same attacks against the `zenbridge` binary (`serve`), not the
/// library in this process: what ships refuses them with the same codes.
#[tokio::test]
async fn the_binary_refuses_the_attacks_with_their_codes() {
    let op = shared_op().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let port = crate::support::free_port();
    let listen = format!("127.0.0.1:{port}");
    let text = config(&op.issuer, true, "legacy|")
        .replace("@LISTEN@", &listen)
        .replace("@URL@", &format!("http://{listen}"));
    let file = dir.path().join("zenbridge.toml");
    std::fs::write(&file, text).expect("write config");
    let bin = crate::common::start_binary(
        &["serve", "--config", file.to_str().unwrap_or_default()],
        port,
        dir.path(),
    )
    .await;
    let gw = Gateway {
        url: bin.url.clone(),
        state: world().await.1.state,
        client: reqwest::Client::new(),
    };
    let bob = op_token(&op, &gw, "bob@example.org").await;
    let got = gw.sdk("mobile", &bob).await;
    assert_refused(&got, StatusCode::UNAUTHORIZED, "email_unverified");
    let alice = op_token(&op, &gw, "alice@acme.com").await;
    let got = gw.exchange("helpcenter", &alice).await;
    assert_refused(&got, StatusCode::FORBIDDEN, "endpoint_not_allowed");
    let t = legacy_token(&json!({}));
    let got = sdk_from(&gw, "locked", &t, "203.0.113.5, unknown").await;
    assert_refused(&got, StatusCode::FORBIDDEN, "ip_not_allowed");
    let forged = json!({"target": "mobile", "source": "legacy", "sign": true,
        "claims": {"sub": "victim", "email": "ceo@acme.com", "name": "CEO"}});
    let got = explain(&gw, ADMIN_TOKEN, &forged).await;
    assert_refused(&got, StatusCode::BAD_REQUEST, "request_invalid");
    let got = gw
        .sdk("mobile", &partner_token(&json!({"role": "admin"})))
        .await;
    assert_refused(&got, StatusCode::UNAUTHORIZED, "role_not_allowed");
}

/// RFC 8693's `subject_token_type` is checked against the token's own
/// `typ`: an RFC 9068 access token is not an ID token, and is taken only
/// when the caller says it is one (its issuer's `audiences` still apply).
#[tokio::test]
async fn access_token_declared_as_an_id_token_is_refused_on_token() {
    let (_op, gw) = world().await;
    let t = now();
    let at = crate::common::raw_hs256_with_header(
        LEGACY_SECRET,
        &json!({"alg": "HS256", "typ": "at+jwt"}),
        &json!({"iss": LEGACY_ISS, "aud": "zendesk", "sub": "u-1", "email": "dana@acme.com",
                "name": "Dana", "iat": t, "exp": t + 600}),
    );
    let post = |typ: &'static str| {
        let at = at.clone();
        let gw = &gw;
        async move {
            let resp = gw
                .client
                .post(format!("{}/token", gw.url))
                .form(&[
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:token-exchange",
                    ),
                    ("subject_token", at.as_str()),
                    ("subject_token_type", typ),
                    ("audience", "messaging"),
                ])
                .send()
                .await
                .expect("POST /token");
            crate::common::status_json(resp).await
        }
    };
    let got = post("urn:ietf:params:oauth:token-type:id_token").await;
    assert_refused(&got, StatusCode::BAD_REQUEST, "token_type_mismatch");
    let got = post("urn:ietf:params:oauth:token-type:access_token").await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    // The app endpoints take ID tokens only.
    let got = gw.exchange("messaging", &at).await;
    assert_refused(&got, StatusCode::UNAUTHORIZED, "token_type_mismatch");
}
