//! `GET /`: the landing page of `zenbridge demo`, merged into the router
//! only by the demo command ([`crate::demo_app`]). It walks a newcomer
//! through the two flows of the built-in config: the browser sign-in to
//! the sandbox help center, and the mobile SDK's token exchange.

use crate::source::SignIn;
use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::pages::{Html, Page};
use crate::target::TargetKind;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(landing))
}

async fn landing(rt: super::Rt) -> Response {
    let base = rt
        .config
        .server
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let sso = rt
        .config
        .targets
        .iter()
        .find(|t| t.kind == TargetKind::Sso)
        .map_or("helpcenter", |t| t.name.as_str());
    let sdk = rt
        .config
        .targets
        .iter()
        .find(|t| t.kind == TargetKind::Sdk)
        .map_or("mobile", |t| t.name.as_str());
    let dev = rt.sources.iter().find_map(|s| match &s.sign_in {
        Some(SignIn::Dev(d)) => Some(d),
        _ => None,
    });
    let dev_name = dev.map_or("demo", |d| d.name());
    let users: Vec<String> = dev
        .map(|d| {
            d.users
                .iter()
                .map(|u| u.name.clone().unwrap_or_else(|| u.id.clone()))
                .collect()
        })
        .unwrap_or_default();
    let login = format!("{base}/sso/{sso}/login?return_to=%2Fhc%2Fen-us");
    let curl = format!(
        "TOKEN=$(zenbridge dev-token --demo --source {dev_name} --user ada)\n\
         curl -s {base}/sdk/{sdk}/jwt --data-urlencode \"user_token=$TOKEN\""
    );

    let mut b = Html::new();
    b.raw("<h1>zenbridge demo</h1><p>zenbridge trusts your identity providers and turns their sign-ins and tokens into the JWTs Zendesk accepts. This demo runs on a built-in config: a development directory as the identity source (with ")
        .text(&users.join(" and "))
        .raw("), a help center target in <em>sandbox</em> mode, and a mobile SDK target. Nothing leaves this machine.</p>")
        .raw("<h2>1. Sign in to the help center</h2><p>Zendesk sends people who are not signed in to zenbridge's <em>remote login URL</em>. zenbridge lets them sign in at their identity provider (here, a list of demo users), maps the claims, signs a Zendesk JWT and has the browser POST it to Zendesk. In sandbox mode the POST ends on zenbridge's own stand-in for Zendesk, which checks the token as Zendesk does, rule by rule.</p><p><a class=\"button\" id=\"sign-in\" href=\"")
        .text(&login)
        .raw("\">Sign in to the sandbox help center</a></p><p class=\"muted\">Remote login URL: <code>")
        .text(&format!("{base}/sso/{sso}/login"))
        .raw("</code> · remote logout URL: <code>")
        .text(&format!("{base}/sso/{sso}/logout"))
        .raw("</code></p>")
        .raw("<h2>2. Trade an app's token for a Support SDK JWT</h2><p>The classic mobile SDK's JWT endpoint: Zendesk's servers POST the app's <code>user_token</code>, zenbridge answers <code>{\"jwt\": …}</code>. Try it with a token from the demo directory (in another terminal, from the same build):</p><pre id=\"curl\">")
        .text(&curl)
        .raw("</pre><p class=\"muted\">From a source checkout, use <code>cargo run --release --</code> in place of <code>zenbridge</code>. The answer's <code>jwt</code> is what the Support SDK would get.</p>")
        .raw("<h2>Next</h2><p>Write your own config (<code>config/zenbridge.example.toml</code> lists every key), check it with <code>zenbridge check</code>, and see what a token would become with <code>zenbridge explain</code>.</p>");
    Page::new("zenbridge demo", b).into_response()
}
