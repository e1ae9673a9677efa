//! Several replicas, proven: three real `zenbridge` processes behind a real
//! HAProxy (round-robin, health-checked on `/readyz`) sharing one real
//! Redis. A browser sign-in started on one replica finishes on another; a
//! replayed sign-in or sandbox `jti` is refused by a third; the rate limit
//! is shared; a replica killed under load costs no request; a config reload
//! rolled across the replicas one at a time loses none.
//!
//! This is the smoke version (a few seconds of load); `scripts/cluster-test`
//! runs the same test for longer (`ZENBRIDGE_CLUSTER_SECONDS`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::{Process, run_binary, start_binary};
use crate::support::{
    Haproxy, assert_zendesk_ok, free_port, parse_post_form, start_haproxy, start_redis,
};
use reqwest::StatusCode;

const COOKIE_KEY: &str = "cluster-test-cookie-key-0123456789abcdef";
const SANDBOX_SECRET: &str = "cluster-sandbox-secret-0123456789";
const SDK_SECRET: &str = "cluster-sdk-secret-0123456789";

/// A replica's config: a `dev` source (its page shows `label`), a sandbox
/// `sso` target `helpcenter` and an `sdk` target `mobile`; `redis` is the
/// state store's URL (`tests/it/failover.rs` gives a sentinel URL).
pub(crate) fn config(
    port: u16,
    public_url: &str,
    redis: &str,
    rate_limit: u32,
    label: &str,
) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "{public_url}"
cookie_key = "{COOKIE_KEY}"
rate_limit_per_minute = {rate_limit}
trusted_proxies = ["127.0.0.1"]

[state]
backend = "redis"
redis_url = "{redis}"

[[source]]
name = "dev"
kind = "dev"
label = "{label}"
[[source.users]]
id = "ada"
email = "ada@example.com"
name = "Ada Lovelace"

[[target]]
name = "helpcenter"
kind = "sso"
sandbox = true
secret = "{SANDBOX_SECRET}"
sources = ["dev"]

[[target]]
name = "mobile"
kind = "sdk"
secret = "{SDK_SECRET}"
sources = ["dev"]
"#
    )
}

struct Cluster {
    haproxy: Haproxy,
    replicas: Vec<Option<Process>>,
    configs: Vec<std::path::PathBuf>,
    ports: Vec<u16>,
    redis_url: String,
    rate_limit: u32,
    _redis: crate::support::Redis,
    _dir: tempfile::TempDir,
}

