//! Builds the application state (pool, key store, metrics, clock) and the
//! actix `HttpServer` on a `TcpListener`, so tests can bind port 0.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

use crate::clock::Clock;
use crate::config::Settings;
use crate::db::{Db, DbError};
use crate::http::cors::OriginCache;
use crate::metrics::Metrics;
use crate::tokens::keys::{KeyError, KeyStore};
use crate::upstream::Connectors;

/// Everything a handler may reach. Cheap to clone (all `Arc`s inside).
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub keys: KeyStore,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub connectors: Arc<Connectors>,
    pub cors: Arc<OriginCache>,
    pub clients: Arc<crate::oauth::client::ClientCache>,
    pub mailer: Arc<crate::mail::Mailer>,
    pub dns: Arc<crate::dns::Dns>,
    pub hooks: Arc<crate::hooks::Pipeline>,
    /// The one issuance service (SPEC §9): every token set goes through it.
    pub issuance: crate::issuance::Issuance,
    /// Counts finished invitation deliveries (sent, logged or failed, and
    /// recorded): a completion signal for whoever waits on one.
    pub deliveries: Arc<tokio::sync::watch::Sender<u64>>,
    /// This process's identity for job leases.
    pub instance_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("signing keys: {0}")]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Hooks(#[from] crate::hooks::BuildError),
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
    #[error(transparent)]
    Dns(#[from] crate::dns::ResolverError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

impl AppState {
    /// Connects (with retries), migrates, and loads or creates the signing key.
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        let db_settings = settings.database.clone();
        let db = tokio::task::spawn_blocking(move || Db::connect(&db_settings))
            .await
            .map_err(|e| StartError::Other(e.to_string()))??;
        let migrate_db = db.clone();
        let migrate = settings.database.migrate_on_start;
        let applied = tokio::task::spawn_blocking(move || {
            if migrate {
                migrate_db.migrate()
            } else {
                match migrate_db.pending_migrations()? {
                    pending if pending.is_empty() => Ok(vec![]),
                    pending => Err(DbError::Migration(format!(
                        "{} migration(s) pending ({}) and --no-migrate is set: run `tessera migrate` first",
                        pending.len(),
                        pending.join(", ")
                    ))),
                }
            }
        })
        .await
        .map_err(|e| StartError::Other(e.to_string()))??;
        if !applied.is_empty() {
            tracing::info!(?applied, "applied migrations");
        }
        let (key_settings, key_db, key_clock) = (settings.clone(), db.clone(), clock.clone());
        let keys = tokio::task::spawn_blocking(move || {
            KeyStore::from_settings(&key_settings, &key_db, key_clock.as_ref())
        })
        .await
        .map_err(|e| StartError::Other(e.to_string()))??;
        let clients = settings.clients.clone();
        let now = clock.now_naive();
        db.run(move |conn| {
            crate::oauth::client::sync_from_config(conn, &clients, now)
                .map_err(|e| DbError::Internal(format!("[[clients]]: {e}")))
        })
        .await?;
        let http = crate::upstream::http_client()
            .map_err(|e| StartError::Other(format!("HTTP client: {e}")))?;
        let connectors = Connectors::from_settings(&settings, http);
        let mailer = crate::mail::Mailer::from_settings(settings.smtp.as_ref())?;
        let dns = crate::dns::Dns::from_settings(&settings.domains)?;
        let hooks = Arc::new(crate::hooks::Pipeline::build(&settings, None)?);
        let settings = Arc::new(settings);
        let metrics = Arc::new(
            Metrics::new().map_err(|e| StartError::Other(format!("metrics registry: {e}")))?,
        );
        let issuance = crate::issuance::Issuance::new(
            settings.clone(),
            db.clone(),
            keys.clone(),
            hooks.clone(),
            metrics.clone(),
            clock.clone(),
        );
        Ok(Self {
            settings,
            db,
            keys,
            clock,
            metrics,
            connectors: Arc::new(connectors),
            cors: Arc::new(OriginCache::default()),
            clients: Arc::new(crate::oauth::client::ClientCache::default()),
            mailer: Arc::new(mailer),
            dns: Arc::new(dns),
            hooks,
            issuance,
            deliveries: Arc::new(tokio::sync::watch::Sender::new(0)),
            instance_id: uuid::Uuid::new_v4().to_string(),
        })
    }
}

/// The longest lifetime of a signed token: a retiring key stays published this long.
/// Kept for existing callers; it is [`Settings::max_token_ttl`].
pub fn max_token_ttl(settings: &Settings) -> chrono::Duration {
    settings.max_token_ttl()
}

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    pub fn bind(state: AppState) -> Result<Self, StartError> {
        let addr = state.settings.server.bind.clone();
        let listener = TcpListener::bind(&addr).map_err(|source| StartError::Bind {
            addr: addr.clone(),
            source,
        })?;
        Self::with_listener(state, listener)
    }

    pub fn with_listener(state: AppState, listener: TcpListener) -> Result<Self, StartError> {
        let port = listener
            .local_addr()
            .map_err(|e| StartError::Other(e.to_string()))?
            .port();
        spawn_key_reloader(&state);
        spawn_domain_rechecker(&state);
        spawn_purger(&state);
        let workers = match state.settings.server.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let data = web::Data::new(state);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::JsonConfig::default().limit(64 * 1024))
                .app_data(web::FormConfig::default().limit(16 * 1024))
                .app_data(web::PayloadConfig::new(64 * 1024))
                .wrap(from_fn(crate::http::cors::cors))
                .wrap(from_fn(crate::http::observe))
                .configure(crate::http::routes)
                .default_service(web::to(crate::http::not_found))
        })
        .workers(workers)
        .listen(listener)
        .map_err(|source| StartError::Bind {
            addr: "listener".into(),
            source,
        })?
        .run();
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    pub fn into_server(self) -> Server {
        self.server
    }
}

