//! Authorization codes, sealed: `authorize` encrypts the [`CodeGrant`] into the code itself
//! (AES-256-GCM under a key derived from the signing key, see [`KeySet::seal`]), so issuing
//! a code writes nothing and the exchange reads nothing. The table only learns of a code
//! when it is exchanged: the issuing transaction links the new tokens to the session under
//! the code's hash (`SESSION#<sid>` / `TOKEN#<code hash>`), put with `attribute_not_exists`,
//! which makes the code single use and lets a replay find (and revoke) the family it
//! created. Only the code's hash is ever stored.

use crate::app::App;
use crate::keys::signing::{KeyError, KeySet};
use crate::oauth::tokens::{self, GrantError, Issued};
use crate::platform::crypto::{self, hash_secret};
use crate::store::schema::{ClientItem, CodeGrant, EndReason, IdClaims};

/// The link an exchange writes under the code's hash is kept at least this long (replay
/// detection; longer than a code is valid).
pub const CODE_RETENTION_SECS: i64 = 600;

/// Longest code accepted before any decoding (a sealed grant is ~300–600 characters; the
/// nonce and redirect URI it carries are bounded by `authorize`).
pub const MAX_CODE_LEN: usize = 4096;

/// Seal a grant into a code.
pub fn seal(keys: &KeySet, grant: &CodeGrant) -> Result<String, KeyError> {
    let json = serde_json::to_vec(grant).map_err(|e| KeyError::Rejected(e.to_string()))?;
    keys.seal(&json)
}

/// The grant a code carries, if it was sealed by a live key and not altered. Expiry is the
/// caller's to check (`valid_until`).
pub fn open(keys: &KeySet, code: &str) -> Option<CodeGrant> {
    if code.len() > MAX_CODE_LEN {
        return None;
    }
    serde_json::from_slice(&keys.open(code)?).ok()
}

/// What the client sent with a code (RFC 6749 §4.1.3, RFC 7636 §4.5).
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    /// The `code` parameter.
    pub code: &'a str,
    /// The `redirect_uri` parameter; it must equal the authorization request's (RFC 6749 §4.1.3).
    pub redirect_uri: Option<&'a str>,
    /// The PKCE `code_verifier`, required when the request had a `code_challenge` and refused when
    /// it had none (RFC 7636 §4.6).
    pub code_verifier: Option<&'a str>,
}

/// Exchange a code for tokens: open it, check it against the client, its redirect URI and
/// the PKCE verifier, then issue; the issuing transaction links the tokens to the session
/// under the code's hash, only if no such link exists.
/// Returns the tokens, the authorization request's nonce and the ID-token claims.
///
/// Round trips: 1 TransactWriteItems (`sso-session`; `none`/`cookie` add the shared-grant
/// GetItem). A code presented again after its exchange (or failing its checks after one)
/// costs 1 GetItem of the marker and revokes the family it created (RFC 6749 §4.1.2).
pub async fn exchange(
    app: &App,
    client: &ClientItem,
    p: Presented<'_>,
) -> Result<(Issued, Option<String>, IdClaims), GrantError> {
    let keys = app.keys().await?;
    let now = crate::platform::time::now_s();
    let grant = match open(&keys, p.code) {
        Some(g) if g.valid_until > now => g,
        _ => return Err(GrantError::InvalidGrant("The code is invalid or expired.")),
    };
    let code_hash = hash_secret(p.code);
    if let Err(e) = check(client, &grant, p) {
        // A replayed code is a replay even when the replayer cannot pass the checks.
        revoke_if_replayed(app, &grant.sid, &code_hash).await?;
        return Err(e);
    }
    let family = crypto::random_id();
    let used = (code_hash.clone(), now + CODE_RETENTION_SECS);
    match tokens::issue_for_code(app, client, &grant, Some(used), &family).await {
        Ok(issued) => Ok((issued, grant.nonce, grant.claims)),
        Err(GrantError::CodeUsed { family }) => {
            // The issuance read the code's link already: no second read.
            if let Some(f) = family {
                revoke_replayed(app, &grant.sid, &f).await?;
            }
            Err(GrantError::InvalidGrant("The code was already used."))
        }
        Err(e) => Err(e),
    }
}

fn check(client: &ClientItem, g: &CodeGrant, p: Presented<'_>) -> Result<(), GrantError> {
    if g.client_id != client.client_id {
        return Err(GrantError::InvalidGrant(
            "The code was issued to another client.",
        ));
    }
    if p.redirect_uri != Some(g.redirect_uri.as_str()) {
        return Err(GrantError::InvalidGrant(
            "redirect_uri does not match the authorization request.",
        ));
    }
    match (&g.code_challenge, p.code_verifier) {
        (Some(challenge), Some(verifier)) => {
            let ok_shape = (43..=128).contains(&verifier.len())
                && verifier
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if !ok_shape
                || !crypto::ct_eq(crypto::pkce_s256(verifier).as_bytes(), challenge.as_bytes())
            {
                return Err(GrantError::InvalidGrant("PKCE verification failed."));
            }
        }
        (Some(_), None) => return Err(GrantError::InvalidGrant("code_verifier is required.")),
        (None, Some(_)) => {
            return Err(GrantError::InvalidGrant(
                "code_verifier sent for a request without code_challenge.",
            ))
        }
        (None, None) => {
            if client.is_public() {
                return Err(GrantError::InvalidGrant(
                    "PKCE is required for public clients.",
                ));
            }
        }
    }
    Ok(())
}

/// If the code with hash `code_hash` was exchanged before (its link is in session `sid`),
/// revoke every token of the family it created.
async fn revoke_if_replayed(app: &App, sid: &str, code_hash: &str) -> Result<(), GrantError> {
    if let Some(l) = app.store.get_code_link(sid, code_hash).await? {
        revoke_replayed(app, sid, &l.family).await?;
    }
    Ok(())
}

/// Revoke every token of `family`, which a replayed code created in session `sid`.
async fn revoke_replayed(app: &App, sid: &str, family: &str) -> Result<(), GrantError> {
    tokens::revoke_family(app, &[sid.to_string()], family, EndReason::CodeReplay).await?;
    tracing::warn!("authorization code replayed; its tokens were revoked");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::signing::generate_key_item;
    use crate::store::schema::IdClaims;

    fn grant() -> CodeGrant {
        CodeGrant {
            client_id: "c".into(),
            redirect_uri: "https://rp.example/cb".into(),
            user_id: "u".into(),
            sid: "s".into(),
            scope: "openid email".into(),
            nonce: Some("n".into()),
            code_challenge: None,
            auth_time: 1,
            browser_binding: None,
            valid_until: 2,
            claims: IdClaims {
                email: Some("a@example.com".into()),
                ..Default::default()
            },
        }
    }

    #[test]
    fn a_sealed_code_opens_to_its_grant_and_hides_it() {
        let ks = KeySet::from_items(&[generate_key_item(1).unwrap()]).unwrap();
        let code = seal(&ks, &grant()).unwrap();
        assert_eq!(open(&ks, &code), Some(grant()));
        assert!(!code.contains("example"), "the grant is encrypted: {code}");
        assert!(code.len() < 400, "{}", code.len());
        let other = KeySet::from_items(&[generate_key_item(1).unwrap()]).unwrap();
        assert_eq!(open(&other, &code), None);
        assert_eq!(open(&ks, &"a".repeat(MAX_CODE_LEN + 1)), None);
    }
}
