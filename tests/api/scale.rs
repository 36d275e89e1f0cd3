//! Scale-out (issue 20): N processes on one database with no shared disk.
//! These start the real `tessera` binary, three at the same instant.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestDb};

both_backends!(
    three_instances_start_together_and_share_one_key_set,
    a_wrong_or_missing_kek_stops_start_up,
    serve_no_migrate_refuses_pending_migrations,
    concurrent_double_revoke_is_two_200s,
);

const KEK: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const OTHER_KEK: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";
const M2M_SECRET: &str = "m2m-secret-with-at-least-32-characters!!";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One instance's config: its own port and keys directory, the shared
/// database, the database key store.
fn config(dir: &Path, name: &str, db_url: &str, port: u16) -> PathBuf {
    let keys = dir.join(format!("keys-{name}"));
    let path = dir.join(format!("{name}.toml"));
    let toml = format!(
        r#"issuer = "http://127.0.0.1:9"
[server]
bind = "127.0.0.1:{port}"
workers = 1
[database]
url = "{db_url}"
pool_size = 3
[keys]
dir = "{keys}"
algorithm = "ES256"
store = "database"
encryption_key = "env:TEST_TESSERA_KEK"
reload_interval_secs = 1
[[clients]]
client_id = "m2m"
name = "Machine"
client_secret = "{M2M_SECRET}"
grant_types = ["client_credentials"]
scopes = ["read"]
"#,
        keys = keys.display()
    );
    std::fs::write(&path, toml).unwrap();
    path
}

fn tessera(config: &Path, kek: Option<&str>, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tessera"));
    c.arg("--config").arg(config).args(args);
    c.env_remove("TEST_TESSERA_KEK");
    if let Some(k) = kek {
        c.env("TEST_TESSERA_KEK", k);
    }
    c.env("TESSERA_LOG", "warn");
    c
}

