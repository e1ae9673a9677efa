//! The browser sign-in in a real headless Chromium (Debian's package,
//! through chromedriver): the chooser, the reference OpenID Provider's
//! redirects and cookies, the auto-submitted form POST under the pages'
//! Content-Security-Policy, and a stand-in for Zendesk's `/access/jwt`
//! that checks the JWT it receives. A second run is the demo's: from
//! `zenbridge demo`'s landing page through the `dev` source to the sandbox,
//! every rule passing. A third, a legacy app that speaks Zendesk's JWT SSO
//! (`zendesk_jwt`): the chooser, the app's login form, back through
//! zenbridge to the stand-in.
//!
//! With `ZENBRIDGE_SCREENSHOTS=1`, the demo's landing page, the chooser and
//! the sandbox result are saved to `docs/screenshots/` for the README.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{
    LEGACY_JWT_SECRET, LegacyOptions, assert_zendesk_ok, shared_op, start_legacy_app,
};
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use fantoccini::Locator;
use serde_json::Value;

const SECRET: &str = "browser-sso-secret-0123456789";
const WAIT: Duration = Duration::from_secs(20);

fn config(op: &str, access_url: &str) -> String {
    format!(
        r#"
[server]
listen = "@LISTEN@"
public_url = "@URL@"
cookie_key = "browser-test-cookie-key-0123456789abcdef"
rate_limit_per_minute = 0

[[source]]
name = "op"
kind = "oidc"
label = "Acme staff"
issuer = "{op}"
client_id = "zenbridge"
client_secret = "zenbridge-test-secret"
scopes = ["openid", "email", "profile"]
[source.claims]
external_id = "'op|' + claims.sub"

[[source]]
name = "demo"
kind = "dev"
label = "Demo directory (no password)"
[[source.users]]
id = "ada"
email = "ada@example.com"
name = "Ada Lovelace"
[[source.users]]
id = "grace"
email = "grace@example.com"
name = "Grace Hopper"

[[target]]
name = "helpcenter"
kind = "sso"
subdomain = "acme"
secret = "{SECRET}"
sources = ["op", "demo"]
access_url = "{access_url}"
"#
    )
}

