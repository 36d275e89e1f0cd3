//! Verified domains (SPEC §7): claim a domain, prove it with a DNS TXT
//! record, keep proving it, and auto-enroll users with verified emails there.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::org::lock_org;
use super::roles::find_role;
use super::{members, OrgError, OrgMember, MEMBER};
use crate::audit::{self, Actor};
use crate::db::models::OrgDomain;
use crate::db::schema::{
    job_leases, organization_domains as dom, organization_member_removals, organization_members,
    organizations, roles,
};
use crate::db::DbConn;
use crate::dns::TxtAnswer;

pub const RECORD_PREFIX: &str = "_tessera-challenge";
pub const VALUE_PREFIX: &str = "tessera-domain-verification=";

/// Reserved or private top-level names that can never be a public domain.
const RESERVED_TLDS: &[&str] = &[
    "localhost",
    "local",
    "internal",
    "invalid",
    "test",
    "example",
    "lan",
    "home",
    "corp",
    "arpa",
    "onion",
    "localdomain",
];

/// A normalised domain: lowercase ASCII (IDNA), no trailing dot, a public-looking suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainName(String);

impl DomainName {
    pub fn parse(input: &str) -> Result<Self, OrgError> {
        let bad = |m: &str| OrgError::invalid("domain", m.to_string());
        let s = input.trim();
        if s.is_empty() || s.len() > 253 {
            return Err(bad("must be 1-253 characters"));
        }
        if s.contains("://")
            || s.contains('/')
            || s.contains(':')
            || s.contains('@')
            || s.contains('?')
            || s.contains('#')
        {
            return Err(bad(
                "give a bare domain name: no scheme, path, port or user",
            ));
        }
        let s = s.strip_suffix('.').unwrap_or(s);
        // Confusables: refuse labels that mix Latin letters with Cyrillic or
        // Greek ones (`аcme.com` with a Cyrillic `а`), the usual look-alike trick.
        for label in s.split('.') {
            let latin = label.chars().any(|c| {
                c.is_ascii_alphabetic()
                    || ('\u{00C0}'..='\u{024F}').contains(&c)
                    || ('\u{1E00}'..='\u{1EFF}').contains(&c)
            });
            let lookalike = label
                .chars()
                .any(|c| ('\u{0370}'..='\u{052F}').contains(&c));
            if latin && lookalike {
                return Err(bad(
                    "a label mixes Latin with Cyrillic or Greek letters (possible look-alike)",
                ));
            }
        }
        let host = url::Host::parse(s).map_err(|_| bad("not a valid domain name"))?;
        let ascii = match host {
            url::Host::Domain(d) => d,
            _ => return Err(bad("IP addresses cannot be verified")),
        };
        let labels: Vec<&str> = ascii.split('.').collect();
        if labels.len() < 2 {
            return Err(bad("needs a public suffix (e.g. example.com)"));
        }
        for l in &labels {
            let ok = (1..=63).contains(&l.len())
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-');
            if !ok {
                return Err(bad(
                    "each label must be 1-63 of a-z, 0-9 and - (not at the ends)",
                ));
            }
        }
        let tld = labels.last().copied().unwrap_or_default();
        let tld_ok = (tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_lowercase()))
            || tld.starts_with("xn--");
        if !tld_ok || RESERVED_TLDS.contains(&tld) {
            return Err(bad("needs a public suffix (e.g. example.com)"));
        }
        if ascii.len() > 253 {
            return Err(bad("must be at most 253 characters"));
        }
        Ok(Self(ascii))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

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

/// Domains due for a re-check.
pub fn due_for_recheck(
    conn: &mut DbConn,
    interval: Duration,
    now: NaiveDateTime,
) -> QueryResult<Vec<OrgDomain>> {
    dom::table
        .filter(dom::status.eq_any(["verified", "failing"]))
        .filter(
            dom::last_checked_at
                .is_null()
                .or(dom::last_checked_at.le(now - interval)),
        )
        .order(dom::last_checked_at.asc())
        .limit(500)
        .select(OrgDomain::as_select())
        .load(conn)
}

/// Applies one re-check: present → verified; missing → failing, then
/// unverified after the grace period. Returns the new status.
pub fn apply_recheck(
    conn: &mut DbConn,
    row: &OrgDomain,
    answer: &TxtAnswer,
    grace: Duration,
    now: NaiveDateTime,
) -> QueryResult<String> {
    crate::db::dialect::write_tx(conn, |conn| {
        let present = matches(answer, &row.verification_token);
        // A timeout or server error is not proof of absence: keep the state.
        let inconclusive = matches!(answer, TxtAnswer::Timeout | TxtAnswer::Error(_));
        let (status, action): (&str, Option<&'static str>) =
            match (present.is_some(), inconclusive, row.status.as_str()) {
                (true, _, "failing") => ("verified", Some("domain_verified")),
                (true, _, _) => ("verified", None),
                (false, true, s) => (
                    if s == "failing" {
                        "failing"
                    } else {
                        "verified"
                    },
                    None,
                ),
                (false, false, "verified") => ("failing", Some("domain_failing")),
                (false, false, _) => {
                    let since = row.failing_since.unwrap_or(now);
                    if now - since >= grace {
                        ("unverified", Some("domain_unverified"))
                    } else {
                        ("failing", None)
                    }
                }
            };
        let failing_since = match status {
            "failing" => Some(row.failing_since.unwrap_or(now)),
            _ => None,
        };
        diesel::update(dom::table.find(&row.id))
            .set((
                dom::status.eq(status),
                dom::last_checked_at.eq(now),
                dom::failing_since.eq(failing_since),
                dom::updated_at.eq(now),
            ))
            .execute(conn)?;
        if let Some(action) = action {
            audit::record(
                conn,
                audit::Event {
                    action,
                    org_id: Some(&row.org_id),
                    actor: Actor::System,
                    target: Some(("domain", &row.id)),
                    ip: None,
                    detail: serde_json::json!({"domain": row.domain, "answer": answer}),
                },
                now,
            )?;
        }
        Ok(status.to_string())
    })
}

/// Takes (or renews) the lease of a background job for `holder`. With
/// several processes on one database, only the lease holder runs the job.
pub fn take_lease(
    conn: &mut DbConn,
    name: &str,
    holder: &str,
    ttl: Duration,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    crate::db::dialect::write_tx(conn, |conn| {
        let updated = diesel::update(
            job_leases::table.filter(job_leases::name.eq(name)).filter(
                job_leases::holder
                    .eq(holder)
                    .or(job_leases::expires_at.lt(now)),
            ),
        )
        .set((
            job_leases::holder.eq(holder),
            job_leases::expires_at.eq(now + ttl),
        ))
        .execute(conn)?;
        if updated == 1 {
            return Ok(true);
        }
        let exists = job_leases::table
            .find(name)
            .count()
            .get_result::<i64>(conn)?
            > 0;
        if exists {
            return Ok(false);
        }
        match diesel::insert_into(job_leases::table)
            .values((
                job_leases::name.eq(name),
                job_leases::holder.eq(holder),
                job_leases::expires_at.eq(now + ttl),
            ))
            .execute(conn)
        {
            Ok(_) => Ok(true),
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => Ok(false),
            Err(e) => Err(e),
        }
    })
}

/// Built-in login stage: a user whose email the upstream verified, at a
/// verified auto-enroll domain, joins that org with its `enroll_role` —
/// once: a user who was removed (or left) is not re-enrolled.
pub fn auto_enroll(
    conn: &mut DbConn,
    user_id: &str,
    email: &str,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<Vec<String>> {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return Ok(Vec::new());
    };
    let candidates: Vec<OrgDomain> = dom::table
        .filter(dom::domain.eq(domain.to_lowercase()))
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
    let Some((_, domain)) = login_hint.rsplit_once('@') else {
        return Ok(None);
    };
    dom::table
        .inner_join(organizations::table)
        .filter(dom::domain.eq(domain.trim().to_lowercase()))
        .filter(dom::status.eq_any(["verified", "failing"]))
        .select((organizations::id, organizations::preferred_connection))
        .first(conn)
        .optional()
}

/// The metrics label of a TXT lookup outcome.
pub fn outcome_label(a: &crate::dns::TxtAnswer) -> &'static str {
    use crate::dns::TxtAnswer::*;
    match a {
        Records(_) => "records",
        NoRecord => "no_record",
        Nxdomain => "nxdomain",
        Timeout => "timeout",
        Error(_) => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(DomainName::parse("Acme.COM.").unwrap().as_str(), "acme.com");
        assert_eq!(
            DomainName::parse("bücher.example.de").unwrap().as_str(),
            "xn--bcher-kva.example.de"
        );
        for bad in [
            "http://x",
            "..",
            "localhost",
            "127.0.0.1",
            "[::1]",
            "acme.com:443",
            "acme.com/path",
            "a@acme.com",
            "acme",
            "аpple.com",
            "-acme.com",
            "acme.test",
            "",
            &"a".repeat(300),
            "acme..com",
            "x.123",
        ] {
            assert!(DomainName::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
