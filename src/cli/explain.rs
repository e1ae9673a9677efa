//! `explain`: the dry run of one token or sample claim set, printed step
//! by step (or as JSON), with only the secrets explaining needs.

use std::path::Path;
use std::process::ExitCode;

use super::{DEMO_LISTEN, demo_config, print_problems, read_claims};
use crate::config;
use crate::explain::{ExplainRequest, Report};
use crate::gateway::Runtime;
use crate::source;

/// A time given on the command line: RFC 3339, or seconds since 1970.
pub(super) fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.trim().parse::<i64>() {
        return Ok(secs);
    }
    humantime::parse_rfc3339_weak(s.trim())
        .map_err(|e| {
            format!("{s:?} is neither RFC 3339 (2026-11-30T12:00:00Z) nor seconds since 1970 ({e})")
        })
        .and_then(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map_err(|_| format!("{s:?} is before 1970"))
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        })
}

/// `explain`: `path` is the config file, `None` the built-in demo config.
/// Only the secrets explaining needs are required: a source's (to verify),
/// the target's when signing.
pub(super) async fn explain(
    path: Option<&Path>,
    mut req: ExplainRequest,
    claims: Option<&Path>,
    json: bool,
) -> ExitCode {
    let config = match path {
        None => demo_config(DEMO_LISTEN.parse().expect("a socket address")),
        Some(path) => {
            match config::load_file_for(path, config::Purpose::Explain { sign: req.sign }) {
                Ok(c) => c,
                Err(problems) => {
                    print_problems(path, &problems.0);
                    return ExitCode::from(1);
                }
            }
        }
    };
    for n in &config.notes {
        eprintln!("note: {}: {}", n.path, n.message);
    }
    req.claims = match claims.map(read_claims).transpose() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if req.token.is_none() && req.source.is_none() {
        eprintln!("give --token TOKEN, or --source S --claims FILE.json");
        return ExitCode::from(2);
    }
    let http = crate::http_client();
    let rt = Runtime::new(config, &http, &source::keys::KeyCache::default());
    match crate::explain::explain(&rt, &req).await {
        Ok(report) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("serialises")
                );
            } else {
                print_report(&report);
            }
            if report.refused.is_some() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

fn print_report(r: &Report) {
    if let Some(at) = &r.evaluated_at {
        println!("AS OF      {at}, not now: what a sign-in then would have done");
    }
    println!("target     {} ({})", r.target, r.target_kind);
    if let Some(routing) = &r.routing {
        println!("routing    {routing}");
    }
    for c in &r.checks {
        println!("  ✓ {c}");
    }
    if let Some(claims) = &r.upstream_claims {
        let label = if r.claims_verified {
            "upstream claims (verified)"
        } else {
            "upstream claims (NOT verified)"
        };
        println!(
            "{label}\n  {}",
            serde_json::to_string_pretty(claims)
                .unwrap_or_default()
                .replace('\n', "\n  ")
        );
    }
    for rule in &r.rules {
        let mark = if rule.passed { "✓" } else { "✗" };
        println!(
            "rule   {mark} {} [{}]{}",
            rule.rule,
            rule.from,
            rule.error
                .as_ref()
                .map(|e| format!(" → {} ({})", e.message, e.error_code))
                .unwrap_or_default()
        );
    }
    for c in &r.claims {
        let result = match (&c.value, &c.error) {
            (_, Some(e)) => format!("✗ {} ({})", e.message, e.error_code),
            (Some(v), None) => format!("= {v}"),
            (None, None) => "= null (omitted)".into(),
        };
        println!(
            "claim  {:<16} {result}    ← {} [{}]",
            c.claim, c.expression, c.from
        );
    }
    for t in &r.trust {
        println!("trust    ✓ {t}");
    }
    if let Some(l) = &r.link {
        println!("link     {l}");
    }
    for z in &r.zendesk {
        println!("zendesk  ✓ {z}");
    }
    if let Some(p) = &r.payload {
        println!(
            "payload\n  {}",
            serde_json::to_string_pretty(p)
                .unwrap_or_default()
                .replace('\n', "\n  ")
        );
    }
    if let Some(j) = &r.jwt {
        println!("jwt\n  {j}");
    }
    match &r.refused {
        Some(e) => println!("REFUSED  {} ({})", e.message, e.error_code),
        None => println!("ACCEPTED"),
    }
}
