//! Finishing a login: provision the user (and their personal org), open the
//! SSO session, resolve the active org, issue the code — in one transaction,
//! so a failure leaves neither a half user nor a dangling session.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::authorize::{self, AuthRequest};
use super::client::{self, OrganizationUsage};
use super::OAuthError;
use crate::accounts::{self, Provisioned, UpstreamProfile};
use crate::audit::{self, Actor};
use crate::config::Settings;
use crate::db::models::{LoginTransaction, Session, User};
use crate::db::schema::login_transactions;
use crate::db::DbConn;
use crate::orgs::{claims, OrgMember};

/// What the browser does next after a successful login.
#[derive(Debug)]
pub enum Next {
    /// Back to the client with this code.
    Code(String),
    /// The org picker for this (kept) transaction.
    PickOrg(String),
}

/// A finished login: where to send the browser and the new session cookie.
#[derive(Debug)]
pub struct LoginDone {
    pub request: AuthRequest,
    pub next: Next,
    pub session_cookie: String,
}

/// Either a login result or an error to redirect to the client with.
pub type LoginResult = Result<LoginDone, (AuthRequest, OAuthError)>;

/// The org a login lands in.
enum OrgChoice {
    None,
    Org(String),
    Pick,
}

pub fn complete(
    conn: &mut DbConn,
    settings: &Settings,
    tx: &LoginTransaction,
    profile: &UpstreamProfile,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<LoginResult, OAuthError> {
    let request = authorize::request_of(tx);
    crate::db::dialect::write_tx::<LoginResult, OAuthError, _>(conn, |conn| {
        let (user, provisioned) = accounts::provision(conn, profile, now)?;
        if provisioned == Provisioned::Created && settings.orgs.personal_org {
            let display = user
                .name
                .clone()
                .or_else(|| user.email.clone())
                .unwrap_or_else(|| "My".into());
            crate::orgs::org::create_personal(
                conn,
                &user.id,
                &display,
                &settings.orgs.default_roles,
                now,
            )
            .map_err(|e| OAuthError::server(e.to_string()))?;
        }
        // Built-in stage: auto-enroll by verified domain (upstream-verified email only).
        if let (true, Some(email)) = (profile.email_verified, profile.email.as_ref()) {
            crate::orgs::domains::auto_enroll(conn, &user.id, email, ip, now)?;
        }
        let user = accounts::find_user(conn, &user.id)?
            .ok_or_else(|| OAuthError::server("user vanished"))?;
        let ttl = settings.tokens.session_ttl();
        let (session, cookie) =
            super::session::create(conn, &user.id, &profile.provider, now, ttl)?;
        // An invitation accepted as part of the login decides the org.
        let invited = match &request.invitation {
            Some(token) => match crate::orgs::invitations::accept(conn, token, &user, ip, now) {
                Ok(outcome) => Some(outcome.org_id().to_string()),
                Err(e) => {
                    authorize::delete_transaction(conn, &tx.id)?;
                    let msg = match e {
                        crate::orgs::OrgError::Db(db) => return Err(db.into()),
                        crate::orgs::OrgError::Unavailable(db) => return Err(db.into()),
                        crate::orgs::OrgError::NotFound(_) => {
                            crate::orgs::invitations::TokenProblem::Unknown
                                .message()
                                .to_string()
                        }
                        other => other.to_string(),
                    };
                    return Ok(Err((request.clone(), OAuthError::AccessDenied(msg))));
                }
            },
            None => None,
        };
        let choice = match invited {
            Some(org) => Ok(OrgChoice::Org(org)),
            None => resolve_org(conn, &request, &user),
        };
        let choice = match choice {
            Ok(c) => c,
            Err(e) => {
                // Keep the session (the user did log in) but not the transaction.
                authorize::delete_transaction(conn, &tx.id)?;
                return Ok(Err((request.clone(), e)));
            }
        };
        let next = match choice {
            OrgChoice::Pick => {
                diesel::update(login_transactions::table.find(&tx.id))
                    .set(login_transactions::user_id.eq(&user.id))
                    .execute(conn)?;
                Next::PickOrg(tx.id.clone())
            }
            OrgChoice::None | OrgChoice::Org(_) => {
                let org_id = match &choice {
                    OrgChoice::Org(o) => Some(o.clone()),
                    _ => None,
                };
                let code = authorize::issue_code(conn, settings, &request, &session, org_id, now)?;
                authorize::delete_transaction(conn, &tx.id)?;
                Next::Code(code)
            }
        };
        audit::record(
            conn,
            audit::Event {
                action: "login",
                org_id: match &choice {
                    OrgChoice::Org(o) => Some(o.as_str()),
                    _ => None,
                },
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
            next,
            session_cookie: cookie,
        }))
    })
}

