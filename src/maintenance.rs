//! Purging what has expired: login transactions, codes, sessions, refresh
//! tokens of dead families, and deny-list entries past their `exp`. Runs in
//! the process holding the `purge` lease, every `maintenance.purge_interval_secs`.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{
    authorization_codes, login_transactions, refresh_tokens, revoked_tokens, sessions,
};
use crate::db::DbConn;

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Purged {
    pub login_transactions: usize,
    pub authorization_codes: usize,
    pub sessions: usize,
    pub refresh_tokens: usize,
    pub revoked_tokens: usize,
}

/// Deletes expired rows. `token_ttl` is the longest access/ID token lifetime:
/// a used code is kept that long so a late replay still revokes what it issued.
pub fn purge(conn: &mut DbConn, token_ttl: Duration, now: NaiveDateTime) -> QueryResult<Purged> {
    let day = Duration::days(1);
    Ok(Purged {
        login_transactions: diesel::delete(
            login_transactions::table.filter(login_transactions::expires_at.lt(now)),
        )
        .execute(conn)?,
        authorization_codes: diesel::delete(
            authorization_codes::table.filter(authorization_codes::expires_at.lt(now - token_ttl)),
        )
        .execute(conn)?,
        sessions: diesel::delete(
            sessions::table.filter(
                sessions::expires_at
                    .lt(now)
                    .or(sessions::revoked_at.lt(now - day)),
            ),
        )
        .execute(conn)?,
        // Rotated tokens stay while their family lives: reuse detection needs them.
        refresh_tokens: diesel::delete(
            refresh_tokens::table.filter(
                refresh_tokens::family_expires_at
                    .lt(now)
                    .or(refresh_tokens::revoked_at.lt(now - day)),
            ),
        )
        .execute(conn)?,
        revoked_tokens: diesel::delete(
            revoked_tokens::table.filter(revoked_tokens::expires_at.lt(now)),
        )
        .execute(conn)?,
    })
}
