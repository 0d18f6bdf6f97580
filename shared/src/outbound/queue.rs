//! The outbound queue: "send these deliveries" — back-channel logouts and Shared Signals
//! work (fan a signal out to its streams, push one SET). SQS in AWS, an in-process channel
//! locally.

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;

/// One back-channel logout to deliver: everything the dispatcher needs to build the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryMessage {
    /// The ended session (the logout token's `sid`; with `client_id`, the delivery's key).
    pub sid: String,
    /// The app to notify (the logout token's `aud`).
    pub client_id: String,
    /// The session's user (the logout token's `sub`).
    pub user_id: String,
    /// Sent again by the relay (the delivery was still pending past its due time): the
    /// first message may yet be delivered, so the dispatcher checks the delivery's state
    /// before posting, as it does for every message SQS hands out more than once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resent: bool,
}

impl DeliveryMessage {
    /// The message that asks the dispatcher to deliver this outbox record.
    pub fn for_delivery(d: &crate::store::schema::DeliveryItem) -> Self {
        DeliveryMessage {
            sid: d.sid.clone(),
            client_id: d.client_id.clone(),
            user_id: d.user_id.clone(),
            resent: false,
        }
    }
}

/// Shared Signals work for the dispatcher (issue 21). Internally tagged (`"ssf": …`), so
/// it never parses as a [`DeliveryMessage`] nor one as it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ssf", rename_all = "snake_case")]
pub enum SignalMessage {
    /// Fan the outbox record `signal` out to the streams it matches: one event per stream
    /// and cause (`crate::ssf::delivery::fan_out`).
    FanOut {
        /// The signal record's id (`SIGNAL#<id>`).
        signal: String,
    },
    /// Push one pending event of a push stream (`crate::ssf::delivery::push`).
    Push {
        /// The stream.
        stream_id: String,
        /// The pending event's sort key in the stream's event partition.
        event: String,
    },
}

impl SignalMessage {
    /// The push of a pending stream event.
    pub fn push(ev: &crate::store::schema::StreamEventItem) -> Self {
        SignalMessage::Push {
            stream_id: ev.stream_id.clone(),
            event: ev.sk.clone(),
        }
    }
}

/// One message on the queue: a back-channel logout (the original, untagged shape: messages
/// already queued or dead-lettered still parse) or Shared Signals work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum QueueMessage {
    /// A back-channel logout delivery.
    Logout(DeliveryMessage),
    /// Shared Signals work.
    Signal(SignalMessage),
}

impl From<DeliveryMessage> for QueueMessage {
    fn from(m: DeliveryMessage) -> Self {
        QueueMessage::Logout(m)
    }
}

impl From<SignalMessage> for QueueMessage {
    fn from(m: SignalMessage) -> Self {
        QueueMessage::Signal(m)
    }
}

/// Which messages could not be sent (the outbox keeps them pending for the relay).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SendReport {
    /// Each message not accepted by the queue, with the reason.
    pub failed: Vec<(QueueMessage, String)>,
}

/// Where terminations hand their deliveries for the dispatcher: SQS on AWS, a channel in the local
/// stack, nothing for the CLI. A send never fails the termination: the outbox record stays
/// `pending` and the relay sends it again.
pub trait LogoutQueue: Send + Sync + std::fmt::Debug {
    /// Send every message; never fails as a whole, reports per-message failures.
    fn send<'a>(&'a self, msgs: &'a [QueueMessage]) -> BoxFuture<'a, SendReport>;

    /// Does this queue deliver at all? `false` for [`NoQueue`]: a process without a queue
    /// (the CLI outside AWS) leaves its deliveries to the relay, so they are due at once.
    fn delivers(&self) -> bool {
        true
    }
}

/// SQS adapter: SendMessageBatch in chunks of 10 (1 round trip per 10 messages).
#[derive(Debug, Clone)]
pub struct SqsQueue {
    /// The SQS client.
    pub client: aws_sdk_sqs::Client,
    /// The logout queue's URL (`WARDEN_QUEUE_URL`).
    pub url: String,
}

