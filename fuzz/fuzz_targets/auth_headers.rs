//! Authorization headers: Bearer (RFC 6750) and Basic client credentials (RFC 6749 §2.3.1);
//! the CORS `Origin` header.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut h = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_bytes(data) {
        h.insert(http::header::AUTHORIZATION, v.clone());
        h.insert(http::header::ORIGIN, v);
    }
    let _ = warden_core::http::bearer(&h);
    let _ = warden_core::http::basic_auth(&h);
    if let Some(o) = warden_core::cors::request_origin(&h) {
        // An accepted origin is its own serialisation.
        assert_eq!(warden_core::cors::origin_of(o).as_deref(), Some(o));
    }
    let cors = warden_core::cors::Cors::of(&h, "https://id.example.com");
    let _ = cors.finish(warden_core::http::empty(http::StatusCode::OK));
    let _ = warden_core::cors::preflight(&h, "POST");
});
