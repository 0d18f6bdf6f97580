//! DynamoDB round trips per operation, counted by an SDK interceptor on the stack's client.
//! The documented numbers live in docs/round-trips.md; this test fails if any count rises
//! above them. Caches are warm (client and signing keys read once per cold start).

use serde_json::Value;
use warden_core::admin::ClientSpec;
use warden_core::store::RoundTrips;
use warden_tests::{flow, spawn_with, Options, Stack};

const RP: &str = "https://rp.example/cb";

/// Documented maximum round trips (keep in sync with docs/round-trips.md).
const LOGIN: u64 = 4;
/// BatchGetItem (session + user) · UpdateItem (the app joins); the code is sealed, not stored.
const AUTHORIZE: u64 = 2;
/// The app is already in the session, touched < 60 s ago: BatchGetItem.
const AUTHORIZE_AGAIN: u64 = 1;
/// TransactWriteItems (the link keyed by the code's hash, session, tokens); the code carries
/// the grant.
const TOKEN: u64 = 1;
/// The refused TransactWriteItems · GetItem (the code's link: its family) · Query +
/// TransactWriteItems (that family's revocation).
const TOKEN_REPLAY: u64 = 4;
const REFRESH: u64 = 3;
const INTROSPECT: u64 = 1;
const USERINFO: u64 = 2;
const LIST_SESSIONS: u64 = 2;
/// End one session (k tokens ≤ 90, m apps): bearer check + Query + TransactWriteItems +
/// the ended-session marker (BatchWriteItem, "Recently ended").
const END_ONE: u64 = 4;
/// A dispatcher batch: the outcomes recorded together; + the duplicate check when any
/// message was received before or re-sent by the relay.
const DISPATCH: u64 = 1;
const DISPATCH_AGAIN: u64 = 2;
/// End all of n sessions (bulk termination): bearer check + list Query + n Queries (the
/// partitions, in parallel) + 1 TransactWriteItems per 19 sessions of ≤ 5 items (1 app with
/// a back-channel URI, a token pair) + 1 BatchWriteItem per 25 ended markers.
fn end_all(n: u64) -> u64 {
    2 + n + n.div_ceil(19) + n.div_ceil(25)
}

async fn measure<F, Fut, T>(rt: &RoundTrips, f: F) -> (u64, T)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    rt.reset();
    let out = f().await;
    (rt.get(), out)
}

