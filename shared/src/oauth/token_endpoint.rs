//! The token endpoint's rules (`POST /oauth2/token`, RFC 6749 §3.2, §4.1.3, §6; OIDC Core
//! §3.1.3): client authentication, the grant types a client may use, the grant's dispatch,
//! and the answer — with an ID token whenever the granted scope holds `openid`. The
//! `token` function only parses the form, runs [`respond`] and renders its JSON.
//!
//! Small named steps, as node-oidc-provider's `actions/token` and fosite's grant handlers
//! compose them: [`grant_type`] decides `unsupported_grant_type` / `unauthorized_client`,
//! then the code or refresh grant issues, then [`answer`] builds the body.

use crate::app::App;
use crate::http::cors::Cors;
use crate::http::error::OAuthError;
use crate::http::Params;
use crate::oauth::client_auth;
use crate::oauth::code::{self, Presented};
use crate::oauth::tokens::{self, GrantError, Issued};
use crate::store::schema::{ClientItem, IdClaims};
use serde_json::{json, Value};

/// The grant types this endpoint serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    /// `authorization_code` (RFC 6749 §4.1.3).
    AuthorizationCode,
    /// `refresh_token` (RFC 6749 §6).
    RefreshToken,
}

impl GrantType {
    /// The RFC 6749 name.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
        }
    }
}

/// The request's grant type, if this endpoint serves it and `client` may use it
/// (RFC 6749 §5.2: `unsupported_grant_type`, `unauthorized_client`).
pub fn grant_type(client: &ClientItem, requested: Option<&str>) -> Result<GrantType, OAuthError> {
    let g = match requested {
        None => return Err(OAuthError::invalid_request("grant_type is required.")),
        Some("authorization_code") => GrantType::AuthorizationCode,
        Some("refresh_token") => GrantType::RefreshToken,
        Some(_) => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                "Supported: authorization_code, refresh_token.",
            ))
        }
    };
    if !client.grant_types.iter().any(|t| t == g.as_str()) {
        return Err(OAuthError::new(
            "unauthorized_client",
            "The client may not use this grant type.",
        ));
    }
    Ok(g)
}

fn map_grant(e: GrantError) -> OAuthError {
    match e {
        GrantError::InvalidGrant(d) => OAuthError::invalid_grant(d),
        GrantError::CodeUsed { .. } => OAuthError::invalid_grant("The code was already used."),
        GrantError::Store(s) => s.into(),
    }
}

/// What a grant issued, and what its ID token needs beyond it.
struct Granted {
    issued: Issued,
    nonce: Option<String>,
    /// The user's ID-token claims, when the grant carried them (a code does; a refresh
    /// reads the user).
    claims: Option<IdClaims>,
}

/// The whole token request: authenticate the client (and refuse an origin it does not
/// allow), check the grant type, run the grant, answer. Round trips: those of the grant
/// (`docs/round-trips.md`: a code exchange 1, a refresh 3 with its user read).
pub async fn respond(
    app: &App,
    params: &Params,
    headers: &http::HeaderMap,
    cors: &mut Cors,
) -> Result<Value, OAuthError> {
    let (client, _) = client_auth::authenticate(app, headers, params, true).await?;
    cors.require(&client)?;
    let granted = match grant_type(&client, params.get("grant_type"))? {
        GrantType::AuthorizationCode => {
            let code = params
                .get("code")
                .ok_or_else(|| OAuthError::invalid_request("code is required."))?;
            let (issued, nonce, claims) = code::exchange(
                app,
                &client,
                Presented {
                    code,
                    redirect_uri: params.get("redirect_uri"),
                    code_verifier: params.get("code_verifier"),
                },
            )
            .await
            .map_err(map_grant)?;
            Granted {
                issued,
                nonce,
                claims: Some(claims),
            }
        }
        GrantType::RefreshToken => {
            let rt = params
                .get("refresh_token")
                .ok_or_else(|| OAuthError::invalid_request("refresh_token is required."))?;
            let issued = tokens::refresh(app, &client, rt, params.get("scope"))
                .await
                .map_err(map_grant)?;
            Granted {
                issued,
                nonce: None,
                claims: None,
            }
        }
    };
    answer(app, &client, granted).await
}

/// The token response (RFC 6749 §5.1), with an ID token when the scope holds `openid`
/// (OIDC Core §3.1.3.3; after a refresh too, §12.2).
async fn answer(app: &App, client: &ClientItem, g: Granted) -> Result<Value, OAuthError> {
    let issued = &g.issued;
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
        let claims = match g.claims {
            Some(c) => c,
            // Refresh: 1 GetItem.
            None => match app.store.get_user(&issued.user_id).await? {
                Some(u) => IdClaims::for_scope(&u, &issued.scope),
                None => IdClaims::default(),
            },
        };
        let idt =
            tokens::id_token_with(app, &client.client_id, &claims, issued, g.nonce.as_deref())
                .await?;
        body["id_token"] = json!(idt);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(grants: &[&str]) -> ClientItem {
        let spec = crate::admin::ClientSpec {
            name: "RP".into(),
            redirect_uris: vec!["https://rp.example/cb".into()],
            grant_types: grants.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        };
        crate::admin::build_client(&spec, None).unwrap().0
    }

    #[test]
    fn grant_types_are_checked_in_rfc_order() {
        let both = client(&["authorization_code", "refresh_token"]);
        let code_only = client(&["authorization_code"]);
        assert_eq!(
            grant_type(&both, Some("refresh_token")).unwrap(),
            GrantType::RefreshToken
        );
        assert_eq!(
            grant_type(&both, None).unwrap_err().error,
            "invalid_request"
        );
        assert_eq!(
            grant_type(&both, Some("password")).unwrap_err().error,
            "unsupported_grant_type"
        );
        assert_eq!(
            grant_type(&code_only, Some("refresh_token"))
                .unwrap_err()
                .error,
            "unauthorized_client"
        );
    }
}
