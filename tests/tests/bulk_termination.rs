//! Bulk termination (issue "Every way a session ends", item 6): ending many sessions of one
//! user packs them into shared transactions (`session::terminate::terminate_many`), each
//! session still conditioned on its own.
//!
//! * Ending all of a user's 45 sessions (more than two transactions' worth) leaves each
//!   ended with its reason and actor, its refresh token refused, its access token inactive,
//!   one verified logout token per session at the app — and the other user's sessions
//!   untouched — on the embedded engine and on moto.
//! * A shared transaction is all or nothing: a token issued to one of its sessions after
//!   the read cancels it whole, and nothing of it is applied.
//! * Tokens issued while "end all" runs are never left active: whatever was issued before
//!   the sessions ended is revoked (a refused shared transaction ends its sessions one by
//!   one, read again).

mod logout_common;

use std::collections::BTreeSet;
use std::time::Duration;
use warden_core::admin::ClientSpec;
use warden_core::oauth::tokens::Issued;
use warden_core::session::terminate::{plan, terminate_many};
use warden_core::store::bulk::Ending;
use warden_core::store::schema::{ClientItem, EndReason, EndedBy, SessionItem};
use warden_core::store::StoreError;
use warden_tests::flow;
use warden_tests::rp::TestRp;
use warden_tests::{spawn, spawn_with, Options, Stack};

const PW: &str = "correct horse battery";

async fn app(s: &Stack, rp: &TestRp) -> (ClientItem, String) {
    let (c, secret) = s
        .client(ClientSpec {
            client_id: Some("bulk-app".into()),
            name: "Bulk".into(),
            redirect_uris: vec!["https://bulk.example/cb".into()],
            backchannel_logout_uri: Some(rp.uri()),
            backchannel_logout_session_required: true,
            ..Default::default()
        })
        .await;
    (c, secret.expect("a confidential client's secret"))
}

async fn sessions(s: &Stack, c: &ClientItem, user: &str, n: usize) -> Vec<(SessionItem, Issued)> {
    let u = s.user(user, PW, &[]).await;
    let mut out = Vec::new();
    for i in 0..n {
        let (x, _) = s.session_for(&u, &format!("{user}-{i}")).await;
        let t = s.tokens_for(&x, c, "openid").await;
        out.push((x, t));
    }
    out
}

async fn introspect(s: &Stack, c: &ClientItem, secret: &str, token: &str) -> bool {
    flow::introspect(s, &c.client_id, secret, token).await["active"]
        .as_bool()
        .expect("active")
}

