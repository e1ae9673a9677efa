//! The key rotation runbooks of `docs/operations.md`, followed step by step
//! against the real binary, each step a config change and a SIGHUP:
//! the cookie key (sign-ins started before the rotation finish), a
//! messaging target's `keys` (no request fails, every token verifies
//! against the keys Zendesk holds at that moment), and an `sso` secret
//! through Zendesk's multiple SSO configurations (a second target).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{DEV_SOURCE, Process, hs256, now, start_binary};
use crate::sso::{client, field, get, post};
use crate::support::{assert_zendesk_ok, free_port};

const LEGACY_SECRET: &str = "legacy-shared-secret-0123456789abcdef";
const SANDBOX_SECRET: &str = "sandbox-secret-0123456789abcdef";
const OLD_COOKIE_KEY: &str = "the-old-cookie-key-0123456789abcdef0123";
const NEW_COOKIE_KEY: &str = "the-new-cookie-key-0123456789abcdef0123";
const NEWER_COOKIE_KEY: &str = "the-newer-cookie-key-0123456789abcdef01";
const OLD_KEY: (&str, &str) = ("app_old", "old-messaging-secret-0123456789");
const NEW_KEY: (&str, &str) = ("app_new", "new-messaging-secret-0123456789");

/// The config: `server_extra` in `[server]`, `widget` the messaging
/// target's key lines, `sso` the `[[target]]` tables of the help center.
fn config(port: u16, server_extra: &str, widget: &str, sso: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
rate_limit_per_minute = 0
{server_extra}

{DEV_SOURCE}
[[source]]
name = "legacy"
kind = "jwt"
issuer = "https://legacy.acme.test"
secret = "{LEGACY_SECRET}"
audiences = ["zendesk"]
[source.claims]
external_id = "'legacy|' + claims.sub"

[[target]]
name = "widget"
kind = "messaging"
{widget}
sources = ["legacy"]

{sso}
"#
    )
}

fn cookie_keys(current: &str, previous: Option<&str>) -> String {
    let previous = previous
        .map(|p| format!("previous_cookie_key = \"{p}\""))
        .unwrap_or_default();
    format!("cookie_key = \"{current}\"\n{previous}")
}

fn sandboxed() -> String {
    format!(
        "[[target]]\nname = \"sandboxed\"\nkind = \"sso\"\nsandbox = true\nsecret = \"{SANDBOX_SECRET}\"\nsources = [\"dev\"]\n"
    )
}

fn single_key((id, secret): (&str, &str)) -> String {
    format!("key_id = \"{id}\"\nsecret = \"{secret}\"")
}

fn keys(list: &[(&str, &str)]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|(id, secret)| format!("  {{ id = \"{id}\", secret = \"{secret}\" }},"))
        .collect();
    format!("keys = [\n{}\n]", items.join("\n"))
}

/// A config file and the binary serving it.
struct Deployment {
    dir: tempfile::TempDir,
    port: u16,
    process: Process,
}

impl Deployment {
    async fn start(text: impl Fn(u16) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let file = dir.path().join("zenbridge.toml");
        std::fs::write(&file, text(port)).unwrap();
        let process = start_binary(
            &["serve", "--config", file.to_str().unwrap()],
            port,
            dir.path(),
        )
        .await;
        Self { dir, port, process }
    }

    /// Writes the next config and reloads it; panics if it is refused.
    async fn step(&self, text: String) {
        std::fs::write(self.dir.path().join("zenbridge.toml"), text).unwrap();
        assert!(
            self.process.reload().await,
            "the step's config was refused:\n{}",
            self.process.log_text()
        );
    }

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.process.url)
    }
}

