//! Re-verification of verified domains: a missing record marks a domain
//! `failing`, then `unverified` after the grace period; a record that comes
//! back restores `verified`. Timeouts and server errors change nothing.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::audit::{self, Actor};
use crate::db::models::OrgDomain;
use crate::db::schema::organization_domains as dom;
use crate::db::DbConn;
use crate::dns::TxtAnswer;

use super::matches;

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
