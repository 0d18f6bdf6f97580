//! The concurrent session limit (issue "Every way a session ends", item 3):
//! `WARDEN_SESSION_LIMIT` with the policies `deny`, `evict_oldest` and `evict_idlest`.
//!
//! * The count is exact under concurrency: 20 logins of one user at once with a limit of 3
//!   leave exactly 3 live sessions, on the embedded engine and on moto (moto through the
//!   serializing proxy: its transactions are not atomic across its threads, DynamoDB's are).
//! * Evictions go through termination: reason `session_limit`, actor the system, tokens
//!   revoked, back-channel logout delivered; nobody else's session moves.
//! * `deny`: the login page says why, lists the sessions and signs the chosen one out, then
//!   continues the login; its ticket works only with its own browser's CSRF cookie.
//! * Room that is not really taken is freed: sessions past their expiry end as timeouts,
//!   sessions from before the limit are counted (the set is seeded from the user's list).

use std::time::Duration;
use warden_core::admin::ClientSpec;
use warden_core::session::login::{self, Attempt, LoginOutcome};
use warden_core::store::schema::{ActorKind, SessionItem};
use warden_tests::flow::{self, hidden_input, set_cookie_value};
use warden_tests::rp::TestRp;
use warden_tests::{spawn_with, Options, Stack};

const PW: &str = "correct horse battery";

fn limited(limit: u32, policy: &str) -> Options {
    Options {
        env: Some(vec![
            ("WARDEN_SESSION_LIMIT".into(), limit.to_string()),
            ("WARDEN_SESSION_LIMIT_POLICY".into(), policy.into()),
        ]),
        ..Default::default()
    }
}

/// Overwrite a session item as it is (a fixture: a device name, an expiry in the past).
async fn replace(s: &Stack, item: &SessionItem) {
    let store = s.store();
    store
        .client
        .put_item()
        .table_name(&store.table)
        .set_item(Some(warden_core::store::schema::to_item(item).unwrap()))
        .send()
        .await
        .expect("put the session");
}

async fn live(s: &Stack, user_id: &str) -> Vec<SessionItem> {
    let now = warden_core::platform::time::now_s();
    s.store()
        .all_user_sessions(user_id, now)
        .await
        .expect("list")
        .into_iter()
        .filter(|x| x.is_live(now))
        .collect()
}

/// `n` logins of `username` at once, each from its own address (so the throttle, which
/// counts per address, stays out of it), through the login rules the page uses.
async fn logins_at_once(s: &Stack, username: &str, n: usize) -> Vec<LoginOutcome> {
    let ips: Vec<String> = (0..n).map(|i| format!("198.51.100.{}", i + 1)).collect();
    let tries = ips.iter().map(|ip| {
        let attempt = Attempt {
            username,
            password: PW,
            remember_me: false,
            user_agent: "parallel",
            ip,
        };
        async move { login::authenticate(s.app(), &attempt).await }
    });
    futures::future::join_all(tries)
        .await
        .into_iter()
        .map(|r| r.expect("login runs"))
        .collect()
}

