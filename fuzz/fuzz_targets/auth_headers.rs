//! Authorization headers: Bearer (RFC 6750) and Basic client credentials (RFC 6749 §2.3.1).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut h = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_bytes(data) {
        h.insert(http::header::AUTHORIZATION, v);
    }
    let _ = warden_core::http::bearer(&h);
    let _ = warden_core::http::basic_auth(&h);
});
