//! Foundation: discovery, JWKS, keys, storage, health, config and start-up errors.

use diesel::{sql_query, RunQueryDsl};
use tessera::app::AppState;
use tessera::clock::Clock;
use tessera::tokens::keys;

use crate::both_backends;
use crate::helpers::{Backend, TestApp};

both_backends!(
    discovery_lists_endpoints_under_the_issuer,
    jwks_has_public_keys_with_etag,
    tokens_verify_with_an_independent_jose_library,
    rotation_keeps_the_old_key_published,
    migrations_seed_roles_and_constraints_hold,
    readyz_fails_when_the_database_is_gone,
    unknown_routes_get_json_404_and_metrics_count_them,
    metrics_text_parses_and_junk_methods_add_no_series,
);

async fn discovery_lists_endpoints_under_the_issuer(b: Backend) {
    let app = TestApp::spawn(b).await;
    let doc = app.get_json("/.well-known/openid-configuration").await;
    let rfc8414 = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(doc, rfc8414);
    assert_eq!(doc["issuer"], app.address);
    for key in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "introspection_endpoint",
        "revocation_endpoint",
        "end_session_endpoint",
    ] {
        let v = doc[key].as_str().unwrap_or_else(|| panic!("{key} missing"));
        assert!(v.starts_with(&app.address), "{key} = {v}");
    }
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
    let auth_methods = doc["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    for m in ["client_secret_basic", "client_secret_post", "none"] {
        assert!(auth_methods.iter().any(|v| v == m), "{m}");
    }
    let claims = doc["claims_supported"].as_array().unwrap();
    let org_claim = format!("{}/org_id", app.address);
    assert!(claims.iter().any(|c| c == &serde_json::json!(org_claim)));
    assert_eq!(doc["organization_parameter_supported"], true);
    // The JWKS URI in the document is served.
    let jwks_path = doc["jwks_uri"]
        .as_str()
        .unwrap()
        .trim_start_matches(&app.address);
    assert_eq!(app.get(jwks_path).await.status(), 200);
}

async fn jwks_has_public_keys_with_etag(b: Backend) {
    let app = TestApp::spawn(b).await;
    let res = app.get("/.well-known/jwks.json").await;
    assert_eq!(res.status(), 200);
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let cache = res.headers()["cache-control"].to_str().unwrap().to_string();
    assert!(
        cache.contains("public") && cache.contains("max-age="),
        "{cache}"
    );
    let jwks: serde_json::Value = res.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let k = &keys[0];
    assert_eq!(k["kty"], "EC");
    assert_eq!(k["crv"], "P-256");
    assert_eq!(k["alg"], "ES256");
    assert_eq!(k["use"], "sig");
    assert!(k.get("d").is_none(), "private part leaked");
    assert_eq!(k["kid"].as_str().unwrap(), keys::thumbprint(k).unwrap());
    // Conditional request.
    let res = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
}

async fn tokens_verify_with_an_independent_jose_library(b: Backend) {
    for (alg, jalg) in [
        ("RS256", jsonwebtoken::Algorithm::RS256),
        ("ES256", jsonwebtoken::Algorithm::ES256),
        ("EdDSA", jsonwebtoken::Algorithm::EdDSA),
    ] {
        let app = TestApp::spawn_with(b, |s| s.keys.algorithm = alg.parse().unwrap()).await;
        let now = app.clock.unix();
        let token = app
            .state
            .keys
            .sign_async("at+jwt", serde_json::json!({"sub": "u1", "iss": app.address, "aud": "api", "exp": now + 60, "iat": now}))
            .await
            .unwrap();
        let jwks: jsonwebtoken::jwk::JwkSet = app
            .get("/.well-known/jwks.json")
            .await
            .json()
            .await
            .unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, jalg);
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let jwk = jwks
            .find(header.kid.as_deref().unwrap())
            .expect("kid published");
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        let mut v = jsonwebtoken::Validation::new(jalg);
        v.set_audience(&["api"]);
        v.set_issuer(&[&app.address]);
        let data = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &v).unwrap();
        assert_eq!(data.claims["sub"], "u1");
    }
}

