//! Browser sign-in (targets of kind `sso`):
//! - `GET /sso/{target}/login` — Zendesk's remote login URL: straight to
//!   the one browser source, to the source `source` names or the
//!   `login_hint` domain picks, else a chooser page.
//! - `GET /sso/{target}/login/{source}` — starts the sign-in: a redirect to
//!   the provider (`oidc`), or the list of users (`dev`).
//! - `POST /sso/{target}/login/{source}` — the `dev` list's form (`state`,
//!   `user`): finishes like the callback.
//! - `GET /callback` — the OIDC redirect URI: state, code, ID token, then a
//!   page that POSTs the target's JWT to Zendesk.
//! - `GET /sso/{target}/logout` — Zendesk's remote logout URL: explains a
//!   failed sign-in (`kind=error`), or clears our cookies and redirects.
//!
//! The dev form needs no separate CSRF token: its `state` is random, sits
//! in the sealed pending-login cookie of this browser (`SameSite=Lax`), and
//! is finished once; a page elsewhere can neither read it nor send it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_extra::extract::cookie::{Key, PrivateCookieJar};

use super::outcome::Outcome;
use super::pages::{self, Page};
use super::{AppState, ClientIp, Rt, read_body};
use crate::config::Refusal;
use crate::gateway::{RequestInfo, Route, Runtime, Target};
use crate::metrics::Route as Label;
use crate::source::Source;
use crate::sso::pending::{self, LastSignIn, Missing, Names, PendingLogin};
use crate::sso::signin::{Answer, Begun, SignIn};
use crate::sso::{self, LoginError, catalog, return_to};
use crate::target::Endpoint;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sso/{target}/login", get(login))
        .route("/sso/{target}/login/{source}", get(start).post(dev_submit))
        .route("/callback", get(callback))
        .route("/sso/{target}/logout", get(logout))
}

/// The cookie key (derived once per config load) and names of the
/// request's config.
fn cookies(rt: &Runtime) -> (Key, Names) {
    rt.cookies.clone()
}

/// `{public_url}{path}`: links and redirects work behind a path prefix.
fn url(rt: &Runtime, path: &str) -> String {
    format!(
        "{}{path}",
        rt.config.server.public_url.as_str().trim_end_matches('/')
    )
}

