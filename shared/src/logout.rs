//! Back-channel logout: the logout token, one delivery attempt, and the relay's sweep.

use crate::error::StoreError;
use crate::queue::DeliveryMessage;
use crate::schema::ClientItem;
use crate::session::{self, Terminated, RELAY_AFTER_SECS};
use crate::store::DeliveryOutcome;
use crate::time::{now_ms, now_s};
use crate::App;
use serde_json::{json, Value};
use std::time::Duration;

/// The back-channel logout event URI (BCL §2.4).
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Logout tokens live two minutes (`exp` = `iat` + 120).
pub const LOGOUT_TOKEN_TTL: i64 = 120;

/// Logout token claims (BCL 1.0 with errata 1): iss, aud, iat, exp, jti, events, sub, sid;
/// never a nonce.
pub fn logout_token_claims(issuer: &str, client_id: &str, sub: &str, sid: &str, iat: i64) -> Value {
    json!({
        "iss": issuer,
        "aud": client_id,
        "iat": iat,
        "exp": iat + LOGOUT_TOKEN_TTL,
        "jti": crate::crypto::random_id(),
        "events": { BACKCHANNEL_EVENT: {} },
        "sub": sub,
        "sid": sid,
    })
}

/// How long SQS should wait before the next receive after the `receive_count`-th failure:
/// exponential from 2 s, capped at 5 minutes.
pub fn retry_backoff(receive_count: u32) -> Duration {
    let secs = 2u64.saturating_pow(receive_count.clamp(1, 9)).min(300);
    Duration::from_secs(secs)
}

/// Classify an HTTP status from the RP (BCL §2.8): 200/204 success, 400 final, the rest
/// retried.
pub fn classify(status: u16) -> DeliveryOutcome {
    match status {
        200 | 204 => DeliveryOutcome::Delivered(status),
        400 => DeliveryOutcome::Rejected(status),
        s => DeliveryOutcome::Retry {
            http_status: Some(s),
            error: format!("HTTP {s}"),
        },
    }
}

