//! CORS on the endpoints a browser app calls itself (token, userinfo, revoke), over HTTP:
//! preflights for any origin, real requests readable only from the client's web origins,
//! refused before anything happens from other origins (token, revoke).

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;
use warden_core::admin::ClientSpec;
use warden_core::store::schema::ClientItem;
use warden_tests::flow::{authorize_code, pkce};
use warden_tests::{spawn, Stack};

const SPA: &str = "https://spa.example";
const SPA_CB: &str = "https://spa.example/cb";

async fn spa(s: &Stack, web_origins: &[&str]) -> ClientItem {
    s.client(ClientSpec {
        name: "SPA".into(),
        public: true,
        redirect_uris: vec![SPA_CB.into()],
        web_origins: web_origins.iter().map(|o| o.to_string()).collect(),
        ..Default::default()
    })
    .await
    .0
}

/// A signed-in browser's fresh code for `client` and its PKCE verifier.
async fn code_for(s: &Stack, client: &ClientItem, cookie: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let (code, _, _) = authorize_code(
        s,
        cookie,
        &client.client_id,
        SPA_CB,
        &[
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("scope", "openid profile offline_access"),
        ],
    )
    .await;
    (code, verifier)
}

/// The public client's code exchange form (PKCE, no secret).
fn exchange_form(client: &ClientItem, code: &str, verifier: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "authorization_code".into()),
        ("code", code.into()),
        ("redirect_uri", SPA_CB.into()),
        ("client_id", client.client_id.clone()),
        ("code_verifier", verifier.into()),
    ]
}

fn form_ref<'a>(form: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn token_call(s: &Stack, origin: Option<&str>, form: &[(&str, &str)]) -> reqwest::Response {
    let mut rb = s.http.post(s.url("/oauth2/token")).form(form);
    if let Some(o) = origin {
        rb = rb.header("origin", o);
    }
    rb.send().await.unwrap()
}

fn allow_origin(h: &HeaderMap) -> Option<&str> {
    h.get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok())
}

fn varies_on_origin(h: &HeaderMap) -> bool {
    h.get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|x| x.trim().eq_ignore_ascii_case("origin"))
        })
}

#[tokio::test]
async fn preflights_allow_the_methods_and_headers_a_page_needs() {
    let s = spawn().await;
    for (path, method) in [
        ("/oauth2/token", "POST"),
        ("/oauth2/revoke", "POST"),
        ("/oauth2/userinfo", "GET"),
        ("/oauth2/userinfo", "POST"),
    ] {
        let r = s
            .http
            .request(Method::OPTIONS, s.url(path))
            .header("origin", SPA)
            .header("access-control-request-method", method)
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        let h = r.headers();
        assert_eq!(allow_origin(h), Some(SPA), "{path}");
        let methods = h["access-control-allow-methods"].to_str().unwrap();
        assert!(methods.contains(method), "{path}: {methods}");
        let headers = h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        assert!(
            headers.contains("authorization") && headers.contains("content-type"),
            "{path}: {headers}"
        );
        assert!(h.get("access-control-max-age").is_some(), "{path}");
        assert!(
            h.get("access-control-allow-credentials").is_none(),
            "{path}: no cookies on these endpoints"
        );
        assert!(varies_on_origin(h), "{path}");
    }
    // A malformed origin gets no CORS grant.
    let r = s
        .http
        .request(Method::OPTIONS, s.url("/oauth2/token"))
        .header("origin", "null")
        .send()
        .await
        .unwrap();
    assert!(allow_origin(r.headers()).is_none());
}

