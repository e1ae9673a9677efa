//! Shared state against a real Redis server: one-time use and rate limits
//! behave the same on both backends, and two gateways sharing Redis share
//! their limits.

use std::time::Duration;

use crate::common::{gateway, hs256, now};
use crate::support::start_redis;
use reqwest::StatusCode;
use serde_json::json;
use zenbridge::state::Store;
use zenbridge::state::memory::MemoryStore;
use zenbridge::state::redis::RedisStore;

async fn semantics(store: &Store) {
    let key = format!("k{}", crate::support::random_token(6));
    assert!(
        store.first_use(&key, Duration::from_secs(1)).await.unwrap(),
        "first use"
    );
    assert!(
        !store.first_use(&key, Duration::from_secs(1)).await.unwrap(),
        "second use refused"
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(
        store.first_use(&key, Duration::from_secs(1)).await.unwrap(),
        "usable again after its ttl"
    );
    let counter = format!("c{}", crate::support::random_token(6));
    for expected in 1..=3 {
        assert_eq!(
            store.hit(&counter, Duration::from_secs(1)).await.unwrap(),
            expected
        );
    }
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        store.hit(&counter, Duration::from_secs(1)).await.unwrap(),
        1,
        "a new window"
    );
}

#[tokio::test]
async fn memory_store_keeps_one_time_use_and_windows() {
    semantics(&Store::Memory(MemoryStore::default())).await;
}

#[tokio::test]
async fn redis_store_keeps_one_time_use_and_windows() {
    let redis = start_redis().await;
    let store = Store::Redis(RedisStore::connect(&redis.url, "zbtest:").await.unwrap());
    semantics(&store).await;
    store.ping().await.unwrap();
}

#[tokio::test]
async fn gateways_sharing_redis_share_the_rate_limit() {
    let redis = start_redis().await;
    let config = format!(
        r#"
[server]
listen = "@LISTEN@"
public_url = "@URL@"
cookie_key = "test-cookie-key-0123456789abcdef0123456789"
rate_limit_per_minute = 3

[state]
backend = "redis"
redis_url = "{}"

[[source]]
name = "legacy"
kind = "jwt"
issuer = "https://legacy.acme.test"
secret = "legacy-shared-secret-0123456789abcdef"
audiences = ["zendesk"]

[[target]]
name = "messaging"
kind = "messaging"
key_id = "app_1"
secret = "messaging-secret-0123456789"
sources = ["legacy"]
[target.claims]
external_id = "claims.sub"
"#,
        redis.url
    );
    let a = gateway(&config).await;
    let b = gateway(&config).await;
    let t = now();
    let token = hs256(
        "legacy-shared-secret-0123456789abcdef",
        &json!({"iss": "https://legacy.acme.test", "aud": "zendesk", "sub": "u", "exp": t + 60}),
    );
    assert_eq!(a.exchange("messaging", &token).await.0, StatusCode::OK);
    assert_eq!(b.exchange("messaging", &token).await.0, StatusCode::OK);
    assert_eq!(a.exchange("messaging", &token).await.0, StatusCode::OK);
    let (status, body) = b.exchange("messaging", &token).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error_code"], "rate_limited");
    let ready = a
        .client
        .get(format!("{}/readyz", a.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), reqwest::StatusCode::OK);
}

#[tokio::test]
async fn redis_down_fails_readiness_but_not_sign_ins() {
    let mut redis = start_redis().await;
    let config = format!(
        r#"
[server]
listen = "@LISTEN@"
public_url = "@URL@"
cookie_key = "test-cookie-key-0123456789abcdef0123456789"
rate_limit_per_minute = 100
[state]
backend = "redis"
redis_url = "{}"
[[source]]
name = "legacy"
kind = "jwt"
issuer = "https://legacy.acme.test"
secret = "legacy-shared-secret-0123456789abcdef"
audiences = ["zendesk"]
[[target]]
name = "mobile"
kind = "sdk"
secret = "mobile-sdk-secret-0123456789"
sources = ["legacy"]
"#,
        redis.url
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
    let ready = gw
        .client
        .get(format!("{}/readyz", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
}
