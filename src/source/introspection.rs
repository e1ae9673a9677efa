//! `introspection`: opaque access tokens, checked by asking the provider
//! (OAuth 2.0 Token Introspection, RFC 7662), optionally enriched with its
//! OpenID Connect userinfo. It is an [`Opaque`] source: it has no keys, is
//! never picked by a JWT's `iss`, and only sees tokens that are not JWTs
//! ([`super::opaque`]).
//!
//! What it promises:
//! - one `POST` to `introspection_url` per token (`token`,
//!   `token_type_hint=access_token`, the client's credentials), then, with
//!   `userinfo_url`, one `GET` with the token as bearer; each bounded by
//!   `timeout`, each answer by [`MAX_ANSWER`] bytes;
//! - only `200` with a JSON object whose `active` is the boolean `true`
//!   vouches; `active: false` is [`VerifyError::Inactive`] (the next source
//!   may try); anything else — a refused credential, garbage, a string
//!   `"true"`, a timeout — is [`VerifyError::CheckUnavailable`], never a 500;
//! - an active answer must name a person (`sub`), a client in
//!   `allowed_clients`, the configured `issuer` and `audiences` when set, a
//!   bearer access token (`token_type`, when given; no `cnf`: a token bound
//!   to a key is only good with its proof), and be within its `exp`,
//!   `nbf` and `iat` (with the source's leeway);
//! - the userinfo's `sub` must equal the introspection's; its claims (email,
//!   `email_verified`, name, …) are added, never replacing the registered
//!   ones; an `email` comes with the userinfo's own `email_verified` only;
//! - accepted answers are kept in memory under the token's SHA-256 (never
//!   the token) for `cache_max` at most and never past `exp`; refusals are
//!   not kept; concurrent checks of one token make one call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use serde_json::{Map, Value};

use super::standard::{check_audience, check_times};
use super::{ECHO_VALUE_CHARS, Opaque, VerifiedClaims, VerifyError, clip, time_claim};
use crate::config::introspection::{ClientAuth, Clients, IntrospectionConfig};
use crate::config::{SourceConfig, SourceDetail};
use crate::upstream::{error_chain, read_capped, redact_url};

/// Largest introspection or userinfo answer read, in bytes.
pub const MAX_ANSWER: usize = 64 * 1024;

/// Most answers kept per source.
const CACHE_ENTRIES: u64 = 10_000;

/// Claims the userinfo answer never replaces: what the introspection
/// answer says about the token itself.
const TOKEN_CLAIMS: [&str; 10] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "client_id",
    "scope",
    "token_type",
];

type Key = [u8; 32];

/// Its `Kind`: never asked, since an opaque source verifies no JWT.
pub struct IntrospectionKind;

impl super::Kind for IntrospectionKind {}

/// An active answer, checked, with how long it may be reused.
struct Answer {
    claims: Map<String, Value>,
    exp: Option<i64>,
    ttl: Duration,
}

struct ByAnswer;

impl moka::Expiry<Key, Arc<Answer>> for ByAnswer {
    fn expire_after_create(&self, _: &Key, answer: &Arc<Answer>, _: Instant) -> Option<Duration> {
        Some(answer.ttl)
    }
}

pub struct Introspector {
    config: Arc<SourceConfig>,
    http: reqwest::Client,
    cache: Option<moka::future::Cache<Key, Arc<Answer>>>,
}

/// The checker of an `introspection` source; `None` for another kind.
pub fn build(config: &Arc<SourceConfig>, http: &reqwest::Client) -> Option<Arc<dyn Opaque>> {
    let SourceDetail::Introspection(detail) = &config.detail else {
        return None;
    };
    let cache = (!detail.cache_max.is_zero()).then(|| {
        moka::future::Cache::builder()
            .max_capacity(CACHE_ENTRIES)
            .expire_after(ByAnswer)
            .build()
    });
    Some(Arc::new(Introspector {
        config: config.clone(),
        http: http.clone(),
        cache,
    }))
}

