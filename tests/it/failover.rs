//! State that survives a node loss: a real Redis primary, a replica and
//! three `redis-sentinel` processes; zenbridge (the real binary) finds the
//! master through the sentinels (`redis+sentinel://…/mymaster`). The
//! primary is killed (`SIGKILL`) under load, and the documented policy
//! holds: while no master answers, one-time checks fail closed
//! (`state_unavailable`; a replayed sign-in is never accepted), the rate
//! limit fails open, and once the sentinels promote the replica, service
//! resumes on it without restarting zenbridge, with the one-time records
//! made before the loss still refusing their replays.
//!
//! The same policy holds for one Redis server (`redis://`) killed and
//! restarted on its append-only file under load; and zenbridge warns at
//! start when its Redis keeps no such file, since a restart would then
//! forget the one-time records.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::{run_binary, start_binary};
use crate::support::{
    Redis, free_port, parse_post_form, start_redis, start_redis_persistent, start_replica,
    start_sentinel, start_sentinel_with_password,
};
use reqwest::StatusCode;

const MASTER: &str = "mymaster";
/// The cluster test's replica config, its state in the master the
/// sentinels name.
fn config(port: u16, sentinels: &[Redis]) -> String {
    let hosts: Vec<String> = sentinels
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.port))
        .collect();
    crate::cluster::config(
        port,
        &format!("http://127.0.0.1:{port}"),
        &format!("redis+sentinel://{}/{MASTER}", hosts.join(",")),
        100_000,
        "failover",
    )
}

/// A browser sign-in with the `dev` source, stopped before its finish: the
/// finish's form, its action and the sign-in's cookie, to send (or send
/// again) with [`finish`].
struct Started {
    action: String,
    fields: Vec<(String, String)>,
    cookie: String,
}

/// The outcome of a step: its status and the `error_code` its page names
/// (`ok` for a 200).
type Outcome = (u16, String);

