//! The pages of the browser sign-in: the chooser, a dev source's user
//! list, the page that POSTs the JWT to Zendesk, the explanation of
//! Zendesk's refusal, and the signed-out page. Every value is escaped by
//! [`Html`]; the handlers in `http/sso.rs` decide which page, these only
//! draw it.

use super::{Html, Page, origin_of};
use crate::config::{DevUser, TargetConfig};
use crate::source::Source;
use crate::sso::PendingLogin;
use crate::sso::catalog;
use crate::target::Minted;

/// The chooser: one button per browser source, each a link to `href`.
pub fn chooser(choices: &[(&Source, String)]) -> Page {
    let mut b = Html::new();
    b.raw("<h1>Sign in</h1><p class=\"muted\">Choose how you sign in to continue to the help center.</p><ul class=\"choices\">");
    for (s, href) in choices {
        b.raw("<li><a class=\"button\" id=\"source-")
            .text(s.name())
            .raw("\" href=\"")
            .text(href)
            .raw("\">")
            .text(&s.config.label);
        if !s.config.domains.is_empty() {
            b.raw("<small>")
                .text(&s.config.domains.join(", "))
                .raw("</small>");
        }
        b.raw("</a></li>");
    }
    b.raw("</ul>");
    Page::new("Sign in", b)
}

/// After the remote logout URL, without `after_logout_url`.
pub fn signed_out(login_url: &str) -> Page {
    let mut b = Html::new();
    b.raw("<h1>You are signed out</h1><p><a class=\"button\" href=\"")
        .text(login_url)
        .raw("\">Sign in again</a></p>");
    Page::new("Signed out", b)
}

/// A dev source's user list: one submit button per user, posting the
/// sign-in's `state` and the user's id to `action`.
pub fn dev_users(action: &str, source: &Source, users: &[DevUser], login: &PendingLogin) -> Page {
    let mut b = Html::new();
    b.raw("<h1>Sign in as…</h1><p class=\"muted\">")
        .text(&source.config.label)
        .raw(": a development source with no passwords. Never use it in production.</p><form method=\"post\" action=\"")
        .text(action)
        .raw("\"><input type=\"hidden\" name=\"state\" value=\"")
        .text(&login.state)
        .raw("\"><ul class=\"choices\">");
    for u in users {
        b.raw("<li><button type=\"submit\" name=\"user\" id=\"user-")
            .text(&u.id)
            .raw("\" value=\"")
            .text(&u.id)
            .raw("\">")
            .text(u.name.as_deref().unwrap_or(&u.id))
            .raw("<small>")
            .text(u.email.as_deref().unwrap_or("no email"))
            .raw("</small></button></li>");
    }
    b.raw("</ul></form>");
    Page::new("Sign in", b)
}

/// Submits the form by itself; the button is there for browsers without
/// script.
const AUTO_SUBMIT: &str = "document.getElementById('zendesk-post').submit();";

/// The page that POSTs `jwt` (and `return_to`) to Zendesk's `/access/jwt`
/// (or `access_url`, or the sandbox). The token is in the form body only.
pub fn post_to_zendesk(
    target: &TargetConfig,
    action: &str,
    minted: &Minted,
    return_to: Option<&str>,
    sealed_report: Option<&str>,
) -> Page {
    let mut b = Html::new();
    b.raw("<h1>Signing you in…</h1><form method=\"post\" id=\"zendesk-post\" action=\"")
        .text(action)
        .raw("\"><input type=\"hidden\" name=\"jwt\" value=\"")
        .text(&minted.jwt)
        .raw("\">");
    if let Some(r) = return_to {
        b.raw("<input type=\"hidden\" name=\"return_to\" value=\"")
            .text(r)
            .raw("\">");
    }
    if let Some(sealed) = sealed_report {
        b.raw("<input type=\"hidden\" name=\"zenbridge_report\" value=\"")
            .text(sealed)
            .raw("\">");
    }
    b.raw("<p class=\"muted\">You are being sent on to Zendesk. If nothing happens, press the button.</p><p><button type=\"submit\">Continue to Zendesk</button></p></form>");
    let mut page = Page::new("Signing you in", b);
    page.script = Some(AUTO_SUBMIT);
    page.form_action = form_origins(target, action);
    page
}

/// Where the POST to Zendesk may go, and where Zendesk may redirect it:
/// the access URL, the account's Zendesk host, and the `return_to_hosts`.
fn form_origins(target: &TargetConfig, action: &str) -> Vec<String> {
    let mut out: Vec<String> = origin_of(action).into_iter().collect();
    if let Some(s) = &target.subdomain {
        out.push(format!("https://{s}.zendesk.com"));
    }
    out.extend(
        target
            .return_to_hosts
            .iter()
            .map(|h| format!("https://{h}")),
    );
    out.sort();
    out.dedup();
    out
}

/// The page after Zendesk refused a sign-in. Only the catalog's own words
/// are shown: the `message` comes from a link anyone can write, so it is
/// never put in front of the person (the log has it).
pub fn zendesk_error(entry: Option<&catalog::Entry>, again: &str) -> Page {
    let mut b = Html::new();
    b.raw("<h1>Zendesk did not sign you in</h1><p class=\"sentence\" id=\"summary\">");
    match entry {
        Some(e) => b.text(e.summary),
        None => b.raw(
            "Zendesk refused the sign-in with a reason zenbridge does not recognise. Your administrator finds it in zenbridge's log.",
        ),
    };
    b.raw("</p>");
    if let Some(e) = entry {
        b.raw("<h2>For the administrator</h2><p id=\"fix\">")
            .text(e.fix)
            .raw("</p>");
    }
    b.raw("<p class=\"code\">error_code: <code id=\"error-code\">")
        .text(crate::error::ErrorCode::LoginFailed.as_str())
        .raw("</code></p><p><a class=\"button\" id=\"try-again\" href=\"")
        .text(again)
        .raw("\">Try again</a></p>");
    Page::new("Sign-in failed", b)
}
