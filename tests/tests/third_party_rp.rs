//! Third-party relying parties, as server-side web apps, run the whole code flow against the
//! stack over HTTP and check Warden with their own verifiers: PyPI `oic` (pyoidc,
//! `tests/oidc_rp.py`) — discovery, state, PKCE, the ID token (signature, iss, aud, exp,
//! iat, nonce, at_hash), userinfo, refresh, RP-initiated logout — and npm `openid-client`
//! (`tests/browser/rp_openid_client.mjs`) — the same plus introspection and revocation.

mod logout_common;

use serde_json::Value;
use std::path::PathBuf;
use warden_core::admin::ClientSpec;
use warden_tests::{spawn, Stack};

/// A stack with a confidential client and a user, and the environment both RP scripts
/// read (`ISSUER`, `CLIENT_ID`, `CLIENT_SECRET`, `REDIRECT_URI`, `POST_LOGOUT`, `USERNAME`,
/// `PASSWORD`).
async fn rp_fixture(name: &str, username: &str) -> (Stack, Vec<(&'static str, String)>) {
    let s = spawn().await;
    let redirect = "https://rp.example/cb";
    let bye = "https://rp.example/bye";
    let (client, secret) = s
        .client(ClientSpec {
            name: name.into(),
            redirect_uris: vec![redirect.into()],
            post_logout_redirect_uris: vec![bye.into()],
            ..Default::default()
        })
        .await;
    let password = format!("pw-{username}-1234567");
    s.user(username, &password, &[]).await;
    let vars = vec![
        ("ISSUER", s.app().config.issuer.clone()),
        ("CLIENT_ID", client.client_id),
        ("CLIENT_SECRET", secret.expect("a confidential client")),
        ("REDIRECT_URI", redirect.into()),
        ("POST_LOGOUT", bye.into()),
        ("USERNAME", username.into()),
        ("PASSWORD", password),
    ];
    (s, vars)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyoidc_runs_the_code_flow_refresh_and_logout() {
    let (s, vars) = rp_fixture("pyoidc RP", "pat").await;
    let py = logout_common::venv_python();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc_rp.py");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(py)
            .arg(script)
            .envs(vars)
            .output()
            .expect("python runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pyoidc RP failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["preferred_username"], "pat");
    assert_eq!(v["email"], "pat@example.com");
    let sid = v["sid"].as_str().expect("sid in the ID token");
    s.assert_rp_logged_out(sid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_runs_the_code_flow_introspection_revocation_and_logout() {
    let (s, vars) = rp_fixture("openid-client RP", "quinn").await;
    let out = warden_tests::browser::run("rp_openid_client.mjs", &vars).await;
    println!("{out}");
    assert!(out.contains("openid-client ok"), "{out}");
    let sid = warden_tests::browser::printed(&out, "SID").expect("the script prints the sid");
    s.assert_rp_logged_out(sid).await;
}
