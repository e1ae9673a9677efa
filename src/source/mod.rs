//! Upstream identity sources: one module per kind behind the [`Kind`] trait,
//! and the verification every kind shares.
//!
//! [`Source::verify`] is the only way to get [`VerifiedClaims`]: it checks
//! the algorithm against the source's allow-list (never `none`, never HMAC
//! for a public-key source), finds the key by `kid` (one coalesced,
//! rate-limited refetch when the `kid` is unknown), checks the signature,
//! then `iss`, `aud`, `exp`, `nbf` and `iat` with the source's leeway, then
//! the kind's own rules (Firebase's `sub` and `auth_time`).

pub mod dev;
pub mod firebase;
pub mod jwt;
pub mod keys;
pub mod oidc;
pub mod unverified;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::config::{SourceConfig, SourceDetail};
use crate::upstream::{MAX_DOCUMENT, error_chain, read_capped, redact_url};
use keys::{Family, KeyCache, Keys};
pub use unverified::{UnverifiedToken, unverified_decode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Oidc,
    Firebase,
    Jwt,
    Dev,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Oidc => "oidc",
            SourceKind::Firebase => "firebase",
            SourceKind::Jwt => "jwt",
            SourceKind::Dev => "dev",
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
    #[error("the token says it was issued at {at}, {within} in the future (leeway {leeway})")]
    IssuedInFuture {
        at: String,
        within: String,
        leeway: String,
    },
    #[error("audience must be one of [{expected}]; the token has [{found}]")]
    AudienceMismatch { expected: String, found: String },
    #[error("the token has no `{claim}` claim; {why}")]
    ClaimMissing { claim: String, why: String },
    #[error("the token's `{claim}` claim {detail}")]
    ClaimInvalid { claim: String, detail: String },
    /// `detail` (URLs, the HTTP client's error chain) is for logs and
    /// `check --online`; the message clients see leaves it out.
    #[error("the keys of source {source_name:?} cannot be fetched right now; try again later")]
    UpstreamUnavailable { source_name: String, detail: String },
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
    /// The provider's metadata, for the browser flow (`oidc` only).
    pub provider: Option<Arc<oidc::Provider>>,
    /// The signing side of a `dev` source.
    pub dev: Option<Arc<dev::DevIssuer>>,
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
    let (keys, kind, provider, dev): (Keys, Box<dyn Kind>, _, _) = match &config.detail {
        SourceDetail::Oidc { discovery_url, .. } => {
            let provider = Arc::new(oidc::Provider::new(
                http.clone(),
                discovery_url.clone(),
                config.issuer.clone(),
                interval,
            ));
            (
                Keys::fetched(
                    &format!("oidc:{}", config.name),
                    discovery_url,
                    provider.clone(),
                    cache.clone(),
                    interval,
                ),
                Box::new(oidc::OidcKind),
                Some(provider),
                None,
            )
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
                None,
            )
        }
        SourceDetail::Jwt { keys } => (
            jwt::keys(&config.name, keys, http, cache, interval),
            Box::new(jwt::JwtKind),
            None,
            None,
        ),
        SourceDetail::Dev {
            users,
            seed,
            token_ttl,
        } => {
            let issuer = Arc::new(dev::DevIssuer::new(
                &config.name,
                &config.issuer,
                seed,
                users.clone(),
                *token_ttl,
            ));
            let keys = Keys::fixed(&format!("dev:{}", config.name), issuer.key_set());
            (keys, Box::new(dev::DevKind), None, Some(issuer))
        }
    };
    Source {
        config,
        keys,
        kind,
        provider,
        dev,
    }
}

/// Fetches a key document from a URL and parses it.
pub struct UrlFetcher {
    pub http: reqwest::Client,
    pub url: url::Url,
    pub parse: fn(&[u8]) -> Result<keys::KeySet, String>,
}

impl keys::Fetch for UrlFetcher {
    fn fetch(&self) -> futures_util::future::BoxFuture<'_, Result<keys::KeySet, String>> {
        Box::pin(async move {
            let (body, max_age) = get_bytes(&self.http, &self.url).await?;
            let mut set =
                (self.parse)(&body).map_err(|e| format!("{}: {e}", redact_url(&self.url)))?;
            set.max_age = Some(max_age);
            Ok(set)
        })
    }
}

