//! The keys of an `introspection` source (RFC 7662 opaque access tokens):
//! where to ask, as which client, whose tokens to take, and how long an
//! answer may be reused. Kept apart from `source.rs`, which holds the keys
//! every kind shares.

use std::time::Duration;

use url::Url;

use super::raw::RawSource;
use super::{Http, Problem, Secret, Validator};

/// The keys an `introspection` source accepts, beyond the common ones.
pub(super) const KEYS: &[&str] = &[
    "introspection_url",
    "userinfo_url",
    "client_id",
    "client_secret",
    "client_auth_method",
    "allowed_clients",
    "cache_max",
    "timeout",
    "issuer",
    "audiences",
    "leeway",
    "trust_unverified_email",
    "email_domains",
];

/// How zenbridge authenticates at the introspection endpoint (RFC 7662
/// §2.1 requires it to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1).
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

/// Whose tokens an `introspection` source takes, by the answer's
/// `client_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clients {
    /// `["*"]`: every client of the provider.
    Any,
    /// Only these.
    Only(Vec<String>),
}

#[derive(Debug)]
pub struct IntrospectionConfig {
    pub introspection_url: Url,
    /// When set, the OpenID Connect userinfo claims (email, name, …) are
    /// added to the introspection answer's.
    pub userinfo_url: Option<Url>,
    pub client_id: String,
    pub client_secret: Secret,
    pub client_auth: ClientAuth,
    /// The `client_id`s whose tokens are accepted.
    pub allowed_clients: Clients,
    /// Longest reuse of an active answer (never past the token's `exp`);
    /// zero: no cache.
    pub cache_max: Duration,
    /// Longest wait for each upstream call.
    pub timeout: Duration,
}

impl Validator {
    pub(super) fn introspection(
        &mut self,
        path: &str,
        raw: &RawSource,
    ) -> Option<IntrospectionConfig> {
        let url = self
            .required(path, "introspection_url", raw.introspection_url.as_ref())
            .and_then(|u| self.url(&format!("{path}.introspection_url"), &u, Http::LoopbackOnly));
        let userinfo_url = raw
            .userinfo_url
            .as_ref()
            .map(|u| self.url(&format!("{path}.userinfo_url"), u, Http::LoopbackOnly));
        let client_id = self.required(path, "client_id", raw.client_id.as_ref());
        let client_secret = self.secret(
            &format!("{path}.client_secret"),
            raw.client_secret.as_ref(),
            true,
        );
        let client_auth = match raw.client_auth_method.as_deref() {
            None | Some("client_secret_basic") => Some(ClientAuth::Basic),
            Some("client_secret_post") => Some(ClientAuth::Post),
            Some(other) => {
                self.p.push(
                    format!("{path}.client_auth_method"),
                    format!("must be client_secret_basic or client_secret_post; found {other:?}"),
                );
                None
            }
        };
        let allowed_clients = self.allowed_clients(path, raw.allowed_clients.as_deref());
        let cache_max = self.duration(
            &format!("{path}.cache_max"),
            raw.cache_max.as_ref(),
            Duration::from_secs(60),
        );
        self.bounded(
            &format!("{path}.cache_max"),
            cache_max,
            Duration::ZERO,
            Duration::from_secs(3600),
        );
        let timeout = self.duration(
            &format!("{path}.timeout"),
            raw.timeout.as_ref(),
            Duration::from_secs(3),
        );
        self.bounded(
            &format!("{path}.timeout"),
            timeout,
            Duration::from_millis(100),
            Duration::from_secs(30),
        );
        Some(IntrospectionConfig {
            introspection_url: url?,
            userinfo_url: userinfo_url.map(|u| u.ok_or(())).transpose().ok()?,
            client_id: client_id?,
            client_secret: client_secret?,
            client_auth: client_auth?,
            allowed_clients: allowed_clients?,
            cache_max,
            timeout,
        })
    }

    /// `allowed_clients`: required, so that a token the provider issued to
    /// any of its clients does not sign in by default; `["*"]` (warned)
    /// takes every client's.
    fn allowed_clients(&mut self, path: &str, raw: Option<&[String]>) -> Option<Clients> {
        let key = format!("{path}.allowed_clients");
        match raw {
            None => {
                self.p.push(
                    key,
                    "is required: the client_id values of the apps whose access tokens may sign in (or [\"*\"] for any client of the provider)",
                );
                None
            }
            Some([]) => {
                self.p.push(
                    key,
                    "an empty list accepts no token; list client ids, or [\"*\"]",
                );
                None
            }
            Some([star]) if star == "*" => {
                self.warnings.push(Problem::new(
                    key,
                    "accepts the access tokens of every client of the provider: any app registered there can sign its users in to Zendesk",
                ));
                Some(Clients::Any)
            }
            Some(list) => {
                if list.iter().any(|c| c == "*") {
                    self.p.push(
                        key,
                        "\"*\" (any client) stands alone; remove it or the other entries",
                    );
                    return None;
                }
                Some(Clients::Only(list.to_vec()))
            }
        }
    }
}
