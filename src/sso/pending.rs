//! The pending login: what `/callback` (or the dev login form) needs to
//! finish a sign-in that `/sso/{target}/login/{source}` started — target,
//! source, `state`, `nonce`, PKCE verifier, `return_to`, `brand_id`,
//! `locale_id` and an expiry 10 minutes on.
//!
//! It lives in the browser, in a cookie encrypted and authenticated with a
//! key derived from `server.cookie_key` (AES-256-GCM, the cookie's name as
//! associated data), so any replica can finish the sign-in and nothing is
//! kept on the server until then. The cookie is `HttpOnly`, `SameSite=Lax`
//! (the callback is a top-level GET from the provider), `Secure` and
//! `__Host-`-prefixed when `public_url` is https, `Path=/`, and expires
//! after 10 minutes; the expiry inside the sealed value is checked too, so a
//! kept copy is no good later.
//!
//! Each sign-in has its own cookie, named after the start of its `state`
//! (`zb_login_<12 characters>`), so sign-ins started in parallel tabs do not
//! clobber each other; at most [`MAX_PENDING`] are kept, the oldest
//! dropped first. That a state is finished once is the job of the state
//! store (`login:<state>`), not of the cookie, which a client can replay.
//!
//! A second small sealed cookie remembers the source of the last sign-in
//! per browser (`zb_last`), for `upstream_logout`.

use std::time::Duration;

use axum_extra::extract::cookie::{Cookie, Key, PrivateCookieJar, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::config::Secret;

/// How long a sign-in may take, from the login URL to the callback.
pub const TTL: Duration = Duration::from_secs(600);
/// Pending sign-ins kept per browser; starting one more drops the oldest.
pub const MAX_PENDING: usize = 4;
/// How long the last sign-in's source is remembered (for the logout).
pub const LAST_TTL: Duration = Duration::from_secs(12 * 3600);

const LOGIN_PREFIX: &str = "zb_login_";
const LAST: &str = "zb_last";
/// Characters of the state that name its cookie.
const NAME_CHARS: usize = 12;

/// A sign-in in progress. Sealed in its cookie; nothing in it is secret
/// from the server, but all of it is from everyone else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    pub target: String,
    pub source: String,
    pub state: String,
    pub nonce: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce_verifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale_id: Option<String>,
    /// The issuer the sign-in was started with: the callback's answer must
    /// come from it (RFC 9207's defence against a mix-up of providers), and
    /// a reload that gives the source another issuer ends the sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
}

/// The source of the last finished sign-in, for `upstream_logout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSignIn {
    pub target: String,
    pub source: String,
}

/// Why no pending login was found for a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// No sign-in is pending in this browser (never started, expired,
    /// already finished, or the cookie was blocked).
    NoneInProgress,
    /// Sign-ins are pending, but none has this state.
    OtherState,
    /// Found, but its 10 minutes are over.
    Expired,
}

/// The 64-byte cookie key: HKDF-SHA256 of `server.cookie_key`, so the
/// configured key can be any length from 32 bytes and is never used raw.
pub fn cookie_key(secret: &Secret) -> Key {
    struct Len;
    impl aws_lc_rs::hkdf::KeyType for Len {
        fn len(&self) -> usize {
            64
        }
    }
    let salt = aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, b"zenbridge cookies");
    let prk = salt.extract(secret.expose().as_bytes());
    let okm = prk
        .expand(&[b"zenbridge cookie key v1"], Len)
        .expect("64 bytes is a valid HKDF-SHA256 length");
    let mut out = [0u8; 64];
    okm.fill(&mut out).expect("the buffer has the asked length");
    Key::from(&out)
}

/// The sealed cookies' keys and names of one loaded config.
///
/// During a rotation of `server.cookie_key`, `previous` is the key it
/// replaced: a cookie of ours that only it opens is read as if sealed with
/// the current key, and the response seals it again with the current key
/// (with this deployment's attributes), so sign-ins started before the
/// rotation finish on any replica that has either key.
pub struct CookieKeys {
    pub key: Key,
    pub previous: Option<Key>,
    pub names: Names,
}

impl CookieKeys {
    pub fn new(current: &Secret, previous: Option<&Secret>, secure: bool) -> Self {
        Self {
            key: cookie_key(current),
            previous: previous.map(cookie_key),
            names: Names { secure },
        }
    }

