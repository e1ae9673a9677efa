//! One id per request, on its response (`X-Request-Id`), its error page
//! and every log line written while it runs, so that "why did this
//! person's sign-in fail?" starts from what they saw.
//!
//! The id is the incoming `X-Request-Id` when it is a short token
//! (at most 64 of `A–Z a–z 0–9 . _ : -`: a proxy's or a load balancer's),
//! else the trace id of a valid W3C `traceparent`, else 128 random bits in
//! hex. Anything else a client sends is ignored, never echoed: an id goes
//! into log lines and pages.
//!
//! With traces on ([`crate::telemetry`]) the request also runs in an
//! OpenTelemetry span whose parent is a valid incoming `traceparent`; the
//! id is picked as above either way.

use axum::body::Body;
use axum::http::{HeaderValue, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The request's id, as a request extension.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

tokio::task_local! {
    /// The id of the request this task serves (read by the error page).
    static CURRENT: String;
}

/// The id of the request being served, when there is one.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

const HEADER: &str = "x-request-id";

/// The middleware: picks the id, runs the request in a span carrying it,
/// and sends it back.
pub async fn request_id(mut req: Request<Body>, next: Next) -> Response {
    let id = pick(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    // Traces on: the request's OpenTelemetry span, child of the caller's
    // `traceparent`; the log span below is its child, seen by logs only.
    let trace = crate::telemetry::request_span(req.method(), req.headers());
    let span = tracing::info_span!(
        parent: &trace,
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path()
    );
    let mut response = crate::telemetry::scope(
        trace.clone(),
        CURRENT.scope(id.clone(), next.run(req)).instrument(span),
    )
    .instrument(trace.clone())
    .await;
    if !trace.is_none() {
        trace.record("http.response.status_code", response.status().as_u16());
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, v);
    }
    response
}

fn pick(req: &Request<Body>) -> String {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(id) = header(HEADER).filter(|id| acceptable(id)) {
        return id.to_owned();
    }
    if let Some(trace) = header("traceparent").and_then(trace_id) {
        return trace.to_owned();
    }
    random_id()
}

/// An incoming id zenbridge keeps: short, and nothing a log line or a page
/// could misread.
fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`),
/// unless it is invalid or all zeros.
fn trace_id(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    let ok = hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && parent.bytes().any(|b| b != b'0')
        && (version != "00" || parts.next().is_none());
    ok.then_some(trace)
}

fn random_id() -> String {
    crate::gateway::hex(&crate::random::bits128())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_gives_its_trace_id_only_when_valid() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(trace_id(tp), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-xyz-00f067aa0ba902b7-01",
            "",
        ] {
            assert_eq!(trace_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_short_plain_ids_are_kept() {
        assert!(acceptable("req-123.abc:def_9"));
        for bad in [
            "",
            "a b",
            "<script>",
            &"x".repeat(65),
            "id\nforged log line",
        ] {
            assert!(!acceptable(bad), "{bad:?}");
        }
        assert_eq!(random_id().len(), 32);
        assert!(acceptable(&random_id()));
        assert_ne!(random_id(), random_id());
    }
}
