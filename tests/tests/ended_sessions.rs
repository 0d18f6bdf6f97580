//! Issue 20, receipts in My Account: `GET /api/users/v1/me/ended-sessions` lists the caller's
//! recently ended sessions — ended one by one, "all others", "all", by an administrator, by
//! the app (end_session) — with why, by whom, and per app whether it was told; never another
//! user's; and the bounded wait of end_session (redirect at once when every app answered,
//! the receipts page when one does not) over plain HTTP.

use reqwest::header::{COOKIE, LOCATION};
use reqwest::{Method, Response};
use serde_json::Value;
use std::time::Duration;
use warden_core::admin::ClientSpec;
use warden_core::store::schema::{ClientItem, SessionItem, UserItem};
use warden_tests::rp::TestRp;
use warden_tests::{spawn, spawn_with, Options, Stack};

const ENDED: &str = "/api/users/v1/me/ended-sessions";
const ME: &str = "/api/users/v1/me/sessions";
const SCOPES: &str = "openid internal_login internal_session_view internal_session_delete";

async fn app_client(s: &Stack, id: &str, name: &str, backchannel: Option<String>) -> ClientItem {
    s.client(ClientSpec {
        client_id: Some(id.into()),
        name: name.into(),
        redirect_uris: vec!["http://localhost:9999/cb".into()],
        post_logout_redirect_uris: vec!["http://localhost:9999/bye".into()],
        backchannel_logout_uri: backchannel,
        scopes: SCOPES.split(' ').map(str::to_string).collect(),
        ..Default::default()
    })
    .await
    .0
}

async fn session(s: &Stack, u: &UserItem, ua: &str) -> SessionItem {
    warden_core::session::create(s.app(), u, false, ua, "10.1.2.3")
        .await
        .expect("session")
        .0
}

