//! `messaging`: Web Widget and mobile messaging SDKs (`loginUser`). Header
//! `kid` = the key id; claims `scope: "user"`, `external_id` (required, a
//! string of at most 255 characters), `exp` = `iat` + the target's `ttl`.

use serde_json::{Map, Value};

use super::{ClaimType, MintError};
use crate::config::TargetConfig;

pub const REQUIRED: &[&str] = &["external_id"];

/// The claims messaging reads.
pub const CLAIMS: &[(&str, ClaimType)] = &[
    ("external_id", ClaimType::String),
    ("name", ClaimType::String),
    ("email", ClaimType::String),
];

pub fn check(claims: &Map<String, Value>) -> Result<(), MintError> {
    if let Some(Value::String(id)) = claims.get("external_id")
        && id.chars().count() > 255
    {
        return Err(MintError::ClaimInvalid {
            claim: "external_id".into(),
            detail: format!(
                "must be at most 255 characters for messaging; it has {}",
                id.chars().count()
            ),
        });
    }
    Ok(())
}

pub fn finish(target: &TargetConfig, claims: &mut Map<String, Value>, now: i64) {
    claims.insert("scope".into(), Value::from("user"));
    claims.insert(
        "exp".into(),
        Value::from(now + i64::try_from(target.ttl.as_secs()).unwrap_or(300)),
    );
}
