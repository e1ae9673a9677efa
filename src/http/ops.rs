//! Operations: `/healthz` (the process serves), `/readyz` (config loaded and
//! every source has usable keys), `/metrics` (OpenMetrics text), and
//! `POST /explain` (the `explain` command, only with `server.admin_token`).
//!
//! `/readyz` also asks the state store and, when identity links are kept,
//! the link store. It reads the key cache's state ([`crate::source::keys::Keys::status`]);
//! a probe fetches nothing itself. For a source without keys it starts a
//! warm-up in the background, which is the cache's own `get`: coalesced
//! with any fetch in flight and, after a failure, held back for the
//! source's `key_refresh_interval`. So probes add at most one fetch per
//! source per interval, and a gateway whose provider comes back turns
//! ready without waiting for a request. The probe waits for a warm-up at
//! most [`WARM_UP_WAIT`], so a fresh gateway answers green at once when
//! its providers answer.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::error::{ApiError, Dialect};
use super::rate_limit::rate_key;
use super::{AppState, ClientIp, Rt, read_body};
use crate::error::ErrorCode;
use crate::source::keys::KeyStatus;

/// How long `/readyz` waits for the warm-up of sources without keys.
pub const WARM_UP_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/explain", post(explain))
}

async fn readyz(State(state): State<AppState>, rt: Rt) -> Response {
    let mut warming = Vec::new();
    for s in &rt.sources {
        let status = s.keys.status();
        if status == KeyStatus::Ready {
            continue;
        }
        let source = s.clone();
        // Spawned: a probe that gives up does not cancel the fetch. A
        // source serving its last good keys is refreshed too (so it
        // recovers without traffic), but not waited for.
        let fetch = tokio::spawn(async move {
            let _ = source.keys.get().await;
        });
        if !matches!(status, KeyStatus::Stale(_)) {
            warming.push(fetch);
        }
    }
    if !warming.is_empty() {
        let _ = tokio::time::timeout(WARM_UP_WAIT, async {
            for w in warming {
                let _ = w.await;
            }
        })
        .await;
    }
    let mut not_ready = Vec::new();
    let mut degraded = Vec::new();
    let mut reasons = Vec::new();
    let mut degraded_reasons = Vec::new();
    for s in &rt.sources {
        // The reason (URLs redacted, connection errors) goes to the log,
        // not to whoever can reach this port.
        let why = match s.keys.status() {
            KeyStatus::Ready => continue,
            KeyStatus::Stale(why) => {
                degraded_reasons.push(format!("source {}: last good keys: {why}", s.name()));
                degraded.push(json!({"source": s.name(), "error": "serving its last good keys: the provider's keys cannot be fetched"}));
                continue;
            }
            KeyStatus::Failing(why) => why,
            KeyStatus::NotFetched => "the first key fetch has not finished".to_owned(),
        };
        reasons.push(format!("source {}: no keys: {why}", s.name()));
        not_ready.push(json!({"source": s.name(), "error": "no usable keys yet"}));
    }
    if let Err(e) = state.shared().store.ping().await {
        reasons.push(format!("state store: {e}"));
        not_ready.push(json!({"state": "store", "error": "the state store does not answer"}));
    }
    // With identity links on, a sign-in without the link store is refused.
    if let Some(links) = &rt.links
        && let Err(e) = links.ping().await
    {
        reasons.push(format!("identity link store: {e}: {}", e.detail()));
        not_ready
            .push(json!({"state": "links", "error": "the identity link store does not answer"}));
    }
    // Probes ask every few seconds: a WARN when readiness is lost or its
    // reasons change, INFO when it comes back, DEBUG otherwise.
    let now_reasons = reasons
        .iter()
        .chain(&degraded_reasons)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    let changed = match LAST_READINESS.lock() {
        Ok(mut last) => {
            let changed = *last != now_reasons;
            last.clone_from(&now_reasons);
            changed
        }
        Err(_) => true,
    };
    match (changed, reasons.is_empty(), degraded_reasons.is_empty()) {
        (true, false, _) => tracing::warn!(reasons = %now_reasons, "not ready"),
        (true, true, false) => tracing::warn!(reasons = %now_reasons, "ready, degraded"),
        (true, true, true) => tracing::info!("ready"),
        (false, false, _) => tracing::debug!(reasons = %now_reasons, "not ready"),
        (false, true, _) => {}
    }
    if not_ready.is_empty() && degraded.is_empty() {
        (StatusCode::OK, Json(json!({"ready": true}))).into_response()
    } else if not_ready.is_empty() {
        // Still ready: taking every replica out because a provider is down
        // would refuse the tokens its last good keys still verify.
        (
            StatusCode::OK,
            Json(json!({"ready": true, "degraded": degraded})),
        )
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "not_ready": not_ready})),
        )
            .into_response()
    }
}

