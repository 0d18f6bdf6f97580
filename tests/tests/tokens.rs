//! /oauth2/token, /oauth2/userinfo, /oauth2/introspect, /oauth2/revoke over HTTP, with codes
//! sealed as /oauth2/authorize would (the full browser flow is in oidc_flow.rs).

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use warden_core::admin::ClientSpec;
use warden_core::platform::time::now_s;
use warden_core::store::schema::keys;
use warden_core::store::schema::{ClientItem, CodeGrant, IdClaims, SessionItem};
use warden_tests::{spawn, Stack};

const RP: &str = "https://rp.example/cb";

async fn seal_code(
    s: &Stack,
    session: &SessionItem,
    client: &ClientItem,
    scope: &str,
    challenge: Option<&str>,
    binding: Option<&str>,
) -> String {
    warden_core::session::touch(
        s.app(),
        session,
        Some((
            &client.client_id,
            &client.name,
            client.backchannel_logout_uri.is_some(),
        )),
    )
    .await
    .unwrap();
    let user = s.store().get_user(&session.user_id).await.unwrap().unwrap();
    let mut grant = CodeGrant::for_session(
        session,
        &client.client_id,
        RP,
        scope,
        IdClaims::for_scope(&user, scope),
        now_s() + 60,
    );
    grant.nonce = Some("n-0S6_WzA2Mj".into());
    grant.code_challenge = challenge.map(str::to_string);
    grant.browser_binding = binding.map(warden_core::platform::crypto::hash_secret);
    let keys = s.app().keys().await.unwrap();
    warden_core::oauth::code::seal(&keys, &grant).unwrap()
}

async fn confidential(s: &Stack, binding: &str) -> (ClientItem, String) {
    let (c, secret) = s
        .client(ClientSpec {
            name: format!("RP {binding}"),
            redirect_uris: vec![RP.into()],
            token_binding: Some(binding.into()),
            ..Default::default()
        })
        .await;
    (c, secret.unwrap())
}

async fn exchange(
    s: &Stack,
    c: &ClientItem,
    secret: &str,
    code: &str,
    verifier: Option<&str>,
) -> reqwest::Response {
    warden_tests::flow::exchange_code(s, &c.client_id, secret, code, RP, verifier).await
}

/// The token response to a fresh code (no PKCE, no browser binding) for `session`.
async fn exchanged(
    s: &Stack,
    c: &ClientItem,
    secret: &str,
    session: &SessionItem,
    scope: &str,
) -> Value {
    let code = seal_code(s, session, c, scope, None, None).await;
    exchange(s, c, secret, &code, None)
        .await
        .json()
        .await
        .unwrap()
}

/// POST /oauth2/token with `grant_type=refresh_token`.
async fn refresh_grant(
    s: &Stack,
    c: &ClientItem,
    secret: &str,
    token: String,
) -> reqwest::Response {
    s.http
        .post(s.url("/oauth2/token"))
        .basic_auth(&c.client_id, Some(secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token.as_str()),
        ])
        .send()
        .await
        .unwrap()
}

