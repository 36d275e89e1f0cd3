//! Invitations (SPEC §6): by email, GitHub login or GitHub id; tokens of
//! 256 random bits shown once and stored as SHA-256; single use through one
//! conditional update; the role always comes from the row.
//!
//! This file is the org admin's side (create, list, revoke, resend, delivery
//! status); [`accept`] is the invitee's (look up, accept, decline, mine).

mod accept;

pub use accept::{accept, decline, for_user, lookup, AcceptOutcome, TokenProblem};

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::org::lock_org;
use super::roles::find_role;
use super::{OrgError, OrgMember};
use crate::audit::{self, Actor};
use crate::db::models::{Invitation, Role};
use crate::db::schema::{
    identities, organization_invitations as inv, organization_members, roles, users,
};
use crate::db::DbConn;
use crate::email::Email;
use crate::secrets;
use crate::upstream::Connection;

/// Who an invitation is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addressee {
    Email(Email),
    GithubLogin(String),
    GithubId(String),
}

/// The create request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvitationInput {
    pub email: Option<String>,
    pub github_login: Option<String>,
    pub github_id: Option<serde_json::Value>,
    pub role: Option<String>,
}

impl InvitationInput {
    pub fn addressee(&self) -> Result<Addressee, OrgError> {
        let given = [
            self.email.is_some(),
            self.github_login.is_some(),
            self.github_id.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if given != 1 {
            return Err(OrgError::invalid(
                "email",
                "give exactly one of email, github_login or github_id",
            ));
        }
        if let Some(e) = &self.email {
            return Email::parse(e)
                .map(Addressee::Email)
                .map_err(|_| OrgError::invalid("email", "not a valid email address"));
        }
        if let Some(l) = &self.github_login {
            let ok = (1..=39).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-');
            if !ok {
                return Err(OrgError::invalid("github_login", "not a GitHub login"));
            }
            return Ok(Addressee::GithubLogin(l.to_lowercase()));
        }
        let id = match &self.github_id {
            Some(serde_json::Value::Number(n)) => n.as_u64().map(|n| n.to_string()),
            Some(serde_json::Value::String(s))
                if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some(s.clone())
            }
            _ => None,
        };
        id.map(Addressee::GithubId)
            .ok_or_else(|| OrgError::invalid("github_id", "must be a GitHub numeric user id"))
    }
}

/// What the API shows of an invitation (never the token).
#[derive(Debug, Serialize)]
pub struct InvitationView {
    pub id: String,
    pub organization: String,
    pub email: Option<String>,
    pub github_login: Option<String>,
    pub github_id: Option<String>,
    pub role: String,
    pub inviter: Option<InviterView>,
    pub delivery_status: String,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Serialize)]
pub struct InviterView {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
}

fn view(conn: &mut DbConn, i: &Invitation) -> QueryResult<InvitationView> {
    let role: String = roles::table
        .find(&i.role_id)
        .select(roles::name)
        .first(conn)?;
    let inviter = match &i.inviter_id {
        Some(id) => users::table
            .find(id)
            .select((users::id, users::email, users::name))
            .first::<(String, Option<String>, Option<String>)>(conn)
            .optional()?
            .map(|(id, email, name)| InviterView { id, email, name }),
        None => None,
    };
    Ok(InvitationView {
        id: i.id.clone(),
        organization: i.org_id.clone(),
        email: i.email.clone(),
        github_login: i.github_login.clone(),
        github_id: i.github_id.clone(),
        role,
        inviter,
        delivery_status: i.delivery_status.clone(),
        expires_at: i.expires_at,
        created_at: i.created_at,
    })
}

/// A created or re-sent invitation: the row's view plus the token, shown once.
#[derive(Serialize)]
pub struct Issued {
    pub invitation: InvitationView,
    pub token: String,
    pub link: String,
    /// Set when an email should be sent: (to, org name, inviter, role).
    #[serde(skip)]
    pub email: Option<(String, String, String, String)>,
}

/// Redacts the token and the link that carries it.
impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("invitation", &self.invitation)
            .field("token", &"[redacted]")
            .field("link", &"[redacted]")
            .field("email", &self.email.as_ref().map(|e| &e.0))
            .finish()
    }
}

pub fn link(issuer: &str, token: &str) -> String {
    format!("{issuer}/invitations/{token}")
}

