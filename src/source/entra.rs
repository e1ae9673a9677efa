//! Microsoft Entra ID multi-tenant sources: an `oidc` source whose
//! `issuer` is Entra's template `https://login.microsoftonline.com/{tenantid}/v2.0`,
//! as the `common` and `organizations` discovery documents state it.
//!
//! Such a source accepts a token when:
//! - its `iss` is the template with a tenant id (a lower-case GUID) in
//!   place of `{tenantid}` — or the v1 form, `https://sts.windows.net/{tenantid}/`
//!   (`v1_issuer`, derived for Microsoft's own host);
//! - its `tid` claim names the same tenant (Microsoft's rule for
//!   multi-tenant apps: the issuer alone is a string anyone's tenant
//!   produces, the pair is what the signature binds);
//! - that tenant is one of `allowed_tenants` (`"*"`: every tenant, which
//!   `check` warns about).
//!
//! Entra's `email` claim is an attribute any tenant's admin can set to any
//! address, unverified (the "nOAuth" takeover); with no `email_verified`
//! claim, the trust model refuses it ([`crate::trust`]). A source may
//! instead take the `upn` of tenants it names in `trust_upn_tenants`: a
//! UPN lies in a domain its tenant has proven it owns.

use serde_json::{Map, Value};

use super::{ECHO_VALUE_CHARS, VerifyError, clip};

/// The placeholder Entra's discovery documents put in their issuer.
pub const PLACEHOLDER: &str = "{tenantid}";

/// Entra's own v2 issuer template, whose v1 form is [`MICROSOFT_V1`].
pub const MICROSOFT_V2: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
pub const MICROSOFT_V1: &str = "https://sts.windows.net/{tenantid}/";

/// An issuer with one `{tenantid}` in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    prefix: String,
    suffix: String,
}

impl Template {
    /// `None` unless `issuer` holds the placeholder exactly once.
    pub fn parse(issuer: &str) -> Option<Self> {
        let (prefix, suffix) = issuer.split_once(PLACEHOLDER)?;
        if suffix.contains(PLACEHOLDER) {
            return None;
        }
        Some(Self {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        })
    }

    /// The tenant id `iss` names in this template's place, when it has the
    /// template's shape around a GUID.
    pub fn tenant_of<'i>(&self, iss: &'i str) -> Option<&'i str> {
        let tid = iss
            .strip_prefix(self.prefix.as_str())?
            .strip_suffix(self.suffix.as_str())?;
        is_tenant_id(tid).then_some(tid)
    }

    /// The issuer of tenant `tid`.
    pub fn issuer_of(&self, tid: &str) -> String {
        format!("{}{tid}{}", self.prefix, self.suffix)
    }
}

impl std::fmt::Display for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{PLACEHOLDER}{}", self.prefix, self.suffix)
    }
}

/// A tenant id as Entra writes it: a GUID in lower case.
pub fn is_tenant_id(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}

/// Which tenants a multi-tenant source accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    /// `allowed_tenants = ["*"]`.
    Every,
    Listed(Vec<String>),
}

impl Allowed {
    pub fn allows(&self, tid: &str) -> bool {
        match self {
            Allowed::Every => true,
            Allowed::Listed(list) => list.iter().any(|t| t == tid),
        }
    }
}

/// A source's tenant rule, from its templated `issuer`.
#[derive(Debug, Clone)]
pub struct Tenants {
    pub v2: Template,
    pub v1: Option<Template>,
    pub allowed: Allowed,
}

impl Tenants {
    /// Whether `iss` has one of this source's shapes (routing: the tenant
    /// checks come with verification).
    pub fn matches(&self, iss: &str) -> bool {
        self.tenant(iss).is_some()
    }

    fn tenant<'i>(&self, iss: &'i str) -> Option<&'i str> {
        self.v2
            .tenant_of(iss)
            .or_else(|| self.v1.as_ref().and_then(|t| t.tenant_of(iss)))
    }

    /// The tenant the token comes from, after checking its `iss` names it,
    /// its `tid` agrees and it is allowed.
    pub fn check<'c>(
        &self,
        iss: &str,
        claims: &'c Map<String, Value>,
    ) -> Result<&'c str, VerifyError> {
        let Some(named) = self.tenant(iss) else {
            return Err(VerifyError::IssuerUnknown {
                expected: self.expected(),
                found: clip(iss, ECHO_VALUE_CHARS).into_owned(),
            });
        };
        let tid = match claims.get("tid") {
            Some(Value::String(t)) => t.as_str(),
            Some(_) => {
                return Err(VerifyError::ClaimInvalid {
                    claim: "tid".into(),
                    detail: "must be a string (the tenant id)".into(),
                });
            }
            None => {
                return Err(VerifyError::ClaimMissing {
                    claim: "tid".into(),
                    why: "a multi-tenant Entra source needs the tenant the token comes from".into(),
                });
            }
        };
        if tid != named {
            return Err(VerifyError::ClaimInvalid {
                claim: "tid".into(),
                detail: format!(
                    "is {}, but the issuer names tenant {named}; they must agree",
                    clip(tid, ECHO_VALUE_CHARS)
                ),
            });
        }
        if !self.allowed.allows(tid) {
            return Err(VerifyError::TenantNotAllowed {
                tenant: tid.to_owned(),
            });
        }
        Ok(tid)
    }

    fn expected(&self) -> String {
        match &self.v1 {
            Some(v1) => format!("{}, {v1}", self.v2),
            None => self.v2.to_string(),
        }
    }
}

