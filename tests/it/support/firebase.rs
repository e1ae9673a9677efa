//! The real Firebase Auth emulator (`firebase-tools`, Node only, no Java) as
//! an upstream identity provider, on free loopback ports.
//!
//! [`start_firebase_emulator`] runs
//! `firebase emulators:start --only auth --project <demo-…> --config <tmp>`
//! from `tests/support/firebase/node_modules` (installed by `scripts/test`,
//! or `npm ci --prefix tests/support/firebase`), fully offline:
//!
//! - the project id must start with `demo-`: firebase-tools then uses a demo
//!   configuration and never looks the project up or asks for a login;
//! - `CI=true` skips the message-of-the-day fetch, `NO_UPDATE_NOTIFIER=1` the
//!   npm version check; a fresh `HOME`/`XDG_CONFIG_HOME` has no stored
//!   consent, so no usage is reported and no credentials are found;
//! - the generated `firebase.json` enables the auth emulator only, with the
//!   Emulator UI off and the hub and logging emulators (always started) on
//!   free ports, so several emulators can run at once; `TMPDIR` is per run,
//!   since the hub writes a per-project locator file there.
//!
//! Startup is slow: the auth emulator compiles a JSON-schema validator for
//! every parameter of its REST API (exegesis + ajv), some 15 to 20 s of CPU,
//! i.e. 20 to 40 s on two shared cores. It is given [`START_TIMEOUT`], and
//! the emulator's log is printed when it does not come up; tests in one
//! process can share one emulator ([`shared_firebase_emulator`]).
//!
//! The whole process group is killed on drop, and also when the test process
//! dies without dropping (a shell watchdog kills the group when our end of
//! its stdin closes), so no emulator outlives a run.
//!
//! # The emulator's tokens
//!
//! ID tokens are **unsigned**: header `{"alg":"none","typ":"JWT"}`, an empty
//! signature (the token ends with `.`). The payload looks like a real
//! Firebase ID token:
//!
//! ```json
//! {"email": "victim@acme.test", "email_verified": false,
//!  "auth_time": 1796046069, "user_id": "4Q0VnsJyjugcy0wsFIPbf7Sc0QiP",
//!  "firebase": {"identities": {"email": ["victim@acme.test"]},
//!               "sign_in_provider": "password"},
//!  "iat": 1796046069, "exp": 1796049669, "aud": "<project>",
//!  "iss": "https://securetoken.google.com/<project>",
//!  "sub": "4Q0VnsJyjugcy0wsFIPbf7Sc0QiP"}
//! ```
//!
//! An email/password sign-up gets `email_verified: false`, for any address,
//! with no proof of owning it. [`FirebaseEmulator::set_email_verified`] is the
//! emulator's admin API (`Authorization: Bearer owner`); the user's next
//! [`FirebaseEmulator::sign_in`] then gets `email_verified: true`. zenbridge
//! accepts these tokens only from a `firebase` source with
//! `insecure_emulator = true`, which never fetches keys for them.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{free_port, manifest_dir, node_binary};

/// How long the emulator may take to answer on its port. It needs some
/// 15 to 20 s of CPU to start, so on two busy cores (other builds, another
/// emulator) it has taken 40 s; 60 s was not always enough.
pub const START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long one REST call to the emulator may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts when the emulator exits before it is ready (a port taken).
const ATTEMPTS: usize = 3;

/// The API key sent with the client calls (the emulator accepts any).
pub const FIREBASE_API_KEY: &str = "fake-api-key";

// The emulator runs under a shell watchdog, leader of its own process group:
// when our end of its stdin closes (on drop, or when this test process ends,
// which is how the shared emulator stops) it kills firebase-tools, removes
// the emulator's temp dir ($1) and kills the rest of the group. The shell
// exits when firebase-tools does, so an early exit is noticed.
const WATCHDOG: &str = r#"dir=$1
shift
exec 3<&0
"$@" </dev/null &
pid=$!
( cat <&3 >/dev/null; kill -KILL "$pid" 2>/dev/null; rm -rf "$dir"; kill -KILL 0 ) &
wait "$pid"
"#;

