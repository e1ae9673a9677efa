//! Tests of the test harness itself (tests/it/support): the reference OP, the
//! Zendesk token checker, Redis and the form-following client.

use std::time::Duration;

use crate::support::*;
use base64::Engine as _;
use serde_json::{Value, json};
use url::Url;

const REDIRECT: &str = "http://127.0.0.1:9/callback";

fn clients() -> Value {
    json!([{
        "client_id": "harness",
        "client_secret": "harness-secret",
        "redirect_uris": [REDIRECT],
        "post_logout_redirect_uris": ["http://127.0.0.1:9/"],
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }])
}

fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn hs256(header: &Value, payload: &Value, secret: &str) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let input = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(payload.to_string())
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64.encode(tag.as_ref()))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn op_issues_id_token_for_alice() {
    let op = start_op(clients()).await;
    eprintln!("reference OP started in {:?}", op.started_in);
    assert!(op.issuer.starts_with("http://127.0.0.1:") && !op.issuer.ends_with('/'));

    let discovery = op.discovery().await;
    assert_eq!(discovery["issuer"], op.issuer.as_str());
    assert_eq!(
        discovery["end_session_endpoint"],
        op.url("/session/end").as_str()
    );

    let id_token = op_id_token(
        &op,
        "harness",
        "harness-secret",
        REDIRECT,
        "alice@acme.com",
        "nonce-123",
    )
    .await
    .expect("ID token for alice");
    let (header, claims) = decode_jwt(&id_token);
    assert_eq!(header["alg"], "RS256");
    let kid = header["kid"].as_str().expect("kid");
    assert_eq!(op.jwks().await["keys"][0]["kid"], kid);
    assert_eq!(claims["iss"], op.issuer.as_str());
    assert_eq!(claims["aud"], "harness");
    assert_eq!(claims["nonce"], "nonce-123");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["email"], "alice@acme.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], "Alice Liddell");
    assert_eq!(claims["groups"], json!(["support"]));
}

#[tokio::test]
async fn op_accounts_have_the_documented_claims() {
    let op = shared_op().await;
    let token = |hint: &'static str| {
        let op = &op;
        async move {
            let t = op_id_token(
                op,
                CLIENT_ID,
                CLIENT_SECRET,
                "http://127.0.0.1:4567/callback",
                hint,
                "n",
            )
            .await
            .unwrap();
            decode_jwt(&t).1
        }
    };
    let bob = token("bob@example.org").await;
    assert_eq!(
        (bob["sub"].as_str(), bob["email_verified"].as_bool()),
        (Some("bob"), Some(false))
    );
    assert_eq!(bob["groups"], json!([]));
    let carol = token("carol@acme.com").await;
    assert_eq!(carol["sub"], "carol");
    assert!(carol.get("name").is_none(), "carol has no name: {carol}");
    let noemail = token("noemail@acme.com").await;
    assert_eq!(noemail["name"], "No Email");
    assert!(noemail.get("email").is_none() && noemail.get("email_verified").is_none());
}

#[tokio::test]
async fn op_default_clients_accept_any_loopback_port_and_client_secret_post() {
    let op = shared_op().await;
    let redirect = format!("http://127.0.0.1:{}/callback", free_port());
    let t = op_id_token(
        &op,
        POST_CLIENT_ID,
        POST_CLIENT_SECRET,
        &redirect,
        "alice@acme.com",
        "n2",
    )
    .await
    .expect("client_secret_post client");
    assert_eq!(decode_jwt(&t).1["aud"], POST_CLIENT_ID);
}

#[tokio::test]
async fn op_refuses_unknown_or_missing_login_hint() {
    let op = start_op(clients()).await;
    let (callback, _) = op_authorize(&op, "harness", REDIRECT, Some("mallory@evil.example"), "n")
        .await
        .expect("an error redirect, not a failure");
    assert!(callback.as_str().starts_with(REDIRECT), "{callback}");
    assert_eq!(query(&callback, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&callback, "iss").as_deref(), Some(op.issuer.as_str()));

    let (callback, _) = op_authorize(&op, "harness", REDIRECT, None, "n")
        .await
        .unwrap();
    assert_eq!(query(&callback, "error").as_deref(), Some("access_denied"));

    let (callback, _) = op_authorize(&op, "harness", REDIRECT, Some("error:login_required"), "n")
        .await
        .unwrap();
    assert_eq!(query(&callback, "error").as_deref(), Some("login_required"));

    let err = op_id_token(
        &op,
        "harness",
        "harness-secret",
        REDIRECT,
        "nobody@acme.com",
        "n",
    )
    .await
    .unwrap_err();
    assert!(err.starts_with("access_denied"), "{err}");
}

