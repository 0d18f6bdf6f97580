//! The end state of a termination, checked whole (issue "Every way a session ends", item
//! 7): a world of users whose sessions are joined by two apps with back-channel URIs, and
//! [`assert_end_state`], which checks every ended session's reason and actor, its refresh
//! token refused, its access token inactive and 401 at userinfo, one verified logout token
//! per session at each app — and that no other user's session or token moved.
//! Shared by `account_lifecycle.rs` and `end_state.rs` (each declares `mod logout_common;`).
#![allow(dead_code)]

use crate::logout_common::{self, own_checks};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;
use warden_core::admin::ClientSpec;
use warden_core::oauth::tokens::Issued;
use warden_core::store::schema::{ClientItem, SessionItem, UserItem};
use warden_tests::rp::TestRp;
use warden_tests::{spawn, Stack};

pub const PW: &str = "correct horse battery";
pub const ADMIN_SCOPES: &str =
    "openid internal_login internal_session_view internal_session_delete \
                            internal_user_mgt_update internal_user_mgt_delete";
pub const WITHIN: Duration = Duration::from_secs(10);

/// An app with a back-channel URI, its secret and the RP that receives its logouts.
pub struct App {
    pub client: ClientItem,
    pub secret: String,
    pub rp: TestRp,
}

/// One session and the token pair each app holds for it.
pub struct Sess {
    pub item: SessionItem,
    pub tokens: Vec<Issued>,
    /// The `Cookie` header of the browser holding the session.
    pub cookie: String,
}

/// A stack with two apps, an administrator, the target user and other users; every user
/// has two sessions, each joined by both apps.
pub struct World {
    pub s: Stack,
    pub apps: Vec<App>,
    pub console: ClientItem,
    pub admin: UserItem,
    pub admin_sid: String,
    pub admin_token: String,
    pub target: UserItem,
    pub target_sessions: Vec<Sess>,
    pub others: Vec<(UserItem, Vec<Sess>)>,
}

pub async fn app(s: &Stack, id: &str) -> App {
    let rp = TestRp::start().await;
    let (client, secret) = s
        .client(ClientSpec {
            client_id: Some(id.into()),
            name: id.into(),
            redirect_uris: vec![format!("https://{id}.example/cb")],
            backchannel_logout_uri: Some(rp.uri()),
            backchannel_logout_session_required: true,
            ..Default::default()
        })
        .await;
    App {
        client,
        secret: secret.expect("a confidential app"),
        rp,
    }
}

pub async fn sessions(s: &Stack, apps: &[App], u: &UserItem, n: usize) -> Vec<Sess> {
    let mut out = Vec::new();
    for _ in 0..n {
        let (item, cookie) = s.session_for(u, "ua").await;
        let mut tokens = Vec::new();
        for a in apps {
            tokens.push(s.tokens_for(&item, &a.client, "openid").await);
        }
        out.push(Sess {
            item,
            tokens,
            cookie,
        });
    }
    out
}

pub async fn world() -> World {
    let s = spawn().await;
    let apps = vec![app(&s, "app1").await, app(&s, "app2").await];
    let (console, _) = s
        .client(ClientSpec {
            client_id: Some("console".into()),
            name: "Console".into(),
            redirect_uris: vec!["https://console.example.org/cb".into()],
            scopes: ADMIN_SCOPES.split(' ').map(str::to_string).collect(),
            ..Default::default()
        })
        .await;
    let admin = s
        .user(
            "root",
            "root password 1",
            &ADMIN_SCOPES.split(' ').collect::<Vec<_>>(),
        )
        .await;
    let (admin_s, _) = s.session_for(&admin, "ua").await;
    let admin_token = s
        .tokens_for(&admin_s, &console, ADMIN_SCOPES)
        .await
        .access_token;
    let target = s.user("alice", PW, &["internal_login"]).await;
    let target_sessions = sessions(&s, &apps, &target, 3).await;
    let mut others = Vec::new();
    for name in ["bob", "carol", "dave"] {
        let u = s.user(name, PW, &["internal_login"]).await;
        let ss = sessions(&s, &apps, &u, 2).await;
        others.push((u, ss));
    }
    World {
        s,
        apps,
        console,
        admin,
        admin_sid: admin_s.sid.clone(),
        admin_token,
        target,
        target_sessions,
        others,
    }
}

