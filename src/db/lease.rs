//! Job leases: with several processes on one database, only the holder of a
//! job's lease runs it (domain re-checks, purges).

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::schema::job_leases;
use super::DbConn;

/// Takes (or renews) the lease of a background job for `holder`. With
/// several processes on one database, only the lease holder runs the job.
pub fn take(
    conn: &mut DbConn,
    name: &str,
    holder: &str,
    ttl: Duration,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    super::dialect::write_tx(conn, |conn| {
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
