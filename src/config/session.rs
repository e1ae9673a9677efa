//! The keys of a `session` source (a legacy app's own login session,
//! checked at its `check_url`, as Ory Oathkeeper's `cookie_session`
//! authenticator does): which URLs, which cookies are forwarded, which
//! header carries a mobile session token, and how long answers are kept.

use std::time::Duration;

use axum::http::HeaderName;
use url::Url;

use super::raw::RawSource;
use super::{Http, Validator};

/// A `session` source's own keys, checked.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// `GET` with the session's cookies (or token header): 200 and the
    /// person's claims as a JSON object, or 401/403.
    pub check_url: Url,
    /// The app's login form, for the browser; `None`: the source signs in
    /// apps only (session tokens on `/sdk`, `/exchange`, `/token`).
    pub login_url: Option<Url>,
    /// The query parameter of `login_url` that carries the way back.
    pub return_to_query_param: String,
    /// The only cookies forwarded to `check_url`, by name.
    pub cookies: Vec<String>,
    /// The header that carries a presented session token to `check_url`:
    /// `Authorization` sends `Bearer <token>`, any other the bare token.
    pub token_header: HeaderName,
    /// The whole check, connection included.
    pub timeout: Duration,
    /// How long a positive answer is reused (never past its `exp`); zero:
    /// never. The key is `cache_max`, as an `introspection` source's.
    pub cache_max: Duration,
}

/// Longest a check may take (`timeout`'s bounds).
const TIMEOUT_MIN: Duration = Duration::from_millis(100);
const TIMEOUT_MAX: Duration = Duration::from_secs(30);
/// Longest an answer is reused: a session ended at the app stays usable
/// here at most this long.
pub const CACHE_MAX: Duration = Duration::from_secs(300);
/// Most cookie names forwarded.
const MAX_COOKIES: usize = 8;
/// zenbridge's own cookies (`zb_…`, `__Host-zb_…`): never forwarded.
const OWN_COOKIE_PREFIXES: [&str; 2] = ["zb_", "__host-zb_"];

impl Validator {
    pub(super) fn session_detail(&mut self, path: &str, raw: &RawSource) -> Option<SessionConfig> {
        let check_url = self
            .required(path, "check_url", raw.check_url.as_ref())
            .and_then(|u| self.url(&format!("{path}.check_url"), &u, Http::LoopbackOnly));
        let return_to_query_param = raw
            .return_to_query_param
            .clone()
            .unwrap_or_else(|| "return_to".to_owned());
        if return_to_query_param.is_empty()
            || !return_to_query_param
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            self.p.push(
                format!("{path}.return_to_query_param"),
                format!(
                    "must be a query parameter name (letters, digits, '_', '-', '.'); found {return_to_query_param:?}"
                ),
            );
        }
        let login_url = raw.login_url.as_ref().and_then(|u| {
            let key = format!("{path}.login_url");
            let url = self.url(&key, u, Http::LoopbackOnly)?;
            if url.query_pairs().any(|(k, _)| k == return_to_query_param) {
                self.p.push(
                    key,
                    format!(
                        "already has a {return_to_query_param:?} parameter; zenbridge adds it (the way back): remove it"
                    ),
                );
                return None;
            }
            Some(url)
        });
        let cookies = raw.cookies.clone().unwrap_or_default();
        let cookies_path = format!("{path}.cookies");
        if cookies.is_empty() && raw.login_url.is_some() {
            self.p.push(
                &cookies_path,
                "a session source with a login_url needs the names of the app's session cookies, e.g. cookies = [\"session\"]: only these are forwarded to check_url",
            );
        }
        if cookies.len() > MAX_COOKIES {
            self.p.push(
                &cookies_path,
                format!("at most {MAX_COOKIES} names; found {}", cookies.len()),
            );
        }
        for (i, name) in cookies.iter().enumerate() {
            let lower = name.to_ascii_lowercase();
            if name.is_empty() || !name.bytes().all(is_cookie_name_byte) {
                self.p.push(
                    format!("{cookies_path}[{i}]"),
                    format!("not a cookie name (RFC 6265 token characters); found {name:?}"),
                );
            } else if OWN_COOKIE_PREFIXES.iter().any(|p| lower.starts_with(p)) {
                self.p.push(
                    format!("{cookies_path}[{i}]"),
                    format!(
                        "{name:?} is one of zenbridge's own sealed cookies (zb_…): it is never forwarded to the app"
                    ),
                );
            }
        }
        let token_header = raw.token_header.as_deref().unwrap_or("Authorization");
        let token_header = match HeaderName::from_bytes(token_header.as_bytes()) {
            Ok(h) if h == axum::http::header::COOKIE || h == axum::http::header::HOST => {
                self.p.push(
                    format!("{path}.token_header"),
                    format!(
                        "{token_header:?} cannot carry a session token; use cookies for cookies, or e.g. \"X-Session-Token\""
                    ),
                );
                None
            }
            Ok(h) => Some(h),
            Err(_) => {
                self.p.push(
                    format!("{path}.token_header"),
                    format!("not an HTTP header name; found {token_header:?}"),
                );
                None
            }
        };
        let timeout = self.duration_within(
            path,
            "timeout",
            raw.timeout.as_ref(),
            Duration::from_secs(3),
            (TIMEOUT_MIN, TIMEOUT_MAX),
        );
        let cache_max = self.duration_within(
            path,
            "cache_max",
            raw.cache_max.as_ref(),
            Duration::from_secs(30),
            (Duration::ZERO, CACHE_MAX),
        );
        Some(SessionConfig {
            check_url: check_url?,
            login_url,
            return_to_query_param,
            cookies,
            token_header: token_header?,
            timeout,
            cache_max,
        })
    }
}

/// RFC 6265 §4.1.1: a cookie name is an RFC 2616 token.
fn is_cookie_name_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}
