//! `zendesk_jwt` sources: a legacy web app that already speaks Zendesk's JWT
//! SSO (the Python app in `tests/support/legacy`, with its own login form
//! and session cookie) moved behind zenbridge by replacing
//! `https://{subdomain}.zendesk.com` with `{public_url}/sso/{target}/from/{source}`.
//! Driven by the cookie-keeping client through every redirect: from
//! zenbridge's login URL to the app's login form and back, and unsolicited
//! from the app's own "Help center" link; by GET with the JWT in the query
//! and by form POST. Then each bad input with its `error_code`, the replay
//! across two `zenbridge` processes sharing one Redis, and the logs.

use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use crate::common::{
    Gateway, gateway, hs256, now, raw_hs256_with_header, raw_jwt, run_binary, start_binary_logging,
};
use crate::support::{
    LEGACY_JWT_SECRET, LegacyApp, LegacyOptions, assert_zendesk_ok, browser, follow, free_port,
    parse_post_form, start_legacy_app, start_redis,
};

const SSO_SECRET: &str = "zendesk-sso-secret-0123456789abcdef";
const OTHER_SECRET: &str = "another-legacy-secret-0123456789abcdef";
const ACCESS_URL: &str = "https://acme.zendesk.com/access/jwt";

/// Two legacy apps' sources (`legacy`, `other`, each with its own secret),
/// a `dev` source, an `sso` target taking all three and an `sdk` target
/// listing the legacy one.
fn config(login_url: &str, state: &str) -> String {
    format!(
        r#"
[server]
listen = "@LISTEN@"
public_url = "@URL@"
cookie_key = "zendesk-jwt-test-cookie-key-0123456789abcdef"
rate_limit_per_minute = 0
{state}

[[source]]
name = "legacy"
kind = "zendesk_jwt"
label = "Legacy portal"
login_url = "{login_url}"
secret = "{LEGACY_JWT_SECRET}"

[[source]]
name = "other"
kind = "zendesk_jwt"
login_url = "{login_url}"
secret = "{OTHER_SECRET}"

[[source]]
name = "demo"
kind = "dev"
[[source.users]]
id = "ada"
email = "ada@example.com"
name = "Ada Lovelace"

[[target]]
name = "helpcenter"
kind = "sso"
subdomain = "acme"
secret = "{SSO_SECRET}"
sources = ["legacy", "other", "demo"]

[[target]]
name = "mobile"
kind = "sdk"
secret = "mobile-sdk-secret-0123456789abcdef"
sources = ["legacy"]
"#
    )
}

/// What an operator writes in the legacy app where
/// `https://{subdomain}.zendesk.com` was.
fn base(gw: &str, source: &str) -> String {
    format!("{gw}/sso/helpcenter/from/{source}")
}

struct Setup {
    gw: Gateway,
    app: LegacyApp,
}

async fn setup(jwt_mode: &'static str) -> Setup {
    let app = start_legacy_app(LegacyOptions {
        jwt_mode,
        ..LegacyOptions::default()
    })
    .await;
    let gw = gateway(&config(&app.url("/zendesk/sso"), "")).await;
    app.configure(&json!({ "zendesk_url": base(&gw.url, "legacy") }))
        .await;
    Setup { gw, app }
}

/// Signs in on the app's login form, which `follow` reached at `at` (the
/// form is shown first, as to a person): the URL the app sends the
/// browser to next.
async fn log_in(b: &reqwest::Client, at: &Url, email: &str, password: &str) -> Url {
    let form = b.get(at.clone()).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    assert!(form.text().await.unwrap().contains("id=\"sign-in\""));
    LegacyApp::log_in(b, at, email, password).await
}

fn is_arrival(u: &Url) -> bool {
    u.path().ends_with("/access/jwt") && u.host_str() == Some("127.0.0.1")
}

