//! `jwt`: an issuer with static keys, typically a legacy application that
//! signs its own tokens: a JWKS URL or file, a PEM public key or
//! certificate, or an HS256 shared secret. With a secret the source accepts
//! HMAC only; with public keys it never accepts HMAC (so a public key can
//! never be used as an HMAC secret: the algorithm-confusion attack).

use std::time::Duration;

use super::keys::{KeyCache, KeySet, Keys};
use super::{Kind, UrlFetcher};
use crate::config::JwtKeys;

pub fn keys(
    name: &str,
    cfg: &JwtKeys,
    http: &reqwest::Client,
    cache: &KeyCache,
    interval: Duration,
) -> Keys {
    match cfg {
        JwtKeys::JwksUrl(url) => {
            let fetch = std::sync::Arc::new(UrlFetcher {
                http: http.clone(),
                url: url.clone(),
                parse: KeySet::from_jwks_json,
            });
            Keys::fetched(&format!("jwt:{name}"), url, fetch, cache.clone(), interval)
        }
        JwtKeys::Static { keys, .. } => Keys::fixed(&format!("jwt:{name}"), keys.clone()),
    }
}

pub struct JwtKind;

impl Kind for JwtKind {}
