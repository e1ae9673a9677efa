//! The reference OpenID Provider (`tests/support/op/op.mjs`) and a code-flow
//! client for it.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use url::Url;

use super::{browser, follow, manifest_dir, node_binary, random_token, require_node_modules};

/// Default client of the OP (when no `clients` are given): a "native" client,
/// so any `http://127.0.0.1:<port>/callback` is an accepted redirect URI.
/// Authenticates at the token endpoint with `client_secret_basic`.
pub const CLIENT_ID: &str = "zenbridge";
pub const CLIENT_SECRET: &str = "zenbridge-test-secret";
/// Second default client, same redirect URIs, `client_secret_post`.
pub const POST_CLIENT_ID: &str = "zenbridge-post";
pub const POST_CLIENT_SECRET: &str = "zenbridge-post-test-secret";

/// Environment variable holding the issuer of an OP that `scripts/test`
/// started for the whole run (default clients, never rotated); see
/// [`shared_op`].
pub const SHARED_OP_ENV: &str = "ZENBRIDGE_TEST_OP_ISSUER";

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running reference OP. Dropping it kills the process (which also exits by
/// itself when this test process dies, as its stdin closes).
pub struct Op {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub issuer: String,
    /// How long the OP took from spawn to `READY`.
    pub started_in: Duration,
    child: Option<Child>,
    _stdout: Option<BufReader<ChildStdout>>,
    logs: Arc<Mutex<String>>,
}

/// Options for [`start_op_with`].
#[derive(Debug, Clone, Default)]
pub struct OpOptions {
    /// oidc-provider client metadata (a JSON array); `None` = the OP's
    /// default clients ([`CLIENT_ID`], [`POST_CLIENT_ID`]).
    pub clients: Option<Value>,
    /// Port to listen on; 0 = any free port. Restarting an OP on the port of
    /// a previous one keeps the issuer (e.g. for key-rotation tests).
    pub port: u16,
    /// A JWKS file with private RSA keys (the first one signs); see
    /// [`op_generate_keys`]. `None` = a fresh key per start.
    pub keys_file: Option<PathBuf>,
    /// Extra accounts `{login_hint: claims}` (claims must contain `sub`).
    pub accounts: Option<Value>,
    /// Print oidc-provider's notices and every request in the OP log.
    pub verbose: bool,
    /// Lifetime of the opaque access tokens, in seconds; `None`: an hour.
    pub access_token_ttl: Option<u64>,
}

impl Op {
    /// `issuer` + `path` (path starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// What the OP wrote on stderr so far (errors it reported, e.g.
    /// `grant.error invalid_grant`). Also printed when a test panics while
    /// the `Op` is alive.
    pub fn logs(&self) -> String {
        self.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The OP's discovery document.
    pub async fn discovery(&self) -> Value {
        get_json(&self.url("/.well-known/openid-configuration")).await
    }

    /// The public JWKS the OP publishes.
    pub async fn jwks(&self) -> Value {
        get_json(&self.url("/jwks")).await
    }

    /// Generates a new RSA key that signs from now on. The old keys stay in
    /// the JWKS when `keep_old`, else only the new key is published.
    /// Returns the new public JWKS (the new key first). Do not call this on
    /// [`shared_op`].
    pub async fn rotate_keys(&self, keep_old: bool) -> Value {
        let url = self.url(if keep_old {
            "/__test/rotate"
        } else {
            "/__test/rotate?keep=0"
        });
        let resp = reqwest::Client::new()
            .post(url)
            .send()
            .await
            .expect("POST /__test/rotate");
        assert!(
            resp.status().is_success(),
            "rotate failed: {}",
            resp.status()
        );
        resp.json().await.expect("rotate answers JSON")
    }

    /// Signs `payload` as is (nothing added: set `iss`, `aud`, `exp`, ...
    /// yourself) with the OP's current RS256 key, header
    /// `{"alg":"RS256","typ":"JWT","kid":…}`.
    pub async fn sign(&self, payload: &Value) -> String {
        self.sign_with(&json!({}), payload, None).await
    }

    /// Like [`Op::sign`], with extra/overriding header fields and an
    /// optional `kid` choosing one of the OP's keys.
    pub async fn sign_with(&self, header: &Value, payload: &Value, kid: Option<&str>) -> String {
        let mut body = json!({ "header": header, "payload": payload });
        if let Some(kid) = kid {
            body["kid"] = json!(kid);
        }
        let resp = reqwest::Client::new()
            .post(self.url("/__test/sign"))
            .json(&body)
            .send()
            .await
            .expect("POST /__test/sign");
        let status = resp.status();
        let value: Value = resp.json().await.expect("sign answers JSON");
        assert!(status.is_success(), "sign failed: {status} {value}");
        value["jwt"]
            .as_str()
            .expect("jwt in sign answer")
            .to_owned()
    }

    /// An ID token as the OP would issue it for `login_hint`'s account,
    /// signed by the OP's key: `iss`, `aud`, `iat`, `exp` (+1 h) set, then
    /// `overrides` merged in (a `null` removes a claim). For tokens presented
    /// to the app-facing endpoints without running the browser flow.
    pub async fn id_token_for(&self, client_id: &str, claims: &Value, overrides: &Value) -> String {
        let now = unix_now();
        let mut payload = json!({
            "iss": self.issuer, "aud": client_id, "iat": now, "exp": now + 3600,
        });
        merge(&mut payload, claims);
        merge(&mut payload, overrides);
        self.sign(&payload).await
    }

    /// Stops the OP now (waits for it to exit).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let logs = self.logs();
            if !logs.is_empty() {
                eprintln!(
                    "---- reference OP log ({}) ----\n{logs}---- end of OP log ----",
                    self.issuer
                );
            }
        }
    }
}

