//! The outbound address policy through the local stack's dispatcher: a back-channel URI
//! naming loopback (outside local mode), a private, link-local, metadata or IPv4-mapped
//! address, or a name that resolves to one, is `rejected` — final, nothing sent, the reason
//! on the Admin API's receipts — while the local stack (its issuer is loopback) still
//! delivers to loopback apps; a redirect is never followed; `warden-admin client create` /
//! `update` warn about such a URI without refusing it.
//!
//! The refusal cases run the stack with a deployment's policy (`Options::outbound`: not local
//! mode) and a fixed name lookup (`private.example.test` → 10.0.0.1), so no test needs DNS.

mod logout_common;

use logout_common::{signed_in, wait_status};
use reqwest::Method;
use serde_json::Value;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use warden_core::admin::ClientSpec;
use warden_core::outbound::client::{Lookup, StaticLookup};
use warden_core::outbound::policy::{parse_allow_list, AddressPolicy};
use warden_core::session;
use warden_core::store::schema::{ClientItem, EndReason, SessionItem};
use warden_tests::rp::TestRp;
use warden_tests::{spawn_with, Options, Stack};

const WAIT: Duration = Duration::from_secs(10);

/// Names the stack's outbound client resolves, without DNS.
fn names() -> Arc<dyn Lookup> {
    let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
    Arc::new(StaticLookup::new([
        ("private.example.test", vec![ip("10.0.0.1")]),
        ("metadata.example.test", vec![ip("169.254.169.254")]),
        ("loopback.example.test", vec![ip("127.0.0.1"), ip("::1")]),
    ]))
}

/// A stack whose outbound client applies `policy` (the issuer stays loopback).
fn with_policy(policy: AddressPolicy) -> Options {
    Options {
        retry_base: Duration::from_millis(50),
        outbound: Some((policy, names())),
        ..Default::default()
    }
}

/// A deployment's policy: not local mode, no allow-list.
fn deployed() -> Options {
    with_policy(AddressPolicy::default())
}

/// A confidential app whose back-channel URI is `uri` (registration accepts it: https, or
/// plain http on a loopback host).
async fn app(s: &Stack, id: &str, uri: &str) -> ClientItem {
    s.client(ClientSpec {
        client_id: Some(id.into()),
        name: format!("App {id}"),
        redirect_uris: vec!["https://rp.example/cb".into()],
        backchannel_logout_uri: Some(uri.into()),
        backchannel_logout_session_required: true,
        ..Default::default()
    })
    .await
    .0
}

/// An admin's access token for the Admin API (scope `internal_session_view` and
/// `internal_session_delete`).
async fn admin_token(s: &Stack) -> String {
    let console = s
        .client(ClientSpec {
            client_id: Some("console".into()),
            name: "Console".into(),
            redirect_uris: vec!["https://console.example/cb".into()],
            scopes: vec![
                "openid".into(),
                "internal_session_view".into(),
                "internal_session_delete".into(),
            ],
            ..Default::default()
        })
        .await
        .0;
    let admin = s
        .user(
            "admin",
            "password-admin",
            &["internal_session_view", "internal_session_delete"],
        )
        .await;
    let (sess, _) = s.session_for(&admin, "test").await;
    s.tokens_for(
        &sess,
        &console,
        "openid internal_session_view internal_session_delete",
    )
    .await
    .access_token
}

/// `GET /api/users/v1/{user}/sessions/{sid}/logout-deliveries`: the receipts by client id.
async fn receipts(
    s: &Stack,
    token: &str,
    user: &str,
    sid: &str,
) -> std::collections::BTreeMap<String, Value> {
    let r = s
        .http
        .request(
            Method::GET,
            s.url(&format!(
                "/api/users/v1/{user}/sessions/{sid}/logout-deliveries"
            )),
        )
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| (d["clientId"].as_str().unwrap().to_string(), d.clone()))
        .collect()
}

