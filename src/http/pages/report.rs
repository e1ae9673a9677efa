//! The `explain` report of a sign-in as a page section: what the provider
//! sent, each rule, each mapped claim and where it came from, what the
//! trust model accepted, and the refusal. Shown by the sandbox page and
//! the sign-in's error pages of targets with `explain_pages` (on by
//! default in sandbox mode) — what an administrator needs to write the
//! mapping for a new provider.
//!
//! It renders the report's JSON form ([`crate::explain::Report`]
//! serialised), the same for a report made in this request and one the
//! sandbox received sealed in its form.

use serde_json::Value;

use super::Html;

/// The section, or an empty fragment for a report of another shape.
pub fn section(report: &Value) -> Html {
    let mut b = Html::new();
    let Some(r) = report.as_object() else {
        return b;
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    b.raw("<section id=\"explain\"><h2>What zenbridge did with this sign-in</h2>");
    if let Some(routing) = r.get("routing").and_then(Value::as_str) {
        b.raw("<p class=\"muted\">").text(routing).raw("</p>");
    }
    if let Some(checks) = r
        .get("checks")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
    {
        b.raw("<h3>Verification</h3><ul id=\"explain-checks\">");
        for c in checks.iter().filter_map(Value::as_str) {
            b.raw("<li>✓ ").text(c).raw("</li>");
        }
        b.raw("</ul>");
    }
    if let Some(claims) = r.get("upstream_claims").filter(|c| c.is_object()) {
        let verified = r.get("claims_verified").and_then(Value::as_bool) == Some(true);
        b.raw(if verified {
            "<h3>The provider's claims (verified)</h3>"
        } else {
            "<h3>The provider's claims (NOT verified)</h3>"
        });
        let pretty = serde_json::to_string_pretty(claims).unwrap_or_default();
        b.raw("<pre id=\"explain-upstream\">")
            .text(&pretty)
            .raw("</pre>");
    }
    let rules = r
        .get("rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !rules.is_empty() {
        b.raw("<h3>Rules</h3><table id=\"explain-rules\"><tbody>");
        for rule in &rules {
            let passed = rule.get("passed").and_then(Value::as_bool) == Some(true);
            b.raw(if passed {
                "<tr class=\"pass\"><td class=\"mark\">✓</td><td><code>"
            } else {
                "<tr class=\"fail\"><td class=\"mark\">✗</td><td><code>"
            });
            b.text(&text(rule.get("rule")))
                .raw("</code> <span class=\"muted\">(")
                .text(&text(rule.get("from")))
                .raw(")</span></td><td>");
            match rule.pointer("/error/message").and_then(Value::as_str) {
                Some(e) => b.text(e),
                None => b.text(&text(rule.get("message"))),
            };
            b.raw("</td></tr>");
        }
        b.raw("</tbody></table>");
    }
    let claims = r
        .get("claims")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !claims.is_empty() {
        b.raw("<h3>Zendesk claims</h3><table id=\"explain-claims\"><tbody>");
        for c in &claims {
            let error = c.pointer("/error/message").and_then(Value::as_str);
            b.raw(if error.is_some() {
                "<tr class=\"fail\"><th>"
            } else {
                "<tr class=\"pass\"><th>"
            });
            b.text(&text(c.get("claim")))
                .raw("</th><td><code>")
                .text(&text(c.get("expression")))
                .raw("</code> <span class=\"muted\">(")
                .text(&text(c.get("from")))
                .raw(")</span></td><td>");
            match (error, c.get("value")) {
                (Some(e), _) => b.text(e),
                (None, Some(v)) if !v.is_null() => b.text(&v.to_string()),
                (None, _) => b.raw("<span class=\"muted\">not set</span>"),
            };
            b.raw("</td></tr>");
        }
        b.raw("</tbody></table>");
    }
    if let Some(trust) = r
        .get("trust")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
    {
        b.raw("<h3>Trust</h3><ul>");
        for t in trust.iter().filter_map(Value::as_str) {
            b.raw("<li>✓ ").text(t).raw("</li>");
        }
        b.raw("</ul>");
    }
    if let Some(link) = r.get("link").and_then(Value::as_str) {
        b.raw("<h3>Identity link</h3><p>").text(link).raw("</p>");
    }
    if let Some(refused) = r.get("refused").filter(|v| v.is_object()) {
        b.raw("<p class=\"verdict fail\" id=\"explain-refused\">Refused: ")
            .text(&text(refused.get("message")))
            .raw(" (")
            .text(&text(refused.get("error_code")))
            .raw(")</p>");
    }
    b.raw("</section>");
    b
}
