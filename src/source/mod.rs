//! Upstream identity sources: one module per kind behind the [`Kind`] trait,
//! and the verification every kind shares.
//!
//! [`Source::verify`] is the only way to get [`VerifiedClaims`]: it first
//! checks the token is of the kind the caller takes (an ID token unless
//! told otherwise: never an `at+jwt` access token, a logout token or
//! another kind of JWT; see [`unverified`]), then the algorithm against
//! the source's allow-list (never `none`, never HMAC for a public-key
//! source), finds the key by `kid` (one coalesced, rate-limited refetch
//! when the `kid` is unknown), checks the signature, then `iss`, `aud`,
//! `exp`, `nbf` and `iat` with the source's leeway, then the kind's own
//! rules (Firebase's `sub` and `auth_time`).
//!
//! Everything in a token is the caller's, so: times are whole seconds from
//! 1970 to the year 9999 ([`time_claim`]) and are compared with saturating
//! arithmetic (no value overflows, in debug or release); header values
//! (`kid`, `alg`, `typ`) are echoed in messages cut to
//! [`ECHO_HEADER_CHARS`], other values to [`ECHO_VALUE_CHARS`], by
//! [`clip`].

pub mod dev;
pub mod entra;
mod fetch;
pub mod firebase;
pub mod introspection;
pub mod jwt;
pub mod keys;
pub mod oidc;
pub mod opaque;
pub mod session;
mod standard;
pub mod unverified;
pub mod zendesk_jwt;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::config::{SourceConfig, SourceDetail};
pub use fetch::{UrlFetcher, get_bytes};
use keys::{Family, KeyCache, Keys};
pub use opaque::Opaque;
use standard::check_standard;
pub use standard::{MAX_TIME, rfc3339, time_claim};
pub use unverified::{
    TokenType, TokenUse, UnverifiedParts, UnverifiedToken, unverified_decode, unverified_parts,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Oidc,
    Firebase,
    Jwt,
    Dev,
    Session,
    Introspection,
    ZendeskJwt,
}

impl SourceKind {
    pub const ALL: [SourceKind; 7] = [
        SourceKind::Oidc,
        SourceKind::Firebase,
        SourceKind::Jwt,
        SourceKind::Dev,
        SourceKind::Session,
        SourceKind::Introspection,
        SourceKind::ZendeskJwt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Oidc => "oidc",
            SourceKind::Firebase => "firebase",
            SourceKind::Jwt => "jwt",
            SourceKind::Dev => "dev",
            SourceKind::Session => "session",
            SourceKind::Introspection => "introspection",
            SourceKind::ZendeskJwt => "zendesk_jwt",
        }
    }
}

