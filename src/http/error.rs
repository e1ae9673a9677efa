//! Every refusal as a response: a status, the protocol's error name (RFC
//! 6749 / RFC 6750), the stable `error_code`, and a sentence saying what was
//! expected and what was found. Clients never see an internal error's text.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::ErrorCode;
use crate::gateway::GatewayError;

/// Which protocol's words a route speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Bearer-style endpoints (`/sdk`, `/exchange`): a refused token is 401
    /// `invalid_token` with `WWW-Authenticate`.
    Bearer,
    /// The RFC 8693 token endpoint: a refused token is 400 `invalid_grant`.
    TokenEndpoint,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    pub code: ErrorCode,
    pub description: String,
    /// Headers the answer carries besides the usual (the rate limit's);
    /// boxed, as most errors have none.
    pub headers: Option<Box<axum::http::HeaderMap>>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_code: &'a str,
    error_description: &'a str,
}

impl ApiError {
    pub fn new(code: ErrorCode, description: impl Into<String>, dialect: Dialect) -> Self {
        let (status, error) = status_of(code, dialect);
        Self {
            status,
            error,
            code,
            description: description.into(),
            headers: None,
        }
    }

    /// The same error, answered with `headers` too (they replace a
    /// default such as `Retry-After: 30`).
    #[must_use]
    pub fn with_headers(mut self, headers: axum::http::HeaderMap) -> Self {
        self.headers
            .get_or_insert_with(Box::default)
            .extend(headers);
        self
    }

    pub fn from_gateway(e: &GatewayError, dialect: Dialect) -> Self {
        Self::new(e.code(), e.to_string(), dialect)
    }
}

/// The status and protocol error name of each code. Every code is listed:
/// no catch-all arm.
pub fn status_of(code: ErrorCode, dialect: Dialect) -> (StatusCode, &'static str) {
    use ErrorCode as C;
    let refused = match dialect {
        Dialect::Bearer => (StatusCode::UNAUTHORIZED, "invalid_token"),
        Dialect::TokenEndpoint => (StatusCode::BAD_REQUEST, "invalid_grant"),
    };
    match code {
        C::TokenMalformed
        | C::TokenTooLarge
        | C::TokenTypeMismatch
        | C::TokenExpired
        | C::TokenInactive
        | C::TokenNotYetValid
        | C::TokenIssuedInFuture
        | C::IssuerUnknown
        | C::IssuerNotAllowed
        | C::AudienceMismatch
        | C::ClientNotAllowed
        | C::AlgorithmNotAllowed
        | C::SignatureInvalid
        | C::KeyUnknown
        | C::RuleFailed
        | C::ClaimMissing
        | C::ClaimInvalid
        | C::TokenReused
        | C::EmailUnverified
        | C::EmailDomainNotAllowed
        | C::RoleNotAllowed
        | C::TenantNotAllowed
        | C::LinkConflict => refused,
        C::StateMismatch | C::LoginExpired | C::LoginFailed | C::ReturnToNotAllowed => {
            (StatusCode::BAD_REQUEST, "invalid_request")
        }
        C::UpstreamUnavailable | C::StateUnavailable => {
            (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
        }
        C::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "slow_down"),
        C::RequestInvalid => (StatusCode::BAD_REQUEST, "invalid_request"),
        C::BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "invalid_request"),
        C::TargetUnknown => match dialect {
            Dialect::Bearer => (StatusCode::NOT_FOUND, "not_found"),
            Dialect::TokenEndpoint => (StatusCode::BAD_REQUEST, "invalid_target"),
        },
        C::SourceUnknown => (StatusCode::NOT_FOUND, "not_found"),
        C::GrantTypeUnsupported => (StatusCode::BAD_REQUEST, "unsupported_grant_type"),
        C::TokenTypeUnsupported => (StatusCode::BAD_REQUEST, "invalid_request"),
        C::IpNotAllowed => (StatusCode::FORBIDDEN, "access_denied"),
        C::EndpointNotAllowed => match dialect {
            Dialect::Bearer => (StatusCode::FORBIDDEN, "access_denied"),
            Dialect::TokenEndpoint => (StatusCode::BAD_REQUEST, "invalid_target"),
        },
        C::Unauthorized => (StatusCode::UNAUTHORIZED, "invalid_token"),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: self.error,
            error_code: self.code.as_str(),
            error_description: &self.description,
        };
        let mut resp = (self.status, Json(body)).into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: the description must be quoted-string safe.
            let desc: String = self
                .description
                .chars()
                .filter(|c| c.is_ascii_graphic() || *c == ' ')
                .filter(|c| *c != '"' && *c != '\\')
                .collect();
            let v = format!(
                "Bearer error=\"{}\", error_description=\"{desc}\"",
                self.error
            );
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        if matches!(
            self.code,
            ErrorCode::RateLimited | ErrorCode::UpstreamUnavailable | ErrorCode::StateUnavailable
        ) {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        }
        if let Some(extra) = self.headers {
            h.extend(*extra);
        }
        resp
    }
}
