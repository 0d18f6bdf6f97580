//! `token`: `POST /oauth2/token` — parse the form → `warden_core::oauth::token_endpoint::respond`
//! → render (the authorization_code grant with PKCE S256 and the refresh_token grant, and
//! their rules, live there); `OPTIONS` answers CORS preflights (`warden_core::http::cors`).

use lambda_http::http::{Method, StatusCode};
use lambda_http::Request;
use warden_core::app::App;
use warden_core::http::cors::{self, Cors};
use warden_core::http::{json_response, oauth_form, Resp};
use warden_core::oauth::token_endpoint;

pub async fn handle(app: &App, req: Request) -> Resp {
    if req.method() == Method::OPTIONS {
        return cors::preflight(req.headers(), "POST");
    }
    let mut cors = Cors::of(req.headers(), &app.config.issuer);
    let answer = match oauth_form(&req) {
        Ok(params) => token_endpoint::respond(app, &params, req.headers(), &mut cors).await,
        Err(e) => Err(e),
    };
    let r = match answer {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(e) => e.into_response(),
    };
    cors.finish(r)
}