async fn refresh(s: &Stack, c: &ClientItem, secret: &str, rt: &str) -> (u16, serde_json::Value) {
    let r = flow::refresh(s, &c.client_id, secret, rt).await;
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn end_all_of_45(s: Stack) {
    let rp = TestRp::start().await;
    let (c, secret) = app(&s, &rp).await;
    let mine = sessions(&s, &c, "bulk-alice", 45).await;
    let theirs = sessions(&s, &c, "bulk-bob", 3).await;
    let uid = mine[0].0.user_id.clone();
    let sids: Vec<String> = mine.iter().map(|(x, _)| x.sid.clone()).collect();
    let by = EndedBy::person(
        warden_core::store::schema::ActorKind::Admin,
        "admin-1",
        Some("console"),
    );
    let n = terminate_many(s.app(), &uid, &sids, EndReason::Admin, Some(&by))
        .await
        .expect("ends");
    assert_eq!(n, 45);
    // Ending them again is a no-op, and a session of another user is never ended by it.
    let bob_sid = theirs[0].0.sid.clone();
    let again = terminate_many(
        s.app(),
        &uid,
        &[sids[0].clone(), bob_sid],
        EndReason::Admin,
        None,
    )
    .await
    .expect("ends");
    assert_eq!(again, 0);
    for (x, t) in &mine {
        let it = s.store().get_session(&x.sid).await.unwrap().unwrap();
        assert_eq!(it.status, "ended");
        assert_eq!(it.ended_reason.as_deref(), Some("admin"));
        assert_eq!(it.ended_by.as_ref(), Some(&by));
        assert!(!introspect(&s, &c, &secret, &t.access_token).await);
        let rt = t.refresh_token.as_deref().expect("a refresh token");
        let (st, body) = refresh(&s, &c, &secret, rt).await;
        assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")));
    }
    assert_eq!(rp.wait_for(45, Duration::from_secs(20)).await, 45);
    let told: BTreeSet<String> = rp
        .logout_tokens()
        .iter()
        .map(|tok| {
            let claims = logout_common::decode_part(tok, 1);
            assert_eq!(claims["sub"], uid.as_str());
            claims["sid"].as_str().expect("sid").to_string()
        })
        .collect();
    assert_eq!(told, sids.iter().cloned().collect::<BTreeSet<_>>());
    let now = warden_core::platform::time::now_s();
    for (x, t) in &theirs {
        let it = s.store().get_session(&x.sid).await.unwrap().unwrap();
        assert!(it.is_live(now), "another user's session ended");
        assert!(introspect(&s, &c, &secret, &t.access_token).await);
    }
    // "Recently ended" shows them (its newest 25, the page's most).
    let ended = s
        .store()
        .recently_ended(&uid, now, 25)
        .await
        .expect("ended");
    assert_eq!(ended.len(), 25);
    assert!(ended.iter().all(|e| sids.contains(&e.session.sid)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_45_sessions_at_once_ends_each_whole_on_dynoxide() {
    end_all_of_45(spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_45_sessions_at_once_ends_each_whole_on_moto() {
    let proxy =
        warden_tests::faults::FaultProxy::start_serialized(&warden_tests::moto_endpoint()).await;
    let s = spawn_with(Options {
        dynamodb_endpoint: Some(proxy.url()),
        // moto answers a 95-item transaction slowly, and the serializing proxy queues the
        // shared transactions that run side by side: the default 2 s per attempt would
        // time a queued one out on a busy machine.
        dynamodb_attempt_timeout: Duration::from_secs(20),
        table: format!(
            "t{}",
            warden_core::platform::crypto::random_id().replace(['-', '_'], "x")
        ),
        ..Default::default()
    })
    .await;
    end_all_of_45(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_transaction_is_all_or_nothing() {
    let s = spawn().await;
    let rp = TestRp::start().await;
    let (c, _) = app(&s, &rp).await;
    let mine = sessions(&s, &c, "bulk-carol", 3).await;
    let uid = mine[0].0.user_id.clone();
    let now = warden_core::platform::time::now_ms();
    let mut read = Vec::new();
    for (x, _) in &mine {
        let part = s.store().session_partition(&x.sid).await.unwrap();
        let sess = part.session.expect("session");
        let p = plan(
            &sess,
            &part.links,
            &part.deliveries,
            EndReason::Admin,
            now,
            0,
        );
        read.push((sess, p));
    }
    // A token issued to the second session after it was read.
    let late = s.tokens_for(&mine[1].0, &c, "openid").await;
    let endings: Vec<Ending<'_>> = read
        .iter()
        .map(|(x, p)| Ending {
            session: x,
            tokens: &p.tokens,
            deliveries: &p.deliveries,
        })
        .collect();
    let r = s
        .store()
        .commit_terminations(&uid, &endings, "admin", None, now)
        .await;
    assert!(
        matches!(r, Err(StoreError::TransactionCancelled(_))),
        "{r:?}"
    );
    for (x, _) in &mine {
        let it = s.store().get_session(&x.sid).await.unwrap().unwrap();
        assert_eq!(
            it.status, "active",
            "nothing of the refused transaction applied"
        );
    }
    // The bulk path reads them again and ends all three, the late token with them.
    let sids: Vec<String> = mine.iter().map(|(x, _)| x.sid.clone()).collect();
    let n = terminate_many(s.app(), &uid, &sids, EndReason::Admin, None)
        .await
        .unwrap();
    assert_eq!(n, 3);
    let found = s
        .store()
        .find_token(&late.access_token)
        .await
        .unwrap()
        .expect("the late token");
    assert_eq!(found.item.status, "revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_issued_while_end_all_runs_are_never_left_active() {
    let s = spawn().await;
    let rp = TestRp::start().await;
    let (c, secret) = app(&s, &rp).await;
    let mine = sessions(&s, &c, "bulk-dave", 30).await;
    let uid = mine[0].0.user_id.clone();
    let sids: Vec<String> = mine.iter().map(|(x, _)| x.sid.clone()).collect();
    // Refresh every session's tokens while "end all" runs.
    let refreshes = mine.iter().map(|(_, t)| {
        let (s, c, secret) = (&s, &c, &secret);
        async move {
            let mut got = Vec::new();
            let mut rt = t.refresh_token.clone().expect("refresh token");
            for _ in 0..3 {
                let (st, body) = refresh(s, c, secret, &rt).await;
                if st != 200 {
                    assert_eq!(body["error"], "invalid_grant", "{body}");
                    break;
                }
                got.push(body["access_token"].as_str().unwrap().to_string());
                rt = body["refresh_token"].as_str().unwrap().to_string();
            }
            got
        }
    });
    let (issued, ended) = tokio::join!(futures::future::join_all(refreshes), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        terminate_many(s.app(), &uid, &sids, EndReason::UserAll, None).await
    });
    assert_eq!(ended.expect("ends"), 30);
    let issued: Vec<String> = issued.into_iter().flatten().collect();
    for at in issued
        .iter()
        .chain(mine.iter().map(|(_, t)| &t.access_token))
    {
        assert!(
            !introspect(&s, &c, &secret, at).await,
            "a token issued before its session ended is still active"
        );
    }
}
