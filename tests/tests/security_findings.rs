//! Regression tests for the security review's findings (issue 16), over HTTP against the
//! local stack and, for the throttle's reservation, against both engines. Each fails on the
//! code before its fix.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;
use warden_core::admin::ClientSpec;
use warden_core::store::schema::ClientItem;
use warden_core::store::ThrottleSubject;
use warden_tests::flow::{self, authorize, authorize_code, cookie_value, set_cookies};
use warden_tests::rp::TestRp;
use warden_tests::{spawn, spawn_with, Options, Stack};

const PW: &str = "correct horse battery";
const RP: &str = "https://rp.example.org/cb";
const SCOPE: &str = "openid profile internal_login";

async fn bound_client(s: &Stack, binding: &str) -> (ClientItem, String) {
    let (c, secret) = s
        .client(ClientSpec {
            name: format!("Bound {binding}"),
            redirect_uris: vec![RP.into()],
            scopes: vec!["openid".into(), "profile".into(), "internal_login".into()],
            token_binding: Some(binding.into()),
            ..Default::default()
        })
        .await;
    (c, secret.unwrap())
}

/// A login POST from a browser that already carries `cookie` (may be empty).
async fn login_in(s: &Stack, cookie: &str, username: &str) -> reqwest::Response {
    let (csrf_cookie, csrf_token) = flow::login_form(s).await;
    let mut all = format!("warden_csrf={csrf_cookie}");
    if !cookie.is_empty() {
        all = format!("{all}; {cookie}");
    }
    s.http
        .post(s.url("/login"))
        .header("cookie", all)
        .form(&[
            ("username", username),
            ("password", PW),
            ("csrf_token", &csrf_token),
        ])
        .send()
        .await
        .unwrap()
}

/// Authorize + exchange for the browser `cookie`; the access token and any binding cookie
/// the authorize answer set.
async fn token_in(
    s: &Stack,
    cookie: &str,
    c: &ClientItem,
    secret: &str,
) -> (String, Option<String>) {
    let p = [
        ("response_type", "code"),
        ("client_id", c.client_id.as_str()),
        ("redirect_uri", RP),
        ("scope", SCOPE),
    ];
    let r = authorize(s, cookie, &p).await;
    assert_eq!(r.status, 302, "{r:?}");
    let atbv = r
        .set_cookies
        .iter()
        .find(|(n, _)| n == "warden_atbv")
        .map(|(_, v)| v.clone());
    let code = r.param("code").expect("code").to_string();
    let t: Value = flow::exchange_code(s, &c.client_id, secret, &code, RP, None)
        .await
        .json()
        .await
        .unwrap();
    (t["access_token"].as_str().expect("token").to_string(), atbv)
}

