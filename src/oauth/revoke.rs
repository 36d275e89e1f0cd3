//! Revocation (RFC 7009) and the shared revocation primitives: the
//! access-token deny list and refresh-token families.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::client::Client;
use super::OAuthError;
use crate::db::models::{RefreshToken, RevokedToken};
use crate::db::schema::{refresh_tokens, revoked_tokens};
use crate::db::DbConn;
use crate::secrets;
use crate::tokens::keys::KeyStore;

/// Puts an access token's `jti` on the deny list until it expires.
pub fn deny_jti(
    conn: &mut DbConn,
    jti: &str,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let row = RevokedToken {
        jti: jti.to_string(),
        expires_at,
        revoked_at: now,
    };
    crate::db::dialect::deny_jti_if_absent(conn, &row)?;
    Ok(())
}

pub fn is_denied(conn: &mut DbConn, jti: &str) -> QueryResult<bool> {
    revoked_tokens::table
        .find(jti)
        .select(revoked_tokens::jti)
        .first::<String>(conn)
        .optional()
        .map(|r| r.is_some())
}

/// Revokes every refresh token of a family and denies their live access tokens.
pub fn revoke_family(conn: &mut DbConn, family_id: &str, now: NaiveDateTime) -> QueryResult<()> {
    let live: Vec<(Option<String>, Option<NaiveDateTime>)> = refresh_tokens::table
        .filter(refresh_tokens::family_id.eq(family_id))
        .filter(refresh_tokens::access_token_expires_at.gt(now))
        .select((
            refresh_tokens::access_token_jti,
            refresh_tokens::access_token_expires_at,
        ))
        .load(conn)?;
    for (jti, exp) in live {
        if let (Some(jti), Some(exp)) = (jti, exp) {
            deny_jti(conn, &jti, exp, now)?;
        }
    }
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)?;
    Ok(())
}

pub fn find_refresh(conn: &mut DbConn, token: &str) -> QueryResult<Option<RefreshToken>> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(secrets::hash_token(token)))
        .select(RefreshToken::as_select())
        .first(conn)
        .optional()
}

/// RFC 7009 §2.1. Unknown or malformed tokens succeed silently (§2.2); a
/// token issued to another client is refused.
pub fn revoke(
    conn: &mut DbConn,
    keys: &KeyStore,
    client: &Client,
    token: &str,
    now: NaiveDateTime,
) -> Result<(), OAuthError> {
    if let Some(rt) = find_refresh(conn, token)? {
        if rt.client_id != client.id {
            return Err(OAuthError::UnauthorizedClient(
                "the token was issued to another client".into(),
            ));
        }
        crate::db::dialect::write_tx(conn, |conn| revoke_family(conn, &rt.family_id, now))?;
        return Ok(());
    }
    if let Ok((header, claims)) = keys.verify(token) {
        if header.get("typ").and_then(|t| t.as_str()) != Some("at+jwt") {
            return Ok(());
        }
        if claims.get("client_id").and_then(|c| c.as_str()) != Some(client.id.as_str()) {
            return Err(OAuthError::UnauthorizedClient(
                "the token was issued to another client".into(),
            ));
        }
        let jti = claims.get("jti").and_then(|j| j.as_str());
        let exp = claims
            .get("exp")
            .and_then(|e| e.as_i64())
            .and_then(|e| chrono::DateTime::from_timestamp(e, 0))
            .map(|d| d.naive_utc());
        if let (Some(jti), Some(exp)) = (jti, exp) {
            if exp > now {
                deny_jti(conn, jti, exp, now)?;
            }
        }
    }
    Ok(())
}