/// zenbridge's page that posts to Zendesk: its form's action and fields.
async fn zendesk_form(resp: reqwest::Response) -> (String, Vec<(String, String)>) {
    let status = resp.status();
    let page = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{page}");
    parse_post_form(&page).unwrap_or_else(|| panic!("no form to Zendesk:\n{page}"))
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Zendesk's checker accepts the token zenbridge posts; its claims.
fn zendesk_claims(fields: &[(String, String)]) -> Value {
    let jwt = field(fields, "jwt").expect("a jwt field");
    assert_zendesk_ok(jwt, SSO_SECRET, "sso", None)
}

#[tokio::test]
async fn legacy_app_signs_in_by_get_from_zenbridges_login_url_to_zendesk() {
    let Setup { gw, app } = setup("get").await;
    let b = browser();
    let start = Url::parse(&format!(
        "{}/sso/helpcenter/login/legacy?return_to=%2Fhc%2Fen-us&brand_id=7",
        gw.url
    ))
    .unwrap();
    // zenbridge hands the browser to the app's remote login URL with
    // Zendesk's parameters, keeping no pending login.
    let first = b.get(start.clone()).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert!(first.headers().get(reqwest::header::SET_COOKIE).is_none());
    let to = first.headers()[reqwest::header::LOCATION].to_str().unwrap();
    assert_eq!(
        to,
        app.url("/zendesk/sso?return_to=%2Fhc%2Fen-us&brand_id=7")
    );
    let (form, _) = follow(&b, start, |u| u.path() == "/login").await.unwrap();
    let back = log_in(&b, &form, "ada@example.com", "lovelace").await;
    let (arrival, hops) = follow(&b, back, is_arrival).await.unwrap();
    assert_eq!(hops.last().map(|h| h.status), Some(302));
    assert!(arrival.as_str().starts_with(&base(&gw.url, "legacy")));
    assert!(arrival.query_pairs().any(|(k, _)| k == "jwt"));
    let page = b.get(arrival).send().await.unwrap();
    // The URL holds the app's token: the page sends no Referer on.
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let (action, fields) = zendesk_form(page).await;
    assert_eq!(action, ACCESS_URL);
    assert_eq!(field(&fields, "return_to"), Some("/hc/en-us"));
    let claims = zendesk_claims(&fields);
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["name"], "Ada Lovelace");
    // What the app sends beyond email and name passes through unchanged.
    assert_eq!(claims["external_id"], "legacy-ada");
    assert_eq!(claims["organization"], "Analytical Engines");
    assert_eq!(claims["tags"], json!(["legacy", "engines"]));
}

#[tokio::test]
async fn legacy_app_signs_in_unsolicited_by_form_post_from_its_help_center_link() {
    let Setup { gw, app } = setup("post").await;
    let b = browser();
    // The app's own "Help center" link: no visit to zenbridge before.
    let home = b
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("/zendesk/sso?return_to=%2Fhc"));
    let (form, _) = follow(
        &b,
        Url::parse(&app.url("/zendesk/sso?return_to=%2Fhc")).unwrap(),
        |u| u.path() == "/login",
    )
    .await
    .unwrap();
    let back = log_in(&b, &form, "grace@example.com", "hopper").await;
    let page = b.get(back).send().await.unwrap().text().await.unwrap();
    let (action, fields) = parse_post_form(&page).expect("the app's form POST");
    assert_eq!(action, format!("{}/access/jwt", base(&gw.url, "legacy")));
    let posted = b.post(&action).form(&fields).send().await.unwrap();
    let (to, fields) = zendesk_form(posted).await;
    assert_eq!(to, ACCESS_URL);
    assert_eq!(field(&fields, "return_to"), Some("/hc"));
    let claims = zendesk_claims(&fields);
    assert_eq!(claims["email"], "grace@example.com");
    assert!(claims.get("external_id").is_none(), "{claims}");
}

