//! Administration rules shared by `warden-admin` and the local stack's seed: validating
//! client metadata, creating users and clients.

use crate::crypto;
use crate::error::StoreError;
use crate::schema::{keys, ClientItem, UserItem};
use crate::time::now_ms;
use crate::Store;

pub const BINDINGS: &[&str] = &["sso-session", "cookie", "none"];
pub const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token"];
pub const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// What an administrator says about a client.
#[derive(Debug, Clone, Default)]
pub struct ClientSpec {
    pub client_id: Option<String>,
    pub name: String,
    pub public: bool,
    pub redirect_uris: Vec<String>,
    /// CORS origins for token, userinfo and revoke; empty: the redirect URIs' origins.
    pub web_origins: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    pub frontchannel_logout_uri: Option<String>,
    pub frontchannel_logout_session_required: bool,
    pub scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub token_binding: Option<String>,
    /// May introspect other clients' tokens ([`ClientItem::resource_server`]).
    pub resource_server: bool,
}

fn check_uri(field: &str, u: &str) -> Result<url::Url, String> {
    let parsed =
        url::Url::parse(u).map_err(|e| format!("{field}: {u:?} is not an absolute URL ({e})"))?;
    if parsed.fragment().is_some() {
        return Err(format!("{field}: {u:?} must not contain a fragment"));
    }
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(format!("{field}: {u:?} must be http or https"));
    }
    if parsed.host_str().is_none() {
        return Err(format!("{field}: {u:?} has no host"));
    }
    Ok(parsed)
}

/// Validate a spec into a client item (with its new secret for confidential clients).
/// Errors are sentences for the administrator.
pub fn build_client(
    spec: &ClientSpec,
    existing: Option<&ClientItem>,
) -> Result<(ClientItem, Option<String>), String> {
    let client_id = match (&spec.client_id, existing) {
        (_, Some(e)) => e.client_id.clone(),
        (Some(id), None) => id.clone(),
        // Never starting with '-' or '_': a client id is typed into command lines, where
        // a leading '-' reads as a flag.
        (None, None) => loop {
            let id = crypto::random_id();
            if id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
                break id;
            }
        },
    };
    if client_id.is_empty()
        || client_id.len() > 128
        || !client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err("client_id: 1-128 characters of letters, digits, '-', '_' or '.'".into());
    }
    if spec.redirect_uris.is_empty() {
        return Err("redirect_uris: at least one is required".into());
    }
    let mut redirect_origins = Vec::new();
    for u in &spec.redirect_uris {
        let p = check_uri("redirect_uris", u)?;
        redirect_origins.push((
            p.scheme().to_string(),
            p.host_str().map(str::to_string),
            p.port_or_known_default(),
        ));
    }
    for u in &spec.post_logout_redirect_uris {
        check_uri("post_logout_redirect_uris", u)?;
    }
    for o in &spec.web_origins {
        if crate::cors::origin_of(o).as_deref() != Some(o.as_str()) {
            return Err(format!(
                "web_origins: {o:?} is not an origin (scheme://host[:port], lower case, \
                 no path, no default port)"
            ));
        }
        check_uri("web_origins", o)?;
    }
    if let Some(u) = &spec.backchannel_logout_uri {
        let p = check_uri("backchannel_logout_uri", u)?;
        if spec.public && p.scheme() != "https" {
            return Err(
                "backchannel_logout_uri: a public client's logout URI must use https".into(),
            );
        }
    }
    if let Some(u) = &spec.frontchannel_logout_uri {
        let p = check_uri("frontchannel_logout_uri", u)?;
        if spec.public && p.scheme() != "https" {
            return Err(
                "frontchannel_logout_uri: a public client's logout URI must use https".into(),
            );
        }
        let o = (
            p.scheme().to_string(),
            p.host_str().map(str::to_string),
            p.port_or_known_default(),
        );
        if !redirect_origins.contains(&o) {
            return Err(
                "frontchannel_logout_uri: must have the scheme, host and port of a redirect URI"
                    .into(),
            );
        }
    }
    let binding = spec
        .token_binding
        .clone()
        .unwrap_or_else(|| "sso-session".into());
    if !BINDINGS.contains(&binding.as_str()) {
        return Err(format!(
            "token_binding: {binding:?} is not one of sso-session, cookie, none"
        ));
    }
    let scopes: Vec<String> = if spec.scopes.is_empty() {
        DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect()
    } else {
        spec.scopes.clone()
    };
    for s in &scopes {
        if !crate::oidc::SCOPES.contains(&s.as_str()) {
            return Err(format!("scopes: unknown scope {s:?}"));
        }
    }
    let grant_types: Vec<String> = if spec.grant_types.is_empty() {
        GRANT_TYPES.iter().map(|s| s.to_string()).collect()
    } else {
        spec.grant_types.clone()
    };
    for g in &grant_types {
        if !GRANT_TYPES.contains(&g.as_str()) {
            return Err(format!("grant_types: unsupported grant type {g:?}"));
        }
    }
    let (secret_hash, secret) = match (spec.public, existing) {
        (true, _) => (None, None),
        (false, Some(e)) if e.secret_hash.is_some() => (e.secret_hash.clone(), None),
        (false, _) => {
            let s = crypto::random_token();
            (Some(crypto::hash_secret(&s)), Some(s))
        }
    };
    let (pk, sk) = keys::client(&client_id);
    Ok((
        ClientItem {
            pk,
            sk,
            client_id,
            name: if spec.name.is_empty() {
                "Unnamed app".into()
            } else {
                spec.name.clone()
            },
            secret_hash,
            redirect_uris: spec.redirect_uris.clone(),
            web_origins: spec.web_origins.clone(),
            post_logout_redirect_uris: spec.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: spec.backchannel_logout_uri.clone(),
            backchannel_logout_session_required: spec.backchannel_logout_session_required,
            frontchannel_logout_uri: spec.frontchannel_logout_uri.clone(),
            frontchannel_logout_session_required: spec.frontchannel_logout_session_required,
            scopes,
            grant_types,
            token_binding: binding,
            disabled: false,
            created_ms: existing.map(|e| e.created_ms).unwrap_or_else(now_ms),
            resource_server: spec.resource_server,
        },
        secret,
    ))
}

