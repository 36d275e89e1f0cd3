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
use crate::tokens::keys::{Algorithm, KeyError, KeyStore};
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
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("signing keys: {0}")]
    Keys(#[from] KeyError),
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
        let applied = tokio::task::spawn_blocking(move || migrate_db.migrate())
            .await
            .map_err(|e| StartError::Other(e.to_string()))??;
        if !applied.is_empty() {
            tracing::info!(?applied, "applied migrations");
        }
        let alg = Algorithm::parse(&settings.keys.algorithm).map_err(StartError::Other)?;
        let keys = KeyStore::open(
            &settings.keys.dir,
            alg,
            max_token_ttl(&settings),
            clock.as_ref(),
        )?;
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
        let mailer = crate::mail::Mailer::from_settings(settings.smtp.as_ref())
            .map_err(StartError::Other)?;
        Ok(Self {
            settings: Arc::new(settings),
            db,
            keys,
            clock,
            metrics: Arc::new(Metrics::new()),
            connectors: Arc::new(connectors),
            cors: Arc::new(OriginCache::default()),
            clients: Arc::new(crate::oauth::client::ClientCache::default()),
            mailer: Arc::new(mailer),
        })
    }
}

/// The longest lifetime of a signed token: a retiring key stays published this long.
pub fn max_token_ttl(settings: &Settings) -> chrono::Duration {
    let secs = settings
        .tokens
        .access_token_ttl_secs
        .max(settings.tokens.id_token_ttl_secs);
    chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000))
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

/// Re-reads `keys/` periodically so a `keys rotate` reaches every instance.
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
            if let Err(e) = keys.reload(clock.as_ref()) {
                tracing::error!(error = %e, "reloading signing keys failed; keeping the current set");
            }
        }
    });
}
