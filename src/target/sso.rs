//! `sso`: Support / Help Center JWT SSO. The browser POSTs the token to
//! `https://{subdomain}.zendesk.com/access/jwt`. Required: `email`, `name`
//! (plus `iat`, `jti`). No `exp`: Zendesk's check is `iat` within 3 minutes.

use serde_json::{Map, Value};

use super::MintError;

pub const REQUIRED: &[&str] = &["email", "name"];

/// Rules shared by SSO and the SDK endpoint, which create users alike.
pub fn check_user_claims(claims: &Map<String, Value>) -> Result<(), MintError> {
    if claims.contains_key("custom_role_id")
        && claims.get("role").and_then(Value::as_str) != Some("agent")
    {
        return Err(MintError::ClaimInvalid {
            claim: "custom_role_id".into(),
            detail: format!(
                "is only accepted with role \"agent\"; the role is {}",
                claims
                    .get("role")
                    .map_or_else(|| "not set".into(), ToString::to_string)
            ),
        });
    }
    if let Some(Value::Array(tags)) = claims.get("tags")
        && let Some(bad) = tags
            .iter()
            .filter_map(Value::as_str)
            .find(|t| t.is_empty() || t.chars().any(char::is_whitespace))
    {
        return Err(MintError::ClaimInvalid {
            claim: "tags".into(),
            detail: format!("holds {bad:?}; a Zendesk tag has no spaces and is not empty"),
        });
    }
    Ok(())
}
