//! The token endpoint's grants (RFC 6749 §4.1.3, §6, §4.4). Each grant does
//! its database work in one transaction and returns a [`TokenPlan`]; the
//! handler signs it afterwards (off the executor for RSA).

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Deserialize;

use super::client::Client;
use super::pkce;
use super::revoke::{deny_jti, find_refresh, revoke_family};
use super::scope::Scope;
use super::OAuthError;
use crate::accounts;
use crate::audit::{self, Actor};
use crate::config::Settings;
use crate::db::models::{AuthorizationCode, RefreshToken, User};
use crate::db::schema::{authorization_codes, refresh_tokens};
use crate::db::DbConn;
use crate::secrets;
use crate::tokens::issue::{self, AccessTokenSpec, ExtraClaims, IdTokenSpec, TokenPlan};

/// `POST /oauth/token` parameters after client authentication, by grant type.
#[derive(Debug, Deserialize)]
#[serde(tag = "grant_type", rename_all = "snake_case")]
pub enum TokenRequest {
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    RefreshToken {
        refresh_token: String,
        scope: Option<String>,
        organization: Option<String>,
    },
    ClientCredentials {
        scope: Option<String>,
        audience: Option<String>,
        organization: Option<String>,
    },
}

impl TokenRequest {
    pub const GRANT_TYPES: &'static [&'static str] =
        &["authorization_code", "refresh_token", "client_credentials"];

    pub fn grant_type(&self) -> &'static str {
        match self {
            Self::AuthorizationCode { .. } => "authorization_code",
            Self::RefreshToken { .. } => "refresh_token",
            Self::ClientCredentials { .. } => "client_credentials",
        }
    }
}

/// Scopes that only make sense with a user.
const USER_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access", "orgs"];

/// The outcome of a grant's transaction: a plan, or a failure whose side
/// effects (revocations, audit) must still be committed.
enum Outcome {
    Issue(Box<TokenPlan>),
    Fail(OAuthError),
}

fn ttl(secs: u64) -> Duration {
    Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1_000_000))
}

/// Hooks for what the later stages add: org claims and the refresh token's org.
#[derive(Debug, Clone)]
pub struct Extras {
    pub claims: ExtraClaims,
    pub org_id: Option<String>,
}

/// Computes org claims (and later hook output) for a user token.
pub type ExtrasFn<'a> =
    &'a dyn Fn(&mut DbConn, &Client, &User, Option<&str>, &Scope) -> Result<Extras, OAuthError>;

struct UserTokenInput<'a> {
    client: &'a Client,
    user: &'a User,
    scope: &'a Scope,
    refresh_scope: &'a Scope,
    audience: Option<&'a str>,
    nonce: Option<&'a str>,
    auth_time: NaiveDateTime,
    session_id: Option<&'a str>,
    connection: &'a str,
    code_hash: Option<&'a str>,
    family: Option<(&'a str, &'a str, NaiveDateTime)>,
    extras: Extras,
}

