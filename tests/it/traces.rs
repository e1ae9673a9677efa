//! Traces: the real binary, with `OTEL_EXPORTER_OTLP_ENDPOINT` set,
//! exports OTLP/HTTP protobuf to a receiver built on the official
//! OpenTelemetry proto definitions (`tests/support/otlp/receiver.py`, PyPI
//! `opentelemetry-proto`, installed by `scripts/test`). The span tree
//! hangs under the caller's `traceparent`, the steps are children of the
//! request (a token exchange and a browser sign-in), a refusal carries its
//! error code, no span holds a token, a secret, a cookie or a claim value, the spans left at shutdown are flushed, and
//! `/metrics` carries the trace id as an exemplar.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{KeyServer, now, rsa_key, start_binary_with_env};
use crate::support::{free_port, manifest_dir};

/// The OTLP receiver: a Python process writing the spans it decodes to
/// `out`, one JSON object a line. It exits when its stdin closes (drop).
struct Receiver {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Receiver {
    fn start(dir: &Path) -> Self {
        let out = dir.join("spans.jsonl");
        let mut child = Command::new("python3")
            .arg(manifest_dir().join("tests/support/otlp/receiver.py"))
            .arg(&out)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the OTLP receiver");
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("the receiver's port");
        let port = first.trim().parse().unwrap_or_else(|_| {
            panic!(
                "the OTLP receiver did not start (is opentelemetry-proto installed? scripts/test installs it): {first:?}"
            )
        });
        Self { child, port, out }
    }

