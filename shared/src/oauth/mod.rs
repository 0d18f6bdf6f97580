//! OAuth 2.0 and OpenID Connect: authorization requests, codes, token issuance, refresh,
//! revocation and introspection, client authentication, bearer tokens, discovery and the
//! protocol's small formats.

pub mod authorize;
pub mod bearer;
pub mod client_auth;
pub mod code;
pub mod oidc;
pub mod token_endpoint;
pub mod tokens;
