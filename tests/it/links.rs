//! Identity links (`[target.link]`, `state.links_url`) against real
//! databases — SQLite files and a throwaway PostgreSQL server — with two
//! sources of one target (the reference OP and a legacy app's HS256 JWTs)
//! and a Zendesk user directory that refuses a second `external_id` for a
//! known email, as Zendesk does: without links the person's second source
//! fails at Zendesk; with links it signs them in as the same user.

use std::sync::Arc;

use crate::common::{Gateway, gateway, hs256, now, run_binary};
use crate::support::{Op, ZendeskUsers, assert_zendesk_ok, shared_op, start_postgres};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SECRET: &str = "links-messaging-secret-0123456789";
const LEGACY_SECRET: &str = "links-legacy-hs256-secret-0123456789abcdef";
const LEGACY_ISSUER: &str = "https://portal.acme.test";
const CLIENT: &str = "links-client";

/// A messaging target fed by the OP (new tenant) and the legacy portal,
/// each with its own `external_id` namespace; `link` is the target's
/// `[target.link]` table (empty: links off), `links_url` the store.
fn config(op: &str, links_url: Option<&str>, link: &str, legacy_extra: &str) -> String {
    let state = links_url
        .map(|u| format!("[state]\nlinks_url = \"{u}\"\n"))
        .unwrap_or_default();
    format!(
        r#"
[server]
listen = "@LISTEN@"
public_url = "@URL@"
cookie_key = "links-test-cookie-key-0123456789abcdef"
rate_limit_per_minute = 0
{state}
[[source]]
name = "tenant"
kind = "oidc"
issuer = "{op}"
client_id = "{CLIENT}"
[source.claims]
external_id = "'tenant|' + claims.sub"

[[source]]
name = "portal"
kind = "jwt"
issuer = "{LEGACY_ISSUER}"
audiences = ["zenbridge"]
secret = "{LEGACY_SECRET}"
{legacy_extra}
[source.claims]
external_id = "'portal|' + claims.sub"

[[target]]
name = "widget"
kind = "messaging"
key_id = "app_links"
secret = "{SECRET}"
sources = ["tenant", "portal"]
{link}
"#
    )
}

async fn tenant_token(op: &Op, sub: &str, email: &str) -> String {
    op.id_token_for(
        CLIENT,
        &json!({ "sub": sub, "email": email, "email_verified": true, "name": "Ada" }),
        &json!({}),
    )
    .await
}

fn portal_token(sub: &str, email: &str, extra: &Value) -> String {
    let mut claims = json!({
        "iss": LEGACY_ISSUER, "aud": "zenbridge", "sub": sub, "email": email,
        "name": "Ada", "iat": now(), "exp": now() + 600,
    });
    if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    hs256(LEGACY_SECRET, &claims)
}

