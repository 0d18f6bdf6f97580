//! The back-channel logout pipeline end to end on the local stack (in-process queue, local
//! dispatcher with retries, relay): a test RP receives the POSTs; every logout token is
//! verified by PyPI `oic` and by our own checks. RP down → retried → dead → replay →
//! delivered; an RP down for 8 attempts (8.5 min on the deployed schedule) → still pending
//! → delivered once it is back; 400 → rejected, never retried; a slow RP → timeout →
//! retried; SendMessage failing after the commit → the relay delivers; an expired session →
//! ended by the relay with reason `expired` → delivered.

mod logout_common;

use logout_common::{oic_verify, signed_in, verify_all, wait_status};
use std::time::Duration;
use warden_core::admin::ClientSpec;
use warden_core::session::{self, Terminated};
use warden_core::store::schema::ClientItem;
use warden_tests::rp::TestRp;
use warden_tests::{spawn_with, Options, Stack};

const WAIT: Duration = Duration::from_secs(10);

fn fast() -> Options {
    Options {
        retry_base: Duration::from_millis(50),
        ..Default::default()
    }
}

async fn rp_client(s: &Stack, rp: &TestRp, id: &str) -> ClientItem {
    s.client(ClientSpec {
        client_id: Some(id.into()),
        name: format!("App {id}"),
        redirect_uris: vec![format!("http://{}/cb", rp.addr)],
        backchannel_logout_uri: Some(rp.uri()),
        backchannel_logout_session_required: true,
        ..Default::default()
    })
    .await
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_logout_tokens_that_third_party_verification_accepts() {
    let s = spawn_with(fast()).await;
    let rp1 = TestRp::start().await;
    let rp2 = TestRp::start().await;
    let c1 = rp_client(&s, &rp1, "app-one").await;
    let c2 = rp_client(&s, &rp2, "app-two").await;
    let (user, sess) = signed_in(&s, &[&c1, &c2]).await;

    let t = session::terminate(
        s.app(),
        &sess.sid,
        None,
        warden_core::store::schema::EndReason::User,
    )
    .await
    .unwrap();
    assert_eq!(t, Terminated::Ended { deliveries: 2 });
    assert_eq!(rp1.wait_for(1, WAIT).await, 1);
    assert_eq!(rp2.wait_for(1, WAIT).await, 1);

    for (rp, c) in [(&rp1, &c1), (&rp2, &c2)] {
        let got = rp.received();
        assert_eq!(got[0].content_type, "application/x-www-form-urlencoded");
        let fields: Vec<(String, String)> = url::form_urlencoded::parse(got[0].body.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(fields.len(), 1, "the body is logout_token only");
        assert_eq!(fields[0].0, "logout_token");
        let tokens = rp.logout_tokens();
        let verified = verify_all(&s, &c.client_id, &user.user_id, &sess.sid, &tokens).await;
        assert_eq!(verified[0]["claims"]["sub"], user.user_id.as_str());
        let d = wait_status(&s, &sess.sid, &c.client_id, "delivered", WAIT).await;
        assert_eq!(d.last_http_status, Some(200));
        assert_eq!(d.attempts, 1);
        assert_eq!(d.reason, "user");
    }

    // The verifier is not a rubber stamp: a modified token, a token for another audience
    // and an unsigned token are refused.
    let good = rp1.logout_tokens()[0].clone();
    let parts: Vec<&str> = good.split('.').collect();
    let mut claims = logout_common::decode_part(&good, 1);
    claims["sub"] = serde_json::json!("someone-else");
    use base64::Engine;
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    let modified = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    let unsigned = format!(
        "{}.{}.",
        b64(&serde_json::json!({"alg": "none", "typ": "logout+jwt"})),
        parts[1]
    );
    let r = oic_verify(&s, "app-one", &[modified, unsigned, good.clone()]).await;
    assert_eq!(r[0]["ok"], false, "{}", r[0]);
    assert_eq!(r[1]["ok"], false, "{}", r[1]);
    assert_eq!(r[2]["ok"], true, "{}", r[2]);
    let r = oic_verify(&s, "app-two", std::slice::from_ref(&good)).await;
    assert_eq!(r[0]["ok"], false, "wrong audience accepted: {}", r[0]);
}

fn three_attempts(c: &mut warden_core::Config) {
    c.delivery_max_attempts = 3;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rp_down_is_retried_then_dead_then_replay_delivers() {
    let s = spawn_with(Options {
        configure: Some(three_attempts),
        ..fast()
    })
    .await;
    let rp = TestRp::start().await;
    rp.set_status(503);
    let c = rp_client(&s, &rp, "flaky").await;
    let (user, sess) = signed_in(&s, &[&c]).await;
    session::terminate(
        s.app(),
        &sess.sid,
        None,
        warden_core::store::schema::EndReason::Admin,
    )
    .await
    .unwrap();

    let d = wait_status(&s, &sess.sid, "flaky", "dead", WAIT).await;
    assert_eq!(d.attempts, 3);
    assert_eq!(d.last_http_status, Some(503));
    assert_eq!(rp.received().len(), 3, "one POST per attempt");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(rp.received().len(), 3, "no attempts after dead");

    // The RP is back; an operator replays the dead delivery.
    rp.set_status(204);
    warden_core::logout::relay::replay(s.app(), &sess.sid, "flaky")
        .await
        .unwrap();
    let d = wait_status(&s, &sess.sid, "flaky", "delivered", WAIT).await;
    assert_eq!(d.last_http_status, Some(204));
    assert_eq!(rp.received().len(), 4);
    verify_all(&s, "flaky", &user.user_id, &sess.sid, &rp.logout_tokens()).await;
    // Replaying a delivered delivery is refused.
    assert!(
        warden_core::logout::relay::replay(s.app(), &sess.sid, "flaky")
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_down_for_eight_attempts_still_gets_its_logout_once_it_is_back() {
    use warden_core::logout::backchannel::retry_window;
    // On the deployed schedule the ninth attempt comes 510 s (8.5 min) after the first —
    // the old schedule gave up after 5 attempts, 30 s. Here the local dispatcher runs the
    // same schedule with 10 ms in place of its first 2 s: the 8 waits take about 2.5 s.
    assert_eq!(retry_window(9), Duration::from_secs(510));
    assert_eq!(retry_window(5), Duration::from_secs(30));
    let s = spawn_with(Options {
        retry_base: Duration::from_millis(10),
        ..Default::default()
    })
    .await;
    assert_eq!(s.app().config.delivery_max_attempts, 35, "the default");
    let rp = TestRp::start().await;
    rp.set_status(503);
    let c = rp_client(&s, &rp, "back-later").await;
    let (user, sess) = signed_in(&s, &[&c]).await;
    session::terminate(
        s.app(),
        &sess.sid,
        None,
        warden_core::store::schema::EndReason::User,
    )
    .await
    .unwrap();

    // Down for the first 8 attempts: the delivery stays pending all along, never dead.
    let start = std::time::Instant::now();
    loop {
        let d = s
            .store()
            .get_delivery(&sess.sid, "back-later")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d.status, "pending", "after {} attempts", d.attempts);
        if d.attempts >= 8 {
            assert_eq!(d.attempts, 8);
            assert_eq!(d.last_http_status, Some(503));
            break;
        }
        assert!(start.elapsed() < WAIT, "only {} attempts", d.attempts);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Back up: the ninth attempt (about 1.3 s later here, 256 s on the deployed schedule)
    // delivers.
    rp.set_status(200);
    let d = wait_status(&s, &sess.sid, "back-later", "delivered", WAIT).await;
    assert_eq!(d.attempts, 9);
    assert_eq!(d.last_http_status, Some(200));
    assert_eq!(rp.received().len(), 9, "one POST per attempt");
    verify_all(
        &s,
        "back-later",
        &user.user_id,
        &sess.sid,
        &rp.logout_tokens()[8..],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_rp_is_retried_until_dead() {
    let s = spawn_with(Options {
        configure: Some(three_attempts),
        ..fast()
    })
    .await;
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let c = s
        .client(ClientSpec {
            client_id: Some("gone".into()),
            name: "Gone".into(),
            redirect_uris: vec![format!("http://127.0.0.1:{port}/cb")],
            backchannel_logout_uri: Some(format!("http://127.0.0.1:{port}/backchannel")),
            ..Default::default()
        })
        .await
        .0;
    let (_, sess) = signed_in(&s, &[&c]).await;
    session::terminate(
        s.app(),
        &sess.sid,
        None,
        warden_core::store::schema::EndReason::User,
    )
    .await
    .unwrap();
    let d = wait_status(&s, &sess.sid, "gone", "dead", WAIT).await;
    assert_eq!(d.attempts, 3);
    assert_eq!(d.last_http_status, None);
    assert_eq!(d.last_error.as_deref(), Some("connection failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_request_is_rejected_and_never_retried() {
    let s = spawn_with(fast()).await;
    let rp = TestRp::start().await;
    rp.set_status(400);
    let c = rp_client(&s, &rp, "strict").await;
    let (_, sess) = signed_in(&s, &[&c]).await;
    session::terminate(
        s.app(),
        &sess.sid,
        None,
        warden_core::store::schema::EndReason::User,
    )
    .await
    .unwrap();
    let d = wait_status(&s, &sess.sid, "strict", "rejected", WAIT).await;
    assert_eq!(d.last_http_status, Some(400));
    assert_eq!(d.attempts, 1);
    // Retries would have happened within 50 + 100 + 200 ms.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(rp.received().len(), 1, "exactly one POST");
    // The relay does not pick it up either.
    let r =
        warden_core::logout::relay::relay(s.app(), warden_core::platform::time::now_s() + 10_000)
            .await
            .unwrap();
    assert_eq!(r.resent, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_rp_times_out_and_is_retried() {
    let s = spawn_with(Options {
        retry_base: Duration::from_millis(400),
        delivery_timeout: Duration::from_millis(150),
        ..Default::default()
    })
    .await;
    let rp = TestRp::start().await;
    rp.set_delay(Duration::from_millis(600));
    let c = rp_client(&s, &rp, "slow").await;
    let (user, sess) = signed_in(&s, &[&c]).await;
    session::terminate(
        s.app(),
        &sess.sid,
        None,
        warden_core::store::schema::EndReason::User,
    )
    .await
    .unwrap();
    // The first attempt times out and is recorded as a retry.
    let start = std::time::Instant::now();
    loop {
        let d = s
            .store()
            .get_delivery(&sess.sid, "slow")
            .await
            .unwrap()
            .unwrap();
        if d.attempts >= 1 {
            assert_eq!(d.status, "pending");
            assert_eq!(d.last_error.as_deref(), Some("timeout"));
            break;
        }
        assert!(start.elapsed() < WAIT);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    rp.set_delay(Duration::ZERO);
    let d = wait_status(&s, &sess.sid, "slow", "delivered", WAIT).await;
    assert_eq!(d.attempts, 2);
    // The timed-out request was abandoned (the RP's handler is cancelled with the
    // connection); the second one was answered in time.
    assert!(rp.wait_for(1, WAIT).await >= 1);
    verify_all(&s, "slow", &user.user_id, &sess.sid, &rp.logout_tokens()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_delivers_when_the_queue_send_failed_after_the_commit() {
    let s = spawn_with(fast()).await;
    let rp = TestRp::start().await;
    let c = rp_client(&s, &rp, "outage").await;
    let (user, sess) = signed_in(&s, &[&c]).await;
    let q = s.running.queue.clone().expect("in-process queue");
    q.fail_sends
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let t = session::terminate(
        s.app(),
        &sess.sid,
        None,
        warden_core::store::schema::EndReason::User,
    )
    .await
    .unwrap();
    assert_eq!(t, Terminated::Ended { deliveries: 1 });
    // Committed: the session ended and the delivery is in the outbox, but nothing was sent.
    let ended = s.store().get_session(&sess.sid).await.unwrap().unwrap();
    assert_eq!(ended.status, "ended");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rp.received().len(), 0);
    let d = s
        .store()
        .get_delivery(&sess.sid, "outage")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((d.status.as_str(), d.attempts), ("pending", 0));

    // Not due yet: the relay leaves it alone.
    let r = warden_core::logout::relay::relay(s.app(), warden_core::platform::time::now_s())
        .await
        .unwrap();
    assert_eq!(r.resent, 0);
    // The queue is back; the relay's next run after the threshold re-sends it.
    q.fail_sends
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let r = warden_core::logout::relay::relay(s.app(), warden_core::platform::time::now_s() + 200)
        .await
        .unwrap();
    assert_eq!(r.resent, 1);
    wait_status(&s, &sess.sid, "outage", "delivered", WAIT).await;
    assert_eq!(rp.received().len(), 1);
    verify_all(&s, "outage", &user.user_id, &sess.sid, &rp.logout_tokens()).await;
}

fn short_idle(c: &mut warden_core::Config) {
    c.session_idle = Duration::from_secs(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_session_is_ended_by_the_relay_and_apps_hear_of_it() {
    let s = spawn_with(Options {
        relay_every: Duration::from_millis(250),
        configure: Some(short_idle),
        ..fast()
    })
    .await;
    let rp = TestRp::start().await;
    let c = rp_client(&s, &rp, "idle").await;
    let (user, sess) = signed_in(&s, &[&c]).await;
    // Idle expiry is one second: the relay loop (every 250 ms here, every minute in AWS)
    // ends the session with reason `idle_timeout` (told apart from `absolute_timeout`), by
    // the system, and the RP is told.
    assert_eq!(rp.wait_for(1, WAIT).await, 1);
    let ended = s.store().get_session(&sess.sid).await.unwrap().unwrap();
    assert_eq!(ended.status, "ended");
    assert_eq!(ended.ended_reason.as_deref(), Some("idle_timeout"));
    assert_eq!(
        ended.ended_by,
        Some(warden_core::store::schema::EndedBy::system())
    );
    let d = wait_status(&s, &sess.sid, "idle", "delivered", WAIT).await;
    assert_eq!(d.reason, "idle_timeout");
    verify_all(&s, "idle", &user.user_id, &sess.sid, &rp.logout_tokens()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_rechecks_expiry_before_ending_a_session() {
    let s = spawn_with(fast()).await;
    let rp = TestRp::start().await;
    let c = rp_client(&s, &rp, "stale").await;
    let (_, mut sess) = signed_in(&s, &[&c]).await;
    // The due index says "expired" (as a lagging GSI might after a touch), the item does not.
    let now = warden_core::platform::time::now_s();
    sess.gsi2sk = Some(warden_core::store::schema::keys::due_sort(
        now - 10,
        &sess.sid,
    ));
    let ddb = warden_core::store::dynamodb_client(Some(&s.running.dynamodb_endpoint), None).await;
    ddb.put_item()
        .table_name(&s.app().config.table)
        .set_item(Some(warden_core::store::schema::to_item(&sess).unwrap()))
        .send()
        .await
        .unwrap();
    let r = warden_core::logout::relay::relay(s.app(), now)
        .await
        .unwrap();
    assert_eq!(r.expired, 0);
    let cur = s.store().get_session(&sess.sid).await.unwrap().unwrap();
    assert_eq!(cur.status, "active");
    // Once it really is past its expiry, the relay ends it.
    let r = warden_core::logout::relay::relay(s.app(), sess.idle_expires_at + 1)
        .await
        .unwrap();
    assert_eq!(r.expired, 1);
    assert_eq!(rp.wait_for(1, WAIT).await, 1);
}
