//! The local stack over HTTP: health, discovery, JWKS, routing like API Gateway, errors,
//! persistence across restarts.

use serde_json::Value;
use warden_tests::{spawn, spawn_with, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_health_discovery_and_jwks() {
    let s = spawn().await;
    let h: Value = s
        .http
        .get(s.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "ok");
    let r = s
        .http
        .get(s.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["issuer"], s.base.as_str());
    assert_eq!(d["jwks_uri"], s.url("/oauth2/jwks"));
    assert_eq!(d["backchannel_logout_supported"], true);
    let jwks: Value = s
        .http
        .get(s.url("/oauth2/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let k = &jwks["keys"][0];
    assert_eq!(k["kty"], "RSA");
    assert_eq!(k["alg"], "RS256");
    assert!(k["kid"].as_str().is_some_and(|x| !x.is_empty()));
    assert!(k.get("d").is_none(), "no private parts in the JWKS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_are_json_errors() {
    let s = spawn().await;
    let r = s.http.get(s.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    for k in ["code", "message", "description", "traceId"] {
        assert!(e.get(k).is_some(), "{k} missing in {e}");
    }
    let r = s.http.put(s.url("/oauth2/jwks")).send().await.unwrap();
    assert_eq!(r.status(), 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!(
        "warden-test-{}",
        warden_core::platform::crypto::random_id()
    ));
    let opts = || Options {
        data_dir: dir.clone(),
        memory: false,
        ..Default::default()
    };
    let first = spawn_with(opts()).await;
    assert!(first.running.seeded.is_some(), "first start seeds");
    let jwks1: Value = first
        .http
        .get(first.url("/oauth2/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    first.running.shutdown().await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let second = spawn_with(opts()).await;
    assert!(
        second.running.seeded.is_none(),
        "second start finds the seed"
    );
    let jwks2: Value = second
        .http
        .get(second.url("/oauth2/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        jwks1["keys"][0]["kid"], jwks2["keys"][0]["kid"],
        "same signing key after restart"
    );
    // The signing keys are stored wrapped, and the key-encryption key that opened them again
    // after the restart lives beside the data, readable by its owner only.
    for k in second.store().list_signing_keys().await.unwrap() {
        assert!(
            k.private_pkcs8.is_none(),
            "a signing key stored in the clear"
        );
        assert!(k.private_wrapped.unwrap().starts_with("local:"));
    }
    let kek = dir.join("key-encryption-key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kek).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "key-encryption key readable by others: {mode:o}"
        );
    }
    second.running.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_against_moto_too() {
    let ep = warden_tests::moto_endpoint();
    let table = format!(
        "local{}",
        warden_core::platform::crypto::random_id().replace(['-', '_'], "x")
    );
    let s = spawn_with(Options {
        dynamodb_endpoint: Some(ep),
        table,
        ..Default::default()
    })
    .await;
    let r = s.http.get(s.url("/oauth2/jwks")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
