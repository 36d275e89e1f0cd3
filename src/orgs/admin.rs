//! Admin-mode lookups (support dashboards): users by email or id, orgs with
//! their owners and members. Only reachable with an admin-mode token.

use diesel::prelude::*;
use serde::Serialize;

use super::org::{memberships, MembershipView, OrgView};
use super::OrgError;
use crate::db::models::{Identity, Organization, User};
use crate::db::schema::{identities, organization_members, organizations, roles, users};
use crate::db::DbConn;

#[derive(Debug, Serialize)]
pub struct UserReport {
    pub id: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub created_at: chrono::NaiveDateTime,
    pub logins_count: i64,
    pub identities: Vec<IdentityView>,
    pub owned_organizations: Vec<MembershipView>,
    pub memberships: Vec<MembershipView>,
}

#[derive(Debug, Serialize)]
pub struct IdentityView {
    pub provider: String,
    pub subject: String,
    pub login: Option<String>,
    pub email: Option<String>,
}

pub fn find_users(
    conn: &mut DbConn,
    email: Option<&str>,
    id: Option<&str>,
) -> Result<Vec<UserReport>, OrgError> {
    let mut q = users::table.into_boxed();
    match (email, id) {
        // No user holds an address that does not parse: an empty page, as before.
        (Some(e), None) => match crate::email::Email::parse(e) {
            Ok(e) => q = q.filter(users::email.eq(e.into_string())),
            Err(_) => return Ok(Vec::new()),
        },
        (None, Some(i)) => q = q.filter(users::id.eq(i.to_string())),
        _ => {
            return Err(OrgError::invalid(
                "query",
                "give exactly one of email or id",
            ))
        }
    }
    let found: Vec<User> = q
        .order(users::created_at.asc())
        .limit(50)
        .select(User::as_select())
        .load(conn)?;
    let mut out = Vec::new();
    for u in found {
        let ids: Vec<Identity> = identities::table
            .filter(identities::user_id.eq(&u.id))
            .select(Identity::as_select())
            .load(conn)?;
        let all = memberships(conn, &u.id, None, 500)?;
        out.push(UserReport {
            owned_organizations: all
                .iter()
                .filter(|m| m.role_id == super::OWNER)
                .cloned()
                .collect(),
            memberships: all,
            identities: ids
                .into_iter()
                .map(|i| IdentityView {
                    provider: i.provider,
                    subject: i.subject,
                    login: i.login,
                    email: i.email,
                })
                .collect(),
            id: u.id,
            email: u.email,
            email_verified: u.email_verified,
            name: u.name,
            created_at: u.created_at,
            logins_count: u.logins_count,
        });
    }
    Ok(out)
}

#[derive(Debug, Serialize)]
pub struct OrgMemberRow {
    pub user_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: String,
}

#[derive(Debug, Serialize)]
pub struct OrgReport {
    pub organization: OrgView,
    pub owners: Vec<OrgMemberRow>,
    pub members: Vec<OrgMemberRow>,
    pub member_count: i64,
}

pub fn org_report(conn: &mut DbConn, org_ref: &str) -> Result<OrgReport, OrgError> {
    let org =
        super::membership::find_org(conn, org_ref)?.ok_or(OrgError::NotFound("organization"))?;
    let rows: Vec<(String, Option<String>, Option<String>, String)> = organization_members::table
        .inner_join(users::table)
        .inner_join(roles::table)
        .filter(organization_members::org_id.eq(&org.id))
        .order(organization_members::created_at.asc())
        .limit(500)
        .select((users::id, users::email, users::name, roles::name))
        .load(conn)?;
    let member_count: i64 = organization_members::table
        .filter(organization_members::org_id.eq(&org.id))
        .count()
        .get_result(conn)?;
    let members: Vec<OrgMemberRow> = rows
        .into_iter()
        .map(|(user_id, email, name, role)| OrgMemberRow {
            user_id,
            email,
            name,
            role,
        })
        .collect();
    Ok(OrgReport {
        organization: OrgView::from(&org),
        owners: members
            .iter()
            .filter(|m| m.role == super::OWNER)
            .map(|m| OrgMemberRow {
                user_id: m.user_id.clone(),
                email: m.email.clone(),
                name: m.name.clone(),
                role: m.role.clone(),
            })
            .collect(),
        members,
        member_count,
    })
}

pub fn list_orgs(
    conn: &mut DbConn,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<OrgView>, OrgError> {
    let mut q = organizations::table.into_boxed();
    if let Some(a) = after {
        q = q.filter(organizations::id.gt(a.to_string()));
    }
    let rows: Vec<Organization> = q
        .order(organizations::id.asc())
        .limit(limit)
        .select(Organization::as_select())
        .load(conn)?;
    Ok(rows.iter().map(OrgView::from).collect())
}
