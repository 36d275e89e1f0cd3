//! The few things that differ per backend, in one place (CONVENTIONS rule 10).

use diesel::connection::SimpleConnection;
use diesel::Connection;

use super::DbConn;

/// A transaction that will write. On SQLite its first statement takes the
/// write lock (what `BEGIN IMMEDIATE` does): a deferred transaction that reads
/// first and writes later fails with "database is locked" whenever another
/// writer commits in between, and the busy timeout cannot help it. On
/// PostgreSQL it is a plain transaction; rows are locked by the statements.
pub fn write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    conn.transaction(|conn| {
        if let DbConn::Sqlite(c) = conn {
            // Matches no row, but an UPDATE acquires the write lock up front.
            c.batch_execute("UPDATE job_leases SET holder = holder WHERE name = ''")?;
        }
        f(conn)
    })
}
