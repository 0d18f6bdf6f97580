//! A delivery receipt describes its last attempt: once a delivery that failed before goes
//! through (or is refused with 400), the earlier attempt's `lastError` is gone. Against both
//! engines through the store (one UpdateItem, and a dispatcher batch's transaction), and end
//! to end through the local stack's dispatcher and the receipt the Admin API renders.

mod logout_common;

use logout_common::wait_status;
use std::time::{Duration, Instant};
use warden_core::admin::ClientSpec;
use warden_core::platform::time::{now_ms, now_s};
use warden_core::session;
use warden_core::store::schema::{keys, DeliveryItem, SessionItem, Shards};
use warden_core::store::{DeliveryOutcome, DeliveryRecord};
use warden_core::Store;
use warden_tests::both_engines;
use warden_tests::rp::TestRp;
use warden_tests::{spawn_with, Options};

fn session_item(sid: &str, now: i64) -> SessionItem {
    SessionItem {
        pk: keys::session_pk(sid),
        sk: keys::SESSION_SK.into(),
        sid: sid.into(),
        user_id: "u".into(),
        username: "u".into(),
        secret_hash: "h".into(),
        created_ms: now * 1000,
        last_seen_ms: now * 1000,
        auth_time: now,
        idle_expires_at: now + 600,
        absolute_expires_at: now + 1600,
        remember_me: false,
        user_agent: "test".into(),
        ip: "10.0.0.1".into(),
        status: warden_core::store::schema::SessionStatus::Active,
        ended_reason: None,
        ended_at_ms: None,
        ended_by: None,
        version: 0,
        apps: Default::default(),
        gsi1pk: None,
        gsi1sk: None,
        gsi2pk: None,
        gsi2sk: None,
        gsi3pk: None,
        gsi3sk: None,
        expires_at: now + 100_000,
    }
}

fn pending_delivery(sid: &str, cid: &str, now: i64) -> DeliveryItem {
    DeliveryItem {
        pk: keys::session_pk(sid),
        sk: keys::delivery_sk(cid),
        sid: sid.into(),
        client_id: cid.into(),
        user_id: "u".into(),
        status: warden_core::store::schema::DeliveryStatus::Pending,
        attempts: 0,
        last_http_status: None,
        last_error: None,
        created_ms: now_ms(),
        updated_ms: now_ms(),
        delivered_ms: None,
        reason: "user".into(),
        gsi2pk: Some(keys::due_logout_gsi(keys::due_shard(sid, Shards::DEFAULT))),
        gsi2sk: Some(keys::due_sort(now + 120, &format!("{sid}#{cid}"))),
        expires_at: now + 1000,
    }
}

fn rec<'a>(cid: &'a str, outcome: &'a DeliveryOutcome) -> DeliveryRecord<'a> {
    DeliveryRecord {
        sid: "r1",
        client_id: cid,
        outcome,
        retry_due_s: now_s() + 300,
    }
}

/// Deliveries that failed once (503) and then were delivered or refused, recorded one by
/// one (UpdateItem) and as a batch (TransactWriteItems): none keeps the 503's error.
async fn a_final_attempt_clears_the_earlier_error(store: &Store) {
    let now = now_s();
    let s = session_item("r1", now);
    store.put_session(&s).await.unwrap();
    let cids = ["one", "batch-a", "batch-b", "refused"];
    let ds: Vec<_> = cids
        .iter()
        .map(|c| pending_delivery("r1", c, now))
        .collect();
    store
        .commit_termination(&s, &[], &ds, "user", now_ms())
        .await
        .unwrap();
    let failed = DeliveryOutcome::Retry {
        http_status: Some(503),
        error: "HTTP 503".into(),
    };
    let recs: Vec<_> = cids.iter().map(|c| rec(c, &failed)).collect();
    for r in store.record_deliveries(&recs, now_ms()).await {
        r.unwrap();
    }
    for cid in cids {
        let d = store.get_delivery("r1", cid).await.unwrap().unwrap();
        assert_eq!(d.status, "pending", "{cid}");
        assert_eq!(d.last_error.as_deref(), Some("HTTP 503"), "{cid}");
    }

    let ok = DeliveryOutcome::Delivered(200);
    let refused = DeliveryOutcome::Rejected {
        http_status: Some(400),
        error: None,
    };
    // One by one (the single UpdateItem path).
    store
        .record_delivery("r1", "one", &ok, now_ms(), now + 300)
        .await
        .unwrap();
    // A batch (the transaction path).
    let r = store
        .record_deliveries(
            &[
                rec("batch-a", &ok),
                rec("batch-b", &ok),
                rec("refused", &refused),
            ],
            now_ms(),
        )
        .await;
    assert!(r.iter().all(|x| x.is_ok()), "{r:?}");

    for (cid, status, http) in [
        ("one", "delivered", 200),
        ("batch-a", "delivered", 200),
        ("batch-b", "delivered", 200),
        ("refused", "rejected", 400),
    ] {
        let d = store.get_delivery("r1", cid).await.unwrap().unwrap();
        assert_eq!(d.status, status, "{cid}");
        assert_eq!(d.attempts, 2, "{cid}");
        assert_eq!(d.last_http_status, Some(http), "{cid}");
        assert_eq!(d.last_error, None, "{cid}: stale error kept");
        let receipt = warden_core::api::sessions::delivery_json(&d);
        assert!(receipt["lastError"].is_null(), "{cid}: {receipt}");
    }
    assert!(store
        .due_deliveries(now + 10_000, 10)
        .await
        .unwrap()
        .is_empty());
}
both_engines!(final_attempts, a_final_attempt_clears_the_earlier_error);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_answered_503_once_then_200_shows_a_clean_delivered_receipt() {
    let s = spawn_with(Options {
        retry_base: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let rp = TestRp::start().await;
    rp.set_status(503);
    let c = s
        .client(ClientSpec {
            client_id: Some("once-down".into()),
            name: "Once down".into(),
            redirect_uris: vec![format!("http://{}/cb", rp.addr)],
            backchannel_logout_uri: Some(rp.uri()),
            ..Default::default()
        })
        .await
        .0;
    let user = s.user("erin", "correct horse", &[]).await;
    let (sess, _) = s.session_for(&user, "test").await;
    s.tokens_for(&sess, &c, "openid").await;
    session::terminate(
        s.app(),
        &sess.sid,
        None,
        warden_core::store::schema::EndReason::User,
    )
    .await
    .unwrap();

    // The first attempt fails and is recorded with its error.
    let start = Instant::now();
    loop {
        let d = s
            .store()
            .get_delivery(&sess.sid, "once-down")
            .await
            .unwrap()
            .unwrap();
        if d.attempts >= 1 {
            assert_eq!(d.status, "pending");
            assert_eq!(d.last_error.as_deref(), Some("HTTP 503"));
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The retry goes through: the receipt says delivered, and nothing of the 503.
    rp.set_status(200);
    let d = wait_status(
        &s,
        &sess.sid,
        "once-down",
        "delivered",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(d.attempts, 2);
    assert_eq!(d.last_http_status, Some(200));
    assert_eq!(d.last_error, None);
    let receipt = warden_core::api::sessions::delivery_json(&d);
    assert_eq!(receipt["status"], "delivered");
    assert!(receipt["lastError"].is_null(), "{receipt}");
}
