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
pub use unverified::{TokenType, TokenUse, UnverifiedToken, unverified_decode};

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
            found: clip(iss, ECHO_VALUE_CHARS).into_owned(),
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
            found: clip(&found.join(", "), ECHO_VALUE_CHARS).into_owned(),
        });
    }
    note(&|| format!("audience: [{}] accepted", found.join(", ")));
    let lw = || humantime::format_duration(Duration::from_secs(leeway.unsigned_abs())).to_string();
    let exp = time_claim(claims, "exp")?.ok_or_else(|| VerifyError::ClaimMissing {
        claim: "exp".into(),
        why: "only expiring tokens are accepted".into(),
    })?;
    // Token times are the caller's: every sum and difference saturates
    // (`time_claim` already bounds them, this keeps it so if it changes).
    if now > exp.saturating_add(leeway) {
        return Err(VerifyError::Expired {
            at: rfc3339(exp),
            ago: span(now.saturating_sub(exp)),
            leeway: lw(),
        });
    }
    if let Some(nbf) = time_claim(claims, "nbf")?
        && nbf > now.saturating_add(leeway)
    {
        return Err(VerifyError::NotYetValid {
            at: rfc3339(nbf),
            within: span(nbf.saturating_sub(now)),
            leeway: lw(),
        });
    }
    if let Some(iat) = time_claim(claims, "iat")?
        && iat > now.saturating_add(leeway)
    {
        return Err(VerifyError::IssuedInFuture {
            at: rfc3339(iat),
            within: span(iat.saturating_sub(now)),
            leeway: lw(),
        });
    }
    note(&|| {
        format!(
            "lifetime: expires {} (in {})",
            rfc3339(exp),
            span(exp.saturating_sub(now))
        )
    });
    Ok(())
}

/// The latest time a token may name: 9999-12-31T23:59:59Z, the last
/// second RFC 3339 can write.
pub const MAX_TIME: i64 = 253_402_300_799;

/// A NumericDate claim (RFC 7519: seconds since 1970, possibly
/// fractional), as whole seconds in `0..=`[`MAX_TIME`]. Anything else (a
/// negative time, a year past 9999, a float beyond `i64`, a string) is
/// refused, so the times the checks subtract are small enough never to
/// overflow.
pub fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, VerifyError> {
    let invalid = |detail: String| VerifyError::ClaimInvalid {
        claim: name.into(),
        detail,
    };
    let range = || format!("0 to {MAX_TIME} (the year 9999)");
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            let secs = if let Some(i) = n.as_i64() {
                Some(i)
            } else if n.is_u64() {
                None
            } else {
                // `as` saturates, and the range test below refuses what it
                // saturated; NaN and infinities are not JSON numbers, but
                // are refused too.
                #[allow(clippy::cast_possible_truncation)]
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.floor() as i64)
            };
            match secs {
                Some(t) if (0..=MAX_TIME).contains(&t) => Ok(Some(t)),
                Some(t) if t < 0 => Err(invalid(format!(
                    "must be a time in seconds from {}; it is negative",
                    range()
                ))),
                _ => Err(invalid(format!(
                    "must be a time in seconds from {}; it is larger",
                    range()
                ))),
            }
        }
        Some(_) => Err(invalid(
            "must be a number of seconds; it is not a number".into(),
        )),
    }
}

pub fn rfc3339(t: i64) -> String {
    let t = u64::try_from(t.clamp(0, MAX_TIME)).unwrap_or(0);
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t)).to_string()
}

