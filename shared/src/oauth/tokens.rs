//! Issuing tokens: the code exchange (with the client's token↔session binding), refresh
//! rotation with reuse detection, revocation, introspection, and ID tokens.
//!
//! Binding types (DESIGN.md flow 3):
//! * `sso-session`: every exchange gets its own token pair, mapped to exactly one session.
//! * `cookie`: one access token per browser (`warden_atbv` cookie) + client + scope, mapped to
//!   every session of that browser.
//! * `none`: one access token per user + client + scope, reused by later exchanges and mapped
//!   to each of their sessions; ending any of them revokes it (WSO2 behaviour).
//!
//! A shared access token is re-derived from a stored random seed with an HMAC keyed by the
//! signing key's secret, so it can be handed out again while the table keeps only its hash.
//!
//! Tokens of one session issued fresh (`sso-session` exchanges, and every refresh) are
//! *held* by the issuance's session link ([`crate::store::schema::HeldGrant`],
//! [`crate::store::held_token`]): no token items, so an exchange writes 3 items instead of 5.
//! Shared tokens, and their exchanges' refresh tokens, stay `TOKEN#` items.

use crate::app::App;
use crate::platform::crypto::{self, hash_secret};
use crate::platform::time::now_s;
use crate::store::schema::{
    keys, ClientItem, CodeGrant, EndReason, IdClaims, SharedGrantItem, TokenBinding, TokenItem,
    TokenKind, TokenStatus, UserItem,
};
use crate::store::StoreError;
use crate::store::{Issue, TokenRef};
use serde_json::{json, Value};

/// Tokens handed to the client.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The access token (opaque; only its hash is stored).
    pub access_token: String,
    /// The refresh token, when the client may use the `refresh_token` grant.
    pub refresh_token: Option<String>,
    /// Seconds until the access token expires (less than the lifetime when a shared token is
    /// reused).
    pub expires_in: i64,
    /// The granted scope (space-separated).
    pub scope: String,
    /// The user (the ID token's `sub`).
    pub user_id: String,
    /// The session the tokens are mapped to (the ID token's `sid`).
    pub sid: String,
    /// When the user authenticated (epoch s; the ID token's `auth_time`).
    pub auth_time: i64,
}

/// Why a grant failed.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// RFC 6749 `invalid_grant` with a description.
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    /// The code was exchanged before (its link exists); nothing was written. `family` is
    /// the family that exchange created, when the link was read.
    #[error("code already used")]
    CodeUsed {
        /// The family to revoke (RFC 6749 §4.1.2), if known.
        family: Option<String>,
    },
    /// The store failed; the endpoint answers `server_error` or `temporarily_unavailable`.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What every token of one grant shares.
struct Mint<'a> {
    client: &'a str,
    user: &'a str,
    sid: &'a str,
    family: &'a str,
    auth_time: i64,
    /// The tokens belong to an offline grant ([`offline_grant`]).
    offline: bool,
}

impl Mint<'_> {
    fn token(&self, kind: TokenKind, hash: &str, scope: &str, ttl: i64) -> TokenItem {
        let now = now_s();
        let (pk, sk) = keys::token(hash);
        TokenItem {
            pk,
            sk,
            kind,
            client_id: self.client.into(),
            user_id: self.user.into(),
            scope: scope.into(),
            iat: now,
            exp: now + ttl,
            status: TokenStatus::Active,
            sessions: vec![self.sid.into()],
            family: self.family.into(),
            auth_time: self.auth_time,
            revoked_reason: None,
            offline: self.offline,
            expires_at: now + ttl,
        }
    }
}

/// A new token: held by the link `held_key` of session `sid`, or a plain random token
/// (kept as a `TOKEN#` item).
fn new_token(sid: &str, held_key: Option<&str>) -> String {
    match held_key {
        Some(key) => crate::store::held_token::mint(sid, key),
        None => crypto::random_token(),
    }
}

fn wants_refresh(client: &ClientItem) -> bool {
    client.grant_types.iter().any(|g| g == "refresh_token")
}

