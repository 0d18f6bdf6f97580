//! RS256 signing keys: generation, JWKS, JWT signing and verification.
//! Private keys live only in the table and in memory; they are never logged (the types
//! holding them do not implement `Debug` with their contents).

use crate::platform::crypto::{b64, b64_decode};
use crate::store::schema::{keys, KeyStatus, SigningKeyItem};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};
use std::collections::HashMap;

/// The keys in force: one signer, every published verifier.
pub struct KeySet {
    signer_kid: String,
    signer: RsaKeyPair,
    published: Vec<(String, String, String)>,
    decoding: HashMap<String, DecodingKey>,
    /// The JWKS document, serialised once per key set (served as is).
    jwks_json: String,
    /// The signer's key for derived values, computed once per key set.
    derivation: Vec<u8>,
    /// Per live key with its private part: the root from which each sealed value's own
    /// AES-256-GCM key is derived (the signer seals; a code sealed just before a rotation
    /// still opens), and the single key of the first format (opened only).
    seal_keys: HashMap<String, SealKeys>,
}

/// The sealing secrets of one signing key.
struct SealKeys {
    /// HMAC-SHA256 key: `HMAC(root, salt)` is the AES-256-GCM key of one sealed value.
    root: aws_lc_rs::hmac::Key,
    /// The first format's key (one key, random 96-bit nonces): codes in flight when the
    /// format changed still open.
    v1: LessSafeKey,
}

/// Bytes of random salt per sealed value (format 2).
const SALT_LEN: usize = 16;

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("signer_kid", &self.signer_kid)
            .field("published", &self.published.len())
            .finish()
    }
}

/// Why the key set could not sign or seal.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key set has no `active` key, so nothing can be signed (an app generates one when it
    /// loads a table that has none).
    #[error("no active signing key")]
    NoActiveKey,
    /// The key material or the value to seal was refused by the crypto library (bad PKCS#8, an
    /// unopened key, a failed seal).
    #[error("key material rejected: {0}")]
    Rejected(String),
}

/// Why a JWT did not verify.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum JwtError {
    /// Not a JWS compact serialisation, or its header does not parse.
    #[error("malformed token")]
    Malformed,
    /// No `kid`, or a `kid` this key set does not publish (a retired or foreign key).
    #[error("unknown key")]
    UnknownKey,
    /// The algorithm, signature, issuer or (when checked) expiry is wrong; the text says which.
    #[error("invalid: {0}")]
    Invalid(String),
}

/// Generate a fresh RS256 key as an item (status `active`) holding its private key in the
/// clear: `KeyProtector::wrap` it before it is stored.
pub fn generate_key_item(now_ms: i64) -> Result<SigningKeyItem, KeyError> {
    let pair =
        RsaKeyPair::generate(KeySize::Rsa2048).map_err(|e| KeyError::Rejected(e.to_string()))?;
    let der = pair
        .as_der()
        .map_err(|e| KeyError::Rejected(e.to_string()))?;
    let pk = pair.public_key();
    let kid = crate::platform::crypto::random_id();
    Ok(SigningKeyItem {
        pk: keys::KEYS_PK.into(),
        sk: keys::signing_key_sk(&kid),
        kid,
        private_pkcs8: Some(b64(der.as_ref())),
        private_wrapped: None,
        n: b64(pk.modulus().big_endian_without_leading_zero()),
        e: b64(pk.exponent().big_endian_without_leading_zero()),
        created_ms: now_ms,
        status: KeyStatus::Active,
    })
}

/// The secret for derived values (shared-grant tokens, re-authentication markers) bound to
/// a signing key: HMAC-SHA256 keyed with the key's private PKCS#8 bytes over a fixed label.
/// No signature and no random value are needed, so loading keys stays cheap on a cold start.
fn derive_key(private_pkcs8: &[u8]) -> Vec<u8> {
    labelled_key(private_pkcs8, b"warden derived-values key v2")
}

/// The sealing secrets of a signing key, derived like [`derive_key`] under their own labels.
fn sealing_secrets(private_pkcs8: &[u8]) -> Option<SealKeys> {
    let v1 = labelled_key(private_pkcs8, b"warden code-sealing key v1");
    let root = labelled_key(private_pkcs8, b"warden code-sealing root v2");
    Some(SealKeys {
        root: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &root),
        v1: UnboundKey::new(&AES_256_GCM, &v1)
            .ok()
            .map(LessSafeKey::new)?,
    })
}

