//! `[[source]]`: the keys every source has, each kind's own keys (which
//! kind accepts which is [`source_keys`]), the trust model's per-source
//! switches (`trust_unverified_email`, `email_domains`), algorithms, and
//! the keys of `jwt` sources read from files when the config loads.
//!
//! Why this file is over 600 lines: it is the one place a source kind's keys
//! are checked — every kind's required and optional keys, their URLs and
//! files, and the trust switches — so that a new kind is one arm here (and
//! one file in `src/source/`), not edits across several files.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use url::Url;

use super::hosts::HostList;
use super::raw::RawSource;
use super::{Http, Problem, Secret, Server, Validator, is_loopback_url, valid_name};
use crate::mapping::Expression;
use crate::source::keys::KeySet;
use crate::source::{SourceKind, entra};

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
    /// An Entra multi-tenant source (`issuer` with `{tenantid}`): which
    /// issuers and tenants it takes.
    pub tenants: Option<entra::Tenants>,
    /// Tenants whose `upn` the trust model takes as a verified email.
    pub trust_upn_tenants: Vec<String>,
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
    Session(super::session::SessionConfig),
    Introspection(super::introspection::IntrospectionConfig),
    ZendeskJwt {
        /// The shared secret, as the source's only (HMAC) key.
        keys: Arc<KeySet>,
        /// The app's remote login URL.
        login_url: Url,
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
    /// Are this source's tokens JWTs, routed by their `iss`? (Not those
    /// of sources of opaque tokens: `crate::source::opaque`.)
    /// Not a `zendesk_jwt` source's either: its tokens carry none, and
    /// arrive only at its own `…/from/{source}/access/jwt`, never at the
    /// token endpoints.
    pub fn routed_by_issuer(&self) -> bool {
        !matches!(
            self.kind,
            SourceKind::Introspection | SourceKind::Session | SourceKind::ZendeskJwt
        )
    }

    /// Can a person sign in through this source in a browser?
    pub fn browser_capable(&self) -> bool {
        match &self.detail {
            SourceDetail::Session(s) => s.login_url.is_some(),
            _ => matches!(
                self.kind,
                SourceKind::Oidc | SourceKind::Dev | SourceKind::ZendeskJwt
            ),
        }
    }
}

/// RFC 7518 §3.2: an HMAC key at least as long as the hash's output.
fn min_hmac_secret(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    }
}

/// Keys every source kind accepts.
pub(super) const COMMON_SOURCE_KEYS: [&str; 5] = ["name", "kind", "label", "claims", "rules"];

