//! Security tests (issue 7, item 6), over HTTP against the local stack:
//!
//! * every `/api/` route of `warden_local::routes::ROUTES` refuses a request without a token,
//!   with a bad token, with a cookie instead of a token, and with a token lacking its scope
//!   (table-driven, so a new route is covered or the test fails);
//! * Me routes never reach another user's session (IDOR);
//! * CSRF on the login form, on the end_session confirmation, and on My Account actions
//!   (the API takes bearer tokens only, so a cross-site request riding the cookie is 401);
//! * open redirects through `redirect_uri`, `post_logout_redirect_uri` and `return_to`;
//! * JWT algorithm confusion on every token input (`id_token_hint` at `/oauth2/authorize`
//!   and at `/oidc/logout`): `alg: none`, HS256 keyed with the public key in every common
//!   encoding, a foreign RSA key using our `kid`, an embedded `jwk` header;
//! * no secret or token in the logs of the `warden-local` binary at `RUST_LOG=debug` over a
//!   full flow (an SSF receiver's secret, token and push authorization header included).

use base64::Engine;
use reqwest::{Method, Response};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warden_core::admin::ClientSpec;
use warden_core::store::schema::{ClientItem, SessionItem, UserItem};
use warden_tests::flow::{self, authorize, url_with};
use warden_tests::rp::TestRp;
use warden_tests::{spawn, Stack};

const ALL_SCOPES: &[&str] = &[
    "openid",
    "internal_login",
    "internal_session_view",
    "internal_session_delete",
    "internal_user_mgt_update",
    "internal_user_mgt_delete",
];
const RP_CB: &str = "https://rp.example.org/cb";
const RP_BYE: &str = "https://rp.example.org/bye";

async fn console_client(s: &Stack) -> ClientItem {
    s.client(ClientSpec {
        client_id: Some("console".into()),
        name: "Console".into(),
        redirect_uris: vec!["https://console.example.org/cb".into()],
        scopes: ALL_SCOPES.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    })
    .await
    .0
}

async fn rp_client(s: &Stack) -> ClientItem {
    s.client(ClientSpec {
        client_id: Some("rp".into()),
        name: "Relying Party".into(),
        redirect_uris: vec![RP_CB.into()],
        post_logout_redirect_uris: vec![RP_BYE.into()],
        ..Default::default()
    })
    .await
    .0
}

async fn live(s: &Stack, sid: &str) -> bool {
    s.store()
        .get_session(sid)
        .await
        .unwrap()
        .unwrap()
        .is_live(warden_core::platform::time::now_s())
}

