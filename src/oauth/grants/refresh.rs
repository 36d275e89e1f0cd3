//! The refresh grant (RFC 6749 §6) with rotation and reuse detection, in two
//! phases so the post-login actions can run between the reads and the write.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{plan_user_tokens, ActionAdditions, Extras, ExtrasFn, Outcome, UserTokenInput};
use crate::accounts;
use crate::audit::{self, Actor};
use crate::config::Settings;
use crate::db::models::{RefreshToken, User};
use crate::db::schema::refresh_tokens;
use crate::db::DbConn;
use crate::oauth::client::Client;
use crate::oauth::grant_type::GrantType;
use crate::oauth::revoke::{find_refresh, revoke_family};
use crate::oauth::scope::Scope;
use crate::oauth::OAuthError;
use crate::tokens::issue::TokenPlan;

/// A refresh request that passed every read-only check (phase 1). The
/// post-login actions run between [`refresh_prepare`] and [`refresh_commit`].
pub struct RefreshPrepared {
    row: RefreshToken,
    user: User,
    scope: Scope,
    granted: Scope,
    extras: Extras,
}

impl RefreshPrepared {
    pub fn user(&self) -> &User {
        &self.user
    }
    pub fn scope(&self) -> &Scope {
        &self.scope
    }
    pub fn org_id(&self) -> Option<&str> {
        self.extras.org_id.as_deref()
    }
    pub fn connection(&self) -> &str {
        &self.row.connection
    }
    pub fn audience(&self) -> Option<&str> {
        self.row.audience.as_deref()
    }
}

/// RFC 6749 §6 with rotation: every use returns a new refresh token; a
/// rotated token presented again revokes the whole family (reuse detection).
/// Phase 1, reads only: everything that can refuse the request without
/// changing state (except a reuse, which revokes the family). Keeping it out
/// of the write transaction keeps SQLite's single writer busy for three
/// statements instead of eight, and leaves room for the actions.
#[allow(clippy::too_many_arguments)]
pub fn refresh_prepare(
    conn: &mut DbConn,
    client: &Client,
    token: &str,
    scope: Option<&str>,
    organization: Option<&str>,
    extras: ExtrasFn<'_>,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<RefreshPrepared, OAuthError> {
    if !client.allows_grant(GrantType::RefreshToken) {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use the refresh token grant".into(),
        ));
    }
    let requested = scope.map(Scope::parse).transpose()?;
    let Some(row) = find_refresh(conn, token)? else {
        return Err(OAuthError::InvalidGrant("unknown refresh token".into()));
    };
    if row.client_id != client.id {
        return Err(OAuthError::InvalidGrant(
            "refresh token was issued to another client".into(),
        ));
    }
    if row.revoked_at.is_some() {
        return Err(OAuthError::InvalidGrant("refresh token revoked".into()));
    }
    if row.rotated_at.is_some() {
        return Err(crate::db::dialect::write_tx(conn, |conn| {
            reuse_detected(conn, &row, ip, now)
        })?);
    }
    if row.family_expires_at <= now || row.idle_expires_at <= now {
        return Err(OAuthError::InvalidGrant("refresh token expired".into()));
    }
    let granted = Scope::parse(&row.scope)?;
    let scope = match &requested {
        Some(r) if !r.is_subset_of(&granted) => {
            return Err(OAuthError::InvalidScope(
                "requested scope exceeds the scope originally granted".into(),
            ))
        }
        Some(r) => r.clone(),
        None => granted.clone(),
    };
    let user = accounts::find_user(conn, &row.user_id)?
        .ok_or_else(|| OAuthError::InvalidGrant("the user no longer exists".into()))?;
    let target_org = organization.or(row.org_id.as_deref());
    // Not a member any more (or of the switch target): invalid_grant, nothing rotates.
    let extras = extras(conn, client, &user, target_org, &scope)?;
    Ok(RefreshPrepared {
        row,
        user,
        scope,
        granted,
        extras,
    })
}

/// Phase 2, the write: rotate (only one request can), persist what the
/// actions asked, and issue.
pub fn refresh_commit(
    conn: &mut DbConn,
    settings: &Settings,
    client: &Client,
    mut p: RefreshPrepared,
    added: Option<&ActionAdditions>,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<TokenPlan, OAuthError> {
    if let Some(a) = added {
        p.extras.claims.access.extend(a.claims.access.clone());
        p.extras.claims.id.extend(a.claims.id.clone());
    }
    let row = &p.row;
    let outcome = crate::db::dialect::write_tx::<Outcome, OAuthError, _>(conn, |conn| {
        let rotated = diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::id.eq(&row.id))
                .filter(refresh_tokens::rotated_at.is_null())
                .filter(refresh_tokens::revoked_at.is_null()),
        )
        .set(refresh_tokens::rotated_at.eq(now))
        .execute(conn)?;
        if rotated == 0 {
            // Revoked or rotated by a concurrent request since phase 1.
            let revoked = refresh_tokens::table
                .find(&row.id)
                .select(refresh_tokens::revoked_at)
                .first::<Option<NaiveDateTime>>(conn)?
                .is_some();
            if revoked {
                return Ok(Outcome::Fail(OAuthError::InvalidGrant(
                    "refresh token revoked".into(),
                )));
            }
            return Ok(Outcome::Fail(reuse_detected(conn, row, ip, now)?));
        }
        if let Some(meta) = added.and_then(|a| a.app_metadata.as_ref()) {
            accounts::merge_app_metadata(conn, &p.user.id, meta, now)?;
        }
        let (plan, _, _) = plan_user_tokens(
            conn,
            settings,
            UserTokenInput {
                client,
                user: &p.user,
                scope: &p.scope,
                refresh_scope: &p.granted,
                audience: row.audience.as_deref(),
                nonce: None,
                auth_time: row.auth_time,
                session_id: row.session_id.as_deref(),
                connection: &row.connection,
                code_hash: row.code_hash.as_deref(),
                family: Some((&row.family_id, &row.id, row.family_expires_at)),
                extras: p.extras.clone(),
            },
            now,
        )?;
        Ok(Outcome::Issue(Box::new(plan)))
    });
    match outcome? {
        Outcome::Issue(plan) => Ok(*plan),
        Outcome::Fail(e) => Err(e),
    }
}

/// A rotated refresh token was presented again: revoke its whole family and
/// record `refresh_token_reuse_detected`. Returns the error to answer with.
fn reuse_detected(
    conn: &mut DbConn,
    row: &RefreshToken,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<OAuthError, OAuthError> {
    revoke_family(conn, &row.family_id, now)?;
    audit::record(
        conn,
        audit::Event {
            action: "refresh_token_reuse_detected",
            org_id: row.org_id.as_deref(),
            actor: Actor::User(row.user_id.clone()),
            target: Some(("refresh_token_family", &row.family_id)),
            ip,
            detail: serde_json::json!({"client_id": row.client_id, "token_id": row.id}),
        },
        now,
    )?;
    tracing::warn!(family = %row.family_id, user_id = %row.user_id, "refresh token reuse detected; family revoked");
    Ok(OAuthError::InvalidGrant(
        "refresh token already used; every token of this login is revoked".into(),
    ))
}
