//! Zendesk surfaces: one module per target kind with the claims that
//! surface requires, and the one signing function they share.
//!
//! A token Zendesk would refuse is never sent: [`mint`] checks the
//! surface's required claims and their shape before signing, so the caller
//! gets `claim_missing` or `claim_invalid` from us rather than an opaque
//! failure from Zendesk.

pub mod chat;
pub mod messaging;
pub mod sdk;
pub mod sign;
pub mod sso;

use serde_json::{Map, Value};

use crate::config::TargetConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Sso,
    Sdk,
    Messaging,
    Chat,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Sso => "sso",
            TargetKind::Sdk => "sdk",
            TargetKind::Messaging => "messaging",
            TargetKind::Chat => "chat",
        }
    }

    /// The claims the surface reads, with their types. A mapping may only
    /// produce these: a misspelt claim would be ignored by Zendesk without
    /// a word, so it is a config error instead.
    pub fn catalog(self) -> &'static [(&'static str, ClaimType)] {
        match self {
            TargetKind::Sso => sso::CLAIMS,
            TargetKind::Sdk => sdk::CLAIMS,
            TargetKind::Messaging => messaging::CLAIMS,
            TargetKind::Chat => chat::CLAIMS,
        }
    }

    /// The type of the surface's claim `name`, if it reads one.
    pub fn claim_type(self, name: &str) -> Option<ClaimType> {
        self.catalog()
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
    }

    /// Claims the surface refuses a token without (besides `iat`/`jti`,
    /// which zenbridge always sets).
    pub fn required_claims(self) -> &'static [&'static str] {
        match self {
            TargetKind::Sso => sso::REQUIRED,
            TargetKind::Sdk => sdk::REQUIRED,
            TargetKind::Messaging => messaging::REQUIRED,
            TargetKind::Chat => chat::REQUIRED,
        }
    }
}

/// The JSON type a Zendesk claim must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimType {
    String,
    /// A whole number: CEL `int`, `uint`, or a `double` with no fraction.
    Integer,
    /// `organization_id`: Zendesk's docs disagree, so both are passed on.
    IntegerOrString,
    StringList,
    Object,
    Bool,
    /// `end_user`, `agent` or `admin`; the older spellings `user` and
    /// `end-user` are rewritten to `end_user`.
    Role,
}

impl ClaimType {
    /// Whether Zendesk takes `v` (a JSON value, as in a token it
    /// receives) for a claim of this type. The sandbox asks this of a
    /// token; a mapping's results are converted to the type when computed
    /// (`crate::mapping::claims::coerce`), and a test checks that every
    /// converted value is accepted here.
    pub fn accepts(self, v: &Value) -> bool {
        let whole = |v: &Value| v.as_i64().is_some() || v.as_u64().is_some();
        match self {
            ClaimType::String => v.is_string(),
            ClaimType::Integer => whole(v),
            ClaimType::IntegerOrString => whole(v) || v.is_string(),
            ClaimType::StringList => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            ClaimType::Object => v.is_object(),
            ClaimType::Bool => v.is_boolean(),
            ClaimType::Role => v
                .as_str()
                .is_some_and(|r| matches!(r, "end_user" | "agent" | "admin" | "user" | "end-user")),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            ClaimType::String => "a string",
            ClaimType::Integer => "a whole number",
            ClaimType::IntegerOrString => "a whole number or a string",
            ClaimType::StringList => "a list of strings",
            ClaimType::Object => "a map",
            ClaimType::Bool => "a bool",
            ClaimType::Role => "one of \"end_user\", \"agent\", \"admin\"",
        }
    }
}

/// Claims zenbridge sets itself; a mapping for one is a config error.
/// `email_verified` (messaging) says what the trust model found, never
/// what a mapping claims (see `crate::trust`).
pub const OWNED: [&str; 5] = ["iat", "jti", "exp", "scope", "email_verified"];

/// The routes that can mint a target's token. Each target lists those
/// allowed (`endpoints`); one guard enforces the list, with `allowed_ips`,
/// on every one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// The browser sign-in (`/callback`, the dev login form).
    Browser,
    /// `POST /sdk/{target}/jwt`, called by Zendesk's servers.
    Sdk,
    /// `POST /exchange/{target}` with a bearer token.
    Exchange,
    /// `POST /token` (RFC 8693) with `audience` = the target.
    Token,
}

impl Endpoint {
    pub const ALL: [Endpoint; 4] = [
        Endpoint::Browser,
        Endpoint::Sdk,
        Endpoint::Exchange,
        Endpoint::Token,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Browser => "browser",
            Endpoint::Sdk => "sdk",
            Endpoint::Exchange => "exchange",
            Endpoint::Token => "token",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

impl TargetKind {
    /// The endpoints that mint for a target of this kind unless its
    /// `endpoints` says otherwise: a Zendesk web session only through the
    /// browser sign-in (state, nonce, PKCE and the IdP's own session), the
    /// SDK's token only for Zendesk's servers, messaging and chat tokens
    /// for apps.
    pub fn default_endpoints(self) -> &'static [Endpoint] {
        match self {
            TargetKind::Sso => &[Endpoint::Browser],
            TargetKind::Sdk => &[Endpoint::Sdk],
            TargetKind::Messaging | TargetKind::Chat => &[Endpoint::Exchange, Endpoint::Token],
        }
    }

    /// The endpoints a target of this kind may list at all: the browser
    /// sign-in ends in a form POST to Zendesk's `/access/jwt`, which only
    /// `sso` reads; the SDK endpoint answers Zendesk's SDK servers only.
    pub fn possible_endpoints(self) -> &'static [Endpoint] {
        match self {
            TargetKind::Sso => &[Endpoint::Browser, Endpoint::Exchange, Endpoint::Token],
            TargetKind::Sdk => &[Endpoint::Sdk, Endpoint::Exchange, Endpoint::Token],
            TargetKind::Messaging | TargetKind::Chat => &[Endpoint::Exchange, Endpoint::Token],
        }
    }

