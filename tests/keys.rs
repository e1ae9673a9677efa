//! Static keys of `jwt` sources (a JWKS file, a PEM public key, an X.509
//! certificate, an EC key) and the Firebase emulator switch.

mod common;
mod support;

use common::{gateway, now, raw_jwt, rsa_key};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn config(dir: &std::path::Path, sources: &str, names: &str) -> String {
    format!(
        r#"
[server]
listen = "@LISTEN@"
public_url = "@URL@"
cookie_key = "test-cookie-key-0123456789abcdef0123456789"
{sources}
[[target]]
name = "mobile"
kind = "sdk"
secret = "mobile-sdk-secret-0123456789"
sources = [{names}]
"#
    )
    .replace("@DIR@", dir.to_str().unwrap())
}

fn claims(iss: &str) -> Value {
    let t = now();
    json!({"iss": iss, "aud": "zendesk", "sub": "s", "email": "s@acme.com", "exp": t + 60, "iat": t})
}

#[tokio::test]
async fn jwks_file_pem_key_certificate_and_ec_key_all_verify() {
    let dir = tempfile::tempdir().unwrap();
    let jwks_key = rsa_key("file-kid");
    std::fs::write(
        dir.path().join("keys.json"),
        serde_json::to_string(&json!({"keys": [jwks_key.jwk]})).unwrap(),
    )
    .unwrap();
    let pem_key = rsa_key("pem");
    std::fs::write(dir.path().join("public.pem"), &pem_key.public_pem).unwrap();
    let cert_key = rsa_key("cert");
    std::fs::write(dir.path().join("cert.pem"), &cert_key.cert_pem).unwrap();
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    std::fs::write(dir.path().join("ec.pem"), ec.public_key_pem()).unwrap();
    let sources = r#"
[[source]]
name = "jwksfile"
kind = "jwt"
issuer = "https://jwksfile.test"
jwks_file = "@DIR@/keys.json"
audiences = ["zendesk"]
[[source]]
name = "pem"
kind = "jwt"
issuer = "https://pem.test"
public_key_file = "@DIR@/public.pem"
audiences = ["zendesk"]
[[source]]
name = "cert"
kind = "jwt"
issuer = "https://cert.test"
public_key_file = "@DIR@/cert.pem"
audiences = ["zendesk"]
[[source]]
name = "ec"
kind = "jwt"
issuer = "https://ec.test"
public_key_file = "@DIR@/ec.pem"
audiences = ["zendesk"]
"#;
    let gw = gateway(&config(
        dir.path(),
        sources,
        r#""jwksfile", "pem", "cert", "ec""#,
    ))
    .await;
    let ec_token = jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &claims("https://ec.test"),
        &EncodingKey::from_ec_pem(ec.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    for (what, token) in [
        ("jwks file", jwks_key.sign(&claims("https://jwksfile.test"))),
        ("PEM public key", pem_key.sign(&claims("https://pem.test"))),
        ("certificate", cert_key.sign(&claims("https://cert.test"))),
        ("EC public key", ec_token),
    ] {
        let (status, body) = gw.sdk("mobile", &token).await;
        assert_eq!(status, StatusCode::OK, "{what}: {body}");
    }
    // A key of another source does not verify this source's tokens.
    let (status, body) = gw
        .sdk("mobile", &pem_key.sign(&claims("https://cert.test")))
        .await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("signature_invalid")),
        "{body}"
    );
    // An RSA token to the EC source is refused by algorithm, before any key is tried.
    let (_, body) = gw
        .sdk("mobile", &pem_key.sign(&claims("https://ec.test")))
        .await;
    assert_eq!(body["error_code"], "algorithm_not_allowed", "{body}");
}

#[tokio::test]
async fn firebase_emulator_tokens_need_the_insecure_switch() {
    let dir = tempfile::tempdir().unwrap();
    let t = now();
    let unsigned = raw_jwt(
        &json!({"alg": "none", "typ": "JWT"}),
        &json!({"iss": "https://securetoken.google.com/demo-proj", "aud": "demo-proj", "sub": "emu-user", "email": "e@acme.com", "email_verified": true, "iat": t, "exp": t + 60}),
        b"",
    );
    let source = |insecure: bool| {
        format!(
            "[[source]]\nname = \"fb\"\nkind = \"firebase\"\nproject_id = \"demo-proj\"\nkeys_url = \"http://127.0.0.1:9/unused\"\ninsecure_emulator = {insecure}\n"
        )
    };
    let strict = gateway(&config(dir.path(), &source(false), r#""fb""#)).await;
    let (status, body) = strict.sdk("mobile", &unsigned).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("algorithm_not_allowed")),
        "{body}"
    );
    let emulator = gateway(&config(dir.path(), &source(true), r#""fb""#)).await;
    let (status, body) = emulator.sdk("mobile", &unsigned).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cfg = zenbridge::config::load_str(
        &config(dir.path(), &source(true), r#""fb""#)
            .replace("@URL@", "http://127.0.0.1:1")
            .replace("@LISTEN@", "127.0.0.1:1"),
        None,
    )
    .unwrap();
    assert!(
        cfg.warnings
            .iter()
            .any(|w| w.path == "source[0].insecure_emulator" && w.message.contains("UNSIGNED")),
        "{:?}",
        cfg.warnings
    );
}