#[tokio::test]
async fn a_single_page_app_runs_the_code_flow_refresh_userinfo_and_revoke_from_its_origin() {
    let s = spawn().await;
    let client = spa(&s, &[]).await;
    let user = s.user("ana", "pw-ana-123456", &[]).await;
    let (_, cookie) = s.session_for(&user, "Mozilla/5.0 Firefox").await;
    let (code, verifier) = code_for(&s, &client, &cookie).await;
    let form = exchange_form(&client, &code, &verifier);
    let form = form_ref(&form);

    // Another origin (look-alikes included) is refused before the code is touched.
    for other in [
        "https://evil.example",
        "https://spa.example.evil.example",
        "http://spa.example",
        "https://spa.example:8443",
    ] {
        let r = token_call(&s, Some(other), &form).await;
        assert_eq!(r.status(), 400, "{other}");
        assert!(allow_origin(r.headers()).is_none(), "{other}");
        assert!(varies_on_origin(r.headers()));
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "invalid_request", "{other}");
    }

    // From the SPA's own origin the same code still works, and the page may read it.
    let r = token_call(&s, Some(SPA), &form).await;
    assert_eq!(r.status(), 200);
    assert_eq!(allow_origin(r.headers()), Some(SPA));
    assert!(varies_on_origin(r.headers()));
    let t: Value = r.json().await.unwrap();
    let access = t["access_token"].as_str().unwrap().to_string();
    let refresh = t["refresh_token"].as_str().unwrap().to_string();

    // An error after the client is known is readable too (an unknown refresh token).
    let r = token_call(
        &s,
        Some(SPA),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "not-a-refresh-token"),
            ("client_id", client.client_id.as_str()),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(allow_origin(r.headers()), Some(SPA));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_grant");

    // Refresh from the SPA.
    let r = token_call(
        &s,
        Some(SPA),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", client.client_id.as_str()),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(allow_origin(r.headers()), Some(SPA));
    let t: Value = r.json().await.unwrap();
    let access2 = t["access_token"].as_str().unwrap().to_string();
    let refresh2 = t["refresh_token"].as_str().unwrap().to_string();
    let _ = access;

    // Userinfo: readable from the SPA; from elsewhere answered but not readable.
    let userinfo = |origin: &'static str| {
        let s = &s;
        let access2 = access2.clone();
        async move {
            s.http
                .get(s.url("/oauth2/userinfo"))
                .bearer_auth(access2)
                .header("origin", origin)
                .send()
                .await
                .unwrap()
        }
    };
    let r = userinfo(SPA).await;
    assert_eq!(r.status(), 200);
    assert_eq!(allow_origin(r.headers()), Some(SPA));
    assert!(r.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .contains("WWW-Authenticate"));
    let r = userinfo("https://evil.example").await;
    assert!(allow_origin(r.headers()).is_none());
    assert!(varies_on_origin(r.headers()));

    // Revoke: another origin is refused and revokes nothing; the SPA's origin revokes.
    let revoke = |origin: &'static str| {
        let s = &s;
        let form = vec![
            ("token", refresh2.clone()),
            ("client_id", client.client_id.clone()),
        ];
        async move {
            s.http
                .post(s.url("/oauth2/revoke"))
                .header("origin", origin)
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    let r = revoke("https://evil.example").await;
    assert_eq!(r.status(), 400);
    assert!(allow_origin(r.headers()).is_none());
    assert_eq!(userinfo(SPA).await.status(), 200, "nothing was revoked");
    let r = revoke(SPA).await;
    assert_eq!(r.status(), 200);
    assert_eq!(allow_origin(r.headers()), Some(SPA));
    let r = userinfo(SPA).await;
    assert_eq!(r.status(), 401, "the grant's access token went with it");
    assert_eq!(
        allow_origin(r.headers()),
        Some(SPA),
        "a page may read that its token is gone"
    );
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
}

