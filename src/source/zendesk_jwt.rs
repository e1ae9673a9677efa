//! `zendesk_jwt`: a legacy app that already speaks Zendesk's JWT SSO
//! (Zendesk's "Enabling JWT single sign-on" and its published examples).
//! The app signs the person in its own way and sends the browser to
//! `{base}/access/jwt` with an HS256 JWT signed with a shared secret and
//! holding, often, only `iat`, `jti`, `email` and `name`: no `iss`, `aud`
//! or `exp`. zenbridge is that endpoint (`/sso/{target}/from/{source}`
//! stands where `https://{subdomain}.zendesk.com` was) and verifies as
//! Zendesk does:
//!
//! - HS256 only, with the source's `secret` (the source's algorithm
//!   allow-list; `none` is refused before any kind is asked);
//! - `iat` required, within the source's `leeway` (Zendesk's 3 minutes by
//!   default) either side of now; `exp` and `nbf` honoured when present;
//!   no `iss` or `aud` required;
//! - `jti` required (a string of at most [`MAX_JTI_CHARS`] characters):
//!   its one-time use is the caller's, in the state store
//!   ([`crate::sso::finish`]), so it holds across replicas;
//! - `email` and `name` required, non-empty strings, as Zendesk requires.
//!
//! Such a token is proof enough for an unsolicited sign-in (the app's own
//! "Help center" link), as it is for Zendesk. It is never a bearer
//! credential for apps: a `zendesk_jwt` source has no issuer to route by,
//! so `/sdk`, `/exchange` and `/token` never take its tokens.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use url::Url;

use super::keys::{KeySet, Keys};
use super::standard::{check_exp, check_not_future, rfc3339, span};
use super::{ECHO_VALUE_CHARS, Kind, VerifyError, clip};
use crate::config::{SourceConfig, SourceDetail};
use crate::mapping::Expression;

/// The longest `jti` accepted, in characters (Zendesk's examples use a
/// UUID or 32 hex digits).
pub const MAX_JTI_CHARS: usize = 255;

/// The app's side of the sign-in: where Zendesk would have sent the
/// browser to sign in (its remote login URL), and how long a token's
/// `jti` is remembered.
#[derive(Debug)]
pub struct LegacyApp {
    pub name: String,
    pub login_url: Url,
    /// Long enough to outlive every token the `iat` window accepts.
    pub replay_window: Duration,
}

impl LegacyApp {
    /// The app's login URL with Zendesk's parameters added: `return_to`,
    /// `brand_id`, `locale_id` (each already checked by the caller).
    pub fn login_url(&self, params: &[(&str, Option<&str>)]) -> Url {
        let mut url = self.login_url.clone();
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in params {
                if let Some(v) = v {
                    q.append_pair(k, v);
                }
            }
        }
        // `query_pairs_mut` leaves a bare `?` when nothing was added.
        if url.query() == Some("") {
            url.set_query(None);
        }
        url
    }
}

/// The source's secret as its only key, and the app it signs in through.
/// `None` for a config of another kind.
pub fn build(config: &SourceConfig) -> (Keys, Option<Arc<LegacyApp>>) {
    let label = format!("zendesk_jwt:{}", config.name);
    let SourceDetail::ZendeskJwt { keys, login_url } = &config.detail else {
        return (Keys::fixed(&label, Arc::new(KeySet::default())), None);
    };
    let leeway = config.leeway.as_secs();
    let app = LegacyApp {
        name: config.name.clone(),
        login_url: login_url.clone(),
        replay_window: Duration::from_secs(leeway.saturating_mul(2).saturating_add(60)),
    };
    (Keys::fixed(&label, keys.clone()), Some(Arc::new(app)))
}

pub struct ZendeskJwtKind;

impl Kind for ZendeskJwtKind {
    fn check_registered(
        &self,
        _cfg: &SourceConfig,
        claims: &Map<String, Value>,
        now: i64,
        leeway: i64,
        note: &mut dyn FnMut(&dyn Fn() -> String),
    ) -> Result<(), VerifyError> {
        let iat =
            check_not_future(claims, now, leeway)?.ok_or_else(|| VerifyError::ClaimMissing {
                claim: "iat".into(),
                why: "Zendesk's JWT SSO requires it (the time the token was made)".into(),
            })?;
        if now > iat.saturating_add(leeway) {
            return Err(VerifyError::IssuedTooLongAgo {
                at: rfc3339(iat),
                ago: span(now.saturating_sub(iat)),
                window: span(leeway),
            });
        }
        check_exp(claims, now, leeway)?;
        note(&|| format!("issued: {} (accepted for {})", rfc3339(iat), span(leeway)));
        jti(claims)?;
        note(&|| "jti: present (used once)".into());
        for claim in ["email", "name"] {
            match claims.get(claim) {
                Some(Value::String(s)) if !s.trim().is_empty() => {}
                None | Some(Value::Null) => {
                    return Err(VerifyError::ClaimMissing {
                        claim: claim.into(),
                        why: "Zendesk's JWT SSO requires it".into(),
                    });
                }
                Some(_) => {
                    return Err(VerifyError::ClaimInvalid {
                        claim: claim.into(),
                        detail: "must be a non-empty string".into(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The token's `jti`: a non-empty string of at most [`MAX_JTI_CHARS`].
pub fn jti(claims: &Map<String, Value>) -> Result<&str, VerifyError> {
    match claims.get("jti") {
        Some(Value::String(j)) if !j.is_empty() && j.chars().count() <= MAX_JTI_CHARS => Ok(j),
        Some(Value::String(j)) if !j.is_empty() => Err(VerifyError::ClaimInvalid {
            claim: "jti".into(),
            detail: format!(
                "must be at most {MAX_JTI_CHARS} characters; it has {}",
                j.chars().count()
            ),
        }),
        None | Some(Value::Null) => Err(VerifyError::ClaimMissing {
            claim: "jti".into(),
            why: "Zendesk's JWT SSO requires it, and each token is used once".into(),
        }),
        Some(other) => Err(VerifyError::ClaimInvalid {
            claim: "jti".into(),
            detail: format!(
                "must be a non-empty string; it is {}",
                clip(&other.to_string(), ECHO_VALUE_CHARS)
            ),
        }),
    }
}

/// A `zendesk_jwt` source's mapping by default: each claim Zendesk's JWT
/// SSO reads, as the app's token carries it (`external_id`,
/// `organization`, `tags`, `role`, `user_fields`, …; omitted when the token
/// has none), so that moving the app behind zenbridge changes nothing for
/// Zendesk. `email` and `name` keep the defaults every source has; a claim
/// the config maps is left as written. The trust model and the target's
/// rules (`allowed_roles`, Zendesk's types) still apply to what passes.
pub fn pass_through(claims: &mut BTreeMap<String, Arc<Expression>>) {
    for &(name, _) in crate::target::sso::CLAIMS {
        if name == "email" || name == "name" || claims.contains_key(name) {
            continue;
        }
        if let Ok(e) = Expression::compile(&format!("has(claims.{name}) ? claims.{name} : null")) {
            claims.insert(name.to_owned(), Arc::new(e));
        }
    }
}
