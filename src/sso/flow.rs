//! The browser sign-in's steps, without HTTP: what the login URL, a
//! source's start link, the OIDC callback, the dev form and a legacy app's
//! unsolicited token ([`arrival`]) decide. Each
//! returns what the browser is shown next ([`Shown`], [`Started`],
//! [`Finished`]) or where the person is left ([`Stopped`]); `http/sso.rs`
//! reads the request, calls one of these, and renders the answer.
//!
//! Which kinds have a sign-in, and how each works, is the sources' own
//! business ([`SignIn`]); nothing here or in `http/` names a kind.
//!
//! Why this file is over 600 lines: every step of the sign-in and the one
//! tail they all end in (`complete`: the guard, the pipeline, the log
//! line, what is posted to Zendesk) are kept together, so the order of the
//! checks reads in one place. The query helpers at its end (`small_id`,
//! `login_hint`, `oauth_error_name`, `short_text`) are the part to move
//! out if it grows.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;

use axum::http::HeaderMap;
use url::Url;

use super::pending::{self, LastSignIn, Missing, PendingLogin};
use super::signin::{Answer, Begun, SignIn, Upstream};
use super::{
    LoginError, Proof, browser_source, browser_sources, by_login_hint, return_to, sso_target,
};
use crate::config::{DevUser, Refusal};
use crate::explain::Report;
use crate::gateway::{RequestInfo, Route, Runtime, Target};
use crate::pipeline::Quiet;
use crate::state::{FirstUse, Store};
use crate::target::{Endpoint, Minted};

/// What every step needs from the request: its runtime, its client's
/// address (past `trusted_proxies`) and its headers (a `session` source
/// reads the app's cookies there).
pub struct Visit<'a> {
    pub rt: &'a Runtime,
    pub ip: Option<IpAddr>,
    pub headers: &'a HeaderMap,
}

/// What the login URL (and a source's start link) carries, each value
/// checked: a `return_to` the target allows, numeric-looking ids, a
/// printable `login_hint`. Anything else is dropped, never echoed.
#[derive(Debug, Default)]
pub struct LoginQuery {
    /// `source`: the source chosen by name.
    pub source: Option<String>,
    pub return_to: Option<String>,
    pub brand_id: Option<String>,
    pub locale_id: Option<String>,
    pub login_hint: Option<String>,
}

impl LoginQuery {
    pub fn read<S: BuildHasher>(p: &HashMap<String, String, S>, target: &Target) -> Self {
        Self {
            source: p.get("source").cloned(),
            return_to: return_to::accept(p.get("return_to").map(String::as_str), target),
            brand_id: small_id(p.get("brand_id")),
            locale_id: small_id(p.get("locale_id")),
            login_hint: login_hint(p.get("login_hint")),
        }
    }
}

/// What the login URL shows.
pub enum Shown {
    /// The chooser: each browser source, with the link that starts it.
    Chooser(Vec<(Arc<Route>, String)>),
    /// A sign-in began at the one source there was, or the chosen one.
    Started(Box<Started>),
}

/// A sign-in that began: the pending login to keep in its sealed cookie,
/// and what the browser does next.
pub struct Started {
    pub route: Arc<Route>,
    pub login: PendingLogin,
    pub next: Next,
}

/// What a started sign-in asks of the browser.
pub enum Next {
    /// Go to the provider (`303`).
    Redirect(Url),
    /// Go to the app's login (`303`), keeping no pending login.
    HandOff(Url),
    /// Choose one of these users on a form that posts to `action`.
    ChooseUser { action: String, users: Vec<DevUser> },
    /// Nothing to ask: the person was signed in at the source already
    /// (a `session` source), and this is the JWT to post. No pending login
    /// is kept.
    Finished(Box<Finished>),
}

/// A sign-in that finished: the target's JWT, to be posted to `access_url`.
pub struct Finished {
    pub target: Arc<Target>,
    pub route: Arc<Route>,
    pub minted: Minted,
    pub access_url: String,
    pub return_to: Option<String>,
    /// For `upstream_logout`.
    pub last: LastSignIn,
    /// The `explain` report of the sign-in, when the target shows it
    /// (`explain_pages`).
    pub report: Option<Box<Report>>,
}

/// Where a refusal leaves the person: the reason, what it concerned (for
/// the metrics and the log), and a login URL to try again from when the
/// sign-in is known.
#[derive(Debug)]
pub struct Stopped {
    pub error: LoginError,
    pub target: Option<String>,
    pub source: Option<String>,
    pub try_again: Option<String>,
    /// The `explain` report of the sign-in, when the target shows it
    /// (`explain_pages`) and the sign-in got as far as a token.
    pub report: Option<Box<Report>>,
}