/// The `upn` a source trusts as a verified email for tenants it lists in
/// `trust_upn_tenants`: the token's `upn` when its `tid` is listed and the
/// UPN is a member's (a guest's `…#EXT#@…` UPN names another tenant's user).
pub fn trusted_upn<'c>(trusted: &[String], claims: &'c Map<String, Value>) -> Option<&'c str> {
    let tid = claims.get("tid").and_then(Value::as_str)?;
    if !trusted.iter().any(|t| t == tid) {
        return None;
    }
    let upn = claims.get("upn").and_then(Value::as_str)?;
    (!upn.to_ascii_uppercase().contains("#EXT#")).then_some(upn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TID: &str = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490";
    const OTHER: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    fn tenants(allowed: Allowed) -> Tenants {
        Tenants {
            v2: Template::parse(MICROSOFT_V2).expect("template"),
            v1: Template::parse(MICROSOFT_V1),
            allowed,
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn templates_match_a_guid_in_place_of_the_placeholder_only() {
        let t = Template::parse(MICROSOFT_V2).expect("template");
        let iss = format!("https://login.microsoftonline.com/{TID}/v2.0");
        assert_eq!(t.tenant_of(&iss), Some(TID));
        assert_eq!(t.issuer_of(TID), iss);
        for bad in [
            "https://login.microsoftonline.com/common/v2.0".to_owned(),
            format!(
                "https://login.microsoftonline.com/{}/v2.0",
                TID.to_uppercase()
            ),
            format!("https://login.microsoftonline.com/{TID}/x/v2.0"),
            format!("https://login.microsoftonline.com/{TID}/v2.0/"),
            format!("https://evil.example/{TID}/v2.0"),
            format!("https://login.microsoftonline.com/{TID}{TID}/v2.0"),
        ] {
            assert_eq!(t.tenant_of(&bad), None, "{bad}");
        }
        assert!(Template::parse("https://x/{tenantid}/{tenantid}").is_none());
        assert!(Template::parse("https://x/v2.0").is_none());
    }

    #[test]
    fn a_token_from_an_allowed_tenant_whose_tid_agrees_passes_v2_and_v1() {
        let t = tenants(Allowed::Listed(vec![TID.into()]));
        let c = claims(json!({ "tid": TID }));
        let v2 = format!("https://login.microsoftonline.com/{TID}/v2.0");
        let v1 = format!("https://sts.windows.net/{TID}/");
        assert_eq!(t.check(&v2, &c), Ok(TID));
        assert_eq!(t.check(&v1, &c), Ok(TID));
    }

    #[test]
    fn entra_tenant_not_allowed_attack_is_refused() {
        let t = tenants(Allowed::Listed(vec![TID.into()]));
        let c = claims(json!({ "tid": OTHER }));
        let iss = format!("https://login.microsoftonline.com/{OTHER}/v2.0");
        let e = t.check(&iss, &c).expect_err("other tenant");
        assert_eq!(e.code().as_str(), "tenant_not_allowed");
        assert!(tenants(Allowed::Every).check(&iss, &c).is_ok());
    }

    #[test]
    fn entra_issuer_tid_mismatch_attack_is_refused() {
        let t = tenants(Allowed::Every);
        let iss = format!("https://login.microsoftonline.com/{TID}/v2.0");
        let e = t
            .check(&iss, &claims(json!({ "tid": OTHER })))
            .expect_err("mismatch");
        assert_eq!(e.code().as_str(), "claim_invalid");
        assert!(e.to_string().contains("must agree"), "{e}");
        let e = t.check(&iss, &claims(json!({}))).expect_err("no tid");
        assert_eq!(e.code().as_str(), "claim_missing");
        let e = t
            .check(&iss, &claims(json!({ "tid": 7 })))
            .expect_err("tid not a string");
        assert_eq!(e.code().as_str(), "claim_invalid");
    }

    #[test]
    fn only_members_upns_of_listed_tenants_are_trusted() {
        let trusted = vec![TID.to_owned()];
        let member = claims(json!({ "tid": TID, "upn": "ana@acme.com" }));
        assert_eq!(trusted_upn(&trusted, &member), Some("ana@acme.com"));
        let guest = claims(json!({ "tid": TID, "upn": "eve_evil.com#EXT#@acme.onmicrosoft.com" }));
        assert_eq!(trusted_upn(&trusted, &guest), None);
        let other = claims(json!({ "tid": OTHER, "upn": "ana@acme.com" }));
        assert_eq!(trusted_upn(&trusted, &other), None);
        let no_upn = claims(json!({ "tid": TID, "preferred_username": "ana@acme.com" }));
        assert_eq!(trusted_upn(&trusted, &no_upn), None);
    }
}
