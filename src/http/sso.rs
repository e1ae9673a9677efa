//! Browser sign-in (targets of kind `sso`), the HTTP side: each handler
//! reads its request, calls one step of [`crate::sso::flow`], and renders
//! what it returns; one middleware ([`super::outcome::record`]) counts and
//! logs the outcome each attaches.
//! - `GET /sso/{target}/login` — Zendesk's remote login URL: straight to
//!   the one browser source, to the source `source` names or the
//!   `login_hint` domain picks, else a chooser page.
//! - `GET /sso/{target}/login/{source}` — starts the sign-in: a redirect to
//!   the provider, or a list of users to choose from.
//! - `POST /sso/{target}/login/{source}` — the user list's form (`state`,
//!   `user`): finishes like the callback.
//! - `GET /callback` — the OIDC redirect URI: state, code, ID token, then a
//!   page that POSTs the target's JWT to Zendesk.
//! - `GET /sso/{target}/logout` — Zendesk's remote logout URL: explains a
//!   failed sign-in (`kind=error`), or clears our cookies and redirects.
//! - `GET|POST /sso/{target}/from/{source}/access/jwt` — where a legacy
//!   app that speaks Zendesk's JWT SSO sends its token (`jwt`,
//!   `return_to`: the query of a GET, the form of a POST), as it would to
//!   `https://{subdomain}.zendesk.com/access/jwt`: finishes like the
//!   callback. Its query holds a token: spans never log a query
//!   (`request_id.rs`), and every page is `Referrer-Policy: no-referrer`.
//!
//! The user list's form needs no separate CSRF token: its `state` is
//! random, sits in the sealed pending-login cookie of this browser
//! (`SameSite=Lax`), and is finished once; a page elsewhere can neither
//! read it nor send it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_extra::extract::cookie::PrivateCookieJar;

use super::outcome::Outcome;
use super::pages::{self, Page};
use super::{AppState, ClientIp, Rt, read_body};
use crate::gateway::{Runtime, Target};
use crate::metrics::Route as Label;
use crate::source::Source;
use crate::sso::flow::{self, Finished, LoginQuery, Next, Shown, Started, Stopped, Visit};
use crate::sso::pending::{self, Missing, PendingLogin};
use crate::sso::{self, catalog, return_to};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sso/{target}/login", get(login))
        .route("/sso/{target}/login/{source}", get(start).post(dev_submit))
        .route("/callback", get(callback))
        .route("/sso/{target}/logout", get(logout))
        .route(
            "/sso/{target}/from/{source}/access/jwt",
            get(access_jwt).post(access_jwt),
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

/// The browser's sealed cookies, opened with the keys of the request's
/// config (derived once per config load).
fn jar(rt: &Runtime, headers: &HeaderMap) -> PrivateCookieJar {
    rt.cookies.jar(headers)
}

/// The pending login of the request's `state`, removed from the jar.
fn take(
    rt: &Runtime,
    jar: PrivateCookieJar,
    state: Option<&String>,
) -> (PrivateCookieJar, Option<Result<PendingLogin, Missing>>) {
    match state.filter(|s| !s.is_empty()) {
        Some(s) => {
            let (jar, found) = pending::take(jar, rt.cookies.names, s, crate::source::now());
            (jar, Some(found))
        }
        None => (jar, None),
    }
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
        } else if parts.uri.path().ends_with("/access/jwt") {
            Label::SsoJwt
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
            .map_err(|e| refuse(label, &e.into()))
    }
}

/// A refusal page, with its outcome attached for the metrics and the log.
fn refuse(route: Label, s: &Stopped) -> Response {
    let code = s.error.code();
    let sentence = s.error.to_string();
    let mut page = Page::error(code, &sentence, s.try_again.as_deref());
    if let Some(report) = &s.report {
        let report = serde_json::to_value(report).unwrap_or_default();
        page.body.html(&pages::report::section(&report));
    }
    Outcome::refused(
        route,
        s.target.as_deref(),
        s.source.as_deref(),
        code,
        sentence.clone(),
    )
    .attach(page)
}

async fn login(
    rt: Rt,
    ip: ClientIp,
    SsoTarget(target): SsoTarget,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let q = LoginQuery::read(&params(query.as_deref()), &target);
    let visit = Visit {
        rt: &rt,
        ip: ip.0,
        headers: &headers,
    };
    match flow::login(&visit, &target, q).await {
        Ok(Shown::Started(started)) => begun(&rt, &headers, &target, *started),
        Ok(Shown::Chooser(choices)) => {
            let choices: Vec<(&Source, String)> = choices
                .iter()
                .map(|(r, href)| (r.source.as_ref(), href.clone()))
                .collect();
            Outcome::ok(Label::SsoLogin, &target.name, "", "chooser")
                .attach(pages::chooser(&choices))
        }
        Err(stopped) => refuse(Label::SsoLogin, &stopped),
    }
}

