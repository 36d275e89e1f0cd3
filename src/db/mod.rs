//! Storage: one diesel code path for SQLite and PostgreSQL.
//!
//! [`DbConn`] is a `MultiConnection` over both backends, chosen from the URL
//! scheme; [`Db`] is the r2d2 pool plus a helper that runs diesel calls on
//! the blocking thread pool so async workers only do I/O.

pub mod dialect;
pub mod lease;
pub mod models;
pub mod schema;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::{redact_url, DatabaseSettings};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

pub type DbPool = Pool<ConnectionManager<DbConn>>;
pub type PooledConn = PooledConnection<ConnectionManager<DbConn>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("database task was cancelled")]
    Cancelled,
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("{0}")]
    Internal(String),
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
}

/// Where a database URL points: PostgreSQL by scheme, anything else is a SQLite file.
pub fn backend_for(url: &str) -> Backend {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

/// The path diesel's SQLite driver should open for a `sqlite://…` URL or a plain path.
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url)
}

/// Opens one connection, picking the variant from the URL (never by trial).
pub fn establish(url: &str) -> Result<DbConn, diesel::ConnectionError> {
    match backend_for(url) {
        Backend::Postgres => PgConnection::establish(url).map(DbConn::Postgres),
        Backend::Sqlite => SqliteConnection::establish(sqlite_path(url)).map(DbConn::Sqlite),
    }
}

/// Per-connection SQLite settings, applied when r2d2 opens a connection.
#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<DbConn, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConn) -> Result<(), diesel::r2d2::Error> {
        if let DbConn::Sqlite(c) = conn {
            // busy_timeout first: switching to WAL while another connection holds
            // the file would otherwise fail with "database is locked".
            c.batch_execute(
                "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                 PRAGMA cache_size = -32000; PRAGMA temp_store = MEMORY;",
            )
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    backend: Backend,
    sqlite_file: Option<std::path::PathBuf>,
}

