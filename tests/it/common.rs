//! Harness for tests that run the gateway in-process on a real loopback
//! socket, a small upstream key server (Firebase certificate map and
//! JWKS) with a key made per test, and hostile upstreams: [`serve`] any
//! router, [`endless_body`], and [`FakeOp`], an OpenID Provider stand-in
//! whose discovery can be slow, down or name any endpoints.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub struct Gateway {
    pub url: String,
    pub state: zenbridge::AppState,
    pub client: reqwest::Client,
}

/// Starts the gateway on 127.0.0.1 with `config`, whose `@URL@` and
/// `@LISTEN@` are replaced by its own address.
pub async fn gateway(config: &str) -> Gateway {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let text = config
        .replace("@URL@", &format!("http://{addr}"))
        .replace("@LISTEN@", &addr.to_string());
    let cfg = zenbridge::config::load_str(&text, None)
        .unwrap_or_else(|p| panic!("test config invalid:\n{p}"));
    let state = zenbridge::build_state(cfg).await.expect("state");
    let app = zenbridge::app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Gateway {
        url: format!("http://{addr}"),
        state,
        client,
    }
}

impl Gateway {
    pub async fn sdk(&self, target: &str, token: &str) -> (StatusCode, Value) {
        let resp = self
            .client
            .post(format!("{}/sdk/{target}/jwt", self.url))
            .form(&[("user_token", token)])
            .send()
            .await
            .unwrap();
        status_json(resp).await
    }

    pub async fn exchange(&self, target: &str, token: &str) -> (StatusCode, Value) {
        let resp = self
            .client
            .post(format!("{}/exchange/{target}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        status_json(resp).await
    }
}

impl Gateway {
    /// `POST /token` (RFC 8693) for `audience` with `token` declared as
    /// `subject_token_type`.
    pub async fn token(
        &self,
        audience: &str,
        token: &str,
        subject_token_type: &str,
    ) -> (StatusCode, Value) {
        let resp = self
            .client
            .post(format!("{}/token", self.url))
            .form(&[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", token),
                ("subject_token_type", subject_token_type),
                ("audience", audience),
            ])
            .send()
            .await
            .unwrap();
        status_json(resp).await
    }
}

pub async fn status_json(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
    let text = resp.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|_| json!({"raw": text}));
    (status, v)
}

/// An RSA key with its X.509 certificate, as Google's securetoken keys.
pub struct TestKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub cert_pem: String,
    pub public_pem: String,
    pub jwk: Jwk,
}

pub fn rsa_key(kid: &str) -> TestKey {
    test_key(kid, &rcgen::PKCS_RSA_SHA256, Algorithm::RS256)
}

/// A P-256 key with its certificate, as an ES256 issuer's.
pub fn ec_key(kid: &str) -> TestKey {
    test_key(kid, &rcgen::PKCS_ECDSA_P256_SHA256, Algorithm::ES256)
}

fn test_key(kid: &str, family: &'static rcgen::SignatureAlgorithm, alg: Algorithm) -> TestKey {
    let kp = rcgen::KeyPair::generate_for(family).expect("key pair");
    let cert = rcgen::CertificateParams::new(vec!["securetoken.test".to_owned()])
        .unwrap()
        .self_signed(&kp)
        .unwrap();
    let pem = kp.serialize_pem();
    let encoding = if alg == Algorithm::ES256 {
        EncodingKey::from_ec_pem(pem.as_bytes()).unwrap()
    } else {
        EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
    };
    let mut jwk = Jwk::from_encoding_key(&encoding, alg).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    TestKey {
        kid: kid.to_owned(),
        encoding,
        cert_pem: cert.pem(),
        public_pem: kp.public_key_pem(),
        jwk,
    }
}

impl TestKey {
    pub fn sign(&self, claims: &Value) -> String {
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&h, claims, &self.encoding).unwrap()
    }
}

/// Serves `/certs` (kid → PEM certificate map) and `/jwks` for a set of
/// keys, counting fetches; `fail` turns every answer into a 500.
#[derive(Clone)]
pub struct KeyServer {
    pub url: String,
    pub fetches: Arc<AtomicUsize>,
    pub fail: Arc<AtomicBool>,
    keys: Arc<std::sync::RwLock<Vec<(String, String, Jwk)>>>,
}