impl SealKeys {
    /// The AES-256-GCM key of one sealed value: `HMAC-SHA256(root, salt)`.
    fn for_salt(&self, salt: &[u8]) -> Option<LessSafeKey> {
        let k = aws_lc_rs::hmac::sign(&self.root, salt);
        UnboundKey::new(&AES_256_GCM, k.as_ref())
            .ok()
            .map(LessSafeKey::new)
    }
}

/// HMAC-SHA256 keyed with a private key's PKCS#8 bytes over `label`: one independent
/// 256-bit secret per label and key.
fn labelled_key(private_pkcs8: &[u8], label: &[u8]) -> Vec<u8> {
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, private_pkcs8);
    aws_lc_rs::hmac::sign(&k, label).as_ref().to_vec()
}

/// The JWKS document of the published `(kid, n, e)` keys.
fn jwks_doc(published: &[(String, String, String)]) -> Value {
    let keys: Vec<Value> = published
        .iter()
        .map(|(kid, n, e)| {
            json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e})
        })
        .collect();
    json!({ "keys": keys })
}

impl KeySet {
    /// Build from opened keys (`KeyProtector::open`: private keys in the clear, in memory):
    /// the newest `active` key signs; `active` and `previous` keys are published and verify.
    pub fn from_items(items: &[SigningKeyItem]) -> Result<Self, KeyError> {
        let signer_item = items
            .iter()
            .filter(|k| k.status == KeyStatus::Active)
            .max_by_key(|k| k.created_ms)
            .ok_or(KeyError::NoActiveKey)?;
        let der = signer_item
            .private_pkcs8
            .as_deref()
            .and_then(b64_decode)
            .ok_or_else(|| KeyError::Rejected("private key not opened or bad base64".into()))?;
        let signer = RsaKeyPair::from_pkcs8(&der).map_err(|e| KeyError::Rejected(e.to_string()))?;
        let mut published = Vec::new();
        let mut decoding = HashMap::new();
        let mut live: Vec<&SigningKeyItem> = items
            .iter()
            .filter(|k| matches!(k.status, KeyStatus::Active | KeyStatus::Previous))
            .collect();
        live.sort_by_key(|k| std::cmp::Reverse(k.created_ms));
        let mut seal_keys = HashMap::new();
        for k in live {
            if let Some(key) = k
                .private_pkcs8
                .as_deref()
                .and_then(b64_decode)
                .and_then(|der| sealing_secrets(&der))
            {
                seal_keys.insert(k.kid.clone(), key);
            }
            if let Ok(d) = DecodingKey::from_rsa_components(&k.n, &k.e) {
                decoding.insert(k.kid.clone(), d);
                published.push((k.kid.clone(), k.n.clone(), k.e.clone()));
            }
        }
        Ok(KeySet {
            signer_kid: signer_item.kid.clone(),
            signer,
            jwks_json: jwks_doc(&published).to_string(),
            published,
            decoding,
            derivation: derive_key(&der),
            seal_keys,
        })
    }