impl Opaque for Introspector {
    fn check<'a>(
        &'a self,
        token: &'a str,
        now: i64,
        mut trace: Option<&'a mut Vec<String>>,
    ) -> BoxFuture<'a, Result<VerifiedClaims, VerifyError>> {
        Box::pin(async move {
            let answer = match &self.cache {
                Some(cache) => {
                    let key = token_key(token);
                    cache
                        .try_get_with(key, self.ask(token, now))
                        .await
                        .map_err(|e| (*e).clone())?
                }
                None => self.ask(token, now).await?,
            };
            let mut note = |line: &dyn Fn() -> String| {
                if let Some(t) = trace.as_deref_mut() {
                    t.push(line());
                }
            };
            // A kept answer is checked again: never used past `exp`.
            if let Some(exp) = answer.exp {
                check_times(&answer.claims, exp, now, self.leeway(), &mut note)?;
            }
            note(&|| {
                format!(
                    "introspection: active, client_id {}",
                    answer
                        .claims
                        .get("client_id")
                        .and_then(Value::as_str)
                        .unwrap_or("(none)")
                )
            });
            Ok(VerifiedClaims::opaque(answer.claims.clone()))
        })
    }

    fn probe(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            let answer = self.introspect("zenbridge-check-online-probe").await?;
            match answer.get("active") {
                Some(Value::Bool(_)) => Ok(format!(
                    "{} answers and accepts client {:?}",
                    redact_url(&self.detail().introspection_url),
                    self.detail().client_id
                )),
                _ => Err("the answer has no boolean `active`".into()),
            }
        })
    }
}

impl Introspector {
    fn detail(&self) -> &IntrospectionConfig {
        match &self.config.detail {
            SourceDetail::Introspection(d) => d,
            // `build` makes an Introspector of an introspection source only.
            _ => unreachable!("an introspector of another kind of source"),
        }
    }

    fn leeway(&self) -> i64 {
        i64::try_from(self.config.leeway.as_secs()).unwrap_or(300)
    }

    fn unavailable(&self, detail: String) -> VerifyError {
        tracing::warn!(source = %self.config.name, "cannot check an opaque token: {detail}");
        VerifyError::CheckUnavailable {
            source_name: self.config.name.clone(),
            detail,
        }
    }

    /// Asks the provider, checks the answer, adds the userinfo.
    async fn ask(&self, token: &str, now: i64) -> Result<Arc<Answer>, VerifyError> {
        let mut claims = self
            .introspect(token)
            .await
            .map_err(|e| self.unavailable(e))?;
        match claims.remove("active") {
            Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => {
                return Err(VerifyError::Inactive {
                    sources: format!("source {:?}", self.config.name),
                    detail: String::new(),
                });
            }
            Some(_) => {
                return Err(self.unavailable(format!(
                    "{}: the answer's `active` is not a boolean (RFC 7662 §2.2)",
                    redact_url(&self.detail().introspection_url)
                )));
            }
            None => {
                return Err(self.unavailable(format!(
                    "{}: the answer has no `active` (RFC 7662 §2.2)",
                    redact_url(&self.detail().introspection_url)
                )));
            }
        }
        let exp = self.check_answer(&claims, now)?;
        if let Some(url) = &self.detail().userinfo_url {
            self.add_userinfo(url, token, &mut claims).await?;
        }
        let cache_max = self.detail().cache_max;
        let ttl = exp.map_or(cache_max, |exp| {
            let left = u64::try_from(exp.saturating_sub(now)).unwrap_or(0);
            cache_max.min(Duration::from_secs(left))
        });
        Ok(Arc::new(Answer { claims, exp, ttl }))
    }

    /// What an active answer must say; its `exp`, when it has one.
    fn check_answer(
        &self,
        claims: &Map<String, Value>,
        now: i64,
    ) -> Result<Option<i64>, VerifyError> {
        let detail = self.detail();
        if let Some(Value::String(t)) = claims.get("token_type")
            && !t.eq_ignore_ascii_case("bearer")
            && !t.eq_ignore_ascii_case("access_token")
        {
            return Err(VerifyError::TokenTypeMismatch {
                expected: "an access token (introspected token_type Bearer)".into(),
                found: format!("token_type {:?}", clip(t, ECHO_VALUE_CHARS)),
            });
        }
        // RFC 9449 / RFC 8705: a sender-constrained token is only good with
        // its proof of possession, which is not presented here.
        if claims.contains_key("cnf") {
            return Err(VerifyError::ClaimInvalid {
                claim: "cnf".into(),
                detail: "binds the token to a key (DPoP or mTLS) whose proof zenbridge cannot check; only bearer tokens are accepted".into(),
            });
        }
        match claims.get("sub") {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => {
                return Err(VerifyError::ClaimMissing {
                    claim: "sub".into(),
                    why: "a sign-in needs the person the token was issued for (a client credentials token has none)".into(),
                });
            }
        }
        if let Clients::Only(allowed) = &detail.allowed_clients {
            let client = claims.get("client_id").and_then(Value::as_str);
            if !client.is_some_and(|c| allowed.iter().any(|a| a == c)) {
                return Err(VerifyError::ClientNotAllowed {
                    expected: allowed.join(", "),
                    found: client.map_or_else(
                        || "no client_id".into(),
                        |c| format!("client_id {:?}", clip(c, ECHO_VALUE_CHARS)),
                    ),
                });
            }
        }
        let mut quiet = |_: &dyn Fn() -> String| {};
        if !self.config.issuer.is_empty() {
            let iss = claims
                .get("iss")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if iss != self.config.issuer {
                return Err(VerifyError::IssuerUnknown {
                    expected: self.config.issuer.clone(),
                    found: if iss.is_empty() {
                        "no iss".into()
                    } else {
                        clip(iss, ECHO_VALUE_CHARS).into_owned()
                    },
                });
            }
        }
        if !self.config.audiences.is_empty() {
            check_audience(&self.config.audiences, claims, &mut quiet)?;
        }
        let exp = time_claim(claims, "exp")?;
        check_times(claims, exp.unwrap_or(now), now, self.leeway(), &mut quiet)?;
        Ok(exp)
    }

