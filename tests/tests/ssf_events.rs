//! Shared Signals events (issue 21, parts 4–5), against the local stack: the durable
//! signal record a termination writes in its own transaction while some stream may
//! receive it, and nothing at all without one. Streams are created over HTTP with a
//! receiver's client-credentials token, as a receiver would.
//!
//! Their delivery (fan-out, push, poll, replay) is tested against an independent receiver
//! in `ssf_delivery.rs`.

use reqwest::Method;
use serde_json::{json, Value};
use warden_core::admin::ClientSpec;
use warden_core::session::terminate::{terminate_all_by, terminate_by};
use warden_core::session::Terminated;
use warden_core::store::schema::{ActorKind, EndReason, EndedBy, SignalItem, SignalKind};
use warden_tests::{spawn, Stack};

const REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

/// A manage-scoped client-credentials token of a fresh receiver `id`.
async fn manager(s: &Stack, id: &str) -> String {
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
            ("scope", "ssf.manage"),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap();
    b["access_token"].as_str().unwrap().to_string()
}

async fn call(s: &Stack, m: Method, path: &str, tok: &str, body: Value) -> (u16, Value) {
    let r = s
        .http
        .request(m, s.url(path))
        .bearer_auth(tok)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A poll stream of a fresh receiver asking for session-revoked; its id and the token.
async fn stream(s: &Stack, receiver: &str) -> (String, String) {
    let tok = manager(s, receiver).await;
    let (st, b) = call(
        s,
        Method::POST,
        "/ssf/streams",
        &tok,
        json!({"events_requested": [REVOKED]}),
    )
    .await;
    assert_eq!(st, 201, "{b}");
    (b["stream_id"].as_str().unwrap().to_string(), tok)
}

async fn signals(s: &Stack) -> Vec<SignalItem> {
    s.store().list_signals().await.expect("scan signals")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_streams_a_termination_writes_no_signal_record() {
    let s = spawn().await;
    let u = s.user("nostream", "pw-nostream-1", &[]).await;
    let (sess, _) = s.session_for(&u, "ua").await;
    let ended = terminate_by(s.app(), &sess.sid, None, EndReason::User, None).await;
    assert!(matches!(ended, Ok(Terminated::Ended { .. })));
    assert!(signals(&s).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_termination_writes_one_signal_record_however_many_streams_exist() {
    let s = spawn().await;
    stream(&s, "rx-one").await;
    stream(&s, "rx-two").await;
    let u = s.user("signalled", "pw-signalled-1", &[]).await;
    let (sess, _) = s.session_for(&u, "ua").await;
    let admin = EndedBy::person(ActorKind::Admin, "root", Some("console"));
    let ended = terminate_by(s.app(), &sess.sid, None, EndReason::Admin, Some(&admin)).await;
    assert!(matches!(ended, Ok(Terminated::Ended { .. })));
    let got = signals(&s).await;
    assert_eq!(got.len(), 1, "one record per termination, not per stream");
    let sig = &got[0];
    assert_eq!(sig.kind, SignalKind::SessionRevoked);
    assert_eq!(sig.user_id, u.user_id);
    assert_eq!(sig.sids, std::slice::from_ref(&sess.sid));
    assert_eq!(sig.reason, Some(EndReason::Admin));
    assert_eq!(sig.actor.as_ref(), Some(&admin));
    // Written pending with its due key; the local dispatcher may have fanned it out
    // already (no stream names the user: no events).
    let due = sig.gsi2pk.is_some() && sig.gsi2sk.is_some();
    assert!(
        (sig.status == "pending" && due) || (sig.status == "delivered" && sig.events == Some(0)),
        "{sig:?}"
    );
    assert_eq!(
        s.store().get_signal(&sig.id).await.unwrap().map(|g| g.id),
        Some(sig.id.clone())
    );
    // Ending it again writes nothing more.
    let again = terminate_by(s.app(), &sess.sid, None, EndReason::Admin, None).await;
    assert!(matches!(again, Ok(Terminated::AlreadyEnded)));
    assert_eq!(signals(&s).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_termination_records_every_session_under_one_txn() {
    let s = spawn().await;
    stream(&s, "rx-bulk").await;
    let u = s.user("bulky", "pw-bulky-1", &[]).await;
    let mut sids = Vec::new();
    for i in 0..3 {
        sids.push(s.session_for(&u, &format!("ua-{i}")).await.0.sid);
    }
    let n = terminate_all_by(s.app(), &u.user_id, &[], EndReason::UserAll, None)
        .await
        .expect("end all");
    assert_eq!(n, 3);
    let got = signals(&s).await;
    assert!(!got.is_empty());
    let txn = &got[0].txn;
    assert!(got.iter().all(|g| &g.txn == txn), "one txn: {got:?}");
    let mut recorded: Vec<String> = got.iter().flat_map(|g| g.sids.clone()).collect();
    recorded.sort();
    sids.sort();
    assert_eq!(recorded, sids);
    assert!(got.iter().all(|g| g.reason == Some(EndReason::UserAll)
        && g.actor.as_ref().map(|a| a.kind) == Some(ActorKind::User)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_stream_keeps_records_coming_and_a_disabled_or_deleted_one_stops_them() {
    let s = spawn().await;
    let (id, tok) = stream(&s, "rx-status").await;
    let u = s.user("statused", "pw-statused-1", &[]).await;
    let end = |sid: String| {
        let app = s.app().clone();
        async move {
            terminate_by(&app, &sid, None, EndReason::User, None)
                .await
                .expect("terminate")
        }
    };
    let set_status = |st: &'static str| {
        let (s, tok, id) = (&s, tok.clone(), id.clone());
        async move {
            let (code, b) = call(
                s,
                Method::POST,
                "/ssf/status",
                &tok,
                json!({"stream_id": id, "status": st}),
            )
            .await;
            assert_eq!(code, 200, "{b}");
        }
    };
    set_status("paused").await;
    end(s.session_for(&u, "ua").await.0.sid).await;
    assert_eq!(signals(&s).await.len(), 1, "a paused stream is held for");
    set_status("disabled").await;
    end(s.session_for(&u, "ua").await.0.sid).await;
    assert_eq!(
        signals(&s).await.len(),
        1,
        "a disabled stream keeps nothing"
    );
    set_status("enabled").await;
    end(s.session_for(&u, "ua").await.0.sid).await;
    assert_eq!(signals(&s).await.len(), 2);
    let r = s
        .http
        .delete(s.url(&format!("/ssf/streams?stream_id={id}")))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    end(s.session_for(&u, "ua").await.0.sid).await;
    assert_eq!(signals(&s).await.len(), 2, "no stream left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_resets_and_account_changes_each_write_their_record() {
    use warden_core::account::lifecycle;
    let s = spawn().await;
    let u = s.user("changer", "pw-changer-first-1", &[]).await;
    // No stream yet: nothing.
    lifecycle::disable(s.app(), &u.user_id, &EndedBy::system())
        .await
        .expect("disable");
    lifecycle::enable(s.app(), &u.user_id)
        .await
        .expect("enable");
    assert!(signals(&s).await.is_empty());
    stream(&s, "rx-account").await;
    let admin = EndedBy::person(ActorKind::Admin, "root", None);
    lifecycle::set_password(s.app(), &u.user_id, "Correct-horse-battery-9", &admin)
        .await
        .expect("reset");
    lifecycle::disable(s.app(), &u.user_id, &admin)
        .await
        .expect("disable");
    lifecycle::enable(s.app(), &u.user_id)
        .await
        .expect("enable");
    lifecycle::delete(s.app(), &u.user_id, &admin)
        .await
        .expect("delete");
    let got = signals(&s).await;
    let mut kinds: Vec<&str> = got.iter().map(|g| g.kind.as_str()).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "account_disabled",
            "account_enabled",
            "account_purged",
            "password_changed"
        ]
    );
    assert!(got
        .iter()
        .all(|g| g.user_id == u.user_id && g.sids.is_empty()));
    let reset = got
        .iter()
        .find(|g| g.kind == SignalKind::PasswordChanged)
        .unwrap();
    assert_eq!(reset.actor.as_ref(), Some(&admin));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_a_session_through_the_me_api_records_the_user_and_their_client() {
    let s = spawn().await;
    stream(&s, "rx-me").await;
    let (console, _) = s
        .client(ClientSpec {
            client_id: Some("console".into()),
            name: "Console".into(),
            redirect_uris: vec!["https://console.example.org/cb".into()],
            scopes: vec!["openid".into(), "internal_login".into()],
            ..Default::default()
        })
        .await;
    let u = s
        .user("meuser", "meuser password 1", &["internal_login"])
        .await;
    let (mine, _) = s.session_for(&u, "ua").await;
    let (other, _) = s.session_for(&u, "ua").await;
    let tok = s
        .tokens_for(&mine, &console, "openid internal_login")
        .await
        .access_token;
    let r = s
        .http
        .delete(s.url(&format!("/api/users/v1/me/sessions/{}", other.sid)))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let got = signals(&s).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].sids, std::slice::from_ref(&other.sid));
    assert_eq!(got[0].reason, Some(EndReason::User));
    assert_eq!(
        got[0].actor.as_ref(),
        Some(&EndedBy::person(
            ActorKind::User,
            &u.user_id,
            Some("console")
        ))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_matches_a_user_by_any_form_of_subject_it_added() {
    use warden_core::ssf::fanout::subject_hashes;
    let s = spawn().await;
    let issuer = s.app().config.issuer.clone();
    let u = s.user("matched", "pw-matched-1", &[]).await;
    let (by_sub, tok1) = stream(&s, "rx-sub").await;
    let (by_mail, tok2) = stream(&s, "rx-mail").await;
    let (unrelated, tok3) = stream(&s, "rx-none").await;
    for (id, tok, subject) in [
        (
            &by_sub,
            &tok1,
            json!({"format": "iss_sub", "iss": issuer, "sub": u.user_id}),
        ),
        (
            &by_mail,
            &tok2,
            json!({"user": {"format": "email", "email": "matched@example.com"}}),
        ),
        (
            &unrelated,
            &tok3,
            json!({"format": "iss_sub", "iss": issuer, "sub": "someone-else"}),
        ),
    ] {
        let (code, b) = call(
            &s,
            Method::POST,
            "/ssf/subjects/add",
            tok,
            json!({"stream_id": id, "subject": subject}),
        )
        .await;
        assert_eq!(code, 200, "{b}");
    }
    let index = s.store().stream_index().await.unwrap();
    assert_eq!(index.len(), 3);
    let hashes = subject_hashes(&issuer, &u.user_id, Some("matched@example.com"));
    let mut matched: Vec<&str> = s
        .store()
        .streams_matching(&index, &hashes)
        .await
        .unwrap()
        .iter()
        .map(|(m, _)| m.stream_id.as_str())
        .collect();
    matched.sort();
    let mut want = vec![by_sub.as_str(), by_mail.as_str()];
    want.sort();
    assert_eq!(matched, want);
    // A disabled stream matches nothing.
    let (code, _) = call(
        &s,
        Method::POST,
        "/ssf/status",
        &tok1,
        json!({"stream_id": by_sub, "status": "disabled"}),
    )
    .await;
    assert_eq!(code, 200);
    let index = s.store().stream_index().await.unwrap();
    let matched = s.store().streams_matching(&index, &hashes).await.unwrap();
    assert_eq!(matched.len(), 1);
    assert_eq!(matched[0].0.stream_id, by_mail);
}
