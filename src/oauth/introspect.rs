//! Token introspection (RFC 7662). Any authenticated confidential client may
//! introspect access tokens (resource servers do); refresh tokens only by the
//! client they were issued to. Anything else is `{"active": false}`.

use chrono::NaiveDateTime;
use serde_json::{json, Value};

use super::client::Client;
use super::revoke::{find_refresh, is_denied};
use super::OAuthError;
use crate::config::Settings;
use crate::db::DbConn;
use crate::tokens::keys::KeyStore;
use crate::tokens::verify::verify_access_token;

pub fn introspect(
    conn: &mut DbConn,
    keys: &KeyStore,
    settings: &Settings,
    client: &Client,
    token: &str,
    now: NaiveDateTime,
) -> Result<Value, OAuthError> {
    let inactive = json!({"active": false});
    if token.contains('.') {
        let Ok(mut claims) = verify_access_token(keys, settings, token, now.and_utc().timestamp())
        else {
            return Ok(inactive);
        };
        let jti = claims.get("jti").and_then(|j| j.as_str()).unwrap_or("");
        if is_denied(conn, jti)? {
            return Ok(inactive);
        }
        claims.insert("active".into(), true.into());
        claims.insert("token_type".into(), "Bearer".into());
        return Ok(Value::Object(claims));
    }
    match find_refresh(conn, token)? {
        Some(rt)
            if rt.client_id == client.id
                && rt.revoked_at.is_none()
                && rt.rotated_at.is_none()
                && rt.idle_expires_at > now
                && rt.family_expires_at > now =>
        {
            Ok(json!({
                "active": true,
                "token_type": "refresh_token",
                "client_id": rt.client_id,
                "sub": rt.user_id,
                "scope": rt.scope,
                "iss": settings.issuer,
                "iat": rt.created_at.and_utc().timestamp(),
                "exp": rt.idle_expires_at.min(rt.family_expires_at).and_utc().timestamp(),
            }))
        }
        _ => Ok(inactive),
    }
}