/// What every reader of a token says about whose it is: userinfo's username,
/// introspection's `sub`, and the user of the sessions the Me API lists.
async fn whose(s: &Stack, c: &ClientItem, secret: &str, at: &str) -> (String, String, String) {
    let ui: Value = s
        .http
        .get(s.url("/oauth2/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let intro: Value = s
        .http
        .post(s.url("/oauth2/introspect"))
        .basic_auth(&c.client_id, Some(secret))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let me: Value = s
        .http
        .get(s.url("/api/users/v1/me/sessions"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let uid = me["userId"]
        .as_str()
        .expect("the Me API's user")
        .to_string();
    let me_user = s.store().get_user(&uid).await.unwrap().unwrap().username;
    (
        ui["preferred_username"].as_str().unwrap_or("").to_string(),
        intro["username"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| {
                let sub = intro["sub"].as_str().unwrap_or("");
                format!("sub:{sub}")
            }),
        me_user,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_binding_never_hands_one_users_token_to_another() {
    let s = spawn().await;
    let alice = s.user("alice", PW, &["internal_login"]).await;
    let bob = s.user("bob", PW, &["internal_login"]).await;
    for binding in ["cookie", "none"] {
        let (c, secret) = bound_client(&s, binding).await;
        // Alice signs in to browser 1 and gets a token.
        let a = flow::cookie_header_from(login_in(&s, "", "alice").await.headers());
        let (alice_at, atbv) = token_in(&s, &a, &c, &secret).await;
        let with_atbv = match &atbv {
            Some(v) => format!("{a}; warden_atbv={v}"),
            None => a.clone(),
        };
        let (u, i, m) = whose(&s, &c, &secret, &alice_at).await;
        assert_eq!(
            (u.as_str(), i, m.as_str()),
            ("alice", format!("sub:{}", alice.user_id), "alice")
        );

        // A fresh browser that carries only Alice's binding cookie: Bob gets his own token.
        let b = flow::cookie_header_from(login_in(&s, "", "bob").await.headers());
        let b_with_alices = match &atbv {
            Some(v) => format!("{b}; warden_atbv={v}"),
            None => b.clone(),
        };
        let (bob_at, _) = token_in(&s, &b_with_alices, &c, &secret).await;
        assert_ne!(bob_at, alice_at, "{binding}: Bob got Alice's token");
        let (u, i, m) = whose(&s, &c, &secret, &bob_at).await;
        assert_eq!(
            (u.as_str(), i, m.as_str()),
            ("bob", format!("sub:{}", bob.user_id), "bob"),
            "{binding}"
        );
        let (u, _, _) = whose(&s, &c, &secret, &alice_at).await;
        assert_eq!(u, "alice", "{binding}: Alice's token is still Alice's");

        // Bob signs in to browser 1 itself (Alice's session ends there): his token is his.
        let lr = login_in(&s, &with_atbv, "bob").await;
        assert_eq!(lr.status(), 303);
        let b1 = flow::cookie_header_from(lr.headers());
        let b1 = match &atbv {
            Some(v) => format!("{b1}; warden_atbv={v}"),
            None => b1,
        };
        let (bob_at2, _) = token_in(&s, &b1, &c, &secret).await;
        assert_ne!(bob_at2, alice_at, "{binding}");
        let (u, i, m) = whose(&s, &c, &secret, &bob_at2).await;
        assert_eq!(
            (u.as_str(), i, m.as_str()),
            ("bob", format!("sub:{}", bob.user_id), "bob"),
            "{binding}"
        );
    }
}

/// The claims of a JWT (its signature is checked elsewhere: logout_pipeline.rs).
fn jwt_claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_as_another_user_ends_the_browsers_previous_session_with_its_notifications() {
    let s = spawn_with(Options {
        retry_base: Duration::from_millis(50),
        ..Default::default()
    })
    .await;
    s.user("alice", PW, &[]).await;
    s.user("bob", PW, &[]).await;
    let rp = TestRp::start().await;
    let (c, _) = s
        .client(ClientSpec {
            client_id: Some("bcl".into()),
            name: "BCL app".into(),
            redirect_uris: vec![format!("http://{}/cb", rp.addr)],
            backchannel_logout_uri: Some(rp.uri()),
            backchannel_logout_session_required: true,
            ..Default::default()
        })
        .await;
    let redirect = c.redirect_uris[0].clone();
    let alice = flow::cookie_header_from(login_in(&s, "", "alice").await.headers());
    let alice_sid = cookie_value(&alice, "warden_session")
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .to_string();
    authorize_code(&s, &alice, "bcl", &redirect, &[]).await;

    // The same user signing in again keeps the earlier session (re-authentication).
    let again = login_in(&s, &alice, "alice").await;
    assert_eq!(again.status(), 303);
    let live = s.store().get_session(&alice_sid).await.unwrap().unwrap();
    assert!(live.is_live(warden_core::platform::time::now_s()));

    // Bob in the same browser: Alice's session ends through termination.
    let lr = login_in(&s, &alice, "bob").await;
    assert_eq!(lr.status(), 303);
    let ended = s.store().get_session(&alice_sid).await.unwrap().unwrap();
    assert_eq!(ended.status, "ended");
    assert_eq!(ended.ended_reason.as_deref(), Some("user_switch"));
    assert_eq!(rp.wait_for(1, Duration::from_secs(10)).await, 1);
    let claims = jwt_claims(&rp.logout_tokens()[0]);
    assert_eq!(claims["sid"], alice_sid.as_str());
    // Alice's old cookie answers prompt=none with login_required, not as Alice.
    let r = authorize(
        &s,
        &alice,
        &[
            ("response_type", "code"),
            ("client_id", "bcl"),
            ("redirect_uri", &redirect),
            ("scope", "openid"),
            ("prompt", "none"),
        ],
    )
    .await;
    assert_eq!(r.param("error"), Some("login_required"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_parallel_wrong_passwords_check_at_most_the_limit() {
    let s = spawn().await;
    s.user("alice", PW, &[]).await;
    let (csrf_cookie, csrf_token) = flow::login_form(&s).await;
    let attempts = (0..40).map(|i| {
        let (s, c, t) = (&s, csrf_cookie.clone(), csrf_token.clone());
        async move {
            // All wrong: a right one among them could win a slot and give it back.
            let pw = format!("wrong {i}");
            s.http
                .post(s.url("/login"))
                .header("cookie", format!("warden_csrf={c}"))
                .form(&[
                    ("username", "alice"),
                    ("password", pw.as_str()),
                    ("csrf_token", t.as_str()),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    let checked = statuses.iter().filter(|st| **st != 429).count();
    assert!(checked <= 5, "{checked} passwords checked: {statuses:?}");
    assert!(statuses.iter().filter(|st| **st == 429).count() >= 35);
    // The limit is reached: even the right password is refused now.
    let r = flow::post_login(&s, "alice", PW, &[]).await;
    assert_eq!(r.status(), 429);
}

async fn parallel_reservations(store: &warden_core::Store) -> usize {
    let subjects = vec![
        ThrottleSubject {
            kind: "userip",
            subject: "5:alice|198.51.100.1".into(),
            limit: 5,
        },
        ThrottleSubject {
            kind: "ip",
            subject: "198.51.100.1".into(),
            limit: 100,
        },
    ];
    let now = warden_core::platform::time::now_s();
    let tries = (0..40).map(|_| store.reserve_login_attempt(&subjects, 900, now));
    let results = futures::future::join_all(tries).await;
    // A conflicting transaction that stays cancelled is `Throttled`: refused, never let in.
    results
        .into_iter()
        .filter(|r| matches!(r, Ok(Some(_))))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_reservations_hold_under_concurrency_on_dynoxide() {
    let (store, _engine) = warden_tests::dynoxide_store().await;
    assert_eq!(parallel_reservations(&store).await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_reservations_hold_under_concurrency_on_moto() {
    // moto checks a transaction's conditions without a lock across its request threads
    // (DynamoDB applies each atomically): a serializing proxy in front makes it atomic, so
    // this tests Warden's conditions rather than moto's threading.
    let proxy =
        warden_tests::faults::FaultProxy::start_serialized(&warden_tests::moto_endpoint()).await;
    let client = warden_core::store::dynamodb_client(Some(&proxy.url()), None).await;
    let table = format!(
        "t{}",
        warden_core::platform::crypto::random_id().replace(['-', '_'], "x")
    );
    warden_core::store::create_table(&client, &table)
        .await
        .expect("table");
    let store = warden_core::Store::new(client, table);
    assert_eq!(parallel_reservations(&store).await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_csrf_pairs_are_minted_by_warden_and_cross_origin_posts_are_refused() {
    let s = spawn().await;
    s.user("alice", PW, &[]).await;
    let post = |cookie: String, field: String, origin: Option<&'static str>| {
        let s = &s;
        async move {
            let mut r = s
                .http
                .post(s.url("/login"))
                .header("cookie", format!("warden_csrf={cookie}"))
                .form(&[
                    ("username", "alice"),
                    ("password", PW),
                    ("csrf_token", field.as_str()),
                ]);
            if let Some(o) = origin {
                r = r.header("origin", o);
            }
            r.send().await.unwrap().status()
        }
    };
    // An attacker-chosen matching pair (the old double submit accepted it).
    let chosen = "attacker-chosen-value-aaaaaaaaaaaaaaaaaaaaaaa".to_string();
    assert_eq!(post(chosen.clone(), chosen, None).await, 403);
    // A pair Warden minted, sent cross-site or from an opaque origin.
    let (c, t) = flow::login_form(&s).await;
    assert_eq!(
        post(c.clone(), t.clone(), Some("https://evil.example")).await,
        403
    );
    assert_eq!(post(c.clone(), t.clone(), Some("null")).await, 403);
    // The same pair from Warden's own origin (or a client that sends no Origin) signs in.
    let own: &'static str = Box::leak(s.base.clone().into_boxed_str());
    assert_eq!(post(c.clone(), t.clone(), Some(own)).await, 303);
    let (c, t) = flow::login_form(&s).await;
    assert_eq!(post(c, t, None).await, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_issuers_use_host_cookies_and_hsts_and_every_page_has_a_script_csp() {
    let s = spawn_with(Options {
        issuer: Some("https://id.example.test".into()),
        ..Default::default()
    })
    .await;
    s.user("alice", PW, &[]).await;
    s.client(ClientSpec {
        client_id: Some("app".into()),
        name: "App".into(),
        redirect_uris: vec![RP.into()],
        post_logout_redirect_uris: vec!["https://rp.example.org/bye".into()],
        ..Default::default()
    })
    .await;
    let r = s.http.get(s.url("/login")).send().await.unwrap();
    assert_eq!(r.headers()["strict-transport-security"], "max-age=63072000");
    let csrf = set_cookies(r.headers());
    let (_, csrf_cookie) = csrf.iter().find(|(n, _)| n == "warden_csrf").unwrap();
    let html = r.text().await.unwrap();
    let field = flow::hidden_input(&html, "csrf_token").unwrap();
    let r = s
        .http
        .post(s.url("/login"))
        .header("cookie", format!("warden_csrf={csrf_cookie}"))
        .form(&[
            ("username", "alice"),
            ("password", PW),
            ("csrf_token", field.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let raw: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    for name in ["__Host-warden_session=", "__Host-warden_bs="] {
        let c = raw.iter().find(|c| c.starts_with(name)).expect(name);
        assert!(c.contains("Path=/") && c.contains("Secure"), "{c}");
        assert!(!c.contains("Domain"), "{c}");
    }
    let session = raw
        .iter()
        .find_map(|c| c.strip_prefix("__Host-warden_session="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    // A cookie without the prefix (one a sub-domain could plant) is not a session.
    let p = [
        ("response_type", "code"),
        ("client_id", "app"),
        ("redirect_uri", RP),
        ("scope", "openid"),
        ("prompt", "none"),
    ];
    let r = authorize(&s, &format!("warden_session={session}"), &p).await;
    assert_eq!(r.param("error"), Some("login_required"));
    let r = authorize(&s, &format!("__Host-warden_session={session}"), &p).await;
    assert!(r.param("code").is_some(), "{r:?}");

    // Every hosted HTML page: a CSP that admits scripts only by hash.
    let pages = [
        (Method::GET, "/login".to_string()),
        (Method::GET, "/oauth2/authorize?client_id=nope".to_string()),
        (Method::GET, "/oidc/logout".to_string()),
        (
            Method::GET,
            "/oidc/logout?client_id=app&post_logout_redirect_uri=https%3A%2F%2Frp.example.org%2Fbye"
                .to_string(),
        ),
        (Method::GET, "/oidc/checksession".to_string()),
        (Method::GET, "/oidc/checksession?client_id=app".to_string()),
        (Method::GET, "/myaccount".to_string()),
    ];
    for (m, path) in pages {
        let r = s
            .http
            .request(m, s.url(&path))
            .header("cookie", format!("__Host-warden_session={session}"))
            .send()
            .await
            .unwrap();
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        if !ct.starts_with("text/html") {
            continue;
        }
        let csp = r
            .headers()
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{path}: no CSP"))
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("script-src"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        let body = r.text().await.unwrap();
        for handler in ["onload=", "onerror=", "onclick="] {
            assert!(!body.contains(handler), "{path}: inline handler {handler}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_deviations_are_refused() {
    let s = spawn().await;
    let alice = s.user("alice", PW, &[]).await;
    let (a, a_secret) = bound_client(&s, "sso-session").await;
    let (b, b_secret) = bound_client(&s, "sso-session").await;
    let (rs, rs_secret) = s
        .client(ClientSpec {
            name: "Resource server".into(),
            redirect_uris: vec![RP.into()],
            resource_server: true,
            ..Default::default()
        })
        .await;
    let rs_secret = rs_secret.unwrap();
    let (sess, _) = s.session_for(&alice, "ua").await;
    let tok = s.tokens_for(&sess, &a, "openid").await;
    let introspect = |c: &ClientItem, secret: &str| {
        let req = s
            .http
            .post(s.url("/oauth2/introspect"))
            .basic_auth(&c.client_id, Some(secret.to_string()))
            .form(&[("token", tok.access_token.as_str())]);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    // Introspection: the token's own client and a resource server; not another client.
    assert_eq!(introspect(&a, &a_secret).await["active"], true);
    assert_eq!(introspect(&rs, &rs_secret).await["active"], true);
    assert_eq!(
        introspect(&b, &b_secret).await,
        serde_json::json!({"active": false})
    );

    // Origin: null on token and revoke: refused before anything happens.
    for path in ["/oauth2/token", "/oauth2/revoke"] {
        let r = s
            .http
            .post(s.url(path))
            .basic_auth(&a.client_id, Some(&a_secret))
            .header("origin", "null")
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("token", tok.access_token.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"], "invalid_request", "{path}");
    }
    assert_eq!(
        introspect(&a, &a_secret).await["active"],
        true,
        "not revoked"
    );

    // A form body that is not UTF-8: 400, not read as empty.
    for path in ["/oauth2/token", "/oauth2/introspect", "/login"] {
        let r = s
            .http
            .post(s.url(path))
            .basic_auth(&a.client_id, Some(&a_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(vec![b'a', b'=', 0xff, 0xfe])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
    }

    // An id_token_hint issued to another client is refused at authorize.
    let cookie = flow::login(&s, "alice", PW).await;
    let (code, _, _) = authorize_code(&s, &cookie, &b.client_id, RP, &[]).await;
    let t: Value = flow::exchange_code(&s, &b.client_id, &b_secret, &code, RP, None)
        .await
        .json()
        .await
        .unwrap();
    let b_id_token = t["id_token"].as_str().unwrap();
    let r = authorize(
        &s,
        &cookie,
        &[
            ("response_type", "code"),
            ("client_id", a.client_id.as_str()),
            ("redirect_uri", RP),
            ("scope", "openid"),
            ("id_token_hint", b_id_token),
        ],
    )
    .await;
    assert_eq!(r.param("error"), Some("invalid_request"), "{r:?}");
    // ... and accepted by the client it was issued to.
    let r = authorize(
        &s,
        &cookie,
        &[
            ("response_type", "code"),
            ("client_id", b.client_id.as_str()),
            ("redirect_uri", RP),
            ("scope", "openid"),
            ("id_token_hint", b_id_token),
        ],
    )
    .await;
    assert!(r.param("code").is_some(), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reauthentication_marker_counts_only_in_its_own_browser() {
    let s = spawn().await;
    s.user("alice", PW, &[]).await;
    let (c, _) = bound_client(&s, "sso-session").await;
    let cookie = flow::login(&s, "alice", PW).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let p = [
        ("response_type", "code"),
        ("client_id", c.client_id.as_str()),
        ("redirect_uri", RP),
        ("scope", "openid"),
        ("prompt", "login"),
    ];
    let r = authorize(&s, &cookie, &p).await;
    let loc = url::Url::parse(r.location.as_deref().unwrap()).unwrap();
    assert_eq!(loc.path(), "/login");
    let back: String = loc
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let binding = r
        .set_cookies
        .iter()
        .find(|(n, _)| n == "warden_reauth_binding")
        .map(|(_, v)| v.clone())
        .expect("binding cookie");
    // A second browser signs in fresh and replays the first browser's return URL.
    let other = flow::login(&s, "alice", PW).await;
    let replay = |cookie: String| {
        let url = s.url(&back);
        let req = s.http.get(url).header("cookie", cookie);
        async move { flow::authz_response(req.send().await.unwrap()).await }
    };
    let r = replay(other.clone()).await;
    assert!(
        r.location.unwrap().contains("/login?"),
        "replayed marker counted"
    );
    // In its own browser (after the login) it counts.
    let r = replay(format!("{other}; warden_reauth_binding={binding}")).await;
    assert!(r.param("code").is_some(), "{r:?}");
}
