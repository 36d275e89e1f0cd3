//! [`OrgMember`]: proof that a user is a member of an org, with their role.
//! Its fields are private and its only constructor reads the database, so an
//! org-scoped function that takes one cannot be called without the check.

use diesel::prelude::*;

use super::OrgError;
use crate::db::models::{Organization, Role};
use crate::db::schema::{organization_members, organizations, roles};
use crate::db::DbConn;

#[derive(Debug, Clone)]
pub struct OrgMember {
    org: Organization,
    user_id: String,
    role: Role,
    permissions: Vec<String>,
}

/// Finds an org by id or slug.
pub fn find_org(conn: &mut DbConn, org_ref: &str) -> QueryResult<Option<Organization>> {
    let q = organizations::table.select(Organization::as_select());
    if is_id(org_ref) {
        q.filter(organizations::id.eq(org_ref))
            .first(conn)
            .optional()
    } else {
        q.filter(organizations::slug.eq(org_ref))
            .first(conn)
            .optional()
    }
}

/// Does `org_ref` have the shape of an org id (a UUID)? `{org}` is matched
/// as an id then, else as a slug: ids are UUIDs and slugs never are, so one
/// reference names at most one org.
pub fn is_id(org_ref: &str) -> bool {
    uuid::Uuid::try_parse(org_ref).is_ok()
}

impl OrgMember {
    /// The caller's membership of `org_ref` (id or slug), or `None` when the
    /// org does not exist or the user is not a member — indistinguishable.
    pub fn load(conn: &mut DbConn, user_id: &str, org_ref: &str) -> QueryResult<Option<Self>> {
        // One query: this runs on every refresh and every org API call.
        let q = organization_members::table
            .inner_join(organizations::table)
            .inner_join(roles::table)
            .filter(organization_members::user_id.eq(user_id))
            .select((Organization::as_select(), Role::as_select()));
        let row: Option<(Organization, Role)> = if is_id(org_ref) {
            q.filter(organizations::id.eq(org_ref))
                .first(conn)
                .optional()?
        } else {
            q.filter(organizations::slug.eq(org_ref))
                .first(conn)
                .optional()?
        };
        row.map(|(org, role)| {
            let permissions = role.permission_list()?;
            Ok(Self {
                org,
                user_id: user_id.to_string(),
                role,
                permissions,
            })
        })
        .transpose()
    }

    pub fn org(&self) -> &Organization {
        &self.org
    }
    pub fn org_id(&self) -> &str {
        &self.org.id
    }
    pub fn user_id(&self) -> &str {
        &self.user_id
    }
    pub fn role(&self) -> &Role {
        &self.role
    }
    pub fn permissions(&self) -> &[String] {
        &self.permissions
    }
    pub fn is_owner(&self) -> bool {
        self.role.id == super::OWNER
    }
    /// SPEC §3: `owner` may do everything and `admin` everything but delete
    /// the org (and transfer ownership, checked by role), so both hold any
    /// permission — app-defined ones included — for granting purposes. Their
    /// tokens list the role's explicit permissions only.
    pub fn has(&self, permission: &str) -> bool {
        match self.role.id.as_str() {
            super::OWNER => true,
            super::ADMIN => permission != "org:delete",
            _ => self.permissions.iter().any(|p| p == permission),
        }
    }

    /// Refuses with 403 unless the member's role grants `permission`.
    /// (Non-members never get here: they got a 404.)
    pub fn require(&self, permission: &str) -> Result<(), OrgError> {
        if self.has(permission) {
            Ok(())
        } else {
            Err(OrgError::Forbidden(format!(
                "your role `{}` lacks the permission `{permission}`",
                self.role.name
            )))
        }
    }

    /// Refuses unless the member holds every permission in `perms` (no escalation).
    pub fn require_all(&self, perms: &[String], what: &str) -> Result<(), OrgError> {
        match perms.iter().find(|p| !self.has(p)) {
            None => Ok(()),
            Some(p) => Err(OrgError::Forbidden(format!(
                "{what} holds `{p}`, which your role lacks"
            ))),
        }
    }
}
