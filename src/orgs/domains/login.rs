//! The domain login stages: auto-enroll by verified domain, and home-realm
//! discovery from `login_hint`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::super::org::lock_org;
use super::super::{members, MEMBER};
use crate::audit::Actor;
use crate::db::models::OrgDomain;
use crate::db::schema::{
    organization_domains as dom, organization_member_removals, organization_members, organizations,
};
use crate::db::DbConn;
use crate::email::Email;

/// Built-in login stage: a user whose email the upstream verified, at a
/// verified auto-enroll domain, joins that org with its `enroll_role` —
/// once: a user who was removed (or left) is not re-enrolled.
pub fn auto_enroll(
    conn: &mut DbConn,
    user_id: &str,
    email: &Email,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<Vec<String>> {
    let candidates: Vec<OrgDomain> = dom::table
        .filter(dom::domain.eq(email.domain()))
        .filter(dom::status.eq_any(["verified", "failing"]))
        .filter(dom::auto_enroll.eq(true))
        .select(OrgDomain::as_select())
        .load(conn)?;
    let mut joined = Vec::new();
    for d in candidates {
        let removed = organization_member_removals::table
            .filter(organization_member_removals::org_id.eq(&d.org_id))
            .filter(organization_member_removals::user_id.eq(user_id))
            .count()
            .get_result::<i64>(conn)?
            > 0;
        let member = organization_members::table
            .filter(organization_members::org_id.eq(&d.org_id))
            .filter(organization_members::user_id.eq(user_id))
            .count()
            .get_result::<i64>(conn)?
            > 0;
        if removed || member {
            continue;
        }
        lock_org(conn, &d.org_id)?;
        let role = d
            .enroll_role_id
            .clone()
            .unwrap_or_else(|| MEMBER.to_string());
        if members::add(
            conn,
            &d.org_id,
            user_id,
            &role,
            Actor::System,
            "member_auto_enrolled",
            ip,
            now,
        )? {
            joined.push(d.org_id.clone());
        }
    }
    Ok(joined)
}

/// Home-realm discovery: the org (and its preferred connection) of a
/// verified domain, from a `login_hint` email.
pub fn home_realm(
    conn: &mut DbConn,
    login_hint: &str,
) -> QueryResult<Option<(String, Option<String>)>> {
    // A hint that is no email address (a user name, junk) selects nothing.
    let Ok(email) = Email::parse(login_hint) else {
        return Ok(None);
    };
    dom::table
        .inner_join(organizations::table)
        .filter(dom::domain.eq(email.domain()))
        .filter(dom::status.eq_any(["verified", "failing"]))
        .select((organizations::id, organizations::preferred_connection))
        .first(conn)
        .optional()
}
