//! Roles: the built-in `owner`, `admin`, `member`, and per-org custom roles
//! with any permission strings (including app-defined ones).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::{check_permission_name, OrgError, OrgMember};
use crate::audit::{self, Actor};
use crate::db::models::Role;
use crate::db::schema::{
    organization_domains, organization_invitations, organization_members, roles,
};
use crate::db::DbConn;

const MAX_PERMISSIONS: usize = 100;

#[derive(Debug, Serialize)]
pub struct RoleView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    pub built_in: bool,
}

impl TryFrom<&Role> for RoleView {
    type Error = diesel::result::Error;
    fn try_from(r: &Role) -> QueryResult<Self> {
        Ok(Self {
            id: r.id.clone(),
            name: r.name.clone(),
            description: r.description.clone(),
            permissions: r.permission_list()?,
            built_in: r.built_in,
        })
    }
}

/// A role usable in `org_id`: built-in or the org's own, by id or name.
pub fn find_role(conn: &mut DbConn, org_id: &str, role_ref: &str) -> QueryResult<Option<Role>> {
    roles::table
        .filter(roles::org_id.eq(org_id).or(roles::org_id.is_null()))
        .filter(roles::id.eq(role_ref).or(roles::name.eq(role_ref)))
        .select(Role::as_select())
        .first(conn)
        .optional()
}

pub fn list(conn: &mut DbConn, member: &OrgMember) -> Result<Vec<Role>, OrgError> {
    member.require("org:roles")?;
    Ok(roles::table
        .filter(
            roles::org_id
                .eq(member.org_id())
                .or(roles::org_id.is_null()),
        )
        .order((roles::built_in.desc(), roles::name.asc()))
        .select(Role::as_select())
        .load(conn)?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub permissions: Option<Vec<String>>,
}

fn check_role_name(name: &str) -> Result<String, OrgError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'));
    if !ok {
        return Err(OrgError::invalid(
            "name",
            "use 1-64 characters of a-z, 0-9, - and _",
        ));
    }
    if [super::OWNER, super::ADMIN, super::MEMBER].contains(&name) {
        return Err(OrgError::Conflict(format!("`{name}` is a built-in role")));
    }
    Ok(name.to_string())
}

