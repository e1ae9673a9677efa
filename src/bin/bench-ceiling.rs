//! The cost of the cryptography alone, for `bench/run`: one RS256 verify
//! (RSA-2048, through the gateway's own `Key::verify`: the public key
//! parsed once) plus one HS256 sign (HMAC key built once, the aws-lc call
//! the gateway's `Signer` makes), in a loop. Prints one JSON object:
//! nanoseconds per (verify + sign) on one thread, each part alone,
//! operations per second on every core, and — for comparison — the RS256
//! verify through `jsonwebtoken`'s per-call API, which rebuilds the RSA key
//! from `n` and `e` every time (what the gateway did before it kept parsed
//! keys).

use std::time::Instant;

use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};

const ITERATIONS: u32 = 20_000;

fn main() {
    let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .expect("RSA key generation");
    let der =
        aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&kp).expect("PKCS#8");
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    );
    let signing = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("PEM");
    let jwk = Jwk::from_encoding_key(&signing, Algorithm::RS256).expect("JWK");
    let decoding = DecodingKey::from_jwk(&jwk).expect("decoding key");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("ceiling".into());
    let claims = serde_json::json!({
        "iss": "http://127.0.0.1", "aud": "bench-client", "sub": "user-1",
        "email": "user1@example.com", "name": "User 1", "iat": 1_700_000_000, "exp": 4_000_000_000u64,
    });
    let token = jsonwebtoken::encode(&header, &claims, &signing).expect("sign");
    let (input, sig) = token.rsplit_once('.').expect("three parts");
    let hs_key = EncodingKey::from_secret(b"bench-zendesk-sdk-secret-0123456789");
    let zendesk_input = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJlbWFpbCI6InVzZXIxQGV4YW1wbGUuY29tIiwiZXh0ZXJuYWxfaWQiOiJ1c2VyLTEiLCJpYXQiOjE3MDAwMDAwMDAsImp0aSI6IkFBQUFBQUFBQUFBQUFBQUFBQUFBQUEiLCJuYW1lIjoiVXNlciAxIn0";

    // The gateway's own key: a JWKS document through `KeySet`, verified by
    // `Key::verify` (the public key parsed once, on first use).
    let mut named = jwk.clone();
    named.common.key_id = Some("ceiling".into());
    let jwks = serde_json::json!({ "keys": [named] }).to_string();
    let keys = zenbridge::source::keys::KeySet::from_jwks_json(jwks.as_bytes()).expect("JWKS");
    let key = keys.find(Some("ceiling")).expect("the key by kid");
    let hmac = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        b"bench-zendesk-sdk-secret-0123456789",
    );
    let verify = || {
        assert!(key.verify(Algorithm::RS256, input.as_bytes(), sig));
    };
    let verify_per_call = || {
        assert!(
            jsonwebtoken::crypto::verify(sig, input.as_bytes(), &decoding, Algorithm::RS256)
                .expect("verify runs")
        );
    };
    let sign = || {
        let tag = aws_lc_rs::hmac::sign(&hmac, zendesk_input.as_bytes());
        std::hint::black_box(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag));
    };
    let sign_per_call = || {
        std::hint::black_box(
            jsonwebtoken::crypto::sign(zendesk_input.as_bytes(), &hs_key, Algorithm::HS256)
                .expect("sign"),
        );
    };
    for _ in 0..500 {
        verify();
        verify_per_call();
        sign();
        sign_per_call();
    }
    let time = |f: &dyn Fn()| {
        let start = Instant::now();
        for _ in 0..ITERATIONS {
            f();
        }
        start.elapsed().as_secs_f64() * 1e9 / f64::from(ITERATIONS)
    };
    let verify_ns = time(&verify);
    let sign_ns = time(&sign);
    let verify_per_call_ns = time(&verify_per_call);
    let sign_per_call_ns = time(&sign_per_call);
    let both_ns = time(&|| {
        verify();
        sign();
    });
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..ITERATIONS {
                    verify();
                    sign();
                }
            });
        }
    });
    #[allow(clippy::cast_precision_loss)]
    let all_cores = (threads as f64 * f64::from(ITERATIONS)) / start.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "ns_per_op": both_ns,
            "verify_rs256_ns": verify_ns,
            "sign_hs256_ns": sign_ns,
            "verify_rs256_per_call_ns": verify_per_call_ns,
            "sign_hs256_per_call_ns": sign_per_call_ns,
            "ops_per_sec": 1e9 / both_ns,
            "ops_per_sec_all_cores": all_cores,
            "threads": threads,
            "iterations": ITERATIONS,
        })
    );
}
