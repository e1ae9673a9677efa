//! Configuration: parse the TOML ([`raw`]), then validate it into a
//! [`Config`] whose references are resolved, secrets read, key files
//! loaded and CEL compiled. Nothing downstream re-checks the config.
//!
//! Validation reports every problem at once, each with its key path
//! (`target[1].sources[0]: no source named "auth00"`), so `zenbridge check`
//! and start-up show the whole list rather than the first mistake.
//!
//! One file per concept: [`server`] (`[server]`, `[state]`), [`source`]
//! (`[[source]]` and each kind's keys), [`target`] (`[[target]]`, its
//! routes, endpoints and roles). This file holds the loader, the
//! [`Validator`] that collects problems, and the checks every part uses
//! (secrets, durations, sizes, URLs, addresses, CEL claims and rules).
//!
//! Why this file is over 600 lines: the loader and the [`Validator`]'s
//! shared checks (secrets, durations, sizes, URLs, CEL) are used by every
//! part; problems and TOML errors are in [`problem`].

mod hosts;
pub mod introspection;
mod problem;
pub mod raw;
pub mod secret;
pub mod server;
pub mod session;
pub mod sift;
pub mod source;
pub mod target;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::mapping::{self, Expression};
use crate::target::TargetKind;
use problem::syntax_problem;
pub use problem::{Problem, Problems};
use raw::{RawRule, RawServer, RawSource, RawState, RawTarget};
pub use secret::Secret;
pub use server::{DEFAULT_LISTEN, MIN_ADMIN_TOKEN, Server, StateBackend, StateConfig};
pub use source::{DevUser, EMULATOR_ENV, EmailTrust, JwtKeys, SourceConfig, SourceDetail};
pub use target::{Refusal, TargetConfig, TargetSource};

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

impl Config {
    /// What to enter in Zendesk for each target, and at each OIDC
    /// provider, with this config's `public_url`: `serve` logs it at
    /// start-up.
    pub fn setup_lines(&self) -> Vec<String> {
        let base = self.server.public_url.as_str().trim_end_matches('/');
        let mut out = Vec::new();
        for t in &self.targets {
            let n = &t.name;
            out.push(match t.kind {
                TargetKind::Sso if t.sandbox => format!(
                    "target {n} (sso, sandbox): try {base}/sso/{n}/login — sign-ins end on {base}/sandbox/{n}/access/jwt, not Zendesk"
                ),
                TargetKind::Sso => format!(
                    "target {n} (sso): in Zendesk's JWT SSO configuration, remote login URL {base}/sso/{n}/login, remote logout URL {base}/sso/{n}/logout"
                ),
                TargetKind::Sdk => format!(
                    "target {n} (sdk): in the Mobile SDK app, JWT endpoint URL {base}/sdk/{n}/jwt"
                ),
                TargetKind::Messaging | TargetKind::Chat => format!(
                    "target {n} ({}): apps exchange their token at POST {base}/exchange/{n} (or POST {base}/token, audience {n})",
                    t.kind.as_str()
                ),
            });
        }
        for s in &self.sources {
            if let SourceDetail::Oidc { client_id, .. } = &s.detail {
                out.push(format!(
                    "source {} (oidc): at the provider, client {client_id} needs the redirect URI {}",
                    s.name,
                    self.server.callback_url()
                ));
            }
        }
        for t in self.targets.iter().filter(|t| t.kind == TargetKind::Sso) {
            for ts in t
                .sources
                .iter()
                .filter(|ts| ts.source.kind == crate::source::SourceKind::ZendeskJwt)
            {
                out.push(format!(
                    "source {} (zendesk_jwt): in the app, write {base}/sso/{}/from/{} where https://{{subdomain}}.zendesk.com was",
                    ts.source.name, t.name, ts.source.name
                ));
            }
        }
        out
    }
}

/// `server.trust_forwarded_for` believed the last hop whoever sent it.
const TRUST_FORWARDED_FOR_GONE: &str = "replaced by trusted_proxies: list your proxies' addresses or CIDR ranges (trusted_proxies = [\"10.0.0.0/8\"]); X-Forwarded-For is then read from the right, past those proxies only";

