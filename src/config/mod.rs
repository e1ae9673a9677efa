//! Configuration: parse the TOML ([`raw`]), then validate it into a
//! [`Config`] whose references are resolved, secrets read, key files
//! loaded and CEL compiled. Nothing downstream re-checks the config.
//!
//! Validation reports every problem at once, each with its key path
//! (`target[1].sources[0]: no source named "auth00"`), so `zenbridge check`
//! and start-up show the whole list rather than the first mistake.

pub mod raw;
pub mod secret;
pub mod sift;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use url::Url;

use crate::mapping::{self, Expression, MappedClaim, Mapping, Rule};
use crate::source::SourceKind;
use crate::source::keys::KeySet;
use crate::target::TargetKind;
use raw::{RawRule, RawServer, RawSource, RawState, RawTarget};
pub use secret::Secret;

/// One problem in a config, with the key path it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a config; the error type of [`load_str`].
#[derive(Debug, Clone, Default)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }
}

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for p in &self.0 {
            writeln!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

#[derive(Debug)]
pub struct Config {
    pub server: Server,
    pub state: StateConfig,
    pub sources: Vec<Arc<SourceConfig>>,
    pub targets: Vec<Arc<TargetConfig>>,
    /// Things that work but deserve a look (literal secrets, insecure switches).
    pub warnings: Vec<Problem>,
    /// What a default means for this config (`check` prints them).
    pub notes: Vec<Problem>,
}

#[derive(Debug)]
pub struct Server {
    pub listen: SocketAddr,
    pub public_url: Url,
    pub cookie_key: Secret,
    pub admin_token: Option<Secret>,
    pub max_token_bytes: usize,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub rate_limit_per_minute: u32,
    /// Proxies whose `X-Forwarded-For` hops are believed, walked from the
    /// right (see `http::ClientIp`). Empty: the socket peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Server {
    /// `{public_url}/callback`, the one OIDC redirect URI.
    pub fn callback_url(&self) -> String {
        format!(
            "{}/callback",
            self.public_url.as_str().trim_end_matches('/')
        )
    }

    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

#[derive(Debug)]
pub enum StateConfig {
    Memory,
    Redis { url: Secret, key_prefix: String },
}

#[derive(Debug)]
pub struct SourceConfig {
    pub name: String,
    pub kind: SourceKind,
    pub label: String,
    /// The `iss` its tokens carry: routing is by this exact string.
    pub issuer: String,
    pub audiences: Vec<String>,
    pub algorithms: Vec<Algorithm>,
    pub leeway: Duration,
    pub domains: Vec<String>,
    /// How far this source's `email` claim is believed.
    pub email_trust: EmailTrust,
    /// Lower-case domains (`acme.com`, or `*.acme.com` for its subdomains)
    /// this source may assert an email in; empty: any.
    pub email_domains: Vec<String>,
    pub key_refresh_interval: Duration,
    pub claims: BTreeMap<String, Arc<Expression>>,
    pub rules: Vec<(Arc<Expression>, String)>,
    pub detail: SourceDetail,
}

/// How far a source's `email` claim is believed: Zendesk finds a user by
/// email, so an address the person does not own is an account takeover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailTrust {
    /// Only with `email_verified: true` (the default of `oidc`, `firebase`
    /// and `dev` sources).
    RequireVerified,
    /// Unless the token says `email_verified: false` (the default of `jwt`
    /// sources: a legacy app vouches for its own users' addresses).
    UnlessMarkedUnverified,
    /// Whatever the token says (`trust_unverified_email = true`).
    Any,
}

impl EmailTrust {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailTrust::RequireVerified => "only emails marked email_verified: true",
            EmailTrust::UnlessMarkedUnverified => {
                "emails as the issuer asserts them, unless marked email_verified: false"
            }
            EmailTrust::Any => "every email, verified or not (trust_unverified_email = true)",
        }
    }
}

#[derive(Debug)]
pub enum SourceDetail {
    Oidc {
        discovery_url: Url,
        client_id: String,
        client_secret: Option<Secret>,
        scopes: Vec<String>,
    },
    Firebase {
        project_id: String,
        keys_url: Url,
        insecure_emulator: bool,
    },
    Jwt {
        keys: JwtKeys,
    },
    Dev {
        users: Vec<DevUser>,
        seed: Secret,
        token_ttl: Duration,
    },
}

#[derive(Debug)]
pub enum JwtKeys {
    JwksUrl(Url),
    /// Keys read from a file when the config loads (and again on reload).
    Static {
        keys: Arc<KeySet>,
        from: String,
    },
}

#[derive(Debug, Clone)]
pub struct DevUser {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl SourceConfig {
    /// Can a person sign in through this source in a browser?
    pub fn browser_capable(&self) -> bool {
        matches!(self.kind, SourceKind::Oidc | SourceKind::Dev)
    }
}

#[derive(Debug)]
pub struct TargetConfig {
    pub name: String,
    pub kind: TargetKind,
    pub secret: Secret,
    /// The HMAC key and header built from `secret`, `kind` and `key_id`.
    pub signer: crate::target::sign::Signer,
    /// The target's sources in the order configured, each with the
    /// effective mapping of the pair: a request carries both together, so
    /// a source cannot be paired with another's mapping.
    pub sources: Vec<TargetSource>,
    /// The routes that may mint this target's token.
    pub endpoints: Vec<crate::target::Endpoint>,
    /// The Zendesk roles this target may assert (sso, sdk).
    pub allowed_roles: Vec<String>,
    pub subdomain: Option<String>,
    pub return_to_hosts: Vec<String>,
    pub after_logout_url: Option<String>,
    pub access_url: Option<Url>,
    pub sandbox: bool,
    pub upstream_logout: bool,
    pub allowed_ips: Vec<ipnet::IpNet>,
    pub key_id: Option<String>,
    pub ttl: Duration,
    pub allowed_origins: Vec<String>,
}

/// One source of a target, with the mapping of the pair.
#[derive(Debug, Clone)]
pub struct TargetSource {
    pub source: Arc<SourceConfig>,
    pub mapping: Arc<Mapping>,
}

/// Why a target does not mint on this route for this client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    EndpointNotAllowed {
        target: String,
        endpoint: crate::target::Endpoint,
    },
    IpNotAllowed,
}

impl TargetConfig {
    /// The one guard of every route that mints: the target must list the
    /// endpoint, and the client must be in `allowed_ips` when it is set.
    pub fn admits(
        &self,
        endpoint: crate::target::Endpoint,
        client: Option<std::net::IpAddr>,
    ) -> Result<(), Refusal> {
        if !self.endpoints.contains(&endpoint) {
            return Err(Refusal::EndpointNotAllowed {
                target: self.name.clone(),
                endpoint,
            });
        }
        if !self.allowed_ips.is_empty()
            && !client.is_some_and(|ip| self.allowed_ips.iter().any(|n| n.contains(&ip)))
        {
            return Err(Refusal::IpNotAllowed);
        }
        Ok(())
    }

    /// Where the browser POSTs the JWT: the sandbox, `access_url`, or Zendesk.
    pub fn access_url(&self, server: &Server) -> String {
        if self.sandbox {
            format!(
                "{}/sandbox/{}/access/jwt",
                server.public_url.as_str().trim_end_matches('/'),
                self.name
            )
        } else if let Some(u) = &self.access_url {
            u.to_string()
        } else {
            format!(
                "https://{}.zendesk.com/access/jwt",
                self.subdomain.as_deref().unwrap_or_default()
            )
        }
    }
}

pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";

