//! The per-client `offline_access` policy (issue "Every way a session ends", item 5):
//! Back-Channel Logout 1.0 §2.7 says refresh tokens granted `offline_access` SHOULD NOT be
//! revoked at logout; Warden keeps today's behaviour (revoke everything) unless the client
//! says `keep_offline_tokens`. Then its offline refresh tokens outlive the user's logout,
//! the RP's logout and expiry — and still die with a credential change, a disabled or
//! deleted account and an administrator's termination, even after their session ended.

use serde_json::Value;
use warden_core::admin::ClientSpec;
use warden_core::session::terminate::{terminate, terminate_all_by};
use warden_core::store::schema::{ClientItem, EndReason, UserItem};
use warden_tests::flow;
use warden_tests::{spawn, Stack};

const SCOPE: &str = "openid offline_access";

async fn app(s: &Stack, id: &str, keep: bool) -> (ClientItem, String) {
    let (c, secret) = s
        .client(ClientSpec {
            client_id: Some(id.into()),
            name: "Mail app".into(),
            redirect_uris: vec![format!("https://{id}.example/cb")],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scopes: vec!["openid".into(), "offline_access".into()],
            keep_offline_tokens: keep,
            ..Default::default()
        })
        .await;
    (c, secret.expect("confidential"))
}

/// A session of `user` that `c` joined with `scope`: `(sid, access, refresh)`.
async fn signed_in(
    s: &Stack,
    user: &UserItem,
    c: &ClientItem,
    scope: &str,
) -> (String, String, String) {
    let (sess, _) = s.session_for(user, "test").await;
    let t = s.tokens_for(&sess, c, scope).await;
    (
        sess.sid,
        t.access_token,
        t.refresh_token.expect("a refresh token"),
    )
}

/// Refresh over HTTP: `Ok((access, refresh))` or `Err(error code)`.
async fn refresh(
    s: &Stack,
    c: &ClientItem,
    secret: &str,
    rt: &str,
) -> Result<(String, String), String> {
    let r = flow::refresh(s, &c.client_id, secret, rt).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    if status == 200 {
        Ok((
            body["access_token"].as_str().unwrap().to_string(),
            body["refresh_token"].as_str().unwrap().to_string(),
        ))
    } else {
        assert_eq!(status, 400, "{body}");
        Err(body["error"].as_str().unwrap_or_default().to_string())
    }
}

