//! `session`: a legacy app's own login session, checked at the app's
//! `check_url` as Ory Oathkeeper's `cookie_session` authenticator does.
//! The app is on a sibling subdomain (zenbridge at `sso.example.com`, the
//! app's cookie set for `Domain=example.com`), so the browser sends the
//! app's session cookie to zenbridge too; apps present the app's session
//! token instead (`token_header`).
//!
//! What the check promises:
//!
//! - Only the configured `cookies` are forwarded, by name, re-serialised
//!   one by one ([`SessionCheck::cookies_of`]): never the browser's whole
//!   `Cookie` header, never zenbridge's own sealed cookies (the config
//!   refuses their names).
//! - The answer must be `200` with an `application/json` object holding a
//!   non-empty string `sub`, within [`MAX_ANSWER`] bytes and `timeout`;
//!   `401`/`403` (or an `exp` already past) is "not signed in"
//!   ([`VerifyError::Inactive`], `token_inactive`); anything else, a timeout or a
//!   connection failure is [`VerifyError::CheckUnavailable`]
//!   (`upstream_unavailable`), never a 500.
//! - No redirect is followed: a redirected check would carry the session
//!   elsewhere.
//! - A positive answer is kept for `cache_max` (at most 5 minutes, never
//!   past the answer's `exp`), by a SHA-256 of the session (the session
//!   itself is not kept); concurrent checks of one session share one call.
//!   A refusal is never kept: a person who just signed in at the app is
//!   seen at once.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, header};
use serde_json::{Map, Value};
use url::Url;

use futures_util::future::BoxFuture;

use super::{Kind, Opaque, VerifiedClaims, VerifyError, time_claim};
use crate::config::SourceConfig;
use crate::config::session::SessionConfig;
use crate::upstream::{error_chain, read_capped, redact_url};

/// Largest check answer read.
pub const MAX_ANSWER: usize = 64 * 1024;
/// Longest session (cookies as forwarded, or a presented token) sent.
pub const MAX_SESSION_BYTES: usize = 4096;
/// Most sessions whose answers are kept per source.
const CACHE_ENTRIES: u64 = 10_000;
/// Longest `sub` taken from an answer.
const MAX_SUB: usize = 255;

/// `urn:zenbridge:session:{name}`: a session source's tokens are not JWTs,
/// so its issuer only names it (no JWT can verify against it: it has no
/// keys).
pub fn issuer(name: &str) -> String {
    format!("urn:zenbridge:session:{name}")
}

/// What is checked: the forwarded cookies of a browser, or a session
/// token an app presented.
pub enum Session<'a> {
    /// A `Cookie` header value holding only the configured cookies.
    Cookies(String),
    /// A presented session token, sent in `token_header`.
    Token(&'a str),
}

/// A kept answer: the claims, and until when (Unix seconds) they hold.
#[derive(Clone)]
struct Answer {
    claims: Arc<Map<String, Value>>,
    until: i64,
}

/// A `session` source's check, and for the browser its login form.
pub struct SessionCheck {
    name: String,
    pub config: SessionConfig,
    leeway: i64,
    client: reqwest::Client,
    cache: Option<moka::future::Cache<[u8; 32], Answer>>,
}

/// The check of a `session` source (`None` for a config of another kind).
pub fn build(config: &SourceConfig) -> Option<Arc<SessionCheck>> {
    let crate::config::SourceDetail::Session(s) = &config.detail else {
        return None;
    };
    let cache = (!s.cache_max.is_zero()).then(|| {
        moka::future::Cache::builder()
            .max_capacity(CACHE_ENTRIES)
            .time_to_live(s.cache_max)
            .build()
    });
    Some(Arc::new(SessionCheck {
        name: config.name.clone(),
        config: s.clone(),
        leeway: i64::try_from(config.leeway.as_secs()).unwrap_or(60),
        client: crate::upstream::client(s.timeout, reqwest::redirect::Policy::none()),
        cache,
    }))
}

