//! Traces: OpenTelemetry spans of each request and its steps, exported
//! over OTLP/HTTP (protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set; off otherwise.
//!
//! What it promises:
//! - **Off costs nothing per request.** The step spans have their own
//!   target, [`SPAN_TARGET`], which the log layer never enables: without
//!   the OpenTelemetry layer their callsites are disabled once and for all,
//!   and the request's OpenTelemetry span is not even built ([`enabled`]).
//! - **Only names, codes and numbers in attributes.** The spans carry
//!   route, target, source and key-set names, outcomes, error codes and
//!   HTTP status; never a token, secret, cookie, claim or query string.
//!   Log events (whose sentences may quote a claim) never become span
//!   events: the OpenTelemetry layer sees spans of [`SPAN_TARGET`] only.
//! - **The standard `OTEL_*` variables**, read by the SDK and the exporter
//!   themselves: endpoint, headers, timeout, compression, sampler
//!   (`OTEL_TRACES_SAMPLER`, default parent-based always-on), service name
//!   and resource attributes (`zenbridge` unless `OTEL_SERVICE_NAME` or
//!   `OTEL_RESOURCE_ATTRIBUTES` names one); `OTEL_SDK_DISABLED=true` or
//!   `OTEL_TRACES_EXPORTER=none` turn traces off.
//! - **An incoming W3C `traceparent` is the request span's parent**
//!   ([`request_span`]); the request id is picked as before.
//! - **Spans are flushed at shutdown** ([`Guard::shutdown`]).
//!
//! The exporter sends through a reqwest (rustls) client driven by the
//! process's tokio runtime ([`TokioReqwest`]): the SDK's batch processor
//! exports from a thread of its own, which has no reactor.

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer as _;

/// The `tracing` target of every span that becomes an OpenTelemetry span.
/// Logs never show these spans (the log layer filters the target out).
pub const SPAN_TARGET: &str = "zenbridge::span";

/// The service name when the `OTEL_*` variables give none.
const SERVICE_NAME: &str = "zenbridge";

/// How long one export may take unless `OTEL_EXPORTER_OTLP_TIMEOUT` says
/// otherwise (the specification's default).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

static ENABLED: OnceLock<bool> = OnceLock::new();

/// Whether traces are exported (set once, at start-up).
pub fn enabled() -> bool {
    ENABLED.get().copied().unwrap_or(false)
}

/// Whether the environment asks for traces: an OTLP endpoint is set and
/// the SDK is not disabled.
pub fn wanted(var: impl Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| var(name).is_some_and(|v| !v.trim().is_empty());
    let is =
        |name: &str, value: &str| var(name).is_some_and(|v| v.trim().eq_ignore_ascii_case(value));
    (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        && !is("OTEL_SDK_DISABLED", "true")
        && !is("OTEL_TRACES_EXPORTER", "none")
}

/// Keeps the tracer provider; [`Guard::shutdown`] flushes it.
pub struct Guard(Option<SdkTracerProvider>);

impl Guard {
    /// No traces: nothing to flush.
    pub fn off() -> Self {
        Self(None)
    }

    /// Exports the spans still buffered and stops the exporter. Call it
    /// outside the tokio runtime, which must still be alive (it sends).
    pub fn shutdown(self) {
        if let Some(provider) = self.0
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "traces not flushed at shutdown");
        }
    }
}

/// The OpenTelemetry layer and its provider, when the environment asks
/// for traces; `Err` says why the exporter could not be built.
pub fn layer<S>(
    runtime: &tokio::runtime::Handle,
) -> Result<Option<(impl tracing_subscriber::Layer<S>, Guard)>, String>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    if !wanted(|name| std::env::var(name).ok()) {
        return Ok(None);
    }
    // Only protobuf over HTTP is built in: sending it to a gRPC port
    // would fail on every export, so say so once instead.
    for var in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Ok(p) = std::env::var(var)
            && !p.trim().is_empty()
            && p.trim() != "http/protobuf"
        {
            return Err(format!(
                "{var} is {p:?}; this build exports http/protobuf only"
            ));
        }
    }
    // No redirects: the export's headers (often a vendor's API key) go to
    // the configured collector only.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(export_timeout())
        .build()
        .map_err(|e| format!("cannot build the OTLP HTTP client: {e}"))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_http_client(TokioReqwest {
            client: http,
            runtime: runtime.clone(),
        })
        .build()
        .map_err(|e| format!("cannot build the OTLP trace exporter: {e}"))?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    let named = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    if !named("OTEL_SERVICE_NAME")
        && !std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| v.contains("service.name="))
    {
        resource = resource.with_service_name(SERVICE_NAME);
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer(SERVICE_NAME);
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_threads(false)
        .with_error_events_to_status(false)
        .with_error_events_to_exceptions(false)
        .with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target(SPAN_TARGET, tracing::Level::INFO),
        );
    let _ = ENABLED.set(true);
    Ok(Some((layer, Guard(Some(provider)))))
}

