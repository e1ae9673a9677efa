//! The command line: `serve`, `demo`, `check`, `explain`, `init`, `dev-token`.
//! Exit codes: 0 success, 1 a check failed, 2 usage.
//!
//! This file parses the command line and runs the small commands
//! (`init`, `dev-token`); [`serve`] runs the gateway (and `demo`, and
//! reloads), [`check`] validates a config, [`explain`] runs a dry run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod check;
mod explain;
mod links;
mod logs;
mod serve;

use clap::{Parser, Subcommand};

use crate::config::{self, Config};
use crate::explain::ExplainRequest;
use crate::source;
use check::{Output, check};
use explain::{explain, parse_time};
use serve::serve;
pub use serve::{demo_config, demo_config_at};

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
    #[arg(
        long,
        global = true,
        env = "ZENBRIDGE_CONFIG",
        default_value = "zenbridge.toml"
    )]
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
        /// The upstream token to explain (an opaque token may start with
        /// "-": it is taken as the value, not as an option)
        #[arg(long, allow_hyphen_values = true, conflicts_with = "claims")]
        token: Option<String>,
        /// With --claims: explain them as if this source had verified them.
        /// With --token: verify it along this source rather than by its
        /// `iss` (a zendesk_jwt source's tokens have none); never signed
        #[arg(long)]
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
    /// Identity links: one person, one Zendesk user across sources
    Links {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        command: links::LinksCommand,
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
    Session,
    Introspection,
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
    // `rt` in this crate is a config's Runtime; this is tokio's.
    let executor = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio starts");
    let traces = logs::init(executor.handle());
    let code = executor.block_on(run(cli));
    // After the server stopped, before the runtime goes: the exporter
    // sends the last spans through it.
    traces.shutdown();
    code
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
                    InitSource::Session => source::SourceKind::Session,
                    InitSource::Introspection => source::SourceKind::Introspection,
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
        Command::Links { config, command } => links::links(&config.config, command).await,
    }
}

/// The config `serve` starts with; its problems are log lines (JSON ones
/// with `ZENBRIDGE_LOG_FORMAT=json`, which a log collector reads).
pub(super) fn load(path: &Path) -> Result<Config, ExitCode> {
    config::load_file(path).map_err(|problems| {
        if logs::json() {
            for p in &problems.0 {
                tracing::error!(config = %path.display(), key = %p.path, "{}", p.message);
            }
        } else {
            print_problems(path, &problems.0);
        }
        ExitCode::from(1)
    })
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub(super) fn print_problems(path: &Path, problems: &[config::Problem]) {
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

pub(super) fn read_claims(
    file: &Path,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
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
