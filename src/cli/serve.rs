//! `serve` and `demo`: the gateway on a config file (reloaded on
//! `SIGHUP`) or on the built-in demo config, until a signal stops it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{load, print_problems};
use crate::config::{self, Config};
use crate::gateway::Runtime;

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
    let key = crate::gateway::hex(&key);
    let text = include_str!("../../config/demo.toml")
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

pub(super) async fn serve(
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
