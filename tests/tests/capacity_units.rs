//! Capacity units per operation, measured: every DynamoDB request of the stack asks for its
//! `ConsumedCapacity` (`INDEXES`) and the test adds up what the engine reports — read units,
//! write units and, of those, the writes of index copies. The engine is the stack's embedded
//! dynoxide, which sizes items by DynamoDB's rules (1 write unit per started KB per item,
//! 1 read unit per started 4 KB strongly consistent and half that eventually consistent, a
//! Query on the sum of what it returns, transactions twice on the table, one write per index
//! copy sized by its projection, a delete and a put when an index key moves). The documented
//! figures live in docs/scale.md ("What each operation writes and reads"); this test fails
//! when any figure rises above them, the way `round_trips.rs` does for round trips. Caches are
//! warm.

use reqwest::Method;
use serde_json::Value;
use warden_core::admin::ClientSpec;
use warden_core::store::{RoundTrips, Units};
use warden_tests::{flow, Stack};

const RP: &str = "https://rp.example/cb";

/// Documented ceilings: (read units, write units, of which index copies). Keep in sync with
/// docs/scale.md.
/// Two transactions (4 + 6 table units: the counters twice, the session, the condition on the
/// user's `credential_version`) and the session's three index copies.
const LOGIN: (f64, f64, f64) = (2.0, 15.0, 3.0);
const AUTHORIZE_JOIN: (f64, f64, f64) = (2.0, 6.0, 5.0);
const AUTHORIZE_AGAIN: (f64, f64, f64) = (2.0, 0.0, 0.0);
const EXCHANGE: (f64, f64, f64) = (0.0, 6.0, 0.0);
const REFRESH: (f64, f64, f64) = (3.0, 8.0, 0.0);
const INTROSPECT: (f64, f64, f64) = (2.0, 0.0, 0.0);
const USERINFO: (f64, f64, f64) = (3.0, 0.0, 0.0);
const LIST: (f64, f64, f64) = (3.0, 0.0, 0.0);
/// End one session with k = 8 live tokens in 4 links and m = 2 apps (one back-channel):
/// 2 × (session + issued counter + 4 links + 1 delivery) + 3 session copies removed + the
/// delivery's due copy + the ended marker.
const END_ONE: (f64, f64, f64) = (3.0, 19.0, 4.0);
/// End all of n = 6 sessions (five with one link, one without; one back-channel app each).
const END_ALL_6: (f64, f64, f64) = (9.0, 76.0, 24.0);
/// A retry recorded: the delivery updated, its due key moved (a delete and a put).
const DISPATCH: (f64, f64, f64) = (0.0, 3.0, 2.0);
/// A relay run with nothing due: one Query per due shard of each family (deliveries,
/// Shared Signals work, sessions: 80 + 80 + 80, each at least half a unit), the shard
/// ceiling's GetItem, and its first raise (1 write, once).
const RELAY_IDLE: (f64, f64, f64) = (121.0, 1.0, 0.0);

async fn measure<F, Fut, T>(rt: &RoundTrips, f: F) -> (Units, T)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    rt.reset();
    let out = f().await;
    (rt.units(), out)
}

