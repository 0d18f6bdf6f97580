//! `token`: `POST /oauth2/token` — authorization_code (PKCE S256) and refresh_token grants;
//! `OPTIONS` answers CORS preflights (`warden_core::http::cors`).

use lambda_http::http::Method;
use lambda_http::Request;
use serde_json::json;
use warden_core::http::cors::{self, Cors};
use warden_core::http::{json_response, oauth_form, Params, Resp};
use warden_core::oauth::client_auth;
use warden_core::oauth::code::{self, Presented};
use warden_core::oauth::tokens::{self, GrantError, Issued};
use warden_core::store::schema::{ClientItem, IdClaims};
use warden_core::{App, OAuthError};

pub async fn handle(app: &App, req: Request) -> Resp {
    if req.method() == Method::OPTIONS {
        return cors::preflight(req.headers(), "POST");
    }
    let mut cors = Cors::of(req.headers(), &app.config.issuer);
    let r = match exchange(app, &req, &mut cors).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    cors.finish(r)
}

fn map_grant(e: GrantError) -> OAuthError {
    match e {
        GrantError::InvalidGrant(d) => OAuthError::invalid_grant(d),
        GrantError::CodeUsed { .. } => OAuthError::invalid_grant("The code was already used."),
        GrantError::Store(s) => s.into(),
    }
}

async fn exchange(app: &App, req: &Request, cors: &mut Cors) -> Result<Resp, OAuthError> {
    let params = oauth_form(req)?;
    let (client, _) = client_auth::authenticate(app, req.headers(), &params, true).await?;
    cors.require(&client)?;
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required."))?;
    if !matches!(grant_type, "authorization_code" | "refresh_token") {
        return Err(OAuthError::new(
            "unsupported_grant_type",
            "Supported: authorization_code, refresh_token.",
        ));
    }
    if !client.grant_types.iter().any(|g| g == grant_type) {
        return Err(OAuthError::new(
            "unauthorized_client",
            "The client may not use this grant type.",
        ));
    }
    let (issued, nonce, claims) = if grant_type == "authorization_code" {
        code_grant(app, &client, &params).await?
    } else {
        let rt = params
            .get("refresh_token")
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is required."))?;
        let issued = tokens::refresh(app, &client, rt, params.get("scope"))
            .await
            .map_err(map_grant)?;
        (issued, None, None)
    };
    render(app, &client, &issued, nonce.as_deref(), claims).await
}

/// The code grant: [`code::exchange`] (1 TransactWriteItems; the code carries the grant
/// and the user's ID-token claims).
async fn code_grant(
    app: &App,
    client: &ClientItem,
    params: &Params,
) -> Result<(Issued, Option<String>, Option<IdClaims>), OAuthError> {
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required."))?;
    let (issued, nonce, claims) = code::exchange(
        app,
        client,
        Presented {
            code,
            redirect_uri: params.get("redirect_uri"),
            code_verifier: params.get("code_verifier"),
        },
    )
    .await
    .map_err(map_grant)?;
    Ok((issued, nonce, Some(claims)))
}

async fn render(
    app: &App,
    client: &ClientItem,
    issued: &Issued,
    nonce: Option<&str>,
    claims: Option<IdClaims>,
) -> Result<Resp, OAuthError> {
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.scope,
    });
    if let Some(rt) = &issued.refresh_token {
        body["refresh_token"] = json!(rt);
    }
    if issued.scope.split(' ').any(|s| s == "openid") {
        let claims = match claims {
            Some(c) => c,
            // Refresh: 1 GetItem.
            None => match app.store.get_user(&issued.user_id).await? {
                Some(u) => IdClaims::for_scope(&u, &issued.scope),
                None => IdClaims::default(),
            },
        };
        let idt = tokens::id_token_with(app, &client.client_id, &claims, issued, nonce).await?;
        body["id_token"] = json!(idt);
    }
    Ok(json_response(http_ok(), &body))
}

fn http_ok() -> lambda_http::http::StatusCode {
    lambda_http::http::StatusCode::OK
}