/// The project of [`shared_firebase_emulator`].
pub const SHARED_FIREBASE_PROJECT: &str = "demo-zenbridge";

/// Environment variable holding the URL (`http://127.0.0.1:<port>`) of an
/// Auth emulator for [`SHARED_FIREBASE_PROJECT`] that `scripts/test` started
/// for the whole run; see [`shared_firebase_emulator`].
pub const SHARED_FIREBASE_ENV: &str = "ZENBRIDGE_TEST_FIREBASE_URL";
/// Environment variable holding the console log of that emulator, shown
/// when it does not answer.
pub const SHARED_FIREBASE_LOG_ENV: &str = "ZENBRIDGE_TEST_FIREBASE_LOG";

/// A running Firebase Auth emulator. Dropping it kills it.
pub struct FirebaseEmulator {
    /// The project id (`aud`; `iss` is `https://securetoken.google.com/<it>`).
    pub project_id: String,
    /// `http://127.0.0.1:<port>`
    pub url: String,
    /// How long it took to answer on its port.
    pub startup: Duration,
    /// `None` for the run-wide emulator of `scripts/test`.
    child: Option<Child>,
    log: PathBuf,
    client: reqwest::Client,
    /// Its home, tmp, config and logs; `None` when `scripts/test` owns it.
    _dir: Option<tempfile::TempDir>,
}

/// The firebase-tools entry point in `tests/support/firebase/node_modules`.
fn firebase_cli() -> PathBuf {
    let cli = manifest_dir()
        .join("tests/support/firebase/node_modules/firebase-tools/lib/bin/firebase.js");
    assert!(
        cli.exists(),
        "{} is missing: the Firebase emulator is not installed.\n\
         Run `scripts/test` (it installs it), or `npm ci --prefix tests/support/firebase`.",
        cli.display()
    );
    cli
}

/// Starts the Auth emulator for `project_id` (which must start with `demo-`,
/// so firebase-tools stays offline) and waits until it answers. Panics with
/// the emulator's log if it does not within [`START_TIMEOUT`].
pub async fn start_firebase_emulator(project_id: &str) -> FirebaseEmulator {
    assert!(
        project_id.starts_with("demo-"),
        "use a project id starting with `demo-` ({project_id:?}): firebase-tools \
         would otherwise try to look the project up online"
    );
    let cli = firebase_cli();
    let mut failures = Vec::new();
    for attempt in 1..=ATTEMPTS {
        match try_start(&cli, project_id).await {
            Ok(emulator) => return emulator,
            Err(Failure::Exited(log)) => failures.push(format!(
                "attempt {attempt}: the emulator exited before it was ready. Log:\n{log}"
            )),
            Err(Failure::TimedOut(log)) => panic!(
                "the Firebase Auth emulator did not answer within {START_TIMEOUT:?}. Log:\n{log}"
            ),
        }
    }
    panic!(
        "the Firebase Auth emulator did not start:\n{}",
        failures.join("\n")
    );
}

/// A shared emulator for project [`SHARED_FIREBASE_PROJECT`]: its startup
/// costs some 15 to 20 s of CPU, so tests share one. It is the one
/// `scripts/test` started for the whole run (`$ZENBRIDGE_TEST_FIREBASE_URL`,
/// waited for here, as it starts while the tests build), else one for this
/// test process, started by the first test that asks (one for all tests
/// under `cargo test`; one per test under nextest, which runs each test in
/// its own process). Tests sharing it must use their own email addresses.
/// An emulator of this process stops when the process ends (the watchdog
/// sees its stdin close).
pub async fn shared_firebase_emulator() -> &'static FirebaseEmulator {
    static SHARED: tokio::sync::OnceCell<FirebaseEmulator> = tokio::sync::OnceCell::const_new();
    SHARED
        .get_or_init(|| async {
            match std::env::var(SHARED_FIREBASE_ENV) {
                Ok(url) if !url.is_empty() => run_wide_emulator(url.trim_end_matches('/')).await,
                _ => start_firebase_emulator(SHARED_FIREBASE_PROJECT).await,
            }
        })
        .await
}

