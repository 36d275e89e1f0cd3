//! Members: list, change role, remove, leave, transfer ownership.
//!
//! Invariants, each enforced here and only here:
//! * an org always has at least one owner (409 otherwise);
//! * nobody grants a role holding a permission they lack, and nobody changes
//!   or removes a member whose role holds a permission they lack;
//! * membership changes of one org are serialized by [`lock_org`].

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::org::{lock_org, owner_count};
use super::roles::find_role;
use super::{OrgError, OrgMember, ADMIN, OWNER};
use crate::audit::{self, Actor};
use crate::db::models::{MemberRemoval, Role};
use crate::db::schema::{organization_member_removals, organization_members, roles, users};
use crate::db::DbConn;

/// (user id, email, name, picture, role name, role id, joined at)
type MemberRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
    NaiveDateTime,
);

#[derive(Debug, Serialize)]
pub struct MemberView {
    pub user_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub picture: Option<String>,
    pub role: String,
    pub role_id: String,
    pub joined_at: NaiveDateTime,
}

pub fn list(
    conn: &mut DbConn,
    member: &OrgMember,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<MemberView>, OrgError> {
    member.require("org:members:read")?;
    let mut q = organization_members::table
        .inner_join(users::table)
        .inner_join(roles::table)
        .filter(organization_members::org_id.eq(member.org_id()))
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(organization_members::user_id.gt(a.to_string()));
    }
    let rows: Vec<MemberRow> = q
        .order(organization_members::user_id.asc())
        .limit(limit)
        .select((
            users::id,
            users::email,
            users::name,
            users::picture,
            roles::name,
            roles::id,
            organization_members::created_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(user_id, email, name, picture, role, role_id, joined_at)| MemberView {
                user_id,
                email,
                name,
                picture,
                role,
                role_id,
                joined_at,
            },
        )
        .collect())
}

/// The target's current role, or 404 if they are not a member.
fn target_role(conn: &mut DbConn, org_id: &str, user_id: &str) -> Result<Role, OrgError> {
    organization_members::table
        .inner_join(roles::table)
        .filter(organization_members::org_id.eq(org_id))
        .filter(organization_members::user_id.eq(user_id))
        .select(Role::as_select())
        .first(conn)
        .optional()?
        .ok_or(OrgError::NotFound("member"))
}

