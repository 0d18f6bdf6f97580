//! `logout-dispatcher`: SQS-triggered. For each message, one back-channel logout attempt;
//! failures that should be retried are reported as partial batch failures, with the
//! message's visibility pushed out for an exponential backoff.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::stream::{self, StreamExt};
use warden_core::logout::{deliver, retry_backoff};
use warden_core::queue::DeliveryMessage;
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

/// Handle one SQS batch. Messages that cannot be parsed are dropped (logged): they can
/// never succeed, and the outbox keeps the delivery visible for the relay.
pub async fn handle(d: &Dispatcher, event: SqsEvent) -> SqsBatchResponse {
    let results = stream::iter(event.records.into_iter().map(|m| async move {
        let id = m.message_id.clone().unwrap_or_default();
        let Some(msg) = m
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str::<DeliveryMessage>(b).ok())
        else {
            tracing::error!(message_id = %id, "unparseable logout message dropped");
            return None;
        };
        let count = receive_count(&m);
        // Retryable failures stay in the queue with an exponential backoff. A `dead` outcome
        // (the last allowed attempt failed) stays too, visible at once, so that the next
        // receive exceeds maxReceiveCount and SQS moves the message to the DLQ, where
        // operators see it; the delivery record already says `dead` (replayable).
        let visibility = match deliver(&d.app, &msg, count).await {
            Ok(DeliveryOutcome::Retry { .. }) => Some(retry_backoff(count).as_secs() as i32),
            Ok(DeliveryOutcome::Dead { .. }) => Some(0),
            Ok(_) => None,
            Err(e) => {
                tracing::error!(message_id = %id, error = %e, "delivery bookkeeping failed; retrying");
                return Some(id);
            }
        };
        match visibility {
            Some(secs) => {
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
            None => None,
        }
    }))
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