/// Re-reads the key store periodically so a `keys rotate` reaches every
/// instance within `keys.reload_interval_secs` (off the async workers: the
/// database store reads the database).
fn spawn_key_reloader(state: &AppState) {
    let secs = state.settings.keys.reload_interval_secs;
    if secs == 0 {
        return;
    }
    let keys = state.keys.clone();
    let clock = state.clock.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(secs));
        tick.tick().await;
        loop {
            tick.tick().await;
            let (k, c) = (keys.clone(), clock.clone());
            let reloaded = tokio::task::spawn_blocking(move || k.reload(c.as_ref())).await;
            match reloaded {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "reloading signing keys failed; keeping the current set")
                }
                Err(e) => tracing::error!(error = %e, "the key reload task failed"),
            }
        }
    });
}

/// Re-checks verified domains every `domains.recheck_interval_secs`, in the
/// process that holds the `domain-recheck` lease (see [`recheck_domains`]).
fn spawn_domain_rechecker(state: &AppState) {
    let secs = state.settings.domains.recheck_interval_secs;
    if secs == 0 {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(secs.clamp(10, 3600)));
        // The first tick is immediate: skip it, domains were just verified or checked.
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = recheck_domains(&state).await {
                tracing::error!(error = %e, "domain re-verification failed");
            }
        }
    });
}

/// One round of re-verification. Only the holder of the `domain-recheck`
/// lease (a row in `job_leases`, taken for twice the interval) runs it, so N
/// processes on one database check each domain once. Returns how many
/// domains were checked.
pub async fn recheck_domains(state: &AppState) -> Result<usize, DbError> {
    use crate::orgs::domains;
    let interval = state.settings.domains.recheck_interval();
    let grace = state.settings.domains.grace_period();
    let now = state.clock.now_naive();
    let holder = state.instance_id.clone();
    let lease = interval * 2;
    let due = state
        .db
        .run(move |conn| {
            if !crate::db::lease::take(conn, "domain-recheck", &holder, lease, now)? {
                return Ok(Vec::new());
            }
            domains::due_for_recheck(conn, interval, now).map_err(DbError::from)
        })
        .await?;
    let n = due.len();
    for row in due {
        let answer = state.dns.txt(&domains::record_name(&row.domain)).await;
        state
            .metrics
            .dns_check("recheck", crate::orgs::domains::outcome_label(&answer));
        let status = state
            .db
            .run(move |conn| {
                domains::apply_recheck(conn, &row, &answer, grace, now).map_err(DbError::from)
            })
            .await?;
        tracing::debug!(%status, "domain re-checked");
    }
    Ok(n)
}

/// Purges expired rows every `maintenance.purge_interval_secs`, in the process
/// holding the `purge` lease.
fn spawn_purger(state: &AppState) {
    let secs = state.settings.maintenance.purge_interval_secs;
    if secs == 0 {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(secs.max(10)));
        tick.tick().await;
        loop {
            tick.tick().await;
            match purge_expired(&state).await {
                Ok(Some(p)) => {
                    tracing::debug!(?p, "purged expired rows");
                    retire_keys(&state).await;
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "purging expired rows failed"),
            }
        }
    });
}

/// With the database key store, the purge lease holder also retires keys a
/// rotation superseded (once the new key signs) and, later, those whose
/// every token has expired — so `keys list` tells the truth without a CLI run.
async fn retire_keys(state: &AppState) {
    if state.settings.keys.store != crate::config::KeyStoreKind::Database {
        return;
    }
    let (db, ttl, now) = (
        state.db.clone(),
        state.settings.max_token_ttl(),
        state.clock.now(),
    );
    match tokio::task::spawn_blocking(move || crate::tokens::keys::database::prune(&db, ttl, now))
        .await
    {
        Ok(Ok(retired)) if !retired.is_empty() => tracing::info!(?retired, "retired signing keys"),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "retiring signing keys failed"),
        Err(e) => tracing::error!(error = %e, "the key retirement task failed"),
    }
}

/// One purge round (`None` when another process holds the lease).
pub async fn purge_expired(
    state: &AppState,
) -> Result<Option<crate::maintenance::Purged>, DbError> {
    let now = state.clock.now_naive();
    let holder = state.instance_id.clone();
    let lease = state.settings.maintenance.purge_interval() * 2;
    let ttl = state.settings.max_token_ttl();
    state
        .db
        .run(move |conn| {
            if !crate::db::lease::take(conn, "purge", &holder, lease, now)? {
                return Ok(None);
            }
            Ok(Some(crate::maintenance::purge(conn, ttl, now)?))
        })
        .await
}
