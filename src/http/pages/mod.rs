//! HTML pages: one layout, escaping by construction, and the headers every
//! page sends.
//!
//! [`Html`] only takes markup as `&'static str` (written in this crate);
//! every other string goes through [`Html::text`], which escapes it for
//! text and for quoted attribute values alike. So a value from a request, a
//! config or a token cannot become markup.
//!
//! Every page sends `Cache-Control: no-store`, `Referrer-Policy:
//! no-referrer`, `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`
//! and a Content-Security-Policy with `default-src 'none'`, a fresh random
//! nonce per response for its one `<style>` and its optional `<script>`,
//! `form-action` limited to `'self'` and the origins the page posts to,
//! `frame-ancestors 'none'` and `base-uri 'none'`.

pub mod report;
pub mod sso;

pub use sso::{chooser, dev_users, post_to_zendesk, signed_out, zendesk_error};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::ErrorCode;
use crate::http::error::{Dialect, status_of};

/// HTML under construction; see the module doc for the escaping rule.
#[derive(Debug, Default, Clone)]
pub struct Html(String);

impl Html {
    pub fn new() -> Self {
        Self::default()
    }

    /// Markup written in this crate.
    pub fn raw(&mut self, markup: &'static str) -> &mut Self {
        self.0.push_str(markup);
        self
    }

    /// Text (or an attribute value between double quotes), escaped.
    pub fn text(&mut self, text: &str) -> &mut Self {
        escape_into(&mut self.0, text);
        self
    }

    /// Another fragment built the same way.
    pub fn html(&mut self, other: &Html) -> &mut Self {
        self.0.push_str(&other.0);
        self
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Escapes `&`, `<`, `>`, `"` and `'`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// A whole page.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub title: String,
    pub body: Html,
    /// A script of this crate, run with the page's nonce.
    pub script: Option<&'static str>,
    /// Origins the page's forms post to, besides `'self'`.
    pub form_action: Vec<String>,
}

impl Page {
    pub fn new(title: impl Into<String>, body: Html) -> Self {
        Self {
            status: StatusCode::OK,
            title: title.into(),
            body,
            script: None,
            form_action: Vec::new(),
        }
    }

    #[must_use]
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// A refusal: the sentence and the `error_code`, and a way back when
    /// there is one.
    pub fn error(code: ErrorCode, sentence: &str, try_again: Option<&str>) -> Self {
        let mut b = Html::new();
        b.raw("<h1>Sign-in stopped</h1><p class=\"sentence\">")
            .text(&as_sentence(sentence))
            .raw("</p><p class=\"code\">error_code: <code id=\"error-code\">")
            .text(code.as_str())
            .raw("</code></p>");
        if let Some(id) = crate::http::request_id::current() {
            b.raw("<p class=\"muted\">Request id: <code id=\"request-id\">")
                .text(&id)
                .raw("</code> (give it to your administrator)</p>");
        }
        if let Some(href) = try_again {
            b.raw("<p><a class=\"button\" id=\"try-again\" href=\"")
                .text(href)
                .raw("\">Try again</a></p>");
        }
        Self::new("Sign-in stopped", b).status(page_status(code))
    }
}

/// An error message as a sentence: capital first letter, final stop.
fn as_sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// The status of a page refusing with `code`: the API's status, but 403
/// where the API says 401 (a page has no `WWW-Authenticate` challenge).
pub fn page_status(code: ErrorCode) -> StatusCode {
    match status_of(code, Dialect::Bearer).0 {
        StatusCode::UNAUTHORIZED => StatusCode::FORBIDDEN,
        s => s,
    }
}

/// The origin (`scheme://host[:port]`) of a URL, for `form-action`.
pub fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let o = u.origin();
    o.is_tuple().then(|| o.ascii_serialization())
}

fn nonce() -> String {
    let mut b = [0u8; 18];
    aws_lc_rs::rand::fill(&mut b).expect("the system RNG works");
    STANDARD.encode(b)
}

