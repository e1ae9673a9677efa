//! The one place a token is read without being verified.
//!
//! Routing needs the token's `iss` (which source to ask) and its header's
//! `alg` and `kid` (which key to use) before any signature is checked. The
//! result is an [`UnverifiedToken`]: nothing in it may be trusted, and the
//! only way to turn its claims into trusted ones is
//! [`super::Source::verify`].
//!
//! The header's `typ` is read too ([`TokenType`]): an OAuth access token
//! (`at+jwt`, RFC 9068) or a JWT of another kind (a logout token, a
//! security event, a DPoP proof) is not an ID token, and
//! [`UnverifiedToken::check_use`] says whether the token may be taken as
//! the kind the caller wants (RFC 8725 §3.11, explicit typing). A payload
//! with `events` (RFC 8417 security events, OIDC back-channel logout
//! tokens) is never taken for an ID token, whatever its `typ` says.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::{ECHO_HEADER_CHARS, VerifyError, clip};

/// What the header's `typ` says a token is. Media types compare without
/// case and with or without `application/` (RFC 7515 §4.1.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenType {
    /// No `typ`, `JWT` or `JOSE`: a JWT of no stated kind, as ID tokens are.
    Jwt,
    /// `at+jwt`: an OAuth 2.0 access token (RFC 9068).
    AccessToken,
    /// Any other `typ` (`logout+jwt`, `secevent+jwt`, `dpop+jwt`, `JWE`, …),
    /// as the header spells it.
    Other(String),
}

impl TokenType {
    fn of(typ: Option<&str>) -> Self {
        let Some(typ) = typ else {
            return TokenType::Jwt;
        };
        let bare = typ
            .get(..12)
            .zip(typ.get(12..))
            .filter(|(prefix, _)| prefix.eq_ignore_ascii_case("application/"))
            .map_or(typ, |(_, rest)| rest);
        if bare.eq_ignore_ascii_case("jwt") || bare.eq_ignore_ascii_case("jose") {
            TokenType::Jwt
        } else if bare.eq_ignore_ascii_case("at+jwt") {
            TokenType::AccessToken
        } else {
            TokenType::Other(typ.to_owned())
        }
    }
}

/// The kind of token a caller takes: what [`UnverifiedToken::check_use`]
/// checks the token against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenUse {
    /// An OpenID Connect ID token (or a JWT of no stated kind): the browser
    /// flow, `/sdk`, `/exchange`, and `/token` unless told otherwise.
    #[default]
    IdToken,
    /// An OAuth access token (`/token` with `subject_token_type` …
    /// `access_token`): `at+jwt` is taken, and so is a JWT of no stated
    /// kind, since an access token that is not RFC 9068 cannot be told
    /// from one.
    AccessToken,
}

/// A parsed JWS compact token whose signature has not been checked.
#[derive(Debug)]
pub struct UnverifiedToken<'t> {
    pub alg: String,
    pub kid: Option<String>,
    /// What the header's `typ` says the token is.
    pub typ: TokenType,
    /// The kind the caller takes the token as; [`TokenUse::IdToken`]
    /// unless [`UnverifiedToken::presented_as`] says otherwise.
    pub wanted: TokenUse,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'t str,
    pub signature: &'t str,
    pub unverified_claims: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
    kid: Option<String>,
    typ: Option<serde_json::Value>,
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

    /// Whether the header says this is an OAuth access token (`typ:
    /// at+jwt`, RFC 9068), not an ID token.
    pub fn is_access_token(&self) -> bool {
        self.typ == TokenType::AccessToken
    }

    /// Says which kind of token the caller takes this one as (by default an
    /// ID token); [`super::Source::verify`] then checks it with
    /// [`Self::check_use`].
    #[must_use]
    pub fn presented_as(mut self, wanted: TokenUse) -> Self {
        self.wanted = wanted;
        self
    }

    /// Refuses a token that is not of the kind `wanted`: an access
    /// token (`at+jwt`) where an ID token is wanted; a `typ` of another
    /// kind of JWT, or a payload with `events` (a security event or logout
    /// token), always.
    pub fn check_use(&self) -> Result<(), VerifyError> {
        let expected = match self.wanted {
            TokenUse::IdToken => "an ID token (header typ JWT, or none)",
            TokenUse::AccessToken => "an access token (header typ at+jwt or JWT, or none)",
        };
        let found = match (&self.typ, self.wanted) {
            (TokenType::Other(t), _) => format!(
                "header typ {:?}, a kind of JWT that is never a sign-in",
                clip(t, ECHO_HEADER_CHARS)
            ),
            (TokenType::AccessToken, TokenUse::IdToken) => {
                "header typ \"at+jwt\", an OAuth access token (RFC 9068)".into()
            }
            (TokenType::Jwt | TokenType::AccessToken, _)
                if self.unverified_claims.contains_key("events") =>
            {
                "an `events` claim: a security event or logout token".into()
            }
            _ => return Ok(()),
        };
        Err(VerifyError::TokenTypeMismatch {
            expected: expected.into(),
            found,
        })
    }
}

