//! The SQS adapter against moto's SQS: batching in tens, per-message reports, DLQ redrive.

use aws_sdk_sqs::types::QueueAttributeName;
use warden_core::outbound::queue::{DeliveryMessage, LogoutQueue, QueueMessage, SqsQueue};

async fn queue_pair(max_receive: u32) -> (aws_sdk_sqs::Client, String, String) {
    let ep = warden_tests::moto_endpoint();
    let sqs = warden_core::app::sqs_client(Some(&ep)).await;
    let name = warden_core::platform::crypto::random_id().replace(['-', '_'], "x");
    let dlq = sqs
        .create_queue()
        .queue_name(format!("dlq{name}"))
        .send()
        .await
        .unwrap();
    let dlq_url = dlq.queue_url().unwrap().to_string();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap();
    let q = sqs
        .create_queue()
        .queue_name(format!("q{name}"))
        .attributes(QueueAttributeName::VisibilityTimeout, "1")
        .attributes(
            QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receive}"}}"#),
        )
        .send()
        .await
        .unwrap();
    (sqs, q.queue_url().unwrap().to_string(), dlq_url)
}

fn msgs(n: usize) -> Vec<QueueMessage> {
    (0..n)
        .map(|i| {
            DeliveryMessage {
                sid: format!("s{i}"),
                client_id: "rp".into(),
                user_id: "u".into(),
                resent: i % 2 == 1,
            }
            .into()
        })
        .collect()
}

async fn drain(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    delete: bool,
) -> Vec<aws_sdk_sqs::types::Message> {
    let mut out = Vec::new();
    for _ in 0..10 {
        let r = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .unwrap();
        let m = r.messages.unwrap_or_default();
        if m.is_empty() {
            break;
        }
        if delete {
            for x in &m {
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(x.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        out.extend(m);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_in_batches_of_ten() {
    let (sqs, url, _) = queue_pair(3).await;
    let q = SqsQueue {
        client: sqs.clone(),
        url: url.clone(),
    };
    let report = q.send(&msgs(25)).await;
    assert!(report.failed.is_empty(), "{report:?}");
    let got = drain(&sqs, &url, true).await;
    assert_eq!(got.len(), 25);
    let m: DeliveryMessage = serde_json::from_str(got[0].body().unwrap()).unwrap();
    assert_eq!(m.client_id, "rp");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_failures_when_the_queue_is_gone() {
    let ep = warden_tests::moto_endpoint();
    let sqs = warden_core::app::sqs_client(Some(&ep)).await;
    let q = SqsQueue {
        client: sqs,
        url: format!("{ep}/123456789012/does-not-exist"),
    };
    let report = q.send(&msgs(12)).await;
    assert_eq!(report.failed.len(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_messages_redrive_to_the_dlq() {
    let (sqs, url, dlq) = queue_pair(2).await;
    let q = SqsQueue {
        client: sqs.clone(),
        url: url.clone(),
    };
    assert!(q.send(&msgs(1)).await.failed.is_empty());
    // Receive twice without deleting (a dispatcher failing), then the message moves.
    for _ in 0..2 {
        let got = drain(&sqs, &url, false).await;
        assert_eq!(got.len(), 1);
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    }
    assert!(drain(&sqs, &url, false).await.is_empty());
    let dead = drain(&sqs, &dlq, true).await;
    assert_eq!(dead.len(), 1);
}