/// Why an upstream token was refused. Messages say what was expected and
/// what was found, and never hold the token or its whole claim set.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the token is {len} bytes; at most {max} are accepted")]
    TooLarge { len: usize, max: usize },
    #[error("the token is malformed: {0}")]
    Malformed(String),
    #[error("{expected} is expected; the token has {found}")]
    TokenTypeMismatch { expected: String, found: String },
    #[error("issuer must be one of [{expected}]; the token has {found}")]
    IssuerUnknown { expected: String, found: String },
    #[error(
        "the token's issuer {issuer} (source {source_name:?}) is not accepted by target {target:?}; it accepts [{expected}]"
    )]
    IssuerNotAllowed {
        issuer: String,
        source_name: String,
        target: String,
        expected: String,
    },
    #[error("algorithm must be one of [{allowed}]; the token has {found}")]
    AlgorithmNotAllowed { allowed: String, found: String },
    #[error("no key of source {source_name:?} has kid {kid}; known kids: [{known}]")]
    KeyUnknown {
        source_name: String,
        kid: String,
        known: String,
    },
    #[error("the signature does not verify with the key of source {source_name:?}{kid}")]
    SignatureInvalid { source_name: String, kid: String },
    #[error("the token expired at {at} ({ago} ago; leeway {leeway})")]
    Expired {
        at: String,
        ago: String,
        leeway: String,
    },
    #[error("the token is not valid before {at} ({within} from now; leeway {leeway})")]
    NotYetValid {
        at: String,
        within: String,
        leeway: String,
    },
    /// A token good for a window after its `iat` only (Zendesk's JWT SSO).
    #[error("the token was issued at {at}, {ago} ago; it is accepted for {window} after its iat")]
    IssuedTooLongAgo {
        at: String,
        ago: String,
        window: String,
    },
    #[error("the token says it was issued at {at}, {within} in the future (leeway {leeway})")]
    IssuedInFuture {
        at: String,
        within: String,
        leeway: String,
    },
    #[error("client_id must be one of [{expected}]; the token was issued to {found}")]
    ClientNotAllowed { expected: String, found: String },
    #[error("audience must be one of [{expected}]; the token has [{found}]")]
    AudienceMismatch { expected: String, found: String },
    #[error("the token has no `{claim}` claim; {why}")]
    ClaimMissing { claim: String, why: String },
    #[error("the token's `{claim}` claim {detail}")]
    ClaimInvalid { claim: String, detail: String },
    #[error(
        "the token comes from tenant {tenant}, which is not one of this source's allowed_tenants"
    )]
    TenantNotAllowed { tenant: String },
    /// No source asked knows the (opaque) token as active: unknown,
    /// expired or revoked ([`opaque`]).
    #[error("the token is not active at {sources} (unknown, expired or revoked){detail}")]
    Inactive { sources: String, detail: String },
    /// `detail` (URLs, the HTTP client's error chain) is for logs and
    /// `check --online`; the message clients see leaves it out.
    #[error("the keys of source {source_name:?} cannot be fetched right now; try again later")]
    UpstreamUnavailable { source_name: String, detail: String },
    /// An opaque source's endpoint is down, slow or answers nonsense
    /// ([`opaque`]); `detail` as above.
    #[error("source {source_name:?} cannot check the token right now; try again later")]
    CheckUnavailable { source_name: String, detail: String },
}

/// Claims whose token has passed [`Source::verify`]. The field is private:
/// no other code can make one.
#[derive(Debug, Clone)]
pub struct VerifiedClaims {
    claims: Map<String, Value>,
    pub kid: Option<String>,
    pub alg: String,
}

impl VerifiedClaims {
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    pub fn subject(&self) -> Option<&str> {
        self.claims.get("sub").and_then(Value::as_str)
    }
}

/// What differs between kinds beyond their keys.
pub trait Kind: Send + Sync {
    /// The registered claims' checks (`iss`, `aud`, `exp`, `nbf`, `iat`):
    /// by default the ones every ID token passes ([`standard`]).
    fn check_registered(
        &self,
        cfg: &SourceConfig,
        claims: &Map<String, Value>,
        now: i64,
        leeway: i64,
        note: &mut dyn FnMut(&dyn Fn() -> String),
    ) -> Result<(), VerifyError> {
        check_standard(cfg, claims, now, leeway, note)
    }

    /// Checks the kind adds after the common ones.
    fn check_claims(
        &self,
        _claims: &Map<String, Value>,
        _now: i64,
        _leeway: i64,
    ) -> Result<(), VerifyError> {
        Ok(())
    }

    /// Whether unsigned (`alg: none`) tokens are accepted: only the Firebase
    /// Auth emulator, and only with `insecure_emulator = true`.
    fn accepts_unsigned(&self) -> bool {
        false
    }
}

/// A configured source, ready to verify.
pub struct Source {
    pub config: Arc<SourceConfig>,
    pub keys: Keys,
    kind: Box<dyn Kind>,
    /// How a person signs in through this source in a browser, when one
    /// can; built by the kind's own module.
    pub sign_in: Option<SignIn>,
    /// How this source checks tokens that are not JWTs, when it does
    /// ([`opaque`]); such a source has no keys and is never picked by `iss`.
    pub opaque: Option<Arc<dyn Opaque>>,
}

