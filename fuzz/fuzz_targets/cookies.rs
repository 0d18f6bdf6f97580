//! Cookie headers: the session cookie `<sid>.<secret>` and every other cookie lookup.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut h = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_bytes(data) {
        h.insert(http::header::COOKIE, v);
    }
    if let Some(v) = warden_core::http::cookie(&h, warden_core::session::SESSION_COOKIE) {
        let _ = warden_core::session::parse_cookie_value(v);
    }
    let _ = warden_core::http::cookie(&h, warden_core::session::BROWSER_STATE_COOKIE);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = warden_core::session::parse_cookie_value(s);
    }
});
