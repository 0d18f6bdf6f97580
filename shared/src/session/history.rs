//! What a person can see of their ended sessions (issue 20, My Account's "Recently ended").
//!
//! Termination ([`crate::session::terminate`]) removes an ended session's `gsi1` keys, so
//! the user's session list never shows it again, and its transaction is not changed here.
//! Instead, after a termination the callers a person can see — the Me and Admin APIs,
//! end_session, the expiry sweep and `warden-admin user disable` — [`remember`] the ended
//! sessions: one small marker per
//! session in the user's partition (1 write unit each; `Store::put_ended_markers`). The
//! reader is `Store::recently_ended`. A marker that could not be written is only logged: the
//! session did end; it is missing from "Recently ended", nothing else.
//!
//! A termination through another path (a login as another user, code replay, refresh
//! reuse) writes no marker; wiring it is one call of [`remember`] after its `terminate`.

use crate::app::App;
use crate::platform::time::{now_ms, now_s};
use crate::session::terminate::terminate_all_by;
use crate::session::RECEIPT_RETENTION_SECS;
use crate::store::schema::{EndReason, EndedBy, EndedMarker};
use crate::store::StoreError;

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

/// [`terminate_all_by`], then [`remember`] the sessions it ended. Round trips: 1 Query of
/// the user's live sessions (to know which will end: `terminate_all_by` reports only a
/// count) + those of `terminate_all_by` + 1 BatchWriteItem per 25 ended sessions.
pub async fn terminate_all_remembered(
    app: &App,
    user_id: &str,
    keep: &[String],
    reason: EndReason,
    by: Option<&EndedBy>,
) -> Result<usize, StoreError> {
    let candidates: Vec<String> = app
        .store
        .all_user_sessions(user_id, now_s())
        .await?
        .into_iter()
        .map(|s| s.sid)
        .filter(|sid| !keep.contains(sid))
        .collect();
    let ended = terminate_all_by(app, user_id, keep, reason, by).await?;
    // A candidate a concurrent request ended has its own marker too; the reader shows each
    // session once.
    remember(app, user_id, &candidates).await;
    Ok(ended)
}
