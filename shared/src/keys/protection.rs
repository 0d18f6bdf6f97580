//! Signing keys at rest: a private key is stored only wrapped (envelope-encrypted), never in
//! the clear.
//!
//! * `kms`: AWS KMS `Encrypt` / `Decrypt` under the stack's KMS key, with the key's `kid` as
//!   encryption context (a wrapped key cannot be passed off as another kid's). Deployed
//!   stacks use this (`WARDEN_KMS_KEY_ID`); every Decrypt is in CloudTrail.
//! * `local`: AES-256-GCM under a 256-bit key-encryption key from the configuration
//!   (`WARDEN_KEY_ENCRYPTION_KEY`), with the kid as associated data. The local stack keeps
//!   its key-encryption key in its data directory (or in memory).
//!
//! Stored form (`SigningKeyItem.private_wrapped`): `<scheme>:<base64url ciphertext>`. Keys
//! written before this existed carry `private_pkcs8` in the clear; they are still read
//! (and `warden-admin keys protect` wraps them).
//!
//! Unwrapped keys are cached per process by kid (a kid's private key never changes), so a
//! process calls KMS once per key it uses, not on every key-cache refresh.

use crate::platform::crypto::{b64, b64_decode};
use crate::store::schema::SigningKeyItem;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How private signing keys are protected at rest.
#[derive(Clone)]
pub enum KeyProtection {
    /// AWS KMS: private keys are wrapped by `Encrypt` under this key.
    Kms {
        /// The KMS key id, ARN or alias (`WARDEN_KMS_KEY_ID`).
        key_id: String,
    },
    /// A 256-bit key-encryption key held by the configuration.
    Local(Arc<[u8; 32]>),
}

impl std::fmt::Debug for KeyProtection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyProtection::Kms { key_id } => write!(f, "Kms({key_id})"),
            KeyProtection::Local(_) => f.write_str("Local(<key-encryption key>)"),
        }
    }
}

impl KeyProtection {
    /// A fresh random local key-encryption key (tests, the in-memory local stack).
    pub fn random_local() -> Self {
        KeyProtection::Local(Arc::new(crate::platform::crypto::random_bytes::<32>()))
    }

    /// A local key-encryption key from its base64url text (32 bytes).
    pub fn local_from_text(text: &str) -> Option<Self> {
        let raw = b64_decode(text.trim())?;
        let k: [u8; 32] = raw.try_into().ok()?;
        Some(KeyProtection::Local(Arc::new(k)))
    }

    /// The base64url text of a local key-encryption key (to store it in a file).
    pub fn local_text(&self) -> Option<String> {
        match self {
            KeyProtection::Local(k) => Some(b64(&k[..])),
            KeyProtection::Kms { .. } => None,
        }
    }
}

/// Why a stored private key could not be opened, or a new one wrapped.
#[derive(Debug, thiserror::Error)]
pub enum KeyProtectionError {
    /// The key was wrapped with another scheme than this process uses (e.g. `local` in a stack
    /// configured for KMS): the configuration does not match the table.
    #[error("signing key {kid}: stored wrapped with {scheme:?}, but this process is configured for {configured}")]
    WrongScheme {
        /// The signing key.
        kid: String,
        /// The scheme its stored form names.
        scheme: String,
        /// The scheme this process is configured for.
        configured: &'static str,
    },
    /// Authenticated decryption failed for this kid: another key-encryption key, or an altered or
    /// swapped ciphertext (the kid is bound into it).
    #[error(
        "signing key {0}: the wrapped key does not open (wrong key-encryption key, or altered)"
    )]
    DoesNotOpen(String),
    /// The item for this kid holds no private key at all.
    #[error("signing key {0}: neither wrapped nor plain private key stored")]
    Missing(String),
    /// KMS refused or could not be reached; temporary (see [`KeyProtectionError::is_temporary`]).
    #[error("KMS: {0}")]
    Kms(String),
}

impl KeyProtectionError {
    /// KMS being unreachable is temporary; everything else is a broken store or config.
    pub fn is_temporary(&self) -> bool {
        matches!(self, KeyProtectionError::Kms(_))
    }
}

/// Wraps new private keys and opens stored ones; built once per process.
pub struct KeyProtector {
    protection: KeyProtection,
    kms_endpoint: Option<String>,
    kms: tokio::sync::OnceCell<aws_sdk_kms::Client>,
    opened: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for KeyProtector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyProtector")
            .field("protection", &self.protection)
            .finish()
    }
}

const AAD_LABEL: &[u8] = b"warden signing key v1|";

fn local_key(kek: &[u8; 32]) -> Option<LessSafeKey> {
    UnboundKey::new(&AES_256_GCM, kek)
        .ok()
        .map(LessSafeKey::new)
}

