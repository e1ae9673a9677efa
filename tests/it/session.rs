//! `session` sources: a legacy app's own login session (the Python legacy
//! app, `tests/support/legacy/app.py`), checked at its check URL. The
//! cookie-keeping client goes through the real redirects: zenbridge → the
//! app's login form → back to `/callback` → the page that posts the JWT.
//! The app and the gateway both listen on 127.0.0.1 (cookies ignore the
//! port), as sibling subdomains share a parent-domain cookie.

use reqwest::StatusCode;
use reqwest::cookie::CookieStore as _;
use serde_json::json;
use url::Url;

use crate::common::{Gateway, gateway};
use crate::sso::{Answer, client, field, get, post};
use crate::support::{LegacyApp, LegacyOptions, assert_zendesk_ok, decode_jwt, start_legacy_app};

const SECRET: &str = "session-sso-secret-0123456789abcdef";
const ACCESS_URL: &str = "http://127.0.0.1:9/access/jwt";
const RETURN_TO: &str = "https://acme.zendesk.com/hc/en-us";

/// A `session` source named `legacy` over the legacy app, with `extra`
/// keys (also the browser test's).
pub(crate) fn legacy_source(legacy: &LegacyApp, extra: &str) -> String {
    format!(
        r#"
[[source]]
name = "legacy"
kind = "session"
label = "Legacy portal"
check_url = "{check}"
login_url = "{login}"
return_to_query_param = "next"
cookies = ["legacy_session"]
token_header = "X-Session-Token"
timeout = "1s"
{extra}
[source.claims]
external_id = "'legacy|' + claims.sub"
"#,
        check = legacy.url("/api/session"),
        login = legacy.url("/login"),
    )
}

fn config(legacy: &LegacyApp, extra: &str) -> String {
    format!(
        r#"
[server]
listen = "@LISTEN@"
public_url = "@URL@"
cookie_key = "session-test-cookie-key-0123456789abcdef"
rate_limit_per_minute = 0
{source}
[[target]]
name = "helpcenter"
kind = "sso"
subdomain = "acme"
secret = "{SECRET}"
sources = ["legacy"]
access_url = "{ACCESS_URL}"

[[target]]
name = "mobile"
kind = "sdk"
secret = "{SECRET}"
sources = ["legacy"]
endpoints = ["sdk", "exchange"]

[[target]]
name = "chat"
kind = "chat"
secret = "{SECRET}"
sources = ["legacy"]
"#,
        source = legacy_source(legacy, extra),
    )
}

async fn setup(extra: &str) -> (LegacyApp, Gateway) {
    let legacy = start_legacy_app(LegacyOptions::default()).await;
    let gw = gateway(&config(&legacy, extra)).await;
    (legacy, gw)
}

fn at(gw: &Gateway, path: &str) -> Url {
    Url::parse(&format!("{}{path}", gw.url)).unwrap()
}

fn login_url(gw: &Gateway) -> Url {
    let mut u = at(gw, "/sso/helpcenter/login");
    u.query_pairs_mut().append_pair("return_to", RETURN_TO);
    u
}

/// The browser holds the app's session cookie `value` (for 127.0.0.1,
/// every port: the app's and zenbridge's).
fn hold_session(jar: &reqwest::cookie::Jar, gw: &Gateway, value: &str) {
    jar.add_cookie_str(
        &format!("legacy_session={value}; Path=/"),
        &Url::parse(&gw.url).unwrap(),
    );
}

/// The way back the app's login form was given (`next`), from zenbridge's
/// redirect to it.
fn way_back(legacy: &LegacyApp, started: &Answer) -> String {
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    let to = Url::parse(&started.location()).unwrap();
    assert_eq!(
        to.as_str().split('?').next(),
        Some(legacy.url("/login").as_str())
    );
    to.query_pairs()
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.into_owned())
        .expect("the login form is given the way back in `next`")
}