/// Starts a dev sign-in in `c`; returns the user form's action and fields.
async fn start_sign_in(c: &reqwest::Client, d: &Deployment) -> (String, Vec<(String, String)>) {
    let page = get(c, d.at("/sso/sandboxed/login/dev")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.form()
}

/// Posts the dev user form as ada; returns the answer.
async fn finish_sign_in(
    c: &reqwest::Client,
    (action, fields): &(String, Vec<(String, String)>),
) -> crate::sso::Answer {
    let mut f = fields.clone();
    f.push(("user".into(), "ada".into()));
    post(c, action, &f).await
}

#[tokio::test]
async fn cookie_key_rotation_runbook_finishes_sign_ins_started_before_it() {
    let widget = single_key(OLD_KEY);
    let d = Deployment::start(|port| {
        config(
            port,
            &cookie_keys(OLD_COOKIE_KEY, None),
            &widget,
            &sandboxed(),
        )
    })
    .await;
    let (c, _) = client();
    // Two sign-ins in progress in one browser, sealed with the old key.
    let first = start_sign_in(&c, &d).await;
    let second = start_sign_in(&c, &d).await;
    let with_cookie_keys = async |current, previous| {
        d.step(config(
            d.port,
            &cookie_keys(current, previous),
            &widget,
            &sandboxed(),
        ))
        .await;
    };

    // Step 1: the new key, and the old one as `previous_cookie_key`.
    with_cookie_keys(NEW_COOKIE_KEY, Some(OLD_COOKIE_KEY)).await;
    let done = finish_sign_in(&c, &first).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let (_, form) = done.form();
    assert_zendesk_ok(field(&form, "jwt").unwrap(), SANDBOX_SECRET, "sso", None);
    // That response sealed the browser's other cookies again with the new key.
    assert!(
        done.set_cookies()
            .iter()
            .any(|c| c.starts_with("zb_login_") && !c.contains("Max-Age=0")),
        "{:?}",
        done.set_cookies()
    );

    // Step 2, after the cookies' lifetime: the previous key removed. The
    // second sign-in's cookie was sealed again, so it still finishes.
    with_cookie_keys(NEW_COOKIE_KEY, None).await;
    let done = finish_sign_in(&c, &second).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);

    // Without the runbook's first step, a sign-in in progress is lost:
    // the key changed with no previous key, the cookie opens no more.
    let third = start_sign_in(&c, &d).await;
    with_cookie_keys(NEWER_COOKIE_KEY, None).await;
    let lost = finish_sign_in(&c, &third).await;
    assert_eq!(lost.status, StatusCode::BAD_REQUEST, "{}", lost.body);
    assert_eq!(lost.error_code().as_deref(), Some("login_expired"));
}

/// The key a messaging token was signed with, checked against `held`: the
/// keys Zendesk holds (id → secret).
fn verify_messaging(jwt: &str, held: &HashMap<&str, &str>) -> Result<String, String> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let secret = held
        .get(kid.as_str())
        .ok_or_else(|| format!("Zendesk holds no key {kid:?}"))?;
    let mut v = Validation::new(Algorithm::HS256);
    v.required_spec_claims.clear();
    v.validate_aud = false;
    jsonwebtoken::decode::<Value>(jwt, &DecodingKey::from_secret(secret.as_bytes()), &v)
        .map_err(|e| format!("{kid}: {e}"))?;
    Ok(kid)
}

fn legacy_token() -> String {
    let t = now();
    hs256(
        LEGACY_SECRET,
        &json!({"iss": "https://legacy.acme.test", "aud": "zendesk", "sub": "u1", "name": "U One", "iat": t, "exp": t + 600}),
    )
}

