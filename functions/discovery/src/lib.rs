//! `discovery`: `GET /.well-known/openid-configuration`.

use lambda_http::Request;
use warden_core::http::{public_json_text, Resp};
use warden_core::App;

pub async fn handle(app: &App, _req: Request) -> Resp {
    document(app)
}

/// The answer, whatever the request: the document is built and serialised once per cold
/// start (it depends only on the config).
pub fn document(app: &App) -> Resp {
    public_json_text(
        app.discovery_json(warden_core::oauth::oidc::discovery)
            .to_string(),
        3600,
    )
}
