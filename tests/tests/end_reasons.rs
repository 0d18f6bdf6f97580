//! Every ended session records why and who (issue "Every way a session ends", item 4): the
//! Me API's end-one and end-all, the Admin API, RP-initiated logout and both expiries, each
//! with its reason and actor on the item and on the Admin API's receipts endpoint.

use serde_json::Value;
use std::time::Duration;
use warden_core::admin::ClientSpec;
use warden_core::store::schema::ClientItem;
use warden_core::store::schema::{ActorKind, EndedBy};
use warden_tests::{spawn, Stack};

const SCOPES: &str = "openid internal_login internal_session_view internal_session_delete";

async fn console(s: &Stack) -> ClientItem {
    s.client(ClientSpec {
        client_id: Some("console".into()),
        name: "Console".into(),
        redirect_uris: vec!["https://console.example.org/cb".into()],
        scopes: SCOPES.split(' ').map(str::to_string).collect(),
        ..Default::default()
    })
    .await
    .0
}

async fn call(s: &Stack, method: reqwest::Method, path: &str, token: &str) -> u16 {
    s.http
        .request(method, s.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn ended(s: &Stack, sid: &str) -> (String, Option<EndedBy>) {
    let it = s.store().get_session(sid).await.unwrap().unwrap();
    assert_eq!(it.status, "ended");
    (it.ended_reason.unwrap_or_default(), it.ended_by)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cause_records_its_reason_and_actor() {
    let s = spawn().await;
    let c = console(&s).await;
    let admin = s
        .user(
            "root",
            "root password 1",
            &[
                "internal_login",
                "internal_session_view",
                "internal_session_delete",
            ],
        )
        .await;
    let alice = s
        .user("alice", "alice password 1", &["internal_login"])
        .await;
    let (admin_s, _) = s.session_for(&admin, "ua").await;
    let admin_tok = s.tokens_for(&admin_s, &c, SCOPES).await.access_token;

    // The Me API, one session: the user, through the client of their token.
    let (a1, _) = s.session_for(&alice, "ua").await;
    let (a2, _) = s.session_for(&alice, "ua").await;
    let (a3, _) = s.session_for(&alice, "ua").await;
    let tok = s
        .tokens_for(&a1, &c, "openid internal_login")
        .await
        .access_token;
    let me = "/api/users/v1/me/sessions";
    assert_eq!(
        call(
            &s,
            reqwest::Method::DELETE,
            &format!("{me}/{}", a2.sid),
            &tok
        )
        .await,
        204
    );
    let user_by = EndedBy::person(ActorKind::User, &alice.user_id, Some("console"));
    assert_eq!(
        ended(&s, &a2.sid).await,
        ("user".into(), Some(user_by.clone()))
    );

    // The Me API, all others: `user_all`; the caller's own session lives on.
    assert_eq!(
        call(
            &s,
            reqwest::Method::DELETE,
            &format!("{me}?exclude=current"),
            &tok
        )
        .await,
        204
    );
    assert_eq!(ended(&s, &a3.sid).await, ("user_all".into(), Some(user_by)));
    assert!(s
        .store()
        .get_session(&a1.sid)
        .await
        .unwrap()
        .unwrap()
        .is_live(warden_core::platform::time::now_s()));

    // The Admin API: the administrator and their client; visible on the receipts endpoint.
    let path = format!("/api/users/v1/{}/sessions/{}", alice.user_id, a1.sid);
    assert_eq!(
        call(&s, reqwest::Method::DELETE, &path, &admin_tok).await,
        204
    );
    let admin_by = EndedBy::person(ActorKind::Admin, &admin.user_id, Some("console"));
    assert_eq!(ended(&s, &a1.sid).await, ("admin".into(), Some(admin_by)));
    let r: Value = s
        .http
        .get(s.url(&format!("{path}/logout-deliveries")))
        .bearer_auth(&admin_tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "ended");
    assert_eq!(r["endedReason"], "admin");
    assert_eq!(
        r["endedBy"],
        serde_json::json!({"type": "admin", "userId": admin.user_id, "clientId": "console"})
    );
    assert!(r["endedAt"]
        .as_str()
        .is_some_and(|t| t.parse::<i64>().is_ok()));

    // No other user's session moved.
    assert!(s
        .store()
        .get_session(&admin_s.sid)
        .await
        .unwrap()
        .unwrap()
        .is_live(warden_core::platform::time::now_s()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_tells_idle_from_absolute_and_is_the_systems() {
    let s = spawn().await;
    let u = s.user("bob", "bob password 1", &[]).await;
    let now = warden_core::platform::time::now_s();
    let (base, _) = s.session_for(&u, "ua").await;
    // Copies of a live session whose idle (and, for one, absolute) expiry passed, due now in
    // the expiry index, as time would leave them.
    let copy = |idle_at: i64, abs_at: i64| {
        use warden_core::store::schema::{keys, Shards};
        let mut x = base.clone();
        let sid = warden_core::platform::crypto::random_id();
        x.sid = sid.clone();
        x.pk = keys::session_pk(&sid);
        x.idle_expires_at = idle_at;
        x.absolute_expires_at = abs_at;
        x.gsi1sk = Some(keys::user_sessions_sort(x.created_ms, &sid));
        x.gsi2pk = Some(keys::due_session_gsi(keys::due_shard(
            &sid,
            Shards::DEFAULT,
        )));
        x.gsi2sk = Some(keys::due_sort(idle_at.min(abs_at), &sid));
        x.gsi3pk = Some(keys::live_gsi(keys::live_shard(&sid, Shards::DEFAULT)));
        x.gsi3sk = Some(keys::live_sort(x.last_seen_ms, &sid));
        x
    };
    let idle = copy(now - 1, now + 3600);
    let absolute = copy(now - 1, now - 1);
    for x in [&idle, &absolute] {
        s.store().put_session(x).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    let report = warden_core::logout::relay::relay(s.app(), now)
        .await
        .unwrap();
    assert!(report.expired >= 2, "{report:?}");
    assert_eq!(
        ended(&s, &idle.sid).await,
        ("idle_timeout".into(), Some(EndedBy::system()))
    );
    assert_eq!(
        ended(&s, &absolute.sid).await,
        ("absolute_timeout".into(), Some(EndedBy::system()))
    );
}