/// Exchanges `token` and signs in at the Zendesk directory: the Zendesk
/// user, or why Zendesk (or zenbridge, with its code) refused.
async fn sign_in(
    gw: &Gateway,
    users: &mut ZendeskUsers,
    token: &str,
) -> Result<(usize, String), String> {
    let (status, body) = gw.exchange("widget", token).await;
    if status != StatusCode::OK {
        return Err(format!("zenbridge {status} {}", body["error_code"]));
    }
    let payload = assert_zendesk_ok(
        body["jwt"].as_str().unwrap(),
        SECRET,
        "messaging",
        Some("app_links"),
    );
    let ext = payload["external_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    users.sign_in(&payload).map(|u| (u, ext))
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite:{}", dir.path().join("links.db").display())
}

#[tokio::test]
async fn without_links_a_persons_second_source_is_refused_by_zendesk() {
    let op = shared_op().await;
    let gw = gateway(&config(&op.issuer, None, "", "")).await;
    let mut zendesk = ZendeskUsers::default();
    let first = sign_in(
        &gw,
        &mut zendesk,
        &portal_token("p-17", "ada@acme.test", &json!({})),
    )
    .await;
    assert_eq!(first, Ok((0, "portal|p-17".into())));
    let second = sign_in(
        &gw,
        &mut zendesk,
        &tenant_token(&op, "t-99", "Ada@acme.test").await,
    )
    .await;
    assert_eq!(second, Err("External has already been taken".into()));
}

async fn second_source_signs_in_as_the_same_user(links_url: &str) {
    let op = shared_op().await;
    let gw = gateway(&config(&op.issuer, Some(links_url), "[target.link]", "")).await;
    let mut zendesk = ZendeskUsers::default();
    let first = sign_in(
        &gw,
        &mut zendesk,
        &portal_token("p-17", "ada@acme.test", &json!({})),
    )
    .await;
    assert_eq!(first, Ok((0, "portal|p-17".into())));
    // The new tenant maps its own id; the link sends the first one again.
    let second = sign_in(
        &gw,
        &mut zendesk,
        &tenant_token(&op, "t-99", "Ada@acme.test").await,
    )
    .await;
    assert_eq!(second, Ok((0, "portal|p-17".into())));
    // And again, from the legacy portal.
    let third = sign_in(
        &gw,
        &mut zendesk,
        &portal_token("p-17", "ada@acme.test", &json!({})),
    )
    .await;
    assert_eq!(third, Ok((0, "portal|p-17".into())));
    // Someone else is someone else.
    let other = sign_in(
        &gw,
        &mut zendesk,
        &tenant_token(&op, "t-5", "grace@acme.test").await,
    )
    .await;
    assert_eq!(other, Ok((1, "tenant|t-5".into())));
    // The link records its first and last source.
    let links = gw.state.runtime().links.clone().expect("a link store");
    let l = links
        .find("widget", "ada@acme.test")
        .await
        .unwrap()
        .expect("Ada's link");
    assert_eq!(
        (l.source.as_str(), l.last_source.as_str()),
        ("portal", "portal")
    );
    assert!(l.first_used <= l.last_used);
}

#[tokio::test]
async fn with_links_a_persons_second_source_signs_in_as_the_same_zendesk_user_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    second_source_signs_in_as_the_same_user(&sqlite_url(&dir)).await;
}

#[tokio::test]
async fn with_links_a_persons_second_source_signs_in_as_the_same_zendesk_user_postgres() {
    let pg = start_postgres().await;
    second_source_signs_in_as_the_same_user(&pg.url).await;
}

/// An address nobody proved they own must not pick up the victim's
/// Zendesk identity through the link.
#[tokio::test]
async fn unverified_email_never_links_attack() {
    let op = shared_op().await;
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    // The portal is trusted with unverified emails (check warns), so the
    // trust model lets them through, unvouched.
    let cfg = config(
        &op.issuer,
        Some(&url),
        "[target.link]",
        "trust_unverified_email = true",
    );
    let gw = gateway(&cfg).await;
    let mut zendesk = ZendeskUsers::default();
    let victim = sign_in(
        &gw,
        &mut zendesk,
        &tenant_token(&op, "t-ceo", "ceo@acme.test").await,
    )
    .await;
    assert_eq!(victim, Ok((0, "tenant|t-ceo".into())));
    let forged = portal_token(
        "p-evil",
        "ceo@acme.test",
        &json!({ "email_verified": false }),
    );
    let (status, body) = gw.exchange("widget", &forged).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let payload = assert_zendesk_ok(
        body["jwt"].as_str().unwrap(),
        SECRET,
        "messaging",
        Some("app_links"),
    );
    // Not the victim's linked id: the portal's own, which Zendesk refuses.
    assert_eq!(payload["external_id"], "portal|p-evil");
    assert_ne!(payload["email_verified"], true);
    assert!(zendesk.sign_in(&payload).is_err());
    let links = gw.state.runtime().links.clone().unwrap();
    assert_eq!(links.list(Some("widget")).await.unwrap().len(), 1);
}