/// The emulator `scripts/test` started, once it answers.
async fn run_wide_emulator(url: &str) -> FirebaseEmulator {
    let has_port = url
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
    assert!(
        has_port,
        "${SHARED_FIREBASE_ENV} is not http://127.0.0.1:<port>: {url}"
    );
    let mut emulator = FirebaseEmulator {
        project_id: SHARED_FIREBASE_PROJECT.to_owned(),
        url: url.to_owned(),
        startup: Duration::ZERO,
        child: None,
        log: std::env::var_os(SHARED_FIREBASE_LOG_ENV).map_or_else(PathBuf::new, PathBuf::from),
        client: http_client(),
        _dir: None,
    };
    let started = Instant::now();
    while !emulator.ready().await {
        assert!(
            started.elapsed() < START_TIMEOUT,
            "the Firebase Auth emulator of scripts/test (${SHARED_FIREBASE_ENV} = {url}) \
             did not answer within {START_TIMEOUT:?}. Log:\n{}",
            emulator.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    emulator.startup = started.elapsed();
    emulator
}

/// No pooled connections: a shared emulator is called from the runtimes of
/// several tests, and a pooled connection dies with its runtime.
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .pool_max_idle_per_host(0)
        .build()
        .expect("HTTP client")
}

enum Failure {
    /// It exited (a port taken by someone else in the meantime): retry.
    Exited(String),
    TimedOut(String),
}

async fn try_start(cli: &Path, project_id: &str) -> Result<FirebaseEmulator, Failure> {
    let dir = tempfile::tempdir().expect("temp dir for the Firebase emulator");
    let home = dir.path().join("home");
    let tmp = dir.path().join("tmp");
    for d in [&home, &tmp] {
        std::fs::create_dir_all(d).expect("emulator home and tmp dirs");
    }
    let port = free_port();
    let config = json!({
        "emulators": {
            "auth": {"host": "127.0.0.1", "port": port},
            "hub": {"host": "127.0.0.1", "port": free_port()},
            "logging": {"host": "127.0.0.1", "port": free_port()},
            "ui": {"enabled": false},
            "singleProjectMode": true,
        }
    });
    let config_file = dir.path().join("firebase.json");
    std::fs::write(&config_file, config.to_string()).expect("write firebase.json");
    let log = dir.path().join("emulator.log");
    let log_file = std::fs::File::create(&log).expect("emulator log file");
    let log_err = log_file.try_clone().expect("emulator log file handle");

    let started = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("firebase-watchdog")
        .arg(dir.path())
        .arg(node_binary())
        .arg(cli)
        .args(["emulators:start", "--only", "auth", "--project", project_id])
        .arg("--config")
        .arg(&config_file)
        .current_dir(dir.path()) // firebase-debug.log goes there
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("TMPDIR", &tmp)
        .env("CI", "true")
        .env("NO_UPDATE_NOTIFIER", "1")
        .env_remove("FIREBASE_TOKEN")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env_remove("FIREBASE_AUTH_EMULATOR_HOST")
        .stdin(Stdio::piped())
        .stdout(log_file)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run sh for the Firebase emulator: {e}"));

    let url = format!("http://127.0.0.1:{port}");
    let mut emulator = FirebaseEmulator {
        project_id: project_id.to_owned(),
        url,
        startup: Duration::ZERO,
        child: None,
        log,
        client: http_client(),
        _dir: Some(dir),
    };
    loop {
        if emulator.ready().await {
            emulator.startup = started.elapsed();
            emulator.child = Some(child);
            return Ok(emulator);
        }
        if let Ok(Some(status)) = child.try_wait() {
            drop(child.stdin.take()); // the watchdog's helper ends too
            return Err(Failure::Exited(format!(
                "(exit status {status})\n{}",
                emulator.log_text()
            )));
        }
        if started.elapsed() > START_TIMEOUT {
            emulator.child = Some(child); // killed by drop
            return Err(Failure::TimedOut(emulator.log_text()));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

impl FirebaseEmulator {
    /// True when the auth emulator answers `GET /` with `"ready": true`.
    async fn ready(&self) -> bool {
        let Ok(resp) = self
            .client
            .get(format!("{}/", self.url))
            .timeout(Duration::from_secs(2))
            .send()
            .await
        else {
            return false;
        };
        let Ok(body) = resp.json::<Value>().await else {
            return false;
        };
        body["authEmulator"]["ready"] == true
    }

    /// The emulator's console output and its `firebase-debug.log` (written
    /// beside it on errors).
    pub fn log_text(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let console = read(&self.log);
        let debug = self
            .log
            .parent()
            .map(|d| read(&d.join("firebase-debug.log")))
            .unwrap_or_default();
        format!("{console}\n--- firebase-debug.log ---\n{debug}")
    }

    /// The token issuer: `https://securetoken.google.com/<project>`.
    pub fn issuer(&self) -> String {
        format!("https://securetoken.google.com/{}", self.project_id)
    }

    async fn call(&self, path: &str, admin: bool, body: &Value) -> Value {
        let url = format!("{}/identitytoolkit.googleapis.com/v1/{path}", self.url);
        let mut req = self.client.post(&url).json(body);
        if admin {
            req = req.bearer_auth("owner");
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}\nemulator log:\n{}", self.log_text()));
        let status = resp.status();
        let text = resp
            .text()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: reading the answer: {e}"));
        assert!(status.is_success(), "POST {url}: HTTP {status}: {text}");
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("POST {url}: answer is not JSON ({e}): {text}"))
    }

    /// Email/password sign-up (anyone can, with any address): the new user's
    /// ID token, whose `email_verified` is false.
    pub async fn sign_up(&self, email: &str, password: &str) -> String {
        let body = self
            .call(
                &format!("accounts:signUp?key={FIREBASE_API_KEY}"),
                false,
                &json!({"email": email, "password": password, "returnSecureToken": true}),
            )
            .await;
        id_token(&body, "signUp")
    }

    /// Email/password sign-in: a fresh ID token.
    pub async fn sign_in(&self, email: &str, password: &str) -> String {
        let body = self
            .call(
                &format!("accounts:signInWithPassword?key={FIREBASE_API_KEY}"),
                false,
                &json!({"email": email, "password": password, "returnSecureToken": true}),
            )
            .await;
        id_token(&body, "signInWithPassword")
    }

    /// Marks the user's email address verified (or not), as the admin SDK
    /// would. Tokens issued before keep their claim: sign in again.
    pub async fn set_email_verified(&self, local_id: &str, verified: bool) {
        let body = self
            .call(
                &format!("projects/{}/accounts:update", self.project_id),
                true,
                &json!({"localId": local_id, "emailVerified": verified}),
            )
            .await;
        assert_eq!(
            body["emailVerified"].as_bool().unwrap_or(false),
            verified,
            "accounts:update did not take: {body}"
        );
    }
}

fn id_token(body: &Value, call: &str) -> String {
    body["idToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{call} answered without idToken: {body}"))
        .to_owned()
}

impl Drop for FirebaseEmulator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Kill the whole group now (the watchdog shell leads it); closing
            // its stdin would make the watchdog do the same.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            drop(child.stdin.take());
            let _ = child.kill();
            // Reap the shell (it dies at once; bounded all the same).
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