/// GETs a document, refusing non-2xx answers and bodies over
/// [`MAX_DOCUMENT`] (read chunk by chunk: a huge chunked body is cut off,
/// not buffered). Errors name the URL redacted ([`redact_url`]).
pub async fn get_bytes(
    http: &reqwest::Client,
    url: &url::Url,
) -> Result<(bytes::Bytes, Duration), String> {
    let shown = || redact_url(url);
    let resp = http
        .get(url.clone())
        .send()
        .await
        .map_err(|e| format!("{}: {}", shown(), error_chain(e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!(
            "{}: expected a 2xx answer; the server answered HTTP {status}",
            shown()
        ));
    }
    let max_age = keys::max_age(resp.headers());
    let body = read_capped(resp, MAX_DOCUMENT)
        .await
        .map_err(|e| format!("{}: {e}", shown()))?;
    Ok((body, max_age))
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
                    found: token.alg.clone(),
                })?;
            note(&|| format!("algorithm: {alg:?} is allowed"));
            let kid = token.kid.as_deref();
            let keys = self.keys.get().await.map_err(|e| self.unavailable(e))?;
            let key = match keys.find(kid) {
                Some(k) => k.clone(),
                None => {
                    let keys = self
                        .keys
                        .refresh_for_unknown_kid()
                        .await
                        .map_err(|e| self.unavailable(e))?;
                    keys.find(kid)
                        .cloned()
                        .ok_or_else(|| VerifyError::KeyUnknown {
                            source_name: cfg.name.clone(),
                            kid: kid.map_or_else(
                                || "(none, and the key set has several keys)".into(),
                                str::to_owned,
                            ),
                            known: keys.kids().join(", "),
                        })?
                }
            };
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
                        .map(|k| format!(" (kid {k})"))
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
        check_standard(cfg, &claims, now, leeway, &mut note)?;
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

fn check_standard(
    cfg: &SourceConfig,
    claims: &Map<String, Value>,
    now: i64,
    leeway: i64,
    note: &mut dyn FnMut(&dyn Fn() -> String),
) -> Result<(), VerifyError> {
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if iss != cfg.issuer {
        return Err(VerifyError::IssuerUnknown {
            expected: cfg.issuer.clone(),
            found: iss.to_owned(),
        });
    }
    note(&|| format!("issuer: {iss}"));
    let found: Vec<&str> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !found.iter().any(|a| cfg.audiences.iter().any(|e| e == a)) {
        return Err(VerifyError::AudienceMismatch {
            expected: cfg.audiences.join(", "),
            found: found.join(", "),
        });
    }
    note(&|| format!("audience: [{}] accepted", found.join(", ")));
    let lw = || humantime::format_duration(Duration::from_secs(leeway.unsigned_abs())).to_string();
    let exp = time_claim(claims, "exp")?.ok_or_else(|| VerifyError::ClaimMissing {
        claim: "exp".into(),
        why: "only expiring tokens are accepted".into(),
    })?;
    if now > exp.saturating_add(leeway) {
        return Err(VerifyError::Expired {
            at: rfc3339(exp),
            ago: span(now - exp),
            leeway: lw(),
        });
    }
    if let Some(nbf) = time_claim(claims, "nbf")?
        && nbf > now.saturating_add(leeway)
    {
        return Err(VerifyError::NotYetValid {
            at: rfc3339(nbf),
            within: span(nbf - now),
            leeway: lw(),
        });
    }
    if let Some(iat) = time_claim(claims, "iat")?
        && iat > now.saturating_add(leeway)
    {
        return Err(VerifyError::IssuedInFuture {
            at: rfc3339(iat),
            within: span(iat - now),
            leeway: lw(),
        });
    }
    note(&|| {
        format!(
            "lifetime: expires {} (in {})",
            rfc3339(exp),
            span(exp - now)
        )
    });
    Ok(())
}

/// A NumericDate claim (RFC 7519: seconds, possibly fractional).
pub fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, VerifyError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            #[allow(clippy::cast_possible_truncation)]
            let v = n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.floor() as i64)
            });
            v.map(Some).ok_or_else(|| VerifyError::ClaimInvalid {
                claim: name.into(),
                detail: "is not a number of seconds".into(),
            })
        }
        Some(_) => Err(VerifyError::ClaimInvalid {
            claim: name.into(),
            detail: "must be a number of seconds".into(),
        }),
    }
}

pub fn rfc3339(t: i64) -> String {
    let t = u64::try_from(t).unwrap_or(0).min(253_402_300_799);
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t)).to_string()
}

fn span(secs: i64) -> String {
    humantime::format_duration(Duration::from_secs(secs.unsigned_abs())).to_string()
}
