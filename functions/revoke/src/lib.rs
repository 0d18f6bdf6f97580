//! `revoke`: `POST /oauth2/revoke` (RFC 7009). 200 for unknown tokens too; a refresh token
//! revokes its whole grant (the access tokens issued from it). `OPTIONS` answers CORS
//! preflights (`warden_core::http::cors`).

use lambda_http::http::{Method, StatusCode};
use lambda_http::Request;
use warden_core::http::cors::{self, Cors};
use warden_core::http::{empty, oauth_form, Resp};
use warden_core::{oauth::client_auth, oauth::tokens, App, OAuthError};

pub async fn handle(app: &App, req: Request) -> Resp {
    if req.method() == Method::OPTIONS {
        return cors::preflight(req.headers(), "POST");
    }
    let mut cors = Cors::of(req.headers(), &app.config.issuer);
    let r = match run(app, &req, &mut cors).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    cors.finish(r)
}

async fn run(app: &App, req: &Request, cors: &mut Cors) -> Result<Resp, OAuthError> {
    let params = oauth_form(req)?;
    let (client, _) = client_auth::authenticate(app, req.headers(), &params, true).await?;
    cors.require(&client)?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required."))?;
    tokens::revoke(app, &client, token, params.get("token_type_hint")).await?;
    Ok(empty(StatusCode::OK))
}
