//! Shared Signals delivery (issue 21, parts 5 and 7) against receivers written from the
//! RFCs (`warden_tests::ssf_receiver`: SET validation with the third-party `jsonwebtoken`
//! crate against the published keys). Streams are created, subjects added and polls made
//! with each receiver's own client-credentials token, as a receiver would.
//!
//! * Every way a session ends — the Me API, the Admin API, RP-initiated logout, expiry —
//!   gives exactly one verified CAEP `session-revoked` per matching stream (push by
//!   `iss_sub`, push by `email`, poll by a complex subject that carries the session), none
//!   to a stream of another user.
//! * A paused stream holds its events and delivers them when enabled again; a disabled one
//!   drops them.
//! * Poll (RFC 8936): unacknowledged SETs come back, `ack` removes them, `setErrs` marks them
//!   `rejected`, `moreAvailable`, a long poll that an event ends.
//! * A receiver that is down gets the event later; one that answers 400 is `rejected`,
//!   visible on the Admin API with its `err`, not retried, and replayable.
//! * A lost queue message: the relay sends the signal again.
//! * Verification (SSF 1.0 §8.1.4) by push and by poll, with `state`.

mod end_state_common;
mod logout_common;

use end_state_common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use warden_core::admin::ClientSpec;
use warden_core::store::schema::keys;
use warden_local::Options;
use warden_tests::ssf_receiver::{event, event_type, poll, Expect, PushReceiver};
use warden_tests::Stack;

const PUSH: &str = "urn:ietf:rfc:8935";
const POLL: &str = "urn:ietf:rfc:8936";
const REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
const SOON: Duration = Duration::from_secs(10);
/// How long a test waits to be sure that nothing more arrives.
const QUIET: Duration = Duration::from_millis(600);

