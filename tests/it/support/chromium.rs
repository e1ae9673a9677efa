//! A real headless Chromium, driven over WebDriver: Debian's `chromium` and
//! `chromium-driver` packages (installed by `scripts/test`; no browser
//! download), `chromedriver` on a free loopback port, and a `fantoccini`
//! session with a fresh profile. For `tests/it/browser.rs` (included there
//! with `#[path]`, so the shared `support` module needs no change).
//!
//! Environment: `ZENBRIDGE_TEST_CHROMIUM` (default `/usr/bin/chromium`),
//! `ZENBRIDGE_TEST_CHROMEDRIVER` (default `chromedriver` from `PATH`).

use std::net::{Ipv4Addr, TcpListener};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::json;
use tokio::process::{Child, Command};

/// The browser flags this machine needs: no sandbox (root, containers), no
/// GPU, and nothing that reaches the network on its own.
pub const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--window-size=1000,820",
];

/// A browser session; `close` ends it (dropping it kills the driver, which
/// takes the browser with it).
pub struct Chromium {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Starts chromedriver and a new headless Chromium session.
pub async fn start() -> Chromium {
    let chromium =
        std::env::var("ZENBRIDGE_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let driver_bin =
        std::env::var("ZENBRIDGE_TEST_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: run `scripts/test` (it installs Debian's chromium and chromium-driver), or `apt-get install chromium chromium-driver`"
    );
    let port = free_port();
    let driver = Command::new(&driver_bin)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {driver_bin}: {e} (apt-get install chromium-driver)")
        });
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let http = reqwest::Client::new();
    loop {
        let ready = http
            .get(format!("{url}/status"))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success());
        if ready.is_some() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not answer on {url} within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let profile = tempfile::tempdir().expect("a profile directory");
    let mut args: Vec<String> = FLAGS.iter().map(|f| (*f).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.path().display()));
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": chromium, "args": args }),
    );
    caps.insert("pageLoadStrategy".into(), json!("normal"));
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&url)
        .await
        .expect("a Chromium session through chromedriver");
    Chromium {
        client,
        driver,
        _profile: profile,
    }
}

impl Chromium {
    /// Ends the session and the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }

    /// Saves a PNG screenshot of the window to `path` (folders created).
    pub async fn screenshot(&self, path: &std::path::Path) {
        let png = self.client.screenshot().await.expect("a screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot folder");
        }
        std::fs::write(path, png).expect("write the screenshot");
    }
}
