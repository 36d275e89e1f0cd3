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
///
/// The PostgreSQL variant runs against the server named by `TESSERA_TEST_POSTGRES`.
/// When that variable is unset (or empty) the variant is skipped with a note, so a
/// plain `cargo test` passes on a machine with SQLite alone — except when `CI` is
/// `true`: there it fails, so a CI job that lost the variable cannot go green
/// without having run PostgreSQL (see `postgres_enabled`).
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
                    if !$crate::helpers::postgres_enabled() {
                        return;
                    }
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        )*
    };
}

/// Whether the PostgreSQL variant of a test runs. Without `TESSERA_TEST_POSTGRES`
/// it is skipped with a note, or, when `CI` is `true`, the test panics: CI must not
/// pass on SQLite alone.
pub fn postgres_enabled() -> bool {
    if postgres_url().is_some() {
        return true;
    }
    let on_ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    assert!(
        !on_ci,
        "TESSERA_TEST_POSTGRES is unset or empty but CI=true: set TESSERA_TEST_POSTGRES \
         to a PostgreSQL server URL (e.g. postgres://postgres@127.0.0.1:5432) so the \
         PostgreSQL tests run instead of being skipped"
    );
    eprintln!("TESSERA_TEST_POSTGRES unset: skipping the PostgreSQL run");
    false
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
    s.keys.algorithm = "ES256".parse().unwrap();
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

// ----- OAuth helpers -----

use base64::Engine;
use sha2::Digest;
use tessera::oauth::client::ClientSpec;

pub const REDIRECT: &str = "http://127.0.0.1:9/cb";

pub fn spec(id: &str) -> ClientSpec {
    ClientSpec {
        client_id: id.into(),
        name: format!("App {id}"),
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec!["http://127.0.0.1:9/bye".into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: ["openid", "profile", "email", "offline_access", "orgs"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        audiences: vec!["https://api.example.com".into()],
        allowed_origins: vec![],
        public: false,
        first_party: true,
        organization_usage: "optional".into(),
    }
}

/// A test client: id and (for confidential clients) secret.
#[derive(Clone, Debug)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
}

impl TestApp {
    pub async fn register(&self, spec: ClientSpec) -> TestClient {
        let db = self.state.db.clone();
        let now = tessera::clock::Clock::now_naive(self.clock.as_ref());
        let id = spec.client_id.clone();
        let secret = tokio::task::spawn_blocking(move || {
            let mut conn = db.get().unwrap();
            tessera::oauth::client::register(&mut conn, &spec, now).unwrap()
        })
        .await
        .unwrap();
        TestClient { id, secret }
    }

    /// A confidential web client with the defaults of [`spec`].
    pub async fn web_client(&self) -> TestClient {
        self.register(spec("web")).await
    }

    /// POST /oauth/token with client_secret_basic (or client_id for public clients).
    pub async fn token(&self, client: &TestClient, form: &[(&str, &str)]) -> reqwest::Response {
        let mut req = self.client.post(self.url("/oauth/token"));
        let mut form: Vec<(&str, &str)> = form.to_vec();
        match &client.secret {
            Some(s) => req = req.basic_auth(&client.id, Some(s)),
            None => form.push(("client_id", &client.id)),
        }
        req.form(&form).send().await.unwrap()
    }

    pub fn browser(&self) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_store(true)
                .build()
                .unwrap(),
            base: self.address.clone(),
        }
    }

    /// Full dev-connector login: returns the tokens.
    pub async fn login(&self, client: &TestClient, email: &str) -> Tokens {
        let browser = self.browser();
        let pkce = Pkce::new();
        let loc = browser
            .dev_login(
                &self.authorize_url(client, &pkce, "openid profile email offline_access", "dev"),
                email,
                true,
            )
            .await;
        let code = query_param(&loc, "code").expect("code");
        self.exchange(client, &code, &pkce).await
    }

    pub fn authorize_url(
        &self,
        client: &TestClient,
        pkce: &Pkce,
        scope: &str,
        connection: &str,
    ) -> String {
        let mut u = url::Url::parse(&self.url("/authorize")).unwrap();
        u.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &client.id)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("scope", scope)
            .append_pair("state", "st4te")
            .append_pair("nonce", "n0nce")
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256");
        if !connection.is_empty() {
            u.query_pairs_mut().append_pair("connection", connection);
        }
        u.to_string()
    }

    pub async fn exchange(&self, client: &TestClient, code: &str, pkce: &Pkce) -> Tokens {
        let res = self
            .token(
                client,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", &pkce.verifier),
                ],
            )
            .await;
        assert_eq!(res.status(), 200, "token exchange failed");
        res.json().await.unwrap()
    }

    /// Runs `sql` on the test database (a blocking call).
    pub async fn count(&self, sql: impl Into<String>) -> i64 {
        let sql = sql.into();
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let db = self.state.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.get().unwrap();
            diesel::sql_query(sql)
                .get_result::<N>(&mut *conn)
                .unwrap()
                .n
        })
        .await
        .unwrap()
    }
}

