//! The soak (issue 13, part 4): the real binary with Redis as its state
//! store, under a realistic mix at about 80% of the most it answered in
//! this run — good tokens of each source (HS256 legacy, RS256 from a key
//! server), bad tokens of each kind, browser sign-ins through the dev form
//! — for `ZENBRIDGE_SOAK_SECONDS` (10 in the test command; `scripts/soak`
//! runs 10 minutes and plots the samples). It checks every answer against
//! what its kind must get, that resident memory and open descriptors stay
//! flat, and that every key in the state store expires.
//!
//! The samples (seconds, RSS KiB, descriptors, Redis keys, requests) are
//! written as CSV to `ZENBRIDGE_SOAK_CSV` when set.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{DEV_SOURCE, KeyServer, hs256, now, raw_jwt, rsa_key, start_binary_logging};
use crate::support::{free_port, start_redis};

const LEGACY_SECRET: &str = "legacy-shared-secret-0123456789abcdef";

fn seconds() -> u64 {
    std::env::var("ZENBRIDGE_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
        .clamp(5, 7200)
}

fn config(port: u16, redis: &str, jwks: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
cookie_key = "test-cookie-key-0123456789abcdef0123456789"
rate_limit_per_minute = 0

[state]
backend = "redis"
redis_url = "{redis}"

[[source]]
name = "legacy"
kind = "jwt"
issuer = "https://legacy.acme.test"
secret = "{LEGACY_SECRET}"
audiences = ["zendesk"]
[source.claims]
external_id = "'legacy|' + claims.sub"

[[source]]
name = "keys"
kind = "jwt"
issuer = "https://keys.acme.test"
jwks_url = "{jwks}"
audiences = ["zendesk"]
[source.claims]
external_id = "'keys|' + claims.sub"

{DEV_SOURCE}
[[target]]
name = "mobile"
kind = "sdk"
secret = "mobile-sdk-secret-0123456789"
sources = ["legacy", "keys"]

[[target]]
name = "sandboxed"
kind = "sso"
sandbox = true
secret = "sandbox-secret-0123456789abcdef"
sources = ["dev"]
"#
    )
}

/// One kind of request of the mix, and what it must get.
#[derive(Debug, Clone)]
enum Ask {
    /// `POST /sdk/mobile/jwt` with this token: this status and error_code.
    Sdk {
        name: &'static str,
        token: String,
        status: u16,
        code: Option<&'static str>,
    },
    /// The dev sign-in: the login page, then the form, to the Zendesk form.
    SignIn,
}

impl Ask {
    fn name(&self) -> &'static str {
        match self {
            Ask::Sdk { name, .. } => name,
            Ask::SignIn => "browser sign-in",
        }
    }
}

fn mix(rs256: &crate::common::TestKey) -> Vec<Ask> {
    let t = now();
    let legacy = |claims: Value| {
        let mut c = json!({"iss": "https://legacy.acme.test", "aud": "zendesk", "sub": "u1", "name": "U One", "email": "u1@acme.com", "iat": t, "exp": t + 7200});
        for (k, v) in claims.as_object().into_iter().flatten() {
            c[k] = v.clone();
        }
        c
    };
    let sdk = |name, token, status, code| Ask::Sdk {
        name,
        token,
        status,
        code,
    };
    vec![
        sdk("legacy HS256", hs256(LEGACY_SECRET, &legacy(json!({}))), 200, None),
        sdk(
            "key server RS256",
            rs256.sign(&json!({"iss": "https://keys.acme.test", "aud": "zendesk", "sub": "u2", "name": "U Two", "email": "u2@acme.com", "iat": t, "exp": t + 7200})),
            200,
            None,
        ),
        sdk("legacy HS256", hs256(LEGACY_SECRET, &legacy(json!({}))), 200, None),
        sdk(
            "expired",
            hs256(LEGACY_SECRET, &legacy(json!({"iat": t - 7200, "exp": t - 3600}))),
            401,
            Some("token_expired"),
        ),
        sdk(
            "wrong secret",
            hs256("another-secret-0123456789abcdef0123", &legacy(json!({}))),
            401,
            Some("signature_invalid"),
        ),
        sdk(
            "alg none",
            raw_jwt(&json!({"alg": "none", "typ": "JWT"}), &legacy(json!({})), b""),
            401,
            Some("algorithm_not_allowed"),
        ),
        sdk(
            "unknown issuer",
            hs256(LEGACY_SECRET, &legacy(json!({"iss": "https://evil.test"}))),
            401,
            Some("issuer_unknown"),
        ),
        sdk("garbage", "not-a-token".into(), 401, Some("token_malformed")),
        Ask::SignIn,
    ]
}

