//! The trust model's last word before a token is signed: what a sign-in
//! asserts about a person must be something its source may assert.
//!
//! Zendesk finds a user by `external_id`, then by `email`, so a claim here
//! is an identity, not a detail. After the mapping and before the target's
//! own rules ([`crate::target::mint`]):
//! - **email**: an `email` reaches Zendesk only when its source vouches for
//!   it ([`EmailTrust`]): with `email_verified: true` (`oidc`, `firebase`,
//!   `dev`; when the token has an `email` claim, the mapped address must be
//!   that one), or unless the token says
//!   `email_verified: false` (`jwt`: a legacy app vouches for its users), or
//!   always with the source's explicit `trust_unverified_email = true`;
//!   or when it is the token's `upn` from a tenant in the source's
//!   `trust_upn_tenants` (Entra; never a guest's `#EXT#` UPN);
//! - **email domain**: inside the source's `email_domains`, when it has any;
//! - **role**: one of the target's `allowed_roles` (`admin` only when listed);
//! - **messaging**: a token carrying a vouched-for email also carries
//!   `email_verified: true`, which is how Zendesk learns the address is
//!   verified. No mapping can set it.
//!
//! Every refusal has its own `error_code` and a sentence that names the
//! claim, never its value's owner or the source's configuration.

use serde_json::{Map, Value};

use crate::config::{EmailTrust, SourceConfig, TargetConfig};
use crate::target::TargetKind;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TrustError {
    #[error("the email address is not verified: {0}")]
    EmailUnverified(&'static str),
    #[error("the email address's domain {domain} is not one this identity source may assert")]
    EmailDomainNotAllowed { domain: String },
    #[error("role {role:?} is not allowed for this target (allowed_roles: {allowed})")]
    RoleNotAllowed { role: String, allowed: String },
}

/// What the token says of its `email` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marked {
    Verified,
    Unverified,
    Unmarked,
}

fn marked(upstream: &Map<String, Value>) -> Marked {
    match upstream.get("email_verified") {
        None | Some(Value::Null) => Marked::Unmarked,
        // Some providers (Amazon Cognito among them) send it as a string.
        Some(Value::Bool(true)) => Marked::Verified,
        Some(Value::String(s)) if s == "true" => Marked::Verified,
        // `false`, "false", and anything else that is not a plain yes.
        Some(_) => Marked::Unverified,
    }
}

/// What the trust model found in claims it passed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trusted {
    /// The mapped `email` is one the source vouched for (not merely let
    /// through by `trust_unverified_email`): the only email that may key
    /// an identity link.
    pub email_vouched: bool,
}

/// Checks the mapped claims of a sign-in through `source` for `target`
/// against the trust model; adds `email_verified` for messaging.
pub fn check(
    source: &SourceConfig,
    target: &TargetConfig,
    upstream: &Map<String, Value>,
    mapped: &mut Map<String, Value>,
) -> Result<Trusted, TrustError> {
    let mut trusted = Trusted::default();
    if let Some(email) = mapped.get("email").and_then(Value::as_str) {
        let verified = upn_vouched(source, upstream, email)
            || email_vouched(source.email_trust, upstream, email)?;
        trusted.email_vouched = verified;
        if !source.email_domains.is_empty() {
            let domain = email
                .rsplit_once('@')
                .map(|(_, d)| d.to_ascii_lowercase())
                .unwrap_or_default();
            if !source
                .email_domains
                .iter()
                .any(|allowed| domain_matches(allowed, &domain))
            {
                let shown: String = domain.chars().take(64).collect();
                return Err(TrustError::EmailDomainNotAllowed {
                    domain: format!("{shown:?}"),
                });
            }
        }
        if target.kind == TargetKind::Messaging && verified {
            mapped.insert("email_verified".into(), Value::Bool(true));
        }
    }
    if target.kind.has_roles()
        && let Some(role) = mapped.get("role").and_then(Value::as_str)
        && !target.allowed_roles.iter().any(|r| r == role)
    {
        return Err(TrustError::RoleNotAllowed {
            role: role.to_owned(),
            allowed: target.allowed_roles.join(", "),
        });
    }
    Ok(trusted)
}

/// What [`check`] accepted in claims it passed, one line each, for
/// `explain`.
pub fn accepted(
    source: &SourceConfig,
    target: &TargetConfig,
    mapped: &Map<String, Value>,
) -> Vec<String> {
    let mut lines = Vec::new();
    if mapped.contains_key("email") {
        lines.push(format!(
            "email: accepted (source {:?} trusts {})",
            source.name,
            source.email_trust.as_str()
        ));
        if !source.email_domains.is_empty() {
            lines.push(format!(
                "email domain: in [{}]",
                source.email_domains.join(", ")
            ));
        }
    }
    if target.kind.has_roles()
        && let Some(role) = mapped.get("role")
    {
        lines.push(format!(
            "role {role}: in allowed_roles [{}]",
            target.allowed_roles.join(", ")
        ));
    }
    lines
}

