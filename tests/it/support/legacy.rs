//! The legacy web app (`tests/support/legacy/app.py`, Python standard
//! library): its own users, login form and session cookie, Zendesk's JWT SSO
//! protocol (GET with the JWT in the query, or a form POST) and a session
//! check URL. See the script's header for its endpoints and test controls.
//!
//! Users: `ada@example.com` / `lovelace` (with `external_id`, organization
//! and tags), `grace@example.com` / `hopper`, `mallory@example.com` /
//! `mallory` (address not verified by the app).

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::manifest_dir;

/// The secret the app signs its Zendesk JWTs with unless told otherwise.
pub const LEGACY_JWT_SECRET: &str = "legacy-shared-secret-0123456789abcdef";

/// A running legacy app. Dropping it stops the process (its stdin closes).
pub struct LegacyApp {
    pub port: u16,
    child: Child,
    http: reqwest::Client,
}

/// How to start the app.
pub struct LegacyOptions {
    /// What the app writes where `https://{subdomain}.zendesk.com` was.
    pub zendesk_url: String,
    /// `"get"` (the JWT in the query string) or `"post"` (a form).
    pub jwt_mode: &'static str,
    pub jwt_secret: String,
}

impl Default for LegacyOptions {
    fn default() -> Self {
        Self {
            zendesk_url: "https://example.zendesk.com".to_owned(),
            jwt_mode: "get",
            jwt_secret: LEGACY_JWT_SECRET.to_owned(),
        }
    }
}

/// Starts `python3 tests/support/legacy/app.py` on a free loopback port.
pub async fn start_legacy_app(options: LegacyOptions) -> LegacyApp {
    let script = manifest_dir().join("tests/support/legacy/app.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .args(["--port", "0"])
        .args(["--zendesk-url", &options.zendesk_url])
        .args(["--jwt-mode", options.jwt_mode])
        .args(["--jwt-secret", &options.jwt_secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", script.display()));
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("the legacy app did not start within 10 s")
        .expect("read the legacy app's stdout")
        .expect("the legacy app exited before listening");
    let port: u16 = first
        .strip_prefix("listening on ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line from the legacy app: {first:?}"));
    LegacyApp {
        port,
        child,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client"),
    }
}

impl LegacyApp {
    /// `http://127.0.0.1:<port><path>`
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Changes the app's behaviour (`zendesk_url`, `jwt_mode`, `jwt_secret`,
    /// `check_mode`, `check_delay_ms`, `session_exp`).
    pub async fn configure(&self, settings: &Value) {
        let response = self
            .http
            .post(self.url("/_test/config"))
            .json(settings)
            .send()
            .await
            .expect("configure the legacy app");
        assert!(response.status().is_success(), "{response:?}");
    }

    /// `{"checks": n, "last_check_cookies": [...], "last_check_headers": [...]}`
    pub async fn stats(&self) -> Value {
        self.get_json("/_test/stats").await
    }

    /// The JWT the app would send for `claims` (given claims replace the
    /// defaults of the user named by `email`, Ada by default).
    pub async fn jwt(&self, claims: &Value) -> String {
        let answer = self.post_json("/_test/jwt", claims).await;
        answer["jwt"].as_str().expect("jwt").to_owned()
    }

    /// A session cookie value for `email`, without the login form.
    pub async fn session_for(&self, email: &str) -> String {
        let answer = self
            .post_json("/_test/sessions", &json!({ "email": email }))
            .await;
        answer["cookie"].as_str().expect("cookie").to_owned()
    }

    /// A mobile session token (`POST /api/mobile/login`).
    pub async fn mobile_token(&self, email: &str, password: &str) -> String {
        let answer = self
            .post_json(
                "/api/mobile/login",
                &json!({ "email": email, "password": password }),
            )
            .await;
        answer["token"].as_str().expect("token").to_owned()
    }

    /// Signs in with the login form a browser (`client`, keeping cookies)
    /// was sent to at `at` (`/login?next=…`): the URL the app sends the
    /// browser to next.
    pub async fn log_in(
        client: &reqwest::Client,
        at: &url::Url,
        email: &str,
        password: &str,
    ) -> url::Url {
        let next = at
            .query_pairs()
            .find(|(k, _)| k == "next")
            .map(|(_, v)| v.into_owned())
            .expect("the login form's next");
        let done = client
            .post(at.join("/login").expect("the form's URL"))
            .form(&[("email", email), ("password", password), ("next", &next)])
            .send()
            .await
            .expect("post the login form");
        assert_eq!(done.status(), reqwest::StatusCode::FOUND, "wrong password?");
        let location = done
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .expect("a Location");
        at.join(location).expect("a URL to go on to")
    }

    async fn get_json(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("legacy app request")
            .json()
            .await
            .expect("legacy app JSON")
    }

    async fn post_json(&self, path: &str, body: &Value) -> Value {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("legacy app request")
            .json()
            .await
            .expect("legacy app JSON")
    }
}

impl Drop for LegacyApp {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
    }
}
