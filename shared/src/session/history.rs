//! What a person can see of their ended sessions (issue 20, My Account's "Recently ended").
//!
//! Termination ([`crate::session::terminate`]) removes an ended session's `gsi1` keys, so
//! the user's session list never shows it again. Right after its transaction commits, the
//! termination path itself [`remember`]s every session it ended, whatever the cause: one
//! small marker per session in the user's partition (1 write unit each;
//! `Store::put_ended_markers`). The reader is `Store::recently_ended`. A marker that could
//! not be written is only logged: the session did end; it is missing from "Recently ended",
//! nothing else.

use crate::app::App;
use crate::platform::time::now_ms;
use crate::session::RECEIPT_RETENTION_SECS;
use crate::store::schema::EndedMarker;

/// Record that `sids` of `user_id` ended just now. Round trips: 1 BatchWriteItem per 25
/// (none for an empty list). Never fails the caller.
pub async fn remember(app: &App, user_id: &str, sids: &[String]) {
    if sids.is_empty() {
        return;
    }
    let now = now_ms();
    let markers: Vec<EndedMarker> = sids
        .iter()
        .map(|sid| EndedMarker::new(user_id, sid, now, RECEIPT_RETENTION_SECS))
        .collect();
    if let Err(e) = app.store.put_ended_markers(&markers).await {
        tracing::warn!(error = %e, sessions = sids.len(), "ended-session markers not written");
    }
}
