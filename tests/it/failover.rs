//! State that survives a node loss: a real Redis primary, a replica and
//! three `redis-sentinel` processes; zenbridge (the real binary) finds the
//! master through the sentinels (`redis+sentinel://…/mymaster`). The
//! primary is killed (`SIGKILL`) under load, and the documented policy
//! holds: while no master answers, one-time checks fail closed
//! (`state_unavailable`; a replayed sign-in is never accepted), the rate
//! limit fails open, and once the sentinels promote the replica, service
//! resumes on it without restarting zenbridge, with the one-time records
//! made before the loss still refusing their replays.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::{run_binary, start_binary};
use crate::support::{
    Redis, free_port, parse_post_form, start_redis, start_replica, start_sentinel,
    start_sentinel_with_password,
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
    let before = start(&c, &base).await.expect("a sign-in starts");
    let (outcome, to_zendesk) = finish(&c, &before).await;
    assert_eq!(outcome, (200, "ok".into()));
    let (sandbox, jwt_fields) = to_zendesk.expect("the form to Zendesk");
    let used = c.post(&sandbox).form(&jwt_fields).send().await.unwrap();
    assert_eq!(used.status(), StatusCode::OK);
    assert_eq!(
        primary.command(&["WAIT", "1", "2000"]).await.trim(),
        ":1",
        "the replica acknowledged the records"
    );

    // Load: sign-ins (one-time checks) and SDK exchanges (the rate limit).
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
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..3 {
        let (c, base, token, stop) = (c.clone(), base.clone(), token.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
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
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    primary.kill().await;
    let killed = Instant::now();

    // No master now: the replay is refused and so is a fresh sign-in,
    // whose one-time use cannot be recorded (fail closed).
    let (replay, _) = finish(&c, &before).await;
    assert_eq!(
        replay,
        (503, "state_unavailable".into()),
        "a replay while no master answers"
    );
    assert_eq!(
        sign_in(&c, &base).await,
        (503, "state_unavailable".into()),
        "a fresh sign-in while no master answers"
    );

    let ready = c.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(
        ready.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "no master, not ready"
    );

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
    let (replay, _) = finish(&c, &before).await;
    assert_eq!(
        replay.1, "token_reused",
        "a replay after the failover: {replay:?}"
    );
    assert_eq!(replay.0, 403);
    let again = c.post(&sandbox).form(&jwt_fields).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
    assert!(again.text().await.unwrap().contains("was already used"));

    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total: BTreeMap<String, usize> = BTreeMap::new();
    for w in workers {
        for (k, n) in w.await.unwrap() {
            *total.entry(k).or_default() += n;
        }
    }
    eprintln!(
        "failover: promoted {promoted:?} after the kill, sign-ins again {resumed:?} after it; load: {total:?}"
    );
    // Under load, each answer was a success or a closed door: never a 500,
    // never a sign-in finished without its record.
    for k in total.keys() {
        assert!(
            ["200 ok", "200 sdk", "503 state_unavailable"].contains(&k.as_str()),
            "unexpected answer under failover: {k} ({total:?})"
        );
    }
    assert!(total.contains_key("503 state_unavailable"), "{total:?}");
    assert!(
        total.get("200 sdk").copied().unwrap_or(0) > 10,
        "the rate limit fails open: SDK exchanges kept working: {total:?}"
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
