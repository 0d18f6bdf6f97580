//! Signing keys: the RS256 key set (signing, verification, JWKS, sealing codes, derivation
//! secrets) and how private keys are wrapped at rest (KMS or a local key-encryption key).

pub mod protection;
pub mod signing;
