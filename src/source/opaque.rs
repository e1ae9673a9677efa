//! Tokens that are not JWTs: an opaque access token (RFC 7662
//! introspection), a legacy session token. Such a token carries no `iss`,
//! so nothing in it says which source to ask: [`crate::pipeline::verify`]
//! asks the target's opaque sources, in the order the target lists them,
//! one upstream call each at most, and takes the first that vouches for it.
//!
//! A source that can check such tokens implements [`Opaque`] and is built
//! with it ([`super::Source::opaque`]); it then has no keys and is never
//! routed to by `iss`. What is sent where:
//! - a JOSE token (a JWS or JWE: its first part is a base64url JSON object,
//!   [`super::unverified::is_jose`]) is never sent to an opaque source, so
//!   an ID token of one provider is never handed to another's endpoint;
//! - an opaque token is only sent to the endpoints of the sources the
//!   target lists, and only when it has the shape of an RFC 6750 bearer
//!   token ([`bearer_shaped`]) and fits `server.max_token_bytes`.

use futures_util::future::BoxFuture;

use super::{VerifiedClaims, VerifyError};

/// A source's way of checking a token that is not a JWT.
pub trait Opaque: Send + Sync {
    /// Asks upstream (one call at most, answers may be cached) whether
    /// `token` is good, and returns its claims. The answers that let the
    /// next source of the target try are [`VerifyError::Inactive`] (the
    /// source does not know the token as active) and
    /// [`VerifyError::UpstreamUnavailable`]; any other refusal is final.
    /// `trace` collects one line per passed check, for `explain`.
    fn check<'a>(
        &'a self,
        token: &'a str,
        now: i64,
        trace: Option<&'a mut Vec<String>>,
    ) -> BoxFuture<'a, Result<VerifiedClaims, VerifyError>>;

    /// `check --online`: one call that shows whether the upstream answers
    /// (and accepts zenbridge's credentials); `Ok` says what was found.
    fn probe(&self) -> BoxFuture<'_, Result<String, String>>;
}

/// Whether `token` has the shape of an RFC 6750 `b64token` (letters,
/// digits, `-._~+/`, then `=` padding): what an opaque token may be
/// before zenbridge sends it to anyone.
pub fn bearer_shaped(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

impl VerifiedClaims {
    /// Claims an [`Opaque`] source vouched for: they have no `kid` or
    /// `alg` (empty). Only `source/` code can call this.
    pub(super) fn opaque(claims: serde_json::Map<String, serde_json::Value>) -> Self {
        Self {
            claims,
            kid: None,
            alg: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_shaped;

    #[test]
    fn bearer_shape_is_rfc_6750_b64token() {
        assert!(bearer_shaped("abc-DEF_123.~+/=="));
        assert!(bearer_shaped("Rh9n3Yx0q1"));
        for bad in ["", "==", "a b", "a\nb", "a\"b", "é", "a%20", "a=b"] {
            assert!(!bearer_shaped(bad), "{bad:?}");
        }
    }
}
