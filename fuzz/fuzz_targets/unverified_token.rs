//! The only decoder of untrusted tokens (`source::unverified`): any input is
//! refused or read, never a panic, and what it reads is bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for max in [64, 16 * 1024] {
        if let Ok(t) = zenbridge::source::unverified_decode(text, max) {
            assert!(text.trim().len() <= max, "read past its size cap");
            let _ = t.unverified_issuer();
        }
        let _ = zenbridge::source::unverified_parts(text, max);
    }
});