/// The known keys written in a table (unknown ones are `sift`'s to
/// report), for the check of which keys a source's or target's kind takes.
fn written_keys<T: raw::RawTable>(item: &toml::Value) -> Vec<String> {
    item.as_table()
        .map(|t| {
            t.keys()
                .filter(|k| T::KEYS.contains(&k.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Reads and validates a config file.
pub fn load_file(path: &std::path::Path) -> Result<Config, Problems> {
    load_file_for(path, Purpose::Serve)
}

/// What a config is loaded for: which secrets it must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Serving, or checking a config for serving: every secret.
    Serve,
    /// `explain`: only the secrets that verify tokens (a source's), and the
    /// targets' when signing. The cookie key, the admin token and OIDC
    /// client secrets are not needed to explain a token; when they are not
    /// set, a random value stands in (said in a note) that nothing uses.
    Explain { sign: bool },
}

impl Purpose {
    /// Whether the secret at `path` may be missing for this purpose.
    fn may_skip(self, path: &str) -> bool {
        match self {
            Purpose::Serve => false,
            Purpose::Explain { sign } => {
                path == "server.cookie_key"
                    || path == "server.previous_cookie_key"
                    || path == "server.admin_token"
                    || (path.starts_with("source[") && path.ends_with("].client_secret"))
                    || (!sign && path.starts_with("target[") && path.ends_with("].secret"))
            }
        }
    }
}

/// [`load_file`] for a [`Purpose`].
pub fn load_file_for(path: &std::path::Path, purpose: Purpose) -> Result<Config, Problems> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Problems(vec![Problem::new(
            String::new(),
            format!("cannot read config file {}: {e}", path.display()),
        )])
    })?;
    load(
        &text,
        path.parent(),
        Some(&path.display().to_string()),
        purpose,
    )
}

/// Parses and validates config text. Relative file paths in it are taken
/// from `base` (the config file's folder).
pub fn load_str(text: &str, base: Option<&std::path::Path>) -> Result<Config, Problems> {
    load(text, base, None, Purpose::Serve)
}

fn load(
    text: &str,
    base: Option<&std::path::Path>,
    file: Option<&str>,
    purpose: Purpose,
) -> Result<Config, Problems> {
    let mut p = Problems::default();
    let table: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            p.0.push(syntax_problem(&e, text, file));
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
                        let written = written_keys::<RawSource>(&item);
                        raw_sources.push((sift::table::<RawSource>(&mut p, &path, item), written));
                    } else {
                        let written = written_keys::<RawTarget>(&item);
                        raw_targets.push((sift::table::<RawTarget>(&mut p, &path, item), written));
                    }
                }
            }
            other => match sift::suggest(other, &["server", "state", "source", "target"]) {
                Some(k) => p.push_suggesting(other, "unknown key", format!("did you mean `{k}`?")),
                None => p.push(
                    other,
                    "unknown key; expected server, state, source or target",
                ),
            },
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
        purpose,
    };
    let parse_problems = v.p.0.len();
    let server = raw_server.and_then(|raw| v.server(&raw));
    let state = raw_state.and_then(|raw| v.state(&raw));
    let sources: Vec<Option<Arc<SourceConfig>>> = raw_sources
        .into_iter()
        .enumerate()
        .map(|(i, (s, written))| {
            s.and_then(|s| v.source(i, s, &written, server.as_ref()))
                .map(Arc::new)
        })
        .collect();
    let default_rate_limit = server.as_ref().map_or(0, |s| s.rate_limit_per_minute);
    let targets = v.targets(raw_targets, &sources, &source_names, default_rate_limit);
    if let Some(server) = &server {
        v.server_against_targets(server, &targets);
    }
    if let Some(state) = &state {
        v.links_against_targets(state, &targets);
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
    purpose: Purpose,
}

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

impl Validator {
    /// Reports each key `written` in a `what` of kind `kind` that is
    /// neither `common` to every kind nor one of `of_kind`.
    fn keys_of_kind(
        &mut self,
        path: &str,
        what: &str,
        kind: &str,
        written: &[String],
        common: &[&str],
        of_kind: &[&str],
    ) {
        for key in written {
            if !common.contains(&key.as_str()) && !of_kind.contains(&key.as_str()) {
                self.p.push(
                    format!("{path}.{key}"),
                    format!("not a key of a {what} of kind {kind}"),
                );
            }
        }
    }