/// A source's browser sign-in capability, one variant per way of signing
/// in (its `start` and `finish` are in [`crate::sso::signin`], which the
/// HTTP handlers call without knowing the variant).
pub enum SignIn {
    /// The OpenID Connect authorization-code flow, as this relying party.
    Oidc(Arc<oidc::RelyingParty>),
    /// A `dev` source's user list, whose chosen user it signs a token for.
    Dev(Arc<dev::DevIssuer>),
    /// A legacy app's login form and session check (`session`).
    Session(Arc<session::SessionCheck>),
    /// A legacy app that speaks Zendesk's JWT SSO: its login URL, and the
    /// one-time JWT it sends to `…/access/jwt`.
    ZendeskJwt(Arc<zendesk_jwt::LegacyApp>),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("name", &self.config.name)
            .finish_non_exhaustive()
    }
}

/// Builds the runtime side of a source.
pub fn build(config: Arc<SourceConfig>, http: &reqwest::Client, cache: &KeyCache) -> Source {
    let interval = config.key_refresh_interval;
    let mut opaque = introspection::build(&config, http);
    let (keys, kind, sign_in): (Keys, Box<dyn Kind>, _) = match &config.detail {
        SourceDetail::Oidc { .. } => {
            let (keys, rp) = oidc::build(&config, http, cache);
            (keys, Box::new(oidc::OidcKind), rp.map(SignIn::Oidc))
        }
        SourceDetail::Firebase {
            keys_url,
            insecure_emulator,
            ..
        } => {
            let fetch = Arc::new(UrlFetcher {
                http: http.clone(),
                url: keys_url.clone(),
                parse: keys::KeySet::from_firebase_json,
            });
            let kind = firebase::FirebaseKind {
                insecure_emulator: *insecure_emulator,
            };
            (
                Keys::fetched(
                    &format!("firebase:{}", config.name),
                    keys_url,
                    fetch,
                    cache.clone(),
                    interval,
                ),
                Box::new(kind),
                None,
            )
        }
        SourceDetail::Jwt { keys } => (
            jwt::keys(&config.name, keys, http, cache, interval),
            Box::new(jwt::JwtKind),
            None,
        ),
        SourceDetail::Dev { .. } => {
            let (keys, issuer) = dev::build(&config);
            (keys, Box::new(dev::DevKind), issuer.map(SignIn::Dev))
        }
        SourceDetail::Session(s) => {
            let check = session::build(&config);
            if let Some(c) = &check {
                opaque = Some(c.clone());
            }
            let sign_in = check.filter(|_| s.login_url.is_some()).map(SignIn::Session);
            (
                Keys::fixed(
                    &format!("session:{}", config.name),
                    Arc::new(keys::KeySet::default()),
                ),
                Box::new(session::SessionKind),
                sign_in,
            )
        }
        // Checked by `opaque`: no keys.
        SourceDetail::Introspection(_) => (
            Keys::fixed(&format!("introspection:{}", config.name), Arc::default()),
            Box::new(introspection::IntrospectionKind),
            None,
        ),
        SourceDetail::ZendeskJwt { .. } => {
            let (keys, app) = zendesk_jwt::build(&config);
            (
                keys,
                Box::new(zendesk_jwt::ZendeskJwtKind),
                app.map(SignIn::ZendeskJwt),
            )
        }
    };
    Source {
        config,
        keys,
        kind,
        sign_in,
        opaque,
    }
}

/// Longest header value (`kid`, `alg`, `typ`) a message echoes, in
/// characters: headers are the caller's, and messages reach the JSON error
/// body and the `WWW-Authenticate` header.
pub const ECHO_HEADER_CHARS: usize = 64;