    /// The request's jar, sealing with the current key.
    pub fn jar(&self, headers: &http::HeaderMap) -> PrivateCookieJar {
        let jar = PrivateCookieJar::from_headers(headers, self.key.clone());
        let Some(previous) = &self.previous else {
            return jar;
        };
        let old = PrivateCookieJar::from_headers(headers, previous.clone());
        // `iter` yields only the cookies the key opens.
        let reopened: Vec<Cookie<'static>> = old
            .iter()
            .filter(|c| jar.get(c.name()).is_none())
            .filter_map(|c| {
                let ttl = self.names.lifetime(c.name())?;
                Some(self.names.cookie(c.name(), c.value().to_owned(), ttl))
            })
            .collect();
        reopened.into_iter().fold(jar, PrivateCookieJar::add)
    }

    /// The keys that open what this deployment sealed, current first (the
    /// sandbox's sealed report).
    pub fn opening_keys(&self) -> impl Iterator<Item = &Key> {
        std::iter::once(&self.key).chain(self.previous.as_ref())
    }
}

/// 32 random bytes, base64url: a `state` or a `nonce`.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    aws_lc_rs::rand::fill(&mut b).expect("the system RNG works");
    URL_SAFE_NO_PAD.encode(b)
}

/// The cookie names of this deployment: `__Host-` prefixed over https.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    pub secure: bool,
}

impl Names {
    fn prefix(self) -> &'static str {
        if self.secure { "__Host-" } else { "" }
    }

    /// The cookie of the sign-in with this state.
    pub fn login(self, state: &str) -> String {
        let short: String = state.chars().take(NAME_CHARS).collect();
        format!("{}{LOGIN_PREFIX}{short}", self.prefix())
    }

    pub fn last(self) -> String {
        format!("{}{LAST}", self.prefix())
    }

    /// How long a cookie of ours named `name` lives; `None`: not ours.
    fn lifetime(self, name: &str) -> Option<Duration> {
        if self.is_login(name) {
            Some(TTL)
        } else if name == self.last() {
            Some(LAST_TTL)
        } else {
            None
        }
    }

    fn is_login(self, name: &str) -> bool {
        name.strip_prefix(self.prefix())
            .is_some_and(|n| n.starts_with(LOGIN_PREFIX))
    }

    /// A cookie with this deployment's attributes. (Built from text because
    /// the builder's `max_age` wants the `time` crate's `Duration`, which
    /// axum-extra does not re-export.)
    fn cookie(self, name: &str, value: String, max_age: Duration) -> Cookie<'static> {
        let mut c = Cookie::parse(format!("{name}=; Max-Age={}", max_age.as_secs()))
            .expect("a cookie name of our own and a number")
            .into_owned();
        c.set_value(value);
        c.set_path("/");
        c.set_http_only(true);
        c.set_secure(self.secure);
        c.set_same_site(SameSite::Lax);
        c
    }

    /// The cookie that deletes `name` (same path, so the browser matches it).
    fn removal(self, name: String) -> Cookie<'static> {
        Cookie::build((name, ""))
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .build()
    }
}

/// Adds `login`'s cookie to the jar, first dropping the oldest pending
/// logins so that at most [`MAX_PENDING`] remain.
pub fn store(jar: PrivateCookieJar, names: Names, login: &PendingLogin) -> PrivateCookieJar {
    let mut pending: Vec<(i64, String)> = jar
        .iter()
        .filter(|c| names.is_login(c.name()))
        .map(|c| {
            let expires =
                serde_json::from_str::<PendingLogin>(c.value()).map_or(i64::MIN, |p| p.expires_at);
            (expires, c.name().to_owned())
        })
        .collect();
    pending.sort();
    let excess = (pending.len() + 1).saturating_sub(MAX_PENDING);
    let mut jar = jar;
    for (_, name) in pending.into_iter().take(excess) {
        jar = jar.remove(names.removal(name));
    }
    let value = serde_json::to_string(login).expect("a pending login serialises");
    jar.add(names.cookie(&names.login(&login.state), value, TTL))
}

/// Finds the pending login of `state`, checks its expiry against `now`, and
/// removes its cookie from the jar (whatever the outcome: a failed sign-in
/// is started again from the login URL).
pub fn take(
    jar: PrivateCookieJar,
    names: Names,
    state: &str,
    now: i64,
) -> (PrivateCookieJar, Result<PendingLogin, Missing>) {
    let name = names.login(state);
    let found = jar
        .get(&name)
        .and_then(|c| serde_json::from_str::<PendingLogin>(c.value()).ok())
        .filter(|p| constant_time_eq(p.state.as_bytes(), state.as_bytes()));
    match found {
        Some(p) => {
            let jar = jar.remove(names.removal(name));
            if p.expires_at < now {
                (jar, Err(Missing::Expired))
            } else {
                (jar, Ok(p))
            }
        }
        None => {
            let others = jar.iter().any(|c| names.is_login(c.name()));
            let missing = if others {
                Missing::OtherState
            } else {
                Missing::NoneInProgress
            };
            (jar, Err(missing))
        }
    }
}

