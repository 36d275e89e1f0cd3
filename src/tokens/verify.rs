//! Validating Tessera's own access tokens (userinfo, introspection, org API).

use serde_json::{Map, Value};

use super::keys::KeyStore;
use crate::config::Settings;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccessTokenError {
    #[error("the access token is malformed or its signature is invalid")]
    Invalid,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token was not issued by this server")]
    WrongIssuer,
    #[error("the token is not an access token")]
    NotAccessToken,
}

/// Checks signature, `typ: at+jwt` (RFC 9068 §4), `iss` and `exp`. The caller
/// checks the deny list (a database read) and the audience it needs.
pub fn verify_access_token(
    keys: &KeyStore,
    settings: &Settings,
    token: &str,
    now: i64,
) -> Result<Map<String, Value>, AccessTokenError> {
    let (header, claims) = keys.verify(token).map_err(|_| AccessTokenError::Invalid)?;
    let typ = header.get("typ").and_then(|t| t.as_str()).unwrap_or("");
    if !typ.eq_ignore_ascii_case("at+jwt") && !typ.eq_ignore_ascii_case("application/at+jwt") {
        return Err(AccessTokenError::NotAccessToken);
    }
    let Value::Object(claims) = claims else {
        return Err(AccessTokenError::Invalid);
    };
    if claims.get("iss").and_then(|i| i.as_str()) != Some(settings.issuer.as_str()) {
        return Err(AccessTokenError::WrongIssuer);
    }
    match claims.get("exp").and_then(|e| e.as_i64()) {
        Some(exp) if exp > now => Ok(claims),
        Some(_) => Err(AccessTokenError::Expired),
        None => Err(AccessTokenError::Invalid),
    }
}

/// `aud` as a list (it may be a string or an array).
pub fn audiences(claims: &Map<String, Value>) -> Vec<&str> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str()).collect(),
        _ => Vec::new(),
    }
}
