//! Unit tests of the verification every kind shares (`Source::verify`):
//! hostile times, headers, and kinds of token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::*;
use crate::error::ErrorCode;

const LEGACY_ISS: &str = "https://legacy.test";
const LEGACY_SECRET: &str = "legacy-secret-0123456789abcdef0123456789";
const NOW: i64 = 1_800_000_000;

/// A `jwt` source with an HS256 secret (`legacy`) and a `dev` source
/// whose one key has a `kid` (`demo`).
fn sources() -> (Source, Source) {
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:1"
public_url = "http://127.0.0.1:1"
cookie_key = "unit-test-cookie-key-0123456789abcdef0123"

[[source]]
name = "legacy"
kind = "jwt"
issuer = "{LEGACY_ISS}"
secret = "{LEGACY_SECRET}"
audiences = ["zendesk"]

[[source]]
name = "demo"
kind = "dev"
seed = "unit-test-seed-0123456789"

[[source.users]]
id = "ada"
email = "ada@example.com"

[[target]]
name = "mobile"
kind = "sdk"
secret = "sdk-secret-0123456789abcdef"
sources = ["legacy", "demo"]
"#
    );
    let cfg = crate::config::load_str(&text, None).unwrap_or_else(|p| panic!("{p}"));
    let (http, cache) = (reqwest::Client::new(), KeyCache::default());
    (
        build(cfg.sources[0].clone(), &http, &cache),
        build(cfg.sources[1].clone(), &http, &cache),
    )
}

/// A token with any header and claims, HS256-signed with the legacy
/// secret (whatever the header's `alg` says).
fn signed(header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, LEGACY_SECRET.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// Honest legacy claims, with `extra` set over them.
fn claims(extra: &Value) -> Value {
    let mut c = json!({
        "iss": LEGACY_ISS, "aud": "zendesk", "sub": "u-1", "email": "a@b.co",
        "iat": NOW, "exp": NOW + 600,
    });
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(extra.clone());
    }
    c
}

async fn verify(source: &Source, token: &str) -> Result<VerifiedClaims, VerifyError> {
    source
        .verify(unverified_decode(token, 1 << 20)?, NOW, None)
        .await
}

#[test]
fn clip_cuts_at_a_character_not_a_byte() {
    assert_eq!(clip("abc", 3), "abc");
    assert_eq!(clip("abcd", 3), "abc…");
    assert_eq!(clip("ééééé", 2), "éé…");
    assert_eq!(clip("", 0), "");
}

#[tokio::test]
async fn hostile_token_times_are_refused_with_claim_invalid_never_a_panic() {
    let (legacy, _) = sources();
    let hostile = [
        json!(9_000_000_000_000_000_000_i64),
        json!(-9_000_000_000_000_000_000_i64),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1e300),
        json!(-1e300),
        json!(9.3e18),
        json!(-9.3e18),
        json!(-1),
        json!(-0.5),
        json!(MAX_TIME + 1),
        json!("1800000000"),
        json!(null),
    ];
    for name in ["exp", "nbf", "iat"] {
        for value in &hostile {
            let token = signed(&json!({"alg": "HS256"}), &claims(&json!({ name: value })));
            let err = verify(&legacy, &token).await.unwrap_err();
            assert_eq!(
                err.code(),
                ErrorCode::ClaimInvalid,
                "{name} = {value}: {err}"
            );
            assert!(err.to_string().len() < 200, "{err}");
        }
    }
    // In range, fractional and extreme times are read, not refused.
    for (extra, code) in [
        (json!({"exp": 1_800_000_600.5}), None),
        (json!({"exp": MAX_TIME, "iat": 0, "nbf": 0}), None),
        (json!({"exp": 0}), Some(ErrorCode::TokenExpired)),
        (json!({"nbf": MAX_TIME}), Some(ErrorCode::TokenNotYetValid)),
        (
            json!({"iat": MAX_TIME}),
            Some(ErrorCode::TokenIssuedInFuture),
        ),
    ] {
        let token = signed(&json!({"alg": "HS256"}), &claims(&extra));
        let got = verify(&legacy, &token)
            .await
            .map(|_| ())
            .map_err(|e| e.code());
        assert_eq!(got.err(), code, "{extra}");
    }
}