async fn gateway(config: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let text = config
        .replace("@URL@", &format!("http://{addr}"))
        .replace("@LISTEN@", &addr.to_string());
    let cfg = zenbridge::config::load_str(&text, None).unwrap_or_else(|p| panic!("{p}"));
    let state = zenbridge::build_state(cfg).await.unwrap();
    let app = zenbridge::app(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// What the stand-in Zendesk received and accepted.
#[derive(Debug, Clone)]
struct Received {
    jwt: String,
    return_to: Option<String>,
    claims: Value,
}

#[derive(Clone, Default)]
struct Zendesk {
    received: Arc<Mutex<Vec<Received>>>,
    seen_jti: Arc<Mutex<HashSet<String>>>,
}

/// Zendesk's `/access/jwt` as `zendesk.md` describes it: a form POST with
/// `jwt` (HS256 with the secret's raw bytes, header `alg` and `typ`) and
/// `return_to`; `iat` within 3 minutes, `jti` used once, `email` and `name`.
async fn access_jwt(
    State(z): State<Zendesk>,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    let refuse = |why: String| {
        (
            StatusCode::UNAUTHORIZED,
            Html(format!("<h1 id=\"zendesk-refused\">{why}</h1>")),
        )
            .into_response()
    };
    let Some(jwt) = form.get("jwt") else {
        return refuse("no jwt field".into());
    };
    let header = match jsonwebtoken::decode_header(jwt) {
        Ok(h) => h,
        Err(e) => return refuse(format!("header: {e}")),
    };
    if header.alg != jsonwebtoken::Algorithm::HS256 || header.typ.as_deref() != Some("JWT") {
        return refuse("header must be HS256 / JWT".into());
    }
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.required_spec_claims.clear();
    v.validate_exp = false;
    let claims = match jsonwebtoken::decode::<Value>(
        jwt,
        &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
        &v,
    ) {
        Ok(d) => d.claims,
        Err(e) => return refuse(format!("signature: {e}")),
    };
    let now = zenbridge::source::now();
    if claims["iat"]
        .as_i64()
        .is_none_or(|iat| (now - iat).abs() > 180)
    {
        return refuse("iat".into());
    }
    let Some(jti) = claims["jti"].as_str().filter(|j| !j.is_empty()) else {
        return refuse("jti".into());
    };
    if !z.seen_jti.lock().unwrap().insert(jti.to_owned()) {
        return refuse("jti reused".into());
    }
    if !claims["email"].is_string() || !claims["name"].is_string() {
        return refuse("email and name".into());
    }
    let email = claims["email"].as_str().unwrap_or_default().to_owned();
    z.received.lock().unwrap().push(Received {
        jwt: jwt.clone(),
        return_to: form.get("return_to").cloned(),
        claims,
    });
    Html(format!(
        "<!DOCTYPE html><title>Zendesk</title><h1 id=\"zendesk-ok\">Signed in as {}</h1>",
        zenbridge::http::pages::escape(&email)
    ))
    .into_response()
}

async fn stand_in_zendesk() -> (Zendesk, String) {
    let z = Zendesk::default();
    let app = axum::Router::new()
        .route("/access/jwt", axum::routing::post(access_jwt))
        .with_state(z.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/access/jwt", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (z, url)
}

fn screenshots() -> Option<std::path::PathBuf> {
    (std::env::var("ZENBRIDGE_SCREENSHOTS").as_deref() == Ok("1"))
        .then(|| crate::support::manifest_dir().join("docs/screenshots"))
}

#[tokio::test]
async fn chromium_signs_in_through_the_chooser_and_the_op_and_posts_to_zendesk() {
    let op = shared_op().await;
    let (zendesk, access_url) = stand_in_zendesk().await;
    let gw = gateway(&config(&op.issuer, &access_url)).await;
    let browser = crate::support::chromium::start().await;
    let c = &browser.client;

    // No source has the hint's domain: the chooser; the hint goes on to the OP.
    c.goto(&format!(
        "{gw}/sso/helpcenter/login?return_to=%2Fhc%2Fen-us&login_hint=alice%40acme.com"
    ))
    .await
    .unwrap();
    let choice = element(c, "source-op").await;
    assert_eq!(choice.text().await.unwrap(), "Acme staff");
    assert!(c.find(Locator::Id("source-demo")).await.is_ok());
    // The nonce'd stylesheet applies (a CSP refusal would leave it unstyled).
    let width = c
        .execute(
            "return getComputedStyle(document.querySelector('main')).maxWidth",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(width, "704px");
    if let Some(dir) = screenshots() {
        fit_window(c).await;
        browser.screenshot(&dir.join("chooser.png")).await;
    }

    choice.click().await.unwrap();
    let here = on_zendesk(c, &access_url).await;

    let received = zendesk.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{received:?}");
    let r = &received[0];
    assert_eq!(r.return_to.as_deref(), Some("/hc/en-us"));
    assert_eq!(r.claims["email"], "alice@acme.com");
    assert_eq!(r.claims["external_id"], "op|alice");
    assert!(!here.as_str().contains(&r.jwt), "the JWT is never in a URL");
    assert_zendesk_ok(&r.jwt, SECRET, "sso", None);
    browser.close().await;
}

#[tokio::test]
async fn chromium_runs_the_demo_from_its_landing_page_to_a_passing_sandbox() {
    // `zenbridge demo`'s own config and router, on a free port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = zenbridge::build_state(zenbridge::cli::demo_config(addr))
        .await
        .unwrap();
    let app = zenbridge::demo_app(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let base = format!("http://{addr}");
    let browser = crate::support::chromium::start().await;
    let c = &browser.client;

    c.goto(&base).await.unwrap();
    let sign_in = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("sign-in"))
        .await
        .unwrap();
    if let Some(dir) = screenshots() {
        fit_window(c).await;
        browser.screenshot(&dir.join("demo.png")).await;
    }
    // One browser source: the login URL goes straight to its user list.
    sign_in.click().await.unwrap();
    let ada = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("user-ada"))
        .await
        .unwrap();
    ada.click().await.unwrap();
    let verdict = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("verdict"))
        .await;
    let here = c.current_url().await.unwrap();
    let page = c.source().await.unwrap_or_default();
    let verdict = verdict.unwrap_or_else(|e| panic!("no sandbox page ({e}) at {here}:\n{page}"));
    assert_eq!(
        here.as_str(),
        format!("{base}/sandbox/helpcenter/access/jwt")
    );
    assert_eq!(
        verdict.attr("data-verdict").await.unwrap().as_deref(),
        Some("pass"),
        "{page}"
    );
    let rules = c.find_all(Locator::Css("#rules tr")).await.unwrap();
    assert!(rules.len() >= 8, "one line per rule: {}", rules.len());
    assert!(
        c.find_all(Locator::Css("#rules tr.fail"))
            .await
            .unwrap()
            .is_empty(),
        "{page}"
    );
    assert_eq!(
        c.find(Locator::Id("return-to"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "/hc/en-us"
    );
    if let Some(dir) = screenshots() {
        fit_window(c).await;
        browser.screenshot(&dir.join("sandbox.png")).await;
    }
    browser.close().await;
}

/// A legacy app that speaks Zendesk's JWT SSO (`zendesk_jwt`), behind
/// zenbridge: the chooser, the app's own login form and session cookie,
/// its GET redirect with the JWT in the query back to zenbridge, and the
/// form POST to the stand-in Zendesk, whose checks pass.
#[tokio::test]
async fn chromium_signs_in_through_the_chooser_and_a_legacy_zendesk_jwt_app() {
    let op = shared_op().await;
    let (zendesk, access_url) = stand_in_zendesk().await;
    let app = start_legacy_app(LegacyOptions::default()).await;
    let legacy = format!(
        "[[source]]\nname = \"legacy\"\nkind = \"zendesk_jwt\"\nlabel = \"Legacy portal\"\nlogin_url = \"{}\"\nsecret = \"{LEGACY_JWT_SECRET}\"\n\n[[target]]",
        app.url("/zendesk/sso")
    );
    let text = config(&op.issuer, &access_url)
        .replacen("[[target]]", &legacy, 1)
        .replace(
            r#"sources = ["op", "demo"]"#,
            r#"sources = ["op", "demo", "legacy"]"#,
        );
    let gw = gateway(&text).await;
    app.configure(
        &serde_json::json!({ "zendesk_url": format!("{gw}/sso/helpcenter/from/legacy") }),
    )
    .await;
    let browser = crate::support::chromium::start().await;
    let c = &browser.client;

    c.goto(&format!(
        "{gw}/sso/helpcenter/login?return_to=%2Fhc%2Fen-us"
    ))
    .await
    .unwrap();
    let choice = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("source-legacy"))
        .await
        .unwrap();
    assert_eq!(choice.text().await.unwrap(), "Legacy portal");
    choice.click().await.unwrap();
    // The app's own login form, on the app's own origin.
    let email = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("email"))
        .await
        .unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(&app.url("/login"))
    );
    email.send_keys("ada@example.com").await.unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("lovelace")
        .await
        .unwrap();
    c.find(Locator::Id("sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let done = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("zendesk-ok"))
        .await;
    let here = c.current_url().await.unwrap();
    let page = c.source().await.unwrap_or_default();
    done.unwrap_or_else(|e| panic!("no Zendesk page ({e}) at {here}:\n{page}"));
    assert_eq!(here.as_str(), access_url, "the form was POSTed to Zendesk");
    let received = zendesk.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{received:?}");
    let r = &received[0];
    assert_eq!(r.return_to.as_deref(), Some("/hc/en-us"));
    assert_eq!(r.claims["email"], "ada@example.com");
    assert_eq!(r.claims["external_id"], "legacy-ada");
    assert_zendesk_ok(&r.jwt, SECRET, "sso", None);
    browser.close().await;
}

/// The element with `id`, once the page shows it.
async fn element(c: &fantoccini::Client, id: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no #{id} ({e})"))
}

/// Waits for the Zendesk stand-in's page and checks the form was POSTed to
/// the access URL; returns where the browser is.
async fn on_zendesk(c: &fantoccini::Client, access_url: &str) -> url::Url {
    let done = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("zendesk-ok"))
        .await;
    let here = c.current_url().await.unwrap();
    let page = c.source().await.unwrap_or_default();
    done.unwrap_or_else(|e| panic!("no Zendesk page ({e}) at {here}:\n{page}"));
    assert_eq!(
        here.as_str(),
        access_url,
        "the form was POSTed to the access URL"
    );
    here
}

/// Sizes the window to the page, so a screenshot shows all of it.
async fn fit_window(c: &fantoccini::Client) {
    let h = c
        .execute("return document.documentElement.scrollHeight", vec![])
        .await
        .ok()
        .and_then(|v| v.as_u64())
        .unwrap_or(800);
    let h = u32::try_from(h.clamp(400, 2400)).unwrap_or(800);
    c.set_window_size(1000, h + 90).await.unwrap();
}

/// A legacy app's own session (`session` source) in a real browser: the
/// chooser, the app's login form on its own port (cookies ignore ports,
/// as sibling subdomains share a parent-domain cookie), back to zenbridge,
/// and the form POST to the Zendesk stand-in. A second visit finishes at
/// once: the browser holds the app's session.
#[tokio::test]
async fn chromium_signs_in_through_the_chooser_and_a_legacy_apps_login_form() {
    let legacy = crate::support::start_legacy_app(crate::support::LegacyOptions::default()).await;
    let op = shared_op().await;
    let (zendesk, access_url) = stand_in_zendesk().await;
    // The OIDC test's config, with the legacy app's session in the op's place.
    let config = config(&op.issuer, &access_url).replace(
        r#"sources = ["op", "demo"]"#,
        r#"sources = ["legacy", "demo"]"#,
    ) + &crate::session::legacy_source(&legacy, "");
    let gw = gateway(&config).await;
    let browser = crate::support::chromium::start().await;
    let c = &browser.client;

    c.goto(&format!(
        "{gw}/sso/helpcenter/login?return_to=%2Fhc%2Fen-us"
    ))
    .await
    .unwrap();
    let choice = element(c, "source-legacy").await;
    assert_eq!(choice.text().await.unwrap(), "Legacy portal");
    choice.click().await.unwrap();

    // The app's own login form.
    let email = element(c, "email").await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(&legacy.url("/login?next=")),
    );
    email.send_keys("ada@example.com").await.unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("lovelace")
        .await
        .unwrap();
    c.find(Locator::Id("sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    on_zendesk(c, &access_url).await;
    let received = zendesk.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].return_to.as_deref(), Some("/hc/en-us"));
    assert_eq!(received[0].claims["email"], "ada@example.com");
    assert_zendesk_ok(&received[0].jwt, SECRET, "sso", None);
    let stats = legacy.stats().await;
    assert_eq!(
        stats["last_check_cookies"],
        serde_json::json!(["legacy_session"]),
        "{stats}"
    );

    // Signed in at the app: the source's start link finishes at once.
    c.goto(&format!("{gw}/sso/helpcenter/login/legacy?return_to=%2Fhc"))
        .await
        .unwrap();
    on_zendesk(c, &access_url).await;
    let received = zendesk.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(received[1].return_to.as_deref(), Some("/hc"));
    browser.close().await;
}