/// `server.trust_forwarded_for` believed the last hop whoever sent it.
const TRUST_FORWARDED_FOR_GONE: &str = "replaced by trusted_proxies: list your proxies' addresses or CIDR ranges (trusted_proxies = [\"10.0.0.0/8\"]); X-Forwarded-For is then read from the right, past those proxies only";

/// `server.admin_token` unlocks `POST /explain`: as long as a cookie key.
pub const MIN_ADMIN_TOKEN: usize = 32;

/// RFC 7518 §3.2: an HMAC key at least as long as the hash's output.
fn min_hmac_secret(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    }
}

/// Reads and validates a config file.
pub fn load_file(path: &std::path::Path) -> Result<Config, Problems> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Problems(vec![Problem {
            path: String::new(),
            message: format!("cannot read config file {}: {e}", path.display()),
        }])
    })?;
    load_str(&text, path.parent())
}

/// Parses and validates config text. Relative file paths in it are taken
/// from `base` (the config file's folder).
pub fn load_str(text: &str, base: Option<&std::path::Path>) -> Result<Config, Problems> {
    let mut p = Problems::default();
    let table: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            p.push("", format!("not valid TOML: {}", e.message()));
            return Err(p);
        }
    };
    // `None` for a part so broken that nothing in it can be checked (its
    // problem is recorded); its checks are then skipped, not run on an
    // empty default that would report required keys as missing.
    let mut raw_server = Some(RawServer::default());
    let mut raw_state = Some(RawState::default());
    let mut raw_sources = Vec::new();
    let mut source_names = Vec::new();
    let mut raw_targets = Vec::new();
    for (key, value) in table {
        match key.as_str() {
            "server" => {
                let mut value = value;
                if let Some(t) = value.as_table_mut()
                    && t.remove("trust_forwarded_for").is_some()
                {
                    p.push("server.trust_forwarded_for", TRUST_FORWARDED_FOR_GONE);
                }
                raw_server = sift::table(&mut p, "server", value);
            }
            "state" => raw_state = sift::table(&mut p, "state", value),
            "source" | "target" => {
                let toml::Value::Array(items) = value else {
                    p.push(&key, format!("must be an array of tables: write [[{key}]]"));
                    continue;
                };
                for (i, item) in items.into_iter().enumerate() {
                    let path = format!("{key}[{i}]");
                    if key == "source" {
                        // The name as written, even if the source is refused:
                        // a target naming it is then not told it does not exist.
                        source_names.push(
                            item.get("name")
                                .and_then(toml::Value::as_str)
                                .map(str::to_owned),
                        );
                        raw_sources.push(sift::table::<RawSource>(&mut p, &path, item));
                    } else {
                        raw_targets.push(sift::table::<RawTarget>(&mut p, &path, item));
                    }
                }
            }
            other => {
                let message = match sift::suggest(other, &["server", "state", "source", "target"]) {
                    Some(k) => format!("unknown key; did you mean `{k}`?"),
                    None => "unknown key; expected server, state, source or target".to_owned(),
                };
                p.push(other, message);
            }
        }
    }
    // The keys refused so far: a problem validation would find with them
    // (`is required`) follows from the one reported.
    let refused: HashSet<String> = p.0.iter().map(|q| q.path.clone()).collect();
    let mut v = Validator {
        p,
        warnings: Vec::new(),
        notes: Vec::new(),
        base: base.map(std::path::Path::to_path_buf),
        refused,
    };
    let parse_problems = v.p.0.len();
    let server = raw_server.and_then(|raw| v.server(&raw));
    let state = raw_state.and_then(|raw| v.state(&raw));
    let sources: Vec<Option<Arc<SourceConfig>>> = raw_sources
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            s.and_then(|s| v.source(i, s, server.as_ref()))
                .map(Arc::new)
        })
        .collect();
    let targets = v.targets(raw_targets, &sources, &source_names);
    if let Some(server) = &server {
        v.server_against_targets(server, &targets);
    }
    let mut i = 0;
    v.p.0.retain(|q| {
        i += 1;
        i <= parse_problems || !v.refused.contains(&q.path)
    });
    if v.p.0.is_empty() {
        let (Some(server), Some(state)) = (server, state) else {
            unreachable!("a missing part always records a problem")
        };
        Ok(Config {
            server,
            state,
            // No problem was found, so every source was built.
            sources: sources.into_iter().flatten().collect(),
            targets: targets.into_iter().map(Arc::new).collect(),
            warnings: v.warnings,
            notes: v.notes,
        })
    } else {
        Err(v.p)
    }
}

struct Validator {
    p: Problems,
    warnings: Vec<Problem>,
    notes: Vec<Problem>,
    base: Option<PathBuf>,
    /// The key paths with a problem before validation (unknown, mistyped,
    /// missing): validation reports nothing more about them.
    refused: HashSet<String>,
}

/// Keys each source kind accepts, beyond name, kind, label, claims, rules.
fn source_keys(kind: SourceKind) -> &'static [&'static str] {
    match kind {
        SourceKind::Oidc => &[
            "issuer",
            "discovery_url",
            "client_id",
            "client_secret",
            "scopes",
            "audiences",
            "algorithms",
            "leeway",
            "domains",
            "key_refresh_interval",
            "trust_unverified_email",
            "email_domains",
        ],
        SourceKind::Firebase => &[
            "project_id",
            "keys_url",
            "insecure_emulator",
            "leeway",
            "key_refresh_interval",
            "trust_unverified_email",
            "email_domains",
        ],
        SourceKind::Jwt => &[
            "issuer",
            "audiences",
            "algorithms",
            "leeway",
            "jwks_url",
            "jwks_file",
            "public_key_file",
            "secret",
            "key_refresh_interval",
            "trust_unverified_email",
            "email_domains",
        ],
        SourceKind::Dev => &[
            "users",
            "seed",
            "token_ttl",
            "domains",
            "leeway",
            "trust_unverified_email",
            "email_domains",
        ],
    }
}

fn target_keys(kind: TargetKind) -> &'static [&'static str] {
    match kind {
        TargetKind::Sso => &[
            "subdomain",
            "return_to_hosts",
            "after_logout_url",
            "access_url",
            "sandbox",
            "upstream_logout",
            "allowed_origins",
            "allowed_ips",
            "endpoints",
            "allowed_roles",
        ],
        TargetKind::Sdk => &[
            "allowed_ips",
            "allowed_origins",
            "endpoints",
            "allowed_roles",
        ],
        TargetKind::Messaging => &[
            "key_id",
            "ttl",
            "allowed_origins",
            "allowed_ips",
            "endpoints",
        ],
        TargetKind::Chat => &["ttl", "allowed_origins", "allowed_ips", "endpoints"],
    }
}

const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Whether a URL may be plain `http`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Http {
    /// `server.public_url`: http anywhere (with a warning off loopback).
    Anywhere,
    /// Key, discovery and browser-facing URLs: http only on a loopback
    /// host, as the tests' local providers are.
    LoopbackOnly,
}

const HTTPS_ONLY: &str = "must be https (plain http is accepted only on loopback, for tests)";

const REDIS_NO_TLS: &str = "rediss:// (TLS to Redis) is not built into zenbridge; use redis:// over a private network, or through a local TLS proxy (such as stunnel) listening on loopback";

/// The variable that also allows `insecure_emulator` off loopback, as
/// firebase-admin trusts unsigned tokens only when it is set.
pub const EMULATOR_ENV: &str = "FIREBASE_AUTH_EMULATOR_HOST";