async fn rotation_keeps_the_old_key_published(b: Backend) {
    let app = TestApp::spawn(b).await;
    let old_token = app
        .state
        .keys
        .sign("JWT", &serde_json::json!({"sub": "a"}))
        .unwrap();
    let old_kid = app.state.keys.current().active.meta.kid.clone();
    let dir = app.state.settings.keys.dir.clone();
    let new = keys::rotate(&dir, keys::Algorithm::EdDSA, app.clock.now()).unwrap();
    app.state.keys.reload(app.clock.as_ref()).unwrap();

    let jwks = app.get_json("/.well-known/jwks.json").await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(
        kids,
        vec![new.kid.as_str(), old_kid.as_str()],
        "new key first, old still published"
    );
    let new_token = app
        .state
        .keys
        .sign("JWT", &serde_json::json!({"sub": "b"}))
        .unwrap();
    let header = jsonwebtoken::decode_header(&new_token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(new.kid.as_str()));
    assert!(
        app.state.keys.verify(&old_token).is_ok(),
        "old tokens still verify"
    );

    // Once every token the old key signed has expired, it leaves the JWKS.
    app.clock
        .advance(tessera::app::max_token_ttl(&app.state.settings) + chrono::Duration::seconds(1));
    let pruned = keys::prune(
        &dir,
        tessera::app::max_token_ttl(&app.state.settings),
        app.clock.now(),
    )
    .unwrap();
    assert_eq!(pruned, vec![old_kid.clone()]);
    app.state.keys.reload(app.clock.as_ref()).unwrap();
    let jwks = app.get_json("/.well-known/jwks.json").await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert!(app.state.keys.verify(&old_token).is_err());
}

fn exec(state: &AppState, sql: &str) -> Result<usize, diesel::result::Error> {
    let mut conn = state.db.get().unwrap();
    sql_query(sql).execute(&mut *conn)
}

async fn migrations_seed_roles_and_constraints_hold(b: Backend) {
    let app = TestApp::spawn(b).await;
    let state = app.state.clone();
    tokio::task::spawn_blocking(move || {
        use diesel::prelude::*;
        use tessera::db::schema::roles;
        let mut conn = state.db.get().unwrap();
        let mut names: Vec<String> = roles::table
            .filter(roles::built_in.eq(true))
            .select(roles::name)
            .load(&mut *conn)
            .unwrap();
        names.sort();
        assert_eq!(names, vec!["admin", "member", "owner"]);
        let member_perms: String = roles::table.find("member").select(roles::permissions).first(&mut *conn).unwrap();
        assert_eq!(member_perms, r#"["org:read","org:members:read"]"#);
        drop(conn);

        let t = "'2026-01-01 00:00:00'";
        exec(&state, &format!("INSERT INTO organizations (id, slug, name, created_at, updated_at) VALUES ('o1', 'acme', 'Acme', {t}, {t})")).unwrap();
        // Unique slug.
        let dup = exec(&state, &format!("INSERT INTO organizations (id, slug, name, created_at, updated_at) VALUES ('o2', 'acme', 'Acme 2', {t}, {t})"));
        assert!(matches!(dup, Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _))), "{dup:?}");
        // Foreign keys are enforced (on SQLite too).
        let fk = exec(&state, &format!("INSERT INTO organization_members (org_id, user_id, role_id, created_at, updated_at) VALUES ('nope', 'nobody', 'member', {t}, {t})"));
        assert!(matches!(fk, Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::ForeignKeyViolation, _))), "{fk:?}");
        // (provider, subject) is unique.
        exec(&state, &format!("INSERT INTO users (id, created_at, updated_at) VALUES ('u1', {t}, {t})")).unwrap();
        exec(&state, &format!("INSERT INTO identities (id, user_id, provider, subject, created_at, updated_at) VALUES ('i1', 'u1', 'github', '42', {t}, {t})")).unwrap();
        let dup = exec(&state, &format!("INSERT INTO identities (id, user_id, provider, subject, created_at, updated_at) VALUES ('i2', 'u1', 'github', '42', {t}, {t})"));
        assert!(dup.is_err());
        // A domain is verified by at most one org.
        exec(&state, &format!("INSERT INTO organizations (id, slug, name, created_at, updated_at) VALUES ('o3', 'other', 'Other', {t}, {t})")).unwrap();
        exec(&state, &format!("INSERT INTO organization_domains (id, org_id, domain, verification_token, status, created_at, updated_at) VALUES ('d1', 'o1', 'acme.com', 'x', 'verified', {t}, {t})")).unwrap();
        exec(&state, &format!("INSERT INTO organization_domains (id, org_id, domain, verification_token, status, created_at, updated_at) VALUES ('d2', 'o3', 'acme.com', 'y', 'pending', {t}, {t})")).unwrap();
        let second = exec(&state, "UPDATE organization_domains SET status = 'verified' WHERE id = 'd2'");
        assert!(second.is_err(), "second verified claim must be refused");
        // Deleting an org cascades to its members and domains.
        exec(&state, "DELETE FROM organizations WHERE id = 'o1'").unwrap();
    })
    .await
    .unwrap();
    // Running the migrations again is a no-op.
    let db = app.state.db.clone();
    let again = tokio::task::spawn_blocking(move || db.migrate())
        .await
        .unwrap()
        .unwrap();
    assert!(again.is_empty());
}

