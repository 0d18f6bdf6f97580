//! Fault injection (issue 7, item 5). Every test ends by checking the END STATE:
//! no termination half-applied (a session is either ended with every token revoked and one
//! delivery per back-channel app, or still active with its tokens active and no delivery),
//! no logout notification lost (each delivery `delivered`, or `dead` and visible), no token
//! left active after its session ended.
//!
//! * DynamoDB throttling / 5xx: a fault-injecting proxy (`warden_tests::faults`) between the
//!   SDK and a real dynoxide engine. Transient faults are absorbed by the SDK's retries;
//!   persistent ones surface as 503/500 JSON with nothing applied, and a later retry of the
//!   termination completes it.
//! * SQS unavailable: the in-process queue failing sends, and a real (moto) SQS queue URL
//!   that does not exist → deliveries stay pending → the relay sends them.
//! * An RP slower than the delivery timeout.
//! * The dispatcher killed mid-batch (moto): messages received and never deleted come back
//!   after the visibility timeout and the dispatcher handler completes them.

use reqwest::{Method, Response};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use warden_core::admin::ClientSpec;
use warden_core::oauth::tokens::Issued;
use warden_core::outbound::queue::SqsQueue;
use warden_core::store::schema::{ClientItem, SessionItem, UserItem};
use warden_core::{App, Store};
use warden_tests::faults::{Fault, FaultProxy};
use warden_tests::rp::TestRp;
use warden_tests::{spawn_with, Dynoxide, Options, Stack};

const ME: &str = "/api/users/v1/me/sessions";
const WAIT: Duration = Duration::from_secs(15);

/// A stack whose DynamoDB traffic goes through a fault proxy to its own dynoxide engine.
/// `direct` talks to the engine without the proxy (to read the end state).
struct FaultStack {
    s: Stack,
    proxy: FaultProxy,
    direct: Store,
    _engine: Dynoxide,
}

async fn fault_stack(opts: Options) -> FaultStack {
    let (direct, engine) = warden_tests::dynoxide_store().await;
    let proxy = FaultProxy::start(&engine.endpoint).await;
    let s = spawn_with(Options {
        dynamodb_endpoint: Some(proxy.url()),
        retry_base: Duration::from_millis(50),
        ..opts
    })
    .await;
    FaultStack {
        s,
        proxy,
        direct,
        _engine: engine,
    }
}

async fn rp_client(s: &Stack, rp: &TestRp, id: &str) -> ClientItem {
    s.client(ClientSpec {
        client_id: Some(id.into()),
        name: format!("App {id}"),
        redirect_uris: vec![format!("http://{}/cb", rp.addr)],
        backchannel_logout_uri: Some(rp.uri()),
        scopes: vec!["openid".into(), "internal_login".into()],
        ..Default::default()
    })
    .await
    .0
}

async fn new_user(s: &Stack) -> UserItem {
    s.user(
        &format!("u{}", warden_core::platform::crypto::random_id()),
        "correct horse battery",
        &["internal_login"],
    )
    .await
}

/// A live session that every client in `clients` joined; returns it and the tokens each
/// client got (scope `openid internal_login`, so they can call the Me API).
async fn signed_in(
    s: &Stack,
    user: &UserItem,
    clients: &[&ClientItem],
) -> (SessionItem, Vec<Issued>) {
    let (sess, _) = s.session_for(user, "fault-test").await;
    let mut issued = Vec::new();
    for c in clients {
        issued.push(s.tokens_for(&sess, c, "openid internal_login").await);
    }
    (sess, issued)
}