/// Sends one `ask`; `Err` says what was unexpected.
async fn send(c: &reqwest::Client, url: &str, ask: &Ask) -> Result<(), String> {
    match ask {
        Ask::Sdk {
            token,
            status,
            code,
            ..
        } => {
            let r = c
                .post(format!("{url}/sdk/mobile/jwt"))
                .form(&[("user_token", token)])
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let got = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            let got_code = body["error_code"].as_str();
            if got == *status && got_code == *code {
                Ok(())
            } else {
                Err(format!("{got} {got_code:?}"))
            }
        }
        Ask::SignIn => {
            // A fresh cookie jar: a new browser each time.
            let (c, _) = crate::sso::client();
            let page = crate::sso::get(&c, format!("{url}/sso/sandboxed/login/dev")).await;
            if page.status != StatusCode::OK {
                return Err(format!("login page {}", page.status));
            }
            let (action, mut fields) =
                crate::support::parse_post_form(&page.body).ok_or("no user form")?;
            fields.push(("user".into(), "ada".into()));
            let done = crate::sso::post(&c, &action, &fields).await;
            let jwt = crate::support::parse_post_form(&done.body)
                .and_then(|(_, f)| crate::sso::field(&f, "jwt").map(str::to_owned));
            match (done.status, jwt) {
                (StatusCode::OK, Some(_)) => Ok(()),
                (s, _) => Err(format!("sign-in finished with {s}")),
            }
        }
    }
}

/// (RSS KiB, open descriptors) of `pid`, from /proc.
fn process_sample(pid: u32) -> (u64, usize) {
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
    (rss, fds)
}

/// (keys, keys without an expiry) in the Redis at `port`, besides the
/// one that is meant to last: where the records begin.
fn redis_keys(port: u16) -> (u64, u64) {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), "EVAL"])
        .arg("local ks = redis.call('keys', '*') local all, n = 0, 0 for _, k in ipairs(ks) do if k ~= 'zenbridge:records_since' then all = all + 1 if redis.call('pttl', k) < 0 then n = n + 1 end end end return {all, n}")
        .arg("0")
        .output()
        .expect("redis-cli (installed with redis-server)");
    let text = String::from_utf8_lossy(&out.stdout);
    let nums: Vec<u64> = text
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    (
        nums.first().copied().unwrap_or(0),
        nums.get(1).copied().unwrap_or(0),
    )
}