fn span(secs: i64) -> String {
    humantime::format_duration(Duration::from_secs(secs.unsigned_abs())).to_string()
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::*;
    use crate::error::ErrorCode;

    const LEGACY_ISS: &str = "https://legacy.test";
    const LEGACY_SECRET: &str = "legacy-secret-0123456789abcdef0123456789";
    const NOW: i64 = 1_800_000_000;

    /// A `jwt` source with an HS256 secret (`legacy`) and a `dev` source
    /// whose one key has a `kid` (`demo`).
    fn sources() -> (Source, Source) {
        let text = format!(
            r#"
[server]
listen = "127.0.0.1:1"
public_url = "http://127.0.0.1:1"
cookie_key = "unit-test-cookie-key-0123456789abcdef0123"

[[source]]
name = "legacy"
kind = "jwt"
issuer = "{LEGACY_ISS}"
secret = "{LEGACY_SECRET}"
audiences = ["zendesk"]

[[source]]
name = "demo"
kind = "dev"
seed = "unit-test-seed-0123456789"

[[source.users]]
id = "ada"
email = "ada@example.com"

[[target]]
name = "mobile"
kind = "sdk"
secret = "sdk-secret-0123456789abcdef"
sources = ["legacy", "demo"]
"#
        );
        let cfg = crate::config::load_str(&text, None).unwrap_or_else(|p| panic!("{p}"));
        let (http, cache) = (reqwest::Client::new(), KeyCache::default());
        (
            build(cfg.sources[0].clone(), &http, &cache),
            build(cfg.sources[1].clone(), &http, &cache),
        )
    }

    /// A token with any header and claims, HS256-signed with the legacy
    /// secret (whatever the header's `alg` says).
    fn signed(header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, LEGACY_SECRET.as_bytes());
        let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Honest legacy claims, with `extra` set over them.
    fn claims(extra: &Value) -> Value {
        let mut c = json!({
            "iss": LEGACY_ISS, "aud": "zendesk", "sub": "u-1", "email": "a@b.co",
            "iat": NOW, "exp": NOW + 600,
        });
        if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(extra.clone());
        }
        c
    }

    async fn verify(source: &Source, token: &str) -> Result<VerifiedClaims, VerifyError> {
        source
            .verify(unverified_decode(token, 1 << 20)?, NOW, None)
            .await
    }

    #[test]
    fn clip_cuts_at_a_character_not_a_byte() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "abc…");
        assert_eq!(clip("ééééé", 2), "éé…");
        assert_eq!(clip("", 0), "");
    }

    #[tokio::test]
    async fn hostile_token_times_are_refused_with_claim_invalid_never_a_panic() {
        let (legacy, _) = sources();
        let hostile = [
            json!(9_000_000_000_000_000_000_i64),
            json!(-9_000_000_000_000_000_000_i64),
            json!(i64::MAX),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(1e300),
            json!(-1e300),
            json!(9.3e18),
            json!(-9.3e18),
            json!(-1),
            json!(-0.5),
            json!(MAX_TIME + 1),
            json!("1800000000"),
            json!(null),
        ];
        for name in ["exp", "nbf", "iat"] {
            for value in &hostile {
                let token = signed(&json!({"alg": "HS256"}), &claims(&json!({ name: value })));
                let err = verify(&legacy, &token).await.unwrap_err();
                assert_eq!(
                    err.code(),
                    ErrorCode::ClaimInvalid,
                    "{name} = {value}: {err}"
                );
                assert!(err.to_string().len() < 200, "{err}");
            }
        }
        // In range, fractional and extreme times are read, not refused.
        for (extra, code) in [
            (json!({"exp": 1_800_000_600.5}), None),
            (json!({"exp": MAX_TIME, "iat": 0, "nbf": 0}), None),
            (json!({"exp": 0}), Some(ErrorCode::TokenExpired)),
            (json!({"nbf": MAX_TIME}), Some(ErrorCode::TokenNotYetValid)),
            (
                json!({"iat": MAX_TIME}),
                Some(ErrorCode::TokenIssuedInFuture),
            ),
        ] {
            let token = signed(&json!({"alg": "HS256"}), &claims(&extra));
            let got = verify(&legacy, &token)
                .await
                .map(|_| ())
                .map_err(|e| e.code());
            assert_eq!(got.err(), code, "{extra}");
        }
    }

    #[test]
    fn hostile_firebase_auth_time_is_refused_never_a_panic() {
        let kind = firebase::FirebaseKind {
            insecure_emulator: false,
        };
        let honest = json!({"sub": "uid", "iat": NOW});
        for value in [
            json!(i64::MAX),
            json!(i64::MIN),
            json!(1e300),
            json!(-1e300),
            json!(-1),
        ] {
            let mut c = honest.as_object().cloned().unwrap_or_default();
            c.insert("auth_time".into(), value.clone());
            let err = kind.check_claims(&c, NOW, 60).unwrap_err();
            assert_eq!(err.code(), ErrorCode::ClaimInvalid, "{value}: {err}");
        }
        let mut c = honest.as_object().cloned().unwrap_or_default();
        c.insert("auth_time".into(), json!(MAX_TIME));
        assert_eq!(
            kind.check_claims(&c, NOW, i64::MAX),
            Ok(()),
            "a leeway of i64::MAX saturates"
        );
        let err = kind.check_claims(&c, NOW, 60).unwrap_err();
        assert_eq!(err.code(), ErrorCode::TokenIssuedInFuture, "{err}");
    }

    #[tokio::test]
    async fn a_ten_kilobyte_kid_or_alg_is_echoed_cut_to_64_characters() {
        let (legacy, demo) = sources();
        let huge = "k".repeat(10 * 1024);
        let demo_claims = json!({
            "iss": dev::issuer("demo"), "aud": dev::AUDIENCE, "sub": "ada", "exp": NOW + 60,
        });
        let token = signed(&json!({"alg": "EdDSA", "kid": huge}), &demo_claims);
        let err = verify(&demo, &token).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::KeyUnknown, "{err}");
        let text = err.to_string();
        assert!(
            text.contains(&format!("kid {}…;", "k".repeat(64))),
            "{text}"
        );
        assert!(text.len() < 200, "{} bytes: {text}", text.len());

        let token = signed(&json!({"alg": huge}), &claims(&json!({})));
        let err = verify(&legacy, &token).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::AlgorithmNotAllowed, "{err}");
        assert!(err.to_string().len() < 200, "{err}");

        let token = signed(&json!({"alg": "HS256", "typ": huge}), &claims(&json!({})));
        let err = verify(&legacy, &token).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::TokenTypeMismatch, "{err}");
        assert!(err.to_string().len() < 250, "{err}");

        let aud: Vec<String> = (0..500).map(|i| format!("aud-{i}")).collect();
        let token = signed(&json!({"alg": "HS256"}), &claims(&json!({ "aud": aud })));
        let err = verify(&legacy, &token).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::AudienceMismatch, "{err}");
        assert!(err.to_string().len() < 200, "{err}");
    }

    #[tokio::test]
    async fn a_signed_access_token_logout_token_or_security_event_never_passes_as_an_id_token() {
        let (legacy, _) = sources();
        let honest = claims(&json!({}));
        for typ in ["JWT", "jwt", "application/JWT", "JOSE"] {
            let token = signed(&json!({"alg": "HS256", "typ": typ}), &honest);
            verify(&legacy, &token)
                .await
                .unwrap_or_else(|e| panic!("{typ}: {e}"));
        }
        for typ in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "logout+jwt",
            "secevent+jwt",
            "dpop+jwt",
            "JWE",
            "token-introspection+jwt",
            "",
        ] {
            let token = signed(&json!({"alg": "HS256", "typ": typ}), &honest);
            let err = verify(&legacy, &token).await.unwrap_err();
            assert_eq!(err.code(), ErrorCode::TokenTypeMismatch, "{typ}: {err}");
            assert!(err.to_string().starts_with("an ID token"), "{err}");
        }
        let logout = claims(&json!({
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
            "sid": "s-1",
        }));
        for header in [
            json!({"alg": "HS256"}),
            json!({"alg": "HS256", "typ": "JWT"}),
        ] {
            let err = verify(&legacy, &signed(&header, &logout))
                .await
                .unwrap_err();
            assert_eq!(err.code(), ErrorCode::TokenTypeMismatch, "{err}");
            assert!(err.to_string().contains("`events`"), "{err}");
        }
        let not_a_string = signed(&json!({"alg": "HS256", "typ": 1}), &honest);
        let err = verify(&legacy, &not_a_string).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::TokenMalformed, "{err}");

        // Taken as an access token (`/token` with subject_token_type
        // access_token), at+jwt passes; other kinds still do not.
        for (typ, passes) in [("at+jwt", true), ("JWT", true), ("logout+jwt", false)] {
            let token = signed(&json!({"alg": "HS256", "typ": typ}), &honest);
            let parsed = unverified_decode(&token, 1 << 20)
                .unwrap()
                .presented_as(TokenUse::AccessToken);
            assert_eq!(parsed.is_access_token(), typ == "at+jwt");
            let got = legacy.verify(parsed, NOW, None).await;
            assert_eq!(got.is_ok(), passes, "{typ}: {got:?}");
        }
    }
}
