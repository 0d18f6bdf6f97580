//! Signing keys at rest: wrapped by AWS KMS (against moto server's KMS, with the table in
//! moto too) as the deployed stack does, and by the local key-encryption key as the local
//! stack does. A private key never reaches the table in the clear.

use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use std::sync::Arc;
use warden_core::keys::protection::{KeyProtection, KeyProtector};
use warden_core::outbound::queue::NoQueue;
use warden_core::{App, Config, StoreError};
use warden_tests::{moto_endpoint, moto_store, spawn};

async fn moto_kms_key() -> String {
    let ep = moto_endpoint();
    let sdk = warden_core::platform::sdk::sdk_config(Some(&ep)).await;
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(&sdk)
            .endpoint_url(&ep)
            .build(),
    );
    kms.create_key()
        .key_spec(KeySpec::SymmetricDefault)
        .key_usage(KeyUsageType::EncryptDecrypt)
        .description("warden test")
        .send()
        .await
        .expect("moto CreateKey")
        .key_metadata
        .expect("key metadata")
        .arn
        .expect("key arn")
}

fn app_with(store: &warden_core::Store, protection: KeyProtection) -> App {
    let mut config = Config::new("https://id.example.com", &store.table).unwrap();
    config.key_protection = protection;
    config.kms_endpoint = Some(moto_endpoint());
    App::new(config, store.clone(), Arc::new(NoQueue))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_wraps_the_first_key_and_a_fresh_process_opens_it() {
    let store = moto_store().await;
    let key_arn = moto_kms_key().await;
    let kms = || KeyProtection::Kms {
        key_id: key_arn.clone(),
    };

    // The first process creates the first key: wrapped by KMS before it is written.
    let first = app_with(&store, kms());
    let ks1 = first.keys().await.expect("keys");
    let stored = store.list_signing_keys().await.unwrap();
    assert_eq!(stored.len(), 1);
    let item = &stored[0];
    assert!(item.private_pkcs8.is_none(), "stored in the clear");
    assert!(item.private_wrapped.as_deref().unwrap().starts_with("kms:"));

    // Another process (no cache) opens it through KMS and verifies what the first signed.
    let second = app_with(&store, kms());
    let ks2 = second.keys().await.expect("a fresh process opens the key");
    assert_eq!(ks1.signer_kid(), ks2.signer_kid());
    let jwt = ks1
        .sign(
            "JWT",
            &serde_json::json!({"iss": "https://id.example.com", "sub": "u",
                "exp": warden_core::platform::time::now_s() + 60}),
        )
        .unwrap();
    assert!(ks2.verify(&jwt, "https://id.example.com", true).is_ok());

    // KMS binds the ciphertext to its kid: under another kid it does not open.
    let p = KeyProtector::new(kms(), Some(moto_endpoint()));
    let mut moved = item.clone();
    moved.kid = "another-kid".into();
    assert!(
        p.open(&moved).await.is_err(),
        "a wrapped key passed off as another kid"
    );
    assert!(p.open(item).await.unwrap().private_pkcs8.is_some());

    // A process configured with a local key-encryption key cannot open KMS-wrapped keys:
    // the error says so, and nothing is served with a key it cannot open.
    let wrong = app_with(&store, KeyProtection::random_local());
    match wrong.keys().await {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("kms"), "{m}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }

    // A key rotated by another process (warden-admin keys rotate) is wrapped the same way
    // and opens here after the key cache is dropped.
    let mut new =
        warden_core::keys::signing::generate_key_item(warden_core::platform::time::now_ms())
            .unwrap();
    p.wrap(&mut new).await.unwrap();
    store.rotate_signing_key(&new, &stored).await.unwrap();
    second.invalidate_keys();
    assert_eq!(second.keys().await.unwrap().signer_kid(), new.kid);
    // A key in the clear is refused by the store.
    let clear =
        warden_core::keys::signing::generate_key_item(warden_core::platform::time::now_ms())
            .unwrap();
    assert!(store
        .rotate_signing_key(&clear, &store.list_signing_keys().await.unwrap())
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_stack_stores_its_keys_wrapped() {
    let s = spawn().await;
    let r = s.http.get(s.url("/oauth2/jwks")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let keys = s.store().list_signing_keys().await.unwrap();
    assert!(!keys.is_empty());
    for k in &keys {
        assert!(k.private_pkcs8.is_none(), "stored in the clear");
        assert!(k.private_wrapped.as_deref().unwrap().starts_with("local:"));
    }
    // Only the stack's key-encryption key opens them.
    let mine = KeyProtector::new(s.app().config.key_protection.clone(), None);
    let other = KeyProtector::new(KeyProtection::random_local(), None);
    assert!(mine.open(&keys[0]).await.is_ok());
    assert!(other.open(&keys[0]).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_seals_a_push_authorization_header_for_its_stream_only() {
    let key_arn = moto_kms_key().await;
    let p = KeyProtector::new(
        KeyProtection::Kms { key_id: key_arn },
        Some(moto_endpoint()),
    );
    let sealed = p
        .seal("ssf-authorization", "stream-1", b"Bearer receiver-secret")
        .await
        .expect("KMS Encrypt");
    assert!(sealed.starts_with("kms:") && !sealed.contains("receiver-secret"));
    // A fresh process opens it with the same encryption context, and only with it.
    let fresh = KeyProtector::new(p.protection().clone(), Some(moto_endpoint()));
    assert_eq!(
        fresh
            .open_sealed("ssf-authorization", "stream-1", &sealed)
            .await
            .expect("KMS Decrypt"),
        b"Bearer receiver-secret"
    );
    assert!(fresh
        .open_sealed("ssf-authorization", "stream-2", &sealed)
        .await
        .is_err());
    // A signing key's wrapping is not a sealed secret, nor the other way round.
    let local = KeyProtector::new(KeyProtection::random_local(), None);
    assert!(local
        .open_sealed("ssf-authorization", "stream-1", &sealed)
        .await
        .is_err());
}