fn is_member_already(conn: &mut DbConn, org_id: &str, a: &Addressee) -> QueryResult<bool> {
    let user_ids: Vec<String> = match a {
        Addressee::Email(e) => users::table
            .filter(users::email.eq(e.as_str()))
            .filter(users::email_verified.eq(true))
            .select(users::id)
            .load(conn)?,
        Addressee::GithubId(id) => identities::table
            .filter(identities::provider.eq(Connection::Github.as_str()))
            .filter(identities::subject.eq(id))
            .select(identities::user_id)
            .load(conn)?,
        Addressee::GithubLogin(l) => identities::table
            .filter(identities::provider.eq(Connection::Github.as_str()))
            .filter(identities::login.eq(l))
            .select(identities::user_id)
            .load(conn)?,
    };
    if user_ids.is_empty() {
        return Ok(false);
    }
    organization_members::table
        .filter(organization_members::org_id.eq(org_id))
        .filter(organization_members::user_id.eq_any(user_ids))
        .count()
        .get_result::<i64>(conn)
        .map(|n| n > 0)
}

fn pending_filter(now: NaiveDateTime) -> _pending::Pending {
    _pending::pending(now)
}

mod _pending {
    use chrono::NaiveDateTime;
    use diesel::dsl::{And, Gt, IsNull};
    use diesel::prelude::*;

    use crate::db::schema::organization_invitations as inv;

    pub type Pending = And<
        And<And<IsNull<inv::accepted_at>, IsNull<inv::revoked_at>>, IsNull<inv::declined_at>>,
        Gt<inv::expires_at, NaiveDateTime>,
    >;

    /// Not accepted, revoked or declined, and not expired.
    pub fn pending(now: NaiveDateTime) -> Pending {
        inv::accepted_at
            .is_null()
            .and(inv::revoked_at.is_null())
            .and(inv::declined_at.is_null())
            .and(inv::expires_at.gt(now))
    }
}

pub struct CreateCtx<'a> {
    pub issuer: &'a str,
    pub ttl: Duration,
    pub ip: Option<&'a str>,
    pub now: NaiveDateTime,
}

pub fn create(
    conn: &mut DbConn,
    member: &OrgMember,
    input: InvitationInput,
    ctx: CreateCtx<'_>,
) -> Result<Issued, OrgError> {
    member.require("org:invitations")?;
    let addressee = input.addressee()?;
    let role_ref = input
        .role
        .as_deref()
        .ok_or_else(|| OrgError::invalid("role", "is required"))?;
    if role_ref.len() > 64 {
        return Err(OrgError::invalid("role", "unknown role"));
    }
    let org_id = member.org_id().to_string();
    crate::db::dialect::write_tx(conn, |conn| {
        lock_org(conn, &org_id)?;
        let role = find_role(conn, &org_id, role_ref)?
            .ok_or_else(|| OrgError::invalid("role", format!("unknown role `{role_ref}`")))?;
        // The role may not hold a permission the inviter lacks.
        member.require_all(
            &role.permission_list()?,
            &format!("the role `{}`", role.name),
        )?;
        if is_member_already(conn, &org_id, &addressee)? {
            return Err(OrgError::Conflict("this person is already a member".into()));
        }
        let (email, login, gid) = match &addressee {
            Addressee::Email(e) => (Some(e.as_str().to_string()), None, None),
            Addressee::GithubLogin(l) => (None, Some(l.clone()), None),
            Addressee::GithubId(i) => (None, None, Some(i.clone())),
        };
        // A second pending invitation to the same address replaces the first.
        let same: Vec<String> = match &addressee {
            Addressee::Email(e) => inv::table
                .filter(inv::email.eq(e.as_str()))
                .filter(inv::org_id.eq(&org_id))
                .filter(pending_filter(ctx.now))
                .select(inv::id)
                .load(conn)?,
            Addressee::GithubLogin(l) => inv::table
                .filter(inv::github_login.eq(l))
                .filter(inv::org_id.eq(&org_id))
                .filter(pending_filter(ctx.now))
                .select(inv::id)
                .load(conn)?,
            Addressee::GithubId(i) => inv::table
                .filter(inv::github_id.eq(i))
                .filter(inv::org_id.eq(&org_id))
                .filter(pending_filter(ctx.now))
                .select(inv::id)
                .load(conn)?,
        };
        diesel::update(inv::table.filter(inv::id.eq_any(&same)))
            .set((inv::revoked_at.eq(ctx.now), inv::updated_at.eq(ctx.now)))
            .execute(conn)?;
        let token = secrets::new_token();
        let row = Invitation {
            id: uuid::Uuid::now_v7().to_string(),
            org_id: org_id.clone(),
            email,
            github_login: login,
            github_id: gid,
            role_id: role.id.clone(),
            token_hash: secrets::hash_token(&token),
            inviter_id: Some(member.user_id().to_string()),
            delivery_status: if matches!(addressee, Addressee::Email(_)) {
                "pending".into()
            } else {
                "not_emailed".into()
            },
            expires_at: ctx.now + ctx.ttl,
            accepted_at: None,
            accepted_by: None,
            declined_at: None,
            revoked_at: None,
            created_at: ctx.now,
            updated_at: ctx.now,
        };
        diesel::insert_into(inv::table).values(&row).execute(conn)?;
        audit::record(
            conn,
            audit::Event {
                action: "invitation_sent",
                org_id: Some(&org_id),
                actor: Actor::User(member.user_id().to_string()),
                target: Some(("invitation", &row.id)),
                ip: ctx.ip,
                detail: serde_json::json!({"email": row.email, "github_login": row.github_login, "github_id": row.github_id, "role": role.name}),
            },
            ctx.now,
        )?;
        issued(conn, member, &row, &role, token, ctx.issuer)
    })
}