impl Stopped {
    fn new(error: LoginError) -> Self {
        Self {
            error,
            target: None,
            source: None,
            try_again: None,
            report: None,
        }
    }

    fn at(mut self, target: &str, source: Option<&str>) -> Self {
        self.target = Some(target.to_owned());
        self.source = source.map(str::to_owned);
        self
    }

    fn again(mut self, url: String) -> Self {
        self.try_again = Some(url);
        self
    }
}

impl From<LoginError> for Stopped {
    fn from(error: LoginError) -> Self {
        Self::new(error)
    }
}

/// Zendesk's remote login URL: the source `source` names, the only
/// browser source, or the one the `login_hint`'s domain picks — else the
/// chooser.
pub async fn login(v: &Visit<'_>, target: &Arc<Target>, q: LoginQuery) -> Result<Shown, Stopped> {
    let sources = browser_sources(target, q.brand_id.as_deref());
    if sources.is_empty() {
        let e = LoginError::SourceUnknown(format!(
            "target {:?} has no source a person can sign in with in a browser",
            target.name
        ));
        return Err(Stopped::new(e).at(&target.name, None));
    }
    let chosen = match &q.source {
        Some(name) => Some(
            browser_source(target, name, q.brand_id.as_deref())
                .map_err(|e| Stopped::new(e).at(&target.name, None))?,
        ),
        None if sources.len() == 1 => sources.first().cloned(),
        None => q
            .login_hint
            .as_deref()
            .and_then(|h| by_login_hint(&sources, h)),
    };
    if let Some(route) = chosen {
        return begin(v, target, &route, q)
            .await
            .map(|s| Shown::Started(Box::new(s)));
    }
    let mut carried = url::form_urlencoded::Serializer::new(String::new());
    for (k, val) in [
        ("return_to", &q.return_to),
        ("brand_id", &q.brand_id),
        ("locale_id", &q.locale_id),
        ("login_hint", &q.login_hint),
    ] {
        if let Some(val) = val {
            carried.append_pair(k, val);
        }
    }
    let carried = carried.finish();
    let choices = sources
        .into_iter()
        .map(|r| {
            let href = public(
                v.rt,
                &format!("/sso/{}/login/{}", target.name, r.source.name()),
            );
            let href = if carried.is_empty() {
                href
            } else {
                format!("{href}?{carried}")
            };
            (r, href)
        })
        .collect();
    Ok(Shown::Chooser(choices))
}

/// A source's start link (the chooser's buttons).
pub async fn start(
    v: &Visit<'_>,
    target: &Arc<Target>,
    source_name: &str,
    q: LoginQuery,
) -> Result<Started, Stopped> {
    let route = browser_source(target, source_name, q.brand_id.as_deref())
        .map_err(|e| Stopped::new(e).at(&target.name, None))?;
    begin(v, target, &route, q).await
}

/// Starts a sign-in at `route`'s source: a new pending login (fresh
/// `state` and `nonce`), and the provider's authorization URL, the dev
/// user list, or (a source that knows the person already) the JWT.
async fn begin(
    v: &Visit<'_>,
    target: &Arc<Target>,
    route: &Arc<Route>,
    q: LoginQuery,
) -> Result<Started, Stopped> {
    let source = &route.source;
    let stop = |e: LoginError| Stopped::new(e).at(&target.name, Some(source.name()));
    admit(target, v.ip).map_err(stop)?;
    let mut login = PendingLogin {
        target: target.name.clone(),
        source: source.name().to_owned(),
        state: pending::random_token(),
        nonce: pending::random_token(),
        pkce_verifier: None,
        return_to: q.return_to,
        brand_id: q.brand_id,
        locale_id: q.locale_id,
        issuer: Some(source.config.issuer.clone()),
        expires_at: crate::source::now() + i64::try_from(pending::TTL.as_secs()).unwrap_or(600),
    };
    let again = retry(v.rt, &login);
    let sign_in = SignIn::of(source).ok_or_else(|| {
        stop(LoginError::SourceUnknown(format!(
            "source {:?} has no browser sign-in",
            source.name()
        )))
    })?;
    let next = match sign_in
        .start(
            &v.rt.config.server,
            v.headers,
            &mut login,
            q.login_hint.as_deref(),
        )
        .await
    {
        Ok(Begun::Redirect(to)) => Next::Redirect(to),
        Ok(Begun::HandOff(to)) => Next::HandOff(to),
        Ok(Begun::ChooseUser(users)) => Next::ChooseUser {
            action: public(
                v.rt,
                &format!("/sso/{}/login/{}", target.name, source.name()),
            ),
            users: users.to_vec(),
        },
        Ok(Begun::SignedIn(claims)) => {
            let upstream = Upstream::Checked(claims);
            let done = conclude(v, target.clone(), route, login.clone(), upstream).await?;
            Next::Finished(Box::new(done))
        }
        Err(e) => return Err(stop(e).again(again)),
    };
    Ok(Started {
        route: route.clone(),
        login,
        next,
    })
}

