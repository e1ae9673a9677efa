//! `return_to`, differentially: whatever the check keeps must be, as a
//! browser's WHATWG URL parser (the `url` crate implements that standard)
//! reads it from a page on the help center, an https URL on the Zendesk
//! host or a listed host — never another host, a userinfo, a port, or
//! another scheme.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use url::Url;
use zenbridge::config::Config;

const CONFIG: &str = r#"
[server]
public_url = "https://sso.acme.test"
cookie_key = "fuzz-cookie-key-0123456789abcdef0123456789"

[[source]]
name = "dev"
kind = "dev"
[[source.users]]
id = "ada"
email = "ada@example.com"

[[target]]
name = "helpcenter"
kind = "sso"
subdomain = "acme"
secret = "fuzz-target-secret-0123456789"
sources = ["dev"]
return_to_hosts = ["support.acme.com"]
"#;

fn config() -> &'static Config {
    static CFG: OnceLock<Config> = OnceLock::new();
    CFG.get_or_init(|| match zenbridge::config::load_str(CONFIG, None) {
        Ok(c) => c,
        Err(p) => panic!("the fuzz config is invalid: {p}"),
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Some(kept) = zenbridge::fuzzing::return_to(raw, &config().targets[0]) else {
        return;
    };
    // Where Zendesk's page would send the browser.
    let base = Url::parse("https://acme.zendesk.com/hc/en-us/requests").expect("base");
    let Ok(url) = base.join(&kept) else {
        panic!("kept {kept:?}, which a browser cannot resolve");
    };
    assert_eq!(url.scheme(), "https", "kept {kept:?} → {url}");
    assert!(
        matches!(url.host_str(), Some("acme.zendesk.com" | "support.acme.com")),
        "kept {kept:?} → {url}"
    );
    assert!(url.username().is_empty() && url.password().is_none(), "kept {kept:?} → {url}");
    assert!(url.port().is_none(), "kept {kept:?} → {url}");
});
