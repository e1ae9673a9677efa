//! The configuration exactly as written: serde structs that reject unknown
//! keys and check nothing else. [`super::load_str`] turns them into a
//! [`super::Config`]; nothing downstream reads these structs.
//!
//! Each struct lists its keys in [`RawTable::KEYS`], right after it: the
//! keys of a table are checked against that list before the table is
//! deserialised ([`super::sift`]), so one unknown or mistyped key is
//! reported under its own path and the rest of the table is still
//! validated. A unit test keeps each list equal to its struct's fields.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::Problems;
use super::secret::RawSecret;
use super::sift;

/// Checks one item of an array of tables (`[[source.users]]`) and returns
/// what is left of it, or `None` when nothing usable is.
pub type ItemSifter = fn(&mut Problems, &str, toml::Value) -> Option<toml::Value>;

/// A table of the config, with the keys it accepts.
pub trait RawTable: DeserializeOwned {
    /// Every key of the table: the struct's fields, exactly.
    const KEYS: &'static [&'static str];
    /// The keys holding arrays of tables, and how to check each item.
    const NESTED: &'static [(&'static str, ItemSifter)] = &[];
}

/// The whole file. Each part is deserialised on its own (see
/// [`super::load_str`]) so that one bad source does not hide the problems
/// of the next one.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub cookie_key: Option<RawSecret>,
    /// The cookie key before a rotation: still opens cookies, never seals.
    pub previous_cookie_key: Option<RawSecret>,
    pub admin_token: Option<RawSecret>,
    /// Largest upstream token accepted, in bytes.
    pub max_token_bytes: Option<usize>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: Option<usize>,
    /// Whole-request timeout, e.g. "10s".
    pub request_timeout: Option<String>,
    /// Requests a minute allowed per client address on the token endpoints; 0 turns it off.
    pub rate_limit_per_minute: Option<u32>,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Option<Vec<String>>,
}

impl RawTable for RawServer {
    const KEYS: &'static [&'static str] = &[
        "listen",
        "public_url",
        "cookie_key",
        "previous_cookie_key",
        "admin_token",
        "max_token_bytes",
        "max_body_bytes",
        "request_timeout",
        "rate_limit_per_minute",
        "trusted_proxies",
    ];
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    pub backend: Option<String>,
    pub redis_url: Option<RawSecret>,
    pub key_prefix: Option<String>,
    /// `rediss://`: the CA that signed the server's certificate (PEM).
    pub redis_ca_file: Option<String>,
    /// `rediss://`: a client certificate and its key (PEM), together.
    pub redis_client_cert_file: Option<String>,
    pub redis_client_key_file: Option<String>,
    /// `redis+sentinel://`: the sentinels' own password (`requirepass`).
    pub redis_sentinel_password: Option<RawSecret>,
    /// Where identity links live: `sqlite:PATH` or `postgres://…`.
    pub links_url: Option<RawSecret>,
}

impl RawTable for RawState {
    const KEYS: &'static [&'static str] = &[
        "backend",
        "redis_url",
        "key_prefix",
        "redis_ca_file",
        "redis_client_cert_file",
        "redis_client_key_file",
        "redis_sentinel_password",
        "links_url",
    ];
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub expression: String,
    pub message: String,
}

impl RawTable for RawRule {
    const KEYS: &'static [&'static str] = &["expression", "message"];
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

impl RawTable for RawDevUser {
    const KEYS: &'static [&'static str] = &["id", "email", "name", "claims"];
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
    /// Accept an `email` its source does not mark verified (the trust model's opt-out).
    pub trust_unverified_email: Option<bool>,
    /// The only email domains this source may assert.
    pub email_domains: Option<Vec<String>>,
    /// Least time between two key fetches caused by an unknown `kid`.
    pub key_refresh_interval: Option<String>,
    // oidc
    pub discovery_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<RawSecret>,
    pub scopes: Option<Vec<String>>,
    /// Entra multi-tenant (`issuer` with `{tenantid}`): the tenants taken.
    pub allowed_tenants: Option<Vec<String>>,
    /// Entra multi-tenant: the v1 issuer template.
    pub v1_issuer: Option<String>,
    /// Tenants whose `upn` counts as a verified email.
    pub trust_upn_tenants: Option<Vec<String>>,
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
    // session
    pub check_url: Option<String>,
    pub login_url: Option<String>,
    pub return_to_query_param: Option<String>,
    pub cookies: Option<Vec<String>>,
    pub token_header: Option<String>,
    // introspection
    pub introspection_url: Option<String>,
    pub userinfo_url: Option<String>,
    /// `client_secret_basic` (default) or `client_secret_post`.
    pub client_auth_method: Option<String>,
    /// The client ids whose tokens are accepted (`["*"]`: any).
    pub allowed_clients: Option<Vec<String>>,
    /// Longest time an introspection answer is reused.
    pub cache_max: Option<String>,
    /// Longest wait for each upstream call.
    pub timeout: Option<String>,
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
    #[serde(default)]
    pub rules: Vec<RawRule>,
}

