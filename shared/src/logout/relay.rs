//! The relay (run every minute): re-sends deliveries still pending past their due time (a
//! lost SendMessage after a committed termination, or a message SQS no longer holds) and ends
//! sessions whose idle or absolute expiry passed; and the Admin API's replay of a `dead` or
//! `rejected` delivery.

use crate::app::App;
use crate::outbound::queue::DeliveryMessage;
use crate::platform::time::{now_ms, now_s};
use crate::session::{self, Terminated, RELAY_AFTER_SECS};
use crate::store::schema::{EndReason, SessionStatus};
use crate::store::StoreError;

/// What one relay run did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RelayReport {
    /// Pending deliveries sent to the queue again.
    pub resent: usize,
    /// Expired sessions this run ended (reason `expired`).
    pub expired: usize,
}

/// The relay: re-send deliveries pending past their due time (a lost SendMessage after a
/// committed termination), and end sessions whose idle or absolute expiry passed (reason
/// `expired`). Run every minute.
///
/// Round trips: 1 Query per due shard for deliveries (+1 SQS batch per 10, +1 UpdateItem
/// each), 1 Query per due shard for sessions, then per expired session 1 GetItem (re-check)
/// + those of [`session::terminate()`].
pub async fn relay(app: &App, now_s: i64) -> Result<RelayReport, StoreError> {
    let mut report = RelayReport::default();
    let due = app.store.due_deliveries(now_s, 500).await?;
    let msgs: Vec<DeliveryMessage> = due
        .iter()
        .map(|d| DeliveryMessage {
            resent: true,
            ..DeliveryMessage::for_delivery(d)
        })
        .collect();
    if !msgs.is_empty() {
        let sent = app.queue.send(&msgs).await;
        for m in &msgs {
            if sent.failed.iter().any(|(f, _)| f == m) {
                continue;
            }
            report.resent += 1;
            match app
                .store
                .reschedule_delivery(&m.sid, &m.client_id, now_s + RELAY_AFTER_SECS)
                .await
            {
                Ok(()) | Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e),
            }
        }
    }
    for s in app.store.due_sessions(now_s, 500).await? {
        // The index is eventually consistent: a session used a moment ago may still show
        // its old idle expiry there. Re-read it (strongly consistent) before ending it.
        let reason = match app.store.get_session(&s.sid).await? {
            Some(cur) if cur.status == SessionStatus::Active && cur.effective_expiry() <= now_s => {
                expiry_reason(&cur, now_s)
            }
            _ => continue,
        };
        if let Terminated::Ended { .. } = session::terminate(app, &s.sid, None, reason).await? {
            // For the user's "Recently ended" (issue 20).
            session::history::remember(app, &s.user_id, std::slice::from_ref(&s.sid)).await;
            report.expired += 1;
        }
    }
    Ok(report)
}

/// Which expiry ended a session: its absolute lifetime, or (before that) its idle timeout.
pub fn expiry_reason(s: &crate::store::schema::SessionItem, now_s: i64) -> EndReason {
    if s.absolute_expires_at <= now_s {
        EndReason::AbsoluteTimeout
    } else {
        EndReason::IdleTimeout
    }
}

/// Re-open a `dead` or `rejected` delivery and queue it again (Admin API replay).
pub async fn replay(app: &App, sid: &str, client_id: &str) -> Result<(), StoreError> {
    let d = app
        .store
        .reopen_delivery(sid, client_id, now_ms(), now_s() + RELAY_AFTER_SECS)
        .await?;
    let msg = DeliveryMessage {
        sid: d.sid,
        client_id: d.client_id,
        user_id: d.user_id,
        resent: false,
    };
    let r = app.queue.send(std::slice::from_ref(&msg)).await;
    for (_, why) in r.failed {
        tracing::warn!(sid = %sid, client_id = %client_id, error = %why, "replay enqueue failed; the relay will resend");
    }
    Ok(())
}