impl Db {
    /// Builds the pool, retrying with backoff for `connect_timeout_secs`.
    ///
    /// The pool keeps no idle minimum: r2d2 then never opens connections in
    /// the background, only on demand. (With a minimum its worker threads may
    /// be opening a TLS connection to PostgreSQL while the process exits —
    /// a CLI command finishing, a start-up that fails — and OpenSSL's exit
    /// handlers then crash the process with SIGSEGV.)
    pub fn connect(settings: &DatabaseSettings) -> Result<Self, DbError> {
        let min_idle = 0;
        let url = settings.url.expose().to_string();
        let backend = backend_for(&url);
        let sqlite_file = match backend {
            Backend::Sqlite => {
                let path = std::path::PathBuf::from(sqlite_path(&url));
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    crate::secrets::create_private_dir(parent).map_err(|e| DbError::Connect {
                        url: url.clone(),
                        reason: format!("cannot create {}: {e}", parent.display()),
                    })?;
                }
                // A new database file is created 0600 before SQLite opens it (its
                // -wal and -shm files take the same mode); an existing one is kept.
                if !path.exists() {
                    crate::secrets::private_file_options()
                        .create(true)
                        .truncate(false)
                        .open(&path)
                        .map_err(|e| DbError::Connect {
                            url: url.clone(),
                            reason: format!("cannot create {}: {e}", path.display()),
                        })?;
                }
                // Switch the file to WAL once, before the pool opens connections
                // concurrently (they would race on the journal mode and log "locked").
                let mut c = SqliteConnection::establish(sqlite_path(&url)).map_err(|e| {
                    DbError::Connect {
                        url: url.clone(),
                        reason: e.to_string(),
                    }
                })?;
                c.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")
                    .map_err(|e| DbError::Connect {
                        url: url.clone(),
                        reason: e.to_string(),
                    })?;
                Some(path)
            }
            Backend::Postgres => None,
        };
        let deadline =
            std::time::Instant::now() + Duration::from_secs(settings.connect_timeout_secs);
        let mut delay = Duration::from_millis(100);
        loop {
            let manager = ConnectionManager::<DbConn>::new(url.clone());
            let result = Pool::builder()
                .max_size(settings.pool_size)
                .min_idle(Some(min_idle))
                .connection_timeout(Duration::from_secs(settings.acquire_timeout_secs.max(1)))
                .connection_customizer(Box::new(SqlitePragmas))
                .build(manager)
                // With no idle minimum the pool connects lazily: prove the
                // database answers now, so an unreachable one is retried and
                // reported (URL redacted) here, like with an idle minimum.
                .and_then(|pool| pool.get().map(drop).map(|()| pool));
            match result {
                Ok(pool) => {
                    return Ok(Self {
                        pool,
                        backend,
                        sqlite_file,
                    })
                }
                Err(e) if std::time::Instant::now() + delay < deadline => {
                    tracing::warn!(url = %redact_url(&url), error = %e, retry_in_ms = delay.as_millis() as u64, "database unreachable, retrying");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    return Err(DbError::Connect {
                        url: redact_url(&url),
                        reason: e.to_string(),
                    })
                }
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn get(&self) -> Result<PooledConn, DbError> {
        Ok(self.pool.get()?)
    }

    /// Applies pending embedded migrations of this backend, one migrator at
    /// a time: instances started together wait for the first instead of
    /// failing on each other's half-applied schema. PostgreSQL: a session
    /// advisory lock (released if the process dies); SQLite: an immediate
    /// transaction, i.e. the file's write lock.
    pub fn migrate(&self) -> Result<Vec<String>, DbError> {
        let mut conn = self.get()?;
        let applied = match &mut *conn {
            DbConn::Postgres(c) => {
                let key = dialect::AdvisoryLock::Migrations as i64;
                let got: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
                    &format!("pg_try_advisory_lock({key})"),
                ))
                .get_result(c)
                .map_err(DbError::Query)?;
                if !got {
                    tracing::info!("waiting for another instance to finish the migrations");
                    c.batch_execute(&format!("SELECT pg_advisory_lock({key})"))
                        .map_err(DbError::Query)?;
                }
                let result = c
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>())
                    .map_err(|e| DbError::Migration(e.to_string()));
                let unlocked = c.batch_execute(&format!("SELECT pg_advisory_unlock({key})"));
                let applied = result?;
                unlocked.map_err(DbError::Query)?;
                applied
            }
            DbConn::Sqlite(c) => c
                .immediate_transaction(|c| {
                    c.run_pending_migrations(SQLITE_MIGRATIONS)
                        .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>())
                        .map_err(diesel::result::Error::QueryBuilderError)
                })
                .map_err(|e| DbError::Migration(e.to_string()))?,
        };
        Ok(applied)
    }

    /// Names of the migrations not applied yet (for `serve --no-migrate`).
    pub fn pending_migrations(&self) -> Result<Vec<String>, DbError> {
        let mut conn = self.get()?;
        let pending = match &mut *conn {
            DbConn::Postgres(c) => c
                .pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.name().to_string()).collect()),
            DbConn::Sqlite(c) => c
                .pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.name().to_string()).collect()),
        };
        pending.map_err(|e| DbError::Migration(e.to_string()))
    }

    /// Runs a diesel closure on the blocking pool (CONVENTIONS rule 11).
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(DbError::from)?;
            f(&mut conn)
        })
        .await
        .map_err(|_| E::from(DbError::Cancelled))?
    }

    /// Readiness: a round trip to the database (and, for SQLite, the file still exists).
    pub async fn ping(&self) -> Result<(), DbError> {
        if let Some(path) = &self.sqlite_file {
            if !path.exists() {
                return Err(DbError::Connect {
                    url: path.display().to_string(),
                    reason: "database file is gone".into(),
                });
            }
        }
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get_timeout(Duration::from_secs(2))?;
            conn.batch_execute("SELECT 1")?;
            Ok::<_, DbError>(())
        })
        .await
        .map_err(|_| DbError::Cancelled)?
    }
}
