//! HS256 signing of Zendesk tokens. Zendesk uses the secret's raw UTF-8
//! bytes (never base64-decoded) and wants both `alg` and `typ` in the
//! header; messaging also wants the key id as `kid`.
//!
//! A [`Signer`] is built once per target when the config loads: the HMAC
//! key and the encoded header are the same for every token the target
//! mints, so a request only serialises its payload and computes one HMAC.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::write::EncoderStringWriter;
use serde_json::{Map, Value, json};

use super::TargetKind;

/// A target's signing key and its header, ready to sign.
pub struct Signer {
    key: aws_lc_rs::hmac::Key,
    /// The header, base64url-encoded, followed by the `.` separator.
    header_b64: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("header", &self.header_b64)
            .finish_non_exhaustive()
    }
}

/// The JOSE header of a target's tokens. Serialised as given, so its field
/// order is stable and `typ` is always present.
pub fn header(kind: TargetKind, key_id: Option<&str>) -> Value {
    match (kind, key_id) {
        (TargetKind::Messaging, Some(kid)) => json!({"alg": "HS256", "typ": "JWT", "kid": kid}),
        _ => json!({"alg": "HS256", "typ": "JWT"}),
    }
}

impl Signer {
    pub fn new(kind: TargetKind, key_id: Option<&str>, secret: &[u8]) -> Self {
        let mut header_b64 = URL_SAFE_NO_PAD.encode(header(kind, key_id).to_string());
        header_b64.push('.');
        Self {
            key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret),
            header_b64,
        }
    }

    /// Signs `header.payload` with HS256.
    pub fn sign(&self, payload: &Map<String, Value>) -> String {
        let mut out = String::with_capacity(512);
        out.push_str(&self.header_b64);
        let mut enc = EncoderStringWriter::from_consumer(out, &URL_SAFE_NO_PAD);
        serde_json::to_writer(&mut enc, payload).expect("a JSON map serialises");
        let mut out = enc.into_inner();
        let tag = aws_lc_rs::hmac::sign(&self.key, out.as_bytes());
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(tag.as_ref(), &mut out);
        out
    }
}

/// 128 random bits ([`crate::random`]), base64url: unique without
/// coordination between replicas.
pub fn random_jti() -> String {
    URL_SAFE_NO_PAD.encode(crate::random::bits128())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jtis_are_128_bits_and_do_not_repeat() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| random_jti()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(URL_SAFE_NO_PAD.decode(id).expect("base64url").len(), 16);
        }
    }

    /// The signer's output is the JWT `jsonwebtoken` would make from the
    /// same header and payload (HS256 over the raw secret bytes).
    #[test]
    fn signs_like_jsonwebtoken() {
        let secret = b"zendesk-shared-secret";
        let payload: Map<String, Value> = serde_json::from_value(json!({
            "email": "ana@example.com", "name": "Ana Ñandú", "iat": 1_700_000_000, "jti": "x"
        }))
        .expect("object");
        for (kind, kid) in [
            (TargetKind::Sso, None),
            (TargetKind::Messaging, Some("app_123")),
        ] {
            let jwt = Signer::new(kind, kid, secret).sign(&payload);
            let (input, sig) = jwt.rsplit_once('.').expect("three parts");
            let (h, p) = input.split_once('.').expect("header.payload");
            let header: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).expect("b64")).expect("JSON");
            assert_eq!(header, super::header(kind, kid));
            let back: Map<String, Value> =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).expect("b64")).expect("JSON");
            assert_eq!(back, payload);
            let expected = jsonwebtoken::crypto::sign(
                input.as_bytes(),
                &jsonwebtoken::EncodingKey::from_secret(secret),
                jsonwebtoken::Algorithm::HS256,
            )
            .expect("HMAC");
            assert_eq!(sig, expected);
        }
    }
}