#[tokio::test]
async fn op_refuses_a_code_used_twice_and_a_wrong_verifier() {
    let op = start_op(clients()).await;
    let (callback, pkce) = op_authorize(&op, "harness", REDIRECT, Some("alice@acme.com"), "n")
        .await
        .unwrap();
    let code = query(&callback, "code").expect("code");
    let first = op_redeem_code(
        &op,
        "harness",
        "harness-secret",
        REDIRECT,
        &code,
        &pkce.verifier,
    )
    .await;
    assert!(first.is_ok(), "{first:?}");
    let second = op_redeem_code(
        &op,
        "harness",
        "harness-secret",
        REDIRECT,
        &code,
        &pkce.verifier,
    )
    .await;
    assert!(
        second.as_ref().is_err_and(|e| e.contains("invalid_grant")),
        "{second:?}"
    );

    let (callback, _) = op_authorize(&op, "harness", REDIRECT, Some("alice@acme.com"), "n")
        .await
        .unwrap();
    let code = query(&callback, "code").expect("code");
    let wrong = op_redeem_code(
        &op,
        "harness",
        "harness-secret",
        REDIRECT,
        &code,
        &Pkce::new().verifier,
    )
    .await;
    assert!(
        wrong.as_ref().is_err_and(|e| e.contains("invalid_grant")),
        "{wrong:?}"
    );
    assert!(op.logs().contains("invalid_grant"), "OP log: {}", op.logs());
}

#[tokio::test]
async fn op_rotates_keys_and_signs_test_tokens() {
    let op = start_op(clients()).await;
    let before = op.jwks().await;
    let old_kid = before["keys"][0]["kid"].as_str().unwrap().to_owned();
    let after = op.rotate_keys(true).await;
    let new_kid = after["keys"][0]["kid"].as_str().unwrap().to_owned();
    assert_ne!(old_kid, new_kid);
    assert_eq!(op.jwks().await, after);
    assert_eq!(after["keys"][1]["kid"], old_kid.as_str());
    assert!(
        after["keys"][0].get("d").is_none(),
        "private part published"
    );

    let t = op_id_token(
        &op,
        "harness",
        "harness-secret",
        REDIRECT,
        "alice@acme.com",
        "n",
    )
    .await
    .unwrap();
    assert_eq!(decode_jwt(&t).0["kid"], new_kid.as_str());

    let signed = op
        .sign_with(&json!({}), &json!({"sub": "x"}), Some(&old_kid))
        .await;
    assert_eq!(decode_jwt(&signed).0["kid"], old_kid.as_str());
    let forged = op
        .id_token_for(
            "harness",
            &json!({"sub": "alice", "email": "a@b.c"}),
            &json!({"exp": 1}),
        )
        .await;
    let (h, p) = decode_jwt(&forged);
    assert_eq!(
        (h["alg"].as_str(), h["typ"].as_str()),
        (Some("RS256"), Some("JWT"))
    );
    assert_eq!(
        (p["iss"].as_str(), p["aud"].as_str(), p["exp"].as_u64()),
        (Some(op.issuer.as_str()), Some("harness"), Some(1))
    );

    let only_new = op.rotate_keys(false).await;
    assert_eq!(only_new["keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn op_restarts_with_a_keys_file_on_the_same_port() {
    let jwks = op_generate_keys(2).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.json");
    std::fs::write(&file, jwks.to_string()).unwrap();
    let mut first = start_op(clients()).await;
    let port: u16 = first.issuer.rsplit(':').next().unwrap().parse().unwrap();
    first.stop().await;
    let op = start_op_with(OpOptions {
        clients: Some(clients()),
        port,
        keys_file: Some(file),
        ..Default::default()
    })
    .await;
    assert_eq!(op.issuer, first.issuer);
    let published = op.jwks().await;
    let kids: Vec<_> = published["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].clone())
        .collect();
    assert_eq!(
        kids,
        vec![
            jwks["keys"][0]["kid"].clone(),
            jwks["keys"][1]["kid"].clone()
        ]
    );
    let t = op_id_token(
        &op,
        "harness",
        "harness-secret",
        REDIRECT,
        "alice@acme.com",
        "n",
    )
    .await
    .unwrap();
    assert_eq!(decode_jwt(&t).0["kid"], jwks["keys"][0]["kid"]);
}

#[test]
fn verifier_accepts_good_and_refuses_bad_tokens() {
    let secret = "a-zendesk-shared-secret";
    let claims =
        json!({"iat": now(), "jti": "j-1", "email": "alice@acme.com", "name": "Alice Liddell"});
    let good = hs256(&json!({"alg": "HS256", "typ": "JWT"}), &claims, secret);
    let ok = verify_zendesk(&good, secret, "sso", None);
    assert_eq!(ok["ok"], true, "{ok}");
    assert_eq!(ok["payload"]["email"], "alice@acme.com");
    assert_eq!(
        assert_zendesk_ok(&good, secret, "sdk", None)["name"],
        "Alice Liddell"
    );

    let no_typ = hs256(&json!({"alg": "HS256"}), &claims, secret);
    let refused = verify_zendesk(&no_typ, secret, "sso", None);
    assert_eq!(refused["ok"], false);
    assert!(refused["errors"].to_string().contains("typ"), "{refused}");

    let wrong_secret = verify_zendesk(&good, "another-secret", "sso", None);
    assert_eq!(wrong_secret["ok"], false);

    let messaging = hs256(
        &json!({"alg": "HS256", "typ": "JWT", "kid": "app_1"}),
        &json!({"scope": "user", "external_id": "alice", "exp": now() + 60, "iat": now(), "jti": "j-2"}),
        secret,
    );
    assert_eq!(
        verify_zendesk(&messaging, secret, "messaging", Some("app_1"))["ok"],
        true
    );
    assert_eq!(
        verify_zendesk(&messaging, secret, "messaging", Some("app_2"))["ok"],
        false
    );
}

#[tokio::test]
async fn redis_starts_and_answers_ping() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut redis = start_redis().await;
    assert_eq!(redis.url, format!("redis://127.0.0.1:{}", redis.port));
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", redis.port))
        .await
        .unwrap();
    stream
        .write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    let n = stream.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"+OK\r\n");
    stream.write_all(b"*1\r\n$4\r\nPING\r\n").await.unwrap();
    let n = stream.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"+PONG\r\n");
    drop(stream);
    redis.stop().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!redis.ping().await, "redis still answers after stop");
}