/// Signs in at the app's form as `email`; returns where the app sends the
/// browser.
async fn app_login(
    c: &reqwest::Client,
    legacy: &LegacyApp,
    email: &str,
    password: &str,
    next: &str,
) -> String {
    let form = [
        ("email".to_owned(), email.to_owned()),
        ("password".to_owned(), password.to_owned()),
        ("next".to_owned(), next.to_owned()),
    ];
    let done = post(c, legacy.url("/login"), &form).await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    done.location()
}

/// The JWT and `return_to` a finished page posts to the access URL.
fn posted(page: &Answer) -> (String, Option<String>) {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let (action, fields) = page.form();
    assert_eq!(action, ACCESS_URL);
    let jwt = field(&fields, "jwt").expect("jwt field").to_owned();
    (jwt, field(&fields, "return_to").map(str::to_owned))
}

#[tokio::test]
async fn session_sign_in_goes_through_the_apps_login_form_and_back_to_a_zendesk_jwt() {
    let (legacy, gw) = setup("").await;
    let (c, jar) = client();

    let started = get(&c, login_url(&gw)).await;
    assert!(
        started
            .set_cookies()
            .iter()
            .any(|s| s.starts_with("zb_login_")),
        "the pending login is kept in its cookie"
    );
    let next = way_back(&legacy, &started);
    assert!(
        next.starts_with(&format!("{}/callback?state=", gw.url)),
        "{next}"
    );
    assert_eq!(
        legacy.stats().await["checks"],
        0,
        "no cookie, no check: straight to the login form"
    );

    let back = app_login(&c, &legacy, "ada@example.com", "lovelace", &next).await;
    assert_eq!(back, next, "the app sends the browser back as told");
    let page = get(&c, back.as_str()).await;
    page.assert_page_headers();
    let (jwt, return_to) = posted(&page);
    assert_eq!(return_to.as_deref(), Some(RETURN_TO));
    let claims = assert_zendesk_ok(&jwt, SECRET, "sso", None);
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["name"], "Ada Lovelace");
    let sub = decode_jwt(&jwt).1["external_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(sub.starts_with("legacy|legacy-user-"), "{sub}");

    // The browser sent the app's two cookies and zenbridge's own; only the
    // configured one reached the check URL.
    let sent = jar
        .cookies(&Url::parse(&gw.url).unwrap())
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(sent.contains("legacy_prefs="), "{sent}");
    assert!(sent.contains("zb_last="), "{sent}");
    let stats = legacy.stats().await;
    assert_eq!(stats["checks"], 1);
    assert_eq!(stats["last_check_cookies"], json!(["legacy_session"]));
    assert!(
        !stats["last_check_headers"]
            .as_array()
            .unwrap()
            .contains(&json!("x-session-token")),
        "{stats}"
    );

    // Signed in at the app already: the login URL finishes at once, without
    // a pending login (and the answer is reused from the cache).
    let again = get(&c, login_url(&gw)).await;
    let (jwt, _) = posted(&again);
    assert_eq!(
        assert_zendesk_ok(&jwt, SECRET, "sso", None)["email"],
        "ada@example.com"
    );
    assert!(
        !again
            .set_cookies()
            .iter()
            .any(|s| s.starts_with("zb_login_")),
        "{:?}",
        again.set_cookies()
    );
    assert_eq!(legacy.stats().await["checks"], 1, "the answer was kept");
}

/// Login CSRF: an attacker starts a sign-in in their own browser and signs
/// in at the app as themselves, then sends the victim the way back. The
/// victim's browser holds no pending login of that state: nothing is
/// minted, and the attacker's session never reaches the victim.
#[tokio::test]
async fn way_back_opened_in_another_browser_finishes_nothing_attack() {
    let (legacy, gw) = setup("").await;
    let (attacker, _) = client();
    let next = way_back(&legacy, &get(&attacker, login_url(&gw)).await);
    app_login(&attacker, &legacy, "mallory@example.com", "mallory", &next).await;

    // The victim is signed in at the app as herself.
    let (victim, victim_jar) = client();
    let ada = legacy.session_for("ada@example.com").await;
    hold_session(&victim_jar, &gw, &ada);
    let page = get(&victim, next.as_str()).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(page.error_code().as_deref(), Some("login_expired"));
    assert!(!page.body.contains("name=\"jwt\""), "{}", page.body);
    assert_eq!(legacy.stats().await["checks"], 0, "no check was made");
}

