//! Hosted login (`/login`) and `/oauth2/authorize` over HTTP against the local stack.

use serde_json::{json, Value};
use warden_core::admin::ClientSpec;
use warden_core::platform::crypto::{b64, hash_secret};
use warden_core::store::schema::CodeGrant;
use warden_tests::flow::{
    self, authorize, authorize_code, cookie_value, hidden_input, login, pkce, post_login,
    set_cookie_value,
};
use warden_tests::{spawn, spawn_with, Options, Stack};

const RP: &str = "https://rp.example/cb";
const RP2: &str = "https://rp.example/cb2";
const PW: &str = "correct horse battery";

async fn stack_with_client(spec: ClientSpec) -> (Stack, String) {
    let s = spawn().await;
    s.user("alice", PW, &[]).await;
    let (c, _) = s.client(spec).await;
    (s, c.client_id)
}

fn conf(id: &str) -> ClientSpec {
    ClientSpec {
        client_id: Some(id.into()),
        name: format!("App {id}"),
        redirect_uris: vec![RP.into()],
        backchannel_logout_uri: Some("https://rp.example/bc".into()),
        ..Default::default()
    }
}

/// Open a code with the stack's keys to see what authorize sealed into it.
async fn code_item(s: &Stack, code: &str) -> CodeGrant {
    let keys = s.app().keys().await.unwrap();
    warden_core::oauth::code::open(&keys, code).expect("a code this stack sealed")
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn raw_set_cookie(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or("")
        .to_string()
}

// ---------------------------------------------------------------- login

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_page_has_an_accessible_form_and_csrf_cookie() {
    let s = spawn().await;
    let r = s
        .http
        .get(s.url("/login?return_to=%2Foauth2%2Fauthorize%3Fa%3D1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "cache-control"), "no-store");
    assert_eq!(header(&r, "x-frame-options"), "DENY");
    let c = raw_set_cookie(&r, "warden_csrf");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/login"] {
        assert!(c.contains(attr), "{attr} missing in {c}");
    }
    let csrf = set_cookie_value(r.headers(), "warden_csrf").unwrap();
    let html = r.text().await.unwrap();
    // The field is bound to the cookie (its MAC), never the cookie's value itself.
    let field = hidden_input(&html, "csrf_token").expect("csrf_token field");
    assert!(!field.is_empty() && field != csrf);
    assert_eq!(
        hidden_input(&html, "return_to").as_deref(),
        Some("/oauth2/authorize?a=1")
    );
    for needle in [
        r#"<html lang="en">"#,
        r#"<label for="username">"#,
        r#"<label for="password">"#,
        r#"autocomplete="current-password""#,
        r#"name="remember_me""#,
    ] {
        assert!(html.contains(needle), "{needle} missing");
    }
    // An absolute or scheme-relative return_to is replaced by the default.
    for bad in [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
    ] {
        let r = s
            .http
            .get(flow::url_with(&s, "/login", &[("return_to", bad)]))
            .send()
            .await
            .unwrap();
        let html = r.text().await.unwrap();
        assert_eq!(
            hidden_input(&html, "return_to").as_deref(),
            Some("/myaccount")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_creates_a_session_with_the_designed_cookies() {
    let s = spawn().await;
    let alice = s.user("alice", PW, &[]).await;
    let r = post_login(&s, "Alice", PW, &[("return_to", "/oauth2/authorize?x=1")]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location"), s.url("/oauth2/authorize?x=1"));
    assert_eq!(header(&r, "cache-control"), "no-store");
    let sc = raw_set_cookie(&r, "warden_session");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(sc.contains(attr), "{attr} missing in {sc}");
    }
    assert!(
        !sc.contains("Max-Age"),
        "no remember-me: a browser-session cookie"
    );
    let bs = raw_set_cookie(&r, "warden_bs");
    assert!(!bs.is_empty() && !bs.contains("HttpOnly"), "{bs}");
    assert!(raw_set_cookie(&r, "warden_csrf").contains("Max-Age=0"));
    let cookie = flow::cookie_header_from(r.headers());
    let v = cookie_value(&cookie, "warden_session").unwrap();
    // `<sid>.<secret>.<user id>`: only the secret's hash is stored.
    let parts = warden_core::session::parse_cookie_value(&v).unwrap();
    assert_eq!(parts.user_id, Some(alice.user_id.as_str()));
    let sess = s.store().get_session(parts.sid).await.unwrap().unwrap();
    assert_eq!(sess.user_id, alice.user_id);
    assert_eq!(sess.secret_hash, hash_secret(parts.secret));
    assert!(!sess.remember_me);
    assert_eq!(sess.ip, "127.0.0.1");
    let cfg = &s.app().config;
    assert_eq!(
        sess.absolute_expires_at - sess.auth_time,
        cfg.session_absolute.as_secs() as i64
    );
    assert_eq!(
        sess.idle_expires_at - sess.auth_time,
        cfg.session_idle.as_secs() as i64
    );

    // Remember me: a persistent cookie and the long lifetime. Unsafe return_to → default.
    let r = post_login(
        &s,
        "alice",
        PW,
        &[
            ("remember_me", "on"),
            ("return_to", "https://evil.example/"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location"), s.url("/myaccount"));
    assert!(raw_set_cookie(&r, "warden_session").contains("Max-Age="));
    let cookie = flow::cookie_header_from(r.headers());
    let v = cookie_value(&cookie, "warden_session").unwrap();
    let sess = s
        .store()
        .get_session(v.split_once('.').unwrap().0)
        .await
        .unwrap()
        .unwrap();
    assert!(sess.remember_me);
    assert_eq!(
        sess.absolute_expires_at - sess.auth_time,
        cfg.remember_me.as_secs() as i64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_refuses_missing_or_mismatched_csrf() {
    let s = spawn().await;
    s.user("alice", PW, &[]).await;
    let (cookie, token) = flow::login_form(&s).await;
    let form = |t: &str| {
        vec![
            ("username".to_string(), "alice".to_string()),
            ("password".to_string(), PW.to_string()),
            ("csrf_token".to_string(), t.to_string()),
        ]
    };
    // No cookie.
    let r = s
        .http
        .post(s.url("/login"))
        .form(&form(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(set_cookie_value(r.headers(), "warden_session").is_none());
    // Mismatch.
    let r = s
        .http
        .post(s.url("/login"))
        .header("cookie", format!("warden_csrf={cookie}"))
        .form(&form("not-the-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(set_cookie_value(r.headers(), "warden_session").is_none());
    // No field.
    let r = s
        .http
        .post(s.url("/login"))
        .header("cookie", format!("warden_csrf={cookie}"))
        .form(&[("username", "alice"), ("password", PW)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

fn error_text(html: &str) -> String {
    let start = html.find(r#"role="alert">"#).expect("error shown") + 13;
    let end = html[start..].find('<').unwrap();
    html[start..start + end].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_get_one_generic_answer() {
    let s = spawn().await;
    let bob = s.user("bob", PW, &[]).await;
    s.user("alice", PW, &[]).await;
    let mut disabled = bob.clone();
    disabled.disabled = true;
    s.store().update_user(&disabled).await.unwrap();
    let mut answers = Vec::new();
    for (u, p) in [("nobody", PW), ("alice", "wrong password"), ("bob", PW)] {
        let r = post_login(&s, u, p, &[]).await;
        let status = r.status().as_u16();
        assert!(set_cookie_value(r.headers(), "warden_session").is_none());
        answers.push((status, error_text(&r.text().await.unwrap())));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[1], answers[2]);
    assert_eq!(answers[0].0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_are_throttled_per_user_and_per_ip() {
    // The per-address limit is 100 by default; 20 here keeps the test short.
    let s = warden_tests::spawn_with(warden_tests::Options {
        configure: Some(|c| c.login_max_failures_per_ip = 20),
        ..Default::default()
    })
    .await;
    s.user("alice", PW, &[]).await;
    s.user("carol", PW, &[]).await;
    for _ in 0..5 {
        let r = post_login(&s, "alice", "wrong", &[]).await;
        assert_eq!(r.status(), 200);
    }
    // Even the right password is not checked now.
    let r = post_login(&s, "alice", PW, &[]).await;
    assert_eq!(r.status(), 429);
    assert!(set_cookie_value(r.headers(), "warden_session").is_none());
    // Retry-After is the rest of the 15-minute window, not a constant.
    let retry: i64 = header(&r, "retry-after").parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert!(r.text().await.unwrap().contains("incorrect"));
    // The limit is per username *and* address: alice from another address still signs in,
    // so an attacker cannot lock her out from everywhere.
    let elsewhere = warden_core::session::login::authenticate(
        s.app(),
        &warden_core::session::login::Attempt {
            username: "alice",
            password: PW,
            remember_me: false,
            user_agent: "test",
            ip: "203.0.113.7",
        },
    )
    .await
    .unwrap();
    assert!(matches!(
        elsewhere,
        warden_core::session::login::LoginOutcome::Success(..)
    ));
    // Another user from the same IP still signs in (5 < 20 per IP).
    login(&s, "carol", PW).await;
    // 20 failures from one IP (spread over unknown users) block the IP.
    for i in 0..15 {
        let r = post_login(&s, &format!("ghost{i}"), "wrong", &[]).await;
        assert_eq!(r.status(), 200, "attempt {i}");
    }
    let r = post_login(&s, "carol", PW, &[]).await;
    assert_eq!(r.status(), 429);
}

// ---------------------------------------------------------------- authorize: client checks

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_client_or_redirect_uri_is_an_error_page_never_a_redirect() {
    let s = spawn().await;
    s.user("alice", PW, &[]).await;
    let (c, _) = s.client(conf("app1")).await;
    let mut multi = conf("multi");
    multi.redirect_uris = vec![RP.into(), RP2.into()];
    s.client(multi).await;
    let mut off = conf("off");
    off.redirect_uris = vec![RP.into()];
    let (mut off_c, _) = s.client(off).await;
    off_c.disabled = true;
    s.store().put_client(&off_c, false).await.unwrap();
    let cookie = login(&s, "alice", PW).await;
    let base = [
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "xyz"),
    ];
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![("client_id", "nope"), ("redirect_uri", RP)],
        vec![("client_id", "off"), ("redirect_uri", RP)],
        vec![
            ("client_id", c.client_id.as_str()),
            ("redirect_uri", "https://evil.example/cb"),
        ],
        // An added query string or a trailing slash is not an exact match.
        vec![
            ("client_id", c.client_id.as_str()),
            ("redirect_uri", "https://rp.example/cb?x=1"),
        ],
        vec![
            ("client_id", c.client_id.as_str()),
            ("redirect_uri", "https://rp.example/cb/"),
        ],
        vec![("client_id", "multi")],
        vec![("redirect_uri", RP)],
        vec![
            ("client_id", c.client_id.as_str()),
            ("client_id", "x"),
            ("redirect_uri", RP),
        ],
    ];
    for case in cases {
        let mut p: Vec<(&str, &str)> = base.to_vec();
        p.extend(case.iter().cloned());
        for ck in ["", cookie.as_str()] {
            let r = authorize(&s, ck, &p).await;
            assert_eq!(r.status, 400, "{case:?}");
            assert!(r.location.is_none(), "never a redirect: {case:?}");
            assert!(r.body.contains("<html"), "an HTML page: {case:?}");
            assert!(!r.body.contains("evil.example"));
        }
    }
    // OIDC Core §3.1.2.1: an OpenID request must send redirect_uri, even when the client
    // has registered only one (it was once filled in): an error page, never a redirect.
    let r = authorize(
        &s,
        &cookie,
        &[
            ("response_type", "code"),
            ("scope", "openid"),
            ("client_id", "app1"),
        ],
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.location.is_none());
    assert!(r.body.contains("redirect_uri"));
}

// ---------------------------------------------------------------- authorize: code flow

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_browser_goes_to_login_and_comes_back_with_a_code() {
    let (s, cid) = stack_with_client(conf("app1")).await;
    let alice = s.store().user_by_username("alice").await.unwrap().unwrap();
    let (verifier, challenge) = pkce();
    let p = [
        ("response_type", "code"),
        ("client_id", cid.as_str()),
        ("redirect_uri", RP),
        ("scope", "openid email"),
        ("state", "st&ate 1"),
        ("nonce", "n-0S6_WzA2Mj"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let r = authorize(&s, "", &p).await;
    assert_eq!(r.status, 302);
    let loc = url::Url::parse(r.location.as_deref().unwrap()).unwrap();
    assert_eq!(loc.path(), "/login");
    let return_to: String = loc
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(return_to.starts_with("/oauth2/authorize?"), "{return_to}");
    // Sign in with that return_to; the login page sends the browser back.
    let lr = post_login(&s, "alice", PW, &[("return_to", &return_to)]).await;
    assert_eq!(lr.status(), 303);
    let back = header(&lr, "location").to_string();
    assert_eq!(back, s.url(&return_to));
    let cookie = flow::cookie_header_from(lr.headers());
    let r = flow::authz_response(
        s.http
            .get(&back)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 302, "{r:?}");
    assert!(r.location.as_deref().unwrap().starts_with(RP));
    assert_eq!(r.param("state"), Some("st&ate 1"));
    let code = r.param("code").unwrap().to_string();
    // Sealed: URL-safe and opaque (nothing of the grant readable in it).
    assert!(code.len() < 600, "{}", code.len());
    assert!(code
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
    assert!(!code.contains("example"), "{code}");
    // session_state = hash.salt over client_id, the RP origin, the browser state, the salt.
    let ss = r.param("session_state").unwrap();
    assert!(!ss.contains(' '));
    let (_, salt) = ss.rsplit_once('.').unwrap();
    let bs = cookie_value(&cookie, "warden_bs").unwrap();
    assert_eq!(
        ss,
        warden_core::oauth::oidc::session_state(&cid, "https://rp.example", &bs, salt)
    );
    // The code records everything the token endpoint needs.
    let sid = cookie_value(&cookie, "warden_session")
        .unwrap()
        .split_once('.')
        .unwrap()
        .0
        .to_string();
    let item = code_item(&s, &code).await;
    assert_eq!(item.client_id, cid);
    assert_eq!(item.redirect_uri, RP);
    assert_eq!(item.user_id, alice.user_id);
    assert_eq!(item.sid, sid);
    assert_eq!(item.scope, "openid email");
    assert_eq!(item.nonce.as_deref(), Some("n-0S6_WzA2Mj"));
    assert_eq!(
        item.code_challenge.as_deref(),
        Some(warden_core::platform::crypto::pkce_s256(&verifier).as_str())
    );
    assert!(item.browser_binding.is_none());
    let now = warden_core::platform::time::now_s();
    assert!(item.valid_until > now && item.valid_until <= now + 60);
    assert_eq!(
        item.claims.email.as_deref(),
        Some(alice.email.as_str()),
        "the scope's claims travel in the code"
    );
    // Nothing is stored for a code until it is exchanged.
    let link = s
        .store()
        .get_code_link(&sid, &hash_secret(&code))
        .await
        .unwrap();
    assert!(link.is_none());
    let sess = s.store().get_session(&sid).await.unwrap().unwrap();
    assert_eq!(item.auth_time, sess.auth_time);
    // The client joined the session's app list (with its back-channel flag).
    let app = sess.apps.get(&cid).expect("app recorded");
    assert_eq!(app.name, "App app1");
    assert!(app.backchannel);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_form_and_form_post_response_mode() {
    let (s, cid) = stack_with_client(conf("app1")).await;
    // POST without a session: the login page returns to the equivalent GET URL.
    let r = flow::authz_response(
        s.http
            .post(s.url("/oauth2/authorize"))
            .form(&[
                ("response_type", "code"),
                ("client_id", cid.as_str()),
                ("redirect_uri", RP),
                ("scope", "openid"),
                ("state", "s1"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 302);
    let loc = url::Url::parse(r.location.as_deref().unwrap()).unwrap();
    let rt: String = loc
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let rtu = url::Url::parse(&s.url(&rt)).unwrap();
    let q: std::collections::BTreeMap<String, String> = rtu.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], cid);
    assert_eq!(q["state"], "s1");
    assert_eq!(q["redirect_uri"], RP);

    let cookie = login(&s, "alice", PW).await;
    let r = s
        .http
        .post(s.url("/oauth2/authorize"))
        .header("cookie", &cookie)
        .form(&[
            ("response_type", "code"),
            ("client_id", cid.as_str()),
            ("redirect_uri", RP),
            ("scope", "openid"),
            ("state", "<s2>"),
            ("response_mode", "form_post"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "cache-control"), "no-store");
    let html = r.text().await.unwrap();
    assert!(html.contains(&format!(r#"action="{RP}""#)));
    assert_eq!(hidden_input(&html, "state").as_deref(), Some("<s2>"));
    assert!(!html.contains("<s2>"), "escaped");
    let code = hidden_input(&html, "code").unwrap();
    assert!(hidden_input(&html, "session_state").is_some());
    code_item(&s, &code).await;
    // Errors use form_post too.
    let r = s
        .http
        .get(flow::url_with(
            &s,
            "/oauth2/authorize",
            &[
                ("response_type", "token"),
                ("client_id", cid.as_str()),
                ("redirect_uri", RP),
                ("scope", "openid"),
                ("response_mode", "form_post"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert_eq!(
        hidden_input(&html, "error").as_deref(),
        Some("unsupported_response_type")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_errors_redirect_with_state_and_session_state() {
    let s = spawn().await;
    s.user("alice", PW, &[]).await;
    s.client(conf("app1")).await;
    let mut public = conf("spa");
    public.public = true;
    public.backchannel_logout_uri = None;
    s.client(public).await;
    let mut narrow = conf("narrow");
    narrow.scopes = vec!["openid".into()];
    s.client(narrow).await;
    let cookie = login(&s, "alice", PW).await;
    let (_, challenge) = pkce();
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "app1",
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (
            "app1",
            vec![("response_type", "id_token")],
            "unsupported_response_type",
        ),
        ("app1", vec![("scope", "email")], "invalid_scope"),
        ("app1", vec![("scope", "openid bogus")], "invalid_scope"),
        ("narrow", vec![("scope", "openid email")], "invalid_scope"),
        ("app1", vec![("prompt", "none login")], "invalid_request"),
        ("app1", vec![("prompt", "bogus")], "invalid_request"),
        ("app1", vec![("max_age", "-1")], "invalid_request"),
        (
            "app1",
            vec![("response_mode", "fragment")],
            "invalid_request",
        ),
        (
            "app1",
            vec![("request", "eyJ.x.y")],
            "request_not_supported",
        ),
        (
            "app1",
            vec![
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
        ),
        (
            "app1",
            vec![("code_challenge", challenge.as_str())],
            "invalid_request",
        ),
        (
            "app1",
            vec![
                ("code_challenge", "short"),
                ("code_challenge_method", "S256"),
            ],
            "invalid_request",
        ),
        ("spa", vec![], "invalid_request"),
        ("app1", vec![("state", "again")], "invalid_request"),
        (
            "app1",
            vec![("id_token_hint", "not-a-jwt")],
            "invalid_request",
        ),
    ];
    for (cid, extra, want) in cases {
        let mut p: Vec<(&str, &str)> =
            vec![("client_id", cid), ("redirect_uri", RP), ("state", "st1")];
        let overrides: Vec<&str> = extra.iter().map(|(k, _)| *k).collect();
        for (k, v) in [("response_type", "code"), ("scope", "openid")] {
            if !overrides.contains(&k) {
                p.push((k, v));
            }
        }
        p.extend(extra.iter().cloned());
        for ck in ["", cookie.as_str()] {
            let r = authorize(&s, ck, &p).await;
            assert_eq!(r.status, 302, "{cid} {extra:?}");
            assert!(r.location.as_deref().unwrap().starts_with(RP));
            assert_eq!(r.param("error"), Some(want), "{cid} {extra:?}");
            assert!(r.param("error_description").is_some());
            assert_eq!(r.param("state"), Some("st1"));
            assert!(r.param("session_state").is_some());
            assert!(r.param("code").is_none());
        }
    }
    // A public client with S256 gets its code.
    let (code, _, _) = authorize_code(
        &s,
        &cookie,
        "spa",
        RP,
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert!(code_item(&s, &code).await.code_challenge.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_none_never_shows_ui() {
    let (s, cid) = stack_with_client(conf("app1")).await;
    let p = [
        ("response_type", "code"),
        ("client_id", cid.as_str()),
        ("redirect_uri", RP),
        ("scope", "openid"),
        ("state", "abc"),
        ("prompt", "none"),
    ];
    let r = authorize(&s, "", &p).await;
    assert_eq!(r.status, 302);
    assert!(r.location.as_deref().unwrap().starts_with(RP));
    assert_eq!(r.param("error"), Some("login_required"));
    assert_eq!(r.param("state"), Some("abc"));
    assert!(r.param("session_state").is_some());
    // A forged or ended session cookie is no session.
    let r = authorize(&s, "warden_session=abc.def; warden_bs=x", &p).await;
    assert_eq!(r.param("error"), Some("login_required"));
    let cookie = login(&s, "alice", PW).await;
    let r = authorize(&s, &cookie, &p).await;
    assert!(r.param("code").is_some(), "{r:?}");
    assert_eq!(r.param("state"), Some("abc"));
    // The session cookie is `<sid>.<secret>.<user id>`: another user's id in it is no
    // session; the older `<sid>.<secret>` form still is one.
    let v = cookie_value(&cookie, "warden_session").unwrap();
    let parts = warden_core::session::parse_cookie_value(&v).unwrap();
    let bob = s.user("bob", PW, &[]).await;
    let swapped = format!(
        "warden_session={}.{}.{}",
        parts.sid, parts.secret, bob.user_id
    );
    let r = authorize(&s, &swapped, &p).await;
    assert_eq!(r.param("error"), Some("login_required"), "{r:?}");
    let legacy = format!("warden_session={}.{}", parts.sid, parts.secret);
    let r = authorize(&s, &legacy, &p).await;
    assert!(r.param("code").is_some(), "{r:?}");
    let wrong_secret = format!(
        "warden_session={}.x{}.{}",
        parts.sid,
        parts.secret,
        parts.user_id.unwrap()
    );
    let r = authorize(&s, &wrong_secret, &p).await;
    assert_eq!(r.param("error"), Some("login_required"), "{r:?}");
    // After the session ends, prompt=none fails (checklist 16).
    let sid = cookie_value(&cookie, "warden_session")
        .unwrap()
        .split_once('.')
        .unwrap()
        .0
        .to_string();
    warden_core::session::terminate(
        s.app(),
        &sid,
        None,
        warden_core::store::schema::EndReason::User,
    )
    .await
    .unwrap();
    let r = authorize(&s, &cookie, &p).await;
    assert_eq!(r.param("error"), Some("login_required"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_expired_session_needs_a_new_login() {
    let s = spawn_with(Options {
        configure: Some(|c| c.session_idle = std::time::Duration::from_secs(1)),
        ..Default::default()
    })
    .await;
    s.user("alice", PW, &[]).await;
    s.client(conf("app1")).await;
    let cookie = login(&s, "alice", PW).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let p = [
        ("response_type", "code"),
        ("client_id", "app1"),
        ("redirect_uri", RP),
        ("scope", "openid"),
    ];
    let mut pn = p.to_vec();
    pn.push(("prompt", "none"));
    let r = authorize(&s, &cookie, &pn).await;
    assert_eq!(r.param("error"), Some("login_required"));
    let r = authorize(&s, &cookie, &p).await;
    assert!(r.location.unwrap().contains("/login?return_to="));
}

async fn reauth_round_trip(s: &Stack, cookie: &str, p: &[(&str, &str)]) -> (String, String) {
    let r = authorize(s, cookie, p).await;
    assert_eq!(r.status, 302);
    let loc = url::Url::parse(r.location.as_deref().unwrap()).unwrap();
    assert_eq!(loc.path(), "/login", "re-authentication required");
    let rt: String = loc
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let lr = post_login(s, "alice", PW, &[("return_to", &rt)]).await;
    assert_eq!(lr.status(), 303);
    // The marker counts only in the browser it was issued to: carry its binding cookie.
    let binding = r
        .set_cookies
        .iter()
        .find(|(n, _)| n == "warden_reauth_binding")
        .map(|(_, v)| v.clone())
        .expect("the hop to the login page binds its marker to the browser");
    let cookie = format!(
        "{}; warden_reauth_binding={binding}",
        flow::cookie_header_from(lr.headers())
    );
    (cookie, header(&lr, "location").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_login_and_max_age_force_a_fresh_login_without_looping() {
    let (s, cid) = stack_with_client(conf("app1")).await;
    let cookie = login(&s, "alice", PW).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for extra in [("prompt", "login"), ("max_age", "0")] {
        let p = [
            ("response_type", "code"),
            ("client_id", cid.as_str()),
            ("redirect_uri", RP),
            ("scope", "openid"),
            ("state", "s"),
            extra,
        ];
        let (new_cookie, back) = reauth_round_trip(&s, &cookie, &p).await;
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let r = flow::authz_response(
            s.http
                .get(&back)
                .header("cookie", &new_cookie)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 302);
        assert!(
            r.location.as_deref().unwrap().starts_with(RP),
            "{extra:?}: {r:?}"
        );
        let code = r.param("code").expect("code after re-login").to_string();
        let item = code_item(&s, &code).await;
        assert!(item.auth_time >= warden_core::platform::time::now_s() - 3);
        // A tampered marker does not count.
        let forged = back.replace("warden_reauth=", "warden_reauth=1");
        let r = flow::authz_response(
            s.http
                .get(&forged)
                .header("cookie", &new_cookie)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(r.location.unwrap().contains("/login?"), "{extra:?}");
    }
    // A generous max_age passes without UI.
    let (code, _, _) = authorize_code(&s, &cookie, &cid, RP, &[("max_age", "3600")]).await;
    assert!(!code.is_empty());
    // max_age exceeded with prompt=none → login_required.
    let r = authorize(
        &s,
        &cookie,
        &[
            ("response_type", "code"),
            ("client_id", cid.as_str()),
            ("redirect_uri", RP),
            ("scope", "openid"),
            ("max_age", "0"),
            ("prompt", "none"),
        ],
    )
    .await;
    assert_eq!(r.param("error"), Some("login_required"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_token_hint_is_verified_and_matched_to_the_session() {
    let (s, cid) = stack_with_client(conf("app1")).await;
    let bob = s.user("bob", PW, &[]).await;
    let alice = s.store().user_by_username("alice").await.unwrap().unwrap();
    let cookie = login(&s, "alice", PW).await;
    let sid = cookie_value(&cookie, "warden_session")
        .unwrap()
        .split_once('.')
        .unwrap()
        .0
        .to_string();
    let keys = s.app().keys().await.unwrap();
    let now = warden_core::platform::time::now_s();
    let tok = |sub: &str, sid: &str, exp: i64| {
        keys.sign(
            "JWT",
            &json!({"iss": s.base, "sub": sub, "aud": cid, "iat": now - 10, "exp": exp, "sid": sid}),
        )
        .unwrap()
    };
    let run = |hint: String| {
        let s = &s;
        let cookie = cookie.clone();
        let cid = cid.clone();
        async move {
            authorize(
                s,
                &cookie,
                &[
                    ("response_type", "code"),
                    ("client_id", cid.as_str()),
                    ("redirect_uri", RP),
                    ("scope", "openid"),
                    ("state", "h"),
                    ("prompt", "none"),
                    ("id_token_hint", hint.as_str()),
                ],
            )
            .await
        }
    };
    // Matching hint (even expired) → code.
    let r = run(tok(&alice.user_id, &sid, now + 600)).await;
    assert!(r.param("code").is_some(), "{r:?}");
    let r = run(tok(&alice.user_id, &sid, now - 3600)).await;
    assert!(r.param("code").is_some(), "expired hints are fine: {r:?}");
    // Another user or another session → login_required.
    let r = run(tok(&bob.user_id, &sid, now + 600)).await;
    assert_eq!(r.param("error"), Some("login_required"));
    assert_eq!(r.param("state"), Some("h"));
    let r = run(tok(&alice.user_id, "other-sid", now + 600)).await;
    assert_eq!(r.param("error"), Some("login_required"));
    // Tampered payload, alg none, foreign issuer → invalid_request, never a silent pass.
    let good = tok(&alice.user_id, &sid, now + 600);
    let parts: Vec<&str> = good.split('.').collect();
    let claims: Value =
        serde_json::from_slice(&warden_core::platform::crypto::b64_decode(parts[1]).unwrap())
            .unwrap();
    let mut changed = claims.clone();
    changed["sub"] = json!(bob.user_id);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(changed.to_string().as_bytes()),
        parts[2]
    );
    let none = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), parts[1]);
    let mut foreign_iss = claims.clone();
    foreign_iss["iss"] = json!("https://evil.example");
    let foreign = keys.sign("JWT", &foreign_iss).unwrap();
    let other_key = warden_core::keys::signing::KeySet::from_items(&[
        warden_core::keys::signing::generate_key_item(1).unwrap(),
    ])
    .unwrap();
    let foreign_key = other_key.sign("JWT", &claims).unwrap();
    for bad in [tampered, none, foreign, foreign_key] {
        let r = run(bad).await;
        assert_eq!(r.param("error"), Some("invalid_request"), "{r:?}");
        assert!(r.param("session_state").is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_type_none_follows_ping_am() {
    let (s, cid) = stack_with_client(conf("app1")).await;
    let p = |extra: &[(&'static str, &'static str)]| {
        let mut v: Vec<(&str, String)> = vec![
            ("response_type", "none".into()),
            ("client_id", cid.clone()),
            ("scope", "openid".into()),
        ];
        v.extend(extra.iter().map(|(k, x)| (*k, x.to_string())));
        v
    };
    let get = |cookie: String, params: Vec<(&'static str, String)>| {
        let s = &s;
        async move {
            let mut r = s.http.get(flow::url_with(s, "/oauth2/authorize", &params));
            if !cookie.is_empty() {
                r = r.header("cookie", cookie);
            }
            r.send().await.unwrap()
        }
    };
    // No session, no redirect_uri → 400 JSON.
    let r = get(String::new(), p(&[])).await;
    assert_eq!(r.status(), 400);
    assert_eq!(header(&r, "cache-control"), "no-store");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "login_required");
    // No session, with redirect_uri and prompt=none → login_required redirect.
    let r = flow::authz_response(
        get(
            String::new(),
            p(&[("redirect_uri", RP), ("prompt", "none"), ("state", "q")]),
        )
        .await,
    )
    .await;
    assert_eq!(r.param("error"), Some("login_required"));
    let cookie = login(&s, "alice", PW).await;
    // Valid session, no redirect_uri → 204.
    let r = get(cookie.clone(), p(&[])).await;
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "cache-control"), "no-store");
    // Valid session, redirect_uri → only state and session_state.
    let r =
        flow::authz_response(get(cookie.clone(), p(&[("redirect_uri", RP), ("state", "q")])).await)
            .await;
    assert_eq!(r.status, 302);
    let keys: Vec<&str> = r.params.keys().map(String::as_str).collect();
    assert_eq!(keys, vec!["session_state", "state"]);
    assert_eq!(r.param("state"), Some("q"));
    // An invalid request without redirect_uri is a 400 JSON error as well.
    let r = get(cookie.clone(), p(&[("prompt", "none login")])).await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_scopes_follow_the_users_roles() {
    let mut spec = conf("admin-app");
    spec.scopes = vec![
        "openid".into(),
        "internal_login".into(),
        "internal_session_view".into(),
        "internal_session_delete".into(),
    ];
    let (s, cid) = stack_with_client(spec).await;
    s.user("root", PW, &["internal_session_view"]).await;
    let scope = "openid internal_login internal_session_view internal_session_delete";
    let alice = login(&s, "alice", PW).await;
    let (code, _, _) = authorize_code(&s, &alice, &cid, RP, &[("scope", scope)]).await;
    assert_eq!(code_item(&s, &code).await.scope, "openid internal_login");
    let root = login(&s, "root", PW).await;
    let (code, _, _) = authorize_code(&s, &root, &cid, RP, &[("scope", scope)]).await;
    assert_eq!(
        code_item(&s, &code).await.scope,
        "openid internal_login internal_session_view"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_binding_sets_and_reuses_the_browser_cookie() {
    let mut spec = conf("bound");
    spec.token_binding = Some("cookie".into());
    let (s, cid) = stack_with_client(spec).await;
    let cookie = login(&s, "alice", PW).await;
    let p = [
        ("response_type", "code"),
        ("client_id", cid.as_str()),
        ("redirect_uri", RP),
        ("scope", "openid"),
    ];
    let r = authorize(&s, &cookie, &p).await;
    let atbv = r
        .set_cookies
        .iter()
        .find(|(n, _)| n == "warden_atbv")
        .map(|(_, v)| v.clone())
        .expect("binding cookie set");
    let item = code_item(&s, r.param("code").unwrap()).await;
    assert_eq!(item.browser_binding, Some(hash_secret(&atbv)));
    // The same browser keeps its binding.
    let with = format!("{cookie}; warden_atbv={atbv}");
    let r = authorize(&s, &with, &p).await;
    assert!(r.set_cookies.iter().all(|(n, _)| n != "warden_atbv"));
    let item = code_item(&s, r.param("code").unwrap()).await;
    assert_eq!(item.browser_binding, Some(hash_secret(&atbv)));
    // Raw attributes.
    let r = s
        .http
        .get(flow::url_with(&s, "/oauth2/authorize", &p))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let c = raw_set_cookie(&r, "warden_atbv");
    for attr in ["HttpOnly", "SameSite=Lax", "Max-Age=31536000"] {
        assert!(c.contains(attr), "{attr} missing in {c}");
    }
    assert_eq!(header(&r, "cache-control"), "no-store");
}
