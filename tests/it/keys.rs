//! Static keys of `jwt` sources (a JWKS file, a PEM public key, an X.509
//! certificate, an EC key) and the Firebase emulator switch; and how key,
//! discovery and token-endpoint fetches hold up against hostile or broken
//! upstreams on real loopback servers: endless bodies, outages, slow
//! discovery, redirects, plain-http endpoints, credentials in URLs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::{
    FakeOp, Gateway, KeyServer, TestKey, discovery_doc, endless_body, gateway, now, raw_jwt,
    rsa_key, serve,
};
use axum::Router;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use zenbridge::source::Source;

fn config(dir: &std::path::Path, sources: &str, names: &str) -> String {
    format!(
        r#"
[server]
listen = "@LISTEN@"
public_url = "@URL@"
cookie_key = "test-cookie-key-0123456789abcdef0123456789"
{sources}
[[target]]
name = "mobile"
kind = "sdk"
secret = "mobile-sdk-secret-0123456789"
sources = [{names}]
"#
    )
    .replace("@DIR@", dir.to_str().unwrap())
}

fn claims(iss: &str) -> Value {
    let t = now();
    json!({"iss": iss, "aud": "zendesk", "sub": "s", "email": "s@acme.com", "exp": t + 60, "iat": t})
}

#[tokio::test]
async fn jwks_file_pem_key_certificate_and_ec_key_all_verify() {
    let dir = tempfile::tempdir().unwrap();
    let jwks_key = rsa_key("file-kid");
    std::fs::write(
        dir.path().join("keys.json"),
        serde_json::to_string(&json!({"keys": [jwks_key.jwk]})).unwrap(),
    )
    .unwrap();
    let pem_key = rsa_key("pem");
    std::fs::write(dir.path().join("public.pem"), &pem_key.public_pem).unwrap();
    let cert_key = rsa_key("cert");
    std::fs::write(dir.path().join("cert.pem"), &cert_key.cert_pem).unwrap();
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    std::fs::write(dir.path().join("ec.pem"), ec.public_key_pem()).unwrap();
    let sources = r#"
[[source]]
name = "jwksfile"
kind = "jwt"
issuer = "https://jwksfile.test"
jwks_file = "@DIR@/keys.json"
audiences = ["zendesk"]
[[source]]
name = "pem"
kind = "jwt"
issuer = "https://pem.test"
public_key_file = "@DIR@/public.pem"
audiences = ["zendesk"]
[[source]]
name = "cert"
kind = "jwt"
issuer = "https://cert.test"
public_key_file = "@DIR@/cert.pem"
audiences = ["zendesk"]
[[source]]
name = "ec"
kind = "jwt"
issuer = "https://ec.test"
public_key_file = "@DIR@/ec.pem"
audiences = ["zendesk"]
"#;
    let gw = gateway(&config(
        dir.path(),
        sources,
        r#""jwksfile", "pem", "cert", "ec""#,
    ))
    .await;
    let ec_token = jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &claims("https://ec.test"),
        &EncodingKey::from_ec_pem(ec.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    for (what, token) in [
        ("jwks file", jwks_key.sign(&claims("https://jwksfile.test"))),
        ("PEM public key", pem_key.sign(&claims("https://pem.test"))),
        ("certificate", cert_key.sign(&claims("https://cert.test"))),
        ("EC public key", ec_token),
    ] {
        let (status, body) = gw.sdk("mobile", &token).await;
        assert_eq!(status, StatusCode::OK, "{what}: {body}");
    }
    // A key of another source does not verify this source's tokens.
    let (status, body) = gw
        .sdk("mobile", &pem_key.sign(&claims("https://cert.test")))
        .await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("signature_invalid")),
        "{body}"
    );
    // An RSA token to the EC source is refused by algorithm, before any key is tried.
    let (_, body) = gw
        .sdk("mobile", &pem_key.sign(&claims("https://ec.test")))
        .await;
    assert_eq!(body["error_code"], "algorithm_not_allowed", "{body}");
}

