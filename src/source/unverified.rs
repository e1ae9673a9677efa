//! The one place a token is read without being verified.
//!
//! Routing needs the token's `iss` (which source to ask) and its header's
//! `alg` and `kid` (which key to use) before any signature is checked. The
//! result is an [`UnverifiedToken`]: nothing in it may be trusted, and the
//! only way to turn its claims into trusted ones is
//! [`super::Source::verify`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::VerifyError;

/// A parsed JWS compact token whose signature has not been checked.
#[derive(Debug)]
pub struct UnverifiedToken<'t> {
    pub alg: String,
    pub kid: Option<String>,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'t str,
    pub signature: &'t str,
    pub unverified_claims: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
    kid: Option<String>,
    crit: Option<serde_json::Value>,
    enc: Option<serde_json::Value>,
}

impl UnverifiedToken<'_> {
    /// The `iss` claim, if it is a string.
    pub fn unverified_issuer(&self) -> Option<&str> {
        self.unverified_claims
            .get("iss")
            .and_then(serde_json::Value::as_str)
    }
}

/// Splits and decodes a compact JWS without checking it. Refuses tokens
/// over `max_bytes`, anything but three base64url parts, headers and
/// payloads that are not JSON objects, and headers with `crit` (no
/// extension is understood, so RFC 7515 says refuse) or `enc` (an
/// encrypted token is not something we can verify).
pub fn unverified_decode(
    token: &str,
    max_bytes: usize,
) -> Result<UnverifiedToken<'_>, VerifyError> {
    if token.len() > max_bytes {
        return Err(VerifyError::TooLarge {
            len: token.len(),
            max: max_bytes,
        });
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(VerifyError::Malformed("the token is empty".into()));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        let n = token.split('.').count();
        return Err(VerifyError::Malformed(format!(
            "a JWT has 3 dot-separated parts; this token has {n}{}",
            if n == 5 {
                " (an encrypted JWE, which is not accepted)"
            } else {
                ""
            }
        )));
    };
    let header: Header = decode_json(h, "header")?;
    if header.crit.is_some() {
        return Err(VerifyError::Malformed(
            "the header has `crit`; no critical extension is supported".into(),
        ));
    }
    if header.enc.is_some() {
        return Err(VerifyError::Malformed(
            "the header has `enc`: encrypted tokens are not accepted".into(),
        ));
    }
    let alg = header
        .alg
        .ok_or_else(|| VerifyError::Malformed("the header has no `alg`".into()))?;
    let claims: serde_json::Value = decode_json(p, "payload")?;
    let serde_json::Value::Object(unverified_claims) = claims else {
        return Err(VerifyError::Malformed(
            "the payload is not a JSON object".into(),
        ));
    };
    if s.is_empty() && alg != "none" {
        return Err(VerifyError::Malformed("the signature part is empty".into()));
    }
    let signing_input = &token[..h.len() + 1 + p.len()];
    Ok(UnverifiedToken {
        alg,
        kid: header.kid,
        signing_input,
        signature: s,
        unverified_claims,
    })
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str, what: &str) -> Result<T, VerifyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| VerifyError::Malformed(format!("the {what} is not base64url")))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| VerifyError::Malformed(format!("the {what} is not JSON")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn reads_alg_kid_and_issuer() {
        let t = format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"RS256","kid":"k1"}"#),
            b64(r#"{"iss":"https://i"}"#)
        );
        let u = unverified_decode(&t, 1000).unwrap();
        assert_eq!(
            (u.alg.as_str(), u.kid.as_deref(), u.unverified_issuer()),
            ("RS256", Some("k1"), Some("https://i"))
        );
        assert_eq!(u.signature, "c2ln");
    }

    #[test]
    fn refuses_bad_shapes() {
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.e30.sig",
            &format!("{}.e30.sig", b64("[1]")),
            &format!("{}.{}.sig", b64(r#"{"alg":"HS256"}"#), b64("[]")),
        ] {
            assert!(
                matches!(unverified_decode(bad, 1000), Err(VerifyError::Malformed(_))),
                "{bad}"
            );
        }
        let big = "a".repeat(2000);
        assert!(matches!(
            unverified_decode(&big, 1000),
            Err(VerifyError::TooLarge { .. })
        ));
    }
}
