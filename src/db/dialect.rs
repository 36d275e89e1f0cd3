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

struct ReleaseOnDrop(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        HOLDS_WRITER.with(|h| h.set(false));
    }
}
