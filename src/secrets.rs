//! Randomness and hashing of secrets, in one place (CONVENTIONS rule 8, 9).
//!
//! Every secret Tessera hands out (codes, refresh tokens, session cookies,
//! client secrets, invitation tokens) is ≥ 256 bits from the OS CSPRNG and
//! only its hash is stored. Such secrets are not guessable, so a fast hash is
//! right: SHA-256 for tokens, HMAC-SHA256 with a per-client salt for client
//! secrets. Comparisons are constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// `n` random bytes from the OS CSPRNG, base64url without padding.
pub fn random_token(n: usize) -> String {
    let mut buf = vec![0u8; n];
    OsRng.fill_bytes(&mut buf);
    B64.encode(buf)
}

/// A 256-bit random token (codes, refresh tokens, cookies, secrets).
pub fn new_token() -> String {
    random_token(32)
}

/// SHA-256 of a high-entropy token, hex. Used as the stored lookup key.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time equality of two byte strings.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Stored form of a client secret: `hmac-sha256$<salt>$<hex mac>`.
pub fn hash_client_secret(secret: &str) -> String {
    let salt = random_token(16);
    format!("hmac-sha256${salt}${}", mac_hex(&salt, secret))
}

/// Checks a presented client secret against its stored form, in constant time.
pub fn verify_client_secret(stored: &str, presented: &str) -> bool {
    let mut parts = stored.splitn(3, '$');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("hmac-sha256"), Some(salt), Some(expected)) => {
            ct_eq(mac_hex(salt, presented).as_bytes(), expected.as_bytes())
        }
        _ => false,
    }
}

fn mac_hex(salt: &str, secret: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail; fall back to a
    // value that never matches rather than panicking.
    match Hmac::<Sha256>::new_from_slice(salt.as_bytes()) {
        Ok(mut mac) => {
            mac.update(secret.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// 32 key bytes given as standard or URL-safe base64 (padded or not) or as
/// 64 hex digits, e.g. a key-encryption key from `openssl rand -base64 32`.
pub fn decode_key32(text: &str) -> Option<[u8; 32]> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine;
    let t = text.trim();
    let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(t).ok()?
    } else {
        STANDARD
            .decode(t)
            .or_else(|_| URL_SAFE.decode(t))
            .or_else(|_| URL_SAFE_NO_PAD.decode(t))
            .ok()?
    };
    bytes.try_into().ok()
}

/// Creates `dir` (and its parents) if missing; a directory created here is
/// private to the owner (0700 on Unix): the database and keys live there.
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Opens `path` for writing, creating it private to the owner (0600 on
/// Unix) so it is never readable by others, even for a moment.
pub fn private_file_options() -> std::fs::OpenOptions {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_secret_round_trip() {
        let s = new_token();
        let stored = hash_client_secret(&s);
        assert!(!stored.contains(&s));
        assert!(verify_client_secret(&stored, &s));
        assert!(!verify_client_secret(&stored, "wrong"));
        assert!(!verify_client_secret("garbage", &s));
        assert_ne!(hash_client_secret(&s), stored, "salted");
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = new_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, new_token());
    }
}