pub fn change_role(
    conn: &mut DbConn,
    member: &OrgMember,
    target_user: &str,
    role_ref: &str,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<Role, OrgError> {
    member.require("org:members:write")?;
    let org_id = member.org_id().to_string();
    crate::db::dialect::write_tx(conn, |conn| {
        lock_org(conn, &org_id)?;
        let new_role = find_role(conn, &org_id, role_ref)?
            .ok_or_else(|| OrgError::invalid("role", format!("unknown role `{role_ref}`")))?;
        member.require_all(
            &new_role.permission_list()?,
            &format!("the role `{}`", new_role.name),
        )?;
        let current = target_role(conn, &org_id, target_user)?;
        member.require_all(&current.permission_list()?, "this member's current role")?;
        if current.id == new_role.id {
            return Ok(new_role);
        }
        if current.id == OWNER && owner_count(conn, &org_id)? <= 1 {
            return Err(OrgError::Conflict(
                "the organization must keep at least one owner".into(),
            ));
        }
        diesel::update(
            organization_members::table
                .filter(organization_members::org_id.eq(&org_id))
                .filter(organization_members::user_id.eq(target_user)),
        )
        .set((
            organization_members::role_id.eq(&new_role.id),
            organization_members::updated_at.eq(now),
        ))
        .execute(conn)?;
        audit::record(
            conn,
            audit::Event {
                action: "member_role_changed",
                org_id: Some(&org_id),
                actor: Actor::User(member.user_id().to_string()),
                target: Some(("user", target_user)),
                ip,
                detail: serde_json::json!({"from": current.name, "to": new_role.name}),
            },
            now,
        )?;
        Ok(new_role)
    })
}

fn delete_membership(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::delete(
        organization_members::table
            .filter(organization_members::org_id.eq(org_id))
            .filter(organization_members::user_id.eq(user_id)),
    )
    .execute(conn)?;
    // Remember the removal so domain auto-enrolment does not re-add them.
    let exists = organization_member_removals::table
        .filter(organization_member_removals::org_id.eq(org_id))
        .filter(organization_member_removals::user_id.eq(user_id))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if exists {
        diesel::update(
            organization_member_removals::table
                .filter(organization_member_removals::org_id.eq(org_id))
                .filter(organization_member_removals::user_id.eq(user_id)),
        )
        .set(organization_member_removals::removed_at.eq(now))
        .execute(conn)?;
    } else {
        diesel::insert_into(organization_member_removals::table)
            .values(&MemberRemoval {
                org_id: org_id.to_string(),
                user_id: user_id.to_string(),
                removed_at: now,
            })
            .execute(conn)?;
    }
    // A user whose active org this was falls back to another at next login.
    diesel::update(
        users::table
            .find(user_id)
            .filter(users::last_active_org_id.eq(org_id)),
    )
    .set(users::last_active_org_id.eq(None::<String>))
    .execute(conn)?;
    Ok(())
}

pub fn remove(
    conn: &mut DbConn,
    member: &OrgMember,
    target_user: &str,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), OrgError> {
    member.require("org:members:write")?;
    let org_id = member.org_id().to_string();
    crate::db::dialect::write_tx(conn, |conn| {
        lock_org(conn, &org_id)?;
        let current = target_role(conn, &org_id, target_user)?;
        member.require_all(&current.permission_list()?, "this member's role")?;
        if current.id == OWNER && owner_count(conn, &org_id)? <= 1 {
            return Err(OrgError::Conflict(
                "the last owner cannot be removed".into(),
            ));
        }
        delete_membership(conn, &org_id, target_user, now)?;
        audit::record(
            conn,
            audit::Event {
                action: "member_removed",
                org_id: Some(&org_id),
                actor: Actor::User(member.user_id().to_string()),
                target: Some(("user", target_user)),
                ip,
                detail: serde_json::json!({"role": current.name}),
            },
            now,
        )?;
        Ok(())
    })
}

pub fn leave(
    conn: &mut DbConn,
    member: &OrgMember,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), OrgError> {
    let org_id = member.org_id().to_string();
    let user_id = member.user_id().to_string();
    crate::db::dialect::write_tx(conn, |conn| {
        lock_org(conn, &org_id)?;
        let current = target_role(conn, &org_id, &user_id)?;
        if current.id == OWNER && owner_count(conn, &org_id)? <= 1 {
            return Err(OrgError::Conflict(
                "the last owner cannot leave; transfer ownership or delete the organization".into(),
            ));
        }
        delete_membership(conn, &org_id, &user_id, now)?;
        audit::record(
            conn,
            audit::Event {
                action: "member_left",
                org_id: Some(&org_id),
                actor: Actor::User(user_id.clone()),
                target: Some(("user", &user_id)),
                ip,
                detail: serde_json::json!({"role": current.name}),
            },
            now,
        )?;
        Ok(())
    })
}

/// The owner hands ownership to another member and becomes an admin.
pub fn transfer_ownership(
    conn: &mut DbConn,
    member: &OrgMember,
    target_user: &str,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), OrgError> {
    if !member.is_owner() {
        return Err(OrgError::Forbidden(
            "only an owner can transfer ownership".into(),
        ));
    }
    if target_user == member.user_id() {
        return Err(OrgError::invalid(
            "user_id",
            "you already own this organization",
        ));
    }
    let org_id = member.org_id().to_string();
    crate::db::dialect::write_tx(conn, |conn| {
        lock_org(conn, &org_id)?;
        let current = target_role(conn, &org_id, target_user)?;
        let set_role = |conn: &mut DbConn, user: &str, role: &str| {
            diesel::update(
                organization_members::table
                    .filter(organization_members::org_id.eq(&org_id))
                    .filter(organization_members::user_id.eq(user)),
            )
            .set((
                organization_members::role_id.eq(role),
                organization_members::updated_at.eq(now),
            ))
            .execute(conn)
        };
        set_role(conn, target_user, OWNER)?;
        set_role(conn, member.user_id(), ADMIN)?;
        audit::record(
            conn,
            audit::Event {
                action: "ownership_transferred",
                org_id: Some(&org_id),
                actor: Actor::User(member.user_id().to_string()),
                target: Some(("user", target_user)),
                ip,
                detail: serde_json::json!({"previous_role": current.name, "previous_owner_now": ADMIN}),
            },
            now,
        )?;
        Ok(())
    })
}

#[allow(clippy::too_many_arguments)]
/// Adds a member (invitations, auto-enrolment, admin API). Returns false if already a member.
pub fn add(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    role_id: &str,
    actor: Actor,
    action: &'static str,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let exists = organization_members::table
        .filter(organization_members::org_id.eq(org_id))
        .filter(organization_members::user_id.eq(user_id))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if exists {
        return Ok(false);
    }
    diesel::insert_into(organization_members::table)
        .values(&crate::db::models::Membership {
            org_id: org_id.to_string(),
            user_id: user_id.to_string(),
            role_id: role_id.to_string(),
            created_at: now,
            updated_at: now,
        })
        .execute(conn)?;
    audit::record(
        conn,
        audit::Event {
            action,
            org_id: Some(org_id),
            actor,
            target: Some(("user", user_id)),
            ip,
            detail: serde_json::json!({"role_id": role_id}),
        },
        now,
    )?;
    Ok(true)
}
