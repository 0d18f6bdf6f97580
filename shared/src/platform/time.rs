//! Clock helpers: every timestamp in Warden is UTC epoch seconds or milliseconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now as epoch milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Now as epoch seconds.
pub fn now_s() -> i64 {
    now_ms() / 1000
}