pub async fn send(
    s: &Stack,
    m: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut rq = s.http.request(m, s.url(path)).bearer_auth(token);
    if let Some(b) = body {
        rq = rq.json(&b);
    }
    let r = rq.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub async fn introspect(w: &World, a: &App, token: &str) -> Value {
    w.s.http
        .post(w.s.url("/oauth2/introspect"))
        .basic_auth(&a.client.client_id, Some(&a.secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub async fn refresh(w: &World, a: &App, rt: &str) -> (u16, Value) {
    let r =
        w.s.http
            .post(w.s.url("/oauth2/token"))
            .basic_auth(&a.client.client_id, Some(&a.secret))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", rt)])
            .send()
            .await
            .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

pub async fn userinfo(w: &World, token: &str) -> u16 {
    w.s.http
        .get(w.s.url("/oauth2/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The whole end state of `ended` (reason, actor, tokens, logouts), and that every other
/// session of the world is untouched.
pub async fn assert_end_state(w: &World, ended: &[&Sess], reason: &str, by: Value) {
    let now = warden_core::platform::time::now_s();
    for e in ended {
        let sid = &e.item.sid;
        let path = format!(
            "/api/users/v1/{}/sessions/{sid}/logout-deliveries",
            w.target.user_id
        );
        let (st, v) = send(&w.s, Method::GET, &path, &w.admin_token, None).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["status"], "ended");
        assert_eq!(v["endedReason"], reason);
        assert_eq!(v["endedBy"], by);
        for (a, t) in w.apps.iter().zip(&e.tokens) {
            let rt = t.refresh_token.as_deref().expect("a refresh token");
            let (st, body) = refresh(w, a, rt).await;
            assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")));
            assert_eq!(
                introspect(w, a, &t.access_token).await,
                json!({"active": false})
            );
            assert_eq!(userinfo(w, &t.access_token).await, 401);
        }
    }
    let want: BTreeSet<String> = ended.iter().map(|e| e.item.sid.clone()).collect();
    for a in &w.apps {
        assert_eq!(a.rp.wait_for(want.len(), WITHIN).await, want.len());
        let mut got = BTreeSet::new();
        for tok in a.rp.logout_tokens() {
            let sid = logout_common::decode_part(&tok, 1)["sid"]
                .as_str()
                .unwrap()
                .to_string();
            own_checks(
                &tok,
                &w.s.app().config.issuer,
                &a.client.client_id,
                &w.target.user_id,
                &sid,
            );
            got.insert(sid);
        }
        assert_eq!(
            got, want,
            "{} was told of exactly the ended sessions",
            a.client.client_id
        );
    }
    // Nothing else moved: every other user's sessions live, their tokens active.
    let mut untouched = 0;
    for (_, ss) in &w.others {
        for x in ss {
            let it = w.s.store().get_session(&x.item.sid).await.unwrap().unwrap();
            assert!(it.is_live(now), "another user's session ended");
            for (a, t) in w.apps.iter().zip(&x.tokens) {
                assert_eq!(introspect(w, a, &t.access_token).await["active"], true);
                untouched += 1;
            }
        }
    }
    assert_eq!(
        untouched,
        3 * 2 * 2,
        "every other user's token pair counted"
    );
    let admin_s =
        w.s.store()
            .get_session(&w.admin_sid)
            .await
            .unwrap()
            .unwrap();
    assert!(
        admin_s.is_live(now),
        "the administrator's own session lives on"
    );
}
