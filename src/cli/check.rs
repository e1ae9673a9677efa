//! `check`: the config validated (every problem with its key path, then
//! warnings and notes), `--online` key fetches, `--claims` a sample through
//! the pipeline, the verdict last; `--json` the same as one report.

use std::path::Path;
use std::process::ExitCode;

use super::{plural, print_problems, read_claims};
use crate::config;
use crate::gateway::{RequestInfo, Runtime};
use crate::source;

/// How `check` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Output {
    Text,
    Json,
}

/// `check --json`'s report: the shape documented in
/// docs/configuration.md ("check --json"). Fields are only added.
#[derive(Debug, Default, serde::Serialize)]
struct CheckReport {
    config: String,
    /// "ok" or "failed"; the exit code says the same (0 or 1).
    verdict: &'static str,
    problems: Vec<config::Problem>,
    warnings: Vec<config::Problem>,
    notes: Vec<config::Problem>,
    /// `--online`: each source's keys.
    sources: Vec<SourceKeys>,
    /// `--claims`: the result for each target the source feeds.
    targets: Vec<TargetResult>,
}

#[derive(Debug, serde::Serialize)]
struct SourceKeys {
    source: String,
    kids: Vec<String>,
    skipped: Vec<String>,
    error: Option<String>,
}

#[derive(Debug, serde::Serialize)]
struct TargetResult {
    target: String,
    kind: &'static str,
    payload: Option<serde_json::Value>,
    error_code: Option<&'static str>,
    error: Option<String>,
}

/// Validates the config, then what `--online` and `--claims` ask; the
/// verdict comes last, once everything is known.
pub(super) async fn check(
    path: &Path,
    online: bool,
    source: Option<&str>,
    claims: Option<&Path>,
    out: Output,
) -> ExitCode {
    let mut report = CheckReport {
        config: path.display().to_string(),
        ..CheckReport::default()
    };
    let config = match config::load_file(path) {
        Ok(c) => c,
        Err(problems) => {
            report.verdict = "failed";
            report.problems = problems.0;
            match out {
                Output::Json => print_json(&report),
                Output::Text => print_problems(path, &report.problems),
            }
            return ExitCode::from(1);
        }
    };
    let sample = match (source, claims) {
        (Some(name), Some(file)) => {
            let sample = match read_claims(file) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            if !config.sources.iter().any(|s| s.name == name) {
                eprintln!("no source named {name:?}");
                return ExitCode::from(2);
            }
            Some((name, sample))
        }
        _ => None,
    };
    report.warnings.clone_from(&config.warnings);
    report.notes.clone_from(&config.notes);
    let counts = format!(
        "{} source{}, {} target{}",
        config.sources.len(),
        plural(config.sources.len()),
        config.targets.len(),
        plural(config.targets.len())
    );
    if out == Output::Text {
        for w in &report.warnings {
            println!("warning: {w}");
        }
        for n in &report.notes {
            println!("note: {n}");
        }
    }
    let http = crate::http_client();
    let rt = Runtime::new(config, &http, &source::keys::KeyCache::default());
    if online {
        for s in &rt.sources {
            // A source of opaque tokens has no keys: one probe call instead.
            if let Some(opaque) = &s.opaque {
                let probe = opaque.probe().await;
                if out == Output::Text {
                    match &probe {
                        Ok(found) => println!("source {}: {found}", s.name()),
                        Err(e) => println!("source {}: unavailable: {e}", s.name()),
                    }
                }
                report.sources.push(SourceKeys {
                    source: s.name().to_owned(),
                    kids: Vec::new(),
                    skipped: Vec::new(),
                    error: probe.err(),
                });
                continue;
            }
            let keys = match s.keys.get().await {
                Ok(k) => SourceKeys {
                    source: s.name().to_owned(),
                    kids: k.kids().iter().map(ToString::to_string).collect(),
                    skipped: k.skipped.iter().map(ToString::to_string).collect(),
                    error: None,
                },
                Err(e) => SourceKeys {
                    source: s.name().to_owned(),
                    kids: Vec::new(),
                    skipped: Vec::new(),
                    error: Some(e.0.clone()),
                },
            };
            if out == Output::Text {
                match &keys.error {
                    None => {
                        println!(
                            "source {}: {} key(s) [{}]",
                            keys.source,
                            keys.kids.len(),
                            keys.kids.join(", ")
                        );
                        for skipped in &keys.skipped {
                            println!("  skipped {skipped}");
                        }
                    }
                    Some(e) => println!("source {}: keys unavailable: {e}", keys.source),
                }
            }
            report.sources.push(keys);
        }
    }
    if let Some((name, sample)) = &sample {
        report.targets = map_sample(&rt, name, sample);
        if out == Output::Text {
            for t in &report.targets {
                match (&t.payload, &t.error) {
                    (Some(p), _) => println!("target {} ({}): {p}", t.target, t.kind),
                    (None, e) => println!(
                        "target {} ({}): refused: {} [{}]",
                        t.target,
                        t.kind,
                        e.as_deref().unwrap_or_default(),
                        t.error_code.unwrap_or_default()
                    ),
                }
            }
            if report.targets.is_empty() {
                println!("source {name} feeds no target");
            }
        }
    }
    // Sources of opaque tokens were probed, not asked for keys.
    let (unchecked, unavailable) = report
        .sources
        .iter()
        .filter(|s| s.error.is_some())
        .partition::<Vec<_>, _>(|s| rt.source(&s.source).is_some_and(|x| x.opaque.is_some()));
    let (unchecked, unavailable) = (unchecked.len(), unavailable.len());
    let refused = report.targets.iter().filter(|t| t.error.is_some()).count();
    let mut failures = Vec::new();
    if unavailable > 0 {
        failures.push(format!(
            "keys unavailable for {unavailable} source{}",
            plural(unavailable)
        ));
    }
    if unchecked > 0 {
        failures.push(format!(
            "{unchecked} source{} of opaque tokens cannot check them",
            plural(unchecked)
        ));
    }
    if refused > 0 {
        failures.push(format!(
            "the sample is refused by {refused} target{}",
            plural(refused)
        ));
    }
    report.verdict = if failures.is_empty() { "ok" } else { "failed" };
    match out {
        Output::Json => print_json(&report),
        Output::Text if failures.is_empty() => println!("{}: ok ({counts})", path.display()),
        Output::Text => println!(
            "{}: FAILED: {} (the config itself is valid: {counts})",
            path.display(),
            failures.join("; ")
        ),
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `--claims`: the sample through each target the source feeds, as a
/// request would go (mapping, trust model, Zendesk's rules).
fn map_sample(
    rt: &Runtime,
    name: &str,
    sample: &serde_json::Map<String, serde_json::Value>,
) -> Vec<TargetResult> {
    let mut out = Vec::new();
    for t in &rt.config.targets {
        let Some(t) = rt.target(&t.name) else {
            continue;
        };
        let Some(route) = t.route_named(name) else {
            continue;
        };
        let outcome = crate::pipeline::prepare(
            t,
            route,
            sample,
            &RequestInfo::default(),
            source::now(),
            &mut crate::pipeline::Quiet,
        );
        let (payload, error_code, error) = match outcome {
            Ok(p) => (Some(serde_json::Value::Object(p)), None, None),
            Err(e) => (None, Some(e.code().as_str()), Some(e.to_string())),
        };
        out.push(TargetResult {
            target: t.name.clone(),
            kind: t.kind.as_str(),
            payload,
            error_code,
            error,
        });
    }
    out
}

fn print_json(report: &CheckReport) {
    println!(
        "{}",
        serde_json::to_string_pretty(report).expect("a report serialises")
    );
}