fn code_of(status: StatusCode, page: &str) -> String {
    if status == StatusCode::OK {
        return "ok".into();
    }
    page.split("<code id=\"error-code\">")
        .nth(1)
        .and_then(|rest| {
            rest.split(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .next()
        })
        .unwrap_or("(no code)")
        .to_owned()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn start(c: &reqwest::Client, base: &str) -> Result<Started, Outcome> {
    let r = c
        .get(format!(
            "{base}/sso/helpcenter/login?source=dev&return_to=%2Fhc"
        ))
        .send()
        .await
        .map_err(|e| (0, format!("transport: {e}")))?;
    let status = r.status();
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("; ");
    let page = r.text().await.unwrap_or_default();
    if status != StatusCode::OK {
        return Err((status.as_u16(), code_of(status, &page)));
    }
    let (action, mut fields) = parse_post_form(&page).expect("the dev source's user list");
    fields.push(("user".into(), "ada".into()));
    Ok(Started {
        action,
        fields,
        cookie,
    })
}

/// Sends the sign-in's finish; on success also the form to Zendesk (here
/// the sandbox: its action and fields, with the minted `jwt`).
async fn finish(
    c: &reqwest::Client,
    s: &Started,
) -> (Outcome, Option<(String, Vec<(String, String)>)>) {
    match c
        .post(&s.action)
        .header("cookie", &s.cookie)
        .form(&s.fields)
        .send()
        .await
    {
        Err(e) => ((0, format!("transport: {e}")), None),
        Ok(r) => {
            let status = r.status();
            let page = r.text().await.unwrap_or_default();
            let form = (status == StatusCode::OK)
                .then(|| parse_post_form(&page))
                .flatten();
            ((status.as_u16(), code_of(status, &page)), form)
        }
    }
}

async fn sign_in(c: &reqwest::Client, base: &str) -> Outcome {
    match start(c, base).await {
        Ok(s) => finish(c, &s).await.0,
        Err(o) => o,
    }
}

/// Waits until `check` holds, at most `within`.
async fn until<F: std::future::Future<Output = bool>>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> F,
) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_killed_primary_fails_one_time_checks_closed_and_service_resumes_on_the_promoted_replica()
{
    let began = Instant::now();
    let mut primary = start_redis().await;
    let replica = start_replica(primary.port).await;
    let mut sentinels = Vec::new();
    for _ in 0..3 {
        sentinels.push(start_sentinel(primary.port, MASTER).await);
    }
    // Every sentinel knows the others and the replica: a failover can be
    // agreed on.
    until("the sentinels' quorum", Duration::from_secs(20), || async {
        for s in &sentinels {
            let quorum = s.command(&["SENTINEL", "CKQUORUM", MASTER]).await;
            let replicas = s.command(&["SENTINEL", "REPLICAS", MASTER]).await;
            if !quorum.contains("OK 3 usable") || !replicas.contains(&replica.port.to_string()) {
                return false;
            }
        }
        true
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = dir.path().join("zenbridge.toml");
    std::fs::write(&path, config(port, &sentinels)).unwrap();
    let mut zb = start_binary(
        &["serve", "--config", path.to_str().unwrap()],
        port,
        dir.path(),
    )
    .await;
    let base = zb.url.clone();
    let c = client();

    // A sign-in finished before the loss, and its sandbox token used once;
    // the primary has passed both records to the replica (WAIT).
    let (before, sandbox, jwt_fields) = signed_in(&c, &base).await;
    assert_eq!(
        primary.command(&["WAIT", "1", "2000"]).await.trim(),
        ":1",
        "the replica acknowledged the records"
    );

    // Load: sign-ins (one-time checks) and SDK exchanges (the rate limit).
    let stop = Arc::new(AtomicBool::new(false));
    let workers = load(&c, &base, &path, &stop);
    tokio::time::sleep(Duration::from_millis(500)).await;

    primary.kill().await;
    let killed = Instant::now();

    // No master now: the replay is refused and so is a fresh sign-in,
    // whose one-time use cannot be recorded (fail closed).
    fails_closed(&c, &base, &before, "while no master answers").await;

    // The sentinels promote the replica …
    until(
        "the replica's promotion",
        Duration::from_secs(30),
        || async {
            sentinels[0]
                .command(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER])
                .await
                .contains(&replica.port.to_string())
        },
    )
    .await;
    let promoted = killed.elapsed();
    // … and the same zenbridge process signs people in on it.
    until(
        "sign-ins on the new primary",
        Duration::from_secs(20),
        || async { sign_in(&c, &base).await == (200, "ok".into()) },
    )
    .await;
    let resumed = killed.elapsed();
    assert!(
        zb.child.try_wait().unwrap().is_none(),
        "zenbridge kept running"
    );
    let ready = c.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    // The records made before the loss live on the new primary: the
    // replays are refused as replays.
    replays_refused(&c, &before, &sandbox, &jwt_fields, "after the failover").await;

    let total = tally(&stop, workers).await;
    eprintln!(
        "failover: promoted {promoted:?} after the kill, sign-ins again {resumed:?} after it; load: {total:?}"
    );
    assert!(
        zb.log_text().contains("redis master lost"),
        "{}",
        zb.log_text()
    );
    assert!(
        began.elapsed() < Duration::from_secs(60),
        "{:?}",
        began.elapsed()
    );
}

#[tokio::test]
async fn sentinels_with_a_password_are_asked_with_state_redis_sentinel_password() {
    let primary = start_redis().await;
    let password = "sentinel-password-0123456789";
    let sentinel = start_sentinel_with_password(primary.port, MASTER, password).await;
    let port = free_port();
    let url = format!("redis+sentinel://127.0.0.1:{}/{MASTER}", sentinel.port);
    let without = crate::cluster::config(port, &format!("http://127.0.0.1:{port}"), &url, 0, "pw");
    // Without the password no sentinel names the master: no start.
    let cfg = zenbridge::config::load_str(&without, None).unwrap();
    let Err(e) = zenbridge::build_state(cfg).await else {
        panic!("started without the sentinels' password")
    };
    let e = e.to_string();
    assert!(
        e.starts_with(&format!(
            "the state store is unavailable: redis at master \"{MASTER}\" of sentinels 127.0.0.1:{}",
            sentinel.port
        )),
        "{e}"
    );
    assert!(!e.contains(password));
    // With it, the real binary starts, and a sign-in's one-time record is
    // on the master the sentinel named.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zenbridge.toml");
    let with = without.replace(
        "[[source]]",
        &format!("redis_sentinel_password = \"{password}\"\n\n[[source]]"),
    );
    assert_ne!(with, without);
    std::fs::write(&path, with).unwrap();
    let zb = start_binary(
        &["serve", "--config", path.to_str().unwrap()],
        port,
        dir.path(),
    )
    .await;
    assert_eq!(sign_in(&client(), &zb.url).await, (200, "ok".into()));
    assert!(
        primary
            .command(&["KEYS", "zenbridge:login:*"])
            .await
            .contains("zenbridge:login:"),
        "the record is on the master the sentinel named"
    );
}

/// Load for a Redis fault: one worker sending SDK exchanges with a dev
/// token of the config at `path` (the rate limit), two signing in
/// (one-time checks), until `stop`; each returns what it saw,
/// `"<status> <code>"` → count.
fn load(
    c: &reqwest::Client,
    base: &str,
    path: &std::path::Path,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<BTreeMap<String, usize>>> {
    let (code, token, err) = run_binary(&[
        "dev-token",
        "--config",
        path.to_str().unwrap(),
        "--source",
        "dev",
        "--user",
        "ada",
    ]);
    assert_eq!(code, 0, "{err}");
    let token = Arc::new(token.trim().to_owned());
    (0..3)
        .map(|w| {
            let (c, base, token, stop) = (c.clone(), base.to_owned(), token.clone(), stop.clone());
            tokio::spawn(async move {
                let mut seen: BTreeMap<String, usize> = BTreeMap::new();
                while !stop.load(Ordering::Relaxed) {
                    let (status, code) = if w == 0 {
                        let r = c
                            .post(format!("{base}/sdk/mobile/jwt"))
                            .form(&[("user_token", token.as_str())])
                            .send()
                            .await;
                        match r {
                            Ok(r) => (r.status().as_u16(), "sdk".to_owned()),
                            Err(e) => (0, format!("sdk transport: {e}")),
                        }
                    } else {
                        sign_in(&c, &base).await
                    };
                    *seen.entry(format!("{status} {code}")).or_default() += 1;
                }
                seen
            })
        })
        .collect()
}

#[tokio::test]
async fn redis_restarted_under_load_keeps_the_policy_and_its_records() {
    let began = Instant::now();
    let mut redis = start_redis_persistent().await;
    let (mut zb, path, _dir) = serve_on(&redis.url, 100_000, "restart").await;
    let base = zb.url.clone();
    let c = client();

    // A sign-in finished before the restart, and its sandbox token used.
    let (before, sandbox, jwt_fields) = signed_in(&c, &base).await;

    let stop = Arc::new(AtomicBool::new(false));
    let workers = load(&c, &base, &path, &stop);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Redis dies: one-time checks fail closed, the rate limit open.
    redis.kill().await;
    fails_closed(&c, &base, &before, "while Redis is down").await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // It comes back on its append-only file; the same zenbridge process
    // reconnects by itself.
    redis.restart().await;
    let restarted = Instant::now();
    until(
        "sign-ins after the restart",
        Duration::from_secs(20),
        || async { sign_in(&c, &base).await == (200, "ok".into()) },
    )
    .await;
    let resumed = restarted.elapsed();
    until(
        "ready after the restart",
        Duration::from_secs(10),
        || async {
            c.get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK)
        },
    )
    .await;
    assert!(
        zb.child.try_wait().unwrap().is_none(),
        "zenbridge kept running"
    );

    // The records made before the restart came back with it.
    replays_refused(&c, &before, &sandbox, &jwt_fields, "after the restart").await;

    let total = tally(&stop, workers).await;
    eprintln!("redis restart: sign-ins again {resumed:?} after it; load: {total:?}");
    assert!(total.get("200 ok").copied().unwrap_or(0) > 2, "{total:?}");
    let log = zb.log_text();
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        !log.contains("append-only"),
        "no persistence warning for a Redis with appendonly yes: {log}"
    );
    assert!(
        began.elapsed() < Duration::from_secs(60),
        "{:?}",
        began.elapsed()
    );
}

#[tokio::test]
async fn a_redis_without_an_append_only_file_is_warned_about_at_start() {
    let redis = start_redis().await;
    let (zb, _, _dir) = serve_on(&redis.url, 0, "no-aof").await;
    // Still starts and serves: a warning, not a refusal.
    assert_eq!(sign_in(&client(), &zb.url).await, (200, "ok".into()));
    let log = zb.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("append-only"))
        .unwrap_or_else(|| panic!("no persistence warning: {log}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains(&format!("127.0.0.1:{}", redis.port)),
        "{line}"
    );
}

/// The attack: Redis restarted without its append-only file forgets which
/// sign-ins were finished, and a kept copy of a finished one (its cookie
/// and form) would sign in again. zenbridge notices the loss and refuses
/// whatever was issued before it; what starts afterwards works.
#[tokio::test]
async fn a_replay_after_a_redis_restart_without_its_records_is_refused() {
    let mut redis = start_redis().await; // appendonly no
    let (zb, _, _dir) = serve_on(&redis.url, 0, "forgetful").await;
    let c = client();
    let (before, sandbox, jwt_fields) = signed_in(&c, &zb.url).await;

    // Records are kept to the second: the restart comes a second later.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    redis.kill().await;
    redis.restart().await;
    assert_eq!(redis.command(&["DBSIZE"]).await.trim(), ":0", "it forgot");
    // The first operation on the broken connection fails (closed) and
    // reconnects; wait for that.
    until(
        "ready after the restart",
        Duration::from_secs(10),
        || async {
            c.get(format!("{}/readyz", zb.url))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK)
        },
    )
    .await;

    let (replay, _) = finish(&c, &before).await;
    assert_eq!(
        replay,
        (400, "login_expired".into()),
        "a replay after the forgetful restart"
    );
    let again = c.post(&sandbox).form(&jwt_fields).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
    assert!(
        again.text().await.unwrap().contains("cannot be checked"),
        "the sandbox's jti after the restart"
    );
    assert_eq!(sign_in(&c, &zb.url).await, (200, "ok".into()));
    assert!(
        zb.log_text().contains("lost its records"),
        "{}",
        zb.log_text()
    );
}

