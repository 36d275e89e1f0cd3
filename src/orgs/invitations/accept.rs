//! The invitee's side of invitations: looking a token up, accepting (one
//! conditional update), declining, and listing what is addressed to me.

use super::super::members;
use super::super::org::lock_org;
use super::super::OrgError;
use super::{pending_filter, view, InvitationView};
use crate::audit::{self, Actor};
use crate::db::models::{Invitation, Organization, Role, User};
use crate::db::schema::{identities, organization_invitations as inv, organizations, roles};
use crate::db::DbConn;
use crate::secrets;
use crate::upstream::Connection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// Why a token cannot be used. Each maps to its own clear error.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenProblem {
    Unknown,
    Used,
    Declined,
    Revoked,
    Expired,
    NotForYou,
}

impl TokenProblem {
    pub fn message(&self) -> &'static str {
        match self {
            Self::Unknown => "This invitation link is not valid. Check that you copied all of it.",
            Self::Used => "This invitation was already accepted.",
            Self::Declined => "This invitation was declined.",
            Self::Revoked => "This invitation was revoked. Ask for a new one.",
            Self::Expired => "This invitation has expired. Ask for a new one.",
            Self::NotForYou => "This invitation is addressed to a different email address or GitHub account than the one you signed in with.",
        }
    }
}

impl From<TokenProblem> for OrgError {
    fn from(p: TokenProblem) -> Self {
        match p {
            TokenProblem::Unknown => OrgError::NotFound("invitation"),
            TokenProblem::NotForYou => OrgError::Forbidden(p.message().into()),
            other => OrgError::Gone(other.message().into()),
        }
    }
}

