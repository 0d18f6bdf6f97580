//! Paging cursors of the session API (`cursor` query parameter).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Some(c) = warden_core::store::Cursor::decode(s) {
            let again = warden_core::store::Cursor::decode(&c.encode());
            assert_eq!(again.as_ref(), Some(&c));
            for k in c.0.keys() {
                let _ = c.get(k);
            }
        }
    }
});
