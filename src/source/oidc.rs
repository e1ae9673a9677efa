//! `oidc`: an OpenID Provider found by its issuer URL. Discovery gives the
//! JWKS URL (and, for the browser flow, the authorization, token and
//! end-session endpoints); the provider's `issuer` must equal the
//! configured one exactly, as OpenID Connect Discovery §4.3 requires.

use std::sync::{Arc, RwLock};

use serde::Deserialize;
use url::Url;

use super::keys::{Fetch, KeySet};
use super::{Kind, get_bytes};

/// The parts of the discovery document zenbridge uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub jwks_uri: Url,
    pub authorization_endpoint: Option<Url>,
    pub token_endpoint: Option<Url>,
    pub end_session_endpoint: Option<Url>,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    /// RFC 9207: the provider puts `iss` in every authorization response.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

pub struct Provider {
    http: reqwest::Client,
    discovery_url: Url,
    issuer: String,
    metadata: RwLock<Option<Arc<Metadata>>>,
}

impl Provider {
    pub fn new(http: reqwest::Client, discovery_url: Url, issuer: String) -> Self {
        Self {
            http,
            discovery_url,
            issuer,
            metadata: RwLock::new(None),
        }
    }

    /// The last discovered metadata, discovering now if there is none.
    pub async fn metadata(&self) -> Result<Arc<Metadata>, String> {
        if let Some(m) = self.metadata.read().expect("lock").clone() {
            return Ok(m);
        }
        self.discover().await
    }

    async fn discover(&self) -> Result<Arc<Metadata>, String> {
        let (body, _) = get_bytes(&self.http, &self.discovery_url).await?;
        let m: Metadata = serde_json::from_slice(&body).map_err(|e| {
            format!(
                "{}: not an OpenID discovery document ({e})",
                self.discovery_url
            )
        })?;
        if m.issuer != self.issuer {
            return Err(format!(
                "{}: the provider's issuer is {:?}, the config says {:?}; they must match exactly (mind the trailing slash)",
                self.discovery_url, m.issuer, self.issuer
            ));
        }
        let m = Arc::new(m);
        *self.metadata.write().expect("lock") = Some(m.clone());
        Ok(m)
    }
}

impl Fetch for Provider {
    /// Discovery is repeated with every key fetch, so a provider that moves
    /// its JWKS URL is followed.
    fn fetch(&self) -> futures_util::future::BoxFuture<'_, Result<KeySet, String>> {
        Box::pin(async move {
            let m = self.discover().await?;
            let (body, max_age) = get_bytes(&self.http, &m.jwks_uri).await?;
            let mut set =
                KeySet::from_jwks_json(&body).map_err(|e| format!("{}: {e}", m.jwks_uri))?;
            set.max_age = Some(max_age);
            Ok(set)
        })
    }
}

pub struct OidcKind;

impl Kind for OidcKind {}
