//! `[[target]]`: each Zendesk surface's keys, its sources paired with the
//! effective mapping of each pair ([`TargetSource`]), the routes that may
//! mint its token (`endpoints`) with the one guard every route calls
//! ([`TargetConfig::admits`]), the roles it may assert, and the warnings
//! about what a target's sources could do to each other.
//!
//! Why this file is over 600 lines: a target's checks depend on each other
//! (its sources' kinds decide its endpoints' warnings, `sandbox` decides
//! whether `subdomain` is required, every source's mapping is checked
//! against the surface's catalog and `external_id` prefixes against each
//! other), so they run in one pass over the target, kept together here
//! rather than split across files that would pass half-built state around.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::hosts::HostList;
use super::raw::RawTarget;
use super::{Http, Problem, Secret, Server, SourceConfig, Validator, join_sorted, valid_name};
use crate::mapping::Mapping;
use crate::target::TargetKind;

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
    /// The sandbox page and the sign-in's error pages show the `explain`
    /// report of the sign-in (upstream claims, rules, mapped claims).
    /// Default: `sandbox`.
    pub explain_pages: bool,
    pub upstream_logout: bool,
    pub allowed_ips: Vec<ipnet::IpNet>,
    /// The key id of `secret` (messaging).
    pub key_id: Option<String>,
    /// Every key id of a messaging target's `keys`, the signing one first.
    pub key_ids: Vec<String>,
    pub ttl: Duration,
    pub allowed_origins: Vec<String>,
    /// `[target.link]`: identity links are kept for this target.
    pub link: Option<LinkRule>,
    /// `[[target.brands]]`: the sources each Zendesk brand offers (`sso`);
    /// empty: every brand is offered every source.
    pub brands: Vec<BrandSources>,
    /// Requests a minute per client address on the token endpoints
    /// (`rate_limit_per_minute`, default `server.rate_limit_per_minute`);
    /// 0: no limit.
    pub rate_limit_per_minute: u32,
}

/// The sources a Zendesk brand offers at the sign-in.
#[derive(Debug, Clone)]
pub struct BrandSources {
    /// Zendesk's `brand_id`, or `"*"`: every brand not listed.
    pub id: String,
    pub sources: Vec<String>,
}

/// How a target decides that two sign-ins are one person.
#[derive(Debug, Clone)]
pub struct LinkRule {
    /// CEL over the verified upstream claims; `None`: the email the trust
    /// model vouched for (an unverified one never links).
    pub key: Option<Arc<crate::mapping::Expression>>,
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
    /// Whether the sign-in of a person sent with `brand_id` may use
    /// `source`: with `[[target.brands]]`, only the brand's sources (or the
    /// `"*"` entry's for a brand not listed; every source without one).
    pub fn brand_allows(&self, brand_id: Option<&str>, source: &str) -> bool {
        if self.brands.is_empty() {
            return true;
        }
        let listed = brand_id.and_then(|b| self.brands.iter().find(|e| e.id == b));
        match listed.or_else(|| self.brands.iter().find(|e| e.id == "*")) {
            Some(entry) => entry.sources.iter().any(|s| s == source),
            None => true,
        }
    }

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

/// Keys every target kind accepts.
const COMMON_TARGET_KEYS: [&str; 8] = [
    "name",
    "kind",
    "secret",
    "sources",
    "claims",
    "rules",
    "link",
    "rate_limit_per_minute",
];

/// Checks `[[target.brands]]` against the target's `sources`.
fn brand_problems(
    path: &str,
    raw: &[super::raw::RawBrand],
    sources: &[String],
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (i, b) in raw.iter().enumerate() {
        let at = format!("{path}.brands[{i}]");
        if b.id != "*"
            && (b.id.is_empty() || b.id.len() > 20 || !b.id.bytes().all(|c| c.is_ascii_digit()))
        {
            out.push((
                format!("{at}.id"),
                format!("must be a Zendesk brand id (digits) or \"*\" for every brand not listed; found {:?}", crate::source::clip(&b.id, 64)),
            ));
        }
        if !seen.insert(b.id.as_str()) {
            out.push((
                format!("{at}.id"),
                format!("brand {:?} is listed twice", b.id),
            ));
        }
        if b.sources.is_empty() {
            out.push((
                format!("{at}.sources"),
                "lists no source; name at least one of the target's".into(),
            ));
        }
        for (j, s) in b.sources.iter().enumerate() {
            if !sources.iter().any(|t| t == s) {
                out.push((
                    format!("{at}.sources[{j}]"),
                    format!(
                        "{s:?} is not one of the target's sources ({})",
                        sources.join(", ")
                    ),
                ));
            }
        }
    }
    out
}

/// Keys each target kind accepts, beyond [`COMMON_TARGET_KEYS`].
fn target_keys(kind: TargetKind) -> &'static [&'static str] {
    match kind {
        TargetKind::Sso => &[
            "brands",
            "subdomain",
            "return_to_hosts",
            "after_logout_url",
            "access_url",
            "sandbox",
            "explain_pages",
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
            "keys",
            "ttl",
            "allowed_origins",
            "allowed_ips",
            "endpoints",
        ],
        TargetKind::Chat => &["ttl", "allowed_origins", "allowed_ips", "endpoints"],
    }
}

