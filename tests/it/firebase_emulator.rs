//! The real Firebase Auth emulator as the upstream of a `firebase` source
//! (`insecure_emulator = true`), to prove an account-takeover path closed:
//! anyone can sign up to a Firebase project with email and password using
//! someone else's address; Firebase then issues an ID token with that
//! `email` and `email_verified: false`. Zendesk matches users by email, so a
//! Zendesk JWT carrying the victim's address would log the attacker in as
//! the victim. zenbridge must refuse such a token (`email_unverified`), and
//! still accept the same user once the address is verified.
//!
//! The tests share one emulator: `scripts/test` starts one for the whole
//! run, else one per test process (`cargo test`: one for all; nextest: one
//! per test); each test uses addresses of its own. Startup takes 20 to 40 s
//! on two shared cores (see `crate::support::firebase`).

use crate::common::{Gateway, gateway};
use crate::support::{
    FirebaseEmulator, SHARED_FIREBASE_PROJECT, decode_jwt, shared_firebase_emulator,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::Value;

const PROJECT: &str = SHARED_FIREBASE_PROJECT;
const SDK_SECRET: &str = "mobile-sdk-secret-0123456789";
const MESSAGING_SECRET: &str = "messaging-secret-0123456789";
const MESSAGING_KID: &str = "app_64a1b2c3";
const PASSWORD: &str = "attacker-chosen-password";

/// One `firebase` source trusting the emulator's unsigned tokens, an `sdk`
/// and a `messaging` target. Keys are never fetched for `alg: none` tokens:
/// `keys_url` points at a closed loopback port.
fn config() -> String {
    format!(
        r#"
[server]
listen = "@LISTEN@"
public_url = "@URL@"
cookie_key = "test-cookie-key-0123456789abcdef0123456789"
rate_limit_per_minute = 0

[[source]]
name = "firebase"
kind = "firebase"
project_id = "{PROJECT}"
keys_url = "http://127.0.0.1:9/unused"
insecure_emulator = true
[source.claims]
external_id = "'fb|' + claims.sub"

[[target]]
name = "mobile"
kind = "sdk"
secret = "{SDK_SECRET}"
sources = ["firebase"]

[[target]]
name = "messaging"
kind = "messaging"
key_id = "{MESSAGING_KID}"
secret = "{MESSAGING_SECRET}"
sources = ["firebase"]
ttl = "5m"
"#
    )
}

async fn world() -> (&'static FirebaseEmulator, Gateway) {
    let emulator = shared_firebase_emulator().await;
    eprintln!("Firebase Auth emulator started in {:?}", emulator.startup);
    let gw = gateway(&config()).await;
    (emulator, gw)
}

/// The payload of a Zendesk JWT, after checking its HS256 signature with
/// `secret` (and, for messaging, its `kid`).
fn zendesk_payload(jwt: &str, secret: &str, kid: Option<&str>) -> Value {
    let (header, payload) = decode_jwt(jwt);
    assert_eq!(header["alg"], "HS256", "{header}");
    if let Some(kid) = kid {
        assert_eq!(header["kid"], kid, "{header}");
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_aud = false;
    validation.validate_exp = false;
    let verified = jsonwebtoken::decode::<Value>(
        jwt,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .expect("the Zendesk JWT's signature checks with the target's secret");
    assert_eq!(verified.claims, payload);
    payload
}

/// An address no other test (or run against the same emulator) uses:
/// `<tag>-<pid>-<nanos>@acme.test`.
fn address(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    format!("{tag}-{}-{nanos}@acme.test", std::process::id())
}

/// The emulator's sign-up token for `victim` (an address the attacker does
/// not own), checked to be what the attack needs: that address, unverified.
async fn attacker_token(emulator: &FirebaseEmulator, victim: &str) -> String {
    let token = emulator.sign_up(victim, PASSWORD).await;
    let (header, claims) = decode_jwt(&token);
    assert_eq!(
        header["alg"], "none",
        "emulator tokens are unsigned: {header}"
    );
    assert_eq!(claims["email"], victim, "{claims}");
    assert_eq!(claims["email_verified"], false, "{claims}");
    assert_eq!(claims["iss"], emulator.issuer(), "{claims}");
    assert_eq!(claims["aud"], PROJECT, "{claims}");
    token
}

/// A user who signed up with `email`, whose address was then verified, and
/// who signed in again: a token with `email_verified: true`, and the uid.
async fn verified_token(emulator: &FirebaseEmulator, email: &str) -> (String, String) {
    let first = emulator.sign_up(email, PASSWORD).await;
    let uid = decode_jwt(&first).1["sub"]
        .as_str()
        .expect("emulator tokens have a sub")
        .to_owned();
    emulator.set_email_verified(&uid, true).await;
    let token = emulator.sign_in(email, PASSWORD).await;
    let claims = decode_jwt(&token).1;
    assert_eq!(claims["email_verified"], true, "{claims}");
    assert_eq!(claims["sub"], uid.as_str(), "{claims}");
    (token, uid)
}

/// The attack's outcome, for the failure message: which email a minted JWT
/// carries, if one was minted.
fn minted_email(body: &Value) -> String {
    match body["jwt"].as_str() {
        Some(jwt) => format!(
            "ATTACK SUCCEEDED: a Zendesk JWT was minted with email {}",
            decode_jwt(jwt).1["email"]
        ),
        None => "no JWT minted".to_owned(),
    }
}

/// The attacker's answer: 401 `email_unverified`, and no JWT.
fn assert_refused_as_unverified(status: StatusCode, body: &Value) {
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("email_unverified")),
        "{}: {body}",
        minted_email(body)
    );
}

#[tokio::test]
async fn firebase_sign_up_with_someone_elses_unverified_email_gets_no_zendesk_token() {
    let (emulator, gw) = world().await;
    let token = attacker_token(emulator, &address("victim-sdk")).await;
    let (status, body) = gw.sdk("mobile", &token).await;
    assert_refused_as_unverified(status, &body);
}

#[tokio::test]
async fn firebase_user_with_verified_email_gets_a_zendesk_token() {
    let email = address("verified-sdk");
    let (emulator, gw) = world().await;
    let (token, uid) = verified_token(emulator, &email).await;
    let (status, body) = gw.sdk("mobile", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let jwt = body["jwt"].as_str().expect("an sdk answer has a jwt");
    let p = zendesk_payload(jwt, SDK_SECRET, None);
    assert_eq!(p["email"], email.as_str(), "{p}");
    assert_eq!(p["external_id"], format!("fb|{uid}"), "{p}");
}

#[tokio::test]
async fn firebase_sign_up_with_someone_elses_unverified_email_gets_no_messaging_token() {
    let (emulator, gw) = world().await;
    let token = attacker_token(emulator, &address("victim-messaging")).await;
    let (status, body) = gw.exchange("messaging", &token).await;
    assert_refused_as_unverified(status, &body);
}

#[tokio::test]
async fn firebase_user_with_verified_email_gets_a_messaging_token_saying_so() {
    let email = address("verified-messaging");
    let (emulator, gw) = world().await;
    let (token, uid) = verified_token(emulator, &email).await;
    let (status, body) = gw.exchange("messaging", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let jwt = body["jwt"].as_str().expect("a messaging answer has a jwt");
    let p = zendesk_payload(jwt, MESSAGING_SECRET, Some(MESSAGING_KID));
    assert_eq!(p["email"], email.as_str(), "{p}");
    assert_eq!(p["external_id"], format!("fb|{uid}"), "{p}");
    assert_eq!(p["email_verified"], true, "{p}");
}