/// `method path` with `token` as the bearer.
async fn bearer(s: &Stack, method: Method, path: &str, token: &str) -> reqwest::Response {
    s.http
        .request(method, s.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_units_stay_at_the_documented_table() {
    let rt = RoundTrips::measuring_units();
    let (s, c, secret) = warden_tests::metered_stack(&rt, "cu-user", "CU", RP).await;

    let mut report: Vec<(&str, Units, (f64, f64, f64))> = Vec::new();
    let (u, cookie) = measure(&rt, || {
        flow::login(&s, "cu-user", warden_tests::METERED_PASSWORD)
    })
    .await;
    report.push(("login", u, LOGIN));
    let scope = [("scope", "openid profile offline_access internal_login")];
    let (u, (code, _, _)) = measure(&rt, || {
        flow::authorize_code(&s, &cookie, &c.client_id, RP, &scope)
    })
    .await;
    report.push(("authorize (the app joins)", u, AUTHORIZE_JOIN));
    let (u, _) = measure(&rt, || {
        flow::authorize_code(&s, &cookie, &c.client_id, RP, &scope)
    })
    .await;
    report.push(("authorize (app known, touched < 60 s)", u, AUTHORIZE_AGAIN));
    let (u, r) = measure(&rt, || async {
        flow::exchange_code(&s, &c.client_id, &secret, &code, RP, None)
            .await
            .json::<Value>()
            .await
            .unwrap()
    })
    .await;
    report.push(("code exchange", u, EXCHANGE));
    let rtok = r["refresh_token"].as_str().unwrap().to_string();
    let (u, r) = measure(&rt, || async {
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
    report.push(("refresh", u, REFRESH));
    let at = r["access_token"].as_str().unwrap().to_string();
    let (u, _) = measure(&rt, || async {
        s.http
            .post(s.url("/oauth2/introspect"))
            .basic_auth(&c.client_id, Some(&secret))
            .form(&[("token", at.as_str())])
            .send()
            .await
            .unwrap()
    })
    .await;
    report.push(("introspection", u, INTROSPECT));
    let (u, _) = measure(&rt, || bearer(&s, Method::GET, "/oauth2/userinfo", &at)).await;
    report.push(("userinfo", u, USERINFO));
    let (u, r) = measure(&rt, || {
        bearer(&s, Method::GET, "/api/users/v1/me/sessions", &at)
    })
    .await;
    assert_eq!(r.status(), 200);
    report.push(("list my sessions (2)", u, LIST));

    // End one session holding k = 8 tokens and m = 2 apps (one with a back-channel URI).
    let user = s
        .store()
        .user_by_username("cu-user")
        .await
        .unwrap()
        .unwrap();
    let (victim, _) = s.session_for(&user, "victim").await;
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
    let path = format!("/api/users/v1/me/sessions/{}", victim.sid);
    let (u, r) = measure(&rt, || bearer(&s, Method::DELETE, &path, &at)).await;
    assert_eq!(r.status(), 204);
    report.push(("end one (k = 8 tokens, m = 2 apps)", u, END_ONE));

    // End all of n = 6 other sessions (5 made here, the warm-up login's).
    for i in 0..5 {
        let (x, _) = s.session_for(&user, &format!("ua{i}")).await;
        s.tokens_for(&x, &c, "openid").await;
    }
    let (u, r) = measure(&rt, || {
        bearer(
            &s,
            Method::DELETE,
            "/api/users/v1/me/sessions?exclude=current",
            &at,
        )
    })
    .await;
    assert_eq!(r.status(), 204);
    report.push(("end all of n = 6", u, END_ALL_6));

    // Dispatch the victim's delivery (its RP refuses connections: a retry, recorded).
    let msg = warden_core::outbound::queue::DeliveryMessage {
        sid: victim.sid.clone(),
        client_id: c.client_id.clone(),
        user_id: user.user_id.clone(),
        resent: false,
    };
    let first = [(&msg, 1)];
    let (u, out) = measure(&rt, || {
        warden_core::logout::backchannel::deliver_batch(s.app(), &first, 1)
    })
    .await;
    assert!(out[0].is_ok());
    report.push(("dispatch a batch of one", u, DISPATCH));

    // A relay run with nothing due yet (the fixed cost of the minute's sweeps).
    let now = warden_core::platform::time::now_s();
    let (u, out) = measure(&rt, || warden_core::logout::relay::relay(s.app(), now)).await;
    assert!(out.is_ok());
    report.push(("relay run, nothing due", u, RELAY_IDLE));

    let mut failed = Vec::new();
    for (op, got, (r, w, i)) in &report {
        println!(
            "{op:40} read {:>5.1} write {:>5.1} (index {:>4.1})   documented ≤ {r} / {w} ({i})",
            got.read, got.write, got.index_write
        );
        if got.unreported > 0 {
            failed.push(format!(
                "{op}: {} requests without a capacity report",
                got.unreported
            ));
        }
        if got.read > *r || got.write > *w || got.index_write > *i {
            failed.push(format!(
                "{op}: {} / {} ({}) > {r} / {w} ({i})",
                got.read, got.write, got.index_write
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "capacity units above the documented table: {failed:?}"
    );
}

/// Fan a signal out to one matching push stream (one event): reads — the record (1), the
/// registry (1), the user (1), the six subject keys that name the user (1 each, found or
/// not) and the stream (1); writes — the record updated (1) and out of the due index (1),
/// the event put (a SET makes it just over 1 KB: 2) with its due copy (2).
const SSF_FAN_OUT: (f64, f64, f64) = (10.0, 6.0, 3.0);
/// Push that event, accepted: reads — the event and the stream (1 each); writes — its
/// receipt put (2), the pending item deleted (2) with its due copy (2).
const SSF_PUSH: (f64, f64, f64) = (2.0, 6.0, 2.0);
/// Round trips of the two (`docs/round-trips.md`).
const SSF_FAN_OUT_TRIPS: u64 = 7;
const SSF_PUSH_TRIPS: u64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssf_fan_out_and_push_stay_at_the_documented_table() {
    use serde_json::json;
    use warden_tests::ssf_receiver::{Expect, PushReceiver};
    let rt = RoundTrips::measuring_units();
    // Queue sends fail: the fan-out and the push run only when measured here.
    let (s, _, _) = warden_tests::metered_stack(&rt, "ssf-cu", "SSF CU", RP).await;
    let (rx, secret) = s
        .client(ClientSpec {
            client_id: Some("rx-cu".into()),
            name: "Receiver".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["ssf.manage".into()],
            ..Default::default()
        })
        .await;
    let tok: Value = s
        .http
        .post(s.url("/oauth2/token"))
        .basic_auth(&rx.client_id, secret.as_deref())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tok = tok["access_token"].as_str().unwrap().to_string();
    let recv = PushReceiver::start(Expect::discover(&s.http, &s.base, "rx-cu").await, None).await;
    let post = |path: &'static str, body: Value| {
        let (s, tok) = (&s, tok.clone());
        async move {
            let r = s
                .http
                .post(s.url(path))
                .bearer_auth(tok)
                .json(&body)
                .send()
                .await
                .unwrap();
            let st = r.status().as_u16();
            (st, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (st, b) = post(
        "/ssf/streams",
        json!({"events_requested":
            ["https://schemas.openid.net/secevent/caep/event-type/session-revoked"],
            "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": recv.url()}}),
    )
    .await;
    assert_eq!(st, 201, "{b}");
    let stream_id = b["stream_id"].as_str().unwrap().to_string();
    let u = s.user("signalled", "pw-signalled-1", &[]).await;
    let subject = json!({"format": "iss_sub", "iss": s.app().config.issuer, "sub": u.user_id});
    let (st, _) = post(
        "/ssf/subjects/add",
        json!({"stream_id": stream_id, "subject": subject}),
    )
    .await;
    assert_eq!(st, 200);
    let (sess, _) = s.session_for(&u, "ua").await;
    warden_core::session::terminate(
        s.app(),
        &sess.sid,
        None,
        warden_core::store::schema::EndReason::User,
    )
    .await
    .unwrap();
    let sig = s
        .store()
        .list_signals()
        .await
        .unwrap()
        .pop()
        .expect("a signal record");
    let (fan, out) = measure(&rt, || {
        warden_core::ssf::delivery::fan_out(s.app(), &sig.id)
    })
    .await;
    let fan_trips = rt.get();
    assert_eq!(out.unwrap(), 1);
    let (pending, _) = s
        .store()
        .pending_stream_events(&stream_id, 10)
        .await
        .unwrap();
    let (push, out) = measure(&rt, || {
        warden_core::ssf::delivery::push(s.app(), &stream_id, &pending[0].sk, 1)
    })
    .await;
    let push_trips = rt.get();
    assert!(
        matches!(out, Ok(warden_core::store::DeliveryOutcome::Delivered(202))),
        "{out:?}"
    );
    let mut failed = Vec::new();
    for (op, got, (r, w, i), trips, max_trips) in [
        (
            "ssf fan-out (1 stream)",
            fan,
            SSF_FAN_OUT,
            fan_trips,
            SSF_FAN_OUT_TRIPS,
        ),
        (
            "ssf push (delivered)",
            push,
            SSF_PUSH,
            push_trips,
            SSF_PUSH_TRIPS,
        ),
    ] {
        println!(
            "{op:40} read {:>5.1} write {:>5.1} (index {:>4.1}) in {trips} round trips   documented ≤ {r} / {w} ({i}) in {max_trips}",
            got.read, got.write, got.index_write
        );
        if got.unreported > 0 {
            failed.push(format!(
                "{op}: {} requests without a capacity report",
                got.unreported
            ));
        }
        if got.read > r || got.write > w || got.index_write > i || trips > max_trips {
            failed.push(format!(
                "{op}: {} / {} ({}) in {trips} > {r} / {w} ({i}) in {max_trips}",
                got.read, got.write, got.index_write
            ));
        }
    }
    assert!(failed.is_empty(), "above the documented table: {failed:?}");
}