/// Reads the pending login of `state` without removing it (the dev login
/// page shows its users before the form is posted).
pub fn peek(jar: &PrivateCookieJar, names: Names, state: &str) -> Option<PendingLogin> {
    jar.get(&names.login(state))
        .and_then(|c| serde_json::from_str::<PendingLogin>(c.value()).ok())
        .filter(|p| constant_time_eq(p.state.as_bytes(), state.as_bytes()))
}

/// Remembers the source of a finished sign-in.
pub fn remember(jar: PrivateCookieJar, names: Names, last: &LastSignIn) -> PrivateCookieJar {
    let value = serde_json::to_string(last).expect("serialises");
    jar.add(names.cookie(&names.last(), value, LAST_TTL))
}

pub fn last(jar: &PrivateCookieJar, names: Names) -> Option<LastSignIn> {
    jar.get(&names.last())
        .and_then(|c| serde_json::from_str(c.value()).ok())
}

/// Removes every zenbridge cookie this jar could read (the logout).
pub fn clear(jar: PrivateCookieJar, names: Names) -> PrivateCookieJar {
    let ours: Vec<String> = jar
        .iter()
        .map(|c| c.name().to_owned())
        .filter(|n| names.is_login(n) || *n == names.last())
        .collect();
    ours.into_iter()
        .fold(jar, |jar, name| jar.remove(names.removal(name)))
}

