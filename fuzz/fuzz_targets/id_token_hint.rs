//! `id_token_hint` (end_session, authorize): arbitrary compact JWTs against a real key set.
#![no_main]
use libfuzzer_sys::fuzz_target;
use warden_fuzz::keys;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(claims) = keys().verify(s, "https://issuer.example", false) {
            // Only our own signatures verify; the fuzzer cannot forge one.
            panic!("forged token verified: {claims}");
        }
    }
});