/// The OIDC redirect URI: the provider's answer to the pending login of
/// its `state` (`found`: the cookie lookup; `None` without a `state`).
pub async fn callback<S: BuildHasher>(
    v: &Visit<'_>,
    store: &Store,
    http: &reqwest::Client,
    found: Option<Result<PendingLogin, Missing>>,
    p: &HashMap<String, String, S>,
) -> Result<Finished, Stopped> {
    if let Some(error) = p.get("error") {
        // The provider ended the sign-in: say why, offer a retry. A link
        // anyone can write: the provider's words are shown only for a
        // sign-in this browser started, and then marked as theirs.
        let login = found.and_then(Result::ok);
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
        let mut stopped = Stopped::new(e);
        if let Some(l) = login {
            stopped = stopped
                .at(&l.target, Some(&l.source))
                .again(retry(v.rt, &l));
        }
        return Err(stopped);
    }
    let login = once(store, found.ok_or(LoginError::StateMismatch)?).await?;
    let stop = |e: LoginError| {
        Stopped::new(e)
            .at(&login.target, Some(&login.source))
            .again(retry(v.rt, &login))
    };
    let target = sso_target(v.rt, &login.target).map_err(stop)?;
    let route = browser_source(&target, &login.source, login.brand_id.as_deref()).map_err(stop)?;
    let answer = Answer::Callback {
        code: p.get("code").map(String::as_str),
        iss: p.get("iss"),
    };
    finish(v, http, target, &route, login, &answer).await
}

/// The dev source's form: the user chosen for the pending login of its
/// `state` (`found`: the cookie lookup; `None` without a `state`).
pub async fn dev_form(
    v: &Visit<'_>,
    store: &Store,
    http: &reqwest::Client,
    target: Arc<Target>,
    source_name: &str,
    found: Option<Result<PendingLogin, Missing>>,
    user: &str,
) -> Result<Finished, Stopped> {
    let stop = |e: LoginError, source: Option<&str>| Stopped::new(e).at(&target.name, source);
    // The brand is the pending login's, checked when it is read below.
    let route = match browser_source(&target, source_name, None) {
        Ok(r) if SignIn::of(&r.source).is_some_and(SignIn::has_user_list) => r,
        Ok(_) => {
            let e = LoginError::SourceUnknown(format!(
                "source {source_name:?} has no sign-in form: it is not a dev source"
            ));
            return Err(stop(e, None).again(login_url(v.rt, &target.name, None, None)));
        }
        Err(e) => return Err(stop(e, None).again(login_url(v.rt, &target.name, None, None))),
    };
    let source = route.source.name();
    let Some(Ok(login)) = found else {
        let e = match found {
            Some(Err(missing)) => missing_error(missing),
            _ => LoginError::StateMismatch,
        };
        return Err(stop(e, Some(source)).again(login_url(v.rt, &target.name, None, None)));
    };
    // Whose sign-in this is, before it is marked as used: a form posted to
    // another target's or source's path finishes nothing and uses up
    // nothing.
    if login.target != target.name
        || login.source != source
        || !target.brand_allows(login.brand_id.as_deref(), source)
    {
        return Err(stop(LoginError::StateMismatch, Some(source)).again(retry(v.rt, &login)));
    }
    let login = once(store, Ok(login))
        .await
        .map_err(|s| s.again(login_url(v.rt, &target.name, None, None)))?;
    finish(v, http, target.clone(), &route, login, &Answer::User(user)).await
}

