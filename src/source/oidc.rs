//! `oidc`: an OpenID Provider found by its issuer URL. Discovery gives the
//! JWKS URL (and, for the browser flow, the authorization, token and
//! end-session endpoints); the provider's `issuer` must equal the
//! configured one exactly, as OpenID Connect Discovery §4.3 requires.
//!
//! What discovery promises:
//! - one discovery at a time per provider: callers that arrive while one
//!   runs wait for it and share its outcome (no burst of fetches when many
//!   requests miss at once);
//! - after a failed discovery, callers within the source's
//!   `key_refresh_interval` get its error without a new fetch;
//! - the endpoints it names (`jwks_uri`, `authorization_endpoint`,
//!   `token_endpoint`, `end_session_endpoint`) are https, or plain http on
//!   a loopback host (as the config requires of configured URLs): a
//!   document naming plain http elsewhere is refused;
//! - errors name URLs redacted ([`crate::upstream::redact_url`]).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Deserialize;
use url::Url;

use super::keys::{Fetch, KeyCache, KeySet, Keys};
use super::{Kind, get_bytes};
use crate::config::{Secret, SourceConfig, SourceDetail, is_loopback_url};
use crate::upstream::redact_url;

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

impl Metadata {
    /// Refuses endpoints that are neither https nor http on loopback.
    fn check_endpoints(&self) -> Result<(), String> {
        let endpoints = [
            ("jwks_uri", Some(&self.jwks_uri)),
            (
                "authorization_endpoint",
                self.authorization_endpoint.as_ref(),
            ),
            ("token_endpoint", self.token_endpoint.as_ref()),
            ("end_session_endpoint", self.end_session_endpoint.as_ref()),
        ];
        for (name, url) in endpoints {
            let Some(url) = url else { continue };
            match url.scheme() {
                "https" => {}
                "http" if is_loopback_url(url) => {}
                "http" => {
                    return Err(format!(
                        "its {name} must be https (plain http only on a loopback host); the document says {}",
                        redact_url(url)
                    ));
                }
                other => {
                    return Err(format!(
                        "its {name} must be an https URL; the document says one with scheme {other:?}"
                    ));
                }
            }
        }
        Ok(())
    }
}

pub struct Provider {
    http: reqwest::Client,
    discovery_url: Url,
    issuer: String,
    /// How long a failed discovery is answered from memory.
    retry_after: Duration,
    metadata: RwLock<Option<Arc<Metadata>>>,
    /// Held while a discovery runs; what the last one found.
    last: tokio::sync::Mutex<LastDiscovery>,
}

#[derive(Default)]
struct LastDiscovery {
    finished: Option<Instant>,
    /// Why it failed; `None` when it succeeded.
    failure: Option<String>,
}

impl Provider {
    pub fn new(
        http: reqwest::Client,
        discovery_url: Url,
        issuer: String,
        retry_after: Duration,
    ) -> Self {
        Self {
            http,
            discovery_url,
            issuer,
            retry_after,
            metadata: RwLock::new(None),
            last: tokio::sync::Mutex::default(),
        }
    }

    /// The last discovered metadata, discovering now if there is none.
    pub async fn metadata(&self) -> Result<Arc<Metadata>, String> {
        if let Some(m) = self.current() {
            return Ok(m);
        }
        self.discover(false).await
    }

    fn current(&self) -> Option<Arc<Metadata>> {
        self.metadata.read().expect("lock").clone()
    }