const FIREBASE_KEYS_URL: &str =
    "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com";

impl Validator {
    fn secret(
        &mut self,
        path: &str,
        raw: Option<&secret::RawSecret>,
        required: bool,
    ) -> Option<Secret> {
        match raw {
            None => {
                if required {
                    self.p.push(path, "is required");
                }
                None
            }
            Some(r) => match r.resolve_min(self.base.as_deref()) {
                Ok(s) => {
                    if s.is_literal() {
                        self.warnings.push(Problem {
                            path: path.to_owned(),
                            message: "secret written in the config file; prefer { env = \"…\" } or { file = \"…\" }"
                                .into(),
                        });
                    }
                    Some(s)
                }
                Err(e) => {
                    self.p.push(path, e);
                    None
                }
            },
        }
    }

    fn duration(&mut self, path: &str, raw: Option<&String>, default: Duration) -> Duration {
        match raw {
            None => default,
            Some(s) => match humantime::parse_duration(s) {
                Ok(d) => d,
                Err(e) => {
                    self.p.push(
                        path,
                        format!("not a duration ({e}); write e.g. \"60s\" or \"5m\""),
                    );
                    default
                }
            },
        }
    }

    /// A duration that must lie within `[min, max]`.
    fn bounded(&mut self, path: &str, d: Duration, min: Duration, max: Duration) {
        if d < min || d > max {
            self.p.push(
                path,
                format!(
                    "must be from {} to {}; found {}",
                    humantime::format_duration(min),
                    humantime::format_duration(max),
                    humantime::format_duration(d)
                ),
            );
        }
    }

    /// A size in bytes that must lie within `[min, max]`.
    fn size(&mut self, path: &str, n: usize, min: usize, max: usize) {
        if n < min || n > max {
            self.p.push(
                path,
                format!("must be from {min} to {max} bytes; found {n}"),
            );
        }
    }

