//! RP-Initiated Logout 1.0 over HTTP (`/oidc/logout`, alias `/oauth2/connect/endSession`):
//! checklist items 11–15, 17–18 — valid hint → redirect with `state`; expired hint
//! accepted; modified / foreign / `alg: none` hints, `client_id` ≠ `aud`, an added query
//! string, unregistered or look-alike URIs → error page without redirect; no hint →
//! CSRF-protected confirmation; no session → "signed out"; front-channel iframes; the
//! back-channel delivery to the initiating RP is committed and queued before the redirect.

mod logout_common;

use base64::Engine;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::Response;
use serde_json::{json, Value};
use std::time::Duration;
use warden_core::admin::ClientSpec;
use warden_core::store::schema::{ClientItem, SessionItem, UserItem};
use warden_tests::rp::TestRp;
use warden_tests::{spawn, Stack};

const BYE: &str = "https://rp.example/bye";

struct Fixture {
    s: Stack,
    rp: TestRp,
    client: ClientItem,
    user: UserItem,
    sess: SessionItem,
    cookie: String,
    hint: String,
}

async fn fixture() -> Fixture {
    let s = spawn().await;
    let rp = TestRp::start().await;
    let client = s
        .client(ClientSpec {
            client_id: Some("rp".into()),
            name: "Relying Party".into(),
            redirect_uris: vec!["https://rp.example/cb".into()],
            post_logout_redirect_uris: vec![BYE.into(), "https://rp.example/bye2?keep=1".into()],
            backchannel_logout_uri: Some(rp.uri()),
            ..Default::default()
        })
        .await
        .0;
    let user = s.user("alice", "correct horse", &[]).await;
    let (sess, cookie) = s.session_for(&user, "test").await;
    let issued = s.tokens_for(&sess, &client, "openid profile").await;
    let hint = warden_core::oauth::tokens::id_token(s.app(), "rp", Some(&user), &issued, None)
        .await
        .unwrap();
    Fixture {
        s,
        rp,
        client,
        user,
        sess,
        cookie,
        hint,
    }
}

impl Fixture {
    async fn get(&self, path: &str, q: &[(&str, &str)], cookie: Option<&str>) -> Response {
        let u = url::Url::parse_with_params(&self.s.url(path), q).unwrap();
        let mut r = self.s.http.get(u.as_str());
        if let Some(c) = cookie {
            r = r.header(COOKIE, c);
        }
        r.send().await.unwrap()
    }
    async fn post(&self, path: &str, form: &[(&str, &str)], cookie: Option<&str>) -> Response {
        let mut r = self.s.http.post(self.s.url(path)).form(form);
        if let Some(c) = cookie {
            r = r.header(COOKIE, c);
        }
        r.send().await.unwrap()
    }
    async fn live(&self) -> bool {
        let s = self
            .s
            .store()
            .get_session(&self.sess.sid)
            .await
            .unwrap()
            .unwrap();
        s.is_live(warden_core::platform::time::now_s())
    }
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
}

fn cookies(r: &Response) -> Vec<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn cookie_value(set: &[String], name: &str) -> Option<String> {
    set.iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c[name.len() + 1..].split(';').next().unwrap().to_string())
}

