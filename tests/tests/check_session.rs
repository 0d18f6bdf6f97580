//! The check_session iframe (Session Management 1.0 §3.2, checklist items 8–10): over HTTP
//! (frameable; with client_id only that client's origins embedded; without, as published) and in headless
//! Chromium (`tests/browser/checksession.mjs`): `unchanged`, `error` for garbage, no answer
//! to an unregistered origin, `changed` after a real RP-initiated logout.

use reqwest::header::LOCATION;
use warden_core::admin::ClientSpec;
use warden_tests::spawn;

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
    // session_for's Cookie header: "warden_session=<v>; warden_bs=<bs>".
    let session_cookie = header
        .split("; ")
        .find_map(|p| p.strip_prefix("warden_session="))
        .unwrap()
        .to_string();
    let bs = header
        .split("; ")
        .find_map(|p| p.strip_prefix("warden_bs="))
        .unwrap()
        .to_string();
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
    let out = warden_tests::browser::run(
        "checksession.mjs",
        &[
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