#[tokio::test]
async fn firebase_emulator_tokens_need_the_insecure_switch() {
    let dir = tempfile::tempdir().unwrap();
    let t = now();
    let unsigned = raw_jwt(
        &json!({"alg": "none", "typ": "JWT"}),
        &json!({"iss": "https://securetoken.google.com/demo-proj", "aud": "demo-proj", "sub": "emu-user", "email": "e@acme.com", "email_verified": true, "iat": t, "exp": t + 60}),
        b"",
    );
    let source = |insecure: bool| {
        format!(
            "[[source]]\nname = \"fb\"\nkind = \"firebase\"\nproject_id = \"demo-proj\"\nkeys_url = \"http://127.0.0.1:9/unused\"\ninsecure_emulator = {insecure}\n"
        )
    };
    let strict = gateway(&config(dir.path(), &source(false), r#""fb""#)).await;
    let (status, body) = strict.sdk("mobile", &unsigned).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("algorithm_not_allowed")),
        "{body}"
    );
    let emulator = gateway(&config(dir.path(), &source(true), r#""fb""#)).await;
    let (status, body) = emulator.sdk("mobile", &unsigned).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cfg = zenbridge::config::load_str(
        &config(dir.path(), &source(true), r#""fb""#)
            .replace("@URL@", "http://127.0.0.1:1")
            .replace("@LISTEN@", "127.0.0.1:1"),
        None,
    )
    .unwrap();
    assert!(
        cfg.warnings
            .iter()
            .any(|w| w.path == "source[0].insecure_emulator" && w.message.contains("UNSIGNED")),
        "{:?}",
        cfg.warnings
    );
}

/// One `jwt` source per `(name, jwks_url)`, all feeding target `mobile`,
/// each with issuer `https://{name}.test`.
fn jwks_sources(sources: &[(&str, &str)], refresh: &str) -> String {
    let text: String = sources
        .iter()
        .map(|(name, url)| {
            format!(
                "[[source]]\nname = \"{name}\"\nkind = \"jwt\"\nissuer = \"https://{name}.test\"\njwks_url = \"{url}\"\naudiences = [\"zendesk\"]\nkey_refresh_interval = \"{refresh}\"\n"
            )
        })
        .collect();
    let names: Vec<String> = sources.iter().map(|(n, _)| format!("{n:?}")).collect();
    config(std::path::Path::new("/"), &text, &names.join(", "))
}

/// An `oidc` source named `idp` at `issuer`, feeding target `mobile`.
fn oidc_source(issuer: &str, refresh: &str) -> String {
    config(
        std::path::Path::new("/"),
        &format!(
            "[[source]]\nname = \"idp\"\nkind = \"oidc\"\nissuer = \"{issuer}\"\nclient_id = \"zb\"\nkey_refresh_interval = \"{refresh}\"\n"
        ),
        "\"idp\"",
    )
}

fn source(gw: &Gateway, name: &str) -> Arc<Source> {
    gw.state.runtime().source(name).unwrap().clone()
}

/// POSTs `token` to the SDK endpoint `n` times at once.
async fn all_at_once(gw: &Gateway, token: &str, n: usize) -> Vec<(StatusCode, Value)> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (url, token) = (format!("{}/sdk/mobile/jwt", gw.url), token.to_owned());
            tokio::spawn(async move {
                let resp = reqwest::Client::new()
                    .post(url)
                    .form(&[("user_token", token)])
                    .send()
                    .await
                    .unwrap();
                crate::common::status_json(resp).await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn assert_unavailable((status, body): &(StatusCode, Value)) {
    assert_eq!(
        (*status, body["error_code"].as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("upstream_unavailable")
        ),
        "{body}"
    );
}

/// Waits until `sent` stops growing (the server noticed the client hung
/// up) and returns it.
async fn settled(sent: &AtomicUsize) -> usize {
    let mut last = sent.load(Ordering::SeqCst);
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = sent.load(Ordering::SeqCst);
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the server is still sending after 5 s ({last} bytes): the client kept reading");
}

/// The most an upstream may have sent when the client hangs up: the 1 MiB
/// read, plus what loopback socket buffers hold in flight (4–6 MiB here).
/// A client that read to its timeout would take gigabytes.
const MOST_SENT: usize = 16 * 1024 * 1024;

#[tokio::test]
async fn chunked_jwks_larger_than_the_cap_is_refused_without_buffering_it() {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let url = serve(Router::new().route(
        "/jwks",
        get(move || {
            let sent = counter.clone();
            async move { endless_body(sent) }
        }),
    ))
    .await;
    let gw = gateway(&jwks_sources(&[("huge", &format!("{url}/jwks"))], "1m")).await;
    let key = rsa_key("k1");
    let started = Instant::now();
    let got = gw
        .sdk("mobile", &key.sign(&claims("https://huge.test")))
        .await;
    assert_unavailable(&got);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "refused only after {:?}: the body was read to the timeout",
        started.elapsed()
    );
    let error = source(&gw, "huge").keys.last_error().unwrap();
    assert!(error.contains("larger than 1 MiB"), "{error}");
    let total = settled(&sent).await;
    assert!(
        total < MOST_SENT,
        "the server sent {total} bytes before the client hung up"
    );
}

#[tokio::test]
async fn chunked_jwks_under_the_cap_is_read_whole() {
    let key = rsa_key("k1");
    let doc = serde_json::to_vec(&json!({"keys": [key.jwk]})).unwrap();
    let url = serve(Router::new().route(
        "/jwks",
        get(move || {
            let chunks: Vec<Result<bytes::Bytes, std::convert::Infallible>> = doc
                .chunks(100)
                .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
                .collect();
            async move { axum::body::Body::from_stream(futures_util::stream::iter(chunks)) }
        }),
    ))
    .await;
    let gw = gateway(&jwks_sources(&[("chunked", &format!("{url}/jwks"))], "1m")).await;
    let (status, body) = gw
        .sdk("mobile", &key.sign(&claims("https://chunked.test")))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The browser side of an `oidc` source.
fn relying_party(s: &zenbridge::source::Source) -> Arc<zenbridge::source::oidc::RelyingParty> {
    match &s.sign_in {
        Some(zenbridge::source::SignIn::Oidc(rp)) => rp.clone(),
        _ => panic!("source {} has no OIDC sign-in", s.name()),
    }
}

#[tokio::test]
async fn endless_token_endpoint_answer_is_refused_without_buffering_it() {
    let op = FakeOp::start(Duration::ZERO, discovery_doc, &[]).await;
    let gw = gateway(&oidc_source(&op.url, "1m")).await;
    let idp = source(&gw, "idp");
    let rt = gw.state.runtime();
    let started = Instant::now();
    let got = zenbridge::sso::code_flow::redeem(
        &relying_party(&idp),
        &rt.config.server,
        &gw.state.shared().oidc_http,
        "a-code",
        "a-pkce-verifier-0123456789012345678901234567890123",
    )
    .await;
    let Err(zenbridge::sso::FlowError::Unavailable { detail, .. }) = got else {
        panic!("an endless token answer must be refused: {got:?}");
    };
    assert!(detail.contains("larger than 1 MiB"), "{detail}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused only after {:?}",
        started.elapsed()
    );
    let total = settled(&op.token_bytes).await;
    assert!(
        total < MOST_SENT,
        "the token endpoint sent {total} bytes before the client hung up"
    );
}

#[tokio::test]
async fn never_reached_provider_is_fetched_once_per_refresh_interval_not_per_request() {
    let key = rsa_key("k1");
    let keys = KeyServer::start(&[&key]).await;
    keys.fail.store(true, Ordering::SeqCst);
    let gw = gateway(&jwks_sources(
        &[("partner", &format!("{}/jwks", keys.url))],
        "2s",
    ))
    .await;
    let token = key.sign(&claims("https://partner.test"));
    for got in all_at_once(&gw, &token, 20).await {
        assert_unavailable(&got);
    }
    for _ in 0..20 {
        assert_unavailable(&gw.sdk("mobile", &token).await);
    }
    assert!(
        keys.fetch_count() <= 2,
        "{} fetches for 40 requests during one refresh interval",
        keys.fetch_count()
    );
    let error = source(&gw, "partner").keys.last_error().unwrap();
    assert!(error.contains("HTTP 500"), "{error}");
    // The failure is remembered for the interval only: once it has passed,
    // a request fetches again and finds the provider back.
    keys.fail.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = gw.sdk("mobile", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn readyz(gw: &Gateway) -> StatusCode {
    gw.client
        .get(format!("{}/readyz", gw.url))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn readyz_probes_read_the_key_cache_instead_of_fetching() {
    let key = rsa_key("k1");
    let keys = KeyServer::start(&[&key]).await;
    keys.fail.store(true, Ordering::SeqCst);
    let gw = gateway(&jwks_sources(
        &[("partner", &format!("{}/jwks", keys.url))],
        "2s",
    ))
    .await;
    // A provider down since start: probes, many at once, warm up once.
    let probes: Vec<_> = (0..10)
        .map(|_| {
            let url = format!("{}/readyz", gw.url);
            tokio::spawn(async move { reqwest::get(url).await.unwrap().status() })
        })
        .collect();
    for p in probes {
        assert_eq!(p.await.unwrap(), StatusCode::SERVICE_UNAVAILABLE);
    }
    for _ in 0..10 {
        assert_eq!(readyz(&gw).await, StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(keys.fetch_count(), 1, "one warm-up fetch for 20 probes");
    // Back up: the next warm-up after the interval finds keys, and probes
    // turn green without any token request.
    keys.fail.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(readyz(&gw).await, StatusCode::OK);
    let fetched = keys.fetch_count();
    for _ in 0..10 {
        assert_eq!(readyz(&gw).await, StatusCode::OK);
    }
    assert_eq!(
        keys.fetch_count(),
        fetched,
        "probes of a ready gateway fetch nothing"
    );
}

#[tokio::test]
async fn discovery_during_an_outage_is_coalesced_into_one_fetch() {
    // A slow, failing provider: every request arrives while the first
    // discovery is still running, or after it failed.
    let op = FakeOp::start(Duration::from_millis(300), discovery_doc, &[]).await;
    op.down.store(true, Ordering::SeqCst);
    let gw = gateway(&oidc_source(&op.url, "1m")).await;
    let idp = source(&gw, "idp");
    let key = rsa_key("k1");
    let token = key.sign(&json!({"iss": op.url, "aud": "zb", "sub": "s", "exp": now() + 60}));
    let provider = relying_party(&idp).provider.clone();
    let metadata: Vec<_> = (0..20)
        .map(|_| {
            let p = provider.clone();
            tokio::spawn(async move { p.metadata().await })
        })
        .collect();
    for got in all_at_once(&gw, &token, 20).await {
        assert_unavailable(&got);
    }
    for m in metadata {
        let error = m.await.unwrap().expect_err("the provider is down");
        assert!(error.contains("HTTP 500"), "{error}");
    }
    for _ in 0..5 {
        assert_unavailable(&gw.sdk("mobile", &token).await);
        assert!(provider.metadata().await.is_err());
    }
    assert!(
        op.discovery_count() <= 2,
        "{} discovery fetches for 50 requests",
        op.discovery_count()
    );
}

fn doc_with_plain_http_jwks(base: &str) -> Value {
    let mut doc = discovery_doc(base);
    doc["jwks_uri"] = json!("http://example.invalid/jwks");
    doc
}

fn doc_with_plain_http_token_endpoint(base: &str) -> Value {
    let mut doc = discovery_doc(base);
    doc["token_endpoint"] = json!("http://user:pw@example.invalid/token");
    doc
}

#[tokio::test]
async fn discovered_plain_http_endpoint_off_loopback_is_refused() {
    let key = rsa_key("k1");
    let op = FakeOp::start(Duration::ZERO, doc_with_plain_http_jwks, &[&key]).await;
    let gw = gateway(&oidc_source(&op.url, "1m")).await;
    let token = key.sign(&json!({"iss": op.url, "aud": "zb", "sub": "s", "exp": now() + 60}));
    assert_unavailable(&gw.sdk("mobile", &token).await);
    let error = source(&gw, "idp").keys.last_error().unwrap();
    assert!(
        error.contains("jwks_uri must be https") && error.contains("http://example.invalid/jwks"),
        "{error}"
    );
    let op = FakeOp::start(Duration::ZERO, doc_with_plain_http_token_endpoint, &[&key]).await;
    let gw = gateway(&oidc_source(&op.url, "1m")).await;
    let error = relying_party(&source(&gw, "idp"))
        .provider
        .metadata()
        .await
        .expect_err("a plain-http token endpoint");
    assert!(
        error.contains("token_endpoint must be https") && !error.contains("pw"),
        "{error}"
    );
    // Loopback endpoints over http are accepted (every other test).
    let op = FakeOp::start(Duration::ZERO, discovery_doc, &[&key]).await;
    let gw = gateway(&oidc_source(&op.url, "1m")).await;
    let (status, body) = gw.sdk("mobile", &token_for(&key, &op.url)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn token_for(key: &TestKey, iss: &str) -> String {
    let t = now();
    key.sign(&json!({"iss": iss, "aud": "zb", "sub": "s", "email": "s@acme.com", "email_verified": true, "exp": t + 60, "iat": t}))
}

#[tokio::test]
async fn redirect_to_plain_http_off_loopback_or_to_another_scheme_is_refused() {
    let key = rsa_key("k1");
    let keys = KeyServer::start(&[&key]).await;
    let jwks = format!("{}/jwks", keys.url);
    let url = serve(
        Router::new()
            .route(
                "/hop",
                get(move || async move { Redirect::temporary(&jwks) }),
            )
            .route(
                "/away",
                get(|| async { Redirect::temporary("http://example.invalid/jwks") }),
            )
            .route(
                "/ftp",
                get(|| async { Redirect::temporary("ftp://example.invalid/jwks") }),
            )
            .route(
                "/file",
                get(|| async { Redirect::temporary("file:///etc/passwd") }),
            )
            .route(
                "/loop",
                get(|| async { Redirect::temporary("/loop").into_response() }),
            ),
    )
    .await;
    let gw = gateway(&jwks_sources(
        &[
            ("hop", &format!("{url}/hop")),
            ("away", &format!("{url}/away")),
            ("ftp", &format!("{url}/ftp")),
            ("file", &format!("{url}/file")),
            ("loop", &format!("{url}/loop")),
        ],
        "1m",
    ))
    .await;
    // Loopback http to loopback http is followed.
    assert!(source(&gw, "hop").keys.get().await.is_ok());
    for (name, why) in [
        (
            "away",
            "a redirect to plain http is followed only to a loopback host",
        ),
        ("ftp", "a redirect must go to an https URL"),
        // A location without a host is not even tried: the redirect
        // answer itself is what the fetch gets.
        ("file", "the server answered HTTP 307"),
        ("loop", "at most 3 redirects are followed"),
    ] {
        let error = source(&gw, name).keys.get().await.err().unwrap().0;
        assert!(error.contains(why), "{name}: {error}");
    }
}

#[tokio::test]
async fn credentials_in_a_key_url_never_reach_an_error_or_check_output() {
    let down = serve(
        Router::new()
            .fallback(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "down") }),
    )
    .await;
    let with_secrets = |base: &str, path: &str| {
        format!(
            "{}{path}?token=s3cret-query&key=s3cret-key",
            base.replace("http://", "http://user:hunter2@")
        )
    };
    let refused = "http://127.0.0.1:9";
    let sources = format!(
        r#"
[[source]]
name = "answers500"
kind = "jwt"
issuer = "https://answers500.test"
jwks_url = "{}"
audiences = ["zendesk"]
[[source]]
name = "refused"
kind = "jwt"
issuer = "https://refused.test"
jwks_url = "{}"
audiences = ["zendesk"]
[[source]]
name = "fb"
kind = "firebase"
project_id = "p"
keys_url = "{}"
[[source]]
name = "idp"
kind = "oidc"
issuer = "{down}"
discovery_url = "{}"
client_id = "zb"
"#,
        with_secrets(&down, "/jwks"),
        with_secrets(refused, "/jwks"),
        with_secrets(&down, "/certs"),
        with_secrets(&down, "/.well-known/openid-configuration"),
    );
    let text = config(
        std::path::Path::new("/"),
        &sources,
        r#""answers500", "refused", "fb", "idp""#,
    );
    let secrets = ["hunter2", "s3cret", "user:"];
    let clean = |what: &str, text: &str| {
        for s in secrets {
            assert!(!text.contains(s), "{what} shows {s:?}: {text}");
        }
    };
    let gw = gateway(&text).await;
    for name in ["answers500", "refused", "fb", "idp"] {
        let s = source(&gw, name);
        let error = s.keys.get().await.err().unwrap().0;
        clean(name, &error);
        assert!(error.contains("***@127.0.0.1"), "{name}: {error}");
        clean(name, &s.keys.last_error().unwrap());
        clean(name, s.keys.label());
    }
    let (_, body) = gw
        .sdk(
            "mobile",
            &rsa_key("k").sign(&claims("https://answers500.test")),
        )
        .await;
    clean("the response", &body.to_string());
    // `check --online` prints each source's error.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zenbridge.toml");
    std::fs::write(
        &file,
        text.replace("@URL@", "http://127.0.0.1:1")
            .replace("@LISTEN@", "127.0.0.1:1"),
    )
    .unwrap();
    // Off the runtime: the upstream above runs on it.
    let path = file.to_str().unwrap().to_owned();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        crate::common::run_binary(&["check", "--config", &path, "--online"])
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("source refused: keys unavailable"), "{out}");
    clean("check --online", &format!("{out}{err}"));
}
