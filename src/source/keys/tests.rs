//! Unit tests of key sets: parsing, the cache, refresh rules, and the parsed-key fast path against jsonwebtoken.

use base64::Engine;

use super::*;
use aws_lc_rs::encoding::AsDer;
use jsonwebtoken::{EncodingKey, Header, jwk::Jwk};

fn pem(der: &[u8]) -> Vec<u8> {
    use base64::engine::general_purpose::STANDARD;
    let b64 = STANDARD.encode(der);
    let body: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("ASCII"))
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        body.join("\n")
    )
    .into_bytes()
}

fn signing_keys() -> Vec<(Algorithm, EncodingKey)> {
    use aws_lc_rs::signature as sig;
    let rsa =
        aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA keygen");
    let rsa = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&rsa).expect("PKCS#8");
    let rsa = EncodingKey::from_rsa_pem(&pem(rsa.as_ref())).expect("RSA PEM");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let ec = |alg| {
        let doc = sig::EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("EC keygen");
        EncodingKey::from_ec_pem(&pem(doc.as_ref())).expect("EC PEM")
    };
    let ed = sig::Ed25519KeyPair::generate().expect("Ed25519 keygen");
    let ed = ed.to_pkcs8v1().expect("PKCS#8 v1");
    vec![
        (Algorithm::RS256, rsa.clone()),
        (Algorithm::RS512, rsa.clone()),
        (Algorithm::PS256, rsa),
        (Algorithm::ES256, ec(&sig::ECDSA_P256_SHA256_FIXED_SIGNING)),
        (Algorithm::ES384, ec(&sig::ECDSA_P384_SHA384_FIXED_SIGNING)),
        (
            Algorithm::EdDSA,
            EncodingKey::from_ed_pem(&pem(ed.as_ref())).expect("Ed PEM"),
        ),
    ]
}

/// The parsed-key path accepts exactly what `jsonwebtoken`'s per-call
/// verification accepts: good signatures, and nothing tampered, cut,
/// garbled or made for another algorithm of the family.
#[test]
fn parsed_keys_verify_as_jsonwebtoken_does() {
    for (alg, enc) in signing_keys() {
        let mut jwk = Jwk::from_encoding_key(&enc, alg).expect("JWK");
        jwk.common.key_id = Some("k1".into());
        let doc = serde_json::json!({ "keys": [jwk] }).to_string();
        let set = KeySet::from_jwks_json(doc.as_bytes()).expect("JWKS");
        let key = set.find(Some("k1")).expect("key by kid");
        let claims = serde_json::json!({"sub": "u1", "iss": "https://idp.example"});
        let token = jsonwebtoken::encode(&Header::new(alg), &claims, &enc).expect("sign");
        let (input, sig) = token.rsplit_once('.').expect("three parts");
        let other = match alg {
            Algorithm::RS256 | Algorithm::RS512 => Algorithm::PS256,
            Algorithm::PS256 => Algorithm::RS256,
            Algorithm::ES256 => Algorithm::ES384,
            _ => Algorithm::ES256,
        };
        let mut bad_sig = sig.to_owned().into_bytes();
        bad_sig[5] = if bad_sig[5] == b'A' { b'B' } else { b'A' };
        let bad_sig = String::from_utf8(bad_sig).expect("ASCII");
        let cases: [(&str, Algorithm, &str, &str, bool); 8] = [
            ("good", alg, input, sig, true),
            ("good, parsed key reused", alg, input, sig, true),
            ("tampered signature", alg, input, &bad_sig, false),
            ("tampered message", alg, &input[1..], sig, false),
            ("cut signature", alg, input, &sig[..sig.len() / 2], false),
            ("not base64url", alg, input, "!!not-base64!!", false),
            ("another algorithm", other, input, sig, false),
            (
                "the public key as an HMAC secret",
                Algorithm::HS256,
                input,
                sig,
                false,
            ),
        ];
        for (what, a, msg, s, want) in cases {
            let reference =
                jsonwebtoken::crypto::verify(s, msg.as_bytes(), &key.key, a).unwrap_or(false);
            assert_eq!(reference, want, "{alg:?} {what}: jsonwebtoken");
            assert_eq!(key.verify(a, msg.as_bytes(), s), want, "{alg:?} {what}");
        }
    }
}

#[test]
fn hmac_keys_verify_as_jsonwebtoken_does() {
    let secret = b"a-legacy-app-secret-of-32-bytes!";
    let set = KeySet::from_secret(secret);
    let key = set.find(None).expect("one key");
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({"sub": "u1"}),
        &EncodingKey::from_secret(secret),
    )
    .expect("sign");
    let (input, sig) = token.rsplit_once('.').expect("three parts");
    for (alg, msg, want) in [
        (Algorithm::HS256, input.as_bytes(), true),
        (Algorithm::HS256, input.as_bytes(), true),
        (Algorithm::HS384, input.as_bytes(), false),
        (Algorithm::HS256, b"other".as_slice(), false),
        (Algorithm::RS256, input.as_bytes(), false),
    ] {
        let reference = jsonwebtoken::crypto::verify(sig, msg, &key.key, alg).unwrap_or(false);
        assert_eq!(reference, want, "{alg:?}: jsonwebtoken");
        assert_eq!(key.verify(alg, msg, sig), want, "{alg:?}");
    }
    assert!(!key.verify(Algorithm::HS256, input.as_bytes(), &sig[..sig.len() - 2]));
}
