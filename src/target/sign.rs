//! HS256 signing of Zendesk tokens. Zendesk uses the secret's raw UTF-8
//! bytes (never base64-decoded) and wants both `alg` and `typ` in the
//! header; messaging also wants the key id as `kid`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Map, Value, json};

use super::TargetKind;
use crate::config::TargetConfig;

pub fn header(target: &TargetConfig) -> Value {
    match (&target.kind, &target.key_id) {
        (TargetKind::Messaging, Some(kid)) => json!({"alg": "HS256", "typ": "JWT", "kid": kid}),
        _ => json!({"alg": "HS256", "typ": "JWT"}),
    }
}

/// Signs `header.payload` with HS256. The header is serialised as given, so
/// its field order is stable and `typ` is always present.
pub fn sign(header: &Value, payload: &Map<String, Value>, secret: &[u8]) -> String {
    let mut out = String::with_capacity(512);
    URL_SAFE_NO_PAD.encode_string(header.to_string(), &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(
        serde_json::to_vec(payload).expect("a JSON map serialises"),
        &mut out,
    );
    let sig = jsonwebtoken::crypto::sign(
        out.as_bytes(),
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
    .expect("HMAC signing cannot fail");
    out.push('.');
    out.push_str(&sig);
    out
}

/// 128 random bits, base64url: unique without coordination between replicas.
pub fn random_jti() -> String {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).expect("the system RNG works");
    URL_SAFE_NO_PAD.encode(b)
}
