//! The command line: `serve`, `demo`, `check`, `explain`, `init`, `dev-token`.
//! Exit codes: 0 success, 1 a check failed, 2 usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Config};
use crate::explain::{ExplainRequest, Report};
use crate::gateway::{RequestInfo, Runtime};
use crate::source;

#[derive(Debug, Parser)]
#[command(
    name = "zenbridge",
    version,
    about = "Identity-provider bridge: upstream ID tokens in, Zendesk JWTs out"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArg {
    /// Config file; else $ZENBRIDGE_CONFIG, else ./zenbridge.toml
    #[arg(long, env = "ZENBRIDGE_CONFIG", default_value = "zenbridge.toml")]
    pub config: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway
    Serve {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Run the gateway on the built-in demo config (no file or secret needed)
    Demo {
        /// Address to listen on
        #[arg(long, default_value = DEMO_LISTEN)]
        listen: std::net::SocketAddr,
        /// The address browsers use, when it is not http://{listen} (a
        /// forwarded port, a proxy or a tunnel in front)
        #[arg(long)]
        public_url: Option<url::Url>,
    },
    /// Validate the config; print every problem with its key path
    Check {
        #[command(flatten)]
        config: ConfigArg,
        /// Also fetch each source's discovery document and keys
        #[arg(long)]
        online: bool,
        /// Evaluate this source's mapping against --claims
        #[arg(long, requires = "claims")]
        source: Option<String>,
        /// A JSON file with a sample upstream claim set
        #[arg(long, requires = "source")]
        claims: Option<PathBuf>,
        /// Print one JSON report on stdout (for CI); exit codes unchanged
        #[arg(long)]
        json: bool,
    },
    /// Dry run: show what the gateway would do with a token or claims for a target
    Explain {
        #[command(flatten)]
        config: ConfigArg,
        /// The target (its `name` in the config) to explain a sign-in to
        #[arg(long)]
        target: String,
        /// The upstream token to explain
        #[arg(long, conflicts_with_all = ["source", "claims"])]
        token: Option<String>,
        /// Explain --claims as if this source had verified them
        #[arg(long, requires = "claims")]
        source: Option<String>,
        /// A JSON file with a sample upstream claim set
        #[arg(long, requires = "source")]
        claims: Option<PathBuf>,
        /// Also sign the resulting token and print it
        #[arg(long, conflicts_with_all = ["at", "ignore_expiry"])]
        sign: bool,
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
        /// Use the built-in demo config (as `zenbridge demo` runs it)
        #[arg(long, conflicts_with = "config")]
        demo: bool,
        /// Verify as of this time (RFC 3339, or seconds since 1970) instead
        /// of now: for a token copied from a failed sign-in. Never signs
        #[arg(long, conflicts_with = "ignore_expiry")]
        at: Option<String>,
        /// Verify as of the token's own `iat`, so an expired token is
        /// explained as when it was issued. Never signs
        #[arg(long, requires = "token")]
        ignore_expiry: bool,
    },
    /// Write a commented starting config for one source kind and one target
    /// kind (it passes `check` once the environment variables its header
    /// lists are set)
    Init {
        /// The identity source's kind
        #[arg(long, value_enum)]
        source: InitSource,
        /// The Zendesk surface
        #[arg(long, value_enum)]
        target: InitTarget,
        /// sso only: end the sign-in on zenbridge's sandbox, not Zendesk
        #[arg(long)]
        sandbox: bool,
        /// The source's issuer (oidc, jwt); else a placeholder
        #[arg(long)]
        issuer: Option<String>,
        /// The OIDC client id registered at the provider; else a placeholder
        #[arg(long)]
        client_id: Option<String>,
        /// The Firebase project id; else a placeholder
        #[arg(long)]
        project_id: Option<String>,
        /// The Zendesk subdomain (sso); else "acme"
        #[arg(long)]
        subdomain: Option<String>,
        /// The address browsers and apps use; else http://127.0.0.1:8080
        #[arg(long)]
        public_url: Option<String>,
        /// Where to write the config ("-": standard output)
        #[arg(long, short, default_value = "zenbridge.toml")]
        output: PathBuf,
        /// Overwrite an existing file
        #[arg(long)]
        force: bool,
    },
    /// Print a token signed by a `dev` source
    DevToken {
        #[command(flatten)]
        config: ConfigArg,
        /// Use the built-in demo config (as `zenbridge demo` runs it)
        #[arg(long, conflicts_with = "config")]
        demo: bool,
        /// The `dev` source (its `name`) to sign with
        #[arg(long)]
        source: String,
        /// The user (an `id` under the source's [[source.users]])
        #[arg(long)]
        user: String,
    },
}

/// `init --source`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum InitSource {
    Oidc,
    Firebase,
    Jwt,
    Dev,
}

