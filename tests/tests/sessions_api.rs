//! The session REST API (Me + Admin) over HTTP against a fresh local stack: listing, paging,
//! `current`, device parsing, ending one / all / all others, IDOR, RFC 6750 errors, scopes,
//! token revocation on termination, expiry, the global search, and logout receipts + replay.

use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use std::time::Duration;
use warden_core::admin::ClientSpec;
use warden_core::store::schema::{keys, ClientItem, SessionItem, Shards, UserItem};
use warden_tests::{spawn, Stack};

const CHROME_WIN: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const FIREFOX_LINUX: &str =
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";

const ME: &str = "/api/users/v1/me/sessions";
const ALL_SCOPES: &str = "openid internal_login internal_session_view internal_session_delete";

async fn app_client(s: &Stack, id: &str, backchannel: Option<String>) -> ClientItem {
    s.client(ClientSpec {
        client_id: Some(id.into()),
        name: format!("App {id}"),
        redirect_uris: vec!["http://localhost:9999/cb".into()],
        backchannel_logout_uri: backchannel,
        scopes: vec![
            "openid".into(),
            "profile".into(),
            "internal_login".into(),
            "internal_session_view".into(),
            "internal_session_delete".into(),
        ],
        ..Default::default()
    })
    .await
    .0
}

/// A session with the given user agent and IP, created through the real session code.
async fn session(s: &Stack, u: &UserItem, ua: &str, ip: &str) -> SessionItem {
    warden_core::session::create(s.app(), u, false, ua, ip)
        .await
        .expect("session")
        .0
}

