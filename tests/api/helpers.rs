//! Spawns the real server on 127.0.0.1:0 with a fresh database per test:
//! a temporary SQLite file, or a new PostgreSQL database (dropped afterwards)
//! when `TESSERA_TEST_POSTGRES` holds a server URL.

use std::net::TcpListener;
use std::sync::Arc;

use diesel::{Connection, PgConnection, RunQueryDsl};
use tessera::app::{AppState, Application};
use tessera::clock::FixedClock;
use tessera::config::{SecretString, Settings};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates `name::sqlite` and `name::postgres` tests from `async fn name(Backend)`.
/// The PostgreSQL variant is skipped (with a note) when `TESSERA_TEST_POSTGRES` is unset.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if $crate::helpers::postgres_url().is_none() {
                        eprintln!("TESSERA_TEST_POSTGRES unset: skipping the PostgreSQL run");
                        return;
                    }
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        )*
    };
}

pub fn postgres_url() -> Option<String> {
    std::env::var("TESSERA_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('/').to_string())
}

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub fn create(backend: Backend, dir: &std::path::Path) -> Self {
        match backend {
            Backend::Sqlite => Self {
                url: dir.join("tessera.db").display().to_string(),
                pg: None,
            },
            Backend::Postgres => {
                let base = postgres_url().expect("TESSERA_TEST_POSTGRES");
                let name = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::establish(&format!("{base}/postgres"))
                    .expect("connect to PostgreSQL");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .expect("create test database");
                Self {
                    url: format!("{base}/{name}"),
                    pg: Some((base, name)),
                }
            }
        }
    }

    /// Drops a PostgreSQL test database now (connections are terminated).
    pub fn drop_now(&mut self) {
        if let Some((base, name)) = self.pg.take() {
            if let Ok(mut admin) = PgConnection::establish(&format!("{base}/postgres")) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        self.drop_now();
    }
}

pub struct TestApp {
    pub address: String,
    #[allow(dead_code)]
    pub port: u16,
    pub state: AppState,
    pub clock: Arc<FixedClock>,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    pub db: TestDb,
    #[allow(dead_code)]
    pub backend: Backend,
}

/// Settings every test starts from: loopback issuer, temp keys and database.
pub fn base_settings(dir: &std::path::Path, db_url: &str) -> Settings {
    let mut s = Settings::default();
    s.database.url = SecretString::new(db_url);
    s.database.pool_size = 4;
    s.database.connect_timeout_secs = 5;
    s.keys.dir = dir.join("keys");
    s.keys.algorithm = "ES256".into();
    s.keys.reload_interval_secs = 0;
    s.server.workers = 1;
    s
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = tokio::task::block_in_place(|| TestDb::create(backend, dir.path()));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let address = format!("http://127.0.0.1:{port}");
        let mut settings = base_settings(dir.path(), &db.url);
        settings.issuer = address.clone();
        configure(&mut settings);
        let clock = Arc::new(FixedClock::starting_now());
        let state = AppState::build(settings, clock.clone())
            .await
            .expect("build app");
        let app = Application::with_listener(state.clone(), listener).expect("start app");
        tokio::spawn(app.into_server());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            address,
            port,
            state,
            clock,
            client,
            dir,
            db,
            backend,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let res = self.get(path).await;
        assert!(res.status().is_success(), "GET {path}: {}", res.status());
        res.json().await.expect("json")
    }
}