    fn spans(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SDK_SECRET: &str = "mobile-sdk-secret-for-traces-0123456789";
const SSO_SECRET: &str = "helpcenter-sso-secret-for-traces-0123456789";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SIGN_IN_TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_ID: &str = "00f067aa0ba902b7";

fn config(port: u16, keys: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
cookie_key = "test-cookie-key-0123456789abcdef0123456789"
# The rate limit asks the state store: a state_store step.
rate_limit_per_minute = 100

[[source]]
name = "partner"
kind = "jwt"
issuer = "https://partner.test"
jwks_url = "{keys}/jwks"
audiences = ["zendesk"]
[source.claims]
external_id = "'partner|' + claims.sub"

[[source]]
name = "dev"
kind = "dev"
[[source.users]]
id = "ada"
email = "ada.lovelace@engine.test"
name = "Augusta Ada King"

[[target]]
name = "mobile"
kind = "sdk"
secret = "{SDK_SECRET}"
sources = ["partner"]

[[target]]
name = "helpcenter"
kind = "sso"
sandbox = true
secret = "{SSO_SECRET}"
sources = ["dev"]
"#
    )
}

/// `POST /sdk/mobile/jwt` with `token`, and a `traceparent` when given.
async fn exchange(url: &str, token: &str, traceparent: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(format!("{url}/sdk/mobile/jwt"))
        .form(&[("user_token", token)]);
    if let Some(tp) = traceparent {
        req = req.header("traceparent", tp);
    }
    req.send().await.unwrap()
}

async fn scrape(url: &str) -> String {
    reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A browser sign-in through the `dev` source's user list, its last step
/// under `traceparent`: (the cookies sent, the JWT for Zendesk).
async fn dev_sign_in(url: &str, traceparent: &str) -> (String, String) {
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let start = c
        .get(format!(
            "{url}/sso/helpcenter/login?source=dev&return_to=%2Fhc"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::OK);
    let cookie = crate::support::cookie_header(&start);
    let (action, mut fields) =
        crate::support::parse_post_form(&start.text().await.unwrap()).expect("user list");
    fields.push(("user".into(), "ada".into()));
    let finish = c
        .post(&action)
        .header("cookie", &cookie)
        .header("traceparent", traceparent)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(finish.status(), StatusCode::OK);
    let (_, to_zendesk) = crate::support::parse_post_form(&finish.text().await.unwrap())
        .expect("the form to Zendesk");
    let jwt = to_zendesk
        .into_iter()
        .find(|(k, _)| k == "jwt")
        .map(|(_, v)| v)
        .unwrap_or_default();
    assert!(jwt.starts_with("eyJ"), "{jwt}");
    (cookie, jwt)
}

fn attr<'a>(span: &'a Value, key: &str) -> &'a str {
    span["attributes"][key].as_str().unwrap_or_default()
}

#[tokio::test]
async fn an_exchange_and_a_sign_in_are_span_trees_under_the_callers_traceparent_with_no_secret_in_them()
 {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(dir.path());
    let first = rsa_key("k1");
    let keys = KeyServer::start(&[&first]).await;
    let file = dir.path().join("z.toml");
    let port = free_port();
    std::fs::write(&file, config(port, &keys.url)).unwrap();
    let endpoint = format!("http://127.0.0.1:{}", receiver.port);
    let mut gw = start_binary_with_env(
        &["serve", "--config", file.to_str().unwrap()],
        port,
        dir.path(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            // No export until shutdown: the spans arrive only if the
            // shutdown flushes them.
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        ],
    )
    .await;

    // A key the gateway has not seen yet: the exchange fetches the keys
    // again, inside its own trace.
    let second = rsa_key("k2");
    keys.add(&second);
    let t = now();
    let (email, name, sub) = ("grace.hopper@navy.test", "Grace Brewster Hopper", "gh-1906");
    let claims = json!({"iss": "https://partner.test", "aud": "zendesk", "sub": sub,
        "email": email, "email_verified": true, "name": name, "iat": t, "exp": t + 300});
    let good = second.sign(&claims);
    let mut expired_claims = claims.clone();
    expired_claims["exp"] = json!(t - 3600);
    expired_claims["iat"] = json!(t - 7200);
    let expired = first.sign(&expired_claims);

    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let ok = exchange(&gw.url, &good, Some(&traceparent)).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(
        ok.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some(TRACE_ID),
        "the request id is still the traceparent's trace id"
    );
    let minted: Value = ok.json().await.unwrap();
    let minted = minted["jwt"].as_str().unwrap_or_default().to_owned();
    assert!(minted.starts_with("eyJ"), "{minted}");
    let refused = exchange(&gw.url, &expired, None).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let (cookie, sso_jwt) =
        dev_sign_in(&gw.url, &format!("00-{SIGN_IN_TRACE_ID}-{PARENT_ID}-01")).await;

    // The latency histogram carries the sampled request's trace id.
    let metrics = scrape(&gw.url).await;
    assert!(
        metrics.lines().any(
            |l| l.starts_with("zenbridge_request_duration_seconds_bucket{")
                && l.contains("route=\"sdk\"")
                && l.contains(&format!("# {{trace_id=\"{TRACE_ID}\"}}"))
        ),
        "no exemplar with the trace id:\n{metrics}"
    );

    // Stopped: the spans still buffered are flushed on the way out.
    let stopped = Command::new("kill")
        .args(["-TERM", &gw.pid().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), gw.child.wait())
        .await
        .expect("zenbridge stops on SIGTERM")
        .unwrap();
    assert!(exit.success(), "{}", gw.log_text());

    let spans = receiver.spans();
    let request = spans
        .iter()
        .find(|s| s["name"] == "request" && s["trace_id"] == TRACE_ID)
        .unwrap_or_else(|| panic!("no request span in the caller's trace: {spans:#?}"));
    assert_eq!(request["parent_span_id"], PARENT_ID, "{request:#}");
    assert_eq!(request["kind"], 2, "SPAN_KIND_SERVER: {request:#}");
    assert_eq!(
        request["content_type"], "application/x-protobuf",
        "{request:#}"
    );
    assert_eq!(request["resource"]["service.name"], "zenbridge");
    for (key, want) in [
        ("route", "sdk"),
        ("target", "mobile"),
        ("source", "partner"),
        ("outcome", "ok"),
        ("http.request.method", "POST"),
        ("http.response.status_code", "200"),
    ] {
        assert_eq!(attr(request, key), want, "{key}: {request:#}");
    }
    let child = |name: &str, parent: &Value| -> Value {
        spans
            .iter()
            .find(|s| {
                s["name"] == name
                    && s["trace_id"] == parent["trace_id"]
                    && s["parent_span_id"] == parent["span_id"]
            })
            .cloned()
            .unwrap_or_else(|| panic!("no {name:?} span under {:?}: {spans:#?}", parent["name"]))
    };
    for step in ["route", "verify", "map", "mint", "state_store"] {
        child(step, request);
    }
    let verify = child("verify", request);
    assert_eq!(attr(&verify, "source"), "partner");
    child("key_fetch", &verify);

    let refusal = spans
        .iter()
        .find(|s| s["name"] == "request" && attr(s, "error_code") == "token_expired")
        .unwrap_or_else(|| panic!("no refused request span: {spans:#?}"));
    assert_ne!(refusal["trace_id"], TRACE_ID, "a trace of its own");
    assert_eq!(refusal["parent_span_id"], "", "no traceparent: a root span");
    assert_eq!(attr(refusal, "outcome"), "token_expired");
    assert_eq!(attr(refusal, "http.response.status_code"), "401");

    // The browser sign-in: its finish is one request span with the steps
    // under it, the one-time use of its state among them.
    let sign_in = spans
        .iter()
        .find(|s| s["name"] == "request" && s["trace_id"] == SIGN_IN_TRACE_ID)
        .unwrap_or_else(|| panic!("no sign-in span: {spans:#?}"));
    assert_eq!(attr(sign_in, "route"), "sso_dev_login", "{sign_in:#}");
    assert_eq!(attr(sign_in, "outcome"), "ok", "{sign_in:#}");
    for step in ["verify", "map", "mint", "state_store"] {
        child(step, sign_in);
    }

    // Nothing secret anywhere in what was exported: not in an attribute,
    // an event, or the resource.
    let exported = std::fs::read_to_string(&receiver.out).unwrap();
    for secret in [
        good.as_str(),
        expired.as_str(),
        minted.as_str(),
        SDK_SECRET,
        SSO_SECRET,
        sso_jwt.as_str(),
        "ada.lovelace@engine.test",
        "Augusta",
        email,
        name,
        sub,
        "Grace",
    ] {
        assert!(
            !exported.contains(secret),
            "the exported spans hold {secret:?}:\n{exported}"
        );
    }
    // And the token's parts: its signature is the secret part of a JWT.
    for part in good.split('.').chain(sso_jwt.split('.')) {
        assert!(!exported.contains(part), "a token part was exported");
    }
    // The sealed pending-login cookie's value.
    for value in cookie.split("; ").filter_map(|c| c.split_once('=')) {
        assert!(
            value.1.len() < 16 || !exported.contains(value.1),
            "the cookie {} was exported",
            value.0
        );
    }
}

#[tokio::test]
async fn without_an_otlp_endpoint_nothing_is_exported_and_no_exemplar_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(dir.path());
    let key = rsa_key("k1");
    let keys = KeyServer::start(&[&key]).await;
    let file = dir.path().join("z.toml");
    let port = free_port();
    std::fs::write(&file, config(port, &keys.url)).unwrap();
    // The receiver's address under a name the SDK does not read.
    let endpoint = format!("http://127.0.0.1:{}", receiver.port);
    let gw = start_binary_with_env(
        &["serve", "--config", file.to_str().unwrap()],
        port,
        dir.path(),
        &[("OTEL_EXPORTER_OTLP_ENDPOINT_UNUSED", &endpoint)],
    )
    .await;
    let t = now();
    let token = key.sign(&json!({"iss": "https://partner.test", "aud": "zendesk",
        "sub": "u1", "email": "u1@acme.test", "email_verified": true, "name": "U One",
        "iat": t, "exp": t + 300}));
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let ok = exchange(&gw.url, &token, Some(&traceparent)).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let metrics = scrape(&gw.url).await;
    assert!(
        metrics.contains("zenbridge_request_duration_seconds_count{route=\"sdk\"} 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("trace_id"), "{metrics}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.spans().is_empty(), "{:?}", receiver.spans());
    // Spans of the trace-only target never show in logs.
    assert!(!gw.log_text().contains("verify{"), "{}", gw.log_text());
}
