//! The app-facing token endpoints:
//! - `POST /sdk/{target}/jwt`: Zendesk's servers POST `user_token` (form);
//!   `200 {"jwt"}`, `401` when refused, `400` without `user_token`. Never a
//!   redirect.
//! - `POST /exchange/{target}`: `Authorization: Bearer <upstream token>` →
//!   `{"jwt", "expires_in"}`; CORS for the target's `allowed_origins` only.
//! - `POST /token`: OAuth 2.0 Token Exchange (RFC 8693) for backends.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::error::{ApiError, Dialect};
use super::rate_limit::{self, Quota};
use super::{AppState, ClientIp, Rt, read_body};
use crate::config::Refusal;
use crate::error::ErrorCode;
use crate::gateway::{
    Exchanged, GatewayError, RequestInfo, Runtime, Target, subject_hash, token_hash,
};
use crate::metrics::Route;
use crate::pipeline::Via;
use crate::source::TokenUse;
use crate::target::Endpoint;

pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const SUBJECT_TYPES: [&str; 3] = [
    "urn:ietf:params:oauth:token-type:id_token",
    TYPE_JWT,
    ACCESS_TOKEN,
];

pub fn router() -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_methods([Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600))
        .allow_origin(AllowOrigin::predicate(
            |origin: &HeaderValue, parts: &axum::http::request::Parts| {
                let Some(name) = parts.uri.path().strip_prefix("/exchange/") else {
                    return false;
                };
                let Ok(origin) = origin.to_str() else {
                    return false;
                };
                // The runtime pinned to this request (a preflight too).
                let Some(rt) = parts.extensions.get::<Rt>() else {
                    return false;
                };
                rt.target(name).is_some_and(|t| {
                    t.endpoints.contains(&Endpoint::Exchange)
                        && t.allowed_origins.iter().any(|o| o == origin)
                })
            },
        ));
    Router::new()
        .route("/sdk/{target}/jwt", post(sdk_jwt))
        .route("/exchange/{target}", post(exchange).layer(cors))
        .route("/token", post(token_exchange))
}

/// A form field sent more than once, which RFC 6749 §3.1 forbids: a proxy
/// in front and zenbridge could read different copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeated;

/// One form field, `Err` when it is sent more than once. A body with
/// nothing percent- or plus-encoded (a JWT never needs it) is split in
/// place; anything else goes through the full decoder. Invalid UTF-8
/// reads as no field. The scans use `memchr` (SIMD): an SDK body is a
/// kilobyte of token.
pub(crate) fn form_field<'b>(body: &'b [u8], name: &str) -> Result<Option<Cow<'b, str>>, Repeated> {
    if memchr::memchr2(b'%', b'+', body).is_some() {
        let mut found = None;
        for (k, v) in url::form_urlencoded::parse(body) {
            if k == name && found.replace(v).is_some() {
                return Err(Repeated);
            }
        }
        return Ok(found);
    }
    let mut found: Option<&[u8]> = None;
    let mut rest = body;
    loop {
        let end = memchr::memchr(b'&', rest).unwrap_or(rest.len());
        let pair = &rest[..end];
        let eq = memchr::memchr(b'=', pair).unwrap_or(pair.len());
        if &pair[..eq] == name.as_bytes()
            && found
                .replace(pair.get(eq + 1..).unwrap_or_default())
                .is_some()
        {
            return Err(Repeated);
        }
        match rest.get(end + 1..) {
            Some(next) => rest = next,
            None => break,
        }
    }
    Ok(found.and_then(|v| std::str::from_utf8(v).ok().map(Cow::Borrowed)))
}

/// Form fields, borrowed from the body where no decoding was needed; `Err`
/// names a field sent more than once, which RFC 6749 §3.1 forbids (and
/// which a proxy and zenbridge could otherwise read differently).
fn form(body: &[u8]) -> Result<HashMap<Cow<'_, str>, Cow<'_, str>>, Cow<'_, str>> {
    let mut fields = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if fields.contains_key(&k) {
            return Err(k);
        }
        fields.insert(k, v);
    }
    Ok(fields)
}