#[test]
fn forms_are_parsed_like_a_browser_would_submit_them() {
    let html = r#"<html><body><form id="a" method="get" action="/nope"></form>
      <FORM method='POST' action="https://acme.zendesk.com/access/jwt?x=1&amp;y=2">
        <input type="hidden" name="jwt" value="a.b.c"/>
        <input type=hidden name=return_to value="/hc/en-us?q=&quot;x&quot;">
        <input type="submit" value="Continue">
      </FORM></body></html>"#;
    let (action, fields) = parse_post_form(html).expect("a POST form");
    assert_eq!(action, "https://acme.zendesk.com/access/jwt?x=1&y=2");
    assert_eq!(
        fields,
        vec![
            ("jwt".to_owned(), "a.b.c".to_owned()),
            ("return_to".to_owned(), "/hc/en-us?q=\"x\"".to_owned())
        ]
    );
    assert!(parse_post_form("<form method=get action=/x></form>").is_none());
}

#[test]
fn free_port_is_bindable() {
    let port = free_port();
    assert_ne!(port, 0);
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("port is free");
}

#[tokio::test]
async fn op_session_switches_user_by_login_hint_and_logs_out() {
    let op = start_op(clients()).await;
    let b = browser();
    let code_of = |url: &Url| query(url, "code").unwrap_or_else(|| panic!("no code in {url}"));

    let (cb, pkce) = op_authorize_in(
        &b,
        &op,
        "harness",
        REDIRECT,
        Some("alice@acme.com"),
        "n",
        &[],
    )
    .await
    .unwrap();
    let alice = op_redeem_code(
        &op,
        "harness",
        "harness-secret",
        REDIRECT,
        &code_of(&cb),
        &pkce.verifier,
    )
    .await
    .unwrap();
    assert_eq!(
        decode_jwt(alice["id_token"].as_str().unwrap()).1["sub"],
        "alice"
    );

    // The OP session is kept in the jar: prompt=none succeeds without a hint.
    let (cb, _) = op_authorize_in(
        &b,
        &op,
        "harness",
        REDIRECT,
        None,
        "n",
        &[("prompt", "none")],
    )
    .await
    .unwrap();
    code_of(&cb);

    // Another login_hint in the same jar: the OP ends the old session first
    // (an auto-submitting form_post page), then logs bob in.
    let (cb, pkce) = op_authorize_in(
        &b,
        &op,
        "harness",
        REDIRECT,
        Some("bob@example.org"),
        "n",
        &[],
    )
    .await
    .unwrap();
    let bob = op_redeem_code(
        &op,
        "harness",
        "harness-secret",
        REDIRECT,
        &code_of(&cb),
        &pkce.verifier,
    )
    .await
    .unwrap();
    let bob_token = bob["id_token"].as_str().unwrap();
    assert_eq!(decode_jwt(bob_token).1["sub"], "bob");

    let back = op_logout(&b, &op, bob_token, "http://127.0.0.1:9/")
        .await
        .unwrap();
    assert_eq!(
        query(&back, "state").as_deref(),
        Some("logout-state"),
        "{back}"
    );

    let (cb, _) = op_authorize_in(
        &b,
        &op,
        "harness",
        REDIRECT,
        None,
        "n",
        &[("prompt", "none")],
    )
    .await
    .unwrap();
    assert_eq!(
        query(&cb, "error").as_deref(),
        Some("login_required"),
        "{cb}"
    );
}