impl KeyServer {
    pub async fn start(keys: &[&TestKey]) -> Self {
        let ks = KeyServer {
            url: String::new(),
            fetches: Arc::default(),
            fail: Arc::default(),
            keys: Arc::new(std::sync::RwLock::new(
                keys.iter()
                    .map(|k| (k.kid.clone(), k.cert_pem.clone(), k.jwk.clone()))
                    .collect(),
            )),
        };
        let (a, b) = (ks.clone(), ks.clone());
        let app = Router::new()
            .route(
                "/certs",
                get(move || {
                    let ks = a.clone();
                    async move {
                        ks.fetches.fetch_add(1, Ordering::SeqCst);
                        if ks.fail.load(Ordering::SeqCst) {
                            return (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response();
                        }
                        let map: serde_json::Map<String, Value> = ks
                            .keys
                            .read()
                            .unwrap()
                            .iter()
                            .map(|(kid, pem, _)| (kid.clone(), json!(pem)))
                            .collect();
                        (
                            [(
                                header::CACHE_CONTROL,
                                "public, max-age=19000, must-revalidate, no-transform",
                            )],
                            axum::Json(Value::Object(map)),
                        )
                            .into_response()
                    }
                }),
            )
            .route(
                "/jwks",
                get(move || {
                    let ks = b.clone();
                    async move {
                        ks.fetches.fetch_add(1, Ordering::SeqCst);
                        if ks.fail.load(Ordering::SeqCst) {
                            return (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response();
                        }
                        let set = JwkSet {
                            keys: ks
                                .keys
                                .read()
                                .unwrap()
                                .iter()
                                .map(|(_, _, j)| j.clone())
                                .collect(),
                        };
                        ([(header::CACHE_CONTROL, "max-age=3600")], axum::Json(set)).into_response()
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        KeyServer {
            url: format!("http://{addr}"),
            ..ks
        }
    }

    pub fn add(&self, key: &TestKey) {
        self.keys
            .write()
            .unwrap()
            .push((key.kid.clone(), key.cert_pem.clone(), key.jwk.clone()));
    }

    pub fn fetch_count(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// Serves `app` on a free loopback port; returns its base URL.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// A chunked body that never ends (64 KiB chunks of spaces), adding each
/// chunk's size to `sent` as the server hands it to the socket.
pub fn endless_body(sent: Arc<AtomicUsize>) -> axum::response::Response {
    let chunk = bytes::Bytes::from(vec![b' '; 64 * 1024]);
    let stream = futures_util::stream::repeat_with(move || {
        sent.fetch_add(chunk.len(), Ordering::SeqCst);
        Ok::<_, std::convert::Infallible>(chunk.clone())
    });
    axum::body::Body::from_stream(stream).into_response()
}

/// An OpenID Provider stand-in on loopback: its discovery document (made
/// by `doc` from its base URL) answers after `delay`, or HTTP 500 while
/// `down`; `/jwks` serves its keys; `/token` streams an endless body.
/// Every answer is counted.
pub struct FakeOp {
    pub url: String,
    pub discoveries: Arc<AtomicUsize>,
    pub jwks_fetches: Arc<AtomicUsize>,
    pub token_bytes: Arc<AtomicUsize>,
    pub down: Arc<AtomicBool>,
}

/// A minimal discovery document whose endpoints are all on `base`.
pub fn discovery_doc(base: &str) -> Value {
    json!({
        "issuer": base,
        "jwks_uri": format!("{base}/jwks"),
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
}

impl FakeOp {
    pub async fn start(
        delay: std::time::Duration,
        doc: fn(&str) -> Value,
        keys: &[&TestKey],
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let op = FakeOp {
            url: url.clone(),
            discoveries: Arc::default(),
            jwks_fetches: Arc::default(),
            token_bytes: Arc::default(),
            down: Arc::default(),
        };
        let doc = doc(&url);
        let jwks = JwkSet {
            keys: keys.iter().map(|k| k.jwk.clone()).collect(),
        };
        let (hits, down) = (op.discoveries.clone(), op.down.clone());
        let jwks_hits = op.jwks_fetches.clone();
        let token_bytes = op.token_bytes.clone();
        let app = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || {
                    let (hits, down, doc) = (hits.clone(), down.clone(), doc.clone());
                    async move {
                        hits.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(delay).await;
                        if down.load(Ordering::SeqCst) {
                            return (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response();
                        }
                        axum::Json(doc).into_response()
                    }
                }),
            )
            .route(
                "/jwks",
                get(move || {
                    let (hits, jwks) = (jwks_hits.clone(), jwks.clone());
                    async move {
                        hits.fetch_add(1, Ordering::SeqCst);
                        axum::Json(jwks).into_response()
                    }
                }),
            )
            .route(
                "/token",
                axum::routing::post(move || {
                    let sent = token_bytes.clone();
                    async move { endless_body(sent) }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        op
    }

    pub fn discovery_count(&self) -> usize {
        self.discoveries.load(Ordering::SeqCst)
    }
}

pub fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

pub fn hs256(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// An HS256 token with any header (`typ` and all), signed for real.
pub fn raw_hs256_with_header(secret: &str, header: &Value, claims: &Value) -> String {
    use base64::Engine;
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let input = format!(
        "{}.{}",
        e.encode(header.to_string()),
        e.encode(claims.to_string())
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", e.encode(tag.as_ref()))
}

/// A compact JWS with any header, payload and signature bytes (for tokens
/// no honest library would make).
pub fn raw_jwt(header: &Value, payload: &Value, signature: &[u8]) -> String {
    use base64::Engine;
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.{}",
        e.encode(header.to_string()),
        e.encode(payload.to_string()),
        e.encode(signature)
    )
}

/// A `dev` source named "dev" with one user, ada, for the configs of
/// tests that run a browser sign-in through the dev form.
pub const DEV_SOURCE: &str = r#"[[source]]
name = "dev"
kind = "dev"
[[source.users]]
id = "ada"
email = "ada@example.com"
name = "Ada Lovelace"
"#;

/// The real `zenbridge` binary, running a command that serves HTTP.
pub struct Process {
    pub url: String,
    pub child: tokio::process::Child,
    pub log: std::path::PathBuf,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGHUP and waits, at most 10 s, until the log says the config
    /// was reloaded (true) or the reload refused (false).
    pub async fn reload(&self) -> bool {
        let count = |text: &str| {
            (
                text.matches("config reloaded").count(),
                text.matches("config reload refused").count(),
            )
        };
        let before = count(&self.log_text());
        let status = std::process::Command::new("kill")
            .args(["-HUP", &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -HUP {}", self.pid());
        for _ in 0..500 {
            let now = count(&self.log_text());
            if now.0 > before.0 {
                return true;
            }
            if now.1 > before.1 {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("no reload in 10 s:\n{}", self.log_text());
    }

    /// Waits until `needle` appears in the log (stderr), at most 10 s.
    pub async fn wait_for_log(&self, needle: &str) {
        for _ in 0..200 {
            if self.log_text().contains(needle) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{needle:?} never appeared in the log:\n{}", self.log_text());
    }
}

pub fn zenbridge_bin() -> &'static str {
    env!("CARGO_BIN_EXE_zenbridge")
}

/// Starts `zenbridge ARGS` (which must listen on `port`) and waits for
/// `/readyz` to answer 200.
pub async fn start_binary(args: &[&str], port: u16, dir: &std::path::Path) -> Process {
    start_binary_logging(args, port, dir, "info").await
}

/// [`start_binary`] with `RUST_LOG` set to `log`.
pub async fn start_binary_logging(
    args: &[&str],
    port: u16,
    dir: &std::path::Path,
    log_filter: &str,
) -> Process {
    start_binary_with_env(args, port, dir, &[("RUST_LOG", log_filter)]).await
}

/// [`start_binary`] with these environment variables set (`RUST_LOG` is
/// `info` unless they set it).
pub async fn start_binary_with_env(
    args: &[&str],
    port: u16,
    dir: &std::path::Path,
    env: &[(&str, &str)],
) -> Process {
    let log = dir.join(format!("zenbridge-{port}.log"));
    let child = tokio::process::Command::new(zenbridge_bin())
        .args(args)
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stderr(std::fs::File::create(&log).unwrap())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn zenbridge");
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{url}/readyz")).send().await
            && r.status() == reqwest::StatusCode::OK
        {
            return Process { url, child, log };
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "zenbridge {args:?} not ready in 10 s:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

/// Runs `zenbridge ARGS` to completion: (exit code, stdout, stderr).
pub fn run_binary(args: &[&str]) -> (i32, String, String) {
    run_binary_with_env(args, &[])
}

/// [`run_binary`] with these environment variables set.
pub fn run_binary_with_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = std::process::Command::new(zenbridge_bin())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run zenbridge");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