fn aad(kid: &str) -> Vec<u8> {
    [AAD_LABEL, kid.as_bytes()].concat()
}

/// Associated-data label of [`KeyProtector::seal`]: never that of a signing key, so a sealed
/// secret cannot be passed off as a wrapped key or the other way round.
const SEALED_LABEL: &[u8] = b"warden sealed secret v1|";

fn sealed_aad(purpose: &str, context: &str) -> Vec<u8> {
    [SEALED_LABEL, purpose.as_bytes(), b"|", context.as_bytes()].concat()
}

/// What binds one envelope to its use: the local scheme's associated data and the KMS
/// encryption context (the same facts, in each scheme's form).
struct Binding<'a> {
    aad: Vec<u8>,
    context: &'a [(&'a str, &'a str)],
}

/// Why an envelope did not open, before it is named for its item.
enum Unsealed {
    /// Wrong key, altered or moved ciphertext.
    DoesNotOpen,
    /// Sealed with another scheme than this process uses.
    WrongScheme,
    /// KMS refused or could not be reached.
    Kms(String),
}

impl KeyProtector {
    /// Seal `plain` under this process's scheme: `<scheme>:<base64url ciphertext>` (local:
    /// nonce ‖ AES-256-GCM ciphertext ‖ tag; KMS: Encrypt's blob). KMS: 1 Encrypt.
    async fn seal_envelope(&self, plain: &[u8], b: &Binding<'_>) -> Result<String, Unsealed> {
        let ct = match &self.protection {
            KeyProtection::Local(kek) => {
                let key = local_key(kek).ok_or(Unsealed::DoesNotOpen)?;
                let nonce = crate::platform::crypto::random_bytes::<NONCE_LEN>();
                let mut buf = plain.to_vec();
                key.seal_in_place_append_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(b.aad.clone()),
                    &mut buf,
                )
                .map_err(|_| Unsealed::DoesNotOpen)?;
                [&nonce[..], &buf[..]].concat()
            }
            KeyProtection::Kms { key_id } => {
                let mut req = self
                    .kms()
                    .await
                    .encrypt()
                    .key_id(key_id)
                    .plaintext(aws_sdk_kms::primitives::Blob::new(plain.to_vec()));
                for (k, v) in b.context {
                    req = req.encryption_context(*k, *v);
                }
                let out = req.send().await.map_err(|e| {
                    Unsealed::Kms(aws_sdk_kms::error::DisplayErrorContext(e).to_string())
                })?;
                out.ciphertext_blob
                    .map(|b| b.into_inner())
                    .ok_or_else(|| Unsealed::Kms("Encrypt answered no ciphertext".into()))?
            }
        };
        Ok(format!("{}:{}", self.scheme(), b64(&ct)))
    }

    /// Open what [`KeyProtector::seal_envelope`] sealed with the same binding. KMS: 1
    /// Decrypt.
    async fn open_envelope(&self, sealed: &str, b: &Binding<'_>) -> Result<Vec<u8>, Unsealed> {
        let (scheme, ct_b64) = sealed.split_once(':').unwrap_or(("", sealed));
        let ct = b64_decode(ct_b64).ok_or(Unsealed::DoesNotOpen)?;
        match (&self.protection, scheme) {
            (KeyProtection::Local(kek), "local") => {
                if ct.len() < NONCE_LEN + 16 {
                    return Err(Unsealed::DoesNotOpen);
                }
                let key = local_key(kek).ok_or(Unsealed::WrongScheme)?;
                let (nonce, rest) = ct.split_at(NONCE_LEN);
                let nonce =
                    Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unsealed::DoesNotOpen)?;
                let mut buf = rest.to_vec();
                key.open_in_place(nonce, Aad::from(b.aad.clone()), &mut buf)
                    .map(|p| p.to_vec())
                    .map_err(|_| Unsealed::DoesNotOpen)
            }
            (KeyProtection::Kms { .. }, "kms") => {
                let mut req = self
                    .kms()
                    .await
                    .decrypt()
                    .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(ct));
                for (k, v) in b.context {
                    req = req.encryption_context(*k, *v);
                }
                let out = req.send().await.map_err(|e| {
                    let text = aws_sdk_kms::error::DisplayErrorContext(&e).to_string();
                    match e.into_service_error() {
                        aws_sdk_kms::operation::decrypt::DecryptError::InvalidCiphertextException(_)
                        | aws_sdk_kms::operation::decrypt::DecryptError::IncorrectKeyException(_) => {
                            Unsealed::DoesNotOpen
                        }
                        _ => Unsealed::Kms(text),
                    }
                })?;
                out.plaintext
                    .map(|b| b.into_inner())
                    .ok_or(Unsealed::DoesNotOpen)
            }
            _ => Err(Unsealed::WrongScheme),
        }
    }

    /// An envelope failure named for `name` (a kid, or a sealed secret's context).
    fn named(&self, e: Unsealed, name: &str, sealed: &str) -> KeyProtectionError {
        match e {
            Unsealed::DoesNotOpen => KeyProtectionError::DoesNotOpen(name.to_string()),
            Unsealed::WrongScheme => KeyProtectionError::WrongScheme {
                kid: name.to_string(),
                scheme: sealed
                    .split_once(':')
                    .map(|(s, _)| s)
                    .unwrap_or("")
                    .to_string(),
                configured: self.scheme(),
            },
            Unsealed::Kms(t) => KeyProtectionError::Kms(t),
        }
    }
}