/// An error page: 400, HTML, no Location, no cookie changes.
async fn assert_refused(r: Response, why: &str) {
    assert_eq!(r.status(), 400, "{why}");
    assert!(r.headers().get(LOCATION).is_none(), "{why}: no redirect");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(cookies(&r).is_empty(), "{why}: no cookie changes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_hint_logs_out_and_redirects_with_state() {
    let f = fixture().await;
    let r = f
        .get(
            "/oidc/logout",
            &[
                ("id_token_hint", &f.hint),
                ("post_logout_redirect_uri", BYE),
                ("state", "s t&ate/ü"),
                ("ui_locales", "fr-CA de tlh"),
                ("logout_hint", "alice"),
            ],
            Some(&f.cookie),
        )
        .await;
    assert_eq!(r.status(), 302);
    let loc = r.headers()[LOCATION].to_str().unwrap().to_string();
    let u = url::Url::parse(&loc).unwrap();
    assert_eq!(&loc[..BYE.len()], BYE);
    let state: Vec<(String, String)> = u.query_pairs().into_owned().collect();
    assert_eq!(state, vec![("state".to_string(), "s t&ate/ü".to_string())]);
    // Cookies: the session cookie is deleted and the browser state changes.
    let set = cookies(&r);
    assert!(set
        .iter()
        .any(|c| c.starts_with("warden_session=;") && c.contains("Max-Age=0")));
    let bs = cookie_value(&set, "warden_bs").expect("new browser state");
    assert_ne!(bs, format!("bs-{}", f.sess.sid));
    // The session ended; the initiating RP's delivery was committed before the redirect.
    let ended = f.s.store().get_session(&f.sess.sid).await.unwrap().unwrap();
    assert_eq!(ended.status, "ended");
    assert_eq!(ended.ended_reason.as_deref(), Some("rp_logout"));
    let d = f.s.store().get_delivery(&f.sess.sid, "rp").await.unwrap();
    assert!(d.is_some(), "delivery in the outbox before the response");
    assert_eq!(f.rp.wait_for(1, Duration::from_secs(10)).await, 1);
    logout_common::verify_all(
        &f.s,
        "rp",
        &f.user.user_id,
        &f.sess.sid,
        &f.rp.logout_tokens(),
    )
    .await;
    // Same request again: no session any more → still the redirect (not an error).
    let r = f
        .get(
            "/oidc/logout",
            &[
                ("id_token_hint", &f.hint),
                ("post_logout_redirect_uri", BYE),
            ],
            Some(&f.cookie),
        )
        .await;
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()[LOCATION], BYE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_form_on_the_alias_and_a_registered_query_is_kept() {
    let f = fixture().await;
    let r = f
        .post(
            "/oauth2/connect/endSession",
            &[
                ("id_token_hint", &f.hint),
                ("client_id", "rp"),
                ("post_logout_redirect_uri", "https://rp.example/bye2?keep=1"),
                ("state", "xyz"),
            ],
            Some(&f.cookie),
        )
        .await;
    assert_eq!(r.status(), 302);
    assert_eq!(
        r.headers()[LOCATION],
        "https://rp.example/bye2?keep=1&state=xyz"
    );
    assert!(!f.live().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_hint_is_accepted() {
    let f = fixture().await;
    let now = warden_core::platform::time::now_s();
    let keys = f.s.app().keys().await.unwrap();
    let old = keys
        .sign(
            "JWT",
            &json!({"iss": f.s.app().config.issuer, "sub": f.user.user_id, "aud": "rp",
                    "iat": now - 7200, "exp": now - 3600, "sid": f.sess.sid}),
        )
        .unwrap();
    let r = f
        .get(
            "/oidc/logout",
            &[("id_token_hint", &old), ("post_logout_redirect_uri", BYE)],
            Some(&f.cookie),
        )
        .await;
    assert_eq!(r.status(), 302);
    assert!(!f.live().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_hints_and_bad_redirects_are_refused_without_redirect() {
    let f = fixture().await;
    let parts: Vec<&str> = f.hint.split('.').collect();
    let mut claims = logout_common::decode_part(&f.hint, 1);
    claims["sub"] = json!("mallory");
    let modified = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    let header = logout_common::decode_part(&f.hint, 0);
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": header["kid"]})),
        parts[1]
    );
    let hs256 = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "HS256", "typ": "JWT", "kid": header["kid"]})),
        parts[1],
        parts[2]
    );
    // Signed by a key that is not ours, claiming our kid.
    let mut foreign_key = warden_core::keys::signing::generate_key_item(1).unwrap();
    foreign_key.kid = header["kid"].as_str().unwrap().to_string();
    let foreign = warden_core::keys::signing::KeySet::from_items(&[foreign_key])
        .unwrap()
        .sign("JWT", &claims_of(&f))
        .unwrap();
    // Ours, but for another issuer.
    let mut other_iss = claims_of(&f);
    other_iss["iss"] = json!("https://evil.example");
    let other_iss =
        f.s.app()
            .keys()
            .await
            .unwrap()
            .sign("JWT", &other_iss)
            .unwrap();

    for (name, hint) in [
        ("modified", modified.as_str()),
        ("alg none", none.as_str()),
        ("alg HS256", hs256.as_str()),
        ("foreign signature", foreign.as_str()),
        ("other issuer", other_iss.as_str()),
        ("garbage", "not.a.jwt"),
    ] {
        let r = f
            .get(
                "/oidc/logout",
                &[
                    ("id_token_hint", hint),
                    ("post_logout_redirect_uri", BYE),
                    ("state", "x"),
                ],
                Some(&f.cookie),
            )
            .await;
        assert_refused(r, name).await;
    }
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "query added to the redirect URI",
            vec![
                ("id_token_hint", &f.hint),
                ("post_logout_redirect_uri", "https://rp.example/bye?x=1"),
            ],
        ),
        (
            "unregistered redirect URI",
            vec![
                ("id_token_hint", &f.hint),
                ("post_logout_redirect_uri", "https://rp.example/other"),
            ],
        ),
        (
            "look-alike host",
            vec![
                ("id_token_hint", &f.hint),
                (
                    "post_logout_redirect_uri",
                    "https://rp.example.evil.com/bye",
                ),
            ],
        ),
        (
            "trailing slash",
            vec![
                ("id_token_hint", &f.hint),
                ("post_logout_redirect_uri", "https://rp.example/bye/"),
            ],
        ),
        (
            "client_id is not the hint's aud",
            vec![
                ("id_token_hint", &f.hint),
                ("client_id", "other"),
                ("post_logout_redirect_uri", BYE),
            ],
        ),
        (
            "redirect without hint or client_id",
            vec![("post_logout_redirect_uri", BYE), ("state", "x")],
        ),
        (
            "unknown client_id",
            vec![("client_id", "nope"), ("post_logout_redirect_uri", BYE)],
        ),
    ];
    for (name, q) in cases {
        let r = f.get("/oidc/logout", &q, Some(&f.cookie)).await;
        assert_refused(r, name).await;
    }
    // Duplicated parameters (RFC 6749 §3.1 style) are refused too.
    let r = f
        .s
        .http
        .get(f.s.url(&format!(
            "/oidc/logout?post_logout_redirect_uri={BYE}&post_logout_redirect_uri={BYE}&client_id=rp"
        )))
        .header(COOKIE, &f.cookie)
        .send()
        .await
        .unwrap();
    assert_refused(r, "duplicate").await;
    assert!(f.live().await, "nothing was ended by refused requests");
    assert_eq!(f.rp.received().len(), 0);
}

