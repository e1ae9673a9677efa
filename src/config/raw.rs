//! The configuration exactly as written: serde structs that reject unknown
//! keys and check nothing else. [`super::validate`] turns them into a
//! [`super::Config`]; nothing downstream reads these structs.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::secret::RawSecret;

/// The whole file. Each part is deserialised on its own (see
/// [`super::load_str`]) so that one bad source does not hide the problems
/// of the next one.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub cookie_key: Option<RawSecret>,
    pub admin_token: Option<RawSecret>,
    /// Largest upstream token accepted, in bytes.
    pub max_token_bytes: Option<usize>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: Option<usize>,
    /// Whole-request timeout, e.g. "10s".
    pub request_timeout: Option<String>,
    /// Requests a minute allowed per client address on the token endpoints; 0 turns it off.
    pub rate_limit_per_minute: Option<u32>,
    /// Take the client address from the last hop of `X-Forwarded-For`.
    pub trust_forwarded_for: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    pub backend: Option<String>,
    pub redis_url: Option<RawSecret>,
    pub key_prefix: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub expression: String,
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDevUser {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub claims: toml::Table,
}

/// One `[[source]]`. Every kind's keys live in one struct; which keys a kind
/// accepts is checked in validation, so a misplaced key gets a sentence
/// naming the kind rather than serde's list of every field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub name: String,
    pub kind: String,
    pub label: Option<String>,
    // oidc and jwt
    pub issuer: Option<String>,
    pub audiences: Option<Vec<String>>,
    pub algorithms: Option<Vec<String>>,
    pub leeway: Option<String>,
    pub domains: Option<Vec<String>>,
    /// Least time between two key fetches caused by an unknown `kid`.
    pub key_refresh_interval: Option<String>,
    // oidc
    pub discovery_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<RawSecret>,
    pub scopes: Option<Vec<String>>,
    // firebase
    pub project_id: Option<String>,
    pub keys_url: Option<String>,
    pub insecure_emulator: Option<bool>,
    // jwt
    pub jwks_url: Option<String>,
    pub jwks_file: Option<String>,
    pub public_key_file: Option<String>,
    pub secret: Option<RawSecret>,
    // dev
    pub users: Option<Vec<RawDevUser>>,
    pub seed: Option<RawSecret>,
    pub token_ttl: Option<String>,
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
    #[serde(default)]
    pub rules: Vec<RawRule>,
}

/// One `[[target]]`, with the same one-struct-for-all-kinds approach.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub name: String,
    pub kind: String,
    pub secret: Option<RawSecret>,
    #[serde(default)]
    pub sources: Vec<String>,
    // sso
    pub subdomain: Option<String>,
    pub return_to_hosts: Option<Vec<String>>,
    pub after_logout_url: Option<String>,
    pub access_url: Option<String>,
    pub sandbox: Option<bool>,
    pub upstream_logout: Option<bool>,
    // sdk
    pub allowed_ips: Option<Vec<String>>,
    // messaging
    pub key_id: Option<String>,
    // messaging, chat
    pub ttl: Option<String>,
    pub allowed_origins: Option<Vec<String>>,
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
    #[serde(default)]
    pub rules: Vec<RawRule>,
}
