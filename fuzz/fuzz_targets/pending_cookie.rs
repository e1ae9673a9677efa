//! The sealed pending-login cookie: a value nobody sealed with the key
//! never opens, whatever its bytes — and nothing panics.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use zenbridge::config::Secret;

fn key() -> &'static Secret {
    static KEY: OnceLock<Secret> = OnceLock::new();
    KEY.get_or_init(|| Secret::generated("fuzz-cookie-key-0123456789abcdef0123456789".into()))
}

fuzz_target!(|data: &[u8]| {
    let value = String::from_utf8_lossy(data);
    let opened = zenbridge::fuzzing::open_pending_login(key(), "fuzz-state", &value);
    assert!(opened.is_none(), "a forged cookie opened: {value:?}");
});
