//! The rate limit of the token endpoints (`/sdk`, `/exchange`, `/token`):
//! a fixed one-minute window per client address (IPv6 by its /64) and
//! target, counted in the state store (so shared by every replica with
//! Redis). The limit is the target's `rate_limit_per_minute`, by default
//! `server.rate_limit_per_minute`; `0` turns it off.
//!
//! Answers say where the client stands with the IETF headers
//! (draft-ietf-httpapi-ratelimit-headers, structured fields):
//! `RateLimit-Policy: "per-minute";q=60;w=60` and
//! `RateLimit: "per-minute";r=12;t=17` (`r` requests left, `t` seconds to
//! the window's end); a refusal is `429 rate_limited` with `Retry-After: t`
//! too. A state store that fails does not stop sign-ins: the limit is a
//! brake, not a lock.

use std::net::IpAddr;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::Response;

use super::error::{ApiError, Dialect};
use super::{AppState, ClientIp};
use crate::error::ErrorCode;
use crate::gateway::Target;
use crate::state::Hit;

/// The window every limit counts in.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The name of the one policy, in both headers.
const POLICY: &str = "per-minute";

pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// The rate limit's key for an address: IPv6 clients by their /64, which
/// one household or host gets as a whole.
pub fn rate_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("rl:{v4}"),
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            format!("rl:{a:x}:{b:x}:{c:x}:{d:x}::/64")
        }
    }
}

/// Where one client stands with one target's limit after a request.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    limit: u32,
    hit: Hit,
}

impl Quota {
    /// Whole seconds to the window's end, at least 1 (a client told 0
    /// would ask again at once).
    pub fn seconds_left(&self) -> u64 {
        let d = self.hit.resets_in;
        (d.as_secs() + u64::from(d.subsec_nanos() > 0)).clamp(1, WINDOW.as_secs())
    }

    pub fn remaining(&self) -> u64 {
        u64::from(self.limit).saturating_sub(self.hit.count)
    }

    pub fn exceeded(&self) -> bool {
        self.hit.count > u64::from(self.limit)
    }

    /// `RateLimit-Policy` and `RateLimit`.
    pub fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        let policy = format!("\"{POLICY}\";q={};w={}", self.limit, WINDOW.as_secs());
        let now = format!(
            "\"{POLICY}\";r={};t={}",
            self.remaining(),
            self.seconds_left()
        );
        // Digits and a fixed name: always a valid header value.
        if let (Ok(p), Ok(n)) = (HeaderValue::from_str(&policy), HeaderValue::from_str(&now)) {
            h.insert(RATELIMIT_POLICY, p);
            h.insert(RATELIMIT, n);
        }
        h
    }

    /// The headers on an answer, whether it minted or refused.
    pub fn apply(
        quota: Option<Self>,
        answer: Result<Response, ApiError>,
    ) -> Result<Response, ApiError> {
        let Some(q) = quota else { return answer };
        match answer {
            Ok(mut r) => {
                r.headers_mut().extend(q.headers());
                Ok(r)
            }
            Err(e) => Err(e.with_headers(q.headers())),
        }
    }
}

/// Counts this request against `target`'s limit for the client. `Ok(None)`
/// when no limit applies (off, no client address, or the store failed).
pub async fn check(
    state: &AppState,
    target: &Target,
    ip: ClientIp,
    dialect: Dialect,
) -> Result<Option<Quota>, ApiError> {
    let limit = target.rate_limit_per_minute;
    let Some(ip) = ip.0 else { return Ok(None) };
    if limit == 0 {
        return Ok(None);
    }
    let key = format!("{}:{}", rate_key(ip), target.name);
    let hit = match state.shared().store.hit(&key, WINDOW).await {
        Ok(hit) => hit,
        Err(e) => {
            tracing::warn!(error = %e, "rate limit not applied");
            return Ok(None);
        }
    };
    let quota = Quota { limit, hit };
    if !quota.exceeded() {
        return Ok(Some(quota));
    }
    let secs = quota.seconds_left();
    let mut headers = quota.headers();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    Err(ApiError::new(
        ErrorCode::RateLimited,
        format!(
            "at most {limit} requests a minute are accepted from one address for target {:?}; try again in {secs} s",
            target.name
        ),
        dialect,
    )
    .with_headers(headers))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Quota, rate_key};
    use crate::state::Hit;

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a = rate_key(
            "2001:db8:1:2:aaaa::1"
                .parse()
                .unwrap_or(std::net::IpAddr::from([0; 16])),
        );
        let b = rate_key(
            "2001:db8:1:2:ffff:1:2:3"
                .parse()
                .unwrap_or(std::net::IpAddr::from([0; 16])),
        );
        let c = rate_key(
            "2001:db8:1:3::1"
                .parse()
                .unwrap_or(std::net::IpAddr::from([0; 16])),
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, "rl:2001:db8:1:2::/64");
        let v4 = rate_key(
            "203.0.113.5"
                .parse()
                .unwrap_or(std::net::IpAddr::from([0; 4])),
        );
        assert_eq!(v4, "rl:203.0.113.5");
    }

    #[test]
    fn headers_are_the_structured_field_form() {
        let q = Quota {
            limit: 60,
            hit: Hit {
                count: 61,
                resets_in: Duration::from_millis(16_200),
            },
        };
        let h = q.headers();
        assert_eq!(h["ratelimit-policy"], "\"per-minute\";q=60;w=60");
        assert_eq!(h["ratelimit"], "\"per-minute\";r=0;t=17");
        assert!(q.exceeded());
        let fresh = Quota {
            limit: 60,
            hit: Hit {
                count: 1,
                resets_in: Duration::ZERO,
            },
        };
        assert_eq!(fresh.seconds_left(), 1, "never tells a client 0");
        assert_eq!(fresh.remaining(), 59);
    }
}
