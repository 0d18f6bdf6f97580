//! Bearer-token protection of resource endpoints (userinfo, the session REST API), with
//! RFC 6750 errors: no token → 401 bare challenge; bad/expired/revoked → 401
//! `invalid_token`; missing scope → 403 `insufficient_scope`.

use crate::app::App;
use crate::http::error::ApiError;
use crate::http::{bearer, is_b64token, Bearer};
use crate::platform::time::now_s;
use crate::store::schema::TokenItem;
use crate::store::schema::{TokenKind, TokenStatus};
use http::HeaderMap;

/// The `realm` of every RFC 6750 `WWW-Authenticate` challenge Warden sends.
pub const REALM: &str = "warden";

/// The active access token of the request, from the `Authorization` header (RFC 6750
/// §2.1). 1 round trip (GetItem).
pub async fn authenticate(app: &App, headers: &HeaderMap) -> Result<TokenItem, ApiError> {
    let tok = match bearer(headers) {
        Bearer::Missing => return Err(ApiError::unauthenticated(REALM)),
        Bearer::Malformed => return Err(ApiError::invalid_token(REALM)),
        Bearer::Token(t) => t,
    };
    active_token(app, tok).await
}

/// [`authenticate`], also accepting the token as the form-encoded body parameter
/// `access_token` of a POST (RFC 6750 §2.2; OIDC Core §5.3.1 lets a client send the
/// userinfo request either way, and e.g. pyoidc sends it in the body by default).
/// `body_token` is that parameter, when the request is a form POST. Both methods at once
/// is `invalid_request` (§2: "MUST NOT use more than one method").
pub async fn authenticate_header_or_body(
    app: &App,
    headers: &HeaderMap,
    body_token: Option<&str>,
) -> Result<TokenItem, ApiError> {
    match (bearer(headers), body_token) {
        (Bearer::Missing, Some(tok)) if is_b64token(tok) => active_token(app, tok).await,
        (Bearer::Missing, Some(_)) => Err(ApiError::invalid_token(REALM)),
        (_, Some(_)) => Err(ApiError::bearer_invalid_request(
            REALM,
            "Send the access token in one way only: the Authorization header or the body.",
        )),
        (_, None) => authenticate(app, headers).await,
    }
}

async fn active_token(app: &App, tok: &str) -> Result<TokenItem, ApiError> {
    if tok.len() > 512 {
        return Err(ApiError::invalid_token(REALM));
    }
    let item = app
        .store
        .find_token(tok)
        .await?
        .ok_or_else(|| ApiError::invalid_token(REALM))?
        .item;
    if item.kind != TokenKind::Access || item.status != TokenStatus::Active || item.exp <= now_s() {
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