impl RawTable for RawSource {
    const KEYS: &'static [&'static str] = &[
        "name",
        "kind",
        "label",
        "issuer",
        "audiences",
        "algorithms",
        "leeway",
        "domains",
        "trust_unverified_email",
        "email_domains",
        "key_refresh_interval",
        "discovery_url",
        "client_id",
        "client_secret",
        "scopes",
        "allowed_tenants",
        "v1_issuer",
        "trust_upn_tenants",
        "project_id",
        "keys_url",
        "insecure_emulator",
        "jwks_url",
        "jwks_file",
        "public_key_file",
        "secret",
        "users",
        "seed",
        "token_ttl",
        "check_url",
        "login_url",
        "return_to_query_param",
        "cookies",
        "token_header",
        "introspection_url",
        "userinfo_url",
        "client_auth_method",
        "allowed_clients",
        "cache_max",
        "timeout",
        "claims",
        "rules",
    ];
    const NESTED: &'static [(&'static str, ItemSifter)] = &[
        ("users", sift::item::<RawDevUser>),
        ("rules", sift::item::<RawRule>),
    ];
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
    /// Which routes may mint for the target: browser, sdk, exchange, token.
    pub endpoints: Option<Vec<String>>,
    /// The Zendesk roles the target may assert (sso, sdk).
    pub allowed_roles: Option<Vec<String>>,
    // sso
    pub subdomain: Option<String>,
    pub return_to_hosts: Option<Vec<String>>,
    pub after_logout_url: Option<String>,
    pub access_url: Option<String>,
    pub sandbox: Option<bool>,
    pub explain_pages: Option<bool>,
    pub upstream_logout: Option<bool>,
    // sdk
    pub allowed_ips: Option<Vec<String>>,
    // messaging
    pub key_id: Option<String>,
    /// Several keys, the first signing (instead of `key_id` + `secret`).
    pub keys: Option<Vec<RawMessagingKey>>,
    // messaging, chat
    pub ttl: Option<String>,
    pub allowed_origins: Option<Vec<String>>,
    /// `[target.link]`: identity links for this target.
    pub link: Option<RawLink>,
    /// `[[target.brands]]`: which sources each Zendesk brand offers (sso).
    #[serde(default)]
    pub brands: Vec<RawBrand>,
    /// Requests a minute per client on the token endpoints; default
    /// `server.rate_limit_per_minute`.
    pub rate_limit_per_minute: Option<u32>,
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
    #[serde(default)]
    pub rules: Vec<RawRule>,
}

/// One `[[target.brands]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBrand {
    /// Zendesk's `brand_id`, or `"*"` for every brand not listed.
    pub id: String,
    pub sources: Vec<String>,
}

impl RawTable for RawBrand {
    const KEYS: &'static [&'static str] = &["id", "sources"];
}

/// One of a messaging target's `keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMessagingKey {
    /// The key id Zendesk shows beside the secret (`app_…`).
    pub id: String,
    pub secret: RawSecret,
}

impl RawTable for RawMessagingKey {
    const KEYS: &'static [&'static str] = &["id", "secret"];
}

/// `[target.link]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    /// CEL over the verified claims; default: the verified email.
    pub key: Option<String>,
}

impl RawTable for RawLink {
    const KEYS: &'static [&'static str] = &["key"];
}

impl RawTable for RawTarget {
    const KEYS: &'static [&'static str] = &[
        "name",
        "kind",
        "secret",
        "sources",
        "endpoints",
        "allowed_roles",
        "subdomain",
        "return_to_hosts",
        "after_logout_url",
        "access_url",
        "sandbox",
        "explain_pages",
        "upstream_logout",
        "allowed_ips",
        "key_id",
        "keys",
        "ttl",
        "allowed_origins",
        "link",
        "brands",
        "rate_limit_per_minute",
        "claims",
        "rules",
    ];
    const NESTED: &'static [(&'static str, ItemSifter)] = &[
        ("rules", sift::item::<RawRule>),
        ("brands", sift::item::<RawBrand>),
        ("keys", sift::item::<RawMessagingKey>),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields serde knows for `T`, read from its message for an
    /// unknown field ("unknown field `zz`, expected one of `a`, `b`").
    fn serde_fields<T: RawTable + std::fmt::Debug>() -> Vec<String> {
        let mut t = toml::Table::new();
        t.insert("zz_probe".into(), toml::Value::Integer(1));
        let err = toml::Value::Table(t).try_into::<T>().unwrap_err();
        let message = err.message().to_owned();
        let (_, expected) = message
            .split_once("expected")
            .unwrap_or_else(|| panic!("no field list in {message:?}"));
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    fn assert_keys_are_fields<T: RawTable + std::fmt::Debug>() {
        assert_eq!(
            serde_fields::<T>(),
            T::KEYS,
            "{}::KEYS differs from its fields",
            std::any::type_name::<T>()
        );
    }

    #[test]
    fn every_key_list_is_its_structs_fields() {
        assert_keys_are_fields::<RawServer>();
        assert_keys_are_fields::<RawState>();
        assert_keys_are_fields::<RawRule>();
        assert_keys_are_fields::<RawDevUser>();
        assert_keys_are_fields::<RawSource>();
        assert_keys_are_fields::<RawTarget>();
        assert_keys_are_fields::<RawLink>();
        assert_keys_are_fields::<RawBrand>();
    }

    #[test]
    fn nested_keys_are_keys() {
        for (key, _) in RawSource::NESTED {
            assert!(RawSource::KEYS.contains(key), "{key}");
        }
        for (key, _) in RawTarget::NESTED {
            assert!(RawTarget::KEYS.contains(key), "{key}");
        }
    }
}