async fn readyz_fails_when_the_database_is_gone(b: Backend) {
    let mut app = TestApp::spawn(b).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    assert_eq!(app.get("/healthz").await.status(), 200);
    match b {
        Backend::Sqlite => std::fs::remove_file(app.dir.path().join("tessera.db")).unwrap(),
        Backend::Postgres => tokio::task::block_in_place(|| app.db.drop_now()),
    }
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "database_unreachable");
    // The process itself is still up.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

async fn unknown_routes_get_json_404_and_metrics_count_them(b: Backend) {
    let app = TestApp::spawn(b).await;
    let res = app.get("/no/such/route").await;
    assert_eq!(res.status(), 404);
    assert!(res.headers()["x-request-id"].to_str().unwrap().len() >= 32);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    assert!(body["error_description"].is_string());
    app.get("/.well-known/jwks.json").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"tessera_http_requests_total{method="GET",route="/.well-known/jwks.json",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(text.contains("tessera_http_request_duration_seconds_bucket"));
}

/// Every line of `/metrics` as the Prometheus text-format parser reads it:
/// no line may be one the parser ignores.
fn scrape(text: &str) -> prometheus_parse::Scrape {
    for line in text.lines() {
        assert!(
            !matches!(
                prometheus_parse::LineInfo::parse(line),
                prometheus_parse::LineInfo::Ignored
            ),
            "not Prometheus text format: {line:?}"
        );
    }
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

fn request_series(s: &prometheus_parse::Scrape) -> Vec<&prometheus_parse::Sample> {
    s.samples
        .iter()
        .filter(|x| x.metric == "tessera_http_requests_total")
        .collect()
}

// Security review finding 2: a junk method must not become a label value.
async fn metrics_text_parses_and_junk_methods_add_no_series(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.get("/healthz").await;
    app.get("/no/such/route").await;
    // Once so that the scrape below already holds the series of /metrics itself.
    app.get("/metrics").await;
    let res = app.get("/metrics").await;
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let before = scrape(&res.text().await.unwrap());
    let series_before = request_series(&before).len();

    let long = "X".repeat(2000);
    let mut junk: Vec<String> = (1..=20).map(|i| format!("ZZAUDIT{i}")).collect();
    junk.push(long);
    for m in &junk {
        let method = reqwest::Method::from_bytes(m.as_bytes()).unwrap();
        let res = app
            .client
            .request(method, app.url("/healthz"))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error(), "{m}: {}", res.status());
    }
    let text = app.get("/metrics").await.text().await.unwrap();
    let after = scrape(&text);
    let series = request_series(&after);
    // At most one new series (method="other" on the status junk gets), however many methods.
    assert!(series.len() <= series_before + 1, "{text}");
    let others: f64 = series
        .iter()
        .filter(|s| s.labels.get("method") == Some("other"))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) => v,
            ref v => panic!("not a counter: {v:?}"),
        })
        .sum();
    assert_eq!(others, 21.0, "{text}");
    for s in &series {
        let method = s.labels.get("method").unwrap();
        assert!(
            tessera::metrics::KNOWN_METHODS.contains(&method) || method == "other",
            "{method}"
        );
        let route = s.labels.get("route").unwrap();
        assert!(route.starts_with('/') || route == "unmatched", "{route}");
        assert_ne!(route, "/no/such/route");
    }
    assert!(!text.contains("ZZAUDIT"), "{text}");

    // The latency histogram carries every bucket, +Inf last, and the docs.
    let h = after
        .samples
        .iter()
        .find(|s| {
            s.metric == "tessera_http_request_duration_seconds"
                && s.labels.get("route") == Some("/healthz")
                && s.labels.get("method") == Some("GET")
        })
        .unwrap_or_else(|| panic!("no /healthz histogram: {text}"));
    match &h.value {
        prometheus_parse::Value::Histogram(buckets) => {
            assert_eq!(buckets.len(), tessera::metrics::BUCKETS.len() + 1);
            assert!(buckets.last().unwrap().less_than.is_infinite());
            assert!(buckets.last().unwrap().count >= 1.0);
        }
        v => panic!("not a histogram: {v:?}"),
    }
    assert!(after.docs.contains_key("tessera_http_requests_total"));
}

