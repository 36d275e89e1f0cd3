//! Org claims for tokens, computed from the database at issue time — never
//! copied from the request (SPEC §3). The issuance service's org stage
//! (`crate::issuance::stages`) calls these.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{Map, Value};

use super::OrgError;
use super::OrgMember;
use crate::config::Settings;
use crate::db::models::User;
use crate::db::schema::{client_organizations, organization_members, users};
use crate::db::DbConn;

/// `{ns}org_id`, `{ns}org_slug`, `{ns}org_role`, `{ns}org_permissions`.
pub fn org_claims(settings: &Settings, member: &OrgMember) -> Map<String, Value> {
    let ns = settings.namespace();
    let mut c = Map::new();
    c.insert(format!("{ns}org_id"), member.org_id().into());
    c.insert(format!("{ns}org_slug"), member.org().slug.clone().into());
    c.insert(format!("{ns}org_role"), member.role().name.clone().into());
    c.insert(
        format!("{ns}org_permissions"),
        member.permissions().to_vec().into(),
    );
    c
}

/// The names of the org claims (reserved: no action may set them).
pub fn org_claim_names(settings: &Settings) -> [String; 4] {
    let ns = settings.namespace();
    [
        format!("{ns}org_id"),
        format!("{ns}org_slug"),
        format!("{ns}org_role"),
        format!("{ns}org_permissions"),
    ]
}

/// The user's default org: the last active one if still a member, else the oldest membership.
pub fn default_org(conn: &mut DbConn, user: &User) -> QueryResult<Option<OrgMember>> {
    if let Some(last) = &user.last_active_org_id {
        if let Some(m) = OrgMember::load(conn, &user.id, last)? {
            return Ok(Some(m));
        }
    }
    let first: Option<String> = organization_members::table
        .filter(organization_members::user_id.eq(&user.id))
        .order((
            organization_members::created_at.asc(),
            organization_members::org_id.asc(),
        ))
        .select(organization_members::org_id)
        .first(conn)
        .optional()?;
    match first {
        Some(org) => OrgMember::load(conn, &user.id, &org),
        None => Ok(None),
    }
}

pub fn membership_count(conn: &mut DbConn, user_id: &str) -> QueryResult<i64> {
    organization_members::table
        .filter(organization_members::user_id.eq(user_id))
        .count()
        .get_result(conn)
}

/// Remembers the user's active org (for the next login).
pub fn remember(
    conn: &mut DbConn,
    user: &User,
    org_id: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    if user.last_active_org_id.as_deref() != Some(org_id) {
        diesel::update(users::table.find(&user.id))
            .set((
                users::last_active_org_id.eq(org_id),
                users::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Grants a client org-scoped client-credentials tokens for an org.
pub fn grant_client(
    conn: &mut DbConn,
    client_id: &str,
    org_ref: &str,
    now: NaiveDateTime,
) -> Result<String, OrgError> {
    let org =
        super::membership::find_org(conn, org_ref)?.ok_or(OrgError::NotFound("organization"))?;
    let exists = client_organizations::table
        .filter(client_organizations::client_id.eq(client_id))
        .filter(client_organizations::org_id.eq(&org.id))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if !exists {
        diesel::insert_into(client_organizations::table)
            .values((
                client_organizations::client_id.eq(client_id),
                client_organizations::org_id.eq(&org.id),
                client_organizations::created_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(org.id)
}
