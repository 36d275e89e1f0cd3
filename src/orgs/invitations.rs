//! Invitations (SPEC §6): by email, GitHub login or GitHub id; tokens of
//! 256 random bits shown once and stored as SHA-256; single use through one
//! conditional update; the role always comes from the row.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::members;
use super::org::lock_org;
use super::roles::find_role;
use super::{OrgError, OrgMember};
use crate::audit::{self, Actor};
use crate::db::models::{Invitation, Organization, Role, User};
use crate::db::schema::{
    identities, organization_invitations as inv, organization_members, organizations, roles, users,
};
use crate::db::DbConn;
use crate::secrets;
use crate::upstream::Connection;

/// Who an invitation is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addressee {
    Email(String),
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
            return parse_email(e).map(Addressee::Email);
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

/// A syntactically valid email, lowercased.
pub fn parse_email(e: &str) -> Result<String, OrgError> {
    let e = e.trim().to_lowercase();
    let ok = e.len() <= 320
        && !e
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
        && e.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty()
                && !d.contains('@')
                && d.contains('.')
                && !d.starts_with('.')
                && !d.ends_with('.')
                && !d.contains("..")
        });
    if ok {
        Ok(e)
    } else {
        Err(OrgError::invalid("email", "not a valid email address"))
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
#[derive(Debug, Serialize)]
pub struct Issued {
    pub invitation: InvitationView,
    pub token: String,
    pub link: String,
    /// Set when an email should be sent: (to, org name, inviter, role).
    #[serde(skip)]
    pub email: Option<(String, String, String, String)>,
}

pub fn link(issuer: &str, token: &str) -> String {
    format!("{issuer}/invitations/{token}")
}

fn is_member_already(conn: &mut DbConn, org_id: &str, a: &Addressee) -> QueryResult<bool> {
    let user_ids: Vec<String> = match a {
        Addressee::Email(e) => users::table
            .filter(users::email.eq(e))
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
            Addressee::Email(e) => (Some(e.clone()), None, None),
            Addressee::GithubLogin(l) => (None, Some(l.clone()), None),
            Addressee::GithubId(i) => (None, None, Some(i.clone())),
        };
        // A second pending invitation to the same address replaces the first.
        let same: Vec<String> = match &addressee {
            Addressee::Email(e) => inv::table
                .filter(inv::email.eq(e))
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
