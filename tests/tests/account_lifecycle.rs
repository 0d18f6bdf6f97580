//! Issue 19, parts 1, 2 and 7: a password change in My Account, an administrator's reset,
//! disable and delete (Admin REST API and `warden-admin`) each end the user's sessions
//! through the termination path. For every cause the end state is checked whole: the
//! session ended with its reason and actor (on the item and on the receipts endpoint), its
//! refresh token refused (`invalid_grant`), its access token inactive at introspection and
//! 401 at userinfo, a verified logout token for its `sid` delivered to each app that joined
//! it — and no other user's session or token moved (many users, one change).

mod end_state_common;
mod logout_common;

use end_state_common::*;
use reqwest::Method;
use serde_json::{json, Value};
use warden_core::admin::ClientSpec;
use warden_tests::flow::post_login;
use warden_tests::{spawn, Stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_in_my_account_ends_every_other_session_and_keeps_this_one() {
    let w = world().await;
    let (mine, _) = w.s.session_for(&w.target, "ua").await;
    let tok =
        w.s.tokens_for(&mine, &w.console, "openid internal_login")
            .await
            .access_token;
    let (st, v) = send(
        &w.s,
        Method::POST,
        "/api/users/v1/me/password",
        &tok,
        Some(json!({"currentPassword": PW, "newPassword": "a brand new secret"})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v, json!({"userId": w.target.user_id, "sessionsEnded": 3}));
    let all: Vec<&Sess> = w.target_sessions.iter().collect();
    let by = json!({"type": "user", "userId": w.target.user_id, "clientId": "console"});
    assert_end_state(&w, &all, "credential_change", by).await;
    let now = warden_core::platform::time::now_s();
    let kept = w.s.store().get_session(&mine.sid).await.unwrap().unwrap();
    assert!(kept.is_live(now), "this session is kept");
    assert_eq!(userinfo(&w, &tok).await, 200);
    // The old password no longer signs in; the new one does.
    assert_ne!(post_login(&w.s, "alice", PW, &[]).await.status(), 303);
    assert_eq!(
        post_login(&w.s, "alice", "a brand new secret", &[])
            .await
            .status(),
        303
    );
    let u =
        w.s.store()
            .get_user(&w.target.user_id)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(u.credential_version, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_here_too_ends_the_current_session_and_its_token() {
    let w = world().await;
    let (mine, _) = w.s.session_for(&w.target, "ua").await;
    let tok =
        w.s.tokens_for(&mine, &w.console, "openid internal_login")
            .await
            .access_token;
    let body = json!({"currentPassword": PW, "newPassword": "another good one",
                      "signOutOtherSessions": true, "signOutThisSession": true});
    let (st, v) = send(
        &w.s,
        Method::POST,
        "/api/users/v1/me/password",
        &tok,
        Some(body),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["sessionsEnded"], 4);
    let it = w.s.store().get_session(&mine.sid).await.unwrap().unwrap();
    assert_eq!(it.ended_reason.as_deref(), Some("credential_change"));
    assert_eq!(userinfo(&w, &tok).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_password_reset_ends_every_session_of_the_user() {
    let w = world().await;
    let path = format!("/api/users/v1/{}/password", w.target.user_id);
    let (st, v) = send(
        &w.s,
        Method::POST,
        &path,
        &w.admin_token,
        Some(json!({"password": "reset by root 1"})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["sessionsEnded"], 3);
    let all: Vec<&Sess> = w.target_sessions.iter().collect();
    let by = json!({"type": "admin", "userId": w.admin.user_id, "clientId": "console"});
    assert_end_state(&w, &all, "credential_change", by).await;
    assert_eq!(
        post_login(&w.s, "alice", "reset by root 1", &[])
            .await
            .status(),
        303
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_user_is_logged_out_everywhere_and_cannot_sign_in_until_enabled() {
    let w = world().await;
    let uid = &w.target.user_id;
    let (st, v) = send(
        &w.s,
        Method::POST,
        &format!("/api/users/v1/{uid}/disable"),
        &w.admin_token,
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["sessionsEnded"], 3);
    let all: Vec<&Sess> = w.target_sessions.iter().collect();
    let by = json!({"type": "admin", "userId": w.admin.user_id, "clientId": "console"});
    assert_end_state(&w, &all, "user_disabled", by).await;
    // The same answer as a wrong password (no account enumeration).
    let disabled = post_login(&w.s, "alice", PW, &[]).await;
    let wrong = post_login(&w.s, "bob", "not bob's password", &[]).await;
    assert_eq!(disabled.status(), wrong.status());
    assert_ne!(disabled.status(), 303);
    let (st, _) = send(
        &w.s,
        Method::POST,
        &format!("/api/users/v1/{uid}/enable"),
        &w.admin_token,
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(post_login(&w.s, "alice", PW, &[]).await.status(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_user_is_logged_out_everywhere_and_the_username_is_free_again() {
    let w = world().await;
    let uid = &w.target.user_id;
    let (st, v) = send(
        &w.s,
        Method::DELETE,
        &format!("/api/users/v1/{uid}"),
        &w.admin_token,
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["sessionsEnded"], 3);
    let all: Vec<&Sess> = w.target_sessions.iter().collect();
    let by = json!({"type": "admin", "userId": w.admin.user_id, "clientId": "console"});
    assert_end_state(&w, &all, "user_deleted", by).await;
    assert!(w.s.store().get_user(uid).await.unwrap().is_none());
    assert!(w
        .s
        .store()
        .user_by_username("alice")
        .await
        .unwrap()
        .is_none());
    // Gone: a second delete is 404 JSON; the name can be taken again.
    let (st, v) = send(
        &w.s,
        Method::DELETE,
        &format!("/api/users/v1/{uid}"),
        &w.admin_token,
        None,
    )
    .await;
    assert_eq!(st, 404);
    assert!(v["code"].is_string() && v["message"].is_string());
    let again = w.s.user("alice", "a new alice 1", &[]).await;
    assert_ne!(&again.user_id, uid);
}

/// `warden-admin` against the stack's engine, with `stdin` as standard input.
async fn cli(s: &Stack, words: &[&str], stdin: &str) -> Vec<Value> {
    let ep = s.running.dynamodb_endpoint.clone();
    let mut args = vec![
        "warden-admin",
        "--dynamodb-endpoint",
        &ep,
        "--table",
        "warden",
    ];
    args.extend_from_slice(words);
    let c = warden_admin::parse_from(args).expect("flags parse");
    let mut input = std::io::Cursor::new(stdin.as_bytes().to_vec());
    warden_admin::run(c, &mut input)
        .await
        .expect("command runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_resets_a_password_from_stdin_and_ends_every_session() {
    let w = world().await;
    let out = cli(
        &w.s,
        &["user", "set-password", "--username", "alice"],
        "from the cli 1\n",
    )
    .await;
    assert_eq!(out[0]["sessions_ended"], 3);
    let all: Vec<&Sess> = w.target_sessions.iter().collect();
    assert_end_state(&w, &all, "credential_change", json!({"type": "admin"})).await;
    assert_eq!(
        post_login(&w.s, "alice", "from the cli 1", &[])
            .await
            .status(),
        303
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_deletes_and_enables_users() {
    let s = spawn().await;
    let u = s.user("erin", PW, &[]).await;
    s.session_for(&u, "ua").await;
    let out = cli(&s, &["user", "disable", "--username", "erin"], "").await;
    assert_eq!(
        (out[0]["disabled"].clone(), out[0]["sessions_ended"].clone()),
        (json!(true), json!(1))
    );
    let out = cli(&s, &["user", "enable", "--username", "erin"], "").await;
    assert_eq!(out[0]["disabled"], false);
    assert_eq!(post_login(&s, "erin", PW, &[]).await.status(), 303);
    let out = cli(&s, &["user", "delete", "--username", "erin"], "").await;
    assert_eq!(out[0]["deleted"], true);
    assert_eq!(out[0]["sessions_ended"], 1);
    assert!(s.store().user_by_username("erin").await.unwrap().is_none());
    // A policy failure is a clear error, and nothing changed.
    let v = s.user("frank", PW, &[]).await;
    let c = warden_admin::parse_from([
        "warden-admin",
        "--dynamodb-endpoint",
        &s.running.dynamodb_endpoint,
        "--table",
        "warden",
        "user",
        "set-password",
        "--username",
        "frank",
    ])
    .unwrap();
    let err = warden_admin::run(c, &mut std::io::Cursor::new(b"short\n".to_vec()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at least 8"), "{err}");
    let after = s.store().get_user(&v.user_id).await.unwrap().unwrap();
    assert_eq!(after.password_hash, v.password_hash);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_errors_have_a_code_each_and_a_wrong_current_password_is_throttled() {
    let s = spawn().await;
    let (console, _) = s
        .client(ClientSpec {
            client_id: Some("console".into()),
            name: "Console".into(),
            redirect_uris: vec!["https://console.example.org/cb".into()],
            scopes: vec!["openid".into(), "internal_login".into()],
            ..Default::default()
        })
        .await;
    let u = s.user("grace", PW, &["internal_login"]).await;
    let (sess, _) = s.session_for(&u, "ua").await;
    let tok = s
        .tokens_for(&sess, &console, "openid internal_login")
        .await
        .access_token;
    let me = "/api/users/v1/me/password";
    let long = "x".repeat(1025);
    for (new, code) in [
        ("short", "ACC-40002"),
        (long.as_str(), "ACC-40003"),
        ("GRACE-rocks", "ACC-40004"),
    ] {
        let body = json!({"currentPassword": PW, "newPassword": new});
        let (st, v) = send(&s, Method::POST, me, &tok, Some(body)).await;
        assert_eq!((st, v["code"].as_str()), (400, Some(code)), "{v}");
        assert!(v["message"].is_string());
    }
    for bad in [
        json!({}),
        json!({"currentPassword": PW}),
        json!({"newPassword": 1}),
    ] {
        let (st, v) = send(&s, Method::POST, me, &tok, Some(bad)).await;
        assert_eq!(st, 400, "{v}");
        assert!(v["code"].is_string());
    }
    // Wrong current passwords (another user, so the policy attempts above do not count):
    // 403 up to the login limit, then 429 with Retry-After.
    let h = s.user("heidi", PW, &["internal_login"]).await;
    let (hs, _) = s.session_for(&h, "ua").await;
    let tok = s
        .tokens_for(&hs, &console, "openid internal_login")
        .await
        .access_token;
    let limit = s.app().config.login_max_failures as usize;
    let mut statuses = Vec::new();
    for _ in 0..=limit {
        let body = json!({"currentPassword": "not it at all", "newPassword": "fine new one"});
        let r = s
            .http
            .post(s.url(me))
            .bearer_auth(&tok)
            .json(&body)
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        if st == 429 {
            assert!(r.headers().get("retry-after").is_some());
        }
        let v: Value = r.json().await.unwrap();
        assert!(v["code"].is_string(), "{v}");
        statuses.push(st);
    }
    let mut want = vec![403; limit];
    want.push(429);
    assert_eq!(statuses, want);
    // Even the right password is throttled now; the session is untouched.
    let body = json!({"currentPassword": PW, "newPassword": "fine new one"});
    let (st, v) = send(&s, Method::POST, me, &tok, Some(body)).await;
    assert_eq!(st, 429, "{v}");
    let now = warden_core::platform::time::now_s();
    assert!(s
        .store()
        .get_session(&hs.sid)
        .await
        .unwrap()
        .unwrap()
        .is_live(now));
    let after = s.store().get_user(&h.user_id).await.unwrap().unwrap();
    assert_eq!(after.password_hash, h.password_hash);
    let after = s.store().get_user(&u.user_id).await.unwrap().unwrap();
    assert_eq!(after.password_hash, u.password_hash);
    assert!(s
        .store()
        .get_session(&sess.sid)
        .await
        .unwrap()
        .unwrap()
        .is_live(now));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_operations_without_the_scope_or_for_an_unknown_user_are_refused_with_json() {
    let w = world().await;
    // Alice's own token (internal_login only) cannot reach the admin operations on bob.
    let (mine, _) = w.s.session_for(&w.target, "ua").await;
    let tok =
        w.s.tokens_for(&mine, &w.console, "openid internal_login")
            .await
            .access_token;
    let bob = &w.others[0].0.user_id;
    for (m, path) in [
        (Method::POST, format!("/api/users/v1/{bob}/disable")),
        (Method::POST, format!("/api/users/v1/{bob}/enable")),
        (Method::POST, format!("/api/users/v1/{bob}/password")),
        (Method::DELETE, format!("/api/users/v1/{bob}")),
    ] {
        let (st, v) = send(
            &w.s,
            m,
            &path,
            &tok,
            Some(json!({"password": "x y z w v u"})),
        )
        .await;
        assert_eq!(st, 403, "{path}: {v}");
        assert!(v["code"].is_string() && v["message"].is_string());
    }
    for (m, path) in [
        (Method::POST, "/api/users/v1/nobody/disable".to_string()),
        (Method::POST, "/api/users/v1/nobody/enable".to_string()),
        (Method::POST, "/api/users/v1/nobody/password".to_string()),
        (Method::DELETE, "/api/users/v1/nobody".to_string()),
    ] {
        let body = json!({"password": "long enough 1"});
        let (st, v) = send(&w.s, m, &path, &w.admin_token, Some(body)).await;
        assert_eq!(st, 404, "{path}: {v}");
        assert!(v["code"].is_string());
    }
    // Nothing moved: bob's sessions live on.
    let now = warden_core::platform::time::now_s();
    for x in &w.others[0].1 {
        let it = w.s.store().get_session(&x.item.sid).await.unwrap().unwrap();
        assert!(it.is_live(now));
    }
    assert!(!w.s.store().get_user(bob).await.unwrap().unwrap().disabled);
}

/// The store's user writes on one engine: the hash and version change by UpdateItem (other
/// fields kept), `disabled` flips, and a delete removes the user and frees the name; an
/// unknown user is `ConditionFailed` everywhere.
async fn user_writes_are_targeted_updates(store: &warden_core::Store) {
    use warden_core::StoreError;
    let name = format!("u{}", warden_core::platform::crypto::random_id());
    let u = warden_core::admin::create_user(store, &name, PW, "N", "n@example.com", &[])
        .await
        .unwrap();
    assert_eq!(store.set_password_hash(&u.user_id, "h1").await.unwrap(), 1);
    assert_eq!(store.set_password_hash(&u.user_id, "h2").await.unwrap(), 2);
    store.set_user_disabled(&u.user_id, true).await.unwrap();
    let after = store.get_user(&u.user_id).await.unwrap().unwrap();
    assert_eq!(
        (
            after.password_hash.as_str(),
            after.credential_version,
            after.disabled
        ),
        ("h2", 2, true)
    );
    assert_eq!(
        (after.email, after.created_ms),
        (u.email.clone(), u.created_ms)
    );
    store.set_user_disabled(&u.user_id, false).await.unwrap();
    assert!(!store.get_user(&u.user_id).await.unwrap().unwrap().disabled);
    for r in [
        store.set_user_disabled("no-such-user", true).await,
        store
            .set_password_hash("no-such-user", "h")
            .await
            .map(|_| ()),
    ] {
        assert!(matches!(r, Err(StoreError::ConditionFailed)), "{r:?}");
    }
    store.delete_user(&u).await.unwrap();
    assert!(store.get_user(&u.user_id).await.unwrap().is_none());
    assert!(store.user_by_username(&name).await.unwrap().is_none());
    assert!(matches!(
        store.delete_user(&u).await,
        Err(StoreError::ConditionFailed)
    ));
    // The name is free again.
    warden_core::admin::create_user(store, &name, PW, "N", "", &[])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_writes_are_targeted_updates_on_dynoxide() {
    let (store, _engine) = warden_tests::dynoxide_store().await;
    user_writes_are_targeted_updates(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_writes_are_targeted_updates_on_moto() {
    let store = warden_tests::moto_store().await;
    user_writes_are_targeted_updates(&store).await;
}
