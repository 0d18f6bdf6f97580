//! The login page's `return_to` (open-redirect guard) and post-logout redirect matching.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let safe = warden_core::session::login::safe_return_to(Some(s));
    // Whatever comes in, what goes out is a same-origin path.
    assert!(safe.starts_with('/') && !safe.starts_with("//") && !safe.contains('\\'), "{safe:?}");
    let _ = warden_core::session::login::is_safe_return_to(s);
});