    /// Encrypt and authenticate `plaintext` under the signer's sealing root:
    /// `<kid>.2.<base64url(salt ‖ nonce ‖ ciphertext ‖ tag)>`. Each value has its own
    /// AES-256-GCM key, `HMAC-SHA256(root, 128-bit random salt)`, and a random 96-bit nonce,
    /// with the kid as associated data — so no key ever sees two nonces, and there is no
    /// per-key limit on how many values are sealed (one key with random nonces is good for
    /// about 2^32). For values that must round-trip through a client unread and unaltered
    /// (authorization codes).
    pub fn seal(&self, plaintext: &[u8]) -> Result<String, KeyError> {
        let keys = self
            .seal_keys
            .get(&self.signer_kid)
            .ok_or_else(|| KeyError::Rejected("no sealing key".into()))?;
        let salt = crate::platform::crypto::random_bytes::<SALT_LEN>();
        let key = keys
            .for_salt(&salt)
            .ok_or_else(|| KeyError::Rejected("no sealing key".into()))?;
        let nonce_bytes = crate::platform::crypto::random_bytes::<NONCE_LEN>();
        let head = SALT_LEN + NONCE_LEN;
        let mut buf = Vec::with_capacity(head + plaintext.len() + AES_256_GCM.tag_len());
        buf.extend_from_slice(&salt);
        buf.extend_from_slice(&nonce_bytes);
        buf.extend_from_slice(plaintext);
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(self.signer_kid.as_bytes()),
                &mut buf[head..],
            )
            .map_err(|_| KeyError::Rejected("seal failed".into()))?;
        buf.extend_from_slice(tag.as_ref());
        Ok(format!("{}.2.{}", self.signer_kid, b64(&buf)))
    }

    /// Open a value made by [`KeySet::seal`] (or by the first format,
    /// `<kid>.<base64url(nonce ‖ ciphertext ‖ tag)>`) with any live key. `None` if it is
    /// malformed, sealed under an unknown key, or altered.
    pub fn open(&self, sealed: &str) -> Option<Vec<u8>> {
        let (kid, rest) = sealed.split_once('.')?;
        let keys = self.seal_keys.get(kid)?;
        let derived;
        let (key, raw): (&LessSafeKey, Vec<u8>) = match rest.split_once('.') {
            Some(("2", body)) => {
                let raw = b64_decode(body)?;
                if raw.len() < SALT_LEN + NONCE_LEN + AES_256_GCM.tag_len() {
                    return None;
                }
                let (salt, raw) = raw.split_at(SALT_LEN);
                derived = keys.for_salt(salt)?;
                (&derived, raw.to_vec())
            }
            Some(_) => return None,
            None => (&keys.v1, b64_decode(rest)?),
        };
        if raw.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return None;
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut rest = rest.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut rest)
            .ok()?;
        Some(plain.to_vec())
    }

    /// The JWKS document as served (serialised once, when the key set is loaded).
    pub fn jwks_json(&self) -> &str {
        &self.jwks_json
    }

    /// The `kid` of the active key: the one new tokens are signed with.
    pub fn signer_kid(&self) -> &str {
        &self.signer_kid
    }

    /// Secret material for deriving values (HMAC key), bound to the signer.
    pub fn derivation_key(&self, kid: &str) -> Option<Vec<u8>> {
        if kid != self.signer_kid {
            return None;
        }
        Some(self.derivation.clone())
    }

    /// The JWKS document.
    pub fn jwks(&self) -> Value {
        jwks_doc(&self.published)
    }

    /// Sign claims as a compact JWS with RS256 and the signer's `kid`. `typ` is `JWT` for
    /// ID tokens and `logout+jwt` for logout tokens.
    pub fn sign(&self, typ: &str, claims: &Value) -> Result<String, KeyError> {
        let header = json!({"alg": "RS256", "typ": typ, "kid": self.signer_kid});
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut sig = vec![0u8; self.signer.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.signer
            .sign(&RSA_PKCS1_SHA256, &rng, signing_input.as_bytes(), &mut sig)
            .map_err(|e| KeyError::Rejected(e.to_string()))?;
        Ok(format!("{signing_input}.{}", b64(&sig)))
    }

    /// Verify a JWT signed by one of our published keys (RS256 only: `none`, HS256 and
    /// every other algorithm are refused). Checks `iss`; `exp` only if `check_exp`.
    /// Returns the claims.
    pub fn verify(&self, token: &str, issuer: &str, check_exp: bool) -> Result<Value, JwtError> {
        if token.len() > 16 * 1024 {
            return Err(JwtError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(JwtError::Invalid("algorithm not allowed".into()));
        }
        let kid = header.kid.ok_or(JwtError::UnknownKey)?;
        let key = self.decoding.get(&kid).ok_or(JwtError::UnknownKey)?;
        let mut v = Validation::new(Algorithm::RS256);
        v.set_issuer(&[issuer]);
        v.validate_aud = false;
        v.validate_exp = check_exp;
        v.required_spec_claims.clear();
        v.required_spec_claims.insert("iss".into());
        v.leeway = 30;
        jsonwebtoken::decode::<Value>(token, key, &v)
            .map(|d| d.claims)
            .map_err(|e| JwtError::Invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_refuse_tampering() {
        let item = generate_key_item(1).unwrap();
        let ks = KeySet::from_items(std::slice::from_ref(&item)).unwrap();
        let t = ks
            .sign(
                "JWT",
                &json!({"iss": "https://i", "sub": "u", "exp": 4_000_000_000i64}),
            )
            .unwrap();
        let c = ks.verify(&t, "https://i", true).unwrap();
        assert_eq!(c["sub"], "u");
        assert!(ks.verify(&t, "https://other", true).is_err());
        // Modified payload.
        let parts: Vec<&str> = t.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64(json!({"iss": "https://i", "sub": "admin"})
                .to_string()
                .as_bytes()),
            parts[2]
        );
        assert!(ks.verify(&forged, "https://i", true).is_err());
        // alg none.
        let none = format!("{}.{}.", b64(br#"{"alg":"none","kid":"x"}"#), parts[1]);
        assert!(ks.verify(&none, "https://i", true).is_err());
        assert_eq!(ks.jwks()["keys"][0]["kid"], item.kid.as_str());
        assert!(ks.derivation_key(&item.kid).is_some());
        assert_eq!(ks.derivation_key(&item.kid), ks.derivation_key(&item.kid));
    }

    #[test]
    fn tokens_signed_before_a_rotation_still_verify() {
        let mut old = generate_key_item(1).unwrap();
        let before = KeySet::from_items(std::slice::from_ref(&old)).unwrap();
        let t = before
            .sign("JWT", &json!({"iss": "https://i", "sub": "u"}))
            .unwrap();
        old.status = KeyStatus::Previous;
        let new = generate_key_item(2).unwrap();
        let after = KeySet::from_items(&[old.clone(), new.clone()]).unwrap();
        assert_eq!(after.signer_kid(), new.kid);
        assert!(after.verify(&t, "https://i", false).is_ok());
        let jwks = after.jwks();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, vec![new.kid.as_str(), old.kid.as_str()]);
        // A retired key no longer verifies.
        old.status = KeyStatus::Retired;
        let later = KeySet::from_items(&[old, new]).unwrap();
        assert!(later.verify(&t, "https://i", false).is_err());
    }

    #[test]
    fn sealed_values_open_across_a_rotation_and_refuse_tampering() {
        let mut old = generate_key_item(1).unwrap();
        let before = KeySet::from_items(std::slice::from_ref(&old)).unwrap();
        let sealed = before.seal(b"grant").unwrap();
        assert!(sealed.starts_with(&format!("{}.2.", old.kid)));
        assert_ne!(
            before.seal(b"grant").unwrap(),
            sealed,
            "a fresh nonce each time"
        );
        assert_eq!(before.open(&sealed).as_deref(), Some(&b"grant"[..]));
        // Every altered byte (salt, nonce, ciphertext, tag), a wrong kid, another format
        // marker, truncation and junk are refused.
        let (kid, body) = sealed.split_once(".2.").unwrap();
        let mut raw = b64_decode(body).unwrap();
        for i in 0..raw.len() {
            raw[i] ^= 1;
            assert!(before.open(&format!("{kid}.2.{}", b64(&raw))).is_none());
            raw[i] ^= 1;
        }
        assert!(before.open(&format!("{kid}.3.{body}")).is_none());
        assert!(before.open(&format!("{kid}.{body}")).is_none());
        assert!(before.open(&format!("x{sealed}")).is_none());
        assert!(before.open(&sealed[..sealed.len() - 2]).is_none());
        for junk in [
            "",
            ".",
            "a.b",
            "no-dot",
            &format!("{kid}."),
            &format!("{kid}.!!"),
        ] {
            assert!(before.open(junk).is_none(), "{junk}");
        }
        // Sealed before a rotation: still opens while the key is `previous`, not after.
        old.status = KeyStatus::Previous;
        let new = generate_key_item(2).unwrap();
        let after = KeySet::from_items(&[old.clone(), new.clone()]).unwrap();
        assert!(after
            .seal(b"x")
            .unwrap()
            .starts_with(&format!("{}.2.", new.kid)));
        assert_eq!(after.open(&sealed).as_deref(), Some(&b"grant"[..]));
        old.status = KeyStatus::Retired;
        assert!(KeySet::from_items(&[old, new])
            .unwrap()
            .open(&sealed)
            .is_none());
    }

    /// A value sealed in the first format (one key per signing key, random nonces), as
    /// codes in flight when the format changed were.
    fn seal_v1(ks: &KeySet, plaintext: &[u8]) -> String {
        let key = &ks.seal_keys[&ks.signer_kid].v1;
        let nonce = crate::platform::crypto::random_bytes::<NONCE_LEN>();
        let mut buf = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(ks.signer_kid.as_bytes()),
            &mut buf,
        )
        .unwrap();
        format!(
            "{}.{}",
            ks.signer_kid,
            b64(&[&nonce[..], &buf[..]].concat())
        )
    }

    #[test]
    fn values_sealed_in_the_first_format_still_open() {
        let ks = KeySet::from_items(&[generate_key_item(1).unwrap()]).unwrap();
        let v1 = seal_v1(&ks, b"grant");
        assert_eq!(ks.open(&v1).as_deref(), Some(&b"grant"[..]));
        let (kid, body) = v1.split_once('.').unwrap();
        let mut raw = b64_decode(body).unwrap();
        raw[0] ^= 1;
        assert!(ks.open(&format!("{kid}.{}", b64(&raw))).is_none());
        // The same bytes under the new format's marker do not open.
        assert!(ks.open(&format!("{kid}.2.{body}")).is_none());
    }
}