fn claims_of(f: &Fixture) -> Value {
    let now = warden_core::platform::time::now_s();
    json!({"iss": f.s.app().config.issuer, "sub": f.user.user_id, "aud": "rp",
           "iat": now, "exp": now + 600, "sid": f.sess.sid})
}

/// Pull the hidden fields of the page's form.
fn form_fields(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in html.split("<input type=\"hidden\" ").skip(1) {
        let name = part
            .split("name=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let value = part
            .split("value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let unesc = |s: &str| {
            s.replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
        };
        out.push((unesc(name), unesc(value)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_hint_the_user_confirms_through_a_csrf_protected_form() {
    let f = fixture().await;
    let r = f
        .get(
            "/oidc/logout",
            &[
                ("client_id", "rp"),
                ("post_logout_redirect_uri", BYE),
                ("state", "st"),
            ],
            Some(&f.cookie),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let set = cookies(&r);
    let csrf_cookie = set
        .iter()
        .find(|c| c.starts_with("warden_logout_csrf="))
        .expect("CSRF cookie")
        .clone();
    assert!(csrf_cookie.contains("SameSite=Strict") && csrf_cookie.contains("HttpOnly"));
    let csrf = cookie_value(&set, "warden_logout_csrf").unwrap();
    let html = r.text().await.unwrap();
    assert!(
        html.contains("<form method=\"post\" action=\"/oidc/logout\">"),
        "{html}"
    );
    assert!(html.contains("Relying Party"));
    let fields = form_fields(&html);
    // The field is bound to the cookie (its MAC), never the cookie's value itself.
    let field = fields
        .iter()
        .find(|(k, _)| k == "logout_csrf")
        .map(|(_, v)| v.clone())
        .expect("CSRF field");
    assert!(!field.is_empty() && field != csrf);
    assert!(fields.contains(&("state".into(), "st".into())));
    assert!(f.live().await, "not signed out before confirming");

    let mut form: Vec<(String, String)> = fields.clone();
    form.push(("logout_confirm".into(), "yes".into()));
    let form_ref: Vec<(&str, &str)> = form.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();

    // Without the cookie (a cross-site forgery) or with another token: refused.
    let r = f.post("/oidc/logout", &form_ref, Some(&f.cookie)).await;
    assert_refused(r, "no CSRF cookie").await;
    let wrong = format!("{}; warden_logout_csrf=forged", f.cookie);
    let r = f.post("/oidc/logout", &form_ref, Some(&wrong)).await;
    assert_refused(r, "wrong CSRF cookie").await;
    assert!(f.live().await);

    // "Stay signed in": nothing ends.
    let with_csrf = format!("{}; warden_logout_csrf={csrf}", f.cookie);
    let mut stay = fields.clone();
    stay.push(("logout_confirm".into(), "no".into()));
    let stay_ref: Vec<(&str, &str)> = stay.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let r = f.post("/oidc/logout", &stay_ref, Some(&with_csrf)).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("still signed in"));
    assert!(f.live().await);

    // Confirmed with the matching double-submitted token: signed out and redirected.
    let r = f.post("/oidc/logout", &form_ref, Some(&with_csrf)).await;
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()[LOCATION], format!("{BYE}?state=st"));
    assert!(!f.live().await);
    assert_eq!(f.rp.wait_for(1, Duration::from_secs(10)).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hint_for_another_session_or_user_asks_for_confirmation() {
    let f = fixture().await;
    // Same user, another session (another browser).
    let (other, _) = f.s.session_for(&f.user, "other browser").await;
    let issued = f.s.tokens_for(&other, &f.client, "openid").await;
    let other_hint =
        warden_core::oauth::tokens::id_token(f.s.app(), "rp", Some(&f.user), &issued, None)
            .await
            .unwrap();
    // Another user.
    let bob = f.s.user("bob", "correct horse", &[]).await;
    let (bob_sess, _) = f.s.session_for(&bob, "bob").await;
    let issued = f.s.tokens_for(&bob_sess, &f.client, "openid").await;
    let bob_hint = warden_core::oauth::tokens::id_token(f.s.app(), "rp", Some(&bob), &issued, None)
        .await
        .unwrap();
    for hint in [&other_hint, &bob_hint] {
        let r = f
            .get(
                "/oidc/logout",
                &[("id_token_hint", hint), ("post_logout_redirect_uri", BYE)],
                Some(&f.cookie),
            )
            .await;
        assert_eq!(r.status(), 200);
        assert!(cookie_value(&cookies(&r), "warden_logout_csrf").is_some());
        assert!(r.text().await.unwrap().contains("logout_confirm"));
    }
    assert!(f.live().await);
    let still = |sid: String| {
        let st = f.s.store().clone();
        async move { st.get_session(&sid).await.unwrap().unwrap().status }
    };
    assert_eq!(still(other.sid.clone()).await, "active");
    assert_eq!(still(bob_sess.sid.clone()).await, "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_the_user_is_told_they_are_signed_out() {
    let f = fixture().await;
    let r = f.get("/oidc/logout", &[], None).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("You are signed out"));
    // With a valid hint and registered URI: the redirect.
    let r = f
        .get(
            "/oidc/logout",
            &[
                ("id_token_hint", &f.hint),
                ("post_logout_redirect_uri", BYE),
                ("state", "a"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()[LOCATION], format!("{BYE}?state=a"));
    // A stale cookie (unknown secret) is cleared.
    let stale = format!("warden_session={}.wrongsecret", f.sess.sid);
    let r = f.get("/oidc/logout", &[], Some(&stale)).await;
    assert_eq!(r.status(), 200);
    assert!(cookies(&r)
        .iter()
        .any(|c| c.starts_with("warden_session=;")));
    assert!(f.live().await, "a wrong secret ends nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_post_without_the_lax_cookie_is_resubmitted_from_our_origin() {
    let f = fixture().await;
    let r = f
        .post(
            "/oidc/logout",
            &[
                ("id_token_hint", &f.hint),
                ("post_logout_redirect_uri", BYE),
            ],
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let fields = form_fields(&html);
    assert!(fields.contains(&("logout_resubmit".into(), "1".into())));
    assert!(fields.contains(&("id_token_hint".into(), f.hint.clone())));
    // The browser re-posts it from our origin, now with the session cookie.
    let form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let r = f.post("/oidc/logout", &form, Some(&f.cookie)).await;
    assert_eq!(r.status(), 302);
    assert!(!f.live().await);
    // Without a session the re-posted form ends at the redirect, never in a loop.
    let r = f.post("/oidc/logout", &form, None).await;
    assert_eq!(r.status(), 302);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn front_channel_iframes_for_every_app_then_the_redirect() {
    let f = fixture().await;
    let with_sid =
        f.s.client(ClientSpec {
            client_id: Some("fc-sid".into()),
            name: "FC with sid".into(),
            redirect_uris: vec!["https://fc1.example/cb".into()],
            frontchannel_logout_uri: Some("https://fc1.example/fc?tenant=a".into()),
            frontchannel_logout_session_required: true,
            ..Default::default()
        })
        .await
        .0;
    let without_sid =
        f.s.client(ClientSpec {
            client_id: Some("fc-plain".into()),
            name: "FC plain".into(),
            redirect_uris: vec!["https://fc2.example/cb".into()],
            frontchannel_logout_uri: Some("https://fc2.example/fc".into()),
            ..Default::default()
        })
        .await
        .0;
    f.s.tokens_for(&f.sess, &with_sid, "openid").await;
    f.s.tokens_for(&f.sess, &without_sid, "openid").await;
    let r = f
        .get(
            "/oidc/logout",
            &[
                ("id_token_hint", &f.hint),
                ("post_logout_redirect_uri", BYE),
                ("state", "z"),
            ],
            Some(&f.cookie),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(cookies(&r)
        .iter()
        .any(|c| c.starts_with("warden_session=;")));
    let html = r.text().await.unwrap();
    let srcs: Vec<String> = html
        .split("<iframe src=\"")
        .skip(1)
        .map(|p| p.split('"').next().unwrap().replace("&amp;", "&"))
        .collect();
    assert_eq!(srcs.len(), 2, "one iframe per front-channel app: {html}");
    let iss = url::form_urlencoded::byte_serialize(f.s.app().config.issuer.as_bytes())
        .collect::<String>();
    assert!(srcs.contains(&format!(
        "https://fc1.example/fc?tenant=a&iss={iss}&sid={}",
        f.sess.sid
    )));
    assert!(
        srcs.contains(&"https://fc2.example/fc".to_string()),
        "neither iss nor sid"
    );
    // Then the browser continues to the registered URI with state.
    assert!(html.contains(&format!("href=\"{BYE}?state=z\"")));
    assert!(
        html.contains(&format!("\"{BYE}?state=z\"")),
        "script target"
    );
    assert!(!f.live().await);
    assert_eq!(f.rp.wait_for(1, Duration::from_secs(10)).await, 1);
}
