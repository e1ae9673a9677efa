//! Shared state against a real Redis server: one-time use and rate limits
//! behave the same on both backends, two gateways sharing Redis share
//! their limits (per client and target, with the `RateLimit` headers), and
//! Redis over TLS (`rediss://` with `state.redis_ca_file`) is used, or
//! refused at start when its certificate is not from that CA.

use std::time::Duration;

use std::path::PathBuf;

use crate::common::{Gateway, gateway, hs256, now, run_binary, start_binary};
use crate::support::{start_redis, start_redis_tls};
use reqwest::StatusCode;
use serde_json::json;
use zenbridge::state::memory::MemoryStore;
use zenbridge::state::redis::{RedisStore, Tls};
use zenbridge::state::{FirstUse, Store};

async fn semantics(store: &Store) {
    let key = format!("k{}", crate::support::random_token(6));
    let issued = now();
    let second = Duration::from_secs(1);
    let once = || async { store.first_use(&key, second, issued).await.unwrap() };
    assert_eq!(once().await, FirstUse::Yes, "first use");
    assert_eq!(once().await, FirstUse::Again, "second use refused");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(once().await, FirstUse::Yes, "usable again after its ttl");
    // Issued before the store's records began (this store was made a
    // moment ago): whether it was used cannot be told.
    let old = format!("o{}", crate::support::random_token(6));
    assert_eq!(
        store
            .first_use(&old, Duration::from_secs(60), now() - 5)
            .await
            .unwrap(),
        FirstUse::Forgotten,
        "issued before the records began"
    );
    let counter = format!("c{}", crate::support::random_token(6));
    for expected in 1..=3 {
        let hit = store.hit(&counter, Duration::from_secs(1)).await.unwrap();
        assert_eq!(hit.count, expected);
        assert!(
            hit.resets_in > Duration::from_millis(700) && hit.resets_in <= Duration::from_secs(1),
            "the window's end: {hit:?}"
        );
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let later = store.hit(&counter, Duration::from_secs(1)).await.unwrap();
    assert_eq!(later.count, 4);
    assert!(
        later.resets_in <= Duration::from_millis(650),
        "the window ends where it started, not later: {later:?}"
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    let fresh = store.hit(&counter, Duration::from_secs(1)).await.unwrap();
    assert_eq!(fresh.count, 1, "a new window");
    assert!(fresh.resets_in > Duration::from_millis(700), "{fresh:?}");
}

#[tokio::test]
async fn memory_store_keeps_one_time_use_and_windows() {
    semantics(&Store::Memory(MemoryStore::default())).await;
}

#[tokio::test]
async fn redis_store_keeps_one_time_use_and_windows() {
    let redis = start_redis().await;
    let store = redis_store(&redis.url).await;
    semantics(&store).await;
    store.ping().await.unwrap();
}

/// The attack: a Redis that loses its records (flushed, or restarted
/// without its append-only file) would let a sign-in or token used before
/// be used once more. The store notices the loss (its `records_since`
/// marker is gone), starts a new record from then, and refuses whatever
/// was issued before it.
#[tokio::test]
async fn a_flushed_redis_refuses_what_it_forgot() {
    let redis = start_redis().await;
    let store = redis_store(&redis.url).await;
    assert!(
        redis
            .command(&["GET", "zbtest:records_since"])
            .await
            .starts_with('$'),
        "the marker is written at connect"
    );
    let before = now();
    assert_eq!(use_once(&store, "used", before).await, FirstUse::Yes);
    assert_eq!(use_once(&store, "used", before).await, FirstUse::Again);

    // Records are kept to the second: the loss comes a second later.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(redis.command(&["FLUSHALL"]).await.starts_with("+OK"));
    // Its record is gone: a replay is refused all the same …
    assert_eq!(
        use_once(&store, "used", before).await,
        FirstUse::Forgotten,
        "a replay after the flush"
    );
    // … as is anything else issued before the loss was noticed, every
    // time; what is issued from then on is recorded as usual.
    assert_eq!(
        use_once(&store, "unused", before).await,
        FirstUse::Forgotten
    );
    let after = now();
    assert_eq!(use_once(&store, "new", after).await, FirstUse::Yes);
    assert_eq!(use_once(&store, "new", after).await, FirstUse::Again);
}

/// A store on the Redis at `url`, its keys prefixed `zbtest:`.
async fn redis_store(url: &str) -> Store {
    Store::Redis(
        RedisStore::connect(url, "zbtest:", &Tls::default(), None)
            .await
            .unwrap(),
    )
}

/// `first_use` of `key`, issued at `issued`, kept 10 minutes.
async fn use_once(store: &Store, key: &str, issued: i64) -> FirstUse {
    store
        .first_use(key, Duration::from_secs(600), issued)
        .await
        .unwrap()
}

#[tokio::test]
async fn gateways_sharing_redis_share_the_rate_limit() {
    let redis = start_redis().await;
    let config = redis_config(&format!("redis_url = \"{}\"", redis.url), 3);
    let a = gateway(&config).await;
    let b = gateway(&config).await;
    let token = legacy_token();
    // Each answer says what is left, counted over both replicas.
    for (gw, left) in [(&a, 2), (&b, 1), (&a, 0)] {
        let r = exchange(gw, "messaging", &token).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "ratelimit-policy"), "\"per-minute\";q=3;w=60");
        assert!(
            header(&r, "ratelimit").starts_with(&format!("\"per-minute\";r={left};t=")),
            "{}",
            header(&r, "ratelimit")
        );
    }
    let r = exchange(&b, "messaging", &token).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry = header(&r, "retry-after");
    assert_eq!(
        header(&r, "ratelimit"),
        format!("\"per-minute\";r=0;t={retry}")
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error_code"], "rate_limited");
    assert_eq!(readiness(&a).await, StatusCode::OK);
}

#[tokio::test]
async fn redis_down_fails_readiness_but_not_sign_ins() {
    let mut redis = start_redis().await;
    let config = legacy_config(
        &format!(
            "[state]\nbackend = \"redis\"\nredis_url = \"{}\"\n",
            redis.url
        ),
        100,
        r#"
[[target]]
name = "mobile"
kind = "sdk"
secret = "mobile-sdk-secret-0123456789"
sources = ["legacy"]
"#,
    );
    let gw = gateway(&config).await;
    redis.stop().await;
    let t = now();
    let token = hs256(
        "legacy-shared-secret-0123456789abcdef",
        &json!({"iss": "https://legacy.acme.test", "aud": "zendesk", "sub": "u", "email": "u@acme.com", "exp": t + 60}),
    );
    assert_eq!(
        gw.sdk("mobile", &token).await.0,
        StatusCode::OK,
        "the rate limit fails open"
    );
    assert_eq!(readiness(&gw).await, StatusCode::SERVICE_UNAVAILABLE);
}

/// The status of `GET /readyz`.
async fn readiness(gw: &Gateway) -> StatusCode {
    gw.client
        .get(format!("{}/readyz", gw.url))
        .send()
        .await
        .unwrap()
        .status()
}

/// `POST /exchange/{target}` with `token`, the whole answer.
async fn exchange(gw: &Gateway, target: &str, token: &str) -> reqwest::Response {
    gw.client
        .post(format!("{}/exchange/{target}", gw.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Two targets, `strict` with its own limit of 1 and `usual` with the
/// server-wide 3, in memory.
fn two_targets() -> String {
    legacy_config(
        "",
        3,
        r#"
[[target]]
name = "strict"
kind = "messaging"
key_id = "app_1"
secret = "messaging-secret-0123456789"
sources = ["legacy"]
rate_limit_per_minute = 1
[target.claims]
external_id = "claims.sub"

[[target]]
name = "usual"
kind = "messaging"
key_id = "app_2"
secret = "messaging-secret-9876543210"
sources = ["legacy"]
[target.claims]
external_id = "claims.sub"
"#,
    )
}

fn legacy_token() -> String {
    hs256(
        "legacy-shared-secret-0123456789abcdef",
        &json!({"iss": "https://legacy.acme.test", "aud": "zendesk", "sub": "u", "exp": now() + 60}),
    )
}

#[tokio::test]
async fn rate_limit_refusal_says_when_to_retry() {
    let gw = gateway(&two_targets()).await;
    let token = legacy_token();
    assert_eq!(
        exchange(&gw, "strict", &token).await.status(),
        StatusCode::OK
    );
    let r = exchange(&gw, "strict", &token).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = header(&r, "retry-after").parse().unwrap();
    assert!(
        (58..=60).contains(&retry),
        "seconds to the window's end: {retry}"
    );
    assert_eq!(header(&r, "ratelimit-policy"), "\"per-minute\";q=1;w=60");
    assert_eq!(
        header(&r, "ratelimit"),
        format!("\"per-minute\";r=0;t={retry}")
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error_code"], "rate_limited");
    assert_eq!(body["error"], "slow_down");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains(&format!("try again in {retry} s")),
        "{body}"
    );
}

#[tokio::test]
async fn per_target_limit_is_separate_from_another_target() {
    let gw = gateway(&two_targets()).await;
    let token = legacy_token();
    assert_eq!(
        exchange(&gw, "strict", &token).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        exchange(&gw, "strict", &token).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // The count is the target's, whichever endpoint mints it: /token
    // (RFC 8693) for the same target is refused too, in its own dialect.
    let (status, body) = gw
        .token("strict", &token, "urn:ietf:params:oauth:token-type:jwt")
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "slow_down");
    assert_eq!(body["error_code"], "rate_limited");
    // The other target keeps its own count, at the server-wide default.
    for left in [2, 1, 0] {
        let r = exchange(&gw, "usual", &token).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "ratelimit-policy"), "\"per-minute\";q=3;w=60");
        assert!(header(&r, "ratelimit").contains(&format!(";r={left};")));
    }
    assert_eq!(
        exchange(&gw, "usual", &token).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// A CA, and a certificate for 127.0.0.1 it signed, as PEM files in `dir`:
/// `{name}-ca.pem`, `{name}-cert.pem`, `{name}-key.pem`.
fn test_ca(dir: &std::path::Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let paths = (
        dir.join(format!("{name}-ca.pem")),
        dir.join(format!("{name}-cert.pem")),
        dir.join(format!("{name}-key.pem")),
    );
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

/// A gateway's config: `state` the `[state]` table (may be empty), a
/// server-wide limit of `rate_limit` a minute, one legacy `jwt` source and
/// `targets`.
fn legacy_config(state: &str, rate_limit: u32, targets: &str) -> String {
    format!(
        r#"
[server]
listen = "@LISTEN@"
public_url = "@URL@"
cookie_key = "test-cookie-key-0123456789abcdef0123456789"
rate_limit_per_minute = {rate_limit}
{state}
[[source]]
name = "legacy"
kind = "jwt"
issuer = "https://legacy.acme.test"
secret = "legacy-shared-secret-0123456789abcdef"
audiences = ["zendesk"]
{targets}"#
    )
}

/// One gateway's config over Redis: `state` the `[state]` lines after
/// `backend`, one messaging target, `rate_limit` a minute.
fn redis_config(state: &str, rate_limit: u32) -> String {
    legacy_config(
        &format!("[state]\nbackend = \"redis\"\n{state}\n"),
        rate_limit,
        r#"
[[target]]
name = "messaging"
kind = "messaging"
key_id = "app_1"
secret = "messaging-secret-0123456789"
sources = ["legacy"]
[target.claims]
external_id = "claims.sub"
"#,
    )
}

fn tls_config(redis_url: &str, ca: &std::path::Path) -> String {
    redis_config(
        &format!(
            "redis_url = \"{redis_url}\"\nredis_ca_file = \"{}\"",
            ca.display()
        ),
        1,
    )
}

#[tokio::test]
async fn zenbridge_keeps_its_state_in_redis_over_tls_with_the_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_ca(dir.path(), "redis");
    let redis = start_redis_tls(&cert, &key, &ca).await;
    assert!(redis.url.starts_with("rediss://"));
    let gw = gateway(&tls_config(&redis.url, &ca)).await;
    assert_eq!(readiness(&gw).await, StatusCode::OK);
    // The limit's count lives in the TLS Redis: the second is refused.
    let token = legacy_token();
    assert_eq!(
        exchange(&gw, "messaging", &token).await.status(),
        StatusCode::OK
    );
    let second = exchange(&gw, "messaging", &token).await;
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    // And it is not a memory store in disguise: a one-time record is there.
    let store = &gw.state.shared().store;
    let k = format!("tls-{}", crate::support::random_token(6));
    let t = now();
    let ttl = Duration::from_secs(5);
    assert_eq!(store.first_use(&k, ttl, t).await.unwrap(), FirstUse::Yes);
    assert_eq!(store.first_use(&k, ttl, t).await.unwrap(), FirstUse::Again);
}

#[tokio::test]
async fn a_redis_certificate_from_another_ca_stops_start_up_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_ca(dir.path(), "redis");
    let (other_ca, _, _) = test_ca(dir.path(), "other");
    let redis = start_redis_tls(&cert, &key, &ca).await;
    let port = crate::support::free_port();
    let path = dir.path().join("zenbridge.toml");
    let text = tls_config(&redis.url, &other_ca)
        .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
        .replace("@URL@", &format!("http://127.0.0.1:{port}"));
    std::fs::write(&path, text).unwrap();
    let started = std::time::Instant::now();
    let (code, _out, err) = run_binary(&["serve", "--config", path.to_str().unwrap()]);
    eprintln!("zenbridge serve with the wrong CA file:\n{err}");
    assert_ne!(
        code, 0,
        "started with a Redis its CA file does not vouch for"
    );
    assert!(err.contains("the state store is unavailable"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{}", redis.port)), "{err}");
    assert!(
        err.contains(&format!(
            "cannot start error=the state store is unavailable: redis at 127.0.0.1:{}: invalid peer certificate: UnknownIssuer",
            redis.port
        )),
        "the reason names the certificate's issuer: {err}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    // The same config with the right CA starts.
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        std::fs::read_to_string(&path)
            .unwrap()
            .replace(other_ca.to_str().unwrap(), ca.to_str().unwrap()),
    )
    .unwrap();
    let p = start_binary(
        &["serve", "--config", good.to_str().unwrap()],
        port,
        dir.path(),
    )
    .await;
    let ready = reqwest::get(format!("{}/readyz", p.url)).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}