impl Validator {
    #[allow(clippy::too_many_lines)]
    /// `sources` are the built sources, by position, `configured` the name
    /// of each `[[source]]` as written, built or not.
    pub(super) fn targets(
        &mut self,
        raw: Vec<(Option<RawTarget>, Vec<String>)>,
        sources: &[Option<Arc<SourceConfig>>],
        configured: &[Option<String>],
        default_rate_limit: u32,
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
            // A source of opaque tokens is not routed by issuer.
            if let Some(s) = s
                && s.routed_by_issuer()
                && let Some(other) = seen_issuers.insert(&s.issuer, &s.name)
            {
                self.p.push(
                    format!("source[{i}].issuer"),
                    format!("source {other:?} has the same issuer {:?}; tokens are routed by issuer, so each needs its own", s.issuer),
                );
            }
        }
        for (i, (raw, written)) in raw.into_iter().enumerate() {
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
            self.keys_of_kind(
                &path,
                "target",
                &raw.kind,
                &written,
                &COMMON_TARGET_KEYS,
                target_keys(kind),
            );
            let signing = self.signing_key(&path, kind, &raw);
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
                if kind.claim_type(name).is_none() {
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
                let m = Mapping::effective(
                    kind,
                    (&source.claims, &source.rules),
                    (&target_claims, &target_rules),
                );
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
            if kind != TargetKind::Sso {
                for r in routes
                    .iter()
                    .filter(|r| r.source.kind == crate::source::SourceKind::ZendeskJwt)
                {
                    self.warnings.push(Problem::new(
                        format!("{path}.sources"),
                        format!(
                            "source {:?} (zendesk_jwt) signs people in to an sso target's help center only; a {} target never takes its tokens",
                            r.source.name, raw.kind
                        ),
                    ));
                }
            }
            if endpoints == [crate::target::Endpoint::Browser] {
                for r in routes.iter().filter(|r| !r.source.browser_capable()) {
                    self.warnings.push(Problem::new(
                        format!("{path}.sources"),
                        format!(
                            "source {:?} ({}) has no browser sign-in, and this target mints only through the browser: its tokens can never reach it",
                            r.source.name,
                            r.source.kind.as_str()
                        ),
                    ));
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
            let return_to_hosts = self.host_list(
                &format!("{path}.return_to_hosts"),
                raw.return_to_hosts.as_deref().unwrap_or_default(),
                HostList::ExactHosts,
            );
            let explain_pages = raw.explain_pages.unwrap_or(sandbox);
            if explain_pages && !sandbox {
                self.warnings.push(Problem::new(
                    format!("{path}.explain_pages"),
                    "the sign-in's error pages show the person the upstream claims, the rules and the mapping: for finding a problem, not for production",
                ));
            }
            for (key, message) in brand_problems(&path, &raw.brands, &raw.sources) {
                self.p.push(key, message);
            }
            let brands = raw
                .brands
                .iter()
                .map(|b| BrandSources {
                    id: b.id.clone(),
                    sources: b.sources.clone(),
                })
                .collect();
            let link = raw.link.as_ref().map(|l| LinkRule {
                key: l.key.as_deref().and_then(|k| self.link_key(&path, k)),
            });
            let Some(SigningKey {
                secret,
                key_id,
                key_ids,
            }) = signing
            else {
                continue;
            };
            let signer = crate::target::sign::Signer::new(
                kind,
                key_id.as_deref(),
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
                return_to_hosts,
                after_logout_url: raw.after_logout_url,
                access_url,
                sandbox,
                explain_pages,
                upstream_logout: raw.upstream_logout.unwrap_or(false),
                allowed_ips,
                key_id,
                key_ids,
                ttl,
                allowed_origins,
                link,
                brands,
                rate_limit_per_minute: raw.rate_limit_per_minute.unwrap_or(default_rate_limit),
            });
        }
        if out.is_empty() && self.p.0.is_empty() {
            self.p
                .push("target", "no target is configured: add a [[target]]");
        }
        out
    }
    /// `[target.link] key`: compiled, with a warning when it reads an
    /// address no source vouches for by itself.
    fn link_key(&mut self, path: &str, text: &str) -> Option<Arc<crate::mapping::Expression>> {
        let key_path = format!("{path}.link.key");
        let e = self.expression(&key_path, text)?;
        let read = crate::mapping::synthetic::claims_read(e.program.expression());
        if read
            .iter()
            .any(|c| c == "email" || c == "preferred_username")
        {
            self.warnings.push(Problem::new(
                key_path,
                "links on an address the trust model does not vouch for: whoever signs up somewhere with someone else's address would get that person's Zendesk user. Leave `key` out to link on the verified email",
            ));
        }
        Some(e)
    }

    /// `endpoints`: the kind's defaults, or a list of endpoints the kind
    /// can serve. Listing one beyond the defaults widens who can get the
    /// target's token, which `check` says.
    pub(super) fn endpoints(
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
            self.warnings.push(Problem::new(
                format!("{path}.endpoints"),
                format!(
                    "{:?} widens the {} target beyond its default ({}): {why}",
                    e.as_str(),
                    kind.as_str(),
                    names(kind.default_endpoints())
                ),
            ));
        }
        out
    }