struct Instance {
    child: Child,
    base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (bounded) until every instance answers `/readyz` 200.
async fn wait_ready(http: &reqwest::Client, instances: &mut [Instance]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for i in instances.iter_mut() {
        loop {
            if let Some(status) = i.child.try_wait().unwrap() {
                panic!("instance {} exited with {status}", i.base);
            }
            let ok = http
                .get(format!("{}/readyz", i.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "{} never became ready", i.base);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn jwks(http: &reqwest::Client, base: &str) -> Value {
    http.get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

async fn count(db_url: &str, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let (url, sql) = (db_url.to_string(), sql.to_string());
    tokio::task::spawn_blocking(move || {
        use diesel::RunQueryDsl;
        let mut conn = tessera::db::establish(&url).unwrap();
        diesel::sql_query(sql).get_result::<N>(&mut conn).unwrap().n
    })
    .await
    .unwrap()
}

async fn three_instances_start_together_and_share_one_key_set(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = tokio::task::block_in_place(|| TestDb::create(b, dir.path()));
    let http = reqwest::Client::new();
    let configs: Vec<(PathBuf, u16)> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            let port = free_port();
            (config(dir.path(), n, &db.url, port), port)
        })
        .collect();
    // All three at the same instant, on an empty database.
    let mut instances: Vec<Instance> = configs
        .iter()
        .map(|(cfg, port)| Instance {
            child: tessera(cfg, Some(KEK), &["serve"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
            base: format!("http://127.0.0.1:{port}"),
        })
        .collect();
    wait_ready(&http, &mut instances).await;

    // One active key, the same JWKS everywhere.
    assert_eq!(
        count(
            &db.url,
            "SELECT COUNT(*) AS n FROM signing_keys WHERE state = 'active'"
        )
        .await,
        1
    );
    let first = jwks(&http, &instances[0].base).await;
    for i in &instances[1..] {
        assert_eq!(
            jwks(&http, &i.base).await,
            first,
            "{} publishes another JWKS",
            i.base
        );
    }
    // A token from one instance verifies with another's JWKS and is active
    // at a third's introspection.
    let token: Value = http
        .post(format!("{}/oauth/token", instances[0].base))
        .basic_auth("m2m", Some(M2M_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = token["access_token"].as_str().expect("a token").to_string();
    let header = jsonwebtoken::decode_header(&at).unwrap();
    let jwk_b = jwks(&http, &instances[1].base).await;
    let jwk = jwk_b["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| Some(k["kid"].as_str().unwrap()) == header.kid.as_deref())
        .expect("the signing key is in B's JWKS");
    let key =
        jsonwebtoken::DecodingKey::from_jwk(&serde_json::from_value(jwk.clone()).unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.validate_aud = false;
    jsonwebtoken::decode::<Value>(&at, &key, &v).expect("verifies with B's JWKS");
    let intro: Value = http
        .post(format!("{}/oauth/introspect", instances[2].base))
        .basic_auth("m2m", Some(M2M_SECRET))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(intro["active"], true, "{intro}");

    // The private key is not readable in the database without the KEK.
    assert_eq!(
        count(
            &db.url,
            "SELECT COUNT(*) AS n FROM signing_keys WHERE sealed_private_key LIKE '%PRIVATE%' \
             OR public_jwk LIKE '%\"d\"%'"
        )
        .await,
        0
    );
    assert!(
        std::fs::read_dir(dir.path().join("keys-a")).is_err(),
        "no key files with the database store"
    );

    // A rotation (CLI on any node) reaches every instance within the reload interval.
    let out = tessera(&configs[0].0, Some(KEK), &["keys", "rotate"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let old_kid = kids(&first)[0].clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    for i in &instances {
        loop {
            let now = kids(&jwks(&http, &i.base).await);
            if now.len() == 2 && now[1] == old_kid {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} never saw the rotation: {now:?}",
                i.base
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let rotated = jwks(&http, &instances[2].base).await;
    for i in &instances[..2] {
        assert_eq!(jwks(&http, &i.base).await, rotated);
    }
}

async fn a_wrong_or_missing_kek_stops_start_up(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = tokio::task::block_in_place(|| TestDb::create(b, dir.path()));
    let cfg = config(dir.path(), "a", &db.url, free_port());
    let out = tessera(&cfg, Some(KEK), &["keys", "generate"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let wrong = tessera(&cfg, Some(OTHER_KEK), &["serve"]).output().unwrap();
    assert_eq!(wrong.status.code(), Some(1));
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(err.contains("key-encryption key"), "{err}");
    assert!(err.contains("keys.encryption_key"), "{err}");

    let missing = tessera(&cfg, None, &["serve"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(2), "a configuration error");
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("TEST_TESSERA_KEK"), "{err}");

    // KEK rotation: re-seal under a new key, then the new key starts the server.
    let out = tessera(&cfg, Some(OTHER_KEK), &["keys", "rewrap", "--from", KEK])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let list = tessera(&cfg, Some(OTHER_KEK), &["keys", "list"])
        .output()
        .unwrap();
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert!(String::from_utf8_lossy(&list.stdout).contains("ES256\tActive"));
    let old = tessera(&cfg, Some(KEK), &["keys", "list"])
        .output()
        .unwrap();
    assert!(old.status.success(), "listing needs no KEK to open keys");
    let mut served = Instance {
        child: tessera(&cfg, Some(OTHER_KEK), &["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        base: String::new(),
    };
    let text = std::fs::read_to_string(&cfg).unwrap();
    let port = text
        .split("bind = \"127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    served.base = format!("http://127.0.0.1:{port}");
    wait_ready(&reqwest::Client::new(), std::slice::from_mut(&mut served)).await;
}

async fn serve_no_migrate_refuses_pending_migrations(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = tokio::task::block_in_place(|| TestDb::create(b, dir.path()));
    let cfg = config(dir.path(), "a", &db.url, free_port());
    let out = tessera(&cfg, Some(KEK), &["serve", "--no-migrate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pending") && err.contains("tessera migrate"),
        "{err}"
    );
    let out = tessera(&cfg, Some(KEK), &["migrate"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn concurrent_double_revoke_is_two_200s(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    for round in 0..8 {
        // A refresh token's revocation denies its access token inside the
        // transaction: on PostgreSQL a caught unique violation there used to
        // abort that transaction (a 500 for the second of two revocations).
        let t = app.login(&client, &format!("r{round}@example.com")).await;
        let rt = t.refresh_token.clone().expect("a refresh token");
        let form = [("token", rt.as_str())];
        let revoke = || {
            app.client
                .post(app.url("/oauth/revoke"))
                .basic_auth(&client.id, client.secret.as_deref())
                .form(&form)
                .send()
        };
        let (x, y) = tokio::join!(revoke(), revoke());
        assert_eq!(
            (x.unwrap().status().as_u16(), y.unwrap().status().as_u16()),
            (200, 200),
            "round {round}"
        );
    }
}
