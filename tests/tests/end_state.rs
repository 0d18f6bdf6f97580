//! Issue 19, item 7, for the causes that are not the account's own (those are in
//! `account_lifecycle.rs`, the session limit's in `session_limit.rs`): the Me API's end-one
//! and end-all, the Admin API's end-one and end-all (bulk), RP-initiated logout, idle and
//! absolute expiry. Each leaves the ended sessions whole — reason and actor, refresh token
//! refused, access token inactive and 401 at userinfo, one verified logout token per
//! session at each app — the target's other sessions live, and no other user's session or
//! token moved ([`end_state_common::assert_end_state`]).

mod end_state_common;
mod logout_common;

use end_state_common::*;
use reqwest::Method;
use serde_json::json;
use warden_core::store::schema::keys;

/// A live session of the target with a Me API token (scope `internal_login`) through the
/// console.
async fn me_token(w: &World) -> (String, String) {
    let (mine, _) = w.s.session_for(&w.target, "ua").await;
    let tok =
        w.s.tokens_for(&mine, &w.console, "openid internal_login")
            .await
            .access_token;
    (mine.sid, tok)
}

async fn live(w: &World, sids: &[&str]) {
    let now = warden_core::platform::time::now_s();
    for sid in sids {
        let it = w.s.store().get_session(sid).await.unwrap().unwrap();
        assert!(it.is_live(now), "{sid} lives on");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_me_api_ending_one_session_ends_it_whole() {
    let w = world().await;
    let (mine, tok) = me_token(&w).await;
    let victim = &w.target_sessions[0];
    let path = format!("/api/users/v1/me/sessions/{}", victim.item.sid);
    let (st, _) = send(&w.s, Method::DELETE, &path, &tok, None).await;
    assert_eq!(st, 204);
    let by = json!({"type": "user", "userId": w.target.user_id, "clientId": "console"});
    assert_end_state(&w, &[victim], "user", by).await;
    let rest: Vec<&str> = w.target_sessions[1..]
        .iter()
        .map(|x| x.item.sid.as_str())
        .chain([mine.as_str()])
        .collect();
    live(&w, &rest).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_me_api_ending_all_other_sessions_ends_each_whole_and_keeps_this_one() {
    let w = world().await;
    let (mine, tok) = me_token(&w).await;
    let path = "/api/users/v1/me/sessions?exclude=current";
    let (st, _) = send(&w.s, Method::DELETE, path, &tok, None).await;
    assert_eq!(st, 204);
    let by = json!({"type": "user", "userId": w.target.user_id, "clientId": "console"});
    let all: Vec<&Sess> = w.target_sessions.iter().collect();
    assert_end_state(&w, &all, "user_all", by).await;
    live(&w, &[mine.as_str()]).await;
    assert_eq!(
        userinfo(&w, &tok).await,
        200,
        "the caller's own token works"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_ending_one_session_ends_it_whole() {
    let w = world().await;
    let victim = &w.target_sessions[1];
    let path = format!(
        "/api/users/v1/{}/sessions/{}",
        w.target.user_id, victim.item.sid
    );
    let (st, _) = send(&w.s, Method::DELETE, &path, &w.admin_token, None).await;
    assert_eq!(st, 204);
    let by = json!({"type": "admin", "userId": w.admin.user_id, "clientId": "console"});
    assert_end_state(&w, &[victim], "admin", by).await;
    live(
        &w,
        &[
            w.target_sessions[0].item.sid.as_str(),
            w.target_sessions[2].item.sid.as_str(),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_ending_all_sessions_ends_each_whole() {
    let w = world().await;
    let path = format!("/api/users/v1/{}/sessions", w.target.user_id);
    let (st, _) = send(&w.s, Method::DELETE, &path, &w.admin_token, None).await;
    assert_eq!(st, 204);
    let by = json!({"type": "admin", "userId": w.admin.user_id, "clientId": "console"});
    let all: Vec<&Sess> = w.target_sessions.iter().collect();
    assert_end_state(&w, &all, "admin", by).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rp_initiated_logout_ends_the_session_whole() {
    let w = world().await;
    let victim = &w.target_sessions[2];
    let app1 = &w.apps[0];
    let hint = warden_core::oauth::tokens::id_token(
        w.s.app(),
        &app1.client.client_id,
        Some(&w.target),
        &victim.tokens[0],
        None,
    )
    .await
    .expect("an ID token");
    let r =
        w.s.http
            .get(warden_tests::flow::url_with(
                &w.s,
                "/oidc/logout",
                &[("id_token_hint", hint.as_str())],
            ))
            .header("cookie", &victim.cookie)
            .send()
            .await
            .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    // The user, signing out through the app.
    let by = json!({"type": "user", "userId": w.target.user_id, "clientId": app1.client.client_id});
    assert_end_state(&w, &[victim], "rp_logout", by).await;
    live(
        &w,
        &[
            w.target_sessions[0].item.sid.as_str(),
            w.target_sessions[1].item.sid.as_str(),
        ],
    )
    .await;
}

/// Leave `x` as time would: idle-expired (and, with `absolute`, past its absolute expiry
/// too), due now in the expiry index; then run the relay's sweep.
async fn expire(w: &World, x: &Sess, absolute: bool) {
    let now = warden_core::platform::time::now_s();
    let store = w.s.store();
    let mut it = store.get_session(&x.item.sid).await.unwrap().unwrap();
    it.idle_expires_at = now - 1;
    if absolute {
        it.absolute_expires_at = now - 1;
    }
    it.gsi2sk = Some(keys::due_sort(now - 1, &it.sid));
    store
        .client
        .put_item()
        .table_name(&store.table)
        .set_item(Some(warden_core::store::schema::to_item(&it).unwrap()))
        .send()
        .await
        .expect("put the session as time left it");
    let report = warden_core::logout::relay::relay(w.s.app(), now)
        .await
        .unwrap();
    assert_eq!(report.expired, 1, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_absolute_expiry_end_the_sessions_whole() {
    let w = world().await;
    let system = json!({"type": "system"});
    expire(&w, &w.target_sessions[0], false).await;
    assert_end_state(&w, &[&w.target_sessions[0]], "idle_timeout", system.clone()).await;
    for a in &w.apps {
        a.rp.clear();
    }
    expire(&w, &w.target_sessions[1], true).await;
    assert_end_state(&w, &[&w.target_sessions[1]], "absolute_timeout", system).await;
    live(&w, &[w.target_sessions[2].item.sid.as_str()]).await;
}
