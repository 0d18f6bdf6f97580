//! Authorization headers: Bearer (RFC 6750) and Basic client credentials (RFC 6749 §2.3.1);
//! the CORS `Origin` header; the held-token format a bearer or refresh token is parsed by.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut h = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_bytes(data) {
        h.insert(http::header::AUTHORIZATION, v.clone());
        h.insert(http::header::ORIGIN, v);
    }
    if let warden_core::http::Bearer::Token(t) = warden_core::http::bearer(&h) {
        check_held(t);
    }
    if let Ok(t) = std::str::from_utf8(data) {
        check_held(t);
    }
    let _ = warden_core::http::basic_auth(&h);
    if let Some(o) = warden_core::http::cors::request_origin(&h) {
        // An accepted origin is its own serialisation.
        assert_eq!(warden_core::http::cors::origin_of(o).as_deref(), Some(o));
    }
    let cors = warden_core::http::cors::Cors::of(&h, "https://id.example.com");
    let _ = cors.finish(warden_core::http::empty(http::StatusCode::OK));
    let _ = warden_core::http::cors::preflight(&h, "POST");
});

/// A token parsed as held names a link by parts that are themselves parts of the token.
fn check_held(t: &str) {
    if let Some((sid, key)) = warden_core::store::held_token::parse(t) {
        assert!(t.starts_with(&format!("{sid}.{key}.")));
        assert!(!sid.contains('.') && !key.contains('.'));
    }
}