/// Longest other untrusted value (an issuer, an audience list) a message
/// echoes, in characters.
pub const ECHO_VALUE_CHARS: usize = 100;

/// `s` cut to at most `max` characters, with `…` when cut: the one way an
/// untrusted value is shortened before a message echoes it.
pub fn clip(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]).into(),
        None => s.into(),
    }
}

pub fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
    .unwrap_or(i64::MAX)
}

impl Source {
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Verifies a token routed to this source. `trace` collects one line per
    /// passed check, for `explain`.
    pub async fn verify(
        &self,
        token: UnverifiedToken<'_>,
        now: i64,
        mut trace: Option<&mut Vec<String>>,
    ) -> Result<VerifiedClaims, VerifyError> {
        let cfg = &self.config;
        // Lines are only formatted when someone reads them (`explain`).
        let mut note = |line: &dyn Fn() -> String| {
            if let Some(t) = trace.as_deref_mut() {
                t.push(line());
            }
        };
        let leeway = i64::try_from(cfg.leeway.as_secs()).unwrap_or(300);
        token.check_use()?;
        let allowed = || {
            cfg.algorithms
                .iter()
                .map(|a| format!("{a:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if token.alg == "none" {
            if !self.kind.accepts_unsigned() {
                return Err(VerifyError::AlgorithmNotAllowed {
                    allowed: allowed(),
                    found: "none".into(),
                });
            }
            note(&|| "signature: NOT CHECKED (alg none, insecure_emulator = true)".into());
        } else {
            let alg = token
                .alg
                .parse::<Algorithm>()
                .ok()
                .filter(|a| cfg.algorithms.contains(a))
                .ok_or_else(|| VerifyError::AlgorithmNotAllowed {
                    allowed: allowed(),
                    found: clip(&token.alg, ECHO_HEADER_CHARS).into_owned(),
                })?;
            note(&|| format!("algorithm: {alg:?} is allowed"));
            let kid = token.kid.as_deref();
            let found = self.keys.find(kid).await.map_err(|e| self.unavailable(e))?;
            let key = found.map_err(|keys| VerifyError::KeyUnknown {
                source_name: cfg.name.clone(),
                kid: kid.map_or_else(
                    || "(none, and the key set has several keys)".into(),
                    |k| clip(k, ECHO_HEADER_CHARS).into_owned(),
                ),
                known: keys.kids().join(", "),
            })?;
            if key.alg.is_some_and(|ka| ka != alg) || key.family != Family::of(alg) {
                let key_alg = key
                    .alg
                    .map_or_else(|| format!("{:?} keys", key.family), |a| format!("{a:?}"));
                return Err(VerifyError::AlgorithmNotAllowed {
                    allowed: key_alg,
                    found: format!("{alg:?}"),
                });
            }
            if !key.verify(alg, token.signing_input.as_bytes(), token.signature) {
                return Err(VerifyError::SignatureInvalid {
                    source_name: cfg.name.clone(),
                    kid: key
                        .kid
                        .as_ref()
                        .map(|k| format!(" (kid {})", clip(k, ECHO_HEADER_CHARS)))
                        .unwrap_or_default(),
                });
            }
            note(&|| {
                format!(
                    "signature: valid ({alg:?}{})",
                    key.kid
                        .as_ref()
                        .map(|k| format!(", kid {k}"))
                        .unwrap_or_default()
                )
            });
        }
        let claims = token.unverified_claims;
        self.kind
            .check_registered(cfg, &claims, now, leeway, &mut note)?;
        self.kind.check_claims(&claims, now, leeway)?;
        Ok(VerifiedClaims {
            claims,
            kid: token.kid,
            alg: token.alg,
        })
    }

    fn unavailable(&self, e: keys::Unavailable) -> VerifyError {
        VerifyError::UpstreamUnavailable {
            source_name: self.config.name.clone(),
            detail: e.0,
        }
    }
}

#[cfg(test)]
mod tests;