    /// Discovers, one caller at a time. A caller that waited for another's
    /// discovery takes its outcome; after a failure, callers within
    /// `retry_after` take it too. `fresh` asks for a discovery made after
    /// the call (a key fetch follows a moved JWKS URL); otherwise any
    /// metadata at hand will do.
    async fn discover(&self, fresh: bool) -> Result<Arc<Metadata>, String> {
        let asked = Instant::now();
        let mut last = self.last.lock().await;
        if let Some(finished) = last.finished {
            let shared = finished >= asked;
            let backing_off = last.failure.is_some() && finished.elapsed() < self.retry_after;
            match (&last.failure, shared || backing_off) {
                (Some(why), true) => {
                    return Err(format!(
                        "{why} (discovery failed {} ago; the next is allowed in {})",
                        whole_seconds(finished.elapsed()),
                        whole_seconds(self.retry_after.saturating_sub(finished.elapsed()))
                    ));
                }
                (None, true) => {
                    if let Some(m) = self.current() {
                        return Ok(m);
                    }
                }
                (_, false) => {}
            }
            if !fresh && let Some(m) = self.current() {
                return Ok(m);
            }
        }
        let outcome = self.discover_now().await;
        last.finished = Some(Instant::now());
        last.failure = outcome.as_ref().err().cloned();
        if let Ok(m) = &outcome {
            *self.metadata.write().expect("lock") = Some(m.clone());
        }
        outcome
    }

    async fn discover_now(&self) -> Result<Arc<Metadata>, String> {
        let (body, _) = get_bytes(&self.http, &self.discovery_url).await?;
        let shown = || redact_url(&self.discovery_url);
        let m: Metadata = serde_json::from_slice(&body)
            .map_err(|e| format!("{}: not an OpenID discovery document ({e})", shown()))?;
        if m.issuer != self.issuer {
            return Err(format!(
                "{}: the provider's issuer is {:?}, the config says {:?}; they must match exactly (mind the trailing slash)",
                shown(),
                m.issuer,
                self.issuer
            ));
        }
        m.check_endpoints()
            .map_err(|e| format!("{}: the discovery document is refused: {e}", shown()))?;
        Ok(Arc::new(m))
    }
}

fn whole_seconds(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_secs(d.as_secs()))
}

impl Fetch for Provider {
    /// Discovery is repeated with every key fetch (coalesced with any
    /// discovery in flight), so a provider that moves its JWKS URL is
    /// followed.
    fn fetch(&self) -> futures_util::future::BoxFuture<'_, Result<KeySet, String>> {
        Box::pin(async move {
            let m = self.discover(true).await?;
            let (body, max_age) = get_bytes(&self.http, &m.jwks_uri).await?;
            let mut set = KeySet::from_jwks_json(&body)
                .map_err(|e| format!("{}: {e}", redact_url(&m.jwks_uri)))?;
            set.max_age = Some(max_age);
            Ok(set)
        })
    }
}

pub struct OidcKind;

impl Kind for OidcKind {}

/// zenbridge as this source's relying party: what the browser sign-in
/// (`crate::sso::code_flow`) needs, and nothing it must look up again.
pub struct RelyingParty {
    pub source_name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub scopes: Vec<String>,
    /// Discovery: the authorization, token and end-session endpoints.
    pub provider: Arc<Provider>,
}

/// The keys of an `oidc` source (found through discovery) and its relying
/// party. `None` for a config of another kind.
pub fn build(
    config: &SourceConfig,
    http: &reqwest::Client,
    cache: &KeyCache,
) -> (Keys, Option<Arc<RelyingParty>>) {
    let interval = config.key_refresh_interval;
    let SourceDetail::Oidc {
        discovery_url,
        client_id,
        client_secret,
        scopes,
    } = &config.detail
    else {
        return (
            Keys::fixed(&format!("oidc:{}", config.name), Arc::default()),
            None,
        );
    };
    let provider = Arc::new(Provider::new(
        http.clone(),
        discovery_url.clone(),
        config.issuer.clone(),
        interval,
    ));
    let keys = Keys::fetched(
        &format!("oidc:{}", config.name),
        discovery_url,
        provider.clone(),
        cache.clone(),
        interval,
    );
    let rp = RelyingParty {
        source_name: config.name.clone(),
        issuer: config.issuer.clone(),
        client_id: client_id.clone(),
        client_secret: client_secret.clone(),
        scopes: scopes.clone(),
        provider,
    };
    (keys, Some(Arc::new(rp)))
}
