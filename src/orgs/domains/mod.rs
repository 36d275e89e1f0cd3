//! Verified domains (SPEC §7): claim a domain, prove it with a DNS TXT
//! record, keep proving it, and auto-enroll users with verified emails there.
//!
//! * [`name`] — parsing a domain name (IDNA, reserved and look-alike names, the
//!   Public Suffix List);
//! * [`recheck`] — the background re-verification (`failing`, `unverified`);
//! * [`login`] — the login stages: auto-enroll and home-realm discovery.

mod login;
mod name;
mod recheck;

pub use login::{auto_enroll, home_realm};
pub use name::DomainName;
pub use recheck::{apply_recheck, due_for_recheck, outcome_label};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::roles::find_role;
use super::{OrgError, OrgMember, MEMBER};
use crate::audit::{self, Actor};
use crate::db::models::OrgDomain;
use crate::db::schema::{organization_domains as dom, roles};
use crate::db::DbConn;
use crate::dns::TxtAnswer;

pub const RECORD_PREFIX: &str = "_tessera-challenge";
pub const VALUE_PREFIX: &str = "tessera-domain-verification=";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainInput {
    pub domain: String,
    #[serde(default)]
    pub auto_enroll: bool,
    pub enroll_role: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DomainView {
    pub id: String,
    pub domain: String,
    pub status: String,
    pub auto_enroll: bool,
    pub enroll_role: Option<String>,
    pub record: RecordView,
    pub record_seen: Option<String>,
    pub verified_at: Option<NaiveDateTime>,
    pub last_checked_at: Option<NaiveDateTime>,
    pub failing_since: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// The TXT record to publish.
#[derive(Debug, Serialize)]
pub struct RecordView {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    pub value: String,
}

pub fn record_name(domain: &str) -> String {
    format!("{RECORD_PREFIX}.{domain}")
}

fn view(conn: &mut DbConn, d: &OrgDomain) -> QueryResult<DomainView> {
    let role = match &d.enroll_role_id {
        Some(r) => roles::table
            .find(r)
            .select(roles::name)
            .first::<String>(conn)
            .optional()?,
        None => None,
    };
    Ok(DomainView {
        id: d.id.clone(),
        domain: d.domain.clone(),
        status: d.status.clone(),
        auto_enroll: d.auto_enroll,
        enroll_role: role,
        record: RecordView {
            kind: "TXT",
            name: record_name(&d.domain),
            value: format!("{VALUE_PREFIX}{}", d.verification_token),
        },
        record_seen: d.record_seen.clone(),
        verified_at: d.verified_at,
        last_checked_at: d.last_checked_at,
        failing_since: d.failing_since,
        created_at: d.created_at,
    })
}

pub fn add(
    conn: &mut DbConn,
    member: &OrgMember,
    input: DomainInput,
    free_mail: &[String],
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<DomainView, OrgError> {
    member.require("org:domains")?;
    let domain = DomainName::parse(&input.domain)?;
    if free_mail
        .iter()
        .any(|f| f.eq_ignore_ascii_case(domain.as_str()))
    {
        return Err(OrgError::invalid(
            "domain",
            "free-mail domains cannot be verified by an organization",
        ));
    }
    let org_id = member.org_id().to_string();
    crate::db::dialect::write_tx(conn, |conn| {
        let role_ref = input.enroll_role.as_deref().unwrap_or(MEMBER);
        let role = find_role(conn, &org_id, role_ref)?.ok_or_else(|| {
            OrgError::invalid("enroll_role", format!("unknown role `{role_ref}`"))
        })?;
        member.require_all(
            &role.permission_list()?,
            &format!("the role `{}`", role.name),
        )?;
        let exists = dom::table
            .filter(dom::org_id.eq(&org_id))
            .filter(dom::domain.eq(domain.as_str()))
            .count()
            .get_result::<i64>(conn)?
            > 0;
        if exists {
            return Err(OrgError::Conflict(format!(
                "{} is already added to this organization",
                domain.as_str()
            )));
        }
        let row = OrgDomain {
            id: uuid::Uuid::now_v7().to_string(),
            org_id: org_id.clone(),
            domain: domain.as_str().to_string(),
            verification_token: crate::secrets::new_token(),
            status: "pending".into(),
            auto_enroll: input.auto_enroll,
            enroll_role_id: Some(role.id.clone()),
            record_seen: None,
            verified_at: None,
            last_checked_at: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        };
        diesel::insert_into(dom::table).values(&row).execute(conn)?;
        audit::record(
            conn,
            audit::Event {
                action: "domain_added",
                org_id: Some(&org_id),
                actor: Actor::User(member.user_id().to_string()),
                target: Some(("domain", &row.id)),
                ip,
                detail: serde_json::json!({"domain": row.domain, "auto_enroll": row.auto_enroll, "enroll_role": role.name}),
            },
            now,
        )?;
        Ok(view(conn, &row)?)
    })
}

pub fn list(conn: &mut DbConn, member: &OrgMember) -> Result<Vec<DomainView>, OrgError> {
    member.require("org:domains")?;
    let rows: Vec<OrgDomain> = dom::table
        .filter(dom::org_id.eq(member.org_id()))
        .order(dom::domain.asc())
        .select(OrgDomain::as_select())
        .load(conn)?;
    rows.iter()
        .map(|r| view(conn, r).map_err(OrgError::from))
        .collect()
}

pub fn find(conn: &mut DbConn, member: &OrgMember, id: &str) -> Result<OrgDomain, OrgError> {
    member.require("org:domains")?;
    dom::table
        .filter(dom::id.eq(id))
        .filter(dom::org_id.eq(member.org_id()))
        .select(OrgDomain::as_select())
        .first(conn)
        .optional()?
        .ok_or(OrgError::NotFound("domain"))
}

/// Removes a domain; the audit event is written in the same transaction, so
/// either both happen or neither.
pub fn delete(
    conn: &mut DbConn,
    member: &OrgMember,
    id: &str,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), OrgError> {
    crate::db::dialect::write_tx(conn, |conn| {
        let row = find(conn, member, id)?;
        diesel::delete(dom::table.find(&row.id)).execute(conn)?;
        audit::record(
            conn,
            audit::Event {
                action: "domain_removed",
                org_id: Some(member.org_id()),
                actor: Actor::User(member.user_id().to_string()),
                target: Some(("domain", &row.id)),
                ip,
                detail: serde_json::json!({"domain": row.domain}),
            },
            now,
        )?;
        Ok(())
    })
}

/// Does the answer hold the expected value?
pub fn matches(answer: &TxtAnswer, token: &str) -> Option<String> {
    let expected = format!("{VALUE_PREFIX}{token}");
    match answer {
        TxtAnswer::Records(values) => values
            .iter()
            .find(|v| crate::secrets::ct_eq(v.trim().as_bytes(), expected.as_bytes()))
            .cloned(),
        _ => None,
    }
}

/// The outcome of `POST …/verify`.
#[derive(Debug)]
pub enum VerifyOutcome {
    Verified(Box<DomainView>),
    /// 422 with what was found.
    NotFound(TxtAnswer),
}

/// Records a verification attempt whose DNS answer is `answer`.
pub fn apply_verification(
    conn: &mut DbConn,
    member: &OrgMember,
    id: &str,
    answer: TxtAnswer,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<VerifyOutcome, OrgError> {
    crate::db::dialect::write_tx(conn, |conn| {
        let row = find(conn, member, id)?;
        let taken = dom::table
            .filter(dom::domain.eq(&row.domain))
            .filter(dom::org_id.ne(&row.org_id))
            .filter(dom::status.eq_any(["verified", "failing"]))
            .count()
            .get_result::<i64>(conn)?
            > 0;
        if taken {
            return Err(OrgError::Conflict(format!(
                "{} is verified by another organization",
                row.domain
            )));
        }
        diesel::update(dom::table.find(&row.id))
            .set(dom::last_checked_at.eq(now))
            .execute(conn)?;
        let Some(seen) = matches(&answer, &row.verification_token) else {
            return Ok(VerifyOutcome::NotFound(answer));
        };
        let res = diesel::update(dom::table.find(&row.id))
            .set((
                dom::status.eq("verified"),
                dom::verified_at.eq(now),
                dom::record_seen.eq(&seen),
                dom::failing_since.eq(None::<NaiveDateTime>),
                dom::updated_at.eq(now),
            ))
            .execute(conn);
        match res {
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => {
                return Err(OrgError::Conflict(format!(
                    "{} is verified by another organization",
                    row.domain
                )))
            }
            other => other?,
        };
        if row.status != "verified" {
            audit::record(
                conn,
                audit::Event {
                    action: "domain_verified",
                    org_id: Some(&row.org_id),
                    actor: Actor::User(member.user_id().to_string()),
                    target: Some(("domain", &row.id)),
                    ip,
                    detail: serde_json::json!({"domain": row.domain, "record": seen}),
                },
                now,
            )?;
        }
        let row: OrgDomain = dom::table
            .find(&row.id)
            .select(OrgDomain::as_select())
            .first(conn)?;
        Ok(VerifyOutcome::Verified(Box::new(view(conn, &row)?)))
    })
}