    fn secret(
        &mut self,
        path: &str,
        raw: Option<&secret::RawSecret>,
        required: bool,
    ) -> Option<Secret> {
        match raw {
            None if required && self.purpose.may_skip(path) => {
                Some(self.stand_in(path, "is not set"))
            }
            None => {
                if required {
                    self.p.push(path, "is required");
                }
                None
            }
            Some(r) if self.reference_in_literal(path, r) => None,
            Some(r) => match r.resolve_min(self.base.as_deref()) {
                Err(e) if self.purpose.may_skip(path) => Some(self.stand_in(path, &e)),
                Ok(s) => {
                    if s.is_literal() {
                        self.warnings.push(Problem::new(
                            path.to_owned(),
                            "secret written in the config file; prefer { env = \"…\" } or { file = \"…\" }",
                        ));
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

    /// A random value in place of a secret this purpose does not use, and
    /// a note saying so.
    fn stand_in(&mut self, path: &str, why: &str) -> Secret {
        self.notes.push(Problem::new(
            path.to_owned(),
            format!("{why}; not needed here, so a random value stands in"),
        ));
        let mut bytes = [0u8; 32];
        // A failing system random source leaves zeros: still a value
        // nothing reads (the purpose never uses it).
        let _ = aws_lc_rs::rand::fill(&mut bytes);
        Secret::generated(crate::gateway::hex(&bytes))
    }

    /// Refuses a literal secret that reads like a reference to one
    /// ([`secret::RawSecret::reference_in_literal`]); true when refused.
    fn reference_in_literal(&mut self, path: &str, raw: &secret::RawSecret) -> bool {
        match raw.reference_in_literal() {
            Some((message, fix)) => {
                self.p.push_suggesting(path, message, fix);
                true
            }
            None => false,
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

    /// The duration at `{path}.{key}` (`default` when absent), which must
    /// lie within `bounds`.
    fn duration_within(
        &mut self,
        path: &str,
        key: &str,
        raw: Option<&String>,
        default: Duration,
        bounds: (Duration, Duration),
    ) -> Duration {
        let at = format!("{path}.{key}");
        let d = self.duration(&at, raw, default);
        self.bounded(&at, d, bounds.0, bounds.1);
        d
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
            if crate::target::OWNED.contains(&name.as_str()) {
                self.p.push(
                    key,
                    format!("`{name}` is set by zenbridge and cannot be mapped"),
                );
                continue;
            }
            let ty = [TargetKind::Sso, TargetKind::Messaging, TargetKind::Chat]
                .iter()
                .find_map(|k| k.claim_type(name));
            let Some(ty) = ty else {
                self.p.push(
                    key,
                    format!("no Zendesk surface reads a claim named `{name}`"),
                );
                continue;
            };
            match Expression::compile(text) {
                Ok(e) => {
                    if let Err(f) = mapping::synthetic::check_claim(&e, ty) {
                        self.p.0.push(finding_problem(key, f));
                        continue;
                    }
                    out.insert(name.clone(), Arc::new(e));
                }
                Err(e) => self.p.0.push(compile_problem(key, e)),
            }
        }
        out
    }

    /// One CEL expression (a link key), compiled; its problem recorded.
    fn expression(&mut self, path: &str, text: &str) -> Option<Arc<Expression>> {
        match Expression::compile(text) {
            Ok(e) => Some(Arc::new(e)),
            Err(e) => {
                self.p.0.push(compile_problem(path.to_owned(), e));
                None
            }
        }
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
                Ok(e) => match mapping::synthetic::check_rule(&e) {
                    Ok(()) => out.push((Arc::new(e), r.message.clone())),
                    Err(f) => self
                        .p
                        .0
                        .push(finding_problem(format!("{path}[{i}].expression"), f)),
                },
                Err(e) => self
                    .p
                    .0
                    .push(compile_problem(format!("{path}[{i}].expression"), e)),
            }
        }
        out
    }
}

fn compile_problem(path: String, e: mapping::cel::CompileError) -> Problem {
    Problem {
        path,
        message: e.message,
        suggestion: e.suggestion,
    }
}

fn finding_problem(path: String, f: mapping::synthetic::Finding) -> Problem {
    Problem {
        path,
        message: f.message,
        suggestion: f.suggestion,
    }
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