/// The reasons of the last readiness answer ("" = ready), to log changes
/// only.
static LAST_READINESS: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// OpenMetrics text; the readiness gauges ask what `/readyz` asks, without
/// starting a warm-up.
async fn metrics(State(state): State<AppState>, rt: Rt) -> Response {
    let store_up = state.shared().store.ping().await.is_ok();
    let links_up = match &rt.links {
        Some(links) => links.ping().await.is_ok(),
        None => true,
    };
    let keys_ready = rt
        .sources
        .iter()
        .all(|s| s.keys.status() == KeyStatus::Ready);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state
            .shared()
            .metrics
            .render(&rt, store_up && links_up && keys_ready, store_up),
    )
        .into_response()
}

/// Failed `POST /explain` attempts allowed per client address a minute.
const EXPLAIN_FAILURES_PER_MINUTE: u64 = 10;

async fn explain(
    State(state): State<AppState>,
    rt: Rt,
    ip: ClientIp,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    let d = Dialect::Bearer;
    // Without an admin token the endpoint does not exist: a bare 404, as
    // for any unknown path.
    let Some(admin) = &rt.config.server.admin_token else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    let store = &state.shared().store;
    let fail_key = ip.0.map(|ip| format!("explain_fail:{}", rate_key(ip)));
    if let Some(key) = &fail_key
        && store.peek(key).await.unwrap_or(0) >= EXPLAIN_FAILURES_PER_MINUTE
    {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            "too many failed attempts from this address; try again in a minute",
            d,
        ));
    }
    let given = super::tokens::bearer(&headers).unwrap_or_default();
    if !crate::sso::pending::constant_time_eq(given.as_bytes(), admin.expose().as_bytes()) {
        if let Some(key) = &fail_key
            && let Err(e) = store.hit(key, Duration::from_secs(60)).await
        {
            tracing::warn!(error = %e, "failed explain attempt not counted");
        }
        tracing::warn!(ip = %ip.0.map(|i| i.to_string()).unwrap_or_default(), "POST /explain with a wrong admin token");
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "POST /explain needs Authorization: Bearer <server.admin_token>",
            d,
        ));
    }
    let body = read_body(request.into_body(), rt.config.server.max_body_bytes, d).await?;
    let req: crate::explain::ExplainRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::RequestInvalid,
            format!("the body must be JSON {{target, token | source + claims, sign}}: {e}"),
            d,
        )
    })?;
    if req.sign && req.token.is_none() {
        return Err(ApiError::new(
            ErrorCode::RequestInvalid,
            "over HTTP, explain signs only a presented token that verifies; sample claims are never signed",
            d,
        ));
    }
    let report = crate::explain::explain(&rt, &req)
        .await
        .map_err(|e| ApiError::new(ErrorCode::RequestInvalid, e, d))?;
    if report.jwt.is_some() {
        tracing::warn!(
            target = %report.target,
            source = report.source.as_deref().unwrap_or_default(),
            ip = ?ip.0,
            "POST /explain signed a Zendesk token"
        );
    }
    Ok(Json(report).into_response())
}
