//! OIDC documents and computations: discovery, session_state, scopes.

use crate::config::Config;
use serde_json::{json, Value};

/// Scopes Warden knows.
pub const SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "offline_access",
    "internal_login",
    "internal_session_view",
    "internal_session_delete",
    "internal_user_mgt_update",
    "internal_user_mgt_delete",
    SSF_MANAGE,
    SSF_READ,
];

/// Manage one's own SSF streams (create, update, replace, delete, status, subjects,
/// verification): a receiver's client-credentials scope ([`crate::ssf`]).
pub const SSF_MANAGE: &str = "ssf.manage";
/// Read one's own SSF streams and their status.
pub const SSF_READ: &str = "ssf.read";

/// The scopes a `client_credentials` token may carry (RFC 6749 §4.4): only those that name
/// what a client does on its own behalf. User scopes (`openid`, `profile`, the session API's
/// `internal_*`) need a user, and such a token has none.
pub const CLIENT_CREDENTIALS_SCOPES: &[&str] = &[SSF_MANAGE, SSF_READ];

/// The grant types the token endpoint serves (discovery's `grant_types_supported`).
pub const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];

/// The discovery document (OpenID Connect Discovery 1.0 §3) — every value true of Warden.
pub fn discovery(cfg: &Config) -> Value {
    let u = |p: &str| cfg.url(p);
    json!({
        "issuer": cfg.issuer,
        "authorization_endpoint": u("/oauth2/authorize"),
        "token_endpoint": u("/oauth2/token"),
        "userinfo_endpoint": u("/oauth2/userinfo"),
        "jwks_uri": u("/oauth2/jwks"),
        "introspection_endpoint": u("/oauth2/introspect"),
        "revocation_endpoint": u("/oauth2/revoke"),
        "end_session_endpoint": u("/oidc/logout"),
        "check_session_iframe": u("/oidc/checksession"),
        "scopes_supported": SCOPES,
        "response_types_supported": ["code", "none"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": GRANT_TYPES,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid", "at_hash", "name", "preferred_username", "email"],
        "prompt_values_supported": ["none", "login"],
        "ui_locales_supported": ["en"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": true,
        "frontchannel_logout_session_supported": true,
    })
}

/// OIDC Session Management 1.0 §4.1 `session_state`:
/// `base64url(SHA-256(client_id + " " + origin + " " + browser_state + " " + salt)) + "." + salt`.
pub fn session_state(client_id: &str, origin: &str, browser_state: &str, salt: &str) -> String {
    let h = crate::platform::crypto::sha256(
        format!("{client_id} {origin} {browser_state} {salt}").as_bytes(),
    );
    format!("{}.{}", crate::platform::crypto::b64(&h), salt)
}

/// A fresh `session_state` for a redirect URI (origin per RFC 6454). Its salt is
/// [`new_salt`]: the issue time, then a random value.
pub fn new_session_state(client_id: &str, redirect_uri: &str, browser_state: &str) -> String {
    let origin = crate::platform::url::origin_of(redirect_uri).unwrap_or_default();
    session_state(
        client_id,
        &origin,
        browser_state,
        &new_salt(crate::platform::time::now_ms()),
    )
}

/// A `session_state` salt, `<issued epoch ms>-<random 128 bits>` (no `.` or space, so the
/// iframe splits it off at the last `.`). Apps only compare the whole value; the check_session
/// iframe reads the issue time to tell a `session_state` issued while the browser state's
/// session lived from one issued after it ended (`session::browser_state`).
pub fn new_salt(now_ms: i64) -> String {
    format!("{now_ms}-{}", crate::platform::crypto::random_id())
}

/// `at_hash`: base64url of the left half of SHA-256(access_token) (Core §3.1.3.6).
pub fn at_hash(access_token: &str) -> String {
    let h = crate::platform::crypto::sha256(access_token.as_bytes());
    crate::platform::crypto::b64(&h[..16])
}

/// Parse a space-separated scope string; `None` on an unknown scope or bad characters.
pub fn parse_scope(s: &str) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for part in s.split(' ').filter(|p| !p.is_empty()) {
        if !SCOPES.contains(&part) {
            return None;
        }
        if !out.iter().any(|x| x == part) {
            out.push(part.to_string());
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_state_vector() {
        assert_eq!(
            session_state(
                "s6BhdRkqt3",
                "https://client.example.org",
                "b7d3f1e26c1a4c4e9b1e6a1f0e2d3c4b",
                "q1Wz0n2l3Jp8Ckq4Tz9R6A"
            ),
            "7viJnOiMJx9FiGCGmbzrq9jY2i-i5DmosMVe9DwEdwY.q1Wz0n2l3Jp8Ckq4Tz9R6A"
        );
    }

    #[test]
    fn a_new_salt_starts_with_its_issue_time() {
        let salt = new_salt(1_700_000_000_123);
        let (ms, random) = salt.split_once('-').unwrap();
        assert_eq!(ms, "1700000000123");
        assert!(random.len() >= 22 && !salt.contains('.') && !salt.contains(' '));
        let ss = new_session_state("c", "https://rp.example/cb", "bs");
        let salt = ss.rsplit_once('.').unwrap().1;
        let ms: i64 = salt.split('-').next().unwrap().parse().unwrap();
        assert!((crate::platform::time::now_ms() - ms).abs() < 60_000);
        assert_eq!(session_state("c", "https://rp.example", "bs", salt), ss);
    }

    #[test]
    fn scopes() {
        assert_eq!(
            parse_scope("openid  openid email").unwrap(),
            vec!["openid", "email"]
        );
        assert!(parse_scope("openid bogus").is_none());
    }
}