async fn call(s: &Stack, m: Method, path: &str, token: Option<&str>) -> Response {
    let url = if path.starts_with("http") {
        path.to_string()
    } else {
        s.url(path)
    };
    let mut r = s.http.request(m, url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.expect("request")
}

async fn json_of(r: Response) -> Value {
    r.json().await.expect("json body")
}

fn ids(v: &Value) -> Vec<String> {
    v["sessions"]
        .as_array()
        .expect("sessions array")
        .iter()
        .map(|s| s["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn assert_error(r: Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status, "status");
    assert!(r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .starts_with("application/json"));
    let e = json_of(r).await;
    for k in ["code", "message", "description", "traceId"] {
        assert!(e[k].is_string(), "{k} missing in {e}");
    }
    e
}

fn challenge(r: &Response) -> String {
    r.headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn link_next(r: &Response) -> Option<String> {
    let v = r.headers().get("link")?.to_str().ok()?.to_string();
    assert!(v.ends_with("; rel=\"next\""), "{v}");
    Some(v.trim_start_matches('<').split('>').next()?.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_lists_pages_marks_current_and_parses_devices() {
    let s = spawn().await;
    let app = app_client(&s, "spa", None).await;
    let alice = s.user("alice", "password-alice", &["internal_login"]).await;
    let bob = s.user("bob", "password-bob", &["internal_login"]).await;
    let a1 = session(&s, &alice, CHROME_WIN, "10.0.0.1").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let a2 = session(&s, &alice, FIREFOX_LINUX, "10.0.0.2").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let a3 = session(&s, &alice, SAFARI_IPHONE, "10.0.0.3").await;
    let b1 = session(&s, &bob, CHROME_WIN, "10.0.0.9").await;
    let tok = s.tokens_for(&a1, &app, "openid internal_login").await;

    // One page of all.
    let r = call(&s, Method::GET, ME, Some(&tok.access_token)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers().get("cache-control").unwrap().to_str().unwrap(),
        "no-store"
    );
    assert!(link_next(&r).is_none());
    let v = json_of(r).await;
    assert_eq!(v["userId"], alice.user_id.as_str());
    assert!(v.get("next").is_none());
    // Newest login first; bob's session is not there.
    assert_eq!(
        ids(&v),
        vec![a3.sid.clone(), a2.sid.clone(), a1.sid.clone()]
    );
    assert!(!ids(&v).contains(&b1.sid));
    let by_id = |id: &str| {
        v["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .cloned()
            .unwrap()
    };
    let first = by_id(&a1.sid);
    assert_eq!(first["current"], true);
    assert_eq!(by_id(&a2.sid)["current"], false);
    assert_eq!(first["userId"], alice.user_id.as_str());
    assert_eq!(first["userAgent"], CHROME_WIN);
    assert_eq!(first["ip"], "10.0.0.1");
    assert_eq!(first["rememberMe"], false);
    assert_eq!(first["loginTime"], a1.created_ms.to_string());
    assert!(first["lastAccessTime"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .is_ok());
    assert_eq!(
        first["expiresAt"],
        (a1.absolute_expires_at * 1000).to_string()
    );
    assert!(
        first["idleExpiresAt"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 0
    );
    assert_eq!(first["device"]["browser"], "Chrome");
    assert_eq!(first["device"]["type"], "desktop");
    assert!(first["device"]["os"]
        .as_str()
        .unwrap()
        .starts_with("Windows"));
    assert_eq!(by_id(&a2.sid)["device"]["browser"], "Firefox");
    assert_eq!(by_id(&a2.sid)["device"]["os"], "Linux");
    assert_eq!(by_id(&a3.sid)["device"]["type"], "mobile");
    assert!(by_id(&a3.sid)["device"]["os"]
        .as_str()
        .unwrap()
        .starts_with("iPhone"));
    // The app that got tokens joined the session.
    let apps = first["applications"].as_array().unwrap();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0]["appId"], "spa");
    assert_eq!(apps[0]["id"], "spa");
    assert_eq!(apps[0]["appName"], "App spa");
    assert_eq!(apps[0]["subject"], alice.user_id.as_str());
    assert_eq!(by_id(&a2.sid)["applications"], serde_json::json!([]));

    // Paging: limit=2 gives a Link to the rest; following it gives the last one.
    let r = call(
        &s,
        Method::GET,
        &format!("{ME}?limit=2"),
        Some(&tok.access_token),
    )
    .await;
    assert_eq!(r.status(), 200);
    let next = link_next(&r).expect("a next link");
    let v = json_of(r).await;
    assert_eq!(ids(&v), vec![a3.sid.clone(), a2.sid.clone()]);
    assert_eq!(v["next"], next.as_str());
    assert!(next.starts_with(&s.url(ME)), "{next}");
    assert!(next.contains("limit=2"));
    let r = call(&s, Method::GET, &next, Some(&tok.access_token)).await;
    assert_eq!(r.status(), 200);
    let v = json_of(r).await;
    assert_eq!(ids(&v), vec![a1.sid.clone()]);
    assert!(v.get("next").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_ends_one_session_idempotently_and_cannot_touch_others() {
    let s = spawn().await;
    let app = app_client(&s, "spa", None).await;
    let alice = s.user("alice", "password-alice", &["internal_login"]).await;
    let bob = s.user("bob", "password-bob", &["internal_login"]).await;
    let a1 = session(&s, &alice, CHROME_WIN, "10.0.0.1").await;
    let a2 = session(&s, &alice, FIREFOX_LINUX, "10.0.0.2").await;
    let b1 = session(&s, &bob, CHROME_WIN, "10.0.0.9").await;
    let tok = s.tokens_for(&a1, &app, "openid internal_login").await;
    let other_tok = s.tokens_for(&a2, &app, "openid internal_login").await;
    let bob_tok = s.tokens_for(&b1, &app, "openid internal_login").await;
    let t = Some(tok.access_token.as_str());

    // IDOR: bob's session is "not found" for alice, and stays live.
    let r = call(&s, Method::DELETE, &format!("{ME}/{}", b1.sid), t).await;
    let e = assert_error(r, 404).await;
    assert_eq!(e["code"], "SES-40401");
    assert!(s
        .store()
        .get_session(&b1.sid)
        .await
        .unwrap()
        .unwrap()
        .is_live(warden_core::platform::time::now_s()));
    let r = call(&s, Method::GET, ME, Some(&bob_tok.access_token)).await;
    assert_eq!(ids(&json_of(r).await), vec![b1.sid.clone()]);
    // Unknown id: 404 too.
    let r = call(&s, Method::DELETE, &format!("{ME}/no-such-session"), t).await;
    assert_error(r, 404).await;

    // End a2: 204; its token is revoked at once; again: 204.
    let r = call(&s, Method::DELETE, &format!("{ME}/{}", a2.sid), t).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = call(&s, Method::GET, ME, Some(&other_tok.access_token)).await;
    assert_eq!(r.status(), 401);
    assert!(challenge(&r).contains("error=\"invalid_token\""));
    let r = call(&s, Method::DELETE, &format!("{ME}/{}", a2.sid), t).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = call(&s, Method::GET, ME, t).await;
    assert_eq!(ids(&json_of(r).await), vec![a1.sid.clone()]);

    // End the caller's own session: its token (and refresh token) is revoked.
    let r = call(&s, Method::DELETE, &format!("{ME}/{}", a1.sid), t).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = call(&s, Method::GET, ME, t).await;
    assert_eq!(r.status(), 401);
    assert!(challenge(&r).starts_with("Bearer realm=\"warden\""));
    assert!(challenge(&r).contains("invalid_token"));
    let item = s.store().find_token(&tok.access_token).await.unwrap();
    assert_eq!(item.unwrap().item.status, "revoked");
    let resource_server = warden_core::admin::build_client(
        &warden_core::admin::ClientSpec {
            name: "RS".into(),
            redirect_uris: vec!["https://rs.example/cb".into()],
            resource_server: true,
            ..Default::default()
        },
        None,
    )
    .unwrap()
    .0;
    let intro =
        warden_core::oauth::tokens::introspect(s.app(), &resource_server, &tok.access_token)
            .await
            .unwrap();
    assert_eq!(intro["active"], false);
    if let Some(rt) = &tok.refresh_token {
        let found = s.store().find_token(rt).await.unwrap();
        assert_eq!(found.unwrap().item.status, "revoked");
    }
    // Revoked in the table: the links hold no live token.
    let links = s.store().session_partition(&a1.sid).await.unwrap().links;
    let now = warden_core::platform::time::now_s();
    assert!(!links.is_empty() && links.iter().all(|l| !l.holds_live_token(now)));
    let ended = s.store().get_session(&a1.sid).await.unwrap().unwrap();
    assert_eq!(ended.status, "ended");
    assert_eq!(ended.ended_reason.as_deref(), Some("user"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_ends_all_or_all_others() {
    let s = spawn().await;
    let app = app_client(&s, "spa", None).await;
    let alice = s.user("alice", "password-alice", &["internal_login"]).await;
    let bob = s.user("bob", "password-bob", &["internal_login"]).await;
    let a1 = session(&s, &alice, CHROME_WIN, "10.0.0.1").await;
    let a2 = session(&s, &alice, FIREFOX_LINUX, "10.0.0.2").await;
    let a3 = session(&s, &alice, SAFARI_IPHONE, "10.0.0.3").await;
    let b1 = session(&s, &bob, CHROME_WIN, "10.0.0.9").await;
    let tok = s.tokens_for(&a1, &app, "openid internal_login").await;
    let tok3 = s.tokens_for(&a3, &app, "openid internal_login").await;
    let t = Some(tok.access_token.as_str());

    for bad in [
        "?exclude=nope",
        "?exclude=",
        "?exclude=current&exclude=current",
        "?all=1",
    ] {
        let r = call(&s, Method::DELETE, &format!("{ME}{bad}"), t).await;
        assert_error(r, 400).await;
    }
    let r = call(&s, Method::DELETE, &format!("{ME}?exclude=current"), t).await;
    assert_eq!(r.status(), 204);
    let r = call(&s, Method::GET, ME, t).await;
    assert_eq!(r.status(), 200);
    let v = json_of(r).await;
    assert_eq!(ids(&v), vec![a1.sid.clone()]);
    assert_eq!(v["sessions"][0]["current"], true);
    let r = call(&s, Method::GET, ME, Some(&tok3.access_token)).await;
    assert_eq!(r.status(), 401);
    for sid in [&a2.sid, &a3.sid] {
        let x = s.store().get_session(sid).await.unwrap().unwrap();
        assert_eq!(x.status, "ended");
    }
    // Bob is untouched.
    assert_eq!(
        s.store()
            .get_session(&b1.sid)
            .await
            .unwrap()
            .unwrap()
            .status,
        "active"
    );

    // Everything, including the caller's own session.
    let r = call(&s, Method::DELETE, ME, t).await;
    assert_eq!(r.status(), 204);
    let r = call(&s, Method::GET, ME, t).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        s.store()
            .get_session(&a1.sid)
            .await
            .unwrap()
            .unwrap()
            .status,
        "ended"
    );
    assert_eq!(
        s.store()
            .get_session(&b1.sid)
            .await
            .unwrap()
            .unwrap()
            .status,
        "active"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_rfc6750_and_bad_input_is_400() {
    let s = spawn().await;
    let app = app_client(&s, "spa", None).await;
    let alice = s.user("alice", "password-alice", &["internal_login"]).await;
    let bob = s.user("bob", "password-bob", &["internal_login"]).await;
    let a1 = session(&s, &alice, CHROME_WIN, "10.0.0.1").await;
    let a2 = session(&s, &alice, CHROME_WIN, "10.0.0.1").await;
    let b1 = session(&s, &bob, CHROME_WIN, "10.0.0.1").await;
    let _ = a2;
    let tok = s.tokens_for(&a1, &app, "openid internal_login").await;
    let bob_tok = s.tokens_for(&b1, &app, "openid internal_login").await;
    let no_scope = s.tokens_for(&a1, &app, "openid profile").await;
    let t = Some(tok.access_token.as_str());

    // No token: bare challenge.
    let r = call(&s, Method::GET, ME, None).await;
    assert_eq!(challenge(&r), "Bearer realm=\"warden\"");
    assert_error(r, 401).await;
    // Garbage token.
    let r = call(&s, Method::GET, ME, Some("not-a-real-token")).await;
    assert!(challenge(&r).contains("error=\"invalid_token\""));
    assert_error(r, 401).await;
    // Missing scope.
    let r = call(&s, Method::GET, ME, Some(&no_scope.access_token)).await;
    let ch = challenge(&r);
    assert!(ch.contains("error=\"insufficient_scope\""), "{ch}");
    assert!(ch.contains("scope=\"internal_login\""), "{ch}");
    assert_error(r, 403).await;
    let r = call(&s, Method::DELETE, ME, Some(&no_scope.access_token)).await;
    assert_error(r, 403).await;

    // Bad query input.
    for q in [
        "?foo=1",
        "?limit=0",
        "?limit=101",
        "?limit=abc",
        "?limit=1&limit=2",
        "?cursor=%21%21",
        "?cursor=eyJ1Ijp7fX0",
    ] {
        let r = call(&s, Method::GET, &format!("{ME}{q}"), t).await;
        let e = assert_error(r, 400).await;
        assert_eq!(e["code"], "SES-40001", "{q}");
    }
    let r = call(&s, Method::DELETE, &format!("{ME}/{}?x=1", a1.sid), t).await;
    assert_error(r, 400).await;
    // A cursor of bob's list is not valid for alice.
    let r = call(
        &s,
        Method::GET,
        &format!("{ME}?limit=1"),
        Some(&bob_tok.access_token),
    )
    .await;
    assert!(link_next(&r).is_none());
    let r = call(&s, Method::GET, &format!("{ME}?limit=1"), t).await;
    let next = link_next(&r).expect("alice has two sessions");
    let r = call(&s, Method::GET, &next, Some(&bob_tok.access_token)).await;
    assert_error(r, 400).await;
    // Unsupported method on a route path: 405 JSON.
    let r = call(&s, Method::PUT, ME, t).await;
    assert_error(r, 405).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_need_their_scopes() {
    let s = spawn().await;
    let app = app_client(&s, "console", None).await;
    let admin = s
        .user(
            "admin",
            "password-admin",
            &[
                "internal_login",
                "internal_session_view",
                "internal_session_delete",
            ],
        )
        .await;
    let alice = s.user("alice", "password-alice", &["internal_login"]).await;
    let sa = session(&s, &admin, CHROME_WIN, "10.0.0.1").await;
    let a1 = session(&s, &alice, CHROME_WIN, "10.0.0.2").await;
    let login_only = s.tokens_for(&sa, &app, "openid internal_login").await;
    let view_only = s
        .tokens_for(&sa, &app, "openid internal_session_view")
        .await;
    let delete_only = s
        .tokens_for(&sa, &app, "openid internal_session_delete")
        .await;
    let u = &alice.user_id;
    let sid = &a1.sid;
    let routes: Vec<(Method, String, &str)> = vec![
        (
            Method::GET,
            "/api/users/v1/sessions".into(),
            "internal_session_view",
        ),
        (
            Method::GET,
            format!("/api/users/v1/{u}/sessions"),
            "internal_session_view",
        ),
        (
            Method::GET,
            format!("/api/users/v1/{u}/sessions/{sid}"),
            "internal_session_view",
        ),
        (
            Method::GET,
            format!("/api/users/v1/{u}/sessions/{sid}/logout-deliveries"),
            "internal_session_view",
        ),
        (
            Method::DELETE,
            format!("/api/users/v1/{u}/sessions/{sid}"),
            "internal_session_delete",
        ),
        (
            Method::DELETE,
            format!("/api/users/v1/{u}/sessions"),
            "internal_session_delete",
        ),
        (
            Method::POST,
            format!("/api/users/v1/{u}/sessions/{sid}/logout-deliveries/x/replay"),
            "internal_session_delete",
        ),
    ];
    for (m, path, scope) in &routes {
        let r = call(&s, m.clone(), path, None).await;
        assert_eq!(challenge(&r), "Bearer realm=\"warden\"", "{m} {path}");
        assert_error(r, 401).await;
        let r = call(&s, m.clone(), path, Some(&login_only.access_token)).await;
        let ch = challenge(&r);
        assert!(
            ch.contains("insufficient_scope") && ch.contains(scope),
            "{m} {path}: {ch}"
        );
        assert_error(r, 403).await;
        let wrong = if *scope == "internal_session_view" {
            &delete_only
        } else {
            &view_only
        };
        let r = call(&s, m.clone(), path, Some(&wrong.access_token)).await;
        assert_error(r, 403).await;
    }
    // Nothing ended along the way.
    assert_eq!(
        s.store().get_session(sid).await.unwrap().unwrap().status,
        "active"
    );
    // With the right scope, reads work.
    let r = call(&s, Method::GET, &routes[1].1, Some(&view_only.access_token)).await;
    assert_eq!(r.status(), 200);
    let v = json_of(r).await;
    assert_eq!(v["userId"], u.as_str());
    assert_eq!(ids(&v), vec![sid.clone()]);
    assert_eq!(v["sessions"][0]["current"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_reads_and_ends_a_users_sessions() {
    let s = spawn().await;
    let console = app_client(&s, "console", None).await;
    let spa = app_client(&s, "spa", None).await;
    let admin = s
        .user(
            "admin",
            "password-admin",
            &["internal_session_view", "internal_session_delete"],
        )
        .await;
    let alice = s.user("alice", "password-alice", &["internal_login"]).await;
    let bob = s.user("bob", "password-bob", &["internal_login"]).await;
    let sa = session(&s, &admin, CHROME_WIN, "10.0.0.1").await;
    let a1 = session(&s, &alice, CHROME_WIN, "10.0.0.2").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let a2 = session(&s, &alice, FIREFOX_LINUX, "10.0.0.3").await;
    let b1 = session(&s, &bob, CHROME_WIN, "10.0.0.4").await;
    let adm = s.tokens_for(&sa, &console, ALL_SCOPES).await;
    let alice_tok = s.tokens_for(&a1, &spa, "openid internal_login").await;
    let t = Some(adm.access_token.as_str());
    let u = &alice.user_id;

    // List with paging.
    let r = call(
        &s,
        Method::GET,
        &format!("/api/users/v1/{u}/sessions?limit=1"),
        t,
    )
    .await;
    assert_eq!(r.status(), 200);
    let next = link_next(&r).expect("next");
    assert_eq!(ids(&json_of(r).await), vec![a2.sid.clone()]);
    let r = call(&s, Method::GET, &next, t).await;
    let v = json_of(r).await;
    assert_eq!(ids(&v), vec![a1.sid.clone()]);
    assert_eq!(v["sessions"][0]["applications"][0]["appId"], "spa");
    // Unknown user.
    let r = call(&s, Method::GET, "/api/users/v1/nobody/sessions", t).await;
    assert_error(r, 404).await;
    let r = call(&s, Method::DELETE, "/api/users/v1/nobody/sessions", t).await;
    assert_error(r, 404).await;
    let r = call(
        &s,
        Method::GET,
        &format!("/api/users/v1/{u}/sessions?offset=3"),
        t,
    )
    .await;
    assert_error(r, 400).await;

    // One session: found for its owner only.
    let r = call(
        &s,
        Method::GET,
        &format!("/api/users/v1/{u}/sessions/{}", a1.sid),
        t,
    )
    .await;
    assert_eq!(r.status(), 200);
    let one = json_of(r).await;
    assert_eq!(one["id"], a1.sid.as_str());
    assert_eq!(one["device"]["browser"], "Chrome");
    let r = call(
        &s,
        Method::GET,
        &format!("/api/users/v1/{u}/sessions/{}", b1.sid),
        t,
    )
    .await;
    assert_error(r, 404).await;
    let r = call(
        &s,
        Method::DELETE,
        &format!("/api/users/v1/{u}/sessions/{}", b1.sid),
        t,
    )
    .await;
    assert_error(r, 404).await;
    assert_eq!(
        s.store()
            .get_session(&b1.sid)
            .await
            .unwrap()
            .unwrap()
            .status,
        "active"
    );

    // End one: its tokens die at once; ending again is 204; reading it shows why, when and
    // by whom it ended (issue 19.4).
    let r = call(
        &s,
        Method::DELETE,
        &format!("/api/users/v1/{u}/sessions/{}", a1.sid),
        t,
    )
    .await;
    assert_eq!(r.status(), 204);
    let r = call(&s, Method::GET, ME, Some(&alice_tok.access_token)).await;
    assert_eq!(r.status(), 401);
    let ended = s.store().get_session(&a1.sid).await.unwrap().unwrap();
    assert_eq!(ended.ended_reason.as_deref(), Some("admin"));
    let r = call(
        &s,
        Method::DELETE,
        &format!("/api/users/v1/{u}/sessions/{}", a1.sid),
        t,
    )
    .await;
    assert_eq!(r.status(), 204);
    let r = call(
        &s,
        Method::GET,
        &format!("/api/users/v1/{u}/sessions/{}", a1.sid),
        t,
    )
    .await;
    assert_eq!(r.status(), 200);
    let gone = json_of(r).await;
    assert_eq!(gone["id"], a1.sid.as_str());
    assert_eq!(gone["status"], "ended");
    assert_eq!(gone["endedReason"], "admin");
    assert_eq!(gone["endedBy"]["type"], "admin");
    assert!(gone["endedAt"].is_string(), "{gone}");
    assert_eq!(gone["current"], false);
    // Receipts of an ended session are readable (no back-channel apps: empty).
    let r = call(
        &s,
        Method::GET,
        &format!("/api/users/v1/{u}/sessions/{}/logout-deliveries", a1.sid),
        t,
    )
    .await;
    assert_eq!(r.status(), 200);
    let d = json_of(r).await;
    assert_eq!(d["status"], "ended");
    assert_eq!(d["endedReason"], "admin");
    assert_eq!(d["deliveries"], serde_json::json!([]));

    // End all of alice's sessions; bob and the admin keep theirs.
    let r = call(
        &s,
        Method::DELETE,
        &format!("/api/users/v1/{u}/sessions"),
        t,
    )
    .await;
    assert_eq!(r.status(), 204);
    let r = call(&s, Method::GET, &format!("/api/users/v1/{u}/sessions"), t).await;
    assert_eq!(json_of(r).await["sessions"], serde_json::json!([]));
    assert_eq!(
        s.store()
            .get_session(&a2.sid)
            .await
            .unwrap()
            .unwrap()
            .status,
        "ended"
    );
    assert_eq!(
        s.store()
            .get_session(&b1.sid)
            .await
            .unwrap()
            .unwrap()
            .status,
        "active"
    );
    let r = call(
        &s,
        Method::GET,
        &format!("/api/users/v1/{}/sessions", bob.user_id),
        t,
    )
    .await;
    assert_eq!(ids(&json_of(r).await), vec![b1.sid.clone()]);
}

/// Put a copy of `base` with a new id whose idle expiry has passed (the TTL has not removed
/// it, and no sweep ended it): it must never be listed.
async fn expired_copy(s: &Stack, base: &SessionItem) -> SessionItem {
    let mut x = base.clone();
    let sid = warden_core::platform::crypto::random_id();
    let now = warden_core::platform::time::now_s();
    x.sid = sid.clone();
    x.pk = keys::session_pk(&sid);
    x.idle_expires_at = now - 5;
    x.created_ms = base.created_ms + 1;
    x.last_seen_ms = warden_core::platform::time::now_ms();
    x.gsi1sk = Some(keys::user_sessions_sort(x.created_ms, &sid));
    x.gsi2sk = Some(keys::due_sort(now + 3600, &sid));
    x.gsi2pk = Some(keys::due_session_gsi(keys::due_shard(
        &sid,
        Shards::DEFAULT,
    )));
    x.gsi3pk = Some(keys::live_gsi(keys::live_shard(&sid, Shards::DEFAULT)));
    x.gsi3sk = Some(keys::live_sort(x.last_seen_ms, &sid));
    s.store().put_session(&x).await.expect("put");
    x
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_sessions_are_never_listed() {
    let s = spawn().await;
    let console = app_client(&s, "console", None).await;
    let alice = s
        .user(
            "alice",
            "password-alice",
            &["internal_login", "internal_session_view"],
        )
        .await;
    let a1 = session(&s, &alice, CHROME_WIN, "10.0.0.2").await;
    let gone = expired_copy(&s, &a1).await;
    let tok = s.tokens_for(&a1, &console, ALL_SCOPES).await;
    let t = Some(tok.access_token.as_str());
    let u = &alice.user_id;
    for path in [
        ME.to_string(),
        format!("/api/users/v1/{u}/sessions"),
        "/api/users/v1/sessions".to_string(),
        format!("/api/users/v1/sessions?userId={u}"),
    ] {
        let r = call(&s, Method::GET, &path, t).await;
        assert_eq!(r.status(), 200, "{path}");
        let v = json_of(r).await;
        assert_eq!(ids(&v), vec![a1.sid.clone()], "{path}");
    }
    let r = call(
        &s,
        Method::GET,
        &format!("/api/users/v1/{u}/sessions/{}", gone.sid),
        t,
    )
    .await;
    assert_error(r, 404).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_search_filters_and_pages() {
    let s = spawn().await;
    let console = app_client(&s, "console", None).await;
    let spa = app_client(&s, "spa", None).await;
    let admin = s
        .user("admin", "password-admin", &["internal_session_view"])
        .await;
    let alice = s.user("alice", "password-alice", &["internal_login"]).await;
    let bob = s.user("bob", "password-bob", &["internal_login"]).await;
    let mut made: Vec<SessionItem> = Vec::new();
    for (i, (u, ua, ip)) in [
        (&alice, CHROME_WIN, "10.1.0.1"),
        (&alice, FIREFOX_LINUX, "10.1.0.2"),
        (&bob, SAFARI_IPHONE, "10.1.0.3"),
        (&bob, CHROME_WIN, "10.1.0.1"),
        (&alice, SAFARI_IPHONE, "10.1.0.4"),
        (&bob, FIREFOX_LINUX, "10.1.0.5"),
        (&alice, CHROME_WIN, "10.1.0.6"),
    ]
    .into_iter()
    .enumerate()
    {
        let _ = i;
        made.push(session(&s, u, ua, ip).await);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let mid_ms = made[3].created_ms;
    // spa joins two sessions (this also bumps their last access).
    let _ = s.tokens_for(&made[1], &spa, "openid").await;
    let _ = s.tokens_for(&made[5], &spa, "openid").await;
    let sa = session(&s, &admin, CHROME_WIN, "10.9.9.9").await;
    let adm = s
        .tokens_for(&sa, &console, "openid internal_session_view")
        .await;
    let t = Some(adm.access_token.as_str());
    let search = |q: String| format!("/api/users/v1/sessions{q}");

    // Everything, newest activity first, paged 2 at a time, no duplicates, nothing lost.
    let mut url = search("?limit=2".into());
    let mut seen: Vec<Value> = Vec::new();
    let mut pages = 0;
    loop {
        let r = call(&s, Method::GET, &url, t).await;
        assert_eq!(r.status(), 200, "{url}");
        let hdr = link_next(&r);
        let v = json_of(r).await;
        assert!(v["sessions"].as_array().unwrap().len() <= 2);
        assert_eq!(v["next"].as_str().map(str::to_string), hdr);
        seen.extend(v["sessions"].as_array().unwrap().iter().cloned());
        pages += 1;
        assert!(pages < 20, "paging does not end");
        match hdr {
            Some(n) => url = n,
            None => break,
        }
    }
    let seen_ids: Vec<String> = seen
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    let mut uniq = seen_ids.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), seen_ids.len(), "duplicates across pages");
    assert_eq!(seen_ids.len(), 8, "7 sessions + the admin's");
    let times: Vec<i64> = seen
        .iter()
        .map(|x| x["lastAccessTime"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest activity first: {times:?}"
    );
    let current: Vec<&Value> = seen.iter().filter(|x| x["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], sa.sid.as_str());

    let only = |q: &str| {
        let q = q.to_string();
        let s = &s;
        async move {
            let r = call(s, Method::GET, &search(q.clone()), t).await;
            assert_eq!(r.status(), 200, "{q}");
            let mut v = ids(&json_of(r).await);
            v.sort();
            v
        }
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let sid = |i: usize| made[i].sid.clone();
    assert_eq!(
        only(&format!("?userId={}", bob.user_id)).await,
        sorted(vec![sid(2), sid(3), sid(5)])
    );
    assert_eq!(only("?appId=spa").await, sorted(vec![sid(1), sid(5)]));
    assert_eq!(only("?ip=10.1.0.1").await, sorted(vec![sid(0), sid(3)]));
    assert_eq!(
        only("?userAgent=Firefox").await,
        sorted(vec![sid(1), sid(5)])
    );
    assert_eq!(
        only(&format!("?userAgent=Chrome&userId={}", alice.user_id)).await,
        sorted(vec![sid(0), sid(6)])
    );
    assert_eq!(
        only(&format!(
            "?loginTimeTo={}&userId={}",
            mid_ms - 1,
            alice.user_id
        ))
        .await,
        sorted(vec![sid(0), sid(1)])
    );
    assert_eq!(
        only(&format!(
            "?loginTimeFrom={mid_ms}&loginTimeTo={}",
            made[5].created_ms
        ))
        .await,
        sorted(vec![sid(3), sid(4), sid(5)])
    );
    let joined_ms = s
        .store()
        .get_session(&made[5].sid)
        .await
        .unwrap()
        .unwrap()
        .last_seen_ms;
    assert_eq!(
        only(&format!(
            "?lastAccessTimeFrom={joined_ms}&userId={}",
            bob.user_id
        ))
        .await,
        vec![sid(5)]
    );
    assert_eq!(only("?appId=nobody").await, Vec::<String>::new());
    // Paging with a filter keeps the filter in the next link.
    let r = call(
        &s,
        Method::GET,
        &search(format!("?userId={}&limit=1", alice.user_id)),
        t,
    )
    .await;
    let next = link_next(&r).expect("next");
    assert!(next.contains("userId="), "{next}");
    // Bad input.
    for q in [
        "?limit=0",
        "?userAgent=x&bogus=1",
        "?loginTimeFrom=abc",
        "?loginTimeFrom=10&loginTimeTo=9",
        "?lastAccessTimeTo=-1",
        "?appId=has%20space",
        "?cursor=xyz",
        // A shard position at or above the most shards there may be (1024).
        "?cursor=eyIxMDI0Ijp7fX0",
    ] {
        let r = call(&s, Method::GET, &search(q.into()), t).await;
        assert_error(r, 400).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_receipts_and_replay() {
    let s = spawn().await;
    let rp = warden_tests::rp::TestRp::start().await;
    rp.set_status(400);
    let console = app_client(&s, "console", None).await;
    let rp_app = app_client(&s, "rp-app", Some(rp.uri())).await;
    let plain_app = app_client(&s, "plain-app", None).await;
    let admin = s
        .user(
            "admin",
            "password-admin",
            &["internal_session_view", "internal_session_delete"],
        )
        .await;
    let alice = s.user("alice", "password-alice", &["internal_login"]).await;
    let bob = s.user("bob", "password-bob", &["internal_login"]).await;
    let sa = session(&s, &admin, CHROME_WIN, "10.0.0.1").await;
    let a1 = session(&s, &alice, CHROME_WIN, "10.0.0.2").await;
    let _ = s.tokens_for(&a1, &rp_app, "openid").await;
    let _ = s.tokens_for(&a1, &plain_app, "openid").await;
    let adm = s.tokens_for(&sa, &console, ALL_SCOPES).await;
    let t = Some(adm.access_token.as_str());
    let u = &alice.user_id;
    let receipts = format!("/api/users/v1/{u}/sessions/{}/logout-deliveries", a1.sid);
    let replay = format!("{receipts}/rp-app/replay");

    // A live session has no deliveries yet; nothing to replay.
    let r = call(&s, Method::GET, &receipts, t).await;
    let v = json_of(r).await;
    assert_eq!(v["status"], "active");
    assert_eq!(v["deliveries"], serde_json::json!([]));
    let r = call(&s, Method::POST, &replay, t).await;
    assert_error(r, 404).await;
    // Another user's id in the path: 404.
    let r = call(
        &s,
        Method::GET,
        &format!(
            "/api/users/v1/{}/sessions/{}/logout-deliveries",
            bob.user_id, a1.sid
        ),
        t,
    )
    .await;
    assert_error(r, 404).await;

    // End it: one delivery (rp-app only); the RP answers 400 → rejected, not retried.
    let r = call(
        &s,
        Method::DELETE,
        &format!("/api/users/v1/{u}/sessions/{}", a1.sid),
        t,
    )
    .await;
    assert_eq!(r.status(), 204);
    let d = wait_status(&s, &receipts, t, "rejected").await;
    assert_eq!(d["clientId"], "rp-app");
    assert_eq!(d["reason"], "admin");
    assert_eq!(d["attempts"], 1);
    assert_eq!(d["lastHttpStatus"], 400);
    assert!(d["deliveredAt"].is_null());
    assert!(d["createdAt"].as_str().unwrap().parse::<i64>().is_ok());
    assert!(
        d["updatedAt"].as_str().unwrap().parse::<i64>().unwrap()
            >= d["createdAt"].as_str().unwrap().parse::<i64>().unwrap()
    );
    assert_eq!(rp.received().len(), 1);
    let v = json_of(call(&s, Method::GET, &receipts, t).await).await;
    assert_eq!(v["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(v["status"], "ended");

    // Replay after the RP is fixed: 202, then delivered.
    rp.set_status(200);
    let r = call(&s, Method::POST, &format!("{receipts}/plain-app/replay"), t).await;
    assert_error(r, 404).await;
    let r = call(&s, Method::POST, &replay, t).await;
    assert_eq!(r.status(), 202);
    let d = wait_status(&s, &receipts, t, "delivered").await;
    assert_eq!(d["lastHttpStatus"], 200);
    assert!(d["deliveredAt"].as_str().unwrap().parse::<i64>().is_ok());
    assert_eq!(rp.wait_for(2, Duration::from_secs(5)).await, 2);
    // A delivered one cannot be replayed.
    let r = call(&s, Method::POST, &replay, t).await;
    let e = assert_error(r, 409).await;
    assert!(e["description"].as_str().unwrap().contains("delivered"));
}

async fn wait_status(s: &Stack, receipts: &str, t: Option<&str>, want: &str) -> Value {
    let start = std::time::Instant::now();
    loop {
        let r = call(s, Method::GET, receipts, t).await;
        assert_eq!(r.status(), 200);
        let v = json_of(r).await;
        if let Some(d) = v["deliveries"].as_array().and_then(|a| a.first()) {
            if d["status"] == want {
                return d.clone();
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "delivery never became {want}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