/// Splits and decodes a compact JWS without checking it. Refuses tokens
/// over `max_bytes`, anything but three base64url parts, headers and
/// payloads that are not JSON objects, a `typ` that is not a string, and
/// headers with `crit` (no extension is understood, so RFC 7515 says
/// refuse) or `enc` (an encrypted token is not something we can verify).
pub fn unverified_decode(
    token: &str,
    max_bytes: usize,
) -> Result<UnverifiedToken<'_>, VerifyError> {
    let (token, h, p, s) = split(token, max_bytes)?;
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
    let typ = match &header.typ {
        None => TokenType::of(None),
        Some(serde_json::Value::String(typ)) => TokenType::of(Some(typ)),
        Some(_) => {
            return Err(VerifyError::Malformed(
                "the header's `typ` must be a string; it is not".into(),
            ));
        }
    };
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
        typ,
        wanted: TokenUse::default(),
        signing_input,
        signature: s,
        unverified_claims,
    })
}

/// Whether `token` is a JOSE compact serialisation (a JWS or a JWE): its
/// first dot-separated part is the base64url of a JSON object. Such a
/// token, well formed or not, is never sent to an opaque source
/// ([`super::opaque`]): it may be another provider's ID token.
pub fn is_jose(token: &str) -> bool {
    let token = token.trim();
    let Some((first, _)) = token.split_once('.') else {
        return false;
    };
    URL_SAFE_NO_PAD
        .decode(first.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v.is_object())
}

/// A compact JWS split and decoded without any check of what it says:
/// for the sandbox, which reports on each part itself.
#[derive(Debug)]
pub struct UnverifiedParts<'t> {
    pub unverified_header: serde_json::Map<String, serde_json::Value>,
    pub unverified_payload: serde_json::Map<String, serde_json::Value>,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'t str,
    pub signature: Vec<u8>,
}

/// Splits and decodes a compact JWS of at most `max_bytes` into its JSON
/// header and payload (both objects) and its signature bytes, judging
/// nothing else: the other reader of tokens ([`unverified_decode`] reads
/// what `Source::verify` needs).
pub fn unverified_parts(token: &str, max_bytes: usize) -> Result<UnverifiedParts<'_>, VerifyError> {
    let (token, h, p, s) = split(token, max_bytes)?;
    let object = |part: &str, what: &str| match decode_json(part, what)? {
        serde_json::Value::Object(m) => Ok(m),
        _ => Err(VerifyError::Malformed(format!(
            "the {what} is not a JSON object"
        ))),
    };
    Ok(UnverifiedParts {
        unverified_header: object(h, "header")?,
        unverified_payload: object(p, "payload")?,
        signing_input: &token[..h.len() + 1 + p.len()],
        signature: URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .map_err(|_| VerifyError::Malformed("the signature is not base64url".into()))?,
    })
}

/// A compact JWS of at most `max_bytes`, trimmed and cut into its three
/// parts (header, payload, signature), for both readers above.
fn split(token: &str, max_bytes: usize) -> Result<(&str, &str, &str, &str), VerifyError> {
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
    Ok((token, h, p, s))
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
    fn jose_tokens_are_told_from_opaque_ones() {
        let h = b64(r#"{"alg":"RS256"}"#);
        assert!(is_jose(&format!("{h}.e30.c2ln")));
        assert!(is_jose(&format!("{h}.a.b.c.d")));
        assert!(is_jose(&format!("{h}.broken")));
        assert!(is_jose(&format!(" {h}.e30.c2ln ")));
        assert!(!is_jose("Rh9n3Yx0q1abcdef"));
        assert!(!is_jose("abc.def.ghi"));
        assert!(!is_jose(&format!("{}.e30.c2ln", b64("[1]"))));
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

    #[test]
    fn typ_is_read_without_case_or_application_prefix() {
        for (typ, want) in [
            (None, TokenType::Jwt),
            (Some("JWT"), TokenType::Jwt),
            (Some("application/jwt"), TokenType::Jwt),
            (Some("JOSE"), TokenType::Jwt),
            (Some("at+jwt"), TokenType::AccessToken),
            (Some("Application/AT+JWT"), TokenType::AccessToken),
            (Some("logout+jwt"), TokenType::Other("logout+jwt".into())),
            (
                Some("application/"),
                TokenType::Other("application/".into()),
            ),
            (
                Some("applicatioñ/jwt"),
                TokenType::Other("applicatioñ/jwt".into()),
            ),
        ] {
            assert_eq!(TokenType::of(typ), want, "{typ:?}");
        }
    }
}
