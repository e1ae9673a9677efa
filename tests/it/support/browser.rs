//! A minimal "browser": a cookie-keeping client that does not follow
//! redirects by itself, and [`follow`], which walks redirects and
//! auto-submitting POST forms (oidc-provider's form_post pages, a gateway's
//! POST-to-Zendesk page) one hop at a time.

use std::time::Duration;

use url::Url;

/// Cookie store on, redirects off, 15 s timeout.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
        .expect("build reqwest client")
}

/// The `Cookie` header a browser would send back after `response`: each
/// `Set-Cookie`'s name=value, joined with `; ` (cookies by hand, for a
/// test that replays them or sends them elsewhere).
pub fn cookie_header(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One request made by [`follow`].
#[derive(Debug, Clone)]
pub struct Hop {
    pub method: &'static str,
    pub url: Url,
    pub status: u16,
}

const MAX_HOPS: usize = 25;

/// Starting with `GET start`, follows `Location` headers (3xx) and pages
/// that hold a `<form method="post">` (submitted with their hidden fields,
/// as their script would), until the next URL satisfies `stop`; that URL is
/// returned without being requested, with the hops made. `Err` when a
/// response is neither (its status and the start of its body), after 25
/// hops, or on a transport error.
pub async fn follow(
    client: &reqwest::Client,
    start: Url,
    stop: impl Fn(&Url) -> bool,
) -> Result<(Url, Vec<Hop>), String> {
    let mut hops = Vec::new();
    let mut next: (Url, Option<Vec<(String, String)>>) = (start, None);
    for _ in 0..MAX_HOPS {
        let (url, form) = next;
        if stop(&url) {
            return Ok((url, hops));
        }
        let (method, request) = match &form {
            None => ("GET", client.get(url.clone())),
            Some(fields) => ("POST", client.post(url.clone()).form(fields)),
        };
        let resp = request
            .send()
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let status = resp.status();
        hops.push(Hop {
            method,
            url: url.clone(),
            status: status.as_u16(),
        });
        if status.is_redirection() {
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| format!("{status} without Location at {method} {url}"))?;
            let target = url
                .join(location)
                .map_err(|e| format!("bad Location {location:?}: {e}"))?;
            next = (target, None);
            continue;
        }
        let body = resp.text().await.unwrap_or_default();
        if let Some((action, fields)) = parse_post_form(&body).filter(|_| status.is_success()) {
            let target = url
                .join(&action)
                .map_err(|e| format!("bad form action {action:?}: {e}"))?;
            next = (target, Some(fields));
            continue;
        }
        let snippet: String = body.chars().take(600).collect();
        return Err(format!(
            "{status} at {method} {url} (not a redirect nor a POST form), after:\n{}\n{snippet}",
            chain(&hops)
        ));
    }
    Err(format!("more than {MAX_HOPS} hops:\n{}", chain(&hops)))
}

/// The hops made, one a line, for a failure message.
fn chain(hops: &[Hop]) -> String {
    hops.iter()
        .map(|h| format!("  {} {} → {}", h.method, h.url, h.status))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first `<form method="post" action="…">` of an HTML page, with the
/// name/value pairs of its `<input>` elements (entities decoded). Good
/// enough for the machine-generated pages of the OP and the gateway; not an
/// HTML parser.
pub fn parse_post_form(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let lower = html.to_ascii_lowercase();
    let mut search = 0;
    while let Some(pos) = lower[search..].find("<form") {
        let start = search + pos;
        let tag_end = start + lower[start..].find('>')?;
        let tag = &html[start..=tag_end];
        let method = attr(tag, "method").unwrap_or_default();
        if method.eq_ignore_ascii_case("post") {
            let action = attr(tag, "action").unwrap_or_default();
            let form_end = lower[tag_end..]
                .find("</form")
                .map_or(html.len(), |p| tag_end + p);
            let fields = form_fields(&html[tag_end..form_end]);
            return Some((action, fields));
        }
        search = tag_end;
    }
    None
}

/// Name/value pairs of the `<input name=… value=…>` elements in `html`
/// (inputs without a name are skipped; a missing value is "").
pub fn form_fields(html: &str) -> Vec<(String, String)> {
    start_tags(html, "<input")
        .into_iter()
        .filter_map(|tag| Some((attr(tag, "name")?, attr(tag, "value").unwrap_or_default())))
        .collect()
}

/// The `href` of every `<a>` element in `html` (entities decoded), in
/// document order.
pub fn links(html: &str) -> Vec<String> {
    start_tags(html, "<a ")
        .into_iter()
        .filter_map(|tag| attr(tag, "href"))
        .collect()
}

/// The start tags beginning with `open` (lower case), in document order.
fn start_tags<'h>(html: &'h str, open: &str) -> Vec<&'h str> {
    let lower = html.to_ascii_lowercase();
    let mut tags = Vec::new();
    let mut search = 0;
    while let Some(pos) = lower[search..].find(open) {
        let start = search + pos;
        let Some(len) = lower[start..].find('>') else {
            break;
        };
        tags.push(&html[start..=start + len]);
        search = start + len;
    }
    tags
}

/// Value of attribute `name` in a start tag (quoted with " or ', or bare).
fn attr(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut from = 0;
    while let Some(pos) = lower[from..].find(name) {
        let at = from + pos;
        from = at + name.len();
        let before_ok = at > 0 && (bytes[at - 1].is_ascii_whitespace() || bytes[at - 1] == b'<');
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let value_start = from + (lower[from..].len() - rest.len()) + 1;
        let raw = tag[value_start..].trim_start();
        let value = match raw.chars().next() {
            Some(q @ ('"' | '\'')) => raw[1..].split(q).next().unwrap_or_default(),
            _ => raw
                .split(|c: char| c.is_ascii_whitespace() || c == '>')
                .next()
                .unwrap_or_default(),
        };
        return Some(decode_entities(value));
    }
    None
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';').filter(|&i| i <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        if let Some(c) = decoded {
            out.push(c);
            rest = &rest[semi + 1..];
        } else {
            out.push('&');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}
