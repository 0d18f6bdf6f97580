//! The whole code flow driven by a third-party RP library (crates.io `openidconnect`):
//! discovery, PKCE, the hosted login page, code exchange, ID-token verification including
//! `sid`, refresh — against a fresh local stack over HTTP.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use warden_core::admin::ClientSpec;
use warden_tests::{flow, spawn, Stack};

const RP: &str = "https://rp.example.org/callback";

/// openidconnect's HTTP client trait, served by the workspace's reqwest (no redirects).
async fn http(
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, reqwest::Error> {
    let client = warden_tests::no_redirect_client();
    let (parts, body) = req.into_parts();
    let mut rb = client.request(parts.method, parts.uri.to_string());
    for (k, v) in parts.headers.iter() {
        rb = rb.header(k, v);
    }
    let r = rb.body(body).send().await?;
    let mut out = http::Response::builder().status(r.status());
    for (k, v) in r.headers() {
        out = out.header(k, v);
    }
    let bytes = r.bytes().await?.to_vec();
    Ok(out.body(bytes).expect("response"))
}

/// Follow the browser part: authorize → login page → authorize → redirect to the RP.
async fn browser(
    s: &Stack,
    auth_url: &str,
    user: &str,
    password: &str,
) -> (String, String, String) {
    let r = s.http.get(auth_url).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        loc.contains("/login?"),
        "unauthenticated → login page: {loc}"
    );
    let return_to = url::Url::parse(&s.url("/"))
        .unwrap()
        .join(&loc)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
        .expect("return_to");
    let r = flow::post_login(s, user, password, &[("return_to", &return_to)]).await;
    assert_eq!(r.status(), 303);
    let cookie = flow::cookie_header_from(r.headers());
    let back = r.headers()["location"].to_str().unwrap().to_string();
    let back = url::Url::parse(&s.url("/")).unwrap().join(&back).unwrap();
    let r = s
        .http
        .get(back)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let cb = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert!(cb.as_str().starts_with(RP));
    let q: std::collections::HashMap<String, String> = cb.query_pairs().into_owned().collect();
    (
        q["code"].clone(),
        q["state"].clone(),
        q["session_state"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openidconnect_rp_completes_the_code_flow() {
    let s = spawn().await;
    let user = s.user("oidc-user", "correct horse battery", &[]).await;
    let (c, secret) = s
        .client(ClientSpec {
            name: "OIDC RP".into(),
            redirect_uris: vec![RP.into()],
            ..Default::default()
        })
        .await;
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(s.base.clone()).unwrap(), &http)
        .await
        .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(c.client_id.clone()),
        secret.map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(RP.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let (code, state, session_state) =
        browser(&s, auth_url.as_str(), "oidc-user", "correct horse battery").await;
    assert_eq!(&state, csrf.secret());
    assert!(session_state.contains('.') && !session_state.contains(' '));
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("id_token");
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("ID token verifies");
    assert_eq!(claims.subject().as_str(), user.user_id);
    assert!(claims.auth_time().is_some());
    // `sid` is not a typed claim of the library: read it from the verified token's payload.
    let payload = id_token.to_string();
    let body = payload.split('.').nth(1).unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&warden_core::platform::crypto::b64_decode(body).unwrap()).unwrap();
    let sid = json["sid"].as_str().expect("sid").to_string();
    // `profile` releases the user's names (copied into the code at authorize); `email` was
    // not asked for.
    assert_eq!(json["preferred_username"], "oidc-user");
    assert!(
        json.get("name").is_some() && json.get("email").is_none(),
        "{json}"
    );
    let sess = s
        .store()
        .get_session(&sid)
        .await
        .unwrap()
        .expect("sid names a session");
    assert_eq!(sess.user_id, user.user_id);
    assert!(
        sess.apps.contains_key(&c.client_id),
        "the client joined the session's app list"
    );
    // Refresh through the library: rotated, still carries sid.
    let rt = tokens.refresh_token().expect("refresh token").clone();
    let refreshed = client
        .exchange_refresh_token(&rt)
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    assert_ne!(refreshed.refresh_token().unwrap().secret(), rt.secret());
    let id2 = refreshed.id_token().expect("id_token on refresh");
    let body = id2.to_string();
    let json: serde_json::Value = serde_json::from_slice(
        &warden_core::platform::crypto::b64_decode(body.split('.').nth(1).unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(json["sid"], sid.as_str());
    assert_eq!(json["preferred_username"], "oidc-user");
    // Userinfo through the library.
    let info: openidconnect::core::CoreUserInfoClaims = client
        .user_info(refreshed.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.subject().as_str(), user.user_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_none_after_logout_is_login_required() {
    let s = spawn().await;
    s.user("pn-user", "correct horse battery", &[]).await;
    let (c, _) = s
        .client(ClientSpec {
            name: "RP".into(),
            redirect_uris: vec![RP.into()],
            ..Default::default()
        })
        .await;
    let cookie = flow::login(&s, "pn-user", "correct horse battery").await;
    let params = [("prompt", "none"), ("state", "st-1")];
    let (code, _, _) = flow::authorize_code(&s, &cookie, &c.client_id, RP, &params).await;
    assert!(!code.is_empty(), "a live session gets a code silently");
    let sid = flow::cookie_value(&cookie, "warden_session").unwrap();
    let sid = sid.split('.').next().unwrap();
    warden_core::session::terminate(
        s.app(),
        sid,
        None,
        warden_core::store::schema::EndReason::User,
    )
    .await
    .unwrap();
    let r = flow::authorize(
        &s,
        &cookie,
        &[
            ("client_id", &c.client_id),
            ("redirect_uri", RP),
            ("response_type", "code"),
            ("scope", "openid"),
            ("prompt", "none"),
            ("state", "st-2"),
        ],
    )
    .await;
    assert_eq!(r.status, 302);
    assert_eq!(r.param("error"), Some("login_required"));
    assert_eq!(r.param("state"), Some("st-2"));
    assert!(r.param("session_state").is_some());
    assert!(r.param("code").is_none());
}
