//! Microsoft Entra ID multi-tenant sources against a loopback issuer shaped
//! like Entra's `common`/`organizations` endpoints (no real tenant: Entra
//! cannot be reached from the test machines). The templated issuer, the
//! `tid` check, `allowed_tenants`, v1 issuers, the nOAuth email rule and
//! `trust_upn_tenants`, on `/exchange` and through the browser sign-in.

use crate::common::{gateway, now, run_binary};
use crate::support::{Entra, assert_zendesk_ok, browser, follow, parse_post_form, start_entra};
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

/// Trusted for its UPNs.
const TENANT_A: &str = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490";
/// Allowed, UPNs not trusted.
const TENANT_B: &str = "0d5a3b5e-8c1f-4f3e-9b8e-2a6c1d7e9f00";
/// Not allowed: anyone's tenant.
const TENANT_EVIL: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT_ID: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
const WIDGET_SECRET: &str = "entra-messaging-secret-0123456789";
const HELPCENTER_SECRET: &str = "entra-helpcenter-secret-0123456789";
const ACCESS_URL: &str = "http://127.0.0.1:9/access/jwt";

fn config(entra: &Entra, allowed: &str) -> String {
    format!(
        r#"
[server]
listen = "@LISTEN@"
public_url = "@URL@"
cookie_key = "entra-test-cookie-key-0123456789abcdef"
rate_limit_per_minute = 0

[[source]]
name = "entra"
kind = "oidc"
label = "Work account"
issuer = "{template}"
discovery_url = "{discovery}"
v1_issuer = "{base}/sts/{{tenantid}}/"
client_id = "{CLIENT_ID}"
client_secret = "entra-test-client-secret"
allowed_tenants = {allowed}
trust_upn_tenants = ["{TENANT_A}"]
[source.claims]
email = "has(claims.upn) ? claims.upn : has(claims.email) ? claims.email : null"
external_id = "'entra|' + claims.tid + '|' + claims.oid"

[[target]]
name = "widget"
kind = "messaging"
key_id = "app_entra"
secret = "{WIDGET_SECRET}"
sources = ["entra"]

[[target]]
name = "helpcenter"
kind = "sso"
subdomain = "acme"
secret = "{HELPCENTER_SECRET}"
sources = ["entra"]
access_url = "{ACCESS_URL}"
"#,
        template = entra.issuer_template(),
        discovery = entra.discovery_url(),
        base = entra.base,
    )
}

/// An Entra v2 ID token's claims for a member of `tid`.
fn claims(entra: &Entra, tid: &str, extra: &Value) -> Value {
    let mut c = json!({
        "iss": entra.issuer(tid),
        "aud": CLIENT_ID,
        "tid": tid,
        "oid": "00000000-0000-0000-0000-00000000a11c",
        "sub": "pairwise-sub",
        "name": "Alice Example",
        "preferred_username": "alice@acme.com",
        "iat": now(),
        "nbf": now(),
        "exp": now() + 600,
        "ver": "2.0",
    });
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            c.insert(k.clone(), v.clone());
        }
    }
    c
}

fn refused_with(answer: &(StatusCode, Value), code: &str) {
    assert_eq!(answer.0, StatusCode::UNAUTHORIZED, "{}", answer.1);
    assert_eq!(answer.1["error_code"], code, "{}", answer.1);
}