async fn introspect(s: &Stack, c: &ClientItem, secret: &str, token: &str) -> Value {
    let r = s
        .http
        .post(s.url("/oauth2/introspect"))
        .basic_auth(&c.client_id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_exchange_issues_bound_tokens_and_id_token() {
    let s = spawn().await;
    let u = s.user("alice", "correct horse", &[]).await;
    let (c, secret) = confidential(&s, "sso-session").await;
    let (sess, _) = s.session_for(&u, "Firefox").await;
    let code = seal_code(
        &s,
        &sess,
        &c,
        "openid profile email offline_access",
        None,
        None,
    )
    .await;
    let r = exchange(&s, &c, &secret, &code, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["token_type"], "Bearer");
    let at = t["access_token"].as_str().unwrap();
    // Held by the code's link: `<sid>.<link key>.<256-bit secret>`.
    let (tsid, key) = warden_core::store::held_token::parse(at).expect("a held token");
    assert_eq!(tsid, sess.sid);
    assert_eq!(key, warden_core::platform::crypto::hash_secret(&code));
    assert_eq!(at.rsplit('.').next().unwrap().len(), 43, "256-bit secret");
    let keys = s.app().keys().await.unwrap();
    let claims = keys
        .verify(t["id_token"].as_str().unwrap(), &s.base, true)
        .unwrap();
    assert_eq!(claims["sid"], sess.sid.as_str());
    assert_eq!(claims["sub"], u.user_id.as_str());
    assert_eq!(claims["aud"], c.client_id.as_str());
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(
        claims["at_hash"],
        warden_core::oauth::oidc::at_hash(at).as_str()
    );
    assert_eq!(claims["auth_time"], sess.auth_time);
    // Stored only as a hash.
    assert!(s.store().get_token(at).await.unwrap().is_none());
    assert_eq!(
        s.store()
            .find_token(at)
            .await
            .unwrap()
            .unwrap()
            .item
            .sessions,
        vec![sess.sid.clone()]
    );
    let i = introspect(&s, &c, &secret, at).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["sub"], u.user_id.as_str());
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
    assert_eq!(ui["sub"], u.user_id.as_str());
    assert_eq!(ui["email"], "alice@example.com");
    // The code is single use: a replay fails and revokes what it issued.
    let r = exchange(&s, &c, &secret, &code, None).await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "invalid_grant");
    assert_eq!(
        introspect(&s, &c, &secret, at).await,
        serde_json::json!({"active": false})
    );
    let rt = t["refresh_token"].as_str().unwrap();
    assert_eq!(introspect(&s, &c, &secret, rt).await["active"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkce_and_client_authentication() {
    let s = spawn().await;
    let u = s.user("bob", "correct horse", &[]).await;
    let (c, secret) = confidential(&s, "sso-session").await;
    let (sess, _) = s.session_for(&u, "ua").await;
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = warden_core::platform::crypto::pkce_s256(verifier);
    let code = seal_code(&s, &sess, &c, "openid", Some(&challenge), None).await;
    let r = exchange(&s, &c, &secret, &code, Some("x".repeat(43).as_str())).await;
    assert_eq!(r.status(), 400, "PKCE mismatch");
    // A failed attempt does not use the code up: the holder of the verifier still can.
    let r = exchange(&s, &c, &secret, &code, Some(verifier)).await;
    assert_eq!(r.status(), 200);
    let at = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(introspect(&s, &c, &secret, &at).await["active"], true);
    // Presented again, even without the verifier, it is a replay: its tokens are revoked.
    let r = exchange(&s, &c, &secret, &code, None).await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    assert_eq!(introspect(&s, &c, &secret, &at).await["active"], false);
    // Altered, truncated, expired or another client's codes are refused.
    let code = seal_code(&s, &sess, &c, "openid", None, None).await;
    let mut altered = code.clone().into_bytes();
    let last = altered.len() - 5;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    for bad in [
        altered.as_str(),
        &code[..code.len() - 3],
        "x.y",
        &"a".repeat(5000),
    ] {
        let r = exchange(&s, &c, &secret, bad, None).await;
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    }
    let keys = s.app().keys().await.unwrap();
    let mut expired = keys
        .open(&code)
        .map(|b| serde_json::from_slice::<CodeGrant>(&b).unwrap())
        .unwrap();
    expired.valid_until = now_s() - 1;
    let expired = warden_core::oauth::code::seal(&keys, &expired).unwrap();
    let r = exchange(&s, &c, &secret, &expired, None).await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let (other, other_secret) = confidential(&s, "sso-session").await;
    let r = exchange(&s, &other, &other_secret, &code, None).await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    assert_eq!(exchange(&s, &c, &secret, &code, None).await.status(), 200);
    // Bad secret: 401 invalid_client with a challenge.
    let code = seal_code(&s, &sess, &c, "openid", None, None).await;
    let r = exchange(&s, &c, "wrong", &code, None).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    // client_secret_post works too.
    let r = s
        .http
        .post(s.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", RP),
            ("client_id", &c.client_id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Public clients must use PKCE.
    let (p, _) = s
        .client(ClientSpec {
            name: "spa".into(),
            public: true,
            redirect_uris: vec![RP.into()],
            ..Default::default()
        })
        .await;
    let code = seal_code(&s, &sess, &p, "openid", None, None).await;
    let r = s
        .http
        .post(s.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", RP),
            ("client_id", &p.client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Wrong redirect_uri, unsupported grant, repeated parameter, JSON body.
    let code = seal_code(&s, &sess, &c, "openid", None, None).await;
    let r = s
        .http
        .post(s.url("/oauth2/token"))
        .basic_auth(&c.client_id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://evil.example/cb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let r = s
        .http
        .post(s.url("/oauth2/token"))
        .basic_auth(&c.client_id, Some(&secret))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    let r = s
        .http
        .post(s.url("/oauth2/token"))
        .basic_auth(&c.client_id, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=a&grant_type=b")
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let r = s
        .http
        .post(s.url("/oauth2/token"))
        .basic_auth(&c.client_id, Some(&secret))
        .json(&serde_json::json!({"grant_type": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotation_and_reuse_detection() {
    let s = spawn().await;
    let u = s.user("carol", "correct horse", &[]).await;
    let (c, secret) = confidential(&s, "sso-session").await;
    let (sess, _) = s.session_for(&u, "ua").await;
    let code = seal_code(&s, &sess, &c, "openid offline_access", None, None).await;
    let t: Value = exchange(&s, &c, &secret, &code, None)
        .await
        .json()
        .await
        .unwrap();
    let rt1 = t["refresh_token"].as_str().unwrap().to_string();
    let refresh = |rt: String| refresh_grant(&s, &c, &secret, rt);
    let r = refresh(rt1.clone()).await;
    assert_eq!(r.status(), 200);
    let t2: Value = r.json().await.unwrap();
    let rt2 = t2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    let keys = s.app().keys().await.unwrap();
    assert_eq!(
        keys.verify(t2["id_token"].as_str().unwrap(), &s.base, true)
            .unwrap()["sid"],
        sess.sid.as_str(),
        "sid in refreshed ID token"
    );
    let at2 = t2["access_token"].as_str().unwrap();
    assert_eq!(introspect(&s, &c, &secret, at2).await["active"], true);
    // Reusing the rotated token revokes the whole family.
    let r = refresh(rt1).await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    assert_eq!(introspect(&s, &c, &secret, at2).await["active"], false);
    assert_eq!(refresh(rt2).await.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_types_map_tokens_to_sessions() {
    let s = spawn().await;
    let u = s.user("dave", "correct horse", &[]).await;
    // sso-session: two browsers → two token pairs.
    let (c, secret) = confidential(&s, "sso-session").await;
    let (s1, _) = s.session_for(&u, "Firefox").await;
    let (s2, _) = s.session_for(&u, "Chrome").await;
    let a: Value = exchanged(&s, &c, &secret, &s1, "openid").await;
    let b: Value = exchanged(&s, &c, &secret, &s2, "openid").await;
    assert_ne!(a["access_token"], b["access_token"]);
    // none: one token linked to both sessions; ending either revokes it.
    let (n, nsecret) = confidential(&s, "none").await;
    let a: Value = exchanged(&s, &n, &nsecret, &s1, "openid").await;
    let b: Value = exchanged(&s, &n, &nsecret, &s2, "openid").await;
    assert_eq!(
        a["access_token"], b["access_token"],
        "binding none shares the token"
    );
    let at = a["access_token"].as_str().unwrap();
    let item = s.store().find_token(at).await.unwrap().unwrap().item;
    assert_eq!(item.sessions, vec![s1.sid.clone(), s2.sid.clone()]);
    let links = s.store().session_partition(&s2.sid).await.unwrap().links;
    assert_eq!(
        links.len(),
        3,
        "the sso-session exchange, the none exchange (its own refresh), the shared access token"
    );
    assert_eq!(
        links.iter().map(|l| l.tokens.len()).sum::<usize>(),
        4,
        "sso-session pair + shared access + its own refresh"
    );
    assert!(links.iter().any(|l| l
        .tokens
        .contains_key(&warden_core::platform::crypto::hash_secret(at))
        && l.tokens.len() == 1));
    warden_core::session::terminate(
        s.app(),
        &s2.sid,
        None,
        warden_core::store::schema::EndReason::Admin,
    )
    .await
    .unwrap();
    assert_eq!(
        introspect(&s, &n, &nsecret, at).await["active"],
        false,
        "ending one session revokes the shared token"
    );
    // cookie: the same browser binding shares, another browser does not.
    let (k, ksecret) = confidential(&s, "cookie").await;
    let (s3, _) = s.session_for(&u, "Edge").await;
    let x: Value = exchange(
        &s,
        &k,
        &ksecret,
        &seal_code(&s, &s1, &k, "openid", None, Some("browser-A")).await,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let y: Value = exchange(
        &s,
        &k,
        &ksecret,
        &seal_code(&s, &s3, &k, "openid", None, Some("browser-A")).await,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let z: Value = exchange(
        &s,
        &k,
        &ksecret,
        &seal_code(&s, &s3, &k, "openid", None, Some("browser-B")).await,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(x["access_token"], y["access_token"]);
    assert_ne!(x["access_token"], z["access_token"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_or_expired_sessions_get_no_tokens() {
    let s = spawn().await;
    let u = s.user("erin", "correct horse", &[]).await;
    let (c, secret) = confidential(&s, "sso-session").await;
    let (sess, _) = s.session_for(&u, "ua").await;
    let code = seal_code(&s, &sess, &c, "openid", None, None).await;
    warden_core::session::terminate(
        s.app(),
        &sess.sid,
        None,
        warden_core::store::schema::EndReason::User,
    )
    .await
    .unwrap();
    let r = exchange(&s, &c, &secret, &code, None).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
}

/// A session whose idle or absolute expiry has passed issues nothing, even before the relay
/// has swept it: neither a refresh nor a code exchange.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_but_not_yet_swept_sessions_get_no_tokens() {
    let s = spawn().await;
    let u = s.user("eve", "correct horse", &[]).await;
    let (c, secret) = confidential(&s, "sso-session").await;
    for attr in ["idle_expires_at", "absolute_expires_at"] {
        let (sess, _) = s.session_for(&u, "ua").await;
        let t: Value = exchanged(&s, &c, &secret, &sess, "openid offline_access").await;
        let rt = t["refresh_token"].as_str().unwrap().to_string();
        let code = seal_code(&s, &sess, &c, "openid", None, None).await;
        // The expiry passes; the relay has not run.
        s.store()
            .client
            .update_item()
            .table_name(&s.store().table)
            .key("pk", AttributeValue::S(keys::session_pk(&sess.sid)))
            .key("sk", AttributeValue::S(keys::SESSION_SK.into()))
            .update_expression("SET #a = :past")
            .expression_attribute_names("#a", attr)
            .expression_attribute_values(":past", AttributeValue::N((now_s() - 1).to_string()))
            .send()
            .await
            .unwrap();
        let r = s
            .http
            .post(s.url("/oauth2/token"))
            .basic_auth(&c.client_id, Some(&secret))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{attr}: refresh");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
        let r = exchange(&s, &c, &secret, &code, None).await;
        assert_eq!(r.status(), 400, "{attr}: code exchange");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
        let still = s.store().get_session(&sess.sid).await.unwrap().unwrap();
        assert_eq!(still.status, "active", "the relay has not swept it yet");
    }
}

/// RFC 6750 §2: userinfo takes the token in the Authorization header, or on a form POST
/// as the body parameter `access_token` (§2.2) — never both, never in the query here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userinfo_accepts_the_token_in_a_form_body_but_one_way_only() {
    let s = spawn().await;
    let u = s.user("gail", "correct horse", &[]).await;
    let (c, secret) = confidential(&s, "sso-session").await;
    let (sess, _) = s.session_for(&u, "ua").await;
    let t: Value = exchanged(&s, &c, &secret, &sess, "openid profile").await;
    let at = t["access_token"].as_str().unwrap();
    let url = s.url("/oauth2/userinfo");
    let r = s
        .http
        .post(&url)
        .form(&[("access_token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["preferred_username"],
        "gail"
    );
    // Both ways at once: 400 invalid_request.
    let r = s
        .http
        .post(&url)
        .bearer_auth(at)
        .form(&[("access_token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("error=\"invalid_request\""));
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    // A repeated parameter is malformed; a bad body token is invalid_token.
    let r = s
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("access_token={at}&access_token={at}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = s
        .http
        .post(&url)
        .form(&[("access_token", "not a token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_token");
    // The query string is not a place for tokens (RFC 6750 §2.3 is not offered).
    let r = s
        .http
        .get(format!("{url}?access_token={at}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_and_resource_errors() {
    let s = spawn().await;
    let u = s.user("frank", "correct horse", &[]).await;
    let (c, secret) = confidential(&s, "sso-session").await;
    let (sess, _) = s.session_for(&u, "ua").await;
    let t: Value = exchanged(&s, &c, &secret, &sess, "openid profile").await;
    let at = t["access_token"].as_str().unwrap();
    let rt = t["refresh_token"].as_str().unwrap();
    // Introspection requires client authentication.
    let r = s
        .http
        .post(s.url("/oauth2/introspect"))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Unknown tokens revoke fine.
    let r = s
        .http
        .post(s.url("/oauth2/revoke"))
        .basic_auth(&c.client_id, Some(&secret))
        .form(&[("token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Userinfo errors per RFC 6750.
    let r = s.http.get(s.url("/oauth2/userinfo")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let ch = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        ch.starts_with("Bearer realm=") && !ch.contains("error="),
        "{ch}"
    );
    let r = s
        .http
        .get(s.url("/oauth2/userinfo"))
        .bearer_auth("bogus")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    // Revoking the refresh token revokes the grant's access token.
    let r = s
        .http
        .post(s.url("/oauth2/revoke"))
        .basic_auth(&c.client_id, Some(&secret))
        .form(&[("token", rt), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        introspect(&s, &c, &secret, at).await,
        serde_json::json!({"active": false})
    );
    let r = s
        .http
        .get(s.url("/oauth2/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A token without openid gets 403 insufficient_scope at userinfo.
    let (sess2, _) = s.session_for(&u, "ua").await;
    let t: Value = exchanged(&s, &c, &secret, &sess2, "profile").await;
    let r = s
        .http
        .get(s.url("/oauth2/userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));
}

/// Tokens held by their link (binding `sso-session` and every refresh): revoking the access
/// token alone leaves the refresh token usable; a token whose parts name another link or
/// session is unknown; a refresh of a held pair is held by the refresh's own link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_tokens_revoke_alone_and_cannot_be_repointed() {
    let s = spawn().await;
    let u = s.user("heidi", "correct horse", &[]).await;
    let (c, secret) = confidential(&s, "sso-session").await;
    let (a, _) = s.session_for(&u, "ua-a").await;
    let (b, _) = s.session_for(&u, "ua-b").await;
    let ta: Value = exchanged(&s, &c, &secret, &a, "openid offline_access").await;
    let tb: Value = exchanged(&s, &c, &secret, &b, "openid offline_access").await;
    let (at_a, rt_a) = (
        ta["access_token"].as_str().unwrap(),
        ta["refresh_token"].as_str().unwrap(),
    );
    let at_b = tb["access_token"].as_str().unwrap();
    let parts = |t: &str| t.split('.').map(str::to_string).collect::<Vec<_>>();
    let (pa, pb) = (parts(at_a), parts(at_b));
    // Another session's id, another link's key, another token's or a made-up secret:
    // nothing. (The access and refresh token of one exchange share their first two parts.)
    assert_eq!(parts(rt_a)[..2], pa[..2]);
    for forged in [
        format!("{}.{}.{}", pb[0], pa[1], pa[2]),
        format!("{}.{}.{}", pa[0], pb[1], pa[2]),
        format!("{}.{}.{}", pa[0], pa[1], pb[2]),
        format!(
            "{}.{}.{}",
            pa[0],
            pa[1],
            warden_core::platform::crypto::random_token()
        ),
    ] {
        assert_eq!(
            introspect(&s, &c, &secret, &forged).await,
            serde_json::json!({"active": false}),
            "{forged}"
        );
        let r = s
            .http
            .get(s.url("/oauth2/userinfo"))
            .bearer_auth(&forged)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{forged}");
    }
    assert_eq!(introspect(&s, &c, &secret, at_a).await["active"], true);
    assert_eq!(introspect(&s, &c, &secret, at_b).await["active"], true);

    // RFC 7009 on the held access token: it alone is revoked.
    let r = s
        .http
        .post(s.url("/oauth2/revoke"))
        .basic_auth(&c.client_id, Some(&secret))
        .form(&[("token", at_a)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        introspect(&s, &c, &secret, at_a).await,
        serde_json::json!({"active": false})
    );
    let refresh_a = introspect(&s, &c, &secret, rt_a).await;
    assert_eq!(refresh_a["active"], true);
    assert_eq!(refresh_a["token_type"], "refresh_token");
    assert_eq!(introspect(&s, &c, &secret, at_b).await["active"], true);
    let r = refresh_grant(&s, &c, &secret, rt_a.to_string()).await;
    assert_eq!(r.status(), 200);
    let t2: Value = r.json().await.unwrap();
    let at2 = t2["access_token"].as_str().unwrap();
    let (sid2, key2) = warden_core::store::held_token::parse(at2).expect("held");
    assert_eq!(sid2, a.sid);
    assert_ne!(key2, pa[1], "the refresh's own link");
    let found = s.store().find_token(rt_a).await.unwrap().unwrap().item;
    assert_eq!(found.status, "rotated");
    assert_eq!(introspect(&s, &c, &secret, at2).await["active"], true);

    // A held token is never more alive than its session: session b ended the way a
    // function from before held tokens ended it (its token items only, none here), and
    // its held tokens read as revoked although their link was not touched.
    let sb = s
        .store()
        .session_partition(&b.sid)
        .await
        .unwrap()
        .session
        .unwrap();
    s.store()
        .commit_termination(
            &sb,
            &[],
            &[],
            "admin",
            warden_core::platform::time::now_ms(),
        )
        .await
        .unwrap();
    assert_eq!(
        introspect(&s, &c, &secret, at_b).await,
        serde_json::json!({"active": false})
    );
    let gone = s.store().find_token(at_b).await.unwrap().unwrap().item;
    assert_eq!(
        (gone.status.as_str(), gone.revoked_reason.as_deref()),
        ("revoked", Some("admin"))
    );
    let r = s
        .http
        .get(s.url("/oauth2/userinfo"))
        .bearer_auth(at_b)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// Tokens issued before held tokens existed (`TOKEN#` items) keep working: introspection,
/// a refresh (whose new pair is held), reuse detection across both shapes, and the end of
/// their session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_items_from_before_held_tokens_keep_working() {
    use warden_core::store::schema::TokenItem;
    use warden_core::store::Issue;
    let s = spawn().await;
    let u = s.user("ivan", "correct horse", &[]).await;
    let (c, secret) = confidential(&s, "sso-session").await;
    let (sess, _) = s.session_for(&u, "ua").await;
    // What an exchange wrote before: a link keyed by the code's hash and two token items.
    let (at, rt) = (
        warden_core::platform::crypto::random_token(),
        warden_core::platform::crypto::random_token(),
    );
    let now = now_s();
    let item = |kind: &str, token: &str| {
        let h = warden_core::platform::crypto::hash_secret(token);
        let (pk, sk) = keys::token(&h);
        let t = TokenItem {
            pk,
            sk,
            kind: warden_core::store::schema::TokenKind::parse(kind).expect("a token kind"),
            client_id: c.client_id.clone(),
            user_id: u.user_id.clone(),
            scope: "openid offline_access".into(),
            iat: now,
            exp: now + 3600,
            status: warden_core::store::schema::TokenStatus::Active,
            sessions: vec![sess.sid.clone()],
            family: "old-family".into(),
            auth_time: now,
            revoked_reason: None,
            offline: false,
            expires_at: now + 3600,
        };
        (h, t)
    };
    s.store()
        .issue(&Issue {
            new_tokens: vec![item("refresh", &rt), item("access", &at)],
            family: "old-family".into(),
            sessions: vec![sess.sid.clone()],
            code: Some((
                warden_core::platform::crypto::hash_secret("old code"),
                now + 600,
            )),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(introspect(&s, &c, &secret, &at).await["active"], true);
    let r = s
        .http
        .get(s.url("/oauth2/userinfo"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let refresh = |rt: String| refresh_grant(&s, &c, &secret, rt);
    let r = refresh(rt.clone()).await;
    assert_eq!(r.status(), 200);
    let t2: Value = r.json().await.unwrap();
    let (at2, rt2) = (
        t2["access_token"].as_str().unwrap().to_string(),
        t2["refresh_token"].as_str().unwrap().to_string(),
    );
    assert!(warden_core::store::held_token::parse(&rt2).is_some());
    let old = s.store().find_token(&rt).await.unwrap().unwrap().item;
    assert_eq!(old.status, "rotated");
    // Reusing the old item revokes the whole family: the old access item and the held pair.
    let r = refresh(rt.clone()).await;
    assert_eq!(r.status(), 400);
    assert_eq!(introspect(&s, &c, &secret, &at2).await["active"], false);
    assert_eq!(introspect(&s, &c, &secret, &rt2).await["active"], false);
    assert_eq!(introspect(&s, &c, &secret, &at).await["active"], false);
    // And the end of the session finds whatever is left.
    let code = seal_code(&s, &sess, &c, "openid offline_access", None, None).await;
    let t3: Value = exchange(&s, &c, &secret, &code, None)
        .await
        .json()
        .await
        .unwrap();
    let at3 = t3["access_token"].as_str().unwrap();
    assert_eq!(introspect(&s, &c, &secret, at3).await["active"], true);
    warden_core::session::terminate(
        s.app(),
        &sess.sid,
        None,
        warden_core::store::schema::EndReason::Admin,
    )
    .await
    .unwrap();
    assert_eq!(introspect(&s, &c, &secret, at3).await["active"], false);
    assert_eq!(
        s.store()
            .find_token(at3)
            .await
            .unwrap()
            .unwrap()
            .item
            .revoked_reason
            .as_deref(),
        Some("admin")
    );
}
