//! The command line: `serve`, `demo`, `check`, `explain`, `dev-token`.
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
    version = env!("ZENBRIDGE_VERSION"),
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
    },
    /// Dry run: show what the gateway would do with a token or claims for a target
    Explain {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        target: String,
        /// The upstream token to explain
        #[arg(long, conflicts_with_all = ["source", "claims"])]
        token: Option<String>,
        #[arg(long, requires = "claims")]
        source: Option<String>,
        #[arg(long, requires = "source")]
        claims: Option<PathBuf>,
        /// Also sign the resulting token and print it
        #[arg(long)]
        sign: bool,
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
    },
    /// Print a token signed by a `dev` source
    DevToken {
        #[command(flatten)]
        config: ConfigArg,
        /// Use the built-in demo config (as `zenbridge demo` runs it)
        #[arg(long, conflicts_with = "config")]
        demo: bool,
        #[arg(long)]
        source: String,
        #[arg(long)]
        user: String,
    },
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

fn init_tracing() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    // Colours only on a terminal: escape codes in a log file break grep.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if std::env::var("ZENBRIDGE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve { config } => serve(Some(config.config), None).await,
        Command::Demo { listen } => serve(None, Some(listen)).await,
        Command::Check {
            config,
            online,
            source,
            claims,
        } => check(&config.config, online, source.as_deref(), claims.as_deref()).await,
        Command::Explain {
            config,
            target,
            token,
            source,
            claims,
            sign,
            json,
        } => {
            explain(
                &config.config,
                target,
                token,
                source,
                claims.as_deref(),
                sign,
                json,
            )
            .await
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
    let mut key = [0u8; 32];
    aws_lc_rs::rand::fill(&mut key).expect("RNG");
    let key: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let text = include_str!("../config/demo.toml")
        .replace("@LISTEN@", &listen.to_string())
        .replace("@PUBLIC_URL@", &format!("http://{listen}"))
        .replace("@COOKIE_KEY@", &key);
    config::load_str(&text, None).expect("the demo config is valid")
}

fn load(path: &Path) -> Result<Config, ExitCode> {
    config::load_file(path).map_err(|problems| {
        eprintln!(
            "{}: {} problem{}",
            path.display(),
            problems.0.len(),
            if problems.0.len() == 1 { "" } else { "s" }
        );
        for p in &problems.0 {
            eprintln!("  {p}");
        }
        ExitCode::from(1)
    })
}

async fn serve(path: Option<PathBuf>, demo: Option<std::net::SocketAddr>) -> ExitCode {
    let config = match (&path, demo) {
        (_, Some(listen)) => demo_config(listen),
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
    let state = match crate::build_state(config).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return ExitCode::from(1);
        }
    };
    warm_keys(&state);
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

async fn check(path: &Path, online: bool, source: Option<&str>, claims: Option<&Path>) -> ExitCode {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    for w in &config.warnings {
        println!("warning: {w}");
    }
    for n in &config.notes {
        println!("note: {n}");
    }
    println!(
        "{}: ok ({} sources, {} targets)",
        path.display(),
        config.sources.len(),
        config.targets.len()
    );
    let mut failed = false;
    let http = crate::http_client();
    let rt = Runtime::new(config, &http, &source::keys::KeyCache::default());
    if online {
        for s in &rt.sources {
            match s.keys.get().await {
                Ok(k) => {
                    println!(
                        "source {}: {} key(s) [{}]",
                        s.name(),
                        k.len(),
                        k.kids().join(", ")
                    );
                    for skipped in &k.skipped {
                        println!("  skipped {skipped}");
                    }
                }
                Err(e) => {
                    failed = true;
                    println!("source {}: keys unavailable: {}", s.name(), e.0);
                }
            }
        }
    }
    if let (Some(name), Some(file)) = (source, claims) {
        let sample = match read_claims(file) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        if rt.source(name).is_none() {
            eprintln!("no source named {name:?}");
            return ExitCode::from(2);
        }
        let mut fed = 0;
        for t in &rt.config.targets {
            let Some(t) = rt.target(&t.name) else {
                continue;
            };
            let Some(route) = t.route_named(name) else {
                continue;
            };
            fed += 1;
            let outcome = crate::pipeline::prepare(
                t,
                route,
                &sample,
                &RequestInfo::default(),
                source::now(),
                &mut crate::pipeline::Quiet,
            );
            match outcome {
                Ok(payload) => println!(
                    "target {} ({}): {}",
                    t.name,
                    t.kind.as_str(),
                    serde_json::Value::Object(payload)
                ),
                Err(e) => {
                    failed = true;
                    println!(
                        "target {} ({}): refused: {} [{}]",
                        t.name,
                        t.kind.as_str(),
                        e,
                        e.code()
                    );
                }
            }
        }
        if fed == 0 {
            println!("source {name} feeds no target");
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
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

async fn explain(
    path: &Path,
    target: String,
    token: Option<String>,
    source: Option<String>,
    claims: Option<&Path>,
    sign: bool,
    json: bool,
) -> ExitCode {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let claims = match claims.map(read_claims).transpose() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if token.is_none() && source.is_none() {
        eprintln!("give --token TOKEN, or --source S --claims FILE.json");
        return ExitCode::from(2);
    }
    let http = crate::http_client();
    let rt = Runtime::new(config, &http, &source::keys::KeyCache::default());
    let req = ExplainRequest {
        target,
        token,
        source,
        claims,
        sign,
    };
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