/// The target by name.
fn find_target(rt: &Runtime, name: &str, dialect: Dialect) -> Result<Arc<Target>, ApiError> {
    rt.target(name).cloned().ok_or_else(|| {
        ApiError::new(
            ErrorCode::TargetUnknown,
            format!("no target named {}", crate::gateway::shorten(name)),
            dialect,
        )
    })
}

/// The one guard of every route that mints (see
/// [`crate::config::TargetConfig::admits`]): the target lists the
/// endpoint, and the client is in its `allowed_ips`.
fn guard(
    target: &Target,
    endpoint: Endpoint,
    ip: ClientIp,
    dialect: Dialect,
) -> Result<(), ApiError> {
    target.admits(endpoint, ip.0).map_err(|refusal| {
        let code = refusal.code();
        tracing::info!(target = %target.name, endpoint = endpoint.as_str(), ip = %ip.0.map(|i| i.to_string()).unwrap_or_default(), code = %code, "mint refused by the target's guard");
        let message = match refusal {
            Refusal::EndpointNotAllowed { .. } => format!(
                "target {:?} is not minted through this endpoint ({}); its endpoints are: {}",
                target.name,
                endpoint.as_str(),
                target
                    .endpoints
                    .iter()
                    .map(|e| e.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Refusal::IpNotAllowed => format!(
                "this address may not obtain tokens for target {:?} (allowed_ips)",
                target.name
            ),
        };
        ApiError::new(code, message, dialect)
    })
}

#[allow(clippy::too_many_arguments)]
async fn run(
    state: &AppState,
    rt: &Runtime,
    target: &Target,
    token: &str,
    via: Via<'_>,
    ip: ClientIp,
    route: Route,
    dialect: Dialect,
) -> Result<Exchanged, ApiError> {
    let started = std::time::Instant::now();
    let req = RequestInfo {
        ip: ip.0.map(|i| i.to_string()),
        ..RequestInfo::default()
    };
    let result = rt.exchange(target, token, via, &req).await;
    let metrics = &state.shared().metrics;
    match result {
        Ok(ok) => {
            metrics.request(
                route,
                &target.name,
                ok.source.name(),
                "ok",
                started.elapsed(),
            );
            // Its own log target, so `zenbridge::exchange=warn` drops it
            // alone.
            tracing::info!(
                target: "zenbridge::exchange",
                route = %route.as_str(),
                target = %target.name,
                source = %ok.source.name(),
                subject = %ok.subject.as_deref().map(subject_hash).unwrap_or_default(),
                latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                "token exchanged"
            );
            Ok(ok)
        }
        Err(crate::pipeline::Refused { error: e, source }) => {
            let source_name = source.as_ref().map_or("", |s| s.name());
            metrics.request(
                route,
                &target.name,
                source_name,
                e.code().as_str(),
                started.elapsed(),
            );
            metrics.failure(e.code());
            log_refusal(rt, &e, &target.name, source_name, token);
            Err(ApiError::new(e.code(), e.public_message(), dialect))
        }
    }
}

fn log_refusal(rt: &Runtime, e: &GatewayError, target: &str, source: &str, token: &str) {
    let parsed = crate::source::unverified_decode(token, rt.config.server.max_token_bytes).ok();
    let iss = parsed
        .as_ref()
        .and_then(|p| p.unverified_issuer())
        .map(crate::gateway::shorten)
        .unwrap_or_default();
    let kid = parsed
        .as_ref()
        .and_then(|p| p.kid.as_deref())
        .map(crate::gateway::shorten)
        .unwrap_or_default();
    let subject = parsed
        .as_ref()
        .and_then(|p| p.unverified_claims.get("sub"))
        .and_then(serde_json::Value::as_str)
        .map(subject_hash)
        .unwrap_or_default();
    tracing::info!(
        target = %target,
        source = %source,
        iss = %iss,
        kid = %kid,
        unverified_subject = %subject,
        token = %token_hash(token),
        code = %e.code(),
        "token refused: {e}"
    );
}

async fn sdk_jwt(
    State(state): State<AppState>,
    rt: Rt,
    Path(name): Path<String>,
    ip: ClientIp,
    request: Request,
) -> Result<Response, ApiError> {
    let d = Dialect::Bearer;
    let target = find_target(&rt, &name, d)?;
    guard(&target, Endpoint::Sdk, ip, d)?;
    let quota = rate_limit::check(&state, &target, ip, d).await?;
    Quota::apply(quota, sdk_mint(&state, &rt, &target, ip, request).await)
}

async fn sdk_mint(
    state: &AppState,
    rt: &Runtime,
    target: &Target,
    ip: ClientIp,
    request: Request,
) -> Result<Response, ApiError> {
    let d = Dialect::Bearer;
    let limit = rt.config.server.max_body_bytes;
    let body = read_body(request.into_body(), limit, d).await?;
    let user_token = form_field(&body, "user_token").map_err(|Repeated| {
        ApiError::new(
            ErrorCode::RequestInvalid,
            "the form field user_token is repeated; send it once",
            d,
        )
    })?;
    let Some(token) = user_token.filter(|t| !t.is_empty()) else {
        return Err(ApiError::new(
            ErrorCode::RequestInvalid,
            "the form field user_token is required (application/x-www-form-urlencoded)",
            d,
        ));
    };
    let ok = run(
        state,
        rt,
        target,
        &token,
        Via::Issuer(TokenUse::IdToken),
        ip,
        Route::Sdk,
        d,
    )
    .await?;
    Ok(jwt_json(&ok.minted.jwt))
}

/// `{"jwt":"…"}`, written straight into the body (no JSON value built).
fn jwt_json(jwt: &str) -> Response {
    let mut body = Vec::with_capacity(jwt.len() + 12);
    body.extend_from_slice(b"{\"jwt\":");
    serde_json::to_writer(&mut body, jwt).expect("a string serialises");
    body.push(b'}');
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

async fn exchange(
    State(state): State<AppState>,
    rt: Rt,
    Path(name): Path<String>,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let d = Dialect::Bearer;
    let target = find_target(&rt, &name, d)?;
    guard(&target, Endpoint::Exchange, ip, d)?;
    let quota = rate_limit::check(&state, &target, ip, d).await?;
    let answer = async {
        let token = bearer(&headers).ok_or_else(|| {
            ApiError::new(
                ErrorCode::RequestInvalid,
                "send the upstream token as Authorization: Bearer <token>",
                d,
            )
        })?;
        let ok = run(
            &state,
            &rt,
            &target,
            token,
            Via::Issuer(TokenUse::IdToken),
            ip,
            Route::Exchange,
            d,
        )
        .await?;
        Ok(Json(json!({"jwt": ok.minted.jwt, "expires_in": ok.minted.expires_in})).into_response())
    };
    Quota::apply(quota, answer.await)
}

/// The token of the one `Authorization: Bearer` header. Two
/// `Authorization` headers are none (RFC 9110 §5.3: it is not a list): a
/// proxy that checks one and zenbridge that read the other would disagree.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let mut all = headers.get_all(header::AUTHORIZATION).iter();
    let v = all.next()?.to_str().ok()?;
    if all.next().is_some() {
        return None;
    }
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

async fn token_exchange(
    State(state): State<AppState>,
    rt: Rt,
    ip: ClientIp,
    request: Request,
) -> Result<Response, ApiError> {
    let d = Dialect::TokenEndpoint;
    let limit = rt.config.server.max_body_bytes;
    let body = read_body(request.into_body(), limit, d).await?;
    let f = form(&body).map_err(|name| {
        ApiError::new(
            ErrorCode::RequestInvalid,
            format!(
                "the parameter {} is repeated; each may be sent once (RFC 6749 section 3.1)",
                crate::gateway::shorten(&name)
            ),
            d,
        )
    })?;
    match f.get("grant_type").map(AsRef::as_ref) {
        Some(TOKEN_EXCHANGE) => {}
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::GrantTypeUnsupported,
                format!(
                    "grant_type must be {TOKEN_EXCHANGE}; found {}",
                    crate::gateway::shorten(other)
                ),
                d,
            ));
        }
        None => {
            return Err(ApiError::new(
                ErrorCode::RequestInvalid,
                format!("grant_type is required ({TOKEN_EXCHANGE})"),
                d,
            ));
        }
    }
    let Some(token) = f.get("subject_token").filter(|t| !t.is_empty()) else {
        return Err(ApiError::new(
            ErrorCode::RequestInvalid,
            "subject_token is required",
            d,
        ));
    };
    // The declared type is enforced against the token's own `typ`: an
    // access token (RFC 9068 `at+jwt`) is never taken as an ID token.
    // An opaque token (not a JWT) is only taken as an access token.
    let via = match f.get("subject_token_type").map(AsRef::as_ref) {
        Some(ACCESS_TOKEN) => Via::Issuer(TokenUse::AccessToken),
        Some(t) if SUBJECT_TYPES.contains(&t) => Via::Jws(TokenUse::IdToken),
        Some(t) => {
            return Err(ApiError::new(
                ErrorCode::TokenTypeUnsupported,
                format!(
                    "subject_token_type must be one of {}; found {}",
                    SUBJECT_TYPES.join(", "),
                    crate::gateway::shorten(t)
                ),
                d,
            ));
        }
        None => {
            return Err(ApiError::new(
                ErrorCode::RequestInvalid,
                "subject_token_type is required",
                d,
            ));
        }
    };
    if let Some(t) = f.get("requested_token_type")
        && t != TYPE_JWT
    {
        return Err(ApiError::new(
            ErrorCode::TokenTypeUnsupported,
            format!("requested_token_type can only be {TYPE_JWT}"),
            d,
        ));
    }
    let target = match f.get("audience") {
        Some(a) => find_target(&rt, a, d)?,
        None => {
            // Without an audience only a lone target is meant, and only
            // when /token may mint it at all.
            let mut tokenable = rt
                .config
                .targets
                .iter()
                .filter(|t| t.endpoints.contains(&Endpoint::Token));
            match (tokenable.next(), tokenable.next(), rt.config.targets.len()) {
                (Some(t), None, 1) => find_target(&rt, &t.name, d)?,
                _ => {
                    return Err(ApiError::new(
                        ErrorCode::TargetUnknown,
                        "audience is required: name the target the token is for",
                        d,
                    ));
                }
            }
        }
    };
    guard(&target, Endpoint::Token, ip, d)?;
    // Counted once the target is known: the limit is per target.
    let quota = rate_limit::check(&state, &target, ip, d).await?;
    let answer = async {
        let ok = run(&state, &rt, &target, token, via, ip, Route::Token, d).await?;
        let mut resp = Json(json!({
            "access_token": ok.minted.jwt,
            "issued_token_type": TYPE_JWT,
            "token_type": "N_A",
            "expires_in": ok.minted.expires_in,
        }))
        .into_response();
        resp.headers_mut()
            .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        Ok(resp)
    };
    Quota::apply(quota, answer.await)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::{Repeated, form_field};

    #[test]
    fn form_field_agrees_with_the_full_decoder() {
        for body in [
            "user_token=abc.def",
            "a=1&user_token=x&b=2",
            "user_token=",
            "user_token",
            "user_tokenx=1",
            "user_token=a%2Eb",
            "user_token=a+b",
            "x=%zz&user_token=t",
            "user%5Ftoken=enc",
            "",
            "a=1&",
            "&&user_token=z&",
            "user_token=1&user_token=2",
            "user_token=1&user%5Ftoken=2",
            "user_token=&user_token=",
            "user_token==x",
        ] {
            assert_eq!(
                form_field(body.as_bytes(), "user_token"),
                full_decoder(body, "user_token"),
                "{body}"
            );
        }
    }

    /// What the full decoder reads: the field, or `Repeated`.
    fn full_decoder<'b>(body: &'b str, name: &str) -> Result<Option<Cow<'b, str>>, Repeated> {
        let mut all = url::form_urlencoded::parse(body.as_bytes()).filter(|(k, _)| k == name);
        let first = all.next().map(|(_, v)| v);
        if all.next().is_some() {
            return Err(Repeated);
        }
        Ok(first)
    }

    /// HTTP parameter pollution on `/sdk`: two `user_token`s, a proxy in
    /// front judging one and zenbridge serving the other.
    #[test]
    fn repeated_user_token_is_refused_attack() {
        for body in [
            "user_token=good&user_token=bad",
            "user_token=&user_token=t",
            "user%5Ftoken=bad&user_token=good",
        ] {
            assert_eq!(
                form_field(body.as_bytes(), "user_token"),
                Err(Repeated),
                "{body}"
            );
        }
    }
}