/// Whether a grant of `scope` to `client` is an offline grant: the client keeps
/// `offline_access` tokens through logout ([`ClientItem::keep_offline_tokens`]), it gets a
/// refresh token, and the scope has `offline_access`. Its tokens are `TOKEN#` items (not
/// held by the session's link, which ends with the session) registered under the user.
pub fn offline_grant(client: &ClientItem, scope: &str) -> bool {
    client.keep_offline_tokens
        && wants_refresh(client)
        && scope.split(' ').any(|s| s == "offline_access")
}

/// Issue tokens for a code's grant. 1 TransactWriteItems for `sso-session`, whose link is
/// keyed by `used` (the code's hash, and how long to keep the link), put only if absent so
/// the code issues at most once, and holds the new tokens; `none` and `cookie` add 1
/// GetItem (the shared-grant pointer) and write token items. `family` is the new grant
/// family.
pub async fn issue_for_code(
    app: &App,
    client: &ClientItem,
    code: &CodeGrant,
    used: Option<(String, i64)>,
    family: &str,
) -> Result<Issued, GrantError> {
    let cfg = &app.config;
    let at_ttl = cfg.access_token_ttl.as_secs() as i64;
    let rt_ttl = cfg.refresh_token_ttl.as_secs() as i64;
    let offline = offline_grant(client, &code.scope);
    let mint = Mint {
        client: &client.client_id,
        user: &code.user_id,
        sid: &code.sid,
        family,
        auth_time: code.auth_time,
        offline,
    };
    let mut issue = Issue {
        sessions: vec![code.sid.clone()],
        family: family.into(),
        code: used,
        offline_user: offline.then(|| code.user_id.clone()),
        ..Default::default()
    };
    let discriminator = shared_grant_discriminator(
        client.token_binding,
        code.browser_binding.as_deref(),
        &code.user_id,
        &client.client_id,
        &code.scope,
    );
    // Fresh tokens of one session (`sso-session`) are held by the code's link: the
    // exchange writes no token items. Shared tokens keep their `TOKEN#` items.
    // An offline grant's tokens are items: they may outlive the session.
    let held_key = match (&discriminator, &issue.code) {
        _ if offline => None,
        (None, Some((code_hash, _))) => Some(code_hash.clone()),
        (None, None) => Some(crypto::random_id()),
        _ => None,
    };
    if issue.code.is_none() {
        issue.link_key = held_key.clone();
    }
    issue.hold = held_key.is_some();
    let refresh_token = if wants_refresh(client) {
        let rt = new_token(&code.sid, held_key.as_deref());
        let h = hash_secret(&rt);
        let t = mint.token(TokenKind::Refresh, &h, &code.scope, rt_ttl);
        issue.new_tokens.push((h, t));
        Some(rt)
    } else {
        None
    };
    let now = now_s();
    if let Some(disc) = &discriminator {
        // Reuse the shared access token while it has at least a minute left.
        if let Some(g) = app.store.get_shared_grant(disc).await? {
            if g.exp > now + 60 && g.user_id == code.user_id && g.client_id == client.client_id {
                if let Some(at) = derive_shared(app, &g).await? {
                    let mut reuse = Issue {
                        sessions: issue.sessions.clone(),
                        new_tokens: issue.new_tokens.clone(),
                        family: issue.family.clone(),
                        code: issue.code.clone(),
                        offline_user: issue.offline_user.clone(),
                        ..Default::default()
                    };
                    reuse.link_existing.push((
                        g.access_hash.clone(),
                        g.family.clone(),
                        g.expires_at,
                    ));
                    match app.store.issue(&reuse).await {
                        Ok(()) => {
                            return Ok(Issued {
                                access_token: at,
                                refresh_token,
                                expires_in: g.exp - now,
                                scope: code.scope.clone(),
                                user_id: code.user_id.clone(),
                                sid: code.sid.clone(),
                                auth_time: code.auth_time,
                            })
                        }
                        // The shared token was revoked or expired meanwhile, or the session
                        // ended: fall through to a fresh token (which re-checks the session).
                        Err(StoreError::ConditionFailed) => {}
                        Err(StoreError::AlreadyUsed { family }) => {
                            return Err(GrantError::CodeUsed { family })
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
    }
    let (access_token, shared) = match &discriminator {
        Some(disc) => {
            let keys = app.keys().await?;
            let seed = crypto::random_token();
            let kid = keys.signer_kid().to_string();
            let key = keys
                .derivation_key(&kid)
                .ok_or(StoreError::Backend("no derivation key".into()))?;
            let at = crypto::hmac_b64(&key, seed.as_bytes());
            let (pk, sk) = keys::shared_grant(disc);
            let g = SharedGrantItem {
                pk,
                sk,
                user_id: code.user_id.clone(),
                client_id: client.client_id.clone(),
                access_hash: hash_secret(&at),
                seed,
                family: family.into(),
                exp: now + at_ttl,
                kid,
                expires_at: now + at_ttl,
            };
            (at, Some(g))
        }
        None => (new_token(&code.sid, held_key.as_deref()), None),
    };
    let h = hash_secret(&access_token);
    let t = mint.token(TokenKind::Access, &h, &code.scope, at_ttl);
    issue.new_tokens.push((h, t));
    issue.shared_grant = shared;
    match app.store.issue(&issue).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => {
            return Err(GrantError::InvalidGrant("The session has ended."))
        }
        Err(StoreError::AlreadyUsed { family }) => return Err(GrantError::CodeUsed { family }),
        Err(e) => return Err(e.into()),
    }
    Ok(Issued {
        access_token,
        refresh_token,
        expires_in: at_ttl,
        scope: code.scope.clone(),
        user_id: code.user_id.clone(),
        sid: code.sid.clone(),
        auth_time: code.auth_time,
    })
}

/// Issue a client-credentials access token (RFC 6749 §4.4.3): the client's own, bound to
/// no user and no session (so no termination ever revokes it; RFC 7009 revocation and
/// expiry do), of `scope` (already checked), with no refresh token. Stored as a `TOKEN#`
/// item by its hash, like every unheld token. 1 round trip (a TransactWriteItems of that
/// one item, put only if absent).
pub async fn issue_for_client(
    app: &App,
    client: &ClientItem,
    scope: &str,
) -> Result<Issued, StoreError> {
    let ttl = app.config.access_token_ttl.as_secs() as i64;
    let family = crypto::random_id();
    let mint = Mint {
        client: &client.client_id,
        user: "",
        sid: "",
        family: &family,
        auth_time: 0,
        offline: false,
    };
    let at = crypto::random_token();
    let h = hash_secret(&at);
    let mut t = mint.token(TokenKind::Access, &h, scope, ttl);
    t.sessions.clear();
    let issue = Issue {
        new_tokens: vec![(h, t)],
        family,
        ..Default::default()
    };
    app.store.issue(&issue).await?;
    Ok(Issued {
        access_token: at,
        refresh_token: None,
        expires_in: ttl,
        scope: scope.into(),
        user_id: String::new(),
        sid: String::new(),
        auth_time: 0,
    })
}

/// The key of the shared grant a `none` or `cookie` exchange reuses, `None` for a binding
/// whose tokens are never shared (`sso-session`, or `cookie` without a browser cookie).
/// Always keyed by user, client and scope: a shared token is one user's, whatever browser
/// asks for it (a browser that two people sign in to gets two tokens).
pub fn shared_grant_discriminator(
    binding: TokenBinding,
    browser_binding: Option<&str>,
    user_id: &str,
    client_id: &str,
    scope: &str,
) -> Option<String> {
    let scope = hash_secret(scope);
    match binding {
        TokenBinding::None => Some(format!("none#{user_id}#{client_id}#{scope}")),
        TokenBinding::Cookie => {
            browser_binding.map(|b| format!("cookie#{b}#{user_id}#{client_id}#{scope}"))
        }
        TokenBinding::SsoSession => None,
    }
}

async fn derive_shared(app: &App, g: &SharedGrantItem) -> Result<Option<String>, StoreError> {
    let keys = app.keys().await?;
    let Some(key) = keys.derivation_key(&g.kid) else {
        // Signed with a rotated key: start a new shared token.
        return Ok(None);
    };
    let at = crypto::hmac_b64(&key, g.seed.as_bytes());
    Ok(crypto::ct_eq(hash_secret(&at).as_bytes(), g.access_hash.as_bytes()).then_some(at))
}

/// Refresh with rotation. The old refresh token becomes `rotated`; presenting a rotated
/// token again revokes the whole family (RFC 9700 §4.14.2). The new pair is held by the
/// refresh's own link. Round trips: 1 GetItem + 1 TransactWriteItems of 4 items (reuse:
/// + 1 Query + 1 TransactWriteItems per 100 token items or held links).
pub async fn refresh(
    app: &App,
    client: &ClientItem,
    refresh_token: &str,
    scope: Option<&str>,
) -> Result<Issued, GrantError> {
    let Some(found) = app.store.find_token(refresh_token).await? else {
        return Err(GrantError::InvalidGrant("Unknown refresh token."));
    };
    let old = found.item;
    if old.kind != TokenKind::Refresh || old.client_id != client.client_id {
        return Err(GrantError::InvalidGrant("Unknown refresh token."));
    }
    if old.status == TokenStatus::Rotated {
        revoke_grant(app, &old, EndReason::RefreshReuse).await?;
        tracing::warn!(client_id = %client.client_id, "refresh token reuse: family revoked");
        return Err(GrantError::InvalidGrant(
            "The refresh token was already used.",
        ));
    }
    if old.status != TokenStatus::Active || old.exp <= now_s() {
        return Err(GrantError::InvalidGrant(
            "The refresh token is no longer valid.",
        ));
    }
    let granted: Vec<&str> = old.scope.split(' ').collect();
    let new_scope = match scope {
        None => old.scope.clone(),
        Some(s) => {
            let req = crate::oauth::oidc::parse_scope(s)
                .ok_or(GrantError::InvalidGrant("Unknown scope."))?;
            if req.iter().any(|r| !granted.contains(&r.as_str())) {
                return Err(GrantError::InvalidGrant(
                    "The requested scope exceeds the original grant.",
                ));
            }
            req.join(" ")
        }
    };
    let sid = old.sessions.first().cloned().unwrap_or_default();
    let cfg = &app.config;
    // The new pair is held by the refresh's own link (a refresh token maps to one session).
    let held_key = (!old.offline && old.sessions.len() == 1).then(crypto::random_id);
    let at = new_token(&sid, held_key.as_deref());
    let rt = new_token(&sid, held_key.as_deref());
    let (ha, hr) = (hash_secret(&at), hash_secret(&rt));
    let mint = Mint {
        client: &client.client_id,
        user: &old.user_id,
        sid: &sid,
        family: &old.family,
        auth_time: old.auth_time,
        offline: old.offline,
    };
    let ta = mint.token(
        TokenKind::Access,
        &ha,
        &new_scope,
        cfg.access_token_ttl.as_secs() as i64,
    );
    let mut tr = mint.token(
        TokenKind::Refresh,
        &hr,
        &old.scope,
        cfg.refresh_token_ttl.as_secs() as i64,
    );
    // Rotation never extends the grant beyond the first refresh token's lifetime.
    tr.exp = tr.exp.min(old.exp);
    tr.expires_at = tr.exp;
    let issue = Issue {
        new_tokens: vec![(ha, ta), (hr, tr)],
        hold: held_key.is_some(),
        link_key: held_key,
        family: old.family.clone(),
        sessions: old.sessions.clone(),
        rotate_refresh: Some(found.at),
        offline_user: old.offline.then(|| old.user_id.clone()),
        ..Default::default()
    };
    let mut result = app.store.issue(&issue).await;
    if old.offline && matches!(result, Err(StoreError::ConditionFailed)) {
        // An offline grant outlives a logout or an expiry: its session may have ended.
        // Refresh without it, as long as the grant is still registered under its user (a
        // credential change, a disabled or deleted account removes it) and the user is
        // enabled; a rotated token still refuses (the rotation's own condition).
        let detached = Issue {
            sessions: Vec::new(),
            detached: true,
            ..issue
        };
        result = app.store.issue(&detached).await;
    }
    match result {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => {
            // Either the session ended or a concurrent refresh rotated the token first.
            return Err(GrantError::InvalidGrant(
                "The refresh token is no longer valid.",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Issued {
        access_token: at,
        refresh_token: Some(rt),
        expires_in: cfg.access_token_ttl.as_secs() as i64,
        scope: new_scope,
        user_id: old.user_id,
        sid,
        auth_time: old.auth_time,
    })
}

/// Revoke every token of a grant family, found among the links of the family's `sessions`.
/// 1 Query per session (one, except with binding `none`/`cookie`) + 1 TransactWriteItems
/// per 100 token items or held links.
pub async fn revoke_family(
    app: &App,
    sessions: &[String],
    family: &str,
    reason: EndReason,
) -> Result<(), StoreError> {
    let tokens = app.store.family_tokens(sessions, family).await?;
    app.store.revoke_tokens(&tokens, reason.as_str()).await
}

/// Revoke the grant family a refresh token `t` belongs to: its tokens linked to its
/// sessions ([`revoke_family`]) and, for an offline grant, those registered under its user
/// (a refresh after the session ended links none), whose registration goes too.
/// Round trips: those of [`revoke_family`]; an offline grant + 1 GetItem, + 1 TransactWriteItems
/// per 100 tokens, + 1 DeleteItem.
pub async fn revoke_grant(app: &App, t: &TokenItem, reason: EndReason) -> Result<(), StoreError> {
    revoke_family(app, &t.sessions, &t.family, reason).await?;
    if t.offline {
        crate::session::terminate::revoke_offline_grant(app, &t.user_id, &t.family, reason).await?;
    }
    Ok(())
}

/// RFC 7009 revocation by the client that owns the token. Unknown tokens and other
/// clients' tokens are a silent success (no existence leak). A refresh token revokes its
/// whole family (the access tokens issued from it), an access token only itself.
pub async fn revoke(
    app: &App,
    client: &ClientItem,
    token: &str,
    hint: Option<&str>,
) -> Result<(), StoreError> {
    let _ = hint; // Both kinds share one keyspace, so the hint never changes the lookup.
    if token.is_empty() || token.len() > 512 {
        return Ok(());
    }
    let Some(found) = app.store.find_token(token).await? else {
        return Ok(());
    };
    let t = found.item;
    if t.client_id != client.client_id {
        return Ok(());
    }
    if t.kind == TokenKind::Refresh {
        return revoke_grant(app, &t, EndReason::Revoked).await;
    }
    let at = match found.at {
        TokenRef::Held { sid, key, .. } => TokenRef::Held {
            sid,
            key,
            access_only: true,
        },
        item => item,
    };
    app.store
        .revoke_tokens(&[at], EndReason::Revoked.as_str())
        .await
}

/// RFC 7662 introspection by `caller` (an authenticated confidential client). Inactive
/// tokens yield exactly `{"active": false}`, and so do tokens of another client unless the
/// caller is a resource server ([`ClientItem::resource_server`]): a client learns nothing
/// about tokens it neither holds nor serves. 1 round trip (GetItem).
///
/// A client-credentials token ([`TokenItem::is_clients_own`]) answers `sub` = its client
/// (RFC 6749 §4.4: the client is the resource owner; RFC 9068 §2.2 says the same of JWT
/// access tokens from that grant) and no `sid` or `auth_time`: no user signed in.
pub async fn introspect(app: &App, caller: &ClientItem, token: &str) -> Result<Value, StoreError> {
    if token.is_empty() || token.len() > 512 {
        return Ok(json!({"active": false}));
    }
    let Some(t) = app.store.find_token(token).await?.map(|f| f.item) else {
        return Ok(json!({"active": false}));
    };
    if t.status != TokenStatus::Active || t.exp <= now_s() {
        return Ok(json!({"active": false}));
    }
    if t.client_id != caller.client_id && !caller.resource_server {
        return Ok(json!({"active": false}));
    }
    let mut body = json!({
        "active": true,
        "scope": t.scope,
        "client_id": t.client_id,
        "token_type": if t.kind == TokenKind::Access { "Bearer" } else { "refresh_token" },
        "exp": t.exp,
        "iat": t.iat,
        "sub": t.user_id,
        "aud": t.client_id,
        "iss": app.config.issuer,
        "sid": t.sessions.first(),
        "auth_time": t.auth_time,
    });
    if t.is_clients_own() {
        body["sub"] = json!(t.client_id);
        if let Some(o) = body.as_object_mut() {
            o.remove("sid");
            o.remove("auth_time");
        }
    }
    Ok(body)
}

/// Build and sign an ID token (RS256, `kid`): iss, sub, aud, exp, iat, auth_time, nonce,
/// sid, at_hash, and profile/email claims when those scopes were granted.
pub async fn id_token(
    app: &App,
    client_id: &str,
    user: Option<&UserItem>,
    issued: &Issued,
    nonce: Option<&str>,
) -> Result<String, StoreError> {
    let claims = user
        .map(|u| IdClaims::for_scope(u, &issued.scope))
        .unwrap_or_default();
    id_token_with(app, client_id, &claims, issued, nonce).await
}

/// [`id_token`] with the user's claims already chosen (the code carries them).
pub async fn id_token_with(
    app: &App,
    client_id: &str,
    user_claims: &IdClaims,
    issued: &Issued,
    nonce: Option<&str>,
) -> Result<String, StoreError> {
    let now = now_s();
    let mut claims = json!({
        "iss": app.config.issuer,
        "sub": issued.user_id,
        "aud": client_id,
        "exp": now + 3600,
        "iat": now,
        "auth_time": issued.auth_time,
        "sid": issued.sid,
        "at_hash": crate::oauth::oidc::at_hash(&issued.access_token),
    });
    if let Some(n) = nonce {
        claims["nonce"] = json!(n);
    }
    if let Some(v) = &user_claims.name {
        claims["name"] = json!(v);
    }
    if let Some(v) = &user_claims.preferred_username {
        claims["preferred_username"] = json!(v);
    }
    if let Some(v) = &user_claims.email {
        claims["email"] = json!(v);
    }
    let keys = app.keys().await?;
    keys.sign("JWT", &claims)
        .map_err(|e| StoreError::Backend(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_grant_is_keyed_by_its_user() {
        let k = |binding: &str, browser, user| {
            let binding = TokenBinding::parse(binding).expect("a binding");
            shared_grant_discriminator(binding, browser, user, "rp", "openid profile")
        };
        // One browser, two people: two grants (the cookie binding once mixed them).
        assert_ne!(
            k("cookie", Some("b1"), "alice"),
            k("cookie", Some("b1"), "bob")
        );
        assert_ne!(k("none", None, "alice"), k("none", None, "bob"));
        // One person, two browsers with binding `cookie`: two grants; `none`: one.
        assert_ne!(
            k("cookie", Some("b1"), "alice"),
            k("cookie", Some("b2"), "alice")
        );
        assert_eq!(
            k("none", Some("b1"), "alice"),
            k("none", Some("b2"), "alice")
        );
        assert_eq!(k("sso-session", Some("b1"), "alice"), None);
        assert_eq!(k("cookie", None, "alice"), None);
        // The `none` key is what it was, so existing shared grants keep being reused.
        assert_eq!(
            k("none", None, "alice").unwrap(),
            format!("none#alice#rp#{}", hash_secret("openid profile"))
        );
    }
}
