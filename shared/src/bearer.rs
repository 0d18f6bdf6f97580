//! Bearer-token protection of resource endpoints (userinfo, the session REST API), with
//! RFC 6750 errors: no token → 401 bare challenge; bad/expired/revoked → 401
//! `invalid_token`; missing scope → 403 `insufficient_scope`.

use crate::error::ApiError;
use crate::http::{bearer, Bearer};
use crate::schema::TokenItem;
use crate::time::now_s;
use crate::App;
use http::HeaderMap;

pub const REALM: &str = "warden";

/// The active access token of the request. 1 round trip (GetItem).
pub async fn authenticate(app: &App, headers: &HeaderMap) -> Result<TokenItem, ApiError> {
    let tok = match bearer(headers) {
        Bearer::Missing => return Err(ApiError::unauthenticated(REALM)),
        Bearer::Malformed => return Err(ApiError::invalid_token(REALM)),
        Bearer::Token(t) => t,
    };
    if tok.len() > 512 {
        return Err(ApiError::invalid_token(REALM));
    }
    let item = app
        .store
        .get_token(&crate::crypto::hash_secret(tok))
        .await?
        .ok_or_else(|| ApiError::invalid_token(REALM))?;
    if item.kind != "access" || item.status != "active" || item.exp <= now_s() {
        return Err(ApiError::invalid_token(REALM));
    }
    Ok(item)
}

/// 403 `insufficient_scope` unless the token carries `scope`.
pub fn require_scope(token: &TokenItem, scope: &str) -> Result<(), ApiError> {
    if token.scope.split(' ').any(|s| s == scope) {
        Ok(())
    } else {
        Err(ApiError::insufficient_scope(REALM, scope))
    }
}
