//! `introspect`: `POST /oauth2/introspect` (RFC 7662). The caller must authenticate as a
//! confidential client; inactive tokens, and other clients' tokens unless the caller is
//! registered as a resource server, yield exactly `{"active": false}`.

use lambda_http::Request;
use warden_core::http::{json_response, oauth_form, Resp};
use warden_core::{oauth::client_auth, oauth::tokens, App, OAuthError};

pub async fn handle(app: &App, req: Request) -> Resp {
    match run(app, &req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// Round trips: client lookup (cached) + 1 GetItem.
async fn run(app: &App, req: &Request) -> Result<Resp, OAuthError> {
    let params = oauth_form(req)?;
    let (client, _) = client_auth::authenticate(app, req.headers(), &params, false).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required."))?;
    let body = tokens::introspect(app, &client, token).await?;
    Ok(json_response(lambda_http::http::StatusCode::OK, &body))
}
