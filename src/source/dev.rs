//! `dev`: a built-in issuer for demos and tests. Its users are listed in
//! the config; it signs EdDSA tokens with a key derived from the source's
//! `seed` (by default the server's cookie key), so `zenbridge dev-token`
//! in another process signs with the same key as the running server. It
//! has no passwords: never use it in production (`check` warns).

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Value, json};

use super::Kind;
use super::keys::{Family, Key, KeySet};
use crate::config::{DevUser, Secret, SourceConfig, SourceDetail};

/// The audience of every dev token.
pub const AUDIENCE: &str = "zenbridge-dev";

/// `urn:zenbridge:dev:{name}`: independent of the address the server
/// listens on, so `dev-token` in another process names the same issuer.
pub fn issuer(name: &str) -> String {
    format!("urn:zenbridge:dev:{name}")
}

pub struct DevIssuer {
    name: String,
    issuer: String,
    key: Ed25519KeyPair,
    kid: String,
    pub users: Vec<DevUser>,
    ttl: Duration,
}

/// The fixed keys of a `dev` source and its issuer (the user list and
/// the signer). `None` for a config of another kind.
pub fn build(config: &SourceConfig) -> (super::keys::Keys, Option<Arc<DevIssuer>>) {
    let SourceDetail::Dev {
        users,
        seed,
        token_ttl,
    } = &config.detail
    else {
        let empty = KeySet::default();
        return (
            super::keys::Keys::fixed(&format!("dev:{}", config.name), Arc::new(empty)),
            None,
        );
    };
    let issuer = Arc::new(DevIssuer::new(
        &config.name,
        &config.issuer,
        seed,
        users.clone(),
        *token_ttl,
    ));
    let keys = super::keys::Keys::fixed(&format!("dev:{}", config.name), issuer.key_set());
    (keys, Some(issuer))
}

impl DevIssuer {
    pub fn new(
        name: &str,
        issuer: &str,
        seed: &Secret,
        users: Vec<DevUser>,
        ttl: Duration,
    ) -> Self {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(b"zenbridge dev source key v1\0");
        ctx.update(name.as_bytes());
        ctx.update(b"\0");
        ctx.update(seed.expose().as_bytes());
        let seed = ctx.finish();
        let key = Ed25519KeyPair::from_seed_unchecked(seed.as_ref())
            .expect("a 32-byte seed is a valid Ed25519 seed");
        let kid = URL_SAFE_NO_PAD.encode(
            &aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.public_key().as_ref())
                .as_ref()[..8],
        );
        Self {
            name: name.to_owned(),
            issuer: issuer.to_owned(),
            key,
            kid,
            users,
            ttl,
        }
    }

    pub fn key_set(&self) -> Arc<KeySet> {
        let x = URL_SAFE_NO_PAD.encode(self.key.public_key().as_ref());
        let key = DecodingKey::from_ed_components(&x).expect("our own public key");
        let mut set = KeySet::default();
        set.insert(Key::new(
            Some(self.kid.clone()),
            key,
            Some(Algorithm::EdDSA),
            Family::Ed,
        ));
        Arc::new(set)
    }

    pub fn user(&self, id: &str) -> Option<&DevUser> {
        self.users.iter().find(|u| u.id == id)
    }

    /// Signs a token for a listed user, valid from now for the source's
    /// `token_ttl`. `nonce` is added for the browser flow.
    pub fn mint(&self, user: &DevUser, now: i64, nonce: Option<&str>) -> String {
        let mut claims = user.claims.clone();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("aud".into(), json!(AUDIENCE));
        claims.insert("sub".into(), json!(user.id));
        if let Some(e) = &user.email {
            claims.insert("email".into(), json!(e));
            claims.entry("email_verified").or_insert(Value::Bool(true));
        }
        if let Some(n) = &user.name {
            claims.insert("name".into(), json!(n));
        }
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(3600);
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + ttl));
        if let Some(n) = nonce {
            claims.insert("nonce".into(), json!(n));
        }
        let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": self.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string())
        );
        let sig = self.key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

pub struct DevKind;

impl Kind for DevKind {}