/// The way back is finished once: a second visit (a reload, or a copy of
/// the pending cookie replayed) mints nothing.
#[tokio::test]
async fn way_back_replayed_with_its_pending_cookie_is_refused_attack() {
    let (legacy, gw) = setup("").await;
    let (c, _) = client();
    let started = get(&c, login_url(&gw)).await;
    let pending: Vec<String> = started
        .set_cookies()
        .iter()
        .filter_map(|s| s.split(';').next().map(str::to_owned))
        .filter(|s| s.starts_with("zb_login_"))
        .collect();
    let next = way_back(&legacy, &started);
    app_login(&c, &legacy, "ada@example.com", "lovelace", &next).await;
    posted(&get(&c, next.as_str()).await);

    let replay = reqwest::Client::new()
        .get(next.as_str())
        .header(
            "cookie",
            format!(
                "{}; legacy_session={}",
                pending.join("; "),
                legacy.session_for("ada@example.com").await
            ),
        )
        .send()
        .await
        .unwrap();
    let page = crate::sso::answer(replay).await;
    assert_eq!(page.error_code().as_deref(), Some("token_reused"));
}

/// A forged session cookie is not a session: the browser is sent to the
/// app's login form; coming back with it still is refused.
#[tokio::test]
async fn forged_session_cookie_is_refused_with_token_inactive() {
    let (legacy, gw) = setup("").await;
    let (c, jar) = client();
    hold_session(&jar, &gw, "forged-0123456789abcdef");
    let started = get(&c, login_url(&gw)).await;
    let next = way_back(&legacy, &started);
    assert_eq!(legacy.stats().await["checks"], 1, "the check said 401");

    // Back without signing in (the forged cookie still there).
    let page = get(&c, next.as_str()).await;
    assert_eq!(page.error_code().as_deref(), Some("token_inactive"));
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("401"), "{}", page.body);
    page.assert_page_headers();
}

/// A foreign cookie — another app's, or the right value under another
/// name — is never forwarded: no check is made, and the person signs in at
/// the app's form.
#[tokio::test]
async fn foreign_session_cookie_is_not_forwarded_to_the_check_url() {
    let (legacy, gw) = setup("").await;
    let (c, jar) = client();
    let ada = legacy.session_for("ada@example.com").await;
    let here = Url::parse(&gw.url).unwrap();
    jar.add_cookie_str(&format!("other_app_session={ada}; Path=/"), &here);
    jar.add_cookie_str(&format!("Legacy_Session={ada}; Path=/"), &here);
    let started = get(&c, login_url(&gw)).await;
    way_back(&legacy, &started);
    assert_eq!(legacy.stats().await["checks"], 0);

    // Back without any app cookie: refused, nothing sent to the app.
    let next = way_back(&legacy, &get(&c, login_url(&gw)).await);
    let page = get(&c, next.as_str()).await;
    assert_eq!(page.error_code().as_deref(), Some("token_inactive"));
    assert_eq!(legacy.stats().await["checks"], 0);
}