impl KeyProtector {
    /// `kms_endpoint` points the KMS client at an emulator (moto); the client itself is
    /// built on first use (once per process).
    pub fn new(protection: KeyProtection, kms_endpoint: Option<String>) -> Self {
        KeyProtector {
            protection,
            kms_endpoint,
            kms: tokio::sync::OnceCell::new(),
            opened: Mutex::new(HashMap::new()),
        }
    }

    /// The scheme this protector wraps new keys with.
    pub fn protection(&self) -> &KeyProtection {
        &self.protection
    }

    fn scheme(&self) -> &'static str {
        match self.protection {
            KeyProtection::Kms { .. } => "kms",
            KeyProtection::Local(_) => "local",
        }
    }

    async fn kms(&self) -> &aws_sdk_kms::Client {
        self.kms
            .get_or_init(|| async {
                let sdk = crate::platform::sdk::sdk_config(self.kms_endpoint.as_deref()).await;
                let mut b = aws_sdk_kms::config::Builder::from(&sdk);
                if let Some(ep) = &self.kms_endpoint {
                    b = b.endpoint_url(ep);
                }
                aws_sdk_kms::Client::from_conf(b.build())
            })
            .await
    }

    fn key_binding(kid: &str) -> (Vec<u8>, [(&'static str, &str); 1]) {
        (aad(kid), [("warden:kid", kid)])
    }

    /// Move `item`'s private key into its wrapped form: afterwards `private_pkcs8` is
    /// empty and the item may be stored. KMS: 1 Encrypt (encryption context `warden:kid`).
    pub async fn wrap(&self, item: &mut SigningKeyItem) -> Result<(), KeyProtectionError> {
        let Some(plain_b64) = item.private_pkcs8.take() else {
            return if item.private_wrapped.is_some() {
                Ok(())
            } else {
                Err(KeyProtectionError::Missing(item.kid.clone()))
            };
        };
        let plain =
            b64_decode(&plain_b64).ok_or_else(|| KeyProtectionError::Missing(item.kid.clone()))?;
        let (aad, context) = Self::key_binding(&item.kid);
        let b = Binding {
            aad,
            context: &context,
        };
        let wrapped = self
            .seal_envelope(&plain, &b)
            .await
            .map_err(|e| self.named(e, &item.kid, ""))?;
        item.private_wrapped = Some(wrapped);
        if let Ok(mut g) = self.opened.lock() {
            g.insert(item.kid.clone(), plain_b64);
        }
        Ok(())
    }

    /// `item` with its private key in the clear, in memory only (for `KeySet`). Plain
    /// (older) items pass through. KMS: 1 Decrypt the first time a kid is opened in this
    /// process.
    pub async fn open(&self, item: &SigningKeyItem) -> Result<SigningKeyItem, KeyProtectionError> {
        let mut out = item.clone();
        if out.private_pkcs8.is_some() {
            return Ok(out);
        }
        let Some(wrapped) = &item.private_wrapped else {
            return Err(KeyProtectionError::Missing(item.kid.clone()));
        };
        if let Ok(g) = self.opened.lock() {
            if let Some(p) = g.get(&item.kid) {
                out.private_pkcs8 = Some(p.clone());
                return Ok(out);
            }
        }
        let (aad, context) = Self::key_binding(&item.kid);
        let b = Binding {
            aad,
            context: &context,
        };
        let plain = self
            .open_envelope(wrapped, &b)
            .await
            .map_err(|e| self.named(e, &item.kid, wrapped))?;
        let plain_b64 = b64(&plain);
        if let Ok(mut g) = self.opened.lock() {
            g.insert(item.kid.clone(), plain_b64.clone());
        }
        out.private_pkcs8 = Some(plain_b64);
        Ok(out)
    }

    /// Seal a secret Warden must send later (an SSF push stream's `Authorization` header):
    /// the same envelope as signing keys — AES-256-GCM under the local key-encryption key,
    /// or KMS `Encrypt` under the stack's key — bound to `purpose` and `context` (e.g.
    /// `ssf-authorization` and the stream id: encryption context `warden:purpose` /
    /// `warden:context` under KMS, associated data locally), so a sealed value opens only
    /// where it was sealed for. Stored form `<scheme>:<base64url ciphertext>`. KMS: 1
    /// Encrypt.
    pub async fn seal(
        &self,
        purpose: &str,
        context: &str,
        plain: &[u8],
    ) -> Result<String, KeyProtectionError> {
        let ctx = [("warden:purpose", purpose), ("warden:context", context)];
        let b = Binding {
            aad: sealed_aad(purpose, context),
            context: &ctx,
        };
        self.seal_envelope(plain, &b)
            .await
            .map_err(|e| self.named(e, context, ""))
    }

    /// Open what [`KeyProtector::seal`] sealed for the same `purpose` and `context`. KMS: 1
    /// Decrypt (not cached: a sealed secret is opened only to be sent).
    pub async fn open_sealed(
        &self,
        purpose: &str,
        context: &str,
        sealed: &str,
    ) -> Result<Vec<u8>, KeyProtectionError> {
        let ctx = [("warden:purpose", purpose), ("warden:context", context)];
        let b = Binding {
            aad: sealed_aad(purpose, context),
            context: &ctx,
        };
        self.open_envelope(sealed, &b)
            .await
            .map_err(|e| self.named(e, context, sealed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::signing::generate_key_item;

    #[tokio::test]
    async fn a_sealed_secret_opens_only_for_its_purpose_and_context() {
        let p = KeyProtector::new(KeyProtection::random_local(), None);
        let sealed = p
            .seal("ssf-authorization", "stream-1", b"Bearer s3cr3t")
            .await
            .unwrap();
        assert!(sealed.starts_with("local:") && !sealed.contains("s3cr3t"));
        assert_eq!(
            p.open_sealed("ssf-authorization", "stream-1", &sealed)
                .await
                .unwrap(),
            b"Bearer s3cr3t"
        );
        for (purpose, context) in [("ssf-authorization", "stream-2"), ("other", "stream-1")] {
            assert!(p.open_sealed(purpose, context, &sealed).await.is_err());
        }
        let other = KeyProtector::new(KeyProtection::random_local(), None);
        assert!(other
            .open_sealed("ssf-authorization", "stream-1", &sealed)
            .await
            .is_err());
        assert!(p
            .open_sealed("ssf-authorization", "stream-1", "kms:AAAA")
            .await
            .is_err());
    }

    #[tokio::test]
    async fn local_wrapping_round_trips_and_refuses_the_wrong_key_or_kid() {
        let p = KeyProtector::new(KeyProtection::random_local(), None);
        let plain = generate_key_item(1).unwrap();
        let mut item = plain.clone();
        p.wrap(&mut item).await.unwrap();
        assert!(item.private_pkcs8.is_none());
        let w = item.private_wrapped.clone().unwrap();
        assert!(w.starts_with("local:"));
        assert!(!w.contains(plain.private_pkcs8.as_deref().unwrap()));

        // A fresh process (no cache) with the same key-encryption key opens it.
        let same = KeyProtector::new(p.protection().clone(), None);
        assert_eq!(
            same.open(&item).await.unwrap().private_pkcs8,
            plain.private_pkcs8
        );
        // Another key-encryption key does not.
        let other = KeyProtector::new(KeyProtection::random_local(), None);
        assert!(matches!(
            other.open(&item).await,
            Err(KeyProtectionError::DoesNotOpen(_))
        ));
        // Nor does the same ciphertext under another kid.
        let mut moved = item.clone();
        moved.kid = "another-kid".into();
        assert!(matches!(
            same.open(&moved).await,
            Err(KeyProtectionError::DoesNotOpen(_))
        ));
        // A KMS-wrapped key is not opened by a local configuration.
        let mut kms = item.clone();
        kms.private_wrapped = Some("kms:AAAA".into());
        kms.kid = "k2".into();
        assert!(matches!(
            same.open(&kms).await,
            Err(KeyProtectionError::WrongScheme { .. })
        ));
        // Older plain items pass through.
        assert_eq!(
            same.open(&plain).await.unwrap().private_pkcs8,
            plain.private_pkcs8
        );
    }

    #[test]
    fn local_keys_round_trip_as_text_and_never_print() {
        let p = KeyProtection::random_local();
        let text = p.local_text().unwrap();
        let back = KeyProtection::local_from_text(&text).unwrap();
        assert_eq!(back.local_text().unwrap(), text);
        assert!(!format!("{p:?}").contains(&text));
        assert!(KeyProtection::local_from_text("short").is_none());
    }
}
