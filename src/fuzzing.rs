//! Entry points for the fuzz targets in `fuzz/` (`cargo fuzz`, libFuzzer)
//! into parts that are private to their modules: the form scanner, the
//! `return_to` check and the sealed-cookie opener. Each is a thin call of
//! the real code, never a copy. Not part of the crate's API.

use std::borrow::Cow;

use axum::http::{HeaderMap, HeaderValue, header};
use axum_extra::extract::cookie::PrivateCookieJar;

use crate::config::TargetConfig;

pub use crate::http::tokens::Repeated;

/// The token endpoints' form scanner (`user_token`, `subject_token`, …):
/// the field, or [`Repeated`] when it is sent more than once.
pub fn form_field<'b>(body: &'b [u8], name: &str) -> Result<Option<Cow<'b, str>>, Repeated> {
    crate::http::tokens::form_field(body, name)
}

/// The sign-in's `return_to` check for `target`.
pub fn return_to(raw: &str, target: &TargetConfig) -> Option<String> {
    crate::sso::return_to::check(Some(raw), target)
        .ok()
        .flatten()
}

/// Opens a pending-login cookie holding `value` (as a browser would send
/// it) under `cookie_key`, for `state`: what a forged cookie can get.
pub fn open_pending_login(
    cookie_key: &crate::config::Secret,
    state: &str,
    value: &str,
) -> Option<crate::sso::pending::PendingLogin> {
    let names = crate::sso::pending::Names { secure: false };
    let name = names.login(state);
    let mut headers = HeaderMap::new();
    let cookie = HeaderValue::from_str(&format!("{name}={value}")).ok()?;
    headers.insert(header::COOKIE, cookie);
    let jar = PrivateCookieJar::from_headers(&headers, crate::sso::pending::cookie_key(cookie_key));
    crate::sso::pending::peek(&jar, names, state)
}