/// A token's invitation, if it is still usable (for the invitation page).
pub fn lookup(
    conn: &mut DbConn,
    token: &str,
    now: NaiveDateTime,
) -> QueryResult<Result<(Invitation, Organization, Role), TokenProblem>> {
    if token.len() > 128 {
        return Ok(Err(TokenProblem::Unknown));
    }
    let row: Option<Invitation> = inv::table
        .filter(inv::token_hash.eq(secrets::hash_token(token)))
        .select(Invitation::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else {
        return Ok(Err(TokenProblem::Unknown));
    };
    if let Some(p) = state_problem(&row, now) {
        return Ok(Err(p));
    }
    let org: Organization = organizations::table
        .find(&row.org_id)
        .select(Organization::as_select())
        .first(conn)?;
    let role: Role = roles::table
        .find(&row.role_id)
        .select(Role::as_select())
        .first(conn)?;
    Ok(Ok((row, org, role)))
}

fn state_problem(row: &Invitation, now: NaiveDateTime) -> Option<TokenProblem> {
    if row.accepted_at.is_some() {
        Some(TokenProblem::Used)
    } else if row.declined_at.is_some() {
        Some(TokenProblem::Declined)
    } else if row.revoked_at.is_some() {
        Some(TokenProblem::Revoked)
    } else if row.expires_at <= now {
        Some(TokenProblem::Expired)
    } else {
        None
    }
}

/// The addresses a user is known by: verified emails, GitHub ids and logins.
struct Addresses {
    emails: Vec<String>,
    github: Vec<(String, Option<String>)>,
}

fn addresses_of(conn: &mut DbConn, user: &User) -> QueryResult<Addresses> {
    let mut emails: Vec<String> = identities::table
        .filter(identities::user_id.eq(&user.id))
        .filter(identities::email_verified.eq(true))
        .select(identities::email)
        .load::<Option<String>>(conn)?
        .into_iter()
        .flatten()
        .map(|e| e.to_lowercase())
        .collect();
    if user.email_verified {
        if let Some(u) = &user.email {
            emails.push(u.to_lowercase());
        }
    }
    let github: Vec<(String, Option<String>)> = identities::table
        .filter(identities::user_id.eq(&user.id))
        .filter(identities::provider.eq(Connection::Github.as_str()))
        .select((identities::subject, identities::login))
        .load(conn)?;
    Ok(Addresses { emails, github })
}

/// Is this invitation addressed to this user? Email: one of the user's
/// verified emails (case-insensitive). GitHub: a linked GitHub identity with
/// that numeric id, or whose login matches (then the id is recorded).
/// `Some(resolved_github_id)` when it is.
fn addressed_to(
    conn: &mut DbConn,
    row: &Invitation,
    user: &User,
) -> QueryResult<Option<Option<String>>> {
    let a = addresses_of(conn, user)?;
    if let Some(e) = &row.email {
        return Ok(a.emails.iter().any(|m| m == e).then_some(None));
    }
    if let Some(id) = &row.github_id {
        return Ok(a.github.iter().any(|(s, _)| s == id).then_some(None));
    }
    if let Some(login) = &row.github_login {
        return Ok(a
            .github
            .iter()
            .find(|(_, l)| l.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(login)))
            .map(|(s, _)| Some(s.clone())));
    }
    Ok(None)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptOutcome {
    Joined { org_id: String, role: String },
    AlreadyMember { org_id: String },
}

impl AcceptOutcome {
    pub fn org_id(&self) -> &str {
        match self {
            Self::Joined { org_id, .. } | Self::AlreadyMember { org_id } => org_id,
        }
    }
}

/// Accepts for `user`. One conditional update flips the row, so two
/// concurrent accepts yield one membership. Runs inside the caller's
/// transaction when there is one (the login flow).
pub fn accept(
    conn: &mut DbConn,
    token: &str,
    user: &User,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<AcceptOutcome, OrgError> {
    crate::db::dialect::write_tx(conn, |conn| {
        let row: Option<Invitation> = inv::table
            .filter(inv::token_hash.eq(secrets::hash_token(token)))
            .select(Invitation::as_select())
            .first(conn)
            .optional()?;
        let row = row.ok_or(TokenProblem::Unknown)?;
        lock_org(conn, &row.org_id)?;
        if let Some(p) = state_problem(&row, now) {
            return Err(p.into());
        }
        let Some(resolved_github_id) = addressed_to(conn, &row, user)? else {
            return Err(TokenProblem::NotForYou.into());
        };
        let flipped = diesel::update(inv::table.find(&row.id).filter(pending_filter(now)))
            .set((
                inv::accepted_at.eq(now),
                inv::accepted_by.eq(&user.id),
                inv::updated_at.eq(now),
                inv::github_id.eq(resolved_github_id.or(row.github_id.clone())),
            ))
            .execute(conn)?;
        if flipped == 0 {
            return Err(TokenProblem::Used.into());
        }
        // The role comes from the row, never from the request.
        let joined = members::add(
            conn,
            &row.org_id,
            &user.id,
            &row.role_id,
            Actor::User(user.id.clone()),
            "member_added",
            ip,
            now,
        )?;
        audit::record(
            conn,
            audit::Event {
                action: "invitation_accepted",
                org_id: Some(&row.org_id),
                actor: Actor::User(user.id.clone()),
                target: Some(("invitation", &row.id)),
                ip,
                detail: serde_json::json!({"role_id": row.role_id, "joined": joined}),
            },
            now,
        )?;
        if joined {
            let role: String = roles::table
                .find(&row.role_id)
                .select(roles::name)
                .first(conn)?;
            Ok(AcceptOutcome::Joined {
                org_id: row.org_id,
                role,
            })
        } else {
            Ok(AcceptOutcome::AlreadyMember { org_id: row.org_id })
        }
    })
}

pub fn decline(
    conn: &mut DbConn,
    token: &str,
    user: &User,
    now: NaiveDateTime,
) -> Result<(), OrgError> {
    crate::db::dialect::write_tx(conn, |conn| {
        let row: Invitation = inv::table
            .filter(inv::token_hash.eq(secrets::hash_token(token)))
            .select(Invitation::as_select())
            .first(conn)
            .optional()?
            .ok_or(TokenProblem::Unknown)?;
        if let Some(p) = state_problem(&row, now) {
            return Err(p.into());
        }
        if addressed_to(conn, &row, user)?.is_none() {
            return Err(TokenProblem::NotForYou.into());
        }
        diesel::update(inv::table.find(&row.id).filter(pending_filter(now)))
            .set((inv::declined_at.eq(now), inv::updated_at.eq(now)))
            .execute(conn)?;
        Ok(())
    })
}

/// Pending invitations addressed to the user's verified emails or GitHub identities.
pub fn for_user(
    conn: &mut DbConn,
    user: &User,
    now: NaiveDateTime,
) -> QueryResult<Vec<(InvitationView, String)>> {
    let a = addresses_of(conn, user)?;
    let ids: Vec<String> = a.github.iter().map(|(s, _)| s.clone()).collect();
    let logins: Vec<String> = a
        .github
        .iter()
        .filter_map(|(_, l)| l.as_ref().map(|l| l.to_lowercase()))
        .collect();
    let rows: Vec<Invitation> = inv::table
        .filter(pending_filter(now))
        .filter(
            inv::email
                .eq_any(&a.emails)
                .or(inv::github_id.eq_any(&ids))
                .or(inv::github_login.eq_any(&logins)),
        )
        .order(inv::created_at.desc())
        .limit(200)
        .select(Invitation::as_select())
        .load(conn)?;
    let mut out = Vec::new();
    for r in rows {
        let org: String = organizations::table
            .find(&r.org_id)
            .select(organizations::name)
            .first(conn)?;
        out.push((view(conn, &r)?, org));
    }
    Ok(out)
}