    /// Addresses or CIDR ranges, each under its own key path.
    fn networks(&mut self, path: &str, raw: &[String]) -> Vec<ipnet::IpNet> {
        let mut out = Vec::new();
        for (j, ip) in raw.iter().enumerate() {
            let parsed = ip
                .parse::<ipnet::IpNet>()
                .or_else(|_| ip.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
            match parsed {
                Ok(n) => out.push(n.trunc()),
                Err(_) => self.p.push(
                    format!("{path}[{j}]"),
                    format!("not an address or CIDR range: {ip:?}"),
                ),
            }
        }
        out
    }

    fn url(&mut self, path: &str, raw: &str, http: Http) -> Option<Url> {
        let u = match Url::parse(raw) {
            Ok(u) => u,
            Err(e) => {
                self.p.push(path, format!("not a URL ({e})"));
                return None;
            }
        };
        match (u.scheme(), http) {
            ("https", _) | ("http", Http::Anywhere) => Some(u),
            ("http", Http::LoopbackOnly) if is_loopback_url(&u) => Some(u),
            ("http", Http::LoopbackOnly) => {
                self.p.push(path, HTTPS_ONLY);
                None
            }
            (other, Http::LoopbackOnly) => {
                self.p
                    .push(path, format!("{HTTPS_ONLY}; found scheme {other:?}"));
                None
            }
            (other, Http::Anywhere) => {
                self.p.push(
                    path,
                    format!("must be an https (or http) URL; found scheme {other:?}"),
                );
                None
            }
        }
    }

    fn file_path(&self, raw: &str) -> PathBuf {
        let p = PathBuf::from(raw);
        match &self.base {
            Some(base) if p.is_relative() => base.join(p),
            _ => p,
        }
    }

    fn server(&mut self, raw: &RawServer) -> Option<Server> {
        let listen_text = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = match listen_text.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.p.push(
                    "server.listen",
                    format!("must be an address such as \"0.0.0.0:8080\"; found {listen_text:?}"),
                );
                None
            }
        };
        let public_url = match raw.public_url.as_deref() {
            None => {
                self.p.push(
                    "server.public_url",
                    "is required (the URL browsers reach zenbridge at)",
                );
                None
            }
            Some(u) => self.url("server.public_url", u, Http::Anywhere),
        };
        if let Some(u) = &public_url
            && u.scheme() == "http"
            && !is_loopback_url(u)
        {
            self.warnings.push(Problem {
                path: "server.public_url".into(),
                message: "plain http on a non-loopback host: cookies are not Secure".into(),
            });
        }
        let cookie_key = self.secret("server.cookie_key", raw.cookie_key.as_ref(), true);
        if let Some(k) = &cookie_key
            && k.expose().len() < 32
        {
            self.p.push(
                "server.cookie_key",
                format!("must be at least 32 bytes; it has {}", k.expose().len()),
            );
        }
        let admin_token = self.secret("server.admin_token", raw.admin_token.as_ref(), false);
        if let Some(t) = &admin_token
            && t.expose().len() < MIN_ADMIN_TOKEN
        {
            self.p.push(
                "server.admin_token",
                format!(
                    "must be at least {MIN_ADMIN_TOKEN} bytes (it unlocks POST /explain); it has {}; make one with `openssl rand -hex 32`",
                    t.expose().len()
                ),
            );
        }
        let request_timeout = self.duration(
            "server.request_timeout",
            raw.request_timeout.as_ref(),
            Duration::from_secs(15),
        );
        self.bounded(
            "server.request_timeout",
            request_timeout,
            Duration::from_secs(1),
            Duration::from_secs(300),
        );
        let max_token_bytes = raw.max_token_bytes.unwrap_or(16 * 1024);
        self.size("server.max_token_bytes", max_token_bytes, 1024, 1024 * 1024);
        let max_body_bytes = raw.max_body_bytes.unwrap_or(64 * 1024);
        self.size(
            "server.max_body_bytes",
            max_body_bytes,
            1024,
            16 * 1024 * 1024,
        );
        if max_body_bytes < max_token_bytes {
            self.p.push(
                "server.max_body_bytes",
                format!(
                    "must be at least max_token_bytes ({max_token_bytes}): a body carries a token; found {max_body_bytes}"
                ),
            );
        }
        let trusted_proxies = self.networks(
            "server.trusted_proxies",
            raw.trusted_proxies.as_deref().unwrap_or_default(),
        );
        Some(Server {
            listen: listen?,
            public_url: public_url?,
            cookie_key: cookie_key?,
            admin_token,
            max_token_bytes,
            max_body_bytes,
            request_timeout,
            rate_limit_per_minute: raw.rate_limit_per_minute.unwrap_or(0),
            trusted_proxies,
        })
    }

    fn state(&mut self, raw: &RawState) -> Option<StateConfig> {
        match raw.backend.as_deref().unwrap_or("memory") {
            "memory" => {
                if raw.redis_url.is_some() {
                    self.p
                        .push("state.redis_url", "only used with backend = \"redis\"");
                }
                Some(StateConfig::Memory)
            }
            "redis" => {
                let url = match &raw.redis_url {
                    None => {
                        self.p
                            .push("state.redis_url", "is required with backend = \"redis\"");
                        return None;
                    }
                    Some(r) => match r.resolve(self.base.as_deref()) {
                        Ok(s) => s,
                        Err(e) => {
                            self.p.push("state.redis_url", e);
                            return None;
                        }
                    },
                };
                // The URL may hold a password: the problems never show it.
                match Url::parse(url.expose()) {
                    Err(e) => self.p.push("state.redis_url", format!("not a URL ({e})")),
                    Ok(u) => match u.scheme() {
                        "redis" | "unix" | "redis+unix" => {}
                        "rediss" | "valkeys" => self.p.push("state.redis_url", REDIS_NO_TLS),
                        other => self.p.push(
                            "state.redis_url",
                            format!(
                                "must be a redis:// (or unix://, redis+unix://) URL; found scheme {other:?}"
                            ),
                        ),
                    },
                }
                Some(StateConfig::Redis {
                    url,
                    key_prefix: raw
                        .key_prefix
                        .clone()
                        .unwrap_or_else(|| "zenbridge:".into()),
                })
            }
            other => {
                self.p.push(
                    "state.backend",
                    format!("must be \"memory\" or \"redis\"; found {other:?}"),
                );
                None
            }
        }
    }

    fn source(
        &mut self,
        i: usize,
        raw: RawSource,
        server: Option<&Server>,
    ) -> Option<SourceConfig> {
        let path = format!("source[{i}]");
        let kind = match raw.kind.as_str() {
            "oidc" => Some(SourceKind::Oidc),
            "firebase" => Some(SourceKind::Firebase),
            "jwt" => Some(SourceKind::Jwt),
            "dev" => Some(SourceKind::Dev),
            other => {
                self.p.push(
                    format!("{path}.kind"),
                    format!("must be oidc, firebase, jwt or dev; found {other:?}"),
                );
                None
            }
        };
        if !valid_name(&raw.name) {
            self.p.push(
                format!("{path}.name"),
                format!(
                    "must be 1-64 letters, digits, '-' or '_'; found {:?}",
                    raw.name
                ),
            );
        }
        let Some(kind) = kind else {
            // The mappings are checked whatever else is wrong.
            self.claim_exprs(&format!("{path}.claims"), &raw.claims);
            self.rules(&format!("{path}.rules"), &raw.rules);
            return None;
        };
        let present = present_source_keys(&raw);
        for key in present {
            if !source_keys(kind).contains(&key) {
                self.p.push(
                    format!("{path}.{key}"),
                    format!("not a key of a source of kind {}", raw.kind),
                );
            }
        }
        let leeway = self.duration(
            &format!("{path}.leeway"),
            raw.leeway.as_ref(),
            Duration::from_secs(60),
        );
        if leeway > Duration::from_secs(300) {
            self.p.push(
                format!("{path}.leeway"),
                format!("at most 5m; found {}", humantime::format_duration(leeway)),
            );
        }
        let key_refresh_interval = self.duration(
            &format!("{path}.key_refresh_interval"),
            raw.key_refresh_interval.as_ref(),
            Duration::from_secs(60),
        );
        self.bounded(
            &format!("{path}.key_refresh_interval"),
            key_refresh_interval,
            Duration::from_secs(1),
            Duration::from_secs(86_400),
        );
        let algorithms = self.algorithms(&path, &raw, kind);
        let email_trust = match (raw.trust_unverified_email, kind) {
            (Some(true), _) => {
                self.warnings.push(Problem {
                    path: format!("{path}.trust_unverified_email"),
                    message: "emails this source does not mark verified reach Zendesk, which finds users by email: anyone who can sign up at the provider with someone else's address can sign in as that Zendesk user".into(),
                });
                EmailTrust::Any
            }
            (None, SourceKind::Jwt) => {
                self.notes.push(Problem {
                    path: path.clone(),
                    message: "a jwt source's emails are taken as its issuer asserts them, unless a token says email_verified: false; set trust_unverified_email = false to require email_verified: true".into(),
                });
                EmailTrust::UnlessMarkedUnverified
            }
            _ => EmailTrust::RequireVerified,
        };
        let email_domains = self.email_domains(&path, raw.email_domains.as_deref());
        let mut audiences = raw.audiences.clone().unwrap_or_default();
        let detail = self.source_detail(&path, kind, &raw, server, &mut audiences);
        let issuer = match &detail {
            Some(SourceDetail::Firebase { project_id, .. }) => {
                format!("https://securetoken.google.com/{project_id}")
            }
            _ if kind == SourceKind::Dev => crate::source::dev::issuer(&raw.name),
            _ => raw.issuer.clone().unwrap_or_default(),
        };
        let claims = self.claim_exprs(&format!("{path}.claims"), &raw.claims);
        let rules = self.rules(&format!("{path}.rules"), &raw.rules);
        Some(SourceConfig {
            detail: detail?,
            label: raw.label.clone().unwrap_or_else(|| raw.name.clone()),
            name: raw.name,
            kind,
            issuer,
            audiences,
            algorithms,
            leeway,
            domains: raw
                .domains
                .unwrap_or_default()
                .into_iter()
                .map(|d| d.to_ascii_lowercase())
                .collect(),
            email_trust,
            email_domains,
            key_refresh_interval,
            claims,
            rules,
        })
    }

    /// `email_domains`: `acme.com` (that domain) or `*.acme.com` (its
    /// subdomains), lower-cased.
    fn email_domains(&mut self, path: &str, raw: Option<&[String]>) -> Vec<String> {
        let Some(raw) = raw else { return Vec::new() };
        let mut out = Vec::new();
        for (j, d) in raw.iter().enumerate() {
            let lower = d.trim().to_ascii_lowercase();
            let bare = lower.strip_prefix("*.").unwrap_or(&lower);
            let ok = !bare.is_empty()
                && bare.contains('.')
                && !bare.starts_with('.')
                && !bare.ends_with('.')
                && bare
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if ok {
                out.push(lower);
            } else {
                self.p.push(
                    format!("{path}.email_domains[{j}]"),
                    format!(
                        "must be a domain such as \"acme.com\" (or \"*.acme.com\" for its subdomains); found {d:?}"
                    ),
                );
            }
        }
        if raw.is_empty() {
            self.p.push(
                format!("{path}.email_domains"),
                "an empty list refuses every email; remove the key to allow any domain",
            );
        }
        out
    }

    /// The kind-specific part of a source; may set its audiences.
    #[allow(clippy::too_many_lines)]
    fn source_detail(
        &mut self,
        path: &str,
        kind: SourceKind,
        raw: &RawSource,
        server: Option<&Server>,
        audiences: &mut Vec<String>,
    ) -> Option<SourceDetail> {
        Some(match kind {
            SourceKind::Oidc => {
                let issuer = self.required(path, "issuer", raw.issuer.as_ref());
                let client_id = self.required(path, "client_id", raw.client_id.as_ref());
                let issuer_url = issuer
                    .as_deref()
                    .and_then(|i| self.url(&format!("{path}.issuer"), i, Http::LoopbackOnly));
                let discovery_url = match (&raw.discovery_url, &issuer_url) {
                    (Some(d), _) => {
                        self.url(&format!("{path}.discovery_url"), d, Http::LoopbackOnly)
                    }
                    // Derived from a valid issuer: the issuer's problem, if
                    // any, is not reported twice.
                    (None, Some(_)) => self.url(
                        &format!("{path}.discovery_url"),
                        &format!(
                            "{}/.well-known/openid-configuration",
                            issuer.as_deref().unwrap_or_default().trim_end_matches('/')
                        ),
                        Http::LoopbackOnly,
                    ),
                    (None, None) => None,
                };
                let client_secret = self.secret(
                    &format!("{path}.client_secret"),
                    raw.client_secret.as_ref(),
                    false,
                );
                let scopes = raw
                    .scopes
                    .clone()
                    .unwrap_or_else(|| vec!["openid".into(), "email".into(), "profile".into()]);
                if !scopes.iter().any(|s| s == "openid") {
                    self.p
                        .push(format!("{path}.scopes"), "must include \"openid\"");
                }
                let client_id = client_id?;
                if audiences.is_empty() {
                    audiences.push(client_id.clone());
                }
                SourceDetail::Oidc {
                    discovery_url: discovery_url?,
                    client_id,
                    client_secret,
                    scopes,
                }
            }
            SourceKind::Firebase => {
                let project_id = self.required(path, "project_id", raw.project_id.as_ref());
                let keys_url = self.url(
                    &format!("{path}.keys_url"),
                    raw.keys_url.as_deref().unwrap_or(FIREBASE_KEYS_URL),
                    Http::LoopbackOnly,
                );
                let insecure_emulator = raw.insecure_emulator.unwrap_or(false);
                if insecure_emulator {
                    let local = server.is_none_or(|s| {
                        s.listen.ip().is_loopback() && is_loopback_url(&s.public_url)
                    });
                    let declared = std::env::var(EMULATOR_ENV).is_ok_and(|v| !v.trim().is_empty());
                    if local || declared {
                        self.warnings.push(Problem {
                            path: format!("{path}.insecure_emulator"),
                            message: "accepts UNSIGNED tokens from the Firebase Auth emulator: never in production".into(),
                        });
                    } else {
                        self.p.push(
                            format!("{path}.insecure_emulator"),
                            format!(
                                "accepts UNSIGNED tokens, so it is refused unless server.listen and server.public_url are loopback addresses, or {EMULATOR_ENV} is set (as firebase-admin requires)"
                            ),
                        );
                    }
                }
                let project_id = project_id?;
                *audiences = vec![project_id.clone()];
                SourceDetail::Firebase {
                    project_id,
                    keys_url: keys_url?,
                    insecure_emulator,
                }
            }
            SourceKind::Jwt => {
                let issuer = self.required(path, "issuer", raw.issuer.as_ref());
                if audiences.is_empty() {
                    self.p.push(
                        format!("{path}.audiences"),
                        "is required: the `aud` values this source's tokens carry for us",
                    );
                }
                let keys = self.jwt_keys(path, raw);
                issuer?;
                SourceDetail::Jwt { keys: keys? }
            }
            SourceKind::Dev => {
                let users = raw.users.as_deref().unwrap_or_default();
                if users.is_empty() {
                    self.p.push(
                        format!("{path}.users"),
                        "a dev source needs at least one [[source.users]]",
                    );
                }
                let mut seen = HashSet::new();
                let mut out = Vec::new();
                for (u_i, u) in users.iter().enumerate() {
                    if !seen.insert(u.id.clone()) {
                        self.p.push(
                            format!("{path}.users[{u_i}].id"),
                            format!("user {:?} is listed twice", u.id),
                        );
                    }
                    let claims = match serde_json::to_value(&u.claims) {
                        Ok(serde_json::Value::Object(m)) => m,
                        _ => {
                            self.p.push(
                                format!("{path}.users[{u_i}].claims"),
                                "must be a table of JSON-like values",
                            );
                            serde_json::Map::new()
                        }
                    };
                    out.push(DevUser {
                        id: u.id.clone(),
                        email: u.email.clone(),
                        name: u.name.clone(),
                        claims,
                    });
                }
                let seed = match raw.seed.as_ref() {
                    Some(_) => self.secret(&format!("{path}.seed"), raw.seed.as_ref(), true),
                    // The server's problem is reported already.
                    None => server.map(|s| s.cookie_key.clone()),
                };
                let token_ttl = self.duration(
                    &format!("{path}.token_ttl"),
                    raw.token_ttl.as_ref(),
                    Duration::from_secs(3600),
                );
                self.bounded(
                    &format!("{path}.token_ttl"),
                    token_ttl,
                    Duration::from_secs(60),
                    Duration::from_secs(86_400),
                );
                *audiences = vec![crate::source::dev::AUDIENCE.to_owned()];
                self.warnings.push(Problem {
                    path: path.to_owned(),
                    message: "a dev source signs in anyone listed in its config without a password: never in production".into(),
                });
                SourceDetail::Dev {
                    users: out,
                    seed: seed?,
                    token_ttl,
                }
            }
        })
    }

    fn has_problem(&self, path: &str) -> bool {
        self.p.0.iter().any(|q| q.path == path)
    }

    fn required(&mut self, path: &str, key: &str, v: Option<&String>) -> Option<String> {
        match v {
            Some(s) if !s.trim().is_empty() => Some(s.clone()),
            _ => {
                self.p.push(format!("{path}.{key}"), "is required");
                None
            }
        }
    }

    fn algorithms(&mut self, path: &str, raw: &RawSource, kind: SourceKind) -> Vec<Algorithm> {
        let symmetric = kind == SourceKind::Jwt && raw.secret.is_some();
        let default: Vec<Algorithm> = match kind {
            SourceKind::Firebase => vec![Algorithm::RS256],
            SourceKind::Dev => vec![Algorithm::EdDSA],
            _ if symmetric => vec![Algorithm::HS256],
            _ => ASYMMETRIC.to_vec(),
        };
        let Some(names) = &raw.algorithms else {
            return default;
        };
        let mut out = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let key = format!("{path}.algorithms[{i}]");
            let Ok(alg) = name.parse::<Algorithm>() else {
                self.p.push(
                    key,
                    format!("unknown algorithm {name:?} (\"none\" is never accepted)"),
                );
                continue;
            };
            let is_hmac = matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512);
            if is_hmac && !symmetric {
                self.p.push(
                    key,
                    format!("{name} needs a shared secret; this source verifies with public keys"),
                );
            } else if !is_hmac && symmetric {
                self.p.push(
                    key,
                    format!("{name} needs public keys; this source has a shared secret"),
                );
            } else {
                out.push(alg);
            }
        }
        if out.is_empty() && names.is_empty() {
            self.p.push(
                format!("{path}.algorithms"),
                "an empty list accepts nothing; remove the key for the default",
            );
        }
        out
    }

    fn jwt_keys(&mut self, path: &str, raw: &RawSource) -> Option<JwtKeys> {
        let given = [
            raw.jwks_url.is_some(),
            raw.jwks_file.is_some(),
            raw.public_key_file.is_some(),
            raw.secret.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        let refused = ["jwks_url", "jwks_file", "public_key_file", "secret"]
            .iter()
            .any(|k| self.refused.contains(&format!("{path}.{k}")));
        if given == 0 && refused {
            return None;
        }
        if given != 1 {
            self.p.push(
                path,
                "a jwt source needs exactly one of jwks_url, jwks_file, public_key_file, secret",
            );
            return None;
        }
        if let Some(u) = &raw.jwks_url {
            return self
                .url(&format!("{path}.jwks_url"), u, Http::LoopbackOnly)
                .map(JwtKeys::JwksUrl);
        }
        if let Some(s) = &raw.secret {
            let secret = self.secret(&format!("{path}.secret"), Some(s), true)?;
            // The algorithms' own problems are reported by `algorithms`.
            let need = raw
                .algorithms
                .iter()
                .flatten()
                .filter_map(|a| a.parse::<Algorithm>().ok())
                .map(min_hmac_secret)
                .max()
                .unwrap_or(32);
            if secret.expose().len() < need {
                self.p.push(
                    format!("{path}.secret"),
                    format!(
                        "an HMAC secret must be at least {need} bytes (RFC 7518 §3.2: as long as the hash) so it cannot be guessed offline from one token; it has {}",
                        secret.expose().len()
                    ),
                );
                return None;
            }
            let keys = KeySet::from_secret(secret.expose().as_bytes());
            return Some(JwtKeys::Static {
                keys: Arc::new(keys),
                from: "secret".into(),
            });
        }
        let (key, file, result) = if let Some(f) = &raw.jwks_file {
            let p = self.file_path(f);
            (
                "jwks_file",
                f,
                std::fs::read(&p)
                    .map_err(|e| e.to_string())
                    .and_then(|b| KeySet::from_jwks_json(&b)),
            )
        } else {
            let f = raw.public_key_file.as_ref().expect("counted above");
            let p = self.file_path(f);
            (
                "public_key_file",
                f,
                std::fs::read(&p)
                    .map_err(|e| e.to_string())
                    .and_then(|b| KeySet::from_pem(&b)),
            )
        };
        match result {
            Ok(keys) => Some(JwtKeys::Static {
                keys: Arc::new(keys),
                from: file.clone(),
            }),
            Err(e) => {
                self.p
                    .push(format!("{path}.{key}"), format!("cannot use {file}: {e}"));
                None
            }
        }
    }

    fn claim_exprs(
        &mut self,
        path: &str,
        raw: &BTreeMap<String, String>,
    ) -> BTreeMap<String, Arc<Expression>> {
        let mut out = BTreeMap::new();
        for (name, text) in raw {
            let key = format!("{path}.{name}");
            if name == "email_verified" {
                self.p.push(
                    key,
                    "`email_verified` is set by zenbridge: true when the source vouches for the email (see trust_unverified_email); it cannot be mapped",
                );
                continue;
            }
            if mapping::claims::OWNED.contains(&name.as_str()) {
                self.p.push(
                    key,
                    format!("`{name}` is set by zenbridge and cannot be mapped"),
                );
                continue;
            }
            let known = [TargetKind::Sso, TargetKind::Messaging, TargetKind::Chat]
                .iter()
                .any(|k| mapping::claims::claim_type(*k, name).is_some());
            if !known {
                self.p.push(
                    key,
                    format!("no Zendesk surface reads a claim named `{name}`"),
                );
                continue;
            }
            match Expression::compile(text) {
                Ok(e) => {
                    out.insert(name.clone(), Arc::new(e));
                }
                Err(e) => self.p.push(key, e),
            }
        }
        out
    }

    fn rules(&mut self, path: &str, raw: &[RawRule]) -> Vec<(Arc<Expression>, String)> {
        let mut out = Vec::new();
        for (i, r) in raw.iter().enumerate() {
            if r.message.trim().is_empty() {
                self.p.push(
                    format!("{path}[{i}].message"),
                    "must say why the sign-in is refused",
                );
            }
            match Expression::compile(&r.expression) {
                Ok(e) => out.push((Arc::new(e), r.message.clone())),
                Err(e) => self.p.push(format!("{path}[{i}].expression"), e),
            }
        }
        out
    }

    #[allow(clippy::too_many_lines)]
    /// `sources` are the built sources, by position, `configured` the name
    /// of each `[[source]]` as written, built or not.
    fn targets(
        &mut self,
        raw: Vec<Option<RawTarget>>,
        sources: &[Option<Arc<SourceConfig>>],
        configured: &[Option<String>],
    ) -> Vec<TargetConfig> {
        let mut out = Vec::new();
        let mut names = HashSet::new();
        let source_names: HashMap<&str, usize> = sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (s.name.as_str(), i)))
            .collect();
        let configured_names: Vec<&str> = configured.iter().flatten().map(String::as_str).collect();
        let mut seen_sources = HashSet::new();
        for (i, name) in configured.iter().enumerate() {
            if let Some(name) = name
                && !seen_sources.insert(name.as_str())
            {
                self.p.push(
                    format!("source[{i}].name"),
                    format!("another source is named {name:?}"),
                );
            }
        }
        let mut seen_issuers: HashMap<&str, &str> = HashMap::new();
        for (i, s) in sources.iter().enumerate() {
            if let Some(s) = s
                && let Some(other) = seen_issuers.insert(&s.issuer, &s.name)
            {
                self.p.push(
                    format!("source[{i}].issuer"),
                    format!("source {other:?} has the same issuer {:?}; tokens are routed by issuer, so each needs its own", s.issuer),
                );
            }
        }
        for (i, raw) in raw.into_iter().enumerate() {
            let Some(raw) = raw else { continue };
            let path = format!("target[{i}]");
            let kind = match raw.kind.as_str() {
                "sso" => TargetKind::Sso,
                "sdk" => TargetKind::Sdk,
                "messaging" => TargetKind::Messaging,
                "chat" => TargetKind::Chat,
                other => {
                    self.p.push(
                        format!("{path}.kind"),
                        format!("must be sso, sdk, messaging or chat; found {other:?}"),
                    );
                    continue;
                }
            };
            if !valid_name(&raw.name) {
                self.p.push(
                    format!("{path}.name"),
                    format!(
                        "must be 1-64 letters, digits, '-' or '_'; found {:?}",
                        raw.name
                    ),
                );
            }
            if !names.insert(raw.name.clone()) {
                self.p.push(
                    format!("{path}.name"),
                    format!("another target is named {:?}", raw.name),
                );
            }
            for key in present_target_keys(&raw) {
                if !target_keys(kind).contains(&key) {
                    self.p.push(
                        format!("{path}.{key}"),
                        format!("not a key of a target of kind {}", raw.kind),
                    );
                }
            }
            let secret = self.secret(&format!("{path}.secret"), raw.secret.as_ref(), true);
            if raw.sources.is_empty() {
                self.p.push(
                    format!("{path}.sources"),
                    "lists no source; name at least one",
                );
            }
            let mut idx = Vec::new();
            let mut listed = HashSet::new();
            for (j, name) in raw.sources.iter().enumerate() {
                if !listed.insert(name.as_str()) {
                    self.p.push(
                        format!("{path}.sources[{j}]"),
                        format!("{name:?} is listed twice"),
                    );
                    continue;
                }
                match source_names.get(name.as_str()) {
                    Some(&s) => idx.push(s),
                    // A source that is configured but refused: its own
                    // problems are reported already.
                    None if configured_names.contains(&name.as_str()) => {}
                    None => {
                        self.p.push(
                            format!("{path}.sources[{j}]"),
                            format!(
                                "no source named {name:?} (sources: {})",
                                join_sorted(&configured_names)
                            ),
                        );
                    }
                }
            }
            let target_claims = self.claim_exprs(&format!("{path}.claims"), &raw.claims);
            for name in target_claims.keys() {
                if mapping::claims::claim_type(kind, name).is_none() {
                    self.p.push(
                        format!("{path}.claims.{name}"),
                        format!(
                            "a {} target has no claim `{name}`; it reads: {}",
                            raw.kind,
                            catalog_names(kind)
                        ),
                    );
                }
            }
            let target_rules = self.rules(&format!("{path}.rules"), &raw.rules);
            let mut routes = Vec::new();
            for &s in &idx {
                let Some(source) = sources.get(s).and_then(Option::as_ref) else {
                    continue;
                };
                let m = effective_mapping(kind, source, &target_claims, &target_rules);
                for required in kind.required_claims() {
                    // A mapping written but refused is reported already.
                    let refused = self.has_problem(&format!("source[{s}].claims.{required}"))
                        || self.has_problem(&format!("{path}.claims.{required}"));
                    if !m.has_claim(required) && !refused {
                        self.p.push(
                            format!("{path}.sources"),
                            format!(
                                "a {} target needs `{required}`, and source {:?} has no mapping for it: add `{required} = \"…\"` under [source.claims] or [target.claims]",
                                raw.kind, source.name
                            ),
                        );
                    }
                }
                routes.push(TargetSource {
                    source: source.clone(),
                    mapping: Arc::new(m),
                });
            }
            self.namespaces(&path, &routes);
            let endpoints = self.endpoints(&path, kind, raw.endpoints.as_deref());
            let allowed_roles = self.allowed_roles(&path, kind, raw.allowed_roles.as_deref());
            if endpoints == [crate::target::Endpoint::Browser] {
                for r in routes.iter().filter(|r| !r.source.browser_capable()) {
                    self.warnings.push(Problem {
                        path: format!("{path}.sources"),
                        message: format!(
                            "source {:?} ({}) has no browser sign-in, and this target mints only through the browser: its tokens can never reach it",
                            r.source.name,
                            r.source.kind.as_str()
                        ),
                    });
                }
            }
            let ttl_default = Duration::from_secs(300);
            let ttl = self.duration(&format!("{path}.ttl"), raw.ttl.as_ref(), ttl_default);
            if kind == TargetKind::Chat && ttl > Duration::from_secs(420) {
                self.p.push(
                    format!("{path}.ttl"),
                    "Zendesk chat refuses an exp more than 7 minutes after iat; at most 7m",
                );
            }
            if ttl > Duration::from_secs(86_400) {
                self.p.push(
                    format!("{path}.ttl"),
                    "at most 1d: a Zendesk token is for signing in now, not a session",
                );
            }
            if ttl < Duration::from_secs(30) {
                self.p.push(
                    format!("{path}.ttl"),
                    "at least 30s: a token that expires before it is used helps no one",
                );
            }
            if kind == TargetKind::Messaging {
                match &raw.key_id {
                    None => self.p.push(
                        format!("{path}.key_id"),
                        "is required: the key id Zendesk shows beside the secret (app_…)",
                    ),
                    Some(k) if k.trim().is_empty() => {
                        self.p.push(format!("{path}.key_id"), "must not be empty");
                    }
                    Some(_) => {}
                }
            }
            let sandbox = raw.sandbox.unwrap_or(false);
            if kind == TargetKind::Sso {
                match &raw.subdomain {
                    Some(s) if valid_subdomain(s) => {}
                    Some(s) => self.p.push(
                        format!("{path}.subdomain"),
                        format!("must be a Zendesk subdomain such as \"acme\"; found {s:?}"),
                    ),
                    None if sandbox || raw.access_url.is_some() => {}
                    None => self.p.push(
                        format!("{path}.subdomain"),
                        "is required (the acme of acme.zendesk.com)",
                    ),
                }
            }
            let access_url = raw
                .access_url
                .as_deref()
                .and_then(|u| self.url(&format!("{path}.access_url"), u, Http::LoopbackOnly));
            if let Some(u) = &raw.after_logout_url {
                self.url(&format!("{path}.after_logout_url"), u, Http::LoopbackOnly);
            }
            let allowed_ips = self.networks(
                &format!("{path}.allowed_ips"),
                raw.allowed_ips.as_deref().unwrap_or_default(),
            );
            let mut allowed_origins = Vec::new();
            for (j, o) in raw.allowed_origins.iter().flatten().enumerate() {
                match Url::parse(o) {
                    Ok(u)
                        if u.path() == "/"
                            && u.query().is_none()
                            && matches!(u.scheme(), "https" | "http") =>
                    {
                        allowed_origins.push(u.origin().ascii_serialization());
                    }
                    _ => self.p.push(
                        format!("{path}.allowed_origins[{j}]"),
                        format!("must be an origin such as \"https://www.acme.com\"; found {o:?}"),
                    ),
                }
            }
            let Some(secret) = secret else { continue };
            let signer = crate::target::sign::Signer::new(
                kind,
                raw.key_id.as_deref(),
                secret.expose().as_bytes(),
            );
            out.push(TargetConfig {
                name: raw.name,
                kind,
                secret,
                signer,
                sources: routes,
                endpoints,
                allowed_roles,
                subdomain: raw.subdomain,
                return_to_hosts: raw
                    .return_to_hosts
                    .unwrap_or_default()
                    .into_iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect(),
                after_logout_url: raw.after_logout_url,
                access_url,
                sandbox,
                upstream_logout: raw.upstream_logout.unwrap_or(false),
                allowed_ips,
                key_id: raw.key_id,
                ttl,
                allowed_origins,
            });
        }
        if out.is_empty() && self.p.0.is_empty() {
            self.p
                .push("target", "no target is configured: add a [[target]]");
        }
        out
    }
}

