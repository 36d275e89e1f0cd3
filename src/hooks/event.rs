//! The event every action gets (documented in the README).

use diesel::prelude::*;
use serde_json::{json, Value};

use super::Trigger;
use crate::db::models::{Identity, User};
use crate::db::schema::identities;
use crate::db::DbConn;
use crate::oauth::client::Client;
use crate::orgs::OrgMember;

/// Why tokens are being issued: `event.transaction.kind` of the action event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transaction {
    /// A login at `/authorize` (upstream, SSO session or org picker).
    Login,
    /// `grant_type=refresh_token`.
    Refresh,
    /// A refresh that changes the active org (`organization=`, `/api/switch-org`).
    Switch,
    /// `grant_type=client_credentials`.
    ClientCredentials,
    /// `POST /api/admin/hooks/dry-run`: nothing is issued or written.
    DryRun,
}

impl Transaction {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Refresh => "refresh",
            Self::Switch => "switch",
            Self::ClientCredentials => "client_credentials",
            Self::DryRun => "dry_run",
        }
    }
}

pub struct EventInput<'a> {
    pub trigger: Trigger,
    pub transaction: Transaction,
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
                "app_metadata": crate::accounts::app_metadata(u)?,
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
        "transaction": {"kind": i.transaction.as_str()},
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
