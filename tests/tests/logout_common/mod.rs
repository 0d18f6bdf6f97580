//! Helpers shared by the logout test files: third-party verification of logout tokens
//! (PyPI `oic` through `tests/verify_logout_token.py`), our own claim checks, waiting
//! for a delivery to reach a status, and a user signed in to apps.
#![allow(dead_code)]

use base64::Engine;
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use warden_core::store::schema::{ClientItem, DeliveryItem, SessionItem, UserItem};
use warden_tests::Stack;

/// The venv holding `oic`: `WARDEN_VENV`, else `<repo>/.venv`. Missing → the test fails.
pub fn venv_python() -> PathBuf {
    let venv = std::env::var("WARDEN_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv"));
    let py = venv.join("bin/python");
    assert!(
        py.exists(),
        "{} missing: the logout-token verifier needs the test venv with PyPI `oic` \
         (run ./infra/test.sh, or set WARDEN_VENV)",
        py.display()
    );
    py
}

/// Verify logout tokens with pyoidc's `BackChannelLogoutRequest.verify` against the stack's
/// JWKS. Returns one result object per token (`ok`, `claims`, `header` or `error`).
pub async fn oic_verify(stack: &Stack, aud: &str, tokens: &[String]) -> Vec<Value> {
    let py = venv_python();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("verify_logout_token.py");
    let jwks = stack.url("/oauth2/jwks");
    let issuer = stack.app().config.issuer.clone();
    let aud = aud.to_string();
    let input = tokens.join("\n");
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new(py)
            .arg(script)
            .args(["--jwks-uri", &jwks, "--issuer", &issuer, "--aud", &aud])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write tokens");
        child.wait_with_output().expect("verifier output")
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "verifier failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("verifier JSON"))
        .collect();
    assert_eq!(results.len(), tokens.len(), "one result per token");
    results
}

pub fn decode_part(token: &str, i: usize) -> Value {
    let part = token.split('.').nth(i).expect("JWT part");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// Our own checks of a logout token (BCL §2.4 with errata 1): header `typ: logout+jwt`,
/// RS256 with a kid; iss, aud, iat, exp ≤ iat + 120, jti, events with exactly the one
/// member `{}`, sub and sid; no nonce.
pub fn own_checks(token: &str, issuer: &str, aud: &str, sub: &str, sid: &str) {
    let h = decode_part(token, 0);
    assert_eq!(h["typ"], "logout+jwt", "header {h}");
    assert_eq!(h["alg"], "RS256");
    assert!(h["kid"].as_str().is_some_and(|k| !k.is_empty()));
    let c = decode_part(token, 1);
    assert_eq!(c["iss"], issuer);
    assert_eq!(c["aud"], aud);
    assert_eq!(c["sub"], sub);
    assert_eq!(c["sid"], sid);
    assert!(c.get("nonce").is_none(), "no nonce in a logout token");
    assert!(c["jti"].as_str().is_some_and(|j| !j.is_empty()));
    let iat = c["iat"].as_i64().expect("iat");
    let exp = c["exp"].as_i64().expect("exp");
    assert!(exp > iat && exp <= iat + 120, "exp {exp} iat {iat}");
    let now = warden_core::platform::time::now_s();
    assert!((iat - now).abs() < 60, "iat is now");
    let ev = c["events"].as_object().expect("events object");
    assert_eq!(ev.len(), 1, "exactly one event");
    assert_eq!(
        ev.get(warden_core::logout::backchannel::BACKCHANNEL_EVENT),
        Some(&serde_json::json!({}))
    );
}

/// Verify every token both ways and return the verified claims.
pub async fn verify_all(
    stack: &Stack,
    aud: &str,
    sub: &str,
    sid: &str,
    tokens: &[String],
) -> Vec<Value> {
    let issuer = stack.app().config.issuer.clone();
    for t in tokens {
        own_checks(t, &issuer, aud, sub, sid);
    }
    let results = oic_verify(stack, aud, tokens).await;
    for r in &results {
        assert_eq!(r["ok"], true, "oic rejected a logout token: {r}");
        assert_eq!(r["claims"]["sid"], sid);
    }
    results
}

/// Poll the delivery until it has `status` (or panic after `timeout`).
pub async fn wait_status(
    stack: &Stack,
    sid: &str,
    client_id: &str,
    status: &str,
    timeout: Duration,
) -> DeliveryItem {
    let start = Instant::now();
    loop {
        let d = stack
            .store()
            .get_delivery(sid, client_id)
            .await
            .expect("get delivery");
        if let Some(d) = &d {
            if d.status == status {
                return d.clone();
            }
        }
        assert!(
            start.elapsed() < timeout,
            "delivery did not become {status}: {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A user with a live session that `clients` joined (tokens issued as a code exchange would).
pub async fn signed_in(s: &Stack, clients: &[&ClientItem]) -> (UserItem, SessionItem) {
    let user = s
        .user(
            &format!("u{}", warden_core::platform::crypto::random_id()),
            "correct horse",
            &[],
        )
        .await;
    let (mut sess, _) = s.session_for(&user, "test").await;
    for c in clients {
        s.tokens_for(&sess, c, "openid").await;
    }
    sess = s.store().get_session(&sess.sid).await.unwrap().unwrap();
    (user, sess)
}