impl Validator {
    /// `endpoints`: the kind's defaults, or a list of endpoints the kind
    /// can serve. Listing one beyond the defaults widens who can get the
    /// target's token, which `check` says.
    fn endpoints(
        &mut self,
        path: &str,
        kind: TargetKind,
        raw: Option<&[String]>,
    ) -> Vec<crate::target::Endpoint> {
        use crate::target::Endpoint;
        let Some(raw) = raw else {
            return kind.default_endpoints().to_vec();
        };
        let possible = kind.possible_endpoints();
        let names = |l: &[Endpoint]| l.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", ");
        let mut out = Vec::new();
        for (j, name) in raw.iter().enumerate() {
            let key = format!("{path}.endpoints[{j}]");
            match Endpoint::parse(name) {
                Some(e) if possible.contains(&e) => {
                    if out.contains(&e) {
                        self.p.push(key, format!("{name:?} is listed twice"));
                    } else {
                        out.push(e);
                    }
                }
                Some(_) => self.p.push(
                    key,
                    format!(
                        "a {} target cannot be minted by {name:?}; it can list: {}",
                        kind.as_str(),
                        names(possible)
                    ),
                ),
                None => self.p.push(
                    key,
                    format!(
                        "unknown endpoint {name:?}; the endpoints are: {}",
                        names(&Endpoint::ALL)
                    ),
                ),
            }
        }
        if raw.is_empty() {
            self.p.push(
                format!("{path}.endpoints"),
                "an empty list mints nowhere; remove the key for the default",
            );
        }
        for e in &out {
            if kind.default_endpoints().contains(e) {
                continue;
            }
            let why = match kind {
                TargetKind::Sso => {
                    "any app token (or one stolen from a web page's storage) becomes a Zendesk web session, without the browser sign-in's state, nonce, PKCE and the provider's own session"
                }
                TargetKind::Sdk => {
                    "the Support SDK's token is handed to whoever presents an upstream token, not only to Zendesk's servers"
                }
                TargetKind::Messaging | TargetKind::Chat => "",
            };
            self.warnings.push(Problem {
                path: format!("{path}.endpoints"),
                message: format!(
                    "{:?} widens the {} target beyond its default ({}): {why}",
                    e.as_str(),
                    kind.as_str(),
                    names(kind.default_endpoints())
                ),
            });
        }
        out
    }

    /// `allowed_roles`: which of Zendesk's roles the target may assert;
    /// by default every one but `admin`.
    fn allowed_roles(
        &mut self,
        path: &str,
        kind: TargetKind,
        raw: Option<&[String]>,
    ) -> Vec<String> {
        let Some(raw) = raw else {
            return crate::target::DEFAULT_ROLES
                .iter()
                .map(|r| (*r).to_owned())
                .collect();
        };
        if !kind.has_roles() {
            // Reported as "not a key of a target of kind …".
            return Vec::new();
        }
        let mut out: Vec<String> = Vec::new();
        for (j, role) in raw.iter().enumerate() {
            let canonical = match role.as_str() {
                "user" | "end-user" => "end_user",
                r => r,
            };
            if !crate::target::ROLES.contains(&canonical) {
                self.p.push(
                    format!("{path}.allowed_roles[{j}]"),
                    format!("must be \"end_user\", \"agent\" or \"admin\"; found {role:?}"),
                );
            } else if !out.iter().any(|r| r == canonical) {
                out.push(canonical.to_owned());
            }
        }
        if raw.is_empty() {
            self.p.push(
                format!("{path}.allowed_roles"),
                "an empty list refuses every role claim; to never send one, map `role = \"null\"`",
            );
        }
        if out.iter().any(|r| r == "admin") {
            self.warnings.push(Problem {
                path: format!("{path}.allowed_roles"),
                message: "allows \"admin\": whoever a mapping gives role admin becomes a Zendesk administrator".into(),
            });
        }
        out
    }

    /// Warns when two sources of a target can produce the same
    /// `external_id` for different people: Zendesk matches users by
    /// `external_id` first, so the weaker source could sign in as a user
    /// of the stronger one.
    fn namespaces(&mut self, path: &str, routes: &[TargetSource]) {
        let with_id: Vec<(&str, Option<&str>)> = routes
            .iter()
            .filter_map(|r| {
                let claim = r.mapping.claims.iter().find(|c| c.name == "external_id")?;
                Some((r.source.name.as_str(), literal_prefix(&claim.expr.text)))
            })
            .collect();
        for (i, (a, pa)) in with_id.iter().enumerate() {
            for (b, pb) in with_id.iter().skip(i + 1) {
                let apart = match (pa, pb) {
                    (Some(x), Some(y)) => !x.starts_with(y) && !y.starts_with(x),
                    _ => false,
                };
                if !apart {
                    self.warnings.push(Problem {
                        path: format!("{path}.sources"),
                        message: format!(
                            "sources {a:?} and {b:?} both map external_id without distinct prefixes: a user of one could arrive as a Zendesk user of the other; start each with its own literal, e.g. external_id = \"'{a}|' + claims.sub\""
                        ),
                    });
                }
            }
        }
    }

    /// Checks that need the server and the targets together.
    fn server_against_targets(&mut self, server: &Server, targets: &[TargetConfig]) {
        for (i, t) in targets.iter().enumerate() {
            for net in &t.allowed_ips {
                if server
                    .trusted_proxies
                    .iter()
                    .any(|p| p.contains(&net.network()) || net.contains(&p.network()))
                {
                    self.warnings.push(Problem {
                        path: format!("target[{i}].allowed_ips"),
                        message: format!(
                            "{net} overlaps server.trusted_proxies: a request whose forwarded address cannot be read counts as coming from the proxy"
                        ),
                    });
                }
            }
        }
    }
}