/// A check URL that is down, slow, or answers 200 without claims (empty,
/// not JSON, not typed as JSON): `upstream_unavailable` (503), never a 500
/// nor a sign-in.
#[tokio::test]
async fn check_url_down_slow_or_without_claims_is_upstream_unavailable() {
    let (legacy, gw) = setup("cache_max = \"0s\"").await;
    let (c, jar) = client();
    let ada = legacy.session_for("ada@example.com").await;
    hold_session(&jar, &gw, &ada);
    for settings in [
        json!({"check_mode": "down"}),
        json!({"check_mode": "ok", "check_delay_ms": 1500}),
        json!({"check_mode": "empty", "check_delay_ms": 0}),
        json!({"check_mode": "garbage"}),
        json!({"check_mode": "no_json_type"}),
    ] {
        legacy.configure(&settings).await;
        let began = std::time::Instant::now();
        let page = get(&c, login_url(&gw)).await;
        assert_eq!(
            page.error_code().as_deref(),
            Some("upstream_unavailable"),
            "{settings}: {}",
            page.body
        );
        assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE, "{settings}");
        assert!(
            began.elapsed() < std::time::Duration::from_secs(3),
            "{settings}"
        );
        assert!(
            !page.body.contains(&legacy.url("")),
            "no upstream URL shown"
        );
    }
    legacy.configure(&json!({"check_mode": "ok"})).await;
    posted(&get(&c, login_url(&gw)).await);
}

/// A kept answer is reused for `cache_max`, never past the answer's `exp`;
/// an answer whose `exp` has passed is not signed in.
#[tokio::test]
async fn kept_answers_never_outlive_the_sessions_exp() {
    let (legacy, gw) = setup("cache_max = \"5m\"\nleeway = \"0s\"").await;
    let (c, jar) = client();
    let ada = legacy.session_for("ada@example.com").await;
    hold_session(&jar, &gw, &ada);
    legacy.configure(&json!({"session_exp": 2})).await;
    posted(&get(&c, login_url(&gw)).await);
    posted(&get(&c, login_url(&gw)).await);
    assert_eq!(legacy.stats().await["checks"], 1, "kept until exp");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    posted(&get(&c, login_url(&gw)).await);
    assert_eq!(legacy.stats().await["checks"], 2, "asked again after exp");

    // The app says the session already expired: not signed in.
    legacy.configure(&json!({"session_exp": -5})).await;
    let (c2, jar2) = client();
    let grace = legacy.session_for("grace@example.com").await;
    hold_session(&jar2, &gw, &grace);
    way_back(&legacy, &get(&c2, login_url(&gw)).await);
}

/// The app's `email_verified: false` keeps the email from Zendesk.
#[tokio::test]
async fn unverified_email_from_the_check_is_refused_with_email_unverified() {
    let (legacy, gw) = setup("").await;
    let (c, _) = client();
    let next = way_back(&legacy, &get(&c, login_url(&gw)).await);
    app_login(&c, &legacy, "mallory@example.com", "mallory", &next).await;
    let page = get(&c, next.as_str()).await;
    assert_eq!(page.error_code().as_deref(), Some("email_unverified"));
}

/// The keys a session source takes, and what the config refuses.
#[test]
fn session_source_config_problems_name_their_keys() {
    let bad = r#"
[server]
public_url = "https://sso.example.com"
cookie_key = "session-test-cookie-key-0123456789abcdef"

[[source]]
name = "legacy"
kind = "session"
check_url = "http://app.example.com/api/session"
login_url = "https://app.example.com/login?next=x"
return_to_query_param = "next"
cookies = ["zb_last", "bad name"]
token_header = "Cookie"
cache_max = "10m"
timeout = "1m"

[[target]]
name = "helpcenter"
kind = "sso"
subdomain = "acme"
secret = "session-sso-secret-0123456789abcdef"
sources = ["legacy"]
"#;
    let problems = zenbridge::config::load_str(bad, None)
        .expect_err("refused")
        .to_string();
    for want in [
        "source[0].check_url: must be https",
        "source[0].login_url: already has a \"next\" parameter",
        "source[0].cookies[0]: \"zb_last\" is one of zenbridge's own",
        "source[0].cookies[1]: not a cookie name",
        "source[0].token_header: \"Cookie\" cannot carry a session token",
        "source[0].cache_max: must be from 0s to 5m",
        "source[0].timeout: must be from 100ms to 30s",
    ] {
        assert!(problems.contains(want), "{want} not in:\n{problems}");
    }
}