#[derive(Debug, serde::Deserialize, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub scope: String,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
}

pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        let verifier = tessera::secrets::new_token();
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.to_string())
}

/// Unverified claims of a JWT (tests verify signatures separately).
pub fn claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// A browser: keeps cookies, follows nothing by itself.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
}

impl Browser {
    fn abs(&self, loc: &str) -> String {
        if loc.starts_with('/') {
            format!("{}{loc}", self.base)
        } else {
            loc.to_string()
        }
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(self.abs(url)).send().await.unwrap()
    }

    /// Follows redirects until one leaves for the client's redirect URI (returned),
    /// or a non-redirect answer (returned as Err).
    pub async fn follow(&self, url: &str) -> Result<String, reqwest::Response> {
        let mut next = self.abs(url);
        for _ in 0..10 {
            if next.starts_with(REDIRECT) || next.starts_with("http://127.0.0.1:9/") {
                return Ok(next);
            }
            let res = self.http.get(&next).send().await.unwrap();
            if !res.status().is_redirection() {
                return Err(res);
            }
            next = self.abs(res.headers()["location"].to_str().unwrap());
        }
        panic!("redirect loop");
    }

    /// From an authorize URL with connection=dev, submits the dev form; returns the client redirect.
    pub async fn dev_login(&self, authorize_url: &str, email: &str, verified: bool) -> String {
        let res = self.get(authorize_url).await;
        assert_eq!(
            res.status(),
            303,
            "authorize should redirect to the login page"
        );
        let loc = res.headers()["location"].to_str().unwrap().to_string();
        if loc.starts_with(REDIRECT) {
            return loc;
        }
        let tx = query_param(&self.abs(&loc), "tx").expect("tx");
        self.submit_dev(&tx, email, verified).await
    }

    pub async fn submit_dev(&self, tx: &str, email: &str, verified: bool) -> String {
        let mut form = vec![("tx", tx), ("email", email), ("name", "Dev User")];
        if verified {
            form.push(("email_verified", "true"));
        }
        let res = self
            .http
            .post(self.abs("/callback/dev"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            303,
            "dev login failed: {}",
            res.text().await.unwrap_or_default()
        );
        res.headers()["location"].to_str().unwrap().to_string()
    }
}

impl TestApp {
    /// A dev login asking for `scope` (plus extra authorize params); returns the tokens.
    pub async fn login_with(
        &self,
        client: &TestClient,
        email: &str,
        scope: &str,
        extra: &str,
    ) -> Tokens {
        let browser = self.browser();
        let pkce = Pkce::new();
        let url = format!("{}{extra}", self.authorize_url(client, &pkce, scope, "dev"));
        let loc = browser.dev_login(&url, email, true).await;
        let code = query_param(&loc, "code").unwrap_or_else(|| panic!("no code in {loc}"));
        self.exchange(client, &code, &pkce).await
    }

    /// A user token for the org API (scope `orgs`), with a refresh token.
    pub async fn api_user(&self, client: &TestClient, email: &str) -> Tokens {
        self.login_with(
            client,
            email,
            "openid email profile offline_access orgs",
            "",
        )
        .await
    }

    /// Calls the org API: returns (status, JSON body or Null).
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(m, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }
}

/// The org claim `name` under the default namespace of `app`.
pub fn org_claim(app: &TestApp, token: &str, name: &str) -> serde_json::Value {
    claims(token)[format!("{}/{name}", app.address)].clone()
}

/// A refresh-token grant, optionally switching to `org` (RFC 6749 §6).
pub async fn refresh(
    app: &TestApp,
    client: &TestClient,
    t: &Tokens,
    org: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", t.refresh_token.as_deref().unwrap()),
    ];
    if let Some(o) = org {
        form.push(("organization", o));
    }
    app.token(client, &form).await
}

/// A server, a web client, and `owner@{slug}.com` owning the org `{slug}`.
pub async fn owner_with_org(b: Backend, slug: &str) -> (TestApp, TestClient, Tokens) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let owner = app.api_user(&client, &format!("owner@{slug}.com")).await;
    let (s, _) = app
        .api(
            "POST",
            "/api/orgs",
            Some(&owner.access_token),
            Some(serde_json::json!({"name": slug, "slug": slug})),
        )
        .await;
    assert_eq!(s, 201);
    (app, client, owner)
}