#[tokio::test]
async fn web_origins_replace_the_redirect_origins_and_server_calls_are_unchanged() {
    let s = spawn().await;
    let client = spa(&s, &["https://app.other.example"]).await;
    let user = s.user("bo", "pw-bo-1234567", &[]).await;
    let (_, cookie) = s.session_for(&user, "Mozilla/5.0 Firefox").await;
    let (code, verifier) = code_for(&s, &client, &cookie).await;
    let form = exchange_form(&client, &code, &verifier);
    let form = form_ref(&form);
    let r = token_call(&s, Some(SPA), &form).await;
    assert_eq!(
        r.status(),
        400,
        "listed web origins replace the redirect origins"
    );
    let r = token_call(&s, Some("https://app.other.example"), &form).await;
    assert_eq!(r.status(), 200);
    assert_eq!(allow_origin(r.headers()), Some("https://app.other.example"));

    // No Origin (a server) or Warden's own origin: no CORS headers, nothing refused.
    let (code, verifier) = code_for(&s, &client, &cookie).await;
    let form = exchange_form(&client, &code, &verifier);
    let form = form_ref(&form);
    let own = s.base.clone();
    let r = token_call(&s, Some(&own), &form).await;
    assert_eq!(r.status(), 200, "Warden's own origin is not cross-origin");
    assert!(allow_origin(r.headers()).is_none());
    let (code, verifier) = code_for(&s, &client, &cookie).await;
    let form = exchange_form(&client, &code, &verifier);
    let form = form_ref(&form);
    let r = token_call(&s, None, &form).await;
    assert_eq!(r.status(), 200);
    assert!(allow_origin(r.headers()).is_none());
    assert!(!varies_on_origin(r.headers()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_page_app_in_chromium() {
    let s = spawn().await;
    let app_addr = warden_tests::rp::page_server().await;
    let foreign = warden_tests::rp::page_server().await;
    let redirect = format!("http://{app_addr}/cb");
    let client = s
        .client(ClientSpec {
            name: "Browser SPA".into(),
            public: true,
            redirect_uris: vec![redirect.clone()],
            ..Default::default()
        })
        .await
        .0;
    let user = s.user("cy", "pw-cy-1234567", &[]).await;
    let (_, cookie) = s.session_for(&user, "chromium").await;
    let (verifier, challenge) = pkce();
    let (code, _, _) = authorize_code(
        &s,
        &cookie,
        &client.client_id,
        &redirect,
        &[
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("scope", "openid offline_access"),
        ],
    )
    .await;
    let out = warden_tests::browser::run(
        "cors.mjs",
        &[
            ("OP_BASE", s.base.clone()),
            ("SPA_URL", format!("http://{app_addr}/app")),
            ("FOREIGN_URL", format!("http://{foreign}/app")),
            ("CLIENT_ID", client.client_id.clone()),
            ("REDIRECT_URI", redirect),
            ("CODE", code),
            ("VERIFIER", verifier),
        ],
    )
    .await;
    assert!(out.contains("cors ok"), "{out}");
}

/// The single-page app's web server: `/oidc-client-ts.min.js` (the npm package's browser
/// build) and, for every other path, a page that loads it.
async fn spa_server() -> std::net::SocketAddr {
    let lib = warden_tests::browser::dir()
        .join("node_modules/oidc-client-ts/dist/browser/oidc-client-ts.min.js");
    let js = std::fs::read_to_string(&lib).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run the tests through ./infra/test.sh, which runs npm ci)",
            lib.display()
        )
    });
    let app = axum::Router::new()
        .route(
            "/oidc-client-ts.min.js",
            axum::routing::get(move || {
                let js = js.clone();
                async move { ([("content-type", "text/javascript")], js) }
            }),
        )
        .fallback(|| async {
            axum::response::Html(
                "<!doctype html><html><head><title>SPA</title>\
                 <script src=\"/oidc-client-ts.min.js\"></script></head><body></body></html>",
            )
        });
    warden_tests::rp::serve(app).await
}

/// A third-party OIDC client library (oidc-client-ts) in Chromium, as a real single-page
/// app would use it: sign-in through the login page, exchange and userinfo by CORS, a
/// refresh, revocation and RP-initiated logout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_client_ts_in_chromium() {
    let s = spawn().await;
    let spa_addr = spa_server().await;
    let spa_base = format!("http://{spa_addr}");
    let client = s
        .client(ClientSpec {
            name: "oidc-client-ts SPA".into(),
            public: true,
            redirect_uris: vec![format!("{spa_base}/callback")],
            post_logout_redirect_uris: vec![format!("{spa_base}/bye")],
            ..Default::default()
        })
        .await
        .0;
    s.user("dana", "pw-dana-1234567", &[]).await;
    let out = warden_tests::browser::run(
        "spa.mjs",
        &[
            ("OP_BASE", s.base.clone()),
            ("SPA_BASE", spa_base),
            ("CLIENT_ID", client.client_id.clone()),
            ("USERNAME", "dana".into()),
            ("PASSWORD", "pw-dana-1234567".into()),
        ],
    )
    .await;
    println!("{out}");
    assert!(out.contains("spa ok"), "{out}");
    // The session the app signed in with was ended by its logout.
    let sid = warden_tests::browser::printed(&out, "SID").expect("the script prints the sid");
    s.assert_rp_logged_out(sid).await;
}