/// The query's parameters, the first of each name winning (a repeated
/// parameter is not an error a person could do anything about).
pub fn params(raw: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

/// Zendesk's `brand_id` and `locale_id` are numbers; anything else, or
/// anything long, is not passed on.
fn small_id(v: Option<&String>) -> Option<String> {
    v.filter(|s| {
        !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
    .cloned()
}

/// A `login_hint` worth passing on: printable, at most 254 characters.
fn login_hint(v: Option<&String>) -> Option<String> {
    v.filter(|s| !s.is_empty() && s.len() <= 254 && s.bytes().all(|b| b.is_ascii_graphic()))
        .cloned()
}

/// The target's login URL, carrying what the next try needs.
fn login_url(
    rt: &Runtime,
    target: &str,
    return_to: Option<&str>,
    brand_id: Option<&str>,
) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if let Some(r) = return_to {
        q.append_pair("return_to", r);
    }
    if let Some(b) = brand_id {
        q.append_pair("brand_id", b);
    }
    let q = q.finish();
    let base = url(rt, &format!("/sso/{target}/login"));
    if q.is_empty() {
        base
    } else {
        format!("{base}?{q}")
    }
}

/// The target's guard for the browser sign-in (its `endpoints` and
/// `allowed_ips`), in the words of a sign-in page.
fn admit(target: &Target, ip: ClientIp) -> Result<(), LoginError> {
    target.admits(Endpoint::Browser, ip.0).map_err(|refusal| {
        let code = refusal.code();
        let message = match refusal {
            Refusal::EndpointNotAllowed { .. } => format!(
                "target {:?} does not sign people in through the browser (its endpoints do not list \"browser\")",
                target.name
            ),
            Refusal::IpNotAllowed => format!(
                "this address may not sign in to target {:?} (allowed_ips)",
                target.name
            ),
        };
        LoginError::NotAllowed(message, code)
    })
}

/// The `sso` target named by the path's `{target}`, in the request's
/// runtime. Its rejection is the page a person sees (`target_unknown`),
/// counted under the route the request was for.
pub struct SsoTarget(pub Arc<Target>);

impl FromRequestParts<AppState> for SsoTarget {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let label = if parts.uri.path().ends_with("/logout") {
            Label::SsoLogout
        } else if parts.method == axum::http::Method::POST {
            Label::SsoDevLogin
        } else {
            Label::SsoLogin
        };
        let names: HashMap<String, String> = Path::from_request_parts(parts, state)
            .await
            .map(|Path(p)| p)
            .unwrap_or_default();
        let rt = Rt::of(parts, state);
        let name = names.get("target").map(String::as_str).unwrap_or_default();
        sso::sso_target(&rt, name)
            .map(SsoTarget)
            .map_err(|e| refuse(label, None, None, &e, None))
    }
}

/// A refusal page, with its outcome attached for the metrics and the log.
fn refuse(
    route: Label,
    target: Option<&str>,
    source: Option<&str>,
    e: &LoginError,
    try_again: Option<&str>,
) -> Response {
    let code = e.code();
    Outcome::refused(route, target, source, code, e.to_string()).attach(Page::error(
        code,
        &e.to_string(),
        try_again,
    ))
}

async fn login(
    rt: Rt,
    ip: ClientIp,
    SsoTarget(target): SsoTarget,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = params(query.as_deref());
    let sources = sso::browser_sources(&target);
    let hint = login_hint(p.get("login_hint"));
    let chosen = if let Some(name) = p.get("source") {
        match sso::browser_source(&target, name) {
            Ok(s) => Some(s),
            Err(e) => {
                return refuse(Label::SsoLogin, Some(&target.name), None, &e, None).into_response();
            }
        }
    } else if sources.len() == 1 {
        sources.first().cloned()
    } else {
        hint.as_deref()
            .and_then(|h| sso::by_login_hint(&sources, h))
    };
    if sources.is_empty() {
        let e = LoginError::SourceUnknown(format!(
            "target {:?} has no source a person can sign in with in a browser (oidc or dev)",
            target.name
        ));
        return refuse(Label::SsoLogin, Some(&target.name), None, &e, None).into_response();
    }
    let return_to = return_to::accept(p.get("return_to").map(String::as_str), &target);
    let brand_id = small_id(p.get("brand_id"));
    let locale_id = small_id(p.get("locale_id"));
    if let Some(source) = chosen {
        let ctx = Start {
            return_to,
            brand_id,
            locale_id,
            login_hint: hint,
        };
        return begin(&rt, &target, &source, ctx, ip, &headers).await;
    }
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("return_to", &return_to),
        ("brand_id", &brand_id),
        ("locale_id", &locale_id),
        ("login_hint", &hint),
    ] {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    let q = q.finish();
    let choices: Vec<(&Source, String)> = sources
        .iter()
        .map(|r| {
            let href = url(
                &rt,
                &format!("/sso/{}/login/{}", target.name, r.source.name()),
            );
            let href = if q.is_empty() {
                href
            } else {
                format!("{href}?{q}")
            };
            (r.source.as_ref(), href)
        })
        .collect();
    Outcome::ok(Label::SsoLogin, &target.name, "", "chooser").attach(pages::chooser(&choices))
}

/// What the login URL hands to the source's start.
struct Start {
    return_to: Option<String>,
    brand_id: Option<String>,
    locale_id: Option<String>,
    login_hint: Option<String>,
}

async fn start(
    rt: Rt,
    ip: ClientIp,
    SsoTarget(target): SsoTarget,
    Path((_, source_name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = params(query.as_deref());
    let source = match sso::browser_source(&target, &source_name) {
        Ok(s) => s,
        Err(e) => {
            return refuse(Label::SsoLogin, Some(&target.name), None, &e, None).into_response();
        }
    };
    let ctx = Start {
        return_to: return_to::accept(p.get("return_to").map(String::as_str), &target),
        brand_id: small_id(p.get("brand_id")),
        locale_id: small_id(p.get("locale_id")),
        login_hint: login_hint(p.get("login_hint")),
    };
    begin(&rt, &target, &source, ctx, ip, &headers).await
}

/// Starts a sign-in at `source`: a new pending login in its own cookie,
/// then the provider's authorization endpoint, or the dev user list.
#[allow(clippy::too_many_arguments)]
async fn begin(
    rt: &Runtime,
    target: &Target,
    route: &Route,
    ctx: Start,
    ip: ClientIp,
    headers: &HeaderMap,
) -> Response {
    let source = &route.source;
    if let Err(e) = admit(target, ip) {
        return refuse(
            Label::SsoLogin,
            Some(&target.name),
            Some(source.name()),
            &e,
            None,
        )
        .into_response();
    }
    let (key, names) = cookies(rt);
    let jar = PrivateCookieJar::from_headers(headers, key);
    let mut login = PendingLogin {
        target: target.name.clone(),
        source: source.name().to_owned(),
        state: pending::random_token(),
        nonce: pending::random_token(),
        pkce_verifier: None,
        return_to: ctx.return_to,
        brand_id: ctx.brand_id,
        locale_id: ctx.locale_id,
        issuer: Some(source.config.issuer.clone()),
        expires_at: crate::source::now() + i64::try_from(pending::TTL.as_secs()).unwrap_or(600),
    };
    let again = login_url(
        rt,
        &target.name,
        login.return_to.as_deref(),
        login.brand_id.as_deref(),
    );
    let begun = match SignIn::of(source) {
        Some(sign_in) => {
            sign_in
                .start(&rt.config.server, &mut login, ctx.login_hint.as_deref())
                .await
        }
        None => Err(LoginError::SourceUnknown(format!(
            "source {:?} has no browser sign-in",
            source.name()
        ))),
    };
    let page = match begun {
        Ok(Begun::Redirect(to)) => redirect(StatusCode::SEE_OTHER, to.as_str()),
        Ok(Begun::ChooseUser(users)) => pages::dev_users(
            &url(rt, &format!("/sso/{}/login/{}", target.name, source.name())),
            source,
            users,
            &login,
        )
        .into_response(),
        Err(e) => {
            return refuse(
                Label::SsoLogin,
                Some(&target.name),
                Some(source.name()),
                &e,
                Some(&again),
            )
            .into_response();
        }
    };
    let jar = pending::store(jar, names, &login);
    Outcome::ok(Label::SsoLogin, &target.name, source.name(), "started").attach((jar, page))
}

/// A redirect to `location` exactly as given (fragments and all); a value
/// that is not a valid header is sent in its parsed, percent-encoded form.
fn redirect(status: StatusCode, location: &str) -> Response {
    let value = HeaderValue::from_str(location).ok().or_else(|| {
        url::Url::parse(location)
            .ok()
            .and_then(|u| HeaderValue::from_str(u.as_str()).ok())
    });
    match value {
        Some(v) => (status, [(header::LOCATION, v)]).into_response(),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn dev_submit(
    State(state): State<AppState>,
    rt: Rt,
    SsoTarget(target): SsoTarget,
    Path((_, source_name)): Path<(String, String)>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (key, names) = cookies(&rt);
    let jar = PrivateCookieJar::from_headers(&headers, key);
    let limit = rt.config.server.max_body_bytes;
    let form = match read_body(body, limit, super::error::Dialect::Bearer).await {
        Ok(b) => params(std::str::from_utf8(&b).ok()),
        Err(e) => {
            return Page::error(e.code, &e.description, None).into_response();
        }
    };
    let again = login_url(&rt, &target.name, None, None);
    let fail = |jar: PrivateCookieJar, e: LoginError, source: Option<&str>| {
        (
            jar,
            refuse(
                Label::SsoDevLogin,
                Some(&target.name),
                source,
                &e,
                Some(&again),
            ),
        )
            .into_response()
    };
    let route = match sso::browser_source(&target, &source_name) {
        Ok(r) if SignIn::of(&r.source).is_some_and(|s| s.has_user_list()) => r,
        Ok(_) => {
            let e = LoginError::SourceUnknown(format!(
                "source {source_name:?} has no sign-in form: it is not a dev source"
            ));
            return fail(jar, e, None);
        }
        Err(e) => return fail(jar, e, None),
    };
    let source = &route.source;
    let Some(state_param) = form.get("state").filter(|s| !s.is_empty()) else {
        return fail(jar, LoginError::StateMismatch, Some(source.name()));
    };
    let (jar, login) = match take(jar, names, state_param, &state).await {
        Ok(v) => v,
        Err((jar, e)) => return fail(jar, e, Some(source.name())),
    };
    let again = login_url(
        &rt,
        &target.name,
        login.return_to.as_deref(),
        login.brand_id.as_deref(),
    );
    if login.target != target.name || login.source != source.name() {
        return (
            jar,
            refuse(
                Label::SsoDevLogin,
                Some(&target.name),
                Some(source.name()),
                &LoginError::StateMismatch,
                Some(&again),
            ),
        )
            .into_response();
    }
    let user_id = form.get("user").map(String::as_str).unwrap_or_default();
    let finished = match SignIn::of(source) {
        Some(sign_in) => {
            let http = &state.shared().oidc_http;
            sign_in
                .finish(&rt.config.server, http, &login, &Answer::User(user_id))
                .await
        }
        None => Err(LoginError::StateMismatch),
    };
    let token = match finished {
        Ok(t) => t,
        Err(e) => {
            return (
                jar,
                refuse(
                    Label::SsoDevLogin,
                    Some(&target.name),
                    Some(source.name()),
                    &e,
                    Some(&again),
                ),
            )
                .into_response();
        }
    };
    complete(
        &rt,
        jar,
        names,
        &target,
        &route,
        &login,
        &token,
        ip,
        Label::SsoDevLogin,
    )
    .await
}

/// The pending login of `state_param`, removed from the jar and marked as
/// finished in the state store, so that it is finished at most once.
async fn take(
    jar: PrivateCookieJar,
    names: Names,
    state_param: &str,
    state: &AppState,
) -> Result<(PrivateCookieJar, PendingLogin), (PrivateCookieJar, LoginError)> {
    let (jar, found) = pending::take(jar, names, state_param, crate::source::now());
    let login = match found {
        Ok(l) => l,
        Err(Missing::NoneInProgress) => return Err((jar, LoginError::NoneInProgress)),
        Err(Missing::OtherState) => return Err((jar, LoginError::StateMismatch)),
        Err(Missing::Expired) => return Err((jar, LoginError::Expired)),
    };
    match state
        .shared()
        .store
        .first_use(&format!("login:{}", login.state), pending::TTL)
        .await
    {
        Ok(true) => Ok((jar, login)),
        Ok(false) => Err((jar, LoginError::Replayed)),
        Err(e) => {
            tracing::warn!(error = %e, "state store unavailable: sign-in not finished");
            Err((jar, LoginError::StateUnavailable))
        }
    }
}

async fn callback(
    State(state): State<AppState>,
    rt: Rt,
    RawQuery(query): RawQuery,
    ip: ClientIp,
    headers: HeaderMap,
) -> Response {
    let (key, names) = cookies(&rt);
    let jar = PrivateCookieJar::from_headers(&headers, key);
    let p = params(query.as_deref());
    let state_param = p.get("state").filter(|s| !s.is_empty());
    if let Some(error) = p.get("error") {
        // The provider ended the sign-in: forget it, say why, offer a retry.
        let (jar, login) = match state_param {
            Some(s) => {
                let (jar, found) = pending::take(jar, names, s, crate::source::now());
                (jar, found.ok())
            }
            None => (jar, None),
        };
        // A link anyone can write: the provider's words are shown only for
        // a sign-in this browser started, and then marked as theirs.
        let e = LoginError::Provider {
            error: oauth_error_name(error),
            description: match (&login, p.get("error_description")) {
                (Some(_), Some(d)) => format!(
                    " (the identity provider says: \u{201c}{}\u{201d})",
                    short_text(d, 200)
                ),
                _ => String::new(),
            },
        };
        let again = login.as_ref().map(|l| {
            login_url(
                &rt,
                &l.target,
                l.return_to.as_deref(),
                l.brand_id.as_deref(),
            )
        });
        let page = refuse(
            Label::SsoCallback,
            login.as_ref().map(|l| l.target.as_str()),
            login.as_ref().map(|l| l.source.as_str()),
            &e,
            again.as_deref(),
        );
        return (jar, page).into_response();
    }
    let Some(state_param) = state_param else {
        return refuse(
            Label::SsoCallback,
            None,
            None,
            &LoginError::StateMismatch,
            None,
        )
        .into_response();
    };
    let (jar, login) = match take(jar, names, state_param, &state).await {
        Ok(v) => v,
        Err((jar, e)) => {
            return (jar, refuse(Label::SsoCallback, None, None, &e, None)).into_response();
        }
    };
    let again = login_url(
        &rt,
        &login.target,
        login.return_to.as_deref(),
        login.brand_id.as_deref(),
    );
    let fail = |jar: PrivateCookieJar, e: LoginError| {
        (
            jar,
            refuse(
                Label::SsoCallback,
                Some(&login.target),
                Some(&login.source),
                &e,
                Some(&again),
            ),
        )
            .into_response()
    };
    let resolved = sso::sso_target(&rt, &login.target)
        .and_then(|t| sso::browser_source(&t, &login.source).map(|r| (t, r)));
    let (target, route) = match resolved {
        Ok(v) => v,
        Err(e) => return fail(jar, e),
    };
    let answer = Answer::Callback {
        code: p.get("code").map(String::as_str),
        iss: p.get("iss"),
    };
    let http = &state.shared().oidc_http;
    let finished = match SignIn::of(&route.source) {
        Some(sign_in) => {
            sign_in
                .finish(&rt.config.server, http, &login, &answer)
                .await
        }
        None => Err(LoginError::StateMismatch),
    };
    let id_token = match finished {
        Ok(t) => t,
        Err(e) => return fail(jar, e),
    };
    complete(
        &rt,
        jar,
        names,
        &target,
        &route,
        &login,
        &id_token,
        ip,
        Label::SsoCallback,
    )
    .await
}

/// Verifies, maps, mints, and answers the page that posts to Zendesk.
#[allow(clippy::too_many_arguments)]
async fn complete(
    rt: &Runtime,
    jar: PrivateCookieJar,
    names: Names,
    target: &Target,
    source_route: &Arc<Route>,
    login: &PendingLogin,
    id_token: &str,
    ip: ClientIp,
    route: Label,
) -> Response {
    let source = &source_route.source;
    let req = RequestInfo {
        ip: ip.0.map(|i| i.to_string()),
        brand_id: login.brand_id.clone(),
        locale_id: login.locale_id.clone(),
    };
    let result = match admit(target, ip) {
        Ok(()) => sso::finish(rt, target, source_route, login, id_token, &req).await,
        Err(e) => Err(e),
    };
    match result {
        Ok((minted, subject)) => {
            tracing::info!(
                target = %target.name,
                source = %source.name(),
                sub = subject.as_deref().unwrap_or_default(),
                token = %crate::gateway::token_hash(id_token),
                "browser sign-in finished"
            );
            let jar = pending::remember(
                jar,
                names,
                &LastSignIn {
                    target: target.name.clone(),
                    source: source.name().to_owned(),
                },
            );
            Outcome::ok(route, &target.name, source.name(), "ok").attach((
                jar,
                pages::post_to_zendesk(
                    target,
                    &target.access_url(&rt.config.server),
                    &minted,
                    login.return_to.as_deref(),
                ),
            ))
        }
        Err(e) => {
            let again = login_url(
                rt,
                &target.name,
                login.return_to.as_deref(),
                login.brand_id.as_deref(),
            );
            (
                jar,
                refuse(
                    route,
                    Some(&target.name),
                    Some(source.name()),
                    &e,
                    Some(&again),
                ),
            )
                .into_response()
        }
    }
}

/// An OAuth error code from a callback (RFC 6749 §4.1.2.1, OpenID Connect
/// Core §3.1.2.6), or "an error" for anything else.
fn oauth_error_name(error: &str) -> String {
    const KNOWN: [&str; 12] = [
        "invalid_request",
        "unauthorized_client",
        "access_denied",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
        "request_not_supported",
    ];
    KNOWN
        .iter()
        .find(|k| **k == error)
        .map_or_else(|| "an error".to_owned(), |k| (*k).to_owned())
}

/// At most `max` characters of an upstream string, for a message.
fn short_text(s: &str, max: usize) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

async fn logout(
    rt: Rt,
    SsoTarget(target): SsoTarget,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = params(query.as_deref());
    if p.get("kind").is_some_and(|k| k == "error") {
        let message = p.get("message").map(String::as_str).unwrap_or_default();
        let entry = catalog::explain(message);
        // Anyone can send a browser here with any message: the log keeps
        // a bounded number of lines a minute, the rest are only counted.
        if WARN_BUDGET.take() {
            tracing::warn!(
                target = %target.name,
                catalog = entry.map_or("unknown", |e| e.id),
                message = ?short_text(message, 200),
                "Zendesk refused a sign-in"
            );
        }
        let return_to = return_to::accept(p.get("return_to").map(String::as_str), &target);
        let again = login_url(
            &rt,
            &target.name,
            return_to.as_deref(),
            small_id(p.get("brand_id")).as_deref(),
        );
        return Outcome::ok(Label::SsoLogout, &target.name, "", "zendesk_error")
            .attach(pages::zendesk_error(entry, &again));
    }
    let (key, names) = cookies(&rt);
    let jar = PrivateCookieJar::from_headers(&headers, key);
    let last = pending::last(&jar, names);
    let jar = pending::clear(jar, names);
    let done = Outcome::ok(Label::SsoLogout, &target.name, "", "ok");
    if target.upstream_logout
        && let Some(last) = last.filter(|l| l.target == target.name)
        && let Ok(route) = sso::browser_source(&target, &last.source)
        && let Some(sign_in) = SignIn::of(&route.source)
        && let Some(to) = sign_in
            .end_session_url(target.after_logout_url.as_deref())
            .await
    {
        return done.attach((jar, redirect(StatusCode::SEE_OTHER, &to)));
    }
    match &target.after_logout_url {
        Some(to) => done.attach((jar, redirect(StatusCode::SEE_OTHER, to))),
        None => done.attach((
            jar,
            pages::signed_out(&login_url(&rt, &target.name, None, None)),
        )),
    }
}

/// A few log lines a minute, for events anyone can cause at will.
struct LogBudget {
    /// The minute (since the epoch) the count is for, and the count.
    window: std::sync::Mutex<(u64, u32)>,
    per_minute: u32,
}

impl LogBudget {
    /// Whether one more line may be written this minute.
    fn take(&self) -> bool {
        let minute = u64::try_from(crate::source::now()).unwrap_or(0) / 60;
        let Ok(mut w) = self.window.lock() else {
            return false;
        };
        if w.0 != minute {
            *w = (minute, 0);
        }
        w.1 = w.1.saturating_add(1);
        w.1 <= self.per_minute
    }
}

static WARN_BUDGET: LogBudget = LogBudget {
    window: std::sync::Mutex::new((0, 0)),
    per_minute: 20,
};

#[cfg(test)]
mod tests {
    use super::LogBudget;

    /// A link anyone can send cannot flood the log: the WARN lines about
    /// Zendesk's messages stop at the budget within a minute.
    #[test]
    fn zendesk_error_links_cannot_flood_the_warn_log() {
        let budget = LogBudget {
            window: std::sync::Mutex::new((0, 0)),
            per_minute: 20,
        };
        let written = (0..10_000).filter(|_| budget.take()).count();
        // 20 a minute; 40 if the minute turned during the loop.
        assert!((20..=40).contains(&written), "{written}");
    }
}