/// Errors of the create operations.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("already exists")]
    Exists,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Register a new client; returns it and its secret (confidential clients only; shown once).
pub async fn create_client(
    store: &Store,
    spec: &ClientSpec,
) -> Result<(ClientItem, Option<String>), AdminError> {
    let (c, secret) = build_client(spec, None).map_err(AdminError::Invalid)?;
    match store.put_client(&c, true).await {
        Ok(()) => Ok((c, secret)),
        Err(StoreError::ConditionFailed) => Err(AdminError::Exists),
        Err(e) => Err(e.into()),
    }
}

/// Create a user with an argon2id password hash.
pub async fn create_user(
    store: &Store,
    username: &str,
    password: &str,
    name: &str,
    email: &str,
    roles: &[String],
) -> Result<UserItem, AdminError> {
    if username.is_empty()
        || username.len() > 128
        || username
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(AdminError::Invalid(
            "username: 1-128 characters, no spaces".into(),
        ));
    }
    if password.len() < 8 {
        return Err(AdminError::Invalid(
            "password: at least 8 characters".into(),
        ));
    }
    for r in roles {
        if !crate::oidc::SCOPES.contains(&r.as_str()) {
            return Err(AdminError::Invalid(format!("roles: unknown scope {r:?}")));
        }
    }
    let user_id = crypto::random_id();
    let (pk, sk) = keys::user(&user_id);
    let u = UserItem {
        pk,
        sk,
        user_id,
        username: username.to_string(),
        password_hash: crypto::hash_password(password).map_err(AdminError::Invalid)?,
        name: name.to_string(),
        email: email.to_string(),
        disabled: false,
        roles: roles.to_vec(),
        created_ms: now_ms(),
    };
    match store.create_user(&u).await {
        Ok(()) => Ok(u),
        Err(StoreError::ConditionFailed) => Err(AdminError::Exists),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ClientSpec {
        ClientSpec {
            name: "x".into(),
            redirect_uris: vec!["https://rp.example/cb".into()],
            ..Default::default()
        }
    }

    #[test]
    fn validation() {
        let (c, secret) = build_client(&spec(), None).unwrap();
        assert_eq!(c.token_binding, "sso-session");
        for _ in 0..200 {
            let id = build_client(&spec(), None).unwrap().0.client_id;
            assert!(id.starts_with(|c: char| c.is_ascii_alphanumeric()), "{id}");
        }
        assert!(secret.is_some());
        let mut s = spec();
        s.redirect_uris = vec!["https://rp.example/cb#x".into()];
        assert!(build_client(&s, None).unwrap_err().contains("fragment"));
        let mut s = spec();
        s.token_binding = Some("weird".into());
        assert!(build_client(&s, None).is_err());
        for bad in [
            "https://app.example/",
            "https://app.example/path",
            "https://App.example",
            "https://app.example:443",
            "null",
            "ftp://app.example",
        ] {
            let mut s = spec();
            s.web_origins = vec![bad.into()];
            assert!(build_client(&s, None).is_err(), "{bad}");
        }
        let mut s = spec();
        s.web_origins = vec!["https://app.example".into(), "http://localhost:3000".into()];
        assert_eq!(build_client(&s, None).unwrap().0.web_origins.len(), 2);
        let mut s = spec();
        s.public = true;
        s.backchannel_logout_uri = Some("http://rp.example/bc".into());
        assert!(build_client(&s, None).unwrap_err().contains("https"));
        let mut s = spec();
        s.frontchannel_logout_uri = Some("https://other.example/fc".into());
        assert!(build_client(&s, None).is_err());
        let mut s = spec();
        s.frontchannel_logout_uri = Some("https://rp.example/fc".into());
        assert!(build_client(&s, None).is_ok());
    }
}
