//! `token`: `POST /oauth2/token` — authorization_code (PKCE S256) and refresh_token grants.

use lambda_http::Request;
use serde_json::json;
use warden_core::client_auth;
use warden_core::grant::{self, GrantError, Issued};
use warden_core::http::{json_response, oauth_form, Params, Resp};
use warden_core::schema::{ClientItem, IdClaims};
use warden_core::store::CodeRedemption;
use warden_core::{crypto, App, OAuthError};

pub async fn handle(app: &App, req: Request) -> Resp {
    match exchange(app, &req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn map_grant(e: GrantError) -> OAuthError {
    match e {
        GrantError::InvalidGrant(d) => OAuthError::invalid_grant(d),
        GrantError::Store(s) => s.into(),
    }
}

async fn exchange(app: &App, req: &Request) -> Result<Resp, OAuthError> {
    let params = oauth_form(req)?;
    let (client, _) = client_auth::authenticate(app, req.headers(), &params, true).await?;
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
        let issued = grant::refresh(app, &client, rt, params.get("scope"))
            .await
            .map_err(map_grant)?;
        (issued, None, None)
    };
    render(app, &client, &issued, nonce.as_deref(), claims).await
}

/// 1 UpdateItem (redeem) + grant::issue_for_code. The code carries the user's ID-token
/// claims (older codes without them cost 1 GetItem of the user in [`render`]).
async fn code_grant(
    app: &App,
    client: &ClientItem,
    params: &Params,
) -> Result<(Issued, Option<String>, Option<IdClaims>), OAuthError> {
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required."))?;
    if code.len() > 256 {
        return Err(OAuthError::invalid_grant("Unknown code."));
    }
    let family = crypto::random_id();
    let now = warden_core::time::now_s();
    let c = match app
        .store
        .redeem_code(&crypto::hash_secret(code), &family, now)
        .await?
    {
        CodeRedemption::Redeemed(c) => c,
        CodeRedemption::Invalid => {
            return Err(OAuthError::invalid_grant("The code is invalid or expired."))
        }
        CodeRedemption::Replayed(c) => {
            // RFC 6749 §4.1.2: a code used twice revokes what it issued.
            if let Some(f) = &c.family {
                grant::revoke_family(app, f, "code_replay").await?;
            }
            tracing::warn!(client_id = %c.client_id, "authorization code replayed; its tokens were revoked");
            return Err(OAuthError::invalid_grant("The code was already used."));
        }
    };
    if c.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "The code was issued to another client.",
        ));
    }
    if params.get("redirect_uri") != Some(c.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request.",
        ));
    }
    match (&c.code_challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            let ok_shape = (43..=128).contains(&verifier.len())
                && verifier
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if !ok_shape
                || !crypto::ct_eq(crypto::pkce_s256(verifier).as_bytes(), challenge.as_bytes())
            {
                return Err(OAuthError::invalid_grant("PKCE verification failed."));
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required.")),
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier sent for a request without code_challenge.",
            ))
        }
        (None, None) => {
            if client.is_public() {
                return Err(OAuthError::invalid_grant(
                    "PKCE is required for public clients.",
                ));
            }
        }
    }
    let issued = grant::issue_for_code(app, client, &c, &family)
        .await
        .map_err(map_grant)?;
    Ok((issued, c.nonce, c.claims))
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
            // Refresh (and codes written before claims were copied): 1 GetItem.
            None => match app.store.get_user(&issued.user_id).await? {
                Some(u) => IdClaims::for_scope(&u, &issued.scope),
                None => IdClaims::default(),
            },
        };
        let idt = grant::id_token_with(app, &client.client_id, &claims, issued, nonce).await?;
        body["id_token"] = json!(idt);
    }
    Ok(json_response(http_ok(), &body))
}

fn http_ok() -> lambda_http::http::StatusCode {
    lambda_http::http::StatusCode::OK
}