/// The legacy app speaks Zendesk's protocol as its published examples do:
/// with a session, the remote login URL sends the browser to
/// `{zendesk_url}/access/jwt?jwt=…&return_to=…` (GET), the token HS256 with
/// the shared secret and only `iat`, `jti`, `email`, `name` and the user's
/// extras: no `iss`, `aud` or `exp`. Its check URL answers 401 without a
/// session and the claims with one, by cookie or by mobile token.
#[tokio::test]
async fn legacy_app_speaks_zendesk_jwt_sso_and_checks_sessions() {
    let app = start_legacy_app(LegacyOptions {
        zendesk_url: "http://127.0.0.1:9/zb/legacy".to_owned(),
        ..LegacyOptions::default()
    })
    .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    // No session: the remote login URL shows the login form, coming back.
    let r = http
        .get(app.url("/zendesk/sso?return_to=%2Fhc"))
        .send()
        .await
        .expect("sso");
    assert_eq!(r.status(), 302);
    let login = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(login.starts_with("/login?next="), "{login}");

    // A session: the JWT goes to the configured base URL, by GET.
    let cookie = app.session_for("ada@example.com").await;
    let r = http
        .get(app.url("/zendesk/sso?return_to=%2Fhc%2Fen-us"))
        .header("cookie", format!("legacy_session={cookie}"))
        .send()
        .await
        .expect("sso");
    assert_eq!(r.status(), 302);
    let location = Url::parse(r.headers()["location"].to_str().expect("location")).expect("url");
    assert_eq!(location.path(), "/zb/legacy/access/jwt");
    assert_eq!(query(&location, "return_to").as_deref(), Some("/hc/en-us"));
    let jwt = query(&location, "jwt").expect("jwt in the query");
    let (header, claims) = decode_jwt(&jwt);
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["name"], "Ada Lovelace");
    assert_eq!(claims["external_id"], "legacy-ada");
    assert!(
        claims["iat"].is_i64() && claims["jti"].is_string(),
        "{claims}"
    );
    for absent in ["iss", "aud", "exp"] {
        assert!(claims.get(absent).is_none(), "{absent} in {claims}");
    }
    // Signed with the shared secret, HS256, as Zendesk checks it.
    assert_eq!(header["alg"], "HS256");
    let (input, signature) = jwt.rsplit_once('.').expect("three parts");
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .expect("base64url signature");
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, LEGACY_JWT_SECRET.as_bytes());
    aws_lc_rs::hmac::verify(&key, input.as_bytes(), &signature).expect("HS256 with the secret");

    // A token for chosen claims (what the tests forge or tamper with).
    let (_, custom) = decode_jwt(
        &app.jwt(&json!({ "email": "grace@example.com", "role": "agent" }))
            .await,
    );
    assert_eq!(
        (custom["name"].as_str(), custom["role"].as_str()),
        (Some("Grace Hopper"), Some("agent"))
    );

    // The form-POST variant.
    app.configure(&json!({ "jwt_mode": "post" })).await;
    let page = http
        .get(app.url("/zendesk/sso?return_to=%2Fhc"))
        .header("cookie", format!("legacy_session={cookie}"))
        .send()
        .await
        .expect("sso")
        .text()
        .await
        .expect("page");
    let (action, fields) = parse_post_form(&page).expect("an auto-submitting form");
    assert_eq!(action, "http://127.0.0.1:9/zb/legacy/access/jwt");
    assert!(fields.iter().any(|(k, _)| k == "jwt"), "{fields:?}");

    // The check URL: 401 without a session; the claims with the cookie or
    // with a mobile session token; the cookies it received are recorded.
    let r = http
        .get(app.url("/api/session"))
        .send()
        .await
        .expect("check");
    assert_eq!(r.status(), 401);
    let r = http
        .get(app.url("/api/session"))
        .header("cookie", format!("legacy_session={cookie}; other=1"))
        .send()
        .await
        .expect("check");
    assert_eq!(r.status(), 200);
    let claims: Value = r.json().await.expect("claims");
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["email_verified"], true);
    let stats = app.stats().await;
    assert_eq!(
        stats["last_check_cookies"],
        json!(["legacy_session", "other"])
    );
    let token = app.mobile_token("grace@example.com", "hopper").await;
    let r = http
        .get(app.url("/api/session"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("check");
    let claims: Value = r.json().await.expect("claims");
    assert_eq!(claims["name"], "Grace Hopper");
    app.configure(&json!({ "check_mode": "down" })).await;
    let r = http
        .get(app.url("/api/session"))
        .send()
        .await
        .expect("check");
    assert_eq!(r.status(), 500);
}
