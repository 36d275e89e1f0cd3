//! The authorization code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636 §4.6).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{plan_user_tokens, CodeClaims, ExtrasFn, Outcome, UserTokenInput};
use crate::accounts;
use crate::config::Settings;
use crate::db::models::AuthorizationCode;
use crate::db::schema::{authorization_codes, refresh_tokens};
use crate::db::DbConn;
use crate::oauth::client::Client;
use crate::oauth::grant_type::GrantType;
use crate::oauth::pkce;
use crate::oauth::revoke::{deny_jti, revoke_family};
use crate::oauth::scope::Scope;
use crate::oauth::OAuthError;
use crate::secrets;
use crate::tokens::issue::TokenPlan;

#[allow(clippy::too_many_arguments)]
/// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6). A second use of a code fails
/// and revokes every token issued from it (RFC 6749 §4.1.2).
pub fn authorization_code(
    conn: &mut DbConn,
    settings: &Settings,
    client: &Client,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    extras: ExtrasFn<'_>,
    now: NaiveDateTime,
) -> Result<TokenPlan, OAuthError> {
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use the authorization code grant".into(),
        ));
    }
    let hash = secrets::hash_token(code);
    let outcome = crate::db::dialect::write_tx::<Outcome, OAuthError, _>(conn, |conn| {
        let Some(row) = authorization_codes::table
            .find(&hash)
            .select(AuthorizationCode::as_select())
            .first(conn)
            .optional()?
        else {
            return Ok(Outcome::Fail(OAuthError::InvalidGrant(
                "unknown authorization code".into(),
            )));
        };
        // The client binding first: a used code replayed by another client
        // must not revoke the real client's tokens (anyone who saw the code
        // in a log or a Referer could otherwise log the user out).
        if row.client_id != client.id {
            return Ok(Outcome::Fail(OAuthError::InvalidGrant(
                "authorization code was issued to another client".into(),
            )));
        }
        if row.used_at.is_some() {
            revoke_issued_from_code(conn, &row, now)?;
            return Ok(Outcome::Fail(OAuthError::InvalidGrant(
                "authorization code already used; tokens issued from it are revoked".into(),
            )));
        }
        if row.expires_at <= now {
            return Ok(Outcome::Fail(OAuthError::InvalidGrant(
                "authorization code expired".into(),
            )));
        }
        match redirect_uri {
            Some(r) if r != row.redirect_uri => {
                return Ok(Outcome::Fail(OAuthError::InvalidGrant(
                    "redirect_uri does not match the authorization request".into(),
                )))
            }
            None if client.redirect_uris.len() != 1 => {
                return Ok(Outcome::Fail(OAuthError::InvalidRequest(
                    "redirect_uri is required".into(),
                )))
            }
            _ => {}
        }
        match (&row.code_challenge, verifier) {
            (Some(ch), Some(v)) if pkce::verify(ch, v) => {}
            (Some(_), Some(_)) => {
                return Ok(Outcome::Fail(OAuthError::InvalidGrant(
                    "PKCE verification failed".into(),
                )))
            }
            (Some(_), None) => {
                return Ok(Outcome::Fail(OAuthError::InvalidRequest(
                    "code_verifier is required".into(),
                )))
            }
            (None, Some(_)) => {
                return Ok(Outcome::Fail(OAuthError::InvalidGrant(
                    "code_verifier given but the authorization request had no code_challenge"
                        .into(),
                )))
            }
            (None, None) => {}
        }
        // Single use: only one request can flip used_at.
        let flipped = diesel::update(
            authorization_codes::table
                .filter(authorization_codes::code_hash.eq(&hash))
                .filter(authorization_codes::used_at.is_null()),
        )
        .set(authorization_codes::used_at.eq(now))
        .execute(conn)?;
        if flipped == 0 {
            revoke_issued_from_code(conn, &row, now)?;
            return Ok(Outcome::Fail(OAuthError::InvalidGrant(
                "authorization code already used".into(),
            )));
        }
        let user = accounts::find_user(conn, &row.user_id)?
            .ok_or_else(|| OAuthError::InvalidGrant("the user no longer exists".into()))?;
        let scope = Scope::parse(&row.scope)?;
        // An error here rolls the transaction back: the code stays unused.
        let mut ex = extras(conn, client, &user, row.org_id.as_deref(), &scope)?;
        // Claims the post-login actions added at /authorize (checked there).
        if let Some(stored) = row.hook_claims.as_deref() {
            let added = CodeClaims::decode(stored)?;
            ex.claims.access.extend(added.access);
            ex.claims.id.extend(added.id);
        }
        let (plan, jti, exp) = plan_user_tokens(
            conn,
            settings,
            UserTokenInput {
                client,
                user: &user,
                scope: &scope,
                refresh_scope: &scope,
                audience: row.audience.as_deref(),
                nonce: row.nonce.as_deref(),
                auth_time: row.auth_time,
                session_id: row.session_id.as_deref(),
                connection: &row.connection,
                code_hash: Some(&hash),
                family: None,
                extras: ex,
            },
            now,
        )?;
        diesel::update(authorization_codes::table.find(&hash))
            .set((
                authorization_codes::access_token_jti.eq(&jti),
                authorization_codes::access_token_expires_at.eq(exp),
            ))
            .execute(conn)?;
        Ok(Outcome::Issue(Box::new(plan)))
    })?;
    match outcome {
        Outcome::Issue(plan) => Ok(*plan),
        Outcome::Fail(e) => Err(e),
    }
}

fn revoke_issued_from_code(
    conn: &mut DbConn,
    row: &AuthorizationCode,
    now: NaiveDateTime,
) -> Result<(), OAuthError> {
    if let (Some(jti), Some(exp)) = (&row.access_token_jti, row.access_token_expires_at) {
        deny_jti(conn, jti, exp, now)?;
    }
    let families: Vec<String> = refresh_tokens::table
        .filter(refresh_tokens::code_hash.eq(&row.code_hash))
        .select(refresh_tokens::family_id)
        .distinct()
        .load(conn)?;
    for f in families {
        revoke_family(conn, &f, now)?;
    }
    tracing::warn!(client_id = %row.client_id, user_id = %row.user_id, "authorization code replayed; issued tokens revoked");
    Ok(())
}