#[tokio::test]
async fn messaging_key_rotation_runbook_loses_no_token() {
    let sso = sandboxed();
    let d = Deployment::start(|port| {
        config(
            port,
            &cookie_keys(OLD_COOKIE_KEY, None),
            &single_key(OLD_KEY),
            &sso,
        )
    })
    .await;
    // What Zendesk holds changes with the runbook: the old key, then both,
    // then the new key only.
    let held: Arc<std::sync::Mutex<HashMap<&str, &str>>> =
        Arc::new(std::sync::Mutex::new(HashMap::from([OLD_KEY])));
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (held, stop, url) = (held.clone(), stop.clone(), d.at("/exchange/widget"));
        tokio::spawn(async move {
            let c = reqwest::Client::new();
            let mut kids: Vec<String> = Vec::new();
            let mut failures: Vec<String> = Vec::new();
            for _ in 0..20_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let resp = c.post(&url).bearer_auth(legacy_token()).send().await;
                let Ok(resp) = resp else {
                    failures.push("no answer".into());
                    continue;
                };
                let status = resp.status();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                let Some(jwt) = body["jwt"].as_str().filter(|_| status == StatusCode::OK) else {
                    failures.push(format!("{status} {body}"));
                    continue;
                };
                let snapshot = held.lock().unwrap().clone();
                match verify_messaging(jwt, &snapshot) {
                    Ok(kid) if kids.last() != Some(&kid) => kids.push(kid),
                    Ok(_) => {}
                    Err(e) => failures.push(e),
                }
            }
            (kids, failures)
        })
    };
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(300));
    pause().await;

    // Step 1: create the new key in Zendesk (both are valid there now).
    held.lock().unwrap().insert(NEW_KEY.0, NEW_KEY.1);
    pause().await;
    // Step 2: list both here, the new one first; reload.
    d.step(config(
        d.port,
        &cookie_keys(OLD_COOKIE_KEY, None),
        &keys(&[NEW_KEY, OLD_KEY]),
        &sso,
    ))
    .await;
    pause().await;
    // Step 3, once the old key's tokens have expired: remove it here,
    // reload, then delete it in Zendesk.
    d.step(config(
        d.port,
        &cookie_keys(OLD_COOKIE_KEY, None),
        &keys(&[NEW_KEY]),
        &sso,
    ))
    .await;
    held.lock().unwrap().remove(OLD_KEY.0);
    pause().await;
    stop.store(true, Ordering::Relaxed);
    let (kids, failures) = load.await.unwrap();
    assert!(
        failures.is_empty(),
        "{} failures: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_eq!(kids, ["app_old", "app_new"], "the key in use, in order");

    // And what Zendesk itself checks of the last one.
    let resp = reqwest::Client::new()
        .post(d.at("/exchange/widget"))
        .bearer_auth(legacy_token())
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_zendesk_ok(
        body["jwt"].as_str().unwrap(),
        NEW_KEY.1,
        "messaging",
        Some(NEW_KEY.0),
    );
}

#[tokio::test]
async fn sso_secret_rotation_runbook_uses_a_second_zendesk_configuration() {
    const OLD: &str = "helpcenter-old-secret-0123456789";
    const NEW: &str = "helpcenter-new-secret-0123456789";
    let target = |name: &str, secret: &str| {
        format!(
            "[[target]]\nname = \"{name}\"\nkind = \"sso\"\nsandbox = true\nsecret = \"{secret}\"\nsources = [\"dev\"]\n"
        )
    };
    let widget = single_key(OLD_KEY);
    let d = Deployment::start(|port| {
        config(
            port,
            &cookie_keys(OLD_COOKIE_KEY, None),
            &widget,
            &target("helpcenter", OLD),
        )
    })
    .await;
    let sign_in = |name: &'static str| {
        let d = &d;
        async move {
            let (c, _) = client();
            let page = get(&c, d.at(&format!("/sso/{name}/login/dev"))).await;
            if page.status != StatusCode::OK {
                return None;
            }
            let done = finish_sign_in(&c, &page.form()).await;
            assert_eq!(done.status, StatusCode::OK, "{}", done.body);
            Some(field(&done.form().1, "jwt").unwrap().to_owned())
        }
    };
    let jwt = sign_in("helpcenter").await.unwrap();
    assert_zendesk_ok(&jwt, OLD, "sso", None);

    // Step 1: a second target with the new secret, for the second SSO
    // configuration made in Zendesk with its own remote login URL.
    d.step(config(
        d.port,
        &cookie_keys(OLD_COOKIE_KEY, None),
        &widget,
        &format!(
            "{}\n{}",
            target("helpcenter", OLD),
            target("helpcenter-next", NEW)
        ),
    ))
    .await;
    let jwt = sign_in("helpcenter").await.unwrap();
    assert_zendesk_ok(&jwt, OLD, "sso", None);
    let jwt = sign_in("helpcenter-next").await.unwrap();
    assert_zendesk_ok(&jwt, NEW, "sso", None);

    // Step 2: once Zendesk uses the new configuration, the old target goes.
    d.step(config(
        d.port,
        &cookie_keys(OLD_COOKIE_KEY, None),
        &widget,
        &target("helpcenter-next", NEW),
    ))
    .await;
    assert!(
        sign_in("helpcenter").await.is_none(),
        "the old target is gone"
    );
    let jwt = sign_in("helpcenter-next").await.unwrap();
    assert_zendesk_ok(&jwt, NEW, "sso", None);
}