#[tokio::test]
async fn the_chooser_lists_a_legacy_app_and_its_button_starts_at_the_app() {
    let Setup { gw, app } = setup("get").await;
    let page = gw
        .client
        .get(format!("{}/sso/helpcenter/login?return_to=%2Fhc", gw.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Legacy portal"), "{page}");
    let button = format!("{}/sso/helpcenter/login/legacy?return_to=%2Fhc", gw.url);
    assert!(page.contains(&button.replace('&', "&amp;")), "{page}");
    let r = gw.client.get(&button).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()[reqwest::header::LOCATION].to_str().unwrap(),
        app.url("/zendesk/sso?return_to=%2Fhc")
    );
}

/// `GET {base}/access/jwt?jwt=…&return_to=…`: the status and page.
async fn arrive(
    gw: &Gateway,
    source: &str,
    jwt: &str,
    return_to: Option<&str>,
) -> (StatusCode, String) {
    let mut url = Url::parse(&format!("{}/access/jwt", base(&gw.url, source))).unwrap();
    url.query_pairs_mut().append_pair("jwt", jwt);
    if let Some(r) = return_to {
        url.query_pairs_mut().append_pair("return_to", r);
    }
    let resp = gw.client.get(url).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// The payload of a token, unverified (the test's own tokens).
fn claims_of(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// The page's `error_code`, or "" for the page that posts to Zendesk.
fn code(page: &str) -> &str {
    page.split_once("id=\"error-code\">")
        .and_then(|(_, rest)| rest.split_once('<'))
        .map_or("", |(c, _)| c)
}

async fn refused(gw: &Gateway, source: &str, jwt: &str) -> String {
    let (status, page) = arrive(gw, source, jwt, None).await;
    assert_ne!(status, StatusCode::OK, "{page}");
    assert!(!page.contains(jwt), "the page never echoes the token");
    code(&page).to_owned()
}

#[tokio::test]
async fn legacy_jwt_signed_with_a_wrong_or_another_sources_secret_is_refused_with_signature_invalid()
 {
    let Setup { gw, app } = setup("get").await;
    app.configure(&json!({ "jwt_secret": "a-wrong-secret-0123456789abcdef0123" }))
        .await;
    let wrong = app.jwt(&json!({})).await;
    assert_eq!(refused(&gw, "legacy", &wrong).await, "signature_invalid");
    app.configure(&json!({ "jwt_secret": OTHER_SECRET })).await;
    let others = app.jwt(&json!({})).await;
    assert_eq!(refused(&gw, "legacy", &others).await, "signature_invalid");
    // At its own source's address the same token is good.
    let (status, page) = arrive(&gw, "other", &others, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(code(&page), "");
}

#[tokio::test]
async fn replayed_legacy_jti_is_refused_with_token_reused() {
    let Setup { gw, app } = setup("get").await;
    let jwt = app.jwt(&json!({})).await;
    let (status, page) = arrive(&gw, "legacy", &jwt, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(refused(&gw, "legacy", &jwt).await, "token_reused");
    // Another token with the same jti: the jti is what is used once.
    // (Issued after this gateway started: what came before its records
    // began is refused as `login_expired`.)
    let jti = claims_of(&jwt)["jti"].clone();
    let again = app
        .jwt(&json!({ "jti": jti, "name": "Someone Else" }))
        .await;
    assert_ne!(again, jwt);
    assert_eq!(refused(&gw, "legacy", &again).await, "token_reused");
}

/// The attack: a Redis that lost its records (here `FLUSHALL`) would take
/// a used legacy token as new. Its `iat` is before the loss, so it is
/// refused; a token the app issues afterwards signs in.
#[tokio::test]
async fn a_legacy_jti_replayed_after_redis_lost_its_records_is_refused() {
    let redis = start_redis().await;
    let app = start_legacy_app(LegacyOptions::default()).await;
    let state = format!(
        "[state]\nbackend = \"redis\"\nredis_url = \"{}\"\n",
        redis.url
    );
    let gw = gateway(&config(&app.url("/zendesk/sso"), &state)).await;
    app.configure(&json!({ "zendesk_url": base(&gw.url, "legacy") }))
        .await;
    let jwt = app.jwt(&json!({})).await;
    assert_eq!(arrive(&gw, "legacy", &jwt, None).await.0, StatusCode::OK);
    // Records are kept to the second: the loss comes a second later.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(redis.command(&["FLUSHALL"]).await.starts_with("+OK"));
    assert_eq!(refused(&gw, "legacy", &jwt).await, "login_expired");
    let (_, page) = arrive(&gw, "legacy", &jwt, None).await;
    assert!(
        page.contains("before the state store")
            && page.contains("sign in again from the application"),
        "{page}"
    );
    let fresh = app.jwt(&json!({})).await;
    assert_eq!(arrive(&gw, "legacy", &fresh, None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn legacy_iat_outside_zendesks_window_is_refused() {
    let Setup { gw, app } = setup("get").await;
    let old = app.jwt(&json!({ "iat": now() - 240 })).await;
    assert_eq!(refused(&gw, "legacy", &old).await, "token_expired");
    let future = app.jwt(&json!({ "iat": now() + 240 })).await;
    assert_eq!(
        refused(&gw, "legacy", &future).await,
        "token_issued_in_future"
    );
    let mut claims = claims_of(&app.jwt(&json!({})).await);
    claims.as_object_mut().unwrap().remove("iat");
    let none = hs256(LEGACY_JWT_SECRET, &claims);
    assert_eq!(refused(&gw, "legacy", &none).await, "claim_missing");
    let text = app.jwt(&json!({ "iat": "now" })).await;
    assert_eq!(refused(&gw, "legacy", &text).await, "claim_invalid");
    // An exp, when the app sends one, is honoured.
    let expired = app.jwt(&json!({ "exp": now() - 600 })).await;
    assert_eq!(refused(&gw, "legacy", &expired).await, "token_expired");
    // Within the window (2 minutes old) it would pass, but this gateway's
    // memory store began a moment ago: whether it was used before cannot
    // be told.
    let recent = app.jwt(&json!({ "iat": now() - 120 })).await;
    assert_eq!(refused(&gw, "legacy", &recent).await, "login_expired");
    // With records that began earlier (a Redis that has kept them), it
    // passes.
    let redis = start_redis().await;
    assert!(
        redis
            .command(&[
                "SET",
                "zenbridge:records_since",
                &(now() - 3600).to_string()
            ])
            .await
            .starts_with("+OK")
    );
    let state = format!(
        "[state]\nbackend = \"redis\"\nredis_url = \"{}\"\n",
        redis.url
    );
    let kept = gateway(&config(&app.url("/zendesk/sso"), &state)).await;
    let recent = app.jwt(&json!({ "iat": now() - 120 })).await;
    assert_eq!(
        arrive(&kept, "legacy", &recent, None).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn legacy_jwt_without_email_name_or_jti_is_refused_with_claim_missing() {
    let Setup { gw, app } = setup("get").await;
    for claim in ["email", "name", "jti"] {
        let mut claims = claims_of(&app.jwt(&json!({})).await);
        claims.as_object_mut().unwrap().remove(claim);
        let jwt = hs256(LEGACY_JWT_SECRET, &claims);
        assert_eq!(
            refused(&gw, "legacy", &jwt).await,
            "claim_missing",
            "{claim}"
        );
    }
    let empty = app.jwt(&json!({ "name": "" })).await;
    assert_eq!(refused(&gw, "legacy", &empty).await, "claim_invalid");
    // An app that marks an address unverified is believed.
    let unverified = app.jwt(&json!({ "email_verified": false })).await;
    assert_eq!(
        refused(&gw, "legacy", &unverified).await,
        "email_unverified"
    );
}

#[tokio::test]
async fn legacy_jwt_with_an_alg_other_than_hs256_is_refused_with_algorithm_not_allowed() {
    let Setup { gw, .. } = setup("get").await;
    let claims = json!({
        "iat": now(), "jti": "alg-test-1", "email": "ada@example.com", "name": "Ada"
    });
    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(LEGACY_JWT_SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        refused(&gw, "legacy", &hs512).await,
        "algorithm_not_allowed"
    );
    let none = raw_jwt(&json!({"alg": "none", "typ": "JWT"}), &claims, b"");
    assert_eq!(refused(&gw, "legacy", &none).await, "algorithm_not_allowed");
    let none_upper = raw_jwt(&json!({"alg": "None"}), &claims, b"sig");
    assert_eq!(
        refused(&gw, "legacy", &none_upper).await,
        "algorithm_not_allowed"
    );
    // The header says HS256 but the app's secret is not what signed it.
    let forged = raw_hs256_with_header(
        "forged-secret-0123456789abcdef0123",
        &json!({"alg": "HS256"}),
        &claims,
    );
    assert_eq!(refused(&gw, "legacy", &forged).await, "signature_invalid");
}

#[tokio::test]
async fn legacy_return_to_pointing_elsewhere_is_dropped_never_echoed() {
    let Setup { gw, app } = setup("get").await;
    for evil in [
        "https://evil.example.com/phish",
        "//evil.example.com/",
        "javascript:alert(1)",
        "https://acme.zendesk.com.evil.example.com/",
    ] {
        let jwt = app.jwt(&json!({})).await;
        let (status, page) = arrive(&gw, "legacy", &jwt, Some(evil)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let (_, fields) = parse_post_form(&page).expect("the form to Zendesk");
        assert_eq!(field(&fields, "return_to"), None, "{evil}");
        assert!(!page.contains("evil.example.com") && !page.contains("javascript:"));
    }
    let jwt = app.jwt(&json!({})).await;
    let (_, page) = arrive(&gw, "legacy", &jwt, Some("https://acme.zendesk.com/agent")).await;
    let (_, fields) = parse_post_form(&page).unwrap();
    assert_eq!(
        field(&fields, "return_to"),
        Some("https://acme.zendesk.com/agent")
    );
}

#[tokio::test]
async fn legacy_arrival_refuses_other_source_kinds_and_empty_requests() {
    let Setup { gw, app } = setup("get").await;
    let jwt = app.jwt(&json!({})).await;
    // A dev source takes no tokens at …/access/jwt; nor does an unknown one.
    assert_eq!(refused(&gw, "demo", &jwt).await, "source_unknown");
    assert_eq!(refused(&gw, "nobody", &jwt).await, "source_unknown");
    let (status, page) = arrive(&gw, "legacy", "", None).await;
    assert_ne!(status, StatusCode::OK, "{page}");
    assert_eq!(code(&page), "request_invalid");
    assert_eq!(refused(&gw, "legacy", "not.a.jwt").await, "token_malformed");
    // An unknown target.
    let r = gw
        .client
        .get(format!(
            "{}/sso/nowhere/from/legacy/access/jwt?jwt={jwt}",
            gw.url
        ))
        .send()
        .await
        .unwrap();
    let page = r.text().await.unwrap();
    assert_eq!(code(&page), "target_unknown");
    // The token was never used: it still signs in where it belongs.
    assert_eq!(arrive(&gw, "legacy", &jwt, None).await.0, StatusCode::OK);
}

/// A JWT made for Zendesk's browser SSO is not a bearer credential for
/// apps: the token endpoints route by `iss`, which a `zendesk_jwt` source
/// has none of.
#[tokio::test]
async fn legacy_jwt_is_not_a_bearer_credential_on_the_token_endpoints() {
    let Setup { gw, app } = setup("get").await;
    let jwt = app.jwt(&json!({})).await;
    let (status, body) = gw.sdk("mobile", &jwt).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error_code"], "issuer_unknown");
    let with_iss = app.jwt(&json!({ "iss": "" })).await;
    assert_eq!(
        gw.sdk("mobile", &with_iss).await.1["error_code"],
        "issuer_unknown"
    );
    // And still good, once, in the browser.
    assert_eq!(arrive(&gw, "legacy", &jwt, None).await.0, StatusCode::OK);
}

/// Two `zenbridge serve` processes behind one load balancer, sharing one
/// Redis: a legacy JWT used at one is refused at the other. Neither log
/// holds the token that came in a URL.
#[tokio::test]
async fn replayed_legacy_jti_is_refused_across_two_replicas_sharing_redis_and_never_logged() {
    let redis = start_redis().await;
    let app = start_legacy_app(LegacyOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let state = format!(
        "[state]\nbackend = \"redis\"\nredis_url = \"{}\"\n",
        redis.url
    );
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let port = free_port();
        let text = config(&app.url("/zendesk/sso"), &state)
            .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
            .replace("@URL@", &format!("http://127.0.0.1:{port}"));
        let file = dir.path().join(format!("z-{port}.toml"));
        std::fs::write(&file, text).unwrap();
        replicas.push(
            start_binary_logging(
                &["serve", "--config", file.to_str().unwrap()],
                port,
                dir.path(),
                "debug",
            )
            .await,
        );
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let jwt = app.jwt(&json!({ "email": "grace@example.com" })).await;
    let url = |r: &crate::common::Process| {
        let mut u = Url::parse(&format!("{}/access/jwt", base(&r.url, "legacy"))).unwrap();
        u.query_pairs_mut()
            .append_pair("jwt", &jwt)
            .append_pair("return_to", "/hc");
        u
    };
    let first = client.get(url(&replicas[0])).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let second = client.get(url(&replicas[1])).send().await.unwrap();
    let page = second.text().await.unwrap();
    assert_eq!(code(&page), "token_reused", "{page}");
    replicas[0].wait_for_log("browser sign-in finished").await;
    replicas[1].wait_for_log("token_reused").await;
    let sig = jwt.rsplit('.').next().unwrap();
    let payload = jwt.split('.').nth(1).unwrap();
    for r in &replicas {
        let log = r.log_text();
        // Start-up says what to write in the app.
        let write = format!("in the app, write {} where", base(&r.url, "legacy"));
        assert!(log.contains(&write), "{log}");
        for needle in [jwt.as_str(), sig, payload, "grace@example.com"] {
            assert!(!log.contains(needle), "the log holds {needle:?}:\n{log}");
        }
        assert!(!log.contains("jwt="), "no query is logged:\n{log}");
    }
}

/// A `zendesk_jwt` source's config: what `check` refuses, with the key
/// path, and what it warns about.
#[test]
fn zendesk_jwt_config_problems_name_their_keys() {
    let text = |source: &str, target_kind: &str| {
        format!(
            "[server]\npublic_url = \"https://sso.acme.com\"\ncookie_key = \"zendesk-jwt-test-cookie-key-0123456789abcdef\"\n\n[[source]]\nname = \"portal\"\nkind = \"zendesk_jwt\"\n{source}\n[[target]]\nname = \"t\"\nkind = \"{target_kind}\"\nsubdomain = \"acme\"\nsecret = \"{SSO_SECRET}\"\nsources = [\"portal\"]\n"
        )
    };
    let good = format!(
        "login_url = \"https://portal.acme.com/zendesk/sso\"\nsecret = \"{LEGACY_JWT_SECRET}\"\n"
    );
    let config =
        zenbridge::config::load_str(&text(&good, "sso"), None).unwrap_or_else(|p| panic!("{p}"));
    // Beyond the secrets written inline (this test's), nothing to warn about.
    assert!(
        config
            .warnings
            .iter()
            .all(|w| w.to_string().contains("secret written in the config file")),
        "{:?}",
        config.warnings
    );
    let cases = [
        (
            "secret = \"short-secret\"\nlogin_url = \"https://portal.acme.com/\"\n".to_owned(),
            "source[0].secret",
            "at least 32 bytes",
        ),
        (
            format!("secret = \"{LEGACY_JWT_SECRET}\"\n"),
            "source[0].login_url",
            "is required",
        ),
        (
            format!(
                "secret = \"{LEGACY_JWT_SECRET}\"\nlogin_url = \"http://portal.acme.com/sso\"\n"
            ),
            "source[0].login_url",
            "https",
        ),
        (
            "login_url = \"https://portal.acme.com/\"\n".to_owned(),
            "source[0].secret",
            "required",
        ),
        (
            format!("{good}algorithms = [\"HS512\"]\n"),
            "source[0].algorithms",
            "not a key of a source of kind zendesk_jwt",
        ),
        (
            format!("{good}issuer = \"https://portal.acme.com\"\n"),
            "source[0].issuer",
            "not a key of a source of kind zendesk_jwt",
        ),
        (
            format!("{good}leeway = \"10m\"\n"),
            "source[0].leeway",
            "at most 5m",
        ),
    ];
    for (source, key, says) in cases {
        let problems = zenbridge::config::load_str(&text(&source, "sso"), None)
            .err()
            .unwrap_or_else(|| panic!("accepted:\n{source}"))
            .to_string();
        let line = problems
            .lines()
            .find(|l| l.contains(key))
            .unwrap_or_else(|| panic!("no problem at {key}:\n{problems}"));
        assert!(line.contains(says), "{key}: {line}\n{problems}");
    }
    // Two legacy apps: neither has an issuer, and that is no clash.
    let two = text(&good, "sso").replace(
        "[[target]]",
        &format!("[[source]]\nname = \"other\"\nkind = \"zendesk_jwt\"\n{good}\n[[target]]"),
    );
    zenbridge::config::load_str(&two, None).unwrap_or_else(|p| panic!("{p}"));
    // An sdk target never takes such tokens: a warning.
    let sdk = text(&good, "sdk").replace("subdomain = \"acme\"\n", "");
    let config = zenbridge::config::load_str(&sdk, None).unwrap_or_else(|p| panic!("{p}"));
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.to_string().contains("never takes its tokens")),
        "{:?}",
        config.warnings
    );
}

/// Zendesk takes `return_to` as a form field or in the query of the
/// POST; so does zenbridge, the form winning. A body over
/// `max_body_bytes` is refused before anything is read into a token.
#[tokio::test]
async fn legacy_form_post_takes_return_to_from_the_query_or_the_form() {
    let Setup { gw, app } = setup("post").await;
    let action = format!(
        "{}/access/jwt?return_to=%2Fhc%2Fquery",
        base(&gw.url, "legacy")
    );
    let jwt = app.jwt(&json!({})).await;
    let posted = gw
        .client
        .post(&action)
        .form(&[("jwt", jwt.as_str())])
        .send()
        .await
        .unwrap();
    let (_, fields) = zendesk_form(posted).await;
    assert_eq!(field(&fields, "return_to"), Some("/hc/query"));
    let jwt = app.jwt(&json!({})).await;
    let posted = gw
        .client
        .post(&action)
        .form(&[("jwt", jwt.as_str()), ("return_to", "/hc/form")])
        .send()
        .await
        .unwrap();
    let (_, fields) = zendesk_form(posted).await;
    assert_eq!(field(&fields, "return_to"), Some("/hc/form"));
    let huge = "x".repeat(200_000);
    let r = gw
        .client
        .post(&action)
        .form(&[("jwt", huge.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(&r.text().await.unwrap()), "body_too_large");
}

/// `explain --token T --source S`: a legacy token has no `iss` to route
/// by, so the dry run is told its source; it uses up no `jti` and so signs
/// nothing. `--ignore-expiry` explains an old one as of its `iat`.
#[tokio::test]
async fn explain_takes_a_legacy_token_along_its_source_and_never_signs_it() {
    let app = start_legacy_app(LegacyOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("z.toml");
    let text = config(&app.url("/zendesk/sso"), "")
        .replace("@LISTEN@", "127.0.0.1:8080")
        .replace("@URL@", "http://127.0.0.1:8080");
    std::fs::write(&file, text).unwrap();
    let f = file.to_str().unwrap();
    let jwt = app.jwt(&json!({})).await;
    let args = [
        "explain",
        "--config",
        f,
        "--target",
        "helpcenter",
        "--token",
        &jwt,
    ];
    let (code, out, err) = run_binary(&args);
    assert_eq!(code, 1, "by iss, no source: {out}{err}");
    assert!(out.contains("issuer_unknown"), "{out}");
    let along = [&args[..], &["--source", "legacy"]].concat();
    let (code, out, err) = run_binary(&along);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("jti: present") && out.contains("legacy-ada"),
        "{out}"
    );
    let (code, _, err) = run_binary(&[&along[..], &["--sign"]].concat());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("never signed"), "{err}");
    // The dry run used up nothing: the token still signs in once.
    let gw = gateway(&config(&app.url("/zendesk/sso"), "")).await;
    assert_eq!(arrive(&gw, "legacy", &jwt, None).await.0, StatusCode::OK);
    let old = app.jwt(&json!({ "iat": now() - 3600 })).await;
    let old_args = [
        "explain",
        "--config",
        f,
        "--target",
        "helpcenter",
        "--token",
        &old,
        "--source",
        "legacy",
    ];
    let (code, out, _) = run_binary(&old_args);
    assert_eq!(code, 1);
    assert!(out.contains("token_expired"), "{out}");
    let (code, out, err) = run_binary(&[&old_args[..], &["--ignore-expiry"]].concat());
    assert_eq!(code, 0, "{out}{err}");
}
