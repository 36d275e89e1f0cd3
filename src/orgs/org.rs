//! Creating, reading, updating and deleting organizations.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::{check_name, check_permission_name, OrgError, OrgMember, Slug, OWNER};
use crate::audit::{self, Actor};
use crate::config::DefaultRole;
use crate::db::models::{Membership, NewOrganization, Organization, Role};
use crate::db::schema::{audit_events, organization_members, organizations, roles, users};
use crate::db::DbConn;

/// What the API shows of an org.
#[derive(Debug, Serialize)]
pub struct OrgView {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub logo_url: Option<String>,
    pub metadata: serde_json::Value,
    pub personal: bool,
    pub preferred_connection: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl From<&Organization> for OrgView {
    fn from(o: &Organization) -> Self {
        Self {
            id: o.id.clone(),
            slug: o.slug.clone(),
            name: o.name.clone(),
            logo_url: o.logo_url.clone(),
            metadata: serde_json::from_str(&o.metadata).unwrap_or(serde_json::json!({})),
            personal: o.personal,
            preferred_connection: o.preferred_connection.clone(),
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

/// Serializes membership changes of one org: the first statement of every
/// such transaction writes the org row, which takes a row lock on PostgreSQL
/// and the write lock on SQLite, so "last owner" checks cannot interleave.
pub fn lock_org(conn: &mut DbConn, org_id: &str) -> QueryResult<()> {
    diesel::update(organizations::table.find(org_id))
        .set(organizations::updated_at.eq(organizations::updated_at))
        .execute(conn)
        .map(|_| ())
}

pub fn owner_count(conn: &mut DbConn, org_id: &str) -> QueryResult<i64> {
    organization_members::table
        .filter(organization_members::org_id.eq(org_id))
        .filter(organization_members::role_id.eq(OWNER))
        .count()
        .get_result(conn)
}

/// A write of an org's slug: a unique violation means a concurrent create or
/// rename took the slug first, a 409 like the check before it (never a 500).
fn slug_write(result: QueryResult<usize>, slug: &str) -> Result<usize, OrgError> {
    match result {
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Err(OrgError::Conflict(format!("the slug `{slug}` is taken"))),
        other => Ok(other?),
    }
}

fn slug_taken(conn: &mut DbConn, slug: &str) -> QueryResult<bool> {
    organizations::table
        .filter(organizations::slug.eq(slug))
        .count()
        .get_result::<i64>(conn)
        .map(|n| n > 0)
}

fn unique_slug_from(conn: &mut DbConn, name: &str) -> QueryResult<String> {
    let base = Slug::from_name(name);
    if !slug_taken(conn, base.as_str())? {
        return Ok(base.as_str().to_string());
    }
    loop {
        let suffix: String = crate::secrets::random_token(8)
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(6)
            .collect();
        let candidate = format!("{}-{suffix}", base.as_str());
        if !slug_taken(conn, &candidate)? {
            return Ok(candidate);
        }
    }
}

pub struct NewOrg<'a> {
    pub name: &'a str,
    pub slug: Option<&'a str>,
    pub personal: bool,
}

/// Creates an org with `owner_id` as its owner, plus the configured default roles.
pub fn create(
    conn: &mut DbConn,
    new: NewOrg<'_>,
    owner_id: &str,
    default_roles: &[DefaultRole],
    actor: Actor,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<Organization, OrgError> {
    let name = check_name("name", new.name, 100)?;
    let explicit = new.slug.map(Slug::parse).transpose()?;
    crate::db::dialect::write_tx(conn, |conn| {
        let slug = match &explicit {
            Some(s) if slug_taken(conn, s.as_str())? => {
                return Err(OrgError::Conflict(format!(
                    "the slug `{}` is taken",
                    s.as_str()
                )))
            }
            Some(s) => s.as_str().to_string(),
            None => unique_slug_from(conn, &name)?,
        };
        let id = uuid::Uuid::now_v7().to_string();
        let row = NewOrganization {
            id: &id,
            slug: &slug,
            name: &name,
            logo_url: None,
            metadata: "{}",
            personal: new.personal,
            preferred_connection: None,
            created_at: now,
            updated_at: now,
        };
        slug_write(
            diesel::insert_into(organizations::table)
                .values(&row)
                .execute(conn),
            &slug,
        )?;
        diesel::insert_into(organization_members::table)
            .values(&Membership {
                org_id: id.clone(),
                user_id: owner_id.to_string(),
                role_id: OWNER.into(),
                created_at: now,
                updated_at: now,
            })
            .execute(conn)?;
        for r in default_roles {
            for p in &r.permissions {
                check_permission_name(p)?;
            }
            diesel::insert_into(roles::table)
                .values(&Role {
                    id: uuid::Uuid::now_v7().to_string(),
                    org_id: Some(id.clone()),
                    name: r.name.clone(),
                    description: r.description.clone(),
                    permissions: serde_json::to_string(&r.permissions)
                        .unwrap_or_else(|_| "[]".into()),
                    built_in: false,
                    created_at: now,
                    updated_at: now,
                })
                .execute(conn)?;
        }
        audit::record(
            conn,
            audit::Event {
                action: "org_created",
                org_id: Some(&id),
                actor,
                target: Some(("organization", &id)),
                ip,
                detail: serde_json::json!({"slug": slug, "name": name, "personal": new.personal, "owner": owner_id}),
            },
            now,
        )?;
        organizations::table
            .find(&id)
            .select(Organization::as_select())
            .first(conn)
            .map_err(OrgError::from)
    })
}

/// The personal org created at a user's first login.
pub fn create_personal(
    conn: &mut DbConn,
    user_id: &str,
    display: &str,
    default_roles: &[DefaultRole],
    now: NaiveDateTime,
) -> Result<Organization, OrgError> {
    let name = format!(
        "{}'s organization",
        display.chars().take(80).collect::<String>()
    );
    let org = create(
        conn,
        NewOrg {
            name: &name,
            slug: None,
            personal: true,
        },
        user_id,
        default_roles,
        Actor::System,
        None,
        now,
    )?;
    diesel::update(users::table.find(user_id))
        .set(users::last_active_org_id.eq(&org.id))
        .execute(conn)?;
    Ok(org)
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgChanges {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub logo_url: Option<Option<String>>,
    pub metadata: Option<serde_json::Value>,
    /// Home-realm discovery: the connection users of this org's verified domains go to.
    pub preferred_connection: Option<Option<String>>,
}

pub fn update(
    conn: &mut DbConn,
    member: &OrgMember,
    changes: OrgChanges,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<Organization, OrgError> {
    member.require("org:manage")?;
    let name = changes
        .name
        .as_deref()
        .map(|n| check_name("name", n, 100))
        .transpose()?;
    let slug = changes.slug.as_deref().map(Slug::parse).transpose()?;
    let logo = match &changes.logo_url {
        Some(Some(u)) => {
            let ok = u.len() <= 2048
                && url::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "https" | "http"));
            if !ok {
                return Err(OrgError::invalid(
                    "logo_url",
                    "must be an http(s) URL of at most 2048 characters",
                ));
            }
            Some(Some(u.clone()))
        }
        other => other.clone(),
    };
    let metadata = match &changes.metadata {
        Some(m) if !m.is_object() => {
            return Err(OrgError::invalid("metadata", "must be a JSON object"))
        }
        Some(m) => {
            let s = m.to_string();
            if s.len() > 8192 {
                return Err(OrgError::invalid("metadata", "must be at most 8 KiB"));
            }
            Some(s)
        }
        None => None,
    };
    if let Some(Some(c)) = &changes.preferred_connection {
        if c.parse::<crate::upstream::Connection>().is_err() {
            return Err(OrgError::invalid(
                "preferred_connection",
                "must be google, github or dev",
            ));
        }
    }
    let org_id = member.org_id().to_string();
    crate::db::dialect::write_tx(conn, |conn| {
        if let Some(pc) = &changes.preferred_connection {
            diesel::update(organizations::table.find(&org_id))
                .set(organizations::preferred_connection.eq(pc))
                .execute(conn)?;
        }
        if let Some(s) = &slug {
            let taken: Option<String> = organizations::table
                .filter(organizations::slug.eq(s.as_str()))
                .filter(organizations::id.ne(&org_id))
                .select(organizations::id)
                .first(conn)
                .optional()?;
            if taken.is_some() {
                return Err(OrgError::Conflict(format!(
                    "the slug `{}` is taken",
                    s.as_str()
                )));
            }
            // The check above reads; a concurrent rename or create may still win
            // the unique index between it and this write.
            slug_write(
                diesel::update(organizations::table.find(&org_id))
                    .set(organizations::slug.eq(s.as_str()))
                    .execute(conn),
                s.as_str(),
            )?;
        }
        if let Some(n) = &name {
            diesel::update(organizations::table.find(&org_id))
                .set(organizations::name.eq(n))
                .execute(conn)?;
        }
        if let Some(l) = &logo {
            diesel::update(organizations::table.find(&org_id))
                .set(organizations::logo_url.eq(l))
                .execute(conn)?;
        }
        if let Some(m) = &metadata {
            diesel::update(organizations::table.find(&org_id))
                .set(organizations::metadata.eq(m))
                .execute(conn)?;
        }
        diesel::update(organizations::table.find(&org_id))
            .set(organizations::updated_at.eq(now))
            .execute(conn)?;
        audit::record(
            conn,
            audit::Event {
                action: "org_updated",
                org_id: Some(&org_id),
                actor: Actor::User(member.user_id().to_string()),
                target: Some(("organization", &org_id)),
                ip,
                detail: serde_json::json!({
                    "name": name, "slug": slug.as_ref().map(|s| s.as_str()),
                    "logo_url": logo, "metadata_changed": metadata.is_some(),
                }),
            },
            now,
        )?;
        organizations::table
            .find(&org_id)
            .select(Organization::as_select())
            .first(conn)
            .map_err(OrgError::from)
    })
}

/// Deletes the org; memberships, roles, invitations and domains cascade,
/// the audit trail stays.
pub fn delete(
    conn: &mut DbConn,
    member: &OrgMember,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), OrgError> {
    member.require("org:delete")?;
    let org_id = member.org_id().to_string();
    crate::db::dialect::write_tx(conn, |conn| {
        audit::record(
            conn,
            audit::Event {
                action: "org_deleted",
                org_id: Some(&org_id),
                actor: Actor::User(member.user_id().to_string()),
                target: Some(("organization", &org_id)),
                ip,
                detail: serde_json::json!({"slug": member.org().slug, "name": member.org().name}),
            },
            now,
        )?;
        diesel::delete(organizations::table.find(&org_id)).execute(conn)?;
        Ok(())
    })
}

/// One membership of a user, for `/api/me` and token claims.
#[derive(Debug, Clone, Serialize)]
pub struct MembershipView {
    pub organization: MembershipOrg,
    pub role: String,
    pub role_id: String,
    pub permissions: Vec<String>,
    pub joined_at: NaiveDateTime,
}

#[derive(Debug, Clone, Serialize)]
pub struct MembershipOrg {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub personal: bool,
}

/// A user's memberships, oldest first, paged by org id.
pub fn memberships(
    conn: &mut DbConn,
    user_id: &str,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<MembershipView>> {
    let mut q = organization_members::table
        .inner_join(organizations::table)
        .inner_join(roles::table)
        .filter(organization_members::user_id.eq(user_id))
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(organizations::id.gt(a.to_string()));
    }
    let rows: Vec<(Organization, Role, NaiveDateTime)> = q
        .order(organizations::id.asc())
        .limit(limit)
        .select((
            Organization::as_select(),
            Role::as_select(),
            organization_members::created_at,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(o, r, joined)| {
            Ok(MembershipView {
                organization: MembershipOrg {
                    id: o.id,
                    slug: o.slug,
                    name: o.name,
                    personal: o.personal,
                },
                permissions: r.permission_list()?,
                role: r.name,
                role_id: r.id,
                joined_at: joined,
            })
        })
        .collect()
}

/// Audit events of the org, newest first, paged by event id (time-ordered UUIDv7).
pub fn audit_log(
    conn: &mut DbConn,
    member: &OrgMember,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<crate::db::models::AuditEvent>, OrgError> {
    member.require("org:audit:read")?;
    let mut q = audit_events::table
        .filter(audit_events::org_id.eq(member.org_id()))
        .into_boxed();
    if let Some(b) = before {
        q = q.filter(audit_events::id.lt(b.to_string()));
    }
    Ok(q.order(audit_events::id.desc())
        .limit(limit)
        .select(crate::db::models::AuditEvent::as_select())
        .load(conn)?)
}
