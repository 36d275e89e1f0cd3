//! SSO sessions (server-side rows, an opaque cookie) and the browser-binding
//! cookie that ties a login transaction to the browser that started it.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::db::models::Session;
use crate::db::schema::sessions;
use crate::db::DbConn;
use crate::secrets;

pub const SESSION_COOKIE: &str = "tessera_session";
pub const BROWSER_COOKIE: &str = "tessera_browser";

/// Creates a session and returns (row, cookie value).
pub fn create(
    conn: &mut DbConn,
    user_id: &str,
    connection: &str,
    now: NaiveDateTime,
    ttl: Duration,
) -> QueryResult<(Session, String)> {
    let token = secrets::new_token();
    let row = Session {
        id: uuid::Uuid::now_v7().to_string(),
        token_hash: secrets::hash_token(&token),
        user_id: user_id.to_string(),
        connection: connection.to_string(),
        auth_time: now,
        expires_at: now + ttl,
        last_seen_at: now,
        revoked_at: None,
        created_at: now,
    };
    diesel::insert_into(sessions::table)
        .values(&row)
        .execute(conn)?;
    Ok((row, token))
}

/// The live session behind a cookie value, if any.
pub fn find_live(
    conn: &mut DbConn,
    cookie: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<Session>> {
    sessions::table
        .filter(sessions::token_hash.eq(secrets::hash_token(cookie)))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .select(Session::as_select())
        .first(conn)
        .optional()
}

pub fn revoke(conn: &mut DbConn, cookie: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(sessions::table.filter(sessions::token_hash.eq(secrets::hash_token(cookie))))
        .set(sessions::revoked_at.eq(now))
        .execute(conn)
}