/// Starts an OP with these clients (a JSON array of oidc-provider client
/// metadata: `client_id`, `client_secret`, `redirect_uris`,
/// `token_endpoint_auth_method`, `post_logout_redirect_uris`, ...).
pub async fn start_op(clients: Value) -> Op {
    start_op_with(OpOptions {
        clients: Some(clients),
        ..OpOptions::default()
    })
    .await
}

/// The OP of the whole test run when `scripts/test` started one
/// (`$ZENBRIDGE_TEST_OP_ISSUER`), else a new OP with the default clients.
/// Its state is shared with other tests: do not rotate its keys.
pub async fn shared_op() -> Op {
    match std::env::var(SHARED_OP_ENV) {
        Ok(issuer) if !issuer.is_empty() => Op {
            issuer: issuer.trim_end_matches('/').to_owned(),
            started_in: Duration::ZERO,
            child: None,
            _stdout: None,
            logs: Arc::default(),
        },
        _ => start_op_with(OpOptions::default()).await,
    }
}

/// Starts an OP; panics (with its log) when it is not ready within 30 s.
pub async fn start_op_with(options: OpOptions) -> Op {
    require_node_modules();
    let script = manifest_dir().join("tests/support/op/op.mjs");
    let mut cmd = Command::new(node_binary());
    cmd.arg(&script)
        .env("OP_PORT", options.port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(clients) = &options.clients {
        cmd.env("OP_CLIENTS", clients.to_string());
    } else {
        cmd.env_remove("OP_CLIENTS");
    }
    if let Some(file) = &options.keys_file {
        cmd.env("OP_KEYS_FILE", file);
    }
    if let Some(accounts) = &options.accounts {
        cmd.env("OP_ACCOUNTS", accounts.to_string());
    }
    if options.verbose {
        cmd.env("OP_VERBOSE", "1");
    }
    if let Some(ttl) = options.access_token_ttl {
        cmd.env("OP_ACCESS_TOKEN_TTL", ttl.to_string());
    }

    let started = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!(
            "cannot run `{} {}`: {e} (is Node.js installed?)",
            node_binary(),
            script.display()
        )
    });

    let logs = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().expect("piped stderr");
    let sink = Arc::clone(&logs);
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(mut l) = sink.lock() {
                l.push_str(&line);
                l.push('\n');
            }
        }
    });

    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let ready = tokio::time::timeout(READY_TIMEOUT, async {
        let mut line = String::new();
        loop {
            line.clear();
            match stdout.read_line(&mut line).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {
                    if let Some(url) = line.trim_end().strip_prefix("READY ") {
                        return Some(url.to_owned());
                    }
                }
            }
        }
    })
    .await;

    let Ok(ready) = ready else {
        panic!(
            "the reference OP was not ready within {READY_TIMEOUT:?}.\n\
             Run `scripts/test` once to install its Node modules.\nOP log:\n{}",
            logs.lock().map(|l| l.clone()).unwrap_or_default()
        );
    };
    let Some(issuer) = ready else {
        // Give the stderr reader a moment to collect the reason.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let status = child.try_wait().ok().flatten();
        panic!(
            "the reference OP exited before it was ready (status {status:?}).\n\
             If node_modules is missing or stale, run `scripts/test` (it runs npm ci).\n\
             OP log:\n{}",
            logs.lock().map(|l| l.clone()).unwrap_or_default()
        );
    };

    Op {
        issuer,
        started_in: started.elapsed(),
        child: Some(child),
        _stdout: Some(stdout),
        logs,
    }
}

