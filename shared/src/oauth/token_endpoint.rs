//! The token endpoint's rules (`POST /oauth2/token`, RFC 6749 §3.2, §4.1.3, §4.4, §6; OIDC
//! Core §3.1.3): client authentication, the grant types a client may use, the grant's
//! dispatch, and the answer — with an ID token whenever the granted scope holds `openid`. The
//! `token` function only parses the form, runs [`respond`] and renders its JSON.
//!
//! Small named steps, as node-oidc-provider's `actions/token` and fosite's grant handlers
//! compose them: [`grant_type`] decides `unsupported_grant_type` / `unauthorized_client`,
//! then the code, refresh or client-credentials grant issues, then [`answer`] builds the
//! body. A client-credentials token ([`client_credentials_scope`],
//! [`tokens::issue_for_client`]) is the client's own: no user, no session, no refresh
//! token, no ID token (RFC 6749 §4.4.3).

use crate::app::App;
use crate::http::cors::Cors;
use crate::http::error::OAuthError;
use crate::http::Params;
use crate::oauth::client_auth;
use crate::oauth::code::{self, Presented};
use crate::oauth::oidc;
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
    /// `client_credentials` (RFC 6749 §4.4): confidential clients registered for it.
    ClientCredentials,
}

impl GrantType {
    /// The RFC 6749 name.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
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
        Some("client_credentials") => GrantType::ClientCredentials,
        Some(_) => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                "Supported: authorization_code, refresh_token, client_credentials.",
            ))
        }
    };
    // RFC 6749 §4.4: "MUST only be used by confidential clients".
    let public_cc = g == GrantType::ClientCredentials && client.is_public();
    if public_cc || !client.grant_types.iter().any(|t| t == g.as_str()) {
        return Err(OAuthError::new(
            "unauthorized_client",
            "The client may not use this grant type.",
        ));
    }
    Ok(g)
}

/// The scope of a client-credentials token (RFC 6749 §3.3, §4.4.2): the requested scope,
/// each of which the client is registered for and may hold without a user
/// ([`oidc::CLIENT_CREDENTIALS_SCOPES`]); without `scope`, every such scope the client is
/// registered for. Nothing grantable is `invalid_scope`.
pub fn client_credentials_scope(
    client: &ClientItem,
    requested: Option<&str>,
) -> Result<String, OAuthError> {
    let grantable = |s: &str| {
        oidc::CLIENT_CREDENTIALS_SCOPES.contains(&s) && client.scopes.iter().any(|c| c == s)
    };
    let scopes: Vec<String> = match requested {
        None => client
            .scopes
            .iter()
            .filter(|s| grantable(s))
            .cloned()
            .collect(),
        Some(r) => {
            let parsed = oidc::parse_scope(r)
                .ok_or_else(|| OAuthError::new("invalid_scope", "Unknown scope."))?;
            if let Some(bad) = parsed.iter().find(|s| !grantable(s)) {
                return Err(OAuthError::new(
                    "invalid_scope",
                    format!("The client may not be granted {bad} without a user."),
                ));
            }
            parsed
        }
    };
    if scopes.is_empty() {
        return Err(OAuthError::new(
            "invalid_scope",
            "No scope this client may be granted was requested.",
        ));
    }
    Ok(scopes.join(" "))
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
/// (`docs/round-trips.md`: a code exchange 1, a refresh 3 with its user read, client
/// credentials 1).
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
        GrantType::ClientCredentials => {
            let scope = client_credentials_scope(&client, params.get("scope"))?;
            let issued = tokens::issue_for_client(app, &client, &scope).await?;
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

    fn service(scopes: &[&str]) -> ClientItem {
        let spec = crate::admin::ClientSpec {
            name: "Receiver".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: scopes.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        };
        crate::admin::build_client(&spec, None).unwrap().0
    }

    #[test]
    fn client_credentials_are_for_registered_confidential_clients_only() {
        let svc = service(&["ssf.manage"]);
        assert_eq!(
            grant_type(&svc, Some("client_credentials")).unwrap(),
            GrantType::ClientCredentials
        );
        let rp = client(&["authorization_code", "refresh_token"]);
        let err = grant_type(&rp, Some("client_credentials")).unwrap_err();
        assert_eq!(err.error, "unauthorized_client");
        // A public client never, even if its item says so.
        let mut public = svc.clone();
        public.secret_hash = None;
        let err = grant_type(&public, Some("client_credentials")).unwrap_err();
        assert_eq!(err.error, "unauthorized_client");
    }

    #[test]
    fn a_client_credentials_scope_is_what_the_client_may_hold_without_a_user() {
        let svc = service(&["ssf.manage", "ssf.read", "openid"]);
        assert_eq!(
            client_credentials_scope(&svc, None).unwrap(),
            "ssf.manage ssf.read"
        );
        assert_eq!(
            client_credentials_scope(&svc, Some("ssf.read")).unwrap(),
            "ssf.read"
        );
        for bad in ["openid", "ssf.read bogus", "internal_login", "", "  "] {
            assert_eq!(
                client_credentials_scope(&svc, Some(bad)).unwrap_err().error,
                "invalid_scope",
                "{bad:?}"
            );
        }
        let reader = service(&["ssf.read"]);
        assert_eq!(
            client_credentials_scope(&reader, Some("ssf.manage"))
                .unwrap_err()
                .error,
            "invalid_scope"
        );
        let none = service(&["openid"]);
        assert_eq!(
            client_credentials_scope(&none, None).unwrap_err().error,
            "invalid_scope"
        );
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