async fn start(
    rt: Rt,
    ip: ClientIp,
    SsoTarget(target): SsoTarget,
    Path((_, source_name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let q = LoginQuery::read(&params(query.as_deref()), &target);
    let visit = Visit {
        rt: &rt,
        ip: ip.0,
        headers: &headers,
    };
    match flow::start(&visit, &target, &source_name, q).await {
        Ok(started) => begun(&rt, &headers, &target, started),
        Err(stopped) => refuse(Label::SsoLogin, &stopped),
    }
}

/// A sign-in that began: its pending login in its own sealed cookie, and
/// the redirect to the provider or the user list; or, the source knowing
/// the person already, the page that posts the JWT (no pending login).
fn begun(rt: &Runtime, headers: &HeaderMap, target: &Target, s: Started) -> Response {
    let page = match s.next {
        Next::Finished(done) => {
            return finished(rt, jar(rt, headers), Label::SsoLogin, Ok(*done));
        }
        Next::Redirect(to) => redirect(StatusCode::SEE_OTHER, to.as_str()),
        Next::HandOff(to) => {
            // Nothing to keep: the answer comes back with its own proof.
            return Outcome::ok(
                Label::SsoLogin,
                &target.name,
                s.route.source.name(),
                "started",
            )
            .attach(redirect(StatusCode::SEE_OTHER, to.as_str()));
        }
        Next::ChooseUser { action, users } => {
            pages::dev_users(&action, &s.route.source, &users, &s.login).into_response()
        }
    };
    let jar = pending::store(jar(rt, headers), rt.cookies.names, &s.login);
    Outcome::ok(
        Label::SsoLogin,
        &target.name,
        s.route.source.name(),
        "started",
    )
    .attach((jar, page))
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
    let limit = rt.config.server.max_body_bytes;
    let form = match read_body(body, limit, super::error::Dialect::Bearer).await {
        Ok(b) => params(std::str::from_utf8(&b).ok()),
        Err(e) => return Page::error(e.code, &e.description, None).into_response(),
    };
    let (jar, found) = take(&rt, jar(&rt, &headers), form.get("state"));
    let user = form.get("user").map(String::as_str).unwrap_or_default();
    let visit = Visit {
        rt: &rt,
        ip: ip.0,
        headers: &headers,
    };
    let shared = state.shared();
    let result = flow::dev_form(
        &visit,
        &shared.store,
        &shared.oidc_http,
        target,
        &source_name,
        found,
        user,
    )
    .await;
    finished(&rt, jar, Label::SsoDevLogin, result)
}

async fn callback(
    State(state): State<AppState>,
    rt: Rt,
    RawQuery(query): RawQuery,
    ip: ClientIp,
    headers: HeaderMap,
) -> Response {
    let p = params(query.as_deref());
    let (jar, found) = take(&rt, jar(&rt, &headers), p.get("state"));
    let visit = Visit {
        rt: &rt,
        ip: ip.0,
        headers: &headers,
    };
    let shared = state.shared();
    let result = flow::callback(&visit, &shared.store, &shared.oidc_http, found, &p).await;
    finished(&rt, jar, Label::SsoCallback, result)
}

/// A legacy app's Zendesk JWT (`jwt`, `return_to`), from the query of a
/// GET or the form of a POST (whose fields win over its query).
#[allow(clippy::too_many_arguments)]
async fn access_jwt(
    State(state): State<AppState>,
    rt: Rt,
    ip: ClientIp,
    SsoTarget(target): SsoTarget,
    Path((_, source_name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut p = params(query.as_deref());
    if method == axum::http::Method::POST {
        let limit = rt.config.server.max_body_bytes;
        match read_body(body, limit, super::error::Dialect::Bearer).await {
            Ok(b) => p.extend(params(std::str::from_utf8(&b).ok())),
            Err(e) => return Page::error(e.code, &e.description, None).into_response(),
        }
    }
    let visit = Visit {
        rt: &rt,
        ip: ip.0,
        headers: &headers,
    };
    let result = flow::arrival(
        &visit,
        &state.shared().store,
        target,
        &source_name,
        p.get("jwt").map(String::as_str),
        p.get("return_to").map(String::as_str),
    )
    .await;
    finished(&rt, jar(&rt, &headers), Label::SsoJwt, result)
}

/// A sign-in that finished: the page that posts the JWT to Zendesk, and
/// the last sign-in remembered for `upstream_logout`; or the refusal.
fn finished(
    rt: &Runtime,
    jar: PrivateCookieJar,
    route: Label,
    result: Result<Finished, Stopped>,
) -> Response {
    match result {
        Ok(f) => {
            let jar = pending::remember(jar, rt.cookies.names, &f.last);
            // The sandbox shows the report: it travels sealed in the form.
            let sealed = f
                .report
                .as_ref()
                .filter(|_| f.target.sandbox)
                .and_then(|r| serde_json::to_value(r).ok())
                .and_then(|r| {
                    crate::sso::sandbox::seal_report(
                        rt.cookies.key.encryption(),
                        &f.target.name,
                        &r,
                    )
                });
            let page = pages::post_to_zendesk(
                &f.target,
                &f.access_url,
                &f.minted,
                f.return_to.as_deref(),
                sealed.as_deref(),
            );
            Outcome::ok(route, &f.target.name, f.route.source.name(), "ok").attach((jar, page))
        }
        Err(stopped) => (jar, refuse(route, &stopped)).into_response(),
    }
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
                message = %flow::short_text(message, 200),
                "Zendesk refused a sign-in"
            );
        }
        let return_to = return_to::accept(p.get("return_to").map(String::as_str), &target);
        let again = flow::login_url(
            &rt,
            &target.name,
            return_to.as_deref(),
            flow::small_id(p.get("brand_id")).as_deref(),
        );
        return Outcome::ok(Label::SsoLogout, &target.name, "", "zendesk_error")
            .attach(pages::zendesk_error(entry, &again));
    }
    let jar = jar(&rt, &headers);
    let last = pending::last(&jar, rt.cookies.names);
    let jar = pending::clear(jar, rt.cookies.names);
    let done = Outcome::ok(Label::SsoLogout, &target.name, "", "ok");
    match flow::after_logout(&target, last).await {
        Some(to) => done.attach((jar, redirect(StatusCode::SEE_OTHER, &to))),
        None => done.attach((
            jar,
            pages::signed_out(&flow::login_url(&rt, &target.name, None, None)),
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