/// Builds the API answer (and the email to send) for a fresh token.
fn issued(
    conn: &mut DbConn,
    member: &OrgMember,
    row: &Invitation,
    role: &Role,
    token: String,
    issuer: &str,
) -> Result<Issued, OrgError> {
    let inviter: (Option<String>, Option<String>) = users::table
        .find(member.user_id())
        .select((users::name, users::email))
        .first(conn)?;
    let inviter_name = inviter
        .0
        .or(inviter.1)
        .unwrap_or_else(|| "A teammate".into());
    let link = link(issuer, &token);
    Ok(Issued {
        invitation: view(conn, row)?,
        email: row.email.clone().map(|to| {
            (
                to,
                member.org().name.clone(),
                inviter_name,
                role.name.clone(),
            )
        }),
        token,
        link,
    })
}

fn find_in_org(conn: &mut DbConn, member: &OrgMember, id: &str) -> Result<Invitation, OrgError> {
    inv::table
        .filter(inv::id.eq(id))
        .filter(inv::org_id.eq(member.org_id()))
        .select(Invitation::as_select())
        .first(conn)
        .optional()?
        .ok_or(OrgError::NotFound("invitation"))
}

pub fn list(
    conn: &mut DbConn,
    member: &OrgMember,
    now: NaiveDateTime,
) -> Result<Vec<InvitationView>, OrgError> {
    member.require("org:invitations")?;
    let rows: Vec<Invitation> = inv::table
        .filter(inv::org_id.eq(member.org_id()))
        .filter(pending_filter(now))
        .order(inv::created_at.desc())
        .limit(500)
        .select(Invitation::as_select())
        .load(conn)?;
    rows.iter()
        .map(|r| view(conn, r).map_err(OrgError::from))
        .collect()
}

pub fn revoke(
    conn: &mut DbConn,
    member: &OrgMember,
    id: &str,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), OrgError> {
    member.require("org:invitations")?;
    crate::db::dialect::write_tx(conn, |conn| {
        let row = find_in_org(conn, member, id)?;
        let n = diesel::update(inv::table.find(&row.id).filter(pending_filter(now)))
            .set((inv::revoked_at.eq(now), inv::updated_at.eq(now)))
            .execute(conn)?;
        if n == 0 {
            return Err(OrgError::Conflict(
                "the invitation is no longer pending".into(),
            ));
        }
        audit::record(
            conn,
            audit::Event {
                action: "invitation_revoked",
                org_id: Some(member.org_id()),
                actor: Actor::User(member.user_id().to_string()),
                target: Some(("invitation", &row.id)),
                ip,
                detail: serde_json::json!({}),
            },
            now,
        )?;
        Ok(())
    })
}

/// New token (the old one dies), expiry reset.
pub fn resend(
    conn: &mut DbConn,
    member: &OrgMember,
    id: &str,
    ctx: CreateCtx<'_>,
) -> Result<Issued, OrgError> {
    member.require("org:invitations")?;
    crate::db::dialect::write_tx(conn, |conn| {
        let row = find_in_org(conn, member, id)?;
        if row.accepted_at.is_some() || row.revoked_at.is_some() || row.declined_at.is_some() {
            return Err(OrgError::Conflict(
                "the invitation was already used, declined or revoked".into(),
            ));
        }
        let role: Role = roles::table
            .find(&row.role_id)
            .select(Role::as_select())
            .first(conn)?;
        member.require_all(
            &role.permission_list()?,
            &format!("the role `{}`", role.name),
        )?;
        let token = secrets::new_token();
        let status = if row.email.is_some() {
            "pending"
        } else {
            "not_emailed"
        };
        diesel::update(inv::table.find(&row.id))
            .set((
                inv::token_hash.eq(secrets::hash_token(&token)),
                inv::expires_at.eq(ctx.now + ctx.ttl),
                inv::delivery_status.eq(status),
                inv::updated_at.eq(ctx.now),
            ))
            .execute(conn)?;
        let row: Invitation = inv::table
            .find(&row.id)
            .select(Invitation::as_select())
            .first(conn)?;
        issued(conn, member, &row, &role, token, ctx.issuer)
    })
}

/// Records the outcome of an email delivery.
pub fn set_delivery(
    conn: &mut DbConn,
    id: &str,
    status: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(inv::table.find(id))
        .set((inv::delivery_status.eq(status), inv::updated_at.eq(now)))
        .execute(conn)
        .map(|_| ())
}
