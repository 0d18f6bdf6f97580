//! Authorization codes (`/oauth2/token`): arbitrary strings opened as sealed codes against a
//! real key set. Nothing the fuzzer makes may open: a code is AES-256-GCM under a key it
//! does not have.
#![no_main]
use libfuzzer_sys::fuzz_target;
use warden_fuzz::keys;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Some(g) = warden_core::oauth::code::open(keys(), s) {
            panic!("forged code opened: {g:?}");
        }
        // With the signer's kid in front, the fuzzer's bytes reach the AEAD itself.
        // (Both formats: `<kid>.<body>` and `<kid>.2.<body>`.)
        for with_kid in [
            format!("{}.{s}", keys().signer_kid()),
            format!("{}.2.{s}", keys().signer_kid()),
        ] {
            if let Some(g) = warden_core::oauth::code::open(keys(), &with_kid) {
                panic!("forged code opened: {g:?}");
            }
        }
    }
});
