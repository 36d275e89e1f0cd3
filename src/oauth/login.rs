//! Finishing a login: provision the user, open the SSO session, resolve the
//! active org, issue the code — in one transaction, so a failure leaves
//! neither a half user nor a dangling session.

use chrono::{Duration, NaiveDateTime};
use diesel::Connection;

use super::authorize::{self, AuthRequest};
use super::OAuthError;
use crate::accounts::{self, UpstreamProfile};
use crate::audit::{self, Actor};
use crate::config::Settings;
use crate::db::models::{LoginTransaction, Session};
use crate::db::DbConn;

/// A finished login: where to send the browser and the new session cookie.
#[derive(Debug)]
pub struct LoginDone {
    pub request: AuthRequest,
    pub code: String,
    pub session_cookie: String,
}

/// Either a login result or an error to redirect to the client with.
pub type LoginResult = Result<LoginDone, (AuthRequest, OAuthError)>;

pub fn complete(
    conn: &mut DbConn,
    settings: &Settings,
    tx: &LoginTransaction,
    profile: &UpstreamProfile,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<LoginResult, OAuthError> {
    let request = authorize::request_of(tx);
    conn.transaction::<LoginResult, OAuthError, _>(|conn| {
        let (user, provisioned) = accounts::provision(conn, profile, now)?;
        let ttl =
            Duration::seconds(i64::try_from(settings.tokens.session_ttl_secs).unwrap_or(86400));
        let (session, cookie) =
            super::session::create(conn, &user.id, &profile.provider, now, ttl)?;
        let org_id = match resolve_org(conn, settings, &request, &session) {
            Ok(o) => o,
            Err(e) => return Ok(Err((request.clone(), e))),
        };
        let code = authorize::issue_code(conn, settings, &request, &session, org_id.clone(), now)?;
        authorize::delete_transaction(conn, &tx.id)?;
        audit::record(
            conn,
            audit::Event {
                action: "login",
                org_id: org_id.as_deref(),
                actor: Actor::User(user.id.clone()),
                target: Some(("client", &request.client_id)),
                ip,
                detail: serde_json::json!({
                    "connection": profile.provider,
                    "provisioned": format!("{provisioned:?}").to_lowercase(),
                }),
            },
            now,
        )?;
        Ok(Ok(LoginDone {
            request: request.clone(),
            code,
            session_cookie: cookie,
        }))
    })
}

/// Issues a code from a live SSO session (no upstream round trip).
pub fn from_session(
    conn: &mut DbConn,
    settings: &Settings,
    request: &AuthRequest,
    session: &Session,
    now: NaiveDateTime,
) -> Result<Result<String, OAuthError>, OAuthError> {
    let org_id = match resolve_org(conn, settings, request, session) {
        Ok(o) => o,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(authorize::issue_code(
        conn, settings, request, session, org_id, now,
    )?))
}

/// The active org for this login. The organizations issue fills this in.
fn resolve_org(
    _conn: &mut DbConn,
    _settings: &Settings,
    _request: &AuthRequest,
    _session: &Session,
) -> Result<Option<String>, OAuthError> {
    Ok(None)
}