#[tokio::test]
async fn entra_multi_tenant_tokens_of_allowed_tenants_mint_v2_and_v1() {
    let entra = start_entra().await;
    let gw = gateway(&config(&entra, &format!(r#"["{TENANT_A}", "{TENANT_B}"]"#))).await;
    let upn = json!({ "upn": "alice@acme.com" });

    let v2 = entra.sign(&claims(&entra, TENANT_A, &upn)).await;
    let (status, body) = gw.exchange("widget", &v2).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let payload = assert_zendesk_ok(
        body["jwt"].as_str().unwrap(),
        WIDGET_SECRET,
        "messaging",
        Some("app_entra"),
    );
    assert_eq!(payload["email"], "alice@acme.com");
    // The UPN of a trusted tenant is a verified address for Zendesk.
    assert_eq!(payload["email_verified"], true);
    assert_eq!(
        payload["external_id"],
        format!("entra|{TENANT_A}|00000000-0000-0000-0000-00000000a11c")
    );

    // The v1 issuer of the same tenant.
    let mut v1 = claims(&entra, TENANT_A, &upn);
    v1["iss"] = json!(entra.v1_issuer(TENANT_A));
    v1["ver"] = json!("1.0");
    let (status, body) = gw.exchange("widget", &entra.sign(&v1).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Another allowed tenant, no email at all: a name-only sign-in works.
    let bare = entra.sign(&claims(&entra, TENANT_B, &json!({}))).await;
    let (status, body) = gw.exchange("widget", &bare).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn entra_tenant_not_allowed_attack_is_refused() {
    let entra = start_entra().await;
    let gw = gateway(&config(&entra, &format!(r#"["{TENANT_A}"]"#))).await;
    // A stranger's own tenant: a valid signature from Entra's shared keys,
    // issuer and tid in agreement.
    let token = entra
        .sign(&claims(
            &entra,
            TENANT_EVIL,
            &json!({ "upn": "alice@acme.com" }),
        ))
        .await;
    let answer = gw.exchange("widget", &token).await;
    refused_with(&answer, "tenant_not_allowed");
    assert!(
        answer.1["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains(TENANT_EVIL),
        "{}",
        answer.1
    );
}

#[tokio::test]
async fn entra_issuer_tid_mismatch_attack_is_refused() {
    let entra = start_entra().await;
    let gw = gateway(&config(&entra, &format!(r#"["{TENANT_A}"]"#))).await;
    // Issued in the stranger's tenant, claiming an allowed tenant's issuer.
    let mut c = claims(&entra, TENANT_EVIL, &json!({ "upn": "alice@acme.com" }));
    c["iss"] = json!(entra.issuer(TENANT_A));
    refused_with(
        &gw.exchange("widget", &entra.sign(&c).await).await,
        "claim_invalid",
    );
    // And the other way round.
    let mut c = claims(&entra, TENANT_A, &json!({}));
    c["iss"] = json!(entra.issuer(TENANT_EVIL));
    refused_with(
        &gw.exchange("widget", &entra.sign(&c).await).await,
        "claim_invalid",
    );
    // No tid at all.
    let mut c = claims(&entra, TENANT_A, &json!({}));
    c.as_object_mut().unwrap().remove("tid");
    refused_with(
        &gw.exchange("widget", &entra.sign(&c).await).await,
        "claim_missing",
    );
    // The template itself, or a tenant alias, is not an issuer.
    for iss in [
        entra.issuer_template(),
        format!("{}/common/v2.0", entra.base),
        format!("{}/{}/v2.0", entra.base, TENANT_A.to_uppercase()),
    ] {
        let mut c = claims(&entra, TENANT_A, &json!({}));
        c["iss"] = json!(iss);
        refused_with(
            &gw.exchange("widget", &entra.sign(&c).await).await,
            "issuer_unknown",
        );
    }
}

/// nOAuth: an admin of any tenant can set a user's `mail` to the victim's
/// address; Entra's `email` claim is that attribute, never verified.
#[tokio::test]
async fn entra_noauth_email_attack_is_refused() {
    let entra = start_entra().await;
    let gw = gateway(&config(&entra, &format!(r#"["{TENANT_A}", "{TENANT_B}"]"#))).await;
    let victim = json!({ "email": "ceo@acme.com" });
    // An allowed tenant whose UPNs are not trusted: its email is not either.
    let token = entra.sign(&claims(&entra, TENANT_B, &victim)).await;
    refused_with(&gw.exchange("widget", &token).await, "email_unverified");
    // Even a trusted tenant's `email` claim counts for nothing.
    let token = entra.sign(&claims(&entra, TENANT_A, &victim)).await;
    refused_with(&gw.exchange("widget", &token).await, "email_unverified");
    // A UPN claim from an untrusted tenant neither.
    let token = entra
        .sign(&claims(&entra, TENANT_B, &json!({ "upn": "ceo@acme.com" })))
        .await;
    refused_with(&gw.exchange("widget", &token).await, "email_unverified");
    // A guest's UPN in a trusted tenant names someone of another tenant.
    let guest =
        json!({ "upn": "ceo_acme.com#EXT#@contoso.onmicrosoft.com", "email": "ceo@acme.com" });
    let token = entra.sign(&claims(&entra, TENANT_A, &guest)).await;
    refused_with(&gw.exchange("widget", &token).await, "email_unverified");
}

#[tokio::test]
async fn entra_browser_sign_in_through_organizations_checks_the_tenant() {
    let entra = start_entra().await;
    let gw = gateway(&config(&entra, &format!(r#"["{TENANT_A}"]"#))).await;
    let start = Url::parse(&format!("{}/sso/helpcenter/login?return_to=%2Fhc", gw.url)).unwrap();

    entra
        .set_user(&json!({
            "tid": TENANT_A,
            "oid": "00000000-0000-0000-0000-00000000a11c",
            "name": "Alice Example",
            "upn": "alice@acme.com",
        }))
        .await;
    let c = browser();
    let (callback, _) = follow(&c, start.clone(), |u| u.path() == "/callback")
        .await
        .expect("Entra sends the browser back to /callback");
    let page = c.get(callback).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let (action, fields) = parse_post_form(&page.text().await.unwrap()).expect("a form to Zendesk");
    assert_eq!(action, ACCESS_URL);
    let jwt = fields
        .iter()
        .find(|(k, _)| k == "jwt")
        .map(|(_, v)| v.clone())
        .unwrap();
    let payload = assert_zendesk_ok(&jwt, HELPCENTER_SECRET, "sso", None);
    assert_eq!(payload["email"], "alice@acme.com");

    // Someone of a tenant that is not allowed gets the error page.
    entra
        .set_user(
            &json!({ "tid": TENANT_EVIL, "oid": "e", "name": "Eve", "upn": "alice@acme.com" }),
        )
        .await;
    let c = browser();
    let (callback, _) = follow(&c, start, |u| u.path() == "/callback")
        .await
        .expect("back to /callback");
    let page = c.get(callback).send().await.unwrap();
    assert!(page.status().is_client_error(), "{}", page.status());
    let body = page.text().await.unwrap();
    assert!(body.contains("tenant_not_allowed"), "{body}");
    assert!(
        parse_post_form(&body).is_none(),
        "no form to Zendesk: {body}"
    );
}

#[test]
fn entra_config_needs_allowed_tenants_and_warns_about_every_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, allowed: Option<&str>| {
        let path = dir.path().join(name);
        let allowed = allowed
            .map(|a| format!("allowed_tenants = {a}"))
            .unwrap_or_default();
        std::fs::write(
            &path,
            format!(
                r#"
[server]
public_url = "https://sso.acme.com"
cookie_key = "entra-test-cookie-key-0123456789abcdef"

[[source]]
name = "entra"
kind = "oidc"
issuer = "https://login.microsoftonline.com/{{tenantid}}/v2.0"
discovery_url = "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration"
client_id = "{CLIENT_ID}"
{allowed}
[source.claims]
external_id = "'entra|' + claims.tid + '|' + claims.oid"

[[target]]
name = "widget"
kind = "messaging"
key_id = "app_entra"
secret = "{WIDGET_SECRET}"
sources = ["entra"]
"#
            ),
        )
        .unwrap();
        path.to_string_lossy().into_owned()
    };
    let (code, out, err) = run_binary(&["check", "--config", &write("none.toml", None)]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("source[0].allowed_tenants"),
        "{out}{err}"
    );
    let (code, out, err) = run_binary(&[
        "check",
        "--config",
        &write("bad.toml", Some(r#"["acme.com"]"#)),
    ]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("must be a tenant id"),
        "{out}{err}"
    );
    let (code, out, err) =
        run_binary(&["check", "--config", &write("every.toml", Some(r#"["*"]"#))]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("every Entra tenant's users may sign in"),
        "{out}{err}"
    );
    let (code, out, err) = run_binary(&[
        "check",
        "--config",
        &write("listed.toml", Some(&format!(r#"["{TENANT_A}"]"#))),
    ]);
    assert_eq!(code, 0, "{out}{err}");
}
