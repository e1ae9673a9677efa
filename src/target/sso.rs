//! `sso`: Support / Help Center JWT SSO. The browser POSTs the token to
//! `https://{subdomain}.zendesk.com/access/jwt`. Required: `email`, `name`
//! (plus `iat`, `jti`). No `exp`: Zendesk's check is `iat` within 3 minutes.

use serde_json::{Map, Value};

use super::{ClaimType, MintError};

pub const REQUIRED: &[&str] = &["email", "name"];

/// Claims of JWT SSO and of the Support SDK endpoint (which creates and
/// updates users the same way).
pub const CLAIMS: &[(&str, ClaimType)] = &[
    ("email", ClaimType::String),
    ("name", ClaimType::String),
    ("external_id", ClaimType::String),
    ("organization", ClaimType::String),
    ("organizations", ClaimType::String),
    ("organization_id", ClaimType::IntegerOrString),
    ("organization_ids", ClaimType::String),
    ("tags", ClaimType::StringList),
    ("remote_photo_url", ClaimType::String),
    ("locale", ClaimType::Integer),
    ("locale_id", ClaimType::Integer),
    ("role", ClaimType::Role),
    ("custom_role_id", ClaimType::Integer),
    ("phone", ClaimType::String),
    ("user_fields", ClaimType::Object),
];

/// Rules shared by SSO and the SDK endpoint, which create users alike.
pub fn check_user_claims(claims: &Map<String, Value>) -> Result<(), MintError> {
    for (claim, value) in claims {
        if let Some(detail) = claim_problem(claim, value, claims) {
            return Err(MintError::ClaimInvalid {
                claim: claim.clone(),
                detail,
            });
        }
    }
    Ok(())
}

/// What Zendesk refuses in one claim's content or in how it goes with the
/// others, as the rest of a sentence about the claim; `None` when
/// Zendesk accepts it. The one home of these rules: minting and the
/// sandbox ask here.
pub fn claim_problem(claim: &str, value: &Value, claims: &Map<String, Value>) -> Option<String> {
    match claim {
        "custom_role_id" if claims.get("role").and_then(Value::as_str) != Some("agent") => {
            Some(format!(
                "is only accepted with role \"agent\"; the role is {}",
                claims
                    .get("role")
                    .map_or_else(|| "not set".into(), ToString::to_string)
            ))
        }
        "tags" => value
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .find(|t| t.is_empty() || t.chars().any(char::is_whitespace))
            .map(|bad| format!("holds {bad:?}; a Zendesk tag has no spaces and is not empty")),
        _ => None,
    }
}