/// Keys each source kind accepts, beyond [`COMMON_SOURCE_KEYS`].
pub(super) fn source_keys(kind: SourceKind) -> &'static [&'static str] {
    match kind {
        SourceKind::Oidc => &[
            "issuer",
            "discovery_url",
            "client_id",
            "client_secret",
            "scopes",
            "allowed_tenants",
            "v1_issuer",
            "trust_upn_tenants",
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
        SourceKind::Session => &[
            "check_url",
            "login_url",
            "return_to_query_param",
            "cookies",
            "token_header",
            "timeout",
            "cache_max",
            "domains",
            "leeway",
            "trust_unverified_email",
            "email_domains",
        ],
        SourceKind::Introspection => super::introspection::KEYS,
        SourceKind::ZendeskJwt => &[
            "secret",
            "login_url",
            "leeway",
            "domains",
            "trust_unverified_email",
            "email_domains",
        ],
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

/// The variable that also allows `insecure_emulator` off loopback, as
/// firebase-admin trusts unsigned tokens only when it is set.
pub const EMULATOR_ENV: &str = "FIREBASE_AUTH_EMULATOR_HOST";

const FIREBASE_KEYS_URL: &str =
    "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com";

impl Validator {
    pub(super) fn source(
        &mut self,
        i: usize,
        raw: RawSource,
        written: &[String],
        server: Option<&Server>,
    ) -> Option<SourceConfig> {
        let path = format!("source[{i}]");
        let kind = match raw.kind.as_str() {
            "oidc" => Some(SourceKind::Oidc),
            "firebase" => Some(SourceKind::Firebase),
            "jwt" => Some(SourceKind::Jwt),
            "dev" => Some(SourceKind::Dev),
            "session" => Some(SourceKind::Session),
            "introspection" => Some(SourceKind::Introspection),
            "zendesk_jwt" => Some(SourceKind::ZendeskJwt),
            other => {
                self.p.push(
                    format!("{path}.kind"),
                    format!("must be oidc, firebase, jwt, dev, introspection, session or zendesk_jwt; found {other:?}"),
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
        self.keys_of_kind(
            &path,
            "source",
            &raw.kind,
            written,
            &COMMON_SOURCE_KEYS,
            source_keys(kind),
        );
        // A Zendesk JWT is good for 3 minutes either side of its `iat`.
        let default_leeway = if kind == SourceKind::ZendeskJwt {
            180
        } else {
            60
        };
        let leeway = self.duration(
            &format!("{path}.leeway"),
            raw.leeway.as_ref(),
            Duration::from_secs(default_leeway),
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
                self.warnings.push(Problem::new(
                    format!("{path}.trust_unverified_email"),
                    "emails this source does not mark verified reach Zendesk, which finds users by email: anyone who can sign up at the provider with someone else's address can sign in as that Zendesk user",
                ));
                EmailTrust::Any
            }
            (None, SourceKind::Jwt) => {
                self.notes.push(Problem::new(
                    path.clone(),
                    "a jwt source's emails are taken as its issuer asserts them, unless a token says email_verified: false; set trust_unverified_email = false to require email_verified: true",
                ));
                EmailTrust::UnlessMarkedUnverified
            }
            (None, SourceKind::ZendeskJwt) => {
                self.notes.push(Problem::new(
                    path.clone(),
                    "a zendesk_jwt source's emails are taken as the app asserts them, as Zendesk takes them, unless a token says email_verified: false: whoever can make the app sign someone else's address signs in as that Zendesk user; limit it with email_domains",
                ));
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
            _ if kind == SourceKind::Session => crate::source::session::issuer(&raw.name),
            _ => raw.issuer.clone().unwrap_or_default(),
        };
        let domains = self.host_list(
            &format!("{path}.domains"),
            raw.domains.as_deref().unwrap_or_default(),
            HostList::DomainsAndBelow,
        );
        let (tenants, trust_upn_tenants) = self.tenants(&path, &raw, &issuer);
        let mut claims = self.claim_exprs(&format!("{path}.claims"), &raw.claims);
        if kind == SourceKind::ZendeskJwt {
            crate::source::zendesk_jwt::pass_through(&mut claims);
        }
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
            domains,
            email_trust,
            email_domains,
            key_refresh_interval,
            tenants,
            trust_upn_tenants,
            claims,
            rules,
        })
    }

    /// An Entra multi-tenant source's tenant rule (`issuer` with
    /// `{tenantid}`, `allowed_tenants`, `v1_issuer`) and `trust_upn_tenants`.
    fn tenants(
        &mut self,
        path: &str,
        raw: &RawSource,
        issuer: &str,
    ) -> (Option<entra::Tenants>, Vec<String>) {
        let trusted = self.tenant_ids(
            &format!("{path}.trust_upn_tenants"),
            raw.trust_upn_tenants.as_deref(),
            false,
        );
        if !issuer.contains(entra::PLACEHOLDER) {
            for (key, given) in [
                ("allowed_tenants", raw.allowed_tenants.is_some()),
                ("v1_issuer", raw.v1_issuer.is_some()),
            ] {
                if given {
                    self.p.push(
                        format!("{path}.{key}"),
                        format!(
                            "is only for a multi-tenant Entra source, whose issuer has {} in it (\"{}\")",
                            entra::PLACEHOLDER,
                            entra::MICROSOFT_V2
                        ),
                    );
                }
            }
            return (None, trusted.unwrap_or_default());
        }
        let Some(v2) = entra::Template::parse(issuer) else {
            self.p.push(
                format!("{path}.issuer"),
                format!("may hold {} once; found {issuer:?}", entra::PLACEHOLDER),
            );
            return (None, trusted.unwrap_or_default());
        };
        if raw.discovery_url.is_none() {
            self.p.push(
                format!("{path}.discovery_url"),
                "is required with a templated issuer: the discovery document that states it, e.g. https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration",
            );
        }
        let v1 = match raw.v1_issuer.as_deref() {
            Some(v1) => {
                let t = entra::Template::parse(v1);
                if t.is_none() {
                    self.p.push(
                        format!("{path}.v1_issuer"),
                        format!(
                            "must hold {} once, like \"{}\"; found {v1:?}",
                            entra::PLACEHOLDER,
                            entra::MICROSOFT_V1
                        ),
                    );
                }
                t
            }
            None if issuer == entra::MICROSOFT_V2 => entra::Template::parse(entra::MICROSOFT_V1),
            None => None,
        };
        let allowed_path = format!("{path}.allowed_tenants");
        let allowed = match raw.allowed_tenants.as_deref() {
            None => {
                self.p.push(
                    allowed_path,
                    "is required with a templated issuer: the tenant ids whose users may sign in, or [\"*\"] for every tenant",
                );
                return (None, trusted.unwrap_or_default());
            }
            Some([star]) if star == "*" => {
                self.warnings.push(Problem::new(
                    allowed_path,
                    "every Entra tenant's users may sign in: anyone can create a tenant, so only the mapping's rules stand between a stranger and your help center",
                ));
                entra::Allowed::Every
            }
            Some(list) => {
                let Some(ids) = self.tenant_ids(&allowed_path, Some(list), true) else {
                    return (None, trusted.unwrap_or_default());
                };
                entra::Allowed::Listed(ids)
            }
        };
        let trusted = trusted.unwrap_or_default();
        for (i, t) in trusted.iter().enumerate() {
            if !allowed.allows(t) {
                self.p.push(
                    format!("{path}.trust_upn_tenants[{i}]"),
                    format!("tenant {t} is not in allowed_tenants"),
                );
            }
        }
        (Some(entra::Tenants { v2, v1, allowed }), trusted)
    }

    /// A list of Entra tenant ids (lower-case GUIDs); `None` when absent or
    /// wrong. `"*"` is explained, as it is allowed only alone in
    /// `allowed_tenants`.
    fn tenant_ids(
        &mut self,
        path: &str,
        raw: Option<&[String]>,
        star_alone: bool,
    ) -> Option<Vec<String>> {
        let raw = raw?;
        if raw.is_empty() {
            self.p.push(
                path,
                "an empty list takes no tenant; remove the key instead",
            );
            return None;
        }
        let mut ok = true;
        for (i, t) in raw.iter().enumerate() {
            if t == "*" {
                ok = false;
                self.p.push(
                    format!("{path}[{i}]"),
                    if star_alone {
                        "\"*\" (every tenant) must be the list's only entry"
                    } else {
                        "must name tenants; \"*\" is not allowed here"
                    },
                );
            } else if !entra::is_tenant_id(t) {
                ok = false;
                self.p.push(
                    format!("{path}[{i}]"),
                    format!(
                        "must be a tenant id, a GUID in lower case like 72f988bf-86f1-41af-91ab-2d7cd011db47; found {:?}",
                        crate::source::clip(t, 64)
                    ),
                );
            }
        }
        ok.then(|| raw.to_vec())
    }

    /// `email_domains`: `acme.com` (that domain) or `*.acme.com` (its
    /// subdomains), lower-cased.
    pub(super) fn email_domains(&mut self, path: &str, raw: Option<&[String]>) -> Vec<String> {
        let Some(raw) = raw else { return Vec::new() };
        let out = self.host_list(
            &format!("{path}.email_domains"),
            raw,
            HostList::DomainsOrWildcards,
        );
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
    pub(super) fn source_detail(
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
                        self.warnings.push(Problem::new(
                            format!("{path}.insecure_emulator"),
                            "accepts UNSIGNED tokens from the Firebase Auth emulator: never in production",
                        ));
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
                self.warnings.push(Problem::new(
                    path.to_owned(),
                    "a dev source signs in anyone listed in its config without a password: never in production",
                ));
                SourceDetail::Dev {
                    users: out,
                    seed: seed?,
                    token_ttl,
                }
            }
            SourceKind::Session => SourceDetail::Session(self.session_detail(path, raw)?),
            SourceKind::Introspection => {
                SourceDetail::Introspection(self.introspection(path, raw)?)
            }
            SourceKind::ZendeskJwt => {
                let login_url = self
                    .required(path, "login_url", raw.login_url.as_ref())
                    .and_then(|u| self.url(&format!("{path}.login_url"), &u, Http::LoopbackOnly));
                let secret = self.secret(&format!("{path}.secret"), raw.secret.as_ref(), true);
                let keys = self.hmac_keys(&format!("{path}.secret"), &secret?, 32)?;
                SourceDetail::ZendeskJwt {
                    keys,
                    login_url: login_url?,
                }
            }
        })
    }

    pub(super) fn algorithms(
        &mut self,
        path: &str,
        raw: &RawSource,
        kind: SourceKind,
    ) -> Vec<Algorithm> {
        let symmetric =
            (kind == SourceKind::Jwt && raw.secret.is_some()) || kind == SourceKind::ZendeskJwt;
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

    /// A shared secret as a key set, when it has at least `need` bytes.
    fn hmac_keys(&mut self, path: &str, secret: &Secret, need: usize) -> Option<Arc<KeySet>> {
        if secret.expose().len() < need {
            self.p.push(
                path,
                format!(
                    "an HMAC secret must be at least {need} bytes (RFC 7518 §3.2: as long as the hash) so it cannot be guessed offline from one token; it has {}",
                    secret.expose().len()
                ),
            );
            return None;
        }
        Some(Arc::new(KeySet::from_secret(secret.expose().as_bytes())))
    }

    pub(super) fn jwt_keys(&mut self, path: &str, raw: &RawSource) -> Option<JwtKeys> {
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
            let keys = self.hmac_keys(&format!("{path}.secret"), &secret, need)?;
            return Some(JwtKeys::Static {
                keys,
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
}
