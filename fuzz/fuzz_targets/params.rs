//! Query strings and form bodies (every OAuth endpoint and the REST API parse these).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(p) = warden_core::http::Params::parse(s) {
            for k in p.keys() {
                let _ = p.get(k);
            }
            if let Some(scope) = p.get("scope") {
                let _ = warden_core::oauth::oidc::parse_scope(scope);
            }
            if let Some(u) = p.get("redirect_uri") {
                let _ = warden_core::http::origin_of(u);
            }
        }
        let _ = warden_core::oauth::oidc::parse_scope(s);
        let _ = warden_core::http::with_query("https://rp.example/cb?x=1", &[("state", s)]);
        let _ = warden_core::http::esc(s);
    }
});
