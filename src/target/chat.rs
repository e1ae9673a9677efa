//! `chat`: Web Widget (Classic) chat visitor authentication (`jwtFn`).
//! Required: `name`, `email`, `external_id`; `exp` at most 7 minutes after
//! `iat` (the config refuses a longer `ttl`).

use serde_json::{Map, Value};

use super::ClaimType;
use crate::config::TargetConfig;

pub const REQUIRED: &[&str] = &["name", "email", "external_id"];

/// The claims chat reads.
pub const CLAIMS: &[(&str, ClaimType)] = &[
    ("name", ClaimType::String),
    ("email", ClaimType::String),
    ("external_id", ClaimType::String),
];

pub fn finish(target: &TargetConfig, claims: &mut Map<String, Value>, now: i64) {
    claims.insert(
        "exp".into(),
        Value::from(now + i64::try_from(target.ttl.as_secs()).unwrap_or(300)),
    );
}