/// `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` or `OTEL_EXPORTER_OTLP_TIMEOUT`
/// (milliseconds), else 10 s.
fn export_timeout() -> Duration {
    [
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ]
    .iter()
    .find_map(|name| std::env::var(name).ok()?.trim().parse::<u64>().ok())
    .map_or(EXPORT_TIMEOUT, Duration::from_millis)
}

/// The request's OpenTelemetry span, child of the incoming `traceparent`
/// when there is a valid one; `Span::none()` when traces are off.
pub fn request_span(method: &http::Method, headers: &http::HeaderMap) -> tracing::Span {
    if !enabled() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        target: SPAN_TARGET,
        "request",
        otel.kind = "server",
        http.request.method = %method,
        http.response.status_code = tracing::field::Empty,
        route = tracing::field::Empty,
        target = tracing::field::Empty,
        source = tracing::field::Empty,
        outcome = tracing::field::Empty,
        error_code = tracing::field::Empty,
    );
    let parent = opentelemetry_sdk::propagation::TraceContextPropagator::new();
    let cx = opentelemetry::propagation::TextMapPropagator::extract(
        &parent,
        &opentelemetry_http::HeaderExtractor(headers),
    );
    if cx.span().span_context().is_valid() {
        // Only fails for a span that is already closed or not recorded.
        let _ = span.set_parent(cx);
    }
    span
}

tokio::task_local! {
    /// The OpenTelemetry span of the request this task serves.
    static REQUEST: tracing::Span;
}

/// Runs `fut` with `span` as the request's OpenTelemetry span, which
/// [`outcome`] and [`error_code`] annotate.
pub async fn scope<F: std::future::Future>(span: tracing::Span, fut: F) -> F::Output {
    if span.is_none() {
        fut.await
    } else {
        REQUEST.scope(span, fut).await
    }
}

/// Records what a request came to on its span, and returns its trace id
/// when it is sampled (for the latency exemplar). Nothing when traces are
/// off.
pub fn outcome(
    route: &'static str,
    target: &str,
    source: &str,
    outcome: &str,
) -> Option<opentelemetry::trace::TraceId> {
    REQUEST
        .try_with(|span| {
            span.record("route", route);
            span.record("target", target);
            span.record("source", source);
            span.record("outcome", outcome);
            let cx = span.context();
            let sc = cx.span().span_context().clone();
            (sc.is_valid() && sc.is_sampled()).then(|| sc.trace_id())
        })
        .ok()
        .flatten()
}

/// Records a refusal's error code on the request's span.
pub fn error_code(code: &'static str) {
    let _ = REQUEST.try_with(|span| {
        span.record("error_code", code);
    });
}

/// An opentelemetry-http client over reqwest's async client, run on the
/// process's tokio runtime (the batch exporter's own thread has none).
#[derive(Debug)]
struct TokioReqwest {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

/// The largest collector answer read (the built-in clients' limit).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for TokioReqwest {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        self.runtime
            .spawn(async move {
                let mut answer = client.execute(request).await?;
                let mut body = bytes::BytesMut::new();
                while let Some(chunk) = answer.chunk().await? {
                    if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                        return Err("the OTLP collector's answer is too large".into());
                    }
                    body.extend_from_slice(&chunk);
                }
                let mut out = http::Response::new(body.freeze());
                *out.status_mut() = answer.status();
                *out.headers_mut() = std::mem::take(answer.headers_mut());
                Ok(out)
            })
            .await?
    }
}

#[cfg(test)]
mod tests {
    use super::wanted;

    #[test]
    fn traces_are_wanted_only_with_an_endpoint_and_not_disabled() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert!(!wanted(env(&[])));
        assert!(!wanted(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])));
        assert!(wanted(env(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://c:4318"
        )])));
        assert!(wanted(env(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://c:4318/v1/traces"
        )])));
        assert!(!wanted(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_SDK_DISABLED", "TRUE"),
        ])));
        assert!(!wanted(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ])));
    }
}
