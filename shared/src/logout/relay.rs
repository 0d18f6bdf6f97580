//! The relay (run every minute): re-sends deliveries still pending past their due time (a
//! lost SendMessage after a committed termination, or a message SQS no longer holds) and ends
//! sessions whose idle or absolute expiry passed; and the Admin API's replay of a `dead` or
//! `rejected` delivery.

use crate::app::App;
use crate::outbound::queue::{send_all, DeliveryMessage, QueueMessage, SignalMessage};
use crate::platform::time::{now_ms, now_s};
use crate::session::{self, Terminated, RELAY_AFTER_SECS};
use crate::store::schema::{keys, EndReason, SessionStatus, SignalItem};
use crate::store::DueSignalWork;
use crate::store::StoreError;
use futures::stream::{self, StreamExt, TryStreamExt};

/// What one relay run did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RelayReport {
    /// Pending deliveries sent to the queue again.
    pub resent: usize,
    /// Expired sessions this run ended (reason `expired`).
    pub expired: usize,
    /// Shared Signals work sent to the queue again: signal records not fanned out and push
    /// events not final whose messages were lost (or held events looked at again).
    pub signals_resent: usize,
}

/// The relay: re-send deliveries pending past their due time (a lost SendMessage after a
/// committed termination), and end sessions whose idle or absolute expiry passed (reason
/// `expired`). Run every minute.
///
/// Round trips: 1 Query per due shard (16 side by side) for deliveries (+1 SQS batch per 10, +1 UpdateItem
/// each), the same for Shared Signals work, 1 Query per due shard for sessions, then per expired session 1 GetItem (re-check)
/// + those of [`session::terminate()`], 8 sessions at a time (1 with a session limit).
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
        let sent = send_all(app.queue.as_ref(), &msgs).await;
        for m in &msgs {
            if sent
                .failed
                .iter()
                .any(|(f, _)| *f == QueueMessage::from(m.clone()))
            {
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
    report.signals_resent = resend_signal_work(app, now_s).await?;
    let mut ends = Vec::new();
    for s in app.store.due_sessions(now_s, 500).await? {
        ends.push(async move { expire(app, &s.sid, now_s).await });
    }
    // Eight at a time; one at a time with a session limit, where two sessions of one user
    // would both write the user's live-set item and DynamoDB refuses two transactions on
    // one item at once.
    let at_once = if app.store.tracks_live() {
        1
    } else {
        EXPIRE_AT_ONCE
    };
    let ended: Vec<bool> = stream::iter(ends)
        .buffer_unordered(at_once)
        .try_collect()
        .await?;
    report.expired += ended.iter().filter(|e| **e).count();
    Ok(report)
}

/// Send due Shared Signals work to the queue again, and push each item's due time out by
/// [`SignalItem::RESEND_AFTER_SECS`] (a held event's next look is decided by its push
/// attempt). Round trips: 1 Query per due shard, 1 SQS batch per 10, 1 UpdateItem each.
async fn resend_signal_work(app: &App, now_s: i64) -> Result<usize, StoreError> {
    let due = app.store.due_signal_work(now_s, 500).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let work: Vec<(SignalMessage, (String, String), String)> = due
        .into_iter()
        .map(|w| match w {
            DueSignalWork::Signal(s) => (
                SignalMessage::FanOut {
                    signal: s.id.clone(),
                },
                keys::signal(&s.id),
                s.id,
            ),
            DueSignalWork::Event(e) => (SignalMessage::push(&e), (e.pk, e.sk), e.jti),
        })
        .collect();
    let msgs: Vec<SignalMessage> = work.iter().map(|(m, _, _)| m.clone()).collect();
    let sent = send_all(app.queue.as_ref(), &msgs).await;
    let mut resent = 0;
    for (m, key, due_id) in work {
        if sent
            .failed
            .iter()
            .any(|(f, _)| *f == QueueMessage::from(m.clone()))
        {
            continue;
        }
        resent += 1;
        match app
            .store
            .reschedule_signal_work(key, &due_id, now_s + SignalItem::RESEND_AFTER_SECS)
            .await
        {
            Ok(()) | Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(resent)
}

/// How many expired sessions one relay run ends at once.
const EXPIRE_AT_ONCE: usize = 8;

/// End `sid` if it really expired. The index is eventually consistent: a session used a
/// moment ago may still show its old idle expiry there, so it is re-read (strongly
/// consistent) first. Whether it ended now.
async fn expire(app: &App, sid: &str, now_s: i64) -> Result<bool, StoreError> {
    let reason = match app.store.get_session(sid).await? {
        Some(cur) if cur.status == SessionStatus::Active && cur.effective_expiry() <= now_s => {
            expiry_reason(&cur, now_s)
        }
        _ => return Ok(false),
    };
    Ok(matches!(
        session::terminate(app, sid, None, reason).await?,
        Terminated::Ended { .. }
    ))
}

/// Which expiry ended a session: its absolute lifetime, or (before that) its idle timeout.
pub fn expiry_reason(s: &crate::store::schema::SessionItem, now_s: i64) -> EndReason {
    s.expiry_reason(now_s)
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
    let r = send_all(app.queue.as_ref(), std::slice::from_ref(&msg)).await;
    for (_, why) in r.failed {
        tracing::warn!(sid = %sid, client_id = %client_id, error = %why, "replay enqueue failed; the relay will resend");
    }
    Ok(())
}
