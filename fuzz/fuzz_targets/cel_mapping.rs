//! CEL mapping evaluation with hostile claim values (deep nesting, huge
//! strings and lists, odd numbers, unicode): a mapped claim set or a typed
//! refusal, never a panic, within the claims' size bounds.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use zenbridge::config::Config;
use zenbridge::mapping::Vars;

const CONFIG: &str = r#"
[server]
public_url = "https://sso.acme.test"
cookie_key = "fuzz-cookie-key-0123456789abcdef0123456789"

[[source]]
name = "legacy"
kind = "jwt"
issuer = "https://legacy.acme.test"
audiences = ["zenbridge"]
secret = "fuzz-legacy-secret-0123456789abcdef01234567"
[source.claims]
email = "has(claims.mail) ? claims.mail : claims.email"
name = "has(claims.given_name) ? claims.given_name + ' ' + claims.family_name : claims.sub"
external_id = "'legacy:' + string(claims.sub)"
role = "has(claims.groups) && 'support' in claims.groups ? 'agent' : 'end_user'"
tags = "has(claims.groups) ? claims.groups.filter(g, g.startsWith('t-')) : []"
organization = "has(claims.org) ? claims.org.lowerAscii() : null"
[[source.rules]]
expression = "!has(claims.blocked) || claims.blocked == false"
message = "blocked"

[[target]]
name = "helpcenter"
kind = "sso"
subdomain = "acme"
secret = "fuzz-target-secret-0123456789"
sources = ["legacy"]
"#;

fn config() -> &'static Config {
    static CFG: OnceLock<Config> = OnceLock::new();
    CFG.get_or_init(|| match zenbridge::config::load_str(CONFIG, None) {
        Ok(c) => c,
        Err(p) => panic!("the fuzz config is invalid: {p}"),
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(serde_json::Value::Object(claims)) = serde_json::from_slice(data) else {
        return;
    };
    let target = &config().targets[0];
    let pair = &target.sources[0];
    let vars = Vars {
        source_name: "legacy",
        source_kind: "jwt",
        source_issuer: Some("https://legacy.acme.test"),
        target_name: "helpcenter",
        target_kind: "sso",
        request_ip: Some("203.0.113.9"),
        request_brand_id: None,
        request_locale_id: None,
    };
    let _ = pair.mapping.evaluate(&claims, &vars);
});
