//! `logout-dispatcher`: SQS-triggered. For each message, one back-channel logout attempt
//! (the batch's outcomes are recorded in one round trip) or one piece of Shared Signals
//! work (a signal's fan-out to its streams, or one SET push);
//! failures that should be retried are reported as partial batch failures, with the
//! message's visibility pushed out by the retry schedule (`warden_core::logout::backchannel::retry_delay`:
//! 2 s doubling to a 1 h cap, ±10 %, about a day in all with the default 35 attempts).

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::stream::{self, StreamExt};
use warden_core::logout::backchannel::{deliver_batch, retry_backoff};
use warden_core::outbound::queue::{DeliveryMessage, QueueMessage, SignalMessage};
use warden_core::ssf::delivery;
use warden_core::store::schema::DeliveryStatus;
use warden_core::store::DeliveryOutcome;
use warden_core::App;

/// What the dispatcher needs besides `App`: an SQS client to change visibility.
pub struct Dispatcher {
    pub app: App,
    pub sqs: Option<aws_sdk_sqs::Client>,
    pub queue_url: Option<String>,
    pub concurrency: usize,
}

fn receive_count(m: &SqsMessage) -> u32 {
    m.attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Handle one SQS batch: every back-channel message's POST runs concurrently, and their
/// outcomes are recorded together (1 round trip, [`deliver_batch`]); Shared Signals work
/// (fan-outs and pushes, [`dispatch_signal`]) runs beside them, each on its own. Messages
/// that cannot be parsed are dropped (logged): they can never succeed, and the outbox keeps
/// the work visible for the relay.
pub async fn handle(d: &Dispatcher, event: SqsEvent) -> SqsBatchResponse {
    let mut logouts: Vec<(DeliveryMessage, u32, &SqsMessage)> = Vec::new();
    let mut signals: Vec<(SignalMessage, u32, &SqsMessage)> = Vec::new();
    for m in &event.records {
        match m
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str::<QueueMessage>(b).ok())
        {
            Some(QueueMessage::Logout(msg)) => logouts.push((msg, receive_count(m), m)),
            Some(QueueMessage::Signal(msg)) => signals.push((msg, receive_count(m), m)),
            None => {
                let id = m.message_id.as_deref().unwrap_or_default();
                tracing::error!(message_id = %id, "unparseable queue message dropped");
            }
        }
    }
    let batch: Vec<(&DeliveryMessage, u32)> = logouts.iter().map(|(m, c, _)| (m, *c)).collect();
    let mut signal_runs = Vec::with_capacity(signals.len());
    for (m, c, _) in &signals {
        signal_runs.push(dispatch_signal(&d.app, m, *c));
    }
    let (outcomes, signal_outcomes) = tokio::join!(
        deliver_batch(&d.app, &batch, d.concurrency),
        stream::iter(signal_runs)
            .buffered(d.concurrency.max(1))
            .collect::<Vec<_>>()
    );
    let settles: Vec<_> = outcomes
        .into_iter()
        .zip(logouts.iter().map(|(_, c, m)| (*c, *m)))
        .chain(
            signal_outcomes
                .into_iter()
                .zip(signals.iter().map(|(_, c, m)| (*c, *m))),
        )
        .map(|(outcome, (count, m))| settle(d, outcome, count, m))
        .collect();
    let results = stream::iter(settles)
        .buffer_unordered(d.concurrency.max(1))
        .collect::<Vec<Option<String>>>()
        .await;
    let mut resp = SqsBatchResponse::default();
    for id in results.into_iter().flatten() {
        let mut f = BatchItemFailure::default();
        f.item_identifier = id;
        resp.batch_item_failures.push(f);
    }
    resp
}

