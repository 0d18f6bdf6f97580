//! Issue 20 in headless Chromium: logout you can see.
//!
//! * `a_logout_with_two_fast_apps_redirects_and_one_app_down_shows_the_page` — two apps that
//!   answer: straight to the RP (no page); one app down: the page lists it as still trying,
//!   app names (one an XSS probe) as text, and Continue reaches the RP with its `state`.
//! * `myaccount_shows_receipts_and_recently_ended_sessions_with_their_reason` — an
//!   administrator's end and the person's own, each with its reason and per-app receipts.
//!
//! Screenshots are saved under `target/tmp/screenshots/` (`CARGO_TARGET_TMPDIR`).

use std::path::PathBuf;
use warden_core::admin::ClientSpec;
use warden_core::store::schema::{ClientItem, SessionItem, UserItem};
use warden_tests::rp::{page_server, TestRp};
use warden_tests::{browser, spawn, Stack};

const PROBE: &str = "<img src=x onerror=alert(1)>Probe";
const UA_PROBE: &str = "<script>alert(1)</script>Mozilla/5.0 Probe";

fn shots() -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir.display().to_string()
}

async fn app(s: &Stack, id: &str, name: &str, bc: &TestRp, bye: &str) -> ClientItem {
    s.client(ClientSpec {
        client_id: Some(id.into()),
        name: name.into(),
        redirect_uris: vec!["http://127.0.0.1:9/cb".into()],
        post_logout_redirect_uris: vec![bye.into()],
        backchannel_logout_uri: Some(bc.uri()),
        ..Default::default()
    })
    .await
    .0
}

/// A session of `u` joined by `apps`; its cookie value and an ID token hint for the first.
async fn joined(
    s: &Stack,
    u: &UserItem,
    ua: &str,
    apps: &[&ClientItem],
) -> (SessionItem, String, String) {
    let (sess, header) = s.session_for(u, ua).await;
    let value = header
        .split("; ")
        .next()
        .and_then(|c| c.split_once('='))
        .map(|(_, v)| v.to_string())
        .expect("session cookie");
    let mut hint = String::new();
    for (i, c) in apps.iter().enumerate() {
        let issued = s.tokens_for(&sess, c, "openid").await;
        if i == 0 {
            hint =
                warden_core::oauth::tokens::id_token(s.app(), &c.client_id, Some(u), &issued, None)
                    .await
                    .expect("hint");
        }
    }
    (sess, value, hint)
}