/// The same attack on the `memory` store: a process restart forgets its
/// records, so whatever was issued before the process started is refused.
#[tokio::test]
async fn a_replay_after_a_memory_store_restart_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = dir.path().join("zenbridge.toml");
    let config = crate::cluster::config(
        port,
        &format!("http://127.0.0.1:{port}"),
        "unused",
        0,
        "memory",
    )
    .replace(
        "backend = \"redis\"\nredis_url = \"unused\"",
        "backend = \"memory\"",
    );
    assert!(config.contains("backend = \"memory\""));
    std::fs::write(&path, config).unwrap();
    let args = ["serve", "--config", path.to_str().unwrap()];
    let mut zb = start_binary(&args, port, dir.path()).await;
    let c = client();
    let before = start(&c, &zb.url).await.expect("a sign-in starts");
    assert_eq!(finish(&c, &before).await.0, (200, "ok".into()));
    let pending = start(&c, &zb.url).await.expect("another sign-in starts");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    zb.child.start_kill().unwrap();
    let _ = zb.child.wait().await;
    let zb = start_binary(&args, port, dir.path()).await;

    assert_eq!(
        finish(&c, &before).await.0,
        (400, "login_expired".into()),
        "a replay after the restart"
    );
    assert_eq!(
        finish(&c, &pending).await.0,
        (400, "login_expired".into()),
        "a sign-in started before the restart cannot be told from a replay"
    );
    assert_eq!(sign_in(&c, &zb.url).await, (200, "ok".into()));
}