impl SessionCheck {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The configured cookies the browser sent, as one `Cookie` header
    /// value holding only them (the first of each name, in the configured
    /// order); `None` when none is there. A value with characters a cookie
    /// cannot hold is left out.
    pub fn cookies_of(&self, headers: &HeaderMap) -> Option<String> {
        let mut out: Vec<String> = Vec::new();
        for wanted in &self.config.cookies {
            let found = headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(name, _)| name == wanted)
                .map(|(_, value)| value.trim());
            if let Some(value) = found.filter(|v| !v.is_empty() && v.bytes().all(cookie_octet)) {
                out.push(format!("{wanted}={value}"));
            }
        }
        let joined = out.join("; ");
        (!joined.is_empty() && joined.len() <= MAX_SESSION_BYTES).then_some(joined)
    }

    /// The app's login form, sending the browser back to `back` once
    /// signed in (in `return_to_query_param`); `None` without a
    /// `login_url`.
    pub fn login_redirect(&self, back: &str) -> Option<Url> {
        let mut url = self.config.login_url.clone()?;
        url.query_pairs_mut()
            .append_pair(&self.config.return_to_query_param, back);
        Some(url)
    }

    /// Asks the app who `session` is (or takes a kept answer).
    pub async fn check(
        &self,
        session: &Session<'_>,
        now: i64,
    ) -> Result<VerifiedClaims, VerifyError> {
        let key = cache_key(session);
        let answer = match &self.cache {
            None => self.ask(session, now).await?,
            Some(cache) => {
                if let Some(kept) = cache.get(&key).await {
                    if kept.until > now {
                        return Ok(verified(&kept));
                    }
                    cache.invalidate(&key).await;
                }
                // Concurrent checks of one session share one call; an
                // error is not kept.
                cache
                    .try_get_with(key, self.ask(session, now))
                    .await
                    .map_err(|e| (*e).clone())?
            }
        };
        Ok(verified(&answer))
    }

    /// One call to `check_url`.
    async fn ask(&self, session: &Session<'_>, now: i64) -> Result<Answer, VerifyError> {
        let url = &self.config.check_url;
        let mut request = self
            .client
            .get(url.clone())
            .header(header::ACCEPT, "application/json");
        request = match session {
            Session::Cookies(c) => request.header(header::COOKIE, header_value(c)?),
            Session::Token(t) if self.config.token_header == header::AUTHORIZATION => {
                request.header(header::AUTHORIZATION, header_value(&format!("Bearer {t}"))?)
            }
            Session::Token(t) => request.header(&self.config.token_header, header_value(t)?),
        };
        let response = request
            .send()
            .await
            .map_err(|e| self.unavailable(&error_chain(e)))?;
        let status = response.status();
        if matches!(status.as_u16(), 401 | 403) {
            return Err(self.refused(&format!("its check URL answered {}", status.as_u16())));
        }
        if status.as_u16() != 200 {
            return Err(self.unavailable(&format!(
                "expected 200 (signed in) or 401 (not signed in); it answered HTTP {status}"
            )));
        }
        let json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
        if !json {
            return Err(self.unavailable("expected a 200 answer of type application/json"));
        }
        let body = read_capped(response, MAX_ANSWER)
            .await
            .map_err(|e| self.unavailable(&e))?;
        let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(&body) else {
            return Err(self.unavailable("expected a JSON object of claims; the answer is not one"));
        };
        match claims.get("sub") {
            Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_SUB => {}
            _ => {
                return Err(self.unavailable(&format!(
                    "expected the person's id in `sub` (a string of 1 to {MAX_SUB} bytes); the answer has none"
                )));
            }
        }
        let exp = time_claim(&claims, "exp").map_err(|e| self.unavailable(&e.to_string()))?;
        if let Some(exp) = exp
            && exp.saturating_add(self.leeway) <= now
        {
            return Err(self.refused(&format!("the session expired at {}", super::rfc3339(exp))));
        }
        let ttl = i64::try_from(self.config.cache_max.as_secs()).unwrap_or(0);
        let until = exp.map_or(now.saturating_add(ttl), |e| e.min(now.saturating_add(ttl)));
        Ok(Answer {
            claims: Arc::new(claims),
            until,
        })
    }

    fn refused(&self, why: &str) -> VerifyError {
        VerifyError::Inactive {
            sources: format!("source {:?}", self.name),
            detail: format!(": {why}"),
        }
    }

    fn unavailable(&self, detail: &str) -> VerifyError {
        let detail = format!("{}: {detail}", redact_url(&self.config.check_url));
        tracing::warn!(source = %self.name, %detail, "session check failed");
        VerifyError::CheckUnavailable {
            source_name: self.name.clone(),
            detail,
        }
    }
}

fn verified(answer: &Answer) -> VerifiedClaims {
    VerifiedClaims::opaque((*answer.claims).clone())
}

/// A session token an app presents (`/sdk`, `/exchange`, `/token`), sent to
/// `check_url` in `token_header`.
impl Opaque for SessionCheck {
    fn check<'a>(
        &'a self,
        token: &'a str,
        now: i64,
        trace: Option<&'a mut Vec<String>>,
    ) -> BoxFuture<'a, Result<VerifiedClaims, VerifyError>> {
        Box::pin(async move {
            let claims = SessionCheck::check(self, &Session::Token(token), now).await?;
            if let Some(t) = trace {
                t.push(format!(
                    "session: the app's check URL knows the session (sent in {})",
                    self.config.token_header
                ));
            }
            Ok(claims)
        })
    }

    fn probe(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            let url = redact_url(&self.config.check_url);
            let response = self
                .client
                .get(self.config.check_url.clone())
                .header(header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| format!("{url}: {}", error_chain(e)))?;
            match response.status().as_u16() {
                401 | 403 => Ok(format!(
                    "{url} answers {} without a session, as a check URL should",
                    response.status().as_u16()
                )),
                other => Err(format!(
                    "{url}: without a session, expected 401; it answered HTTP {other}"
                )),
            }
        })
    }
}

/// A session is never kept, only its SHA-256 (under a label naming how it
/// came: cookies and tokens never share an entry).
fn cache_key(session: &Session<'_>) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    match session {
        Session::Cookies(c) => {
            ctx.update(b"zenbridge session cookies\0");
            ctx.update(c.as_bytes());
        }
        Session::Token(t) => {
            ctx.update(b"zenbridge session token\0");
            ctx.update(t.as_bytes());
        }
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    key
}

/// A header value from the caller's session; one that cannot be sent is
/// refused as not signed in (it cannot be anyone's session).
fn header_value(s: &str) -> Result<HeaderValue, VerifyError> {
    if s.len() > MAX_SESSION_BYTES {
        return Err(VerifyError::TooLarge {
            len: s.len(),
            max: MAX_SESSION_BYTES,
        });
    }
    HeaderValue::from_str(s)
        .ok()
        .filter(|_| s.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
        .ok_or_else(|| {
            VerifyError::Malformed(
                "a session token is printable ASCII without control characters; this one is not"
                    .into(),
            )
        })
}

/// RFC 6265 §4.1.1's cookie-octet.
fn cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// The kind adds no checks: a session source verifies no JWT (it has no
/// keys), its claims come from [`SessionCheck::check`].
pub struct SessionKind;

impl Kind for SessionKind {}
