//! `userinfo`: `GET|POST /oauth2/userinfo` (OIDC Core §5.3), bearer-protected (RFC 6750: the
//! Authorization header, or on POST the form body's `access_token`);
//! `OPTIONS` answers CORS preflights (`warden_core::http::cors`).

use lambda_http::http::Method;
use lambda_http::Request;
use serde_json::json;
use warden_core::http::cors::{self, Cors};
use warden_core::http::{form_body, is_form, json_response, request_id, Resp};
use warden_core::oauth::bearer::{self, REALM};
use warden_core::{ApiError, App};

pub async fn handle(app: &App, req: Request) -> Resp {
    if req.method() == Method::OPTIONS {
        return cors::preflight(req.headers(), "GET, POST");
    }
    let rid = request_id(&req);
    let mut cors = Cors::of(req.headers(), &app.config.issuer);
    let r = match info(app, &req, &mut cors).await {
        Ok(r) => r,
        Err(e) => {
            // A missing, unknown, expired or revoked token names no client whose origins
            // could be checked; its 401 says only that, so any page may read it.
            cors.allow_unjudged();
            bearer_error(e, &rid)
        }
    };
    cors.finish(r)
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
        401 | 400 => json!({"error": "invalid_request", "error_description": e.description}),
        _ => return r,
    };
    *r.body_mut() = lambda_http::Body::Text(body.to_string());
    r
}

/// 1 GetItem (token) + 1 GetItem (user); a cross-origin call also reads the token's client
/// (cached per process; at the same time as the user), whose web origins decide whether
/// the page may read the answer. Userinfo changes nothing, so another origin is not
/// refused, only left without `Access-Control-Allow-Origin`. Errors for a token that names
/// no client are readable from any origin.
async fn info(app: &App, req: &Request, cors: &mut Cors) -> Result<Resp, ApiError> {
    // The token in the Authorization header, or (POST) the form body's `access_token`.
    let form = (req.method() == Method::POST && is_form(req))
        .then(|| form_body(req))
        .transpose()
        .map_err(|_| {
            ApiError::bearer_invalid_request(
                REALM,
                "The form body is malformed or repeats a parameter.",
            )
        })?;
    let body_token = form.as_ref().and_then(|p| p.get("access_token"));
    let token = bearer::authenticate_header_or_body(app, req.headers(), body_token).await?;
    let user = if cors.is_cross_origin() {
        let (user, client) = tokio::join!(
            app.store.get_user(&token.user_id),
            app.client(&token.client_id)
        );
        if let Some(c) = client? {
            cors.allow(&c);
        }
        user?
    } else {
        app.store.get_user(&token.user_id).await?
    };
    bearer::require_scope(&token, "openid")?;
    let Some(user) = user else {
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