const STYLE: &str = "\
:root{color-scheme:light;--ink:#1f2933;--muted:#616e7c;--line:#d9e2ec;--accent:#03363d;--ok:#0b7a3e;--bad:#b42318}
*{box-sizing:border-box}
body{margin:0;background:#f5f7fa;color:var(--ink);font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}
main{max-width:44rem;margin:3rem auto;padding:2rem 2.25rem;background:#fff;border:1px solid var(--line);border-radius:12px;box-shadow:0 1px 3px rgba(0,0,0,.06)}
h1{font-size:1.45rem;margin:0 0 1rem}
h2{font-size:1.1rem;margin:1.75rem 0 .5rem}
p{margin:.6rem 0}
.muted,.code{color:var(--muted);font-size:.9rem}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85rem}
pre{background:#f0f4f8;border:1px solid var(--line);border-radius:8px;padding:.75rem 1rem;overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere}
.button,button{display:inline-block;font:inherit;font-weight:600;color:#fff;background:var(--accent);border:0;border-radius:8px;padding:.65rem 1.2rem;text-decoration:none;cursor:pointer}
.button:hover,button:hover{filter:brightness(1.2)}
ul.choices{list-style:none;padding:0;margin:1.25rem 0}
ul.choices li{margin:.6rem 0}
ul.choices .button,ul.choices button{width:100%;text-align:left}
ul.choices small{display:block;font-weight:400;opacity:.85}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
td,th{border-bottom:1px solid var(--line);padding:.45rem .5rem;text-align:left;vertical-align:top;font-size:.92rem}
td.mark{width:1.5rem;font-weight:700}
tr.pass td.mark{color:var(--ok)}
tr.fail td.mark{color:var(--bad)}
tr.fail td{background:#fff5f5}
.verdict{padding:.75rem 1rem;border-radius:8px;font-weight:600}
.verdict.pass{background:#e6f6ec;color:var(--ok)}
.verdict.fail{background:#fdecec;color:var(--bad)}
.sentence{font-size:1.05rem}
footer{max-width:44rem;margin:-2rem auto 2rem;color:var(--muted);font-size:.8rem;text-align:center}
";

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let nonce = nonce();
        let mut html = String::with_capacity(self.body.0.len() + STYLE.len() + 512);
        html.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><meta name=\"robots\" content=\"noindex\"><title>");
        escape_into(&mut html, &self.title);
        html.push_str(" · zenbridge</title><style nonce=\"");
        html.push_str(&nonce);
        html.push_str("\">");
        html.push_str(STYLE);
        html.push_str("</style></head><body><main>");
        html.push_str(&self.body.0);
        html.push_str("</main><footer>zenbridge</footer>");
        if let Some(script) = self.script {
            html.push_str("<script nonce=\"");
            html.push_str(&nonce);
            html.push_str("\">");
            html.push_str(script);
            html.push_str("</script>");
        }
        html.push_str("</body></html>\n");
        let mut form_action = String::from("'self'");
        for o in &self.form_action {
            // Origins come from parsed URLs: no space, quote or semicolon.
            if o.bytes()
                .all(|b| b.is_ascii_graphic() && b != b';' && b != b',' && b != b'\'')
            {
                form_action.push(' ');
                form_action.push_str(o);
            }
        }
        let csp = format!(
            "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src 'self' data:; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
        );
        let mut resp = (self.status, html).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        if let Ok(v) = HeaderValue::from_str(&csp) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every page sentence `docs/errors.md` quotes (a backticked sentence
    /// in a "Typical message" item that starts with a capital and ends
    /// with a stop) is what a page shows for some refusal, word for word:
    /// the docs cannot go stale.
    #[test]
    fn documented_page_sentences_are_the_pages_own() {
        use crate::sso::LoginError;
        use crate::sso::code_flow::FlowError;
        let refusals = [
            LoginError::NoneInProgress,
            LoginError::StateMismatch,
            LoginError::Expired,
            LoginError::Replayed,
            LoginError::TokenReused,
            LoginError::BeforeRecords("start again from the sign-in link"),
            LoginError::StateUnavailable,
            LoginError::NonceMismatch("differs"),
            LoginError::Provider {
                error: "access_denied".into(),
                description: " (the identity provider says: \u{201c}User did not consent\u{201d})"
                    .into(),
            },
            LoginError::UnknownUser {
                source_name: "demo".into(),
                user: "\"mallory\"".into(),
            },
            LoginError::Flow(FlowError::Refused {
                source_name: "op".into(),
                error: "invalid_grant".into(),
                description: " (\"grant request is invalid\")".into(),
            }),
        ];
        let shown: Vec<String> = refusals
            .iter()
            .map(|e| as_sentence(&e.to_string()))
            .collect();
        let doc = include_str!("../../../docs/errors.md");
        let mut items = Vec::new();
        let mut current: Option<String> = None;
        for line in doc.lines() {
            if line.starts_with("- **Typical message") {
                current = Some(line.to_owned());
            } else if let Some(c) = current.as_mut() {
                if line.starts_with("  ") {
                    c.push(' ');
                    c.push_str(line.trim());
                } else {
                    items.extend(current.take());
                }
            }
        }
        let quoted: Vec<&str> = items
            .iter()
            .flat_map(|i| i.split('`').skip(1).step_by(2))
            .filter(|q| q.starts_with(|c: char| c.is_ascii_uppercase()) && q.ends_with('.'))
            .collect();
        assert!(quoted.len() >= 8, "{quoted:?}");
        for q in quoted {
            assert!(
                shown.iter().any(|s| s == q),
                "docs/errors.md quotes a page sentence no refusal shows:\n  {q}\nthe pages show:\n  {}",
                shown.join("\n  ")
            );
        }
    }

    #[test]
    fn text_is_escaped_for_text_and_attributes() {
        let mut h = Html::new();
        h.raw("<a title=\"")
            .text("\"><script>x</script>'&")
            .raw("\">");
        assert_eq!(
            h.as_str(),
            "<a title=\"&quot;&gt;&lt;script&gt;x&lt;/script&gt;&#39;&amp;\">"
        );
    }

    #[test]
    fn every_page_has_a_fresh_nonce_and_the_security_headers() {
        let page = || {
            let mut p = Page::new("t", Html::new());
            p.script = Some("1");
            p.form_action = vec!["https://acme.zendesk.com".into()];
            p.into_response()
        };
        let (a, b) = (page(), page());
        let csp = |r: &Response| {
            r.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_ne!(csp(&a), csp(&b));
        assert!(csp(&a).contains("form-action 'self' https://acme.zendesk.com;"));
        assert!(csp(&a).contains("default-src 'none'"));
        assert_eq!(a.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(a.headers()[header::REFERRER_POLICY], "no-referrer");
    }
}
