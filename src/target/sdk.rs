//! `sdk`: the Support SDK's JWT endpoint. Zendesk's servers POST the app's
//! `user_token` to us and take `{"jwt": …}` back. Required: `name`,
//! `email` (plus `iat`, `jti`), signed with the Mobile SDK app's secret.

pub const REQUIRED: &[&str] = &["email", "name"];

/// The SDK endpoint creates and updates users as JWT SSO does.
pub use super::sso::CLAIMS;