/// The string literal an expression starts with (`'auth0|' + claims.sub`
/// → `auth0|`), if it is one followed by `+`.
fn literal_prefix(expr: &str) -> Option<&str> {
    let t = expr.trim_start();
    let quote = t.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let body = &t[1..];
    let end = body.find(quote)?;
    let lit = &body[..end];
    if lit.is_empty() || lit.contains('\\') {
        return None;
    }
    body[end + 1..].trim_start().starts_with('+').then_some(lit)
}

/// Target overrides, else source claims, else the defaults for email and
/// name. Source claims that the target's surface does not read are dropped
/// (a source can feed several surfaces); target claims were checked above.
fn effective_mapping(
    kind: TargetKind,
    source: &SourceConfig,
    target_claims: &BTreeMap<String, Arc<Expression>>,
    target_rules: &[(Arc<Expression>, String)],
) -> Mapping {
    let mut claims = Vec::new();
    for &(name, ty) in mapping::claims::catalog(kind) {
        let (expr, origin) = if let Some(e) = target_claims.get(name) {
            (e.clone(), mapping::Origin::Target)
        } else if let Some(e) = source.claims.get(name) {
            (e.clone(), mapping::Origin::Source)
        } else if name == "email" {
            (mapping::DEFAULT_EMAIL.clone(), mapping::Origin::Default)
        } else if name == "name" {
            (mapping::DEFAULT_NAME.clone(), mapping::Origin::Default)
        } else {
            continue;
        };
        claims.push(MappedClaim {
            name: name.to_owned(),
            ty,
            expr,
            origin,
        });
    }
    let rules = source
        .rules
        .iter()
        .map(|(e, m)| Rule {
            expr: e.clone(),
            message: m.clone(),
            origin: mapping::Origin::Source,
        })
        .chain(target_rules.iter().map(|(e, m)| Rule {
            expr: e.clone(),
            message: m.clone(),
            origin: mapping::Origin::Target,
        }))
        .collect();
    Mapping { claims, rules }
}