/// The pending login, marked as finished in the state store, so that it
/// is finished at most once.
async fn once(
    store: &Store,
    found: Result<PendingLogin, Missing>,
) -> Result<PendingLogin, Stopped> {
    let login = found.map_err(missing_error)?;
    let again = |e: LoginError, l: &PendingLogin| Stopped::new(e).at(&l.target, Some(&l.source));
    let started = login
        .expires_at
        .saturating_sub(i64::try_from(pending::TTL.as_secs()).unwrap_or(600));
    match store
        .first_use(&format!("login:{}", login.state), pending::TTL, started)
        .await
    {
        Ok(FirstUse::Yes) => Ok(login),
        Ok(FirstUse::Again) => Err(again(LoginError::Replayed, &login)),
        Ok(FirstUse::Forgotten) => Err(again(
            LoginError::BeforeRecords("start again from the sign-in link"),
            &login,
        )),
        Err(e) => {
            tracing::warn!(error = %e, "state store unavailable: sign-in not finished");
            Err(again(LoginError::StateUnavailable, &login))
        }
    }
}

fn missing_error(missing: Missing) -> LoginError {
    match missing {
        Missing::NoneInProgress => LoginError::NoneInProgress,
        Missing::OtherState => LoginError::StateMismatch,
        Missing::Expired => LoginError::Expired,
    }
}

/// The source's answer turned into its ID token, then the pipeline: the
/// target's JWT for the page that posts it to Zendesk.
async fn finish(
    v: &Visit<'_>,
    http: &reqwest::Client,
    target: Arc<Target>,
    route: &Arc<Route>,
    login: PendingLogin,
    answer: &Answer<'_>,
) -> Result<Finished, Stopped> {
    let source = &route.source;
    let stop = |e: LoginError| stopped_at(v.rt, &target, source.name(), &login, e);
    let sign_in = SignIn::of(source).ok_or_else(|| stop(LoginError::StateMismatch))?;
    let upstream = sign_in
        .finish(&v.rt.config.server, http, v.headers, &login, answer)
        .await
        .map_err(stop)?;
    conclude(v, target, route, login, upstream).await
}

/// What the source said for the sign-in `login` started, through
/// [`complete`].
async fn conclude(
    v: &Visit<'_>,
    target: Arc<Target>,
    route: &Arc<Route>,
    login: PendingLogin,
    upstream: Upstream,
) -> Result<Finished, Stopped> {
    let again = retry(v.rt, &login);
    let signed_in = SignedIn {
        target,
        route,
        brand_id: login.brand_id.clone(),
        locale_id: login.locale_id.clone(),
        return_to: login.return_to.clone(),
        again,
    };
    complete(v, signed_in, &Proof::Pending(&login), upstream).await
}

/// A token a source's app sent unsolicited to
/// `…/sso/{target}/from/{source}/access/jwt` (the route's query or form:
/// `jwt`, `return_to`), as it sends it to Zendesk: no sign-in was started
/// here, and the signed, one-time token is the proof. Only a source whose
/// sign-in takes such tokens ([`SignIn::unsolicited`]) is reached this way.
pub async fn arrival(
    v: &Visit<'_>,
    store: &Store,
    target: Arc<Target>,
    source_name: &str,
    token: Option<&str>,
    return_to: Option<&str>,
) -> Result<Finished, Stopped> {
    let return_to = return_to::accept(return_to, &target);
    let again = login_url(v.rt, &target.name, return_to.as_deref(), None);
    let stop = |e: LoginError, source: Option<&str>| {
        Stopped::new(e)
            .at(&target.name, source)
            .again(again.clone())
    };
    // Unsolicited: no brand_id arrives with the app's token.
    let route = browser_source(&target, source_name, None).map_err(|e| stop(e, None))?;
    let source = route.source.name();
    let Some(window) = SignIn::of(&route.source).and_then(SignIn::unsolicited) else {
        let e = LoginError::SourceUnknown(format!(
            "source {source:?} does not take sign-in tokens at …/access/jwt: it is not a zendesk_jwt source"
        ));
        return Err(stop(e, Some(source)));
    };
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(stop(
            LoginError::Incomplete("the request carries no jwt"),
            Some(source),
        ));
    };
    let signed_in = SignedIn {
        target: target.clone(),
        route: &route,
        brand_id: None,
        locale_id: None,
        return_to,
        again: again.clone(),
    };
    complete(
        v,
        signed_in,
        &Proof::OneTime { store, window },
        Upstream::IdToken(token.to_owned()),
    )
    .await
}

/// A sign-in whose upstream token is at hand: where it goes, and what it
/// carries on to Zendesk.
struct SignedIn<'r> {
    target: Arc<Target>,
    route: &'r Arc<Route>,
    brand_id: Option<String>,
    locale_id: Option<String>,
    return_to: Option<String>,
    /// The login URL to try again from.
    again: String,
}