async fn twenty_at_once(opts: Options, policy: &str) {
    let s = spawn_with(opts).await;
    let alice = s.user("alice", PW, &[]).await;
    let bob = s.user("bob", PW, &[]).await;
    let (bob_session, _) = s.session_for(&bob, "bob's").await;
    let out = logins_at_once(&s, "alice", 20).await;
    let signed_in = out
        .iter()
        .filter(|o| matches!(o, LoginOutcome::Success(..)))
        .count();
    let refused = out
        .iter()
        .filter(|o| matches!(o, LoginOutcome::SessionLimit { .. }))
        .count();
    let now_live = live(&s, &alice.user_id).await;
    assert_eq!(
        now_live.len(),
        3,
        "{policy}: exactly the limit's sessions live"
    );
    let set = s.store().live_sessions(&alice.user_id).await.unwrap();
    let mut ids: Vec<String> = now_live.iter().map(|x| x.sid.clone()).collect();
    ids.sort();
    assert_eq!(
        set.sids, ids,
        "the live set names exactly the live sessions"
    );
    match policy {
        "deny" => assert_eq!((signed_in, refused), (3, 17), "{policy}"),
        _ => {
            assert_eq!(
                (signed_in, refused),
                (20, 0),
                "{policy}: every login got in"
            );
            // The 17 others were evicted through termination.
            for o in &out {
                let LoginOutcome::Success(x, _) = o else {
                    unreachable!()
                };
                if ids.contains(&x.sid) {
                    continue;
                }
                let it = s.store().get_session(&x.sid).await.unwrap().unwrap();
                assert_eq!(it.status, "ended");
                assert_eq!(it.ended_reason.as_deref(), Some("session_limit"));
                assert_eq!(it.ended_by.map(|b| b.kind), Some(ActorKind::System));
            }
        }
    }
    let b = s
        .store()
        .get_session(&bob_session.sid)
        .await
        .unwrap()
        .unwrap();
    assert!(
        b.is_live(warden_core::platform::time::now_s()),
        "bob untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_logins_at_once_with_a_limit_of_three_leave_three_on_dynoxide() {
    twenty_at_once(limited(3, "evict_oldest"), "evict_oldest").await;
    twenty_at_once(limited(3, "deny"), "deny").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_logins_at_once_with_a_limit_of_three_leave_three_on_moto() {
    let proxy =
        warden_tests::faults::FaultProxy::start_serialized(&warden_tests::moto_endpoint()).await;
    for policy in ["evict_idlest", "deny"] {
        let mut opts = limited(3, policy);
        opts.dynamodb_endpoint = Some(proxy.url());
        opts.table = format!(
            "t{}",
            warden_core::platform::crypto::random_id().replace(['-', '_'], "x")
        );
        twenty_at_once(opts, policy).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evict_idlest_ends_the_least_recently_used_session_and_tells_its_app() {
    let s = spawn_with(limited(2, "evict_idlest")).await;
    let rp = TestRp::start().await;
    let (app, secret) = s
        .client(ClientSpec {
            client_id: Some("app1".into()),
            name: "App".into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            backchannel_logout_uri: Some(rp.uri()),
            backchannel_logout_session_required: true,
            ..Default::default()
        })
        .await;
    let alice = s.user("alice", PW, &[]).await;
    let carol = s.user("carol", PW, &[]).await;
    let (carol_session, _) = s.session_for(&carol, "carol's").await;
    let (first, _) = s.session_for(&alice, "first").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (second, _) = s.session_for(&alice, "second").await;
    // The first is used again (an app joins it), so the second is now the idlest.
    tokio::time::sleep(Duration::from_millis(5)).await;
    s.tokens_for(&first, &app, "openid").await;
    let victim_tokens = s.tokens_for(&second, &app, "openid").await;
    // tokens_for touched the second too: make the first the most recent again.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = s.store().get_session(&first.sid).await.unwrap().unwrap();
    s.store()
        .touch_session(
            &again,
            warden_core::platform::time::now_ms() + 120_000,
            900,
            None,
        )
        .await
        .expect("touch");
    let out = logins_at_once(&s, "alice", 1).await;
    assert!(matches!(out[0], LoginOutcome::Success(..)));
    let gone = s.store().get_session(&second.sid).await.unwrap().unwrap();
    assert_eq!(gone.status, "ended");
    assert_eq!(gone.ended_reason.as_deref(), Some("session_limit"));
    assert_eq!(gone.ended_by.map(|b| b.kind), Some(ActorKind::System));
    let kept = s.store().get_session(&first.sid).await.unwrap().unwrap();
    assert_eq!(kept.status, "active");
    // The evicted session's tokens are dead and its app was told.
    let r = flow::refresh(
        &s,
        "app1",
        secret.as_deref().unwrap(),
        victim_tokens.refresh_token.as_deref().unwrap(),
    )
    .await;
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    let intro = flow::introspect(
        &s,
        "app1",
        secret.as_deref().unwrap(),
        &victim_tokens.access_token,
    )
    .await;
    assert_eq!(intro["active"], false);
    let ui = s
        .http
        .get(s.url("/oauth2/userinfo"))
        .bearer_auth(&victim_tokens.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(ui.status(), 401);
    assert_eq!(rp.wait_for(1, Duration::from_secs(10)).await, 1);
    let claims = flow::jwt_claims(&rp.logout_tokens()[0]);
    assert_eq!(claims["sid"], second.sid);
    assert_eq!(claims["sub"], alice.user_id);
    let c = s
        .store()
        .get_session(&carol_session.sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.status, "active", "nobody else's session moved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_lists_the_sessions_and_signing_one_out_continues_the_login() {
    let s = spawn_with(limited(1, "deny")).await;
    let alice = s.user("alice", PW, &[]).await;
    let first = flow::login(&s, "alice", PW).await;
    let first_sid = flow::cookie_value(&first, "warden_session")
        .and_then(|v| v.split('.').next().map(str::to_string))
        .unwrap();
    // Name the first session's device with an XSS probe: it must render as text.
    let mut item = s.store().get_session(&first_sid).await.unwrap().unwrap();
    item.user_agent = "<script>alert(1)</script>".into();
    replace(&s, &item).await;
    let r = flow::post_login(&s, "alice", PW, &[]).await;
    assert_eq!(r.status(), 409, "no room: the page says why");
    let csrf = set_cookie_value(r.headers(), "warden_csrf").expect("csrf cookie");
    let html = r.text().await.unwrap();
    assert!(html.contains("at most 1 sessions"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script>alert(1)"));
    let ticket = hidden_input(&html, "limit_ticket").expect("ticket");
    let token = hidden_input(&html, "csrf_token").expect("csrf field");
    assert_eq!(
        hidden_input(&html, "end_sid").as_deref(),
        Some(first_sid.as_str())
    );
    assert!(!html.contains(PW), "the password is never echoed");
    let choose = |cookie: String, ticket: String, sid: String| {
        let s = &s;
        let token = token.clone();
        async move {
            s.http
                .post(s.url("/login"))
                .header("cookie", format!("warden_csrf={cookie}"))
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("limit_ticket", ticket.as_str()),
                    ("end_sid", sid.as_str()),
                    ("return_to", "/myaccount"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    // A forged ticket, and the right ticket with another browser's CSRF pair, do nothing.
    let forged = choose(csrf.clone(), "eyJ4Ijo1fQ.bad".into(), first_sid.clone()).await;
    assert_eq!(forged.status(), 200);
    let (other_cookie, _) = flow::login_form(&s).await;
    let elsewhere = choose(other_cookie, ticket.clone(), first_sid.clone()).await;
    assert_eq!(elsewhere.status(), 403, "the CSRF pair is refused first");
    // Someone else's session id is not signed out.
    let bob = s.user("bob", PW, &[]).await;
    let (bob_session, _) = s.session_for(&bob, "bob's").await;
    let not_yours = choose(csrf.clone(), ticket.clone(), bob_session.sid.clone()).await;
    assert_eq!(not_yours.status(), 200);
    assert!(s
        .store()
        .get_session(&bob_session.sid)
        .await
        .unwrap()
        .unwrap()
        .is_live(warden_core::platform::time::now_s()));
    // The real choice signs the first session out and the login continues.
    let done = choose(csrf, ticket, first_sid.clone()).await;
    assert_eq!(done.status(), 303);
    assert!(done.headers()["location"]
        .to_str()
        .unwrap()
        .ends_with("/myaccount"));
    assert!(set_cookie_value(done.headers(), "warden_session").is_some());
    let ended = s.store().get_session(&first_sid).await.unwrap().unwrap();
    assert_eq!(ended.status, "ended");
    assert_eq!(ended.ended_reason.as_deref(), Some("session_limit"));
    let by = ended.ended_by.expect("actor");
    assert_eq!(
        (by.kind, by.user_id.as_deref()),
        (ActorKind::User, Some(alice.user_id.as_str()))
    );
    assert_eq!(live(&s, &alice.user_id).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_does_not_hold_a_place_and_ends_as_a_timeout() {
    let s = spawn_with(limited(1, "deny")).await;
    let alice = s.user("alice", PW, &[]).await;
    let (old, _) = s.session_for(&alice, "old").await;
    let mut item = s.store().get_session(&old.sid).await.unwrap().unwrap();
    item.idle_expires_at = warden_core::platform::time::now_s() - 1;
    replace(&s, &item).await;
    let out = logins_at_once(&s, "alice", 1).await;
    assert!(matches!(out[0], LoginOutcome::Success(..)), "{:?}", out[0]);
    let ended = s.store().get_session(&old.sid).await.unwrap().unwrap();
    assert_eq!(ended.ended_reason.as_deref(), Some("idle_timeout"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_from_before_the_limit_count_towards_it() {
    // One engine, two stacks: the first without a limit, the second with one.
    let (_, engine) = warden_tests::dynoxide_store().await;
    let kek = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    let with = |limit: Option<u32>| {
        let mut env = vec![("WARDEN_KEY_ENCRYPTION_KEY".to_string(), kek.to_string())];
        if let Some(l) = limit {
            env.push(("WARDEN_SESSION_LIMIT".into(), l.to_string()));
        }
        Options {
            dynamodb_endpoint: Some(engine.endpoint.clone()),
            env: Some(env),
            ..Default::default()
        }
    };
    let before = spawn_with(with(None)).await;
    let alice = before.user("alice", PW, &[]).await;
    before.session_for(&alice, "one").await;
    before.session_for(&alice, "two").await;
    let after = spawn_with(with(Some(2))).await;
    let out = logins_at_once(&after, "alice", 1).await;
    match &out[0] {
        LoginOutcome::SessionLimit { sessions, .. } => assert_eq!(sessions.len(), 2),
        o => panic!("expected the limit, got {o:?}"),
    }
    assert_eq!(live(&after, &alice.user_id).await.len(), 2);
}