    /// Whether the surface reads a `role` claim (and so `allowed_roles`).
    pub fn has_roles(self) -> bool {
        matches!(self, TargetKind::Sso | TargetKind::Sdk)
    }
}

/// Zendesk's roles, as the mapping produces them (see `mapping::claims`).
pub const ROLES: [&str; 3] = ["end_user", "agent", "admin"];

/// Roles a target may assert unless its `allowed_roles` says otherwise:
/// Zendesk makes whoever arrives with `role: admin` an administrator, so
/// that takes an explicit line in the config.
pub const DEFAULT_ROLES: [&str; 2] = ["end_user", "agent"];

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum MintError {
    #[error(
        "Zendesk's {surface} surface requires the claim `{claim}`, and the mapping produced none"
    )]
    ClaimMissing {
        surface: &'static str,
        claim: String,
    },
    #[error("claim `{claim}` {detail}")]
    ClaimInvalid { claim: String, detail: String },
}

/// A signed token and what `explain` shows of it.
#[derive(Debug, Clone)]
pub struct Minted {
    pub jwt: String,
    pub payload: Map<String, Value>,
    /// Seconds the token is usable: `exp - iat`, or Zendesk's 3-minute `iat`
    /// window for surfaces without `exp`.
    pub expires_in: u64,
}

/// Zendesk accepts an `iat` within 3 minutes of its clock.
pub const IAT_WINDOW_SECS: u64 = 180;

/// Adds the claims zenbridge owns, checks the surface's rules, and signs.
pub fn mint(
    target: &TargetConfig,
    mapped: Map<String, Value>,
    now: i64,
) -> Result<Minted, MintError> {
    let payload = prepare(target, mapped, now)?;
    let jwt = target.signer.sign(&payload);
    let expires_in = match payload.get("exp").and_then(Value::as_i64) {
        Some(exp) => u64::try_from(exp - now).unwrap_or(0),
        None => IAT_WINDOW_SECS,
    };
    Ok(Minted {
        jwt,
        payload,
        expires_in,
    })
}

/// The payload that would be signed, after every check (for `explain`).
pub fn prepare(
    target: &TargetConfig,
    mut claims: Map<String, Value>,
    now: i64,
) -> Result<Map<String, Value>, MintError> {
    for &claim in target.kind.required_claims() {
        match claims.get(claim) {
            Some(Value::String(s)) if !s.trim().is_empty() => {}
            Some(Value::String(_)) => {
                return Err(MintError::ClaimInvalid {
                    claim: claim.into(),
                    detail: "must not be empty".into(),
                });
            }
            Some(_) => {}
            None => {
                return Err(MintError::ClaimMissing {
                    surface: target.kind.as_str(),
                    claim: claim.into(),
                });
            }
        }
    }
    if let Some(Value::String(email)) = claims.get("email") {
        check_email(email)?;
    }
    match target.kind {
        TargetKind::Sso | TargetKind::Sdk => sso::check_user_claims(&claims)?,
        TargetKind::Messaging => messaging::check(&claims)?,
        TargetKind::Chat => {}
    }
    claims.insert("iat".into(), Value::from(now));
    claims.insert("jti".into(), Value::from(sign::random_jti()));
    match target.kind {
        TargetKind::Sso | TargetKind::Sdk => {}
        TargetKind::Messaging => messaging::finish(target, &mut claims, now),
        TargetKind::Chat => chat::finish(target, &mut claims, now),
    }
    Ok(claims)
}

/// Whether Zendesk takes `email` as an address: a local part, a dotted
/// domain, no white space and no control character (a NUL or an escape
/// is in no address, and a NUL could end it early downstream:
/// `ada@evil.test\0@acme.com` passed `email_domains` as `acme.com`). The
/// sandbox asks the same.
pub fn looks_like_email(email: &str) -> bool {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

/// Zendesk refuses addresses without a local part and a domain; catching
/// it here gives the user a sentence instead of "Invalid JWT Request".
fn check_email(email: &str) -> Result<(), MintError> {
    if looks_like_email(email) {
        Ok(())
    } else {
        let shown: String = email.chars().take(64).collect();
        Err(MintError::ClaimInvalid {
            claim: "email".into(),
            detail: format!("must be an email address like name@example.com; found {shown:?}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::looks_like_email;

    /// An address with a NUL before an allowed domain passed
    /// `email_domains` (which reads the part after the last `@`) and was
    /// signed for Zendesk; so did escapes and DEL. None is an address.
    #[test]
    fn email_with_a_control_character_before_an_allowed_domain_is_refused_attack() {
        for bad in [
            "ada@evil.test\0@acme.com",
            "ada\u{1b}[2J@acme.com",
            "ada\u{7f}@acme.com",
            "ada@acme.com\u{85}",
        ] {
            assert!(!looks_like_email(bad), "{bad:?}");
        }
        assert!(looks_like_email("ada.lovelace+zendesk@acme.com"));
    }
}