/// The pipeline over a sign-in's upstream token: the target's JWT for the
/// page that posts it to Zendesk.
async fn complete(
    v: &Visit<'_>,
    s: SignedIn<'_>,
    proof: &Proof<'_>,
    upstream: Upstream,
) -> Result<Finished, Stopped> {
    let SignedIn {
        target,
        route,
        brand_id,
        locale_id,
        return_to,
        again,
    } = s;
    let source = &route.source;
    let stop = |e: LoginError| {
        Stopped::new(e)
            .at(&target.name, Some(source.name()))
            .again(again.clone())
    };
    admit(&target, v.ip).map_err(stop)?;
    let token = match &upstream {
        Upstream::IdToken(t) => crate::gateway::token_hash(t),
        Upstream::Checked(_) => String::new(),
    };
    let req = RequestInfo {
        ip: v.ip.map(|i| i.to_string()),
        brand_id,
        locale_id,
    };
    let mut report = target.explain_pages.then(|| Box::new(Report::of(&target)));
    let finished = match report.as_deref_mut() {
        Some(r) => super::finish(v.rt, &target, route, proof, upstream, &req, r).await,
        None => super::finish(v.rt, &target, route, proof, upstream, &req, &mut Quiet).await,
    };
    let (minted, subject) = match finished {
        Ok(f) => f,
        Err(e) => {
            if let Some(r) = report.as_deref_mut() {
                r.refused = Some(crate::explain::Refusal::of(e.code(), e.to_string()));
            }
            let mut stopped = stop(e);
            stopped.report = report;
            return Err(stopped);
        }
    };
    tracing::info!(
        target = %target.name,
        source = %source.name(),
        subject = %subject.as_deref().map(crate::gateway::subject_hash).unwrap_or_default(),
        token = %token,
        "browser sign-in finished"
    );
    Ok(Finished {
        access_url: target.access_url(&v.rt.config.server),
        last: LastSignIn {
            target: target.name.clone(),
            source: source.name().to_owned(),
        },
        route: route.clone(),
        minted,
        return_to,
        target,
        report,
    })
}

/// Where the browser goes after signing out: the provider's end-session
/// endpoint when the target asks for it and the last sign-in was through
/// an OIDC source that has one, else `after_logout_url`, else `None` (the
/// signed-out page).
pub async fn after_logout(target: &Target, last: Option<LastSignIn>) -> Option<String> {
    if target.upstream_logout
        && let Some(last) = last.filter(|l| l.target == target.name)
        && let Ok(route) = browser_source(target, &last.source, None)
        && let Some(sign_in) = SignIn::of(&route.source)
        && let Some(to) = sign_in
            .end_session_url(target.after_logout_url.as_deref())
            .await
    {
        return Some(to);
    }
    target.after_logout_url.clone()
}

/// The target's guard for the browser sign-in (its `endpoints` and
/// `allowed_ips`), in the words of a sign-in page.
fn admit(target: &Target, ip: Option<IpAddr>) -> Result<(), LoginError> {
    target.admits(Endpoint::Browser, ip).map_err(|refusal| {
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

/// `{public_url}{path}`: links and redirects work behind a path prefix.
pub fn public(rt: &Runtime, path: &str) -> String {
    format!(
        "{}{path}",
        rt.config.server.public_url.as_str().trim_end_matches('/')
    )
}

/// The target's login URL, carrying what the next try needs.
pub fn login_url(
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
    let base = public(rt, &format!("/sso/{target}/login"));
    if q.is_empty() {
        base
    } else {
        format!("{base}?{q}")
    }
}

/// A refusal of `login` at `target`'s `source`, with the login URL to try
/// again from.
fn stopped_at(
    rt: &Runtime,
    target: &Target,
    source: &str,
    login: &PendingLogin,
    e: LoginError,
) -> Stopped {
    Stopped::new(e)
        .at(&target.name, Some(source))
        .again(retry(rt, login))
}

/// The login URL to try `login` again from.
fn retry(rt: &Runtime, login: &PendingLogin) -> String {
    login_url(
        rt,
        &login.target,
        login.return_to.as_deref(),
        login.brand_id.as_deref(),
    )
}

/// Zendesk's `brand_id` and `locale_id` are numbers; anything else, or
/// anything long, is not passed on.
pub fn small_id(v: Option<&String>) -> Option<String> {
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
pub fn short_text(s: &str, max: usize) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}