/// POST one logout token to the client's back-channel URI. Never follows redirects.
pub async fn post_logout_token(app: &App, uri: &str, token: &str) -> DeliveryOutcome {
    let body = format!(
        "logout_token={}",
        url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
    );
    match app
        .http
        .post(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
    {
        Ok(r) => classify(r.status().as_u16()),
        Err(e) => DeliveryOutcome::Retry {
            http_status: None,
            error: if e.is_timeout() {
                "timeout".into()
            } else if e.is_connect() {
                "connection failed".into()
            } else {
                "request failed".into()
            },
        },
    }
}

/// One delivery attempt for a queued message: build and sign the logout token, POST it,
/// record the outcome. `receive_count` is how often the queue has handed the message out
/// (1 on the first try); at `max_attempts` a retryable failure becomes `dead`.
/// Round trips: 1 UpdateItem (plus a cached client and key lookup).
pub async fn deliver(
    app: &App,
    msg: &DeliveryMessage,
    receive_count: u32,
) -> Result<DeliveryOutcome, StoreError> {
    deliver_batch(app, &[(msg, receive_count)], 1)
        .await
        .pop()
        .unwrap_or(Err(StoreError::Backend("no outcome".into())))
}

/// [`deliver`] for a batch of messages (an SQS batch): the POSTs run concurrently (at
/// most `concurrency` at once), then every outcome is recorded in 1 round trip
/// ([`crate::store::Store::record_deliveries`]: one TransactWriteItems, or UpdateItems one
/// by one for a batch of one or when a duplicate message makes the transaction fail).
/// Messages that may be duplicates — handed out more than once, or re-sent by the relay —
/// are first checked against their deliveries (1 BatchGetItem for all of them; none on a
/// first, normal receive), and those already final are not posted again.
/// Returns one result per message, in order.
pub async fn deliver_batch(
    app: &App,
    msgs: &[(&DeliveryMessage, u32)],
    concurrency: usize,
) -> Vec<Result<DeliveryOutcome, StoreError>> {
    use futures::stream::{self, StreamExt};
    let finals = already_final(app, msgs).await;
    let futs: Vec<_> = msgs
        .iter()
        .zip(finals)
        .map(|(&(msg, count), fin)| async move {
            match fin {
                Some(status) => Ok(DeliveryOutcome::AlreadyFinal(status)),
                None => attempt(app, msg, count).await,
            }
        })
        .collect();
    let attempts: Vec<Result<DeliveryOutcome, StoreError>> = stream::iter(futs)
        .buffered(concurrency.max(1))
        .collect()
        .await;
    let now = now_ms();
    let mut records = Vec::new();
    let mut which = Vec::new();
    for (i, (a, (msg, count))) in attempts.iter().zip(msgs).enumerate() {
        if let Ok(outcome) = a {
            if matches!(outcome, DeliveryOutcome::AlreadyFinal(_)) {
                continue;
            }
            records.push(crate::store::DeliveryRecord {
                sid: &msg.sid,
                client_id: &msg.client_id,
                outcome,
                retry_due_s: now / 1000 + retry_backoff(*count).as_secs() as i64 + RELAY_AFTER_SECS,
            });
            which.push(i);
        }
    }
    let recorded = app.store.record_deliveries(&records, now).await;
    let mut failed: Vec<Option<StoreError>> = msgs.iter().map(|_| None).collect();
    for (i, r) in which.into_iter().zip(recorded) {
        match r {
            // Already final (a duplicate message): nothing to record.
            Ok(()) | Err(StoreError::ConditionFailed) => {}
            Err(e) => failed[i] = Some(e),
        }
    }
    attempts
        .into_iter()
        .zip(failed)
        .zip(msgs)
        .map(|((a, f), (msg, count))| {
            let outcome = a?;
            if let Some(e) = f {
                return Err(e);
            }
            let label = match &outcome {
                DeliveryOutcome::Delivered(_) => "delivered",
                DeliveryOutcome::Rejected(_) => "rejected",
                DeliveryOutcome::Retry { .. } => "retried",
                DeliveryOutcome::Dead { .. } => "dead",
                DeliveryOutcome::AlreadyFinal(_) => "duplicate",
            };
            crate::telemetry::metric("Deliveries", ("Outcome", label), 1.0);
            tracing::info!(sid = %msg.sid, client_id = %msg.client_id, outcome = label, attempt = count, "back-channel logout");
            Ok(outcome)
        })
        .collect()
}

/// For each message: the final status of its delivery when it may be a duplicate (received
/// before, or re-sent by the relay) and its delivery is already final; `None` otherwise —
/// also when the check itself fails, since posting twice is safer than not at all (RPs
/// must accept a repeated logout token). 1 BatchGetItem when any message needs the check.
async fn already_final(app: &App, msgs: &[(&DeliveryMessage, u32)]) -> Vec<Option<String>> {
    let check: Vec<usize> = (0..msgs.len())
        .filter(|&i| msgs[i].1 > 1 || msgs[i].0.resent)
        .collect();
    let mut out: Vec<Option<String>> = vec![None; msgs.len()];
    if check.is_empty() {
        return out;
    }
    let which: Vec<(&str, &str)> = check
        .iter()
        .map(|&i| (msgs[i].0.sid.as_str(), msgs[i].0.client_id.as_str()))
        .collect();
    match app.store.get_deliveries(&which).await {
        Ok(found) => {
            for (i, d) in check.into_iter().zip(found) {
                if let Some(d) = d.filter(|d| d.status != "pending") {
                    out[i] = Some(d.status);
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not check redelivered messages; posting them");
        }
    }
    out
}

/// Sign and POST one logout token; a retryable failure at the last attempt is `dead`.
async fn attempt(
    app: &App,
    msg: &DeliveryMessage,
    receive_count: u32,
) -> Result<DeliveryOutcome, StoreError> {
    let client: Option<std::sync::Arc<ClientItem>> = app.client(&msg.client_id).await?;
    let outcome = match client
        .as_ref()
        .and_then(|c| c.backchannel_logout_uri.clone())
    {
        None => DeliveryOutcome::Rejected(0),
        Some(uri) => {
            let keys = app.keys().await?;
            let claims = logout_token_claims(
                &app.config.issuer,
                &msg.client_id,
                &msg.user_id,
                &msg.sid,
                now_s(),
            );
            match keys.sign("logout+jwt", &claims) {
                Ok(token) => post_logout_token(app, &uri, &token).await,
                Err(e) => DeliveryOutcome::Retry {
                    http_status: None,
                    error: format!("signing failed: {e}"),
                },
            }
        }
    };
    Ok(match outcome {
        DeliveryOutcome::Retry { http_status, error }
            if receive_count >= app.config.delivery_max_attempts =>
        {
            DeliveryOutcome::Dead { http_status, error }
        }
        o => o,
    })
}

/// What one relay run did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RelayReport {
    pub resent: usize,
    pub expired: usize,
}

/// The relay: re-send deliveries pending past their due time (a lost SendMessage after a
/// committed termination), and end sessions whose idle or absolute expiry passed (reason
/// `expired`). Run every minute.
///
/// Round trips: 1 Query per due shard for deliveries (+1 SQS batch per 10, +1 UpdateItem
/// each), 1 Query per due shard for sessions, then per expired session 1 GetItem (re-check)
/// + those of [`session::terminate`].
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
        match app.store.get_session(&s.sid).await? {
            Some(cur) if cur.status == "active" && cur.effective_expiry() <= now_s => {}
            _ => continue,
        }
        if let Terminated::Ended { .. } = session::terminate(app, &s.sid, None, "expired").await? {
            report.expired += 1;
        }
    }
    Ok(report)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_follow_the_spec() {
        let c = logout_token_claims("https://op", "rp", "u1", "s1", 1000);
        assert_eq!(c["exp"], 1120);
        assert!(c.get("nonce").is_none());
        assert_eq!(c["events"].as_object().map(|o| o.len()), Some(1));
        assert_eq!(c["events"][BACKCHANNEL_EVENT], json!({}));
    }

    #[test]
    fn classification() {
        assert_eq!(classify(200), DeliveryOutcome::Delivered(200));
        assert_eq!(classify(204), DeliveryOutcome::Delivered(204));
        assert_eq!(classify(400), DeliveryOutcome::Rejected(400));
        assert!(matches!(classify(503), DeliveryOutcome::Retry { .. }));
        assert!(matches!(classify(429), DeliveryOutcome::Retry { .. }));
        assert!(retry_backoff(20) <= Duration::from_secs(300));
    }
}
