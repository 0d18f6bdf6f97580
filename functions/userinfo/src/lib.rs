//! `userinfo`: `GET|POST /oauth2/userinfo` (OIDC Core §5.3), bearer-protected (RFC 6750).

use lambda_http::Request;
use serde_json::json;
use warden_core::bearer::{self, REALM};
use warden_core::http::{json_response, request_id, Resp};
use warden_core::{ApiError, App};

pub async fn handle(app: &App, req: Request) -> Resp {
    let rid = request_id(&req);
    match info(app, &req).await {
        Ok(r) => r,
        Err(e) => bearer_error(e, &rid),
    }
}

/// RFC 6750 errors carry only the challenge and a small OAuth-style body.
fn bearer_error(e: ApiError, rid: &str) -> Resp {
    let mut r = e.clone().into_response(rid);
    let body = match e.status.as_u16() {
        403 => json!({"error": "insufficient_scope", "error_description": e.description}),
        401 if e
            .www_authenticate
            .as_deref()
            .is_some_and(|w| w.contains("invalid_token")) =>
        {
            json!({"error": "invalid_token", "error_description": e.description})
        }
        401 => json!({"error": "invalid_request", "error_description": e.description}),
        _ => return r,
    };
    *r.body_mut() = lambda_http::Body::Text(body.to_string());
    r
}

/// 1 GetItem (token) + 1 GetItem (user).
async fn info(app: &App, req: &Request) -> Result<Resp, ApiError> {
    let token = bearer::authenticate(app, req.headers()).await?;
    bearer::require_scope(&token, "openid")?;
    let Some(user) = app.store.get_user(&token.user_id).await? else {
        return Err(ApiError::invalid_token(REALM));
    };
    if user.disabled {
        return Err(ApiError::invalid_token(REALM));
    }
    let scopes: Vec<&str> = token.scope.split(' ').collect();
    let mut body = json!({"sub": user.user_id});
    if scopes.contains(&"profile") {
        body["name"] = json!(user.name);
        body["preferred_username"] = json!(user.username);
    }
    if scopes.contains(&"email") && !user.email.is_empty() {
        body["email"] = json!(user.email);
    }
    Ok(json_response(lambda_http::http::StatusCode::OK, &body))
}
