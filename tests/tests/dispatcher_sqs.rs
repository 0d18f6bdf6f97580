//! The SQS path end to end against moto: termination → SendMessageBatch to a real queue
//! (with a DLQ redrive policy) → the local poller hands received messages to the
//! `logout-dispatcher` function's handler (as the Lambda event source mapping would) →
//! POST to the test RP. 200 → `delivered` and the message is deleted; 503 → retried with a
//! visibility backoff, `dead` after maxReceiveCount receives and the message in the DLQ;
//! replay → delivered.

mod logout_common;

use aws_sdk_sqs::types::{Message, QueueAttributeName};
use logout_common::{verify_all, wait_status};
use std::time::Duration;
use warden_core::admin::ClientSpec;
use warden_core::outbound::queue::DeliveryMessage;
use warden_core::session;
use warden_tests::rp::TestRp;
use warden_tests::{spawn_with, Options, Stack};

/// A queue with a DLQ after `max_receive` receives. Returns (client, queue URL, DLQ URL).
async fn queue_pair(max_receive: u32) -> (aws_sdk_sqs::Client, String, String) {
    let ep = warden_tests::moto_endpoint();
    let sqs = warden_core::app::sqs_client(Some(&ep)).await;
    let name = warden_core::platform::crypto::random_id().replace(['-', '_'], "x");
    let dlq_url = sqs
        .create_queue()
        .queue_name(format!("logout-dlq-{name}"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
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
    let url = sqs
        .create_queue()
        .queue_name(format!("logout-{name}"))
        .attributes(QueueAttributeName::VisibilityTimeout, "10")
        .attributes(
            QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receive}"}}"#),
        )
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    (sqs, url, dlq_url)
}

async fn stack_on(url: &str, configure: Option<fn(&mut warden_core::Config)>) -> Stack {
    spawn_with(Options {
        sqs_queue_url: Some(url.to_string()),
        sqs_endpoint: Some(warden_tests::moto_endpoint()),
        configure,
        ..Default::default()
    })
    .await
}

async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> (i64, i64) {
    let a = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let attrs = a.attributes().cloned().unwrap_or_default();
    let get = |k: QueueAttributeName| attrs.get(&k).and_then(|v| v.parse().ok()).unwrap_or(-1);
    (
        get(QueueAttributeName::ApproximateNumberOfMessages),
        get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

async fn receive_one(sqs: &aws_sdk_sqs::Client, url: &str, timeout: Duration) -> Option<Message> {
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        let r = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(1)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if let Some(m) = r.messages.unwrap_or_default().into_iter().next() {
            return Some(m);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_through_sqs_and_the_message_is_deleted() {
    let (sqs, url, dlq) = queue_pair(3).await;
    let s = stack_on(&url, None).await;
    let rp = TestRp::start().await;
    let c = s
        .client(ClientSpec {
            client_id: Some("sqs-rp".into()),
            name: "SQS RP".into(),
            redirect_uris: vec![format!("http://{}/cb", rp.addr)],
            backchannel_logout_uri: Some(rp.uri()),
            ..Default::default()
        })
        .await
        .0;
    let user = s.user("carol", "correct horse", &[]).await;
    let (sess, _) = s.session_for(&user, "t").await;
    s.tokens_for(&sess, &c, "openid").await;
    session::terminate(
        s.app(),
        &sess.sid,
        None,
        warden_core::store::schema::EndReason::User,
    )
    .await
    .unwrap();
    assert_eq!(rp.wait_for(1, Duration::from_secs(15)).await, 1);
    let d = wait_status(
        &s,
        &sess.sid,
        "sqs-rp",
        "delivered",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(d.attempts, 1);
    verify_all(&s, "sqs-rp", &user.user_id, &sess.sid, &rp.logout_tokens()).await;
    // The poller deleted the message after the handler reported success.
    let start = std::time::Instant::now();
    loop {
        if queue_depth(&sqs, &url).await == (0, 0) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "message not deleted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(queue_depth(&sqs, &dlq).await, (0, 0));
    assert_eq!(rp.received().len(), 1);

    // Duplicates of a delivery already final are not posted again: a message the relay
    // re-sent (through the queue and the dispatcher)...
    let dup = DeliveryMessage {
        sid: sess.sid.clone(),
        client_id: "sqs-rp".into(),
        user_id: user.user_id.clone(),
        resent: true,
    };
    sqs.send_message()
        .queue_url(&url)
        .message_body(serde_json::to_string(&dup).unwrap())
        .send()
        .await
        .unwrap();
    let start = std::time::Instant::now();
    while queue_depth(&sqs, &url).await != (0, 0) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "duplicate not consumed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ...and a message SQS hands out a second time.
    let first = DeliveryMessage {
        resent: false,
        ..dup.clone()
    };
    let out = warden_core::logout::backchannel::deliver_batch(s.app(), &[(&first, 2)], 1).await;
    assert_eq!(
        out[0].as_ref().unwrap(),
        &warden_core::store::DeliveryOutcome::AlreadyFinal(
            warden_core::store::schema::DeliveryStatus::Delivered
        )
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        rp.received().len(),
        1,
        "no second POST for a final delivery"
    );
    let d = s
        .store()
        .get_delivery(&sess.sid, "sqs-rp")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((d.status.as_str(), d.attempts), ("delivered", 1));
}

fn two_attempts(c: &mut warden_core::Config) {
    // Matches the queue's maxReceiveCount below.
    c.delivery_max_attempts = 2;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_rp_goes_dead_into_the_dlq_and_replay_delivers() {
    let (sqs, url, dlq) = queue_pair(2).await;
    let s = stack_on(&url, Some(two_attempts)).await;
    let rp = TestRp::start().await;
    rp.set_status(503);
    let c = s
        .client(ClientSpec {
            client_id: Some("down".into()),
            name: "Down".into(),
            redirect_uris: vec![format!("http://{}/cb", rp.addr)],
            backchannel_logout_uri: Some(rp.uri()),
            ..Default::default()
        })
        .await
        .0;
    let user = s.user("dave", "correct horse", &[]).await;
    let (sess, _) = s.session_for(&user, "t").await;
    s.tokens_for(&sess, &c, "openid").await;
    session::terminate(
        s.app(),
        &sess.sid,
        None,
        warden_core::store::schema::EndReason::Admin,
    )
    .await
    .unwrap();

    // First receive: 503 → retry (visibility pushed out by the backoff); second receive:
    // 503 again at the last allowed attempt → `dead`, left for the redrive.
    let d = wait_status(&s, &sess.sid, "down", "dead", Duration::from_secs(20)).await;
    assert_eq!(d.attempts, 2);
    assert_eq!(d.last_http_status, Some(503));
    assert_eq!(rp.received().len(), 2);
    // The next receive exceeds maxReceiveCount: SQS moves the message to the DLQ.
    let dead = receive_one(&sqs, &dlq, Duration::from_secs(15))
        .await
        .expect("message in the DLQ");
    let m: DeliveryMessage = serde_json::from_str(dead.body().unwrap()).unwrap();
    assert_eq!(m.sid, sess.sid);
    assert_eq!(m.client_id, "down");
    assert_eq!(queue_depth(&sqs, &url).await, (0, 0));
    assert_eq!(rp.received().len(), 2, "not retried after dead");

    // Replay (Admin API operation) once the RP is back.
    rp.set_status(200);
    warden_core::logout::relay::replay(s.app(), &sess.sid, "down")
        .await
        .unwrap();
    let d = wait_status(&s, &sess.sid, "down", "delivered", Duration::from_secs(15)).await;
    assert_eq!(d.last_http_status, Some(200));
    verify_all(&s, "down", &user.user_id, &sess.sid, &rp.logout_tokens()).await;
}
