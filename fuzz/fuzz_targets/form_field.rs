//! The token endpoints' form scanner, against the full decoder: the fast
//! path (split in place) must find what `application/x-www-form-urlencoded`
//! parsing finds, for every UTF-8 body, and call a field sent twice
//! repeated exactly when the full decoder sees it twice.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if std::str::from_utf8(data).is_err() {
        let _ = zenbridge::fuzzing::form_field(data, "user_token");
        return;
    }
    for name in ["user_token", "subject_token", "a"] {
        let fast = zenbridge::fuzzing::form_field(data, name);
        let mut all = url::form_urlencoded::parse(data).filter(|(k, _)| k == name);
        let first = all.next().map(|(_, v)| v);
        let full = if all.next().is_some() {
            Err(zenbridge::fuzzing::Repeated)
        } else {
            Ok(first)
        };
        assert_eq!(fast, full, "field {name:?} of {:?}", String::from_utf8_lossy(data));
    }
});
