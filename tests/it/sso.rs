//! Browser sign-in (`/sso/{target}/…`, `/callback`, `/sandbox/…`) against
//! real peers: the reference OpenID Provider through its real redirects,
//! cookies and code exchange, a cookie-keeping client that follows no
//! redirect by itself, and the independent Node checker of the minted
//! Zendesk tokens. Every bad input of the sign-in has a test here.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::support::{Op, assert_zendesk_ok, decode_jwt, follow, parse_post_form, shared_op};
use reqwest::StatusCode;
use reqwest::cookie::CookieStore as _;
use serde_json::{Value, json};
use url::Url;

const COOKIE_KEY: &str = "sso-test-cookie-key-0123456789abcdef0123";
const HELPCENTER_SECRET: &str = "helpcenter-sso-secret-0123456789";
const SANDBOX_SECRET: &str = "sandbox-sso-secret-0123456789";
const ACCESS_URL: &str = "http://127.0.0.1:9/access/jwt";
const AFTER_LOGOUT: &str = "https://www.acme.com/#/signed-out";

fn config(op: &str, discovery: Option<&str>) -> String {
    let discovery = discovery
        .map(|d| format!("discovery_url = \"{d}\""))
        .unwrap_or_default();
    format!(
        r#"
[server]
listen = "@LISTEN@"
public_url = "@URL@"
cookie_key = "{COOKIE_KEY}"
rate_limit_per_minute = 0

[[source]]
name = "op"
kind = "oidc"
label = "Acme staff"
issuer = "{op}"
{discovery}
client_id = "zenbridge"
client_secret = "zenbridge-test-secret"
scopes = ["openid", "email", "profile", "groups"]
domains = ["acme.com"]
[source.claims]
external_id = "'op|' + claims.sub"

[[source]]
name = "dev"
kind = "dev"
label = "Demo directory"
domains = ["example.com"]
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
secret = "{HELPCENTER_SECRET}"
sources = ["op", "dev"]
return_to_hosts = ["support.acme.com"]
after_logout_url = "{AFTER_LOGOUT}"
access_url = "{ACCESS_URL}"

[[target]]
name = "sandboxed"
kind = "sso"
sandbox = true
secret = "{SANDBOX_SECRET}"
sources = ["dev", "op"]
upstream_logout = true
after_logout_url = "http://127.0.0.1/logged-out"

[[target]]
name = "mobile"
kind = "sdk"
secret = "mobile-sdk-secret-0123456789"
sources = ["op"]
"#
    )
}

struct Gateway {
    url: String,
    state: zenbridge::AppState,
}

/// The gateway in-process on a loopback socket, `@URL@` and `@LISTEN@`
/// replaced by its own address.
async fn gateway(config: &str) -> Gateway {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    serve(
        listener,
        &config.replace("@URL@", &format!("http://{addr}")),
        addr,
    )
    .await
}

/// The gateway on `listener` with a config whose `public_url` may be
/// another replica's.
async fn serve(listener: tokio::net::TcpListener, config: &str, addr: SocketAddr) -> Gateway {
    let text = config.replace("@LISTEN@", &addr.to_string());
    let cfg = zenbridge::config::load_str(&text, None)
        .unwrap_or_else(|p| panic!("test config invalid:\n{p}"));
    let state = zenbridge::build_state(cfg).await.expect("state");
    let app = zenbridge::app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Gateway {
        url: format!("http://{addr}"),
        state,
    }
}

impl Gateway {
    fn at(&self, path: &str) -> Url {
        Url::parse(&format!("{}{path}", self.url)).unwrap()
    }
}

/// A browser-like client: cookies kept in `jar`, no redirect followed.
pub(crate) fn client() -> (reqwest::Client, Arc<reqwest::cookie::Jar>) {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let c = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .unwrap();
    (c, jar)
}

/// A client without cookies or redirects.
fn bare() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: String,
}