/// The cluster test's config with its state in the Redis at `url` (rate
/// limit `rate_limit`), served by the real binary: the process, its
/// config file and the folder holding it.
async fn serve_on(
    url: &str,
    rate_limit: u32,
    label: &str,
) -> (
    crate::common::Process,
    std::path::PathBuf,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = dir.path().join("zenbridge.toml");
    std::fs::write(
        &path,
        crate::cluster::config(
            port,
            &format!("http://127.0.0.1:{port}"),
            url,
            rate_limit,
            label,
        ),
    )
    .unwrap();
    let zb = start_binary(
        &["serve", "--config", path.to_str().unwrap()],
        port,
        dir.path(),
    )
    .await;
    (zb, path, dir)
}

/// While the store does not answer: the finish of `before` (a sign-in
/// finished earlier) and a fresh sign-in are both `503 state_unavailable`,
/// and `/readyz` is `503`.
async fn fails_closed(c: &reqwest::Client, base: &str, before: &Started, when: &str) {
    let closed = (503, "state_unavailable".to_owned());
    assert_eq!(finish(c, before).await.0, closed, "a replay {when}");
    assert_eq!(sign_in(c, base).await, closed, "a fresh sign-in {when}");
    let ready = c.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE, "{when}");
}

/// The finish of `before` again is `token_reused`, and its sandbox token
/// (posted to `sandbox` with `fields`) "was already used".
async fn replays_refused(
    c: &reqwest::Client,
    before: &Started,
    sandbox: &str,
    fields: &[(String, String)],
    when: &str,
) {
    let (replay, _) = finish(c, before).await;
    assert_eq!(replay, (403, "token_reused".into()), "a replay {when}");
    let again = c.post(sandbox).form(fields).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
    assert!(again.text().await.unwrap().contains("was already used"));
}

