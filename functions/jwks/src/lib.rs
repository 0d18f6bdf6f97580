//! `jwks`: `GET /oauth2/jwks` — the active signing key and the previous one.

use lambda_http::Request;
use warden_core::http::{public_json, Resp};
use warden_core::{ApiError, App};

pub async fn handle(app: &App, req: Request) -> Resp {
    match app.keys().await {
        // Short max-age: after a rotation clients must see the new key quickly.
        Ok(keys) => public_json(&keys.jwks(), 300),
        Err(e) => ApiError::from(e).into_response(&warden_core::http::request_id(&req)),
    }
}