async fn active(s: &Stack, c: &ClientItem, secret: &str, token: &str) -> bool {
    flow::introspect(s, &c.client_id, secret, token).await["active"] == true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_tokens_outlive_logout_and_expiry_then_die_with_a_credential_change() {
    let s = spawn().await;
    let (c, secret) = app(&s, "mail", true).await;
    let alice = s.user("alice", "alice password 1", &[]).await;
    for reason in [EndReason::User, EndReason::RpLogout, EndReason::IdleTimeout] {
        let (sid, at, rt) = signed_in(&s, &alice, &c, SCOPE).await;
        terminate(s.app(), &sid, None, reason).await.unwrap();
        assert!(
            !active(&s, &c, &secret, &at).await,
            "{reason}: the access token ends with the session"
        );
        assert!(
            active(&s, &c, &secret, &rt).await,
            "{reason}: the offline refresh token does not"
        );
        let (at2, rt2) = refresh(&s, &c, &secret, &rt)
            .await
            .expect("refresh after the session ended");
        assert!(active(&s, &c, &secret, &at2).await);
        // It keeps rotating without its session, and reuse is still detected.
        let (_, rt3) = refresh(&s, &c, &secret, &rt2).await.expect("and again");
        assert_eq!(
            refresh(&s, &c, &secret, &rt).await,
            Err("invalid_grant".into())
        );
        // The reuse revoked the family, detached tokens included.
        assert_eq!(
            refresh(&s, &c, &secret, &rt3).await,
            Err("invalid_grant".into())
        );
    }
    // A grant that outlived its session, and one whose session is still live: a credential
    // change kills both, except the session the user kept (and its grant).
    let (sid, _, rt) = signed_in(&s, &alice, &c, SCOPE).await;
    terminate(s.app(), &sid, None, EndReason::User)
        .await
        .unwrap();
    let (at_detached, rt_detached) = refresh(&s, &c, &secret, &rt).await.unwrap();
    let (_, _, rt_live) = signed_in(&s, &alice, &c, SCOPE).await;
    let (kept_sid, _, rt_kept) = signed_in(&s, &alice, &c, SCOPE).await;
    let bob = s.user("bob", "bob password 1", &[]).await;
    let (_, _, rt_bob) = signed_in(&s, &bob, &c, SCOPE).await;
    let ended = terminate_all_by(
        s.app(),
        &alice.user_id,
        &[kept_sid],
        EndReason::CredentialChange,
        None,
    )
    .await
    .unwrap();
    assert_eq!(ended, 1, "the other live session ended");
    assert_eq!(
        refresh(&s, &c, &secret, &rt_detached).await,
        Err("invalid_grant".into())
    );
    assert!(!active(&s, &c, &secret, &at_detached).await);
    assert_eq!(
        refresh(&s, &c, &secret, &rt_live).await,
        Err("invalid_grant".into())
    );
    assert!(
        refresh(&s, &c, &secret, &rt_kept).await.is_ok(),
        "the kept session's grant stays"
    );
    assert!(
        refresh(&s, &c, &secret, &rt_bob).await.is_ok(),
        "nobody else's grant moved"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_and_a_disabled_account_end_offline_tokens_too() {
    let s = spawn().await;
    let (c, secret) = app(&s, "mail", true).await;
    let alice = s.user("alice", "alice password 1", &[]).await;
    // An administrator ending the session revokes its offline token with it.
    let (sid, _, rt) = signed_in(&s, &alice, &c, SCOPE).await;
    terminate(s.app(), &sid, None, EndReason::Admin)
        .await
        .unwrap();
    assert_eq!(
        refresh(&s, &c, &secret, &rt).await,
        Err("invalid_grant".into())
    );
    // A disabled account: the grant that outlived a logout goes, and a refresh that races
    // the disable finds the user disabled.
    let (sid, _, rt) = signed_in(&s, &alice, &c, SCOPE).await;
    terminate(s.app(), &sid, None, EndReason::User)
        .await
        .unwrap();
    let (_, rt2) = refresh(&s, &c, &secret, &rt).await.unwrap();
    let mut disabled = s.store().get_user(&alice.user_id).await.unwrap().unwrap();
    disabled.disabled = true;
    s.store().update_user(&disabled).await.unwrap();
    assert_eq!(
        refresh(&s, &c, &secret, &rt2).await,
        Err("invalid_grant".into()),
        "a disabled user's detached grant does not refresh"
    );
    terminate_all_by(s.app(), &alice.user_id, &[], EndReason::UserDisabled, None)
        .await
        .unwrap();
    assert!(!active(&s, &c, &secret, &rt2).await);
    assert!(s
        .store()
        .offline_grants(&alice.user_id)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_and_without_offline_access_logout_revokes_every_token() {
    let s = spawn().await;
    let (plain, plain_secret) = app(&s, "plain", false).await;
    let (keeps, keeps_secret) = app(&s, "keeps", true).await;
    let alice = s.user("alice", "alice password 1", &[]).await;
    // A client without the setting: today's behaviour.
    let (sid, _, rt) = signed_in(&s, &alice, &plain, SCOPE).await;
    terminate(s.app(), &sid, None, EndReason::User)
        .await
        .unwrap();
    assert_eq!(
        refresh(&s, &plain, &plain_secret, &rt).await,
        Err("invalid_grant".into())
    );
    // A client with it, but a grant without offline_access: an ordinary session grant.
    let (sid, _, rt) = signed_in(&s, &alice, &keeps, "openid").await;
    terminate(s.app(), &sid, None, EndReason::RpLogout)
        .await
        .unwrap();
    assert_eq!(
        refresh(&s, &keeps, &keeps_secret, &rt).await,
        Err("invalid_grant".into())
    );
}