/// A receiver's client-credentials token (`ssf.manage` and `ssf.read`).
async fn receiver_token(s: &Stack, id: &str) -> String {
    let (c, secret) = s
        .client(ClientSpec {
            client_id: Some(id.into()),
            name: format!("Receiver {id}"),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["ssf.manage".into(), "ssf.read".into()],
            ..Default::default()
        })
        .await;
    let r = s
        .http
        .post(s.url("/oauth2/token"))
        .basic_auth(&c.client_id, secret.as_deref())
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "ssf.manage ssf.read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// One stream of one receiver.
struct Rx {
    id: String,
    token: String,
    stream_id: String,
    push: Option<PushReceiver>,
}

async fn post(s: &Stack, path: &str, tok: &str, body: Value) -> (u16, Value) {
    send(s, Method::POST, path, tok, Some(body)).await
}

/// A receiver `id` with a stream for session-revoked, pushing to a fresh receiver
/// (`push`) or polled, and one subject added.
async fn rx(s: &Stack, id: &str, push: bool, subject: Value) -> Rx {
    let token = receiver_token(s, id).await;
    let auth = format!("Bearer {id}-push-secret");
    let (delivery, receiver) = if push {
        let expect = Expect::discover(&s.http, &s.base, id).await;
        let r = PushReceiver::start(expect, Some(&auth)).await;
        (
            json!({"method": PUSH, "endpoint_url": r.url(), "authorization_header": auth}),
            Some(r),
        )
    } else {
        (json!({"method": POLL}), None)
    };
    let (st, b) = post(
        s,
        "/ssf/streams",
        &token,
        json!({"events_requested": [REVOKED], "delivery": delivery}),
    )
    .await;
    assert_eq!(st, 201, "{b}");
    let stream_id = b["stream_id"].as_str().unwrap().to_string();
    let (st, b) = post(
        s,
        "/ssf/subjects/add",
        &token,
        json!({"stream_id": stream_id, "subject": subject}),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    Rx {
        id: id.into(),
        token,
        stream_id,
        push: receiver,
    }
}

fn iss_sub(s: &Stack, uid: &str) -> Value {
    json!({"format": "iss_sub", "iss": s.app().config.issuer, "sub": uid})
}

/// Poll `r`'s stream: the validated SETs (jti → claims) and `moreAvailable`.
async fn poll_sets(s: &Stack, r: &Rx, body: Value) -> (Vec<(String, Value)>, bool) {
    let url = s.url(&format!("/ssf/poll/{}", r.stream_id));
    let (st, b) = poll(&s.http, &url, &r.token, body).await;
    assert_eq!(st, 200, "{b}");
    let expect = Expect::discover(&s.http, &s.base, &r.id).await;
    let mut out = Vec::new();
    for (jti, set) in b["sets"].as_object().expect("sets").iter() {
        let claims = expect
            .validate(set.as_str().expect("a SET"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(claims["jti"], jti.as_str());
        out.push((jti.clone(), claims));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    (out, b["moreAvailable"] == true)
}

/// Poll until `n` SETs are pending (or time runs out).
async fn poll_until(s: &Stack, r: &Rx, n: usize) -> Vec<(String, Value)> {
    let until = tokio::time::Instant::now() + SOON;
    loop {
        let (got, _) = poll_sets(s, r, json!({"returnImmediately": true})).await;
        if got.len() >= n || tokio::time::Instant::now() >= until {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Check one session-revoked SET for `user` with `initiating`.
fn assert_revoked(claims: &Value, s: &Stack, user: &str, initiating: &str) {
    assert_eq!(event_type(claims), REVOKED, "{claims}");
    let e = event(claims);
    assert_eq!(e["initiating_entity"], initiating, "{claims}");
    assert!(e["event_timestamp"].is_i64(), "{claims}");
    assert!(e["reason_admin"]["en"].is_string(), "{claims}");
    assert!(e["reason_user"]["en"].is_string(), "{claims}");
    assert!(claims["txn"].is_string(), "{claims}");
    let sub = &claims["sub_id"];
    let user_sub = if sub["format"] == "complex" {
        &sub["user"]
    } else {
        sub
    };
    // As the stream registered the user: iss_sub, or e-mail (checked exactly by callers).
    if user_sub["format"] == "email" {
        assert!(user_sub["email"].is_string(), "{claims}");
    } else {
        assert_eq!(user_sub, &iss_sub(s, user), "{claims}");
    }
}

/// The Admin API's receipts of a stream.
async fn receipts(w: &World, stream_id: &str) -> Vec<Value> {
    let (st, b) = send(
        &w.s,
        Method::GET,
        &format!("/api/ssf/v1/streams/{stream_id}/events"),
        &w.admin_token,
        None,
    )
    .await;
    assert_eq!(st, 200, "{b}");
    b["events"].as_array().unwrap().clone()
}

/// Wait until the stream's receipts satisfy `ok`.
async fn receipts_until(w: &World, stream_id: &str, ok: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let until = tokio::time::Instant::now() + SOON;
    loop {
        let got = receipts(w, stream_id).await;
        if ok(&got) || tokio::time::Instant::now() >= until {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// End `x` as time would (idle-expired, due now), then run the relay's sweep.
async fn expire(w: &World, sid: &str) {
    let now = warden_core::platform::time::now_s();
    let store = w.s.store();
    let mut it = store.get_session(sid).await.unwrap().unwrap();
    it.idle_expires_at = now - 1;
    it.gsi2sk = Some(keys::due_sort(now - 1, &it.sid));
    store
        .client
        .put_item()
        .table_name(&store.table)
        .set_item(Some(warden_core::store::schema::to_item(&it).unwrap()))
        .send()
        .await
        .unwrap();
    let report = warden_core::logout::relay::relay(w.s.app(), now)
        .await
        .unwrap();
    assert_eq!(report.expired, 1, "{report:?}");
}

/// Wait until each push receiver has `n` SETs (one cause at a time, so that their order is
/// the causes' order: a simple subject does not name the session).
async fn arrived(rs: &[&Rx], n: usize) {
    for r in rs {
        let got = r.push.as_ref().unwrap().wait_for(n, SOON).await;
        assert_eq!(got.len(), n, "{}: {got:?}", r.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_way_a_session_ends_reaches_each_matching_stream_exactly_once() {
    let w = world().await;
    let s = &w.s;
    let alice = w.target.user_id.clone();
    let by_sub = rx(s, "rx-sub", true, iss_sub(s, &alice)).await;
    let by_mail = rx(
        s,
        "rx-mail",
        true,
        json!({"format": "email", "email": "alice@example.com"}),
    )
    .await;
    let other = rx(s, "rx-other", true, iss_sub(s, &w.others[0].0.user_id)).await;
    let polled = rx(s, "rx-poll", false, json!({"user": iss_sub(s, &alice)})).await;
    let pushed = [&by_sub, &by_mail];

    // A session of alice's for the Me API.
    let (mine, _) = s.session_for(&w.target, "ua").await;
    let me_tok = s
        .tokens_for(&mine, &w.console, "openid internal_login")
        .await
        .access_token;

    let mut ended: Vec<(String, &str)> = Vec::new();
    // 1. The Me API, one session.
    let victim = &w.target_sessions[0].item.sid;
    let path = format!("/api/users/v1/me/sessions/{victim}");
    assert_eq!(send(s, Method::DELETE, &path, &me_tok, None).await.0, 204);
    ended.push((victim.clone(), "user"));
    arrived(&pushed, ended.len()).await;
    // 2. The Admin API, one session.
    let victim = &w.target_sessions[1].item.sid;
    let path = format!("/api/users/v1/{alice}/sessions/{victim}");
    assert_eq!(
        send(s, Method::DELETE, &path, &w.admin_token, None).await.0,
        204
    );
    ended.push((victim.clone(), "admin"));
    arrived(&pushed, ended.len()).await;
    // 3. RP-initiated logout.
    let x = &w.target_sessions[2];
    let hint = warden_core::oauth::tokens::id_token(
        s.app(),
        &w.apps[0].client.client_id,
        Some(&w.target),
        &x.tokens[0],
        None,
    )
    .await
    .unwrap();
    let r = s
        .http
        .get(warden_tests::flow::url_with(
            s,
            "/oidc/logout",
            &[("id_token_hint", hint.as_str())],
        ))
        .header("cookie", &x.cookie)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    ended.push((x.item.sid.clone(), "user"));
    arrived(&pushed, ended.len()).await;
    // 4. Expiry (the relay's sweep).
    expire(&w, &mine.sid).await;
    ended.push((mine.sid.clone(), "policy"));

    for r in pushed {
        let got = r.push.as_ref().unwrap().wait_for(ended.len(), SOON).await;
        assert_eq!(got.len(), ended.len(), "{}: {got:?}", r.id);
        // Each stream names the user as it registered them (RFC 9493 iss_sub or email).
        let want = if r.id == "rx-mail" {
            json!({"format": "email", "email": "alice@example.com"})
        } else {
            iss_sub(s, &alice)
        };
        for (claims, (_, initiating)) in got.iter().zip(&ended) {
            assert_revoked(claims, s, &alice, initiating);
            assert_eq!(claims["sub_id"], want, "{claims}");
            assert_eq!(claims["aud"], r.id.as_str());
        }
    }
    // The poll stream's complex subject carries each session.
    let got = poll_until(s, &polled, ended.len()).await;
    assert_eq!(got.len(), ended.len(), "{got:?}");
    let mut sids: Vec<&str> = got
        .iter()
        .map(|(_, c)| {
            c["sub_id"]["session"]["id"]
                .as_str()
                .expect("session subject")
        })
        .collect();
    sids.sort();
    let mut want: Vec<&str> = ended.iter().map(|(sid, _)| sid.as_str()).collect();
    want.sort();
    assert_eq!(sids, want);
    for (_, c) in &got {
        assert_eq!(c["sub_id"]["format"], "complex");
        let initiating = &ended
            .iter()
            .find(|(sid, _)| c["sub_id"]["session"]["id"] == sid.as_str())
            .unwrap()
            .1;
        assert_revoked(c, s, &alice, initiating);
    }
    // Exactly once: nothing more arrives, and another user's stream heard nothing.
    tokio::time::sleep(QUIET).await;
    for r in pushed {
        assert_eq!(
            r.push.as_ref().unwrap().accepted().len(),
            ended.len(),
            "{}",
            r.id
        );
    }
    assert_eq!(other.push.as_ref().unwrap().pushes(), 0);
    // Every push receipt is delivered (202), with one attempt.
    let rs = receipts(&w, &by_sub.stream_id).await;
    assert_eq!(rs.len(), ended.len());
    for r in &rs {
        assert_eq!(r["status"], "delivered", "{r}");
        assert_eq!(r["lastHttpStatus"], 202, "{r}");
        assert_eq!(r["attempts"], 1, "{r}");
        assert_eq!(r["eventType"], REVOKED);
        assert!(r.get("set").is_none(), "receipts never show the SET");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_stream_delivers_on_reenable_and_a_disabled_one_drops() {
    let w = world().await;
    let s = &w.s;
    let alice = w.target.user_id.clone();
    let r = rx(s, "rx-pause", true, iss_sub(s, &alice)).await;
    let recv = r.push.as_ref().unwrap();
    let status = |st: &'static str| {
        let (tok, id) = (r.token.clone(), r.stream_id.clone());
        async move {
            let (code, b) = post(
                s,
                "/ssf/status",
                &tok,
                json!({"stream_id": id, "status": st}),
            )
            .await;
            assert_eq!(code, 200, "{b}");
        }
    };
    status("paused").await;
    let admin = w.admin_token.clone();
    let end = |i: usize| {
        let sid = w.target_sessions[i].item.sid.clone();
        let path = format!("/api/users/v1/{alice}/sessions/{sid}");
        let admin = admin.clone();
        async move {
            assert_eq!(send(s, Method::DELETE, &path, &admin, None).await.0, 204);
        }
    };
    end(0).await;
    let held = receipts_until(&w, &r.stream_id, |e| e.len() == 1).await;
    assert_eq!(held.len(), 1, "the event is kept");
    assert_eq!(held[0]["status"], "pending");
    tokio::time::sleep(QUIET).await;
    assert_eq!(recv.pushes(), 0, "nothing is sent while paused");
    status("enabled").await;
    let got = recv.wait_for(1, SOON).await;
    assert_eq!(got.len(), 1, "held events are sent on re-enable");
    assert_revoked(&got[0], s, &alice, "admin");
    // Disabled: neither sent nor kept.
    status("disabled").await;
    end(1).await;
    tokio::time::sleep(QUIET).await;
    status("enabled").await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        recv.accepted().len(),
        1,
        "a disabled stream's events are dropped"
    );
    assert_eq!(receipts(&w, &r.stream_id).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_returns_unacknowledged_sets_again_and_takes_acks_and_errors() {
    let w = world().await;
    let s = &w.s;
    let alice = w.target.user_id.clone();
    let p = rx(s, "rx-polls", false, iss_sub(s, &alice)).await;
    for x in &w.target_sessions {
        let path = format!("/api/users/v1/{alice}/sessions/{}", x.item.sid);
        assert_eq!(
            send(s, Method::DELETE, &path, &w.admin_token, None).await.0,
            204
        );
    }
    assert_eq!(poll_until(s, &p, 3).await.len(), 3);
    // maxEvents: the oldest first, and more available.
    let (one, more) = poll_sets(s, &p, json!({"maxEvents": 1, "returnImmediately": true})).await;
    assert_eq!(one.len(), 1);
    assert!(more);
    // Not acknowledged: returned again.
    let (again, _) = poll_sets(s, &p, json!({"maxEvents": 1, "returnImmediately": true})).await;
    assert_eq!(again[0].0, one[0].0);
    // Acknowledged: gone; the next one comes.
    let (next, more) = poll_sets(
        s,
        &p,
        json!({"maxEvents": 1, "returnImmediately": true, "ack": [one[0].0]}),
    )
    .await;
    assert_ne!(next[0].0, one[0].0);
    assert!(more);
    // An error for one, an ack for the last, nothing left.
    let (rest, _) = poll_sets(s, &p, json!({"returnImmediately": true})).await;
    assert_eq!(rest.len(), 2);
    let (none, more) = poll_sets(
        s,
        &p,
        // The same jti twice, and one that is not Warden's: taken once, ignored.
        json!({"returnImmediately": true, "ack": [rest[1].0, rest[1].0, "not-a-jti"],
            "setErrs": {rest[0].0.clone(): {"err": "invalid_request", "description": "not for us"}}}),
    )
    .await;
    assert!(none.is_empty() && !more);
    let rs = receipts(&w, &p.stream_id).await;
    let status_of = |jti: &str| {
        rs.iter()
            .find(|r| r["jti"] == jti)
            .map(|r| {
                (
                    r["status"].as_str().unwrap().to_string(),
                    r["lastError"].clone(),
                )
            })
            .unwrap()
    };
    assert_eq!(status_of(&one[0].0).0, "delivered");
    assert_eq!(status_of(&rest[1].0).0, "delivered");
    assert_eq!(
        status_of(&rest[0].0),
        ("rejected".into(), json!("invalid_request: not for us"))
    );
    // maxEvents 0 only acknowledges; a broken body is 400.
    let url = s.url(&format!("/ssf/poll/{}", p.stream_id));
    let (st, b) = poll(&s.http, &url, &p.token, json!({"maxEvents": 0})).await;
    assert_eq!((st, b["sets"].clone()), (200, json!({})));
    let (st, b) = poll(&s.http, &url, &p.token, json!({"maxEvents": "ten"})).await;
    assert_eq!(st, 400, "{b}");
    assert!(b["code"].is_string() && b["message"].is_string(), "{b}");
    // A long poll returns as soon as an event arrives.
    let (mine, _) = s.session_for(&w.target, "ua").await;
    let waiting = {
        let (http, url, tok) = (s.http.clone(), url.clone(), p.token.clone());
        tokio::spawn(async move { poll(&http, &url, &tok, json!({"maxEvents": 5})).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let path = format!("/api/users/v1/{alice}/sessions/{}", mine.sid);
    assert_eq!(
        send(s, Method::DELETE, &path, &w.admin_token, None).await.0,
        204
    );
    let (st, b) = waiting.await.unwrap();
    assert_eq!(st, 200);
    assert_eq!(b["sets"].as_object().map(|o| o.len()), Some(1), "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_answers_400_is_rejected_visible_and_replayable() {
    let w = world().await;
    let s = &w.s;
    let alice = w.target.user_id.clone();
    let r = rx(s, "rx-refuses", true, iss_sub(s, &alice)).await;
    let recv = r.push.as_ref().unwrap();
    recv.answer(400);
    let sid = &w.target_sessions[0].item.sid;
    let path = format!("/api/users/v1/{alice}/sessions/{sid}");
    assert_eq!(
        send(s, Method::DELETE, &path, &w.admin_token, None).await.0,
        204
    );
    let rs = receipts_until(&w, &r.stream_id, |e| {
        e.first().is_some_and(|r| r["status"] == "rejected")
    })
    .await;
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0]["status"], "rejected");
    assert_eq!(rs[0]["lastHttpStatus"], 400);
    assert_eq!(
        rs[0]["lastError"],
        "invalid_request: this receiver refuses every SET"
    );
    tokio::time::sleep(QUIET).await;
    assert_eq!(recv.pushes(), 1, "a 400 is final: not retried");
    // Replay once the receiver is fixed.
    recv.answer(202);
    let jti = rs[0]["jti"].as_str().unwrap();
    let replay = format!("/api/ssf/v1/streams/{}/events/{jti}/replay", r.stream_id);
    assert_eq!(
        send(s, Method::POST, &replay, &w.admin_token, None).await.0,
        202
    );
    let got = recv.wait_for(1, SOON).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["jti"], jti, "the same SET is sent again");
    let rs = receipts_until(&w, &r.stream_id, |e| e[0]["status"] == "delivered").await;
    assert_eq!(rs[0]["status"], "delivered");
    // A delivered event is not replayable; unknown ones are 404.
    let (st, b) = send(s, Method::POST, &replay, &w.admin_token, None).await;
    assert_eq!(st, 409, "{b}");
    let unknown = format!("/api/ssf/v1/streams/{}/events/nope/replay", r.stream_id);
    assert_eq!(
        send(s, Method::POST, &unknown, &w.admin_token, None)
            .await
            .0,
        404
    );
    let (st, b) = send(
        s,
        Method::GET,
        "/api/ssf/v1/streams/nope/events",
        &w.admin_token,
        None,
    )
    .await;
    assert_eq!(st, 404, "{b}");
    // The receipts need the admin's view scope.
    let (st, _) = send(
        s,
        Method::GET,
        &format!("/api/ssf/v1/streams/{}/events", r.stream_id),
        &r.token,
        None,
    )
    .await;
    assert_eq!(st, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_is_down_gets_the_event_later() {
    let s = warden_tests::spawn_with(Options {
        retry_base: Duration::from_millis(50),
        ..Default::default()
    })
    .await;
    let u = s.user("erin", PW, &[]).await;
    let (sess, _) = s.session_for(&u, "ua").await;
    // A port nobody listens on yet.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let token = receiver_token(&s, "rx-down").await;
    let auth = "Bearer down-secret";
    let (st, b) = post(
        &s,
        "/ssf/streams",
        &token,
        json!({"events_requested": [REVOKED],
            "delivery": {"method": PUSH, "endpoint_url": format!("http://{addr}/events"),
                "authorization_header": auth}}),
    )
    .await;
    assert_eq!(st, 201, "{b}");
    let stream_id = b["stream_id"].as_str().unwrap().to_string();
    let (st, _) = post(
        &s,
        "/ssf/subjects/add",
        &token,
        json!({"stream_id": stream_id, "subject": iss_sub(&s, &u.user_id)}),
    )
    .await;
    assert_eq!(st, 200);
    warden_core::session::terminate(
        s.app(),
        &sess.sid,
        None,
        warden_core::store::schema::EndReason::User,
    )
    .await
    .unwrap();
    // Attempts fail while it is down: the event stays pending with the error.
    let until = tokio::time::Instant::now() + SOON;
    let pending = loop {
        let evs = s.store().stream_events(&stream_id).await.unwrap();
        if evs.first().is_some_and(|e| e.attempts >= 1) || tokio::time::Instant::now() >= until {
            break evs;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].status, "pending");
    assert!(pending[0].last_error.is_some(), "{pending:?}");
    // It comes up: a retry delivers.
    let expect = Expect::discover(&s.http, &s.base, "rx-down").await;
    let recv = PushReceiver::start_on(addr, expect, Some(auth)).await;
    let got = recv.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1, "delivered once the receiver is up");
    assert_revoked(&got[0], &s, &u.user_id, "user");
    let until = tokio::time::Instant::now() + SOON;
    loop {
        let evs = s.store().stream_events(&stream_id).await.unwrap();
        if evs.iter().all(|e| e.status == "delivered") || tokio::time::Instant::now() >= until {
            assert_eq!(evs.len(), 1);
            assert_eq!(evs[0].status, "delivered");
            assert!(evs[0].attempts >= 2, "{evs:?}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_sends_a_signal_whose_queue_message_was_lost() {
    let w = world().await;
    let s = &w.s;
    let alice = w.target.user_id.clone();
    let r = rx(s, "rx-relay", true, iss_sub(s, &alice)).await;
    let q = s.running.queue.clone().expect("in-process queue");
    q.fail_sends
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let sid = &w.target_sessions[0].item.sid;
    let ended = warden_core::session::terminate(
        s.app(),
        sid,
        None,
        warden_core::store::schema::EndReason::User,
    )
    .await
    .unwrap();
    assert!(matches!(
        ended,
        warden_core::session::Terminated::Ended { .. }
    ));
    tokio::time::sleep(QUIET).await;
    let recv = r.push.as_ref().unwrap();
    assert_eq!(recv.pushes(), 0, "the fan-out message was lost");
    q.fail_sends
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let later = warden_core::platform::time::now_s() + 61;
    let report = warden_core::logout::relay::relay(s.app(), later)
        .await
        .unwrap();
    assert!(report.signals_resent >= 1, "{report:?}");
    let got = recv.wait_for(1, SOON).await;
    assert_eq!(got.len(), 1);
    assert_revoked(&got[0], s, &alice, "user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_events_are_pushed_and_polled_with_their_state() {
    let w = world().await;
    let s = &w.s;
    let alice = w.target.user_id.clone();
    let pushed = rx(s, "rx-verify-push", true, iss_sub(s, &alice)).await;
    let polled = rx(s, "rx-verify-poll", false, iss_sub(s, &alice)).await;
    for r in [&pushed, &polled] {
        let (st, b) = post(
            s,
            "/ssf/verify",
            &r.token,
            json!({"stream_id": r.stream_id, "state": format!("state-{}", r.id)}),
        )
        .await;
        assert_eq!(st, 204, "{b}");
    }
    let got = pushed.push.as_ref().unwrap().wait_for(1, SOON).await;
    let polled_got = poll_until(s, &polled, 1).await;
    let now = warden_core::platform::time::now_s();
    for (r, claims) in [(&pushed, &got[0]), (&polled, &polled_got[0].1)] {
        assert_eq!(event_type(claims), VERIFICATION, "{claims}");
        // RFC 8417 §2.2 / SSF §4: no `sub` (the subject is `sub_id`), no `exp`, and an `iat`
        // that is not in the future.
        assert!(claims.get("sub").is_none(), "{claims}");
        assert!(claims.get("exp").is_none(), "{claims}");
        let iat = claims["iat"].as_i64().expect("iat");
        assert!(iat <= now && iat > now - 60, "{claims}");
        assert_eq!(event(claims)["state"], format!("state-{}", r.id));
        assert_eq!(
            claims["sub_id"],
            json!({"format": "opaque", "id": r.stream_id})
        );
        assert_eq!(claims["aud"], r.id.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_changes_reach_the_stream_as_caep_and_risc_events() {
    const CHANGED: &str = "https://schemas.openid.net/secevent/caep/event-type/credential-change";
    const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";
    let w = world().await;
    let s = &w.s;
    let alice = w.target.user_id.clone();
    let token = receiver_token(s, "rx-account").await;
    let disabled = format!("{RISC}account-disabled");
    let enabled = format!("{RISC}account-enabled");
    let purged = format!("{RISC}account-purged");
    let (st, b) = post(
        s,
        "/ssf/streams",
        &token,
        json!({"events_requested": [REVOKED, CHANGED, disabled, enabled, purged],
            "delivery": {"method": POLL}}),
    )
    .await;
    assert_eq!(st, 201, "{b}");
    let stream_id = b["stream_id"].as_str().unwrap().to_string();
    let p = Rx {
        id: "rx-account".into(),
        token,
        stream_id,
        push: None,
    };
    let (st, _) = post(
        s,
        "/ssf/subjects/add",
        &p.token,
        json!({"stream_id": p.stream_id, "subject": iss_sub(s, &alice)}),
    )
    .await;
    assert_eq!(st, 200);
    let admin = &w.admin_token;
    let base = format!("/api/users/v1/{alice}");
    let (st, b) = post(
        s,
        &format!("{base}/password"),
        admin,
        json!({"password": "a brand new password 9"}),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        post(s, &format!("{base}/disable"), admin, json!({}))
            .await
            .0,
        200
    );
    assert_eq!(
        post(s, &format!("{base}/enable"), admin, json!({})).await.0,
        200
    );
    assert_eq!(send(s, Method::DELETE, &base, admin, None).await.0, 200);
    // A reset: credential-change and one session-revoked per session (3); then disabled,
    // enabled, purged.
    let got = poll_until(s, &p, 7).await;
    let count = |t: &str| got.iter().filter(|(_, c)| event_type(c) == t).count();
    assert_eq!(got.len(), 7, "{got:?}");
    assert_eq!(count(CHANGED), 1);
    assert_eq!(count(REVOKED), 3);
    assert_eq!(
        (count(&disabled), count(&enabled), count(&purged)),
        (1, 1, 1)
    );
    for (_, c) in &got {
        assert_eq!(c["sub_id"]["format"], "iss_sub");
        assert_eq!(c["sub_id"]["sub"], alice.as_str());
        match event_type(c) {
            t if t == CHANGED => {
                assert_eq!(event(c)["credential_type"], "password");
                assert_eq!(event(c)["initiating_entity"], "admin");
            }
            t if t == REVOKED => {
                assert_eq!(event(c)["initiating_entity"], "admin");
                assert!(event(c)["reason_admin"]["en"].is_string());
            }
            _ => {}
        }
    }
    // The termination's SETs share one txn; the reset's own is another.
    let revoked_txns: std::collections::BTreeSet<&str> = got
        .iter()
        .filter(|(_, c)| event_type(c) == REVOKED)
        .map(|(_, c)| c["txn"].as_str().unwrap())
        .collect();
    assert_eq!(revoked_txns.len(), 1, "one termination, one txn");
}

/// The conformance suite's verification modules beyond the first request (PollAndAck,
/// AckOnly, PushNoAuth) and its stream-control order check (a bad token on a deleted stream
/// is 401, not 404: authentication comes before the lookup).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_again_after_the_interval_ack_only_and_push_without_authorization() {
    let w = world().await;
    let s = &w.s;
    let alice = w.target.user_id.clone();
    let p = rx(s, "rx-again", false, iss_sub(s, &alice)).await;
    let verify = |state: &'static str| {
        let (tok, id) = (p.token.clone(), p.stream_id.clone());
        async move {
            post(
                s,
                "/ssf/verify",
                &tok,
                json!({"stream_id": id, "state": state}),
            )
            .await
        }
    };
    assert_eq!(verify("first").await.0, 204);
    let first = poll_until(s, &p, 1).await;
    assert_eq!(event(&first[0].1)["state"], "first");
    // Too soon: 429. Once min_verification_interval has passed (aged here in the store): 204.
    assert_eq!(verify("early").await.0, 429);
    let mut item = s
        .store()
        .get_stream("rx-again", &p.stream_id)
        .await
        .unwrap()
        .unwrap();
    item.last_verification_ms -= 31_000;
    s.store().put_stream(&item, Some(item.v)).await.unwrap();
    assert_eq!(verify("second").await.0, 204);
    // Acknowledging the first returns only the second.
    let until = tokio::time::Instant::now() + SOON;
    let mut ack = vec![first[0].0.clone()];
    let second = loop {
        let (got, _) = poll_sets(
            s,
            &p,
            json!({"maxEvents": 10, "returnImmediately": true,
            "ack": ack}),
        )
        .await;
        ack.clear();
        if !got.is_empty() || tokio::time::Instant::now() >= until {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(event(&second[0].1)["state"], "second");
    // Ack only (maxEvents 0): 200 with no SETs; the acknowledged one is gone and delivered.
    let url = s.url(&format!("/ssf/poll/{}", p.stream_id));
    let (st, b) = poll(
        &s.http,
        &url,
        &p.token,
        json!({"maxEvents": 0, "returnImmediately": true, "ack": [second[0].0]}),
    )
    .await;
    assert_eq!((st, b["sets"].clone()), (200, json!({})), "{b}");
    let (left, more) = poll_sets(s, &p, json!({"returnImmediately": true})).await;
    assert!(left.is_empty() && !more, "{left:?}");
    let rs = receipts(&w, &p.stream_id).await;
    assert!(rs.iter().all(|r| r["status"] == "delivered"), "{rs:?}");

    // Push without an authorization header: the SET arrives with none.
    let token = receiver_token(s, "rx-noauth").await;
    let expect = Expect::discover(&s.http, &s.base, "rx-noauth").await;
    let recv = PushReceiver::start(expect, None).await;
    let (st, b) = post(
        s,
        "/ssf/streams",
        &token,
        json!({"events_requested": [REVOKED],
            "delivery": {"method": PUSH, "endpoint_url": recv.url()}}),
    )
    .await;
    assert_eq!(st, 201, "{b}");
    let id = b["stream_id"].as_str().unwrap().to_string();
    let (st, _) = post(
        s,
        "/ssf/verify",
        &token,
        json!({"stream_id": id, "state": "x"}),
    )
    .await;
    assert_eq!(st, 204);
    let got = recv.wait_for(1, SOON).await;
    assert_eq!(got.len(), 1, "accepted without an Authorization header");
    assert_eq!(event_type(&got[0]), VERIFICATION);

    // A deleted stream with a bad token: 401 (authentication first), then 404 with a good one.
    let q = format!("/ssf/streams?stream_id={id}");
    assert_eq!(send(s, Method::DELETE, &q, &token, None).await.0, 204);
    for m in [Method::DELETE, Method::GET] {
        let (st, _) = send(s, m.clone(), &q, "invalid-token-value", None).await;
        assert_eq!(st, 401, "{m}");
        assert_eq!(send(s, m.clone(), &q, &token, None).await.0, 404, "{m}");
    }
}
