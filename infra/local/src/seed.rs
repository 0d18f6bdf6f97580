//! First-start seed: the My Account client, a demo user and a demo client.

use warden_core::admin::{self, AdminError, ClientSpec};
use warden_core::App;

/// The My Account page's own client id (a first-party public client).
pub const MYACCOUNT_CLIENT: &str = "myaccount";

/// Credentials created on first start (printed once; only hashes are stored).
#[derive(Debug, Clone)]
pub struct Seeded {
    pub username: String,
    pub password: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
}

/// The sessions console's own client id (a first-party public client, issue 20).
pub const CONSOLE_CLIENT: &str = "warden-console";

/// Seed the sessions console's client if it is missing (also on a stack seeded before the
/// console existed). Like My Account's: public, code + PKCE, redirect `<issuer>/console`;
/// its scopes are granted only to users whose roles allow them.
async fn seed_console(app: &App) -> Result<(), AdminError> {
    if app.store.get_client(CONSOLE_CLIENT).await?.is_some() {
        return Ok(());
    }
    let issuer = &app.config.issuer;
    let created = admin::create_client(
        &app.store,
        &ClientSpec {
            client_id: Some(CONSOLE_CLIENT.into()),
            name: "Sessions console".into(),
            public: true,
            redirect_uris: vec![format!("{issuer}/console")],
            post_logout_redirect_uris: vec![format!("{issuer}/console")],
            scopes: vec![
                "openid".into(),
                "profile".into(),
                "internal_session_view".into(),
                "internal_session_delete".into(),
            ],
            grant_types: vec!["authorization_code".into()],
            token_binding: Some("sso-session".into()),
            ..Default::default()
        },
    )
    .await;
    match created {
        Ok(_) | Err(AdminError::Exists) => Ok(()),
        Err(AdminError::Invalid(why)) => {
            tracing::warn!(issuer = %issuer, problem = %why, "the sessions console is not seeded");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Seed once: if the My Account client exists, nothing more is done (the console's client
/// is seeded whenever it is missing).
pub async fn seed(app: &App) -> Result<Option<Seeded>, AdminError> {
    seed_console(app).await?;
    if app.store.get_client(MYACCOUNT_CLIENT).await?.is_some() {
        return Ok(None);
    }
    let issuer = &app.config.issuer;
    // My Account redirects to the issuer itself. An issuer on plain http that is not
    // loopback (`--addr 0.0.0.0:8080`, a LAN address) breaks the client URI rules (RFC 8252:
    // http only for loopback): the stack still starts, without My Account, and says why.
    let myaccount = admin::create_client(
        &app.store,
        &ClientSpec {
            client_id: Some(MYACCOUNT_CLIENT.into()),
            name: "My Account".into(),
            public: true,
            redirect_uris: vec![format!("{issuer}/myaccount")],
            post_logout_redirect_uris: vec![format!("{issuer}/myaccount")],
            scopes: vec!["openid".into(), "profile".into(), "internal_login".into()],
            grant_types: vec!["authorization_code".into()],
            token_binding: Some("sso-session".into()),
            ..Default::default()
        },
    )
    .await;
    match myaccount {
        Ok(_) => {}
        Err(AdminError::Invalid(why)) => {
            tracing::warn!(issuer = %issuer, problem = %why, "My Account is not seeded: give an https issuer (--issuer) or serve on a loopback address");
        }
        Err(e) => return Err(e),
    }
    let redirect_uri = "http://localhost:9000/callback".to_string();
    let demo = admin::create_client(
        &app.store,
        &ClientSpec {
            client_id: Some("demo-app".into()),
            name: "Demo App".into(),
            redirect_uris: vec![redirect_uri.clone()],
            post_logout_redirect_uris: vec!["http://localhost:9000/".into()],
            ..Default::default()
        },
    )
    .await;
    let (demo, secret) = match demo {
        Ok(created) => created,
        // Seeded on an earlier start that could not seed My Account.
        Err(AdminError::Exists) => return Ok(None),
        Err(e) => return Err(e),
    };
    let password = warden_core::platform::crypto::random_id();
    admin::create_user(
        &app.store,
        "demo",
        &password,
        "Demo User",
        "demo@example.com",
        &[
            "internal_login".into(),
            "internal_session_view".into(),
            "internal_session_delete".into(),
        ],
    )
    .await?;
    Ok(Some(Seeded {
        username: "demo".into(),
        password,
        client_id: demo.client_id,
        client_secret: secret.unwrap_or_default(),
        redirect_uri,
    }))
}
