//! The event every action gets (documented in the README).

use diesel::prelude::*;
use serde_json::{json, Value};

use super::Trigger;
use crate::db::models::{Identity, User};
use crate::db::schema::identities;
use crate::db::DbConn;
use crate::oauth::client::Client;
use crate::orgs::OrgMember;

pub struct EventInput<'a> {
    pub trigger: Trigger,
    /// `login`, `refresh`, `switch` or `client_credentials`.
    pub transaction: &'a str,
    pub user: Option<&'a User>,
    pub client: &'a Client,
    pub connection: Option<&'a str>,
    /// The active org (id or slug) the tokens will carry, if any.
    pub organization: Option<&'a str>,
    pub scope: &'a str,
    pub audience: Option<&'a str>,
    /// The `organization` the request asked for.
    pub organization_param: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub now: i64,
}

pub fn build(conn: &mut DbConn, i: EventInput<'_>) -> QueryResult<Value> {
    let (user, memberships, org) = match i.user {
        Some(u) => {
            let ids: Vec<Identity> = identities::table
                .filter(identities::user_id.eq(&u.id))
                .select(Identity::as_select())
                .load(conn)?;
            let memberships = crate::orgs::org::memberships(conn, &u.id, None, 500)?;
            let org = match i.organization {
                Some(o) => OrgMember::load(conn, &u.id, o)?.map(|m| {
                    json!({
                        "id": m.org_id(), "slug": m.org().slug, "name": m.org().name,
                        "role": m.role().name, "permissions": m.permissions(),
                    })
                }),
                None => None,
            };
            let user = json!({
                "id": u.id,
                "email": u.email,
                "email_verified": u.email_verified,
                "name": u.name,
                "picture": u.picture,
                "app_metadata": serde_json::from_str::<Value>(&u.app_metadata).unwrap_or(json!({})),
                "identities": ids.iter().map(|i| json!({"provider": i.provider, "user_id": i.subject, "login": i.login})).collect::<Vec<_>>(),
                "created_at": u.created_at.and_utc().to_rfc3339(),
                "logins_count": u.logins_count,
            });
            let memberships: Vec<Value> = memberships
                .iter()
                .map(|m| json!({"id": m.organization.id, "slug": m.organization.slug, "name": m.organization.name, "role": m.role}))
                .collect();
            (user, Value::from(memberships), org)
        }
        None => {
            let org = match i.organization {
                Some(o) => crate::orgs::membership::find_org(conn, o)?
                    .map(|o| json!({"id": o.id, "slug": o.slug, "name": o.name})),
                None => None,
            };
            (Value::Null, json!([]), org)
        }
    };
    Ok(json!({
        "trigger": i.trigger.as_str(),
        "transaction": {"kind": i.transaction},
        "timestamp": i.now,
        "user": user,
        "connection": i.connection,
        "client": {"client_id": i.client.id, "name": i.client.name},
        "organization": org,
        "memberships": memberships,
        "request": {
            "ip": i.ip,
            "user_agent": i.user_agent,
            "scopes": i.scope.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
            "audience": i.audience,
            "organization": i.organization_param,
        },
        "secrets": {},
    }))
}

/// Merges app_metadata changes into the user's stored app_metadata.
pub fn persist_app_metadata(
    conn: &mut DbConn,
    user_id: &str,
    changes: &serde_json::Map<String, Value>,
    now: chrono::NaiveDateTime,
) -> QueryResult<()> {
    use crate::db::schema::users;
    let current: String = users::table
        .find(user_id)
        .select(users::app_metadata)
        .first(conn)?;
    let mut meta: serde_json::Map<String, Value> =
        serde_json::from_str(&current).unwrap_or_default();
    meta.extend(changes.clone());
    diesel::update(users::table.find(user_id))
        .set((
            users::app_metadata.eq(Value::Object(meta).to_string()),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}