/// Builds access/ID claims and, when the client may refresh, stores a new refresh token.
fn plan_user_tokens(
    conn: &mut DbConn,
    settings: &Settings,
    input: UserTokenInput<'_>,
    now: NaiveDateTime,
) -> Result<(TokenPlan, String, NaiveDateTime), OAuthError> {
    let aud = issue::audiences(settings, input.client, input.audience, input.scope)?;
    let jti = uuid::Uuid::new_v4().to_string();
    let unix = now.and_utc().timestamp();
    let auth_time = input.auth_time.and_utc().timestamp();
    let access = issue::access_claims(
        settings,
        &AccessTokenSpec {
            jti: &jti,
            client_id: &input.client.id,
            subject: &input.user.id,
            audiences: &aud,
            scope: input.scope,
            auth_time: Some(auth_time),
            now: unix,
        },
        &input.extras.claims.access,
    );
    let id = input.scope.contains("openid").then(|| {
        issue::id_claims(
            settings,
            &IdTokenSpec {
                client_id: &input.client.id,
                user: input.user,
                scope: input.scope,
                nonce: input.nonce,
                auth_time,
                session_id: input.session_id,
                now: unix,
            },
            &input.extras.claims.id,
        )
    });
    if let Some(org) = &input.extras.org_id {
        crate::orgs::claims::remember(conn, input.user, org, now)?;
    }
    let access_exp = now + ttl(settings.tokens.access_token_ttl_secs);
    let refresh_token = if input.client.allows_grant("refresh_token") {
        let token = secrets::new_token();
        let (family_id, parent_id, family_expires_at) = match input.family {
            Some((f, p, exp)) => (f.to_string(), Some(p.to_string()), exp),
            None => (
                uuid::Uuid::now_v7().to_string(),
                None,
                now + ttl(settings.tokens.refresh_token_absolute_ttl_secs),
            ),
        };
        let row = RefreshToken {
            id: uuid::Uuid::now_v7().to_string(),
            token_hash: secrets::hash_token(&token),
            family_id,
            parent_id,
            client_id: input.client.id.clone(),
            user_id: input.user.id.clone(),
            session_id: input.session_id.map(str::to_string),
            code_hash: input.code_hash.map(str::to_string),
            scope: input.refresh_scope.to_string(),
            audience: input.audience.map(str::to_string),
            org_id: input.extras.org_id.clone(),
            connection: input.connection.to_string(),
            auth_time: input.auth_time,
            access_token_jti: Some(jti.clone()),
            access_token_expires_at: Some(access_exp),
            family_expires_at,
            idle_expires_at: (now + ttl(settings.tokens.refresh_token_idle_ttl_secs))
                .min(family_expires_at),
            rotated_at: None,
            revoked_at: None,
            created_at: now,
        };
        diesel::insert_into(refresh_tokens::table)
            .values(&row)
            .execute(conn)?;
        Some(token)
    } else {
        None
    };
    let plan = TokenPlan {
        access,
        id,
        refresh_token,
        scope: input.scope.to_string(),
        expires_in: i64::try_from(settings.tokens.access_token_ttl_secs).unwrap_or(3600),
    };
    Ok((plan, jti, access_exp))
}

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
    if !client.allows_grant("authorization_code") {
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
        if row.used_at.is_some() {
            revoke_issued_from_code(conn, &row, now)?;
            return Ok(Outcome::Fail(OAuthError::InvalidGrant(
                "authorization code already used; tokens issued from it are revoked".into(),
            )));
        }
        if row.client_id != client.id {
            return Ok(Outcome::Fail(OAuthError::InvalidGrant(
                "authorization code was issued to another client".into(),
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
        if let Some(h) = row
            .hook_claims
            .as_deref()
            .and_then(|h| serde_json::from_str::<serde_json::Value>(h).ok())
        {
            if let Some(a) = h.get("access").and_then(|a| a.as_object()) {
                ex.claims.access.extend(a.clone());
            }
            if let Some(i) = h.get("id").and_then(|i| i.as_object()) {
                ex.claims.id.extend(i.clone());
            }
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
#[allow(clippy::too_many_arguments)]
pub fn refresh_token(
    conn: &mut DbConn,
    settings: &Settings,
    client: &Client,
    token: &str,
    scope: Option<&str>,
    organization: Option<&str>,
    extras: ExtrasFn<'_>,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<TokenPlan, OAuthError> {
    let prepared = refresh_prepare(conn, client, token, scope, organization, extras, ip, now)?;
    refresh_commit(conn, settings, client, prepared, None, ip, now)
}

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
    if !client.allows_grant("refresh_token") {
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
    hook: Option<&crate::hooks::HookOutput>,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<TokenPlan, OAuthError> {
    if let Some(h) = hook {
        p.extras.claims.access.extend(h.access_token_claims.clone());
        p.extras.claims.id.extend(h.id_token_claims.clone());
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
        if let Some(meta) = hook.and_then(|h| h.app_metadata.as_ref()) {
            crate::hooks::event::persist_app_metadata(conn, &p.user.id, meta, now)?;
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

/// RFC 6749 §4.4: a token for the client itself (`sub` = client_id).
/// No database writes: this is the hot path for machine-to-machine calls.
pub fn client_credentials(
    settings: &Settings,
    client: &Client,
    scope: Option<&str>,
    audience: Option<&str>,
    org_claims: serde_json::Map<String, serde_json::Value>,
    now: NaiveDateTime,
) -> Result<TokenPlan, OAuthError> {
    if client.public || !client.allows_grant("client_credentials") {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use the client credentials grant".into(),
        ));
    }
    let scope = match scope {
        Some(s) => {
            let s = Scope::parse(s)?;
            if let Some(bad) = s.iter().find(|t| USER_SCOPES.contains(t)) {
                return Err(OAuthError::InvalidScope(format!(
                    "scope `{bad}` needs a user; not available to client credentials"
                )));
            }
            if let Some(bad) = s.first_outside(&client.scopes) {
                return Err(OAuthError::InvalidScope(format!(
                    "scope `{bad}` is not allowed for this client"
                )));
            }
            s
        }
        None => Scope::from_list(&client.scopes).without(USER_SCOPES),
    };
    let aud = issue::audiences(settings, client, audience, &scope)?;
    let jti = uuid::Uuid::new_v4().to_string();
    let access = issue::access_claims(
        settings,
        &AccessTokenSpec {
            jti: &jti,
            client_id: &client.id,
            subject: &client.id,
            audiences: &aud,
            scope: &scope,
            auth_time: None,
            now: now.and_utc().timestamp(),
        },
        &org_claims,
    );
    Ok(TokenPlan {
        access,
        id: None,
        refresh_token: None,
        scope: scope.to_string(),
        expires_in: i64::try_from(settings.tokens.access_token_ttl_secs).unwrap_or(3600),
    })
}
