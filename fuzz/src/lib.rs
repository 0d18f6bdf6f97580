//! What the fuzz targets share.

use std::sync::OnceLock;
use warden_core::keys::signing::{generate_key_item, KeySet};

/// A real key set, generated once per fuzzing process.
pub fn keys() -> &'static KeySet {
    static K: OnceLock<KeySet> = OnceLock::new();
    K.get_or_init(|| {
        let item = generate_key_item(0).expect("key");
        KeySet::from_items(&[item]).expect("keyset")
    })
}
