//! Audit events (SPEC §8): written in the same transaction as the change.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::models::AuditEvent;
use crate::db::schema::audit_events;
use crate::db::DbConn;

/// Who did it.
#[derive(Debug, Clone)]
pub enum Actor {
    User(String),
    Client(String),
    System,
}

#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub action: &'static str,
    pub org_id: Option<&'a str>,
    pub actor: Actor,
    pub target: Option<(&'static str, &'a str)>,
    pub ip: Option<&'a str>,
    pub detail: serde_json::Value,
}

pub fn record(conn: &mut DbConn, e: Event<'_>, now: NaiveDateTime) -> QueryResult<()> {
    let (actor_type, actor_id) = match &e.actor {
        Actor::User(id) => ("user", Some(id.clone())),
        Actor::Client(id) => ("client", Some(id.clone())),
        Actor::System => ("system", None),
    };
    let row = AuditEvent {
        id: uuid::Uuid::now_v7().to_string(),
        org_id: e.org_id.map(str::to_string),
        actor_id,
        actor_type: actor_type.into(),
        action: e.action.into(),
        target_type: e.target.map(|t| t.0.to_string()),
        target_id: e.target.map(|t| t.1.to_string()),
        ip: e.ip.map(str::to_string),
        detail: e.detail.to_string(),
        created_at: now,
    };
    diesel::insert_into(audit_events::table)
        .values(&row)
        .execute(conn)?;
    Ok(())
}