impl Cluster {
    async fn start(rate_limit: u32) -> Self {
        let redis = start_redis().await;
        let dir = tempfile::tempdir().unwrap();
        let ha_port = free_port();
        let public = format!("http://127.0.0.1:{ha_port}");
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let mut replicas = Vec::new();
        let mut configs = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let path = dir.path().join(format!("replica{i}.toml"));
            std::fs::write(&path, config(*port, &public, &redis.url, rate_limit, "v1")).unwrap();
            let p = start_binary(
                &["serve", "--config", path.to_str().unwrap()],
                *port,
                dir.path(),
            )
            .await;
            replicas.push(Some(p));
            configs.push(path);
        }
        let haproxy = start_haproxy(ha_port, &ports).await;
        let cluster = Self {
            haproxy,
            replicas,
            configs,
            ports,
            redis_url: redis.url.clone(),
            rate_limit,
            _redis: redis,
            _dir: dir,
        };
        cluster.wait_for_replicas(3).await;
        cluster
    }

    /// Waits until HAProxy sends requests to `n` different replicas.
    async fn wait_for_replicas(&self, n: usize) {
        let c = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = BTreeSet::new();
        while seen.len() < n {
            assert!(Instant::now() < deadline, "HAProxy reached only {seen:?}");
            if let Ok(r) = c.get(format!("{}/healthz", self.haproxy.url)).send().await
                && let Some(s) = r.headers().get("x-served-by")
            {
                seen.insert(s.to_str().unwrap_or_default().to_owned());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn dev_token(&self) -> String {
        let (code, out, err) = run_binary(&[
            "dev-token",
            "--config",
            self.configs[0].to_str().unwrap(),
            "--source",
            "dev",
            "--user",
            "ada",
        ]);
        assert_eq!(code, 0, "{err}");
        out.trim().to_owned()
    }
}

fn served_by(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-served-by")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_sign_in_started_on_one_replica_finishes_on_another_and_replays_fail_on_a_third() {
    let cluster = Cluster::start(0).await;
    let ha = &cluster.haproxy.url;
    // Cookies by hand: the replay below is a copy of the browser's cookie.
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let start = c
        .get(format!(
            "{ha}/sso/helpcenter/login?source=dev&return_to=%2Fhc"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::OK);
    let started_on = served_by(&start);
    let cookie = crate::support::cookie_header(&start);
    let (action, mut fields) = parse_post_form(&start.text().await.unwrap()).expect("user list");
    fields.push(("user".into(), "ada".into()));
    let finish = c
        .post(&action)
        .header("cookie", &cookie)
        .form(&fields)
        .send()
        .await
        .unwrap();
    let finished_on = served_by(&finish);
    assert_eq!(finish.status(), StatusCode::OK);
    assert_ne!(
        started_on, finished_on,
        "round-robin sent both to one replica"
    );
    let (to, jwt_fields) =
        parse_post_form(&finish.text().await.unwrap()).expect("the form to Zendesk");
    let jwt = jwt_fields
        .iter()
        .find(|(k, _)| k == "jwt")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert_zendesk_ok(&jwt, SANDBOX_SECRET, "sso", None);

    // The same finish again, on a third replica: the state is used up.
    let replay = c
        .post(&action)
        .header("cookie", &cookie)
        .form(&fields)
        .send()
        .await
        .unwrap();
    let replayed_on = served_by(&replay);
    assert!(!replay.status().is_success(), "{}", replay.status());
    assert!(![started_on.as_str(), finished_on.as_str()].contains(&replayed_on.as_str()));
    assert!(replay.text().await.unwrap().contains("token_reused"));

    // The sandbox's jti memory is shared too.
    let first = c.post(&to).form(&jwt_fields).send().await.unwrap();
    let first_on = served_by(&first);
    assert_eq!(first.status(), StatusCode::OK);
    let again = c.post(&to).form(&jwt_fields).send().await.unwrap();
    assert_ne!(served_by(&again), first_on);
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
    assert!(again.text().await.unwrap().contains("was already used"));
}

#[tokio::test]
async fn the_rate_limit_is_shared_by_the_replicas() {
    let cluster = Cluster::start(30).await;
    let token = cluster.dev_token();
    let c = reqwest::Client::new();
    let sdk = |client: &'static str| {
        c.post(format!("{}/sdk/mobile/jwt", cluster.haproxy.url))
            .header("x-forwarded-for", client)
            .form(&[("user_token", token.as_str())])
            .send()
    };
    let mut by_replica: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..cluster.rate_limit {
        let r = sdk("203.0.113.77").await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "request {i}");
        *by_replica.entry(served_by(&r)).or_default() += 1;
    }
    // Each replica saw a third of them; together they saw the limit.
    assert_eq!(by_replica.len(), 3, "{by_replica:?}");
    let over = sdk("203.0.113.77").await.unwrap();
    assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
    // Whichever replica refuses, it says when to come back, from the
    // window the three share.
    let header = |name: &str| {
        over.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let retry: u64 = header("retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(header("ratelimit-policy"), "\"per-minute\";q=30;w=60");
    assert_eq!(header("ratelimit"), format!("\"per-minute\";r=0;t={retry}"));
    // Another client is not held back.
    assert_eq!(sdk("198.51.100.5").await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn a_replica_killed_under_load_and_a_rolling_reload_lose_no_request() {
    let seconds: u64 = std::env::var("ZENBRIDGE_CLUSTER_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let mut cluster = Cluster::start(0).await;
    let token = Arc::new(cluster.dev_token());
    let url = Arc::new(format!("{}/sdk/mobile/jwt", cluster.haproxy.url));
    let stop = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (c, url, token, stop) = (client.clone(), url.clone(), token.clone(), stop.clone());
            tokio::spawn(async move {
                let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
                while !stop.load(Ordering::Relaxed) {
                    let key = match c
                        .post(url.as_str())
                        .form(&[("user_token", token.as_str())])
                        .send()
                        .await
                    {
                        Ok(r) => r.status().as_u16().to_string(),
                        Err(e) => format!("transport error: {e}"),
                    };
                    *statuses.entry(key).or_default() += 1;
                }
                statuses
            })
        })
        .collect();
    let third = Duration::from_secs(seconds) / 3;
    tokio::time::sleep(third).await;
    // A replica dies without warning.
    if let Some(mut p) = cluster.replicas[1].take() {
        p.child.start_kill().unwrap();
        let _ = p.child.wait().await;
    }
    tokio::time::sleep(third).await;
    // A new config, rolled one replica at a time (SIGHUP, then wait for it).
    let public = cluster.haproxy.url.clone();
    for i in [0, 2] {
        let text = config(cluster.ports[i], &public, &cluster.redis_url, 0, "v2");
        std::fs::write(&cluster.configs[i], text).unwrap();
        let p = cluster.replicas[i].as_ref().unwrap();
        assert!(p.reload().await, "replica {i} did not reload");
    }
    tokio::time::sleep(third).await;
    stop.store(true, Ordering::Relaxed);
    let mut total: BTreeMap<String, usize> = BTreeMap::new();
    for w in workers {
        for (k, n) in w.await.unwrap() {
            *total.entry(k).or_default() += n;
        }
    }
    eprintln!(
        "cluster: {seconds} s of load through HAProxy, one replica killed, a reload rolled: {total:?}"
    );
    let ok = total.get("200").copied().unwrap_or(0);
    assert!(ok > 100, "too little load to prove anything: {total:?}");
    assert_eq!(total.len(), 1, "requests other than 200: {total:?}");
    // The reloaded replicas serve the new config.
    let page = reqwest::get(format!(
        "{}/sso/helpcenter/login?source=dev",
        cluster.haproxy.url
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(page.contains("v2"), "{page}");
}