    /// The introspection answer as a JSON object.
    async fn introspect(&self, token: &str) -> Result<Map<String, Value>, String> {
        let detail = self.detail();
        let url = &detail.introspection_url;
        let secret = detail.client_secret.expose();
        let mut form = vec![("token", token), ("token_type_hint", "access_token")];
        let mut request = self
            .http
            .post(url.clone())
            .timeout(detail.timeout)
            .header(reqwest::header::ACCEPT, "application/json");
        match detail.client_auth {
            // RFC 6749 §2.3.1: both form-encoded, then Basic.
            ClientAuth::Basic => {
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                request = request.basic_auth(enc(&detail.client_id), Some(enc(secret)));
            }
            ClientAuth::Post => {
                form.push(("client_id", &detail.client_id));
                form.push(("client_secret", secret));
            }
        }
        let resp = request.form(&form).send().await;
        json_object(resp, url, "the introspection endpoint").await
    }

    /// Adds the userinfo claims of `token` to `claims`.
    async fn add_userinfo(
        &self,
        url: &url::Url,
        token: &str,
        claims: &mut Map<String, Value>,
    ) -> Result<(), VerifyError> {
        let resp = self
            .http
            .get(url.clone())
            .timeout(self.detail().timeout)
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await;
        if let Ok(r) = &resp
            && matches!(r.status().as_u16(), 401 | 403)
        {
            // The provider knows the token but will not say who it is for.
            return Err(VerifyError::ClaimInvalid {
                claim: "scope".into(),
                detail: format!(
                    "does not let zenbridge read the userinfo (the provider answered HTTP {}); the token needs the openid scope",
                    r.status().as_u16()
                ),
            });
        }
        let info = json_object(resp, url, "the userinfo endpoint")
            .await
            .map_err(|e| self.unavailable(e))?;
        if info.get("sub") != claims.get("sub") {
            return Err(VerifyError::ClaimInvalid {
                claim: "sub".into(),
                detail: "of the userinfo answer differs from the introspection answer's".into(),
            });
        }
        // An email is believed only with the userinfo's own word on it.
        if info.contains_key("email") {
            claims.remove("email_verified");
        }
        for (k, v) in info {
            if !TOKEN_CLAIMS.contains(&k.as_str()) {
                claims.insert(k, v);
            }
        }
        Ok(())
    }
}

/// A `200` answer whose body is a JSON object; errors name `url` redacted
/// and never hold the body.
async fn json_object(
    resp: Result<reqwest::Response, reqwest::Error>,
    url: &url::Url,
    what: &str,
) -> Result<Map<String, Value>, String> {
    let shown = || redact_url(url);
    let resp = resp.map_err(|e| format!("{}: {}", shown(), error_chain(e)))?;
    let status = resp.status();
    if status != reqwest::StatusCode::OK {
        let hint = if matches!(status.as_u16(), 400 | 401 | 403) {
            " (are client_id, client_secret and client_auth_method right?)"
        } else {
            ""
        };
        return Err(format!(
            "{}: {what} answered HTTP {status}; 200 was expected{hint}",
            shown()
        ));
    }
    let body = read_capped(resp, MAX_ANSWER)
        .await
        .map_err(|e| format!("{}: {e}", shown()))?;
    match serde_json::from_slice(&body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(format!("{}: {what} did not answer a JSON object", shown())),
    }
}

/// The cache key of a token: its SHA-256, so the token itself is not kept.
fn token_key(token: &str) -> Key {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(d.as_ref());
    key
}