/// Whether the mapped `email` is the token's `upn` in a tenant the source
/// lists in `trust_upn_tenants` (Entra: a UPN lies in a domain its tenant
/// has proven it owns, unlike the `email` claim any tenant admin sets).
fn upn_vouched(source: &SourceConfig, upstream: &Map<String, Value>, email: &str) -> bool {
    !source.trust_upn_tenants.is_empty()
        && crate::source::entra::trusted_upn(&source.trust_upn_tenants, upstream)
            .is_some_and(|upn| upn.eq_ignore_ascii_case(email))
}

/// Whether the source vouches for `email` (`Ok(true)`), lets it through
/// unvouched (`Ok(false)`, only with `trust_unverified_email`), or refuses.
fn email_vouched(
    trust: EmailTrust,
    upstream: &Map<String, Value>,
    email: &str,
) -> Result<bool, TrustError> {
    let mark = marked(upstream);
    // `email_verified` speaks of the token's `email` claim: when the token
    // has one, an address the mapping builds from other claims (Entra's
    // `upn`, say) is not what it vouches for. A token without `email`
    // (a legacy app's `mail`) has only the one address to speak of.
    let same = match upstream.get("email") {
        None => true,
        Some(Value::String(e)) => e.eq_ignore_ascii_case(email),
        Some(_) => false,
    };
    match trust {
        EmailTrust::Any => Ok(mark == Marked::Verified && same),
        EmailTrust::RequireVerified => match mark {
            Marked::Verified if same => Ok(true),
            Marked::Verified => Err(TrustError::EmailUnverified(
                "the mapped email is not the token's `email` claim, the address email_verified vouches for",
            )),
            Marked::Unverified => Err(TrustError::EmailUnverified(
                "the identity provider says email_verified is not true",
            )),
            Marked::Unmarked => Err(TrustError::EmailUnverified(
                "the token has no email_verified claim, and this source's emails count only when it is true",
            )),
        },
        EmailTrust::UnlessMarkedUnverified => match mark {
            Marked::Unverified => Err(TrustError::EmailUnverified(
                "the token says email_verified is not true",
            )),
            Marked::Verified | Marked::Unmarked => Ok(true),
        },
    }
}

/// `acme.com` matches that domain only; `*.acme.com` its subdomains.
fn domain_matches(allowed: &str, domain: &str) -> bool {
    match allowed.strip_prefix("*.") {
        Some(parent) => domain
            .strip_suffix(parent)
            .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
        None => allowed == domain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn email_verified_must_be_true_and_about_the_mapped_address() {
        let t = EmailTrust::RequireVerified;
        let ok = obj(json!({"email": "Ana@acme.com", "email_verified": true}));
        assert_eq!(email_vouched(t, &ok, "ana@acme.com"), Ok(true));
        let string_true = obj(json!({"email": "ana@acme.com", "email_verified": "true"}));
        assert_eq!(email_vouched(t, &string_true, "ana@acme.com"), Ok(true));
        for bad in [
            json!({"email": "ana@acme.com", "email_verified": false}),
            json!({"email": "ana@acme.com", "email_verified": "false"}),
            json!({"email": "ana@acme.com", "email_verified": 1}),
            json!({"email": "ana@acme.com"}),
            json!({"email": "eve@evil.com", "email_verified": true, "upn": "ana@acme.com"}),
        ] {
            assert!(
                email_vouched(t, &obj(bad.clone()), "ana@acme.com").is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn jwt_sources_refuse_only_an_explicit_unverified_mark() {
        let t = EmailTrust::UnlessMarkedUnverified;
        let absent = obj(json!({"email": "ana@acme.com"}));
        assert_eq!(email_vouched(t, &absent, "ana@acme.com"), Ok(true));
        let marked = obj(json!({"email": "ana@acme.com", "email_verified": false}));
        assert!(email_vouched(t, &marked, "ana@acme.com").is_err());
    }

    #[test]
    fn trusting_unverified_emails_never_claims_they_are_verified() {
        let t = EmailTrust::Any;
        let absent = obj(json!({"email": "ana@acme.com"}));
        assert_eq!(email_vouched(t, &absent, "ana@acme.com"), Ok(false));
        let verified = obj(json!({"email": "ana@acme.com", "email_verified": true}));
        assert_eq!(email_vouched(t, &verified, "ana@acme.com"), Ok(true));
    }

    #[test]
    fn a_token_without_an_email_claim_vouches_for_the_mapped_address() {
        let t = EmailTrust::RequireVerified;
        let legacy = obj(json!({"mail": "ana@acme.com", "email_verified": true}));
        assert_eq!(email_vouched(t, &legacy, "ana@acme.com"), Ok(true));
    }

    #[test]
    fn domains_match_exactly_or_as_subdomains_of_a_wildcard() {
        assert!(domain_matches("acme.com", "acme.com"));
        assert!(!domain_matches("acme.com", "eu.acme.com"));
        assert!(!domain_matches("acme.com", "evilacme.com"));
        assert!(domain_matches("*.acme.com", "eu.acme.com"));
        assert!(!domain_matches("*.acme.com", "acme.com"));
        assert!(!domain_matches("*.acme.com", "evilacme.com"));
        assert!(!domain_matches("*.acme.com", ".acme.com"));
    }
}