// ----- The binary: config errors and an unreachable database. -----

#[test]
fn bad_config_exits_2_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[server]\nbindd = '127.0.0.1:0'\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["--config", cfg.to_str().unwrap(), "migrate"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml") && err.contains("bindd"), "{err}");

    std::fs::write(&cfg, "issuer = [\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["--config", cfg.to_str().unwrap(), "migrate"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Kubernetes injects `TESSERA_PORT=tcp://…`, `TESSERA_SERVICE_HOST`, … into
/// every pod for a Service named `tessera`: logged and ignored, not fatal. A
/// variable that names a setting with a bad value still stops start-up.
#[test]
fn unknown_env_vars_are_logged_and_ignored_known_ones_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = |extra: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
        cmd.arg("migrate")
            .current_dir(dir.path())
            .env("TESSERA_PORT", "tcp://10.0.0.7:8080")
            .env("TESSERA_PORT_8080_TCP_ADDR", "10.0.0.7")
            .env("TESSERA_SERVICE_HOST", "10.0.0.7")
            .env("TESSERA_SERVICE_PORT", "8080")
            .env("TESSERA_LOG", "warn");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = migrate(&[]);
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("WARN") && log.contains("name no setting"),
        "{log}"
    );
    for var in [
        "TESSERA_PORT",
        "TESSERA_PORT_8080_TCP_ADDR",
        "TESSERA_SERVICE_HOST",
        "TESSERA_SERVICE_PORT",
    ] {
        assert!(log.contains(var), "{var} in {log}");
    }
    assert!(
        !log.contains("tcp://10.0.0.7"),
        "values are not logged: {log}"
    );

    let out = migrate(&[("TESSERA_DATABASE__POOL_SIZE", "many")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("environment variable TESSERA_DATABASE__POOL_SIZE")
            && err.contains("database.pool_size"),
        "{err}"
    );
}

#[test]
fn unreachable_database_gives_up_with_a_redacted_url() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("migrate")
        .env(
            "DATABASE_URL",
            "postgres://tessera:hunter2@127.0.0.1:1/tessera",
        )
        .env("TESSERA_DATABASE__CONNECT_TIMEOUT_SECS", "1")
        .env("TESSERA_DATABASE__ACQUIRE_TIMEOUT_SECS", "1")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert!(!err.contains("hunter2"), "password leaked: {err}");
}

#[test]
fn keys_cli_generates_rotates_and_lists() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = run(&["keys", "generate", "--alg", "ES256"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = run(&["keys", "generate", "--alg", "ES256"]);
    assert!(!again.status.success(), "a second active key is refused");
    assert!(run(&["keys", "rotate", "--alg", "EdDSA"]).status.success());
    let list = String::from_utf8_lossy(&run(&["keys", "list"]).stdout).to_string();
    assert!(list.contains("ES256\tRetiring"), "{list}");
    assert!(list.contains("EdDSA\tActive"), "{list}");
    let bad = run(&["keys", "rotate", "--alg", "HS256"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("HS256"));
}