#[test]
fn hostile_firebase_auth_time_is_refused_never_a_panic() {
    let kind = firebase::FirebaseKind {
        insecure_emulator: false,
    };
    let honest = json!({"sub": "uid", "iat": NOW});
    for value in [
        json!(i64::MAX),
        json!(i64::MIN),
        json!(1e300),
        json!(-1e300),
        json!(-1),
    ] {
        let mut c = honest.as_object().cloned().unwrap_or_default();
        c.insert("auth_time".into(), value.clone());
        let err = kind.check_claims(&c, NOW, 60).unwrap_err();
        assert_eq!(err.code(), ErrorCode::ClaimInvalid, "{value}: {err}");
    }
    let mut c = honest.as_object().cloned().unwrap_or_default();
    c.insert("auth_time".into(), json!(MAX_TIME));
    assert_eq!(
        kind.check_claims(&c, NOW, i64::MAX),
        Ok(()),
        "a leeway of i64::MAX saturates"
    );
    let err = kind.check_claims(&c, NOW, 60).unwrap_err();
    assert_eq!(err.code(), ErrorCode::TokenIssuedInFuture, "{err}");
}

#[tokio::test]
async fn a_ten_kilobyte_kid_or_alg_is_echoed_cut_to_64_characters() {
    let (legacy, demo) = sources();
    let huge = "k".repeat(10 * 1024);
    let demo_claims = json!({
        "iss": dev::issuer("demo"), "aud": dev::AUDIENCE, "sub": "ada", "exp": NOW + 60,
    });
    let token = signed(&json!({"alg": "EdDSA", "kid": huge}), &demo_claims);
    let err = verify(&demo, &token).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::KeyUnknown, "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("kid {}…;", "k".repeat(64))),
        "{text}"
    );
    assert!(text.len() < 200, "{} bytes: {text}", text.len());

    let token = signed(&json!({"alg": huge}), &claims(&json!({})));
    let err = verify(&legacy, &token).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::AlgorithmNotAllowed, "{err}");
    assert!(err.to_string().len() < 200, "{err}");

    let token = signed(&json!({"alg": "HS256", "typ": huge}), &claims(&json!({})));
    let err = verify(&legacy, &token).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::TokenTypeMismatch, "{err}");
    assert!(err.to_string().len() < 250, "{err}");

    let aud: Vec<String> = (0..500).map(|i| format!("aud-{i}")).collect();
    let token = signed(&json!({"alg": "HS256"}), &claims(&json!({ "aud": aud })));
    let err = verify(&legacy, &token).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::AudienceMismatch, "{err}");
    assert!(err.to_string().len() < 200, "{err}");
}

#[tokio::test]
async fn a_signed_access_token_logout_token_or_security_event_never_passes_as_an_id_token() {
    let (legacy, _) = sources();
    let honest = claims(&json!({}));
    for typ in ["JWT", "jwt", "application/JWT", "JOSE"] {
        let token = signed(&json!({"alg": "HS256", "typ": typ}), &honest);
        verify(&legacy, &token)
            .await
            .unwrap_or_else(|e| panic!("{typ}: {e}"));
    }
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "logout+jwt",
        "secevent+jwt",
        "dpop+jwt",
        "JWE",
        "token-introspection+jwt",
        "",
    ] {
        let token = signed(&json!({"alg": "HS256", "typ": typ}), &honest);
        let err = verify(&legacy, &token).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::TokenTypeMismatch, "{typ}: {err}");
        assert!(err.to_string().starts_with("an ID token"), "{err}");
    }
    let logout = claims(&json!({
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        "sid": "s-1",
    }));
    for header in [
        json!({"alg": "HS256"}),
        json!({"alg": "HS256", "typ": "JWT"}),
    ] {
        let err = verify(&legacy, &signed(&header, &logout))
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::TokenTypeMismatch, "{err}");
        assert!(err.to_string().contains("`events`"), "{err}");
    }
    let not_a_string = signed(&json!({"alg": "HS256", "typ": 1}), &honest);
    let err = verify(&legacy, &not_a_string).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::TokenMalformed, "{err}");

    // Taken as an access token (`/token` with subject_token_type
    // access_token), at+jwt passes; other kinds still do not.
    for (typ, passes) in [("at+jwt", true), ("JWT", true), ("logout+jwt", false)] {
        let token = signed(&json!({"alg": "HS256", "typ": typ}), &honest);
        let parsed = unverified_decode(&token, 1 << 20)
            .unwrap()
            .presented_as(TokenUse::AccessToken);
        assert_eq!(parsed.is_access_token(), typ == "at+jwt");
        let got = legacy.verify(parsed, NOW, None).await;
        assert_eq!(got.is_ok(), passes, "{typ}: {got:?}");
    }
}
