//! `discovery`: `GET /.well-known/openid-configuration`.

use lambda_http::Request;
use warden_core::http::{public_json, Resp};
use warden_core::App;

pub async fn handle(app: &App, _req: Request) -> Resp {
    public_json(&warden_core::oidc::discovery(&app.config), 3600)
}