/// `init --target`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum InitTarget {
    Sso,
    Sdk,
    Messaging,
    Chat,
}

/// Where `zenbridge demo` listens unless told otherwise.
pub const DEMO_LISTEN: &str = "127.0.0.1:8080";

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio starts");
    rt.block_on(run(cli))
}

/// Whether log lines are JSON (`ZENBRIDGE_LOG_FORMAT=json`).
fn json_logs() -> bool {
    std::env::var("ZENBRIDGE_LOG_FORMAT").is_ok_and(|f| f == "json")
}

fn init_tracing() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    // Colours only on a terminal: escape codes in a log file break grep.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if json_logs() {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve { config } => serve(Some(config.config), None).await,
        Command::Init {
            source,
            target,
            sandbox,
            issuer,
            client_id,
            project_id,
            subdomain,
            public_url,
            output,
            force,
        } => {
            let init = crate::init::Init {
                source: match source {
                    InitSource::Oidc => source::SourceKind::Oidc,
                    InitSource::Firebase => source::SourceKind::Firebase,
                    InitSource::Jwt => source::SourceKind::Jwt,
                    InitSource::Dev => source::SourceKind::Dev,
                },
                target: match target {
                    InitTarget::Sso => crate::target::TargetKind::Sso,
                    InitTarget::Sdk => crate::target::TargetKind::Sdk,
                    InitTarget::Messaging => crate::target::TargetKind::Messaging,
                    InitTarget::Chat => crate::target::TargetKind::Chat,
                },
                sandbox,
                issuer,
                client_id,
                project_id,
                subdomain,
                public_url,
            };
            write_init(&init, &output, force)
        }
        Command::Demo { listen, public_url } => serve(None, Some((listen, public_url))).await,
        Command::Check {
            config,
            online,
            source,
            claims,
            json,
        } => {
            let out = if json { Output::Json } else { Output::Text };
            check(
                &config.config,
                online,
                source.as_deref(),
                claims.as_deref(),
                out,
            )
            .await
        }
        Command::Explain {
            config,
            target,
            token,
            source,
            claims,
            sign,
            json,
            demo,
            at,
            ignore_expiry,
        } => {
            let at = match (at.as_deref().map(parse_time).transpose(), ignore_expiry) {
                (Err(e), _) => {
                    eprintln!("--at: {e}");
                    return ExitCode::from(2);
                }
                (Ok(Some(t)), _) => crate::explain::At::Time(t),
                (Ok(None), true) => crate::explain::At::TokenIat,
                (Ok(None), false) => crate::explain::At::Now,
            };
            let req = ExplainRequest {
                target,
                token,
                source,
                claims: None,
                sign,
                at,
            };
            let from = if demo { None } else { Some(config.config) };
            explain(from.as_deref(), req, claims.as_deref(), json).await
        }
        Command::DevToken {
            config,
            demo,
            source,
            user,
        } => dev_token(&config.config, demo, &source, &user),
    }
}