fn check_permissions(member: &OrgMember, perms: &[String]) -> Result<Vec<String>, OrgError> {
    if perms.len() > MAX_PERMISSIONS {
        return Err(OrgError::invalid(
            "permissions",
            format!("at most {MAX_PERMISSIONS}"),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for p in perms {
        check_permission_name(p)?;
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    // Nobody creates a role holding a permission they lack. App-defined
    // permissions count too: only a member who holds them can hand them out.
    member.require_all(&out, "the role")?;
    Ok(out)
}

fn name_taken(
    conn: &mut DbConn,
    org_id: &str,
    name: &str,
    except: Option<&str>,
) -> QueryResult<bool> {
    let mut q = roles::table
        .filter(roles::org_id.eq(org_id))
        .filter(roles::name.eq(name))
        .into_boxed();
    if let Some(id) = except {
        q = q.filter(roles::id.ne(id.to_string()));
    }
    q.count().get_result::<i64>(conn).map(|n| n > 0)
}

pub fn create(
    conn: &mut DbConn,
    member: &OrgMember,
    input: RoleInput,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<Role, OrgError> {
    member.require("org:roles")?;
    let name = check_role_name(
        input
            .name
            .as_deref()
            .ok_or_else(|| OrgError::invalid("name", "is required"))?,
    )?;
    let description = input.description.unwrap_or_default();
    if description.chars().count() > 500 {
        return Err(OrgError::invalid(
            "description",
            "must be at most 500 characters",
        ));
    }
    let perms = check_permissions(member, &input.permissions.unwrap_or_default())?;
    let org_id = member.org_id().to_string();
    crate::db::dialect::write_tx(conn, |conn| {
        if name_taken(conn, &org_id, &name, None)? {
            return Err(OrgError::Conflict(format!("a role named `{name}` exists")));
        }
        let role = Role {
            id: uuid::Uuid::now_v7().to_string(),
            org_id: Some(org_id.clone()),
            name: name.clone(),
            description,
            permissions: serde_json::to_string(&perms).unwrap_or_else(|_| "[]".into()),
            built_in: false,
            created_at: now,
            updated_at: now,
        };
        diesel::insert_into(roles::table)
            .values(&role)
            .execute(conn)?;
        audit::record(
            conn,
            audit::Event {
                action: "role_created",
                org_id: Some(&org_id),
                actor: Actor::User(member.user_id().to_string()),
                target: Some(("role", &role.id)),
                ip,
                detail: serde_json::json!({"name": role.name, "permissions": perms}),
            },
            now,
        )?;
        Ok(role)
    })
}

/// The org's own (custom) role, or 404; built-in roles are 409 for writes.
fn own_role(conn: &mut DbConn, member: &OrgMember, role_id: &str) -> Result<Role, OrgError> {
    let role = find_role(conn, member.org_id(), role_id)?.ok_or(OrgError::NotFound("role"))?;
    if role.built_in {
        return Err(OrgError::Conflict(
            "built-in roles cannot be changed or deleted".into(),
        ));
    }
    Ok(role)
}

pub fn update(
    conn: &mut DbConn,
    member: &OrgMember,
    role_id: &str,
    input: RoleInput,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<Role, OrgError> {
    member.require("org:roles")?;
    let name = input.name.as_deref().map(check_role_name).transpose()?;
    let perms = input
        .permissions
        .as_deref()
        .map(|p| check_permissions(member, p))
        .transpose()?;
    if input
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 500)
    {
        return Err(OrgError::invalid(
            "description",
            "must be at most 500 characters",
        ));
    }
    let org_id = member.org_id().to_string();
    crate::db::dialect::write_tx(conn, |conn| {
        let role = own_role(conn, member, role_id)?;
        // Editing a role you could not grant would let you escalate its holders.
        member.require_all(&role.permission_list()?, "the role")?;
        if let Some(n) = &name {
            if name_taken(conn, &org_id, n, Some(&role.id))? {
                return Err(OrgError::Conflict(format!("a role named `{n}` exists")));
            }
            diesel::update(roles::table.find(&role.id))
                .set(roles::name.eq(n))
                .execute(conn)?;
        }
        if let Some(d) = &input.description {
            diesel::update(roles::table.find(&role.id))
                .set(roles::description.eq(d))
                .execute(conn)?;
        }
        if let Some(p) = &perms {
            let json = serde_json::to_string(p).unwrap_or_else(|_| "[]".into());
            diesel::update(roles::table.find(&role.id))
                .set(roles::permissions.eq(json))
                .execute(conn)?;
        }
        diesel::update(roles::table.find(&role.id))
            .set(roles::updated_at.eq(now))
            .execute(conn)?;
        audit::record(
            conn,
            audit::Event {
                action: "role_updated",
                org_id: Some(&org_id),
                actor: Actor::User(member.user_id().to_string()),
                target: Some(("role", &role.id)),
                ip,
                detail: serde_json::json!({"name": name, "permissions": perms}),
            },
            now,
        )?;
        Ok(roles::table
            .find(&role.id)
            .select(Role::as_select())
            .first(conn)?)
    })
}

pub fn delete(
    conn: &mut DbConn,
    member: &OrgMember,
    role_id: &str,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), OrgError> {
    member.require("org:roles")?;
    let org_id = member.org_id().to_string();
    crate::db::dialect::write_tx(conn, |conn| {
        let role = own_role(conn, member, role_id)?;
        member.require_all(&role.permission_list()?, "the role")?;
        let in_use: i64 = organization_members::table
            .filter(organization_members::role_id.eq(&role.id))
            .count()
            .get_result(conn)?;
        use organization_invitations as inv;
        let pending = inv::table
            .filter(inv::role_id.eq(&role.id))
            .filter(inv::accepted_at.is_null())
            .filter(inv::revoked_at.is_null())
            .filter(inv::declined_at.is_null())
            .filter(inv::expires_at.gt(now));
        let invited: i64 = pending.count().get_result(conn)?;
        if in_use > 0 || invited > 0 {
            return Err(OrgError::Conflict(format!(
                "the role `{}` is assigned to {in_use} member(s) and {invited} pending invitation(s)",
                role.name
            )));
        }
        let enrolling: Vec<String> = organization_domains::table
            .filter(organization_domains::enroll_role_id.eq(&role.id))
            .select(organization_domains::domain)
            .load(conn)?;
        if !enrolling.is_empty() {
            return Err(OrgError::Conflict(format!(
                "the role `{}` is the enroll_role of the domain(s) {}; change or remove them first",
                role.name,
                enrolling.join(", ")
            )));
        }
        // Finished invitations (accepted, revoked, declined, expired) only
        // record history that the audit log keeps too; they go with the role.
        diesel::delete(
            inv::table.filter(inv::role_id.eq(&role.id)).filter(
                inv::accepted_at
                    .is_not_null()
                    .or(inv::revoked_at.is_not_null())
                    .or(inv::declined_at.is_not_null())
                    .or(inv::expires_at.le(now)),
            ),
        )
        .execute(conn)?;
        match diesel::delete(roles::table.find(&role.id)).execute(conn) {
            // Referenced by something added later: a 409, not a 500.
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                _,
            )) => {
                return Err(OrgError::Conflict(format!(
                    "the role `{}` is still referenced",
                    role.name
                )))
            }
            other => other?,
        };
        audit::record(
            conn,
            audit::Event {
                action: "role_deleted",
                org_id: Some(&org_id),
                actor: Actor::User(member.user_id().to_string()),
                target: Some(("role", &role.id)),
                ip,
                detail: serde_json::json!({"name": role.name}),
            },
            now,
        )?;
        Ok(())
    })
}