async fn call(s: &Stack, m: Method, path: &str, token: &str) -> Response {
    s.http
        .request(m, s.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

/// The REST error body, checked for its shape.
async fn api_error(r: Response, status: u16) -> serde_json::Value {
    assert_eq!(r.status().as_u16(), status);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v: serde_json::Value = r.json().await.expect("json error body");
    for k in ["code", "message", "description", "traceId"] {
        assert!(v[k].is_string(), "{k} missing in {v}");
    }
    v
}

fn tokens_of(issued: &[Issued]) -> Vec<String> {
    issued
        .iter()
        .flat_map(|i| std::iter::once(i.access_token.clone()).chain(i.refresh_token.clone()))
        .collect()
}

/// The invariant: the session is either fully ended (every token revoked — read through
/// `find_token` and in the links themselves — one delivery per back-channel app) or fully
/// active (tokens active, no delivery). Returns true if ended.
async fn assert_consistent(direct: &Store, sid: &str, issued: &[Issued], apps: usize) -> bool {
    let part = direct.session_partition(sid).await.expect("partition");
    let sess = part.session.expect("session exists");
    let mut statuses = Vec::new();
    for t in tokens_of(issued) {
        let t = direct.find_token(&t).await.unwrap().expect("token").item;
        statuses.push(t.status);
    }
    match sess.status.as_str() {
        "ended" => {
            assert!(
                statuses.iter().all(|s| s == "revoked"),
                "session {sid} ended but tokens are {statuses:?}"
            );
            // Revoked in the table, not only read as revoked because the session ended.
            let now = warden_core::platform::time::now_s();
            assert!(
                !part.links.iter().any(|l| l.holds_live_token(now)),
                "session {sid} ended but a link still holds a live token"
            );
            assert_eq!(
                part.deliveries.len(),
                apps,
                "session {sid} ended without its deliveries"
            );
            true
        }
        "active" => {
            assert!(
                statuses.iter().all(|s| s == "active"),
                "session {sid} active but tokens are {statuses:?}: half-applied"
            );
            assert!(
                part.deliveries.is_empty(),
                "session {sid} active but has deliveries: half-applied"
            );
            false
        }
        other => panic!("unexpected session status {other}"),
    }
}

/// Poll (directly on the engine) until the delivery is final; return its status.
async fn wait_final(direct: &Store, sid: &str, client_id: &str) -> String {
    let start = Instant::now();
    loop {
        let d = direct.get_delivery(sid, client_id).await.unwrap();
        if let Some(d) = &d {
            if d.status != "pending" {
                return d.status.to_string();
            }
        }
        assert!(start.elapsed() < WAIT, "delivery still pending: {d:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Introspection over HTTP says inactive (the token is dead for resource servers too).
async fn assert_inactive(s: &Stack, client_id: &str, secret: &str, token: &str) {
    let r = s
        .http
        .post(s.url("/oauth2/introspect"))
        .basic_auth(client_id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v, serde_json::json!({"active": false}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_throttling_is_retried_by_the_sdk_and_the_termination_completes() {
    let f = fault_stack(Options::default()).await;
    let rp = TestRp::start().await;
    let c = rp_client(&f.s, &rp, "app").await;
    let user = new_user(&f.s).await;
    let (caller, caller_tok) = signed_in(&f.s, &user, &[&c]).await;
    let (victim, victim_tok) = signed_in(&f.s, &user, &[&c]).await;

    // Two throttled transactions and a throttled Query: the SDK retries (3 attempts).
    f.proxy
        .fail_next("Query", 1, Fault::ProvisionedThroughputExceeded);
    f.proxy
        .fail_next("TransactWriteItems", 2, Fault::Throttling);
    let before = f.proxy.requests(Some("TransactWriteItems"));
    let r = call(
        &f.s,
        Method::DELETE,
        &format!("{ME}/{}", victim.sid),
        &caller_tok[0].access_token,
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(f.proxy.injected(Some("TransactWriteItems")), 2);
    assert_eq!(f.proxy.injected(Some("Query")), 1);
    assert_eq!(
        f.proxy.requests(Some("TransactWriteItems")) - before,
        3,
        "two throttled attempts, one that went through"
    );
    assert!(assert_consistent(&f.direct, &victim.sid, &victim_tok, 1).await);
    assert_eq!(wait_final(&f.direct, &victim.sid, "app").await, "delivered");
    assert_eq!(rp.wait_for(1, WAIT).await, 1);
    // The caller's own session is untouched.
    assert!(!assert_consistent(&f.direct, &caller.sid, &caller_tok, 1).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_throttling_and_5xx_apply_nothing_and_a_retry_completes() {
    let f = fault_stack(Options::default()).await;
    let rp = TestRp::start().await;
    let c1 = rp_client(&f.s, &rp, "one").await;
    let c2 = rp_client(&f.s, &rp, "two").await;
    let user = new_user(&f.s).await;
    let (caller, caller_tok) = signed_in(&f.s, &user, &[&c1]).await;
    let (victim, victim_tok) = signed_in(&f.s, &user, &[&c1, &c2]).await;
    let path = format!("{ME}/{}", victim.sid);
    let bearer = caller_tok[0].access_token.clone();

    // Throttled on every attempt: 503 with the REST error body; nothing applied.
    f.proxy
        .fail_always(Some("TransactWriteItems"), Fault::Throttling);
    let r = call(&f.s, Method::DELETE, &path, &bearer).await;
    let e = api_error(r, 503).await;
    assert_eq!(e["code"], "SES-50301");
    assert!(
        f.proxy.injected(Some("TransactWriteItems")) >= 3,
        "the SDK retried"
    );
    assert!(!assert_consistent(&f.direct, &victim.sid, &victim_tok, 2).await);

    // A 500 from the engine on every attempt: 500 JSON; still nothing applied.
    f.proxy.clear();
    f.proxy
        .fail_always(Some("TransactWriteItems"), Fault::InternalServerError);
    let r = call(&f.s, Method::DELETE, &path, &bearer).await;
    let e = api_error(r, 500).await;
    assert_eq!(e["code"], "SES-50001");
    assert!(!assert_consistent(&f.direct, &victim.sid, &victim_tok, 2).await);

    // ProvisionedThroughputExceeded on the read before the transaction: 503, nothing.
    f.proxy.clear();
    f.proxy
        .fail_always(Some("Query"), Fault::ProvisionedThroughputExceeded);
    let r = call(&f.s, Method::DELETE, &path, &bearer).await;
    api_error(r, 503).await;
    assert!(!assert_consistent(&f.direct, &victim.sid, &victim_tok, 2).await);
    assert!(
        rp.received().is_empty(),
        "no logout was sent for a session still live"
    );

    // The engine recovers; the client retries the same request: the termination completes.
    f.proxy.clear();
    let r = call(&f.s, Method::DELETE, &path, &bearer).await;
    assert_eq!(r.status(), 204);
    assert!(assert_consistent(&f.direct, &victim.sid, &victim_tok, 2).await);
    for cid in ["one", "two"] {
        assert_eq!(wait_final(&f.direct, &victim.sid, cid).await, "delivered");
    }
    assert_eq!(rp.wait_for(2, WAIT).await, 2);
    assert!(!assert_consistent(&f.direct, &caller.sid, &caller_tok, 1).await);
}

/// A confidential client and a signed-in user's session, with codes sealed for them
/// directly (no authorize round trip) and exchanged over HTTP.
struct CodeFixture {
    sess: SessionItem,
    client_id: String,
    secret: String,
    keys: Arc<warden_core::keys::signing::KeySet>,
}

impl CodeFixture {
    const REDIRECT: &'static str = "https://rp.example/cb";

    async fn new(s: &Stack, name: &str) -> Self {
        let user = new_user(s).await;
        let (c, secret) = s
            .client(ClientSpec {
                name: name.into(),
                redirect_uris: vec![Self::REDIRECT.into()],
                ..Default::default()
            })
            .await;
        let (sess, _) = s.session_for(&user, name).await;
        CodeFixture {
            sess,
            client_id: c.client_id,
            secret: secret.expect("confidential"),
            keys: s.app().keys().await.expect("keys"),
        }
    }

    fn code(&self) -> String {
        let g = warden_core::store::schema::CodeGrant::for_session(
            &self.sess,
            &self.client_id,
            Self::REDIRECT,
            "openid",
            Default::default(),
            warden_core::platform::time::now_s() + 60,
        );
        warden_core::oauth::code::seal(&self.keys, &g).expect("sealed")
    }

    /// Whether `code` was exchanged: its session link exists (read past the proxy).
    async fn exchanged(&self, direct: &Store, code: &str) -> bool {
        direct
            .get_code_link(
                &self.sess.sid,
                &warden_core::platform::crypto::hash_secret(code),
            )
            .await
            .expect("read")
            .is_some()
    }

    async fn exchange(&self, s: &Stack, code: String) -> Response {
        warden_tests::flow::exchange_code(
            s,
            &self.client_id,
            &self.secret,
            &code,
            Self::REDIRECT,
            None,
        )
        .await
    }
}

/// Two transactions writing one item at once: DynamoDB cancels one with
/// `TransactionConflict` (two code exchanges for one session both bump its issued counter).
/// Warden sends it again; if the conflict persists the client is told to retry later and
/// nothing was applied: the same code still works afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_conflicts_on_a_code_exchange_are_retried_or_refused_whole() {
    let f = fault_stack(Options::default()).await;
    let s = &f.s;
    let fx = CodeFixture::new(s, "conflicted").await;
    let (code, exchange) = (|| fx.code(), |code: String| fx.exchange(s, code));
    // Two conflicts, then the transaction goes through.
    f.proxy
        .fail_next("TransactWriteItems", 2, Fault::TransactionConflict);
    let r = exchange(code()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(f.proxy.injected(Some("TransactWriteItems")), 2);
    // A conflict that does not clear: 503 temporarily_unavailable, nothing written.
    f.proxy
        .fail_always(Some("TransactWriteItems"), Fault::TransactionConflict);
    let kept = code();
    let r = exchange(kept.clone()).await;
    assert_eq!(r.status(), 503);
    let e: serde_json::Value = r.json().await.expect("json");
    assert_eq!(e["error"], "temporarily_unavailable");
    assert!(!fx.exchanged(&f.direct, &kept).await, "nothing written");
    f.proxy.clear();
    let r = exchange(kept).await;
    assert_eq!(r.status(), 200, "the refused exchange consumed nothing");
}

/// DynamoDB stops answering. The SDK abandons an attempt after the attempt timeout and sends
/// it again. (1) The answer to an exchange's transaction is lost although the engine applied
/// it: the transaction carries no ClientRequestToken; its re-send fails the code's
/// single-use condition, the link it finds names the exchange's own family, and the client
/// gets its tokens — the retry is not mistaken for a replay, and nothing is revoked.
/// (1b) The answer to a refresh's transaction is lost: that one carries a
/// ClientRequestToken, the engine answers the re-send with the first result, and the
/// rotated pair is the client's. (2) A connection that stalls on every
/// attempt: the client gets 503 `temporarily_unavailable` in bounded time, nothing was
/// applied, and the same code works once the store answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_stops_answering_is_retried_idempotently_or_refused_in_bounded_time() {
    let f = fault_stack(Options {
        // Long enough for a loaded CI machine's normal answers, short against the hold.
        dynamodb_attempt_timeout: Duration::from_secs(1),
        ..Default::default()
    })
    .await;
    let s = &f.s;
    let fx = CodeFixture::new(s, "stalled").await;
    let (code, exchange) = (|| fx.code(), |code: String| fx.exchange(s, code));
    let direct = &f.direct;
    let active = |v: serde_json::Value| async move {
        for k in ["access_token", "refresh_token"] {
            let t = v[k].as_str().expect("token");
            let item = direct
                .find_token(t)
                .await
                .expect("read")
                .expect("stored once")
                .item;
            assert_eq!(item.status, "active", "{k} was not revoked as a replay");
        }
    };
    // One ordinary exchange first, so the client is cached and the GetItems below are the
    // link's.
    assert_eq!(exchange(code()).await.status(), 200);
    // (1) The first answer is lost; the re-send finds the link the first attempt wrote.
    let tokened = || {
        f.proxy
            .with_client_request_token(Some("TransactWriteItems"))
    };
    let (tx_before, get_before, tokened_before) = (
        f.proxy.requests(Some("TransactWriteItems")),
        f.proxy.requests(Some("GetItem")),
        tokened(),
    );
    f.proxy
        .fail_next("TransactWriteItems", 1, Fault::LoseResponse);
    let r = exchange(code()).await;
    let status = r.status();
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(status, 200, "{v}");
    assert_eq!(f.proxy.injected(Some("TransactWriteItems")), 1);
    assert_eq!(
        f.proxy.requests(Some("TransactWriteItems")) - tx_before,
        2,
        "the lost attempt and its retry"
    );
    assert_eq!(
        tokened() - tokened_before,
        0,
        "an exchange sends no ClientRequestToken"
    );
    assert_eq!(
        f.proxy.requests(Some("GetItem")) - get_before,
        1,
        "the link read that recognised the re-send"
    );
    let refresh = v["refresh_token"].as_str().expect("refresh").to_string();
    active(v).await;
    // (1b) A refresh whose first answer is lost: replayed by the engine under its token.
    let (tx_before, tokened_before) = (f.proxy.requests(Some("TransactWriteItems")), tokened());
    f.proxy
        .fail_next("TransactWriteItems", 1, Fault::LoseResponse);
    let r = s
        .http
        .post(s.url("/oauth2/token"))
        .basic_auth(&fx.client_id, Some(&fx.secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .send()
        .await
        .expect("refresh");
    let status = r.status();
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        f.proxy.requests(Some("TransactWriteItems")) - tx_before,
        2,
        "the lost attempt and its retry"
    );
    assert_eq!(
        tokened() - tokened_before,
        2,
        "both attempts of the refresh carry the token"
    );
    active(v).await;
    // (2) Every attempt stalls: 503 within the operation timeout, nothing applied.
    f.proxy.clear();
    f.proxy
        .fail_always(Some("TransactWriteItems"), Fault::Stall);
    let kept = code();
    let started = Instant::now();
    let r = exchange(kept.clone()).await;
    assert_eq!(r.status(), 503);
    // At most four attempts' worth (the operation timeout), not the 30 s hold.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let e: serde_json::Value = r.json().await.expect("json");
    assert_eq!(e["error"], "temporarily_unavailable");
    assert!(!fx.exchanged(&f.direct, &kept).await, "nothing written");
    f.proxy.clear();
    let r = exchange(kept).await;
    assert_eq!(r.status(), 200, "the stalled exchange consumed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_session_under_a_failing_store_keeps_the_user_signed_in_until_it_works() {
    let f = fault_stack(Options::default()).await;
    let rp = TestRp::start().await;
    let c = rp_client(&f.s, &rp, "rp").await;
    let user = new_user(&f.s).await;
    let (sess, cookie) = f.s.session_for(&user, "browser").await;
    let issued = vec![f.s.tokens_for(&sess, &c, "openid").await];
    let hint = warden_core::oauth::tokens::id_token(f.s.app(), "rp", Some(&user), &issued[0], None)
        .await
        .unwrap();
    let url = warden_tests::flow::url_with(&f.s, "/oidc/logout", &[("id_token_hint", &hint)]);

    f.proxy
        .fail_always(Some("TransactWriteItems"), Fault::InternalServerError);
    let r =
        f.s.http
            .get(&url)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("location").is_none());
    assert!(
        r.headers().get("set-cookie").is_none(),
        "the session cookie is not cleared when the session did not end"
    );
    assert!(!assert_consistent(&f.direct, &sess.sid, &issued, 1).await);

    f.proxy.clear();
    let r =
        f.s.http
            .get(&url)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200, "signed out page");
    assert!(assert_consistent(&f.direct, &sess.sid, &issued, 1).await);
    assert_eq!(wait_final(&f.direct, &sess.sid, "rp").await, "delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_faults_during_end_all_never_leave_a_session_half_ended() {
    let f = fault_stack(Options::default()).await;
    let rp = TestRp::start().await;
    let c1 = rp_client(&f.s, &rp, "a").await;
    let c2 = rp_client(&f.s, &rp, "b").await;
    let (_, secret) =
        f.s.client(ClientSpec {
            client_id: Some("resource-server".into()),
            name: "RS".into(),
            redirect_uris: vec!["https://rs.example/cb".into()],
            ..Default::default()
        })
        .await;
    let user = new_user(&f.s).await;
    let mut sessions = Vec::new();
    for _ in 0..6 {
        sessions.push(signed_in(&f.s, &user, &[&c1, &c2]).await);
    }
    // The caller keeps its own session (`exclude=current`) and ends all the others.
    let (caller, caller_tok) = signed_in(&f.s, &user, &[&c1]).await;
    let bearer = caller_tok[0].access_token.clone();
    let end_others = format!("{ME}?exclude=current");

    // Most transactions and some reads fail with 500 or throttling, on fixed pseudo-random
    // sequences; several rounds of "end all others", each answered 204 or 5xx.
    // Round 0: every transaction fails — the caller must hear of it.
    f.proxy
        .fail_always(Some("TransactWriteItems"), Fault::InternalServerError);
    let r = call(&f.s, Method::DELETE, &end_others, &bearer).await;
    api_error(r, 500).await;
    for (sess, issued) in &sessions {
        assert!(!assert_consistent(&f.direct, &sess.sid, issued, 2).await);
    }
    let mut answers = Vec::new();
    for (round, seed) in [11u64, 23, 37].into_iter().enumerate() {
        f.proxy.clear();
        let fault = if round % 2 == 0 {
            Fault::InternalServerError
        } else {
            Fault::Throttling
        };
        f.proxy
            .fail_fraction(Some("TransactWriteItems"), 0.6, fault, seed);
        f.proxy.fail_fraction(Some("Query"), 0.3, fault, seed + 1);
        let r = call(&f.s, Method::DELETE, &end_others, &bearer).await;
        answers.push(r.status().as_u16());
        assert!(
            matches!(r.status().as_u16(), 204 | 500 | 503),
            "{}",
            r.status()
        );
        // After every round, each session is all-or-nothing.
        for (sess, issued) in &sessions {
            assert_consistent(&f.direct, &sess.sid, issued, 2).await;
        }
    }
    assert!(f.proxy.injected(None) > 0, "faults were injected");

    // The store recovers; the user retries.
    f.proxy.clear();
    let r = call(&f.s, Method::DELETE, &end_others, &bearer).await;
    assert_eq!(r.status(), 204, "answers during faults: {answers:?}");
    assert!(!assert_consistent(&f.direct, &caller.sid, &caller_tok, 1).await);
    // The relay (every minute in AWS) re-sends anything a failed request left pending.
    warden_core::logout::relay::relay(f.s.app(), warden_core::platform::time::now_s() + 600)
        .await
        .unwrap();
    for (sess, issued) in &sessions {
        assert!(assert_consistent(&f.direct, &sess.sid, issued, 2).await);
        for cid in ["a", "b"] {
            assert_eq!(wait_final(&f.direct, &sess.sid, cid).await, "delivered");
        }
        for i in issued {
            assert_inactive(
                &f.s,
                "resource-server",
                secret.as_deref().unwrap(),
                &i.access_token,
            )
            .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_outage_loses_nothing_and_the_relay_delivers() {
    let f = fault_stack(Options::default()).await;
    let rp = TestRp::start().await;
    let c1 = rp_client(&f.s, &rp, "x").await;
    let c2 = rp_client(&f.s, &rp, "y").await;
    let user = new_user(&f.s).await;
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(signed_in(&f.s, &user, &[&c1, &c2]).await);
    }
    let q = f.s.running.queue.clone().expect("in-process queue");
    q.fail_sends.store(true, Ordering::SeqCst);
    let r = call(&f.s, Method::DELETE, ME, &sessions[0].1[0].access_token).await;
    assert_eq!(
        r.status(),
        204,
        "the queue outage is not the caller's problem"
    );
    // Committed: sessions ended and tokens revoked at once; deliveries wait in the outbox.
    for (sess, issued) in &sessions {
        assert!(assert_consistent(&f.direct, &sess.sid, issued, 2).await);
        for cid in ["x", "y"] {
            let d = f
                .direct
                .get_delivery(&sess.sid, cid)
                .await
                .unwrap()
                .unwrap();
            assert_eq!((d.status.as_str(), d.attempts), ("pending", 0));
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rp.received().is_empty());

    q.fail_sends.store(false, Ordering::SeqCst);
    let r =
        warden_core::logout::relay::relay(f.s.app(), warden_core::platform::time::now_s() + 200)
            .await
            .unwrap();
    assert_eq!(r.resent, 6);
    for (sess, _) in &sessions {
        for cid in ["x", "y"] {
            assert_eq!(wait_final(&f.direct, &sess.sid, cid).await, "delivered");
        }
    }
    assert_eq!(rp.wait_for(6, WAIT).await, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rp_slower_than_the_timeout_ends_dead_and_visible_then_replay_delivers() {
    fn two_attempts(c: &mut warden_core::Config) {
        c.delivery_max_attempts = 2;
    }
    let f = fault_stack(Options {
        delivery_timeout: Duration::from_millis(150),
        configure: Some(two_attempts),
        ..Options::default()
    })
    .await;
    let rp = TestRp::start().await;
    rp.set_delay(Duration::from_millis(1500));
    let c = rp_client(&f.s, &rp, "slow").await;
    let user = new_user(&f.s).await;
    let (sess, issued) = signed_in(&f.s, &user, &[&c]).await;
    let (_, caller) = signed_in(&f.s, &user, &[&c]).await;
    let started = Instant::now();
    let r = call(
        &f.s,
        Method::DELETE,
        &format!("{ME}/{}", sess.sid),
        &caller[0].access_token,
    )
    .await;
    assert_eq!(r.status(), 204);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the API does not wait for the RP"
    );
    // Tokens are dead at once, whatever the RP does.
    assert!(assert_consistent(&f.direct, &sess.sid, &issued, 1).await);
    // Both attempts time out: `dead`, visible in the Admin receipts, never silently lost.
    assert_eq!(wait_final(&f.direct, &sess.sid, "slow").await, "dead");
    let d = f
        .direct
        .get_delivery(&sess.sid, "slow")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.attempts, 2);
    assert_eq!(d.last_error.as_deref(), Some("timeout"));
    let admin =
        f.s.user("ops", "ops password 123", &["internal_session_view"])
            .await;
    let (ops_sess, _) = f.s.session_for(&admin, "ops").await;
    let console =
        f.s.client(ClientSpec {
            client_id: Some("console".into()),
            name: "Console".into(),
            redirect_uris: vec!["https://console.example/cb".into()],
            scopes: vec!["openid".into(), "internal_session_view".into()],
            ..Default::default()
        })
        .await
        .0;
    let ops_tok =
        f.s.tokens_for(&ops_sess, &console, "openid internal_session_view")
            .await;
    let r = call(
        &f.s,
        Method::GET,
        &format!(
            "/api/users/v1/{}/sessions/{}/logout-deliveries",
            user.user_id, sess.sid
        ),
        &ops_tok.access_token,
    )
    .await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(body.contains("dead") && body.contains("slow"), "{body}");

    // The RP is fast again; replay delivers.
    rp.set_delay(Duration::ZERO);
    warden_core::logout::relay::replay(f.s.app(), &sess.sid, "slow")
        .await
        .unwrap();
    assert_eq!(wait_final(&f.direct, &sess.sid, "slow").await, "delivered");
}

// ---------------------------------------------------------------------------------------
// SQS (moto)
// ---------------------------------------------------------------------------------------

/// A queue in moto with a short visibility timeout. Returns (client, URL).
async fn moto_queue(visibility_s: u32) -> (aws_sdk_sqs::Client, String) {
    let ep = warden_tests::moto_endpoint();
    let sqs = warden_core::app::sqs_client(Some(&ep)).await;
    let name = warden_core::platform::crypto::random_id().replace(['-', '_'], "x");
    let url = sqs
        .create_queue()
        .queue_name(format!("faults-{name}"))
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            visibility_s.to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    (sqs, url)
}

/// The stack's app, but sending logout messages to `url` (moto) instead of the in-process
/// queue; nothing polls that queue except the test.
async fn app_on_sqs(s: &Stack, url: &str) -> App {
    let sqs = warden_core::app::sqs_client(Some(&warden_tests::moto_endpoint())).await;
    App::new(
        s.app().config.clone(),
        s.store().clone(),
        Arc::new(SqsQueue {
            client: sqs,
            url: url.to_string(),
        }),
    )
}

async fn receive(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    want: usize,
    timeout: Duration,
) -> Vec<aws_sdk_sqs::types::Message> {
    let start = Instant::now();
    let mut got = Vec::new();
    while got.len() < want && start.elapsed() < timeout {
        let r = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .send()
            .await
            .unwrap();
        got.extend(r.messages.unwrap_or_default());
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_wrong_queue_url_keeps_deliveries_pending_and_the_relay_delivers() {
    let f = fault_stack(Options::default()).await;
    let rp = TestRp::start().await;
    let c = rp_client(&f.s, &rp, "sqs-app").await;
    let user = new_user(&f.s).await;
    let (sess, issued) = signed_in(&f.s, &user, &[&c]).await;
    let (sqs, url) = moto_queue(30).await;
    // A queue URL that does not exist: every SendMessageBatch fails.
    let broken = app_on_sqs(&f.s, &format!("{url}-does-not-exist")).await;
    let t = warden_core::session::terminate(
        &broken,
        &sess.sid,
        None,
        warden_core::store::schema::EndReason::User,
    )
    .await
    .unwrap();
    assert_eq!(t, warden_core::session::Terminated::Ended { deliveries: 1 });
    assert!(assert_consistent(&f.direct, &sess.sid, &issued, 1).await);
    let d = f
        .direct
        .get_delivery(&sess.sid, "sqs-app")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((d.status.as_str(), d.attempts), ("pending", 0));
    assert!(receive(&sqs, &url, 1, Duration::from_secs(2))
        .await
        .is_empty());

    // The relay runs with the right queue: the message reaches SQS, the dispatcher handler
    // delivers it.
    let good = app_on_sqs(&f.s, &url).await;
    let r = warden_core::logout::relay::relay(&good, warden_core::platform::time::now_s() + 200)
        .await
        .unwrap();
    assert_eq!(r.resent, 1);
    let msgs = receive(&sqs, &url, 1, WAIT).await;
    assert_eq!(msgs.len(), 1);
    let d = dispatcher(&f.s, &sqs, &url).await;
    let resp =
        warden_fn_logout_dispatcher::handle(&d, warden_fn_logout_dispatcher::sqs_event_from(&msgs))
            .await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(
        wait_final(&f.direct, &sess.sid, "sqs-app").await,
        "delivered"
    );
    assert_eq!(rp.received().len(), 1);
}

async fn dispatcher(
    s: &Stack,
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> warden_fn_logout_dispatcher::Dispatcher {
    warden_fn_logout_dispatcher::Dispatcher {
        app: App::new(
            s.app().config.clone(),
            s.store().clone(),
            Arc::new(warden_core::outbound::queue::NoQueue),
        ),
        sqs: Some(sqs.clone()),
        queue_url: Some(url.to_string()),
        concurrency: 4,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatcher_killed_mid_batch_loses_nothing() {
    let f = fault_stack(Options::default()).await;
    let rp = TestRp::start().await;
    let ids = ["k1", "k2", "k3", "k4"];
    let mut clients = Vec::new();
    for id in ids {
        clients.push(rp_client(&f.s, &rp, id).await);
    }
    let refs: Vec<&ClientItem> = clients.iter().collect();
    let user = new_user(&f.s).await;
    let (s1, t1) = signed_in(&f.s, &user, &refs).await;
    let (s2, t2) = signed_in(&f.s, &user, &refs[..2]).await;
    let (sqs, url) = moto_queue(2).await;
    let app = app_on_sqs(&f.s, &url).await;
    for sid in [&s1.sid, &s2.sid] {
        warden_core::session::terminate(
            &app,
            sid,
            None,
            warden_core::store::schema::EndReason::Admin,
        )
        .await
        .unwrap();
    }
    assert!(assert_consistent(&f.direct, &s1.sid, &t1, 4).await);
    assert!(assert_consistent(&f.direct, &s2.sid, &t2, 2).await);

    // The dispatcher receives the batch, POSTs half of it, and dies: nothing is deleted.
    let batch = receive(&sqs, &url, 6, WAIT).await;
    assert_eq!(batch.len(), 6);
    let d = dispatcher(&f.s, &sqs, &url).await;
    let resp = warden_fn_logout_dispatcher::handle(
        &d,
        warden_fn_logout_dispatcher::sqs_event_from(&batch[..3]),
    )
    .await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(rp.wait_for(3, WAIT).await, 3);
    drop(batch); // crash: no DeleteMessage, no visibility change

    // After the visibility timeout every message is back; a new dispatcher run completes
    // them all and the poller deletes what succeeded.
    let again = receive(&sqs, &url, 6, WAIT).await;
    assert_eq!(
        again.len(),
        6,
        "every message of the crashed batch comes back"
    );
    assert!(again.iter().all(|m| m
        .attributes()
        .and_then(
            |a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
        )
        .is_some_and(|c| c == "2")));
    let resp = warden_fn_logout_dispatcher::handle(
        &d,
        warden_fn_logout_dispatcher::sqs_event_from(&again),
    )
    .await;
    assert!(resp.batch_item_failures.is_empty(), "{resp:?}");
    for m in &again {
        sqs.delete_message()
            .queue_url(&url)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }
    for (sid, n) in [(&s1.sid, 4), (&s2.sid, 2)] {
        for cid in &ids[..n] {
            assert_eq!(wait_final(&f.direct, sid, cid).await, "delivered");
        }
    }
    // Duplicates are allowed (the RP saw the first three twice); losses are not.
    let got = rp.received().len();
    assert!((6..=9).contains(&got), "{got} POSTs");
    let mut seen: Vec<(String, String)> = rp
        .logout_tokens()
        .iter()
        .map(|t| {
            let c = decode_claims(t);
            (
                c["sid"].as_str().unwrap().to_string(),
                c["aud"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 6, "every (session, app) notified at least once");
    assert!(receive(&sqs, &url, 1, Duration::from_secs(3))
        .await
        .is_empty());
}

fn decode_claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