/// Lets the load run half a second more, stops it and adds up what it
/// saw. Each answer must be a success or a closed door — never a 500,
/// never a sign-in finished without its record — and the rate limit must
/// have failed open (SDK exchanges kept working).
async fn tally(
    stop: &AtomicBool,
    workers: Vec<tokio::task::JoinHandle<BTreeMap<String, usize>>>,
) -> BTreeMap<String, usize> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total: BTreeMap<String, usize> = BTreeMap::new();
    for w in workers {
        for (k, n) in w.await.unwrap() {
            *total.entry(k).or_default() += n;
        }
    }
    for k in total.keys() {
        assert!(
            ["200 ok", "200 sdk", "503 state_unavailable"].contains(&k.as_str()),
            "unexpected answer under the fault: {k} ({total:?})"
        );
    }
    assert!(total.contains_key("503 state_unavailable"), "{total:?}");
    assert!(
        total.get("200 sdk").copied().unwrap_or(0) > 10,
        "the rate limit fails open: {total:?}"
    );
    total
}

/// A sign-in finished, and its sandbox token used once: the sign-in (to
/// replay), the sandbox's URL and the token's form (to post again).
async fn signed_in(c: &reqwest::Client, base: &str) -> (Started, String, Vec<(String, String)>) {
    let before = start(c, base).await.expect("a sign-in starts");
    let (outcome, to_zendesk) = finish(c, &before).await;
    assert_eq!(outcome, (200, "ok".into()));
    let (sandbox, fields) = to_zendesk.expect("the form to Zendesk");
    let used = c.post(&sandbox).form(&fields).send().await.unwrap();
    assert_eq!(used.status(), StatusCode::OK);
    (before, sandbox, fields)
}