async fn call(s: &Stack, m: Method, path: &str, token: &str) -> Response {
    s.http
        .request(m, s.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

async fn ended(s: &Stack, token: &str) -> Value {
    let r = call(s, Method::GET, ENDED, token).await;
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

fn find<'a>(v: &'a Value, sid: &str) -> Option<&'a Value> {
    v["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|x| x["id"] == sid)
}

/// Poll the ended list until the session's app `cid` reads `told`.
async fn wait_told(s: &Stack, token: &str, sid: &str, cid: &str, told: &str) -> Value {
    for _ in 0..100 {
        let v = ended(s, token).await;
        if let Some(e) = find(&v, sid) {
            let apps = e["applications"].as_array().expect("apps");
            if apps.iter().any(|a| a["appId"] == cid && a["told"] == told) {
                return e.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{sid}: {cid} never {told}: {}", ended(s, token).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_sessions_show_why_who_and_each_apps_receipt_to_their_user_only() {
    let s = spawn().await;
    let rp = TestRp::start().await;
    let down = TestRp::start().await;
    down.set_status(503);
    let good = app_client(&s, "good", "Good App", Some(rp.uri())).await;
    let bad = app_client(&s, "bad", "Down App", Some(down.uri())).await;
    let plain = app_client(&s, "plain", "No Backchannel", None).await;
    let alice = s.user("alice", "password-alice", &["internal_login"]).await;
    let bob = s.user("bob", "password-bob", &["internal_login"]).await;
    let admin = s
        .user(
            "root",
            "password-root",
            &["internal_session_view", "internal_session_delete"],
        )
        .await;

    let mine = session(&s, &alice, "UA-current").await;
    let token = s
        .tokens_for(&mine, &plain, "openid internal_login")
        .await
        .access_token;
    let one = session(&s, &alice, "UA-one").await;
    s.tokens_for(&one, &good, "openid").await;
    s.tokens_for(&one, &bad, "openid").await;
    let other = session(&s, &alice, "UA-other").await;
    s.tokens_for(&other, &good, "openid").await;
    let by_admin = session(&s, &alice, "UA-admin").await;
    let bobs = session(&s, &bob, "UA-bob").await;
    let bob_token = s
        .tokens_for(&bobs, &plain, "openid internal_login")
        .await
        .access_token;

    // Nothing ended yet.
    assert_eq!(ended(&s, &token).await["sessions"], serde_json::json!([]));

    // End one: its apps' receipts are listed per app.
    let r = call(&s, Method::DELETE, &format!("{ME}/{}", one.sid), &token).await;
    assert_eq!(r.status(), 204);
    let e = wait_told(&s, &token, &one.sid, "good", "signed-out").await;
    assert_eq!(e["endedReason"], "user");
    assert_eq!(e["endedBy"], "you");
    assert!(e["endedAt"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(e["userAgent"], "UA-one");
    let apps = e["applications"].as_array().unwrap();
    let bad_app = apps.iter().find(|a| a["appId"] == "bad").unwrap();
    assert_eq!(bad_app["appName"], "Down App");
    assert_eq!(bad_app["told"], "trying", "503 is retried: {bad_app}");
    assert!(e.get("current").is_none());

    // An administrator ends another: "administrator", without the admin's identity.
    let admin_s = session(&s, &admin, "UA-root").await;
    let admin_token = s.tokens_for(&admin_s, &plain, SCOPES).await.access_token;
    let r = call(
        &s,
        Method::DELETE,
        &format!("/api/users/v1/{}/sessions/{}", alice.user_id, by_admin.sid),
        &admin_token,
    )
    .await;
    assert_eq!(r.status(), 204);
    let v = ended(&s, &token).await;
    let e = find(&v, &by_admin.sid).expect("admin-ended session listed");
    assert_eq!(e["endedReason"], "admin");
    assert_eq!(e["endedBy"], "administrator");
    assert!(!v.to_string().contains(&admin.user_id), "no admin id: {v}");

    // "All others": the remaining other session is listed; the caller's own stays live.
    let r = call(&s, Method::DELETE, &format!("{ME}?exclude=current"), &token).await;
    assert_eq!(r.status(), 204);
    let e = wait_told(&s, &token, &other.sid, "good", "signed-out").await;
    assert_eq!(e["endedReason"], "user_all");
    let v = ended(&s, &token).await;
    assert!(
        find(&v, &mine.sid).is_none(),
        "the live session is not ended"
    );
    // Newest end first.
    let order: Vec<&str> = v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [other.sid.as_str(), by_admin.sid.as_str(), one.sid.as_str()]
    );

    // Cross-user: bob sees none of alice's, alice none of bob's.
    let v = ended(&s, &bob_token).await;
    assert_eq!(v["sessions"], serde_json::json!([]), "{v}");
    assert_eq!(v["userId"], bob.user_id.as_str());
    let r = call(&s, Method::DELETE, ME, &bob_token).await;
    assert_eq!(r.status(), 204);
    let r = call(&s, Method::GET, ENDED, &token).await;
    let alices: Value = r.json().await.unwrap();
    assert!(find(&alices, &bobs.sid).is_none());
    assert!(!alices.to_string().contains("UA-bob"));

    // Malformed queries and missing tokens are clear 4xx JSON errors.
    for (q, status) in [("?limit=0", 400), ("?limit=x", 400), ("?cursor=1", 400)] {
        let r = call(&s, Method::GET, &format!("{ENDED}{q}"), &token).await;
        assert_eq!(r.status().as_u16(), status, "{q}");
        let e: Value = r.json().await.unwrap();
        assert!(e["code"].is_string() && e["message"].is_string(), "{e}");
    }
    let r = s.http.get(s.url(ENDED)).send().await.unwrap();
    assert_eq!(r.status(), 401);

    // "All": the caller's own too (then its token is revoked).
    let r = call(&s, Method::DELETE, ME, &token).await;
    assert_eq!(r.status(), 204);
    let r = call(&s, Method::GET, ENDED, &token).await;
    assert_eq!(r.status(), 401);
    let ended_all = s
        .store()
        .recently_ended(&alice.user_id, warden_core::platform::time::now_s(), 25)
        .await
        .unwrap();
    assert_eq!(ended_all[0].session.sid, mine.sid);
    assert_eq!(ended_all.len(), 4);
}

struct Rp {
    s: Stack,
    user: UserItem,
}

async fn logout_stack(wait_ms: u64) -> Rp {
    let s = spawn_with(Options {
        env: Some(vec![(
            "WARDEN_LOGOUT_WAIT_MS".to_string(),
            wait_ms.to_string(),
        )]),
        ..Default::default()
    })
    .await;
    let user = s.user("carol", "password-carol", &["internal_login"]).await;
    Rp { s, user }
}

/// A session of `Rp`'s user joined by `apps`, its cookie and an ID token hint for the first.
async fn signed_in(f: &Rp, apps: &[&ClientItem]) -> (SessionItem, String, String) {
    let (sess, cookie) = f.s.session_for(&f.user, "test").await;
    let mut hint = String::new();
    for (i, c) in apps.iter().enumerate() {
        let issued = f.s.tokens_for(&sess, c, "openid").await;
        if i == 0 {
            hint = warden_core::oauth::tokens::id_token(
                f.s.app(),
                &c.client_id,
                Some(&f.user),
                &issued,
                None,
            )
            .await
            .unwrap();
        }
    }
    (sess, cookie, hint)
}

async fn end_session(f: &Rp, cookie: &str, hint: &str) -> Response {
    let u = url::Url::parse_with_params(
        &f.s.url("/oidc/logout"),
        &[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", "http://localhost:9999/bye"),
            ("state", "st<1>"),
        ],
    )
    .unwrap();
    f.s.http
        .get(u.as_str())
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_session_redirects_once_every_app_answered_and_lists_the_one_that_did_not() {
    let f = logout_stack(2000).await;
    let (a, b) = (TestRp::start().await, TestRp::start().await);
    a.set_delay(Duration::from_millis(10));
    b.set_delay(Duration::from_millis(10));
    let ca = app_client(&f.s, "a", "App A", Some(a.uri())).await;
    let cb = app_client(&f.s, "b", "App <b>", Some(b.uri())).await;
    let (sess, cookie, hint) = signed_in(&f, &[&ca, &cb]).await;
    let t0 = std::time::Instant::now();
    let r = end_session(&f, &cookie, &hint).await;
    assert_eq!(r.status(), 302, "both apps answered within the wait");
    assert_eq!(
        r.headers()[LOCATION],
        "http://localhost:9999/bye?state=st%3C1%3E"
    );
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(a.received().len(), 1);
    assert_eq!(b.received().len(), 1);
    let ds =
        f.s.store()
            .session_partition(&sess.sid)
            .await
            .unwrap()
            .deliveries;
    assert!(
        ds.iter().all(|d| d.status.as_str() == "delivered"),
        "{ds:?}"
    );

    // One app never answers within the wait: the page lists it, Continue carries state.
    let slow = TestRp::start().await;
    slow.set_delay(Duration::from_secs(4));
    let cs = app_client(&f.s, "slow", "Slow <i>App</i>", Some(slow.uri())).await;
    let (sess, cookie, hint) = signed_in(&f, &[&ca, &cs]).await;
    let t0 = std::time::Instant::now();
    let r = end_session(&f, &cookie, &hint).await;
    let waited = t0.elapsed();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get(LOCATION).is_none());
    assert!(waited >= Duration::from_millis(1900), "{waited:?}");
    assert!(waited < Duration::from_millis(3500), "{waited:?}");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("data-client-id=\"a\" data-state=\"signed-out\""),
        "{html}"
    );
    assert!(
        html.contains("data-client-id=\"slow\" data-state=\"trying\""),
        "{html}"
    );
    assert!(
        html.contains("Slow &lt;i&gt;App&lt;/i&gt;"),
        "name escaped: {html}"
    );
    assert!(!html.contains("<i>App"));
    assert!(html.contains("href=\"http://localhost:9999/bye?state=st%3C1%3E\""));
    // Nothing is lost: the dispatcher finishes the slow app's delivery after the page.
    for _ in 0..100 {
        let d =
            f.s.store()
                .get_delivery(&sess.sid, "slow")
                .await
                .unwrap()
                .unwrap();
        if d.status.as_str() == "delivered" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the slow app's delivery was never finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_of_zero_redirects_at_once_as_before() {
    let f = logout_stack(0).await;
    let slow = TestRp::start().await;
    slow.set_delay(Duration::from_secs(3));
    let cs = app_client(&f.s, "slow", "Slow", Some(slow.uri())).await;
    let (sess, cookie, hint) = signed_in(&f, &[&cs]).await;
    let t0 = std::time::Instant::now();
    let r = end_session(&f, &cookie, &hint).await;
    let status = r.status();
    assert_eq!(status, 302, "{}", r.text().await.unwrap_or_default());
    assert!(
        t0.elapsed() < Duration::from_millis(1000),
        "{:?}",
        t0.elapsed()
    );
    let d = f.s.store().get_delivery(&sess.sid, "slow").await.unwrap();
    assert!(d.is_some(), "queued before the redirect");
    assert_eq!(slow.wait_for(1, Duration::from_secs(10)).await, 1);
    // The user's "Recently ended" says the app ended it.
    let ended =
        f.s.store()
            .recently_ended(&f.user.user_id, warden_core::platform::time::now_s(), 25)
            .await
            .unwrap();
    assert_eq!(ended.len(), 1);
    let v = warden_core::api::me::ended_json(&ended[0]);
    assert_eq!(v["id"], sess.sid.as_str());
    assert_eq!(v["endedReason"], "rp_logout");
    assert_eq!(v["endedBy"], "app");
}
