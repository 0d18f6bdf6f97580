//! The My Account page in headless Chromium (tests/browser/myaccount.mjs).
//!
//! * `myaccount_lists_and_ends_sessions` gives the page a real token (put into
//!   sessionStorage by the browser script, as the page itself would after signing in) and
//!   checks the list, "This device", ending another session with confirmation, and that
//!   ending its own session makes the page drop its revoked token and sign in again.
//! * `myaccount_full_flow` is the whole story through the login page, authorize and the
//!   token endpoint (code + PKCE as the public client `myaccount`).
//!
//! Both save a screenshot of the sessions list under `target/tmp/screenshots/`.

use std::path::PathBuf;
use warden_core::store::schema::ClientItem;
use warden_tests::{browser, spawn, Stack};

const CHROME_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";
const FIREFOX_LINUX: &str =
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

fn screenshot(name: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir.join(name).display().to_string()
}

async fn myaccount_client(s: &Stack) -> ClientItem {
    s.store()
        .get_client("myaccount")
        .await
        .expect("store")
        .expect("the seed creates the myaccount client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn myaccount_lists_and_ends_sessions() {
    let s = spawn().await;
    let client = myaccount_client(&s).await;
    let alice = s.user("alice", "password-alice", &["internal_login"]).await;
    let (mine, _) = s.session_for(&alice, CHROME_LINUX).await;
    let (other, _) = s.session_for(&alice, FIREFOX_LINUX).await;
    let tok = s
        .tokens_for(&mine, &client, "openid profile internal_login")
        .await;
    let shot = screenshot("myaccount-sessions-inject.png");
    let out = browser::run(
        "myaccount.mjs",
        &[
            ("BASE", s.base.clone()),
            ("MODE", "inject".into()),
            ("TOKEN", tok.access_token.clone()),
            ("OTHER_SID", other.sid.clone()),
            ("SCREENSHOT", shot.clone()),
        ],
    )
    .await;
    assert!(out.contains("MYACCOUNT OK"), "{out}");
    assert!(std::path::Path::new(&shot).exists());
    // Both sessions really ended, by the user.
    for sid in [&other.sid, &mine.sid] {
        let x = s.store().get_session(sid).await.unwrap().unwrap();
        assert_eq!(x.status, "ended", "{sid}");
        assert_eq!(x.ended_reason.as_deref(), Some("user"));
    }
    let found = s.store().find_token(&tok.access_token).await.unwrap();
    assert_eq!(found.unwrap().item.status, "revoked");
}

/// Needs the login page, /oauth2/authorize and /oauth2/token (built in parallel; this test
/// passes once they are merged).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn myaccount_full_flow() {
    let s = spawn().await;
    let alice = s.user("alice", "password-alice", &["internal_login"]).await;
    let (other, _) = s.session_for(&alice, FIREFOX_LINUX).await;
    let shot = screenshot("myaccount-sessions.png");
    let out = browser::run(
        "myaccount.mjs",
        &[
            ("BASE", s.base.clone()),
            ("MODE", "full".into()),
            ("USERNAME", "alice".into()),
            ("PASSWORD", "password-alice".into()),
            ("OTHER_SID", other.sid.clone()),
            ("SCREENSHOT", shot.clone()),
        ],
    )
    .await;
    assert!(out.contains("MYACCOUNT OK"), "{out}");
    assert!(std::path::Path::new(&shot).exists());
    let x = s.store().get_session(&other.sid).await.unwrap().unwrap();
    assert_eq!(x.status, "ended");
    // No live session of alice is left: the page's own ended too.
    let left = s
        .store()
        .all_user_sessions(&alice.user_id, warden_core::platform::time::now_s())
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}

/// Issue 19 part 1: My Account's "Change password" (tests/browser/myaccount_password.mjs):
/// inline errors for a mismatched confirmation, a wrong current password and a short new
/// one; then a change that signs out the other device (reason `credential_change`, by the
/// user) and keeps this one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn myaccount_changes_the_password_and_signs_out_the_other_devices() {
    let s = spawn().await;
    let client = myaccount_client(&s).await;
    let alice = s.user("alice", "password-alice", &["internal_login"]).await;
    let (mine, _) = s.session_for(&alice, CHROME_LINUX).await;
    let (other, _) = s.session_for(&alice, FIREFOX_LINUX).await;
    let tok = s
        .tokens_for(&mine, &client, "openid profile internal_login")
        .await;
    let shot = screenshot("myaccount-password.png");
    let out = browser::run(
        "myaccount_password.mjs",
        &[
            ("BASE", s.base.clone()),
            ("TOKEN", tok.access_token.clone()),
            ("CURRENT", "password-alice".into()),
            ("NEW", "a fresh secret 2026".into()),
            ("OTHER_SID", other.sid.clone()),
            ("SCREENSHOT", shot.clone()),
        ],
    )
    .await;
    assert!(out.contains("PASSWORD OK"), "{out}");
    let x = s.store().get_session(&other.sid).await.unwrap().unwrap();
    assert_eq!(x.ended_reason.as_deref(), Some("credential_change"));
    assert_eq!(
        x.ended_by.and_then(|b| b.user_id),
        Some(alice.user_id.clone())
    );
    let now = warden_core::platform::time::now_s();
    let kept = s.store().get_session(&mine.sid).await.unwrap().unwrap();
    assert!(kept.is_live(now), "this device stays signed in");
    let u = s.store().get_user(&alice.user_id).await.unwrap().unwrap();
    assert!(warden_core::platform::crypto::verify_password(
        "a fresh secret 2026",
        &u.password_hash
    ));
}