async fn end(s: &Stack, sess: &SessionItem) {
    session::terminate(s.app(), &sess.sid, None, EndReason::User)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_deployment_every_refused_address_is_rejected_with_its_reason_on_the_receipts() {
    let s = spawn_with(deployed()).await;
    let token = admin_token(&s).await;
    // A live RP on loopback: reachable, but a deployment must not send to it.
    let rp = TestRp::start().await;
    let port = rp.addr.port();
    let cases: Vec<(&str, String, String)> = vec![
        (
            "metadata",
            "https://169.254.169.254/latest/meta-data/".into(),
            "address refused by policy: 169.254.169.254 is link-local (metadata)".into(),
        ),
        (
            "private",
            "https://10.0.0.1/bc".into(),
            "address refused by policy: 10.0.0.1 is private".into(),
        ),
        (
            "loopback-v6",
            format!("https://[::1]:{port}/backchannel"),
            "address refused by policy: ::1 is loopback".into(),
        ),
        (
            "loopback",
            format!("https://127.0.0.1:{port}/backchannel"),
            "address refused by policy: 127.0.0.1 is loopback".into(),
        ),
        (
            "mapped",
            "https://[::ffff:10.0.0.1]/bc".into(),
            "address refused by policy: ::ffff:10.0.0.1 (10.0.0.1) is private".into(),
        ),
        (
            "named-private",
            "https://private.example.test/bc".into(),
            "address refused by policy: 10.0.0.1 is private".into(),
        ),
        (
            "named-metadata",
            "https://metadata.example.test/latest/".into(),
            "address refused by policy: 169.254.169.254 is link-local (metadata)".into(),
        ),
        (
            "named-loopback",
            format!("https://loopback.example.test:{port}/backchannel"),
            "address refused by policy: 127.0.0.1 is loopback".into(),
        ),
        (
            "localhost",
            format!("https://localhost:{port}/backchannel"),
            "address refused by policy: localhost is loopback".into(),
        ),
        (
            "plain-http",
            rp.uri(),
            "refused by policy: plain http is allowed only when the issuer is loopback \
             (use https)"
                .into(),
        ),
    ];
    let mut clients = Vec::new();
    for (id, uri, _) in &cases {
        clients.push(app(&s, id, uri).await);
    }
    let (user, sess) = signed_in(&s, &clients.iter().collect::<Vec<_>>()).await;
    end(&s, &sess).await;

    for (id, _, _) in &cases {
        let d = wait_status(&s, &sess.sid, id, "rejected", WAIT).await;
        assert_eq!(d.attempts, 1, "{id}: final at once, never retried");
        assert_eq!(d.last_http_status, None, "{id}: nothing was sent");
    }
    let got = receipts(&s, &token, &user.user_id, &sess.sid).await;
    for (id, uri, reason) in &cases {
        let d = &got[*id];
        assert_eq!(d["status"], "rejected", "{id}: {d}");
        assert_eq!(d["lastError"], reason.as_str(), "{id} ({uri}): {d}");
        assert!(d["lastHttpStatus"].is_null(), "{id}: {d}");
    }
    // Not retried: nothing reached the loopback RP, and the relay leaves them alone (run as
    // if past their relay due time, before the admin's session would expire).
    tokio::time::sleep(Duration::from_millis(500)).await;
    warden_core::logout::relay::relay(s.app(), warden_core::platform::time::now_s() + 300)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rp.received().is_empty(), "{:?}", rp.received());
    for (id, _, _) in &cases {
        let d = s
            .store()
            .get_delivery(&sess.sid, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((d.status.as_str(), d.attempts), ("rejected", 1), "{id}");
    }

    // Replayable: an admin may send it again (here refused again, the policy unchanged).
    let before = s
        .store()
        .get_delivery(&sess.sid, "metadata")
        .await
        .unwrap()
        .unwrap();
    let r = s
        .http
        .post(s.url(&format!(
            "/api/users/v1/{}/sessions/{}/logout-deliveries/metadata/replay",
            user.user_id, sess.sid
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let start = std::time::Instant::now();
    loop {
        let d = s
            .store()
            .get_delivery(&sess.sid, "metadata")
            .await
            .unwrap()
            .unwrap();
        if d.status == "rejected" && d.updated_ms > before.updated_ms {
            assert_eq!(
                d.last_error.as_deref(),
                Some("address refused by policy: 169.254.169.254 is link-local (metadata)")
            );
            break;
        }
        assert!(start.elapsed() < WAIT, "replay not attempted: {d:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_stack_delivers_to_loopback_but_still_refuses_private_and_metadata() {
    // The default local stack: its issuer is loopback, so local mode.
    let s = spawn_with(Options {
        retry_base: Duration::from_millis(50),
        ..Default::default()
    })
    .await;
    assert!(s.app().http.policy().is_local());
    let rp = TestRp::start().await;
    let local = app(&s, "local", &rp.uri()).await;
    let metadata = app(&s, "metadata", "https://169.254.169.254/latest/").await;
    let private = app(&s, "private", "https://192.168.1.10/bc").await;
    let (_, sess) = signed_in(&s, &[&local, &metadata, &private]).await;
    end(&s, &sess).await;
    let d = wait_status(&s, &sess.sid, "local", "delivered", WAIT).await;
    assert_eq!(d.last_http_status, Some(200));
    assert_eq!(rp.received().len(), 1);
    let d = wait_status(&s, &sess.sid, "metadata", "rejected", WAIT).await;
    assert_eq!(
        d.last_error.as_deref(),
        Some("address refused by policy: 169.254.169.254 is link-local (metadata)")
    );
    let d = wait_status(&s, &sess.sid, "private", "rejected", WAIT).await;
    assert_eq!(
        d.last_error.as_deref(),
        Some("address refused by policy: 192.168.1.10 is private")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allow_list_opens_a_network_without_opening_the_metadata_endpoint() {
    // A deployment that allows loopback and 169.254/16 (say, a sidecar): its RP is tried —
    // an ordinary failure here, as the test RP speaks no TLS — while metadata stays refused.
    let s = spawn_with(with_policy(AddressPolicy::new(
        false,
        parse_allow_list("127.0.0.0/8,169.254.0.0/16").unwrap(),
    )))
    .await;
    let rp = TestRp::start().await;
    let allowed = app(
        &s,
        "allowed",
        &format!("https://127.0.0.1:{}/backchannel", rp.addr.port()),
    )
    .await;
    let metadata = app(&s, "metadata", "https://169.254.169.254/latest/").await;
    let (_, sess) = signed_in(&s, &[&allowed, &metadata]).await;
    end(&s, &sess).await;
    let d = wait_status(&s, &sess.sid, "metadata", "rejected", WAIT).await;
    assert!(d.last_error.unwrap().ends_with("(metadata)"));
    let start = std::time::Instant::now();
    let d = loop {
        let d = s
            .store()
            .get_delivery(&sess.sid, "allowed")
            .await
            .unwrap()
            .unwrap();
        if d.attempts >= 1 {
            break d;
        }
        assert!(start.elapsed() < WAIT, "never attempted: {d:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_ne!(d.status, "rejected", "{d:?}");
    let err = d.last_error.unwrap_or_default();
    assert!(
        !err.contains("policy"),
        "the allow-list let it through: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_takes_its_policy_from_the_issuer_and_warden_outbound_allow() {
    fn allow(c: &mut warden_core::Config) {
        c.outbound_allow = parse_allow_list("10.1.0.0/16,192.168.5.0/24").unwrap();
    }
    let s = spawn_with(Options {
        issuer: Some("https://id.example.test".into()),
        configure: Some(allow),
        ..Default::default()
    })
    .await;
    let policy = s.app().http.policy();
    assert!(!policy.is_local(), "an https issuer is not local mode");
    assert_eq!(policy.allow_list().len(), 2);
    assert!(policy.check_ip("10.1.2.3".parse().unwrap()).is_ok());
    assert!(policy.check_ip("10.2.0.1".parse().unwrap()).is_err());
    assert!(policy.check_ip("127.0.0.1".parse().unwrap()).is_err());
}

/// A server answering every back-channel POST with a 302 to `location`; counts the POSTs.
async fn redirecting(location: String) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let router = axum::Router::new().route(
        "/backchannel",
        axum::routing::post(move || {
            let h = h.clone();
            let location = location.clone();
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                (
                    axum::http::StatusCode::FOUND,
                    [(axum::http::header::LOCATION, location)],
                )
            }
        }),
    );
    let addr = warden_tests::rp::serve(router).await;
    (format!("http://{addr}/backchannel"), hits)
}

fn two_attempts(c: &mut warden_core::Config) {
    c.delivery_max_attempts = 2;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_never_followed_and_its_target_never_requested() {
    let s = spawn_with(Options {
        retry_base: Duration::from_millis(50),
        configure: Some(two_attempts),
        ..Default::default()
    })
    .await;
    // One app redirects to the metadata endpoint, one to another RP that would answer 200
    // (and that local mode would let Warden reach directly).
    let target = TestRp::start().await;
    let (to_metadata, hits_a) =
        redirecting("http://169.254.169.254/latest/meta-data/".into()).await;
    let (to_rp, hits_b) = redirecting(target.uri()).await;
    let a = app(&s, "to-metadata", &to_metadata).await;
    let b = app(&s, "to-rp", &to_rp).await;
    let (_, sess) = signed_in(&s, &[&a, &b]).await;
    end(&s, &sess).await;
    for (id, hits) in [("to-metadata", &hits_a), ("to-rp", &hits_b)] {
        let d = wait_status(&s, &sess.sid, id, "dead", WAIT).await;
        assert_eq!(d.last_http_status, Some(302), "{id}");
        assert_eq!(
            d.last_error.as_deref(),
            Some("HTTP 302 (redirects are not followed)"),
            "{id}"
        );
        assert_eq!(d.delivered_ms, None, "{id}");
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 2, "{id}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        target.received().is_empty(),
        "the redirect's target was requested"
    );
}

/// `warden-admin --table <t> <words>` on `store`, as the binary runs it; returns the output
/// lines and the warnings the binary prints on standard error.
async fn admin_cli(store: &warden_core::Store, words: &[&str]) -> (Vec<Value>, Vec<Value>) {
    let mut args = vec!["warden-admin", "--table", store.table.as_str()];
    args.extend_from_slice(words);
    let cli = warden_admin::parse_from(args).expect("flags parse");
    let mut none = std::io::Cursor::new(Vec::new());
    let lines = warden_admin::execute(store, cli, &mut none)
        .await
        .expect("command runs");
    let warnings = warden_admin::warnings(&lines);
    (lines, warnings)
}

/// `client update --client-id vpc-app --backchannel-logout-uri <uri>`.
async fn set_backchannel(store: &warden_core::Store, uri: &str) -> (Vec<Value>, Vec<Value>) {
    let words = [
        "client",
        "update",
        "--client-id",
        "vpc-app",
        "--backchannel-logout-uri",
        uri,
    ];
    admin_cli(store, &words).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_create_and_update_warn_about_a_back_channel_uri_the_policy_refuses() {
    let (store, _engine) = warden_tests::dynoxide_store().await;
    let (out, warnings) = admin_cli(
        &store,
        &[
            "client",
            "create",
            "--client-id",
            "vpc-app",
            "--name",
            "VPC app",
            "--redirect-uri",
            "https://app.example/cb",
            "--backchannel-logout-uri",
            "https://10.1.2.3/bc",
        ],
    )
    .await;
    // Stored all the same (a VPC deployment may allow it) ...
    let stored = store.get_client("vpc-app").await.unwrap().unwrap();
    assert_eq!(
        stored.backchannel_logout_uri.as_deref(),
        Some("https://10.1.2.3/bc")
    );
    assert!(out[0]["client_secret"].is_string());
    // ... with the finding in the output and one warning line.
    assert_eq!(out[0]["uri_problems"][0]["problem"], "refused_address");
    assert_eq!(out[0]["uri_problems"][0]["field"], "backchannel_logout_uri");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["client_id"], "vpc-app");
    let w = warnings[0]["warning"].as_str().unwrap();
    assert!(w.contains("https://10.1.2.3/bc"), "{w}");
    assert!(w.contains("WARDEN_OUTBOUND_ALLOW"), "{w}");

    // A public host: no warning.
    let (out, warnings) = set_backchannel(&store, "https://app.example/bc").await;
    assert!(out[0].get("uri_problems").is_none(), "{}", out[0]);
    assert!(warnings.is_empty(), "{warnings:?}");
    // Back to the metadata endpoint: warned again, on update as on create and in the list.
    let (_, warnings) = set_backchannel(&store, "https://169.254.169.254/latest/").await;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let (list, warnings) = admin_cli(&store, &["client", "list"]).await;
    assert_eq!(list[0]["uri_problems"][0]["problem"], "refused_address");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    // The front-channel URI is the browser's business: no warning for a loopback one.
    let (_, warnings) = admin_cli(
        &store,
        &[
            "client",
            "create",
            "--client-id",
            "dev-app",
            "--name",
            "Dev app",
            "--redirect-uri",
            "http://localhost:3000/cb",
            "--frontchannel-logout-uri",
            "http://localhost:3000/fc",
        ],
    )
    .await;
    assert!(warnings.is_empty(), "{warnings:?}");
}
