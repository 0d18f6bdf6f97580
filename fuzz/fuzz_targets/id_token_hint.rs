//! `id_token_hint` (end_session, authorize): arbitrary compact JWTs against a real key set.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use warden_core::signing::{generate_key_item, KeySet};

fn keys() -> &'static KeySet {
    static K: OnceLock<KeySet> = OnceLock::new();
    K.get_or_init(|| {
        let item = generate_key_item(0).expect("key");
        KeySet::from_items(&[item]).expect("keyset")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(claims) = keys().verify(s, "https://issuer.example", false) {
            // Only our own signatures verify; the fuzzer cannot forge one.
            panic!("forged token verified: {claims}");
        }
    }
});
