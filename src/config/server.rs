//! `[server]` and `[state]`: where zenbridge listens and is reached, its
//! cookie key and admin token, request limits, the proxies it believes,
//! and the shared state store. Also the checks that need the server and
//! the targets together.

use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

use super::raw::{RawServer, RawState};
use super::{Http, Problem, Secret, TargetConfig, Validator, is_loopback_url};

#[derive(Debug)]
pub struct Server {
    pub listen: SocketAddr,
    pub public_url: Url,
    pub cookie_key: Secret,
    /// The key `cookie_key` replaced, during a rotation: cookies it sealed
    /// are still opened (and sealed again with `cookie_key`).
    pub previous_cookie_key: Option<Secret>,
    pub admin_token: Option<Secret>,
    pub max_token_bytes: usize,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub rate_limit_per_minute: u32,
    /// Proxies whose `X-Forwarded-For` hops are believed, walked from the
    /// right (see `http::ClientIp`). Empty: the socket peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Server {
    /// `{public_url}/callback`, the one OIDC redirect URI.
    pub fn callback_url(&self) -> String {
        format!(
            "{}/callback",
            self.public_url.as_str().trim_end_matches('/')
        )
    }

    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

#[derive(Debug)]
pub struct StateConfig {
    pub backend: StateBackend,
    /// Where identity links live (`sqlite:PATH`, `postgres://…`).
    pub links_url: Option<Secret>,
}

#[derive(Debug)]
pub enum StateBackend {
    Memory,
    Redis {
        url: Secret,
        key_prefix: String,
        /// For `rediss://`: the CA and the client certificate, read.
        tls: crate::state::redis::Tls,
        /// For `redis+sentinel://`: the sentinels' password.
        sentinel_password: Option<Secret>,
    },
}

pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";

/// `server.admin_token` unlocks `POST /explain`: as long as a cookie key.
pub const MIN_ADMIN_TOKEN: usize = 32;

impl Validator {
    pub(super) fn server(&mut self, raw: &RawServer) -> Option<Server> {
        let listen_text = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = match listen_text.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.p.push(
                    "server.listen",
                    format!("must be an address such as \"0.0.0.0:8080\"; found {listen_text:?}"),
                );
                None
            }
        };
        let public_url = match raw.public_url.as_deref() {
            None => {
                self.p.push(
                    "server.public_url",
                    "is required (the URL browsers reach zenbridge at)",
                );
                None
            }
            Some(u) => self.url("server.public_url", u, Http::Anywhere),
        };
        if let Some(u) = &public_url
            && u.scheme() == "http"
            && !is_loopback_url(u)
        {
            self.warnings.push(Problem::new(
                "server.public_url",
                "plain http on a non-loopback host: cookies are not Secure",
            ));
        }
        let cookie_key = self.secret("server.cookie_key", raw.cookie_key.as_ref(), true);
        if let Some(k) = &cookie_key
            && k.expose().len() < 32
        {
            self.p.push(
                "server.cookie_key",
                format!("must be at least 32 bytes; it has {}", k.expose().len()),
            );
        }
        let previous_cookie_key = self.previous_cookie_key(raw, cookie_key.as_ref());
        let admin_token = self.secret("server.admin_token", raw.admin_token.as_ref(), false);
        if let Some(t) = &admin_token
            && t.expose().len() < MIN_ADMIN_TOKEN
        {
            self.p.push(
                "server.admin_token",
                format!(
                    "must be at least {MIN_ADMIN_TOKEN} bytes (it unlocks POST /explain); it has {}; make one with `openssl rand -hex 32`",
                    t.expose().len()
                ),
            );
        }
        let request_timeout = self.duration(
            "server.request_timeout",
            raw.request_timeout.as_ref(),
            Duration::from_secs(15),
        );
        self.bounded(
            "server.request_timeout",
            request_timeout,
            Duration::from_secs(1),
            Duration::from_secs(300),
        );
        let max_token_bytes = raw.max_token_bytes.unwrap_or(16 * 1024);
        self.size("server.max_token_bytes", max_token_bytes, 1024, 1024 * 1024);
        let max_body_bytes = raw.max_body_bytes.unwrap_or(64 * 1024);
        self.size(
            "server.max_body_bytes",
            max_body_bytes,
            1024,
            16 * 1024 * 1024,
        );
        if max_body_bytes < max_token_bytes {
            self.p.push(
                "server.max_body_bytes",
                format!(
                    "must be at least max_token_bytes ({max_token_bytes}): a body carries a token; found {max_body_bytes}"
                ),
            );
        }
        let trusted_proxies = self.networks(
            "server.trusted_proxies",
            raw.trusted_proxies.as_deref().unwrap_or_default(),
        );
        Some(Server {
            listen: listen?,
            public_url: public_url?,
            cookie_key: cookie_key?,
            previous_cookie_key,
            admin_token,
            max_token_bytes,
            max_body_bytes,
            request_timeout,
            rate_limit_per_minute: raw.rate_limit_per_minute.unwrap_or(0),
            trusted_proxies,
        })
    }

    /// `server.previous_cookie_key`: as long as a cookie key, not the same
    /// one, and a note that it is for the length of a rotation.
    fn previous_cookie_key(&mut self, raw: &RawServer, current: Option<&Secret>) -> Option<Secret> {
        const PATH: &str = "server.previous_cookie_key";
        let previous = self.secret(PATH, raw.previous_cookie_key.as_ref(), false)?;
        if previous.expose().len() < 32 {
            self.p.push(
                PATH,
                format!(
                    "must be at least 32 bytes; it has {}",
                    previous.expose().len()
                ),
            );
            return None;
        }
        if current.is_some_and(|c| c.expose() == previous.expose()) {
            self.p.push(
                PATH,
                "is the same as cookie_key: set cookie_key to the new key and this to the old one",
            );
            return None;
        }
        self.notes.push(Problem::new(
            PATH,
            "cookies sealed with this key are still opened; remove it 12 hours after every replica has the new cookie_key (the longest a zenbridge cookie lives)",
        ));
        Some(previous)
    }

    pub(super) fn state(&mut self, raw: &RawState) -> Option<StateConfig> {
        let links_url = match &raw.links_url {
            None => None,
            Some(r) if self.reference_in_literal("state.links_url", r) => None,
            Some(r) => match r.resolve(self.base.as_deref()) {
                Ok(s) => {
                    // The URL may hold a password: the problem never shows it.
                    if let Err(e) = crate::links::LinkStore::check_url(s.expose()) {
                        self.p.push("state.links_url", e);
                    }
                    Some(s)
                }
                Err(e) => {
                    self.p.push("state.links_url", e);
                    None
                }
            },
        };
        let backend = self.state_backend(raw)?;
        Some(StateConfig { backend, links_url })
    }

    fn state_backend(&mut self, raw: &RawState) -> Option<StateBackend> {
        match raw.backend.as_deref().unwrap_or("memory") {
            "memory" => {
                for (key, set) in [
                    ("redis_url", raw.redis_url.is_some()),
                    ("redis_ca_file", raw.redis_ca_file.is_some()),
                    (
                        "redis_client_cert_file",
                        raw.redis_client_cert_file.is_some(),
                    ),
                    ("redis_client_key_file", raw.redis_client_key_file.is_some()),
                    (
                        "redis_sentinel_password",
                        raw.redis_sentinel_password.is_some(),
                    ),
                ] {
                    if set {
                        self.p
                            .push(format!("state.{key}"), "only used with backend = \"redis\"");
                    }
                }
                Some(StateBackend::Memory)
            }
            "redis" => {
                let url = match &raw.redis_url {
                    None => {
                        self.p
                            .push("state.redis_url", "is required with backend = \"redis\"");
                        return None;
                    }
                    Some(r) if self.reference_in_literal("state.redis_url", r) => return None,
                    Some(r) => match r.resolve(self.base.as_deref()) {
                        Ok(s) => s,
                        Err(e) => {
                            self.p.push("state.redis_url", e);
                            return None;
                        }
                    },
                };
                // The URL may hold a password: the problems never show it.
                let location = match crate::state::redis::locate(url.expose()) {
                    Ok(l) => Some(l),
                    Err(e) => {
                        self.p.push("state.redis_url", e);
                        None
                    }
                };
                let tls = self.redis_tls(raw, location.as_ref());
                let sentinel_password = self.secret(
                    "state.redis_sentinel_password",
                    raw.redis_sentinel_password.as_ref(),
                    false,
                );
                if sentinel_password.is_some()
                    && matches!(location, Some(crate::state::redis::Location::Server { .. }))
                {
                    self.p.push(
                        "state.redis_sentinel_password",
                        "only used with a redis+sentinel:// URL",
                    );
                }
                if let Some(l) = &location {
                    self.redis_in_clear(l, url.expose());
                }
                Some(StateBackend::Redis {
                    url,
                    key_prefix: raw
                        .key_prefix
                        .clone()
                        .unwrap_or_else(|| "zenbridge:".into()),
                    tls,
                    sentinel_password,
                })
            }
            other => {
                self.p.push(
                    "state.backend",
                    format!("must be \"memory\" or \"redis\"; found {other:?}"),
                );
                None
            }
        }
    }

    /// `state.redis_ca_file` and the client certificate: read now, and only
    /// with a `rediss://` URL.
    fn redis_tls(
        &mut self,
        raw: &RawState,
        location: Option<&crate::state::redis::Location>,
    ) -> crate::state::redis::Tls {
        use crate::state::redis::{Location, Tls};
        let is_tls = matches!(location, Some(Location::Server { tls: true }));
        let mut read = |key: &str, path: Option<&String>, marker: &str| {
            let path = path?;
            if location.is_some() && !is_tls {
                self.p.push(
                    format!("state.{key}"),
                    "only used with a rediss:// URL (TLS to one Redis server)",
                );
                return None;
            }
            let file = match self.base.as_deref() {
                Some(base) if std::path::Path::new(path).is_relative() => base.join(path),
                _ => std::path::PathBuf::from(path),
            };
            match std::fs::read(&file) {
                Ok(pem) if pem.windows(marker.len()).any(|w| w == marker.as_bytes()) => Some(pem),
                Ok(_) => {
                    self.p.push(
                        format!("state.{key}"),
                        format!(
                            "{} holds no PEM block containing {marker:?}",
                            file.display()
                        ),
                    );
                    None
                }
                Err(e) => {
                    self.p.push(
                        format!("state.{key}"),
                        format!("cannot read {}: {e}", file.display()),
                    );
                    None
                }
            }
        };
        let tls = Tls {
            ca_pem: read(
                "redis_ca_file",
                raw.redis_ca_file.as_ref(),
                "CERTIFICATE-----",
            ),
            client_cert_pem: read(
                "redis_client_cert_file",
                raw.redis_client_cert_file.as_ref(),
                "CERTIFICATE-----",
            ),
            client_key_pem: read(
                "redis_client_key_file",
                raw.redis_client_key_file.as_ref(),
                "PRIVATE KEY-----",
            ),
        };
        if raw.redis_client_cert_file.is_some() != raw.redis_client_key_file.is_some() {
            self.p.push(
                "state.redis_client_cert_file",
                "redis_client_cert_file and redis_client_key_file go together: set both or neither",
            );
        }
        tls
    }

    /// A warning when the state store's traffic (one-time records, and any
    /// password in the URL) crosses a network in clear.
    fn redis_in_clear(&mut self, location: &crate::state::redis::Location, url: &str) {
        use crate::state::redis::Location;
        // A redis:// host is opaque to the URL parser (not an IP): read it.
        let remote = |h: &str| {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            !(h.eq_ignore_ascii_case("localhost")
                || h.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback()))
        };
        let in_clear = match location {
            Location::Server { tls: true } => false,
            // A Unix socket has no host.
            Location::Server { tls: false } => Url::parse(url)
                .is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty() && remote(h))),
            Location::Sentinel { sentinels, .. } => sentinels.iter().any(|(h, _)| remote(h)),
        };
        if in_clear {
            self.warnings.push(Problem::new(
                "state.redis_url",
                "plain redis:// to a non-loopback host: its password and the one-time records cross the network in clear; use rediss:// (with state.redis_ca_file) or a private network",
            ));
        }
    }

    /// A target that keeps identity links needs somewhere to keep them.
    pub(super) fn links_against_targets(&mut self, state: &StateConfig, targets: &[TargetConfig]) {
        if state.links_url.is_some() {
            return;
        }
        for (i, t) in targets.iter().enumerate() {
            if t.link.is_some() {
                self.p.push(
                    format!("target[{i}].link"),
                    "identity links need a store: set state.links_url = \"sqlite:/var/lib/zenbridge/links.db\" (one instance) or a postgres:// URL (several replicas)",
                );
            }
        }
    }

    /// Checks that need the server and the targets together.
    pub(super) fn server_against_targets(&mut self, server: &Server, targets: &[TargetConfig]) {
        for (i, t) in targets.iter().enumerate() {
            for net in &t.allowed_ips {
                if server
                    .trusted_proxies
                    .iter()
                    .any(|p| p.contains(&net.network()) || net.contains(&p.network()))
                {
                    self.warnings.push(Problem::new(
                        format!("target[{i}].allowed_ips"),
                        format!(
                            "{net} overlaps server.trusted_proxies: a request whose forwarded address cannot be read counts as coming from the proxy"
                        ),
                    ));
                }
            }
        }
    }
}
