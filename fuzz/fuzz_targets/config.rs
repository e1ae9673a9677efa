//! The config loader (TOML → a validated `Config`): refused with problems
//! or accepted, never a panic, whatever the text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(problems) = zenbridge::config::load_str(text, None) {
        // Every problem can be shown.
        let _ = problems.to_string();
    }
});