/// Mobile: the app's session token on `/sdk` (`user_token`), `/exchange`
/// (Bearer) and `/token` (as an access token) is checked at the same URL,
/// in the configured header, and never with a cookie.
#[tokio::test]
async fn mobile_session_token_is_checked_in_its_header_on_every_token_endpoint() {
    let (legacy, gw) = setup("cache_max = \"0s\"").await;
    let token = legacy.mobile_token("ada@example.com", "lovelace").await;

    let (status, body) = gw.sdk("mobile", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims = assert_zendesk_ok(body["jwt"].as_str().unwrap(), SECRET, "sdk", None);
    assert_eq!(claims["email"], "ada@example.com");
    let stats = legacy.stats().await;
    assert_eq!(stats["last_check_cookies"], json!([]), "{stats}");
    assert!(
        stats["last_check_headers"]
            .as_array()
            .unwrap()
            .contains(&json!("x-session-token")),
        "{stats}"
    );

    let (status, body) = gw.exchange("mobile", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let form = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", token.as_str()),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
        ("audience", "chat"),
    ];
    let resp = gw
        .client
        .post(format!("{}/token", gw.url))
        .form(&form)
        .send()
        .await
        .unwrap();
    let (status, body) = crate::common::status_json(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(legacy.stats().await["checks"], 3);
}

/// A forged session token, one the app ended, or a check URL that does
/// not answer properly: each refused with its code, never a 500.
#[tokio::test]
async fn mobile_forged_token_is_token_inactive_and_a_broken_check_upstream_unavailable() {
    let (legacy, gw) = setup("cache_max = \"0s\"").await;
    let (status, body) = gw.sdk("mobile", "forged-session-token-0123456789").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error_code"], "token_inactive");
    assert!(
        !body.to_string().contains("forged-session-token"),
        "the token is not echoed: {body}"
    );

    let token = legacy.mobile_token("grace@example.com", "hopper").await;
    for mode in ["down", "empty", "garbage", "no_json_type"] {
        legacy.configure(&json!({ "check_mode": mode })).await;
        let (status, body) = gw.sdk("mobile", &token).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{mode}: {body}");
        assert_eq!(body["error_code"], "upstream_unavailable", "{mode}");
        assert!(!body.to_string().contains(&legacy.url("")), "{body}");
    }
    legacy
        .configure(&json!({ "check_mode": "ok", "check_delay_ms": 1500 }))
        .await;
    let (status, body) = gw.sdk("mobile", &token).await;
    assert_eq!(body["error_code"], "upstream_unavailable", "slow: {body}");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

/// `check --online` asks the check URL once without a session: a 401 says
/// it answers as a check URL should; anything else fails the check.
#[tokio::test]
async fn check_online_probes_the_check_url_without_a_session() {
    let legacy = start_legacy_app(LegacyOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zenbridge.toml");
    let text = config(&legacy, "")
        .replace("@LISTEN@", "127.0.0.1:0")
        .replace("@URL@", "http://127.0.0.1:8080");
    std::fs::write(&file, text).unwrap();
    let run = |f: std::path::PathBuf| {
        tokio::task::spawn_blocking(move || {
            crate::common::run_binary(&["check", "--config", f.to_str().unwrap(), "--online"])
        })
    };
    let ok = run(file.clone()).await.unwrap();
    assert_eq!(ok.0, 0, "{}{}", ok.1, ok.2);
    assert!(
        ok.1.contains("source legacy: ") && ok.1.contains("answers 401 without a session"),
        "{}",
        ok.1
    );
    legacy.configure(&json!({ "check_mode": "down" })).await;
    let down = run(file).await.unwrap();
    assert_eq!(down.0, 1, "{}{}", down.1, down.2);
    assert!(
        down.1.contains("expected 401; it answered HTTP 500"),
        "{}",
        down.1
    );
}
