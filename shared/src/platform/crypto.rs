//! Random values, hashes and MACs. Tokens and codes are stored only as [`hash_secret`] output.

use aws_lc_rs::{digest, hmac};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// `n` random bytes from the OS CSPRNG (`getrandom(2)`). Not aws-lc's generator: its first
/// use costs ~40 ms of entropy gathering, which a cold `login` or `authorize` would pay on
/// its first request (docs/benchmarks.md); keys and signatures still use aws-lc.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // Fails only if the OS has no entropy source at all; that is fatal.
    getrandom::getrandom(&mut buf).expect("system RNG unavailable");
    buf
}

/// A 256-bit random value, base64url without padding (43 characters).
pub fn random_token() -> String {
    b64(&random_bytes::<32>())
}

/// A 128-bit random identifier, base64url without padding (22 characters).
pub fn random_id() -> String {
    b64(&random_bytes::<16>())
}

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decode base64url without padding (padding tolerated).
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

/// SHA-256 of the input.
pub fn sha256(input: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, input);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The stored form of a token, code or cookie secret: base64url(SHA-256(secret)).
pub fn hash_secret(secret: &str) -> String {
    b64(&sha256(secret.as_bytes()))
}

/// HMAC-SHA256, base64url.
pub fn hmac_b64(key: &[u8], msg: &[u8]) -> String {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    b64(hmac::sign(&k, msg).as_ref())
}

/// Constant-time equality for secrets.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// PKCE S256: base64url(SHA-256(verifier)).
pub fn pkce_s256(verifier: &str) -> String {
    b64(&sha256(verifier.as_bytes()))
}

/// Hash a password with argon2id (default parameters, random salt), PHC string format.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt_bytes = random_bytes::<16>();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Verify a password against a PHC string; false on any malformed hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_rfc7636_vector() {
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn password_roundtrip() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not-a-hash"));
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert_eq!(hash_secret(&a).len(), 43);
    }
}
