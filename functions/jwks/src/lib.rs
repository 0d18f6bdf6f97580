//! `jwks`: `GET /oauth2/jwks` — the active signing key and the previous one.

use lambda_http::Request;
use warden_core::http::{public_json_text, Resp};
use warden_core::{ApiError, App};

pub async fn handle(app: &App, req: Request) -> Resp {
    document(app, &warden_core::http::request_id(&req)).await
}

/// The answer, whatever the request: the JWKS serialised when the key set was loaded
/// (keys are cached for five minutes).
pub async fn document(app: &App, request_id: &str) -> Resp {
    match app.keys().await {
        // Short max-age: after a rotation clients must see the new key quickly.
        Ok(keys) => public_json_text(keys.jwks_json().to_string(), 300),
        Err(e) => ApiError::from(e).into_response(request_id),
    }
}
