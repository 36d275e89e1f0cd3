//! PKCE (RFC 7636) with `S256` only: `plain` is refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::OAuthError;
use crate::secrets::ct_eq;

/// A verifier or challenge: 43–128 characters of `[A-Za-z0-9-._~]` (RFC 7636 §4.1).
fn well_formed(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Validates the `code_challenge` and `code_challenge_method` of an authorization request.
pub fn check_challenge(
    challenge: Option<&str>,
    method: Option<&str>,
    required: bool,
) -> Result<(), OAuthError> {
    match (challenge, method) {
        (None, None) if required => Err(OAuthError::InvalidRequest(
            "code_challenge is required for public clients (PKCE, RFC 7636)".into(),
        )),
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OAuthError::InvalidRequest(
            "code_challenge_method given without code_challenge".into(),
        )),
        (Some(_), Some("S256")) => match challenge {
            Some(c) if well_formed(c) => Ok(()),
            _ => Err(OAuthError::InvalidRequest(
                "code_challenge is malformed".into(),
            )),
        },
        (Some(_), Some("plain")) | (Some(_), None) => Err(OAuthError::InvalidRequest(
            "code_challenge_method must be S256; plain is not supported".into(),
        )),
        (Some(_), Some(other)) => Err(OAuthError::InvalidRequest(format!(
            "unsupported code_challenge_method `{other}`"
        ))),
    }
}

/// Checks a `code_verifier` against the stored S256 challenge, in constant time.
pub fn verify(challenge: &str, verifier: &str) -> bool {
    if !well_formed(verifier) {
        return false;
    }
    let computed = B64.encode(Sha256::digest(verifier.as_bytes()));
    ct_eq(computed.as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        assert!(verify(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
        assert!(!verify(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "short"
        ));
    }

    #[test]
    fn plain_is_refused() {
        let c = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(check_challenge(Some(c), Some("plain"), true).is_err());
        assert!(check_challenge(Some(c), None, true).is_err());
        assert!(check_challenge(None, None, true).is_err());
        assert!(check_challenge(None, None, false).is_ok());
        assert!(check_challenge(Some(c), Some("S256"), true).is_ok());
    }
}
