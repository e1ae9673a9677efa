//! Where log lines go: standard error, as text or JSON
//! (`ZENBRIDGE_LOG_FORMAT=json`), filtered by `RUST_LOG` (default `info`);
//! and, when the `OTEL_*` variables ask for it, spans over OTLP
//! ([`crate::telemetry`]).

/// Whether log lines are JSON (`ZENBRIDGE_LOG_FORMAT=json`).
pub(super) fn json() -> bool {
    std::env::var("ZENBRIDGE_LOG_FORMAT").is_ok_and(|f| f == "json")
}

/// Logs to standard error and, when the `OTEL_*` variables ask for it,
/// spans over OTLP ([`crate::telemetry`]).
pub(super) fn init(runtime: &tokio::runtime::Handle) -> crate::telemetry::Guard {
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    // Colours only on a terminal: escape codes in a log file break grep.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (traces, guard, problem) = match crate::telemetry::layer(runtime) {
        Ok(Some((layer, guard))) => (Some(layer), guard, None),
        Ok(None) => (None, crate::telemetry::Guard::off(), None),
        Err(e) => (None, crate::telemetry::Guard::off(), Some(e)),
    };
    subscriber(filter, ansi, json(), std::io::stderr, traces).init();
    if let Some(e) = problem {
        tracing::error!(error = %e, "traces are off");
    }
    guard
}

/// The log layer (filtered by `filter`, never showing the spans that
/// exist for traces only) on a registry, with the trace layer when there
/// is one.
///
/// Without traces no layer is stacked in its place: an `Option` layer that
/// is `None` still counts as a layer that wants every callsite, so the
/// registry would create, enter and close the pipeline's trace-only spans
/// (five a request) for nobody (bench/NOTES.md, fifth round).
fn subscriber<W, T>(
    filter: tracing_subscriber::EnvFilter,
    ansi: bool,
    json: bool,
    writer: W,
    traces: Option<T>,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
    T: tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt as _;
    match traces {
        Some(traces) => Box::new(
            tracing_subscriber::registry()
                .with(traces)
                .with(log_layer(filter, ansi, json, writer)),
        ),
        None => {
            Box::new(tracing_subscriber::registry().with(log_layer(filter, ansi, json, writer)))
        }
    }
}

/// [`subscriber`]'s log layer, on whatever stack `S` it goes on.
fn log_layer<S, W>(
    filter: tracing_subscriber::EnvFilter,
    ansi: bool,
    json: bool,
    writer: W,
) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::FilterExt as _;
    let no_trace_spans = tracing_subscriber::filter::Targets::new()
        .with_default(tracing::Level::TRACE)
        .with_target(
            crate::telemetry::SPAN_TARGET,
            tracing_subscriber::filter::LevelFilter::OFF,
        );
    let logs = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(writer);
    let logs = if json {
        logs.json().boxed()
    } else {
        logs.boxed()
    };
    logs.with_filter(filter.and(no_trace_spans))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the spans it is shown: a stand-in for the trace layer.
    #[derive(Clone, Default)]
    struct Counting(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Counting {
        fn on_new_span(
            &self,
            _: &tracing::span::Attributes<'_>,
            _: &tracing::span::Id,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn with<T>(traces: Option<Counting>, f: impl FnOnce() -> T) -> T {
        let logs = subscriber(
            tracing_subscriber::EnvFilter::new("info"),
            false,
            false,
            std::io::sink,
            traces,
        );
        tracing::subscriber::with_default(logs, f)
    }

    /// One test, not two: callsites' interest is shared by every
    /// subscriber alive, so a subscriber with traces, set on another test
    /// thread at the same moment, would enable the span for this one too.
    #[test]
    fn trace_only_spans_are_created_only_when_traces_are_on() {
        with(None, || {
            let span = tracing::info_span!(target: crate::telemetry::SPAN_TARGET, "verify");
            assert!(
                span.is_disabled(),
                "a trace-only span was created for nobody"
            );
            let request = tracing::info_span!("request", request_id = "r1");
            assert!(!request.is_disabled(), "the log span of a request is kept");
        });
        let seen = Counting::default();
        with(Some(seen.clone()), || {
            let span = tracing::info_span!(target: crate::telemetry::SPAN_TARGET, "mint");
            assert!(!span.is_disabled());
        });
        assert_eq!(seen.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
