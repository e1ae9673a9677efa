//! `GET|POST /sandbox/{target}/access/jwt`: a stand-in for Zendesk's
//! `/access/jwt`, for `sso` targets with `sandbox = true` (404 for any
//! other). It checks the posted JWT as Zendesk would ([`crate::sso::sandbox`])
//! and shows the decoded claims with one pass/fail line per rule. A
//! sign-in of the demo ends here.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::outcome::Outcome;
use super::pages::{Html, Page};
use super::sso::params;
use super::{AppState, read_body};
use crate::error::ErrorCode;
use crate::metrics::Route;
use crate::sso::{return_to, sandbox};
use crate::target::TargetKind;

pub fn router() -> Router<AppState> {
    Router::new().route("/sandbox/{target}/access/jwt", get(access).post(access))
}

async fn access(
    State(state): State<AppState>,
    rt: super::Rt,
    Path(target_name): Path<String>,
    RawQuery(query): RawQuery,
    method: Method,
    body: Body,
) -> Response {
    let Some(target) = rt
        .target(&target_name)
        .filter(|t| t.kind == TargetKind::Sso && t.sandbox)
        .cloned()
    else {
        return Page::error(
            ErrorCode::TargetUnknown,
            &format!(
                "no sso target with sandbox = true is named {}",
                crate::gateway::shorten(&target_name)
            ),
            None,
        )
        .into_response();
    };
    let mut fields = params(query.as_deref());
    let from_query = fields.contains_key("jwt");
    if method == Method::POST {
        let limit = rt.config.server.max_body_bytes;
        match read_body(body, limit, super::error::Dialect::Bearer).await {
            Ok(b) => {
                for (k, v) in params(std::str::from_utf8(&b).ok()) {
                    fields.insert(k, v);
                }
            }
            Err(e) => return Page::error(e.code, &e.description, None).into_response(),
        }
    }
    let Some(jwt) = fields.get("jwt").filter(|j| !j.is_empty()) else {
        return Page::error(
            ErrorCode::RequestInvalid,
            "no token: Zendesk's /access/jwt expects a form POST with a `jwt` field",
            None,
        )
        .into_response();
    };
    let report = sandbox::inspect(
        jwt,
        rt.config.server.max_token_bytes,
        target.secret.expose().as_bytes(),
        crate::source::now(),
        &state.shared().store,
        &target.name,
    )
    .await;
    let passed = report.passed();
    let done = Outcome::ok(
        Route::Sandbox,
        &target.name,
        "",
        if passed { "ok" } else { "refused" },
    );

    let mut b = Html::new();
    b.raw("<h1>Zendesk sandbox</h1><p class=\"muted\">This page stands in for Zendesk's <code>/access/jwt</code>: target <code>")
        .text(&target.name)
        .raw("</code> has <code>sandbox = true</code>. It checks the token as Zendesk does.</p>");
    if passed {
        let who = report
            .payload
            .as_ref()
            .map(|p| {
                let get = |k: &str| {
                    p.get(k)
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_owned()
                };
                format!("{} <{}>", get("name"), get("email"))
            })
            .unwrap_or_default();
        b.raw("<p class=\"verdict pass\" id=\"verdict\" data-verdict=\"pass\">Every rule passes: Zendesk would sign in ")
            .text(&who)
            .raw(".</p>");
    } else {
        b.raw("<p class=\"verdict fail\" id=\"verdict\" data-verdict=\"fail\">Zendesk would refuse this token.</p>");
    }
    b.raw("<h2>Rules</h2><table id=\"rules\"><tbody>");
    for r in &report.rules {
        if r.passed {
            b.raw("<tr class=\"pass\"><td class=\"mark\">✓</td><th>");
        } else {
            b.raw("<tr class=\"fail\"><td class=\"mark\">✗</td><th>");
        }
        b.text(&r.rule)
            .raw("</th><td>")
            .text(&r.detail)
            .raw("</td></tr>");
    }
    b.raw("</tbody></table>");
    if target.explain_pages
        && let Some(explained) = fields.get(sandbox::REPORT_FIELD).and_then(|sealed| {
            rt.cookies
                .opening_keys()
                .find_map(|k| sandbox::open_report(k.encryption(), &target.name, sealed))
        })
    {
        b.html(&super::pages::report::section(&explained));
    }
    let mut notes = report.notes.clone();
    if from_query {
        notes.push(
            "the token came in the URL (GET): Zendesk's deprecated way, which leaks it into logs and history"
                .into(),
        );
    }
    if !notes.is_empty() {
        b.raw("<h2>Notes</h2><ul>");
        for n in &notes {
            b.raw("<li>").text(n).raw("</li>");
        }
        b.raw("</ul>");
    }
    let shown_return_to =
        match return_to::check(fields.get("return_to").map(String::as_str), &target) {
            Ok(Some(r)) => r,
            Ok(None) => "(none: Zendesk's home page)".to_owned(),
            Err(_) => "(a value the gateway would not have sent)".to_owned(),
        };
    b.raw("<p>return_to: <code id=\"return-to\">")
        .text(&shown_return_to)
        .raw("</code></p>");
    for (title, value) in [
        ("Header", &report.header),
        (
            "Claims",
            &report.payload.clone().map(serde_json::Value::Object),
        ),
    ] {
        if let Some(v) = value {
            b.raw("<h2>")
                .text(title)
                .raw("</h2><pre>")
                .text(&serde_json::to_string_pretty(v).unwrap_or_default())
                .raw("</pre>");
        }
    }
    b.raw("<p><a class=\"button\" href=\"")
        .text(&format!(
            "{}/sso/{}/login",
            rt.config.server.public_url.as_str().trim_end_matches('/'),
            target.name
        ))
        .raw("\">Sign in again</a></p>");
    let status = if passed {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    done.attach(Page::new("Zendesk sandbox", b).status(status))
}
