//! Envelope encryption of private keys stored in the database: each key's
//! PEM is sealed with its own random 256-bit data key (AES-256-GCM), and the
//! data key is sealed with the key-encryption key (KEK) from the config
//! (`keys.encryption_key`, usually `env:TESSERA_KEK`). The kid is the
//! associated data of both, so a sealed value cannot be moved to another row.
//! Re-wrapping under a new KEK touches only the small sealed data keys.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error(
        "keys.encryption_key must be 32 random bytes, base64 (44 characters) or hex (64); \
         generate one with `openssl rand -base64 32`"
    )]
    BadKek,
    #[error("a sealed value does not decode")]
    Malformed,
    /// Wrong KEK, or a tampered row.
    #[error("a sealed value does not open with this key")]
    Open,
}

/// The key-encryption key. Its `id` (a hash, not the key) is stored with
/// every row it sealed, so a wrong KEK is named as such at start-up.
pub struct Kek {
    cipher: Aes256Gcm,
    id: String,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kek").field("id", &self.id).finish()
    }
}

impl Kek {
    /// Parses 32 bytes given as standard or URL-safe base64, or as hex.
    pub fn parse(text: &str) -> Result<Self, EnvelopeError> {
        let bytes = crate::secrets::decode_key32(text).ok_or(EnvelopeError::BadKek)?;
        let mut h = Sha256::new();
        h.update(b"tessera kek id v1\0");
        h.update(bytes);
        let id = hex::encode(&h.finalize()[..8]);
        Ok(Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)),
            id,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `pem` for key `kid`: returns (sealed data key, sealed PEM), base64.
    pub fn seal(&self, kid: &str, pem: &[u8]) -> Result<(String, String), EnvelopeError> {
        let mut dek = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut dek);
        let data = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&dek));
        let sealed_pem = seal_with(&data, kid, pem)?;
        let sealed_dek = seal_with(&self.cipher, kid, &dek)?;
        Ok((sealed_dek, sealed_pem))
    }

    /// Opens what [`Kek::seal`] sealed.
    pub fn open(
        &self,
        kid: &str,
        sealed_dek: &str,
        sealed_pem: &str,
    ) -> Result<Vec<u8>, EnvelopeError> {
        let dek = open_with(&self.cipher, kid, sealed_dek)?;
        if dek.len() != 32 {
            return Err(EnvelopeError::Malformed);
        }
        let data = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&dek));
        open_with(&data, kid, sealed_pem)
    }

    /// Re-seals a data key sealed by `old` under this KEK (KEK rotation).
    pub fn rewrap(&self, old: &Kek, kid: &str, sealed_dek: &str) -> Result<String, EnvelopeError> {
        let dek = open_with(&old.cipher, kid, sealed_dek)?;
        seal_with(&self.cipher, kid, &dek)
    }
}

fn seal_with(cipher: &Aes256Gcm, aad: &str, plain: &[u8]) -> Result<String, EnvelopeError> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plain,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| EnvelopeError::Open)?;
    let mut out = nonce.to_vec();
    out.extend(ct);
    Ok(B64.encode(out))
}

fn open_with(cipher: &Aes256Gcm, aad: &str, sealed: &str) -> Result<Vec<u8>, EnvelopeError> {
    let raw = B64.decode(sealed).map_err(|_| EnvelopeError::Malformed)?;
    if raw.len() <= NONCE_LEN {
        return Err(EnvelopeError::Malformed);
    }
    let (nonce, ct) = raw.split_at(NONCE_LEN);
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ct,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| EnvelopeError::Open)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const K2: &str = "6162636465666768696a6b6c6d6e6f707172737475767778797a303132333435";

    #[test]
    fn seals_opens_and_rewraps() {
        let (k1, k2) = (Kek::parse(K1).unwrap(), Kek::parse(K2).unwrap());
        assert_ne!(k1.id(), k2.id());
        let (dek, pem) = k1.seal("kid1", b"-----BEGIN PRIVATE KEY-----").unwrap();
        assert!(!pem.contains("BEGIN"), "sealed, not encoded");
        assert_eq!(
            k1.open("kid1", &dek, &pem).unwrap(),
            b"-----BEGIN PRIVATE KEY-----"
        );
        assert_eq!(
            k2.open("kid1", &dek, &pem),
            Err(EnvelopeError::Open),
            "wrong KEK"
        );
        assert_eq!(
            k1.open("kid2", &dek, &pem),
            Err(EnvelopeError::Open),
            "moved to another row"
        );
        let rewrapped = k2.rewrap(&k1, "kid1", &dek).unwrap();
        assert_eq!(
            k2.open("kid1", &rewrapped, &pem).unwrap(),
            b"-----BEGIN PRIVATE KEY-----"
        );
        assert_eq!(k1.open("kid1", &rewrapped, &pem), Err(EnvelopeError::Open));
    }

    #[test]
    fn kek_must_be_32_bytes() {
        assert!(Kek::parse("c2hvcnQ=").is_err());
        assert!(Kek::parse("not base64 at all!").is_err());
        assert!(Kek::parse(&"ab".repeat(32)).is_ok());
    }
}