/// `n` fresh RSA keys as a private JWKS (`{"keys":[…]}`, each with a `kid`,
/// `alg` RS256), for [`OpOptions::keys_file`]. Write it to a temp file.
pub async fn op_generate_keys(n: usize) -> Value {
    require_node_modules();
    let out = Command::new(node_binary())
        .arg(manifest_dir().join("tests/support/op/op.mjs"))
        .arg("genkeys")
        .arg(n.to_string())
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run op.mjs genkeys");
    assert!(
        out.status.success(),
        "op.mjs genkeys failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("genkeys prints a JWKS")
}

/// A PKCE verifier and its S256 challenge.
#[derive(Debug, Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        let verifier = random_token(32);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
        Self {
            verifier,
            challenge,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs the authorization request for `login_hint` (`None` = no hint) with
/// a fresh cookie jar, following the OP's redirects, and returns the URL the
/// OP finally sends the browser to on `redirect_uri` — with `code` and
/// `state`, or with `error` (e.g. `access_denied` for an unknown
/// `login_hint`) — plus the PKCE pair used. Scope: `openid email profile groups`.
pub async fn op_authorize(
    op: &Op,
    client_id: &str,
    redirect_uri: &str,
    login_hint: Option<&str>,
    nonce: &str,
) -> Result<(Url, Pkce), String> {
    op_authorize_in(
        &browser(),
        op,
        client_id,
        redirect_uri,
        login_hint,
        nonce,
        &[],
    )
    .await
}

/// [`op_authorize`] in a given [`browser`] (so its OP session cookies are
/// kept for a later request, e.g. `prompt=none` or [`op_logout`]), with
/// extra authorization parameters (`("prompt", "none")`, `("max_age", "0")`,
/// or a replacement `("scope", "openid")`).
pub async fn op_authorize_in(
    browser: &reqwest::Client,
    op: &Op,
    client_id: &str,
    redirect_uri: &str,
    login_hint: Option<&str>,
    nonce: &str,
    extra: &[(&str, &str)],
) -> Result<(Url, Pkce), String> {
    let pkce = Pkce::new();
    let state = random_token(16);
    let scope = extra
        .iter()
        .find(|(k, _)| *k == "scope")
        .map_or("openid email profile groups", |(_, v)| *v);
    let mut url = Url::parse(&op.url("/auth")).map_err(|e| e.to_string())?;
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("scope", scope)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", &state)
        .append_pair("nonce", nonce)
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256");
    if let Some(hint) = login_hint {
        url.query_pairs_mut().append_pair("login_hint", hint);
    }
    for (k, v) in extra.iter().filter(|(k, _)| *k != "scope") {
        url.query_pairs_mut().append_pair(k, v);
    }
    let target =
        Url::parse(redirect_uri).map_err(|e| format!("redirect_uri {redirect_uri}: {e}"))?;
    let (end, _hops) = follow(browser, url, |u| same_endpoint(u, &target)).await?;
    let returned_state = query_param(&end, "state");
    if returned_state.as_deref() != Some(state.as_str()) {
        return Err(format!(
            "state not returned intact: sent {state}, got {returned_state:?} in {end}"
        ));
    }
    Ok((end, pkce))
}

/// RP-initiated logout at the OP's `end_session_endpoint` in `browser`
/// (whose OP session ends), as a gateway would send the browser there.
/// Returns the URL the OP redirects to on `post_logout_redirect_uri` (with
/// `state=logout-state`).
pub async fn op_logout(
    browser: &reqwest::Client,
    op: &Op,
    id_token: &str,
    post_logout_redirect_uri: &str,
) -> Result<Url, String> {
    let mut url = Url::parse(&op.url("/session/end")).map_err(|e| e.to_string())?;
    url.query_pairs_mut()
        .append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", post_logout_redirect_uri)
        .append_pair("state", "logout-state");
    let target = Url::parse(post_logout_redirect_uri)
        .map_err(|e| format!("post_logout_redirect_uri {post_logout_redirect_uri}: {e}"))?;
    let (end, _hops) = follow(browser, url, |u| same_endpoint(u, &target)).await?;
    Ok(end)
}

/// Redeems a code at the token endpoint, with `client_secret_basic`, or with
/// `client_secret_post` when the OP refuses basic (`invalid_client`).
/// Returns the token response (`id_token`, `access_token`, ...).
pub async fn op_redeem_code(
    op: &Op,
    client_id: &str,
    client_secret: &str,
    redirect_uri: &str,
    code: &str,
    code_verifier: &str,
) -> Result<Value, String> {
    let token_url = op.url("/token");
    let client = reqwest::Client::new();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", code_verifier),
    ];
    let basic = client
        .post(&token_url)
        .basic_auth(client_id, Some(client_secret))
        .form(&form)
        .send()
        .await
        .map_err(|e| format!("POST {token_url}: {e}"))?;
    let status = basic.status();
    let body: Value = basic
        .json()
        .await
        .map_err(|e| format!("token response: {e}"))?;
    if status.is_success() {
        return Ok(body);
    }
    if body["error"] != "invalid_client" {
        return Err(format!("token endpoint answered {status}: {body}"));
    }
    let mut post_form = form.to_vec();
    post_form.push(("client_id", client_id));
    post_form.push(("client_secret", client_secret));
    let post = client
        .post(&token_url)
        .form(&post_form)
        .send()
        .await
        .map_err(|e| format!("POST {token_url}: {e}"))?;
    let status = post.status();
    let body: Value = post
        .json()
        .await
        .map_err(|e| format!("token response: {e}"))?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("token endpoint answered {status}: {body}"))
    }
}