fn logout_url(s: &Stack, hint: &str, bye: &str, state: &str) -> String {
    url::Url::parse_with_params(
        &s.url("/oidc/logout"),
        &[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", bye),
            ("state", state),
        ],
    )
    .expect("url")
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_with_two_fast_apps_redirects_and_one_app_down_shows_the_page() {
    let s = spawn().await;
    let bye = format!("http://{}/bye", page_server().await);
    let (a, b, down) = (
        TestRp::start().await,
        TestRp::start().await,
        TestRp::start().await,
    );
    a.set_delay(std::time::Duration::from_millis(10));
    b.set_delay(std::time::Duration::from_millis(10));
    down.set_status(503);
    let ca = app(&s, "fast-a", "Fast A", &a, &bye).await;
    let cb = app(&s, "fast-b", PROBE, &b, &bye).await;
    let cd = app(&s, "down", "Down App", &down, &bye).await;
    let u = s.user("dora", "password-dora", &[]).await;
    let (fast_s, fast_cookie, fast_hint) = joined(&s, &u, "Chrome", &[&ca, &cb]).await;
    let (slow_s, slow_cookie, slow_hint) = joined(&s, &u, "Chrome", &[&ca, &cb, &cd]).await;
    let state = "st-42 &x";
    let out = browser::run(
        "logout_wait.mjs",
        &[
            ("BASE", s.base.clone()),
            (
                "SESSION_COOKIE",
                warden_core::session::SESSION_COOKIE.into(),
            ),
            ("FAST_COOKIE", fast_cookie),
            ("SLOW_COOKIE", slow_cookie),
            ("FAST_URL", logout_url(&s, &fast_hint, &bye, state)),
            ("SLOW_URL", logout_url(&s, &slow_hint, &bye, state)),
            ("BYE", bye.clone()),
            ("STATE", state.into()),
            ("DOWN_CLIENT", "down".into()),
            ("PROBE", PROBE.into()),
            ("SHOTS", shots()),
        ],
    )
    .await;
    assert!(out.contains("LOGOUT WAIT OK"), "{out}");
    for (sess, n) in [(&fast_s, 2), (&slow_s, 3)] {
        let p = s.store().session_partition(&sess.sid).await.unwrap();
        assert_eq!(
            p.session.unwrap().ended_reason.as_deref(),
            Some("rp_logout")
        );
        assert_eq!(
            p.deliveries.len(),
            n,
            "every app's delivery is in the outbox"
        );
    }
    // The app that is down keeps being tried after the page (nothing is lost).
    assert!(down.wait_for(2, std::time::Duration::from_secs(15)).await >= 2);
    for shot in [
        "logout-fast-redirect.png",
        "logout-receipts-page.png",
        "logout-continued.png",
    ] {
        assert!(PathBuf::from(shots()).join(shot).exists(), "{shot}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn myaccount_shows_receipts_and_recently_ended_sessions_with_their_reason() {
    let s = spawn().await;
    let myaccount = s
        .store()
        .get_client("myaccount")
        .await
        .unwrap()
        .expect("seeded");
    let bye = format!("http://{}/bye", page_server().await);
    let (fast, down) = (TestRp::start().await, TestRp::start().await);
    down.set_status(503);
    let cf = app(&s, "fast", PROBE, &fast, &bye).await;
    let cd = app(&s, "down", "Down App", &down, &bye).await;
    let alice = s.user("alice", "password-alice", &["internal_login"]).await;
    let admin = s
        .user(
            "root",
            "password-root",
            &["internal_session_view", "internal_session_delete"],
        )
        .await;
    let (mine, _, _) = joined(
        &s,
        &alice,
        "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0",
        &[],
    )
    .await;
    let token = s
        .tokens_for(&mine, &myaccount, "openid profile internal_login")
        .await
        .access_token;
    let (other, _, _) = joined(&s, &alice, UA_PROBE, &[&cf, &cd]).await;
    let (by_admin, _, _) = joined(
        &s,
        &alice,
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Firefox/121.0",
        &[&cf],
    )
    .await;
    // An administrator ends one session through the Admin API.
    let (admin_s, _, _) = joined(&s, &admin, "Chrome", &[]).await;
    let admin_token = s
        .tokens_for(
            &admin_s,
            &myaccount,
            "openid internal_session_view internal_session_delete",
        )
        .await
        .access_token;
    let r = s
        .http
        .delete(s.url(&format!(
            "/api/users/v1/{}/sessions/{}",
            alice.user_id, by_admin.sid
        )))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let out = browser::run(
        "myaccount_ended.mjs",
        &[
            ("BASE", s.base.clone()),
            ("TOKEN", token),
            ("OTHER_SID", other.sid.clone()),
            ("ADMIN_SID", by_admin.sid.clone()),
            ("FAST_CLIENT", "fast".into()),
            ("DOWN_CLIENT", "down".into()),
            ("PROBE", PROBE.into()),
            ("SHOTS", shots()),
        ],
    )
    .await;
    assert!(out.contains("MYACCOUNT ENDED OK"), "{out}");
    assert!(PathBuf::from(shots())
        .join("myaccount-recently-ended.png")
        .exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_finds_a_session_by_ip_ends_it_shows_its_receipts_and_replays_a_dead_delivery()
{
    // One attempt per delivery: the app that is down is `dead` after its first answer.
    let s = warden_tests::spawn_with(warden_tests::Options {
        env: Some(vec![("WARDEN_DELIVERY_MAX_ATTEMPTS".into(), "1".into())]),
        ..Default::default()
    })
    .await;
    let console = s
        .store()
        .get_client("warden-console")
        .await
        .unwrap()
        .expect("seeded");
    let bye = format!("http://{}/bye", page_server().await);
    let (fast, down) = (TestRp::start().await, TestRp::start().await);
    down.set_status(503);
    let cf = app(&s, "fast", PROBE, &fast, &bye).await;
    let cd = app(&s, "down", "Down App", &down, &bye).await;
    let alice = s.user("alice", "password-alice", &[]).await;
    let victim = warden_core::session::create(s.app(), &alice, false, UA_PROBE, "203.0.113.77")
        .await
        .unwrap()
        .0;
    for c in [&cf, &cd] {
        s.tokens_for(&victim, c, "openid").await;
    }
    session_elsewhere(&s, &alice).await;
    let admin = s
        .user(
            "root",
            "password-root",
            &["internal_session_view", "internal_session_delete"],
        )
        .await;
    let (admin_s, _) = s.session_for(&admin, "Chrome").await;
    let scope = "openid profile internal_session_view internal_session_delete";
    let token = s.tokens_for(&admin_s, &console, scope).await.access_token;
    let out = browser::run(
        "console.mjs",
        &[
            ("BASE", s.base.clone()),
            ("MODE", "operate".into()),
            ("SHOTS", shots()),
            ("TOKEN", token),
            ("SCOPE", scope.into()),
            ("IP", "203.0.113.77".into()),
            ("VICTIM_SID", victim.sid.clone()),
            ("UA_PROBE", UA_PROBE.into()),
            ("PROBE", PROBE.into()),
            ("DOWN_CLIENT", "down".into()),
        ],
    )
    .await;
    assert!(out.contains("CONSOLE OPERATE OK"), "{out}");
    let ended = s.store().get_session(&victim.sid).await.unwrap().unwrap();
    assert_eq!(ended.ended_reason.as_deref(), Some("admin"));
    assert!(
        down.wait_for(2, std::time::Duration::from_secs(10)).await >= 2,
        "the replay posted again"
    );
    for shot in [
        "console-search.png",
        "console-deliveries.png",
        "console-replayed.png",
    ] {
        assert!(PathBuf::from(shots()).join(shot).exists(), "{shot}");
    }
}

/// Another live session of `u` from another address (the IP filter must leave it out).
async fn session_elsewhere(s: &Stack, u: &UserItem) {
    warden_core::session::create(s.app(), u, false, "Firefox", "198.51.100.1")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_tells_a_user_without_the_scopes_they_are_not_allowed() {
    let s = spawn().await;
    s.user("bob", "password-bob", &["internal_login"]).await;
    let out = browser::run(
        "console.mjs",
        &[
            ("BASE", s.base.clone()),
            ("MODE", "denied".into()),
            ("SHOTS", shots()),
            ("USERNAME", "bob".into()),
            ("PASSWORD", "password-bob".into()),
        ],
    )
    .await;
    assert!(out.contains("CONSOLE DENIED OK"), "{out}");
    assert!(PathBuf::from(shots())
        .join("console-not-allowed.png")
        .exists());
}