/// One Shared Signals message: a fan-out ([`delivery::fan_out`]: done, or a store error
/// retried on the schedule) or a push ([`delivery::push`], whose outcome settles like a
/// back-channel delivery's).
pub async fn dispatch_signal(
    app: &App,
    msg: &SignalMessage,
    receive_count: u32,
) -> Result<DeliveryOutcome, warden_core::StoreError> {
    match msg {
        SignalMessage::FanOut { signal } => delivery::fan_out(app, signal)
            .await
            .map(|_| DeliveryOutcome::AlreadyFinal(DeliveryStatus::Delivered)),
        SignalMessage::Push { stream_id, event } => {
            delivery::push(app, stream_id, event, receive_count).await
        }
    }
}

/// What SQS should do with one message after its attempt: `Some(id)` keeps it (a batch
/// item failure), with its visibility pushed out for the backoff.
async fn settle(
    d: &Dispatcher,
    outcome: Result<DeliveryOutcome, warden_core::StoreError>,
    count: u32,
    m: &SqsMessage,
) -> Option<String> {
    let id = m.message_id.clone().unwrap_or_default();
    // Retryable failures stay in the queue for the schedule's next wait (at most 1 h + 10 %,
    // well below SQS's 12 h visibility limit). A `dead` outcome (the
    // last allowed attempt failed) stays too, visible at once, so that the next receive
    // exceeds maxReceiveCount and SQS moves the message to the DLQ, where operators see it;
    // the delivery record already says `dead` (replayable).
    let secs = match outcome {
        Ok(DeliveryOutcome::Retry { .. }) => visibility_secs(retry_backoff(count)),
        Ok(DeliveryOutcome::Dead { .. }) => 0,
        Ok(_) => return None,
        Err(e) => {
            tracing::error!(message_id = %id, error = %e, "delivery bookkeeping failed; retrying");
            return Some(id);
        }
    };
    if let (Some(sqs), Some(url), Some(handle)) =
        (&d.sqs, &d.queue_url, m.receipt_handle.as_deref())
    {
        if let Err(e) = sqs
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(handle)
            .visibility_timeout(secs)
            .send()
            .await
        {
            tracing::warn!(message_id = %id, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "visibility change failed");
        }
    }
    Some(id)
}

/// A wait as a ChangeMessageVisibility timeout: whole seconds (rounded), within SQS's
/// 0 … 43 200 s.
fn visibility_secs(wait: std::time::Duration) -> i32 {
    wait.as_secs_f64().round().clamp(0.0, 43_200.0) as i32
}

/// Build the Lambda SQS event for received messages (used by the local stack's poller and
/// by tests, so the same handler runs in both places).
pub fn sqs_event_from(msgs: &[aws_sdk_sqs::types::Message]) -> SqsEvent {
    let mut ev = SqsEvent::default();
    for m in msgs {
        let mut e = SqsMessage::default();
        e.message_id = m.message_id().map(str::to_string);
        e.receipt_handle = m.receipt_handle().map(str::to_string);
        e.body = m.body().map(str::to_string);
        if let Some(attrs) = m.attributes() {
            for (k, v) in attrs {
                e.attributes.insert(k.as_str().to_string(), v.clone());
            }
        }
        ev.records.push(e);
    }
    ev
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use warden_core::logout::backchannel::retry_delay;

    #[test]
    fn visibility_follows_the_retry_schedule_within_the_sqs_limit() {
        assert_eq!(visibility_secs(retry_delay(1, 0.0)), 2);
        assert_eq!(
            visibility_secs(retry_delay(1, -1.0)),
            2,
            "1.8 s rounds to 2"
        );
        assert_eq!(visibility_secs(retry_delay(12, 0.0)), 3600);
        assert_eq!(visibility_secs(retry_delay(40, 1.0)), 3960);
        assert_eq!(visibility_secs(Duration::from_secs(100_000)), 43_200);
        for n in 1..=35 {
            let v = visibility_secs(retry_backoff(n));
            assert!((1..=3960).contains(&v), "{n}: {v}");
        }
    }
}