/// Continues a request from a live SSO session (no upstream round trip).
pub fn from_session(
    conn: &mut DbConn,
    settings: &Settings,
    request: &AuthRequest,
    session: &Session,
    browser_cookie: &str,
    now: NaiveDateTime,
) -> Result<Result<Next, OAuthError>, OAuthError> {
    let user = accounts::find_user(conn, &session.user_id)?
        .ok_or_else(|| OAuthError::LoginRequired("the session's user no longer exists".into()))?;
    match resolve_org(conn, request, &user) {
        Err(e) => Ok(Err(e)),
        Ok(OrgChoice::Pick) => {
            let ttl = settings.tokens.login_transaction_ttl();
            let tx = authorize::begin_transaction(conn, request, browser_cookie, now, ttl)?;
            diesel::update(login_transactions::table.find(&tx))
                .set(login_transactions::user_id.eq(&user.id))
                .execute(conn)?;
            Ok(Ok(Next::PickOrg(tx)))
        }
        Ok(choice) => {
            let org_id = match choice {
                OrgChoice::Org(o) => Some(o),
                _ => None,
            };
            Ok(Ok(Next::Code(authorize::issue_code(
                conn, settings, request, session, org_id, now,
            )?)))
        }
    }
}

/// SPEC §3: the `organization` parameter (must be a member), else — for a
/// client that requires an org and a user with several — the picker, else
/// the last active org, else the first membership.
fn resolve_org(
    conn: &mut DbConn,
    request: &AuthRequest,
    user: &User,
) -> Result<OrgChoice, OAuthError> {
    let client = client::find(conn, &request.client_id)?
        .ok_or_else(|| OAuthError::AccessDenied("unknown client".into()))?;
    if client.organization_usage == OrganizationUsage::None {
        return Ok(OrgChoice::None);
    }
    if let Some(o) = &request.organization {
        return match OrgMember::load(conn, &user.id, o)? {
            Some(m) => Ok(OrgChoice::Org(m.org_id().to_string())),
            None => Err(OAuthError::AccessDenied(format!(
                "you are not a member of the organization `{o}`"
            ))),
        };
    }
    // Home-realm discovery: a login_hint at a verified domain selects that org for its members.
    if let Some(hint) = &request.login_hint {
        if let Some((org_id, _)) = crate::orgs::domains::home_realm(conn, hint)? {
            if let Some(m) = OrgMember::load(conn, &user.id, &org_id)? {
                return Ok(OrgChoice::Org(m.org_id().to_string()));
            }
        }
    }
    if client.organization_usage == OrganizationUsage::Require {
        match claims::membership_count(conn, &user.id)? {
            0 => {
                return Err(OAuthError::AccessDenied(
                    "this application requires an organization, and you belong to none".into(),
                ))
            }
            1 => {}
            _ => return Ok(OrgChoice::Pick),
        }
    }
    Ok(match claims::default_org(conn, user)? {
        Some(m) => OrgChoice::Org(m.org_id().to_string()),
        None => OrgChoice::None,
    })
}

/// Why the picker's answer cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickProblem {
    SessionEnded,
    OtherSession,
    NotMember,
}

impl PickProblem {
    pub fn message(&self) -> &'static str {
        match self {
            Self::SessionEnded => {
                "Your session has ended. Go back to the application and sign in again."
            }
            Self::OtherSession => "This sign-in belongs to another session. Go back to the application and sign in again.",
            Self::NotMember => "You are not a member of that organization.",
        }
    }
}

/// The picker's answer: checks the choice and issues the code.
pub fn pick(
    conn: &mut DbConn,
    settings: &Settings,
    tx: &LoginTransaction,
    session: &Session,
    organization: &str,
    now: NaiveDateTime,
) -> Result<Result<(AuthRequest, String), PickProblem>, OAuthError> {
    if tx.user_id.as_deref() != Some(session.user_id.as_str()) {
        return Ok(Err(PickProblem::OtherSession));
    }
    let Some(member) = OrgMember::load(conn, &session.user_id, organization)? else {
        return Ok(Err(PickProblem::NotMember));
    };
    let request = authorize::request_of(tx);
    let code = authorize::issue_code(
        conn,
        settings,
        &request,
        session,
        Some(member.org_id().to_string()),
        now,
    )?;
    authorize::delete_transaction(conn, &tx.id)?;
    Ok(Ok((request, code)))
}