impl LogoutQueue for SqsQueue {
    fn send<'a>(&'a self, msgs: &'a [QueueMessage]) -> BoxFuture<'a, SendReport> {
        Box::pin(async move {
            let mut report = SendReport::default();
            for chunk in msgs.chunks(10) {
                let mut entries = Vec::new();
                for (i, m) in chunk.iter().enumerate() {
                    let body = serde_json::to_string(m).unwrap_or_default();
                    match aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                    {
                        Ok(e) => entries.push(e),
                        Err(e) => report.failed.push((m.clone(), e.to_string())),
                    }
                }
                match self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                {
                    Ok(out) => {
                        for f in out.failed() {
                            if let Some(m) = f.id().parse::<usize>().ok().and_then(|i| chunk.get(i))
                            {
                                report
                                    .failed
                                    .push((m.clone(), f.message().unwrap_or(f.code()).to_string()));
                            }
                        }
                    }
                    Err(e) => {
                        let why = aws_sdk_sqs::error::DisplayErrorContext(&e).to_string();
                        for m in chunk {
                            report.failed.push((m.clone(), why.clone()));
                        }
                    }
                }
            }
            report
        })
    }
}

/// In-process adapter for the local stack: an unbounded channel read by the local
/// dispatcher task. `fail_sends` simulates an outage (for tests of the relay).
#[derive(Debug)]
pub struct InProcessQueue {
    tx: mpsc::UnboundedSender<QueueMessage>,
    /// While `true`, every send fails (tests of the relay's catch-up).
    pub fail_sends: AtomicBool,
}

impl InProcessQueue {
    /// The queue and the receiving end the local dispatcher reads.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<QueueMessage>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            InProcessQueue {
                tx,
                fail_sends: AtomicBool::new(false),
            },
            rx,
        )
    }
}

impl LogoutQueue for InProcessQueue {
    fn send<'a>(&'a self, msgs: &'a [QueueMessage]) -> BoxFuture<'a, SendReport> {
        Box::pin(async move {
            let mut report = SendReport::default();
            for m in msgs {
                if self.fail_sends.load(Ordering::SeqCst) {
                    report.failed.push((m.clone(), "queue unavailable".into()));
                } else if self.tx.send(m.clone()).is_err() {
                    report.failed.push((m.clone(), "queue closed".into()));
                }
            }
            report
        })
    }
}

/// [`LogoutQueue::send`] for messages of one kind.
pub async fn send_all<M: Clone + Into<QueueMessage>>(
    queue: &dyn LogoutQueue,
    msgs: &[M],
) -> SendReport {
    if msgs.is_empty() {
        return SendReport::default();
    }
    let all: Vec<QueueMessage> = msgs.iter().cloned().map(Into::into).collect();
    queue.send(&all).await
}

/// A queue that drops nothing and sends nothing: for functions that never enqueue.
#[derive(Debug, Default)]
pub struct NoQueue;

impl LogoutQueue for NoQueue {
    fn send<'a>(&'a self, msgs: &'a [QueueMessage]) -> BoxFuture<'a, SendReport> {
        Box::pin(async move {
            SendReport {
                failed: msgs
                    .iter()
                    .map(|m| (m.clone(), "no queue configured".into()))
                    .collect(),
            }
        })
    }
    fn delivers(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logout_and_signal_messages_keep_apart_on_the_wire() {
        let logout = QueueMessage::from(DeliveryMessage {
            sid: "s".into(),
            client_id: "c".into(),
            user_id: "u".into(),
            resent: false,
        });
        let body = serde_json::to_string(&logout).unwrap();
        assert_eq!(body, r#"{"sid":"s","client_id":"c","user_id":"u"}"#);
        assert_eq!(serde_json::from_str::<QueueMessage>(&body).unwrap(), logout);
        for m in [
            SignalMessage::FanOut { signal: "x".into() },
            SignalMessage::Push {
                stream_id: "st".into(),
                event: "Q#1#j".into(),
            },
        ] {
            let q = QueueMessage::from(m);
            let body = serde_json::to_string(&q).unwrap();
            assert!(body.contains(r#""ssf":"#), "{body}");
            assert_eq!(serde_json::from_str::<QueueMessage>(&body).unwrap(), q);
            assert!(serde_json::from_str::<DeliveryMessage>(&body).is_err());
        }
        assert!(serde_json::from_str::<QueueMessage>(r#"{"ssf":"other"}"#).is_err());
    }
}