/// The demo config with its placeholders filled. The cookie key is fresh
/// for every run; the dev source's seed is fixed so `dev-token --demo`
/// signs with the running demo's key.
pub fn demo_config(listen: std::net::SocketAddr) -> Config {
    demo_config_at(listen, None).expect("the demo config is valid")
}

/// The demo config, browsers reaching it at `public_url` (else
/// `http://{listen}`); `Err` holds the config's problems with that URL.
pub fn demo_config_at(
    listen: std::net::SocketAddr,
    public_url: Option<&url::Url>,
) -> Result<Config, config::Problems> {
    let mut key = [0u8; 32];
    aws_lc_rs::rand::fill(&mut key).expect("RNG");
    let key: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let text = include_str!("../config/demo.toml")
        .replace("@LISTEN@", &listen.to_string())
        .replace(
            "@PUBLIC_URL@",
            public_url
                .map_or(format!("http://{listen}"), |u| {
                    u.as_str().trim_end_matches('/').to_owned()
                })
                .as_str(),
        )
        .replace("@COOKIE_KEY@", &key);
    config::load_str(&text, None)
}

/// The config `serve` starts with; its problems are log lines (JSON ones
/// with `ZENBRIDGE_LOG_FORMAT=json`, which a log collector reads).
fn load(path: &Path) -> Result<Config, ExitCode> {
    config::load_file(path).map_err(|problems| {
        if json_logs() {
            for p in &problems.0 {
                tracing::error!(config = %path.display(), key = %p.path, "{}", p.message);
            }
        } else {
            print_problems(path, &problems.0);
        }
        ExitCode::from(1)
    })
}

async fn serve(
    path: Option<PathBuf>,
    demo: Option<(std::net::SocketAddr, Option<url::Url>)>,
) -> ExitCode {
    let config = match (&path, &demo) {
        (_, Some((listen, public_url))) => match demo_config_at(*listen, public_url.as_ref()) {
            Ok(c) => c,
            Err(problems) => {
                print_problems(Path::new("--public-url"), &problems.0);
                return ExitCode::from(2);
            }
        },
        (Some(p), None) => match load(p) {
            Ok(c) => c,
            Err(code) => return code,
        },
        (None, None) => unreachable!("serve has a path or is the demo"),
    };
    if demo.is_none() {
        for w in &config.warnings {
            tracing::warn!(key = %w.path, "{}", w.message);
        }
    }
    let listen = config.server.listen;
    let public_url = config.server.public_url.clone();
    let setup = config.setup_lines();
    let state = match crate::build_state(config).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return ExitCode::from(1);
        }
    };
    warm_keys(&state);
    crate::http::spawn_timer_heartbeat();
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(%listen, error = %e, "cannot listen");
            return ExitCode::from(1);
        }
    };
    if let Some(p) = path {
        spawn_reload(state.clone(), p);
    }
    tracing::info!(%listen, %public_url, "zenbridge serving");
    for line in setup {
        tracing::info!("{line}");
    }
    if demo.is_some() {
        eprintln!("\n  zenbridge demo: open {public_url} in a browser (Ctrl-C stops it)\n");
    }
    let app = if demo.is_some() {
        crate::demo_app(state)
    } else {
        crate::app(state)
    }
    .into_make_service_with_connect_info::<std::net::SocketAddr>();
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
    {
        tracing::error!(error = %e, "server stopped");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// Fetches every source's keys in the background, so the first request
/// does not wait and `/readyz` turns green as soon as it can.
fn warm_keys(state: &crate::AppState) {
    for s in state.runtime().sources.clone() {
        tokio::spawn(async move {
            if let Err(e) = s.keys.get().await {
                tracing::warn!(source = %s.name(), error = %e.0, "keys not available yet");
            }
        });
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}

/// `SIGHUP` reloads the config and secret files. A config that fails
/// validation is refused and the old one keeps serving; requests in flight
/// finish on the runtime they started with.
fn spawn_reload(state: crate::AppState, path: PathBuf) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match config::load_file(&path) {
                Ok(c) => {
                    let rt = Runtime::new(c, &state.shared().http, &state.shared().keys);
                    state.replace_runtime(rt);
                    warm_keys(&state);
                    tracing::info!(config = %path.display(), "config reloaded");
                }
                Err(problems) => {
                    for p in &problems.0 {
                        tracing::error!(problem = %p, "config reload refused; the old config keeps serving");
                    }
                }
            }
        }
    });
}