    /// `allowed_roles`: which of Zendesk's roles the target may assert;
    /// by default every one but `admin`.
    pub(super) fn allowed_roles(
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
            self.warnings.push(Problem::new(
                format!("{path}.allowed_roles"),
                "allows \"admin\": whoever a mapping gives role admin becomes a Zendesk administrator",
            ));
        }
        out
    }

    /// Warns when two sources of a target can produce the same
    /// `external_id` for different people: Zendesk matches users by
    /// `external_id` first, so the weaker source could sign in as a user
    /// of the stronger one. Two sources checked against the same issuer
    /// (an `oidc` source and the `introspection` source of one provider)
    /// share its subjects, so they may share a prefix.
    pub(super) fn namespaces(&mut self, path: &str, routes: &[TargetSource]) {
        let with_id: Vec<(&str, &str, Option<&str>)> = routes
            .iter()
            .filter_map(|r| {
                let claim = r.mapping.claims.iter().find(|c| c.name == "external_id")?;
                Some((
                    r.source.name.as_str(),
                    r.source.issuer.as_str(),
                    literal_prefix(&claim.expr.text),
                ))
            })
            .collect();
        for (i, (a, ia, pa)) in with_id.iter().enumerate() {
            for (b, ib, pb) in with_id.iter().skip(i + 1) {
                let apart = match (pa, pb) {
                    _ if !ia.is_empty() && ia == ib => true,
                    (Some(x), Some(y)) => !x.starts_with(y) && !y.starts_with(x),
                    _ => false,
                };
                if !apart {
                    self.warnings.push(Problem::new(
                        format!("{path}.sources"),
                        format!(
                            "sources {a:?} and {b:?} both map external_id without distinct prefixes: a user of one could arrive as a Zendesk user of the other; start each with its own literal, e.g. external_id = \"'{a}|' + claims.sub\""
                        ),
                    ));
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

fn catalog_names(kind: TargetKind) -> String {
    kind.catalog()
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

fn valid_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

mod keys;
use keys::SigningKey;

#[cfg(test)]
mod tests;