#[tokio::test]
async fn link_conflict_is_refused_never_resolved_silently() {
    let op = shared_op().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&config(
        &op.issuer,
        Some(&sqlite_url(&dir)),
        "[target.link]",
        "",
    ))
    .await;
    let mut zendesk = ZendeskUsers::default();
    sign_in(
        &gw,
        &mut zendesk,
        &portal_token("p-17", "ada@acme.test", &json!({})),
    )
    .await
    .unwrap();
    sign_in(
        &gw,
        &mut zendesk,
        &tenant_token(&op, "t-5", "grace@acme.test").await,
    )
    .await
    .unwrap();
    // The portal now says p-17 is grace@: p-17's link is Ada's.
    let (status, body) = gw
        .exchange(
            "widget",
            &portal_token("p-17", "grace@acme.test", &json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error_code"], "link_conflict", "{body}");
    // A new address for p-17: its id is Ada's, the key is new: refused too.
    let (status, body) = gw
        .exchange(
            "widget",
            &portal_token("p-17", "ada.new@acme.test", &json!({})),
        )
        .await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("link_conflict"))
    );
}

#[tokio::test]
async fn link_store_down_refuses_with_upstream_unavailable_and_mints_nothing() {
    let op = shared_op().await;
    let mut pg = start_postgres().await;
    let gw = gateway(&config(&op.issuer, Some(&pg.url), "[target.link]", "")).await;
    let token = tenant_token(&op, "t-1", "ada@acme.test").await;
    let (status, body) = gw.exchange("widget", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    pg.stop().await;
    let (status, body) = gw.exchange("widget", &token).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error_code"], "upstream_unavailable", "{body}");
    assert!(body.get("jwt").is_none());
    // The database's own words stay in the log.
    let text = body.to_string();
    assert!(
        !text.contains("127.0.0.1") && !text.contains("postgres"),
        "{text}"
    );
    // Readiness says so, without the database's words.
    let ready = gw
        .client
        .get(format!("{}/readyz", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["not_ready"][0]["state"], "links", "{ready}");
}

/// Two replicas sign the same person in at once, each through another
/// source: one link, one id, whichever wins.
#[tokio::test]
async fn concurrent_first_sign_ins_on_two_replicas_make_one_link() {
    let op = shared_op().await;
    let pg = start_postgres().await;
    let cfg = config(&op.issuer, Some(&pg.url), "[target.link]", "");
    let (a, b) = (Arc::new(gateway(&cfg).await), Arc::new(gateway(&cfg).await));
    for round in 0..8 {
        let email = format!("person{round}@acme.test");
        let from_tenant = tenant_token(&op, &format!("t-{round}"), &email).await;
        let from_portal = portal_token(&format!("p-{round}"), &email, &json!({}));
        let (ra, rb) = tokio::join!(
            a.exchange("widget", &from_tenant),
            b.exchange("widget", &from_portal)
        );
        let ids: Vec<String> = [ra, rb]
            .iter()
            .map(|(status, body)| {
                assert_eq!(*status, StatusCode::OK, "{body}");
                let p = assert_zendesk_ok(
                    body["jwt"].as_str().unwrap(),
                    SECRET,
                    "messaging",
                    Some("app_links"),
                );
                p["external_id"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(ids[0], ids[1], "round {round}: two ids for one person");
    }
    let links = a.state.runtime().links.clone().unwrap();
    assert_eq!(links.list(Some("widget")).await.unwrap().len(), 8);
}

#[tokio::test]
async fn a_link_key_expression_links_on_a_verified_claim_other_than_email() {
    let op = shared_op().await;
    let dir = tempfile::tempdir().unwrap();
    let link =
        "[target.link]\nkey = \"has(claims.employee_id) ? string(claims.employee_id) : null\"";
    let gw = gateway(&config(&op.issuer, Some(&sqlite_url(&dir)), link, "")).await;
    let mut zendesk = ZendeskUsers::default();
    let a = portal_token("p-1", "ada@old.test", &json!({ "employee_id": 4711 }));
    assert_eq!(
        sign_in(&gw, &mut zendesk, &a).await,
        Ok((0, "portal|p-1".into()))
    );
    // Same employee, another address and source: the same user.
    let b = op
        .id_token_for(
            CLIENT,
            &json!({ "sub": "t-1", "email": "ada@old.test", "email_verified": true, "employee_id": "4711" }),
            &json!({}),
        )
        .await;
    assert_eq!(
        sign_in(&gw, &mut zendesk, &b).await,
        Ok((0, "portal|p-1".into()))
    );
    // No employee id: no link, the mapped id.
    let c = tenant_token(&op, "t-2", "grace@acme.test").await;
    assert_eq!(
        sign_in(&gw, &mut zendesk, &c).await,
        Ok((1, "tenant|t-2".into()))
    );
}

#[test]
fn links_without_a_store_is_a_config_error() {
    let text = config("https://op.acme.test", None, "[target.link]", "")
        .replace("@LISTEN@", "127.0.0.1:0")
        .replace("@URL@", "http://127.0.0.1:8080");
    let problems = zenbridge::config::load_str(&text, None).expect_err("no store");
    assert!(
        problems.to_string().contains("target[0].link"),
        "{problems}"
    );
    assert!(
        problems.to_string().contains("state.links_url"),
        "{problems}"
    );
    let bad = config(
        "https://op.acme.test",
        Some("mysql://x"),
        "[target.link]",
        "",
    )
    .replace("@LISTEN@", "127.0.0.1:0")
    .replace("@URL@", "http://127.0.0.1:8080");
    let problems = zenbridge::config::load_str(&bad, None).expect_err("bad URL");
    assert!(
        problems.to_string().contains("state.links_url"),
        "{problems}"
    );
    // A key on the raw email claim works, and is warned about.
    let on_email = config(
        "https://op.acme.test",
        Some("sqlite:/tmp/never-opened.db"),
        "[target.link]\nkey = \"claims.email\"",
        "",
    )
    .replace("@LISTEN@", "127.0.0.1:0")
    .replace("@URL@", "http://127.0.0.1:8080");
    let cfg = zenbridge::config::load_str(&on_email, None).expect("valid");
    assert!(
        cfg.warnings
            .iter()
            .any(|w| w.path == "target[0].link.key" && w.message.contains("does not vouch for")),
        "{:?}",
        cfg.warnings
    );
}

/// `zenbridge links …` on a SQLite store: a Zendesk user export imported
/// whole or not at all, then list, show, set, delete, export.
#[test]
fn links_cli_imports_a_zendesk_export_all_or_nothing_and_manages_links() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let cfg_path = dir.path().join("zenbridge.toml");
    let text = config("https://op.acme.test", Some(&url), "[target.link]", "")
        .replace("@LISTEN@", "127.0.0.1:0")
        .replace("@URL@", "http://127.0.0.1:8080");
    std::fs::write(&cfg_path, text).unwrap();
    let cfg = cfg_path.to_str().unwrap();
    let links = |args: &[&str]| {
        let mut all = vec!["links", "--config", cfg];
        all.extend_from_slice(args);
        run_binary(&all)
    };
    let (code, out, err) = links(&["migrate"]);
    assert_eq!(code, 0, "{out}{err}");

    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "id,name,email,external_id\n1,Ada,ada@acme.test,portal|p-17\n2,Bob,bob@acme.test,portal|p-17\n3,Eve,not-an-email,x\n",
    )
    .unwrap();
    let (code, out, err) = links(&["import", "--target", "widget", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("line 3") && err.contains("line 4") && err.contains("nothing was imported"),
        "{err}"
    );
    let (_, out, _) = links(&["list", "--json"]);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), json!([]));

    let good = dir.path().join("users.csv");
    std::fs::write(
        &good,
        "id,name,email,external_id\n1,Ada,Ada@acme.test,portal|p-17\n2,Grace,grace@acme.test,\n3,\"Hopper, G.\",g2@acme.test,portal|p-2\n",
    )
    .unwrap();
    let (code, out, err) = links(&["import", "--target", "widget", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("imported 2 links"), "{out}");
    let (code, out, _) = links(&["show", "--target", "widget", "ada@acme.test"]);
    assert_eq!(code, 0);
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (shown["external_id"].as_str(), shown["source"].as_str()),
        (Some("portal|p-17"), Some("import"))
    );

    // set: a key to another id; refused when the id is someone else's.
    let (code, _, err) = links(&["set", "--target", "widget", "ada@acme.test", "portal|p-2"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = links(&["set", "--target", "widget", "ada@acme.test", "portal|p-99"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, _) = links(&["delete", "--target", "widget", "g2@acme.test"]);
    assert_eq!(code, 0);
    let (code, _, _) = links(&["delete", "--target", "widget", "g2@acme.test"]);
    assert_eq!(code, 1);
    let (code, out, _) = links(&["export"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("target,key,external_id"), "{out}");
    assert!(
        lines[1].starts_with("widget,ada@acme.test,portal|p-99,import"),
        "{out}"
    );
    // The export is an import file.
    let again = dir.path().join("export.csv");
    std::fs::write(&again, &out).unwrap();
    let (code, out, err) = links(&["import", "--target", "widget", again.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("imported 0 links") && out.contains("1 already there"),
        "{out}"
    );
    // An unknown target.
    let (code, _, err) = links(&["list", "--target", "nope"]);
    assert_eq!(code, 2, "{err}");
}

/// `explain` shows which link a sign-in would use, and records nothing.
#[tokio::test]
async fn explain_shows_the_link_and_records_nothing() {
    let op = shared_op().await;
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let text = config(&op.issuer, Some(&url), "[target.link]", "");
    let gw = gateway(&text).await;
    let mut zendesk = ZendeskUsers::default();
    let portal = portal_token("p-17", "ada@acme.test", &json!({}));
    sign_in(&gw, &mut zendesk, &portal).await.unwrap();

    let cfg_path = dir.path().join("zenbridge.toml");
    let file = text
        .replace("@LISTEN@", "127.0.0.1:0")
        .replace("@URL@", "http://127.0.0.1:8080");
    std::fs::write(&cfg_path, file).unwrap();
    let cfg = cfg_path.to_str().unwrap();
    let explain = |token: &str| {
        run_binary(&[
            "explain", "--config", cfg, "--target", "widget", "--token", token, "--json",
        ])
    };
    let (code, out, err) = explain(&tenant_token(&op, "t-99", "ada@acme.test").await);
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let link = report["link"].as_str().unwrap_or_default();
    assert!(
        link.contains("link found") && link.contains("portal|p-17"),
        "{report}"
    );
    assert_eq!(report["payload"]["external_id"], "portal|p-17");
    // Someone new: no link yet, and explaining them made none.
    let (code, out, err) = explain(&tenant_token(&op, "t-5", "grace@acme.test").await);
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert!(
        report["link"]
            .as_str()
            .unwrap_or_default()
            .starts_with("no link yet"),
        "{report}"
    );
    let links = gw.state.runtime().links.clone().unwrap();
    assert_eq!(links.list(None).await.unwrap().len(), 1);
}

fn migration_config(op: &str, app_login: &str, links_url: Option<&str>) -> String {
    let state = links_url
        .map(|u| format!("[state]\nlinks_url = \"{u}\"\n"))
        .unwrap_or_default();
    let link = if links_url.is_some() {
        "[target.link]\n"
    } else {
        ""
    };
    format!(
        r#"
[server]
listen = "@LISTEN@"
public_url = "@URL@"
cookie_key = "links-test-cookie-key-0123456789abcdef"
rate_limit_per_minute = 0
{state}
[[source]]
name = "tenant"
kind = "oidc"
issuer = "{op}"
client_id = "zenbridge"
client_secret = "zenbridge-test-secret"
[source.claims]
external_id = "'tenant|' + claims.sub"

[[source]]
name = "portal"
kind = "zendesk_jwt"
login_url = "{app_login}"
secret = "{legacy}"

[[target]]
name = "helpcenter"
kind = "sso"
secret = "{SECRET}"
sources = ["tenant", "portal"]
access_url = "http://127.0.0.1:9/access/jwt"
{link}"#,
        legacy = crate::support::LEGACY_JWT_SECRET,
    )
}

/// The JWT a sign-in page POSTs to Zendesk.
fn posted_jwt(page: &str) -> String {
    let (_, fields) = crate::support::parse_post_form(page).unwrap_or_else(|| panic!("{page}"));
    fields
        .into_iter()
        .find_map(|(k, v)| (k == "jwt").then_some(v))
        .unwrap_or_else(|| panic!("no jwt field: {page}"))
}

/// The legacy app (its own Zendesk JWT, `zendesk_jwt`) and the reference
/// OP (the new tenant, through the browser) as two sources of one target,
/// with Zendesk's user rules: without links Ada's second source is refused
/// by Zendesk; with links both sign her in as the same user.
async fn portal_then_tenant(links_url: Option<&str>) -> Result<(usize, String), String> {
    let op = crate::support::start_op_with(crate::support::OpOptions {
        accounts: Some(json!({ "ada@example.com": {
            "sub": "ada-tenant", "email": "ada@example.com", "email_verified": true, "name": "Ada Lovelace"
        }})),
        ..crate::support::OpOptions::default()
    })
    .await;
    let app = crate::support::start_legacy_app(crate::support::LegacyOptions::default()).await;
    let gw = gateway(&migration_config(
        &op.issuer,
        &app.url("/zendesk/sso"),
        links_url,
    ))
    .await;
    let mut zendesk = ZendeskUsers::default();
    // Ada, from the portal's own "Help center" link (unsolicited).
    let page = gw
        .client
        .post(format!("{}/sso/helpcenter/from/portal/access/jwt", gw.url))
        .form(&[
            (
                "jwt",
                app.jwt(&json!({ "email": "ada@example.com" }))
                    .await
                    .as_str(),
            ),
            ("return_to", "/hc"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let first = assert_zendesk_ok(&posted_jwt(&page), SECRET, "sso", None);
    assert_eq!(first["external_id"], "legacy-ada");
    assert_eq!(zendesk.sign_in(&first), Ok(0));
    // Ada, with her new account, through the browser and the OP.
    let b = crate::support::browser();
    let start = url::Url::parse(&format!(
        "{}/sso/helpcenter/login/tenant?login_hint=ada%40example.com",
        gw.url
    ))
    .unwrap();
    let (callback, _) = crate::support::follow(&b, start, |u| u.path() == "/callback")
        .await
        .expect("the OP sends the browser back");
    let page = b.get(callback).send().await.unwrap().text().await.unwrap();
    let second = assert_zendesk_ok(&posted_jwt(&page), SECRET, "sso", None);
    let ext = second["external_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    zendesk.sign_in(&second).map(|u| (u, ext))
}

#[tokio::test]
async fn legacy_app_and_new_tenant_without_links_split_at_zendesk() {
    assert_eq!(
        portal_then_tenant(None).await,
        Err("External has already been taken".into())
    );
}

#[tokio::test]
async fn legacy_app_and_new_tenant_with_links_are_one_zendesk_user() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        portal_then_tenant(Some(&sqlite_url(&dir))).await,
        Ok((0, "legacy-ada".into()))
    );
}
