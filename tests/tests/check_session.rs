//! The check_session iframe (Session Management 1.0 §3.2, checklist items 8–10): over HTTP
//! (frameable; with client_id only that client's origins embedded; without, as published; the
//! browser-state status answer) and in headless Chromium (`tests/browser/checksession.mjs`):
//! `unchanged`, `error` for garbage, no answer to an unregistered origin, `changed` at once
//! after a real RP-initiated logout, and `changed` within the interval after a session ended
//! without the browser (Admin API, Me API from another browser, expiry), at no more than one
//! store read per interval per polling page.

use reqwest::header::LOCATION;
use serde_json::{json, Value};
use std::time::Duration;
use warden_core::admin::ClientSpec;
use warden_core::session::browser_state;
use warden_core::store::RoundTrips;
use warden_tests::{browser, spawn, spawn_with, Options, Stack};

/// The interval the browser tests run with (`WARDEN_CHECK_SESSION_INTERVAL_SECONDS`).
fn one_second_interval(c: &mut warden_core::config::Config) {
    c.check_session_interval = Duration::from_secs(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_iframe_page_is_frameable_and_embeds_only_the_clients_origins() {
    let s = spawn().await;
    s.client(ClientSpec {
        client_id: Some("cs".into()),
        name: "CS".into(),
        redirect_uris: vec![
            "https://App.Example:443/cb".into(),
            "http://localhost:8081/cb".into(),
        ],
        ..Default::default()
    })
    .await;
    s.client(ClientSpec {
        client_id: Some("other".into()),
        name: "Other".into(),
        redirect_uris: vec!["https://secret-partner.example/cb".into()],
        ..Default::default()
    })
    .await;
    for path in ["/oidc/checksession", "/oauth2/connect/checkSession"] {
        let r = s
            .http
            .get(s.url(&format!("{path}?client_id=cs")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("x-frame-options").is_none(), "frameable");
        // Frameable: its CSP admits its own script by hash and sets no frame-ancestors.
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'sha256-"), "{csp}");
        assert!(!csp.contains("frame-ancestors") && !csp.contains("unsafe-inline"));
        let html = r.text().await.unwrap();
        assert!(
            html.contains(r#"["http://localhost:8081","https://app.example"]"#),
            "{html}"
        );
        assert!(html.contains("crypto.subtle.digest(\"SHA-256\""));
        assert!(
            !html.contains("secret-partner"),
            "no other client's origins"
        );
    }
    // As discovery publishes it (no query): the generic page, which asks for the origins of
    // the client named in each message.
    let r = s
        .http
        .get(s.url("/oidc/checksession"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-frame-options").is_none());
    let origins_for = |client: &'static str| {
        let (http, url) = (
            s.http.clone(),
            s.url(&format!("/oidc/checksession?origins_for={client}")),
        );
        async move {
            let v: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
            v
        }
    };
    let o = origins_for("cs").await;
    assert!(o["origins"].as_array().is_some_and(|a| !a.is_empty()));
    let o = origins_for("nope").await;
    assert_eq!(o["origins"], serde_json::json!([]));
    for q in ["?client_id=nope", "?client_id=a&client_id=b"] {
        let r = s
            .http
            .get(s.url(&format!("/oidc/checksession{q}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{q}");
        assert!(r.headers().get(LOCATION).is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_session_in_chromium() {
    chromium_case(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_session_in_chromium_as_discovery_publishes_it() {
    chromium_case(false).await;
}

async fn chromium_case(with_client_id: bool) {
    let s = spawn().await;
    let rp = warden_tests::rp::page_server().await;
    let foreign = warden_tests::rp::page_server().await;
    let redirect = format!("http://{rp}/cb");
    let bye = format!("http://{rp}/bye");
    let client = s
        .client(ClientSpec {
            client_id: Some("cs-rp".into()),
            name: "CS RP".into(),
            redirect_uris: vec![redirect.clone()],
            post_logout_redirect_uris: vec![bye.clone()],
            ..Default::default()
        })
        .await
        .0;
    let user = s.user("erin", "correct horse", &[]).await;
    let (sess, header) = s.session_for(&user, "chromium").await;
    let issued = s.tokens_for(&sess, &client, "openid").await;
    let hint = warden_core::oauth::tokens::id_token(s.app(), "cs-rp", Some(&user), &issued, None)
        .await
        .unwrap();
    let session_cookie = session_cookie_of(&header);
    // The browser state a login sets: bound to the session.
    let bs = browser_state::mint(&sess);
    // What the authorize endpoint returns as session_state for this browser and client.
    let session_state = warden_core::oauth::oidc::new_session_state("cs-rp", &redirect, &bs);
    let logout = url::Url::parse_with_params(
        &s.url("/oidc/logout"),
        &[
            ("id_token_hint", hint.as_str()),
            ("post_logout_redirect_uri", bye.as_str()),
            ("state", "cs"),
        ],
    )
    .unwrap();
    let out = browser::run(
        "checksession.mjs",
        &[
            ("MODE", "basic".into()),
            ("OP_BASE", s.base.clone()),
            (
                "CHECK_URL",
                s.url(if with_client_id {
                    "/oidc/checksession?client_id=cs-rp"
                } else {
                    "/oidc/checksession"
                }),
            ),
            ("GENERIC", if with_client_id { "0" } else { "1" }.into()),
            ("RP_URL", format!("http://{rp}/app")),
            ("FOREIGN_URL", format!("http://{foreign}/app")),
            ("CLIENT_ID", "cs-rp".into()),
            ("SESSION_STATE", session_state),
            ("BS", bs),
            ("SESSION_COOKIE", session_cookie),
            ("LOGOUT_URL", logout.to_string()),
            ("BYE_URL", bye),
        ],
    )
    .await;
    assert!(
        out.contains("after logout the same message → changed"),
        "{out}"
    );
    let ended = s.store().get_session(&sess.sid).await.unwrap().unwrap();
    assert_eq!(ended.status, "ended");
    assert_eq!(ended.ended_reason.as_deref(), Some("rp_logout"));
}

/// `<v>` of `warden_session=<v>` in session_for's Cookie header.
fn session_cookie_of(header: &str) -> String {
    header
        .split("; ")
        .find_map(|p| p.strip_prefix("warden_session="))
        .expect("session cookie")
        .to_string()
}

/// `GET <path>?browser_state=<value>[&slot=<slot>]`: status, Cache-Control, JSON body.
async fn status_of(s: &Stack, path: &str, value: &str, slot: Option<&str>) -> (u16, String, Value) {
    let mut q = vec![("browser_state", value)];
    if let Some(n) = slot {
        q.push(("slot", n));
    }
    let url = url::Url::parse_with_params(&s.url(path), &q).unwrap();
    let r = s.http.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let cache = r
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, cache, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_state_status_says_live_or_ended_since_when_and_nothing_else() {
    let s = spawn_with(Options {
        configure: Some(|c| c.session_idle = Duration::from_secs(2)),
        relay_every: Duration::from_secs(3600),
        ..Default::default()
    })
    .await;
    let user = s.user("erin", "correct horse", &[]).await;
    let (live, _) = s.session_for(&user, "chromium").await;
    let bs = browser_state::mint(&live);
    for path in ["/oidc/checksession", "/oauth2/connect/checkSession"] {
        let (st, cache, v) = status_of(&s, path, &bs, Some("172")).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v, json!({ "live": true }), "only whether it is live");
        // The slot (the interval's number) keys the browser's cache; twice the interval
        // keeps an answer fresh for its whole slot.
        assert_eq!(cache, "private, max-age=20", "the browser caches it");
    }
    let path = "/oidc/checksession";

    // No oracle: a value for a live sid with a MAC Warden did not make reads like a value
    // naming no session at all — ended, just now — and tells nothing else.
    let random = warden_core::platform::crypto::random_id;
    let token = warden_core::platform::crypto::random_token;
    for guess in [
        format!("{}.{}.{}", live.sid, random(), token()),
        format!("{}.{}.{}", random(), random(), token()),
    ] {
        let before = warden_core::platform::time::now_ms();
        let (st, _, v) = status_of(&s, path, &guess, None).await;
        assert_eq!(st, 200);
        assert_eq!(v["live"], false, "{v}");
        assert!(v["since"].as_i64().unwrap() >= before, "{v}");
        assert_eq!(v.as_object().unwrap().len(), 2, "{v}");
    }

    // Malformed input is refused.
    let long_sid = format!("{}{bs}", "s".repeat(64));
    for (value, slot) in [
        ("garbage", None),
        ("a.b.c", None),
        (format!("{bs}.x").as_str(), None),
        (long_sid.as_str(), None),
        (bs.as_str(), Some("x")),
        (bs.as_str(), Some("1".repeat(21).as_str())),
    ] {
        let (st, _, v) = status_of(&s, path, value, slot).await;
        assert_eq!(st, 400, "{value} {slot:?}");
        assert!(v.get("live").is_none());
    }

    // Ended through terminate (Me API, Admin API, end_session, the relay): since its end.
    let (other, _) = s.session_for(&user, "firefox").await;
    let other_bs = browser_state::mint(&other);
    warden_core::session::terminate(
        s.app(),
        &other.sid,
        None,
        warden_core::store::schema::EndReason::Admin,
    )
    .await
    .unwrap();
    let ended = s.store().get_session(&other.sid).await.unwrap().unwrap();
    let (_, _, v) = status_of(&s, path, &other_bs, None).await;
    assert_eq!(
        v,
        json!({ "live": false, "since": ended.ended_at_ms.unwrap() })
    );

    // Expired (idle 2 s) and not yet ended by the relay: ended since its expiry. Asking
    // did not keep it alive (no touch).
    let expiry_ms = live.effective_expiry() * 1000;
    let wait = expiry_ms + 100 - warden_core::platform::time::now_ms();
    tokio::time::sleep(Duration::from_millis(wait.max(0) as u64)).await;
    let (_, _, v) = status_of(&s, path, &bs, Some("173")).await;
    assert_eq!(v, json!({ "live": false, "since": expiry_ms }));
    let still = s.store().get_session(&live.sid).await.unwrap().unwrap();
    assert_eq!(still.status, "active", "the relay has not run");
    assert_eq!(still.last_seen_ms, live.last_seen_ms);
}

/// How the session ends without the browser.
#[derive(Clone, Copy, Debug)]
enum End {
    /// `DELETE /api/users/v1/{user}/sessions/{sid}` by an administrator.
    Admin,
    /// `DELETE /api/users/v1/me/sessions/{sid}` with a token of the user's other browser.
    Me,
    /// The idle timeout (3 s) passes; the relay is not run.
    Expiry,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_iframe_reports_a_session_ended_through_the_admin_api_within_the_interval() {
    ended_without_the_browser(End::Admin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_iframe_reports_a_session_ended_through_the_me_api_of_another_browser_within_the_interval(
) {
    ended_without_the_browser(End::Me).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_iframe_reports_an_expired_session_within_the_interval_before_the_relay_ends_it() {
    ended_without_the_browser(End::Expiry).await;
}

async fn ended_without_the_browser(end: End) {
    let configure: fn(&mut warden_core::config::Config) = match end {
        End::Expiry => |c| {
            one_second_interval(c);
            c.session_idle = Duration::from_secs(3);
        },
        _ => one_second_interval,
    };
    let s = spawn_with(Options {
        configure: Some(configure),
        relay_every: Duration::from_secs(3600),
        ..Default::default()
    })
    .await;
    let rp = warden_tests::rp::page_server().await;
    let redirect = format!("http://{rp}/cb");
    s.client(ClientSpec {
        client_id: Some("cs-rp".into()),
        name: "CS RP".into(),
        redirect_uris: vec![redirect.clone()],
        ..Default::default()
    })
    .await;
    let console = s
        .client(ClientSpec {
            client_id: Some("console".into()),
            name: "Console".into(),
            redirect_uris: vec!["http://localhost:9999/cb".into()],
            scopes: [
                "openid",
                "internal_login",
                "internal_session_view",
                "internal_session_delete",
            ]
            .map(String::from)
            .to_vec(),
            ..Default::default()
        })
        .await
        .0;
    let erin = s.user("erin", "correct horse", &[]).await;
    let mut env = vec![
        ("MODE", "ended".to_string()),
        ("OP_BASE", s.base.clone()),
        ("CHECK_URL", s.url("/oidc/checksession?client_id=cs-rp")),
        ("RP_URL", format!("http://{rp}/app")),
        ("REDIRECT_URI", redirect),
        ("CLIENT_ID", "cs-rp".into()),
        ("USERNAME", "erin".into()),
        ("PASSWORD", "correct horse".into()),
        ("INTERVAL_MS", "1000".into()),
    ];
    match end {
        End::Admin => {
            let admin = s
                .user(
                    "admin",
                    "password-admin",
                    &["internal_session_view", "internal_session_delete"],
                )
                .await;
            let (sa, _) = s.session_for(&admin, "console").await;
            let t = s
                .tokens_for(
                    &sa,
                    &console,
                    "openid internal_session_view internal_session_delete",
                )
                .await;
            env.push(("END", "admin".into()));
            env.push(("USER_ID", erin.user_id.clone()));
            env.push(("ADMIN_TOKEN", t.access_token));
        }
        End::Me => {
            let (elsewhere, _) = s.session_for(&erin, "another browser").await;
            let t = s
                .tokens_for(&elsewhere, &console, "openid internal_login")
                .await;
            env.push(("END", "me".into()));
            env.push(("ME_TOKEN", t.access_token));
        }
        End::Expiry => {
            env.push(("END", "expiry".into()));
            env.push(("IDLE_MS", "3000".into()));
        }
    }
    let out = browser::run("checksession.mjs", &env).await;
    let after: i64 = browser::printed(&out, "changed_after_ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    eprintln!("{end:?}: changed {after} ms after the end (interval 1000 ms)");
    assert!(after <= 2000, "changed {after} ms after the end\n{out}");
    assert!(out.contains("no loop"), "{out}");
    let sid = browser::printed(&out, "sid").unwrap_or_else(|| panic!("{out}"));
    let sess = s.store().get_session(sid).await.unwrap().unwrap();
    assert_eq!(sess.user_id, erin.user_id);
    match end {
        End::Admin | End::Me => assert_eq!(sess.status, "ended", "{end:?}"),
        End::Expiry => {
            assert_eq!(sess.status, "active", "the relay never ended it");
            assert!(!sess.is_live(warden_core::platform::time::now_s()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_pages_cost_one_store_read_per_interval_not_one_per_poll() {
    let rt = RoundTrips::default();
    let s = spawn_with(Options {
        configure: Some(one_second_interval),
        round_trips: Some(rt.clone()),
        relay_every: Duration::from_secs(3600),
        ..Default::default()
    })
    .await;
    let rp = warden_tests::rp::page_server().await;
    let redirect = format!("http://{rp}/cb");
    s.client(ClientSpec {
        client_id: Some("cs-rp".into()),
        name: "CS RP".into(),
        redirect_uris: vec![redirect.clone()],
        ..Default::default()
    })
    .await;
    let user = s.user("erin", "correct horse", &[]).await;
    let (sess, header) = s.session_for(&user, "chromium").await;
    let bs = browser_state::mint(&sess);
    let session_state = warden_core::oauth::oidc::new_session_state("cs-rp", &redirect, &bs);
    const PAGES: u64 = 3;
    const SECONDS: u64 = 3;
    rt.reset();
    let out = browser::run(
        "checksession.mjs",
        &[
            ("MODE", "cost".into()),
            ("OP_BASE", s.base.clone()),
            ("CHECK_URL", s.url("/oidc/checksession?client_id=cs-rp")),
            ("RP_URL", format!("http://{rp}/app")),
            ("CLIENT_ID", "cs-rp".into()),
            ("SESSION_STATE", session_state),
            ("BS", bs),
            ("SESSION_COOKIE", session_cookie_of(&header)),
            ("PAGES", PAGES.to_string()),
            ("DURATION_MS", (SECONDS * 1000).to_string()),
        ],
    )
    .await;
    let reads = rt.get();
    let number = |k: &str| -> u64 {
        browser::printed(&out, k)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{k} in {out}"))
    };
    let (polls, requests) = (number("polls"), number("status_requests"));
    eprintln!("{polls} polls from {PAGES} pages in {SECONDS} s: {requests} status requests, {reads} store reads");
    // Each page's iframe asks at most once per interval it polls in (a run of 3 s touches
    // at most 5 one-second intervals)...
    let intervals = SECONDS + 2;
    assert!(requests <= PAGES * intervals, "{requests} requests\n{out}");
    // ...and the browser's cache shares each answer between the pages of one site, so the
    // store is read at most once per interval for the whole browser (+1: the client, read
    // once and cached), while the pages polled ten times a second.
    assert!(reads <= 1 + intervals, "{reads} reads\n{out}");
    assert!(
        polls > 2 * PAGES * intervals,
        "the pages polled far more often than the store was read: {polls} polls\n{out}"
    );
}