/// A stack whose DynamoDB client counts its requests.
async fn counted_stack() -> (RoundTrips, Stack) {
    let rt = RoundTrips::default();
    let s = spawn_with(Options {
        round_trips: Some(rt.clone()),
        ..Default::default()
    })
    .await;
    (rt, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_stay_at_the_documented_floor() {
    let rt = RoundTrips::default();
    let (s, c, secret) = warden_tests::metered_stack(&rt, "rt-user", "RT", RP).await;

    let mut report = Vec::new();
    let (n, cookie) = measure(&rt, || {
        flow::login(&s, "rt-user", warden_tests::METERED_PASSWORD)
    })
    .await;
    report.push(("login", n, LOGIN));
    let scope = [("scope", "openid profile offline_access internal_login")];
    let (n, (code, _, _)) = measure(&rt, || {
        flow::authorize_code(&s, &cookie, &c.client_id, RP, &scope)
    })
    .await;
    report.push(("authorize (first time for this app)", n, AUTHORIZE));
    let (n, (code2, _, _)) = measure(&rt, || {
        flow::authorize_code(&s, &cookie, &c.client_id, RP, &scope)
    })
    .await;
    report.push(("authorize (app already in the session)", n, AUTHORIZE_AGAIN));
    let (n, r) = measure(&rt, || async {
        flow::exchange_code(&s, &c.client_id, &secret, &code, RP, None)
            .await
            .json::<Value>()
            .await
            .unwrap()
    })
    .await;
    report.push(("token (code exchange)", n, TOKEN));
    // A code presented again: its refused transaction, the link read that finds the family
    // it created, and that family's revocation (Query + TransactWriteItems).
    let first = flow::exchange_code(&s, &c.client_id, &secret, &code2, RP, None).await;
    assert_eq!(first.status(), 200);
    let (n, again) = measure(&rt, || {
        flow::exchange_code(&s, &c.client_id, &secret, &code2, RP, None)
    })
    .await;
    assert_eq!(again.status(), 400);
    report.push(("token (a code presented again)", n, TOKEN_REPLAY));
    let rtok = r["refresh_token"].as_str().unwrap().to_string();
    let (n, r) = measure(&rt, || async {
        s.http
            .post(s.url("/oauth2/token"))
            .basic_auth(&c.client_id, Some(&secret))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", rtok.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    })
    .await;
    report.push(("token (refresh)", n, REFRESH));
    let at = r["access_token"].as_str().unwrap().to_string();
    let (n, _) = measure(&rt, || async {
        s.http
            .post(s.url("/oauth2/introspect"))
            .basic_auth(&c.client_id, Some(&secret))
            .form(&[("token", at.as_str())])
            .send()
            .await
            .unwrap()
    })
    .await;
    report.push(("introspect", n, INTROSPECT));
    let (n, _) = measure(&rt, || async {
        s.http
            .get(s.url("/oauth2/userinfo"))
            .bearer_auth(&at)
            .send()
            .await
            .unwrap()
    })
    .await;
    report.push(("userinfo", n, USERINFO));
    let (n, r) = measure(&rt, || async {
        s.http
            .get(s.url("/api/users/v1/me/sessions"))
            .bearer_auth(&at)
            .send()
            .await
            .unwrap()
    })
    .await;
    assert_eq!(r.status(), 200);
    report.push(("list my sessions", n, LIST_SESSIONS));

    // End one session holding k = 6 tokens and m = 2 apps (one with a back-channel URI).
    let u = s
        .store()
        .user_by_username("rt-user")
        .await
        .unwrap()
        .unwrap();
    let (victim, _) = s.session_for(&u, "victim").await;
    let (other, _) = s
        .client(ClientSpec {
            name: "Other".into(),
            redirect_uris: vec![RP.into()],
            ..Default::default()
        })
        .await;
    for _ in 0..2 {
        s.tokens_for(&victim, &c, "openid").await;
        s.tokens_for(&victim, &other, "openid").await;
    }
    let k = s
        .store()
        .session_partition(&victim.sid)
        .await
        .unwrap()
        .links
        .iter()
        .map(|l| l.tokens.len())
        .sum::<usize>();
    let path = format!("/api/users/v1/me/sessions/{}", victim.sid);
    let (n, r) = measure(&rt, || async {
        s.http
            .delete(s.url(&path))
            .bearer_auth(&at)
            .send()
            .await
            .unwrap()
    })
    .await;
    assert_eq!(r.status(), 204);
    report.push(("end one session (k tokens, m = 2 apps)", n, END_ONE));
    assert_eq!(k, 8);

    // End all of n = 5 other sessions (keeping the caller's).
    for i in 0..5 {
        let (x, _) = s.session_for(&u, &format!("ua{i}")).await;
        s.tokens_for(&x, &c, "openid").await;
    }
    let (n, r) = measure(&rt, || async {
        s.http
            .delete(s.url("/api/users/v1/me/sessions?exclude=current"))
            .bearer_auth(&at)
            .send()
            .await
            .unwrap()
    })
    .await;
    assert_eq!(r.status(), 204);
    // The caller's earlier login session (from the warm-up) is one more "other" session.
    let others = 6;
    report.push(("end all of n = 6 sessions", n, end_all(others)));

    // Dispatch the victim's delivery (its RP refuses connections: a retry, recorded): a
    // first receive, then the same message handed out again (the duplicate check).
    let msg = warden_core::outbound::queue::DeliveryMessage {
        sid: victim.sid.clone(),
        client_id: c.client_id.clone(),
        user_id: u.user_id.clone(),
        resent: false,
    };
    let first = [(&msg, 1)];
    let (n, out) = measure(&rt, || {
        warden_core::logout::backchannel::deliver_batch(s.app(), &first, 1)
    })
    .await;
    assert!(out[0].is_ok());
    report.push(("dispatch a batch (first receive)", n, DISPATCH));
    let again = [(&msg, 2)];
    let (n, _) = measure(&rt, || {
        warden_core::logout::backchannel::deliver_batch(s.app(), &again, 1)
    })
    .await;
    report.push((
        "dispatch a batch (a message received before)",
        n,
        DISPATCH_AGAIN,
    ));

    let mut failed = Vec::new();
    for (op, got, max) in &report {
        println!("{op:45} {got:>3} (documented ≤ {max})");
        if got > max {
            failed.push(format!("{op}: {got} > {max}"));
        }
    }
    assert!(
        failed.is_empty(),
        "round trips above the documented floor: {failed:?}"
    );
}

/// A session whose app refreshed many times still ends in one transaction: each refresh's
/// link names the refresh token it rotated, and ending the session leaves rotated tokens
/// alone (they are unusable already). Before, 60 refreshes left 60 rotated refresh tokens
/// counted as live, and the 122 tokens were revoked in chunks ahead of the final
/// transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_refreshed_session_ends_in_one_transaction() {
    let (rt, s) = counted_stack().await;
    let u = s.user("refresher", "correct horse battery", &[]).await;
    let (c, _) = s
        .client(ClientSpec {
            name: "Refresher".into(),
            redirect_uris: vec![RP.into()],
            ..Default::default()
        })
        .await;
    let (sess, _) = s.session_for(&u, "refresher").await;
    let first = s.tokens_for(&sess, &c, "openid").await;
    let mut refresh = first.refresh_token.clone().expect("refresh token");
    let mut rotated = Vec::new();
    let mut access = vec![first.access_token];
    for _ in 0..60 {
        let next = warden_core::oauth::tokens::refresh(s.app(), &c, &refresh, None)
            .await
            .expect("refresh");
        rotated.push(std::mem::replace(
            &mut refresh,
            next.refresh_token.expect("rotated pair"),
        ));
        access.push(next.access_token);
    }
    let (n, ended) = measure(&rt, || {
        warden_core::session::terminate(
            s.app(),
            &sess.sid,
            None,
            warden_core::store::schema::EndReason::Admin,
        )
    })
    .await;
    assert!(matches!(
        ended.expect("terminate"),
        warden_core::session::Terminated::Ended { .. }
    ));
    assert_eq!(
        n, 3,
        "1 Query + 1 TransactWriteItems for 61 links (61 access tokens + 1 refresh token) \
         + the ended-session marker"
    );
    let store = s.store();
    // Revoked in the links themselves (a held token would also read as revoked merely
    // because its session ended).
    let links = store.session_partition(&sess.sid).await.unwrap().links;
    assert_eq!(links.len(), 61);
    let now = warden_core::platform::time::now_s();
    assert!(links.iter().all(|l| !l.holds_live_token(now)));
    assert!(links
        .iter()
        .all(|l| l.access_status.as_deref() == Some("revoked")));
    let status = |t: String| async move {
        store
            .find_token(&t)
            .await
            .expect("read")
            .expect("stored")
            .item
            .status
    };
    for t in access.into_iter().chain([refresh]) {
        assert_eq!(status(t).await, "revoked");
    }
    for t in rotated {
        assert_eq!(status(t).await, "rotated", "never usable again");
    }
}

/// SSF (issue 21): a client-credentials token, then each stream operation; every operation
/// but the token's reads its bearer token first (1).
const CLIENT_CREDENTIALS: u64 = 1;
const SSF_CREATE: u64 = 3;
const SSF_READ_ONE: u64 = 2;
const SSF_LIST: u64 = 2;
const SSF_UPDATE: u64 = 3;
const SSF_STATUS: u64 = 3;
const SSF_SUBJECT: u64 = 2;
/// As a status change, and the verification request's signal record (PutItem); its SQS
/// send is not a DynamoDB round trip.
const SSF_VERIFY: u64 = 4;
const SSF_DELETE: u64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssf_round_trips_stay_at_the_documented_floor() {
    use serde_json::json;
    let (rt, s) = counted_stack().await;
    let (_, secret) = s
        .client(ClientSpec {
            client_id: Some("rx".into()),
            name: "Receiver".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["ssf.manage".into()],
            ..Default::default()
        })
        .await;
    let secret = secret.unwrap();
    let get_token = || async {
        let r: Value = s
            .http
            .post(s.url("/oauth2/token"))
            .basic_auth("rx", Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["access_token"].as_str().unwrap().to_string()
    };
    get_token().await; // warm the client cache
    let mut report = Vec::new();
    let (n, tok) = measure(&rt, get_token).await;
    report.push(("token: client_credentials", n, CLIENT_CREDENTIALS));
    let send = |m: reqwest::Method, path: String, body: Option<Value>| {
        let mut r = s.http.request(m, s.url(&path)).bearer_auth(&tok);
        if let Some(b) = body {
            r = r.json(&b);
        }
        async move {
            let r = r.send().await.unwrap();
            assert!(r.status().is_success(), "{path}: {}", r.status());
            r.text().await.unwrap()
        }
    };
    use reqwest::Method;
    let (n, created) = measure(&rt, || {
        send(Method::POST, "/ssf/streams".into(), Some(json!({})))
    })
    .await;
    report.push(("ssf: create a stream", n, SSF_CREATE));
    let id = serde_json::from_str::<Value>(&created).unwrap()["stream_id"]
        .as_str()
        .unwrap()
        .to_string();
    let q = format!("?stream_id={id}");
    let (n, _) = measure(&rt, || send(Method::GET, format!("/ssf/streams{q}"), None)).await;
    report.push(("ssf: read a stream", n, SSF_READ_ONE));
    let (n, _) = measure(&rt, || send(Method::GET, "/ssf/streams".into(), None)).await;
    report.push(("ssf: list the receiver's streams", n, SSF_LIST));
    let (n, _) = measure(&rt, || {
        send(
            Method::PATCH,
            "/ssf/streams".into(),
            Some(json!({"stream_id": id, "description": "x"})),
        )
    })
    .await;
    report.push(("ssf: update a stream", n, SSF_UPDATE));
    let (n, _) = measure(&rt, || {
        send(
            Method::POST,
            "/ssf/status".into(),
            Some(json!({"stream_id": id, "status": "paused"})),
        )
    })
    .await;
    report.push(("ssf: change the status", n, SSF_STATUS));
    let subject = json!({"stream_id": id, "subject": {"format": "opaque", "id": "u1"}});
    let (n, _) = measure(&rt, || {
        send(
            Method::POST,
            "/ssf/subjects/add".into(),
            Some(subject.clone()),
        )
    })
    .await;
    report.push(("ssf: add a subject", n, SSF_SUBJECT));
    let (n, _) = measure(&rt, || {
        send(
            Method::POST,
            "/ssf/subjects/remove".into(),
            Some(subject.clone()),
        )
    })
    .await;
    report.push(("ssf: remove a subject", n, SSF_SUBJECT));
    // The verification's fan-out would run in the background dispatcher while the request
    // is counted: its queue send fails here (the record stays due for the relay).
    let queue = s.running.queue.clone().expect("in-process queue");
    queue
        .fail_sends
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let (n, _) = measure(&rt, || {
        send(
            Method::POST,
            "/ssf/verify".into(),
            Some(json!({"stream_id": id})),
        )
    })
    .await;
    queue
        .fail_sends
        .store(false, std::sync::atomic::Ordering::SeqCst);
    report.push(("ssf: request verification", n, SSF_VERIFY));
    let (n, _) = measure(&rt, || {
        send(Method::DELETE, format!("/ssf/streams{q}"), None)
    })
    .await;
    report.push(("ssf: delete a stream", n, SSF_DELETE));
    for (what, n, max) in &report {
        eprintln!("{what}: {n} (documented {max})");
    }
    for (what, n, max) in report {
        assert!(n <= max, "{what}: {n} round trips, documented {max}");
    }
}