/// The most requests a second `workers` closed-loop clients get answered
/// for the mix's good SDK request, over `over`.
async fn most(url: &str, ask: &Ask, workers: usize, over: Duration) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + over;
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (url, ask, done) = (url.to_owned(), ask.clone(), done.clone());
            tokio::spawn(async move {
                let c = reqwest::Client::new();
                while Instant::now() < deadline {
                    if send(&c, &url, &ask).await.is_ok() {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    #[allow(clippy::cast_precision_loss)]
    let per_second = done.load(Ordering::Relaxed) as f64 / over.as_secs_f64();
    per_second
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_at_eighty_percent_keeps_answers_memory_descriptors_and_state_bounded() {
    let redis = start_redis().await;
    let rs256 = rsa_key("soak");
    let keys = KeyServer::start(&[&rs256]).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let file = dir.path().join("zenbridge.toml");
    std::fs::write(
        &file,
        config(port, &redis.url, &format!("{}/jwks", keys.url)),
    )
    .unwrap();
    // WARN only: the log of a long run stays small.
    let gw = start_binary_logging(
        &["serve", "--config", file.to_str().unwrap()],
        port,
        dir.path(),
        "warn",
    )
    .await;
    let url = gw.url.clone();
    let asks = mix(&rs256);

    // The most this run answers, then 80% of it, paced.
    let max = most(&url, &asks[0], 8, Duration::from_secs(2)).await;
    let rate = (max * 0.8).max(20.0);
    let total = Duration::from_secs(seconds());
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let workers = 8u32;
    let interval = Duration::from_secs_f64(f64::from(workers) / rate);
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (url, asks, sent, stop) = (url.clone(), asks.clone(), sent.clone(), stop.clone());
            tokio::spawn(async move {
                let c = reqwest::Client::new();
                let mut unexpected: BTreeMap<String, usize> = BTreeMap::new();
                let mut by_kind: BTreeMap<&'static str, usize> = BTreeMap::new();
                let mut tick = tokio::time::interval(interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut i = w as usize;
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let ask = &asks[i % asks.len()];
                    i += 1;
                    *by_kind.entry(ask.name()).or_default() += 1;
                    sent.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = send(&c, &url, ask).await {
                        *unexpected
                            .entry(format!("{}: {e}", ask.name()))
                            .or_default() += 1;
                    }
                }
                (unexpected, by_kind)
            })
        })
        .collect();

    // One sample a second.
    let started = Instant::now();
    let mut samples: Vec<(f64, u64, usize, u64, u64)> = Vec::new();
    let mut unexpiring = 0;
    while started.elapsed() < total {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (rss, fds) = process_sample(gw.pid());
        let (keys_now, no_ttl) = redis_keys(redis.port);
        unexpiring = unexpiring.max(no_ttl);
        samples.push((
            started.elapsed().as_secs_f64(),
            rss,
            fds,
            keys_now,
            sent.load(Ordering::Relaxed),
        ));
    }
    stop.store(true, Ordering::Relaxed);
    let mut unexpected: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_kind: BTreeMap<&'static str, usize> = BTreeMap::new();
    for t in tasks {
        let (u, k) = t.await.unwrap();
        for (e, n) in u {
            *unexpected.entry(e).or_default() += n;
        }
        for (e, n) in k {
            *by_kind.entry(e).or_default() += n;
        }
    }
    if let Ok(path) = std::env::var("ZENBRIDGE_SOAK_CSV") {
        let rows: Vec<String> = samples
            .iter()
            .map(|(s, rss, fds, k, r)| format!("{s:.1},{rss},{fds},{k},{r}\n"))
            .collect();
        let csv = format!("seconds,rss_kib,fds,redis_keys,requests\n{}", rows.concat());
        std::fs::write(&path, csv).unwrap();
        eprintln!(
            "soak: max {max:.0}/s, paced at {rate:.0}/s, {} requests: {by_kind:?}",
            sent.load(Ordering::Relaxed)
        );
    }

    assert!(unexpected.is_empty(), "unexpected answers: {unexpected:?}");
    assert!(
        by_kind.values().all(|n| *n > 0) && by_kind.len() == 8,
        "every kind of the mix was sent: {by_kind:?}"
    );
    assert_eq!(unexpiring, 0, "keys without an expiry in the state store");
    // Flat: after the first third (warm-up), the last sample is within
    // 16 MiB and 16 descriptors of the lowest.
    let settled = &samples[samples.len() / 3..];
    let low_rss = settled.iter().map(|s| s.1).min().unwrap_or(0);
    let low_fds = settled.iter().map(|s| s.2).min().unwrap_or(0);
    let last = samples.last().expect("samples");
    assert!(
        last.1 <= low_rss + 16 * 1024,
        "resident memory grew: {samples:?}"
    );
    assert!(last.2 <= low_fds + 16, "descriptors grew: {samples:?}");
    // Past the sign-in states' 10 minutes, the store holds no more than
    // the sign-ins of the last 10 minutes (and 30 s of slack): keys expire
    // as fast as sign-ins add them. The mix is round-robin, so one request
    // in `asks.len()` is a sign-in.
    let per_sign_in = asks.len() as u64;
    for s in samples.iter().filter(|s| s.0 >= 630.0) {
        let Some(before) = samples.iter().find(|b| b.0 >= s.0 - 630.0) else {
            continue;
        };
        let recent = (s.4 - before.4) / per_sign_in + u64::from(workers);
        assert!(
            s.3 <= recent + 16,
            "the state store kept more than its TTL: {} keys at {:.0} s for {recent} sign-ins in the 630 s before",
            s.3,
            s.0
        );
    }
    // The state store holds the sign-ins' one-time states (10 minutes)
    // and nothing per token request.
    let sign_ins = by_kind.get("browser sign-in").copied().unwrap_or(0) as u64;
    assert!(
        last.3 <= sign_ins + 16,
        "{} keys in the state store for {sign_ins} sign-ins",
        last.3
    );
}
