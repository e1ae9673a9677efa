//! What a page route did, for the one middleware that counts it and logs
//! it: handlers attach an [`Outcome`] to their response (as axum's
//! `examples/error-handling` attaches its error), and [`record`] turns it
//! into `zenbridge_requests_total`, `zenbridge_verification_failures_total`
//! and, for a refusal, one `INFO` line with the sentence. Building an
//! error or a page never logs by itself.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::error::ErrorCode;
use crate::metrics::Route;

/// A route's outcome: its metric labels and, for a refusal, its code and
/// sentence.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub route: Route,
    pub target: String,
    pub source: String,
    pub result: Result<&'static str, (ErrorCode, String)>,
}

impl Outcome {
    /// A success, counted with the `outcome` label `label`.
    pub fn ok(route: Route, target: &str, source: &str, label: &'static str) -> Self {
        Self {
            route,
            target: target.to_owned(),
            source: source.to_owned(),
            result: Ok(label),
        }
    }

    /// A refusal with its code and sentence.
    pub fn refused(
        route: Route,
        target: Option<&str>,
        source: Option<&str>,
        code: ErrorCode,
        message: String,
    ) -> Self {
        Self {
            route,
            target: target.unwrap_or_default().to_owned(),
            source: source.unwrap_or_default().to_owned(),
            result: Err((code, message)),
        }
    }

    /// `response` with this outcome attached for [`record`].
    pub fn attach(self, response: impl IntoResponse) -> Response {
        let mut r = response.into_response();
        r.extensions_mut().insert(self);
        r
    }
}

/// The middleware: counts and logs the outcome a handler attached.
pub async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = next.run(req).await;
    if let Some(o) = response.extensions().get::<Outcome>() {
        let metrics = &state.shared().metrics;
        let label = match &o.result {
            Ok(label) => label,
            Err((code, message)) => {
                metrics.failure(*code);
                tracing::info!(
                    route = %o.route.as_str(),
                    target = %o.target,
                    source = %o.source,
                    code = %code,
                    "browser sign-in refused: {message}"
                );
                code.as_str()
            }
        };
        metrics.request(o.route, &o.target, &o.source, label, started.elapsed());
    }
    response
}
