//! Key documents from providers (JWKS, Google's X.509 certificate map, PEM
//! files): refused or parsed, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zenbridge::source::keys::KeySet;

fuzz_target!(|data: &[u8]| {
    let _ = KeySet::from_jwks_json(data);
    let _ = KeySet::from_firebase_json(data);
    let _ = KeySet::from_pem(data);
});