fn catalog_names(kind: TargetKind) -> String {
    mapping::claims::catalog(kind)
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

fn join_sorted(names: &[&str]) -> String {
    let mut v = names.to_vec();
    v.sort_unstable();
    v.dedup();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

pub fn is_loopback_host(h: &str) -> bool {
    h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback()) || h == "[::1]"
}

/// Whether a URL's host is `localhost`, in 127.0.0.0/8, or `::1`.
pub fn is_loopback_url(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    }
}

fn present_source_keys(r: &RawSource) -> Vec<&'static str> {
    let mut v = Vec::new();
    let mut add = |present: bool, k: &'static str| {
        if present {
            v.push(k);
        }
    };
    add(r.issuer.is_some(), "issuer");
    add(r.audiences.is_some(), "audiences");
    add(r.algorithms.is_some(), "algorithms");
    add(r.leeway.is_some(), "leeway");
    add(r.domains.is_some(), "domains");
    add(r.trust_unverified_email.is_some(), "trust_unverified_email");
    add(r.email_domains.is_some(), "email_domains");
    add(r.key_refresh_interval.is_some(), "key_refresh_interval");
    add(r.discovery_url.is_some(), "discovery_url");
    add(r.client_id.is_some(), "client_id");
    add(r.client_secret.is_some(), "client_secret");
    add(r.scopes.is_some(), "scopes");
    add(r.project_id.is_some(), "project_id");
    add(r.keys_url.is_some(), "keys_url");
    add(r.insecure_emulator.is_some(), "insecure_emulator");
    add(r.jwks_url.is_some(), "jwks_url");
    add(r.jwks_file.is_some(), "jwks_file");
    add(r.public_key_file.is_some(), "public_key_file");
    add(r.secret.is_some(), "secret");
    add(r.users.is_some(), "users");
    add(r.seed.is_some(), "seed");
    add(r.token_ttl.is_some(), "token_ttl");
    v
}

fn present_target_keys(r: &RawTarget) -> Vec<&'static str> {
    let mut v = Vec::new();
    let mut add = |present: bool, k: &'static str| {
        if present {
            v.push(k);
        }
    };
    add(r.endpoints.is_some(), "endpoints");
    add(r.allowed_roles.is_some(), "allowed_roles");
    add(r.subdomain.is_some(), "subdomain");
    add(r.return_to_hosts.is_some(), "return_to_hosts");
    add(r.after_logout_url.is_some(), "after_logout_url");
    add(r.access_url.is_some(), "access_url");
    add(r.sandbox.is_some(), "sandbox");
    add(r.upstream_logout.is_some(), "upstream_logout");
    add(r.allowed_ips.is_some(), "allowed_ips");
    add(r.key_id.is_some(), "key_id");
    add(r.ttl.is_some(), "ttl");
    add(r.allowed_origins.is_some(), "allowed_origins");
    v
}