pub(crate) async fn answer(resp: reqwest::Response) -> Answer {
    Answer {
        status: resp.status(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap(),
    }
}

impl Answer {
    pub(crate) fn location(&self) -> String {
        self.headers[reqwest::header::LOCATION]
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// The `error_code` a refusal page shows.
    pub(crate) fn error_code(&self) -> Option<String> {
        let start = self.body.find("id=\"error-code\">")? + "id=\"error-code\">".len();
        let end = self.body[start..].find('<')?;
        Some(self.body[start..start + end].to_owned())
    }

    pub(crate) fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    pub(crate) fn assert_page_headers(&self) {
        let h = |n: &str| {
            self.headers
                .get(n)
                .unwrap_or_else(|| panic!("no {n} header"))
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert!(h("content-type").starts_with("text/html"));
        assert_eq!(h("cache-control"), "no-store");
        assert_eq!(h("referrer-policy"), "no-referrer");
        let csp = h("content-security-policy");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("script-src 'nonce-"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    }

    pub(crate) fn form(&self) -> (String, Vec<(String, String)>) {
        parse_post_form(&self.body).unwrap_or_else(|| panic!("no POST form in:\n{}", self.body))
    }
}

pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Runs the sign-in from `start` through the OP until the OP sends the
/// browser back to `/callback`; returns that URL (not yet requested).
async fn to_callback(c: &reqwest::Client, start: Url) -> Url {
    let (cb, _) = follow(c, start, |u| u.path() == "/callback")
        .await
        .expect("the OP sends the browser back to /callback");
    cb
}

pub(crate) async fn get(c: &reqwest::Client, url: impl reqwest::IntoUrl) -> Answer {
    answer(c.get(url).send().await.unwrap()).await
}

pub(crate) async fn post(
    c: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    form: &[(String, String)],
) -> Answer {
    answer(c.post(url).form(form).send().await.unwrap()).await
}

async fn op_gateway() -> (Op, Gateway) {
    let op = shared_op().await;
    let gw = gateway(&config(&op.issuer, None)).await;
    (op, gw)
}

#[tokio::test]
async fn oidc_sign_in_posts_a_zendesk_jwt_with_return_to_to_the_access_url() {
    let (_op, gw) = op_gateway().await;
    let (c, _) = client();
    let start = gw.at(
        "/sso/helpcenter/login?return_to=%2Fhc%2Fen-us&brand_id=42&login_hint=alice%40acme.com",
    );

    // The login_hint's domain picks the OP: straight to its authorization endpoint.
    let first = get(&c, start.clone()).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    let auth = Url::parse(&first.location()).unwrap();
    assert_eq!(
        query(&auth, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        query(&auth, "login_hint").as_deref(),
        Some("alice@acme.com")
    );
    assert_eq!(
        query(&auth, "redirect_uri"),
        Some(format!("{}/callback", gw.url))
    );
    assert!(query(&auth, "nonce").is_some_and(|n| n.len() >= 43));
    let scope = query(&auth, "scope").unwrap();
    assert_eq!(
        scope.split(' ').filter(|s| *s == "openid").count(),
        1,
        "{scope}"
    );
    let cookie = first
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("zb_login_"))
        .expect("a pending-login cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");

    let cb = to_callback(&c, start).await;
    let page = get(&c, cb.clone()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.assert_page_headers();
    let csp = page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("form-action 'self' http://127.0.0.1:9 https://acme.zendesk.com https://support.acme.com"), "{csp}");
    assert!(page.body.contains("<script nonce="), "auto-submit script");
    assert!(
        page.body.contains("<button type=\"submit\""),
        "fallback button"
    );
    let (action, fields) = page.form();
    assert_eq!(action, ACCESS_URL);
    assert_eq!(field(&fields, "return_to"), Some("/hc/en-us"));
    let jwt = field(&fields, "jwt").expect("jwt field").to_owned();
    let claims = assert_zendesk_ok(&jwt, HELPCENTER_SECRET, "sso", None);
    assert_eq!(claims["email"], "alice@acme.com");
    assert_eq!(claims["name"], "Alice Liddell");
    assert_eq!(claims["external_id"], "op|alice");
    assert!(
        !cb.as_str().contains(&jwt)
            && !page
                .headers
                .iter()
                .any(|(_, v)| v.to_str().unwrap_or_default().contains(&jwt))
    );
    assert!(
        page.set_cookies()
            .iter()
            .any(|c| c.starts_with("zb_login_") && c.contains("Max-Age=0")),
        "the pending login is cleared: {:?}",
        page.set_cookies()
    );
    let metrics = get(&bare(), gw.at("/metrics")).await.body;
    assert!(
        metrics.contains(r#"route="sso_callback",target="helpcenter",source="op",outcome="ok""#),
        "{metrics}"
    );
}

#[tokio::test]
async fn login_hint_without_a_matching_domain_shows_the_chooser() {
    let (_op, gw) = op_gateway().await;
    let (c, _) = client();
    let page = get(
        &c,
        gw.at("/sso/helpcenter/login?return_to=%2Fhc&login_hint=someone%40elsewhere.org"),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    page.assert_page_headers();
    assert!(
        page.body.contains(">Acme staff<small>acme.com</small></a>")
            && page
                .body
                .contains(">Demo directory<small>example.com</small></a>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(
            "/sso/helpcenter/login/op?return_to=%2Fhc&amp;login_hint=someone%40elsewhere.org"
        ),
        "{}",
        page.body
    );

    // No hint at all: the chooser too; a hint on example.com: the dev source.
    assert_eq!(
        get(&c, gw.at("/sso/helpcenter/login")).await.status,
        StatusCode::OK
    );
    let dev = get(
        &c,
        gw.at("/sso/helpcenter/login?login_hint=x%40example.com"),
    )
    .await;
    assert!(dev.body.contains("id=\"user-ada\""), "{}", dev.body);
    // A subdomain of a listed domain counts; `source` decides over the hint.
    let sub = get(
        &c,
        gw.at("/sso/helpcenter/login?login_hint=x%40eu.acme.com"),
    )
    .await;
    assert_eq!(sub.status, StatusCode::SEE_OTHER);
    let forced = get(
        &c,
        gw.at("/sso/helpcenter/login?source=dev&login_hint=alice%40acme.com"),
    )
    .await;
    assert!(forced.body.contains("id=\"user-ada\""));
}

#[tokio::test]
async fn unknown_target_or_source_shows_a_404_page() {
    let (_op, gw) = op_gateway().await;
    let c = bare();
    for (path, code) in [
        ("/sso/nope/login", "target_unknown"),
        ("/sso/mobile/login", "target_unknown"),
        ("/sso/nope/login/op", "target_unknown"),
        ("/sso/helpcenter/login/nope", "source_unknown"),
        ("/sso/helpcenter/login?source=nope", "source_unknown"),
        ("/sso/nope/logout", "target_unknown"),
        ("/sandbox/helpcenter/access/jwt", "target_unknown"),
        ("/sandbox/nope/access/jwt", "target_unknown"),
    ] {
        let page = get(&c, gw.at(path)).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}: {}", page.body);
        assert_eq!(page.error_code().as_deref(), Some(code), "{path}");
        page.assert_page_headers();
    }
    // The unknown name is quoted as text, never as markup.
    let page = get(&c, gw.at("/sso/%3Cscript%3Ex%3C%2Fscript%3E/login")).await;
    assert!(!page.body.contains("<script>x"), "{}", page.body);
}

#[tokio::test]
async fn callback_with_a_state_of_no_pending_sign_in_is_refused_with_state_mismatch() {
    let (_op, gw) = op_gateway().await;
    let (c, _) = client();
    let started = get(
        &c,
        gw.at("/sso/helpcenter/login/op?login_hint=alice%40acme.com"),
    )
    .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER);
    let page = get(
        &c,
        gw.at("/callback?state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&code=x"),
    )
    .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(page.error_code().as_deref(), Some("state_mismatch"));
    page.assert_page_headers();
    // No state at all is a mismatch too.
    let page = get(&c, gw.at("/callback?code=x")).await;
    assert_eq!(page.error_code().as_deref(), Some("state_mismatch"));
}

#[tokio::test]
async fn callback_without_its_cookie_is_refused_with_login_expired() {
    let (_op, gw) = op_gateway().await;
    let (c, jar) = client();
    let cb = to_callback(
        &c,
        gw.at("/sso/helpcenter/login/op?login_hint=alice%40acme.com"),
    )
    .await;
    let cookies = jar
        .cookies(&gw.at("/"))
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();

    // Another browser (no cookie) cannot finish it.
    let page = get(&bare(), cb.clone()).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(page.error_code().as_deref(), Some("login_expired"));

    // A cookie that was tampered with does not open: as good as none.
    let (name, value) = cookies.split_once('=').unwrap();
    let mut bytes = value.to_owned().into_bytes();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{name}={}", String::from_utf8(bytes).unwrap());
    let page = answer(
        bare()
            .get(cb.clone())
            .header("cookie", tampered)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        page.error_code().as_deref(),
        Some("login_expired"),
        "{}",
        page.body
    );

    // The right cookie still finishes it.
    let page = get(&c, cb).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
}

#[tokio::test]
async fn expired_pending_login_is_refused_with_login_expired() {
    use axum::response::IntoResponse as _;
    use axum_extra::extract::cookie::{Cookie, PrivateCookieJar};

    let (_op, gw) = op_gateway().await;
    let state = "expiredexpiredexpiredexpiredexpiredexpired0";
    let login = zenbridge::sso::PendingLogin {
        target: "helpcenter".into(),
        source: "op".into(),
        state: state.into(),
        nonce: "n".into(),
        pkce_verifier: Some("v".into()),
        return_to: None,
        brand_id: None,
        locale_id: None,
        issuer: None,
        expires_at: zenbridge::source::now() - 1,
    };
    // Sealed with the deployment's key, as the gateway would have made it
    // 10 minutes ago (a browser that kept it past its Max-Age).
    let key = zenbridge::sso::pending::cookie_key(&zenbridge::config::Secret::generated(
        COOKIE_KEY.into(),
    ));
    let name = zenbridge::sso::pending::Names { secure: false }.login(state);
    let sealed = PrivateCookieJar::new(key)
        .add(Cookie::new(name, serde_json::to_string(&login).unwrap()))
        .into_response();
    let set = sealed.headers()["set-cookie"].to_str().unwrap();
    let pair = set.split(';').next().unwrap().to_owned();
    let page = answer(
        bare()
            .get(gw.at(&format!("/callback?state={state}&code=x")))
            .header("cookie", pair)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        page.error_code().as_deref(),
        Some("login_expired"),
        "{}",
        page.body
    );
    assert!(page.body.contains("more than 10 minutes ago"));
}

#[tokio::test]
async fn replayed_callback_is_refused_with_token_reused() {
    let (_op, gw) = op_gateway().await;
    let (c, jar) = client();
    let cb = to_callback(
        &c,
        gw.at("/sso/helpcenter/login/op?login_hint=alice%40acme.com"),
    )
    .await;
    let cookies = jar.cookies(&gw.at("/")).unwrap();
    assert_eq!(get(&c, cb.clone()).await.status, StatusCode::OK);

    // The same browser again: its cookie is gone.
    let again = get(&c, cb.clone()).await;
    assert_eq!(again.error_code().as_deref(), Some("login_expired"));
    // A copy of the cookie, replayed: the state is finished once.
    let replay = answer(
        bare()
            .get(cb)
            .header("cookie", cookies)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(replay.status, StatusCode::FORBIDDEN, "{}", replay.body);
    assert_eq!(replay.error_code().as_deref(), Some("token_reused"));
}

#[tokio::test]
async fn code_used_twice_is_refused_by_the_provider_with_login_failed() {
    // Two replicas with the same public_url and cookie key but no shared
    // state store: the second one's replay protection does not know the
    // state, so the provider's one-time code is what stops the replay.
    let op = shared_op().await;
    let first = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = first.local_addr().unwrap();
    let text = config(&op.issuer, None).replace("@URL@", &format!("http://{addr}"));
    let a = serve(first, &text, addr).await;
    let second = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b_addr = second.local_addr().unwrap();
    let b = serve(second, &text, b_addr).await;

    let (c, jar) = client();
    let cb = to_callback(
        &c,
        a.at("/sso/helpcenter/login/op?login_hint=alice%40acme.com"),
    )
    .await;
    let cookies = jar.cookies(&a.at("/")).unwrap();
    assert_eq!(get(&c, cb.clone()).await.status, StatusCode::OK);

    let mut on_b = cb.clone();
    on_b.set_port(Some(b_addr.port())).unwrap();
    let replay = answer(
        bare()
            .get(on_b)
            .header("cookie", cookies)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{}", replay.body);
    assert_eq!(replay.error_code().as_deref(), Some("login_failed"));
    assert!(replay.body.contains("invalid_grant"), "{}", replay.body);
    drop(b.state);
}

/// A stand-in discovery and token endpoint in front of the OP: the code is
/// redeemed at the real OP, then the ID token is re-signed by the OP's key
/// with `tamper` applied to its claims.
async fn tampering_proxy(op: Arc<Op>, tamper: Value) -> String {
    use axum::routing::{get as aget, post as apost};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let me = format!("http://{}", listener.local_addr().unwrap());
    let (op2, me2) = (op.clone(), me.clone());
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            aget(move || {
                let (op, me) = (op2.clone(), me2.clone());
                async move {
                    let mut d = op.discovery().await;
                    d["token_endpoint"] = json!(format!("{me}/token"));
                    axum::Json(d)
                }
            }),
        )
        .route(
            "/token",
            apost(move |headers: axum::http::HeaderMap, body: String| {
                let (op, tamper) = (op.clone(), tamper.clone());
                async move {
                    let mut req = reqwest::Client::new()
                        .post(op.url("/token"))
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(body);
                    if let Some(a) = headers.get("authorization") {
                        req = req.header("authorization", a.to_str().unwrap());
                    }
                    let mut tokens: Value = req.send().await.unwrap().json().await.unwrap();
                    let (_, mut claims) =
                        decode_jwt(tokens["id_token"].as_str().expect("id_token"));
                    for (k, v) in tamper.as_object().unwrap() {
                        claims[k] = v.clone();
                    }
                    tokens["id_token"] = json!(op.sign(&claims).await);
                    axum::Json(tokens)
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    me
}

async fn tampered_sign_in(tamper: Value) -> Answer {
    let op = Arc::new(shared_op().await);
    let proxy = tampering_proxy(op.clone(), tamper).await;
    let gw = gateway(&config(
        &op.issuer,
        Some(&format!("{proxy}/.well-known/openid-configuration")),
    ))
    .await;
    let (c, _) = client();
    let cb = to_callback(
        &c,
        gw.at("/sso/helpcenter/login/op?login_hint=alice%40acme.com"),
    )
    .await;
    get(&c, cb).await
}

#[tokio::test]
async fn id_token_with_another_nonce_is_refused_with_state_mismatch() {
    let page = tampered_sign_in(json!({"nonce": "a-nonce-from-another-sign-in"})).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert_eq!(page.error_code().as_deref(), Some("state_mismatch"));
    assert!(page.body.contains("nonce differs"), "{}", page.body);
    assert!(page.body.contains("id=\"try-again\""));
}

#[tokio::test]
async fn id_token_for_another_audience_is_refused_with_audience_mismatch() {
    let page = tampered_sign_in(json!({"aud": "someone-else"})).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert_eq!(page.error_code().as_deref(), Some("audience_mismatch"));
    assert!(page.body.contains("someone-else"), "{}", page.body);
}

#[tokio::test]
async fn untampered_id_token_through_the_proxy_is_accepted() {
    // The proxy itself changes nothing else: the two refusals above are
    // the nonce's and the audience's.
    let page = tampered_sign_in(json!({})).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
}

#[tokio::test]
async fn provider_error_on_the_callback_is_a_readable_page() {
    let (_op, gw) = op_gateway().await;
    let (c, _) = client();
    let cb = to_callback(
        &c,
        gw.at("/sso/helpcenter/login/op?login_hint=nobody%40acme.com&return_to=%2Fhc"),
    )
    .await;
    assert_eq!(query(&cb, "error").as_deref(), Some("access_denied"));
    let page = get(&c, cb).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(page.error_code().as_deref(), Some("login_failed"));
    assert!(page.body.contains("access_denied"), "{}", page.body);
    assert!(
        page.body.contains("/sso/helpcenter/login?return_to=%2Fhc"),
        "try again keeps return_to: {}",
        page.body
    );
}

#[tokio::test]
async fn callback_error_text_from_a_link_is_not_shown() {
    let (_op, gw) = op_gateway().await;
    let (c, _) = client();
    // A link anyone can send a person: no sign-in was started in this
    // browser, so the provider's words would be the link author's.
    let page = get(&c, gw.at("/callback?error=access_denied&error_description=Your%20account%20is%20locked%3A%20call%20%2B1%20555%200100%20%3Cimg%20src%3Dx%3E")).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(page.error_code().as_deref(), Some("login_failed"));
    assert!(page.body.contains("access_denied"), "{}", page.body);
    assert!(!page.body.contains("555"), "{}", page.body);
    assert!(!page.body.contains("img"), "{}", page.body);
    // An error name outside OAuth's list is not echoed either.
    let page = get(&c, gw.at("/callback?error=Call%20%2B1%20555%200100")).await;
    assert!(!page.body.contains("555"), "{}", page.body);
    assert!(page.body.contains("an error"), "{}", page.body);
}

#[tokio::test]
async fn claim_the_provider_does_not_send_is_refused_with_claim_missing() {
    let (_op, gw) = op_gateway().await;
    let (c, _) = client();
    let cb = to_callback(
        &c,
        gw.at("/sso/helpcenter/login/op?login_hint=noemail%40acme.com"),
    )
    .await;
    let page = get(&c, cb).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert_eq!(page.error_code().as_deref(), Some("claim_missing"));
    // Outside sandbox mode the page shows no claims or mapping.
    assert!(!page.body.contains("id=\"explain\""), "{}", page.body);
    assert!(!page.body.contains("No Email"), "{}", page.body);
}

/// In sandbox mode the sandbox page shows the sign-in's explain report:
/// the provider's claims, each rule and mapped claim and where it came
/// from; an error page shows it up to the refusal.
#[tokio::test]
async fn sandbox_pages_show_what_the_provider_sent_and_how_it_was_mapped() {
    let (_op, gw) = op_gateway().await;
    let (c, _) = client();
    let cb = to_callback(
        &c,
        gw.at("/sso/sandboxed/login/op?login_hint=alice%40acme.com"),
    )
    .await;
    let page = get(&c, cb).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let (to, fields) = page.form();
    assert!(
        field(&fields, "zenbridge_report").is_some(),
        "{}",
        page.body
    );
    let sandbox = post(&c, &to, &fields).await;
    assert!(
        sandbox.body.contains("data-verdict=\"pass\""),
        "{}",
        sandbox.body
    );
    for shown in [
        "id=\"explain\"",
        "The provider's claims (verified)",
        "&quot;email_verified&quot;: true",
        "<th>external_id</th><td><code>&#39;op|&#39; + claims.sub</code> <span class=\"muted\">(source)</span></td><td>&quot;op|alice&quot;</td>",
    ] {
        assert!(
            sandbox.body.contains(shown),
            "missing {shown:?}:\n{}",
            sandbox.body
        );
    }
    // A report from anywhere else is not shown.
    let mut forged = fields.clone();
    for f in &mut forged {
        if f.0 == "zenbridge_report" {
            f.1 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into();
        }
    }
    let again = post(&c, &to, &forged).await;
    assert!(!again.body.contains("id=\"explain\""), "{}", again.body);

    // Refused: the error page shows the claims and the step that failed.
    let cb = to_callback(
        &c,
        gw.at("/sso/sandboxed/login/op?login_hint=noemail%40acme.com"),
    )
    .await;
    let page = get(&c, cb).await;
    assert_eq!(page.error_code().as_deref(), Some("claim_missing"));
    assert!(page.body.contains("id=\"explain\""), "{}", page.body);
    assert!(page.body.contains("No Email"), "{}", page.body);
    assert!(
        page.body.contains("id=\"explain-refused\""),
        "{}",
        page.body
    );
}

/// Starts a dev sign-in; returns the user page's form fields (`state`).
async fn dev_start(
    c: &reqwest::Client,
    gw: &Gateway,
    path: &str,
) -> (String, Vec<(String, String)>) {
    let page = get(c, gw.at(path)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.form()
}

fn with_user(fields: &[(String, String)], user: &str) -> Vec<(String, String)> {
    let mut f = fields.to_vec();
    f.push(("user".into(), user.into()));
    f
}

#[tokio::test]
async fn dev_sign_in_ends_on_the_sandbox_with_every_rule_passing() {
    let (_op, gw) = op_gateway().await;
    let (c, _) = client();
    let (action, fields) = dev_start(
        &c,
        &gw,
        "/sso/sandboxed/login?source=dev&return_to=%2Fhc%2Fen-us",
    )
    .await;
    assert_eq!(action, format!("{}/sso/sandboxed/login/dev", gw.url));
    let page = post(&c, &action, &with_user(&fields, "ada")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let (to, fields) = page.form();
    assert_eq!(to, format!("{}/sandbox/sandboxed/access/jwt", gw.url));
    assert_eq!(field(&fields, "return_to"), Some("/hc/en-us"));
    let claims = assert_zendesk_ok(field(&fields, "jwt").unwrap(), SANDBOX_SECRET, "sso", None);
    assert_eq!(claims["email"], "ada@example.com");

    let sandbox = post(&c, &to, &fields).await;
    assert_eq!(sandbox.status, StatusCode::OK, "{}", sandbox.body);
    sandbox.assert_page_headers();
    assert!(
        sandbox.body.contains("data-verdict=\"pass\""),
        "{}",
        sandbox.body
    );
    assert!(!sandbox.body.contains("class=\"fail\""));
    for rule in ["signature", "iat", "jti", "email", "name", "header typ"] {
        assert!(
            sandbox.body.contains(&format!("<th>{rule}</th>")),
            "rule {rule}"
        );
    }
    assert!(sandbox.body.contains("id=\"return-to\">/hc/en-us<"));

    // Zendesk accepts a token once: the same POST again fails on its jti.
    let again = post(&c, &to, &fields).await;
    assert_eq!(again.status, StatusCode::FORBIDDEN);
    assert!(again.body.contains("data-verdict=\"fail\""));
    assert!(again.body.contains("was already used"));
}

#[tokio::test]
async fn sandbox_names_each_rule_a_bad_token_breaks() {
    let (_op, gw) = op_gateway().await;
    let c = bare();
    let b64 = |v: &Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let now = zenbridge::source::now();
    let forged = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "HS256"})),
        b64(&json!({"iat": now - 600, "jti": "x", "email": "ada@example.com", "role": "owner"})),
        "c2lnbmF0dXJl"
    );
    let page = post(
        &c,
        gw.at("/sandbox/sandboxed/access/jwt"),
        &[
            ("jwt".into(), forged),
            ("return_to".into(), "//evil.com".into()),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    for rule in [
        "header typ",
        "signature",
        "iat",
        "jti",
        "name",
        "claim role",
    ] {
        assert!(
            page.body.contains(&format!(
                "<tr class=\"fail\"><td class=\"mark\">✗</td><th>{rule}</th>"
            )),
            "{rule} should fail:\n{}",
            page.body
        );
    }
    assert!(
        !page.body.contains("//evil.com"),
        "a bad return_to is not shown"
    );
    // GET works too (Zendesk's old way), with a note; no token: a 400 page.
    let get_page = get(&c, gw.at("/sandbox/sandboxed/access/jwt?jwt=a.b.c")).await;
    assert!(get_page.body.contains("<th>format</th>"));
    let none = get(&c, gw.at("/sandbox/sandboxed/access/jwt")).await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);
    assert_eq!(none.error_code().as_deref(), Some("request_invalid"));
}

#[tokio::test]
async fn dev_form_is_refused_without_this_browsers_state() {
    let (_op, gw) = op_gateway().await;
    let (c, _) = client();
    let (action, fields) = dev_start(&c, &gw, "/sso/helpcenter/login/dev").await;

    // A cross-site POST carries no cookie: nothing is pending for it.
    let forged = post(&bare(), &action, &with_user(&fields, "ada")).await;
    assert_eq!(
        forged.error_code().as_deref(),
        Some("login_expired"),
        "{}",
        forged.body
    );
    // This browser, but a state it did not start.
    let other = vec![
        ("state".to_owned(), "B".repeat(43)),
        ("user".to_owned(), "ada".to_owned()),
    ];
    assert_eq!(
        post(&c, &action, &other).await.error_code().as_deref(),
        Some("state_mismatch")
    );
    let missing = vec![("user".to_owned(), "ada".to_owned())];
    assert_eq!(
        post(&c, &action, &missing).await.error_code().as_deref(),
        Some("state_mismatch")
    );
    // Its own state, posted to another target's form.
    let elsewhere = post(
        &c,
        gw.at("/sso/sandboxed/login/dev"),
        &with_user(&fields, "ada"),
    )
    .await;
    assert_eq!(
        elsewhere.error_code().as_deref(),
        Some("state_mismatch"),
        "{}",
        elsewhere.body
    );
    // A user the source does not list.
    let (_, fields) = dev_start(&c, &gw, "/sso/helpcenter/login/dev").await;
    let nobody = post(&c, &action, &with_user(&fields, "mallory")).await;
    assert_eq!(nobody.error_code().as_deref(), Some("login_failed"));
    // The OIDC source has no form.
    let not_dev = post(
        &c,
        gw.at("/sso/helpcenter/login/op"),
        &with_user(&fields, "ada"),
    )
    .await;
    assert_eq!(not_dev.status, StatusCode::NOT_FOUND);
}

/// A pending sign-in's form posted to another target's path is refused
/// before the sign-in is marked as used: a browser that kept its cookie
/// (or a page that made it post elsewhere) can still finish it where it
/// belongs, once.
#[tokio::test]
async fn dev_form_posted_to_another_target_uses_up_nothing() {
    let (_op, gw) = op_gateway().await;
    let c = bare();
    let page = get(&c, gw.at("/sso/helpcenter/login/dev")).await;
    let cookie: Vec<String> = page
        .set_cookies()
        .iter()
        .filter_map(|c| c.split(';').next().map(str::to_owned))
        .collect();
    let cookie = cookie.join("; ");
    let (action, fields) = page.form();
    let send = |url: Url| {
        let c = c.clone();
        let cookie = cookie.clone();
        let form = with_user(&fields, "ada");
        async move {
            answer(
                c.post(url)
                    .header(reqwest::header::COOKIE, cookie)
                    .form(&form)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let elsewhere = send(gw.at("/sso/sandboxed/login/dev")).await;
    assert_eq!(
        elsewhere.error_code().as_deref(),
        Some("state_mismatch"),
        "{}",
        elsewhere.body
    );
    let home = send(Url::parse(&action).unwrap()).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    let (to, posted) = home.form();
    assert!(to.ends_with("/access/jwt"), "{to}");
    assert!(field(&posted, "jwt").is_some(), "{}", home.body);
    // Once.
    let again = send(Url::parse(&action).unwrap()).await;
    assert_eq!(
        again.error_code().as_deref(),
        Some("token_reused"),
        "{}",
        again.body
    );
}

#[tokio::test]
async fn sign_ins_started_in_two_tabs_both_finish() {
    let (_op, gw) = op_gateway().await;
    let (c, _) = client();
    let (action, tab1) =
        dev_start(&c, &gw, "/sso/helpcenter/login/dev?return_to=%2Fhc%2Fone").await;
    let (_, tab2) = dev_start(&c, &gw, "/sso/helpcenter/login/dev?return_to=%2Fhc%2Ftwo").await;
    let cb1 = to_callback(
        &c,
        gw.at("/sso/helpcenter/login/op?login_hint=alice%40acme.com&return_to=%2Fhc%2Fthree"),
    )
    .await;

    let second = post(&c, &action, &with_user(&tab2, "grace")).await;
    assert_eq!(field(&second.form().1, "return_to"), Some("/hc/two"));
    let oidc = get(&c, cb1).await;
    assert_eq!(field(&oidc.form().1, "return_to"), Some("/hc/three"));
    let first = post(&c, &action, &with_user(&tab1, "ada")).await;
    assert_eq!(field(&first.form().1, "return_to"), Some("/hc/one"));
}

fn payloads() -> Vec<String> {
    let text = std::fs::read_to_string(
        crate::support::manifest_dir().join("tests/data/openredirects.txt"),
    )
    .unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("# "))
        .map(str::to_owned)
        .collect()
}

/// The value the gateway sees for a line of the data file.
fn decoded(line: &str) -> String {
    url::form_urlencoded::parse(format!("return_to={line}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn open_redirect_payloads_are_dropped_and_never_echoed() {
    let (_op, gw) = op_gateway().await;
    let rt = gw.state.runtime();
    let target = rt.target("helpcenter").unwrap();
    let payloads = payloads();
    assert!(
        payloads.len() >= 80,
        "the data file has {} cases",
        payloads.len()
    );
    let (c, _) = client();
    for line in &payloads {
        let value = decoded(line);
        assert!(
            zenbridge::sso::return_to::check(Some(&value), target).is_err() || value.is_empty(),
            "accepted: {line:?} (decoded {value:?})"
        );
        let shown = |body: &str| {
            value.len() > 3
                && (body.contains(&value) || body.contains(&zenbridge::http::pages::escape(&value)))
        };
        // The chooser's links carry no return_to.
        let chooser = get(
            &c,
            format!("{}/sso/helpcenter/login?return_to={line}", gw.url),
        )
        .await;
        assert_eq!(chooser.status, StatusCode::OK, "{line}");
        assert!(
            !chooser.body.contains("return_to"),
            "{line}: {}",
            chooser.body
        );
        assert!(!shown(&chooser.body), "{line} echoed");
        // A finished sign-in posts no return_to.
        let start = get(
            &c,
            format!("{}/sso/helpcenter/login/dev?return_to={line}", gw.url),
        )
        .await;
        let (action, fields) = start.form();
        let done = post(&c, &action, &with_user(&fields, "ada")).await;
        let (_, fields) = done.form();
        assert_eq!(field(&fields, "return_to"), None, "{line}");
        assert!(!shown(&done.body), "{line} echoed");
    }
}

#[tokio::test]
async fn allowed_return_to_values_are_passed_on() {
    let (_op, gw) = op_gateway().await;
    let (c, _) = client();
    for (sent, passed) in [
        ("%2Fhc%2Fen-us", "/hc/en-us"),
        (
            "/hc/en-us/requests?page=2%23top",
            "/hc/en-us/requests?page=2#top",
        ),
        ("%2Fhc%2Fsearch%3Fquery%3Da%2Bb", "/hc/search?query=a+b"),
        (
            "https%3A%2F%2Facme.zendesk.com%2Fagent%2Ftickets%2F1",
            "https://acme.zendesk.com/agent/tickets/1",
        ),
        (
            "https%3A%2F%2FACME.zendesk.com%2Fhc",
            "https://acme.zendesk.com/hc",
        ),
        (
            "https%3A%2F%2Fsupport.acme.com%2Fhc%2Fen-us%23%2Fhome",
            "https://support.acme.com/hc/en-us#/home",
        ),
    ] {
        let (action, fields) = dev_start(
            &c,
            &gw,
            &format!("/sso/helpcenter/login/dev?return_to={sent}"),
        )
        .await;
        let done = post(&c, &action, &with_user(&fields, "ada")).await;
        assert_eq!(field(&done.form().1, "return_to"), Some(passed), "{sent}");
    }
}

#[tokio::test]
async fn zendesk_error_message_from_a_link_is_never_shown() {
    let (_op, gw) = op_gateway().await;
    let c = bare();
    let hostile = "<script>alert('x')</script>Invalid iat parameter: more than 3 minutes off";
    let url = format!(
        "{}/sso/helpcenter/logout?kind=error&message={}&return_to=%2Fhc&email=ada%40example.com",
        gw.url,
        url::form_urlencoded::byte_serialize(hostile.as_bytes()).collect::<String>()
    );
    let page = get(&c, url).await;
    assert_eq!(page.status, StatusCode::OK);
    page.assert_page_headers();
    // Only the catalog's words: the message itself is the link author's.
    assert!(!page.body.contains("alert"), "{}", page.body);
    assert!(
        page.body.contains("more than 3 minutes away from Zendesk"),
        "{}",
        page.body
    );
    assert_eq!(page.error_code().as_deref(), Some("login_failed"));
    assert!(
        page.body.contains(&format!(
            "href=\"{}/sso/helpcenter/login?return_to=%2Fhc\"",
            gw.url
        )),
        "{}",
        page.body
    );
    assert!(
        page.set_cookies().is_empty(),
        "an error page clears nothing"
    );

    for (message, words) in [
        (
            "JWT signature invalid",
            "could not verify the sign-in token",
        ),
        (
            "External has already been taken",
            "already has the external ID",
        ),
        (
            "Users with the email address a@b.c are not allowed to sign up for this help desk",
            "does not let new users",
        ),
        ("Invalid JWT Request", "malformed"),
        ("Couldn't authenticate you", "without saying why"),
        ("something new", "does not recognise"),
        (
            "Your account is locked: call +1 555 0100",
            "does not recognise",
        ),
    ] {
        let url = format!(
            "{}/sso/helpcenter/logout?kind=error&message={}",
            gw.url,
            url::form_urlencoded::byte_serialize(message.as_bytes()).collect::<String>()
        );
        let page = get(&c, url).await;
        assert!(page.body.contains(words), "{message}: {}", page.body);
        assert!(!page.body.contains(message), "{message}: {}", page.body);
    }
}

#[tokio::test]
async fn logout_clears_cookies_and_redirects_to_after_logout_url_exactly() {
    let (_op, gw) = op_gateway().await;
    let (c, jar) = client();
    let (action, fields) = dev_start(&c, &gw, "/sso/helpcenter/login/dev").await;
    let _pending_other_tab = dev_start(&c, &gw, "/sso/helpcenter/login/dev").await;
    assert_eq!(
        post(&c, &action, &with_user(&fields, "ada")).await.status,
        StatusCode::OK
    );
    assert!(jar.cookies(&gw.at("/")).is_some());

    let out = get(
        &c,
        gw.at("/sso/helpcenter/logout?email=ada%40example.com&external_id=x&brand_id=1"),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), AFTER_LOGOUT, "hash route kept");
    let cleared = out.set_cookies();
    assert!(
        cleared.iter().any(|c| c.starts_with("zb_last=;")),
        "{cleared:?}"
    );
    assert!(
        cleared.iter().any(|c| c.starts_with("zb_login_")),
        "{cleared:?}"
    );
    assert!(
        jar.cookies(&gw.at("/")).is_none(),
        "every zenbridge cookie is gone"
    );
}

#[tokio::test]
async fn upstream_logout_ends_the_session_at_the_provider_first() {
    let (op, gw) = op_gateway().await;
    let (c, _) = client();
    let cb = to_callback(
        &c,
        gw.at("/sso/sandboxed/login/op?login_hint=alice%40acme.com"),
    )
    .await;
    assert_eq!(get(&c, cb).await.status, StatusCode::OK);

    let out = get(&c, gw.at("/sso/sandboxed/logout")).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let to = Url::parse(&out.location()).unwrap();
    assert_eq!(
        format!("{}{}", &to[..url::Position::BeforePath], to.path()),
        op.url("/session/end")
    );
    assert_eq!(query(&to, "client_id").as_deref(), Some("zenbridge"));
    assert_eq!(
        query(&to, "post_logout_redirect_uri").as_deref(),
        Some("http://127.0.0.1/logged-out")
    );
    // The OP signs the browser out and sends it to after_logout_url.
    let (end, _) = follow(&c, to, |u| u.as_str() == "http://127.0.0.1/logged-out")
        .await
        .expect("the OP ends on post_logout_redirect_uri");
    assert_eq!(end.as_str(), "http://127.0.0.1/logged-out");

    // Without a remembered OIDC sign-in: straight to after_logout_url.
    let plain = get(&bare(), gw.at("/sso/sandboxed/logout")).await;
    assert_eq!(plain.location(), "http://127.0.0.1/logged-out");
}

#[tokio::test]
async fn demo_landing_page_is_served_by_the_demo_only() {
    let cfg = zenbridge::cli::demo_config(zenbridge::cli::DEMO_LISTEN.parse().unwrap());
    let state = zenbridge::build_state(cfg).await.unwrap();
    let call = |app: axum::Router| async move {
        use tower::ServiceExt as _;
        let resp = app
            .oneshot(
                axum::http::Request::get("/")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    };
    let (status, body) = call(zenbridge::demo_app(state.clone())).await;
    assert_eq!(status, axum::http::StatusCode::OK);
    assert!(
        body.contains("/sso/helpcenter/login?return_to=%2Fhc%2Fen-us"),
        "{body}"
    );
    assert!(body.contains("zenbridge dev-token --demo --source demo --user ada"));
    assert!(body.contains("/sdk/mobile/jwt"));
    let (status, _) = call(zenbridge::app(state)).await;
    assert_eq!(status, axum::http::StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn demo_command_serves_a_sign_in_that_passes_the_sandbox() {
    let port = crate::support::free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_zenbridge"))
        .args(["demo", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("run zenbridge demo");
    let base = format!("http://127.0.0.1:{port}");
    let (c, _) = client();
    let mut landing = None;
    for _ in 0..100 {
        if let Ok(r) = c.get(&base).send().await {
            landing = Some(answer(r).await);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let landing = landing.expect("the demo answers");
    assert_eq!(landing.status, StatusCode::OK);
    let href = format!("{base}/sso/helpcenter/login?return_to=%2Fhc%2Fen-us");
    assert!(landing.body.contains(&href), "{}", landing.body);

    let users = get(&c, &href).await;
    let (action, fields) = users.form();
    let to_zendesk = post(&c, &action, &with_user(&fields, "ada")).await;
    let (sandbox, fields) = to_zendesk.form();
    let result = post(&c, &sandbox, &fields).await;
    assert_eq!(result.status, StatusCode::OK, "{}", result.body);
    assert!(result.body.contains("data-verdict=\"pass\""));
    let jwt = field(&fields, "jwt").unwrap();
    assert_eq!(
        decode_jwt(jwt).1["role"],
        "agent",
        "ada is in the support group"
    );

    // The landing page's mobile exchange, as printed there.
    let printed = "zenbridge dev-token --demo --source demo --user ada";
    assert!(landing.body.contains(printed), "{}", landing.body);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_zenbridge"))
        .args(["dev-token", "--demo", "--source", "demo", "--user", "ada"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let sdk = c
        .post(format!("{base}/sdk/mobile/jwt"))
        .form(&[("user_token", token.trim())])
        .send()
        .await
        .unwrap();
    assert_eq!(sdk.status(), StatusCode::OK);
    let sdk: Value = sdk.json().await.unwrap();
    let jwt = sdk["jwt"].as_str().unwrap();
    assert_zendesk_ok(jwt, "demo-sdk-secret-public-by-design", "sdk", None);
    child.kill().await.ok();
}

/// The callback URL with its `iss` parameter replaced (`Some`) or removed.
fn with_iss(cb: &Url, iss: Option<&str>) -> Url {
    let mut out = cb.clone();
    let kept: Vec<(String, String)> = cb
        .query_pairs()
        .filter(|(k, _)| k != "iss")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = out.query_pairs_mut();
        q.clear();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        if let Some(i) = iss {
            q.append_pair("iss", i);
        }
    }
    out
}

/// RFC 9207: an authorization response carrying another provider's `iss`
/// (the mix-up attack) or, from a provider that always sends it, none.
#[tokio::test]
async fn mixed_up_issuer_on_the_callback_is_refused() {
    let (op, gw) = op_gateway().await;
    for (iss, ok) in [
        (Some("https://evil.example"), false),
        (None, false),
        (Some(op.issuer.as_str()), true),
    ] {
        let (c, _) = client();
        let cb = to_callback(
            &c,
            gw.at("/sso/helpcenter/login/op?login_hint=alice%40acme.com"),
        )
        .await;
        assert_eq!(
            query(&cb, "iss").as_deref(),
            Some(op.issuer.as_str()),
            "the reference OP sends iss (RFC 9207)"
        );
        let page = get(&c, with_iss(&cb, iss)).await;
        if ok {
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        } else {
            assert_eq!(
                page.status,
                StatusCode::BAD_REQUEST,
                "{iss:?}: {}",
                page.body
            );
            assert_eq!(
                page.error_code().as_deref(),
                Some("state_mismatch"),
                "{iss:?}"
            );
            assert!(
                page.body
                    .contains("identity provider the sign-in was started with"),
                "{}",
                page.body
            );
        }
    }
}

/// `[[target.brands]]`: Zendesk's account-wide remote login URL carries
/// `brand_id`; each brand offers only its sources (and `"*"` those of a
/// brand not listed), at the chooser, by `?source=`, at the start link
/// and again when the sign-in finishes.
#[tokio::test]
async fn brand_routing_offers_each_brand_only_its_sources_attack() {
    let op = shared_op().await;
    let brands = format!(
        "access_url = \"{ACCESS_URL}\"\n\n[[target.brands]]\nid = \"111\"\nsources = [\"dev\"]\n\n[[target.brands]]\nid = \"*\"\nsources = [\"op\"]\n"
    );
    let text =
        config(&op.issuer, None).replacen(&format!("access_url = \"{ACCESS_URL}\"\n"), &brands, 1);
    let gw = gateway(&text).await;
    let (c, _) = client();
    // Brand 111 has one source: straight to the dev user list.
    let page = get(
        &c,
        gw.at("/sso/helpcenter/login?brand_id=111&return_to=%2Fhc"),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let (action, _) = page.form();
    assert_eq!(action, format!("{}/sso/helpcenter/login/dev", gw.url));
    // Another brand: the "*" entry's source, the OP.
    let page = get(&c, gw.at("/sso/helpcenter/login?brand_id=222")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(
        page.location().starts_with(&op.issuer),
        "{}",
        page.location()
    );
    // A brand's person cannot pick another brand's source.
    for path in [
        "/sso/helpcenter/login/op?brand_id=111",
        "/sso/helpcenter/login?brand_id=111&source=op",
        "/sso/helpcenter/login/dev?brand_id=222",
    ] {
        let page = get(&bare(), gw.at(path)).await;
        assert_eq!(
            page.error_code().as_deref(),
            Some("source_unknown"),
            "{path}: {}",
            page.body
        );
    }
}

#[test]
fn brand_problems_name_their_keys() {
    let text = config("https://op.acme.test", None)
        .replace("@LISTEN@", "127.0.0.1:0")
        .replace("@URL@", "http://127.0.0.1:8080")
        .replacen(
            &format!("access_url = \"{ACCESS_URL}\"\n"),
            &format!(
                "access_url = \"{ACCESS_URL}\"\n[[target.brands]]\nid = \"acme\"\nsources = [\"nope\"]\n[[target.brands]]\nid = \"*\"\nsources = []\n"
            ),
            1,
        );
    let problems = zenbridge::config::load_str(&text, None)
        .expect_err("bad brands")
        .to_string();
    for expected in [
        "target[0].brands[0].id",
        "target[0].brands[0].sources[0]",
        "target[0].brands[1].sources",
    ] {
        assert!(problems.contains(expected), "{expected} in {problems}");
    }
}
