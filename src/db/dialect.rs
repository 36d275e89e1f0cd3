//! The few things that differ per backend, in one place (CONVENTIONS rule 10).

use std::cell::Cell;
use std::sync::Mutex;

use diesel::connection::SimpleConnection;
use diesel::Connection;

use super::DbConn;

/// SQLite has one writer at a time. Writers of this process queue on this
/// lock instead of polling the busy handler (whose sleeps ruin tail latency).
/// It is process-wide, so it also covers tests that open several databases;
/// other processes on the same file still wait in `busy_timeout`.
static SQLITE_WRITER: Mutex<()> = Mutex::new(());

thread_local! {
    /// Set while this thread holds [`SQLITE_WRITER`] (nested write transactions).
    static HOLDS_WRITER: Cell<bool> = const { Cell::new(false) };
}

/// A transaction that will write. On SQLite it first takes the process's
/// writer lock, then its first statement takes the database write lock (what
/// `BEGIN IMMEDIATE` does): a deferred transaction that reads first and writes
/// later fails with "database is locked" whenever another writer commits in
/// between, and the busy timeout cannot help it. On PostgreSQL it is a plain
/// transaction; rows are locked by the statements.
pub fn write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let sqlite = matches!(conn, DbConn::Sqlite(_));
    let nested = HOLDS_WRITER.with(|h| h.get());
    let _guard = if sqlite && !nested {
        let g = SQLITE_WRITER.lock().unwrap_or_else(|p| p.into_inner());
        HOLDS_WRITER.with(|h| h.set(true));
        Some(ReleaseOnDrop(g))
    } else {
        None
    };
    conn.transaction(|conn| {
        if let DbConn::Sqlite(c) = conn {
            // Matches no row, but an UPDATE acquires the write lock up front.
            c.batch_execute("UPDATE job_leases SET holder = holder WHERE name = ''")?;
        }
        f(conn)
    })
}

/// Adds `jti` to the deny list unless it is there: `ON CONFLICT DO NOTHING`
/// on PostgreSQL, `INSERT OR IGNORE` on SQLite. A concurrent revocation of
/// the same token is then not an error — and, unlike catching the unique
/// violation, it does not abort an enclosing PostgreSQL transaction.
pub fn deny_jti_if_absent(
    conn: &mut DbConn,
    row: &super::models::RevokedToken,
) -> diesel::QueryResult<usize> {
    use super::schema::revoked_tokens;
    use diesel::RunQueryDsl;
    match conn {
        DbConn::Postgres(c) => diesel::insert_into(revoked_tokens::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c),
        DbConn::Sqlite(c) => diesel::insert_or_ignore_into(revoked_tokens::table)
            .values(row)
            .execute(c),
    }
}

/// A lock held until the end of the current transaction, serializing
/// start-up work of every instance on one database (the first signing key,
/// the config's clients). On PostgreSQL a transaction-scoped advisory lock;
/// on SQLite the [`write_tx`] around it already holds the database's single
/// write lock, across processes.
pub fn xact_lock(conn: &mut DbConn, lock: AdvisoryLock) -> diesel::QueryResult<()> {
    if let DbConn::Postgres(c) = conn {
        c.batch_execute(&format!("SELECT pg_advisory_xact_lock({})", lock as i64))?;
    }
    Ok(())
}

/// The advisory locks Tessera takes (PostgreSQL lock keys; arbitrary but fixed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i64)]
pub enum AdvisoryLock {
    /// Schema migrations (a session lock, see `Db::migrate`).
    Migrations = 0x7465_7373_0001,
    /// Start-up writes: the first signing key, clients from config.
    Boot = 0x7465_7373_0002,
}

struct ReleaseOnDrop(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        HOLDS_WRITER.with(|h| h.set(false));
    }
}