/// The whole code flow (PKCE S256, `nonce`, `login_hint`) at the OP, as a
/// relying party would run it; returns the token response. `Err` carries
/// the OP's error (`access_denied: unknown user …`) or what went wrong.
async fn op_tokens(
    op: &Op,
    client_id: &str,
    client_secret: &str,
    redirect_uri: &str,
    login_hint: &str,
    nonce: &str,
) -> Result<Value, String> {
    let (callback, pkce) =
        op_authorize(op, client_id, redirect_uri, Some(login_hint), nonce).await?;
    if let Some(error) = query_param(&callback, "error") {
        let description = query_param(&callback, "error_description").unwrap_or_default();
        return Err(format!("{error}: {description}"));
    }
    let code = query_param(&callback, "code").ok_or_else(|| format!("no code in {callback}"))?;
    op_redeem_code(
        op,
        client_id,
        client_secret,
        redirect_uri,
        &code,
        &pkce.verifier,
    )
    .await
}

/// [`op_tokens`]' ID token.
pub async fn op_id_token(
    op: &Op,
    client_id: &str,
    client_secret: &str,
    redirect_uri: &str,
    login_hint: &str,
    nonce: &str,
) -> Result<String, String> {
    let tokens = op_tokens(
        op,
        client_id,
        client_secret,
        redirect_uri,
        login_hint,
        nonce,
    )
    .await?;
    token_field(&tokens, "id_token")
}

/// [`op_tokens`]' (opaque) access token.
pub async fn op_access_token(
    op: &Op,
    client_id: &str,
    client_secret: &str,
    redirect_uri: &str,
    login_hint: &str,
) -> Result<String, String> {
    let tokens = op_tokens(
        op,
        client_id,
        client_secret,
        redirect_uri,
        login_hint,
        "n-at",
    )
    .await?;
    token_field(&tokens, "access_token")
}

fn token_field(tokens: &Value, name: &str) -> Result<String, String> {
    tokens[name]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no {name} in the token response: {tokens}"))
}

/// Revokes `token` at the OP (RFC 7009), as `client_id`.
pub async fn op_revoke(op: &Op, client_id: &str, client_secret: &str, token: &str) {
    let resp = reqwest::Client::new()
        .post(op.url("/token/revocation"))
        .basic_auth(client_id, Some(client_secret))
        .form(&[("token", token), ("token_type_hint", "access_token")])
        .send()
        .await
        .expect("POST /token/revocation");
    assert!(resp.status().is_success(), "revocation: {}", resp.status());
}

/// Header and payload of a compact JWS, decoded without any check.
pub fn decode_jwt(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let mut next = |what: &str| -> Value {
        let part = parts
            .next()
            .unwrap_or_else(|| panic!("JWT without {what}: {jwt}"));
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap_or_else(|e| panic!("JWT {what} is not base64url ({e}): {jwt}"));
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("JWT {what} is not JSON ({e}): {jwt}"))
    };
    let header = next("header");
    let payload = next("payload");
    (header, payload)
}

fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Same scheme, host, port and path (the query is ignored).
fn same_endpoint(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path() == b.path()
}

async fn get_json(url: &str) -> Value {
    let resp = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
    resp.json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Shallow merge of `patch`'s members into `target`; `null` removes.
fn merge(target: &mut Value, patch: &Value) {
    if let (Some(t), Some(p)) = (target.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                t.insert(k.clone(), v.clone());
            }
        }
    }
}