fn challenge(r: &Response) -> String {
    r.headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

async fn send(
    s: &Stack,
    m: &Method,
    path: &str,
    auth: Option<&str>,
    cookie: Option<&str>,
) -> Response {
    let mut r = s.http.request(m.clone(), s.url(path));
    if let Some(t) = auth {
        r = r.header("authorization", t);
    }
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    r.send().await.expect("request")
}

/// The scope a route needs, derived from its function, method and path (a new function
/// under `/api/` must be classified here, or the test fails). The account lifecycle's admin
/// routes are those of `admin-sessions` outside `/sessions`.
fn required_scope(function: &str, method: &str, path: &str) -> Option<&'static str> {
    let account =
        function == "admin-sessions" && !path.contains("/sessions") && !path.contains("/api/ssf/");
    match (function, method) {
        ("api-docs", _) => None,
        ("admin-sessions", "DELETE") if account => Some("internal_user_mgt_delete"),
        ("admin-sessions", "POST") if account => Some("internal_user_mgt_update"),
        ("me-sessions", _) => Some("internal_login"),
        ("admin-sessions", "GET") => Some("internal_session_view"),
        ("admin-sessions", "DELETE" | "POST") => Some("internal_session_delete"),
        other => panic!("unclassified /api/ route {other:?}: add its scope to this test"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_route_refuses_missing_bad_cookie_only_and_wrong_scope_requests() {
    let s = spawn().await;
    let console = console_client(&s).await;
    let admin = s.user("admin", "admin password 1", &ALL_SCOPES[1..]).await;
    let victim = s
        .user("victim", "victim password 1", &["internal_login"])
        .await;
    let (admin_sess, admin_cookie) = s.session_for(&admin, "admin-browser").await;
    let (victim_sess, _) = s.session_for(&victim, "victim-browser").await;
    // Make the victim's session have a delivery-capable app (for the replay route).
    s.tokens_for(&victim_sess, &console, "openid").await;

    let mut covered = 0;
    for route in warden_local::routes::ROUTES {
        if !route.path.starts_with("/api/") {
            continue;
        }
        let Some(scope) = required_scope(route.function, route.method, route.path) else {
            // The OpenAPI document is public.
            let r = send(&s, &Method::GET, route.path, None, None).await;
            assert_eq!(r.status(), 200, "{}", route.path);
            continue;
        };
        covered += 1;
        let path = route
            .path
            .replace("{user-id}", &victim.user_id)
            .replace("{session-id}", &victim_sess.sid)
            .replace("{client-id}", "console");
        let m = Method::from_bytes(route.method.as_bytes()).unwrap();
        let what = format!("{} {}", route.method, route.path);

        // No credentials at all: 401 with a bare challenge.
        let r = send(&s, &m, &path, None, None).await;
        assert_eq!(r.status(), 401, "{what}: no token");
        assert_eq!(challenge(&r), "Bearer realm=\"warden\"", "{what}");
        // The admin's browser session cookie alone (a cross-site request carries it): 401.
        let r = send(&s, &m, &path, None, Some(&admin_cookie)).await;
        assert_eq!(r.status(), 401, "{what}: cookie only");
        // Malformed, unknown, or non-Bearer credentials: 401.
        for bad in [
            "Bearer ".to_string(),
            "Bearer not-a-token".to_string(),
            format!("Bearer {}", warden_core::platform::crypto::random_token()),
            "Basic YWRtaW46YWRtaW4gcGFzc3dvcmQgMQ==".to_string(),
            format!("bearer{}", warden_core::platform::crypto::random_token()),
        ] {
            let r = send(&s, &m, &path, Some(&bad), None).await;
            assert_eq!(r.status(), 401, "{what}: {bad:?}");
        }
        // Every scope except the one the route needs: 403 insufficient_scope.
        let others: Vec<&str> = ALL_SCOPES.iter().copied().filter(|x| *x != scope).collect();
        let tok = s.tokens_for(&admin_sess, &console, &others.join(" ")).await;
        let r = send(
            &s,
            &m,
            &path,
            Some(&format!("Bearer {}", tok.access_token)),
            None,
        )
        .await;
        assert_eq!(r.status(), 403, "{what}: without {scope}");
        let ch = challenge(&r);
        assert!(
            ch.contains("insufficient_scope") && ch.contains(scope),
            "{what}: {ch}"
        );
        // The token in the query string (RFC 6750 §2.3) is not accepted either.
        let full = s
            .tokens_for(&admin_sess, &console, &ALL_SCOPES.join(" "))
            .await;
        let sep = if path.contains('?') { '&' } else { '?' };
        let r = send(
            &s,
            &m,
            &format!("{path}{sep}access_token={}", full.access_token),
            None,
            None,
        )
        .await;
        assert!(
            matches!(r.status().as_u16(), 400 | 401),
            "{what}: token in the query: {}",
            r.status()
        );
        assert!(live(&s, &victim_sess.sid).await, "{what}: nothing ended");
    }
    assert_eq!(covered, 18, "every protected /api/ route was exercised");
    assert!(live(&s, &admin_sess.sid).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_routes_never_reach_another_users_session() {
    let s = spawn().await;
    let console = console_client(&s).await;
    let alice = s
        .user("alice", "alice password 1", &["internal_login"])
        .await;
    let bob = s.user("bob", "bob password 1", &["internal_login"]).await;
    let (a1, _) = s.session_for(&alice, "a").await;
    let (b1, _) = s.session_for(&bob, "b").await;
    let (b2, _) = s.session_for(&bob, "b2").await;
    let bob_tok = s.tokens_for(&b1, &console, "openid internal_login").await;
    // Alice holds every scope a Me caller could hold, but not the admin ones.
    let tok = s.tokens_for(&a1, &console, "openid internal_login").await;
    let bearer = format!("Bearer {}", tok.access_token);
    let me = "/api/users/v1/me/sessions";

    // Ending bob's session by id: 404, exactly like an unknown id (no oracle).
    for sid in [&b1.sid, &b2.sid] {
        let r = send(
            &s,
            &Method::DELETE,
            &format!("{me}/{sid}"),
            Some(&bearer),
            None,
        )
        .await;
        assert_eq!(r.status(), 404);
        let body: Value = r.json().await.unwrap();
        let r2 = send(
            &s,
            &Method::DELETE,
            &format!("{me}/no-such-session"),
            Some(&bearer),
            None,
        )
        .await;
        assert_eq!(r2.status(), 404);
        let body2: Value = r2.json().await.unwrap();
        assert_eq!(body["code"], body2["code"]);
        assert_eq!(body["description"], body2["description"]);
    }
    // Encoded tricks in the id do not escape the caller's scope.
    for trick in [
        format!("..%2F{}", b1.sid),
        format!("{}%00", b1.sid),
        format!("{}%20", b1.sid),
        format!("SESSION%23{}", b1.sid),
    ] {
        let r = send(
            &s,
            &Method::DELETE,
            &format!("{me}/{trick}"),
            Some(&bearer),
            None,
        )
        .await;
        assert!(
            matches!(r.status().as_u16(), 400 | 404),
            "{trick}: {}",
            r.status()
        );
    }
    // Listing with someone else's id in the query never shows their sessions.
    for q in [
        format!("?userId={}", bob.user_id),
        format!("?user-id={}", bob.user_id),
        format!("?cursor={}", b1.sid),
    ] {
        let r = send(&s, &Method::GET, &format!("{me}{q}"), Some(&bearer), None).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert!(matches!(status, 200 | 400), "{q}: {status}");
        assert!(
            !text.contains(&b1.sid) && !text.contains(&bob.user_id),
            "{q}: {text}"
        );
    }
    // Alice's admin-path attempts on bob: 403 (no admin scope), even with her own user id.
    for p in [
        format!("/api/users/v1/{}/sessions", bob.user_id),
        format!("/api/users/v1/{}/sessions/{}", bob.user_id, b1.sid),
        format!("/api/users/v1/{}/sessions/{}", alice.user_id, b1.sid),
    ] {
        for m in [Method::GET, Method::DELETE] {
            let r = send(&s, &m, &p, Some(&bearer), None).await;
            assert_eq!(r.status(), 403, "{m} {p}");
        }
    }
    // "End all my sessions" ends alice's, never bob's.
    let r = send(&s, &Method::DELETE, me, Some(&bearer), None).await;
    assert_eq!(r.status(), 204);
    assert!(!live(&s, &a1.sid).await);
    assert!(live(&s, &b1.sid).await && live(&s, &b2.sid).await);
    let r = send(
        &s,
        &Method::GET,
        me,
        Some(&format!("Bearer {}", bob_tok.access_token)),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["sessions"].as_array().unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------
// CSRF
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_form_requires_its_csrf_pair() {
    let s = spawn().await;
    s.user("carol", "carol password 1", &[]).await;
    let (cookie, token) = flow::login_form(&s).await;
    let (_, other_token) = flow::login_form(&s).await;
    let cases: Vec<(Option<String>, Option<String>, &str)> = vec![
        (None, None, "neither"),
        (Some(cookie.clone()), None, "cookie without field"),
        (None, Some(token.clone()), "field without cookie"),
        (
            Some(cookie.clone()),
            Some(other_token.clone()),
            "field of another form",
        ),
        (Some(cookie.clone()), Some(String::new()), "empty field"),
        (Some(String::new()), Some(String::new()), "both empty"),
        (
            Some(cookie.clone()),
            Some(format!("{token}x")),
            "modified field",
        ),
    ];
    for (c, t, why) in cases {
        let mut form = vec![
            ("username", "carol".to_string()),
            ("password", "carol password 1".to_string()),
        ];
        if let Some(t) = t {
            form.push(("csrf_token", t));
        }
        let mut req = s.http.post(s.url("/login")).form(&form);
        if let Some(c) = c {
            req = req.header("cookie", format!("warden_csrf={c}"));
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 403, "{why}");
        assert!(r.headers().get("location").is_none(), "{why}");
        assert!(
            flow::set_cookie_value(r.headers(), "warden_session").is_none(),
            "{why}: no session"
        );
    }
    // A JSON or multipart body is not a form post.
    let r = s
        .http
        .post(s.url("/login"))
        .header("cookie", format!("warden_csrf={cookie}"))
        .header("content-type", "application/json")
        .body(
            json!({"username": "carol", "password": "carol password 1", "csrf_token": token})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    assert!(flow::set_cookie_value(r.headers(), "warden_session").is_none());
    // The same pair works.
    let r = s
        .http
        .post(s.url("/login"))
        .header("cookie", format!("warden_csrf={cookie}"))
        .form(&[
            ("username", "carol"),
            ("password", "carol password 1"),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    // The CSRF cookie is SameSite=Strict and HttpOnly.
    let r = s.http.get(s.url("/login")).send().await.unwrap();
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("warden_csrf="))
        .unwrap();
    assert!(
        set.contains("SameSite=Strict") && set.contains("HttpOnly"),
        "{set}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_session_confirmation_requires_its_csrf_token() {
    let s = spawn().await;
    let user = s.user("dave", "dave password 1", &[]).await;
    let (sess, cookie) = s.session_for(&user, "browser").await;

    // No hint: the user must confirm; the page sets a CSRF cookie and carries the token.
    let r = s
        .http
        .get(s.url("/oidc/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csrf_cookie =
        flow::set_cookie_value(r.headers(), "warden_logout_csrf").expect("csrf cookie");
    let html = r.text().await.unwrap();
    let token = flow::hidden_input(&html, "logout_csrf").expect("csrf field");
    assert!(live(&s, &sess.sid).await);

    // A forged confirmation: no token, a wrong token, a token without its cookie, the
    // confirmation in a GET query.
    let with_csrf = format!("{cookie}; warden_logout_csrf={csrf_cookie}");
    type Attempt<'a> = (Vec<(&'a str, String)>, String, &'a str);
    let attempts: Vec<Attempt> = vec![
        (
            vec![("logout_confirm", "yes".into())],
            cookie.clone(),
            "no token",
        ),
        (
            vec![("logout_confirm", "yes".into())],
            with_csrf.clone(),
            "cookie, no field",
        ),
        (
            vec![
                ("logout_confirm", "yes".into()),
                ("logout_csrf", "forged".into()),
            ],
            with_csrf.clone(),
            "wrong token",
        ),
        (
            vec![
                ("logout_confirm", "yes".into()),
                ("logout_csrf", token.clone()),
            ],
            cookie.clone(),
            "field, no cookie",
        ),
        (
            vec![
                ("logout_confirm", "yes".into()),
                ("logout_csrf", String::new()),
            ],
            format!("{cookie}; warden_logout_csrf="),
            "both empty",
        ),
    ];
    for (form, ck, why) in attempts {
        let r = s
            .http
            .post(s.url("/oidc/logout"))
            .header("cookie", ck)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{why}");
        assert!(r.headers().get("location").is_none(), "{why}");
        assert!(live(&s, &sess.sid).await, "{why}: still signed in");
    }
    let r = s
        .http
        .get(url_with(
            &s,
            "/oidc/logout",
            &[("logout_confirm", "yes"), ("logout_csrf", token.as_str())],
        ))
        .header("cookie", &with_csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text().await.unwrap().contains("logout_confirm"),
        "asked again"
    );
    assert!(live(&s, &sess.sid).await, "a GET never confirms");

    // The real confirmation works.
    let r = s
        .http
        .post(s.url("/oidc/logout"))
        .header("cookie", &with_csrf)
        .form(&[("logout_confirm", "yes"), ("logout_csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!live(&s, &sess.sid).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_account_actions_need_the_bearer_token_not_the_cookie() {
    let s = spawn().await;
    let console = console_client(&s).await;
    let user = s.user("erin", "erin password 1", &["internal_login"]).await;
    let cookie = flow::login(&s, "erin", "erin password 1").await;
    let (other, _) = s.session_for(&user, "phone").await;
    let sid = flow::cookie_value(&cookie, "warden_session")
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .to_string();
    let me = "/api/users/v1/me/sessions";
    // A cross-site page can make the browser send its cookies, never its token.
    for (m, p) in [
        (Method::DELETE, me.to_string()),
        (Method::DELETE, format!("{me}?exclude=current")),
        (Method::DELETE, format!("{me}/{}", other.sid)),
        (Method::GET, me.to_string()),
    ] {
        let r = s
            .http
            .request(m.clone(), s.url(&p))
            .header("cookie", &cookie)
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{m} {p}");
        assert!(
            r.headers().get("access-control-allow-origin").is_none(),
            "no CORS grant to a foreign origin"
        );
    }
    // A CORS preflight from a foreign origin is not granted.
    let r = s
        .http
        .request(Method::OPTIONS, s.url(me))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "DELETE")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert!(live(&s, &sid).await && live(&s, &other.sid).await);
    // With the token it works.
    let (sess, _) = s.session_for(&user, "laptop").await;
    let tok = s.tokens_for(&sess, &console, "openid internal_login").await;
    let r = s
        .http
        .delete(s.url(&format!("{me}/{}", other.sid)))
        .bearer_auth(&tok.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

// ---------------------------------------------------------------------------------------
// Open redirect
// ---------------------------------------------------------------------------------------

/// Look-alikes of `good` that must never be redirected to.
fn look_alikes(good: &str) -> Vec<String> {
    let rest = good.trim_start_matches("https://rp.example.org");
    let mut v: Vec<String> = [
        "https://rp.example.org.evil.com",
        "https://rp.example.org@evil.com",
        "https://evil.com@rp.example.org",
        "https://evil.com#@rp.example.org",
        "https://evil.com\\@rp.example.org",
        "https://RP.EXAMPLE.ORG",
        "https://rp.example.org:443",
        "https://rp.example.org:8443",
        "http://rp.example.org",
        "HTTPS://rp.example.org",
        "https://rp.example.org.",
        "https://xn--rp-example-org.evil.com",
        "//rp.example.org",
        "https://evil.com",
    ]
    .iter()
    .map(|h| format!("{h}{rest}"))
    .collect();
    v.extend([
        format!("{good}?next=https://evil.com"),
        format!("{good}?x=1"),
        format!("{good}&x=1"),
        format!("{good}#frag"),
        format!("{good}/"),
        format!("{good}/../../evil"),
        format!("{good}%2F..%2Fevil"),
        format!("{good}/.."),
        good.to_uppercase(),
        format!(" {good}"),
        format!("{good} "),
        format!("{good}\t"),
        format!("{good}%00"),
        "javascript:alert(1)//https://rp.example.org/cb".to_string(),
        "data:text/html,<script>alert(1)</script>".to_string(),
        "https://evil.com".to_string(),
    ]);
    v
}

fn location_of(r: &Response) -> Option<String> {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_uri_look_alikes_get_an_error_page_never_a_location() {
    let s = spawn().await;
    rp_client(&s).await;
    let user = s.user("frank", "frank password 1", &[]).await;
    let (_, cookie) = s.session_for(&user, "b").await;
    for bad in look_alikes(RP_CB) {
        for ck in ["", cookie.as_str()] {
            let p = [
                ("response_type", "code"),
                ("scope", "openid"),
                ("state", "st"),
                ("client_id", "rp"),
                ("redirect_uri", bad.as_str()),
            ];
            let r = authorize(&s, ck, &p).await;
            assert_eq!(r.status, 400, "GET {bad:?} (cookie: {})", !ck.is_empty());
            assert!(r.location.is_none(), "GET {bad:?}: {:?}", r.location);
            // prompt=none errors go to the redirect_uri only when it is registered.
            let mut pn = p.to_vec();
            pn.push(("prompt", "none"));
            let r = authorize(&s, ck, &pn).await;
            assert!(
                r.location.is_none(),
                "prompt=none {bad:?}: {:?}",
                r.location
            );
            // The form-post variant.
            let mut req = s.http.post(s.url("/oauth2/authorize")).form(&p);
            if !ck.is_empty() {
                req = req.header("cookie", ck);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 400, "POST {bad:?}");
            assert!(location_of(&r).is_none(), "POST {bad:?}");
        }
    }
    // The registered URI itself works (the checks above are not vacuous).
    let (code, _, _) = flow::authorize_code(&s, &cookie, "rp", RP_CB, &[]).await;
    assert!(!code.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_logout_redirect_look_alikes_get_an_error_page_and_keep_the_session() {
    let s = spawn().await;
    let c = rp_client(&s).await;
    let user = s.user("grace", "grace password 1", &[]).await;
    let (sess, cookie) = s.session_for(&user, "b").await;
    let issued = s.tokens_for(&sess, &c, "openid").await;
    let hint = warden_core::oauth::tokens::id_token(s.app(), "rp", Some(&user), &issued, None)
        .await
        .unwrap();
    for bad in look_alikes(RP_BYE) {
        for extra in [
            vec![("id_token_hint", hint.as_str())],
            vec![("client_id", "rp")],
        ] {
            let mut p = extra.clone();
            p.push(("post_logout_redirect_uri", bad.as_str()));
            p.push(("state", "s1"));
            let r = s
                .http
                .get(url_with(&s, "/oidc/logout", &p))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "{bad:?}");
            assert!(location_of(&r).is_none(), "{bad:?}");
            let r = s
                .http
                .post(s.url("/oidc/logout"))
                .header("cookie", &cookie)
                .form(&p)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "POST {bad:?}");
            assert!(location_of(&r).is_none(), "POST {bad:?}");
            let body = r.text().await.unwrap();
            assert!(!body.contains("evil.com\""), "no link to it either");
            assert!(live(&s, &sess.sid).await, "{bad:?}: nothing ended");
        }
    }
    // The registered URI redirects (with state) and ends the session.
    let r = s
        .http
        .get(url_with(
            &s,
            "/oidc/logout",
            &[
                ("id_token_hint", hint.as_str()),
                ("post_logout_redirect_uri", RP_BYE),
                ("state", "s1"),
            ],
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(
        location_of(&r).as_deref(),
        Some("https://rp.example.org/bye?state=s1")
    );
    assert!(!live(&s, &sess.sid).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_return_to_stays_on_our_origin() {
    let s = spawn().await;
    s.user("heidi", "heidi password 1", &[]).await;
    let ours = url::Url::parse(&s.base).unwrap();
    for bad in [
        "//evil.com",
        "//evil.com/x",
        "https://evil.com",
        "http://evil.com/",
        "/\\evil.com",
        "\\\\evil.com",
        "/\\/evil.com",
        "/\t/evil.com",
        "/%0d%0aLocation:%20https://evil.com",
        "\r\nLocation: https://evil.com",
        "///evil.com",
        "https:evil.com",
        "javascript:alert(1)",
        " //evil.com",
    ] {
        // The form echoes a safe return_to only.
        let r = s
            .http
            .get(url_with(&s, "/login", &[("return_to", bad)]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let html = r.text().await.unwrap();
        let echoed = flow::hidden_input(&html, "return_to").unwrap();
        // Either the default, or a same-origin path (a percent-encoded CR LF stays encoded
        // inside the path: harmless).
        assert!(
            echoed.starts_with('/')
                && !echoed.starts_with("//")
                && !echoed.contains('\\')
                && !echoed.chars().any(|c| c.is_control() || c.is_whitespace()),
            "{bad:?} echoed as {echoed:?}"
        );
        // A successful login never leaves our origin.
        let r = flow::post_login(&s, "heidi", "heidi password 1", &[("return_to", bad)]).await;
        assert_eq!(r.status(), 303, "{bad:?}");
        let loc = location_of(&r).unwrap();
        let u = url::Url::parse(&loc).unwrap_or_else(|e| panic!("{bad:?} → {loc}: {e}"));
        assert_eq!(
            (u.scheme(), u.host_str(), u.port()),
            (ours.scheme(), ours.host_str(), ours.port()),
            "{bad:?} → {loc}"
        );
        assert!(
            u.path().starts_with('/') && !u.path().starts_with("//"),
            "{bad:?} → {loc}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// JWT algorithm confusion
// ---------------------------------------------------------------------------------------

fn b64u(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn der_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        vec![n as u8]
    } else if n < 0x100 {
        vec![0x81, n as u8]
    } else {
        vec![0x82, (n >> 8) as u8, n as u8]
    }
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend(der_len(content.len()));
    v.extend_from_slice(content);
    v
}

fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let mut c = Vec::new();
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        c.push(0);
    }
    c.extend_from_slice(bytes);
    der(0x02, &c)
}

fn pem(label: &str, der_bytes: &[u8]) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(der_bytes);
    let lines: Vec<&str> = b
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// Every encoding of our public key an attacker might try as an HMAC secret.
fn public_key_secrets(jwk: &Value) -> Vec<(String, Vec<u8>)> {
    let d = |k: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwk[k].as_str().unwrap())
            .unwrap()
    };
    let (n, e) = (d("n"), d("e"));
    let pkcs1 = der(0x30, &[der_uint(&n), der_uint(&e)].concat());
    let alg = der(
        0x30,
        &[
            der(
                0x06,
                &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01],
            ),
            vec![0x05, 0x00],
        ]
        .concat(),
    );
    let spki = der(
        0x30,
        &[alg, der(0x03, &[&[0u8][..], &pkcs1].concat())].concat(),
    );
    let spki_pem = pem("PUBLIC KEY", &spki);
    let pkcs1_pem = pem("RSA PUBLIC KEY", &pkcs1);
    vec![
        ("n bytes".into(), n.clone()),
        (
            "n base64url".into(),
            jwk["n"].as_str().unwrap().as_bytes().to_vec(),
        ),
        ("n||e".into(), [n.clone(), e.clone()].concat()),
        ("JWK JSON".into(), jwk.to_string().into_bytes()),
        ("SPKI DER".into(), spki.clone()),
        ("PKCS#1 DER".into(), pkcs1.clone()),
        ("SPKI PEM".into(), spki_pem.clone().into_bytes()),
        (
            "SPKI PEM no newline".into(),
            spki_pem.trim_end().as_bytes().to_vec(),
        ),
        ("PKCS#1 PEM".into(), pkcs1_pem.into_bytes()),
    ]
}

/// Forgeries of `valid` (same claims): every one must be refused.
fn forgeries(valid: &str, jwk: &Value) -> Vec<(String, String)> {
    let parts: Vec<&str> = valid.split('.').collect();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[0])
            .unwrap(),
    )
    .unwrap();
    let kid = header["kid"].as_str().unwrap().to_string();
    let payload = parts[1];
    let mut out = Vec::new();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let h = b64u(
            json!({"alg": alg, "typ": "JWT", "kid": kid})
                .to_string()
                .as_bytes(),
        );
        out.push((
            format!("alg {alg}, empty signature"),
            format!("{h}.{payload}."),
        ));
        out.push((
            format!("alg {alg}, original signature"),
            format!("{h}.{payload}.{}", parts[2]),
        ));
        out.push((
            format!("alg {alg}, no signature part"),
            format!("{h}.{payload}"),
        ));
    }
    for alg in ["HS256", "HS384", "HS512"] {
        for (what, secret) in public_key_secrets(jwk) {
            let h = b64u(
                json!({"alg": alg, "typ": "JWT", "kid": kid})
                    .to_string()
                    .as_bytes(),
            );
            let input = format!("{h}.{payload}");
            // Only HS256 is computed exactly; HS384/512 carry the HS256 MAC (wrong length
            // is as good a probe as any for those).
            let sig = warden_core::platform::crypto::hmac_b64(&secret, input.as_bytes());
            out.push((
                format!("{alg} keyed with the {what}"),
                format!("{input}.{sig}"),
            ));
        }
    }
    // RS256 with an attacker key, advertising our kid, and with an embedded jwk header.
    let mut item = warden_core::keys::signing::generate_key_item(1).unwrap();
    let attacker_n = item.n.clone();
    let attacker_e = item.e.clone();
    item.kid = kid.clone();
    let attacker = warden_core::keys::signing::KeySet::from_items(&[item]).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    out.push((
        "RS256 by another key with our kid".into(),
        attacker.sign("JWT", &claims).unwrap(),
    ));
    // Same attacker signature, header carrying the attacker's public key (jwk / x5c-style
    // key injection) and no kid.
    let signed = attacker.sign("JWT", &claims).unwrap();
    let sp: Vec<&str> = signed.split('.').collect();
    let h = b64u(
        json!({"alg": "RS256", "typ": "JWT", "jwk": {"kty": "RSA", "n": attacker_n, "e": attacker_e}})
            .to_string()
            .as_bytes(),
    );
    out.push((
        "RS256 with an embedded jwk header".into(),
        format!("{h}.{}.{}", sp[1], sp[2]),
    ));
    // Valid signature, PS256 / ES256 label.
    for alg in ["PS256", "ES256", "RS512"] {
        let h = b64u(
            json!({"alg": alg, "typ": "JWT", "kid": kid})
                .to_string()
                .as_bytes(),
        );
        out.push((
            format!("alg relabelled {alg}"),
            format!("{h}.{payload}.{}", parts[2]),
        ));
    }
    out
}

struct HintFixture {
    s: Stack,
    user: UserItem,
    sess: SessionItem,
    cookie: String,
    hint: String,
    jwk: Value,
}

async fn hint_fixture() -> HintFixture {
    let s = spawn().await;
    let c = rp_client(&s).await;
    let user = s.user("ivan", "ivan password 1", &[]).await;
    let (sess, cookie) = s.session_for(&user, "b").await;
    let issued = s.tokens_for(&sess, &c, "openid").await;
    let hint = warden_core::oauth::tokens::id_token(s.app(), "rp", Some(&user), &issued, None)
        .await
        .unwrap();
    let jwks: Value = s
        .http
        .get(s.url("/oauth2/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks["keys"][0].clone();
    HintFixture {
        s,
        user,
        sess,
        cookie,
        hint,
        jwk,
    }
}

#[test]
fn the_public_key_encodings_are_well_formed() {
    // The DER built here parses as the same key (guards the HMAC-secret probes).
    let item = warden_core::keys::signing::generate_key_item(1).unwrap();
    let jwk = json!({"kty": "RSA", "n": item.n, "e": item.e});
    let secrets: BTreeMap<String, Vec<u8>> = public_key_secrets(&jwk).into_iter().collect();
    let spki = &secrets["SPKI DER"];
    assert_eq!(spki[0], 0x30);
    assert_eq!(spki.len(), 294, "2048-bit RSA SPKI is 294 bytes");
    assert_eq!(
        secrets["PKCS#1 DER"].len(),
        270,
        "2048-bit RSA PKCS#1 is 270 bytes"
    );
    assert!(String::from_utf8_lossy(&secrets["SPKI PEM"])
        .starts_with("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_id_token_hints_are_refused_at_authorize() {
    let f = hint_fixture().await;
    let base = [
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "st"),
        ("client_id", "rp"),
        ("redirect_uri", RP_CB),
        ("prompt", "none"),
    ];
    // The genuine hint works.
    let mut p = base.to_vec();
    p.push(("id_token_hint", f.hint.as_str()));
    let r = authorize(&f.s, &f.cookie, &p).await;
    assert_eq!(r.status, 302, "{r:?}");
    assert!(r.param("code").is_some(), "{r:?}");
    for (what, forged) in forgeries(&f.hint, &f.jwk) {
        let mut p = base.to_vec();
        p.push(("id_token_hint", forged.as_str()));
        let r = authorize(&f.s, &f.cookie, &p).await;
        assert!(
            r.param("code").is_none(),
            "{what}: a code was issued: {r:?}"
        );
        assert!(
            r.status == 400 || r.param("error") == Some("invalid_request"),
            "{what}: {r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_id_token_hints_are_refused_at_end_session() {
    let f = hint_fixture().await;
    for (what, forged) in forgeries(&f.hint, &f.jwk) {
        for m in [Method::GET, Method::POST] {
            let p = [
                ("id_token_hint", forged.as_str()),
                ("post_logout_redirect_uri", RP_BYE),
                ("state", "s"),
            ];
            let req = if m == Method::GET {
                f.s.http.get(url_with(&f.s, "/oidc/logout", &p))
            } else {
                f.s.http.post(f.s.url("/oidc/logout")).form(&p)
            };
            let r = req.header("cookie", &f.cookie).send().await.unwrap();
            assert_eq!(r.status(), 400, "{m} {what}");
            assert!(location_of(&r).is_none(), "{m} {what}");
            assert!(live(&f.s, &f.sess.sid).await, "{m} {what}: still signed in");
        }
    }
    // The genuine hint logs out and redirects.
    let r =
        f.s.http
            .get(url_with(
                &f.s,
                "/oidc/logout",
                &[
                    ("id_token_hint", f.hint.as_str()),
                    ("post_logout_redirect_uri", RP_BYE),
                ],
            ))
            .header("cookie", &f.cookie)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 302);
    assert!(!live(&f.s, &f.sess.sid).await);
    let _ = &f.user;
}

// ---------------------------------------------------------------------------------------
// Secrets absent from logs
// ---------------------------------------------------------------------------------------

/// A child process killed (by its handle) when dropped.
struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn capture(
    stream: impl std::io::Read + Send + 'static,
    sink: Arc<Mutex<String>>,
    lines: Option<std::sync::mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Ok(mut s) = sink.lock() {
                s.push_str(&line);
                s.push('\n');
            }
            if let Some(tx) = &lines {
                let _ = tx.send(line);
            }
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_token_reaches_the_logs() {
    let bin = warden_tests::warden_local_bin();
    let out = Arc::new(Mutex::new(String::new()));
    let mut cmd = std::process::Command::new(bin);
    // The key-encryption key is handed in, so the test can open the stored signing keys and
    // search the logs for them (and for itself).
    let kek = warden_core::keys::protection::KeyProtection::random_local();
    let kek_text = kek.local_text().unwrap();
    cmd.args(["--memory", "--addr", "127.0.0.1:0"])
        .env("RUST_LOG", "debug")
        .env("WARDEN_KEY_ENCRYPTION_KEY", &kek_text)
        .env_remove("WARDEN_KMS_KEY_ID")
        .env_remove("WARDEN_ISSUER")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = Child(cmd.spawn().expect("warden-local starts"));
    let (tx, rx) = std::sync::mpsc::channel();
    capture(child.0.stdout.take().unwrap(), out.clone(), Some(tx));
    capture(child.0.stderr.take().unwrap(), out.clone(), None);
    let (mut base, mut storage) = (None, None);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while base.is_none() || storage.is_none() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("warden-local did not start:\n{}", out.lock().unwrap()));
        if let Some(b) = line.strip_prefix("Warden is running at ") {
            base = Some(b.trim().to_string());
        }
        if let Some(st) = line.trim().strip_prefix("storage:") {
            storage = Some(st.trim().to_string());
        }
    }
    let base = base.unwrap();
    let storage = storage.unwrap();
    let banner_len = out.lock().unwrap().len();

    // Our own user and clients, written straight into the binary's engine.
    let store = warden_core::Store::new(
        warden_core::store::dynamodb_client(Some(&storage), None).await,
        "warden",
    );
    let password = "Tr0ub4dor&3-log-canary";
    warden_core::admin::create_user(
        &store,
        "logcanary",
        password,
        "Log Canary",
        "lc@example.com",
        &[],
    )
    .await
    .unwrap();
    let rp = TestRp::start().await;
    let redirect = format!("http://{}/cb", rp.addr);
    let (_, secret) = warden_core::admin::create_client(
        &store,
        &ClientSpec {
            client_id: Some("logapp".into()),
            name: "Log App".into(),
            redirect_uris: vec![redirect.clone()],
            backchannel_logout_uri: Some(rp.uri()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let secret = secret.expect("confidential client secret");
    let http = warden_tests::no_redirect_client();
    let u = |p: &str| format!("{base}{p}");

    // Login through the form.
    let r = http.get(u("/login")).send().await.unwrap();
    let csrf_cookie = flow::set_cookie_value(r.headers(), "warden_csrf").unwrap();
    let csrf = flow::hidden_input(&r.text().await.unwrap(), "csrf_token").unwrap();
    let r = http
        .post(u("/login"))
        .header("cookie", format!("warden_csrf={csrf_cookie}"))
        .form(&[
            ("username", "logcanary"),
            ("password", password),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = flow::cookie_header_from(r.headers());
    let session_value = flow::cookie_value(&cookie, "warden_session").unwrap();
    let session_secret = session_value.split('.').nth(1).unwrap().to_string();

    // Authorize → code → tokens → refresh → introspect → userinfo.
    let (verifier, challenge) = flow::pkce();
    let r = http
        .get(warden_core::http::with_query(
            &u("/oauth2/authorize"),
            &[
                ("response_type", "code"),
                ("client_id", "logapp"),
                ("redirect_uri", &redirect),
                ("scope", "openid profile offline_access"),
                ("state", "log-state"),
                ("nonce", "log-nonce"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = url::Url::parse(&location_of(&r).unwrap()).unwrap();
    let code = loc
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let tok: Value = http
        .post(u("/oauth2/token"))
        .basic_auth("logapp", Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tok["access_token"]
        .as_str()
        .expect("access token")
        .to_string();
    let refresh = tok["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string();
    let id_token = tok["id_token"].as_str().expect("id token").to_string();
    let tok2: Value = http
        .post(u("/oauth2/token"))
        .basic_auth("logapp", Some(&secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access2 = tok2["access_token"]
        .as_str()
        .expect("refreshed")
        .to_string();
    let refresh2 = tok2["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let intro: Value = http
        .post(u("/oauth2/introspect"))
        .basic_auth("logapp", Some(&secret))
        .form(&[("token", &access2)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(intro["active"], true);
    let r = http
        .get(u("/oauth2/userinfo"))
        .bearer_auth(&access2)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A failed login and a bad token too (error paths log as well).
    let _ = http
        .post(u("/login"))
        .header("cookie", format!("warden_csrf={csrf_cookie}"))
        .form(&[
            ("username", "logcanary"),
            ("password", "wrong-Canary-pw"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    let _ = http
        .get(u("/oauth2/userinfo"))
        .bearer_auth("bogus-token-canary")
        .send()
        .await
        .unwrap();
    // An SSF receiver: its client_credentials token, and a push stream whose
    // authorization header is a secret Warden keeps sealed (issue 21).
    let (_, rx_secret) = warden_core::admin::create_client(
        &store,
        &ClientSpec {
            client_id: Some("logreceiver".into()),
            name: "Log Receiver".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["ssf.manage".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let rx_secret = rx_secret.expect("receiver secret");
    let cc: Value = http
        .post(u("/oauth2/token"))
        .basic_auth("logreceiver", Some(&rx_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cc_token = cc["access_token"].as_str().expect("cc token").to_string();
    let push_header = "Bearer push-header-canary-0123456789";
    let r = http
        .post(u("/ssf/streams"))
        .bearer_auth(&cc_token)
        .json(&json!({"delivery": {"method": "urn:ietf:rfc:8935",
            "endpoint_url": "http://127.0.0.1:9/events", "authorization_header": push_header}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let stream: Value = r.json().await.unwrap();
    assert!(!stream.to_string().contains("push-header-canary"));

    // End session with the id_token_hint; the back-channel RP receives its logout token.
    let r = http
        .get(warden_core::http::with_query(
            &u("/oidc/logout"),
            &[("id_token_hint", &id_token)],
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(rp.wait_for(1, Duration::from_secs(15)).await, 1);
    let logout_token = rp.logout_tokens()[0].clone();
    // The signing key's private half, read from the store (wrapped) and opened.
    let keys = store.list_signing_keys().await.unwrap();
    let protector = warden_core::keys::protection::KeyProtector::new(kek, None);
    let mut private_keys: Vec<String> = Vec::new();
    for k in &keys {
        assert!(k.private_pkcs8.is_none(), "stored wrapped only");
        private_keys.push(k.private_wrapped.clone().unwrap());
        private_keys.push(protector.open(k).await.unwrap().private_pkcs8.unwrap());
    }
    private_keys.push(kek_text.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(child);

    let logs = out.lock().unwrap().clone();
    let after_banner = &logs[banner_len.min(logs.len())..];
    assert!(
        after_banner.contains("login"),
        "the flow's logs were captured:\n{after_banner}"
    );
    assert!(after_banner.contains("session ended"), "{after_banner}");
    assert!(after_banner.contains("DEBUG"), "debug level was on");
    let sid = session_value.split('.').next().unwrap();
    assert!(
        after_banner.contains(sid),
        "the session id (not a secret) is logged, so this run's request logs were captured"
    );
    let mut secrets: Vec<(&str, String)> = vec![
        ("password", password.to_string()),
        ("password (form-encoded)", password.replace('&', "%26")),
        ("wrong password", "wrong-Canary-pw".into()),
        ("client secret", secret.clone()),
        ("authorization code", code.clone()),
        ("PKCE verifier", verifier.clone()),
        ("access token", access.clone()),
        ("refreshed access token", access2.clone()),
        ("refresh token", refresh.clone()),
        ("ID token", id_token.clone()),
        (
            "ID token signature",
            id_token.rsplit('.').next().unwrap().to_string(),
        ),
        ("session cookie secret", session_secret.clone()),
        ("CSRF token", csrf.clone()),
        ("logout token", logout_token.clone()),
        (
            "logout token signature",
            logout_token.rsplit('.').next().unwrap().to_string(),
        ),
        ("bogus bearer", "bogus-token-canary".into()),
        ("receiver client secret", rx_secret.clone()),
        ("client_credentials token", cc_token.clone()),
        (
            "SSF push authorization header",
            "push-header-canary-0123456789".into(),
        ),
    ];
    if !refresh2.is_empty() {
        secrets.push(("rotated refresh token", refresh2));
    }
    for k in &private_keys {
        secrets.push(("signing private key", k.clone()));
    }
    for (what, v) in &secrets {
        assert!(v.len() >= 8, "{what} too short to search for");
        assert!(
            !logs.contains(v.as_str()),
            "the {what} appears in the logs:\n{}",
            logs.lines()
                .filter(|l| l.contains(v.as_str()))
                .take(3)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
