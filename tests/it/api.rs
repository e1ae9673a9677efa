//! The app-facing token endpoints against real peers: the reference OpenID
//! Provider, Firebase-format and JWKS keys served on loopback, a legacy
//! HS256 issuer; minted tokens checked by the independent Node verifier.

use crate::common::{Gateway, KeyServer, TestKey, gateway, hs256, now, raw_jwt, rsa_key};
use crate::support::{
    CLIENT_ID, CLIENT_SECRET, assert_zendesk_ok, decode_jwt, op_id_token, shared_op,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SDK_SECRET: &str = "mobile-sdk-secret-0123456789";
const LEGACY_SECRET: &str = "legacy-shared-secret-0123456789abcdef";
const LEGACY_ISS: &str = "https://legacy.acme.test";

fn config(op: &str, keys: &str) -> String {
    format!(
        r#"
[server]
listen = "@LISTEN@"
public_url = "@URL@"
cookie_key = "test-cookie-key-0123456789abcdef0123456789"
max_token_bytes = 8192
max_body_bytes = 16384
rate_limit_per_minute = 0

[[source]]
name = "op"
kind = "oidc"
issuer = "{op}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
scopes = ["openid", "email", "profile", "groups"]
[source.claims]
external_id = "'op|' + claims.sub"
role = "has(claims.groups) && 'support' in claims.groups ? 'agent' : 'end_user'"

[[source]]
name = "firebase"
kind = "firebase"
project_id = "acme-mobile"
keys_url = "{keys}/certs"
[source.claims]
external_id = "'fb|' + claims.sub"

[[source]]
name = "legacy"
kind = "jwt"
issuer = "{LEGACY_ISS}"
secret = "{LEGACY_SECRET}"
audiences = ["zendesk"]

[[source]]
name = "partner"
kind = "jwt"
issuer = "https://partner.test"
jwks_url = "{keys}/jwks"
audiences = ["zendesk"]

[[source]]
name = "outsider"
kind = "jwt"
issuer = "https://outsider.test"
secret = "outsider-secret-0123456789abcdefgh"
audiences = ["zendesk"]

[[target]]
name = "mobile"
kind = "sdk"
secret = "{SDK_SECRET}"
sources = ["op", "firebase", "legacy", "partner"]

[[target]]
name = "verified-only"
kind = "sdk"
secret = "{SDK_SECRET}"
sources = ["legacy", "outsider"]
[[target.rules]]
expression = "has(claims.email_verified) && claims.email_verified == true"
message = "the email address is not verified"

[[target]]
name = "broken"
kind = "sdk"
secret = "{SDK_SECRET}"
sources = ["legacy"]
[target.claims]
name = "claims.email.split('@')[5]"

[[target]]
name = "messaging"
kind = "messaging"
key_id = "app_64a1b2c3"
secret = "messaging-secret-0123456789"
sources = ["legacy"]
ttl = "5m"
allowed_origins = ["https://www.acme.test"]
[target.claims]
external_id = "'legacy|' + claims.sub"

[[target]]
name = "chat"
kind = "chat"
secret = "chat-secret-0123456789"
sources = ["legacy"]
ttl = "7m"
[target.claims]
external_id = "'legacy|' + claims.sub"
"#
    )
}

struct World {
    gw: Gateway,
    op: crate::support::Op,
    keys: KeyServer,
    fb: TestKey,
}

async fn world() -> World {
    let op = shared_op().await;
    let fb = rsa_key("fb-key-1");
    let keys = KeyServer::start(&[&fb]).await;
    let gw = gateway(&config(&op.issuer, &keys.url)).await;
    World { gw, op, keys, fb }
}

fn legacy(overrides: &Value) -> String {
    hs256(LEGACY_SECRET, &legacy_claims(overrides))
}

/// A legacy token whose header says `typ`.
fn legacy_typed(typ: &str, overrides: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some(typ.to_owned());
    jsonwebtoken::encode(
        &header,
        &legacy_claims(overrides),
        &jsonwebtoken::EncodingKey::from_secret(LEGACY_SECRET.as_bytes()),
    )
    .unwrap()
}

fn legacy_claims(overrides: &Value) -> Value {
    let t = now();
    let mut claims = json!({
        "iss": LEGACY_ISS, "aud": "zendesk", "sub": "u-42", "email": "dana@acme.com",
        "name": "Dana Scully", "email_verified": true, "iat": t, "exp": t + 600,
    });
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

fn firebase_claims(t: i64) -> Value {
    json!({
        "iss": "https://securetoken.google.com/acme-mobile", "aud": "acme-mobile",
        "sub": "fbuid123", "user_id": "fbuid123", "email": "fox@acme.com", "email_verified": true,
        "iat": t, "auth_time": t - 10, "exp": t + 3600, "firebase": {"sign_in_provider": "password"},
    })
}

/// A form, the OAuth error and the error_code it must get.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);

fn assert_refused(got: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error_code"], code, "{}", got.1);
    let desc = got.1["error_description"].as_str().unwrap_or_default();
    assert!(!desc.is_empty(), "a refusal says why: {}", got.1);
}

#[tokio::test]
async fn reference_op_id_token_becomes_a_zendesk_sdk_jwt() {
    let w = world().await;
    let id_token = op_id_token(
        &w.op,
        CLIENT_ID,
        CLIENT_SECRET,
        &format!("{}/callback", w.gw.url),
        "alice@acme.com",
        "n-1",
    )
    .await
    .expect("code flow at the reference OP");
    let (status, body) = w.gw.sdk("mobile", &id_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let jwt = body["jwt"].as_str().unwrap();
    let p = assert_zendesk_ok(jwt, SDK_SECRET, "sdk", None);
    assert_eq!(p["email"], "alice@acme.com");
    assert_eq!(p["name"], "Alice Liddell");
    assert_eq!(p["external_id"], "op|alice");
    assert_eq!(p["role"], "agent");
    assert!(p.get("exp").is_none(), "sdk tokens carry no exp: {p}");
}

#[tokio::test]
async fn firebase_token_becomes_a_zendesk_sdk_jwt() {
    let w = world().await;
    let token = w.fb.sign(&firebase_claims(now()));
    let (status, body) = w.gw.sdk("mobile", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let p = assert_zendesk_ok(body["jwt"].as_str().unwrap(), SDK_SECRET, "sdk", None);
    assert_eq!(p["external_id"], "fb|fbuid123");
    assert_eq!(p["name"], "fox", "no name claim: the email's local part");
}

#[tokio::test]
async fn firebase_keys_published_as_jwks_are_understood_too() {
    let fb = rsa_key("fb-jwks");
    let keys = KeyServer::start(&[&fb]).await;
    let op = shared_op().await;
    let gw = gateway(&config(&op.issuer, &keys.url).replace(
        &format!("{}/certs", keys.url),
        &format!("{}/jwks", keys.url),
    ))
    .await;
    let (status, body) = gw.sdk("mobile", &fb.sign(&firebase_claims(now()))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn legacy_hs256_token_becomes_a_zendesk_sdk_jwt() {
    let w = world().await;
    let (status, body) = w.gw.sdk("mobile", &legacy(&json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let p = assert_zendesk_ok(body["jwt"].as_str().unwrap(), SDK_SECRET, "sdk", None);
    let (header, _) = decode_jwt(body["jwt"].as_str().unwrap());
    assert_eq!(header, json!({"alg": "HS256", "typ": "JWT"}));
    assert_eq!(p["email"], "dana@acme.com");
}

#[tokio::test]
async fn every_minted_token_has_a_fresh_jti() {
    let w = world().await;
    let token = legacy(&json!({}));
    let a = w.gw.sdk("mobile", &token).await.1;
    let b = w.gw.sdk("mobile", &token).await.1;
    let (_, pa) = decode_jwt(a["jwt"].as_str().unwrap());
    let (_, pb) = decode_jwt(b["jwt"].as_str().unwrap());
    assert_ne!(pa["jti"], pb["jti"]);
    assert!(pa["iat"].is_i64());
}

#[tokio::test]
async fn messaging_token_has_kid_scope_external_id_and_short_exp() {
    let w = world().await;
    let (status, body) = w.gw.exchange("messaging", &legacy(&json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["expires_in"], 300);
    let p = assert_zendesk_ok(
        body["jwt"].as_str().unwrap(),
        "messaging-secret-0123456789",
        "messaging",
        Some("app_64a1b2c3"),
    );
    assert_eq!(p["scope"], "user");
    assert_eq!(p["external_id"], "legacy|u-42");
    assert_eq!(p["exp"].as_i64().unwrap() - p["iat"].as_i64().unwrap(), 300);
}

#[tokio::test]
async fn chat_token_expires_at_most_seven_minutes_after_iat() {
    let w = world().await;
    let (status, body) = w.gw.exchange("chat", &legacy(&json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let p = assert_zendesk_ok(
        body["jwt"].as_str().unwrap(),
        "chat-secret-0123456789",
        "chat",
        None,
    );
    assert_eq!(p["exp"].as_i64().unwrap() - p["iat"].as_i64().unwrap(), 420);
}

#[tokio::test]
async fn token_endpoint_speaks_rfc_8693() {
    let w = world().await;
    let url = format!("{}/token", w.gw.url);
    let ok =
        w.gw.client
            .post(&url)
            .form(&[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", &legacy(&json!({}))),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:id_token",
                ),
                // /token mints chat and messaging tokens by default.
                ("audience", "chat"),
            ])
            .send()
            .await
            .unwrap();
    assert_eq!(ok.headers()["cache-control"], "no-store");
    let (status, body) = crate::common::status_json(ok).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:jwt"
    );
    assert_eq!(body["token_type"], "N_A");
    assert_eq!(body["expires_in"], 420);
    assert_zendesk_ok(
        body["access_token"].as_str().unwrap(),
        "chat-secret-0123456789",
        "chat",
        None,
    );

    let cases: [Case; 5] = [
        (
            &[("grant_type", "password")],
            "unsupported_grant_type",
            "grant_type_unsupported",
        ),
        (
            &[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:id_token",
                ),
            ],
            "invalid_request",
            "request_invalid",
        ),
        (
            &[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", "x.y.z"),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:saml2",
                ),
            ],
            "invalid_request",
            "token_type_unsupported",
        ),
        (
            &[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", "x.y.z"),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
                ("audience", "nope"),
            ],
            "invalid_target",
            "target_unknown",
        ),
        (
            &[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", "x.y.z"),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
            ],
            "invalid_target",
            "target_unknown",
        ),
    ];
    for (form, error, code) in cases {
        let (status, body) =
            crate::common::status_json(w.gw.client.post(&url).form(form).send().await.unwrap())
                .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form:?}: {body}");
        assert_eq!(
            (
                body["error"].as_str().unwrap(),
                body["error_code"].as_str().unwrap()
            ),
            (error, code),
            "{form:?}"
        );
    }
    let bad = legacy(&json!({"exp": now() - 3600}));
    let (status, body) = crate::common::status_json(
        w.gw.client
            .post(&url)
            .form(&[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", bad.as_str()),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
                ("audience", "chat"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (
            status,
            body["error"].as_str().unwrap(),
            body["error_code"].as_str().unwrap()
        ),
        (StatusCode::BAD_REQUEST, "invalid_grant", "token_expired")
    );
}

#[tokio::test]
async fn sdk_endpoint_wants_user_token_and_never_redirects() {
    let w = world().await;
    let resp =
        w.gw.client
            .post(format!("{}/sdk/mobile/jwt", w.gw.url))
            .form(&[("other", "x")])
            .send()
            .await
            .unwrap();
    assert_refused(
        &crate::common::status_json(resp).await,
        StatusCode::BAD_REQUEST,
        "request_invalid",
    );
    let got = w.gw.sdk("nope", &legacy(&json!({}))).await;
    assert_refused(&got, StatusCode::NOT_FOUND, "target_unknown");
    // A messaging target is never minted by the SDK endpoint.
    let got = w.gw.sdk("messaging", &legacy(&json!({}))).await;
    assert_refused(&got, StatusCode::FORBIDDEN, "endpoint_not_allowed");
    let resp =
        w.gw.client
            .post(format!("{}/sdk/mobile/jwt", w.gw.url))
            .form(&[("user_token", "garbage")])
            .send()
            .await
            .unwrap();
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer error=\"invalid_token\"")
    );
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_tokens_are_refused_with_their_error_codes() {
    let w = world().await;
    let t = now();
    let cases = [
        (
            "expired",
            legacy(&json!({"exp": t - 3600})),
            "token_expired",
        ),
        (
            "not yet valid",
            legacy(&json!({"nbf": t + 3600})),
            "token_not_yet_valid",
        ),
        (
            "issued in the future",
            legacy(&json!({"iat": t + 3600})),
            "token_issued_in_future",
        ),
        (
            "unknown issuer",
            legacy(&json!({"iss": "https://evil.test"})),
            "issuer_unknown",
        ),
        ("no issuer", legacy(&json!({"iss": null})), "issuer_unknown"),
        (
            "wrong audience",
            legacy(&json!({"aud": "someone-else"})),
            "audience_mismatch",
        ),
        ("no exp", legacy(&json!({"exp": null})), "claim_missing"),
        (
            "exp i64::MIN",
            legacy(&json!({"exp": i64::MIN})),
            "claim_invalid",
        ),
        ("exp 1e300", legacy(&json!({"exp": 1e300})), "claim_invalid"),
        (
            "iat i64::MAX",
            legacy(&json!({"iat": i64::MAX})),
            "claim_invalid",
        ),
        (
            "nbf -1e300",
            legacy(&json!({"nbf": -1e300})),
            "claim_invalid",
        ),
        (
            "wrong secret",
            hs256(
                "not-the-legacy-secret-000",
                &json!({"iss": LEGACY_ISS, "aud": "zendesk", "exp": t + 60, "email": "a@b.co"}),
            ),
            "signature_invalid",
        ),
        (
            "missing email with the default mapping",
            legacy(&json!({"email": null})),
            "claim_missing",
        ),
        (
            "bad email",
            legacy(&json!({"email": "not-an-address"})),
            "claim_invalid",
        ),
        ("not base64", "@@@.@@@.@@@".to_owned(), "token_malformed"),
        (
            "not JSON",
            "eyJub3QganNvbg.eyJub3QganNvbg.c2ln".to_owned(),
            "token_malformed",
        ),
        (
            "two parts",
            "eyJhbGciOiJIUzI1NiJ9.e30".to_owned(),
            "token_malformed",
        ),
        (
            "alg none",
            raw_jwt(
                &json!({"alg": "none"}),
                &json!({"iss": LEGACY_ISS, "aud": "zendesk", "exp": t + 60}),
                b"",
            ),
            "algorithm_not_allowed",
        ),
        (
            "RS256 to an HS256 source",
            raw_jwt(
                &json!({"alg": "RS256"}),
                &json!({"iss": LEGACY_ISS, "aud": "zendesk", "exp": t + 60}),
                b"sig",
            ),
            "algorithm_not_allowed",
        ),
        (
            "oversized",
            format!("{}.{}.sig", "a".repeat(5000), "b".repeat(5000)),
            "token_too_large",
        ),
    ];
    for (what, token, code) in cases {
        let got = w.gw.sdk("mobile", &token).await;
        assert_eq!(got.1["error_code"], code, "{what}: {}", got.1);
        assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{what}");
        assert!(
            !got.1["error_description"]
                .as_str()
                .unwrap()
                .contains(&token),
            "{what}: the token is never echoed"
        );
    }
}

#[tokio::test]
async fn audience_refusal_says_what_was_expected_and_found() {
    let w = world().await;
    let got =
        w.gw.sdk("mobile", &legacy(&json!({"aud": ["a", "b"]})))
            .await;
    assert_eq!(
        got.1["error_description"],
        "audience must be one of [zendesk]; the token has [a, b]"
    );
}

#[tokio::test]
async fn source_not_listed_by_the_target_is_issuer_not_allowed() {
    let w = world().await;
    let t = now();
    let token = hs256(
        "outsider-secret-0123456789abcdefgh",
        &json!({"iss": "https://outsider.test", "aud": "zendesk", "exp": t + 60, "email": "o@x.co"}),
    );
    assert_refused(
        &w.gw.sdk("mobile", &token).await,
        StatusCode::UNAUTHORIZED,
        "issuer_not_allowed",
    );
    let ok = w.gw.sdk("verified-only", &hs256("outsider-secret-0123456789abcdefgh", &json!({"iss": "https://outsider.test", "aud": "zendesk", "exp": t + 60, "email": "o@x.co", "email_verified": true}))).await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
}

#[tokio::test]
async fn hs256_token_signed_with_the_public_key_is_refused() {
    // Algorithm confusion: an attacker signs HS256 with the RSA public key
    // (which is public) as the HMAC secret. The partner source uses public
    // keys, so HMAC is not on its allow-list.
    let w = world().await;
    let partner = rsa_key("p1");
    w.keys.add(&partner);
    let t = now();
    let forged = hs256(
        &partner.public_pem,
        &json!({"iss": "https://partner.test", "aud": "zendesk", "exp": t + 60, "email": "x@y.co"}),
    );
    assert_refused(
        &w.gw.sdk("mobile", &forged).await,
        StatusCode::UNAUTHORIZED,
        "algorithm_not_allowed",
    );
    let real = partner.sign(
        &json!({"iss": "https://partner.test", "aud": "zendesk", "exp": t + 60, "email": "x@y.co"}),
    );
    assert_eq!(w.gw.sdk("mobile", &real).await.0, StatusCode::OK);
}

/// POSTs `token` to the SDK endpoint `n` times concurrently.
async fn all_at_once(gw: &Gateway, token: &str, n: usize) -> Vec<reqwest::StatusCode> {
    let url = format!("{}/sdk/mobile/jwt", gw.url);
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (url, token) = (url.clone(), token.to_owned());
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .form(&[("user_token", token)])
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn unknown_kid_triggers_one_refetch_then_key_unknown() {
    let w = world().await;
    let t = now();
    let claims =
        json!({"iss": "https://partner.test", "aud": "zendesk", "exp": t + 60, "email": "x@y.co"});
    let p1 = rsa_key("p1");
    w.keys.add(&p1);
    assert_eq!(
        w.gw.sdk("mobile", &p1.sign(&claims)).await.0,
        StatusCode::OK
    );
    let before = w.keys.fetch_count();
    let stranger = rsa_key("not-published");
    let got = w.gw.sdk("mobile", &stranger.sign(&claims)).await;
    assert_refused(&got, StatusCode::UNAUTHORIZED, "key_unknown");
    assert_eq!(
        w.keys.fetch_count(),
        before + 1,
        "exactly one refetch for an unknown kid"
    );
    // Within the refresh interval, more unknown kids cause no more fetches,
    // even when many arrive at once.
    for status in all_at_once(&w.gw, &stranger.sign(&claims), 20).await {
        assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        w.keys.fetch_count(),
        before + 1,
        "rate-limited: no second fetch within the interval"
    );
}

#[tokio::test]
async fn rotated_key_is_found_by_one_coalesced_refetch() {
    let w = world().await;
    let t = now();
    let claims =
        json!({"iss": "https://partner.test", "aud": "zendesk", "exp": t + 60, "email": "x@y.co"});
    let old = rsa_key("old");
    w.keys.add(&old);
    assert_eq!(
        w.gw.sdk("mobile", &old.sign(&claims)).await.0,
        StatusCode::OK
    );
    let before = w.keys.fetch_count();
    let new = rsa_key("new");
    w.keys.add(&new);
    for status in all_at_once(&w.gw, &new.sign(&claims), 10).await {
        assert_eq!(status, reqwest::StatusCode::OK);
    }
    assert_eq!(
        w.keys.fetch_count(),
        before + 1,
        "ten requests with a new kid, one fetch"
    );
}

#[tokio::test]
async fn known_keys_keep_verifying_while_the_provider_is_down() {
    let w = world().await;
    let token = w.fb.sign(&firebase_claims(now()));
    assert_eq!(w.gw.sdk("mobile", &token).await.0, StatusCode::OK);
    w.keys.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        w.gw.sdk("mobile", &w.fb.sign(&firebase_claims(now())))
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn provider_never_reached_is_upstream_unavailable_and_not_ready() {
    let fb = rsa_key("k");
    let keys = KeyServer::start(&[&fb]).await;
    keys.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let op = shared_op().await;
    let gw = gateway(&config(&op.issuer, &keys.url)).await;
    let got = gw.sdk("mobile", &fb.sign(&firebase_claims(now()))).await;
    assert_refused(
        &got,
        StatusCode::SERVICE_UNAVAILABLE,
        "upstream_unavailable",
    );
    let (status, body) = crate::common::status_json(
        gw.client
            .get(format!("{}/readyz", gw.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["not_ready"][0]["source"], "firebase", "{body}");
    keys.fail.store(false, std::sync::atomic::Ordering::SeqCst);
}

#[tokio::test]
async fn readyz_is_green_when_every_source_has_keys() {
    let w = world().await;
    let (status, body) = crate::common::status_json(
        w.gw.client
            .get(format!("{}/readyz", w.gw.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let health =
        w.gw.client
            .get(format!("{}/healthz", w.gw.url))
            .send()
            .await
            .unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);
}

#[tokio::test]
async fn firebase_rules_are_enforced() {
    let w = world().await;
    let t = now();
    let mut long_sub = firebase_claims(t);
    long_sub["sub"] = json!("x".repeat(129));
    let mut future_auth = firebase_claims(t);
    future_auth["auth_time"] = json!(t + 3600);
    let mut wrong_aud = firebase_claims(t);
    wrong_aud["aud"] = json!("other-project");
    let mut unsigned = firebase_claims(t);
    unsigned["sub"] = json!("emu");
    let cases = [
        (w.fb.sign(&long_sub), "claim_invalid"),
        (w.fb.sign(&future_auth), "token_issued_in_future"),
        (w.fb.sign(&wrong_aud), "audience_mismatch"),
        (
            raw_jwt(&json!({"alg": "none", "typ": "JWT"}), &unsigned, b""),
            "algorithm_not_allowed",
        ),
    ];
    for (token, code) in cases {
        assert_refused(
            &w.gw.sdk("mobile", &token).await,
            StatusCode::UNAUTHORIZED,
            code,
        );
    }
}

#[tokio::test]
async fn failing_rule_and_failing_expression_are_refused_not_crashed() {
    let w = world().await;
    let got =
        w.gw.sdk("verified-only", &legacy(&json!({"email_verified": false})))
            .await;
    assert_refused(&got, StatusCode::UNAUTHORIZED, "rule_failed");
    assert_eq!(
        got.1["error_description"],
        "the email address is not verified"
    );
    let got = w.gw.sdk("broken", &legacy(&json!({}))).await;
    assert_refused(&got, StatusCode::UNAUTHORIZED, "claim_invalid");
    assert!(
        got.1["error_description"]
            .as_str()
            .unwrap()
            .starts_with("claim `name` could not be computed"),
        "{}",
        got.1
    );
}

#[tokio::test]
async fn oversized_body_is_413_body_too_large() {
    let w = world().await;
    let body = format!("user_token={}", "a".repeat(20_000));
    let resp =
        w.gw.client
            .post(format!("{}/sdk/mobile/jwt", w.gw.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
    assert_refused(
        &crate::common::status_json(resp).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
    );
}

#[tokio::test]
async fn exchange_allows_cors_only_for_the_targets_origins() {
    let w = world().await;
    let pre = |origin: &'static str| {
        w.gw.client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/exchange/messaging", w.gw.url),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let ok = pre("https://www.acme.test").await.unwrap();
    assert_eq!(
        ok.headers().get("access-control-allow-origin").unwrap(),
        "https://www.acme.test"
    );
    let evil = pre("https://evil.test").await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    let missing =
        w.gw.client
            .post(format!("{}/exchange/messaging", w.gw.url))
            .send()
            .await
            .unwrap();
    assert_refused(
        &crate::common::status_json(missing).await,
        StatusCode::BAD_REQUEST,
        "request_invalid",
    );
}

#[tokio::test]
async fn metrics_count_outcomes_and_failures() {
    let w = world().await;
    w.gw.sdk("mobile", &legacy(&json!({}))).await;
    w.gw.sdk("mobile", &legacy(&json!({"exp": now() - 3600})))
        .await;
    let text =
        w.gw.client
            .get(format!("{}/metrics", w.gw.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    assert!(text.contains(r#"zenbridge_requests_total{route="sdk",target="mobile",source="legacy",outcome="ok"} 1"#), "{text}");
    assert!(
        text.contains(r#"zenbridge_verification_failures_total{error_code="token_expired"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("zenbridge_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn explain_over_http_needs_the_admin_token_and_is_absent_without_one() {
    let w = world().await;
    let no_admin =
        w.gw.client
            .post(format!("{}/explain", w.gw.url))
            .json(&json!({"target": "mobile", "token": "x"}))
            .send()
            .await
            .unwrap();
    assert_eq!(no_admin.status(), reqwest::StatusCode::NOT_FOUND);

    let op = shared_op().await;
    let text = config(&op.issuer, &w.keys.url).replace(
        "rate_limit_per_minute = 0",
        "rate_limit_per_minute = 0\nadmin_token = \"admin-token-0123456789abcdef0123456789abcd\"",
    );
    let gw = gateway(&text).await;
    let url = format!("{}/explain", gw.url);
    let wrong = gw
        .client
        .post(&url)
        .bearer_auth("admin-token-0123456789abcdef0123456789abcX")
        .json(&json!({"target": "mobile", "token": "x"}))
        .send()
        .await
        .unwrap();
    assert_refused(
        &crate::common::status_json(wrong).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    let resp = gw
        .client
        .post(&url)
        .bearer_auth("admin-token-0123456789abcdef0123456789abcd")
        .json(&json!({"target": "mobile", "token": legacy(&json!({}))}))
        .send()
        .await
        .unwrap();
    let (status, report) = crate::common::status_json(resp).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["source"], "legacy");
    assert_eq!(report["claims_verified"], true);
    assert_eq!(
        report["payload"]["external_id"],
        Value::Null,
        "legacy maps no external_id: {report}"
    );
    assert_eq!(report["payload"]["email"], "dana@acme.com");
    assert!(report["jwt"].is_null(), "signs nothing unless asked");
    assert!(report["refused"].is_null(), "{report}");
}

#[tokio::test]
async fn a_five_kilobyte_kid_is_echoed_cut_short_in_the_body_and_the_challenge() {
    // The test config caps tokens at 8 KiB; the unit tests in
    // src/source/mod.rs send 10 KiB.
    let w = world().await;
    let kid = "k".repeat(5 * 1024);
    let t = now();
    let token = raw_jwt(
        &json!({"alg": "RS256", "kid": kid}),
        &json!({"iss": "https://partner.test", "aud": "zendesk", "exp": t + 60}),
        b"sig",
    );
    let resp =
        w.gw.client
            .post(format!("{}/sdk/mobile/jwt", w.gw.url))
            .form(&[("user_token", token.as_str())])
            .send()
            .await
            .unwrap();
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let got = crate::common::status_json(resp).await;
    assert_refused(&got, StatusCode::UNAUTHORIZED, "key_unknown");
    let desc = got.1["error_description"].as_str().unwrap_or_default();
    assert!(desc.contains(&format!("kid {}…", "k".repeat(64))), "{desc}");
    assert!(desc.len() < 200, "{} bytes: {desc}", desc.len());
    assert!(
        challenge.len() < 300,
        "{} bytes: {challenge}",
        challenge.len()
    );
}

#[tokio::test]
async fn access_logout_and_event_tokens_from_a_trusted_issuer_never_become_a_sign_in() {
    let w = world().await;
    let logout = json!({"events": {"http://schemas.openid.net/event/backchannel-logout": {}}});
    let refused = [
        legacy_typed("at+jwt", &json!({})),
        legacy_typed("application/at+jwt", &json!({})),
        legacy_typed("logout+jwt", &logout),
        legacy_typed("secevent+jwt", &logout),
        legacy_typed("dpop+jwt", &json!({})),
        legacy_typed("JWE", &json!({})),
        legacy(&logout),
    ];
    for token in &refused {
        let got = w.gw.sdk("mobile", token).await;
        assert_refused(&got, StatusCode::UNAUTHORIZED, "token_type_mismatch");
        let got = w.gw.exchange("messaging", token).await;
        assert_refused(&got, StatusCode::UNAUTHORIZED, "token_type_mismatch");
    }
    let at = legacy_typed("at+jwt", &json!({}));
    let got = crate::common::status_json(
        w.gw.client
            .post(format!("{}/token", w.gw.url))
            .form(&[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", at.as_str()),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:id_token",
                ),
                ("audience", "chat"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_refused(&got, StatusCode::BAD_REQUEST, "token_type_mismatch");
    assert_eq!(got.1["error"], "invalid_grant");
    // The same claims typed as a plain JWT are an ID token.
    let ok = w.gw.sdk("mobile", &legacy_typed("JWT", &json!({}))).await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
}

#[tokio::test]
async fn a_token_with_a_list_over_256_items_is_refused_before_any_expression_runs() {
    let w = world().await;
    let groups: Vec<String> = (0..300).map(|i| format!("g{i}")).collect();
    let got =
        w.gw.sdk("mobile", &legacy(&json!({"groups": groups})))
            .await;
    assert_refused(&got, StatusCode::UNAUTHORIZED, "claim_invalid");
    assert_eq!(
        got.1["error_description"],
        "the upstream claim `groups` is a list of 300 items; a list may have at most 256"
    );
}