/// Compares secrets (a `state`, a `nonce`) in time independent of where
/// they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        cookie_key(&Secret::generated(
            "a-cookie-key-of-at-least-32-bytes-long".into(),
        ))
    }

    fn login(state: &str, expires_at: i64) -> PendingLogin {
        PendingLogin {
            target: "helpcenter".into(),
            source: "op".into(),
            state: state.into(),
            nonce: "n".into(),
            pkce_verifier: Some("v".into()),
            return_to: Some("/hc".into()),
            brand_id: None,
            locale_id: None,
            issuer: None,
            expires_at,
        }
    }

    /// A browser's cookie store, enough for these tests.
    #[derive(Default)]
    struct Browser(std::collections::BTreeMap<String, String>);

    impl Browser {
        /// Applies the jar's Set-Cookie headers.
        fn receive(&mut self, jar: PrivateCookieJar) {
            use axum::response::IntoResponse;
            let resp = jar.into_response();
            for v in resp.headers().get_all(http::header::SET_COOKIE) {
                let v = v.to_str().expect("ascii");
                let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
                let (name, value) = pair.split_once('=').expect("name=value");
                if attrs.contains("Max-Age=0") {
                    self.0.remove(name);
                } else {
                    self.0.insert(name.to_owned(), value.to_owned());
                }
            }
        }

        /// The jar a request from this browser would carry.
        fn jar(&self) -> PrivateCookieJar {
            let header: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let mut headers = http::HeaderMap::new();
            if !header.is_empty() {
                headers.insert(
                    http::header::COOKIE,
                    header.join("; ").parse().expect("header"),
                );
            }
            PrivateCookieJar::from_headers(&headers, key())
        }
    }

    #[test]
    fn parallel_sign_ins_each_keep_their_cookie() {
        let names = Names { secure: false };
        let (a, b) = (random_token(), random_token());
        let mut browser = Browser::default();
        browser.receive(store(browser.jar(), names, &login(&a, 100)));
        browser.receive(store(browser.jar(), names, &login(&b, 200)));
        let (jar, found) = take(browser.jar(), names, &a, 50);
        assert_eq!(found.expect("a").state, a);
        browser.receive(jar);
        assert_eq!(take(browser.jar(), names, &b, 50).1.expect("b").state, b);
        assert_eq!(
            take(browser.jar(), names, &a, 50).1,
            Err(Missing::OtherState)
        );
    }

    #[test]
    fn oldest_pending_login_is_dropped_beyond_the_limit() {
        let names = Names { secure: false };
        let states: Vec<String> = (0..=MAX_PENDING).map(|_| random_token()).collect();
        let mut browser = Browser::default();
        for (i, s) in states.iter().enumerate() {
            let expires = 100 + i64::try_from(i).expect("small");
            browser.receive(store(browser.jar(), names, &login(s, expires)));
        }
        assert_eq!(browser.jar().iter().count(), MAX_PENDING);
        assert_eq!(
            take(browser.jar(), names, &states[0], 0).1,
            Err(Missing::OtherState)
        );
        assert!(
            take(browser.jar(), names, &states[MAX_PENDING], 0)
                .1
                .is_ok()
        );
    }

    #[test]
    fn expired_and_unknown_states_are_told_apart() {
        let names = Names { secure: true };
        let s = random_token();
        let mut browser = Browser::default();
        browser.receive(store(browser.jar(), names, &login(&s, 100)));
        assert_eq!(take(browser.jar(), names, &s, 101).1, Err(Missing::Expired));
        assert_eq!(
            take(browser.jar(), names, &random_token(), 0).1,
            Err(Missing::OtherState)
        );
        assert_eq!(
            take(Browser::default().jar(), names, &s, 0).1,
            Err(Missing::NoneInProgress)
        );
    }

    #[test]
    fn logout_clears_pending_logins_and_the_last_source() {
        let names = Names { secure: false };
        let mut browser = Browser::default();
        browser.receive(store(browser.jar(), names, &login(&random_token(), 100)));
        let last = LastSignIn {
            target: "t".into(),
            source: "s".into(),
        };
        browser.receive(remember(browser.jar(), names, &last));
        assert_eq!(super::last(&browser.jar(), names), Some(last));
        browser.receive(clear(browser.jar(), names));
        assert!(browser.0.is_empty(), "{:?}", browser.0);
    }

    #[test]
    fn secure_deployments_use_host_prefixed_names() {
        assert!(
            Names { secure: true }
                .login("abc")
                .starts_with("__Host-zb_login_")
        );
        assert_eq!(Names { secure: false }.last(), "zb_last");
    }

    /// The Cookie header a browser sends back for what `jar` set.
    fn cookie_header(jar: PrivateCookieJar) -> http::HeaderMap {
        let mut browser = Browser::default();
        browser.receive(jar);
        let pairs: Vec<String> = browser.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            pairs.join("; ").parse().expect("header"),
        );
        headers
    }

    fn secret(s: &str) -> Secret {
        Secret::generated(s.into())
    }

    #[test]
    fn cookie_key_rotation_opens_the_previous_keys_cookies_and_seals_them_again() {
        let (old, new) = (
            secret("the-old-cookie-key-of-at-least-32-bytes"),
            secret("the-new-cookie-key-of-at-least-32-bytes"),
        );
        let names = Names { secure: true };
        let state = random_token();
        let before = CookieKeys::new(&old, None, true);
        let sealed = store(
            before.jar(&http::HeaderMap::new()),
            names,
            &login(&state, 100),
        );
        let sealed = remember(
            sealed,
            names,
            &LastSignIn {
                target: "helpcenter".into(),
                source: "op".into(),
            },
        );
        let headers = cookie_header(sealed);

        // The new key alone opens nothing the old one sealed.
        let without = CookieKeys::new(&new, None, true);
        assert!(peek(&without.jar(&headers), names, &state).is_none());
        assert!(last(&without.jar(&headers), names).is_none());

        // With the old key as the previous one, both are read…
        let during = CookieKeys::new(&new, Some(&old), true);
        let jar = during.jar(&headers);
        assert_eq!(peek(&jar, names, &state).expect("pending").state, state);
        assert_eq!(last(&jar, names).expect("last").source, "op");
        // …and sealed again with the new key, with the cookies' attributes.
        let resp = axum::response::IntoResponse::into_response(jar);
        let set: Vec<&str> = resp
            .headers()
            .get_all(http::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert_eq!(set.len(), 2, "{set:?}");
        for c in &set {
            assert!(c.starts_with("__Host-zb_"), "{c}");
            for attr in ["HttpOnly", "Secure", "Path=/", "SameSite=Lax", "Max-Age="] {
                assert!(c.contains(attr), "{c} lacks {attr}");
            }
        }
        let mut resealed = http::HeaderMap::new();
        let pairs: Vec<&str> = set.iter().filter_map(|c| c.split(';').next()).collect();
        resealed.insert(
            http::header::COOKIE,
            pairs.join("; ").parse().expect("header"),
        );
        assert_eq!(
            peek(&without.jar(&resealed), names, &state)
                .expect("resealed")
                .state,
            state,
            "after the response, the new key alone opens it"
        );
    }

    #[test]
    fn cookie_key_rotation_reopens_only_our_cookies() {
        let (old, new) = (
            secret("the-old-cookie-key-of-at-least-32-bytes"),
            secret("the-new-cookie-key-of-at-least-32-bytes"),
        );
        // A cookie of another name sealed with the old key is not carried
        // over, and one the new key already opens is left as it is.
        let before = CookieKeys::new(&old, None, false);
        let foreign = before
            .jar(&http::HeaderMap::new())
            .add(Cookie::new("someone_elses", "value"));
        let headers = cookie_header(foreign);
        let during = CookieKeys::new(&new, Some(&old), false);
        let resp = axum::response::IntoResponse::into_response(during.jar(&headers));
        assert_eq!(
            resp.headers()
                .get_all(http::header::SET_COOKIE)
                .iter()
                .count(),
            0
        );
    }
}
