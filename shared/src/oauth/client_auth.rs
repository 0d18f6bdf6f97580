//! OAuth client authentication at the token, introspection and revocation endpoints:
//! `client_secret_basic`, `client_secret_post`, and `none` for public clients.

use crate::app::App;
use crate::http::error::OAuthError;
use crate::http::{basic_auth, Params};
use crate::platform::crypto;
use crate::store::schema::ClientItem;
use http::HeaderMap;
use std::sync::Arc;

/// How the client authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `client_secret_basic`: id and secret in the `Authorization: Basic` header (RFC 6749 §2.3.1).
    Basic,
    /// `client_secret_post`: id and secret as form parameters.
    Post,
    /// `none`: a public client that sent only its `client_id`.
    None,
}

/// Authenticate the calling client. `allow_public` admits public clients that send only
/// `client_id` (token and revocation endpoints; never introspection).
pub async fn authenticate(
    app: &App,
    headers: &HeaderMap,
    params: &Params,
    allow_public: bool,
) -> Result<(Arc<ClientItem>, Method), OAuthError> {
    let basic = basic_auth(headers);
    let post_secret = params.get("client_secret");
    let (client_id, secret, method) = match basic {
        Some(Err(())) => return Err(OAuthError::invalid_client("Malformed Basic credentials.")),
        Some(Ok((id, secret))) => {
            if post_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "Use one client authentication method, not several.",
                ));
            }
            if params.get("client_id").is_some_and(|c| c != id) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the authenticated client.",
                ));
            }
            (id, Some(secret), Method::Basic)
        }
        None => match (params.get("client_id"), post_secret) {
            (Some(id), Some(s)) => (id.to_string(), Some(s.to_string()), Method::Post),
            (Some(id), None) => (id.to_string(), None, Method::None),
            (None, _) => {
                return Err(OAuthError::invalid_client(
                    "Client authentication is required.",
                ))
            }
        },
    };
    let bad = || OAuthError::invalid_client("Client authentication failed.");
    let client = app.client(&client_id).await?.ok_or_else(bad)?;
    if client.disabled {
        return Err(bad());
    }
    match (&client.secret_hash, secret) {
        (Some(hash), Some(secret)) => {
            if !crypto::ct_eq(hash.as_bytes(), crypto::hash_secret(&secret).as_bytes()) {
                return Err(bad());
            }
        }
        (Some(_), None) => return Err(bad()),
        (None, Some(_)) => return Err(bad()),
        (None, None) => {
            if !allow_public {
                return Err(bad());
            }
        }
    }
    Ok((client, method))
}