/// How `check` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
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
async fn check(
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
    let unavailable = report.sources.iter().filter(|s| s.error.is_some()).count();
    let refused = report.targets.iter().filter(|t| t.error.is_some()).count();
    let mut failures = Vec::new();
    if unavailable > 0 {
        failures.push(format!(
            "keys unavailable for {unavailable} source{}",
            plural(unavailable)
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

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn print_json(report: &CheckReport) {
    println!(
        "{}",
        serde_json::to_string_pretty(report).expect("a report serialises")
    );
}

fn print_problems(path: &Path, problems: &[config::Problem]) {
    eprintln!(
        "{}: {} problem{}",
        path.display(),
        problems.len(),
        plural(problems.len())
    );
    for p in problems {
        eprintln!("  {p}");
    }
}

/// `init`: the config to `output` (never over a file without `--force`).
fn write_init(init: &crate::init::Init, output: &Path, force: bool) -> ExitCode {
    let text = match init.render() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if output == Path::new("-") {
        print!("{text}");
        return ExitCode::SUCCESS;
    }
    if output.exists() && !force {
        eprintln!(
            "{} exists; give --force to overwrite it, or --output another file",
            output.display()
        );
        return ExitCode::from(2);
    }
    match std::fs::write(output, text) {
        Ok(()) => {
            eprintln!(
                "wrote {}: set the environment variables its header lists, then `zenbridge check --config {}`",
                output.display(),
                output.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot write {}: {e}", output.display());
            ExitCode::from(2)
        }
    }
}

fn read_claims(file: &Path) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    match serde_json::from_str(&text) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err(format!(
            "{}: must hold a JSON object of claims",
            file.display()
        )),
        Err(e) => Err(format!("{}: not JSON ({e})", file.display())),
    }
}

/// A time given on the command line: RFC 3339, or seconds since 1970.
fn parse_time(s: &str) -> Result<i64, String> {
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
async fn explain(
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

/// The dev source's key comes from its seed and its issuer from its name,
/// so the token verifies at a server running the same config anywhere.
fn dev_token(path: &Path, demo: bool, source_name: &str, user: &str) -> ExitCode {
    let config = if demo {
        demo_config(DEMO_LISTEN.parse().expect("a socket address"))
    } else {
        match load(path) {
            Ok(c) => c,
            Err(code) => return code,
        }
    };
    let Some(cfg) = config
        .sources
        .iter()
        .find(|s| s.name == source_name)
        .cloned()
    else {
        eprintln!("no source named {source_name:?}");
        return ExitCode::from(2);
    };
    let src = source::build(
        cfg,
        &crate::http_client(),
        &source::keys::KeyCache::default(),
    );
    let Some(source::SignIn::Dev(dev)) = &src.sign_in else {
        eprintln!(
            "source {source_name:?} is of kind {}, not dev",
            src.config.kind.as_str()
        );
        return ExitCode::from(2);
    };
    let Some(u) = dev.user(user) else {
        let ids: Vec<_> = dev.users.iter().map(|u| u.id.as_str()).collect();
        eprintln!(
            "source {source_name:?} has no user {user:?} (users: {})",
            ids.join(", ")
        );
        return ExitCode::from(2);
    };
    println!("{}", dev.mint(u, source::now(), None));
    ExitCode::SUCCESS
}
