//! `revoke`: `POST /oauth2/revoke` (RFC 7009). 200 for unknown tokens too; a refresh token
//! revokes its whole grant (the access tokens issued from it).

use lambda_http::http::StatusCode;
use lambda_http::Request;
use warden_core::http::{empty, oauth_form, Resp};
use warden_core::{client_auth, grant, App, OAuthError};

pub async fn handle(app: &App, req: Request) -> Resp {
    match run(app, &req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn run(app: &App, req: &Request) -> Result<Resp, OAuthError> {
    let params = oauth_form(req)?;
    let (client, _) = client_auth::authenticate(app, req.headers(), &params, true).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required."))?;
    grant::revoke(app, &client, token, params.get("token_type_hint")).await?;
    Ok(empty(StatusCode::OK))
}
